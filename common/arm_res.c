/* arm_res.c: the generic handlers of every registered resource type: PUT (create or
 * replace), PATCH, GET, HEAD, DELETE of an instance and LIST of a type under a subscription,
 * a resource group or a parent resource. The provider's
 * callbacks validate, build, render and delete; this file does everything that is the same
 * for every type (ids, groups, parents, locations, api-versions, 404s, paging, transactions,
 * operations in progress). See arm.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm_int.h"
#include "runtime.h"
#include "store.h"

/* ---- the generic handlers ---- */

/* The parts of a request under /subscriptions/{s}[/resourceGroups/{rg}]/providers/. */
struct target {
    struct cmk_arm_id id; /* for lists: the parent (depth - 1 levels) */
    int list;             /* the path names a type, not an instance */
    char type[CMK_ARM_TYPE_MAX];
};

/* segs: everything after "providers": ns, t1, n1, t2, n2... (odd count: instance). */
static int parse_target(char **segs, int k, const char *sub, const char *rg, struct target *t,
                        struct cmk_err *err)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->id.sub, sizeof(t->id.sub), "%s", sub);
    snprintf(t->id.rg, sizeof(t->id.rg), "%s", rg ? rg : "");
    if (k < 2 || (k - 1 + 1) / 2 > CMK_ARM_DEPTH_MAX)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "NotFound",
                           "The requested path is not an Azure Resource Manager route.");
    snprintf(t->id.ns, sizeof(t->id.ns), "%s", segs[0]);
    int pairs = (k - 1) / 2;
    for (int i = 0; i < pairs; i++) {
        snprintf(t->id.types[i], sizeof(t->id.types[i]), "%s", segs[1 + 2 * i]);
        snprintf(t->id.names[i], sizeof(t->id.names[i]), "%s", segs[2 + 2 * i]);
    }
    t->id.depth = (size_t)pairs;
    char types[CMK_ARM_TYPE_MAX];
    cmk__arm_type_join(&t->id, t->id.depth, types, sizeof(types));
    if (k % 2 == 0) {
        t->list = 1;
        snprintf(t->type, sizeof(t->type), "%.120s/%.64s", pairs ? types : segs[0], segs[k - 1]);
    } else {
        snprintf(t->type, sizeof(t->type), "%s", types);
    }
    return 0;
}

static int check_provider(struct cmk_arm_call *call, const char *type, const char *ns,
                          struct cmk_err *err)
{
    if (!cmk__arm_namespace_known(call->arm, ns))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidResourceNamespace",
                           "The resource namespace '%.64s' is invalid.", ns);
    call->provider = cmk_arm_provider_find(call->arm, type);
    if (call->provider == NULL) {
        const char *api = cmk_request_query(call->req, "api-version");
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidResourceType",
                           "The resource type '%.128s' could not be found in the namespace "
                           "'%.64s' for api version '%.32s'.",
                           type + strlen(ns) + (type[strlen(ns)] == '/'), ns, api ? api : "");
    }
    snprintf(call->type, sizeof(call->type), "%s", call->provider->type);
    return cmk__arm_check_api_version(call, call->provider, err);
}

static void list_type(struct cmk_arm_call *call, const struct target *t)
{
    struct cmk_err err;
    char parent[CMK_ARM_ID_MAX] = "";
    if (t->id.depth > 0) {
        cmk_arm_id_format(&t->id, parent, sizeof(parent));
        struct cmk_arm_resource pr;
        if (cmk_arm_resource_get(call->arm, parent, &pr, &err) != 0) {
            cmk_err_set(&err, CMK_ENOTFOUND, 404, "ParentResourceNotFound",
                        "Can not perform requested operation on nested resource. Parent "
                        "resource '%s' not found.",
                        t->id.names[t->id.depth - 1]);
            cmk__arm_error(call->arm, call->res, &err);
            return;
        }
        snprintf(parent, sizeof(parent), "%s", pr.id);
        cmk_arm_resource_close(&pr);
    }
    size_t n;
    struct cmk_arm_resource *rows =
        cmk__arm_load_rows(call->arm, call->type, t->id.sub, t->id.rg[0] ? t->id.rg : NULL,
                           t->id.depth ? parent : NULL, &n);
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, cmk_arm_resource_view(call->arm, &rows[i]));
    cmk__arm_free_rows(rows, n);
    cmk_arm_respond_list(call, items);
}

