/* test_server_monitor.c: the key monitor on the virtual clock (R9-R12). Each way of losing the
 * key (revoked permissions, deleted key, deleted vault, firewall without the trusted-services
 * bypass, deleted identity, disabled key, expired key) denies connections within 10 minutes
 * and turns the server Inaccessible within the seed's window under the "default" profile, with
 * the cause named in the status, the activity log and resource health; each recovery path
 * brings it back to Ready within 60 minutes. An outage of the vault is told apart from a
 * revocation. Rotation of a versionless key re-wraps (R12); a geo-backup key loss degrades.
 */
#include "srv_test.h"

/* A data plane that only counts (the hooks' contract, without files). */
struct fake_dp {
    int provisions, locks, unlocks, rewraps;
    uint64_t denied;
    char last_cause[600], last_kid[512];
    int fail_unlock;
};

static int dp_provision(void *d, const struct cp_dp_server *s, struct cmk_err *err)
{
    ((struct fake_dp *)d)->provisions++;
    return 0;
}
static void dp_lock(void *d, const char *id, const char *cause)
{
    struct fake_dp *f = d;
    f->locks++;
    snprintf(f->last_cause, sizeof(f->last_cause), "%s", cause);
}
static int dp_unlock(void *d, const struct cp_dp_server *s, struct cmk_err *err)
{
    struct fake_dp *f = d;
    if (f->fail_unlock)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "UnwrapFailed", "cannot unwrap the DEK");
    f->unlocks++;
    return 0;
}
static int dp_rewrap(void *d, const struct cp_dp_server *s, struct cmk_err *err)
{
    struct fake_dp *f = d;
    f->rewraps++;
    snprintf(f->last_kid, sizeof(f->last_kid), "%s", s->key_kid);
    return 0;
}
static uint64_t dp_denied(void *d, const char *id)
{
    return ((struct fake_dp *)d)->denied;
}

