/* pgsql_strfunc.c: the functions behind operators and casts, and the string functions
 * PostgreSQL has and SQLite lacks.
 *
 * regexp() serves ~ (POSIX extended regular expressions, compiled once per statement), glob()
 * is replaced so that ~* is a case-insensitive regexp (PostgreSQL has no GLOB), like() is
 * replaced by PostgreSQL's case-sensitive LIKE (escape character backslash) and match() is
 * ILIKE. pg_bool(), pg_bytea(), pg_date() are the casts SQLite has no affinity for;
 * pg_extract() is extract(field FROM ts). Arrays travel as PostgreSQL's text form '{a,b}':
 * pg_array() builds one, array_to_string() reads one. None of them touches the session.
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgwire_int.h"

#define F_DET (SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC)

static void regex_free(void *p)
{
    regfree(p);
    free(p);
}

static void fn_regexp(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int icase = sqlite3_user_data(ctx) != NULL && *(int *)sqlite3_user_data(ctx);
    const char *pat = (const char *)sqlite3_value_text(argv[0]);
    const char *val = (const char *)sqlite3_value_text(argv[1]);
    if (pat == NULL || val == NULL)
        return;
    regex_t *re = sqlite3_get_auxdata(ctx, 0);
    if (re == NULL) {
        re = cmk_xmalloc(sizeof(*re));
        int rc = regcomp(re, pat, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
        if (rc != 0) {
            char msg[200], err[120];
            regerror(rc, re, err, sizeof(err));
            free(re);
            snprintf(msg, sizeof(msg), "2201B:invalid regular expression: %s", err);
            sqlite3_result_error(ctx, msg, -1);
            return;
        }
        sqlite3_set_auxdata(ctx, 0, re, regex_free);
        re = sqlite3_get_auxdata(ctx, 0);
        if (re == NULL) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
    }
    sqlite3_result_int(ctx, regexec(re, val, 0, NULL, 0) == 0);
}

/* PostgreSQL LIKE: % and _, escape character (default backslash); icase for ILIKE. */
static int like_match(const unsigned char *p, const unsigned char *s, int esc, int icase)
{
    while (*p) {
        if (*p == '%') {
            while (*p == '%')
                p++;
            if (*p == 0)
                return 1;
            for (; *s; s++)
                if (like_match(p, s, esc, icase))
                    return 1;
            return 0;
        }
        if (*s == 0)
            return 0;
        if (*p == '_') {
            p++;
            s++;
            while ((*s & 0xc0) == 0x80) /* one character, not one byte */
                s++;
            continue;
        }
        if (esc && *p == esc && p[1])
            p++;
        if (icase ? tolower(*p) != tolower(*s) : *p != *s)
            return 0;
        p++;
        s++;
    }
    return *s == 0;
}

static void fn_like(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int icase = sqlite3_user_data(ctx) != NULL;
    const unsigned char *pat = sqlite3_value_text(argv[0]);
    const unsigned char *val = sqlite3_value_text(argv[1]);
    int esc = '\\';
    if (argc == 3) {
        const unsigned char *e = sqlite3_value_text(argv[2]);
        esc = e && e[0] ? e[0] : 0;
    }
    if (pat == NULL || val == NULL)
        return;
    sqlite3_result_int(ctx, like_match(pat, val, esc, icase));
}

/* ---- casts ---- */

static void fn_bool(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    switch (sqlite3_value_type(argv[0])) {
    case SQLITE_NULL:
        return;
    case SQLITE_INTEGER:
    case SQLITE_FLOAT:
        sqlite3_result_int(ctx, sqlite3_value_double(argv[0]) != 0);
        return;
    default: {
        const char *s = (const char *)sqlite3_value_text(argv[0]);
        static const char *const t[] = {"t", "true", "y", "yes", "on", "1"};
        static const char *const f[] = {"f", "false", "n", "no", "off", "0"};
        for (int i = 0; i < 6; i++) {
            if (strcasecmp(s, t[i]) == 0) {
                sqlite3_result_int(ctx, 1);
                return;
            }
            if (strcasecmp(s, f[i]) == 0) {
                sqlite3_result_int(ctx, 0);
                return;
            }
        }
        char msg[160];
        snprintf(msg, sizeof(msg), "22P02:invalid input syntax for type boolean: \"%.100s\"", s);
        sqlite3_result_error(ctx, msg, -1);
    }
    }
}

static void fn_bytea(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int t = sqlite3_value_type(argv[0]);
    if (t == SQLITE_NULL)
        return;
    if (t == SQLITE_BLOB) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    struct cmk_buf b;
    cmk_buf_init(&b);
    if (pg_bytea_decode(s, (size_t)sqlite3_value_bytes(argv[0]), &b) != 0) {
        cmk_buf_close(&b);
        sqlite3_result_error(ctx, "22P02:invalid input syntax for type bytea", -1);
        return;
    }
    sqlite3_result_blob64(ctx, b.data ? b.data : "", b.len, SQLITE_TRANSIENT);
    cmk_buf_close(&b);
}

