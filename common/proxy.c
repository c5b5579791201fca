/* proxy.c: the HTTP CONNECT proxy of `cmksim serve` (DESIGN.md: Unmodified applications; the
 * API is in http.h).
 *
 * A client with HTTPS_PROXY=http://127.0.0.1:PORT sends "CONNECT myvault.vault.azure.net:443
 * HTTP/1.1". When the host is one cmksim serves (cmk_hosts_classify) on the port it serves it
 * on, or a loopback name with the port of one of cmksim's own listeners, the proxy connects to
 * cmksim's own TLS listener (or its PostgreSQL listener for *.postgres hosts on 5432), answers
 * "200 Connection established" and splices bytes both ways: the client's TLS handshake (SNI
 * intact) and its requests (Host intact) reach cmksim unchanged. Anything else is refused with
 * 403 and a sentence saying why; the proxy never opens a connection to any other address.
 * Plain-HTTP proxy requests ("GET http://...") are refused too.
 *
 * Splicing: each read is handed to a write on the other side without copying; when more than
 * HIGH_WATER bytes are queued towards one side, reading from the other pauses. EOF is passed on
 * as a half-close (shutdown); the tunnel ends when both directions have ended or on an error.
 */
#include "http.h"

#include <ctype.h>
#include <llhttp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define MAX_HEAD     (8 * 1024)
#define READ_SIZE    (64 * 1024)
#define HIGH_WATER   (1024 * 1024)
#define LOW_WATER    (256 * 1024)
#define HEAD_TIMEOUT (30 * CMK_SECOND)
#define LINGER       (2 * CMK_SECOND)

enum pstate { P_HEAD, P_CONNECTING, P_TUNNEL, P_REFUSED };

struct side {
    uv_tcp_t tcp;
    struct pconn *pc;
    int open;      /* handle initialised and not yet closed */
    int eof;       /* this side sent FIN */
    int paused;    /* reading stopped for back-pressure */
    size_t queued; /* bytes queued for writing to this side */
};

struct pconn {
    struct side client; /* [0] */
    struct side up;     /* [1] */
    struct cmk_proxy *proxy;
    struct pconn *prev, *next;
    enum pstate state;
    struct cmk_buf head;
    size_t head_end; /* bytes of head that were the request head */
    uv_connect_t creq;
    uv_shutdown_t sreq[2];
    struct cmk_timer timer;
    int handles; /* open libuv handles; freed at 0 */
    int closing;
};

struct wreq {
    uv_write_t req;
    struct side *to;
    char *base;
    size_t len;
    int close_after; /* refused: shut down the client after this write */
};

struct cmk_proxy {
    uv_tcp_t listener;
    uv_loop_t *loop;
    struct cmk_clock *clock;
    struct cmk_proxy_config cfg;
    struct cmk_hosts hosts;
    char addr[64], up_addr[64];
    int port;
    struct pconn *conns;
    size_t nconns;
    int stopping, listener_closed;
    void (*done)(void *arg);
    void *done_arg;
};

static void start_reading(struct side *s);

/* ---- teardown ---- */

