/* keys_api.c: the request pipeline of the keys data plane (see keys_api.h): container lookup,
 * token and tenant, network rules, api-version, activation, permission, throttling, then the
 * handler (keys_routes.c), the service's response headers and the AuditEvent. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit.h"
#include "common/auth.h"
#include "common/log.h"
#include "common/runtime.h"
#include "keys_int.h"

#define SERVICE_VERSION "1.9.2000.1"
#define DEFAULT_RATE    20000.0
#define DEFAULT_BURST   40000.0

static const char *const api_versions[] = {"7.0", "7.1", "7.2",        "7.3", "7.4",
                                           "7.5", "7.6", "2025-07-01", NULL};
#define LATEST_API_VERSION "2025-07-01"

int vs_keys_open(struct vs_keys **out, struct cmk_runtime *rt, struct vs_engine *engine,
                 struct vs_audit *audit, const struct vs_keys_policy *policy, struct cmk_err *err)
{
    *out = NULL;
    if (policy == NULL || policy->version < 1 || policy->lookup == NULL ||
        policy->authorize == NULL || policy->cloud_resource == NULL)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError", "bad keys policy");
    struct vs_keys *ks = cmk_xcalloc(1, sizeof(*ks));
    ks->rt = rt;
    ks->engine = engine;
    ks->audit = audit;
    ks->policy = *policy;
    ks->rate = DEFAULT_RATE;
    ks->burst = DEFAULT_BURST;
    char stream[64];
    snprintf(stream, sizeof(stream), "vaultsim.requests.%s", cmk_host_kind_name(policy->host));
    cmk_runtime_rng(rt, stream, &ks->rng);
    snprintf(ks->local_resource, sizeof(ks->local_resource), "https://%s.%s",
             policy->local_family ? policy->local_family : "vault", rt->hosts.suffix);
    size_t n = 0;
    ks->audiences[n++] = policy->cloud_resource;
    ks->audiences[n++] = ks->local_resource;
    if (policy->app_id)
        ks->audiences[n++] = policy->app_id;
    ks->audiences[n] = NULL;
    vs__keys_register(ks);
    *out = ks;
    return 0;
}

void vs_keys_free(struct vs_keys *ks)
{
    if (ks == NULL)
        return;
    vs__crypt_orphan(ks);
    for (size_t i = 0; i < VS_THROTTLE_BUCKETS; i++) {
        struct vs_bucket *b = ks->buckets[i];
        while (b) {
            struct vs_bucket *next = b->next;
            free(b->space);
            free(b);
            b = next;
        }
    }
    free(ks);
}

void vs_keys_set_throttle(struct vs_keys *ks, double rate, double burst)
{
    ks->rate = rate;
    ks->burst = burst > 0 ? burst : rate;
}

/* ---- steps ---------------------------------------------------------------------------- */

