/* Private to the domain rule set: what domainset.c (lookups, iteration) and
 * domainset_build.c (the builder) share: the set's layout (struct mw_domainset, the entry
 * and directory constants), the name hash and the packed-name encoding. The layout is
 * described at the top of domainset.c. Not installed and not for any other module. The
 * helpers are static inline, so each file inlines them as the one file did (split, pack,
 * symbolize and tld_find were plain static there: callgrind counts no more instructions per
 * lookup since the split). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/dname.h"
#include "minewall/domainset.h"
#include "minewall/hash.h"

#define BUCKET_FILL 8 /* entries per bucket on average */
#define SUPER_SHIFT 6 /* buckets per 32-bit directory base: 64 */
#define TLD_MAX 192   /* dictionary of last labels; their indexes are dictionary octets */
#define TLD_ROOT 254  /* dictionary octet of the root name (no labels) */
#define TLD_NONE 255  /* dictionary octet of a name whose last label is among the symbols */
#define EXT 0xC0      /* a header octet from here on starts an extended entry */
#define SIMPLE_LEN 64 /* simple header: class (0-2) * 64 + packed length (< 64) */
#define SIMPLE_CLS 3
#define ENC_MAX 512   /* a 255-octet name with every octet escaped packs to at most 509 */
#define ARENA_PAD 512 /* a name compare may read up to ENC_MAX octets past the last entry */
#define MAX_LABELS 127
#define RULES_MAX (1u << 31)

static const uint64_t S0 = 0xa0761d6478bd642full, S1 = 0xe7037ed1a0b428dbull,
                      S2 = 0x8ebc6af09c88c6e3ull;

/* ---- hashing ------------------------------------------------------------------------------ */

/* Names hash with hash.h's label step (mw_hash_label), from this root value down. */
#define ROOT_HASH (S2 ^ S0)

/* Split a wire name into labels. Returns the label count or -1 if malformed. */
static inline int split(const uint8_t *w, size_t len, uint8_t *off)
{
    if (len == 0 || len > MW_DNAME_MAX)
        return -1;
    size_t o = 0;
    int n = 0;
    while (w[o] != 0) {
        size_t l = w[o];
        if (l > 63 || o + l + 1 >= len)
            return -1;
        off[n++] = (uint8_t)o;
        o += l + 1;
    }
    if (o + 1 != len)
        return -1;
    off[n] = (uint8_t)o;
    return n;
}

/* ---- packed names ------------------------------------------------------------------------- */

enum { SYM_PAD = 0, SYM_SEP = 1, SYM_ESC = 39, SYM_BASE = 40 };

/* Symbol of every octet, or 0 when it must be escaped (names are lowercase here). */
static const uint8_t SYM[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  38, 0,  0,
    28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
    25, 26, 27, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
};

/* Append the symbols of the wire label l to sym[0..ns); returns the new count. */
static inline size_t label_syms(const uint8_t *l, uint8_t *sym, size_t ns)
{
    for (unsigned j = 1; j <= l[0]; j++) {
        uint8_t c = SYM[l[j]];
        if (c) {
            sym[ns++] = c;
        } else {
            sym[ns++] = SYM_ESC;
            sym[ns++] = (uint8_t)(l[j] / SYM_BASE);
            sym[ns++] = (uint8_t)(l[j] % SYM_BASE);
        }
    }
    return ns;
}

/* The symbols of labels [from, to) of the wire name w (label offsets off) into sym, with
 * SYM_SEP between labels; st[i] is where label i starts. Returns the symbol count. */
static inline size_t symbolize(const uint8_t *w, const uint8_t *off, int from, int to, uint8_t *sym,
                               uint16_t *st)
{
    size_t ns = 0;
    for (int i = from; i < to; i++) {
        const uint8_t *l = w + off[i];
        if (i > from)
            sym[ns++] = SYM_SEP;
        st[i] = (uint16_t)ns;
        ns = label_syms(l, sym, ns);
    }
    return ns;
}

/* Pack ns symbols and the dictionary octet into out (ENC_MAX octets). Symbols are grouped in
 * threes from the end, so only the first group can be short; it is padded in front with
 * SYM_PAD, which no name starts with. The packing is canonical: two names are equal exactly
 * when their packed forms are. Returns the packed length. */
