/* Answer change detection for the routing journal: remembers the last answer set per (name,
 * type) for A, AAAA, CNAME, NS and MX and reports when a new response changes it. A set is the
 * sorted, de-duplicated text values of the records of the asked type owned by the final name of
 * the CNAME chain in the answer section ("192.0.2.1", "2001:db8::1", "ns1.example",
 * "10 mx.example"), so record order, repeated records and TTL changes are no change; the chain
 * itself is remembered too, and a retargeted CNAME is a change of its own (cname_changed). For
 * qtype CNAME the values are the targets of the CNAME records at the name, and no chain is
 * followed. The first sight of a name is stored and is not a change.
 *
 * Memory is bounded by max_names tracked (name, type) pairs with least-recently-seen eviction:
 * a hash table plus an intrusive LRU list, one allocation per pair holding its key, chain and
 * values in binary (a 58-byte header plus the wire name and the values as wire bytes, with a
 * hash of the set, so an unchanged answer costs no formatting: text is made only for a change;
 * mw_answerdiff_get_stats reports the total). At most MW_ANSWERDIFF_MAX_VALUES values are kept per
 * set (the smallest in sort order, the set then marked truncated), so a change beyond them goes
 * unnoticed.
 *
 * Time is passed in; nothing here logs or does I/O. Not thread-safe: one per worker, or one
 * shared behind the caller's lock. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/answerscan.h"

/* values kept per set and reported per list */
#define MW_ANSWERDIFF_MAX_VALUES MW_ANSWERSCAN_MAX_VALUES
/* CNAME hops followed and remembered */
#define MW_ANSWERDIFF_MAX_CHAIN MW_ANSWERSCAN_MAX_CHAIN

struct mw_answerdiff;

/* A list of value texts. The strings are borrowed from the mw_answerdiff (see
 * mw_answerdiff_observe for how long they live). */
struct mw_answer_list {
    const char *v[MW_ANSWERDIFF_MAX_VALUES];
    uint16_t n;
    /* old/new: the response had more values than were kept. added/removed: either set was
     * truncated, so the difference may be incomplete. */
    bool truncated;
};

/* What changed for one (name, type). */
struct mw_answer_change {
    uint8_t qname[256]; /* lowercase wire form */
    uint16_t qname_len;
    uint16_t qtype;
    struct mw_answer_list old_set, new_set; /* sorted */
    struct mw_answer_list added, removed;   /* new minus old, old minus new; sorted */
    /* The CNAME chain from qname: each hop's target, in order (empty without CNAMEs, and always
     * empty for qtype CNAME). */
    const char *old_chain[MW_ANSWERDIFF_MAX_CHAIN];
    const char *new_chain[MW_ANSWERDIFF_MAX_CHAIN];
    uint8_t old_chain_n, new_chain_n;
    bool values_changed; /* old_set != new_set */
    bool cname_changed;  /* the chain changed; for qtype CNAME, the target set changed */
    uint32_t ttl;     /* smallest TTL of the records that made the new set and chain; 0 if none */
    uint32_t old_ttl; /* the same of the previous response */
    uint64_t old_seen_ms; /* when the old set was last seen (now_ms of that observe) */
};

struct mw_answerdiff_stats {
    size_t names;          /* pairs tracked now */
    size_t bytes;          /* bytes allocated for them (entries only, not the fixed table) */
    size_t bytes_per_name; /* bytes / names, 0 when empty */
    size_t table_bytes;    /* the hash table and scratch space, allocated once */
    uint64_t observed;     /* responses compared or stored */
    uint64_t first_seen;   /* pairs stored for the first time (including after eviction) */
    uint64_t changes;      /* observe calls that returned 1 */
    uint64_t evictions;    /* pairs dropped as least recently seen */
    uint64_t skipped;      /* responses not used: not NOERROR, truncated, or untracked type */
    uint64_t errors;       /* malformed responses or question mismatches */
};

/* Is qtype one of the tracked types (A, AAAA, CNAME, NS, MX)? */
bool mw_answerdiff_tracks(uint16_t qtype);

/* A new tracker for at most max_names (name, type) pairs (at least 1). Returns NULL on ENOMEM
 * or for max_names 0. */
struct mw_answerdiff *mw_answerdiff_new(size_t max_names);

/* Free ad and everything it tracks. NULL is a no-op. */
void mw_answerdiff_free(struct mw_answerdiff *ad);

/* Compare a response with what was last seen for (qname, qtype) and remember it.
 *
 * qname is the wire name that was asked (any case, qname_len including the root label); pkt is
 * the DNS response as received (or as prepared by mw_dns_prepare_response). Its question must
 * be (qname, qtype, IN). A response that is not NOERROR or has TC set says nothing about the
 * set: it is skipped (returns 0, nothing stored). A NOERROR response without matching records
 * is an empty set. An untracked qtype returns 0. now_ms is any monotonic clock in ms.
 *
 * Returns 1 when the set or the chain changed and fills *out; 0 when nothing changed, on first
 * sight, or when skipped (*out then has values_changed and cname_changed false and empty
 * lists); -EBADMSG for a malformed response or one whose question differs, -EINVAL for bad
 * arguments, -ENOMEM (the old state is kept). The strings *out points to stay valid until the
 * next mw_answerdiff_observe, mw_answerdiff_forget or mw_answerdiff_free on ad: format the
 * journal line first. Never calls back. */
int mw_answerdiff_observe(struct mw_answerdiff *ad, const uint8_t *qname, size_t qname_len,
                          uint16_t qtype, const uint8_t *pkt, size_t len, uint64_t now_ms,
                          struct mw_answer_change *out);

/* Forget (qname, qtype), e.g. after the zone was routed elsewhere; its next sight is a first
 * sight. Returns 0, -ENOENT, or -EINVAL for a bad name. */
int mw_answerdiff_forget(struct mw_answerdiff *ad, const uint8_t *qname, size_t qname_len,
                         uint16_t qtype);

/* Number of (name, type) pairs tracked. */
size_t mw_answerdiff_count(const struct mw_answerdiff *ad);

void mw_answerdiff_get_stats(const struct mw_answerdiff *ad, struct mw_answerdiff_stats *out);

/* "A", "AAAA", "CNAME", "NS", "MX", or NULL for another type. */
const char *mw_answerdiff_type_name(uint16_t qtype);
