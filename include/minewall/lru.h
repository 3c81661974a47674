/* A chained hash table with an intrusive least-recently-used list, for the bounded tables of
 * minewall (the answer cache, the answer tracker of the journal). The caller embeds a struct
 * mw_lru_node in its entry, keeps the entry's hash, compares keys itself while it walks a
 * bucket, and decides when to evict (mw_lru_oldest). The table owns only its bucket array;
 * entries stay the caller's to allocate and free. The bucket count is a power of two, so the
 * low bits of the hash pick the bucket. Pure: no I/O, no global state; not thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct mw_lru_node {
    struct mw_lru_node *hnext;       /* bucket chain */
    struct mw_lru_node *prev, *next; /* LRU list: head is the most recently used */
};

/* The hash of the entry holding node, for mw_lru_resize. */
typedef uint64_t (*mw_lru_hash_cb)(const struct mw_lru_node *node);

struct mw_lru {
    struct mw_lru_node **buckets; /* owned */
    size_t mask;                  /* buckets - 1 */
    struct mw_lru_node *head, *tail;
    size_t count; /* nodes in the table */
    mw_lru_hash_cb hash_of;
};

/* The entry of type type that holds node ptr in its member. */
#define mw_lru_entry(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Set up an empty table with the smallest power of two >= buckets (at least 16, at most
 * 2^30) buckets. hash_of is needed by mw_lru_resize only (may be NULL without it). Returns 0
 * or -ENOMEM. */
int mw_lru_init(struct mw_lru *t, size_t buckets, mw_lru_hash_cb hash_of);

/* Free the bucket array (not the entries: walk head..next and free them first, or after
 * mw_lru_forget_all). */
void mw_lru_deinit(struct mw_lru *t);

/* The first node of the bucket of hash; follow hnext. */
static inline struct mw_lru_node *mw_lru_bucket(const struct mw_lru *t, uint64_t hash)
{
    return t->buckets[hash & t->mask];
}

/* Add n (not in the table) as the most recently used, in the bucket of hash. */
void mw_lru_insert(struct mw_lru *t, struct mw_lru_node *n, uint64_t hash);

/* Take n out of its bucket (hash as given to mw_lru_insert) and out of the list. */
void mw_lru_remove(struct mw_lru *t, struct mw_lru_node *n, uint64_t hash);

/* Make n the most recently used. */
void mw_lru_touch(struct mw_lru *t, struct mw_lru_node *n);

/* The least recently used node, or NULL when empty. */
static inline struct mw_lru_node *mw_lru_oldest(const struct mw_lru *t)
{
    return t->tail;
}

/* Empty the table without touching the entries (the caller frees them). */
void mw_lru_forget_all(struct mw_lru *t);

/* Grow to the smallest power of two >= buckets (at most 2^30) and rehash with hash_of. Does
 * nothing when that is not more than now; on ENOMEM the old array stays (chains get longer)
 * and -ENOMEM is returned. */
int mw_lru_resize(struct mw_lru *t, size_t buckets);
