/* srv_test.h: what the servers' unit tests share (header-only, included by each test_*.c):
 * a runtime on the virtual clock in a temporary state directory with the ARM core, the
 * identity service and the servers service; management requests through the in-process door
 * with the admin's token; and a small stand-in key vault ("stub vault") on the vault and HSM
 * hosts that answers GET key, GET /keys, wrapkey and unwrapkey with the Key Vault service's
 * status codes and inner codes (401 UnknownPrincipal/InvalidIssuer, 403 ForbiddenByPolicy/
 * ForbiddenByConnection/KeyDisabled/KeyExpired, 404 KeyNotFound/NotFound), so these tests do
 * not depend on vaultsim; tests/servers runs the same rules against the real vaultsim.
 * The stub's "wrap" is a reversible transformation tagged with the key version, not crypto.
 */
#ifndef SRV_TEST_H
#define SRV_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arm.h"
#include "common/auth.h"
#include "common/b64.h"
#include "common/log.h"
#include "common/runtime.h"
#include "controlplane/identity.h"
#include "controlplane/server.h"

#define T_SUB          CMK_ARM_DEFAULT_SUBSCRIPTION
#define T_TENANT       CMK_ARM_DEFAULT_TENANT
#define T_OTHER_TENANT "22222222-2222-2222-2222-222222222222"
#define T_OTHER_SUB    "00000000-0000-0000-0000-000000000002"
#define T_API          "api-version=2025-08-01"

enum { KP_GET = 1, KP_LIST = 2, KP_WRAP = 4, KP_UNWRAP = 8, KP_ALL = 15 };

struct stub_key {
    char name[64];
    char versions[4][33];
    int nversions;
    char kty[16];
    int bits;
    int enabled;
    cmk_time_t nbf, exp;
    int deleted;
};

struct stub_vault {
    char name[64];
    char tenant[64];
    int hsm;
    int deleted;
    int public_disabled, bypass;
    struct {
        char oid[64];
        unsigned perms;
    } policies[8];
    int npolicies;
    struct stub_key keys[8];
    int nkeys;
};

struct t_env {
    char dir[128];
    uv_loop_t loop;
    struct cmk_runtime rt;
    struct cmk_arm *arm;
    struct cp_identity *ids;
    struct cp_servers *s;
    struct stub_vault vaults[6];
    int nvaults;
    int stub_calls;
    int persistent; /* state.db on disk (restart tests); else in memory */
    int no_stub;    /* the real vaultsim serves the vault hosts (tests/servers) */
    void (*extra_open)(struct t_env *env);  /* services opened before the servers */
    void (*extra_close)(struct t_env *env); /* and closed after them */
    void *extra;
};

static inline void t_fail_err(const char *what, const struct cmk_err *err)
{
    fail_msg("%s: %d %s %s", what, err->status, err->code, err->message);
}

/* ---- the stub vault ---- */

static inline struct stub_vault *stub_find(struct t_env *env, const char *name)
{
    for (int i = 0; i < env->nvaults; i++)
        if (strcasecmp(env->vaults[i].name, name) == 0)
            return &env->vaults[i];
    return NULL;
}

static inline void stub_error(struct cmk_response *res, int status, const char *code,
                              const char *inner, const char *msg)
{
    struct cmk_err e;
    cmk_err_set(&e, CMK_EDENIED, status, code, "%s", msg);
    if (inner)
        cmk_err_inner(&e, inner);
    cmk_response_error(res, &e);
}

