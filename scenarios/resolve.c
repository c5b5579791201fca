/* resolve.c: what can only be checked once the whole file is read: step times and names.
 *
 * Steps are placed on the clock: `at` is an offset from clock.start (or a date), `after`
 * follows another step's time plus an offset, and a step with neither follows the previous
 * one. Every step refers to at most one other, so following references walks a chain; a
 * chain that comes back on itself is a cycle and is reported with its members. Time points
 * inside values (spans, pointInTime) are resolved the same way.
 *
 * Names: each action that creates something (vault.create, key.create, server.restore,
 * client.connect with a session...) defines a name, in setup or in any step; every argument
 * or expectation that refers to a vault, key, server... must name one of them. Order in time
 * is not checked here (deleting then re-creating a name is a legitimate scenario), but two
 * definitions of one name in setup are an error.
 */
#include "scenarios/parse_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- step times ---- */

/* Offsets written in a file can be as large as cmk_duration_parse allows: sums saturate to a
 * value no step or span can have, reported as out of range rather than wrapping around. */
#define TIME_OVERFLOW INT64_MIN

static cmk_time_t add_time(cmk_time_t a, cmk_time_t b)
{
    cmk_time_t r;
    if (a == TIME_OVERFLOW || __builtin_add_overflow(a, b, &r) || r == TIME_OVERFLOW)
        return TIME_OVERFLOW;
    return r;
}

/* Timed steps with an id, sorted by id (the first of duplicates only), for lookups. */
struct step_key {
    const char *id;
    size_t index;
};

static int step_key_cmp(const void *a, const void *b)
{
    const struct step_key *x = a, *y = b;
    int r = strcmp(x->id, y->id);
    return r ? r : (x->index > y->index) - (x->index < y->index);
}

static int step_id_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct step_key *)elem)->id);
}

static long find_step(const struct sc__ctx *c, const char *id)
{
    const struct step_key *k =
        bsearch(id, c->step_ids, c->n_step_ids, sizeof(struct step_key), step_id_cmp);
    return k ? (long)k->index : -1;
}

static void unknown_step(struct sc__ctx *c, const struct sc_point *p)
{
    const struct sc_scenario *s = c->s;
    if (!sc__room(c)) {
        sc__error(c, 0, 0, "-");
        return;
    }
    const char **ids = cmk_xcalloc(s->n_steps + 1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; i < s->n_steps; i++)
        if (s->steps[i].has_id)
            ids[n++] = s->steps[i].id;
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_printf(&b, "unknown step '%s'", p->step);
    const char *near = sc__suggest(p->step, ids, n);
    if (near)
        cmk_buf_printf(&b, " (did you mean '%s'?)", near);
    if (n > 0) {
        cmk_buf_puts(&b, "; step ids: ");
        sc__join(&b, ids, n > 20 ? 20 : n);
        if (n > 20)
            cmk_buf_puts(&b, ", ...");
    } else {
        cmk_buf_puts(&b, "; no step has an id");
    }
    sc__error(c, p->line, p->col, "%s", b.data);
    cmk_buf_close(&b);
    free(ids);
}

/* The step a step's time depends on, -1 for none, -2 after reporting an unknown id. */
static long step_parent(struct sc__ctx *c, size_t i)
{
    struct sc_step *st = &c->s->steps[i];
    if (st->when.kind != SC_POINT_STEP)
        return -1;
    if (st->when.implicit)
        return (long)i - 1; /* -1 for the first step: the clock start */
    if (st->when.step == NULL)
        return -1;
    long t = find_step(c, st->when.step);
    if (t < 0) {
        unknown_step(c, &st->when);
        return -2;
    }
    st->when.step_index = (size_t)t;
    return t;
}

