/* hsm.c: the Managed HSM service (hsm.h): opening it on a runtime, and the managed HSM flavour
 * of vaultsim's container (vaultsim/container.h), which serves the ARM resource provider
 * Microsoft.KeyVault/managedHSMs with its tables hsm_names and hsm_deleted, deletedManagedHSMs
 * list/get/purge (the purge reported as operation "hsm.purge"), checkMhsmNameAvailability, the
 * clock's purge at the end of the retention period and the audit log routes. This file says what
 * an HSM has of its own: the document (sku, initialAdminObjectIds, hsmUri, regions, the
 * service-owned provisioningState/statusMessage/securityDomainProperties), the long-running
 * create and recover ("hsm.provision": the initial administrators' role assignments when it
 * completes) and soft delete ("hsm.delete"), what a purge also removes (roles, security domain
 * state), the "hsm.state" events and its error wordings. Rules (issue 4): soft delete is always
 * on; softDeleteRetentionInDays is 7-90 and fixed at creation; enablePurgeProtection defaults to
 * true and cannot be turned off; initialAdminObjectIds are required; a deleted HSM's name cannot
 * be reused until it is purged; a purge-protected HSM is purged only by the clock at its
 * scheduled purge date. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/runtime.h"
#include "common/store.h"
#include "hsm_int.h"

#define PROVISIONED_MESSAGE "The Managed HSM is provisioned and ready to use."

static const struct cmk_migration migrations[] = {
    {1, VS_CTR_TABLES_SQL("hsm_names", "hsm_deleted")},
};

/* The api-versions of Microsoft.KeyVault that have managedHSMs (and what clients send). */
static const char *const api_versions[] = {"2020-04-01-preview",
                                           "2021-04-01-preview",
                                           "2021-06-01-preview",
                                           "2021-10-01",
                                           "2021-11-01-preview",
                                           "2022-02-01-preview",
                                           "2022-07-01",
                                           "2022-11-01",
                                           "2023-02-01",
                                           "2023-07-01",
                                           "2023-08-01-preview",
                                           "2024-04-01-preview",
                                           "2024-11-01",
                                           "2024-12-01-preview",
                                           "2025-05-01",
                                           "2026-02-01",
                                           NULL};

static const char *const sku_names[] = {"Standard_B1", "Custom_B32", "Custom_B6",
                                        "Custom_C42",  "Custom_C10", NULL};

static void publish_state(struct hsm_service *h, const char *name, const char *from, const char *to,
                          const char *cause)
{
    cmk_events_publish(
        &h->rt->events, "hsm.state", name,
        json_pack("{s:s, s:s, s:s, s:s}", "hsm", name, "from", from, "to", to, "cause", cause));
}

/* ---- documents ---------------------------------------------------------------------------- */

static int check_sku(const json_t *sku, const char **name, const char **family, struct cmk_err *err)
{
    *name = "Standard_B1";
    *family = "B";
    if (sku == NULL || json_is_null(sku))
        return 0;
    const char *n = json_string_value(json_object_get(sku, "name"));
    const char *f = json_string_value(json_object_get(sku, "family"));
    size_t i;
    for (i = 0; n && sku_names[i]; i++)
        if (strcasecmp(n, sku_names[i]) == 0)
            break;
    if (!json_is_object(sku) || n == NULL || sku_names[i] == NULL)
        return vs_ctr_bad_request(err,
                                  "The managed HSM's sku.name '%s' is not valid: use Standard_B1, "
                                  "Custom_B32, Custom_B6, Custom_C42 or Custom_C10.",
                                  n ? n : "");
    *name = sku_names[i];
    if (f && strcasecmp(f, "B") != 0 && strcasecmp(f, "C") != 0)
        return vs_ctr_bad_request(err,
                                  "The managed HSM's sku.family '%s' is not valid: use B or C.", f);
    *family = f && strcasecmp(f, "C") == 0 ? "C" : "B";
    return 0;
}

