/* pgsql_ddl.c: PostgreSQL DDL to SQLite DDL.
 *
 * CREATE TABLE keeps PostgreSQL's type names as SQLite declared types (so result columns and
 * \d report them) except where SQLite needs its own words: SERIAL/BIGSERIAL and GENERATED ...
 * AS IDENTITY become INTEGER PRIMARY KEY (SQLite's auto-assigned rowid), "timestamp with time
 * zone" becomes timestamptz, arrays become TEXT. DEFAULT expressions are parenthesised as
 * SQLite requires; storage options (WITH (fillfactor=...), TABLESPACE, UNLOGGED) are dropped.
 * CREATE INDEX gets a PostgreSQL-style name when it has none and loses USING/INCLUDE/opclasses;
 * ALTER TABLE ADD PRIMARY KEY/UNIQUE becomes a unique index; DROP of several objects becomes
 * several statements. What SQLite cannot do is refused with 0A000 and a clear message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgsql_xlate_int.h"

static void tag(struct xl *x, const char *t)
{
    snprintf(x->p->tag, sizeof(x->p->tag), "%s", t);
    x->p->tag_count = 0;
    x->p->writes = 1;
}

/* Emit a possibly schema-qualified name at k (public./pg_catalog. dropped); returns after it.
 * The last component's name goes to out. */
static size_t emit_name(struct xl *x, size_t k, size_t end, char *out, size_t n)
{
    if ((xl_is(x, k, "public") || xl_is(x, k, "pg_catalog")) && xl_tok(x, k + 1)->kind == TK_DOT)
        k += 2;
    enum pg_tok_kind kk = xl_tok(x, k)->kind;
    if (k >= end || (kk != TK_IDENT && kk != TK_QIDENT)) {
        xl_fail(x, k, "42601", "syntax error at or near \"%.*s\"", (int)xl_tok(x, k)->len,
                x->lx->src + xl_tok(x, k)->off);
        return end;
    }
    xl_name(x, k, out, n);
    xl_emit_src(x, k);
    return k + 1;
}

/* "name" with embedded quotes doubled (malloc'd). */
static char *qident(const char *s)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_append(&b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"')
            cmk_buf_append(&b, "\"", 1);
        cmk_buf_append(&b, s, 1);
    }
    cmk_buf_append(&b, "\"", 1);
    return cmk_buf_take(&b, NULL);
}

static size_t skip_parens(struct xl *x, size_t k, size_t end)
{
    if (xl_tok(x, k)->kind == TK_LPAREN)
        return xl_match(x, k, end) + 1;
    return k;
}

static int constraint_word(const struct xl *x, size_t k)
{
    static const char *const words[] = {
        "constraint", "not",       "null",    "default",    "primary",   "unique", "check",
        "references", "generated", "collate", "deferrable", "initially", NULL};
    for (int i = 0; words[i]; i++)
        if (xl_is(x, k, words[i]))
            return 1;
    return 0;
}

