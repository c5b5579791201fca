/* container.h: the soft-deleted key container on the ARM side, one mechanism for Key Vault
 * (Microsoft.KeyVault/vaults, vault*.c) and Managed HSM (Microsoft.KeyVault/managedHSMs,
 * hsmsim), as the key engine (engine.h) and the keys data plane (keys_api.h) are one code for
 * both. A container is an ARM resource whose keys live in the engine's space "<kind>/<name>".
 *
 * The mechanism (container*.c) owns, for one flavour in one runtime:
 *   - two tables of the flavour (persisted; their names and columns never change): live names
 *     (name -> ARM id: names are global) and soft-deleted containers (document, deletion and
 *     scheduled purge dates, purge protection);
 *   - the ARM provider: PUT (name rules, createMode "recover" at the same id, 409 for a
 *     deleted or taken name; the flavour validates and builds the document with the
 *     vs_ctr_doc_* steps), GET/LIST (the stored document), DELETE as a soft delete (or the
 *     flavour's own, e.g. a long-running one that ends in vs_ctr_soft_delete);
 *   - the deleted-container routes (list, get, purge: refused under purge protection before
 *     the scheduled purge date), the clock's purge at that date (re-armed after a restart,
 *     with an activity log entry), the check-name route, and cmksim's audit log routes
 *     (ARM .../auditEvents and /_cmksim/.../audit);
 *   - the parsed-container cache the data plane reads (struct vs_ctr_info, which the
 *     flavour's own parsed struct begins with), and the engine policy (spaces for timer work,
 *     AuditEvents for work the clock did).
 *
 * What differs is data and a few callbacks in struct vs_ctr_flavour: type, table and route
 * names, the error wordings that differ, the document's own fields, and hooks (a create or
 * recover that is long-running, what a purge must also forget, events).
 *
 * Ownership: struct vs_ctr_set is embedded in the flavour's service (vs_ctr_init /
 * vs_ctr_close); the flavour struct and the route strings must be static. One loop thread.
 */
#ifndef VS_CONTAINER_H
#define VS_CONTAINER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "common/arm.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/store.h"
#include "engine.h"
#include "keys_api.h"

#define VS_CTR_CACHE 64

/* A live container as the data plane needs it, parsed from its ARM document: the part both
 * flavours share. A flavour's parsed struct has it as its first member `ctr`, so a pointer to
 * one is a pointer to the other. */
struct vs_ctr_info {
    char name[CMK_ARM_NAME_MAX]; /* lowercase */
    char id[CMK_ARM_ID_MAX];
    char sub[64];
    char location[64];
    char tenant[64];
    int retention; /* softDeleteRetentionInDays (90 if absent) */
    int purge_protection;
    double rate, burst; /* tag "cmksim-throttle" */
    struct vs_netrules net;
};

/* A soft-deleted container (a row of the flavour's deleted table). */
struct vs_deleted {
    char name[64], display[64], id[CMK_ARM_ID_MAX], sub[64], location[64];
    json_t *doc; /* the stored document (owned) */
    cmk_time_t deleted, purge;
    int protected_; /* purge protection */
};

/* A PUT (or merged PATCH) body going through the shared rules: vs_ctr_doc_begin, the flavour's
 * own checks, vs_ctr_doc_rules, more of its own, vs_ctr_doc_finish; then the flavour builds
 * the document from these fields and its own (vs_ctr_doc_new gives the envelope). */
struct vs_ctr_doc {
    struct cmk_arm_call *call;
    const json_t *body;
    const struct cmk_arm_resource *existing; /* NULL when creating */
    const char *name;                        /* as in the path */
    const json_t *props;                     /* the body's "properties" */
    const json_t *old;                       /* the stored "properties" on updates, or NULL */
    const char *tenant;                      /* tenantId (a GUID) */
    json_int_t retention;                    /* softDeleteRetentionInDays */
    int purge_protection;                    /* enablePurgeProtection as it will be */
    struct vs_netrules net;
    const json_t *tags; /* the body's tags (an object or absent) */
    char location[64];  /* normalized */
    char uri[192];      /* https://<lowercase name>.<dns_zone>/ */
};

