/* keys_crypt.c: the handlers of the keys data plane that use key material: encrypt, decrypt,
 * wrapKey, unwrapKey, sign, verify (one shape, by version or versionless), release (always
 * refused: keys are never exportable) and random bytes. Plaintexts that pass through request
 * bodies are cleansed after use.
 *
 * Threads: everything runs on the loop except the RSA/EC private-key computation of decrypt,
 * unwrapKey and sign, which goes to libuv's thread pool when the request came through the
 * socket door in real or scaled mode (router.h, cmk_request_defer). The worker sees only its
 * job: an up-ref'd EVP_PKEY, copies of the inputs, its output buffers. The pipeline (token,
 * firewall, permission, throttle), the key lookup and its checks come before; the response and
 * the AuditEvent are built after, on the loop, by the same code as the inline path. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "keys_int.h"

/* One crypto request: its inputs (decoded from the body), its result, and, while it is on a
 * worker, the pipeline's state for the answer and the audit. */
struct vs__crypt_job {
    struct vs_call call; /* a copy once deferred: the handler's frame is gone by then */
    unsigned op;
    struct vs_crypt_in in;
    unsigned char *value, *iv, *aad, *tag, *sig;
    size_t vlen, ivlen, aadlen, taglen, siglen;
    EVP_PKEY *pkey; /* deferred: an extra reference to the private key */
    struct vs_crypt_out out;
    int rc;                            /* the worker's result */
    struct cmk_err werr;               /* the worker's error */
    struct vs__crypt_job *prev, *next; /* ks->deferred: on a worker */
};

/* Only the private-key operations cost enough to leave the loop: RSA decrypt/unwrap and
 * RSA/EC sign. Public ones (encrypt, wrap, verify: tens of microseconds) and AES stay inline. */
static int worth_deferring(unsigned op, enum vs_alg alg)
{
    int asym = (alg >= VS_ALG_RSA_OAEP && alg <= VS_ALG_RSA1_5) ||
               (alg >= VS_ALG_RS256 && alg <= VS_ALG_ES256K);
    return asym && (op & (VS_OP_DECRYPT | VS_OP_UNWRAP | VS_OP_SIGN));
}

static void job_free(struct vs__crypt_job *j)
{
    vs_crypt_out_close(&j->out);
    if (j->value) {
        OPENSSL_cleanse(j->value, j->vlen);
        free(j->value);
    }
    free(j->iv);
    free(j->aad);
    free(j->tag);
    free(j->sig);
    EVP_PKEY_free(j->pkey);
    free(j);
}

/* The answer (as every crypto handler gives it), the cleanup, the audit. */
static void finish(struct vs_call *call, struct vs__crypt_job *j, int rc)
{
    if (rc != 0) {
        vs__call_fail(call);
    } else {
        char *kid = vs_kid(call->base, call->name, j->out.version);
        snprintf(call->kid, sizeof(call->kid), "%s", kid);
        json_t *o = json_object();
        if (j->op == VS_OP_VERIFY) {
            json_object_set_new(o, "value", json_boolean(j->out.verified));
        } else {
            json_object_set_new(o, "kid", json_string(kid));
            vs__set_b64(o, "value", j->out.value.data, j->out.value.len);
            if (j->out.iv.len)
                vs__set_b64(o, "iv", j->out.iv.data, j->out.iv.len);
            if (j->out.tag.len)
                vs__set_b64(o, "tag", j->out.tag.data, j->out.tag.len);
            if (j->out.tag.len && j->aadlen)
                vs__set_b64(o, "aad", j->aad, j->aadlen);
        }
        free(kid);
        cmk_response_json(call->res, 200, o);
    }
    /* Plaintexts and unwrapped keys passed through the request and response bodies. */
    if (j->op == VS_OP_ENCRYPT || j->op == VS_OP_WRAP)
        OPENSSL_cleanse(call->req->body.data, call->req->body.len);
    vs__call_end(call); /* call may be j's own */
    job_free(j);
}

/* On a worker thread: only the job's own inputs, output and key reference. */
static void crypt_work(void *arg)
{
    struct vs__crypt_job *j = arg;
    j->rc = vs_pkey_crypt(j->pkey, j->op, &j->in, &j->out, &j->werr);
}

