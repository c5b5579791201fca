/* store.h: SQLite helpers for the emulator's state.
 *
 * One database file per state directory (state.db) holds the control state of every service;
 * each module owns its tables and migrates them with cmk_store_migrate under its own name.
 * Opened in WAL mode with synchronous=FULL: a request is answered only after its change is
 * durable, so nothing acknowledged is lost to kill -9. SQLite's own notion of time and its
 * random() are replaced by the clock and the seeded generator, so nothing of the wall clock
 * leaks into output.
 */
#ifndef CMK_STORE_H
#define CMK_STORE_H

#include <sqlite3.h>
#include <stddef.h>

#include "clock.h"
#include "err.h"
#include "rng.h"

struct cmk_migration {
    int version; /* 1, 2, 3... in order */
    const char *sql;
};

/* Open (create) path with the settings above; clock and rng back SQLite's time and random. */
int cmk_store_open(sqlite3 **db, const char *path, struct cmk_clock *clock, struct cmk_rng *rng,
                   struct cmk_err *err) __attribute__((warn_unused_result));
void cmk_store_close(sqlite3 *db);
/* Apply the migrations of module whose version is above the stored one, each in a
 * transaction. */
int cmk_store_migrate(sqlite3 *db, const char *module, const struct cmk_migration *m, size_t n,
                      struct cmk_err *err) __attribute__((warn_unused_result));
int cmk_store_exec(sqlite3 *db, const char *sql, struct cmk_err *err);
int cmk_store_begin(sqlite3 *db);  /* BEGIN IMMEDIATE */
int cmk_store_commit(sqlite3 *db); /* COMMIT; durable on return */
void cmk_store_rollback(sqlite3 *db);
/* Prepared statement cached per (db, sql text); reset and bindings cleared before return.
 * Owned by the cache: never finalize it. */
sqlite3_stmt *cmk_store_stmt(sqlite3 *db, const char *sql);

#endif
