/* rand.c: block-buffered kernel randomness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "minewall/rand.h"

/* Draws across several blocks: no value repeats more than chance allows, every byte position
 * of the block gets used, and what was drawn is cleared from the buffer. */
static void test_u32(void **state)
{
    (void)state;
    struct mw_rand r;
    mw_rand_init(&r);
    enum { N = 1000 }; /* about 8 blocks */
    static uint32_t v[N];
    unsigned ones = 0;
    for (int i = 0; i < N; i++) {
        v[i] = mw_rand_u32(&r);
        ones += (unsigned)__builtin_popcount(v[i]);
        uint8_t zero[4] = {0};
        assert_memory_equal(r.buf + r.pos - 4, zero, 4);
    }
    unsigned same = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            same += v[i] == v[j];
    assert_true(same <= 1); /* 1000 draws of 32 bits: a repeat has odds of about 1 in 8,600 */
    /* 32,000 bits, half of them set give or take 800: 9 standard deviations either side */
    assert_in_range(ones, 32 * N / 2 - 800, 32 * N / 2 + 800);
}

/* mw_rand_uniform stays below n and hits every value of a small range about equally. */
static void test_uniform(void **state)
{
    (void)state;
    struct mw_rand r;
    mw_rand_init(&r);
    unsigned hist[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint32_t x = mw_rand_uniform(&r, 7);
        assert_true(x < 7);
        hist[x]++;
    }
    for (int i = 0; i < 7; i++)
        assert_in_range(hist[i], 850, 1150); /* 1000 expected, sd about 30 */
    for (int i = 0; i < 100; i++)
        assert_int_equal(mw_rand_uniform(&r, 1), 0);
    /* A range above 2^31: half the values rejected, none out of range. */
    for (int i = 0; i < 100; i++)
        assert_true(mw_rand_uniform(&r, 0x80000001u) < 0x80000001u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u32),
        cmocka_unit_test(test_uniform),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
