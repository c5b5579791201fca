/* model.c: owning and reading the scenario model: free functions, typed getters for action
 * arguments and expectation fields, one-line descriptions of expectations for reports, and
 * the diagnostics list with its `FILE:LINE:COL: error: ...` format.
 */
#include "scenarios/parse_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- diagnostics ---- */

void sc_diags_init(struct sc_diags *d)
{
    memset(d, 0, sizeof(*d));
}

void sc_diags_close(struct sc_diags *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].msg);
    free(d->v);
    free(d->file);
    memset(d, 0, sizeof(*d));
}

void sc_diag_format(const struct sc_diags *d, const struct sc_diag *g, char *out, size_t n)
{
    const char *file = d->file ? d->file : "-";
    if (g->line > 0)
        snprintf(out, n, "%s:%d:%d: error: %s", file, g->line, g->col, g->msg);
    else
        snprintf(out, n, "%s: error: %s", file, g->msg);
}

void sc_diags_print(const struct sc_diags *d, FILE *out)
{
    const char *file = d->file ? d->file : "-";
    for (size_t i = 0; i < d->n; i++) {
        const struct sc_diag *g = &d->v[i];
        if (g->line > 0)
            fprintf(out, "%s:%d:%d: error: %s\n", file, g->line, g->col, g->msg);
        else
            fprintf(out, "%s: error: %s\n", file, g->msg);
    }
    if (d->dropped > 0)
        fprintf(out, "%s: error: %zu more errors not shown\n", file, d->dropped);
}

void sc__error(struct sc__ctx *c, int line, int col, const char *fmt, ...)
{
    struct sc_diags *d = c->diags;
    c->nerr++;
    if (d->n >= SC_MAX_ERRORS) {
        d->dropped++;
        return;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 4;
        d->v = cmk_xrealloc(d->v, d->cap * sizeof(*d->v));
    }
    struct cmk_buf b;
    va_list ap;
    cmk_buf_init(&b);
    va_start(ap, fmt);
    cmk_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    d->v[d->n].line = line;
    d->v[d->n].col = col;
    d->v[d->n].msg = cmk_buf_take(&b, NULL);
    d->n++;
}

/* ---- freeing ---- */

void sc__point_close(struct sc_point *p)
{
    free(p->step);
    p->step = NULL;
}

void sc__keyref_close(struct sc_keyref *k)
{
    free(k->text);
    free(k->store);
    free(k->key);
    free(k->version);
    memset(k, 0, sizeof(*k));
}

void sc__value_close(struct sc_value *v)
{
    switch (v->type) {
    case SC_T_STRING:
        free(v->u.str);
        break;
    case SC_T_KEYREF:
        sc__keyref_close(&v->u.key);
        break;
    case SC_T_POINT:
        sc__point_close(&v->u.point);
        break;
    case SC_T_SPAN:
        sc__point_close(&v->u.span.from);
        sc__point_close(&v->u.span.to);
        break;
    case SC_T_LIST:
        for (size_t i = 0; i < v->u.list.n; i++)
            sc__value_close(&v->u.list.v[i]);
        free(v->u.list.v);
        break;
    case SC_T_MAP:
    case SC_T_DICT:
        for (size_t i = 0; i < v->u.map.n; i++) {
            free(v->u.map.v[i].key);
            sc__value_close(&v->u.map.v[i].value);
        }
        free(v->u.map.v);
        break;
    default:
        break;
    }
    memset(&v->u, 0, sizeof(v->u));
    v->type = SC_T_NONE;
}

void sc__expect_close(struct sc_expect *e)
{
    sc__value_close(&e->fields);
    free(e->name);
    sc__point_close(&e->from);
    sc__point_close(&e->to);
    memset(e, 0, sizeof(*e));
}

