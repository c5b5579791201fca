/* hsm_sd.c: the security domain of a Managed HSM and its activation (see hsm.h).
 *
 *   POST /securitydomain/download   {"certificates": [3..10 JWKs with x5c], "required": 2..N}
 *        -> 202 {"value": "<security domain>"}, Retry-After; the HSM becomes Active when the
 *           operation completes on the clock (activation delay)
 *   GET  /securitydomain/download/pending   (POST accepted too)
 *        -> 200 {"status": "InProgress" | "Success" | "Failed", "status_details": "..."}
 *
 * Both go through vaultsim's request pipeline without its activation step (they are what
 * activates the HSM) and need the Managed HSM Administrator's data actions
 * (securitydomain/download/action, /download/read) at "/".
 *
 * The security domain is the format the Azure CLI reads (`az keyvault security-domain
 * restore-blob`): a random 32-byte master key is split with Shamir's scheme over GF(257), one
 * share per certificate (each byte of the master key a (x << 9 | y) little-endian uint16), each
 * share encrypted to its certificate's RSA key as a compact JWE (RSA-OAEP-256, A256CBC-HS512)
 * and listed with the certificate's SHA-256 thumbprint; the domain's data (a random domain key)
 * is a JWE ("dir", A256CBC-HS512) under SP 800-108 HMAC-SHA512(master key, tag). Nothing of
 * this is kept in the emulator: key material lives only in OpenSSL buffers cleansed after use.
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/runtime.h"
#include "common/store.h"
#include "hsm_int.h"

#define DA         "Microsoft.KeyVault/managedHsm/"
#define MASTER_LEN 32
#define MAX_CERTS  10
#define DOMAIN_TAG "cmksim-hsm-domain-key"
#define SD_VERSION "1.0"

static const struct cmk_migration migrations[] = {
    {1, "CREATE TABLE hsm_sd ("
        " hsm TEXT PRIMARY KEY,"
        " status TEXT NOT NULL,"
        " due INTEGER NOT NULL,"
        " required INTEGER NOT NULL,"
        " shares INTEGER NOT NULL);"},
};

/* ---- GF(257) and Shamir's scheme (as the Azure CLI's security_domain module) ------------ */

static unsigned gf_mul(unsigned a, unsigned b)
{
    return (a * b) % 257u;
}

static unsigned gf_add(unsigned a, unsigned b)
{
    return (a + b) % 257u;
}

static unsigned gf_sub(unsigned a, unsigned b)
{
    return (a + 257u - b) % 257u;
}

static unsigned gf_inv(unsigned a)
{
    unsigned r = 1;
    for (int i = 0; i < 255; i++) /* a^(p-2) */
        r = gf_mul(r, a);
    return r;
}

/* Random coefficients below 257: rejection sampling over 16 random bits. */
static int gf_random(unsigned *out)
{
    for (;;) {
        unsigned char b[2];
        if (RAND_bytes(b, 2) != 1)
            return -1;
        unsigned v = ((unsigned)b[0] << 8 | b[1]) & 0x1ff;
        if (v < 257) {
            *out = v;
            return 0;
        }
    }
}

/* shares[i] (2 * len bytes each) for x = i + 1. */
static int shamir_split(const unsigned char *secret, size_t len, size_t n, size_t required,
                        unsigned char **shares)
{
    unsigned coef[MAX_CERTS];
    for (size_t j = 0; j < len; j++) {
        for (size_t k = 0; k + 1 < required; k++)
            if (gf_random(&coef[k]) != 0)
                return -1;
        coef[required - 1] = secret[j];
        for (size_t i = 0; i < n; i++) {
            unsigned x = (unsigned)i + 1, v = coef[0];
            for (size_t k = 1; k < required; k++)
                v = gf_add(gf_mul(v, x), coef[k]);
            unsigned w = x << 9 | v;
            shares[i][2 * j] = (unsigned char)(w & 0xff);
            shares[i][2 * j + 1] = (unsigned char)(w >> 8);
        }
    }
    OPENSSL_cleanse(coef, sizeof(coef));
    return 0;
}

