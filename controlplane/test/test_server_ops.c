/* test_server_ops.c: the server resource as a client drives it: long-running create, get,
 * list, stop/start/restart, PATCH (R16, new key R11/R12, create-only fields, password), the
 * createModes PointInTimeRestore / GeoRestore / Replica / ReviveDropped (R13, R15), delete,
 * checkNameAvailability, capabilities, firewall rules and databases, api-versions, and
 * resource health of servers without a key problem.
 */
#include "srv_test.h"

struct fake_dp {
    int provisions, rewraps, passwords, stops, starts, drops, dbs;
    char last_kid[512], last_mode[32], last_verifier[256];
};

static int dp_provision(void *d, const struct cp_dp_server *s, struct cmk_err *err)
{
    struct fake_dp *f = d;
    f->provisions++;
    snprintf(f->last_mode, sizeof(f->last_mode), "%s", s->create_mode);
    return 0;
}
static int dp_rewrap(void *d, const struct cp_dp_server *s, struct cmk_err *err)
{
    struct fake_dp *f = d;
    f->rewraps++;
    snprintf(f->last_kid, sizeof(f->last_kid), "%s", s->key_kid);
    return 0;
}
static int dp_password(void *d, const char *id, const char *login, const char *v,
                       struct cmk_err *err)
{
    struct fake_dp *f = d;
    f->passwords++;
    snprintf(f->last_verifier, sizeof(f->last_verifier), "%s", v);
    return 0;
}
static int dp_stop(void *d, const char *id, struct cmk_err *err)
{
    ((struct fake_dp *)d)->stops++;
    return 0;
}
static int dp_start(void *d, const struct cp_dp_server *s, struct cmk_err *err)
{
    ((struct fake_dp *)d)->starts++;
    return 0;
}
static int dp_drop(void *d, const char *id, struct cmk_err *err)
{
    ((struct fake_dp *)d)->drops++;
    return 0;
}
static int dp_db(void *d, const char *id, const char *db, struct cmk_err *err)
{
    ((struct fake_dp *)d)->dbs++;
    return 0;
}