static void stub_handler(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct t_env *env = data;
    env->stub_calls++;
    struct stub_vault *v = stub_find(env, req->host_label);
    if (v == NULL || v->deleted)
        return stub_error(res, 404, "NotFound", NULL, "No such vault.");
    static const char *const auds[] = {"https://vault.azure.net", "https://managedhsm.azure.net",
                                       NULL};
    struct cmk_principal p;
    struct cmk_err e;
    cmk_err_clear(&e);
    if (cmk_auth_verify(env->rt.auth, cmk_request_header(req, "authorization"),
                        cmk_clock_now(&env->rt.clock), auds, &p, &e) != 0)
        return stub_error(res, 401, "Unauthorized", e.inner, e.message);
    if (strcasecmp(p.tid, v->tenant) != 0)
        return stub_error(res, 401, "Unauthorized", "InvalidIssuer", "AKV10032: Invalid issuer.");
    if (v->public_disabled && !(req->origin.kind == CMK_ORIGIN_TRUSTED_SERVICE && v->bypass))
        return stub_error(res, 403, "Forbidden", "ForbiddenByConnection",
                          "Public network access is disabled and request is not from a "
                          "trusted service nor via an approved private link.");
    const char *name = cmk_request_param(req, "name");
    const char *version = cmk_request_param(req, "version");
    const char *op = strstr(req->path, "/wrapkey")     ? "wrapKey"
                     : strstr(req->path, "/unwrapkey") ? "unwrapKey"
                     : name == NULL                    ? "list"
                                                       : "get";
    unsigned need = strcmp(op, "wrapKey") == 0     ? KP_WRAP
                    : strcmp(op, "unwrapKey") == 0 ? KP_UNWRAP
                    : strcmp(op, "list") == 0      ? KP_LIST
                                                   : KP_GET;
    unsigned have = 0;
    for (int i = 0; i < v->npolicies; i++)
        if (strcasecmp(v->policies[i].oid, p.oid) == 0)
            have |= v->policies[i].perms;
    if (!(have & need)) {
        char m[256];
        snprintf(m, sizeof(m),
                 "The user, group or application 'oid=%s' does not have keys %s permission on "
                 "key vault '%s'.",
                 p.oid, op, v->name);
        return stub_error(res, 403, "Forbidden", "ForbiddenByPolicy", m);
    }
    if (name == NULL) {
        cmk_response_json(res, 200, json_pack("{s:[]}", "value"));
        return;
    }
    struct stub_key *k = NULL;
    for (int i = 0; i < v->nkeys; i++)
        if (strcmp(v->keys[i].name, name) == 0 && !v->keys[i].deleted)
            k = &v->keys[i];
    int vi = k ? k->nversions - 1 : -1;
    if (k && version && version[0]) {
        vi = -1;
        for (int i = 0; i < k->nversions; i++)
            if (strcmp(k->versions[i], version) == 0)
                vi = i;
    }
    if (k == NULL || vi < 0)
        return stub_error(res, 404, "KeyNotFound", NULL, "A key with (name/id) was not found.");
    char kid[256];
    snprintf(kid, sizeof(kid), "https://%s.%s/keys/%s/%s", v->name,
             v->hsm ? "managedhsm.azure.net" : "vault.azure.net", k->name, k->versions[vi]);
    if (!k->enabled)
        return stub_error(res, 403, "Forbidden", "KeyDisabled",
                          "Operation get is not allowed on a disabled key.");
    cmk_time_t now = cmk_clock_now(&env->rt.clock);
    if (strcmp(op, "get") == 0) {
        unsigned char n[512];
        memset(n, 0x5a, sizeof(n));
        n[0] = 0xc1;
        char *nb = cmk_b64_encode(n, (size_t)k->bits / 8, 1);
        json_t *attr = json_pack("{s:b}", "enabled", k->enabled);
        if (k->nbf)
            json_object_set_new(attr, "nbf", json_integer(k->nbf / 1000));
        if (k->exp)
            json_object_set_new(attr, "exp", json_integer(k->exp / 1000));
        cmk_response_json(res, 200,
                          json_pack("{s:{s:s, s:s, s:s, s:s}, s:o}", "key", "kid", kid, "kty",
                                    k->kty, "n", nb, "e", "AQAB", "attributes", attr));
        free(nb);
        return;
    }
    json_t *body = cmk_request_json(req, &e);
    const char *val = json_string_value(json_object_get(body, "value"));
    size_t len = 0;
    unsigned char *bytes = val ? cmk_b64_decode(val, strlen(val), &len) : NULL;
    if (bytes == NULL)
        return stub_error(res, 400, "BadParameter", NULL, "The value is not base64url.");
    struct cmk_buf out;
    cmk_buf_init(&out);
    if (strcmp(op, "wrapKey") == 0) {
        if (k->exp && k->exp <= now) {
            free(bytes);
            return stub_error(res, 403, "Forbidden", "KeyExpired",
                              "Operation wrapKey is not allowed on an expired key.");
        }
        cmk_buf_append(&out, "STUB", 4);
        cmk_buf_append(&out, k->versions[vi], 32);
        for (size_t i = 0; i < len; i++)
            bytes[i] ^= 0x5a;
        cmk_buf_append(&out, bytes, len);
    } else {
        if (len < 36 || memcmp(bytes, "STUB", 4) != 0 || memcmp(bytes + 4, k->versions[vi], 32)) {
            free(bytes);
            cmk_buf_close(&out);
            return stub_error(res, 400, "BadParameter", NULL, "The parameter is incorrect.");
        }
        for (size_t i = 36; i < len; i++)
            bytes[i] ^= 0x5a;
        cmk_buf_append(&out, bytes + 36, len - 36);
    }
    free(bytes);
    char *ob = cmk_b64_encode(out.data, out.len, 1);
    cmk_buf_close(&out);
    cmk_response_json(res, 200, json_pack("{s:s, s:s}", "kid", kid, "value", ob));
    free(ob);
}

