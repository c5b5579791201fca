/* workload.h: the one SQL workload of bench/dataplane, shared by vfsbench.c (plain SQLite and
 * the cmkenc VFS, one process) and sqlcipherbench.c (SQLCipher, a process of its own because
 * its symbols are SQLite's). Each includes its own sqlite3.h first.
 *
 * Every phase is timed twice: wall-clock (CLOCK_MONOTONIC) and the process's CPU time
 * (CLOCK_PROCESS_CPUTIME_ID). On a machine shared with other busy processes the wall clock
 * mostly measures them; CPU time stays close to the work done here. Benchmarks are outside
 * the emulator and its one clock (tools/check-clock): they read the system clocks directly.
 *
 * On an open database in WAL mode: synchronous=NORMAL, 64 MiB of page cache (the database,
 * about 20 MB, stays in it: a warm cache), ROWS inserts in transactions of BATCH rows through
 * one prepared statement, then ROWS point selects by primary key in a fixed pseudo-random
 * order (xorshift64, same sequence in every program).
 */
#ifndef BENCH_DATAPLANE_WORKLOAD_H
#define BENCH_DATAPLANE_WORKLOAD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct timing {
    double insert_ms, select_ms;         /* wall clock */
    double insert_cpu_ms, select_cpu_ms; /* CPU time of the process */
    int misses, writes; /* pages read from disk and pages written, as SQLite counts them */
};

static uint64_t bench_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void bench_die(sqlite3 *db, const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", what, db ? sqlite3_errmsg(db) : "failed");
    exit(1);
}

static void bench_exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        bench_die(db, sql);
}

static struct timing bench_workload(sqlite3 *db, int rows, int batch)
{
    struct timing t = {0};
    sqlite3_stmt *ins, *sel;
    char val[96];
    bench_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;"
                   "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL)");
    if (sqlite3_prepare_v2(db, "INSERT INTO t(id, k, v) VALUES (?1, ?2, ?3)", -1, &ins, NULL) ||
        sqlite3_prepare_v2(db, "SELECT k, v FROM t WHERE id = ?1", -1, &sel, NULL))
        bench_die(db, "prepare");

    uint64_t t0 = bench_clock_ns(CLOCK_MONOTONIC), c0 = bench_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 1; i <= rows; i += batch) {
        bench_exec(db, "BEGIN");
        for (int j = i; j < i + batch && j <= rows; j++) {
            int n = snprintf(val, sizeof(val), "row %d of the benchmark, some filler text %08x", j,
                             (unsigned)j * 2654435761u);
            sqlite3_bind_int(ins, 1, j);
            sqlite3_bind_int64(ins, 2, (sqlite3_int64)j * 7919 % 100003);
            sqlite3_bind_text(ins, 3, val, n, SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE)
                bench_die(db, "insert");
            sqlite3_reset(ins);
        }
        bench_exec(db, "COMMIT");
    }
    t.insert_ms = (double)(bench_clock_ns(CLOCK_MONOTONIC) - t0) / 1e6;
    t.insert_cpu_ms = (double)(bench_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e6;

    uint64_t x = 88172645463325252ull, sum = 0;
    t0 = bench_clock_ns(CLOCK_MONOTONIC);
    c0 = bench_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < rows; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sqlite3_bind_int(sel, 1, (int)(x % (uint64_t)rows) + 1);
        if (sqlite3_step(sel) != SQLITE_ROW)
            bench_die(db, "select");
        sum += (uint64_t)sqlite3_column_int64(sel, 0) + (uint64_t)sqlite3_column_bytes(sel, 1);
        sqlite3_reset(sel);
    }
    t.select_ms = (double)(bench_clock_ns(CLOCK_MONOTONIC) - t0) / 1e6;
    t.select_cpu_ms = (double)(bench_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e6;
    if (sum == 0)
        bench_die(db, "no rows");
    int hi;
    sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_MISS, &t.misses, &hi, 0);
    sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_WRITE, &t.writes, &hi, 0);
    sqlite3_finalize(ins);
    sqlite3_finalize(sel);
    return t;
}

/* One ROUND field group: NAME_ms, NAME_insert_ms, ..., NAME_cpu_ms, ... */
static void bench_print(const char *name, const struct timing *t)
{
    printf(" %s_ms=%.1f %s_insert_ms=%.1f %s_select_ms=%.1f %s_cpu_ms=%.1f %s_insert_cpu_ms=%.1f "
           "%s_select_cpu_ms=%.1f %s_page_reads=%d %s_page_writes=%d",
           name, t->insert_ms + t->select_ms, name, t->insert_ms, name, t->select_ms, name,
           t->insert_cpu_ms + t->select_cpu_ms, name, t->insert_cpu_ms, name, t->select_cpu_ms,
           name, t->misses, name, t->writes);
}

static void bench_remove_db(const char *path)
{
    char p[4200];
    remove(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    remove(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    remove(p);
}

#endif
