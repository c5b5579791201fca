/* test_clock.c: the timer heap and the three clock drivers, plus duration and ISO 8601 text.
 *
 * Ordering is checked the way a user of the clock sees it: the order callbacks run in and the
 * clock's now while they run. Real-time tests only bound what they must (a scaled timer 10 s
 * of clock time away fires after a few real milliseconds, not after seconds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/rng.h"

#define T0 ((cmk_time_t)1767225600000) /* 2026-01-01T00:00:00Z */

/* ---- ordering of a million timers ---- */

static struct {
    cmk_time_t due;
    uint64_t seq;
    size_t count;
    int bad;
} order;

static void on_order(struct cmk_timer *t)
{
    if (order.count > 0 && (t->due < order.due || (t->due == order.due && t->seq <= order.seq)))
        order.bad++;
    if (cmk_clock_now(t->clock) != t->due)
        order.bad++;
    order.due = t->due;
    order.seq = t->seq;
    order.count++;
}

static void test_million_timers_fire_in_due_seq_order(void **state)
{
    enum { N = 1000000 };
    struct cmk_clock c;
    assert_int_equal(cmk_clock_init(&c, NULL, CMK_CLOCK_VIRTUAL, T0, 0), 0);
    struct cmk_rng r;
    cmk_rng_init(&r, 42);
    struct cmk_timer *timers = calloc(N, sizeof(*timers));
    assert_non_null(timers);
    for (size_t i = 0; i < N; i++) {
        cmk_timer_init(&c, &timers[i], on_order, NULL);
        /* Only 100k distinct instants, so many timers share a due time. */
        cmk_timer_start(&timers[i], (cmk_time_t)cmk_rng_below(&r, 100000), 0);
    }
    /* Cancel every tenth; restart every hundredth (it moves to the back of its instant). */
    size_t expect = N;
    for (size_t i = 0; i < N; i += 10) {
        cmk_timer_stop(&timers[i]);
        assert_false(cmk_timer_active(&timers[i]));
        expect--;
    }
    for (size_t i = 5; i < N; i += 100)
        cmk_timer_start_at(&timers[i], timers[i].due, 0);
    memset(&order, 0, sizeof(order));
    uint64_t ran = cmk_clock_run_until(&c, T0 + 100000);
    assert_int_equal(ran, expect);
    assert_int_equal(order.count, expect);
    assert_int_equal(order.bad, 0);
    assert_int_equal(cmk_clock_next_due(&c), -1);
    assert_int_equal(cmk_clock_now(&c), T0 + 100000);
    cmk_clock_close(&c);
    free(timers);
}

/* ---- FIFO at equal due times, cancel, callbacks that change timers ---- */

static int fired_ids[64];
static size_t nfired;
static struct cmk_timer group[8];

static void on_record(struct cmk_timer *t)
{
    fired_ids[nfired++] = (int)(intptr_t)t->data;
}

static void test_equal_due_fire_fifo(void **state)
{
    struct cmk_clock c;
    cmk_clock_init(&c, NULL, CMK_CLOCK_VIRTUAL, T0, 0);
    nfired = 0;
    for (int i = 0; i < 8; i++) {
        cmk_timer_init(&c, &group[i], on_record, (void *)(intptr_t)i);
        cmk_timer_start_at(&group[i], T0 + CMK_HOUR, 0);
    }
    cmk_timer_start_at(&group[0], T0 + CMK_HOUR, 0); /* restarted: now the last of its instant */
    cmk_timer_stop(&group[3]);
    assert_int_equal(cmk_clock_run_until(&c, T0 + CMK_HOUR), 7);
    int expect[] = {1, 2, 4, 5, 6, 7, 0};
    assert_int_equal(nfired, 7);
    assert_memory_equal(fired_ids, expect, sizeof(expect));
    cmk_clock_close(&c);
}

static struct cmk_timer victim, self_stopper, spawner, spawned, late;

static void on_cancel_other(struct cmk_timer *t)
{
    on_record(t);
    cmk_timer_stop(&victim);
}

