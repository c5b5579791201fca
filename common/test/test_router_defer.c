/* test_router_defer.c: deferred responses (router.h, cmk_request_defer) as a client sees them.
 *
 * A real HTTP server on 127.0.0.1 port 0 with a real clock (deferral is off in virtual mode),
 * driven from this thread: non-blocking client sockets and UV_RUN_NOWAIT turns of the loop.
 * The route /slow/{n} defers its work to libuv's thread pool; the work can be held at a gate
 * (a semaphore the test opens), so a request is provably on a worker while the test pipelines
 * more requests, closes the connection or stops the server. The pool has one thread
 * (UV_THREADPOOL_SIZE=1, set before first use), so a second deferred request waits in the
 * queue and can be cancelled. Checked: responses of one keep-alive connection come in request
 * order and the next request is not even dispatched before the deferred answer; a FIN after
 * the request still gets the answer; a reset connection leaves the work to finish (or be
 * cancelled) and be freed with nobody answered (ASan checks the frees); a graceful stop
 * answers the queued request with the cancellation error, waits for the running one, then
 * completes; in-process requests and a session without a loop run the work inline.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "common/http_session.h"

static uv_loop_t loop;
static struct cmk_clock clk;
static struct cmk_hosts hosts;
static struct cmk_router router;

static uv_sem_t gate;    /* a gated job waits here on its worker */
static uv_sem_t started; /* posted by every job as its work starts */
static int work_runs;    /* jobs whose work ran (read on the loop after their completion) */
static int done_calls, done_cancelled, deferred_calls;
static char events[1024]; /* "D:name " at dispatch, "C:name " at completion, in order */

struct job {
    char name[32];
    int gated;
    char result[48]; /* written by the worker */
};

static void event(const char *kind, const char *name)
{
    size_t n = strlen(events);
    snprintf(events + n, sizeof(events) - n, "%s:%s ", kind, name);
}

static void slow_work(void *arg)
{
    struct job *j = arg;
    uv_sem_post(&started);
    if (j->gated)
        uv_sem_wait(&gate);
    snprintf(j->result, sizeof(j->result), "%s", j->name);
    __atomic_add_fetch(&work_runs, 1, __ATOMIC_SEQ_CST);
}

static void slow_done(struct cmk_request *req, struct cmk_response *res, void *arg, int rc)
{
    struct job *j = arg;
    event("C", j->name);
    done_calls++;
    if (rc != 0) {
        struct cmk_err err;
        done_cancelled++;
        cmk_err_set(&err, rc, 503, "ServiceUnavailable", "cancelled %s", j->name);
        cmk_response_error(res, &err);
    } else {
        cmk_response_text(res, 200, "text/plain", j->result);
        cmk_response_header(res, "X-Path", req->path); /* req is still the request */
    }
    free(j);
}

static void h_slow(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct job *j = calloc(1, sizeof(*j));
    snprintf(j->name, sizeof(j->name), "slow-%s", cmk_request_param(req, "n"));
    j->gated = cmk_request_query(req, "gate") != NULL;
    event("D", j->name);
    deferred_calls += cmk_request_defer(req, res, slow_work, slow_done, j);
}

static void h_fast(struct cmk_request *req, struct cmk_response *res, void *data)
{
    char name[32];
    snprintf(name, sizeof(name), "fast-%s", cmk_request_param(req, "n"));
    event("D", name);
    cmk_response_text(res, 200, "text/plain", name);
}

static int setup(void **state)
{
    uv_loop_init(&loop);
    cmk_clock_init(&clk, &loop, CMK_CLOCK_REAL, 0, 0);
    cmk_hosts_init(&hosts, "localhost");
    cmk_router_init(&router, &hosts);
    cmk_router_add(&router, CMK_HOST_MGMT, "*", "/slow/{n}", h_slow, NULL);
    cmk_router_add(&router, CMK_HOST_MGMT, "GET", "/fast/{n}", h_fast, NULL);
    uv_sem_init(&gate, 0);
    uv_sem_init(&started, 0);
    work_runs = done_calls = done_cancelled = deferred_calls = 0;
    events[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    cmk_router_close(&router);
    cmk_clock_close(&clk);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0); /* no work or handle left behind */
    uv_sem_destroy(&gate);
    uv_sem_destroy(&started);
    return 0;
}