struct fixture {
    struct t_env env;
    struct fake_dp dp;
    char id1[512], oid1[37];
    struct stub_vault *kv;
    struct stub_key *key;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    t_env_new(&f->env, "monitor");
    t_rg(&f->env, "rg", "eastus");
    t_identity(&f->env, "rg", "id1", "eastus", f->id1, f->oid1);
    f->kv = stub_vault_add(&f->env, "rg", "kv1", "eastus", 0, 1, 90, 1);
    f->key = stub_key_add(f->kv, "k1", "RSA", 2048);
    stub_grant(f->kv, f->oid1, KP_ALL);
    struct cp_dataplane_ops ops = {
        .version = CP_DATAPLANE_OPS_VERSION,
        .data = &f->dp,
        .provision = dp_provision,
        .lock = dp_lock,
        .unlock = dp_unlock,
        .rewrap = dp_rewrap,
        .denied_connections = dp_denied,
    };
    cp_servers_set_dataplane(f->env.s, &ops);
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

static void server_id(char *out, size_t n, const char *name)
{
    snprintf(out, n,
             "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/"
             "flexibleServers/%s",
             T_SUB, name);
}

static void create_ready(struct fixture *f, const char *name, const char *key_uri)
{
    char path[512], st[32];
    t_server_path(path, sizeof(path), "rg", name, NULL);
    json_t *b = t_cmk_body("eastus", key_uri, f->id1, NULL, NULL);
    json_t *out = NULL;
    int status = t_mgmt(&f->env, "PUT", path, b, &out);
    if (status != 202)
        fail_msg("create %s: %d %s", name, status, t_message(out));
    json_decref(b);
    json_decref(out);
    t_advance(&f->env, 5 * CMK_MINUTE);
    assert_string_equal(t_state(&f->env, "rg", name, st, sizeof(st)), "Ready");
}

static void status_of(struct fixture *f, const char *name, struct cp_server_status *out)
{
    char id[512];
    struct cmk_err err;
    server_id(id, sizeof(id), name);
    if (cp_server_status(f->env.s, id, out, &err) != 0)
        t_fail_err("status", &err);
}

/* Advance minute by minute up to limit; the minutes after which the server was first locked
 * and first Inaccessible (-1 if never). */
static void watch(struct fixture *f, const char *name, int limit, int *locked_at,
                  int *inaccessible_at)
{
    *locked_at = *inaccessible_at = -1;
    for (int m = 1; m <= limit && *inaccessible_at < 0; m++) {
        t_advance(&f->env, CMK_MINUTE);
        struct cp_server_status s;
        status_of(f, name, &s);
        if (s.locked && *locked_at < 0)
            *locked_at = m;
        if (s.state == CP_STATE_INACCESSIBLE)
            *inaccessible_at = m;
    }
}

static int ready_within(struct fixture *f, const char *name, int limit)
{
    for (int m = 1; m <= limit; m++) {
        t_advance(&f->env, CMK_MINUTE);
        struct cp_server_status s;
        status_of(f, name, &s);
        if (s.state == CP_STATE_READY && !s.locked && s.key_valid)
            return m;
    }
    return -1;
}

/* The activity log has an entry for name whose operation contains op and description what. */
static int activity_has(struct fixture *f, const char *name, const char *op, const char *what)
{
    struct cmk_err err;
    json_t *list = cmk_arm_activity_list(f->env.arm, T_SUB, NULL, &err);
    size_t i;
    json_t *e;
    int found = 0;
    json_array_foreach(list, i, e)
    {
        const char *rid = json_string_value(json_object_get(e, "resourceId"));
        json_t *opn = json_object_get(json_object_get(e, "operationName"), "value");
        const char *d = json_string_value(json_object_get(e, "description"));
        if (rid && strstr(rid, name) && json_string_value(opn) &&
            strstr(json_string_value(opn), op) && (what == NULL || (d && strstr(d, what))))
            found = 1;
    }
    json_decref(list);
    return found;
}

enum cause { C_REVOKE, C_DEL_KEY, C_DEL_VAULT, C_FIREWALL, C_DEL_IDENTITY, C_DISABLE, C_EXPIRE };

static const struct {
    const char *server, *cause_name;
    int deny_max, inaccessible_max;
} causes[] = {
    [C_REVOKE] = {"m-revoke", "PermissionRevoked", 10, 10},
    [C_DEL_KEY] = {"m-delkey", "KeyDeleted", 10, 60},
    [C_DEL_VAULT] = {"m-delvault", "VaultDeleted", 10, 60},
    [C_FIREWALL] = {"m-firewall", "FirewallBlocked", 10, 10},
    [C_DEL_IDENTITY] = {"m-delid", "IdentityDeleted", 10, 10},
    [C_DISABLE] = {"m-disable", "KeyDisabled", 10, 60},
    [C_EXPIRE] = {"m-expire", "KeyExpired", 10, 60},
};

static void vault_metadata(struct fixture *f, int present)
{
    char id[512];
    snprintf(id, sizeof(id),
             "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1", T_SUB);
    struct cmk_err err;
    if (!present) {
        cmk_arm_resource_delete(f->env.arm, id, &err);
        return;
    }
    json_t *doc = json_pack("{s:s, s:{s:s, s:b, s:i, s:b}}", "location", "eastus", "properties",
                            "tenantId", T_TENANT, "enableSoftDelete", 1,
                            "softDeleteRetentionInDays", 90, "enablePurgeProtection", 1);
    if (cmk_arm_resource_put(f->env.arm, id, doc, "test", &err) != 0)
        t_fail_err("vault", &err);
    json_decref(doc);
}

static void break_it(struct fixture *f, enum cause c)
{
    struct cmk_err err;
    switch (c) {
    case C_REVOKE:
        stub_grant(f->kv, f->oid1, 0);
        break;
    case C_DEL_KEY:
        f->key->deleted = 1;
        break;
    case C_DEL_VAULT:
        f->kv->deleted = 1;
        vault_metadata(f, 0);
        break;
    case C_FIREWALL:
        f->kv->public_disabled = 1;
        f->kv->bypass = 0;
        break;
    case C_DEL_IDENTITY:
        if (cp_identity_mi_delete(f->env.ids, T_SUB, "rg", "id1", &err) != 0)
            t_fail_err("delete identity", &err);
        break;
    case C_DISABLE:
        f->key->enabled = 0;
        break;
    case C_EXPIRE:
        f->key->exp = cmk_clock_now(&f->env.rt.clock) + 1; /* expires now */
        break;
    }
}

static void fix_it(struct fixture *f, enum cause c)
{
    switch (c) {
    case C_REVOKE:
        stub_grant(f->kv, f->oid1, KP_ALL); /* re-grant */
        break;
    case C_DEL_KEY:
        f->key->deleted = 0; /* recover the soft-deleted key */
        break;
    case C_DEL_VAULT:
        f->kv->deleted = 0; /* recover the vault */
        vault_metadata(f, 1);
        break;
    case C_FIREWALL:
        f->kv->bypass = 1; /* allow trusted Microsoft services */
        break;
    case C_DEL_IDENTITY: /* a new identity of the same name, granted again */
        t_identity(&f->env, "rg", "id1", "eastus", f->id1, f->oid1);
        stub_grant(f->kv, f->oid1, KP_ALL);
        break;
    case C_DISABLE:
        f->key->enabled = 1;
        break;
    case C_EXPIRE:
        f->key->exp = cmk_clock_now(&f->env.rt.clock) + 365 * CMK_DAY;
        break;
    }
}

static void loss_and_recovery(void **state, enum cause c)
{
    struct fixture *f = *state;
    const char *name = causes[c].server;
    create_ready(f, name, "https://kv1.vault.azure.net/keys/k1");
    t_advance(&f->env, 20 * CMK_MINUTE); /* a few healthy checks */
    struct cp_server_status s;
    status_of(f, name, &s);
    assert_int_equal(s.state, CP_STATE_READY);
    assert_string_equal(s.health, "Available");
    int locks = f->dp.locks;

    break_it(f, c);
    int locked_at, inaccessible_at;
    watch(f, name, 70, &locked_at, &inaccessible_at);
    if (locked_at < 0 || locked_at > causes[c].deny_max)
        fail_msg("%s: connections denied after %d min (want <= %d)", name, locked_at,
                 causes[c].deny_max);
    if (inaccessible_at < 0 || inaccessible_at > causes[c].inaccessible_max)
        fail_msg("%s: Inaccessible after %d min (want <= %d)", name, inaccessible_at,
                 causes[c].inaccessible_max);
    assert_int_equal(f->dp.locks, locks + 1);
    assert_non_null(strstr(f->dp.last_cause, "customer-managed key is not accessible"));
    status_of(f, name, &s);
    assert_string_equal(s.cause, causes[c].cause_name);
    assert_false(s.key_valid);
    /* R10: resource health shows it after the first denied connection. */
    assert_string_equal(s.health, "Available");
    f->dp.denied++;
    status_of(f, name, &s);
    assert_string_equal(s.health, "Unavailable");
    assert_true(activity_has(f, name, "encryptionKeyAccessFailed", NULL));
    assert_true(activity_has(f, name, "encryptionKeyInaccessible", NULL));
    /* What a client sees. */
    char path[512];
    json_t *j = NULL;
    t_server_path(path, sizeof(path), "rg", name, NULL);
    assert_int_equal(t_mgmt(&f->env, "GET", path, NULL, &j), 200);
    json_t *p = json_object_get(j, "properties");
    assert_string_equal(json_string_value(json_object_get(p, "state")), "Inaccessible");
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "dataEncryption"),
                                                          "primaryEncryptionKeyStatus")),
                        "Invalid");
    json_decref(j);
    t_server_path(path, sizeof(path), "rg", name,
                  "/providers/Microsoft.ResourceHealth/availabilityStatuses/current");
    char *q = strchr(path, '?');
    snprintf(q, 40, "?api-version=2022-10-01");
    assert_int_equal(t_mgmt(&f->env, "GET", path, NULL, &j), 200);
    p = json_object_get(j, "properties");
    assert_string_equal(json_string_value(json_object_get(p, "availabilityState")), "Unavailable");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Inaccessible");
    json_decref(j);
    /* Start while Inaccessible: 409. */
    t_server_path(path, sizeof(path), "rg", name, "/start");
    assert_int_equal(t_mgmt(&f->env, "POST", path, NULL, &j), 409);
    assert_string_equal(t_code(j), "ServerIsInaccessible");
    json_decref(j);

    fix_it(f, c);
    int ready = ready_within(f, name, 60);
    if (ready < 0)
        fail_msg("%s: not Ready within 60 minutes of the recovery", name);
    assert_int_equal(f->dp.unlocks > 0, 1);
    assert_true(activity_has(f, name, "encryptionKeyAccessRestored", NULL));
    status_of(f, name, &s);
    assert_string_equal(s.health, "Available");
    assert_string_equal(s.cause, "");
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

