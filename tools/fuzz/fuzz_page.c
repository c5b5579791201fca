/* fuzz_page.c: the encrypting VFS's page decode path (dp_vfs_decode_page) on arbitrary bytes.
 *
 * The first byte picks a mode; the rest is the input:
 *   0  a database page: 4 bytes of page number, then the page (any length)
 *   1  a whole WAL frame (24-byte header + page) at the frame index in the first 4 bytes
 *   2  a WAL page with its frame header: 4 bytes of frame index, 24 of header, then the page
 *   3  a page sealed from the input, then one bit flipped where the input says: the unflipped
 *      page must decode to the original bytes, the flipped one must be rejected
 * Modes 0-2 use a key drawn at start-up that no input can know: every input must be rejected
 * (never accepted, never a crash, never a read outside the buffer).
 */
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/vfs.h"

#define MAX_PAGE 65536

static struct dp_codec *codec;
static uint8_t buf[DP_WAL_FRAME_HDR + MAX_PAGE + 1024], enc[MAX_PAGE], plain[MAX_PAGE];

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void must_reject(int rc)
{
    if (rc == 0)
        abort(); /* an input nobody could have sealed was accepted */
}

static int64_t wal_frame_offset(uint32_t frame, size_t pgsz)
{
    return DP_WAL_HDR_LEN + (int64_t)(frame - 1) * (int64_t)(DP_WAL_FRAME_HDR + pgsz);
}

/* Mode 3: seal, check the round trip, flip one bit, check the rejection. */
static void seal_and_flip(const uint8_t *data, size_t size)
{
    if (size < 8)
        return;
    size_t len = (size_t)512 << (data[0] % 8);
    int wal = data[1] & 1;
    uint32_t pgno = (data[2] & 3) == 0 ? 1 : get32(data + 2) % 100000 + 1;
    uint32_t bit = get32(data + 4);
    data += 8, size -= 8;
    for (size_t i = 0; i < len; i++)
        plain[i] = size ? data[i % size] : (uint8_t)i;
    if (pgno == 1) { /* page 1 must carry a header declaring the format */
        memcpy(plain, "SQLite format 3", 16);
        plain[16] = (uint8_t)(len >> 8);
        plain[17] = (uint8_t)len;
        if (len == 65536)
            plain[16] = 0, plain[17] = 1;
        plain[20] = DP_PAGE_RESERVE;
    }
    uint8_t fh[DP_WAL_FRAME_HDR] = {0};
    fh[0] = (uint8_t)(pgno >> 24), fh[1] = (uint8_t)(pgno >> 16);
    fh[2] = (uint8_t)(pgno >> 8), fh[3] = (uint8_t)pgno;
    fh[7] = size ? data[0] & 1 : 0; /* sometimes a commit frame */
    int64_t off = wal ? wal_frame_offset(bit % 1000 + 1, len) + DP_WAL_FRAME_HDR
                      : (int64_t)(pgno - 1) * (int64_t)len;
    const uint8_t *hdr = wal ? fh : NULL;
    if (dp_vfs_encode_page(codec, wal ? DP_FILE_WAL : DP_FILE_DB, off, hdr, plain, enc, len) != 0)
        abort();
    memcpy(buf, enc, len);
    if (dp_vfs_decode_page(codec, wal ? DP_FILE_WAL : DP_FILE_DB, off, hdr, buf, len) != 0 ||
        memcmp(buf, plain, len - DP_PAGE_RESERVE) != 0)
        abort();
    /* Flip a bit of the page, or of the bound part of the frame header (page number, commit). */
    size_t nbits = len * 8 + (wal ? 64 : 0);
    size_t b = bit % nbits;
    memcpy(buf, enc, len);
    if (b < len * 8)
        buf[b / 8] ^= (uint8_t)(1u << (b % 8));
    else
        fh[(b - len * 8) / 8] ^= (uint8_t)(1u << (b % 8));
    must_reject(dp_vfs_decode_page(codec, wal ? DP_FILE_WAL : DP_FILE_DB, off, hdr, buf, len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (codec == NULL) {
        uint8_t key[DP_DEK_LEN];
        if (RAND_bytes(key, sizeof(key)) != 1 || (codec = dp_codec_new(key, "fuzz-1")) == NULL)
            abort();
    }
    if (size < 5)
        return 0;
    int mode = data[0] % 4;
    uint32_t n = get32(data + 1);
    data += 5, size -= 5;
    if (size > sizeof(buf))
        size = sizeof(buf);
    switch (mode) {
    case 0: /* a database page: at its own offset when the length is a page size */
        memcpy(buf, data, size);
        must_reject(dp_vfs_decode_page(codec, DP_FILE_DB, (int64_t)(n % 100000) * (int64_t)size,
                                       NULL, buf, size));
        break;
    case 1: /* a whole frame */
        memcpy(buf, data, size);
        must_reject(dp_vfs_decode_page(
            codec, DP_FILE_WAL,
            size > DP_WAL_FRAME_HDR ? wal_frame_offset(n % 100000 + 1, size - DP_WAL_FRAME_HDR)
                                    : (int64_t)n,
            NULL, buf, size));
        break;
    case 2: /* a page with its frame header */
        if (size < DP_WAL_FRAME_HDR)
            return 0;
        memcpy(buf, data + DP_WAL_FRAME_HDR, size - DP_WAL_FRAME_HDR);
        must_reject(dp_vfs_decode_page(codec, DP_FILE_WAL,
                                       wal_frame_offset(n % 100000 + 1, size - DP_WAL_FRAME_HDR) +
                                           DP_WAL_FRAME_HDR,
                                       data, buf, size - DP_WAL_FRAME_HDR));
        break;
    default:
        seal_and_flip(data, size);
    }
    return 0;
}