/* ---- client helpers ---- */

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t off = 0, len = strlen(s);
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

/* One turn of the loop, then wait up to 1 ms for the socket (or just 1 ms). */
static void turn(int fd)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, fd >= 0 ? 1 : 0, 1);
}

/* Turn the loop until *flag is non-zero (or ~5 s). */
static void turn_until(const int *flag)
{
    for (int i = 0; i < 5000 && !*flag; i++)
        turn(-1);
    assert_true(*flag);
}

/* A job's work has started on the worker (the loop keeps turning meanwhile). */
static void wait_started(void)
{
    for (int i = 0; i < 5000; i++) {
        if (uv_sem_trywait(&started) == 0)
            return;
        turn(-1);
    }
    fail_msg("the deferred work did not start");
}

/* Responses in b whose head and whole body (Content-Length) have arrived. */
static int count_responses(const struct cmk_buf *b)
{
    int n = 0;
    const char *p = b->data, *end = b->data + b->len;
    while (p && p < end && (p = strstr(p, "HTTP/1.1 ")) != NULL) {
        const char *head_end = strstr(p, "\r\n\r\n");
        if (head_end == NULL)
            break;
        const char *cl = strstr(p, "Content-Length: ");
        size_t len = cl && cl < head_end ? strtoul(cl + 16, NULL, 10) : 0;
        if ((size_t)(end - (head_end + 4)) < len)
            break;
        n++;
        p = head_end + 4 + len;
    }
    return n;
}

/* Read until want complete responses are in (want 0: until the server closes; or ~5 s).
 * Returns 1 if the server closed the connection. */
static int read_responses(int fd, struct cmk_buf *b, int want)
{
    for (int i = 0; i < 5000; i++) {
        char tmp[16384];
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n > 0) {
            cmk_buf_append(b, tmp, (size_t)n);
            if (want > 0 && count_responses(b) >= want)
                return 0;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            return 1;
        turn(fd);
    }
    return 0;
}

/* Nothing arrives within a few turns of the loop. */
static void assert_silent(int fd, int turns)
{
    for (int i = 0; i < turns; i++) {
        char tmp[256];
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        turn(fd);
    }
}

