/* record.c: what a run leaves behind: the records the timeline and the picture are drawn
 * from, the JSON-lines trace, and the outcomes (one JUnit testcase each).
 *
 * The trace has virtual time only ("t" from the clock, "seq" a counter) and keys sorted, so
 * two runs with one seed give byte-identical files. Records are kept for the interesting
 * things only (actions, state changes, failures): a 90-day run with millions of key checks
 * keeps a flat memory unless a trace is asked for.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/runner_int.h"

void sc__fmt(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    (void)r;
}

void sc__record(struct sc_world *w, enum sc_rec_kind kind, int ok, const char *subject,
                const char *state, const char *fmt, ...)
{
    struct sc_result *r = w->res;
    if (r->n_records == r->cap_records) {
        r->cap_records = r->cap_records ? 2 * r->cap_records : 64;
        r->records = cmk_xrealloc(r->records, r->cap_records * sizeof(*r->records));
    }
    struct sc_record *rec = &r->records[r->n_records++];
    memset(rec, 0, sizeof(*rec));
    rec->t = sc__now(w);
    rec->kind = kind;
    rec->ok = ok;
    rec->subject = cmk_xstrdup(subject ? subject : "");
    rec->state = state ? cmk_xstrdup(state) : NULL;
    struct cmk_buf b;
    cmk_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    cmk_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    rec->text = cmk_buf_take(&b, NULL);
    if (!rec->text)
        rec->text = cmk_xstrdup("");
}

void sc__trace(struct sc_world *w, const char *kind, json_t *fields)
{
    if (!w->opts->trace) {
        json_decref(fields);
        return;
    }
    if (fields == NULL)
        fields = json_object();
    char t[40];
    cmk_time_format(sc__now(w), t, sizeof(t));
    json_object_set_new(fields, "t", json_string(t));
    json_object_set_new(fields, "seq", json_integer((json_int_t)++w->seq));
    json_object_set_new(fields, "kind", json_string(kind));
    char *line = json_dumps(fields, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(fields);
    if (line) {
        /* The state directory is a fresh temporary one per run: name it, not its path. */
        size_t dl = strlen(w->dir);
        for (char *p = dl ? strstr(line, w->dir) : NULL; p; p = strstr(p, w->dir)) {
            memcpy(p, "$STATE", 6);
            memmove(p + 6, p + dl, strlen(p + dl) + 1);
        }
        cmk_buf_puts(&w->res->trace, line);
        cmk_buf_puts(&w->res->trace, "\n");
        free(line);
    }
}

size_t sc__outcome_add(struct sc_world *w, const char *kind, const char *name, const char *step,
                       int line, int col, int invariant)
{
    struct sc_result *r = w->res;
    r->outcomes = cmk_xrealloc(r->outcomes, (r->n_outcomes + 1) * sizeof(*r->outcomes));
    struct sc_outcome *o = &r->outcomes[r->n_outcomes];
    memset(o, 0, sizeof(*o));
    o->kind = cmk_xstrdup(kind);
    o->name = cmk_xstrdup(name);
    o->step = step ? cmk_xstrdup(step) : NULL;
    o->line = line;
    o->col = col;
    o->invariant = invariant;
    o->verdict = SC_VERDICT_SKIPPED;
    o->t0 = -1;
    o->at = -1;
    return r->n_outcomes++;
}

void sc__outcome_set(struct sc_world *w, size_t i, enum sc_verdict v, const char *observed,
                     const char *fmt, ...)
{
    struct sc_outcome *o = &w->res->outcomes[i];
    o->verdict = v;
    o->at = sc__now(w) - w->start;
    free(o->observed);
    o->observed = observed && observed[0] ? cmk_xstrdup(observed) : NULL;
    free(o->message);
    o->message = NULL;
    if (fmt) {
        struct cmk_buf b;
        cmk_buf_init(&b);
        va_list ap;
        va_start(ap, fmt);
        cmk_buf_vprintf(&b, fmt, ap);
        va_end(ap);
        o->message = cmk_buf_take(&b, NULL);
    }
    static const char *const names[] = {"passed", "failed", "skipped", "error"};
    json_t *f = json_pack("{s:s, s:s, s:s}", "name", o->name, "verdict", names[v], "of", o->kind);
    if (o->step)
        json_object_set_new(f, "step", json_string(o->step));
    if (o->observed)
        json_object_set_new(f, "observed", json_string(o->observed));
    if (o->message)
        json_object_set_new(f, "message", json_string(o->message));
    sc__trace(w, "expect", f);
    if (strcmp(o->kind, "action") != 0 || v != SC_VERDICT_PASSED)
        sc__record(w, SC_REC_EXPECT, v == SC_VERDICT_PASSED, o->name, NULL, "%s%s%s",
                   v == SC_VERDICT_PASSED ? "met" : names[v], o->message ? ": " : "",
                   o->message ? o->message : "");
}

void sc_result_close(struct sc_result *r)
{
    if (r == NULL)
        return;
    free(r->file);
    free(r->name);
    free(r->description);
    free(r->rules);
    free(r->error);
    free(r->reproduce);
    for (size_t i = 0; i < r->n_outcomes; i++) {
        struct sc_outcome *o = &r->outcomes[i];
        free(o->name);
        free(o->kind);
        free(o->step);
        free(o->observed);
        free(o->message);
    }
    free(r->outcomes);
    for (size_t i = 0; i < r->n_records; i++) {
        free(r->records[i].subject);
        free(r->records[i].state);
        free(r->records[i].text);
    }
    free(r->records);
    cmk_buf_close(&r->trace);
    memset(r, 0, sizeof(*r));
}
