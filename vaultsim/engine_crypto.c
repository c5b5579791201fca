/* engine_crypto.c: the cryptographic operations of the key engine (see engine.h):
 * wrapKey/unwrapKey, encrypt/decrypt, sign/verify with the algorithms of the Key Vault REST
 * API, and the checks before them (enabled, nbf/exp, key_ops, algorithm). RSA and EC run
 * through EVP with the key handed in, so vs_pkey_crypt is safe on any thread. */
#include "engine_int.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "common/store.h"

/* ---- operations -------------------------------------------------------------------------- */

void vs_crypt_out_init(struct vs_crypt_out *o)
{
    memset(o, 0, sizeof(*o));
    cmk_buf_init(&o->value);
    cmk_buf_init(&o->iv);
    cmk_buf_init(&o->tag);
}

void vs_crypt_out_close(struct vs_crypt_out *o)
{
    if (o == NULL)
        return;
    if (o->value.data)
        OPENSSL_cleanse(o->value.data, o->value.cap);
    cmk_buf_close(&o->value);
    cmk_buf_close(&o->iv);
    cmk_buf_close(&o->tag);
}

static const char *op_name(unsigned op)
{
    return vs_keyop_name(op);
}

static int bad(struct cmk_err *err, const char *fmt, const char *a, const char *b)
{
    return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", fmt, a, b);
}

/* Which algorithms go with which key type and operation. */
static int alg_fits(enum vs_kty kty, unsigned op, enum vs_alg alg, int keybits)
{
    int enc = op & (VS_OP_ENCRYPT | VS_OP_DECRYPT | VS_OP_WRAP | VS_OP_UNWRAP);
    if (vs__is_rsa(kty)) {
        if (enc)
            return alg == VS_ALG_RSA_OAEP || alg == VS_ALG_RSA_OAEP_256 || alg == VS_ALG_RSA1_5;
        return alg >= VS_ALG_RS256 && alg <= VS_ALG_PS512;
    }
    if (vs__is_ec(kty))
        return !enc && alg >= VS_ALG_ES256 && alg <= VS_ALG_ES256K;
    /* oct */
    if (!enc)
        return 0;
    int bits;
    switch (alg) {
    case VS_ALG_A128KW:
    case VS_ALG_A128GCM:
    case VS_ALG_A128CBC:
    case VS_ALG_A128CBCPAD:
        bits = 128;
        break;
    case VS_ALG_A192KW:
    case VS_ALG_A192GCM:
    case VS_ALG_A192CBC:
    case VS_ALG_A192CBCPAD:
        bits = 192;
        break;
    case VS_ALG_A256KW:
    case VS_ALG_A256GCM:
    case VS_ALG_A256CBC:
    case VS_ALG_A256CBCPAD:
        bits = 256;
        break;
    default:
        return 0;
    }
    int kw = alg >= VS_ALG_A128KW && alg <= VS_ALG_A256KW;
    if (kw && !(op & (VS_OP_WRAP | VS_OP_UNWRAP)))
        return 0;
    return bits == keybits;
}

