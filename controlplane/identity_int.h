/* identity_int.h: what the files of the identity service share and nobody else uses
 * (identity.c: directory, store, tokens; identity_login.c: the login host; identity_msi.c:
 * the managed identity endpoint; identity_arm.c: the ARM provider). Names carry a double
 * prefix (cp__identity_) like libuv's internals. */
#ifndef CP_IDENTITY_INT_H
#define CP_IDENTITY_INT_H

#include "common/rng.h"
#include "identity.h"

struct cp_identity {
    struct cmk_runtime *rt;
    struct cmk_rng trace_rng; /* trace and correlation ids of error bodies */
    char msi_header[65];
    /* The ARM providers (identity_arm.c); the core keeps pointers to them. */
    struct cmk_arm_provider provider, fic_provider;
};

/* A fresh generator stream for one creation, restart-safe: a counter kept in the store picks
 * the stream, so ids never repeat after a reopen with the same seed. Call inside the
 * creating transaction. */
int cp__identity_rng(struct cp_identity *ids, struct cmk_rng *out, struct cmk_err *err);

/* Find a principal of any kind by object id, client id or (managed identities) ARM id. */
int cp__identity_principal_find(struct cmk_runtime *rt, const char *ref, struct cp_principal *out);
/* 1 if secret is the service principal's, 0 if not (constant time on the hash). */
int cp__identity_secret_ok(struct cmk_runtime *rt, const char *client_id, const char *secret);

/* Turn a scope (".../.default") or v1 resource into the token audience. Returns 0 and fills
 * aud, or -1 if the resource is not one this emulator (or the cloud it mimics) knows. */
int cp__identity_audience(const struct cmk_hosts *hosts, const char *resource, char *aud, size_t n);
/* Sign a token for p with audience aud, valid from now for CP_IDENTITY_TOKEN_LIFETIME.
 * login_host: the host the request came in on (v2 issuer); NULL: the cloud's. */
int cp__identity_issue(struct cmk_runtime *rt, const struct cp_principal *p, const char *aud,
                       const char *login_host, char **token, cmk_time_t *exp, struct cmk_err *err);

/* Store helpers shared by the files of the service. */
int cp__identity_db_err(struct cmk_err *err, sqlite3 *db, const char *what);
void cp__identity_copy_col(sqlite3_stmt *s, int col, char *dst, size_t n);
void cp__identity_lower(char *dst, size_t n, const char *src);
/* DELETE FROM identity_principals WHERE kind = kind AND where (binding ?1..?3 to a, b, c;
 * b and c may be NULL). Returns the rows deleted, or -1. */
int cp__identity_principal_delete(sqlite3 *db, const char *kind, const char *where, const char *a,
                                  const char *b, const char *c);
/* The principal record of a managed identity: create or update it in identity_principals
 * only (the ARM provider's put callback; the core stores the resource). location is taken as
 * given (normalized by the caller). */
int cp__identity_mi_record_put(struct cp_identity *ids, const char *subscription,
                               const char *resource_group, const char *name, const char *location,
                               const char *tenant, json_t *tags, const char *isolation_scope,
                               struct cp_managed_identity *out, int *created, struct cmk_err *err);
int cp__identity_mi_record_delete(struct cp_identity *ids, const char *subscription,
                                  const char *resource_group, const char *name,
                                  struct cmk_err *err);
/* The document the ARM core stores for mi: {location, tags, properties}. New reference. */
json_t *cp__identity_mi_doc(const struct cp_managed_identity *mi);
/* Make sure the directory knows tenant tid (one the ARM core added). */
int cp__identity_tenant_ensure(struct cmk_runtime *rt, const char *tid);

/* Begin a transaction unless one is open; returns 1 if this call owns it, 0 if nested, <0. */
int cp__identity_tx_begin(sqlite3 *db);
int cp__identity_tx_end(sqlite3 *db, int owned, int rc);

void cp__identity_login_routes(struct cp_identity *ids);
void cp__identity_msi_routes(struct cp_identity *ids);
/* The Microsoft Graph reads az makes (identity_graph.c). */
void cp__identity_graph_routes(struct cp_identity *ids);
int cp__identity_arm_register(struct cp_identity *ids, struct cmk_err *err);
void cp__identity_arm_unregister(struct cp_identity *ids);

#endif
