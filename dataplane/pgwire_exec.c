/* pgwire_exec.c: running one statement's plan and describing its results.
 *
 * A portal (an unnamed one for simple queries) steps its SQLite statement and streams
 * DataRows; it stops, to be resumed, when the client is slow to read (output backlog), after
 * a slice of rows (so other sessions run), at a row limit (PortalSuspended), when the database
 * is locked by another session's transaction (SQLITE_BUSY: the session waits and is woken when
 * that transaction ends), or after pg_sleep(). Column types come from SQLite's declared types,
 * then the translator's hints, then the first row's values. The failed-transaction rule
 * (25P02), read-only sessions (25006), IF [NOT] EXISTS notices and command tags
 * ("INSERT 0 1", "UPDATE 3", "SELECT 5") are applied here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire_int.h"

int pg_exec_internal(struct dp_pgconn *c, sqlite3 *db, const char *sql)
{
    int saved = c->internal;
    c->internal = 1;
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    c->internal = saved;
    if (rc != SQLITE_OK)
        rc = sqlite3_extended_errcode(db);
    return rc;
}

void pg_exec_fail(struct dp_pgconn *c, const struct pg_error *e)
{
    pg_send_error(&c->out, e);
    if (c->txn == TXN_BLOCK)
        c->txn = TXN_FAILED;
    if (c->in_extended)
        c->skip_to_sync = 1;
}

void pg_exec_txn_ended(struct dp_pgconn *c)
{
    pg_ep_wake_waiters(c);
}

static void fail_code(struct dp_pgconn *c, const char *code, const char *msg)
{
    struct pg_error e;
    pg_error_set(&e, code, "%s", msg);
    pg_exec_fail(c, &e);
}

int pg_exec_prepare(struct dp_pgconn *c, struct pg_plan *plan, sqlite3_stmt **out,
                    struct pg_error *e)
{
    *out = NULL;
    if (plan->catalog) {
        int rc = pg_catalog_refresh(c, e);
        if (rc == SQLITE_BUSY)
            return EXEC_BLOCKED;
        if (rc != 0)
            return EXEC_ERROR;
    }
    const char *tail = NULL;
    c->denied_what[0] = 0;
    int rc = sqlite3_prepare_v3(c->db, plan->sql.data, (int)plan->sql.len,
                                SQLITE_PREPARE_PERSISTENT, out, &tail);
    if (rc == SQLITE_OK && *out == NULL) { /* only a comment */
        plan->kind = PLAN_EMPTY;
        return 0;
    }
    if (rc == SQLITE_OK)
        return 0;
    if ((rc & 0xff) == SQLITE_BUSY)
        return EXEC_BLOCKED;
    if (plan->catalog_soft) {
        /* psql asked about a catalog this server does not model (policies, publications...):
         * the honest answer is "none". */
        cmk_buf_reset(&plan->sql);
        cmk_buf_puts(&plan->sql, "SELECT NULL AS \"?column?\" WHERE 0");
        plan->nhints = 0;
        if (sqlite3_prepare_v3(c->db, plan->sql.data, -1, 0, out, NULL) == SQLITE_OK)
            return 0;
    }
    pg_exec_sqlite_error(c, rc, e);
    return EXEC_ERROR;
}

static int formats_binary(const struct pg_portal *p, int col)
{
    if (p->nformats == 0)
        return 0;
    if (p->nformats == 1)
        return p->formats[0] == 1;
    return col < p->nformats && p->formats[col] == 1;
}

/* Choose each result column's type (have_row: st holds a row to look at). */
static void decide_types(const struct pg_plan *plan, struct pg_portal *p, int have_row)
{
    sqlite3_stmt *st = p->st;
    int n = sqlite3_column_count(st);
    free(p->oids);
    free(p->typmods);
    p->oids = cmk_xcalloc((size_t)(n ? n : 1), sizeof(uint32_t));
    p->typmods = cmk_xcalloc((size_t)(n ? n : 1), sizeof(int32_t));
    p->ncols = n;
    for (int i = 0; i < n; i++) {
        const char *decl = sqlite3_column_decltype(st, i);
        uint32_t oid = pg_type_from_decl(decl);
        p->typmods[i] = oid ? pg_typmod_from_decl(decl) : -1;
        if (oid == 0 && i < plan->nhints)
            oid = plan->hints[i];
        if (oid == 0 && have_row && sqlite3_column_type(st, i) != SQLITE_NULL)
            oid = pg_type_from_value(sqlite3_column_type(st, i));
        if (oid == 0)
            oid = PG_OID_TEXT;
        if (formats_binary(p, i) && !pg_type_is_binary_ok(oid))
            oid = PG_OID_TEXT;
        p->oids[i] = oid;
    }
}

