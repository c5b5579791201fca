/* http.c: the socket half of the HTTP server (see http.h): libuv listener and connections,
 * TLS through OpenSSL memory BIOs, timeouts on the cmksim clock, graceful stop. The protocol
 * itself (parsing, limits, dispatch, serialising) is http_session.c.
 *
 * Per connection: bytes read go through SSL_read into the session; everything the session
 * answers during one read is encrypted with one SSL_write and sent with one uv_try_write
 * (falling back to one uv_write when the socket is full; at most one write in flight, the
 * next batch collects behind it). When more than HIGH_WATER bytes wait, reading pauses, so
 * a client that pipelines without reading cannot make us buffer without bound.
 *
 * Timeouts use one cmk_timer per connection with a lazily moved deadline: activity only
 * updates c->deadline; the timer fires at the old due time and re-arms if the deadline moved.
 * The request head (and the TLS handshake) must arrive within header_timeout of its first
 * byte; an idle keep-alive connection closes after idle_timeout.
 *
 * Closing: after the last response, TLS close_notify, then shutdown(SHUT_WR), then input is
 * read and dropped until the peer closes or LINGER passes (so a 413 is not lost to a reset).
 *
 * Timeouts are wall-time lengths: the connection timer is elastic (clock.h), so --speed
 * stretches them on the clock and `cmksim clock advance` moves them along instead of firing them.
 * A streaming response (router.h, server-sent events) takes the connection over after its
 * head: no idle timeout, bytes pushed by cmk_stream_write, its owner told when it closes.
 *
 * Deferred responses (router.h, cmk_request_defer): unless the clock is virtual, each session
 * may hand a handler's work to libuv's thread pool. While it is out (session state WAIT) the
 * connection keeps reading (so a peer that goes away is noticed) but the session holds the
 * input unparsed; past HIGH_WATER held bytes reading pauses. Timeouts do not cut a pending
 * response short, a FIN from the peer waits for it, and a graceful stop cancels the work that
 * has not started (its answer is the handler's error for cancelled work) and waits for the
 * rest. When the response is ready the session calls on_ready, which writes it out. A
 * connection that closes first (reset, write error) frees its session, which detaches the
 * pending request: its completion frees it without writing.
 */
#include "http.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_session.h"
#include "log.h"

#define READ_BUF    (64 * 1024)
#define HIGH_WATER  (1024 * 1024)
#define LINGER      (5 * CMK_SECOND)
#define STREAM_IDLE (365 * CMK_DAY) /* a stream waits for events as long as it likes */

/* A streaming response (router.h): the connection's own after its head was written. */
struct cmk_stream {
    struct conn *conn; /* NULL once the connection has closed */
    void (*on_close)(void *data);
    void *close_data;
    char peer[64];
};

struct conn {
    uv_tcp_t tcp; /* first: the handle's address is the connection's */
    struct cmk_http_server *srv;
    struct conn *prev, *next;
    struct cmk_http_session *sess;
    SSL *ssl;
    BIO *rbio, *wbio;
    struct cmk_timer timer;
    struct cmk_stream *stream; /* a streaming response owns the connection; else NULL */
    cmk_time_t deadline;
    cmk_time_t head_since;   /* first byte of the current head (or of the handshake) */
    struct cmk_buf plain;    /* answers not yet encrypted (TLS only) */
    struct cmk_buf wire;     /* bytes to send, not yet handed to libuv */
    struct cmk_buf inflight; /* bytes of the uv_write in flight */
    uv_write_t wreq;
    uv_shutdown_t sreq;
    unsigned writing : 1;     /* a uv_write is in flight */
    unsigned paused : 1;      /* reading stopped for back-pressure */
    unsigned closing : 1;     /* close once everything is written */
    unsigned notify_sent : 1; /* TLS close_notify queued */
    unsigned shut : 1;        /* shutdown(SHUT_WR) requested */
    unsigned peer_eof : 1;    /* the client sent FIN */
    unsigned closed : 1;      /* uv_close called */
    unsigned held_paused : 1; /* reading stopped: too much input held behind a deferred answer */
};

struct cmk_http_server {
    uv_tcp_t listener;
    uv_loop_t *loop;
    struct cmk_clock *clock;
    struct cmk_router *router;
    struct cmk_http_config cfg;
    char addr[64];
    int port;
    struct conn *conns;
    size_t nconns;
    int stopping, listener_closed;
    void (*done)(void *arg);
    void *done_arg;
    char rbuf[READ_BUF]; /* every read lands here and is consumed before the next one */
    char pbuf[READ_BUF]; /* decrypted bytes */
};

