/* pgsql_run.c: running the statements the endpoint answers itself.
 *
 * Transaction control keeps PostgreSQL's rules on top of SQLite's transactions: BEGIN inside a
 * block warns (25001) and does nothing, COMMIT of a failed block rolls back and says ROLLBACK,
 * COMMIT/ROLLBACK outside a block warn (25P01), SAVEPOINT needs a block, ROLLBACK TO leaves the
 * failed state; BEGIN inside a multi-statement Query turns its implicit transaction into an
 * explicit one. CREATE/DROP DATABASE and roles go to pgglobal.c, SET/SHOW to
 * pgsql_settings.c; DISCARD and DEALLOCATE drop the session's statements.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire_int.h"

static enum pg_exec_result fail(struct dp_pgconn *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum pg_exec_result fail(struct dp_pgconn *c, const char *code, const char *fmt, ...)
{
    struct pg_error e;
    va_list ap;
    pg_error_set(&e, code, "%s", "");
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    pg_exec_fail(c, &e);
    return EXEC_ERROR;
}

static enum pg_exec_result done(struct dp_pgconn *c, const char *tag)
{
    pg_send_complete(&c->out, tag);
    return EXEC_DONE;
}

static enum pg_exec_result exec_sql(struct dp_pgconn *c, const char *sql, const char *tag)
{
    int rc = pg_exec_internal(c, c->db, sql);
    if (rc == SQLITE_BUSY)
        return EXEC_BLOCKED;
    if (rc != SQLITE_OK) {
        struct pg_error e;
        pg_exec_sqlite_error(c, rc, &e);
        pg_exec_fail(c, &e);
        return EXEC_ERROR;
    }
    return done(c, tag);
}

static enum pg_exec_result begin(struct dp_pgconn *c, const struct pg_plan *p)
{
    if (c->implicit_txn) { /* BEGIN inside a multi-statement Query makes the block explicit */
        c->implicit_txn = 0;
        c->txn_read_only = p->flags & 1;
        return done(c, p->tag);
    }
    if (c->txn != TXN_IDLE) {
        pg_send_notice(&c->out, "WARNING", "25001", "there is already a transaction in progress");
        return done(c, p->tag);
    }
    enum pg_exec_result r = exec_sql(c, "BEGIN", p->tag);
    if (r == EXEC_DONE) {
        c->txn = TXN_BLOCK;
        c->txn_wrote = 0;
        c->txn_read_only = (p->flags & 1) || c->info.read_only;
        c->stmt_time = cmk_clock_now(pg_ep_clock(c->ep));
    }
    return r;
}

static enum pg_exec_result end_txn(struct dp_pgconn *c, const struct pg_plan *p)
{
    if (c->txn == TXN_IDLE) {
        pg_send_notice(&c->out, "WARNING", "25P01", "there is no transaction in progress");
        return done(c, p->cmd == CMD_COMMIT ? "COMMIT" : "ROLLBACK");
    }
    int commit = p->cmd == CMD_COMMIT && c->txn == TXN_BLOCK;
    pg_conn_close_portals(c);
    if (commit) {
        int rc = sqlite3_get_autocommit(c->db) ? SQLITE_OK : pg_exec_internal(c, c->db, "COMMIT");
        if (rc == SQLITE_BUSY)
            return EXEC_BLOCKED;
        if (rc != SQLITE_OK) {
            struct pg_error e;
            pg_exec_sqlite_error(c, rc, &e);
            if (!sqlite3_get_autocommit(c->db))
                pg_exec_internal(c, c->db, "ROLLBACK");
            c->txn = TXN_IDLE;
            c->implicit_txn = 0;
            pg_exec_txn_ended(c);
            pg_exec_fail(c, &e);
            return EXEC_ERROR;
        }
    } else if (!sqlite3_get_autocommit(c->db)) {
        pg_exec_internal(c, c->db, "ROLLBACK");
    }
    c->txn = TXN_IDLE;
    c->implicit_txn = 0;
    c->txn_read_only = c->info.read_only;
    pg_exec_txn_ended(c);
    return done(c, commit ? "COMMIT" : "ROLLBACK");
}

