/* pgsql_forms.c: the rewrites that move tokens around: casts and rearranged calls.
 *
 * x::type (and CAST(x AS type)) wraps the operand already emitted: CAST(x AS INTEGER/REAL/
 * NUMERIC/TEXT) where SQLite has an affinity, pg_bool(), pg_bytea(), pg_date(), pg_regclass()
 * where it has none. position(a IN b) becomes instr(b, a), substring(x FROM a FOR b) substr(),
 * extract(f FROM x) pg_extract(), ARRAY(SELECT e ...) a group_concat in braces, ARRAY[a, b]
 * pg_array(), and FROM generate_series(a, b) AS s(i) a subquery that names the column i.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgsql_xlate_int.h"

static long operand_start(const struct xl *x)
{
    if (x->no == 0)
        return -1;
    long k = (long)x->no - 1;
    const struct otok *t = &x->o[k];
    if (t->kind == TK_RPAREN || t->kind == TK_RBRACK) {
        uint8_t close = t->kind, open = close == TK_RPAREN ? TK_LPAREN : TK_LBRACK;
        int depth = 0;
        for (; k >= 0; k--) {
            if (x->o[k].kind == close)
                depth++;
            else if (x->o[k].kind == open && --depth == 0)
                break;
        }
        if (k < 0)
            return -1;
        if (k > 0 && (x->o[k - 1].kind == TK_QIDENT || !xl_non_function_word(&x->o[k - 1])))
            k--;
        else if (k > 0 && x->o[k - 1].kind != TK_IDENT && close == TK_RBRACK)
            k--; /* x[1] */
    } else if (xl_oword(t, "end") && !t->gen) {
        int depth = 0;
        for (; k >= 0; k--) {
            if (xl_oword(&x->o[k], "end"))
                depth++;
            else if (xl_oword(&x->o[k], "case") && --depth == 0)
                break;
        }
        if (k < 0)
            return -1;
        return k;
    } else if (t->kind != TK_IDENT && t->kind != TK_QIDENT && t->kind != TK_NUMBER &&
               t->kind != TK_STRING && t->kind != TK_PARAM) {
        return -1;
    }
    while (k >= 2 && x->o[k - 1].kind == TK_DOT &&
           (x->o[k - 2].kind == TK_IDENT || x->o[k - 2].kind == TK_QIDENT))
        k -= 2;
    return k;
}

/* Insert the tokens of pre at output index at (they are generated, static text). */
static void insert_at(struct xl *x, size_t at, const char *const *pre, size_t npre,
                      const enum pg_tok_kind *kinds)
{
    for (size_t i = 0; i < npre; i++)
        xl_push(x, (struct otok){0});
    memmove(&x->o[at + npre], &x->o[at], (x->no - npre - at) * sizeof(*x->o));
    for (size_t i = 0; i < npre; i++)
        x->o[at + i] = (struct otok){pre[i], (uint32_t)strlen(pre[i]), (uint8_t)kinds[i], 1, 1};
}

/* Wrap the output's last primary for a cast to type t. */
void xl_apply_cast(struct xl *x, size_t j, const struct pg_typename *t)
{
    long s = operand_start(x);
    if (s < 0) {
        xl_fail(x, j, "42601", "syntax error at or near \"::\"");
        return;
    }
    if (t->array)
        return; /* arrays travel as their text form */
    const struct pg_type *ty = pg_type_by_name(t->name);
    if (ty == NULL) {
        xl_fail(x, j, "42704", "type \"%s\" does not exist", t->name);
        return;
    }
    static const enum pg_tok_kind fk[] = {TK_IDENT, TK_LPAREN};
    static const enum pg_tok_kind ck[] = {TK_IDENT, TK_LPAREN, TK_IDENT, TK_LPAREN};
    const char *as = NULL, *fn = NULL;
    switch (ty->oid) {
    case PG_OID_INT2:
    case PG_OID_INT4:
    case PG_OID_INT8:
        as = "INTEGER";
        break;
    case PG_OID_FLOAT4:
    case PG_OID_FLOAT8:
        as = "REAL";
        break;
    case PG_OID_NUMERIC:
        as = "NUMERIC";
        break;
    case PG_OID_BOOL:
        fn = "pg_bool";
        break;
    case PG_OID_BYTEA:
        fn = "pg_bytea";
        break;
    case PG_OID_REGCLASS:
        fn = "pg_regclass";
        break;
    case PG_OID_DATE:
        fn = "pg_date";
        break;
    case PG_OID_OID:
    case PG_OID_UNKNOWN:
        return;
    default:
        as = "TEXT";
        break;
    }
    if (fn) {
        const char *pre[] = {fn, "("};
        insert_at(x, (size_t)s, pre, 2, fk);
        xl_emit(x, TK_RPAREN, ")");
    } else {
        const char *pre[] = {"CAST", "("};
        insert_at(x, (size_t)s, pre, 2, ck);
        xl_emit(x, TK_IDENT, "AS");
        xl_emit(x, TK_IDENT, as);
        xl_emit(x, TK_RPAREN, ")");
    }
}

