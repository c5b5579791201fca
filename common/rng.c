/* rng.c: the seeded generator behind every random-looking thing in output (see rng.h).
 *
 * xoshiro256** (Blackman and Vigna), its 256-bit state filled from the seed by splitmix64 as
 * its authors recommend. A fork hashes the parent's seed and the child's name with FNV-1a 64
 * and seeds the child from that, so a child depends only on (parent seed, name): the parent's
 * draws never move a child, and forking the same name twice gives the same stream. Not a
 * CSPRNG: key material comes from OpenSSL.
 */
#include "rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void cmk_rng_init(struct cmk_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    r->seed = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

void cmk_rng_fork(const struct cmk_rng *parent, struct cmk_rng *child, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 offset basis */
    for (int i = 0; i < 8; i++) {
        h ^= (parent->seed >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    /* Mix once more so names differing in one byte give unrelated seeds. */
    cmk_rng_init(child, splitmix64(&h));
}

uint64_t cmk_rng_u64(struct cmk_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t cmk_rng_below(struct cmk_rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    /* Reject the lowest 2^64 mod n values so every residue is equally likely. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = cmk_rng_u64(r);
        if (x >= threshold)
            return x % n;
    }
}

void cmk_rng_hex(struct cmk_rng *r, char *out, size_t nhex)
{
    static const char digits[] = "0123456789abcdef";
    uint64_t x = 0;
    for (size_t i = 0; i < nhex; i++) {
        if (i % 16 == 0)
            x = cmk_rng_u64(r);
        out[i] = digits[x & 0xf];
        x >>= 4;
    }
    out[nhex] = '\0';
}

void cmk_rng_guid(struct cmk_rng *r, char out[37])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char b[16];
    uint64_t hi = cmk_rng_u64(r), lo = cmk_rng_u64(r);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(hi >> (56 - 8 * i));
        b[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = digits[b[i] >> 4];
        *p++ = digits[b[i] & 0xf];
    }
    *p = '\0';
}
