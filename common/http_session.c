/* http_session.c: the protocol half of the HTTP server (see http_session.h): llhttp callbacks
 * that build a struct cmk_request, limits, dispatch through the router, and the response
 * serialiser. No sockets, no TLS: http.c feeds it decrypted bytes and writes out what it
 * produces; the unit tests and the fuzz driver call it directly.
 *
 * Requests are dispatched from llhttp's on_message_complete, so pipelined requests are parsed
 * ahead within one read and answered strictly in arrival order into one output buffer (one
 * write for the whole batch). Once a response says "Connection: close", parsing pauses and
 * the rest of the input is dropped.
 *
 * Each complete request moves into a struct deferred (one per session, reused) with its
 * response, so a handler that defers (router.h, cmk_request_defer) keeps both at the same
 * address until its done callback: the door queues the work on the loop's thread pool, parsing
 * pauses (state WAIT) and the rest of the input is held; the completion writes the response,
 * parses what was held, and tells the owner (http.c) through the ready callback. A session freed
 * meanwhile leaves the deferred request behind, detached: its completion frees it.
 */
#include "http_session.h"

#include <llhttp.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_MAX_HEADER (16 * 1024)
#define DEFAULT_MAX_BODY   (1024 * 1024)
#define MAX_FIELDS         100

/* A request being answered, with its response; the deferral door the handler may use. */
struct deferred {
    struct cmk_deferral door; /* first: the door's address is the deferred's */
    uv_work_t work;
    struct cmk_http_session *sess; /* NULL once the session is gone */
    struct cmk_request req;
    struct cmk_response res;
    cmk_work_fn fn;
    cmk_done_fn done;
    void *arg;
    int started; /* the handler deferred: fn is queued or running */
    int keep, http10, head_only;
};

struct cmk_http_session {
    llhttp_t parser;
    struct cmk_router *router;
    struct cmk_clock *clock;
    size_t max_header, max_body;
    char peer[64];
    enum cmk_http_state state;
    int draining;

    /* the request being received */
    struct cmk_request req;
    struct cmk_buf url, field, value;
    size_t head_bytes, nfields;
    int expect_continue;

    /* set by a callback that rejects the request; answered after llhttp returns */
    int err_status;
    const char *err_code;
    char err_msg[256];

    cmk_stream_fn stream_open; /* state CMK_HTTP_STREAM: the response's open callback */
    void *stream_data;

    struct cmk_buf *out; /* valid during feed */
    int64_t date_sec;    /* the second date[] was formatted for */
    char date[40];

    /* deferred responses (cmk_http_session_defer_on) */
    uv_loop_t *loop; /* NULL: every response is synchronous */
    struct cmk_buf *dout;
    void (*ready)(void *arg);
    void *ready_arg;
    struct deferred *pending; /* state WAIT: the request whose work is on a worker */
    struct deferred *spare;   /* reused for the next request */
    struct cmk_buf held;      /* input received behind the pending request, not yet parsed */
    int eof;                  /* the peer stopped sending while a response was pending */
};

/* ---- serialising ---- */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 300   ? "OK"
               : status < 400 ? "Redirect"
               : status < 500 ? "Client Error"
                              : "Server Error";
    }
}

/* IMF-fixdate of the clock's now, formatted once per second. */
static const char *http_date(struct cmk_http_session *s)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t sec = cmk_clock_now(s->clock) / 1000;
    if (sec != s->date_sec || s->date[0] == '\0') {
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(s->date, sizeof(s->date), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        s->date_sec = sec;
    }
    return s->date;
}