/* One column definition [a, b) of table. table_pk: the table has a PRIMARY KEY anywhere. */
static void column_def(struct xl *x, const char *table, size_t a, size_t b, int table_pk, int alter)
{
    xl_emit_src(x, a);
    struct pg_typename t;
    if (xl_parse_type(x, a + 1, b, &t) != 0) {
        xl_fail(x, a + 1, "42601", "syntax error at or near \"%.*s\"", (int)xl_tok(x, a + 1)->len,
                x->lx->src + xl_tok(x, a + 1)->off);
        return;
    }
    int serial = 0, col_pk = 0;
    const char *name = t.name;
    if (!strcmp(name, "serial") || !strcmp(name, "serial4") || !strcmp(name, "bigserial") ||
        !strcmp(name, "serial8") || !strcmp(name, "smallserial") || !strcmp(name, "serial2")) {
        serial = 1;
        name = "INTEGER";
    } else if (!strcmp(name, "timestamp with time zone")) {
        name = "timestamptz";
    } else if (!strcmp(name, "timestamp without time zone")) {
        name = "timestamp";
    } else if (!strcmp(name, "time with time zone")) {
        name = "timetz";
    } else if (!strcmp(name, "time without time zone")) {
        name = "time";
    }
    if (t.array) { /* a quoted "int[]": SQLite keeps it as the declared type */
        char q[80];
        snprintf(q, sizeof(q), "\"%s[]\"", name);
        xl_emit_own(x, TK_QIDENT, cmk_xstrdup(q));
    } else {
        xl_emit_own(x, TK_IDENT, cmk_xstrdup(name));
        for (size_t k = t.mod_from; k < t.mod_to; k++)
            xl_emit_src(x, k);
    }
    size_t k = t.end;
    while (k < b && !x->failed) {
        if (xl_is(x, k, "generated")) {
            size_t as = k + 1;
            while (as < b && !xl_is(x, as, "as"))
                as++;
            if (xl_is(x, as + 1, "identity")) {
                serial = 1;
                k = skip_parens(x, as + 2, b);
                continue;
            }
            /* GENERATED ALWAYS AS (expr) STORED: SQLite has it */
            for (; k <= as; k++)
                xl_emit_src(x, k);
            continue;
        }
        if (xl_is(x, k, "default")) {
            xl_emit_src(x, k);
            size_t e = k + 1;
            if (xl_is(x, e, "null")) {
                xl_emit_src(x, e);
                k = e + 1;
                continue;
            }
            int depth = 0;
            for (; e < b; e++) {
                enum pg_tok_kind kk = xl_tok(x, e)->kind;
                if (kk == TK_LPAREN)
                    depth++;
                else if (kk == TK_RPAREN)
                    depth--;
                else if (depth == 0 && constraint_word(x, e))
                    break;
            }
            xl_emit(x, TK_LPAREN, "(");
            xl_range(x, k + 1, e);
            xl_emit(x, TK_RPAREN, ")");
            k = e;
            continue;
        }
        if (xl_is(x, k, "primary") && xl_is(x, k + 1, "key"))
            col_pk = 1;
        if (serial && xl_is(x, k, "not") && xl_is(x, k + 1, "null")) {
            k += 2; /* INTEGER PRIMARY KEY is never NULL; SQLite rejects NOT NULL with NULL ids */
            continue;
        }
        xl_range(x, k, k + 1);
        k++;
    }
    if (serial && alter) {
        xl_fail(x, a, "0A000",
                "adding a SERIAL or identity column to an existing table is not "
                "supported by this server");
        return;
    }
    if (serial && !col_pk && !table_pk) {
        xl_emit(x, TK_IDENT, "PRIMARY");
        xl_emit(x, TK_IDENT, "KEY");
    } else if (serial && !col_pk) {
        /* only one column can be SQLite's rowid: the others count from their maximum */
        char col[DP_PG_NAME_MAX], *q1, *q2;
        xl_name(x, a, col, sizeof(col));
        q1 = xl_quote(table, strlen(table));
        q2 = xl_quote(col, strlen(col));
        xl_emit(x, TK_IDENT, "NOT NULL DEFAULT ( pg_serial_next (");
        xl_emit_own(x, TK_STRING, q1);
        xl_emit(x, TK_COMMA, ",");
        xl_emit_own(x, TK_STRING, q2);
        xl_emit(x, TK_RPAREN, ") )");
    }
}

static int table_constraint(const struct xl *x, size_t a)
{
    return xl_is(x, a, "constraint") || xl_is(x, a, "primary") || xl_is(x, a, "unique") ||
           xl_is(x, a, "check") || xl_is(x, a, "foreign") || xl_is(x, a, "exclude") ||
           xl_is(x, a, "like");
}