/* The checks every operation makes before touching key material. */
static int check_use(struct vs_engine *e, const struct vs_key *k, unsigned op, enum vs_alg alg,
                     struct cmk_err *err)
{
    if (!k->enabled) {
        cmk_err_set(err, CMK_EDENIED, 403, "Forbidden",
                    "Operation %s is not allowed on a disabled key.", op_name(op));
        cmk_err_inner(err, "KeyDisabled");
        return CMK_EDENIED;
    }
    /* Like the service: outside nbf/exp a key no longer protects new data, but it still
     * opens, verifies and unwraps what it protected (no crypto-lock). */
    if (op & (VS_OP_ENCRYPT | VS_OP_SIGN | VS_OP_WRAP)) {
        int64_t now = vs_engine_now(e);
        if (k->nbf && now < k->nbf) {
            cmk_err_set(err, CMK_EDENIED, 403, "Forbidden",
                        "Operation %s is not allowed on a key that is not yet valid.", op_name(op));
            cmk_err_inner(err, "KeyNotYetValid");
            return CMK_EDENIED;
        }
        if (k->exp && now >= k->exp) {
            cmk_err_set(err, CMK_EDENIED, 403, "Forbidden",
                        "Operation %s is not allowed on an expired key.", op_name(op));
            cmk_err_inner(err, "KeyExpired");
            return CMK_EDENIED;
        }
    }
    if (!(k->ops & op)) {
        cmk_err_set(err, CMK_EDENIED, 403, "Forbidden",
                    "Operation %s is not permitted on this key: it is not in the key's key_ops.",
                    op_name(op));
        cmk_err_inner(err, "KeyOperationForbidden");
        return CMK_EDENIED;
    }
    if (alg == VS_ALG_NONE)
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                           "The algorithm is missing or not supported.");
    if (!alg_fits(k->kty, op, alg, k->size))
        return bad(err, "Algorithm %s is not supported for %s keys of this size.", vs_alg_name(alg),
                   vs_kty_name(k->kty));
    return 0;
}

static const EVP_MD *alg_md(enum vs_alg alg)
{
    switch (alg) {
    case VS_ALG_RS256:
    case VS_ALG_PS256:
    case VS_ALG_ES256:
    case VS_ALG_ES256K:
        return EVP_sha256();
    case VS_ALG_RS384:
    case VS_ALG_PS384:
    case VS_ALG_ES384:
        return EVP_sha384();
    case VS_ALG_RS512:
    case VS_ALG_PS512:
    case VS_ALG_ES512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

static int rsa_padding(EVP_PKEY_CTX *ctx, enum vs_alg alg)
{
    switch (alg) {
    case VS_ALG_RSA1_5:
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
    case VS_ALG_RSA_OAEP:
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
               EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) > 0 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) > 0;
    case VS_ALG_RSA_OAEP_256:
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
               EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) > 0 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0;
    default:
        return 0;
    }
}

static int rsa_crypt(EVP_PKEY *pkey, int encrypt, const struct vs_crypt_in *in,
                     struct vs_crypt_out *out, struct cmk_err *err)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (ctx == NULL)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError", "Crypto failure.");
    int ok = (encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) > 0 &&
             rsa_padding(ctx, in->alg);
    size_t outlen = 0;
    if (ok)
        ok = (encrypt ? EVP_PKEY_encrypt(ctx, NULL, &outlen, in->value, in->len)
                      : EVP_PKEY_decrypt(ctx, NULL, &outlen, in->value, in->len)) > 0;
    int rc = 0;
    if (ok) {
        cmk_buf_reset(&out->value);
        cmk_buf_reserve(&out->value, outlen);
        ok = (encrypt ? EVP_PKEY_encrypt(ctx, (unsigned char *)out->value.data, &outlen, in->value,
                                         in->len)
                      : EVP_PKEY_decrypt(ctx, (unsigned char *)out->value.data, &outlen, in->value,
                                         in->len)) > 0;
        if (ok)
            out->value.len = outlen;
    }
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        if (encrypt)
            rc = cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                             "The value is too long to be encrypted with this key and "
                             "algorithm.");
        else
            rc = cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                             "The value could not be decrypted with this key and algorithm.");
    }
    return rc;
}