static void shamir_combine(unsigned char *const *shares, size_t required, size_t len,
                           unsigned char *secret)
{
    for (size_t j = 0; j < len; j++) {
        unsigned s = 0;
        for (size_t i = 0; i < required; i++) {
            unsigned wi = shares[i][2 * j] | (unsigned)shares[i][2 * j + 1] << 8;
            unsigned xi = wi >> 9, yi = wi & 0x1ff, num = 1, den = 1;
            for (size_t k = 0; k < required; k++) {
                if (k == i)
                    continue;
                unsigned xk = (shares[k][2 * j] | (unsigned)shares[k][2 * j + 1] << 8) >> 9;
                num = gf_mul(num, xk);
                den = gf_mul(den, gf_sub(xk, xi));
            }
            s = gf_add(s, gf_mul(gf_mul(num, gf_inv(den)), yi));
        }
        secret[j] = (unsigned char)s;
    }
}

/* SP 800-108 counter mode with HMAC-SHA512, one block: 64 bytes for label and empty context. */
static int kdf_sp108(const unsigned char *key, size_t keylen, const char *label,
                     unsigned char out[64])
{
    unsigned char data[256];
    size_t ll = strlen(label);
    if (ll + 9 > sizeof(data))
        return -1;
    memcpy(data, "\0\0\0\1", 4);
    memcpy(data + 4, label, ll);
    data[4 + ll] = 0;
    memcpy(data + 5 + ll, "\0\0\2\0", 4); /* L = 512 bits */
    unsigned int n = 0;
    return HMAC(EVP_sha512(), key, (int)keylen, data, ll + 9, out, &n) && n == 64 ? 0 : -1;
}

/* ---- JWE compact, A256CBC-HS512 ---------------------------------------------------------- */

static char *b64u(const void *p, size_t n)
{
    return cmk_b64_encode(p, n, 1);
}

static int cbc_hs512_tag(const unsigned char *cek, const char *aad, const unsigned char *iv,
                         const unsigned char *ct, size_t ctlen, unsigned char tag[32])
{
    size_t al = strlen(aad);
    size_t n = al + 16 + ctlen + 8;
    unsigned char *m = cmk_xmalloc(n);
    memcpy(m, aad, al);
    memcpy(m + al, iv, 16);
    memcpy(m + al + 16, ct, ctlen);
    uint64_t bits = (uint64_t)al * 8;
    for (int i = 0; i < 8; i++)
        m[al + 16 + ctlen + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
    unsigned char mac[64];
    unsigned int ml = 0;
    int ok = HMAC(EVP_sha512(), cek, 32, m, n, mac, &ml) != NULL && ml == 64;
    free(m);
    memcpy(tag, mac, 32);
    return ok ? 0 : -1;
}

/* Compact JWE of plaintext under cek (64 bytes); ek: the encrypted key part (may be empty). */
static char *jwe_encrypt(const char *header_json, const unsigned char *ek, size_t eklen,
                         const unsigned char *cek, const unsigned char *pt, size_t ptlen)
{
    char *hdr = b64u(header_json, strlen(header_json));
    unsigned char iv[16], tag[32];
    unsigned char *ct = cmk_xmalloc(ptlen + 32);
    int len = 0, fin = 0, ok = RAND_bytes(iv, sizeof(iv)) == 1;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    ok = ok && c && EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, cek + 32, iv) == 1 &&
         EVP_EncryptUpdate(c, ct, &len, pt, (int)ptlen) == 1 &&
         EVP_EncryptFinal_ex(c, ct + len, &fin) == 1;
    EVP_CIPHER_CTX_free(c);
    ok = ok && cbc_hs512_tag(cek, hdr, iv, ct, (size_t)(len + fin), tag) == 0;
    char *out = NULL;
    if (ok) {
        char *e = b64u(ek, eklen), *i = b64u(iv, 16), *t = b64u(ct, (size_t)(len + fin)),
             *g = b64u(tag, 32);
        size_t n = strlen(hdr) + strlen(e) + strlen(i) + strlen(t) + strlen(g) + 8;
        out = cmk_xmalloc(n);
        snprintf(out, n, "%s.%s.%s.%s.%s", hdr, e, i, t, g);
        free(e);
        free(i);
        free(t);
        free(g);
    }
    free(hdr);
    free(ct);
    return out;
}

/* Split a compact JWE into its five decoded parts (parts[0] is the header's text as sent). */
struct jwe {
    char *hdr; /* as sent (the AAD) */
    json_t *header;
    unsigned char *ek, *iv, *ct, *tag;
    size_t eklen, ivlen, ctlen, taglen;
};

