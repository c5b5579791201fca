/* vfs.h: the encrypting SQLite VFS ("cmkenc"), its key registry and the page codec
 * (vfs.c the shim, vfs_keys.c the registry and dp_db_open, vfs_codec.c the page format,
 * vfs_memfile.c temporary files in memory).
 *
 * Every page of a server's database files and of their write-ahead logs is sealed with
 * AES-256-GCM under the file's data encryption key (DEK) before it reaches the disk, and
 * authenticated when it is read back: a page that fails its tag is an I/O error
 * (SQLITE_IOERR_DATA), never wrong data. The nonce (12 bytes) and the tag (16 bytes) live in
 * the last 28 bytes of each page, the "reserved bytes" SQLite leaves to extensions (the
 * technique of SQLite's cksumvfs); dp_db_open creates databases with that reserve. The on-disk
 * format is described in dataplane/README.md.
 *
 * Keys: dp_vfs_set_key registers a DEK for one database path (its -wal uses the same key with a
 * different associated-data kind). The registry keeps the DEK in OpenSSL's secure heap and
 * wipes it (OPENSSL_cleanse) when the key is forgotten; opening a database through the VFS
 * without a registered key fails with SQLITE_AUTH. Forgetting a key also wipes the cipher
 * state of every file still open under it: from then on their reads and writes fail with
 * SQLITE_IOERR_AUTH, so the caller should close those connections (the server ends its
 * sessions when the key is lost).
 *
 * Files that must never hold plaintext on disk are kept off it: rollback and super-journals
 * are refused (WAL mode only), temporary databases, statement journals and sort spills live
 * in memory, and memory-mapped I/O is disabled.
 *
 * Threading: the registry and each key's cipher state are guarded by mutexes, so connections
 * may live on different threads; one connection must not be used by two threads at once
 * (dp_db_open opens with SQLITE_OPEN_NOMUTEX).
 */
#ifndef DP_VFS_H
#define DP_VFS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DP_VFS_NAME       "cmkenc"
#define DP_DEK_LEN        32  /* AES-256 */
#define DP_DEK_ID_MAX     32  /* buffer size: ids have at most 31 characters */
#define DP_PAGE_NONCE_LEN 12  /* GCM nonce, random per page write */
#define DP_PAGE_TAG_LEN   16  /* GCM tag */
#define DP_PAGE_RESERVE   28  /* nonce + tag, at the end of every page */
#define DP_PAGE1_CLEAR    100 /* page 1 keeps SQLite's file header readable (authenticated) */
#define DP_WAL_HDR_LEN    32
#define DP_WAL_FRAME_HDR  24

/* Register the VFS (not as the default). Idempotent and thread-safe; every other function
 * here calls it. Returns an SQLite result code. */
int dp_vfs_register(void);

/* Register dek (DP_DEK_LEN bytes, copied into the secure heap) as the key of the database at
 * path, under dek_id (1..31 characters of [A-Za-z0-9._-]). Registering the same key and id
 * again is a no-op (open files keep working); a different key replaces the old one, which is
 * forgotten as by dp_vfs_forget_key. */
int dp_vfs_set_key(const char *path, const uint8_t *dek, const char *dek_id, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Wipe and drop the key of path (no-op when none). Files open under it fail from now on. */
void dp_vfs_forget_key(const char *path);
/* 1 when a key is registered for path; *dek_id (may be NULL, DP_DEK_ID_MAX bytes) gets its id. */
int dp_vfs_key_loaded(const char *path, char *dek_id);

/* Open (create) the database at path through the VFS with the settings the format needs:
 * 28 reserved bytes per page, journal_mode=WAL, temp_store=MEMORY, mmap_size=0,
 * synchronous=FULL, extended result codes, SQLITE_OPEN_NOMUTEX. Fails with CMK_EUNAVAIL
 * ("DekNotLoaded") when no key is registered for path and with CMK_EIO when SQLite refuses
 * (wrong key: the first page does not authenticate). *db is NULL on failure. */
int dp_db_open(const char *path, sqlite3 **db, struct cmk_err *err)
    __attribute__((warn_unused_result));

/* ---- The page codec (vfs_codec.c): what the VFS does to each page, exposed for the unit
 * tests and the fuzz driver (tools/fuzz/fuzz_page.c). ---- */

enum dp_file_kind { DP_FILE_DB = 'D', DP_FILE_WAL = 'W' };

/* One key's cipher state: AES-256-GCM contexts with the key schedule loaded once. */
struct dp_codec;

/* NULL if dek_id is invalid or OpenSSL fails. The codec holds the key schedule, not the DEK. */
struct dp_codec *dp_codec_new(const uint8_t *dek, const char *dek_id);
/* Wipes the key schedule (EVP_CIPHER_CTX_free cleanses it). Accepts NULL. */
void dp_codec_free(struct dp_codec *c);

/* Seal one page as the VFS writes it. kind DP_FILE_DB: in is the page at byte offset of the
 * database file (len = page size, offset a multiple of it). kind DP_FILE_WAL: in is the page
 * at offset of the log (frame start + 24) and frame_hdr its 24-byte frame header. out gets
 * len bytes. Page 1 must carry a SQLite header with the page size len and 28 reserved bytes.
 * Returns 0, CMK_EINVAL for a shape the format does not allow, CMK_ECRYPTO if OpenSSL fails. */
int dp_vfs_encode_page(struct dp_codec *c, enum dp_file_kind kind, int64_t offset,
                       const uint8_t *frame_hdr, const uint8_t *in, uint8_t *out, size_t len);

/* Authenticate and decrypt, in place, what the VFS read at offset, exactly as its read path
 * does: kind DP_FILE_DB, one page; kind DP_FILE_WAL, either one page at a frame's page offset
 * (frame_hdr: its frame header) or a whole frame (header + page, len = 24 + page size) at a
 * frame's offset (frame_hdr NULL: taken from buf). Returns 0, CMK_EINVAL (shape), or
 * CMK_ECRYPTO (tag mismatch: buf's page bytes are zeroed, never left half-decrypted). */
int dp_vfs_decode_page(struct dp_codec *c, enum dp_file_kind kind, int64_t offset,
                       const uint8_t *frame_hdr, uint8_t *buf, size_t len);

/* Allocation of key material: OpenSSL's secure heap when it could be set up (initialised
 * once, here), the ordinary heap otherwise; dp_key_free cleanses before freeing. */
uint8_t *dp_key_alloc(size_t n);
void dp_key_free(uint8_t *p, size_t n);

#endif
