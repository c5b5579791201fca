/* test_hsm_arm.c: the ARM provider Microsoft.KeyVault/managedHSMs as a client sees it: the
 * long-running create (Provisioning, then Succeeded on the clock), the service's validation
 * (retention 7-90 fixed, soft delete always on, purge protection on by default and
 * irreversible, administrators required, names, api-versions), soft delete and the
 * deletedManagedHSMs routes, recover, purge refused under purge protection, the clock's purge
 * at the end of retention, checkMhsmNameAvailability, and persistence across a reopen. */
#include "hsm_test.h"

struct ctx {
    struct t_env env;
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    t_env_new(&c->env, "arm");
    t_group(&c->env, T_RG);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    t_env_free(&c->env);
    free(c);
    return 0;
}

static void deleted_url(char *out, size_t n, const char *hsm, const char *extra)
{
    snprintf(out, n,
             T_MGMT "/subscriptions/" T_SUB "/providers/Microsoft.KeyVault/locations/eastus/"
                    "deletedManagedHSMs/%s%s?" T_ARMV,
             hsm, extra ? extra : "");
}

static void test_create_lro(void **state)
{
    struct t_env *env = &((struct ctx *)*state)->env;
    struct t_res r = t_hsm_put(env, "hsm1", T_HSM_PROPS);
    assert_int_equal(r.status, 202);
    assert_non_null(strstr(r.header, "/azureAsyncOperation/"));
    char op[1024];
    snprintf(op, sizeof(op), "%s", r.header);
    t_res_free(&r);
    json_t *doc = t_hsm_get(env, "hsm1");
    assert_string_equal(t_prop(doc, "provisioningState"), "Provisioning");
    json_decref(doc);
    /* the status resource says InProgress, then Succeeded */
    r = t_req(env, "GET", op, env->mgmt, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "InProgress");
    t_res_free(&r);
    /* the data plane does not answer while provisioning */
    T_EXPECT(t_dp_req(env, "GET", "hsm1", "/keys", env->admin, NULL), 404, NULL);
    cmk_clock_advance(&env->rt.clock, 3 * CMK_SECOND);
    r = t_req(env, "GET", op, env->mgmt, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "Succeeded");
    t_res_free(&r);
    doc = t_hsm_get(env, "hsm1");
    json_t *p = json_object_get(doc, "properties");
    assert_string_equal(t_prop(doc, "provisioningState"), "Succeeded");
    assert_string_equal(t_prop(doc, "statusMessage"),
                        "The Managed HSM is provisioned and ready to use.");
    assert_string_equal(t_prop(doc, "hsmUri"), "https://hsm1.managedhsm.azure.net/");
    assert_string_equal(t_prop(doc, "tenantId"), T_TENANT);
    assert_true(json_is_true(json_object_get(p, "enableSoftDelete")));
    assert_true(json_is_true(json_object_get(p, "enablePurgeProtection"))); /* the default */
    assert_int_equal(json_integer_value(json_object_get(p, "softDeleteRetentionInDays")), 90);
    assert_string_equal(t_prop(doc, "publicNetworkAccess"), "Enabled");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(p, "securityDomainProperties"), "activationStatus")),
                        "NotActivated");
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "sku"), "name")),
                        "Standard_B1");
    assert_string_equal(json_string_value(json_object_get(doc, "type")), HSM_TYPE);
    json_decref(doc);
    assert_string_equal(hsm_activation_status(env->hsm, "HSM1"), "NotActivated");
    /* listed in the group and in the subscription */
    char url[512];
    snprintf(url, sizeof(url),
             T_MGMT "/subscriptions/" T_SUB "/providers/Microsoft.KeyVault/managedHSMs?" T_ARMV);
    r = t_req(env, "GET", url, env->mgmt, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 1);
    t_res_free(&r);
    /* the other api-versions clients send */
    static const char *const versions[] = {"2025-05-01", "2023-07-01", "2021-10-01", NULL};
    for (int i = 0; versions[i]; i++) {
        snprintf(url, sizeof(url),
                 T_MGMT "/subscriptions/" T_SUB "/resourceGroups/" T_RG
                        "/providers/Microsoft.KeyVault/managedHSMs/hsm1?api-version=%s",
                 versions[i]);
        T_EXPECT(t_req(env, "GET", url, env->mgmt, NULL), 200, NULL);
    }
    snprintf(url, sizeof(url),
             T_MGMT "/subscriptions/" T_SUB "/resourceGroups/" T_RG
                    "/providers/Microsoft.KeyVault/managedHSMs/hsm1?api-version=2019-09-01");
    T_EXPECT(t_req(env, "GET", url, env->mgmt, NULL), 400, NULL);
}

