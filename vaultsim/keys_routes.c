/* keys_routes.c: the handlers of the keys data plane (keyvault-keys-7.5 paths), each one
 * pipeline (keys_api.c) + one engine call + the service's JSON shape. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/runtime.h"
#include "keys_int.h"

#define PAGE_MAX 25

/* ---- body helpers ---------------------------------------------------------------------- */

int vs__bad(struct vs_call *call, const char *fmt, const char *arg)
{
    return cmk_err_set(&call->err, CMK_EINVAL, 400, "BadParameter", fmt, arg);
}

/* The body as a JSON object (400 if not). */
json_t *vs__body_object(struct vs_call *call)
{
    json_t *j = cmk_request_json(call->req, &call->err);
    if (j == NULL)
        return NULL;
    if (!json_is_object(j)) {
        vs__bad(call, "The request body must be a JSON object.%s", "");
        return NULL;
    }
    return j;
}

static int parse_attrs(struct vs_call *call, const json_t *a, struct vs_attrs *out)
{
    vs_attrs_init(out);
    if (a == NULL || json_is_null(a))
        return 0;
    if (!json_is_object(a))
        return vs__bad(call, "'attributes' must be an object.%s", "");
    const json_t *v = json_object_get(a, "enabled");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v))
            return vs__bad(call, "'attributes.enabled' must be a boolean.%s", "");
        out->enabled = json_is_true(v);
    }
    static const char *const times[] = {"nbf", "exp"};
    for (int i = 0; i < 2; i++) {
        v = json_object_get(a, times[i]);
        if (v == NULL)
            continue;
        if (json_is_null(v)) {
            *(i ? &out->has_exp : &out->has_nbf) = 1;
            continue;
        }
        if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
            json_integer_value(v) > 253402300799LL)
            return vs__bad(call, "'attributes.%s' must be a Unix time in seconds.", times[i]);
        if (i) {
            out->has_exp = 1;
            out->exp = json_integer_value(v);
        } else {
            out->has_nbf = 1;
            out->nbf = json_integer_value(v);
        }
    }
    v = json_object_get(a, "exportable");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v))
            return vs__bad(call, "'attributes.exportable' must be a boolean.%s", "");
        out->exportable = json_is_true(v);
    }
    return 0;
}

static int check_tags(struct vs_call *call, const json_t *tags)
{
    if (tags == NULL || json_is_null(tags))
        return 0;
    if (!json_is_object(tags))
        return vs__bad(call, "'tags' must be an object of strings.%s", "");
    if (json_object_size(tags) > 15)
        return vs__bad(call, "At most 15 tags are allowed.%s", "");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)tags, k, v)
    {
        if (!json_is_string(v) || strlen(k) > 512 || json_string_length(v) > 512)
            return vs__bad(call, "Tag '%.64s' must have a string value of at most 512 characters.",
                           k);
    }
    return 0;
}

/* A base64url member: required, or optional (NULL, 0 when absent). */
int vs__b64_member(struct vs_call *call, const json_t *body, const char *field, int required,
                   unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    const json_t *v = json_object_get(body, field);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return vs__bad(call, "The parameter '%s' is required.", field);
        return 0;
    }
    const char *s = json_string_value(v);
    if (s == NULL || (*out = cmk_b64_decode(s, strlen(s), len)) == NULL)
        return vs__bad(call, "The parameter '%s' must be a base64url string.", field);
    return 0;
}

void vs__set_b64(json_t *o, const char *field, const void *p, size_t n)
{
    char *s = cmk_b64_encode(p, n, 1);
    json_object_set_new(o, field, json_string(s));
    free(s);
}

static void respond_bundle(struct vs_call *call, int status, const struct vs_key *k)
{
    char *kid = vs_kid(call->base, k->name, k->version);
    snprintf(call->kid, sizeof(call->kid), "%s", kid);
    free(kid);
    cmk_response_json(call->res, status, vs_key_bundle_json(k, call->base));
}

void vs__engine_fail(struct vs_call *call, const struct cmk_err *err)
{
    call->err = *err;
    vs__call_fail(call);
}

/* ---- pagination ------------------------------------------------------------------------ */