/* Back on the loop (or inline, straight after crypt_work). */
static void crypt_done(struct cmk_request *req, struct cmk_response *res, void *arg, int rc)
{
    struct vs__crypt_job *j = arg;
    struct vs_keys *ks = j->call.ks;
    if (ks == NULL) {
        /* vs_keys_free ran while the work was out (the service is gone): no audit log left */
        struct cmk_err err;
        cmk_err_set(&err, CMK_EUNAVAIL, 503, "ServiceUnavailable",
                    "The service is shutting down; the operation was not completed.");
        cmk_response_error(res, &err);
        job_free(j);
        return;
    }
    if (j->prev)
        j->prev->next = j->next;
    else
        ks->deferred = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->call.req = req;
    j->call.res = res;
    if (rc != 0) {
        rc = cmk_err_set(&j->call.err, CMK_EUNAVAIL, 503, "ServiceUnavailable",
                         "The operation was cancelled before it ran: the service is stopping or "
                         "the client closed the connection.");
    } else if ((rc = j->rc) != 0) {
        j->call.err = j->werr;
    }
    finish(&j->call, j, rc);
}

/* vs_keys_free: jobs still on a worker outlive the service; their completion answers 503. */
void vs__crypt_orphan(struct vs_keys *ks)
{
    for (struct vs__crypt_job *j = ks->deferred; j; j = j->next)
        j->call.ks = NULL;
    ks->deferred = NULL;
}

/* encrypt, decrypt, wrapKey, unwrapKey, sign, verify: one shape. The pipeline, the lookup
 * and every check run here, on the loop; a private-key operation then goes to a worker when
 * the request can wait for it (router.h: cmk_request_defer), and runs inline otherwise. */
static void crypt_op(struct cmk_request *req, struct cmk_response *res, void *data, unsigned op,
                     enum vs_perm perm, const char *opname)
{
    BEGIN(perm, opname);
    json_t *body = vs__body_object(&call);
    struct vs__crypt_job *j = cmk_xcalloc(1, sizeof(*j));
    j->op = op;
    vs_crypt_out_init(&j->out);
    const char *alg = json_string_value(json_object_get(body, "alg"));
    int rc = body ? 0 : CMK_EINVAL;
    if (rc == 0 && alg == NULL)
        rc = vs__bad(&call, "The parameter 'alg' is required.%s", "");
    if (rc == 0 && (j->in.alg = vs_alg_parse(alg)) == VS_ALG_NONE)
        rc = vs__bad(&call, "The algorithm '%.40s' is not supported.", alg);
    if (op == VS_OP_VERIFY) {
        /* verify: "digest" is what was signed, "value" the signature */
        if (rc == 0)
            rc = vs__b64_member(&call, body, "digest", 1, &j->value, &j->vlen);
        if (rc == 0)
            rc = vs__b64_member(&call, body, "value", 1, &j->sig, &j->siglen);
    } else if (rc == 0) {
        rc = vs__b64_member(&call, body, "value", 1, &j->value, &j->vlen);
    }
    if (rc == 0)
        rc = vs__b64_member(&call, body, "iv", 0, &j->iv, &j->ivlen);
    if (rc == 0)
        rc = vs__b64_member(&call, body, "aad", 0, &j->aad, &j->aadlen);
    if (rc == 0)
        rc = vs__b64_member(&call, body, "tag", 0, &j->tag, &j->taglen);
    if (rc == 0) {
        j->in.value = j->value;
        j->in.len = j->vlen;
        j->in.iv = j->iv;
        j->in.ivlen = j->ivlen;
        j->in.aad = j->aad;
        j->in.aadlen = j->aadlen;
        j->in.tag = j->tag;
        j->in.taglen = j->taglen;
        j->in.sig = j->sig;
        j->in.siglen = j->siglen;
        if (!worth_deferring(op, j->in.alg)) {
            rc = vs_key_crypt(ks->engine, &call.c.space, call.name, call.version, op, &j->in,
                              &j->out, &call.err);
        } else {
            /* the same lookup and checks as vs_key_crypt, then the key for the worker */
            rc = vs_key_crypt_prepare(ks->engine, &call.c.space, call.name, call.version, op,
                                      j->in.alg, &j->pkey, j->out.version, &call.err);
            if (rc == 0) {
                j->call = call;
                j->next = ks->deferred;
                if (j->next)
                    j->next->prev = j;
                ks->deferred = j;
                cmk_request_defer(req, res, crypt_work, crypt_done, j);
                return; /* crypt_done answers and ends the call */
            }
        }
    }
    finish(&call, j, rc);
    return;
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
