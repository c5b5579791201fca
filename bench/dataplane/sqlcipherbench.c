/* sqlcipherbench.c: bench/dataplane part (b), the workload of workload.h on SQLCipher.
 *
 * Linked only with Debian's libsqlcipher (its symbols are SQLite's: it cannot share a process
 * with the system SQLite). Raw 256-bit key (no key derivation), WAL, synchronous=NORMAL, the
 * same pragmas and SQL as vfsbench. Three runs per round: with SQLCipher's default page size
 * (1024 in 3.4), with cipher_page_size=4096 (SQLite's default), and without a key, which is
 * SQLCipher's own SQLite (3.15, built its own way) unencrypted: the baseline that isolates
 * what its encryption costs. One line per round:
 *
 *   ROUND sqlcipher_ms=... sqlcipher_cpu_ms=... sqlcipher4k_ms=... ...
 *
 * usage: sqlcipherbench DIR [ROUNDS [ROWS [BATCH]]]
 */
#include <sqlite3.h> /* SQLCipher's, from pkg-config --cflags sqlcipher */

#include "bench/dataplane/workload.h"

/* page_size: 0 SQLCipher's default, > 0 cipher_page_size, < 0 no key at all. */
static struct timing run(const char *path, int rows, int batch, int page_size)
{
    sqlite3 *db;
    char sql[256];
    bench_remove_db(path);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        bench_die(db, "open");
    /* A raw key: 64 hex digits, used as the AES-256 key with no PBKDF2. */
    if (page_size >= 0)
        bench_exec(db, "PRAGMA key = "
                       "\"x'2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D1B628663F411A8086D99'\"");
    if (page_size > 0) {
        snprintf(sql, sizeof(sql), "PRAGMA cipher_page_size = %d", page_size);
        bench_exec(db, sql);
    }
    bench_exec(db, "PRAGMA journal_mode=WAL; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0");
    struct timing t = bench_workload(db, rows, batch);
    sqlite3_close(db);
    bench_remove_db(path);
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sqlcipherbench DIR [ROUNDS [ROWS [BATCH]]]\n");
        return 64;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    int rows = argc > 3 ? atoi(argv[3]) : 200000;
    int batch = argc > 4 ? atoi(argv[4]) : 1000;
    if (rounds < 1 || rows < 10 || batch < 1)
        return 64;
    char path[4096];
    snprintf(path, sizeof(path), "%s/sqlcipher.db", argv[1]);
    (void)run(path, rows / 10, batch, 0);
    for (int r = 0; r < rounds; r++) {
        struct timing d = run(path, rows, batch, 0);
        struct timing k = run(path, rows, batch, 4096);
        struct timing n = run(path, rows, batch, -1);
        printf("ROUND");
        bench_print("sqlcipher", &d);
        bench_print("sqlcipher4k", &k);
        bench_print("sqlcipher_nokey", &n);
        printf("\n");
        fflush(stdout);
    }
    sqlite3 *db;
    sqlite3_stmt *st;
    const char *version = "?";
    if (sqlite3_open(":memory:", &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA cipher_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            printf("VERSION sqlcipher=%s sqlite=%s\n", (const char *)sqlite3_column_text(st, 0),
                   sqlite3_libversion());
        sqlite3_finalize(st);
    } else {
        printf("VERSION sqlcipher=%s\n", version);
    }
    sqlite3_close(db);
    return 0;
}
