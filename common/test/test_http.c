/* test_http.c: the HTTP server as a client sees it: keep-alive, pipelining order, limits
 * (431/413/400), chunked bodies, 100-continue, HEAD, timeouts on the virtual clock, graceful
 * stop, TLS with SNI and the emulator CA on disk (private keys sealed under the root key: no
 * PEM and none of their bytes in any file, reused, a one-byte corruption refused, the clear
 * PEM of older versions replaced).
 *
 * Two levels: the socket-free session (http_session.h) fed with raw bytes, and a real server
 * on 127.0.0.1 port 0 driven from this thread: the test writes with non-blocking sockets and
 * turns the libuv loop (UV_RUN_NOWAIT) until the answer is there. The clock is virtual, so
 * the timeout tests jump 31 s or 121 s ahead instead of waiting.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/http.h"
#include "common/http_session.h"
#include "common/rootkey.h"
#include "common/test/t_files.h"
#include "common/tls.h"

#define START ((cmk_time_t)1767225600000) /* 2026-01-01T00:00:00Z */

static uv_loop_t loop;
static struct cmk_clock clk;
static struct cmk_hosts hosts;
static struct cmk_router router;

/* ---- routes ---- */

static void h_hello(struct cmk_request *req, struct cmk_response *res, void *data)
{
    cmk_response_text(res, 200, "text/plain", "hello");
}

static void h_echo(struct cmk_request *req, struct cmk_response *res, void *data)
{
    res->status = 200;
    cmk_buf_append(&res->body, req->body.data ? req->body.data : "", req->body.len);
    cmk_response_header(res, "X-Method", req->method);
    cmk_response_header(res, "X-Peer", req->origin.addr);
    /* a service must not be able to set these: the server writes its own */
    cmk_response_header(res, "Content-Length", "999");
    cmk_response_header(res, "X-Bad", "a\r\nInjected: yes");
}

static void h_item(struct cmk_request *req, struct cmk_response *res, void *data)
{
    cmk_response_text(res, 200, "text/plain", cmk_request_param(req, "n"));
}

static void h_json(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_err err;
    json_t *j = cmk_request_json(req, &err);
    if (j == NULL) {
        cmk_response_error(res, &err);
        return;
    }
    cmk_response_json(res, 200, json_pack("{s:i}", "fields", (int)json_object_size(j)));
}

static int setup(void **state)
{
    uv_loop_init(&loop);
    cmk_clock_init(&clk, &loop, CMK_CLOCK_VIRTUAL, START, 0);
    cmk_hosts_init(&hosts, "localhost");
    cmk_router_init(&router, &hosts);
    cmk_router_add(&router, CMK_HOST_MGMT, "GET", "/hello", h_hello, NULL);
    cmk_router_add(&router, CMK_HOST_MGMT, "*", "/echo", h_echo, NULL);
    cmk_router_add(&router, CMK_HOST_MGMT, "GET", "/items/{n}", h_item, NULL);
    cmk_router_add(&router, CMK_HOST_MGMT, "POST", "/json", h_json, NULL);
    return 0;
}

static int teardown(void **state)
{
    cmk_router_close(&router);
    cmk_clock_close(&clk);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    return 0;
}

/* ---- session level ---- */

/* Feed input in pieces of chunk bytes (0: all at once); returns the output (free it). */
static char *session_run(const char *in, size_t len, size_t chunk, enum cmk_http_state *st)
{
    struct cmk_http_config cfg = {.max_header = 16 * 1024, .max_body = 1024};
    struct cmk_http_session *s = cmk_http_session_new(&router, &clk, &cfg, "10.1.2.3");
    struct cmk_buf out;
    cmk_buf_init(&out);
    enum cmk_http_state r = CMK_HTTP_IDLE;
    for (size_t off = 0; off < len;) {
        size_t n = chunk && len - off > chunk ? chunk : len - off;
        r = cmk_http_session_feed(s, in + off, n, &out);
        off += n;
    }
    if (st)
        *st = r;
    cmk_http_session_free(s);
    cmk_buf_reserve(&out, 0);
    return cmk_buf_take(&out, NULL);
}

static char *session(const char *in, enum cmk_http_state *st)
{
    return session_run(in, strlen(in), 0, st);
}

