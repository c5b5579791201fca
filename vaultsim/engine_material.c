/* engine_material.c: key material (see engine.h): the key types a container accepts and
 * their default key_ops, generation (RSA 2048/3072/4096, EC P-256/384/521/256K, oct
 * 128/192/256), describing a key (public DER and JWK, size, curve), sealing private material
 * under the root key, opening it through the cache, and storing a new version. */
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
#include "engine_int.h"

unsigned vs__default_ops(enum vs_kty kty)
{
    switch (kty) {
    case VS_KTY_RSA:
    case VS_KTY_RSA_HSM:
        return VS_OP_ENCRYPT | VS_OP_DECRYPT | VS_OP_SIGN | VS_OP_VERIFY | VS_OP_WRAP |
               VS_OP_UNWRAP;
    case VS_KTY_EC:
    case VS_KTY_EC_HSM:
        return VS_OP_SIGN | VS_OP_VERIFY;
    default:
        return VS_OP_ENCRYPT | VS_OP_DECRYPT | VS_OP_WRAP | VS_OP_UNWRAP;
    }
}

int vs__check_type(const struct vs_space *s, enum vs_kty kty, struct cmk_err *err)
{
    if (kty < 0 || kty >= VS_KTY__COUNT)
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "Invalid key type.");
    if (s->key_types & VS_KTY_BIT(kty))
        return 0;
    if ((kty == VS_KTY_RSA_HSM || kty == VS_KTY_EC_HSM) && (s->key_types & VS_KTY_BIT(VS_KTY_RSA)))
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                           "Hardware key operation not allowed on standard vault");
    return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                       "Key type %s is not supported by this %s.", vs_kty_name(kty),
                       s->kind_label ? s->kind_label : "key vault");
}

static const char *curve_group(enum vs_crv crv)
{
    switch (crv) {
    case VS_CRV_P256:
        return "prime256v1";
    case VS_CRV_P384:
        return "secp384r1";
    case VS_CRV_P521:
        return "secp521r1";
    case VS_CRV_P256K:
        return "secp256k1";
    default:
        return NULL;
    }
}

static enum vs_crv group_curve(const char *group)
{
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
        return VS_CRV_P256;
    if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
        return VS_CRV_P384;
    if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
        return VS_CRV_P521;
    if (strcmp(group, "secp256k1") == 0)
        return VS_CRV_P256K;
    return VS_CRV_NONE;
}

int vs__generate(const struct vs_key_params *p, EVP_PKEY **pkey, unsigned char *oct, size_t *octlen,
                 struct cmk_err *err)
{
    *pkey = NULL;
    *octlen = 0;
    if (vs__is_rsa(p->kty)) {
        int bits = p->size ? p->size : 2048;
        if (bits != 2048 && bits != 3072 && bits != 4096)
            return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                               "The key size %d is not supported for %s keys; use 2048, 3072 "
                               "or 4096.",
                               bits, vs_kty_name(p->kty));
        long exponent = p->public_exponent ? p->public_exponent : 65537;
        if (exponent != 3 && exponent != 65537)
            return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                               "The public exponent %ld is not supported; use 65537.", exponent);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        BIGNUM *e = BN_new();
        int ok = ctx && e && BN_set_word(e, (BN_ULONG)exponent) && EVP_PKEY_keygen_init(ctx) > 0 &&
                 EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) > 0 &&
                 EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) > 0 && EVP_PKEY_keygen(ctx, pkey) > 0;
        BN_free(e);
        EVP_PKEY_CTX_free(ctx);
        if (!ok)
            return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError",
                               "Key generation failed.");
        return 0;
    }
    if (vs__is_ec(p->kty)) {
        enum vs_crv crv = p->crv == VS_CRV_NONE ? VS_CRV_P256 : p->crv;
        const char *group = curve_group(crv);
        if (group == NULL)
            return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "Invalid curve name.");
        *pkey = EVP_EC_gen(group);
        if (*pkey == NULL)
            return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError",
                               "Key generation failed.");
        return 0;
    }
    int bits = p->size ? p->size : 256;
    if (bits != 128 && bits != 192 && bits != 256)
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                           "The key size %d is not supported for %s keys; use 128, 192 or 256.",
                           bits, vs_kty_name(p->kty));
    if (RAND_bytes(oct, bits / 8) != 1)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError", "Key generation failed.");
    *octlen = (size_t)bits / 8;
    return 0;
}

int vs__describe_pkey(EVP_PKEY *pkey, struct vs_key *k)
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(pkey, &der);
    if (len <= 0)
        return CMK_ECRYPTO;
    free(k->pub);
    k->pub = cmk_xmalloc((size_t)len);
    memcpy(k->pub, der, (size_t)len);
    k->publen = (size_t)len;
    OPENSSL_free(der);
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        k->size = EVP_PKEY_get_bits(pkey);
        k->crv = VS_CRV_NONE;
    } else {
        char group[64];
        size_t glen = 0;
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            &glen))
            return CMK_ECRYPTO;
        k->crv = group_curve(group);
        k->size = 0;
        if (k->crv == VS_CRV_NONE)
            return CMK_EINVAL;
    }
    json_decref(k->jwk);
    k->jwk = vs__public_members(pkey, k->crv);
    return 0;
}

