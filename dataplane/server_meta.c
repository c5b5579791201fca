/* server_meta.c: what the data plane keeps about a server besides its data, and its files.
 *
 * server.json (mode 0600, replaced atomically) records what the data plane needs when the
 * control plane is not there to tell it: the server's id and name, its key (URI, the version
 * the DEKs are wrapped with, the identity), the geo-backup key, the administrator's SCRAM
 * verifier (never the password), whether it is a replica and of what, its own port, the logins
 * refused so far (resource health) and why logins are refused. It holds no key material.
 *
 * A server's database files are opened here: each gets the data plane's own connection
 * ("svc") for as long as the server is open, so that no session's close is the last one (the
 * last close checkpoints and deletes the WAL: only the backup code may checkpoint, after it
 * archived the frames), and a raw read-only descriptor for full backups (a descriptor closed
 * while SQLite holds POSIX locks on the file would drop them, so it lives as long as svc).
 * Every connection gets the WAL hook that feeds the archive and checkpoints.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "dataplane/vfs.h"
#include "server_int.h"

int dp__pathf(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    return w < 0 || (size_t)w >= n ? CMK_ELIMIT : 0;
}

int dp__path(char *out, size_t n, const char *dir, const char *name)
{
    return dp__pathf(out, n, "%s/%s", dir, name);
}

int dp__mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return CMK_EIO;
        *p = '/';
    }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? CMK_EIO : 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void dp__rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return 0;
    *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return CMK_EIO;
    fsync(fd);
    close(fd);
    return 0;
}

int dp__write_file(const char *path, const void *p, size_t n)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return CMK_EIO;
    const char *c = p;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, c + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    int ok = off == n && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return CMK_EIO;
    }
    return fsync_dir_of(path);
}

int dp__copy_file(const char *from, const char *to)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", to);
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return CMK_ENOTFOUND;
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return CMK_EIO;
    }
    static char buf[1 << 16];
    int ok = 1;
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            ok = 0;
        if (r <= 0)
            break;
        for (ssize_t off = 0; ok && off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                ok = 0;
            else
                off += w;
        }
    }
    ok = ok && fsync(out) == 0;
    close(in);
    close(out);
    if (!ok || rename(tmp, to) != 0) {
        unlink(tmp);
        return CMK_EIO;
    }
    return 0;
}

/* ---- server.json ---- */

int dp__meta_save(struct dp_srv *srv)
{
    static const char *const states[] = {"closed", "open", "locked", "stopped"};
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:i, s:I, s:s, "
        "s:s}",
        "id", srv->id, "name", srv->name, "location", srv->location, "encryption", srv->encryption,
        "keyUri", srv->key_uri, "kid", srv->kid, "identity", srv->identity, "geoKeyUri",
        srv->geo_key_uri, "geoIdentity", srv->geo_identity, "adminLogin", srv->admin,
        "adminVerifier", srv->verifier, "createMode", srv->create_mode, "sourceId", srv->source_id,
        "replica", srv->replica, "port", srv->port, "denied", (json_int_t)srv->denied, "state",
        states[srv->state], "message", srv->message);
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    char path[PATH_MAX];
    int rc = dp__path(path, sizeof(path), srv->dir, DP_META_FILE);
    if (rc == 0)
        rc = dp__write_file(path, s, strlen(s));
    free(s);
    if (rc != 0)
        cmk_warn("dataplane", "msg=\"cannot save server.json\" server=%s", srv->name);
    return rc;
}

static void copy_str(char *dst, size_t n, const json_t *j, const char *key)
{
    const char *v = json_string_value(json_object_get(j, key));
    snprintf(dst, n, "%s", v ? v : "");
}

int dp__meta_load(struct dp_srv *srv, const char *dir)
{
    char path[PATH_MAX];
    if (dp__path(path, sizeof(path), dir, DP_META_FILE) != 0)
        return CMK_ELIMIT;
    json_t *j = json_load_file(path, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return CMK_ENOTFOUND;
    }
    copy_str(srv->id, sizeof(srv->id), j, "id");
    copy_str(srv->name, sizeof(srv->name), j, "name");
    copy_str(srv->location, sizeof(srv->location), j, "location");
    copy_str(srv->encryption, sizeof(srv->encryption), j, "encryption");
    copy_str(srv->key_uri, sizeof(srv->key_uri), j, "keyUri");
    copy_str(srv->kid, sizeof(srv->kid), j, "kid");
    copy_str(srv->identity, sizeof(srv->identity), j, "identity");
    copy_str(srv->geo_key_uri, sizeof(srv->geo_key_uri), j, "geoKeyUri");
    copy_str(srv->geo_identity, sizeof(srv->geo_identity), j, "geoIdentity");
    copy_str(srv->admin, sizeof(srv->admin), j, "adminLogin");
    copy_str(srv->verifier, sizeof(srv->verifier), j, "adminVerifier");
    copy_str(srv->create_mode, sizeof(srv->create_mode), j, "createMode");
    copy_str(srv->source_id, sizeof(srv->source_id), j, "sourceId");
    copy_str(srv->message, sizeof(srv->message), j, "message");
    srv->replica = json_is_true(json_object_get(j, "replica"));
    srv->port = (int)json_integer_value(json_object_get(j, "port"));
    srv->denied = (uint64_t)json_integer_value(json_object_get(j, "denied"));
    snprintf(srv->dir, sizeof(srv->dir), "%s", dir);
    json_decref(j);
    return 0;
}