static int check_admins(const json_t *admins, int required, struct cmk_err *err)
{
    if (admins == NULL || json_is_null(admins)) {
        if (required)
            return vs_ctr_bad_request(
                err,
                "The property 'initialAdminObjectIds' is required: a managed HSM "
                "needs at least one administrator.%s",
                "");
        return 0;
    }
    if (!json_is_array(admins) || json_array_size(admins) == 0 || json_array_size(admins) > 64)
        return vs_ctr_bad_request(
            err,
            "The property 'initialAdminObjectIds' must be an array of 1 to 64 "
            "object ids.%s",
            "");
    size_t i;
    const json_t *a;
    json_array_foreach(admins, i, a)
    {
        if (!vs_ctr_guid_like(json_string_value(a)))
            return vs_ctr_bad_request(err,
                                      "The initial administrator object id '%s' is not a GUID.",
                                      json_string_value(a) ? json_string_value(a) : "");
    }
    return 0;
}

/* Build the stored document from body (the client's, or a PATCH merged into the stored one). */
static int build_doc(struct vs_ctr_set *s, struct cmk_arm_call *call, const json_t *body,
                     const struct cmk_arm_resource *existing, json_t **out, struct cmk_err *err)
{
    *out = NULL;
    struct vs_ctr_doc d;
    const char *skuname = "Standard_B1", *family = "B";
    int rc = vs_ctr_doc_begin(s, call, body, existing, &d, err);
    if (rc == 0)
        rc = check_sku(json_object_get(body, "sku"), &skuname, &family, err);
    const json_t *admins = json_object_get(d.props, "initialAdminObjectIds");
    if ((admins == NULL || json_is_null(admins)) && d.old)
        admins = json_object_get(d.old, "initialAdminObjectIds");
    if (rc == 0)
        rc = check_admins(admins, 1, err);
    if (rc == 0)
        rc = vs_ctr_doc_rules(s, &d, err);
    if (rc == 0)
        rc = vs_ctr_doc_finish(s, &d, err);
    if (rc != 0)
        return rc;

    json_t *p = json_object();
    json_object_set_new(p, "tenantId", json_string(d.tenant));
    json_object_set_new(p, "initialAdminObjectIds", json_deep_copy(admins));
    json_object_set_new(p, "hsmUri", json_string(d.uri));
    json_object_set_new(p, "enableSoftDelete", json_true());
    json_object_set_new(p, "softDeleteRetentionInDays", json_integer(d.retention));
    json_object_set_new(p, "enablePurgeProtection", json_boolean(d.purge_protection));
    json_object_set_new(p, "publicNetworkAccess",
                        json_string(d.net.public_disabled ? "Disabled" : "Enabled"));
    json_object_set_new(p, "networkAcls", vs_ctr_doc_acls(json_object_get(d.props, "networkAcls")));
    json_object_set_new(p, "privateEndpointConnections", json_array());
    json_object_set_new(p, "regions",
                        json_pack("[{s:s, s:b, s:s}]", "name", d.location, "isPrimary", 1,
                                  "provisioningState", "Succeeded"));
    /* What the service owns: kept from the stored document on updates. */
    static const char *const owned[] = {"provisioningState", "statusMessage",
                                        "securityDomainProperties", NULL};
    for (int i = 0; d.old && owned[i]; i++) {
        json_t *v = json_object_get(d.old, owned[i]);
        if (v)
            json_object_set_new(p, owned[i], json_deep_copy(v));
    }
    json_t *doc = vs_ctr_doc_new(&d);
    json_object_set_new(doc, "sku", json_pack("{s:s, s:s}", "family", family, "name", skuname));
    json_object_set_new(doc, "properties", p);
    *out = doc;
    return 0;
}

static void set_state(json_t *doc, const char *provisioning, const char *message)
{
    json_t *p = json_object_get(doc, "properties");
    json_object_set_new(p, "provisioningState", json_string(provisioning));
    json_object_set_new(p, "statusMessage", json_string(message));
}

/* ---- provider callbacks -------------------------------------------------------------------- */

static int start_provision(struct cmk_arm_call *call, struct hsm_service *h, int recover,
                           struct cmk_err *err)
{
    json_t *data = json_pack("{s:b}", "recover", recover);
    int rc = cmk_arm_op_start(call, "hsm.provision", h->provision_delay, data, 0, err);
    json_decref(data);
    return rc;
}

