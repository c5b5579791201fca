/* auth.c: the emulated login service's token-signing key, compact RS256 JWTs, and their
 * verification (see auth.h).
 *
 * The key is an RSA-2048 key created on first open and kept sealed under the root key
 * (rootkey.h: PKCS#8 DER, label "auth token-signing key", aad "token-signing.key") in
 * DIR/keys/token-signing.key (mode 0600, directories 0700), reused after. A key file that does
 * not open (altered, or sealed under another root key) stops the start with a message naming
 * the file: making a new key silently would invalidate every token in circulation. Older
 * versions kept the key in clear in DIR/keys/token-signing.pem; such a file is deleted unread
 * and a new key made, so tokens issued before the upgrade simply stop verifying (clients get
 * new ones from the login service). Its JWK thumbprint (RFC 7638, SHA-256, base64url) is the
 * "kid". A self-signed certificate is derived from it on every open, deterministically (fixed
 * subject, serial and validity; PKCS#1 v1.5 signatures are deterministic), so the key set can
 * carry "x5c"/"x5t" like Entra ID's without storing a second file or reading a clock.
 *
 * Verification is deliberately narrow: the token is parsed with bounded sizes and a strict
 * base64url alphabet, the header must name RS256 and our kid (or x5t), the signature must be
 * ours, nbf/exp are checked against the caller's "now" with 5 minutes of skew, the audience
 * against the caller's list, and the principal against the registry hook. OpenSSL's EVP API
 * is used directly so no library default (alg "none", HMAC with the public key as secret)
 * can slip in.
 */
#include "auth.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "b64.h"
#include "buf.h"
#include "log.h"
#include "rootkey.h"

#define TOKEN_MAX        16384 /* a whole "Bearer ..." header; Entra tokens are ~1.5 KiB */
#define SEGMENT_JSON_MAX 8192  /* a decoded header or payload */
#define SIGNATURE_LEN    256   /* RSA-2048 */
#define SKEW_MS          (5 * CMK_MINUTE)
#define KEY_BITS         2048
#define AUD_ARRAY_MAX    8

struct cmk_auth {
    EVP_PKEY *key;
    char kid[64]; /* base64url SHA-256 JWK thumbprint */
    char x5t[64]; /* base64url SHA-1 of the certificate's DER, like Entra ID's */
    char *n;      /* base64url modulus */
    char *e;      /* base64url public exponent */
    char *x5c;    /* standard base64 DER certificate */
    cmk_principal_check_fn check;
    void *check_data;
};

/* ---- key file ---------------------------------------------------------------------------- */

static int ensure_dir(const char *path, struct cmk_err *err)
{
    if (mkdir(path, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot create %s: %s", path,
                           strerror(errno));
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "%s is not a directory", path);
    return 0;
}

/* Make a new key and seal it into path. */
static int create_key(const struct cmk_rootkey *rk, const char *path, EVP_PKEY **out,
                      struct cmk_err *err)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)KEY_BITS);
    if (key == NULL)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError", "RSA key generation failed");
    int rc = cmk_rootkey_write_pkey(rk, CMK_AUTH_KEY_LABEL, path, key, err);
    if (rc != 0) {
        EVP_PKEY_free(key);
        return rc;
    }
    *out = key;
    return 0;
}

/* Open the sealed key, or make it on first start. Anything but "no file" is a refusal: the
 * message names the file and what to do. */
static int load_or_create_key(const char *dir, const char *keys, EVP_PKEY **out,
                              struct cmk_err *err)
{
    char path[PATH_MAX], legacy[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", keys, CMK_AUTH_KEY_FILE) >= (int)sizeof(path) ||
        snprintf(legacy, sizeof(legacy), "%s/token-signing.pem", keys) >= (int)sizeof(legacy))
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError", "state path too long");
    /* The clear key of older versions is removed unread; a new key replaces it. */
    if (unlink(legacy) == 0)
        cmk_warn("auth",
                 "msg=\"removed the token-signing key kept in clear by an older "
                 "version; a new key is made and tokens issued before stop verifying\" "
                 "file=%s",
                 legacy);
    struct cmk_rootkey rk;
    int rc = cmk_rootkey_load(&rk, dir, err);
    if (rc != 0)
        return rc;
    struct cmk_err e;
    cmk_err_clear(&e);
    EVP_PKEY *key = NULL;
    rc = cmk_rootkey_read_pkey(&rk, CMK_AUTH_KEY_LABEL, path, &key, &e);
    if (rc == CMK_ENOTFOUND) {
        rc = create_key(&rk, path, &key, err);
    } else if (rc != 0) {
        rc = cmk_err_set(err, rc, 500, "InternalError",
                         "cannot load the token-signing key: %s. Restore the file, or delete it "
                         "to start with a new key (tokens issued before then stop verifying)",
                         e.message);
    } else if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) != KEY_BITS) {
        EVP_PKEY_free(key);
        key = NULL;
        rc = cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError", "%s is not an RSA-%d key", path,
                         KEY_BITS);
    }
    cmk_rootkey_wipe(&rk);
    if (rc == 0)
        *out = key;
    return rc;
}

