/* pgsql_cmd.c: recognising the statements the endpoint answers itself.
 *
 * Transaction control (BEGIN/START TRANSACTION, COMMIT/END, ROLLBACK/ABORT, SAVEPOINT, RELEASE,
 * ROLLBACK TO), SET/RESET/SHOW, CREATE/DROP DATABASE, CREATE/ALTER/DROP ROLE|USER, DISCARD,
 * DEALLOCATE, TRUNCATE (as DELETE, which is what it does to SQLite), and statements accepted
 * and ignored here (VACUUM, ANALYZE, GRANT, REVOKE, CREATE EXTENSION, COMMENT, LISTEN, LOCK...).
 * VACUUM in particular never reaches SQLite: "VACUUM INTO 'file'" would write a plaintext copy
 * of the database. What cannot be supported (COPY, DO, PREPARE TRANSACTION...) becomes a plan
 * that fails with 0A000 and says so. pgsql_run.c executes the plans.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgsql_xlate_int.h"

static int set_cmd(struct pg_plan *p, enum pg_cmd cmd, const char *tag)
{
    p->kind = PLAN_CMD;
    p->cmd = cmd;
    snprintf(p->tag, sizeof(p->tag), "%s", tag);
    return 1;
}

static int unsupported(struct pg_plan *p, const struct xl *x, size_t at, const char *what)
{
    p->kind = PLAN_ERROR;
    pg_error_set(&p->err, "0A000", "%s is not supported by this server", what);
    if (at < x->lx->nt)
        p->err.position = (int)x->lx->t[at].off + 1;
    return 1;
}

/* The value of SET: tokens joined with ", " at commas, strings decoded. */
static char *set_value(const struct xl *x, size_t k, size_t end)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    for (; k < end; k++) {
        const struct pg_tok *t = xl_tok(x, k);
        if (t->kind == TK_COMMA) {
            cmk_buf_puts(&b, ", ");
        } else if (t->kind == TK_STRING) {
            pg_tok_string(x->lx, t, &b);
        } else if (t->kind == TK_IDENT) {
            char w[128];
            xl_name(x, k, w, sizeof(w));
            cmk_buf_puts(&b, w);
        } else {
            if (b.len && t->space && b.data[b.len - 1] != ' ')
                cmk_buf_puts(&b, " ");
            cmk_buf_append(&b, x->lx->src + t->off, t->len);
        }
    }
    return cmk_buf_take(&b, NULL);
}

static void role_options(struct pg_plan *p, const struct xl *x, size_t k, size_t end)
{
    static const struct {
        const char *word;
        int bit, on;
    } opts[] = {{"login", PG_ROLE_LOGIN, 1},           {"nologin", PG_ROLE_LOGIN, 0},
                {"createdb", PG_ROLE_CREATEDB, 1},     {"nocreatedb", PG_ROLE_CREATEDB, 0},
                {"createrole", PG_ROLE_CREATEROLE, 1}, {"nocreaterole", PG_ROLE_CREATEROLE, 0},
                {"superuser", PG_ROLE_SUPERUSER, 1},   {"nosuperuser", PG_ROLE_SUPERUSER, 0}};
    if (xl_is(x, k, "with"))
        k++;
    for (; k < end; k++) {
        for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]); o++)
            if (xl_is(x, k, opts[o].word)) {
                p->flags_set |= opts[o].bit;
                if (opts[o].on)
                    p->flags |= opts[o].bit;
                else
                    p->flags &= ~opts[o].bit;
            }
        if (xl_is(x, k, "password")) {
            p->flags_set |= PG_ROLE_PASSWORD;
            if (xl_tok(x, k + 1)->kind == TK_STRING) {
                struct cmk_buf b;
                cmk_buf_init(&b);
                pg_tok_string(x->lx, xl_tok(x, k + 1), &b);
                p->value = cmk_buf_take(&b, NULL);
            }
            k++;
        }
    }
}