static int page_params(struct vs_call *call, size_t *max, char *after, size_t aftersz)
{
    *max = PAGE_MAX;
    after[0] = '\0';
    const char *m = cmk_request_query(call->req, "maxresults");
    if (m && *m) {
        char *end;
        long v = strtol(m, &end, 10);
        if (*end != '\0' || v < 1 || v > PAGE_MAX)
            return vs__bad(call, "The value of 'maxresults' (%.20s) must be between 1 and 25.", m);
        *max = (size_t)v;
    }
    const char *tok = cmk_request_query(call->req, "$skiptoken");
    if (tok && *tok) {
        size_t n = 0;
        unsigned char *d = cmk_b64_decode(tok, strlen(tok), &n);
        if (d == NULL || n == 0 || n >= aftersz) {
            free(d);
            return vs__bad(call, "The $skiptoken is not valid.%s", "");
        }
        memcpy(after, d, n);
        after[n] = '\0';
        free(d);
    }
    return 0;
}

static void respond_page(struct vs_call *call, json_t *value, int more, const char *last,
                         const char *path, size_t max)
{
    json_t *o = json_object();
    json_object_set_new(o, "value", value);
    if (more) {
        char *tok = cmk_b64_encode(last, strlen(last), 1);
        const char *api = cmk_request_query(call->req, "api-version");
        struct cmk_buf b;
        cmk_buf_init(&b);
        cmk_buf_printf(&b, "%s%s?api-version=%s&$skiptoken=%s&maxresults=%zu", call->base, path,
                       api ? api : "7.5", tok, max);
        json_object_set_new(o, "nextLink", json_string(b.data));
        cmk_buf_close(&b);
        free(tok);
    } else {
        json_object_set_new(o, "nextLink", json_null());
    }
    cmk_response_json(call->res, 200, o);
}

/* ---- handlers ---------------------------------------------------------------------------- */

/* The live and the deleted key lists page the same way; only the engine call and the
 * nextLink path differ. */
typedef int (*key_lister)(struct vs_engine *e, const struct vs_space *s, const char *after,
                          size_t max, struct vs_key **items, size_t *n, int *more,
                          struct cmk_err *err);

static void list_page(struct vs_call *call, struct vs_keys *ks, key_lister list, const char *path)
{
    struct cmk_err err;
    size_t max;
    char after[256];
    if (page_params(call, &max, after, sizeof(after)) != 0) {
        vs__call_fail(call);
        return;
    }
    struct vs_key *items;
    size_t n;
    int more;
    if (list(ks->engine, &call->c.space, after, max, &items, &n, &more, &err) != 0) {
        vs__engine_fail(call, &err);
        return;
    }
    json_t *value = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(value, vs_key_item_json(&items[i], call->base));
    respond_page(call, value, more, n ? items[n - 1].name : "", path, max);
    vs_key_list_free(items, n);
}

static void h_list(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_LIST, "KeyList");
    list_page(&call, ks, vs_key_list, "/keys");
End:
    vs__call_end(&call);
}

static void h_versions(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_LIST, "KeyListVersions");
    size_t max;
    char after[256];
    if (page_params(&call, &max, after, sizeof(after)) != 0) {
        vs__call_fail(&call);
        goto End;
    }
    struct vs_key *items;
    size_t n;
    int more;
    if (vs_key_list_versions(ks->engine, &call.c.space, call.name, after, max, &items, &n, &more,
                             &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    json_t *value = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *item = vs_key_item_json(&items[i], call.base);
        char *kid = vs_kid(call.base, items[i].name, items[i].version);
        json_object_set_new(item, "kid", json_string(kid));
        free(kid);
        json_array_append_new(value, item);
    }
    char path[200];
    snprintf(path, sizeof(path), "/keys/%s/versions", call.name);
    respond_page(&call, value, more, n ? items[n - 1].version : "", path, max);
    vs_key_list_free(items, n);
End:
    vs__call_end(&call);
}

