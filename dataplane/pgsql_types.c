/* pgsql_types.c: PostgreSQL types over SQLite values.
 *
 * SQLite stores five kinds of values; clients expect PostgreSQL type OIDs and PostgreSQL's
 * text (or binary) forms. A column's type comes from its declaration when it is a table
 * column (the DDL translator keeps PostgreSQL's type names, so "bigint" stays "bigint"), from
 * the translator's hint for expressions (casts, count(), literals), and last from the value
 * itself. Values are printed as PostgreSQL prints them: booleans t/f, bytea as \x hex, float8
 * in shortest exact form, timestamps with a space and a "+00" zone. Bind parameters are parsed
 * by their declared type, with PostgreSQL's errors (22P02) for bad input.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire_int.h"

static const struct pg_type types[] = {
    {PG_OID_BOOL, "bool", "boolean", 1, 'B'},
    {PG_OID_BYTEA, "bytea", "bytea", -1, 'U'},
    {PG_OID_CHAR, "char", "\"char\"", 1, 'Z'},
    {PG_OID_NAME, "name", "name", 64, 'S'},
    {PG_OID_INT8, "int8", "bigint", 8, 'N'},
    {PG_OID_INT2, "int2", "smallint", 2, 'N'},
    {PG_OID_INT4, "int4", "integer", 4, 'N'},
    {PG_OID_TEXT, "text", "text", -1, 'S'},
    {PG_OID_OID, "oid", "oid", 4, 'N'},
    {PG_OID_JSON, "json", "json", -1, 'U'},
    {PG_OID_FLOAT4, "float4", "real", 4, 'N'},
    {PG_OID_FLOAT8, "float8", "double precision", 8, 'N'},
    {PG_OID_UNKNOWN, "unknown", "unknown", -2, 'X'},
    {PG_OID_BPCHAR, "bpchar", "character", -1, 'S'},
    {PG_OID_VARCHAR, "varchar", "character varying", -1, 'S'},
    {PG_OID_DATE, "date", "date", 4, 'D'},
    {PG_OID_TIME, "time", "time without time zone", 8, 'D'},
    {PG_OID_TIMESTAMP, "timestamp", "timestamp without time zone", 8, 'D'},
    {PG_OID_TIMESTAMPTZ, "timestamptz", "timestamp with time zone", 8, 'D'},
    {PG_OID_INTERVAL, "interval", "interval", 16, 'T'},
    {PG_OID_NUMERIC, "numeric", "numeric", -1, 'N'},
    {PG_OID_REGCLASS, "regclass", "regclass", 4, 'N'},
    {PG_OID_UUID, "uuid", "uuid", 16, 'U'},
    {PG_OID_JSONB, "jsonb", "jsonb", -1, 'U'},
    {PG_OID_BOOL_ARRAY, "_bool", "boolean[]", -1, 'A'},
    {PG_OID_INT2_ARRAY, "_int2", "smallint[]", -1, 'A'},
    {PG_OID_INT4_ARRAY, "_int4", "integer[]", -1, 'A'},
    {PG_OID_TEXT_ARRAY, "_text", "text[]", -1, 'A'},
    {PG_OID_VARCHAR_ARRAY, "_varchar", "character varying[]", -1, 'A'},
    {PG_OID_INT8_ARRAY, "_int8", "bigint[]", -1, 'A'},
    {PG_OID_FLOAT8_ARRAY, "_float8", "double precision[]", -1, 'A'},
    {PG_OID_NUMERIC_ARRAY, "_numeric", "numeric[]", -1, 'A'},
    {PG_OID_UUID_ARRAY, "_uuid", "uuid[]", -1, 'A'},
    {PG_OID_JSONB_ARRAY, "_jsonb", "jsonb[]", -1, 'A'},
};

uint32_t pg_type_array_of(uint32_t elem)
{
    static const uint32_t map[][2] = {
        {PG_OID_BOOL, PG_OID_BOOL_ARRAY},       {PG_OID_INT2, PG_OID_INT2_ARRAY},
        {PG_OID_INT4, PG_OID_INT4_ARRAY},       {PG_OID_TEXT, PG_OID_TEXT_ARRAY},
        {PG_OID_VARCHAR, PG_OID_VARCHAR_ARRAY}, {PG_OID_INT8, PG_OID_INT8_ARRAY},
        {PG_OID_FLOAT8, PG_OID_FLOAT8_ARRAY},   {PG_OID_NUMERIC, PG_OID_NUMERIC_ARRAY},
        {PG_OID_UUID, PG_OID_UUID_ARRAY},       {PG_OID_JSONB, PG_OID_JSONB_ARRAY}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i][0] == elem)
            return map[i][1];
    return 0;
}

/* Every spelling SQL may use, lowercase, single spaces. */
static const struct {
    const char *name;
    uint32_t oid;
} aliases[] = {
    {"bool", PG_OID_BOOL},
    {"boolean", PG_OID_BOOL},
    {"bytea", PG_OID_BYTEA},
    {"\"char\"", PG_OID_CHAR},
    {"name", PG_OID_NAME},
    {"int8", PG_OID_INT8},
    {"bigint", PG_OID_INT8},
    {"bigserial", PG_OID_INT8},
    {"serial8", PG_OID_INT8},
    {"int2", PG_OID_INT2},
    {"smallint", PG_OID_INT2},
    {"smallserial", PG_OID_INT2},
    {"serial2", PG_OID_INT2},
    {"int", PG_OID_INT4},
    {"int4", PG_OID_INT4},
    {"integer", PG_OID_INT4},
    {"serial", PG_OID_INT4},
    {"serial4", PG_OID_INT4},
    {"text", PG_OID_TEXT},
    {"oid", PG_OID_OID},
    {"regtype", PG_OID_OID},
    {"regproc", PG_OID_OID},
    {"regnamespace", PG_OID_OID},
    {"regrole", PG_OID_OID},
    {"json", PG_OID_JSON},
    {"float4", PG_OID_FLOAT4},
    {"real", PG_OID_FLOAT4},
    {"float8", PG_OID_FLOAT8},
    {"float", PG_OID_FLOAT8},
    {"double precision", PG_OID_FLOAT8},
    {"double", PG_OID_FLOAT8},
    {"char", PG_OID_BPCHAR},
    {"character", PG_OID_BPCHAR},
    {"bpchar", PG_OID_BPCHAR},
    {"varchar", PG_OID_VARCHAR},
    {"character varying", PG_OID_VARCHAR},
    {"date", PG_OID_DATE},
    {"time", PG_OID_TIME},
    {"time without time zone", PG_OID_TIME},
    {"timestamp", PG_OID_TIMESTAMP},
    {"timestamp without time zone", PG_OID_TIMESTAMP},
    {"timestamptz", PG_OID_TIMESTAMPTZ},
    {"timestamp with time zone", PG_OID_TIMESTAMPTZ},
    {"interval", PG_OID_INTERVAL},
    {"numeric", PG_OID_NUMERIC},
    {"decimal", PG_OID_NUMERIC},
    {"regclass", PG_OID_REGCLASS},
    {"uuid", PG_OID_UUID},
    {"jsonb", PG_OID_JSONB},
};

