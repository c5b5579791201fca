/* vfs_keys.c: the registry of data encryption keys behind the encrypting VFS, and
 * dp_db_open (see vfs.h).
 *
 * Keys are found by canonical path (the base VFS's xFullPathname, which SQLite also uses for
 * the names it opens). A key's 32 bytes live in OpenSSL's secure heap, its cipher contexts in
 * one struct dp_codec; forgetting a key wipes both at once, under the key's lock, even while
 * files are open under it (they then fail with SQLITE_IOERR_AUTH).
 */
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "dataplane/vfs_int.h"

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dp__key *registry;

static struct dp__key *registry_find(const char *path)
{
    for (struct dp__key *k = registry; k != NULL; k = k->next)
        if (strcmp(k->path, path) == 0)
            return k;
    return NULL;
}

static void registry_unlink(struct dp__key *k)
{
    for (struct dp__key **p = &registry; *p != NULL; p = &(*p)->next) {
        if (*p == k) {
            *p = k->next;
            return;
        }
    }
}

/* Wipe the key material; files still holding the entry fail from now on. */
static void key_revoke(struct dp__key *k)
{
    pthread_mutex_lock(&k->lock);
    dp_codec_free(k->codec);
    k->codec = NULL;
    dp_key_free(k->dek, DP_DEK_LEN);
    k->dek = NULL;
    pthread_mutex_unlock(&k->lock);
}

void dp__key_release(struct dp__key *k)
{
    pthread_mutex_lock(&reg_lock);
    int last = --k->refs == 0;
    pthread_mutex_unlock(&reg_lock);
    if (!last)
        return;
    key_revoke(k);
    pthread_mutex_destroy(&k->lock);
    free(k->path);
    free(k);
}

struct dp__key *dp__key_acquire(const char *path)
{
    pthread_mutex_lock(&reg_lock);
    struct dp__key *k = path ? registry_find(path) : NULL;
    if (k != NULL)
        k->refs++;
    pthread_mutex_unlock(&reg_lock);
    return k;
}

void dp__key_ref(struct dp__key *k)
{
    pthread_mutex_lock(&reg_lock);
    k->refs++;
    pthread_mutex_unlock(&reg_lock);
}

/* ---- API ---- */

static char *canonical_path(const char *path)
{
    if (dp_vfs_register() != SQLITE_OK || path == NULL || path[0] == '\0')
        return NULL;
    sqlite3_vfs *base = dp__vfs_base();
    char *out = cmk_xmalloc((size_t)base->mxPathname + 1);
    int rc = base->xFullPathname(base, path, base->mxPathname + 1, out);
    if (rc != SQLITE_OK && rc != SQLITE_OK_SYMLINK) {
        free(out);
        return NULL;
    }
    return out;
}

int dp_vfs_set_key(const char *path, const uint8_t *dek, const char *dek_id, struct cmk_err *err)
{
    char *canon = canonical_path(path);
    if (canon == NULL)
        return cmk_err_set(err, CMK_EINVAL, 0, "InvalidPath", "invalid database path");
    struct dp_codec *codec = dek ? dp_codec_new(dek, dek_id) : NULL;
    if (codec == NULL) {
        free(canon);
        return cmk_err_set(err, CMK_EINVAL, 0, "InvalidKey", "invalid data encryption key or id");
    }
    struct dp__key *k = cmk_xcalloc(1, sizeof(*k));
    k->path = canon;
    k->dek = dp_key_alloc(DP_DEK_LEN);
    memcpy(k->dek, dek, DP_DEK_LEN);
    snprintf(k->dek_id, sizeof(k->dek_id), "%s", dek_id);
    k->codec = codec;
    k->refs = 1;
    pthread_mutex_init(&k->lock, NULL);

    pthread_mutex_lock(&reg_lock);
    struct dp__key *old = registry_find(canon);
    int same = 0;
    if (old != NULL) {
        pthread_mutex_lock(&old->lock);
        same = old->dek != NULL && CRYPTO_memcmp(old->dek, dek, DP_DEK_LEN) == 0 &&
               strcmp(old->dek_id, dek_id) == 0;
        pthread_mutex_unlock(&old->lock);
    }
    if (!same) {
        if (old != NULL)
            registry_unlink(old);
        k->next = registry;
        registry = k;
    }
    pthread_mutex_unlock(&reg_lock);
    if (same) {
        dp__key_release(k); /* the registered entry stays, open files keep working */
        return 0;
    }
    if (old != NULL) {
        key_revoke(old);
        dp__key_release(old);
    }
    return 0;
}

void dp_vfs_forget_key(const char *path)
{
    char *canon = canonical_path(path);
    if (canon == NULL)
        return;
    pthread_mutex_lock(&reg_lock);
    struct dp__key *k = registry_find(canon);
    if (k != NULL)
        registry_unlink(k);
    pthread_mutex_unlock(&reg_lock);
    free(canon);
    if (k != NULL) {
        key_revoke(k);
        dp__key_release(k);
    }
}

int dp_vfs_key_loaded(const char *path, char *dek_id)
{
    char *canon = canonical_path(path);
    if (canon == NULL)
        return 0;
    pthread_mutex_lock(&reg_lock);
    struct dp__key *k = registry_find(canon);
    if (k != NULL && dek_id != NULL)
        memcpy(dek_id, k->dek_id, DP_DEK_ID_MAX);
    pthread_mutex_unlock(&reg_lock);
    free(canon);
    return k != NULL;
}

/* ---- Opening a database ---- */

static int db_fail(sqlite3 *db, int rc, const char *path, const char *what, struct cmk_err *err)
{
    int xrc = db ? sqlite3_extended_errcode(db) : rc;
    int r = cmk_err_set(err, xrc == SQLITE_IOERR_DATA ? CMK_ECRYPTO : CMK_EIO, 0,
                        xrc == SQLITE_IOERR_DATA ? "PageAuthenticationFailed" : "StorageError",
                        "%s %s: %s", what, path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return r;
}

int dp_db_open(const char *path, sqlite3 **out, struct cmk_err *err)
{
    sqlite3 *db = NULL;
    *out = NULL;
    if (dp_vfs_register() != SQLITE_OK)
        return cmk_err_set(err, CMK_EINTERNAL, 0, "InternalError", "cannot register the VFS");
    if (!dp_vfs_key_loaded(path, NULL))
        return cmk_err_set(err, CMK_EUNAVAIL, 0, "DekNotLoaded",
                           "no data encryption key is loaded for %s", path);
    int rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             DP_VFS_NAME);
    if (rc != SQLITE_OK)
        return db_fail(db, rc, path, "cannot open", err);
    int reserve = DP_PAGE_RESERVE; /* takes effect only while the file is empty */
    sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    /* Reading the page count reads (and authenticates) page 1: a wrong key fails here. */
    sqlite3_stmt *st = NULL;
    int pages = -1, wal = 0;
    rc = sqlite3_exec(db, "PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0;", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        pages = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (pages < 0)
        return db_fail(db, rc, path, "cannot read", err);
    /* A new database goes to WAL through journal_mode=OFF: no rollback journal is needed. */
    rc = pages == 0 ? sqlite3_exec(db, "PRAGMA journal_mode=OFF", NULL, NULL, NULL) : SQLITE_OK;
    if (rc == SQLITE_OK)
        rc =
            sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return db_fail(db, rc, path, "cannot set up", err);
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        wal = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) {
        sqlite3_close_v2(db);
        return cmk_err_set(err, CMK_EIO, 0, "StorageError", "%s is not in WAL mode", path);
    }
    *out = db;
    return 0;
}
