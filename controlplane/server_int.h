/* server_int.h: what the files of the servers service share and nobody else sees.
 *
 *   server.c           open/free, the flexibleServers provider (put, patch, render, delete)
 *   server_create.c    building a new server's document for each createMode
 *   server_ops.c       operation completions, start/stop/restart/revalidate, replicas, names,
 *                      capabilities
 *   server_child.c     firewallRules and databases
 *   server_doc.c       the stored document: load/save, private part, data plane view, SCRAM
 *   server_state.c     the state table and cp__server_apply
 *   server_validate.c  data encryption validation at create and update (R4-R7, R14-R15)
 *   vault_client.c     in-process requests to vaults and HSMs as the server's identity, causes
 *   monitor.c          the key monitor
 *   health.c           resource health and the activity log entries of key access
 *   profile.c          timing profiles
 *
 * The stored document of a server is what a client sees (location, tags, sku, identity,
 * properties) plus a private object "cmksim" that render strips: the administrator's SCRAM
 * verifier, the timing profile, the key version in use, the wrapped probes, the monitor's
 * state. Names carry a double prefix (cp__) like libuv's internals.
 */
#ifndef CP_SERVER_INT_H
#define CP_SERVER_INT_H

#include <jansson.h>

#include "common/arm.h"
#include "common/hosts.h"
#include "common/rng.h"
#include "server.h"

#define SRV_PRIV          "cmksim"
#define SRV_DB_TYPE       CP_SERVER_TYPE "/databases"
#define SRV_FW_TYPE       CP_SERVER_TYPE "/firewallRules"
#define SRV_MAX_TOKENS    32
#define SRV_MAX_FAULTS    32
#define SRV_MAX_LISTENERS 8

struct mon_entry {
    char id[CMK_ARM_ID_MAX];
    struct cmk_timer timer;
    struct cp_servers *s;
};

struct token_entry {
    char identity[512];
    char audience[64];
    char *token;
    cmk_time_t exp;
};

struct fault_entry {
    char vault[128]; /* host label (vault or HSM name), lowercase */
    cmk_time_t until;
};

struct cp_servers {
    struct cmk_runtime *rt;
    struct cmk_arm *arm;
    struct cp_dataplane_ops dp;
    char default_profile[32];
    struct cp_profile *profiles; /* added by scenarios */
    size_t nprofiles;
    struct cmk_rng jitter; /* the monitor's jitter */
    struct cmk_rng ids;    /* probe blobs' nothing-secret ids, dropped-server ids */
    struct mon_entry **mon;
    size_t nmon, capmon;
    struct token_entry tokens[SRV_MAX_TOKENS];
    size_t ntokens;
    struct fault_entry faults[SRV_MAX_FAULTS];
    size_t nfaults;
    struct {
        cp_server_event_cb cb;
        void *data;
    } listeners[SRV_MAX_LISTENERS];
    size_t nlisteners;
};

/* The service of an ARM core (the providers and kinds are static and find it here). */
struct cp_servers *cp__servers_of_arm(struct cmk_arm *arm);
int cp__unavailable(struct cmk_err *err);

/* ---- the stored document (server_doc.c) ---- */

struct cp_srv {
    struct cmk_arm_resource r;
    json_t *props; /* borrowed from r.doc: "properties" (created if missing) */
    json_t *priv;  /* borrowed from r.doc: "cmksim" (created if missing) */
    enum cp_state state;
};

int cp__srv_load(struct cp_servers *s, const char *id, struct cp_srv *out, struct cmk_err *err);
/* Write the document back (own transaction unless one is open). */
int cp__srv_save(struct cp_servers *s, struct cp_srv *srv, struct cmk_err *err);
void cp__srv_close(struct cp_srv *srv);
/* From a document in hand (r is copied, doc referenced). */
void cp__srv_from(struct cp_srv *srv, const struct cmk_arm_resource *r);
/* "" for absent or non-string members. */
const char *cp__str(const json_t *obj, const char *key);
json_t *cp__obj(json_t *parent, const char *key); /* the member object, created if missing */
int cp__srv_is_cmk(const struct cp_srv *srv);
/* The data plane's view; strings point into srv (valid while it is). */
void cp__srv_dp(const struct cp_srv *srv, struct cp_dp_server *out);
/* "SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>" of password; malloc'd. */
char *cp__scram_verifier(const char *password);

/* ---- the state table (server_state.c) ---- */

