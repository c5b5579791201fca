/* vs_test.h: what vaultsim's tests share (header-only, included by each test_*.c): the shared
 * test base (vs_test_base.h: a runtime on the virtual clock in a temporary state directory, the
 * ARM core, bearer tokens, requests through the in-process door of the router) with the Key
 * Vault service on it, and the steps vault tests need: a resource group, a vault with access
 * policies. */
#ifndef VS_TEST_H
#define VS_TEST_H

#include "common/arm.h"
#include "common/runtime.h"
#include "vaultsim/vault.h"

#define T_DIR_PREFIX "cmk-vs"
#define T_ADMIN      "aaaaaaaa-0000-0000-0000-000000000001" /* oid with every permission */
#define T_SERVER     "bbbbbbbb-0000-0000-0000-000000000002" /* oid with get/wrap/unwrap */
#define T_NOBODY     "cccccccc-0000-0000-0000-000000000003" /* oid with no permission */

struct t_env {
    char dir[128];
    uv_loop_t loop;
    struct cmk_runtime rt;
    struct cmk_arm *arm;
    struct vs_vaults *vs;
};

#include "vs_test_base.h"

/* Open (or reopen) the runtime over env->dir. */
static inline void t_open(struct t_env *env)
{
    t_runtime_open(env);
    struct cmk_err err;
    if (vs_vaults_open(&env->vs, &env->rt, &err) != 0)
        t_fail_err("vaults", &err);
}

static inline void t_close(struct t_env *env)
{
    vs_vaults_free(env->vs);
    env->vs = NULL;
    t_runtime_close(env);
}

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
