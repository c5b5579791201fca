/* test_rng.c: the seeded generator: reproducible, forks independent, formats as promised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"

static void test_same_seed_same_sequence(void **state)
{
    struct cmk_rng a, b, c;
    cmk_rng_init(&a, 1234);
    cmk_rng_init(&b, 1234);
    cmk_rng_init(&c, 1235);
    int differs = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t x = cmk_rng_u64(&a);
        assert_int_equal(x, cmk_rng_u64(&b));
        differs += x != cmk_rng_u64(&c);
    }
    assert_true(differs > 9990);
}

static void test_known_values(void **state)
{
    /* Pinned, so a change of algorithm (which would change every id in every trace) is seen.
     * Values from the reference splitmix64 and xoshiro256** code. */
    struct cmk_rng r;
    cmk_rng_init(&r, 0);
    assert_int_equal(r.s[0], 0xe220a8397b1dcdafull);
    assert_int_equal(r.s[1], 0x6e789e6aa1b965f4ull);
    assert_int_equal(r.s[2], 0x06c45d188009454full);
    assert_int_equal(r.s[3], 0xf88bb8a8724c81ecull);
    assert_int_equal(cmk_rng_u64(&r), 0x99ec5f36cb75f2b4ull);
}

static void test_fork_independence(void **state)
{
    struct cmk_rng root, v1, v2, c1, again;
    cmk_rng_init(&root, 99);
    cmk_rng_fork(&root, &v1, "vaultsim");
    cmk_rng_fork(&root, &c1, "controlplane");
    uint64_t c_first[16];
    for (int i = 0; i < 16; i++)
        c_first[i] = cmk_rng_u64(&c1);

    /* Draws on one fork, or on the parent, do not move another fork. */
    cmk_rng_init(&root, 99);
    cmk_rng_fork(&root, &v2, "vaultsim");
    for (int i = 0; i < 1000; i++) {
        cmk_rng_u64(&v2);
        cmk_rng_u64(&root);
    }
    cmk_rng_fork(&root, &again, "controlplane");
    for (int i = 0; i < 16; i++)
        assert_int_equal(cmk_rng_u64(&again), c_first[i]);

    /* Different names, different streams; different parent seeds, different streams. */
    struct cmk_rng other_root, v3;
    cmk_rng_init(&other_root, 100);
    cmk_rng_fork(&other_root, &v3, "vaultsim");
    cmk_rng_init(&root, 99);
    cmk_rng_fork(&root, &v1, "vaultsim");
    cmk_rng_fork(&root, &c1, "vaultsin");
    uint64_t x = cmk_rng_u64(&v1);
    assert_true(x != cmk_rng_u64(&c1));
    assert_true(x != cmk_rng_u64(&v3));
}

static void test_below_range_and_spread(void **state)
{
    struct cmk_rng r;
    cmk_rng_init(&r, 5);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t v = cmk_rng_below(&r, 7);
        assert_true(v < 7);
        counts[v]++;
    }
    for (int i = 0; i < 7; i++)
        assert_true(counts[i] > 9000 && counts[i] < 11000);
    assert_int_equal(cmk_rng_below(&r, 1), 0);
    uint64_t big = (1ull << 63) + 1; /* worst case for rejection: still terminates, in range */
    for (int i = 0; i < 1000; i++)
        assert_true(cmk_rng_below(&r, big) < big);
}

static void test_hex_and_guid_format(void **state)
{
    struct cmk_rng r;
    cmk_rng_init(&r, 77);
    char hex[33];
    cmk_rng_hex(&r, hex, 32);
    assert_int_equal(strlen(hex), 32);
    assert_int_equal(strspn(hex, "0123456789abcdef"), 32);
    char odd[8];
    cmk_rng_hex(&r, odd, 7);
    assert_int_equal(strlen(odd), 7);

    for (int i = 0; i < 1000; i++) {
        char g[37];
        cmk_rng_guid(&r, g);
        assert_int_equal(strlen(g), 36);
        for (int k = 0; k < 36; k++) {
            if (k == 8 || k == 13 || k == 18 || k == 23)
                assert_int_equal(g[k], '-');
            else
                assert_non_null(strchr("0123456789abcdef", g[k]));
        }
        assert_int_equal(g[14], '4');           /* version 4 */
        assert_non_null(strchr("89ab", g[19])); /* RFC 4122 variant */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_sequence),
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_fork_independence),
        cmocka_unit_test(test_below_range_and_spread),
        cmocka_unit_test(test_hex_and_guid_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