static void cycle_error(struct sc__ctx *c, const size_t *path, size_t n, size_t from)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    const struct sc_step *last = &c->s->steps[path[n - 1]];
    cmk_buf_printf(&b,
                   "expected steps to follow one another without a cycle, but '%s' comes "
                   "after itself: ",
                   last->id);
    for (size_t k = from; k < n; k++)
        cmk_buf_printf(&b, "%s -> ", c->s->steps[path[k]].id);
    cmk_buf_puts(&b, c->s->steps[path[from]].id);
    sc__error(c, last->when.line, last->when.col, "%s", b.data);
    cmk_buf_close(&b);
}

static void resolve_steps(struct sc__ctx *c)
{
    struct sc_scenario *s = c->s;
    enum { TODO, WALKING, DONE, BAD };
    unsigned char *state = cmk_xcalloc(s->n_steps + 1, 1);
    size_t *path = cmk_xcalloc(s->n_steps + 1, sizeof(size_t));
    char t1[32], t2[32];

    for (size_t i = 0; i < s->n_steps; i++) {
        if (state[i] != TODO)
            continue;
        /* Walk up the chain of parents until a placed step, the clock start or a problem. */
        size_t n = 0;
        long j = (long)i;
        int bad = 0;
        while (j >= 0 && state[j] == TODO) {
            state[j] = WALKING;
            path[n++] = (size_t)j;
            long p = step_parent(c, (size_t)j);
            if (p == -2) {
                bad = 1;
                break;
            }
            if (p >= 0 && state[p] == WALKING) {
                size_t from = 0;
                while (path[from] != (size_t)p)
                    from++;
                cycle_error(c, path, n, from);
                bad = 1;
                break;
            }
            if (p >= 0 && state[p] == BAD)
                bad = 1;
            j = p;
        }
        /* Place the walked steps from the top of the chain down. */
        for (size_t k = n; k-- > 0;) {
            struct sc_step *st = &s->steps[path[k]];
            if (bad) {
                state[path[k]] = BAD;
                continue;
            }
            switch (st->when.kind) {
            case SC_POINT_OFFSET:
                st->at = st->when.offset;
                break;
            case SC_POINT_DATE:
                st->at = st->when.offset - s->clock_start;
                break;
            case SC_POINT_STEP:
                if (st->when.implicit && path[k] == 0)
                    st->at = 0;
                else if (st->when.implicit)
                    st->at = s->steps[path[k] - 1].at;
                else
                    st->at = add_time(s->steps[st->when.step_index].at, st->when.offset);
                break;
            default:
                st->at = 0;
                break;
            }
            st->when.at = st->at;
            state[path[k]] = DONE;
            if (st->at == TIME_OVERFLOW) {
                sc__error(c, st->when.line, st->when.col,
                          "expected step '%s' to run within a few thousand years", st->id);
                state[path[k]] = BAD;
            } else if (st->at < 0) {
                cmk_duration_format(st->at, t1, sizeof(t1));
                sc__error(c, st->when.line, st->when.col,
                          "expected step '%s' to run after the clock start, but it would run at "
                          "%s",
                          st->id, t1);
                state[path[k]] = BAD;
            } else if (s->clock_limit > 0 && st->at > s->clock_limit) {
                cmk_duration_format(st->at, t1, sizeof(t1));
                cmk_duration_format(s->clock_limit, t2, sizeof(t2));
                sc__error(c, st->when.line, st->when.col,
                          "expected step '%s' to run within clock.limit %s, but it runs at %s",
                          st->id, t2, t1);
            }
        }
    }
    free(state);
    free(path);
}