static int rsa_sign(EVP_PKEY *pkey, int sign, const struct vs_crypt_in *in,
                    struct vs_crypt_out *out, struct cmk_err *err)
{
    const EVP_MD *md = alg_md(in->alg);
    if (md == NULL || in->len != (size_t)EVP_MD_get_size(md))
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                           "The digest length %zu is not valid for algorithm %s.", in->len,
                           vs_alg_name(in->alg));
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (ctx == NULL)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError", "Crypto failure.");
    int pss = in->alg >= VS_ALG_PS256 && in->alg <= VS_ALG_PS512;
    int ok =
        (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) > 0 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) > 0 &&
        EVP_PKEY_CTX_set_signature_md(ctx, md) > 0;
    if (ok && pss)
        ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) > 0;
    int rc = 0;
    if (ok && sign) {
        size_t siglen = 0;
        ok = EVP_PKEY_sign(ctx, NULL, &siglen, in->value, in->len) > 0;
        if (ok) {
            cmk_buf_reset(&out->value);
            cmk_buf_reserve(&out->value, siglen);
            ok = EVP_PKEY_sign(ctx, (unsigned char *)out->value.data, &siglen, in->value, in->len) >
                 0;
            out->value.len = ok ? siglen : 0;
        }
        if (!ok)
            rc = cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError", "Signing failed.");
    } else if (ok) {
        out->verified = EVP_PKEY_verify(ctx, in->sig, in->siglen, in->value, in->len) == 1;
    } else {
        rc = cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError", "Crypto failure.");
    }
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* ECDSA: the wire format is r || s, each the size of the curve order (JWS), not DER. */
static int ec_sign(EVP_PKEY *pkey, int sign, const struct vs_crypt_in *in, struct vs_crypt_out *out,
                   struct cmk_err *err)
{
    const EVP_MD *md = alg_md(in->alg);
    int bits = EVP_PKEY_get_bits(pkey);
    size_t half = ((size_t)bits + 7) / 8;
    if (md == NULL || in->len != (size_t)EVP_MD_get_size(md))
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                           "The digest length %zu is not valid for algorithm %s.", in->len,
                           vs_alg_name(in->alg));
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (ctx == NULL)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError", "Crypto failure.");
    int rc = 0;
    if (sign) {
        size_t dlen = 0;
        unsigned char *der = NULL;
        int ok =
            EVP_PKEY_sign_init(ctx) > 0 && EVP_PKEY_sign(ctx, NULL, &dlen, in->value, in->len) > 0;
        if (ok) {
            der = cmk_xmalloc(dlen);
            ok = EVP_PKEY_sign(ctx, der, &dlen, in->value, in->len) > 0;
        }
        ECDSA_SIG *sig = NULL;
        if (ok) {
            const unsigned char *p = der;
            sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
            ok = sig != NULL;
        }
        if (ok) {
            cmk_buf_reset(&out->value);
            cmk_buf_reserve(&out->value, 2 * half);
            unsigned char *o = (unsigned char *)out->value.data;
            ok = BN_bn2binpad(ECDSA_SIG_get0_r(sig), o, (int)half) > 0 &&
                 BN_bn2binpad(ECDSA_SIG_get0_s(sig), o + half, (int)half) > 0;
            out->value.len = ok ? 2 * half : 0;
        }
        ECDSA_SIG_free(sig);
        free(der);
        if (!ok)
            rc = cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError", "Signing failed.");
    } else {
        out->verified = 0;
        if (in->siglen == 2 * half) {
            ECDSA_SIG *sig = ECDSA_SIG_new();
            BIGNUM *r = BN_bin2bn(in->sig, (int)half, NULL);
            BIGNUM *s = BN_bin2bn(in->sig + half, (int)half, NULL);
            unsigned char *der = NULL;
            int dlen = -1;
            if (sig && r && s && ECDSA_SIG_set0(sig, r, s)) {
                r = s = NULL;
                dlen = i2d_ECDSA_SIG(sig, &der);
            }
            BN_free(r);
            BN_free(s);
            if (dlen > 0 && EVP_PKEY_verify_init(ctx) > 0)
                out->verified = EVP_PKEY_verify(ctx, der, (size_t)dlen, in->value, in->len) == 1;
            OPENSSL_free(der);
            ECDSA_SIG_free(sig);
        }
    }
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int vs_pkey_crypt(EVP_PKEY *pkey, unsigned op, const struct vs_crypt_in *in,
                  struct vs_crypt_out *out, struct cmk_err *err)
{
    int rsa = EVP_PKEY_is_a(pkey, "RSA");
    switch (op) {
    case VS_OP_ENCRYPT:
    case VS_OP_WRAP:
        return rsa ? rsa_crypt(pkey, 1, in, out, err) : CMK_EINVAL;
    case VS_OP_DECRYPT:
    case VS_OP_UNWRAP:
        return rsa ? rsa_crypt(pkey, 0, in, out, err) : CMK_EINVAL;
    case VS_OP_SIGN:
    case VS_OP_VERIFY:
        return rsa ? rsa_sign(pkey, op == VS_OP_SIGN, in, out, err)
                   : ec_sign(pkey, op == VS_OP_SIGN, in, out, err);
    default:
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "Unsupported operation.");
    }
}

