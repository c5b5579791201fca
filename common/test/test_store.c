/* test_store.c: the state store as its users see it: migrations, cached statements,
 * transactions, durability across kill -9, and SQLite's time and randomness following the
 * emulator's clock and seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/rng.h"
#include "common/store.h"

#define T0 ((cmk_time_t)1767225600000) /* 2026-01-01T00:00:00Z */

struct fixture {
    char dir[64];
    char path[128];
    struct cmk_clock clock;
    struct cmk_rng rng;
    sqlite3 *db;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/cmk-test-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
    cmk_clock_init(&f->clock, NULL, CMK_CLOCK_VIRTUAL, T0, 0);
    cmk_rng_init(&f->rng, 2026);
    struct cmk_err err;
    if (cmk_store_open(&f->db, f->path, &f->clock, &f->rng, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cmk_store_close(f->db);
    cmk_clock_close(&f->clock);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = cmk_store_stmt(db, sql);
    assert_non_null(s);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return v;
}

static void query_text(sqlite3 *db, const char *sql, char *out, size_t n)
{
    sqlite3_stmt *s = cmk_store_stmt(db, sql);
    assert_non_null(s);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_reset(s);
}

static int64_t module_version(sqlite3 *db, const char *module)
{
    sqlite3_stmt *s = cmk_store_stmt(db, "SELECT version FROM cmk_schema WHERE module = ?1");
    sqlite3_bind_text(s, 1, module, -1, SQLITE_STATIC);
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return v;
}

#define VAULT_M1                                                                                   \
    {                                                                                              \
        1, "CREATE TABLE vaults(name TEXT PRIMARY KEY);"                                           \
           "INSERT INTO vaults VALUES ('first');"                                                  \
    }
#define VAULT_M2                                                                                   \
    {                                                                                              \
        2, "ALTER TABLE vaults ADD COLUMN sku TEXT NOT NULL DEFAULT 'standard';"                   \
           "INSERT INTO vaults(name) VALUES ('second');"                                           \
    }

static const struct cmk_migration vault_v2[] = {VAULT_M1, VAULT_M2};
static const struct cmk_migration vault_v3[] = {
    VAULT_M1, VAULT_M2, {3, "CREATE INDEX vaults_sku ON vaults(sku);"}};

static void test_migrations_apply_once_in_order(void **state)
{
    struct fixture *f = *state;
    struct cmk_err err;
    assert_int_equal(cmk_store_migrate(f->db, "vaultsim", vault_v2, 2, &err), 0);
    assert_int_equal(module_version(f->db, "vaultsim"), 2);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM vaults"), 2);
    /* Again: nothing runs twice (the INSERTs would add rows). */
    assert_int_equal(cmk_store_migrate(f->db, "vaultsim", vault_v2, 2, &err), 0);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM vaults"), 2);

    /* After a restart, only the new migration runs. */
    cmk_store_close(f->db);
    assert_int_equal(cmk_store_open(&f->db, f->path, &f->clock, &f->rng, &err), 0);
    assert_int_equal(cmk_store_migrate(f->db, "vaultsim", vault_v3, 3, &err), 0);
    assert_int_equal(module_version(f->db, "vaultsim"), 3);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM vaults"), 2);
    assert_int_equal(
        query_int(f->db, "SELECT count(*) FROM sqlite_master WHERE name = 'vaults_sku'"), 1);

    /* Modules are versioned independently. */
    static const struct cmk_migration cp[] = {{1, "CREATE TABLE servers(id INTEGER);"}};
    assert_int_equal(cmk_store_migrate(f->db, "controlplane", cp, 1, &err), 0);
    assert_int_equal(module_version(f->db, "controlplane"), 1);
    assert_int_equal(module_version(f->db, "vaultsim"), 3);

    /* A database from a newer build is refused rather than silently misread. */
    assert_int_equal(cmk_store_migrate(f->db, "vaultsim", vault_v2, 2, &err), CMK_EINVAL);
    assert_non_null(strstr(err.message, "newer"));

    /* Out-of-order tables are a programming error. */
    static const struct cmk_migration bad_order[] = {{2, "SELECT 1"}, {1, "SELECT 1"}};
    assert_int_equal(cmk_store_migrate(f->db, "x", bad_order, 2, &err), CMK_EINVAL);
}

static void test_failed_migration_rolls_back_alone(void **state)
{
    struct fixture *f = *state;
    static const struct cmk_migration m[] = {
        {1, "CREATE TABLE keys(name TEXT);"},
        {2, "CREATE TABLE versions(id TEXT); INSERT INTO nowhere VALUES (1);"},
    };
    struct cmk_err err;
    cmk_err_clear(&err);
    assert_true(cmk_store_migrate(f->db, "keys", m, 2, &err) < 0);
    assert_non_null(strstr(err.message, "nowhere"));
    /* Migration 1 committed on its own; migration 2 left nothing behind. */
    assert_int_equal(module_version(f->db, "keys"), 1);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM sqlite_master WHERE name = 'versions'"),
                     0);
    assert_int_equal(sqlite3_get_autocommit(f->db), 1);
}

static void test_statement_cache(void **state)
{
    struct fixture *f = *state;
    sqlite3_stmt *s1 = cmk_store_stmt(f->db, "SELECT ?1 + 1");
    assert_non_null(s1);
    sqlite3_bind_int(s1, 1, 41);
    assert_int_equal(sqlite3_step(s1), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s1, 0), 42);
    /* Same text from another buffer: the same statement, reset and with bindings cleared,
     * even though the caller left it mid-step. */
    char *copy = strdup("SELECT ?1 + 1");
    sqlite3_stmt *s2 = cmk_store_stmt(f->db, copy);
    free(copy);
    assert_ptr_equal(s1, s2);
    assert_int_equal(sqlite3_step(s2), SQLITE_ROW);
    assert_int_equal(sqlite3_column_type(s2, 0), SQLITE_NULL);
    sqlite3_reset(s2);