/* A create is long-running: the HSM provisions on the clock, not yet activated. */
static int created(struct vs_ctr_set *s, struct cmk_arm_call *call, json_t *doc,
                   struct cmk_err *err)
{
    set_state(doc, "Provisioning", "Provisioning the managed HSM.");
    json_object_set_new(json_object_get(doc, "properties"), "securityDomainProperties",
                        json_pack("{s:s, s:s}", "activationStatus", "NotActivated",
                                  "activationStatusMessage", HSM_NOT_ACTIVE_MESSAGE));
    return start_provision(call, s->data, 0, err);
}

/* So is a recover. */
static int recovered(struct vs_ctr_set *s, struct cmk_arm_call *call, json_t *doc,
                     struct cmk_err *err)
{
    set_state(doc, "Provisioning", "Recovering the managed HSM.");
    return start_provision(call, s->data, 1, err);
}

/* Move the HSM of r to hsm_deleted (its keys, roles and audit log stay until the purge). */
static int soft_delete(struct hsm_service *h, const struct cmk_arm_resource *r, struct cmk_err *err)
{
    json_t *doc = json_deep_copy(r->doc);
    set_state(doc, "Succeeded", PROVISIONED_MESSAGE);
    int rc = vs_ctr_soft_delete(&h->hsms, r, doc, err);
    json_decref(doc);
    if (rc != 0)
        return rc;
    char lc[64];
    vs_ctr_lower(lc, sizeof(lc), r->name);
    const char *was = json_string_value(json_object_get(
        json_object_get(json_object_get(r->doc, "properties"), "securityDomainProperties"),
        "activationStatus"));
    publish_state(h, lc, was ? was : "NotActivated", "Deleted", "delete");
    return 0;
}

static int hsm_delete(struct cmk_arm_call *call, const struct cmk_arm_resource *r,
                      struct cmk_err *err)
{
    struct vs_ctr_set *s = call->provider->data;
    struct hsm_service *h = s->data;
    if (call->cascade)
        return soft_delete(h, r, err);
    json_t *doc = json_deep_copy(r->doc);
    set_state(doc, "Deleting", "Deleting the managed HSM.");
    int rc = cmk_arm_resource_put(h->arm, r->id, doc, call->caller_name, err);
    json_decref(doc);
    if (rc == 0)
        rc = cmk_arm_op_start(call, "hsm.delete", 0, NULL, 0, err);
    vs_ctr_changed(&h->hsms);
    return rc;
}

/* ---- operations --------------------------------------------------------------------------- */

static int complete_provision(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                              struct cmk_err *err)
{
    struct hsm_service *h = data;
    struct cmk_arm_resource r;
    if (cmk_arm_resource_get(arm, op->resource_id, &r, NULL) != 0)
        return 0; /* gone meanwhile (its group was deleted) */
    json_t *doc = json_deep_copy(r.doc);
    set_state(doc, "Succeeded", PROVISIONED_MESSAGE);
    int rc = 0;
    char lc[64];
    vs_ctr_lower(lc, sizeof(lc), r.name);
    if (!json_is_true(json_object_get(op->data, "recover")))
        rc = hsm__rbac_add_admins(
            h, lc, json_object_get(json_object_get(doc, "properties"), "initialAdminObjectIds"),
            err);
    if (rc == 0)
        rc = cmk_arm_resource_put(arm, r.id, doc, op->caller, err);
    json_decref(doc);
    if (rc == 0) {
        const char *status = json_string_value(json_object_get(
            json_object_get(json_object_get(r.doc, "properties"), "securityDomainProperties"),
            "activationStatus"));
        publish_state(
            h, lc, json_is_true(json_object_get(op->data, "recover")) ? "Deleted" : "Provisioning",
            status ? status : "NotActivated",
            json_is_true(json_object_get(op->data, "recover")) ? "recover" : "create");
    }
    cmk_arm_resource_close(&r);
    vs_ctr_changed(&h->hsms);
    return rc;
}

