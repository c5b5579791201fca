/* vfsbench.c: bench/dataplane part (a), the encrypting VFS against plain SQLite in one process.
 *
 * The workload of workload.h runs on a plain SQLite database (default VFS, reserve 0) and on
 * one opened with dp_db_open (the "cmkenc" VFS, 28 reserved bytes a page), same pragmas.
 * Rounds run plain then encrypted or the other way round, alternately (FIRST: 1 to start
 * with encrypted), after a small warm-up of both; one line per round:
 *
 *   ROUND plain_ms=... plain_insert_ms=... plain_cpu_ms=... cmkenc_ms=... ...
 *
 * bench/dataplane/run takes medians over rounds of several processes and prints the ratio.
 *
 * usage: vfsbench DIR [ROUNDS [ROWS [BATCH [FIRST]]]]
 */
#include <openssl/rand.h>
#include <sqlite3.h>

#include "dataplane/vfs.h"

#include "bench/dataplane/workload.h"

static struct timing run_plain(const char *path, int rows, int batch)
{
    sqlite3 *db;
    bench_remove_db(path);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        bench_die(db, "open plain");
    bench_exec(db, "PRAGMA journal_mode=WAL; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0");
    struct timing t = bench_workload(db, rows, batch);
    sqlite3_close(db);
    bench_remove_db(path);
    return t;
}

static struct timing run_enc(const char *path, int rows, int batch)
{
    sqlite3 *db;
    uint8_t dek[DP_DEK_LEN];
    struct cmk_err err = {0};
    bench_remove_db(path);
    if (RAND_bytes(dek, sizeof(dek)) != 1 || dp_vfs_set_key(path, dek, "bench-1", &err) != 0 ||
        dp_db_open(path, &db, &err) != 0) {
        fprintf(stderr, "vfsbench: %s\n", err.message);
        exit(1);
    }
    struct timing t = bench_workload(db, rows, batch);
    sqlite3_close(db);
    dp_vfs_forget_key(path);
    bench_remove_db(path);
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: vfsbench DIR [ROUNDS [ROWS [BATCH]]]\n");
        return 64;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    int rows = argc > 3 ? atoi(argv[3]) : 200000;
    int batch = argc > 4 ? atoi(argv[4]) : 1000;
    int first = argc > 5 ? atoi(argv[5]) : 0; /* 1: the first round runs cmkenc first */
    if (rounds < 1 || rows < 10 || batch < 1)
        return 64;
    char plain[4096], enc[4096];
    snprintf(plain, sizeof(plain), "%s/plain.db", argv[1]);
    snprintf(enc, sizeof(enc), "%s/enc.db", argv[1]);
    (void)run_plain(plain, rows / 10, batch); /* warm up the allocator and the file system */
    (void)run_enc(enc, rows / 10, batch);
    for (int r = 0; r < rounds; r++) {
        /* Alternate which goes first: the second run of a round inherits a warmer (or more
         * fragmented) heap and page cache of the file system. */
        struct timing p, e;
        if ((r + first) % 2 == 0) {
            p = run_plain(plain, rows, batch);
            e = run_enc(enc, rows, batch);
        } else {
            e = run_enc(enc, rows, batch);
            p = run_plain(plain, rows, batch);
        }
        printf("ROUND");
        bench_print("plain", &p);
        bench_print("cmkenc", &e);
        printf("\n");
        fflush(stdout);
    }
    printf("VERSION sqlite=%s\n", sqlite3_libversion());
    return 0;
}
