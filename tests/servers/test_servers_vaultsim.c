/* test_servers_vaultsim.c: servers with customer-managed keys in the real Key Vault service
 * (vaultsim), everything arranged the way a customer does it: the vault through ARM (access
 * policies, network rules, soft delete, purge protection), the key through the keys data plane
 * as the administrator. Validation refusals at create (R4, R6, R7); each way of losing the key
 * of R9 turns the server Inaccessible within the default profile's windows, and each recovery
 * of R11 brings it back; R8 (trusted services pass the firewall, the administrator does not);
 * rotation re-wraps (R12); the vault's audit log shows the service's calls (R17).
 */
#include "controlplane/test/srv_test.h"
#include "vaultsim/vault.h"

#define ADMIN_OID CP_IDENTITY_ADMIN_OBJECT_ID
#define KEY_URI   "https://kv1.vault.azure.net/keys/k1"

static void open_vaults(struct t_env *env)
{
    struct cmk_err err;
    struct vs_vaults *v = NULL;
    if (vs_vaults_open(&v, &env->rt, &err) != 0)
        t_fail_err("vaults", &err);
    env->extra = v;
}

static void close_vaults(struct t_env *env)
{
    vs_vaults_free(env->extra);
    env->extra = NULL;
}

/* A keys data-plane request as the administrator, from a public address. */
static int t_vault(struct t_env *env, const char *method, const char *url, const json_t *body,
                   json_t **out)
{
    char *tok = NULL;
    struct cmk_err err;
    if (cp_identity_sp_token(&env->rt, CP_IDENTITY_ADMIN_CLIENT_ID, "https://vault.azure.net", &tok,
                             &err) != 0)
        t_fail_err("token", &err);
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
    int st = res.status;
    if (out)
        *out = cmk_response_json_body(&res);
    cmk_request_close(&req);
    cmk_response_close(&res);
    return st;
}

static json_t *policy(const char *oid, const char *perms)
{
    json_t *keys = json_array();
    char buf[200];
    snprintf(buf, sizeof(buf), "%s", perms);
    for (char *p = strtok(buf, ","); p; p = strtok(NULL, ","))
        json_array_append_new(keys, json_string(p));
    return json_pack("{s:s, s:s, s:{s:o}}", "tenantId", T_TENANT, "objectId", oid, "permissions",
                     "keys", keys);
}

static void vault_path(char *out, size_t n, const char *vault, const char *suffix, const char *api)
{
    snprintf(out, n,
             "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/%s%s?"
             "api-version=%s",
             T_SUB, vault, suffix, api ? api : "2026-02-01");
}

static void must(int got, int want, const char *what, json_t *out)
{
    if (got != want)
        fail_msg("%s: %d (want %d) %s %s", what, got, want, t_code(out), t_message(out));
}

/* A vault with the administrator's and oid's policies; a key k1 of size bits. */
static void make_vault(struct t_env *env, const char *name, const char *location, int purge,
                       int retention, const char *oid, const char *perms, int bits)
{
    char path[400], url[300];
    json_t *out = NULL;
    json_t *b =
        json_pack("{s:s, s:{s:s, s:{s:s, s:s}, s:[o, o], s:b, s:i}}", "location", location,
                  "properties", "tenantId", T_TENANT, "sku", "family", "A", "name", "standard",
                  "accessPolicies", policy(ADMIN_OID, "all"), policy(oid, perms),
                  "enableSoftDelete", 1, "softDeleteRetentionInDays", retention);
    if (purge)
        json_object_set_new(json_object_get(b, "properties"), "enablePurgeProtection", json_true());
    vault_path(path, sizeof(path), name, "", NULL);
    int st = t_mgmt(env, "PUT", path, b, &out);
    if (st != 200 && st != 201)
        must(st, 200, "vault", out);
    json_decref(b);
    json_decref(out);
    snprintf(url, sizeof(url), "https://%s.vault.azure.net/keys/k1/create?api-version=7.5", name);
    b = json_pack("{s:s, s:i}", "kty", "RSA", "key_size", bits);
    must(t_vault(env, "POST", url, b, &out), 200, "key", out);
    json_decref(b);
    json_decref(out);
}

static void access_policy(struct t_env *env, const char *op, const char *oid, const char *perms)
{
    char path[400];
    json_t *out = NULL;
    vault_path(path, sizeof(path), "kv1", op, NULL);
    json_t *b = json_pack("{s:{s:[o]}}", "properties", "accessPolicies", policy(oid, perms));
    int st = t_mgmt(env, "PUT", path, b, &out);
    if (st != 200 && st != 201)
        must(st, 200, "access policy", out);
    json_decref(b);
    json_decref(out);
}

