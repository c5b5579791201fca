/* arm_sub.c: the tenant-level routes of the ARM core (see arm.h): tenants, subscriptions,
 * the regions of a subscription, the resource provider namespaces (what `az provider show`
 * and the SDKs read), and the management host's fallback for paths no route serves.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm_int.h"
#include "runtime.h"
#include "store.h"
/* ---- tenants and subscriptions ---- */

int cmk_arm_tenant_add(struct cmk_arm *arm, const char *tenant_id, const char *display_name,
                       const char *domain, struct cmk_err *err)
{
    if (tenant_id == NULL || !cmk__arm_valid_guid(tenant_id))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidTenantId",
                           "The tenant id '%.64s' is not a GUID.", tenant_id ? tenant_id : "");
    sqlite3_stmt *st = cmk_store_stmt(
        arm->db, "INSERT INTO arm_tenants(id, display_name, domain, seq) VALUES(?1, ?2, ?3, "
                 "(SELECT COALESCE(MAX(seq), 0) + 1 FROM arm_tenants)) ON CONFLICT(id) DO UPDATE "
                 "SET display_name = ?2, domain = ?3");
    sqlite3_bind_text(st, 1, tenant_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, display_name ? display_name : tenant_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, domain ? domain : "", -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError", "cannot store tenant: %s",
                           sqlite3_errmsg(arm->db));
    return 0;
}

int cmk_arm_tenant_exists(struct cmk_arm *arm, const char *tenant_id)
{
    sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT 1 FROM arm_tenants WHERE id = ?1");
    sqlite3_bind_text(st, 1, tenant_id, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return found;
}

int cmk_arm_subscription_add(struct cmk_arm *arm, const char *sub_id, const char *tenant_id,
                             const char *display_name, struct cmk_err *err)
{
    if (sub_id == NULL || !cmk__arm_valid_guid(sub_id) || strlen(sub_id) != 36)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidSubscriptionId",
                           "The provided subscription identifier '%.64s' is malformed or "
                           "invalid.",
                           sub_id ? sub_id : "");
    if (tenant_id == NULL || !cmk_arm_tenant_exists(arm, tenant_id))
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "TenantNotFound",
                           "The tenant '%.64s' does not exist.", tenant_id ? tenant_id : "");
    sqlite3_stmt *st = cmk_store_stmt(
        arm->db, "INSERT INTO arm_subscriptions(id, tenant, display_name, seq) VALUES(?1, ?2, "
                 "?3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM arm_subscriptions)) ON CONFLICT(id) "
                 "DO UPDATE SET tenant = ?2, display_name = ?3");
    sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, tenant_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, display_name ? display_name : sub_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                           "cannot store subscription: %s", sqlite3_errmsg(arm->db));
    return 0;
}

int cmk_arm_subscription_tenant(struct cmk_arm *arm, const char *sub_id, char tenant[64],
                                struct cmk_err *err)
{
    sqlite3_stmt *st = cmk_store_stmt(
        arm->db, "SELECT tenant FROM arm_subscriptions WHERE id = ?1 AND state <> 'Deleted'");
    sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        snprintf(tenant, 64, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (!found)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "SubscriptionNotFound",
                           "The subscription '%.64s' could not be found.", sub_id);
    return 0;
}

static json_t *subscription_json(sqlite3_stmt *st)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    char path[128];
    snprintf(path, sizeof(path), "/subscriptions/%s", id);
    return json_pack("{s:s, s:s, s:[], s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "id", path,
                     "authorizationSource", "RoleBased", "managedByTenants", "subscriptionId", id,
                     "tenantId", (const char *)sqlite3_column_text(st, 1), "displayName",
                     (const char *)sqlite3_column_text(st, 2), "state",
                     (const char *)sqlite3_column_text(st, 3), "subscriptionPolicies",
                     "locationPlacementId", "Public_2014-09-01", "quotaId", "PayAsYouGo_2014-09-01",
                     "spendingLimit", "Off");
}

