/* test_vault_arm.c: Microsoft.KeyVault/vaults on the ARM core, as a management client sees it:
 * create/get/list/patch, the validation rules (name, tenant, sku, soft delete, retention,
 * purge protection, network rules), access policy add/replace/remove, soft delete of the vault
 * and the name conflict it causes, deletedVaults list/get/purge, recover with createMode,
 * purge protection and the clock's purge (also after a restart), checkNameAvailability, role
 * assignments and definitions, and the audit log routes. */
#include "vs_test.h"

#define RG "rg1"

struct ctx {
    struct t_env env;
    char *mgmt;  /* admin's management token */
    char *vault; /* admin's vault token */
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    t_env_new(&c->env, "arm");
    c->mgmt = t_token(&c->env, T_TENANT, T_ADMIN, "https://management.azure.com/");
    c->vault = t_token(&c->env, T_TENANT, T_ADMIN, "https://vault.azure.net");
    t_group(&c->env, c->mgmt, RG);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    free(c->mgmt);
    free(c->vault);
    t_env_free(&c->env);
    free(c);
    return 0;
}

static const char *prop_str(const struct t_res *r, const char *field)
{
    const char *s =
        json_string_value(json_object_get(json_object_get(r->json, "properties"), field));
    return s ? s : "";
}

static json_t *prop(const struct t_res *r, const char *field)
{
    return json_object_get(json_object_get(r->json, "properties"), field);
}

#define BASIC_PROPS "\"tenantId\":\"" T_TENANT "\",\"sku\":{\"family\":\"A\",\"name\":\"standard\"}"

static void test_create_get_list(void **state)
{
    struct ctx *c = *state;
    struct t_res r = t_vault_put(&c->env, c->mgmt, RG, "MyVault", BASIC_PROPS);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "type")),
                        "Microsoft.KeyVault/vaults");
    assert_string_equal(prop_str(&r, "vaultUri"), "https://myvault.vault.azure.net/");
    assert_true(json_is_true(prop(&r, "enableSoftDelete")));
    assert_int_equal(json_integer_value(prop(&r, "softDeleteRetentionInDays")), 90);
    assert_false(json_is_true(prop(&r, "enableRbacAuthorization")));
    assert_null(prop(&r, "enablePurgeProtection"));
    assert_string_equal(prop_str(&r, "provisioningState"), "Succeeded");
    assert_string_equal(prop_str(&r, "publicNetworkAccess"), "Enabled");
    assert_int_equal(json_array_size(prop(&r, "accessPolicies")), 0);
    t_res_free(&r);
    char url[512];
    t_vault_url(url, sizeof(url), RG, "myvault", NULL);
    r = t_req(&c->env, "GET", url, c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "location")), "eastus");
    t_res_free(&r);
    /* update: same PUT again is 200 */
    r = t_vault_put(&c->env, c->mgmt, RG, "MyVault", BASIC_PROPS ",\"enablePurgeProtection\":true");
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(prop(&r, "enablePurgeProtection")));
    t_res_free(&r);
    /* lists */
    r = t_req(&c->env, "GET",
              T_MGMT "/subscriptions/" T_SUB "/resourceGroups/" RG
                     "/providers/Microsoft.KeyVault/vaults?" T_ARMV,
              c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 1);
    t_res_free(&r);
    r = t_req(&c->env, "GET",
              T_MGMT "/subscriptions/" T_SUB "/providers/Microsoft.KeyVault/vaults?" T_ARMV,
              c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 1);
    t_res_free(&r);
    /* no token: ARM's 401 */
    r = t_req(&c->env, "GET", url, NULL, NULL);
    assert_int_equal(r.status, 401);
    t_res_free(&r);
}

