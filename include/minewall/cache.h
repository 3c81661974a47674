/* The answer cache of one worker: prepared responses (wire form, OPT removed) keyed by
 * (qname, qtype, qclass, DO). Bounded by entry count and by bytes with LRU eviction; TTLs clamped
 * to [min_ttl, max_ttl] at insert and counted down at render; negative answers (RFC 2308) live
 * min(SOA TTL, SOA MINIMUM); expired entries stay serve_stale seconds for RFC 8767. Time is
 * passed in (now_ms, monotonic). Not thread-safe: each worker owns one. */
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
    size_t max_entries;   /* 0: nothing is ever stored */
    size_t max_bytes;     /* bound on the entries' heap bytes (an answer can be 64 KiB); 0 none */
    uint32_t min_ttl;     /* seconds */
    uint32_t max_ttl;     /* seconds */
    uint32_t serve_stale; /* seconds past expiry an entry is kept for stale answers; 0 off */
};

/* Returns a new cache or NULL on ENOMEM. */
struct mw_cache *mw_cache_new(const struct mw_cache_params *p);
void mw_cache_free(struct mw_cache *c);

/* Change limits in place (reload); shrinking evicts LRU entries now. */
void mw_cache_set_params(struct mw_cache *c, const struct mw_cache_params *p);

/* Store a prepared response (from mw_dns_prepare_response) under key. Positive answers
 * (NOERROR with answers) live for the smallest clamped TTL; NXDOMAIN and NODATA live for the
 * clamped negative TTL and are not stored without an SOA; other rcodes, TC and responses whose
 * TTL table overflowed are not stored. Replaces an existing entry. Returns 0 if stored,
 * -EINVAL if not cacheable, -ENOMEM. */
int mw_cache_insert(struct mw_cache *c, const struct mw_cache_key *k, const uint8_t *pkt,
                    size_t len, const struct mw_dns_response *info, const uint16_t *ttl_off,
                    const uint32_t *ttl, uint64_t now_ms);

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

/* Drop everything (e.g. forward zones changed on reload). */
void mw_cache_clear(struct mw_cache *c);
/* Remove every entry of the name qname (lowercase wire, len octets): all types, classes and DO
 * bits. Walks the whole cache (for the control API's flush). Returns the entries removed. */
size_t mw_cache_remove_name(struct mw_cache *c, const uint8_t *qname, size_t len);

void mw_cache_get_stats(const struct mw_cache *c, struct mw_cache_stats *out);
