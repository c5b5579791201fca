/* arm_call.c: what every management handler of the ARM core runs through (see arm.h):
 * authentication of the bearer token with ARM's 401 codes and challenge, the subscription and
 * its tenant, api-version, the call context (ids, caller, correlation id, transaction) of
 * generic and provider routes, and the answer helpers: error envelope, resource, paged list.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm_int.h"
#include "b64.h"
#include "log.h"
#include "runtime.h"
#include "store.h"
/* ---- errors and authentication ---- */

void cmk__arm_error(struct cmk_arm *arm, struct cmk_response *res, const struct cmk_err *err)
{
    (void)arm;
    if (err->status == 401) {
        char desc[1100];
        size_t o = 0;
        for (const char *p = err->message; *p && o + 1 < sizeof(desc); p++)
            desc[o++] = *p == '"' ? '\'' : (*p == '\r' || *p == '\n') ? ' ' : *p;
        desc[o] = '\0';
        char h[1400];
        snprintf(h, sizeof(h),
                 "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", "
                 "error=\"invalid_token\", error_description=\"%s\"",
                 desc);
        cmk_response_header(res, "WWW-Authenticate", h);
    }
    cmk_response_error(res, err);
}

/* A claim of the token's payload, read without verification (for error messages only). */
static json_t *unverified_claims(const char *header)
{
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
        return NULL;
    const char *t = header + 7;
    const char *d1 = strchr(t, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (d2 == NULL || d2 - d1 > 16384)
        return NULL;
    size_t n = 0;
    unsigned char *p = cmk_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), &n);
    if (p == NULL)
        return NULL;
    json_t *j = json_loadb((const char *)p, n, 0, NULL);
    free(p);
    return j;
}

static void time_dotnet(cmk_time_t t, char *out, size_t n)
{
    cmk_time_format(t, out, n);
}

int cmk__arm_authenticate(struct cmk_arm_call *call, struct cmk_err *err)
{
    struct cmk_arm *arm = call->arm;
    const char *h = cmk_request_header(call->req, "authorization");
    if (h == NULL)
        return cmk_err_set(err, CMK_EAUTH, 401, "AuthenticationFailed",
                           "Authentication failed. The 'Authorization' header is missing.");
    if (arm->rt->auth == NULL)
        return cmk_err_set(err, CMK_EAUTH, 401, "AuthenticationFailed",
                           "Authentication failed. The login service is not running.");
    struct cmk_err aerr;
    cmk_err_clear(&aerr);
    cmk_time_t now = cmk_clock_now(&arm->rt->clock);
    int rc = cmk_auth_verify(arm->rt->auth, h, now, arm->audiences, &call->caller, &aerr);
    if (rc == 0) {
        const char *who = strcmp(call->caller.idtyp, "app") == 0 && call->caller.appid[0]
                              ? call->caller.appid
                              : call->caller.oid;
        snprintf(call->caller_name, sizeof(call->caller_name), "%s", who);
        return 0;
    }
    if (strcmp(aerr.inner, "TokenMissing") == 0)
        return cmk_err_set(err, CMK_EAUTH, 401, "AuthenticationFailed",
                           "Authentication failed. The 'Authorization' header is provided in an "
                           "invalid format.");
    json_t *claims = unverified_claims(h);
    if (strcmp(aerr.inner, "TokenExpired") == 0) {
        char exp[40] = "", nows[40];
        json_t *e = json_object_get(claims, "exp");
        if (json_is_integer(e))
            time_dotnet((cmk_time_t)json_integer_value(e) * CMK_SECOND, exp, sizeof(exp));
        time_dotnet(now, nows, sizeof(nows));
        json_decref(claims);
        return cmk_err_set(err, CMK_EAUTH, 401, "ExpiredAuthenticationToken",
                           "The access token expiry UTC time '%s' is earlier than current UTC "
                           "time '%s'.",
                           exp, nows);
    }
    if (strcmp(aerr.inner, "InvalidAudience") == 0) {
        json_t *a = json_object_get(claims, "aud");
        if (json_is_array(a))
            a = json_array_get(a, 0);
        rc = cmk_err_set(err, CMK_EAUTH, 401, "InvalidAuthenticationTokenAudience",
                         "The access token has been obtained for wrong audience or resource "
                         "'%.200s'. It should exactly match with one of the allowed audiences "
                         "'https://management.core.windows.net/','https://"
                         "management.core.windows.net','https://management.azure.com/','https://"
                         "management.azure.com'.",
                         json_is_string(a) ? json_string_value(a) : "");
        json_decref(claims);
        return rc;
    }
    json_decref(claims);
    return cmk_err_set(err, CMK_EAUTH, 401, "InvalidAuthenticationToken",
                       "The access token is invalid.");
}

