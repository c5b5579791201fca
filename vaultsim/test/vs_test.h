/* vs_test.h: what vaultsim's tests share (header-only, included by each test_*.c): a runtime on
 * the virtual clock in a temporary state directory, the ARM core and the Key Vault service
 * on it, bearer tokens from cmk_auth_issue, and requests through the in-process door of the
 * router, answered exactly as over HTTPS. */
#ifndef VS_TEST_H
#define VS_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arm.h"
#include "common/auth.h"
#include "common/b64.h"
#include "common/rootkey.h"
#include "common/runtime.h"
#include "vaultsim/vault.h"

#define T_TENANT       CMK_ARM_DEFAULT_TENANT
#define T_SUB          CMK_ARM_DEFAULT_SUBSCRIPTION
#define T_OTHER_TENANT "22222222-2222-2222-2222-222222222222"
#define T_ADMIN        "aaaaaaaa-0000-0000-0000-000000000001" /* oid with every permission */
#define T_SERVER       "bbbbbbbb-0000-0000-0000-000000000002" /* oid with get/wrap/unwrap */
#define T_NOBODY       "cccccccc-0000-0000-0000-000000000003" /* oid with no permission */

struct t_env {
    char dir[128];
    uv_loop_t loop;
    struct cmk_runtime rt;
    struct cmk_arm *arm;
    struct vs_vaults *vs;
    uint64_t seed;
};

static inline void t_fail_err(const char *what, const struct cmk_err *err)
{
    fail_msg("%s: %d %s %s", what, err->status, err->code, err->message);
}

/* Generating the token-signing key (RSA-2048, auth.h: DIR/keys/token-signing.key) and the root
 * key for every fresh state directory costs seconds on a loaded machine; the tests of one
 * executable share one pair, made once in a template directory and copied (mode 0600). */
static char t_template[64];

static void t_template_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", t_template);
    if (t_template[0] && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", t_template);
}

static inline void t_seed_keys(const char *dir)
{
    if (t_template[0] == '\0') {
        snprintf(t_template, sizeof(t_template), "/tmp/cmk-vs-template-XXXXXX");
        if (mkdtemp(t_template) == NULL)
            fail_msg("mkdtemp");
        atexit(t_template_cleanup);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct cmk_runtime rt;
        struct cmk_runtime_opts o = {.data_dir = t_template, .clock_mode = CMK_CLOCK_VIRTUAL};
        struct cmk_err err;
        if (cmk_runtime_open(&rt, &loop, &o, &err) != 0)
            t_fail_err("template runtime", &err);
        struct cmk_rootkey rk;
        if (cmk_rootkey_load(&rk, t_template, &err) != 0)
            t_fail_err("template root key", &err);
        cmk_rootkey_wipe(&rk);
        cmk_runtime_close(&rt);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p -m 700 %s/keys && cp -p %s/keys/token-signing.key "
             "%s/keys/root.key %s/keys/",
             dir, t_template, t_template, dir);
    if (system(cmd) != 0)
        fail_msg("cannot seed %s", dir);
}

/* Open (or reopen) the runtime over env->dir. */
static inline void t_open(struct t_env *env)
{
    uv_loop_init(&env->loop);
    struct cmk_runtime_opts o = {
        .data_dir = env->dir, .clock_mode = CMK_CLOCK_VIRTUAL, .seed = env->seed ? env->seed : 7};
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cmk_runtime_open(&env->rt, &env->loop, &o, &err) != 0)
        t_fail_err("runtime", &err);
    if (cmk_arm_open(&env->arm, &env->rt, &err) != 0)
        t_fail_err("arm", &err);
    if (vs_vaults_open(&env->vs, &env->rt, &err) != 0)
        t_fail_err("vaults", &err);
}

static inline void t_close(struct t_env *env)
{
    vs_vaults_free(env->vs);
    env->vs = NULL;
    cmk_arm_free(env->arm);
    env->arm = NULL;
    cmk_runtime_close(&env->rt);
    uv_run(&env->loop, UV_RUN_DEFAULT);
    uv_loop_close(&env->loop);
}

static inline void t_env_new(struct t_env *env, const char *name)
{
    memset(env, 0, sizeof(*env));
    snprintf(env->dir, sizeof(env->dir), "/tmp/cmk-vs-%s-XXXXXX", name);
    if (mkdtemp(env->dir) == NULL)
        fail_msg("mkdtemp");
    t_seed_keys(env->dir);
    t_open(env);
}

static inline void t_env_free(struct t_env *env)
{
    t_close(env);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", env->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", env->dir);
}

/* A token for oid of tenant tid with audience aud, valid an hour from the clock's now. The
 * result is "Bearer ..." (static buffer per call site is not enough: caller frees). */
static inline char *t_token(struct t_env *env, const char *tid, const char *oid, const char *aud)
{
    struct cmk_principal p;
    memset(&p, 0, sizeof(p));
    snprintf(p.tid, sizeof(p.tid), "%s", tid);
    snprintf(p.oid, sizeof(p.oid), "%s", oid);
    snprintf(p.appid, sizeof(p.appid), "%s", oid);
    snprintf(p.aud, sizeof(p.aud), "%s", aud);
    snprintf(p.iss, sizeof(p.iss), "https://sts.windows.net/%s/", tid);
    snprintf(p.idtyp, sizeof(p.idtyp), "app");
    cmk_time_t now = cmk_clock_now(&env->rt.clock);
    p.iat = p.nbf = now;
    p.exp = now + CMK_HOUR;
    char *tok = NULL;
    struct cmk_err err;
    if (cmk_auth_issue(env->rt.auth, &p, &tok, &err) != 0)
        t_fail_err("issue", &err);
    size_t n = strlen(tok) + 8;
    char *h = malloc(n);
    snprintf(h, n, "Bearer %s", tok);
    free(tok);
    return h;
}

