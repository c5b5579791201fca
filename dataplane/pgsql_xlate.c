/* pgsql_xlate.c: PostgreSQL statements to SQLite: the token rewriter's core.
 *
 * What the rewriter does to a query: $n becomes ?n; E'..' and $$..$$ strings become SQLite
 * literals; pg_catalog. and public. qualifiers go; OPERATOR(pg_catalog.~) and the regex
 * operators become REGEXP/GLOB (functions registered by pgsql_func.c), ILIKE becomes MATCH;
 * CURRENT_TIMESTAMP and friends become calls on the emulator's clock; a few functions are
 * renamed (string_agg -> group_concat, greatest -> max); FOR UPDATE goes. Casts and the
 * forms that need rearranging (position(a IN b), ARRAY(...), generate_series ... AS s(i)) are
 * in pgsql_forms.c, result column names in pgsql_names.c, DDL in pgsql_ddl.c, plans in
 * pgsql_plan.c and the statements the endpoint answers itself in pgsql_cmd.c.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgsql_xlate_int.h"

static struct pg_tok eof_tok = {TK_EOF, 0, 0, 0, 0};

const struct pg_tok *xl_tok(const struct xl *x, size_t j)
{
    return j < x->lx->nt ? &x->lx->t[j] : &eof_tok;
}

int xl_is(const struct xl *x, size_t j, const char *word)
{
    return j < x->lx->nt && pg_tok_is(x->lx, &x->lx->t[j], word);
}

void xl_name(const struct xl *x, size_t j, char *out, size_t n)
{
    if (j < x->lx->nt)
        pg_tok_name(x->lx, &x->lx->t[j], out, n);
    else if (n)
        out[0] = 0;
}

void xl_push(struct xl *x, struct otok t)
{
    if (x->no == x->ocap) {
        x->ocap = x->ocap ? x->ocap * 2 : 64;
        x->o = cmk_xrealloc(x->o, x->ocap * sizeof(*x->o));
    }
    x->o[x->no++] = t;
}

void xl_emit_src(struct xl *x, size_t j)
{
    const struct pg_tok *t = xl_tok(x, j);
    xl_push(x, (struct otok){x->lx->src + t->off, t->len, (uint8_t)t->kind, t->space, 0});
}

void xl_emit(struct xl *x, enum pg_tok_kind kind, const char *s)
{
    xl_push(x, (struct otok){s, (uint32_t)strlen(s), (uint8_t)kind, 1, 1});
}

void xl_emit_own(struct xl *x, enum pg_tok_kind kind, char *s)
{
    if (x->nowned == x->ownedcap) {
        x->ownedcap = x->ownedcap ? x->ownedcap * 2 : 16;
        x->owned = cmk_xrealloc(x->owned, x->ownedcap * sizeof(char *));
    }
    x->owned[x->nowned++] = s;
    xl_emit(x, kind, s);
}

void xl_fail(struct xl *x, size_t j, const char *code, const char *fmt, ...)
{
    if (x->failed)
        return;
    va_list ap;
    x->failed = 1;
    pg_error_set(&x->p->err, code, "%s", "");
    va_start(ap, fmt);
    vsnprintf(x->p->err.message, sizeof(x->p->err.message), fmt, ap);
    va_end(ap);
    if (j < x->lx->nt)
        x->p->err.position = (int)x->lx->t[j].off + 1;
}

char *xl_quote(const char *s, size_t n)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_append(&b, "'", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0)
            break;
        if (s[i] == '\'')
            cmk_buf_append(&b, "'", 1);
        cmk_buf_append(&b, s + i, 1);
    }
    cmk_buf_append(&b, "'", 1);
    return cmk_buf_take(&b, NULL);
}

size_t xl_match(const struct xl *x, size_t j, size_t to)
{
    enum pg_tok_kind open = xl_tok(x, j)->kind;
    enum pg_tok_kind close = open == TK_LBRACK ? TK_RBRACK : TK_RPAREN;
    int depth = 0;
    for (size_t k = j; k < to; k++) {
        enum pg_tok_kind kk = xl_tok(x, k)->kind;
        if (kk == open)
            depth++;
        else if (kk == close && --depth == 0)
            return k;
    }
    return to;
}

/* Words that continue a multi-word type name. */
static int type_word(const struct xl *x, size_t j)
{
    static const char *const words[] = {"precision", "varying", "with", "without",
                                        "time",      "zone",    NULL};
    for (int i = 0; words[i]; i++)
        if (xl_is(x, j, words[i]))
            return 1;
    return 0;
}

