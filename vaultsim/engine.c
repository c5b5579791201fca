/* engine.c: the key engine's base (see engine.h): opening it over the runtime's database
 * (tables, the per-process version stream), nesting transactions, names and the service's
 * not-found/conflict messages, key and version rows, and the one clock timer that purges
 * deleted keys and runs rotation policies when their time comes. Keys are in engine_keys.c,
 * soft delete in engine_lifecycle.c, key material in engine_material.c, operations in
 * engine_crypto.c, JSON shapes in engine_json.c, backups in engine_backup.c, rotation policies
 * in engine_rotation.c. */
#include "engine_int.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/runtime.h"
#include "common/store.h"

static const struct cmk_migration migrations[] = {
    {1, "CREATE TABLE vs_keys ("
        " kind TEXT NOT NULL,"
        " space TEXT NOT NULL,"
        " name TEXT NOT NULL COLLATE NOCASE,"
        " latest TEXT NOT NULL,"
        " seq INTEGER NOT NULL DEFAULT 0,"
        " managed INTEGER NOT NULL DEFAULT 0,"
        " deleted INTEGER NOT NULL DEFAULT 0,"
        " deleted_date INTEGER,"
        " purge_date INTEGER,"
        " rotation TEXT,"
        " rot_created INTEGER,"
        " rot_updated INTEGER,"
        " next_rotate INTEGER,"
        " next_notify INTEGER,"
        " PRIMARY KEY (space, name));"
        "CREATE INDEX vs_keys_purge ON vs_keys(kind, purge_date) WHERE deleted = 1;"
        "CREATE TABLE vs_key_versions ("
        " space TEXT NOT NULL,"
        " name TEXT NOT NULL COLLATE NOCASE,"
        " version TEXT NOT NULL,"
        " seq INTEGER NOT NULL,"
        " kty TEXT NOT NULL,"
        " size INTEGER NOT NULL,"
        " crv TEXT,"
        " ops INTEGER NOT NULL,"
        " enabled INTEGER NOT NULL,"
        " nbf INTEGER,"
        " exp INTEGER,"
        " created INTEGER NOT NULL,"
        " updated INTEGER NOT NULL,"
        " exportable INTEGER NOT NULL DEFAULT 0,"
        " tags TEXT,"
        " pub BLOB,"
        " jwk TEXT,"
        " priv BLOB NOT NULL,"
        " PRIMARY KEY (space, name, version));"
        "CREATE TABLE vs_engine_meta (kind TEXT PRIMARY KEY, epoch INTEGER NOT NULL);"},
};

static void on_timer(struct cmk_timer *t);
static void rearm(struct vs_engine *e, int after_run);

int vs__db_error(struct vs_engine *e, struct cmk_err *err)
{
    cmk_error("vaultsim", "sqlite: %s", sqlite3_errmsg(e->db));
    return cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                       "The key store could not complete the operation.");
}

