/* vfs.c: the "cmkenc" SQLite VFS shim (keys: vfs_keys.c, temporary files: vfs_memfile.c).
 *
 * The shim sits on the default (unix) VFS, like SQLite's ext/misc/cksumvfs.c, and changes
 * only what reaches the disk: pages of the main database and of its WAL go through the page
 * codec (vfs_codec.c) on every read and write; every other read or write of those files must
 * be one of the few metadata shapes SQLite uses (the 100-byte database header, the 32-byte
 * WAL header, 24-byte frame headers), and anything else is refused rather than passed
 * through, so a shape we did not foresee fails instead of leaking plaintext. Temporary files
 * are kept in memory; rollback journals are refused.
 *
 * Crash recovery: after a crash SQLite rebuilds the WAL index by reading whole frames until
 * the first one whose salts or checksum are wrong. A torn frame at the tail does not
 * authenticate either; for those whole-frame reads the shim hands SQLite random bytes
 * instead of an error, so SQLite's own checksum ends the log there exactly as it does for
 * plain SQLite. Page reads (the normal path) are strict: a failed tag is SQLITE_IOERR_DATA.
 */
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "dataplane/vfs_int.h"

#define OPEN_TYPES                                                                                 \
    (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TRANSIENT_DB |                        \
     SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_SUBJOURNAL |                \
     SQLITE_OPEN_SUPER_JOURNAL | SQLITE_OPEN_WAL)

/* ---- Files ---- */

struct enc_file {
    sqlite3_file base;
    enum dp_file_kind kind;
    struct dp__key *key;
    const char *name;    /* SQLite's, valid while open; for log lines */
    struct enc_file *db; /* WAL: the database it belongs to; DB: itself */
    uint32_t pgsz;       /* DB: from page 1; WAL: from the log header */
    int reserve_ok;      /* DB: page 1 with our reserve has been read or written */
    uint8_t *scratch;    /* one page of ciphertext for the write path */
    size_t scratch_len;
    int64_t fhdr_off; /* WAL: offset of the last frame header written, -1 if none */
    uint8_t fhdr[DP_WAL_FRAME_HDR];
};
#define ORIG(f) ((sqlite3_file *)((struct enc_file *)(f) + 1))

static sqlite3_vfs *orig_vfs;
static const sqlite3_io_methods enc_io;

/* ---- Encrypted files ---- */

static int is_page_size(size_t n)
{
    return n >= 512 && n <= 65536 && (n & (n - 1)) == 0;
}

/* WAL geometry for page size p: frame i (1-based) starts at 32 + (i-1)*(24+p). */
static int wal_frame_start(int64_t off, size_t p)
{
    return off >= DP_WAL_HDR_LEN && (off - DP_WAL_HDR_LEN) % (int64_t)(DP_WAL_FRAME_HDR + p) == 0;
}

static uint32_t wal_page_size(const uint8_t *hdr)
{
    uint32_t magic = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | (hdr[2] << 8) | hdr[3];
    uint32_t p = ((uint32_t)hdr[8] << 24) | ((uint32_t)hdr[9] << 16) | (hdr[10] << 8) | hdr[11];
    return (magic & 0xFFFFFFFE) == 0x377f0682 && is_page_size(p) ? p : 0;
}

static size_t known_page_size(struct enc_file *f)
{
    return f->pgsz ? f->pgsz : f->db->pgsz;
}

/* Run the codec under the key's lock. Returns an SQLite code: SQLITE_IOERR_AUTH once the
 * key is forgotten, SQLITE_IOERR_DATA when the page does not authenticate. */