static int create_table(struct xl *x, size_t k, size_t end, int temp)
{
    struct pg_plan *p = x->p;
    tag(x, "CREATE TABLE");
    xl_emit(x, TK_IDENT, "CREATE");
    if (temp)
        xl_emit(x, TK_IDENT, "TEMP");
    xl_emit(x, TK_IDENT, "TABLE");
    if (xl_is(x, k, "if") && xl_is(x, k + 1, "not") && xl_is(x, k + 2, "exists")) {
        xl_emit(x, TK_IDENT, "IF NOT EXISTS");
        p->notice = PG_NOTICE_EXISTS_SKIP;
        snprintf(p->objtype, sizeof(p->objtype), "relation");
        k += 3;
    }
    k = emit_name(x, k, end, p->name, sizeof(p->name));
    if (x->failed)
        return 1;
    if (xl_tok(x, k)->kind != TK_LPAREN) { /* CREATE TABLE t AS query */
        snprintf(p->tag, sizeof(p->tag), "SELECT");
        p->tag_count = 1;
        p->notice = 0;
        x->main_select = 1;
        xl_range(x, k, end);
        return 1;
    }
    size_t close = xl_match(x, k, end);
    if (close >= end) {
        xl_fail(x, k, "42601", "syntax error at end of input");
        return 1;
    }
    int table_pk = 0;
    for (size_t e = k + 1; e < close; e++)
        if (xl_is(x, e, "primary") && xl_is(x, e + 1, "key"))
            table_pk = 1;
    xl_emit_src(x, k);
    size_t a = k + 1;
    while (a < close && !x->failed) {
        size_t b = a;
        int depth = 0;
        for (; b < close; b++) {
            enum pg_tok_kind kk = xl_tok(x, b)->kind;
            if (kk == TK_LPAREN || kk == TK_LBRACK)
                depth++;
            else if (kk == TK_RPAREN || kk == TK_RBRACK)
                depth--;
            else if (depth == 0 && kk == TK_COMMA)
                break;
        }
        if (xl_is(x, a, "exclude") || xl_is(x, a, "like")) {
            xl_fail(x, a, "0A000", "%s in CREATE TABLE is not supported by this server",
                    xl_is(x, a, "like") ? "LIKE" : "EXCLUDE");
            return 1;
        }
        if (table_constraint(x, a))
            xl_range(x, a, b);
        else
            column_def(x, p->name, a, b, table_pk, 0);
        if (b < close)
            xl_emit_src(x, b);
        a = b + 1;
    }
    xl_emit_src(x, close);
    /* storage options PostgreSQL takes and SQLite has no use for */
    k = close + 1;
    while (k < end && !x->failed) {
        if (xl_is(x, k, "with") && xl_tok(x, k + 1)->kind == TK_LPAREN)
            k = skip_parens(x, k + 1, end);
        else if (xl_is(x, k, "without") && xl_is(x, k + 1, "oids"))
            k += 2;
        else if (xl_is(x, k, "tablespace") || xl_is(x, k, "using"))
            k += 2;
        else if (xl_is(x, k, "on") && xl_is(x, k + 1, "commit"))
            k += xl_is(x, k + 2, "drop") ? 3 : 4;
        else if (xl_is(x, k, "inherits") || xl_is(x, k, "partition"))
            xl_fail(x, k, "0A000",
                    "table inheritance and partitioning are not supported by "
                    "this server");
        else
            xl_fail(x, k, "42601", "syntax error at or near \"%.*s\"", (int)xl_tok(x, k)->len,
                    x->lx->src + xl_tok(x, k)->off);
    }
    return 1;
}

