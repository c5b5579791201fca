/* vault_int.h: what vault*.c share: the vault service struct, the parsed form of a vault's
 * ARM document, and the entry points of the ARM provider and RBAC files. */
#ifndef VS_VAULT_INT_H
#define VS_VAULT_INT_H

#include <jansson.h>

#include "audit.h"
#include "common/arm.h"
#include "common/clock.h"
#include "engine.h"
#include "keys_api.h"
#include "vault.h"

#define VS_VAULT_CACHE 64

/* A live vault as the data plane needs it, parsed from its ARM document. */
struct vs_vault {
    char name[CMK_ARM_NAME_MAX]; /* lowercase */
    char id[CMK_ARM_ID_MAX];
    char sub[64];
    char location[64];
    char tenant[64];
    int rbac;
    int premium;
    int retention;
    int purge_protection;
    double rate, burst; /* tag "cmksim-throttle" */
    struct vs_netrules net;
    json_t *policies; /* accessPolicies (owned) */
};

struct vs_vaults {
    struct cmk_runtime *rt;
    struct cmk_arm *arm;
    struct vs_engine *engine;
    struct vs_audit *audit;
    struct vs_keys *keys;
    struct cmk_arm_provider provider; /* registered on the ARM core */
    struct cmk_timer purge_timer;
    /* Parsed vaults, valid while gen is unchanged; every write to a vault bumps gen. */
    uint64_t gen;
    struct {
        struct vs_vault *v;
        uint64_t gen;
    } cache[VS_VAULT_CACHE];
    size_t cache_next;
};

/* vault.c */
/* Load (through the cache) the live vault named name (any case). NULL if none. */
const struct vs_vault *vs__vault_find(struct vs_vaults *vs, const char *name);
void vs__vault_changed(struct vs_vaults *vs);
/* Parse an ARM document into v (its name/id/sub from r). */
int vs__vault_parse(const struct cmk_arm_resource *r, struct vs_vault *v, struct cmk_err *err);
void vs__vault_clear(struct vs_vault *v);
void vs__space_of(const struct vs_vault *v, struct vs_space *s);

/* A soft-deleted vault (a row of vs_deleted_vaults). */
struct vs_deleted {
    char name[64], display[64], id[CMK_ARM_ID_MAX], sub[64], location[64];
    json_t *doc;
    cmk_time_t deleted, purge;
    int protected_; /* purge protection */
};

/* vault_arm.c: the provider, and helpers the other management files share */
int vs__arm_register(struct vs_vaults *vs, struct cmk_err *err);
void vs__lower(char *dst, size_t n, const char *src);
int vs__bad_request(struct cmk_err *err, const char *fmt, const char *arg); /* 400 BadRequest */
int vs__name_valid(const char *name);
int vs__name_invalid(struct cmk_err *err, const char *name); /* 400 VaultNameNotValid */
int vs__live_id(struct vs_vaults *vs, const char *name, char id[CMK_ARM_ID_MAX]);
int vs__exec_name(struct vs_vaults *vs, const char *sql, const char *a, const char *b);
int vs__validate_policy(const json_t *entry, struct cmk_err *err);

/* vault_deleted.c */
void vs__deleted_register(struct vs_vaults *vs);
int vs__deleted_get(struct vs_vaults *vs, const char *name, struct vs_deleted *d);
int vs__purge_now(struct vs_vaults *vs, const struct vs_deleted *d, struct cmk_err *err);
void vs__purge_rearm(struct vs_vaults *vs);

/* vault_routes.c */
void vs__routes_register(struct vs_vaults *vs);

/* vault_rbac.c */
int vs__rbac_register(struct vs_vaults *vs, struct cmk_err *err);
/* 0 if an assignment of principal oid at a scope covering resource (a vault or key id) has a
 * role whose data actions include action. */
int vs__rbac_allows(struct vs_vaults *vs, const char *oid, const char *resource,
                    const char *action);
const char *vs__rbac_action(enum vs_perm perm);
/* Remove the assignments at or below scope (a purged vault). */
int vs__rbac_forget(struct vs_vaults *vs, const char *scope);

#endif
