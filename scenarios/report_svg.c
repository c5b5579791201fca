/* report_svg.c: the swimlane picture of a run (`cmksim run --svg FILE`): one lane per server
 * coloured by its state over virtual time, a lane of steps (key, vault, identity and server
 * actions), one of faults and refused vault calls, one of connection outcomes, and one of
 * expectations met or missed. Every mark has a <title> tooltip with its details. Plain SVG
 * 1.1, no script, readable in a browser or an image viewer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/runner.h"
#include "scenarios/runner_int.h"

#define W     1200
#define LEFT  170
#define RIGHT 30
#define TOP   70
#define LANE  34
#define BAND  18

static const char *state_color(const char *s)
{
    if (s == NULL)
        return "#cccccc";
    if (strcmp(s, "Ready") == 0)
        return "#2e9e44";
    if (strcmp(s, "Inaccessible") == 0)
        return "#d62728";
    if (strcmp(s, "Disabled") == 0 || strcmp(s, "Dropping") == 0 || strcmp(s, "Deleted") == 0)
        return "#555555";
    if (strcmp(s, "Stopped") == 0 || strcmp(s, "Stopping") == 0)
        return "#9e9e9e";
    return "#6baed6"; /* Provisioning, Updating, Starting, Restarting */
}

struct lanes {
    char *names[64];
    size_t n;
};

static int lane_of(struct lanes *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return (int)i;
    if (l->n == 64)
        return -1;
    l->names[l->n] = (char *)name;
    return (int)l->n++;
}

static double xpos(cmk_time_t t, cmk_time_t t0, cmk_time_t t1)
{
    double span = (double)(t1 - t0);
    if (span <= 0)
        span = 1;
    double f = (double)(t - t0) / span;
    if (f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    return LEFT + f * (W - LEFT - RIGHT);
}

static cmk_time_t tick_step(cmk_time_t span)
{
    static const cmk_time_t steps[] = {
        CMK_SECOND,      10 * CMK_SECOND, CMK_MINUTE,   5 * CMK_MINUTE, 10 * CMK_MINUTE,
        30 * CMK_MINUTE, CMK_HOUR,        2 * CMK_HOUR, 6 * CMK_HOUR,   12 * CMK_HOUR,
        CMK_DAY,         2 * CMK_DAY,     7 * CMK_DAY,  14 * CMK_DAY,   30 * CMK_DAY};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (span / steps[i] <= 12)
            return steps[i];
    return 30 * CMK_DAY;
}

static void mark(FILE *out, double x, double y, const char *shape, const char *color,
                 const char *title_a, const char *title_b)
{
    if (strcmp(shape, "diamond") == 0)
        fprintf(out, "<path d=\"M%.1f %.1f l6 6 l-6 6 l-6 -6 z\" fill=\"%s\">", x, y - 6, color);
    else if (strcmp(shape, "cross") == 0)
        fprintf(out,
                "<path d=\"M%.1f %.1f l10 10 M%.1f %.1f l-10 10\" stroke=\"%s\" "
                "stroke-width=\"3\">",
                x - 5, y - 5, x + 5, y - 5, color);
    else if (strcmp(shape, "tick") == 0)
        fprintf(out,
                "<path d=\"M%.1f %.1f l4 5 l8 -10\" stroke=\"%s\" stroke-width=\"3\" "
                "fill=\"none\">",
                x - 6, y, color);
    else
        fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\">", x, y, color);
    fputs("<title>", out);
    sc__xml_text(out, title_a);
    if (title_b && title_b[0]) {
        fputs(": ", out);
        sc__xml_text(out, title_b);
    }
    fputs("</title>", out);
    fputs(strcmp(shape, "diamond") == 0 || strcmp(shape, "cross") == 0 || strcmp(shape, "tick") == 0
              ? "</path>\n"
              : "</circle>\n",
          out);
}

