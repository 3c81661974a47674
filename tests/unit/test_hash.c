/* Unit tests for hash.c: the hash is a function of (seed, tag, bytes) only, every input bit
 * and the length matter (no zero-padding collisions), different seeds give unrelated hashes,
 * bucket spread over a power-of-two table is even for similar keys, and seeds are odd and not
 * repeated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "minewall/hash.h"

static void test_deterministic(void **state)
{
    (void)state;
    const char k[] = "\7example\3com";
    uint64_t a = mw_hash_bytes(42, 1, k, sizeof(k));
    char copy[sizeof(k)];
    memcpy(copy, k, sizeof(k));
    assert_true(mw_hash_bytes(42, 1, copy, sizeof(copy)) == a);
    assert_true(mw_hash_bytes(43, 1, k, sizeof(k)) != a);
    assert_true(mw_hash_bytes(42, 2, k, sizeof(k)) != a);
    assert_true(mw_hash_bytes(42, 1 + (1ull << 60), k, sizeof(k)) != a); /* high tag bits */
    /* Empty input is fine and depends on seed and tag. */
    assert_true(mw_hash_bytes(1, 0, NULL, 0) != mw_hash_bytes(2, 0, NULL, 0));
    assert_true(mw_hash_bytes(1, 0, NULL, 0) != mw_hash_bytes(1, 1, NULL, 0));
}

static void test_every_bit_and_length(void **state)
{
    (void)state;
    uint8_t buf[40] = {0};
    /* Zero bytes of different lengths differ (the tail is zero-padded inside). */
    for (size_t n = 0; n < sizeof(buf); n++)
        for (size_t m = n + 1; m < sizeof(buf); m++)
            assert_true(mw_hash_bytes(7, 0, buf, n) != mw_hash_bytes(7, 0, buf, m));
    uint64_t base = mw_hash_bytes(7, 0, buf, 23);
    for (size_t i = 0; i < 23 * 8; i++) {
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        uint64_t h = mw_hash_bytes(7, 0, buf, 23);
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_true(h != base);
        /* Avalanche, loosely: a flipped bit changes many output bits. */
        int diff = __builtin_popcountll(h ^ base);
        assert_true(diff > 10 && diff < 54);
    }
}

static void test_spread(void **state)
{
    (void)state;
    /* 64k names differing in one counter, into 4096 buckets: no bucket far from 16. */
    enum { N = 65536, B = 4096 };
    static unsigned count[B];
    memset(count, 0, sizeof(count));
    for (unsigned i = 0; i < N; i++) {
        char name[32];
        int n = snprintf(name, sizeof(name), "host%u.example", i);
        count[mw_hash_bytes(0x1234, 0, name, (size_t)n) & (B - 1)]++;
    }
    unsigned max = 0, empty = 0;
    for (unsigned i = 0; i < B; i++) {
        if (count[i] > max)
            max = count[i];
        empty += count[i] == 0;
    }
    assert_true(max < 48);
    assert_int_equal(empty, 0);
}

static void test_seeds(void **state)
{
    (void)state;
    uint64_t s[64];
    mw_hash_seed_fill(s, 64);
    for (int i = 0; i < 64; i++) {
        assert_true(s[i] & 1);
        for (int j = 0; j < i; j++)
            assert_true(s[i] != s[j]);
    }
    uint64_t a = mw_hash_seed(), b = mw_hash_seed();
    assert_true(a & 1);
    assert_true(a != b);
    assert_true(mw_hash_mix(3, 5) == 15);
    assert_true(mw_hash_mix(1ull << 63, 4) == 2); /* the high half folds into the low */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_every_bit_and_length),
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