void dp__meta_from_cp(struct dp_srv *srv, const struct cp_dp_server *s)
{
#define SET(dst, v)                                                                                \
    do {                                                                                           \
        if ((v) != NULL)                                                                           \
            snprintf(dst, sizeof(dst), "%s", v);                                                   \
    } while (0)
    SET(srv->id, s->id);
    SET(srv->location, s->location);
    SET(srv->encryption, s->encryption);
    SET(srv->key_uri, s->key_uri);
    SET(srv->identity, s->identity_id);
    SET(srv->geo_key_uri, s->geo_key_uri);
    SET(srv->geo_identity, s->geo_identity_id);
    SET(srv->admin, s->admin_login);
    SET(srv->verifier, s->admin_verifier);
    if (s->create_mode && s->create_mode[0])
        SET(srv->create_mode, s->create_mode);
    if (s->source_id && s->source_id[0])
        SET(srv->source_id, s->source_id);
#undef SET
    if (srv->encryption[0] == '\0')
        snprintf(srv->encryption, sizeof(srv->encryption), "SystemManaged");
}

/* ---- files ---- */

struct dp_file *dp__file_find(struct dp_srv *srv, const char *name)
{
    for (struct dp_file *f = srv->files; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

struct dp_file *dp__file_add(struct dp_srv *srv, const char *name)
{
    struct dp_file *f = dp__file_find(srv, name);
    if (f)
        return f;
    f = cmk_xcalloc(1, sizeof(*f));
    f->srv = srv;
    f->rawfd = -1;
    f->ckpt_at = DP_CHECKPOINT_FRAMES;
    snprintf(f->name, sizeof(f->name), "%s", name);
    dp__path(f->path, sizeof(f->path), srv->dir, name);
    struct dp_file **pp = &srv->files;
    while (*pp)
        pp = &(*pp)->next;
    *pp = f;
    return f;
}

void dp__file_free(struct dp_file *f)
{
    if (f == NULL)
        return;
    if (f->svc)
        sqlite3_close_v2(f->svc);
    if (f->rawfd >= 0)
        close(f->rawfd);
    free(f->marks);
    free(f);
}

static int wal_hook(void *ctx, sqlite3 *db, const char *dbname, int nframe)
{
    struct dp_file *f = ctx;
    (void)db;
    (void)dbname;
    dp__backup_note_commit(f, nframe);
    if (nframe >= f->ckpt_at)
        dp__backup_checkpoint(f);
    return SQLITE_OK;
}

/* pg_last_xact_replay_timestamp(): when a replica last copied its primary, NULL elsewhere. */
static void fn_replay_timestamp(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    struct dp_srv *srv = sqlite3_user_data(ctx);
    if (!srv->replica || srv->replayed == 0) {
        sqlite3_result_null(ctx);
        return;
    }
    char t[40];
    cmk_time_format(srv->replayed, t, sizeof(t));
    sqlite3_result_text(ctx, t, -1, SQLITE_TRANSIENT);
}

int dp__file_connect(struct dp_file *f, int read_only, sqlite3 **out, struct cmk_err *err)
{
    int rc = dp_db_open(f->path, out, err);
    if (rc != 0)
        return rc;
    /* WAL + NORMAL: a commit is in the WAL file when it returns, so a killed process loses
     * nothing acknowledged (only a power loss could, as with PostgreSQL's
     * synchronous_commit=off). */
    sqlite3_exec(*out, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    /* A page read from disk is a page to decrypt: give each session a cache that holds a
     * working set of tens of MiB (SQLite's default is 2 MiB), as PostgreSQL's shared_buffers
     * would. Decrypted pages live only in memory, and go when the connection closes. */
    sqlite3_exec(*out, "PRAGMA cache_size=-32768", NULL, NULL, NULL);
    sqlite3_wal_hook(*out, wal_hook, f);
    if (read_only)
        sqlite3_exec(*out, "PRAGMA query_only=1", NULL, NULL, NULL);
    sqlite3_create_function(*out, "pg_last_xact_replay_timestamp", 0, SQLITE_UTF8, f->srv,
                            fn_replay_timestamp, NULL, NULL);
    return 0;
}

int dp__files_open(struct dp_srv *srv, struct cmk_err *err)
{
    for (size_t i = 0; i < dp_envelope_count(srv->env); i++) {
        struct dp_file *f = dp__file_add(srv, dp_envelope_file(srv->env, i));
        if (f->svc)
            continue;
        int rc = dp__file_connect(f, 0, &f->svc, err);
        if (rc != 0)
            return rc;
        /* make sure the file exists as a database before a raw descriptor reads it */
        sqlite3_exec(f->svc, "PRAGMA user_version", NULL, NULL, NULL);
        if (f->rawfd < 0)
            f->rawfd = open(f->path, O_RDONLY | O_CLOEXEC);
        static const char *const ext[] = {"", "-wal", "-shm"};
        for (size_t e = 0; e < 3; e++) { /* ciphertext, but nobody else's business either */
            char p[PATH_MAX + 8];
            if (dp__pathf(p, sizeof(p), "%s%s", f->path, ext[e]) == 0)
                chmod(p, 0600);
        }
        if (!srv->replica) {
            struct cmk_err e;
            cmk_err_clear(&e);
            if (dp__backup_archive(f, &e) != 0)
                cmk_warn("dataplane", "msg=\"archive failed\" server=%s file=%s error=\"%s\"",
                         srv->name, f->name, e.message);
        }
    }
    return 0;
}

void dp__files_close(struct dp_srv *srv)
{
    for (struct dp_file *f = srv->files; f; f = f->next) {
        if (f->svc && !srv->replica) {
            struct cmk_err e;
            cmk_err_clear(&e);
            dp__backup_archive(f, &e);
        }
        if (f->svc)
            sqlite3_close_v2(f->svc);
        f->svc = NULL;
        if (f->rawfd >= 0)
            close(f->rawfd);
        f->rawfd = -1;
    }
}