/* Authentication + api-version for the tenant-level routes. */
static int tenant_call_begin(struct cmk_arm *arm, struct cmk_request *req, struct cmk_response *res,
                             struct cmk_arm_call *call)
{
    struct cmk_err err;
    cmk__arm_call_init(arm, call, req, res);
    int rc = cmk__arm_authenticate(call, &err);
    if (rc == 0)
        rc = cmk__arm_check_api_version(call, NULL, &err);
    if (rc != 0)
        cmk__arm_error(arm, res, &err);
    return rc;
}

static void h_subscriptions(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    if (tenant_call_begin(arm, req, res, &call) != 0)
        return;
    sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT id, tenant, display_name, state FROM "
                                               "arm_subscriptions WHERE tenant = ?1 AND state <> "
                                               "'Deleted' ORDER BY seq");
    sqlite3_bind_text(st, 1, call.caller.tid, -1, SQLITE_TRANSIENT);
    json_t *items = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(items, subscription_json(st));
    sqlite3_reset(st);
    cmk_arm_respond_list(&call, items);
}

static void h_subscription(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    struct cmk_err err;
    if (tenant_call_begin(arm, req, res, &call) != 0)
        return;
    const char *sub = cmk_request_param(req, "s");
    if (cmk__arm_check_subscription(&call, sub, &err) != 0) {
        cmk__arm_error(arm, res, &err);
        return;
    }
    sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT id, tenant, display_name, state FROM "
                                               "arm_subscriptions WHERE id = ?1");
    sqlite3_bind_text(st, 1, sub, -1, SQLITE_TRANSIENT);
    json_t *j = sqlite3_step(st) == SQLITE_ROW ? subscription_json(st) : NULL;
    sqlite3_reset(st);
    cmk_response_json(res, 200, j);
}

static void h_tenants(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    if (tenant_call_begin(arm, req, res, &call) != 0)
        return;
    sqlite3_stmt *st = cmk_store_stmt(
        arm->db, "SELECT id, display_name, domain FROM arm_tenants WHERE id = ?1 ORDER BY seq");
    sqlite3_bind_text(st, 1, call.caller.tid, -1, SQLITE_TRANSIENT);
    json_t *items = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *domain = (const char *)sqlite3_column_text(st, 2);
        char path[128];
        snprintf(path, sizeof(path), "/tenants/%s", id);
        json_array_append_new(items,
                              json_pack("{s:s, s:s, s:s, s:s, s:[s], s:s, s:s, s:s}", "id", path,
                                        "tenantId", id, "countryCode", "US", "displayName",
                                        (const char *)sqlite3_column_text(st, 1), "domains", domain,
                                        "tenantCategory", "Home", "defaultDomain", domain,
                                        "tenantType", "AAD"));
    }
    sqlite3_reset(st);
    cmk_arm_respond_list(&call, items);
}

static void h_locations(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    struct cmk_err err;
    if (tenant_call_begin(arm, req, res, &call) != 0)
        return;
    const char *sub = cmk_request_param(req, "s");
    if (cmk__arm_check_subscription(&call, sub, &err) != 0) {
        cmk__arm_error(arm, res, &err);
        return;
    }
    cmk_response_json(res, 200, json_pack("{s:o}", "value", cmk__arm_locations_json(sub)));
}

/* ---- providers (namespaces) ---- */

