/* convert.c: checks one YAML node against a field of schema.c and builds the typed value.
 *
 * Every message says what was expected at the node and what was found there ("expected a
 * duration such as 10m, 1h30m or 90d for 'within', got 'soon'"). Unknown keys name the key,
 * suggest the nearest allowed one, and list them all. Scalars are read as written: YAML's own
 * typing is not used, so `version: 16` is the string "16" and `within: 600` is 600 seconds.
 */
#include "scenarios/parse_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- names, suggestions ---- */

void sc__join(struct cmk_buf *b, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cmk_buf_printf(b, "%s%s", i ? ", " : "", names[i]);
}

/* Edit distance ignoring case; words longer than 64 characters are never close. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64 || la > lb + 2 || lb > la + 2) /* never close enough */
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *sc__suggest(const char *word, const char *const *cands, size_t n)
{
    size_t limit = strlen(word) >= 6 ? 2 : 1, best = SIZE_MAX;
    const char *pick = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(word, cands[i]);
        if (d <= limit && d < best) {
            best = d;
            pick = cands[i];
        }
    }
    return pick;
}

static size_t field_names(const struct sc_field *fields, const char **out, size_t cap)
{
    size_t n = 0;
    for (const struct sc_field *f = fields; f->key && n < cap; f++)
        out[n++] = f->key;
    return n;
}

static void unknown_key(struct sc__ctx *c, const struct sc__node *k, const char *where,
                        const char *const *allowed, size_t n)
{
    if (!sc__room(c)) {
        sc__error(c, 0, 0, "-");
        return;
    }
    struct cmk_buf b;
    cmk_buf_init(&b);
    const char *near = sc__suggest(k->text, allowed, n);
    char shown[64];
    sc__node_describe(k, shown, sizeof(shown));
    cmk_buf_printf(&b, "unknown key %s in %s", shown, where);
    if (near)
        cmk_buf_printf(&b, " (did you mean '%s'?)", near);
    cmk_buf_puts(&b, "; allowed keys: ");
    sc__join(&b, allowed, n);
    sc__error(c, k->line, k->col, "%s", b.data);
    cmk_buf_close(&b);
}

struct key_at {
    const char *key;
    size_t pair;
};

static int key_at_cmp(const void *a, const void *b)
{
    const struct key_at *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    return r ? r : (x->pair > y->pair) - (x->pair < y->pair);
}

/* Sorting keeps large mappings (a 4 MiB file can hold 300,000 keys) from quadratic time. */
size_t *sc__key_firsts(const struct sc__node *map)
{
    size_t n = map->n / 2;
    size_t *first = cmk_xcalloc(n + 1, sizeof(size_t));
    struct key_at *v = cmk_xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = (struct key_at){map->kids[2 * i]->text, i};
    qsort(v, n, sizeof(*v), key_at_cmp);
    for (size_t i = 0; i < n; i++)
        first[v[i].pair] =
            i > 0 && strcmp(v[i].key, v[i - 1].key) == 0 ? first[v[i - 1].pair] : v[i].pair;
    free(v);
    return first;
}

int sc__duplicate_key(struct sc__ctx *c, const struct sc__node *map, const size_t *first,
                      size_t pair, const char *where)
{
    if (first[pair] == pair)
        return 0;
    const struct sc__node *k = map->kids[2 * pair], *f = map->kids[2 * first[pair]];
    sc__error(c, k->line, k->col, "duplicate key '%s' in %s (first at %d:%d)", k->text, where,
              f->line, f->col);
    return 1;
}

int sc__check_keys(struct sc__ctx *c, const struct sc__node *map, const char *const *allowed,
                   const char *where)
{
    size_t before = c->nerr, n = 0;
    size_t *first = sc__key_firsts(map);
    while (allowed[n])
        n++;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        if (sc__duplicate_key(c, map, first, i / 2, where))
            continue;
        size_t j;
        for (j = 0; j < n; j++)
            if (strcmp(allowed[j], map->kids[i]->text) == 0)
                break;
        if (j == n)
            unknown_key(c, map->kids[i], where, allowed, n);
    }
    free(first);
    return c->nerr == before ? 0 : -1;
}

/* ---- what each type expects ---- */