static void base_url(struct vs_call *call)
{
    const char *host = cmk_request_header(call->req, "host");
    char h[256];
    snprintf(h, sizeof(h), "%s", host && *host ? host : call->req->host ? call->req->host : "");
    for (char *p = h; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    size_t len = strlen(h);
    if (len > 4 && strcmp(h + len - 4, ":443") == 0)
        h[len - 4] = '\0';
    snprintf(call->base, sizeof(call->base), "https://%s", h);
    const char *cloud = cmk_hosts_cloud_suffix(call->ks->policy.host);
    const char *name = call->req->host ? call->req->host : "";
    size_t nl = strlen(name), cl = strlen(cloud);
    call->local = !(nl > cl && strcmp(name + nl - cl, cloud) == 0 && name[nl - cl - 1] == '.');
}

/* The port of the request's Host header (":8443"), or "". */
static const char *host_port(const struct vs_call *call)
{
    const char *host = cmk_request_header(call->req, "host");
    const char *colon = host ? strrchr(host, ':') : NULL;
    if (colon == NULL || strchr(host, ']') > colon || strcmp(colon, ":443") == 0)
        return "";
    return colon;
}

static void challenge(struct vs_call *call)
{
    char v[512];
    const char *tenant = call->have_container ? call->c.tenant : "common";
    if (call->local)
        snprintf(v, sizeof(v), "Bearer authorization=\"https://login.%s%s/%s\", resource=\"%s\"",
                 call->ks->rt->hosts.suffix, host_port(call), tenant, call->ks->local_resource);
    else
        snprintf(v, sizeof(v),
                 "Bearer authorization=\"https://login.microsoftonline.com/%s\", "
                 "resource=\"%s\"",
                 tenant, call->ks->policy.cloud_resource);
    cmk_response_header(call->res, "WWW-Authenticate", v);
}

static void caller_text(const struct vs_call *call, char *out, size_t n)
{
    snprintf(out, n, "appid=%s;oid=%s;iss=%s", call->p.appid, call->p.oid, call->p.iss);
}

static int check_token(struct vs_call *call)
{
    struct cmk_runtime *rt = call->ks->rt;
    int rc = cmk_auth_verify(rt->auth, cmk_request_header(call->req, "authorization"),
                             cmk_clock_now(&rt->clock), call->ks->audiences, &call->p, &call->err);
    if (rc != 0) {
        /* The service's messages carry an AKV code. */
        char msg[sizeof(call->err.message) + 16];
        const char *akv = strcmp(call->err.inner, "TokenMissing") == 0      ? "AKV10000"
                          : strcmp(call->err.inner, "InvalidAudience") == 0 ? "AKV10022"
                          : strcmp(call->err.inner, "TokenExpired") == 0    ? "AKV10032"
                                                                            : "AKV10021";
        snprintf(msg, sizeof(msg), "%s: %s", akv, call->err.message);
        memcpy(call->err.message, msg, sizeof(call->err.message) - 1);
        call->err.message[sizeof(call->err.message) - 1] = '\0';
        return rc;
    }
    call->have_principal = 1;
    if (strcasecmp(call->p.tid, call->c.tenant) != 0) {
        cmk_err_set(&call->err, CMK_EAUTH, 401, "Unauthorized",
                    "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/%s/, "
                    "found %s.",
                    call->c.tenant, call->p.iss[0] ? call->p.iss : call->p.tid);
        cmk_err_inner(&call->err, "InvalidIssuer");
        return CMK_EAUTH;
    }
    return 0;
}

static int check_network(struct vs_call *call)
{
    const struct vs_netrules *n = &call->c.net;
    const struct cmk_origin *o = &call->req->origin;
    int trusted = o->kind == CMK_ORIGIN_TRUSTED_SERVICE && n->bypass_azure;
    char caller[512];
    caller_text(call, caller, sizeof(caller));
    if (n->public_disabled) {
        if (trusted)
            return 0;
        cmk_err_set(&call->err, CMK_EDENIED, 403, "Forbidden",
                    "Public network access is disabled and request is not from a trusted "
                    "service nor via an approved private link.\r\nCaller: %s\r\nVault: "
                    "%s;location=%s",
                    caller, call->c.space.name, call->c.location);
        cmk_err_inner(&call->err, "ForbiddenByConnection");
        return CMK_EDENIED;
    }
    if (!n->deny || trusted || vs_netrules_match(n, o->addr))
        return 0;
    cmk_err_set(&call->err, CMK_EDENIED, 403, "Forbidden",
                "Client address is not authorized and caller is not a trusted service.\r\nClient "
                "address: %s\r\nCaller: %s\r\nVault: %s;location=%s",
                o->addr[0] ? o->addr : "unknown", caller, call->c.space.name, call->c.location);
    cmk_err_inner(&call->err, "ForbiddenByFirewall");
    return CMK_EDENIED;
}

static int check_api_version(struct vs_call *call)
{
    const char *v = cmk_request_query(call->req, "api-version");
    if (v == NULL || *v == '\0')
        return cmk_err_set(&call->err, CMK_EINVAL, 400, "BadParameter",
                           "The api-version query parameter is required. Consider using the "
                           "latest supported version (%s).",
                           LATEST_API_VERSION);
    for (size_t i = 0; api_versions[i]; i++) {
        size_t n = strlen(api_versions[i]);
        if (strncmp(v, api_versions[i], n) == 0 &&
            (v[n] == '\0' || strncmp(v + n, "-preview", 8) == 0))
            return 0;
    }
    return cmk_err_set(&call->err, CMK_EINVAL, 400, "BadParameter",
                       "The specified version (%.40s) is not recognized. Consider using the "
                       "latest supported version (%s).",
                       v, LATEST_API_VERSION);
}

static unsigned bucket_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % VS_THROTTLE_BUCKETS;
}