    /* Enough statements to make the table grow; every one still found. */
    sqlite3_stmt *seen[200];
    char sql[64];
    for (int i = 0; i < 200; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d", i);
        seen[i] = cmk_store_stmt(f->db, sql);
        assert_non_null(seen[i]);
    }
    for (int i = 0; i < 200; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d", i);
        assert_ptr_equal(cmk_store_stmt(f->db, sql), seen[i]);
        assert_int_equal(sqlite3_step(seen[i]), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(seen[i], 0), i);
        sqlite3_reset(seen[i]);
    }
    assert_ptr_equal(cmk_store_stmt(f->db, "SELECT ?1 + 1"), s1);
    assert_null(cmk_store_stmt(f->db, "SELEC nonsense"));
}

static void test_transactions(void **state)
{
    struct fixture *f = *state;
    struct cmk_err err;
    assert_int_equal(cmk_store_exec(f->db, "CREATE TABLE t(x INTEGER)", &err), 0);
    assert_int_equal(cmk_store_exec(f->db, "CREATE TABLE", &err), CMK_EIO);
    assert_int_equal(err.status, 500);

    assert_int_equal(cmk_store_begin(f->db), 0);
    assert_int_equal(cmk_store_begin(f->db), CMK_EIO); /* no nesting */
    assert_int_equal(cmk_store_exec(f->db, "INSERT INTO t VALUES (1)", NULL), 0);
    cmk_store_rollback(f->db);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM t"), 0);
    cmk_store_rollback(f->db); /* harmless outside a transaction */

    assert_int_equal(cmk_store_begin(f->db), 0);
    assert_int_equal(cmk_store_exec(f->db, "INSERT INTO t VALUES (2)", NULL), 0);
    assert_int_equal(cmk_store_commit(f->db), 0);
    assert_int_equal(query_int(f->db, "SELECT sum(x) FROM t"), 2);

    /* The settings the header promises. */
    char mode[32];
    query_text(f->db, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(query_int(f->db, "PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(query_int(f->db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(query_int(f->db, "PRAGMA temp_store"), 2); /* MEMORY */

    /* Foreign keys are enforced: a constraint failure is a conflict. */
    assert_int_equal(cmk_store_exec(f->db,
                                    "CREATE TABLE p(id INTEGER PRIMARY KEY);"
                                    "CREATE TABLE c(p INTEGER REFERENCES p(id));",
                                    NULL),
                     0);
    assert_int_equal(cmk_store_exec(f->db, "INSERT INTO c VALUES (7)", &err), CMK_ECONFLICT);

    /* The state file is private. */
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

/* SQLite's random() and datetime('now') come from the seed and the clock. */
static void test_random_and_time_follow_rng_and_clock(void **state)
{
    struct fixture *f = *state;
    char text[64], expect[64];

    query_text(f->db, "SELECT datetime('now')", text, sizeof(text));
    assert_string_equal(text, "2026-01-01 00:00:00");
    cmk_clock_advance(&f->clock, 90 * CMK_DAY + 8 * CMK_HOUR + 1234);
    query_text(f->db, "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", text, sizeof(text));
    cmk_time_format(cmk_clock_now(&f->clock), expect, sizeof(expect));
    assert_string_equal(text, "2026-04-01T08:00:01.234Z");
    assert_string_equal(expect, text);
    assert_int_equal(query_int(f->db, "SELECT CAST(unixepoch('now') AS INTEGER)"),
                     cmk_clock_now(&f->clock) / 1000);

    /* Two stores opened with one seed draw the same values; SQLite's own PRNG, being
     * process-wide, would give the second store different ones. */
    struct cmk_rng r1, r2, r3;
    cmk_rng_init(&r1, 5);
    cmk_rng_init(&r2, 5);
    cmk_rng_init(&r3, 6);
    sqlite3 *a, *b, *c;
    assert_int_equal(cmk_store_open(&a, ":memory:", &f->clock, &r1, NULL), 0);
    assert_int_equal(cmk_store_open(&b, ":memory:", &f->clock, &r2, NULL), 0);
    assert_int_equal(cmk_store_open(&c, ":memory:", &f->clock, &r3, NULL), 0);
    for (int i = 0; i < 10; i++) {
        int64_t x = query_int(a, "SELECT random()");
        assert_int_equal(x, query_int(b, "SELECT random()"));
        assert_true(x != query_int(c, "SELECT random()"));
    }
    char ha[64], hb[64];
    query_text(a, "SELECT hex(randomblob(16))", ha, sizeof(ha));
    query_text(b, "SELECT hex(randomblob(16))", hb, sizeof(hb));
    assert_int_equal(strlen(ha), 32);
    assert_string_equal(ha, hb);
    query_text(a, "SELECT length(randomblob(0))", ha, sizeof(ha));
    assert_string_equal(ha, "1");
    cmk_store_close(a);
    cmk_store_close(b);
    cmk_store_close(c);
    cmk_store_close(NULL);
}

/* A child commits rows one by one and reports each id after cmk_store_commit returns; it is
 * killed with SIGKILL at an arbitrary point. Every id it reported must be there. */
static void test_acknowledged_rows_survive_kill(void **state)
{
    struct fixture *f = *state;
    char path[160];
    snprintf(path, sizeof(path), "%s/durable.db", f->dir);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        struct cmk_clock c;
        struct cmk_rng r;
        cmk_clock_init(&c, NULL, CMK_CLOCK_VIRTUAL, T0, 0);
        cmk_rng_init(&r, 1);
        sqlite3 *db;
        static const struct cmk_migration m[] = {
            {1, "CREATE TABLE rows(id INTEGER PRIMARY KEY, payload BLOB NOT NULL)"}};
        if (cmk_store_open(&db, path, &c, &r, NULL) != 0 ||
            cmk_store_migrate(db, "durability", m, 1, NULL) != 0)
            _exit(2);
        for (int64_t id = 1;; id++) {
            if (cmk_store_begin(db) != 0)
                _exit(3);
            sqlite3_stmt *s = cmk_store_stmt(db, "INSERT INTO rows VALUES (?1, randomblob(512))");
            sqlite3_bind_int64(s, 1, id);
            if (sqlite3_step(s) != SQLITE_DONE)
                _exit(4);
            if (cmk_store_commit(db) != 0)
                _exit(5);
            if (write(pfd[1], &id, sizeof(id)) != sizeof(id))
                _exit(6);
        }
    }
    close(pfd[1]);
    int64_t acked = 0, id;
    while (acked < 150 && read(pfd[0], &id, sizeof(id)) == sizeof(id)) {
        assert_int_equal(id, acked + 1);
        acked = id;
    }
    assert_int_equal(acked, 150);
    assert_int_equal(kill(pid, SIGKILL), 0);
    /* Acks already in the pipe count too. */
    while (read(pfd[0], &id, sizeof(id)) == sizeof(id)) {
        assert_int_equal(id, acked + 1);
        acked = id;
    }
    close(pfd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    sqlite3 *db;
    assert_int_equal(cmk_store_open(&db, path, &f->clock, &f->rng, NULL), 0);
    sqlite3_stmt *s = cmk_store_stmt(db, "SELECT count(*), min(id), max(id) FROM rows "
                                         "WHERE id <= ?1");
    sqlite3_bind_int64(s, 1, acked);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(s, 0), acked);
    assert_int_equal(sqlite3_column_int64(s, 1), 1);
    assert_int_equal(sqlite3_column_int64(s, 2), acked);
    sqlite3_reset(s);
    /* At most the one transaction in flight when killed may be there unacknowledged. */
    assert_true(query_int(db, "SELECT count(*) FROM rows") <= acked + 1);
    char check[16];
    query_text(db, "PRAGMA integrity_check", check, sizeof(check));
    assert_string_equal(check, "ok");
    cmk_store_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations_apply_once_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_migration_rolls_back_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_and_time_follow_rng_and_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acknowledged_rows_survive_kill, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
