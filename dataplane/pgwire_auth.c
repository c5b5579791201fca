/* pgwire_auth.c: SCRAM-SHA-256 as PostgreSQL does it (RFC 5802 with RFC 7677's hash).
 *
 * Only verifiers are stored: "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (the
 * format of pg_authid.rolpassword), so a leaked verifier does not give the password. The
 * exchange: the client-first message (gs2 header "n,," or "y,,"; channel binding "p=" is not
 * offered, so it is refused) is answered with "r=<client nonce + server nonce>,s=<salt>,
 * i=<iterations>"; the client-final message's proof is checked by recomputing ClientKey =
 * proof XOR HMAC(StoredKey, AuthMessage) and comparing H(ClientKey) with StoredKey in
 * constant time; the answer carries the server signature. A login for an unknown user runs
 * the same exchange against a mock verifier derived from a secret, so the answer does not
 * tell which users exist (as PostgreSQL does). Cleartext passwords are checked against the
 * same verifiers. Secrets on the stack are cleansed.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire_int.h"

#define KEYLEN   32
#define MAX_SALT 64

struct pg_scram {
    int valid; /* the verifier parsed (else every proof fails) */
    int iterations;
    uint8_t salt[MAX_SALT];
    size_t saltlen;
    uint8_t stored_key[KEYLEN], server_key[KEYLEN];
    char gs2[8];
    char nonce[160];
    char *client_first_bare;
    char *server_first;
};

int pg_b64_encode(const uint8_t *p, size_t n, char *out, size_t on)
{
    if (on < 4 * ((n + 2) / 3) + 1)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

int pg_b64_decode(const char *s, size_t n, uint8_t *out, size_t on)
{
    if (n == 0)
        return 0;
    if (n % 4 != 0 || 3 * (n / 4) > on + 2)
        return -1;
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                 ch == '+' || ch == '/';
        if (ch == '=' && i >= n - 2) {
            pad++;
            continue;
        }
        if (!ok || pad)
            return -1;
    }
    uint8_t tmp[512];
    if (3 * (n / 4) > sizeof(tmp))
        return -1;
    int len = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
    if (len < 0 || (size_t)len < pad || (size_t)len - pad > on)
        return -1;
    memcpy(out, tmp, (size_t)len - pad);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return len - (int)pad;
}

static int hmac(const uint8_t *key, size_t kn, const void *msg, size_t mn, uint8_t out[KEYLEN])
{
    unsigned int len = KEYLEN;
    return HMAC(EVP_sha256(), key, (int)kn, msg, mn, out, &len) ? 0 : -1;
}

static int sha256(const uint8_t *in, size_t n, uint8_t out[KEYLEN])
{
    unsigned int len = KEYLEN;
    return EVP_Digest(in, n, out, &len, EVP_sha256(), NULL) ? 0 : -1;
}

/* StoredKey and ServerKey of password. */
static int derive(const char *password, const uint8_t *salt, size_t saltlen, int iterations,
                  uint8_t stored[KEYLEN], uint8_t server[KEYLEN])
{
    uint8_t salted[KEYLEN], client[KEYLEN];
    int rc = -1;
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen, iterations,
                          EVP_sha256(), KEYLEN, salted) == 1 &&
        hmac(salted, KEYLEN, "Client Key", 10, client) == 0 &&
        sha256(client, KEYLEN, stored) == 0 && hmac(salted, KEYLEN, "Server Key", 10, server) == 0)
        rc = 0;
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(client, sizeof(client));
    return rc;
}

