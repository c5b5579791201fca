/* envelope.c: a server's wrapped data encryption keys and their rotations (see envelope.h).
 *
 * The file looks like
 *
 *   {"format": "cmksim-envelope/1",
 *    "kek": {"kid": "https://v.vault.azure.net/keys/k/0123...", "alg": "RSA-OAEP-256"},
 *    "cipher": "AES-256-GCM", "next_dek": 3,
 *    "deks": [{"id": "dek-1", "file": "postgres.db", "wrapped": {...}},
 *             {"id": "dek-2", "file": "app.db", "wrapped": {...}}]}
 *
 * where "wrapped" is whatever the KEK's wrap callback answered. During a DEK rotation a file
 * has two entries, the new one with "pending": true; load resolves it (envelope.h).
 */
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "dataplane/envelope_int.h"

int dp_envelope__crash_after;

static int kek_ok(const struct dp_kek *kek, int need_unwrap, struct cmk_err *err)
{
    if (kek == NULL || kek->kid == NULL || kek->kid[0] == '\0' || kek->alg == NULL ||
        kek->wrap == NULL || (need_unwrap && kek->unwrap == NULL))
        return cmk_err_set(err, CMK_EINVAL, 0, "InvalidKek", "incomplete key encryption key");
    return 0;
}

/* A new DEK from OpenSSL's CSPRNG, wrapped by kek. */
static int new_dek(struct dp_envelope *env, const struct dp_kek *kek, struct dp__dek *d,
                   struct cmk_err *err)
{
    d->key = dp_key_alloc(DP_DEK_LEN);
    if (RAND_bytes(d->key, DP_DEK_LEN) != 1)
        return cmk_err_set(err, CMK_ECRYPTO, 0, "RandomFailure", "cannot draw a new key");
    snprintf(d->id, sizeof(d->id), "dek-%u", env->next_id++);
    int rc = kek->wrap(kek->ctx, d->key, DP_DEK_LEN, &d->wrapped, err);
    if (rc == 0 && d->wrapped == NULL)
        rc = cmk_err_set(err, CMK_EINTERNAL, 0, "WrapFailed", "the wrap callback gave nothing");
    return rc;
}

/* ---- API ---- */

static int register_key(struct dp_envelope *env, const struct dp__dek *d, struct cmk_err *err)
{
    char *path = dp__env_join(env->dir, d->file, NULL);
    int rc = dp_vfs_set_key(path, d->key, d->id, err);
    free(path);
    return rc;
}

int dp_envelope_create(struct dp_envelope **out, const char *path, const char *dir,
                       const char *const *files, size_t nfiles, const struct dp_kek *kek,
                       struct cmk_err *err)
{
    *out = NULL;
    int rc = kek_ok(kek, 0, err);
    if (rc != 0)
        return rc;
    if (nfiles > DP__ENV_LIMIT)
        return cmk_err_set(err, CMK_ELIMIT, 0, "TooManyFiles", "too many database files");
    if (dp__env_exists(path))
        return cmk_err_set(err, CMK_EEXIST, 0, "EnvelopeExists", "envelope %s exists", path);
    struct dp_envelope *env = dp__env_new(path, dir);
    env->kek_kid = cmk_xstrdup(kek->kid);
    env->alg = cmk_xstrdup(kek->alg);
    env->unlocked = 1;
    for (size_t i = 0; i < nfiles && rc == 0; i++) {
        if (!dp__env_valid_file(files[i]) || dp__env_find(env, files[i], 0) != NULL) {
            rc = cmk_err_set(err, CMK_EINVAL, 0, "InvalidFileName",
                             "invalid or repeated database file name");
            break;
        }
        struct dp__dek *d = dp__env_append(env);
        d->file = cmk_xstrdup(files[i]);
        rc = new_dek(env, kek, d, err);
    }
    if (rc == 0)
        rc = dp__env_save(env, err);
    for (size_t i = 0; i < env->n && rc == 0; i++)
        rc = register_key(env, &env->deks[i], err);
    if (rc != 0) {
        dp_envelope_free(env);
        return rc;
    }
    *out = env;
    return 0;
}

int dp_envelope_load(struct dp_envelope **out, const char *path, const char *dir,
                     struct cmk_err *err)
{
    *out = NULL;
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        if (!dp__env_exists(path))
            return cmk_err_set(err, CMK_ENOTFOUND, 0, "EnvelopeNotFound", "envelope %s not found",
                               path);
        return cmk_err_set(err, CMK_EPARSE, 0, "InvalidEnvelope", "envelope %s: %s (line %d)", path,
                           je.text, je.line);
    }
    struct dp_envelope *env = dp__env_new(path, dir);
    int rc = dp__env_parse(env, j, err);
    json_decref(j);
    if (rc == 0 && dp__env_resolve_rotations(env))
        rc = dp__env_save(env, err);
    if (rc != 0) {
        dp_envelope_free(env);
        return rc;
    }
    *out = env;
    return 0;
}