static void on_stop_self(struct cmk_timer *t)
{
    on_record(t);
    cmk_timer_stop(t); /* periodic: stopping itself inside the callback ends it */
}

static void on_spawn(struct cmk_timer *t)
{
    on_record(t);
    /* Due now: fires in this run, after what was already due at this instant. */
    cmk_timer_start(&spawned, 0, 0);
    /* Due later but before the run's target: fires in this run too. */
    cmk_timer_start(&late, 10 * CMK_MINUTE, 0);
}

static void test_callbacks_start_and_stop_timers(void **state)
{
    struct cmk_clock c;
    cmk_clock_init(&c, NULL, CMK_CLOCK_VIRTUAL, T0, 0);
    nfired = 0;
    struct cmk_timer first;
    cmk_timer_init(&c, &first, on_cancel_other, (void *)1);
    cmk_timer_init(&c, &victim, on_record, (void *)2);
    cmk_timer_init(&c, &self_stopper, on_stop_self, (void *)3);
    cmk_timer_init(&c, &spawner, on_spawn, (void *)4);
    cmk_timer_init(&c, &spawned, on_record, (void *)5);
    cmk_timer_init(&c, &late, on_record, (void *)6);
    struct cmk_timer same_instant;
    cmk_timer_init(&c, &same_instant, on_record, (void *)7);

    cmk_timer_start(&first, CMK_MINUTE, 0);
    cmk_timer_start(&victim, CMK_MINUTE, 0);
    cmk_timer_start(&self_stopper, 2 * CMK_MINUTE, CMK_MINUTE);
    cmk_timer_start(&spawner, 5 * CMK_MINUTE, 0);
    cmk_timer_start(&same_instant, 5 * CMK_MINUTE, 0);

    assert_int_equal(cmk_clock_run_until(&c, T0 + CMK_HOUR), 6);
    int expect[] = {1, 3, 4, 7, 5, 6};
    assert_int_equal(nfired, 6);
    assert_memory_equal(fired_ids, expect, sizeof(expect));
    assert_false(cmk_timer_active(&victim));
    assert_false(cmk_timer_active(&self_stopper));
    assert_int_equal(late.due, T0 + 15 * CMK_MINUTE);
    cmk_clock_close(&c);
}

/* ---- periodic timers ---- */

static int periodic_bad;
static uint64_t periodic_count;

static void on_periodic(struct cmk_timer *t)
{
    cmk_time_t start = *(cmk_time_t *)t->data;
    cmk_time_t now = cmk_clock_now(t->clock);
    periodic_count++;
    /* No drift: every firing lands exactly on start + k x 5 minutes. */
    if ((now - start) % (5 * CMK_MINUTE) != 0 ||
        now != start + (cmk_time_t)periodic_count * 5 * CMK_MINUTE)
        periodic_bad++;
}

static void test_periodic_has_no_drift(void **state)
{
    struct cmk_clock c;
    cmk_clock_init(&c, NULL, CMK_CLOCK_VIRTUAL, T0, 0);
    cmk_time_t start = T0;
    struct cmk_timer t;
    cmk_timer_init(&c, &t, on_periodic, &start);
    periodic_count = 0;
    periodic_bad = 0;
    cmk_timer_start(&t, 5 * CMK_MINUTE, 5 * CMK_MINUTE);
    assert_int_equal(cmk_clock_run_until(&c, T0 + CMK_HOUR + 1), 12);
    assert_int_equal(periodic_bad, 0);
    assert_true(cmk_timer_active(&t));
    assert_int_equal(cmk_clock_next_due(&c), T0 + 65 * CMK_MINUTE);
    /* advance(): the same thing, relative. */
    assert_int_equal(cmk_clock_advance(&c, CMK_HOUR), 0);
    assert_int_equal(periodic_count, 24);
    assert_int_equal(cmk_clock_now(&c), T0 + 2 * CMK_HOUR + 1);
    assert_int_equal(cmk_clock_advance(&c, -1), CMK_EINVAL);
    cmk_clock_close(&c);
    assert_false(cmk_timer_active(&t));
}

