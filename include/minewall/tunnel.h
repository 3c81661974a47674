/* DNS tunnel detection: per (client, registered domain), what the names a client sends under
 * one registered domain look like, and a score that says "this is a tunnel". A tunnel (iodine,
 * dns2tcp, dnscat2, data exfiltration) writes its upstream data into the labels of many
 * distinct, long, high-entropy, encoded-looking names under one domain, asks for record types
 * that carry much data back (NULL, TXT, CNAME...) and gets large answers; the cache cannot
 * serve it, so every one of its queries is a miss. The state is a fixed-size table of entries
 * (set-associative, 4 ways, least recently seen evicted and counted), each holding the
 * window's counters and a 256-bit linear-counting sketch of the distinct subdomains; a
 * detection adds the (client, registered domain) to a second fixed-size table of blocks that
 * live for block-for, checked before forwarding by walking the query name's suffixes (no
 * Public Suffix List lookup on that path, and nothing at all while the table is empty).
 *
 * The score (0..100) is a sum over the window (README "Tunnel detection"): the share of
 * names asked with a data record type (35 points: NULL, TXT, KEY, CNAME, MX, SRV, private-use
 * types), the mean length of the subdomain part (20, from 16 to 48 characters), the mean
 * character entropy of the longest label (15, from 3.5 to 4.5 bits: hex cannot exceed 4.0),
 * the share of names with an encoded-looking label (10: 16+ characters with digits and
 * without the vowels of words, or any label with an octet no hostname has), the share of
 * distinct names (10, from 0.5 to 0.9) and the rate of distinct names (10, from 60 to 600 a
 * minute). For the share of names asked without a data type, the five name features count
 * 3/4 of their points until the names carry 48 characters in encoded-looking labels on
 * average, rising to all of them at 96: such a tunnel fills several long labels, hashed
 * telemetry carries one hash. It is computed once min-distinct distinct subdomains were seen
 * in the window: the gate that keeps hashed telemetry at normal rates out. Bytes up and down
 * are kept and reported with a detection.
 *
 * Pure: no libuv, no clock (now_ms is passed in), no locks: one table per worker. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mw_tunnel;

struct mw_tunnel_params {
    uint32_t max_entries;  /* (client, registered domain) states; rounded up to a power of 2 */
    uint32_t max_blocks;   /* blocked (client, registered domain) pairs; rounded up likewise */
    uint32_t window_ms;    /* the counters start again after this long */
    uint32_t block_ms;     /* how long a detection blocks (or, for action log, stays quiet) */
    uint32_t min_distinct; /* distinct subdomains in the window before a score is computed */
    uint32_t threshold;    /* score at or above which a pair is detected (1..100) */
};

/* What a detection saw: the window's features, for the block log and the events stream. */
struct mw_tunnel_features {
    uint32_t score;         /* 0..100 */
    uint32_t queries;       /* names under the domain in the window */
    uint32_t distinct;      /* distinct subdomains (estimate) */
    uint32_t rate_min;      /* distinct subdomains per minute */
    uint32_t mean_len;      /* mean length of the subdomain part, characters */
    uint32_t mean_label;    /* mean length of the longest label of the subdomain part */
    uint32_t entropy_milli; /* mean character entropy, millibits per character */
    uint32_t encoded_pct;   /* names with an encoded-looking label, percent */
    uint32_t types_pct;     /* names asked with a data record type, percent */
    uint64_t bytes_up;      /* question name octets sent in the window */
    uint64_t bytes_down;    /* answer octets received in the window */
    uint32_t elapsed_ms;    /* from the window's first name to the detection */
    uint32_t mean_data;     /* mean characters a name in encoded-looking labels */
};

struct mw_tunnel_stats {
    uint64_t observed;        /* names scored */
    uint64_t detections;      /* pairs detected */
    uint64_t evicted;         /* live states evicted by the table bound */
    uint64_t blocks_evicted;  /* unexpired blocks evicted by the block table bound */
    uint64_t entries, blocks; /* gauges: states and blocks in use (blocks may include expired) */
};

