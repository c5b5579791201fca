/* test_proxy.c: the CONNECT proxy as a client sees it: which CONNECTs are tunnelled and which
 * are refused (403 with a reason), plain-HTTP proxying refused, bytes sent eagerly after the
 * CONNECT head delivered, half-close passed through, *.postgres:5432 sent to the PostgreSQL
 * port. The "TLS listener" behind the proxy is a plaintext HTTP server here: the proxy only
 * splices bytes, so the answers show where a tunnel ended up.
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

#define START ((cmk_time_t)1767225600000)

static uv_loop_t loop;
static struct cmk_clock clk;
static struct cmk_hosts hosts;
static struct cmk_router router;
static struct cmk_http_server *https, *pg;
static struct cmk_proxy *proxy;

static void h_where(struct cmk_request *req, struct cmk_response *res, void *data)
{
    char text[128];
    snprintf(text, sizeof(text), "%s host=%s", (const char *)data, req->host);
    cmk_response_text(res, 200, "text/plain", text);
}

static void start_proxy(int pg_port)
{
    struct cmk_proxy_config pc = {.addr = "127.0.0.1",
                                  .hosts = &hosts,
                                  .tls_addr = "0.0.0.0", /* a wildcard listen means loopback */
                                  .tls_port = cmk_http_port(https),
                                  .pg_port = pg_port};
    struct cmk_err err;
    assert_int_equal(cmk_proxy_start(&proxy, &loop, &clk, &pc, &err), 0);
    assert_true(cmk_proxy_port(proxy) > 0);
}

static int setup(void **state)
{
    uv_loop_init(&loop);
    cmk_clock_init(&clk, &loop, CMK_CLOCK_VIRTUAL, START, 0);
    cmk_hosts_init(&hosts, "localhost");
    cmk_router_init(&router, &hosts);
    static struct cmk_router pgrouter;
    cmk_router_init(&pgrouter, &hosts);
    cmk_router_add(&router, CMK_HOST_MGMT, "GET", "/where", h_where, "https");
    cmk_router_add(&router, CMK_HOST_VAULT, "GET", "/where", h_where, "https");
    cmk_router_add(&pgrouter, CMK_HOST_PG, "GET", "/where", h_where, "pg");
    struct cmk_http_config cfg = {.addr = "127.0.0.1"};
    struct cmk_err err;
    assert_int_equal(cmk_http_start(&https, &loop, &clk, &router, &cfg, &err), 0);
    assert_int_equal(cmk_http_start(&pg, &loop, &clk, &pgrouter, &cfg, &err), 0);
    *state = &pgrouter;
    return 0;
}

static void on_stopped(void *arg)
{
    (*(int *)arg)++;
}

