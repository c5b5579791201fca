/* pgwire_query.c: the simple and the extended query protocols.
 *
 * Simple query ('Q'): the text is tokenized once and its statements run one after the other
 * as a job that may pause (lock wait, slow client, pg_sleep) and resume; several statements
 * outside a transaction block run in one implicit transaction, as in PostgreSQL. An error ends
 * the job; ReadyForQuery carries the transaction status (I, T or E).
 *
 * Extended query: Parse (named or unnamed statements, prepared at once so errors come at
 * Parse), Bind (text and binary parameters by their declared types, result formats; a portal
 * borrows its statement's SQLite statement or prepares its own), Describe (statement:
 * ParameterDescription + RowDescription; portal: RowDescription), Execute (with a row limit:
 * PortalSuspended), Close, Flush and Sync (pgwire_extended.c). After an error everything up
 * to Sync is skipped; Sync ends the implicit transaction and closes its portals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire_int.h"

void pg_query_fail(struct dp_pgconn *c, const char *code, const char *fmt, const char *a, int n,
                   int m)
{
    struct pg_error e;
    pg_error_set(&e, code, fmt, a, n, m);
    pg_exec_fail(c, &e);
}

void pg_query_park(struct dp_pgconn *c)
{
    c->parked = 1;
    pg_conn_start_timer(c, PG_TIMER_RETRY, PG_LOCK_RETRY);
}

void pg_query_wait_output(struct dp_pgconn *c)
{
    if (!c->tp->backlogged(c))
        pg_ep_defer(c); /* a slice is done: let other sessions run, then continue */
}

void pg_query_start_sleep(struct dp_pgconn *c)
{
    c->sleeping = 1;
    pg_conn_start_timer(c, PG_TIMER_SLEEP, c->sleep_ms);
}