static void jwe_close(struct jwe *j)
{
    free(j->hdr);
    json_decref(j->header);
    free(j->ek);
    free(j->iv);
    free(j->ct);
    free(j->tag);
    memset(j, 0, sizeof(*j));
}

static const char *str(const json_t *v)
{
    return json_string_value(v) ? json_string_value(v) : "";
}

static int jwe_parse(const char *s, struct jwe *j)
{
    memset(j, 0, sizeof(*j));
    const char *p[5];
    p[0] = s;
    for (int i = 1; i < 5; i++) {
        p[i] = strchr(p[i - 1], '.');
        if (p[i] == NULL)
            return -1;
        p[i]++;
    }
    if (strchr(p[4], '.') != NULL)
        return -1;
    j->hdr = cmk_xstrndup(s, (size_t)(p[1] - p[0] - 1));
    size_t hl = 0;
    unsigned char *h = cmk_b64_decode(j->hdr, strlen(j->hdr), &hl);
    j->header = h ? json_loadb((const char *)h, hl, 0, NULL) : NULL;
    free(h);
    unsigned char **dst[4] = {&j->ek, &j->iv, &j->ct, &j->tag};
    size_t *lens[4] = {&j->eklen, &j->ivlen, &j->ctlen, &j->taglen};
    for (int i = 0; i < 4; i++) {
        size_t n = i < 3 ? (size_t)(p[i + 2] - p[i + 1] - 1) : strlen(p[4]);
        *dst[i] = n ? cmk_b64_decode(p[i + 1], n, lens[i]) : cmk_xcalloc(1, 1);
        if (*dst[i] == NULL)
            return -1;
    }
    return j->header && j->ivlen == 16 && j->taglen == 32 ? 0 : -1;
}

static int jwe_decrypt(const struct jwe *j, const unsigned char *cek, unsigned char **pt,
                       size_t *ptlen)
{
    unsigned char tag[32];
    if (cbc_hs512_tag(cek, j->hdr, j->iv, j->ct, j->ctlen, tag) != 0 ||
        CRYPTO_memcmp(tag, j->tag, 32) != 0)
        return -1;
    unsigned char *out = cmk_xmalloc(j->ctlen + 16);
    int len = 0, fin = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, cek + 32, j->iv) == 1 &&
             EVP_DecryptUpdate(c, out, &len, j->ct, (int)j->ctlen) == 1 &&
             EVP_DecryptFinal_ex(c, out + len, &fin) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        OPENSSL_cleanse(out, j->ctlen + 16);
        free(out);
        return -1;
    }
    *pt = out;
    *ptlen = (size_t)(len + fin);
    return 0;
}

static int rsa_oaep256(EVP_PKEY *key, int encrypt, const unsigned char *in, size_t inlen,
                       unsigned char *out, size_t *outlen)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
    int ok = c != NULL && (encrypt ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c)) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) == 1 &&
             (encrypt ? EVP_PKEY_encrypt(c, out, outlen, in, inlen)
                      : EVP_PKEY_decrypt(c, out, outlen, in, inlen)) == 1;
    EVP_PKEY_CTX_free(c);
    return ok ? 0 : -1;
}

/* ---- the download ------------------------------------------------------------------------ */

struct sd_cert {
    EVP_PKEY *key;
    char thumb[64]; /* x5t#S256, base64url */
    char kid[64];
};

static int bad(struct cmk_err *err, const char *fmt, const char *arg)
{
    return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", fmt, arg);
}

static int parse_cert(const json_t *jwk, struct sd_cert *out, size_t i, struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *x5c = json_string_value(json_array_get(json_object_get(jwk, "x5c"), 0));
    if (!json_is_object(jwk) || kty == NULL || strcmp(kty, "RSA") != 0)
        return bad(err, "Each certificate must be an RSA JSON web key (kty RSA)%s.", "");
    if (x5c == NULL)
        return bad(err, "Each certificate needs its X.509 certificate in x5c%s.", "");
    size_t n = 0;
    unsigned char *der = cmk_b64_decode(x5c, strlen(x5c), &n);
    const unsigned char *p = der;
    X509 *x = der ? d2i_X509(NULL, &p, (long)n) : NULL;
    EVP_PKEY *key = x ? X509_get_pubkey(x) : NULL;
    int rc = 0;
    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < 2048) {
        rc = bad(err,
                 "The certificate x5c[0] must be an X.509 certificate of an RSA key of at "
                 "least 2048 bits%s.",
                 "");
        EVP_PKEY_free(key);
    } else {
        unsigned char d[32];
        unsigned int dl = 0;
        EVP_Digest(der, n, d, &dl, EVP_sha256(), NULL);
        char *t = b64u(d, dl);
        snprintf(out->thumb, sizeof(out->thumb), "%s", t);
        free(t);
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        snprintf(out->kid, sizeof(out->kid), "%.60s", kid ? kid : "");
        for (char *q = out->kid; *q; q++)
            if (!isalnum((unsigned char)*q) && !strchr("-_.:", *q))
                *q = '_';
        if (out->kid[0] == '\0')
            snprintf(out->kid, sizeof(out->kid), "certificate-%zu", i + 1);
        out->key = key;
    }
    X509_free(x);
    free(der);
    return rc;
}

