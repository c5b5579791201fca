/* engine_lifecycle.c: the soft-delete lifecycle of keys (see engine.h): delete (soft, or at
 * once in a container without retention), get a deleted key, recover, purge (refused under
 * purge protection), and the purge of a whole container. The automatic purge at the end of
 * retention is the clock's (engine.c). */
#include <stdio.h>
#include <string.h>

#include "common/store.h"
#include "engine_int.h"

int vs_key_delete(struct vs_engine *e, const struct vs_space *s, const char *name,
                  struct vs_key *out, struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    struct vs_key k;
    int rc = vs__check_name(name, err);
    if (rc == 0)
        rc = vs__read_version(e, s, name, NULL, 0, &k, err);
    if (rc != 0)
        return rc;
    int64_t now = vs_engine_now(e);
    if (s->retention_days <= 0) {
        if (vs__purge_rows(e, s->id, k.name) != 0) {
            vs_key_clear(&k);
            return vs__db_error(e, err);
        }
        k.deleted = 1;
        k.deleted_date = now;
        k.scheduled_purge_date = now;
        *out = k;
        return 0;
    }
    int64_t purge = now + (int64_t)s->retention_days * 86400;
    sqlite3_stmt *st = cmk_store_stmt(
        e->db, "UPDATE vs_keys SET deleted = 1, deleted_date = ?, purge_date = ?,"
               " next_rotate = NULL, next_notify = NULL WHERE space = ? AND name = ?");
    if (st == NULL) {
        vs_key_clear(&k);
        return vs__db_error(e, err);
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, purge);
    sqlite3_bind_text(st, 3, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k.name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        vs_key_clear(&k);
        return vs__db_error(e, err);
    }
    /* Key material of a deleted key is not needed until it is recovered. */
    vs__cache_drop(e, s->id, k.name);
    k.deleted = 1;
    k.deleted_date = now;
    k.scheduled_purge_date = purge;
    vs__rearm(e);
    *out = k;
    return 0;
}

int vs_key_get_deleted(struct vs_engine *e, const struct vs_space *s, const char *name,
                       struct vs_key *out, struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = vs__check_name(name, err);
    if (rc != 0)
        return rc;
    return vs__read_version(e, s, name, NULL, 1, out, err);
}

int vs_key_recover(struct vs_engine *e, const struct vs_space *s, const char *name,
                   struct vs_key *out, struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    struct vs_key k;
    int rc = vs__check_name(name, err);
    if (rc == 0)
        rc = vs__read_version(e, s, name, NULL, 1, &k, err);
    if (rc != 0)
        return rc;
    vs_key_clear(&k);
    sqlite3_stmt *st = cmk_store_stmt(e->db, "UPDATE vs_keys SET deleted = 0, deleted_date = NULL,"
                                             " purge_date = NULL WHERE space = ? AND name = ?");
    if (st == NULL)
        return vs__db_error(e, err);
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return vs__db_error(e, err);
    vs__rotation_schedule(e, s->id, name);
    vs__rearm(e);
    return vs__read_version(e, s, name, NULL, 0, out, err);
}

int vs_key_purge(struct vs_engine *e, const struct vs_space *s, const char *name,
                 struct cmk_err *err)
{
    struct vs_key k;
    int rc = vs__check_name(name, err);
    if (rc == 0)
        rc = vs__read_version(e, s, name, NULL, 1, &k, err);
    if (rc != 0)
        return rc;
    if (s->purge_protection) {
        vs_key_clear(&k);
        return cmk_err_set(err, CMK_EDENIED, 403, "Forbidden",
                           "Operation \"purge\" is not allowed because purge protection is "
                           "enabled for this vault. Key Vault service will automatically purge "
                           "it after the retention period has passed.");
    }
    rc = vs__purge_rows(e, s->id, k.name);
    vs_key_clear(&k);
    if (rc != 0)
        return vs__db_error(e, err);
    vs__rearm(e);
    return 0;
}

int vs_space_purge(struct vs_engine *e, const char *space_id, struct cmk_err *err)
{
    int tx = vs__tx_begin(e);
    if (tx < 0)
        return vs__db_error(e, err);
    sqlite3_stmt *a = cmk_store_stmt(e->db, "DELETE FROM vs_key_versions WHERE space = ?");
    sqlite3_stmt *b = a ? cmk_store_stmt(e->db, "DELETE FROM vs_keys WHERE space = ?") : NULL;
    int ok = a != NULL && b != NULL;
    for (int i = 0; ok && i < 2; i++) {
        sqlite3_stmt *st = i == 0 ? a : b;
        sqlite3_bind_text(st, 1, space_id, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
    }
    if (!ok || vs__tx_commit(e, tx) != 0) {
        vs__tx_rollback(e, tx);
        return vs__db_error(e, err);
    }
    vs__cache_drop(e, space_id, NULL);
    vs__rearm(e);
    return 0;
}