static int codec_run(struct enc_file *f, int encode, int64_t off, const uint8_t *fhdr,
                     const uint8_t *in, uint8_t *buf, size_t len)
{
    struct dp__key *k = f->key;
    int rc;
    pthread_mutex_lock(&k->lock);
    if (k->codec == NULL)
        rc = CMK_EDENIED;
    else if (encode)
        rc = dp_vfs_encode_page(k->codec, f->kind, off, fhdr, in, buf, len);
    else
        rc = dp_vfs_decode_page(k->codec, f->kind, off, fhdr, buf, len);
    pthread_mutex_unlock(&k->lock);
    if (rc == CMK_EDENIED) {
        sqlite3_log(SQLITE_IOERR_AUTH, "cmkenc: the key of %s was forgotten", f->name);
        return SQLITE_IOERR_AUTH;
    }
    if (rc != 0 && !encode) {
        sqlite3_log(SQLITE_IOERR_DATA, "cmkenc: page at offset %lld of %s does not authenticate",
                    (long long)off, f->name);
        return SQLITE_IOERR_DATA;
    }
    if (rc != 0) {
        sqlite3_log(SQLITE_IOERR_WRITE,
                    "cmkenc: cannot seal the page at offset %lld of %s (page 1 must declare %d "
                    "reserved bytes: open with dp_db_open)",
                    (long long)off, f->name, DP_PAGE_RESERVE);
        return SQLITE_IOERR_WRITE;
    }
    return SQLITE_OK;
}

static void note_page1(struct enc_file *f, uint32_t pgno, size_t len)
{
    if (pgno == 1) {
        f->db->pgsz = (uint32_t)len;
        f->db->reserve_ok = 1;
    }
}

static int refuse(struct enc_file *f, int rc, const char *what, int amt, int64_t off)
{
    sqlite3_log(rc, "cmkenc: refusing a %s of %d bytes at offset %lld of %s", what, amt,
                (long long)off, f->name);
    return rc;
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static int read_page(struct enc_file *f, uint8_t *buf, int amt, int64_t off)
{
    sqlite3_file *o = ORIG(f);
    uint8_t fh[DP_WAL_FRAME_HDR];
    const uint8_t *fhdr = NULL;
    int rc;
    if (f->kind == DP_FILE_WAL) {
        rc = o->pMethods->xRead(o, fh, DP_WAL_FRAME_HDR, off - DP_WAL_FRAME_HDR);
        if (rc != SQLITE_OK) {
            memset(buf, 0, (size_t)amt);
            return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_IOERR_DATA : rc;
        }
        fhdr = fh;
    }
    rc = o->pMethods->xRead(o, buf, amt, off);
    if (rc == SQLITE_IOERR_SHORT_READ) {
        /* Past the end: SQLite reads a zeroed page. A partial page is damage. */
        if (all_zero(buf, (size_t)amt))
            return rc;
        memset(buf, 0, (size_t)amt);
        return refuse(f, SQLITE_IOERR_DATA, "partial page", amt, off);
    }
    if (rc != SQLITE_OK)
        return rc;
    rc = codec_run(f, 0, off, fhdr, NULL, buf, (size_t)amt);
    if (rc == SQLITE_OK)
        note_page1(f,
                   fhdr ? ((uint32_t)fh[0] << 24 | (uint32_t)fh[1] << 16 | fh[2] << 8 | fh[3])
                        : (uint32_t)(off / amt) + 1,
                   (size_t)amt);
    return rc;
}

/* A whole WAL frame (recovery, checksum rewrite): see the file comment. */
static int read_frame(struct enc_file *f, uint8_t *buf, int amt, int64_t off)
{
    sqlite3_file *o = ORIG(f);
    int rc = o->pMethods->xRead(o, buf, amt, off);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
        return rc;
    int drc = rc == SQLITE_OK ? codec_run(f, 0, off, NULL, NULL, buf, (size_t)amt) : SQLITE_IOERR;
    if (drc == SQLITE_IOERR_AUTH)
        return drc;
    if (drc != SQLITE_OK) {
        if (RAND_bytes(buf + DP_WAL_FRAME_HDR, amt - DP_WAL_FRAME_HDR) != 1)
            return SQLITE_IOERR_READ;
        return rc;
    }
    return SQLITE_OK;
}

static int enc_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
    struct enc_file *f = (struct enc_file *)file;
    sqlite3_file *o = ORIG(f);
    size_t len = (size_t)amt;
    if (amt <= 0 || off < 0)
        return refuse(f, SQLITE_IOERR_READ, "read", amt, off);
    if (f->kind == DP_FILE_DB) {
        if (is_page_size(len) && off % amt == 0)
            return read_page(f, buf, amt, off);
        if (off + amt <= DP_PAGE1_CLEAR) /* the file header, read before any page */
            return o->pMethods->xRead(o, buf, amt, off);
        return refuse(f, SQLITE_IOERR_READ, "read", amt, off);
    }
    if (off + amt <= DP_WAL_HDR_LEN) {
        int rc = o->pMethods->xRead(o, buf, amt, off);
        if (rc == SQLITE_OK && off == 0 && amt >= 12 && wal_page_size(buf))
            f->pgsz = wal_page_size(buf);
        return rc;
    }
    if (is_page_size(len) && wal_frame_start(off - DP_WAL_FRAME_HDR, len))
        return read_page(f, buf, amt, off);
    if (len > DP_WAL_FRAME_HDR && is_page_size(len - DP_WAL_FRAME_HDR) &&
        wal_frame_start(off, len - DP_WAL_FRAME_HDR))
        return read_frame(f, buf, amt, off);
    size_t p = known_page_size(f);
    if (p != 0 && off >= DP_WAL_HDR_LEN) {
        int64_t in = (off - DP_WAL_HDR_LEN) % (int64_t)(DP_WAL_FRAME_HDR + p);
        if (in + amt <= DP_WAL_FRAME_HDR) /* part of a frame header (checksums) */
            return o->pMethods->xRead(o, buf, amt, off);
    }
    return refuse(f, SQLITE_IOERR_READ, "read", amt, off);
}

