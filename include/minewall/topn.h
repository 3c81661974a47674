/* Top-N counting with bounded space: the space-saving algorithm (Metwally, Agrawal, El Abbadi,
 * 2005). A table of `capacity` counters keeps the keys seen most often; a key that is not in a
 * full table takes the place of one with the smallest count and inherits that count (+1) as its
 * possible overcount ("error"). Every key whose true count exceeds total/capacity is in the
 * table, and count - error <= true count <= count.
 *
 * Cost per add: a hash lookup in a chained index, and for a new key in a full table a step of
 * a cursor that finds a smallest counter; a turn of the cursor that finds none raises the
 * known minimum to the smallest count it saw, so the cursor moves about two entries per
 * eviction on average. No allocation after mw_topn_new. Keys are opaque bytes (at most
 * MW_TOPN_KEY_MAX); the caller says what they mean (a wire name, an address). Pure, one
 * thread: a worker owns its table and publishes a copy. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define MW_TOPN_KEY_MAX 255

struct mw_topn;

/* One counter as reported. */
struct mw_topn_item {
    uint8_t key[MW_TOPN_KEY_MAX];
    uint8_t key_len;
    uint64_t count; /* an upper bound of the key's true count */
    uint64_t error; /* count - error is a lower bound */
};

/* A table of capacity counters (1..65535), hash seeded by seed. NULL on ENOMEM or a bad
 * capacity. */
struct mw_topn *mw_topn_new(unsigned capacity, uint64_t seed);
void mw_topn_free(struct mw_topn *t);

/* Count one occurrence of the len bytes at key (len is cut to MW_TOPN_KEY_MAX). */
void mw_topn_add(struct mw_topn *t, const void *key, size_t len);

/* The per-query entry points count weight occurrences at once (a sampled stream: one
 * occurrence in N counted with weight N keeps the estimates unbiased). */
/* The same for a name in a buffer of MW_TOPN_KEY_MAX + 1 octets (whole words are read, the
 * octets past len ignored), hashed a word at a time: for every query. The octets are taken as
 * they are (minewall's parsed question names are lowercase already). A table is fed through
 * one of mw_topn_add, mw_topn_add_name and mw_topn_add_addr only (their hashes differ). */
void mw_topn_add_name(struct mw_topn *t, const uint8_t key[MW_TOPN_KEY_MAX + 1], size_t len,
                      uint32_t weight);

/* An address (len 4, else 16 octets), hashed as two words: for every query. */
void mw_topn_add_addr(struct mw_topn *t, const uint8_t *addr, size_t len, uint32_t weight);

/* Occurrences counted since creation (or the last reset). */
uint64_t mw_topn_total(const struct mw_topn *t);

/* Forget every key. */
void mw_topn_reset(struct mw_topn *t);

/* Write at most cap counters into out, largest count first. Returns how many. */
size_t mw_topn_top(const struct mw_topn *t, struct mw_topn_item *out, size_t cap);

/* Merge n items (from several tables: the same key may appear in several) into out: equal keys
 * are summed (counts and errors). Sorts by count, largest first, and keeps at most cap.
 * items is reordered. Returns how many were written to out (out may alias items). */
size_t mw_topn_merge(struct mw_topn_item *items, size_t n, struct mw_topn_item *out, size_t cap);