static const char *expected(const struct sc_field *f, char *buf, size_t cap)
{
    switch (f->type) {
    case SC_T_STRING:
        if (f->choices) {
            struct cmk_buf b;
            size_t n = 0;
            cmk_buf_init(&b);
            while (f->choices[n])
                n++;
            cmk_buf_puts(&b, "one of ");
            sc__join(&b, f->choices, n);
            snprintf(buf, cap, "%s", b.data);
            cmk_buf_close(&b);
            return buf;
        }
        return f->what ? f->what : "text";
    case SC_T_INT:
        if (f->min == 0 && f->max == 0)
            return "an integer";
        if (f->max == INT64_MAX)
            snprintf(buf, cap, "an integer of at least %lld", (long long)f->min);
        else
            snprintf(buf, cap, "an integer from %lld to %lld", (long long)f->min,
                     (long long)f->max);
        return buf;
    case SC_T_BOOL:
        return "true or false";
    case SC_T_DURATION:
        return "a duration such as 10m, 1h30m or 90d";
    case SC_T_DATE:
        return "an ISO 8601 time such as 2026-01-01T00:00:00Z";
    case SC_T_WHEN:
        return "a date such as 2026-03-01T00:00:00Z or a duration from the step such as 30d or -1h";
    case SC_T_KEYREF:
        return "a key reference such as kv1/cmk, kv1/cmk/current or a key URI";
    case SC_T_POINT:
        return "a time point: a duration from the start such as 1h, start, end, a date, a step "
               "id, or a step id + 5m";
    case SC_T_SPAN:
        return "true (until the end of the run) or a span [from, to] of time points";
    case SC_T_WINDOW:
        return "a window [from, to] of two durations such as [5m, 60m]";
    case SC_T_LIST:
        return "a list";
    case SC_T_MAP:
        return "a mapping";
    case SC_T_DICT:
        return "a mapping of names to text";
    default:
        return "nothing";
    }
}

static int type_error(struct sc__ctx *c, const struct sc__node *n, const struct sc_field *f,
                      const char *name)
{
    char what[1024], got[64];
    if (!sc__room(c))
        return sc__error(c, 0, 0, "-"), -1;
    const char *e = expected(f, what, sizeof(what));
    const char *g = sc__node_describe(n, got, sizeof(got));
    /* Near misses of a choice get a suggestion. */
    if (f->type == SC_T_STRING && f->choices && n->kind == SC__SCALAR) {
        size_t k = 0;
        while (f->choices[k])
            k++;
        const char *near = sc__suggest(n->text, f->choices, k);
        if (near) {
            sc__error(c, n->line, n->col, "expected %s for '%s', got %s (did you mean '%s'?)", e,
                      name, g, near);
            return -1;
        }
    }
    sc__error(c, n->line, n->col, "expected %s for '%s', got %s", e, name, g);
    return -1;
}

/* ---- scalars ---- */

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    if (*s == '\0' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return *out = 1, 0;
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return *out = 0, 0;
    return -1;
}

static int looks_like_date(const char *s)
{
    return isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
           isdigit((unsigned char)s[2]) && isdigit((unsigned char)s[3]) && s[4] == '-';
}

/* A signed duration: "-1h", "+30d", "30d". */
static int parse_signed_duration(const char *s, cmk_time_t *out)
{
    int sign = 1;
    if (*s == '-' || *s == '+') {
        sign = *s == '-' ? -1 : 1;
        s++;
        while (*s == ' ')
            s++;
    }
    cmk_time_t d;
    if (cmk_duration_parse(s, &d) != 0)
        return -1;
    *out = sign * d;
    return 0;
}

static int is_id_char(int ch)
{
    return isalnum(ch) || ch == '_' || ch == '-' || ch == '.';
}

