/* hsm_test.h: what hsmsim's tests share (header-only, included by each test_*.c): a runtime on
 * the virtual clock in a temporary state directory with the ARM core and the Managed HSM
 * service on it, bearer tokens from cmk_auth_issue, requests through the in-process door of
 * the router (answered exactly as over HTTPS), and the steps every test needs: a resource
 * group, an HSM provisioned on the clock, its activation by security domain download, role
 * assignments. */
#ifndef HSM_TEST_H
#define HSM_TEST_H

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
#include "common/rootkey.h"
#include "common/runtime.h"
#include "hsmsim/hsm.h"

#define T_TENANT       CMK_ARM_DEFAULT_TENANT
#define T_SUB          CMK_ARM_DEFAULT_SUBSCRIPTION
#define T_OTHER_TENANT "22222222-2222-2222-2222-222222222222"
#define T_ADMIN        "aaaaaaaa-0000-4000-8000-000000000001" /* the HSM's initial administrator */
#define T_SERVER       "bbbbbbbb-0000-4000-8000-000000000002" /* a service's identity */
#define T_NOBODY       "cccccccc-0000-4000-8000-000000000003" /* no role */
#define T_MGMT         "https://management.azure.com"
#define T_ARMV         "api-version=2026-02-01"
#define T_KV           "api-version=7.5"
#define T_RG           "rg1"
#define T_HSM_AUD      "https://managedhsm.azure.net"

#define ROLE_ADMIN   "a290e904-7015-4bba-90c8-60543313cdb4"
#define ROLE_OFFICER "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
#define ROLE_USER    "21dbd100-6940-42c2-9190-5d6cb909625b"
#define ROLE_SERVICE "33413926-3206-4cdd-b39a-83574fe37a17"

struct t_env {
    char dir[128];
    uv_loop_t loop;
    struct cmk_runtime rt;
    struct cmk_arm *arm;
    struct hsm_service *hsm;
    char *mgmt, *admin, *server, *nobody; /* "Bearer ..." tokens */
};

static inline void t_fail_err(const char *what, const struct cmk_err *err)
{
    fail_msg("%s: %d %s %s", what, err->status, err->code, err->message);
}

/* The token-signing key and the root key cost seconds to make on a loaded machine: the tests
 * of one executable share one pair, made once in a template directory and copied. */
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
        snprintf(t_template, sizeof(t_template), "/tmp/cmk-hsm-template-XXXXXX");
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
             "mkdir -p -m 700 %s/keys && cp -p %s/keys/token-signing.key %s/keys/root.key %s/keys/",
             dir, t_template, t_template, dir);
    if (system(cmd) != 0)
        fail_msg("cannot seed %s", dir);
}

/* A token for oid of tenant tid with audience aud, valid an hour: "Bearer ..." (caller frees). */
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

static inline void t_tokens(struct t_env *env)
{
    free(env->mgmt);
    free(env->admin);
    free(env->server);
    free(env->nobody);
    env->mgmt = t_token(env, T_TENANT, T_ADMIN, "https://management.azure.com/");
    env->admin = t_token(env, T_TENANT, T_ADMIN, T_HSM_AUD);
    env->server = t_token(env, T_TENANT, T_SERVER, T_HSM_AUD);
    env->nobody = t_token(env, T_TENANT, T_NOBODY, T_HSM_AUD);
}

/* Open (or reopen) the runtime over env->dir. */
static inline void t_open(struct t_env *env)
{
    uv_loop_init(&env->loop);
    struct cmk_runtime_opts o = {.data_dir = env->dir, .clock_mode = CMK_CLOCK_VIRTUAL, .seed = 7};
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cmk_runtime_open(&env->rt, &env->loop, &o, &err) != 0)
        t_fail_err("runtime", &err);
    if (cmk_arm_open(&env->arm, &env->rt, &err) != 0)
        t_fail_err("arm", &err);
    if (hsm_open(&env->hsm, &env->rt, &err) != 0)
        t_fail_err("hsm", &err);
    t_tokens(env);
}

static inline void t_close(struct t_env *env)
{
    hsm_free(env->hsm);
    env->hsm = NULL;
    cmk_arm_free(env->arm);
    env->arm = NULL;
    cmk_runtime_close(&env->rt);
    uv_run(&env->loop, UV_RUN_DEFAULT);
    uv_loop_close(&env->loop);
}

