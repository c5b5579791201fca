/* pgwire_tcp.c: the endpoint's listeners and its TCP + TLS transport on libuv.
 *
 * Each accepted socket becomes a connection (pgwire_conn.c). Plaintext bytes go straight to
 * it; after SSLRequest ('S') the bytes go through an SSL object on memory BIOs made from the
 * runtime's SSL_CTX (which picks the certificate by SNI), so TLS needs no socket of its own:
 * what the peer sends is written into the read BIO, the handshake and SSL_read run on it, and
 * what SSL writes is taken from the write BIO and queued with uv_write. The SNI name is read
 * after the handshake and routes connections on the shared port. A connection whose peer
 * reads slowly (BACKLOG_BYTES queued) stops producing rows until its queue drains.
 */
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "pgwire_ep.h"

#define BACKLOG_BYTES (1024 * 1024)
#define READ_CHUNK    (64 * 1024)

struct tcp_conn {
    uv_tcp_t tcp;
    struct dp_pgwire *ep;
    struct dp_pgconn *c;
    SSL *ssl;
    BIO *rbio, *wbio;
    int tls_on, handshake_done;
    size_t inflight;
    int closing;
    char readbuf[READ_CHUNK];
};

struct wreq {
    uv_write_t req;
    uv_buf_t buf;
    struct tcp_conn *tc;
};

static void tcp_closed(uv_handle_t *h)
{
    struct tcp_conn *tc = h->data;
    struct dp_pgwire *ep = tc->ep;
    pg_ep_unlink_conn(ep, tc->c);
    pg_conn_free(tc->c);
    SSL_free(tc->ssl);
    free(tc);
    ep->refs--;
    pg_ep_maybe_free(ep);
}

/* closing: 0 open, 1 closing once the queued writes are out, 2 handle closed. */
static void tcp_shutdown(struct tcp_conn *tc)
{
    if (tc->closing == 2)
        return;
    tc->closing = 2;
    uv_read_stop((uv_stream_t *)&tc->tcp);
    uv_close((uv_handle_t *)&tc->tcp, tcp_closed);
}

static void write_done(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct tcp_conn *tc = w->tc;
    tc->inflight -= w->buf.len;
    free(w->buf.base);
    free(w);
    if (status < 0) {
        tcp_shutdown(tc);
        return;
    }
    if (tc->closing == 1 && tc->inflight == 0)
        tcp_shutdown(tc);
    else if (!tc->closing && tc->inflight < BACKLOG_BYTES / 2)
        pg_conn_run(tc->c);
}

static void tcp_write(struct tcp_conn *tc, char *data, size_t n)
{
    if (tc->closing == 2) {
        free(data);
        return;
    }
    struct wreq *w = cmk_xmalloc(sizeof(*w));
    w->buf = uv_buf_init(data, (unsigned int)n);
    w->tc = tc;
    tc->inflight += n;
    if (uv_write(&w->req, (uv_stream_t *)&tc->tcp, &w->buf, 1, write_done) != 0) {
        tc->inflight -= n;
        free(data);
        free(w);
        tcp_shutdown(tc);
    }
}

static void flush_wbio(struct tcp_conn *tc)
{
    size_t pending = BIO_ctrl_pending(tc->wbio);
    if (pending == 0)
        return;
    char *buf = cmk_xmalloc(pending);
    int n = BIO_read(tc->wbio, buf, (int)pending);
    if (n <= 0) {
        free(buf);
        return;
    }
    tcp_write(tc, buf, (size_t)n);
}

static void tcp_flush(struct dp_pgconn *c)
{
    struct tcp_conn *tc = c->tpdata;
    if (c->out.len == 0)
        return;
    if (tc->tls_on && tc->handshake_done) {
        /* SSL_get_error reads the thread's whole error queue: a query's failed page decryption
         * must not read as this connection's failure. */
        ERR_clear_error();
        if (SSL_write(tc->ssl, c->out.data, (int)c->out.len) <= 0) {
            tcp_shutdown(tc);
            return;
        }
        cmk_buf_reset(&c->out);
        flush_wbio(tc);
        return;
    }
    size_t n;
    char *data = cmk_buf_take(&c->out, &n);
    tcp_write(tc, data, n);
}

