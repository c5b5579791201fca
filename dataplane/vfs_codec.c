/* vfs_codec.c: the page format of the encrypting VFS (see vfs.h and dataplane/README.md).
 *
 * A page of P bytes is stored as
 *
 *     [ clear prefix | ciphertext ........................ | nonce (12) | tag (16) ]
 *       0 or 100 B     AES-256-GCM of the plaintext bytes    P-28          P-16
 *
 * Decrypted pages read back with zeros in the reserved bytes (see unseal for why).
 *
 * The clear prefix is empty except on page 1, whose first 100 bytes (SQLite's file header)
 * stay readable because SQLite reads them raw before it reads any page; they are covered by
 * the tag as associated data, so a changed header still fails when page 1 is read. The
 * associated data also binds the file kind (database or WAL), the DEK id, the page number
 * and, in a WAL, the frame index and the first 8 bytes of the frame header (page number and
 * commit size): a page moved to another place or another file, or a frame turned into a
 * commit frame, does not authenticate. The frame's salts are not bound: SQLite writes the
 * frames of a transaction that rewrote one of its own pages with zero salts and fills them
 * in at commit (walRewriteChecksums), after the page was sealed. Like the pages of the
 * database file, a WAL frame can therefore be replaced by an older version of itself from
 * the same key (a rollback an attacker with write access could stage); SQLite's own frame
 * checksums, computed over the plaintext, still reject such a frame during recovery.
 *
 * Nonces (96 bits) must never repeat under one key. Each codec draws a random 64-bit prefix
 * from OpenSSL's CSPRNG and appends a 32-bit counter that goes up by one per sealed page; a
 * new prefix is drawn when the counter wraps and in a child after fork() (a pthread_atfork
 * handler bumps a generation), so two processes never continue one sequence. Within one
 * prefix nonces are distinct by construction; across prefixes a repeat needs two equal 64-bit
 * random draws. A RAND_bytes call per page would cost as much as the AES-GCM work on the
 * page with OpenSSL 3 (its CTR-DRBG re-keys on every call), which is why it is not used.
 */
#include "dataplane/vfs.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

#include "common/buf.h"

#define AAD_FIXED 64
#define AAD_MAX   (AAD_FIXED + DP_PAGE1_CLEAR)
#define MAGIC     "cmkenc1"

struct dp_codec {
    EVP_CIPHER_CTX *enc; /* key schedule loaded once; only the nonce changes per page */
    EVP_CIPHER_CTX *dec;
    char dek_id[DP_DEK_ID_MAX];
    uint8_t prefix[8]; /* random part of the nonce */
    uint32_t counter;  /* next counter value */
    unsigned gen;      /* fork generation the prefix was drawn in */
    int fresh;         /* a prefix has been drawn */
};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static volatile unsigned fork_gen;

static void on_fork_child(void)
{
    fork_gen++;
}

static void atfork_init(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

static pthread_once_t secure_heap_once = PTHREAD_ONCE_INIT;

static void secure_heap_init(void)
{
    /* 128 KiB holds 4096 DEKs; when it is full (or mlock is refused) keys go to the ordinary
     * heap, still cleansed on free. */
    if (!CRYPTO_secure_malloc_initialized())
        (void)CRYPTO_secure_malloc_init(1 << 17, 32);
}

uint8_t *dp_key_alloc(size_t n)
{
    pthread_once(&secure_heap_once, secure_heap_init);
    uint8_t *p = OPENSSL_secure_malloc(n);
    if (p == NULL)
        p = OPENSSL_malloc(n);
    if (p == NULL)
        abort();
    return p;
}

void dp_key_free(uint8_t *p, size_t n)
{
    if (p != NULL)
        OPENSSL_secure_clear_free(p, n); /* cleanses, whichever heap it came from */
}

static int valid_dek_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n >= DP_DEK_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return 0;
    }
    return 1;
}

struct dp_codec *dp_codec_new(const uint8_t *dek, const char *dek_id)
{
    if (dek == NULL || !valid_dek_id(dek_id))
        return NULL;
    pthread_once(&atfork_once, atfork_init);
    struct dp_codec *c = cmk_xcalloc(1, sizeof(*c));
    snprintf(c->dek_id, sizeof(c->dek_id), "%s", dek_id);
    c->enc = EVP_CIPHER_CTX_new();
    c->dec = EVP_CIPHER_CTX_new();
    if (c->enc == NULL || c->dec == NULL ||
        EVP_EncryptInit_ex(c->enc, EVP_aes_256_gcm(), NULL, dek, NULL) != 1 ||
        EVP_DecryptInit_ex(c->dec, EVP_aes_256_gcm(), NULL, dek, NULL) != 1) {
        dp_codec_free(c);
        return NULL;
    }
    return c;
}