static void h_get(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_GET, "KeyGet");
    struct vs_key k;
    if (vs_key_get(ks->engine, &call.c.space, call.name, call.version, 0, &k, &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    respond_bundle(&call, 200, &k);
    vs_key_clear(&k);
End:
    vs__call_end(&call);
}

static void h_create(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_CREATE, "KeyCreate");
    json_t *body = vs__body_object(&call);
    struct vs_key_params p;
    memset(&p, 0, sizeof(p));
    const char *kty = json_string_value(json_object_get(body, "kty"));
    const json_t *size = json_object_get(body, "key_size");
    const json_t *exp = json_object_get(body, "public_exponent");
    const json_t *ops = json_object_get(body, "key_ops");
    const json_t *crv = json_object_get(body, "crv");
    const json_t *tags = json_object_get(body, "tags");
    int rc = body ? 0 : CMK_EINVAL;
    if (rc == 0 && kty == NULL)
        rc = vs__bad(&call, "The parameter 'kty' is required.%s", "");
    if (rc == 0 && vs_kty_parse(kty, &p.kty) != 0)
        rc = vs__bad(&call, "Invalid kty '%.32s': use EC, EC-HSM, RSA, RSA-HSM, oct or oct-HSM.",
                     kty);
    if (rc == 0 && size && !json_is_null(size)) {
        if (!json_is_integer(size) || json_integer_value(size) <= 0 ||
            json_integer_value(size) > 16384)
            rc = vs__bad(&call, "'key_size' must be a positive integer.%s", "");
        else
            p.size = (int)json_integer_value(size);
    }
    if (rc == 0 && exp && !json_is_null(exp)) {
        if (!json_is_integer(exp) || json_integer_value(exp) <= 0)
            rc = vs__bad(&call, "'public_exponent' must be a positive integer.%s", "");
        else
            p.public_exponent = (long)json_integer_value(exp);
    }
    if (rc == 0 && ops && !json_is_null(ops)) {
        if (vs_keyops_parse(ops, &p.ops) != 0)
            rc = vs__bad(&call,
                         "'key_ops' must be an array of key operations (encrypt, decrypt, "
                         "sign, verify, wrapKey, unwrapKey, import, export).%s",
                         "");
        p.ops_given = 1;
    }
    if (rc == 0 && crv && !json_is_null(crv) && vs_crv_parse(json_string_value(crv), &p.crv) != 0)
        rc = vs__bad(&call, "Invalid curve name: use P-256, P-384, P-521 or P-256K.%s", "");
    if (rc == 0 && crv && !json_is_null(crv) && p.kty != VS_KTY_EC && p.kty != VS_KTY_EC_HSM)
        rc = vs__bad(&call, "'crv' applies to EC keys only.%s", "");
    if (rc == 0 && size && !json_is_null(size) && (p.kty == VS_KTY_EC || p.kty == VS_KTY_EC_HSM))
        rc = vs__bad(&call, "'key_size' does not apply to EC keys; use 'crv'.%s", "");
    if (rc == 0)
        rc = parse_attrs(&call, json_object_get(body, "attributes"), &p.attrs);
    if (rc == 0)
        rc = check_tags(&call, tags);
    if (rc != 0) {
        vs__call_fail(&call);
        goto End;
    }
    p.tags = json_is_object(tags) ? (json_t *)tags : NULL;
    struct vs_key k;
    if (vs_key_create(ks->engine, &call.c.space, call.name, &p, &k, &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    respond_bundle(&call, 200, &k);
    vs_key_clear(&k);
End:
    vs__call_end(&call);
}

/* PUT /keys/{name}: a JWK, or (cmksim extension) {"pfx": base64, "password": "..."}. */
static void h_import(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_IMPORT, "KeyImport");
    json_t *body = vs__body_object(&call);
    struct vs_attrs attrs;
    const json_t *tags = json_object_get(body, "tags");
    const json_t *hsm = json_object_get(body, "Hsm");
    if (hsm == NULL)
        hsm = json_object_get(body, "hsm");
    int rc = body ? 0 : CMK_EINVAL;
    if (rc == 0 && hsm && !json_is_null(hsm) && !json_is_boolean(hsm))
        rc = vs__bad(&call, "'Hsm' must be a boolean.%s", "");
    if (rc == 0)
        rc = parse_attrs(&call, json_object_get(body, "attributes"), &attrs);
    if (rc == 0)
        rc = check_tags(&call, tags);
    const json_t *pfx = json_object_get(body, "pfx");
    if (rc == 0 && json_object_get(body, "key") == NULL && pfx == NULL)
        rc = vs__bad(&call, "The parameter 'key' is required.%s", "");
    if (rc != 0) {
        vs__call_fail(&call);
        goto End;
    }
    struct vs_key k;
    if (pfx) {
        const char *s = json_string_value(pfx);
        const char *pw = json_string_value(json_object_get(body, "password"));
        size_t n = 0;
        unsigned char *bytes = s ? cmk_b64_decode(s, strlen(s), &n) : NULL;
        if (bytes == NULL) {
            vs__bad(&call, "'pfx' must be the base64 of a PKCS#12 file.%s", "");
            vs__call_fail(&call);
            goto End;
        }
        rc = vs_key_import_pkcs12(ks->engine, &call.c.space, call.name, bytes, n, pw,
                                  json_is_true(hsm), &attrs, json_is_object(tags) ? tags : NULL, &k,
                                  &err);
        OPENSSL_cleanse(bytes, n);
        free(bytes);
    } else {
        rc = vs_key_import_jwk(ks->engine, &call.c.space, call.name, json_object_get(body, "key"),
                               json_is_true(hsm), &attrs, json_is_object(tags) ? tags : NULL, &k,
                               &err);
    }
    /* The JWK in the request held private parts: do not keep them in memory longer. */
    json_t *key = json_object_get(body, "key");
    const char *priv[] = {"d", "p", "q", "dp", "dq", "qi", "k", "key_hsm"};
    for (size_t i = 0; json_is_object(key) && i < sizeof(priv) / sizeof(priv[0]); i++) {
        const char *v = json_string_value(json_object_get(key, priv[i]));
        if (v)
            OPENSSL_cleanse((void *)v, strlen(v));
    }
    OPENSSL_cleanse(call.req->body.data, call.req->body.len);
    if (rc != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    respond_bundle(&call, 200, &k);
    vs_key_clear(&k);
End:
    vs__call_end(&call);
}

static void h_update(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_UPDATE, "KeyUpdate");
    json_t *body = vs__body_object(&call);
    struct vs_key_update u;
    memset(&u, 0, sizeof(u));
    const json_t *ops = json_object_get(body, "key_ops");
    const json_t *tags = json_object_get(body, "tags");
    int rc = body ? 0 : CMK_EINVAL;
    if (rc == 0)
        rc = parse_attrs(&call, json_object_get(body, "attributes"), &u.attrs);
    if (rc == 0 && ops && !json_is_null(ops)) {
        if (vs_keyops_parse(ops, &u.ops) != 0)
            rc = vs__bad(&call, "'key_ops' must be an array of key operations.%s", "");
        u.ops_given = 1;
    }
    if (rc == 0)
        rc = check_tags(&call, tags);
    if (rc != 0) {
        vs__call_fail(&call);
        goto End;
    }
    u.tags = json_is_object(tags) ? (json_t *)tags : NULL;
    struct vs_key k;
    if (vs_key_update(ks->engine, &call.c.space, call.name, call.version, &u, &k, &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    respond_bundle(&call, 200, &k);
    vs_key_clear(&k);
End:
    vs__call_end(&call);
}

static void h_delete(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_DELETE, "KeyDelete");
    struct vs_key k;
    if (vs_key_delete(ks->engine, &call.c.space, call.name, &k, &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    respond_bundle(&call, 200, &k);
    vs_key_clear(&k);
End:
    vs__call_end(&call);
}

static void h_deleted_list(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_LIST, "KeyListDeleted");
    list_page(&call, ks, vs_key_list_deleted, "/deletedkeys");
End:
    vs__call_end(&call);
}

static void h_deleted_get(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_GETDELETED, "KeyGetDeleted");
    struct vs_key k;
    if (vs_key_get_deleted(ks->engine, &call.c.space, call.name, &k, &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    respond_bundle(&call, 200, &k);
    vs_key_clear(&k);
End:
    vs__call_end(&call);
}

static void h_recover(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_RECOVER, "KeyRecover");
    struct vs_key k;
    if (vs_key_recover(ks->engine, &call.c.space, call.name, &k, &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    respond_bundle(&call, 200, &k);
    vs_key_clear(&k);
End:
    vs__call_end(&call);
}

static void h_purge(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_PURGE, "KeyPurge");
    if (vs_key_purge(ks->engine, &call.c.space, call.name, &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    cmk_response_json(res, 204, NULL);
End:
    vs__call_end(&call);
}

static void h_backup(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_BACKUP, "KeyBackup");
    unsigned char *blob;
    size_t len;
    if (vs_key_backup(ks->engine, &call.c.space, call.name, &blob, &len, &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    json_t *o = json_object();
    vs__set_b64(o, "value", blob, len);
    free(blob);
    cmk_response_json(res, 200, o);
End:
    vs__call_end(&call);
}

static void h_restore(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_RESTORE, "KeyRestore");
    json_t *body = vs__body_object(&call);
    unsigned char *blob = NULL;
    size_t len = 0;
    if (body == NULL || vs__b64_member(&call, body, "value", 1, &blob, &len) != 0) {
        vs__call_fail(&call);
        goto End;
    }
    struct vs_key k;
    int rc = vs_key_restore(ks->engine, &call.c.space, blob, len, &k, &err);
    free(blob);
    if (rc != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    respond_bundle(&call, 200, &k);
    vs_key_clear(&k);
End:
    vs__call_end(&call);
}

static void h_rotate(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_ROTATE, "KeyRotate");
    struct vs_key k;
    if (vs_key_rotate(ks->engine, &call.c.space, call.name, &k, &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    respond_bundle(&call, 200, &k);
    vs_key_clear(&k);
End:
    vs__call_end(&call);
}

static void h_policy_get(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_GETROTATIONPOLICY, "KeyRotationPolicyGet");
    json_t *pol;
    if (vs_rotation_get(ks->engine, &call.c.space, call.name, call.base, &pol, &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    cmk_response_json(res, 200, pol);
End:
    vs__call_end(&call);
}

static void h_policy_set(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_SETROTATIONPOLICY, "KeyRotationPolicySet");
    json_t *body = vs__body_object(&call);
    if (body == NULL) {
        vs__call_fail(&call);
        goto End;
    }
    json_t *pol;
    if (vs_rotation_set(ks->engine, &call.c.space, call.name, body, call.base, &pol, &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    cmk_response_json(res, 200, pol);
End:
    vs__call_end(&call);
}

/* Unknown paths on the host: the service's 404 / 405 envelope. */
static void h_fallback(struct cmk_request *req, struct cmk_response *res, void *data)
{
    (void)data;
    struct cmk_err err;
    if (res->status == 405)
        cmk_err_set(&err, CMK_EINVAL, 405, "MethodNotAllowed",
                    "The requested resource does not support http method '%s'.", req->method);
    else
        cmk_err_set(&err, CMK_ENOTFOUND, 404, "NotFound",
                    "The requested resource was not found: %.200s", req->path ? req->path : "");
    cmk_response_error(res, &err);
}

static const struct cmk_route routes[] = {
    {"GET", "/keys", h_list},
    {"GET", "/keys/{name}", h_get},
    {"GET", "/keys/{name}/versions", h_versions},
    {"GET", "/keys/{name}/{version}", h_get},
    {"PUT", "/keys/{name}", h_import},
    {"PATCH", "/keys/{name}", h_update},
    {"PATCH", "/keys/{name}/{version}", h_update},
    {"DELETE", "/keys/{name}", h_delete},
    {"POST", "/keys/restore", h_restore},
    {"POST", "/keys/{name}/create", h_create},
    {"POST", "/keys/{name}/backup", h_backup},
    {"POST", "/keys/{name}/rotate", h_rotate},
    {"GET", "/keys/{name}/rotationpolicy", h_policy_get},
    {"PUT", "/keys/{name}/rotationpolicy", h_policy_set},
    {"POST", "/keys/{name}/{version}/encrypt", vs__h_encrypt},
    {"POST", "/keys/{name}/{version}/decrypt", vs__h_decrypt},
    {"POST", "/keys/{name}/{version}/wrapkey", vs__h_wrap},
    {"POST", "/keys/{name}/{version}/unwrapkey", vs__h_unwrap},
    {"POST", "/keys/{name}/{version}/sign", vs__h_sign},
    {"POST", "/keys/{name}/{version}/verify", vs__h_verify},
    {"POST", "/keys/{name}/{version}/release", vs__h_release},
    {"POST", "/keys/{name}/encrypt", vs__h_encrypt},
    {"POST", "/keys/{name}/decrypt", vs__h_decrypt},
    {"POST", "/keys/{name}/wrapkey", vs__h_wrap},
    {"POST", "/keys/{name}/unwrapkey", vs__h_unwrap},
    {"POST", "/keys/{name}/sign", vs__h_sign},
    {"POST", "/keys/{name}/verify", vs__h_verify},
    {"POST", "/keys/{name}/release", vs__h_release},
    {"GET", "/deletedkeys", h_deleted_list},
    {"GET", "/deletedkeys/{name}", h_deleted_get},
    {"DELETE", "/deletedkeys/{name}", h_purge},
    {"POST", "/deletedkeys/{name}/recover", h_recover},
    {"POST", "/rng", vs__h_rng},
    {NULL, NULL, NULL},
};

void vs__keys_register(struct vs_keys *ks)
{
    cmk_router_add_table(&ks->rt->router, ks->policy.host, routes, ks);
    cmk_router_set_fallback(&ks->rt->router, ks->policy.host, h_fallback, ks);
}