/* Status codes of the complete responses in out, in order (framed by Content-Length). */
static int statuses(const char *out, int *codes, int max)
{
    int n = 0;
    const char *p = out;
    while (n < max && strncmp(p, "HTTP/1.1 ", 9) == 0) {
        const char *end = strstr(p, "\r\n\r\n");
        if (end == NULL)
            break;
        int status = atoi(p + 9);
        size_t body = 0;
        const char *cl = strstr(p, "Content-Length: ");
        if (cl && cl < end)
            body = (size_t)atoi(cl + 16);
        if (strlen(end + 4) < body)
            break;
        if (status >= 200)
            codes[n++] = status;
        p = end + 4 + body;
    }
    return n;
}

static void test_keepalive_and_date(void **state)
{
    enum cmk_http_state st;
    char *out = session("GET /hello HTTP/1.1\r\nHost: management.azure.com\r\n\r\n"
                        "GET /hello HTTP/1.1\r\nHost: localhost:8443\r\n\r\n",
                        &st);
    int codes[8];
    assert_int_equal(statuses(out, codes, 8), 2);
    assert_int_equal(codes[0], 200);
    assert_int_equal(codes[1], 200);
    assert_int_equal(st, CMK_HTTP_IDLE);
    assert_null(strstr(out, "Connection: close"));
    assert_non_null(strstr(out, "Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"));
    assert_non_null(strstr(out, "Content-Length: 5\r\n\r\nhello"));
    free(out);
}

static void test_pipelining_in_order(void **state)
{
    const char *in = "GET /items/1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                     "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\ntwo"
                     "GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n"
                     "GET /items/4 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    /* Whole, and byte by byte: the same bytes come out. */
    char *a = session_run(in, strlen(in), 0, NULL);
    char *b = session_run(in, strlen(in), 1, NULL);
    assert_string_equal(a, b);
    int codes[8];
    assert_int_equal(statuses(a, codes, 8), 4);
    assert_int_equal(codes[0], 200);
    assert_int_equal(codes[1], 200);
    assert_int_equal(codes[2], 404);
    assert_int_equal(codes[3], 200);
    char *one = strstr(a, "\r\n\r\n1"), *two = strstr(a, "\r\n\r\ntwo"),
         *four = strstr(a, "\r\n\r\n4");
    assert_true(one && two && four && one < two && two < four);
    /* the service cannot override framing or inject headers */
    assert_null(strstr(a, "999"));
    assert_null(strstr(a, "Injected"));
    assert_non_null(strstr(a, "X-Peer: 10.1.2.3"));
    free(a);
    free(b);
}

static void test_431_header_too_large(void **state)
{
    struct cmk_buf in;
    cmk_buf_init(&in);
    cmk_buf_puts(&in, "GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Big: ");
    for (int i = 0; i < 17 * 1024; i++)
        cmk_buf_puts(&in, "a");
    cmk_buf_puts(&in, "\r\n\r\nGET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n");
    enum cmk_http_state st;
    char *out = session_run(in.data, in.len, 1000, &st);
    int codes[4];
    assert_int_equal(statuses(out, codes, 4), 1);
    assert_int_equal(codes[0], 431);
    assert_non_null(strstr(out, "Connection: close"));
    assert_non_null(strstr(out, "\"code\":\"RequestHeaderFieldsTooLarge\""));
    assert_int_equal(st, CMK_HTTP_CLOSED);
    free(out);
    cmk_buf_close(&in);

    /* more than 100 fields is refused the same way */
    cmk_buf_init(&in);
    cmk_buf_puts(&in, "GET /hello HTTP/1.1\r\nHost: localhost\r\n");
    for (int i = 0; i < 120; i++)
        cmk_buf_printf(&in, "X-%d: v\r\n", i);
    cmk_buf_puts(&in, "\r\n");
    out = session_run(in.data, in.len, 0, NULL);
    assert_int_equal(atoi(out + 9), 431);
    free(out);
    cmk_buf_close(&in);
}

