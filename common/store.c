/* store.c: SQLite helpers for the emulator's state (see store.h).
 *
 * Each store gets its own wrapper VFS ("cmk-store-N") registered with SQLite. It hands every
 * file operation to the default (unix) VFS unchanged, but answers xCurrentTime and
 * xCurrentTimeInt64 from the store's cmk_clock and xRandomness from a generator forked from
 * the caller's, so datetime('now') is virtual time in a scenario. The SQL functions random()
 * and randomblob() are replaced on the connection for the same reason (SQLite's own PRNG is
 * process-wide and seeded from the OS).
 *
 * The wrapper VFS, the generator and the statement cache live in a struct store that is
 * found from the sqlite3 handle through a small registry (stores are few: one per process,
 * plus tests). The statement cache is an open-addressing hash table keyed by SQL text; its
 * statements are prepared persistent and finalized in cmk_store_close.
 *
 * Durability: WAL with synchronous=FULL, so COMMIT returns only after the WAL is fsync'ed.
 * The database file is created mode 0600 (SQLite gives its -wal and -shm files the same).
 */
#include "store.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

struct stmt_slot {
    char *sql; /* NULL: empty slot */
    uint64_t hash;
    sqlite3_stmt *stmt;
};

struct store {
    sqlite3_vfs vfs; /* our wrapper; pAppData points back here */
    sqlite3_vfs *base;
    char vfs_name[32];
    sqlite3 *db;
    struct cmk_clock *clock;
    struct cmk_rng rng;
    struct stmt_slot *slots;
    size_t nslots, used; /* nslots is a power of two */
    struct store *next;
};

static struct store *stores; /* registry, guarded by SQLITE_MUTEX_STATIC_APP1 */
static unsigned vfs_counter;

/* ---- the wrapper VFS ---- */

static sqlite3_vfs *base_of(sqlite3_vfs *v)
{
    return ((struct store *)v->pAppData)->base;
}

static int vfs_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    /* The unix VFS keeps its own pointer in the file: give it its own, not ours. */
    sqlite3_vfs *b = base_of(v);
    return b->xOpen(b, name, f, flags, out);
}

static int vfs_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    sqlite3_vfs *b = base_of(v);
    return b->xDelete(b, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *v, const char *name, int flags, int *res)
{
    sqlite3_vfs *b = base_of(v);
    return b->xAccess(b, name, flags, res);
}

static int vfs_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    sqlite3_vfs *b = base_of(v);
    return b->xFullPathname(b, name, n, out);
}

static void *vfs_dlopen(sqlite3_vfs *v, const char *name)
{
    sqlite3_vfs *b = base_of(v);
    return b->xDlOpen ? b->xDlOpen(b, name) : NULL;
}

static void vfs_dlerror(sqlite3_vfs *v, int n, char *msg)
{
    sqlite3_vfs *b = base_of(v);
    if (b->xDlError)
        b->xDlError(b, n, msg);
    else if (n > 0)
        msg[0] = '\0';
}

static void (*vfs_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    sqlite3_vfs *b = base_of(v);
    return b->xDlSym ? b->xDlSym(b, h, sym) : NULL;
}

static void vfs_dlclose(sqlite3_vfs *v, void *h)
{
    sqlite3_vfs *b = base_of(v);
    if (b->xDlClose)
        b->xDlClose(b, h);
}

static int vfs_randomness(sqlite3_vfs *v, int n, char *out)
{
    struct store *st = v->pAppData;
    for (int i = 0; i < n; i++)
        out[i] = (char)(cmk_rng_u64(&st->rng) & 0xff);
    return n;
}

static int vfs_sleep_us(sqlite3_vfs *v, int us)
{
    /* Only the busy handler waits, and only under lock contention. */
    sqlite3_vfs *b = base_of(v);
    return b->xSleep(b, us);
}

/* Julian day number of the Unix epoch, in milliseconds. */
#define JULIAN_EPOCH_MS 210866760000000LL

static int vfs_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    struct store *st = v->pAppData;
    *out = JULIAN_EPOCH_MS + cmk_clock_now(st->clock);
    return SQLITE_OK;
}

static int vfs_current_time(sqlite3_vfs *v, double *out)
{
    sqlite3_int64 ms;
    vfs_current_time_int64(v, &ms);
    *out = (double)ms / 86400000.0;
    return SQLITE_OK;
}

static int vfs_last_error(sqlite3_vfs *v, int n, char *out)
{
    sqlite3_vfs *b = base_of(v);
    return b->xGetLastError ? b->xGetLastError(b, n, out) : 0;
}

