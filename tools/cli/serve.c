/* serve.c: `cmksim serve` — every emulated service in one process on one libuv loop.
 *
 * Opens the runtime over the state directory (the scaled clock from the wall clock's now, at
 * --speed or the speed saved in DIR; manage.c), loads or
 * creates the CA, registers every service on the router, and listens: one TLS listener for
 * every HTTPS host (management, login, vaults, HSMs; chosen by SNI and Host), the CONNECT
 * proxy, and the PostgreSQL listener. The actual addresses are written to DIR/serve.json so
 * `cmksim env`, the CLI and tests find them (ports may be 0 = any). SIGINT/SIGTERM stop
 * gracefully: listeners close, requests in flight finish, the state is closed cleanly.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common/http.h"
#include "common/log.h"
#include "common/runtime.h"
#include "manage.h"
#include "services.h"

struct serve {
    struct cmk_runtime rt;
    struct cmk_http_server *https;
    struct cmk_proxy *proxy;
    uv_signal_t sigint, sigterm;
    int stopping;
    struct cli_manage *manage;       /* clock and fault routes, the clock's file (manage.h) */
    struct cli_dashboard *dashboard; /* the live page and its event stream */
};

static void serve_usage(FILE *out)
{
    fprintf(
        out,
        "usage: cmksim serve [--data DIR] [--listen ADDR:PORT] [--proxy ADDR:PORT]\n"
        "                    [--suffix NAME] [--speed N] [--seed N] [--log-level LEVEL]\n\n"
        "Runs the emulator until SIGINT/SIGTERM.\n\n"
        "  --data DIR          state directory (default ./%s); restart resumes it\n"
        "  --listen ADDR:PORT  HTTPS for every host (default %s; port 0 = any)\n"
        "  --proxy ADDR:PORT   HTTP CONNECT proxy (default %s)\n"
        "  --suffix NAME       local host suffix: vault NAME.vault.<suffix> (default localhost)\n"
        "  --speed N           run the clock N times faster than the wall clock (demos;\n"
        "                      default: the speed saved in DIR, else 1; `cmksim clock`\n"
        "                      changes it and jumps ahead at any time)\n"
        "  --seed N            seed of generated ids (default 1)\n"
        "  --log-level LEVEL   debug, info, warn, error (default info)\n\n"
        "example:\n"
        "  cmksim serve --data /tmp/sandbox --listen 127.0.0.1:0 --proxy 127.0.0.1:0\n"
        "  eval \"$(cmksim env --data /tmp/sandbox --export)\"\n",
        CLI_DEFAULT_DATA, CLI_DEFAULT_LISTEN, CLI_DEFAULT_PROXY);
}

static void health(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct serve *s = data;
    char now[40];
    cmk_time_format(cmk_clock_now(&s->rt.clock), now, sizeof(now));
    json_t *j = json_pack("{s:s, s:s, s:s, s:f}", "status", "ok", "time", now, "clock",
                          s->rt.clock.mode == CMK_CLOCK_REAL     ? "real"
                          : s->rt.clock.mode == CMK_CLOCK_SCALED ? "scaled"
                                                                 : "virtual",
                          "speed", s->rt.clock.mode == CMK_CLOCK_SCALED ? s->rt.clock.factor : 1.0);
    cmk_response_json(res, 200, j);
}

static int write_serve_json(struct serve *s, const char *https_addr, const char *proxy_addr)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/serve.json", s->rt.data_dir);
    snprintf(tmp, sizeof(tmp), "%s/serve.json.tmp", s->rt.data_dir);
    char https[96], proxy[96];
    snprintf(https, sizeof(https), "%s:%d", https_addr, cmk_http_port(s->https));
    snprintf(proxy, sizeof(proxy), "%s:%d", proxy_addr, cmk_proxy_port(s->proxy));
    json_t *j =
        json_pack("{s:i, s:s, s:s, s:s, s:s}", "pid", (int)getpid(), "https", https, "proxy", proxy,
                  "ca", cmk_tls_ca_path(s->rt.tls), "suffix", s->rt.hosts.suffix);
    if (services_pg_port(&s->rt) > 0) {
        char pg[96];
        snprintf(pg, sizeof(pg), "%s:%d", https_addr, services_pg_port(&s->rt));
        json_object_set_new(j, "postgres", json_string(pg));
    }
    char dash[160];
    snprintf(dash, sizeof(dash), "https://management.%s:%d/", s->rt.hosts.suffix,
             cmk_http_port(s->https));
    json_object_set_new(j, "dashboard", json_string(dash));
    services_describe(&s->rt, j);
    int rc = json_dump_file(j, tmp, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (rc != 0 || chmod(tmp, 0600) != 0 || rename(tmp, path) != 0)
        return -1;
    return 0;
}

static void closed(void *arg)
{
    (void)arg;
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct serve *s = h->data;
    if (s->stopping++) {
        cmk_warn("serve", "second signal: exiting now");
        exit(CLI_EX_FAIL);
    }
    cmk_info("serve", "signal %d: stopping", signum);
    uv_signal_stop(&s->sigint);
    uv_signal_stop(&s->sigterm);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    cli_dashboard_stop(s->dashboard);
    services_stop(&s->rt);
    cmk_http_stop(s->https, closed, NULL);
    cmk_proxy_stop(s->proxy, closed, NULL);
    cmk_clock_close(&s->rt.clock);
}

