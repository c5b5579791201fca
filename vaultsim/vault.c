/* vault.c: the Key Vault service (see vault.h): opening it on a runtime (the vault flavour of
 * the container, vault_arm.c; the key engine with the container's engine policy; RBAC; the keys
 * data plane), and the keys data-plane policy it plugs into the shared code: which vault a host
 * names, and access policies or RBAC for each operation. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/runtime.h"
#include "vault_int.h"

const struct vs_vault *vs__vault_find(struct vs_vaults *vs, const char *name)
{
    return (const struct vs_vault *)vs_ctr_find(&vs->vaults, name);
}

/* ---- the data plane's policy -------------------------------------------------------------- */

static int keys_lookup(void *data, const char *label, struct vs_container *c)
{
    struct vs_vaults *vs = data;
    const struct vs_ctr_info *v = vs_ctr_find(&vs->vaults, label);
    if (v == NULL)
        return CMK_ENOTFOUND;
    vs_ctr_container_of(&vs->vaults, v, c);
    return 0;
}

static int policy_allows(const struct vs_vault *v, const struct cmk_principal *p, enum vs_perm perm)
{
    size_t i;
    json_t *e;
    json_array_foreach(v->policies, i, e)
    {
        const char *tid = json_string_value(json_object_get(e, "tenantId"));
        const char *oid = json_string_value(json_object_get(e, "objectId"));
        const char *app = json_string_value(json_object_get(e, "applicationId"));
        if (tid == NULL || oid == NULL || strcasecmp(tid, p->tid) != 0 ||
            strcasecmp(oid, p->oid) != 0)
            continue;
        if (app && *app && strcasecmp(app, p->appid) != 0)
            continue;
        size_t j;
        json_t *k;
        json_array_foreach(json_object_get(json_object_get(e, "permissions"), "keys"), j, k)
        {
            const char *s = json_string_value(k);
            if (s && (strcasecmp(s, "all") == 0 || strcasecmp(s, vs_perm_name(perm)) == 0))
                return 1;
        }
    }
    return 0;
}

static int keys_authorize(void *data, const struct vs_container *c, const struct cmk_principal *p,
                          enum vs_perm perm, const char *key_name, struct cmk_err *err)
{
    struct vs_vaults *vs = data;
    const struct vs_vault *v = c->flavour;
    if (perm == VS_PERM_RANDOM)
        return 0;
    char caller[512];
    snprintf(caller, sizeof(caller), "appid=%s;oid=%s;iss=%s", p->appid, p->oid, p->iss);
    if (!v->rbac) {
        if (policy_allows(v, p, perm))
            return 0;
        cmk_err_set(err, CMK_EDENIED, 403, "Forbidden",
                    "The user, group or application '%s' does not have keys %s permission on key "
                    "vault '%s;location=%s'. For help resolving this issue, please see "
                    "https://go.microsoft.com/fwlink/?linkid=2125287",
                    caller, vs_perm_name(perm), v->ctr.name, v->ctr.location);
        cmk_err_inner(err, "ForbiddenByPolicy");
        return CMK_EDENIED;
    }
    const char *action = vs__rbac_action(perm);
    char resource[CMK_ARM_ID_MAX + 160];
    if (key_name && *key_name)
        snprintf(resource, sizeof(resource), "%s/keys/%s", v->ctr.id, key_name);
    else
        snprintf(resource, sizeof(resource), "%s", v->ctr.id);
    if (action == NULL || vs__rbac_allows(vs, p->oid, resource, action) == 0)
        return 0;
    for (char *q = resource; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    cmk_err_set(err, CMK_EDENIED, 403, "Forbidden",
                "Caller is not authorized to perform action on resource.\r\nIf role "
                "assignments, deny assignments or role definitions were changed recently, please "
                "observe propagation time.\r\nCaller: %s\r\nAction: '%s'\r\nResource: "
                "'%s'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: "
                "null \r\nVault: %s;location=%s\r\n",
                caller, action, resource, v->ctr.name, v->ctr.location);
    cmk_err_inner(err, "ForbiddenByRbac");
    return CMK_EDENIED;
}

/* ---- open / close ------------------------------------------------------------------------- */

int vs_vaults_open(struct vs_vaults **out, struct cmk_runtime *rt, struct cmk_err *err)
{
    *out = NULL;
    if (rt->arm == NULL)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError",
                           "vaultsim needs the ARM core: call cmk_arm_open first");
    struct vs_vaults *vs = cmk_xcalloc(1, sizeof(*vs));
    vs->rt = rt;
    vs->arm = rt->arm;
    int rc = vs_audit_open(&vs->audit, rt, err);
    if (rc == 0)
        rc = vs__arm_register(vs, err);
    if (rc == 0)
        rc = vs_ctr_engine_open(&vs->vaults, &vs->engine, err);
    if (rc == 0)
        rc = vs__rbac_register(vs, err);
    if (rc == 0)
        vs_ctr_purge_rearm(&vs->vaults);
    if (rc == 0) {
        struct vs_keys_policy kpol = {
            .version = 1,
            .host = CMK_HOST_VAULT,
            .cloud_resource = "https://vault.azure.net",
            .local_family = "vault",
            .app_id = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093",
            .audit_category = "AuditEvent",
            .lookup = keys_lookup,
            .authorize = keys_authorize,
            .data = vs,
        };
        rc = vs_keys_open(&vs->keys, rt, vs->engine, vs->audit, &kpol, err);
    }
    if (rc != 0) {
        vs_vaults_free(vs);
        return rc;
    }
    *out = vs;
    return 0;
}

void vs_vaults_free(struct vs_vaults *vs)
{
    if (vs == NULL)
        return;
    vs_ctr_close(&vs->vaults);
    vs_keys_free(vs->keys);
    vs_engine_free(vs->engine);
    vs_audit_free(vs->audit);
    free(vs);
}

struct vs_engine *vs_vaults_engine(struct vs_vaults *vs)
{
    return vs->engine;
}

struct vs_audit *vs_vaults_audit(struct vs_vaults *vs)
{
    return vs->audit;
}

void vs_vaults_set_throttle(struct vs_vaults *vs, double rate, double burst)
{
    vs_keys_set_throttle(vs->keys, rate, burst);
}

int vs_vaults_audit_read(struct vs_vaults *vs, const char *vault, int64_t after,
                         struct cmk_buf *out, int64_t *last, struct cmk_err *err)
{
    return vs_ctr_audit_read(&vs->vaults, vault, after, out, last, err);
}
