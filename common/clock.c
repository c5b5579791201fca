/* clock.c: the one clock of cmksim: a timer heap and its three drivers (see clock.h).
 *
 * Timers sit in a binary min-heap of pointers ordered by (due, seq); seq is taken from a
 * counter each time a timer is (re)started, so equal due times fire in start order. Each
 * timer remembers its slot, which makes stop O(log n). Firing pops the top, re-inserts a
 * periodic timer at due + period (never now + period, so it does not drift) and only then
 * runs the callback, so a callback can stop or restart its own timer like any other.
 *
 * Drivers. REAL: now is CLOCK_REALTIME; one uv_timer_t is re-armed whenever the top of the
 * heap changes. SCALED: now = origin + monotonic elapsed x factor, and the uv timer is armed
 * for the real delay (due - now) / factor; it can also jump ahead (cmk_clock_advance), firing
 * what falls due on the way, and resume ahead of the wall clock after a restart. VIRTUAL: time
 * moves only in cmk_clock_run_until / _run_until_idle / _advance, which drain runnable libuv work
 * (uv_run NOWAIT, when a loop was given) between callbacks and then jump to the next due time.
 * Those functions drain the loop themselves and so must not be called from inside a libuv callback
 * (uv_run is not re-entrant).
 *
 * This is the only file allowed to read the system time (tools/check-clock).
 */
#include "clock.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "err.h"

#define NO_SLOT SIZE_MAX

/* ---- system time (the only reads in cmksim) ---- */

uint64_t cmk_clock_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static cmk_time_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (cmk_time_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

cmk_time_t cmk_clock_now(const struct cmk_clock *c)
{
    switch (c->mode) {
    case CMK_CLOCK_REAL:
        return wall_ms();
    case CMK_CLOCK_SCALED: {
        double elapsed_ms = (double)(cmk_clock_monotonic_ns() - c->real_origin) / 1e6;
        return c->vnow + (cmk_time_t)(elapsed_ms * c->factor);
    }
    case CMK_CLOCK_VIRTUAL:
        break;
    }
    return c->vnow;
}

/* ---- the heap ---- */

static int before(const struct cmk_timer *a, const struct cmk_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(struct cmk_clock *c, size_t i, struct cmk_timer *t)
{
    c->heap[i] = t;
    t->slot = i;
}

static void sift_up(struct cmk_clock *c, size_t i)
{
    struct cmk_timer *t = c->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(t, c->heap[parent]))
            break;
        heap_set(c, i, c->heap[parent]);
        i = parent;
    }
    heap_set(c, i, t);
}

static void sift_down(struct cmk_clock *c, size_t i)
{
    struct cmk_timer *t = c->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const struct cmk_timer *best = t;
        if (l < c->n && before(c->heap[l], best))
            m = l, best = c->heap[l];
        if (l + 1 < c->n && before(c->heap[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        heap_set(c, i, c->heap[m]);
        i = m;
    }
    heap_set(c, i, t);
}

static void heap_push(struct cmk_clock *c, struct cmk_timer *t)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->heap = cmk_xrealloc(c->heap, c->cap * sizeof(*c->heap));
    }
    heap_set(c, c->n++, t);
    sift_up(c, t->slot);
}

static void heap_remove(struct cmk_clock *c, struct cmk_timer *t)
{
    size_t i = t->slot;
    assert(i < c->n && c->heap[i] == t);
    t->slot = NO_SLOT;
    struct cmk_timer *last = c->heap[--c->n];
    if (i == c->n)
        return;
    heap_set(c, i, last);
    if (i > 0 && before(last, c->heap[(i - 1) / 2]))
        sift_up(c, i);
    else
        sift_down(c, i);
}

/* ---- the libuv timer of the real and scaled drivers ---- */

static void dispatch(struct cmk_clock *c, cmk_time_t target);

static void on_uv_timer(uv_timer_t *h)
{
    struct cmk_clock *c = h->data;
    dispatch(c, cmk_clock_now(c));
}

/* Point the uv timer at the real instant of the heap's top. Deferred while dispatching. */
static void rearm(struct cmk_clock *c)
{
    if (c->mode == CMK_CLOCK_VIRTUAL || !c->uvtimer_open || c->running)
        return;
    if (c->n == 0 || (c->mode == CMK_CLOCK_SCALED && c->factor <= 0)) {
        uv_timer_stop(&c->uvtimer);
        return;
    }
    cmk_time_t ahead = c->heap[0]->due - cmk_clock_now(c);
    uint64_t delay = 0;
    if (ahead > 0) {
        if (c->mode == CMK_CLOCK_SCALED)
            delay = (uint64_t)ceil((double)ahead / c->factor);
        else
            delay = (uint64_t)ahead;
    }
    /* The loop's cached time may be stale (we may be outside its callbacks). */
    uv_update_time(c->loop);
    uv_timer_start(&c->uvtimer, on_uv_timer, delay, 0);
}