static int vfs_set_syscall(sqlite3_vfs *v, const char *name, sqlite3_syscall_ptr p)
{
    sqlite3_vfs *b = base_of(v);
    return b->iVersion >= 3 && b->xSetSystemCall ? b->xSetSystemCall(b, name, p) : SQLITE_NOTFOUND;
}

static sqlite3_syscall_ptr vfs_get_syscall(sqlite3_vfs *v, const char *name)
{
    sqlite3_vfs *b = base_of(v);
    return b->iVersion >= 3 && b->xGetSystemCall ? b->xGetSystemCall(b, name) : NULL;
}

static const char *vfs_next_syscall(sqlite3_vfs *v, const char *name)
{
    sqlite3_vfs *b = base_of(v);
    return b->iVersion >= 3 && b->xNextSystemCall ? b->xNextSystemCall(b, name) : NULL;
}

static void vfs_fill(struct store *st)
{
    sqlite3_vfs *v = &st->vfs;
    v->iVersion = 3;
    v->szOsFile = st->base->szOsFile;
    v->mxPathname = st->base->mxPathname;
    v->zName = st->vfs_name;
    v->pAppData = st;
    v->xOpen = vfs_open;
    v->xDelete = vfs_delete;
    v->xAccess = vfs_access;
    v->xFullPathname = vfs_full_pathname;
    v->xDlOpen = vfs_dlopen;
    v->xDlError = vfs_dlerror;
    v->xDlSym = vfs_dlsym;
    v->xDlClose = vfs_dlclose;
    v->xRandomness = vfs_randomness;
    v->xSleep = vfs_sleep_us;
    v->xCurrentTime = vfs_current_time;
    v->xGetLastError = vfs_last_error;
    v->xCurrentTimeInt64 = vfs_current_time_int64;
    v->xSetSystemCall = vfs_set_syscall;
    v->xGetSystemCall = vfs_get_syscall;
    v->xNextSystemCall = vfs_next_syscall;
}

/* ---- registry ---- */

static struct store *store_of(sqlite3 *db)
{
    sqlite3_mutex *m = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP1);
    sqlite3_mutex_enter(m);
    struct store *st = stores;
    while (st != NULL && st->db != db)
        st = st->next;
    sqlite3_mutex_leave(m);
    return st;
}

static void registry_add(struct store *st)
{
    sqlite3_mutex *m = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP1);
    sqlite3_mutex_enter(m);
    snprintf(st->vfs_name, sizeof(st->vfs_name), "cmk-store-%u", ++vfs_counter);
    st->next = stores;
    stores = st;
    sqlite3_mutex_leave(m);
}

static void registry_remove(struct store *st)
{
    sqlite3_mutex *m = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP1);
    sqlite3_mutex_enter(m);
    for (struct store **p = &stores; *p; p = &(*p)->next) {
        if (*p == st) {
            *p = st->next;
            break;
        }
    }
    sqlite3_mutex_leave(m);
}

/* ---- random() and randomblob() from the seeded generator ---- */

static void sql_random(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct store *st = sqlite3_user_data(ctx);
    sqlite3_result_int64(ctx, (sqlite3_int64)cmk_rng_u64(&st->rng));
}

