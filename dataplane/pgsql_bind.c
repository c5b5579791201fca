/* pgsql_bind.c: Bind parameters into SQLite statements, parsed by their declared type.
 *
 * Text parameters of integer, float, numeric, boolean and bytea types are parsed as
 * PostgreSQL would, with its errors: 22P02 "invalid input syntax for type integer", 22003 out
 * of range. Untyped parameters (node-postgres sends all its parameters untyped) stay text and
 * SQLite's column affinity converts them where a column is compared or stored, except the
 * words true/false, which become 1/0 (JavaScript booleans). Binary parameters are read by
 * their type's binary form (22P03 when the length is wrong).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire_int.h"

int pg_bytea_decode(const char *s, size_t n, struct cmk_buf *b)
{
    if (n >= 2 && s[0] == '\\' && (s[1] == 'x' || s[1] == 'X')) {
        for (size_t i = 2; i < n;) {
            if (isspace((unsigned char)s[i])) {
                i++;
                continue;
            }
            if (i + 1 >= n || !isxdigit((unsigned char)s[i]) || !isxdigit((unsigned char)s[i + 1]))
                return -1;
            char hx[3] = {s[i], s[i + 1], 0};
            uint8_t v = (uint8_t)strtoul(hx, NULL, 16);
            cmk_buf_append(b, &v, 1);
            i += 2;
        }
        return 0;
    }
    for (size_t i = 0; i < n;) { /* escape format: \\ and \ooo */
        if (s[i] != '\\') {
            cmk_buf_append(b, s + i, 1);
            i++;
        } else if (i + 1 < n && s[i + 1] == '\\') {
            cmk_buf_append(b, "\\", 1);
            i += 2;
        } else if (i + 3 < n + 0 && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
                   s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            uint8_t v = (uint8_t)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            cmk_buf_append(b, &v, 1);
            i += 4;
        } else {
            return -1;
        }
    }
    return 0;
}

static int parse_int(const char *s, size_t n, int64_t *out, int *range)
{
    char tmp[32];
    *range = 0;
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0 || n >= sizeof(tmp))
        return n >= sizeof(tmp) ? (*range = 1, -1) : -1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    size_t i = (tmp[0] == '-' || tmp[0] == '+') ? 1 : 0;
    if (tmp[i] == 0)
        return -1;
    for (; tmp[i]; i++)
        if (!isdigit((unsigned char)tmp[i]))
            return -1;
    errno = 0;
    long long v = strtoll(tmp, NULL, 10);
    if (errno == ERANGE) {
        *range = 1;
        return -1;
    }
    *out = v;
    return 0;
}

static int bad_input(struct pg_error *e, const char *type, const uint8_t *v, int32_t len)
{
    pg_error_set(e, "22P02", "invalid input syntax for type %s: \"%.*s\"", type,
                 len > 200 ? 200 : (int)len, (const char *)v);
    return -1;
}