static void maybe_finish(struct cmk_proxy *p)
{
    if (!p->stopping || !p->listener_closed || p->nconns != 0)
        return;
    void (*done)(void *) = p->done;
    void *arg = p->done_arg;
    free(p);
    if (done)
        done(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct side *s = h->data;
    struct pconn *pc = s->pc;
    if (--pc->handles > 0)
        return;
    struct cmk_proxy *p = pc->proxy;
    if (pc->prev)
        pc->prev->next = pc->next;
    else
        p->conns = pc->next;
    if (pc->next)
        pc->next->prev = pc->prev;
    p->nconns--;
    cmk_buf_close(&pc->head);
    free(pc);
    maybe_finish(p);
}

static void pconn_close(struct pconn *pc)
{
    if (pc->closing)
        return;
    pc->closing = 1;
    cmk_timer_stop(&pc->timer);
    struct side *sides[2] = {&pc->client, &pc->up};
    for (int i = 0; i < 2; i++) {
        if (sides[i]->open) {
            sides[i]->open = 0;
            uv_close((uv_handle_t *)&sides[i]->tcp, on_handle_closed);
        }
    }
}

static void on_timer(struct cmk_timer *t)
{
    pconn_close(t->data);
}

/* ---- writing ---- */

static struct side *other(struct side *s)
{
    return s == &s->pc->client ? &s->pc->up : &s->pc->client;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct side *s = req->data;
    struct pconn *pc = s->pc;
    if (pc->closing)
        return;
    if (status < 0) {
        pconn_close(pc);
        return;
    }
    if (pc->state == P_REFUSED)
        return; /* linger: drop what the client still sends, until EOF or the timer */
    /* Both directions ended: the tunnel is done. */
    if (pc->client.eof && pc->up.eof)
        pconn_close(pc);
}

static void shut_side(struct side *s)
{
    struct pconn *pc = s->pc;
    uv_shutdown_t *r = &pc->sreq[s == &pc->client ? 0 : 1];
    r->data = s;
    if (uv_shutdown(r, (uv_stream_t *)&s->tcp, on_shutdown) < 0)
        pconn_close(pc);
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct side *to = w->to;
    struct pconn *pc = to->pc;
    to->queued -= w->len;
    int close_after = w->close_after;
    free(w->base);
    free(w);
    if (pc->closing)
        return;
    if (status < 0) {
        pconn_close(pc);
        return;
    }
    if (close_after) {
        shut_side(to);
        return;
    }
    struct side *from = other(to);
    if (from->paused && to->queued < LOW_WATER) {
        from->paused = 0;
        start_reading(from);
    }
}

/* Queue base (malloc'd, ownership taken) for writing to side to. */
static void send_to(struct side *to, char *base, size_t len, int close_after)
{
    struct pconn *pc = to->pc;
    struct wreq *w = cmk_xmalloc(sizeof(*w));
    w->to = to;
    w->base = base;
    w->len = len;
    w->close_after = close_after;
    to->queued += len;
    uv_buf_t b = uv_buf_init(base, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&to->tcp, &b, 1, on_write) < 0) {
        to->queued -= len;
        free(base);
        free(w);
        pconn_close(pc);
    }
}

static void refuse(struct pconn *pc, int status, const char *reason, const char *msg)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_printf(&b,
                   "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                   status, reason, strlen(msg) + 1, msg);
    size_t len;
    char *data = cmk_buf_take(&b, &len);
    pc->state = P_REFUSED;
    cmk_timer_start(&pc->timer, cmk_clock_span(pc->proxy->clock, LINGER), 0);
    send_to(&pc->client, data, len, 1);
}

/* ---- the decision ---- */

static int is_loopback(const char *host)
{
    return !strcasecmp(host, "localhost") || !strcasecmp(host, "localhost.") ||
           !strcmp(host, "127.0.0.1") || !strcmp(host, "::1");
}

/* Where a CONNECT to host:port may go: the port of one of cmksim's listeners, or 0 with msg
 * saying why not. */
static int destination(struct cmk_proxy *p, const char *host, int port, char *msg, size_t n)
{
    const struct cmk_proxy_config *cfg = &p->cfg;
    if (is_loopback(host)) {
        if (port == cfg->tls_port)
            return cfg->tls_port;
        if (cfg->pg_port && port == cfg->pg_port)
            return cfg->pg_port;
        snprintf(msg, n,
                 "cmksim's proxy refuses CONNECT %s:%d: on this machine it only tunnels to "
                 "cmksim's own listeners (HTTPS port %d%s).",
                 host, port, cfg->tls_port, cfg->pg_port ? " and its PostgreSQL port" : "");
        return 0;
    }
    char label[64];
    enum cmk_host_kind kind = cmk_hosts_classify(&p->hosts, host, label, sizeof(label));
    const char *s = p->hosts.suffix;
    if (kind == CMK_HOST_UNKNOWN) {
        snprintf(msg, n,
                 "cmksim's proxy refuses CONNECT %s:%d: cmksim only serves its own hosts "
                 "(management.azure.com, login.microsoftonline.com, graph.microsoft.com, "
                 "*.vault.azure.net, *.managedhsm.azure.net, *.postgres.database.azure.com, and "
                 "management.%s, login.%s, graph.%s, *.vault.%s, *.managedhsm.%s, *.postgres.%s); "
                 "it never connects anywhere else.",
                 host, port, s, s, s, s, s, s);
        return 0;
    }
    if (kind == CMK_HOST_PG) {
        if (port == 5432 && cfg->pg_port)
            return cfg->pg_port;
        snprintf(msg, n,
                 "cmksim's proxy refuses CONNECT %s:%d: PostgreSQL servers are reached on port "
                 "5432%s.",
                 host, port, cfg->pg_port ? "" : ", and no PostgreSQL listener is running");
        return 0;
    }
    if (port == 443 || port == cfg->tls_port)
        return cfg->tls_port;
    snprintf(msg, n, "cmksim's proxy refuses CONNECT %s:%d: cmksim serves %s on port 443 only.",
             host, port, host);
    return 0;
}

