/* Registered domains at the price of a few hash probes: the one per-worker memo in front of
 * regdom.c (libpsl), for the detectors that need the registered domain of every miss (DGA,
 * tunnel, new domains), with a few words each detector keeps per registered domain (the DGA
 * score, the new-domain filter's epoch), so that a query crosses libpsl at most once and a
 * known registered domain costs its detectors a word test. libpsl's psl_registrable_domain tests
 * every suffix of the name, about 12,000 instructions for a five-label name: more than the rest of
 * a cache miss.
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
 * Two kinds of entry share the table: a suffix's (the labels of its registered domain) and a
 * registered domain's own (its public flag and the detectors' words). A name whose suffix is
 * its registered domain ("example.com", "www.example.co.uk") needs one probe; a deeper one
 * ("www.example.com": suffix "www.example.com", domain "example.com") two, so that the words
 * are per registered domain whatever name under it is asked.
 *
 * A third kind, a class of names, spares libpsl for new registered domains: every name whose
 * deepest node of the list among its suffixes is the same d labels, and which has a label
 * below them, has the same public suffix (the suffix of d + 1 labels is no node, so no rule
 * and no exception: it is public exactly when a wildcard rule hangs below the node, and
 * nothing deeper can be). The first name of a class is asked of libpsl; the public suffix's
 * depth learnt from its answer serves the others ("x1.com", "x2.com", ...). The node set has
 * no false "no" (every rule's suffixes are in it; a hash collision only makes d deeper, whose
 * class is as exact), so a class never mixes names libpsl tells apart; an answer is only
 * learnt from a suffix of plain labels of at most 120 octets.
 *
 * Two shortcuts skip work that cannot change the answer: an entry made where a walk ended for
 * want of deeper nodes is marked final, and a name whose last two labels have a final entry
 * needs no node probe (its walk ends there too); and the last registered domain, once it came
 * twice in a row, is kept as octets, so a name under it (a tunnel's, a burst's) costs a
 * compare instead of hashing.
 *
 * Pure: no libuv, no locks: one memo per worker. Keys are keyed hashes (a random seed per
 * memo); a collision in the node set only makes the asked suffix longer (still exact), one in
 * the memo (2^-64 a pair) would give a wrong answer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mw_regdom;
struct mw_regmemo;

/* Bounds of a memo's entry count (detect.dga.cache-size). */
#define MW_REGMEMO_MIN 64
#define MW_REGMEMO_MAX (1u << 24)

/* A memo of max_entries (rounded up to a power of two, at least 64) over rd (borrowed: must
 * outlive the memo), with the node set read from dat_path (the .dat list; NULL or unreadable:
 * no node set). Reads the file: call it off the query path or once. NULL on ENOMEM. */
struct mw_regmemo *mw_regmemo_new(const struct mw_regdom *rd, const char *dat_path,
                                  size_t max_entries);
/* NULL is a no-op. */
void mw_regmemo_free(struct mw_regmemo *m);

/* What the memo keeps with a registered domain: zero when its entry is made, kept until the
 * entry is evicted or the memo forgotten (mw_regmemo_forget). Each word belongs to one
 * detector; `public` is the memo's own. */
struct mw_regmemo_words {
    uint32_t nod_epoch; /* new-domains: the filter epoch in which the domain was known (0: no) */
    int32_t dga_score;  /* dga: the registered-domain label's score, when dga_scored */
    uint8_t dga_level;  /* dga: its enum mw_dga_level */
    bool dga_scored;    /* dga: the two above are set (by the model in force) */
    bool public;        /* the memo's: mw_regdom_is_public() of the registered domain */
};

/* As mw_regdom_find (lowercase wire name, len octets with the root): the offset of the
 * registered domain in name, or -ENOENT. One difference: labels to the left of those the
 * list's rules can reach are not read, so octets the list cannot hold (above 0x7e) there do
 * not make it -ENOENT (mw_regdom_find refuses the whole name). With words not NULL, *words is
 * the registered domain's words (valid until the next call), NULL with -ENOENT. */
int mw_regmemo_find(struct mw_regmemo *m, const uint8_t *name, size_t len,
                    struct mw_regmemo_words **words);

/* The key of the entry that holds words (as mw_regmemo_find gave them): what a caller keeps to
 * find the same registered domain's words later (its pointer is valid until the next call
 * only). Never 0. */
uint64_t mw_regmemo_key_of(const struct mw_regmemo_words *words);

/* The words of the entry of key (mw_regmemo_key_of) when the memo still holds it, else NULL
 * (evicted or forgotten since, or a key of another memo). One probe; counts nothing. */
struct mw_regmemo_words *mw_regmemo_words_of(struct mw_regmemo *m, uint64_t key);

/* Forget every entry (a new DGA model scores differently); the node set and counters stay. */
void mw_regmemo_forget(struct mw_regmemo *m);

/* Entries the memo holds at most (max_entries rounded up). */
size_t mw_regmemo_capacity(const struct mw_regmemo *m);

struct mw_regmemo_stats {
    uint64_t hits, misses, evicted;
    uint64_t psl;     /* names libpsl was asked about (suffix misses) */
    uint64_t classed; /* suffix misses answered from their class, without libpsl */
    uint64_t nodes;   /* suffixes of the list's rules in the node set */
};
void mw_regmemo_stats(const struct mw_regmemo *m, struct mw_regmemo_stats *out);
