/* hsm_int.h: what hsm*.c share: the service struct, the parsed form of an HSM's ARM document,
 * and the entry points of the managed HSM flavour of vaultsim's container (hsm.c), the keys
 * policy (hsm_keys.c), local RBAC (hsm_rbac.c) and the security domain (hsm_sd.c). */
#ifndef HSM_HSM_INT_H
#define HSM_HSM_INT_H

#include <jansson.h>

#include "common/arm.h"
#include "common/clock.h"
#include "common/rng.h"
#include "hsm.h"
#include "vaultsim/audit.h"
#include "vaultsim/container.h"
#include "vaultsim/engine.h"
#include "vaultsim/keys_api.h"

#define HSM_ACTIVE_MESSAGE                                                                         \
    "Your HSM has been activated and can be used for cryptographic operations."
#define HSM_NOT_ACTIVE_MESSAGE                                                                     \
    "Your HSM has been provisioned, but cannot be used for cryptographic operations until it is "  \
    "activated. To activate the HSM, download the security domain."

/* A live HSM as the data plane needs it, parsed from its ARM document. */
struct hsm_pool {
    struct vs_ctr_info ctr; /* name, id, tenant, retention, network rules... (first) */
    int provisioned;        /* provisioningState Succeeded (or Deleting: still serving) */
    int active;             /* securityDomainProperties.activationStatus Active */
};

struct hsm_service {
    struct cmk_runtime *rt;
    struct cmk_arm *arm;
    struct vs_engine *engine;
    struct vs_audit *audit;
    struct vs_keys *keys;
    struct vs_ctr_set hsms; /* the provider, deleted HSMs, the parsed cache (container.h) */
    struct cmk_timer sd_timer;
    cmk_time_t provision_delay, activation_delay;
};

/* hsm.c: the managed HSM flavour of vaultsim's container (the ARM provider) */
int hsm__arm_register(struct hsm_service *h, struct cmk_err *err);
/* Set the activation status of the live HSM's ARM document ("Active"...). */
int hsm__set_activation(struct hsm_service *h, const char *name, const char *status,
                        const char *message, struct cmk_err *err);

/* hsm_keys.c: the parsed HSM and the keys data-plane policy plugged into vaultsim's code */
/* The live HSM named name (any case), parsed (through the container's cache). NULL if none. */
const struct hsm_pool *hsm__find(struct hsm_service *h, const char *name);
int hsm__parse(const struct cmk_arm_resource *r, struct vs_ctr_info *info, struct cmk_err *err);
unsigned hsm__key_types(const struct vs_ctr_info *info);
int hsm__keys_open(struct hsm_service *h, struct cmk_err *err);

/* hsm_rbac.c */
int hsm__rbac_register(struct hsm_service *h, struct cmk_err *err);
/* The data action an operation needs ("Microsoft.KeyVault/managedHsm/keys/unwrap/action"). */
const char *hsm__rbac_action(enum vs_perm perm);
/* 1 if principal oid has, in hsm, an assignment at a scope covering scope ("/", "/keys" or
 * "/keys/NAME") whose role grants action. */
int hsm__rbac_allows(struct hsm_service *h, const char *hsm, const char *oid, const char *scope,
                     const char *action);
/* Fill err with the 403 the service answers when action is not granted; returns CMK_EDENIED. */
int hsm__rbac_deny(struct cmk_err *err, const struct vs_container *c, const struct cmk_principal *p,
                   const char *action, const char *scope);
/* Managed HSM Administrator at "/" for each object id of admins (a JSON array). */
int hsm__rbac_add_admins(struct hsm_service *h, const char *hsm, const json_t *admins,
                         struct cmk_err *err);
/* Every assignment and custom role of a purged HSM. */
int hsm__rbac_forget(struct hsm_service *h, const char *hsm);

/* hsm_sd.c */
int hsm__sd_register(struct hsm_service *h, struct cmk_err *err);
void hsm__sd_rearm(struct hsm_service *h);
int hsm__sd_forget(struct hsm_service *h, const char *hsm);

#endif