static void test_validation(void **state)
{
    struct ctx *c = *state;
    static const struct {
        const char *name, *props, *code;
        int status;
    } cases[] = {
        {"a", BASIC_PROPS, "VaultNameNotValid", 400},
        {"1abc", BASIC_PROPS, "VaultNameNotValid", 400},
        {"ab--cd", BASIC_PROPS, "VaultNameNotValid", 400},
        {"okname", "\"tenantId\":\"nope\",\"sku\":{\"family\":\"A\",\"name\":\"standard\"}",
         "BadRequest", 400},
        {"okname", "\"tenantId\":\"" T_TENANT "\",\"sku\":{\"family\":\"A\",\"name\":\"gold\"}",
         "BadRequest", 400},
        {"okname", BASIC_PROPS ",\"enableSoftDelete\":false", "BadRequest", 400},
        {"okname", BASIC_PROPS ",\"softDeleteRetentionInDays\":6", "BadRequest", 400},
        {"okname", BASIC_PROPS ",\"softDeleteRetentionInDays\":91", "BadRequest", 400},
        {"okname",
         BASIC_PROPS ",\"networkAcls\":{\"defaultAction\":\"Deny\",\"ipRules\":[{"
                     "\"value\":\"300.1.1.1\"}]}",
         "BadRequest", 400},
        {"okname",
         BASIC_PROPS ",\"accessPolicies\":[{\"tenantId\":\"" T_TENANT
                     "\",\"objectId\":\"x\",\"permissions\":{\"keys\":[\"fly\"]}}]",
         "BadRequest", 400},
        {NULL, NULL, NULL, 0},
    };
    for (int i = 0; cases[i].name; i++) {
        struct t_res r = t_vault_put(&c->env, c->mgmt, RG, cases[i].name, cases[i].props);
        if (r.status != cases[i].status || strcmp(t_code(&r), cases[i].code) != 0)
            fail_msg("case %d: %d %s", i, r.status, r.body);
        t_res_free(&r);
    }
    /* retention is fixed once set; purge protection cannot be turned off */
    struct t_res r = t_vault_put(&c->env, c->mgmt, RG, "fixed",
                                 BASIC_PROPS ",\"softDeleteRetentionInDays\":7,"
                                             "\"enablePurgeProtection\":true");
    assert_int_equal(r.status, 201);
    t_res_free(&r);
    r = t_vault_put(&c->env, c->mgmt, RG, "fixed", BASIC_PROPS ",\"softDeleteRetentionInDays\":30");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(t_message(&r), "can't be modified"));
    t_res_free(&r);
    r = t_vault_put(&c->env, c->mgmt, RG, "fixed", BASIC_PROPS ",\"enablePurgeProtection\":false");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(t_message(&r), "irreversible"));
    t_res_free(&r);
    r = t_vault_put(&c->env, c->mgmt, RG, "fixed", BASIC_PROPS ",\"enableSoftDelete\":false");
    assert_int_equal(r.status, 400);
    t_res_free(&r);
    /* PATCH goes through the same rules */
    char url[512];
    t_vault_url(url, sizeof(url), RG, "fixed", NULL);
    r = t_req(&c->env, "PATCH", url, c->mgmt,
              "{\"properties\":{\"softDeleteRetentionInDays\":60}}");
    assert_int_equal(r.status, 400);
    t_res_free(&r);
    r = t_req(&c->env, "PATCH", url, c->mgmt,
              "{\"properties\":{\"enableRbacAuthorization\":true},\"tags\":{\"env\":\"test\"}}");
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(prop(&r, "enableRbacAuthorization")));
    assert_int_equal(json_integer_value(prop(&r, "softDeleteRetentionInDays")), 7);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "tags"), "env")),
                        "test");
    t_res_free(&r);
    /* a vault name is global: another resource group cannot take it */
    t_group(&c->env, c->mgmt, "rg2");
    r = t_vault_put(&c->env, c->mgmt, "rg2", "Fixed", BASIC_PROPS);
    assert_int_equal(r.status, 409);
    assert_string_equal(t_code(&r), "VaultAlreadyExists");
    t_res_free(&r);
}