static void put(struct cmk_buf *b, const char *p, size_t n)
{
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

#define PUTS(b, lit) put(b, lit, sizeof(lit) - 1)

static size_t fmt_uint(char *out, size_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Headers the server writes itself; a service's copy is dropped. */
static int reserved_header(const char *name)
{
    return !strcasecmp(name, "content-length") || !strcasecmp(name, "transfer-encoding") ||
           !strcasecmp(name, "connection") || !strcasecmp(name, "date") ||
           !strcasecmp(name, "keep-alive");
}

/* A header that would split the response (CR, LF) or is not a token is dropped. */
static int safe_header(const char *name, const char *value, size_t *nlen, size_t *vlen)
{
    size_t n = strlen(name), v = strlen(value);
    if (n == 0 || strcspn(name, "\r\n: \t") != n || strcspn(value, "\r\n") != v)
        return 0;
    *nlen = n;
    *vlen = v;
    return 1;
}

static void write_response(struct cmk_http_session *s, const struct cmk_response *res,
                           int head_only, int close, int http10_keepalive)
{
    struct cmk_buf *o = s->out;
    int status = res->status >= 100 && res->status <= 999 ? res->status : 500;
    const char *reason = reason_phrase(status);
    /* A stream's body follows later and ends with the connection: no Content-Length. */
    int has_body = status >= 200 && status != 204 && status != 304 && !res->stream_open;
    size_t body_len = has_body ? res->body.len : 0;
    const char *date = s->clock ? http_date(s) : NULL;

    size_t date_len = date ? strlen(date) : 0;
    /* fixed parts: status line 15, Date 8, Content-Length 38, Connection 24, end 2 */
    size_t need = 96 + strlen(reason) + date_len + (has_body && !head_only ? body_len : 0);
    for (size_t i = 0; i < res->nheaders; i++)
        need += strlen(res->headers[i].name) + strlen(res->headers[i].value) + 4;
    cmk_buf_reserve(o, need);

    char num[24];
    PUTS(o, "HTTP/1.1 ");
    num[0] = (char)('0' + status / 100);
    num[1] = (char)('0' + status / 10 % 10);
    num[2] = (char)('0' + status % 10);
    num[3] = ' ';
    put(o, num, 4);
    put(o, reason, strlen(reason));
    PUTS(o, "\r\n");
    if (date) {
        PUTS(o, "Date: ");
        put(o, date, date_len);
        PUTS(o, "\r\n");
    }
    for (size_t i = 0; i < res->nheaders; i++) {
        const struct cmk_header *h = &res->headers[i];
        size_t nl, vl;
        if (reserved_header(h->name) || !safe_header(h->name, h->value, &nl, &vl))
            continue;
        put(o, h->name, nl);
        PUTS(o, ": ");
        put(o, h->value, vl);
        PUTS(o, "\r\n");
    }
    if (has_body) {
        PUTS(o, "Content-Length: ");
        put(o, num, fmt_uint(num, body_len));
        PUTS(o, "\r\n");
    }
    if (close)
        PUTS(o, "Connection: close\r\n");
    else if (http10_keepalive)
        PUTS(o, "Connection: keep-alive\r\n");
    PUTS(o, "\r\n");
    if (has_body && !head_only && body_len)
        put(o, res->body.data, body_len);
    o->data[o->len] = '\0';
}

/* Answer the error a callback (or the parser) raised, and close. */
static void write_error(struct cmk_http_session *s, int status, const char *code, const char *msg)
{
    struct cmk_err err;
    struct cmk_response res;
    cmk_err_set(&err, CMK_EPARSE, status, code, "%s", msg);
    cmk_response_init(&res);
    cmk_response_error(&res, &err);
    write_response(s, &res, 0, 1, 0);
    cmk_response_close(&res);
}

/* ---- parsing ---- */

static struct cmk_http_session *sess_of(llhttp_t *p)
{
    return p->data;
}

static int reject(struct cmk_http_session *s, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reject(struct cmk_http_session *s, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err_msg, sizeof(s->err_msg), fmt, ap);
    va_end(ap);
    s->err_status = status;
    s->err_code = code;
    return HPE_USER;
}

static int head_grew(struct cmk_http_session *s, size_t n)
{
    s->head_bytes += n;
    if (s->head_bytes > s->max_header)
        return reject(s, 431, "RequestHeaderFieldsTooLarge",
                      "The request head is larger than the limit of %zu bytes.", s->max_header);
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct cmk_http_session *s = sess_of(p);
    cmk_request_close(&s->req); /* also zeroes it */
    cmk_buf_init(&s->req.body);
    cmk_buf_reset(&s->url);
    cmk_buf_reset(&s->field);
    cmk_buf_reset(&s->value);
    s->head_bytes = 0;
    s->nfields = 0;
    s->expect_continue = 0;
    s->state = CMK_HTTP_HEAD;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct cmk_http_session *s = sess_of(p);
    cmk_buf_append(&s->url, at, len);
    return head_grew(s, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct cmk_http_session *s = sess_of(p);
    cmk_buf_append(&s->field, at, len);
    return head_grew(s, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct cmk_http_session *s = sess_of(p);
    cmk_buf_append(&s->value, at, len);
    return head_grew(s, len);
}

/* RFC 9110 token characters (llhttp's loose mode lets some others through). */
static int is_token(const char *s, size_t n)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c && strchr(extra, c))))
            return 0;
    }
    return n > 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct cmk_http_session *s = sess_of(p);
    if (++s->nfields > MAX_FIELDS)
        return reject(s, 431, "RequestHeaderFieldsTooLarge",
                      "The request has more than %d header fields.", MAX_FIELDS);
    int rc = head_grew(s, 4);
    if (rc)
        return rc;
    if (!is_token(s->field.data, s->field.len) ||
        (s->value.len && memchr(s->value.data, '\0', s->value.len)))
        return reject(s, 400, "BadRequest", "A request header is malformed.");
    while (s->value.len &&
           (s->value.data[s->value.len - 1] == ' ' || s->value.data[s->value.len - 1] == '\t'))
        s->value.data[--s->value.len] = '\0';
    const char *name = s->field.data, *value = s->value.data ? s->value.data : "";
    if (!strcasecmp(name, "host") && cmk_request_header(&s->req, "host") != NULL)
        return reject(s, 400, "BadRequest", "The request has more than one Host header.");
    if (!strcasecmp(name, "expect") && !strcasecmp(value, "100-continue"))
        s->expect_continue = 1;
    cmk_request_add_header(&s->req, name, value);
    cmk_buf_reset(&s->field);
    cmk_buf_reset(&s->value);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct cmk_http_session *s = sess_of(p);
    snprintf(s->req.method, sizeof(s->req.method), "%s",
             llhttp_method_name((llhttp_method_t)p->method));
    if (s->url.len == 0 || cmk_request_set_target(&s->req, s->url.data, s->url.len) != 0)
        return reject(s, 400, "BadRequest", "The request-target is malformed.");
    if (p->http_major == 1 && p->http_minor >= 1 && cmk_request_header(&s->req, "host") == NULL)
        return reject(s, 400, "BadRequest", "An HTTP/1.1 request must carry a Host header.");
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > s->max_body)
        return reject(s, 413, "RequestEntityTooLarge",
                      "The request body (%llu bytes) is larger than the limit of %zu bytes.",
                      (unsigned long long)p->content_length, s->max_body);
    if (s->expect_continue && p->http_minor >= 1 &&
        ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0)))
        cmk_buf_puts(s->out, "HTTP/1.1 100 Continue\r\n\r\n");
    s->req.origin.kind = CMK_ORIGIN_NETWORK;
    snprintf(s->req.origin.addr, sizeof(s->req.origin.addr), "%s", s->peer);
    s->state = CMK_HTTP_BODY;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct cmk_http_session *s = sess_of(p);
    if (s->req.body.len + len > s->max_body)
        return reject(s, 413, "RequestEntityTooLarge",
                      "The request body is larger than the limit of %zu bytes.", s->max_body);
    cmk_buf_append(&s->req.body, at, len);
    return 0;
}