static inline void t_env_new(struct t_env *env, const char *name)
{
    memset(env, 0, sizeof(*env));
    snprintf(env->dir, sizeof(env->dir), "/tmp/cmk-hsm-%s-XXXXXX", name);
    if (mkdtemp(env->dir) == NULL)
        fail_msg("mkdtemp");
    t_seed_keys(env->dir);
    t_open(env);
}

static inline void t_env_free(struct t_env *env)
{
    t_close(env);
    free(env->mgmt);
    free(env->admin);
    free(env->server);
    free(env->nobody);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", env->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", env->dir);
}

struct t_res {
    int status;
    json_t *json;      /* parsed body, or NULL */
    char body[16384];  /* the body as text (truncated) */
    char header[1024]; /* the header asked for, if any */
};

static inline void t_res_free(struct t_res *r)
{
    json_decref(r->json);
    r->json = NULL;
}

/* One request through the in-process door. auth: "Bearer ..." or NULL; body: JSON text or NULL;
 * origin NULL: a network caller at 10.0.0.1; want_header: a response header to copy. */
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

/* Assert status (and error code or inner code, when code is not NULL), then free. */
static inline void t_expect_at(const char *file, int line, struct t_res r, int status,
                               const char *code)
{
    if (r.status != status)
        fail_msg("%s:%d: status %d, wanted %d: %s", file, line, r.status, status, r.body);
    if (code && strcmp(t_code(&r), code) != 0 && strcmp(t_inner(&r), code) != 0)
        fail_msg("%s:%d: code %s/%s, wanted %s: %s", file, line, t_code(&r), t_inner(&r), code,
                 r.body);
    t_res_free(&r);
}
#define T_EXPECT(res, status, code) t_expect_at(__FILE__, __LINE__, (res), (status), (code))

static inline void t_group(struct t_env *env, const char *rg)
{
    char url[256];
    snprintf(url, sizeof(url),
             T_MGMT "/subscriptions/" T_SUB "/resourcegroups/%s?api-version=2021-04-01", rg);
    T_EXPECT(t_req(env, "PUT", url, env->mgmt, "{\"location\":\"eastus\"}"), 201, NULL);
}

static inline void t_hsm_url(char *out, size_t n, const char *hsm, const char *extra)
{
    snprintf(out, n,
             T_MGMT "/subscriptions/" T_SUB "/resourceGroups/" T_RG
                    "/providers/Microsoft.KeyVault/managedHSMs/%s%s?" T_ARMV,
             hsm, extra ? extra : "");
}

/* PUT a managed HSM with the text of its properties (inside "properties"). */
static inline struct t_res t_hsm_put(struct t_env *env, const char *hsm, const char *props)
{
    char url[512], body[4096];
    t_hsm_url(url, sizeof(url), hsm, NULL);
    snprintf(body, sizeof(body),
             "{\"location\":\"eastus\",\"sku\":{\"family\":\"B\",\"name\":\"Standard_B1\"},"
             "\"properties\":{%s}}",
             props);
    return t_req_full(env, "PUT", url, env->mgmt, body, NULL, "azure-asyncoperation");
}

#define T_HSM_PROPS "\"tenantId\":\"" T_TENANT "\",\"initialAdminObjectIds\":[\"" T_ADMIN "\"]"

/* Create hsm (extra: more properties, ",\"enablePurgeProtection\":false") and let the clock
 * finish provisioning. */
static inline void t_hsm_create(struct t_env *env, const char *hsm, const char *extra)
{
    char props[2048];
    snprintf(props, sizeof(props), T_HSM_PROPS "%s", extra ? extra : "");
    T_EXPECT(t_hsm_put(env, hsm, props), 202, NULL);
    cmk_clock_advance(&env->rt.clock, 3 * CMK_SECOND);
}

/* The HSM's ARM document (new reference). */
static inline json_t *t_hsm_get(struct t_env *env, const char *hsm)
{
    char url[512];
    t_hsm_url(url, sizeof(url), hsm, NULL);
    struct t_res r = t_req(env, "GET", url, env->mgmt, NULL);
    if (r.status != 200)
        fail_msg("get hsm: %d %s", r.status, r.body);
    return r.json;
}