static json_t *namespace_json(struct cmk_arm *arm, const char *sub, const char *ns)
{
    json_t *types = json_array();
    const char *canonical = ns;
    size_t l = strlen(ns);
    for (size_t i = 0; i < arm->nproviders; i++) {
        const struct cmk_arm_provider *p = arm->providers[i];
        if (strncasecmp(p->type, ns, l) != 0 || p->type[l] != '/')
            continue;
        json_t *versions = json_array();
        for (size_t v = 0; p->api_versions && p->api_versions[v]; v++)
            json_array_append_new(versions, json_string(p->api_versions[v]));
        json_t *locs = json_array();
        if (!(p->flags & CMK_ARM_PROVIDER_NO_LOCATION) && cmk__arm_type_depth(p->type) == 1) {
            json_t *all = cmk__arm_locations_json(sub ? sub : CMK_ARM_DEFAULT_SUBSCRIPTION);
            size_t k;
            json_t *loc;
            json_array_foreach(all, k, loc)
                json_array_append(locs, json_object_get(loc, "displayName"));
            json_decref(all);
        }
        json_array_append_new(types, json_pack("{s:s, s:o, s:o, s:s}", "resourceType",
                                               p->type + l + 1, "locations", locs, "apiVersions",
                                               versions, "capabilities", "None"));
        canonical = p->type;
    }
    char nsname[64];
    snprintf(nsname, sizeof(nsname), "%.*s", (int)(l < 63 ? l : 63), canonical);
    char id[160];
    if (sub)
        snprintf(id, sizeof(id), "/subscriptions/%s/providers/%s", sub, nsname);
    else
        snprintf(id, sizeof(id), "/providers/%s", nsname);
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", id, "namespace", nsname,
                     "registrationState", "Registered", "registrationPolicy",
                     "RegistrationRequired", "resourceTypes", types);
}

void cmk__arm_provider_info(struct cmk_arm_call *call, const char *ns)
{
    struct cmk_err err;
    if (!cmk__arm_namespace_known(call->arm, ns)) {
        cmk_err_set(&err, CMK_ENOTFOUND, 404, "InvalidResourceNamespace",
                    "The resource namespace '%.64s' is invalid.", ns);
        cmk__arm_error(call->arm, call->res, &err);
        return;
    }
    cmk_response_json(call->res, 200,
                      namespace_json(call->arm, call->rid.sub[0] ? call->rid.sub : NULL, ns));
}

static void list_namespaces(struct cmk_arm_call *call, const char *sub)
{
    struct cmk_arm *arm = call->arm;
    json_t *items = json_array();
    for (size_t i = 0; i < arm->nproviders; i++) {
        const char *t = arm->providers[i]->type;
        size_t l = strcspn(t, "/");
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncasecmp(arm->providers[j]->type, t, l) == 0 &&
                   arm->providers[j]->type[l] == '/';
        if (seen)
            continue;
        char ns[64];
        snprintf(ns, sizeof(ns), "%.*s", (int)(l < 63 ? l : 63), t);
        json_array_append_new(items, namespace_json(arm, sub, ns));
    }
    cmk_arm_respond_list(call, items);
}

static void h_sub_providers(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    struct cmk_err err;
    if (tenant_call_begin(arm, req, res, &call) != 0)
        return;
    const char *sub = cmk_request_param(req, "s");
    if (cmk__arm_check_subscription(&call, sub, &err) != 0) {
        cmk__arm_error(arm, res, &err);
        return;
    }
    list_namespaces(&call, sub);
}

static void h_tenant_providers(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    if (tenant_call_begin(arm, req, res, &call) != 0)
        return;
    const char *ns = cmk_request_param(req, "ns");
    if (ns)
        cmk__arm_provider_info(&call, ns);
    else
        list_namespaces(&call, NULL);
}

static void h_fallback(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_err err;
    if (res->status == 405)
        cmk_err_set(&err, CMK_EINVAL, 405, "MethodNotAllowed",
                    "The requested resource does not support http method '%s'.", req->method);
    else
        cmk_err_set(&err, CMK_ENOTFOUND, 404, "NotFound",
                    "The requested path '%.600s' is not an Azure Resource Manager route.",
                    req->path ? req->path : "");
    cmk__arm_error(arm, res, &err);
}

void cmk__arm_register_core_routes(struct cmk_arm *arm)
{
    struct cmk_router *r = &arm->rt->router;
    cmk_router_add(r, CMK_HOST_MGMT, "GET", "/tenants", h_tenants, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", "/subscriptions", h_subscriptions, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", "/subscriptions/{s}", h_subscription, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", "/subscriptions/{s}/locations", h_locations, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", "/subscriptions/{s}/providers", h_sub_providers, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", "/providers", h_tenant_providers, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", "/providers/{ns}", h_tenant_providers, arm);
    cmk_router_set_fallback(r, CMK_HOST_MGMT, h_fallback, arm);
}
