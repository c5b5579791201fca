/* restore.c: a server's database files rebuilt from backups as of a point in time (point-in-time
 * restore, geo-restore, revive of a dropped server).
 *
 * For each file: its latest full at or before the point, then the WAL archived after that full,
 * generation by generation: the bytes of one generation are written as the new file's -wal at
 * the offsets they had (every page in it is sealed with the frame's position as associated
 * data), SQLite's recovery reads them, a checkpoint moves them into the database file; then the
 * next generation. The WAL of the generation the point falls in is cut after the last commit
 * made at or before the point (the "marks" of backup.c). The source's DEKs open the pages: the
 * caller registered them for the new paths (dp_envelope_copy), so nothing is re-encrypted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "dataplane/vfs.h"
#include "server_int.h"

struct entry {
    unsigned long long seq;
    json_t *meta;
};

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static struct entry *list_entries(const char *dir, size_t *n)
{
    *n = 0;
    DIR *dh = opendir(dir);
    if (dh == NULL)
        return NULL;
    struct entry *v = NULL;
    size_t cap = 0;
    struct dirent *de;
    char path[PATH_MAX + 300];
    while ((de = readdir(dh)) != NULL) {
        char *end;
        unsigned long long s = strtoull(de->d_name, &end, 10);
        if (end == de->d_name || strcmp(end, ".json") != 0)
            continue;
        dp__pathf(path, sizeof(path), "%s/%s", dir, de->d_name);
        json_t *m = json_load_file(path, 0, NULL);
        if (!json_is_object(m)) {
            json_decref(m);
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            v = cmk_xrealloc(v, cap * sizeof(*v));
        }
        v[*n].seq = s;
        v[*n].meta = m;
        (*n)++;
    }
    closedir(dh);
    if (*n)
        qsort(v, *n, sizeof(*v), cmp_entry);
    return v;
}

static json_int_t num(const json_t *m, const char *k)
{
    return json_integer_value(json_object_get(m, k));
}

static int is_kind(const json_t *m, const char *kind)
{
    const char *k = json_string_value(json_object_get(m, "kind"));
    return k && strcmp(k, kind) == 0;
}

static int same_salt(const json_t *m, const uint32_t salt[2])
{
    json_t *s = json_object_get(m, "salt");
    return (uint32_t)json_integer_value(json_array_get(s, 0)) == salt[0] &&
           (uint32_t)json_integer_value(json_array_get(s, 1)) == salt[1];
}

/* Append bytes [0, n) of src to fd. */
static int append(int fd, const char *src, int64_t n)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return CMK_EIO;
    static unsigned char buf[1 << 16];
    int64_t done = 0;
    int rc = 0;
    while (rc == 0 && done < n) {
        size_t want = (size_t)(n - done) < sizeof(buf) ? (size_t)(n - done) : sizeof(buf);
        ssize_t r = read(in, buf, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = CMK_EIO;
            break;
        }
        for (ssize_t w = 0; rc == 0 && w < r;) {
            ssize_t x = write(fd, buf + w, (size_t)(r - w));
            if (x < 0 && errno == EINTR)
                continue;
            if (x <= 0)
                rc = CMK_EIO;
            else
                w += x;
        }
        done += r;
    }
    close(in);
    return rc;
}

/* Move the generation written to path-wal into the database (recovery, checkpoint). */
static int apply_wal(const char *path, struct cmk_err *err)
{
    sqlite3 *db = NULL;
    int rc = dp_db_open(path, &db, err);
    if (rc != 0)
        return rc;
    int nlog = 0, nckpt = 0;
    int src = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt);
    if (src != SQLITE_OK)
        rc = cmk_err_set(err, CMK_EIO, 500, "RestoreFailed", "replaying the WAL of %s: %s", path,
                         sqlite3_errmsg(db));
    sqlite3_close_v2(db);
    return rc;
}