int dp_envelope_unlock(struct dp_envelope *env, const struct dp_kek *kek, struct cmk_err *err)
{
    if (kek == NULL || kek->unwrap == NULL)
        return cmk_err_set(err, CMK_EINVAL, 0, "InvalidKek", "no unwrap function");
    uint8_t **keys = cmk_xcalloc(env->n ? env->n : 1, sizeof(*keys));
    int rc = 0;
    for (size_t i = 0; i < env->n && rc == 0; i++) {
        keys[i] = dp_key_alloc(DP_DEK_LEN);
        rc = kek->unwrap(kek->ctx, env->deks[i].wrapped, keys[i], DP_DEK_LEN, err);
    }
    if (rc == 0) {
        for (size_t i = 0; i < env->n; i++) {
            dp_key_free(env->deks[i].key, DP_DEK_LEN);
            env->deks[i].key = keys[i];
            keys[i] = NULL;
        }
        env->unlocked = 1;
        for (size_t i = 0; i < env->n && rc == 0; i++)
            rc = register_key(env, &env->deks[i], err);
    }
    for (size_t i = 0; i < env->n; i++)
        dp_key_free(keys[i], DP_DEK_LEN);
    free(keys);
    if (rc != 0)
        dp_envelope_lock(env);
    return rc;
}

void dp_envelope_lock(struct dp_envelope *env)
{
    if (env == NULL)
        return;
    for (size_t i = 0; i < env->n; i++) {
        char *path = dp__env_join(env->dir, env->deks[i].file, NULL);
        dp_vfs_forget_key(path);
        free(path);
        dp_key_free(env->deks[i].key, DP_DEK_LEN);
        env->deks[i].key = NULL;
    }
    env->unlocked = 0;
}

void dp_envelope_free(struct dp_envelope *env)
{
    if (env == NULL)
        return;
    dp_envelope_lock(env);
    for (size_t i = 0; i < env->n; i++)
        dp__env_dek_close(&env->deks[i]);
    free(env->deks);
    free(env->path);
    free(env->dir);
    free(env->kek_kid);
    free(env->alg);
    free(env);
}

static int need_unlocked(const struct dp_envelope *env, struct cmk_err *err)
{
    if (!env->unlocked)
        return cmk_err_set(err, CMK_EUNAVAIL, 0, "EnvelopeLocked",
                           "the data encryption keys are not unwrapped");
    return 0;
}

static int same_kek(const struct dp_envelope *env, const struct dp_kek *kek, struct cmk_err *err)
{
    int rc = kek_ok(kek, 0, err);
    if (rc == 0 && strcmp(kek->kid, env->kek_kid) != 0)
        rc = cmk_err_set(err, CMK_ECONFLICT, 0, "KekMismatch",
                         "the envelope is wrapped by %s, not %s", env->kek_kid, kek->kid);
    return rc;
}

int dp_envelope_rewrap(struct dp_envelope *env, const struct dp_kek *kek, struct cmk_err *err)
{
    int rc = kek_ok(kek, 0, err);
    if (rc == 0)
        rc = need_unlocked(env, err);
    if (rc != 0)
        return rc;
    json_t **wrapped = cmk_xcalloc(env->n ? env->n : 1, sizeof(*wrapped));
    for (size_t i = 0; i < env->n && rc == 0; i++) {
        rc = kek->wrap(kek->ctx, env->deks[i].key, DP_DEK_LEN, &wrapped[i], err);
        if (rc == 0 && wrapped[i] == NULL)
            rc = cmk_err_set(err, CMK_EINTERNAL, 0, "WrapFailed", "the wrap callback gave nothing");
    }
    char *old_kid = env->kek_kid, *old_alg = env->alg;
    if (rc == 0) {
        for (size_t i = 0; i < env->n; i++) { /* swap in, keeping the old ones for a rollback */
            json_t *t = env->deks[i].wrapped;
            env->deks[i].wrapped = wrapped[i];
            wrapped[i] = t;
        }
        env->kek_kid = cmk_xstrdup(kek->kid);
        env->alg = cmk_xstrdup(kek->alg);
        rc = dp__env_save(env, err);
        if (rc != 0) { /* the file still holds the old wrapping: so does memory */
            for (size_t i = 0; i < env->n; i++) {
                json_t *t = env->deks[i].wrapped;
                env->deks[i].wrapped = wrapped[i];
                wrapped[i] = t;
            }
            free(env->kek_kid);
            free(env->alg);
            env->kek_kid = old_kid;
            env->alg = old_alg;
            old_kid = old_alg = NULL;
        }
    }
    if (rc == 0) {
        free(old_kid);
        free(old_alg);
    }
    for (size_t i = 0; i < env->n; i++)
        json_decref(wrapped[i]);
    free(wrapped);
    return rc;
}