/* ---- public parts: n, e, kid, certificate -------------------------------------------------- */

static char *bn_param_b64url(const EVP_PKEY *key, const char *name)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1)
        return NULL;
    int len = BN_num_bytes(bn);
    unsigned char *bin = cmk_xmalloc(len > 0 ? (size_t)len : 1);
    BN_bn2bin(bn, bin);
    char *s = cmk_b64_encode(bin, (size_t)len, 1);
    free(bin);
    BN_free(bn);
    return s;
}

static int digest(const char *md, const void *p, size_t n, unsigned char *out, unsigned *outlen)
{
    return EVP_Digest(p, n, out, outlen, EVP_get_digestbyname(md), NULL) == 1 ? 0 : -1;
}

static void b64url_into(char *dst, size_t dstsz, const unsigned char *p, size_t n)
{
    char *s = cmk_b64_encode(p, n, 1);
    snprintf(dst, dstsz, "%s", s ? s : "");
    free(s);
}

static int make_certificate(struct cmk_auth *a, const unsigned char *thumb)
{
    int rc = -1;
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    unsigned char *der = NULL;
    if (x == NULL || name == NULL)
        goto done;
    X509_set_version(x, 2);
    uint64_t serial = 0;
    for (int i = 0; i < 7; i++) /* 56 bits: positive and stable for this key */
        serial = serial << 8 | thumb[i];
    ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"cmksim token signing", -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, name);
    /* Fixed validity: the certificate only carries the key for JWKS consumers. */
    if (!ASN1_TIME_set_string_X509(X509_getm_notBefore(x), "20000101000000Z") ||
        !ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "20991231235959Z"))
        goto done;
    X509_set_pubkey(x, a->key);
    if (X509_sign(x, a->key, EVP_sha256()) == 0)
        goto done;
    int len = i2d_X509(x, &der);
    if (len <= 0)
        goto done;
    unsigned char sha1[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (digest("SHA1", der, (size_t)len, sha1, &n) != 0)
        goto done;
    b64url_into(a->x5t, sizeof(a->x5t), sha1, n);
    a->x5c = cmk_b64_encode(der, (size_t)len, 0);
    rc = a->x5c != NULL ? 0 : -1;
done:
    OPENSSL_free(der);
    X509_NAME_free(name);
    X509_free(x);
    return rc;
}

static int derive_public(struct cmk_auth *a, struct cmk_err *err)
{
    a->n = bn_param_b64url(a->key, OSSL_PKEY_PARAM_RSA_N);
    a->e = bn_param_b64url(a->key, OSSL_PKEY_PARAM_RSA_E);
    if (a->n == NULL || a->e == NULL)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError", "cannot read the RSA key");
    /* RFC 7638: the required members in lexicographic order, no whitespace. */
    struct cmk_buf jwk;
    cmk_buf_init(&jwk);
    cmk_buf_printf(&jwk, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", a->e, a->n);
    unsigned char thumb[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    int rc = digest("SHA256", jwk.data, jwk.len, thumb, &n);
    cmk_buf_close(&jwk);
    if (rc != 0)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError", "SHA-256 failed");
    b64url_into(a->kid, sizeof(a->kid), thumb, n);
    if (make_certificate(a, thumb) != 0)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError",
                           "cannot derive the token-signing certificate");
    return 0;
}

int cmk_auth_open(struct cmk_auth **out, const char *dir, struct cmk_err *err)
{
    *out = NULL;
    char keys[PATH_MAX];
    if (dir == NULL || snprintf(keys, sizeof(keys), "%s/keys", dir) >= (int)sizeof(keys))
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError", "bad state directory");
    int rc = ensure_dir(dir, err);
    if (rc == 0)
        rc = ensure_dir(keys, err);
    if (rc != 0)
        return rc;
    struct cmk_auth *a = cmk_xcalloc(1, sizeof(*a));
    rc = load_or_create_key(dir, keys, &a->key, err);
    if (rc == 0)
        rc = derive_public(a, err);
    if (rc != 0) {
        cmk_auth_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void cmk_auth_free(struct cmk_auth *a)
{
    if (a == NULL)
        return;
    EVP_PKEY_free(a->key); /* OpenSSL clears the private components when freeing them */
    free(a->n);
    free(a->e);
    free(a->x5c);
    free(a);
}

void cmk_auth_set_principal_check(struct cmk_auth *a, cmk_principal_check_fn fn, void *data)
{
    a->check = fn;
    a->check_data = data;
}

const char *cmk_auth_kid(const struct cmk_auth *a)
{
    return a->kid;
}

json_t *cmk_auth_jwks(struct cmk_auth *a)
{
    json_t *key = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s]}", "kty", "RSA", "use", "sig",
                            "kid", a->kid, "x5t", a->x5t, "n", a->n, "e", a->e, "x5c", a->x5c);
    return json_pack("{s:[o]}", "keys", key);
}

