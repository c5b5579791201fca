/* container_routes.c: the management routes of a container flavour beside the resource itself
 * (container.h): the soft-deleted containers of a subscription (list, get, and purge: refused
 * under purge protection before the scheduled purge date; a flavour may report the purge as a
 * long-running operation), the check-name route, and cmksim's audit log routes (ARM path
 * .../auditEvents, and /_cmksim/.../audit for a management token of the container's tenant;
 * it also serves a deleted container's log). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/auth.h"
#include "common/runtime.h"
#include "container.h"

/* ---- deleted containers ------------------------------------------------------------------ */

static json_t *deleted_json(const struct vs_ctr_set *s, const struct vs_deleted *d)
{
    const struct vs_ctr_flavour *fl = s->fl;
    char id[CMK_ARM_ID_MAX + 128], type[96], del[40], purge[40];
    snprintf(id, sizeof(id), "/subscriptions/%s/providers/Microsoft.KeyVault/locations/%s/%s/%s",
             d->sub, d->location, fl->deleted_type, d->display);
    snprintf(type, sizeof(type), "Microsoft.KeyVault/%s", fl->deleted_type);
    cmk_time_format(d->deleted, del, sizeof(del));
    cmk_time_format(d->purge, purge, sizeof(purge));
    json_t *tags = json_object_get(d->doc, "tags");
    return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:o,s:b}}", "id", id, "name", d->display,
                     "type", type, "properties", fl->deleted_id_property, d->id, "location",
                     d->location, "deletionDate", del, "scheduledPurgeDate", purge, "tags",
                     tags ? json_incref(tags) : json_object(), "purgeProtectionEnabled",
                     d->protected_);
}

static void h_deleted_list(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_ctr_set *s = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(s->arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) == 0) {
        json_t *items = json_array();
        sqlite3_stmt *st =
            vs__ctr_stmtf(s, "SELECT name FROM %s WHERE sub = ? COLLATE NOCASE ORDER BY %s",
                          s->fl->deleted_table, s->fl->deleted_order);
        char(*names)[64] = NULL;
        size_t n = 0, cap = 0;
        if (st != NULL) {
            sqlite3_bind_text(st, 1, call.rid.sub, -1, SQLITE_TRANSIENT);
            while (sqlite3_step(st) == SQLITE_ROW) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 16;
                    names = cmk_xrealloc(names, cap * sizeof(*names));
                }
                snprintf(names[n++], 64, "%s", (const char *)sqlite3_column_text(st, 0));
            }
            sqlite3_reset(st);
        }
        for (size_t i = 0; i < n; i++) {
            struct vs_deleted d;
            if (vs_ctr_deleted_get(s, names[i], &d)) {
                json_array_append_new(items, deleted_json(s, &d));
                json_decref(d.doc);
            }
        }
        free(names);
        cmk_arm_respond_list(&call, items);
    }
    cmk_arm_call_end(&call);
}

/* The deleted container of the path (its subscription, and location when given). */
static int find_deleted(struct vs_ctr_set *s, struct cmk_arm_call *call, struct vs_deleted *d,
                        struct cmk_err *err)
{
    const char *name = cmk_request_param(call->req, s->fl->deleted_param);
    const char *loc = cmk_request_param(call->req, "location");
    char norm[64] = "";
    if (loc)
        (void)cmk_arm_location_normalize(loc, norm, sizeof(norm), NULL, NULL);
    if (name && vs_ctr_deleted_get(s, name, d) && strcasecmp(d->sub, call->rid.sub) == 0 &&
        (norm[0] == '\0' || strcasecmp(norm, d->location) == 0))
        return 0;
    json_decref(d->doc);
    memset(d, 0, sizeof(*d));
    return cmk_err_set(err, CMK_ENOTFOUND, 404, "ResourceNotFound",
                       "The Resource 'Microsoft.KeyVault/%s/%s' under resource group '<null>' was "
                       "not found. For more details please go to "
                       "https://aka.ms/ARMResourceNotFoundFix",
                       s->fl->deleted_type, name ? name : "");
}