/* "host:port" or "[v6]:port". Returns 0 and fills host/port, or -1. */
static int split_authority(const char *a, char *host, size_t n, int *port)
{
    const char *colon;
    size_t hl;
    if (a[0] == '[') {
        const char *end = strchr(a, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        hl = (size_t)(end - a - 1);
        a++;
        colon = end + 1;
    } else {
        colon = strrchr(a, ':');
        if (colon == NULL)
            return -1;
        hl = (size_t)(colon - a);
    }
    if (hl == 0 || hl >= n || colon[1] == '\0' || strlen(colon + 1) > 5)
        return -1;
    for (const char *q = colon + 1; *q; q++)
        if (!isdigit((unsigned char)*q))
            return -1;
    *port = atoi(colon + 1);
    if (*port < 1 || *port > 65535)
        return -1;
    memcpy(host, a, hl);
    host[hl] = '\0';
    for (size_t i = 0; i < hl; i++)
        if (!(isalnum((unsigned char)host[i]) || strchr("-._:", host[i])))
            return -1;
    return 0;
}

/* ---- tunnelling ---- */

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    buf->base = cmk_xmalloc(READ_SIZE);
    buf->len = READ_SIZE;
}

static void on_connected(uv_connect_t *req, int status)
{
    struct pconn *pc = req->data;
    if (pc->closing)
        return;
    if (status < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "cmksim's proxy could not reach cmksim's own listener: %s.",
                 uv_strerror(status));
        refuse(pc, 502, "Bad Gateway", msg);
        start_reading(&pc->client); /* linger until the client closes */
        return;
    }
    uv_tcp_nodelay(&pc->up.tcp, 1);
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    send_to(&pc->client, cmk_xstrdup(ok), sizeof(ok) - 1, 0);
    if (pc->closing)
        return;
    /* Bytes the client sent after its CONNECT head (an eager ClientHello) go up first. */
    if (pc->head.len > pc->head_end) {
        size_t n = pc->head.len - pc->head_end;
        char *rest = cmk_xmalloc(n);
        memcpy(rest, pc->head.data + pc->head_end, n);
        send_to(&pc->up, rest, n, 0);
    }
    cmk_buf_close(&pc->head);
    pc->state = P_TUNNEL;
    cmk_timer_stop(&pc->timer);
    if (!pc->closing) {
        start_reading(&pc->client);
        start_reading(&pc->up);
    }
}

static void connect_upstream(struct pconn *pc, int port)
{
    struct cmk_proxy *p = pc->proxy;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(p->up_addr, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(p->up_addr, port, (struct sockaddr_in6 *)&ss) != 0) {
        refuse(pc, 502, "Bad Gateway", "cmksim's proxy has no address for its own listener.");
        return;
    }
    uv_tcp_init(p->loop, &pc->up.tcp);
    pc->up.tcp.data = &pc->up;
    pc->up.open = 1;
    pc->handles++;
    pc->state = P_CONNECTING;
    uv_read_stop((uv_stream_t *)&pc->client.tcp);
    pc->creq.data = pc;
    int rc = uv_tcp_connect(&pc->creq, &pc->up.tcp, (struct sockaddr *)&ss, on_connected);
    if (rc < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "cmksim's proxy could not reach cmksim's own listener: %s.",
                 uv_strerror(rc));
        refuse(pc, 502, "Bad Gateway", msg);
    }
}

/* llhttp callbacks: collect the request-target; stop after the head. */
struct head_parse {
    struct cmk_buf url;
};

