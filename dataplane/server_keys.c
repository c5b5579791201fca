/* server_keys.c: the key encryption key of a server as the envelope sees it (struct dp_kek).
 *
 * A customer-managed key: wrapKey/unwrapKey (RSA-OAEP-256) as in-process requests through the
 * router to the vault or managed HSM, with the bearer token of the server's user-assigned
 * identity and the origin of the trusted service (Microsoft.DBforPostgreSQL), exactly what a
 * client over the network would send: the vault checks the token, the access policy or role,
 * the firewall and the key's attributes, and writes its audit log. The DEK crosses only inside
 * the request and the answer, whose buffers are wiped.
 *
 * A SystemManaged server uses the emulator's platform key the same way: the DEK is sealed with
 * AES-256-GCM under a key derived from the root key (common/rootkey.h, label "dataplane
 * platform key"), and the envelope records kid "cmksim:platform:<root key id>".
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/buf.h"
#include "common/router.h"
#include "server_int.h"

#define KV_API         "api-version=7.5"
#define PLATFORM_LABEL "dataplane platform key"
#define PLATFORM_AAD   "cmksim-dek"

static const char *str_of(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* One request to the key's vault as the identity. On 2xx *out gets the parsed answer. */
static int vault_call(struct dp_keyctx *k, const char *method, const char *url, const json_t *body,
                      const char *what, json_t **out, struct cmk_err *err)
{
    *out = NULL;
    if (k->d->cp == NULL)
        return cmk_err_set(err, CMK_EUNAVAIL, 503, "ServiceUnavailable",
                           "the control plane is not running: no token for the key");
    char *token = NULL;
    struct cmk_err terr;
    cmk_err_clear(&terr);
    if (cp_server_vault_token(k->d->cp, k->identity, k->kid, &token, &terr) != 0)
        return cmk_err_set(
            err, CMK_EAUTH, 401, "IdentityNotFound",
            "%s with key '%.300s' failed: no token for the identity '%.300s': %.300s", what, k->kid,
            k->identity, terr.message);
    struct cmk_origin origin = {.kind = CMK_ORIGIN_TRUSTED_SERVICE};
    snprintf(origin.addr, sizeof(origin.addr), "%s", CP_SERVICE_ADDR);
    snprintf(origin.service, sizeof(origin.service), "%s", CP_SERVICE_NAME);
    struct cmk_request req;
    struct cmk_response res;
    cmk_response_init(&res);
    if (cmk_request_init(&req, method, url, &origin) != 0) {
        free(token);
        cmk_request_close(&req);
        cmk_response_close(&res);
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidKeyUri", "'%.400s' is not a key URI", url);
    }
    size_t tl = strlen(token) + 8;
    char *auth = cmk_xmalloc(tl);
    snprintf(auth, tl, "Bearer %s", token);
    cmk_request_add_header(&req, "authorization", auth);
    cmk_request_add_header(&req, "user-agent", "Microsoft.DBforPostgreSQL/cmksim-dataplane");
    OPENSSL_cleanse(auth, tl);
    free(auth);
    free(token);
    if (body)
        cmk_request_set_json(&req, body);
    cmk_router_dispatch(&k->d->rt->router, &req, &res);
    if (req.body.data) /* a DEK to wrap travels in it */
        OPENSSL_cleanse(req.body.data, req.body.len);
    cmk_request_close(&req);
    json_t *j = cmk_response_json_body(&res);
    if (res.body.data) /* an unwrapped DEK travels in it */
        OPENSSL_cleanse(res.body.data, res.body.len);
    int status = res.status;
    cmk_response_close(&res);
    if (status >= 200 && status < 300 && j) {
        *out = j;
        return 0;
    }
    json_t *e = json_object_get(j, "error");
    const char *inner = str_of(json_object_get(e, "innererror"), "code");
    int rc = cmk_err_set(err, status == 404 ? CMK_ENOTFOUND : CMK_EDENIED, status ? status : 500,
                         str_of(e, "code")[0] ? str_of(e, "code") : "KeyVaultError",
                         "%s with key '%.300s' as '%.300s' failed (%d %.64s): %.400s", what, k->kid,
                         k->identity, status, str_of(e, "code"), str_of(e, "message"));
    if (inner[0])
        cmk_err_inner(err, inner);
    json_decref(j);
    return rc;
}