static void h_deleted_get(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_ctr_set *s = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(s->arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) == 0) {
        struct vs_deleted d;
        struct cmk_err err;
        if (find_deleted(s, &call, &d, &err) != 0) {
            cmk_arm_respond_error(&call, &err);
        } else {
            cmk_response_json(res, 200, deleted_json(s, &d));
            json_decref(d.doc);
        }
    }
    cmk_arm_call_end(&call);
}

static void h_deleted_purge(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_ctr_set *s = data;
    const struct vs_ctr_flavour *fl = s->fl;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(s->arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) != 0)
        goto End;
    snprintf(call.operation, sizeof(call.operation), "Microsoft.KeyVault/locations/%s/purge/action",
             fl->deleted_type);
    struct vs_deleted d;
    struct cmk_err err;
    cmk_err_clear(&err);
    if (find_deleted(s, &call, &d, &err) != 0) {
        cmk_arm_respond_error(&call, &err);
        goto End;
    }
    snprintf(call.id, sizeof(call.id), "%s", d.id);
    cmk_time_t now = cmk_clock_now(&s->rt->clock);
    if (d.protected_ && now < d.purge) {
        char when[40];
        cmk_time_format(d.purge, when, sizeof(when));
        cmk_err_set(&err, CMK_ECONFLICT, 409, "Conflict",
                    "Operation '%s' is not allowed. The %s '%s' has purge protection enabled: it "
                    "can only be purged by the service at the end of its retention period, on %s.",
                    fl->purge_operation, fl->label, d.display, when);
        cmk_arm_respond_error(&call, &err);
    } else if (vs_ctr_purge_now(s, &d, &err) != 0 ||
               (fl->purge_op_kind &&
                cmk_arm_op_start(&call, fl->purge_op_kind, 0, NULL, 0, &err) != 0)) {
        cmk_arm_respond_error(&call, &err);
    } else {
        vs_ctr_purge_rearm(s);
        if (fl->purge_op_kind)
            cmk_arm_respond_accepted(&call, 202, NULL);
        else
            cmk_response_json(res, 200, NULL);
    }
    json_decref(d.doc);
End:
    cmk_arm_call_end(&call);
}

/* ---- check name -------------------------------------------------------------------------- */

static void h_check_name(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_ctr_set *s = data;
    const struct vs_ctr_flavour *fl = s->fl;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(s->arm, req, res, NULL, CMK_ARM_CALL_NO_ID | CMK_ARM_CALL_NO_LOG,
                           &call) != 0)
        goto End;
    struct cmk_err err;
    json_t *body = cmk_request_json(req, &err);
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *type = json_string_value(json_object_get(body, "type"));
    if (name == NULL ||
        (fl->check_name_type && (type == NULL || strcasecmp(type, fl->check_name_type) != 0))) {
        if (body != NULL && fl->check_name_type)
            vs_ctr_bad_request(&err, "The body needs 'name' and 'type' (%s).", fl->check_name_type);
        else if (body != NULL)
            vs_ctr_bad_request(&err, "The body needs 'name'.%s", "");
        cmk_arm_respond_error(&call, &err);
        goto End;
    }
    char id[CMK_ARM_ID_MAX];
    struct vs_deleted d;
    json_t *o;
    if (!vs_ctr_name_valid(name)) {
        struct cmk_err e2;
        vs_ctr_name_invalid(s, &e2, name);
        o = json_pack("{s:b,s:s,s:s}", "nameAvailable", 0, "reason", "AccountNameInvalid",
                      "message", e2.message);
    } else if (vs_ctr_live_id(s, name, id)) {
        char msg[512];
        snprintf(msg, sizeof(msg), fl->check_taken_fmt, name);
        o = json_pack("{s:b,s:s,s:s}", "nameAvailable", 0, "reason", "AlreadyExists", "message",
                      msg);
    } else if (vs_ctr_deleted_get(s, name, &d)) {
        json_decref(d.doc);
        o = json_pack("{s:b,s:s,s:s}", "nameAvailable", 0, "reason", "AlreadyExists", "message",
                      fl->check_deleted);
    } else {
        o = json_pack("{s:b}", "nameAvailable", 1);
    }
    cmk_response_json(res, 200, o);