/* A chunk announces its size first: one larger than what is left of the limit is refused then,
 * not after the client has been waited for (a "FFFFFFFFFFFFFFFF" chunk would otherwise hold the
 * connection until the idle timeout). */
static int on_chunk_header(llhttp_t *p)
{
    struct cmk_http_session *s = sess_of(p);
    if (p->content_length > s->max_body - s->req.body.len)
        return reject(s, 413, "RequestEntityTooLarge",
                      "The request body is larger than the limit of %zu bytes.", s->max_body);
    return 0;
}

/* ---- deferred responses ---- */

static void deferred_free(struct deferred *d)
{
    if (d == NULL)
        return;
    cmk_request_close(&d->req);
    cmk_response_close(&d->res);
    free(d);
}

/* On a pool thread. OpenSSL keeps per-thread state (the private and public DRBGs that RSA
 * blinding draws from, the error queue) and frees it only when the thread exits; libuv's pool
 * threads outlive OPENSSL_cleanup at process exit, which orphans that state (LeakSanitizer
 * reports it). So each job releases it: the next job on the thread seeds new DRBGs from the
 * primary one, which costs nothing measurable next to an RSA private operation. */
static void work_cb(uv_work_t *w)
{
    struct deferred *d = w->data;
    d->fn(d->arg);
    OPENSSL_thread_stop();
}

static int respond(struct cmk_http_session *s, struct deferred *d);
static void parse(struct cmk_http_session *s, const char *data, size_t len);