static int format_verifier(int iterations, const uint8_t *salt, size_t saltlen,
                           const uint8_t stored[KEYLEN], const uint8_t server[KEYLEN], char *out,
                           size_t n)
{
    char s64[MAX_SALT * 2], k1[64], k2[64];
    if (pg_b64_encode(salt, saltlen, s64, sizeof(s64)) < 0 ||
        pg_b64_encode(stored, KEYLEN, k1, sizeof(k1)) < 0 ||
        pg_b64_encode(server, KEYLEN, k2, sizeof(k2)) < 0)
        return -1;
    int w = snprintf(out, n, "SCRAM-SHA-256$%d:%s$%s:%s", iterations, s64, k1, k2);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

int pg_scram_make(const char *password, const uint8_t *salt, size_t saltlen, int iterations,
                  char *out, size_t n)
{
    uint8_t stored[KEYLEN], server[KEYLEN];
    if (saltlen > MAX_SALT || iterations < 1 ||
        derive(password, salt, saltlen, iterations, stored, server) != 0)
        return -1;
    int rc = format_verifier(iterations, salt, saltlen, stored, server, out, n);
    OPENSSL_cleanse(stored, sizeof(stored));
    OPENSSL_cleanse(server, sizeof(server));
    return rc;
}

int dp_pg_scram_verifier(const char *password, int iterations, char *out, size_t n)
{
    uint8_t salt[16];
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return -1;
    return pg_scram_make(password, salt, sizeof(salt), iterations ? iterations : 4096, out, n) == 0
               ? 0
               : -1;
}

/* Parse a verifier into s (iterations, salt, keys). 0 or -1. */
static int parse_verifier(struct pg_scram *s, const char *v)
{
    if (v == NULL || strncmp(v, "SCRAM-SHA-256$", 14) != 0)
        return -1;
    const char *p = v + 14;
    char *end;
    long it = strtol(p, &end, 10);
    if (end == p || *end != ':' || it < 1 || it > 10000000)
        return -1;
    const char *salt = end + 1, *dollar = strchr(salt, '$');
    if (dollar == NULL)
        return -1;
    const char *k1 = dollar + 1, *colon = strchr(k1, ':');
    if (colon == NULL)
        return -1;
    const char *k2 = colon + 1;
    int sl = pg_b64_decode(salt, (size_t)(dollar - salt), s->salt, sizeof(s->salt));
    int l1 = pg_b64_decode(k1, (size_t)(colon - k1), s->stored_key, KEYLEN);
    int l2 = pg_b64_decode(k2, strlen(k2), s->server_key, KEYLEN);
    if (sl <= 0 || l1 != KEYLEN || l2 != KEYLEN)
        return -1;
    s->saltlen = (size_t)sl;
    s->iterations = (int)it;
    return 0;
}

int dp_pg_scram_check_password(const char *verifier, const char *password)
{
    struct pg_scram s;
    uint8_t stored[KEYLEN], server[KEYLEN];
    memset(&s, 0, sizeof(s));
    int ok = parse_verifier(&s, verifier) == 0 && password != NULL &&
             derive(password, s.salt, s.saltlen, s.iterations, stored, server) == 0 &&
             CRYPTO_memcmp(stored, s.stored_key, KEYLEN) == 0 &&
             CRYPTO_memcmp(server, s.server_key, KEYLEN) == 0;
    OPENSSL_cleanse(stored, sizeof(stored));
    OPENSSL_cleanse(server, sizeof(server));
    OPENSSL_cleanse(&s, sizeof(s));
    return ok;
}

void pg_scram_mock(const uint8_t *secret, size_t sn, const char *user, char *out, size_t n)
{
    uint8_t salt[KEYLEN], k1[KEYLEN], k2[KEYLEN];
    char msg[DP_PG_NAME_MAX + 16];
    snprintf(msg, sizeof(msg), "salt:%s", user);
    hmac(secret, sn, msg, strlen(msg), salt);
    snprintf(msg, sizeof(msg), "stored:%s", user);
    hmac(secret, sn, msg, strlen(msg), k1);
    snprintf(msg, sizeof(msg), "server:%s", user);
    hmac(secret, sn, msg, strlen(msg), k2);
    format_verifier(4096, salt, 16, k1, k2, out, n);
}

struct pg_scram *pg_scram_new(const char *verifier, const char *user)
{
    struct pg_scram *s = cmk_xcalloc(1, sizeof(*s));
    s->valid = parse_verifier(s, verifier) == 0;
    if (!s->valid) { /* an empty or broken verifier: the exchange runs and fails */
        s->iterations = 4096;
        s->saltlen = 16;
        RAND_bytes(s->salt, 16);
    }
    (void)user;
    return s;
}

void pg_scram_free(struct pg_scram *s)
{
    if (s == NULL)
        return;
    free(s->client_first_bare);
    free(s->server_first);
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

/* Value of attribute a ("r=") in a comma-separated SCRAM message, copied to out. */
static int attr(const char *msg, size_t n, char a, char *out, size_t on)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && msg[j] != ',')
            j++;
        if (j - i >= 2 && msg[i] == a && msg[i + 1] == '=') {
            size_t len = j - i - 2;
            if (len + 1 > on)
                return -1;
            memcpy(out, msg + i + 2, len);
            out[len] = 0;
            return 0;
        }
        i = j + 1;
    }
    return -1;
}

