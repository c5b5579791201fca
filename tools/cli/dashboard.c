/* dashboard.c: the server side of the live dashboard (tools/dashboard/): the page, its token,
 * its relay to vault hosts, and the event stream (see manage.h for the routes).
 *
 * The page is a client like any other: it reads and changes resources through the ARM routes
 * of the management host (same origin) and through Key Vault's own routes, with bearer tokens
 * of the admin principal. What this file adds:
 *
 *   - POST /_cmksim/dashboard/token: admin tokens for the management, vault and HSM audiences.
 *     Security choice: it answers only a request from a loopback address (the page's browser
 *     on this machine, directly or through the CONNECT proxy) that is not a cross-site browser
 *     request (Sec-Fetch-Site, when sent, must be same-origin or none), or a request that
 *     already carries an admin token. Anyone who can reach the loopback listener can read the
 *     state directory and the well-known admin secret anyway; a web page of another site can
 *     neither read the answer (no CORS) nor get past the Sec-Fetch-Site check.
 *   - POST /_cmksim/dashboard/call {method, url, body}: the page cannot call
 *     https://NAME.vault.localhost directly (another origin, and Key Vault answers no CORS), so
 *     this relays the call through the router's in-process door with the page's own
 *     Authorization header and the page's network address as origin: the vault applies its
 *     token, tenant, firewall and permission checks exactly as for a direct call. Only vault
 *     and managed HSM hosts are relayed; no credential is added.
 *   - GET /_cmksim/events: server-sent events, one per rt->events publication (and per
 *     finished activity log entry), "id: N" numbered; a reconnecting page sends Last-Event-ID
 *     (or ?since=N) and gets what it missed from a ring of the last RING events.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/arm.h"
#include "common/log.h"
#include "controlplane/identity.h"
#include "manage.h"

#define RING        512
#define MAX_STREAMS 32
#define PING_EVERY  (15 * CMK_SECOND) /* wall time between keep-alive comments */

struct ring_entry {
    unsigned long id;
    char *text; /* the whole SSE message */
};

struct cli_dashboard {
    struct cmk_runtime *rt;
    struct cli_manage *manage;
    struct ring_entry ring[RING];
    unsigned long next_id;
    struct cmk_stream *streams[MAX_STREAMS];
    size_t nstreams;
    struct cmk_timer ping;
    int subscribed;
};

/* ---- the page ---- */

static const struct cli_asset *asset(const char *name)
{
    for (const struct cli_asset *a = cli_dashboard_assets; a->name; a++)
        if (!strcmp(a->name, name))
            return a;
    return NULL;
}

static void send_asset(struct cmk_response *res, const struct cli_asset *a)
{
    res->status = 200;
    cmk_response_header(res, "content-type", a->content_type);
    cmk_response_header(res, "cache-control", "no-cache");
    cmk_response_header(res, "x-content-type-options", "nosniff");
    cmk_response_header(res, "content-security-policy",
                        "default-src 'self'; style-src 'self'; script-src 'self'; "
                        "img-src 'self' data:; frame-ancestors 'none'");
    cmk_buf_append(&res->body, a->data, a->len);
}

static void h_index(struct cmk_request *req, struct cmk_response *res, void *data)
{
    (void)req;
    (void)data;
    const struct cli_asset *a = asset("index.html");
    if (a)
        send_asset(res, a);
    else
        cmk_response_text(res, 404, "text/plain", "the dashboard is not built in");
}

static void h_asset(struct cmk_request *req, struct cmk_response *res, void *data)
{
    (void)data;
    const struct cli_asset *a = asset(cmk_request_param(req, "file"));
    if (a == NULL) {
        struct cmk_err err;
        cmk_err_set(&err, CMK_ENOTFOUND, 404, "NotFound", "No such dashboard file.");
        cmk_response_error(res, &err);
        return;
    }
    send_asset(res, a);
}

/* ---- the page's token ---- */

static int loopback(const struct cmk_request *req)
{
    const char *a = req->origin.addr;
    return req->origin.kind == CMK_ORIGIN_NETWORK &&
           (!strncmp(a, "127.", 4) || !strcmp(a, "::1") || !strcmp(a, "::ffff:127.0.0.1"));
}

