/* expect.c: expectations in flight and their time rules (within, window, hold, always, never).
 *
 * An expectation is armed when its step runs (t0), or at the start of the run for an
 * invariant. From then on it is evaluated at the safe point after every change the services
 * report for its kind of subject (runner.c sets w->dirty and runs sc__expect_eval from a
 * zero-delay clock timer, so it sees the world at the instant of the change), and at its own
 * deadlines, which are clock timers too: no polling anywhere. Server state transitions are
 * queued by the listener and replayed in order, so a state that lasts zero virtual time is
 * still seen by `never` and by a `window` that must not open early. Log subjects (activity,
 * audit) count matching entries as the log listeners deliver them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scenarios/runner_int.h"

static unsigned bit(const struct sc_x *x)
{
    return 1u << x->e->subject->id;
}

static int is_log(const struct sc_x *x)
{
    return x->e->subject->id == SC_S_ACTIVITY || x->e->subject->id == SC_S_AUDIT;
}

static void rel(const struct sc_world *w, cmk_time_t t, char *out, size_t n)
{
    char d[32];
    cmk_duration_format(t - w->start < 0 ? 0 : t - w->start, d, sizeof(d));
    sc__fmt(out, n, "+%s", d);
}

static void decide(struct sc_x *x, enum sc_verdict v, const char *fmt, const char *a, const char *b)
{
    struct sc_world *w = x->w;
    cmk_timer_stop(&x->timer);
    x->st = SC_X_DONE;
    if (fmt)
        sc__outcome_set(w, x->outcome, v, x->observed, fmt, a ? a : "", b ? b : "");
    else
        sc__outcome_set(w, x->outcome, v, x->observed, NULL);
}

static int timing_span(const struct sc_x *x)
{
    return x->e->timing == SC_TIMING_ALWAYS || x->e->timing == SC_TIMING_NEVER;
}

/* The truth of a log subject from its count. */
static int log_truth(struct sc_x *x)
{
    const struct sc_value *c = sc_get(&x->e->fields, "count");
    char what[64];
    sc__fmt(what, sizeof(what), "%s entries",
            x->e->subject->id == SC_S_AUDIT ? "audit" : "activity");
    sc__fmt(x->observed, sizeof(x->observed), "%lld matching %s since %s", (long long)x->count,
            what, "");
    char since[32];
    rel(x->w, x->since, since, sizeof(since));
    sc__fmt(x->observed, sizeof(x->observed), "%lld matching %s since %s", (long long)x->count,
            what, since);
    return c ? x->count == c->u.i : x->count > 0;
}

static int observe(struct sc_x *x, const char *state_sample)
{
    if (is_log(x))
        return log_truth(x);
    return sc__observe(x->w, x, state_sample, x->observed, sizeof(x->observed));
}

static void arm_timer(struct sc_x *x, cmk_time_t due)
{
    cmk_timer_start_at(&x->timer, due, 0);
}

/* Feed one observation v (1 true, 0 false, <0 unobservable) at the current time. */
static void feed(struct sc_x *x, int v)
{
    struct sc_world *w = x->w;
    cmk_time_t now = sc__now(w);
    char a[32], b[32];
    x->last = v;
    switch (x->st) {
    case SC_X_WAIT:
        if (timing_span(x))
            return; /* its span has not started */
        if (v < 0) {
            decide(x, SC_VERDICT_ERROR, "cannot be observed: %s%s", x->observed, NULL);
            return;
        }
        if (v == 0)
            return;
        if (x->e->timing == SC_TIMING_WINDOW && now < x->early) {
            rel(w, now, a, sizeof(a));
            rel(w, x->early, b, sizeof(b));
            decide(x, SC_VERDICT_FAILED, "became true too early, at %s (the window opens at %s)", a,
                   b);
            return;
        }
        if (x->e->hold > 0) {
            x->st = SC_X_HOLDING;
            x->deadline = now + x->e->hold;
            arm_timer(x, x->deadline);
            return;
        }
        decide(x, SC_VERDICT_PASSED, NULL, NULL, NULL);
        return;
    case SC_X_HOLDING:
        if (v != 1) {
            rel(w, now, a, sizeof(a));
            rel(w, x->deadline, b, sizeof(b));
            decide(x, v < 0 ? SC_VERDICT_ERROR : SC_VERDICT_FAILED,
                   "stopped holding at %s (it had to hold until %s)", a, b);
        }
        return;
    case SC_X_ACTIVE: {
        int never = x->e->timing == SC_TIMING_NEVER;
        if (v < 0) {
            decide(x, SC_VERDICT_ERROR, "cannot be observed: %s%s", x->observed, NULL);
            return;
        }
        if ((never && v == 1) || (!never && v == 0)) {
            rel(w, now, a, sizeof(a));
            decide(x, SC_VERDICT_FAILED, never ? "happened at %s%s" : "stopped being true at %s%s",
                   a, NULL);
        }
        return;
    }
    case SC_X_IDLE:
    case SC_X_DONE:
        return;
    }
}