/* A table for params p (bounds at least 16; threshold and min_distinct at least 1). NULL on
 * ENOMEM or EINVAL. The caller frees. */
struct mw_tunnel *mw_tunnel_new(const struct mw_tunnel_params *p);
/* NULL is a no-op. */
void mw_tunnel_free(struct mw_tunnel *t);

/* Is any block in force (or expired and not yet reclaimed)? The one test the query path pays
 * while no detection happened. */
bool mw_tunnel_any_blocks(const struct mw_tunnel *t);

/* Is the client (addr, alen octets of its address) blocked for the lowercase wire name (len
 * octets, with the root) or a domain above it at now_ms? On a hit *regdom_off is the offset of
 * the blocked domain in name. */
bool mw_tunnel_blocked(struct mw_tunnel *t, const uint8_t *addr, size_t alen, const uint8_t *name,
                       size_t len, uint64_t now_ms, size_t *regdom_off);

/* Names of other types than the data types are sampled one in this many. */
#define MW_TUNNEL_SAMPLE 4

/* Is a name worth scoring, and with what weight? Only one a tunnel could carry data in: asked
 * with a data record type (1: every one is scored), or with a label of 16 characters or
 * more, or longer than 48 octets (MW_TUNNEL_SAMPLE: hashed telemetry and CDN names are the
 * bulk of these, and only the names mw_tunnel_sampled picks are scored, with that weight).
 * 0: not scored (the bulk of ordinary misses: www.example.com, A and AAAA of short host
 * names), nor counted. Needs no table: the caller makes one only for a name that may count. */
unsigned mw_tunnel_wants(const uint8_t *name, size_t len, uint16_t qtype);

/* Is a name of weight MW_TUNNEL_SAMPLE one of the sample (one in MW_TUNNEL_SAMPLE, by a hash
 * of its first label under the table's random seed)? name is non-empty. */
bool mw_tunnel_sampled(const struct mw_tunnel *t, const uint8_t *name);

/* One name a client sent upstream, of the weight mw_tunnel_wants gave it (1 in tests): name
 * (lowercase wire, len octets) whose registered domain starts at regdom_off (mw_regdom_find), of
 * type qtype. Returns 1 on a detection (f filled, a block of block_ms added, the state cleared), 0
 * otherwise. *ticket receives a handle for mw_tunnel_answer (0 when the name was not kept: the
 * registered domain is the whole name, or the pair is blocked already: with action log a detection
 * stays quiet for block_ms). */
int mw_tunnel_observe(struct mw_tunnel *t, const uint8_t *addr, size_t alen, const uint8_t *name,
                      size_t len, size_t regdom_off, uint16_t qtype, unsigned weight,
                      uint64_t now_ms, uint32_t *ticket, struct mw_tunnel_features *f);

/* The answer to an observed name came back with bytes octets. A ticket whose state was
 * evicted or started again since is ignored. */
void mw_tunnel_answer(struct mw_tunnel *t, uint32_t ticket, size_t bytes);

/* Counters and gauges. */
void mw_tunnel_stats(const struct mw_tunnel *t, struct mw_tunnel_stats *out);

/* "score=87 queries=45 distinct=44 rate=88/min len=97 label=52 entropy=4.61 encoded=95%
 * types=100% up=4400 down=39000 ms=2100" into buf (cap octets, NUL-terminated, cut to fit).
 * Returns buf. */
const char *mw_tunnel_features_text(const struct mw_tunnel_features *f, char *buf, size_t cap);

/* The features of one name alone (for tests and --explain): of its subdomain part (the
 * octets before regdom_off), the length in characters with dots, the longest label, the
 * character entropy in millibits per character, and whether a label looks encoded. */
void mw_tunnel_name_features(const uint8_t *name, size_t regdom_off, uint32_t *len, uint32_t *label,
                             uint32_t *entropy_milli, bool *encoded);