static void h_token(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cli_dashboard *d = data;
    struct cmk_err err;
    cmk_err_clear(&err);
    const char *site = cmk_request_header(req, "sec-fetch-site");
    int browser_ok = site == NULL || !strcmp(site, "same-origin") || !strcmp(site, "none");
    if (!(loopback(req) && browser_ok)) {
        struct cmk_principal who;
        if (cmk_request_header(req, "authorization") == NULL) {
            cmk_err_set(&err, CMK_EDENIED, 403, "Forbidden",
                        "The dashboard's token is given only to same-origin requests from this "
                        "machine (loopback), or to a caller with an admin token.");
            cmk_response_error(res, &err);
            return;
        }
        if (cli_manage_admin(d->manage, req, res, 0, &who) != 0)
            return;
    }
    static const struct {
        const char *key, *audience;
    } auds[] = {
        {"management", "https://management.azure.com/"},
        {"vault", "https://vault.azure.net"},
        {"hsm", "https://managedhsm.azure.net"},
    };
    json_t *out = json_object();
    for (size_t i = 0; i < sizeof(auds) / sizeof(auds[0]); i++) {
        char *tok = NULL;
        if (cp_identity_sp_token(d->rt, CP_IDENTITY_ADMIN_CLIENT_ID, auds[i].audience, &tok,
                                 &err) != 0) {
            json_decref(out);
            cmk_response_error(res, &err);
            return;
        }
        json_object_set_new(out, auds[i].key, json_string(tok));
        free(tok);
    }
    struct cp_identity_defaults def;
    cp_identity_defaults(&def);
    json_object_set_new(out, "subscriptionId", json_string(def.subscription_id));
    json_object_set_new(out, "tenantId", json_string(def.tenant_id));
    json_object_set_new(out, "suffix", json_string(d->rt->hosts.suffix));
    json_object_set_new(out, "expiresIn", json_integer(CP_IDENTITY_TOKEN_LIFETIME / CMK_SECOND));
    cmk_response_header(res, "cache-control", "no-store");
    cmk_response_json(res, 200, out);
}

/* ---- the relay to vault hosts ---- */

static void h_call(struct cmk_request *req, struct cmk_response *res, void *data)
{
    (void)data;
    struct cmk_err err;
    cmk_err_clear(&err);
    json_t *body = cmk_request_json(req, &err);
    if (body == NULL) {
        cmk_response_error(res, &err);
        return;
    }
    const char *method = json_string_value(json_object_get(body, "method"));
    const char *url = json_string_value(json_object_get(body, "url"));
    json_t *payload = json_object_get(body, "body");
    char host[256] = "";
    if (url && !strncmp(url, "https://", 8))
        snprintf(host, sizeof(host), "%.*s", (int)strcspn(url + 8, "/?"), url + 8);
    char label[64];
    enum cmk_host_kind kind =
        cmk_hosts_classify(&((struct cli_dashboard *)data)->rt->hosts, host, label, sizeof(label));
    if (method == NULL || url == NULL || strlen(method) > 7 ||
        (kind != CMK_HOST_VAULT && kind != CMK_HOST_HSM)) {
        cmk_err_set(&err, CMK_EINVAL, 400, "BadParameter",
                    "The relay takes {\"method\", \"url\", \"body\"} with the https URL of a "
                    "vault or managed HSM.");
        cmk_response_error(res, &err);
        return;
    }
    struct cmk_origin origin = {.kind = req->origin.kind};
    snprintf(origin.addr, sizeof(origin.addr), "%s", req->origin.addr);
    struct cmk_request in;
    if (cmk_request_init(&in, method, url, &origin) != 0) {
        cmk_err_set(&err, CMK_EINVAL, 400, "BadParameter", "The URL is malformed.");
        cmk_response_error(res, &err);
        return;
    }
    const char *auth = cmk_request_header(req, "authorization");
    if (auth)
        cmk_request_add_header(&in, "authorization", auth);
    if (payload && !json_is_null(payload))
        cmk_request_set_json(&in, payload);
    struct cmk_response out;
    cmk_response_init(&out);
    cmk_router_dispatch(&((struct cli_dashboard *)data)->rt->router, &in, &out);
    json_t *answer = json_pack("{s:i}", "status", out.status);
    json_t *jb = cmk_response_json_body(&out);
    if (jb)
        json_object_set_new(answer, "body", jb);
    else if (out.body.len)
        json_object_set_new(answer, "text", json_stringn(out.body.data, out.body.len));
    cmk_response_close(&out);
    cmk_request_close(&in);
    cmk_response_json(res, 200, answer);
}