End:
    cmk_arm_call_end(&call);
}

/* ---- audit log --------------------------------------------------------------------------- */

static void respond_audit(struct vs_ctr_set *s, struct cmk_request *req, struct cmk_response *res,
                          const char *name)
{
    const char *after = cmk_request_query(req, "after");
    struct cmk_buf out;
    cmk_buf_init(&out);
    int64_t last = 0;
    struct cmk_err err;
    if (vs_ctr_audit_read(s, name, after ? strtoll(after, NULL, 10) : 0, &out, &last, &err) != 0) {
        cmk_response_error(res, &err);
    } else {
        cmk_response_text(res, 200, "application/x-ndjson", out.data ? out.data : "");
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)last);
        cmk_response_header(res, "x-cmksim-audit-last", v);
    }
    cmk_buf_close(&out);
}

static void h_audit_arm(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_ctr_set *s = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(s->arm, req, res, s->fl->type, CMK_ARM_CALL_EXISTING, &call) == 0)
        respond_audit(s, req, res, cmk_arm_id_name(&call.rid));
    cmk_arm_call_end(&call);
}

/* The log by name (live or deleted container), for a management token of its tenant. */
static void h_audit_short(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_ctr_set *s = data;
    const struct vs_ctr_flavour *fl = s->fl;
    const char *name = cmk_request_param(req, fl->audit_param);
    char aud[160];
    snprintf(aud, sizeof(aud), "https://management.%s/", s->rt->hosts.suffix);
    const char *auds[] = {"https://management.azure.com/", "https://management.core.windows.net/",
                          aud, NULL};
    struct cmk_principal p;
    struct cmk_err err;
    if (cmk_auth_verify(s->rt->auth, cmk_request_header(req, "authorization"),
                        cmk_clock_now(&s->rt->clock), auds, &p, &err) != 0) {
        cmk_response_error(res, &err);
        return;
    }
    char tenant[64] = "";
    const struct vs_ctr_info *info = vs_ctr_find(s, name ? name : "");
    struct vs_deleted d;
    if (info) {
        snprintf(tenant, sizeof(tenant), "%s", info->tenant);
    } else if (name && vs_ctr_deleted_get(s, name, &d)) {
        const char *t =
            json_string_value(json_object_get(json_object_get(d.doc, "properties"), "tenantId"));
        snprintf(tenant, sizeof(tenant), "%s", t ? t : "");
        json_decref(d.doc);
    } else {
        cmk_err_set(&err, CMK_ENOTFOUND, 404, fl->not_found_code, "No %s named '%s'.", fl->label,
                    name ? name : "");
        cmk_response_error(res, &err);
        return;
    }
    if (strcasecmp(tenant, p.tid) != 0) {
        cmk_err_set(&err, CMK_EDENIED, 403, "Forbidden",
                    "The token's tenant %s is not the %s's tenant.", p.tid, fl->label);
        cmk_response_error(res, &err);
        return;
    }
    respond_audit(s, req, res, name);
}

void vs__ctr_routes_register(struct vs_ctr_set *s)
{
    const struct vs_ctr_flavour *fl = s->fl;
    struct cmk_router *r = &s->rt->router;
    cmk_router_add(r, CMK_HOST_MGMT, "GET", fl->route_audit_arm, h_audit_arm, s);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", fl->route_deleted_list, h_deleted_list, s);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", fl->route_deleted, h_deleted_get, s);
    cmk_router_add(r, CMK_HOST_MGMT, "POST", fl->route_purge, h_deleted_purge, s);
    cmk_router_add(r, CMK_HOST_MGMT, "POST", fl->route_check_name, h_check_name, s);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", fl->route_audit, h_audit_short, s);
}