/* Run t: take it off the heap, put a periodic timer back at its next due, call back. */
static void fire(struct cmk_clock *c, struct cmk_timer *t)
{
    heap_remove(c, t);
    if (c->mode == CMK_CLOCK_VIRTUAL && t->due > c->vnow)
        c->vnow = t->due;
    if (t->period > 0) {
        cmk_time_t next = t->due + t->period;
        if (c->mode == CMK_CLOCK_REAL) {
            /* After a suspend, skip the missed periods but stay in phase. */
            cmk_time_t now = wall_ms();
            if (next <= now)
                next += ((now - next) / t->period + 1) * t->period;
        }
        t->due = next;
        t->seq = c->seq++;
        heap_push(c, t);
    }
    c->fired++;
    t->cb(t);
}

/* Fire every timer due <= target, including ones started by callbacks on the way. */
static void dispatch(struct cmk_clock *c, cmk_time_t target)
{
    c->running = 1;
    while (c->n > 0 && c->heap[0]->due <= target)
        fire(c, c->heap[0]);
    c->running = 0;
    rearm(c);
}

/* ---- clock ---- */

int cmk_clock_init(struct cmk_clock *c, uv_loop_t *loop, enum cmk_clock_mode mode, cmk_time_t start,
                   double factor)
{
    memset(c, 0, sizeof(*c));
    c->mode = mode;
    c->loop = loop;
    c->factor = factor;
    c->vnow = start == CMK_CLOCK_START_NOW ? wall_ms() : start;
    switch (mode) {
    case CMK_CLOCK_VIRTUAL:
        return 0;
    case CMK_CLOCK_SCALED:
        if (!(factor > 0))
            return CMK_EINVAL;
        c->real_origin = cmk_clock_monotonic_ns();
        break;
    case CMK_CLOCK_REAL:
        c->factor = 1;
        break;
    default:
        return CMK_EINVAL;
    }
    if (loop == NULL || uv_timer_init(loop, &c->uvtimer) != 0)
        return CMK_EINVAL;
    c->uvtimer.data = c;
    c->uvtimer_open = 1;
    return 0;
}

void cmk_clock_close(struct cmk_clock *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        c->heap[i]->slot = NO_SLOT;
    free(c->heap);
    c->heap = NULL;
    c->n = c->cap = 0;
    if (c->uvtimer_open) {
        uv_timer_stop(&c->uvtimer);
        uv_close((uv_handle_t *)&c->uvtimer, NULL);
        c->uvtimer_open = 0;
    }
}

/* Restore the heap order after dues were changed in place. */
static void heapify(struct cmk_clock *c)
{
    for (size_t i = c->n / 2; i-- > 0;)
        sift_down(c, i);
}

/* Scaled mode: make now read t from this instant on. */
static void set_scaled_now(struct cmk_clock *c, cmk_time_t t)
{
    c->vnow = t;
    c->real_origin = cmk_clock_monotonic_ns();
}

void cmk_clock_set_speed(struct cmk_clock *c, double factor)
{
    if (c->mode != CMK_CLOCK_SCALED || factor < 0)
        return;
    cmk_time_t now = cmk_clock_now(c);
    set_scaled_now(c, now);
    /* A network timeout keeps its wall-time length: rescale what is left of it (not across a
     * pause, where nothing moves). */
    if (c->factor > 0 && factor > 0 && factor != c->factor) {
        int changed = 0;
        for (size_t i = 0; i < c->n; i++) {
            struct cmk_timer *t = c->heap[i];
            if (t->elastic && t->due > now) {
                t->due = now + (cmk_time_t)((double)(t->due - now) * factor / c->factor);
                changed = 1;
            }
        }
        if (changed)
            heapify(c);
    }
    c->factor = factor;
    rearm(c);
}

double cmk_clock_speed(const struct cmk_clock *c)
{
    return c->mode == CMK_CLOCK_SCALED ? c->factor : 1.0;
}

cmk_time_t cmk_clock_span(const struct cmk_clock *c, cmk_time_t wall)
{
    if (c->mode != CMK_CLOCK_SCALED || !(c->factor > 0))
        return wall;
    return (cmk_time_t)((double)wall * c->factor);
}

