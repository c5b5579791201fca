/* engine_import.c: bringing existing key material into the engine (see engine.h): a JWK with
 * private parts (RSA n/e/d/p/q/dp/dq/qi, EC crv/x/y/d, oct k), a BYOK blob (JWK "key_hsm":
 * the .byok file format, CKM_RSA_AES_KEY_WRAP under a key-exchange key of the same
 * container), and PKCS#12 (.pfx) bytes with a password. The material is sealed under the root
 * key like generated keys; every intermediate buffer is cleansed. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "engine_int.h"

/* Decode a base64url JWK member; NULL if absent. */
static unsigned char *member(const json_t *jwk, const char *field, size_t *n, int *bad)
{
    const json_t *v = json_object_get(jwk, field);
    *n = 0;
    if (v == NULL || json_is_null(v))
        return NULL;
    const char *s = json_string_value(v);
    unsigned char *out = s ? cmk_b64_decode(s, strlen(s), n) : NULL;
    if (out == NULL)
        *bad = 1;
    return out;
}

static void wipe(unsigned char *p, size_t n)
{
    if (p) {
        OPENSSL_cleanse(p, n);
        free(p);
    }
}

static int bad_jwk(struct cmk_err *err, const char *what)
{
    return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "Invalid JSON web key: %s", what);
}

static int rsa_from_jwk(const json_t *jwk, EVP_PKEY **out, struct cmk_err *err)
{
    static const char *const fields[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
    static const char *const params[] = {
        OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    unsigned char *raw[8] = {0};
    size_t len[8] = {0};
    BIGNUM *bn[8] = {0};
    int bad = 0, rc = 0;
    for (int i = 0; i < 8; i++)
        raw[i] = member(jwk, fields[i], &len[i], &bad);
    if (bad)
        rc = bad_jwk(err, "a member is not base64url.");
    else if (!raw[0] || !raw[1])
        rc = bad_jwk(err, "RSA keys need 'n' and 'e'.");
    else if (!raw[2])
        rc = bad_jwk(err, "the RSA key has no private part ('d'); only private keys can be "
                          "imported.");
    int crt = raw[3] && raw[4] && raw[5] && raw[6] && raw[7];
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *ps = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (rc == 0) {
        bld = OSSL_PARAM_BLD_new();
        for (int i = 0; i < (crt ? 8 : 3); i++) {
            bn[i] = BN_secure_new();
            BN_bin2bn(raw[i], (int)len[i], bn[i]);
            OSSL_PARAM_BLD_push_BN(bld, params[i], bn[i]);
        }
        ps = OSSL_PARAM_BLD_to_param(bld);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        if (ps == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, ps) <= 0)
            rc = bad_jwk(err, "the RSA parameters do not form a key.");
    }
    if (rc == 0) {
        int bits = EVP_PKEY_get_bits(*out);
        if (bits != 2048 && bits != 3072 && bits != 4096)
            rc = cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                             "The key size %d is not supported for RSA keys; use 2048, 3072 or "
                             "4096.",
                             bits);
    }
    if (rc == 0 && crt) {
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new(*out, NULL);
        if (chk == NULL || EVP_PKEY_pairwise_check(chk) != 1)
            rc = bad_jwk(err, "the RSA private parts do not match the public key.");
        EVP_PKEY_CTX_free(chk);
    }
    if (rc != 0) {
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(ps);
    OSSL_PARAM_BLD_free(bld);
    for (int i = 0; i < 8; i++) {
        BN_clear_free(bn[i]);
        wipe(raw[i], len[i]);
    }
    return rc;
}

static int ec_from_jwk(const json_t *jwk, EVP_PKEY **out, struct cmk_err *err)
{
    enum vs_crv crv;
    if (vs_crv_parse(json_string_value(json_object_get(jwk, "crv")), &crv) != 0)
        return bad_jwk(err, "'crv' must be P-256, P-384, P-521 or P-256K.");
    static const char *const groups[] = {"", "prime256v1", "secp384r1", "secp521r1", "secp256k1"};
    static const size_t widths[] = {0, 32, 48, 66, 32};
    int bad = 0, rc = 0;
    size_t xl, yl, dl;
    unsigned char *x = member(jwk, "x", &xl, &bad);
    unsigned char *y = member(jwk, "y", &yl, &bad);
    unsigned char *d = member(jwk, "d", &dl, &bad);
    size_t w = widths[crv];
    if (bad || !x || !y || xl != w || yl != w)
        rc = bad_jwk(err, "'x' and 'y' must be base64url coordinates of the curve's size.");
    else if (!d)
        rc = bad_jwk(err, "the EC key has no private part ('d'); only private keys can be "
                          "imported.");
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *ps = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *priv = NULL;
    if (rc == 0) {
        unsigned char point[1 + 2 * 66];
        point[0] = 4;
        memcpy(point + 1, x, w);
        memcpy(point + 1 + w, y, w);
        priv = BN_secure_new();
        BN_bin2bn(d, (int)dl, priv);
        bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, groups[crv], 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * w);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv);
        ps = OSSL_PARAM_BLD_to_param(bld);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (ps == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, ps) <= 0)
            rc = bad_jwk(err, "the EC parameters do not form a key.");
    }
    if (rc == 0) {
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new(*out, NULL);
        if (chk == NULL || EVP_PKEY_pairwise_check(chk) != 1)
            rc = bad_jwk(err, "the EC private part does not match the public point.");
        EVP_PKEY_CTX_free(chk);
        if (rc != 0) {
            EVP_PKEY_free(*out);
            *out = NULL;
        }
    }
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(ps);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    wipe(x, xl);
    wipe(y, yl);
    wipe(d, dl);
    return rc;
}

