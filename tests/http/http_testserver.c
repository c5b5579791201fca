/* http_testserver.c: a tiny server for the HTTP integration test and bench/http. It stands up
 * what `cmksim serve` stands up for HTTP, and nothing else: the emulator CA and leaves under
 * --dir, the TLS listener (real clock, 127.0.0.1, port 0) and the CONNECT proxy, with a few
 * routes:
 *
 *   GET  management host /health      a ~200-byte JSON (the benchmark's payload)
 *   POST management host /echo        the body back, Content-Type kept
 *   GET  vault host      /keys/{name} {"vault": label, "key": name}
 *   POST vault host      /json        fields of the JSON body, or the 400 envelope
 *
 * It prints one line, "tls_port=N proxy_port=M ca=PATH", then serves until SIGTERM/SIGINT,
 * which stops both listeners gracefully.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "common/log.h"
#include "common/tls.h"

struct app {
    uv_loop_t *loop;
    struct cmk_clock clock;
    struct cmk_hosts hosts;
    struct cmk_router router;
    struct cmk_tls *tls;
    struct cmk_http_server *https;
    struct cmk_proxy *proxy;
    uv_signal_t sigterm, sigint;
    int stopped;
};

static void h_health(struct cmk_request *req, struct cmk_response *res, void *data)
{
    static const char body[] =
        "{\"status\":\"ok\",\"service\":\"cmksim\",\"version\":\"0.1.0\",\"region\":\"local\","
        "\"components\":{\"management\":\"ok\",\"login\":\"ok\",\"vaults\":\"ok\",\"hsms\":\"ok\","
        "\"postgres\":\"ok\"},\"requestId\":\"00000000-0000-0000-0000-000000000000\"}";
    res->status = 200;
    cmk_buf_append(&res->body, body, sizeof(body) - 1);
    cmk_response_header(res, "Content-Type", "application/json; charset=utf-8");
}

static void h_echo(struct cmk_request *req, struct cmk_response *res, void *data)
{
    const char *ct = cmk_request_header(req, "content-type");
    res->status = 200;
    cmk_buf_append(&res->body, req->body.data ? req->body.data : "", req->body.len);
    cmk_response_header(res, "Content-Type", ct ? ct : "application/octet-stream");
}

static void h_key(struct cmk_request *req, struct cmk_response *res, void *data)
{
    cmk_response_json(res, 200,
                      json_pack("{s:s,s:s,s:s}", "vault", req->host_label, "key",
                                cmk_request_param(req, "name"), "host", req->host));
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

static void on_closed(uv_handle_t *h)
{
}

static void stopped(void *arg)
{
    struct app *a = arg;
    if (++a->stopped < 2)
        return;
    cmk_clock_close(&a->clock);
    uv_close((uv_handle_t *)&a->sigterm, on_closed);
    uv_close((uv_handle_t *)&a->sigint, on_closed);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct app *a = h->data;
    uv_signal_stop(&a->sigterm);
    uv_signal_stop(&a->sigint);
    cmk_http_stop(a->https, stopped, a);
    cmk_proxy_stop(a->proxy, stopped, a);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *suffix = "localhost";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--suffix") && i + 1 < argc)
            suffix = argv[++i];
        else {
            fprintf(stderr, "usage: http_testserver --dir DIR [--suffix NAME]\n");
            return 64;
        }
    }
    if (dir == NULL) {
        fprintf(stderr, "usage: http_testserver --dir DIR [--suffix NAME]\n");
        return 64;
    }
    struct app a;
    memset(&a, 0, sizeof(a));
    a.loop = uv_default_loop();
    cmk_clock_init(&a.clock, a.loop, CMK_CLOCK_REAL, 0, 0);
    cmk_log_setup(&a.clock, stderr, CMK_LOG_WARN);
    cmk_hosts_init(&a.hosts, suffix);
    cmk_router_init(&a.router, &a.hosts);
    cmk_router_add(&a.router, CMK_HOST_MGMT, "GET", "/health", h_health, NULL);
    cmk_router_add(&a.router, CMK_HOST_MGMT, "POST", "/echo", h_echo, NULL);
    cmk_router_add(&a.router, CMK_HOST_VAULT, "GET", "/keys/{name}", h_key, NULL);
    cmk_router_add(&a.router, CMK_HOST_VAULT, "POST", "/json", h_json, NULL);

    struct cmk_err err;
    if (cmk_tls_open(&a.tls, dir, &a.hosts, cmk_clock_now(&a.clock), &err) != 0) {
        fprintf(stderr, "http_testserver: %s\n", err.message);
        return 1;
    }
    struct cmk_http_config hc = {.addr = "127.0.0.1", .tls = cmk_tls_server_ctx(a.tls)};
    if (cmk_http_start(&a.https, a.loop, &a.clock, &a.router, &hc, &err) != 0) {
        fprintf(stderr, "http_testserver: %s\n", err.message);
        return 1;
    }
    struct cmk_proxy_config pc = {.addr = "127.0.0.1",
                                  .hosts = &a.hosts,
                                  .tls_addr = "127.0.0.1",
                                  .tls_port = cmk_http_port(a.https)};
    if (cmk_proxy_start(&a.proxy, a.loop, &a.clock, &pc, &err) != 0) {
        fprintf(stderr, "http_testserver: %s\n", err.message);
        return 1;
    }
    uv_signal_init(a.loop, &a.sigterm);
    uv_signal_init(a.loop, &a.sigint);
    a.sigterm.data = a.sigint.data = &a;
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    printf("tls_port=%d proxy_port=%d ca=%s\n", cmk_http_port(a.https), cmk_proxy_port(a.proxy),
           cmk_tls_ca_path(a.tls));
    fflush(stdout);
    uv_run(a.loop, UV_RUN_DEFAULT);
    cmk_router_close(&a.router);
    cmk_tls_free(a.tls);
    uv_loop_close(a.loop);
    return 0;
}