/* Duplicate ids among steps and finally steps; then the index of timed steps for lookups. */
static void index_steps(struct sc__ctx *c)
{
    struct sc_scenario *s = c->s;
    size_t n = 0, total = s->n_steps + s->n_finally;
    struct step_key *all = cmk_xcalloc(total + 1, sizeof(*all));
    for (size_t i = 0; i < total; i++) {
        const struct sc_step *st = i < s->n_steps ? &s->steps[i] : &s->finally[i - s->n_steps];
        if (st->has_id)
            all[n++] = (struct step_key){st->id, i};
    }
    qsort(all, n, sizeof(*all), step_key_cmp);
    struct step_key *ids = cmk_xcalloc(n + 1, sizeof(*ids));
    size_t n_ids = 0;
    for (size_t i = 0, first = 0; i < n; i++) {
        if (i > 0 && strcmp(all[i].id, all[first].id) == 0) {
            size_t a = all[i].index, b = all[first].index;
            const struct sc_step *dup = a < s->n_steps ? &s->steps[a] : &s->finally[a - s->n_steps];
            const struct sc_step *org = b < s->n_steps ? &s->steps[b] : &s->finally[b - s->n_steps];
            sc__error(c, dup->line, dup->col, "duplicate step id '%s' (first at %d:%d)", dup->id,
                      org->line, org->col);
            continue;
        }
        first = i;
        if (all[i].index < s->n_steps)
            ids[n_ids++] = all[i];
    }
    free(all);
    c->step_ids = ids;
    c->n_step_ids = n_ids;
}

/* ---- time points inside values ---- */

static void resolve_point(struct sc__ctx *c, struct sc_point *p)
{
    const struct sc_scenario *s = c->s;
    switch (p->kind) {
    case SC_POINT_OFFSET:
        p->at = p->offset;
        break;
    case SC_POINT_DATE:
        p->at = p->offset - s->clock_start;
        if (p->at < 0)
            sc__error(c, p->line, p->col, "expected a time after clock.start, got one before it");
        break;
    case SC_POINT_STEP: {
        if (p->step == NULL)
            break;
        long t = find_step(c, p->step);
        if (t < 0) {
            unknown_step(c, p);
            break;
        }
        p->step_index = (size_t)t;
        p->at = add_time(s->steps[t].at, p->offset);
        if (p->at == TIME_OVERFLOW)
            sc__error(c, p->line, p->col, "expected a time within a few thousand years");
        break;
    }
    case SC_POINT_END:
        p->at = -1;
        break;
    default:
        break;
    }
}

static void resolve_value_points(struct sc__ctx *c, struct sc_value *v)
{
    switch (v->type) {
    case SC_T_POINT:
        resolve_point(c, &v->u.point);
        break;
    case SC_T_SPAN:
        if (!v->u.span.whole) {
            resolve_point(c, &v->u.span.from);
            resolve_point(c, &v->u.span.to);
            if (v->u.span.to.kind != SC_POINT_END && v->u.span.from.kind != SC_POINT_END &&
                v->u.span.from.at > v->u.span.to.at)
                sc__error(c, v->line, v->col, "expected a span that starts before it ends");
            else if (v->u.span.from.kind == SC_POINT_END && v->u.span.to.kind != SC_POINT_END)
                sc__error(c, v->line, v->col, "expected a span that starts before it ends");
        }
        break;
    case SC_T_LIST:
        for (size_t i = 0; i < v->u.list.n; i++)
            resolve_value_points(c, &v->u.list.v[i]);
        break;
    case SC_T_MAP:
        for (size_t i = 0; i < v->u.map.n; i++)
            resolve_value_points(c, &v->u.map.v[i].value);
        break;
    default:
        break;
    }
}

static void point_copy(struct sc_point *dst, const struct sc_point *src)
{
    *dst = *src;
    dst->step = src->step ? cmk_xstrdup(src->step) : NULL;
}

/* An expectation's span: written [from, to], or `true` meaning from its owner's start (the
 * step's time, or the start of the run for an invariant) to the end of the run. */