/* The security domain for certs, required of them: its JSON text (malloc'd). */
static char *make_domain(const struct sd_cert *certs, size_t n, size_t required, const char *hsm,
                         struct cmk_err *err)
{
    unsigned char master[MASTER_LEN], domain[32], cek[64], kek[64];
    unsigned char *shares[MAX_CERTS] = {NULL};
    json_t *enc_shares = json_array();
    char *out = NULL, *datum = NULL;
    if (RAND_bytes(master, sizeof(master)) != 1 || RAND_bytes(domain, sizeof(domain)) != 1)
        goto fail;
    for (size_t i = 0; i < n; i++)
        shares[i] = cmk_xmalloc(2 * MASTER_LEN);
    if (shamir_split(master, MASTER_LEN, n, required, shares) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        unsigned char ek[1024];
        size_t eklen = sizeof(ek);
        if (RAND_bytes(cek, sizeof(cek)) != 1 ||
            rsa_oaep256(certs[i].key, 1, cek, sizeof(cek), ek, &eklen) != 0)
            goto fail;
        char hdr[256];
        snprintf(hdr, sizeof(hdr),
                 "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256CBC-HS512\",\"kid\":\"%s\","
                 "\"x5t#S256\":\"%s\"}",
                 certs[i].kid, certs[i].thumb);
        char *jwe = jwe_encrypt(hdr, ek, eklen, cek, shares[i], 2 * MASTER_LEN);
        if (jwe == NULL)
            goto fail;
        json_array_append_new(enc_shares,
                              json_pack("{s:s, s:s}", "enc_key", jwe, "x5t_256", certs[i].thumb));
        free(jwe);
    }
    /* The domain's data: what a restore would bring back (here, the HSM's domain key). */
    if (kdf_sp108(master, sizeof(master), DOMAIN_TAG, kek) != 0)
        goto fail;
    char *dk = b64u(domain, sizeof(domain));
    char plain[256];
    int pl = snprintf(plain, sizeof(plain),
                      "{\"hsm\":\"https://%s.managedhsm.azure.net/\",\"k\":\"%s\"}", hsm, dk);
    OPENSSL_cleanse(dk, strlen(dk));
    free(dk);
    datum =
        jwe_encrypt("{\"alg\":\"dir\",\"enc\":\"A256CBC-HS512\",\"kid\":\"" DOMAIN_TAG "\"}",
                    (const unsigned char *)"", 0, kek, (const unsigned char *)plain, (size_t)pl);
    OPENSSL_cleanse(plain, sizeof(plain));
    if (datum == NULL)
        goto fail;
    json_t *sd = json_pack("{s:{s:[{s:s, s:s}], s:s}, s:{s:O, s:s, s:i}, s:s}", "EncData", "data",
                           "compact_jwe", datum, "tag", DOMAIN_TAG, "kdf", "sp108_kdf",
                           "SharedKeys", "enc_shares", enc_shares, "key_algorithm", "shamir_share",
                           "required", (int)required, "version", SD_VERSION);
    out = json_dumps(sd, JSON_COMPACT);
    json_decref(sd);
    goto done;
fail:
    cmk_err_set(err, CMK_EINTERNAL, 500, "InternalServerError",
                "The security domain could not be made.");
done:
    for (size_t i = 0; i < n; i++) {
        if (shares[i])
            OPENSSL_cleanse(shares[i], 2 * MASTER_LEN);
        free(shares[i]);
    }
    OPENSSL_cleanse(master, sizeof(master));
    OPENSSL_cleanse(domain, sizeof(domain));
    OPENSSL_cleanse(cek, sizeof(cek));
    OPENSSL_cleanse(kek, sizeof(kek));
    json_decref(enc_shares);
    free(datum);
    return out;
}