int64_t vs_engine_now(struct vs_engine *e)
{
    cmk_time_t ms = cmk_clock_now(&e->rt->clock);
    return (int64_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
}

struct cmk_runtime *vs_engine_runtime(struct vs_engine *e)
{
    return e->rt;
}

/* Each open of the engine draws versions from a new stream, so a restart with the same seed
 * does not replay the versions of the previous run. */
static int next_epoch(struct vs_engine *e, long long *epoch, struct cmk_err *err)
{
    sqlite3_stmt *st = cmk_store_stmt(e->db, "INSERT INTO vs_engine_meta(kind, epoch) VALUES(?, 1)"
                                             " ON CONFLICT(kind) DO UPDATE SET epoch = epoch + 1"
                                             " RETURNING epoch");
    if (st == NULL)
        return vs__db_error(e, err);
    sqlite3_bind_text(st, 1, e->kind, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return vs__db_error(e, err);
    }
    *epoch = sqlite3_column_int64(st, 0);
    sqlite3_step(st);
    sqlite3_reset(st);
    return 0;
}

int vs_engine_open(struct vs_engine **out, struct cmk_runtime *rt,
                   const struct vs_engine_policy *policy, struct cmk_err *err)
{
    *out = NULL;
    if (policy == NULL || policy->version < 1 || policy->kind == NULL ||
        strlen(policy->kind) >= sizeof(((struct vs_engine *)0)->kind))
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError", "bad engine policy");
    struct vs_engine *e = cmk_xcalloc(1, sizeof(*e));
    e->rt = rt;
    e->db = rt->db;
    e->policy = *policy;
    snprintf(e->kind, sizeof(e->kind), "%s", policy->kind);
    int rc = cmk_rootkey_load(&e->root, rt->data_dir, err);
    if (rc == 0)
        rc = cmk_store_migrate(e->db, "vaultsim", migrations,
                               sizeof(migrations) / sizeof(migrations[0]), err);
    long long epoch = 0;
    if (rc == 0)
        rc = next_epoch(e, &epoch, err);
    if (rc != 0) {
        cmk_rootkey_wipe(&e->root);
        free(e);
        return rc;
    }
    char stream[64];
    snprintf(stream, sizeof(stream), "vaultsim.%s.versions.%lld", e->kind, epoch);
    cmk_runtime_rng(rt, stream, &e->rng);
    cmk_timer_init(&rt->clock, &e->timer, on_timer, e);
    vs__rearm(e);
    *out = e;
    return 0;
}

void vs_engine_free(struct vs_engine *e)
{
    if (e == NULL)
        return;
    cmk_timer_stop(&e->timer);
    vs__cache_flush(e);
    cmk_rootkey_wipe(&e->root);
    free(e);
}

void vs_engine_cache_flush(struct vs_engine *e)
{
    vs__cache_flush(e);
}

void vs__new_version(struct vs_engine *e, char out[33])
{
    cmk_rng_hex(&e->rng, out, 32);
}

int vs__tx_begin(struct vs_engine *e)
{
    if (sqlite3_get_autocommit(e->db))
        return cmk_store_begin(e->db) == 0 ? 1 : -1;
    return cmk_store_exec(e->db, "SAVEPOINT vs_engine", NULL) == 0 ? 0 : -1;
}

int vs__tx_commit(struct vs_engine *e, int token)
{
    if (token == 1)
        return cmk_store_commit(e->db);
    return cmk_store_exec(e->db, "RELEASE vs_engine", NULL);
}

void vs__tx_rollback(struct vs_engine *e, int token)
{
    if (token == 1) {
        cmk_store_rollback(e->db);
    } else if (token == 0) {
        (void)cmk_store_exec(e->db, "ROLLBACK TO vs_engine", NULL);
        (void)cmk_store_exec(e->db, "RELEASE vs_engine", NULL);
    }
}

void vs__aad(const char *space, const char *name, const char *version, struct cmk_buf *out)
{
    cmk_buf_puts(out, space);
    cmk_buf_append(out, "\n", 1);
    for (const char *p = name; *p; p++) {
        char c = (char)tolower((unsigned char)*p);
        cmk_buf_append(out, &c, 1);
    }
    cmk_buf_append(out, "\n", 1);
    cmk_buf_puts(out, version);
}

/* ---- names and messages ------------------------------------------------------------------ */

static int name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 127)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '-')
            return 0;
    return 1;
}

int vs__check_name(const char *name, struct cmk_err *err)
{
    if (name == NULL || !name_valid(name))
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                           "The request URI contains an invalid name: %s", name ? name : "");
    return 0;
}

int vs__key_not_found(const struct vs_space *s, const char *name, const char *version,
                      struct cmk_err *err)
{
    const char *where = s->kind_label ? s->kind_label : "key vault";
    if (version != NULL && *version)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "KeyNotFound",
                           "A key with (name/id) %s/%s was not found in this %s. If you recently "
                           "deleted this key you may be able to recover it using the correct "
                           "recovery command. For help resolving this issue, please see "
                           "https://go.microsoft.com/fwlink/?linkid=2125182",
                           name, version, where);
    return cmk_err_set(err, CMK_ENOTFOUND, 404, "KeyNotFound",
                       "A key with (name/id) %s was not found in this %s. If you recently deleted "
                       "this key you may be able to recover it using the correct recovery "
                       "command. For help resolving this issue, please see "
                       "https://go.microsoft.com/fwlink/?linkid=2125182",
                       name, where);
}