static int parse_point_text(const char *s, struct sc_point *p)
{
    cmk_time_t t;
    while (*s == ' ')
        s++;
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == ' ')
        len--;
    char *text = cmk_xstrndup(s, len);
    int rc = 0;
    if (strcmp(text, "start") == 0) {
        p->kind = SC_POINT_OFFSET;
        p->offset = 0;
    } else if (strcmp(text, "end") == 0) {
        p->kind = SC_POINT_END;
        p->at = -1;
    } else if (looks_like_date(text)) {
        rc = cmk_time_parse(text, &t);
        p->kind = SC_POINT_DATE;
        p->offset = t;
    } else if (cmk_duration_parse(text, &t) == 0) {
        p->kind = SC_POINT_OFFSET;
        p->offset = t;
    } else {
        const char *q = text;
        if (!isalpha((unsigned char)*q) && *q != '_') {
            rc = -1;
        } else {
            while (is_id_char((unsigned char)*q))
                q++;
            size_t idlen = (size_t)(q - text);
            while (*q == ' ')
                q++;
            p->offset = 0;
            if (*q == '+' || *q == '-')
                rc = parse_signed_duration(q, &p->offset);
            else if (*q != '\0')
                rc = -1;
            if (rc == 0) {
                p->kind = SC_POINT_STEP;
                p->step = cmk_xstrndup(text, idlen);
            }
        }
    }
    free(text);
    return rc == 0 ? 0 : -1;
}

int sc__parse_point(struct sc__ctx *c, const struct sc__node *n, const char *label,
                    struct sc_point *out)
{
    static const struct sc_field point = {.key = "point", .type = SC_T_POINT};
    memset(out, 0, sizeof(*out));
    if (n->kind != SC__SCALAR || sc__node_is_null(n) || parse_point_text(n->text, out) != 0) {
        sc__point_close(out);
        memset(out, 0, sizeof(*out));
        return type_error(c, n, &point, label);
    }
    out->line = n->line;
    out->col = n->col;
    return 0;
}

static int parse_keyref(const char *s, struct sc_keyref *k)
{
    memset(k, 0, sizeof(*k));
    const char *parts[3];
    size_t lens[3], np = 0;
    if (strncmp(s, "https://", 8) == 0) {
        const char *host = s + 8, *slash = strchr(host, '/');
        if (slash == NULL || slash == host || strncmp(slash, "/keys/", 6) != 0)
            return -1;
        const char *dot = memchr(host, '.', (size_t)(slash - host));
        k->store = cmk_xstrndup(host, (size_t)((dot ? dot : slash) - host));
        k->is_uri = 1;
        s = slash + 6;
    }
    for (const char *p = s;;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (np == 3)
            goto bad;
        parts[np] = p;
        lens[np++] = len;
        if (e == NULL)
            break;
        p = e + 1;
        if (*p == '\0' && k->is_uri) /* a URI may end with '/' */
            break;
    }
    size_t need = k->is_uri ? 1 : 2;
    if (np < need || np > need + 1)
        goto bad;
    for (size_t i = 0; i < np; i++)
        if (lens[i] == 0)
            goto bad;
    if (!k->is_uri)
        k->store = cmk_xstrndup(parts[0], lens[0]);
    k->key = cmk_xstrndup(parts[need - 1], lens[need - 1]);
    if (np == need + 1) {
        k->version = cmk_xstrndup(parts[need], lens[need]);
        if (strcmp(k->version, "current") != 0) {
            size_t vl = strlen(k->version);
            for (size_t i = 0; i < vl; i++)
                if (!isxdigit((unsigned char)k->version[i]))
                    goto bad;
            if (vl != 32)
                goto bad;
        }
    }
    return 0;
bad:
    sc__keyref_close(k);
    return -1;
}

