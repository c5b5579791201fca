/* test_clock_jump.c: the scaled driver as `cmksim serve` uses it: starting at the wall clock,
 * jumping ahead (cmksim clock advance) with every timer due on the way firing at its own due
 * time, elastic (network timeout) timers moved along or rescaled instead of fired, and
 * resuming ahead of the wall clock after a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/err.h"

#define T0 ((cmk_time_t)1767225600000) /* 2026-01-01T00:00:00Z */

static cmk_time_t seen[8];
static int nseen;

static void on_fire(struct cmk_timer *t)
{
    if (nseen < 8)
        seen[nseen++] = cmk_clock_now(t->clock);
    /* A monitor-like chain: the first timer schedules a follow-up 5 minutes later. */
    if (t->data != NULL) {
        struct cmk_timer *next = t->data;
        cmk_timer_start(next, 5 * CMK_MINUTE, 0);
    }
}

static void test_starts_at_wall_clock(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct cmk_clock real, scaled;
    assert_int_equal(cmk_clock_init(&real, &loop, CMK_CLOCK_REAL, 0, 0), 0);
    assert_int_equal(cmk_clock_init(&scaled, &loop, CMK_CLOCK_SCALED, CMK_CLOCK_START_NOW, 1), 0);
    cmk_time_t a = cmk_clock_now(&real), b = cmk_clock_now(&scaled);
    assert_true(b - a > -2000 && b - a < 2000);
    assert_true(cmk_clock_offset(&scaled) > -2000 && cmk_clock_offset(&scaled) < 2000);
    assert_true(cmk_clock_speed(&scaled) == 1.0);
    assert_int_equal(cmk_clock_offset(&real), 0);

    /* A restart resumes 3 days ahead of the wall clock, never before not_before. */
    assert_int_equal(cmk_clock_resume(&scaled, 3 * CMK_DAY, 0), 0);
    cmk_time_t c = cmk_clock_now(&scaled);
    assert_true(c - a >= 3 * CMK_DAY - 2000 && c - a < 3 * CMK_DAY + 2000);
    assert_int_equal(cmk_clock_resume(&scaled, 0, a + 10 * CMK_DAY), 0);
    assert_true(cmk_clock_now(&scaled) >= a + 10 * CMK_DAY);
    assert_int_equal(cmk_clock_resume(&real, 0, 0), CMK_EINVAL);

    cmk_clock_close(&real);
    cmk_clock_close(&scaled);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_advance_fires_on_the_way(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct cmk_clock c;
    assert_int_equal(cmk_clock_init(&c, &loop, CMK_CLOCK_SCALED, T0, 1), 0);
    struct cmk_timer first, second, late, net;
    cmk_timer_init(&c, &second, on_fire, NULL);
    cmk_timer_init(&c, &first, on_fire, &second);
    cmk_timer_init(&c, &late, on_fire, NULL);
    cmk_timer_init(&c, &net, on_fire, NULL);
    cmk_timer_set_elastic(&net, 1);
    cmk_time_t now = cmk_clock_now(&c);
    cmk_timer_start_at(&first, now + 10 * CMK_MINUTE, 0);
    cmk_timer_start_at(&late, now + 2 * CMK_HOUR, 0);
    cmk_timer_start_at(&net, now + 2 * CMK_MINUTE, 0);
    nseen = 0;
    assert_int_equal(cmk_clock_advance(&c, 30 * CMK_MINUTE), 0);
    /* first at +10m, then the follow-up it started at +15m; not the late one, not the elastic */
    assert_int_equal(nseen, 2);
    assert_int_equal(seen[0], now + 10 * CMK_MINUTE);
    assert_int_equal(seen[1], now + 15 * CMK_MINUTE);
    assert_true(cmk_clock_now(&c) >= now + 30 * CMK_MINUTE);
    assert_true(cmk_clock_now(&c) < now + 30 * CMK_MINUTE + 2000);
    assert_true(cmk_timer_active(&late));
    assert_true(cmk_timer_active(&net));
    assert_int_equal(net.due, now + 32 * CMK_MINUTE); /* moved along by the jump */
    assert_int_equal(cmk_clock_advance(&c, -1), CMK_EINVAL);

    /* x60: the elastic timer's remaining 2 minutes become 2 hours of clock time. */
    cmk_time_t before = cmk_clock_now(&c);
    cmk_clock_set_speed(&c, 60);
    assert_true(cmk_clock_speed(&c) == 60.0);
    assert_int_equal(cmk_clock_span(&c, CMK_SECOND), 60 * CMK_SECOND);
    cmk_time_t left = net.due - before;
    assert_true(left > 100 * CMK_MINUTE && left <= 121 * CMK_MINUTE);
    /* paused: spans stay wall-sized so timeouts do not collapse to zero */
    cmk_clock_set_speed(&c, 0);
    assert_int_equal(cmk_clock_span(&c, CMK_SECOND), CMK_SECOND);

    cmk_clock_close(&c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_real_mode_cannot_jump(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct cmk_clock c;
    assert_int_equal(cmk_clock_init(&c, &loop, CMK_CLOCK_REAL, 0, 0), 0);
    assert_int_equal(cmk_clock_advance(&c, CMK_MINUTE), CMK_EINVAL);
    assert_int_equal(cmk_clock_span(&c, CMK_SECOND), CMK_SECOND);
    cmk_clock_close(&c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starts_at_wall_clock),
        cmocka_unit_test(test_advance_fires_on_the_way),
        cmocka_unit_test(test_real_mode_cannot_jump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
