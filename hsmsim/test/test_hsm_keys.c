/* test_hsm_keys.c: the Managed HSM data plane as a client sees it. The policy differences from a
 * vault (HSM key types only, local RBAC only, soft delete always on, the managedhsm challenge),
 * the activation gate and the security domain (a real blob: its shares open with 2 of the 3
 * private keys and not with 1), role assignments granting and revoking key operations (403
 * ForbiddenByRbac), vaultsim's network rules and tenant check through the same code, the audit
 * log, and no acknowledged write lost to kill -9. */
#include <signal.h>
#include <sys/wait.h>

#include "hsm_test.h"

#define H "hsmk"

struct ctx {
    struct t_env env;
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    t_env_new(&c->env, "keys");
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

static void test_activation(void **state)
{
    struct t_env *env = &((struct ctx *)*state)->env;
    t_hsm_create(env, H, NULL);
    /* not activated: every key operation and role change is refused */
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/k/create", env->admin, "{\"kty\":\"RSA-HSM\"}"), 403,
             "HSMNotActivated");
    T_EXPECT(t_dp_req(env, "GET", H, "/keys", env->admin, NULL), 403, "HSMNotActivated");
    T_EXPECT(t_assign(env, H, "/", "00000000-0000-4000-8000-000000000001", ROLE_USER, T_ADMIN), 403,
             "HSMNotActivated");
    T_EXPECT(t_dp_req(env, "GET", H, "/securitydomain/download/pending", env->admin, NULL), 404,
             NULL);
    /* only an administrator downloads the security domain; 3 to 10 certificates, quorum 2..N */
    json_t *certs;
    EVP_PKEY *keys[3];
    struct cmk_err err;
    t_sd_certs(&certs, keys);
    json_t *body = json_pack("{s:O, s:i}", "certificates", certs, "required", 2);
    char *good = json_dumps(body, JSON_COMPACT);
    json_object_set_new(body, "required", json_integer(4));
    char *bad_quorum = json_dumps(body, JSON_COMPACT);
    json_array_remove(certs, 0);
    json_object_set_new(body, "required", json_integer(2));
    char *two = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_decref(certs);
    T_EXPECT(t_dp_req(env, "POST", H, "/securitydomain/download", env->nobody, good), 403,
             "ForbiddenByRbac");
    T_EXPECT(t_dp_req(env, "POST", H, "/securitydomain/download", env->admin, two), 400,
             "BadParameter");
    T_EXPECT(t_dp_req(env, "POST", H, "/securitydomain/download", env->admin, bad_quorum), 400,
             "BadParameter");
    T_EXPECT(t_dp_req(env, "POST", H, "/securitydomain/download", env->admin, "{}"), 400, NULL);
    struct t_res r = t_dp_req(env, "POST", H, "/securitydomain/download", env->admin, good);
    assert_int_equal(r.status, 202);
    char *value = strdup(json_string_value(json_object_get(r.json, "value")));
    t_res_free(&r);
    /* the blob: the Azure CLI's format */
    json_t *sd = json_loads(value, 0, NULL);
    assert_non_null(sd);
    json_t *shared = json_object_get(sd, "SharedKeys");
    assert_int_equal(json_integer_value(json_object_get(shared, "required")), 2);
    assert_string_equal(json_string_value(json_object_get(shared, "key_algorithm")),
                        "shamir_share");
    assert_int_equal(json_array_size(json_object_get(shared, "enc_shares")), 3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(sd, "EncData"), "kdf")),
                        "sp108_kdf");
    json_decref(sd);
    /* in progress; a second download meanwhile is refused; keys still refused */
    r = t_dp_req(env, "GET", H, "/securitydomain/download/pending", env->admin, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "InProgress");
    t_res_free(&r);
    T_EXPECT(t_dp_req(env, "POST", H, "/securitydomain/download", env->admin, good), 409, NULL);
    T_EXPECT(t_dp_req(env, "GET", H, "/keys", env->admin, NULL), 403, "HSMNotActivated");
    cmk_clock_advance(&env->rt.clock, 3 * CMK_SECOND);
    r = t_dp_req(env, "GET", H, "/securitydomain/download/pending", env->admin, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "Success");
    t_res_free(&r);
    json_t *doc = t_hsm_get(env, H);
    json_t *sdp = json_object_get(json_object_get(doc, "properties"), "securityDomainProperties");
    assert_string_equal(json_string_value(json_object_get(sdp, "activationStatus")), "Active");
    json_decref(doc);
    /* active: the administrator may manage roles but not use keys; no second download */
    T_EXPECT(t_dp_req(env, "POST", H, "/securitydomain/download", env->admin, good), 409, NULL);
    T_EXPECT(t_dp_req(env, "GET", H, "/keys", env->admin, NULL), 403, "ForbiddenByRbac");
    r = t_dp_req(env, "GET", H, "///providers/Microsoft.Authorization/roleAssignments", env->admin,
                 NULL);
    assert_int_equal(r.status, 200);
    json_t *first = json_array_get(json_object_get(r.json, "value"), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(first, "properties"), "principalId")),
        T_ADMIN);
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(first, "properties"),
                                                             "roleDefinitionId")),
                           ROLE_ADMIN));
    t_res_free(&r);
    /* the security domain opens with 2 of the 3 private keys, and not with one */
    unsigned char *secret = NULL;
    size_t len = 0;
    EVP_PKEY *two_keys[2] = {keys[2], keys[0]};
    assert_int_equal(hsm_sd_recover(value, two_keys, 2, &secret, &len, &err), 0);
    assert_non_null(
        strstr((const char *)secret, "\"hsm\":\"https://" H ".managedhsm.azure.net/\""));
    free(secret);
    assert_int_not_equal(hsm_sd_recover(value, &keys[1], 1, &secret, &len, &err), 0);
    for (int i = 0; i < 3; i++)
        EVP_PKEY_free(keys[i]);
    free(value);
    free(good);
    free(bad_quorum);
    free(two);
}