int pg_scram_first(struct pg_scram *s, const char *msg, size_t n, const char *nonce,
                   struct cmk_buf *out)
{
    if (n < 3 || memchr(msg, 0, n))
        return CMK_EPARSE;
    if (msg[0] == 'p')
        return CMK_EINVAL;
    if ((msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',')
        return CMK_EPARSE;
    const char *comma = memchr(msg + 2, ',', n - 2); /* after the optional authzid */
    if (comma == NULL)
        return CMK_EPARSE;
    size_t gl = (size_t)(comma - msg) + 1;
    if (gl >= sizeof(s->gs2))
        return CMK_EPARSE;
    memcpy(s->gs2, msg, gl);
    s->gs2[gl] = 0;
    const char *bare = comma + 1;
    size_t bn = n - gl;
    char cnonce[96];
    if (bn < 2 || bare[0] == 'm' || attr(bare, bn, 'r', cnonce, sizeof(cnonce)) != 0 ||
        cnonce[0] == 0)
        return CMK_EPARSE;
    for (const char *c = cnonce; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            return CMK_EPARSE;
    char snonce[64];
    if (nonce) {
        snprintf(snonce, sizeof(snonce), "%s", nonce);
    } else {
        uint8_t raw[18];
        RAND_bytes(raw, sizeof(raw));
        pg_b64_encode(raw, sizeof(raw), snonce, sizeof(snonce));
    }
    snprintf(s->nonce, sizeof(s->nonce), "%s%s", cnonce, snonce);
    char salt64[MAX_SALT * 2];
    pg_b64_encode(s->salt, s->saltlen, salt64, sizeof(salt64));
    free(s->client_first_bare);
    s->client_first_bare = cmk_xstrndup(bare, bn);
    struct cmk_buf sf;
    cmk_buf_init(&sf);
    cmk_buf_printf(&sf, "r=%s,s=%s,i=%d", s->nonce, salt64, s->iterations);
    free(s->server_first);
    s->server_first = cmk_xstrdup(sf.data);
    cmk_buf_append(out, sf.data, sf.len);
    cmk_buf_close(&sf);
    return 0;
}

int pg_scram_final(struct pg_scram *s, const char *msg, size_t n, struct cmk_buf *out)
{
    if (s->server_first == NULL || memchr(msg, 0, n))
        return CMK_EPARSE;
    /* the message without ",p=..." is part of AuthMessage */
    size_t wp = 0;
    for (size_t i = 0; i + 2 < n; i++)
        if (msg[i] == ',' && msg[i + 1] == 'p' && msg[i + 2] == '=')
            wp = i;
    char cb64[64], rnonce[160], proof64[64];
    if (wp == 0 || attr(msg, wp, 'c', cb64, sizeof(cb64)) != 0 ||
        attr(msg, wp, 'r', rnonce, sizeof(rnonce)) != 0 ||
        attr(msg + wp + 1, n - wp - 1, 'p', proof64, sizeof(proof64)) != 0)
        return CMK_EPARSE;
    uint8_t cbind[48], proof[KEYLEN + 4];
    int cl = pg_b64_decode(cb64, strlen(cb64), cbind, sizeof(cbind));
    if (cl < 0 || (size_t)cl != strlen(s->gs2) || memcmp(cbind, s->gs2, (size_t)cl) != 0)
        return CMK_EPARSE;
    if (strcmp(rnonce, s->nonce) != 0)
        return CMK_EPARSE;
    if (pg_b64_decode(proof64, strlen(proof64), proof, sizeof(proof)) != KEYLEN)
        return CMK_EPARSE;
    struct cmk_buf am;
    cmk_buf_init(&am);
    cmk_buf_printf(&am, "%s,%s,", s->client_first_bare, s->server_first);
    cmk_buf_append(&am, msg, wp);
    uint8_t sig[KEYLEN], key[KEYLEN], check[KEYLEN];
    int ok = hmac(s->stored_key, KEYLEN, am.data, am.len, sig) == 0;
    for (int i = 0; i < KEYLEN; i++)
        key[i] = proof[i] ^ sig[i];
    ok = ok && sha256(key, KEYLEN, check) == 0 &&
         CRYPTO_memcmp(check, s->stored_key, KEYLEN) == 0 && s->valid;
    if (ok) {
        uint8_t ss[KEYLEN];
        char ss64[64];
        hmac(s->server_key, KEYLEN, am.data, am.len, ss);
        pg_b64_encode(ss, KEYLEN, ss64, sizeof(ss64));
        cmk_buf_printf(out, "v=%s", ss64);
    }
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(sig, sizeof(sig));
    cmk_buf_close(&am);
    return ok ? 0 : CMK_EAUTH;
}