static int complete_delete(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                           struct cmk_err *err)
{
    struct hsm_service *h = data;
    struct cmk_arm_resource r;
    if (cmk_arm_resource_get(arm, op->resource_id, &r, NULL) != 0)
        return 0;
    int rc = soft_delete(h, &r, err);
    cmk_arm_resource_close(&r);
    return rc;
}

/* The purge itself is done when the request is answered; the operation only reports it. */
static int complete_purge(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                          struct cmk_err *err)
{
    (void)arm;
    (void)op;
    (void)data;
    (void)err;
    return 0;
}

static struct cmk_arm_op_kind op_provision = {"hsm.provision", complete_provision, NULL};
static struct cmk_arm_op_kind op_delete = {"hsm.delete", complete_delete, NULL};
static struct cmk_arm_op_kind op_purge = {"hsm.purge", complete_purge, NULL};

/* ---- purge -------------------------------------------------------------------------------- */

/* Everything of a deleted HSM goes: besides keys and audit log, roles and security domain state. */
static int forget(struct vs_ctr_set *s, const struct vs_deleted *d)
{
    int rc = hsm__rbac_forget(s->data, d->name);
    if (rc == 0)
        rc = hsm__sd_forget(s->data, d->name);
    return rc;
}

static void purged(struct vs_ctr_set *s, const struct vs_deleted *d)
{
    publish_state(s->data, d->name, "Deleted", "Purged", "purge");
}

int hsm__set_activation(struct hsm_service *h, const char *name, const char *status,
                        const char *message, struct cmk_err *err)
{
    char id[CMK_ARM_ID_MAX];
    struct cmk_arm_resource r;
    if (!vs_ctr_live_id(&h->hsms, name, id) || cmk_arm_resource_get(h->arm, id, &r, NULL) != 0)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "NotFound", "No managed HSM named '%s'.", name);
    json_t *doc = json_deep_copy(r.doc);
    json_object_set_new(
        json_object_get(doc, "properties"), "securityDomainProperties",
        json_pack("{s:s, s:s}", "activationStatus", status, "activationStatusMessage", message));
    int rc = cmk_arm_resource_put(h->arm, r.id, doc, "Microsoft.KeyVault", err);
    json_decref(doc);
    cmk_arm_resource_close(&r);
    vs_ctr_changed(&h->hsms);
    return rc;
}

/* ---- the flavour ------------------------------------------------------------------------- */

#define HSM_PATH                                                                                   \
    "/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/managedHSMs/{hsm}"
#define DELETED_PATH                                                                               \
    "/subscriptions/{s}/providers/Microsoft.KeyVault/locations/{location}/deletedManagedHSMs/"     \
    "{name}"

static const char *const booleans[] = {"enableSoftDelete", "enablePurgeProtection", NULL};

static const struct vs_ctr_flavour hsm_flavour = {
    .type = HSM_TYPE,
    .kind = "hsm",
    .label = "managed HSM",
    .space_label = "managed HSM",
    .log_name = "hsmsim",
    .dns_zone = "managedhsm.azure.net",
    .deleted_type = "deletedManagedHSMs",
    .deleted_id_property = "mhsmId",
    .purge_operation = "DeletedManagedHsmPurge",
    .store_module = "hsmsim",
    .migrations = migrations,
    .nmigrations = sizeof(migrations) / sizeof(migrations[0]),
    .names_table = "hsm_names",
    .deleted_table = "hsm_deleted",
    .deleted_order = "deleted, name",
    .api_versions = api_versions,
    .booleans = booleans,
    .purge_protection_default = 1,
    .purge_op_kind = "hsm.purge",
    .route_deleted_list = "/subscriptions/{s}/providers/Microsoft.KeyVault/deletedManagedHSMs",
    .route_deleted = DELETED_PATH,
    .route_purge = DELETED_PATH "/purge",
    .route_check_name = "/subscriptions/{s}/providers/Microsoft.KeyVault/checkMhsmNameAvailability",
    .route_audit_arm = HSM_PATH "/auditEvents",
    .route_audit = "/_cmksim/managedHSMs/{hsm}/audit",
    .deleted_param = "name",
    .audit_param = "hsm",
    .name_invalid_code = "BadRequest",
    .name_invalid_more = "",
    .recover_lowercase = 1,
    .deleted_conflict =
        "Exist soft deleted managed HSM with the same name. Recover or purge it first.",
    .taken_code = "Conflict",
    .taken_fmt = "The managed HSM name '%s' is already in use. Managed HSM names are globally "
                 "unique so it is possible that the name is already taken.",
    .check_taken_fmt = "The name '%s' is already in use. Managed HSM names are globally unique.",
    .check_deleted = "A managed HSM with the same name already exists in deleted state. You need "
                     "to either recover or purge the existing managed HSM.",
    .soft_delete_off = "The property \"enableSoftDelete\" cannot be set to false: soft delete is "
                       "always on for managed HSMs.",
    .not_found_code = "NotFound",
    .info_size = sizeof(struct hsm_pool),
    .parse = hsm__parse,
    .key_types = hsm__key_types,
    .build = build_doc,
    .created = created,
    .recovered = recovered,
    .del = hsm_delete,
    .forget = forget,
    .purged = purged,
};

