/* Private to localzone.c (the lookup) and localzone_build.c (the builder): the layout of a
 * set of local data and the name hashing both sides must agree on. Not for any other module.
 * The node hashes and the table probe are static inline so that the lookup pays no call for
 * them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/hash.h"
#include "minewall/localzone.h"

struct mw_errlist;

#define EMPTY UINT32_MAX
#define HASH_TAG 0x6c6f63616c7aULL /* "localz" */
#define SHOWN 64
#define TTL_MAX 2147483647u /* RFC 2181 section 8 */
#define MAX_TLDS 16

/* A record while building; its block (owner, then rdata) is owned until the set takes it. */
struct brec {
    uint8_t *owner; /* owned block */
    uint8_t *rdata; /* inside the block */
    uint16_t owner_len, rdlen, type;
    uint32_t ttl;
    int line;  /* config line; for a made PTR, the line of its A/AAAA record */
    bool made; /* a PTR made from an A/AAAA record */
    bool drop; /* a duplicate, or a made PTR that an explicit record overrides */
};

struct zone {
    uint8_t wire[MW_DNAME_MAX + 1];
    uint16_t len;
    uint8_t labels;
    enum mw_localzone_type type;
    int line;
    char *text;    /* owned */
    uint32_t node; /* its apex node */
    struct mw_dns_rrw soa;
};

struct node {
    const uint8_t *name; /* borrowed: a record block, a zone, or a suffix of a longer name */
    uint64_t hash;
    uint16_t len;
    int32_t zone;   /* the zone whose apex this is, or -1 */
    int32_t encl;   /* nearest enclosing zone (itself for an apex), or -1 */
    uint32_t first; /* records rr[first .. first + n) */
    uint32_t n;
};

struct mw_localzone {
    struct node *nodes; /* owned */
    size_t n_nodes, cap_nodes, n_data;
    uint32_t *slots; /* owned: node indices, EMPTY; mask + 1 of them, at most half full */
    size_t mask;
    uint64_t *bloom; /* owned: bloom_mask + 1 words, one bit per node */
    uint64_t *sld;   /* owned: as many words, one bit per two-label suffix; NULL: off */
    size_t bloom_mask;
    struct mw_dns_rrw *rr; /* owned; owner NULL, qoff 0: the question name */
    int *rr_line;          /* owned, n_rr */
    bool *rr_made;         /* owned, n_rr */
    size_t n_rr;
    uint8_t **blocks; /* owned, each owned: the records' owner and rdata */
    size_t n_blocks;
    struct zone *zones; /* owned */
    size_t n_zones;
    uint8_t min_zl, max_zl; /* label counts of the shallowest and deepest zone apex */
    /* The last labels (top-level domains) of every name and zone, when there are at most
     * MAX_TLDS of them and no zone at the root: a name under another TLD has nothing local,
     * which the lookup tells before hashing anything. n_tlds 0: no filter. */
    uint8_t n_tlds;
    uint8_t tld[MAX_TLDS][64]; /* length octet, then the label */
    uint64_t tld_bits[4];      /* tld_key() of each: most other TLDs miss here at once */
};

struct mw_localzone_builder {
    const char *name;        /* borrowed */
    struct mw_errlist *errs; /* borrowed; may be NULL */
    size_t n_errors;
    struct brec *recs; /* owned */
    size_t n_recs, cap_recs, n_configured;
    bool moved;         /* the record blocks belong to the set being built */
    struct zone *zones; /* owned */
    size_t n_zones, cap_zones;
    bool ptr;
};

static inline void free_zones(struct zone *z, size_t n)
{
    for (size_t i = 0; z && i < n; i++)
        free(z[i].text);
    free(z);
}

/* Names hash from the root down, a label at a time (hash.h's label step), so that one pass
 * over a query name gives the hash of each of its suffixes (the zone walk needs them). l is a
 * label with its length octet (never the root label). */
static inline uint64_t label_step(uint64_t h, const uint8_t *l)
{
    return mw_hash_label(h, l + 1, l[0]);
}

/* Offsets of the labels of name (the root label last); returns how many labels. */
static inline int label_offsets(const uint8_t *name, size_t len, uint16_t off[128])
{
    int n = 0;
    size_t o = 0;
    while (o < len && name[o] && n < 127) {
        off[n++] = (uint16_t)o;
        o += 1 + (size_t)name[o];
    }
    off[n] = (uint16_t)(len - 1);
    return n;
}

/* The label offsets of name and the hash of every suffix: hs[i] for the suffix from label i
 * on, hs[labels] for the root. Returns the number of labels. */
static inline int suffix_hashes(const uint8_t *name, size_t len, uint16_t off[128],
                                uint64_t hs[128])
{
    int labels = label_offsets(name, len, off);
    hs[labels] = HASH_TAG;
    for (int i = labels - 1; i >= 0; i--)
        hs[i] = label_step(hs[i + 1], name + off[i]);
    return labels;
}

static inline uint64_t name_hash(const uint8_t *name, size_t len)
{
    uint16_t off[128];
    uint64_t hs[128];
    suffix_hashes(name, len, off, hs);
    return hs[0];
}

/* One bit per node name in a filter of 16 bits a node (other bits of the hash than the
 * table's): most names that have no node are told without touching the table. */
static inline bool maybe_node(const struct mw_localzone *lz, uint64_t h)
{
    uint64_t b = h >> 32;
    return (lz->bloom[(b >> 6) & lz->bloom_mask] >> (b & 63)) & 1;
}

static inline const struct node *find(const struct mw_localzone *lz, const uint8_t *name,
                                      size_t len, uint64_t h)
{
    for (size_t i = h & lz->mask;; i = (i + 1) & lz->mask) {
        uint32_t x = lz->slots[i];
        if (x == EMPTY)
            return NULL;
        const struct node *n = &lz->nodes[x];
        if (n->hash == h && n->len == len && memcmp(n->name, name, len) == 0)
            return n;
    }
}

/* A byte of a label (length octet first) for the TLD bitmap: its length, first and last
 * octet. */
static inline unsigned tld_key(const uint8_t *l)
{
    return ((unsigned)l[0] * 7u + l[1] + l[l[0]]) & 255u;
}
