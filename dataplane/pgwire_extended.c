/* pgwire_extended.c: the extended query protocol's messages.
 *
 * Parse prepares at once (named or unnamed statements; syntax errors and missing tables are
 * reported at Parse, as PostgreSQL does). Bind parses parameters by their declared types
 * (text or binary) and records result formats; a portal borrows its statement's SQLite
 * statement when free, or prepares its own. Describe answers ParameterDescription and
 * RowDescription (statement) or RowDescription (portal); Execute runs a portal as a job, with
 * an optional row limit (PortalSuspended); Close drops either. The protocol's rule after an
 * error (skip until Sync) is applied by pg_query_message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire_int.h"

static int count_statements(const struct pg_lex *lx, size_t *first, size_t *first_end)
{
    int n = 0;
    *first = *first_end = 0;
    for (size_t i = 0; i < lx->nt;) {
        size_t end = pg_lex_stmt_end(lx, i);
        if (end > i && n++ == 0) {
            *first = i;
            *first_end = end;
        }
        if (lx->t[end].kind == TK_EOF)
            break;
        i = end + 1;
    }
    return n;
}

int pg_ext_parse(struct dp_pgconn *c, const struct pg_msg *m)
{
    struct pg_reader r;
    pg_reader_init(&r, m->data, m->len);
    const char *name = pg_get_str(&r), *query = pg_get_str(&r);
    int16_t n = pg_get_i16(&r);
    if (r.bad || n < 0 || pg_reader_left(&r) < (size_t)n * 4) {
        struct pg_error e;
        pg_error_set(&e, "08P01", "invalid Parse message");
        pg_conn_fatal(c, &e);
        return 1;
    }
    if (name[0] && pg_query_find_stmt(c, name)) {
        pg_query_fail(c, "42P05", "prepared statement \"%s\" already exists", name, 0, 0);
        return 1;
    }
    struct pg_lex lx;
    struct pg_error e;
    if (pg_lex_run(&lx, query, strlen(query), &e) != 0) {
        pg_exec_fail(c, &e);
        return 1;
    }
    size_t first, first_end;
    if (count_statements(&lx, &first, &first_end) > 1) {
        pg_lex_close(&lx);
        pg_query_fail(c, "42601", "cannot insert multiple commands into a prepared statement%s", "",
                      0, 0);
        return 1;
    }
    struct pg_stmt *s = cmk_xcalloc(1, sizeof(*s));
    pg_plan_init(&s->plan);
    pg_plan_build(&s->plan, &lx, first, first_end);
    pg_lex_close(&lx);
    int ok = 1;
    if (c->txn == TXN_FAILED && !pg_query_allowed_when_failed(&s->plan)) {
        pg_query_aborted(c);
        ok = 0;
    } else if (s->plan.kind == PLAN_ERROR) {
        pg_exec_fail(c, &s->plan.err);
        ok = 0;
    } else if (s->plan.kind == PLAN_SQL && !s->plan.multi) {
        int rc = pg_exec_prepare(c, &s->plan, &s->st, &e);
        if (rc == EXEC_BLOCKED) {
            pg_plan_close(&s->plan);
            free(s);
            pg_query_park(c);
            return 0;
        }
        if (rc == EXEC_ERROR) {
            pg_exec_fail(c, &e);
            ok = 0;
        }
    }
    if (!ok) {
        if (s->st)
            sqlite3_finalize(s->st);
        pg_plan_close(&s->plan);
        free(s);
        return 1;
    }
    s->name = cmk_xstrdup(name);
    s->query = cmk_xstrdup(query);
    s->nparam_oids = n;
    s->param_oids = cmk_xcalloc((size_t)(n ? n : 1), sizeof(uint32_t));
    for (int i = 0; i < n; i++)
        s->param_oids[i] = (uint32_t)pg_get_i32(&r);
    if (name[0] == 0) {
        struct pg_stmt *old = pg_query_find_stmt(c, "");
        if (old)
            pg_conn_drop_stmt(c, old);
    }
    s->next = c->stmts;
    c->stmts = s;
    pg_send_simple(&c->out, '1');
    return 1;
}

int pg_ext_bind(struct dp_pgconn *c, const struct pg_msg *m)
{
    struct pg_reader r;
    pg_reader_init(&r, m->data, m->len);
    const char *pname = pg_get_str(&r), *sname = pg_get_str(&r);
    int16_t nf = pg_get_i16(&r);
    const uint8_t *fmts = nf > 0 ? pg_get_bytes(&r, (size_t)nf * 2) : NULL;
    int16_t np = pg_get_i16(&r);
    if (r.bad || nf < 0 || np < 0) {
        struct pg_error e;
        pg_error_set(&e, "08P01", "invalid Bind message");
        pg_conn_fatal(c, &e);
        return 1;
    }
    struct pg_stmt *s = pg_query_find_stmt(c, sname);
    if (s == NULL) {
        if (sname[0])
            pg_query_fail(c, "26000", "prepared statement \"%s\" does not exist", sname, 0, 0);
        else
            pg_query_fail(c, "26000", "unnamed prepared statement does not exist%s", "", 0, 0);
        return 1;
    }
    if (c->txn == TXN_FAILED && !pg_query_allowed_when_failed(&s->plan)) {
        pg_query_aborted(c);
        return 1;
    }
    int need = s->plan.nparams > s->nparam_oids ? s->plan.nparams : s->nparam_oids;
    if (s->st && sqlite3_bind_parameter_count(s->st) > need)
        need = sqlite3_bind_parameter_count(s->st);
    if (np != need) {
        pg_query_fail(c, "08P01",
                      "bind message supplies %2$d parameters, but prepared statement \"%1$s\" "
                      "requires %3$d",
                      sname, np, need);
        return 1;
    }
    if (nf > 1 && nf != np) {
        pg_query_fail(c, "08P01", "bind message has %2$d parameter formats but %3$d parameters%1$s",
                      "", nf, np);
        return 1;
    }
    struct pg_portal *old = pg_query_find_portal(c, pname);
    if (old && pname[0]) {
        pg_query_fail(c, "42P03", "cursor \"%s\" already exists", pname, 0, 0);
        return 1;
    }
    struct pg_portal *p = cmk_xcalloc(1, sizeof(*p));
    p->stmt = s;
    if (s->plan.kind == PLAN_SQL && !s->plan.multi) {
        if (s->st && !s->st_in_use) {
            p->st = s->st;
            s->st_in_use = 1;
            sqlite3_reset(p->st);
            sqlite3_clear_bindings(p->st);
        } else {
            struct pg_error e;
            int rc = pg_exec_prepare(c, &s->plan, &p->st, &e);
            if (rc == EXEC_BLOCKED) {
                free(p);
                pg_query_park(c);
                return 0;
            }
            if (rc == EXEC_ERROR) {
                free(p);
                pg_exec_fail(c, &e);
                return 1;
            }
            p->owns_st = 1;
        }
    }
    for (int i = 0; i < np; i++) {
        int32_t len = pg_get_i32(&r);
        const uint8_t *v = len > 0 ? pg_get_bytes(&r, (size_t)len) : (const uint8_t *)"";
        if (r.bad)
            break;
        int binary = nf == 0   ? 0
                     : nf == 1 ? (fmts[0] << 8 | fmts[1])
                               : (fmts[2 * i] << 8 | fmts[2 * i + 1]);
        uint32_t oid = i < s->nparam_oids ? s->param_oids[i] : 0;
        struct pg_error e;
        if (p->st && pg_bind_param(p->st, i + 1, oid, binary == 1, v, len, &e) != 0) {
            pg_portal_free(c, p);
            pg_exec_fail(c, &e);
            return 1;
        }
    }
    int16_t nr = pg_get_i16(&r);
    if (r.bad || nr < 0 || pg_reader_left(&r) < (size_t)nr * 2) {
        pg_portal_free(c, p);
        struct pg_error e;
        pg_error_set(&e, "08P01", "invalid Bind message");
        pg_conn_fatal(c, &e);
        return 1;
    }
    p->nformats = nr;
    p->formats = cmk_xcalloc((size_t)(nr ? nr : 1), sizeof(int16_t));
    for (int i = 0; i < nr; i++)
        p->formats[i] = pg_get_i16(&r);
    if (old) { /* the unnamed portal is replaced */
        for (struct pg_portal **pp = &c->portals; *pp; pp = &(*pp)->next)
            if (*pp == old) {
                *pp = old->next;
                break;
            }
        pg_portal_free(c, old);
    }
    p->name = cmk_xstrdup(pname);
    p->next = c->portals;
    c->portals = p;
    pg_send_simple(&c->out, '2');
    return 1;
}

