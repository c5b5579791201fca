/* test_vfs.c: the encrypting VFS as a user of the files sees it: rows survive checkpoints,
 * reopen and SIGKILL; no byte of plaintext or key reaches the disk; a changed byte, a wrong
 * key or a forgotten key is an error, never wrong data; journals never hit the disk. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "dataplane/test/vfs_testutil.h"
#include "dataplane/vfs.h"

static const uint8_t KEY1[DP_DEK_LEN] = {
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xf0, 0x01,
    0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf1, 0x02};
static const uint8_t KEY2[DP_DEK_LEN] = {
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20};

struct fx {
    char *dir;
    char path[4096];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp();
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    struct cmk_err err = {0};
    if (dp_vfs_set_key(f->path, KEY1, "dek-1", &err) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    dp_vfs_forget_key(f->path);
    tu_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    struct cmk_err err = {0};
    int rc = dp_db_open(path, &db, &err);
    if (rc != 0)
        fail_msg("dp_db_open: %s", err.message);
    return db;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

static sqlite3_int64 query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void query_text(sqlite3 *db, const char *sql, char *out, size_t n)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* Rows id in [from, to], v = "<marker>-<id>-" + filler, committed every batch rows. */
static void insert_rows(sqlite3 *db, int from, int to, int batch, const char *marker)
{
    sqlite3_stmt *st;
    char v[128];
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(id, v) VALUES (?1, ?2)", -1, &st, NULL),
                     SQLITE_OK);
    exec_ok(db, "BEGIN");
    for (int i = from; i <= to; i++) {
        snprintf(v, sizeof(v), "%s-%06d-and some filler to make the row longer", marker, i);
        sqlite3_bind_int(st, 1, i);
        sqlite3_bind_text(st, 2, v, -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
        if ((i - from + 1) % batch == 0 && i != to) {
            exec_ok(db, "COMMIT");
            exec_ok(db, "BEGIN");
        }
    }
    exec_ok(db, "COMMIT");
    sqlite3_finalize(st);
}

/* Full scan result code: SQLITE_DONE when every page authenticated. */
static int scan_all(sqlite3 *db)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT count(*), sum(length(v)) FROM t", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sqlite3_extended_errcode(db);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    rc = rc == SQLITE_DONE ? rc : sqlite3_extended_errcode(db);
    sqlite3_finalize(st);
    return rc;
}

static void remove_side_files(const char *path)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

/* ---- the codec ---- */

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 31);
}

static void make_page1(uint8_t *p, size_t n)
{
    fill(p, n, 9);
    memcpy(p, "SQLite format 3", 16);
    p[16] = (uint8_t)(n >> 8);
    p[17] = (uint8_t)n;
    p[20] = DP_PAGE_RESERVE;
}