/* The version of a versionless key URI: GET the key. */
static int resolve_version(struct dp_keyctx *k, struct cmk_err *err)
{
    const char *p = strstr(k->kid, "/keys/");
    if (p == NULL)
        return cmk_err_set(err, CMK_EINVAL, 400, "AzureKeyVaultInvalidKeyUri",
                           "'%.400s' is not a key URI", k->kid);
    const char *name = p + 6, *slash = strchr(name, '/');
    if (slash && slash[1] != '\0')
        return 0; /* has a version */
    char url[DP_URI_MAX + 64];
    snprintf(url, sizeof(url), "%.*s?" KV_API, (int)(slash ? slash - k->kid : (long)strlen(k->kid)),
             k->kid);
    json_t *j = NULL;
    int rc = vault_call(k, "GET", url, NULL, "get", &j, err);
    if (rc == 0) {
        const char *kid = str_of(json_object_get(j, "key"), "kid");
        if (kid[0] == '\0')
            rc = cmk_err_set(err, CMK_EPARSE, 502, "KeyVaultError", "the vault gave no kid");
        else
            snprintf(k->kid, sizeof(k->kid), "%s", kid);
    }
    json_decref(j);
    return rc;
}

static int vault_wrap(void *ctx, const uint8_t *dek, size_t n, json_t **wrapped,
                      struct cmk_err *err)
{
    struct dp_keyctx *k = ctx;
    *wrapped = NULL;
    char *v = cmk_b64_encode(dek, n, 1);
    json_t *body = json_pack("{s:s, s:s}", "alg", DP_KEK_ALG, "value", v);
    OPENSSL_cleanse(v, strlen(v));
    free(v);
    char url[DP_URI_MAX + 64];
    snprintf(url, sizeof(url), "%s/wrapkey?" KV_API, k->kid);
    json_t *ans = NULL;
    int rc = vault_call(k, "POST", url, body, "wrapKey", &ans, err);
    /* the body's value string held the DEK: wipe it before jansson frees it */
    const char *bv = str_of(body, "value");
    OPENSSL_cleanse((void *)bv, strlen(bv));
    json_decref(body);
    if (rc != 0)
        return rc;
    if (str_of(ans, "value")[0] == '\0') {
        json_decref(ans);
        return cmk_err_set(err, CMK_EPARSE, 502, "KeyVaultError", "wrapKey gave no value");
    }
    *wrapped = json_pack("{s:s, s:s}", "kid", str_of(ans, "kid")[0] ? str_of(ans, "kid") : k->kid,
                         "value", str_of(ans, "value"));
    json_decref(ans);
    return 0;
}

static int vault_unwrap(void *ctx, const json_t *wrapped, uint8_t *dek, size_t n,
                        struct cmk_err *err)
{
    struct dp_keyctx *k = ctx;
    const char *kid = str_of(wrapped, "kid")[0] ? str_of(wrapped, "kid") : k->kid;
    char url[DP_URI_MAX + 64];
    snprintf(url, sizeof(url), "%s/unwrapkey?" KV_API, kid);
    json_t *body = json_pack("{s:s, s:s}", "alg", DP_KEK_ALG, "value", str_of(wrapped, "value"));
    json_t *ans = NULL;
    int rc = vault_call(k, "POST", url, body, "unwrapKey", &ans, err);
    json_decref(body);
    if (rc != 0)
        return rc;
    const char *v = str_of(ans, "value");
    size_t len = 0;
    unsigned char *raw = cmk_b64_decode(v, strlen(v), &len);
    OPENSSL_cleanse((void *)v, strlen(v));
    json_decref(ans);
    if (raw == NULL || len != n) {
        if (raw) {
            OPENSSL_cleanse(raw, len);
            free(raw);
        }
        return cmk_err_set(err, CMK_ECRYPTO, 502, "InvalidUnwrappedKey",
                           "unwrapKey with key '%.400s' did not give a %zu-byte key", kid, n);
    }
    memcpy(dek, raw, n);
    OPENSSL_cleanse(raw, len);
    free(raw);
    return 0;
}