static void resolve_expect(struct sc__ctx *c, struct sc_expect *e, const struct sc_step *owner)
{
    resolve_value_points(c, &e->fields);
    if (e->timing != SC_TIMING_ALWAYS && e->timing != SC_TIMING_NEVER)
        return;
    const struct sc_value *span =
        sc_get(&e->fields, e->timing == SC_TIMING_ALWAYS ? "always" : "never");
    if (!span->u.span.whole) {
        point_copy(&e->from, &span->u.span.from);
        point_copy(&e->to, &span->u.span.to);
        return;
    }
    memset(&e->from, 0, sizeof(e->from));
    e->from.line = span->line;
    e->from.col = span->col;
    if (owner != NULL) {
        e->from.kind = SC_POINT_STEP;
        e->from.step = cmk_xstrdup(owner->id);
        e->from.step_index = (size_t)(owner - c->s->steps);
        e->from.at = owner->at;
    } else {
        e->from.kind = SC_POINT_OFFSET;
    }
    memset(&e->to, 0, sizeof(e->to));
    e->to.kind = SC_POINT_END;
    e->to.at = -1;
    e->to.line = span->line;
    e->to.col = span->col;
}

/* ---- names ---- */

struct def {
    enum sc_ref kind; /* TENANT, IDENTITY, VAULT, HSM, KEY, SERVER, SESSION */
    const char *name;
    const char *store; /* KEY: its vault or HSM; "" otherwise */
    int line, col, in_setup;
    size_t order;
};

struct names {
    struct def *v;
    size_t n, cap;
};

/* Vaults and HSMs share one namespace: a key reference names its store alone. */
static enum sc_ref family(enum sc_ref k)
{
    return k == SC_REF_VAULT || k == SC_REF_HSM ? SC_REF_STORE : k;
}

/* Sorted by (name, family, store, kind, order): lookups are binary searches and duplicates
 * of one name in one namespace are neighbours, so a file with 100,000 names stays fast. */
static int def_cmp(const void *a, const void *b)
{
    const struct def *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    if (r == 0 && family(x->kind) != family(y->kind))
        r = family(x->kind) < family(y->kind) ? -1 : 1;
    if (r == 0)
        r = strcmp(x->store, y->store);
    if (r == 0 && x->kind != y->kind)
        r = x->kind < y->kind ? -1 : 1;
    if (r == 0 && x->order != y->order)
        r = x->order < y->order ? -1 : 1;
    return r;
}

static int def_key_cmp(const void *key, const void *elem)
{
    struct def k = *(const struct def *)key;
    k.order = ((const struct def *)elem)->order; /* any order matches */
    return def_cmp(&k, elem);
}

static const struct def *find_kind(const struct names *t, enum sc_ref kind, const char *name,
                                   const char *store)
{
    struct def k = {.kind = kind, .name = name, .store = store ? store : ""};
    return bsearch(&k, t->v, t->n, sizeof(*t->v), def_key_cmp);
}

static const struct def *lookup(const struct names *t, enum sc_ref want, const char *name,
                                const char *store)
{
    static const enum sc_ref stores[] = {SC_REF_VAULT, SC_REF_HSM, SC_REF_NONE};
    static const enum sc_ref resources[] = {SC_REF_VAULT, SC_REF_HSM, SC_REF_IDENTITY,
                                            SC_REF_SERVER, SC_REF_NONE};
    const enum sc_ref one[] = {want, SC_REF_NONE};
    const enum sc_ref *kinds = want == SC_REF_STORE      ? stores
                               : want == SC_REF_RESOURCE ? resources
                                                         : one;
    for (; *kinds != SC_REF_NONE; kinds++) {
        const struct def *d = find_kind(t, *kinds, name, want == SC_REF_KEY ? store : NULL);
        if (d != NULL)
            return d;
    }
    return NULL;
}

static int kind_matches(enum sc_ref want, enum sc_ref have)
{
    if (want == have)
        return 1;
    if (want == SC_REF_STORE)
        return have == SC_REF_VAULT || have == SC_REF_HSM;
    if (want == SC_REF_RESOURCE)
        return have == SC_REF_VAULT || have == SC_REF_HSM || have == SC_REF_IDENTITY ||
               have == SC_REF_SERVER;
    return 0;
}

