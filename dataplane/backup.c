/* backup.c: a server's backups: full copies of each database file and its archived write-ahead
 * log, on the clock, retained for backupRetentionDays, in DIR/backups/FILE/.
 *
 * Everything is copied as it is on disk: pages sealed under the file's DEK (the frames of the
 * WAL too; their headers are clear, as in the live file), so backups are encrypted with the
 * server's DEKs and readable only by whoever can unwrap them.
 *
 *   SEQ.json + SEQ.full.db [+ SEQ.full.wal]   a full: the database file, and the bytes of the
 *                                             WAL generation still live if the checkpoint could
 *                                             not empty it
 *   SEQ.json + SEQ.wal                        WAL bytes [from, to) of generation "salt", with the
 *                                             commits' times ("marks": [[t, end offset]...])
 *   state.json                                the generation and offset archived so far
 *
 * Only the data plane checkpoints (its WAL hook replaces SQLite's autocheckpoint, and its own
 * connection to every file is the last to close), and it archives the frames first, so no frame
 * leaves the WAL unarchived: SQLite restarts a WAL generation only after a complete checkpoint.
 * How far the WAL is valid comes from SQLite itself (the frame count of a passive checkpoint),
 * never from guessing at the file, since a crash can leave torn frames beyond it.
 * restore.c replays a full and the archive after it up to a point in time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server_int.h"

#define MARK_GRAIN (100 * CMK_MS) /* commit times kept per segment: one per 100 ms */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int file_dir(const struct dp_file *f, char *out, size_t n)
{
    int w = snprintf(out, n, "%s/backups/%s", f->srv->dir, f->name);
    return w < 0 || (size_t)w >= n ? CMK_ELIMIT : 0;
}

static int64_t frame_size(const struct dp_file *f)
{
    return 24 + (f->pagesize > 0 ? f->pagesize : 4096);
}

/* ---- state.json ---- */

static void state_load(struct dp_file *f)
{
    if (f->archive_loaded)
        return;
    f->archive_loaded = 1;
    char dir[PATH_MAX], path[PATH_MAX + 16];
    if (file_dir(f, dir, sizeof(dir)) != 0)
        return;
    snprintf(path, sizeof(path), "%s/state.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    json_t *salt = json_object_get(j, "salt");
    f->salt[0] = (uint32_t)json_integer_value(json_array_get(salt, 0));
    f->salt[1] = (uint32_t)json_integer_value(json_array_get(salt, 1));
    f->archived = json_integer_value(json_object_get(j, "archived"));
    f->last_full = json_integer_value(json_object_get(j, "lastFull"));
    f->seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
    json_decref(j);
}

static int state_save(struct dp_file *f)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    int rc = file_dir(f, dir, sizeof(dir));
    if (rc != 0)
        return rc;
    snprintf(path, sizeof(path), "%s/state.json", dir);
    json_t *j = json_pack("{s:[I,I], s:I, s:I, s:I}", "salt", (json_int_t)f->salt[0],
                          (json_int_t)f->salt[1], "archived", (json_int_t)f->archived, "lastFull",
                          (json_int_t)f->last_full, "seq", (json_int_t)f->seq);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    rc = dp__write_file(path, s, strlen(s));
    free(s);
    return rc;
}

/* Copy bytes [from, to) of fd into path (tmp, fsync, rename). */
static int copy_range(int fd, int64_t from, int64_t to, const char *path)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0)
        return CMK_EIO;
    static unsigned char buf[1 << 16];
    int ok = 1;
    for (int64_t off = from; ok && off < to;) {
        size_t want = (size_t)(to - off) < sizeof(buf) ? (size_t)(to - off) : sizeof(buf);
        ssize_t r = pread(fd, buf, want, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            ok = 0;
            break;
        }
        for (ssize_t w = 0; ok && w < r;) {
            ssize_t x = write(out, buf + w, (size_t)(r - w));
            if (x < 0 && errno == EINTR)
                continue;
            if (x <= 0)
                ok = 0;
            else
                w += x;
        }
        off += r;
    }
    ok = ok && fsync(out) == 0;
    close(out);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return CMK_EIO;
    }
    return 0;
}

static int write_meta(const char *dir, uint64_t seq, json_t *meta)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%010llu.json", dir, (unsigned long long)seq);
    char *s = json_dumps(meta, JSON_COMPACT);
    int rc = dp__write_file(path, s, strlen(s));
    free(s);
    return rc;
}

