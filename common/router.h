/* router.h: one request router, two doors.
 *
 * Every service registers its routes here, keyed by host kind (hosts.h) and a path pattern.
 * Requests arrive through two doors with the same struct: the HTTP server (http.c) builds a
 * cmk_request from the socket, and in-process callers (the scenario runner, the data plane
 * asking a vault to unwrap, the key monitor) build one with cmk_request_init. Both go through
 * cmk_router_dispatch, so both get the same authentication, firewall, tenant, throttling and
 * audit treatment, which the services apply in their handlers from req->origin and headers.
 *
 * Patterns: "/keys/{name}/{version}/wrapkey". Literal segments match case-insensitively (ARM
 * paths are case-insensitive); "{x}" captures one segment, which may be empty (Key Vault's
 * "/keys/name//wrapkey" means the latest version); a final "{x*}" captures the rest. When
 * several routes match, the one with the most literal segments wins; the path matching with
 * no route for the method gives 405. Unknown host or path: 404 in the service's envelope.
 *
 * Handlers are synchronous: they fill the response before returning. Long work (ARM
 * long-running operations, purges) is scheduled on the clock and reported through routes. The
 * one exception is a deferred response (cmk_request_defer, below): a handler may hand a pure
 * computation (an RSA private-key operation) to a worker thread when the request came through
 * the socket door in real or scaled mode; everywhere else the same call runs it inline.
 *
 * Ownership: a cmk_request owns every string it points to; cmk_request_close frees them. A
 * response owns its headers and body. json_t values passed to cmk_response_json are stolen.
 */
#ifndef CMK_ROUTER_H
#define CMK_ROUTER_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "hosts.h"

#define CMK_ROUTE_MAX_PARAMS 12

enum cmk_origin_kind {
    CMK_ORIGIN_NETWORK,         /* a socket; addr is the peer's IP */
    CMK_ORIGIN_TRUSTED_SERVICE, /* an Azure service the firewall's AzureServices bypass admits */
    CMK_ORIGIN_INPROC,          /* an in-process caller acting as a client at addr */
};

struct cmk_origin {
    enum cmk_origin_kind kind;
    char addr[64];    /* client IP ("127.0.0.1"), also for in-process callers */
    char service[64]; /* TRUSTED_SERVICE: "Microsoft.DBforPostgreSQL"; INPROC: caller name */
};

struct cmk_header {
    char *name; /* lowercased on requests */
    char *value;
};

struct cmk_request {
    char method[16];
    char *target; /* raw request-target as received */
    char *path;   /* percent-decoded path, no query */
    char *host;   /* lowercased, no port */
    enum cmk_host_kind host_kind;
    char host_label[64];        /* vault/HSM/server name for wildcard hosts */
    struct cmk_header *headers; /* names lowercased */
    size_t nheaders;
    struct cmk_header *query; /* decoded; names kept as sent */
    size_t nquery;
    struct cmk_buf body;
    json_t *json; /* parsed on demand by cmk_request_json */
    struct cmk_origin origin;
    const char *param_names[CMK_ROUTE_MAX_PARAMS];
    char *param_values[CMK_ROUTE_MAX_PARAMS];
    size_t nparams;
    const char *route; /* the pattern matched, for logs and audit */
    void *auth;        /* set by the service's authentication step; owned by it */
    void (*auth_free)(void *auth);
    /* Set by the socket door when this request may be answered later (cmk_request_defer);
     * NULL for the in-process door, in virtual mode, and once the request is deferred. */
    struct cmk_deferral *deferral;
};

struct cmk_stream;
/* A streaming response's start (cmk_response_stream): called once its head is on the way. */
typedef void (*cmk_stream_fn)(struct cmk_stream *st, void *data);

struct cmk_response {
    int status;
    struct cmk_header *headers;
    size_t nheaders;
    struct cmk_buf body;
    cmk_stream_fn stream_open; /* set by cmk_response_stream; NULL for an ordinary response */
    void *stream_data;
};

typedef void (*cmk_handler_fn)(struct cmk_request *req, struct cmk_response *res, void *data);

/* One row of a service's route table (cmk_router_add_table). */
struct cmk_route {
    const char *method; /* "GET"; "*" for any */
    const char *pattern;
    cmk_handler_fn fn;
};

struct cmk_route_entry;
struct cmk_router {
    struct cmk_route_entry *routes;
    size_t n, cap;
    /* Answers unmatched paths of a host kind (the service's own 404/405 envelope); NULL gives
     * the generic one. Set with cmk_router_set_fallback. */
    cmk_handler_fn fallback[CMK_HOST__COUNT];
    void *fallback_data[CMK_HOST__COUNT];
    const struct cmk_hosts *hosts;
};

void cmk_router_init(struct cmk_router *r, const struct cmk_hosts *hosts);
void cmk_router_close(struct cmk_router *r);
/* Register one route. The pattern string must outlive the router (use literals). */
void cmk_router_add(struct cmk_router *r, enum cmk_host_kind host, const char *method,
                    const char *pattern, cmk_handler_fn fn, void *data);
/* Register a table of routes ending with {NULL}. */
void cmk_router_add_table(struct cmk_router *r, enum cmk_host_kind host,
                          const struct cmk_route *table, void *data);
/* Handler for requests of a host kind that match no route (res->status is preset to 404 or
 * 405 so the handler can tell which). */
void cmk_router_set_fallback(struct cmk_router *r, enum cmk_host_kind host, cmk_handler_fn fn,
                             void *data);
/* The one entry for both doors. Classifies req->host if host_kind is unknown, matches,
 * runs the handler. res must be cmk_response_init'ed. */
