/* parse_step.c: steps and expectations of a scenario file: the step's id and time (at,
 * after, or right after the previous step), its one action with the arguments checked against
 * the action's schema (a mapping, or the primary argument alone), and its expectations: one
 * subject, matchers, and at most one time rule. Used for steps and finally (parse.c calls
 * sc__parse_steps) and for invariants (sc__parse_expect).
 */
#include "scenarios/parse_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const step_keys[] = {"id", "at", "after", "expect", NULL};

/* "tenant.create, identity.{create,delete}, vault.{create,update,...}, ..." */
static void action_list(struct cmk_buf *b)
{
    for (int i = 0; i < SC_A_COUNT;) {
        const char *name = sc_actions[i].name, *dot = strchr(name, '.');
        size_t fam = (size_t)(dot - name);
        int j = i + 1;
        while (j < SC_A_COUNT && strncmp(sc_actions[j].name, name, fam + 1) == 0)
            j++;
        cmk_buf_printf(b, "%s%.*s", i ? ", " : "", (int)fam, name);
        if (j - i == 1) {
            cmk_buf_printf(b, ".%s", dot + 1);
        } else {
            cmk_buf_puts(b, ".{");
            for (int k = i; k < j; k++)
                cmk_buf_printf(b, "%s%s", k > i ? "," : "", strchr(sc_actions[k].name, '.') + 1);
            cmk_buf_puts(b, "}");
        }
        i = j;
    }
}

static void unknown_step_key(struct sc__ctx *c, const struct sc__node *k, const char *where)
{
    const char *cands[SC_A_COUNT + 4];
    size_t n = 0;
    if (!sc__room(c)) {
        sc__error(c, 0, 0, "-");
        return;
    }
    for (const char *const *s = step_keys; *s; s++)
        cands[n++] = *s;
    for (int i = 0; i < SC_A_COUNT; i++)
        cands[n++] = sc_actions[i].name;
    const char *near = sc__suggest(k->text, cands, n);
    char shown[64];
    sc__node_describe(k, shown, sizeof(shown));
    struct cmk_buf b;
    cmk_buf_init(&b);
    if (strchr(k->text, '.'))
        cmk_buf_printf(&b, "unknown action %s in %s", shown, where);
    else
        cmk_buf_printf(&b, "unknown key %s in %s", shown, where);
    if (near)
        cmk_buf_printf(&b, " (did you mean '%s'?)", near);
    cmk_buf_puts(&b, "; allowed keys: id, at, after, expect and one action: ");
    action_list(&b);
    sc__error(c, k->line, k->col, "%s", b.data);
    cmk_buf_close(&b);
}

/* ---- action arguments ---- */

static int one_of_check(struct sc__ctx *c, const struct sc_action_def *def,
                        const struct sc_value *args, int line, int col)
{
    if (def->one_of == NULL)
        return 0;
    size_t n = 0;
    for (; def->one_of[n]; n++)
        if (sc_get(args, def->one_of[n]))
            return 0;
    struct cmk_buf b;
    cmk_buf_init(&b);
    sc__join(&b, def->one_of, n);
    sc__error(c, line, col, "expected at least one of %s in %s", b.data, def->name);
    cmk_buf_close(&b);
    return -1;
}

/* Arguments of one call: a mapping, a scalar for the action's primary argument, or nothing
 * for an action without required arguments. */