static inline void stub_routes(struct t_env *env)
{
    static const char *const pats[] = {"/keys", "/keys/{name}", "/keys/{name}/{version}", NULL};
    for (int h = 0; h < 2; h++) {
        enum cmk_host_kind kind = h ? CMK_HOST_HSM : CMK_HOST_VAULT;
        for (int i = 0; pats[i]; i++)
            cmk_router_add(&env->rt.router, kind, "GET", pats[i], stub_handler, env);
        cmk_router_add(&env->rt.router, kind, "POST", "/keys/{name}/{version}/wrapkey",
                       stub_handler, env);
        cmk_router_add(&env->rt.router, kind, "POST", "/keys/{name}/{version}/unwrapkey",
                       stub_handler, env);
    }
}

/* A vault (its ARM metadata in the resource store, its data plane in the stub). */
static inline struct stub_vault *stub_vault_add(struct t_env *env, const char *rg, const char *name,
                                                const char *location, int hsm, int soft_delete,
                                                int retention, int purge)
{
    struct stub_vault *v = &env->vaults[env->nvaults++];
    memset(v, 0, sizeof(*v));
    snprintf(v->name, sizeof(v->name), "%s", name);
    snprintf(v->tenant, sizeof(v->tenant), "%s", T_TENANT);
    v->hsm = hsm;
    v->bypass = 1;
    char id[512];
    snprintf(id, sizeof(id),
             "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.KeyVault/%s/%s", T_SUB, rg,
             hsm ? "managedHSMs" : "vaults", name);
    json_t *doc = json_pack("{s:s, s:{s:s, s:b, s:i, s:b}}", "location", location, "properties",
                            "tenantId", T_TENANT, "enableSoftDelete", soft_delete,
                            "softDeleteRetentionInDays", retention, "enablePurgeProtection", purge);
    struct cmk_err err;
    if (cmk_arm_resource_put(env->arm, id, doc, "test", &err) != 0)
        t_fail_err("vault metadata", &err);
    json_decref(doc);
    return v;
}

static inline struct stub_key *stub_key_add(struct stub_vault *v, const char *name, const char *kty,
                                            int bits)
{
    struct stub_key *k = &v->keys[v->nkeys++];
    memset(k, 0, sizeof(*k));
    snprintf(k->name, sizeof(k->name), "%s", name);
    snprintf(k->kty, sizeof(k->kty), "%s", kty);
    k->bits = bits;
    k->enabled = 1;
    snprintf(k->versions[0], 33, "%032x", (unsigned)(v->nkeys * 1000 + 1));
    k->nversions = 1;
    return k;
}

static inline void stub_key_rotate(struct stub_key *k)
{
    snprintf(k->versions[k->nversions], 33, "%031x%x", 0xabcu + (unsigned)k->nversions,
             (unsigned)k->nversions);
    k->nversions++;
}

static inline void stub_grant(struct stub_vault *v, const char *oid, unsigned perms)
{
    for (int i = 0; i < v->npolicies; i++) {
        if (strcasecmp(v->policies[i].oid, oid) == 0) {
            v->policies[i].perms = perms;
            return;
        }
    }
    snprintf(v->policies[v->npolicies].oid, 64, "%s", oid);
    v->policies[v->npolicies++].perms = perms;
}

/* ---- the environment ---- */