/* The body of a PUT, with read-only fields dropped and location checked. New reference. */
static json_t *put_body(struct cmk_arm_call *call, const struct cmk_arm_resource *existing,
                        struct cmk_err *err)
{
    json_t *in = cmk_request_json(call->req, err);
    if (in == NULL) {
        char msg[sizeof(err->message)];
        snprintf(msg, sizeof(msg), "%s", err->message);
        cmk_err_set(err, CMK_EPARSE, 400, "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: '%s'", msg);
        return NULL;
    }
    json_t *body = json_deep_copy(in);
    json_object_del(body, "id");
    json_object_del(body, "name");
    json_object_del(body, "type");
    json_object_del(body, "systemData");
    json_t *tags = json_object_get(body, "tags");
    if (tags != NULL && !json_is_null(tags)) {
        const char *k;
        json_t *v;
        int ok = json_is_object(tags) && json_object_size(tags) <= 50;
        json_object_foreach(tags, k, v) ok = ok && json_is_string(v);
        if (!ok) {
            json_decref(body);
            cmk_err_set(err, CMK_EINVAL, 400, "InvalidTag",
                        "The tags must be an object of at most 50 string values.");
            return NULL;
        }
    }
    int top = call->rid.depth == 1;
    json_t *loc = json_object_get(body, "location");
    if (top && !(call->provider->flags & CMK_ARM_PROVIDER_NO_LOCATION)) {
        if (!json_is_string(loc) || json_string_length(loc) == 0) {
            json_decref(body);
            cmk_err_set(err, CMK_EINVAL, 400, "LocationRequired",
                        "The location property is required for this definition.");
            return NULL;
        }
        char norm[64];
        if (cmk_arm_location_normalize(json_string_value(loc), norm, sizeof(norm),
                                       call->provider->type, err) != 0) {
            json_decref(body);
            return NULL;
        }
        if (existing && existing->location[0] && strcasecmp(existing->location, norm) != 0) {
            cmk_err_set(err, CMK_ECONFLICT, 400, "InvalidResourceLocation",
                        "The resource '%s' already exists in location '%s' in resource group "
                        "'%s'. A resource with the same name cannot be created in location "
                        "'%s'. Please select a new resource name.",
                        existing->name, existing->location, existing->rg, norm);
            json_decref(body);
            return NULL;
        }
        json_object_set_new(body, "location", json_string(norm));
        snprintf(call->location, sizeof(call->location), "%s", norm);
    }
    return body;
}

/* Default put: the body as it came, provisioningState Succeeded. */
static json_t *default_doc(json_t *body)
{
    json_t *doc = json_deep_copy(body);
    json_t *props = json_object_get(doc, "properties");
    if (!json_is_object(props)) {
        props = json_object();
        json_object_set_new(doc, "properties", props);
    }
    json_object_set_new(props, "provisioningState", json_string("Succeeded"));
    return doc;
}

/* RFC 7396, except that "tags" replaces the whole object (ARM's PATCH of tags). */
static void merge_patch(json_t *target, json_t *patch, int top)
{
    const char *k;
    json_t *v;
    json_object_foreach(patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, k);
        } else if (json_is_object(v) && !(top && strcmp(k, "tags") == 0)) {
            json_t *t = json_object_get(target, k);
            if (!json_is_object(t)) {
                t = json_object();
                json_object_set_new(target, k, t);
            }
            merge_patch(t, v, 0);
        } else {
            json_object_set_new(target, k, json_deep_copy(v));
        }
    }
}

