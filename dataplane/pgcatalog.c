/* pgcatalog.c: pg_catalog and information_schema, built from SQLite's own schema.
 *
 * psql's meta-commands (\l, \dt, \d table, \du, \di, \dn) and ORMs query PostgreSQL's
 * catalogs. Each session gets them as TEMP tables (temp storage is in memory), created the
 * first time a statement mentions one and refreshed before such a statement whenever the
 * database's schema cookie or the server's roles/databases changed: pg_class, pg_attribute,
 * pg_index, pg_constraint from sqlite_schema and the table_info/index_list pragmas; pg_roles
 * and pg_database from pgglobal.c; pg_stat_activity from the endpoint's sessions. Column types
 * are declared with PostgreSQL's names (oid, name, bool, "char") so that psql gets the types
 * (and t/f booleans) it expects. OIDs: a relation's is 16384 + 2 x its sqlite_schema rowid
 * (+1 for the implicit primary-key index of a rowid table). Catalog functions (format_type,
 * pg_get_indexdef, pg_table_size, ...) are in pgcatalog_fn.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgcatalog_int.h"

static const char *const create_sql =
    "CREATE TEMP TABLE pg_namespace(oid oid, nspname name, nspowner oid, nspacl text);"
    "CREATE TEMP TABLE pg_class(oid oid, relname name, relnamespace oid, reltype oid,"
    " reloftype oid, relowner oid, relam oid, relfilenode oid, reltablespace oid,"
    " relpages int4, reltuples float4, relallvisible int4, reltoastrelid oid, relhasindex bool,"
    " relisshared bool, relpersistence \"char\", relkind \"char\", relnatts int2,"
    " relchecks int2, relhasrules bool, relhastriggers bool, relhassubclass bool,"
    " relrowsecurity bool, relforcerowsecurity bool, relispopulated bool,"
    " relreplident \"char\", relispartition bool, relrewrite oid, relacl text,"
    " reloptions text, relpartbound text);"
    "CREATE TEMP TABLE pg_attribute(attrelid oid, attname name, atttypid oid,"
    " attstattarget int4, attlen int2, attnum int2, attndims int4, atttypmod int4,"
    " attbyval bool, attalign \"char\", attstorage \"char\", attcompression \"char\","
    " attnotnull bool, atthasdef bool, atthasmissing bool, attidentity \"char\","
    " attgenerated \"char\", attisdropped bool, attislocal bool, attinhcount int4,"
    " attcollation oid, attacl text, attoptions text);"
    "CREATE TEMP TABLE pg_attrdef(oid oid, adrelid oid, adnum int2, adbin text);"
    "CREATE TEMP TABLE pg_index(indexrelid oid, indrelid oid, indnatts int2, indnkeyatts int2,"
    " indisunique bool, indisprimary bool, indisexclusion bool, indimmediate bool,"
    " indisclustered bool, indisvalid bool, indcheckxmin bool, indisready bool,"
    " indislive bool, indisreplident bool, indkey text, indexprs text, indpred text);"
    "CREATE TEMP TABLE pg_constraint(oid oid, conname name, connamespace oid, contype \"char\","
    " condeferrable bool, condeferred bool, convalidated bool, conrelid oid, contypid oid,"
    " conindid oid, confrelid oid, conkey text, confkey text, conbin text);"
    "CREATE TEMP TABLE pg_type(oid oid, typname name, typnamespace oid, typowner oid,"
    " typlen int2, typbyval bool, typtype \"char\", typcategory \"char\", typisdefined bool,"
    " typdelim \"char\", typrelid oid, typelem oid, typarray oid, typnotnull bool,"
    " typbasetype oid, typtypmod int4, typcollation oid);"
    "CREATE TEMP TABLE pg_am(oid oid, amname name, amhandler text, amtype \"char\");"
    "CREATE TEMP TABLE pg_database(oid oid, datname name, datdba oid, encoding int4,"
    " datlocprovider \"char\", datistemplate bool, datallowconn bool, datconnlimit int4,"
    " dattablespace oid, datcollate text, datctype text, daticulocale text,"
    " datcollversion text, datacl text);"
    "CREATE TEMP TABLE pg_roles(oid oid, rolname name, rolsuper bool, rolinherit bool,"
    " rolcreaterole bool, rolcreatedb bool, rolcanlogin bool, rolreplication bool,"
    " rolconnlimit int4, rolpassword text, rolvaliduntil timestamptz, rolbypassrls bool,"
    " rolconfig text);"
    "CREATE TEMP VIEW pg_user AS SELECT rolname AS usename, oid AS usesysid,"
    " rolcreatedb AS usecreatedb, rolsuper AS usesuper, rolreplication AS userepl,"
    " rolbypassrls AS usebypassrls, rolpassword AS passwd, rolvaliduntil AS valuntil,"
    " rolconfig AS useconfig FROM pg_roles WHERE rolcanlogin;"
    "CREATE TEMP TABLE pg_auth_members(oid oid, roleid oid, member oid, grantor oid,"
    " admin_option bool);"
    "CREATE TEMP TABLE pg_tablespace(oid oid, spcname name, spcowner oid, spcacl text,"
    " spcoptions text);"
    "CREATE TEMP TABLE pg_collation(oid oid, collname name, collnamespace oid);"
    "CREATE TEMP TABLE pg_proc(oid oid, proname name, pronamespace oid, prokind \"char\","
    " prorettype oid, proargtypes text);"
    "CREATE TEMP TABLE pg_inherits(inhrelid oid, inhparent oid, inhseqno int4,"
    " inhdetachpending bool);"
    "CREATE TEMP TABLE pg_description(objoid oid, classoid oid, objsubid int4,"
    " description text);"
    "CREATE TEMP TABLE pg_extension(oid oid, extname name, extowner oid, extnamespace oid,"
    " extversion text);"
    "CREATE TEMP TABLE pg_trigger(oid oid, tgrelid oid, tgname name, tgisinternal bool,"
    " tgenabled \"char\");"
    "CREATE TEMP TABLE pg_rewrite(oid oid, rulename name, ev_class oid);"
    "CREATE TEMP TABLE pg_sequence(seqrelid oid);"
    "CREATE TEMP TABLE pg_settings(name text, setting text, unit text, category text,"
    " short_desc text, context text, vartype text, source text);"
    "CREATE TEMP TABLE pg_stat_activity(datid oid, datname name, pid int4, usesysid oid,"
    " usename name, application_name text, client_addr text, client_port int4,"
    " backend_start timestamptz, state text, query text, backend_type text);"
    "CREATE TEMP TABLE _cmk_defs(oid INTEGER PRIMARY KEY, def text);"
    "CREATE TEMP VIEW pg_tables AS SELECT 'public' AS schemaname, c.relname AS tablename,"
    " pg_get_userbyid(c.relowner) AS tableowner, NULL AS tablespace,"
    " c.relhasindex AS hasindexes, c.relhasrules AS hasrules,"
    " c.relhastriggers AS hastriggers, c.relrowsecurity AS rowsecurity"
    " FROM pg_class c WHERE c.relkind = 'r';"
    "CREATE TEMP VIEW pg_views AS SELECT 'public' AS schemaname, c.relname AS viewname,"
    " pg_get_userbyid(c.relowner) AS viewowner, pg_get_viewdef(c.oid) AS definition"
    " FROM pg_class c WHERE c.relkind = 'v';"
    "CREATE TEMP VIEW pg_indexes AS SELECT 'public' AS schemaname, t.relname AS tablename,"
    " i.relname AS indexname, NULL AS tablespace, pg_get_indexdef(i.oid) AS indexdef"
    " FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid"
    " JOIN pg_class i ON i.oid = x.indexrelid;"
    "CREATE TEMP VIEW information_schema_tables AS SELECT current_database() AS table_catalog,"
    " 'public' AS table_schema, relname AS table_name,"
    " CASE relkind WHEN 'v' THEN 'VIEW' ELSE 'BASE TABLE' END AS table_type"
    " FROM pg_class WHERE relkind IN ('r', 'v');"
    "CREATE TEMP VIEW information_schema_columns AS SELECT current_database() AS"
    " table_catalog, 'public' AS table_schema, c.relname AS table_name,"
    " a.attname AS column_name, a.attnum AS ordinal_position, d.adbin AS column_default,"
    " CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END AS is_nullable,"
    " format_type(a.atttypid, -1) AS data_type,"
    " CASE WHEN a.atttypmod > 4 AND a.atttypid IN (1042, 1043) THEN a.atttypmod - 4 END"
    " AS character_maximum_length, t.typname AS udt_name"
    " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
    " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
    " LEFT JOIN pg_type t ON t.oid = a.atttypid WHERE c.relkind IN ('r', 'v');"
    "CREATE TEMP VIEW information_schema_schemata AS SELECT current_database() AS"
    " catalog_name, nspname AS schema_name, pg_get_userbyid(nspowner) AS schema_owner"
    " FROM pg_namespace;"
    "INSERT INTO pg_namespace VALUES (11, 'pg_catalog', 10, NULL),"
    " (2200, 'public', 6171, NULL), (13000, 'information_schema', 10, NULL);"
    "INSERT INTO pg_am VALUES (2, 'heap', 'heap_tableam_handler', 't'),"
    " (403, 'btree', 'bthandler', 'i');"
    "INSERT INTO pg_tablespace VALUES (1663, 'pg_default', 10, NULL, NULL),"
    " (1664, 'pg_global', 10, NULL, NULL);";

/* Relations the endpoint provides, and those psql asks about that it answers empty. */
static const char *const provided[] = {"pg_namespace",
                                       "pg_class",
                                       "pg_attribute",
                                       "pg_attrdef",
                                       "pg_index",
                                       "pg_constraint",
                                       "pg_type",
                                       "pg_am",
                                       "pg_database",
                                       "pg_roles",
                                       "pg_user",
                                       "pg_auth_members",
                                       "pg_tablespace",
                                       "pg_collation",
                                       "pg_proc",
                                       "pg_inherits",
                                       "pg_description",
                                       "pg_extension",
                                       "pg_trigger",
                                       "pg_rewrite",
                                       "pg_sequence",
                                       "pg_settings",
                                       "pg_stat_activity",
                                       "pg_tables",
                                       "pg_views",
                                       "pg_indexes",
                                       NULL};