int xl_parse_type(const struct xl *x, size_t j, size_t to, struct pg_typename *t)
{
    memset(t, 0, sizeof(*t));
    if (xl_is(x, j, "pg_catalog") && xl_tok(x, j + 1)->kind == TK_DOT)
        j += 2;
    if (j >= to)
        return -1;
    const struct pg_tok *first = xl_tok(x, j);
    if (first->kind == TK_QIDENT) {
        char q[60];
        xl_name(x, j, q, sizeof(q));
        snprintf(t->name, sizeof(t->name), "%s%s%s", strcmp(q, "char") == 0 ? "\"" : "", q,
                 strcmp(q, "char") == 0 ? "\"" : "");
        j++;
    } else if (first->kind == TK_IDENT) {
        xl_name(x, j, t->name, sizeof(t->name));
        j++;
        t->mod_from = t->mod_to = j;
        for (;;) {
            if (j < to && xl_tok(x, j)->kind == TK_LPAREN && t->mod_from == t->mod_to) {
                size_t m = xl_match(x, j, to);
                t->mod_from = j;
                t->mod_to = m < to ? m + 1 : to;
                j = t->mod_to;
                continue;
            }
            if (j < to && type_word(x, j)) {
                char w[32];
                xl_name(x, j, w, sizeof(w));
                size_t len = strlen(t->name);
                snprintf(t->name + len, sizeof(t->name) - len, " %s", w);
                j++;
                continue;
            }
            break;
        }
    } else {
        return -1;
    }
    if (t->mod_from == 0 && t->mod_to == 0)
        t->mod_from = t->mod_to = j;
    while (j < to && xl_tok(x, j)->kind == TK_LBRACK) {
        t->array = 1;
        j = xl_match(x, j, to) + 1;
    }
    t->end = j < to ? j : to;
    return 0;
}

/* Identifiers that are not function names when they precede "(". */
int xl_non_function_word(const struct otok *o)
{
    static const char *const words[] = {
        "select",    "where",     "and",  "or",     "not",     "on",       "in",   "is",
        "when",      "then",      "else", "case",   "from",    "by",       "as",   "values",
        "returning", "having",    "set",  "like",   "between", "distinct", "all",  "any",
        "some",      "using",     "into", "limit",  "offset",  "with",     "join", "union",
        "except",    "intersect", "glob", "regexp", "match",   "escape",   "over", NULL};
    if (o->kind != TK_IDENT)
        return 1;
    for (int i = 0; words[i]; i++)
        if (strlen(words[i]) == o->n && strncasecmp(o->s, words[i], o->n) == 0)
            return 1;
    return 0;
}

int xl_oword(const struct otok *o, const char *w)
{
    return o->kind == TK_IDENT && strlen(w) == o->n && strncasecmp(o->s, w, o->n) == 0;
}

/* Start (output index) of the primary expression that ends the output, or -1. */
static int primary_before(const struct xl *x)
{
    if (x->no == 0)
        return 0;
    const struct otok *o = &x->o[x->no - 1];
    switch (o->kind) {
    case TK_QIDENT:
    case TK_NUMBER:
    case TK_STRING:
    case TK_PARAM:
    case TK_RPAREN:
    case TK_RBRACK:
        return 1;
    case TK_IDENT:
        return !xl_non_function_word(o) || xl_oword(o, "end");
    default:
        return 0;
    }
}

/* PostgreSQL's operators that SQLite spells differently; 0 when op passes through as is. */
static int emit_op(struct xl *x, const char *op, size_t len)
{
    static const struct {
        const char *pg, *sql;
    } ops[] = {{"!~", "NOT REGEXP"}, {"~*", "GLOB"},   {"!~*", "NOT GLOB"},  {"~~", "LIKE"},
               {"!~~", "NOT LIKE"},  {"~~*", "MATCH"}, {"!~~*", "NOT MATCH"}};
    if (len == 1 && op[0] == '~' && primary_before(x)) {
        xl_emit(x, TK_IDENT, "REGEXP");
        return 1;
    }
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strlen(ops[i].pg) == len && memcmp(ops[i].pg, op, len) == 0) {
            if (strncmp(ops[i].sql, "NOT ", 4) == 0) {
                xl_emit(x, TK_IDENT, "NOT");
                xl_emit(x, TK_IDENT, ops[i].sql + 4);
            } else {
                xl_emit(x, TK_IDENT, ops[i].sql);
            }
            return 1;
        }
    return 0;
}

/* Index of the first depth-0 word w in [from, to), or to. */
size_t xl_find_word(const struct xl *x, size_t from, size_t to, const char *w)
{
    int depth = 0;
    for (size_t k = from; k < to; k++) {
        enum pg_tok_kind kk = xl_tok(x, k)->kind;
        if (kk == TK_LPAREN || kk == TK_LBRACK)
            depth++;
        else if (kk == TK_RPAREN || kk == TK_RBRACK)
            depth--;
        else if (depth == 0 && xl_is(x, k, w))
            return k;
    }
    return to;
}

