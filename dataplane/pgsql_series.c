/* pgsql_series.c: generate_series(start, stop [, step]) and unnest(array) as table-valued
 * functions.
 *
 * PostgreSQL's favourite way to make rows ("INSERT INTO t SELECT ... FROM generate_series(1,
 * 100000)") has no counterpart in SQLite's library, so it is an eponymous virtual table here,
 * integers only, whose one visible column is called generate_series as in PostgreSQL. unnest()
 * reads an array in its text form ('{a,b,"c d",NULL}', how arrays travel here) into rows. The
 * translator turns "generate_series(a, b) AS s(i)" into a subquery naming the column i.
 */
#include <stdlib.h>
#include <string.h>

#include "pgwire_int.h"

struct series_cursor {
    sqlite3_vtab_cursor base;
    sqlite3_int64 start, stop, step, value, rowid;
    int done;
};

enum { COL_VALUE, COL_START, COL_STOP, COL_STEP };

static int series_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                          sqlite3_vtab **out, char **err)
{
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(generate_series INTEGER, start HIDDEN,"
                                      " stop HIDDEN, step HIDDEN)");
    if (rc != SQLITE_OK)
        return rc;
    *out = sqlite3_malloc(sizeof(sqlite3_vtab));
    if (*out == NULL)
        return SQLITE_NOMEM;
    memset(*out, 0, sizeof(sqlite3_vtab));
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    return SQLITE_OK;
}

static int series_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

static int series_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    struct series_cursor *c = sqlite3_malloc(sizeof(*c));
    if (c == NULL)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof(*c));
    *out = &c->base;
    return SQLITE_OK;
}

static int series_close(sqlite3_vtab_cursor *cur)
{
    sqlite3_free(cur);
    return SQLITE_OK;
}

static int series_next(sqlite3_vtab_cursor *cur)
{
    struct series_cursor *c = (struct series_cursor *)cur;
    if (__builtin_add_overflow(c->value, c->step, &c->value))
        c->done = 1;
    c->rowid++;
    if (c->step > 0 ? c->value > c->stop : c->value < c->stop)
        c->done = 1;
    return SQLITE_OK;
}

static int series_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    struct series_cursor *c = (struct series_cursor *)cur;
    sqlite3_int64 v = col == COL_START  ? c->start
                      : col == COL_STOP ? c->stop
                      : col == COL_STEP ? c->step
                                        : c->value;
    sqlite3_result_int64(ctx, v);
    return SQLITE_OK;
}

static int series_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    *rowid = ((struct series_cursor *)cur)->rowid;
    return SQLITE_OK;
}

static int series_eof(sqlite3_vtab_cursor *cur)
{
    return ((struct series_cursor *)cur)->done;
}

static int series_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
                         sqlite3_value **argv)
{
    struct series_cursor *c = (struct series_cursor *)cur;
    int i = 0;
    c->step = 1;
    c->done = 0;
    c->rowid = 1;
    if (idx & 1)
        c->start = sqlite3_value_int64(argv[i++]);
    if (idx & 2)
        c->stop = sqlite3_value_int64(argv[i++]);
    if (idx & 4)
        c->step = sqlite3_value_int64(argv[i++]);
    for (int k = 0; k < argc; k++)
        if (sqlite3_value_type(argv[k]) == SQLITE_NULL)
            c->done = 1; /* PostgreSQL: a NULL bound gives no rows */
    if (c->step == 0) {
        sqlite3_free(cur->pVtab->zErrMsg);
        cur->pVtab->zErrMsg = sqlite3_mprintf("22023:step size cannot equal zero");
        return SQLITE_ERROR;
    }
    c->value = c->start;
    if (c->step > 0 ? c->value > c->stop : c->value < c->stop)
        c->done = 1;
    return SQLITE_OK;
}

static int series_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    int at[3] = {-1, -1, -1};
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *k = &info->aConstraint[i];
        if (k->iColumn < COL_START || k->op != SQLITE_INDEX_CONSTRAINT_EQ)
            continue;
        if (!k->usable)
            return SQLITE_CONSTRAINT;
        at[k->iColumn - COL_START] = i;
    }
    if (at[0] < 0 || at[1] < 0) {
        sqlite3_free(vt->zErrMsg);
        vt->zErrMsg = sqlite3_mprintf("42883:generate_series() needs a start and a stop");
        return SQLITE_ERROR;
    }
    int n = 0, idx = 0;
    for (int j = 0; j < 3; j++)
        if (at[j] >= 0) {
            info->aConstraintUsage[at[j]].argvIndex = ++n;
            info->aConstraintUsage[at[j]].omit = 1;
            idx |= 1 << j;
        }
    info->idxNum = idx;
    info->estimatedCost = 10;
    info->estimatedRows = 1000;
    return SQLITE_OK;
}

static sqlite3_module series_module = {
    .iVersion = 0,
    .xConnect = series_connect,
    .xBestIndex = series_best_index,
    .xDisconnect = series_disconnect,
    .xOpen = series_open,
    .xClose = series_close,
    .xFilter = series_filter,
    .xNext = series_next,
    .xEof = series_eof,
    .xColumn = series_column,
    .xRowid = series_rowid,
};

