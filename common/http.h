/* http.h: the socket door of the router: an HTTP/1.1 server on libuv + llhttp + OpenSSL.
 *
 * TLS (with SNI) or plaintext; keep-alive; pipelined requests answered in order; chunked
 * request bodies; limits (header block > 16 KiB: 431, body > max_body: 413, malformed: 400);
 * idle and slow-client timeouts on the clock; graceful shutdown (stop accepting, finish the
 * requests in flight, close). Every parsed request becomes a struct cmk_request with
 * origin = the peer's address and goes through cmk_router_dispatch. Unless the clock is
 * virtual, a handler may defer its response (router.h, cmk_request_defer): its work runs on
 * libuv's thread pool and the connection answers it, in order, when the work is done.
 *
 * Also the CONNECT proxy (DESIGN.md: Unmodified applications): a listener that accepts
 * "CONNECT host:port", and only for hosts the router serves (hosts.h) or its own addresses,
 * splices the client's bytes to this process's own TLS listener. Anything else: 403 with
 * the reason. It never opens a connection anywhere but to cmksim's own listeners.
 */
#ifndef CMK_HTTP_H
#define CMK_HTTP_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <uv.h>

#include "clock.h"
#include "router.h"

struct cmk_http_config {
    const char *addr;          /* "127.0.0.1" */
    int port;                  /* 0: any free port */
    SSL_CTX *tls;              /* NULL: plaintext */
    size_t max_header;         /* default 16 KiB */
    size_t max_body;           /* default 1 MiB */
    cmk_time_t idle_timeout;   /* keep-alive idle, default 120 s */
    cmk_time_t header_timeout; /* whole request head must arrive within, default 30 s */
};

struct cmk_http_server;

int cmk_http_start(struct cmk_http_server **out, uv_loop_t *loop, struct cmk_clock *clock,
                   struct cmk_router *router, const struct cmk_http_config *cfg,
                   struct cmk_err *err) __attribute__((warn_unused_result));
int cmk_http_port(const struct cmk_http_server *s);
/* Stop accepting; close idle connections; finish requests in flight (deferred work that has
 * not started is cancelled: the handler answers its cancellation error; running work is waited
 * for); then free the server and call done (may be NULL). */
void cmk_http_stop(struct cmk_http_server *s, void (*done)(void *arg), void *arg);

struct cmk_proxy_config {
    const char *addr;
    int port;
    const struct cmk_hosts *hosts;
    const char *tls_addr; /* where cmksim's TLS listener is */
    int tls_port;
    int pg_port; /* cmksim's PostgreSQL listener (CONNECT to *.postgres hosts:5432), 0 if none */
};
struct cmk_proxy;
int cmk_proxy_start(struct cmk_proxy **out, uv_loop_t *loop, struct cmk_clock *clock,
                    const struct cmk_proxy_config *cfg, struct cmk_err *err)
    __attribute__((warn_unused_result));
int cmk_proxy_port(const struct cmk_proxy *p);
void cmk_proxy_stop(struct cmk_proxy *p, void (*done)(void *arg), void *arg);

#endif