static const char *const answered_empty[] = {"pg_policy",
                                             "pg_statistic_ext",
                                             "pg_publication",
                                             "pg_publication_rel",
                                             "pg_publication_namespace",
                                             "pg_foreign_table",
                                             "pg_partitioned_table",
                                             "pg_event_trigger",
                                             "pg_opclass",
                                             "pg_operator",
                                             "pg_aggregate",
                                             "pg_language",
                                             "pg_cast",
                                             "pg_conversion",
                                             "pg_default_acl",
                                             "pg_init_privs",
                                             "pg_subscription",
                                             "pg_ts_config",
                                             "pg_ts_dict",
                                             "pg_ts_parser",
                                             "pg_ts_template",
                                             "pg_foreign_data_wrapper",
                                             "pg_foreign_server",
                                             "pg_user_mapping",
                                             "pg_enum",
                                             "pg_range",
                                             "pg_transform",
                                             "pg_statistic",
                                             "pg_db_role_setting",
                                             "pg_shdescription",
                                             "pg_depend",
                                             "pg_shdepend",
                                             "pg_seclabel",
                                             "pg_largeobject_metadata",
                                             "pg_matviews",
                                             "pg_authid",
                                             NULL};

int pg_catalog_relation(const char *name)
{
    if (strncmp(name, "pg_", 3) != 0 && strcmp(name, "format_type") != 0)
        return 0;
    for (int i = 0; provided[i]; i++)
        if (strcmp(name, provided[i]) == 0)
            return 1;
    for (int i = 0; answered_empty[i]; i++)
        if (strcmp(name, answered_empty[i]) == 0)
            return 2;
    return strncmp(name, "pg_get_", 7) == 0 || strcmp(name, "format_type") == 0 ? 1 : 0;
}