/* ---- the WAL hook ---- */

void dp__backup_note_commit(struct dp_file *f, int nframe)
{
    f->commits++;
    if (f->srv->replica)
        return;
    cmk_time_t now = cmk_clock_now(&f->srv->d->rt->clock);
    int64_t end = 32 + (int64_t)nframe * frame_size(f);
    if (f->nmarks > 0 && f->marks[f->nmarks - 1].t / MARK_GRAIN == now / MARK_GRAIN &&
        f->marks[f->nmarks - 1].end <= end) {
        f->marks[f->nmarks - 1].t = now;
        f->marks[f->nmarks - 1].end = end;
        return;
    }
    if (f->nmarks == f->capmarks) {
        f->capmarks = f->capmarks ? 2 * f->capmarks : 64;
        f->marks = cmk_xrealloc(f->marks, f->capmarks * sizeof(*f->marks));
    }
    f->marks[f->nmarks].t = now;
    f->marks[f->nmarks].end = end;
    f->nmarks++;
}

/* ---- archive ---- */

int dp__backup_archive(struct dp_file *f, struct cmk_err *err)
{
    if (f->srv->replica || f->svc == NULL)
        return 0;
    state_load(f);
    int nlog = 0, nckpt = 0;
    /* SQLite's own count of valid frames (a passive checkpoint also copies them into the
     * database file, which is fine: the WAL keeps them until the next generation). */
    if (sqlite3_wal_checkpoint_v2(f->svc, "main", SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt) !=
            SQLITE_OK ||
        nlog <= 0) {
        f->nmarks = 0;
        return 0;
    }
    char wal[PATH_MAX + 8], dir[PATH_MAX];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    int rc = file_dir(f, dir, sizeof(dir));
    if (rc == 0)
        rc = dp__mkdirs(dir);
    if (rc != 0)
        return cmk_err_set(err, CMK_EIO, 500, "BackupFailed", "cannot create %s", dir);
    int fd = open(wal, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    unsigned char hdr[32];
    if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
        (be32(hdr) & 0xfffffffe) != 0x377f0682) {
        close(fd);
        return 0;
    }
    f->pagesize = be32(hdr + 8);
    uint32_t salt[2] = {be32(hdr + 16), be32(hdr + 20)};
    int64_t end = 32 + (int64_t)nlog * frame_size(f);
    int64_t start = f->archived;
    if (salt[0] != f->salt[0] || salt[1] != f->salt[1] || start > end)
        start = 0; /* a new generation: from its header */
    if (end <= start) {
        close(fd);
        f->nmarks = 0;
        return 0;
    }
    cmk_time_t now = cmk_clock_now(&f->srv->d->rt->clock);
    uint64_t seq = ++f->seq;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%010llu.wal", dir, (unsigned long long)seq);
    rc = copy_range(fd, start, end, path);
    close(fd);
    if (rc != 0)
        return cmk_err_set(err, rc, 500, "BackupFailed", "cannot archive the WAL of %s", f->name);
    json_t *marks = json_array();
    for (size_t i = 0; i < f->nmarks; i++)
        if (f->marks[i].end > start && f->marks[i].end <= end)
            json_array_append_new(
                marks, json_pack("[I,I]", (json_int_t)f->marks[i].t, (json_int_t)f->marks[i].end));
    json_t *meta =
        json_pack("{s:s, s:I, s:[I,I], s:I, s:I, s:I, s:o}", "kind", "wal", "t", (json_int_t)now,
                  "salt", (json_int_t)salt[0], (json_int_t)salt[1], "from", (json_int_t)start, "to",
                  (json_int_t)end, "pageSize", (json_int_t)f->pagesize, "marks", marks);
    rc = write_meta(dir, seq, meta);
    json_decref(meta);
    f->nmarks = 0;
    f->salt[0] = salt[0];
    f->salt[1] = salt[1];
    f->archived = end;
    if (rc == 0)
        rc = state_save(f);
    if (rc != 0)
        return cmk_err_set(err, rc, 500, "BackupFailed", "cannot record the archive of %s",
                           f->name);
    return 0;
}