int vs__deleted_conflict(const char *name, struct cmk_err *err)
{
    cmk_err_set(err, CMK_ECONFLICT, 409, "Conflict",
                "Key %s is currently in a deleted but recoverable state, and its name cannot be "
                "reused; in this state, the key can be recovered or purged.",
                name);
    cmk_err_inner(err, "ObjectIsDeletedButRecoverable");
    return CMK_ECONFLICT;
}

static int deleted_not_found(const char *name, struct cmk_err *err)
{
    return cmk_err_set(err, CMK_ENOTFOUND, 404, "KeyNotFound", "Deleted Key not found: %s", name);
}

void vs__space_levels(const struct vs_space *s, struct vs_key *k)
{
    int days = s->retention_days;
    k->recoverable_days = days;
    const char *level;
    if (days <= 0)
        level = "Purgeable";
    else if (s->purge_protection)
        level = days >= 90 ? "Recoverable" : "CustomizedRecoverable";
    else
        level = days >= 90 ? "Recoverable+Purgeable" : "CustomizedRecoverable+Purgeable";
    snprintf(k->recovery_level, sizeof(k->recovery_level), "%s", level);
}

void vs_attrs_init(struct vs_attrs *a)
{
    memset(a, 0, sizeof(*a));
    a->enabled = -1;
    a->exportable = -1;
}

void vs_key_clear(struct vs_key *k)
{
    if (k == NULL)
        return;
    json_decref(k->tags);
    json_decref(k->jwk);
    free(k->pub);
    memset(k, 0, sizeof(*k));
}

void vs_key_list_free(struct vs_key *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vs_key_clear(&items[i]);
    free(items);
}

/* ---- rows ------------------------------------------------------------------------------ */

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

void vs__read_row(sqlite3_stmt *st, const struct vs_space *s, struct vs_key *k)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->name, sizeof(k->name), "%s", col_text(st, 0));
    snprintf(k->version, sizeof(k->version), "%s", col_text(st, 1));
    if (vs_kty_parse(col_text(st, 2), &k->kty) != 0)
        k->kty = VS_KTY_RSA;
    k->size = sqlite3_column_int(st, 3);
    if (sqlite3_column_type(st, 4) == SQLITE_NULL || vs_crv_parse(col_text(st, 4), &k->crv) != 0)
        k->crv = VS_CRV_NONE;
    k->ops = (unsigned)sqlite3_column_int(st, 5);
    k->enabled = sqlite3_column_int(st, 6);
    k->nbf = sqlite3_column_int64(st, 7);
    k->exp = sqlite3_column_int64(st, 8);
    k->created = sqlite3_column_int64(st, 9);
    k->updated = sqlite3_column_int64(st, 10);
    k->exportable = sqlite3_column_int(st, 11);
    if (sqlite3_column_type(st, 12) != SQLITE_NULL)
        k->tags = json_loads(col_text(st, 12), 0, NULL);
    if (k->tags == NULL)
        k->tags = json_object();
    int publen = sqlite3_column_bytes(st, 13);
    if (publen > 0) {
        k->pub = cmk_xmalloc((size_t)publen);
        memcpy(k->pub, sqlite3_column_blob(st, 13), (size_t)publen);
        k->publen = (size_t)publen;
    }
    k->managed = sqlite3_column_int(st, 14);
    k->deleted = sqlite3_column_int(st, 15);
    k->deleted_date = sqlite3_column_int64(st, 16);
    k->scheduled_purge_date = sqlite3_column_int64(st, 17);
    if (sqlite3_column_type(st, 18) != SQLITE_NULL)
        k->jwk = json_loads(col_text(st, 18), 0, NULL);
    if (s != NULL)
        vs__space_levels(s, k);
}

int vs__key_state(struct vs_engine *e, const struct vs_space *s, const char *name)
{
    sqlite3_stmt *st =
        cmk_store_stmt(e->db, "SELECT deleted FROM vs_keys WHERE space = ? AND name = ?");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int state = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        state = sqlite3_column_int(st, 0) ? 2 : 1;
    sqlite3_reset(st);
    return state;
}