/* Close with a reset (SO_LINGER 0): the server sees ECONNRESET, not a FIN. */
static void reset_close(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

static struct cmk_http_server *start_server(void)
{
    struct cmk_http_config cfg = {.addr = "127.0.0.1", .port = 0};
    struct cmk_http_server *srv;
    struct cmk_err err;
    assert_int_equal(cmk_http_start(&srv, &loop, &clk, &router, &cfg, &err), 0);
    return srv;
}

static void on_stopped(void *arg)
{
    *(int *)arg = 1;
}

static void stop_server(struct cmk_http_server *srv)
{
    int stopped = 0;
    cmk_http_stop(srv, on_stopped, &stopped);
    turn_until(&stopped);
}

/* The i-th response's body (after the blank line), or NULL. */
static const char *body_of(const struct cmk_buf *b, int i)
{
    const char *p = b->data;
    for (int k = 0; p && k <= i; k++) {
        p = strstr(p, "HTTP/1.1 ");
        if (p && k < i)
            p += 9;
    }
    p = p ? strstr(p, "\r\n\r\n") : NULL;
    return p ? p + 4 : NULL;
}

/* ---- tests ---- */

/* Pipelined on one keep-alive connection: slow (gated), fast, slow, fast. Nothing is answered
 * and the fast request is not even dispatched while the first is on its worker; bytes that
 * arrive meanwhile are held; then all four come back in request order. */
static void test_keepalive_order(void **state)
{
    struct cmk_http_server *srv = start_server();
    int fd = connect_to(cmk_http_port(srv));
    send_all(fd, "GET /slow/1?gate HTTP/1.1\r\nHost: localhost\r\n\r\n"
                 "GET /fast/2 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                 "GET /slow/3 HTTP/1.1\r\nHost: loc");
    wait_started();
    assert_silent(fd, 20);
    send_all(fd, "alhost\r\n\r\nGET /fast/4 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_silent(fd, 20);
    assert_string_equal(events, "D:slow-1 ");
    uv_sem_post(&gate);
    struct cmk_buf b;
    cmk_buf_init(&b);
    assert_int_equal(read_responses(fd, &b, 4), 0);
    assert_int_equal(count_responses(&b), 4);
    assert_true(strncmp(body_of(&b, 0), "slow-1", 6) == 0);
    assert_true(strncmp(body_of(&b, 1), "fast-2", 6) == 0);
    assert_true(strncmp(body_of(&b, 2), "slow-3", 6) == 0);
    assert_true(strncmp(body_of(&b, 3), "fast-4", 6) == 0);
    assert_non_null(strstr(b.data, "X-Path: /slow/3\r\n"));
    assert_null(strstr(b.data, "Connection: close"));
    assert_string_equal(events, "D:slow-1 C:slow-1 D:fast-2 D:slow-3 C:slow-3 D:fast-4 ");
    assert_int_equal(deferred_calls, 2);
    /* the connection is still good for more */
    cmk_buf_reset(&b);
    send_all(fd, "POST /slow/5 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(read_responses(fd, &b, 1), 0);
    assert_int_equal(atoi(b.data + 9), 200);
    close(fd);
    stop_server(srv);
    cmk_buf_close(&b);
}

/* The client sends its request and a FIN at once: the deferred answer still goes out, then
 * the server closes. */
static void test_fin_while_pending(void **state)
{
    struct cmk_http_server *srv = start_server();
    int fd = connect_to(cmk_http_port(srv));
    send_all(fd, "GET /slow/7?gate HTTP/1.1\r\nHost: localhost\r\n\r\n"
                 "GET /fast/8 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    shutdown(fd, SHUT_WR);
    wait_started();
    assert_silent(fd, 20);
    uv_sem_post(&gate);
    struct cmk_buf b;
    cmk_buf_init(&b);
    assert_true(read_responses(fd, &b, 0)); /* read until the server closes */
    assert_int_equal(count_responses(&b), 2);
    assert_true(strncmp(body_of(&b, 0), "slow-7", 6) == 0);
    assert_true(strncmp(body_of(&b, 1), "fast-8", 6) == 0);
    close(fd);
    stop_server(srv);
    cmk_buf_close(&b);
}

/* The client resets the connection while its work runs: the connection and its session go at
 * once (the server stops without waiting); the work finishes later, its completion runs and
 * everything is freed with nobody to answer. */
static void test_disconnect_while_running(void **state)
{
    struct cmk_http_server *srv = start_server();
    int fd = connect_to(cmk_http_port(srv));
    send_all(fd, "GET /slow/9?gate HTTP/1.1\r\nHost: localhost\r\n\r\n");
    wait_started();
    reset_close(fd);
    stop_server(srv); /* completes: the connection is gone although its work is not */
    assert_int_equal(done_calls, 0);
    uv_sem_post(&gate);
    turn_until(&done_calls);
    assert_int_equal(done_cancelled, 0);
    assert_int_equal(__atomic_load_n(&work_runs, __ATOMIC_SEQ_CST), 1);
}

/* Two connections; the one pool thread holds the first job, so the second waits in the queue.
 * The second client resets: its work is cancelled (never runs), its completion still runs
 * (with CMK_EUNAVAIL) and frees everything. The first is answered normally afterwards. */
static void test_disconnect_while_queued(void **state)
{
    struct cmk_http_server *srv = start_server();
    int a = connect_to(cmk_http_port(srv));
    int b = connect_to(cmk_http_port(srv));
    send_all(a, "GET /slow/10?gate HTTP/1.1\r\nHost: localhost\r\n\r\n");
    wait_started();
    send_all(b, "GET /slow/11 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    for (int i = 0; i < 50 && deferred_calls < 2; i++)
        turn(-1);
    assert_int_equal(deferred_calls, 2);
    reset_close(b);
    turn_until(&done_calls); /* the cancelled one completes at once */
    assert_int_equal(done_cancelled, 1);
    assert_non_null(strstr(events, "C:slow-11"));
    uv_sem_post(&gate);
    struct cmk_buf buf;
    cmk_buf_init(&buf);
    assert_int_equal(read_responses(a, &buf, 1), 0);
    assert_true(strncmp(body_of(&buf, 0), "slow-10", 7) == 0);
    assert_int_equal(__atomic_load_n(&work_runs, __ATOMIC_SEQ_CST), 1); /* 11 never ran */
    close(a);
    stop_server(srv);
    cmk_buf_close(&buf);
}

/* A graceful stop with one request running and one queued: the queued one is cancelled and
 * answered with the handler's error and "Connection: close"; the stop waits for the running
 * one, which is answered with "Connection: close"; then the stop completes. */
static void test_shutdown_while_pending(void **state)
{
    struct cmk_http_server *srv = start_server();
    int a = connect_to(cmk_http_port(srv));
    int b = connect_to(cmk_http_port(srv));
    send_all(a, "GET /slow/12?gate HTTP/1.1\r\nHost: localhost\r\n\r\n");
    wait_started();
    send_all(b, "GET /slow/13 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    for (int i = 0; i < 50 && deferred_calls < 2; i++)
        turn(-1);
    assert_int_equal(deferred_calls, 2);
    int stopped = 0;
    cmk_http_stop(srv, on_stopped, &stopped);
    struct cmk_buf rb;
    cmk_buf_init(&rb);
    assert_true(read_responses(b, &rb, 0)); /* answered, then closed */
    assert_int_equal(atoi(rb.data + 9), 503);
    assert_non_null(strstr(rb.data, "Connection: close"));
    assert_non_null(strstr(rb.data, "cancelled slow-13"));
    close(b);
    assert_false(stopped); /* a is still being computed */
    uv_sem_post(&gate);
    struct cmk_buf ra;
    cmk_buf_init(&ra);
    assert_true(read_responses(a, &ra, 0));
    assert_int_equal(atoi(ra.data + 9), 200);
    assert_non_null(strstr(ra.data, "Connection: close"));
    assert_true(strncmp(body_of(&ra, 0), "slow-12", 7) == 0);
    close(a);
    turn_until(&stopped);
    assert_int_equal(done_calls, 2);
    assert_int_equal(done_cancelled, 1);
    cmk_buf_close(&ra);
    cmk_buf_close(&rb);
}

/* The in-process door and a session without a loop (virtual mode, fuzz drivers): the work and
 * the completion run inline, before cmk_request_defer returns. */
static void test_inline_without_socket_door(void **state)
{
    struct cmk_request req;
    struct cmk_response res;
    assert_int_equal(cmk_request_init(&req, "GET", "http://localhost/slow/20", NULL), 0);
    cmk_response_init(&res);
    cmk_router_dispatch(&router, &req, &res);
    assert_int_equal(deferred_calls, 0);
    assert_int_equal(done_calls, 1);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body.len, 7);
    assert_memory_equal(res.body.data, "slow-20", 7);
    cmk_response_close(&res);
    cmk_request_close(&req);

    struct cmk_http_session *s = cmk_http_session_new(&router, &clk, NULL, "10.0.0.1");
    struct cmk_buf out;
    cmk_buf_init(&out);
    const char *in = "GET /slow/21 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                     "GET /fast/22 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(cmk_http_session_feed(s, in, strlen(in), &out), CMK_HTTP_IDLE);
    assert_int_equal(count_responses(&out), 2);
    assert_true(strncmp(body_of(&out, 0), "slow-21", 7) == 0);
    assert_int_equal(deferred_calls, 0);
    assert_string_equal(events, "D:slow-20 C:slow-20 D:slow-21 C:slow-21 D:fast-22 ");
    cmk_http_session_free(s);
    cmk_buf_close(&out);
}

int main(void)
{
    /* one pool thread: a second deferred request waits in the queue (cancellable) */
    setenv("UV_THREADPOOL_SIZE", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keepalive_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fin_while_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_while_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_while_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_without_socket_door, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