void sc__step_close(struct sc_step *st)
{
    free(st->id);
    sc__point_close(&st->when);
    sc__value_close(&st->call.args);
    for (size_t i = 0; i < st->n_expects; i++)
        sc__expect_close(&st->expects[i]);
    free(st->expects);
    memset(st, 0, sizeof(*st));
}

void sc_scenario_free(struct sc_scenario *s)
{
    if (s == NULL)
        return;
    free(s->file);
    free(s->name);
    free(s->description);
    free(s->rules);
    for (size_t i = 0; i < s->n_tags; i++)
        free(s->tags[i]);
    free(s->tags);
    free(s->profile);
    sc__value_close(&s->profile_overrides);
    for (size_t i = 0; i < s->n_setup; i++)
        sc__value_close(&s->setup[i].call.args);
    free(s->setup);
    for (size_t i = 0; i < s->n_steps; i++)
        sc__step_close(&s->steps[i]);
    free(s->steps);
    for (size_t i = 0; i < s->n_invariants; i++)
        sc__expect_close(&s->invariants[i]);
    free(s->invariants);
    for (size_t i = 0; i < s->n_finally; i++)
        sc__step_close(&s->finally[i]);
    free(s->finally);
    free(s);
}

/* ---- reading ---- */

const struct sc_value *sc_get(const struct sc_value *map, const char *key)
{
    if (map == NULL || (map->type != SC_T_MAP && map->type != SC_T_DICT))
        return NULL;
    for (size_t i = 0; i < map->u.map.n; i++)
        if (strcmp(map->u.map.v[i].key, key) == 0)
            return &map->u.map.v[i].value;
    return NULL;
}

const char *sc_get_str(const struct sc_value *map, const char *key, const char *dflt)
{
    const struct sc_value *v = sc_get(map, key);
    if (v == NULL)
        return dflt;
    if (v->type == SC_T_STRING)
        return v->u.str;
    if (v->type == SC_T_KEYREF)
        return v->u.key.text;
    return dflt;
}

int64_t sc_get_int(const struct sc_value *map, const char *key, int64_t dflt)
{
    const struct sc_value *v = sc_get(map, key);
    return v && v->type == SC_T_INT ? v->u.i : dflt;
}

int sc_get_bool(const struct sc_value *map, const char *key, int dflt)
{
    const struct sc_value *v = sc_get(map, key);
    return v && v->type == SC_T_BOOL ? v->u.b : dflt;
}

cmk_time_t sc_get_duration(const struct sc_value *map, const char *key, cmk_time_t dflt)
{
    const struct sc_value *v = sc_get(map, key);
    return v && v->type == SC_T_DURATION ? v->u.dur : dflt;
}

const struct sc_step *sc_scenario_step(const struct sc_scenario *s, const char *id)
{
    for (size_t i = 0; i < s->n_steps; i++)
        if (strcmp(s->steps[i].id, id) == 0)
            return &s->steps[i];
    for (size_t i = 0; i < s->n_finally; i++)
        if (strcmp(s->finally[i].id, id) == 0)
            return &s->finally[i];
    return NULL;
}