/* Apply ev to srv: the table's transition and its action (data plane hooks); on success the
 * state in srv->props and srv->state changes and the listeners are told. The caller saves.
 * cause: for KEY_LOST (a sentence). */
int cp__server_apply(struct cp_servers *s, struct cp_srv *srv, enum cp_event ev, const char *cause,
                     struct cmk_err *err);

/* Deny connections (the data plane's lock hook) / accept them again (unlock: unwrap), without
 * a state change; both are no-ops when already so. */
int cp__srv_lock(struct cp_servers *s, struct cp_srv *srv, const char *cause, struct cmk_err *err);
int cp__srv_unlock(struct cp_servers *s, struct cp_srv *srv, const char *cause,
                   struct cmk_err *err);

extern const char *const *cp__api_versions;

/* ---- vaults (vault_client.c) ---- */

enum cp_cause {
    CP_CAUSE_NONE,
    CP_CAUSE_PERMISSION,
    CP_CAUSE_FIREWALL,
    CP_CAUSE_IDENTITY,
    CP_CAUSE_TENANT,
    CP_CAUSE_KEY_DISABLED,
    CP_CAUSE_KEY_EXPIRED,
    CP_CAUSE_KEY_NOT_YET_VALID,
    CP_CAUSE_KEY_DELETED,
    CP_CAUSE_VAULT_DELETED,
    CP_CAUSE_KEY_UNSUPPORTED,
    CP_CAUSE_UNREACHABLE,
    CP_CAUSE_UNKNOWN,
};
const char *cp__cause_name(enum cp_cause c); /* "PermissionRevoked" */
enum cp_cause_class cp__cause_class(enum cp_cause c);

/* A key URI taken apart: https://NAME.vault.azure.net/keys/KEY[/VERSION] (or managedhsm, or
 * the local suffix's names). */
struct cp_key_ref {
    enum cmk_host_kind kind; /* CMK_HOST_VAULT or CMK_HOST_HSM */
    char vault[64];          /* host label */
    char host[192];
    char key[128];
    char version[64];  /* "" for a versionless URI */
    char arm_type[64]; /* Microsoft.KeyVault/vaults or Microsoft.KeyVault/managedHSMs */
    char audience[64]; /* https://vault.azure.net or https://managedhsm.azure.net */
};
int cp__key_ref_parse(struct cp_servers *s, const char *uri, struct cp_key_ref *out,
                      struct cmk_err *err);

/* One answer of a vault. status 0: not reached (outage or no token; code says which). */
struct cp_vault_reply {
    int status;
    char code[64];
    char inner[64];
    char message[512];
    json_t *body; /* owned; NULL if none */
};
void cp__vault_reply_close(struct cp_vault_reply *r);
/* method + path (with query) on the key's vault as identity_id, from the trusted-service
 * origin. body may be NULL. Returns 0 when the vault answered 2xx. */
int cp__vault_call(struct cp_servers *s, const struct cp_key_ref *k, const char *identity_id,
                   const char *method, const char *path, const json_t *body,
                   struct cp_vault_reply *out);
/* The cause of a failed reply. */
enum cp_cause cp__classify(const struct cp_vault_reply *r);
/* 1 if the reply is a missing permission (ForbiddenByPolicy / ForbiddenByRbac). */
int cp__is_permission_denied(const struct cp_vault_reply *r);
/* Drop cached tokens of identity_id (after a 401). */
void cp__token_forget(struct cp_servers *s, const char *identity_id);
int cp__fault_active(struct cp_servers *s, const char *vault);

/* What GET key said. */
struct cp_key_info {
    char kid[512]; /* with version */
    char kty[16];
    int bits;
    int enabled;
    cmk_time_t nbf, exp; /* 0: not set */
};
void cp__key_info_from(const json_t *body, struct cp_key_info *out);

/* Wrap 32 random bytes with kid (RSA-OAEP-256): base64url into *wrapped (malloc'd). */
int cp__key_wrap_probe(struct cp_servers *s, const struct cp_key_ref *k, const char *kid,
                       const char *identity_id, char **wrapped, struct cp_vault_reply *reply);
/* Unwrap a wrapped value with kid; the plaintext is wiped at once. */
int cp__key_unwrap(struct cp_servers *s, const struct cp_key_ref *k, const char *kid,
                   const char *identity_id, const char *wrapped, const char *alg,
                   struct cp_vault_reply *reply);

/* The full check the monitor makes on one key: GET key (attributes, type), then unwrap of
 * blob (or a wrap/unwrap probe when blob is NULL). */
