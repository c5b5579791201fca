/* vault_int.h: what vault*.c share: the vault service struct, the parsed form of a vault's
 * ARM document, and the entry points of the vault flavour of the container (container.h), its
 * access policy route and RBAC. */
#ifndef VS_VAULT_INT_H
#define VS_VAULT_INT_H

#include <jansson.h>

#include "audit.h"
#include "common/arm.h"
#include "common/clock.h"
#include "container.h"
#include "engine.h"
#include "keys_api.h"
#include "vault.h"

/* A live vault as the data plane needs it, parsed from its ARM document. */
struct vs_vault {
    struct vs_ctr_info ctr; /* name, id, tenant, retention, network rules... (first) */
    int rbac;
    int premium;
    json_t *policies; /* accessPolicies (owned) */
};

struct vs_vaults {
    struct cmk_runtime *rt;
    struct cmk_arm *arm;
    struct vs_engine *engine;
    struct vs_audit *audit;
    struct vs_keys *keys;
    struct vs_ctr_set vaults; /* the provider, deleted vaults, the parsed cache */
};

/* vault.c */
/* The live vault named name (any case), parsed (through the cache). NULL if none. */
const struct vs_vault *vs__vault_find(struct vs_vaults *vs, const char *name);

/* vault_arm.c: the vault flavour of the container (container.h) */
int vs__arm_register(struct vs_vaults *vs, struct cmk_err *err);
int vs__validate_policy(const json_t *entry, struct cmk_err *err);

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