/* ---- issuing ---------------------------------------------------------------------------- */

static int sign(EVP_PKEY *key, const char *data, size_t len, unsigned char *sig, size_t *siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(ctx, sig, siglen, (const unsigned char *)data, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

static void append_b64url_json(struct cmk_buf *b, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *enc = cmk_b64_encode(s, strlen(s), 1);
    cmk_buf_puts(b, enc);
    free(enc);
    free(s);
}

int cmk_auth_issue(struct cmk_auth *a, const struct cmk_principal *c, char **token,
                   struct cmk_err *err)
{
    *token = NULL;
    if (c->tid[0] == '\0' || c->oid[0] == '\0' || c->appid[0] == '\0' || c->aud[0] == '\0' ||
        c->iss[0] == '\0' || c->exp <= c->nbf)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError", "incomplete token claims");
    int v1 = strncmp(c->iss, "https://sts.windows.net/", 24) == 0;
    json_t *hdr = json_pack("{s:s, s:s, s:s, s:s}", "typ", "JWT", "alg", "RS256", "x5t", a->x5t,
                            "kid", a->kid);
    json_t *pl =
        json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "aud", c->aud,
                  "iss", c->iss, "iat", (json_int_t)(c->iat / CMK_SECOND), "nbf",
                  (json_int_t)(c->nbf / CMK_SECOND), "exp", (json_int_t)(c->exp / CMK_SECOND),
                  "appid", c->appid, "azp", c->appid, "idtyp", c->idtyp[0] ? c->idtyp : "app",
                  "oid", c->oid, "sub", c->oid, "tid", c->tid, "ver", v1 ? "1.0" : "2.0");
    if (c->mirid[0] != '\0')
        json_object_set_new(pl, "xms_mirid", json_string(c->mirid));
    struct cmk_buf b;
    cmk_buf_init(&b);
    append_b64url_json(&b, hdr);
    cmk_buf_puts(&b, ".");
    append_b64url_json(&b, pl);
    json_decref(hdr);
    json_decref(pl);
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    if (sign(a->key, b.data, b.len, sig, &siglen) != 0) {
        cmk_buf_close(&b);
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError", "token signing failed");
    }
    char *s = cmk_b64_encode(sig, siglen, 1);
    cmk_buf_puts(&b, ".");
    cmk_buf_puts(&b, s);
    free(s);
    *token = cmk_buf_take(&b, NULL);
    return 0;
}

/* ---- verification ----------------------------------------------------------------------- */

static int unauthorized(struct cmk_err *err, const char *inner, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int unauthorized(struct cmk_err *err, const char *inner, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cmk_err_vset(err, CMK_EAUTH, 401, "Unauthorized", fmt, ap);
    va_end(ap);
    cmk_err_inner(err, inner);
    return CMK_EAUTH;
}

static int is_b64url_char(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

/* Strict base64url (no padding, no '+' or '/', no whitespace) of a bounded length. */
static unsigned char *decode_segment(const char *s, size_t len, size_t max, size_t *outlen)
{
    if (len == 0 || len % 4 == 1 || len > (max / 3 + 1) * 4)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if (!is_b64url_char((unsigned char)s[i]))
            return NULL;
    unsigned char *p = cmk_b64_decode(s, len, outlen);
    if (p != NULL && *outlen > max) {
        free(p);
        return NULL;
    }
    return p;
}

static json_t *decode_json_segment(const char *s, size_t len)
{
    size_t n = 0;
    unsigned char *p = decode_segment(s, len, SEGMENT_JSON_MAX, &n);
    if (p == NULL)
        return NULL;
    json_error_t jerr;
    json_t *j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
    free(p);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Copy a string claim into a fixed field; absent is allowed only when !required. */
static int claim_string(json_t *pl, const char *name, char *dst, size_t dstsz, int required)
{
    json_t *v = json_object_get(pl, name);
    dst[0] = '\0';
    if (v == NULL)
        return required ? -1 : 0;
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) >= dstsz || strlen(s) != json_string_length(v))
        return -1;
    memcpy(dst, s, strlen(s) + 1);
    return required && dst[0] == '\0' ? -1 : 0;
}

/* NumericDate in seconds, as an integer within a sane range; stored in milliseconds. */
static int claim_time(json_t *pl, const char *name, cmk_time_t *out, int required)
{
    json_t *v = json_object_get(pl, name);
    *out = 0;
    if (v == NULL)
        return required ? -1 : 0;
    if (!json_is_integer(v))
        return -1;
    json_int_t s = json_integer_value(v);
    if (s < 0 || s > ((json_int_t)1 << 40))
        return -1;
    *out = (cmk_time_t)s * CMK_SECOND;
    return 0;
}

static size_t trim_slash(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && s[n - 1] == '/' ? n - 1 : n;
}

static int audience_matches(const char *aud, const char *const *accepted)
{
    size_t n = trim_slash(aud);
    for (size_t i = 0; accepted[i] != NULL; i++) {
        size_t m = trim_slash(accepted[i]);
        if (n == m && strncasecmp(aud, accepted[i], n) == 0)
            return 1;
    }
    return 0;
}

static int check_audience(json_t *pl, const char *const *accepted, struct cmk_principal *p,
                          struct cmk_err *err)
{
    json_t *aud = json_object_get(pl, "aud");
    const char *first = NULL;
    if (json_is_string(aud)) {
        first = json_string_value(aud);
        if (strlen(first) >= sizeof(p->aud) || strlen(first) != json_string_length(aud))
            return unauthorized(err, "TokenMalformed", "The token's audience is malformed.");
        if (accepted == NULL || audience_matches(first, accepted)) {
            snprintf(p->aud, sizeof(p->aud), "%s", first);
            return 0;
        }
    } else if (json_is_array(aud) && json_array_size(aud) > 0 &&
               json_array_size(aud) <= AUD_ARRAY_MAX) {
        size_t i;
        json_t *v;
        json_array_foreach(aud, i, v)
        {
            const char *s = json_string_value(v);
            if (s == NULL || strlen(s) >= sizeof(p->aud) || strlen(s) != json_string_length(v))
                return unauthorized(err, "TokenMalformed", "The token's audience is malformed.");
        }
        first = json_string_value(json_array_get(aud, 0));
        json_array_foreach(aud, i, v)
        {
            const char *s = json_string_value(v);
            if (accepted == NULL || audience_matches(s, accepted)) {
                snprintf(p->aud, sizeof(p->aud), "%s", s);
                return 0;
            }
        }
    } else {
        return unauthorized(err, "TokenMalformed", "The token has no audience.");
    }
    return unauthorized(err, "InvalidAudience", "Invalid audience. Expected %s, found: %s.",
                        accepted[0] ? accepted[0] : "(none)", first);
}

static int check_header(struct cmk_auth *a, json_t *hdr, struct cmk_err *err)
{
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    if (alg == NULL)
        return unauthorized(err, "TokenMalformed", "The token header has no algorithm.");
    if (strcmp(alg, "RS256") != 0)
        return unauthorized(err, "UnsupportedAlgorithm",
                            "The token's signing algorithm is not supported: %.32s.", alg);
    json_t *typ = json_object_get(hdr, "typ");
    if (typ != NULL && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
        return unauthorized(err, "TokenMalformed", "The token type is not JWT.");
    if (json_object_get(hdr, "crit") != NULL)
        return unauthorized(err, "TokenMalformed", "The token has critical header parameters.");
    json_t *kid = json_object_get(hdr, "kid");
    json_t *x5t = json_object_get(hdr, "x5t");
    if (kid == NULL && x5t == NULL)
        return unauthorized(err, "UnknownSigningKey", "The token names no signing key.");
    if ((kid != NULL && (!json_is_string(kid) || strcmp(json_string_value(kid), a->kid) != 0)) ||
        (x5t != NULL && (!json_is_string(x5t) || strcmp(json_string_value(x5t), a->x5t) != 0)))
        return unauthorized(err, "UnknownSigningKey",
                            "The token was not signed by a key of this login service.");
    return 0;
}

static int check_signature(struct cmk_auth *a, const char *signed_part, size_t len,
                           const char *sig64, size_t siglen64, struct cmk_err *err)
{
    size_t n = 0;
    unsigned char *sig = decode_segment(sig64, siglen64, SIGNATURE_LEN, &n);
    int ok = 0;
    if (sig != NULL && n == SIGNATURE_LEN) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, a->key) == 1 &&
             EVP_DigestVerify(ctx, sig, n, (const unsigned char *)signed_part, len) == 1;
        EVP_MD_CTX_free(ctx);
    }
    free(sig);
    if (!ok)
        ERR_clear_error(); /* a forged signature is an answer, not an OpenSSL error to keep */
    return ok ? 0 : unauthorized(err, "InvalidSignature", "The token's signature is invalid.");
}

static int check_claims(json_t *pl, cmk_time_t now, struct cmk_principal *p, struct cmk_err *err)
{
    if (claim_string(pl, "tid", p->tid, sizeof(p->tid), 1) != 0 ||
        claim_string(pl, "oid", p->oid, sizeof(p->oid), 1) != 0 ||
        claim_string(pl, "iss", p->iss, sizeof(p->iss), 1) != 0 ||
        claim_string(pl, "appid", p->appid, sizeof(p->appid), 0) != 0 ||
        claim_string(pl, "idtyp", p->idtyp, sizeof(p->idtyp), 0) != 0 ||
        claim_string(pl, "xms_mirid", p->mirid, sizeof(p->mirid), 0) != 0 ||
        claim_time(pl, "iat", &p->iat, 0) != 0 || claim_time(pl, "nbf", &p->nbf, 0) != 0 ||
        claim_time(pl, "exp", &p->exp, 1) != 0)
        return unauthorized(err, "TokenMalformed", "The token's claims are malformed.");
    if (p->appid[0] == '\0' && claim_string(pl, "azp", p->appid, sizeof(p->appid), 0) != 0)
        return unauthorized(err, "TokenMalformed", "The token's claims are malformed.");
    if (now > p->exp + SKEW_MS)
        return unauthorized(err, "TokenExpired", "The token is expired.");
    if (p->nbf != 0 && now + SKEW_MS < p->nbf)
        return unauthorized(err, "TokenNotYetValid", "The token is not yet valid.");
    return 0;
}

int cmk_auth_verify(struct cmk_auth *a, const char *header, cmk_time_t now,
                    const char *const *audiences, struct cmk_principal *out, struct cmk_err *err)
{
    struct cmk_principal p;
    memset(&p, 0, sizeof(p));
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
        return unauthorized(err, "TokenMissing", "Request is missing a Bearer or PoP token.");
    const char *tok = header + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strnlen(tok, TOKEN_MAX + 1);
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
        len--;
    if (len == 0)
        return unauthorized(err, "TokenMissing", "Request is missing a Bearer or PoP token.");
    if (len > TOKEN_MAX)
        return unauthorized(err, "TokenMalformed", "The token is too large.");
    const char *dot1 = memchr(tok, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok)) : NULL;
    if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - tok)))
        return unauthorized(err, "TokenMalformed", "The token is not a compact JWS.");
    size_t hlen = (size_t)(dot1 - tok), plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = len - (size_t)(dot2 + 1 - tok);

    json_t *hdr = decode_json_segment(tok, hlen);
    if (hdr == NULL)
        return unauthorized(err, "TokenMalformed", "The token header is malformed.");
    int rc = check_header(a, hdr, err);
    json_decref(hdr);
    if (rc != 0)
        return rc;
    /* The signature is checked before the payload is even parsed. */
    rc = check_signature(a, tok, (size_t)(dot2 - tok), dot2 + 1, slen, err);
    if (rc != 0)
        return rc;
    json_t *pl = decode_json_segment(dot1 + 1, plen);
    if (pl == NULL)
        return unauthorized(err, "TokenMalformed", "The token payload is malformed.");
    rc = check_claims(pl, now, &p, err);
    if (rc == 0)
        rc = check_audience(pl, audiences, &p, err);
    json_decref(pl);
    if (rc != 0)
        return rc;
    if (a->check != NULL && a->check(a->check_data, p.tid, p.oid) == 0)
        return unauthorized(err, "UnknownPrincipal",
                            "The principal of the token does not exist in tenant %s.", p.tid);
    if (out != NULL)
        *out = p;
    return 0;
}
