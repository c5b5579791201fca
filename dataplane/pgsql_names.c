/* pgsql_names.c: result column names and type hints, as PostgreSQL would give them.
 *
 * node-postgres keys rows by column name, so "SELECT count(*)" must give a column "count",
 * not SQLite's "count(*)": for the result list of the outermost SELECT (or RETURNING) this
 * figures out PostgreSQL's name of each unaliased item (FigureColname: a column's name, a
 * function's name, a cast's type name, "?column?") and asks the rewriter to add an alias. It
 * also records a type hint per column (the cast's type, int8 for count(), bool for
 * comparisons, int4 or numeric for literals) that RowDescription uses when SQLite has no
 * declared type for the column.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgsql_xlate_int.h"

static int is_terminator(const struct xl *x, size_t k)
{
    static const char *const words[] = {
        "from",      "where",  "group", "having", "window", "order",     "limit", "offset", "union",
        "intersect", "except", "for",   "into",   "fetch",  "returning", "on",    NULL};
    for (int i = 0; words[i]; i++)
        if (xl_is(x, k, words[i]))
            return 1;
    return 0;
}

static int bool_word(const struct xl *x, size_t k)
{
    static const char *const words[] = {"and", "or",      "not",    "is",      "like", "ilike",
                                        "in",  "between", "exists", "similar", NULL};
    for (int i = 0; words[i]; i++)
        if (xl_is(x, k, words[i]))
            return 1;
    const struct pg_tok *t = xl_tok(x, k);
    if (t->kind == TK_OP) {
        const char *s = x->lx->src + t->off;
        return (t->len == 1 && strchr("=<>~", s[0])) ||
               (t->len == 2 && (!memcmp(s, "<>", 2) || !memcmp(s, "!=", 2) || !memcmp(s, "<=", 2) ||
                                !memcmp(s, ">=", 2) || !memcmp(s, "!~", 2) || !memcmp(s, "~*", 2)));
    }
    return 0;
}

/* Name (PostgreSQL's FigureColname) and type hint of the expression [a, b). */
static void figure(const struct xl *x, size_t a, size_t b, char *name, size_t nn, uint32_t *hint)
{
    name[0] = 0;
    *hint = 0;
    /* a trailing depth-0 cast: the name of its operand, else the type's; the hint is the type */
    int depth = 0;
    size_t cast = b;
    for (size_t k = a; k < b; k++) {
        enum pg_tok_kind kk = xl_tok(x, k)->kind;
        if (kk == TK_LPAREN || kk == TK_LBRACK || xl_is(x, k, "case"))
            depth++;
        else if (kk == TK_RPAREN || kk == TK_RBRACK || xl_is(x, k, "end"))
            depth--;
        else if (depth == 0 && kk == TK_CAST) {
            cast = k;
            break;
        }
    }
    if (cast < b) {
        struct pg_typename t;
        size_t k = cast, last = cast;
        while (k < b && xl_tok(x, k)->kind == TK_CAST && xl_parse_type(x, k + 1, b, &t) == 0) {
            last = k;
            k = t.end;
        }
        xl_parse_type(x, last + 1, b, &t);
        const struct pg_type *ty = pg_type_by_name(t.name);
        if (k == b) {
            *hint = ty ? (t.array ? pg_type_array_of(ty->oid) : ty->oid) : PG_OID_TEXT;
            if (*hint == 0)
                *hint = PG_OID_TEXT_ARRAY;
            uint32_t dummy;
            figure(x, a, cast, name, nn, &dummy);
            if (name[0] == 0 || strcmp(name, "?column?") == 0)
                snprintf(name, nn, "%s", ty ? ty->name : t.name);
            return;
        }
    }
    const struct pg_tok *t0 = xl_tok(x, a);
    /* bool-valued expressions */
    depth = 0;
    for (size_t k = a; k < b; k++) {
        enum pg_tok_kind kk = xl_tok(x, k)->kind;
        if (kk == TK_LPAREN || xl_is(x, k, "case"))
            depth++;
        else if (kk == TK_RPAREN || xl_is(x, k, "end"))
            depth--;
        else if (depth == 0 && bool_word(x, k)) {
            *hint = PG_OID_BOOL;
            break;
        }
    }
    if (b == a + 1) {
        switch (t0->kind) {
        case TK_NUMBER: {
            const char *s = x->lx->src + t0->off;
            int dec = memchr(s, '.', t0->len) || memchr(s, 'e', t0->len) || memchr(s, 'E', t0->len);
            *hint = dec ? PG_OID_NUMERIC
                    : (t0->len < 10 || (t0->len == 10 && strncmp(s, "2147483647", 10) <= 0))
                        ? PG_OID_INT4
                        : PG_OID_INT8;
            break;
        }
        case TK_STRING:
            *hint = PG_OID_TEXT;
            break;
        case TK_IDENT:
            if (xl_is(x, a, "true") || xl_is(x, a, "false")) {
                *hint = PG_OID_BOOL;
                snprintf(name, nn, "bool");
                return;
            }
            if (xl_is(x, a, "null"))
                break;
            if (xl_is(x, a, "current_timestamp") || xl_is(x, a, "localtimestamp"))
                *hint = PG_OID_TIMESTAMPTZ;
            else if (xl_is(x, a, "current_date"))
                *hint = PG_OID_DATE;
            else if (xl_is(x, a, "current_user") || xl_is(x, a, "session_user") ||
                     xl_is(x, a, "current_role") || xl_is(x, a, "current_catalog") ||
                     xl_is(x, a, "current_schema") || xl_is(x, a, "user"))
                *hint = PG_OID_NAME;
            xl_name(x, a, name, nn);
            return;
        case TK_QIDENT:
            xl_name(x, a, name, nn);
            return;
        default:
            break;
        }
        if (name[0] == 0)
            snprintf(name, nn, "?column?");
        return;
    }
    /* qualified column t.c */
    if ((b - a) % 2 == 1) {
        int chain = 1;
        for (size_t k = a; k < b; k++)
            if ((k - a) % 2 == 0
                    ? (xl_tok(x, k)->kind != TK_IDENT && xl_tok(x, k)->kind != TK_QIDENT)
                    : xl_tok(x, k)->kind != TK_DOT)
                chain = 0;
        if (chain) {
            xl_name(x, b - 1, name, nn);
            return;
        }
    }
    /* f(...) or schema.f(...) */
    size_t f = a;
    if (xl_tok(x, a + 1)->kind == TK_DOT && b > a + 3)
        f = a + 2;
    if ((xl_tok(x, f)->kind == TK_IDENT || xl_tok(x, f)->kind == TK_QIDENT) &&
        xl_tok(x, f + 1)->kind == TK_LPAREN && xl_match(x, f + 1, b) == b - 1) {
        xl_name(x, f, name, nn);
        if (strcmp(name, "count") == 0)
            *hint = PG_OID_INT8;
        else if (strcmp(name, "now") == 0)
            *hint = PG_OID_TIMESTAMPTZ;
        else if (strcmp(name, "version") == 0 || strcmp(name, "current_setting") == 0)
            *hint = PG_OID_TEXT;
        else if (strcmp(name, "current_database") == 0 || strcmp(name, "current_user") == 0)
            *hint = PG_OID_NAME;
        else if (strcmp(name, "pg_backend_pid") == 0 || strcmp(name, "length") == 0)
            *hint = PG_OID_INT4;
        else if (strcmp(name, "exists") == 0 || strcmp(name, "pg_is_in_recovery") == 0)
            *hint = PG_OID_BOOL;
        else if (strcmp(name, "cast") == 0) {
            size_t as = xl_find_word(x, f + 2, b - 1, "as");
            struct pg_typename t;
            if (as < b - 1 && xl_parse_type(x, as + 1, b - 1, &t) == 0) {
                const struct pg_type *ty = pg_type_by_name(t.name);
                uint32_t dummy;
                *hint = ty ? ty->oid : 0;
                figure(x, f + 2, as, name, nn, &dummy);
                if (strcmp(name, "?column?") == 0 && ty)
                    snprintf(name, nn, "%s", ty->name);
            }
        }
        return;
    }
    if (xl_is(x, a, "case") && xl_is(x, b - 1, "end")) {
        snprintf(name, nn, "case");
        return;
    }
    if (xl_is(x, a, "array")) {
        snprintf(name, nn, "array");
        return;
    }
    if (xl_is(x, a, "exists")) {
        snprintf(name, nn, "exists");
        *hint = PG_OID_BOOL;
        return;
    }
    if (t0->kind == TK_LPAREN && xl_match(x, a, b) == b - 1 && !xl_is(x, a + 1, "select")) {
        figure(x, a + 1, b - 1, name, nn, hint);
        return;
    }
    snprintf(name, nn, "?column?");
}