int cli_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"proxy", required_argument, NULL, 'p'},
        {"suffix", required_argument, NULL, 's'},
        {"speed", required_argument, NULL, 'x'},
        {"seed", required_argument, NULL, 'r'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data = CLI_DEFAULT_DATA, *listen = CLI_DEFAULT_LISTEN, *proxy = CLI_DEFAULT_PROXY;
    const char *suffix = NULL, *level = "info";
    double speed = 0;
    unsigned long long seed = 1;
    int c;
    char *end;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            data = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'p':
            proxy = optarg;
            break;
        case 's':
            suffix = optarg;
            break;
        case 'L':
            level = optarg;
            break;
        case 'x':
            speed = strtod(optarg, &end);
            if (*end || !(speed > 0 && speed <= 1e6))
                return cli_usage_error("serve", "--speed wants a number in (0, 1000000], not '%s'",
                                       optarg);
            break;
        case 'r':
            seed = strtoull(optarg, &end, 10);
            if (*end || !*optarg)
                return cli_usage_error("serve", "--seed wants a number, not '%s'", optarg);
            break;
        case 'h':
            serve_usage(stdout);
            return CLI_EX_OK;
        default:
            return cli_usage_error("serve", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    char https_addr[64], proxy_addr[64];
    int https_port, proxy_port;
    if (cli_parse_listen(listen, https_addr, sizeof(https_addr), &https_port) != 0)
        return cli_usage_error("serve", "--listen wants ADDR:PORT, not '%s'", listen);
    if (cli_parse_listen(proxy, proxy_addr, sizeof(proxy_addr), &proxy_port) != 0)
        return cli_usage_error("serve", "--proxy wants ADDR:PORT, not '%s'", proxy);

    signal(SIGPIPE, SIG_IGN);
    static struct serve s;
    struct cmk_err err = {0};
    uv_loop_t *loop = uv_default_loop();
    struct cmk_runtime_opts o = {
        .data_dir = data,
        /* The scaled driver from the wall clock's now, so the clock can jump and change speed
         * at any time (manage.c restores the saved offset and speed). */
        .clock_mode = CMK_CLOCK_SCALED,
        .clock_start = CMK_CLOCK_START_NOW,
        .speed = 1,
        .seed = seed,
        .suffix = suffix,
    };
    if (cmk_runtime_open(&s.rt, loop, &o, &err) != 0) {
        fprintf(stderr, "cmksim serve: %s\n", err.message);
        return CLI_EX_FAIL;
    }
    cmk_log_setup(&s.rt.clock, stderr, cmk_log_level_parse(level));
    if (cli_manage_open(&s.manage, &s.rt, speed, &err) != 0) {
        fprintf(stderr, "cmksim serve: %s\n", err.message);
        return CLI_EX_FAIL;
    }
    if (cmk_runtime_open_tls(&s.rt, &err) != 0) {
        fprintf(stderr, "cmksim serve: %s\n", err.message);
        return CLI_EX_FAIL;
    }
    cmk_router_add(&s.rt.router, CMK_HOST_MGMT, "GET", "/_cmksim/health", health, &s);
    if (services_start(&s.rt, &err) != 0) {
        fprintf(stderr, "cmksim serve: %s\n", err.message);
        return CLI_EX_FAIL;
    }
    if (cli_dashboard_open(&s.dashboard, &s.rt, s.manage, &err) != 0) {
        fprintf(stderr, "cmksim serve: %s\n", err.message);
        return CLI_EX_FAIL;
    }

    struct cmk_http_config hc = {
        .addr = https_addr, .port = https_port, .tls = cmk_tls_server_ctx(s.rt.tls)};
    if (cmk_http_start(&s.https, loop, &s.rt.clock, &s.rt.router, &hc, &err) != 0) {
        fprintf(stderr, "cmksim serve: HTTPS listener %s: %s\n", listen, err.message);
        return CLI_EX_FAIL;
    }
    struct cmk_proxy_config pc = {.addr = proxy_addr,
                                  .port = proxy_port,
                                  .hosts = &s.rt.hosts,
                                  .tls_addr = https_addr,
                                  .tls_port = cmk_http_port(s.https),
                                  .pg_port = services_pg_port(&s.rt)};
    if (cmk_proxy_start(&s.proxy, loop, &s.rt.clock, &pc, &err) != 0) {
        fprintf(stderr, "cmksim serve: proxy listener %s: %s\n", proxy, err.message);
        return CLI_EX_FAIL;
    }
    if (write_serve_json(&s, https_addr, proxy_addr) != 0) {
        fprintf(stderr, "cmksim serve: cannot write %s/serve.json\n", s.rt.data_dir);
        return CLI_EX_FAIL;
    }
    cmk_info("serve", "https=%s:%d proxy=%s:%d data=%s ca=%s", https_addr, cmk_http_port(s.https),
             proxy_addr, cmk_proxy_port(s.proxy), s.rt.data_dir, cmk_tls_ca_path(s.rt.tls));
    fprintf(stdout,
            "cmksim serving: https://management.%s:%d (and the cloud names via proxy "
            "http://%s:%d)\nDashboard: https://management.%s:%d/\n"
            "Run `cmksim env --data %s` for client settings.\n",
            s.rt.hosts.suffix, cmk_http_port(s.https), proxy_addr, cmk_proxy_port(s.proxy),
            s.rt.hosts.suffix, cmk_http_port(s.https), data);
    fflush(stdout);

    uv_signal_init(loop, &s.sigint);
    uv_signal_init(loop, &s.sigterm);
    s.sigint.data = s.sigterm.data = &s;
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);

    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/serve.json", s.rt.data_dir);
    unlink(path); /* `cmksim env` must not describe a process that has gone */
    services_close(&s.rt);
    cli_dashboard_close(s.dashboard);
    cli_manage_close(s.manage);
    cmk_runtime_close(&s.rt);
    uv_loop_close(loop);
    cmk_info("serve", "stopped");
    return CLI_EX_OK;
}