int cmk__arm_check_subscription(struct cmk_arm_call *call, const char *sub, struct cmk_err *err)
{
    if (!cmk__arm_valid_guid(sub) || strlen(sub) != 36)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidSubscriptionId",
                           "The provided subscription identifier '%.64s' is malformed or "
                           "invalid.",
                           sub);
    int rc = cmk_arm_subscription_tenant(call->arm, sub, call->tenant, err);
    if (rc != 0)
        return rc;
    if (strcasecmp(call->tenant, call->caller.tid) != 0)
        return cmk_err_set(
            err, CMK_EAUTH, 401, "InvalidAuthenticationTokenTenant",
            "The access token is from the wrong issuer 'https://sts.windows.net/%s/'. It must "
            "match the tenant 'https://sts.windows.net/%s/' associated with this subscription. "
            "Please use the authority (URL) 'https://login.windows.net/%s' to get the token. "
            "Note, if the subscription is transferred to another tenant there is no impact to "
            "the services, but information about new tenant could take time to propagate (up "
            "to an hour). If you just transferred your subscription and see this error "
            "message, please try back later.",
            call->caller.tid, call->tenant, call->tenant);
    return 0;
}

int cmk__arm_check_api_version(struct cmk_arm_call *call, const struct cmk_arm_provider *p,
                               struct cmk_err *err)
{
    call->api_version = cmk_request_query(call->req, "api-version");
    if (call->api_version == NULL || call->api_version[0] == '\0')
        return cmk_err_set(err, CMK_EINVAL, 400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all "
                           "requests.");
    if (p == NULL || p->api_versions == NULL)
        return 0;
    char list[512];
    size_t o = 0;
    for (size_t i = 0; p->api_versions[i]; i++) {
        if (strcasecmp(p->api_versions[i], call->api_version) == 0)
            return 0;
        if (o < sizeof(list))
            o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
                                  p->api_versions[i]);
    }
    const char *slash = strchr(p->type, '/');
    return cmk_err_set(err, CMK_EINVAL, 400, "NoRegisteredProviderFound",
                       "No registered resource provider found for API version '%.32s' for type "
                       "'%s'. The supported api-versions are '%s'.",
                       call->api_version, slash ? slash + 1 : p->type, o ? list : "");
}

/* ---- calls ---- */

void cmk__arm_call_init(struct cmk_arm *arm, struct cmk_arm_call *call, struct cmk_request *req,
                        struct cmk_response *res)
{
    memset(call, 0, sizeof(*call));
    call->arm = arm;
    call->req = req;
    call->res = res;
    call->rest = "";
    call->started = cmk_clock_now(&arm->rt->clock);
    const char *cid = req ? cmk_request_header(req, "x-ms-correlation-request-id") : NULL;
    if (cid && cmk__arm_valid_guid(cid))
        snprintf(call->correlation_id, sizeof(call->correlation_id), "%s", cid);
    if (res != NULL) {
        char rid[40];
        cmk_rng_guid(&arm->rng_req, rid);
        cmk_response_header(res, "x-ms-request-id", rid);
    }
}

void cmk__arm_call_write_begin(struct cmk_arm_call *call)
{
    call->write = 1;
    if (call->correlation_id[0] == '\0')
        cmk__arm_draw_guid(call->arm, call->correlation_id);
    if (call->res)
        cmk_response_header(call->res, "x-ms-correlation-request-id", call->correlation_id);
    if (cmk_arm_tx_begin(call->arm) == 0)
        call->in_tx = 1;
}

