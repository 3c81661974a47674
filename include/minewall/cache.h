/* The answer cache of the process: prepared responses (wire form, OPT removed) keyed by
 * (qname, qtype, qclass, DO). Bounded by entry count and by bytes with LRU eviction; TTLs clamped
 * to [min_ttl, max_ttl] at insert and counted down at render; negative answers (RFC 2308) live
 * min(SOA TTL, SOA MINIMUM); expired entries stay serve_stale seconds for RFC 8767. Time is
 * passed in (now_ms, monotonic).
 *
 * Thread-safe (unless made with one_thread): every worker thread uses the one cache. It is split
 * into shards (a power of two, fixed at creation), each with its own mutex, hash table, LRU list
 * and its share of the bounds; a key's shard is picked by the top bits of its hash. An entry is
 * immutable once inserted except for its stamp (read and written with relaxed atomics, a hint) and
 * its reference count: the _hold functions hand out a reference so the caller renders from the
 * entry after the shard lock is released, and mw_cache_release() drops it (the last reference frees
 * the entry, even one evicted meanwhile). The functions without _hold give pointers valid only
 * until the next call on the cache from any thread: for single-threaded users (tests, fuzzers,
 * tools). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct mw_dns_question;
struct mw_dns_stored;
struct mw_dns_response;
struct mw_cache;

struct mw_cache_key {
    uint16_t len;
    uint8_t data[256 + 5 + 8]; /* lowercase qname wire, qtype, qclass, DO[, group tag] */
};

/* Copy a key: only the octets in use (a whole-struct copy moves all 261). */
static inline void mw_cache_key_copy(struct mw_cache_key *dst, const struct mw_cache_key *src)
{
    dst->len = src->len <= sizeof(src->data) ? src->len : (uint16_t)sizeof(src->data);
    memcpy(dst->data, src->data, dst->len);
}

void mw_cache_key_make(const struct mw_dns_question *q, bool do_bit, struct mw_cache_key *k);
/* The key's hash under c's seed (each cache has its own random seed). */
uint64_t mw_cache_key_hash(const struct mw_cache *c, const struct mw_cache_key *k);
bool mw_cache_key_equal(const struct mw_cache_key *a, const struct mw_cache_key *b);

struct mw_cache_stats {
    uint64_t hits, misses, stale_hits, inserts, evictions, expired;
    uint64_t evictions_bytes; /* of evictions: for room under max_bytes */
    size_t entries;
    size_t bytes; /* heap bytes of the entries */
};

struct mw_cache_entry;

struct mw_cache_params {
    size_t max_entries;   /* of the whole cache; 0: nothing is ever stored */
    size_t max_bytes;     /* bound on the entries' heap bytes (an answer can be 64 KiB); 0 none */
    uint32_t min_ttl;     /* seconds */
    uint32_t max_ttl;     /* seconds */
    uint32_t serve_stale; /* seconds past expiry an entry is kept for stale answers; 0 off */
    /* Shards (rounded down to a power of two, at most MW_CACHE_MAX_SHARDS; 0 or 1: one). Read
     * by mw_cache_new only: a reload keeps the count. Each shard holds max_entries / shards
     * entries and max_bytes / shards bytes (the remainders go to the first shards), so the
     * bounds hold for the whole cache; LRU order is kept within a shard. */
    unsigned shards;
    /* Read by mw_cache_new only: one thread makes every call (threads: 1, whose worker also
     * takes the flushes and publishes the counters), so no lock is taken. */
    bool one_thread;
};

#define MW_CACHE_MAX_SHARDS 64

/* The shard count for threads workers and a cache of size entries: one for one thread (exact
 * LRU, no contention), else the power of two >= 4 x threads (so two workers rarely want the
 * same lock), at most MW_CACHE_MAX_SHARDS, halved while a shard would hold fewer than 256
 * entries (small caches keep a near-global LRU order). */
unsigned mw_cache_shards_for(unsigned threads, size_t size);

/* Returns a new cache or NULL on ENOMEM. */
struct mw_cache *mw_cache_new(const struct mw_cache_params *p);
void mw_cache_free(struct mw_cache *c);

/* Change limits in place (reload); shrinking evicts LRU entries now. The shard count stays. */
void mw_cache_set_params(struct mw_cache *c, const struct mw_cache_params *p);

/* Store a prepared response (from mw_dns_prepare_response) under key. Positive answers
 * (NOERROR with answers) live for the smallest clamped TTL; NXDOMAIN and NODATA live for the
 * clamped negative TTL and are not stored without an SOA; other rcodes, TC and responses whose
 * TTL table overflowed are not stored. Replaces an existing entry. Returns 0 if stored,
 * -EINVAL if not cacheable, -ENOMEM. */
int mw_cache_insert(struct mw_cache *c, const struct mw_cache_key *k, const uint8_t *pkt,
                    size_t len, const struct mw_dns_response *info, const uint16_t *ttl_off,
                    const uint32_t *ttl, uint64_t now_ms);
/* As mw_cache_insert, and when stored (0) fills *s with the stored entry (TTLs clamped as a hit
 * renders them) and *ref with a reference to it, to give back with mw_cache_release(). */