int sc__parse_args(struct sc__ctx *c, const struct sc_action_def *def, const struct sc__node *n,
                   const char *where, int line, int col, struct sc_call *call)
{
    call->action = def;
    call->line = line;
    call->col = col;
    if (n->kind == SC__MAP) {
        if (sc__convert_map(c, n, def->args, where, &call->args) != 0)
            return -1;
        return one_of_check(c, def, &call->args, n->line, n->col);
    }
    int required = 0;
    for (const struct sc_field *f = def->args; f->key; f++)
        required += (f->flags & SC_F_REQUIRED) != 0;
    if (sc__node_is_null(n) && required == 0 && def->one_of == NULL) {
        call->args.type = SC_T_MAP;
        call->args.line = n->line;
        call->args.col = n->col;
        return 0;
    }
    if (n->kind == SC__SCALAR && !sc__node_is_null(n) && def->primary != NULL) {
        const struct sc_field *f;
        for (f = def->args; strcmp(f->key, def->primary) != 0; f++)
            ;
        struct sc_value v;
        if (sc__convert(c, n, f, f->key, &v) != 0)
            return -1;
        /* The shorthand names only the primary argument: the others must not be required. */
        for (const struct sc_field *g = def->args; g->key; g++)
            if ((g->flags & SC_F_REQUIRED) && g != f)
                sc__error(c, n->line, n->col, "missing required key '%s' in %s", g->key, where);
        call->args.type = SC_T_MAP;
        call->args.line = n->line;
        call->args.col = n->col;
        call->args.u.map.v = cmk_xcalloc(1, sizeof(struct sc_entry));
        call->args.u.map.v[0].key = cmk_xstrdup(f->key);
        call->args.u.map.v[0].line = n->line;
        call->args.u.map.v[0].col = n->col;
        call->args.u.map.v[0].value = v;
        call->args.u.map.n = 1;
        return 0;
    }
    char got[64];
    if (def->primary)
        sc__error(c, n->line, n->col,
                  "expected the arguments of %s as a mapping, or its %s alone, got %s", def->name,
                  def->primary, sc__node_describe(n, got, sizeof(got)));
    else
        sc__error(c, n->line, n->col, "expected the arguments of %s as a mapping, got %s",
                  def->name, sc__node_describe(n, got, sizeof(got)));
    return -1;
}

/* ---- expectations ---- */

static int has_matcher(const struct sc_expect *e)
{
    for (const struct sc_field *f = e->subject->matchers; f->key; f++)
        if (sc_get(&e->fields, f->key))
            return 1;
    return 0;
}

static void timing_conflict(struct sc__ctx *c, const struct sc_value *later, const char *a,
                            const char *b)
{
    sc__error(c, later->line, later->col, "expected '%s' alone, but '%s' is also given", a, b);
}

int sc__parse_expect(struct sc__ctx *c, const struct sc__node *n, int invariant, int has_action,
                     struct sc_expect *out)
{
    char got[64];
    memset(out, 0, sizeof(*out));
    out->line = n->line;
    out->col = n->col;
    if (n->kind != SC__MAP) {
        sc__error(c, n->line, n->col,
                  "expected an expectation mapping such as {server: srv1, state: Ready}, got %s",
                  sc__node_describe(n, got, sizeof(got)));
        return -1;
    }
    const struct sc__node *subject_key = NULL;
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const struct sc_subject_def *s = sc_subject_find(n->kids[i]->text);
        if (s == NULL)
            continue;
        if (out->subject != NULL && strcmp(subject_key->text, n->kids[i]->text) != 0) {
            sc__error(c, n->kids[i]->line, n->kids[i]->col,
                      "expected one subject per expectation, but '%s' follows '%s' (at %d:%d)",
                      n->kids[i]->text, subject_key->text, subject_key->line, subject_key->col);
            return -1;
        }
        out->subject = s;
        subject_key = n->kids[i];
    }
    if (out->subject == NULL) {
        struct cmk_buf b;
        cmk_buf_init(&b);
        for (int i = 0; i < SC_S_COUNT; i++)
            cmk_buf_printf(&b, "%s%s", i ? ", " : "", sc_subjects[i].name);
        sc__error(c, n->line, n->col, "expected a subject in the expectation: one of %s", b.data);
        cmk_buf_close(&b);
        return -1;
    }
    const struct sc_field *tables[3] = {out->subject->target, out->subject->matchers,
                                        sc_expect_common};
    char where[64];
    snprintf(where, sizeof(where), "%s expectation", out->subject->name);
    size_t before = c->nerr;
    sc__convert_map_multi(c, n, tables, 3, where, &out->fields);
    out->target = sc_get(&out->fields, out->subject->name);

    const struct sc_value *within = sc_get(&out->fields, "within"),
                          *window = sc_get(&out->fields, "window"),
                          *hold = sc_get(&out->fields, "hold"),
                          *always = sc_get(&out->fields, "always"),
                          *never = sc_get(&out->fields, "never"),
                          *name = sc_get(&out->fields, "name");
    if (name)
        out->name = cmk_xstrdup(name->u.str);
    if (always && never)
        timing_conflict(c, always->line > never->line ? always : never, "always", "never");
    const struct sc_value *span = always ? always : never;
    if (span && within)
        timing_conflict(c, within, "within", span == always ? "always" : "never");
    if (span && window)
        timing_conflict(c, window, "window", span == always ? "always" : "never");
    if (span && hold)
        timing_conflict(c, hold, "hold", span == always ? "always" : "never");
    if (within && window)
        timing_conflict(c, window->line > within->line ? window : within, "within", "window");
    if (invariant && span == NULL && c->nerr == before)
        sc__error(c, n->line, n->col, "expected 'always' or 'never' in an invariant");
    if (out->subject->id == SC_S_RESULT && !has_action)
        sc__error(c, subject_key->line, subject_key->col,
                  "expected 'result' only in a step with an action (it is that action's outcome)");
    if (out->subject->needs_matcher && !has_matcher(out) && c->nerr == before) {
        struct cmk_buf b;
        size_t k = 0;
        const char *names[16];
        for (const struct sc_field *f = out->subject->matchers; f->key && k < 16; f++)
            names[k++] = f->key;
        cmk_buf_init(&b);
        sc__join(&b, names, k);
        sc__error(c, n->line, n->col, "expected at least one of %s in %s", b.data, where);
        cmk_buf_close(&b);
    }
    if (c->nerr != before)
        return -1;

    out->timing = SC_TIMING_NOW;
    if (within) {
        out->timing = SC_TIMING_WITHIN;
        out->within = within->u.dur;
    } else if (window) {
        out->timing = SC_TIMING_WINDOW;
        out->window_from = window->u.window.from;
        out->window_to = window->u.window.to;
    } else if (always || never) {
        out->timing = always ? SC_TIMING_ALWAYS : SC_TIMING_NEVER;
    } else if (hold) {
        out->timing = SC_TIMING_HOLD;
    }
    if (hold)
        out->hold = hold->u.dur;
    return 0;
}