static inline void t_open(struct t_env *env)
{
    uv_loop_init(&env->loop);
    struct cmk_runtime_opts o = {.data_dir = env->dir,
                                 .clock_mode = CMK_CLOCK_VIRTUAL,
                                 .seed = 11,
                                 .in_memory = !env->persistent};
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cmk_runtime_open(&env->rt, &env->loop, &o, &err) != 0)
        t_fail_err("runtime", &err);
    cmk_log_setup(&env->rt.clock, stderr, getenv("CMK_TEST_LOG") ? CMK_LOG_DEBUG : CMK_LOG_WARN);
    if (cmk_arm_open(&env->arm, &env->rt, &err) != 0)
        t_fail_err("arm", &err);
    if (cp_identity_init(&env->ids, &env->rt, &err) != 0)
        t_fail_err("identity", &err);
    if (!env->no_stub)
        stub_routes(env);
    if (env->extra_open)
        env->extra_open(env);
    if (cp_servers_open(&env->s, &env->rt, &err) != 0)
        t_fail_err("servers", &err);
}

static inline void t_close(struct t_env *env)
{
    cp_servers_free(env->s);
    if (env->extra_close)
        env->extra_close(env);
    cp_identity_free(env->ids);
    cmk_arm_free(env->arm);
    cmk_runtime_close(&env->rt);
    uv_run(&env->loop, UV_RUN_DEFAULT);
    uv_loop_close(&env->loop);
}

/* The signing keys made once per test process and copied into each new state directory:
 * generating RSA keys for every test would be most of the run time. */
static char t_keys_dir[128];