static void flush(struct conn *c);
static void resume_reading(struct conn *c);
static void drain_check(struct conn *c);

/* ---- closing ---- */

static void maybe_finish(struct cmk_http_server *s)
{
    if (!s->stopping || !s->listener_closed || s->nconns != 0)
        return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    free(s);
    if (done)
        done(arg);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;
    struct cmk_http_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    if (c->stream) {
        struct cmk_stream *st = c->stream;
        st->conn = NULL;
        if (st->on_close)
            st->on_close(st->close_data);
        free(st);
    }
    SSL_free(c->ssl); /* frees both BIOs */
    cmk_http_session_free(c->sess);
    cmk_buf_close(&c->plain);
    cmk_buf_close(&c->wire);
    cmk_buf_close(&c->inflight);
    free(c);
    maybe_finish(s);
}

static void close_now(struct conn *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    cmk_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0 || c->peer_eof)
        close_now(c);
    /* else linger: reads are dropped until EOF or the deadline */
}

/* Close once everything is written; a final deadline bounds the wait. */
static void close_after_flush(struct conn *c)
{
    if (!c->closing) {
        c->closing = 1;
        c->deadline = cmk_clock_now(c->srv->clock) + cmk_clock_span(c->srv->clock, LINGER);
    }
}

/* ---- timers ---- */

static void arm_timer(struct conn *c)
{
    if (c->closed)
        return;
    if (!cmk_timer_active(&c->timer) || c->timer.due > c->deadline)
        cmk_timer_start_at(&c->timer, c->deadline, 0);
}

/* Recompute the deadline after activity (not while closing: that one is fixed). */
static void update_deadline(struct conn *c)
{
    if (c->closing)
        return;
    const struct cmk_http_config *cfg = &c->srv->cfg;
    cmk_time_t now = cmk_clock_now(c->srv->clock);
    enum cmk_http_state st = cmk_http_session_state(c->sess);
    int handshaking = c->ssl && !SSL_is_init_finished(c->ssl);
    /* Network timeouts are wall-time lengths: at --speed 60 they are 60x longer on the clock. */
    struct cmk_clock *clock = c->srv->clock;
    if (c->writing)
        c->deadline = now + cmk_clock_span(clock, cfg->idle_timeout); /* the client must read */
    else if (c->stream)
        c->deadline = now + STREAM_IDLE;
    else if (handshaking || st == CMK_HTTP_HEAD)
        c->deadline = c->head_since + cmk_clock_span(clock, cfg->header_timeout);
    else
        c->deadline = now + cmk_clock_span(clock, cfg->idle_timeout);
}

static void on_timer(struct cmk_timer *t)
{
    struct conn *c = t->data;
    cmk_time_t now = cmk_clock_now(c->srv->clock);
    if (now < c->deadline) {
        cmk_timer_start_at(t, c->deadline, 0);
        return;
    }
    if (c->closing || c->writing) {
        close_now(c);
        return;
    }
    if (cmk_http_session_state(c->sess) == CMK_HTTP_WAIT) {
        /* a deferred response is being computed: the client is waiting for us, not idle */
        c->deadline = now + cmk_clock_span(c->srv->clock, c->srv->cfg.idle_timeout);
        cmk_timer_start_at(t, c->deadline, 0);
        return;
    }
    /* Slow or idle client: a request under way gets 408, then the connection closes. */
    cmk_http_session_timeout(c->sess, c->ssl ? &c->plain : &c->wire);
    close_after_flush(c);
    flush(c);
    arm_timer(c);
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->writing = 0;
    cmk_buf_reset(&c->inflight);
    if (c->closed)
        return;
    if (status < 0) {
        close_now(c);
        return;
    }
    flush(c);
    drain_check(c);
    if (!c->closed && c->paused && !c->writing && !c->closing) {
        c->paused = 0;
        update_deadline(c);
        arm_timer(c);
        if (!c->held_paused)
            resume_reading(c);
    }
}

/* Encrypt what the session produced, then send it: uv_try_write first, one uv_write for the
 * rest. When closing and everything is out: close_notify, shutdown, linger. */