static int write_page(struct enc_file *f, const uint8_t *buf, int amt, int64_t off)
{
    sqlite3_file *o = ORIG(f);
    size_t len = (size_t)amt;
    uint8_t fh[DP_WAL_FRAME_HDR];
    const uint8_t *fhdr = NULL;
    uint32_t pgno = (uint32_t)(off / amt) + 1;
    if (f->kind == DP_FILE_WAL) {
        if (f->fhdr_off == off - DP_WAL_FRAME_HDR) {
            fhdr = f->fhdr;
        } else { /* a page rewritten in place: its header is already on disk */
            int rc = o->pMethods->xRead(o, fh, DP_WAL_FRAME_HDR, off - DP_WAL_FRAME_HDR);
            if (rc != SQLITE_OK)
                return refuse(f, SQLITE_IOERR_WRITE, "frame without header", amt, off);
            fhdr = fh;
        }
        pgno = (uint32_t)fhdr[0] << 24 | (uint32_t)fhdr[1] << 16 | fhdr[2] << 8 | fhdr[3];
    }
    /* Only page 1 can establish that the pages have room for the nonce and tag. */
    if (pgno != 1 && !(f->db->reserve_ok && f->db->pgsz == len))
        return refuse(f, SQLITE_IOERR_WRITE, "page write before page 1", amt, off);
    if (f->scratch_len < len) {
        free(f->scratch);
        f->scratch = cmk_xmalloc(len);
        f->scratch_len = len;
    }
    int rc = codec_run(f, 1, off, fhdr, buf, f->scratch, len);
    if (rc != SQLITE_OK)
        return rc;
    rc = o->pMethods->xWrite(o, f->scratch, amt, off);
    if (rc == SQLITE_OK)
        note_page1(f, pgno, len);
    return rc;
}

