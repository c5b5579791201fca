/* pgcatalog_int.h: what pgcatalog.c, pgcatalog_rel.c and pgcatalog_fn.c share. */
#ifndef DP_PGCATALOG_INT_H
#define DP_PGCATALOG_INT_H

#include "pgwire_int.h"

#define PGCAT_OID_BASE 16384
/* The OID of the relation at sqlite_schema rowid r; +1 is its implicit primary-key index. */
#define PGCAT_REL_OID(r) (PGCAT_OID_BASE + 2 * (int64_t)(r))
/* Constraints: their index's OID + 1 (indexes have even OIDs), or this + table OID for the
 * implicit primary key of a rowid table. */
#define PGCAT_IMPLICIT_CON 2000000000LL

/* Run sql with values bound from fmt ('i' int64_t, 't' text or NULL); SQLITE_OK or an error. */
int pgcat_exec(struct dp_pgconn *c, const char *sql, const char *fmt, ...);
/* Fill pg_class, pg_attribute, pg_attrdef, pg_index, pg_constraint, _cmk_defs. */
int pgcat_relations(struct dp_pgconn *c);
/* Register format_type(), pg_get_indexdef(), pg_table_size()... on db. */
int pgcat_functions(struct dp_pgconn *c, sqlite3 *db);

#endif