static void test_codec(void **state)
{
    enum { P = 4096 };
    struct dp_codec *c = dp_codec_new(KEY1, "dek-1");
    struct dp_codec *other_id = dp_codec_new(KEY1, "dek-2");
    struct dp_codec *other_key = dp_codec_new(KEY2, "dek-1");
    static uint8_t page[P], enc[P], enc2[P], buf[P], frame[DP_WAL_FRAME_HDR + P];
    assert_non_null(c);
    assert_null(dp_codec_new(KEY1, ""));
    assert_null(dp_codec_new(KEY1, "bad id/with slash"));

    /* A database page round-trips only at its own place, file kind, key and id. */
    fill(page, P, 1);
    assert_int_equal(dp_vfs_encode_page(c, DP_FILE_DB, 2 * P, NULL, page, enc, P), 0);
    assert_false(tu_contains(enc, P, page + 64, 32));
    memcpy(buf, enc, P);
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_DB, 2 * P, NULL, buf, P), 0);
    assert_memory_equal(buf, page, P - DP_PAGE_RESERVE);
    assert_memory_equal(buf + P - DP_PAGE_RESERVE, (uint8_t[DP_PAGE_RESERVE]){0}, DP_PAGE_RESERVE);
    memcpy(buf, enc, P);
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_DB, 3 * P, NULL, buf, P), CMK_ECRYPTO);
    assert_true(tu_contains(buf, P, (uint8_t[16]){0}, 16)); /* zeroed, not half-decrypted */
    memcpy(buf, enc, P);
    assert_int_equal(dp_vfs_decode_page(other_id, DP_FILE_DB, 2 * P, NULL, buf, P), CMK_ECRYPTO);
    memcpy(buf, enc, P);
    assert_int_equal(dp_vfs_decode_page(other_key, DP_FILE_DB, 2 * P, NULL, buf, P), CMK_ECRYPTO);
    const size_t spots[] = {0, 2000, P - DP_PAGE_RESERVE - 1, P - 20, P - 1};
    for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
        memcpy(buf, enc, P);
        buf[spots[i]] ^= 0x01;
        assert_int_equal(dp_vfs_decode_page(c, DP_FILE_DB, 2 * P, NULL, buf, P), CMK_ECRYPTO);
    }
    /* A page written twice gets two nonces. */
    assert_int_equal(dp_vfs_encode_page(c, DP_FILE_DB, 2 * P, NULL, page, enc2, P), 0);
    assert_memory_not_equal(enc + P - DP_PAGE_RESERVE, enc2 + P - DP_PAGE_RESERVE,
                            DP_PAGE_NONCE_LEN);
    assert_memory_not_equal(enc, enc2, 64);

    /* Page 1: its header stays readable, is authenticated, and must declare the reserve. */
    fill(page, P, 3);
    assert_int_equal(dp_vfs_encode_page(c, DP_FILE_DB, 0, NULL, page, enc, P), CMK_EINVAL);
    make_page1(page, P);
    page[20] = 8;
    assert_int_equal(dp_vfs_encode_page(c, DP_FILE_DB, 0, NULL, page, enc, P), CMK_EINVAL);
    page[20] = DP_PAGE_RESERVE;
    assert_int_equal(dp_vfs_encode_page(c, DP_FILE_DB, 0, NULL, page, enc, P), 0);
    assert_memory_equal(enc, page, DP_PAGE1_CLEAR);
    assert_memory_not_equal(enc + DP_PAGE1_CLEAR, page + DP_PAGE1_CLEAR, 64);
    memcpy(buf, enc, P);
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_DB, 0, NULL, buf, P), 0);
    assert_memory_equal(buf, page, P - DP_PAGE_RESERVE);
    memcpy(buf, enc, P);
    buf[72] ^= 0x80; /* a header byte SQLite itself never checks */
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_DB, 0, NULL, buf, P), CMK_ECRYPTO);

    /* WAL: bound to the frame index, page number and commit size, not the salts (zero until
     * commit when SQLite rewrites its checksums) nor the checksums. */
    uint8_t fh[DP_WAL_FRAME_HDR] = {0,    0,    0,    7,    0, 0, 0, 0, 0xa1, 0xa2, 0xa3, 0xa4,
                                    0xb1, 0xb2, 0xb3, 0xb4, 1, 2, 3, 4, 5,    6,    7,    8};
    const int64_t f3 = DP_WAL_HDR_LEN + 2 * (DP_WAL_FRAME_HDR + P); /* frame 3 */
    fill(page, P, 5);
    assert_int_equal(dp_vfs_encode_page(c, DP_FILE_WAL, f3 + DP_WAL_FRAME_HDR, fh, page, enc, P),
                     0);
    memcpy(buf, enc, P);
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_WAL, f3 + DP_WAL_FRAME_HDR, fh, buf, P), 0);
    assert_memory_equal(buf, page, P - DP_PAGE_RESERVE);
    memcpy(frame, fh, DP_WAL_FRAME_HDR);
    memcpy(frame + DP_WAL_FRAME_HDR, enc, P);
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_WAL, f3, NULL, frame, sizeof(frame)), 0);
    assert_memory_equal(frame + DP_WAL_FRAME_HDR, page, P - DP_PAGE_RESERVE);
    memcpy(buf, enc, P);
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_DB, 6 * P, NULL, buf, P), CMK_ECRYPTO);
    const int bound[] = {0, 3, 5, 7};
    for (size_t i = 0; i < sizeof(bound) / sizeof(bound[0]); i++) {
        uint8_t h[DP_WAL_FRAME_HDR];
        memcpy(h, fh, sizeof(h));
        h[bound[i]] ^= 0x04;
        memcpy(buf, enc, P);
        assert_int_equal(dp_vfs_decode_page(c, DP_FILE_WAL, f3 + DP_WAL_FRAME_HDR, h, buf, P),
                         CMK_ECRYPTO);
    }
    uint8_t h2[DP_WAL_FRAME_HDR];
    memcpy(h2, fh, sizeof(h2));
    memset(h2 + 8, 0, 16);
    memcpy(buf, enc, P);
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_WAL, f3 + DP_WAL_FRAME_HDR, h2, buf, P), 0);
    memcpy(buf, enc, P);
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_WAL,
                                        f3 + DP_WAL_FRAME_HDR + DP_WAL_FRAME_HDR + P, fh, buf, P),
                     CMK_ECRYPTO);

    /* Shapes the format does not have. */
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_DB, 0, NULL, buf, 1000), CMK_EINVAL);
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_DB, 100, NULL, buf, 512), CMK_EINVAL);
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_WAL, 33, NULL, frame, sizeof(frame)),
                     CMK_EINVAL);
    assert_int_equal(dp_vfs_decode_page(c, DP_FILE_WAL, 0, fh, buf, P), CMK_EINVAL);
    dp_codec_free(c);
    dp_codec_free(other_id);
    dp_codec_free(other_key);
}

