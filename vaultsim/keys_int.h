/* keys_int.h: what keys_api.c (the pipeline) and keys_routes.c (the handlers) share. */
#ifndef VS_KEYS_INT_H
#define VS_KEYS_INT_H

#include "common/rng.h"
#include "keys_api.h"

#define VS_THROTTLE_BUCKETS 256

struct vs__crypt_job;

struct vs_bucket {
    struct vs_bucket *next;
    char *space;
    double tokens;
    cmk_time_t last;
};

struct vs_keys {
    struct cmk_runtime *rt;
    struct vs_engine *engine;
    struct vs_audit *audit;
    struct vs_keys_policy policy;
    struct cmk_rng rng; /* request ids */
    double rate, burst;
    struct vs_bucket *buckets[VS_THROTTLE_BUCKETS];
    char local_resource[192];
    const char *audiences[5];
    struct vs__crypt_job *deferred; /* keys_crypt.c: operations whose key work is on a worker */
};

/* One request on its way through the pipeline. */
struct vs_call {
    struct vs_keys *ks;
    struct cmk_request *req;
    struct cmk_response *res;
    struct vs_container c;
    int have_container;
    struct cmk_principal p;
    int have_principal;
    const char *op; /* audit operationName, "KeyUnwrap" */
    enum vs_perm perm;
    const char *name;    /* key name from the path, or NULL */
    const char *version; /* version from the path, or NULL */
    char base[320];      /* "https://myvault.vault.azure.net" as the client addressed it */
    char kid[640];       /* the object the request was about, for the audit */
    int local;           /* the request used the local suffix */
    struct cmk_err err;
};

/* Run steps 0-7 of the pipeline (keys_api.h). 0: go on; otherwise the error answer is in
 * call->res. name: the key the operation is about (authorization scope), or NULL. */
int vs__call_begin(struct vs_call *call, struct vs_keys *ks, struct cmk_request *req,
                   struct cmk_response *res, enum vs_perm perm, const char *op);
/* The same with flags: VS_KEYS_CALL_INACTIVE_OK (keys_api.h) skips step 5; VS__CALL_FLAVOUR
 * marks a flavour's own route (keys_flavour.c): no key name, no step 6. */
#define VS__CALL_FLAVOUR (1u << 16)
int vs__call_begin_flags(struct vs_call *call, struct vs_keys *ks, struct cmk_request *req,
                         struct cmk_response *res, enum vs_perm perm, const char *op,
                         unsigned flags);
/* Answer call->err (and remember it for the audit). */
void vs__call_fail(struct vs_call *call);
/* Common headers and the audit event; every handler ends with it. */
void vs__call_end(struct vs_call *call);

/* keys_routes.c: the helpers every handler uses, and the route table */
void vs__keys_register(struct vs_keys *ks);
int vs__bad(struct vs_call *call, const char *fmt, const char *arg); /* 400 BadParameter */
json_t *vs__body_object(struct vs_call *call); /* the body, a JSON object, or NULL (err set) */
/* A base64url member into malloc'd *out (NULL, 0 when absent and not required). */
int vs__b64_member(struct vs_call *call, const json_t *body, const char *field, int required,
                   unsigned char **out, size_t *len);
void vs__set_b64(json_t *o, const char *field, const void *p, size_t n);
void vs__engine_fail(struct vs_call *call, const struct cmk_err *err);

/* Every handler starts with BEGIN (the pipeline) and ends at End: with vs__call_end. */
#define BEGIN(perm, op)                                                                            \
    struct vs_keys *ks = data;                                                                     \
    struct vs_call call;                                                                           \
    struct cmk_err err;                                                                            \
    cmk_err_clear(&err);                                                                           \
    (void)err;                                                                                     \
    if (vs__call_begin(&call, ks, req, res, perm, op) != 0)                                        \
        goto End;

/* keys_crypt.c */
void vs__h_encrypt(struct cmk_request *req, struct cmk_response *res, void *data);
void vs__h_decrypt(struct cmk_request *req, struct cmk_response *res, void *data);
void vs__h_wrap(struct cmk_request *req, struct cmk_response *res, void *data);
void vs__h_unwrap(struct cmk_request *req, struct cmk_response *res, void *data);
void vs__h_sign(struct cmk_request *req, struct cmk_response *res, void *data);
void vs__h_verify(struct cmk_request *req, struct cmk_response *res, void *data);
void vs__h_release(struct cmk_request *req, struct cmk_response *res, void *data);
void vs__h_rng(struct cmk_request *req, struct cmk_response *res, void *data);
/* vs_keys_free: operations still on a worker outlive the service; they answer 503, unaudited. */
void vs__crypt_orphan(struct vs_keys *ks);

#endif