static int platform_wrap(void *ctx, const uint8_t *dek, size_t n, json_t **wrapped,
                         struct cmk_err *err)
{
    struct dp_keyctx *k = ctx;
    struct cmk_buf b;
    cmk_buf_init(&b);
    *wrapped = NULL;
    if (cmk_rootkey_seal(&k->d->platform, PLATFORM_LABEL, PLATFORM_AAD, strlen(PLATFORM_AAD), dek,
                         n, &b) != 0) {
        cmk_buf_close(&b);
        return cmk_err_set(err, CMK_ECRYPTO, 500, "PlatformKeyError",
                           "sealing a DEK under the platform key failed");
    }
    char *v = cmk_b64_encode(b.data, b.len, 1);
    cmk_buf_close(&b);
    *wrapped = json_pack("{s:s, s:s}", "kid", k->kid, "value", v);
    free(v);
    return 0;
}

static int platform_unwrap(void *ctx, const json_t *wrapped, uint8_t *dek, size_t n,
                           struct cmk_err *err)
{
    struct dp_keyctx *k = ctx;
    const char *v = str_of(wrapped, "value");
    size_t len = 0, ptn = 0;
    unsigned char *sealed = cmk_b64_decode(v, strlen(v), &len), *pt = NULL;
    int rc = sealed ? cmk_rootkey_open(&k->d->platform, PLATFORM_LABEL, PLATFORM_AAD,
                                       strlen(PLATFORM_AAD), sealed, len, &pt, &ptn)
                    : CMK_EPARSE;
    free(sealed);
    if (rc != 0 || ptn != n) {
        if (pt) {
            OPENSSL_cleanse(pt, ptn);
            free(pt);
        }
        return cmk_err_set(err, CMK_ECRYPTO, 500, "PlatformKeyError",
                           "the DEK does not open under this emulator's platform key (%s)",
                           str_of(wrapped, "kid"));
    }
    memcpy(dek, pt, n);
    OPENSSL_cleanse(pt, ptn);
    free(pt);
    return 0;
}

int dp__key_init(struct dp_servers *d, struct dp_keyctx *k, const char *encryption, const char *kid,
                 const char *identity, struct cmk_err *err)
{
    memset(k, 0, sizeof(*k));
    k->d = d;
    k->platform = encryption == NULL || strcmp(encryption, "AzureKeyVault") != 0;
    k->kek.ctx = k;
    k->kek.kid = k->kid;
    if (k->platform) {
        snprintf(k->kid, sizeof(k->kid), "cmksim:platform:%s", d->platform.id);
        k->kek.alg = DP_PLATFORM_ALG;
        k->kek.wrap = platform_wrap;
        k->kek.unwrap = platform_unwrap;
        return 0;
    }
    if (kid == NULL || kid[0] == '\0')
        return cmk_err_set(err, CMK_EINVAL, 400, "CMKInvalidEncryptionParameters",
                           "the server has no customer-managed key");
    snprintf(k->kid, sizeof(k->kid), "%s", kid);
    snprintf(k->identity, sizeof(k->identity), "%s", identity ? identity : "");
    k->kek.alg = DP_KEK_ALG;
    k->kek.wrap = vault_wrap;
    k->kek.unwrap = vault_unwrap;
    return resolve_version(k, err);
}

int dp__key_of(struct dp_srv *srv, struct dp_keyctx *k, struct cmk_err *err)
{
    return dp__key_init(srv->d, k, srv->encryption, srv->kid[0] ? srv->kid : srv->key_uri,
                        srv->identity, err);
}
