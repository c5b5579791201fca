/* vault_routes.c: the management route of Key Vault that only vaults have:
 * PUT .../vaults/{v}/accessPolicies/{add|replace|remove} (merge, replace or remove entries and
 * their key permissions). The routes both flavours share (deleted vaults, checkNameAvailability,
 * the audit log) are the container's (container_routes.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/runtime.h"
#include "common/store.h"
#include "vault_int.h"

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
        vs_ctr_bad_request(&err,
                           "The operation kind '%s' is not valid: use add, replace or remove.",
                           op ? op : "");
    } else if (body != NULL && !json_is_array(given)) {
        vs_ctr_bad_request(&err, "The body needs properties.accessPolicies (an array).%s", "");
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
            vs_ctr_changed(&vs->vaults);
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

#define VAULT_PATH "/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{v}"

static const struct cmk_route routes[] = {
    {"PUT", VAULT_PATH "/accessPolicies/{op}", h_access_policy},
    {NULL, NULL, NULL},
};

void vs__routes_register(struct vs_vaults *vs)
{
    cmk_router_add_table(&vs->rt->router, CMK_HOST_MGMT, routes, vs);
}