/* ---- oct (AES) ---------------------------------------------------------------------------- */

static const EVP_CIPHER *aes_cipher(enum vs_alg alg, int *mode)
{
    switch (alg) {
    case VS_ALG_A128KW:
        return *mode = 'K', EVP_aes_128_wrap();
    case VS_ALG_A192KW:
        return *mode = 'K', EVP_aes_192_wrap();
    case VS_ALG_A256KW:
        return *mode = 'K', EVP_aes_256_wrap();
    case VS_ALG_A128GCM:
        return *mode = 'G', EVP_aes_128_gcm();
    case VS_ALG_A192GCM:
        return *mode = 'G', EVP_aes_192_gcm();
    case VS_ALG_A256GCM:
        return *mode = 'G', EVP_aes_256_gcm();
    case VS_ALG_A128CBC:
        return *mode = 'C', EVP_aes_128_cbc();
    case VS_ALG_A192CBC:
        return *mode = 'C', EVP_aes_192_cbc();
    case VS_ALG_A256CBC:
        return *mode = 'C', EVP_aes_256_cbc();
    case VS_ALG_A128CBCPAD:
        return *mode = 'P', EVP_aes_128_cbc();
    case VS_ALG_A192CBCPAD:
        return *mode = 'P', EVP_aes_192_cbc();
    case VS_ALG_A256CBCPAD:
        return *mode = 'P', EVP_aes_256_cbc();
    default:
        return NULL;
    }
}