static inline size_t pack_groups(const uint8_t *sym, size_t ns, uint8_t *out)
{
    size_t o = 0, k = ns % 3;
    if (k) {
        unsigned v = k == 2 ? sym[0] * SYM_BASE + sym[1] : sym[0];
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    for (; k < ns; k += 3) {
        unsigned v = (sym[k] * SYM_BASE + sym[k + 1]) * SYM_BASE + sym[k + 2];
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    return o;
}

static inline size_t pack(const uint8_t *sym, size_t ns, uint8_t dict, uint8_t *out)
{
    size_t o = pack_groups(sym, ns, out);
    out[o++] = dict;
    return o;
}

/* The symbols of gl octets of packed groups (the padding of the first group dropped).
 * Returns the symbol count. */
static inline size_t unpack_groups(const uint8_t *g, size_t gl, uint8_t *sym)
{
    size_t ns = 0;
    for (size_t i = 0; i + 2 <= gl; i += 2) {
        unsigned v = (unsigned)g[i] << 8 | g[i + 1];
        uint8_t d[3] = {(uint8_t)(v / (SYM_BASE * SYM_BASE)), (uint8_t)(v / SYM_BASE % SYM_BASE),
                        (uint8_t)(v % SYM_BASE)};
        int j = 0;
        if (i == 0)
            while (j < 2 && d[j] == SYM_PAD)
                j++;
        for (; j < 3; j++)
            sym[ns++] = d[j];
    }
    return ns;
}

/* Wire labels (no root octet) of ns symbols into name; returns the octets written. */
static inline size_t syms_to_wire(const uint8_t *sym, size_t ns, uint8_t *name)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
    size_t n = 0, lab = 0;
    if (!ns)
        return 0;
    name[n++] = 0;
    for (size_t k = 0; k < ns; k++) {
        if (sym[k] == SYM_SEP) {
            lab = n;
            name[n++] = 0;
            continue;
        }
        uint8_t c;
        if (sym[k] == SYM_ESC && k + 2 < ns) {
            c = (uint8_t)(sym[k + 1] * SYM_BASE + sym[k + 2]);
            k += 2;
        } else {
            c = (uint8_t)alpha[sym[k] - 2];
        }
        name[n++] = c;
        name[lab]++;
    }
    return n;
}

/* ---- the set ------------------------------------------------------------------------------ */

struct cls {
    uint16_t list;
    uint8_t flags;
    uint8_t action;
    uint8_t kind;
    uint8_t removed;
};

/* A rule the build did not keep: (name, kind) added again, from another list than the rule
 * kept for it (the winner, see domainset_build.c). at is the arena offset of the name's entry;
 * the array is sorted by (at, order added). Read only by mw_domainset_get_if. */
struct hidden {
    uint32_t at;
    uint8_t kind;
    struct mw_rule rule;
};

struct tld_slot {
    uint64_t hash; /* of the last label as a name */
    uint32_t id1;  /* dictionary index + 1, 0 empty */
};

struct mw_domainset {
    uint8_t *arena;    /* entries in hash order, then ARENA_PAD zero octets */
    uint32_t *super;   /* arena offset of every 64th bucket (with rel16) */
    uint16_t *rel16;   /* nb + 1 bucket starts relative to their super base, or NULL */
    uint32_t *off32;   /* nb + 1 bucket starts, when a super block spans 64 KiB; or NULL */
    uint64_t nb;       /* buckets, at least 1 */
    struct cls *cls;   /* cls[0] is the class of simple entries */
    uint8_t *tld_lab;  /* dictionary labels, wire form ("\3com"), concatenated */
    uint16_t *tld_off; /* offset of each label in tld_lab */
    struct tld_slot *tld_tab;
    size_t tld_mask;
    size_t ntld;
    unsigned lw; /* octets of every line number */
    size_t arena_len, ncls;
    size_t nrules;
    size_t bytes;
    uint64_t lmask[2];     /* bit L: some entry has L labels */
    struct hidden *hidden; /* owned; NULL when no name was added by two lists */
    size_t nhidden;
};

static inline bool has_labels(const uint64_t *m, int l)
{
    return (m[l >> 6] >> (l & 63)) & 1;
}

static inline uint64_t bucket_of(const struct mw_domainset *s, uint64_t h)
{
    return ((h >> 32) * s->nb) >> 32;
}

static inline size_t bucket_start(const struct mw_domainset *s, uint64_t b)
{
    if (s->off32)
        return s->off32[b];
    return (size_t)s->super[b >> SUPER_SHIFT] + s->rel16[b];
}

static inline const void *dir_slot(const struct mw_domainset *s, uint64_t b)
{
    return s->off32 ? (const void *)&s->off32[b] : (const void *)&s->rel16[b];
}

/* Short equal-length compares, inlined: packed names are mostly under 16 octets. */
static inline bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
            if (mw_load64(a + i) != mw_load64(b + i))
                return false;
        return i == n || mw_load64(a + n - 8) == mw_load64(b + n - 8);
    }
    if (n >= 4)
        return mw_load32(a) == mw_load32(b) && mw_load32(a + n - 4) == mw_load32(b + n - 4);
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* Dictionary index of a last label (wire label at lab, hashed as a name to h), or -1. */
static inline int tld_find(const struct mw_domainset *s, uint64_t h, const uint8_t *lab)
{
    if (!s->ntld)
        return -1;
    for (size_t i = (h >> 40) & s->tld_mask;; i = (i + 1) & s->tld_mask) {
        const struct tld_slot *t = &s->tld_tab[i];
        if (!t->id1)
            return -1;
        if (t->hash == h) {
            const uint8_t *d = s->tld_lab + s->tld_off[t->id1 - 1];
            if (d[0] == lab[0] && same_bytes(d + 1, lab + 1, lab[0]))
                return (int)t->id1 - 1;
        }
    }
}

static inline const uint8_t *get_varint(const uint8_t *p, uint32_t *out)
{
    uint32_t v = 0;
    int sh = 0;
    uint8_t c;
    do {
        c = *p++;
        v |= (uint32_t)(c & 0x7f) << sh;
        sh += 7;
    } while (c & 0x80 && sh < 35);
    *out = v;
    return p;
}

static inline uint8_t *put_varint(uint8_t *p, uint32_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint32_t get_line(const uint8_t *p, unsigned lw)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < lw; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint8_t *put_line(uint8_t *p, uint32_t v, unsigned lw)
{
    for (unsigned i = 0; i < lw; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}