struct cp_key_check {
    enum cp_cause cause;
    char message[512]; /* a sentence naming the problem ("" when fine) */
    struct cp_key_info info;
};
void cp__key_check(struct cp_servers *s, const char *key_uri, const char *identity_id,
                   const char *blob_kid, const char *blob, const char *alg,
                   struct cp_key_check *out);
/* The sentence of a cause. */
void cp__cause_sentence(enum cp_cause c, const struct cp_key_ref *k, const char *key_uri,
                        const char *identity_id, const struct cp_vault_reply *r, char *out,
                        size_t n);

/* ---- validation (server_validate.c) ---- */

enum cp_key_role { CP_ROLE_PRIMARY, CP_ROLE_GEO, CP_ROLE_REPLICA };

/* What validation learned about an accepted key. */
struct cp_key_ok {
    char kid[512];
    char *probe; /* wrapped probe (base64url, malloc'd) */
};
void cp__key_ok_close(struct cp_key_ok *k);

struct cp_validate_ctx {
    const char *server_name;
    const char *location;     /* the server's (normalized) */
    const char *tenant;       /* the server subscription's tenant */
    const json_t *identities; /* identity.userAssignedIdentities of the server */
    const struct cp_profile *profile;
};
/* Validate one key + identity for role; on success fill ok. */
int cp__validate_key(struct cp_servers *s, const struct cp_validate_ctx *ctx, enum cp_key_role role,
                     const char *key_uri, const char *identity_id, struct cp_key_ok *ok,
                     struct cmk_err *err);
/* Validate a whole dataEncryption object (primary, and geo when geo_backup), filling the
 * server's private part (kid, probe, geoKid, geoProbe). replica: the replica rules of R15. */
int cp__validate_encryption(struct cp_servers *s, const struct cp_validate_ctx *ctx,
                            const json_t *de, int geo_backup, int replica, json_t *priv,
                            struct cmk_err *err);
/* The identity map as stored: ids in canonical form with principalId/clientId; 400 when an
 * identity does not exist. New reference. */
json_t *cp__identity_map(struct cp_servers *s, const json_t *identity, struct cmk_err *err);

/* ---- create (server_create.c) and operations (server_ops.c) ---- */

int cp__server_create(struct cmk_arm_call *call, json_t *body, json_t **out, struct cmk_err *err);
int cp__server_update(struct cmk_arm_call *call, json_t *patch,
                      const struct cmk_arm_resource *existing, json_t **out, struct cmk_err *err);
void cp__ops_register(struct cp_servers *s);
void cp__child_register(struct cp_servers *s);
/* Remember a dropped server (ReviveDropped) and find one. */
int cp__dropped_put(struct cp_servers *s, const struct cp_srv *srv, struct cmk_err *err);
int cp__dropped_get(struct cp_servers *s, const char *id, struct cmk_arm_resource *out);
int cp__store_migrate(struct cp_servers *s, struct cmk_err *err);

/* ---- monitor (monitor.c) ---- */

/* Arm (or re-arm) the check of server_id after delay (0: at the next clock turn); delay < 0:
 * when its profile and monitor state say (interval + jitter, or the next threshold). */
void cp__monitor_arm(struct cp_servers *s, const char *server_id, cmk_time_t delay);
void cp__monitor_disarm(struct cp_servers *s, const char *server_id);
void cp__monitor_rearm_all(struct cp_servers *s);
void cp__monitor_free(struct cp_servers *s);
/* Check now and apply what the profile says; manual: a revalidation asked for (recovery is
 * applied at once). Saves the server. */
int cp__monitor_check(struct cp_servers *s, const char *server_id, int manual, struct cmk_err *err);

/* ---- health and activity (health.c) ---- */

void cp__health_register(struct cp_servers *s);
/* The availability status of a server (new reference: the API's JSON). */
json_t *cp__health_json(struct cp_servers *s, const struct cp_srv *srv);
/* "Available" / "Unavailable" / "Degraded" / "Unknown", and the summary. */
const char *cp__health_state(struct cp_servers *s, const struct cp_srv *srv, char *summary,
                             size_t n);
/* Key access activity entries (in the open transaction if any). */
void cp__activity(struct cp_servers *s, const struct cp_srv *srv, const char *operation,
                  const char *status, const char *level, const char *category,
                  const char *description);
/* Log a resource health change if the state differs from the last one logged (priv). */
void cp__health_note(struct cp_servers *s, struct cp_srv *srv);

const struct cp_profile *cp__profile_of(struct cp_servers *s, const json_t *priv);

#endif
