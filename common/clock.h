/* clock.h: the one clock. Every "now" and every timer in cmksim goes through here.
 *
 * Time is milliseconds since the Unix epoch (cmk_time_t). Timers live in our own binary heap
 * ordered by (due, sequence), so timers due at the same instant fire in the order they were
 * started (FIFO), in every mode. Three drivers move the clock:
 *
 *   CMK_CLOCK_REAL     now is the wall clock; one libuv timer is re-armed to the next due.
 *   CMK_CLOCK_SCALED   now = start + real elapsed x factor (--speed 60 for live demos);
 *                      one libuv timer is re-armed to the real instant of the next due.
 *   CMK_CLOCK_VIRTUAL  now moves only when the caller runs the clock: runnable work is drained,
 *                      then now jumps to the next due timer (cmk_clock_run_until / _idle).
 *
 * Ownership: struct cmk_timer is embedded in its owner (libuv style); the clock only keeps a
 * pointer while the timer is active. A callback may start, stop or re-start any timer,
 * including its own. Nothing outside clock.c reads the system time (tools/check-clock).
 */
#ifndef CMK_CLOCK_H
#define CMK_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef int64_t cmk_time_t; /* milliseconds since 1970-01-01T00:00:00Z */

#define CMK_MS     ((cmk_time_t)1)
#define CMK_SECOND ((cmk_time_t)1000)
#define CMK_MINUTE (60 * CMK_SECOND)
#define CMK_HOUR   (60 * CMK_MINUTE)
#define CMK_DAY    (24 * CMK_HOUR)

enum cmk_clock_mode { CMK_CLOCK_REAL, CMK_CLOCK_SCALED, CMK_CLOCK_VIRTUAL };

struct cmk_clock;
struct cmk_timer;
typedef void (*cmk_timer_cb)(struct cmk_timer *timer);

struct cmk_timer {
    struct cmk_clock *clock;
    cmk_timer_cb cb;
    void *data; /* the owner's, untouched by the clock */
    cmk_time_t due;
    cmk_time_t period; /* 0: one-shot */
    uint64_t seq;
    size_t slot; /* index in the heap; SIZE_MAX when not active */
    /* A network timeout, measured in wall time (cmk_timer_set_elastic): a clock jump moves it
     * along instead of firing it, and a speed change rescales what is left of it. */
    int elastic;
};

struct cmk_clock {
    enum cmk_clock_mode mode;
    uv_loop_t *loop;    /* may be NULL in virtual mode */
    uv_timer_t uvtimer; /* real and scaled drivers */
    int uvtimer_open;
    cmk_time_t vnow;      /* virtual now; also the scaled origin */
    double factor;        /* scaled mode */
    uint64_t real_origin; /* monotonic ns at the scaled origin */
    struct cmk_timer **heap;
    size_t n, cap;
    uint64_t seq;
    uint64_t fired; /* timer callbacks run so far */
    int running;    /* re-entrancy guard for run_until */
};

/* clock_start for the scaled driver: begin at the wall clock's now (`cmksim serve`). */
#define CMK_CLOCK_START_NOW INT64_MIN

/* start: the initial virtual/scaled time (ignored in real mode; CMK_CLOCK_START_NOW: the wall
 * clock's now). factor: scaled mode only. */
int cmk_clock_init(struct cmk_clock *c, uv_loop_t *loop, enum cmk_clock_mode mode, cmk_time_t start,
                   double factor);
/* Stops the libuv timer (its close completes on the next loop turn); pending timers are dropped. */
void cmk_clock_close(struct cmk_clock *c);
cmk_time_t cmk_clock_now(const struct cmk_clock *c);
/* Scaled mode: change speed from now on (time stays continuous). */
void cmk_clock_set_speed(struct cmk_clock *c, double factor);
/* Virtual mode: jump forward by d (firing every timer due on the way). Scaled mode: the same
 * jump, then time keeps flowing at the current speed from there: every non-elastic timer due on
 * the way fires in (due, seq) order with now equal to its due time, elastic timers move along
 * by d. Must not be called from a timer callback. CMK_EINVAL in real mode or for d < 0. */
int cmk_clock_advance(struct cmk_clock *c, cmk_time_t d);
/* The current speed: the scaled factor (0 when paused), 1 otherwise. */
double cmk_clock_speed(const struct cmk_clock *c);
/* Clock time that passes during wall_ms of wall time at the current speed (a network timeout
 * that must stay wall_ms long whatever the speed). wall_ms while paused or not scaled. */
cmk_time_t cmk_clock_span(const struct cmk_clock *c, cmk_time_t wall_ms);
/* Mark t as a network timeout (see struct cmk_timer.elastic); call after cmk_timer_init. */
void cmk_timer_set_elastic(struct cmk_timer *t, int elastic);
/* Scaled mode: how far the clock is ahead of the wall clock now (what a restart needs to keep
 * time from moving backwards); 0 in other modes. */
cmk_time_t cmk_clock_offset(const struct cmk_clock *c);
/* Scaled mode: continue a clock that was offset ahead of the wall clock: now becomes
 * max(wall clock + offset, not_before). Call before any timer is started. */
int cmk_clock_resume(struct cmk_clock *c, cmk_time_t offset, cmk_time_t not_before);
/* Virtual mode: fire every timer due <= t in (due, seq) order, then set now = t. Returns the
 * number of callbacks run. */
uint64_t cmk_clock_run_until(struct cmk_clock *c, cmk_time_t t);
/* Virtual mode: run until no timer is pending or the next one is past limit (now stays at the
 * last fired timer). Returns callbacks run. */
uint64_t cmk_clock_run_until_idle(struct cmk_clock *c, cmk_time_t limit);
/* Due time of the earliest active timer, or -1. */
cmk_time_t cmk_clock_next_due(const struct cmk_clock *c);

void cmk_timer_init(struct cmk_clock *c, struct cmk_timer *t, cmk_timer_cb cb, void *data);
/* Start (or restart) at absolute time due; period > 0 repeats every period after that. */
void cmk_timer_start_at(struct cmk_timer *t, cmk_time_t due, cmk_time_t period);
void cmk_timer_start(struct cmk_timer *t, cmk_time_t delay, cmk_time_t period);
void cmk_timer_stop(struct cmk_timer *t);
int cmk_timer_active(const struct cmk_timer *t);

/* "90d", "1h30m", "10m", "45s", "250ms", "2w"; plain digits are seconds. */
int cmk_duration_parse(const char *s, cmk_time_t *out);
/* "1h30m" style, shortest form. */
void cmk_duration_format(cmk_time_t d, char *out, size_t n);
/* ISO 8601 UTC: "2026-11-28T08:00:00Z" (milliseconds shown only when not zero). */
void cmk_time_format(cmk_time_t t, char *out, size_t n);
/* Accepts "2026-11-28", "2026-11-28T08:00:00Z", fractional seconds, "+01:00" offsets. */
int cmk_time_parse(const char *s, cmk_time_t *out);

/* Monotonic nanoseconds, for benchmarks and profiling output only, never for emulated time. */
uint64_t cmk_clock_monotonic_ns(void);

#endif