static int check_throttle(struct vs_call *call)
{
    struct vs_keys *ks = call->ks;
    double rate = call->c.rate > 0 ? call->c.rate : ks->rate;
    double burst =
        call->c.rate > 0 ? (call->c.burst > 0 ? call->c.burst : call->c.rate) : ks->burst;
    if (rate <= 0)
        return 0;
    unsigned h = bucket_hash(call->c.space.id);
    struct vs_bucket *b = ks->buckets[h];
    while (b && strcmp(b->space, call->c.space.id) != 0)
        b = b->next;
    cmk_time_t now = cmk_clock_now(&ks->rt->clock);
    if (b == NULL) {
        b = cmk_xcalloc(1, sizeof(*b));
        b->space = cmk_xstrdup(call->c.space.id);
        b->tokens = burst;
        b->last = now;
        b->next = ks->buckets[h];
        ks->buckets[h] = b;
    }
    if (now > b->last) {
        b->tokens += (double)(now - b->last) * rate / 1000.0;
        b->last = now;
    }
    if (b->tokens > burst)
        b->tokens = burst;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    long retry = (long)ceil((1.0 - b->tokens) / rate);
    if (retry < 1)
        retry = 1;
    char v[32];
    snprintf(v, sizeof(v), "%ld", retry);
    cmk_response_header(call->res, "Retry-After", v);
    return cmk_err_set(&call->err, CMK_ETHROTTLED, 429, "Throttled",
                       "Request was not processed because too many requests were received. "
                       "Reason: the %s's limit of %.0f requests per second (burst %.0f) was "
                       "reached. Retry after %ld seconds.",
                       call->c.space.kind_label ? call->c.space.kind_label : "vault", rate, burst,
                       retry);
}

void vs__call_fail(struct vs_call *call)
{
    cmk_response_error(call->res, &call->err);
}

int vs__call_begin(struct vs_call *call, struct vs_keys *ks, struct cmk_request *req,
                   struct cmk_response *res, enum vs_perm perm, const char *op)
{
    return vs__call_begin_flags(call, ks, req, res, perm, op, 0);
}

int vs__call_begin_flags(struct vs_call *call, struct vs_keys *ks, struct cmk_request *req,
                         struct cmk_response *res, enum vs_perm perm, const char *op,
                         unsigned flags)
{
    memset(call, 0, sizeof(*call));
    call->ks = ks;
    call->req = req;
    call->res = res;
    call->perm = perm;
    call->op = op;
    /* A flavour's own route (keys_flavour.c) is about its path, not a key. */
    call->name = flags & VS__CALL_FLAVOUR ? NULL : cmk_request_param(req, "name");
    call->version = flags & VS__CALL_FLAVOUR ? NULL : cmk_request_param(req, "version");
    base_url(call);
    if (call->name) {
        char *kid = vs_kid(call->base, call->name, call->version);
        snprintf(call->kid, sizeof(call->kid), "%s", kid);
        free(kid);
    } else {
        snprintf(call->kid, sizeof(call->kid), "%s%s", call->base, req->path ? req->path : "");
    }
    /* 0. the container */
    if (req->host_label[0] == '\0' ||
        ks->policy.lookup(ks->policy.data, req->host_label, &call->c) != 0) {
        cmk_err_set(&call->err, CMK_ENOTFOUND, 404, "NotFound",
                    "No %s named '%s' exists in this emulator.",
                    ks->policy.host == CMK_HOST_HSM ? "managed HSM" : "key vault", req->host_label);
        vs__call_fail(call);
        return CMK_ENOTFOUND;
    }
    call->have_container = 1;
    /* 1-2. token and tenant, before anything of the body is looked at */
    int rc = check_token(call);
    if (rc != 0) {
        challenge(call);
        vs__call_fail(call);
        return rc;
    }
    /* 3. network, 4. api-version, 5. activation */
    rc = check_network(call);
    if (rc == 0)
        rc = check_api_version(call);
    if (rc == 0 && call->c.inactive && !(flags & VS_KEYS_CALL_INACTIVE_OK)) {
        call->err = call->c.inactive_err;
        rc = call->err.rc ? call->err.rc : CMK_EUNAVAIL;
    }
    /* 6. permission (a flavour's own route authorizes by itself) */
    if (rc == 0 && !(flags & VS__CALL_FLAVOUR))
        rc =
            ks->policy.authorize(ks->policy.data, &call->c, &call->p, perm, call->name, &call->err);
    /* 7. throttling */
    if (rc == 0)
        rc = check_throttle(call);
    if (rc != 0)
        vs__call_fail(call);
    return rc;
}