static int hp_on_url(llhttp_t *h, const char *at, size_t len)
{
    struct head_parse *hp = h->data;
    cmk_buf_append(&hp->url, at, len);
    return 0;
}

static int hp_on_headers_complete(llhttp_t *h)
{
    return HPE_PAUSED;
}

static const llhttp_settings_t head_settings = {
    .on_url = hp_on_url,
    .on_headers_complete = hp_on_headers_complete,
};

static void handle_head(struct pconn *pc)
{
    struct head_parse hp;
    cmk_buf_init(&hp.url);
    llhttp_t parser;
    llhttp_init(&parser, HTTP_REQUEST, &head_settings);
    parser.data = &hp;
    llhttp_errno_t e = llhttp_execute(&parser, pc->head.data, pc->head_end);
    char msg[1024];
    if (e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE) {
        refuse(pc, 400, "Bad Request", "cmksim's proxy could not parse the request.");
    } else if (parser.method != HTTP_CONNECT) {
        const char *url = hp.url.data ? hp.url.data : "";
        if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0)
            snprintf(msg, sizeof(msg),
                     "cmksim's proxy refuses %s %.300s: it only tunnels HTTPS (CONNECT) to "
                     "cmksim's own hosts and never forwards plain HTTP requests.",
                     llhttp_method_name((llhttp_method_t)parser.method), url);
        else
            snprintf(msg, sizeof(msg),
                     "This port is cmksim's HTTPS proxy: set HTTPS_PROXY to it and use "
                     "https:// URLs (only CONNECT is accepted).");
        refuse(pc, 403, "Forbidden", msg);
    } else {
        char host[256];
        int port = 0;
        if (hp.url.data == NULL || split_authority(hp.url.data, host, sizeof(host), &port) != 0) {
            refuse(pc, 400, "Bad Request",
                   "cmksim's proxy expects CONNECT host:port (for example "
                   "myvault.vault.azure.net:443).");
        } else {
            int dest = destination(pc->proxy, host, port, msg, sizeof(msg));
            if (dest == 0) {
                cmk_info("proxy", "msg=\"refused CONNECT\" host=%s port=%d", host, port);
                refuse(pc, 403, "Forbidden", msg);
            } else {
                connect_upstream(pc, dest);
            }
        }
    }
    cmk_buf_close(&hp.url);
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct side *s = stream->data;
    struct pconn *pc = s->pc;
    if (nread <= 0 || pc->closing || pc->state == P_REFUSED) {
        free(buf->base);
        if (nread == 0 || pc->closing)
            return;
        if (pc->state == P_REFUSED || nread != UV_EOF) {
            if (nread < 0)
                pconn_close(pc);
            return;
        }
        /* EOF: pass it on as a half-close; before the tunnel, the client gave up. */
        s->eof = 1;
        uv_read_stop(stream);
        if (pc->state != P_TUNNEL)
            pconn_close(pc);
        else if (other(s)->eof && s->queued == 0 && other(s)->queued == 0)
            pconn_close(pc);
        else
            shut_side(other(s));
        return;
    }
    if (pc->state == P_HEAD) {
        cmk_buf_append(&pc->head, buf->base, (size_t)nread);
        free(buf->base);
        char *end = pc->head.len ? memmem(pc->head.data, pc->head.len, "\r\n\r\n", 4) : NULL;
        if (end == NULL && pc->head.len > MAX_HEAD) {
            refuse(pc, 431, "Request Header Fields Too Large",
                   "cmksim's proxy accepts request heads of up to 8 KiB.");
        } else if (end != NULL) {
            pc->head_end = (size_t)(end - pc->head.data) + 4;
            handle_head(pc);
        }
        return;
    }
    /* tunnel: hand the buffer to the other side's write */
    struct side *to = other(s);
    send_to(to, buf->base, (size_t)nread, 0);
    if (!pc->closing && to->queued > HIGH_WATER && !s->paused) {
        s->paused = 1;
        uv_read_stop(stream);
    }
}

static void start_reading(struct side *s)
{
    if (s->open && !s->eof && uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb) < 0)
        pconn_close(s->pc);
}

/* ---- listener ---- */