struct fixture {
    struct t_env env;
    char id1[512], oid1[37];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->env.no_stub = 1;
    f->env.extra_open = open_vaults;
    f->env.extra_close = close_vaults;
    t_env_new(&f->env, "servers-vs");
    t_rg(&f->env, "rg", "eastus");
    t_identity(&f->env, "rg", "id1", "eastus", f->id1, f->oid1);
    make_vault(&f->env, "kv1", "eastus", 1, 90, f->oid1, "get,list,wrapKey,unwrapKey", 2048);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    t_env_free(&f->env);
    free(f);
    return 0;
}

static void put_server(struct fixture *f, const char *name, const char *uri, int status,
                       const char *code, const char *text)
{
    char path[512];
    json_t *out = NULL;
    t_server_path(path, sizeof(path), "rg", name, NULL);
    json_t *b = t_cmk_body("eastus", uri, f->id1, NULL, NULL);
    int st = t_mgmt(&f->env, "PUT", path, b, &out);
    json_decref(b);
    if (st != status || (code && strcmp(t_code(out), code)) ||
        (text && !strstr(t_message(out), text)))
        fail_msg("%s: %d %s %s (want %d %s '%s')", name, st, t_code(out), t_message(out), status,
                 code ? code : "", text ? text : "");
    json_decref(out);
}

static void test_validation(void **state)
{
    struct fixture *f = *state;
    char id2[512], oid2[37];
    t_identity(&f->env, "rg", "id2", "eastus", id2, oid2);
    make_vault(&f->env, "kvperm", "eastus", 1, 90, f->oid1, "get,list", 2048);
    put_server(f, "srv-perm", "https://kvperm.vault.azure.net/keys/k1", 400,
               "AzureKeyVaultMissingPermissions", "'WrapKey, UnwrapKey'");
    make_vault(&f->env, "kvnopp", "eastus", 0, 90, f->oid1, "get,list,wrapKey,unwrapKey", 2048);
    put_server(f, "srv-nopp", "https://kvnopp.vault.azure.net/keys/k1", 400,
               "AzureKeyVaultPurgeProtectionNotEnabled", NULL);
    make_vault(&f->env, "kv7", "eastus", 1, 7, f->oid1, "get,list,wrapKey,unwrapKey", 2048);
    put_server(f, "srv-7days", "https://kv7.vault.azure.net/keys/k1", 400,
               "AzureKeyVaultInvalidSoftDeleteRetention", "7 days");
    make_vault(&f->env, "kv3072", "eastus", 1, 90, f->oid1, "get,list,wrapKey,unwrapKey", 3072);
    put_server(f, "srv-3072", "https://kv3072.vault.azure.net/keys/k1", 400,
               "AzureKeyVaultUnsupportedKeySize", "RSA 3072");
    json_t *b = json_pack("{s:{s:b}}", "attributes", "enabled", 0), *out = NULL;
    must(t_vault(&f->env, "PATCH", "https://kv1.vault.azure.net/keys/k1?api-version=7.5", b, &out),
         200, "disable", out);
    json_decref(b);
    json_decref(out);
    put_server(f, "srv-disabled", KEY_URI, 400, "AzureKeyVaultKeyDisabled", NULL);
    put_server(f, "srv-nokey", "https://kv1.vault.azure.net/keys/nope", 400,
               "AzureKeyVaultKeyNotFound", NULL);
    b = json_pack("{s:{s:b}}", "attributes", "enabled", 1);
    must(t_vault(&f->env, "PATCH", "https://kv1.vault.azure.net/keys/k1?api-version=7.5", b, &out),
         200, "enable", out);
    json_decref(b);
    json_decref(out);
    put_server(f, "srv-good", KEY_URI, 202, NULL, NULL);
    t_advance(&f->env, 5 * CMK_MINUTE);
    char st[32];
    assert_string_equal(t_state(&f->env, "rg", "srv-good", st, sizeof(st)), "Ready");
}

static void status_of(struct fixture *f, const char *name, struct cp_server_status *out)
{
    char id[512];
    struct cmk_err err;
    snprintf(id, sizeof(id),
             "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/"
             "flexibleServers/%s",
             T_SUB, name);
    if (cp_server_status(f->env.s, id, out, &err) != 0)
        t_fail_err("status", &err);
}