/* ---- the VFS ---- */

static void test_roundtrip_checkpoints(void **state)
{
    struct fx *f = *state;
    char text[256], wal[4200];
    sqlite3 *db = open_db(f->path);
    exec_ok(db, "PRAGMA wal_autocheckpoint=50;"
                "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    insert_rows(db, 1, 30000, 500, "ROW");
    exec_ok(db, "UPDATE t SET v = v || '-updated' WHERE id % 7 = 0;"
                "DELETE FROM t WHERE id % 11 = 0;");
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_true(tu_size(wal) > 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 30000 - 30000 / 11);
    query_text(db, "SELECT v FROM t WHERE id = 14", text, sizeof(text));
    assert_string_equal(text, "ROW-000014-and some filler to make the row longer-updated");
    exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    assert_int_equal(tu_size(wal), 0);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    /* What is on disk: a SQLite header with our reserve, whole pages, nothing else. */
    size_t n;
    uint8_t *b = tu_read(f->path, &n);
    assert_non_null(b);
    assert_memory_equal(b, "SQLite format 3", 16);
    assert_int_equal(b[20], DP_PAGE_RESERVE);
    assert_int_equal(b[18], 2); /* WAL */
    assert_int_equal(n % 4096, 0);
    free(b);
    assert_int_equal(tu_size(wal), -1); /* removed on the last close */

    db = open_db(f->path);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 30000 - 30000 / 11);
    assert_int_equal(query_int(db, "SELECT sum(id) FROM t WHERE id % 11 <> 0"),
                     query_int(db, "SELECT sum(id) FROM t"));
    query_text(db, "SELECT v FROM t WHERE id = 29999", text, sizeof(text));
    assert_string_equal(text, "ROW-029999-and some filler to make the row longer");
    query_text(db, "PRAGMA integrity_check", text, sizeof(text));
    assert_string_equal(text, "ok");
    query_text(db, "PRAGMA journal_mode", text, sizeof(text));
    assert_string_equal(text, "wal");
    exec_ok(db, "VACUUM"); /* rebuilds every page through a temporary database in memory */
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 30000 - 30000 / 11);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_no_plaintext_on_disk(void **state)
{
    struct fx *f = *state;
    char wal[4200], shm[4200];
    sqlite3 *db = open_db(f->path);
    exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);"
                "CREATE TABLE secret_table_name(x)");
    insert_rows(db, 1, 5000, 250, "PLAINTEXT-MARKER");
    exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA wal_autocheckpoint=0");
    insert_rows(db, 5001, 8000, 250, "PLAINTEXT-MARKER"); /* these stay in the WAL */
    /* Sorts larger than the cache spill to temporary files: they must stay in memory. */
    exec_ok(db, "PRAGMA cache_size=12; CREATE INDEX t_v ON t(v);"
                "SELECT v FROM t ORDER BY substr(v, 5) DESC LIMIT 1");
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    snprintf(shm, sizeof(shm), "%s-shm", f->path);
    assert_true(tu_size(wal) > 100000);
    assert_true(tu_size(shm) > 0);

    for (int pass = 0; pass < 2; pass++) { /* with the database open, then closed */
        const char *needles[] = {"PLAINTEXT-MARKER", "secret_table_name", "some filler"};
        for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
            if (tu_dir_contains_isolated(f->dir, needles[i], strlen(needles[i])) != 0)
                fail_msg("'%s' found on disk (pass %d)", needles[i], pass);
        assert_int_equal(tu_dir_contains_isolated(f->dir, KEY1, DP_DEK_LEN), 0);
        assert_int_equal(tu_dir_contains_isolated(f->dir, KEY1, 12), 0);
        assert_int_equal(tu_dir_contains_isolated(f->dir, KEY1 + 20, 12), 0);
        if (pass == 0)
            assert_int_equal(sqlite3_close(db), SQLITE_OK);
    }
    /* Only the database itself is left: no journal, no temporary file. */
    char journal[4200];
    snprintf(journal, sizeof(journal), "%s-journal", f->path);
    assert_int_equal(tu_size(journal), -1);
    assert_int_equal(tu_size(wal), -1);
    db = open_db(f->path);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t WHERE v LIKE 'PLAINTEXT-MARKER-%'"),
                     8000);
    sqlite3_close(db);
}

