/* pgwire.c: the endpoint: servers, sessions, the run queue, cancel, terminate, pipes.
 *
 * Per server the endpoint keeps its sessions, its count of refused logins and a shared handle
 * on its "postgres" database (roles, database list), closed when the last session goes.
 * Resolution goes through the backend at each login. The run queue (a libuv idle handle, or
 * dp_pgwire_run_deferred without a loop) resumes sessions that yielded a slice of rows or were
 * woken from a lock wait. CancelRequest and dp_pgwire_terminate find sessions here. Pipes are
 * connections without a socket, for in-process callers and the fuzz driver; sockets and TLS
 * are in pgwire_tcp.c.
 */
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "pgwire_ep.h"

struct pipe_conn {
    struct dp_pgwire_pipe_ops ops;
    void *data;
    int closed;
};

/* ---- endpoint services ---- */

struct cmk_clock *pg_ep_clock(const struct dp_pgwire *ep)
{
    return ep->cfg.clock;
}

const struct cmk_hosts *pg_ep_hosts(const struct dp_pgwire *ep)
{
    return ep->cfg.hosts;
}

const struct dp_pg_backend *pg_ep_backend(const struct dp_pgwire *ep)
{
    return &ep->backend;
}

size_t pg_ep_max_message(const struct dp_pgwire *ep)
{
    return ep->cfg.max_message;
}

uint64_t pg_ep_vm_budget(const struct dp_pgwire *ep)
{
    return ep ? ep->cfg.max_statement_steps : PG_VM_BUDGET;
}

int pg_ep_tls_possible(const struct dp_pgwire *ep)
{
    return ep->cfg.tls != NULL;
}

void pg_ep_secret(const struct dp_pgwire *ep, uint8_t *out, size_t n)
{
    memcpy(out, ep->secret, n < sizeof(ep->secret) ? n : sizeof(ep->secret));
}

void pg_ep_random(struct dp_pgwire *ep, void *out, size_t n)
{
    uint8_t *p = out;
    if (ep->cfg.rng == NULL) {
        if (RAND_bytes(p, (int)n) == 1)
            return;
    }
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = ep->cfg.rng ? cmk_rng_u64(ep->cfg.rng) : 0;
        memcpy(p + i, &v, n - i < 8 ? n - i : 8);
    }
}