size_t xl_form_cast(struct xl *x, size_t j, size_t to)
{
    struct pg_typename t;
    if (xl_parse_type(x, j + 1, to, &t) != 0) {
        xl_fail(x, j, "42601", "syntax error at or near \"::\"");
        return to;
    }
    xl_apply_cast(x, j, &t);
    return t.end;
}

/* CAST(expr AS type) */
size_t xl_form_cast_call(struct xl *x, size_t j, size_t to)
{
    size_t m = xl_match(x, j + 1, to);
    size_t as = xl_find_word(x, j + 2, m, "as");
    struct pg_typename t;
    if (m >= to || as >= m || xl_parse_type(x, as + 1, m, &t) != 0) {
        xl_fail(x, j, "42601", "syntax error at or near \"CAST\"");
        return to;
    }
    xl_emit(x, TK_LPAREN, "(");
    xl_range(x, j + 2, as);
    xl_emit(x, TK_RPAREN, ")");
    xl_apply_cast(x, as, &t);
    return m + 1;
}

size_t xl_form_position(struct xl *x, size_t j, size_t to)
{
    size_t m = xl_match(x, j + 1, to);
    size_t in = xl_find_word(x, j + 2, m, "in");
    if (in >= m)
        return 0;
    xl_emit(x, TK_IDENT, "instr");
    xl_emit(x, TK_LPAREN, "(");
    xl_range(x, in + 1, m);
    xl_emit(x, TK_COMMA, ",");
    xl_range(x, j + 2, in);
    xl_emit(x, TK_RPAREN, ")");
    return m + 1;
}

size_t xl_form_substring(struct xl *x, size_t j, size_t to)
{
    size_t m = xl_match(x, j + 1, to);
    size_t from = xl_find_word(x, j + 2, m, "from"), forw = xl_find_word(x, j + 2, m, "for");
    if (from >= m && forw >= m)
        return 0;
    xl_emit(x, TK_IDENT, "substr");
    xl_emit(x, TK_LPAREN, "(");
    xl_range(x, j + 2, from < forw ? from : forw);
    xl_emit(x, TK_COMMA, ",");
    if (from < m)
        xl_range(x, from + 1, forw < m ? forw : m);
    else
        xl_emit(x, TK_NUMBER, "1");
    if (forw < m) {
        xl_emit(x, TK_COMMA, ",");
        xl_range(x, forw + 1, m);
    }
    xl_emit(x, TK_RPAREN, ")");
    return m + 1;
}

size_t xl_form_extract(struct xl *x, size_t j, size_t to)
{
    size_t m = xl_match(x, j + 1, to);
    size_t from = xl_find_word(x, j + 2, m, "from");
    if (from != j + 3)
        return 0;
    char field[32];
    xl_name(x, j + 2, field, sizeof(field));
    xl_emit(x, TK_IDENT, "pg_extract");
    xl_emit(x, TK_LPAREN, "(");
    xl_emit_own(x, TK_STRING, xl_quote(field, strlen(field)));
    xl_emit(x, TK_COMMA, ",");
    xl_range(x, from + 1, m);
    xl_emit(x, TK_RPAREN, ")");
    return m + 1;
}

/* ARRAY(SELECT e FROM ...) -> (SELECT '{' || coalesce(group_concat(e, ','), '') || '}' FROM ...)
 * ARRAY[a, b] -> pg_array(a, b) */
size_t xl_form_array(struct xl *x, size_t j, size_t to)
{
    size_t m = xl_match(x, j + 1, to);
    if (m >= to)
        return 0;
    if (xl_tok(x, j + 1)->kind == TK_LBRACK) {
        xl_emit(x, TK_IDENT, "pg_array");
        xl_emit(x, TK_LPAREN, "(");
        xl_range(x, j + 2, m);
        xl_emit(x, TK_RPAREN, ")");
        return m + 1;
    }
    if (!xl_is(x, j + 2, "select"))
        return 0;
    size_t from = xl_find_word(x, j + 3, m, "from");
    static const char *const open[] = {"(",        "SELECT", "'{'",          "||",
                                       "coalesce", "(",      "group_concat", "("};
    static const enum pg_tok_kind ok[] = {TK_LPAREN, TK_IDENT,  TK_STRING, TK_OP,
                                          TK_IDENT,  TK_LPAREN, TK_IDENT,  TK_LPAREN};
    for (size_t i = 0; i < 8; i++)
        xl_emit(x, ok[i], open[i]);
    size_t items_end = from;
    size_t order = xl_find_word(x, j + 3, from, "order");
    if (order < items_end)
        items_end = order;
    xl_range(x, j + 3, items_end);
    static const char *const close[] = {",", "','", ")", ",", "''", ")", "||", "'}'"};
    static const enum pg_tok_kind ck[] = {TK_COMMA,  TK_STRING, TK_RPAREN, TK_COMMA,
                                          TK_STRING, TK_RPAREN, TK_OP,     TK_STRING};
    for (size_t i = 0; i < 8; i++)
        xl_emit(x, ck[i], close[i]);
    if (from < m) {
        size_t ord = xl_find_word(x, from, m, "order");
        xl_range(x, from, ord);
    }
    xl_emit(x, TK_RPAREN, ")");
    return m + 1;
}

