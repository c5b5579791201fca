/* test_b64.c: base64 and base64url against RFC 4648's vectors, and rejection of garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/b64.h"

static void check_decode(const char *in, const char *expect)
{
    size_t n = 12345;
    unsigned char *out = cmk_b64_decode(in, strlen(in), &n);
    if (out == NULL)
        fail_msg("rejected \"%s\"", in);
    assert_int_equal(n, strlen(expect));
    assert_memory_equal(out, expect, n);
    free(out);
}

static void test_rfc4648_vectors(void **state)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *e = cmk_b64_encode(plain[i], strlen(plain[i]), 0);
        assert_string_equal(e, std[i]);
        free(e);
        e = cmk_b64_encode(plain[i], strlen(plain[i]), 1);
        assert_string_equal(e, url[i]);
        free(e);
        check_decode(std[i], plain[i]);
        check_decode(url[i], plain[i]);
    }
}

static void test_both_alphabets(void **state)
{
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf, 0xfe};
    char *s = cmk_b64_encode(bytes, sizeof(bytes), 0);
    assert_string_equal(s, "+/+//g==");
    free(s);
    s = cmk_b64_encode(bytes, sizeof(bytes), 1);
    assert_string_equal(s, "-_-__g");
    free(s);
    static const char *const forms[] = {"+/+//g==", "-_-__g", "-_-__g==", "+/+//g"};
    for (int i = 0; i < 4; i++) {
        size_t n;
        unsigned char *out = cmk_b64_decode(forms[i], strlen(forms[i]), &n);
        assert_non_null(out);
        assert_int_equal(n, sizeof(bytes));
        assert_memory_equal(out, bytes, n);
        free(out);
    }
}

static void test_round_trip_all_lengths(void **state)
{
    unsigned char data[300];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof(data); len++) {
        for (int url = 0; url < 2; url++) {
            char *e = cmk_b64_encode(data, len, url);
            size_t n;
            unsigned char *d = cmk_b64_decode(e, strlen(e), &n);
            assert_non_null(d);
            assert_int_equal(n, len);
            assert_memory_equal(d, data, len);
            free(d);
            free(e);
        }
    }
}

static void test_rejects_garbage(void **state)
{
    static const char *const bad[] = {
        "Z",                      /* one character cannot come from an encoder */
        "Zm9vY",                  /* 5 characters: same */
        "Zg=",                    /* padding that does not complete a group */
        "Zg===",                  /* too much padding */
        "Z===",                   /* ditto */
        "Zm=9v",                  /* padding in the middle */
        "Zm9v Yg==",              /* whitespace */
        "Zm9v\nYg==", "Zm9v*g==", /* not in either alphabet */
        "=",          "====",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n;
        unsigned char *out = cmk_b64_decode(bad[i], strlen(bad[i]), &n);
        if (out != NULL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    /* An embedded NUL inside the given length is garbage too. */
    size_t n;
    assert_null(cmk_b64_decode("Zm\0v", 4, &n));
    /* The length is honoured: no reading past it. */
    unsigned char *out = cmk_b64_decode("Zm9vYmFy!!!", 8, &n);
    assert_non_null(out);
    assert_int_equal(n, 6);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_both_alphabets),
        cmocka_unit_test(test_round_trip_all_lengths),
        cmocka_unit_test(test_rejects_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