static void default_operation(struct cmk_arm_call *call)
{
    const char *m = call->req ? call->req->method : "POST";
    const char *type = call->type[0] ? call->type : call->rid.ns;
    char first[64] = "";
    if (call->rest && call->rest[0]) {
        size_t l = strcspn(call->rest, "/");
        snprintf(first, sizeof(first), "%.*s", (int)(l < 63 ? l : 63), call->rest);
    }
    if (strcasecmp(m, "DELETE") == 0)
        snprintf(call->operation, sizeof(call->operation), "%.150s%s%.40s/delete", type,
                 first[0] ? "/" : "", first);
    else if (strcasecmp(m, "PUT") == 0 || strcasecmp(m, "PATCH") == 0)
        snprintf(call->operation, sizeof(call->operation), "%.150s%s%.40s/write", type,
                 first[0] ? "/" : "", first);
    else
        snprintf(call->operation, sizeof(call->operation), "%.150s%s%.40s/action", type,
                 first[0] ? "/" : "", first);
}

/* A scope route (/subscriptions/{s}/providers/{ns}/locations/{loc}/deletedVaults/{v}/purge):
 * the namespace and location of the path, and as id the longest prefix that is a valid id
 * (for operations and activity log entries). */
static void scope_route(struct cmk_arm_call *call, char **segs, int n)
{
    for (int i = 2; i + 1 < n; i++) {
        if (strcasecmp(segs[i], "providers") == 0 && call->rid.ns[0] == '\0')
            snprintf(call->rid.ns, sizeof(call->rid.ns), "%s", segs[i + 1]);
        if (strcasecmp(segs[i], "locations") == 0 && call->location[0] == '\0')
            cmk_arm_location_normalize(segs[i + 1], call->location, sizeof(call->location), NULL,
                                       NULL);
    }
    for (int m = n; m >= 2; m--) {
        char path[CMK_ARM_ID_MAX];
        size_t o = 0;
        for (int i = 0; i < m && o < sizeof(path); i++)
            o += (size_t)snprintf(path + o, sizeof(path) - o, "/%s", segs[i]);
        struct cmk_arm_id id;
        if (o < sizeof(path) && cmk_arm_id_parse(path, &id, NULL) == 0) {
            snprintf(call->id, sizeof(call->id), "%s", path);
            return;
        }
    }
}

int cmk_arm_call_begin(struct cmk_arm *arm, struct cmk_request *req, struct cmk_response *res,
                       const char *type, unsigned flags, struct cmk_arm_call *call)
{
    struct cmk_err err;
    cmk_err_clear(&err);
    cmk__arm_call_init(arm, call, req, res);
    char path[CMK_ARM_ID_MAX];
    char *segs[64];
    int n = -1;
    if (req->path && strlen(req->path) < sizeof(path)) {
        snprintf(path, sizeof(path), "%s", req->path);
        n = cmk__arm_split(path, segs, 64);
    }
    int rc = cmk__arm_authenticate(call, &err);
    if (rc != 0)
        goto fail;
    if (n < 2 || strcasecmp(segs[0], "subscriptions") != 0) {
        rc = cmk_err_set(&err, CMK_EINVAL, 400, "InvalidResourceId",
                         "The request path '%.600s' has no subscription.",
                         req->path ? req->path : "");
        goto fail;
    }
    if ((rc = cmk__arm_check_subscription(call, segs[1], &err)) != 0)
        goto fail;
    call->provider = type ? cmk_arm_provider_find(arm, type) : NULL;
    if ((rc = cmk__arm_check_api_version(call, call->provider, &err)) != 0)
        goto fail;
    snprintf(call->rid.sub, sizeof(call->rid.sub), "%s", segs[1]);
    if (type)
        snprintf(call->type, sizeof(call->type), "%s", type);
    int i = 2;
    if (!(flags & CMK_ARM_CALL_NO_ID) && type != NULL) {
        unsigned depth = cmk__arm_type_depth(type);
        if (i + 1 < n && strcasecmp(segs[i], "resourceGroups") == 0) {
            snprintf(call->rid.rg, sizeof(call->rid.rg), "%s", segs[i + 1]);
            i += 2;
        }
        if (i + 1 >= n || strcasecmp(segs[i], "providers") != 0 || depth == 0 ||
            depth > CMK_ARM_DEPTH_MAX || n < i + 2 + 2 * (int)depth) {
            rc = cmk_err_set(&err, CMK_EINVAL, 400, "InvalidResourceId",
                             "The request path '%.600s' is not a '%s' resource path.", req->path,
                             type);
            goto fail;
        }
        snprintf(call->rid.ns, sizeof(call->rid.ns), "%s", segs[i + 1]);
        i += 2;
        for (unsigned d = 0; d < depth; d++, i += 2) {
            snprintf(call->rid.types[d], sizeof(call->rid.types[d]), "%s", segs[i]);
            snprintf(call->rid.names[d], sizeof(call->rid.names[d]), "%s", segs[i + 1]);
        }
        call->rid.depth = depth;
        cmk_arm_id_format(&call->rid, call->id, sizeof(call->id));
        if (call->rid.rg[0] &&
            (rc = cmk__arm_group_get(arm, call->rid.sub, call->rid.rg, NULL, NULL, &err)) != 0)
            goto fail;
        struct cmk_arm_resource r;
        if (cmk_arm_resource_get(arm, call->id, &r, &err) == 0) {
            snprintf(call->id, sizeof(call->id), "%s", r.id);
            snprintf(call->location, sizeof(call->location), "%s", r.location);
            cmk_arm_resource_close(&r);
        } else if (flags & CMK_ARM_CALL_EXISTING) {
            rc = err.rc;
            goto fail;
        }
    } else {
        scope_route(call, segs, n);
    }
    size_t o = 0;
    call->path_rest[0] = '\0';
    for (; i < n && o < sizeof(call->path_rest); i++)
        o += (size_t)snprintf(call->path_rest + o, sizeof(call->path_rest) - o, "%s%s",
                              o ? "/" : "", segs[i]);
    call->rest = call->path_rest;
    int write = (flags & CMK_ARM_CALL_WRITE) ||
                (strcasecmp(req->method, "GET") != 0 && strcasecmp(req->method, "HEAD") != 0);
    if (write) {
        default_operation(call);
        cmk__arm_call_write_begin(call);
        if (flags & CMK_ARM_CALL_NO_LOG)
            call->write = 2;
    }
    return 0;
fail:
    cmk__arm_error(arm, res, &err);
    return rc ? rc : CMK_EINVAL;
}

