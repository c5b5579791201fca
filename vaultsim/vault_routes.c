/* vault_routes.c: the management routes of Key Vault beside the resource itself:
 * accessPolicies/{add|replace|remove}, checkNameAvailability, and cmksim's audit log routes
 * (ARM path .../vaults/{v}/auditEvents and /_cmksim/vaults/{v}/audit). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/runtime.h"
#include "common/store.h"
#include "vault_int.h"

static void h_check_name(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_vaults *vs = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(vs->arm, req, res, NULL, CMK_ARM_CALL_NO_ID | CMK_ARM_CALL_NO_LOG,
                           &call) == 0) {
        struct cmk_err err;
        json_t *body = cmk_request_json(req, &err);
        const char *name = json_string_value(json_object_get(body, "name"));
        const char *type = json_string_value(json_object_get(body, "type"));
        if (name == NULL || type == NULL || strcasecmp(type, VS_VAULT_TYPE) != 0) {
            if (body != NULL)
                vs__bad_request(&err, "The body needs 'name' and 'type' (%s).", VS_VAULT_TYPE);
            cmk_arm_respond_error(&call, &err);
        } else {
            char id[CMK_ARM_ID_MAX];
            struct vs_deleted d;
            json_t *o;
            if (!vs__name_valid(name)) {
                struct cmk_err e2;
                vs__name_invalid(&e2, name);
                o = json_pack("{s:b,s:s,s:s}", "nameAvailable", 0, "reason", "AccountNameInvalid",
                              "message", e2.message);
            } else if (vs__live_id(vs, name, id)) {
                char msg[512];
                snprintf(msg, sizeof(msg),
                         "The vault name '%s' is already in use. Vault names are globally unique "
                         "so it is possible that the name is already taken.",
                         name);
                o = json_pack("{s:b,s:s,s:s}", "nameAvailable", 0, "reason", "AlreadyExists",
                              "message", msg);
            } else if (vs__deleted_get(vs, name, &d)) {
                json_decref(d.doc);
                o = json_pack("{s:b,s:s,s:s}", "nameAvailable", 0, "reason", "AlreadyExists",
                              "message",
                              "A vault with the same name already exists in deleted state. You "
                              "need to either recover or purge existing key vault. Follow this "
                              "link https://go.microsoft.com/fwlink/?linkid=2149745 for more "
                              "information on soft delete.");
            } else {
                o = json_pack("{s:b}", "nameAvailable", 1);
            }
            cmk_response_json(res, 200, o);
        }
    }
    cmk_arm_call_end(&call);
}

static int same_entry(const json_t *a, const json_t *b)
{
    const char *ta = json_string_value(json_object_get(a, "tenantId"));
    const char *tb = json_string_value(json_object_get(b, "tenantId"));
    const char *oa = json_string_value(json_object_get(a, "objectId"));
    const char *ob = json_string_value(json_object_get(b, "objectId"));
    const char *aa = json_string_value(json_object_get(a, "applicationId"));
    const char *ab = json_string_value(json_object_get(b, "applicationId"));
    return ta && tb && oa && ob && strcasecmp(ta, tb) == 0 && strcasecmp(oa, ob) == 0 &&
           strcasecmp(aa ? aa : "", ab ? ab : "") == 0;
}

/* Union (add) or difference (remove) of permission lists, per category. */
static void merge_perms(json_t *target, const json_t *given, int add)
{
    json_t *tp = json_object_get(target, "permissions");
    if (!json_is_object(tp)) {
        tp = json_object();
        json_object_set_new(target, "permissions", tp);
    }
    const char *cat;
    json_t *list;
    json_object_foreach((json_t *)json_object_get(given, "permissions"), cat, list)
    {
        json_t *cur = json_object_get(tp, cat);
        if (!json_is_array(cur)) {
            cur = json_array();
            json_object_set_new(tp, cat, cur);
        }
        size_t i;
        json_t *p;
        json_array_foreach(list, i, p)
        {
            const char *s = json_string_value(p);
            size_t j;
            json_t *q;
            int found = -1;
            json_array_foreach(cur, j, q) if (s && json_string_value(q) &&
                                              strcasecmp(s, json_string_value(q)) == 0) found =
                (int)j;
            if (add && found < 0 && s)
                json_array_append_new(cur, json_string(s));
            else if (!add && found >= 0)
                json_array_remove(cur, (size_t)found);
        }
    }
}

static int perms_empty(const json_t *entry)
{
    const char *cat;
    json_t *list;
    json_object_foreach((json_t *)json_object_get(entry, "permissions"), cat,
                        list) if (json_array_size(list) > 0) return 0;
    return 1;
}

