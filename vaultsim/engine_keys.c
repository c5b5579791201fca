/* engine_keys.c: keys and versions through the engine's API (see engine.h): create, get,
 * update, and the paged lists of keys, versions and deleted keys, with the checks of
 * attributes (nbf before exp) and key_ops (what each key type allows). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/store.h"
#include "engine_int.h"

/* ---- attributes and parameters ------------------------------------------------------- */

static int check_window(int64_t nbf, int64_t exp, struct cmk_err *err)
{
    if (nbf && exp && nbf >= exp)
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                           "Invalid attributes: 'nbf' (not before) must be earlier than 'exp' "
                           "(expires).");
    return 0;
}

static unsigned allowed_ops(enum vs_kty kty)
{
    switch (kty) {
    case VS_KTY_RSA:
    case VS_KTY_RSA_HSM:
        return VS_OP_ENCRYPT | VS_OP_DECRYPT | VS_OP_SIGN | VS_OP_VERIFY | VS_OP_WRAP |
               VS_OP_UNWRAP | VS_OP_IMPORT | VS_OP_EXPORT;
    case VS_KTY_EC:
    case VS_KTY_EC_HSM:
        return VS_OP_SIGN | VS_OP_VERIFY | VS_OP_IMPORT | VS_OP_EXPORT;
    default:
        return VS_OP_ENCRYPT | VS_OP_DECRYPT | VS_OP_WRAP | VS_OP_UNWRAP | VS_OP_IMPORT |
               VS_OP_EXPORT;
    }
}

static int check_ops(enum vs_kty kty, unsigned ops, struct cmk_err *err)
{
    unsigned bad = ops & ~allowed_ops(kty);
    if (bad == 0)
        return 0;
    unsigned bit = bad & (~bad + 1);
    return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                       "Key operation '%s' is not supported for key type %s.", vs_keyop_name(bit),
                       vs_kty_name(kty));
}

/* Fill the metadata of a new version from params (material comes later). */
static int prepare_meta(struct vs_engine *e, const struct vs_key_params *p, struct vs_key *k,
                        struct cmk_err *err)
{
    memset(k, 0, sizeof(*k));
    k->kty = p->kty;
    k->ops = p->ops_given ? p->ops : vs__default_ops(p->kty);
    int rc = check_ops(p->kty, k->ops, err);
    if (rc != 0)
        return rc;
    k->enabled = p->attrs.enabled < 0 ? 1 : p->attrs.enabled;
    k->nbf = p->attrs.has_nbf ? p->attrs.nbf : 0;
    k->exp = p->attrs.has_exp ? p->attrs.exp : 0;
    k->exportable = p->attrs.exportable > 0;
    if (k->exportable)
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                           "Exportable keys require a release policy, which this emulator does "
                           "not support.");
    rc = check_window(k->nbf, k->exp, err);
    if (rc != 0)
        return rc;
    if (p->tags != NULL && !json_is_object(p->tags))
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "'tags' must be an object.");
    k->tags = p->tags ? json_deep_copy(p->tags) : json_object();
    k->created = k->updated = vs_engine_now(e);
    return 0;
}

int vs_key_create(struct vs_engine *e, const struct vs_space *s, const char *name,
                  const struct vs_key_params *p, struct vs_key *out, struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = vs__check_name(name, err);
    if (rc == 0)
        rc = vs__check_type(s, p->kty, err);
    if (rc != 0)
        return rc;
    int state = vs__key_state(e, s, name);
    if (state < 0)
        return vs__db_error(e, err);
    if (state == 2)
        return vs__deleted_conflict(name, err);
    struct vs_key k;
    rc = prepare_meta(e, p, &k, err);
    if (rc != 0) {
        vs_key_clear(&k);
        return rc;
    }
    EVP_PKEY *pkey = NULL;
    unsigned char oct[64];
    size_t octlen = 0;
    rc = vs__generate(p, &pkey, oct, &octlen, err);
    if (rc == 0)
        rc = vs__store_new(e, s, name, &k, pkey, oct, octlen, out, err);
    EVP_PKEY_free(pkey);
    OPENSSL_cleanse(oct, sizeof(oct));
    vs_key_clear(&k);
    return rc;
}

int vs_key_get(struct vs_engine *e, const struct vs_space *s, const char *name, const char *version,
               int allow_disabled, struct vs_key *out, struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = vs__check_name(name, err);
    if (rc == 0)
        rc = vs__read_version(e, s, name, version, 0, out, err);
    if (rc != 0)
        return rc;
    if (!out->enabled && !allow_disabled) {
        vs_key_clear(out);
        cmk_err_set(err, CMK_EDENIED, 403, "Forbidden",
                    "Operation get is not allowed on a disabled key.");
        cmk_err_inner(err, "KeyDisabled");
        return CMK_EDENIED;
    }
    return 0;
}

