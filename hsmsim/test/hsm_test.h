/* hsm_test.h: what hsmsim's tests share (header-only, included by each test_*.c): vaultsim's
 * test base (vaultsim/test/vs_test_base.h: a runtime on the virtual clock in a temporary state
 * directory, the ARM core, bearer tokens, requests through the in-process door of the router)
 * with the Managed HSM service on it, and the steps every test needs: a resource group, an HSM
 * provisioned on the clock, its activation by security domain download, role assignments. */
#ifndef HSM_TEST_H
#define HSM_TEST_H

#include "common/arm.h"
#include "common/runtime.h"
#include "hsmsim/hsm.h"

#define T_DIR_PREFIX "cmk-hsm"
#define T_ADMIN      "aaaaaaaa-0000-4000-8000-000000000001" /* the HSM's initial administrator */
#define T_SERVER     "bbbbbbbb-0000-4000-8000-000000000002" /* a service's identity */
#define T_NOBODY     "cccccccc-0000-4000-8000-000000000003" /* no role */
#define T_ARMV       "api-version=2026-02-01"
#define T_KV         "api-version=7.5"
#define T_RG         "rg1"
#define T_HSM_AUD    "https://managedhsm.azure.net"

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

#include "vaultsim/test/vs_test_base.h"

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
    t_runtime_open(env);
    struct cmk_err err;
    if (hsm_open(&env->hsm, &env->rt, &err) != 0)
        t_fail_err("hsm", &err);
    t_tokens(env);
}

static inline void t_close(struct t_env *env)
{
    hsm_free(env->hsm);
    env->hsm = NULL;
    t_runtime_close(env);
    free(env->mgmt);
    free(env->admin);
    free(env->server);
    free(env->nobody);
    env->mgmt = env->admin = env->server = env->nobody = NULL;
}

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
