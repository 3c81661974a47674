/* Unit tests for topn.c: exact counts while the keys fit, the space-saving guarantees on a
 * skewed stream larger than the table (every heavy key kept, count - error <= true <= count),
 * ordering, merging of tables, long keys and bad capacities. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/topn.h"

static void add_str(struct mw_topn *t, const char *s)
{
    mw_topn_add(t, s, strlen(s));
}

static void test_exact_small(void **state)
{
    (void)state;
    struct mw_topn *t = mw_topn_new(8, 1);
    assert_non_null(t);
    for (int i = 0; i < 5; i++)
        add_str(t, "a");
    for (int i = 0; i < 3; i++)
        add_str(t, "b");
    add_str(t, "c");
    struct mw_topn_item it[4];
    assert_int_equal(mw_topn_top(t, it, 4), 3);
    assert_int_equal(it[0].count, 5);
    assert_memory_equal(it[0].key, "a", 1);
    assert_int_equal(it[0].error, 0);
    assert_int_equal(it[1].count, 3);
    assert_int_equal(it[2].count, 1);
    assert_int_equal(mw_topn_total(t), 9);
    /* Fewer slots than keys: only the largest. */
    assert_int_equal(mw_topn_top(t, it, 1), 1);
    assert_int_equal(it[0].count, 5);
    mw_topn_reset(t);
    assert_int_equal(mw_topn_top(t, it, 4), 0);
    mw_topn_free(t);
}

/* A Zipf-like stream over 5000 keys through a table of 64: the heavy keys are all found, and
 * the bounds hold for every reported key. */
static void test_space_saving_bounds(void **state)
{
    (void)state;
    enum { KEYS = 5000, CAP = 64 };
    static uint64_t truth[KEYS];
    memset(truth, 0, sizeof(truth));
    struct mw_topn *t = mw_topn_new(CAP, 7);
    assert_non_null(t);
    srand(3);
    uint64_t total = 0;
    for (int round = 0; round < 200000; round++) {
        int k = rand() % 100 < 50 ? rand() % 10 : rand() % KEYS; /* half the stream: 10 keys */
        char key[16];
        int n = snprintf(key, sizeof(key), "k%d", k);
        mw_topn_add(t, key, (size_t)n);
        truth[k]++;
        total++;
    }
    struct mw_topn_item it[CAP];
    size_t n = mw_topn_top(t, it, CAP);
    assert_int_equal(n, CAP);
    for (size_t i = 0; i < n; i++) {
        char key[16];
        memcpy(key, it[i].key, it[i].key_len);
        key[it[i].key_len] = 0;
        uint64_t tr = truth[atoi(key + 1)];
        assert_true(it[i].count >= tr);
        assert_true(it[i].count - it[i].error <= tr);
        if (i)
            assert_true(it[i - 1].count >= it[i].count);
    }
    /* Every key above total / CAP is in the table: here keys 0..9. */
    for (int k = 0; k < 10; k++) {
        assert_true(truth[k] > total / CAP);
        char key[16];
        int kl = snprintf(key, sizeof(key), "k%d", k);
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found = found || (it[i].key_len == kl && memcmp(it[i].key, key, (size_t)kl) == 0);
        assert_true(found);
    }
    assert_int_equal(mw_topn_total(t), total);
    mw_topn_free(t);
}

static void test_merge(void **state)
{
    (void)state;
    struct mw_topn *a = mw_topn_new(4, 1), *b = mw_topn_new(4, 2);
    for (int i = 0; i < 3; i++)
        add_str(a, "x");
    add_str(a, "y");
    for (int i = 0; i < 2; i++)
        add_str(b, "x");
    for (int i = 0; i < 4; i++)
        add_str(b, "z");
    struct mw_topn_item items[8];
    size_t n = mw_topn_top(a, items, 4);
    n += mw_topn_top(b, items + n, 4);
    assert_int_equal(n, 4);
    n = mw_topn_merge(items, n, items, 2);
    assert_int_equal(n, 2);
    assert_memory_equal(items[0].key, "x", 1);
    assert_int_equal(items[0].count, 5);
    assert_memory_equal(items[1].key, "z", 1);
    assert_int_equal(items[1].count, 4);
    assert_int_equal(mw_topn_merge(items, 0, items, 2), 0);
    mw_topn_free(a);
    mw_topn_free(b);
}

/* Names are read a word at a time: the octets after the name do not count. */
static void test_add_name(void **state)
{
    (void)state;
    struct mw_topn *t = mw_topn_new(8, 1);
    uint8_t a[256], b[256];
    memset(a, 'x', sizeof(a));
    memset(b, 'y', sizeof(b));
    memcpy(a, "\3www\7example\3com\0", 18);
    memcpy(b, "\3www\7example\3com\0", 18);
    mw_topn_add_name(t, a, 18, 1);
    mw_topn_add_name(t, b, 18, 1);
    mw_topn_add_name(t, a, 16, 1); /* another key: a prefix */
    mw_topn_add_name(t, a, 255, 8);
    struct mw_topn_item it[4];
    assert_int_equal(mw_topn_top(t, it, 4), 3);
    assert_int_equal(it[0].count, 8); /* weighted */
    assert_int_equal(it[0].key_len, 255);
    assert_int_equal(it[1].count, 2);
    assert_int_equal(it[1].key_len, 18);
    assert_memory_equal(it[1].key, "\3www\7example\3com\0", 18);
    assert_int_equal(mw_topn_total(t), 11);
    mw_topn_free(t);
}

static void test_add_addr(void **state)
{
    (void)state;
    struct mw_topn *t = mw_topn_new(4, 9);
    const uint8_t v4[4] = {10, 0, 0, 7}, v4b[4] = {10, 0, 0, 8};
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
    mw_topn_add_addr(t, v4, 4, 1);
    mw_topn_add_addr(t, v4, 4, 1);
    mw_topn_add_addr(t, v4b, 4, 1);
    v6[15] = 1;
    mw_topn_add_addr(t, v6, 16, 1);
    v6[15] = 2; /* differs in the second word only */
    mw_topn_add_addr(t, v6, 16, 1);
    struct mw_topn_item it[4];
    assert_int_equal(mw_topn_top(t, it, 4), 4);
    assert_int_equal(it[0].count, 2);
    assert_int_equal(it[0].key_len, 4);
    assert_memory_equal(it[0].key, v4, 4);
    assert_int_equal(mw_topn_total(t), 5);
    mw_topn_free(t);
}

static void test_limits(void **state)
{
    (void)state;
    assert_null(mw_topn_new(0, 1));
    assert_null(mw_topn_new(65535, 1));
    mw_topn_free(NULL);
    struct mw_topn *t = mw_topn_new(1, 1);
    uint8_t big[400];
    memset(big, 'q', sizeof(big));
    mw_topn_add(t, big, sizeof(big)); /* cut to MW_TOPN_KEY_MAX */
    mw_topn_add(t, big, MW_TOPN_KEY_MAX);
    add_str(t, "other"); /* evicts with count 2 -> 3, error 2 */
    struct mw_topn_item it[1];
    assert_int_equal(mw_topn_top(t, it, 1), 1);
    assert_int_equal(it[0].count, 3);
    assert_int_equal(it[0].error, 2);
    assert_int_equal(it[0].key_len, 5);
    mw_topn_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_small), cmocka_unit_test(test_space_saving_bounds),
        cmocka_unit_test(test_merge),       cmocka_unit_test(test_add_name),
        cmocka_unit_test(test_add_addr),    cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