static void test_policy(void **state)
{
    struct t_env *env = &((struct ctx *)*state)->env;
    t_hsm_ready(env, H, NULL);
    /* the challenge names the Managed HSM resource */
    char url[512];
    t_dp(url, sizeof(url), H, "/keys");
    struct t_res r = t_req_full(env, "GET", url, NULL, NULL, NULL, "www-authenticate");
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.header, "resource=\"https://managedhsm.azure.net\""));
    assert_non_null(strstr(r.header, "https://login.microsoftonline.com/" T_TENANT));
    t_res_free(&r);
    /* a vault token is not for an HSM; another tenant is refused */
    char *vault_tok = t_token(env, T_TENANT, T_ADMIN, "https://vault.azure.net");
    T_EXPECT(t_dp_req(env, "GET", H, "/keys", vault_tok, NULL), 401, NULL);
    free(vault_tok);
    char *other = t_token(env, T_OTHER_TENANT, T_ADMIN, T_HSM_AUD);
    T_EXPECT(t_dp_req(env, "GET", H, "/keys", other, NULL), 401, NULL);
    free(other);
    /* HSM key types only */
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/soft/create", env->admin, "{\"kty\":\"RSA\"}"), 400,
             "BadParameter");
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/soft/create", env->admin, "{\"kty\":\"EC\"}"), 400,
             "BadParameter");
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/soft/create", env->admin, "{\"kty\":\"oct\"}"), 400,
             "BadParameter");
    r = t_dp_req(env, "POST", H, "/keys/rsa/create", env->admin,
                 "{\"kty\":\"RSA-HSM\",\"key_size\":2048}");
    assert_int_equal(r.status, 200);
    json_t *key = json_object_get(r.json, "key");
    assert_string_equal(json_string_value(json_object_get(key, "kty")), "RSA-HSM");
    assert_true(strncmp(json_string_value(json_object_get(key, "kid")),
                        "https://" H ".managedhsm.azure.net/keys/rsa/", 37) == 0);
    /* soft delete is always on: recoverable, with the HSM's retention */
    json_t *attrs = json_object_get(r.json, "attributes");
    assert_int_equal(json_integer_value(json_object_get(attrs, "recoverableDays")), 90);
    t_res_free(&r);
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/ec/create", env->admin, "{\"kty\":\"EC-HSM\"}"), 200,
             NULL);
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/aes/create", env->admin, "{\"kty\":\"oct-HSM\"}"), 200,
             NULL);
    /* wrap / unwrap with the RSA-HSM key, and with the AES key */
    const char *cek = "{\"alg\":\"RSA-OAEP-256\",\"value\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka"
                      "GxwdHh8\"}";
    r = t_dp_req(env, "POST", H, "/keys/rsa/wrapkey", env->admin, cek);
    assert_int_equal(r.status, 200);
    char body[2048];
    snprintf(body, sizeof(body), "{\"alg\":\"RSA-OAEP-256\",\"value\":\"%s\"}",
             json_string_value(json_object_get(r.json, "value")));
    t_res_free(&r);
    r = t_dp_req(env, "POST", H, "/keys/rsa/unwrapkey", env->admin, body);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "value")),
                        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    t_res_free(&r);
    T_EXPECT(
        t_dp_req(env, "POST", H, "/keys/aes/wrapkey", env->admin,
                 "{\"alg\":\"A256KW\",\"value\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}"),
        200, NULL);
    /* mandatory soft delete: deleted keys wait, recover, purge refused under purge protection */
    T_EXPECT(t_dp_req(env, "DELETE", H, "/keys/ec", env->admin, NULL), 200, NULL);
    T_EXPECT(t_dp_req(env, "GET", H, "/deletedkeys/ec", env->admin, NULL), 200, NULL);
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/ec/create", env->admin, "{\"kty\":\"EC-HSM\"}"), 409,
             NULL);
    T_EXPECT(t_dp_req(env, "DELETE", H, "/deletedkeys/ec", env->admin, NULL), 403, NULL);
    T_EXPECT(t_dp_req(env, "POST", H, "/deletedkeys/ec/recover", env->admin, NULL), 200, NULL);
    T_EXPECT(t_dp_req(env, "GET", H, "/keys/ec", env->admin, NULL), 200, NULL);
    /* backups restore only where the name is free */
    r = t_dp_req(env, "POST", H, "/keys/aes/backup", env->admin, NULL);
    assert_int_equal(r.status, 200);
    snprintf(body, sizeof(body), "{\"value\":\"%s\"}",
             json_string_value(json_object_get(r.json, "value")));
    t_res_free(&r);
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/restore", env->admin, body), 409, NULL);
    /* rng is an action of its own (Crypto User has it) */
    T_EXPECT(t_dp_req(env, "POST", H, "/rng", env->admin, "{\"count\":16}"), 200, NULL);
    T_EXPECT(t_dp_req(env, "POST", H, "/rng", env->nobody, "{\"count\":16}"), 403,
             "ForbiddenByRbac");
}