void sc_report_svg(FILE *out, const struct sc_result *r)
{
    struct lanes servers = {.n = 0};
    for (size_t i = 0; i < r->n_records; i++)
        if (r->records[i].kind == SC_REC_STATE)
            lane_of(&servers, r->records[i].subject);
    cmk_time_t t0 = r->clock_start, t1 = r->clock_end > t0 ? r->clock_end : t0 + CMK_HOUR;
    const char *fixed[] = {"steps", "vault / faults", "connections", "expectations"};
    size_t nlanes = servers.n + 4;
    int height = TOP + (int)nlanes * LANE + 80;
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Arial, sans-serif\" "
            "font-size=\"12\">\n",
            W, height, W, height);
    fprintf(out, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, height);
    fputs("<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">", out);
    sc__xml_text(out, r->name);
    fprintf(out, " (seed %llu) — %s</text>\n", (unsigned long long)r->seed,
            r->exit_code == 0 ? "passed" : "FAILED");
    char start[40];
    cmk_time_format(t0, start, sizeof(start));
    fputs("<text x=\"10\" y=\"40\" fill=\"#555\">", out);
    sc__xml_text(out, r->rules && r->rules[0] ? r->rules : "");
    fprintf(out, "%sclock start %s, virtual time from the start</text>\n",
            r->rules && r->rules[0] ? " · " : "", start);
    /* time axis */
    cmk_time_t step = tick_step(t1 - t0);
    int axis_y = TOP + (int)nlanes * LANE + 6;
    for (cmk_time_t t = t0; t <= t1; t += step) {
        double x = xpos(t, t0, t1);
        char d[32];
        cmk_duration_format(t - t0, d, sizeof(d));
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e5e5e5\"/>\n"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">+%s</text>\n",
                x, TOP - 6, x, axis_y, x, axis_y + 14, d);
    }
    /* lanes */
    for (size_t i = 0; i < nlanes; i++) {
        int y = TOP + (int)i * LANE;
        const char *label = i < servers.n ? servers.names[i] : fixed[i - servers.n];
        fprintf(out, "<text x=\"10\" y=\"%d\"%s>", y + LANE / 2 + 4,
                i < servers.n ? " font-weight=\"bold\"" : " fill=\"#333\"");
        sc__xml_text(out, label);
        fputs("</text>\n", out);
        fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#f0f0f0\"/>\n", LEFT,
                y + LANE, W - RIGHT, y + LANE);
    }
    /* server state bands */
    for (size_t s = 0; s < servers.n; s++) {
        int y = TOP + (int)s * LANE + (LANE - BAND) / 2;
        const struct sc_record *prev = NULL;
        /* Before the first change: the state it left, from the start of the run. */
        for (size_t i = 0; i < r->n_records; i++) {
            const struct sc_record *x = &r->records[i];
            if (x->kind != SC_REC_STATE || strcmp(x->subject, servers.names[s]) != 0)
                continue;
            const char *arrow = strstr(x->text, " -> ");
            if (arrow) {
                char from[32];
                snprintf(from, sizeof(from), "%.*s", (int)(arrow - x->text), x->text);
                double b = xpos(x->t, t0, t1);
                fprintf(out,
                        "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" "
                        "opacity=\"0.6\"><title>%s</title></rect>\n",
                        LEFT, y, b - LEFT < 1 ? 1 : b - LEFT, BAND, state_color(from), from);
            }
            break;
        }
        for (size_t i = 0; i <= r->n_records; i++) {
            const struct sc_record *x = i < r->n_records ? &r->records[i] : NULL;
            if (x && (x->kind != SC_REC_STATE || strcmp(x->subject, servers.names[s]) != 0))
                continue;
            if (prev) {
                double a = xpos(prev->t, t0, t1), b = xpos(x ? x->t : t1, t0, t1);
                fprintf(out,
                        "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\">"
                        "<title>",
                        a, y, b - a < 1 ? 1 : b - a, BAND, state_color(prev->state));
                sc__xml_text(out, servers.names[s]);
                fputs(": ", out);
                sc__xml_text(out, prev->text);
                fputs("</title></rect>\n", out);
                if (b - a > 60) {
                    fprintf(out, "<text x=\"%.1f\" y=\"%d\" fill=\"#fff\" font-size=\"11\">", a + 4,
                            y + BAND - 5);
                    sc__xml_text(out, prev->state);
                    fputs("</text>\n", out);
                }
            }
            prev = x;
        }
    }
    /* marks */
    double last_label = -1000;
    int stack = 0;
    for (size_t i = 0; i < r->n_records; i++) {
        const struct sc_record *x = &r->records[i];
        int lane;
        const char *shape = "dot", *color = "#1f77b4";
        switch (x->kind) {
        case SC_REC_STEP:
            lane = (int)servers.n;
            shape = "diamond";
            color = x->ok ? "#1f77b4" : "#d62728";
            break;
        case SC_REC_KEY:
            lane = (int)servers.n;
            break;
        case SC_REC_AUDIT:
        case SC_REC_FAULT:
            lane = (int)servers.n + 1;
            color = x->kind == SC_REC_FAULT ? "#ff7f0e" : "#d62728";
            break;
        case SC_REC_ACTIVITY:
            if (x->ok)
                continue;
            lane = (int)servers.n + 1;
            color = "#9467bd";
            break;
        case SC_REC_CONNECT:
            lane = (int)servers.n + 2;
            color = x->ok ? "#2e9e44" : "#d62728";
            break;
        case SC_REC_EXPECT:
            lane = (int)servers.n + 3;
            shape = x->ok ? "tick" : "cross";
            color = x->ok ? "#2e9e44" : "#d62728";
            break;
        default:
            continue;
        }
        double px = xpos(x->t, t0, t1);
        int py = TOP + lane * LANE + LANE / 2;
        mark(out, px, py, shape, color, x->subject, x->text);
        if (x->kind == SC_REC_STEP) {
            /* labels of steps close together are stacked, not drawn over each other */
            stack = px - last_label < 70 ? stack + 1 : 0;
            last_label = px;
            fprintf(out, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#333\">", px + 7,
                    stack % 2 ? py + 15 : py - 6);
            sc__xml_text(out, x->subject);
            fputs("</text>\n", out);
        }
    }
    /* legend */
    int ly = axis_y + 40;
    static const char *const states[] = {"Ready", "Inaccessible", "Provisioning", "Stopped",
                                         "Disabled"};
    int lx = LEFT;
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        fprintf(out,
                "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"10\" fill=\"%s\"/>"
                "<text x=\"%d\" y=\"%d\">%s</text>\n",
                lx, ly - 9, state_color(states[i]), lx + 18, ly, states[i]);
        lx += 110;
    }
    fprintf(out,
            "<text x=\"%d\" y=\"%d\" fill=\"#555\">◆ step · red dot: refused vault call / "
            "denied connection · ✓/✗ expectation met / missed</text>\n",
            LEFT, ly + 18);
    fputs("</svg>\n", out);
}