static int teardown(void **state)
{
    int done = 0;
    if (proxy)
        cmk_proxy_stop(proxy, on_stopped, &done);
    else
        done++;
    cmk_http_stop(https, on_stopped, &done);
    cmk_http_stop(pg, on_stopped, &done);
    for (int i = 0; i < 1000 && done < 3; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(done, 3);
    proxy = NULL;
    cmk_router_close(&router);
    cmk_router_close(*state);
    cmk_clock_close(&clk);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Turn the loop and collect bytes until needle shows up or the peer closes. Returns 1 on EOF. */
static int pump(int fd, struct cmk_buf *b, const char *needle)
{
    for (int i = 0; i < 5000; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        char tmp[8192];
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n > 0) {
            cmk_buf_append(b, tmp, (size_t)n);
            if (needle && strstr(b->data, needle))
                return 0;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            return 1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 1);
    }
    return 0;
}

/* Send req to the proxy; return everything that comes back until the proxy closes or needle. */
static char *proxy_exchange(const char *req, const char *needle)
{
    int fd = connect_to(cmk_proxy_port(proxy));
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    struct cmk_buf b;
    cmk_buf_init(&b);
    pump(fd, &b, needle);
    close(fd);
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    cmk_buf_reserve(&b, 0);
    return cmk_buf_take(&b, NULL);
}

static void test_tunnel_to_own_hosts(void **state)
{
    start_proxy(0);
    struct {
        const char *authority, *host;
    } ok[] = {
        {"management.azure.com:443", "management.azure.com"},
        {"myvault.vault.azure.net:443", "myvault.vault.azure.net"},
        {"MyVault.Vault.Azure.Net:443", "myvault.vault.azure.net"},
        {"myvault.vault.localhost:443", "myvault.vault.localhost"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char req[512];
        /* the request rides in the same packet as the CONNECT head: it must not be lost */
        snprintf(req, sizeof(req),
                 "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n"
                 "GET /where HTTP/1.1\r\nHost: %s\r\n\r\n",
                 ok[i].authority, ok[i].authority, ok[i].host);
        char want[256];
        snprintf(want, sizeof(want), "https host=%s", ok[i].host);
        char *out = proxy_exchange(req, want);
        assert_memory_equal(out, "HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK", 53);
        assert_non_null(strstr(out, want));
        free(out);
    }
    /* loopback names, only on cmksim's own port */
    char req[256];
    snprintf(req, sizeof(req),
             "CONNECT 127.0.0.1:%d HTTP/1.1\r\n\r\nGET /where HTTP/1.1\r\nHost: localhost\r\n\r\n",
             cmk_http_port(https));
    char *out = proxy_exchange(req, "https host=localhost");
    assert_non_null(strstr(out, "https host=localhost"));
    free(out);
}

static void test_refusals(void **state)
{
    start_proxy(0);
    struct {
        const char *req, *status, *reason;
    } bad[] = {
        {"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "403",
         "cmksim only serves its own hosts"},
        {"CONNECT vault.azure.net:443 HTTP/1.1\r\n\r\n", "403", "cmksim only serves its own hosts"},
        {"CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n", "403", "never connects anywhere else"},
        {"CONNECT localhost:22 HTTP/1.1\r\n\r\n", "403", "only tunnels to cmksim's own listeners"},
        {"CONNECT [::1]:22 HTTP/1.1\r\n\r\n", "403", "only tunnels to cmksim's own listeners"},
        {"CONNECT myvault.vault.azure.net:8443 HTTP/1.1\r\n\r\n", "403", "on port 443 only"},
        {"CONNECT s1.postgres.database.azure.com:5432 HTTP/1.1\r\n\r\n", "403",
         "no PostgreSQL listener is running"},
        {"CONNECT myvault.vault.azure.net HTTP/1.1\r\n\r\n", "400", "CONNECT host:port"},
        {"CONNECT myvault.vault.azure.net:99999 HTTP/1.1\r\n\r\n", "400", "CONNECT host:port"},
        {"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", "403",
         "never forwards plain HTTP requests"},
        {"GET http://management.azure.com/where HTTP/1.1\r\nHost: management.azure.com\r\n\r\n",
         "403", "never forwards plain HTTP requests"},
        {"GET /where HTTP/1.1\r\nHost: localhost\r\n\r\n", "403", "only CONNECT is accepted"},
        {"\x16\x03\x01garbage\r\n\r\n", "400", "could not parse"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = proxy_exchange(bad[i].req, NULL);
        char want[32];
        snprintf(want, sizeof(want), "HTTP/1.1 %s ", bad[i].status);
        assert_memory_equal(out, want, strlen(want));
        assert_non_null(strstr(out, bad[i].reason));
        assert_non_null(strstr(out, "Connection: close"));
        free(out);
    }
    /* a head that never ends */
    struct cmk_buf big;
    cmk_buf_init(&big);
    cmk_buf_puts(&big, "CONNECT management.azure.com:443 HTTP/1.1\r\nX: ");
    for (int i = 0; i < 9000; i++)
        cmk_buf_puts(&big, "a");
    char *out = proxy_exchange(big.data, NULL);
    assert_memory_equal(out, "HTTP/1.1 431 ", 13);
    free(out);
    cmk_buf_close(&big);
}

static void test_postgres_port_and_half_close(void **state)
{
    start_proxy(cmk_http_port(pg));
    /* *.postgres on 5432 goes to the PostgreSQL listener; the client half-closes after its
     * request, the answer still comes back, then the tunnel ends */
    int fd = connect_to(cmk_proxy_port(proxy));
    const char *req = "CONNECT s1.postgres.database.azure.com:5432 HTTP/1.1\r\n\r\n"
                      "GET /where HTTP/1.1\r\nHost: s1.postgres.database.azure.com\r\n\r\n";
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    struct cmk_buf b;
    cmk_buf_init(&b);
    pump(fd, &b, "Connection established\r\n\r\n");
    shutdown(fd, SHUT_WR);
    assert_true(pump(fd, &b, NULL)); /* everything, then EOF */
    assert_non_null(strstr(b.data, "pg host=s1.postgres.database.azure.com"));
    close(fd);
    cmk_buf_close(&b);
    /* the PostgreSQL port on a loopback name is one of cmksim's own listeners too */
    char r2[256];
    snprintf(r2, sizeof(r2),
             "CONNECT localhost:%d HTTP/1.1\r\n\r\nGET /where HTTP/1.1\r\nHost: "
             "x.postgres.localhost\r\n\r\n",
             cmk_http_port(pg));
    char *out = proxy_exchange(r2, "pg host=");
    assert_non_null(strstr(out, "pg host=x.postgres.localhost"));
    free(out);
}

static void test_upstream_down(void **state)
{
    /* cmksim's TLS listener is gone: 502, never a connection elsewhere */
    start_proxy(0);
    int done = 0;
    cmk_http_stop(https, on_stopped, &done);
    for (int i = 0; i < 100 && !done; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    char *out = proxy_exchange("CONNECT management.azure.com:443 HTTP/1.1\r\n\r\n", NULL);
    assert_memory_equal(out, "HTTP/1.1 502 ", 13);
    assert_non_null(strstr(out, "could not reach cmksim's own listener"));
    free(out);
    /* a fresh one for teardown to stop */
    struct cmk_http_config cfg = {.addr = "127.0.0.1"};
    struct cmk_err err;
    assert_int_equal(cmk_http_start(&https, &loop, &clk, &router, &cfg, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tunnel_to_own_hosts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_postgres_port_and_half_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upstream_down, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