/* Load the existing resource for a write: pending operations and group state decide first. */
static int write_preconditions(struct cmk_arm_call *call, struct cmk_err *err)
{
    char state[32] = "";
    int rc = call->rid.rg[0]
                 ? cmk__arm_group_get(call->arm, call->rid.sub, call->rid.rg, NULL, state, err)
                 : 0;
    if (rc != 0)
        return rc;
    if (strcasecmp(state, "Deleting") == 0)
        return cmk_err_set(err, CMK_ECONFLICT, 409, "ResourceGroupBeingDeleted",
                           "The resource group '%s' is in deprovisioning state and cannot "
                           "perform this operation.",
                           call->rid.rg);
    if (cmk_arm_op_pending(call->arm, call->id))
        return cmk_err_set(err, CMK_ECONFLICT, 409, "AnotherOperationInProgress",
                           "Another operation on this or dependent resource is in progress. "
                           "Retry the request when it has completed.");
    return 0;
}

static void answer_write(struct cmk_arm_call *call, int status, const char *id, int with_body)
{
    struct cmk_err err;
    struct cmk_arm_resource r;
    if (call->op_id[0]) {
        int st = call->status ? call->status : 202;
        json_t *body = NULL;
        if (st != 202 && with_body && cmk_arm_resource_get(call->arm, id, &r, NULL) == 0) {
            body = cmk_arm_resource_view(call->arm, &r);
            cmk_arm_resource_close(&r);
        }
        cmk_arm_respond_accepted(call, st, body);
        return;
    }
    if (!with_body) {
        cmk_response_json(call->res, call->status ? call->status : status, NULL);
        return;
    }
    if (cmk_arm_resource_get(call->arm, id, &r, &err) != 0) {
        cmk__arm_error(call->arm, call->res, &err);
        return;
    }
    cmk_arm_respond_resource(call, call->status ? call->status : status, &r);
    cmk_arm_resource_close(&r);
}

static void do_put(struct cmk_arm_call *call)
{
    struct cmk_err err;
    cmk_err_clear(&err);
    struct cmk_arm_resource existing;
    int have = 0, rc;
    json_t *body = NULL, *doc = NULL;
    if ((rc = write_preconditions(call, &err)) != 0)
        goto fail;
    have = cmk_arm_resource_get(call->arm, call->id, &existing, NULL) == 0;
    if (have) {
        snprintf(call->id, sizeof(call->id), "%s", existing.id);
        snprintf(call->location, sizeof(call->location), "%s", existing.location);
    } else if (call->rid.depth > 1) {
        struct cmk_arm_id pid;
        cmk_arm_id_parent(&call->rid, &pid);
        char pids[CMK_ARM_ID_MAX];
        cmk_arm_id_format(&pid, pids, sizeof(pids));
        struct cmk_arm_resource pr;
        if (cmk_arm_resource_get(call->arm, pids, &pr, NULL) != 0) {
            rc = cmk_err_set(&err, CMK_ENOTFOUND, 404, "ParentResourceNotFound",
                             "Can not perform requested operation on nested resource. Parent "
                             "resource '%s' not found.",
                             pid.names[pid.depth - 1]);
            goto fail;
        }
        snprintf(call->location, sizeof(call->location), "%s", pr.location);
        cmk_arm_resource_close(&pr);
    }
    call->creating = !have;
    if ((body = put_body(call, have ? &existing : NULL, &err)) == NULL) {
        rc = err.rc ? err.rc : CMK_EINVAL;
        goto fail;
    }
    if (call->provider->put)
        rc = call->provider->put(call, body, have ? &existing : NULL, &doc, &err);
    else
        doc = default_doc(body);
    if (rc == 0 && doc == NULL)
        rc = cmk_err_set(&err, CMK_EINTERNAL, 500, "InternalServerError",
                         "The resource provider built no resource.");
    if (rc == 0)
        rc = cmk_arm_resource_put(call->arm, call->id, doc, call->caller_name, &err);
    if (rc != 0)
        goto fail;
    answer_write(call, have ? 200 : 201, call->id, 1);
    goto done;
fail:
    cmk__arm_error(call->arm, call->res, &err);
done:
    json_decref(body);
    json_decref(doc);
    if (have)
        cmk_arm_resource_close(&existing);
}