const struct pg_type *pg_type_by_oid(uint32_t oid)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].oid == oid)
            return &types[i];
    return NULL;
}

/* Lowercase, strip "pg_catalog." and a "(...)" typmod, collapse blanks; "[]" kept. */
static void normalize_type(const char *in, char *out, size_t n)
{
    size_t o = 0;
    int depth = 0, space = 0;
    if (strncasecmp(in, "pg_catalog.", 11) == 0)
        in += 11;
    for (; *in && o + 1 < n; in++) {
        char ch = *in;
        if (ch == '(') {
            depth++;
            continue;
        }
        if (ch == ')') {
            depth--;
            continue;
        }
        if (depth > 0)
            continue;
        if (isspace((unsigned char)ch)) {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < n)
            out[o++] = ' ';
        space = 0;
        out[o++] = (char)tolower((unsigned char)ch);
    }
    out[o] = 0;
}

const struct pg_type *pg_type_by_name(const char *name)
{
    char norm[64];
    normalize_type(name, norm, sizeof(norm));
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (strcmp(aliases[i].name, norm) == 0)
            return pg_type_by_oid(aliases[i].oid);
    return NULL;
}

uint32_t pg_type_from_decl(const char *decl)
{
    if (decl == NULL || decl[0] == 0)
        return 0;
    const struct pg_type *t = pg_type_by_name(decl);
    if (t)
        return t->oid;
    char norm[64];
    normalize_type(decl, norm, sizeof(norm));
    size_t len = strlen(norm);
    if (len > 2 && strcmp(norm + len - 2, "[]") == 0) { /* "int[]": arrays travel as text */
        while (len > 2 && strcmp(norm + len - 2, "[]") == 0)
            norm[len -= 2] = 0;
        const struct pg_type *el = pg_type_by_name(norm);
        uint32_t arr = el ? pg_type_array_of(el->oid) : 0;
        return arr ? arr : PG_OID_TEXT_ARRAY;
    }
    return 0;
}

