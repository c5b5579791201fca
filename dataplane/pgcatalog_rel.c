/* pgcatalog_rel.c: pg_class, pg_attribute, pg_index and pg_constraint from SQLite's schema.
 *
 * Tables and views come from sqlite_schema, their columns from pragma_table_info (declared
 * types are PostgreSQL type names, kept by the DDL translator), their indexes from
 * pragma_index_list/index_info. SQLite's automatic indexes get PostgreSQL's names
 * (accounts_pkey, accounts_email_key) and a rowid table's INTEGER PRIMARY KEY, which has no
 * index of its own, gets an implicit "_pkey" index, so \d shows what PostgreSQL would.
 * pg_get_indexdef/pg_get_constraintdef texts are kept in the temp table _cmk_defs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgcatalog_int.h"

struct rel {
    int64_t rowid;
    int view;
    char name[DP_PG_NAME_MAX * 2];
};

struct col {
    char name[DP_PG_NAME_MAX * 2];
};

static void join_cols(struct cmk_buf *b, char cols[][DP_PG_NAME_MAX * 2], int n)
{
    for (int i = 0; i < n; i++) {
        if (i)
            cmk_buf_puts(b, ", ");
        cmk_buf_puts(b, cols[i]);
    }
}

/* One index of table t (oid toid). */
static int index_rows(struct dp_pgconn *c, const struct rel *t, int64_t toid, const char *iname,
                      int unique, const char *origin, int *has_pk)
{
    int64_t irow = -1;
    const char *where = NULL;
    char *sqltext = NULL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "SELECT rowid, sql FROM main.sqlite_schema WHERE name = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    sqlite3_bind_text(st, 1, iname, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        irow = sqlite3_column_int64(st, 0);
        if (sqlite3_column_text(st, 1))
            sqltext = cmk_xstrdup((const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    if (irow < 0) {
        free(sqltext);
        return SQLITE_OK;
    }
    if (sqltext) {
        for (char *p = sqltext; *p; p++)
            if (strncasecmp(p, " where ", 7) == 0)
                where = p;
    }
    char cols[32][DP_PG_NAME_MAX * 2];
    char keys[160] = "";
    int ncols = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT cid, name FROM pragma_index_info(?) ORDER BY seqno", -1,
                           &st, NULL) != SQLITE_OK) {
        free(sqltext);
        return SQLITE_ERROR;
    }
    sqlite3_bind_text(st, 1, iname, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW && ncols < 32) {
        const char *n = (const char *)sqlite3_column_text(st, 1);
        snprintf(cols[ncols], sizeof(cols[ncols]), "%s", n ? n : "expression");
        size_t kl = strlen(keys);
        snprintf(keys + kl, sizeof(keys) - kl, "%s%d", kl ? " " : "",
                 sqlite3_column_int(st, 0) + 1);
        ncols++;
    }
    sqlite3_finalize(st);
    char pgname[DP_PG_NAME_MAX * 2];
    int pk = strcmp(origin, "pk") == 0, ucon = strcmp(origin, "u") == 0;
    if (pk)
        snprintf(pgname, sizeof(pgname), "%.60s_pkey", t->name);
    else if (ucon)
        snprintf(pgname, sizeof(pgname), "%.50s_%.40s_key", t->name, ncols ? cols[0] : "");
    else
        snprintf(pgname, sizeof(pgname), "%.127s", iname);
    if (pk)
        *has_pk = 1;
    int64_t ioid = PGCAT_REL_OID(irow);
    struct cmk_buf def;
    cmk_buf_init(&def);
    cmk_buf_printf(&def, "CREATE %sINDEX %s ON public.%s USING btree (", unique ? "UNIQUE " : "",
                   pgname, t->name);
    join_cols(&def, cols, ncols);
    cmk_buf_puts(&def, ")");
    if (where)
        cmk_buf_puts(&def, where);
    int rc = pgcat_exec(c,
                        "INSERT INTO pg_class(oid, relname, relnamespace, relowner, relam,"
                        " reltablespace, relkind, relnatts, relpersistence, relhasindex,"
                        " relchecks, relhasrules, relhastriggers, relrowsecurity,"
                        " relforcerowsecurity, relispartition, relreplident, reloftype,"
                        " reltoastrelid, relpages, reltuples)"
                        " VALUES (?, ?, 2200, 10, 403, 0, 'i', ?, 'p', 0, 0, 0, 0, 0, 0, 0, 'n',"
                        " 0, 0, 1, 0)",
                        "iti", ioid, pgname, (int64_t)ncols);
    if (rc == SQLITE_OK)
        rc = pgcat_exec(c,
                        "INSERT INTO pg_index VALUES (?, ?, ?, ?, ?, ?, 0, 1, 0, 1, 0, 1, 1, 0, ?,"
                        " NULL, ?)",
                        "iiiiiitt", ioid, toid, (int64_t)ncols, (int64_t)ncols, (int64_t)unique,
                        (int64_t)pk, keys, where ? where + 7 : NULL);
    if (rc == SQLITE_OK)
        rc = pgcat_exec(c, "INSERT INTO _cmk_defs VALUES (?, ?)", "it", ioid, def.data);
    if (rc == SQLITE_OK && (pk || ucon)) {
        cmk_buf_reset(&def);
        cmk_buf_puts(&def, pk ? "PRIMARY KEY (" : "UNIQUE (");
        join_cols(&def, cols, ncols);
        cmk_buf_puts(&def, ")");
        rc = pgcat_exec(c,
                        "INSERT INTO pg_constraint VALUES (?, ?, 2200, ?, 0, 0, 1, ?, 0, ?, 0, ?,"
                        " NULL, NULL)",
                        "ittiit", ioid + 1, pgname, pk ? "p" : "u", toid, ioid, keys);
        if (rc == SQLITE_OK)
            rc = pgcat_exec(c, "INSERT INTO _cmk_defs VALUES (?, ?)", "it", ioid + 1, def.data);
    }
    cmk_buf_close(&def);
    free(sqltext);
    return rc;
}

