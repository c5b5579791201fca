/* test_runtime.c: opening and closing what one cmksim process shares, as a service sees it:
 * the state directory on disk, the clock's start, the forked generators, a usable state
 * database, TLS material on request, and a loop left with nothing open after close.
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

#include "common/runtime.h"
#include "common/store.h"

static char base[64];

static int setup(void **state)
{
    snprintf(base, sizeof(base), "/tmp/cmk-test-runtime-XXXXXX");
    return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    return system(cmd) == 0 ? 0 : -1;
}

static void close_and_drain(struct cmk_runtime *rt, uv_loop_t *loop)
{
    cmk_runtime_close(rt);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0); /* nothing of the runtime left open */
}

static void test_open_virtual(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/nested/data", base);
    struct cmk_runtime_opts o = {.data_dir = dir, .clock_mode = CMK_CLOCK_VIRTUAL, .seed = 42};
    struct cmk_runtime rt;
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cmk_runtime_open(&rt, &loop, &o, &err) != 0)
        fail_msg("open: %s", err.message);

    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);
    char path[256];
    snprintf(path, sizeof(path), "%s/state.db", dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    char now[40];
    cmk_time_format(cmk_clock_now(&rt.clock), now, sizeof(now));
    assert_string_equal(now, "2026-01-01T00:00:00Z");
    assert_string_equal(rt.hosts.suffix, "localhost");
    assert_string_equal(rt.data_dir, dir);
    assert_non_null(rt.auth);
    assert_null(rt.tls);
    assert_null(rt.trace);

    /* A subsystem's stream is the fork of the runtime's seed by name. */
    struct cmk_rng mine, expect, root;
    cmk_runtime_rng(&rt, "vaultsim", &mine);
    cmk_rng_init(&root, 42);
    cmk_rng_fork(&root, &expect, "vaultsim");
    assert_int_equal(cmk_rng_u64(&mine), cmk_rng_u64(&expect));

    /* The state database works and runs on the runtime's clock. */
    static const struct cmk_migration m[] = {{1, "CREATE TABLE t(x TEXT)"}};
    assert_int_equal(cmk_store_migrate(rt.db, "test", m, 1, &err), 0);
    cmk_clock_advance(&rt.clock, 2 * CMK_DAY);
    sqlite3_stmt *s = cmk_store_stmt(rt.db, "SELECT date('now')");
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "2026-01-03");
    sqlite3_reset(s);

    close_and_drain(&rt, &loop);

    /* Restart over the same directory: the state is still there. */
    uv_loop_init(&loop);
    o.clock_start = 1767225600000 + 5 * CMK_DAY;
    o.suffix = "cmk.test";
    assert_int_equal(cmk_runtime_open(&rt, &loop, &o, &err), 0);
    assert_string_equal(rt.hosts.suffix, "cmk.test");
    cmk_time_format(cmk_clock_now(&rt.clock), now, sizeof(now));
    assert_string_equal(now, "2026-01-06T00:00:00Z");
    s = cmk_store_stmt(rt.db, "SELECT version FROM cmk_schema WHERE module = 'test'");
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 1);
    sqlite3_reset(s);
    close_and_drain(&rt, &loop);
}

static void test_open_in_memory_and_tls(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/mem", base);
    struct cmk_runtime_opts o = {
        .data_dir = dir, .clock_mode = CMK_CLOCK_SCALED, .speed = 60, .in_memory = 1};
    struct cmk_runtime rt;
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cmk_runtime_open(&rt, &loop, &o, &err) != 0)
        fail_msg("open: %s", err.message);
    char path[256];
    snprintf(path, sizeof(path), "%s/state.db", dir);
    assert_int_equal(access(path, F_OK), -1); /* in memory: no file */
    assert_true(cmk_clock_now(&rt.clock) >= 1767225600000);

    cmk_err_clear(&err);
    if (cmk_runtime_open_tls(&rt, &err) != 0)
        fail_msg("open_tls: %s", err.message);
    assert_non_null(rt.tls);
    assert_int_equal(access(cmk_tls_ca_path(rt.tls), R_OK), 0);
    assert_int_equal(cmk_runtime_open_tls(&rt, &err), 0); /* idempotent */
    close_and_drain(&rt, &loop);
}

static void test_open_failures(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct cmk_runtime rt;
    struct cmk_err err;
    /* No directory. */
    struct cmk_runtime_opts o = {.clock_mode = CMK_CLOCK_VIRTUAL};
    assert_int_equal(cmk_runtime_open(&rt, &loop, &o, &err), CMK_EINVAL);
    /* A file where the directory should be. */
    char file[128];
    snprintf(file, sizeof(file), "%s/afile", base);
    FILE *f = fopen(file, "w");
    fclose(f);
    o.data_dir = file;
    assert_true(cmk_runtime_open(&rt, &loop, &o, &err) < 0);
    assert_non_null(strstr(err.message, "afile"));
    /* The real clock needs a loop. */
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/real", base);
    o.data_dir = dir;
    o.clock_mode = CMK_CLOCK_REAL;
    assert_true(cmk_runtime_open(&rt, NULL, &o, &err) < 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_virtual),
        cmocka_unit_test(test_open_in_memory_and_tls),
        cmocka_unit_test(test_open_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