/* On the loop: the handler's completion, then the response, then what was held behind it. */
static void after_work(uv_work_t *w, int status)
{
    struct deferred *d = w->data;
    d->done(&d->req, &d->res, d->arg, status == UV_ECANCELED ? CMK_EUNAVAIL : 0);
    struct cmk_http_session *s = d->sess;
    if (s == NULL) { /* the connection went away: nobody to answer */
        deferred_free(d);
        return;
    }
    s->pending = NULL;
    s->out = s->dout;
    respond(s, d);
    if (s->state == CMK_HTTP_IDLE && s->held.len) {
        struct cmk_buf in = s->held; /* parse() may hold input again */
        cmk_buf_init(&s->held);
        parse(s, in.data, in.len);
        cmk_buf_close(&in);
    }
    if (s->state == CMK_HTTP_CLOSED || s->state == CMK_HTTP_STREAM)
        cmk_buf_reset(&s->held);
    else if (s->eof && s->state != CMK_HTTP_WAIT)
        s->state = CMK_HTTP_CLOSED; /* what was held is answered; a partial request is not */
    s->out = NULL;
    if (s->ready)
        s->ready(s->ready_arg);
}

/* The door of router.h: queue the handler's work on the loop's thread pool. */
static int door_start(struct cmk_deferral *door, cmk_work_fn work, cmk_done_fn done, void *arg)
{
    struct deferred *d = (struct deferred *)door;
    if (d->started || d->sess == NULL || d->sess->loop == NULL)
        return CMK_EINVAL;
    d->fn = work;
    d->done = done;
    d->arg = arg;
    d->work.data = d;
    if (uv_queue_work(d->sess->loop, &d->work, work_cb, after_work) != 0)
        return CMK_EUNAVAIL;
    d->started = 1;
    return 0;
}

/* Write d's response and make d the spare for the next request. Returns what llhttp's
 * on_message_complete returns: 0 to go on parsing, HPE_PAUSED to stop. */
static int respond(struct cmk_http_session *s, struct deferred *d)
{
    int keep = d->keep && !s->draining;
    struct cmk_response *res = &d->res;
    int stream = res->stream_open != NULL && !d->head_only;
    if (res->stream_open && d->head_only)
        res->stream_open = NULL;
    write_response(s, res, d->head_only, !keep || stream, keep && d->http10);
    s->stream_open = res->stream_open;
    s->stream_data = res->stream_data;
    cmk_response_close(res);
    cmk_request_close(&d->req);
    d->started = 0;
    if (s->spare == NULL)
        s->spare = d;
    else
        deferred_free(d);
    if (stream) {
        /* the connection now belongs to the stream; nothing more is parsed */
        s->state = CMK_HTTP_STREAM;
        return HPE_PAUSED;
    }
    if (!keep) {
        s->state = CMK_HTTP_CLOSED;
        return HPE_PAUSED;
    }
    s->state = CMK_HTTP_IDLE;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct cmk_http_session *s = sess_of(p);
    struct deferred *d = s->spare;
    s->spare = NULL;
    if (d == NULL) {
        d = cmk_xcalloc(1, sizeof(*d));
        d->door.start = door_start;
        d->sess = s;
    }
    /* The request moves (its strings stay where they are); s->req starts empty. */
    d->req = s->req;
    memset(&s->req, 0, sizeof(s->req));
    cmk_buf_init(&s->req.body);
    cmk_response_init(&d->res);
    d->keep = llhttp_should_keep_alive(p) && !p->upgrade;
    d->http10 = p->http_major == 1 && p->http_minor == 0;
    d->head_only = p->method == HTTP_HEAD;
    d->req.deferral = s->loop ? &d->door : NULL;
    cmk_router_dispatch(s->router, &d->req, &d->res);
    d->req.deferral = NULL;
    if (d->started) {
        /* answered later (after_work); nothing more is parsed until then */
        s->pending = d;
        s->state = CMK_HTTP_WAIT;
        return HPE_PAUSED;
    }
    return respond(s, d);
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
};

/* ---- public ---- */

struct cmk_http_session *cmk_http_session_new(struct cmk_router *router, struct cmk_clock *clock,
                                              const struct cmk_http_config *cfg,
                                              const char *peer_addr)
{
    struct cmk_http_session *s = cmk_xcalloc(1, sizeof(*s));
    llhttp_init(&s->parser, HTTP_REQUEST, &settings);
    s->parser.data = s;
    s->router = router;
    s->clock = clock;
    s->max_header = cfg && cfg->max_header ? cfg->max_header : DEFAULT_MAX_HEADER;
    s->max_body = cfg && cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
    snprintf(s->peer, sizeof(s->peer), "%s", peer_addr ? peer_addr : "");
    s->state = CMK_HTTP_IDLE;
    cmk_buf_init(&s->url);
    cmk_buf_init(&s->field);
    cmk_buf_init(&s->value);
    cmk_buf_init(&s->req.body);
    cmk_buf_init(&s->held);
    return s;
}