void cmk_router_dispatch(struct cmk_router *r, struct cmk_request *req, struct cmk_response *res);

/* In-process door. url is absolute: "https://myvault.vault.azure.net/keys/k?api-version=7.5". */
int cmk_request_init(struct cmk_request *req, const char *method, const char *url,
                     const struct cmk_origin *origin);
/* Socket door: fills target/path/query from a raw request-target (http.c uses it). */
int cmk_request_set_target(struct cmk_request *req, const char *target, size_t len);
void cmk_request_close(struct cmk_request *req);
void cmk_request_add_header(struct cmk_request *req, const char *name, const char *value);
void cmk_request_set_body(struct cmk_request *req, const void *body, size_t len);
/* Serialise j (not stolen) as the body, with content-type application/json. */
void cmk_request_set_json(struct cmk_request *req, const json_t *j);

const char *cmk_request_header(const struct cmk_request *req, const char *name);
const char *cmk_request_query(const struct cmk_request *req, const char *name); /* case-insens. */
const char *cmk_request_param(const struct cmk_request *req, const char *name);
/* Parses the body once. Malformed or empty JSON: NULL and err set (400 BadParameter-style
 * code given by the caller's service through code). */
json_t *cmk_request_json(struct cmk_request *req, struct cmk_err *err);

void cmk_response_init(struct cmk_response *res);
void cmk_response_close(struct cmk_response *res);
void cmk_response_header(struct cmk_response *res, const char *name, const char *value);
const char *cmk_response_get_header(const struct cmk_response *res, const char *name);
/* Steals body (may be NULL for an empty body). */
void cmk_response_json(struct cmk_response *res, int status, json_t *body);
void cmk_response_text(struct cmk_response *res, int status, const char *content_type,
                       const char *text);
/* The service error envelope {"error":{"code","message","innererror":{"code"}}}: the one place
 * where it is written. Status from err->status (500 if unset). */
void cmk_response_error(struct cmk_response *res, const struct cmk_err *err);
/* Parse the response body as JSON (for in-process callers); NULL if not JSON. New reference. */
json_t *cmk_response_json_body(const struct cmk_response *res);

/* Streaming responses (server-sent events). The handler answers at once with
 * cmk_response_stream; the socket door then sends the status and headers with no Content-Length
 * (and "Connection: close": the body ends when the stream does), stops reading requests on that
 * connection, and calls open(st, data). From then on whoever holds st pushes bytes with
 * cmk_stream_write whenever it likes (an event bus subscriber, a timer) until it calls
 * cmk_stream_end or the peer goes away; either way the close callback runs once, after which st
 * is gone. The in-process door never calls open (there is no socket): its caller sees the
 * status and headers only. A stream connection has no idle timeout. Implemented in http.c. */
void cmk_response_stream(struct cmk_response *res, int status, const char *content_type,
                         cmk_stream_fn open, void *data);
/* Queue bytes on the stream. 0, or CMK_EIO when the connection is closing or the peer reads too
 * slowly (more than 1 MiB waiting: the stream is ended). */
int cmk_stream_write(struct cmk_stream *st, const void *p, size_t n);
/* fn(data) runs once when the stream's connection closes (not during this call). */
void cmk_stream_on_close(struct cmk_stream *st, void (*fn)(void *data), void *data);
/* Finish: what was written is sent, then the connection closes (the close callback follows). */
void cmk_stream_end(struct cmk_stream *st);
/* The peer's address of the stream's connection ("127.0.0.1"). */
const char *cmk_stream_peer(const struct cmk_stream *st);

/* Deferred responses. A handler whose remaining work is a pure computation (no loop state: an
 * up-ref'd EVP_PKEY and copies of its inputs) calls
 *
 *     cmk_request_defer(req, res, work, done, arg);
 *
 * as its last act, after authentication, authorisation, lookups and validation. When the
 * request came through the socket door of a server whose clock is real or scaled
 * (req->deferral set), work(arg) runs on libuv's thread pool and the handler returns at once
 * without touching req, res or arg again; later done(req, res, arg, rc) runs on the loop thread
 * with the same req and res (same addresses, still valid), fills res like any handler and frees
 * arg; then the socket door writes the response. The connection parses nothing more meanwhile,
 * so pipelined responses keep their order. Everywhere else (the in-process door, virtual mode,
 * no thread pool) work(arg) and done(..., 0) run inline, in that order, before
 * cmk_request_defer returns: the same code gives the same bytes as a synchronous handler.
 *
 * done always runs exactly once. rc is 0 when work ran, CMK_EUNAVAIL when it was cancelled
 * before it started (the connection closed, or the server is stopping): done then answers an
 * error without the result. If the connection has gone by then, the door discards the response
 * and frees req and res after done returns. work must not touch anything but arg; done must not
 * defer again (it would run inline). A deferred response cannot be a stream. */
typedef void (*cmk_work_fn)(void *arg);
typedef void (*cmk_done_fn)(struct cmk_request *req, struct cmk_response *res, void *arg, int rc);
/* The socket door's hook (http_session.c). start: 0 when work was queued, else an error (the
 * request is then answered inline). */
struct cmk_deferral {
    int (*start)(struct cmk_deferral *d, cmk_work_fn work, cmk_done_fn done, void *arg);
};
/* Returns 1 if work went to a worker (done follows later), 0 if both ran inline. */
int cmk_request_defer(struct cmk_request *req, struct cmk_response *res, cmk_work_fn work,
                      cmk_done_fn done, void *arg);

/* Percent-decoding; returns new length or -1 on a bad escape or an encoded NUL ("%00").
 * Works in place. */
long cmk_url_decode(char *s, size_t len, int plus_is_space);

#endif