/* ---- state --------------------------------------------------------------------------------- */

static int sd_get(struct hsm_service *h, const char *hsm, char *status, size_t n)
{
    sqlite3_stmt *st = cmk_store_stmt(h->rt->db, "SELECT status FROM hsm_sd WHERE hsm = ?");
    sqlite3_bind_text(st, 1, hsm, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        snprintf(status, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return found;
}

void hsm__sd_rearm(struct hsm_service *h)
{
    sqlite3_stmt *st =
        cmk_store_stmt(h->rt->db, "SELECT MIN(due) FROM hsm_sd WHERE status = 'InProgress'");
    cmk_time_t due = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        due = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (due < 0) {
        cmk_timer_stop(&h->sd_timer);
        return;
    }
    cmk_time_t now = cmk_clock_now(&h->rt->clock);
    cmk_timer_start_at(&h->sd_timer, due < now ? now : due, 0);
}

int hsm__sd_forget(struct hsm_service *h, const char *hsm)
{
    sqlite3_stmt *st = cmk_store_stmt(h->rt->db, "DELETE FROM hsm_sd WHERE hsm = ?");
    sqlite3_bind_text(st, 1, hsm, -1, SQLITE_TRANSIENT);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_reset(st);
    return ok ? 0 : CMK_EIO;
}

/* Activation completes: the HSM's document says Active, the download says Success. */
static void on_sd_timer(struct cmk_timer *t)
{
    struct hsm_service *h = t->data;
    cmk_time_t now = cmk_clock_now(&h->rt->clock);
    for (int guard = 0; guard < 1000; guard++) {
        sqlite3_stmt *st = cmk_store_stmt(h->rt->db, "SELECT hsm FROM hsm_sd WHERE status = "
                                                     "'InProgress' AND due <= ? ORDER BY due, hsm "
                                                     "LIMIT 1");
        sqlite3_bind_int64(st, 1, now);
        char hsm[64] = "";
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(hsm, sizeof(hsm), "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
        if (hsm[0] == '\0')
            break;
        struct cmk_err err;
        cmk_err_clear(&err);
        int live = hsm__find(h, hsm) != NULL;
        int rc = cmk_arm_tx_begin(h->arm);
        if (rc == 0 && live)
            rc = hsm__set_activation(h, hsm, "Active", HSM_ACTIVE_MESSAGE, &err);
        if (rc == 0) {
            /* A download of an HSM deleted meanwhile fails (a recovered HSM downloads again). */
            st = cmk_store_stmt(h->rt->db, "UPDATE hsm_sd SET status = ? WHERE hsm = ?");
            sqlite3_bind_text(st, 1, live ? "Success" : "Failed", -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, hsm, -1, SQLITE_TRANSIENT);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
            sqlite3_reset(st);
        }
        if (rc == 0)
            rc = cmk_arm_tx_commit(h->arm);
        else
            cmk_arm_tx_rollback(h->arm);
        vs_ctr_changed(&h->hsms);
        if (rc != 0) {
            cmk_warn("hsmsim", "activation of managed HSM %s failed: %s", hsm, err.message);
            break;
        }
        if (live) {
            cmk_info("hsmsim", "managed HSM %s is active: its security domain was downloaded", hsm);
            cmk_events_publish(&h->rt->events, "hsm.state", hsm,
                               json_pack("{s:s, s:s, s:s, s:s}", "hsm", hsm, "from", "NotActivated",
                                         "to", "Active", "cause", "securityDomainDownload"));
        }
    }
    hsm__sd_rearm(h);
}

struct sctx {
    struct hsm_service *h;
    struct vs_call *call;
    const struct vs_container *c;
    const char *hsm;
    struct cmk_err err;
};

static int sd_begin(struct sctx *x, void *data, struct cmk_request *req, struct cmk_response *res,
                    const char *op, const char *action)
{
    memset(x, 0, sizeof(*x));
    x->h = data;
    if (vs_keys_call_begin(x->h->keys, req, res, op, VS_KEYS_CALL_INACTIVE_OK, &x->call) != 0)
        return -1;
    x->c = vs_keys_call_container(x->call);
    const struct cmk_principal *p = vs_keys_call_principal(x->call);
    x->hsm = ((const struct hsm_pool *)x->c->flavour)->ctr.name;
    if (hsm__rbac_allows(x->h, x->hsm, p->oid, "/", action))
        return 0;
    hsm__rbac_deny(&x->err, x->c, p, action, "/");
    vs_keys_call_fail(x->call, &x->err);
    return -1;
}

static void h_download(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct sctx x;
    struct sd_cert certs[MAX_CERTS];
    size_t ncerts = 0;
    char *domain = NULL;
    if (sd_begin(&x, data, req, res, "SecurityDomainDownload",
                 DA "securitydomain/download/action") != 0)
        goto End;
    char status[32];
    if (!x.c->inactive) {
        cmk_err_set(&x.err, CMK_ECONFLICT, 409, "Conflict",
                    "The managed HSM '%s' is already activated: its security domain was "
                    "downloaded when it was activated.",
                    x.hsm);
        goto Fail;
    }
    if (sd_get(x.h, x.hsm, status, sizeof(status)) && strcmp(status, "InProgress") == 0) {
        cmk_err_set(&x.err, CMK_ECONFLICT, 409, "Conflict",
                    "A security domain download of the managed HSM '%s' is already in progress.",
                    x.hsm);
        goto Fail;
    }
    json_t *body = cmk_request_json(req, &x.err);
    if (body == NULL)
        goto Fail;
    const json_t *list = json_object_get(body, "certificates");
    const json_t *req_n = json_object_get(body, "required");
    if (!json_is_array(list) || json_array_size(list) < 3 || json_array_size(list) > MAX_CERTS) {
        bad(&x.err,
            "The security domain download needs 'certificates': 3 to 10 JSON web keys with "
            "their X.509 certificates%s.",
            "");
        goto Fail;
    }
    size_t n = json_array_size(list);
    if (!json_is_integer(req_n) || json_integer_value(req_n) < 2 ||
        json_integer_value(req_n) > (json_int_t)n) {
        char m[16];
        snprintf(m, sizeof(m), "%zu", n);
        bad(&x.err,
            "'required' (the quorum) must be an integer between 2 and the number of "
            "certificates (%s).",
            m);
        goto Fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (parse_cert(json_array_get(list, i), &certs[i], i, &x.err) != 0)
            goto Fail;
        ncerts++;
        for (size_t k = 0; k < i; k++)
            if (strcmp(certs[k].thumb, certs[i].thumb) == 0) {
                bad(&x.err, "The certificates must be different from each other%s.", "");
                goto Fail;
            }
    }
    domain = make_domain(certs, n, (size_t)json_integer_value(req_n), x.hsm, &x.err);
    if (domain == NULL)
        goto Fail;
    cmk_time_t due = cmk_clock_now(&x.h->rt->clock) + x.h->activation_delay;
    sqlite3_stmt *st =
        cmk_store_stmt(x.h->rt->db, "INSERT OR REPLACE INTO hsm_sd(hsm, status, due, required, "
                                    "shares) VALUES(?, 'InProgress', ?, ?, ?)");
    sqlite3_bind_text(st, 1, x.hsm, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, due);
    sqlite3_bind_int64(st, 3, json_integer_value(req_n));
    sqlite3_bind_int64(st, 4, (sqlite3_int64)n);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_reset(st);
    if (!ok) {
        cmk_err_set(&x.err, CMK_EIO, 500, "InternalServerError",
                    "The security domain download could not be recorded.");
        goto Fail;
    }
    hsm__sd_rearm(x.h);
    cmk_response_json(res, 202, json_pack("{s:s}", "value", domain));
    char ra[32], url[512];
    long secs = (long)((x.h->activation_delay + CMK_SECOND - 1) / CMK_SECOND);
    snprintf(ra, sizeof(ra), "%ld", secs < 1 ? 1 : secs);
    cmk_response_header(res, "Retry-After", ra);
    const char *api = cmk_request_query(req, "api-version");
    const char *host = cmk_request_header(req, "host");
    snprintf(url, sizeof(url), "https://%.200s/securitydomain/download/pending?api-version=%.40s",
             host ? host : "", api ? api : "7.4");
    cmk_response_header(res, "Azure-AsyncOperation", url);
    goto End;
Fail:
    vs_keys_call_fail(x.call, &x.err);
End:
    for (size_t i = 0; i < ncerts; i++)
        EVP_PKEY_free(certs[i].key);
    free(domain);
    vs_keys_call_end(x.call);
}

static void h_pending(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct sctx x;
    if (sd_begin(&x, data, req, res, "SecurityDomainDownloadStatus",
                 DA "securitydomain/download/read") == 0) {
        char status[32];
        if (!sd_get(x.h, x.hsm, status, sizeof(status))) {
            cmk_err_set(&x.err, CMK_ENOTFOUND, 404, "NotFound",
                        "No security domain download of the managed HSM '%s' was requested.",
                        x.hsm);
            vs_keys_call_fail(x.call, &x.err);
        } else {
            const char *details = strcmp(status, "Success") == 0
                                      ? "Security domain download operation succeeded; the "
                                        "managed HSM is active."
                                  : strcmp(status, "InProgress") == 0
                                      ? "Security domain download operation is in progress."
                                      : "Security domain download operation failed.";
            cmk_response_json(res, 200,
                              json_pack("{s:s, s:s}", "status", status, "status_details", details));
        }
    }
    vs_keys_call_end(x.call);
}

static const struct cmk_route routes[] = {
    {"POST", "/securitydomain/download", h_download},
    {"GET", "/securitydomain/download/pending", h_pending},
    {"POST", "/securitydomain/download/pending", h_pending},
    {NULL, NULL, NULL},
};

int hsm__sd_register(struct hsm_service *h, struct cmk_err *err)
{
    int rc = cmk_store_migrate(h->rt->db, "hsmsim-sd", migrations,
                               sizeof(migrations) / sizeof(migrations[0]), err);
    if (rc != 0)
        return rc;
    cmk_timer_init(&h->rt->clock, &h->sd_timer, on_sd_timer, h);
    cmk_router_add_table(&h->rt->router, CMK_HOST_HSM, routes, h);
    return 0;
}

/* ---- helpers for clients ------------------------------------------------------------------ */

int hsm_sd_make_certificates(size_t n, json_t **certs, EVP_PKEY **keys, struct cmk_err *err)
{
    *certs = NULL;
    if (n > MAX_CERTS)
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "At most 10 certificates.");
    json_t *arr = json_array();
    size_t made = 0;
    for (; made < n; made++) {
        EVP_PKEY *k = EVP_RSA_gen(2048);
        X509 *x = X509_new();
        int ok = k && x && ASN1_INTEGER_set(X509_get_serialNumber(x), (long)made + 1) &&
                 X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
                 X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) && X509_set_pubkey(x, k);
        char cn[64];
        snprintf(cn, sizeof(cn), "cmksim security domain key %zu", made + 1);
        X509_NAME *nm = X509_get_subject_name(x);
        ok = ok &&
             X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                        0) &&
             X509_set_issuer_name(x, nm) && X509_sign(x, k, EVP_sha256());
        unsigned char *der = NULL;
        int dl = ok ? i2d_X509(x, &der) : -1;
        BIGNUM *bn_n = NULL, *bn_e = NULL;
        ok = ok && dl > 0 && EVP_PKEY_get_bn_param(k, "n", &bn_n) &&
             EVP_PKEY_get_bn_param(k, "e", &bn_e);
        if (ok) {
            unsigned char nb[512], eb[8], d[32];
            int nl = BN_bn2bin(bn_n, nb), el = BN_bn2bin(bn_e, eb);
            unsigned int tl = 0;
            EVP_Digest(der, (size_t)dl, d, &tl, EVP_sha256(), NULL);
            char *x5c = cmk_b64_encode(der, (size_t)dl, 0), *ns = b64u(nb, (size_t)nl),
                 *es = b64u(eb, (size_t)el), *t = b64u(d, tl);
            char kid[32];
            snprintf(kid, sizeof(kid), "sd-key-%zu", made + 1);
            json_array_append_new(arr, json_pack("{s:s, s:s, s:[s,s,s], s:s, s:s, s:s, s:[s], s:s}",
                                                 "kid", kid, "kty", "RSA", "key_ops", "verify",
                                                 "encrypt", "wrapKey", "alg", "RSA-OAEP-256", "n",
                                                 ns, "e", es, "x5c", x5c, "x5t#S256", t));
            free(x5c);
            free(ns);
            free(es);
            free(t);
        }
        BN_free(bn_n);
        BN_free(bn_e);
        OPENSSL_free(der);
        X509_free(x);
        if (!ok) {
            EVP_PKEY_free(k);
            break;
        }
        keys[made] = k;
    }
    if (made < n) {
        for (size_t i = 0; i < made; i++)
            EVP_PKEY_free(keys[i]);
        json_decref(arr);
        return cmk_err_set(err, CMK_EINTERNAL, 500, "InternalServerError",
                           "Could not make the security domain certificates.");
    }
    *certs = arr;
    return 0;
}