static inline const char *t_prop(const json_t *doc, const char *name)
{
    const char *s = json_string_value(json_object_get(json_object_get(doc, "properties"), name));
    return s ? s : "";
}

/* A data-plane URL of hsm: "https://hsm.managedhsm.azure.net" + path + "?api-version=7.5". */
static inline void t_dp(char *out, size_t n, const char *hsm, const char *path)
{
    snprintf(out, n, "https://%s.managedhsm.azure.net%s%s" T_KV, hsm, path,
             strchr(path, '?') ? "&" : "?");
}

static inline struct t_res t_dp_req(struct t_env *env, const char *method, const char *hsm,
                                    const char *path, const char *auth, const char *body)
{
    char url[1024];
    t_dp(url, sizeof(url), hsm, path);
    return t_req(env, method, url, auth, body);
}

/* Three security-domain certificates and their private keys, made once per executable (RSA key
 * generation is slow on a loaded machine): *certs a new copy, keys[i] new references. */
static inline void t_sd_certs(json_t **certs, EVP_PKEY **keys)
{
    static json_t *cached;
    static EVP_PKEY *cached_keys[3];
    if (cached == NULL) {
        struct cmk_err err;
        if (hsm_sd_make_certificates(3, &cached, cached_keys, &err) != 0)
            t_fail_err("certificates", &err);
    }
    *certs = json_deep_copy(cached);
    for (int i = 0; i < 3; i++) {
        EVP_PKEY_up_ref(cached_keys[i]);
        keys[i] = cached_keys[i];
    }
}

/* Download the security domain as T_ADMIN with the 3 certificates (quorum 2); keys[3] get the
 * private keys (may be NULL); *value the security domain text (may be NULL). Then run the clock
 * through the activation. */
static inline void t_activate(struct t_env *env, const char *hsm, EVP_PKEY **keys, char **value)
{
    json_t *certs;
    EVP_PKEY *k[3];
    t_sd_certs(&certs, k);
    json_t *body = json_pack("{s:o, s:i}", "certificates", certs, "required", 2);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct t_res r = t_dp_req(env, "POST", hsm, "/securitydomain/download", env->admin, text);
    free(text);
    if (r.status != 202)
        fail_msg("download: %d %s", r.status, r.body);
    const char *v = json_string_value(json_object_get(r.json, "value"));
    assert_non_null(v);
    if (value)
        *value = strdup(v);
    t_res_free(&r);
    for (int i = 0; i < 3; i++) {
        if (keys)
            keys[i] = k[i];
        else
            EVP_PKEY_free(k[i]);
    }
    cmk_clock_advance(&env->rt.clock, 3 * CMK_SECOND);
}

/* PUT a role assignment named name at scope ("/", "/keys", "/keys/k") as T_ADMIN. */
static inline struct t_res t_assign(struct t_env *env, const char *hsm, const char *scope,
                                    const char *name, const char *role, const char *principal)
{
    char path[512], body[512];
    snprintf(path, sizeof(path), "/%s/providers/Microsoft.Authorization/roleAssignments/%s", scope,
             name);
    snprintf(body, sizeof(body),
             "{\"properties\":{\"roleDefinitionId\":\"Microsoft.KeyVault/providers/"
             "Microsoft.Authorization/roleDefinitions/%s\",\"principalId\":\"%s\"}}",
             role, principal);
    return t_dp_req(env, "PUT", hsm, path, env->admin, body);
}

/* A ready HSM: created, activated, and T_ADMIN also Crypto User and Crypto Officer at "/". */
static inline void t_hsm_ready(struct t_env *env, const char *hsm, const char *extra)
{
    t_hsm_create(env, hsm, extra);
    t_activate(env, hsm, NULL, NULL);
    T_EXPECT(t_assign(env, hsm, "/", "00000000-0000-4000-8000-0000000000a1", ROLE_USER, T_ADMIN),
             201, NULL);
    T_EXPECT(t_assign(env, hsm, "/", "00000000-0000-4000-8000-0000000000a2", ROLE_OFFICER, T_ADMIN),
             201, NULL);
}

#endif