/* After a TRUNCATE checkpoint emptied the WAL, the next generation starts from nothing. */
static int truncate_wal(struct dp_file *f, int *nlog)
{
    int nckpt = 0;
    *nlog = 0;
    int rc = sqlite3_wal_checkpoint_v2(f->svc, "main", SQLITE_CHECKPOINT_TRUNCATE, nlog, &nckpt);
    if (rc != SQLITE_OK)
        return rc;
    f->salt[0] = f->salt[1] = 0;
    f->archived = 0;
    return SQLITE_OK;
}

void dp__backup_checkpoint(struct dp_file *f)
{
    if (f->svc == NULL)
        return;
    struct cmk_err err;
    cmk_err_clear(&err);
    if (!f->srv->replica && dp__backup_archive(f, &err) != 0) {
        cmk_warn("dataplane",
                 "msg=\"archive failed: no checkpoint\" server=%s file=%s error=\"%s\"",
                 f->srv->name, f->name, err.message);
        f->ckpt_at += DP_CHECKPOINT_FRAMES;
        return;
    }
    int nlog = 0;
    if (truncate_wal(f, &nlog) == SQLITE_OK) {
        f->ckpt_at = DP_CHECKPOINT_FRAMES;
        if (!f->srv->replica)
            state_save(f);
    } else {
        f->ckpt_at = (nlog > 0 ? nlog : f->ckpt_at) + DP_CHECKPOINT_FRAMES; /* readers in the way */
    }
}

int dp__backup_full(struct dp_file *f, struct cmk_err *err)
{
    if (f->svc == NULL || f->rawfd < 0)
        return cmk_err_set(err, CMK_EUNAVAIL, 409, "ServerNotOpen", "%s is not open", f->name);
    int rc = dp__backup_archive(f, err);
    if (rc != 0)
        return rc;
    char dir[PATH_MAX], path[PATH_MAX + 32];
    if (file_dir(f, dir, sizeof(dir)) != 0 || dp__mkdirs(dir) != 0)
        return cmk_err_set(err, CMK_EIO, 500, "BackupFailed", "cannot create the backup folder");
    int nlog = 0;
    int emptied = truncate_wal(f, &nlog) == SQLITE_OK;
    uint64_t seq = ++f->seq;
    cmk_time_t now = cmk_clock_now(&f->srv->d->rt->clock);
    int64_t walbytes = emptied ? 0 : f->archived;
    if (walbytes > 0) { /* readers kept the WAL: the full carries its generation so far */
        char wal[PATH_MAX + 8];
        snprintf(wal, sizeof(wal), "%s-wal", f->path);
        snprintf(path, sizeof(path), "%s/%010llu.full.wal", dir, (unsigned long long)seq);
        int fd = open(wal, O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? CMK_EIO : copy_range(fd, 0, walbytes, path);
        if (fd >= 0)
            close(fd);
    }
    struct stat st;
    if (rc == 0 && fstat(f->rawfd, &st) != 0)
        rc = CMK_EIO;
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/%010llu.full.db", dir, (unsigned long long)seq);
        rc = copy_range(f->rawfd, 0, st.st_size, path);
    }
    if (rc != 0)
        return cmk_err_set(err, rc, 500, "BackupFailed", "cannot copy %s", f->name);
    json_t *meta = json_pack("{s:s, s:I, s:[I,I], s:I, s:I}", "kind", "full", "t", (json_int_t)now,
                             "salt", (json_int_t)f->salt[0], (json_int_t)f->salt[1], "walBytes",
                             (json_int_t)walbytes, "pageSize", (json_int_t)f->pagesize);
    rc = write_meta(dir, seq, meta);
    json_decref(meta);
    f->last_full = now;
    if (rc == 0)
        rc = state_save(f);
    if (rc != 0)
        return cmk_err_set(err, rc, 500, "BackupFailed", "cannot record the full of %s", f->name);
    cmk_info("dataplane", "msg=\"full backup\" server=%s file=%s seq=%llu bytes=%lld", f->srv->name,
             f->name, (unsigned long long)seq, (long long)st.st_size);
    return 0;
}

/* ---- retention ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Remove what a restore in the window no longer needs: everything before the newest full
 * taken at or before the window's start. */