struct pg_srv *pg_ep_find_srv(const struct dp_pgwire *ep, const char *name)
{
    for (struct pg_srv *s = ep->servers; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

struct pg_srv *pg_ep_get_srv(struct dp_pgwire *ep, const char *name)
{
    struct pg_srv *s = pg_ep_find_srv(ep, name);
    if (s == NULL) {
        s = cmk_xcalloc(1, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "%s", name);
        s->next = ep->servers;
        ep->servers = s;
    }
    return s;
}

static void close_global(struct dp_pgwire *ep, struct pg_srv *s)
{
    if (s->global == NULL)
        return;
    if (ep->backend.close_db)
        ep->backend.close_db(ep->backend.data, s->global_handle, s->global);
    else
        sqlite3_close_v2(s->global);
    s->global = NULL;
}

void pg_ep_denied(struct dp_pgconn *c, const struct pg_error *e)
{
    struct dp_pgwire *ep = c->ep;
    struct pg_srv *s = pg_ep_get_srv(ep, c->info.name[0] ? c->info.name : c->target);
    s->denied++;
    cmk_info("pgwire", "login refused server=%s sqlstate=%s", s->name, e->code);
    if (ep->backend.denied)
        ep->backend.denied(ep->backend.data, s->name, e->code, e->message);
}

int pg_ep_attach(struct dp_pgconn *c, struct pg_error *e)
{
    struct dp_pgwire *ep = c->ep;
    struct cmk_err err;
    struct dp_pg_server info;
    cmk_err_clear(&err);
    memset(&info, 0, sizeof(info));
    int rc = ep->backend.resolve(ep->backend.data, c->target, c->local_port, &info, &err);
    if (rc != 0) {
        if (rc == CMK_ENOTFOUND)
            pg_error_set(e, "08004", "server \"%s\" does not exist", c->target);
        else
            pg_error_set(e, "57P03", "%s", err.message[0] ? err.message : cmk_strerror(rc));
        return -1;
    }
    if (info.name[0] == 0)
        snprintf(info.name, sizeof(info.name), "%s", c->target);
    c->info = info;
    if (!info.ready) {
        pg_error_set(e, info.sqlstate[0] ? info.sqlstate : "57P03", "%s",
                     info.message[0] ? info.message
                                     : "the database system is not accepting connections");
        pg_ep_denied(c, e);
        return -1;
    }
    struct pg_srv *s = pg_ep_get_srv(ep, info.name);
    int max = info.max_connections > 0 ? info.max_connections : 100;
    if (s->nsessions >= max) {
        pg_error_set(e, "53300", "sorry, too many clients already");
        return -1;
    }
    c->srv = s;
    c->srv_next = s->sessions;
    s->sessions = c;
    s->nsessions++;
    return 0;
}

void pg_ep_detach(struct dp_pgconn *c)
{
    struct pg_srv *s = c->srv;
    if (s == NULL)
        return;
    for (struct dp_pgconn **pp = &s->sessions; *pp; pp = &(*pp)->srv_next)
        if (*pp == c) {
            *pp = c->srv_next;
            break;
        }
    s->nsessions--;
    c->srv = NULL;
    for (struct dp_pgconn *o = s->sessions; o; o = o->srv_next)
        if (o->parked) { /* its locks are gone with it */
            o->parked = 0;
            pg_conn_stop_timer(o);
            pg_ep_defer(o);
        }
    if (s->nsessions == 0)
        close_global(c->ep, s);
}

struct dp_pgconn *pg_ep_sessions(struct dp_pgconn *c)
{
    return c->srv ? c->srv->sessions : NULL;
}

int pg_ep_db_users(struct dp_pgconn *c, const char *name)
{
    int n = 0;
    for (struct dp_pgconn *o = pg_ep_sessions(c); o; o = o->srv_next)
        if (o != c && o->state == CS_READY && strcmp(o->database, name) == 0)
            n++;
    return n;
}

sqlite3 **pg_ep_global_db(struct dp_pgconn *c)
{
    static sqlite3 *none;
    if (c->srv == NULL) {
        none = NULL;
        return &none;
    }
    if (c->srv->global == NULL)
        c->srv->global_handle = c->info.handle;
    return &c->srv->global;
}

uint64_t *pg_ep_global_version(struct dp_pgconn *c)
{
    static uint64_t none;
    return c->srv ? &c->srv->global_version : &none;
}

/* ---- the run queue ---- */

static void unlink_deferred(struct dp_pgwire *ep, struct dp_pgconn *c)
{
    if (!c->deferred)
        return;
    struct dp_pgconn *prev = NULL;
    for (struct dp_pgconn *o = ep->defer_head; o; prev = o, o = o->defer_next)
        if (o == c) {
            if (prev)
                prev->defer_next = c->defer_next;
            else
                ep->defer_head = c->defer_next;
            if (ep->defer_tail == c)
                ep->defer_tail = prev;
            break;
        }
    c->deferred = 0;
    c->defer_next = NULL;
}

int dp_pgwire_run_deferred(struct dp_pgwire *ep)
{
    struct dp_pgconn *list = ep->defer_head;
    ep->defer_head = ep->defer_tail = NULL;
    int n = 0;
    while (list) {
        struct dp_pgconn *c = list;
        list = c->defer_next;
        c->defer_next = NULL;
        c->deferred = 0;
        pg_conn_run(c);
        n++;
    }
    return n;
}

static void on_idle(uv_idle_t *h)
{
    struct dp_pgwire *ep = h->data;
    dp_pgwire_run_deferred(ep);
    if (ep->defer_head == NULL && ep->idle_on) {
        uv_idle_stop(&ep->idle);
        ep->idle_on = 0;
    }
}

void pg_ep_defer(struct dp_pgconn *c)
{
    struct dp_pgwire *ep = c->ep;
    if (c->deferred || c->state == CS_CLOSED)
        return;
    c->deferred = 1;
    c->defer_next = NULL;
    if (ep->defer_tail)
        ep->defer_tail->defer_next = c;
    else
        ep->defer_head = c;
    ep->defer_tail = c;
    if (ep->idle_open && !ep->idle_on) {
        uv_idle_start(&ep->idle, on_idle);
        ep->idle_on = 1;
    }
}

void pg_ep_wake_waiters(struct dp_pgconn *c)
{
    for (struct dp_pgconn *o = pg_ep_sessions(c); o; o = o->srv_next)
        if (o != c && o->parked) {
            o->parked = 0;
            pg_conn_stop_timer(o);
            pg_ep_defer(o);
        }
}

/* ---- cancel and terminate ---- */

static void cancel_conn(struct dp_pgconn *t)
{
    if (t->job == JOB_NONE)
        return; /* nothing runs: PostgreSQL ignores the request too */
    t->cancel = 1;
    if (t->db)
        sqlite3_interrupt(t->db);
    if (t->parked || t->sleeping) {
        t->parked = 0;
        t->sleeping = 0;
        pg_conn_stop_timer(t);
        pg_ep_defer(t);
    }
}

void pg_ep_cancel(struct dp_pgwire *ep, int32_t pid, int32_t key)
{
    for (struct dp_pgconn *t = ep->conns; t; t = t->ep_next)
        if (t->pid == pid && t->state == CS_READY) {
            if (CRYPTO_memcmp(&t->secret, &key, sizeof(key)) == 0)
                cancel_conn(t);
            return;
        }
}

static void kill_conn(struct dp_pgconn *t, const char *sqlstate, const char *message)
{
    pg_error_set(&t->kill, sqlstate ? sqlstate : "57P01", "%s",
                 message ? message : "terminating connection due to administrator command");
    t->kill.severity = "FATAL";
    if (t->running) {
        t->kill_pending = 1;
        t->cancel = 1;
    } else {
        pg_conn_fatal(t, &t->kill);
    }
}

int pg_ep_kill_pid(struct dp_pgconn *c, int32_t pid, int cancel_only)
{
    for (struct dp_pgconn *t = pg_ep_sessions(c); t; t = t->srv_next)
        if (t->pid == pid && t->state == CS_READY) {
            if (cancel_only)
                cancel_conn(t);
            else
                kill_conn(t, NULL, NULL);
            return 0;
        }
    pg_send_notice(&c->out, "WARNING", "01000", "PID %d is not a PostgreSQL backend process",
                   (int)pid);
    return -1;
}

int dp_pgwire_terminate(struct dp_pgwire *ep, const char *server, const char *sqlstate,
                        const char *message)
{
    struct pg_srv *s = pg_ep_find_srv(ep, server);
    int n = 0;
    if (s == NULL)
        return 0;
    for (struct dp_pgconn *t = s->sessions, *next; t; t = next) {
        next = t->srv_next;
        kill_conn(t, sqlstate, message);
        n++;
    }
    if (n)
        cmk_info("pgwire", "terminated sessions server=%s count=%d sqlstate=%s", server, n,
                 sqlstate ? sqlstate : "57P01");
    return n;
}

unsigned long dp_pgwire_denied(const struct dp_pgwire *ep, const char *server)
{
    const struct pg_srv *s = pg_ep_find_srv(ep, server);
    return s ? s->denied : 0;
}

int dp_pgwire_sessions(const struct dp_pgwire *ep, const char *server)
{
    const struct pg_srv *s = pg_ep_find_srv(ep, server);
    return s ? s->nsessions : 0;
}

/* ---- connections ---- */

void pg_ep_link_conn(struct dp_pgwire *ep, struct dp_pgconn *c)
{
    c->pid = ++ep->next_pid;
    /* the cancel key is a secret: OpenSSL's CSPRNG, never the seeded generator */
    if (RAND_bytes((unsigned char *)&c->secret, sizeof(c->secret)) != 1)
        pg_ep_random(ep, &c->secret, sizeof(c->secret));
    c->ep_next = ep->conns;
    ep->conns = c;
}

void pg_ep_unlink_conn(struct dp_pgwire *ep, struct dp_pgconn *c)
{
    for (struct dp_pgconn **pp = &ep->conns; *pp; pp = &(*pp)->ep_next)
        if (*pp == c) {
            *pp = c->ep_next;
            break;
        }
    unlink_deferred(ep, c);
}

void pg_ep_maybe_free(struct dp_pgwire *ep)
{
    if (ep->freeing && ep->refs == 0) {
        OPENSSL_cleanse(ep->secret, sizeof(ep->secret));
        free(ep);
    }
}

/* TCP transport */

/* ---- pipes ---- */

static void pipe_flush(struct dp_pgconn *c)
{
    struct pipe_conn *pc = c->tpdata;
    if (c->out.len == 0 || pc->closed)
        return;
    pc->ops.write(pc->data, c->out.data, c->out.len);
    cmk_buf_reset(&c->out);
}

static int pipe_start_tls(struct dp_pgconn *c)
{
    return -1;
}

static void pipe_close(struct dp_pgconn *c)
{
    struct pipe_conn *pc = c->tpdata;
    if (pc->closed)
        return;
    pipe_flush(c);
    pc->closed = 1;
    if (pc->ops.close)
        pc->ops.close(pc->data);
}

static int pipe_backlogged(struct dp_pgconn *c)
{
    return 0;
}

static const struct pg_transport pipe_transport = {pipe_flush, pipe_start_tls, pipe_close,
                                                   pipe_backlogged};

struct dp_pgconn *dp_pgwire_pipe_open(struct dp_pgwire *ep, const char *server,
                                      const struct dp_pgwire_pipe_ops *ops, void *data)
{
    struct pipe_conn *pc = cmk_xcalloc(1, sizeof(*pc));
    pc->ops = *ops;
    pc->data = data;
    struct dp_pgconn *c = pg_conn_new(ep, &pipe_transport, pc);
    pg_ep_link_conn(ep, c);
    ep->refs++; /* the endpoint's memory stays until every pipe is closed */
    snprintf(c->target, sizeof(c->target), "%s", server ? server : "");
    return c;
}

void dp_pgwire_pipe_input(struct dp_pgconn *c, const void *bytes, size_t n)
{
    pg_conn_input(c, bytes, n);
}

void dp_pgwire_pipe_close(struct dp_pgconn *c)
{
    if (c == NULL)
        return;
    struct pipe_conn *pc = c->tpdata;
    struct dp_pgwire *ep = c->ep;
    pc->closed = 1;
    c->state = CS_CLOSED;
    pg_ep_unlink_conn(ep, c);
    pg_conn_free(c);
    free(pc);
    ep->refs--;
    pg_ep_maybe_free(ep);
}

/* ---- lifetime ---- */

static void idle_closed(uv_handle_t *h)
{
    struct dp_pgwire *ep = h->data;
    ep->refs--;
    pg_ep_maybe_free(ep);
}

int dp_pgwire_new(struct dp_pgwire **out, const struct dp_pgwire_config *cfg, struct cmk_err *err)
{
    *out = NULL;
    if (cfg->backend == NULL || cfg->backend->version < 1 || cfg->backend->resolve == NULL ||
        cfg->backend->open_db == NULL || cfg->backend->drop_db == NULL || cfg->clock == NULL)
        return cmk_err_set(err, CMK_EINVAL, 0, "BadConfig",
                           "the endpoint needs a clock and a backend with resolve, open_db and "
                           "drop_db");
    struct dp_pgwire *ep = cmk_xcalloc(1, sizeof(*ep));
    ep->cfg = *cfg;
    ep->backend = *cfg->backend;
    if (ep->cfg.max_message == 0)
        ep->cfg.max_message = 64 * 1024 * 1024;
    if (ep->cfg.max_statement_steps == 0)
        ep->cfg.max_statement_steps = PG_VM_BUDGET;
    ep->next_pid = 10000;
    if (RAND_bytes(ep->secret, sizeof(ep->secret)) != 1) {
        free(ep);
        return cmk_err_set(err, CMK_ECRYPTO, 0, "RandFailed", "no randomness for the endpoint");
    }
    if (cfg->loop) {
        uv_idle_init(cfg->loop, &ep->idle);
        ep->idle.data = ep;
        ep->idle_open = 1;
        ep->refs++;
    }
    *out = ep;
    return 0;
}

void dp_pgwire_free(struct dp_pgwire *ep)
{
    if (ep == NULL)
        return;
    ep->freeing = 1;
    while (ep->listeners)
        pg_ep_close_listener(ep, ep->listeners);
    for (struct dp_pgconn *c = ep->conns, *next; c; c = next) {
        next = c->ep_next;
        kill_conn(c, "57P01", "terminating connection due to administrator command");
    }
    while (ep->servers) {
        struct pg_srv *s = ep->servers;
        ep->servers = s->next;
        close_global(ep, s);
        free(s);
    }
    if (ep->idle_open) {
        if (ep->idle_on)
            uv_idle_stop(&ep->idle);
        ep->idle_open = 0;
        uv_close((uv_handle_t *)&ep->idle, idle_closed);
    }
    pg_ep_maybe_free(ep);
}
