/* engine_int.h: what the engine's own files (engine*.c) share and nobody else uses: the
 * engine struct, the key-material cache, row access and the sealing of private keys. */
#ifndef VS_ENGINE_INT_H
#define VS_ENGINE_INT_H

#include <sqlite3.h>

#include "common/rng.h"
#include "common/rootkey.h"
#include "engine.h"

#define VS_SEAL_LABEL    "vaultsim key material"
#define VS_BACKUP_LABEL  "vaultsim backup"
#define VS_CACHE_MAX     4096
#define VS_CACHE_BUCKETS 1024

/* A private key opened from its sealed row. */
struct vs_cached {
    struct vs_cached *hnext;       /* bucket chain */
    struct vs_cached *prev, *next; /* LRU list, most recent first */
    char *id;                      /* "space\nname(lowercase)\nversion" */
    EVP_PKEY *pkey;                /* RSA/EC */
    unsigned char *oct;            /* oct key bytes (cleansed on free) */
    size_t octlen;
};

struct vs_engine {
    struct cmk_runtime *rt;
    sqlite3 *db;
    struct vs_engine_policy policy;
    char kind[16];
    struct cmk_rootkey root;
    struct cmk_rng rng; /* key versions */
    struct cmk_timer timer;
    int timer_busy;
    struct vs_cached *buckets[VS_CACHE_BUCKETS];
    struct vs_cached *lru_head, *lru_tail;
    size_t ncached;
};

/* Columns read into struct vs_key by vs__read_row(), in this order (k: vs_keys, v: versions). */
#define KEY_COLS                                                                                   \
    "v.name, v.version, v.kty, v.size, v.crv, v.ops, v.enabled, v.nbf, v.exp, v.created,"          \
    " v.updated, v.exportable, v.tags, v.pub, k.managed, k.deleted, k.deleted_date,"               \
    " k.purge_date, v.jwk"

/* engine.c */
int vs__db_error(struct vs_engine *e, struct cmk_err *err);
int vs__check_name(const char *name, struct cmk_err *err); /* 400 BadParameter if invalid */
void vs__read_row(sqlite3_stmt *st, const struct vs_space *s, struct vs_key *k);
/* Delete a key's rows (all versions) and drop it from the cache. */
int vs__purge_rows(struct vs_engine *e, const char *space, const char *name);
void vs__space_levels(const struct vs_space *s, struct vs_key *k);
/* Read one version row (version NULL/"" = latest) with its key row's deletion state. */
int vs__read_version(struct vs_engine *e, const struct vs_space *s, const char *name,
                     const char *version, int deleted, struct vs_key *out, struct cmk_err *err);
/* Insert a version (key row created or its latest moved); sealed private material given. */
int vs__insert_version(struct vs_engine *e, const struct vs_space *s, const char *name,
                       const struct vs_key *k, const unsigned char *sealed, size_t sealedlen,
                       struct cmk_err *err);
void vs__new_version(struct vs_engine *e, char out[33]);
int vs__key_not_found(const struct vs_space *s, const char *name, const char *version,
                      struct cmk_err *err);
int vs__deleted_conflict(const char *name, struct cmk_err *err);
/* 0: no such key; 1: live; 2: deleted. */
int vs__key_state(struct vs_engine *e, const struct vs_space *s, const char *name);
void vs__rearm(struct vs_engine *e);
/* Transactions that nest: inside an open transaction (an ARM request's) they become a
 * savepoint. Returns a token for commit/rollback, or -1 on failure. */
int vs__tx_begin(struct vs_engine *e);
int vs__tx_commit(struct vs_engine *e, int token);
void vs__tx_rollback(struct vs_engine *e, int token);
void vs__aad(const char *space, const char *name, const char *version, struct cmk_buf *out);

/* engine_cache.c */
void vs__cache_put(struct vs_engine *e, const char *space, const char *name, const char *version,
                   EVP_PKEY *pkey, const unsigned char *oct, size_t octlen);
struct vs_cached *vs__cache_get(struct vs_engine *e, const char *space, const char *name,
                                const char *version);
void vs__cache_drop(struct vs_engine *e, const char *space, const char *name);
void vs__cache_flush(struct vs_engine *e);

static inline int vs__is_rsa(enum vs_kty k)
{
    return k == VS_KTY_RSA || k == VS_KTY_RSA_HSM;
}

static inline int vs__is_ec(enum vs_kty k)
{
    return k == VS_KTY_EC || k == VS_KTY_EC_HSM;
}

/* engine_material.c */
/* Generate key material for p; *pkey for RSA/EC, oct bytes otherwise. */
int vs__generate(const struct vs_key_params *p, EVP_PKEY **pkey, unsigned char *oct, size_t *octlen,
                 struct cmk_err *err);
/* Serialise and seal (pkey or oct) under the root key for (space, name, version). */
int vs__seal(struct vs_engine *e, const char *space, const char *name, const char *version,
             EVP_PKEY *pkey, const unsigned char *oct, size_t octlen, struct cmk_buf *out);
/* Fetch the opened material of a version, from the cache or its sealed row. */
int vs__material(struct vs_engine *e, const struct vs_space *s, const char *name,
                 const char *version, struct vs_cached **out, struct cmk_err *err);
/* Fill pub/publen/size/crv of k from pkey. */
int vs__describe_pkey(EVP_PKEY *pkey, struct vs_key *k);
/* Store a new version with material; fills out. */
int vs__store_new(struct vs_engine *e, const struct vs_space *s, const char *name, struct vs_key *k,
                  EVP_PKEY *pkey, const unsigned char *oct, size_t octlen, struct vs_key *out,
                  struct cmk_err *err);
int vs__check_type(const struct vs_space *s, enum vs_kty kty, struct cmk_err *err);
unsigned vs__default_ops(enum vs_kty kty);

/* engine_json.c */
/* {n, e} or {crv, x, y} of a key (new reference). */
json_t *vs__public_members(EVP_PKEY *pkey, enum vs_crv crv);

/* engine_rotation.c */
/* Recompute next_rotate / next_notify of a key after its policy or latest version changed. */
int vs__rotation_schedule(struct vs_engine *e, const char *space, const char *name);
/* Timer work: rotations and notifications due at now. */
void vs__rotation_due(struct vs_engine *e, int64_t now);
/* exp for a new version from the key's policy expiryTime (0 if none). */
int64_t vs__rotation_expiry(struct vs_engine *e, const char *space, const char *name,
                            int64_t created);

#endif
