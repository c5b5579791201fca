/* server.h: PostgreSQL flexible servers (Microsoft.DBforPostgreSQL/flexibleServers) with
 * customer-managed keys: the ARM provider, the validation of data encryption at create, the
 * server state machine, the key monitor, resource health and the activity log entries of key
 * access (SPEC.md R4-R16; ../shared/seed/concepts-data-encryption.md).
 *
 * The control plane owns the server resource and its rules; the real data (encrypted files,
 * the PostgreSQL wire endpoint) is the data plane's, reached through a table of hooks
 * (struct cp_dataplane_ops) that grows only at the end. NULL hooks mean "no data plane": every
 * rule, state and API still works, and the key monitor then probes the key with a wrapped
 * random blob of its own instead of the server's wrapped DEK.
 *
 * Every call to a vault or a managed HSM is an in-process request through the router
 * (cmk_router_dispatch) with the bearer token of the server's user-assigned identity
 * (cp_identity_token) and the origin of a trusted Azure service ("Microsoft.DBforPostgreSQL"),
 * never a call into vaultsim: a revoked permission, a deleted key or vault, a firewall change or
 * a deleted identity breaks it for the real reason, and it shows in the vault's audit log.
 *
 * Routes (management host; api-versions 2025-08-01, 2024-08-01, 2023-12-01-preview,
 * 2023-06-01-preview, 2023-03-01-preview, 2022-12-01, 2022-11-01-preview, 2022-03-08-preview,
 * 2021-06-01):
 *   PUT|GET|PATCH|DELETE .../flexibleServers/{name}   create/update/delete are long-running
 *   GET  .../resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers, and by
 *        subscription
 *   POST .../flexibleServers/{name}/start|stop|restart                  long-running
 *   POST .../flexibleServers/{name}/revalidateDataEncryption (cmksim)   check the key now
 *   GET  .../flexibleServers/{name}/replicas
 *   PUT|GET|DELETE .../flexibleServers/{name}/firewallRules/{r}, .../databases/{d} (+ lists)
 *   POST /subscriptions/{s}/providers/Microsoft.DBforPostgreSQL[/locations/{l}]/
 *        checkNameAvailability
 *   GET  /subscriptions/{s}/providers/Microsoft.DBforPostgreSQL/locations/{l}/capabilities
 *   GET  {server id}/providers/Microsoft.ResourceHealth/availabilityStatuses[/current]
 *
 * Ownership: cp_servers_open returns an object the caller frees with cp_servers_free after the
 * router stops dispatching and before cmk_arm_free. Strings in the structs handed to hooks and
 * listeners are borrowed for the duration of the call. One loop thread.
 */
#ifndef CP_SERVER_H
#define CP_SERVER_H

#include <jansson.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/runtime.h"

#define CP_SERVER_TYPE  "Microsoft.DBforPostgreSQL/flexibleServers"
#define CP_SERVICE_NAME "Microsoft.DBforPostgreSQL" /* the trusted-service origin */
#define CP_SERVICE_ADDR "20.42.64.10" /* the service's own (public) address at the vaults */

/* ---- server states and events (server_state.c: one table) ------------------------------ */

enum cp_state {
    CP_STATE_PROVISIONING,
    CP_STATE_READY,
    CP_STATE_UPDATING,
    CP_STATE_STOPPING,
    CP_STATE_STOPPED,
    CP_STATE_STARTING,
    CP_STATE_RESTARTING,
    CP_STATE_DROPPING,
    CP_STATE_DISABLED,
    CP_STATE_INACCESSIBLE,
    CP_STATE__COUNT
};

enum cp_event {
    CP_EV_CREATE_DONE, /* the create operation completed */
    CP_EV_UPDATE,      /* PATCH of ordinary properties */
    CP_EV_UPDATE_KEY,  /* PATCH assigning a key or identity (also allowed when Inaccessible) */
    CP_EV_UPDATE_DONE,
    CP_EV_STOP,
    CP_EV_STOP_DONE,
    CP_EV_START,
    CP_EV_START_DONE,
    CP_EV_RESTART,
    CP_EV_RESTART_DONE,
    CP_EV_DELETE,
    CP_EV_KEY_LOST,     /* the key monitor decided the key is not accessible */
    CP_EV_KEY_RESTORED, /* the key monitor (or a revalidation) found it accessible again */
    CP_EV_DISABLE,      /* the subscription was disabled */
    CP_EV_ENABLE,
    CP_EV__COUNT
};

const char *cp_state_name(enum cp_state s);            /* "Ready" */
int cp_state_parse(const char *s, enum cp_state *out); /* case-insensitive; CMK_EINVAL */
const char *cp_event_name(enum cp_event e);            /* "start" */

/* The table's answer for (from, event), without side effects: 0 and *to, or CMK_ECONFLICT with
 * err = 409 and the service's code (ServerIsNotReady, ServerIsNotStopped, ServerGroupDropping,
 * ServerIsInaccessible...) naming the server (name may be NULL) and its state. */