static int oct_crypt(const unsigned char *key, unsigned op, const struct vs_crypt_in *in,
                     struct vs_crypt_out *out, struct cmk_err *err)
{
    int mode = 0;
    const EVP_CIPHER *cipher = aes_cipher(in->alg, &mode);
    int enc = (op & (VS_OP_ENCRYPT | VS_OP_WRAP)) != 0;
    if (cipher == NULL)
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "Unsupported algorithm.");
    if (in->len > 1 << 20)
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "The value is too long.");
    unsigned char iv[16];
    size_t ivlen = 0;
    if (mode == 'G') {
        if (enc) {
            if (in->ivlen != 0 && in->ivlen != 12)
                return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                                   "The 'iv' for AES-GCM must be 12 bytes (or absent: the "
                                   "service then generates it).");
            if (in->ivlen)
                memcpy(iv, in->iv, 12);
            else if (RAND_bytes(iv, 12) != 1)
                return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError", "RNG failure.");
        } else {
            if (in->ivlen != 12 || in->taglen != 16)
                return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                                   "AES-GCM decryption needs a 12-byte 'iv' and a 16-byte "
                                   "'tag'.");
            memcpy(iv, in->iv, 12);
        }
        ivlen = 12;
    } else if (mode == 'C' || mode == 'P') {
        if (in->ivlen != 16)
            return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                               "AES-CBC needs a 16-byte 'iv'.");
        memcpy(iv, in->iv, 16);
        ivlen = 16;
        if (mode == 'C' && in->len % 16 != 0)
            return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                               "AES-CBC without padding needs a multiple of 16 bytes.");
    } else if (in->len < (enc ? 16u : 24u) || in->len % 8 != 0) {
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                           "AES key wrap needs a multiple of 8 bytes, at least %d.", enc ? 16 : 24);
    }
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c == NULL)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError", "Crypto failure.");
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    int ok = EVP_CipherInit_ex(c, cipher, NULL, NULL, NULL, enc) == 1;
    if (ok && mode == 'G')
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1;
    ok = ok && EVP_CipherInit_ex(c, NULL, NULL, key, ivlen ? iv : NULL, enc) == 1;
    if (ok && mode == 'C')
        ok = EVP_CIPHER_CTX_set_padding(c, 0) == 1;
    int len = 0, total = 0;
    if (ok && mode == 'G' && in->aadlen)
        ok = EVP_CipherUpdate(c, NULL, &len, in->aad, (int)in->aadlen) == 1;
    cmk_buf_reset(&out->value);
    cmk_buf_reserve(&out->value, in->len + 32);
    unsigned char *o = (unsigned char *)out->value.data;
    if (ok)
        ok = EVP_CipherUpdate(c, o, &len, in->value, (int)in->len) == 1;
    total = len;
    if (ok && mode == 'G' && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)in->tag) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(c, o + total, &len) == 1;
    total += ok ? len : 0;
    if (ok && mode == 'G' && enc) {
        unsigned char tag[16];
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
        if (ok)
            cmk_buf_append(&out->tag, tag, 16);
    }
    EVP_CIPHER_CTX_free(c);
    ERR_clear_error();
    if (!ok) {
        cmk_buf_reset(&out->value);
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                           enc ? "The value could not be encrypted with this key."
                               : "The value could not be decrypted with this key: wrong key, "
                                 "or the data or its tag was altered.");
    }
    out->value.len = (size_t)total;
    if (enc && ivlen)
        cmk_buf_append(&out->iv, iv, ivlen);
    return 0;
}

/* ---- the entry points ---------------------------------------------------------------------- */

static int prepare(struct vs_engine *e, const struct vs_space *s, const char *name,
                   const char *version, unsigned op, enum vs_alg alg, struct vs_key *k,
                   struct vs_cached **mat, struct cmk_err *err)
{
    int rc = vs__read_version(e, s, name, version, 0, k, err);
    if (rc != 0)
        return rc;
    rc = check_use(e, k, op, alg, err);
    if (rc == 0)
        rc = vs__material(e, s, k->name, k->version, mat, err);
    return rc;
}

int vs_key_crypt(struct vs_engine *e, const struct vs_space *s, const char *name,
                 const char *version, unsigned op, const struct vs_crypt_in *in,
                 struct vs_crypt_out *out, struct cmk_err *err)
{
    struct vs_key k;
    struct vs_cached *mat = NULL;
    int rc = prepare(e, s, name, version, op, in->alg, &k, &mat, err);
    if (rc == 0) {
        snprintf(out->version, sizeof(out->version), "%s", k.version);
        if (mat->pkey)
            rc = vs_pkey_crypt(mat->pkey, op, in, out, err);
        else
            rc = oct_crypt(mat->oct, op, in, out, err);
    }
    vs_key_clear(&k);
    return rc;
}

int vs_key_crypt_prepare(struct vs_engine *e, const struct vs_space *s, const char *name,
                         const char *version, unsigned op, enum vs_alg alg, EVP_PKEY **pkey,
                         char version_out[33], struct cmk_err *err)
{
    struct vs_key k;
    struct vs_cached *mat = NULL;
    *pkey = NULL;
    int rc = prepare(e, s, name, version, op, alg, &k, &mat, err);
    if (rc == 0 && mat->pkey == NULL)
        rc = cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "Not an asymmetric key.");
    if (rc == 0) {
        EVP_PKEY_up_ref(mat->pkey);
        *pkey = mat->pkey;
        snprintf(version_out, 33, "%s", k.version);
    }
    vs_key_clear(&k);
    return rc;
}