static int plan_role(struct pg_plan *p, const struct xl *x, size_t i, size_t end)
{
    int create = xl_is(x, i, "create"), drop = xl_is(x, i, "drop");
    int user = xl_is(x, i + 1, "user");
    size_t k = i + 2;
    if (drop && xl_is(x, k, "if") && xl_is(x, k + 1, "exists")) {
        p->if_exists = 1;
        k += 2;
    }
    if (k >= end || (xl_tok(x, k)->kind != TK_IDENT && xl_tok(x, k)->kind != TK_QIDENT))
        return 0;
    xl_name(x, k, p->name, sizeof(p->name));
    if (create) {
        if (user)
            p->flags |= PG_ROLE_LOGIN;
        role_options(p, x, k + 1, end);
        return set_cmd(p, CMD_CREATE_ROLE, "CREATE ROLE");
    }
    if (drop) {
        if (xl_tok(x, k + 1)->kind == TK_COMMA)
            return unsupported(p, x, k + 1, "dropping several roles in one statement");
        return set_cmd(p, CMD_DROP_ROLE, "DROP ROLE");
    }
    if (xl_is(x, k + 1, "rename"))
        return unsupported(p, x, k + 1, "ALTER ROLE ... RENAME");
    if (xl_is(x, k + 1, "set") || xl_is(x, k + 1, "reset") || xl_is(x, k + 1, "in"))
        return set_cmd(p, CMD_NOOP, "ALTER ROLE");
    role_options(p, x, k + 1, end);
    return set_cmd(p, CMD_ALTER_ROLE, "ALTER ROLE");
}

static int plan_set(struct pg_plan *p, const struct xl *x, size_t i, size_t end)
{
    size_t k = i + 1;
    if (xl_is(x, k, "session") && !xl_is(x, k + 1, "authorization") &&
        !xl_is(x, k + 1, "characteristics"))
        k++;
    if (xl_is(x, k, "local"))
        k++;
    if (xl_is(x, k, "transaction") || xl_is(x, k, "session") || xl_is(x, k, "role") ||
        xl_is(x, k, "constraints"))
        return set_cmd(p, CMD_NOOP, "SET");
    if (xl_is(x, k, "time") && xl_is(x, k + 1, "zone")) {
        snprintf(p->name, sizeof(p->name), "TimeZone");
        k += 2;
    } else if (xl_is(x, k, "names")) {
        snprintf(p->name, sizeof(p->name), "client_encoding");
        k++;
    } else {
        if (k >= end)
            return 0;
        xl_name(x, k, p->name, sizeof(p->name));
        k++;
        while (xl_tok(x, k)->kind == TK_DOT && k + 1 < end) { /* custom.setting */
            char part[DP_PG_NAME_MAX];
            xl_name(x, k + 1, part, sizeof(part));
            size_t len = strlen(p->name);
            snprintf(p->name + len, sizeof(p->name) - len, ".%s", part);
            k += 2;
        }
        if (xl_is(x, k, "to") || (xl_tok(x, k)->kind == TK_OP && xl_tok(x, k)->len == 1 &&
                                  x->lx->src[xl_tok(x, k)->off] == '='))
            k++;
        else
            return 0;
    }
    if (!(xl_is(x, k, "default") && k + 1 == end) && !xl_is(x, k, "local"))
        p->value = set_value(x, k, end);
    return set_cmd(p, CMD_SET, "SET");
}

static int plan_truncate(struct pg_plan *p, struct xl *x, size_t i, size_t end)
{
    size_t k = i + 1;
    if (xl_is(x, k, "table"))
        k++;
    size_t stop = end;
    while (stop > k && (xl_is(x, stop - 1, "cascade") || xl_is(x, stop - 1, "restrict") ||
                        xl_is(x, stop - 1, "identity")))
        stop -= xl_is(x, stop - 1, "identity") ? 2 : 1;
    int n = 0;
    p->kind = PLAN_SQL;
    snprintf(p->tag, sizeof(p->tag), "TRUNCATE TABLE");
    p->writes = 1;
    while (k < stop) {
        if (xl_is(x, k, "only"))
            k++;
        if ((xl_is(x, k, "public")) && xl_tok(x, k + 1)->kind == TK_DOT)
            k += 2;
        const struct pg_tok *t = xl_tok(x, k);
        if (t->kind != TK_IDENT && t->kind != TK_QIDENT)
            return 0;
        if (n++) {
            cmk_buf_puts(&p->sql, "; ");
            p->multi = 1;
        }
        cmk_buf_puts(&p->sql, "DELETE FROM ");
        cmk_buf_append(&p->sql, x->lx->src + t->off, t->len);
        k++;
        if (xl_tok(x, k)->kind == TK_COMMA)
            k++;
    }
    return n > 0;
}

