/* report_junit.c: JUnit XML for CI (one testsuite per scenario run, one testcase per
 * expectation, invariant and implicit action check), and GitHub Actions annotations.
 *
 * A failure says what was expected, what happened (the last observed state), when (virtual
 * time from the clock start), where in the scenario file, and the exact command that reruns
 * the scenario with the same seed, so a newcomer can act on it.
 */
#include <stdio.h>
#include <string.h>

#include "scenarios/runner_int.h"

/* Text for an XML attribute or element (JUnit here, SVG in report_svg.c): the five markup
 * characters escaped, tab, LF and CR kept, other control characters dropped (XML 1.0 allows
 * them in no form, not even as character references). */
void sc__xml_text(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&apos;", out);
            break;
        default:
            if (c >= 0x20 || c == '\n' || c == '\t' || c == '\r')
                fputc(c, out);
        }
    }
}

static void offset(cmk_time_t t, char *out, size_t n)
{
    if (t < 0) {
        sc__fmt(out, n, "-");
        return;
    }
    char d[32];
    cmk_duration_format(t, d, sizeof(d));
    sc__fmt(out, n, "+%s", d);
}

static void testcase(FILE *out, const struct sc_result *r, const struct sc_outcome *o)
{
    fputs("    <testcase classname=\"", out);
    sc__xml_text(out, r->name);
    fputs("\" name=\"", out);
    if (o->step) {
        sc__xml_text(out, o->step);
        fputs(": ", out);
    } else if (o->invariant) {
        fputs("invariant: ", out);
    }
    const char *name = o->name;
    if (o->step && strncmp(name, o->step, strlen(o->step)) == 0 && name[strlen(o->step)] == ':')
        name += strlen(o->step) + 2;
    sc__xml_text(out, name);
    fprintf(out, "\" file=\"");
    sc__xml_text(out, r->file);
    fprintf(out, "\" line=\"%d\" time=\"0\"", o->line);
    if (o->verdict == SC_VERDICT_PASSED) {
        fputs("/>\n", out);
        return;
    }
    fputs(">\n", out);
    char t0[32], at[32];
    offset(o->t0, t0, sizeof(t0));
    offset(o->at, at, sizeof(at));
    const char *tag = o->verdict == SC_VERDICT_FAILED  ? "failure"
                      : o->verdict == SC_VERDICT_ERROR ? "error"
                                                       : "skipped";
    fprintf(out, "      <%s message=\"", tag);
    sc__xml_text(out, o->message                         ? o->message
                      : o->verdict == SC_VERDICT_SKIPPED ? "not reached"
                                                         : "");
    fprintf(out, "\" type=\"%s\">", o->invariant ? "InvariantBroken" : "ExpectationMissed");
    if (o->verdict != SC_VERDICT_SKIPPED) {
        fprintf(out, "%s:%d:%d: ", r->file, o->line, o->col);
        sc__xml_text(out, o->invariant ? "invariant broken: " : "expectation missed: ");
        sc__xml_text(out, o->name);
        fputs("\n  armed at ", out);
        sc__xml_text(out, t0);
        fputs(", decided at ", out);
        sc__xml_text(out, at);
        fputs(" (virtual time from the clock start)\n  why: ", out);
        sc__xml_text(out, o->message ? o->message : "");
        fputs("\n  last observed: ", out);
        sc__xml_text(out, o->observed ? o->observed : "(nothing observed)");
        fprintf(out, "\n  seed: %llu\n  reproduce: ", (unsigned long long)r->seed);
        sc__xml_text(out, r->reproduce ? r->reproduce : "");
        fputs("\n", out);
    }
    fprintf(out, "</%s>\n    </testcase>\n", tag);
}