static void test_access_policies(void **state)
{
    struct ctx *c = *state;
    t_vault_basic(&c->env, c->mgmt, RG, "pol", "");
    char url[512];
    char a[512], body[1024];
    t_policy(a, sizeof(a), T_NOBODY, "\"get\",\"list\"");
    snprintf(body, sizeof(body), "{\"properties\":{\"accessPolicies\":[%s]}}", a);
    t_vault_url(url, sizeof(url), RG, "pol", "/accessPolicies/add");
    struct t_res r = t_req(&c->env, "PUT", url, c->mgmt, body);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(prop(&r, "accessPolicies")), 3);
    t_res_free(&r);
    /* add merges permissions of the same identity */
    t_policy(a, sizeof(a), T_NOBODY, "\"wrapKey\",\"GET\"");
    snprintf(body, sizeof(body), "{\"properties\":{\"accessPolicies\":[%s]}}", a);
    r = t_req(&c->env, "PUT", url, c->mgmt, body);
    json_t *keys = json_object_get(
        json_object_get(json_array_get(prop(&r, "accessPolicies"), 2), "permissions"), "keys");
    assert_int_equal(json_array_size(keys), 3);
    t_res_free(&r);
    /* remove takes permissions away, then the entry */
    t_vault_url(url, sizeof(url), RG, "pol", "/accessPolicies/remove");
    t_policy(a, sizeof(a), T_NOBODY, "\"get\",\"list\",\"wrapKey\"");
    snprintf(body, sizeof(body), "{\"properties\":{\"accessPolicies\":[%s]}}", a);
    r = t_req(&c->env, "PUT", url, c->mgmt, body);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(prop(&r, "accessPolicies")), 2);
    t_res_free(&r);
    /* replace */
    t_vault_url(url, sizeof(url), RG, "pol", "/accessPolicies/replace");
    t_policy(a, sizeof(a), T_SERVER, "\"get\"");
    snprintf(body, sizeof(body), "{\"properties\":{\"accessPolicies\":[%s]}}", a);
    r = t_req(&c->env, "PUT", url, c->mgmt, body);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    t_vault_url(url, sizeof(url), RG, "pol", NULL);
    r = t_req(&c->env, "GET", url, c->mgmt, NULL);
    keys = json_object_get(
        json_object_get(json_array_get(prop(&r, "accessPolicies"), 1), "permissions"), "keys");
    assert_int_equal(json_array_size(keys), 1);
    t_res_free(&r);
    t_vault_url(url, sizeof(url), RG, "pol", "/accessPolicies/bogus");
    r = t_req(&c->env, "PUT", url, c->mgmt, body);
    assert_int_equal(r.status, 400);
    t_res_free(&r);
}