/* A rowid table's INTEGER PRIMARY KEY: PostgreSQL would show its "_pkey" index. */
static int implicit_pk(struct dp_pgconn *c, const struct rel *t, int64_t toid, const char *col,
                       int attnum)
{
    char pgname[DP_PG_NAME_MAX * 2], keys[16];
    snprintf(pgname, sizeof(pgname), "%.60s_pkey", t->name);
    snprintf(keys, sizeof(keys), "%d", attnum);
    int64_t ioid = toid + 1, coid = PGCAT_IMPLICIT_CON + toid;
    struct cmk_buf def;
    cmk_buf_init(&def);
    cmk_buf_printf(&def, "CREATE UNIQUE INDEX %s ON public.%s USING btree (%s)", pgname, t->name,
                   col);
    int rc = pgcat_exec(c,
                        "INSERT INTO pg_class(oid, relname, relnamespace, relowner, relam,"
                        " reltablespace, relkind, relnatts, relpersistence, relhasindex,"
                        " relchecks, relhasrules, relhastriggers, relrowsecurity,"
                        " relforcerowsecurity, relispartition, relreplident, reloftype,"
                        " reltoastrelid, relpages, reltuples)"
                        " VALUES (?, ?, 2200, 10, 403, 0, 'i', 1, 'p', 0, 0, 0, 0, 0, 0, 0, 'n',"
                        " 0, 0, 1, 0)",
                        "it", ioid, pgname);
    if (rc == SQLITE_OK)
        rc = pgcat_exec(c,
                        "INSERT INTO pg_index VALUES (?, ?, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0, ?,"
                        " NULL, NULL)",
                        "iit", ioid, toid, keys);
    if (rc == SQLITE_OK)
        rc = pgcat_exec(c, "INSERT INTO _cmk_defs VALUES (?, ?)", "it", ioid, def.data);
    if (rc == SQLITE_OK)
        rc = pgcat_exec(c,
                        "INSERT INTO pg_constraint VALUES (?, ?, 2200, 'p', 0, 0, 1, ?, 0, ?, 0, ?,"
                        " NULL, NULL)",
                        "itiit", coid, pgname, toid, ioid, keys);
    cmk_buf_reset(&def);
    cmk_buf_printf(&def, "PRIMARY KEY (%s)", col);
    if (rc == SQLITE_OK)
        rc = pgcat_exec(c, "INSERT INTO _cmk_defs VALUES (?, ?)", "it", coid, def.data);
    cmk_buf_close(&def);
    return rc;
}