int cp_server_transition(enum cp_state from, enum cp_event ev, const char *name, enum cp_state *to,
                         struct cmk_err *err);

/* ---- data plane hooks ---------------------------------------------------------------------- */

/* What the data plane is told about a server. Borrowed strings; "" when not set. */
struct cp_dp_server {
    const char *id;   /* ARM id */
    const char *name; /* "myserver" (host NAME.postgres.database.azure.com) */
    const char *location;
    const char *version;     /* "16" */
    const char *encryption;  /* "AzureKeyVault" or "SystemManaged" */
    const char *key_uri;     /* primaryKeyURI as configured (versionless follows rotation) */
    const char *key_kid;     /* the key version in use: full kid with version */
    const char *identity_id; /* primaryUserAssignedIdentityId (ARM id) */
    const char *geo_key_uri; /* geoBackupKeyURI, or "" */
    const char *geo_identity_id;
    const char *admin_login;
    const char *admin_verifier; /* "SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>" */
    const char *create_mode;    /* "Create", "PointInTimeRestore", "GeoRestore", "Replica"... */
    const char *source_id;      /* restore/replica source server id, or "" */
    cmk_time_t point_in_time;   /* PointInTimeRestore, else 0 */
};

#define CP_DATAPLANE_OPS_VERSION 1

/* The data plane's side. Every hook may be NULL. Hooks returning int return 0 or a negative
 * CMK_E* with err filled (the message is shown to the client or in the activity log). Hooks
 * that reach a vault do it themselves (in-process requests with the server identity's token:
 * cp_server_vault_token helps). Operations may be retried after a crash: make them
 * idempotent (provision of a server that exists opens it). */
struct cp_dataplane_ops {
    unsigned version; /* CP_DATAPLANE_OPS_VERSION; fields only grow at the end */
    void *data;
    /* Create the server's storage: new DEK(s), wrapped through the vault with key_kid (CMK) or
     * kept under the platform key (SystemManaged); the server accepts connections after. For
     * createMode PointInTimeRestore / GeoRestore / Replica the data is copied from source_id
     * (point_in_time for restores; geo: the geo-redundant copy) and re-wrapped with the new
     * server's own key. */
    int (*provision)(void *data, const struct cp_dp_server *s, struct cmk_err *err);
    /* Unwrap the DEK(s) and accept connections (start, recovery after Inaccessible, process
     * start). */
    int (*unlock)(void *data, const struct cp_dp_server *s, struct cmk_err *err);
    /* Key access lost: wipe the DEKs from memory, end open sessions (FATAL 57P01) and refuse
     * new ones (FATAL 57P03 with cause, a sentence naming the key problem). */
    void (*lock)(void *data, const char *server_id, const char *cause);
    /* The key (or its version, or the identity) changed: re-wrap the DEK(s) with s->key_kid
     * (R12: no data re-encryption). */
    int (*rewrap)(void *data, const struct cp_dp_server *s, struct cmk_err *err);
    /* Compute stopped (sessions end, DEKs wiped) / started again (unwrap). */
    int (*stop)(void *data, const char *server_id, struct cmk_err *err);
    int (*start)(void *data, const struct cp_dp_server *s, struct cmk_err *err);
    /* Restart the engine (sessions end; DEKs stay). */
    int (*restart)(void *data, const struct cp_dp_server *s, struct cmk_err *err);
    /* Delete the server's storage (a dropped server's files are removed). */
    int (*drop)(void *data, const char *server_id, struct cmk_err *err);
    /* The wrapped DEK the key monitor should unwrap to prove access: base64url value into
     * *value (malloc'd, caller frees), the kid it was wrapped with (full, with version) and
     * the algorithm ("RSA-OAEP-256"). CMK_ENOTFOUND if the server has none yet. */
    int (*wrapped_dek)(void *data, const char *server_id, char **value, char kid[512],
                       char alg[32]);
    /* Logins refused so far because the server was locked (resource health, R10). */
    uint64_t (*denied_connections)(void *data, const char *server_id);
    /* administratorLoginPassword changed (PATCH). */
    int (*set_password)(void *data, const char *server_id, const char *login, const char *verifier,
                        struct cmk_err *err);
    /* Databases (child resources) created and deleted through ARM. */
    int (*database_create)(void *data, const char *server_id, const char *db, struct cmk_err *err);
    int (*database_drop)(void *data, const char *server_id, const char *db, struct cmk_err *err);
};
/* Firewall rules are not pushed: they are ARM resources of type CP_SERVER_TYPE
 * "/firewallRules" under the server; the data plane reads them (cmk_arm_resource_each) when a
 * client connects. */

/* ---- timing profiles (profile.c: data) ---------------------------------------------------- */

enum cp_cause_class {
    CP_CLASS_REVOCATION, /* permission revoked, firewall, identity deleted, tenant */
    CP_CLASS_KEY,        /* key disabled, expired, not yet valid, deleted; vault deleted */
    CP_CLASS_OUTAGE,     /* vault unreachable, throttled, 5xx */
    CP_CLASS__COUNT
};