/* Run sql with up to 8 bound values described by fmt ('i' int64, 't' text, 'n' null). */
int pgcat_exec(struct dp_pgconn *c, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt && fmt[i]; i++) {
        if (fmt[i] == 'i')
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        else if (fmt[i] == 't')
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else
            (void)va_arg(ap, void *);
    }
    va_end(ap);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void static_types(struct dp_pgconn *c)
{
    static const uint32_t oids[] = {
        PG_OID_BOOL,   PG_OID_BYTEA,     PG_OID_CHAR,        PG_OID_NAME,     PG_OID_INT8,
        PG_OID_INT2,   PG_OID_INT4,      PG_OID_TEXT,        PG_OID_OID,      PG_OID_JSON,
        PG_OID_FLOAT4, PG_OID_FLOAT8,    PG_OID_BPCHAR,      PG_OID_VARCHAR,  PG_OID_DATE,
        PG_OID_TIME,   PG_OID_TIMESTAMP, PG_OID_TIMESTAMPTZ, PG_OID_INTERVAL, PG_OID_NUMERIC,
        PG_OID_UUID,   PG_OID_JSONB,     PG_OID_REGCLASS};
    for (size_t i = 0; i < sizeof(oids) / sizeof(oids[0]); i++) {
        const struct pg_type *t = pg_type_by_oid(oids[i]);
        char cat[2] = {t->category, 0};
        pgcat_exec(c,
                   "INSERT INTO pg_type(oid, typname, typnamespace, typowner, typlen, typbyval,"
                   " typtype, typcategory, typisdefined, typdelim, typrelid, typelem, typarray,"
                   " typnotnull, typbasetype, typtypmod, typcollation)"
                   " VALUES (?, ?, 11, 10, ?, ?, 'b', ?, 1, ',', 0, 0, 0, 0, 0, -1, ?)",
                   "itiiti", (int64_t)t->oid, t->name, (int64_t)t->len,
                   (int64_t)(t->len > 0 && t->len <= 8), cat,
                   (int64_t)(t->category == 'S' ? 100 : 0));
    }
}

