/* pgsql_errors.c: SQLite's errors as PostgreSQL's, with SQLSTATEs and PostgreSQL's wording.
 *
 * Clients branch on SQLSTATE (23505 for a duplicate key, 42P01 for a missing table...), and
 * people read the message, so both follow PostgreSQL: "UNIQUE constraint failed: t.a" becomes
 * 23505 'duplicate key value violates unique constraint "t_a_key"' with the detail
 * "Key (a) already exists."; "no such table: x" becomes 42P01 'relation "x" does not exist'.
 * Functions of the endpoint report their own SQLSTATE as "XXXXX:message". An I/O error of the
 * encrypting VFS (a page that does not authenticate, a key that is gone) becomes XX001/58030
 * with a message that says so, never wrong data.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "pgwire_int.h"

/* "prefix<rest>" -> rest in out (without a "main." qualifier); 1 if msg starts with prefix. */
static int after(const char *msg, const char *prefix, char *out, size_t n)
{
    size_t pl = strlen(prefix);
    if (strncmp(msg, prefix, pl) != 0)
        return 0;
    const char *rest = msg + pl;
    if (strncmp(rest, "main.", 5) == 0)
        rest += 5;
    snprintf(out, n, "%s", rest);
    return 1;
}

/* "t.a, t.b" -> table "t" and columns "a, b". */
static void split_cols(const char *list, char *table, size_t tn, char *cols, size_t cn)
{
    table[0] = cols[0] = 0;
    size_t co = 0;
    for (const char *p = list; *p;) {
        const char *dot = strchr(p, '.');
        const char *comma = strstr(p, ", ");
        if (dot == NULL || (comma && comma < dot))
            break;
        if (table[0] == 0)
            snprintf(table, tn, "%.*s", (int)(dot - p), p);
        const char *end = comma ? comma : p + strlen(p);
        int w =
            snprintf(cols + co, cn - co, "%s%.*s", co ? ", " : "", (int)(end - dot - 1), dot + 1);
        if (w > 0 && (size_t)w < cn - co)
            co += (size_t)w;
        p = comma ? comma + 2 : end;
    }
}