void cmk_http_session_free(struct cmk_http_session *s)
{
    if (s == NULL)
        return;
    if (s->pending) {
        /* its completion finds no session and frees it; not started: it never runs */
        s->pending->sess = NULL;
        uv_cancel((uv_req_t *)&s->pending->work);
    }
    deferred_free(s->spare);
    cmk_buf_close(&s->held);
    cmk_request_close(&s->req);
    cmk_buf_close(&s->url);
    cmk_buf_close(&s->field);
    cmk_buf_close(&s->value);
    free(s);
}

/* Run the parser over data (dispatching what completes). */
static void parse(struct cmk_http_session *s, const char *data, size_t len)
{
    llhttp_errno_t e = llhttp_execute(&s->parser, data, len);
    if (s->state == CMK_HTTP_WAIT) {
        /* paused behind a deferred response: keep the rest for when it is written */
        const char *pos = llhttp_get_error_pos(&s->parser);
        if (pos >= data && pos < data + len)
            cmk_buf_append(&s->held, pos, (size_t)(data + len - pos));
        llhttp_resume(&s->parser);
    } else if (s->state == CMK_HTTP_STREAM) {
        /* paused after a streaming response's head */
    } else if (e != HPE_OK && s->state != CMK_HTTP_CLOSED) {
        if (e == HPE_PAUSED_UPGRADE || e == HPE_PAUSED) {
            /* an upgrade/CONNECT request was answered; what follows is not HTTP for us */
        } else if (s->err_status) {
            write_error(s, s->err_status, s->err_code, s->err_msg);
        } else {
            char msg[200];
            snprintf(msg, sizeof(msg), "The request is malformed: %s.",
                     llhttp_get_error_reason(&s->parser));
            write_error(s, 400, "BadRequest", msg);
        }
        s->state = CMK_HTTP_CLOSED;
    }
}

enum cmk_http_state cmk_http_session_feed(struct cmk_http_session *s, const void *data, size_t len,
                                          struct cmk_buf *out)
{
    if (s->state == CMK_HTTP_CLOSED || s->state == CMK_HTTP_STREAM || len == 0)
        return s->state;
    if (s->state == CMK_HTTP_WAIT) {
        cmk_buf_append(&s->held, data, len);
        return s->state;
    }
    s->out = out;
    parse(s, data, len);
    s->out = NULL;
    return s->state;
}

enum cmk_http_state cmk_http_session_eof(struct cmk_http_session *s, struct cmk_buf *out)
{
    (void)out; /* a half-received request gets no answer: the client has gone */
    if (s->state == CMK_HTTP_WAIT) {
        s->eof = 1; /* answer what came complete before the end, then close */
        return s->state;
    }
    s->state = CMK_HTTP_CLOSED;
    return s->state;
}

enum cmk_http_state cmk_http_session_timeout(struct cmk_http_session *s, struct cmk_buf *out)
{
    if (s->state == CMK_HTTP_WAIT)
        return s->state; /* the response is on its way; the owner decides */
    if (s->state == CMK_HTTP_HEAD || s->state == CMK_HTTP_BODY) {
        s->out = out;
        write_error(s, 408, "RequestTimeout", "The request did not arrive in time.");
        s->out = NULL;
    }
    s->state = CMK_HTTP_CLOSED;
    return s->state;
}

enum cmk_http_state cmk_http_session_state(const struct cmk_http_session *s)
{
    return s->state;
}

void cmk_http_session_drain(struct cmk_http_session *s)
{
    s->draining = 1;
}

void cmk_http_session_stream(const struct cmk_http_session *s, cmk_stream_fn *open, void **data)
{
    *open = s->state == CMK_HTTP_STREAM ? s->stream_open : NULL;
    *data = s->state == CMK_HTTP_STREAM ? s->stream_data : NULL;
}

void cmk_http_session_defer_on(struct cmk_http_session *s, uv_loop_t *loop, struct cmk_buf *out,
                               void (*ready)(void *arg), void *arg)
{
    s->loop = loop;
    s->dout = out;
    s->ready = ready;
    s->ready_arg = arg;
}

size_t cmk_http_session_held(const struct cmk_http_session *s)
{
    return s->held.len;
}

int cmk_http_session_cancel(struct cmk_http_session *s)
{
    return s->pending && uv_cancel((uv_req_t *)&s->pending->work) == 0;
}