enum cause { C_REVOKE, C_DEL_KEY, C_DEL_VAULT, C_FIREWALL, C_DEL_IDENTITY, C_DISABLE, C_EXPIRE };
static const struct {
    const char *server, *cause;
    int limit;
} causes[] = {
    [C_REVOKE] = {"vs-revoke", "PermissionRevoked", 10},
    [C_DEL_KEY] = {"vs-delkey", "KeyDeleted", 60},
    [C_DEL_VAULT] = {"vs-delvault", "VaultDeleted", 60},
    [C_FIREWALL] = {"vs-firewall", "FirewallBlocked", 10},
    [C_DEL_IDENTITY] = {"vs-delid", "IdentityDeleted", 10},
    [C_DISABLE] = {"vs-disable", "KeyDisabled", 60},
    [C_EXPIRE] = {"vs-expire", "KeyExpired", 60},
};

static void firewall(struct fixture *f, const char *bypass)
{
    char path[400];
    json_t *out = NULL;
    vault_path(path, sizeof(path), "kv1", "", NULL);
    json_t *b = json_pack("{s:{s:{s:s, s:s}}}", "properties", "networkAcls", "defaultAction",
                          "Deny", "bypass", bypass);
    must(t_mgmt(&f->env, "PATCH", path, b, &out), 200, "firewall", out);
    json_decref(b);
    json_decref(out);
}

static void key_attrs(struct fixture *f, json_t *attrs)
{
    json_t *b = json_pack("{s:o}", "attributes", attrs), *out = NULL;
    must(t_vault(&f->env, "PATCH", "https://kv1.vault.azure.net/keys/k1?api-version=7.5", b, &out),
         200, "key attributes", out);
    json_decref(b);
    json_decref(out);
}

static void change(struct fixture *f, enum cause c, int fix)
{
    char path[400];
    json_t *out = NULL;
    struct cmk_err err;
    cmk_time_t now = cmk_clock_now(&f->env.rt.clock);
    switch (c) {
    case C_REVOKE:
        access_policy(&f->env, fix ? "/accessPolicies/add" : "/accessPolicies/remove", f->oid1,
                      "get,list,wrapKey,unwrapKey");
        break;
    case C_DEL_KEY:
        must(t_vault(&f->env, fix ? "POST" : "DELETE",
                     fix ? "https://kv1.vault.azure.net/deletedkeys/k1/recover?api-version=7.5"
                         : "https://kv1.vault.azure.net/keys/k1?api-version=7.5",
                     NULL, &out),
             200, "key delete/recover", out);
        json_decref(out);
        break;
    case C_DEL_VAULT:
        vault_path(path, sizeof(path), "kv1", "", NULL);
        if (!fix) {
            must(t_mgmt(&f->env, "DELETE", path, NULL, &out), 200, "vault delete", out);
        } else {
            json_t *b = json_pack("{s:s, s:{s:s, s:s, s:{s:s, s:s}}}", "location", "eastus",
                                  "properties", "createMode", "recover", "tenantId", T_TENANT,
                                  "sku", "family", "A", "name", "standard");
            int st = t_mgmt(&f->env, "PUT", path, b, &out);
            if (st != 200 && st != 201)
                must(st, 200, "vault recover", out);
            json_decref(b);
        }
        json_decref(out);
        break;
    case C_FIREWALL:
        firewall(f, fix ? "AzureServices" : "None");
        break;
    case C_DEL_IDENTITY:
        if (!fix) {
            if (cp_identity_mi_delete(f->env.ids, T_SUB, "rg", "id1", &err) != 0)
                t_fail_err("delete identity", &err);
        } else { /* the identity again, granted again */
            t_identity(&f->env, "rg", "id1", "eastus", f->id1, f->oid1);
            access_policy(&f->env, "/accessPolicies/add", f->oid1, "get,list,wrapKey,unwrapKey");
        }
        break;
    case C_DISABLE:
        key_attrs(f, json_pack("{s:b}", "enabled", fix));
        break;
    case C_EXPIRE:
        key_attrs(f, json_pack("{s:I}", "exp",
                               (json_int_t)((now + (fix ? 365 * CMK_DAY : CMK_MINUTE)) / 1000)));
        break;
    }
}

