/* key_import.c: the key files `cmksim key import` reads, turned into the JSON Web Key that Key
 * Vault's import route takes (PUT /keys/{name} {"key": JWK}), on the client side as az does:
 *
 *   .json        a JWK, or {"key": JWK} (private members n/e/d/p/q/dp/dq/qi, or EC crv/x/y/d)
 *   .pfx, .p12   PKCS#12 with a password (the private key of the bag)
 *   .pem, .key   a PEM private key (PKCS#8 or traditional, optionally encrypted)
 *   .byok        a BYOK transfer blob from an HSM, sent as key_hsm (kty RSA-HSM)
 *
 * Private material lives only in this process's memory on its way to the vault; the JSON text
 * that carries it is wiped (OPENSSL_cleanse) before it is freed.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "client.h"
#include "common/b64.h"
#include "key_int.h"

static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n > e && strcasecmp(path + n - e, ext) == 0;
}

/* A BIGNUM parameter as base64url, big-endian, no leading zeros (RFC 7518). */
static int bn_member(json_t *jwk, const char *member, const EVP_PKEY *pkey, const char *param)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
        return -1;
    int len = BN_num_bytes(bn);
    unsigned char *buf = cmk_xmalloc((size_t)len + 1);
    BN_bn2bin(bn, buf);
    char *s = cmk_b64_encode(buf, (size_t)len, 1);
    OPENSSL_cleanse(buf, (size_t)len);
    free(buf);
    BN_clear_free(bn);
    json_object_set_new(jwk, member, json_string(s));
    OPENSSL_cleanse(s, strlen(s));
    free(s);
    return 0;
}

/* Fixed-size big-endian coordinate (EC x, y, d), as JWK wants for its curve. */
static int ec_member(json_t *jwk, const char *member, const EVP_PKEY *pkey, const char *param,
                     int size)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
        return -1;
    unsigned char *buf = cmk_xmalloc((size_t)size);
    int ok = BN_bn2binpad(bn, buf, size) == size;
    BN_clear_free(bn);
    if (ok) {
        char *s = cmk_b64_encode(buf, (size_t)size, 1);
        json_object_set_new(jwk, member, json_string(s));
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
    OPENSSL_cleanse(buf, (size_t)size);
    free(buf);
    return ok ? 0 : -1;
}

static json_t *jwk_of_pkey(struct cli_ctx *ctx, EVP_PKEY *pkey, int hsm)
{
    json_t *jwk = json_object();
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        json_object_set_new(jwk, "kty", json_string(hsm ? "RSA-HSM" : "RSA"));
        static const struct {
            const char *member, *param;
        } rsa[] = {
            {"n", OSSL_PKEY_PARAM_RSA_N},          {"e", OSSL_PKEY_PARAM_RSA_E},
            {"d", OSSL_PKEY_PARAM_RSA_D},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
            {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
            {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2}, {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
        };
        for (size_t i = 0; i < sizeof(rsa) / sizeof(rsa[0]); i++)
            if (bn_member(jwk, rsa[i].member, pkey, rsa[i].param) != 0) {
                cli_key_wipe(jwk);
                cli_fail(ctx, "the RSA key lacks its private part '%s'", rsa[i].member);
                return NULL;
            }
        return jwk;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen);
        const char *crv = !strcmp(group, "prime256v1")  ? "P-256"
                          : !strcmp(group, "secp384r1") ? "P-384"
                          : !strcmp(group, "secp521r1") ? "P-521"
                          : !strcmp(group, "secp256k1") ? "P-256K"
                                                        : NULL;
        int size = crv == NULL ? 0 : !strcmp(crv, "P-384") ? 48 : !strcmp(crv, "P-521") ? 66 : 32;
        if (crv == NULL) {
            json_decref(jwk);
            cli_fail(ctx, "unsupported EC curve '%s' (P-256, P-384, P-521, P-256K)", group);
            return NULL;
        }
        json_object_set_new(jwk, "kty", json_string(hsm ? "EC-HSM" : "EC"));
        json_object_set_new(jwk, "crv", json_string(crv));
        if (ec_member(jwk, "x", pkey, OSSL_PKEY_PARAM_EC_PUB_X, size) != 0 ||
            ec_member(jwk, "y", pkey, OSSL_PKEY_PARAM_EC_PUB_Y, size) != 0 ||
            ec_member(jwk, "d", pkey, OSSL_PKEY_PARAM_PRIV_KEY, size) != 0) {
            cli_key_wipe(jwk);
            cli_fail(ctx, "the EC key lacks its private part");
            return NULL;
        }
        return jwk;
    }
    json_decref(jwk);
    cli_fail(ctx, "unsupported key type %s (RSA or EC)", EVP_PKEY_get0_type_name(pkey));
    return NULL;
}

