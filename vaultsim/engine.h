/* engine.h: the key engine that Key Vault (vaultsim) and Managed HSM (hsmsim) share.
 *
 * One engine, pluggable policy (DESIGN.md: Keys). The engine owns keys and their versions,
 * attributes, tags, the crypto operations, the soft-delete lifecycle (deleted keys, recover,
 * purge, the automatic purge on the clock), backup blobs, rotation policies (executed on the
 * clock) and the storage of all of it in the runtime's SQLite (tables vs_keys and
 * vs_key_versions, migrated under the module name "vaultsim"). It knows nothing of HTTP,
 * tokens or who is calling: the keys data plane (keys_api.h) and the flavours (vault.h,
 * hsmsim) sit on top.
 *
 * Policy. A flavour opens its own engine with a struct vs_engine_policy (kind "vault" or
 * "hsm", which partitions the tables and binds backup blobs) and passes, on every call, a
 * struct vs_space: the container (a vault or an HSM) with its soft-delete retention, purge
 * protection, allowed key types and subscription. What differs between the flavours is only
 * in those two structs and in the request policy of keys_api.h.
 *
 * Keys at rest. Public parts are stored as DER; private parts (RSA/EC private keys, oct key
 * bytes) are stored only sealed with AES-256-GCM under the emulator root key
 * (common/rootkey.h, label "vaultsim key material", the key's space/name/version as aad).
 * Opened keys live in a bounded in-memory cache of EVP_PKEY (or wiped byte buffers for oct)
 * so a hot unwrapKey never touches SQLite for key material; evicted or purged entries are
 * freed with their memory cleansed.
 *
 * Time. Attributes are Unix seconds, as on the wire. "Now" is the runtime clock. One clock
 * timer is armed at the earliest due time among scheduled purges and rotation-policy actions;
 * it is re-armed from the tables when the engine opens, so a restart resumes the schedule.
 *
 * Errors. Functions return 0 or a negative CMK_E* code and fill err with the Key Vault
 * service's status, code, inner code and message ("KeyNotFound", "Conflict"/
 * "ObjectIsDeletedButRecoverable", "Forbidden"/"KeyDisabled", "BadParameter"...).
 *
 * Ownership: struct vs_key is filled by the engine and released with vs_key_clear. Threads:
 * everything runs on the loop thread, except vs_pkey_* which only touch the EVP_PKEY handed
 * out (reference-counted) and may run on a worker thread.
 */
#ifndef VS_ENGINE_H
#define VS_ENGINE_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"

struct cmk_runtime;

/* ---- key types, curves, operations, algorithms --------------------------------------- */

enum vs_kty {
    VS_KTY_EC,
    VS_KTY_EC_HSM,
    VS_KTY_RSA,
    VS_KTY_RSA_HSM,
    VS_KTY_OCT,
    VS_KTY_OCT_HSM,
    VS_KTY__COUNT
};
#define VS_KTY_BIT(k)    (1u << (k))
#define VS_KTYS_SOFTWARE (VS_KTY_BIT(VS_KTY_EC) | VS_KTY_BIT(VS_KTY_RSA))
#define VS_KTYS_HSM_ASYM (VS_KTY_BIT(VS_KTY_EC_HSM) | VS_KTY_BIT(VS_KTY_RSA_HSM))
#define VS_KTYS_OCT      (VS_KTY_BIT(VS_KTY_OCT) | VS_KTY_BIT(VS_KTY_OCT_HSM))

enum vs_crv { VS_CRV_NONE, VS_CRV_P256, VS_CRV_P384, VS_CRV_P521, VS_CRV_P256K };

/* JsonWebKeyOperation, as a bit mask. */
enum vs_keyop {
    VS_OP_ENCRYPT = 1 << 0,
    VS_OP_DECRYPT = 1 << 1,
    VS_OP_SIGN = 1 << 2,
    VS_OP_VERIFY = 1 << 3,
    VS_OP_WRAP = 1 << 4,
    VS_OP_UNWRAP = 1 << 5,
    VS_OP_IMPORT = 1 << 6,
    VS_OP_EXPORT = 1 << 7,
};

