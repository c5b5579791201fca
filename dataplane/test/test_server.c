/* test_server.c: the data plane's hooks on SystemManaged servers (the platform key: no vault
 * needed), on the virtual clock, without sockets: what a provision leaves on disk and never
 * leaves there (plaintext), lock and unlock as the endpoint's resolver sees them, backups on
 * the clock and point-in-time restores across several WAL generations, read replicas and their
 * lag, CREATE/DROP DATABASE through ARM, drop and revive. The CMK paths (vault requests as the
 * server's identity) are exercised by tests/dataplane with real clients.
 */
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

#include "common/log.h"
#include "dataplane/server.h"
#include "dataplane/server_int.h"
#include "dataplane/vfs.h"

#define ID_PREFIX                                                                                  \
    "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.DBforPostgreSQL/flexibleServers/"
#define MARKER "dp-server-test-plaintext-4b1e"

struct env {
    char dir[64];
    uv_loop_t loop;
    struct cmk_runtime rt;
    struct dp_servers *d;
    struct cp_dataplane_ops ops;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/dp-test-server-XXXXXX");
    if (mkdtemp(e->dir) == NULL)
        return -1;
    uv_loop_init(&e->loop);
    struct cmk_runtime_opts o = {
        .data_dir = e->dir, .clock_mode = CMK_CLOCK_VIRTUAL, .seed = 7, .in_memory = 1};
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cmk_runtime_open(&e->rt, &e->loop, &o, &err) != 0)
        fail_msg("runtime: %s", err.message);
    cmk_log_setup(&e->rt.clock, stderr, getenv("CMK_TEST_LOG") ? CMK_LOG_DEBUG : CMK_LOG_WARN);
    if (dp_servers_open(&e->d, &e->rt, NULL, 0, NULL, 0, &err) != 0)
        fail_msg("dataplane: %s", err.message);
    dp_servers_ops(e->d, &e->ops);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    dp_servers_free(e->d);
    cmk_runtime_close(&e->rt);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    uv_loop_close(&e->loop);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    int rc = system(cmd);
    free(e);
    return rc == 0 ? 0 : -1;
}

/* What the control plane tells the data plane about server name. */
struct desc {
    char id[256];
    char source[256];
    struct cp_dp_server s;
};

static void describe(struct desc *x, const char *name, const char *mode, const char *source,
                     cmk_time_t pit)
{
    memset(x, 0, sizeof(*x));
    snprintf(x->id, sizeof(x->id), ID_PREFIX "%s", name);
    if (source)
        snprintf(x->source, sizeof(x->source), ID_PREFIX "%s", source);
    x->s = (struct cp_dp_server){.id = x->id,
                                 .name = name,
                                 .location = "westeurope",
                                 .version = "16",
                                 .encryption = "SystemManaged",
                                 .key_uri = "",
                                 .key_kid = "",
                                 .identity_id = "",
                                 .geo_key_uri = "",
                                 .geo_identity_id = "",
                                 .admin_login = "admin",
                                 .admin_verifier = "",
                                 .create_mode = mode,
                                 .source_id = x->source,
                                 .point_in_time = pit};
}

static void provision(struct env *e, const char *name, const char *mode, const char *source,
                      cmk_time_t pit)
{
    struct desc x;
    struct cmk_err err;
    cmk_err_clear(&err);
    describe(&x, name, mode, source, pit);
    if (e->ops.provision(e->ops.data, &x.s, &err) != 0)
        fail_msg("provision %s (%s): %s", name, mode, err.message);
}

/* A session's connection, as the endpoint gets it. */
static sqlite3 *session(struct env *e, const char *name, const char *db)
{
    struct dp_pg_server info;
    struct cmk_err err;
    memset(&info, 0, sizeof(info));
    cmk_err_clear(&err);
    assert_int_equal(e->d->backend.resolve(e->d, name, 0, &info, &err), 0);
    if (!info.ready)
        fail_msg("%s refuses logins: %s", name, info.message);
    sqlite3 *c = NULL;
    if (e->d->backend.open_db(e->d, info.handle, info.dir, db, 1, info.read_only, &c, &err) != 0)
        fail_msg("open %s/%s: %s", name, db, err.message);
    return c;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

static long scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static long count_rows(struct env *e, const char *name)
{
    sqlite3 *c = session(e, name, "postgres");
    long n = scalar(c, "SELECT count(*) FROM t");
    sqlite3_close_v2(c);
    return n;
}

static void insert_rows(struct env *e, const char *name, int from, int to)
{
    sqlite3 *c = session(e, name, "postgres");
    char sql[160];
    for (int i = from; i <= to; i++) { /* one commit each: one WAL frame at least */
        snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d, '" MARKER "-%d')", i, i);
        exec(c, sql);
    }
    sqlite3_close_v2(c);
}

