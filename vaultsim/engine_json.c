/* engine_json.c: the names of key types, curves, operations and algorithms, and the JSON
 * shapes of keys as the Key Vault REST API writes them (KeyBundle, KeyItem, DeletedKeyBundle,
 * DeletedKeyItem, JsonWebKey). Only public parts are ever written: n/e for RSA, crv/x/y for EC,
 * nothing of oct keys but their type. */
#include <openssl/core_names.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "engine_int.h"

static const char *const kty_names[VS_KTY__COUNT] = {"EC",      "EC-HSM", "RSA",
                                                     "RSA-HSM", "oct",    "oct-HSM"};

const char *vs_kty_name(enum vs_kty kty)
{
    return kty >= 0 && kty < VS_KTY__COUNT ? kty_names[kty] : "";
}

int vs_kty_parse(const char *s, enum vs_kty *out)
{
    for (int i = 0; i < VS_KTY__COUNT; i++)
        if (s && strcmp(s, kty_names[i]) == 0) {
            *out = (enum vs_kty)i;
            return 0;
        }
    return CMK_EINVAL;
}

static const char *const crv_names[] = {"", "P-256", "P-384", "P-521", "P-256K"};

const char *vs_crv_name(enum vs_crv crv)
{
    return crv > VS_CRV_NONE && crv <= VS_CRV_P256K ? crv_names[crv] : "";
}

int vs_crv_parse(const char *s, enum vs_crv *out)
{
    for (int i = 1; i <= VS_CRV_P256K; i++)
        if (s && strcmp(s, crv_names[i]) == 0) {
            *out = (enum vs_crv)i;
            return 0;
        }
    return CMK_EINVAL;
}

static const struct {
    enum vs_alg alg;
    const char *name;
} algs[] = {
    {VS_ALG_RSA_OAEP, "RSA-OAEP"},     {VS_ALG_RSA_OAEP_256, "RSA-OAEP-256"},
    {VS_ALG_RSA1_5, "RSA1_5"},         {VS_ALG_A128KW, "A128KW"},
    {VS_ALG_A192KW, "A192KW"},         {VS_ALG_A256KW, "A256KW"},
    {VS_ALG_A128GCM, "A128GCM"},       {VS_ALG_A192GCM, "A192GCM"},
    {VS_ALG_A256GCM, "A256GCM"},       {VS_ALG_A128CBC, "A128CBC"},
    {VS_ALG_A192CBC, "A192CBC"},       {VS_ALG_A256CBC, "A256CBC"},
    {VS_ALG_A128CBCPAD, "A128CBCPAD"}, {VS_ALG_A192CBCPAD, "A192CBCPAD"},
    {VS_ALG_A256CBCPAD, "A256CBCPAD"}, {VS_ALG_RS256, "RS256"},
    {VS_ALG_RS384, "RS384"},           {VS_ALG_RS512, "RS512"},
    {VS_ALG_PS256, "PS256"},           {VS_ALG_PS384, "PS384"},
    {VS_ALG_PS512, "PS512"},           {VS_ALG_ES256, "ES256"},
    {VS_ALG_ES384, "ES384"},           {VS_ALG_ES512, "ES512"},
    {VS_ALG_ES256K, "ES256K"},
};

const char *vs_alg_name(enum vs_alg alg)
{
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (algs[i].alg == alg)
            return algs[i].name;
    return "";
}

enum vs_alg vs_alg_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof(algs) / sizeof(algs[0]); i++)
        if (strcmp(algs[i].name, s) == 0)
            return algs[i].alg;
    return VS_ALG_NONE;
}

static const struct {
    unsigned op;
    const char *name;
} ops[] = {
    {VS_OP_ENCRYPT, "encrypt"}, {VS_OP_DECRYPT, "decrypt"}, {VS_OP_SIGN, "sign"},
    {VS_OP_VERIFY, "verify"},   {VS_OP_WRAP, "wrapKey"},    {VS_OP_UNWRAP, "unwrapKey"},
    {VS_OP_IMPORT, "import"},   {VS_OP_EXPORT, "export"},
};

const char *vs_keyop_name(unsigned op)
{
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (ops[i].op == op)
            return ops[i].name;
    return "";
}

json_t *vs_keyops_json(unsigned mask)
{
    json_t *a = json_array();
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (mask & ops[i].op)
            json_array_append_new(a, json_string(ops[i].name));
    return a;
}

int vs_keyops_parse(const json_t *arr, unsigned *out)
{
    *out = 0;
    if (!json_is_array(arr))
        return CMK_EINVAL;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        size_t j;
        for (j = 0; s && j < sizeof(ops) / sizeof(ops[0]); j++)
            if (strcmp(ops[j].name, s) == 0)
                break;
        if (s == NULL || j == sizeof(ops) / sizeof(ops[0]))
            return CMK_EINVAL;
        *out |= ops[j].op;
    }
    return 0;
}