/* The failure of an answer, read back from its envelope (for the activity log). */
static void failure_of(const struct cmk_response *res, struct cmk_err *f)
{
    cmk_err_clear(f);
    f->status = res->status;
    json_t *b = cmk_response_json_body(res);
    json_t *e = json_object_get(b, "error");
    snprintf(f->code, sizeof(f->code), "%s", json_string_value(json_object_get(e, "code")) ?: "");
    snprintf(f->message, sizeof(f->message), "%s",
             json_string_value(json_object_get(e, "message")) ?: "");
    json_decref(b);
}

int cmk_arm_authenticate(struct cmk_arm *arm, struct cmk_request *req, struct cmk_response *res,
                         struct cmk_principal *who)
{
    struct cmk_arm_call call;
    struct cmk_err err;
    cmk_err_clear(&err);
    cmk__arm_call_init(arm, &call, req, res);
    int rc = cmk__arm_authenticate(&call, &err);
    if (rc != 0) {
        cmk__arm_error(arm, res, &err);
        return rc;
    }
    if (who != NULL)
        *who = call.caller;
    return 0;
}

void cmk_arm_call_end(struct cmk_arm_call *call)
{
    if (call == NULL || call->done)
        return;
    call->done = 1;
    if (!call->write)
        return;
    struct cmk_arm *arm = call->arm;
    int status = call->res ? call->res->status : 200;
    if (status < 400) {
        if (call->write == 1)
            cmk__arm_log_call(call, status, NULL);
        if (call->in_tx && cmk_arm_tx_commit(arm) != 0 && call->res) {
            struct cmk_err err;
            cmk_err_set(&err, CMK_EIO, 500, "InternalServerError",
                        "The change could not be made durable; it was rolled back.");
            cmk_response_error(call->res, &err);
        }
        return;
    }
    if (call->in_tx)
        cmk_arm_tx_rollback(arm);
    if (call->write == 1 && call->res) {
        struct cmk_err f;
        failure_of(call->res, &f);
        if (cmk_arm_tx_begin(arm) == 0) {
            cmk__arm_log_call(call, status, &f);
            cmk_arm_tx_commit(arm);
        }
    }
}