static void test_validation(void **state)
{
    struct t_env *env = &((struct ctx *)*state)->env;
    T_EXPECT(t_hsm_put(env, "hsm2", T_HSM_PROPS ",\"softDeleteRetentionInDays\":5"), 400,
             "BadRequest");
    T_EXPECT(t_hsm_put(env, "hsm2", T_HSM_PROPS ",\"enableSoftDelete\":false"), 400, "BadRequest");
    T_EXPECT(t_hsm_put(env, "hsm2", "\"tenantId\":\"" T_TENANT "\""), 400, "BadRequest");
    T_EXPECT(t_hsm_put(env, "hsm2", T_HSM_PROPS ",\"initialAdminObjectIds\":[]"), 400, NULL);
    T_EXPECT(
        t_hsm_put(env, "hsm2", "\"tenantId\":\"nope\",\"initialAdminObjectIds\":[\"" T_ADMIN "\"]"),
        400, "BadRequest");
    T_EXPECT(t_hsm_put(env, "2bad", T_HSM_PROPS), 400, "BadRequest");
    T_EXPECT(t_hsm_put(env, "a--b", T_HSM_PROPS), 400, "BadRequest");
    T_EXPECT(t_hsm_put(env, "hsm2",
                       T_HSM_PROPS ",\"networkAcls\":{\"defaultAction\":\"Deny\",\"ipRules\":"
                                   "[{\"value\":\"300.1.1.1\"}]}"),
             400, "BadRequest");
    /* created with 7 days and without purge protection */
    t_hsm_create(env, "hsm2", ",\"softDeleteRetentionInDays\":7,\"enablePurgeProtection\":false");
    json_t *doc = t_hsm_get(env, "hsm2");
    assert_true(json_is_false(
        json_object_get(json_object_get(doc, "properties"), "enablePurgeProtection")));
    json_decref(doc);
    char url[512];
    t_hsm_url(url, sizeof(url), "hsm2", NULL);
    /* retention is fixed */
    T_EXPECT(
        t_req(env, "PATCH", url, env->mgmt, "{\"properties\":{\"softDeleteRetentionInDays\":30}}"),
        400, "BadRequest");
    /* purge protection: on, then never off again */
    T_EXPECT(
        t_req(env, "PATCH", url, env->mgmt, "{\"properties\":{\"enablePurgeProtection\":true}}"),
        200, NULL);
    T_EXPECT(
        t_req(env, "PATCH", url, env->mgmt, "{\"properties\":{\"enablePurgeProtection\":false}}"),
        400, "BadRequest");
    /* an update keeps what the service owns */
    T_EXPECT(t_req(env, "PATCH", url, env->mgmt, "{\"tags\":{\"env\":\"test\"}}"), 200, NULL);
    doc = t_hsm_get(env, "hsm2");
    assert_string_equal(t_prop(doc, "provisioningState"), "Succeeded");
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "tags"), "env")),
                        "test");
    assert_true(
        json_is_true(json_object_get(json_object_get(doc, "properties"), "enablePurgeProtection")));
    json_decref(doc);
    /* HSM names are global */
    char other[512];
    snprintf(other, sizeof(other),
             T_MGMT "/subscriptions/" T_SUB "/resourcegroups/rg2?api-version=2021-04-01");
    T_EXPECT(t_req(env, "PUT", other, env->mgmt, "{\"location\":\"eastus\"}"), 201, NULL);
    snprintf(other, sizeof(other),
             T_MGMT "/subscriptions/" T_SUB
                    "/resourceGroups/rg2/providers/Microsoft.KeyVault/managedHSMs/HSM2?" T_ARMV);
    T_EXPECT(t_req(env, "PUT", other, env->mgmt,
                   "{\"location\":\"eastus\",\"properties\":{" T_HSM_PROPS "}}"),
             409, NULL);
}

