/* pgcatalog_fn.c: the catalog functions psql and ORMs call.
 *
 * format_type(), pg_get_userbyid(), pg_get_indexdef()/pg_get_constraintdef() (texts kept by
 * pgcatalog_rel.c), pg_get_viewdef(), pg_get_expr(), the visibility and privilege tests (all
 * true: one schema, no privileges), pg_size_pretty() and the size functions (SQLite's dbstat
 * virtual table), and the ::regclass cast (a relation name for an OID, an OID for a name).
 * They read the session's own database with the authorizer lifted (c->internal).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgcatalog_int.h"

static struct dp_pgconn *conn_of(sqlite3_context *ctx)
{
    return sqlite3_user_data(ctx);
}

/* First column of sql with one bound value (int if txt is NULL) as text into out; 1 if found. */
static int lookup(struct dp_pgconn *c, const char *sql, int64_t v, const char *txt, char *out,
                  size_t n)
{
    int saved = c->internal, found = 0;
    c->internal = 1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (txt)
            sqlite3_bind_text(st, 1, txt, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_int64(st, 1, v);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
            snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
            found = 1;
        }
        sqlite3_finalize(st);
    }
    c->internal = saved;
    return found;
}

/* The relation name an OID stands for. */
static int rel_name(struct dp_pgconn *c, int64_t oid, char *out, size_t n)
{
    if (oid < PGCAT_OID_BASE)
        return 0;
    if ((oid - PGCAT_OID_BASE) % 2 == 1) { /* implicit primary-key index */
        char t[DP_PG_NAME_MAX * 2];
        if (!lookup(c, "SELECT name FROM main.sqlite_schema WHERE rowid = ?",
                    (oid - 1 - PGCAT_OID_BASE) / 2, NULL, t, sizeof(t)))
            return 0;
        snprintf(out, n, "%.60s_pkey", t);
        return 1;
    }
    return lookup(c, "SELECT name FROM main.sqlite_schema WHERE rowid = ?",
                  (oid - PGCAT_OID_BASE) / 2, NULL, out, n);
}