static const struct {
    const char *pg, *sqlite;
} renames[] = {
    {"string_agg", "group_concat"},
    {"greatest", "max"},
    {"least", "min"},
    {"char_length", "length"},
    {"character_length", "length"},
    {"strpos", "instr"},
    {"btrim", "trim"},
    {"ceiling", "ceil"},
};

/* Keywords that are calls on the emulator's clock or session. */
static const struct {
    const char *pg, *call;
} value_words[] = {
    {"current_timestamp", "now"},
    {"localtimestamp", "now"},
    {"current_date", "pg_current_date"},
    {"current_time", "pg_current_time"},
    {"localtime", "pg_current_time"},
    {"current_user", "current_user"},
    {"session_user", "current_user"},
    {"current_role", "current_user"},
    {"user", "current_user"},
    {"current_catalog", "current_database"},
    {"current_schema", "current_schema"},
};

static size_t xl_ident(struct xl *x, size_t j, size_t to)
{
    char name[64];
    xl_name(x, j, name, sizeof(name));
    const struct pg_tok *next = xl_tok(x, j + 1);
    int after_dot = x->no > 0 && x->o[x->no - 1].kind == TK_DOT;
    if (!after_dot && next->kind == TK_DOT && j + 2 < to) {
        if (strcmp(name, "pg_catalog") == 0 || strcmp(name, "public") == 0)
            return j + 2;
        if (strcmp(name, "information_schema") == 0) {
            char rel[64], full[96];
            xl_name(x, j + 2, rel, sizeof(rel));
            snprintf(full, sizeof(full), "information_schema_%s", rel);
            x->p->catalog = 1;
            xl_emit_own(x, TK_IDENT, cmk_xstrdup(full));
            return j + 3;
        }
    }
    if (after_dot) {
        xl_emit_src(x, j);
        return j + 1;
    }
    if (strcmp(name, "operator") == 0 && next->kind == TK_LPAREN) {
        size_t m = xl_match(x, j + 1, to);
        const struct pg_tok *op = xl_tok(x, m - 1);
        if (m >= to || op->kind != TK_OP) {
            xl_fail(x, j, "42601", "syntax error at or near \"OPERATOR\"");
            return to;
        }
        if (!emit_op(x, x->lx->src + op->off, op->len))
            xl_push(x, (struct otok){x->lx->src + op->off, op->len, TK_OP, 1, 1});
        return m + 1;
    }
    if (strcmp(name, "collate") == 0) {
        size_t k = j + 1;
        while (k < to && (xl_tok(x, k)->kind == TK_IDENT || xl_tok(x, k)->kind == TK_QIDENT)) {
            k++;
            if (xl_tok(x, k)->kind != TK_DOT)
                break;
            k++;
        }
        return k;
    }
    if (strcmp(name, "ilike") == 0) {
        xl_emit(x, TK_IDENT, "MATCH");
        return j + 1;
    }
    if (strcmp(name, "similar") == 0) {
        xl_fail(x, j, "0A000", "SIMILAR TO is not supported by this server");
        return to;
    }
    for (size_t i = 0; i < sizeof(value_words) / sizeof(value_words[0]); i++)
        if (strcmp(name, value_words[i].pg) == 0 &&
            (next->kind != TK_LPAREN || strncmp(name, "current_t", 9) == 0 ||
             strcmp(name, "localtimestamp") == 0)) {
            size_t k = j + 1;
            if (next->kind == TK_LPAREN) /* current_timestamp(3): the precision is dropped */
                k = xl_match(x, j + 1, to) + 1;
            xl_emit(x, TK_IDENT, value_words[i].call);
            xl_emit(x, TK_LPAREN, "(");
            xl_emit(x, TK_RPAREN, ")");
            return k;
        }
    if (next->kind == TK_LPAREN || next->kind == TK_LBRACK) {
        size_t k = 0;
        if (strcmp(name, "cast") == 0 && next->kind == TK_LPAREN)
            return xl_form_cast_call(x, j, to);
        if (strcmp(name, "position") == 0)
            k = xl_form_position(x, j, to);
        else if (strcmp(name, "substring") == 0)
            k = xl_form_substring(x, j, to);
        else if (strcmp(name, "extract") == 0)
            k = xl_form_extract(x, j, to);
        else if (strcmp(name, "array") == 0)
            k = xl_form_array(x, j, to);
        else if ((strcmp(name, "generate_series") == 0 || strcmp(name, "unnest") == 0) &&
                 next->kind == TK_LPAREN)
            k = xl_form_series(x, j, to);
        else if (strcmp(name, "nextval") == 0 || strcmp(name, "currval") == 0 ||
                 strcmp(name, "setval") == 0) {
            xl_fail(x, j, "0A000", "sequences are not supported by this server (use SERIAL)");
            return to;
        }
        if (k)
            return k;
        if (next->kind == TK_LPAREN)
            for (size_t i = 0; i < sizeof(renames) / sizeof(renames[0]); i++)
                if (strcmp(name, renames[i].pg) == 0) {
                    xl_emit(x, TK_IDENT, renames[i].sqlite);
                    return j + 1;
                }
    }
    if (strcmp(name, "for") == 0 && x->is_select && x->depth == 0 &&
        (xl_is(x, j + 1, "update") || xl_is(x, j + 1, "share") || xl_is(x, j + 1, "no") ||
         xl_is(x, j + 1, "key"))) {
        size_t k = j + 1;
        while (k < to && !xl_is(x, k, "limit") && !xl_is(x, k, "offset"))
            k++;
        return k;
    }
    if (strcmp(name, "only") == 0 && x->no > 0 &&
        (xl_oword(&x->o[x->no - 1], "from") || xl_oword(&x->o[x->no - 1], "update") ||
         xl_oword(&x->o[x->no - 1], "join") || xl_oword(&x->o[x->no - 1], "table")))
        return j + 1;
    if (strcmp(name, "distinct") == 0 && xl_is(x, j + 1, "on")) {
        xl_fail(x, j, "0A000", "SELECT DISTINCT ON is not supported by this server");
        return to;
    }
    if (x->depth == 0 &&
        ((strcmp(name, "select") == 0 && !x->main_select) || strcmp(name, "returning") == 0)) {
        x->main_select = 1;
        xl_emit_src(x, j);
        xl_analyze_items(x, j + 1, to);
        return j + 1;
    }
    if (next->kind != TK_LPAREN) {
        int cat = pg_catalog_relation(name);
        if (cat)
            x->p->catalog = 1;
        if (cat == 2)
            x->p->catalog_soft = 1;
    }
    xl_emit_src(x, j);
    return j + 1;
}

