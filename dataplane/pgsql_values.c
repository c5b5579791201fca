/* pgsql_values.c: SQLite values in DataRow fields, in PostgreSQL's text and binary forms.
 *
 * Text: booleans t/f (from 0/1 or from the words PostgreSQL accepts), bytea as \x hex, float8
 * in shortest exact form, integers of integer-typed columns without a fraction, numeric(p,s)
 * with s decimals, timestamps stored by clients in ISO form ("2026-01-01T10:00:00.000Z")
 * printed as PostgreSQL prints them ("2026-01-01 10:00:00+00"). Binary: big-endian integers,
 * IEEE floats, raw bytea and text; other types are described as text when binary is asked.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire_int.h"

static void put_len_bytes(struct cmk_buf *b, const void *p, size_t n)
{
    pg_put_i32(b, (int32_t)n);
    cmk_buf_append(b, p, n);
}

/* Timestamps stored as text by clients ("2026-01-01T10:00:00.000Z") printed as PostgreSQL
 * does ("2026-01-01 10:00:00+00"). */
static void put_timestamp(struct cmk_buf *b, const char *s, size_t n, int tz)
{
    char tmp[64];
    if (n >= sizeof(tmp) || n < 10) {
        put_len_bytes(b, s, n);
        return;
    }
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (n > 10 && tmp[10] == 'T')
        tmp[10] = ' ';
    size_t len = n;
    if (len > 0 && (tmp[len - 1] == 'Z' || tmp[len - 1] == 'z')) {
        len--;
        if (tz) {
            memcpy(tmp + len, "+00", 4);
            len += 3;
        }
    } else if (len > 6 && (tmp[len - 6] == '+' || tmp[len - 6] == '-') && tmp[len - 3] == ':' &&
               tmp[len - 2] == '0' && tmp[len - 1] == '0') {
        len -= 3; /* "+01:00" -> "+01" */
        if (!tz)
            len -= 3;
    } else if (tz && len == 19) {
        memcpy(tmp + len, "+00", 4); /* a zone-less value in a timestamptz column is UTC */
        len += 3;
    }
    tmp[len] = 0;
    /* ".000" fractions: PostgreSQL drops trailing zeros. */
    char *dot = strchr(tmp + 10, '.');
    if (dot) {
        char *end = dot + 1;
        while (isdigit((unsigned char)*end))
            end++;
        char *last = end;
        while (last > dot + 1 && last[-1] == '0')
            last--;
        if (last == dot + 1)
            last = dot;
        memmove(last, end, strlen(end) + 1);
        len = strlen(tmp);
    }
    put_len_bytes(b, tmp, len);
}