cmk_time_t cmk_clock_offset(const struct cmk_clock *c)
{
    return c->mode == CMK_CLOCK_SCALED ? cmk_clock_now(c) - wall_ms() : 0;
}

int cmk_clock_resume(struct cmk_clock *c, cmk_time_t offset, cmk_time_t not_before)
{
    if (c->mode != CMK_CLOCK_SCALED)
        return CMK_EINVAL;
    cmk_time_t t = wall_ms() + offset;
    set_scaled_now(c, t > not_before ? t : not_before);
    rearm(c);
    return 0;
}

/* The scaled driver's jump (cmk_clock_advance): elastic timers move along, the others due on
 * the way fire at their own due time, as the virtual driver would fire them. */
static int advance_scaled(struct cmk_clock *c, cmk_time_t d)
{
    cmk_time_t target = cmk_clock_now(c) + d;
    int changed = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->heap[i]->elastic) {
            c->heap[i]->due += d;
            changed = 1;
        }
    }
    if (changed)
        heapify(c);
    c->running = 1;
    while (c->n > 0 && c->heap[0]->due <= target) {
        struct cmk_timer *t = c->heap[0];
        if (t->due > cmk_clock_now(c))
            set_scaled_now(c, t->due);
        fire(c, t);
    }
    if (cmk_clock_now(c) < target)
        set_scaled_now(c, target);
    c->running = 0;
    rearm(c);
    return 0;
}

cmk_time_t cmk_clock_next_due(const struct cmk_clock *c)
{
    return c->n > 0 ? c->heap[0]->due : -1;
}

static void drain(struct cmk_clock *c)
{
    if (c->loop != NULL)
        uv_run(c->loop, UV_RUN_NOWAIT);
}

uint64_t cmk_clock_run_until(struct cmk_clock *c, cmk_time_t t)
{
    if (c->mode != CMK_CLOCK_VIRTUAL || c->running)
        return 0;
    uint64_t before_count = c->fired;
    c->running = 1;
    for (;;) {
        drain(c);
        if (c->n > 0 && c->heap[0]->due <= t) {
            fire(c, c->heap[0]);
            continue;
        }
        if (c->vnow < t) {
            /* Arrive at t, then give work that runs at t its chance to start timers. */
            c->vnow = t;
            continue;
        }
        break;
    }
    c->running = 0;
    return c->fired - before_count;
}

uint64_t cmk_clock_run_until_idle(struct cmk_clock *c, cmk_time_t limit)
{
    if (c->mode != CMK_CLOCK_VIRTUAL || c->running)
        return 0;
    uint64_t before_count = c->fired;
    c->running = 1;
    for (;;) {
        drain(c);
        if (c->n == 0 || c->heap[0]->due > limit)
            break;
        fire(c, c->heap[0]);
    }
    c->running = 0;
    return c->fired - before_count;
}

int cmk_clock_advance(struct cmk_clock *c, cmk_time_t d)
{
    if (c->mode == CMK_CLOCK_SCALED && !c->running && d >= 0)
        return advance_scaled(c, d);
    if (c->mode != CMK_CLOCK_VIRTUAL || c->running || d < 0)
        return CMK_EINVAL;
    cmk_clock_run_until(c, c->vnow + d);
    return 0;
}

/* ---- timers ---- */

void cmk_timer_init(struct cmk_clock *c, struct cmk_timer *t, cmk_timer_cb cb, void *data)
{
    memset(t, 0, sizeof(*t));
    t->clock = c;
    t->cb = cb;
    t->data = data;
    t->slot = NO_SLOT;
}

/* The real/scaled uv timer needs moving only when the earliest timer changed. */
static void after_change(struct cmk_clock *c, const struct cmk_timer *old_top, cmk_time_t old_due)
{
    const struct cmk_timer *top = c->n > 0 ? c->heap[0] : NULL;
    if (top != old_top || (top != NULL && top->due != old_due))
        rearm(c);
}

void cmk_timer_start_at(struct cmk_timer *t, cmk_time_t due, cmk_time_t period)
{
    struct cmk_clock *c = t->clock;
    assert(c != NULL && t->cb != NULL);
    const struct cmk_timer *old_top = c->n > 0 ? c->heap[0] : NULL;
    cmk_time_t old_due = old_top ? old_top->due : 0;
    if (t->slot != NO_SLOT)
        heap_remove(c, t);
    t->due = due;
    t->period = period > 0 ? period : 0;
    t->seq = c->seq++;
    heap_push(c, t);
    after_change(c, old_top, old_due);
}