static int convert_scalar(struct sc__ctx *c, const struct sc__node *n, const struct sc_field *f,
                          const char *name, struct sc_value *out)
{
    const char *s = n->text;
    int null = sc__node_is_null(n);
    cmk_time_t t;

    if (n->kind != SC__SCALAR)
        return type_error(c, n, f, name);
    if (null && !(f->type == SC_T_STRING && (f->flags & SC_F_NULLABLE)))
        return type_error(c, n, f, name);
    switch (f->type) {
    case SC_T_STRING:
        if (null) {
            out->is_null = 1;
            out->u.str = cmk_xstrdup("");
            break;
        }
        if (f->choices) {
            size_t i;
            for (i = 0; f->choices[i]; i++)
                if (strcasecmp(f->choices[i], s) == 0)
                    break;
            if (f->choices[i] == NULL)
                return type_error(c, n, f, name);
            out->u.str = cmk_xstrdup(f->choices[i]);
            break;
        }
        if (f->check && f->check(s) != 0)
            return type_error(c, n, f, name);
        out->u.str = cmk_xstrdup(s);
        break;
    case SC_T_INT:
        if (parse_int(s, &out->u.i) != 0 ||
            ((f->min != 0 || f->max != 0) && (out->u.i < f->min || out->u.i > f->max)))
            return type_error(c, n, f, name);
        break;
    case SC_T_BOOL:
        if (parse_bool(s, &out->u.b) != 0)
            return type_error(c, n, f, name);
        break;
    case SC_T_DURATION:
        if (cmk_duration_parse(s, &out->u.dur) != 0)
            return type_error(c, n, f, name);
        break;
    case SC_T_DATE:
        if (cmk_time_parse(s, &out->u.date) != 0)
            return type_error(c, n, f, name);
        break;
    case SC_T_WHEN:
        if (looks_like_date(s)) {
            if (cmk_time_parse(s, &t) != 0)
                return type_error(c, n, f, name);
            out->u.when.relative = 0;
        } else {
            if (parse_signed_duration(s, &t) != 0)
                return type_error(c, n, f, name);
            out->u.when.relative = 1;
        }
        out->u.when.t = t;
        break;
    case SC_T_KEYREF:
        if (parse_keyref(s, &out->u.key) != 0)
            return type_error(c, n, f, name);
        out->u.key.text = cmk_xstrdup(s);
        break;
    case SC_T_POINT:
        return sc__parse_point(c, n, name, &out->u.point);
    case SC_T_SPAN: {
        int b;
        if (parse_bool(s, &b) != 0 || !b)
            return type_error(c, n, f, name);
        out->u.span.whole = 1;
        out->u.span.to.kind = SC_POINT_END;
        out->u.span.to.at = -1;
        break;
    }
    default:
        return type_error(c, n, f, name);
    }
    return 0;
}

/* ---- containers ---- */

static int convert_pair(struct sc__ctx *c, const struct sc__node *n, const struct sc_field *f,
                        const char *name, struct sc_value *out)
{
    if (n->kind != SC__SEQ || n->n != 2)
        return type_error(c, n, f, name);
    char sub[256];
    if (f->type == SC_T_SPAN) {
        snprintf(sub, sizeof(sub), "%s[0]", name);
        if (sc__parse_point(c, n->kids[0], sub, &out->u.span.from) != 0)
            return -1;
        snprintf(sub, sizeof(sub), "%s[1]", name);
        if (sc__parse_point(c, n->kids[1], sub, &out->u.span.to) != 0)
            return -1;
        return 0;
    }
    static const struct sc_field dur = {.key = "duration", .type = SC_T_DURATION};
    struct sc_value a = {0}, b = {0};
    snprintf(sub, sizeof(sub), "%s[0]", name);
    if (convert_scalar(c, n->kids[0], &dur, sub, &a) != 0)
        return -1;
    snprintf(sub, sizeof(sub), "%s[1]", name);
    if (convert_scalar(c, n->kids[1], &dur, sub, &b) != 0)
        return -1;
    if (a.u.dur > b.u.dur) {
        sc__error(c, n->line, n->col,
                  "expected '%s' to start no later than it ends, got [%.40s, %.40s]", name,
                  n->kids[0]->text, n->kids[1]->text);
        return -1;
    }
    out->u.window.from = a.u.dur;
    out->u.window.to = b.u.dur;
    return 0;
}

static int convert_list(struct sc__ctx *c, const struct sc__node *n, const struct sc_field *f,
                        const char *name, struct sc_value *out)
{
    if (n->kind != SC__SEQ)
        return type_error(c, n, f, name);
    size_t before = c->nerr;
    out->u.list.v = cmk_xcalloc(n->n, sizeof(struct sc_value));
    for (size_t i = 0; i < n->n; i++) {
        char sub[256];
        snprintf(sub, sizeof(sub), "%s[%zu]", name, i);
        if (sc__convert(c, n->kids[i], f->elem, sub, &out->u.list.v[out->u.list.n]) == 0)
            out->u.list.n++;
    }
    return c->nerr == before ? 0 : -1;
}