static void test_413_before_body(void **state)
{
    enum cmk_http_state st;
    /* limit is 1024 here: refused on the head alone */
    char *out =
        session("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n", &st);
    assert_int_equal(atoi(out + 9), 413);
    assert_non_null(strstr(out, "\"code\":\"RequestEntityTooLarge\""));
    assert_int_equal(st, CMK_HTTP_CLOSED);
    free(out);

    /* a chunked body that grows past the limit */
    struct cmk_buf in;
    cmk_buf_init(&in);
    cmk_buf_puts(&in,
                 "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 20; i++) {
        cmk_buf_puts(&in, "64\r\n");
        for (int j = 0; j < 100; j++)
            cmk_buf_puts(&in, "x");
        cmk_buf_puts(&in, "\r\n");
    }
    cmk_buf_puts(&in, "0\r\n\r\n");
    out = session_run(in.data, in.len, 0, &st);
    assert_int_equal(atoi(out + 9), 413);
    assert_int_equal(st, CMK_HTTP_CLOSED);
    free(out);
    cmk_buf_close(&in);
}

static void test_400_malformed(void **state)
{
    const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n",
        "GET /hello HTTP/1.1\r\n\r\n", /* HTTP/1.1 without Host */
        "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: "
         "chunked\r\n\r\n"),
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /a%zz HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /hello HTTP/9.9\r\nHost: localhost\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum cmk_http_state st;
        char *out = session(bad[i], &st);
        assert_int_equal(atoi(out + 9), 400);
        assert_non_null(strstr(out, "\"code\":\"BadRequest\""));
        assert_non_null(strstr(out, "Connection: close"));
        assert_int_equal(st, CMK_HTTP_CLOSED);
        free(out);
    }
    /* the request before the malformed one is still answered, in order */
    char *out = session("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\nNOPE\r\n\r\n", NULL);
    int codes[4];
    assert_int_equal(statuses(out, codes, 4), 2);
    assert_int_equal(codes[0], 200);
    assert_int_equal(codes[1], 400);
    free(out);
}

static void test_chunked_body_and_json(void **state)
{
    char *out =
        session("POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n1;ext=1\r\n,\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
                NULL);
    assert_int_equal(atoi(out + 9), 200);
    assert_non_null(strstr(out, "Content-Length: 12\r\n"));
    assert_non_null(strstr(out, "\r\n\r\nhello, world"));
    free(out);

    out = session("POST /json HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  "Content-Length: 13\r\n\r\n{\"a\":1,\"b\":2}",
                  NULL);
    assert_non_null(strstr(out, "{\"fields\":2}"));
    free(out);
    out =
        session("POST /json HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n{\"a\":", NULL);
    assert_int_equal(atoi(out + 9), 400);
    assert_non_null(strstr(out, "\"code\":\"BadParameter\""));
    free(out);
}

static void test_expect_continue_and_head(void **state)
{
    struct cmk_http_session *s = cmk_http_session_new(&router, &clk, NULL, "127.0.0.1");
    struct cmk_buf out;
    cmk_buf_init(&out);
    const char *head = "POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
                       "Content-Length: 4\r\n\r\n";
    assert_int_equal(cmk_http_session_feed(s, head, strlen(head), &out), CMK_HTTP_BODY);
    assert_string_equal(out.data, "HTTP/1.1 100 Continue\r\n\r\n");
    cmk_buf_reset(&out);
    assert_int_equal(cmk_http_session_feed(s, "abcd", 4, &out), CMK_HTTP_IDLE);
    assert_int_equal(atoi(out.data + 9), 200);
    assert_non_null(strstr(out.data, "\r\n\r\nabcd"));
    cmk_buf_reset(&out);

    const char *h = "HEAD /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    cmk_http_session_feed(s, h, strlen(h), &out);
    /* HEAD is not a GET route here: the router says 405; either way, no body follows */
    assert_non_null(strstr(out.data, "Content-Length: "));
    assert_true(out.len >= 4 && memcmp(out.data + out.len - 4, "\r\n\r\n", 4) == 0);
    cmk_buf_reset(&out);

    /* Connection: close closes after the answer; what follows is dropped */
    const char *c = "GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                    "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(cmk_http_session_feed(s, c, strlen(c), &out), CMK_HTTP_CLOSED);
    int codes[4];
    assert_int_equal(statuses(out.data, codes, 4), 1);
    assert_non_null(strstr(out.data, "Connection: close"));
    cmk_buf_close(&out);
    cmk_http_session_free(s);

    /* HTTP/1.0: closes unless keep-alive was asked for */
    char *o = session("GET /hello HTTP/1.0\r\n\r\n", NULL);
    assert_non_null(strstr(o, "Connection: close"));
    free(o);
    o = session("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", NULL);
    assert_non_null(strstr(o, "Connection: keep-alive"));
    free(o);
}

/* ---- socket level ---- */

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Turn the loop and read what the server sends until pred says enough (or EOF, or ~5 s of
 * polling). Returns 1 if the server closed the connection. */
static int pump_read(int fd, struct cmk_buf *b, int (*pred)(const struct cmk_buf *b, void *arg),
                     void *arg)
{
    for (int i = 0; i < 5000; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n > 0) {
            cmk_buf_append(b, tmp, (size_t)n);
            if (pred && pred(b, arg))
                return 0;
            continue;
        }
        if (n == 0)
            return 1;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return 1; /* reset counts as closed */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 1);
    }
    return 0;
}

