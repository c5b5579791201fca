/* run.c: `cmksim run FILE|DIR...` — replay scenarios on the virtual clock (scenarios/runner.h)
 * with the services `cmksim serve` runs (services.c), and report: a line per run (or the
 * timeline), JUnit XML, the JSON-lines trace, the SVG picture, GitHub Actions annotations.
 *
 * Exit codes (DESIGN.md): 0 every run passed, 1 an expectation was missed, 2 an invariant was
 * broken, 3 internal error or a non-deterministic trace, 64 a bad scenario file (or usage).
 * With several runs the worst wins (64 > 3 > 2 > 1 > 0).
 */
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common/http.h"
#include "common/log.h"
#include "common/runtime.h"
#include "common/tls.h"
#include "scenarios/runner.h"
#include "services.h"

struct run_opts {
    unsigned long long seed;
    int seed_given;
    unsigned long seeds;
    unsigned shard, shards;
    const char *junit, *trace, *svg, *data;
    int timeline, determinism, quiet;
    double speed;
};

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: cmksim run FILE|DIR... [--seed N] [--seeds N] [--shard I/N] [--junit FILE]\n"
            "                  [--trace FILE] [--svg FILE] [--timeline] [--check-determinism]\n"
            "                  [--speed N [--listen ADDR:PORT] [--data DIR]] [--quiet]\n\n"
            "Replays scenario files (a directory: every *.yaml in it) on a virtual clock,\n"
            "through the same services `cmksim serve` runs, and checks their expectations.\n\n"
            "  --seed N             the seed (default: the scenario's own)\n"
            "  --seeds N            a sweep: N runs per scenario, seeds S, S+1, ... S+N-1\n"
            "  --shard I/N          run only the I-th of N shares of the runs (CI), I from 1\n"
            "  --junit FILE         JUnit XML: a testsuite per run, a testcase per expectation\n"
            "  --trace FILE         JSON-lines trace (virtual time only; one seed, one file)\n"
            "  --svg FILE           a swimlane picture of the run\n"
            "  --timeline           print a readable timeline of each run\n"
            "  --check-determinism  run each twice and compare the traces byte for byte\n"
            "  --speed N            replay against the wall clock, N times faster, with the\n"
            "                       emulator's HTTPS and PostgreSQL endpoints open meanwhile\n"
            "  --listen ADDR:PORT   with --speed: the HTTPS address (default 127.0.0.1:0)\n"
            "  --data DIR           the state directory (default: a temporary one, removed)\n"
            "  --quiet              only failures and the summary\n\n"
            "exit codes: 0 passed, 1 expectation missed, 2 invariant broken, 3 internal error\n"
            "or non-deterministic, 64 bad scenario file (FILE:LINE:COL) or usage.\n\n"
            "examples:\n"
            "  cmksim run scenarios/cases/flagship.yaml --timeline --svg out/flagship.svg\n"
            "  cmksim run scenarios/cases --junit out/junit.xml --seeds 20 --shard 1/4\n");
}

/* ---- the host: the services of serve ---- */

static int host_start(struct cmk_runtime *rt, struct cmk_err *err)
{
    return services_start(rt, err);
}

static void host_close(struct cmk_runtime *rt)
{
    services_stop(rt);
    services_close(rt);
}

/* --speed: the endpoints of `cmksim serve` (HTTPS for every host, PostgreSQL via the data
 * plane's listeners) stay reachable while the scenario replays against the wall clock. */
static struct cmk_http_server *https;
static const char *listen_addr = "127.0.0.1:0";

static int host_serve(struct cmk_runtime *rt, struct cmk_err *err)
{
    char addr[64];
    int port;
    if (cli_parse_listen(listen_addr, addr, sizeof(addr), &port) != 0)
        return cmk_err_set(err, CMK_EINVAL, 0, "BadListen", "--listen wants ADDR:PORT, not '%s'",
                           listen_addr);
    struct cmk_http_config hc = {.addr = addr, .port = port, .tls = cmk_tls_server_ctx(rt->tls)};
    if (cmk_http_start(&https, rt->loop, &rt->clock, &rt->router, &hc, err) != 0)
        return -1;
    fprintf(stderr,
            "cmksim run: serving https://management.%s:%d/ (vaults: https://NAME.vault.%s:%d) "
            "while the scenario replays; CA: %s\n",
            rt->hosts.suffix, cmk_http_port(https), rt->hosts.suffix, cmk_http_port(https),
            cmk_tls_ca_path(rt->tls));
    if (services_pg_port(rt) > 0)
        fprintf(stderr, "cmksim run: PostgreSQL on %s:%d (TLS, SNI NAME.postgres.%s)\n", addr,
                services_pg_port(rt), rt->hosts.suffix);
    return 0;
}