static int from_context(const struct xl *x)
{
    if (x->no == 0)
        return 0;
    const struct otok *o = &x->o[x->no - 1];
    return xl_oword(o, "from") || xl_oword(o, "join");
}

/* FROM (VALUES ...) [AS] s(a, b) -> (SELECT column1 AS a, column2 AS b FROM (VALUES ...)) AS s:
 * SQLite names VALUES columns column1..n and has no column aliases on derived tables. */
size_t xl_form_values(struct xl *x, size_t j, size_t to)
{
    if (!from_context(x) || !xl_is(x, j + 1, "values"))
        return 0;
    size_t m = xl_match(x, j, to), k = m + 1;
    if (m >= to)
        return 0;
    if (xl_is(x, k, "as"))
        k++;
    enum pg_tok_kind ak = xl_tok(x, k)->kind;
    if ((ak != TK_IDENT && ak != TK_QIDENT) || xl_tok(x, k + 1)->kind != TK_LPAREN)
        return 0;
    size_t close = xl_match(x, k + 1, to);
    if (close >= to)
        return 0;
    xl_emit(x, TK_LPAREN, "(");
    xl_emit(x, TK_IDENT, "SELECT");
    int n = 0;
    for (size_t c = k + 2; c < close; c++) {
        if (xl_tok(x, c)->kind == TK_COMMA)
            continue;
        char col[24];
        snprintf(col, sizeof(col), "column%d", ++n);
        if (n > 1)
            xl_emit(x, TK_COMMA, ",");
        xl_emit_own(x, TK_IDENT, cmk_xstrdup(col));
        xl_emit(x, TK_IDENT, "AS");
        xl_emit_src(x, c);
    }
    xl_emit(x, TK_IDENT, "FROM");
    xl_range(x, j, m + 1);
    xl_emit(x, TK_RPAREN, ")");
    xl_emit(x, TK_IDENT, "AS");
    xl_emit_src(x, k);
    return close + 1;
}

/* FROM generate_series(a, b) [AS] s [(i)] -> (SELECT generate_series AS i FROM
 * generate_series(a, b)) AS s, so that s and i name the values as in PostgreSQL. */
size_t xl_form_series(struct xl *x, size_t j, size_t to)
{
    static const char *const kw[] = {"where",  "join",    "on",     "order",     "group",
                                     "limit",  "cross",   "left",   "right",     "inner",
                                     "full",   "natural", "union",  "having",    "offset",
                                     "window", "using",   "except", "intersect", NULL};
    if (!from_context(x)) {
        xl_fail(x, j, "0A000",
                "%.*s() in the select list is not supported by this server: use SELECT ... "
                "FROM %.*s(...)",
                (int)xl_tok(x, j)->len, x->lx->src + xl_tok(x, j)->off, (int)xl_tok(x, j)->len,
                x->lx->src + xl_tok(x, j)->off);
        return to;
    }
    size_t m = xl_match(x, j + 1, to), k = m + 1;
    if (m >= to)
        return 0;
    if (xl_is(x, k, "as"))
        k++;
    const struct pg_tok *a = xl_tok(x, k);
    int alias = k < to && (a->kind == TK_QIDENT || a->kind == TK_IDENT);
    for (int w = 0; alias && a->kind == TK_IDENT && kw[w]; w++)
        if (xl_is(x, k, kw[w]))
            alias = 0;
    if (!alias) {
        xl_emit_src(x, j);
        xl_range(x, j + 1, m + 1);
        return m + 1;
    }
    size_t col = k;
    size_t after = k + 1;
    if (xl_tok(x, k + 1)->kind == TK_LPAREN && xl_match(x, k + 1, to) == k + 3) {
        col = k + 2;
        after = k + 4;
    }
    xl_emit(x, TK_LPAREN, "(");
    xl_emit(x, TK_IDENT, "SELECT");
    xl_emit_src(x, j); /* the function's one visible column has its name */
    xl_emit(x, TK_IDENT, "AS");
    xl_emit_src(x, col);
    xl_emit(x, TK_IDENT, "FROM");
    xl_emit_src(x, j);
    xl_range(x, j + 1, m + 1);
    xl_emit(x, TK_RPAREN, ")");
    xl_emit(x, TK_IDENT, "AS");
    xl_emit_src(x, k);
    return after;
}