struct pg_stmt *pg_query_find_stmt(struct dp_pgconn *c, const char *name)
{
    for (struct pg_stmt *s = c->stmts; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

struct pg_portal *pg_query_find_portal(struct dp_pgconn *c, const char *name)
{
    for (struct pg_portal *p = c->portals; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

int pg_query_allowed_when_failed(const struct pg_plan *plan)
{
    return plan->kind == PLAN_CMD &&
           (plan->cmd == CMD_COMMIT || plan->cmd == CMD_ROLLBACK || plan->cmd == CMD_ROLLBACK_TO);
}

void pg_query_aborted(struct dp_pgconn *c)
{
    pg_query_fail(
        c, "25P02",
        "current transaction is aborted, commands ignored until end of transaction block%s", "", 0,
        0);
}

/* ---- simple query ---- */

static void end_statement(struct dp_pgconn *c)
{
    pg_portal_reset(c, &c->qportal);
    c->qportal.owns_st = 0;
    pg_plan_close(&c->plan);
    c->qactive = 0;
    c->cancel = 0;
    c->sleep_ms = 0;
}

static void finish_query(struct dp_pgconn *c, int failed)
{
    if (c->implicit_txn) {
        int rc = SQLITE_OK;
        if (c->txn == TXN_BLOCK && !failed && !sqlite3_get_autocommit(c->db))
            rc = pg_exec_internal(c, c->db, "COMMIT");
        if ((c->txn != TXN_BLOCK || failed || rc != SQLITE_OK) && !sqlite3_get_autocommit(c->db))
            pg_exec_internal(c, c->db, "ROLLBACK");
        if (rc != SQLITE_OK) {
            struct pg_error e;
            pg_exec_sqlite_error(c, rc, &e);
            pg_send_error(&c->out, &e);
        }
        c->implicit_txn = 0;
        c->txn = TXN_IDLE;
        pg_exec_txn_ended(c);
    }
    if (!c->query_had_stmt && !failed)
        pg_send_simple(&c->out, 'I');
    pg_send_ready(&c->out, (char)c->txn);
    free(c->query);
    c->query = NULL;
    pg_lex_close(&c->lex);
    c->job = JOB_NONE;
}

static int simple_query(struct dp_pgconn *c, const struct pg_msg *m)
{
    struct pg_reader r;
    pg_reader_init(&r, m->data, m->len);
    const char *q = pg_get_str(&r);
    if (q == NULL) {
        struct pg_error e;
        pg_error_set(&e, "08P01", "invalid query message");
        pg_conn_fatal(c, &e);
        return 1;
    }
    c->in_extended = 0;
    c->cancel = 0;
    c->query = cmk_xstrdup(q);
    snprintf(c->last_query, sizeof(c->last_query), "%s", q);
    struct pg_error e;
    if (pg_lex_run(&c->lex, c->query, strlen(c->query), &e) != 0) {
        pg_exec_fail(c, &e);
        c->query_had_stmt = 1;
        c->job = JOB_QUERY;
        finish_query(c, 1);
        return 1;
    }
    int n = 0;
    for (size_t i = 0; i < c->lex.nt;) {
        size_t end = pg_lex_stmt_end(&c->lex, i);
        if (end > i)
            n++;
        if (c->lex.t[end].kind == TK_EOF)
            break;
        i = end + 1;
    }
    c->next_tok = 0;
    c->query_had_stmt = 0;
    c->qactive = 0;
    c->job = JOB_QUERY;
    c->stmt_time = cmk_clock_now(pg_ep_clock(c->ep));
    if (n > 1 && c->txn == TXN_IDLE && pg_exec_internal(c, c->db, "BEGIN") == SQLITE_OK) {
        c->implicit_txn = 1;
        c->txn = TXN_BLOCK;
        c->txn_wrote = 0;
    }
    return 1;
}

static int query_continue(struct dp_pgconn *c)
{
    for (;;) {
        if (c->cancel && c->qactive) {
            struct pg_error e;
            pg_error_set(&e, "57014", "canceling statement due to user request");
            pg_exec_fail(c, &e);
            end_statement(c);
            finish_query(c, 1);
            return 1;
        }
        if (!c->qactive) {
            size_t i = c->next_tok;
            if (i >= c->lex.nt || c->lex.t[i].kind == TK_EOF) {
                finish_query(c, 0);
                return 1;
            }
            size_t end = pg_lex_stmt_end(&c->lex, i);
            c->next_tok = c->lex.t[end].kind == TK_SEMI ? end + 1 : end;
            if (end == i)
                continue;
            c->query_had_stmt = 1;
            pg_plan_build(&c->plan, &c->lex, i, end);
            memset(&c->qportal, 0, sizeof(c->qportal));
            if (c->txn == TXN_IDLE)
                c->stmt_time = cmk_clock_now(pg_ep_clock(c->ep));
            c->qactive = 1;
        }
        if (c->plan.kind == PLAN_SQL && !c->plan.multi && c->qportal.st == NULL &&
            c->txn != TXN_FAILED) {
            struct pg_error e;
            int r = pg_exec_prepare(c, &c->plan, &c->qportal.st, &e);
            if (r == EXEC_BLOCKED) {
                pg_query_park(c);
                return 0;
            }
            if (r == EXEC_ERROR) {
                pg_exec_fail(c, &e);
                end_statement(c);
                finish_query(c, 1);
                return 1;
            }
            c->qportal.owns_st = 1;
        }
        switch (pg_exec_portal(c, &c->plan, &c->qportal, 1, 0)) {
        case EXEC_DONE:
        case EXEC_SUSPENDED:
            end_statement(c);
            continue;
        case EXEC_ERROR:
            end_statement(c);
            finish_query(c, 1);
            return 1;
        case EXEC_YIELD:
            pg_query_wait_output(c);
            return 0;
        case EXEC_BLOCKED:
            pg_query_park(c);
            return 0;
        case EXEC_SLEEP:
            pg_query_start_sleep(c);
            return 0;
        }
    }
}

int pg_query_message(struct dp_pgconn *c, const struct pg_msg *m)
{
    if (c->skip_to_sync && m->type != 'S' && m->type != 'X')
        return 1;
    switch (m->type) {
    case 'Q':
        return simple_query(c, m);
    case 'P':
        c->in_extended = 1;
        return pg_ext_parse(c, m);
    case 'B':
        c->in_extended = 1;
        return pg_ext_bind(c, m);
    case 'D':
        c->in_extended = 1;
        return pg_ext_describe(c, m);
    case 'E':
        c->in_extended = 1;
        return pg_ext_execute(c, m);
    case 'C':
        c->in_extended = 1;
        return pg_ext_close(c, m);
    case 'S':
        c->skip_to_sync = 0;
        c->in_extended = 0;
        if (c->txn == TXN_IDLE)
            pg_conn_close_portals(c);
        pg_send_ready(&c->out, (char)c->txn);
        return 1;
    case 'H':
        c->tp->flush(c);
        return 1;
    case 'X':
        c->state = CS_CLOSED;
        pg_conn_release(c);
        c->tp->close(c);
        return 1;
    case 'd': /* CopyData/CopyDone/CopyFail outside COPY are ignored */
    case 'c':
    case 'f':
        return 1;
    case 'F':
        pg_query_fail(c, "0A000", "the function call protocol is not supported by this server%s",
                      "", 0, 0);
        pg_send_ready(&c->out, (char)c->txn);
        return 1;
    default: {
        struct pg_error e;
        pg_error_set(&e, "08P01", "invalid frontend message type %d", (unsigned char)m->type);
        pg_conn_fatal(c, &e);
        return 1;
    }
    }
}

int pg_query_continue(struct dp_pgconn *c)
{
    if (c->job == JOB_QUERY)
        return query_continue(c);
    if (c->job == JOB_EXECUTE)
        return pg_ext_execute_continue(c);
    return 1;
}

void pg_query_abort(struct dp_pgconn *c)
{
    if (c->job == JOB_QUERY) {
        pg_portal_reset(c, &c->qportal);
        pg_plan_close(&c->plan);
        c->qactive = 0;
        free(c->query);
        c->query = NULL;
        pg_lex_close(&c->lex);
    } else if (c->job == JOB_EXECUTE && c->xportal && c->xportal->st) {
        sqlite3_reset(c->xportal->st);
    }
    c->xportal = NULL;
    c->implicit_txn = 0;
    c->job = JOB_NONE;
}