static void parse_expects(struct sc__ctx *c, const struct sc__node *n, int has_action,
                          int in_finally, struct sc_step *st)
{
    size_t count = n->kind == SC__SEQ ? n->n : 1;
    st->expects = cmk_xcalloc(count, sizeof(struct sc_expect));
    for (size_t i = 0; i < count; i++) {
        const struct sc__node *e = n->kind == SC__SEQ ? n->kids[i] : n;
        struct sc_expect *x = &st->expects[st->n_expects];
        if (sc__parse_expect(c, e, 0, has_action, x) != 0) {
            sc__expect_close(x);
            continue;
        }
        st->n_expects++;
        if (in_finally && (x->timing == SC_TIMING_ALWAYS || x->timing == SC_TIMING_NEVER)) {
            const struct sc_value *v = sc_get(&x->fields, "always");
            if (v == NULL)
                v = sc_get(&x->fields, "never");
            sc__error(c, v->line, v->col,
                      "expected within, window or hold in a finally step ('%s' spans the run: "
                      "put it in invariants)",
                      x->timing == SC_TIMING_ALWAYS ? "always" : "never");
        }
    }
}

/* ---- steps ---- */

static int valid_step_id(const char *s)
{
    cmk_time_t d;
    if (!isalpha((unsigned char)*s) && *s != '_')
        return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return 0;
    return strcmp(s, "start") != 0 && strcmp(s, "end") != 0 && cmk_duration_parse(s, &d) != 0;
}

static void parse_step(struct sc__ctx *c, const struct sc__node *n, size_t index, int in_finally,
                       struct sc_step *st)
{
    const char *list = in_finally ? "finally" : "steps";
    char where[160], got[64];

    memset(st, 0, sizeof(*st));
    st->line = n->line;
    st->col = n->col;
    st->at = in_finally ? -1 : 0;
    if (n->kind != SC__MAP) {
        snprintf(where, sizeof(where), "%s[%zu]", list, index);
        st->id = cmk_xstrdup(where);
        sc__error(c, n->line, n->col, "expected a step: a mapping with an action, got %s",
                  sc__node_describe(n, got, sizeof(got)));
        return;
    }
    const struct sc__node *id = sc__map_get(n, "id");
    if (id && id->kind == SC__SCALAR && valid_step_id(id->text)) {
        st->id = cmk_xstrdup(id->text);
        st->has_id = 1;
        snprintf(where, sizeof(where), "step '%.100s'", id->text);
    } else {
        if (id)
            sc__error(c, id->line, id->col,
                      "expected a step id of letters, digits, '_', '-' and '.' that starts with a "
                      "letter and is not start, end or a duration, got %s",
                      sc__node_describe(id, got, sizeof(got)));
        snprintf(where, sizeof(where), "%s[%zu]", list, index);
        st->id = cmk_xstrdup(where);
    }