int dp_envelope_add_file(struct dp_envelope *env, const char *file, const struct dp_kek *kek,
                         struct cmk_err *err)
{
    int rc = same_kek(env, kek, err);
    if (rc == 0)
        rc = need_unlocked(env, err);
    if (rc != 0)
        return rc;
    if (!dp__env_valid_file(file))
        return cmk_err_set(err, CMK_EINVAL, 0, "InvalidFileName", "invalid database file name");
    if (dp__env_find(env, file, 0) != NULL || dp__env_find(env, file, 1) != NULL)
        return cmk_err_set(err, CMK_EEXIST, 0, "DekExists", "%s already has a key", file);
    if (env->n >= DP__ENV_LIMIT)
        return cmk_err_set(err, CMK_ELIMIT, 0, "TooManyFiles", "too many database files");
    struct dp__dek *d = dp__env_append(env);
    d->file = cmk_xstrdup(file);
    rc = new_dek(env, kek, d, err);
    if (rc == 0)
        rc = dp__env_save(env, err);
    if (rc == 0)
        rc = register_key(env, d, err);
    if (rc != 0)
        dp__env_drop(env, d);
    return rc;
}

int dp_envelope_remove_file(struct dp_envelope *env, const char *file, struct cmk_err *err)
{
    struct dp__dek *d = file ? dp__env_find(env, file, 0) : NULL;
    if (d == NULL)
        return cmk_err_set(err, CMK_ENOTFOUND, 0, "DekNotFound", "no key for %s",
                           file ? file : "(null)");
    struct dp__dek saved = *d;
    size_t i = (size_t)(d - env->deks);
    memmove(&env->deks[i], &env->deks[i + 1], (env->n - i - 1) * sizeof(*d));
    env->n--;
    int rc = dp__env_save(env, err);
    if (rc != 0) { /* put it back */
        struct dp__dek *back = dp__env_append(env);
        *back = saved;
        return rc;
    }
    char *path = dp__env_join(env->dir, saved.file, NULL);
    dp_vfs_forget_key(path);
    free(path);
    dp__env_dek_close(&saved);
    return 0;
}

/* Copy src (old DEK) into dst (new DEK) page by page through SQLite's backup API: every page
 * is decrypted under the old key and sealed under the new one. */