/* ---- events ---- */

static void remove_stream(struct cli_dashboard *d, struct cmk_stream *st)
{
    for (size_t i = 0; i < d->nstreams; i++) {
        if (d->streams[i] == st) {
            d->streams[i] = d->streams[--d->nstreams];
            return;
        }
    }
}

struct close_ctx {
    struct cli_dashboard *d;
    struct cmk_stream *st;
};

static void on_stream_closed(void *data)
{
    struct close_ctx *c = data;
    remove_stream(c->d, c->st);
    free(c);
}

static void broadcast(struct cli_dashboard *d, const char *text)
{
    /* A write may end a slow stream, whose close callback comes later: iterate a copy. */
    struct cmk_stream *copy[MAX_STREAMS];
    size_t n = d->nstreams;
    memcpy(copy, d->streams, n * sizeof(copy[0]));
    for (size_t i = 0; i < n; i++)
        cmk_stream_write(copy[i], text, strlen(text));
}

static void record(struct cli_dashboard *d, const char *kind, const char *subject, cmk_time_t t,
                   const json_t *data)
{
    char ts[40];
    cmk_time_format(t, ts, sizeof(ts));
    unsigned long id = ++d->next_id;
    json_t *j =
        json_pack("{s:I, s:s, s:s, s:s, s:O}", "id", (json_int_t)id, "time", ts, "kind", kind,
                  "subject", subject ? subject : "", "data", data ? (json_t *)data : json_null());
    char *payload = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (payload == NULL)
        return;
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_printf(&b, "id: %lu\ndata: %s\n\n", id, payload);
    free(payload);
    struct ring_entry *e = &d->ring[id % RING];
    free(e->text);
    e->id = id;
    e->text = cmk_buf_take(&b, NULL);
    broadcast(d, e->text);
}

static void on_event(void *data, const struct cmk_event *ev)
{
    record(data, ev->kind, ev->subject, ev->t, ev->data);
}

/* entry["a"]["b"] for "a.b" (borrowed), or NULL. */
static json_t *jpath(const json_t *j, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    char *dot = strchr(buf, '.');
    if (dot)
        *dot = '\0';
    json_t *v = json_object_get(j, buf);
    return dot ? json_object_get(v, dot + 1) : v;
}

static void on_activity(void *data, const json_t *entry)
{
    struct cli_dashboard *d = data;
    const char *status = json_string_value(jpath(entry, "status.value"));
    if (status == NULL || (strcmp(status, "Succeeded") && strcmp(status, "Failed") &&
                           strcmp(status, "Active") && strcmp(status, "Resolved")))
        return;
    json_t *small = json_pack(
        "{s:O?, s:O?, s:O?, s:O?, s:O?}", "operation", jpath(entry, "operationName.value"),
        "status", jpath(entry, "status.value"), "level", json_object_get(entry, "level"), "caller",
        json_object_get(entry, "caller"), "description", json_object_get(entry, "description"));
    const char *rid = json_string_value(json_object_get(entry, "resourceId"));
    record(d, "activity", rid ? rid : "", cmk_clock_now(&d->rt->clock), small);
    json_decref(small);
}

static void on_ping(struct cmk_timer *t)
{
    struct cli_dashboard *d = t->data;
    broadcast(d, ": ping\n\n");
    cmk_timer_start(t, cmk_clock_span(&d->rt->clock, PING_EVERY), 0);
}