int vs__read_version(struct vs_engine *e, const struct vs_space *s, const char *name,
                     const char *version, int deleted, struct vs_key *out, struct cmk_err *err)
{
    /* out is always safe to vs_key_clear afterwards, even when the key is not found. */
    memset(out, 0, sizeof(*out));
    int latest = version == NULL || *version == '\0';
    /* `deleted` is a literal, not a parameter: SQLite compares a parameter with the WHERE of
     * the partial index vs_keys_purge and then re-prepares the statement at every new binding
     * of it, which cost a parse on every key read (every unwrapKey). */
#define READ_VERSION_SQL(del, ver)                                                                 \
    "SELECT " KEY_COLS " FROM vs_keys k JOIN vs_key_versions v"                                    \
    " ON v.space = k.space AND v.name = k.name AND v.version = " ver                               \
    " WHERE k.space = ?1 AND k.name = ?2 AND k.deleted = " del
    static const char *const sql[2][2] = {
        {READ_VERSION_SQL("0", "?3"), READ_VERSION_SQL("0", "k.latest")},
        {READ_VERSION_SQL("1", "?3"), READ_VERSION_SQL("1", "k.latest")},
    };
#undef READ_VERSION_SQL
    sqlite3_stmt *st = cmk_store_stmt(e->db, sql[deleted != 0][latest]);
    if (st == NULL)
        return vs__db_error(e, err);
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (!latest)
        sqlite3_bind_text(st, 3, version, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        vs__read_row(st, s, out);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return vs__db_error(e, err);
    if (deleted)
        return deleted_not_found(name, err);
    return vs__key_not_found(s, name, latest ? NULL : version, err);
}

int vs__insert_version(struct vs_engine *e, const struct vs_space *s, const char *name,
                       const struct vs_key *k, const unsigned char *sealed, size_t sealedlen,
                       struct cmk_err *err)
{
    sqlite3_stmt *st = cmk_store_stmt(
        e->db, "INSERT INTO vs_keys(kind, space, name, latest, seq) VALUES(?, ?, ?, ?, 1)"
               " ON CONFLICT(space, name) DO UPDATE SET latest = excluded.latest, seq = seq + 1"
               " RETURNING seq");
    if (st == NULL)
        return vs__db_error(e, err);
    sqlite3_bind_text(st, 1, e->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->version, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return vs__db_error(e, err);
    }
    long long seq = sqlite3_column_int64(st, 0);
    sqlite3_step(st);
    sqlite3_reset(st);

    st = cmk_store_stmt(e->db,
                        "INSERT INTO vs_key_versions(space, name, version, seq, kty, size, crv,"
                        " ops, enabled, nbf, exp, created, updated, exportable, tags, pub, priv,"
                        " jwk) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (st == NULL)
        return vs__db_error(e, err);
    char *tags = k->tags && json_object_size(k->tags) ? json_dumps(k->tags, JSON_COMPACT) : NULL;
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->version, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, seq);
    sqlite3_bind_text(st, 5, vs_kty_name(k->kty), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, k->size);
    if (k->crv != VS_CRV_NONE)
        sqlite3_bind_text(st, 7, vs_crv_name(k->crv), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, (int)k->ops);
    sqlite3_bind_int(st, 9, k->enabled);
    if (k->nbf)
        sqlite3_bind_int64(st, 10, k->nbf);
    if (k->exp)
        sqlite3_bind_int64(st, 11, k->exp);
    sqlite3_bind_int64(st, 12, k->created);
    sqlite3_bind_int64(st, 13, k->updated);
    sqlite3_bind_int(st, 14, k->exportable);
    if (tags)
        sqlite3_bind_text(st, 15, tags, -1, SQLITE_TRANSIENT);
    if (k->pub)
        sqlite3_bind_blob(st, 16, k->pub, (int)k->publen, SQLITE_STATIC);
    sqlite3_bind_blob(st, 17, sealed, (int)sealedlen, SQLITE_STATIC);
    char *jwk = k->jwk ? json_dumps(k->jwk, JSON_COMPACT) : NULL;
    if (jwk)
        sqlite3_bind_text(st, 18, jwk, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    free(tags);
    free(jwk);
    if (rc != SQLITE_DONE)
        return vs__db_error(e, err);
    return 0;
}

/* ---- purging rows ------------------------------------------------------------------------- */

int vs__purge_rows(struct vs_engine *e, const char *space, const char *name)
{
    int tx = vs__tx_begin(e);
    if (tx < 0)
        return CMK_EIO;
    sqlite3_stmt *a =
        cmk_store_stmt(e->db, "DELETE FROM vs_key_versions WHERE space = ? AND name = ?");
    sqlite3_stmt *b =
        a ? cmk_store_stmt(e->db, "DELETE FROM vs_keys WHERE space = ? AND name = ?") : NULL;
    int ok = a != NULL && b != NULL;
    for (int i = 0; ok && i < 2; i++) {
        sqlite3_stmt *st = i == 0 ? a : b;
        sqlite3_bind_text(st, 1, space, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
    }
    if (!ok || vs__tx_commit(e, tx) != 0) {
        vs__tx_rollback(e, tx);
        return CMK_EIO;
    }
    vs__cache_drop(e, space, name);
    return 0;
}

/* ---- the clock ---------------------------------------------------------------------------- */

static void rearm(struct vs_engine *e, int after_run)
{
    sqlite3_stmt *st = cmk_store_stmt(
        e->db, "SELECT MIN(t) FROM ("
               " SELECT MIN(purge_date) AS t FROM vs_keys WHERE kind = ? AND deleted = 1"
               " UNION ALL SELECT MIN(next_rotate) FROM vs_keys WHERE kind = ? AND deleted = 0"
               " UNION ALL SELECT MIN(next_notify) FROM vs_keys WHERE kind = ? AND deleted = 0)");
    if (st == NULL)
        return;
    for (int i = 1; i <= 3; i++)
        sqlite3_bind_text(st, i, e->kind, -1, SQLITE_STATIC);
    int64_t due = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        due = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (due < 0) {
        cmk_timer_stop(&e->timer);
        return;
    }
    cmk_time_t at = (cmk_time_t)due * 1000;
    /* Right after the timer ran, something still due means its work failed (a database
     * error): retry in a minute rather than spinning. */
    if (after_run && at <= cmk_clock_now(&e->rt->clock))
        at = cmk_clock_now(&e->rt->clock) + CMK_MINUTE;
    if (!cmk_timer_active(&e->timer) || e->timer.due != at)
        cmk_timer_start_at(&e->timer, at, 0);
}

void vs__rearm(struct vs_engine *e)
{
    if (!e->timer_busy) /* otherwise on_timer re-arms when it is done */
        rearm(e, 0);
}

static void purge_due(struct vs_engine *e, int64_t now)
{
    for (;;) {
        sqlite3_stmt *st = cmk_store_stmt(e->db, "SELECT space, name FROM vs_keys WHERE kind = ?"
                                                 " AND deleted = 1 AND purge_date <= ?"
                                                 " ORDER BY purge_date, space, name LIMIT 1");
        if (st == NULL)
            return;
        sqlite3_bind_text(st, 1, e->kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        if (sqlite3_step(st) != SQLITE_ROW) {
            sqlite3_reset(st);
            return;
        }
        char *space = cmk_xstrdup(col_text(st, 0));
        char *name = cmk_xstrdup(col_text(st, 1));
        sqlite3_reset(st);
        int rc = vs__purge_rows(e, space, name);
        if (rc == 0) {
            cmk_info("vaultsim", "auto-purged deleted key %s in %s (retention ended)", name, space);
            if (e->policy.on_event)
                e->policy.on_event(e->policy.data, space, "KeyPurge", name, NULL);
        }
        free(space);
        free(name);
        if (rc != 0)
            return;
    }
}

static void on_timer(struct cmk_timer *t)
{
    struct vs_engine *e = t->data;
    int64_t now = vs_engine_now(e);
    e->timer_busy = 1;
    purge_due(e, now);
    vs__rotation_due(e, now);
    e->timer_busy = 0;
    rearm(e, 1);
}