static void host_unserve(struct cmk_runtime *rt)
{
    (void)rt;
    if (https)
        cmk_http_stop(https, NULL, NULL);
    https = NULL;
}

static const struct sc_host host = {host_start, host_close, services_scenario, host_serve,
                                    host_unserve};

/* ---- files ---- */

struct files {
    char **v;
    size_t n;
};

static void add_file(struct files *f, const char *p)
{
    f->v = realloc(f->v, (f->n + 1) * sizeof(*f->v));
    f->v[f->n++] = strdup(p);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int collect(struct files *f, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: error: no such file or directory\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        add_file(f, path);
        return 0;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "%s: error: cannot read the directory\n", path);
        return -1;
    }
    struct files sub = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || !((l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0) ||
                                     (l > 4 && strcmp(e->d_name + l - 4, ".yml") == 0)))
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", e->d_name);
        add_file(&sub, p);
    }
    closedir(d);
    qsort(sub.v, sub.n, sizeof(*sub.v), cmp_str);
    for (size_t i = 0; i < sub.n; i++) {
        add_file(f, sub.v[i]);
        free(sub.v[i]);
    }
    free(sub.v);
    return 0;
}

/* The command as the user can retype it: this binary (relative to the working directory when
 * below it). */
static void self_path(char *out, size_t n)
{
    char exe[PATH_MAX], cwd[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (l <= 0) {
        snprintf(out, n, "cmksim");
        return;
    }
    exe[l] = 0;
    if (getcwd(cwd, sizeof(cwd)) && strncmp(exe, cwd, strlen(cwd)) == 0 && exe[strlen(cwd)] == '/')
        snprintf(out, n, "%s", exe + strlen(cwd) + 1);
    else
        snprintf(out, n, "%s", exe);
}

static int worse(int a, int b)
{
    static const int rank[] = {0, 1, 2, 3}; /* 0 < 1 < 2 < 3 < 64 */
    int ra = a == 64 ? 4 : a >= 0 && a <= 3 ? rank[a] : 3;
    int rb = b == 64 ? 4 : b >= 0 && b <= 3 ? rank[b] : 3;
    return ra >= rb ? a : b;
}

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "cmksim run: cannot write %s\n", path);
        return -1;
    }
    fwrite(data, 1, len, f);
    return fclose(f);
}

/* "out/x.svg" -> "out/x-NAME-SEED.svg" when there are several runs. */
static void per_run_path(const char *path, const struct sc_result *r, int several, char *out,
                         size_t n)
{
    if (!several) {
        snprintf(out, n, "%s", path);
        return;
    }
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot == NULL || (slash && dot < slash))
        dot = path + strlen(path);
    snprintf(out, n, "%.*s-%s-%llu%s", (int)(dot - path), path, r->name,
             (unsigned long long)r->seed, dot);
}

/* First differing line of two traces, for the message. */
static void first_difference(const struct cmk_buf *a, const struct cmk_buf *b)
{
    size_t line = 1, i = 0, start = 0;
    while (i < a->len && i < b->len && a->data[i] == b->data[i]) {
        if (a->data[i] == '\n') {
            line++;
            start = i + 1;
        }
        i++;
    }
    const char *ea = memchr(a->data + start, '\n', a->len - start);
    const char *eb = memchr(b->data + start, '\n', b->len - start);
    fprintf(stderr, "  first difference at trace line %zu:\n  run 1: %.*s\n  run 2: %.*s\n", line,
            ea ? (int)(ea - a->data - start) : (int)(a->len - start), a->data + start,
            eb ? (int)(eb - b->data - start) : (int)(b->len - start), b->data + start);
}

static int parse_shard(const char *s, unsigned *i, unsigned *n)
{
    char *end;
    unsigned long a = strtoul(s, &end, 10);
    if (*end != '/')
        return -1;
    unsigned long b = strtoul(end + 1, &end, 10);
    if (*end || a < 1 || b < 1 || a > b || b > 100000)
        return -1;
    *i = (unsigned)a;
    *n = (unsigned)b;
    return 0;
}