static cmk_time_t now(struct env *e)
{
    return cmk_clock_now(&e->rt.clock);
}

static void run_clock(struct env *e, cmk_time_t d)
{
    cmk_clock_run_until(&e->rt.clock, now(e) + d);
}

static int file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    int hit = 0;
    for (size_t i = 0; i + strlen(needle) <= got && !hit; i++)
        hit = memcmp(b + i, needle, strlen(needle)) == 0;
    free(b);
    return hit;
}

static void test_provision_on_disk(void **state)
{
    struct env *e = *state;
    provision(e, "alpha", "Create", NULL, 0);
    sqlite3 *c = session(e, "alpha", "postgres");
    exec(c, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    sqlite3_close_v2(c);
    insert_rows(e, "alpha", 1, 50);
    assert_int_equal(count_rows(e, "alpha"), 50);
    run_clock(e, DP_ARCHIVE_PERIOD + CMK_SECOND); /* a backup tick */

    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/servers/alpha/envelope.json", e->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(file_has(path, "cmksim:platform:"));
    snprintf(path, sizeof(path), "%s/servers/alpha/backups/postgres.db/0000000001.full.db", e->dir);
    assert_int_equal(stat(path, &st), 0);
    /* no plaintext in any file: database, WAL, backups (grep over the whole directory) */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "grep -rl '%s' %s >/dev/null 2>&1", MARKER, e->dir);
    assert_int_not_equal(system(cmd), 0);
}