/* Import finished: store as a new version of name. */
static int import_material(struct vs_engine *e, const struct vs_space *s, const char *name,
                           enum vs_kty kty, EVP_PKEY *pkey, const unsigned char *oct, size_t octlen,
                           const json_t *ops, const struct vs_attrs *attrs, const json_t *tags,
                           struct vs_key *out, struct cmk_err *err)
{
    int rc = vs__check_type(s, kty, err);
    if (rc != 0)
        return rc;
    int state = vs__key_state(e, s, name);
    if (state < 0)
        return vs__db_error(e, err);
    if (state == 2)
        return vs__deleted_conflict(name, err);
    struct vs_key k;
    memset(&k, 0, sizeof(k));
    k.kty = kty;
    k.ops = vs__default_ops(kty);
    if (ops != NULL && !json_is_null(ops)) {
        if (vs_keyops_parse(ops, &k.ops) != 0)
            return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "Invalid 'key_ops'.");
    }
    k.enabled = attrs && attrs->enabled >= 0 ? attrs->enabled : 1;
    k.nbf = attrs && attrs->has_nbf ? attrs->nbf : 0;
    k.exp = attrs && attrs->has_exp ? attrs->exp : 0;
    if (k.nbf && k.exp && k.nbf >= k.exp)
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                           "Invalid attributes: 'nbf' (not before) must be earlier than 'exp' "
                           "(expires).");
    if (tags != NULL && !json_is_object(tags))
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "'tags' must be an object.");
    k.tags = tags ? json_deep_copy(tags) : json_object();
    k.created = k.updated = vs_engine_now(e);
    rc = vs__store_new(e, s, name, &k, pkey, oct, octlen, out, err);
    vs_key_clear(&k);
    return rc;
}

/* .byok: key_hsm is base64url of {"schema_version", "header": {"kid", "alg": "dir", "enc":
 * "CKM_RSA_AES_KEY_WRAP"}, "ciphertext": base64url(RSA-OAEP(KEK, aes) || AES-KWP(aes,
 * PKCS#8))}. The KEK is an RSA-HSM key of this container with key_ops ["import"]. */
