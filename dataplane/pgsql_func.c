/* pgsql_func.c: PostgreSQL's functions on SQLite, and what a session may not do.
 *
 * Each session's connection gets the functions PostgreSQL clients call: now() and the other
 * clock functions (from the emulator's clock, never the system's), version(),
 * current_database(), current_setting()/set_config(), pg_backend_pid(), pg_sleep() (which
 * waits on the clock after the statement, so a CancelRequest can interrupt it),
 * pg_cancel_backend()/pg_terminate_backend(), gen_random_uuid(), the string functions SQLite
 * lacks, and the operators' helpers: regexp() for ~, glob() for ~* (case-insensitive), like()
 * with PostgreSQL's case-sensitive LIKE and match() for ILIKE.
 *
 * The authorizer refuses ATTACH/DETACH, every PRAGMA except a few read-only informational
 * ones, load_extension(), virtual tables other than FTS and R*Tree, and any access to the
 * endpoint's own tables (_cmk_*). The connection is also set DEFENSIVE, untrusted-schema,
 * without double-quoted string literals or extension loading, and with a progress handler
 * that serves cancel requests and the instruction budget.
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgcatalog_int.h"

#define F_SAFE   (SQLITE_UTF8 | SQLITE_INNOCUOUS)
#define F_DET    (SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC)
#define F_DIRECT (SQLITE_UTF8 | SQLITE_DIRECTONLY)

static struct dp_pgconn *conn_of(sqlite3_context *ctx)
{
    return sqlite3_user_data(ctx);
}

/* "2026-01-01 10:00:00.123+00" (fraction only when not zero). */
static void format_ts(cmk_time_t t, char *out, size_t n, int date_only, int time_only)
{
    time_t secs = (time_t)(t >= 0 ? t / 1000 : (t - 999) / 1000);
    int ms = (int)(t - (cmk_time_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char frac[8] = "";
    if (ms)
        snprintf(frac, sizeof(frac), ".%03d", ms);
    for (size_t k = strlen(frac); k > 1 && frac[k - 1] == '0'; k--)
        frac[k - 1] = 0;
    if (date_only)
        snprintf(out, n, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    else if (time_only)
        snprintf(out, n, "%02d:%02d:%02d%s+00", tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    else
        snprintf(out, n, "%04d-%02d-%02d %02d:%02d:%02d%s+00", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* now(): the statement's time, or the transaction's start inside a block, as PostgreSQL. */
static void fn_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    char buf[48];
    format_ts(conn_of(ctx)->stmt_time, buf, sizeof(buf), 0, 0);
    sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

static void fn_clock_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct dp_pgconn *c = conn_of(ctx);
    char buf[48];
    format_ts(cmk_clock_now(pg_ep_clock(c->ep)), buf, sizeof(buf), 0, 0);
    sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

static void fn_current_date(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    char buf[48];
    format_ts(conn_of(ctx)->stmt_time, buf, sizeof(buf), 1, 0);
    sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

static void fn_current_time(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    char buf[48];
    format_ts(conn_of(ctx)->stmt_time, buf, sizeof(buf), 0, 1);
    sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

static void fn_version(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    char buf[160];
    snprintf(buf, sizeof(buf),
             "PostgreSQL %s (cmksim emulator, SQL by SQLite %s) on x86_64-pc-linux-gnu, "
             "64-bit",
             DP_PG_SERVER_VERSION, sqlite3_libversion());
    sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

static void fn_current_database(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_text(ctx, conn_of(ctx)->database, -1, SQLITE_TRANSIENT);
}

static void fn_current_user(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_text(ctx, conn_of(ctx)->user, -1, SQLITE_TRANSIENT);
}

static void fn_current_schema(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_text(ctx, "public", -1, SQLITE_STATIC);
}

static void fn_current_schemas(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int implicit = argc > 0 && sqlite3_value_int(argv[0]);
    sqlite3_result_text(ctx, implicit ? "{pg_catalog,public}" : "{public}", -1, SQLITE_STATIC);
}

static void fn_backend_pid(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_int(ctx, conn_of(ctx)->pid);
}

static void fn_server_port(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_int(ctx, conn_of(ctx)->local_port);
}

static void fn_client_addr(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct dp_pgconn *c = conn_of(ctx);
    if (c->peer[0])
        sqlite3_result_text(ctx, c->peer, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(ctx);
}

static void fn_in_recovery(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_int(ctx, conn_of(ctx)->info.read_only);
}

static void fn_current_setting(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    const char *v = name ? pg_conn_setting(conn_of(ctx), name) : NULL;
    if (v) {
        sqlite3_result_text(ctx, v, -1, SQLITE_TRANSIENT);
    } else if (argc > 1 && sqlite3_value_int(argv[1])) {
        sqlite3_result_null(ctx);
    } else {
        char msg[160];
        snprintf(msg, sizeof(msg), "42704:unrecognized configuration parameter \"%s\"",
                 name ? name : "");
        sqlite3_result_error(ctx, msg, -1);
    }
}

static void fn_set_config(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    const char *value = (const char *)sqlite3_value_text(argv[1]);
    struct pg_error e;
    if (name == NULL || pg_conn_set(conn_of(ctx), name, value ? value : "", &e) != 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s:%s", name ? e.code : "22023",
                 name ? e.message : "NULL value not allowed");
        sqlite3_result_error(ctx, msg, -1);
        return;
    }
    sqlite3_result_text(ctx, value ? value : "", -1, SQLITE_TRANSIENT);
}

static void fn_sleep(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    double s = sqlite3_value_double(argv[0]);
    if (s > 366.0 * 86400)
        s = 366.0 * 86400; /* a year is long enough for anyone, and keeps the cast defined */
    if (s > 0)
        conn_of(ctx)->sleep_ms += (cmk_time_t)(s * 1000);
    sqlite3_result_null(ctx);
}

static void fn_cancel_backend(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_int(ctx, pg_ep_kill_pid(conn_of(ctx), sqlite3_value_int(argv[0]), 1) == 0);
}

static void fn_terminate_backend(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_int(ctx, pg_ep_kill_pid(conn_of(ctx), sqlite3_value_int(argv[0]), 0) == 0);
}

static void fn_uuid(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    uint8_t u[16];
    char s[37];
    pg_ep_random(conn_of(ctx)->ep, u, sizeof(u));
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    snprintf(s, sizeof(s), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
    sqlite3_result_text(ctx, s, 36, SQLITE_TRANSIENT);
}

/* DEFAULT of a SERIAL column that cannot be SQLite's rowid: its maximum + 1. */
static void fn_serial_next(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct dp_pgconn *c = conn_of(ctx);
    const char *t = (const char *)sqlite3_value_text(argv[0]);
    const char *col = (const char *)sqlite3_value_text(argv[1]);
    if (t == NULL || col == NULL)
        return;
    char *sql = sqlite3_mprintf("SELECT coalesce(max(\"%w\"), 0) + 1 FROM \"%w\"", col, t);
    sqlite3_stmt *st = NULL;
    int saved = c->internal;
    c->internal = 1;
    if (sqlite3_prepare_v2(sqlite3_context_db_handle(ctx), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        sqlite3_result_int64(ctx, sqlite3_column_int64(st, 0));
    else
        sqlite3_result_error(ctx, "XX000:cannot compute the next serial value", -1);
    c->internal = saved;
    sqlite3_finalize(st);
    sqlite3_free(sql);
}

static void fn_random(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    uint64_t v;
    pg_ep_random(conn_of(ctx)->ep, &v, sizeof(v));
    sqlite3_result_double(ctx, (double)(v >> 11) / (double)(1ULL << 53));
}

static const struct {
    const char *name;
    int nargs, flags;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
    const void *data; /* NULL: the connection */
    int use_data;
} functions[] = {
    {"now", 0, F_SAFE, fn_now, NULL, 0},
    {"transaction_timestamp", 0, F_SAFE, fn_now, NULL, 0},
    {"statement_timestamp", 0, F_SAFE, fn_now, NULL, 0},
    {"clock_timestamp", 0, F_SAFE, fn_clock_now, NULL, 0},
    {"pg_current_date", 0, F_SAFE, fn_current_date, NULL, 0},
    {"pg_current_time", 0, F_SAFE, fn_current_time, NULL, 0},
    {"version", 0, F_SAFE, fn_version, NULL, 0},
    {"current_database", 0, F_SAFE, fn_current_database, NULL, 0},
    {"current_user", 0, F_SAFE, fn_current_user, NULL, 0},
    {"session_user", 0, F_SAFE, fn_current_user, NULL, 0},
    {"current_schema", 0, F_SAFE, fn_current_schema, NULL, 0},
    {"current_schemas", 1, F_SAFE, fn_current_schemas, NULL, 0},
    {"pg_backend_pid", 0, F_SAFE, fn_backend_pid, NULL, 0},
    {"inet_server_port", 0, F_SAFE, fn_server_port, NULL, 0},
    {"inet_client_addr", 0, F_SAFE, fn_client_addr, NULL, 0},
    {"pg_is_in_recovery", 0, F_SAFE, fn_in_recovery, NULL, 0},
    {"current_setting", 1, F_SAFE, fn_current_setting, NULL, 0},
    {"current_setting", 2, F_SAFE, fn_current_setting, NULL, 0},
    {"set_config", 3, F_DIRECT, fn_set_config, NULL, 0},
    {"pg_sleep", 1, F_DIRECT, fn_sleep, NULL, 0},
    {"pg_cancel_backend", 1, F_DIRECT, fn_cancel_backend, NULL, 0},
    {"pg_terminate_backend", 1, F_DIRECT, fn_terminate_backend, NULL, 0},
    {"gen_random_uuid", 0, F_SAFE, fn_uuid, NULL, 0},
    {"uuid_generate_v4", 0, F_SAFE, fn_uuid, NULL, 0},
    {"random", 0, F_SAFE, fn_random, NULL, 0},
    {"pg_serial_next", 2, F_SAFE, fn_serial_next, NULL, 0},
};

/* Read-only, informational pragmas a session may run (FTS5 reads data_version itself). */
static const char *const safe_pragmas[] = {
    "table_info",  "table_xinfo",      "index_list",     "index_info",
    "index_xinfo", "foreign_key_list", "collation_list", "compile_options",
    "table_list",  "data_version",     "page_count",     "freelist_count",
    NULL};
/* Pragmas that only read when given no value. */
static const char *const read_pragmas[] = {
    "schema_version", "user_version",   "page_size", "encoding",
    "foreign_keys",   "application_id", NULL};

static int deny(struct dp_pgconn *c, const char *fmt, const char *what)
{
    snprintf(c->denied_what, sizeof(c->denied_what), fmt, what ? what : "");
    return SQLITE_DENY;
}

int pg_authorizer(void *data, int action, const char *a, const char *b, const char *dbname,
                  const char *trigger)
{
    struct dp_pgconn *c = data;
    if (c->internal)
        return SQLITE_OK;
    switch (action) {
    case SQLITE_ATTACH:
        return deny(c, "ATTACH is not allowed on this server%s", "");
    case SQLITE_DETACH:
        return deny(c, "DETACH is not allowed on this server%s", "");
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        return deny(c, "transaction control must use BEGIN/COMMIT/ROLLBACK/SAVEPOINT%s", "");
    case SQLITE_PRAGMA:
        for (int i = 0; safe_pragmas[i]; i++)
            if (a && strcasecmp(a, safe_pragmas[i]) == 0)
                return SQLITE_OK;
        for (int i = 0; read_pragmas[i] && b == NULL; i++)
            if (a && strcasecmp(a, read_pragmas[i]) == 0)
                return SQLITE_OK;
        return deny(c, "PRAGMA %s is not allowed on this server", a);
    case SQLITE_FUNCTION:
        if (b && (strcasecmp(b, "load_extension") == 0 || strcasecmp(b, "fts3_tokenizer") == 0))
            return deny(c, "function %s is not allowed on this server", b);
        return SQLITE_OK;
    case SQLITE_CREATE_VTABLE:
    case SQLITE_DROP_VTABLE:
        if (b && (strncasecmp(b, "fts", 3) == 0 || strcasecmp(b, "rtree") == 0))
            return SQLITE_OK;
        return deny(c, "virtual table module %s is not allowed on this server", b);
    case SQLITE_READ:
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
    case SQLITE_CREATE_TABLE:
    case SQLITE_DROP_TABLE:
    case SQLITE_ALTER_TABLE:
    case SQLITE_CREATE_INDEX:
    case SQLITE_DROP_INDEX:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_ANALYZE:
        if (a && strncasecmp(a, "_cmk_", 5) == 0)
            return deny(c, "relation \"%s\" is internal to the server", a);
        return SQLITE_OK;
    default:
        return SQLITE_OK;
    }
}

static int progress(void *data)
{
    struct dp_pgconn *c = data;
    if (c->internal)
        return 0;
    c->vm_ops += PG_PROGRESS_STEP;
    if (c->cancel || c->kill_pending)
        return 1;
    if (c->vm_ops > pg_ep_vm_budget(c->ep)) {
        c->timed_out = 1;
        return 1;
    }
    return 0;
}

int pg_func_install(struct dp_pgconn *c, sqlite3 *db)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]) && rc == SQLITE_OK; i++) {
        void *data = functions[i].use_data ? (void *)functions[i].data : (void *)c;
        rc =
            sqlite3_create_function_v2(db, functions[i].name, functions[i].nargs,
                                       functions[i].flags, data, functions[i].fn, NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = pgcat_functions(c, db);
    if (rc == SQLITE_OK)
        rc = pg_series_install(db);
    if (rc == SQLITE_OK)
        rc = pg_strfunc_install(db);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 0);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, NULL);
    sqlite3_progress_handler(db, PG_PROGRESS_STEP, progress, c);
    return sqlite3_set_authorizer(db, pg_authorizer, c);
}