static void do_patch(struct cmk_arm_call *call)
{
    struct cmk_err err;
    cmk_err_clear(&err);
    struct cmk_arm_resource existing;
    int have = 0, rc;
    json_t *doc = NULL, *merged = NULL;
    if (call->provider->flags & CMK_ARM_PROVIDER_NO_PATCH) {
        rc = cmk_err_set(&err, CMK_EINVAL, 405, "MethodNotAllowed",
                         "The requested resource does not support http method 'PATCH'.");
        goto fail;
    }
    if ((rc = write_preconditions(call, &err)) != 0)
        goto fail;
    if ((rc = cmk_arm_resource_get(call->arm, call->id, &existing, &err)) != 0)
        goto fail;
    have = 1;
    snprintf(call->id, sizeof(call->id), "%s", existing.id);
    snprintf(call->location, sizeof(call->location), "%s", existing.location);
    json_t *patch = cmk_request_json(call->req, &err);
    if (patch == NULL) {
        char msg[sizeof(err.message)];
        snprintf(msg, sizeof(msg), "%s", err.message);
        rc =
            cmk_err_set(&err, CMK_EPARSE, 400, "InvalidRequestContent",
                        "The request content was invalid and could not be deserialized: '%s'", msg);
        goto fail;
    }
    json_t *clean = json_deep_copy(patch);
    json_object_del(clean, "id");
    json_object_del(clean, "name");
    json_object_del(clean, "type");
    json_object_del(clean, "systemData");
    json_object_del(clean, "location");
    if (call->provider->patch) {
        rc = call->provider->patch(call, clean, &existing, &doc, &err);
    } else {
        merged = json_deep_copy(existing.doc);
        merge_patch(merged, clean, 1);
        if (call->provider->put)
            rc = call->provider->put(call, merged, &existing, &doc, &err);
        else
            doc = json_incref(merged);
    }
    json_decref(clean);
    if (rc == 0 && doc == NULL)
        rc = cmk_err_set(&err, CMK_EINTERNAL, 500, "InternalServerError",
                         "The resource provider built no resource.");
    if (rc == 0)
        rc = cmk_arm_resource_put(call->arm, call->id, doc, call->caller_name, &err);
    if (rc != 0)
        goto fail;
    answer_write(call, 200, call->id, 1);
    goto done;
fail:
    cmk__arm_error(call->arm, call->res, &err);
done:
    json_decref(doc);
    json_decref(merged);
    if (have)
        cmk_arm_resource_close(&existing);
}

static void do_delete(struct cmk_arm_call *call)
{
    struct cmk_err err;
    cmk_err_clear(&err);
    struct cmk_arm_resource r;
    int rc = write_preconditions(call, &err);
    if (rc != 0)
        goto fail;
    if (cmk_arm_resource_get(call->arm, call->id, &r, NULL) != 0) {
        cmk_response_json(call->res, 204, NULL);
        return;
    }
    snprintf(call->id, sizeof(call->id), "%s", r.id);
    snprintf(call->location, sizeof(call->location), "%s", r.location);
    if (call->provider->del)
        rc = call->provider->del(call, &r, &err);
    if (rc == 0 && call->op_id[0] == '\0')
        rc = cmk_arm_resource_delete(call->arm, r.id, &err);
    cmk_arm_resource_close(&r);
    if (rc != 0)
        goto fail;
    answer_write(call, 200, call->id, 0);
    return;
fail:
    cmk__arm_error(call->arm, call->res, &err);
}

static void do_get(struct cmk_arm_call *call, int head)
{
    struct cmk_err err;
    struct cmk_arm_resource r;
    if (cmk_arm_resource_get(call->arm, call->id, &r, &err) != 0) {
        if (head)
            cmk_response_json(call->res, 404, NULL);
        else
            cmk__arm_error(call->arm, call->res, &err);
        return;
    }
    if (head)
        cmk_response_json(call->res, 204, NULL);
    else
        cmk_arm_respond_resource(call, 200, &r);
    cmk_arm_resource_close(&r);
}

