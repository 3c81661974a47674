/* Space-saving top-N counters; see topn.h. The index is an array of bucket heads (twice the
 * capacity, a power of two) with the entries chained through 16-bit indexes: removing the
 * evicted key from its chain walks one short chain. */
#include "minewall/topn.h"

#include <stdlib.h>
#include <string.h>

#include "minewall/hash.h"

#define NIL 0xffff

struct entry {
    uint64_t count, error, hash;
    uint16_t next; /* next entry in the same bucket, or NIL */
    uint8_t len;
    uint8_t key[MW_TOPN_KEY_MAX];
};

struct mw_topn {
    unsigned cap, used;
    uint64_t seed, total;
    uint64_t min;    /* a lower bound of the smallest count in a full table */
    unsigned cursor; /* where the search for a smallest counter goes on */
    uint32_t mask;   /* buckets - 1 */
    uint16_t *bucket;
    struct entry *e;
};

struct mw_topn *mw_topn_new(unsigned capacity, uint64_t seed)
{
    if (capacity == 0 || capacity >= NIL)
        return NULL;
    struct mw_topn *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    uint32_t nb = 2;
    while (nb < 2 * capacity)
        nb <<= 1;
    t->cap = capacity;
    t->seed = seed;
    t->mask = nb - 1;
    t->bucket = malloc(nb * sizeof(*t->bucket));
    t->e = malloc(capacity * sizeof(*t->e));
    if (!t->bucket || !t->e) {
        mw_topn_free(t);
        return NULL;
    }
    /* Touched now: a fixed table costs its memory from the start, not as a burst fills it. */
    memset(t->e, 0, capacity * sizeof(*t->e));
    mw_topn_reset(t);
    return t;
}

void mw_topn_free(struct mw_topn *t)
{
    if (!t)
        return;
    free(t->bucket);
    free(t->e);
    free(t);
}

void mw_topn_reset(struct mw_topn *t)
{
    memset(t->bucket, 0xff, (t->mask + 1) * sizeof(*t->bucket));
    t->used = 0;
    t->total = 0;
    t->min = 0;
    t->cursor = 0;
}

uint64_t mw_topn_total(const struct mw_topn *t)
{
    return t->total;
}

static void unlink_entry(struct mw_topn *t, uint16_t i)
{
    uint16_t *p = &t->bucket[t->e[i].hash & t->mask];
    while (*p != i)
        p = &t->e[*p].next;
    *p = t->e[i].next;
}

/* An entry with the smallest count of a full table. Counts never fall, so t->min only rises:
 * a full turn of the cursor without a counter at t->min proves the minimum is higher, and the
 * smallest count seen on the way is the new one (weights make counts jump). */
static unsigned smallest(struct mw_topn *t)
{
    for (;;) {
        uint64_t seen = UINT64_MAX;
        for (unsigned n = 0; n < t->cap; n++) {
            unsigned i = t->cursor;
            t->cursor = t->cursor + 1 == t->cap ? 0 : t->cursor + 1;
            if (t->e[i].count <= t->min)
                return i;
            if (t->e[i].count < seen)
                seen = t->e[i].count;
        }
        t->min = seen;
    }
}

/* Count weight occurrences of key (len octets) whose hash is h. */
static void add_hashed(struct mw_topn *t, uint64_t h, const uint8_t *key, size_t len,
                       uint32_t weight)
{
    t->total += weight;
    for (uint16_t i = t->bucket[h & t->mask]; i != NIL; i = t->e[i].next) {
        struct entry *e = &t->e[i];
        /* The 64-bit keyed hash stands for the key: a collision (odds about 2^-64 a pair)
         * would only merge two keys' counts, and no key compare runs per query. */
        if (e->hash == h && e->len == len) {
            e->count += weight;
            return;
        }
    }
    unsigned i;
    uint64_t base = 0;
    if (t->used < t->cap) {
        i = t->used++;
    } else {
        i = smallest(t);
        base = t->e[i].count;
        unlink_entry(t, (uint16_t)i);
    }
    struct entry *e = &t->e[i];
    e->count = base + weight;
    e->error = base;
    e->hash = h;
    e->len = (uint8_t)len;
    memcpy(e->key, key, len);
    e->next = t->bucket[h & t->mask];
    t->bucket[h & t->mask] = (uint16_t)i;
}

void mw_topn_add(struct mw_topn *t, const void *key, size_t len)
{
    if (len > MW_TOPN_KEY_MAX)
        len = MW_TOPN_KEY_MAX;
    add_hashed(t, mw_hash_bytes(t->seed, 0, key, len), key, len, 1);
}

/* The per-query entry points hash a word at a time with the folding step (hash.h), keyed by
 * the table's seed; their hashes differ from mw_topn_add's, so a table is fed by one of the
 * three only. */
void mw_topn_add_name(struct mw_topn *t, const uint8_t key[MW_TOPN_KEY_MAX + 1], size_t len,
                      uint32_t weight)
{
    if (len > MW_TOPN_KEY_MAX)
        len = MW_TOPN_KEY_MAX;
    /* Whole words, the last one masked to the octets of the key (little-endian loads): no
     * copy and no call per query. */
    uint64_t h = t->seed ^ len;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t x;
        memcpy(&x, key + i, 8);
        if (len - i < 8)
            x &= (1ull << (8 * (len - i))) - 1;
        h = mw_hash_mix(x ^ t->seed, h ^ 0x8ebc6af09c88c6e3ull);
    }
    add_hashed(t, h, key, len, weight);
}

void mw_topn_add_addr(struct mw_topn *t, const uint8_t *addr, size_t len, uint32_t weight)
{
    uint64_t a = 0, b = 0;
    if (len == 4) {
        uint32_t v;
        memcpy(&v, addr, 4);
        a = v;
    } else {
        len = 16;
        memcpy(&a, addr, 8);
        memcpy(&b, addr + 8, 8);
    }
    add_hashed(t, mw_hash_mix(a ^ t->seed, (b ^ len) + 0xa0761d6478bd642full), addr, len, weight);
}

static int by_count(const void *a, const void *b)
{
    const struct mw_topn_item *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

size_t mw_topn_top(const struct mw_topn *t, struct mw_topn_item *out, size_t cap)
{
    /* Selection of the cap largest: cap is small (tens) next to the table. */
    size_t n = 0;
    for (unsigned i = 0; i < t->used; i++) {
        const struct entry *e = &t->e[i];
        size_t at = n < cap ? n++ : cap;
        while (at > 0 && out[at - 1].count < e->count) {
            if (at < cap)
                out[at] = out[at - 1];
            at--;
        }
        if (at >= cap)
            continue;
        out[at].count = e->count;
        out[at].error = e->error;
        out[at].key_len = e->len;
        memcpy(out[at].key, e->key, e->len);
    }
    return n;
}

static int by_key(const void *a, const void *b)
{
    const struct mw_topn_item *x = a, *y = b;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return memcmp(x->key, y->key, x->key_len);
}

size_t mw_topn_merge(struct mw_topn_item *items, size_t n, struct mw_topn_item *out, size_t cap)
{
    if (n == 0)
        return 0;
    qsort(items, n, sizeof(*items), by_key);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && by_key(&items[m - 1], &items[i]) == 0) {
            items[m - 1].count += items[i].count;
            items[m - 1].error += items[i].error;
        } else {
            if (m != i)
                items[m] = items[i];
            m++;
        }
    }
    qsort(items, m, sizeof(*items), by_count);
    if (m > cap)
        m = cap;
    if (out != items)
        memmove(out, items, m * sizeof(*out));
    return m;
}