static void on_timer(struct cmk_timer *t)
{
    struct sc_x *x = t->data;
    struct sc_world *w = x->w;
    cmk_time_t now = sc__now(w);
    char a[32], b[32];
    w->res->events++;
    switch (x->st) {
    case SC_X_WAIT:
        if (timing_span(x)) { /* the span starts */
            x->st = SC_X_ACTIVE;
            if (is_log(x)) {
                x->since = now;
                x->count = 0;
            }
            feed(x, observe(x, NULL));
            if (x->st == SC_X_ACTIVE && x->deadline >= 0)
                arm_timer(x, x->deadline);
            return;
        }
        if (x->e->timing == SC_TIMING_WINDOW && now < x->deadline && now >= x->early &&
            x->early > x->t0) {
            feed(x, observe(x, NULL)); /* the window opens */
            if (x->st == SC_X_WAIT)
                arm_timer(x, x->deadline);
            return;
        }
        feed(x, observe(x, NULL));
        if (x->st == SC_X_WAIT) {
            char d[32];
            cmk_duration_format(x->deadline - x->t0, d, sizeof(d));
            rel(w, x->deadline, a, sizeof(a));
            decide(x, SC_VERDICT_FAILED, "not reached within %s (deadline %s)", d, a);
        }
        return;
    case SC_X_HOLDING:
        feed(x, observe(x, NULL));
        if (x->st == SC_X_HOLDING)
            decide(x, SC_VERDICT_PASSED, NULL, NULL, NULL);
        return;
    case SC_X_ACTIVE:
        feed(x, observe(x, NULL));
        if (x->st == SC_X_ACTIVE) {
            rel(w, now, b, sizeof(b));
            decide(x, SC_VERDICT_PASSED, NULL, NULL, NULL);
        }
        return;
    case SC_X_IDLE:
    case SC_X_DONE:
        return;
    }
}

/* Count the kept log entries of x's subject since x->since. */
static void log_backfill(struct sc_world *w, struct sc_x *x)
{
    json_t *hist = x->e->subject->id == SC_S_AUDIT ? w->audit : w->activity;
    size_t i;
    json_t *rec;
    json_array_foreach(hist, i, rec)
    {
        cmk_time_t t = json_integer_value(json_array_get(rec, 0));
        const char *subject = json_string_value(json_array_get(rec, 1));
        char want[CMK_ARM_ID_MAX];
        if (t < x->since || sc__log_subject(w, x->e, want, sizeof(want)) != 0 ||
            strcasecmp(subject, want) != 0)
            continue;
        if (sc__log_match(w, x->e, json_array_get(rec, 2)))
            x->count++;
    }
}