/* ---- unnest ---- */

struct unnest_cursor {
    sqlite3_vtab_cursor base;
    char *text;      /* the array's text (sqlite3_malloc) */
    const char *pos; /* the next element */
    struct cmk_buf el;
    int null, done;
    sqlite3_int64 rowid;
};

static int unnest_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                          sqlite3_vtab **out, char **err)
{
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(unnest, arr HIDDEN)");
    if (rc != SQLITE_OK)
        return rc;
    *out = sqlite3_malloc(sizeof(sqlite3_vtab));
    if (*out == NULL)
        return SQLITE_NOMEM;
    memset(*out, 0, sizeof(sqlite3_vtab));
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    return SQLITE_OK;
}

static int unnest_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    struct unnest_cursor *c = sqlite3_malloc(sizeof(*c));
    if (c == NULL)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof(*c));
    cmk_buf_init(&c->el);
    *out = &c->base;
    return SQLITE_OK;
}

static int unnest_close(sqlite3_vtab_cursor *cur)
{
    struct unnest_cursor *c = (struct unnest_cursor *)cur;
    sqlite3_free(c->text);
    cmk_buf_close(&c->el);
    sqlite3_free(c);
    return SQLITE_OK;
}

/* Read the next element of the array text into c->el. */
static int unnest_next(sqlite3_vtab_cursor *cur)
{
    struct unnest_cursor *c = (struct unnest_cursor *)cur;
    const char *p = c->pos;
    cmk_buf_reset(&c->el);
    cmk_buf_append(&c->el, "", 0);
    c->null = 0;
    c->rowid++;
    while (p && (*p == ' ' || *p == ','))
        p++;
    if (p == NULL || *p == 0 || *p == '}') {
        c->done = 1;
        return SQLITE_OK;
    }
    int quoted = *p == '"';
    if (quoted)
        p++;
    for (; *p; p++) {
        if (quoted && *p == '"') {
            p++;
            break;
        }
        if (!quoted && (*p == ',' || *p == '}'))
            break;
        if (*p == '\\' && p[1])
            p++;
        cmk_buf_append(&c->el, p, 1);
    }
    if (!quoted && c->el.len == 4 && strcasecmp(c->el.data, "null") == 0)
        c->null = 1;
    c->pos = p;
    return SQLITE_OK;
}

static int unnest_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
                         sqlite3_value **argv)
{
    struct unnest_cursor *c = (struct unnest_cursor *)cur;
    sqlite3_free(c->text);
    c->text = NULL;
    c->done = 0;
    c->rowid = 0;
    const char *t = argc ? (const char *)sqlite3_value_text(argv[0]) : NULL;
    if (t == NULL || *t != '{') {
        c->done = 1;
        return SQLITE_OK;
    }
    c->text = sqlite3_mprintf("%s", t);
    if (c->text == NULL)
        return SQLITE_NOMEM;
    c->pos = c->text + 1;
    return unnest_next(cur);
}

static int unnest_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    struct unnest_cursor *c = (struct unnest_cursor *)cur;
    if (col == 0 && !c->null)
        sqlite3_result_text(ctx, c->el.data, (int)c->el.len, SQLITE_TRANSIENT);
    else if (col == 1 && c->text)
        sqlite3_result_text(ctx, c->text, -1, SQLITE_TRANSIENT);
    return SQLITE_OK;
}

static int unnest_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    *rowid = ((struct unnest_cursor *)cur)->rowid;
    return SQLITE_OK;
}

static int unnest_eof(sqlite3_vtab_cursor *cur)
{
    return ((struct unnest_cursor *)cur)->done;
}

static int unnest_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *k = &info->aConstraint[i];
        if (k->iColumn == 1 && k->op == SQLITE_INDEX_CONSTRAINT_EQ) {
            if (!k->usable)
                return SQLITE_CONSTRAINT;
            info->aConstraintUsage[i].argvIndex = 1;
            info->aConstraintUsage[i].omit = 1;
            info->estimatedCost = 10;
            info->estimatedRows = 10;
            return SQLITE_OK;
        }
    }
    sqlite3_free(vt->zErrMsg);
    vt->zErrMsg = sqlite3_mprintf("42883:unnest() needs an array");
    return SQLITE_ERROR;
}

static sqlite3_module unnest_module = {
    .iVersion = 0,
    .xConnect = unnest_connect,
    .xBestIndex = unnest_best_index,
    .xDisconnect = series_disconnect,
    .xOpen = unnest_open,
    .xClose = unnest_close,
    .xFilter = unnest_filter,
    .xNext = unnest_next,
    .xEof = unnest_eof,
    .xColumn = unnest_column,
    .xRowid = unnest_rowid,
};

int pg_series_install(sqlite3 *db)
{
    int rc = sqlite3_create_module(db, "generate_series", &series_module, NULL);
    return rc == SQLITE_OK ? sqlite3_create_module(db, "unnest", &unnest_module, NULL) : rc;
}