int hsm__arm_register(struct hsm_service *h, struct cmk_err *err)
{
    int rc = vs_ctr_init(&h->hsms, h->rt, &hsm_flavour, h, h->audit, err);
    if (rc != 0)
        return rc;
    op_provision.data = op_delete.data = op_purge.data = h;
    cmk_arm_op_kind_register(h->arm, &op_provision);
    cmk_arm_op_kind_register(h->arm, &op_delete);
    cmk_arm_op_kind_register(h->arm, &op_purge);
    return 0;
}

/* ---- open / close ------------------------------------------------------------------------- */

int hsm_open(struct hsm_service **out, struct cmk_runtime *rt, struct cmk_err *err)
{
    *out = NULL;
    if (rt->arm == NULL)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError",
                           "hsmsim needs the ARM core: call cmk_arm_open first");
    struct hsm_service *h = cmk_xcalloc(1, sizeof(*h));
    h->rt = rt;
    h->arm = rt->arm;
    h->provision_delay = 2 * CMK_SECOND;
    h->activation_delay = 2 * CMK_SECOND;
    int rc = vs_audit_open(&h->audit, rt, err);
    if (rc == 0)
        rc = hsm__arm_register(h, err);
    if (rc == 0)
        rc = vs_ctr_engine_open(&h->hsms, &h->engine, err);
    if (rc == 0)
        rc = hsm__keys_open(h, err);
    if (rc == 0)
        rc = hsm__rbac_register(h, err);
    if (rc == 0)
        rc = hsm__sd_register(h, err);
    if (rc != 0) {
        hsm_free(h);
        return rc;
    }
    vs_ctr_purge_rearm(&h->hsms);
    hsm__sd_rearm(h);
    *out = h;
    return 0;
}

void hsm_free(struct hsm_service *h)
{
    if (h == NULL)
        return;
    vs_ctr_close(&h->hsms);
    if (h->sd_timer.clock)
        cmk_timer_stop(&h->sd_timer);
    vs_keys_free(h->keys);
    vs_engine_free(h->engine);
    vs_audit_free(h->audit);
    free(h);
}

void hsm_set_timing(struct hsm_service *h, cmk_time_t provision, cmk_time_t activation)
{
    h->provision_delay = provision > 0 ? provision : 0;
    h->activation_delay = activation > 0 ? activation : 0;
}

void hsm_set_throttle(struct hsm_service *h, double rate, double burst)
{
    vs_keys_set_throttle(h->keys, rate, burst);
}

const char *hsm_activation_status(struct hsm_service *h, const char *name)
{
    const struct hsm_pool *p = hsm__find(h, name);
    return p == NULL ? NULL : p->active ? "Active" : "NotActivated";
}

int hsm_audit_read(struct hsm_service *h, const char *name, int64_t after, struct cmk_buf *out,
                   int64_t *last, struct cmk_err *err)
{
    return vs_ctr_audit_read(&h->hsms, name, after, out, last, err);
}
