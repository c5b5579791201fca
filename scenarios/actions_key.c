/* actions_key.c: the scenario actions on keys, as Key Vault data-plane requests on the vault's
 * (or managed HSM's) host: create (with attributes, tags and a rotation policy), import (a
 * backup of another key, a JWK, a .pfx or a .byok file), get, enable/disable, expiry, rotate,
 * delete, recover, purge; and key references turned into key URIs for servers.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/arm.h"
#include "common/b64.h"
#include "controlplane/identity.h"
#include "controlplane/server.h"
#include "hsmsim/hsm.h"
#include "scenarios/runner_int.h"

/* ---- keys ---- */

/* "/keys/NAME" or "/keys/NAME/VERSION" for a reference. */
static struct sc_store *key_target(struct sc_world *w, const struct sc_call *c, char *path,
                                   size_t n, struct sc_action_result *r)
{
    const struct sc_value *k = sc_get(&c->args, "key");
    if (k == NULL || k->type != SC_T_KEYREF) {
        sc__afail(r, "no key given%s%s", "", "");
        return NULL;
    }
    struct sc_store *v = sc__store(w, k->u.key.store);
    if (v == NULL) {
        sc__afail(r, "unknown vault %s%s", k->u.key.store, "");
        return NULL;
    }
    const char *ver = k->u.key.version;
    sc__fmt(path, n, "/keys/%s%s%s", k->u.key.key, ver && strcmp(ver, "current") != 0 ? "/" : "",
            ver && strcmp(ver, "current") != 0 ? ver : "");
    return v;
}

static json_t *attributes_json(struct sc_world *w, const struct sc_value *a)
{
    json_t *o = json_object();
    if (a == NULL)
        return o;
    if (sc_get(a, "enabled"))
        json_object_set_new(o, "enabled", json_boolean(sc_get_bool(a, "enabled", 1)));
    static const char *const whens[] = {"notBefore", "expires", NULL};
    static const char *const wire[] = {"nbf", "exp"};
    for (int i = 0; whens[i]; i++) {
        const struct sc_value *v = sc_get(a, whens[i]);
        if (v == NULL)
            continue;
        cmk_time_t t = v->u.when.relative ? sc__now(w) + v->u.when.t : v->u.when.t;
        json_object_set_new(o, wire[i], json_integer(t / 1000));
    }
    return o;
}

static void iso_duration(cmk_time_t d, char *out, size_t n)
{
    if (d % CMK_DAY == 0)
        sc__fmt(out, n, "P%lldD", (long long)(d / CMK_DAY));
    else if (d % CMK_HOUR == 0)
        sc__fmt(out, n, "PT%lldH", (long long)(d / CMK_HOUR));
    else
        sc__fmt(out, n, "PT%lldM", (long long)(d / CMK_MINUTE));
}

static int key_create(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    struct sc_store *v = sc__store(w, sc__arg(c, "vault"));
    if (v == NULL)
        return sc__afail(r, "unknown vault %s%s", sc__arg(c, "vault"), "");
    if (v->hsm && sc__caller(w, c) == NULL && sc__hsm_admin_keys(w, v, r) != 0)
        return 1;
    const char *kty = sc_get_str(&c->args, "kty", v->hsm ? "RSA-HSM" : "RSA");
    json_t *b = json_pack("{s:s}", "kty", kty);
    if (strncmp(kty, "RSA", 3) == 0 || strncmp(kty, "oct", 3) == 0)
        json_object_set_new(b, "key_size",
                            json_integer(sc_get_int(&c->args, "size", kty[0] == 'o' ? 256 : 2048)));
    if (sc__arg(c, "curve"))
        json_object_set_new(b, "crv", json_string(sc__arg(c, "curve")));
    if (sc_get(&c->args, "ops"))
        json_object_set_new(b, "key_ops", sc__string_list(sc_get(&c->args, "ops")));
    json_object_set_new(b, "attributes", attributes_json(w, sc_get(&c->args, "attributes")));
    const struct sc_value *tags = sc_get(&c->args, "tags");
    if (tags) {
        json_t *o = json_object();
        for (size_t i = 0; i < tags->u.map.n; i++)
            json_object_set_new(o, tags->u.map.v[i].key, json_string(tags->u.map.v[i].value.u.str));
        json_object_set_new(b, "tags", o);
    }
    char path[300];
    sc__fmt(path, sizeof(path), "/keys/%s/create", sc__arg(c, "name"));
    struct sc_http h;
    sc__keys(w, v, "POST", path, b, sc__caller(w, c), sc__arg(c, "from"), &h);
    json_decref(b);
    int rc = sc__from_http(r, "POST", path, &h);
    sc__http_close(&h);
    const struct sc_value *rp = sc_get(&c->args, "rotationPolicy");
    if (rc != 0 || rp == NULL)
        return rc;
    json_t *actions = json_array();
    char d[32];
    static const char *const trig[] = {"rotateAfterCreate", "rotateBeforeExpiry",
                                       "notifyBeforeExpiry", NULL};
    static const char *const wire[] = {"timeAfterCreate", "timeBeforeExpiry", "timeBeforeExpiry"};
    for (int i = 0; trig[i]; i++) {
        if (!sc_get(rp, trig[i]))
            continue;
        iso_duration(sc_get_duration(rp, trig[i], 0), d, sizeof(d));
        json_array_append_new(actions, json_pack("{s:{s:s}, s:{s:s}}", "trigger", wire[i], d,
                                                 "action", "type", i == 2 ? "Notify" : "Rotate"));
    }
    json_t *pol = json_pack("{s:o, s:{}}", "lifetimeActions", actions, "attributes");
    if (sc_get(rp, "expiryTime")) {
        iso_duration(sc_get_duration(rp, "expiryTime", 0), d, sizeof(d));
        json_object_set_new(json_object_get(pol, "attributes"), "expiryTime", json_string(d));
    }
    sc__fmt(path, sizeof(path), "/keys/%s/rotationpolicy", sc__arg(c, "name"));
    sc__keys(w, v, "PUT", path, pol, sc__caller(w, c), sc__arg(c, "from"), &h);
    json_decref(pol);
    rc = sc__from_http(r, "PUT", path, &h);
    sc__http_close(&h);
    return rc;
}