struct t_res {
    int status;
    json_t *json; /* parsed body, or NULL */
    char body[8192];
    char header[1024]; /* the header asked for, if any */
};

static inline void t_res_free(struct t_res *r)
{
    json_decref(r->json);
    r->json = NULL;
}

/* One request through the in-process door. auth: "Bearer ..." or NULL. body: JSON text or
 * NULL. origin: NULL = a network caller at 10.0.0.1. want_header: a response header to copy. */
static inline struct t_res t_req_full(struct t_env *env, const char *method, const char *url,
                                      const char *auth, const char *body,
                                      const struct cmk_origin *origin, const char *want_header)
{
    struct cmk_request req;
    struct cmk_origin o = {.kind = CMK_ORIGIN_NETWORK};
    snprintf(o.addr, sizeof(o.addr), "10.0.0.1");
    if (cmk_request_init(&req, method, url, origin ? origin : &o) != 0)
        fail_msg("bad url %s", url);
    if (auth)
        cmk_request_add_header(&req, "authorization", auth);
    if (body) {
        cmk_request_set_body(&req, body, strlen(body));
        cmk_request_add_header(&req, "content-type", "application/json");
    }
    struct cmk_response res;
    cmk_response_init(&res);
    cmk_router_dispatch(&env->rt.router, &req, &res);
    struct t_res r;
    memset(&r, 0, sizeof(r));
    r.status = res.status;
    r.json = cmk_response_json_body(&res);
    snprintf(r.body, sizeof(r.body), "%.*s", (int)res.body.len, res.body.data ? res.body.data : "");
    if (want_header) {
        const char *h = cmk_response_get_header(&res, want_header);
        snprintf(r.header, sizeof(r.header), "%s", h ? h : "");
    }
    cmk_response_close(&res);
    cmk_request_close(&req);
    return r;
}

static inline struct t_res t_req(struct t_env *env, const char *method, const char *url,
                                 const char *auth, const char *body)
{
    return t_req_full(env, method, url, auth, body, NULL, NULL);
}

static inline const char *t_code(const struct t_res *r)
{
    const char *c = json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
    return c ? c : "";
}

static inline const char *t_inner(const struct t_res *r)
{
    const char *c = json_string_value(
        json_object_get(json_object_get(json_object_get(r->json, "error"), "innererror"), "code"));
    return c ? c : "";
}

static inline const char *t_message(const struct t_res *r)
{
    const char *c =
        json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    return c ? c : "";
}

#define T_MGMT "https://management.azure.com"
#define T_ARMV "api-version=2025-05-01"

/* Create resource group rg in the default subscription. */
static inline void t_group(struct t_env *env, const char *auth, const char *rg)
{
    char url[256];
    snprintf(url, sizeof(url),
             T_MGMT "/subscriptions/" T_SUB "/resourcegroups/%s?api-version=2021-04-01", rg);
    struct t_res r = t_req(env, "PUT", url, auth, "{\"location\":\"eastus\"}");
    if (r.status != 200 && r.status != 201)
        fail_msg("resource group: %d %s", r.status, r.body);
    t_res_free(&r);
}

static inline void t_vault_url(char *out, size_t n, const char *rg, const char *vault,
                               const char *extra)
{
    snprintf(out, n,
             T_MGMT "/subscriptions/" T_SUB "/resourceGroups/%s/providers/Microsoft.KeyVault/"
                    "vaults/%s%s?" T_ARMV,
             rg, vault, extra ? extra : "");
}

/* PUT a vault with properties JSON text (the inside of "properties"). */
static inline struct t_res t_vault_put(struct t_env *env, const char *auth, const char *rg,
                                       const char *vault, const char *props)
{
    char url[512], body[8192];
    t_vault_url(url, sizeof(url), rg, vault, NULL);
    snprintf(body, sizeof(body), "{\"location\":\"eastus\",\"properties\":{%s}}", props);
    return t_req(env, "PUT", url, auth, body);
}

/* The access policy entry text for oid with key permissions perms ("\"get\",\"list\""). */
static inline void t_policy(char *out, size_t n, const char *oid, const char *perms)
{
    snprintf(out, n,
             "{\"tenantId\":\"" T_TENANT "\",\"objectId\":\"%s\",\"permissions\":{\"keys\":[%s]}}",
             oid, perms);
}

/* A standard access-policy vault: admin has all, server has get/wrapKey/unwrapKey. extra: more
 * properties (", \"enablePurgeProtection\":true") or "". */
static inline void t_vault_basic(struct t_env *env, const char *auth, const char *rg,
                                 const char *vault, const char *extra)
{
    char a[512], s[512], props[4096];
    t_policy(a, sizeof(a), T_ADMIN, "\"all\"");
    t_policy(s, sizeof(s), T_SERVER, "\"get\",\"wrapKey\",\"unwrapKey\"");
    snprintf(props, sizeof(props),
             "\"tenantId\":\"" T_TENANT "\",\"sku\":{\"family\":\"A\",\"name\":\"premium\"},"
             "\"accessPolicies\":[%s,%s]%s",
             a, s, extra ? extra : "");
    struct t_res r = t_vault_put(env, auth, rg, vault, props);
    if (r.status != 200 && r.status != 201)
        fail_msg("vault put: %d %s", r.status, r.body);
    t_res_free(&r);
}

#endif