static void fn_date(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    if (s)
        sqlite3_result_text(ctx, s, strlen(s) >= 10 ? 10 : -1, SQLITE_TRANSIENT);
}

static void fn_extract(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *field = (const char *)sqlite3_value_text(argv[0]);
    const char *s = (const char *)sqlite3_value_text(argv[1]);
    if (field == NULL || s == NULL)
        return;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0;
    double sec = 0;
    if (sscanf(s, "%d-%d-%d%*[ T]%d:%d:%lf", &y, &mo, &d, &h, &mi, &sec) < 3) {
        sqlite3_result_error(ctx, "22007:invalid input syntax for type timestamp", -1);
        return;
    }
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
    time_t days = timegm(&tm);
    gmtime_r(&days, &tm);
    double v;
    if (!strcasecmp(field, "year"))
        v = y;
    else if (!strcasecmp(field, "month"))
        v = mo;
    else if (!strcasecmp(field, "day"))
        v = d;
    else if (!strcasecmp(field, "hour"))
        v = h;
    else if (!strcasecmp(field, "minute"))
        v = mi;
    else if (!strcasecmp(field, "second"))
        v = sec;
    else if (!strcasecmp(field, "dow"))
        v = tm.tm_wday;
    else if (!strcasecmp(field, "doy"))
        v = tm.tm_yday + 1;
    else if (!strcasecmp(field, "epoch"))
        v = (double)days + h * 3600 + mi * 60 + sec;
    else {
        char msg[120];
        snprintf(msg, sizeof(msg), "0A000:unit \"%s\" not supported", field);
        sqlite3_result_error(ctx, msg, -1);
        return;
    }
    sqlite3_result_double(ctx, v);
}

/* ---- strings and arrays ---- */

static void append_array_elem(struct cmk_buf *b, const char *s)
{
    int quote = s[0] == 0 || strpbrk(s, ",{}\" \\") != NULL || strcasecmp(s, "null") == 0;
    if (!quote) {
        cmk_buf_puts(b, s);
        return;
    }
    cmk_buf_append(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            cmk_buf_append(b, "\\", 1);
        cmk_buf_append(b, s, 1);
    }
    cmk_buf_append(b, "\"", 1);
}

static void fn_array(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_append(&b, "{", 1);
    for (int i = 0; i < argc; i++) {
        if (i)
            cmk_buf_append(&b, ",", 1);
        if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
            cmk_buf_puts(&b, "NULL");
        else
            append_array_elem(&b, (const char *)sqlite3_value_text(argv[i]));
    }
    cmk_buf_append(&b, "}", 1);
    sqlite3_result_text(ctx, b.data, (int)b.len, SQLITE_TRANSIENT);
    cmk_buf_close(&b);
}

static void fn_array_to_string(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    const char *sep = (const char *)sqlite3_value_text(argv[1]);
    if (s == NULL || sep == NULL)
        return;
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_append(&b, "", 0);
    if (*s == '{')
        s++;
    int first = 1, inq = 0;
    struct cmk_buf el;
    cmk_buf_init(&el);
    for (;; s++) {
        if (*s == 0 || (!inq && (*s == ',' || *s == '}'))) {
            if (el.len || (el.data && !first) || el.data) {
                if (!first)
                    cmk_buf_puts(&b, sep);
                cmk_buf_append(&b, el.data, el.len);
                first = 0;
            }
            cmk_buf_close(&el);
            if (*s == 0 || *s == '}')
                break;
            continue;
        }
        if (*s == '"') {
            inq = !inq;
            cmk_buf_append(&el, "", 0);
            continue;
        }
        if (*s == '\\' && s[1])
            s++;
        cmk_buf_append(&el, s, 1);
    }
    sqlite3_result_text(ctx, b.data, (int)b.len, SQLITE_TRANSIENT);
    cmk_buf_close(&b);
}

static void fn_concat(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int ws = sqlite3_user_data(ctx) != NULL;
    const char *sep = ws ? (const char *)sqlite3_value_text(argv[0]) : "";
    if (sep == NULL)
        return;
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_append(&b, "", 0);
    int n = 0;
    for (int i = ws; i < argc; i++) {
        if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
            continue;
        if (n++ && ws)
            cmk_buf_puts(&b, sep);
        cmk_buf_puts(&b, (const char *)sqlite3_value_text(argv[i]));
    }
    sqlite3_result_text(ctx, b.data, (int)b.len, SQLITE_TRANSIENT);
    cmk_buf_close(&b);
}

/* Characters (not bytes) of s: offset of the k-th character. */
static size_t utf8_offset(const char *s, long k)
{
    size_t i = 0;
    for (long n = 0; s[i] && n < k; n++) {
        i++;
        while ((s[i] & 0xc0) == 0x80)
            i++;
    }
    return i;
}