static void add_alias(struct xl *x, size_t pos, const char *name)
{
    if (x->nal == x->alcap) {
        x->alcap = x->alcap ? x->alcap * 2 : 16;
        x->al = cmk_xrealloc(x->al, x->alcap * sizeof(*x->al));
    }
    x->al[x->nal].pos = pos;
    snprintf(x->al[x->nal].name, sizeof(x->al[x->nal].name), "%s", name);
    x->nal++;
}

/* Analyse the result list starting at j (after SELECT or RETURNING). */
void xl_analyze_items(struct xl *x, size_t j, size_t to)
{
    if (xl_is(x, j, "distinct") || xl_is(x, j, "all"))
        j++;
    struct pg_plan *p = x->p;
    int hints_ok = 1;
    p->nhints = 0;
    while (j < to) {
        size_t a = j;
        int depth = 0;
        size_t b = a;
        for (; b < to; b++) {
            enum pg_tok_kind kk = xl_tok(x, b)->kind;
            if (kk == TK_LPAREN || kk == TK_LBRACK)
                depth++;
            else if (kk == TK_RPAREN || kk == TK_RBRACK) {
                if (--depth < 0)
                    break;
            } else if (depth == 0 && (kk == TK_COMMA || kk == TK_SEMI || is_terminator(x, b)))
                break;
        }
        if (b == a)
            break;
        /* an alias: "AS name" or "expr name" */
        size_t end = b;
        int aliased = 0;
        if (b - a >= 2 && xl_is(x, b - 2, "as")) {
            aliased = 1;
            end = b - 2;
        } else if (b - a >= 2 &&
                   (xl_tok(x, b - 1)->kind == TK_IDENT || xl_tok(x, b - 1)->kind == TK_QIDENT)) {
            enum pg_tok_kind pk = xl_tok(x, b - 2)->kind;
            int word_end = xl_is(x, b - 1, "end") || xl_is(x, b - 1, "null") ||
                           xl_is(x, b - 1, "true") || xl_is(x, b - 1, "false") ||
                           xl_is(x, b - 1, "unknown");
            int in_type = 0;
            for (size_t k = a; k < b; k++) {
                struct pg_typename t;
                if (xl_tok(x, k)->kind == TK_CAST && xl_parse_type(x, k + 1, b, &t) == 0 &&
                    t.end == b)
                    in_type = 1;
            }
            if (!word_end && !in_type && pk != TK_DOT && pk != TK_OP && pk != TK_CAST &&
                !(pk == TK_IDENT && (xl_is(x, b - 2, "is") || xl_is(x, b - 2, "not")))) {
                aliased = 1;
                end = b - 1;
            }
        }
        const struct pg_tok *lt = xl_tok(x, end - 1);
        int star = lt->kind == TK_OP && lt->len == 1 && x->lx->src[lt->off] == '*';
        if (star)
            hints_ok = 0;
        if (!star) {
            char name[DP_PG_NAME_MAX];
            uint32_t hint;
            figure(x, a, end, name, sizeof(name), &hint);
            if (hints_ok && p->nhints < PG_MAX_HINTS)
                p->hints[p->nhints++] = hint;
            int plain = end - a == 1 &&
                        (xl_tok(x, a)->kind == TK_IDENT || xl_tok(x, a)->kind == TK_QIDENT) &&
                        hint == 0;
            int chain = (end - a) % 2 == 1 && xl_tok(x, end - 2)->kind == TK_DOT;
            if (!aliased && !plain && !chain && name[0])
                add_alias(x, end - 1, name);
        }
        j = b;
        if (j < to && xl_tok(x, j)->kind == TK_COMMA)
            j++;
        else
            break;
    }
}