static void test_roles(void **state)
{
    struct t_env *env = &((struct ctx *)*state)->env;
    t_hsm_ready(env, H, NULL);
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/k1/create", env->admin, "{\"kty\":\"RSA-HSM\"}"), 200,
             NULL);
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/k2/create", env->admin, "{\"kty\":\"RSA-HSM\"}"), 200,
             NULL);
    const char *wrap = "{\"alg\":\"RSA-OAEP\",\"value\":\"AAECAwQFBgcICQoLDA0ODw\"}";
    /* no role: 403 with the action and the key's scope */
    struct t_res r = t_dp_req(env, "POST", H, "/keys/k1/wrapkey", env->server, wrap);
    assert_int_equal(r.status, 403);
    assert_string_equal(t_inner(&r), "ForbiddenByRbac");
    assert_non_null(strstr(r.body, "Microsoft.KeyVault/managedHsm/keys/wrap/action"));
    assert_non_null(strstr(r.body, "Resource: '/keys/k1'"));
    t_res_free(&r);
    /* Crypto Service Encryption User on /keys/k1 only */
    const char *ra = "11111111-0000-4000-8000-000000000001";
    r = t_assign(env, H, "/keys/k1", ra, ROLE_SERVICE, T_SERVER);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "id")),
                        "/keys/k1/providers/Microsoft.Authorization/roleAssignments/"
                        "11111111-0000-4000-8000-000000000001");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "properties"), "scope")),
        "/keys/k1");
    t_res_free(&r);
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/k1/wrapkey", env->server, wrap), 200, NULL);
    T_EXPECT(t_dp_req(env, "GET", H, "/keys/k1", env->server, NULL), 200, NULL);
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/k2/wrapkey", env->server, wrap), 403,
             "ForbiddenByRbac");
    T_EXPECT(
        t_dp_req(env, "POST", H, "/keys/k1/sign", env->server,
                 "{\"alg\":\"RS256\",\"value\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}"),
        403, "ForbiddenByRbac");
    T_EXPECT(t_dp_req(env, "GET", H, "/keys", env->server, NULL), 403, "ForbiddenByRbac");
    /* the service itself cannot hand out roles */
    char path[256];
    snprintf(path, sizeof(path), "/keys/k1/providers/Microsoft.Authorization/roleAssignments/%s",
             "22222222-0000-4000-8000-000000000002");
    T_EXPECT(t_dp_req(env, "PUT", H, path, env->server,
                      "{\"properties\":{\"roleDefinitionId\":\"" ROLE_USER
                      "\",\"principalId\":\"" T_SERVER "\"}}"),
             403, "ForbiddenByRbac");
    /* get, list at the key's scope, role definitions */
    snprintf(path, sizeof(path), "//keys/k1/providers/Microsoft.Authorization/roleAssignments/%s",
             ra);
    T_EXPECT(t_dp_req(env, "GET", H, path, env->admin, NULL), 200, NULL);
    r = t_dp_req(env, "GET", H,
                 "/keys/k1/providers/Microsoft.Authorization/roleAssignments?$filter=principalId%20"
                 "eq%20'" T_SERVER "'",
                 env->admin, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 1);
    t_res_free(&r);
    r = t_dp_req(env, "GET", H, "///providers/Microsoft.Authorization/roleDefinitions", env->admin,
                 NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_array_size(json_object_get(r.json, "value")) >= 6);
    assert_non_null(strstr(r.body, "Managed HSM Crypto Service Encryption User"));
    assert_non_null(strstr(r.body, "\"AKVBuiltInRole\""));
    t_res_free(&r);
    T_EXPECT(t_dp_req(env, "GET", H,
                      "/providers/Microsoft.Authorization/roleDefinitions/" ROLE_SERVICE,
                      env->admin, NULL),
             200, NULL);
    /* a scope the HSM does not have */
    T_EXPECT(
        t_assign(env, H, "/secrets", "33333333-0000-4000-8000-000000000003", ROLE_USER, T_SERVER),
        400, "BadParameter");
    /* an unknown role */
    T_EXPECT(t_assign(env, H, "/", "33333333-0000-4000-8000-000000000003",
                      "99999999-0000-4000-8000-000000000009", T_SERVER),
             400, "BadParameter");
    /* a custom role: unwrap only, on /keys */
    T_EXPECT(t_dp_req(env, "PUT", H,
                      "/providers/Microsoft.Authorization/roleDefinitions/"
                      "44444444-0000-4000-8000-000000000004",
                      env->admin,
                      "{\"properties\":{\"roleName\":\"unwrapper\",\"type\":\"CustomRole\","
                      "\"permissions\":[{\"dataActions\":[\"Microsoft.KeyVault/managedHsm/keys/"
                      "unwrap/action\"]}],\"assignableScopes\":[\"/\"]}}"),
             201, NULL);
    T_EXPECT(t_assign(env, H, "/keys", "55555555-0000-4000-8000-000000000005",
                      "44444444-0000-4000-8000-000000000004", T_NOBODY),
             201, NULL);
    r = t_dp_req(env, "POST", H, "/keys/k2/wrapkey", env->admin, wrap);
    char unwrap[1024];
    snprintf(unwrap, sizeof(unwrap), "{\"alg\":\"RSA-OAEP\",\"value\":\"%s\"}",
             json_string_value(json_object_get(r.json, "value")));
    t_res_free(&r);
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/k2/unwrapkey", env->nobody, unwrap), 200, NULL);
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/k2/wrapkey", env->nobody, wrap), 403,
             "ForbiddenByRbac");
    /* remove the assignment: 403 again at once */
    snprintf(path, sizeof(path), "//keys/k1/providers/Microsoft.Authorization/roleAssignments/%s",
             ra);
    T_EXPECT(t_dp_req(env, "DELETE", H, path, env->admin, NULL), 200, NULL);
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/k1/wrapkey", env->server, wrap), 403,
             "ForbiddenByRbac");
    T_EXPECT(t_dp_req(env, "DELETE", H, path, env->admin, NULL), 404, "RoleAssignmentNotFound");
    /* the audit log has all of it */
    struct cmk_buf out;
    cmk_buf_init(&out);
    int64_t last = 0;
    struct cmk_err err;
    assert_int_equal(hsm_audit_read(env->hsm, H, 0, &out, &last, &err), 0);
    assert_non_null(strstr(out.data, "\"operationName\":\"SecurityDomainDownload\""));
    assert_non_null(strstr(out.data, "\"operationName\":\"RoleAssignmentCreate\""));
    assert_non_null(strstr(out.data, "\"operationName\":\"RoleAssignmentDelete\""));
    assert_non_null(strstr(out.data, "\"operationName\":\"KeyWrap\""));
    assert_non_null(strstr(out.data, "\"innerErrorCode\":\"ForbiddenByRbac\""));
    assert_non_null(strstr(out.data, "Microsoft.KeyVault/managedHSMs/" H));
    cmk_buf_close(&out);
}