static void define(struct names *t, enum sc_ref kind, const struct sc_value *v, const char *store,
                   int in_setup)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 32;
        t->v = cmk_xrealloc(t->v, t->cap * sizeof(*t->v));
    }
    t->v[t->n] = (struct def){kind, v->u.str, store ? store : "", v->line, v->col, in_setup, t->n};
    t->n++;
}

static void define_call(struct names *t, const struct sc_call *call, int in_setup)
{
    const struct sc_action_def *a = call->action;
    if (a == NULL || a->defines == SC_REF_NONE)
        return;
    const struct sc_value *name = sc_get(&call->args, a->name_arg);
    if (name == NULL || name->type != SC_T_STRING)
        return;
    const char *store = NULL;
    if (a->defines == SC_REF_KEY) {
        store = sc_get_str(&call->args, "vault", NULL);
        if (store == NULL)
            return;
    }
    define(t, a->defines, name, store, in_setup);
}

/* Setup defines each name once per namespace; steps may delete and create it again. */
static void setup_duplicates(struct sc__ctx *c, const struct names *t)
{
    for (size_t i = 0; i < t->n;) {
        size_t j = i, first = SIZE_MAX;
        while (j < t->n && strcmp(t->v[j].name, t->v[i].name) == 0 &&
               family(t->v[j].kind) == family(t->v[i].kind) &&
               strcmp(t->v[j].store, t->v[i].store) == 0) {
            if (t->v[j].in_setup && (first == SIZE_MAX || t->v[j].order < t->v[first].order))
                first = j;
            j++;
        }
        for (size_t k = i; k < j && first != SIZE_MAX; k++) {
            const struct def *d = &t->v[k], *f = &t->v[first];
            if (k == first || !d->in_setup)
                continue;
            if (d->kind == f->kind)
                sc__error(c, d->line, d->col, "duplicate %s '%s' in setup (first at %d:%d)",
                          sc_ref_name(f->kind), d->name, f->line, f->col);
            else
                sc__error(c, d->line, d->col,
                          "duplicate name '%s' in setup: the %s at %d:%d has it already", d->name,
                          sc_ref_name(f->kind), f->line, f->col);
        }
        i = j;
    }
}

static void unknown_name(struct sc__ctx *c, const struct names *t, enum sc_ref want,
                         const char *name, const char *store, int line, int col)
{
    if (!sc__room(c)) {
        sc__error(c, 0, 0, "-");
        return;
    }
    /* Candidates in name order (the table's order), each name once. */
    const char **cands = cmk_xcalloc(t->n + 1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct def *d = &t->v[i];
        if (!kind_matches(want, d->kind) || (want == SC_REF_KEY && strcmp(d->store, store) != 0))
            continue;
        if (n == 0 || strcmp(cands[n - 1], d->name) != 0)
            cands[n++] = d->name;
    }
    struct cmk_buf b;
    cmk_buf_init(&b);
    if (want == SC_REF_KEY)
        cmk_buf_printf(&b, "unknown key '%s' in '%s'", name, store);
    else
        cmk_buf_printf(&b, "unknown %s '%s'", sc_ref_name(want), name);
    const char *near = sc__suggest(name, cands, n);
    if (near)
        cmk_buf_printf(&b, " (did you mean '%s'?)", near);
    if (n == 0) {
        cmk_buf_printf(&b, "; no %s is defined",
                       want == SC_REF_KEY ? "key there" : sc_ref_name(want));
    } else {
        cmk_buf_puts(&b, "; defined: ");
        sc__join(&b, cands, n > 20 ? 20 : n);
        if (n > 20)
            cmk_buf_puts(&b, ", ...");
    }
    sc__error(c, line, col, "%s", b.data);
    cmk_buf_close(&b);
    free(cands);
}