int32_t pg_typmod_from_decl(const char *decl)
{
    if (decl == NULL)
        return -1;
    const char *p = strchr(decl, '(');
    if (p == NULL)
        return -1;
    uint32_t oid = pg_type_from_decl(decl);
    long a = strtol(p + 1, NULL, 10);
    const char *comma = strchr(p, ',');
    long b = comma ? strtol(comma + 1, NULL, 10) : 0;
    if (oid == PG_OID_VARCHAR || oid == PG_OID_BPCHAR)
        return (int32_t)a + 4;
    if (oid == PG_OID_NUMERIC)
        return (int32_t)((a << 16) | b) + 4;
    if (oid == PG_OID_TIMESTAMP || oid == PG_OID_TIMESTAMPTZ || oid == PG_OID_TIME)
        return (int32_t)a;
    return -1;
}

void pg_format_type(uint32_t oid, int32_t typmod, char *out, size_t n)
{
    const struct pg_type *t = pg_type_by_oid(oid);
    if (t == NULL) {
        snprintf(out, n, "???");
        return;
    }
    if ((oid == PG_OID_VARCHAR || oid == PG_OID_BPCHAR) && typmod >= 4)
        snprintf(out, n, "%s(%d)", t->sql, typmod - 4);
    else if (oid == PG_OID_NUMERIC && typmod >= 4)
        snprintf(out, n, "numeric(%d,%d)", (typmod - 4) >> 16, (typmod - 4) & 0xffff);
    else if ((oid == PG_OID_TIMESTAMP || oid == PG_OID_TIMESTAMPTZ) && typmod >= 0)
        snprintf(out, n, "timestamp(%d) with%s time zone", typmod,
                 oid == PG_OID_TIMESTAMP ? "out" : "");
    else
        snprintf(out, n, "%s", t->sql);
}

uint32_t pg_type_from_value(int sqlite_type)
{
    switch (sqlite_type) {
    case SQLITE_INTEGER:
        return PG_OID_INT8;
    case SQLITE_FLOAT:
        return PG_OID_FLOAT8;
    case SQLITE_BLOB:
        return PG_OID_BYTEA;
    default:
        return PG_OID_TEXT;
    }
}

int pg_type_is_binary_ok(uint32_t oid)
{
    switch (oid) {
    case PG_OID_BOOL:
    case PG_OID_BYTEA:
    case PG_OID_INT2:
    case PG_OID_INT4:
    case PG_OID_INT8:
    case PG_OID_OID:
    case PG_OID_FLOAT4:
    case PG_OID_FLOAT8:
    case PG_OID_TEXT:
    case PG_OID_VARCHAR:
    case PG_OID_BPCHAR:
    case PG_OID_NAME:
    case PG_OID_JSON:
        return 1;
    default:
        return 0;
    }
}

void pg_format_float8(double v, char *out, size_t n)
{
    if (isnan(v)) {
        snprintf(out, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, n, "%sInfinity", v < 0 ? "-" : "");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static const char *truthy[] = {"t", "true", "y", "yes", "on", "1", NULL};
static const char *falsy[] = {"f", "false", "n", "no", "off", "0", NULL};

/* 1 true, 0 false, -1 not a boolean. */
int pg_parse_bool(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    for (int i = 0; truthy[i]; i++)
        if (strlen(truthy[i]) == n && strncasecmp(s, truthy[i], n) == 0)
            return 1;
    for (int i = 0; falsy[i]; i++)
        if (strlen(falsy[i]) == n && strncasecmp(s, falsy[i], n) == 0)
            return 0;
    return -1;
}
