/* Unit tests for lru.c: insert, lookup by walking a bucket, touch order, removal from the
 * middle, the head and the tail, eviction of the oldest, entries that share a bucket, forget
 * and resize (every entry still found after a rehash), against a plain array as the model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "minewall/lru.h"

struct item {
    int key;
    struct mw_lru_node node;
    uint64_t hash;
};

static uint64_t item_hash(const struct mw_lru_node *n)
{
    return mw_lru_entry(n, const struct item, node)->hash;
}

static struct item *find(const struct mw_lru *t, int key, uint64_t hash)
{
    for (struct mw_lru_node *n = mw_lru_bucket(t, hash); n; n = n->hnext) {
        struct item *it = mw_lru_entry(n, struct item, node);
        if (it->hash == hash && it->key == key)
            return it;
    }
    return NULL;
}

/* The keys in LRU order, most recent first, must be want[0..n). */
static void assert_order(const struct mw_lru *t, const int *want, size_t n)
{
    size_t i = 0;
    const struct mw_lru_node *prev = NULL;
    for (const struct mw_lru_node *p = t->head; p; p = p->next, i++) {
        assert_true(i < n);
        assert_ptr_equal(p->prev, prev);
        assert_int_equal(mw_lru_entry(p, const struct item, node)->key, want[i]);
        prev = p;
    }
    assert_int_equal(i, n);
    assert_ptr_equal(t->tail, prev);
    assert_int_equal(t->count, n);
}

static void test_basic(void **state)
{
    (void)state;
    struct mw_lru t;
    assert_int_equal(mw_lru_init(&t, 3, item_hash), 0);
    assert_int_equal(t.mask + 1, 16); /* at least 16 */
    assert_null(mw_lru_oldest(&t));
    /* Hashes 1, 17 and 33 share bucket 1 of 16. */
    struct item it[5] = {{.key = 0, .hash = 1},
                         {.key = 1, .hash = 17},
                         {.key = 2, .hash = 33},
                         {.key = 3, .hash = 4},
                         {.key = 4, .hash = 5}};
    for (int i = 0; i < 5; i++)
        mw_lru_insert(&t, &it[i].node, it[i].hash);
    assert_order(&t, (int[]){4, 3, 2, 1, 0}, 5);
    for (int i = 0; i < 5; i++)
        assert_ptr_equal(find(&t, i, it[i].hash), &it[i]);
    assert_null(find(&t, 9, 1));

    mw_lru_touch(&t, &it[0].node); /* tail to head */
    mw_lru_touch(&t, &it[0].node); /* already head */
    assert_order(&t, (int[]){0, 4, 3, 2, 1}, 5);
    mw_lru_touch(&t, &it[3].node); /* middle */
    assert_order(&t, (int[]){3, 0, 4, 2, 1}, 5);

    assert_ptr_equal(mw_lru_oldest(&t), &it[1].node);
    mw_lru_remove(&t, &it[1].node, it[1].hash); /* tail, middle of its bucket chain */
    assert_null(find(&t, 1, 17));
    assert_ptr_equal(find(&t, 0, 1), &it[0]);
    assert_ptr_equal(find(&t, 2, 33), &it[2]);
    mw_lru_remove(&t, &it[3].node, it[3].hash); /* head */
    mw_lru_remove(&t, &it[4].node, it[4].hash); /* middle */
    assert_order(&t, (int[]){0, 2}, 2);

    mw_lru_forget_all(&t);
    assert_order(&t, NULL, 0);
    assert_null(find(&t, 0, 1));
    mw_lru_deinit(&t);
    mw_lru_deinit(&t); /* idempotent on a deinit'ed table */
}

static void test_resize_and_model(void **state)
{
    (void)state;
    enum { N = 3000, LIMIT = 1000 };
    struct mw_lru t;
    assert_int_equal(mw_lru_init(&t, 16, item_hash), 0);
    struct item *items = calloc(N, sizeof(*items));
    assert_non_null(items);
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        items[i] = (struct item){.key = i, .hash = x >> 11};
        mw_lru_insert(&t, &items[i].node, items[i].hash);
        if (i == 500)
            assert_int_equal(mw_lru_resize(&t, 4096), 0);
        if (i % 7 == 0 && i >= 3) /* touch an older one now and then */
            mw_lru_touch(&t, &items[i - 3].node);
        while (t.count > LIMIT) {
            struct item *old = mw_lru_entry(mw_lru_oldest(&t), struct item, node);
            mw_lru_remove(&t, &old->node, old->hash);
            old->key = -1;
        }
    }
    assert_int_equal(t.mask + 1, 4096);
    assert_int_equal(mw_lru_resize(&t, 100), 0); /* never shrinks */
    assert_int_equal(t.mask + 1, 4096);
    size_t live = 0;
    for (int i = 0; i < N; i++) {
        if (items[i].key < 0) {
            assert_null(find(&t, i, items[i].hash));
            continue;
        }
        live++;
        assert_ptr_equal(find(&t, i, items[i].hash), &items[i]);
    }
    assert_int_equal(live, LIMIT);
    /* The newest insert survived; the very first did not. */
    assert_non_null(find(&t, N - 1, items[N - 1].hash));
    assert_null(find(&t, 0, items[0].hash));
    mw_lru_deinit(&t);
    free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_resize_and_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