static void role_row(void *arg, int64_t oid, const char *name, int flags)
{
    struct dp_pgconn *c = arg;
    pgcat_exec(c,
               "INSERT INTO pg_roles VALUES (?, ?, ?, 1, ?, ?, ?, 0, -1, '********', NULL, 0,"
               " NULL)",
               "itiiii", oid, name, (int64_t)((flags & PG_ROLE_SUPERUSER) != 0),
               (int64_t)((flags & PG_ROLE_CREATEROLE) != 0),
               (int64_t)((flags & PG_ROLE_CREATEDB) != 0), (int64_t)((flags & PG_ROLE_LOGIN) != 0));
}

static void db_row(void *arg, int64_t oid, const char *name, const char *owner)
{
    struct dp_pgconn *c = arg;
    pgcat_exec(c,
               "INSERT INTO pg_database VALUES (?, ?, coalesce((SELECT oid FROM pg_roles WHERE"
               " rolname = ?), 10), 6, 'c', 0, 1, -1, 1663, 'en_US.utf8', 'en_US.utf8', NULL,"
               " NULL, NULL)",
               "itt", oid, name, owner);
}

static void activity(struct dp_pgconn *c)
{
    pgcat_exec(c, "DELETE FROM pg_stat_activity", NULL);
    for (struct dp_pgconn *s = pg_ep_sessions(c); s; s = s->srv_next) {
        if (s->state != CS_READY)
            continue;
        const char *state = s == c || s->job != JOB_NONE ? "active"
                            : s->txn == TXN_BLOCK        ? "idle in transaction"
                            : s->txn == TXN_FAILED       ? "idle in transaction (aborted)"
                                                         : "idle";
        const char *app = pg_conn_setting(s, "application_name");
        pgcat_exec(c,
                   "INSERT INTO pg_stat_activity VALUES ((SELECT oid FROM pg_database WHERE"
                   " datname = ?), ?, ?, (SELECT oid FROM pg_roles WHERE rolname = ?), ?, ?, ?,"
                   " NULL, NULL, ?, ?, 'client backend')",
                   "ttitttttt", s->database, s->database, (int64_t)s->pid, s->user, s->user,
                   app ? app : "", s->peer[0] ? s->peer : NULL, state, s->last_query);
    }
    pgcat_exec(c, "DELETE FROM pg_settings", NULL);
    for (size_t i = 0; i < c->nsettings; i++)
        pgcat_exec(c,
                   "INSERT INTO pg_settings VALUES (?, ?, NULL, NULL, NULL, 'user', 'string',"
                   " 'session')",
                   "tt", c->settings[i].name, c->settings[i].value);
}

int pg_catalog_refresh(struct dp_pgconn *c, struct pg_error *e)
{
    int saved = c->internal;
    c->internal = 1;
    int rc = SQLITE_OK;
    if (!c->catalog_ready) {
        rc = sqlite3_exec(c->db, create_sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK) {
            static_types(c);
            c->catalog_ready = 1;
            c->catalog_cookie = 0;
        }
    }
    uint64_t cookie = 0;
    if (rc == SQLITE_OK) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(c->db, "PRAGMA main.schema_version", -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW)
                cookie = (uint64_t)sqlite3_column_int64(st, 0) * 1000003u + 1;
            sqlite3_finalize(st);
        }
        cookie += pg_global_version(c) * 7919u;
    }
    if (rc == SQLITE_OK && (cookie != c->catalog_cookie || c->txn != TXN_IDLE)) {
        static const char *const clear =
            "DELETE FROM pg_class; DELETE FROM pg_attribute; DELETE FROM pg_attrdef;"
            "DELETE FROM pg_index; DELETE FROM pg_constraint; DELETE FROM _cmk_defs;"
            "DELETE FROM pg_roles; DELETE FROM pg_database;";
        rc = sqlite3_exec(c->db, clear, NULL, NULL, NULL);
        if (rc == SQLITE_OK) {
            if (pg_global_list(c, role_row, db_row, c) != 0) {
                role_row(c, 10, c->info.admin_user,
                         PG_ROLE_LOGIN | PG_ROLE_CREATEDB | PG_ROLE_CREATEROLE);
                db_row(c, 5, "postgres", c->info.admin_user);
            }
            rc = pgcat_relations(c);
        }
        if (rc == SQLITE_OK)
            c->catalog_cookie = cookie;
    }
    if (rc == SQLITE_OK)
        activity(c);
    c->internal = saved;
    if (rc != SQLITE_OK) {
        if (rc == SQLITE_BUSY)
            return SQLITE_BUSY;
        pg_error_set(e, "XX000", "could not build the catalog: %s", sqlite3_errmsg(c->db));
        return -1;
    }
    return 0;
}