static void test_network(void **state)
{
    struct t_env *env = &((struct ctx *)*state)->env;
    t_hsm_ready(env, H, NULL);
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/k/create", env->admin, "{\"kty\":\"RSA-HSM\"}"), 200,
             NULL);
    char url[512], dp[512];
    t_hsm_url(url, sizeof(url), H, NULL);
    t_dp(dp, sizeof(dp), H, "/keys/k");
    struct cmk_origin trusted = {.kind = CMK_ORIGIN_TRUSTED_SERVICE};
    snprintf(trusted.addr, sizeof(trusted.addr), "52.1.1.1");
    snprintf(trusted.service, sizeof(trusted.service), "Microsoft.DBforPostgreSQL");
    struct cmk_origin allowed = {.kind = CMK_ORIGIN_NETWORK};
    snprintf(allowed.addr, sizeof(allowed.addr), "192.0.2.7");
    /* firewall: default Deny, one range */
    T_EXPECT(t_req(env, "PATCH", url, env->mgmt,
                   "{\"properties\":{\"networkAcls\":{\"defaultAction\":\"Deny\",\"bypass\":"
                   "\"AzureServices\",\"ipRules\":[{\"value\":\"192.0.2.0/24\"}]}}}"),
             200, NULL);
    T_EXPECT(t_req(env, "GET", dp, env->admin, NULL), 403, "ForbiddenByFirewall");
    T_EXPECT(t_req_full(env, "GET", dp, env->admin, NULL, &allowed, NULL), 200, NULL);
    T_EXPECT(t_req_full(env, "GET", dp, env->admin, NULL, &trusted, NULL), 200, NULL);
    /* public access off: only trusted services */
    T_EXPECT(t_req(env, "PATCH", url, env->mgmt,
                   "{\"properties\":{\"publicNetworkAccess\":\"Disabled\"}}"),
             200, NULL);
    T_EXPECT(t_req_full(env, "GET", dp, env->admin, NULL, &allowed, NULL), 403,
             "ForbiddenByConnection");
    T_EXPECT(t_req_full(env, "GET", dp, env->admin, NULL, &trusted, NULL), 200, NULL);
    /* no bypass: trusted services are refused too */
    T_EXPECT(t_req(env, "PATCH", url, env->mgmt,
                   "{\"properties\":{\"networkAcls\":{\"bypass\":\"None\"}}}"),
             200, NULL);
    T_EXPECT(t_req_full(env, "GET", dp, env->admin, NULL, &trusted, NULL), 403,
             "ForbiddenByConnection");
}

