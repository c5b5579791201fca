/* pgtest_server.c: the PostgreSQL endpoint on plain SQLite files, for the psql/pgbench tests.
 *
 * It stands up what the data plane will, minus encryption: the emulator CA (under --dir/tls),
 * the endpoint with a test backend whose databases are --dir/NAME.db, and four listeners on
 * 127.0.0.1 port 0:
 *
 *   main      the server "main", SCRAM-SHA-256 (or --auth password)
 *   clear     the same data as "main" through a server asking for a cleartext password
 *   replica   the same data, read-only (writes fail with 25006)
 *   shared    the SNI-routed port (main.postgres.database.azure.com, main.postgres.localhost)
 *
 * It prints "main=P clear=P replica=P shared=P ca=PATH" and then reads commands on stdin, one
 * per line, answering one line on stdout each:
 *
 *   down MESSAGE   main refuses logins with FATAL 57P03 MESSAGE     -> "ok"
 *   up             main accepts logins again                         -> "ok"
 *   kill MESSAGE   end main's sessions with FATAL 57P01 MESSAGE      -> "killed=N"
 *   denied         logins refused so far                             -> "denied=N"
 *   sessions       main's open sessions                              -> "sessions=N"
 *   quit           close everything and exit 0
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/tls.h"
#include "dataplane/pgwire.h"

struct app {
    uv_loop_t *loop;
    struct cmk_clock clock;
    struct cmk_hosts hosts;
    struct cmk_tls *tls;
    struct dp_pgwire *ep;
    uv_pipe_t in;
    char line[4096];
    size_t linelen;
    char dir[1024];
    char admin[64];
    char verifier[DP_PG_VERIFIER_MAX];
    int auth;
    int ready;
    char down_message[512];
};

static int resolve(void *data, const char *name, int port, struct dp_pg_server *out,
                   struct cmk_err *err)
{
    struct app *a = data;
    int clear = strcmp(name, "clear") == 0, replica = strcmp(name, "replica") == 0;
    if (strcmp(name, "main") != 0 && !clear && !replica)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "ServerNotFound", "no server %s", name);
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->ready = replica || clear || a->ready;
    snprintf(out->sqlstate, sizeof(out->sqlstate), "57P03");
    snprintf(out->message, sizeof(out->message), "%s", a->down_message);
    snprintf(out->dir, sizeof(out->dir), "%s", a->dir);
    snprintf(out->admin_user, sizeof(out->admin_user), "%s", a->admin);
    snprintf(out->admin_verifier, sizeof(out->admin_verifier), "%s", a->verifier);
    out->read_only = replica;
    out->auth = clear ? DP_PG_AUTH_PASSWORD : a->auth;
    out->max_connections = 50;
    return 0;
}

static void db_path(const char *dir, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.db", dir, name);
}

static int open_db(void *data, void *handle, const char *dir, const char *dbname, int create,
                   int read_only, sqlite3 **out, struct cmk_err *err)
{
    char path[1200];
    struct stat st;
    db_path(dir, dbname, path, sizeof(path));
    *out = NULL;
    if (!create && stat(path, &st) != 0)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "NoDatabase", "no database %s", dbname);
    int flags = read_only ? SQLITE_OPEN_READONLY
                          : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, out, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        cmk_err_set(err, CMK_EIO, 500, "OpenFailed", "cannot open %s: %s", dbname,
                    *out ? sqlite3_errmsg(*out) : sqlite3_errstr(rc));
        sqlite3_close_v2(*out);
        *out = NULL;
        return CMK_EIO;
    }
    if (!read_only)
        sqlite3_exec(*out, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    return 0;
}

static int drop_db(void *data, void *handle, const char *dir, const char *dbname,
                   struct cmk_err *err)
{
    char path[1200], extra[1300];
    db_path(dir, dbname, path, sizeof(path));
    unlink(path);
    snprintf(extra, sizeof(extra), "%s-wal", path);
    unlink(extra);
    snprintf(extra, sizeof(extra), "%s-shm", path);
    unlink(extra);
    return 0;
}

static void denied(void *data, const char *server, const char *sqlstate, const char *message)
{
    fprintf(stderr, "pgtest_server: denied %s %s\n", server, sqlstate);
}

static void reply(const char *fmt, long v)
{
    printf(fmt, v);
    printf("\n");
    fflush(stdout);
}

static void on_closed(uv_handle_t *h)
{
}

static void command(struct app *a, char *line)
{
    char *arg = strchr(line, ' ');
    if (arg)
        *arg++ = 0;
    if (strcmp(line, "down") == 0) {
        a->ready = 0;
        snprintf(a->down_message, sizeof(a->down_message), "%s", arg ? arg : "not ready");
        reply("ok", 0);
    } else if (strcmp(line, "up") == 0) {
        a->ready = 1;
        reply("ok", 0);
    } else if (strcmp(line, "kill") == 0) {
        reply("killed=%ld", dp_pgwire_terminate(a->ep, "main", "57P01", arg));
    } else if (strcmp(line, "denied") == 0) {
        reply("denied=%ld", (long)dp_pgwire_denied(a->ep, "main"));
    } else if (strcmp(line, "sessions") == 0) {
        reply("sessions=%ld", dp_pgwire_sessions(a->ep, "main"));
    } else if (strcmp(line, "quit") == 0) {
        uv_read_stop((uv_stream_t *)&a->in);
        uv_close((uv_handle_t *)&a->in, on_closed);
        dp_pgwire_free(a->ep);
        a->ep = NULL;
        cmk_clock_close(&a->clock);
    } else {
        reply("unknown command", 0);
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char chunk[4096];
    *buf = uv_buf_init(chunk, sizeof(chunk));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct app *a = s->data;
    if (n < 0) {
        if (a->ep) {
            char quit[] = "quit";
            command(a, quit);
        }
        return;
    }
    for (ssize_t i = 0; i < n && a->ep; i++) {
        char ch = buf->base[i];
        if (ch == '\n') {
            a->line[a->linelen] = 0;
            a->linelen = 0;
            command(a, a->line);
        } else if (a->linelen + 1 < sizeof(a->line)) {
            a->line[a->linelen++] = ch;
        }
    }
}

int main(int argc, char **argv)
{
    struct app a;
    memset(&a, 0, sizeof(a));
    const char *password = "secret";
    snprintf(a.admin, sizeof(a.admin), "admin");
    a.ready = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            snprintf(a.dir, sizeof(a.dir), "%s", argv[++i]);
        else if (!strcmp(argv[i], "--admin") && i + 1 < argc)
            snprintf(a.admin, sizeof(a.admin), "%s", argv[++i]);
        else if (!strcmp(argv[i], "--password") && i + 1 < argc)
            password = argv[++i];
        else if (!strcmp(argv[i], "--auth") && i + 1 < argc)
            a.auth = strcmp(argv[++i], "password") == 0 ? DP_PG_AUTH_PASSWORD : DP_PG_AUTH_SCRAM;
        else {
            fprintf(stderr, "usage: pgtest_server --dir DIR [--admin U] [--password P] "
                            "[--auth scram|password]\n");
            return 64;
        }
    }
    if (a.dir[0] == 0) {
        fprintf(stderr, "pgtest_server: --dir is required\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    a.loop = uv_default_loop();
    cmk_clock_init(&a.clock, a.loop, CMK_CLOCK_REAL, 0, 0);
    cmk_log_setup(&a.clock, stderr, getenv("PGTEST_DEBUG") ? CMK_LOG_DEBUG : CMK_LOG_WARN);
    cmk_hosts_init(&a.hosts, "localhost");
    struct cmk_err err;
    if (cmk_tls_open(&a.tls, a.dir, &a.hosts, cmk_clock_now(&a.clock), &err) != 0) {
        fprintf(stderr, "pgtest_server: %s\n", err.message);
        return 1;
    }
    if (dp_pg_scram_verifier(password, 0, a.verifier, sizeof(a.verifier)) != 0) {
        fprintf(stderr, "pgtest_server: cannot make a verifier\n");
        return 1;
    }
    static struct dp_pg_backend backend = {
        .version = DP_PG_BACKEND_VERSION,
        .resolve = resolve,
        .open_db = open_db,
        .drop_db = drop_db,
        .denied = denied,
    };
    backend.data = &a;
    struct dp_pgwire_config cfg = {
        .loop = a.loop,
        .clock = &a.clock,
        .tls = cmk_tls_server_ctx(a.tls),
        .hosts = &a.hosts,
        .backend = &backend,
    };
    int pmain, pclear, preplica, pshared;
    if (dp_pgwire_new(&a.ep, &cfg, &err) != 0 ||
        dp_pgwire_listen(a.ep, "main", "127.0.0.1", 0, &pmain, &err) != 0 ||
        dp_pgwire_listen(a.ep, "clear", "127.0.0.1", 0, &pclear, &err) != 0 ||
        dp_pgwire_listen(a.ep, "replica", "127.0.0.1", 0, &preplica, &err) != 0 ||
        dp_pgwire_listen_shared(a.ep, "127.0.0.1", 0, &pshared, &err) != 0) {
        fprintf(stderr, "pgtest_server: %s\n", err.message);
        return 1;
    }
    uv_pipe_init(a.loop, &a.in, 0);
    a.in.data = &a;
    if (uv_pipe_open(&a.in, 0) != 0 ||
        uv_read_start((uv_stream_t *)&a.in, alloc_cb, read_cb) != 0) {
        fprintf(stderr, "pgtest_server: stdin must be a pipe or FIFO\n");
        return 1;
    }
    printf("main=%d clear=%d replica=%d shared=%d ca=%s\n", pmain, pclear, preplica, pshared,
           cmk_tls_ca_path(a.tls));
    fflush(stdout);
    uv_run(a.loop, UV_RUN_DEFAULT);
    cmk_tls_free(a.tls);
    return 0;
}
