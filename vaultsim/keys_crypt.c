/* keys_crypt.c: the handlers of the keys data plane that use key material: encrypt, decrypt,
 * wrapKey, unwrapKey, sign, verify (one shape, by version or versionless), release (always
 * refused: keys are never exportable) and random bytes. Plaintexts that pass through request
 * bodies are cleansed after use. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "keys_int.h"

/* encrypt, decrypt, wrapKey, unwrapKey, sign, verify: one shape. */
static void crypt_op(struct cmk_request *req, struct cmk_response *res, void *data, unsigned op,
                     enum vs_perm perm, const char *opname)
{
    BEGIN(perm, opname);
    json_t *body = vs__body_object(&call);
    struct vs_crypt_in in;
    memset(&in, 0, sizeof(in));
    unsigned char *value = NULL, *iv = NULL, *aad = NULL, *tag = NULL, *sig = NULL;
    size_t vlen = 0, ivlen = 0, aadlen = 0, taglen = 0, siglen = 0;
    const char *alg = json_string_value(json_object_get(body, "alg"));
    int rc = body ? 0 : CMK_EINVAL;
    if (rc == 0 && alg == NULL)
        rc = vs__bad(&call, "The parameter 'alg' is required.%s", "");
    if (rc == 0 && (in.alg = vs_alg_parse(alg)) == VS_ALG_NONE)
        rc = vs__bad(&call, "The algorithm '%.40s' is not supported.", alg);
    if (op == VS_OP_VERIFY) {
        /* verify: "digest" is what was signed, "value" the signature */
        if (rc == 0)
            rc = vs__b64_member(&call, body, "digest", 1, &value, &vlen);
        if (rc == 0)
            rc = vs__b64_member(&call, body, "value", 1, &sig, &siglen);
    } else if (rc == 0) {
        rc = vs__b64_member(&call, body, "value", 1, &value, &vlen);
    }
    if (rc == 0)
        rc = vs__b64_member(&call, body, "iv", 0, &iv, &ivlen);
    if (rc == 0)
        rc = vs__b64_member(&call, body, "aad", 0, &aad, &aadlen);
    if (rc == 0)
        rc = vs__b64_member(&call, body, "tag", 0, &tag, &taglen);
    struct vs_crypt_out out;
    vs_crypt_out_init(&out);
    if (rc == 0) {
        in.value = value;
        in.len = vlen;
        in.iv = iv;
        in.ivlen = ivlen;
        in.aad = aad;
        in.aadlen = aadlen;
        in.tag = tag;
        in.taglen = taglen;
        in.sig = sig;
        in.siglen = siglen;
        rc = vs_key_crypt(ks->engine, &call.c.space, call.name, call.version, op, &in, &out,
                          &call.err);
    }
    if (rc != 0) {
        vs__call_fail(&call);
    } else {
        char *kid = vs_kid(call.base, call.name, out.version);
        snprintf(call.kid, sizeof(call.kid), "%s", kid);
        json_t *o = json_object();
        if (op == VS_OP_VERIFY) {
            json_object_set_new(o, "value", json_boolean(out.verified));
        } else {
            json_object_set_new(o, "kid", json_string(kid));
            vs__set_b64(o, "value", out.value.data, out.value.len);
            if (out.iv.len)
                vs__set_b64(o, "iv", out.iv.data, out.iv.len);
            if (out.tag.len)
                vs__set_b64(o, "tag", out.tag.data, out.tag.len);
            if (out.tag.len && aadlen)
                vs__set_b64(o, "aad", aad, aadlen);
        }
        free(kid);
        cmk_response_json(res, 200, o);
    }
    vs_crypt_out_close(&out);
    if (value) {
        OPENSSL_cleanse(value, vlen);
        free(value);
    }
    free(iv);
    free(aad);
    free(tag);
    free(sig);
    /* Plaintexts and unwrapped keys passed through the request and response bodies. */
    if (op == VS_OP_ENCRYPT || op == VS_OP_WRAP)
        OPENSSL_cleanse(req->body.data, req->body.len);
End:
    vs__call_end(&call);
}

void vs__h_encrypt(struct cmk_request *q, struct cmk_response *r, void *d)
{
    crypt_op(q, r, d, VS_OP_ENCRYPT, VS_PERM_ENCRYPT, "KeyEncrypt");
}

void vs__h_decrypt(struct cmk_request *q, struct cmk_response *r, void *d)
{
    crypt_op(q, r, d, VS_OP_DECRYPT, VS_PERM_DECRYPT, "KeyDecrypt");
}

void vs__h_wrap(struct cmk_request *q, struct cmk_response *r, void *d)
{
    crypt_op(q, r, d, VS_OP_WRAP, VS_PERM_WRAP, "KeyWrap");
}

void vs__h_unwrap(struct cmk_request *q, struct cmk_response *r, void *d)
{
    crypt_op(q, r, d, VS_OP_UNWRAP, VS_PERM_UNWRAP, "KeyUnwrap");
}

void vs__h_sign(struct cmk_request *q, struct cmk_response *r, void *d)
{
    crypt_op(q, r, d, VS_OP_SIGN, VS_PERM_SIGN, "KeySign");
}

void vs__h_verify(struct cmk_request *q, struct cmk_response *r, void *d)
{
    crypt_op(q, r, d, VS_OP_VERIFY, VS_PERM_VERIFY, "KeyVerify");
}

void vs__h_release(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_RELEASE, "KeyRelease");
    struct vs_key k;
    if (vs_key_get(ks->engine, &call.c.space, call.name, call.version, 0, &k, &err) != 0) {
        vs__engine_fail(&call, &err);
        goto End;
    }
    vs_key_clear(&k);
    cmk_err_set(&call.err, CMK_EDENIED, 403, "Forbidden",
                "Key release is not allowed: the key is not exportable (this emulator never "
                "exports private key material).");
    vs__call_fail(&call);
End:
    vs__call_end(&call);
}

void vs__h_rng(struct cmk_request *req, struct cmk_response *res, void *data)
{
    BEGIN(VS_PERM_RANDOM, "GetRandomBytes");
    json_t *body = vs__body_object(&call);
    const json_t *count = json_object_get(body, "count");
    if (body == NULL || !json_is_integer(count) || json_integer_value(count) < 1 ||
        json_integer_value(count) > 128) {
        if (body != NULL)
            vs__bad(&call, "'count' must be an integer between 1 and 128.%s", "");
        vs__call_fail(&call);
        goto End;
    }
    unsigned char buf[128];
    size_t n = (size_t)json_integer_value(count);
    if (RAND_bytes(buf, (int)n) != 1) {
        cmk_err_set(&call.err, CMK_ECRYPTO, 500, "InternalServerError", "RNG failure.");
        vs__call_fail(&call);
        goto End;
    }
    json_t *o = json_object();
    vs__set_b64(o, "value", buf, n);
    OPENSSL_cleanse(buf, sizeof(buf));
    cmk_response_json(res, 200, o);
End:
    vs__call_end(&call);
}