static int tcp_start_tls(struct dp_pgconn *c)
{
    struct tcp_conn *tc = c->tpdata;
    SSL_CTX *ctx = tc->ep->cfg.tls;
    if (ctx == NULL)
        return -1;
    SSL *ssl = SSL_new(ctx);
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    if (ssl == NULL || rbio == NULL || wbio == NULL) {
        SSL_free(ssl);
        BIO_free(rbio);
        BIO_free(wbio);
        return -1;
    }
    tcp_flush(c); /* the 'S' goes in clear */
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_accept_state(ssl);
    tc->ssl = ssl;
    tc->rbio = rbio;
    tc->wbio = wbio;
    tc->tls_on = 1;
    if (c->in.len > c->in_off) { /* bytes after the SSLRequest belong to the handshake */
        BIO_write(rbio, c->in.data + c->in_off, (int)(c->in.len - c->in_off));
        c->in_off = c->in.len;
    }
    return 0;
}

static void tcp_close_conn(struct dp_pgconn *c)
{
    struct tcp_conn *tc = c->tpdata;
    if (tc->closing)
        return;
    tcp_flush(c);
    if (tc->ssl && tc->handshake_done) {
        SSL_shutdown(tc->ssl);
        flush_wbio(tc);
    }
    tc->closing = 1;
    if (tc->inflight == 0)
        tcp_shutdown(tc);
}

static int tcp_backlogged(struct dp_pgconn *c)
{
    struct tcp_conn *tc = c->tpdata;
    return tc->inflight >= BACKLOG_BYTES;
}

static const struct pg_transport tcp_transport = {tcp_flush, tcp_start_tls, tcp_close_conn,
                                                  tcp_backlogged};