static void map_error(struct dp_pgconn *c, int rc, const char *msg, struct pg_error *e)
{
    char a[256], table[128], cols[200];
    int base = rc & 0xff;
    if (strlen(msg) > 6 && msg[5] == ':' && isalnum((unsigned char)msg[0]) &&
        isalnum((unsigned char)msg[4])) { /* our functions: "22P02:..." */
        pg_error_set(e, "XX000", "%s", msg + 6);
        memcpy(e->code, msg, 5);
        e->code[5] = 0;
        return;
    }
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        if (after(msg, "UNIQUE constraint failed: ", a, sizeof(a))) {
            split_cols(a, table, sizeof(table), cols, sizeof(cols));
            char first[64];
            snprintf(first, sizeof(first), "%.63s", cols);
            char *comma = strchr(first, ',');
            if (comma)
                *comma = 0;
            char cname[128];
            if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                snprintf(cname, sizeof(cname), "%.60s_pkey", table);
            else
                snprintf(cname, sizeof(cname), "%.50s_%.50s_key", table, first);
            pg_error_set(e, "23505", "duplicate key value violates unique constraint \"%s\"",
                         cname);
            snprintf(e->detail, sizeof(e->detail), "Key (%s) already exists.", cols);
            snprintf(e->table, sizeof(e->table), "%.63s", table);
            snprintf(e->constraint_name, sizeof(e->constraint_name), "%s", cname);
        } else {
            pg_error_set(e, "23505", "duplicate key value violates unique constraint");
        }
        return;
    case SQLITE_CONSTRAINT_NOTNULL:
        if (after(msg, "NOT NULL constraint failed: ", a, sizeof(a))) {
            split_cols(a, table, sizeof(table), cols, sizeof(cols));
            pg_error_set(e, "23502",
                         "null value in column \"%s\" of relation \"%s\" violates not-null "
                         "constraint",
                         cols, table);
            snprintf(e->table, sizeof(e->table), "%.63s", table);
            snprintf(e->column, sizeof(e->column), "%.63s", cols);
        } else {
            pg_error_set(e, "23502", "null value violates not-null constraint");
        }
        return;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        pg_error_set(e, "23503", "insert, update or delete violates a foreign key constraint");
        return;
    case SQLITE_CONSTRAINT_CHECK:
        if (after(msg, "CHECK constraint failed: ", a, sizeof(a)))
            pg_error_set(e, "23514", "new row violates check constraint \"%s\"", a);
        else
            pg_error_set(e, "23514", "new row violates a check constraint");
        return;
    case SQLITE_BUSY_SNAPSHOT:
        pg_error_set(e, "40001", "could not serialize access due to concurrent update");
        return;
    case SQLITE_IOERR_AUTH:
        pg_error_set(e, "58030",
                     "could not read the server's data: its encryption key is not "
                     "available");
        return;
    case SQLITE_IOERR_DATA:
        pg_error_set(e, "XX001", "invalid page in the server's data: it does not authenticate");
        snprintf(e->detail, sizeof(e->detail), "%s", msg);
        return;
    default:
        break;
    }
    switch (base) {
    case SQLITE_CONSTRAINT:
        pg_error_set(e, "23000", "%s", msg);
        return;
    case SQLITE_AUTH:
        pg_error_set(e, "42501", "permission denied: %s",
                     c->denied_what[0] ? c->denied_what : "not authorized");
        return;
    case SQLITE_READONLY:
        pg_error_set(e, "25006", "cannot execute this statement in a read-only transaction");
        return;
    case SQLITE_INTERRUPT:
        if (c->timed_out)
            pg_error_set(e, "57014", "canceling statement due to statement timeout");
        else
            pg_error_set(e, "57014", "canceling statement due to user request");
        return;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        pg_error_set(e, "55P03", "could not obtain lock: %s", msg);
        return;
    case SQLITE_FULL:
        pg_error_set(e, "53100", "could not extend the server's data: disk full");
        return;
    case SQLITE_NOMEM:
        pg_error_set(e, "53200", "out of memory");
        return;
    case SQLITE_TOOBIG:
        pg_error_set(e, "54000", "%s", msg);
        return;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        pg_error_set(e, "XX001", "the server's data is corrupt or unreadable: %s", msg);
        return;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        pg_error_set(e, "58030", "could not read or write the server's data: %s", msg);
        return;
    case SQLITE_MISMATCH:
        pg_error_set(e, "42804", "%s", msg);
        return;
    case SQLITE_RANGE:
        pg_error_set(e, "08P01", "bind message has the wrong number of parameters");
        return;
    default:
        break;
    }
    if (after(msg, "no such table: ", a, sizeof(a)) || after(msg, "no such view: ", a, sizeof(a)))
        pg_error_set(e, "42P01", "relation \"%s\" does not exist", a);
    else if (after(msg, "no such column: ", a, sizeof(a)))
        pg_error_set(e, "42703", "column \"%s\" does not exist", a);
    else if (after(msg, "no such function: ", a, sizeof(a))) {
        pg_error_set(e, "42883", "function %s does not exist", a);
        snprintf(e->hint, sizeof(e->hint),
                 "No function matches the given name and argument "
                 "types.");
    } else if (after(msg, "wrong number of arguments to function ", a, sizeof(a))) {
        char *paren = strchr(a, '(');
        if (paren)
            *paren = 0;
        pg_error_set(e, "42883", "function %s with these arguments does not exist", a);
    } else if (after(msg, "table ", a, sizeof(a)) && strstr(a, " already exists")) {
        *strstr(a, " already exists") = 0;
        pg_error_set(e, "42P07", "relation \"%s\" already exists", a);
    } else if (after(msg, "index ", a, sizeof(a)) && strstr(a, " already exists")) {
        *strstr(a, " already exists") = 0;
        pg_error_set(e, "42P07", "relation \"%s\" already exists", a);
    } else if (after(msg, "view ", a, sizeof(a)) && strstr(a, " already exists")) {
        *strstr(a, " already exists") = 0;
        pg_error_set(e, "42P07", "relation \"%s\" already exists", a);
    } else if (after(msg, "no such index: ", a, sizeof(a)))
        pg_error_set(e, "42704", "index \"%s\" does not exist", a);
    else if (after(msg, "duplicate column name: ", a, sizeof(a)))
        pg_error_set(e, "42701", "column \"%s\" specified more than once", a);
    else if (after(msg, "ambiguous column name: ", a, sizeof(a)))
        pg_error_set(e, "42702", "column reference \"%s\" is ambiguous", a);
    else if (after(msg, "near \"", a, sizeof(a)) && strstr(a, "\": syntax error")) {
        *strstr(a, "\": syntax error") = 0;
        pg_error_set(e, "42601", "syntax error at or near \"%s\"", a);
    } else if (strcmp(msg, "incomplete input") == 0)
        pg_error_set(e, "42601", "syntax error at end of input");
    else if (strstr(msg, "misuse of aggregate") || strstr(msg, "misuse of window"))
        pg_error_set(e, "42803", "%s", msg);
    else if (strstr(msg, "unsafe use of"))
        pg_error_set(e, "0A000", "%s (not allowed in a table definition)", msg);
    else if (strstr(msg, "syntax error"))
        pg_error_set(e, "42601", "%s", msg);
    else
        pg_error_set(e, "XX000", "%s", msg);
}

void pg_exec_sqlite_error(struct dp_pgconn *c, int rc, struct pg_error *e)
{
    const char *msg = c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    if (c->db && (rc & 0xff) == SQLITE_ERROR)
        rc = sqlite3_extended_errcode(c->db);
    map_error(c, rc, msg, e);
}