int vs__seal(struct vs_engine *e, const char *space, const char *name, const char *version,
             EVP_PKEY *pkey, const unsigned char *oct, size_t octlen, struct cmk_buf *out)
{
    struct cmk_buf pt, aad;
    cmk_buf_init(&pt);
    cmk_buf_init(&aad);
    int rc = 0;
    if (pkey) {
        unsigned char *der = NULL;
        int len = i2d_PrivateKey(pkey, &der);
        if (len <= 0)
            return CMK_ECRYPTO;
        cmk_buf_append(&pt, "P", 1);
        cmk_buf_append(&pt, der, (size_t)len);
        OPENSSL_clear_free(der, (size_t)len);
    } else {
        cmk_buf_append(&pt, "O", 1);
        cmk_buf_append(&pt, oct, octlen);
    }
    vs__aad(space, name, version, &aad);
    rc = cmk_rootkey_seal(&e->root, VS_SEAL_LABEL, aad.data, aad.len, pt.data, pt.len, out);
    OPENSSL_cleanse(pt.data, pt.cap);
    cmk_buf_close(&pt);
    cmk_buf_close(&aad);
    return rc;
}

int vs__material(struct vs_engine *e, const struct vs_space *s, const char *name,
                 const char *version, struct vs_cached **out, struct cmk_err *err)
{
    *out = vs__cache_get(e, s->id, name, version);
    if (*out)
        return 0;
    sqlite3_stmt *st = cmk_store_stmt(
        e->db, "SELECT priv FROM vs_key_versions WHERE space = ? AND name = ? AND version = ?");
    if (st == NULL)
        return vs__db_error(e, err);
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, version, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return vs__key_not_found(s, name, version, err);
    }
    struct cmk_buf aad;
    cmk_buf_init(&aad);
    vs__aad(s->id, name, version, &aad);
    unsigned char *pt = NULL;
    size_t n = 0;
    int rc =
        cmk_rootkey_open(&e->root, VS_SEAL_LABEL, aad.data, aad.len, sqlite3_column_blob(st, 0),
                         (size_t)sqlite3_column_bytes(st, 0), &pt, &n);
    sqlite3_reset(st);
    cmk_buf_close(&aad);
    if (rc != 0 || n < 2)
        goto Corrupt;
    if (pt[0] == 'P') {
        const unsigned char *p = pt + 1;
        EVP_PKEY *pkey = d2i_AutoPrivateKey(NULL, &p, (long)(n - 1));
        if (pkey == NULL)
            goto Corrupt;
        vs__cache_put(e, s->id, name, version, pkey, NULL, 0);
        EVP_PKEY_free(pkey);
    } else if (pt[0] == 'O') {
        vs__cache_put(e, s->id, name, version, NULL, pt + 1, n - 1);
    } else {
        goto Corrupt;
    }
    OPENSSL_clear_free(pt, n);
    *out = vs__cache_get(e, s->id, name, version);
    return 0;
Corrupt:
    if (pt)
        OPENSSL_clear_free(pt, n);
    return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError",
                       "The key material could not be opened with this emulator's root key.");
}

/* The stored spelling of a key's name (names are case-insensitive). */
static void canonical_name(struct vs_engine *e, const struct vs_space *s, const char *name,
                           char *out, size_t n)
{
    snprintf(out, n, "%s", name);
    sqlite3_stmt *st =
        cmk_store_stmt(e->db, "SELECT name FROM vs_keys WHERE space = ? AND name = ?");
    if (st == NULL)
        return;
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
}

int vs__store_new(struct vs_engine *e, const struct vs_space *s, const char *name, struct vs_key *k,
                  EVP_PKEY *pkey, const unsigned char *oct, size_t octlen, struct vs_key *out,
                  struct cmk_err *err)
{
    char cname[128];
    canonical_name(e, s, name, cname, sizeof(cname));
    snprintf(k->name, sizeof(k->name), "%s", cname);
    vs__new_version(e, k->version);
    if (pkey) {
        if (vs__describe_pkey(pkey, k) != 0)
            return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                               "The key material is not supported.");
    } else {
        k->size = (int)octlen * 8;
        k->crv = VS_CRV_NONE;
    }
    struct cmk_buf sealed;
    cmk_buf_init(&sealed);
    int rc = vs__seal(e, s->id, cname, k->version, pkey, oct, octlen, &sealed);
    if (rc != 0) {
        cmk_buf_close(&sealed);
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError",
                           "The key material could not be sealed.");
    }
    int tx = vs__tx_begin(e);
    if (tx < 0) {
        cmk_buf_close(&sealed);
        return vs__db_error(e, err);
    }
    rc = vs__insert_version(e, s, cname, k, (const unsigned char *)sealed.data, sealed.len, err);
    cmk_buf_close(&sealed);
    if (rc == 0 && vs__tx_commit(e, tx) != 0)
        rc = vs__db_error(e, err);
    if (rc != 0) {
        vs__tx_rollback(e, tx);
        return rc;
    }
    vs__cache_put(e, s->id, cname, k->version, pkey, oct, octlen);
    vs__rotation_schedule(e, s->id, cname);
    vs__rearm(e);
    return vs__read_version(e, s, cname, k->version, 0, out, err);
}