static int bind_text(sqlite3_stmt *st, int idx, uint32_t oid, const uint8_t *v, int32_t len,
                     struct pg_error *e)
{
    const char *s = (const char *)v;
    int64_t iv;
    int range;
    switch (oid) {
    case PG_OID_INT2:
    case PG_OID_INT4:
    case PG_OID_INT8:
    case PG_OID_OID: {
        const char *tname = oid == PG_OID_INT2   ? "smallint"
                            : oid == PG_OID_INT4 ? "integer"
                            : oid == PG_OID_OID  ? "oid"
                                                 : "bigint";
        if (parse_int(s, (size_t)len, &iv, &range) != 0 ||
            (oid == PG_OID_INT2 && (iv < -32768 || iv > 32767)) ||
            (oid == PG_OID_INT4 && (iv < INT32_MIN || iv > INT32_MAX))) {
            if (range || parse_int(s, (size_t)len, &iv, &range) == 0) {
                pg_error_set(e, "22003", "value \"%.*s\" is out of range for type %s",
                             len > 200 ? 200 : (int)len, s, tname);
                return -1;
            }
            return bad_input(e, tname, v, len);
        }
        return sqlite3_bind_int64(st, idx, iv);
    }
    case PG_OID_FLOAT4:
    case PG_OID_FLOAT8:
    case PG_OID_NUMERIC: {
        char tmp[128];
        if (len <= 0 || (size_t)len >= sizeof(tmp))
            return bad_input(e, oid == PG_OID_NUMERIC ? "numeric" : "double precision", v, len);
        memcpy(tmp, s, (size_t)len);
        tmp[len] = 0;
        if (oid == PG_OID_NUMERIC && parse_int(tmp, (size_t)len, &iv, &range) == 0)
            return sqlite3_bind_int64(st, idx, iv);
        char *end;
        double d = strtod(tmp, &end);
        while (isspace((unsigned char)*end))
            end++;
        if (end == tmp || *end)
            return bad_input(e, oid == PG_OID_NUMERIC ? "numeric" : "double precision", v, len);
        return sqlite3_bind_double(st, idx, d);
    }
    case PG_OID_BOOL: {
        int bv = pg_parse_bool(s, (size_t)len);
        if (bv < 0)
            return bad_input(e, "boolean", v, len);
        return sqlite3_bind_int(st, idx, bv);
    }
    case PG_OID_BYTEA: {
        struct cmk_buf b;
        cmk_buf_init(&b);
        if (pg_bytea_decode(s, (size_t)len, &b) != 0) {
            cmk_buf_close(&b);
            return bad_input(e, "bytea", v, len);
        }
        size_t n;
        char *p = cmk_buf_take(&b, &n);
        return sqlite3_bind_blob64(st, idx, p ? p : "", n, p ? free : SQLITE_TRANSIENT);
    }
    case 0:
    case PG_OID_UNKNOWN:
        /* node-postgres sends JavaScript booleans as untyped 'true'/'false'. */
        if (len == 4 && memcmp(s, "true", 4) == 0)
            return sqlite3_bind_int(st, idx, 1);
        if (len == 5 && memcmp(s, "false", 5) == 0)
            return sqlite3_bind_int(st, idx, 0);
        break;
    default:
        break;
    }
    return sqlite3_bind_text64(st, idx, s, (sqlite3_uint64)len, SQLITE_TRANSIENT, SQLITE_UTF8);
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static int bind_binary(sqlite3_stmt *st, int idx, uint32_t oid, const uint8_t *v, int32_t len,
                       struct pg_error *e, int param)
{
    int want = 0;
    switch (oid) {
    case PG_OID_BOOL:
        want = 1;
        break;
    case PG_OID_INT2:
        want = 2;
        break;
    case PG_OID_INT4:
    case PG_OID_OID:
    case PG_OID_FLOAT4:
        want = 4;
        break;
    case PG_OID_INT8:
    case PG_OID_FLOAT8:
        want = 8;
        break;
    default:
        break;
    }
    if (want && len != want) {
        pg_error_set(e, "22P03", "incorrect binary data format in bind parameter %d", param);
        return -1;
    }
    switch (oid) {
    case PG_OID_BOOL:
        return sqlite3_bind_int(st, idx, v[0] != 0);
    case PG_OID_INT2:
        return sqlite3_bind_int(st, idx, (int16_t)get_be(v, 2));
    case PG_OID_INT4:
        return sqlite3_bind_int(st, idx, (int32_t)get_be(v, 4));
    case PG_OID_OID:
        return sqlite3_bind_int64(st, idx, (int64_t)get_be(v, 4));
    case PG_OID_INT8:
        return sqlite3_bind_int64(st, idx, (int64_t)get_be(v, 8));
    case PG_OID_FLOAT4: {
        uint32_t u = (uint32_t)get_be(v, 4);
        float f;
        memcpy(&f, &u, 4);
        return sqlite3_bind_double(st, idx, f);
    }
    case PG_OID_FLOAT8: {
        uint64_t u = get_be(v, 8);
        double d;
        memcpy(&d, &u, 8);
        return sqlite3_bind_double(st, idx, d);
    }
    case PG_OID_TEXT:
    case PG_OID_VARCHAR:
    case PG_OID_BPCHAR:
    case PG_OID_NAME:
    case PG_OID_JSON:
    case PG_OID_UNKNOWN:
    case 0:
        return sqlite3_bind_text64(st, idx, (const char *)v, (sqlite3_uint64)len, SQLITE_TRANSIENT,
                                   SQLITE_UTF8);
    case PG_OID_JSONB:
        if (len < 1 || v[0] != 1) {
            pg_error_set(e, "22P03", "unsupported jsonb version number in bind parameter %d",
                         param);
            return -1;
        }
        return sqlite3_bind_text64(st, idx, (const char *)v + 1, (sqlite3_uint64)len - 1,
                                   SQLITE_TRANSIENT, SQLITE_UTF8);
    default:
        return sqlite3_bind_blob64(st, idx, v, (sqlite3_uint64)len, SQLITE_TRANSIENT);
    }
}

int pg_bind_param(sqlite3_stmt *st, int idx, uint32_t oid, int binary, const uint8_t *v,
                  int32_t len, struct pg_error *e)
{
    int rc;
    if (len < 0)
        rc = sqlite3_bind_null(st, idx);
    else if (binary)
        rc = bind_binary(st, idx, oid, v, len, e, idx);
    else
        rc = bind_text(st, idx, oid, v, len, e);
    if (rc < 0)
        return -1;
    if (rc != SQLITE_OK && rc != SQLITE_RANGE) {
        pg_error_set(e, "08P01", "could not bind parameter %d: %s", idx, sqlite3_errstr(rc));
        return -1;
    }
    return 0;
}