void sc__expect_arm(struct sc_world *w, const struct sc_expect *e, const struct sc_step *step,
                    int invariant, int in_finally, cmk_time_t t0)
{
    struct sc_x *x = cmk_xcalloc(1, sizeof(*x));
    x->w = w;
    x->e = e;
    x->step = step;
    x->invariant = invariant;
    x->in_finally = in_finally;
    x->t0 = t0;
    x->deadline = -1;
    char desc[512];
    if (e->name)
        sc__fmt(desc, sizeof(desc), "%s", e->name);
    else
        sc_expect_describe(e, desc, sizeof(desc));
    x->outcome = sc__outcome_add(w,
                                 invariant    ? "invariant"
                                 : in_finally ? "finally"
                                              : "expect",
                                 desc, step ? step->id : NULL, e->line, e->col, invariant);
    w->res->outcomes[x->outcome].t0 = t0 - w->start;
    cmk_timer_init(&w->rt.clock, &x->timer, on_timer, x);
    w->xs = cmk_xrealloc(w->xs, (w->n_xs + 1) * sizeof(*w->xs));
    w->xs[w->n_xs++] = x;
    x->since =
        is_log(x) && (e->timing == SC_TIMING_NOW || e->timing == SC_TIMING_HOLD) ? w->start : t0;
    if (e->subject->id == SC_S_AUDIT && e->target->type == SC_T_STRING) {
        struct sc_store *v = sc__store(w, e->target->u.str);
        if (v && v->hsm) {
            x->st = SC_X_WAIT;
            sc__fmt(x->observed, sizeof(x->observed), "the audit log of managed HSM %s", v->name);
            decide(x, SC_VERDICT_ERROR,
                   "cannot be observed: hsmsim keeps the audit log of %s apart and offers no "
                   "listener for it (hsm.h)%s",
                   v->name, "");
            return;
        }
    }
    switch (e->timing) {
    case SC_TIMING_NOW:
    case SC_TIMING_HOLD:
        x->st = SC_X_WAIT;
        x->deadline = t0;
        break;
    case SC_TIMING_WITHIN:
        x->st = SC_X_WAIT;
        x->deadline = t0 + e->within;
        break;
    case SC_TIMING_WINDOW:
        x->st = SC_X_WAIT;
        x->early = t0 + e->window_from;
        x->deadline = t0 + e->window_to;
        break;
    case SC_TIMING_ALWAYS:
    case SC_TIMING_NEVER:
        x->span_from = e->from.kind == SC_POINT_END ? -1 : w->start + e->from.at;
        if (x->span_from < t0)
            x->span_from = t0;
        x->deadline = e->to.kind == SC_POINT_END || e->to.at < 0 ? -1 : w->start + e->to.at;
        x->since = x->span_from;
        x->st = SC_X_WAIT;
        if (x->span_from > sc__now(w)) {
            arm_timer(x, x->span_from);
            return;
        }
        if (is_log(x))
            log_backfill(w, x);
        x->st = SC_X_ACTIVE;
        feed(x, observe(x, NULL));
        if (x->st == SC_X_ACTIVE && x->deadline >= 0)
            arm_timer(x, x->deadline);
        return;
    }
    if (is_log(x))
        log_backfill(w, x);
    int v = observe(x, NULL);
    if (e->timing == SC_TIMING_NOW || e->timing == SC_TIMING_HOLD) {
        if (v == 1) {
            feed(x, v);
        } else {
            decide(x, v < 0 ? SC_VERDICT_ERROR : SC_VERDICT_FAILED,
                   v < 0 ? "cannot be observed: %s%s" : "not true when checked%s%s",
                   v < 0 ? x->observed : "", NULL);
        }
        return;
    }
    if (e->timing == SC_TIMING_WINDOW && x->early == t0 && v == 1) {
        feed(x, v);
        return;
    }
    if (e->timing == SC_TIMING_WINDOW && v == 1) {
        feed(x, v); /* true before the window: a failure */
        return;
    }
    feed(x, v);
    if (x->st == SC_X_WAIT)
        arm_timer(x, e->timing == SC_TIMING_WINDOW && x->early > t0 ? x->early : x->deadline);
}