/* Everything under /subscriptions/{s}[/resourceGroups/{rg}]/providers/. */
static void h_providers(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    struct cmk_err err;
    cmk_err_clear(&err);
    cmk__arm_call_init(arm, &call, req, res);
    char path[CMK_ARM_ID_MAX];
    char *segs[64];
    int n = -1;
    if (req->path && strlen(req->path) < sizeof(path)) {
        snprintf(path, sizeof(path), "%s", req->path);
        n = cmk__arm_split(path, segs, 64);
    }
    int rc = cmk__arm_authenticate(&call, &err);
    if (rc == 0 && n < 3)
        rc = cmk_err_set(&err, CMK_ENOTFOUND, 404, "NotFound", "Not an ARM route.");
    if (rc == 0)
        rc = cmk__arm_check_subscription(&call, segs[1], &err);
    if (rc != 0)
        goto fail;
    snprintf(call.rid.sub, sizeof(call.rid.sub), "%s", segs[1]);
    const char *rg = NULL;
    int i = 2;
    if (strcasecmp(segs[2], "resourceGroups") == 0) {
        rg = segs[3];
        i = 5; /* after "providers" */
    } else {
        i = 3;
    }
    int k = n - i;
    if (rg == NULL && k == 1) { /* /subscriptions/{s}/providers/{ns} */
        if ((rc = cmk__arm_check_api_version(&call, NULL, &err)) != 0)
            goto fail;
        if (strcasecmp(req->method, "GET") != 0) {
            res->status = 405;
            goto fallback;
        }
        cmk__arm_provider_info(&call, segs[i]);
        return;
    }
    if (rg == NULL && k == 2 && strcasecmp(segs[i + 1], "register") == 0 &&
        strcasecmp(req->method, "POST") == 0) {
        if ((rc = cmk__arm_check_api_version(&call, NULL, &err)) != 0)
            goto fail;
        cmk__arm_provider_info(&call, segs[i]);
        return;
    }
    struct target t;
    if ((rc = parse_target(segs + i, k, segs[1], rg, &t, &err)) != 0)
        goto fail;
    if ((rc = check_provider(&call, t.type, segs[i], &err)) != 0)
        goto fail;
    if (rg && (rc = cmk__arm_group_get(arm, segs[1], rg, NULL, NULL, &err)) != 0)
        goto fail;
    call.rid = t.id;
    if (t.list) {
        if (strcasecmp(req->method, "GET") != 0) {
            res->status = 405;
            goto fallback;
        }
        list_type(&call, &t);
        return;
    }
    cmk_arm_id_format(&call.rid, call.id, sizeof(call.id));
    const char *m = req->method;
    if (strcasecmp(m, "GET") == 0 || strcasecmp(m, "HEAD") == 0) {
        do_get(&call, strcasecmp(m, "HEAD") == 0);
        return;
    }
    if (strcasecmp(m, "PUT") && strcasecmp(m, "PATCH") && strcasecmp(m, "DELETE")) {
        res->status = 405;
        goto fallback;
    }
    snprintf(call.operation, sizeof(call.operation), "%s/%s", call.type,
             strcasecmp(m, "DELETE") == 0 ? "delete" : "write");
    cmk__arm_call_write_begin(&call);
    if (strcasecmp(m, "PUT") == 0)
        do_put(&call);
    else if (strcasecmp(m, "PATCH") == 0)
        do_patch(&call);
    else
        do_delete(&call);
    cmk_arm_call_end(&call);
    return;
fail:
    cmk__arm_error(arm, res, &err);
    return;
fallback:
    cmk_err_set(&err, CMK_EINVAL, 405, "MethodNotAllowed",
                "The requested resource does not support http method '%s'.", req->method);
    cmk__arm_error(arm, res, &err);
}

void cmk__arm_res_register_routes(struct cmk_arm *arm)
{
    struct cmk_router *r = &arm->rt->router;
    cmk_router_add(r, CMK_HOST_MGMT, "*", "/subscriptions/{s}/providers/{rest*}", h_providers, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "*",
                   "/subscriptions/{s}/resourceGroups/{rg}/providers/{rest*}", h_providers, arm);
}