static void test_delete_recover_purge(void **state)
{
    struct t_env *env = &((struct ctx *)*state)->env;
    t_hsm_ready(env, "hsm3", ",\"softDeleteRetentionInDays\":7");
    T_EXPECT(t_dp_req(env, "POST", "hsm3", "/keys/k1/create", env->admin, "{\"kty\":\"RSA-HSM\"}"),
             200, NULL);
    char url[512];
    t_hsm_url(url, sizeof(url), "hsm3", NULL);
    T_EXPECT(t_req(env, "DELETE", url, env->mgmt, NULL), 202, NULL);
    cmk_clock_advance(&env->rt.clock, CMK_SECOND);
    T_EXPECT(t_req(env, "GET", url, env->mgmt, NULL), 404, "ResourceNotFound");
    T_EXPECT(t_dp_req(env, "GET", "hsm3", "/keys/k1", env->admin, NULL), 404, NULL);
    /* listed as deleted, with its purge date and protection */
    char list[512];
    snprintf(list, sizeof(list),
             T_MGMT "/subscriptions/" T_SUB
                    "/providers/Microsoft.KeyVault/deletedManagedHSMs?" T_ARMV);
    struct t_res r = t_req(env, "GET", list, env->mgmt, NULL);
    assert_int_equal(r.status, 200);
    json_t *item = json_array_get(json_object_get(r.json, "value"), 0);
    assert_string_equal(json_string_value(json_object_get(item, "name")), "hsm3");
    assert_true(json_is_true(
        json_object_get(json_object_get(item, "properties"), "purgeProtectionEnabled")));
    assert_non_null(json_object_get(json_object_get(item, "properties"), "scheduledPurgeDate"));
    t_res_free(&r);
    char del[512];
    deleted_url(del, sizeof(del), "hsm3", NULL);
    T_EXPECT(t_req(env, "GET", del, env->mgmt, NULL), 200, NULL);
    /* the name is taken until recovered or purged */
    T_EXPECT(t_hsm_put(env, "hsm3", T_HSM_PROPS), 409, "ConflictError");
    r = t_req(env, "POST",
              T_MGMT "/subscriptions/" T_SUB
                     "/providers/Microsoft.KeyVault/checkMhsmNameAvailability?" T_ARMV,
              env->mgmt, "{\"name\":\"hsm3\"}");
    assert_true(json_is_false(json_object_get(r.json, "nameAvailable")));
    assert_string_equal(json_string_value(json_object_get(r.json, "reason")), "AlreadyExists");
    t_res_free(&r);
    /* purge protection: refused before the scheduled purge date */
    deleted_url(del, sizeof(del), "hsm3", "/purge");
    T_EXPECT(t_req(env, "POST", del, env->mgmt, NULL), 409, "Conflict");
    /* recover: the same HSM, active, with its keys and roles */
    T_EXPECT(t_hsm_put(env, "hsm3", T_HSM_PROPS ",\"createMode\":\"recover\""), 202, NULL);
    cmk_clock_advance(&env->rt.clock, 3 * CMK_SECOND);
    json_t *doc = t_hsm_get(env, "hsm3");
    assert_string_equal(t_prop(doc, "provisioningState"), "Succeeded");
    json_decref(doc);
    assert_string_equal(hsm_activation_status(env->hsm, "hsm3"), "Active");
    T_EXPECT(t_dp_req(env, "GET", "hsm3", "/keys/k1", env->admin, NULL), 200, NULL);
    /* delete again: the clock purges at the end of the retention (7 days), keys and all */
    T_EXPECT(t_req(env, "DELETE", url, env->mgmt, NULL), 202, NULL);
    cmk_clock_advance(&env->rt.clock, 6 * CMK_DAY);
    t_tokens(env);
    deleted_url(del, sizeof(del), "hsm3", NULL);
    T_EXPECT(t_req(env, "GET", del, env->mgmt, NULL), 200, NULL);
    cmk_clock_advance(&env->rt.clock, CMK_DAY + CMK_SECOND);
    t_tokens(env);
    T_EXPECT(t_req(env, "GET", del, env->mgmt, NULL), 404, "ResourceNotFound");
    /* the name is free again: a new HSM of that name is new (not activated, no keys) */
    t_hsm_create(env, "hsm3", NULL);
    assert_string_equal(hsm_activation_status(env->hsm, "hsm3"), "NotActivated");
}

static void test_purge_unprotected(void **state)
{
    struct t_env *env = &((struct ctx *)*state)->env;
    t_hsm_create(env, "hsm4", ",\"enablePurgeProtection\":false");
    char url[512], del[512];
    t_hsm_url(url, sizeof(url), "hsm4", NULL);
    T_EXPECT(t_req(env, "DELETE", url, env->mgmt, NULL), 202, NULL);
    cmk_clock_advance(&env->rt.clock, CMK_SECOND);
    deleted_url(del, sizeof(del), "hsm4", "/purge");
    struct t_res r = t_req_full(env, "POST", del, env->mgmt, NULL, NULL, "location");
    assert_int_equal(r.status, 202);
    assert_non_null(strstr(r.header, "/operationResults/"));
    t_res_free(&r);
    cmk_clock_advance(&env->rt.clock, CMK_SECOND);
    deleted_url(del, sizeof(del), "hsm4", NULL);
    T_EXPECT(t_req(env, "GET", del, env->mgmt, NULL), 404, NULL);
    r = t_req(env, "POST",
              T_MGMT "/subscriptions/" T_SUB
                     "/providers/Microsoft.KeyVault/checkMhsmNameAvailability?" T_ARMV,
              env->mgmt, "{\"name\":\"hsm4\"}");
    assert_true(json_is_true(json_object_get(r.json, "nameAvailable")));
    t_res_free(&r);
    /* recover of nothing */
    T_EXPECT(t_hsm_put(env, "hsm4", T_HSM_PROPS ",\"createMode\":\"recover\""), 404, NULL);
}

static void test_reopen(void **state)
{
    struct t_env *env = &((struct ctx *)*state)->env;
    t_hsm_ready(env, "hsm5", NULL);
    T_EXPECT(t_dp_req(env, "POST", "hsm5", "/keys/k/create", env->admin, "{\"kty\":\"EC-HSM\"}"),
             200, NULL);
    /* a create still provisioning when the process stops completes after the restart */
    T_EXPECT(t_hsm_put(env, "hsm6", T_HSM_PROPS), 202, NULL);
    t_close(env);
    t_open(env);
    cmk_clock_advance(&env->rt.clock, 3 * CMK_SECOND);
    assert_string_equal(hsm_activation_status(env->hsm, "hsm5"), "Active");
    assert_string_equal(hsm_activation_status(env->hsm, "hsm6"), "NotActivated");
    T_EXPECT(t_dp_req(env, "GET", "hsm5", "/keys/k", env->admin, NULL), 200, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_lro, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_recover_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_unprotected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