static int create_index(struct xl *x, size_t k, size_t end)
{
    struct pg_plan *p = x->p;
    tag(x, "CREATE INDEX");
    int unique = xl_is(x, k, "unique");
    if (unique)
        k++;
    k++; /* INDEX */
    if (xl_is(x, k, "concurrently"))
        k++;
    int ine = 0;
    if (xl_is(x, k, "if") && xl_is(x, k + 1, "not") && xl_is(x, k + 2, "exists")) {
        ine = 1;
        k += 3;
    }
    size_t name_at = end;
    if (!xl_is(x, k, "on")) {
        if ((xl_is(x, k, "public")) && xl_tok(x, k + 1)->kind == TK_DOT)
            k += 2;
        name_at = k++;
    }
    if (!xl_is(x, k, "on")) {
        xl_fail(x, k, "42601", "syntax error at or near \"%.*s\"", (int)xl_tok(x, k)->len,
                x->lx->src + xl_tok(x, k)->off);
        return 1;
    }
    k++;
    if (xl_is(x, k, "only"))
        k++;
    if (xl_is(x, k, "public") && xl_tok(x, k + 1)->kind == TK_DOT)
        k += 2;
    size_t table_at = k++;
    if (xl_is(x, k, "using"))
        k += 2;
    if (xl_tok(x, k)->kind != TK_LPAREN) {
        xl_fail(x, k, "42601", "syntax error at or near \"%.*s\"", (int)xl_tok(x, k)->len,
                x->lx->src + xl_tok(x, k)->off);
        return 1;
    }
    size_t close = xl_match(x, k, end);
    xl_emit(x, TK_IDENT, "CREATE");
    if (unique)
        xl_emit(x, TK_IDENT, "UNIQUE");
    xl_emit(x, TK_IDENT, "INDEX");
    if (ine) {
        xl_emit(x, TK_IDENT, "IF NOT EXISTS");
        p->notice = PG_NOTICE_EXISTS_SKIP;
        snprintf(p->objtype, sizeof(p->objtype), "relation");
    }
    if (name_at < end) {
        xl_name(x, name_at, p->name, sizeof(p->name));
        xl_emit_src(x, name_at);
    } else { /* PostgreSQL's choice: table_col1_col2_idx */
        char gen[DP_PG_NAME_MAX * 2], part[DP_PG_NAME_MAX];
        xl_name(x, table_at, gen, sizeof(gen));
        int depth = 0;
        for (size_t e = k + 1; e < close; e++) {
            enum pg_tok_kind kk = xl_tok(x, e)->kind;
            if (kk == TK_LPAREN)
                depth++;
            else if (kk == TK_RPAREN)
                depth--;
            else if (depth == 0 && (kk == TK_IDENT || kk == TK_QIDENT) &&
                     (e == k + 1 || xl_tok(x, e - 1)->kind == TK_COMMA)) {
                xl_name(x, e, part, sizeof(part));
                size_t len = strlen(gen);
                snprintf(gen + len, sizeof(gen) - len, "_%s", part);
            }
        }
        size_t len = strlen(gen);
        snprintf(gen + len, sizeof(gen) - len, "_idx");
        gen[DP_PG_NAME_MAX - 1] = 0;
        memcpy(p->name, gen, DP_PG_NAME_MAX);
        xl_emit_own(x, TK_QIDENT, qident(gen));
    }
    xl_emit(x, TK_IDENT, "ON");
    xl_emit_src(x, table_at);
    xl_emit_src(x, k);
    for (size_t e = k + 1; e < close && !x->failed; e++) {
        const struct pg_tok *t = xl_tok(x, e);
        if (xl_is(x, e, "nulls") && (xl_is(x, e + 1, "first") || xl_is(x, e + 1, "last"))) {
            e++;
            continue;
        }
        if (t->kind == TK_IDENT && t->len > 4 &&
            strncasecmp(x->lx->src + t->off + t->len - 4, "_ops", 4) == 0)
            continue;
        if (t->kind == TK_LPAREN) {
            size_t m = xl_match(x, e, close);
            xl_range(x, e, m + 1);
            e = m;
            continue;
        }
        xl_range(x, e, e + 1);
    }
    xl_emit_src(x, close);
    k = close + 1;
    while (k < end && !x->failed) {
        if (xl_is(x, k, "include") || xl_is(x, k, "with"))
            k = skip_parens(x, k + 1, end);
        else if (xl_is(x, k, "tablespace"))
            k += 2;
        else if (xl_is(x, k, "where")) {
            xl_range(x, k, end);
            k = end;
        } else
            xl_fail(x, k, "42601", "syntax error at or near \"%.*s\"", (int)xl_tok(x, k)->len,
                    x->lx->src + xl_tok(x, k)->off);
    }
    return 1;
}

static int create_view(struct xl *x, size_t k, size_t end, int replace, int temp)
{
    tag(x, "CREATE VIEW");
    char name[DP_PG_NAME_MAX];
    size_t name_at = k;
    if ((xl_is(x, k, "public")) && xl_tok(x, k + 1)->kind == TK_DOT)
        name_at = k + 2;
    if (replace) {
        x->p->multi = 1;
        xl_emit(x, TK_IDENT, "DROP VIEW IF EXISTS");
        emit_name(x, name_at, end, name, sizeof(name));
        xl_emit(x, TK_SEMI, ";");
    }
    xl_emit(x, TK_IDENT, "CREATE");
    if (temp)
        xl_emit(x, TK_IDENT, "TEMP");
    xl_emit(x, TK_IDENT, "VIEW");
    xl_range(x, k, end);
    return 1;
}

