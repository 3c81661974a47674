/* Registered domains at the price of a few hash probes: a per-worker memo in front of
 * regdom.c (libpsl), for code that needs the registered domain of every miss (the tunnel
 * detector). libpsl's psl_registrable_domain tests every suffix of the name, about 12,000
 * instructions for a five-label name: more than the rest of a cache miss.
 *
 * Exact, not a heuristic: the public suffix of a name depends only on its last k + 1 labels,
 * where k is the depth of the deepest suffix of the name that is a node of the list (a rule,
 * or a suffix of a rule; a wildcard rule "*.x" adds one label below x). The registered domain
 * then lies within the last k + 2 labels, so libpsl is asked about that suffix only and its
 * answer kept under the suffix's hash: names that differ only in the labels on the left (a
 * tunnel's data, a CDN's hashed host names) share one entry. The node set is read from the
 * Public Suffix List file (Debian's .dat, internationalised rules converted with libidn2);
 * without it every name is its own entry (still exact, libpsl on every new name).
 *
 * Pure: no libuv, no locks: one memo per worker. Keys are keyed hashes (a random seed per
 * memo); a collision in the node set only makes the asked suffix longer (still exact), one in
 * the memo (2^-64 a pair) would give a wrong answer. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct mw_regdom;
struct mw_regmemo;

/* A memo of max_entries (rounded up to a power of two, at least 64) over rd (borrowed: must
 * outlive the memo), with the node set read from dat_path (the .dat list; NULL or unreadable:
 * no node set). Reads the file: call it off the query path or once. NULL on ENOMEM. */
struct mw_regmemo *mw_regmemo_new(const struct mw_regdom *rd, const char *dat_path,
                                  size_t max_entries);
/* NULL is a no-op. */
void mw_regmemo_free(struct mw_regmemo *m);

/* As mw_regdom_find (lowercase wire name, len octets with the root): the offset of the
 * registered domain in name, or -ENOENT. One difference: labels to the left of those the
 * list's rules can reach are not read, so octets the list cannot hold (above 0x7e) there do
 * not make it -ENOENT (mw_regdom_find refuses the whole name). */
int mw_regmemo_find(struct mw_regmemo *m, const uint8_t *name, size_t len);

struct mw_regmemo_stats {
    uint64_t hits, misses, evicted;
    uint64_t nodes; /* suffixes of the list's rules in the node set */
};
void mw_regmemo_stats(const struct mw_regmemo *m, struct mw_regmemo_stats *out);