static int enc_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
    struct enc_file *f = (struct enc_file *)file;
    sqlite3_file *o = ORIG(f);
    size_t len = (size_t)amt;
    if (amt <= 0 || off < 0)
        return refuse(f, SQLITE_IOERR_WRITE, "write", amt, off);
    if (f->kind == DP_FILE_DB) {
        if (is_page_size(len) && off % amt == 0)
            return write_page(f, buf, amt, off);
        return refuse(f, SQLITE_IOERR_WRITE, "write", amt, off);
    }
    if (off == 0 && amt == DP_WAL_HDR_LEN) {
        f->pgsz = wal_page_size(buf);
        f->fhdr_off = -1;
        return o->pMethods->xWrite(o, buf, amt, off);
    }
    size_t p = known_page_size(f);
    if (amt == DP_WAL_FRAME_HDR && p != 0 && wal_frame_start(off, p)) {
        int rc = o->pMethods->xWrite(o, buf, amt, off);
        memcpy(f->fhdr, buf, DP_WAL_FRAME_HDR);
        f->fhdr_off = rc == SQLITE_OK ? off : -1;
        return rc;
    }
    if (is_page_size(len) && wal_frame_start(off - DP_WAL_FRAME_HDR, len))
        return write_page(f, buf, amt, off);
    return refuse(f, SQLITE_IOERR_WRITE, "write", amt, off);
}

static int enc_close(sqlite3_file *file)
{
    struct enc_file *f = (struct enc_file *)file;
    sqlite3_file *o = ORIG(f);
    int rc = o->pMethods ? o->pMethods->xClose(o) : SQLITE_OK;
    free(f->scratch);
    f->scratch = NULL;
    if (f->key != NULL)
        dp__key_release(f->key);
    f->key = NULL;
    return rc;
}

static int enc_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    sqlite3_file *o = ORIG(file);
    return o->pMethods->xTruncate(o, size);
}

static int enc_sync(sqlite3_file *file, int flags)
{
    sqlite3_file *o = ORIG(file);
    return o->pMethods->xSync(o, flags);
}

static int enc_size(sqlite3_file *file, sqlite3_int64 *size)
{
    sqlite3_file *o = ORIG(file);
    return o->pMethods->xFileSize(o, size);
}

static int enc_lock(sqlite3_file *file, int level)
{
    sqlite3_file *o = ORIG(file);
    return o->pMethods->xLock(o, level);
}

static int enc_unlock(sqlite3_file *file, int level)
{
    sqlite3_file *o = ORIG(file);
    return o->pMethods->xUnlock(o, level);
}

static int enc_reserved(sqlite3_file *file, int *out)
{
    sqlite3_file *o = ORIG(file);
    return o->pMethods->xCheckReservedLock(o, out);
}

static int enc_fcntl(sqlite3_file *file, int op, void *arg)
{
    sqlite3_file *o = ORIG(file);
    if (op == SQLITE_FCNTL_MMAP_SIZE && *(sqlite3_int64 *)arg > 0)
        *(sqlite3_int64 *)arg = 0; /* mapped pages would be ciphertext */
    if (op == SQLITE_FCNTL_PRAGMA) {
        /* Only WAL keeps every byte of a transaction in files the shim encrypts. OFF is
         * allowed on an empty file: dp_db_open goes through it so that switching a new
         * database to WAL does not need a rollback journal. */
        char **a = arg;
        sqlite3_int64 size = -1;
        if (sqlite3_stricmp(a[1], "journal_mode") == 0 && a[2] != NULL &&
            sqlite3_stricmp(a[2], "wal") != 0 &&
            !(sqlite3_stricmp(a[2], "off") == 0 && o->pMethods->xFileSize(o, &size) == SQLITE_OK &&
              size == 0)) {
            a[0] = sqlite3_mprintf("journal_mode is WAL on encrypted databases");
            return SQLITE_ERROR;
        }
    }
    int rc = o->pMethods->xFileControl(o, op, arg);
    if (rc == SQLITE_OK && op == SQLITE_FCNTL_VFSNAME)
        *(char **)arg = sqlite3_mprintf(DP_VFS_NAME "/%z", *(char **)arg);
    return rc;
}