static void flush(struct conn *c)
{
    if (c->closed)
        return;
    if (c->ssl) {
        if (c->plain.len) {
            /* OpenSSL reports the thread's whole error queue through SSL_get_error: a handler's
             * failed crypto operation (a forged token's signature, a bad ciphertext) must not
             * read as this connection's failure. */
            ERR_clear_error();
            if (SSL_write(c->ssl, c->plain.data, (int)c->plain.len) <= 0) {
                ERR_clear_error();
                close_now(c);
                return;
            }
            cmk_buf_reset(&c->plain);
        }
        if (c->closing && !c->notify_sent && !c->writing && SSL_is_init_finished(c->ssl)) {
            c->notify_sent = 1;
            SSL_shutdown(c->ssl);
            ERR_clear_error();
        }
        size_t pend = BIO_ctrl_pending(c->wbio);
        if (pend) {
            cmk_buf_reserve(&c->wire, pend);
            int n = BIO_read(c->wbio, c->wire.data + c->wire.len, (int)pend);
            if (n > 0)
                c->wire.len += (size_t)n;
        }
    }
    if (!c->writing && c->wire.len) {
        uv_buf_t b = uv_buf_init(c->wire.data, (unsigned)c->wire.len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n == UV_EAGAIN || n == UV_ENOSYS)
            n = 0;
        if (n < 0) {
            close_now(c);
            return;
        }
        if ((size_t)n == c->wire.len) {
            cmk_buf_reset(&c->wire);
        } else {
            struct cmk_buf t = c->inflight; /* empty: swap, so no copy and no allocation */
            c->inflight = c->wire;
            c->wire = t;
            cmk_buf_reset(&c->wire);
            b = uv_buf_init(c->inflight.data + n, (unsigned)(c->inflight.len - (size_t)n));
            c->wreq.data = c;
            int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
            if (rc < 0) {
                close_now(c);
                return;
            }
            c->writing = 1;
        }
    }
    if (c->writing && !c->paused && c->inflight.len + c->wire.len > HIGH_WATER) {
        c->paused = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    if (c->closing && !c->writing && c->wire.len == 0 &&
        (!c->ssl || c->notify_sent || !SSL_is_init_finished(c->ssl))) {
        if (c->peer_eof) {
            close_now(c);
        } else if (!c->shut) {
            c->shut = 1;
            c->sreq.data = c;
            if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
                close_now(c);
        }
    }
}

/* ---- reading ---- */

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = (struct conn *)h;
    buf->base = c->srv->rbuf;
    buf->len = sizeof(c->srv->rbuf);
}

static void peer_name(uv_tcp_t *tcp, char *out, size_t n);

/* The session answered with a streaming response: the connection becomes the stream's. */
static void start_stream(struct conn *c)
{
    cmk_stream_fn open;
    void *data;
    cmk_http_session_stream(c->sess, &open, &data);
    struct cmk_stream *st = cmk_xcalloc(1, sizeof(*st));
    st->conn = c;
    peer_name(&c->tcp, st->peer, sizeof(st->peer));
    c->stream = st;
    if (open)
        open(st, data);
    else
        close_after_flush(c);
}

