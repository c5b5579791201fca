/* arm_group.c: resource groups (PUT/GET/HEAD/PATCH/DELETE/LIST under
 * /subscriptions/{s}/resourcegroups, any case) and the generic resources list that `az
 * keyvault list` and `az resource list` read (/subscriptions/{s}/resources and
 * /subscriptions/{s}/resourceGroups/{rg}/resources with $filter). Deleting a group is a
 * long-running operation that deletes the group's resources through their providers. See
 * arm.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm_int.h"
#include "runtime.h"
#include "store.h"

#define GROUP_TYPE   "Microsoft.Resources/resourceGroups"
#define GROUP_WRITE  "Microsoft.Resources/subscriptions/resourceGroups/write"
#define GROUP_DELETE "Microsoft.Resources/subscriptions/resourceGroups/delete"

static json_t *group_json(sqlite3_stmt *st)
{
    /* columns: subscription, name, location, tags, managed_by, state */
    char id[256];
    snprintf(id, sizeof(id), "/subscriptions/%s/resourceGroups/%s", sqlite3_column_text(st, 0),
             sqlite3_column_text(st, 1));
    json_t *g = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "name", sqlite3_column_text(st, 1),
                          "type", GROUP_TYPE, "location", sqlite3_column_text(st, 2));
    json_t *tags = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
    if (json_object_size(tags) > 0)
        json_object_set_new(g, "tags", tags);
    else
        json_decref(tags);
    const char *managed = (const char *)sqlite3_column_text(st, 4);
    if (managed && managed[0])
        json_object_set_new(g, "managedBy", json_string(managed));
    json_object_set_new(
        g, "properties",
        json_pack("{s:s}", "provisioningState", (const char *)sqlite3_column_text(st, 5)));
    return g;
}

int cmk__arm_group_get(struct cmk_arm *arm, const char *sub, const char *rg, json_t **view,
                       char state[32], struct cmk_err *err)
{
    sqlite3_stmt *st =
        cmk_store_stmt(arm->db, "SELECT subscription, name, location, tags, managed_by, "
                                "state FROM arm_groups WHERE subscription = ?1 AND name = "
                                "?2");
    sqlite3_bind_text(st, 1, sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, rg, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found && view)
        *view = group_json(st);
    if (found && state)
        snprintf(state, 32, "%s", (const char *)sqlite3_column_text(st, 5));
    sqlite3_reset(st);
    if (!found)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "ResourceGroupNotFound",
                           "Resource group '%.96s' could not be found.", rg);
    return 0;
}

static int group_set_state(struct cmk_arm *arm, const char *sub, const char *rg, const char *state)
{
    sqlite3_stmt *st = cmk_store_stmt(
        arm->db, "UPDATE arm_groups SET state = ?3 WHERE subscription = ?1 AND name = ?2");
    sqlite3_bind_text(st, 1, sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, rg, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, state, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    return rc;
}

struct cascade {
    struct cmk_arm *arm;
    struct cmk_err *err;
};

static int delete_one(void *data, const struct cmk_arm_resource *r)
{
    struct cascade *c = data;
    /* Children go with their parent. */
    struct cmk_arm_id id;
    if (cmk_arm_id_parse(r->id, &id, NULL) == 0 && id.depth > 1)
        return 0;
    return cmk__arm_res_delete_cascade(c->arm, r, c->err);
}

int cmk__arm_group_delete_now(struct cmk_arm *arm, const char *sub, const char *rg,
                              struct cmk_err *err)
{
    struct cascade c = {arm, err};
    int rc = cmk_arm_resource_each(arm, NULL, sub, rg, delete_one, &c);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st =
        cmk_store_stmt(arm->db, "DELETE FROM arm_groups WHERE subscription = ?1 AND name = ?2");
    sqlite3_bind_text(st, 1, sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, rg, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    if (rc != 0)
        return cmk_err_set(err, rc, 500, "InternalServerError", "state store: %s",
                           sqlite3_errmsg(arm->db));
    return 0;
}

/* The completion of a group deletion (kind "arm.resourceGroups.delete"). */
static int group_delete_complete(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                                 struct cmk_err *err)
{
    (void)data;
    struct cmk_arm_id id;
    if (cmk_arm_id_parse(op->resource_id, &id, err) != 0)
        return CMK_EINVAL;
    if (cmk__arm_group_get(arm, id.sub, id.rg, NULL, NULL, NULL) != 0)
        return 0; /* already gone */
    int rc = cmk__arm_group_delete_now(arm, id.sub, id.rg, err);
    if (rc != 0)
        group_set_state(arm, id.sub, id.rg, "Succeeded");
    return rc;
}

const struct cmk_arm_op_kind cmk__arm_group_delete_kind = {"arm.resourceGroups.delete",
                                                           group_delete_complete, NULL};

/* "letters, digits, '-', '.', '(', ')' or '_'", up to 90, not ending in '.'. */
static int check_group_name(const char *name, struct cmk_err *err)
{
    size_t n = strlen(name);
    char bad[16] = "";
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x80 || isalnum(c) || strchr("-.()_", c))
            continue;
        if (nb + 1 < sizeof(bad) && !strchr(bad, c))
            bad[nb++] = (char)c, bad[nb] = '\0';
    }
    if (nb)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidResourceGroup",
                           "The provided resource group name '%.96s' has these invalid "
                           "characters: '%s'. The name can only be a letter, digit, '-', '.', "
                           "'(', ')' or '_'.",
                           name, bad);
    if (n == 0 || n > 90 || name[n - 1] == '.')
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidResourceGroup",
                           "The provided resource group name '%.96s' is invalid: it must have 1 "
                           "to 90 characters and cannot end with a period.",
                           name);
    return 0;
}

