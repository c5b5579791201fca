/* pgwire_conn.c: one connection: its lifetime, its statements and portals, and the run loop.
 *
 * Bytes arrive (already decrypted by the transport) in c->in; pg_conn_run takes whole
 * messages off the front and hands them on by state: startup-phase and authentication
 * messages to pgwire_login.c, the rest to pgwire_query.c. A message is taken off the input
 * only once handled, so a session that had to wait for a lock runs the same message again
 * when woken; a running job (a query being streamed, waiting or sleeping) is continued before
 * any new message is read. Output gathers in c->out and goes to the transport at the end of
 * each run (or sooner for big results). pg_conn_fatal sends FATAL and releases the session's
 * SQLite state at once; the transport frees the memory later.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "pgwire_int.h"

struct dp_pgconn *pg_conn_new(struct dp_pgwire *ep, const struct pg_transport *tp, void *tpdata)
{
    struct dp_pgconn *c = cmk_xcalloc(1, sizeof(*c));
    c->ep = ep;
    c->tp = tp;
    c->tpdata = tpdata;
    c->state = CS_STARTUP;
    c->txn = TXN_IDLE;
    cmk_buf_init(&c->in);
    cmk_buf_init(&c->out);
    pg_plan_init(&c->plan);
    return c;
}

void pg_conn_free_startup(struct dp_pgconn *c)
{
    if (c->startup == NULL)
        return;
    for (size_t i = 0; c->startup[i]; i++)
        free(c->startup[i]);
    free(c->startup);
    c->startup = NULL;
}

void pg_portal_reset(struct dp_pgconn *c, struct pg_portal *p)
{
    if (p->st) {
        if (p->owns_st) {
            sqlite3_finalize(p->st);
        } else {
            sqlite3_reset(p->st);
            sqlite3_clear_bindings(p->st);
            if (p->stmt)
                p->stmt->st_in_use = 0;
        }
    }
    p->st = NULL;
    free(p->oids);
    free(p->typmods);
    free(p->formats);
    p->oids = NULL;
    p->typmods = NULL;
    p->formats = NULL;
    p->nformats = p->ncols = 0;
    p->stepped = p->row_ready = p->complete = p->done = 0;
    p->rows = p->exec_base = 0;
}

void pg_portal_free(struct dp_pgconn *c, struct pg_portal *p)
{
    pg_portal_reset(c, p);
    free(p->name);
    free(p);
}

void pg_conn_close_portals(struct dp_pgconn *c)
{
    if (c->job == JOB_EXECUTE)
        return; /* COMMIT inside an Execute: its own portal is closed when the job ends */
    while (c->portals) {
        struct pg_portal *p = c->portals;
        c->portals = p->next;
        pg_portal_free(c, p);
    }
}

void pg_conn_drop_stmt(struct dp_pgconn *c, struct pg_stmt *s)
{
    for (struct pg_portal **pp = &c->portals; *pp;) {
        struct pg_portal *p = *pp;
        if (p->stmt == s && p != c->xportal) {
            *pp = p->next;
            pg_portal_free(c, p);
        } else {
            pp = &p->next;
        }
    }
    for (struct pg_stmt **sp = &c->stmts; *sp; sp = &(*sp)->next)
        if (*sp == s) {
            *sp = s->next;
            break;
        }
    if (s->st)
        sqlite3_finalize(s->st);
    pg_plan_close(&s->plan);
    free(s->name);
    free(s->query);
    free(s->param_oids);
    free(s);
}

void pg_conn_release(struct dp_pgconn *c)
{
    if (c->job != JOB_NONE)
        pg_query_abort(c);
    c->xportal = NULL;
    while (c->portals) {
        struct pg_portal *p = c->portals;
        c->portals = p->next;
        pg_portal_free(c, p);
    }
    while (c->stmts)
        pg_conn_drop_stmt(c, c->stmts);
    pg_plan_close(&c->plan);
    if (c->timer.clock)
        cmk_timer_stop(&c->timer);
    c->timer_kind = PG_TIMER_NONE;
    if (c->db) {
        if (!sqlite3_get_autocommit(c->db))
            pg_exec_internal(c, c->db, "ROLLBACK");
        const struct dp_pg_backend *be = pg_ep_backend(c->ep);
        if (be->close_db)
            be->close_db(be->data, c->info.handle, c->db);
        else
            sqlite3_close_v2(c->db);
        c->db = NULL;
    }
    pg_scram_free(c->scram);
    c->scram = NULL;
    OPENSSL_cleanse(c->verifier, sizeof(c->verifier));
    pg_settings_free(c);
    pg_conn_free_startup(c);
    pg_ep_detach(c);
}