void cmk_arm_respond_error(struct cmk_arm_call *call, const struct cmk_err *err)
{
    if (call->res)
        cmk__arm_error(call->arm, call->res, err);
}

void cmk_arm_respond_resource(struct cmk_arm_call *call, int status,
                              const struct cmk_arm_resource *r)
{
    if (call->res)
        cmk_response_json(call->res, status ? status : 200, cmk_arm_resource_view(call->arm, r));
}

int cmk_arm_err_not_found(struct cmk_err *err, const char *id)
{
    struct cmk_arm_id rid;
    if (cmk_arm_id_parse(id, &rid, NULL) != 0 || rid.depth == 0)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "ResourceNotFound",
                           "The Resource '%.600s' was not found.", id);
    char what[CMK_ARM_ID_MAX];
    size_t o = (size_t)snprintf(what, sizeof(what), "%s", rid.ns);
    for (size_t i = 0; i < rid.depth && o < sizeof(what); i++)
        o += (size_t)snprintf(what + o, sizeof(what) - o, "/%s/%s", rid.types[i], rid.names[i]);
    if (rid.rg[0])
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "ResourceNotFound",
                           "The Resource '%.600s' under resource group '%s' was not found. For "
                           "more details please go to https://aka.ms/ARMResourceNotFoundFix",
                           what, rid.rg);
    return cmk_err_set(err, CMK_ENOTFOUND, 404, "ResourceNotFound",
                       "The Resource '%.600s' was not found. For more details please go to "
                       "https://aka.ms/ARMResourceNotFoundFix",
                       what);
}

/* Keep the request's query except $skiptoken, raw (as the client encoded it). */
static void query_without_skiptoken(const struct cmk_request *req, struct cmk_buf *b)
{
    const char *q = req && req->target ? strchr(req->target, '?') : NULL;
    if (q == NULL)
        return;
    q++;
    while (*q && *q != '#') {
        size_t l = strcspn(q, "&#");
        int skip = (l >= 11 && strncasecmp(q, "$skiptoken=", 11) == 0) ||
                   (l >= 13 && strncasecmp(q, "%24skiptoken=", 13) == 0);
        if (!skip && l > 0) {
            cmk_buf_puts(b, b->len ? "&" : "");
            cmk_buf_append(b, q, l);
        }
        q += l;
        if (*q == '&')
            q++;
    }
}

void cmk_arm_respond_list(struct cmk_arm_call *call, json_t *items)
{
    size_t total = json_array_size(items);
    size_t skip = 0, page = call->arm->page_size;
    const char *st = call->req ? cmk_request_query(call->req, "$skiptoken") : NULL;
    if (st) {
        char *end;
        unsigned long long v = strtoull(st, &end, 10);
        if (*end == '\0' && v < total)
            skip = (size_t)v;
        else if (*end == '\0')
            skip = total;
    }
    const char *top = call->req ? cmk_request_query(call->req, "$top") : NULL;
    if (top) {
        long v = strtol(top, NULL, 10);
        if (v > 0 && (size_t)v < page)
            page = (size_t)v;
    }
    json_t *value = json_array();
    for (size_t i = skip; i < total && i < skip + page; i++)
        json_array_append(value, json_array_get(items, i));
    json_t *body = json_object();
    json_object_set_new(body, "value", value);
    if (skip + page < total && call->req) {
        struct cmk_buf b;
        cmk_buf_init(&b);
        char base[300];
        cmk__arm_base_url(call->req, base, sizeof(base));
        struct cmk_buf q;
        cmk_buf_init(&q);
        query_without_skiptoken(call->req, &q);
        const char *p = call->req->target;
        if (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0) {
            const char *slash = strchr(strstr(p, "//") + 2, '/');
            p = slash ? slash : "/";
        }
        cmk_buf_printf(&b, "%s%.*s?%s%s$skiptoken=%zu", base, (int)strcspn(p, "?#"), p,
                       q.len ? q.data : "", q.len ? "&" : "", skip + page);
        json_object_set_new(body, "nextLink", json_string(b.data));
        cmk_buf_close(&q);
        cmk_buf_close(&b);
    }
    json_decref(items);
    if (call->res)
        cmk_response_json(call->res, 200, body);
    else
        json_decref(body);
}