static int group_call_begin(struct cmk_arm *arm, struct cmk_request *req, struct cmk_response *res,
                            struct cmk_arm_call *call)
{
    struct cmk_err err;
    cmk__arm_call_init(arm, call, req, res);
    const char *sub = cmk_request_param(req, "s");
    int rc = cmk__arm_authenticate(call, &err);
    if (rc == 0)
        rc = cmk__arm_check_subscription(call, sub, &err);
    if (rc == 0)
        rc = cmk__arm_check_api_version(call, NULL, &err);
    if (rc != 0) {
        cmk__arm_error(arm, res, &err);
        return rc;
    }
    snprintf(call->rid.sub, sizeof(call->rid.sub), "%s", sub);
    const char *rg = cmk_request_param(req, "rg");
    if (rg) {
        snprintf(call->rid.rg, sizeof(call->rid.rg), "%s", rg);
        cmk_arm_id_format(&call->rid, call->id, sizeof(call->id));
    }
    snprintf(call->type, sizeof(call->type), "%s", GROUP_TYPE);
    return 0;
}

static int tags_valid(json_t *tags)
{
    if (tags == NULL || json_is_null(tags))
        return 1;
    const char *k;
    json_t *v;
    int ok = json_is_object(tags) && json_object_size(tags) <= 50;
    json_object_foreach(tags, k, v) ok = ok && json_is_string(v);
    return ok;
}