int hsm_sd_recover(const char *value, EVP_PKEY *const *keys, size_t nkeys, unsigned char **secret,
                   size_t *len, struct cmk_err *err)
{
    *secret = NULL;
    *len = 0;
    json_t *sd = value ? json_loads(value, 0, NULL) : NULL;
    const json_t *shared = json_object_get(sd, "SharedKeys");
    const json_t *enc = json_object_get(shared, "enc_shares");
    const json_t *data = json_object_get(json_object_get(sd, "EncData"), "data");
    json_int_t required = json_integer_value(json_object_get(shared, "required"));
    const char *alg = json_string_value(json_object_get(shared, "key_algorithm"));
    unsigned char *shares[MAX_CERTS] = {NULL};
    size_t have = 0;
    int rc = CMK_EINVAL;
    if (!json_is_array(enc) || !json_is_array(data) || required < 2 || required > MAX_CERTS ||
        alg == NULL || strcmp(alg, "shamir_share") != 0) {
        cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "Not a security domain.");
        goto done;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(enc, i, e)
    {
        struct jwe j;
        if (have == (size_t)required || jwe_parse(str(json_object_get(e, "enc_key")), &j) != 0) {
            if (have < (size_t)required)
                jwe_close(&j);
            continue;
        }
        for (size_t k = 0; k < nkeys && have < (size_t)required; k++) {
            unsigned char cek[512];
            size_t cl = sizeof(cek);
            unsigned char *pt = NULL;
            size_t ptl = 0;
            if (rsa_oaep256(keys[k], 0, j.ek, j.eklen, cek, &cl) != 0 || cl != 64)
                continue;
            int ok = jwe_decrypt(&j, cek, &pt, &ptl) == 0;
            OPENSSL_cleanse(cek, sizeof(cek));
            if (ok && ptl == 2 * MASTER_LEN) {
                shares[have++] = pt;
                break;
            }
            if (pt)
                OPENSSL_cleanse(pt, ptl);
            free(pt);
        }
        jwe_close(&j);
    }
    if (have < (size_t)required) {
        cmk_err_set(err, CMK_EDENIED, 403, "Forbidden",
                    "Insufficient shares: %zu of the %lld required could be decrypted.", have,
                    (long long)required);
        goto done;
    }
    unsigned char master[MASTER_LEN], kek[64];
    shamir_combine(shares, (size_t)required, MASTER_LEN, master);
    json_array_foreach(data, i, e)
    {
        const char *tag = json_string_value(json_object_get(e, "tag"));
        struct jwe j;
        memset(&j, 0, sizeof(j));
        unsigned char *pt = NULL;
        size_t ptl = 0;
        int ok = tag && kdf_sp108(master, sizeof(master), tag, kek) == 0 &&
                 jwe_parse(str(json_object_get(e, "compact_jwe")), &j) == 0 &&
                 jwe_decrypt(&j, kek, &pt, &ptl) == 0;
        jwe_close(&j);
        if (!ok) {
            cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                        "The security domain's data '%s' could not be decrypted.", tag ? tag : "");
            rc = CMK_EINVAL;
            break;
        }
        if (*secret == NULL) {
            *secret = pt;
            *len = ptl;
        } else {
            OPENSSL_cleanse(pt, ptl);
            free(pt);
        }
        rc = 0;
    }
    OPENSSL_cleanse(master, sizeof(master));
    OPENSSL_cleanse(kek, sizeof(kek));
    if (rc != 0 && *secret) {
        OPENSSL_cleanse(*secret, *len);
        free(*secret);
        *secret = NULL;
        *len = 0;
    }
done:
    for (size_t k = 0; k < have; k++) {
        OPENSSL_cleanse(shares[k], 2 * MASTER_LEN);
        free(shares[k]);
    }
    json_decref(sd);
    return rc;
}