/* Restore one file; CMK_ENOTFOUND when it has no full at or before t. */
static int restore_file(const char *bdir, const char *dst, cmk_time_t t, struct cmk_err *err)
{
    size_t n = 0;
    struct entry *v = list_entries(bdir, &n);
    size_t base = n;
    for (size_t i = 0; i < n; i++)
        if (is_kind(v[i].meta, "full") && num(v[i].meta, "t") <= t)
            base = i;
    int rc = 0;
    char src[PATH_MAX + 64], wal[PATH_MAX + 8];
    snprintf(wal, sizeof(wal), "%s-wal", dst);
    if (base == n) {
        rc = CMK_ENOTFOUND;
        goto out;
    }
    dp__pathf(src, sizeof(src), "%s/%010llu.full.db", bdir, v[base].seq);
    if ((rc = dp__copy_file(src, dst)) != 0) {
        rc = cmk_err_set(err, CMK_EIO, 500, "RestoreFailed", "cannot copy the backup %s", src);
        goto out;
    }
    uint32_t salt[2] = {0, 0};
    int64_t len = 0; /* bytes of the current generation written */
    int fd = open(wal, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = cmk_err_set(err, CMK_EIO, 500, "RestoreFailed", "cannot write %s", wal);
        goto out;
    }
    int64_t walbytes = num(v[base].meta, "walBytes");
    if (walbytes > 0) {
        json_t *s = json_object_get(v[base].meta, "salt");
        salt[0] = (uint32_t)json_integer_value(json_array_get(s, 0));
        salt[1] = (uint32_t)json_integer_value(json_array_get(s, 1));
        dp__pathf(src, sizeof(src), "%s/%010llu.full.wal", bdir, v[base].seq);
        rc = append(fd, src, walbytes);
        len = walbytes;
    }
    size_t replayed = 0;
    for (size_t i = base + 1; rc == 0 && i < n && is_kind(v[i].meta, "wal"); i++) {
        const json_t *m = v[i].meta;
        int64_t from = num(m, "from"), to = num(m, "to");
        int last = 0;
        if (num(m, "t") > t) { /* the point falls inside: up to its last commit by then */
            int64_t cut = from;
            json_t *mk;
            size_t k;
            json_array_foreach(json_object_get(m, "marks"), k, mk)
            {
                if (json_integer_value(json_array_get(mk, 0)) <= t)
                    cut = json_integer_value(json_array_get(mk, 1));
            }
            to = cut < to ? cut : to;
            last = 1;
        }
        if (!same_salt(m, salt)) { /* a new generation: the previous one goes in first */
            if (len > 0) {
                close(fd);
                if ((rc = apply_wal(dst, err)) != 0)
                    goto out;
                fd = open(wal, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0) {
                    rc = cmk_err_set(err, CMK_EIO, 500, "RestoreFailed", "cannot write %s", wal);
                    goto out;
                }
            }
            json_t *s = json_object_get(m, "salt");
            salt[0] = (uint32_t)json_integer_value(json_array_get(s, 0));
            salt[1] = (uint32_t)json_integer_value(json_array_get(s, 1));
            len = 0;
        }
        if (from != len) {
            cmk_warn("dataplane",
                     "msg=\"WAL archive has a gap: restore stops there\" dir=%s "
                     "seq=%llu from=%lld expected=%lld",
                     bdir, v[i].seq, (long long)from, (long long)len);
            break;
        }
        if (to > from) {
            dp__pathf(src, sizeof(src), "%s/%010llu.wal", bdir, v[i].seq);
            rc = append(fd, src, to - from);
            len = to;
            replayed++;
        }
        if (last)
            break;
    }
    close(fd);
    if (rc == 0 && len > 0)
        rc = apply_wal(dst, err);
    if (rc == 0)
        cmk_info("dataplane", "msg=\"file restored\" file=%s full=%llu segments=%zu", dst,
                 v[base].seq, replayed);
out:
    unlink(wal);
    char shm[PATH_MAX + 8];
    snprintf(shm, sizeof(shm), "%s-shm", dst);
    unlink(shm);
    for (size_t i = 0; i < n; i++)
        json_decref(v[i].meta);
    free(v);
    return rc;
}

int dp__restore_files(struct dp_servers *d, const char *src_dir, const char *dst_dir,
                      struct dp_envelope *env, cmk_time_t t, struct cmk_err *err)
{
    (void)d;
    size_t n = dp_envelope_count(env);
    char **names = cmk_xcalloc(n ? n : 1, sizeof(*names));
    for (size_t i = 0; i < n; i++)
        names[i] = cmk_xstrdup(dp_envelope_file(env, i));
    int rc = 0, have_postgres = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char bdir[PATH_MAX + DP_ENVELOPE_FILE_MAX + 16], dst[PATH_MAX];
        snprintf(bdir, sizeof(bdir), "%s/backups/%s", src_dir, names[i]);
        if (dp__path(dst, sizeof(dst), dst_dir, names[i]) != 0) {
            rc = CMK_ELIMIT;
            break;
        }
        rc = restore_file(bdir, dst, t, err);
        if (rc == CMK_ENOTFOUND) { /* created after the point: not in the copy */
            cmk_err_clear(err);
            rc = dp_envelope_remove_file(env, names[i], err);
        } else if (rc == 0 && strcmp(names[i], "postgres.db") == 0) {
            have_postgres = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc == 0 && !have_postgres) {
        char at[40];
        cmk_time_format(t, at, sizeof(at));
        rc = cmk_err_set(err, CMK_ENOTFOUND, 400, "InvalidRestorePointInTime",
                         "There is no backup of the source server at or before %s.", at);
    }
    return rc;
}