void dp_codec_free(struct dp_codec *c)
{
    if (c == NULL)
        return;
    EVP_CIPHER_CTX_free(c->enc); /* cleanses the key schedule */
    EVP_CIPHER_CTX_free(c->dec);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

static int is_page_size(size_t n)
{
    return n >= 512 && n <= 65536 && (n & (n - 1)) == 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Page 1 must describe the format: SQLite's magic, page size len, 28 reserved bytes. */
static int page1_ok(const uint8_t *page, size_t len)
{
    uint32_t psz = ((uint32_t)page[16] << 8) | page[17];
    if (psz == 1)
        psz = 65536;
    return memcmp(page, "SQLite format 3", 16) == 0 && psz == len && page[20] == DP_PAGE_RESERVE;
}

/* Where a page sits: its number, its frame (WAL) and the frame header bytes bound into the
 * associated data. Returns 0 or CMK_EINVAL when the shape is not one the format allows. */
struct page_ref {
    enum dp_file_kind kind;
    uint32_t pgno;
    uint32_t frame;
    const uint8_t *fhdr;
};

static int locate(enum dp_file_kind kind, int64_t offset, const uint8_t *fhdr, size_t len,
                  struct page_ref *ref)
{
    memset(ref, 0, sizeof(*ref));
    ref->kind = kind;
    if (!is_page_size(len) || offset < 0)
        return CMK_EINVAL;
    if (kind == DP_FILE_DB) {
        if (offset % (int64_t)len != 0 || offset / (int64_t)len >= 0xFFFFFFFE)
            return CMK_EINVAL;
        ref->pgno = (uint32_t)(offset / (int64_t)len) + 1;
        return 0;
    }
    if (kind != DP_FILE_WAL || fhdr == NULL)
        return CMK_EINVAL;
    int64_t first = DP_WAL_HDR_LEN + DP_WAL_FRAME_HDR, step = DP_WAL_FRAME_HDR + (int64_t)len;
    if (offset < first || (offset - first) % step != 0 || (offset - first) / step >= 0xFFFFFFFE)
        return CMK_EINVAL;
    ref->frame = (uint32_t)((offset - first) / step) + 1;
    ref->pgno = get32(fhdr);
    ref->fhdr = fhdr;
    return ref->pgno == 0 ? CMK_EINVAL : 0;
}

static size_t build_aad(const struct dp_codec *c, const struct page_ref *ref, const uint8_t *page,
                        uint8_t *aad)
{
    memset(aad, 0, AAD_FIXED);
    memcpy(aad, MAGIC, 7);
    aad[7] = (uint8_t)ref->kind;
    memcpy(aad + 8, c->dek_id, strlen(c->dek_id));
    put32(aad + 40, ref->pgno);
    put32(aad + 44, ref->frame);
    if (ref->fhdr != NULL)
        memcpy(aad + 48, ref->fhdr, 8); /* page number, commit size; 56..63 stay zero */
    if (ref->pgno != 1)
        return AAD_FIXED;
    memcpy(aad + AAD_FIXED, page, DP_PAGE1_CLEAR);
    return AAD_MAX;
}

static int next_nonce(struct dp_codec *c, uint8_t *nonce)
{
    if (!c->fresh || c->gen != fork_gen || c->counter == UINT32_MAX) {
        if (RAND_bytes(c->prefix, sizeof(c->prefix)) != 1)
            return CMK_ECRYPTO;
        c->counter = 0;
        c->gen = fork_gen;
        c->fresh = 1;
    }
    memcpy(nonce, c->prefix, sizeof(c->prefix));
    put32(nonce + sizeof(c->prefix), c->counter++);
    return 0;
}

static int seal(struct dp_codec *c, const struct page_ref *ref, const uint8_t *in, uint8_t *out,
                size_t len)
{
    size_t clear = ref->pgno == 1 ? DP_PAGE1_CLEAR : 0;
    size_t n = len - DP_PAGE_RESERVE - clear;
    uint8_t aad[AAD_MAX], *nonce = out + len - DP_PAGE_RESERVE, *tag = out + len - DP_PAGE_TAG_LEN;
    size_t aadlen = build_aad(c, ref, in, aad);
    int outl = 0, finl = 0;
    memcpy(out, in, clear);
    if (next_nonce(c, nonce) != 0 || EVP_EncryptInit_ex(c->enc, NULL, NULL, NULL, nonce) != 1 ||
        EVP_EncryptUpdate(c->enc, NULL, &outl, aad, (int)aadlen) != 1 ||
        EVP_EncryptUpdate(c->enc, out + clear, &outl, in + clear, (int)n) != 1 ||
        EVP_EncryptFinal_ex(c->enc, out + clear + outl, &finl) != 1 ||
        EVP_CIPHER_CTX_ctrl(c->enc, EVP_CTRL_AEAD_GET_TAG, DP_PAGE_TAG_LEN, tag) != 1)
        return CMK_ECRYPTO;
    return 0;
}

/* In place. On failure the whole page is zeroed: unauthenticated plaintext never stays. */
static int unseal(struct dp_codec *c, const struct page_ref *ref, uint8_t *page, size_t len)
{
    size_t clear = ref->pgno == 1 ? DP_PAGE1_CLEAR : 0;
    size_t n = len - DP_PAGE_RESERVE - clear;
    uint8_t aad[AAD_MAX], *nonce = page + len - DP_PAGE_RESERVE;
    size_t aadlen = build_aad(c, ref, page, aad);
    int outl = 0, finl = 0;
    if (EVP_DecryptInit_ex(c->dec, NULL, NULL, NULL, nonce) != 1 ||
        EVP_CIPHER_CTX_ctrl(c->dec, EVP_CTRL_AEAD_SET_TAG, DP_PAGE_TAG_LEN,
                            page + len - DP_PAGE_TAG_LEN) != 1 ||
        EVP_DecryptUpdate(c->dec, NULL, &outl, aad, (int)aadlen) != 1 ||
        EVP_DecryptUpdate(c->dec, page + clear, &outl, page + clear, (int)n) != 1 ||
        EVP_DecryptFinal_ex(c->dec, page + clear + outl, &finl) != 1 ||
        (ref->pgno == 1 && !page1_ok(page, len))) {
        memset(page, 0, len);
        return CMK_ECRYPTO;
    }
    /* SQLite checksums whole pages in WAL frames, reserved bytes included, from its cache: the
     * nonce and tag must not be there, or recovery would find every frame's checksum wrong.
     * Pages SQLite creates start zeroed, so zeros it is. */
    memset(page + len - DP_PAGE_RESERVE, 0, DP_PAGE_RESERVE);
    return 0;
}

int dp_vfs_encode_page(struct dp_codec *c, enum dp_file_kind kind, int64_t offset,
                       const uint8_t *frame_hdr, const uint8_t *in, uint8_t *out, size_t len)
{
    struct page_ref ref;
    if (c == NULL || in == NULL || out == NULL || locate(kind, offset, frame_hdr, len, &ref) != 0)
        return CMK_EINVAL;
    if (ref.pgno == 1 && !page1_ok(in, len))
        return CMK_EINVAL;
    return seal(c, &ref, in, out, len);
}

int dp_vfs_decode_page(struct dp_codec *c, enum dp_file_kind kind, int64_t offset,
                       const uint8_t *frame_hdr, uint8_t *buf, size_t len)
{
    struct page_ref ref;
    if (c == NULL || buf == NULL)
        return CMK_EINVAL;
    if (kind == DP_FILE_WAL && frame_hdr == NULL) {
        /* A whole frame: header then page. */
        if (len <= DP_WAL_FRAME_HDR)
            return CMK_EINVAL;
        if (locate(kind, offset + DP_WAL_FRAME_HDR, buf, len - DP_WAL_FRAME_HDR, &ref) != 0)
            return CMK_EINVAL;
        return unseal(c, &ref, buf + DP_WAL_FRAME_HDR, len - DP_WAL_FRAME_HDR);
    }
    if (locate(kind, offset, frame_hdr, len, &ref) != 0)
        return CMK_EINVAL;
    return unseal(c, &ref, buf, len);
}