static void wipe_json_tree(json_t *j)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v) wipe_json_tree(v);
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) wipe_json_tree(v);
    } else if (json_is_string(j)) {
        /* jansson's strings are ours to overwrite in place before the value is freed */
        char *s = (char *)json_string_value(j);
        OPENSSL_cleanse(s, json_string_length(j));
    }
}

void cli_key_wipe(json_t *j)
{
    if (j == NULL)
        return;
    if (j->refcount == 1)
        wipe_json_tree(j);
    json_decref(j);
}

json_t *cli_key_read_file(struct cli_ctx *ctx, const char *path, const char *password, int hsm)
{
    size_t len = 0;
    unsigned char *data = cli_read_file(ctx, path, &len);
    if (data == NULL)
        return NULL;
    json_t *jwk = NULL;
    if (has_ext(path, ".byok")) {
        char *t = cmk_b64_encode(data, len, 1);
        jwk = json_pack("{s:s, s:s}", "kty", "RSA-HSM", "key_hsm", t);
        free(t);
    } else if (has_ext(path, ".pfx") || has_ext(path, ".p12")) {
        const unsigned char *p = data;
        PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
        EVP_PKEY *pkey = NULL;
        X509 *cert = NULL;
        STACK_OF(X509) *ca = NULL;
        if (p12 == NULL)
            cli_fail(ctx, "%s is not a PKCS#12 (.pfx) file", path);
        else if (!PKCS12_parse(p12, password ? password : "", &pkey, &cert, &ca))
            cli_fail(ctx, "cannot open %s: wrong password? (--password)", path);
        else if (pkey == NULL)
            cli_fail(ctx, "%s holds no private key", path);
        else
            jwk = jwk_of_pkey(ctx, pkey, hsm);
        EVP_PKEY_free(pkey);
        X509_free(cert);
        sk_X509_pop_free(ca, X509_free);
        PKCS12_free(p12);
    } else if (has_ext(path, ".pem") || has_ext(path, ".key")) {
        BIO *b = BIO_new_mem_buf(data, (int)len);
        EVP_PKEY *pkey = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)(password ? password : ""));
        BIO_free(b);
        if (pkey == NULL)
            cli_fail(ctx, "%s is not a PEM private key (or the --password is wrong)", path);
        else
            jwk = jwk_of_pkey(ctx, pkey, hsm);
        EVP_PKEY_free(pkey);
    } else {
        json_error_t je;
        json_t *j = json_loadb((const char *)data, len, 0, &je);
        if (j == NULL || !json_is_object(j)) {
            cli_fail(ctx,
                     "%s: not a JSON Web Key (%s); key files are .json (JWK), .pfx/.p12, .pem or "
                     ".byok",
                     path, j ? "not an object" : je.text);
        } else {
            json_t *inner = json_object_get(j, "key");
            jwk = json_incref(json_is_object(inner) ? inner : j);
            if (hsm && json_is_string(json_object_get(jwk, "kty")) &&
                (!strcmp(json_string_value(json_object_get(jwk, "kty")), "RSA") ||
                 !strcmp(json_string_value(json_object_get(jwk, "kty")), "EC"))) {
                char kty[16];
                snprintf(kty, sizeof(kty), "%s-HSM",
                         json_string_value(json_object_get(jwk, "kty")));
                json_object_set_new(jwk, "kty", json_string(kty));
            }
        }
        json_decref(j);
    }
    OPENSSL_cleanse(data, len);
    free(data);
    ERR_clear_error();
    return jwk;
}
