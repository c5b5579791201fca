/* pgsql_plan.c: plans, one per PostgreSQL statement.
 *
 * pg_plan_build decides what a statement is (empty, answered by the endpoint, DDL, a query or
 * DML), runs the rewriter over it, and records what the executor needs: the SQLite text, the
 * command tag ("SELECT", "INSERT"... or the word itself), whether it writes, the number of
 * parameters, whether it reads the catalog, and type hints for its result columns.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgsql_xlate_int.h"

void pg_plan_init(struct pg_plan *p)
{
    memset(p, 0, sizeof(*p));
    cmk_buf_init(&p->sql);
}

void pg_plan_close(struct pg_plan *p)
{
    cmk_buf_close(&p->sql);
    if (p->value) {
        memset(p->value, 0, strlen(p->value)); /* may hold a password */
        free(p->value);
    }
    pg_plan_init(p);
}

static void set_tag(struct pg_plan *p, const char *tag, int count)
{
    snprintf(p->tag, sizeof(p->tag), "%s", tag);
    p->tag_count = count;
}

/* The statement's kind, for the tag: the first depth-0 SELECT/INSERT/UPDATE/DELETE after WITH. */
static void tag_from(struct xl *x, size_t i, size_t end)
{
    static const char *const kinds[] = {"select", "insert", "update", "delete", "values", NULL};
    int depth = 0;
    for (size_t k = i; k < end; k++) {
        enum pg_tok_kind kk = xl_tok(x, k)->kind;
        if (kk == TK_LPAREN)
            depth++;
        else if (kk == TK_RPAREN)
            depth--;
        else if (depth == 0)
            for (int w = 0; kinds[w]; w++)
                if (xl_is(x, k, kinds[w])) {
                    char up[16];
                    snprintf(up, sizeof(up), "%s", w == 4 ? "SELECT" : kinds[w]);
                    for (char *c = up; *c; c++)
                        *c = (char)toupper((unsigned char)*c);
                    set_tag(x->p, up, 1);
                    x->is_select = w == 0 || w == 4;
                    return;
                }
    }
    set_tag(x->p, "SELECT", 1);
    x->is_select = 1;
}

static void join_output(struct xl *x)
{
    struct cmk_buf *b = &x->p->sql;
    for (size_t k = 0; k < x->no; k++) {
        const struct otok *o = &x->o[k];
        /* a space where the source had one, around generated text, and where tokens were
         * dropped in between (so "FROM pg_catalog.pg_class" stays "FROM pg_class") */
        int sp = k > 0 &&
                 (o->space || o->gen || x->o[k - 1].gen || x->o[k - 1].s + x->o[k - 1].n != o->s);
        if (sp)
            cmk_buf_append(b, " ", 1);
        cmk_buf_append(b, o->s, o->n);
    }
    if (b->data == NULL)
        cmk_buf_append(b, "", 0);
}

void pg_plan_build(struct pg_plan *p, const struct pg_lex *lx, size_t i, size_t end)
{
    pg_plan_close(p);
    if (i >= end) {
        p->kind = PLAN_EMPTY;
        return;
    }
    if (pg_plan_command(p, lx, i, end))
        return;
    struct xl x;
    memset(&x, 0, sizeof(x));
    x.lx = lx;
    x.p = p;
    p->kind = PLAN_SQL;
    if (!xl_ddl(&x, i, end)) {
        char first[32];
        xl_name(&x, i, first, sizeof(first));
        if (strcmp(first, "table") == 0 && end == i + 2) {
            /* TABLE t */
            set_tag(p, "SELECT", 1);
            x.is_select = 1;
            xl_emit(&x, TK_IDENT, "SELECT");
            xl_emit(&x, TK_OP, "*");
            xl_emit(&x, TK_IDENT, "FROM");
            xl_range(&x, i + 1, end);
        } else if (strcmp(first, "explain") == 0) {
            size_t k = i + 1;
            if (xl_tok(&x, k)->kind == TK_LPAREN)
                k = xl_match(&x, k, end) + 1;
            while (xl_is(&x, k, "analyze") || xl_is(&x, k, "verbose"))
                k++;
            set_tag(p, "EXPLAIN", 0);
            x.main_select = 1;
            xl_emit(&x, TK_IDENT, "EXPLAIN");
            xl_emit(&x, TK_IDENT, "QUERY");
            xl_emit(&x, TK_IDENT, "PLAN");
            xl_range(&x, k, end);
        } else if (strcmp(first, "with") == 0 || strcmp(first, "select") == 0 ||
                   strcmp(first, "values") == 0 || strcmp(first, "insert") == 0 ||
                   strcmp(first, "update") == 0 || strcmp(first, "delete") == 0 ||
                   xl_tok(&x, i)->kind == TK_LPAREN) {
            tag_from(&x, i, end);
            xl_range(&x, i, end);
        } else {
            char up[32];
            snprintf(up, sizeof(up), "%s", first);
            for (char *c = up; *c; c++)
                *c = (char)toupper((unsigned char)*c);
            set_tag(p, up, 0);
            xl_range(&x, i, end);
        }
    }
    if (x.failed) {
        p->kind = PLAN_ERROR;
        cmk_buf_reset(&p->sql);
    } else {
        join_output(&x);
    }
    if (strcmp(p->tag, "INSERT") == 0 || strcmp(p->tag, "UPDATE") == 0 ||
        strcmp(p->tag, "DELETE") == 0)
        p->writes = 1;
    for (size_t k = 0; k < x.nowned; k++)
        free(x.owned[k]);
    free(x.owned);
    free(x.o);
    free(x.al);
}
