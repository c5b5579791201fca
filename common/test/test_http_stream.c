/* test_http_stream.c: streaming responses (router.h, cmk_response_stream) as a client sees
 * them: the head without Content-Length, bytes pushed later by the stream's owner arriving as
 * they are written, the owner told when the client goes away, cmk_stream_end closing the
 * connection, no idle timeout on a stream, and the in-process door never opening one.
 * A plaintext server on 127.0.0.1 port 0 on a virtual clock, driven from this thread. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/http.h"

#define START ((cmk_time_t)1767225600000)

static uv_loop_t loop;
static struct cmk_clock clk;
static struct cmk_hosts hosts;
static struct cmk_router router;
static struct cmk_http_server *srv;

static struct cmk_stream *open_stream;
static int opened, closed_count;

static void on_stream_closed(void *data)
{
    (void)data;
    closed_count++;
    open_stream = NULL;
}

static void on_open(struct cmk_stream *st, void *data)
{
    (void)data;
    opened++;
    open_stream = st;
    cmk_stream_on_close(st, on_stream_closed, NULL);
    const char hello[] = "retry: 1000\n\n";
    assert_int_equal(cmk_stream_write(st, hello, sizeof(hello) - 1), 0);
}

static void h_events(struct cmk_request *req, struct cmk_response *res, void *data)
{
    (void)req;
    cmk_response_stream(res, 200, "text/event-stream", on_open, data);
}

static void spin(int n)
{
    for (int i = 0; i < n; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        poll(NULL, 0, 2);
    }
}

static int client(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(cmk_http_port(srv))};
    a.sin_addr.s_addr = htonl(0x7f000001);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    assert_true(rc == 0 || errno == EINPROGRESS);
    spin(5);
    return fd;
}

/* Read what is there after turning the loop (appended to buf). */
static size_t collect(int fd, char *buf, size_t cap, size_t have)
{
    for (int i = 0; i < 50; i++) {
        spin(2);
        ssize_t n = recv(fd, buf + have, cap - 1 - have, 0);
        if (n > 0)
            have += (size_t)n;
        else if (n == 0)
            break;
    }
    buf[have] = '\0';
    return have;
}

static int setup(void **state)
{
    (void)state;
    uv_loop_init(&loop);
    cmk_clock_init(&clk, &loop, CMK_CLOCK_VIRTUAL, START, 0);
    cmk_hosts_init(&hosts, "localhost");
    cmk_router_init(&router, &hosts);
    cmk_router_add(&router, CMK_HOST_MGMT, "GET", "/events", h_events, NULL);
    struct cmk_http_config cfg = {.addr = "127.0.0.1", .port = 0};
    struct cmk_err err;
    assert_int_equal(cmk_http_start(&srv, &loop, &clk, &router, &cfg, &err), 0);
    opened = closed_count = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cmk_http_stop(srv, NULL, NULL);
    spin(20);
    cmk_router_close(&router);
    cmk_clock_close(&clk);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    return 0;
}

static void test_stream_pushes_and_closes(void **state)
{
    (void)state;
    int fd = client();
    const char req[] = "GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof(req) - 1, 0), (ssize_t)(sizeof(req) - 1));
    char buf[4096];
    size_t n = collect(fd, buf, sizeof(buf), 0);
    assert_int_equal(opened, 1);
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(buf, "content-type: text/event-stream\r\n"));
    assert_null(strstr(buf, "Content-Length"));
    assert_non_null(strstr(buf, "\r\n\r\nretry: 1000\n\n"));

    /* a week of clock time: a stream has no idle timeout */
    cmk_clock_advance(&clk, 7 * CMK_DAY);
    const char ev[] = "event: server.state\ndata: {\"to\":\"Inaccessible\"}\n\n";
    assert_non_null(open_stream);
    assert_int_equal(cmk_stream_write(open_stream, ev, sizeof(ev) - 1), 0);
    assert_string_equal(cmk_stream_peer(open_stream), "127.0.0.1");
    n = collect(fd, buf, sizeof(buf), n);
    assert_non_null(strstr(buf, ev));

    /* the client goes away: the owner hears of it once */
    close(fd);
    spin(20);
    assert_int_equal(closed_count, 1);
    assert_null(open_stream);
}

static void test_stream_end_closes_connection(void **state)
{
    (void)state;
    int fd = client();
    const char req[] = "GET /events HTTP/1.1\r\nHost: localhost\r\n\r\nGET /events HTTP/1.1\r\n"
                       "Host: localhost\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof(req) - 1, 0), (ssize_t)(sizeof(req) - 1));
    char buf[4096];
    size_t n = collect(fd, buf, sizeof(buf), 0);
    assert_int_equal(opened, 1); /* the pipelined second request is not served */
    assert_non_null(open_stream);
    cmk_stream_write(open_stream, "data: bye\n\n", 11);
    cmk_stream_end(open_stream);
    n = collect(fd, buf, sizeof(buf), n);
    assert_non_null(strstr(buf, "data: bye\n\n"));
    assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0); /* EOF */
    close(fd); /* the server lingers until the client closes too */
    spin(20);
    assert_int_equal(closed_count, 1);
}

static void test_inprocess_door_never_opens(void **state)
{
    (void)state;
    struct cmk_request req;
    struct cmk_response res;
    struct cmk_origin o = {.kind = CMK_ORIGIN_INPROC, .addr = "127.0.0.1"};
    assert_int_equal(cmk_request_init(&req, "GET", "https://management.localhost/events", &o), 0);
    cmk_response_init(&res);
    cmk_router_dispatch(&router, &req, &res);
    assert_int_equal(res.status, 200);
    assert_non_null(res.stream_open);
    assert_int_equal(opened, 0);
    cmk_response_close(&res);
    cmk_request_close(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stream_pushes_and_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_end_closes_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inprocess_door_never_opens, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