static void test_tamper_db(void **state)
{
    struct fx *f = *state;
    char orig[4200];
    sqlite3 *db = open_db(f->path);
    exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    insert_rows(db, 1, 3000, 3000, "TAMPER");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    snprintf(orig, sizeof(orig), "%s.orig", f->path);
    tu_copy(f->path, orig);
    long size = tu_size(f->path);
    assert_true(size >= 8 * 4096);

    const long spots[] = {
        4096 + 10,        /* page 2, first bytes of ciphertext */
        5 * 4096 + 2000,  /* a leaf in the middle */
        200,              /* page 1 past the clear header */
        72,               /* page 1 header: authenticated, though SQLite ignores it */
        60,               /* page 1 header: user version */
        size - 20,        /* the last page's nonce */
        size - 1,         /* the last page's tag */
        size - 4096 + 50, /* the last page's ciphertext */
    };
    for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
        tu_copy(orig, f->path);
        remove_side_files(f->path);
        tu_flip(f->path, spots[i], 0x20);
        struct cmk_err err = {0};
        db = NULL;
        int rc = dp_db_open(f->path, &db, &err);
        if (rc != 0) { /* page 1 is read while opening */
            assert_int_equal(rc, CMK_ECRYPTO);
            assert_string_equal(err.code, "PageAuthenticationFailed");
            assert_null(db);
            continue;
        }
        assert_int_equal(scan_all(db), SQLITE_IOERR_DATA);
        assert_string_equal(sqlite3_errmsg(db), "disk I/O error");
        sqlite3_close(db);
    }
    /* The untouched copy still reads. */
    tu_copy(orig, f->path);
    remove_side_files(f->path);
    db = open_db(f->path);
    assert_int_equal(scan_all(db), SQLITE_DONE);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 3000);
    sqlite3_close(db);
    unlink(orig);
}

static void test_tamper_wal(void **state)
{
    struct fx *f = *state;
    char wal[4200];
    sqlite3 *a = open_db(f->path);
    exec_ok(a, "PRAGMA wal_autocheckpoint=0;"
               "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    insert_rows(a, 1, 2000, 2000, "WALROW"); /* one transaction: each page once in the log */
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    long frames = (tu_size(wal) - DP_WAL_HDR_LEN) / (DP_WAL_FRAME_HDR + 4096);
    assert_true(frames >= 8);
    /* A second connection has a cold cache: it reads the pages from the log. */
    sqlite3 *b = open_db(f->path);
    assert_int_equal(scan_all(b), SQLITE_DONE);
    sqlite3_close(b);
    tu_flip(wal, DP_WAL_HDR_LEN + 4 * (DP_WAL_FRAME_HDR + 4096) + DP_WAL_FRAME_HDR + 777, 0x01);
    b = open_db(f->path);
    assert_int_equal(scan_all(b), SQLITE_IOERR_DATA);
    sqlite3_close(b);
    sqlite3_close(a);
}

static void test_keys(void **state)
{
    struct fx *f = *state;
    struct cmk_err err = {0};
    sqlite3 *db = open_db(f->path);
    exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    insert_rows(db, 1, 100, 100, "KEYS");
    char id[DP_DEK_ID_MAX];
    assert_true(dp_vfs_key_loaded(f->path, id));
    assert_string_equal(id, "dek-1");
    /* Registering the same key again (a revalidation) keeps open connections working. */
    assert_int_equal(dp_vfs_set_key(f->path, KEY1, "dek-1", &err), 0);
    insert_rows(db, 101, 110, 10, "KEYS");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    /* No key: refused before SQLite, and by the VFS itself. */
    dp_vfs_forget_key(f->path);
    assert_false(dp_vfs_key_loaded(f->path, NULL));
    db = NULL;
    assert_int_equal(dp_db_open(f->path, &db, &err), CMK_EUNAVAIL);
    assert_string_equal(err.code, "DekNotLoaded");
    assert_null(db);
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, DP_VFS_NAME),
                     SQLITE_AUTH);
    sqlite3_close(db);
    /* The plain VFS sees no SQL text either: only ciphertext pages. */
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "SELECT count(*) FROM t", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* A wrong key, or the right key under another id: an error, not data. */
    assert_int_equal(dp_vfs_set_key(f->path, KEY2, "dek-1", &err), 0);
    db = NULL;
    assert_int_equal(dp_db_open(f->path, &db, &err), CMK_ECRYPTO);
    assert_null(db);
    assert_int_equal(dp_vfs_set_key(f->path, KEY1, "dek-9", &err), 0);
    assert_int_equal(dp_db_open(f->path, &db, &err), CMK_ECRYPTO);
    assert_int_equal(dp_vfs_set_key(f->path, KEY1, "dek-1", &err), 0);
    db = open_db(f->path);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 110);

    /* Forgetting the key under an open connection: its next write fails. */
    dp_vfs_forget_key(f->path);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t(id, v) VALUES (1000, 'after')", -1, &st, NULL),
        SQLITE_OK);
    assert_int_not_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_extended_errcode(db), SQLITE_IOERR_AUTH);
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(dp_vfs_set_key(f->path, KEY1, "dek-1", &err), 0);
    db = open_db(f->path);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 110);
    sqlite3_close(db);

    /* Bad arguments. */
    assert_int_equal(dp_vfs_set_key(f->path, KEY1, "", &err), CMK_EINVAL);
    assert_int_equal(dp_vfs_set_key(f->path, KEY1, "0123456789012345678901234567890123", &err),
                     CMK_EINVAL);
    assert_int_equal(dp_vfs_set_key("", KEY1, "dek-1", &err), CMK_EINVAL);
}