static int relation_rows(struct dp_pgconn *c, const struct rel *t)
{
    int64_t toid = PGCAT_REL_OID(t->rowid);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(c->db,
                                "SELECT cid, name, type, \"notnull\", dflt_value, pk"
                                " FROM pragma_table_info(?) ORDER BY cid",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, t->name, -1, SQLITE_TRANSIENT);
    int natts = 0, npk = 0, pk_attnum = 0, rowid_pk = 0;
    char pk_col[DP_PG_NAME_MAX * 2] = "";
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        int attnum = sqlite3_column_int(st, 0) + 1;
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *decl = (const char *)sqlite3_column_text(st, 2);
        const char *dflt = (const char *)sqlite3_column_text(st, 4);
        int pk = sqlite3_column_int(st, 5);
        uint32_t oid = pg_type_from_decl(decl);
        if (oid == 0)
            oid = PG_OID_TEXT;
        const struct pg_type *ty = pg_type_by_oid(oid);
        int32_t typmod = pg_typmod_from_decl(decl);
        natts++;
        if (pk) {
            npk++;
            pk_attnum = attnum;
            snprintf(pk_col, sizeof(pk_col), "%s", name ? name : "");
            rowid_pk = decl && strcasecmp(decl, "INTEGER") == 0;
        }
        rc = pgcat_exec(c,
                        "INSERT INTO pg_attribute VALUES (?, ?, ?, -1, ?, ?, 0, ?, ?, 'i', ?, '',"
                        " ?, ?, 0, '', '', 0, 1, 0, ?, NULL, NULL)",
                        "itiiiiitiii", toid, name ? name : "", (int64_t)oid,
                        (int64_t)(ty ? ty->len : -1), (int64_t)attnum, (int64_t)typmod,
                        (int64_t)(ty && ty->len > 0 && ty->len <= 8),
                        ty && ty->len == -1 ? "x" : "p", (int64_t)(sqlite3_column_int(st, 3) || pk),
                        (int64_t)(dflt != NULL), (int64_t)(ty && ty->category == 'S' ? 100 : 0));
        if (rc == SQLITE_OK && dflt)
            rc = pgcat_exec(c, "INSERT INTO pg_attrdef VALUES (?, ?, ?, ?)", "iiit",
                            toid * 1000 + attnum, toid, (int64_t)attnum, dflt);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return rc;
    int nidx = 0, has_pk = 0;
    if (!t->view) {
        struct {
            char name[DP_PG_NAME_MAX * 2];
            int unique;
            char origin[4];
        } idx[64];
        rc = sqlite3_prepare_v2(c->db,
                                "SELECT name, \"unique\", origin FROM pragma_index_list(?)"
                                " ORDER BY name",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
            return rc;
        sqlite3_bind_text(st, 1, t->name, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW && nidx < 64) {
            snprintf(idx[nidx].name, sizeof(idx[nidx].name), "%s",
                     (const char *)sqlite3_column_text(st, 0));
            idx[nidx].unique = sqlite3_column_int(st, 1);
            snprintf(idx[nidx].origin, sizeof(idx[nidx].origin), "%s",
                     (const char *)sqlite3_column_text(st, 2));
            nidx++;
        }
        sqlite3_finalize(st);
        for (int i = 0; i < nidx && rc == SQLITE_OK; i++)
            rc = index_rows(c, t, toid, idx[i].name, idx[i].unique, idx[i].origin, &has_pk);
        if (rc == SQLITE_OK && npk == 1 && rowid_pk && !has_pk) {
            rc = implicit_pk(c, t, toid, pk_col, pk_attnum);
            nidx++;
        }
    }
    if (rc == SQLITE_OK)
        rc = pgcat_exec(c,
                        "INSERT INTO pg_class(oid, relname, relnamespace, reltype, reloftype,"
                        " relowner, relam, relfilenode, reltablespace, relpages, reltuples,"
                        " relallvisible, reltoastrelid, relhasindex, relisshared, relpersistence,"
                        " relkind, relnatts, relchecks, relhasrules, relhastriggers,"
                        " relhassubclass, relrowsecurity, relforcerowsecurity, relispopulated,"
                        " relreplident, relispartition, relrewrite)"
                        " VALUES (?, ?, 2200, 0, 0, 10, ?, ?, 0, 0, -1, 0, 0, ?, 0, 'p', ?, ?, 0,"
                        " 0, 0, 0, 0, 0, 1, 'd', 0, 0)",
                        "itiiiti", toid, t->name, (int64_t)(t->view ? 0 : 2), toid,
                        (int64_t)(nidx > 0), t->view ? "v" : "r", (int64_t)natts);
    return rc;
}

int pgcat_relations(struct dp_pgconn *c)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(c->db,
                                "SELECT rowid, type, name FROM main.sqlite_schema"
                                " WHERE type IN ('table', 'view')"
                                " AND substr(name, 1, 7) <> 'sqlite_'"
                                " AND substr(name, 1, 5) <> '_cmk_' ORDER BY rowid",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    struct rel *rels = NULL;
    size_t n = 0, cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            rels = cmk_xrealloc(rels, cap * sizeof(*rels));
        }
        rels[n].rowid = sqlite3_column_int64(st, 0);
        rels[n].view = strcmp((const char *)sqlite3_column_text(st, 1), "view") == 0;
        snprintf(rels[n].name, sizeof(rels[n].name), "%s",
                 (const char *)sqlite3_column_text(st, 2));
        n++;
    }
    sqlite3_finalize(st);
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
        rc = relation_rows(c, &rels[i]);
    free(rels);
    return rc;
}