static void loss_and_recovery(void **state, enum cause c)
{
    struct fixture *f = *state;
    const char *name = causes[c].server;
    put_server(f, name, KEY_URI, 202, NULL, NULL);
    t_advance(&f->env, 30 * CMK_MINUTE);
    struct cp_server_status s;
    status_of(f, name, &s);
    assert_int_equal(s.state, CP_STATE_READY);
    change(f, c, 0);
    int locked = -1, inaccessible = -1;
    for (int m = 1; m <= 70 && inaccessible < 0; m++) {
        t_advance(&f->env, CMK_MINUTE);
        status_of(f, name, &s);
        if (s.locked && locked < 0)
            locked = m;
        if (s.state == CP_STATE_INACCESSIBLE)
            inaccessible = m;
    }
    if (locked < 0 || locked > 10 || inaccessible < 0 || inaccessible > causes[c].limit)
        fail_msg("%s: denied after %d, Inaccessible after %d minutes", name, locked, inaccessible);
    assert_string_equal(s.cause, causes[c].cause);
    change(f, c, 1);
    int ready = -1;
    for (int m = 1; m <= 60 && ready < 0; m++) {
        t_advance(&f->env, CMK_MINUTE);
        status_of(f, name, &s);
        if (s.state == CP_STATE_READY && !s.locked)
            ready = m;
    }
    if (ready < 0)
        fail_msg("%s: not Ready within 60 minutes of the recovery (%s: %s)", name, s.cause,
                 s.message);
}

static void test_revoke(void **state)
{
    loss_and_recovery(state, C_REVOKE);
}
static void test_delete_key(void **state)
{
    loss_and_recovery(state, C_DEL_KEY);
}
static void test_delete_vault(void **state)
{
    loss_and_recovery(state, C_DEL_VAULT);
}
static void test_firewall(void **state)
{
    loss_and_recovery(state, C_FIREWALL);
}
static void test_delete_identity(void **state)
{
    loss_and_recovery(state, C_DEL_IDENTITY);
}
static void test_disable(void **state)
{
    loss_and_recovery(state, C_DISABLE);
}
static void test_expire(void **state)
{
    loss_and_recovery(state, C_EXPIRE);
}

/* R8 + R12 + R17. */
static void test_trusted_services_rotation_audit(void **state)
{
    struct fixture *f = *state;
    put_server(f, "vs-r8", KEY_URI, 202, NULL, NULL);
    t_advance(&f->env, 10 * CMK_MINUTE);
    firewall(f, "AzureServices");
    json_t *out = NULL;
    must(t_vault(&f->env, "GET", "https://kv1.vault.azure.net/keys/k1?api-version=7.5", NULL, &out),
         403, "admin behind the firewall", out);
    json_decref(out);
    must(t_vault(&f->env, "POST", "https://kv1.vault.azure.net/keys/k1/rotate?api-version=7.5",
                 NULL, &out),
         403, "admin rotate behind the firewall", out);
    json_decref(out);
    firewall(f, "AzureServices"); /* still on */
    t_advance(&f->env, 30 * CMK_MINUTE);
    struct cp_server_status s;
    status_of(f, "vs-r8", &s);
    assert_int_equal(s.state, CP_STATE_READY);
    assert_false(s.locked);
    /* Rotation (the administrator from an allowed network). */
    char path[400];
    vault_path(path, sizeof(path), "kv1", "", NULL);
    json_t *b = json_pack("{s:{s:{s:s, s:s}}}", "properties", "networkAcls", "defaultAction",
                          "Allow", "bypass", "AzureServices");
    must(t_mgmt(&f->env, "PATCH", path, b, &out), 200, "open firewall", out);
    json_decref(b);
    json_decref(out);
    must(t_vault(&f->env, "POST", "https://kv1.vault.azure.net/keys/k1/rotate?api-version=7.5",
                 NULL, &out),
         200, "rotate", out);
    const char *kid = json_string_value(json_object_get(json_object_get(out, "key"), "kid"));
    char newkid[300];
    snprintf(newkid, sizeof(newkid), "%s", kid ? kid : "");
    json_decref(out);
    t_advance(&f->env, 10 * CMK_MINUTE);
    struct cmk_err err;
    json_t *list = cmk_arm_activity_list(f->env.arm, T_SUB, NULL, &err);
    size_t i;
    json_t *e;
    int rotated = 0;
    json_array_foreach(list, i, e)
    {
        const char *d = json_string_value(json_object_get(e, "description"));
        if (d && strstr(d, "re-wrapped") && strstr(d, newkid))
            rotated = 1;
    }
    json_decref(list);
    assert_true(rotated);
    /* R17: the vault's audit log has the service's own calls, as its identity. */
    struct cmk_buf audit;
    cmk_buf_init(&audit);
    int64_t last = 0;
    assert_int_equal(vs_vaults_audit_read(f->env.extra, "kv1", 0, &audit, &last, &err), 0);
    assert_non_null(strstr(audit.data, f->oid1));
    assert_non_null(strstr(audit.data, "\"KeyUnwrap\""));
    cmk_buf_close(&audit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_vault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_firewall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trusted_services_rotation_audit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