static int key_import(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    struct sc_store *v = sc__store(w, sc__arg(c, "vault"));
    if (v == NULL)
        return sc__afail(r, "unknown vault %s%s", sc__arg(c, "vault"), "");
    const char *format = sc__arg(c, "format");
    struct sc_http h;
    if (strcmp(format, "backup") == 0) {
        const struct sc_value *src = sc_get(&c->args, "backupOf");
        struct sc_store *sv = src ? sc__store(w, src->u.key.store) : NULL;
        if (sv == NULL)
            return sc__afail(r, "key.import format backup needs backupOf: STORE/KEY%s%s", "", "");
        char path[300];
        sc__fmt(path, sizeof(path), "/keys/%s/backup", src->u.key.key);
        sc__keys(w, sv, "POST", path, NULL, sc__caller(w, c), sc__arg(c, "from"), &h);
        int rc = sc__from_http(r, "POST", path, &h);
        const char *blob = json_string_value(json_object_get(h.body, "value"));
        if (rc != 0 || blob == NULL) {
            sc__http_close(&h);
            return rc ? rc : 1;
        }
        json_t *b = json_pack("{s:s}", "value", blob);
        sc__http_close(&h);
        sc__keys(w, v, "POST", "/keys/restore", b, sc__caller(w, c), sc__arg(c, "from"), &h);
        json_decref(b);
        rc = sc__from_http(r, "POST", "/keys/restore", &h);
        sc__http_close(&h);
        return rc;
    }
    const char *file = sc__arg(c, "file");
    if (file == NULL)
        return sc__afail(r, "key.import format %s needs file%s", format, "");
    char full[PATH_MAX];
    if (file[0] == '/') {
        sc__fmt(full, sizeof(full), "%s", file);
    } else {
        const char *slash = strrchr(w->sc->file, '/');
        sc__fmt(full, sizeof(full), "%.*s%s", slash ? (int)(slash - w->sc->file + 1) : 0,
                w->sc->file, file);
    }
    FILE *f = fopen(full, "rb");
    if (f == NULL)
        return sc__afail(r, "cannot read %s%s", full, "");
    struct cmk_buf data;
    cmk_buf_init(&data);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cmk_buf_append(&data, chunk, got);
    fclose(f);
    json_t *b = NULL;
    if (strcmp(format, "jwk") == 0) {
        json_t *jwk = json_loadb(data.data, data.len, 0, NULL);
        if (jwk && json_object_get(jwk, "key"))
            b = jwk;
        else if (jwk)
            b = json_pack("{s:o}", "key", jwk);
    } else if (strcmp(format, "pfx") == 0) {
        char *enc = cmk_b64_encode((const unsigned char *)data.data, data.len, 0);
        b = json_pack("{s:s, s:s}", "pfx", enc, "password", sc_get_str(&c->args, "password", ""));
        free(enc);
    } else if (strcmp(format, "byok") == 0) {
        json_t *kh = json_loadb(data.data, data.len, 0, NULL);
        if (kh)
            b = json_pack("{s:{s:s, s:o}}", "key", "kty", sc_get_str(&c->args, "kty", "RSA-HSM"),
                          "key_hsm", kh);
    }
    cmk_buf_close(&data);
    if (b == NULL)
        return sc__afail(r, "cannot read %s as %s", full, format);
    if (sc_get_bool(&c->args, "hsm", 0))
        json_object_set_new(b, "hsm", json_true());
    json_object_set_new(b, "attributes", attributes_json(w, sc_get(&c->args, "attributes")));
    char path[300];
    sc__fmt(path, sizeof(path), "/keys/%s", sc__arg(c, "name"));
    sc__keys(w, v, "PUT", path, b, sc__caller(w, c), sc__arg(c, "from"), &h);
    json_decref(b);
    int rc = sc__from_http(r, "PUT", path, &h);
    sc__http_close(&h);
    return rc;
}

