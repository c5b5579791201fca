/* envelope_store.c: the envelope file of a server (format in envelope.c's comment) and the
 * small helpers envelope.c uses: names and paths, the list of DEKs, atomic writes, and the
 * repair of a DEK rotation a crash interrupted. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "dataplane/envelope_int.h"

/* ---- helpers ---- */

int dp__env_valid_file(const char *f)
{
    size_t n = f ? strlen(f) : 0;
    if (n == 0 || n > DP_ENVELOPE_FILE_MAX || f[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = f[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

char *dp__env_join(const char *dir, const char *file, const char *ext)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_printf(&b, "%s/%s%s", dir, file, ext ? ext : "");
    return cmk_buf_take(&b, NULL);
}

/* A database and its WAL and shared-memory files. */
void dp__env_remove_db(const char *path)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    unlink(path);
    cmk_buf_printf(&b, "%s-wal", path);
    unlink(b.data);
    cmk_buf_reset(&b);
    cmk_buf_printf(&b, "%s-shm", path);
    unlink(b.data);
    cmk_buf_close(&b);
}

int dp__env_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int dp__env_fsync(const char *path, int dir)
{
    int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

struct dp__dek *dp__env_find(struct dp_envelope *env, const char *file, int pending)
{
    for (size_t i = 0; i < env->n; i++)
        if (strcmp(env->deks[i].file, file) == 0 && env->deks[i].pending == pending)
            return &env->deks[i];
    return NULL;
}

struct dp__dek *dp__env_append(struct dp_envelope *env)
{
    if (env->n == env->cap) {
        env->cap = env->cap ? env->cap * 2 : 4;
        env->deks = cmk_xrealloc(env->deks, env->cap * sizeof(*env->deks));
    }
    struct dp__dek *d = &env->deks[env->n++];
    memset(d, 0, sizeof(*d));
    return d;
}

void dp__env_dek_close(struct dp__dek *d)
{
    dp_key_free(d->key, DP_DEK_LEN);
    d->key = NULL;
    json_decref(d->wrapped);
    d->wrapped = NULL;
    free(d->file);
    d->file = NULL;
}

void dp__env_drop(struct dp_envelope *env, struct dp__dek *d)
{
    size_t i = (size_t)(d - env->deks);
    dp__env_dek_close(d);
    memmove(&env->deks[i], &env->deks[i + 1], (env->n - i - 1) * sizeof(*d));
    env->n--;
}

struct dp_envelope *dp__env_new(const char *path, const char *dir)
{
    struct dp_envelope *env = cmk_xcalloc(1, sizeof(*env));
    env->path = cmk_xstrdup(path);
    env->dir = cmk_xstrdup(dir);
    env->next_id = 1;
    return env;
}

/* ---- the file ---- */

static json_t *to_json(const struct dp_envelope *env)
{
    json_t *deks = json_array();
    for (size_t i = 0; i < env->n; i++) {
        const struct dp__dek *d = &env->deks[i];
        json_t *o =
            json_pack("{s:s, s:s, s:O}", "id", d->id, "file", d->file, "wrapped", d->wrapped);
        if (d->pending)
            json_object_set_new(o, "pending", json_true());
        json_array_append_new(deks, o);
    }
    return json_pack("{s:s, s:{s:s, s:s}, s:s, s:I, s:o}", "format", DP__ENV_FORMAT, "kek", "kid",
                     env->kek_kid, "alg", env->alg, "cipher", "AES-256-GCM", "next_dek",
                     (json_int_t)env->next_id, "deks", deks);
}

int dp__env_save(const struct dp_envelope *env, struct cmk_err *err)
{
    json_t *j = to_json(env);
    char *text = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    if (text == NULL)
        return cmk_err_set(err, CMK_EINTERNAL, 0, "InternalError", "cannot serialise envelope");
    struct cmk_buf tmp;
    cmk_buf_init(&tmp);
    cmk_buf_printf(&tmp, "%s.tmp", env->path);
    size_t len = strlen(text), off = 0;
    int fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0 && fchmod(fd, 0600) == 0;
    while (ok && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        off += ok ? (size_t)w : 0;
    }
    ok = ok && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    /* The directory holding the envelope, which need not be the databases' one. */
    struct cmk_buf parent;
    cmk_buf_init(&parent);
    const char *slash = strrchr(env->path, '/');
    if (slash == NULL)
        cmk_buf_puts(&parent, ".");
    else
        cmk_buf_append(&parent, env->path, slash == env->path ? 1 : (size_t)(slash - env->path));
    ok = ok && rename(tmp.data, env->path) == 0 && dp__env_fsync(parent.data, 1) == 0;
    cmk_buf_close(&parent);
    int e = errno;
    free(text);
    if (!ok)
        unlink(tmp.data);
    cmk_buf_close(&tmp);
    if (!ok)
        return cmk_err_set(err, CMK_EIO, 0, "StorageError", "cannot write envelope %s: %s",
                           env->path, strerror(e));
    return 0;
}

int dp__env_parse(struct dp_envelope *env, json_t *j, struct cmk_err *err)
{
    const char *format = NULL, *kid = NULL, *alg = NULL, *cipher = NULL;
    json_int_t next = 0;
    json_t *deks = NULL;
    json_error_t je;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s, s:{s:s, s:s}, s:s, s:I, s:o}", "format", &format,
                       "kek", "kid", &kid, "alg", &alg, "cipher", &cipher, "next_dek", &next,
                       "deks", &deks) != 0 ||
        strcmp(format, DP__ENV_FORMAT) != 0 || strcmp(cipher, "AES-256-GCM") != 0 || next < 1 ||
        next > 0x7FFFFFFF || !json_is_array(deks) || json_array_size(deks) > DP__ENV_LIMIT)
        return cmk_err_set(err, CMK_EPARSE, 0, "InvalidEnvelope", "envelope %s is malformed",
                           env->path);
    env->kek_kid = cmk_xstrdup(kid);
    env->alg = cmk_xstrdup(alg);
    env->next_id = (unsigned)next;
    size_t i;
    json_t *o;
    json_array_foreach(deks, i, o)
    {
        const char *id = NULL, *file = NULL;
        json_t *wrapped = NULL;
        int pending = 0;
        if (json_unpack_ex(o, &je, JSON_STRICT, "{s:s, s:s, s:o, s?b}", "id", &id, "file", &file,
                           "wrapped", &wrapped, "pending", &pending) != 0 ||
            strlen(id) == 0 || strlen(id) >= DP_DEK_ID_MAX || !dp__env_valid_file(file) ||
            dp__env_find(env, file, pending != 0) != NULL)
            return cmk_err_set(err, CMK_EPARSE, 0, "InvalidEnvelope",
                               "envelope %s: entry %zu is malformed", env->path, i);
        struct dp__dek *d = dp__env_append(env);
        snprintf(d->id, sizeof(d->id), "%s", id);
        d->file = cmk_xstrdup(file);
        d->wrapped = json_incref(wrapped);
        d->pending = pending != 0;
    }
    return 0;
}

/* A crash during dp_envelope_rotate_dek: see envelope.h. Returns 1 if env changed. */
int dp__env_resolve_rotations(struct dp_envelope *env)
{
    int changed = 0;
    for (size_t i = 0; i < env->n; i++) {
        struct dp__dek *p = &env->deks[i];
        if (!p->pending)
            continue;
        char *tmp = dp__env_join(env->dir, p->file, DP__ENV_REKEY_EXT);
        struct dp__dek *cur = dp__env_find(env, p->file, 0);
        if (dp__env_exists(tmp) && cur != NULL) { /* not swapped yet: keep the old DEK */
            dp__env_remove_db(tmp);
            dp__env_drop(env, p);
        } else { /* swapped: the file is under the new DEK */
            p->pending = 0;
            if (cur != NULL)
                dp__env_drop(env, cur);
        }
        free(tmp);
        changed = 1;
        i = (size_t)-1; /* entries moved: start over */
    }
    for (size_t i = 0; i < env->n; i++) { /* a re-encryption that never got recorded */
        char *tmp = dp__env_join(env->dir, env->deks[i].file, DP__ENV_REKEY_EXT);
        if (dp__env_exists(tmp))
            dp__env_remove_db(tmp);
        free(tmp);
    }
    return changed;
}