static void fn_format_type(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return;
    char out[96];
    int32_t typmod =
        argc > 1 && sqlite3_value_type(argv[1]) != SQLITE_NULL ? sqlite3_value_int(argv[1]) : -1;
    pg_format_type((uint32_t)sqlite3_value_int64(argv[0]), typmod, out, sizeof(out));
    sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

static void fn_userbyid(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct dp_pgconn *c = conn_of(ctx);
    int64_t oid = sqlite3_value_int64(argv[0]);
    char out[96];
    if (oid == 6171)
        snprintf(out, sizeof(out), "pg_database_owner");
    else if (!lookup(c, "SELECT rolname FROM temp.pg_roles WHERE oid = ?", oid, NULL, out,
                     sizeof(out)))
        snprintf(out, sizeof(out), "unknown (OID=%lld)", (long long)oid);
    sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

static void fn_true(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_int(ctx, 1);
}

static void fn_false(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_int(ctx, 0);
}

static void fn_empty(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
}

static void fn_null(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_null(ctx);
}

static void fn_first_arg(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_value(ctx, argv[0]);
}

static void fn_encoding(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_text(ctx, sqlite3_value_int(argv[0]) == 6 ? "UTF8" : "SQL_ASCII", -1,
                        SQLITE_STATIC);
}

static void fn_def(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct dp_pgconn *c = conn_of(ctx);
    char out[1024];
    if (lookup(c, "SELECT def FROM temp._cmk_defs WHERE oid = ?", sqlite3_value_int64(argv[0]),
               NULL, out, sizeof(out)))
        sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

static void fn_viewdef(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct dp_pgconn *c = conn_of(ctx);
    int64_t oid = sqlite3_value_int64(argv[0]);
    char out[4096];
    if (oid >= PGCAT_OID_BASE &&
        lookup(c, "SELECT sql FROM main.sqlite_schema WHERE rowid = ? AND type = 'view'",
               (oid - PGCAT_OID_BASE) / 2, NULL, out, sizeof(out))) {
        char *as = strstr(out, " AS ");
        sqlite3_result_text(ctx, as ? as + 4 : out, -1, SQLITE_TRANSIENT);
    }
}

static void fn_size_pretty(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return;
    double v = sqlite3_value_double(argv[0]);
    static const char *const units[] = {"bytes", "kB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (u < 5 && (v >= 10 * 1024 - 0.5 || v <= -(10 * 1024 - 0.5))) {
        v /= 1024;
        u++;
    }
    char out[48];
    snprintf(out, sizeof(out), "%.0f %s", v, units[u]);
    sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

/* Bytes dbstat counts for relation(s): mode 0 the relation, 1 its indexes, 2 both. */
static void relation_size(sqlite3_context *ctx, sqlite3_value *arg, int mode)
{
    struct dp_pgconn *c = conn_of(ctx);
    char name[DP_PG_NAME_MAX * 2];
    if (sqlite3_value_type(arg) == SQLITE_TEXT)
        snprintf(name, sizeof(name), "%s", (const char *)sqlite3_value_text(arg));
    else if (!rel_name(c, sqlite3_value_int64(arg), name, sizeof(name)))
        return;
    static const char *const sql[] = {
        "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?1",
        "SELECT coalesce(sum(d.pgsize), 0) FROM dbstat d JOIN main.sqlite_schema s"
        " ON s.name = d.name WHERE s.tbl_name = ?1 AND s.type = 'index'",
        "SELECT coalesce(sum(d.pgsize), 0) FROM dbstat d JOIN main.sqlite_schema s"
        " ON s.name = d.name WHERE s.tbl_name = ?1"};
    char out[32];
    if (lookup(c, sql[mode], 0, name, out, sizeof(out)))
        sqlite3_result_int64(ctx, strtoll(out, NULL, 10));
    else
        sqlite3_result_int64(ctx, 0);
}

static void fn_table_size(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    relation_size(ctx, argv[0], 0);
}

static void fn_indexes_size(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    relation_size(ctx, argv[0], 1);
}

static void fn_total_size(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    relation_size(ctx, argv[0], 2);
}

static void fn_database_size(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct dp_pgconn *c = conn_of(ctx);
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    int current =
        sqlite3_value_type(argv[0]) == SQLITE_TEXT ? name && strcmp(name, c->database) == 0 : 1;
    char out[32];
    if (current && lookup(c,
                          "SELECT page_count * page_size FROM pragma_page_count(),"
                          " pragma_page_size() WHERE ?1 IS NOT NULL",
                          1, NULL, out, sizeof(out)))
        sqlite3_result_int64(ctx, strtoll(out, NULL, 10));
}

/* ::regclass: an OID shows as the relation's name; a name gives the relation's OID. */
static void fn_regclass(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct dp_pgconn *c = conn_of(ctx);
    char out[DP_PG_NAME_MAX * 2];
    switch (sqlite3_value_type(argv[0])) {
    case SQLITE_NULL:
        return;
    case SQLITE_INTEGER:
        if (rel_name(c, sqlite3_value_int64(argv[0]), out, sizeof(out)))
            sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
        else
            sqlite3_result_value(ctx, argv[0]);
        return;
    default: {
        const char *name = (const char *)sqlite3_value_text(argv[0]);
        if (strncmp(name, "public.", 7) == 0)
            name += 7;
        if (lookup(c, "SELECT rowid FROM main.sqlite_schema WHERE name = ?", 0, name, out,
                   sizeof(out))) {
            sqlite3_result_int64(ctx, PGCAT_REL_OID(strtoll(out, NULL, 10)));
            return;
        }
        char msg[200];
        snprintf(msg, sizeof(msg), "42P01:relation \"%s\" does not exist", name);
        sqlite3_result_error(ctx, msg, -1);
    }
    }
}

static const struct {
    const char *name;
    int nargs;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
} functions[] = {
    {"format_type", 2, fn_format_type},
    {"pg_get_userbyid", 1, fn_userbyid},
    {"pg_table_is_visible", 1, fn_true},
    {"pg_type_is_visible", 1, fn_true},
    {"pg_function_is_visible", 1, fn_true},
    {"pg_collation_is_visible", 1, fn_true},
    {"has_database_privilege", -1, fn_true},
    {"has_table_privilege", -1, fn_true},
    {"has_schema_privilege", -1, fn_true},
    {"has_column_privilege", -1, fn_true},
    {"pg_has_role", -1, fn_true},
    {"pg_relation_is_publishable", 1, fn_false},
    {"pg_encoding_to_char", 1, fn_encoding},
    {"pg_get_expr", -1, fn_first_arg},
    {"pg_get_indexdef", -1, fn_def},
    {"pg_get_constraintdef", -1, fn_def},
    {"pg_get_viewdef", -1, fn_viewdef},
    {"pg_get_function_result", 1, fn_empty},
    {"pg_get_function_arguments", 1, fn_empty},
    {"pg_get_statisticsobjdef_columns", 1, fn_null},
    {"pg_size_pretty", 1, fn_size_pretty},
    {"pg_table_size", 1, fn_table_size},
    {"pg_relation_size", 1, fn_table_size},
    {"pg_relation_size", 2, fn_table_size},
    {"pg_indexes_size", 1, fn_indexes_size},
    {"pg_total_relation_size", 1, fn_total_size},
    {"pg_database_size", 1, fn_database_size},
    {"pg_regclass", 1, fn_regclass},
};

int pgcat_functions(struct dp_pgconn *c, sqlite3 *db)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]) && rc == SQLITE_OK; i++)
        rc = sqlite3_create_function_v2(db, functions[i].name, functions[i].nargs,
                                        SQLITE_UTF8 | SQLITE_INNOCUOUS, c, functions[i].fn, NULL,
                                        NULL, NULL);
    return rc;
}
