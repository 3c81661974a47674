/* The hash table with an LRU list; see lru.h. Removal walks the bucket chain to find the link
 * to n: chains are short (the tables keep their load at or below one), and a singly linked
 * chain keeps every node one pointer smaller. */
#include "minewall/lru.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_BUCKETS 16
#define MAX_BUCKETS ((size_t)1 << 30)

static size_t round_buckets(size_t want)
{
    size_t n = MIN_BUCKETS;
    while (n < want && n < MAX_BUCKETS)
        n <<= 1;
    return n;
}

int mw_lru_init(struct mw_lru *t, size_t buckets, mw_lru_hash_cb hash_of)
{
    memset(t, 0, sizeof(*t));
    size_t nb = round_buckets(buckets);
    t->buckets = calloc(nb, sizeof(*t->buckets));
    if (!t->buckets)
        return -ENOMEM;
    t->mask = nb - 1;
    t->hash_of = hash_of;
    return 0;
}

void mw_lru_deinit(struct mw_lru *t)
{
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

static void list_unlink(struct mw_lru *t, struct mw_lru_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        t->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        t->tail = n->prev;
    n->prev = n->next = NULL;
}

static void list_push_front(struct mw_lru *t, struct mw_lru_node *n)
{
    n->prev = NULL;
    n->next = t->head;
    if (t->head)
        t->head->prev = n;
    else
        t->tail = n;
    t->head = n;
}

void mw_lru_insert(struct mw_lru *t, struct mw_lru_node *n, uint64_t hash)
{
    struct mw_lru_node **b = &t->buckets[hash & t->mask];
    n->hnext = *b;
    *b = n;
    list_push_front(t, n);
    t->count++;
}

void mw_lru_remove(struct mw_lru *t, struct mw_lru_node *n, uint64_t hash)
{
    struct mw_lru_node **pp = &t->buckets[hash & t->mask];
    while (*pp && *pp != n)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = n->hnext;
    n->hnext = NULL;
    list_unlink(t, n);
    t->count--;
}

void mw_lru_touch(struct mw_lru *t, struct mw_lru_node *n)
{
    if (t->head == n)
        return;
    list_unlink(t, n);
    list_push_front(t, n);
}

void mw_lru_forget_all(struct mw_lru *t)
{
    memset(t->buckets, 0, (t->mask + 1) * sizeof(*t->buckets));
    t->head = t->tail = NULL;
    t->count = 0;
}

int mw_lru_resize(struct mw_lru *t, size_t buckets)
{
    size_t nb = round_buckets(buckets);
    if (nb <= t->mask + 1 || !t->hash_of)
        return 0;
    struct mw_lru_node **b = calloc(nb, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (struct mw_lru_node *n = t->head; n; n = n->next) {
        size_t i = t->hash_of(n) & (nb - 1);
        n->hnext = b[i];
        b[i] = n;
    }
    free(t->buckets);
    t->buckets = b;
    t->mask = nb - 1;
    return 0;
}