/* ---- kill -9 ------------------------------------------------------------------------------ */

static void test_sigkill(void **state)
{
    struct t_env *env = &((struct ctx *)*state)->env;
    t_hsm_ready(env, H, NULL);
    t_close(env);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        t_open(env);
        /* an acknowledged role assignment must survive */
        struct t_res r = t_assign(env, H, "/keys", "66666666-0000-4000-8000-000000000006",
                                  ROLE_SERVICE, T_SERVER);
        if (r.status == 201 && write(fds[1], "role\n", 5) != 5)
            _exit(3);
        t_res_free(&r);
        for (int i = 0;; i++) {
            char path[64], line[32];
            snprintf(path, sizeof(path), "/keys/k%d/create", i);
            r = t_dp_req(env, "POST", H, path, env->admin, "{\"kty\":\"EC-HSM\"}");
            if (r.status != 200)
                _exit(2);
            t_res_free(&r);
            int n = snprintf(line, sizeof(line), "k%d\n", i);
            if (write(fds[1], line, (size_t)n) != n)
                _exit(3);
        }
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char acked[16][16];
    int n = 0, role = 0;
    char line[64];
    while (n < 12 && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, "role") == 0)
            role = 1;
        else
            snprintf(acked[n++], sizeof(acked[0]), "%.15s", line);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    fclose(f);
    assert_true(WIFSIGNALED(status));
    assert_true(role);
    assert_int_equal(n, 12);
    t_open(env);
    assert_string_equal(hsm_activation_status(env->hsm, H), "Active");
    for (int i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/keys/%.15s", acked[i]);
        T_EXPECT(t_dp_req(env, "GET", H, path, env->server, NULL), 200, NULL); /* role there */
    }
    T_EXPECT(t_dp_req(env, "POST", H, "/keys/after/create", env->admin, "{\"kty\":\"EC-HSM\"}"),
             200, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_activation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_network, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