static int convert_dict(struct sc__ctx *c, const struct sc__node *n, const struct sc_field *f,
                        const char *name, struct sc_value *out)
{
    static const struct sc_field text = {.key = "text", .type = SC_T_STRING};
    if (n->kind != SC__MAP)
        return type_error(c, n, f, name);
    size_t before = c->nerr;
    size_t *first = sc__key_firsts(n);
    out->u.map.v = cmk_xcalloc(n->n / 2 + 1, sizeof(struct sc_entry));
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        if (sc__duplicate_key(c, n, first, i / 2, name))
            continue;
        struct sc_entry *e = &out->u.map.v[out->u.map.n];
        if (sc__convert(c, n->kids[i + 1], &text, n->kids[i]->text, &e->value) != 0)
            continue;
        e->key = cmk_xstrdup(n->kids[i]->text);
        e->line = n->kids[i]->line;
        e->col = n->kids[i]->col;
        out->u.map.n++;
    }
    free(first);
    return c->nerr == before ? 0 : -1;
}

int sc__convert_map_multi(struct sc__ctx *c, const struct sc__node *n,
                          const struct sc_field *const *tables, size_t ntables, const char *where,
                          struct sc_value *out)
{
    const char *names[128];
    size_t nnames = 0, before = c->nerr;

    for (size_t t = 0; t < ntables; t++)
        nnames += field_names(tables[t], names + nnames, 128 - nnames);
    memset(out, 0, sizeof(*out));
    out->type = SC_T_MAP;
    out->line = n->line;
    out->col = n->col;
    size_t *first = sc__key_firsts(n);
    out->u.map.v = cmk_xcalloc(n->n / 2 + 1, sizeof(struct sc_entry));
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const struct sc__node *k = n->kids[i];
        if (sc__duplicate_key(c, n, first, i / 2, where))
            continue;
        const struct sc_field *f = NULL;
        for (size_t t = 0; t < ntables && f == NULL; t++)
            for (const struct sc_field *g = tables[t]; g->key && f == NULL; g++)
                if (strcmp(g->key, k->text) == 0)
                    f = g;
        if (f == NULL) {
            unknown_key(c, k, where, names, nnames);
            continue;
        }
        if (f->type == SC_T_NONE)
            continue;
        struct sc_entry *e = &out->u.map.v[out->u.map.n];
        if (sc__convert(c, n->kids[i + 1], f, f->key, &e->value) != 0)
            continue;
        e->key = cmk_xstrdup(k->text);
        e->line = k->line;
        e->col = k->col;
        out->u.map.n++;
    }
    for (size_t t = 0; t < ntables; t++)
        for (const struct sc_field *f = tables[t]; f->key; f++)
            if ((f->flags & SC_F_REQUIRED) && sc__map_get(n, f->key) == NULL)
                sc__error(c, n->line, n->col, "missing required key '%s' in %s", f->key, where);
    free(first);
    return c->nerr == before ? 0 : -1;
}

int sc__convert_map(struct sc__ctx *c, const struct sc__node *n, const struct sc_field *fields,
                    const char *where, struct sc_value *out)
{
    return sc__convert_map_multi(c, n, &fields, 1, where, out);
}

int sc__convert(struct sc__ctx *c, const struct sc__node *n, const struct sc_field *f,
                const char *name, struct sc_value *out)
{
    int rc;
    memset(out, 0, sizeof(*out));
    switch (f->type) {
    case SC_T_LIST:
        out->type = f->type;
        rc = convert_list(c, n, f, name, out);
        break;
    case SC_T_DICT:
        out->type = f->type;
        rc = convert_dict(c, n, f, name, out);
        break;
    case SC_T_MAP:
        if (n->kind != SC__MAP)
            return type_error(c, n, f, name);
        rc = sc__convert_map(c, n, f->fields, name, out);
        break;
    case SC_T_WINDOW:
        out->type = f->type;
        rc = convert_pair(c, n, f, name, out);
        break;
    case SC_T_SPAN:
        out->type = f->type;
        rc = n->kind == SC__SEQ ? convert_pair(c, n, f, name, out)
                                : convert_scalar(c, n, f, name, out);
        break;
    default:
        out->type = f->type;
        rc = convert_scalar(c, n, f, name, out);
        break;
    }
    out->line = n->line;
    out->col = n->col;
    out->field = f;
    if (rc != 0) {
        sc__value_close(out);
        memset(out, 0, sizeof(*out));
        return -1;
    }
    return 0;
}