void pg_conn_free(struct dp_pgconn *c)
{
    if (c == NULL)
        return;
    pg_conn_release(c);
    cmk_buf_close(&c->in);
    cmk_buf_close(&c->out);
    free(c);
}

void pg_conn_fatal(struct dp_pgconn *c, const struct pg_error *e)
{
    if (c->state == CS_CLOSED)
        return;
    if (e) {
        struct pg_error f = *e;
        f.severity = "FATAL";
        pg_send_error(&c->out, &f);
    }
    c->state = CS_CLOSED;
    pg_conn_release(c);
    c->tp->close(c);
}

static void fatal(struct dp_pgconn *c, const char *code, const char *fmt, const char *arg)
{
    struct pg_error e;
    pg_error_set(&e, code, fmt, arg ? arg : "");
    pg_conn_fatal(c, &e);
}

static void timer_cb(struct cmk_timer *t)
{
    struct dp_pgconn *c = t->data;
    if (c->timer_kind == PG_TIMER_AUTH) {
        c->timer_kind = PG_TIMER_NONE;
        fatal(c, "57014", "canceling authentication due to timeout%s", "");
    } else if (c->timer_kind == PG_TIMER_SLEEP) {
        c->timer_kind = PG_TIMER_NONE;
        c->sleeping = 0;
        c->sleep_ms = 0;
        pg_conn_run(c);
    } else if (c->timer_kind == PG_TIMER_RETRY) {
        c->timer_kind = PG_TIMER_NONE;
        c->parked = 0;
        pg_conn_run(c);
    }
}

void pg_conn_start_timer(struct dp_pgconn *c, int kind, cmk_time_t delay)
{
    if (c->timer.clock == NULL)
        cmk_timer_init(pg_ep_clock(c->ep), &c->timer, timer_cb, c);
    c->timer_kind = kind;
    cmk_timer_start(&c->timer, delay, 0);
}

void pg_conn_stop_timer(struct dp_pgconn *c)
{
    if (c->timer.clock)
        cmk_timer_stop(&c->timer);
    c->timer_kind = PG_TIMER_NONE;
}

/* ---- the run loop ---- */

static void compact_input(struct dp_pgconn *c)
{
    if (c->in_off == 0)
        return;
    if (c->in_off >= c->in.len) {
        cmk_buf_reset(&c->in);
    } else {
        cmk_buf_consume(&c->in, c->in_off);
    }
    c->in_off = 0;
}

void pg_conn_run(struct dp_pgconn *c)
{
    if (c->running || c->state == CS_CLOSED)
        return;
    c->running = 1;
    while (c->state != CS_CLOSED) {
        if (c->kill_pending) {
            c->kill_pending = 0;
            pg_conn_fatal(c, &c->kill);
            break;
        }
        if (c->parked || c->sleeping || c->state == CS_TLS)
            break;
        if (c->job != JOB_NONE) {
            if (!pg_query_continue(c))
                break;
            continue;
        }
        if (c->tp->backlogged(c))
            break;
        struct pg_msg m;
        int startup_phase = c->state == CS_STARTUP;
        size_t max = startup_phase ? PG_MAX_STARTUP : pg_ep_max_message(c->ep);
        int k = pg_msg_next((const uint8_t *)c->in.data + c->in_off, c->in.len - c->in_off,
                            startup_phase, max, &m);
        if (k == 0)
            break;
        if (k < 0) {
            fatal(c, "08P01",
                  startup_phase ? "invalid length of startup packet%s" : "invalid message length%s",
                  "");
            break;
        }
        switch (c->state) {
        case CS_STARTUP:
            c->in_off += m.total;
            pg_conn_startup(c, &m);
            break;
        case CS_AUTH_PASS:
        case CS_AUTH_SASL:
        case CS_AUTH_SASL2:
            c->in_off += m.total;
            pg_conn_auth_message(c, &m);
            break;
        case CS_READY:
            if (pg_query_message(c, &m))
                c->in_off += m.total;
            break;
        default:
            break;
        }
        if (c->in_off > 65536)
            compact_input(c);
    }
    if (c->state != CS_CLOSED)
        compact_input(c);
    c->running = 0;
    if (c->state != CS_CLOSED && c->out.len)
        c->tp->flush(c);
}

void pg_conn_input(struct dp_pgconn *c, const void *data, size_t n)
{
    if (c->state == CS_CLOSED)
        return;
    cmk_buf_append(&c->in, data, n);
    pg_conn_run(c);
}