static void on_connection(uv_stream_t *listener, int status)
{
    struct cmk_proxy *p = listener->data;
    if (status < 0 || p->stopping)
        return;
    struct pconn *pc = cmk_xcalloc(1, sizeof(*pc));
    pc->proxy = p;
    pc->client.pc = pc;
    pc->up.pc = pc;
    cmk_buf_init(&pc->head);
    uv_tcp_init(p->loop, &pc->client.tcp);
    pc->client.tcp.data = &pc->client;
    pc->client.open = 1;
    pc->handles = 1;
    pc->next = p->conns;
    if (p->conns)
        p->conns->prev = pc;
    p->conns = pc;
    p->nconns++;
    cmk_timer_init(p->clock, &pc->timer, on_timer, pc);
    cmk_timer_set_elastic(&pc->timer, 1); /* wall-time timeouts whatever the clock's speed */
    if (uv_accept(listener, (uv_stream_t *)&pc->client.tcp) != 0) {
        pconn_close(pc);
        return;
    }
    uv_tcp_nodelay(&pc->client.tcp, 1);
    cmk_timer_start(&pc->timer, cmk_clock_span(pc->proxy->clock, HEAD_TIMEOUT), 0);
    start_reading(&pc->client);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct cmk_proxy *p = h->data;
    p->listener_closed = 1;
    maybe_finish(p);
}

static void free_on_close(uv_handle_t *h)
{
    free(h->data);
}

/* Where to reach cmksim's own listeners: a wildcard listen address means loopback. */
static void upstream_addr(const char *a, char *out, size_t n)
{
    if (a == NULL || !*a || !strcmp(a, "0.0.0.0"))
        a = "127.0.0.1";
    else if (!strcmp(a, "::"))
        a = "::1";
    snprintf(out, n, "%s", a);
}

int cmk_proxy_start(struct cmk_proxy **out, uv_loop_t *loop, struct cmk_clock *clock,
                    const struct cmk_proxy_config *cfg, struct cmk_err *err)
{
    *out = NULL;
    if (cfg->hosts == NULL || cfg->tls_port <= 0)
        return cmk_err_set(err, CMK_EINVAL, 0, "BadConfig",
                           "the proxy needs the host table and cmksim's TLS port");
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write gives EPIPE */
    struct cmk_proxy *p = cmk_xcalloc(1, sizeof(*p));
    p->loop = loop;
    p->clock = clock;
    p->cfg = *cfg;
    p->hosts = *cfg->hosts;
    p->cfg.hosts = &p->hosts;
    snprintf(p->addr, sizeof(p->addr), "%s", cfg->addr ? cfg->addr : "127.0.0.1");
    p->cfg.addr = p->addr;
    upstream_addr(cfg->tls_addr, p->up_addr, sizeof(p->up_addr));
    p->cfg.tls_addr = p->up_addr;

    struct sockaddr_storage ss;
    if (uv_ip4_addr(p->addr, cfg->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(p->addr, cfg->port, (struct sockaddr_in6 *)&ss) != 0) {
        free(p);
        return cmk_err_set(err, CMK_EINVAL, 0, "BadAddress", "'%s' is not an IP address",
                           cfg->addr);
    }
    uv_tcp_init(loop, &p->listener);
    p->listener.data = p;
    int rc = uv_tcp_bind(&p->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&p->listener, 511, on_connection);
    if (rc != 0) {
        uv_close((uv_handle_t *)&p->listener, free_on_close);
        return cmk_err_set(err, CMK_EIO, 0, "ListenFailed", "cannot listen on %s:%d: %s", p->addr,
                           cfg->port, uv_strerror(rc));
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&p->listener, (struct sockaddr *)&bound, &len);
    p->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    *out = p;
    return 0;
}

int cmk_proxy_port(const struct cmk_proxy *p)
{
    return p->port;
}

void cmk_proxy_stop(struct cmk_proxy *p, void (*done)(void *arg), void *arg)
{
    if (p == NULL || p->stopping)
        return;
    p->stopping = 1;
    p->done = done;
    p->done_arg = arg;
    for (struct pconn *pc = p->conns; pc; pc = pc->next)
        pconn_close(pc);
    uv_close((uv_handle_t *)&p->listener, on_listener_closed);
}