int mw_cache_insert_hold(struct mw_cache *c, const struct mw_cache_key *k, const uint8_t *pkt,
                         size_t len, const struct mw_dns_response *info, const uint16_t *ttl_off,
                         const uint32_t *ttl, uint64_t now_ms, struct mw_dns_stored *s,
                         struct mw_cache_entry **ref);

enum mw_cache_result {
    MW_CACHE_MISS = 0,
    MW_CACHE_HIT,   /* fresh */
    MW_CACHE_STALE, /* expired but within serve_stale; only when allow_stale */
};

/* Look up key. On HIT or STALE fills *s (pointing into the cache: valid until the next
 * insert, eviction or free) and *elapsed (whole seconds since insert). A hit moves the entry
 * to the LRU front. An entry past its stale window is removed. */
enum mw_cache_result mw_cache_lookup(struct mw_cache *c, const struct mw_cache_key *k,
                                     uint64_t now_ms, bool allow_stale, struct mw_dns_stored *s,
                                     uint32_t *elapsed);
/* As mw_cache_lookup for threads that share the cache: hash is mw_cache_key_hash(c, k), and on
 * HIT or STALE *ref holds a reference that keeps *s valid (whatever other threads insert or
 * evict) until mw_cache_release(c, *ref). On MISS *ref is NULL. */
enum mw_cache_result mw_cache_lookup_hold(struct mw_cache *c, const struct mw_cache_key *k,
                                          uint64_t hash, uint64_t now_ms, bool allow_stale,
                                          struct mw_dns_stored *s, uint32_t *elapsed,
                                          struct mw_cache_entry **ref);
/* Give back a reference from a _hold function (NULL: nothing). Frees an entry evicted or
 * removed while held. */
void mw_cache_release(struct mw_cache *c, struct mw_cache_entry *ref);

/* An entry's stamp (struct mw_dns_stored.stamp), read and marked by the threads that share it:
 * relaxed atomics, since a stale read only costs one more check of the answer. */
static inline uint64_t mw_cache_stamp_get(const uint64_t *stamp)
{
    return __atomic_load_n(stamp, __ATOMIC_RELAXED);
}
static inline void mw_cache_stamp_set(uint64_t *stamp, uint64_t v)
{
    __atomic_store_n(stamp, v, __ATOMIC_RELAXED);
}

/* In-flight marks: one fetch per key for all the threads. A thread about to ask upstream for
 * a key claims it; a second thread that misses the same key meanwhile is told to wait
 * (PARKED) and is remembered in the mark; the first inserts the answer, unclaims, and tells
 * the threads the returned set names. The mark is the caller's storage (in its pending
 * question: no allocation here), linked into the key's shard while claimed. */
struct mw_cache_mark {
    struct mw_cache_mark *next;     /* the shard's chain (cache.c's) */
    const struct mw_cache_key *key; /* borrowed: the claimer's copy, unchanged while linked */
    uint64_t hash;
    uint64_t waiting; /* bit i: thread i parked on this mark */
    unsigned owner;   /* the claiming thread */
    uint8_t variant;  /* the claimer's: marks of one key and another variant are apart */
    bool linked;
};

enum mw_cache_claim {
    MW_CACHE_CLAIM_NONE = 0, /* not marked (the caller's own mark exists): fetch without one */
    MW_CACHE_CLAIM_OWNED,    /* m is linked: fetch, insert, then mw_cache_unclaim(m) */
    MW_CACHE_CLAIM_PARKED,   /* another thread fetches key: wait for its notice */
    MW_CACHE_CLAIM_HIT,      /* a fresh answer arrived since the caller's lookup: look again */
};

/* Claim key (hash: mw_cache_key_hash) for thread me (< 64) with m (caller's storage; *key
 * must stay as it is while m is linked), under the key's shard lock, so that a fetch that
 * ends (insert, then unclaim) and a miss on another thread never cross unseen. variant
 * separates fetches of one key that may fail differently (query.c: the CD bit, as its own
 * coalescing does): a miss parks only on a mark of the same variant. */
enum mw_cache_claim mw_cache_claim(struct mw_cache *c, const struct mw_cache_key *key,
                                   uint64_t hash, uint8_t variant, uint64_t now_ms, unsigned me,
                                   struct mw_cache_mark *m);
/* Unlink m (linked by mw_cache_claim; nothing when not linked) and return the threads that
 * parked on it (bit i for thread i), for the caller to tell. */
uint64_t mw_cache_unclaim(struct mw_cache *c, struct mw_cache_mark *m);

/* Drop everything (e.g. forward zones changed on reload). Returns the entries removed. */
size_t mw_cache_clear(struct mw_cache *c);
/* Remove every entry of the name qname (lowercase wire, len octets): all types, classes and DO
 * bits. Walks the whole cache (for the control API's flush). Returns the entries removed. */
size_t mw_cache_remove_name(struct mw_cache *c, const uint8_t *qname, size_t len);

/* The counters of the whole cache (the shards summed, each read under its lock). */
void mw_cache_get_stats(struct mw_cache *c, struct mw_cache_stats *out);