    const struct sc__node *action_key = NULL, *expect = NULL, *at = NULL, *after = NULL;
    int unknown = 0;
    size_t *first = sc__key_firsts(n);
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const struct sc__node *k = n->kids[i], *v = n->kids[i + 1];
        if (sc__duplicate_key(c, n, first, i / 2, where) || strcmp(k->text, "id") == 0)
            continue;
        if (strcmp(k->text, "at") == 0) {
            at = k;
        } else if (strcmp(k->text, "after") == 0) {
            after = k;
        } else if (strcmp(k->text, "expect") == 0) {
            expect = v;
        } else if (sc_action_find(k->text) != NULL) {
            if (action_key != NULL) {
                sc__error(c, k->line, k->col,
                          "expected one action per step, but '%s' follows '%s' (at %d:%d)", k->text,
                          action_key->text, action_key->line, action_key->col);
                continue;
            }
            action_key = k;
            sc__parse_args(c, sc_action_find(k->text), v, sc_action_find(k->text)->name, k->line,
                           k->col, &st->call);
        } else {
            unknown_step_key(c, k, where);
            unknown = 1;
        }
    }
    free(first);

    /* When: at (from the clock start), after (a step), or right after the previous step. */
    const struct sc__node *when = at ? at : after;
    if (in_finally && when) {
        sc__error(c, when->line, when->col,
                  "expected no '%s' in a finally step: finally steps run in order at the end",
                  when->text);
    } else if (at && after) {
        const struct sc__node *later =
            at->line > after->line || (at->line == after->line && at->col > after->col) ? at
                                                                                        : after;
        sc__error(c, later->line, later->col, "expected 'at' or 'after' in a step, not both");
    } else if (at) {
        const struct sc__node *v = sc__map_get(n, "at");
        if (sc__parse_point(c, v, "at", &st->when) == 0 && st->when.kind != SC_POINT_OFFSET &&
            st->when.kind != SC_POINT_DATE) {
            sc__error(c, v->line, v->col,
                      "expected a duration from the clock start such as 1h, or a date, for 'at', "
                      "got %s (use 'after' to follow a step)",
                      sc__node_describe(v, got, sizeof(got)));
            sc__point_close(&st->when);
            memset(&st->when, 0, sizeof(st->when));
        }
    } else if (after) {
        const struct sc__node *v = sc__map_get(n, "after");
        if (sc__parse_point(c, v, "after", &st->when) == 0 && st->when.kind != SC_POINT_STEP) {
            sc__error(c, v->line, v->col,
                      "expected a step id, optionally + or - a duration, for 'after', as in "
                      "'revoke + 5m', got %s",
                      sc__node_describe(v, got, sizeof(got)));
            sc__point_close(&st->when);
            memset(&st->when, 0, sizeof(st->when));
        }
    }
    if (!in_finally && st->when.kind == SC_POINT_NONE) {
        /* Implicit: right after the previous step (resolve.c knows which), or at the start. */
        st->when.kind = SC_POINT_STEP;
        st->when.implicit = 1;
        st->when.line = n->line;
        st->when.col = n->col;
    }

    if (expect)
        parse_expects(c, expect, action_key != NULL, in_finally, st);
    if (action_key == NULL && expect == NULL && !unknown)
        sc__error(c, n->line, n->col, "expected an action or 'expect' in %s", where);
}

void sc__parse_steps(struct sc__ctx *c, const struct sc__node *n, int in_finally)
{
    struct sc_scenario *s = c->s;
    char got[64];
    if (n->kind != SC__SEQ) {
        sc__error(c, n->line, n->col, "expected a list of steps for '%s', got %s",
                  in_finally ? "finally" : "steps", sc__node_describe(n, got, sizeof(got)));
        return;
    }
    struct sc_step *v = cmk_xcalloc(n->n, sizeof(struct sc_step));
    for (size_t i = 0; i < n->n; i++)
        parse_step(c, n->kids[i], i, in_finally, &v[i]);
    if (in_finally) {
        s->finally = v;
        s->n_finally = n->n;
    } else {
        s->steps = v;
        s->n_steps = n->n;
    }
}