static int is_explain(const struct pg_portal *p)
{
    return sqlite3_stmt_isexplain(p->st) == 2;
}

static void send_rowdesc(struct dp_pgconn *c, const struct pg_portal *p)
{
    size_t at = pg_msg_begin(&c->out, 'T');
    if (is_explain(p)) {
        pg_put_i16(&c->out, 1);
        pg_put_str(&c->out, "QUERY PLAN");
        pg_put_i32(&c->out, 0);
        pg_put_i16(&c->out, 0);
        pg_put_i32(&c->out, PG_OID_TEXT);
        pg_put_i16(&c->out, -1);
        pg_put_i32(&c->out, -1);
        pg_put_i16(&c->out, 0);
        pg_msg_end(&c->out, at);
        return;
    }
    pg_put_i16(&c->out, (int16_t)p->ncols);
    for (int i = 0; i < p->ncols; i++) {
        const char *name = sqlite3_column_name(p->st, i);
        const struct pg_type *t = pg_type_by_oid(p->oids[i]);
        pg_put_str(&c->out, name ? name : "?column?");
        pg_put_i32(&c->out, 0);
        pg_put_i16(&c->out, 0);
        pg_put_i32(&c->out, (int32_t)p->oids[i]);
        pg_put_i16(&c->out, t ? t->len : -1);
        pg_put_i32(&c->out, p->typmods[i]);
        pg_put_i16(&c->out, (int16_t)formats_binary(p, i));
    }
    pg_msg_end(&c->out, at);
}

static void send_row(struct dp_pgconn *c, const struct pg_portal *p)
{
    size_t at = pg_msg_begin(&c->out, 'D');
    if (is_explain(p)) {
        pg_put_i16(&c->out, 1);
        pg_encode_field(&c->out, p->st, 3, PG_OID_TEXT, -1, 0);
    } else {
        pg_put_i16(&c->out, (int16_t)p->ncols);
        for (int i = 0; i < p->ncols; i++)
            pg_encode_field(&c->out, p->st, i, p->oids[i], p->typmods[i], formats_binary(p, i));
    }
    pg_msg_end(&c->out, at);
}

static void send_tag(struct dp_pgconn *c, const struct pg_plan *plan, struct pg_portal *p)
{
    char tag[64];
    long long n = (long long)p->rows;
    int dml = !strcmp(plan->tag, "INSERT") || !strcmp(plan->tag, "UPDATE") ||
              !strcmp(plan->tag, "DELETE");
    if (dml && p->ncols == 0)
        n = sqlite3_changes(c->db);
    else if (!strcmp(plan->tag, "SELECT") && p->ncols == 0) /* CREATE TABLE ... AS */
        n = sqlite3_total_changes64(c->db) - p->changes0;
    if (!strcmp(plan->tag, "INSERT"))
        snprintf(tag, sizeof(tag), "INSERT 0 %lld", n);
    else if (plan->tag_count)
        snprintf(tag, sizeof(tag), "%s %lld", plan->tag, n);
    else
        snprintf(tag, sizeof(tag), "%s", plan->tag);
    pg_send_complete(&c->out, tag);
}

/* The table named in the plan exists (for IF [NOT] EXISTS notices). */
static int relation_exists(struct dp_pgconn *c, const char *name, const char *type)
{
    sqlite3_stmt *st;
    int found = 0, saved = c->internal;
    c->internal = 1;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT 1 FROM sqlite_schema WHERE name = ?1 COLLATE NOCASE"
                           " AND (?2 = 'relation' OR type = ?2)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, type, -1, SQLITE_TRANSIENT);
        found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    c->internal = saved;
    return found;
}

static void notices(struct dp_pgconn *c, const struct pg_plan *plan)
{
    if (plan->notice == PG_NOTICE_EXISTS_SKIP && relation_exists(c, plan->name, "relation"))
        pg_send_notice(&c->out, "NOTICE", "42P07", "relation \"%s\" already exists, skipping",
                       plan->name);
    else if (plan->notice == PG_NOTICE_MISSING_SKIP &&
             !relation_exists(c, plan->name, plan->objtype))
        pg_send_notice(&c->out, "NOTICE", "00000", "%s \"%s\" does not exist, skipping",
                       plan->objtype, plan->name);
}