static void group_put(struct cmk_arm_call *call)
{
    struct cmk_arm *arm = call->arm;
    struct cmk_err err;
    const char *rg = call->rid.rg;
    char state[32] = "", norm[64];
    json_t *view = NULL;
    int rc = check_group_name(rg, &err);
    json_t *body = rc == 0 ? cmk_request_json(call->req, &err) : NULL;
    if (rc == 0 && body == NULL) {
        char msg[sizeof(err.message)];
        snprintf(msg, sizeof(msg), "%s", err.message);
        rc =
            cmk_err_set(&err, CMK_EPARSE, 400, "InvalidRequestContent",
                        "The request content was invalid and could not be deserialized: '%s'", msg);
    }
    if (rc != 0)
        goto fail;
    const char *loc = json_string_value(json_object_get(body, "location"));
    if (loc == NULL || loc[0] == '\0') {
        rc = cmk_err_set(&err, CMK_EINVAL, 400, "LocationRequired",
                         "The location property is required for this definition.");
        goto fail;
    }
    if ((rc = cmk_arm_location_normalize(loc, norm, sizeof(norm), GROUP_TYPE, &err)) != 0)
        goto fail;
    json_t *tags = json_object_get(body, "tags");
    if (!tags_valid(tags)) {
        rc = cmk_err_set(&err, CMK_EINVAL, 400, "InvalidTag",
                         "The tags must be an object of at most 50 string values.");
        goto fail;
    }
    const char *managed = json_string_value(json_object_get(body, "managedBy"));
    int exists = cmk__arm_group_get(arm, call->rid.sub, rg, &view, state, NULL) == 0;
    if (exists) {
        const char *old = json_string_value(json_object_get(view, "location"));
        if (strcasecmp(state, "Deleting") == 0) {
            rc = cmk_err_set(&err, CMK_ECONFLICT, 409, "ResourceGroupBeingDeleted",
                             "The resource group '%s' is in deprovisioning state and cannot "
                             "perform this operation.",
                             rg);
            goto fail;
        }
        if (old && strcasecmp(old, norm) != 0) {
            rc = cmk_err_set(&err, CMK_ECONFLICT, 409, "InvalidResourceGroupLocation",
                             "Invalid resource group location '%s'. The Resource group already "
                             "exists in location '%s'.",
                             norm, old);
            goto fail;
        }
    }
    char *tagtext = json_is_object(tags) ? json_dumps(tags, JSON_COMPACT) : cmk_xstrdup("{}");
    sqlite3_stmt *st = cmk_store_stmt(
        arm->db, "INSERT INTO arm_groups(subscription, name, location, tags, managed_by, created, "
                 "created_by) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(subscription, name) "
                 "DO UPDATE SET tags = ?4, managed_by = ?5");
    sqlite3_bind_text(st, 1, call->rid.sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, rg, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, norm, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, tagtext, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, managed ? managed : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, cmk_clock_now(&arm->rt->clock));
    sqlite3_bind_text(st, 7, call->caller_name, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    free(tagtext);
    if (rc != 0) {
        cmk_err_set(&err, rc, 500, "InternalServerError", "state store: %s",
                    sqlite3_errmsg(arm->db));
        goto fail;
    }
    json_decref(view);
    view = NULL;
    cmk__arm_group_get(arm, call->rid.sub, rg, &view, NULL, NULL);
    cmk_response_json(call->res, exists ? 200 : 201, view);
    return;
fail:
    json_decref(view);
    cmk__arm_error(arm, call->res, &err);
}

static void group_patch(struct cmk_arm_call *call)
{
    struct cmk_arm *arm = call->arm;
    struct cmk_err err;
    json_t *view = NULL;
    char state[32];
    int rc = cmk__arm_group_get(arm, call->rid.sub, call->rid.rg, &view, state, &err);
    json_t *body = rc == 0 ? cmk_request_json(call->req, &err) : NULL;
    if (rc == 0 && body == NULL)
        rc = cmk_err_set(&err, CMK_EPARSE, 400, "InvalidRequestContent",
                         "The request content was invalid and could not be deserialized.");
    json_t *tags = body ? json_object_get(body, "tags") : NULL;
    if (rc == 0 && !tags_valid(tags))
        rc = cmk_err_set(&err, CMK_EINVAL, 400, "InvalidTag",
                         "The tags must be an object of at most 50 string values.");
    if (rc == 0 && strcasecmp(state, "Deleting") == 0)
        rc = cmk_err_set(&err, CMK_ECONFLICT, 409, "ResourceGroupBeingDeleted",
                         "The resource group '%s' is in deprovisioning state and cannot "
                         "perform this operation.",
                         call->rid.rg);
    json_decref(view);
    if (rc != 0) {
        cmk__arm_error(arm, call->res, &err);
        return;
    }
    if (tags) {
        char *text = json_is_object(tags) ? json_dumps(tags, JSON_COMPACT) : cmk_xstrdup("{}");
        sqlite3_stmt *st = cmk_store_stmt(
            arm->db, "UPDATE arm_groups SET tags = ?3 WHERE subscription = ?1 AND name = ?2");
        sqlite3_bind_text(st, 1, call->rid.sub, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, call->rid.rg, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
        sqlite3_step(st);
        sqlite3_reset(st);
        free(text);
    }
    view = NULL;
    cmk__arm_group_get(arm, call->rid.sub, call->rid.rg, &view, NULL, NULL);
    cmk_response_json(call->res, 200, view);
}

static void group_delete(struct cmk_arm_call *call)
{
    struct cmk_arm *arm = call->arm;
    struct cmk_err err;
    json_t *view = NULL;
    char state[32];
    int rc = cmk__arm_group_get(arm, call->rid.sub, call->rid.rg, &view, state, &err);
    if (rc != 0) {
        cmk__arm_error(arm, call->res, &err);
        return;
    }
    /* The group id with the casing it was created with. */
    snprintf(call->id, sizeof(call->id), "%s", json_string_value(json_object_get(view, "id")));
    snprintf(call->location, sizeof(call->location), "%s",
             json_string_value(json_object_get(view, "location")));
    json_decref(view);
    if (strcasecmp(state, "Deleting") != 0) {
        if (group_set_state(arm, call->rid.sub, call->rid.rg, "Deleting") != 0 ||
            cmk__arm_op_start_raw(arm, call, cmk__arm_group_delete_kind.name, call->id,
                                  "Microsoft.Resources", call->location, arm->group_delete_delay,
                                  NULL, 0, &err) != 0) {
            cmk__arm_error(arm, call->res, &err);
            return;
        }
    } else {
        /* Already being deleted: point at the pending operation. */
        sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT id FROM arm_operations WHERE "
                                                   "resource_id = ?1 AND status = 'InProgress' "
                                                   "ORDER BY seq DESC LIMIT 1");
        sqlite3_bind_text(st, 1, call->id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(call->op_id, sizeof(call->op_id), "%s",
                     (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
    }
    cmk_arm_respond_accepted(call, 202, NULL);
}

static void h_group(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    if (group_call_begin(arm, req, res, &call) != 0)
        return;
    const char *m = req->method;
    if (strcasecmp(m, "GET") == 0 || strcasecmp(m, "HEAD") == 0) {
        json_t *view = NULL;
        struct cmk_err err;
        if (cmk__arm_group_get(arm, call.rid.sub, call.rid.rg, &view, NULL, &err) != 0) {
            if (strcasecmp(m, "HEAD") == 0)
                cmk_response_json(res, 404, NULL);
            else
                cmk__arm_error(arm, res, &err);
            return;
        }
        if (strcasecmp(m, "HEAD") == 0) {
            json_decref(view);
            cmk_response_json(res, 204, NULL);
        } else {
            cmk_response_json(res, 200, view);
        }
        return;
    }
    int del = strcasecmp(m, "DELETE") == 0;
    snprintf(call.operation, sizeof(call.operation), "%s", del ? GROUP_DELETE : GROUP_WRITE);
    cmk__arm_call_write_begin(&call);
    if (strcasecmp(m, "PUT") == 0)
        group_put(&call);
    else if (strcasecmp(m, "PATCH") == 0)
        group_patch(&call);
    else
        group_delete(&call);
    cmk_arm_call_end(&call);
}

static void h_groups(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    if (group_call_begin(arm, req, res, &call) != 0)
        return;
    sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT subscription, name, location, tags, "
                                               "managed_by, state FROM arm_groups WHERE "
                                               "subscription = ?1 ORDER BY seq");
    sqlite3_bind_text(st, 1, call.rid.sub, -1, SQLITE_TRANSIENT);
    json_t *items = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(items, group_json(st));
    sqlite3_reset(st);
    cmk_arm_respond_list(&call, items);
}

/* ---- /resources ---- */

static int term_matches(const struct arm_filter_term *t, const struct cmk_arm_resource *r,
                        const char *type)
{
    const char *v = NULL;
    if (!strcasecmp(t->field, "resourceType"))
        v = type;
    else if (!strcasecmp(t->field, "name"))
        v = r->name;
    else if (!strcasecmp(t->field, "location"))
        v = r->location;
    else if (!strcasecmp(t->field, "resourceGroup"))
        v = r->rg;
    else if (!strcasecmp(t->field, "tagName"))
        return json_object_get(json_object_get(r->doc, "tags"), t->value) != NULL;
    else if (!strcasecmp(t->field, "tagValue")) {
        const char *k;
        json_t *tv;
        json_object_foreach(json_object_get(r->doc, "tags"), k, tv)
        {
            if (json_is_string(tv) && strcasecmp(json_string_value(tv), t->value) == 0)
                return 1;
        }
        return 0;
    }
    if (v == NULL)
        return 0;
    if (!strcmp(t->op, "substringof"))
        return strcasestr(v, t->value) != NULL;
    int eq = strcasecmp(v, t->value) == 0;
    return !strcmp(t->op, "ne") ? !eq : eq;
}

static void list_resources(struct cmk_arm *arm, struct cmk_request *req, struct cmk_response *res,
                           int in_group)
{
    struct cmk_arm_call call;
    struct cmk_err err;
    if (group_call_begin(arm, req, res, &call) != 0)
        return;
    if (in_group && cmk__arm_group_get(arm, call.rid.sub, call.rid.rg, NULL, NULL, &err) != 0) {
        cmk__arm_error(arm, res, &err);
        return;
    }
    struct arm_filter_term terms[ARM_FILTER_MAX];
    size_t nt = 0;
    if (cmk__arm_filter_parse(cmk_request_query(req, "$filter"), terms, ARM_FILTER_MAX, &nt,
                              "InvalidFilterInQueryString", &err) != 0) {
        cmk__arm_error(arm, res, &err);
        return;
    }
    for (size_t i = 0; i < nt; i++) {
        const char *f = terms[i].field;
        if (strcasecmp(f, "resourceType") && strcasecmp(f, "name") && strcasecmp(f, "location") &&
            strcasecmp(f, "resourceGroup") && strcasecmp(f, "tagName") &&
            strcasecmp(f, "tagValue")) {
            cmk_err_set(&err, CMK_EINVAL, 400, "InvalidFilterInQueryString",
                        "The $filter field '%s' is not supported.", f);
            cmk__arm_error(arm, res, &err);
            return;
        }
    }
    const char *expand = cmk_request_query(req, "$expand");
    sqlite3_stmt *st = cmk_store_stmt(
        arm->db, "SELECT " ARM_RES_COLUMNS " FROM arm_resources WHERE subscription = ?1 AND "
                 "parent = '' AND (?2 IS NULL OR resource_group = ?2) ORDER BY seq");
    sqlite3_bind_text(st, 1, call.rid.sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, in_group ? call.rid.rg : NULL, -1, SQLITE_TRANSIENT);
    json_t *items = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct cmk_arm_resource r;
        cmk__arm_res_from_row(st, &r);
        const struct cmk_arm_provider *p = cmk_arm_provider_find(arm, r.type);
        const char *type = p ? p->type : r.type;
        int ok = !(p && (p->flags & CMK_ARM_PROVIDER_HIDDEN));
        for (size_t i = 0; ok && i < nt; i++)
            ok = term_matches(&terms[i], &r, type);
        if (ok) {
            json_t *item = json_pack("{s:s, s:s, s:s}", "id", r.id, "name", r.name, "type", type);
            static const char *const keys[] = {"sku",  "kind",     "managedBy",
                                               "plan", "identity", NULL};
            if (r.location[0])
                json_object_set_new(item, "location", json_string(r.location));
            json_t *tags = json_object_get(r.doc, "tags");
            if (json_is_object(tags))
                json_object_set(item, "tags", tags);
            else
                json_object_set_new(item, "tags", json_object());
            for (size_t k = 0; keys[k]; k++)
                if (json_object_get(r.doc, keys[k]))
                    json_object_set(item, keys[k], json_object_get(r.doc, keys[k]));
            if (expand && strcasestr(expand, "createdTime")) {
                char t[40];
                cmk_time_format(r.created, t, sizeof(t));
                json_object_set_new(item, "createdTime", json_string(t));
            }
            if (expand && strcasestr(expand, "changedTime")) {
                char t[40];
                cmk_time_format(r.updated, t, sizeof(t));
                json_object_set_new(item, "changedTime", json_string(t));
            }
            if (expand && strcasestr(expand, "provisioningState")) {
                json_t *ps =
                    json_object_get(json_object_get(r.doc, "properties"), "provisioningState");
                json_object_set_new(
                    item, "provisioningState",
                    json_string(json_is_string(ps) ? json_string_value(ps) : "Succeeded"));
            }
            json_array_append_new(items, item);
        }
        cmk_arm_resource_close(&r);
    }
    sqlite3_reset(st);
    cmk_arm_respond_list(&call, items);
}

static void h_sub_resources(struct cmk_request *req, struct cmk_response *res, void *data)
{
    list_resources(data, req, res, 0);
}

static void h_group_resources(struct cmk_request *req, struct cmk_response *res, void *data)
{
    list_resources(data, req, res, 1);
}

void cmk__arm_group_register_routes(struct cmk_arm *arm)
{
    struct cmk_router *r = &arm->rt->router;
    cmk_router_add(r, CMK_HOST_MGMT, "GET", "/subscriptions/{s}/resourcegroups", h_groups, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", "/subscriptions/{s}/resourcegroups/{rg}", h_group, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "HEAD", "/subscriptions/{s}/resourcegroups/{rg}", h_group,
                   arm);
    cmk_router_add(r, CMK_HOST_MGMT, "PUT", "/subscriptions/{s}/resourcegroups/{rg}", h_group, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "PATCH", "/subscriptions/{s}/resourcegroups/{rg}", h_group,
                   arm);
    cmk_router_add(r, CMK_HOST_MGMT, "DELETE", "/subscriptions/{s}/resourcegroups/{rg}", h_group,
                   arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", "/subscriptions/{s}/resourcegroups/{rg}/resources",
                   h_group_resources, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", "/subscriptions/{s}/resources", h_sub_resources, arm);
}