/* JsonWebKeyEncryptionAlgorithm and JsonWebKeySignatureAlgorithm the engine implements. */
enum vs_alg {
    VS_ALG_NONE,
    VS_ALG_RSA_OAEP,
    VS_ALG_RSA_OAEP_256,
    VS_ALG_RSA1_5,
    VS_ALG_A128KW,
    VS_ALG_A192KW,
    VS_ALG_A256KW,
    VS_ALG_A128GCM,
    VS_ALG_A192GCM,
    VS_ALG_A256GCM,
    VS_ALG_A128CBC,
    VS_ALG_A192CBC,
    VS_ALG_A256CBC,
    VS_ALG_A128CBCPAD,
    VS_ALG_A192CBCPAD,
    VS_ALG_A256CBCPAD,
    VS_ALG_RS256,
    VS_ALG_RS384,
    VS_ALG_RS512,
    VS_ALG_PS256,
    VS_ALG_PS384,
    VS_ALG_PS512,
    VS_ALG_ES256,
    VS_ALG_ES384,
    VS_ALG_ES512,
    VS_ALG_ES256K,
};

const char *vs_kty_name(enum vs_kty kty);          /* "RSA-HSM" */
int vs_kty_parse(const char *s, enum vs_kty *out); /* case-sensitive, as the service */
const char *vs_crv_name(enum vs_crv crv);
int vs_crv_parse(const char *s, enum vs_crv *out);
const char *vs_alg_name(enum vs_alg alg);
enum vs_alg vs_alg_parse(const char *s); /* VS_ALG_NONE if unknown */
/* JSON array of key_ops names (new ref) / parse one into a mask (CMK_EINVAL if unknown). */
json_t *vs_keyops_json(unsigned ops);
int vs_keyops_parse(const json_t *arr, unsigned *out);
const char *vs_keyop_name(unsigned op); /* one bit: "wrapKey" */

/* ---- containers and policy ------------------------------------------------------------ */

/* The container a call acts in: a vault or a managed HSM. Filled by the flavour. */
struct vs_space {
    char id[160];           /* table partition: "<kind>/<name>", e.g. "vault/myvault" */
    char name[128];         /* vault or HSM name, for messages */
    char subscription[64];  /* bound into backup blobs */
    int retention_days;     /* soft-delete retention (7..90); 0: deletes purge at once */
    int purge_protection;   /* purge refused until scheduledPurgeDate */
    unsigned key_types;     /* VS_KTY_BIT mask of kty values create/import accept */
    const char *kind_label; /* "key vault" / "managed HSM" in messages */
};

/* Engine-level policy of a flavour. Versioned like SQLite's VFS: fields only grow at the end. */
struct vs_engine_policy {
    int version;      /* 1 */
    const char *kind; /* "vault" | "hsm": partitions the tables, binds backup blobs */
    /* Resolve a space id (from the tables) for timer work; return 0, or CMK_ENOTFOUND when
     * the container is gone or soft-deleted (its scheduled rotations then wait). */
    int (*space_lookup)(void *data, const char *space_id, struct vs_space *out);
    /* Told about work done on the clock (auto purge, auto rotate, notify), e.g. for audit.
     * what: "KeyPurge" | "KeyRotate" | "KeyNearExpiry". May be NULL. */
    void (*on_event)(void *data, const char *space_id, const char *what, const char *name,
                     const char *version);
    void *data;
};

/* ---- keys ------------------------------------------------------------------------------ */

struct vs_attrs {
    int enabled; /* -1: not given */
    int64_t nbf; /* Unix seconds; 0: not set */
    int64_t exp; /* Unix seconds; 0: not set */
    int has_nbf; /* given in the request (nbf may be cleared with null) */
    int has_exp;
    int exportable; /* -1: not given */
};
void vs_attrs_init(struct vs_attrs *a); /* nothing given */

/* One key version as the API shows it (never private parts). */
struct vs_key {
    char name[128];
    char version[33];
    enum vs_kty kty;
    int size; /* RSA modulus bits, oct key bits; 0 for EC */
    enum vs_crv crv;
    unsigned ops; /* key_ops */
    int enabled;
    int64_t nbf, exp; /* 0: not set */
    int64_t created, updated;
    int exportable;
    int managed;
    json_t *tags;       /* object; owned */
    unsigned char *pub; /* DER SubjectPublicKeyInfo; NULL for oct; owned */
    size_t publen;
    json_t *jwk; /* the public JWK members (n, e / crv, x, y); NULL for oct; owned */
    /* deletion state (deleted list/get, and what a deleted bundle shows) */
    int deleted;
    int64_t deleted_date, scheduled_purge_date;
    /* from the space when read */
    int recoverable_days;
    char recovery_level[48];
};
void vs_key_clear(struct vs_key *k);

struct vs_key_params {
    enum vs_kty kty;
    int size;             /* RSA: 2048 (default), 3072, 4096; oct: 128, 192, 256 (default 256) */
    enum vs_crv crv;      /* EC: default P-256 */
    long public_exponent; /* 0: 65537 */
    unsigned ops;         /* 0 with ops_given == 0: the default ops of kty */
    int ops_given;
    struct vs_attrs attrs;
    json_t *tags; /* borrowed, may be NULL */
};