static enum pg_exec_result savepoint(struct dp_pgconn *c, const struct pg_plan *p)
{
    char sql[DP_PG_NAME_MAX * 2 + 40];
    char q[DP_PG_NAME_MAX * 2 + 3];
    size_t o = 0;
    q[o++] = '"';
    for (const char *s = p->name; *s && o + 3 < sizeof(q); s++) {
        if (*s == '"')
            q[o++] = '"';
        q[o++] = *s;
    }
    q[o++] = '"';
    q[o] = 0;
    const char *what = p->cmd == CMD_SAVEPOINT ? "SAVEPOINT"
                       : p->cmd == CMD_RELEASE ? "RELEASE"
                                               : "ROLLBACK TO SAVEPOINT";
    if (c->txn == TXN_IDLE)
        return fail(c, "25P01", "%s can only be used in transaction blocks", what);
    if (p->cmd != CMD_SAVEPOINT && sqlite3_get_autocommit(c->db))
        return fail(c, "3B001", "savepoint \"%s\" does not exist", p->name);
    snprintf(sql, sizeof(sql), "%s %s", p->cmd == CMD_RELEASE ? "RELEASE SAVEPOINT" : what, q);
    int rc = pg_exec_internal(c, c->db, sql);
    if (rc == SQLITE_BUSY)
        return EXEC_BLOCKED;
    if (rc != SQLITE_OK)
        return fail(c, "3B001", "savepoint \"%s\" does not exist", p->name);
    if (p->cmd == CMD_ROLLBACK_TO)
        c->txn = TXN_BLOCK;
    c->txn_wrote = 1; /* a restart would lose the savepoint */
    return done(c, p->tag);
}

static int can_write(struct dp_pgconn *c, const struct pg_plan *p)
{
    if (c->info.read_only || c->txn_read_only) {
        fail(c, "25006", "cannot execute %s in a read-only transaction", p->tag);
        return 0;
    }
    return 1;
}

enum pg_exec_result pg_cmd_run(struct dp_pgconn *c, const struct pg_plan *p)
{
    struct pg_error e;
    switch (p->cmd) {
    case CMD_BEGIN:
        return begin(c, p);
    case CMD_COMMIT:
    case CMD_ROLLBACK:
        return end_txn(c, p);
    case CMD_SAVEPOINT:
    case CMD_RELEASE:
    case CMD_ROLLBACK_TO:
        return savepoint(c, p);
    case CMD_SET:
        if (pg_conn_set(c, p->name, p->value, &e) != 0) {
            pg_exec_fail(c, &e);
            return EXEC_ERROR;
        }
        return done(c, "SET");
    case CMD_RESET:
        if (strcmp(p->name, "all") == 0) {
            pg_settings_reset_all(c);
        } else if (pg_conn_set(c, p->name, NULL, &e) != 0) {
            pg_exec_fail(c, &e);
            return EXEC_ERROR;
        }
        return done(c, "RESET");
    case CMD_SHOW:
        return pg_settings_show(c, p);
    case CMD_CREATE_DATABASE:
    case CMD_DROP_DATABASE:
        if (c->txn != TXN_IDLE || c->implicit_txn)
            return fail(c, "25001", "%s cannot run inside a transaction block", p->tag);
        if (!can_write(c, p))
            return EXEC_ERROR;
        if (pg_global_database_write(c, p, &e) != 0) {
            pg_exec_fail(c, &e);
            return EXEC_ERROR;
        }
        return done(c, p->tag);
    case CMD_CREATE_ROLE:
    case CMD_ALTER_ROLE:
    case CMD_DROP_ROLE:
        if (!can_write(c, p))
            return EXEC_ERROR;
        if (pg_global_role_write(c, p, &e) != 0) {
            pg_exec_fail(c, &e);
            return EXEC_ERROR;
        }
        return done(c, p->tag);
    case CMD_DISCARD:
        if (c->txn != TXN_IDLE)
            return fail(c, "25001", "DISCARD ALL cannot run inside a transaction block");
        if (p->flags) {
            pg_settings_reset_all(c);
            pg_conn_close_portals(c);
            while (c->stmts)
                pg_conn_drop_stmt(c, c->stmts);
        }
        return done(c, p->tag);
    case CMD_DEALLOCATE: {
        int found = 0;
        for (struct pg_stmt *s = c->stmts, *next; s; s = next) {
            next = s->next;
            if ((p->flags && s->name[0]) || (!p->flags && strcmp(s->name, p->name) == 0)) {
                pg_conn_drop_stmt(c, s);
                found = 1;
            }
        }
        if (!found && !p->flags)
            return fail(c, "26000", "prepared statement \"%s\" does not exist", p->name);
        return done(c, p->tag);
    }
    case CMD_NOOP:
    default:
        return done(c, p->tag);
    }
}