static int reencrypt(const char *src, const char *dst, struct cmk_err *err)
{
    sqlite3 *s = NULL, *d = NULL;
    int rc = dp_db_open(src, &s, err);
    if (rc == 0)
        rc = dp_db_open(dst, &d, err);
    if (rc == 0) {
        sqlite3_backup *b = sqlite3_backup_init(d, "main", s, "main");
        int src_rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
        int fin_rc = sqlite3_backup_finish(b);
        if (src_rc != SQLITE_DONE || fin_rc != SQLITE_OK)
            rc = cmk_err_set(err, CMK_EIO, 0, "StorageError", "cannot re-encrypt %s: %s", src,
                             sqlite3_errmsg(d));
    }
    if (rc == 0 && sqlite3_exec(d, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != 0)
        rc = cmk_err_set(err, CMK_EIO, 0, "StorageError", "cannot checkpoint %s: %s", dst,
                         sqlite3_errmsg(d));
    if (sqlite3_close(d) != SQLITE_OK && rc == 0)
        rc = cmk_err_set(err, CMK_EIO, 0, "StorageError", "cannot close %s", dst);
    if (sqlite3_close(s) != SQLITE_OK && rc == 0)
        rc = cmk_err_set(err, CMK_EIO, 0, "StorageError", "cannot close %s", src);
    struct cmk_buf wal;
    cmk_buf_init(&wal);
    cmk_buf_printf(&wal, "%s-wal", src);
    /* Our connection was the last one only if closing it removed the log. */
    if (rc == 0 && dp__env_exists(wal.data))
        rc = cmk_err_set(err, CMK_ECONFLICT, 0, "DatabaseInUse",
                         "%s is in use: close its connections before rotating its key", src);
    cmk_buf_close(&wal);
    if (rc == 0 && dp__env_fsync(dst, 0) != 0)
        rc = cmk_err_set(err, CMK_EIO, 0, "StorageError", "cannot sync %s", dst);
    return rc;
}

int dp_envelope_rotate_dek(struct dp_envelope *env, const char *file, const struct dp_kek *kek,
                           struct cmk_err *err)
{
    int rc = same_kek(env, kek, err);
    if (rc == 0)
        rc = need_unlocked(env, err);
    if (rc != 0)
        return rc;
    if (file == NULL || dp__env_find(env, file, 0) == NULL)
        return cmk_err_set(err, CMK_ENOTFOUND, 0, "DekNotFound", "no key for %s",
                           file ? file : "(null)");
    char *path = dp__env_join(env->dir, file, NULL),
         *tmp = dp__env_join(env->dir, file, DP__ENV_REKEY_EXT);
    struct dp__dek *nd = dp__env_append(env);
    nd->file = cmk_xstrdup(file);
    nd->pending = 1;
    dp__env_remove_db(tmp);
    rc = new_dek(env, kek, nd, err);
    int exists = dp__env_exists(path);
    if (rc == 0 && exists) {
        rc = dp_vfs_set_key(tmp, nd->key, nd->id, err);
        if (rc == 0)
            rc = reencrypt(path, tmp, err);
        dp_vfs_forget_key(tmp);
    }
    if (rc == 0)
        rc = dp__env_save(env, err); /* step 1: both DEKs recorded, the new one pending */
    if (rc == 0 && dp_envelope__crash_after == 1)
        goto crashed;
    if (rc == 0 && exists && (rename(tmp, path) != 0 || dp__env_fsync(env->dir, 1) != 0))
        rc = cmk_err_set(err, CMK_EIO, 0, "StorageError", "cannot swap in %s: %s", tmp,
                         strerror(errno));
    if (rc == 0 && dp_envelope__crash_after == 2)
        goto crashed;
    if (rc != 0) {
        dp__env_remove_db(tmp);
        dp__env_drop(env, nd);
        struct cmk_err ignored;
        (void)dp__env_save(env,
                           &ignored); /* best effort: load would drop the pending entry anyway */
        goto out;
    }
    /* step 2: the file is under the new DEK; forget the old one */
    nd = dp__env_find(env, file, 1);
    nd->pending = 0;
    dp__env_drop(env, dp__env_find(env, file, 0));
    nd = dp__env_find(env, file, 0);
    rc = dp__env_save(env, err);
    if (rc == 0)
        rc = register_key(env, nd, err); /* replaces (and wipes) the old key in the VFS */
    goto out;
crashed:
    rc = cmk_err_set(err, CMK_EINTERNAL, 0, "SimulatedCrash", "stopped after step %d",
                     dp_envelope__crash_after);
out:
    free(path);
    free(tmp);
    return rc;
}

int dp_envelope_copy(const struct dp_envelope *env, const char *path, const char *dir,
                     const struct dp_kek *kek, struct dp_envelope **out, struct cmk_err *err)
{
    *out = NULL;
    int rc = kek_ok(kek, 0, err);
    if (rc == 0)
        rc = need_unlocked(env, err);
    if (rc != 0)
        return rc;
    if (dp__env_exists(path))
        return cmk_err_set(err, CMK_EEXIST, 0, "EnvelopeExists", "envelope %s exists", path);
    struct dp_envelope *c = dp__env_new(path, dir);
    c->kek_kid = cmk_xstrdup(kek->kid);
    c->alg = cmk_xstrdup(kek->alg);
    c->next_id = env->next_id;
    c->unlocked = 1;
    for (size_t i = 0; i < env->n && rc == 0; i++) {
        if (env->deks[i].pending)
            continue;
        struct dp__dek *d = dp__env_append(c);
        snprintf(d->id, sizeof(d->id), "%s", env->deks[i].id);
        d->file = cmk_xstrdup(env->deks[i].file);
        d->key = dp_key_alloc(DP_DEK_LEN);
        memcpy(d->key, env->deks[i].key, DP_DEK_LEN);
        rc = kek->wrap(kek->ctx, d->key, DP_DEK_LEN, &d->wrapped, err);
        if (rc == 0 && d->wrapped == NULL)
            rc = cmk_err_set(err, CMK_EINTERNAL, 0, "WrapFailed", "the wrap callback gave nothing");
    }
    if (rc == 0)
        rc = dp__env_save(c, err);
    for (size_t i = 0; i < c->n && rc == 0; i++)
        rc = register_key(c, &c->deks[i], err);
    if (rc != 0) {
        dp_envelope_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int dp_envelope_unlocked(const struct dp_envelope *env)
{
    return env != NULL && env->unlocked;
}

const char *dp_envelope_kek_kid(const struct dp_envelope *env)
{
    return env->kek_kid;
}

const char *dp_envelope_alg(const struct dp_envelope *env)
{
    return env->alg;
}

size_t dp_envelope_count(const struct dp_envelope *env)
{
    return env->n;
}

const char *dp_envelope_file(const struct dp_envelope *env, size_t i)
{
    return i < env->n ? env->deks[i].file : NULL;
}

const char *dp_envelope_dek_id(const struct dp_envelope *env, const char *file)
{
    for (size_t i = 0; i < env->n; i++)
        if (!env->deks[i].pending && file != NULL && strcmp(env->deks[i].file, file) == 0)
            return env->deks[i].id;
    return NULL;
}