int cli_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seed", required_argument, NULL, 's'},  {"seeds", required_argument, NULL, 'S'},
        {"shard", required_argument, NULL, 'x'}, {"junit", required_argument, NULL, 'j'},
        {"trace", required_argument, NULL, 't'}, {"svg", required_argument, NULL, 'g'},
        {"timeline", no_argument, NULL, 'T'},    {"check-determinism", no_argument, NULL, 'd'},
        {"speed", required_argument, NULL, 'p'}, {"quiet", no_argument, NULL, 'q'},
        {"data", required_argument, NULL, 'D'},  {"listen", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    struct run_opts o = {.seeds = 1, .shard = 1, .shards = 1};
    int c;
    char *end;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            o.seed = strtoull(optarg, &end, 10);
            if (*end || !*optarg)
                return cli_usage_error("run", "--seed wants a number, not '%s'", optarg);
            o.seed_given = 1;
            break;
        case 'S':
            o.seeds = strtoul(optarg, &end, 10);
            if (*end || o.seeds < 1 || o.seeds > 1000000)
                return cli_usage_error("run", "--seeds wants a number from 1, not '%s'", optarg);
            break;
        case 'x':
            if (parse_shard(optarg, &o.shard, &o.shards) != 0)
                return cli_usage_error("run", "--shard wants I/N with 1 <= I <= N, not '%s'",
                                       optarg);
            break;
        case 'j':
            o.junit = optarg;
            break;
        case 't':
            o.trace = optarg;
            break;
        case 'g':
            o.svg = optarg;
            break;
        case 'T':
            o.timeline = 1;
            break;
        case 'd':
            o.determinism = 1;
            break;
        case 'q':
            o.quiet = 1;
            break;
        case 'D':
            o.data = optarg;
            break;
        case 'l':
            listen_addr = optarg;
            break;
        case 'p':
            o.speed = strtod(optarg, &end);
            if (*end || !(o.speed > 0 && o.speed <= 1e6))
                return cli_usage_error("run", "--speed wants a number in (0, 1000000], not '%s'",
                                       optarg);
            break;
        case 'h':
            run_usage(stdout);
            return CLI_EX_OK;
        default:
            return cli_usage_error("run", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("run", "which scenario? give a FILE.yaml or a directory");
    struct files files = {0};
    for (int i = optind; i < argc; i++)
        if (collect(&files, argv[i]) != 0)
            return CLI_EX_USAGE;
    if (files.n == 0)
        return cli_usage_error("run", "no *.yaml scenario found in %s", argv[optind]);

    cmk_log_setup(NULL, stderr,
                  getenv("CMKSIM_LOG") ? cmk_log_level_parse(getenv("CMKSIM_LOG")) : CMK_LOG_ERROR);
    char self[PATH_MAX];
    self_path(self, sizeof(self));
    int github = getenv("GITHUB_ACTIONS") && strcmp(getenv("GITHUB_ACTIONS"), "true") == 0;
    int tty = isatty(STDERR_FILENO) && !github;
    size_t total = files.n * o.seeds, mine = 0;
    for (size_t k = 0; k < total; k++)
        mine += k % o.shards == o.shard - 1;
    int several = mine > 1;
    int worst = 0;
    size_t done = 0, failed_runs = 0;
    struct sc_result **results = NULL;
    size_t nres = 0;
    struct cmk_buf traces;
    cmk_buf_init(&traces);
    uint64_t events = 0, wall = 0;
    cmk_time_t virt = 0;

    for (size_t k = 0; k < total; k++) {
        if (k % o.shards != o.shard - 1)
            continue;
        const char *file = files.v[k / o.seeds];
        unsigned long idx = (unsigned long)(k % o.seeds);
        struct sc_scenario *s = NULL;
        struct sc_diags diags;
        struct cmk_err err;
        sc_diags_init(&diags);
        if (sc_scenario_load(file, &s, &diags, &err) != 0) {
            if (tty && several)
                fputs("\r\033[K", stderr);
            sc_diags_print(&diags, stderr);
            sc_diags_close(&diags);
            worst = worse(worst, SC_EXIT_BADFILE);
            done++;
            failed_runs++;
            continue;
        }
        sc_diags_close(&diags);
        uint64_t base = o.seed_given ? o.seed : s->has_seed ? s->seed : 1;
        uint64_t seed = base + idx;
        char repro[PATH_MAX * 2 + 64];
        snprintf(repro, sizeof(repro), "%s run %s --seed %llu", self, file,
                 (unsigned long long)seed);
        struct sc_run_opts ro = {.seed = seed,
                                 .seed_given = 1,
                                 .trace = o.trace != NULL || o.determinism,
                                 .speed = o.speed,
                                 .reproduce = repro,
                                 .state_dir = o.data};
        if (tty && several)
            fprintf(stderr, "\r\033[K[%zu/%zu] %s seed %llu%s", done + 1, mine, s->name,
                    (unsigned long long)seed, failed_runs ? " (failures so far)" : "");
        struct sc_result *r = calloc(1, sizeof(*r));
        int code = sc_run(s, &host, &ro, r);
        if (o.determinism && code != SC_EXIT_INTERNAL) {
            struct sc_result again;
            sc_run(s, &host, &ro, &again);
            if (again.trace.len != r->trace.len ||
                memcmp(again.trace.data, r->trace.data, r->trace.len) != 0) {
                if (tty && several)
                    fputs("\r\033[K", stderr);
                fprintf(stderr,
                        "%s: error: not deterministic: two runs with seed %llu wrote "
                        "different traces\n",
                        file, (unsigned long long)seed);
                first_difference(&r->trace, &again.trace);
                code = SC_EXIT_INTERNAL;
                r->exit_code = code;
                free(r->error);
                r->error = strdup("the trace differs between two runs with the same seed");
            }
            sc_result_close(&again);
        }
        done++;
        events += r->events;
        wall += r->wall_ns;
        virt += r->clock_end - r->clock_start;
        if (code != 0)
            failed_runs++;
        worst = worse(worst, code);
        if (tty && several)
            fputs("\r\033[K", stderr);
        if (o.timeline) {
            sc_report_timeline(stdout, r, isatty(STDOUT_FILENO));
            fputc('\n', stdout);
        } else if (!o.quiet || code != 0) {
            size_t pass = 0;
            for (size_t i = 0; i < r->n_outcomes; i++)
                pass += r->outcomes[i].verdict == SC_VERDICT_PASSED;
            char d[32];
            cmk_duration_format(r->clock_end - r->clock_start, d, sizeof(d));
            printf("%-5s %s (seed %llu): %zu/%zu checks passed, %s virtual in %.3f s\n",
                   code == 0   ? "PASS"
                   : code == 3 ? "ERROR"
                               : "FAIL",
                   r->name, (unsigned long long)seed, pass, r->n_outcomes, d,
                   (double)r->wall_ns / 1e9);
            if (r->error)
                printf("      %s\n", r->error);
            for (size_t i = 0; i < r->n_outcomes; i++) {
                const struct sc_outcome *oc = &r->outcomes[i];
                if (oc->verdict != SC_VERDICT_FAILED && oc->verdict != SC_VERDICT_ERROR)
                    continue;
                printf("      %s:%d:%d: %s%s: %s\n", file, oc->line, oc->col,
                       oc->invariant ? "invariant broken: " : "", oc->name,
                       oc->message ? oc->message : "");
                if (oc->observed)
                    printf("        last observed: %s\n", oc->observed);
            }
            if (code != 0)
                printf("      reproduce: %s\n", repro);
        }
        if (github)
            sc_report_annotations(stdout, r);
        if (o.svg) {
            char p[PATH_MAX + 128];
            per_run_path(o.svg, r, several, p, sizeof(p));
            FILE *f = fopen(p, "w");
            if (f) {
                sc_report_svg(f, r);
                fclose(f);
            } else {
                fprintf(stderr, "cmksim run: cannot write %s\n", p);
            }
        }
        if (o.trace)
            cmk_buf_append(&traces, r->trace.data, r->trace.len);
        cmk_buf_close(&r->trace); /* the rest stays for JUnit */
        cmk_buf_init(&r->trace);
        /* Records are only needed for the timeline and the picture: free them now so a long
         * sweep keeps a flat memory. */
        for (size_t i = 0; i < r->n_records; i++) {
            free(r->records[i].subject);
            free(r->records[i].state);
            free(r->records[i].text);
        }
        free(r->records);
        r->records = NULL;
        r->n_records = r->cap_records = 0;
        if (o.junit) {
            results = realloc(results, (nres + 1) * sizeof(*results));
            results[nres++] = r;
        } else {
            sc_result_close(r);
            free(r);
        }
        sc_scenario_free(s);
        fflush(stdout);
    }
    if (o.junit) {
        FILE *f = fopen(o.junit, "w");
        if (f) {
            sc_report_junit(f, results, nres);
            fclose(f);
        } else {
            fprintf(stderr, "cmksim run: cannot write %s\n", o.junit);
            worst = worse(worst, SC_EXIT_INTERNAL);
        }
    }
    if (o.trace && write_file(o.trace, traces.data ? traces.data : "", traces.len) != 0)
        worst = worse(worst, SC_EXIT_INTERNAL);
    cmk_buf_close(&traces);
    for (size_t i = 0; i < nres; i++) {
        sc_result_close(results[i]);
        free(results[i]);
    }
    free(results);
    for (size_t i = 0; i < files.n; i++)
        free(files.v[i]);
    free(files.v);
    if (several) {
        char d[32];
        cmk_duration_format(virt, d, sizeof(d));
        printf("%zu run(s), %zu failed; %llu simulated events, %s of virtual time in %.3f s "
               "(%.0f events/s, virtual/wall %.0fx)\n",
               done, failed_runs, (unsigned long long)events, d, (double)wall / 1e9,
               wall ? (double)events / ((double)wall / 1e9) : 0.0,
               wall ? (double)virt / ((double)wall / 1e6) : 0.0);
    }
    return worst;
}