static void prune_file(struct dp_file *f, cmk_time_t window_start)
{
    char dir[PATH_MAX];
    if (file_dir(f, dir, sizeof(dir)) != 0)
        return;
    DIR *dh = opendir(dir);
    if (dh == NULL)
        return;
    uint64_t *seqs = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        char *end;
        unsigned long long s = strtoull(de->d_name, &end, 10);
        if (end == de->d_name || strcmp(end, ".json") != 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            seqs = cmk_xrealloc(seqs, cap * sizeof(*seqs));
        }
        seqs[n++] = s;
    }
    closedir(dh);
    qsort(seqs, n, sizeof(*seqs), cmp_u64);
    uint64_t keep_from = 0;
    char path[PATH_MAX + 32];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%010llu.json", dir, (unsigned long long)seqs[i]);
        json_t *m = json_load_file(path, 0, NULL);
        const char *kind = json_string_value(json_object_get(m, "kind"));
        cmk_time_t t = json_integer_value(json_object_get(m, "t"));
        if (kind && strcmp(kind, "full") == 0 && t <= window_start)
            keep_from = seqs[i];
        json_decref(m);
    }
    static const char *const exts[] = {".json", ".wal", ".full.db", ".full.wal"};
    for (size_t i = 0; i < n && seqs[i] < keep_from; i++)
        for (size_t e = 0; e < sizeof(exts) / sizeof(exts[0]); e++) {
            snprintf(path, sizeof(path), "%s/%010llu%s", dir, (unsigned long long)seqs[i], exts[e]);
            unlink(path);
        }
    free(seqs);
}

static int retention_days(struct dp_srv *srv)
{
    json_t *doc = dp__arm_doc(srv->d, srv->id);
    json_t *days = json_object_get(json_object_get(json_object_get(doc, "properties"), "backup"),
                                   "backupRetentionDays");
    int d = json_is_integer(days) ? (int)json_integer_value(days) : 7;
    json_decref(doc);
    return d > 0 ? d : 7;
}

int dp__backup_run(struct dp_srv *srv, int full, struct cmk_err *err)
{
    if (srv->state != DP_SRV_OPEN)
        return cmk_err_set(err, CMK_EUNAVAIL, 409, "ServerNotOpen",
                           "the server '%s' is not open: no backup", srv->name);
    if (srv->replica && dp__replica_active(srv))
        return 0; /* replicas take no backups */
    srv->replica = 0;
    cmk_time_t now = cmk_clock_now(&srv->d->rt->clock);
    int rc = 0;
    for (struct dp_file *f = srv->files; f && rc == 0; f = f->next) {
        state_load(f);
        if (full || f->last_full == 0 || now - f->last_full >= DP_FULL_PERIOD)
            rc = dp__backup_full(f, err);
        else
            rc = dp__backup_archive(f, err);
    }
    if (rc != 0)
        return rc;
    cmk_time_t window = now - (cmk_time_t)retention_days(srv) * CMK_DAY;
    for (struct dp_file *f = srv->files; f; f = f->next)
        prune_file(f, window);
    if (dp__geo_enabled(srv)) {
        struct cmk_err e;
        cmk_err_clear(&e);
        if (dp__geo_sync(srv, &e) != 0) /* the primary keeps working: only the copy lags */
            cmk_warn("dataplane", "msg=\"geo-redundant copy failed\" server=%s error=\"%s\"",
                     srv->name, e.message);
    }
    return 0;
}

static void on_backup_timer(struct cmk_timer *t)
{
    struct dp_srv *srv = t->data;
    struct cmk_err err;
    cmk_err_clear(&err);
    if (dp__backup_run(srv, 0, &err) != 0)
        cmk_warn("dataplane", "msg=\"backup failed\" server=%s error=\"%s\"", srv->name,
                 err.message);
}

void dp__backup_start(struct dp_srv *srv)
{
    cmk_timer_init(&srv->d->rt->clock, &srv->backup_timer, on_backup_timer, srv);
    cmk_timer_start(&srv->backup_timer, DP_ARCHIVE_PERIOD, DP_ARCHIVE_PERIOD);
}

void dp__backup_stop(struct dp_srv *srv)
{
    if (srv->backup_timer.clock)
        cmk_timer_stop(&srv->backup_timer);
}

void dp__backup_forget(struct dp_srv *srv, const char *file)
{
    char dir[PATH_MAX + DP_ENVELOPE_FILE_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/backups/%s", srv->dir, file);
    dp__rmtree(dir);
}