static int has_responses(const struct cmk_buf *b, void *arg)
{
    int codes[64];
    return b->data && statuses(b->data, codes, 64) >= *(int *)arg;
}

static void send_all(int fd, const char *s, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        uv_run(&loop, UV_RUN_NOWAIT);
    }
}

static struct cmk_http_server *start_plain(cmk_time_t idle, cmk_time_t header)
{
    struct cmk_http_config cfg = {.addr = "127.0.0.1",
                                  .port = 0,
                                  .max_body = 64 * 1024,
                                  .idle_timeout = idle,
                                  .header_timeout = header};
    struct cmk_http_server *srv;
    struct cmk_err err;
    assert_int_equal(cmk_http_start(&srv, &loop, &clk, &router, &cfg, &err), 0);
    assert_true(cmk_http_port(srv) > 0);
    return srv;
}

static void on_stopped(void *arg)
{
    *(int *)arg = 1;
}

static void stop_server(struct cmk_http_server *srv)
{
    int done = 0;
    cmk_http_stop(srv, on_stopped, &done);
    for (int i = 0; i < 1000 && !done; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_true(done);
}

static void test_socket_keepalive_pipelining(void **state)
{
    struct cmk_http_server *srv = start_plain(0, 0);
    int fd = connect_to(cmk_http_port(srv));
    struct cmk_buf b;
    cmk_buf_init(&b);
    const char *r1 = "GET /items/a HTTP/1.1\r\nHost: localhost\r\n\r\n";
    send_all(fd, r1, strlen(r1));
    int want = 1;
    assert_int_equal(pump_read(fd, &b, has_responses, &want), 0);
    assert_int_equal(atoi(b.data + 9), 200);
    /* same connection, 20 pipelined requests in one write: 20 answers in order */
    cmk_buf_reset(&b);
    struct cmk_buf req;
    cmk_buf_init(&req);
    for (int i = 0; i < 20; i++)
        cmk_buf_printf(&req, "GET /items/%d HTTP/1.1\r\nHost: localhost\r\n\r\n", i);
    send_all(fd, req.data, req.len);
    want = 20;
    assert_int_equal(pump_read(fd, &b, has_responses, &want), 0);
    const char *p = b.data;
    for (int i = 0; i < 20; i++) {
        char body[32];
        snprintf(body, sizeof(body), "\r\n\r\n%d", i);
        const char *q = strstr(p, body);
        assert_non_null(q);
        p = q + 4;
    }
    /* the peer address is the socket's */
    cmk_buf_reset(&b);
    const char *e = "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi";
    send_all(fd, e, strlen(e));
    want = 1;
    pump_read(fd, &b, has_responses, &want);
    assert_non_null(strstr(b.data, "X-Peer: 127.0.0.1\r\n"));
    close(fd);
    cmk_buf_close(&b);
    cmk_buf_close(&req);
    stop_server(srv);
}

static void test_socket_413_is_delivered(void **state)
{
    struct cmk_http_server *srv = start_plain(0, 0);
    int fd = connect_to(cmk_http_port(srv));
    /* the client sends a large body anyway: the 413 must still arrive, then EOF (no reset) */
    struct cmk_buf req;
    cmk_buf_init(&req);
    cmk_buf_puts(&req, "PUT /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 200000\r\n\r\n");
    for (int i = 0; i < 2000; i++)
        cmk_buf_puts(&req, "0123456789012345678901234567890123456789012345678901234567890123456789"
                           "012345678901234567890123456789");
    send(fd, req.data, req.len, MSG_NOSIGNAL); /* as much as fits */
    struct cmk_buf b;
    cmk_buf_init(&b);
    int closed = pump_read(fd, &b, NULL, NULL);
    assert_true(closed);
    assert_int_equal(atoi(b.data + 9), 413);
    close(fd);
    cmk_buf_close(&b);
    cmk_buf_close(&req);
    stop_server(srv);
}

static void test_socket_header_timeout(void **state)
{
    struct cmk_http_server *srv = start_plain(120 * CMK_SECOND, 30 * CMK_SECOND);
    int fd = connect_to(cmk_http_port(srv));
    const char *part = "GET /hello HTTP/1.1\r\nHost: local";
    send_all(fd, part, strlen(part));
    struct cmk_buf b;
    cmk_buf_init(&b);
    for (int i = 0; i < 50; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    /* 29 s: still waiting; the rest of the head arrives byte by byte but that does not help */
    cmk_clock_advance(&clk, 29 * CMK_SECOND);
    send_all(fd, "h", 1);
    for (int i = 0; i < 50; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(recv(fd, (char[8]){0}, 8, 0), -1);
    cmk_clock_advance(&clk, 2 * CMK_SECOND);
    int closed = pump_read(fd, &b, NULL, NULL);
    assert_true(closed);
    assert_int_equal(atoi(b.data + 9), 408);
    assert_non_null(strstr(b.data, "RequestTimeout"));
    close(fd);
    cmk_buf_close(&b);
    stop_server(srv);
}

static void test_socket_idle_timeout(void **state)
{
    struct cmk_http_server *srv = start_plain(120 * CMK_SECOND, 30 * CMK_SECOND);
    int fd = connect_to(cmk_http_port(srv));
    struct cmk_buf b;
    cmk_buf_init(&b);
    const char *r = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    int want = 1;
    send_all(fd, r, strlen(r));
    pump_read(fd, &b, has_responses, &want);
    /* 100 s idle is fine: the connection still answers, and that resets the idle time */
    cmk_clock_advance(&clk, 100 * CMK_SECOND);
    cmk_buf_reset(&b);
    send_all(fd, r, strlen(r));
    assert_int_equal(pump_read(fd, &b, has_responses, &want), 0);
    assert_int_equal(atoi(b.data + 9), 200);
    cmk_clock_advance(&clk, 100 * CMK_SECOND);
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(recv(fd, (char[8]){0}, 8, 0), -1); /* still open at 100 s */
    cmk_clock_advance(&clk, 21 * CMK_SECOND);
    cmk_buf_reset(&b);
    assert_true(pump_read(fd, &b, NULL, NULL)); /* closed at 121 s, without a word */
    assert_int_equal(b.len, 0);
    close(fd);
    cmk_buf_close(&b);
    stop_server(srv);
}

static void test_socket_graceful_stop(void **state)
{
    struct cmk_http_server *srv = start_plain(0, 0);
    int idle = connect_to(cmk_http_port(srv));
    int busy = connect_to(cmk_http_port(srv));
    const char *head = "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\n\r\nabc";
    send_all(busy, head, strlen(head));
    for (int i = 0; i < 50; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    int done = 0;
    cmk_http_stop(srv, on_stopped, &done);
    struct cmk_buf b;
    cmk_buf_init(&b);
    assert_true(pump_read(idle, &b, NULL, NULL)); /* idle: closed at once */
    assert_int_equal(b.len, 0);
    close(idle);
    assert_false(done);
    /* the request in flight is finished and answered with Connection: close */
    send_all(busy, "def", 3);
    assert_true(pump_read(busy, &b, NULL, NULL));
    assert_int_equal(atoi(b.data + 9), 200);
    assert_non_null(strstr(b.data, "Connection: close"));
    assert_non_null(strstr(b.data, "abcdef"));
    close(busy);
    for (int i = 0; i < 100 && !done; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_true(done);
    cmk_buf_close(&b);
}

/* ---- TLS ---- */

static char tmpdir[64];

static void rm_rf(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int file_mode(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/tls/%s", dir, name);
    struct stat st;
    if (stat(p, &st) != 0)
        return -1;
    return (int)(st.st_mode & 0777);
}

/* A TLS client on a non-blocking socket, driven with the loop. Returns the SSL or NULL. */
static SSL *tls_connect(SSL_CTX *ctx, int port, const char *sni, int *fdout)
{
    int fd = connect_to(port);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, sni);
    SSL_set1_host(ssl, sni);
    for (int i = 0; i < 5000; i++) {
        int r = SSL_connect(ssl);
        if (r == 1) {
            *fdout = fd;
            return ssl;
        }
        int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            break;
        uv_run(&loop, UV_RUN_NOWAIT);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 1);
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    return NULL;
}

static int peer_has_san(SSL *ssl, const char *dns)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert == NULL)
        return 0;
    int found = 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS &&
            strcmp((const char *)ASN1_STRING_get0_data(g->d.dNSName), dns) == 0)
            found = 1;
    }
    GENERAL_NAMES_free(names);
    X509_free(cert);
    return found;
}

static void test_tls_sni_and_files(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cmk-test-http-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    /* validity comes from the caller's time; a real client checks it against the real time */
    struct cmk_clock real;
    cmk_clock_init(&real, NULL, CMK_CLOCK_REAL, 0, 0);
    cmk_time_t now = cmk_clock_now(&real);
    cmk_clock_close(&real);

    struct cmk_tls *tls;
    struct cmk_err err;
    assert_int_equal(cmk_tls_open(&tls, tmpdir, &hosts, now, &err), 0);
    assert_int_equal(file_mode(tmpdir, "ca.key"), 0600);
    assert_int_equal(file_mode(tmpdir, "vault.key"), 0600);
    assert_int_equal(file_mode(tmpdir, "management.key"), 0600);
    assert_int_equal(file_mode(tmpdir, "postgres.key"), 0600);
    assert_true(file_mode(tmpdir, "vault.pem") > 0);
    assert_non_null(strstr(cmk_tls_ca_path(tls), "/tls/ca.pem"));

    struct cmk_http_config cfg = {.addr = "127.0.0.1", .tls = cmk_tls_server_ctx(tls)};
    struct cmk_http_server *srv;
    assert_int_equal(cmk_http_start(&srv, &loop, &clk, &router, &cfg, &err), 0);
    int port = cmk_http_port(srv);

    struct {
        const char *sni, *san;
    } cases[] = {
        {"management.azure.com", "management.azure.com"},
        {"x.vault.azure.net", "*.vault.azure.net"},
        {"my-hsm.managedhsm.localhost", "*.managedhsm.localhost"},
        {"login.microsoftonline.com", "login.microsoftonline.com"},
        {"srv1.postgres.database.azure.com", "*.postgres.database.azure.com"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fd;
        SSL *ssl = tls_connect(cmk_tls_client_ctx(tls), port, cases[i].sni, &fd);
        assert_non_null(ssl);
        assert_int_equal(SSL_get_verify_result(ssl), X509_V_OK);
        assert_true(peer_has_san(ssl, cases[i].san));
        SSL_free(ssl);
        close(fd);
    }

    /* a request over TLS, keep-alive: two answers on one connection */
    int fd;
    SSL *ssl = tls_connect(cmk_tls_client_ctx(tls), port, "management.azure.com", &fd);
    assert_non_null(ssl);
    const char *r = "GET /hello HTTP/1.1\r\nHost: management.azure.com\r\n\r\n"
                    "GET /items/7 HTTP/1.1\r\nHost: management.azure.com\r\n\r\n";
    assert_int_equal(SSL_write(ssl, r, (int)strlen(r)), (int)strlen(r));
    struct cmk_buf b;
    cmk_buf_init(&b);
    int want = 2;
    for (int i = 0; i < 5000 && !has_responses(&b, &want); i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        char tmp[4096];
        int n = SSL_read(ssl, tmp, sizeof(tmp));
        if (n > 0)
            cmk_buf_append(&b, tmp, (size_t)n);
        else
            ERR_clear_error();
    }
    assert_true(has_responses(&b, &want));
    assert_non_null(strstr(b.data, "hello"));
    assert_non_null(strstr(b.data, "\r\n\r\n7"));
    cmk_buf_close(&b);
    SSL_free(ssl);
    close(fd);

    /* a client that does not trust the emulator CA fails verification */
    SSL_CTX *strict = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(strict, SSL_VERIFY_PEER, NULL);
    assert_null(tls_connect(strict, port, "management.azure.com", &fd));
    SSL_CTX_free(strict);
    /* the emulator's client context refuses a name the certificate does not carry */
    assert_null(tls_connect(cmk_tls_client_ctx(tls), port, "evil.example.com", &fd));
    stop_server(srv);
    cmk_tls_free(tls);

    /* restart: everything reused */
    char p1[256], p2[256];
    snprintf(p1, sizeof(p1), "%s/tls/ca.pem", tmpdir);
    snprintf(p2, sizeof(p2), "%s/tls/vault.pem", tmpdir);
    char *ca1 = (char *)t_slurp(p1, NULL), *v1 = (char *)t_slurp(p2, NULL);
    assert_int_equal(cmk_tls_open(&tls, tmpdir, &hosts, now + CMK_DAY, &err), 0);
    cmk_tls_free(tls);
    char *ca2 = (char *)t_slurp(p1, NULL), *v2 = (char *)t_slurp(p2, NULL);
    assert_string_equal(ca1, ca2);
    assert_string_equal(v1, v2);
    free(ca2);
    free(v2);
    /* another suffix: leaves re-issued, the CA kept */
    struct cmk_hosts other;
    cmk_hosts_init(&other, "cmk.test");
    assert_int_equal(cmk_tls_open(&tls, tmpdir, &other, now + CMK_DAY, &err), 0);
    cmk_tls_free(tls);
    ca2 = (char *)t_slurp(p1, NULL);
    v2 = (char *)t_slurp(p2, NULL);
    assert_string_equal(ca1, ca2);
    assert_string_not_equal(v1, v2);
    free(v1);
    v1 = v2;
    free(ca2);
    /* 380 days later the leaf expires within 30 days: re-issued */
    assert_int_equal(cmk_tls_open(&tls, tmpdir, &other, now + 380 * CMK_DAY, &err), 0);
    cmk_tls_free(tls);
    v2 = (char *)t_slurp(p2, NULL);
    assert_string_not_equal(v1, v2);
    free(ca1);
    free(v1);
    free(v2);
    rm_rf(tmpdir);
}

/* ---- TLS private keys at rest ---- */

/* The sealed key DIR/tls/NAME.key, opened as tls.c does. */
static EVP_PKEY *tls_key(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/tls/%s.key", dir, name);
    struct cmk_rootkey rk;
    struct cmk_err err;
    assert_int_equal(cmk_rootkey_load(&rk, dir, &err), 0);
    EVP_PKEY *k = NULL;
    assert_int_equal(cmk_rootkey_read_pkey(&rk, CMK_TLS_KEY_LABEL, path, &k, &err), 0);
    cmk_rootkey_wipe(&rk);
    assert_non_null(k);
    return k;
}

static X509 *tls_cert(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/tls/%s.pem", dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static const char *const key_names[] = {"ca",         "management", "login", "vault",
                                        "managedhsm", "postgres",   "graph"};

/* Every private key under dir/tls is sealed: mode 0600, opens under the root key, matches its
 * certificate, and is nowhere in clear; no file holds a PEM private key. */
static void assert_tls_keys_sealed(const char *dir)
{
    assert_int_equal(t_files_holding(dir, "PRIVATE KEY", 11), 0);
    for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s.key", key_names[i]);
        assert_int_equal(file_mode(dir, name), 0600);
        snprintf(name, sizeof(name), "%s.pem", key_names[i]);
        assert_int_equal(file_mode(dir, name), 0644);
        EVP_PKEY *k = tls_key(dir, key_names[i]);
        X509 *x = tls_cert(dir, key_names[i]);
        assert_int_equal(X509_check_private_key(x, k), 1);
        t_assert_key_not_in_clear(dir, k);
        X509_free(x);
        EVP_PKEY_free(k);
    }
}

static void test_tls_keys_sealed(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cmk-test-tlskeys-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    struct cmk_tls *tls = NULL;
    struct cmk_err err;
    assert_int_equal(cmk_tls_open(&tls, tmpdir, &hosts, START, &err), 0);
    cmk_tls_free(tls);
    assert_tls_keys_sealed(tmpdir);

    /* reopen: the same CA (certificate and key) and the same leaf keys */
    char capem[256];
    snprintf(capem, sizeof(capem), "%s/tls/ca.pem", tmpdir);
    size_t ca_n = 0;
    unsigned char *ca1 = t_slurp(capem, &ca_n);
    EVP_PKEY *cakey = tls_key(tmpdir, "ca"), *vkey = tls_key(tmpdir, "vault");
    assert_int_equal(cmk_tls_open(&tls, tmpdir, &hosts, START + CMK_DAY, &err), 0);
    cmk_tls_free(tls);
    size_t n = 0;
    unsigned char *ca2 = t_slurp(capem, &n);
    assert_int_equal(n, ca_n);
    assert_memory_equal(ca1, ca2, n);
    free(ca2);
    EVP_PKEY *k = tls_key(tmpdir, "ca");
    assert_int_equal(EVP_PKEY_eq(k, cakey), 1);
    EVP_PKEY_free(k);
    k = tls_key(tmpdir, "vault");
    assert_int_equal(EVP_PKEY_eq(k, vkey), 1);
    EVP_PKEY_free(k);

    /* one byte altered in a sealed key: the open stops, naming the file; nothing is replaced */
    const char *victims[] = {"ca.key", "vault.key"};
    for (size_t i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/tls/%s", tmpdir, victims[i]);
        size_t len = 0;
        unsigned char *good = t_slurp(path, &len);
        unsigned char *bad = malloc(len);
        memcpy(bad, good, len);
        bad[len / 2] ^= 0x20;
        t_spill(path, bad, len);
        tls = NULL;
        cmk_err_clear(&err);
        assert_int_equal(cmk_tls_open(&tls, tmpdir, &hosts, START + CMK_DAY, &err), CMK_ECRYPTO);
        assert_null(tls);
        assert_non_null(strstr(err.message, path));
        assert_non_null(strstr(err.message, "does not open"));
        size_t m = 0;
        unsigned char *now = t_slurp(path, &m);
        assert_int_equal(m, len);
        assert_memory_equal(now, bad, len);
        free(now);
        ca2 = t_slurp(capem, &n);
        assert_memory_equal(ca1, ca2, ca_n);
        free(ca2);
        t_spill(path, good, len); /* restored: opens again, same CA */
        assert_int_equal(cmk_tls_open(&tls, tmpdir, &hosts, START + CMK_DAY, &err), 0);
        cmk_tls_free(tls);
        ca2 = t_slurp(capem, &n);
        assert_memory_equal(ca1, ca2, ca_n);
        free(ca2);
        free(bad);
        free(good);
    }

    /* a leaf key in clear (an older version): deleted unread, a new sealed key and leaf */
    char path[256];
    snprintf(path, sizeof(path), "%s/tls/vault.key", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, vkey, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(t_files_holding(tmpdir, "PRIVATE KEY", 11), 1); /* the scan sees it */
    assert_int_equal(cmk_tls_open(&tls, tmpdir, &hosts, START + CMK_DAY, &err), 0);
    cmk_tls_free(tls);
    k = tls_key(tmpdir, "vault");
    assert_int_equal(EVP_PKEY_eq(k, vkey), 0);
    EVP_PKEY_free(k);
    ca2 = t_slurp(capem, &n);
    assert_memory_equal(ca1, ca2, ca_n); /* the CA stays */
    free(ca2);
    assert_tls_keys_sealed(tmpdir);
    t_assert_key_not_in_clear(tmpdir, vkey);

    /* the CA key in clear: deleted unread, so a new CA (clients must trust the new ca.pem)
     * and new leaves signed by it */
    snprintf(path, sizeof(path), "%s/tls/ca.key", tmpdir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, cakey, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(cmk_tls_open(&tls, tmpdir, &hosts, START + CMK_DAY, &err), 0);
    cmk_tls_free(tls);
    ca2 = t_slurp(capem, &n);
    assert_false(n == ca_n && memcmp(ca1, ca2, n) == 0);
    free(ca2);
    k = tls_key(tmpdir, "ca");
    assert_int_equal(EVP_PKEY_eq(k, cakey), 0);
    X509 *leaf = tls_cert(tmpdir, "vault");
    assert_int_equal(X509_verify(leaf, k), 1);
    X509_free(leaf);
    EVP_PKEY_free(k);
    assert_tls_keys_sealed(tmpdir);
    t_assert_key_not_in_clear(tmpdir, cakey);

    EVP_PKEY_free(cakey);
    EVP_PKEY_free(vkey);
    free(ca1);
    rm_rf(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keepalive_and_date, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelining_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_431_header_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_413_before_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_400_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_body_and_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue_and_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_keepalive_pipelining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_413_is_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_header_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_graceful_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_sni_and_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_keys_sealed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