static int enc_sector(sqlite3_file *file)
{
    sqlite3_file *o = ORIG(file);
    return o->pMethods->xSectorSize(o);
}

static int enc_devchar(sqlite3_file *file)
{
    sqlite3_file *o = ORIG(file);
    return o->pMethods->xDeviceCharacteristics(o);
}

static int enc_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
    sqlite3_file *o = ORIG(file);
    return o->pMethods->xShmMap(o, pg, pgsz, extend, pp);
}

static int enc_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    sqlite3_file *o = ORIG(file);
    return o->pMethods->xShmLock(o, offset, n, flags);
}

static void enc_shm_barrier(sqlite3_file *file)
{
    sqlite3_file *o = ORIG(file);
    o->pMethods->xShmBarrier(o);
}

static int enc_shm_unmap(sqlite3_file *file, int del)
{
    sqlite3_file *o = ORIG(file);
    return o->pMethods->xShmUnmap(o, del);
}

static int enc_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **pp)
{
    *pp = NULL; /* never map: SQLite falls back to xRead, which decrypts */
    return SQLITE_OK;
}

static int enc_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    return SQLITE_OK;
}

static const sqlite3_io_methods enc_io = {
    .iVersion = 3,
    .xClose = enc_close,
    .xRead = enc_read,
    .xWrite = enc_write,
    .xTruncate = enc_truncate,
    .xSync = enc_sync,
    .xFileSize = enc_size,
    .xLock = enc_lock,
    .xUnlock = enc_unlock,
    .xCheckReservedLock = enc_reserved,
    .xFileControl = enc_fcntl,
    .xSectorSize = enc_sector,
    .xDeviceCharacteristics = enc_devchar,
    .xShmMap = enc_shm_map,
    .xShmLock = enc_shm_lock,
    .xShmBarrier = enc_shm_barrier,
    .xShmUnmap = enc_shm_unmap,
    .xFetch = enc_fetch,
    .xUnfetch = enc_unfetch,
};

/* ---- The VFS ---- */

static int open_encrypted(const char *name, struct enc_file *f, int flags, int *out_flags)
{
    int type = flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL);
    memset(f, 0, sizeof(*f));
    f->fhdr_off = -1;
    f->name = name;
    if (type == SQLITE_OPEN_MAIN_DB) {
        f->kind = DP_FILE_DB;
        f->db = f;
        f->key = dp__key_acquire(name);
        if (f->key == NULL) {
            sqlite3_log(SQLITE_AUTH, "cmkenc: no data encryption key is loaded for %s", name);
            return SQLITE_AUTH;
        }
    } else {
        sqlite3_file *dbf = sqlite3_database_file_object(name);
        if (dbf == NULL || dbf->pMethods != &enc_io) {
            sqlite3_log(SQLITE_CANTOPEN, "cmkenc: %s has no encrypted database", name);
            return SQLITE_CANTOPEN;
        }
        f->kind = DP_FILE_WAL;
        f->db = (struct enc_file *)dbf;
        f->key = f->db->key;
        dp__key_ref(f->key);
    }
    sqlite3_file *o = ORIG(f);
    int rc = orig_vfs->xOpen(orig_vfs, name, o, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (o->pMethods != NULL)
            o->pMethods->xClose(o);
        dp__key_release(f->key);
        f->key = NULL;
        return rc;
    }
    f->base.pMethods = &enc_io;
    return SQLITE_OK;
}