struct vs_engine;

int vs_engine_open(struct vs_engine **out, struct cmk_runtime *rt,
                   const struct vs_engine_policy *policy, struct cmk_err *err)
    __attribute__((warn_unused_result));
void vs_engine_free(struct vs_engine *e);
struct cmk_runtime *vs_engine_runtime(struct vs_engine *e);
/* Drop every cached private key (tests; memory pressure). */
void vs_engine_cache_flush(struct vs_engine *e);
/* Unix seconds now, from the runtime clock. */
int64_t vs_engine_now(struct vs_engine *e);

/* Create a new key, or a new version of an existing one (the service's semantics). */
int vs_key_create(struct vs_engine *e, const struct vs_space *s, const char *name,
                  const struct vs_key_params *p, struct vs_key *out, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Import a JWK (object with kty and private parts; never stored in clear). hsm: import as
 * RSA-HSM/EC-HSM/oct-HSM. */
int vs_key_import_jwk(struct vs_engine *e, const struct vs_space *s, const char *name,
                      const json_t *jwk, int hsm, const struct vs_attrs *attrs, const json_t *tags,
                      struct vs_key *out, struct cmk_err *err) __attribute__((warn_unused_result));
/* Import the private key of a PKCS#12 (.pfx) file given as bytes. */
int vs_key_import_pkcs12(struct vs_engine *e, const struct vs_space *s, const char *name,
                         const void *pfx, size_t len, const char *password, int hsm,
                         const struct vs_attrs *attrs, const json_t *tags, struct vs_key *out,
                         struct cmk_err *err) __attribute__((warn_unused_result));
/* version NULL or "": the latest. Refuses a disabled key (403 KeyDisabled) unless
 * allow_disabled. */
int vs_key_get(struct vs_engine *e, const struct vs_space *s, const char *name, const char *version,
               int allow_disabled, struct vs_key *out, struct cmk_err *err)
    __attribute__((warn_unused_result));
struct vs_key_update {
    struct vs_attrs attrs;
    unsigned ops;
    int ops_given;
    json_t *tags; /* NULL: unchanged; borrowed */
};
int vs_key_update(struct vs_engine *e, const struct vs_space *s, const char *name,
                  const char *version, const struct vs_key_update *u, struct vs_key *out,
                  struct cmk_err *err) __attribute__((warn_unused_result));

/* Pages. after: the last name (or version) of the previous page, "" for the first.
 * Fills up to max keys (latest version of each key, or each version of one key, or deleted
 * keys); *more says whether a next page exists. Items are freed with vs_key_list_free. */
int vs_key_list(struct vs_engine *e, const struct vs_space *s, const char *after, size_t max,
                struct vs_key **items, size_t *n, int *more, struct cmk_err *err);
int vs_key_list_versions(struct vs_engine *e, const struct vs_space *s, const char *name,
                         const char *after, size_t max, struct vs_key **items, size_t *n, int *more,
                         struct cmk_err *err);
int vs_key_list_deleted(struct vs_engine *e, const struct vs_space *s, const char *after,
                        size_t max, struct vs_key **items, size_t *n, int *more,
                        struct cmk_err *err);
void vs_key_list_free(struct vs_key *items, size_t n);
/* Number of keys (not deleted) in a space. */
int vs_key_count(struct vs_engine *e, const struct vs_space *s);

/* ---- soft-delete lifecycle -------------------------------------------------------------- */

/* Soft-delete every version (purge at once if the space has no retention). out: the deleted
 * bundle (latest version). */
int vs_key_delete(struct vs_engine *e, const struct vs_space *s, const char *name,
                  struct vs_key *out, struct cmk_err *err) __attribute__((warn_unused_result));
int vs_key_get_deleted(struct vs_engine *e, const struct vs_space *s, const char *name,
                       struct vs_key *out, struct cmk_err *err) __attribute__((warn_unused_result));
int vs_key_recover(struct vs_engine *e, const struct vs_space *s, const char *name,
                   struct vs_key *out, struct cmk_err *err) __attribute__((warn_unused_result));
/* Refused (403) under purge protection before scheduledPurgeDate. */
int vs_key_purge(struct vs_engine *e, const struct vs_space *s, const char *name,
                 struct cmk_err *err) __attribute__((warn_unused_result));
/* Every key of a space, deleted or not, gone for good (the container was purged). */
int vs_space_purge(struct vs_engine *e, const char *space_id, struct cmk_err *err);

/* ---- crypto ----------------------------------------------------------------------------- */

struct vs_crypt_in {
    enum vs_alg alg;
    const unsigned char *value; /* plaintext / ciphertext / digest / key to wrap */
    size_t len;
    const unsigned char *iv, *aad, *tag; /* symmetric algorithms */
    size_t ivlen, aadlen, taglen;
    const unsigned char *sig; /* verify */
    size_t siglen;
};
struct vs_crypt_out {
    char version[33];     /* the version that did the work (kid) */
    struct cmk_buf value; /* result bytes; cleansed by vs_crypt_out_close */
    struct cmk_buf iv, tag;
    int verified; /* verify */
};
void vs_crypt_out_init(struct vs_crypt_out *o);
void vs_crypt_out_close(struct vs_crypt_out *o);

/* op is one VS_OP_* bit: encrypt, decrypt, sign, verify, wrapKey, unwrapKey. Checks that the
 * key exists, is enabled, is within nbf/exp for encrypt/sign/wrapKey, allows op in key_ops,
 * and that alg fits the key type. */
int vs_key_crypt(struct vs_engine *e, const struct vs_space *s, const char *name,
                 const char *version, unsigned op, const struct vs_crypt_in *in,
                 struct vs_crypt_out *out, struct cmk_err *err) __attribute__((warn_unused_result));

/* The same checks as vs_key_crypt, then hand out the private key (an extra reference) so the
 * operation itself can run elsewhere (a worker thread): vs_pkey_crypt then EVP_PKEY_free.
 * Asymmetric keys only (CMK_EINVAL for oct). */
int vs_key_crypt_prepare(struct vs_engine *e, const struct vs_space *s, const char *name,
                         const char *version, unsigned op, enum vs_alg alg, EVP_PKEY **pkey,
                         char version_out[33], struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Thread-safe: one asymmetric operation with pkey. */
int vs_pkey_crypt(EVP_PKEY *pkey, unsigned op, const struct vs_crypt_in *in,
                  struct vs_crypt_out *out, struct cmk_err *err);

/* ---- rotation --------------------------------------------------------------------------- */

/* A new version with the same type, size, curve, ops and tags; exp from the rotation
 * policy's expiryTime when set. */
int vs_key_rotate(struct vs_engine *e, const struct vs_space *s, const char *name,
                  struct vs_key *out, struct cmk_err *err) __attribute__((warn_unused_result));
/* The policy as the API shows it (new ref): {"id", "lifetimeActions", "attributes"}; a key
 * without a policy gets the service's default (notify 30 days before expiry). base: vault
 * URL without the trailing "/" (for "id"). */
int vs_rotation_get(struct vs_engine *e, const struct vs_space *s, const char *name,
                    const char *base, json_t **out, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Validate and store a policy given as the API's JSON; returns the stored form. */
int vs_rotation_set(struct vs_engine *e, const struct vs_space *s, const char *name,
                    const json_t *policy, const char *base, json_t **out, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Add an ISO 8601 duration ("P90D", "P3M", "PT48H", "P1Y10D") to t (Unix seconds), calendar-
 * aware for years and months. CMK_EPARSE if malformed. */
int vs_iso_duration_add(const char *dur, int64_t t, int64_t *out);

/* ---- backup ----------------------------------------------------------------------------- */

/* An opaque blob holding every version of the key: authenticated and encrypted under the
 * emulator root key, bound to the engine kind and the space's subscription. *blob is
 * malloc'd (caller frees). */
int vs_key_backup(struct vs_engine *e, const struct vs_space *s, const char *name,
                  unsigned char **blob, size_t *len, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Refused (400 BadParameter) when the blob is not from this emulator, kind or subscription,
 * and (409 Conflict) when the name exists (or is deleted) in s. */
int vs_key_restore(struct vs_engine *e, const struct vs_space *s, const void *blob, size_t len,
                   struct vs_key *out, struct cmk_err *err) __attribute__((warn_unused_result));

/* ---- JSON shapes (keys_api.c and hsmsim render the same) --------------------------------- */

/* base: "https://myvault.vault.azure.net" (no trailing "/"). New references. */
char *vs_kid(const char *base, const char *name, const char *version); /* malloc'd */
json_t *vs_key_jwk_json(const struct vs_key *k, const char *base);     /* public JWK */
json_t *vs_key_attrs_json(const struct vs_key *k);
json_t *vs_key_bundle_json(const struct vs_key *k, const char *base); /* KeyBundle/Deleted */
json_t *vs_key_item_json(const struct vs_key *k, const char *base);   /* KeyItem/Deleted */

#endif