/* 90 virtual days of a 5-minute monitor, with a real loop drained between callbacks. */
static uv_idle_t idle;
static cmk_time_t idle_saw = -1;
static int idle_bad;
static cmk_time_t last_due;

static void on_idle(uv_idle_t *h)
{
    struct cmk_clock *c = h->data;
    /* Work scheduled by a callback runs before the clock moves on. */
    if (cmk_clock_now(c) != last_due)
        idle_bad++;
    idle_saw = cmk_clock_now(c);
    uv_idle_stop(h);
}

static void on_monitor(struct cmk_timer *t)
{
    periodic_count++;
    last_due = cmk_clock_now(t->clock);
    if (periodic_count % 1000 == 0)
        uv_idle_start(&idle, on_idle);
}

static void test_ninety_virtual_days(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct cmk_clock c;
    assert_int_equal(cmk_clock_init(&c, &loop, CMK_CLOCK_VIRTUAL, T0, 0), 0);
    uv_idle_init(&loop, &idle);
    idle.data = &c;
    idle_bad = 0;
    struct cmk_timer t;
    cmk_timer_init(&c, &t, on_monitor, NULL);
    periodic_count = 0;
    cmk_timer_start(&t, 5 * CMK_MINUTE, 5 * CMK_MINUTE);
    uint64_t ran = cmk_clock_run_until(&c, T0 + 90 * CMK_DAY);
    assert_int_equal(ran, 25920);
    assert_int_equal(periodic_count, 25920);
    assert_int_equal(cmk_clock_now(&c), T0 + 90 * CMK_DAY);
    assert_int_equal(idle_bad, 0);
    assert_int_equal(idle_saw, T0 + 25000 * 5 * CMK_MINUTE);
    cmk_clock_close(&c);
    uv_close((uv_handle_t *)&idle, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_run_until_idle(void **state)
{
    struct cmk_clock c;
    cmk_clock_init(&c, NULL, CMK_CLOCK_VIRTUAL, T0, 0);
    nfired = 0;
    struct cmk_timer a, b;
    cmk_timer_init(&c, &a, on_record, (void *)1);
    cmk_timer_init(&c, &b, on_record, (void *)2);
    cmk_timer_start(&a, CMK_HOUR, 0);
    cmk_timer_start(&b, 3 * CMK_HOUR, 0);
    assert_int_equal(cmk_clock_run_until_idle(&c, T0 + 2 * CMK_HOUR), 1);
    assert_int_equal(cmk_clock_now(&c), T0 + CMK_HOUR);
    assert_int_equal(cmk_clock_run_until_idle(&c, INT64_MAX), 1);
    assert_int_equal(cmk_clock_now(&c), T0 + 3 * CMK_HOUR);
    assert_int_equal(cmk_clock_next_due(&c), -1);
    cmk_clock_close(&c);
}

/* ---- real and scaled drivers on a real loop ---- */

static uint64_t fired_real_ns;
static cmk_time_t fired_clock;

static void on_real(struct cmk_timer *t)
{
    fired_real_ns = cmk_clock_monotonic_ns();
    fired_clock = cmk_clock_now(t->clock);
}

static void test_scaled_driver(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct cmk_clock c;
    assert_int_equal(cmk_clock_init(&c, &loop, CMK_CLOCK_SCALED, T0, 1000), 0);
    cmk_time_t now0 = cmk_clock_now(&c);
    assert_true(now0 >= T0 && now0 < T0 + 5 * CMK_SECOND);
    struct cmk_timer t;
    cmk_timer_init(&c, &t, on_real, NULL);
    uint64_t t0 = cmk_clock_monotonic_ns();
    cmk_timer_start(&t, 10 * CMK_SECOND, 0);
    cmk_time_t due = t.due;
    fired_real_ns = 0;
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once no timer is pending */
    assert_true(fired_real_ns > 0);
    uint64_t real_ms = (fired_real_ns - t0) / 1000000;
    assert_true(real_ms >= 9);   /* 10 s of clock time at x1000 */
    assert_true(real_ms < 2000); /* ...is milliseconds, not seconds (loaded CI margin) */
    assert_true(fired_clock >= due);

    /* Changing speed keeps time continuous. */
    cmk_time_t before = cmk_clock_now(&c);
    cmk_clock_set_speed(&c, 1);
    cmk_time_t after = cmk_clock_now(&c);
    assert_true(after >= before && after - before < 1000);
    cmk_clock_set_speed(&c, 1000);

    cmk_clock_close(&c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_real_driver(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct cmk_clock c;
    assert_int_equal(cmk_clock_init(&c, &loop, CMK_CLOCK_REAL, 0, 0), 0);
    cmk_time_t now0 = cmk_clock_now(&c);
    assert_true(now0 > T0); /* the wall clock is past 2026-01-01 */
    struct cmk_timer t, never;
    cmk_timer_init(&c, &t, on_real, NULL);
    cmk_timer_init(&c, &never, on_real, NULL);
    cmk_timer_start(&never, 5, 0);
    cmk_timer_start(&t, 30, 0);
    cmk_timer_stop(&never); /* the uv timer is re-armed to t */
    uint64_t t0 = cmk_clock_monotonic_ns();
    fired_real_ns = 0;
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(fired_real_ns > 0);
    assert_true((fired_real_ns - t0) / 1000000 >= 25);
    assert_true(fired_clock >= now0 + 30);
    assert_int_equal(c.fired, 1);
    cmk_clock_close(&c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- durations ---- */

static void test_duration_parse(void **state)
{
    static const struct {
        const char *s;
        cmk_time_t v;
    } good[] = {
        {"90d", 90 * CMK_DAY},
        {"1h30m", 90 * CMK_MINUTE},
        {"10m", 10 * CMK_MINUTE},
        {"45s", 45 * CMK_SECOND},
        {"250ms", 250},
        {"2w", 14 * CMK_DAY},
        {"30", 30 * CMK_SECOND},
        {"0", 0},
        {"1m30s", 90 * CMK_SECOND},
        {"1d2h3m4s5ms", CMK_DAY + 2 * CMK_HOUR + 3 * CMK_MINUTE + 4 * CMK_SECOND + 5},
        {"P90D", 90 * CMK_DAY},
        {"P2W", 14 * CMK_DAY},
        {"PT1H30M", 90 * CMK_MINUTE},
        {"P1DT12H", 36 * CMK_HOUR},
        {"PT0.5S", 500},
    };
    static const char *const bad[] = {
        "",
        "h",
        "1x",
        "-5m",
        "1.5h",
        " 1h",
        "1h ",
        "1H",
        "ms",
        "P",
        "PT",
        "P1Y",
        "P1M",
        "PT1D",
        "P1H",
        "1h-",
        "99999999999999999999",
        "9999999999999999d",
        "106751991167301d",
        "P0.5D",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cmk_time_t v = -1;
        assert_int_equal(cmk_duration_parse(good[i].s, &v), 0);
        assert_int_equal(v, good[i].v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cmk_time_t v = 0;
        int rc = cmk_duration_parse(bad[i], &v);
        if (rc == 0)
            fail_msg("accepted bad duration \"%s\"", bad[i]);
        assert_int_equal(rc, CMK_EPARSE);
    }
    assert_int_equal(cmk_duration_parse(NULL, &(cmk_time_t){0}), CMK_EPARSE);
}

static void test_duration_format(void **state)
{
    static const struct {
        cmk_time_t v;
        const char *s;
    } rows[] = {
        {0, "0s"},         {90 * CMK_DAY, "90d"},  {90 * CMK_MINUTE, "1h30m"}, {250, "250ms"},
        {1500, "1s500ms"}, {CMK_DAY + 5, "1d5ms"}, {-10 * CMK_MINUTE, "-10m"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        cmk_duration_format(rows[i].v, buf, sizeof(buf));
        assert_string_equal(buf, rows[i].s);
        if (rows[i].v >= 0) {
            cmk_time_t back;
            assert_int_equal(cmk_duration_parse(buf, &back), 0);
            assert_int_equal(back, rows[i].v);
        }
    }
    cmk_duration_format(INT64_MIN, buf, sizeof(buf)); /* must not overflow */
    assert_true(buf[0] == '-');
    cmk_duration_format(90 * CMK_MINUTE, buf, 3); /* truncated, still terminated */
    assert_string_equal(buf, "1h");
}

/* ---- ISO 8601 ---- */

static void test_time_format(void **state)
{
    char buf[64];
    cmk_time_format(T0, buf, sizeof(buf));
    assert_string_equal(buf, "2026-01-01T00:00:00Z");
    cmk_time_format(T0 + 331 * CMK_DAY + 8 * CMK_HOUR, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-28T08:00:00Z");
    cmk_time_format(T0 + 123, buf, sizeof(buf));
    assert_string_equal(buf, "2026-01-01T00:00:00.123Z");
    cmk_time_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    cmk_time_format(-1, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    cmk_time_format(951782400000, buf, sizeof(buf));
    assert_string_equal(buf, "2000-02-29T00:00:00Z");
}

static void test_time_parse(void **state)
{
    static const struct {
        const char *s;
        cmk_time_t v;
    } good[] = {
        {"2026-01-01T00:00:00Z", T0},
        {"2026-01-01", T0},
        {"2026-11-28T08:00:00Z", T0 + 331 * CMK_DAY + 8 * CMK_HOUR},
        {"2026-01-01T00:00:00.123Z", T0 + 123},
        {"2026-01-01T00:00:00.1234567Z", T0 + 123},
        {"2026-01-01T00:00:00.5Z", T0 + 500},
        {"2026-01-01T01:00:00+01:00", T0},
        {"2025-12-31T19:00:00-05:00", T0},
        {"2026-01-01T05:30:00+0530", T0},
        {"2026-01-01t00:00:00z", T0},
        {"2026-01-01 00:00:00", T0},
        {"2026-01-01T00:00Z", T0},
        {"2024-02-29T00:00:00Z", 1709164800000},
        {"1970-01-01T00:00:00Z", 0},
    };
    static const char *const bad[] = {
        "",
        "2026",
        "2026-1-01",
        "2026-13-01",
        "2026-00-10",
        "2026-02-29",
        "2026-04-31",
        "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",
        "2026-01-01T23:59:60Z",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00ZZ",
        "2026-01-01T00:00:00+1:00",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01X00:00:00Z",
        "2026-01-01T00",
        "tomorrow",
        "2026-01-01T00:00:00Z ",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cmk_time_t v = -1;
        if (cmk_time_parse(good[i].s, &v) != 0)
            fail_msg("rejected \"%s\"", good[i].s);
        assert_int_equal(v, good[i].v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cmk_time_t v;
        if (cmk_time_parse(bad[i], &v) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    /* Format and parse are inverses over a wide range. */
    struct cmk_rng r;
    cmk_rng_init(&r, 7);
    for (int i = 0; i < 100000; i++) {
        cmk_time_t t = (cmk_time_t)cmk_rng_below(&r, 253402300800000ull); /* to 9999-12-31 */
        char buf[64];
        cmk_time_t back;
        cmk_time_format(t, buf, sizeof(buf));
        assert_int_equal(cmk_time_parse(buf, &back), 0);
        assert_int_equal(back, t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million_timers_fire_in_due_seq_order),
        cmocka_unit_test(test_equal_due_fire_fifo),
        cmocka_unit_test(test_callbacks_start_and_stop_timers),
        cmocka_unit_test(test_periodic_has_no_drift),
        cmocka_unit_test(test_ninety_virtual_days),
        cmocka_unit_test(test_run_until_idle),
        cmocka_unit_test(test_scaled_driver),
        cmocka_unit_test(test_real_driver),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