/* The SQL of a flavour's two tables, for its first migration (persisted: never change it). */
#define VS_CTR_TABLES_SQL(names, deleted)                                                          \
    "CREATE TABLE " names " (name TEXT PRIMARY KEY, id TEXT NOT NULL);"                            \
    "CREATE TABLE " deleted " ("                                                                   \
    " name TEXT PRIMARY KEY,"                                                                      \
    " display TEXT NOT NULL,"                                                                      \
    " id TEXT NOT NULL,"                                                                           \
    " sub TEXT NOT NULL,"                                                                          \
    " location TEXT NOT NULL,"                                                                     \
    " doc TEXT NOT NULL,"                                                                          \
    " deleted INTEGER NOT NULL,"                                                                   \
    " purge INTEGER NOT NULL,"                                                                     \
    " protected INTEGER NOT NULL);"

struct vs_ctr_set;

/* What one flavour's containers are. Strings are literals; every callback gets the set (the
 * flavour's service is s->data). */
struct vs_ctr_flavour {
    /* names */
    const char *type;                /* "Microsoft.KeyVault/vaults" */
    const char *kind;                /* the engine's kind and space prefix: "vault" */
    const char *label;               /* the container in messages: "vault", "managed HSM" */
    const char *space_label;         /* vs_space.kind_label: "key vault" */
    const char *log_name;            /* log component: "vaultsim" */
    const char *dns_zone;            /* "vault.azure.net": URIs and key ids https://NAME.<zone>/ */
    const char *deleted_type;        /* "deletedVaults" (Microsoft.KeyVault/<deleted_type>) */
    const char *deleted_id_property; /* "vaultId": the live id in a deleted one's properties */
    const char *purge_operation;     /* "DeletedVaultPurge", in the purge protection refusal */
    /* storage (persisted: never rename) */
    const char *store_module; /* migrations' module name */
    const struct cmk_migration *migrations;
    size_t nmigrations;
    const char *names_table;   /* (name TEXT PRIMARY KEY, id TEXT) */
    const char *deleted_table; /* (name, display, id, sub, location, doc, deleted, purge,
                                  protected) */
    const char *deleted_order; /* ORDER BY of the deleted list: "deleted, rowid" (ties in the
                                  order of deletion), "deleted, name" */
    /* ARM behaviour */
    const char *const *api_versions; /* NULL-terminated; NULL: any */
    const char *const *booleans;     /* properties that must be booleans, checked in order */
    int purge_protection_default;    /* enablePurgeProtection of a create that leaves it out */
    const char *purge_op_kind;       /* deleted purge: 202 with this operation; NULL: 200 */
    const char *check_name_type;     /* check-name: the body's "type" must be this; NULL: no */
    /* routes on the management host (patterns appear in the debug log: never change them) */
    const char *route_deleted_list; /* GET /subscriptions/{s}/providers/.../<deleted_type> */
    const char *route_deleted;      /* GET .../locations/{location}/<deleted_type>/{<param>} */
    const char *route_purge;        /* POST the same + /purge */
    const char *route_check_name;   /* POST /subscriptions/{s}/providers/.../check...Availability */
    const char *route_audit_arm;    /* GET <resource>/auditEvents */
    const char *route_audit;        /* GET /_cmksim/<types>/{<param>}/audit */
    const char *deleted_param;      /* the name's parameter in route_deleted: "vault" */
    const char *audit_param;        /* the name's parameter in route_audit: "vault" */
    /* wordings that differ (the others are built from label and the names above) */
    const char *name_invalid_code;      /* 400 code of a bad name */
    const char *name_invalid_more;      /* appended to the name rules message ("" or a link) */
    int recover_lowercase;              /* recover's refusals name the container in lowercase */
    const char *deleted_conflict;       /* 409 ConflictError: create over a soft-deleted name */
    const char *taken_code;             /* 409 code: create over a live name elsewhere */
    const char *taken_fmt;              /* its message (%s: the name) */
    const char *check_taken_fmt;        /* check-name: in use (%s: the name) */
    const char *check_deleted;          /* check-name: soft-deleted */
    const char *soft_delete_off;        /* 400: enableSoftDelete false */
    const char *soft_delete_off_update; /* the same on an update (NULL: soft_delete_off) */
    const char *not_found_code;         /* audit log of an unknown name: 404 code */
    /* callbacks */
    size_t info_size; /* sizeof the flavour's parsed struct (begins with struct vs_ctr_info) */
    /* The flavour's own fields of info from r (the shared ones are parsed already); may be
     * NULL. */
    int (*parse)(const struct cmk_arm_resource *r, struct vs_ctr_info *info, struct cmk_err *err);
    void (*clear)(struct vs_ctr_info *info); /* release what parse took; may be NULL */
    unsigned (*key_types)(const struct vs_ctr_info *info); /* VS_KTY_BIT mask */
    /* Validate the PUT body and build the document to store (*out, a new reference). */
    int (*build)(struct vs_ctr_set *s, struct cmk_arm_call *call, const json_t *body,
                 const struct cmk_arm_resource *existing, json_t **out, struct cmk_err *err);
    /* After a create's (recover's) document is built and its name taken: may change the
     * document and start a long-running operation. May be NULL. */
    int (*created)(struct vs_ctr_set *s, struct cmk_arm_call *call, json_t *doc,
                   struct cmk_err *err);
    int (*recovered)(struct vs_ctr_set *s, struct cmk_arm_call *call, json_t *doc,
                     struct cmk_err *err);
    cmk_arm_delete_fn del; /* NULL: vs_ctr_soft_delete at once (provider data is the set) */
    /* Purge: the flavour's own rows of d (role assignments...), before d's row goes. */
    int (*forget)(struct vs_ctr_set *s, const struct vs_deleted *d);
    void (*purged)(struct vs_ctr_set *s, const struct vs_deleted *d); /* may be NULL */
};