static void test_outage_is_not_a_revocation(void **state)
{
    struct fixture *f = *state;
    create_ready(f, "m-outage", "https://kv1.vault.azure.net/keys/k1");
    cmk_time_t now = cmk_clock_now(&f->env.rt.clock);
    assert_int_equal(cp_fault_vault_unreachable(&f->env.rt, "kv1", now + 2 * CMK_HOUR), 0);
    /* The server rides out a short outage: Degraded, still serving. */
    t_advance(&f->env, 12 * CMK_MINUTE);
    struct cp_server_status s;
    status_of(f, "m-outage", &s);
    assert_int_equal(s.state, CP_STATE_READY);
    assert_false(s.locked);
    assert_string_equal(s.cause, "VaultUnreachable");
    assert_string_equal(s.health, "Degraded");
    int locked_at, inaccessible_at;
    watch(f, "m-outage", 60, &locked_at, &inaccessible_at);
    assert_true(inaccessible_at > 0 && inaccessible_at + 12 <= 60);
    /* Over: back without anyone doing anything (R11). */
    cp_fault_vault_unreachable(&f->env.rt, "kv1", 0);
    assert_true(ready_within(f, "m-outage", 60) > 0);
    /* A short outage never locks. */
    now = cmk_clock_now(&f->env.rt.clock);
    int locks = f->dp.locks;
    cp_fault_vault_unreachable(&f->env.rt, "kv1", now + 10 * CMK_MINUTE);
    t_advance(&f->env, 40 * CMK_MINUTE);
    assert_int_equal(f->dp.locks, locks);
    status_of(f, "m-outage", &s);
    assert_int_equal(s.state, CP_STATE_READY);
    assert_string_equal(s.cause, "");
}

