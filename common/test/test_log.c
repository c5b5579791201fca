/* test_log.c: log lines as a reader sees them, and the trace's byte-for-byte reproducibility. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/test/t_files.h"

#define T0 ((cmk_time_t)1767225600000) /* 2026-01-01T00:00:00Z */

static void test_log_lines(void **state)
{
    struct cmk_clock c;
    cmk_clock_init(&c, NULL, CMK_CLOCK_VIRTUAL, T0, 0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    cmk_log_setup(&c, out, CMK_LOG_INFO);
    cmk_info("http", "listening on %s:%d", "127.0.0.1", 8443);
    cmk_debug("http", "not shown at info");
    cmk_clock_advance(&c, 1500);
    cmk_warn("vault", "name \"%s\" has\na newline\tand \\ and \x01", "k1");
    cmk_error(NULL, "x");
    /* Already logfmt: kept as written, but still one line. */
    cmk_info("proxy", "msg=\"refused CONNECT\" host=%s port=%d", "evil.example\nlevel=error", 443);
    cmk_info("serve", "https=%s:%d", "127.0.0.1", 8443);
    cmk_log_setup(&c, out, CMK_LOG_OFF);
    cmk_error("http", "nothing at off");
    fclose(out);
    assert_string_equal(text,
                        "t=2026-01-01T00:00:00Z level=info mod=http msg=\"listening on "
                        "127.0.0.1:8443\"\n"
                        "t=2026-01-01T00:00:01.500Z level=warn mod=vault msg=\"name \\\"k1\\\" "
                        "has\\na newline\\tand \\\\ and \\x01\"\n"
                        "t=2026-01-01T00:00:01.500Z level=error mod=- msg=\"x\"\n"
                        "t=2026-01-01T00:00:01.500Z level=info mod=proxy msg=\"refused CONNECT\" "
                        "host=evil.example\\nlevel=error port=443\n"
                        "t=2026-01-01T00:00:01.500Z level=info mod=serve https=127.0.0.1:8443\n");
    free(text);
    cmk_log_setup(NULL, NULL, CMK_LOG_INFO);
    cmk_clock_close(&c);
}

static void test_level_parse(void **state)
{
    assert_int_equal(cmk_log_level_parse("debug"), CMK_LOG_DEBUG);
    assert_int_equal(cmk_log_level_parse("INFO"), CMK_LOG_INFO);
    assert_int_equal(cmk_log_level_parse("warn"), CMK_LOG_WARN);
    assert_int_equal(cmk_log_level_parse("warning"), CMK_LOG_WARN);
    assert_int_equal(cmk_log_level_parse("error"), CMK_LOG_ERROR);
    assert_int_equal(cmk_log_level_parse("off"), CMK_LOG_OFF);
    assert_int_equal(cmk_log_level_parse("loud"), CMK_LOG_INFO);
    assert_int_equal(cmk_log_level_parse(NULL), CMK_LOG_INFO);
}

/* One scenario-like run: the same steps on a fresh virtual clock. */
static void write_trace(const char *path)
{
    struct cmk_clock c;
    cmk_clock_init(&c, NULL, CMK_CLOCK_VIRTUAL, T0, 0);
    struct cmk_trace *tr = cmk_trace_open(path, &c);
    assert_non_null(tr);
    cmk_trace_emit(tr, "start", json_pack("{s:s, s:i}", "scenario", "key-disabled", "seed", 7));
    cmk_clock_advance(&c, 10 * CMK_MINUTE + 250);
    /* Keys given in any order come out sorted; caller's t/seq/kind cannot spoof ours. */
    cmk_trace_emit(tr, "state",
                   json_pack("{s:s, s:s, s:s, s:f}", "zeta", "last", "server", "pg1", "t", "spoof",
                             "ratio", 0.5));
    cmk_trace_emit(tr, "tick", NULL);
    cmk_trace_emit(tr, "value", json_integer(3));
    cmk_trace_close(tr);
    cmk_clock_close(&c);
}

static void test_trace_is_reproducible(void **state)
{
    char dir[] = "/tmp/cmk-test-log-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[64], b[64];
    snprintf(a, sizeof(a), "%s/a.jsonl", dir);
    snprintf(b, sizeof(b), "%s/b.jsonl", dir);
    write_trace(a);
    write_trace(b);
    size_t la, lb;
    char *ta = (char *)t_slurp(a, &la), *tb = (char *)t_slurp(b, &lb);
    assert_non_null(ta);
    assert_non_null(tb);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
    assert_string_equal(
        ta, "{\"kind\":\"start\",\"scenario\":\"key-disabled\",\"seed\":7,\"seq\":1,"
            "\"t\":\"2026-01-01T00:00:00Z\"}\n"
            "{\"kind\":\"state\",\"ratio\":0.5,\"seq\":2,\"server\":\"pg1\","
            "\"t\":\"2026-01-01T00:10:00.250Z\",\"zeta\":\"last\"}\n"
            "{\"kind\":\"tick\",\"seq\":3,\"t\":\"2026-01-01T00:10:00.250Z\"}\n"
            "{\"kind\":\"value\",\"seq\":4,\"t\":\"2026-01-01T00:10:00.250Z\",\"value\":3}\n");
    free(ta);
    free(tb);
    unlink(a);
    unlink(b);
    rmdir(dir);
}

static void test_trace_edges(void **state)
{
    /* No trace asked for: emitting is a no-op that still takes ownership of fields. */
    cmk_trace_emit(NULL, "x", json_object());
    cmk_trace_close(NULL);
    /* An unopenable path gives NULL and a log line, not a crash. */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cmk_log_setup(NULL, out, CMK_LOG_INFO);
    assert_null(cmk_trace_open("/nonexistent-dir/x/trace.jsonl", NULL));
    fclose(out);
    assert_non_null(strstr(text, "level=error mod=trace"));
    free(text);
    cmk_log_setup(NULL, NULL, CMK_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_lines),
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test(test_trace_is_reproducible),
        cmocka_unit_test(test_trace_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