/* Several SQLite statements for one PostgreSQL statement (TRUNCATE a, b): all or nothing. */
static enum pg_exec_result run_multi(struct dp_pgconn *c, const struct pg_plan *plan)
{
    int in_txn = !sqlite3_get_autocommit(c->db);
    int rc = pg_exec_internal(c, c->db, in_txn ? "SAVEPOINT _cmk_multi" : "BEGIN IMMEDIATE");
    if ((rc & 0xff) == SQLITE_BUSY)
        return EXEC_BLOCKED;
    const char *sql = plan->sql.data;
    c->denied_what[0] = 0;
    while (rc == SQLITE_OK && sql && *sql) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(c->db, sql, -1, &st, &sql);
        if (rc == SQLITE_OK && st) {
            while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                ;
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
            if (rc != SQLITE_OK)
                rc = sqlite3_extended_errcode(c->db);
        }
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) {
        struct pg_error e;
        pg_exec_sqlite_error(c, rc, &e);
        pg_exec_internal(c, c->db,
                         in_txn ? "ROLLBACK TO _cmk_multi; RELEASE _cmk_multi" : "ROLLBACK");
        if ((rc & 0xff) == SQLITE_BUSY && !in_txn)
            return EXEC_BLOCKED;
        pg_exec_fail(c, &e);
        return EXEC_ERROR;
    }
    if (in_txn)
        c->txn_wrote = 1;
    rc = pg_exec_internal(c, c->db, in_txn ? "RELEASE _cmk_multi" : "COMMIT");
    if (rc != SQLITE_OK) {
        pg_exec_internal(c, c->db, "ROLLBACK");
        return EXEC_BLOCKED;
    }
    pg_send_complete(&c->out, plan->tag);
    if (!in_txn)
        pg_exec_txn_ended(c);
    return EXEC_DONE;
}

static int allowed_when_failed(const struct pg_plan *plan)
{
    return plan->kind == PLAN_CMD &&
           (plan->cmd == CMD_COMMIT || plan->cmd == CMD_ROLLBACK || plan->cmd == CMD_ROLLBACK_TO);
}

enum pg_exec_result pg_exec_portal(struct dp_pgconn *c, const struct pg_plan *plan,
                                   struct pg_portal *p, int rowdesc, long max_rows)
{
    if (c->txn == TXN_FAILED && !allowed_when_failed(plan)) {
        fail_code(c, "25P02",
                  "current transaction is aborted, commands ignored until end of transaction "
                  "block");
        return EXEC_ERROR;
    }
    switch (plan->kind) {
    case PLAN_EMPTY:
        pg_send_simple(&c->out, 'I');
        return EXEC_DONE;
    case PLAN_ERROR:
        pg_exec_fail(c, &plan->err);
        return EXEC_ERROR;
    case PLAN_CMD:
        return pg_cmd_run(c, plan);
    case PLAN_SQL:
        break;
    }
    if (plan->multi) {
        if (c->info.read_only || c->txn_read_only) {
            char msg[96];
            snprintf(msg, sizeof(msg), "cannot execute %s in a read-only transaction", plan->tag);
            fail_code(c, "25006", msg);
            return EXEC_ERROR;
        }
        return run_multi(c, plan);
    }
    sqlite3_stmt *st = p->st;
    if (!p->stepped && !p->row_ready && !p->complete) {
        if (!sqlite3_stmt_readonly(st) && (c->info.read_only || c->txn_read_only)) {
            char msg[96];
            snprintf(msg, sizeof(msg), "cannot execute %s in a read-only transaction", plan->tag);
            fail_code(c, "25006", msg);
            return EXEC_ERROR;
        }
        notices(c, plan);
        p->changes0 = sqlite3_total_changes64(c->db);
        c->vm_ops = 0;
        c->timed_out = 0;
    }
    long slice = 0;
    while (!p->complete) {
        int rc = SQLITE_ROW;
        if (!p->row_ready) {
            c->denied_what[0] = 0;
            rc = sqlite3_step(st);
            p->stepped = 1;
        }
        if (rc == SQLITE_ROW) {
            p->row_ready = 1;
            if (p->oids == NULL) {
                decide_types(plan, p, 1);
                if (rowdesc)
                    send_rowdesc(c, p);
            }
            if (max_rows > 0 && (long)(p->rows - p->exec_base) >= max_rows) {
                pg_send_simple(&c->out, 's');
                return EXEC_SUSPENDED;
            }
            send_row(c, p);
            p->row_ready = 0;
            p->rows++;
            if (c->out.len >= PG_OUT_FLUSH) {
                c->tp->flush(c);
                if (c->tp->backlogged(c))
                    return EXEC_YIELD;
            }
            if (++slice >= PG_SLICE_ROWS)
                return EXEC_YIELD;
            continue;
        }
        if (rc == SQLITE_DONE) {
            p->complete = 1;
            if (p->oids == NULL) {
                decide_types(plan, p, 0);
                if (rowdesc && p->ncols > 0)
                    send_rowdesc(c, p);
            }
            break;
        }
        /* an error, a lock held by another session, or an interrupt */
        int ext = sqlite3_extended_errcode(c->db);
        sqlite3_reset(st);
        if (ext == SQLITE_BUSY_SNAPSHOT && c->txn == TXN_BLOCK && !c->txn_wrote &&
            !c->implicit_txn && p->rows == 0 &&
            pg_exec_internal(c, c->db, "ROLLBACK") == SQLITE_OK &&
            pg_exec_internal(c, c->db, "BEGIN") == SQLITE_OK) {
            /* READ COMMITTED: a block that only read may take a newer snapshot, as each
             * PostgreSQL statement does, instead of failing with 40001 */
            p->stepped = 0;
            continue;
        }
        if ((ext & 0xff) == SQLITE_BUSY && ext != SQLITE_BUSY_SNAPSHOT && p->rows == 0) {
            p->stepped = 0;
            return EXEC_BLOCKED;
        }
        struct pg_error e;
        pg_exec_sqlite_error(c, ext, &e);
        p->done = 1;
        pg_exec_fail(c, &e);
        if (c->txn == TXN_IDLE)
            pg_exec_txn_ended(c);
        return EXEC_ERROR;
    }
    if (c->sleep_ms > 0)
        return EXEC_SLEEP;
    if (c->txn == TXN_BLOCK && !sqlite3_stmt_readonly(st))
        c->txn_wrote = 1;
    send_tag(c, plan, p);
    p->done = 1;
    sqlite3_reset(st);
    if (c->txn == TXN_IDLE && !c->implicit_txn)
        pg_exec_txn_ended(c);
    return EXEC_DONE;
}