struct cp_profile {
    char name[32];
    char description[160];
    /* durations of the long-running operations */
    cmk_time_t op_create, op_restore, op_replica, op_update, op_stop, op_start, op_restart,
        op_delete;
    /* key monitor: next check after a healthy check, while a failure is being confirmed, and
     * while the server is Inaccessible (interval + uniform jitter in [0, jitter]) */
    cmk_time_t check_interval, check_jitter;
    cmk_time_t failing_interval, failing_jitter;
    cmk_time_t recover_interval, recover_jitter;
    /* from the first failed check, per cause class: when connections are denied (the data
     * plane is locked) and when the state becomes Inaccessible */
    cmk_time_t deny_after[CP_CLASS__COUNT];
    cmk_time_t inaccessible_after[CP_CLASS__COUNT];
    /* R6 fidelity: soft-delete retention the service accepts (the seed: exactly 90) */
    int retention_min_days, retention_max_days;
};

/* The built-in profiles: "default" (the seed's windows: denied within 10 minutes of losing
 * access, Inaccessible within 60 minutes of a disabled/deleted/expired/unreachable key, Ready
 * within 60 minutes of recovery), "instant" (CI: no operation delay, a check every 30 s,
 * every change at the next check), "service-2025" (default timings, newer R6 rule: retention
 * 7-90 days). NULL if unknown. */
const struct cp_profile *cp_profile_builtin(const char *name);

/* ---- the service ---------------------------------------------------------------------------- */

struct cp_servers;

/* Register the provider (and its child types), the operation kinds (re-arming operations left
 * pending by a previous process), the routes, and the key monitor (armed for every CMK server
 * in the store). Needs rt->arm (cmk_arm_open) and the identity service (cp_identity_init). */
int cp_servers_open(struct cp_servers **out, struct cmk_runtime *rt, struct cmk_err *err)
    __attribute__((warn_unused_result));
void cp_servers_free(struct cp_servers *s);
/* The service of rt (NULL if none is open). */
struct cp_servers *cp_servers_of(struct cmk_runtime *rt);

/* Attach the data plane (ops is copied). Servers found Ready are unlocked through it
 * (their DEKs unwrapped) and Inaccessible ones locked, as at a process start. */
void cp_servers_set_dataplane(struct cp_servers *s, const struct cp_dataplane_ops *ops);

/* Timing profiles: the default for servers without their own (initially "default"), a
 * server's own (also settable at create with the tag "cmksim-profile"), and profiles a
 * scenario defines (copied; replaces one of the same name). */
int cp_servers_set_profile(struct cp_servers *s, const char *name, struct cmk_err *err);
int cp_server_set_profile(struct cp_servers *s, const char *server_id, const char *name,
                          struct cmk_err *err);
int cp_servers_add_profile(struct cp_servers *s, const struct cp_profile *p, struct cmk_err *err);
const struct cp_profile *cp_servers_profile(struct cp_servers *s, const char *name);

/* Fault injection: the vault or HSM (name, or host name) is unreachable from the service until
 * until (an outage, distinct from a revocation). until <= now ends it. */
int cp_fault_vault_unreachable(struct cmk_runtime *rt, const char *vault, cmk_time_t until);

/* Revalidate a server's key access now (what the monitor does on its clock). */
int cp_server_revalidate(struct cp_servers *s, const char *server_id, struct cmk_err *err);

/* A server's state as scenarios and the dashboard read it. */
struct cp_server_status {
    enum cp_state state;
    int cmk;           /* dataEncryption AzureKeyVault */
    int key_valid;     /* primaryEncryptionKeyStatus Valid */
    int geo_key_valid; /* geoBackupEncryptionKeyStatus Valid (1 without a geo key) */
    int locked;        /* connections denied by the key monitor */
    char cause[64];    /* "KeyDisabled", "PermissionRevoked"... or "" */
    char message[512]; /* the sentence shown in resource health and refused logins */
    char health[16];   /* "Available", "Unavailable", "Degraded" */
};
int cp_server_status(struct cp_servers *s, const char *server_id, struct cp_server_status *out,
                     struct cmk_err *err);

/* State changes (dashboard, scenario runner), told when the change is applied, inside the
 * transaction that writes it (a state change is the last step of its change, so one that is
 * told is one that is written). Up to 8 listeners. */
typedef void (*cp_server_event_cb)(void *data, const char *server_id, enum cp_state from,
                                   enum cp_state to, const char *cause);
int cp_servers_listen(struct cp_servers *s, cp_server_event_cb cb, void *data);

/* The server identity's bearer token for a vault or HSM (audience from the key URI's host
 * family), cached until shortly before it expires. *token is malloc'd (caller frees). For the
 * data plane's wrap/unwrap requests. */
int cp_server_vault_token(struct cp_servers *s, const char *identity_id, const char *key_uri,
                          char **token, struct cmk_err *err) __attribute__((warn_unused_result));

#endif