/* ALTER TABLE t ADD PRIMARY KEY (a) / ADD [CONSTRAINT c] UNIQUE (a) -> a unique index. */
static int add_key(struct xl *x, size_t k, size_t end, const char *table, size_t table_at)
{
    char cname[DP_PG_NAME_MAX] = "";
    if (xl_is(x, k, "constraint")) {
        xl_name(x, k + 1, cname, sizeof(cname));
        k += 2;
    }
    int pk = xl_is(x, k, "primary");
    if (!pk && !xl_is(x, k, "unique"))
        return 0;
    k += pk ? 2 : 1;
    if (xl_tok(x, k)->kind != TK_LPAREN)
        return 0;
    size_t close = xl_match(x, k, end);
    if (cname[0] == 0) {
        if (pk) {
            snprintf(cname, sizeof(cname), "%.58s_pkey", table);
        } else {
            char col[DP_PG_NAME_MAX];
            xl_name(x, k + 1, col, sizeof(col));
            snprintf(cname, sizeof(cname), "%.28s_%.28s_key", table, col);
        }
    }
    xl_emit(x, TK_IDENT, "CREATE UNIQUE INDEX");
    xl_emit_own(x, TK_QIDENT, qident(cname));
    xl_emit(x, TK_IDENT, "ON");
    xl_emit_src(x, table_at);
    xl_range(x, k, close + 1);
    return 1;
}

static int alter_table(struct xl *x, size_t k, size_t end)
{
    tag(x, "ALTER TABLE");
    if (xl_is(x, k, "if") && xl_is(x, k + 1, "exists"))
        k += 2;
    if (xl_is(x, k, "only"))
        k++;
    if (xl_is(x, k, "public") && xl_tok(x, k + 1)->kind == TK_DOT)
        k += 2;
    size_t table_at = k;
    char table[DP_PG_NAME_MAX];
    xl_name(x, k, table, sizeof(table));
    k++;
    for (size_t e = k, depth = 0; e < end; e++) {
        enum pg_tok_kind kk = xl_tok(x, e)->kind;
        if (kk == TK_LPAREN)
            depth++;
        else if (kk == TK_RPAREN)
            depth--;
        else if (kk == TK_COMMA && depth == 0) {
            xl_fail(x, e, "0A000",
                    "several actions in one ALTER TABLE are not supported by "
                    "this server; run one statement per action");
            return 1;
        }
    }
    if (xl_is(x, k, "owner") || xl_is(x, k, "set") || xl_is(x, k, "reset") ||
        xl_is(x, k, "enable") || xl_is(x, k, "disable") || xl_is(x, k, "cluster") ||
        xl_is(x, k, "replica")) {
        x->p->kind = PLAN_CMD;
        x->p->cmd = CMD_NOOP;
        return 1;
    }
    if (xl_is(x, k, "add")) {
        size_t a = k + 1;
        if (add_key(x, a, end, table, table_at))
            return 1;
        if (xl_is(x, a, "constraint") || xl_is(x, a, "foreign") || xl_is(x, a, "check") ||
            xl_is(x, a, "exclude")) {
            xl_fail(x, a, "0A000",
                    "ALTER TABLE ... ADD CONSTRAINT is not supported by this "
                    "server (only PRIMARY KEY and UNIQUE)");
            return 1;
        }
        if (xl_is(x, a, "column"))
            a++;
        if (xl_is(x, a, "if") && xl_is(x, a + 1, "not") && xl_is(x, a + 2, "exists"))
            a += 3;
        xl_emit(x, TK_IDENT, "ALTER TABLE");
        xl_emit_src(x, table_at);
        xl_emit(x, TK_IDENT, "ADD COLUMN");
        column_def(x, table, a, end, 1, 1);
        return 1;
    }
    if (xl_is(x, k, "drop") && !xl_is(x, k + 1, "constraint")) {
        size_t a = k + 1;
        if (xl_is(x, a, "column"))
            a++;
        if (xl_is(x, a, "if") && xl_is(x, a + 1, "exists"))
            a += 2;
        xl_emit(x, TK_IDENT, "ALTER TABLE");
        xl_emit_src(x, table_at);
        xl_emit(x, TK_IDENT, "DROP COLUMN");
        xl_emit_src(x, a);
        return 1;
    }
    if (xl_is(x, k, "rename") && !xl_is(x, k + 1, "constraint")) {
        xl_emit(x, TK_IDENT, "ALTER TABLE");
        xl_emit_src(x, table_at);
        xl_range(x, k, end);
        return 1;
    }
    xl_fail(x, k, "0A000", "this form of ALTER TABLE is not supported by this server");
    return 1;
}