int pg_exec_describe_portal(struct dp_pgconn *c, const struct pg_plan *plan, struct pg_portal *p)
{
    if (plan->kind == PLAN_CMD) {
        pg_cmd_describe(c, plan);
        return 0;
    }
    if (plan->kind != PLAN_SQL || plan->multi || p->st == NULL) {
        pg_send_simple(&c->out, 'n');
        return 0;
    }
    if (sqlite3_column_count(p->st) == 0) {
        pg_send_simple(&c->out, 'n');
        return 0;
    }
    if (p->oids == NULL) {
        /* Step a read-only statement once so that expression columns get their value's type;
         * Execute sends that row first. */
        if (!p->stepped && sqlite3_stmt_readonly(p->st) && c->txn != TXN_FAILED) {
            p->changes0 = sqlite3_total_changes64(c->db);
            c->vm_ops = 0;
            c->timed_out = 0;
            int rc = sqlite3_step(p->st);
            p->stepped = 1;
            if (rc == SQLITE_ROW) {
                p->row_ready = 1;
            } else if (rc == SQLITE_DONE) {
                p->complete = 1;
            } else {
                int ext = sqlite3_extended_errcode(c->db);
                sqlite3_reset(p->st);
                p->stepped = 0;
                if ((ext & 0xff) == SQLITE_BUSY && ext != SQLITE_BUSY_SNAPSHOT)
                    return EXEC_BLOCKED;
                struct pg_error e;
                pg_exec_sqlite_error(c, ext, &e);
                pg_exec_fail(c, &e);
                return EXEC_ERROR;
            }
        }
        decide_types(plan, p, p->row_ready);
    }
    send_rowdesc(c, p);
    return 0;
}

void pg_exec_describe_stmt(struct dp_pgconn *c, struct pg_stmt *s)
{
    int n = s->plan.nparams;
    if (s->st && sqlite3_bind_parameter_count(s->st) > n)
        n = sqlite3_bind_parameter_count(s->st);
    if (s->nparam_oids > n)
        n = s->nparam_oids;
    size_t at = pg_msg_begin(&c->out, 't');
    pg_put_i16(&c->out, (int16_t)n);
    for (int i = 0; i < n; i++) {
        uint32_t oid = i < s->nparam_oids && s->param_oids[i] ? s->param_oids[i] : PG_OID_TEXT;
        pg_put_i32(&c->out, (int32_t)oid);
    }
    pg_msg_end(&c->out, at);
    if (s->plan.kind == PLAN_CMD) {
        pg_cmd_describe(c, &s->plan);
        return;
    }
    if (s->plan.kind != PLAN_SQL || s->plan.multi || s->st == NULL ||
        sqlite3_column_count(s->st) == 0) {
        pg_send_simple(&c->out, 'n');
        return;
    }
    struct pg_portal tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.st = s->st;
    decide_types(&s->plan, &tmp, 0);
    send_rowdesc(c, &tmp);
    free(tmp.oids);
    free(tmp.typmods);
}