int pg_plan_command(struct pg_plan *p, const struct pg_lex *lx, size_t i, size_t end)
{
    struct xl x;
    memset(&x, 0, sizeof(x));
    x.lx = lx;
    x.p = p;
    char w0[32], w1[32];
    xl_name(&x, i, w0, sizeof(w0));
    xl_name(&x, i + 1, w1, sizeof(w1));
    if (xl_tok(&x, i)->kind != TK_IDENT)
        return 0;
    if (!strcmp(w0, "begin") || (!strcmp(w0, "start") && !strcmp(w1, "transaction"))) {
        for (size_t k = i + 1; k + 1 < end; k++)
            if (xl_is(&x, k, "read") && xl_is(&x, k + 1, "only"))
                p->flags = 1;
        return set_cmd(p, CMD_BEGIN, !strcmp(w0, "start") ? "START TRANSACTION" : "BEGIN");
    }
    if (!strcmp(w0, "commit") || !strcmp(w0, "end")) {
        if (!strcmp(w1, "prepared"))
            return unsupported(p, &x, i, "COMMIT PREPARED");
        return set_cmd(p, CMD_COMMIT, "COMMIT");
    }
    if (!strcmp(w0, "rollback") || !strcmp(w0, "abort")) {
        if (!strcmp(w1, "prepared"))
            return unsupported(p, &x, i, "ROLLBACK PREPARED");
        size_t k = i + 1;
        if (xl_is(&x, k, "work") || xl_is(&x, k, "transaction"))
            k++;
        if (xl_is(&x, k, "to")) {
            k++;
            if (xl_is(&x, k, "savepoint"))
                k++;
            xl_name(&x, k, p->name, sizeof(p->name));
            return set_cmd(p, CMD_ROLLBACK_TO, "ROLLBACK");
        }
        return set_cmd(p, CMD_ROLLBACK, "ROLLBACK");
    }
    if (!strcmp(w0, "savepoint")) {
        xl_name(&x, i + 1, p->name, sizeof(p->name));
        return set_cmd(p, CMD_SAVEPOINT, "SAVEPOINT");
    }
    if (!strcmp(w0, "release")) {
        xl_name(&x, xl_is(&x, i + 1, "savepoint") ? i + 2 : i + 1, p->name, sizeof(p->name));
        return set_cmd(p, CMD_RELEASE, "RELEASE");
    }
    if (!strcmp(w0, "prepare") && !strcmp(w1, "transaction"))
        return unsupported(p, &x, i, "PREPARE TRANSACTION");
    if (!strcmp(w0, "set"))
        return plan_set(p, &x, i, end);
    if (!strcmp(w0, "reset")) {
        xl_name(&x, i + 1, p->name, sizeof(p->name));
        return set_cmd(p, CMD_RESET, "RESET");
    }
    if (!strcmp(w0, "show")) {
        if (xl_is(&x, i + 1, "time") && xl_is(&x, i + 2, "zone"))
            snprintf(p->name, sizeof(p->name), "TimeZone");
        else if (xl_is(&x, i + 1, "transaction") && xl_is(&x, i + 2, "isolation"))
            snprintf(p->name, sizeof(p->name), "transaction_isolation");
        else
            xl_name(&x, i + 1, p->name, sizeof(p->name));
        return set_cmd(p, CMD_SHOW, "SHOW");
    }
    if ((!strcmp(w0, "create") || !strcmp(w0, "drop")) && !strcmp(w1, "database")) {
        size_t k = i + 2;
        if (xl_is(&x, k, "if") && xl_is(&x, k + 1, "exists")) {
            p->if_exists = 1;
            k += 2;
        }
        enum pg_tok_kind kk = xl_tok(&x, k)->kind;
        if (kk != TK_IDENT && kk != TK_QIDENT)
            return 0;
        xl_name(&x, k, p->name, sizeof(p->name));
        for (size_t f = k + 1; f < end; f++)
            if (xl_is(&x, f, "force"))
                p->flags = 1;
        return !strcmp(w0, "create") ? set_cmd(p, CMD_CREATE_DATABASE, "CREATE DATABASE")
                                     : set_cmd(p, CMD_DROP_DATABASE, "DROP DATABASE");
    }
    if (!strcmp(w0, "alter") && !strcmp(w1, "database"))
        return set_cmd(p, CMD_NOOP, "ALTER DATABASE");
    if ((!strcmp(w0, "create") || !strcmp(w0, "alter") || !strcmp(w0, "drop")) &&
        (!strcmp(w1, "role") || !strcmp(w1, "user") || !strcmp(w1, "group")))
        return plan_role(p, &x, i, end);
    if (!strcmp(w0, "grant") || !strcmp(w0, "revoke"))
        return set_cmd(p, CMD_NOOP, !strcmp(w0, "grant") ? "GRANT" : "REVOKE");
    if (!strcmp(w0, "alter") && !strcmp(w1, "default"))
        return set_cmd(p, CMD_NOOP, "ALTER DEFAULT PRIVILEGES");
    if ((!strcmp(w0, "create") || !strcmp(w0, "drop") || !strcmp(w0, "alter")) &&
        !strcmp(w1, "extension")) {
        char tag[32];
        snprintf(tag, sizeof(tag), "%s EXTENSION",
                 w0[0] == 'c'   ? "CREATE"
                 : w0[0] == 'd' ? "DROP"
                                : "ALTER");
        return set_cmd(p, CMD_NOOP, tag);
    }
    if (!strcmp(w0, "create") && !strcmp(w1, "schema")) {
        size_t k = i + 2;
        if (xl_is(&x, k, "if") && xl_is(&x, k + 1, "not") && xl_is(&x, k + 2, "exists"))
            k += 3;
        if (xl_is(&x, k, "public"))
            return set_cmd(p, CMD_NOOP, "CREATE SCHEMA");
        return unsupported(p, &x, k, "a schema other than public");
    }
    if (!strcmp(w0, "drop") && !strcmp(w1, "schema"))
        return unsupported(p, &x, i + 1, "DROP SCHEMA");
    if (!strcmp(w0, "drop") && !strcmp(w1, "owned"))
        return set_cmd(p, CMD_NOOP, "DROP OWNED");
    if (!strcmp(w0, "comment"))
        return set_cmd(p, CMD_NOOP, "COMMENT");
    if (!strcmp(w0, "vacuum"))
        return set_cmd(p, CMD_NOOP, "VACUUM");
    if (!strcmp(w0, "analyze") || !strcmp(w0, "analyse"))
        return set_cmd(p, CMD_NOOP, "ANALYZE");
    if (!strcmp(w0, "checkpoint") || !strcmp(w0, "cluster") || !strcmp(w0, "reindex")) {
        char tag[32];
        snprintf(tag, sizeof(tag), "%s", w0);
        for (char *c = tag; *c; c++)
            *c = (char)(*c - 32);
        return set_cmd(p, CMD_NOOP, tag);
    }
    if (!strcmp(w0, "listen") || !strcmp(w0, "unlisten") || !strcmp(w0, "notify")) {
        char tag[32];
        snprintf(tag, sizeof(tag), "%s", w0);
        for (char *c = tag; *c; c++)
            *c = (char)(*c - 32);
        return set_cmd(p, CMD_NOOP, tag);
    }
    if (!strcmp(w0, "lock"))
        return set_cmd(p, CMD_NOOP, "LOCK TABLE");
    if (!strcmp(w0, "discard")) {
        char tag[32];
        snprintf(tag, sizeof(tag), "DISCARD %s",
                 !strcmp(w1, "all")         ? "ALL"
                 : !strcmp(w1, "plans")     ? "PLANS"
                 : !strcmp(w1, "sequences") ? "SEQUENCES"
                                            : "TEMP");
        p->flags = !strcmp(w1, "all");
        return set_cmd(p, CMD_DISCARD, tag);
    }
    if (!strcmp(w0, "deallocate")) {
        size_t k = xl_is(&x, i + 1, "prepare") ? i + 2 : i + 1;
        if (xl_is(&x, k, "all")) {
            p->flags = 1;
            return set_cmd(p, CMD_DEALLOCATE, "DEALLOCATE ALL");
        }
        xl_name(&x, k, p->name, sizeof(p->name));
        return set_cmd(p, CMD_DEALLOCATE, "DEALLOCATE");
    }
    if (!strcmp(w0, "truncate"))
        return plan_truncate(p, &x, i, end);
    if (!strcmp(w0, "copy"))
        return unsupported(p, &x, i, "COPY (use INSERT)");
    if (!strcmp(w0, "do") || !strcmp(w0, "call"))
        return unsupported(p, &x, i, !strcmp(w0, "do") ? "DO" : "CALL");
    if (!strcmp(w0, "prepare") || !strcmp(w0, "execute"))
        return unsupported(p, &x, i, "SQL-level PREPARE/EXECUTE (use the extended protocol)");
    if (!strcmp(w0, "refresh") || !strcmp(w0, "security") || !strcmp(w0, "import") ||
        !strcmp(w0, "load") || !strcmp(w0, "fetch") || !strcmp(w0, "declare") ||
        !strcmp(w0, "move") || !strcmp(w0, "close")) {
        char what[40];
        snprintf(what, sizeof(what), "%s", w0);
        for (char *c = what; *c; c++)
            *c = (char)(*c - 32);
        return unsupported(p, &x, i, what);
    }
    return 0;
}