static void t_keys_cleanup(void)
{
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", t_keys_dir);
    if (t_keys_dir[0] && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", t_keys_dir);
}

/* Set up env's hooks (no_stub, extra_open...) before: env is not cleared. */
static inline void t_env_new(struct t_env *env, const char *name)
{
    snprintf(env->dir, sizeof(env->dir), "/tmp/cmk-cp-%s-XXXXXX", name);
    if (mkdtemp(env->dir) == NULL)
        fail_msg("mkdtemp");
    char cmd[400];
    if (t_keys_dir[0]) {
        snprintf(cmd, sizeof(cmd), "cp -a %s/keys %s/", t_keys_dir, env->dir);
        if (system(cmd) != 0)
            fail_msg("copy keys");
    }
    t_open(env);
    if (t_keys_dir[0] == '\0') {
        snprintf(t_keys_dir, sizeof(t_keys_dir), "%s", "/tmp/cmk-cp-keys-XXXXXX");
        if (mkdtemp(t_keys_dir) == NULL)
            fail_msg("mkdtemp");
        atexit(t_keys_cleanup);
        snprintf(cmd, sizeof(cmd), "cp -a %s/keys %s/", env->dir, t_keys_dir);
        if (system(cmd) != 0)
            fail_msg("copy keys");
    }
}

static inline void t_env_free(struct t_env *env)
{
    t_close(env);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", env->dir);
    if (system(cmd) != 0)
        fail_msg("rm");
}

/* A management request as the admin; returns the status, *out the JSON body (may be NULL).
 * path may be an absolute URL (an Azure-AsyncOperation link). hname/hval (may be NULL): a
 * response header to read back (hval holds 1024 bytes). */
static inline int t_mgmt_h(struct t_env *env, const char *method, const char *path,
                           const json_t *body, json_t **out, const char *hname, char *hval)
{
    char *tok = NULL, url[1400];
    struct cmk_err err;
    if (cp_identity_sp_token(&env->rt, CP_IDENTITY_ADMIN_CLIENT_ID, "https://management.azure.com/",
                             &tok, &err) != 0)
        t_fail_err("token", &err);
    snprintf(url, sizeof(url), "%s%s",
             strncmp(path, "https://", 8) ? "https://management.azure.com" : "", path);
    struct cmk_request req;
    struct cmk_response res;
    struct cmk_origin o = {.kind = CMK_ORIGIN_INPROC, .addr = "203.0.113.7"};
    cmk_request_init(&req, method, url, &o);
    char auth[4096];
    snprintf(auth, sizeof(auth), "Bearer %s", tok);
    free(tok);
    cmk_request_add_header(&req, "authorization", auth);
    if (body)
        cmk_request_set_json(&req, body);
    cmk_response_init(&res);
    cmk_router_dispatch(&env->rt.router, &req, &res);
    int status = res.status;
    if (out)
        *out = cmk_response_json_body(&res);
    if (hname) {
        const char *v = cmk_response_get_header(&res, hname);
        snprintf(hval, 1024, "%s", v ? v : "");
    }
    cmk_request_close(&req);
    cmk_response_close(&res);
    return status;
}

static inline int t_mgmt(struct t_env *env, const char *method, const char *path,
                         const json_t *body, json_t **out)
{
    return t_mgmt_h(env, method, path, body, out, NULL, NULL);
}

static inline const char *t_code(const json_t *j)
{
    const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    return c ? c : "";
}

static inline const char *t_message(const json_t *j)
{
    const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    return c ? c : "";
}

static inline void t_rg(struct t_env *env, const char *rg, const char *location)
{
    char path[256];
    snprintf(path, sizeof(path), "/subscriptions/%s/resourcegroups/%s?api-version=2021-04-01",
             T_SUB, rg);
    json_t *b = json_pack("{s:s}", "location", location);
    int st = t_mgmt(env, "PUT", path, b, NULL);
    json_decref(b);
    if (st != 200 && st != 201)
        fail_msg("resource group %s: %d", rg, st);
}

/* A user-assigned identity; its ARM id into id (512), its principal id into oid (37). */
static inline void t_identity(struct t_env *env, const char *rg, const char *name,
                              const char *location, char *id, char *oid)
{
    struct cp_managed_identity mi;
    struct cmk_err err;
    int created;
    if (cp_identity_mi_put(env->ids, T_SUB, rg, name, location, NULL, NULL, NULL, &mi, &created,
                           &err) != 0)
        t_fail_err("identity", &err);
    if (id)
        snprintf(id, 512, "%s", mi.p.resource_id);
    if (oid)
        snprintf(oid, 37, "%s", mi.p.object_id);
    cp_managed_identity_close(&mi);
}

static inline void t_server_path(char *out, size_t n, const char *rg, const char *name,
                                 const char *suffix)
{
    snprintf(out, n,
             "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.DBforPostgreSQL/"
             "flexibleServers/%s%s?" T_API,
             T_SUB, rg, name, suffix ? suffix : "");
}

/* A CMK server body: key URI, identity (also in the identity map), optional geo pair. */
static inline json_t *t_cmk_body(const char *location, const char *key, const char *identity,
                                 const char *geo_key, const char *geo_identity)
{
    json_t *ids = json_object();
    json_object_set_new(ids, identity, json_object());
    if (geo_identity)
        json_object_set_new(ids, geo_identity, json_object());
    json_t *de = json_pack("{s:s, s:s, s:s}", "type", "AzureKeyVault", "primaryKeyURI", key,
                           "primaryUserAssignedIdentityId", identity);
    if (geo_key) {
        json_object_set_new(de, "geoBackupKeyURI", json_string(geo_key));
        json_object_set_new(de, "geoBackupUserAssignedIdentityId", json_string(geo_identity));
    }
    return json_pack(
        "{s:s, s:{s:s, s:s}, s:{s:s, s:o}, s:{s:s, s:s, s:s, s:o, s:{s:s}}}", "location", location,
        "sku", "name", "Standard_D2ds_v4", "tier", "GeneralPurpose", "identity", "type",
        "UserAssigned", "userAssignedIdentities", ids, "properties", "administratorLogin",
        "pgadmin", "administratorLoginPassword", "S3cret-Passw0rd", "version", "16",
        "dataEncryption", de, "backup", "geoRedundantBackup", geo_key ? "Enabled" : "Disabled");
}

/* The server's state as GET shows it ("" if absent). */
static inline const char *t_state(struct t_env *env, const char *rg, const char *name, char *buf,
                                  size_t n)
{
    char path[512];
    json_t *j = NULL;
    t_server_path(path, sizeof(path), rg, name, NULL);
    int st = t_mgmt(env, "GET", path, NULL, &j);
    const char *s =
        st == 200 ? json_string_value(json_object_get(json_object_get(j, "properties"), "state"))
                  : NULL;
    snprintf(buf, n, "%s", s ? s : "");
    json_decref(j);
    return buf;
}

/* Run the virtual clock forward by d. */
static inline void t_advance(struct t_env *env, cmk_time_t d)
{
    cmk_clock_run_until(&env->rt.clock, cmk_clock_now(&env->rt.clock) + d);
}

#endif
