/* pgglobal.c: a server's roles and database list.
 *
 * PostgreSQL keeps these cluster-wide; here they live in two tables of the server's "postgres"
 * database (_cmk_roles: name, SCRAM verifier, attributes; _cmk_databases: name, owner), so they
 * are encrypted like any other data and copied by backups and replicas. Sessions never see
 * those tables (the authorizer hides _cmk_*). The administrator login is not stored: it comes
 * from the resolver (the control plane owns its password). Reads use the server's shared
 * handle on "postgres"; a session connected to "postgres" writes through its own connection,
 * so role changes follow its transaction.
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire_int.h"

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS _cmk_roles(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " verifier TEXT, flags INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS _cmk_databases(id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE, owner TEXT NOT NULL);";

int pg_global_open(struct dp_pgconn *c, struct pg_error *e)
{
    sqlite3 **g = pg_ep_global_db(c);
    if (*g)
        return 0;
    const struct dp_pg_backend *be = pg_ep_backend(c->ep);
    struct cmk_err err;
    cmk_err_clear(&err);
    sqlite3 *db = NULL;
    int rc = be->open_db(be->data, c->info.handle, c->info.dir, "postgres", 1, c->info.read_only,
                         &db, &err);
    if (rc != 0 || db == NULL) {
        pg_error_set(e, "57P03", "the server's data cannot be opened: %s",
                     err.message[0] ? err.message : cmk_strerror(rc));
        if (db)
            sqlite3_close_v2(db);
        return -1;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 0);
    if (!c->info.read_only)
        sqlite3_exec(db, schema_sql, NULL, NULL, NULL);
    *g = db;
    return 0;
}

/* The connection role/database changes go through. */
static sqlite3 *writer(struct dp_pgconn *c)
{
    if (c->db && strcmp(c->database, "postgres") == 0)
        return c->db;
    return *pg_ep_global_db(c);
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (db == NULL || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

int pg_global_role(struct dp_pgconn *c, const char *user, char *verifier, size_t vn, int *flags)
{
    struct pg_error e;
    if (pg_global_open(c, &e) != 0)
        return -1;
    sqlite3_stmt *st =
        prep(*pg_ep_global_db(c), "SELECT verifier, flags FROM _cmk_roles WHERE name = ?");
    if (st == NULL)
        return 0; /* no table yet (a replica of a server that never had a session): no roles */
    sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
    int found = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        snprintf(verifier, vn, "%s", v ? v : "");
        *flags = sqlite3_column_int(st, 1);
        found = 1;
    }
    sqlite3_finalize(st);
    return found;
}

int pg_global_database_exists(struct dp_pgconn *c, const char *name)
{
    if (strcmp(name, "postgres") == 0)
        return 1;
    struct pg_error e;
    if (pg_global_open(c, &e) != 0)
        return -1;
    sqlite3_stmt *st = prep(*pg_ep_global_db(c), "SELECT 1 FROM _cmk_databases WHERE name = ?");
    if (st == NULL)
        return 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

uint64_t pg_global_version(const struct dp_pgconn *c)
{
    return *pg_ep_global_version((struct dp_pgconn *)c);
}

static int reserved_role(const char *name)
{
    return strncmp(name, "pg_", 3) == 0 || strcmp(name, "public") == 0 ||
           strcmp(name, "azure_pg_admin") == 0 || strcmp(name, "azuresu") == 0 ||
           strcmp(name, "none") == 0;
}

static int sql_fail(struct pg_error *e, sqlite3 *db, const char *what)
{
    int busy = db && (sqlite3_errcode(db) & 0xff) == SQLITE_BUSY;
    pg_error_set(e, busy ? "55P03" : "XX000", "could not %s: %s", what,
                 db ? sqlite3_errmsg(db) : "no database");
    return -1;
}

static int role_write(struct dp_pgconn *c, const struct pg_plan *p, struct pg_error *e)
{
    if (pg_global_open(c, e) != 0)
        return -1;
    sqlite3 *db = writer(c);
    const char *verb = p->cmd == CMD_CREATE_ROLE ? "create"
                       : p->cmd == CMD_DROP_ROLE ? "drop"
                                                 : "alter";
    int self_password = p->cmd == CMD_ALTER_ROLE && strcmp(p->name, c->user) == 0 &&
                        p->flags_set == PG_ROLE_PASSWORD;
    if (!c->is_admin && !(c->role_flags & PG_ROLE_CREATEROLE) && !self_password) {
        pg_error_set(e, "42501", "permission denied to %s role", verb);
        return -1;
    }
    if (strcmp(p->name, c->info.admin_user) == 0) {
        if (p->cmd == CMD_CREATE_ROLE)
            pg_error_set(e, "42710", "role \"%s\" already exists", p->name);
        else
            pg_error_set(e, "42501",
                         "the administrator login \"%s\" is managed by the server resource "
                         "(reset its password with the control plane)",
                         p->name);
        return -1;
    }
    if (reserved_role(p->name)) {
        if (p->cmd == CMD_DROP_ROLE && p->if_exists) {
            pg_send_notice(&c->out, "NOTICE", "00000", "role \"%s\" does not exist, skipping",
                           p->name);
            return 0;
        }
        pg_error_set(e, "42939", "role name \"%s\" is reserved", p->name);
        return -1;
    }
    if (p->value && strncmp(p->value, "md5", 3) == 0 && strlen(p->value) == 35) {
        pg_error_set(e, "0A000", "MD5 password hashes are not supported: give the password");
        return -1;
    }
    char verifier[DP_PG_VERIFIER_MAX] = "";
    if (p->value && strncmp(p->value, "SCRAM-SHA-256$", 14) == 0)
        snprintf(verifier, sizeof(verifier), "%s", p->value);
    else if (p->value && dp_pg_scram_verifier(p->value, 0, verifier, sizeof(verifier)) != 0) {
        pg_error_set(e, "XX000", "could not compute the password verifier");
        return -1;
    }
    sqlite3_stmt *st = NULL;
    int rc;
    if (p->cmd == CMD_CREATE_ROLE) {
        st = prep(db, "INSERT INTO _cmk_roles(name, verifier, flags) VALUES (?, ?, ?)");
        if (st == NULL)
            return sql_fail(e, db, "create the role");
        sqlite3_bind_text(st, 1, p->name, -1, SQLITE_TRANSIENT);
        if (verifier[0])
            sqlite3_bind_text(st, 2, verifier, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 3, p->flags & ~PG_ROLE_PASSWORD);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if ((rc & 0xff) == SQLITE_CONSTRAINT) {
            pg_error_set(e, "42710", "role \"%s\" already exists", p->name);
            return -1;
        }
    } else if (p->cmd == CMD_ALTER_ROLE) {
        int keep = ~p->flags_set & ~PG_ROLE_PASSWORD;
        st = prep(db, "UPDATE _cmk_roles SET flags = (flags & ?1) | ?2,"
                      " verifier = CASE WHEN ?3 THEN ?4 ELSE verifier END WHERE name = ?5");
        if (st == NULL)
            return sql_fail(e, db, "alter the role");
        sqlite3_bind_int(st, 1, keep);
        sqlite3_bind_int(st, 2, p->flags & p->flags_set & ~PG_ROLE_PASSWORD);
        sqlite3_bind_int(st, 3, (p->flags_set & PG_ROLE_PASSWORD) != 0);
        if (verifier[0])
            sqlite3_bind_text(st, 4, verifier, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, p->name, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE && sqlite3_changes(db) == 0) {
            pg_error_set(e, "42704", "role \"%s\" does not exist", p->name);
            return -1;
        }
    } else {
        if (strcmp(p->name, c->user) == 0) {
            pg_error_set(e, "55006", "current user cannot be dropped");
            return -1;
        }
        st = prep(db, "DELETE FROM _cmk_roles WHERE name = ?");
        if (st == NULL)
            return sql_fail(e, db, "drop the role");
        sqlite3_bind_text(st, 1, p->name, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE && sqlite3_changes(db) == 0) {
            if (!p->if_exists) {
                pg_error_set(e, "42704", "role \"%s\" does not exist", p->name);
                return -1;
            }
            pg_send_notice(&c->out, "NOTICE", "00000", "role \"%s\" does not exist, skipping",
                           p->name);
        }
    }
    OPENSSL_cleanse(verifier, sizeof(verifier));
    if (rc != SQLITE_DONE)
        return sql_fail(e, db, "change the role");
    (*pg_ep_global_version(c))++;
    return 0;
}

static int valid_db_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= DP_PG_NAME_MAX || strncmp(s, "_cmk", 4) == 0 ||
        strcmp(s, "template0") == 0 || strcmp(s, "template1") == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

static int create_database(struct dp_pgconn *c, const struct pg_plan *p, struct pg_error *e)
{
    sqlite3 *db = writer(c);
    if (!valid_db_name(p->name)) {
        pg_error_set(e, "42602", "database name \"%s\" is not supported by this server", p->name);
        snprintf(e->hint, sizeof(e->hint), "Use letters, digits, _ and - (at most 63).");
        return -1;
    }
    if (pg_global_database_exists(c, p->name) > 0) {
        pg_error_set(e, "42P04", "database \"%s\" already exists", p->name);
        return -1;
    }
    const struct dp_pg_backend *be = pg_ep_backend(c->ep);
    struct cmk_err err;
    cmk_err_clear(&err);
    sqlite3 *ndb = NULL;
    if (be->open_db(be->data, c->info.handle, c->info.dir, p->name, 1, 0, &ndb, &err) != 0 ||
        ndb == NULL) {
        pg_error_set(e, "58030", "could not create database \"%s\": %s", p->name,
                     err.message[0] ? err.message : "the backend refused");
        return -1;
    }
    if (be->close_db)
        be->close_db(be->data, c->info.handle, ndb);
    else
        sqlite3_close_v2(ndb);
    sqlite3_stmt *st = prep(db, "INSERT INTO _cmk_databases(name, owner) VALUES (?, ?)");
    int rc = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_text(st, 1, p->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, c->user, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_DONE) {
        sql_fail(e, db, "record the database");
        be->drop_db(be->data, c->info.handle, c->info.dir, p->name, NULL);
        return -1;
    }
    return 0;
}

static int drop_database(struct dp_pgconn *c, const struct pg_plan *p, struct pg_error *e)
{
    sqlite3 *db = writer(c);
    if (strcmp(p->name, c->database) == 0) {
        pg_error_set(e, "55006", "cannot drop the currently open database");
        return -1;
    }
    if (strcmp(p->name, "postgres") == 0) {
        pg_error_set(e, "42501",
                     "database \"postgres\" is the server's maintenance database "
                     "and cannot be dropped");
        return -1;
    }
    if (pg_global_database_exists(c, p->name) <= 0) {
        if (!p->if_exists) {
            pg_error_set(e, "3D000", "database \"%s\" does not exist", p->name);
            return -1;
        }
        pg_send_notice(&c->out, "NOTICE", "00000", "database \"%s\" does not exist, skipping",
                       p->name);
        return 0;
    }
    if (!c->is_admin) {
        char owner[DP_PG_NAME_MAX] = "";
        sqlite3_stmt *st = prep(db, "SELECT owner FROM _cmk_databases WHERE name = ?");
        if (st) {
            sqlite3_bind_text(st, 1, p->name, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) == SQLITE_ROW)
                snprintf(owner, sizeof(owner), "%s", (const char *)sqlite3_column_text(st, 0));
            sqlite3_finalize(st);
        }
        if (strcmp(owner, c->user) != 0) {
            pg_error_set(e, "42501", "must be owner of database %s", p->name);
            return -1;
        }
    }
    int users = pg_ep_db_users(c, p->name);
    if (users > 0 && !(p->flags & 1)) {
        pg_error_set(e, "55006", "database \"%s\" is being accessed by other users", p->name);
        snprintf(e->detail, sizeof(e->detail), "There %s %d other session%s using the database.",
                 users == 1 ? "is" : "are", users, users == 1 ? "" : "s");
        return -1;
    }
    if (users > 0) { /* WITH (FORCE) */
        struct pg_error kill;
        pg_error_set(&kill, "57P01", "terminating connection due to administrator command");
        kill.severity = "FATAL";
        for (struct dp_pgconn *s = pg_ep_sessions(c), *next; s; s = next) {
            next = s->srv_next;
            if (s != c && strcmp(s->database, p->name) == 0 && s->state == CS_READY)
                pg_conn_fatal(s, &kill);
        }
    }
    const struct dp_pg_backend *be = pg_ep_backend(c->ep);
    struct cmk_err err;
    cmk_err_clear(&err);
    if (be->drop_db(be->data, c->info.handle, c->info.dir, p->name, &err) != 0) {
        pg_error_set(e, "58030", "could not remove database \"%s\": %s", p->name,
                     err.message[0] ? err.message : "the backend refused");
        return -1;
    }
    sqlite3_stmt *st = prep(db, "DELETE FROM _cmk_databases WHERE name = ?");
    int rc = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_text(st, 1, p->name, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    return rc == SQLITE_DONE ? 0 : sql_fail(e, db, "forget the database");
}

/* The session's own connection may carry the writes: lift its authorizer meanwhile. */
int pg_global_role_write(struct dp_pgconn *c, const struct pg_plan *p, struct pg_error *e)
{
    int saved = c->internal;
    c->internal = 1;
    int rc = role_write(c, p, e);
    c->internal = saved;
    return rc;
}

int pg_global_database_write(struct dp_pgconn *c, const struct pg_plan *p, struct pg_error *e)
{
    if (pg_global_open(c, e) != 0)
        return -1;
    if (p->cmd == CMD_CREATE_DATABASE && !c->is_admin && !(c->role_flags & PG_ROLE_CREATEDB)) {
        pg_error_set(e, "42501", "permission denied to create database");
        return -1;
    }
    int saved = c->internal;
    c->internal = 1;
    int rc = p->cmd == CMD_CREATE_DATABASE ? create_database(c, p, e) : drop_database(c, p, e);
    c->internal = saved;
    if (rc == 0)
        (*pg_ep_global_version(c))++;
    return rc;
}

int pg_global_list(struct dp_pgconn *c, pg_global_role_fn rf, pg_global_db_fn df, void *arg)
{
    struct pg_error e;
    if (pg_global_open(c, &e) != 0)
        return -1;
    sqlite3 *db = *pg_ep_global_db(c);
    rf(arg, 10, c->info.admin_user, PG_ROLE_LOGIN | PG_ROLE_CREATEDB | PG_ROLE_CREATEROLE);
    rf(arg, 16384, "azure_pg_admin", 0);
    sqlite3_stmt *st = prep(db, "SELECT id, name, flags FROM _cmk_roles ORDER BY id");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        rf(arg, 20000 + sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
           sqlite3_column_int(st, 2));
    sqlite3_finalize(st);
    df(arg, 5, "postgres", c->info.admin_user);
    st = prep(db, "SELECT id, name, owner FROM _cmk_databases ORDER BY id");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        df(arg, 16384 + sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
           (const char *)sqlite3_column_text(st, 2));
    sqlite3_finalize(st);
    return 0;
}