static int byok_unwrap(struct vs_engine *e, const struct vs_space *s, const json_t *jwk,
                       EVP_PKEY **out, struct cmk_err *err)
{
    size_t tlen = 0;
    int bad = 0;
    unsigned char *t = member(jwk, "key_hsm", &tlen, &bad);
    json_t *blob = t ? json_loadb((const char *)t, tlen, 0, NULL) : NULL;
    wipe(t, tlen);
    const char *kid = json_string_value(json_object_get(json_object_get(blob, "header"), "kid"));
    const char *enc = json_string_value(json_object_get(json_object_get(blob, "header"), "enc"));
    const char *ct = json_string_value(json_object_get(blob, "ciphertext"));
    int rc = 0;
    if (kid == NULL || ct == NULL)
        rc = bad_jwk(err, "'key_hsm' is not a BYOK blob.");
    else if (enc && strcmp(enc, "CKM_RSA_AES_KEY_WRAP") != 0 &&
             strcmp(enc, "RSA_AES_KEY_WRAP_256") != 0)
        rc = bad_jwk(err, "the BYOK blob's 'enc' must be CKM_RSA_AES_KEY_WRAP.");
    /* kid: https://host/keys/NAME/VERSION */
    char kname[128] = "", kver[64] = "";
    const char *p = kid ? strstr(kid, "/keys/") : NULL;
    if (rc == 0 && (p == NULL || sscanf(p, "/keys/%127[^/]/%63s", kname, kver) < 1))
        rc = bad_jwk(err, "the BYOK blob's key-exchange key id is not a key identifier.");
    struct vs_key kek;
    memset(&kek, 0, sizeof(kek));
    if (rc == 0)
        rc = vs__read_version(e, s, kname, kver, 0, &kek, err);
    if (rc == 0 && (!(kek.ops & VS_OP_IMPORT) || kek.kty != VS_KTY_RSA_HSM))
        rc = bad_jwk(err, "the key-exchange key must be an RSA-HSM key with key_ops 'import'.");
    struct vs_cached *mat = NULL;
    if (rc == 0)
        rc = vs__material(e, s, kek.name, kek.version, &mat, err);
    size_t clen = 0;
    unsigned char *c = rc == 0 ? cmk_b64_decode(ct, strlen(ct), &clen) : NULL;
    size_t rsalen = mat && mat->pkey ? (size_t)EVP_PKEY_get_size(mat->pkey) : 0;
    if (rc == 0 && (c == NULL || clen <= rsalen + 8))
        rc = bad_jwk(err, "the BYOK ciphertext is malformed.");
    unsigned char aes[512]; /* RSA decrypt wants room for a whole modulus */
    size_t aeslen = sizeof(aes);
    if (rc == 0) {
        int sha256 = enc && strcmp(enc, "RSA_AES_KEY_WRAP_256") == 0;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(mat->pkey, NULL);
        const EVP_MD *md = sha256 ? EVP_sha256() : EVP_sha1();
        if (ctx == NULL || EVP_PKEY_decrypt_init(ctx) <= 0 ||
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0 ||
            EVP_PKEY_decrypt(ctx, aes, &aeslen, c, rsalen) <= 0 ||
            (aeslen != 16 && aeslen != 24 && aeslen != 32))
            rc = bad_jwk(err, "the BYOK blob was not made for this key-exchange key.");
        EVP_PKEY_CTX_free(ctx);
    }
    unsigned char *pk8 = NULL;
    int pk8len = 0;
    if (rc == 0) {
        const EVP_CIPHER *kwp = aeslen == 16   ? EVP_aes_128_wrap_pad()
                                : aeslen == 24 ? EVP_aes_192_wrap_pad()
                                               : EVP_aes_256_wrap_pad();
        EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
        pk8 = cmk_xmalloc(clen);
        int l1 = 0, l2 = 0;
        EVP_CIPHER_CTX_set_flags(cc, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        if (EVP_DecryptInit_ex(cc, kwp, NULL, aes, NULL) != 1 ||
            EVP_DecryptUpdate(cc, pk8, &l1, c + rsalen, (int)(clen - rsalen)) != 1 ||
            EVP_DecryptFinal_ex(cc, pk8 + l1, &l2) != 1)
            rc = bad_jwk(err, "the BYOK key material does not unwrap.");
        pk8len = l1 + l2;
        EVP_CIPHER_CTX_free(cc);
    }
    if (rc == 0) {
        const unsigned char *q = pk8;
        *out = d2i_AutoPrivateKey(NULL, &q, pk8len);
        if (*out == NULL)
            rc = bad_jwk(err, "the BYOK key material is not a PKCS#8 private key.");
    }
    ERR_clear_error();
    OPENSSL_cleanse(aes, sizeof(aes));
    if (pk8)
        wipe(pk8, clen);
    free(c);
    vs_key_clear(&kek);
    json_decref(blob);
    return rc;
}

int vs_key_import_jwk(struct vs_engine *e, const struct vs_space *s, const char *name,
                      const json_t *jwk, int hsm, const struct vs_attrs *attrs, const json_t *tags,
                      struct vs_key *out, struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = vs__check_name(name, err);
    if (rc != 0)
        return rc;
    if (!json_is_object(jwk))
        return bad_jwk(err, "'key' must be an object.");
    enum vs_kty kty;
    if (vs_kty_parse(json_string_value(json_object_get(jwk, "kty")), &kty) != 0)
        return bad_jwk(err, "'kty' must be one of EC, EC-HSM, RSA, RSA-HSM, oct, oct-HSM.");
    if (hsm) {
        if (kty == VS_KTY_RSA)
            kty = VS_KTY_RSA_HSM;
        else if (kty == VS_KTY_EC)
            kty = VS_KTY_EC_HSM;
        else if (kty == VS_KTY_OCT)
            kty = VS_KTY_OCT_HSM;
    }
    EVP_PKEY *pkey = NULL;
    unsigned char *oct = NULL;
    size_t octlen = 0;
    const json_t *key_hsm = json_object_get(jwk, "key_hsm");
    if (key_hsm && !json_is_null(key_hsm)) {
        rc = byok_unwrap(e, s, jwk, &pkey, err);
        if (rc == 0) {
            int is_rsa = EVP_PKEY_is_a(pkey, "RSA");
            if ((kty == VS_KTY_RSA || kty == VS_KTY_RSA_HSM) != is_rsa)
                rc = bad_jwk(err, "the BYOK key material does not match 'kty'.");
        }
    } else if (kty == VS_KTY_RSA || kty == VS_KTY_RSA_HSM) {
        rc = rsa_from_jwk(jwk, &pkey, err);
    } else if (kty == VS_KTY_EC || kty == VS_KTY_EC_HSM) {
        rc = ec_from_jwk(jwk, &pkey, err);
    } else {
        int bad = 0;
        oct = member(jwk, "k", &octlen, &bad);
        if (bad || oct == NULL || (octlen != 16 && octlen != 24 && octlen != 32))
            rc = bad_jwk(err, "oct keys need 'k' of 128, 192 or 256 bits.");
    }
    if (rc == 0)
        rc = import_material(e, s, name, kty, pkey, oct, octlen, json_object_get(jwk, "key_ops"),
                             attrs, tags, out, err);
    EVP_PKEY_free(pkey);
    wipe(oct, octlen);
    return rc;
}

int vs_key_import_pkcs12(struct vs_engine *e, const struct vs_space *s, const char *name,
                         const void *pfx, size_t len, const char *password, int hsm,
                         const struct vs_attrs *attrs, const json_t *tags, struct vs_key *out,
                         struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = vs__check_name(name, err);
    if (rc != 0)
        return rc;
    const unsigned char *p = pfx;
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
    EVP_PKEY *pkey = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    if (p12 == NULL)
        rc = cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                         "The file is not a PKCS#12 (.pfx) file.");
    else if (!PKCS12_parse(p12, password ? password : "", &pkey, &cert, &ca) || pkey == NULL)
        rc = cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                         "The PKCS#12 file could not be opened: wrong password, or it holds no "
                         "private key.");
    ERR_clear_error();
    if (rc == 0) {
        int rsa = EVP_PKEY_is_a(pkey, "RSA");
        enum vs_kty kty =
            rsa ? (hsm ? VS_KTY_RSA_HSM : VS_KTY_RSA) : (hsm ? VS_KTY_EC_HSM : VS_KTY_EC);
        if (rsa) {
            int bits = EVP_PKEY_get_bits(pkey);
            if (bits != 2048 && bits != 3072 && bits != 4096)
                rc = cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                                 "The key size %d is not supported for RSA keys.", bits);
        } else if (!EVP_PKEY_is_a(pkey, "EC")) {
            rc = cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                             "Only RSA and EC keys can be imported.");
        }
        if (rc == 0)
            rc = import_material(e, s, name, kty, pkey, NULL, 0, NULL, attrs, tags, out, err);
    }
    EVP_PKEY_free(pkey);
    X509_free(cert);
    sk_X509_pop_free(ca, X509_free);
    PKCS12_free(p12);
    return rc;
}