static void h_access_policy(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_vaults *vs = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(vs->arm, req, res, VS_VAULT_TYPE, CMK_ARM_CALL_EXISTING, &call) != 0)
        goto End;
    snprintf(call.operation, sizeof(call.operation),
             "Microsoft.KeyVault/vaults/accessPolicies/write");
    struct cmk_err err;
    cmk_err_clear(&err);
    const char *op = cmk_request_param(req, "op");
    int kind = op && strcasecmp(op, "add") == 0       ? 'a'
               : op && strcasecmp(op, "replace") == 0 ? 'r'
               : op && strcasecmp(op, "remove") == 0  ? 'd'
                                                      : 0;
    json_t *body = cmk_request_json(req, &err);
    const json_t *given = json_object_get(json_object_get(body, "properties"), "accessPolicies");
    struct cmk_arm_resource r;
    memset(&r, 0, sizeof(r));
    if (kind == 0) {
        vs__bad_request(&err, "The operation kind '%s' is not valid: use add, replace or remove.",
                        op ? op : "");
    } else if (body != NULL && !json_is_array(given)) {
        vs__bad_request(&err, "The body needs properties.accessPolicies (an array).%s", "");
    } else if (body != NULL) {
        size_t i;
        const json_t *e;
        json_array_foreach(given, i, e) if (vs__validate_policy(e, &err) != 0) break;
    }
    if (err.rc == 0 && cmk_arm_resource_get(vs->arm, call.id, &r, &err) == 0) {
        json_t *doc = json_deep_copy(r.doc);
        json_t *props = json_object_get(doc, "properties");
        json_t *list = json_object_get(props, "accessPolicies");
        if (!json_is_array(list)) {
            list = json_array();
            json_object_set_new(props, "accessPolicies", list);
        }
        size_t i;
        const json_t *e;
        json_array_foreach(given, i, e)
        {
            size_t j;
            json_t *cur;
            int found = -1;
            json_array_foreach(list, j, cur) if (same_entry(cur, e)) found = (int)j;
            if (kind == 'r') {
                if (found >= 0)
                    json_array_set_new(list, (size_t)found, json_deep_copy(e));
                else
                    json_array_append_new(list, json_deep_copy(e));
            } else if (kind == 'a') {
                if (found >= 0)
                    merge_perms(json_array_get(list, (size_t)found), e, 1);
                else
                    json_array_append_new(list, json_deep_copy(e));
            } else if (found >= 0) {
                merge_perms(json_array_get(list, (size_t)found), e, 0);
                if (perms_empty(json_array_get(list, (size_t)found)))
                    json_array_remove(list, (size_t)found);
            }
        }
        if (cmk_arm_resource_put(vs->arm, call.id, doc, call.caller_name, &err) == 0) {
            vs__vault_changed(vs);
            char id[CMK_ARM_ID_MAX + 64];
            snprintf(id, sizeof(id), "%s/accessPolicies/%s", call.id, op);
            json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:{s:O}}", "id", id, "name", op, "type",
                                  "Microsoft.KeyVault/vaults/accessPolicies", "location",
                                  r.location, "properties", "accessPolicies", list);
            cmk_response_json(res, 200, o);
        }
        json_decref(doc);
    }
    if (err.rc != 0)
        cmk_arm_respond_error(&call, &err);
    cmk_arm_resource_close(&r);
End:
    cmk_arm_call_end(&call);
}

static void respond_audit(struct vs_vaults *vs, struct cmk_request *req, struct cmk_response *res,
                          const char *vault)
{
    const char *after = cmk_request_query(req, "after");
    struct cmk_buf out;
    cmk_buf_init(&out);
    int64_t last = 0;
    struct cmk_err err;
    if (vs_vaults_audit_read(vs, vault, after ? strtoll(after, NULL, 10) : 0, &out, &last, &err) !=
        0) {
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
    struct vs_vaults *vs = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(vs->arm, req, res, VS_VAULT_TYPE, CMK_ARM_CALL_EXISTING, &call) == 0)
        respond_audit(vs, req, res, cmk_arm_id_name(&call.rid));
    cmk_arm_call_end(&call);
}

/* GET /_cmksim/vaults/{vault}/audit: the same log by vault name (live or deleted), for a
 * management token of the vault's tenant. */
static void h_audit_short(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_vaults *vs = data;
    const char *name = cmk_request_param(req, "vault");
    char aud[160];
    snprintf(aud, sizeof(aud), "https://management.%s/", vs->rt->hosts.suffix);
    const char *auds[] = {"https://management.azure.com/", "https://management.core.windows.net/",
                          aud, NULL};
    struct cmk_principal p;
    struct cmk_err err;
    if (cmk_auth_verify(vs->rt->auth, cmk_request_header(req, "authorization"),
                        cmk_clock_now(&vs->rt->clock), auds, &p, &err) != 0) {
        cmk_response_error(res, &err);
        return;
    }
    char tenant[64] = "";
    const struct vs_vault *v = vs__vault_find(vs, name ? name : "");
    struct vs_deleted d;
    if (v) {
        snprintf(tenant, sizeof(tenant), "%s", v->tenant);
    } else if (name && vs__deleted_get(vs, name, &d)) {
        const char *t =
            json_string_value(json_object_get(json_object_get(d.doc, "properties"), "tenantId"));
        snprintf(tenant, sizeof(tenant), "%s", t ? t : "");
        json_decref(d.doc);
    } else {
        cmk_err_set(&err, CMK_ENOTFOUND, 404, "VaultNotFound", "No vault named '%s'.",
                    name ? name : "");
        cmk_response_error(res, &err);
        return;
    }
    if (strcasecmp(tenant, p.tid) != 0) {
        cmk_err_set(&err, CMK_EDENIED, 403, "Forbidden",
                    "The token's tenant %s is not the vault's tenant.", p.tid);
        cmk_response_error(res, &err);
        return;
    }
    respond_audit(vs, req, res, name);
}

#define VAULT_PATH "/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{v}"

static const struct cmk_route routes[] = {
    {"PUT", VAULT_PATH "/accessPolicies/{op}", h_access_policy},
    {"GET", VAULT_PATH "/auditEvents", h_audit_arm},
    {"POST", "/subscriptions/{s}/providers/Microsoft.KeyVault/checkNameAvailability", h_check_name},
    {"GET", "/_cmksim/vaults/{vault}/audit", h_audit_short},
    {NULL, NULL, NULL},
};

void vs__routes_register(struct vs_vaults *vs)
{
    cmk_router_add_table(&vs->rt->router, CMK_HOST_MGMT, routes, vs);
}