static void on_stream_open(struct cmk_stream *st, void *data)
{
    struct close_ctx *c = data;
    struct cli_dashboard *d = c->d;
    unsigned long since = (unsigned long)(uintptr_t)c->st;
    c->st = st;
    if (d->nstreams >= MAX_STREAMS) {
        free(c);
        cmk_stream_end(st);
        return;
    }
    d->streams[d->nstreams++] = st;
    cmk_stream_on_close(st, on_stream_closed, c);
    const char hello[] = "retry: 2000\n\n";
    cmk_stream_write(st, hello, sizeof(hello) - 1);
    /* what the page missed (or the recent history, for a new page) */
    unsigned long first = d->next_id > RING ? d->next_id - RING + 1 : 1;
    if (since + 1 > first)
        first = since + 1;
    for (unsigned long id = first; id <= d->next_id; id++) {
        struct ring_entry *e = &d->ring[id % RING];
        if (e->id == id && e->text)
            cmk_stream_write(st, e->text, strlen(e->text));
    }
}

static void h_events(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cli_dashboard *d = data;
    struct cmk_principal who;
    if (cli_manage_admin(d->manage, req, res, 1, &who) != 0)
        return;
    const char *last = cmk_request_header(req, "last-event-id");
    if (last == NULL)
        last = cmk_request_query(req, "since");
    unsigned long since = last ? strtoul(last, NULL, 10) : 0;
    struct close_ctx *c = cmk_xcalloc(1, sizeof(*c));
    c->d = d;
    /* carries `since` to on_stream_open until the stream exists */
    c->st = (struct cmk_stream *)(uintptr_t)since;
    cmk_response_stream(res, 200, "text/event-stream", on_stream_open, c);
    /* The in-process door never opens a stream: nothing to free later there, so free now. */
    if (req->origin.kind != CMK_ORIGIN_NETWORK) {
        free(c);
        res->stream_open = NULL;
    }
}

static const struct cmk_route routes[] = {
    {"GET", "/", h_index},
    {"GET", "/_cmksim/dashboard", h_index},
    {"GET", "/_cmksim/dashboard/", h_index},
    {"GET", "/_cmksim/dashboard/{file}", h_asset},
    {"POST", "/_cmksim/dashboard/token", h_token},
    {"POST", "/_cmksim/dashboard/call", h_call},
    {"GET", "/_cmksim/events", h_events},
    {NULL, NULL, NULL},
};

int cli_dashboard_open(struct cli_dashboard **out, struct cmk_runtime *rt, struct cli_manage *m,
                       struct cmk_err *err)
{
    struct cli_dashboard *d = cmk_xcalloc(1, sizeof(*d));
    d->rt = rt;
    d->manage = m;
    if (cmk_events_subscribe(&rt->events, on_event, d) != 0) {
        free(d);
        return cmk_err_set(err, CMK_ELIMIT, 0, "TooManySubscribers",
                           "the event bus has no room for the dashboard");
    }
    d->subscribed = 1;
    if (rt->arm)
        cmk_arm_activity_listen(rt->arm, on_activity, d);
    cmk_router_add_table(&rt->router, CMK_HOST_MGMT, routes, d);
    cmk_timer_init(&rt->clock, &d->ping, on_ping, d);
    cmk_timer_set_elastic(&d->ping, 1);
    cmk_timer_start(&d->ping, cmk_clock_span(&rt->clock, PING_EVERY), 0);
    *out = d;
    return 0;
}

void cli_dashboard_stop(struct cli_dashboard *d)
{
    if (d == NULL)
        return;
    cmk_timer_stop(&d->ping);
    struct cmk_stream *copy[MAX_STREAMS];
    size_t n = d->nstreams;
    memcpy(copy, d->streams, n * sizeof(copy[0]));
    for (size_t i = 0; i < n; i++)
        cmk_stream_end(copy[i]);
}

void cli_dashboard_close(struct cli_dashboard *d)
{
    if (d == NULL)
        return;
    cmk_timer_stop(&d->ping);
    if (d->subscribed)
        cmk_events_unsubscribe(&d->rt->events, on_event, d);
    for (size_t i = 0; i < RING; i++)
        free(d->ring[i].text);
    free(d);
}
