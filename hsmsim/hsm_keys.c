/* hsm_keys.c: the Managed HSM's policy for the code it shares with vaultsim. One key engine
 * (vaultsim/engine.h) opened with kind "hsm" (through vaultsim's container, which gives it the
 * spaces "hsm/NAME" and the audit events of the clock's work) and one keys data plane
 * (vaultsim/keys_api.h) opened on the HSM host kind; this file only says what differs from a
 * vault:
 *   - the container: spaces "hsm/NAME", HSM key types only (RSA-HSM, EC-HSM, oct-HSM), soft
 *     delete always on (retention 7-90 days from the ARM document), purge protection;
 *   - activation: until its security domain is downloaded an HSM refuses every key operation;
 *   - authorization: local RBAC only (hsm_rbac.c), never access policies or Azure RBAC;
 *   - the challenge's resource "https://managedhsm.azure.net" (local: managedhsm.<suffix>).
 * Token, tenant, network rules (publicNetworkAccess, ipRules, trusted services), throttling,
 * every route and the audit events are vaultsim's code. */
#include <stdio.h>
#include <string.h>

#include "common/runtime.h"
#include "hsm_int.h"

/* ---- the parsed HSM --------------------------------------------------------------------- */

/* What an HSM's document says beyond the container's fields (container.h). */
int hsm__parse(const struct cmk_arm_resource *r, struct vs_ctr_info *info, struct cmk_err *err)
{
    struct hsm_pool *p = (struct hsm_pool *)info;
    json_t *props = json_object_get(r->doc, "properties");
    const char *state = json_string_value(json_object_get(props, "provisioningState"));
    p->provisioned = state && (strcmp(state, "Succeeded") == 0 || strcmp(state, "Deleting") == 0);
    const char *act = json_string_value(
        json_object_get(json_object_get(props, "securityDomainProperties"), "activationStatus"));
    p->active = act && strcmp(act, "Active") == 0;
    return 0;
}

unsigned hsm__key_types(const struct vs_ctr_info *info)
{
    return VS_KTYS_HSM_ASYM | VS_KTY_BIT(VS_KTY_OCT_HSM);
}

const struct hsm_pool *hsm__find(struct hsm_service *h, const char *name)
{
    return (const struct hsm_pool *)vs_ctr_find(&h->hsms, name);
}

/* ---- the data plane's policy -------------------------------------------------------------- */

static int keys_lookup(void *data, const char *label, struct vs_container *c)
{
    struct hsm_service *h = data;
    const struct hsm_pool *p = hsm__find(h, label);
    /* Until provisioning completes the HSM's host does not answer (no such pool yet). */
    if (p == NULL || !p->provisioned)
        return CMK_ENOTFOUND;
    vs_ctr_container_of(&h->hsms, &p->ctr, c);
    if (!p->active) {
        c->inactive = 1;
        cmk_err_set(&c->inactive_err, CMK_EUNAVAIL, 403, "Forbidden",
                    "The managed HSM '%s' is not activated: its security domain has not been "
                    "downloaded yet. Download it (POST /securitydomain/download) to activate "
                    "the HSM.",
                    p->ctr.name);
        cmk_err_inner(&c->inactive_err, "HSMNotActivated");
    }
    return 0;
}

static int keys_authorize(void *data, const struct vs_container *c, const struct cmk_principal *p,
                          enum vs_perm perm, const char *key_name, struct cmk_err *err)
{
    struct hsm_service *h = data;
    const struct hsm_pool *pool = c->flavour;
    const char *action = hsm__rbac_action(perm);
    char scope[256];
    if (key_name && *key_name)
        snprintf(scope, sizeof(scope), "/keys/%s", key_name);
    else
        snprintf(scope, sizeof(scope), "/keys");
    if (action != NULL && hsm__rbac_allows(h, pool->ctr.name, p->oid, scope, action))
        return 0;
    return hsm__rbac_deny(err, c, p, action ? action : "", scope);
}

int hsm__keys_open(struct hsm_service *h, struct cmk_err *err)
{
    struct vs_keys_policy pol = {
        .version = 1,
        .host = CMK_HOST_HSM,
        .cloud_resource = "https://managedhsm.azure.net",
        .local_family = "managedhsm",
        .app_id = NULL,
        .audit_category = "AuditEvent",
        .lookup = keys_lookup,
        .authorize = keys_authorize,
        .data = h,
    };
    return vs_keys_open(&h->keys, h->rt, h->engine, h->audit, &pol, err);
}
