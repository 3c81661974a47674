/* Answer sets per (name, type) and their changes. A response is read in two passes over its
 * answer section: the first collects the CNAME records (at most MAX_CNAMES) and follows the
 * chain from the question name, the second collects the records of the asked type owned by the
 * chain's end. Values are sorted by a binary key (the address octets; the MX preference, then
 * the lowercase wire name), so that addresses sort numerically, and only the kept ones are
 * turned into text. The scratch space for this is allocated once with the tracker.
 *
 * Each tracked pair is one block: the entry header, the wire name, the chain texts and the
 * values (key and text). A change builds a new block and swaps it in; the old block is kept as
 * "retired" until the next call so that the caller's mw_answer_change can point into both. */
#include "minewall/answerdiff.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "minewall/dname.h"
#include "minewall/dnsmsg.h"

#define MAX_CNAMES 64     /* CNAME records of one response considered for the chain */
#define MAX_SCAN 256      /* records of the asked type considered per response */
#define KEY_MAX (2 + 255) /* MX: preference and wire name */
#define TEXT_MAX 1040     /* "65535 " and a name of 255 octets with every byte as \DDD */
#define MAX_BUCKETS ((size_t)1 << 26)

struct entry {
    struct entry *hnext;       /* bucket chain */
    struct entry *prev, *next; /* LRU: head is the most recently seen */
    uint64_t hash;
    uint64_t seen_ms;
    uint32_t size; /* bytes of this block */
    uint32_t ttl;
    uint16_t qtype;
    uint8_t name_len;
    uint8_t n_chain;
    uint8_t n_vals;
    bool truncated;
    uint8_t data[]; /* name, chain texts (NUL-ended), values: u16 key length, key, text, NUL */
};

struct item {
    const uint8_t *key; /* into scan.keys */
    uint16_t len;
};

struct cname {
    uint8_t owner[256], target[256];
    uint16_t owner_len, target_len;
    uint32_t ttl;
};

/* What one response says, before it is compared or stored. Lives in the tracker. */
struct scan {
    struct item items[MAX_SCAN];
    uint16_t n_items;
    bool truncated;
    uint32_t ttl;
    bool any_ttl;
    size_t keys_used;
    uint8_t keys[MAX_SCAN * KEY_MAX];
    struct cname cn[MAX_CNAMES];
    uint16_t n_cn;
    uint16_t chain_idx[MAX_ANSWERDIFF_CHAIN]; /* into cn */
    uint8_t n_chain;
    char chain_text[MAX_ANSWERDIFF_CHAIN][TEXT_MAX];
    char text[MW_ANSWERDIFF_MAX_VALUES][TEXT_MAX];
};

struct mw_answerdiff {
    size_t max_names;
    struct entry **buckets; /* owned */
    size_t mask;
    struct entry *head, *tail;
    struct entry *retired; /* owned: the block replaced by the last change */
    struct scan *sc;       /* owned scratch */
    uint64_t seed;
    struct mw_answerdiff_stats st;
};