void sc_report_junit(FILE *out, struct sc_result *const *results, size_t n)
{
    size_t tests = 0, failures = 0, errors = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sc_result *r = results[i];
        tests += r->n_outcomes + (r->error ? 1 : 0);
        errors += r->error ? 1 : 0;
        for (size_t j = 0; j < r->n_outcomes; j++) {
            failures += r->outcomes[j].verdict == SC_VERDICT_FAILED;
            errors += r->outcomes[j].verdict == SC_VERDICT_ERROR;
            skipped += r->outcomes[j].verdict == SC_VERDICT_SKIPPED;
        }
    }
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(out,
            "<testsuites name=\"cmksim scenarios\" tests=\"%zu\" failures=\"%zu\" "
            "errors=\"%zu\" skipped=\"%zu\">\n",
            tests, failures, errors, skipped);
    for (size_t i = 0; i < n; i++) {
        const struct sc_result *r = results[i];
        size_t f = 0, e = r->error ? 1 : 0, s = 0;
        for (size_t j = 0; j < r->n_outcomes; j++) {
            f += r->outcomes[j].verdict == SC_VERDICT_FAILED;
            e += r->outcomes[j].verdict == SC_VERDICT_ERROR;
            s += r->outcomes[j].verdict == SC_VERDICT_SKIPPED;
        }
        char start[40];
        cmk_time_format(r->clock_start, start, sizeof(start));
        fputs("  <testsuite name=\"", out);
        sc__xml_text(out, r->name);
        fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" ",
                r->n_outcomes + (r->error ? 1 : 0), f, e, s);
        fprintf(out, "time=\"%.3f\" file=\"", (double)r->wall_ns / 1e9);
        sc__xml_text(out, r->file);
        fputs("\">\n    <properties>\n", out);
        fprintf(out, "      <property name=\"seed\" value=\"%llu\"/>\n",
                (unsigned long long)r->seed);
        fputs("      <property name=\"rules\" value=\"", out);
        sc__xml_text(out, r->rules);
        fputs("\"/>\n      <property name=\"clock.start\" value=\"", out);
        sc__xml_text(out, start);
        char d[32];
        cmk_duration_format(r->clock_end > r->clock_start ? r->clock_end - r->clock_start : 0, d,
                            sizeof(d));
        fprintf(out, "\"/>\n      <property name=\"virtual.duration\" value=\"%s\"/>\n", d);
        fprintf(out, "      <property name=\"exit.code\" value=\"%d\"/>\n", r->exit_code);
        fputs("      <property name=\"reproduce\" value=\"", out);
        sc__xml_text(out, r->reproduce ? r->reproduce : "");
        fputs("\"/>\n    </properties>\n", out);
        if (r->error) {
            fputs("    <testcase classname=\"", out);
            sc__xml_text(out, r->name);
            fputs("\" name=\"setup and run\" time=\"0\">\n      <error message=\"", out);
            sc__xml_text(out, r->error);
            fputs("\" type=\"InternalError\">", out);
            sc__xml_text(out, r->error);
            fprintf(out, "\n  seed: %llu\n  reproduce: ", (unsigned long long)r->seed);
            sc__xml_text(out, r->reproduce ? r->reproduce : "");
            fputs("\n</error>\n    </testcase>\n", out);
        }
        for (size_t j = 0; j < r->n_outcomes; j++)
            testcase(out, r, &r->outcomes[j]);
        fputs("  </testsuite>\n", out);
    }
    fputs("</testsuites>\n", out);
}

/* %-encode what GitHub's workflow commands treat specially. */
static void gh(FILE *out, const char *s, int property)
{
    for (; s && *s; s++) {
        if (*s == '%')
            fputs("%25", out);
        else if (*s == '\r')
            fputs("%0D", out);
        else if (*s == '\n')
            fputs("%0A", out);
        else if (property && *s == ':')
            fputs("%3A", out);
        else if (property && *s == ',')
            fputs("%2C", out);
        else
            fputc(*s, out);
    }
}

void sc_report_annotations(FILE *out, const struct sc_result *r)
{
    if (r->error) {
        fputs("::error file=", out);
        gh(out, r->file, 1);
        fputs(",title=", out);
        gh(out, r->name, 1);
        fputs("::", out);
        gh(out, r->error, 0);
        fputs("\n", out);
    }
    for (size_t i = 0; i < r->n_outcomes; i++) {
        const struct sc_outcome *o = &r->outcomes[i];
        if (o->verdict != SC_VERDICT_FAILED && o->verdict != SC_VERDICT_ERROR)
            continue;
        fputs("::error file=", out);
        gh(out, r->file, 1);
        fprintf(out, ",line=%d,col=%d,title=", o->line, o->col);
        gh(out, o->invariant ? "invariant broken" : "expectation missed", 1);
        fputs("::", out);
        gh(out, o->name, 0);
        fputs(": ", out);
        gh(out, o->message ? o->message : "", 0);
        fputs(" (last observed: ", out);
        gh(out, o->observed ? o->observed : "nothing", 0);
        fprintf(out, "; seed %llu; reproduce: ", (unsigned long long)r->seed);
        gh(out, r->reproduce ? r->reproduce : "", 0);
        fputs(")\n", out);
    }
}