int vs_key_update(struct vs_engine *e, const struct vs_space *s, const char *name,
                  const char *version, const struct vs_key_update *u, struct vs_key *out,
                  struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    struct vs_key k;
    int rc = vs__check_name(name, err);
    if (rc == 0)
        rc = vs__read_version(e, s, name, version, 0, &k, err);
    if (rc != 0)
        return rc;
    if (u->attrs.enabled >= 0)
        k.enabled = u->attrs.enabled;
    if (u->attrs.has_nbf)
        k.nbf = u->attrs.nbf;
    if (u->attrs.has_exp)
        k.exp = u->attrs.exp;
    if (u->ops_given)
        k.ops = u->ops;
    if (u->attrs.exportable > 0 && !k.exportable)
        rc = cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                         "The 'exportable' attribute cannot be changed on an existing key.");
    if (rc == 0)
        rc = check_ops(k.kty, k.ops, err);
    if (rc == 0)
        rc = check_window(k.nbf, k.exp, err);
    if (rc == 0 && u->tags != NULL && !json_is_object(u->tags))
        rc = cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "'tags' must be an object.");
    if (rc != 0) {
        vs_key_clear(&k);
        return rc;
    }
    if (u->tags != NULL) {
        json_decref(k.tags);
        k.tags = json_deep_copy(u->tags);
    }
    k.updated = vs_engine_now(e);
    char *tags = json_object_size(k.tags) ? json_dumps(k.tags, JSON_COMPACT) : NULL;
    sqlite3_stmt *st = cmk_store_stmt(
        e->db, "UPDATE vs_key_versions SET enabled = ?, nbf = ?, exp = ?, ops = ?, tags = ?,"
               " updated = ? WHERE space = ? AND name = ? AND version = ?");
    if (st == NULL) {
        free(tags);
        vs_key_clear(&k);
        return vs__db_error(e, err);
    }
    sqlite3_bind_int(st, 1, k.enabled);
    if (k.nbf)
        sqlite3_bind_int64(st, 2, k.nbf);
    if (k.exp)
        sqlite3_bind_int64(st, 3, k.exp);
    sqlite3_bind_int(st, 4, (int)k.ops);
    if (tags)
        sqlite3_bind_text(st, 5, tags, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, k.updated);
    sqlite3_bind_text(st, 7, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, k.name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, k.version, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    free(tags);
    if (rc != SQLITE_DONE) {
        vs_key_clear(&k);
        return vs__db_error(e, err);
    }
    /* A new expiry moves the "notify before expiry" and "rotate before expiry" actions. */
    vs__rotation_schedule(e, s->id, k.name);
    vs__rearm(e);
    *out = k;
    return 0;
}

/* ---- lists ------------------------------------------------------------------------------ */

static int run_list(struct vs_engine *e, const struct vs_space *s, sqlite3_stmt *st, size_t max,
                    struct vs_key **items, size_t *n, int *more, struct cmk_err *err)
{
    *items = NULL;
    *n = 0;
    *more = 0;
    struct vs_key *v = cmk_xcalloc(max ? max : 1, sizeof(*v));
    size_t count = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == max) {
            *more = 1;
            break;
        }
        vs__read_row(st, s, &v[count++]);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        vs_key_list_free(v, count);
        return vs__db_error(e, err);
    }
    *items = v;
    *n = count;
    return 0;
}

int vs_key_list(struct vs_engine *e, const struct vs_space *s, const char *after, size_t max,
                struct vs_key **items, size_t *n, int *more, struct cmk_err *err)
{
    sqlite3_stmt *st = cmk_store_stmt(e->db, "SELECT " KEY_COLS " FROM vs_keys k"
                                             " JOIN vs_key_versions v ON v.space = k.space"
                                             " AND v.name = k.name AND v.version = k.latest"
                                             " WHERE k.space = ? AND k.deleted = 0 AND k.name > ?"
                                             " ORDER BY k.name LIMIT ?");
    if (st == NULL)
        return vs__db_error(e, err);
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, after ? after : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max + 1);
    return run_list(e, s, st, max, items, n, more, err);
}

int vs_key_list_versions(struct vs_engine *e, const struct vs_space *s, const char *name,
                         const char *after, size_t max, struct vs_key **items, size_t *n, int *more,
                         struct cmk_err *err)
{
    *items = NULL;
    *n = 0;
    *more = 0;
    int rc = vs__check_name(name, err);
    if (rc != 0)
        return rc;
    int state = vs__key_state(e, s, name);
    if (state < 0)
        return vs__db_error(e, err);
    if (state != 1)
        return vs__key_not_found(s, name, NULL, err);
    sqlite3_stmt *st = cmk_store_stmt(
        e->db, "SELECT " KEY_COLS " FROM vs_keys k JOIN vs_key_versions v"
               " ON v.space = k.space AND v.name = k.name"
               " WHERE k.space = ? AND k.name = ? AND v.seq > COALESCE((SELECT seq FROM"
               " vs_key_versions WHERE space = ? AND name = ? AND version = ?), 0)"
               " ORDER BY v.seq LIMIT ?");
    if (st == NULL)
        return vs__db_error(e, err);
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, after ? after : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)max + 1);
    return run_list(e, s, st, max, items, n, more, err);
}

int vs_key_list_deleted(struct vs_engine *e, const struct vs_space *s, const char *after,
                        size_t max, struct vs_key **items, size_t *n, int *more,
                        struct cmk_err *err)
{
    sqlite3_stmt *st = cmk_store_stmt(e->db, "SELECT " KEY_COLS " FROM vs_keys k"
                                             " JOIN vs_key_versions v ON v.space = k.space"
                                             " AND v.name = k.name AND v.version = k.latest"
                                             " WHERE k.space = ? AND k.deleted = 1 AND k.name > ?"
                                             " ORDER BY k.name LIMIT ?");
    if (st == NULL)
        return vs__db_error(e, err);
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, after ? after : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max + 1);
    return run_list(e, s, st, max, items, n, more, err);
}

int vs_key_count(struct vs_engine *e, const struct vs_space *s)
{
    sqlite3_stmt *st =
        cmk_store_stmt(e->db, "SELECT COUNT(*) FROM vs_keys WHERE space = ? AND deleted = 0");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_reset(st);
    return n;
}
