/* identity_arm.c: Microsoft.ManagedIdentity/userAssignedIdentities on the ARM core
 * (common/arm.h). The core answers PUT/PATCH/GET/DELETE and the lists by resource group and
 * subscription from its generic resource store; the callbacks here create the identity's
 * principal (principalId, clientId, in the subscription's tenant) when the resource is created
 * and remove it when the resource is deleted, also when its resource group is, inside the
 * core's transaction. Federated identity credentials are stored by the core as they are sent.
 * Every api-version is accepted (az sends 2022-01-31-preview, the SDKs 2023-01-31 and later).
 */
#include "identity_int.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

#define MI_TYPE "Microsoft.ManagedIdentity/userAssignedIdentities"

static int mi_put(struct cmk_arm_call *call, json_t *body, const struct cmk_arm_resource *existing,
                  json_t **out, struct cmk_err *err)
{
    struct cp_identity *ids = call->provider->data;
    *out = NULL;
    if (!json_is_object(body))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidRequestContent",
                           "The request content was invalid and could not be deserialized.");
    json_t *jloc = json_object_get(body, "location");
    if (jloc != NULL && !json_is_string(jloc))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidRequestContent",
                           "The location must be a string.");
    char loc[64] = "";
    const char *location = json_string_value(jloc);
    if (location != NULL && *location) {
        int rc = cmk_arm_location_normalize(location, loc, sizeof(loc), MI_TYPE, err);
        if (rc != 0)
            return rc;
    } else if (existing != NULL) {
        snprintf(loc, sizeof(loc), "%s", existing->location);
    }
    json_t *tags = json_object_get(body, "tags");
    json_t *props = json_object_get(body, "properties");
    if (props != NULL && !json_is_object(props) && !json_is_null(props))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidRequestContent",
                           "The properties must be an object.");
    json_t *scope = json_object_get(props, "isolationScope");
    if (scope != NULL && !json_is_string(scope) && !json_is_null(scope))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidRequestContent",
                           "The isolationScope must be a string.");
    struct cp_managed_identity mi;
    int created = 0;
    int rc = cp__identity_mi_record_put(
        ids, call->rid.sub, call->rid.rg, cmk_arm_id_name(&call->rid), loc, call->tenant,
        json_is_null(tags) ? NULL : tags, json_string_value(scope), &mi, &created, err);
    if (rc != 0)
        return rc;
    *out = cp__identity_mi_doc(&mi);
    cp_managed_identity_close(&mi);
    return 0;
}

static int mi_delete(struct cmk_arm_call *call, const struct cmk_arm_resource *r,
                     struct cmk_err *err)
{
    struct cp_identity *ids = call->provider ? call->provider->data : NULL;
    if (ids == NULL) {
        const struct cmk_arm_provider *p = cmk_arm_provider_find(call->arm, MI_TYPE);
        ids = p ? p->data : NULL;
    }
    if (ids == NULL)
        return 0;
    int rc = cp__identity_mi_record_delete(ids, r->sub, r->rg, r->name, err);
    return rc == CMK_ENOTFOUND ? 0 : rc; /* a record already gone is no reason to keep the row */
}

int cp__identity_arm_register(struct cp_identity *ids, struct cmk_err *err)
{
    (void)err;
    struct cmk_arm *arm = ids->rt->arm;
    if (arm == NULL)
        return 0; /* unit tests of the token service without the ARM core */
    ids->provider = (struct cmk_arm_provider){
        .type = MI_TYPE,
        .api_versions = NULL,
        .flags = 0,
        .put = mi_put,
        .patch = NULL, /* JSON merge patch of the stored document, then mi_put */
        .render = NULL,
        .del = mi_delete,
        .data = ids,
    };
    ids->fic_provider = (struct cmk_arm_provider){
        .type = MI_TYPE "/federatedIdentityCredentials",
        .flags = CMK_ARM_PROVIDER_NO_LOCATION | CMK_ARM_PROVIDER_HIDDEN,
        .data = ids,
    };
    cmk_arm_provider_register(arm, &ids->provider);
    cmk_arm_provider_register(arm, &ids->fic_provider);
    return 0;
}

void cp__identity_arm_unregister(struct cp_identity *ids)
{
    /* The core has no unregistration: free the service only after the router and the core
     * stop dispatching (services_close, then cmk_arm_free). */
    (void)ids;
}