struct fixture {
    struct t_env env;
    struct fake_dp dp;
    char id1[512], oid1[37], id2[512], oid2[37], idw[512], oidw[37];
    struct stub_vault *kv, *kvw;
    struct stub_key *k1;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    t_env_new(&f->env, "ops");
    t_rg(&f->env, "rg", "eastus");
    t_identity(&f->env, "rg", "id1", "eastus", f->id1, f->oid1);
    t_identity(&f->env, "rg", "id2", "eastus", f->id2, f->oid2);
    t_identity(&f->env, "rg", "idw", "westus", f->idw, f->oidw);
    f->kv = stub_vault_add(&f->env, "rg", "kv1", "eastus", 0, 1, 90, 1);
    f->k1 = stub_key_add(f->kv, "k1", "RSA", 2048);
    stub_key_add(f->kv, "k2", "RSA", 2048);
    stub_grant(f->kv, f->oid1, KP_ALL);
    f->kvw = stub_vault_add(&f->env, "rg", "kvwest", "westus", 0, 1, 90, 1);
    stub_key_add(f->kvw, "kw", "RSA", 2048);
    stub_grant(f->kvw, f->oidw, KP_ALL);
    struct cp_dataplane_ops ops = {
        .version = CP_DATAPLANE_OPS_VERSION,
        .data = &f->dp,
        .provision = dp_provision,
        .rewrap = dp_rewrap,
        .set_password = dp_password,
        .stop = dp_stop,
        .start = dp_start,
        .drop = dp_drop,
        .database_create = dp_db,
        .database_drop = dp_db,
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

#define K1 "https://kv1.vault.azure.net/keys/k1"
#define K2 "https://kv1.vault.azure.net/keys/k2"
#define KW "https://kvwest.vault.azure.net/keys/kw"

static int call(struct fixture *f, const char *method, const char *name, const char *suffix,
                json_t *body, json_t **out)
{
    char path[600];
    t_server_path(path, sizeof(path), "rg", name, suffix);
    int st = t_mgmt(&f->env, method, path, body, out);
    json_decref(body);
    return st;
}

static void expect(struct fixture *f, const char *method, const char *name, const char *suffix,
                   json_t *body, int status, const char *code)
{
    json_t *out = NULL;
    int st = call(f, method, name, suffix, body, &out);
    if (st != status || (code && strcmp(t_code(out), code) != 0))
        fail_msg("%s %s%s: got %d %s %s, want %d %s", method, name, suffix ? suffix : "", st,
                 t_code(out), t_message(out), status, code ? code : "");
    json_decref(out);
}

static const char *state_of(struct fixture *f, const char *name)
{
    static char buf[32];
    return t_state(&f->env, "rg", name, buf, sizeof(buf));
}

static json_t *get(struct fixture *f, const char *name)
{
    json_t *j = NULL;
    assert_int_equal(call(f, "GET", name, NULL, NULL, &j), 200);
    return j;
}

static const char *prop(json_t *j, const char *a, const char *b)
{
    json_t *p = json_object_get(j, "properties");
    json_t *v = b ? json_object_get(json_object_get(p, a), b) : json_object_get(p, a);
    return json_string_value(v) ? json_string_value(v) : "";
}

static void server_id(char *out, size_t n, const char *name)
{
    snprintf(out, n,
             "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/"
             "flexibleServers/%s",
             T_SUB, name);
}

static void create(struct fixture *f, const char *name, json_t *body)
{
    expect(f, "PUT", name, NULL, body, 202, NULL);
    t_advance(&f->env, 10 * CMK_MINUTE);
    assert_string_equal(state_of(f, name), "Ready");
}

static json_t *plain_body(const char *location)
{
    return json_pack("{s:s, s:{s:s, s:s, s:s}}", "location", location, "properties",
                     "administratorLogin", "pgadmin", "administratorLoginPassword", "Passw0rd-1",
                     "version", "15");
}

static void test_lifecycle(void **state)
{
    struct fixture *f = *state;
    char path[600], async[1024];
    json_t *out = NULL;
    t_server_path(path, sizeof(path), "rg", "plain", NULL);
    json_t *b = plain_body("East US");
    assert_int_equal(t_mgmt_h(&f->env, "PUT", path, b, &out, "Azure-AsyncOperation", async), 202);
    json_decref(b);
    json_decref(out);
    assert_non_null(strstr(async, "/providers/Microsoft.DBforPostgreSQL/locations/eastus/"
                                  "azureAsyncOperation/"));
    assert_int_equal(t_mgmt(&f->env, "GET", async, NULL, &out), 200);
    assert_string_equal(json_string_value(json_object_get(out, "status")), "InProgress");
    json_decref(out);
    assert_string_equal(state_of(f, "plain"), "Provisioning");
    /* Another write while it is being created: 409. */
    expect(f, "PATCH", "plain", NULL, json_pack("{s:{s:s}}", "tags", "a", "b"), 409,
           "AnotherOperationInProgress");
    t_advance(&f->env, 5 * CMK_MINUTE);
    assert_int_equal(t_mgmt(&f->env, "GET", async, NULL, &out), 200);
    assert_string_equal(json_string_value(json_object_get(out, "status")), "Succeeded");
    json_decref(out);
    json_t *j = get(f, "plain");
    assert_string_equal(prop(j, "state", NULL), "Ready");
    assert_string_equal(prop(j, "dataEncryption", "type"), "SystemManaged");
    assert_string_equal(prop(j, "version", NULL), "15");
    assert_string_equal(json_string_value(json_object_get(j, "location")), "eastus");
    assert_int_equal(f->dp.provisions, 1);
    json_decref(j);
    /* Lists. */
    char list[300];
    snprintf(list, sizeof(list),
             "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/"
             "flexibleServers?api-version=2022-12-01",
             T_SUB);
    assert_int_equal(t_mgmt(&f->env, "GET", list, NULL, &out), 200);
    assert_int_equal(json_array_size(json_object_get(out, "value")), 1);
    json_decref(out);
    snprintf(list, sizeof(list),
             "/subscriptions/%s/providers/Microsoft.DBforPostgreSQL/flexibleServers?"
             "api-version=2024-08-01",
             T_SUB);
    assert_int_equal(t_mgmt(&f->env, "GET", list, NULL, &out), 200);
    assert_int_equal(json_array_size(json_object_get(out, "value")), 1);
    json_decref(out);
    /* Stop, start, restart, with the state machine's refusals. */
    expect(f, "POST", "plain", "/start", NULL, 409, "ServerIsNotStopped");
    expect(f, "POST", "plain", "/stop", NULL, 202, NULL);
    assert_string_equal(state_of(f, "plain"), "Stopping");
    t_advance(&f->env, 5 * CMK_MINUTE);
    assert_string_equal(state_of(f, "plain"), "Stopped");
    assert_int_equal(f->dp.stops, 1);
    expect(f, "POST", "plain", "/restart", NULL, 409, "ServerIsNotReady");
    expect(f, "PATCH", "plain", NULL, json_pack("{s:{s:s}}", "tags", "a", "b"), 409,
           "ServerIsNotReady");
    expect(f, "POST", "plain", "/start", NULL, 202, NULL);
    t_advance(&f->env, 5 * CMK_MINUTE);
    assert_string_equal(state_of(f, "plain"), "Ready");
    assert_int_equal(f->dp.starts, 1);
    expect(f, "POST", "plain", "/restart", json_pack("{s:b}", "restartWithFailover", 0), 202, NULL);
    assert_string_equal(state_of(f, "plain"), "Restarting");
    t_advance(&f->env, 5 * CMK_MINUTE);
    assert_string_equal(state_of(f, "plain"), "Ready");
    /* Delete: Dropping, then gone; revived from the dropped list. */
    expect(f, "DELETE", "plain", NULL, NULL, 202, NULL);
    assert_string_equal(state_of(f, "plain"), "Dropping");
    expect(f, "POST", "plain", "/start", NULL, 409, "AnotherOperationInProgress");
    t_advance(&f->env, 5 * CMK_MINUTE);
    assert_string_equal(state_of(f, "plain"), "");
    assert_int_equal(f->dp.drops, 1);
    char src[512];
    server_id(src, sizeof(src), "plain");
    create(f, "revived",
           json_pack("{s:s, s:{s:s, s:s}}", "location", "eastus", "properties", "createMode",
                     "ReviveDropped", "sourceServerResourceId", src));
    assert_string_equal(f->dp.last_mode, "ReviveDropped");
}

static void test_r16_and_key_changes(void **state)
{
    struct fixture *f = *state;
    create(f, "smk", plain_body("eastus"));
    json_t *add =
        json_pack("{s:{s:{s:s, s:s, s:s}}}", "properties", "dataEncryption", "type",
                  "AzureKeyVault", "primaryKeyURI", K1, "primaryUserAssignedIdentityId", f->id1);
    expect(f, "PATCH", "smk", NULL, add, 400, "CMKCannotBeEnabledOnExistingServer");
    create(f, "cmk", t_cmk_body("eastus", K1, f->id1, NULL, NULL));
    expect(f, "PATCH", "cmk", NULL,
           json_pack("{s:{s:{s:s}}}", "properties", "dataEncryption", "type", "SystemManaged"), 400,
           "CMKCannotBeDisabled");
    expect(f, "PATCH", "cmk", NULL, json_pack("{s:{s:n}}", "properties", "dataEncryption"), 400,
           "CMKCannotBeDisabled");
    expect(f, "PATCH", "cmk", NULL,
           json_pack("{s:{s:{s:s}}}", "properties", "backup", "geoRedundantBackup", "Enabled"), 400,
           "GeoRedundantBackupCannotBeChanged");
    expect(f, "PATCH", "cmk", NULL,
           json_pack("{s:{s:s}}", "properties", "administratorLogin", "other"), 400,
           "AdministratorLoginCannotBeChanged");
    /* Another key without permissions: refused, nothing changes. */
    stub_grant(f->kv, f->oid2, KP_GET);
    json_t *ids = json_pack("{s:{s:s, s:{s:{}}}}", "identity", "type", "UserAssigned",
                            "userAssignedIdentities", f->id2);
    json_object_set_new(ids, "properties",
                        json_pack("{s:{s:s, s:s}}", "dataEncryption", "primaryKeyURI", K2,
                                  "primaryUserAssignedIdentityId", f->id2));
    expect(f, "PATCH", "cmk", NULL, json_incref(ids), 400, "AzureKeyVaultMissingPermissions");
    assert_string_equal(state_of(f, "cmk"), "Ready");
    /* Granted: the key and identity change (R11), the DEKs are re-wrapped (R12). */
    stub_grant(f->kv, f->oid2, KP_ALL);
    expect(f, "PATCH", "cmk", NULL, ids, 202, NULL);
    assert_string_equal(state_of(f, "cmk"), "Updating");
    t_advance(&f->env, 5 * CMK_MINUTE);
    json_t *j = get(f, "cmk");
    assert_string_equal(prop(j, "state", NULL), "Ready");
    assert_string_equal(prop(j, "dataEncryption", "primaryKeyURI"), K2);
    assert_string_equal(prop(j, "dataEncryption", "primaryUserAssignedIdentityId"), f->id2);
    json_decref(j);
    assert_int_equal(f->dp.rewraps, 1);
    assert_non_null(strstr(f->dp.last_kid, "/keys/k2/"));
    /* Password: only a SCRAM verifier goes anywhere. */
    expect(f, "PATCH", "cmk", NULL,
           json_pack("{s:{s:s}}", "properties", "administratorLoginPassword", "N3w-pass!"), 202,
           NULL);
    t_advance(&f->env, 5 * CMK_MINUTE);
    assert_int_equal(f->dp.passwords, 1);
    assert_non_null(strstr(f->dp.last_verifier, "SCRAM-SHA-256$4096:"));
    assert_null(strstr(f->dp.last_verifier, "N3w-pass!"));
    j = get(f, "cmk");
    char *dump = json_dumps(j, 0);
    assert_null(strstr(dump, "N3w-pass!"));
    assert_null(strstr(dump, "SCRAM"));
    free(dump);
    json_decref(j);
}

static void test_new_key_while_inaccessible(void **state)
{
    struct fixture *f = *state;
    create(f, "lost", t_cmk_body("eastus", K1, f->id1, NULL, NULL));
    f->k1->enabled = 0;
    t_advance(&f->env, 40 * CMK_MINUTE);
    assert_string_equal(state_of(f, "lost"), "Inaccessible");
    expect(f, "PATCH", "lost", NULL, json_pack("{s:{s:s}}", "tags", "a", "b"), 409,
           "ServerIsInaccessible");
    expect(f, "PATCH", "lost", NULL,
           json_pack("{s:{s:{s:s}}}", "properties", "dataEncryption", "primaryKeyURI", K2), 202,
           NULL);
    t_advance(&f->env, 3 * CMK_MINUTE);
    assert_string_equal(state_of(f, "lost"), "Ready");
}

static void test_restores_and_replicas(void **state)
{
    struct fixture *f = *state;
    stub_grant(f->kvw, f->oidw, KP_ALL);
    create(f, "src", t_cmk_body("eastus", K1, f->id1, KW, f->idw));
    char src[512], pit[40];
    server_id(src, sizeof(src), "src");
    t_advance(&f->env, 2 * CMK_HOUR);
    cmk_time_format(cmk_clock_now(&f->env.rt.clock) - CMK_HOUR, pit, sizeof(pit));
    /* PITR inherits the key and identity (R13). */
    create(f, "pitr",
           json_pack("{s:s, s:{s:s, s:s, s:s}}", "location", "eastus", "properties", "createMode",
                     "PointInTimeRestore", "sourceServerResourceId", src, "pointInTimeUTC", pit));
    json_t *j = get(f, "pitr");
    assert_string_equal(prop(j, "dataEncryption", "primaryKeyURI"), K1);
    assert_string_equal(prop(j, "sourceServerResourceId", NULL), src);
    json_decref(j);
    assert_string_equal(f->dp.last_mode, "PointInTimeRestore");
    /* Outside the retention window. */
    cmk_time_format(cmk_clock_now(&f->env.rt.clock) - 30 * CMK_DAY, pit, sizeof(pit));
    expect(f, "PUT", "pitr2", NULL,
           json_pack("{s:s, s:{s:s, s:s, s:s}}", "location", "eastus", "properties", "createMode",
                     "PointInTimeRestore", "sourceServerResourceId", src, "pointInTimeUTC", pit),
           400, "InvalidRestorePointInTime");
    /* Another key whose identity lacks permissions (R13). */
    stub_grant(f->kv, f->oid2, KP_GET | KP_LIST);
    json_t *b = t_cmk_body("eastus", K2, f->id2, NULL, NULL);
    cmk_time_format(cmk_clock_now(&f->env.rt.clock) - CMK_MINUTE, pit, sizeof(pit));
    json_t *mode = json_pack("{s:s, s:s, s:s}", "createMode", "PointInTimeRestore",
                             "sourceServerResourceId", src, "pointInTimeUTC", pit);
    json_object_update(json_object_get(b, "properties"), mode);
    json_decref(mode);
    expect(f, "PUT", "pitr3", NULL, b, 400, "AzureKeyVaultMissingPermissions");
    /* A restore to a server without CMK is the way to remove it (R16). */
    create(f, "pitr-smk",
           json_pack("{s:s, s:{s:s, s:s, s:s, s:{s:s}}}", "location", "eastus", "properties",
                     "createMode", "PointInTimeRestore", "sourceServerResourceId", src,
                     "pointInTimeUTC", pit, "dataEncryption", "type", "SystemManaged"));
    /* Geo-restore: into the paired region only, with the geo-backup key. */
    expect(f, "PUT", "geo1", NULL,
           json_pack("{s:s, s:{s:s, s:s}}", "location", "eastus", "properties", "createMode",
                     "GeoRestore", "sourceServerResourceId", src),
           400, "InvalidGeoRestoreLocation");
    create(f, "geo2",
           json_pack("{s:s, s:{s:s, s:s}}", "location", "westus", "properties", "createMode",
                     "GeoRestore", "sourceServerResourceId", src));
    j = get(f, "geo2");
    assert_string_equal(prop(j, "dataEncryption", "primaryKeyURI"), KW);
    json_decref(j);
    char plain[512];
    create(f, "nogeo", plain_body("eastus"));
    server_id(plain, sizeof(plain), "nogeo");
    expect(f, "PUT", "geo3", NULL,
           json_pack("{s:s, s:{s:s, s:s}}", "location", "westus", "properties", "createMode",
                     "GeoRestore", "sourceServerResourceId", plain),
           400, "GeoRedundantBackupNotEnabled");
    /* A replica in the same region inherits; the source becomes Primary. */
    create(f, "rep",
           json_pack("{s:s, s:{s:s, s:s}}", "location", "eastus", "properties", "createMode",
                     "Replica", "sourceServerResourceId", src));
    j = get(f, "rep");
    assert_string_equal(prop(j, "replicationRole", NULL), "AsyncReplica");
    json_decref(j);
    j = get(f, "src");
    assert_string_equal(prop(j, "replicationRole", NULL), "Primary");
    json_decref(j);
    json_t *out = NULL;
    assert_int_equal(call(f, "GET", "src", "/replicas", NULL, &out), 200);
    assert_int_equal(json_array_size(json_object_get(out, "value")), 1);
    json_decref(out);
    /* Promote it: standalone. */
    expect(f, "PATCH", "rep", NULL,
           json_pack("{s:{s:{s:s, s:s}}}", "properties", "replica", "promoteMode", "Standalone",
                     "promoteOption", "Planned"),
           202, NULL);
    t_advance(&f->env, 5 * CMK_MINUTE);
    j = get(f, "rep");
    assert_string_equal(prop(j, "replicationRole", NULL), "None");
    json_decref(j);
    expect(f, "PUT", "rep2", NULL,
           json_pack("{s:s, s:{s:s, s:s}}", "location", "eastus", "properties", "createMode",
                     "Replica", "sourceServerResourceId", "/subscriptions/x/nope"),
           400, "SourceServerNotFound");
}

static void test_names_capabilities_children(void **state)
{
    struct fixture *f = *state;
    create(f, "taken", plain_body("eastus"));
    char path[400];
    json_t *out = NULL;
    snprintf(path, sizeof(path),
             "/subscriptions/%s/providers/Microsoft.DBforPostgreSQL/locations/eastus/"
             "checkNameAvailability?api-version=2022-12-01",
             T_SUB);
    json_t *b = json_pack("{s:s, s:s}", "name", "taken", "type", CP_SERVER_TYPE);
    assert_int_equal(t_mgmt(&f->env, "POST", path, b, &out), 200);
    assert_false(json_is_true(json_object_get(out, "nameAvailable")));
    assert_string_equal(json_string_value(json_object_get(out, "reason")), "AlreadyExists");
    json_decref(out);
    json_decref(b);
    b = json_pack("{s:s}", "name", "free-name");
    assert_int_equal(t_mgmt(&f->env, "POST", path, b, &out), 200);
    assert_true(json_is_true(json_object_get(out, "nameAvailable")));
    json_decref(out);
    json_decref(b);
    expect(f, "PUT", "taken", NULL, NULL, 400, NULL); /* no body */
    snprintf(path, sizeof(path),
             "/subscriptions/%s/providers/Microsoft.DBforPostgreSQL/locations/eastus/"
             "capabilities?api-version=2022-12-01",
             T_SUB);
    assert_int_equal(t_mgmt(&f->env, "GET", path, NULL, &out), 200);
    json_t *cap = json_array_get(json_object_get(out, "value"), 0);
    assert_int_equal(json_array_size(json_object_get(cap, "supportedFlexibleServerEditions")), 3);
    assert_true(json_is_true(json_object_get(cap, "geoBackupSupported")));
    json_decref(out);
    /* Firewall rules and databases (az creates both). */
    expect(f, "PUT", "taken", "/firewallRules/allowall",
           json_pack("{s:{s:s, s:s}}", "properties", "startIpAddress", "0.0.0.0", "endIpAddress",
                     "255.255.255.255"),
           201, NULL);
    expect(f, "PUT", "taken", "/firewallRules/bad",
           json_pack("{s:{s:s, s:s}}", "properties", "startIpAddress", "10.0.0.9", "endIpAddress",
                     "10.0.0.1"),
           400, "FirewallRuleStartIpAddressGreaterThanEnd");
    expect(f, "PUT", "taken", "/databases/flexibleserverdb",
           json_pack("{s:{s:s}}", "properties", "charset", "UTF8"), 201, NULL);
    assert_int_equal(f->dp.dbs, 1);
    assert_int_equal(call(f, "GET", "taken", "/databases", NULL, &out), 200);
    assert_int_equal(json_array_size(json_object_get(out, "value")), 2); /* + postgres */
    json_decref(out);
    expect(f, "DELETE", "taken", "/databases/flexibleserverdb", NULL, 200, NULL);
    assert_int_equal(f->dp.dbs, 2);
    /* api-versions: the SDK's, az's; an unknown one is refused. */
    char p2[400];
    snprintf(p2, sizeof(p2),
             "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/"
             "flexibleServers/taken?api-version=1999-01-01",
             T_SUB);
    assert_int_equal(t_mgmt(&f->env, "GET", p2, NULL, &out), 400);
    assert_string_equal(t_code(out), "NoRegisteredProviderFound");
    json_decref(out);
    /* Health of a healthy and of a stopped server. */
    snprintf(p2, sizeof(p2),
             "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/"
             "flexibleServers/taken/providers/Microsoft.ResourceHealth/availabilityStatuses/"
             "current?api-version=2023-10-01-preview",
             T_SUB);
    assert_int_equal(t_mgmt(&f->env, "GET", p2, NULL, &out), 200);
    assert_string_equal(prop(out, "availabilityState", NULL), "Available");
    json_decref(out);
    expect(f, "POST", "taken", "/stop", NULL, 202, NULL);
    t_advance(&f->env, 5 * CMK_MINUTE);
    assert_int_equal(t_mgmt(&f->env, "GET", p2, NULL, &out), 200);
    assert_string_equal(prop(out, "availabilityState", NULL), "Unavailable");
    json_decref(out);
    /* Bad names and modes. */
    expect(f, "PUT", "Bad_Name", NULL, plain_body("eastus"), 400, "InvalidServerName");
    json_t *bm = plain_body("eastus");
    json_object_set_new(json_object_get(bm, "properties"), "createMode", json_string("Magic"));
    expect(f, "PUT", "magic", NULL, bm, 400, "InvalidCreateMode");
    json_t *nb = plain_body("eastus");
    json_object_set_new(json_object_get(nb, "properties"), "version", json_string("9"));
    expect(f, "PUT", "oldpg", NULL, nb, 400, "InvalidServerVersion");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r16_and_key_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_key_while_inaccessible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restores_and_replicas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_capabilities_children, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