static void put_text(struct cmk_buf *b, sqlite3_stmt *st, int col, int vtype, uint32_t oid,
                     int32_t typmod)
{
    char tmp[64];
    if (oid == PG_OID_NUMERIC && typmod >= 4 &&
        (vtype == SQLITE_INTEGER || vtype == SQLITE_FLOAT)) {
        int scale = (typmod - 4) & 0xffff;
        int n = snprintf(tmp, sizeof(tmp), "%.*f", scale, sqlite3_column_double(st, col));
        if (n > 0 && n < (int)sizeof(tmp) && vtype == SQLITE_INTEGER && scale == 0)
            n = snprintf(tmp, sizeof(tmp), "%lld", (long long)sqlite3_column_int64(st, col));
        if (n > 0 && n < (int)sizeof(tmp)) {
            put_len_bytes(b, tmp, (size_t)n);
            return;
        }
    }
    switch (oid) {
    case PG_OID_BOOL:
        if (vtype == SQLITE_INTEGER || vtype == SQLITE_FLOAT) {
            put_len_bytes(b, sqlite3_column_double(st, col) != 0 ? "t" : "f", 1);
            return;
        } else {
            const char *s = (const char *)sqlite3_column_text(st, col);
            int v = pg_parse_bool(s, (size_t)sqlite3_column_bytes(st, col));
            if (v >= 0) {
                put_len_bytes(b, v ? "t" : "f", 1);
                return;
            }
        }
        break;
    case PG_OID_BYTEA:
        if (vtype == SQLITE_BLOB || vtype == SQLITE_TEXT) {
            const uint8_t *p =
                vtype == SQLITE_BLOB ? sqlite3_column_blob(st, col) : sqlite3_column_text(st, col);
            size_t n = (size_t)sqlite3_column_bytes(st, col);
            if (vtype == SQLITE_TEXT && n >= 2 && p[0] == '\\' && p[1] == 'x') {
                put_len_bytes(b, p, n);
                return;
            }
            static const char hex[] = "0123456789abcdef";
            pg_put_i32(b, (int32_t)(2 + 2 * n));
            cmk_buf_reserve(b, 2 + 2 * n);
            char *o = b->data + b->len;
            *o++ = '\\';
            *o++ = 'x';
            for (size_t i = 0; i < n; i++) {
                *o++ = hex[p[i] >> 4];
                *o++ = hex[p[i] & 15];
            }
            b->len += 2 + 2 * n;
            b->data[b->len] = 0;
            return;
        }
        break;
    case PG_OID_INT2:
    case PG_OID_INT4:
    case PG_OID_INT8:
    case PG_OID_OID:
        if (vtype == SQLITE_FLOAT) {
            double d = sqlite3_column_double(st, col);
            if (d == floor(d) && fabs(d) < 9.2e18) {
                int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)d);
                put_len_bytes(b, tmp, (size_t)n);
                return;
            }
        }
        break;
    case PG_OID_TIMESTAMP:
    case PG_OID_TIMESTAMPTZ:
        if (vtype == SQLITE_TEXT) {
            put_timestamp(b, (const char *)sqlite3_column_text(st, col),
                          (size_t)sqlite3_column_bytes(st, col), oid == PG_OID_TIMESTAMPTZ);
            return;
        }
        break;
    default:
        break;
    }
    if (vtype == SQLITE_FLOAT) {
        pg_format_float8(sqlite3_column_double(st, col), tmp, sizeof(tmp));
        if (oid == PG_OID_NUMERIC && strchr(tmp, 'e') && isfinite(sqlite3_column_double(st, col)))
            snprintf(tmp, sizeof(tmp), "%.0f", sqlite3_column_double(st, col));
        put_len_bytes(b, tmp, strlen(tmp));
        return;
    }
    if (vtype == SQLITE_BLOB) {
        put_len_bytes(b, sqlite3_column_blob(st, col), (size_t)sqlite3_column_bytes(st, col));
        return;
    }
    const unsigned char *s = sqlite3_column_text(st, col);
    put_len_bytes(b, s ? (const char *)s : "", (size_t)sqlite3_column_bytes(st, col));
}

static void put_be(struct cmk_buf *b, uint64_t v, int bytes)
{
    uint8_t p[8];
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    put_len_bytes(b, p, (size_t)bytes);
}

static void put_binary(struct cmk_buf *b, sqlite3_stmt *st, int col, int vtype, uint32_t oid)
{
    switch (oid) {
    case PG_OID_BOOL:
        if (vtype == SQLITE_TEXT) {
            int v = pg_parse_bool((const char *)sqlite3_column_text(st, col),
                                  (size_t)sqlite3_column_bytes(st, col));
            put_be(b, v > 0, 1);
        } else {
            put_be(b, sqlite3_column_double(st, col) != 0, 1);
        }
        return;
    case PG_OID_INT2:
        put_be(b, (uint64_t)(int64_t)sqlite3_column_int64(st, col), 2);
        return;
    case PG_OID_INT4:
    case PG_OID_OID:
        put_be(b, (uint64_t)(int64_t)sqlite3_column_int64(st, col), 4);
        return;
    case PG_OID_INT8:
        put_be(b, (uint64_t)sqlite3_column_int64(st, col), 8);
        return;
    case PG_OID_FLOAT4: {
        float f = (float)sqlite3_column_double(st, col);
        uint32_t u;
        memcpy(&u, &f, 4);
        put_be(b, u, 4);
        return;
    }
    case PG_OID_FLOAT8: {
        double d = sqlite3_column_double(st, col);
        uint64_t u;
        memcpy(&u, &d, 8);
        put_be(b, u, 8);
        return;
    }
    case PG_OID_BYTEA:
        put_len_bytes(b, sqlite3_column_blob(st, col), (size_t)sqlite3_column_bytes(st, col));
        return;
    default: /* text-like types: the text is the binary form */
        put_len_bytes(b, sqlite3_column_text(st, col), (size_t)sqlite3_column_bytes(st, col));
        return;
    }
}

void pg_encode_field(struct cmk_buf *b, sqlite3_stmt *st, int col, uint32_t oid, int32_t typmod,
                     int binary)
{
    int vtype = sqlite3_column_type(st, col);
    if (vtype == SQLITE_NULL) {
        pg_put_i32(b, -1);
        return;
    }
    if (binary)
        put_binary(b, st, col, vtype, oid);
    else
        put_text(b, st, col, vtype, oid, typmod);
}