static void test_journals_and_temp_files(void **state)
{
    struct fx *f = *state;
    char journal[4200];
    int out = 0;
    assert_int_equal(dp_vfs_register(), SQLITE_OK);
    sqlite3_vfs *v = sqlite3_vfs_find(DP_VFS_NAME);
    assert_non_null(v);
    sqlite3_file *file = calloc(1, (size_t)v->szOsFile);

    /* A rollback journal would hold plaintext pages: refused, and nothing is created. */
    snprintf(journal, sizeof(journal), "%s-journal", f->path);
    assert_int_equal(v->xOpen(v, journal, file,
                              SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE,
                              &out),
                     SQLITE_CANTOPEN);
    assert_null(file->pMethods);
    assert_int_equal(tu_size(journal), -1);

    /* A temporary file lives in memory. */
    assert_int_equal(v->xOpen(v, NULL, file,
                              SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_CREATE |
                                  SQLITE_OPEN_READWRITE | SQLITE_OPEN_DELETEONCLOSE,
                              &out),
                     SQLITE_OK);
    uint8_t data[10000], back[12000];
    fill(data, sizeof(data), 7);
    assert_int_equal(file->pMethods->xWrite(file, data, sizeof(data), 5000), SQLITE_OK);
    sqlite3_int64 size = 0;
    assert_int_equal(file->pMethods->xFileSize(file, &size), SQLITE_OK);
    assert_int_equal(size, 15000);
    assert_int_equal(file->pMethods->xRead(file, back, (int)sizeof(data), 5000), SQLITE_OK);
    assert_memory_equal(back, data, sizeof(data));
    assert_int_equal(file->pMethods->xRead(file, back, (int)sizeof(back), 5000),
                     SQLITE_IOERR_SHORT_READ);
    assert_int_equal(back[11000], 0);
    assert_int_equal(file->pMethods->xTruncate(file, 100), SQLITE_OK);
    assert_int_equal(file->pMethods->xFileSize(file, &size), SQLITE_OK);
    assert_int_equal(size, 100);
    file->pMethods->xClose(file);
    free(file);

    /* The settings dp_db_open enforces stay enforced. */
    sqlite3 *db = open_db(f->path);
    char text[64];
    exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    assert_int_not_equal(sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_string_equal(sqlite3_errmsg(db), "journal_mode is WAL on encrypted databases");
    assert_int_not_equal(sqlite3_exec(db, "PRAGMA journal_mode=OFF", NULL, NULL, NULL), SQLITE_OK);
    query_text(db, "PRAGMA journal_mode", text, sizeof(text));
    assert_string_equal(text, "wal");
    assert_int_equal(query_int(db, "PRAGMA mmap_size=1048576"), 0);
    assert_int_equal(query_int(db, "PRAGMA temp_store"), 2); /* MEMORY */
    insert_rows(db, 1, 100, 100, "J");
    assert_int_equal(tu_size(journal), -1);
    sqlite3_close(db);
}

/* The child inserts, acknowledging each commit through a pipe, until it is killed. */
static void crash_child(const char *path, int start, int ackfd)
{
    sqlite3 *db = NULL;
    struct cmk_err err = {0};
    char v[64];
    if (dp_db_open(path, &db, &err) != 0)
        _exit(2);
    /* synchronous=NORMAL: in WAL mode a commit is in the OS once acknowledged, which is what
     * survives SIGKILL (power loss would need FULL, dp_db_open's default). Small checkpoints
     * so that the kill also lands in the middle of some; a tiny cache so that the periodic
     * large update spills pages into the log mid-transaction and rewrites them there. */
    if (sqlite3_exec(db,
                     "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=64;"
                     "PRAGMA cache_size=6;"
                     "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK)
        _exit(3);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO t(id, v) VALUES (?1, ?2)", -1, &st, NULL) != SQLITE_OK)
        _exit(4);
    for (int id = start;; id += 5) {
        if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
            _exit(5);
        /* Twice: the second pass rewrites frames of its own transaction in place, the path
         * where SQLite fills in salts and checksums only at commit. */
        if (id % 100 == 1 && sqlite3_exec(db,
                                          "UPDATE t SET v = upper(v) WHERE id % 3 = 0;"
                                          "UPDATE t SET v = lower(v) WHERE id % 3 = 0;",
                                          NULL, NULL, NULL) != SQLITE_OK)
            _exit(10);
        for (int j = id; j < id + 5; j++) {
            snprintf(v, sizeof(v), "crash row %d", j);
            sqlite3_bind_int(st, 1, j);
            sqlite3_bind_text(st, 2, v, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) != SQLITE_DONE)
                _exit(6);
            sqlite3_reset(st);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            _exit(7);
        int last = id + 4;
        if (write(ackfd, &last, sizeof(last)) != sizeof(last))
            _exit(8);
    }
}

static void test_crash_consistency(void **state)
{
    struct fx *f = *state;
    int start = 1;
    const int kill_after[] = {150, 260, 90}; /* acknowledged commits before SIGKILL */
    for (int round = 0; round < 3; round++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(f->path, start, fds[1]);
            _exit(9);
        }
        close(fds[1]);
        int acked = 0, last = 0, n;
        while (acked < kill_after[round] && read(fds[0], &n, sizeof(n)) == sizeof(n)) {
            last = n;
            acked++;
        }
        assert_int_equal(acked, kill_after[round]); /* the child did not die on its own */
        kill(pid, SIGKILL);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        while (read(fds[0], &n, sizeof(n)) == sizeof(n)) /* acknowledged before it died */
            last = n;
        close(fds[0]);

        /* Recovery replays the log; every acknowledged row is there, nothing half-done. */
        sqlite3 *db = open_db(f->path);
        char text[64];
        sqlite3_int64 count = query_int(db, "SELECT count(*) FROM t");
        sqlite3_int64 max = query_int(db, "SELECT max(id) FROM t");
        if (max < last)
            fail_msg("round %d: acknowledged up to %d, recovered %lld rows up to %lld", round, last,
                     (long long)count, (long long)max);
        assert_int_equal(count, max);   /* no gap: whole transactions only */
        assert_int_equal(count % 5, 0); /* commits of 5 rows */
        query_text(db, "PRAGMA integrity_check", text, sizeof(text));
        assert_string_equal(text, "ok");
        assert_int_equal(query_int(db, "SELECT count(*) FROM t WHERE v = 'crash row ' || id"),
                         count);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
        start = (int)max + 1;
    }
}

static void sqlite_log(void *arg, int code, const char *msg)
{
    fprintf(stderr, "sqlite(%d): %s\n", code, msg);
}

int main(void)
{
    if (getenv("DP_TEST_LOG") != NULL) /* SQLite's and the VFS's diagnostics */
        sqlite3_config(SQLITE_CONFIG_LOG, sqlite_log, NULL);
    if (getenv("DP_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("DP_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test_setup_teardown(test_roundtrip_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_plaintext_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journals_and_temp_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_consistency, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