static void test_lock_unlock(void **state)
{
    struct env *e = *state;
    provision(e, "beta", "Create", NULL, 0);
    sqlite3 *c = session(e, "beta", "postgres");
    exec(c, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    sqlite3_close_v2(c);
    insert_rows(e, "beta", 1, 5);
    e->ops.lock(e->ops.data, ID_PREFIX "beta", "the key was disabled");
    struct dp_pg_server info;
    struct cmk_err err;
    memset(&info, 0, sizeof(info));
    cmk_err_clear(&err);
    assert_int_equal(e->d->backend.resolve(e->d, "beta", 0, &info, &err), 0);
    assert_int_equal(info.ready, 0);
    assert_non_null(strstr(info.message, "encryption key is not accessible"));
    assert_non_null(strstr(info.message, "the key was disabled"));
    sqlite3 *none = NULL;
    assert_int_not_equal(
        e->d->backend.open_db(e->d, info.handle, info.dir, "postgres", 0, 0, &none, &err), 0);
    assert_null(none);
    /* the DEK is gone from the registry */
    char path[256];
    snprintf(path, sizeof(path), "%s/servers/beta/postgres.db", e->dir);
    assert_int_equal(dp_vfs_key_loaded(path, NULL), 0);
    /* refused logins are counted for resource health */
    e->d->backend.denied(e->d, "beta", "57P03", info.message);
    assert_int_equal(e->ops.denied_connections(e->ops.data, ID_PREFIX "beta"), 1);

    struct desc x;
    describe(&x, "beta", "Create", NULL, 0);
    assert_int_equal(e->ops.unlock(e->ops.data, &x.s, &err), 0);
    assert_int_equal(dp_vfs_key_loaded(path, NULL), 1);
    assert_int_equal(count_rows(e, "beta"), 5);
}

static void test_point_in_time_restore(void **state)
{
    struct env *e = *state;
    provision(e, "gamma", "Create", NULL, 0);
    sqlite3 *c = session(e, "gamma", "postgres");
    exec(c, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    sqlite3_close_v2(c);
    /* over DP_CHECKPOINT_FRAMES commits: several WAL generations archived and checkpointed */
    insert_rows(e, "gamma", 1, 1500);
    run_clock(e, CMK_SECOND);
    cmk_time_t t1 = now(e);
    run_clock(e, CMK_SECOND);
    insert_rows(e, "gamma", 1501, 2600);
    run_clock(e, DP_ARCHIVE_PERIOD);
    insert_rows(e, "gamma", 2601, 2700); /* only in the live WAL until a restore archives it */
    provision(e, "gamma-t1", "PointInTimeRestore", "gamma", t1);
    assert_int_equal(count_rows(e, "gamma-t1"), 1500);
    provision(e, "gamma-now", "PointInTimeRestore", "gamma", now(e));
    assert_int_equal(count_rows(e, "gamma-now"), 2700);
    /* a restore is a server of its own: it takes writes, the source does not see them */
    insert_rows(e, "gamma-now", 5000, 5000);
    assert_int_equal(count_rows(e, "gamma-now"), 2701);
    assert_int_equal(count_rows(e, "gamma"), 2700);
    /* a point before the first backup has nothing to restore */
    struct desc x;
    struct cmk_err err;
    cmk_err_clear(&err);
    describe(&x, "gamma-early", "PointInTimeRestore", "gamma", CMK_DAY);
    assert_int_not_equal(e->ops.provision(e->ops.data, &x.s, &err), 0);
    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/servers/gamma-early", e->dir);
    assert_int_not_equal(stat(path, &st), 0); /* nothing half-made left */
}

static void test_replica(void **state)
{
    struct env *e = *state;
    provision(e, "delta", "Create", NULL, 0);
    sqlite3 *c = session(e, "delta", "postgres");
    exec(c, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    sqlite3_close_v2(c);
    insert_rows(e, "delta", 1, 20);
    provision(e, "delta-r", "Replica", "delta", 0);
    assert_int_equal(count_rows(e, "delta-r"), 20);
    assert_int_equal(dp_server_replica_lag(e->d, "delta-r"), 0);
    /* read-only sessions */
    sqlite3 *r = session(e, "delta-r", "postgres");
    assert_int_not_equal(sqlite3_exec(r, "INSERT INTO t VALUES (99, 'x')", NULL, NULL, NULL),
                         SQLITE_OK);
    sqlite3_close_v2(r);
    insert_rows(e, "delta", 21, 30);
    run_clock(e, CMK_SECOND);
    assert_int_equal(count_rows(e, "delta-r"), 20);
    assert_true(dp_server_replica_lag(e->d, "delta-r") >= CMK_SECOND);
    run_clock(e, DP_REPLICA_PERIOD);
    assert_int_equal(count_rows(e, "delta-r"), 30);
    assert_int_equal(dp_server_replica_lag(e->d, "delta-r"), 0);
    /* a database created on the primary gets a DEK of its own on the replica */
    struct cmk_err err;
    cmk_err_clear(&err);
    assert_int_equal(e->ops.database_create(e->ops.data, ID_PREFIX "delta", "app", &err), 0);
    run_clock(e, DP_REPLICA_PERIOD);
    char path[256];
    snprintf(path, sizeof(path), "%s/servers/delta-r/envelope.json", e->dir);
    assert_true(file_has(path, "app.db"));
    assert_int_equal(dp_server_replica_lag(e->d, "not-a-replica"), -1);
}

static void test_databases_drop_revive(void **state)
{
    struct env *e = *state;
    provision(e, "eps", "Create", NULL, 0);
    struct cmk_err err;
    cmk_err_clear(&err);
    assert_int_equal(e->ops.database_create(e->ops.data, ID_PREFIX "eps", "app", &err), 0);
    sqlite3 *c = session(e, "eps", "app");
    exec(c, "CREATE TABLE a(v TEXT); INSERT INTO a VALUES ('" MARKER "')");
    sqlite3_close_v2(c);
    char path[256];
    snprintf(path, sizeof(path), "%s/servers/eps/envelope.json", e->dir);
    assert_true(file_has(path, "app.db"));
    assert_int_equal(e->ops.database_drop(e->ops.data, ID_PREFIX "eps", "app", &err), 0);
    assert_false(file_has(path, "app.db"));
    struct stat st;
    snprintf(path, sizeof(path), "%s/servers/eps/app.db", e->dir);
    assert_int_not_equal(stat(path, &st), 0);

    c = session(e, "eps", "postgres");
    exec(c, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    sqlite3_close_v2(c);
    insert_rows(e, "eps", 1, 7);
    assert_int_equal(e->ops.drop(e->ops.data, ID_PREFIX "eps", &err), 0);
    snprintf(path, sizeof(path), "%s/dropped/eps/envelope.json", e->dir);
    assert_int_equal(stat(path, &st), 0);
    struct dp_pg_server info;
    memset(&info, 0, sizeof(info));
    assert_int_equal(e->d->backend.resolve(e->d, "eps", 0, &info, &err), CMK_ENOTFOUND);
    provision(e, "eps2", "ReviveDropped", "eps", 0);
    assert_int_equal(count_rows(e, "eps2"), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_provision_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_unlock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_point_in_time_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica, setup, teardown),
        cmocka_unit_test_setup_teardown(test_databases_drop_revive, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
