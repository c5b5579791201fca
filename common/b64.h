/* b64.h: base64 and base64url (RFC 4648), used by JWK, JWT and Key Vault payloads. */
#ifndef CMK_B64_H
#define CMK_B64_H

#include <stddef.h>

/* Encode n bytes; returns a malloc'd NUL-terminated string (caller frees). url: base64url
 * without padding; otherwise standard base64 with padding. */
char *cmk_b64_encode(const void *p, size_t n, int url);
/* Decode either alphabet, padding optional; returns malloc'd bytes and *outlen, or NULL on
 * malformed input. */
unsigned char *cmk_b64_decode(const char *s, size_t len, size_t *outlen);

#endif