void cmk_timer_start(struct cmk_timer *t, cmk_time_t delay, cmk_time_t period)
{
    cmk_timer_start_at(t, cmk_clock_now(t->clock) + (delay > 0 ? delay : 0), period);
}

void cmk_timer_stop(struct cmk_timer *t)
{
    if (t == NULL || t->slot == NO_SLOT)
        return;
    struct cmk_clock *c = t->clock;
    const struct cmk_timer *old_top = c->heap[0];
    cmk_time_t old_due = old_top->due;
    heap_remove(c, t);
    after_change(c, old_top, old_due);
}

int cmk_timer_active(const struct cmk_timer *t)
{
    return t->slot != NO_SLOT;
}

void cmk_timer_set_elastic(struct cmk_timer *t, int elastic)
{
    t->elastic = elastic != 0;
}

/* ---- durations ---- */

struct unit {
    const char *name;
    cmk_time_t ms;
};

/* Longest names first so "ms" is not read as "m". */
static const struct unit units[] = {
    {"ms", CMK_MS},    {"w", 7 * CMK_DAY}, {"d", CMK_DAY}, {"h", CMK_HOUR},
    {"m", CMK_MINUTE}, {"s", CMK_SECOND},  {NULL, 0},
};

/* Reads digits into *v; returns the count read, 0 on none or overflow. */
static size_t read_digits(const char *s, cmk_time_t *v)
{
    size_t i = 0;
    cmk_time_t x = 0;
    while (isdigit((unsigned char)s[i])) {
        if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, s[i] - '0', &x))
            return 0;
        i++;
    }
    *v = x;
    return i;
}

static int add_scaled(cmk_time_t *total, cmk_time_t n, cmk_time_t unit)
{
    cmk_time_t part;
    if (__builtin_mul_overflow(n, unit, &part) || __builtin_add_overflow(*total, part, total))
        return -1;
    return 0;
}

/* ISO 8601 durations as Azure writes them: P90D, P2W, PT1H30M, PT0.5S (no years or months,
 * whose length depends on the calendar). */
static int parse_iso_duration(const char *s, cmk_time_t *out)
{
    cmk_time_t total = 0;
    int in_time = 0, any = 0;
    s++; /* 'P' */
    while (*s) {
        if (*s == 'T' && !in_time) {
            in_time = 1;
            s++;
            continue;
        }
        cmk_time_t n, frac = 0;
        size_t k = read_digits(s, &n);
        if (k == 0)
            return CMK_EPARSE;
        s += k;
        if (*s == '.' || *s == ',') {
            /* A fraction is allowed on seconds only; keep milliseconds. */
            s++;
            cmk_time_t scale = 100;
            if (!isdigit((unsigned char)*s))
                return CMK_EPARSE;
            for (; isdigit((unsigned char)*s); s++, scale /= 10)
                frac += (*s - '0') * scale;
            if (!in_time || *s != 'S')
                return CMK_EPARSE;
        }
        cmk_time_t unit;
        if (!in_time && *s == 'W')
            unit = 7 * CMK_DAY;
        else if (!in_time && *s == 'D')
            unit = CMK_DAY;
        else if (in_time && *s == 'H')
            unit = CMK_HOUR;
        else if (in_time && *s == 'M')
            unit = CMK_MINUTE;
        else if (in_time && *s == 'S')
            unit = CMK_SECOND;
        else
            return CMK_EPARSE;
        if (add_scaled(&total, n, unit) != 0 || __builtin_add_overflow(total, frac, &total))
            return CMK_EPARSE;
        s++;
        any = 1;
    }
    if (!any)
        return CMK_EPARSE;
    *out = total;
    return 0;
}

int cmk_duration_parse(const char *s, cmk_time_t *out)
{
    if (s == NULL || *s == '\0')
        return CMK_EPARSE;
    if (*s == 'P')
        return parse_iso_duration(s, out);
    cmk_time_t total = 0, n;
    size_t k = read_digits(s, &n);
    if (k > 0 && s[k] == '\0') /* bare number: seconds */
        return add_scaled(&total, n, CMK_SECOND) == 0 ? (*out = total, 0) : CMK_EPARSE;
    while (*s) {
        k = read_digits(s, &n);
        if (k == 0)
            return CMK_EPARSE;
        s += k;
        const struct unit *u;
        for (u = units; u->name; u++)
            if (strncmp(s, u->name, strlen(u->name)) == 0)
                break;
        if (u->name == NULL)
            return CMK_EPARSE;
        s += strlen(u->name);
        if (add_scaled(&total, n, u->ms) != 0)
            return CMK_EPARSE;
    }
    *out = total;
    return 0;
}