static const char *result_signature(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "NoContent";
    case 400:
        return "BadRequest";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "NotFound";
    case 405:
        return "MethodNotAllowed";
    case 409:
        return "Conflict";
    case 429:
        return "TooManyRequests";
    default:
        return status >= 500 ? "InternalServerError" : "Other";
    }
}

static const char *origin_name(enum cmk_origin_kind k)
{
    switch (k) {
    case CMK_ORIGIN_TRUSTED_SERVICE:
        return "TrustedService";
    case CMK_ORIGIN_INPROC:
        return "InProcess";
    default:
        return "Network";
    }
}

void vs__call_end(struct vs_call *call)
{
    struct vs_keys *ks = call->ks;
    struct cmk_response *res = call->res;
    char rid[40];
    cmk_rng_guid(&ks->rng, rid);
    cmk_response_header(res, "x-ms-request-id", rid);
    const char *crid = cmk_request_header(call->req, "x-ms-client-request-id");
    if (crid)
        cmk_response_header(res, "x-ms-client-request-id", crid);
    cmk_response_header(res, "x-ms-keyvault-service-version", SERVICE_VERSION);
    if (call->have_container)
        cmk_response_header(res, "x-ms-keyvault-region", call->c.location);
    char net[160];
    snprintf(net, sizeof(net), "conn_type=Ipv4;addr=%s;act_addr_fam=InterNetwork;",
             call->req->origin.addr);
    cmk_response_header(res, "x-ms-keyvault-network-info", net);
    if (!call->have_container)
        return; /* no vault, no audit log to write to */

    char when[40];
    cmk_time_format(cmk_clock_now(&ks->rt->clock), when, sizeof(when));
    int status = res->status ? res->status : 200;
    const char *api = cmk_request_query(call->req, "api-version");
    json_t *ev = json_object();
    json_object_set_new(ev, "time", json_string(when));
    json_object_set_new(
        ev, "category",
        json_string(ks->policy.audit_category ? ks->policy.audit_category : "AuditEvent"));
    json_object_set_new(ev, "operationName", json_string(call->op));
    json_object_set_new(ev, "operationVersion", json_string(api ? api : ""));
    json_object_set_new(ev, "resourceId", json_string(call->c.resource_id));
    json_object_set_new(ev, "resultType", json_string(status < 400 ? "Success" : "Failure"));
    json_object_set_new(ev, "resultSignature", json_string(result_signature(status)));
    json_object_set_new(ev, "resultDescription",
                        json_string(status < 400 ? "" : call->err.message));
    json_object_set_new(ev, "callerIpAddress", json_string(call->req->origin.addr));
    json_object_set_new(ev, "correlationId", json_string(crid ? crid : rid));
    json_t *claim = json_object();
    if (call->have_principal) {
        json_object_set_new(claim, "oid", json_string(call->p.oid));
        json_object_set_new(claim, "appid", json_string(call->p.appid));
        json_object_set_new(claim, "tid", json_string(call->p.tid));
        if (call->p.mirid[0])
            json_object_set_new(claim, "xms_mirid", json_string(call->p.mirid));
    }
    json_object_set_new(ev, "identity", json_pack("{s:o}", "claim", claim));
    json_t *props = json_object();
    json_object_set_new(props, "id", json_string(call->kid));
    json_object_set_new(props, "httpStatusCode", json_integer(status));
    json_object_set_new(props, "requestUri",
                        json_string(call->req->target ? call->req->target : ""));
    json_object_set_new(props, "origin", json_string(origin_name(call->req->origin.kind)));
    if (call->req->origin.service[0])
        json_object_set_new(props, "service", json_string(call->req->origin.service));
    if (status >= 400) {
        json_object_set_new(props, "errorCode", json_string(call->err.code));
        if (call->err.inner[0])
            json_object_set_new(props, "innerErrorCode", json_string(call->err.inner));
    }
    const char *ua = cmk_request_header(call->req, "user-agent");
    if (ua)
        json_object_set_new(props, "clientInfo", json_string(ua));
    json_object_set_new(ev, "properties", props);
    vs_audit_append(ks->audit, call->c.space.id, ev);
}