static size_t xl_step(struct xl *x, size_t j, size_t to)
{
    const struct pg_tok *t = xl_tok(x, j);
    switch (t->kind) {
    case TK_LPAREN: {
        size_t k = xl_form_values(x, j, to);
        if (k)
            return k;
        x->depth++;
        xl_emit_src(x, j);
        return j + 1;
    }
    case TK_RPAREN:
        x->depth--;
        xl_emit_src(x, j);
        return j + 1;
    case TK_PARAM: {
        long n = strtol(x->lx->src + t->off + 1, NULL, 10);
        if (n < 1 || n > 65535) {
            xl_fail(x, j, "42P02", "there is no parameter $%ld", n);
            return to;
        }
        if (n > x->p->nparams)
            x->p->nparams = (int)n;
        char buf[16];
        snprintf(buf, sizeof(buf), "?%ld", n);
        xl_emit_own(x, TK_PARAM, cmk_xstrdup(buf));
        return j + 1;
    }
    case TK_STRING:
        if (t->quoting == 4 && (x->lx->src[t->off] == 'b' || x->lx->src[t->off] == 'B')) {
            xl_fail(x, j, "0A000", "bit string literals are not supported by this server");
            return to;
        }
        if (t->quoting == 1 || t->quoting == 2 || t->quoting == 3) {
            struct cmk_buf b;
            cmk_buf_init(&b);
            pg_tok_string(x->lx, t, &b);
            xl_emit_own(x, TK_STRING, xl_quote(b.data, b.len));
            cmk_buf_close(&b);
            return j + 1;
        }
        xl_emit_src(x, j);
        return j + 1;
    case TK_CAST:
        return xl_form_cast(x, j, to);
    case TK_OP:
        if (!emit_op(x, x->lx->src + t->off, t->len))
            xl_emit_src(x, j);
        return j + 1;
    case TK_IDENT:
        return xl_ident(x, j, to);
    default:
        xl_emit_src(x, j);
        return j + 1;
    }
}

void xl_range(struct xl *x, size_t from, size_t to)
{
    size_t j = from;
    while (j < to && !x->failed) {
        size_t k = xl_step(x, j, to);
        if (k <= j)
            k = j + 1;
        while (x->alnext < x->nal && x->al[x->alnext].pos < k) {
            if (x->al[x->alnext].pos >= j) {
                xl_emit(x, TK_IDENT, "AS");
                char q[DP_PG_NAME_MAX * 2 + 3];
                size_t o = 0;
                q[o++] = '"';
                for (const char *s = x->al[x->alnext].name; *s && o + 3 < sizeof(q); s++) {
                    if (*s == '"')
                        q[o++] = '"';
                    q[o++] = *s;
                }
                q[o++] = '"';
                q[o] = 0;
                xl_emit_own(x, TK_QIDENT, cmk_xstrdup(q));
            }
            x->alnext++;
        }
        j = k;
    }
}