static int key_simple(struct sc_world *w, const struct sc_call *c, const char *method,
                      const char *prefix, const char *suffix, const json_t *body,
                      struct sc_action_result *r)
{
    char kp[300];
    struct sc_store *v = key_target(w, c, kp, sizeof(kp), r);
    if (v == NULL)
        return -1;
    char path[400];
    if (prefix) /* "/deletedkeys": by name only */
        sc__fmt(path, sizeof(path), "%s/%s%s", prefix, sc_get(&c->args, "key")->u.key.key,
                suffix ? suffix : "");
    else
        sc__fmt(path, sizeof(path), "%s%s", kp, suffix ? suffix : "");
    struct sc_http h;
    sc__keys(w, v, method, path, body, sc__caller(w, c), sc__arg(c, "from"), &h);
    int rc = sc__from_http(r, method, path, &h);
    sc__http_close(&h);
    return rc;
}

static int key_update(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r,
                      int enable)
{
    json_t *attrs = json_object();
    if (enable >= 0) {
        json_object_set_new(attrs, "enabled", json_boolean(enable));
    } else {
        json_decref(attrs);
        attrs = attributes_json(w, &c->args);
    }
    json_t *b = json_pack("{s:o}", "attributes", attrs);
    int rc = key_simple(w, c, "PATCH", NULL, NULL, b, r);
    json_decref(b);
    return rc;
}

int sc__key_uri(struct sc_world *w, const struct sc_keyref *k, char *out, size_t n,
                struct sc_action_result *res)
{
    if (k->is_uri) {
        sc__fmt(out, n, "%s", k->text);
        return 0;
    }
    struct sc_store *v = sc__store(w, k->store);
    if (v == NULL)
        return sc__afail(res, "unknown vault %s%s", k->store, "");
    char base[256];
    sc__store_url(v, base, sizeof(base));
    if (k->version == NULL) {
        sc__fmt(out, n, "%s/keys/%s", base, k->key);
        return 0;
    }
    if (strcmp(k->version, "current") != 0) {
        sc__fmt(out, n, "%s/keys/%s/%s", base, k->key, k->version);
        return 0;
    }
    char path[300];
    sc__fmt(path, sizeof(path), "/keys/%s", k->key);
    struct sc_http h;
    sc__keys(w, v, "GET", path, NULL, NULL, NULL, &h);
    const char *kid = json_string_value(json_object_get(json_object_get(h.body, "key"), "kid"));
    int rc = 0;
    if (h.status != 200 || kid == NULL)
        rc = sc__from_http(res, "GET", path, &h);
    else
        sc__fmt(out, n, "%s", kid);
    sc__http_close(&h);
    return rc;
}

int sc__action_key(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    switch (c->action->id) {
    case SC_A_KEY_CREATE:
        return key_create(w, c, r);
    case SC_A_KEY_IMPORT:
        return key_import(w, c, r);
    case SC_A_KEY_GET:
        return key_simple(w, c, "GET", NULL, NULL, NULL, r);
    case SC_A_KEY_DISABLE:
        return key_update(w, c, r, 0);
    case SC_A_KEY_ENABLE:
        return key_update(w, c, r, 1);
    case SC_A_KEY_SET_EXPIRY:
        return key_update(w, c, r, -1);
    case SC_A_KEY_ROTATE:
        return key_simple(w, c, "POST", NULL, "/rotate", NULL, r);
    case SC_A_KEY_DELETE:
        return key_simple(w, c, "DELETE", "/keys", NULL, NULL, r);
    case SC_A_KEY_RECOVER:
        return key_simple(w, c, "POST", "/deletedkeys", "/recover", NULL, r);
    case SC_A_KEY_PURGE:
        return key_simple(w, c, "DELETE", "/deletedkeys", NULL, NULL, r);
    default:
        return sc__afail(r, "%s is not a key action%s", c->action->name, "");
    }
}