static void test_soft_delete_recover_purge(void **state)
{
    struct ctx *c = *state;
    t_vault_basic(&c->env, c->mgmt, RG, "soft", "");
    /* a key inside, so recovery can be seen to bring it back */
    struct t_res r =
        t_req(&c->env, "POST", "https://soft.vault.azure.net/keys/k1/create?api-version=7.5",
              c->vault, "{\"kty\":\"EC\"}");
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    char url[512];
    t_vault_url(url, sizeof(url), RG, "soft", NULL);
    r = t_req(&c->env, "DELETE", url, c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    r = t_req(&c->env, "GET", url, c->mgmt, NULL);
    assert_int_equal(r.status, 404);
    t_res_free(&r);
    /* the data plane of a deleted vault is gone */
    r = t_req(&c->env, "GET", "https://soft.vault.azure.net/keys/k1?api-version=7.5", c->vault,
              NULL);
    assert_int_equal(r.status, 404);
    t_res_free(&r);
    /* deleted vaults */
    r = t_req(&c->env, "GET",
              T_MGMT "/subscriptions/" T_SUB "/providers/Microsoft.KeyVault/deletedVaults?" T_ARMV,
              c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    json_t *dv = json_array_get(json_object_get(r.json, "value"), 0);
    assert_string_equal(json_string_value(json_object_get(dv, "name")), "soft");
    assert_non_null(json_object_get(json_object_get(dv, "properties"), "scheduledPurgeDate"));
    t_res_free(&r);
    r = t_req(&c->env, "GET",
              T_MGMT "/subscriptions/" T_SUB
                     "/providers/Microsoft.KeyVault/locations/eastus/deletedVaults/soft?" T_ARMV,
              c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(prop_str(&r, "location"), "eastus");
    t_res_free(&r);
    /* the name cannot be reused */
    r = t_vault_put(&c->env, c->mgmt, RG, "soft", BASIC_PROPS);
    assert_int_equal(r.status, 409);
    assert_string_equal(t_code(&r), "ConflictError");
    t_res_free(&r);
    /* checkNameAvailability says so */
    r = t_req(&c->env, "POST",
              T_MGMT "/subscriptions/" T_SUB
                     "/providers/Microsoft.KeyVault/checkNameAvailability?" T_ARMV,
              c->mgmt, "{\"name\":\"soft\",\"type\":\"Microsoft.KeyVault/vaults\"}");
    assert_int_equal(r.status, 200);
    assert_false(json_is_true(json_object_get(r.json, "nameAvailable")));
    assert_string_equal(json_string_value(json_object_get(r.json, "reason")), "AlreadyExists");
    t_res_free(&r);
    /* recover */
    r = t_vault_put(&c->env, c->mgmt, RG, "soft", BASIC_PROPS ",\"createMode\":\"recover\"");
    assert_true(r.status == 200 || r.status == 201);
    assert_int_equal(json_array_size(prop(&r, "accessPolicies")), 2);
    t_res_free(&r);
    r = t_req(&c->env, "GET", "https://soft.vault.azure.net/keys/k1?api-version=7.5", c->vault,
              NULL);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    /* delete again and purge: the name is free, the key is gone for good */
    r = t_req(&c->env, "DELETE", url, c->mgmt, NULL);
    t_res_free(&r);
    r = t_req(&c->env, "POST",
              T_MGMT "/subscriptions/" T_SUB "/providers/Microsoft.KeyVault/locations/eastus/"
                     "deletedVaults/soft/purge?" T_ARMV,
              c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    t_vault_basic(&c->env, c->mgmt, RG, "soft", "");
    r = t_req(&c->env, "GET", "https://soft.vault.azure.net/keys/k1?api-version=7.5", c->vault,
              NULL);
    assert_int_equal(r.status, 404);
    assert_string_equal(t_code(&r), "KeyNotFound");
    t_res_free(&r);
    r = t_req(&c->env, "GET", "https://soft.vault.azure.net/deletedkeys/k1?api-version=7.5",
              c->vault, NULL);
    assert_int_equal(r.status, 404);
    t_res_free(&r);
    /* recover with nothing to recover */
    r = t_vault_put(&c->env, c->mgmt, RG, "ghost", BASIC_PROPS ",\"createMode\":\"recover\"");
    assert_int_equal(r.status, 404);
    t_res_free(&r);
}

static void test_purge_protection_and_clock(void **state)
{
    struct ctx *c = *state;
    t_vault_basic(&c->env, c->mgmt, RG, "locked",
                  ",\"enablePurgeProtection\":true,\"softDeleteRetentionInDays\":7");
    char url[512];
    t_vault_url(url, sizeof(url), RG, "locked", NULL);
    struct t_res r = t_req(&c->env, "DELETE", url, c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    const char *purge = T_MGMT "/subscriptions/" T_SUB "/providers/Microsoft.KeyVault/locations/"
                               "eastus/deletedVaults/locked/purge?" T_ARMV;
    r = t_req(&c->env, "POST", purge, c->mgmt, NULL);
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(t_message(&r), "DeletedVaultPurge"));
    t_res_free(&r);
    /* a restart in between: the purge is still scheduled */
    t_close(&c->env);
    t_open(&c->env);
    cmk_clock_advance(&c->env.rt.clock, 7 * CMK_DAY - CMK_SECOND);
    const char *get = T_MGMT "/subscriptions/" T_SUB "/providers/Microsoft.KeyVault/locations/"
                             "eastus/deletedVaults/locked?" T_ARMV;
    free(c->mgmt);
    c->mgmt = t_token(&c->env, T_TENANT, T_ADMIN, "https://management.azure.com/");
    r = t_req(&c->env, "GET", get, c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    cmk_clock_advance(&c->env.rt.clock, CMK_SECOND);
    r = t_req(&c->env, "GET", get, c->mgmt, NULL);
    assert_int_equal(r.status, 404);
    t_res_free(&r);
    /* and the name is free again */
    r = t_vault_put(&c->env, c->mgmt, RG, "locked", BASIC_PROPS);
    assert_int_equal(r.status, 201);
    t_res_free(&r);
}

static void test_role_assignments(void **state)
{
    struct ctx *c = *state;
    t_vault_basic(&c->env, c->mgmt, RG, "rbac", ",\"enableRbacAuthorization\":true");
    char *server = t_token(&c->env, T_TENANT, T_SERVER, "https://vault.azure.net");
    /* admin creates a key: admin needs a role too in an RBAC vault */
    struct t_res r =
        t_req(&c->env, "POST", "https://rbac.vault.azure.net/keys/k/create?api-version=7.5",
              c->vault, "{\"kty\":\"RSA\"}");
    assert_int_equal(r.status, 403);
    assert_string_equal(t_inner(&r), "ForbiddenByRbac");
    assert_non_null(strstr(t_message(&r), "Microsoft.KeyVault/vaults/keys/create/action"));
    t_res_free(&r);
    /* role definitions by name, as az role assignment create looks them up */
    char scope[256], url[512];
    snprintf(scope, sizeof(scope),
             "/subscriptions/" T_SUB "/resourceGroups/" RG
             "/providers/Microsoft.KeyVault/vaults/rbac");
    snprintf(url, sizeof(url),
             T_MGMT
             "%s/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName%%20eq%%20"
             "'Key%%20Vault%%20Crypto%%20Officer'&api-version=2022-04-01",
             scope);
    r = t_req(&c->env, "GET", url, c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    json_t *def = json_array_get(json_object_get(r.json, "value"), 0);
    assert_string_equal(json_string_value(json_object_get(def, "name")),
                        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603");
    t_res_free(&r);
    /* assign Crypto Officer to admin at vault scope, Crypto Service Encryption User to the
     * server at key scope */
    char body[1024];
    snprintf(url, sizeof(url),
             T_MGMT "%s/providers/Microsoft.Authorization/roleAssignments/"
                    "11111111-aaaa-bbbb-cccc-000000000001?api-version=2022-04-01",
             scope);
    snprintf(body, sizeof(body),
             "{\"properties\":{\"roleDefinitionId\":\"/subscriptions/" T_SUB
             "/providers/Microsoft.Authorization/roleDefinitions/"
             "14b46e9e-c2b7-41b4-b07b-48a6ebf60603\",\"principalId\":\"%s\"}}",
             T_ADMIN);
    r = t_req(&c->env, "PUT", url, c->mgmt, body);
    assert_int_equal(r.status, 201);
    assert_string_equal(prop_str(&r, "scope"), scope);
    t_res_free(&r);
    r = t_req(&c->env, "POST", "https://rbac.vault.azure.net/keys/k/create?api-version=7.5",
              c->vault, "{\"kty\":\"RSA\"}");
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    const char *wrap = "https://rbac.vault.azure.net/keys/k//wrapkey?api-version=7.5";
    const char *wbody = "{\"alg\":\"RSA-OAEP-256\",\"value\":\"AAECAwQFBgcICQoLDA0ODw\"}";
    r = t_req(&c->env, "POST", wrap, server, wbody);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(t_message(&r), "Microsoft.KeyVault/vaults/keys/wrap/action"));
    t_res_free(&r);
    snprintf(url, sizeof(url),
             T_MGMT "%s/keys/k/providers/Microsoft.Authorization/roleAssignments/"
                    "11111111-aaaa-bbbb-cccc-000000000002?api-version=2022-04-01",
             scope);
    snprintf(body, sizeof(body),
             "{\"properties\":{\"roleDefinitionId\":\"/subscriptions/" T_SUB
             "/providers/Microsoft.Authorization/roleDefinitions/"
             "e147488a-f6f5-4113-8e2d-b22465e65bf6\",\"principalId\":\"%s\","
             "\"principalType\":\"ServicePrincipal\"}}",
             T_SERVER);
    r = t_req(&c->env, "PUT", url, c->mgmt, body);
    assert_int_equal(r.status, 201);
    t_res_free(&r);
    /* the same assignment under another name: 409 */
    char url2[512];
    snprintf(url2, sizeof(url2),
             T_MGMT "%s/keys/k/providers/Microsoft.Authorization/roleAssignments/"
                    "11111111-aaaa-bbbb-cccc-000000000003?api-version=2022-04-01",
             scope);
    r = t_req(&c->env, "PUT", url2, c->mgmt, body);
    assert_int_equal(r.status, 409);
    assert_string_equal(t_code(&r), "RoleAssignmentExists");
    t_res_free(&r);
    r = t_req(&c->env, "POST", wrap, server, wbody);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    /* the role covers wrap/unwrap, not sign */
    r = t_req(&c->env, "POST", "https://rbac.vault.azure.net/keys/k/sign?api-version=7.5", server,
              "{\"alg\":\"RS256\",\"value\":\"AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8\"}");
    assert_int_equal(r.status, 403);
    t_res_free(&r);
    /* list, get, delete */
    snprintf(url2, sizeof(url2),
             T_MGMT "%s/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01",
             scope);
    r = t_req(&c->env, "GET", url2, c->mgmt, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 2);
    t_res_free(&r);
    r = t_req(&c->env, "GET", url, c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    r = t_req(&c->env, "DELETE", url, c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    r = t_req(&c->env, "GET", url, c->mgmt, NULL);
    assert_int_equal(r.status, 404);
    t_res_free(&r);
    r = t_req(&c->env, "POST", wrap, server, wbody);
    assert_int_equal(r.status, 403);
    assert_string_equal(t_inner(&r), "ForbiddenByRbac");
    t_res_free(&r);
    /* bad role */
    snprintf(body, sizeof(body),
             "{\"properties\":{\"roleDefinitionId\":\"/subscriptions/" T_SUB
             "/providers/Microsoft.Authorization/roleDefinitions/"
             "00000000-0000-0000-0000-00000000dead\",\"principalId\":\"%s\"}}",
             T_SERVER);
    r = t_req(&c->env, "PUT", url, c->mgmt, body);
    assert_int_equal(r.status, 400);
    assert_string_equal(t_code(&r), "RoleDefinitionDoesNotExist");
    t_res_free(&r);
    free(server);
}

static void test_audit_routes(void **state)
{
    struct ctx *c = *state;
    t_vault_basic(&c->env, c->mgmt, RG, "audited", "");
    struct t_res r =
        t_req(&c->env, "POST", "https://audited.vault.azure.net/keys/k/create?api-version=7.5",
              c->vault, "{\"kty\":\"EC\"}");
    t_res_free(&r);
    r = t_req(&c->env, "GET", "https://audited.vault.azure.net/keys/k?api-version=7.5", NULL, NULL);
    assert_int_equal(r.status, 401);
    t_res_free(&r);
    char url[512];
    t_vault_url(url, sizeof(url), RG, "audited", "/auditEvents");
    r = t_req(&c->env, "GET", url, c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    /* two lines: KeyCreate (200), KeyGet (401) */
    char *line2 = strchr(r.body, '\n');
    assert_non_null(line2);
    json_t *e1 = json_loadb(r.body, (size_t)(line2 - r.body), 0, NULL);
    json_t *e2 = json_loads(line2 + 1, JSON_DISABLE_EOF_CHECK, NULL);
    assert_string_equal(json_string_value(json_object_get(e1, "operationName")), "KeyCreate");
    assert_string_equal(json_string_value(json_object_get(e1, "resultType")), "Success");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(e1, "identity"), "claim"), "oid")),
                        T_ADMIN);
    assert_string_equal(json_string_value(json_object_get(e2, "operationName")), "KeyGet");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(e2, "properties"), "httpStatusCode")),
        401);
    json_decref(e1);
    json_decref(e2);
    t_res_free(&r);
    r = t_req(&c->env, "GET", T_MGMT "/_cmksim/vaults/audited/audit?after=1", c->mgmt, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"KeyGet\""));
    assert_null(strstr(r.body, "\"KeyCreate\""));
    t_res_free(&r);
    char *other = t_token(&c->env, T_OTHER_TENANT, T_ADMIN, "https://management.azure.com/");
    r = t_req(&c->env, "GET", T_MGMT "/_cmksim/vaults/audited/audit", other, NULL);
    assert_int_equal(r.status, 403);
    t_res_free(&r);
    free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_soft_delete_recover_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_protection_and_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_assignments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_routes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