/* The containers of one flavour in one runtime. */
struct vs_ctr_set {
    const struct vs_ctr_flavour *fl;
    void *data; /* the flavour's service */
    struct cmk_runtime *rt;
    struct cmk_arm *arm;
    struct vs_engine *engine; /* borrowed: set by vs_ctr_engine_open */
    struct vs_audit *audit;   /* borrowed */
    struct cmk_arm_provider provider;
    struct cmk_timer purge_timer;
    /* Parsed containers, valid while gen is unchanged; every write to a container bumps gen. */
    uint64_t gen;
    struct {
        struct vs_ctr_info *info;
        uint64_t gen;
    } cache[VS_CTR_CACHE];
    size_t cache_next;
};

/* ---- open, close (container.c) ----------------------------------------------------------- */

/* Migrate the flavour's tables, register its provider and routes on rt (after cmk_arm_open),
 * and set up the purge timer. Then open the engine with vs_ctr_engine_open and call
 * vs_ctr_purge_rearm once the service is complete. */
int vs_ctr_init(struct vs_ctr_set *s, struct cmk_runtime *rt, const struct vs_ctr_flavour *fl,
                void *data, struct vs_audit *audit, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* The flavour's key engine with the shared engine policy; *out is the flavour's to free. */
int vs_ctr_engine_open(struct vs_ctr_set *s, struct vs_engine **out, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Stops the timer and frees the cache. Safe on a zeroed set. */
void vs_ctr_close(struct vs_ctr_set *s);

/* ---- names and rows (container.c) -------------------------------------------------------- */

void vs_ctr_lower(char *dst, size_t n, const char *src);
int vs_ctr_guid_like(const char *s);
/* 400 BadRequest with fmt and one string argument. */
int vs_ctr_bad_request(struct cmk_err *err, const char *fmt, const char *arg);
/* The name rules (3-24, letter first, letter or digit last, no "--"), and their 400. */
int vs_ctr_name_valid(const char *name);
int vs_ctr_name_invalid(const struct vs_ctr_set *s, struct cmk_err *err, const char *name);
/* The id of the live container named name (any case) into id; 0 if none. */
int vs_ctr_live_id(struct vs_ctr_set *s, const char *name, char id[CMK_ARM_ID_MAX]);
/* The soft-deleted container named name (any case) into d (d->doc: caller decrefs); 0 if
 * none. */
int vs_ctr_deleted_get(struct vs_ctr_set *s, const char *name, struct vs_deleted *d);

/* ---- the parsed cache and the data plane (container.c) ----------------------------------- */

/* The live container named name (any case), parsed, or NULL. Valid until the next write. */
const struct vs_ctr_info *vs_ctr_find(struct vs_ctr_set *s, const char *name);
void vs_ctr_changed(struct vs_ctr_set *s);
void vs_ctr_space_of(const struct vs_ctr_set *s, const struct vs_ctr_info *info,
                     struct vs_space *out);
/* c for the data plane: space, tenant, ARM id, location, network rules, throttling; c->flavour
 * is info. */
void vs_ctr_container_of(const struct vs_ctr_set *s, const struct vs_ctr_info *info,
                         struct vs_container *c);

/* ---- soft delete, purge, audit (container.c) --------------------------------------------- */

/* Move the container of r to the deleted table with doc (r->doc, or the flavour's copy of it):
 * its keys, roles and audit log stay until the purge. */
int vs_ctr_soft_delete(struct vs_ctr_set *s, const struct cmk_arm_resource *r, const json_t *doc,
                       struct cmk_err *err);
/* Everything of a deleted container goes: keys, the flavour's rows, audit log, the row. */
int vs_ctr_purge_now(struct vs_ctr_set *s, const struct vs_deleted *d, struct cmk_err *err);
void vs_ctr_purge_rearm(struct vs_ctr_set *s);
/* The audit log of a live or deleted container as JSON lines after seq after; 404 if none. */
int vs_ctr_audit_read(struct vs_ctr_set *s, const char *name, int64_t after, struct cmk_buf *out,
                      int64_t *last, struct cmk_err *err);

/* ---- the document of a PUT (container_arm.c) --------------------------------------------- */

/* "properties" required, tenantId a GUID. */
int vs_ctr_doc_begin(struct vs_ctr_set *s, struct cmk_arm_call *call, const json_t *body,
                     const struct cmk_arm_resource *existing, struct vs_ctr_doc *d,
                     struct cmk_err *err);
/* The flavour's booleans; soft delete always on; softDeleteRetentionInDays 7-90 and fixed;
 * enablePurgeProtection irreversible. */
int vs_ctr_doc_rules(struct vs_ctr_set *s, struct vs_ctr_doc *d, struct cmk_err *err);
/* publicNetworkAccess and networkAcls, tags, location (fixed on updates), the URI. */
int vs_ctr_doc_finish(struct vs_ctr_set *s, struct vs_ctr_doc *d, struct cmk_err *err);
/* networkAcls as stored: bypass, defaultAction, ipRules, virtualNetworkRules (acls may be
 * NULL). New reference. */
json_t *vs_ctr_doc_acls(const json_t *acls);
/* {"location", "tags"}: the flavour adds the rest. New reference. */
json_t *vs_ctr_doc_new(const struct vs_ctr_doc *d);

/* ---- between container*.c ---------------------------------------------------------------- */

/* The cached statement of the SQL fmt makes (with the flavour's table names). */
sqlite3_stmt *vs__ctr_stmtf(const struct vs_ctr_set *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Rows of the names table (lc -> id) and of the deleted table; 0 or CMK_EIO. */
int vs__ctr_name_take(struct vs_ctr_set *s, const char *lc, const char *id);
int vs__ctr_deleted_drop(struct vs_ctr_set *s, const char *lc);
void vs__ctr_provider_register(struct vs_ctr_set *s);
void vs__ctr_routes_register(struct vs_ctr_set *s);

#endif