int pg_ext_describe(struct dp_pgconn *c, const struct pg_msg *m)
{
    struct pg_reader r;
    pg_reader_init(&r, m->data, m->len);
    uint8_t kind = pg_get_u8(&r);
    const char *name = pg_get_str(&r);
    if (r.bad || (kind != 'S' && kind != 'P')) {
        struct pg_error e;
        pg_error_set(&e, "08P01", "invalid DESCRIBE message subtype %d", kind);
        pg_conn_fatal(c, &e);
        return 1;
    }
    if (kind == 'S') {
        struct pg_stmt *s = pg_query_find_stmt(c, name);
        if (s == NULL)
            pg_query_fail(c, "26000", "prepared statement \"%s\" does not exist", name, 0, 0);
        else
            pg_exec_describe_stmt(c, s);
        return 1;
    }
    struct pg_portal *p = pg_query_find_portal(c, name);
    if (p == NULL) {
        pg_query_fail(c, "34000", "portal \"%s\" does not exist", name, 0, 0);
        return 1;
    }
    if (pg_exec_describe_portal(c, &p->stmt->plan, p) == EXEC_BLOCKED) {
        pg_query_park(c);
        return 0;
    }
    return 1;
}

int pg_ext_execute(struct dp_pgconn *c, const struct pg_msg *m)
{
    struct pg_reader r;
    pg_reader_init(&r, m->data, m->len);
    const char *name = pg_get_str(&r);
    int32_t max = pg_get_i32(&r);
    if (r.bad) {
        struct pg_error e;
        pg_error_set(&e, "08P01", "invalid Execute message");
        pg_conn_fatal(c, &e);
        return 1;
    }
    struct pg_portal *p = pg_query_find_portal(c, name);
    if (p == NULL) {
        pg_query_fail(c, "34000", "portal \"%s\" does not exist", name, 0, 0);
        return 1;
    }
    if (p->done) { /* run to completion already: nothing more */
        char tag[48];
        snprintf(tag, sizeof(tag), p->stmt->plan.tag_count ? "%s 0" : "%s", p->stmt->plan.tag);
        pg_send_complete(&c->out, tag);
        return 1;
    }
    c->xportal = p;
    c->xmax = max > 0 ? max : 0;
    snprintf(c->last_query, sizeof(c->last_query), "%s", p->stmt->query);
    p->exec_base = p->rows;
    c->cancel = 0;
    c->job = JOB_EXECUTE;
    if (c->txn == TXN_IDLE)
        c->stmt_time = cmk_clock_now(pg_ep_clock(c->ep));
    return 1;
}