void cmk_duration_format(cmk_time_t d, char *out, size_t n)
{
    static const struct unit fmt_units[] = {
        {"d", CMK_DAY}, {"h", CMK_HOUR}, {"m", CMK_MINUTE}, {"s", CMK_SECOND}, {"ms", CMK_MS},
    };
    if (n == 0)
        return;
    out[0] = '\0';
    if (d == 0) {
        snprintf(out, n, "0s");
        return;
    }
    size_t len = 0;
    /* Work on the magnitude as unsigned so INT64_MIN is fine. */
    uint64_t rest = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
    if (d < 0)
        len += (size_t)snprintf(out, n, "-");
    for (size_t i = 0; i < sizeof(fmt_units) / sizeof(fmt_units[0]) && rest > 0; i++) {
        uint64_t q = rest / (uint64_t)fmt_units[i].ms;
        rest %= (uint64_t)fmt_units[i].ms;
        if (q == 0 || len >= n)
            continue;
        len += (size_t)snprintf(out + len, n - len, "%llu%s", (unsigned long long)q,
                                fmt_units[i].name);
    }
}

/* ---- ISO 8601 calendar times (proleptic Gregorian, UTC) ---- */

/* Howard Hinnant's days_from_civil / civil_from_days. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

void cmk_time_format(cmk_time_t t, char *out, size_t n)
{
    int64_t ms = t % CMK_DAY;
    int64_t days = t / CMK_DAY;
    if (ms < 0)
        ms += CMK_DAY, days--;
    int64_t y;
    int mo, d;
    civil_from_days(days, &y, &mo, &d);
    int hh = (int)(ms / CMK_HOUR), mi = (int)(ms / CMK_MINUTE % 60),
        ss = (int)(ms / CMK_SECOND % 60), frac = (int)(ms % 1000);
    if (frac != 0)
        snprintf(out, n, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, mo, d, hh, mi, ss,
                 frac);
    else
        snprintf(out, n, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, mo, d, hh, mi, ss);
}

/* Exactly k digits at *s, advanced past them. */
static int fixed_digits(const char **s, int k, int *v)
{
    int x = 0;
    for (int i = 0; i < k; i++) {
        if (!isdigit((unsigned char)(*s)[i]))
            return -1;
        x = x * 10 + ((*s)[i] - '0');
    }
    *s += k;
    *v = x;
    return 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

int cmk_time_parse(const char *s, cmk_time_t *out)
{
    int y, mo, d, hh = 0, mi = 0, ss = 0, ms = 0, offset_min = 0;
    if (s == NULL || fixed_digits(&s, 4, &y) || *s++ != '-' || fixed_digits(&s, 2, &mo) ||
        *s++ != '-' || fixed_digits(&s, 2, &d))
        return CMK_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return CMK_EPARSE;
    if (*s == 'T' || *s == 't' || *s == ' ') {
        s++;
        if (fixed_digits(&s, 2, &hh) || *s++ != ':' || fixed_digits(&s, 2, &mi))
            return CMK_EPARSE;
        if (*s == ':') {
            s++;
            if (fixed_digits(&s, 2, &ss))
                return CMK_EPARSE;
            if (*s == '.' || *s == ',') {
                s++;
                if (!isdigit((unsigned char)*s))
                    return CMK_EPARSE;
                /* Keep milliseconds; further digits (up to .NET's 7) are truncated. */
                for (int scale = 100; isdigit((unsigned char)*s); s++, scale /= 10)
                    ms += (*s - '0') * scale;
            }
        }
        if (hh > 23 || mi > 59 || ss > 59)
            return CMK_EPARSE;
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int sign = *s++ == '-' ? -1 : 1, oh, om;
            if (fixed_digits(&s, 2, &oh))
                return CMK_EPARSE;
            if (*s == ':')
                s++;
            if (fixed_digits(&s, 2, &om) || oh > 23 || om > 59)
                return CMK_EPARSE;
            offset_min = sign * (oh * 60 + om);
        }
        /* No zone designator: UTC, the emulator's only time zone. */
    }
    if (*s != '\0')
        return CMK_EPARSE;
    *out = days_from_civil(y, mo, d) * CMK_DAY + hh * CMK_HOUR + mi * CMK_MINUTE + ss * CMK_SECOND +
           ms - offset_min * CMK_MINUTE;
    return 0;
}