static void sql_randomblob(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct store *st = sqlite3_user_data(ctx);
    sqlite3_int64 n = sqlite3_value_int64(argv[0]);
    if (n < 1)
        n = 1;
    if (n > sqlite3_limit(sqlite3_context_db_handle(ctx), SQLITE_LIMIT_LENGTH, -1)) {
        sqlite3_result_error_toobig(ctx);
        return;
    }
    unsigned char *p = sqlite3_malloc64((sqlite3_uint64)n);
    if (p == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    for (sqlite3_int64 i = 0; i < n; i++)
        p[i] = (unsigned char)(cmk_rng_u64(&st->rng) & 0xff);
    sqlite3_result_blob64(ctx, p, (sqlite3_uint64)n, sqlite3_free);
}

/* ---- errors ---- */

static int map_rc(int src)
{
    switch (src & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CMK_EUNAVAIL;
    case SQLITE_CONSTRAINT:
        return CMK_ECONFLICT;
    default:
        return CMK_EIO;
    }
}

static int store_err(struct cmk_err *err, sqlite3 *db, int src, const char *what)
{
    return cmk_err_set(err, map_rc(src) ? map_rc(src) : CMK_EIO, 500, "InternalError",
                       "state store: %s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
}

/* ---- open and close ---- */

static const char *const open_pragmas = "PRAGMA journal_mode=WAL;"
                                        "PRAGMA synchronous=FULL;"
                                        "PRAGMA foreign_keys=ON;"
                                        "PRAGMA temp_store=MEMORY;"
                                        "CREATE TABLE IF NOT EXISTS cmk_schema("
                                        "  module TEXT PRIMARY KEY,"
                                        "  version INTEGER NOT NULL);";

static void store_free(struct store *st)
{
    if (st->vfs.zName != NULL)
        sqlite3_vfs_unregister(&st->vfs);
    free(st->slots);
    free(st);
}

int cmk_store_open(sqlite3 **dbp, const char *path, struct cmk_clock *clock, struct cmk_rng *rng,
                   struct cmk_err *err)
{
    *dbp = NULL;
    if (path == NULL || clock == NULL)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError", "state store: no path or clock");
    int rc = sqlite3_initialize();
    if (rc != SQLITE_OK)
        return store_err(err, NULL, rc, "initialize");

    struct store *st = cmk_xcalloc(1, sizeof(*st));
    st->clock = clock;
    if (rng != NULL) {
        cmk_rng_fork(rng, &st->rng, "sqlite");
    } else {
        cmk_rng_init(&st->rng, 0);
    }
    st->base = sqlite3_vfs_find(NULL);
    if (st->base == NULL) {
        free(st);
        return cmk_err_set(err, CMK_EINTERNAL, 500, "InternalError", "state store: no VFS");
    }
    registry_add(st);
    vfs_fill(st);
    rc = sqlite3_vfs_register(&st->vfs, 0);
    if (rc != SQLITE_OK) {
        st->vfs.zName = NULL;
        registry_remove(st);
        store_free(st);
        return store_err(err, NULL, rc, "register VFS");
    }

    /* Create the file ourselves so it is private (SQLite would use 0644). */
    if (strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0 && path[0] != '\0') {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }

    sqlite3 *db = NULL;
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, st->vfs_name);
    if (rc != SQLITE_OK) {
        cmk_err_set(err, CMK_EIO, 500, "InternalError", "state store: cannot open %s: %s", path,
                    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        registry_remove(st);
        store_free(st);
        return CMK_EIO;
    }
    st->db = db;
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 250);
    sqlite3_create_function_v2(db, "random", 0, SQLITE_UTF8, st, sql_random, NULL, NULL, NULL);
    sqlite3_create_function_v2(db, "randomblob", 1, SQLITE_UTF8, st, sql_randomblob, NULL, NULL,
                               NULL);
    char *msg = NULL;
    rc = sqlite3_exec(db, open_pragmas, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int r = map_rc(rc) ? map_rc(rc) : CMK_EIO;
        cmk_err_set(err, r, 500, "InternalError", "state store: cannot set up %s: %s", path,
                    msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        cmk_store_close(db);
        return r;
    }
    *dbp = db;
    return 0;
}

void cmk_store_close(sqlite3 *db)
{
    if (db == NULL)
        return;
    struct store *st = store_of(db);
    if (st != NULL) {
        for (size_t i = 0; i < st->nslots; i++) {
            if (st->slots[i].sql != NULL) {
                sqlite3_finalize(st->slots[i].stmt);
                free(st->slots[i].sql);
            }
        }
    }
    /* Statements a caller prepared and forgot would keep the connection open. */
    sqlite3_stmt *s;
    while ((s = sqlite3_next_stmt(db, NULL)) != NULL)
        sqlite3_finalize(s);
    int rc = sqlite3_close(db);
    if (st == NULL)
        return;
    registry_remove(st);
    if (rc != SQLITE_OK) {
        /* Still open (a backup in progress?): the VFS must outlive it, so leak it. */
        cmk_error("store", "close failed: %s", sqlite3_errstr(rc));
        return;
    }
    store_free(st);
}

/* ---- statements ---- */

static uint64_t hash_sql(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static void cache_grow(struct store *st)
{
    size_t n = st->nslots ? st->nslots * 2 : 32;
    struct stmt_slot *slots = cmk_xcalloc(n, sizeof(*slots));
    for (size_t i = 0; i < st->nslots; i++) {
        if (st->slots[i].sql == NULL)
            continue;
        size_t j = st->slots[i].hash & (n - 1);
        while (slots[j].sql != NULL)
            j = (j + 1) & (n - 1);
        slots[j] = st->slots[i];
    }
    free(st->slots);
    st->slots = slots;
    st->nslots = n;
}

sqlite3_stmt *cmk_store_stmt(sqlite3 *db, const char *sql)
{
    struct store *st = store_of(db);
    if (st == NULL) {
        cmk_error("store", "statement cache asked for a database not opened by cmk_store_open");
        return NULL;
    }
    uint64_t h = hash_sql(sql);
    if (st->nslots > 0) {
        for (size_t j = h & (st->nslots - 1); st->slots[j].sql != NULL;
             j = (j + 1) & (st->nslots - 1)) {
            struct stmt_slot *s = &st->slots[j];
            if (s->hash == h && strcmp(s->sql, sql) == 0) {
                sqlite3_reset(s->stmt);
                sqlite3_clear_bindings(s->stmt);
                return s->stmt;
            }
        }
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK || stmt == NULL) {
        cmk_error("store", "cannot prepare \"%s\": %s", sql, sqlite3_errmsg(db));
        sqlite3_finalize(stmt);
        return NULL;
    }
    if ((st->used + 1) * 10 > st->nslots * 7)
        cache_grow(st);
    size_t j = h & (st->nslots - 1);
    while (st->slots[j].sql != NULL)
        j = (j + 1) & (st->nslots - 1);
    st->slots[j].sql = cmk_xstrdup(sql);
    st->slots[j].hash = h;
    st->slots[j].stmt = stmt;
    st->used++;
    return stmt;
}

/* Run a cached statement that returns no rows. Returns the SQLite code. */
static int run_simple(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = cmk_store_stmt(db, sql);
    if (s == NULL)
        return SQLITE_ERROR;
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int cmk_store_exec(sqlite3 *db, const char *sql, struct cmk_err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    int r = map_rc(rc) ? map_rc(rc) : CMK_EIO;
    cmk_err_set(err, r, 500, "InternalError", "state store: %s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return r;
}

int cmk_store_begin(sqlite3 *db)
{
    return map_rc(run_simple(db, "BEGIN IMMEDIATE"));
}

int cmk_store_commit(sqlite3 *db)
{
    int rc = run_simple(db, "COMMIT");
    if (rc != SQLITE_OK)
        cmk_error("store", "commit failed: %s", sqlite3_errmsg(db));
    return map_rc(rc);
}

void cmk_store_rollback(sqlite3 *db)
{
    /* A failed statement may already have rolled the transaction back. */
    if (!sqlite3_get_autocommit(db))
        run_simple(db, "ROLLBACK");
}

/* ---- migrations ---- */

static int schema_version(sqlite3 *db, const char *module, int *version, struct cmk_err *err)
{
    sqlite3_stmt *s = cmk_store_stmt(db, "SELECT version FROM cmk_schema WHERE module = ?1");
    if (s == NULL)
        return store_err(err, db, SQLITE_ERROR, "read schema version");
    sqlite3_bind_text(s, 1, module, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *version = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_err(err, db, rc, "read schema version");
    return 0;
}

int cmk_store_migrate(sqlite3 *db, const char *module, const struct cmk_migration *m, size_t n,
                      struct cmk_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].version < 1 || (i > 0 && m[i].version <= m[i - 1].version))
            return cmk_err_set(err, CMK_EINVAL, 500, "InternalError",
                               "migrations of %s are not numbered 1, 2, 3... in order", module);
    int current;
    int rc = schema_version(db, module, &current, err);
    if (rc != 0)
        return rc;
    if (n > 0 && current > m[n - 1].version)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError",
                           "the state of %s is at schema version %d, newer than this build (%d)",
                           module, current, m[n - 1].version);
    for (size_t i = 0; i < n; i++) {
        if (m[i].version <= current)
            continue;
        if ((rc = cmk_store_begin(db)) != 0)
            return store_err(err, db, SQLITE_BUSY, "begin migration");
        char *msg = NULL;
        int src = sqlite3_exec(db, m[i].sql, NULL, NULL, &msg);
        if (src != SQLITE_OK) {
            rc = cmk_err_set(err, CMK_EIO, 500, "InternalError", "migration %s %d failed: %s",
                             module, m[i].version, msg ? msg : sqlite3_errstr(src));
            sqlite3_free(msg);
            cmk_store_rollback(db);
            return rc;
        }
        sqlite3_stmt *s = cmk_store_stmt(db, "INSERT INTO cmk_schema(module, version) "
                                             "VALUES (?1, ?2) ON CONFLICT(module) "
                                             "DO UPDATE SET version = excluded.version");
        if (s == NULL) {
            cmk_store_rollback(db);
            return store_err(err, db, SQLITE_ERROR, "record schema version");
        }
        sqlite3_bind_text(s, 1, module, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, m[i].version);
        src = sqlite3_step(s);
        sqlite3_reset(s);
        if (src != SQLITE_DONE) {
            rc = store_err(err, db, src, "record schema version");
            cmk_store_rollback(db);
            return rc;
        }
        if (cmk_store_commit(db) != 0) {
            rc = store_err(err, db, SQLITE_IOERR, "commit migration");
            cmk_store_rollback(db);
            return rc;
        }
        current = m[i].version;
    }
    return 0;
}