static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                    int *out_flags)
{
    int type = flags & OPEN_TYPES;
    file->pMethods = NULL;
    if ((type == SQLITE_OPEN_MAIN_DB || type == SQLITE_OPEN_WAL) && name != NULL)
        return open_encrypted(name, (struct enc_file *)file, flags, out_flags);
    switch (type) {
    case SQLITE_OPEN_MAIN_DB: /* anonymous: a temporary database */
    case SQLITE_OPEN_TEMP_DB:
    case SQLITE_OPEN_TRANSIENT_DB:
    case SQLITE_OPEN_TEMP_JOURNAL:
    case SQLITE_OPEN_SUBJOURNAL:
        return dp__memfile_open(file, flags, out_flags);
    default:
        sqlite3_log(SQLITE_CANTOPEN,
                    "cmkenc: refusing to open %s: journals other than the WAL "
                    "would hold plaintext",
                    name ? name : "a journal");
        return SQLITE_CANTOPEN;
    }
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    return orig_vfs->xDelete(orig_vfs, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    return orig_vfs->xAccess(orig_vfs, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    return orig_vfs->xFullPathname(orig_vfs, name, n, out);
}

static void *vfs_dlopen(sqlite3_vfs *vfs, const char *name)
{
    return orig_vfs->xDlOpen(orig_vfs, name);
}

static void vfs_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
    orig_vfs->xDlError(orig_vfs, n, msg);
}

static void (*vfs_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    return orig_vfs->xDlSym(orig_vfs, h, sym);
}

static void vfs_dlclose(sqlite3_vfs *vfs, void *h)
{
    orig_vfs->xDlClose(orig_vfs, h);
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    return orig_vfs->xRandomness(orig_vfs, n, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int us)
{
    return orig_vfs->xSleep(orig_vfs, us);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out)
{
    return orig_vfs->xCurrentTime(orig_vfs, out);
}

static int vfs_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    return orig_vfs->xGetLastError(orig_vfs, n, out);
}

static int vfs_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    return orig_vfs->xCurrentTimeInt64(orig_vfs, out);
}

static int vfs_set_syscall(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr p)
{
    return orig_vfs->xSetSystemCall(orig_vfs, name, p);
}

static sqlite3_syscall_ptr vfs_get_syscall(sqlite3_vfs *vfs, const char *name)
{
    return orig_vfs->xGetSystemCall(orig_vfs, name);
}

static const char *vfs_next_syscall(sqlite3_vfs *vfs, const char *name)
{
    return orig_vfs->xNextSystemCall(orig_vfs, name);
}

static sqlite3_vfs enc_vfs = {
    .iVersion = 3,
    .zName = DP_VFS_NAME,
    .xOpen = vfs_open,
    .xDelete = vfs_delete,
    .xAccess = vfs_access,
    .xFullPathname = vfs_full_pathname,
    .xDlOpen = vfs_dlopen,
    .xDlError = vfs_dlerror,
    .xDlSym = vfs_dlsym,
    .xDlClose = vfs_dlclose,
    .xRandomness = vfs_randomness,
    .xSleep = vfs_sleep,
    .xCurrentTime = vfs_current_time,
    .xGetLastError = vfs_last_error,
    .xCurrentTimeInt64 = vfs_current_time64,
    .xSetSystemCall = vfs_set_syscall,
    .xGetSystemCall = vfs_get_syscall,
    .xNextSystemCall = vfs_next_syscall,
};

static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static int register_rc = SQLITE_ERROR;

static void register_vfs(void)
{
    if (sqlite3_initialize() != SQLITE_OK)
        return;
    orig_vfs = sqlite3_vfs_find(NULL);
    if (orig_vfs == NULL || orig_vfs->iVersion < 3)
        return;
    size_t sz = sizeof(struct enc_file) + (size_t)orig_vfs->szOsFile;
    enc_vfs.szOsFile = (int)(sz > dp__memfile_size() ? sz : dp__memfile_size());
    enc_vfs.mxPathname = orig_vfs->mxPathname;
    register_rc = sqlite3_vfs_register(&enc_vfs, 0);
}

int dp_vfs_register(void)
{
    pthread_once(&register_once, register_vfs);
    return register_rc;
}

sqlite3_vfs *dp__vfs_base(void)
{
    return orig_vfs;
}
