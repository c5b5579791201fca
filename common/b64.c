/* b64.c: base64 and base64url (RFC 4648) for JWK, JWT and Key Vault payloads (see b64.h).
 *
 * Decoding is liberal in alphabet and padding (Key Vault clients send either) but strict
 * about everything else: whitespace, stray '=', a length that cannot come from an encoder, or
 * any other byte makes it return NULL.
 */
#include "b64.h"

#include <stdint.h>
#include <stdlib.h>

#include "buf.h"

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *cmk_b64_encode(const void *p, size_t n, int url)
{
    const unsigned char *in = p;
    const char *abc = url ? url_alphabet : std_alphabet;
    char *out = cmk_xmalloc((n + 2) / 3 * 4 + 1);
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        *o++ = abc[(v >> 6) & 63];
        *o++ = abc[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        if (!url)
            *o++ = '=', *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        *o++ = abc[(v >> 6) & 63];
        if (!url)
            *o++ = '=';
    }
    *o = '\0';
    return out;
}

static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

unsigned char *cmk_b64_decode(const char *s, size_t len, size_t *outlen)
{
    size_t data = len;
    /* Padding, if any, ends the input and completes a 4-character group. */
    while (data > 0 && s[data - 1] == '=')
        data--;
    size_t pad = len - data;
    if (pad > 2 || (pad > 0 && len % 4 != 0) || data % 4 == 1)
        return NULL;
    unsigned char *out = cmk_xmalloc(data / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < data; i++) {
        int v = sextet((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (outlen)
        *outlen = o;
    return out;
}