static void test_revalidate_now(void **state)
{
    struct fixture *f = *state;
    create_ready(f, "m-reval", "https://kv1.vault.azure.net/keys/k1");
    stub_grant(f->kv, f->oid1, KP_GET);
    char path[512];
    json_t *j = NULL;
    t_server_path(path, sizeof(path), "rg", "m-reval", "/revalidateDataEncryption");
    assert_int_equal(t_mgmt(&f->env, "POST", path, NULL, &j), 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "properties"), "state")),
        "Inaccessible");
    json_decref(j);
    stub_grant(f->kv, f->oid1, KP_ALL);
    assert_int_equal(t_mgmt(&f->env, "POST", path, NULL, &j), 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "properties"), "state")), "Ready");
    json_decref(j);
}

static void test_rotation(void **state)
{
    struct fixture *f = *state;
    create_ready(f, "m-rotate", "https://kv1.vault.azure.net/keys/k1");
    stub_key_rotate(f->key);
    t_advance(&f->env, 10 * CMK_MINUTE);
    assert_int_equal(f->dp.rewraps, 1);
    assert_non_null(strstr(f->dp.last_kid, f->key->versions[1]));
    assert_true(activity_has(f, "m-rotate", "encryptionKeyRotated", f->key->versions[1]));
    struct cp_server_status s;
    status_of(f, "m-rotate", &s);
    assert_int_equal(s.state, CP_STATE_READY);
    assert_int_equal(f->dp.locks, 0);
    /* A versioned URI stays on its version. */
    char uri[200];
    snprintf(uri, sizeof(uri), "https://kv1.vault.azure.net/keys/k1/%s", f->key->versions[1]);
    create_ready(f, "m-pinned", uri);
    stub_key_rotate(f->key);
    t_advance(&f->env, 10 * CMK_MINUTE);
    assert_int_equal(f->dp.rewraps, 2); /* only m-rotate followed */
}

static void test_instant_profile(void **state)
{
    struct fixture *f = *state;
    struct cmk_err err;
    assert_int_equal(cp_servers_set_profile(f->env.s, "instant", &err), 0);
    create_ready(f, "m-instant", "https://kv1.vault.azure.net/keys/k1");
    f->key->enabled = 0;
    t_advance(&f->env, 31 * CMK_SECOND);
    struct cp_server_status s;
    status_of(f, "m-instant", &s);
    assert_int_equal(s.state, CP_STATE_INACCESSIBLE);
    f->key->enabled = 1;
    t_advance(&f->env, 31 * CMK_SECOND);
    status_of(f, "m-instant", &s);
    assert_int_equal(s.state, CP_STATE_READY);
    assert_int_equal(cp_servers_set_profile(f->env.s, "nope", &err), CMK_ENOTFOUND);
}

static void test_unlock_failure_keeps_it_inaccessible(void **state)
{
    struct fixture *f = *state;
    create_ready(f, "m-unlock", "https://kv1.vault.azure.net/keys/k1");
    f->key->enabled = 0;
    int locked_at, inaccessible_at;
    watch(f, "m-unlock", 60, &locked_at, &inaccessible_at);
    assert_true(inaccessible_at > 0);
    f->key->enabled = 1;
    f->dp.fail_unlock = 1;
    t_advance(&f->env, 60 * CMK_MINUTE);
    struct cp_server_status s;
    status_of(f, "m-unlock", &s);
    assert_int_equal(s.state, CP_STATE_INACCESSIBLE);
    assert_non_null(strstr(s.message, "cannot unwrap"));
    f->dp.fail_unlock = 0;
    assert_true(ready_within(f, "m-unlock", 60) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_vault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_firewall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outage_is_not_a_revocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revalidate_now, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instant_profile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlock_failure_keeps_it_inaccessible, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