void sc__expect_log(struct sc_world *w, int audit, const json_t *entry)
{
    const char *subject;
    if (audit) {
        subject = json_string_value(json_object_get(entry, "_space"));
    } else {
        subject = json_string_value(json_object_get(entry, "resourceId"));
    }
    if (subject == NULL)
        return;
    if ((audit && w->want_audit) || (!audit && w->want_activity)) {
        json_t *keep = json_deep_copy(entry);
        json_object_del(keep, "_space");
        json_array_append_new(audit ? w->audit : w->activity,
                              json_pack("[I, s, o]", (json_int_t)sc__now(w), subject, keep));
    }
    int hit = 0;
    for (size_t i = 0; i < w->n_xs; i++) {
        struct sc_x *x = w->xs[i];
        if (!is_log(x) || x->st == SC_X_DONE || x->st == SC_X_IDLE ||
            (x->e->subject->id == SC_S_AUDIT) != audit)
            continue;
        if (x->st == SC_X_WAIT && timing_span(x))
            continue;
        char want[CMK_ARM_ID_MAX];
        if (sc__log_subject(w, x->e, want, sizeof(want)) != 0 || strcasecmp(want, subject) != 0)
            continue;
        if (sc__log_match(w, x->e, entry)) {
            x->count++;
            hit = 1;
        }
    }
    if (hit)
        sc__mark(w, 1u << (audit ? SC_S_AUDIT : SC_S_ACTIVITY));
}

void sc__expect_eval(struct sc_world *w)
{
    unsigned dirty = w->dirty;
    w->dirty = 0;
    json_t *queue = w->state_queue;
    w->state_queue = json_array();
    for (size_t i = 0; i < w->n_xs; i++) {
        struct sc_x *x = w->xs[i];
        if (x->st == SC_X_DONE || x->st == SC_X_IDLE || !(dirty & bit(x)))
            continue;
        if (x->st == SC_X_WAIT && timing_span(x))
            continue;
        /* Transient server states first, in the order they happened. */
        if (x->e->subject->id == SC_S_SERVER && sc_get(&x->e->fields, "state")) {
            struct sc_server *s = sc__server(w, x->e->target->u.str);
            size_t j;
            json_t *tr;
            json_array_foreach(queue, j, tr)
            {
                if (x->st == SC_X_DONE)
                    break;
                if (s && strcasecmp(json_string_value(json_array_get(tr, 0)), s->id) == 0)
                    feed(x, observe(x, json_string_value(json_array_get(tr, 1))));
            }
        }
        if (x->st != SC_X_DONE)
            feed(x, observe(x, NULL));
    }
    json_decref(queue);
}

int sc__expect_pending(const struct sc_world *w, int include_spans)
{
    int n = 0;
    for (size_t i = 0; i < w->n_xs; i++) {
        const struct sc_x *x = w->xs[i];
        if (x->st == SC_X_DONE || x->st == SC_X_IDLE)
            continue;
        if (timing_span(x) && (x->deadline < 0 || !include_spans))
            continue;
        n++;
    }
    return n;
}

void sc__expect_finish(struct sc_world *w, const char *why)
{
    char a[32];
    rel(w, sc__now(w), a, sizeof(a));
    for (size_t i = 0; i < w->n_xs; i++) {
        struct sc_x *x = w->xs[i];
        switch (x->st) {
        case SC_X_WAIT:
            if (timing_span(x)) {
                decide(x, SC_VERDICT_SKIPPED, "its span had not started when the run ended at %s%s",
                       a, NULL);
                break;
            }
            feed(x, observe(x, NULL));
            if (x->st == SC_X_WAIT)
                decide(x, SC_VERDICT_FAILED, "the run ended at %s (%s) before it became true", a,
                       why);
            else if (x->st == SC_X_HOLDING)
                decide(x, SC_VERDICT_FAILED, "the run ended at %s (%s) before the hold was over", a,
                       why);
            break;
        case SC_X_HOLDING:
            decide(x, SC_VERDICT_FAILED, "the run ended at %s (%s) before the hold was over", a,
                   why);
            break;
        case SC_X_ACTIVE:
            feed(x, observe(x, NULL));
            if (x->st == SC_X_ACTIVE)
                decide(x, SC_VERDICT_PASSED, NULL, NULL, NULL);
            break;
        case SC_X_IDLE:
        case SC_X_DONE:
            break;
        }
    }
}

void sc__expect_free(struct sc_world *w)
{
    for (size_t i = 0; i < w->n_xs; i++) {
        cmk_timer_stop(&w->xs[i]->timer);
        free(w->xs[i]);
    }
    free(w->xs);
    w->xs = NULL;
    w->n_xs = 0;
}