static long utf8_len(const char *s)
{
    long n = 0;
    for (; *s; s++)
        n += (*s & 0xc0) != 0x80;
    return n;
}

static void fn_left_right(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int right = sqlite3_user_data(ctx) != NULL;
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    if (s == NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
        return;
    long n = sqlite3_value_int(argv[1]), len = utf8_len(s);
    long take = n >= 0 ? (n < len ? n : len) : (len + n > 0 ? len + n : 0);
    if (!right) {
        sqlite3_result_text(ctx, s, (int)utf8_offset(s, take), SQLITE_TRANSIENT);
    } else {
        size_t from = utf8_offset(s, len - take);
        sqlite3_result_text(ctx, s + from, -1, SQLITE_TRANSIENT);
    }
}

static void fn_repeat(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    long n = sqlite3_value_int(argv[1]);
    if (s == NULL)
        return;
    size_t len = strlen(s);
    if (n < 0)
        n = 0;
    if (len * (size_t)n > 100u * 1024 * 1024) {
        sqlite3_result_error(ctx, "54000:requested length too large", -1);
        return;
    }
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_append(&b, "", 0);
    for (long i = 0; i < n; i++)
        cmk_buf_append(&b, s, len);
    sqlite3_result_text(ctx, b.data, (int)b.len, SQLITE_TRANSIENT);
    cmk_buf_close(&b);
}

static void fn_split_part(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    const char *d = (const char *)sqlite3_value_text(argv[1]);
    long n = sqlite3_value_int(argv[2]);
    if (s == NULL || d == NULL)
        return;
    size_t dl = strlen(d);
    if (n <= 0) {
        sqlite3_result_error(ctx, "22023:field position must not be zero or negative", -1);
        return;
    }
    const char *start = s;
    for (long i = 1; i < n; i++) {
        const char *next = dl ? strstr(start, d) : NULL;
        if (next == NULL) {
            sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
            return;
        }
        start = next + dl;
    }
    const char *end = dl ? strstr(start, d) : NULL;
    sqlite3_result_text(ctx, start, end ? (int)(end - start) : -1, SQLITE_TRANSIENT);
}

static void fn_starts_with(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    const char *p = (const char *)sqlite3_value_text(argv[1]);
    if (s && p)
        sqlite3_result_int(ctx, strncmp(s, p, strlen(p)) == 0);
}

static void fn_md5(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const void *p = sqlite3_value_text(argv[0]);
    if (p == NULL)
        return;
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    if (!EVP_Digest(p, (size_t)sqlite3_value_bytes(argv[0]), d, &dl, EVP_md5(), NULL)) {
        sqlite3_result_error(ctx, "XX000:md5 is not available", -1);
        return;
    }
    for (unsigned int i = 0; i < dl; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    sqlite3_result_text(ctx, hex, (int)(2 * dl), SQLITE_TRANSIENT);
}

static void fn_typeof(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    static const char *const names[] = {"",     "bigint", "double precision",
                                        "text", "bytea",  "unknown"};
    sqlite3_result_text(ctx, names[sqlite3_value_type(argv[0])], -1, SQLITE_STATIC);
}

static void fn_null(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_result_null(ctx);
}

static const int one = 1;

static const struct {
    const char *name;
    int nargs;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
    const void *data;
} functions[] = {
    {"regexp", 2, fn_regexp, NULL},
    {"glob", 2, fn_regexp, &one},
    {"like", 2, fn_like, NULL},
    {"like", 3, fn_like, NULL},
    {"match", 2, fn_like, &one},
    {"pg_bool", 1, fn_bool, NULL},
    {"pg_bytea", 1, fn_bytea, NULL},
    {"pg_date", 1, fn_date, NULL},
    {"pg_extract", 2, fn_extract, NULL},
    {"date_part", 2, fn_extract, NULL},
    {"pg_array", -1, fn_array, NULL},
    {"array_to_string", 2, fn_array_to_string, NULL},
    {"concat", -1, fn_concat, NULL},
    {"concat_ws", -1, fn_concat, &one},
    {"left", 2, fn_left_right, NULL},
    {"right", 2, fn_left_right, &one},
    {"repeat", 2, fn_repeat, NULL},
    {"split_part", 3, fn_split_part, NULL},
    {"starts_with", 2, fn_starts_with, NULL},
    {"md5", 1, fn_md5, NULL},
    {"pg_typeof", 1, fn_typeof, NULL},
    {"obj_description", -1, fn_null, NULL},
    {"col_description", 2, fn_null, NULL},
    {"shobj_description", 2, fn_null, NULL},
};

int pg_strfunc_install(sqlite3 *db)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]) && rc == SQLITE_OK; i++)
        rc = sqlite3_create_function_v2(db, functions[i].name, functions[i].nargs, F_DET,
                                        (void *)functions[i].data, functions[i].fn, NULL, NULL,
                                        NULL);
    return rc;
}