int pg_ext_execute_continue(struct dp_pgconn *c)
{
    struct pg_portal *p = c->xportal;
    if (c->cancel) {
        c->cancel = 0;
        c->sleep_ms = 0;
        if (p->st)
            sqlite3_reset(p->st);
        p->done = 1;
        pg_query_fail(c, "57014", "canceling statement due to user request%s", "", 0, 0);
        c->job = JOB_NONE;
        c->xportal = NULL;
        return 1;
    }
    switch (pg_exec_portal(c, &p->stmt->plan, p, 0, c->xmax)) {
    case EXEC_YIELD:
        pg_query_wait_output(c);
        return 0;
    case EXEC_BLOCKED:
        pg_query_park(c);
        return 0;
    case EXEC_SLEEP:
        pg_query_start_sleep(c);
        return 0;
    case EXEC_ERROR:
        p->done = 1;
        break;
    default:
        break;
    }
    c->sleep_ms = 0;
    c->job = JOB_NONE;
    c->xportal = NULL;
    return 1;
}

int pg_ext_close(struct dp_pgconn *c, const struct pg_msg *m)
{
    struct pg_reader r;
    pg_reader_init(&r, m->data, m->len);
    uint8_t kind = pg_get_u8(&r);
    const char *name = pg_get_str(&r);
    if (r.bad || (kind != 'S' && kind != 'P')) {
        struct pg_error e;
        pg_error_set(&e, "08P01", "invalid CLOSE message subtype %d", kind);
        pg_conn_fatal(c, &e);
        return 1;
    }
    if (kind == 'S') {
        struct pg_stmt *s = pg_query_find_stmt(c, name);
        if (s)
            pg_conn_drop_stmt(c, s);
    } else {
        for (struct pg_portal **pp = &c->portals; *pp; pp = &(*pp)->next)
            if (strcmp((*pp)->name, name) == 0) {
                struct pg_portal *p = *pp;
                *pp = p->next;
                pg_portal_free(c, p);
                break;
            }
    }
    pg_send_simple(&c->out, '3');
    return 1;
}