static void feed(struct conn *c, const char *data, size_t len)
{
    struct cmk_buf *out = c->ssl ? &c->plain : &c->wire;
    enum cmk_http_state before = cmk_http_session_state(c->sess);
    size_t out_before = out->len;
    enum cmk_http_state st = cmk_http_session_feed(c->sess, data, len, out);
    if (st == CMK_HTTP_STREAM && c->stream == NULL)
        start_stream(c);
    else if (st == CMK_HTTP_CLOSED)
        close_after_flush(c);
    else if (st == CMK_HTTP_HEAD && (before != CMK_HTTP_HEAD || out->len != out_before))
        c->head_since = cmk_clock_now(c->srv->clock); /* a new request head began */
    else if (st == CMK_HTTP_WAIT && !c->held_paused &&
             cmk_http_session_held(c->sess) > HIGH_WATER) {
        c->held_paused = 1; /* on_ready resumes */
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
}

static void on_peer_eof(struct conn *c)
{
    c->peer_eof = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (cmk_http_session_eof(c->sess, c->ssl ? &c->plain : &c->wire) == CMK_HTTP_WAIT)
        return; /* the deferred response is still sent (on_ready), then the connection closes */
    close_after_flush(c);
}

/* The session finished a deferred response (and what was held behind it): write it out. */
static void on_ready(void *arg)
{
    struct conn *c = arg;
    if (c->closed)
        return; /* on_conn_closed frees the buffers */
    struct cmk_buf *out = c->ssl ? &c->plain : &c->wire;
    if (c->closing) {
        cmk_buf_reset(out); /* the connection failed meanwhile (TLS error): nobody reads this */
        return;
    }
    enum cmk_http_state st = cmk_http_session_state(c->sess);
    if (st == CMK_HTTP_STREAM && c->stream == NULL)
        start_stream(c);
    else if (st == CMK_HTTP_CLOSED)
        close_after_flush(c);
    else if (st == CMK_HTTP_HEAD)
        c->head_since = cmk_clock_now(c->srv->clock);
    flush(c);
    if (c->closed)
        return;
    if (c->held_paused && st != CMK_HTTP_WAIT) {
        c->held_paused = 0;
        if (!c->paused && !c->closing && !c->peer_eof)
            resume_reading(c);
    }
    drain_check(c);
    update_deadline(c);
    arm_timer(c);
}

/* Decrypt everything the read brought; the handshake happens inside SSL_read. */
static void tls_pump(struct conn *c)
{
    struct cmk_http_server *s = c->srv;
    while (!c->closing) {
        ERR_clear_error(); /* feed() ran handlers: their crypto errors are not this read's */
        int n = SSL_read(c->ssl, s->pbuf, (int)sizeof(s->pbuf));
        if (n > 0) {
            feed(c, s->pbuf, (size_t)n);
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            on_peer_eof(c);
            break;
        }
        /* handshake failure or a broken record: send whatever alert OpenSSL queued, close */
        cmk_debug("http", "msg=\"TLS error\" error=\"%s\"",
                  ERR_reason_error_string(ERR_peek_error()));
        ERR_clear_error();
        c->notify_sent = 1;
        close_after_flush(c);
        break;
    }
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = (struct conn *)stream;
    if (nread == 0 || c->closed)
        return;
    if (nread < 0) {
        if (nread == UV_EOF && !c->shut) {
            on_peer_eof(c);
            flush(c);
            arm_timer(c);
        } else {
            close_now(c);
        }
        return;
    }
    if (c->shut || c->closing)
        return; /* lingering: drop input */
    if (c->ssl) {
        BIO_write(c->rbio, buf->base, (int)nread);
        tls_pump(c);
    } else {
        feed(c, buf->base, (size_t)nread);
    }
    flush(c);
    update_deadline(c);
    arm_timer(c);
}

static void resume_reading(struct conn *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0)
        close_now(c);
}

/* ---- accepting ---- */

static void peer_name(uv_tcp_t *tcp, char *out, size_t n)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    out[0] = '\0';
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&ss, out, n);
    } else if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, out, n);
        if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.'))
            memmove(out, out + 7, strlen(out + 7) + 1);
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct cmk_http_server *s = listener->data;
    if (status < 0 || s->stopping) {
        cmk_warn("http", "msg=\"accept failed\" error=\"%s\"", uv_strerror(status));
        return;
    }
    struct conn *c = cmk_xcalloc(1, sizeof(*c));
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    cmk_timer_init(s->clock, &c->timer, on_timer, c);
    cmk_timer_set_elastic(&c->timer, 1);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        close_now(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    char peer[64];
    peer_name(&c->tcp, peer, sizeof(peer));
    c->sess = cmk_http_session_new(s->router, s->clock, &s->cfg, peer);
    if (s->cfg.tls) {
        c->ssl = SSL_new(s->cfg.tls);
        c->rbio = BIO_new(BIO_s_mem());
        c->wbio = BIO_new(BIO_s_mem());
        if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
            BIO_free(c->rbio);
            BIO_free(c->wbio);
            c->rbio = c->wbio = NULL;
            close_now(c);
            return;
        }
        BIO_set_mem_eof_return(c->rbio, -1); /* empty means "wait", not EOF */
        SSL_set_bio(c->ssl, c->rbio, c->wbio);
        SSL_set_accept_state(c->ssl);
    }
    /* Deferred responses use the thread pool, which virtual mode never does (DESIGN.md). */
    if (s->clock->mode != CMK_CLOCK_VIRTUAL)
        cmk_http_session_defer_on(c->sess, s->loop, c->ssl ? &c->plain : &c->wire, on_ready, c);
    c->head_since = cmk_clock_now(s->clock);
    c->deadline = c->head_since +
                  cmk_clock_span(s->clock, c->ssl ? s->cfg.header_timeout : s->cfg.idle_timeout);
    arm_timer(c);
    resume_reading(c);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct cmk_http_server *s = h->data;
    s->listener_closed = 1;
    maybe_finish(s);
}

static void free_on_close(uv_handle_t *h)
{
    free(h->data);
}