static void check_refs(struct sc__ctx *c, const struct names *t, const struct sc_value *v)
{
    switch (v->type) {
    case SC_T_STRING:
        if (v->field && v->field->ref != SC_REF_NONE && !v->is_null &&
            lookup(t, v->field->ref, v->u.str, NULL) == NULL)
            unknown_name(c, t, v->field->ref, v->u.str, NULL, v->line, v->col);
        break;
    case SC_T_KEYREF:
        if (v->u.key.is_uri || v->field == NULL || v->field->ref != SC_REF_KEY)
            break;
        if (lookup(t, SC_REF_STORE, v->u.key.store, NULL) == NULL)
            unknown_name(c, t, SC_REF_STORE, v->u.key.store, NULL, v->line, v->col);
        else if (lookup(t, SC_REF_KEY, v->u.key.key, v->u.key.store) == NULL)
            unknown_name(c, t, SC_REF_KEY, v->u.key.key, v->u.key.store, v->line, v->col);
        break;
    case SC_T_LIST:
        for (size_t i = 0; i < v->u.list.n; i++)
            check_refs(c, t, &v->u.list.v[i]);
        break;
    case SC_T_MAP:
        for (size_t i = 0; i < v->u.map.n; i++)
            check_refs(c, t, &v->u.map.v[i].value);
        break;
    default:
        break;
    }
}

static void resolve_names(struct sc__ctx *c)
{
    struct sc_scenario *s = c->s;
    struct names t = {0};
    static const struct sc_value builtin_tenant = {.type = SC_T_STRING, .u.str = "default"};
    static const struct sc_value builtin_admin = {.type = SC_T_STRING, .u.str = "admin"};

    define(&t, SC_REF_TENANT, &builtin_tenant, NULL, 0);
    define(&t, SC_REF_IDENTITY, &builtin_admin, NULL, 0);
    for (size_t i = 0; i < s->n_setup; i++)
        define_call(&t, &s->setup[i].call, 1);
    for (size_t i = 0; i < s->n_steps; i++)
        define_call(&t, &s->steps[i].call, 0);
    for (size_t i = 0; i < s->n_finally; i++)
        define_call(&t, &s->finally[i].call, 0);
    qsort(t.v, t.n, sizeof(*t.v), def_cmp);
    setup_duplicates(c, &t);

    for (size_t i = 0; i < s->n_setup; i++)
        check_refs(c, &t, &s->setup[i].call.args);
    for (size_t k = 0; k < 2; k++) {
        struct sc_step *v = k ? s->finally : s->steps;
        size_t n = k ? s->n_finally : s->n_steps;
        for (size_t i = 0; i < n; i++) {
            check_refs(c, &t, &v[i].call.args);
            for (size_t j = 0; j < v[i].n_expects; j++)
                check_refs(c, &t, &v[i].expects[j].fields);
        }
    }
    for (size_t i = 0; i < s->n_invariants; i++)
        check_refs(c, &t, &s->invariants[i].fields);
    free(t.v);
}

void sc__resolve(struct sc__ctx *c)
{
    struct sc_scenario *s = c->s;
    index_steps(c);
    resolve_steps(c);
    for (size_t i = 0; i < s->n_setup; i++)
        resolve_value_points(c, &s->setup[i].call.args);
    for (size_t i = 0; i < s->n_steps; i++) {
        resolve_value_points(c, &s->steps[i].call.args);
        for (size_t j = 0; j < s->steps[i].n_expects; j++)
            resolve_expect(c, &s->steps[i].expects[j], &s->steps[i]);
    }
    for (size_t i = 0; i < s->n_finally; i++) {
        resolve_value_points(c, &s->finally[i].call.args);
        for (size_t j = 0; j < s->finally[i].n_expects; j++)
            resolve_expect(c, &s->finally[i].expects[j], NULL);
    }
    for (size_t i = 0; i < s->n_invariants; i++)
        resolve_expect(c, &s->invariants[i], NULL);
    resolve_names(c);
    free(c->step_ids);
    c->step_ids = NULL;
    c->n_step_ids = 0;
}
