/* test_server_validate.c: every refusal of a customer-managed key at create (R4-R7, R14, R15),
 * as a client sees it: 400, the service's error code, a message naming the cause, and no
 * server left behind. The key is probed as the server's identity through the router (here the
 * stand-in vault of srv_test.h); the vault's properties come from its ARM metadata.
 */
#include "srv_test.h"

struct fixture {
    struct t_env env;
    char id1[512], oid1[37], id2[512], oid2[37], idw[512], oidw[37];
    struct stub_vault *kv, *kvw;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    t_env_new(&f->env, "validate");
    t_rg(&f->env, "rg", "eastus");
    t_identity(&f->env, "rg", "id1", "eastus", f->id1, f->oid1);
    t_identity(&f->env, "rg", "id2", "eastus", f->id2, f->oid2);
    t_identity(&f->env, "rg", "idw", "westus", f->idw, f->oidw);
    f->kv = stub_vault_add(&f->env, "rg", "kv1", "eastus", 0, 1, 90, 1);
    stub_key_add(f->kv, "k1", "RSA", 2048);
    stub_grant(f->kv, f->oid1, KP_ALL);
    f->kvw = stub_vault_add(&f->env, "rg", "kvwest", "westus", 0, 1, 90, 1);
    stub_key_add(f->kvw, "kw", "RSA", 2048);
    stub_grant(f->kvw, f->oidw, KP_ALL);
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

#define KEY(v, k) "https://" v ".vault.azure.net/keys/" k

/* PUT a server; expect status and (for errors) code, and a message containing text. */
static void expect_put(struct fixture *f, const char *name, json_t *body, int status,
                       const char *code, const char *text)
{
    char path[512];
    json_t *out = NULL;
    t_server_path(path, sizeof(path), "rg", name, NULL);
    int st = t_mgmt(&f->env, "PUT", path, body, &out);
    json_decref(body);
    if (st != status || (code && strcmp(t_code(out), code) != 0) ||
        (text && strstr(t_message(out), text) == NULL)) {
        char *dump = out ? json_dumps(out, 0) : NULL;
        fail_msg("%s: got %d %s, want %d %s containing '%s'", name, st, dump ? dump : "", status,
                 code ? code : "", text ? text : "");
    }
    json_decref(out);
    if (status >= 400) { /* no half-made server */
        json_t *g = NULL;
        assert_int_equal(t_mgmt(&f->env, "GET", path, NULL, &g), 404);
        json_decref(g);
    }
}

static void test_accepted_and_ready(void **state)
{
    struct fixture *f = *state;
    expect_put(f, "good", t_cmk_body("eastus", KEY("kv1", "k1"), f->id1, NULL, NULL), 202, NULL,
               NULL);
    char st[32];
    assert_string_equal(t_state(&f->env, "rg", "good", st, sizeof(st)), "Provisioning");
    t_advance(&f->env, 10 * CMK_MINUTE);
    assert_string_equal(t_state(&f->env, "rg", "good", st, sizeof(st)), "Ready");
    char path[512];
    json_t *j = NULL;
    t_server_path(path, sizeof(path), "rg", "good", NULL);
    assert_int_equal(t_mgmt(&f->env, "GET", path, NULL, &j), 200);
    json_t *p = json_object_get(j, "properties");
    json_t *de = json_object_get(p, "dataEncryption");
    assert_string_equal(json_string_value(json_object_get(de, "primaryEncryptionKeyStatus")),
                        "Valid");
    assert_string_equal(json_string_value(json_object_get(p, "fullyQualifiedDomainName")),
                        "good.postgres.database.azure.com");
    assert_null(json_object_get(p, "administratorLoginPassword")); /* never echoed */
    assert_null(json_object_get(j, "cmksim"));
    json_t *mi = json_object_get(
        json_object_get(json_object_get(j, "identity"), "userAssignedIdentities"), f->id1);
    assert_string_equal(json_string_value(json_object_get(mi, "principalId")), f->oid1);
    json_decref(j);
}

static void test_missing_permissions(void **state)
{
    struct fixture *f = *state;
    static const struct {
        unsigned perms;
        const char *missing;
    } cases[] = {
        {KP_ALL & ~KP_GET, "missing: 'Get'"},
        {KP_ALL & ~KP_LIST, "missing: 'List'"},
        {KP_ALL & ~KP_WRAP, "missing: 'WrapKey'"},
        {KP_ALL & ~KP_UNWRAP, "missing: 'UnwrapKey'"},
        {KP_GET | KP_WRAP, "missing: 'List, UnwrapKey'"},
        {0, "missing: 'Get, List, WrapKey, UnwrapKey'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        stub_grant(f->kv, f->oid2, cases[i].perms);
        expect_put(f, "noperm", t_cmk_body("eastus", KEY("kv1", "k1"), f->id2, NULL, NULL), 400,
                   "AzureKeyVaultMissingPermissions", cases[i].missing);
    }
}

static void set_vault_prop(struct fixture *f, const char *vault, const char *key, json_t *v)
{
    char id[512];
    snprintf(id, sizeof(id),
             "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/%s", T_SUB,
             vault);
    struct cmk_arm_resource r;
    struct cmk_err err;
    if (cmk_arm_resource_get(f->env.arm, id, &r, &err) != 0)
        t_fail_err("vault", &err);
    json_object_set_new(json_object_get(r.doc, "properties"), key, v);
    if (cmk_arm_resource_put(f->env.arm, id, r.doc, "test", &err) != 0)
        t_fail_err("vault put", &err);
    cmk_arm_resource_close(&r);
}

static void test_vault_rules(void **state)
{
    struct fixture *f = *state;
    /* R5: another tenant. */
    struct stub_vault *v = stub_vault_add(&f->env, "rg", "kvtenant", "eastus", 0, 1, 90, 1);
    stub_key_add(v, "k", "RSA", 2048);
    stub_grant(v, f->oid1, KP_ALL);
    set_vault_prop(f, "kvtenant", "tenantId", json_string(T_OTHER_TENANT));
    expect_put(f, "srv5", t_cmk_body("eastus", KEY("kvtenant", "k"), f->id1, NULL, NULL), 400,
               "AzureKeyVaultCrossTenantNotSupported", T_OTHER_TENANT);
    /* R6: soft delete, purge protection, 90 days. */
    v = stub_vault_add(&f->env, "rg", "kvnosd", "eastus", 0, 0, 90, 1);
    stub_key_add(v, "k", "RSA", 2048);
    stub_grant(v, f->oid1, KP_ALL);
    expect_put(f, "srv6a", t_cmk_body("eastus", KEY("kvnosd", "k"), f->id1, NULL, NULL), 400,
               "AzureKeyVaultSoftDeleteNotEnabled", "kvnosd");
    v = stub_vault_add(&f->env, "rg", "kvnopp", "eastus", 0, 1, 90, 0);
    stub_key_add(v, "k", "RSA", 2048);
    stub_grant(v, f->oid1, KP_ALL);
    expect_put(f, "srv6b", t_cmk_body("eastus", KEY("kvnopp", "k"), f->id1, NULL, NULL), 400,
               "AzureKeyVaultPurgeProtectionNotEnabled", "kvnopp");
    v = stub_vault_add(&f->env, "rg", "kv7days", "eastus", 0, 1, 7, 1);
    stub_key_add(v, "k", "RSA", 2048);
    stub_grant(v, f->oid1, KP_ALL);
    expect_put(f, "srv6c", t_cmk_body("eastus", KEY("kv7days", "k"), f->id1, NULL, NULL), 400,
               "AzureKeyVaultInvalidSoftDeleteRetention", "7 days");
    /* The profile with the service's newer rule accepts 7 days. */
    json_t *b = t_cmk_body("eastus", KEY("kv7days", "k"), f->id1, NULL, NULL);
    json_object_set_new(b, "tags", json_pack("{s:s}", "cmksim-profile", "service-2025"));
    expect_put(f, "srv6d", b, 202, NULL, NULL);
    /* Unknown vault and key. */
    expect_put(f, "srv6e", t_cmk_body("eastus", KEY("nosuchvault", "k"), f->id1, NULL, NULL), 400,
               "AzureKeyVaultNotFound", "nosuchvault");
    expect_put(f, "srv6f", t_cmk_body("eastus", KEY("kv1", "nokey"), f->id1, NULL, NULL), 400,
               "AzureKeyVaultKeyNotFound", "nokey");
    expect_put(f, "srv6g", t_cmk_body("eastus", "https://example.com/k", f->id1, NULL, NULL), 400,
               "AzureKeyVaultInvalidKeyUri", "example.com");
}

static void test_key_rules(void **state)
{
    struct fixture *f = *state;
    struct stub_key *k = stub_key_add(f->kv, "k3072", "RSA", 3072);
    expect_put(f, "srv7a", t_cmk_body("eastus", KEY("kv1", "k3072"), f->id1, NULL, NULL), 400,
               "AzureKeyVaultUnsupportedKeySize", "RSA 3072");
    k = stub_key_add(f->kv, "kec", "EC", 256);
    expect_put(f, "srv7b", t_cmk_body("eastus", KEY("kv1", "kec"), f->id1, NULL, NULL), 400,
               "AzureKeyVaultUnsupportedKeyType", "'EC'");
    k = stub_key_add(f->kv, "kdis", "RSA", 2048);
    k->enabled = 0;
    expect_put(f, "srv7c", t_cmk_body("eastus", KEY("kv1", "kdis"), f->id1, NULL, NULL), 400,
               "AzureKeyVaultKeyDisabled", "disabled");
    cmk_time_t now = cmk_clock_now(&f->env.rt.clock);
    k = stub_key_add(f->kv, "knbf", "RSA", 2048);
    k->nbf = now + CMK_DAY;
    expect_put(f, "srv7d", t_cmk_body("eastus", KEY("kv1", "knbf"), f->id1, NULL, NULL), 400,
               "AzureKeyVaultKeyNotYetActive", "activates on");
    k = stub_key_add(f->kv, "kexp", "RSA", 2048);
    k->exp = now - CMK_DAY;
    expect_put(f, "srv7e", t_cmk_body("eastus", KEY("kv1", "kexp"), f->id1, NULL, NULL), 400,
               "AzureKeyVaultKeyExpired", "expired on");
    /* A key with a future expiry and a past activation is fine. */
    k = stub_key_add(f->kv, "kok", "RSA-HSM", 2048);
    k->nbf = now - CMK_DAY;
    k->exp = now + 365 * CMK_DAY;
    expect_put(f, "srv7f", t_cmk_body("eastus", KEY("kv1", "kok"), f->id1, NULL, NULL), 202, NULL,
               NULL);
}

static void test_identity_rules(void **state)
{
    struct fixture *f = *state;
    json_t *b = t_cmk_body("eastus", KEY("kv1", "k1"), f->id1, NULL, NULL);
    /* The key's identity is not in the server's identity map. */
    json_object_set_new(json_object_get(b, "identity"), "userAssignedIdentities",
                        json_pack("{s:{}}", f->id2));
    expect_put(f, "srv4a", b, 400, "CMKInvalidEncryptionParameters", "is not assigned");
    char ghost[600];
    snprintf(ghost, sizeof(ghost),
             "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
             "userAssignedIdentities/ghost",
             T_SUB);
    expect_put(f, "srv4b", t_cmk_body("eastus", KEY("kv1", "k1"), ghost, NULL, NULL), 400,
               "UserAssignedIdentityNotFound", "ghost");
    /* dataEncryption AzureKeyVault without a key. */
    b = t_cmk_body("eastus", KEY("kv1", "k1"), f->id1, NULL, NULL);
    json_object_del(json_object_get(json_object_get(b, "properties"), "dataEncryption"),
                    "primaryKeyURI");
    expect_put(f, "srv4c", b, 400, "CMKInvalidEncryptionParameters", "primaryKeyURI");
}

static void test_firewall(void **state)
{
    struct fixture *f = *state;
    struct stub_vault *v = stub_vault_add(&f->env, "rg", "kvfw", "eastus", 0, 1, 90, 1);
    stub_key_add(v, "k", "RSA", 2048);
    stub_grant(v, f->oid1, KP_ALL);
    v->public_disabled = 1;
    v->bypass = 0;
    expect_put(f, "srv8a", t_cmk_body("eastus", KEY("kvfw", "k"), f->id1, NULL, NULL), 400,
               "AzureKeyVaultForbiddenByFirewall", "kvfw");
    v->bypass = 1; /* R8: allow trusted Microsoft services */
    expect_put(f, "srv8b", t_cmk_body("eastus", KEY("kvfw", "k"), f->id1, NULL, NULL), 202, NULL,
               NULL);
}

static void test_geo_rules(void **state)
{
    struct fixture *f = *state;
    /* Geo-redundant backup needs the geo key and identity. */
    json_t *b = t_cmk_body("eastus", KEY("kv1", "k1"), f->id1, NULL, NULL);
    json_object_set_new(json_object_get(json_object_get(b, "properties"), "backup"),
                        "geoRedundantBackup", json_string("Enabled"));
    expect_put(f, "geo1", b, 400, "CMKInvalidEncryptionParameters", "Geo-Backup Encryption");
    /* The geo key must be in the paired region (eastus -> westus). */
    stub_grant(f->kv, f->oidw, KP_ALL);
    expect_put(f, "geo2", t_cmk_body("eastus", KEY("kv1", "k1"), f->id1, KEY("kv1", "k1"), f->idw),
               400, "CMKGeoBackupKeyNotInPairedRegion", "westus");
    /* Not the primary's identity. */
    stub_grant(f->kvw, f->oid1, KP_ALL);
    expect_put(f, "geo3",
               t_cmk_body("eastus", KEY("kv1", "k1"), f->id1, KEY("kvwest", "kw"), f->id1), 400,
               "CMKGeoBackupIdentitySameAsPrimary", NULL);
    /* The geo identity needs its own permissions. */
    stub_grant(f->kvw, f->oidw, KP_GET | KP_LIST);
    expect_put(f, "geo4",
               t_cmk_body("eastus", KEY("kv1", "k1"), f->id1, KEY("kvwest", "kw"), f->idw), 400,
               "AzureKeyVaultMissingPermissions", "WrapKey, UnwrapKey");
    stub_grant(f->kvw, f->oidw, KP_ALL);
    expect_put(f, "geo5",
               t_cmk_body("eastus", KEY("kv1", "k1"), f->id1, KEY("kvwest", "kw"), f->idw), 202,
               NULL, NULL);
}

static void test_replica_rules(void **state)
{
    struct fixture *f = *state;
    expect_put(f, "primary", t_cmk_body("eastus", KEY("kv1", "k1"), f->id1, NULL, NULL), 202, NULL,
               NULL);
    t_advance(&f->env, 10 * CMK_MINUTE);
    char src[512];
    snprintf(src, sizeof(src),
             "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/"
             "flexibleServers/primary",
             T_SUB);
    /* A replica in westus with the primary's (eastus) key: refused. */
    json_t *b = t_cmk_body("westus", KEY("kv1", "k1"), f->idw, NULL, NULL);
    json_t *p = json_object_get(b, "properties");
    json_object_set_new(p, "createMode", json_string("Replica"));
    json_object_set_new(p, "sourceServerResourceId", json_string(src));
    stub_grant(f->kv, f->oidw, KP_ALL);
    expect_put(f, "rep1", b, 400, "CMKReplicaKeyNotInReplicaRegion", "westus");
    /* Its own key in westus, but an identity from eastus: refused. */
    stub_grant(f->kvw, f->oid2, KP_ALL);
    b = t_cmk_body("westus", KEY("kvwest", "kw"), f->id2, NULL, NULL);
    p = json_object_get(b, "properties");
    json_object_set_new(p, "createMode", json_string("Replica"));
    json_object_set_new(p, "sourceServerResourceId", json_string(src));
    expect_put(f, "rep2", b, 400, "CMKReplicaIdentityNotInReplicaRegion", "eastus");
    /* Without dataEncryption in another region: its own key is required. */
    b = json_pack("{s:s, s:{s:s, s:s}}", "location", "westus", "properties", "createMode",
                  "Replica", "sourceServerResourceId", src);
    expect_put(f, "rep3", b, 400, "CMKInvalidEncryptionParameters", "replica's region");
    /* Key and identity of the replica's region: accepted, a GeoAsyncReplica. */
    b = t_cmk_body("westus", KEY("kvwest", "kw"), f->idw, NULL, NULL);
    p = json_object_get(b, "properties");
    json_object_set_new(p, "createMode", json_string("Replica"));
    json_object_set_new(p, "sourceServerResourceId", json_string(src));
    expect_put(f, "rep4", b, 202, NULL, NULL);
}

static void test_hsm(void **state)
{
    struct fixture *f = *state;
    struct stub_vault *h = stub_vault_add(&f->env, "rg", "hsm1", "eastus", 1, 1, 90, 1);
    stub_key_add(h, "hk", "RSA-HSM", 2048);
    stub_grant(h, f->oid2, KP_GET | KP_LIST);
    const char *uri = "https://hsm1.managedhsm.azure.net/keys/hk";
    expect_put(f, "hsm-1", t_cmk_body("eastus", uri, f->id2, NULL, NULL), 400,
               "AzureKeyVaultMissingPermissions", "WrapKey, UnwrapKey");
    stub_grant(h, f->oid2, KP_ALL);
    expect_put(f, "hsm-2", t_cmk_body("eastus", uri, f->id2, NULL, NULL), 202, NULL, NULL);
    struct stub_vault *h2 = stub_vault_add(&f->env, "rg", "hsm2", "eastus", 1, 1, 90, 0);
    stub_key_add(h2, "hk", "RSA-HSM", 2048);
    stub_grant(h2, f->oid2, KP_ALL);
    expect_put(
        f, "hsm-3",
        t_cmk_body("eastus", "https://hsm2.managedhsm.azure.net/keys/hk", f->id2, NULL, NULL), 400,
        "AzureKeyVaultPurgeProtectionNotEnabled", "managed HSM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accepted_and_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vault_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_firewall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_geo_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hsm, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