int cmk_http_start(struct cmk_http_server **out, uv_loop_t *loop, struct cmk_clock *clock,
                   struct cmk_router *router, const struct cmk_http_config *cfg,
                   struct cmk_err *err)
{
    *out = NULL;
    /* A peer that goes away mid-write must give EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    struct cmk_http_server *s = cmk_xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->clock = clock;
    s->router = router;
    s->cfg = *cfg;
    snprintf(s->addr, sizeof(s->addr), "%s", cfg->addr ? cfg->addr : "127.0.0.1");
    s->cfg.addr = s->addr;
    if (!s->cfg.max_header)
        s->cfg.max_header = 16 * 1024;
    if (!s->cfg.max_body)
        s->cfg.max_body = 1024 * 1024;
    if (s->cfg.idle_timeout <= 0)
        s->cfg.idle_timeout = 120 * CMK_SECOND;
    if (s->cfg.header_timeout <= 0)
        s->cfg.header_timeout = 30 * CMK_SECOND;

    struct sockaddr_storage ss;
    if (uv_ip4_addr(s->addr, cfg->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(s->addr, cfg->port, (struct sockaddr_in6 *)&ss) != 0) {
        free(s);
        return cmk_err_set(err, CMK_EINVAL, 0, "BadAddress", "'%s' is not an IP address",
                           cfg->addr);
    }
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    int rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (rc != 0) {
        uv_close((uv_handle_t *)&s->listener, free_on_close);
        return cmk_err_set(err, CMK_EIO, 0, "ListenFailed", "cannot listen on %s:%d: %s", s->addr,
                           cfg->port, uv_strerror(rc));
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    *out = s;
    return 0;
}

int cmk_http_port(const struct cmk_http_server *s)
{
    return s->port;
}

/* While stopping: a request being received keeps its connection until it is answered (with
 * "Connection: close"), and so does a response being written or computed (deferred); idle
 * connections and half-sent heads close now. */
static void drain_check(struct conn *c)
{
    enum cmk_http_state st = c->closed ? CMK_HTTP_CLOSED : cmk_http_session_state(c->sess);
    if (c->closed || c->closing || !c->srv->stopping || c->writing || st == CMK_HTTP_BODY ||
        st == CMK_HTTP_WAIT)
        return;
    close_after_flush(c);
    flush(c);
    arm_timer(c);
}

void cmk_http_stop(struct cmk_http_server *s, void (*done)(void *arg), void *arg)
{
    if (s == NULL || s->stopping)
        return;
    s->stopping = 1;
    s->done = done;
    s->done_arg = arg;
    for (struct conn *c = s->conns; c; c = c->next) {
        if (c->closed)
            continue;
        cmk_http_session_drain(c->sess);
        /* deferred work not started yet is dropped (answered as cancelled); running work is
         * waited for */
        cmk_http_session_cancel(c->sess);
        drain_check(c);
    }
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

/* ---- streaming responses (router.h) ---- */

void cmk_response_stream(struct cmk_response *res, int status, const char *content_type,
                         cmk_stream_fn open, void *data)
{
    res->status = status;
    cmk_response_header(res, "content-type", content_type);
    cmk_response_header(res, "cache-control", "no-store");
    cmk_buf_reset(&res->body);
    res->stream_open = open;
    res->stream_data = data;
}

int cmk_stream_write(struct cmk_stream *st, const void *p, size_t n)
{
    struct conn *c = st ? st->conn : NULL;
    if (c == NULL || c->closing || c->closed)
        return CMK_EIO;
    struct cmk_buf *out = c->ssl ? &c->plain : &c->wire;
    if (out->len + c->wire.len + c->inflight.len + n > HIGH_WATER) {
        cmk_debug("http", "msg=\"stream reader too slow, ending it\" peer=%s", st->peer);
        cmk_stream_end(st);
        return CMK_EIO;
    }
    cmk_buf_append(out, p, n);
    flush(c);
    if (!c->closed) {
        update_deadline(c);
        arm_timer(c);
    }
    return 0;
}

void cmk_stream_on_close(struct cmk_stream *st, void (*fn)(void *data), void *data)
{
    st->on_close = fn;
    st->close_data = data;
}

void cmk_stream_end(struct cmk_stream *st)
{
    struct conn *c = st ? st->conn : NULL;
    if (c == NULL || c->closed)
        return;
    close_after_flush(c);
    flush(c);
    arm_timer(c);
}

const char *cmk_stream_peer(const struct cmk_stream *st)
{
    return st->peer;
}