const char *sc_type_name(enum sc_type t)
{
    static const char *const names[] = {"none",   "string", "int",    "bool",  "duration",
                                        "date",   "when",   "keyref", "point", "span",
                                        "window", "list",   "map",    "dict"};
    return (size_t)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

const char *sc_ref_name(enum sc_ref r)
{
    static const char *const names[] = {"name",    "tenant",       "identity", "vault",
                                        "HSM",     "vault or HSM", "key",      "server",
                                        "session", "resource"};
    return (size_t)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

/* ---- descriptions ---- */

static void describe_point(struct cmk_buf *b, const struct sc_point *p)
{
    char d[32];
    switch (p->kind) {
    case SC_POINT_OFFSET:
        cmk_duration_format(p->offset, d, sizeof(d));
        cmk_buf_puts(b, p->offset == 0 ? "start" : d);
        break;
    case SC_POINT_DATE:
        cmk_time_format(p->offset, d, sizeof(d));
        cmk_buf_puts(b, d);
        break;
    case SC_POINT_STEP:
        cmk_buf_puts(b, p->step ? p->step : "previous step");
        if (p->offset != 0) {
            cmk_duration_format(p->offset < 0 ? -p->offset : p->offset, d, sizeof(d));
            cmk_buf_printf(b, " %c %s", p->offset < 0 ? '-' : '+', d);
        }
        break;
    case SC_POINT_END:
        cmk_buf_puts(b, "end");
        break;
    default:
        break;
    }
}

static void describe_value(struct cmk_buf *b, const struct sc_value *v)
{
    char d[40];
    switch (v->type) {
    case SC_T_STRING:
        cmk_buf_puts(b, v->is_null ? "null" : v->u.str);
        break;
    case SC_T_INT:
        cmk_buf_printf(b, "%lld", (long long)v->u.i);
        break;
    case SC_T_BOOL:
        cmk_buf_puts(b, v->u.b ? "true" : "false");
        break;
    case SC_T_DURATION:
        cmk_duration_format(v->u.dur, d, sizeof(d));
        cmk_buf_puts(b, d);
        break;
    case SC_T_KEYREF:
        cmk_buf_puts(b, v->u.key.text);
        break;
    case SC_T_LIST:
        cmk_buf_puts(b, "[");
        for (size_t i = 0; i < v->u.list.n; i++) {
            if (i)
                cmk_buf_puts(b, ", ");
            describe_value(b, &v->u.list.v[i]);
        }
        cmk_buf_puts(b, "]");
        break;
    case SC_T_MAP:
        for (size_t i = 0; i < v->u.map.n; i++) {
            cmk_buf_printf(b, "%s%s ", i ? " " : "", v->u.map.v[i].key);
            describe_value(b, &v->u.map.v[i].value);
        }
        break;
    default:
        cmk_buf_puts(b, sc_type_name(v->type));
        break;
    }
}

void sc_expect_describe(const struct sc_expect *e, char *out, size_t n)
{
    struct cmk_buf b;
    char d1[32], d2[32];
    if (e->name) {
        snprintf(out, n, "%s", e->name);
        return;
    }
    cmk_buf_init(&b);
    cmk_buf_printf(&b, "%s ", e->subject->name);
    if (e->target)
        describe_value(&b, e->target);
    for (size_t i = 0; i < e->fields.u.map.n; i++) {
        const struct sc_entry *en = &e->fields.u.map.v[i];
        const struct sc_field *f;
        for (f = e->subject->matchers; f->key && strcmp(f->key, en->key) != 0; f++)
            ;
        if (f->key == NULL)
            continue;
        cmk_buf_printf(&b, " %s ", en->key);
        describe_value(&b, &en->value);
    }
    switch (e->timing) {
    case SC_TIMING_WITHIN:
        cmk_duration_format(e->within, d1, sizeof(d1));
        cmk_buf_printf(&b, " within %s", d1);
        break;
    case SC_TIMING_WINDOW:
        cmk_duration_format(e->window_from, d1, sizeof(d1));
        cmk_duration_format(e->window_to, d2, sizeof(d2));
        cmk_buf_printf(&b, " in window [%s, %s]", d1, d2);
        break;
    case SC_TIMING_ALWAYS:
    case SC_TIMING_NEVER:
        cmk_buf_printf(&b, " %s from ", e->timing == SC_TIMING_ALWAYS ? "always" : "never");
        describe_point(&b, &e->from);
        cmk_buf_puts(&b, " to ");
        describe_point(&b, &e->to);
        break;
    default:
        break;
    }
    if (e->hold > 0) {
        cmk_duration_format(e->hold, d1, sizeof(d1));
        cmk_buf_printf(&b, " and hold %s", d1);
    }
    snprintf(out, n, "%s", b.data);
    cmk_buf_close(&b);
}