char *vs_kid(const char *base, const char *name, const char *version)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    if (version && *version)
        cmk_buf_printf(&b, "%s/keys/%s/%s", base, name, version);
    else
        cmk_buf_printf(&b, "%s/keys/%s", base, name);
    return cmk_buf_take(&b, NULL);
}

static void set_b64(json_t *o, const char *field, const unsigned char *p, size_t n)
{
    char *s = cmk_b64_encode(p, n, 1);
    json_object_set_new(o, field, json_string(s));
    free(s);
}

static void set_bn(json_t *o, const char *field, const BIGNUM *bn, int width)
{
    int n = width > 0 ? width : BN_num_bytes(bn);
    unsigned char *buf = cmk_xmalloc((size_t)(n > 0 ? n : 1));
    if (BN_bn2binpad(bn, buf, n) >= 0)
        set_b64(o, field, buf, (size_t)n);
    free(buf);
}

json_t *vs__public_members(EVP_PKEY *pkey, enum vs_crv crv)
{
    json_t *jwk = json_object();
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        BIGNUM *n = NULL, *e = NULL;
        if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) &&
            EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
            set_bn(jwk, "n", n, 0);
            set_bn(jwk, "e", e, 0);
        }
        BN_free(n);
        BN_free(e);
    } else {
        BIGNUM *x = NULL, *y = NULL;
        int width = (EVP_PKEY_get_bits(pkey) + 7) / 8;
        json_object_set_new(jwk, "crv", json_string(vs_crv_name(crv)));
        if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) &&
            EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y)) {
            set_bn(jwk, "x", x, width);
            set_bn(jwk, "y", y, width);
        }
        BN_free(x);
        BN_free(y);
    }
    return jwk;
}

/* Public members: stored with the version (computed once), or from the DER as a fallback. */
static void add_public_parts(json_t *jwk, const struct vs_key *k)
{
    json_t *members = k->jwk ? json_incref(k->jwk) : NULL;
    if (members == NULL && k->pub != NULL) {
        const unsigned char *p = k->pub;
        EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)k->publen);
        if (pkey)
            members = vs__public_members(pkey, k->crv);
        EVP_PKEY_free(pkey);
    }
    if (members)
        json_object_update(jwk, members);
    json_decref(members);
}

json_t *vs_key_jwk_json(const struct vs_key *k, const char *base)
{
    json_t *jwk = json_object();
    char *kid = vs_kid(base, k->name, k->version);
    json_object_set_new(jwk, "kid", json_string(kid));
    free(kid);
    json_object_set_new(jwk, "kty", json_string(vs_kty_name(k->kty)));
    json_object_set_new(jwk, "key_ops", vs_keyops_json(k->ops));
    add_public_parts(jwk, k);
    return jwk;
}

json_t *vs_key_attrs_json(const struct vs_key *k)
{
    json_t *a = json_object();
    json_object_set_new(a, "enabled", json_boolean(k->enabled));
    if (k->nbf)
        json_object_set_new(a, "nbf", json_integer(k->nbf));
    if (k->exp)
        json_object_set_new(a, "exp", json_integer(k->exp));
    json_object_set_new(a, "created", json_integer(k->created));
    json_object_set_new(a, "updated", json_integer(k->updated));
    json_object_set_new(a, "recoveryLevel", json_string(k->recovery_level));
    if (k->recoverable_days > 0)
        json_object_set_new(a, "recoverableDays", json_integer(k->recoverable_days));
    json_object_set_new(a, "exportable", json_boolean(k->exportable));
    return a;
}

static void add_common(json_t *o, const struct vs_key *k, const char *base)
{
    json_object_set_new(o, "attributes", vs_key_attrs_json(k));
    if (k->tags && json_object_size(k->tags))
        json_object_set(o, "tags", k->tags);
    if (k->managed)
        json_object_set_new(o, "managed", json_true());
    if (k->deleted) {
        char *rid = NULL;
        struct cmk_buf b;
        cmk_buf_init(&b);
        cmk_buf_printf(&b, "%s/deletedkeys/%s", base, k->name);
        rid = cmk_buf_take(&b, NULL);
        json_object_set_new(o, "recoveryId", json_string(rid));
        free(rid);
        json_object_set_new(o, "deletedDate", json_integer(k->deleted_date));
        json_object_set_new(o, "scheduledPurgeDate", json_integer(k->scheduled_purge_date));
    }
}

json_t *vs_key_bundle_json(const struct vs_key *k, const char *base)
{
    json_t *o = json_object();
    json_object_set_new(o, "key", vs_key_jwk_json(k, base));
    add_common(o, k, base);
    return o;
}

json_t *vs_key_item_json(const struct vs_key *k, const char *base)
{
    json_t *o = json_object();
    char *kid = vs_kid(base, k->name, NULL);
    json_object_set_new(o, "kid", json_string(kid));
    free(kid);
    add_common(o, k, base);
    return o;
}