static int drop_objects(struct xl *x, size_t k, size_t end)
{
    static const char *const kinds[] = {"table", "index", "view", "trigger", NULL};
    int kind = -1;
    for (int i = 0; kinds[i]; i++)
        if (xl_is(x, k, kinds[i]))
            kind = i;
    if (kind < 0)
        return 0;
    char up[32];
    snprintf(up, sizeof(up), "DROP %s",
             kind == 0   ? "TABLE"
             : kind == 1 ? "INDEX"
             : kind == 2 ? "VIEW"
                         : "TRIGGER");
    tag(x, up);
    k++;
    if (xl_is(x, k, "concurrently"))
        k++;
    int if_exists = 0;
    if (xl_is(x, k, "if") && xl_is(x, k + 1, "exists")) {
        if_exists = 1;
        k += 2;
    }
    size_t stop = end;
    if (stop > k && (xl_is(x, stop - 1, "cascade") || xl_is(x, stop - 1, "restrict")))
        stop--;
    if (kind == 3) { /* DROP TRIGGER name ON table */
        size_t on = k;
        while (on < stop && !xl_is(x, on, "on"))
            on++;
        stop = on;
    }
    int n = 0;
    while (k < stop && !x->failed) {
        if (n++) {
            xl_emit(x, TK_SEMI, ";");
            x->p->multi = 1;
        }
        xl_emit(x, TK_IDENT, up);
        if (if_exists)
            xl_emit(x, TK_IDENT, "IF EXISTS");
        k = emit_name(x, k, stop, x->p->name, sizeof(x->p->name));
        if (k < stop && xl_tok(x, k)->kind == TK_COMMA)
            k++;
        else if (k < stop) {
            xl_fail(x, k, "42601", "syntax error at or near \"%.*s\"", (int)xl_tok(x, k)->len,
                    x->lx->src + xl_tok(x, k)->off);
        }
    }
    if (if_exists && n == 1) {
        x->p->notice = PG_NOTICE_MISSING_SKIP;
        snprintf(x->p->objtype, sizeof(x->p->objtype), "%s", kinds[kind]);
    }
    return 1;
}

int xl_ddl(struct xl *x, size_t i, size_t end)
{
    if (xl_is(x, i, "create")) {
        size_t k = i + 1;
        int replace = 0, temp = 0;
        if (xl_is(x, k, "or") && xl_is(x, k + 1, "replace")) {
            replace = 1;
            k += 2;
        }
        while (xl_is(x, k, "global") || xl_is(x, k, "local"))
            k++;
        if (xl_is(x, k, "temp") || xl_is(x, k, "temporary")) {
            temp = 1;
            k++;
        }
        if (xl_is(x, k, "unlogged"))
            k++;
        if (xl_is(x, k, "table"))
            return create_table(x, k + 1, end, temp);
        if (xl_is(x, k, "unique") || xl_is(x, k, "index"))
            return create_index(x, k, end);
        if (xl_is(x, k, "view"))
            return create_view(x, k + 1, end, replace, temp);
        static const char *const unsupported[] = {
            "materialized", "trigger", "sequence",  "function",   "procedure",  "type",
            "domain",       "rule",    "policy",    "aggregate",  "operator",   "publication",
            "subscription", "cast",    "language",  "collation",  "tablespace", "server",
            "foreign",      "event",   "recursive", "statistics", NULL};
        for (int w = 0; unsupported[w]; w++)
            if (xl_is(x, k, unsupported[w])) {
                char what[32];
                xl_name(x, k, what, sizeof(what));
                for (char *c = what; *c; c++)
                    *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
                xl_fail(x, k, "0A000", "CREATE %s is not supported by this server", what);
                return 1;
            }
        return 0;
    }
    if (xl_is(x, i, "alter") && xl_is(x, i + 1, "table"))
        return alter_table(x, i + 2, end);
    if (xl_is(x, i, "alter") &&
        (xl_is(x, i + 1, "index") || xl_is(x, i + 1, "view") || xl_is(x, i + 1, "sequence"))) {
        xl_fail(x, i + 1, "0A000", "this form of ALTER is not supported by this server");
        return 1;
    }
    if (xl_is(x, i, "drop"))
        return drop_objects(x, i + 1, end);
    return 0;
}
