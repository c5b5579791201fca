/* report_timeline.c: the readable timeline of a run (`cmksim run --timeline`): one line per
 * thing worth showing, in virtual time from the clock start, then the verdict of every
 * expectation and the result. Colours only on a terminal.
 */
#include <stdio.h>
#include <string.h>

#include "scenarios/runner_int.h"

#define C_RESET "\033[0m"
#define C_DIM   "\033[2m"
#define C_RED   "\033[31m"
#define C_GREEN "\033[32m"
#define C_YEL   "\033[33m"
#define C_BLUE  "\033[34m"
#define C_BOLD  "\033[1m"

static void when(const struct sc_result *r, cmk_time_t t, char *out, size_t n)
{
    cmk_time_t d = t - r->clock_start;
    if (d < 0)
        d = 0;
    long long s = (long long)(d / 1000);
    long long days = s / 86400;
    if (days)
        sc__fmt(out, n, "+%lldd%02lld:%02lld:%02lld", days, (s % 86400) / 3600, (s % 3600) / 60,
                s % 60);
    else
        sc__fmt(out, n, "+%02lld:%02lld:%02lld", s / 3600, (s % 3600) / 60, s % 60);
}

static const char *kind_label(enum sc_rec_kind k)
{
    switch (k) {
    case SC_REC_STEP:
        return "step";
    case SC_REC_STATE:
        return "state";
    case SC_REC_KEY:
        return "key";
    case SC_REC_ACTIVITY:
        return "activity";
    case SC_REC_AUDIT:
        return "audit";
    case SC_REC_CONNECT:
        return "client";
    case SC_REC_EXPECT:
        return "expect";
    case SC_REC_FAULT:
        return "fault";
    case SC_REC_NOTE:
        return "";
    }
    return "";
}

void sc_report_timeline(FILE *out, const struct sc_result *r, int color)
{
    const char *reset = color ? C_RESET : "", *dim = color ? C_DIM : "", *red = color ? C_RED : "",
               *green = color ? C_GREEN : "", *yel = color ? C_YEL : "",
               *blue = color ? C_BLUE : "", *bold = color ? C_BOLD : "";
    char start[40];
    cmk_time_format(r->clock_start, start, sizeof(start));
    fprintf(out, "%s%s%s  (%s, seed %llu, clock start %s)\n", bold, r->name, reset, r->file,
            (unsigned long long)r->seed, start);
    if (r->rules && r->rules[0])
        fprintf(out, "  rules: %s\n", r->rules);
    fputc('\n', out);
    for (size_t i = 0; i < r->n_records; i++) {
        const struct sc_record *x = &r->records[i];
        char t[32];
        when(r, x->t, t, sizeof(t));
        const char *c = "";
        const char *mark = "  ";
        switch (x->kind) {
        case SC_REC_STEP:
            c = bold;
            mark = "> ";
            break;
        case SC_REC_STATE:
            c = x->ok ? green : yel;
            mark = "* ";
            break;
        case SC_REC_AUDIT:
            c = red;
            mark = "! ";
            break;
        case SC_REC_ACTIVITY:
            c = x->ok ? dim : yel;
            mark = "  ";
            break;
        case SC_REC_CONNECT:
            c = x->ok ? green : red;
            mark = "  ";
            break;
        case SC_REC_EXPECT:
            c = x->ok ? green : red;
            mark = x->ok ? "ok" : "XX";
            break;
        case SC_REC_FAULT:
            c = yel;
            mark = "! ";
            break;
        case SC_REC_KEY:
            c = blue;
            break;
        case SC_REC_NOTE:
            c = dim;
            break;
        }
        if (x->kind == SC_REC_NOTE && strncmp(x->text, "setup ", 6) == 0 && x->ok)
            continue; /* setup items: one line at the end of setup is enough */
        if (x->kind == SC_REC_EXPECT) {
            fprintf(out, "%s%-11s%s %s%s %-8s %s: %.200s%s%.200s%s\n", dim, t, reset, c, mark,
                    kind_label(x->kind), x->ok ? "met" : "MISSED", x->subject, x->ok ? "" : " -- ",
                    x->ok ? "" : x->text, reset);
            continue;
        }
        size_t len = strlen(x->text);
        fprintf(out, "%s%-11s%s %s%s %-8s %-14.14s %.110s%s%s\n", dim, t, reset, c, mark,
                kind_label(x->kind), x->subject, x->text, len > 110 ? "..." : "", reset);
    }
    size_t passed = 0, failed = 0, other = 0;
    fputc('\n', out);
    for (size_t i = 0; i < r->n_outcomes; i++) {
        const struct sc_outcome *o = &r->outcomes[i];
        if (o->verdict == SC_VERDICT_PASSED)
            passed++;
        else if (o->verdict == SC_VERDICT_FAILED)
            failed++;
        else
            other++;
        const char *v = o->verdict == SC_VERDICT_PASSED   ? "pass"
                        : o->verdict == SC_VERDICT_FAILED ? "FAIL"
                        : o->verdict == SC_VERDICT_ERROR  ? "ERROR"
                                                          : "skip";
        fprintf(out, "  %s%-5s%s %s%s\n", o->verdict == SC_VERDICT_PASSED ? green : red, v, reset,
                o->invariant ? "invariant: " : "", o->name);
        if (o->verdict != SC_VERDICT_PASSED) {
            if (o->message)
                fprintf(out, "        why: %s\n", o->message);
            if (o->observed)
                fprintf(out, "        last observed: %s\n", o->observed);
            fprintf(out, "        at %s:%d:%d\n", r->file, o->line, o->col);
        }
    }
    char d[32];
    cmk_duration_format(r->clock_end > r->clock_start ? r->clock_end - r->clock_start : 0, d,
                        sizeof(d));
    if (r->error)
        fprintf(out, "\n%sERROR%s %s\n", red, reset, r->error);
    fprintf(out, "\n%s%s%s: %zu passed, %zu failed, %zu other; %s of virtual time in %.3f s\n",
            r->exit_code == 0 ? green : red,
            r->exit_code == 0   ? "PASSED"
            : r->exit_code == 1 ? "FAILED (expectation missed)"
            : r->exit_code == 2 ? "FAILED (invariant broken)"
                                : "ERROR",
            reset, passed, failed, other, d, (double)r->wall_ns / 1e9);
    if (r->exit_code != 0 && r->reproduce)
        fprintf(out, "reproduce: %s\n", r->reproduce);
}