static void tls_input(struct tcp_conn *tc)
{
    struct dp_pgconn *c = tc->c;
    if (!tc->handshake_done) {
        ERR_clear_error();
        int r = SSL_do_handshake(tc->ssl);
        flush_wbio(tc);
        if (r != 1) {
            int e = SSL_get_error(tc->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return;
            unsigned long code = ERR_get_error();
            char msg[160] = "";
            if (code)
                ERR_error_string_n(code, msg, sizeof(msg));
            ERR_clear_error();
            cmk_info("pgwire", "TLS handshake failed peer=%s: %s", c->peer, msg);
            c->state = CS_CLOSED;
            tcp_shutdown(tc);
            return;
        }
        tc->handshake_done = 1;
        c->tls = 1;
        const char *sni = SSL_get_servername(tc->ssl, TLSEXT_NAMETYPE_host_name);
        snprintf(c->sni, sizeof(c->sni), "%s", sni ? sni : "");
        c->state = CS_STARTUP;
    }
    char buf[16384];
    int n;
    ERR_clear_error();
    while ((n = SSL_read(tc->ssl, buf, sizeof(buf))) > 0)
        cmk_buf_append(&c->in, buf, (size_t)n);
    int e = SSL_get_error(tc->ssl, n);
    flush_wbio(tc);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        pg_conn_run(c);
        c->state = CS_CLOSED;
        tcp_close_conn(c);
        return;
    }
    pg_conn_run(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct tcp_conn *tc = h->data;
    *buf = uv_buf_init(tc->readbuf, sizeof(tc->readbuf));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct tcp_conn *tc = s->data;
    if (nread < 0) {
        tc->c->state = CS_CLOSED;
        tcp_shutdown(tc);
        return;
    }
    if (nread == 0 || tc->closing)
        return;
    if (tc->tls_on) {
        BIO_write(tc->rbio, buf->base, (int)nread);
        tls_input(tc);
        return;
    }
    pg_conn_input(tc->c, buf->base, (size_t)nread);
    if (tc->tls_on && !tc->closing && BIO_ctrl_pending(tc->rbio) > 0)
        tls_input(tc);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct pg_listener *l = server->data;
    struct dp_pgwire *ep = l->ep;
    if (status < 0 || ep->freeing)
        return;
    struct tcp_conn *tc = cmk_xcalloc(1, sizeof(*tc));
    tc->ep = ep;
    uv_tcp_init(ep->cfg.loop, &tc->tcp);
    tc->tcp.data = tc;
    ep->refs++;
    struct dp_pgconn *c = pg_conn_new(ep, &tcp_transport, tc);
    tc->c = c;
    pg_ep_link_conn(ep, c);
    if (uv_accept(server, (uv_stream_t *)&tc->tcp) != 0) {
        c->state = CS_CLOSED;
        tcp_shutdown(tc);
        return;
    }
    uv_tcp_nodelay(&tc->tcp, 1);
    struct sockaddr_storage peer;
    int len = sizeof(peer);
    if (uv_tcp_getpeername(&tc->tcp, (struct sockaddr *)&peer, &len) == 0) {
        if (peer.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&peer, c->peer, sizeof(c->peer));
        else
            uv_ip4_name((struct sockaddr_in *)&peer, c->peer, sizeof(c->peer));
    }
    c->local_port = l->port;
    c->shared_port = l->server[0] == 0;
    snprintf(c->target, sizeof(c->target), "%s", l->server);
    uv_read_start((uv_stream_t *)&tc->tcp, alloc_cb, read_cb);
}

/* ---- listeners ---- */

static void listener_closed(uv_handle_t *h)
{
    struct pg_listener *l = h->data;
    struct dp_pgwire *ep = l->ep;
    free(l);
    ep->refs--;
    pg_ep_maybe_free(ep);
}

void pg_ep_close_listener(struct dp_pgwire *ep, struct pg_listener *l)
{
    for (struct pg_listener **pp = &ep->listeners; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    uv_close((uv_handle_t *)&l->tcp, listener_closed);
}

static int open_listener(struct dp_pgwire *ep, const char *server, const char *addr, int port,
                         struct pg_listener **out, struct cmk_err *err)
{
    if (ep->cfg.loop == NULL)
        return cmk_err_set(err, CMK_EINVAL, 0, "NoLoop", "the endpoint has no event loop");
    struct sockaddr_storage sa;
    int rc = strchr(addr, ':') ? uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&sa)
                               : uv_ip4_addr(addr, port, (struct sockaddr_in *)&sa);
    if (rc != 0)
        return cmk_err_set(err, CMK_EINVAL, 0, "BadAddress", "invalid listen address %s", addr);
    struct pg_listener *l = cmk_xcalloc(1, sizeof(*l));
    l->ep = ep;
    snprintf(l->server, sizeof(l->server), "%s", server);
    uv_tcp_init(ep->cfg.loop, &l->tcp);
    l->tcp.data = l;
    ep->refs++;
    l->next = ep->listeners;
    ep->listeners = l;
    rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 256, on_connection);
    if (rc != 0) {
        pg_ep_close_listener(ep, l);
        return cmk_err_set(err, CMK_EIO, 0, "ListenFailed", "cannot listen on %s:%d: %s", addr,
                           port, uv_strerror(rc));
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len);
    l->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    *out = l;
    cmk_info("pgwire", "listening server=%s addr=%s port=%d", server[0] ? server : "(shared)", addr,
             l->port);
    return 0;
}

int dp_pgwire_listen(struct dp_pgwire *ep, const char *server, const char *addr, int port,
                     int *bound_port, struct cmk_err *err)
{
    if (server == NULL || server[0] == 0 || strlen(server) >= DP_PG_NAME_MAX)
        return cmk_err_set(err, CMK_EINVAL, 0, "BadServerName", "invalid server name");
    struct pg_listener *l;
    int rc = open_listener(ep, server, addr, port, &l, err);
    if (rc != 0)
        return rc;
    struct pg_srv *s = pg_ep_get_srv(ep, server);
    if (s->listener)
        pg_ep_close_listener(ep, s->listener);
    s->listener = l;
    if (bound_port)
        *bound_port = l->port;
    return 0;
}

void dp_pgwire_unlisten(struct dp_pgwire *ep, const char *server)
{
    struct pg_srv *s = pg_ep_find_srv(ep, server);
    if (s && s->listener) {
        pg_ep_close_listener(ep, s->listener);
        s->listener = NULL;
    }
}

int dp_pgwire_listen_shared(struct dp_pgwire *ep, const char *addr, int port, int *bound_port,
                            struct cmk_err *err)
{
    struct pg_listener *l;
    int rc = open_listener(ep, "", addr, port, &l, err);
    if (rc == 0 && bound_port)
        *bound_port = l->port;
    return rc;
}

int dp_pgwire_port(const struct dp_pgwire *ep, const char *server)
{
    const struct pg_srv *s = pg_ep_find_srv(ep, server);
    return s && s->listener ? s->listener->port : 0;
}
