/* The domain rule set: an open-addressing hash table of 32-bit slots over one arena, built once
 * and never modified, so readers need no locks.
 *
 * Layout. Every distinct name is one arena entry: the name, then its rules (one per kind, plus
 * tombstones in a delta set) as (class, line) varint pairs, where a class is an index into a
 * small table of distinct (list, flags, action, kind, tombstone) tuples. A name whose last label
 * is one of the set's most frequent ones (up to 192, "com", "net", ...) is stored without it:
 * the labels before it, then one byte 64 + index into that dictionary; any other name is stored
 * as plain wire ending in the root octet. Label length octets are 1..63, so a byte of 0 or >= 64
 * ends a name either way and the two forms never compare equal. The table is linear probing
 * with a load of at most 0.8, filled in hash order: entries are sorted by hash and each is placed
 * at max(home, previous + 1), so home slots never decrease along the table and the probe never
 * wraps (the table ends with an empty slot). A slot holds a 10-bit tag of the hash (never 0: 0
 * is an empty slot), the entry's displacement from its home (8 bits, saturating) and a 14-bit
 * offset from the arena base of its block of 32 slots; the arena is written in slot order, and
 * 32 entries of at most 315 octets stay under 16 KiB. A probe skips entries displaced from
 * earlier homes, compares only those of its own home, and stops at the first entry of a later
 * home, so a miss reads about as many slots as a hit (about 3 at load 0.8) and almost never
 * touches the arena.
 *
 * Hashing. A name's hash is computed from the right, one label at a time, from a root constant,
 * so the hashes of all suffixes of a query name fall out of one pass. Matching probes the
 * suffixes from the longest to the shortest, skipping label counts that no rule has, and stops
 * at the first suffix with an applicable rule. The hash is fixed, not seeded: lists come from
 * the operator's configuration, and query names can only choose among clusters that exist. */
#include "minewall/domainset.h"

#include "minewall/dname.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A slot: tag (10 bits, never 0) | displacement from the home slot (8 bits, 255 = 255 or more)
 * | offset of the entry from its block's arena base (14 bits). */
#define SLOT_REL_BITS 14
#define SLOT_REL_MASK ((1u << SLOT_REL_BITS) - 1)
#define SLOT_DISP_SHIFT 14
#define SLOT_DISP_MAX 255u
#define SLOT_TAG_SHIFT 22
#define SLOT_TAG_MASK 0x3ffu
#define BLOCK_SHIFT 5
#define LOAD_NUM 4 /* maximum load LOAD_NUM / LOAD_DEN */
#define LOAD_DEN 5
#define TLD_MAX 192
#define TLD_BASE 64
#define ARENA_PAD 256 /* a name compare may read up to 255 octets past the last entry */
#define MAX_LABELS 127
#define RULES_MAX (1u << 31)

static const uint64_t S0 = 0xa0761d6478bd642full, S1 = 0xe7037ed1a0b428dbull,
                      S2 = 0x8ebc6af09c88c6e3ull;

/* ---- hashing ------------------------------------------------------------------------------ */

static inline void mul128(uint64_t *a, uint64_t *b)
{
#ifdef __SIZEOF_INT128__
    unsigned __int128 r = (unsigned __int128)*a * *b;
    *a = (uint64_t)r;
    *b = (uint64_t)(r >> 64);
#else
    uint64_t ha = *a >> 32, hb = *b >> 32, la = (uint32_t)*a, lb = (uint32_t)*b;
    uint64_t rh = ha * hb, rm0 = ha * lb, rm1 = hb * la, rl = la * lb;
    uint64_t t = rl + (rm0 << 32), c = t < rl;
    uint64_t lo = t + (rm1 << 32);
    c += lo < t;
    *a = lo;
    *b = rh + (rm0 >> 32) + (rm1 >> 32) + c;
#endif
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    mul128(&a, &b);
    return a ^ b;
}

static inline uint64_t rd8(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t rd4(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Extend the hash h of a name by one label of n octets at p on its left. wyhash-style: every
 * octet is read (short labels by overlapping loads), two 64x64->128 multiplies per label. */
static inline uint64_t label_hash(uint64_t h, const uint8_t *p, size_t n)
{
    uint64_t a, b;
    if (n <= 16) {
        if (n >= 4) {
            size_t m = (n >> 3) << 2;
            a = (rd4(p) << 32) | rd4(p + m);
            b = (rd4(p + n - 4) << 32) | rd4(p + n - 4 - m);
        } else {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1];
            b = 0;
        }
    } else {
        size_t i = n;
        while (i > 16) {
            h = mix(rd8(p) ^ S1, rd8(p + 8) ^ h);
            p += 16;
            i -= 16;
        }
        a = rd8(p + i - 16);
        b = rd8(p + i - 8);
    }
    a ^= S1;
    b ^= h;
    mul128(&a, &b);
    return mix(a ^ S0 ^ n, b ^ S1);
}

#define ROOT_HASH (S2 ^ S0)

/* ---- query names -------------------------------------------------------------------------- */

/* A query name split at its labels, with the hashes of its suffixes. */
struct qview {
    const uint8_t *q;
    size_t len;
    int n;                       /* labels, root not counted */
    int lo;                      /* h[i] is valid for lo <= i <= n */
    uint8_t off[MAX_LABELS + 1]; /* off[i]: label i (0 leftmost); off[n]: the root octet */
    uint64_t h[MAX_LABELS + 1];  /* h[i]: hash of the suffix starting at label i */
};

/* Split a wire name into labels. Returns the label count or -1 if malformed. */
static int split(const uint8_t *w, size_t len, uint8_t *off)
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

/* Hash the suffixes of at most maxl labels (and always the last label, for the dictionary). */
static bool qview_init(struct qview *v, const uint8_t *q, size_t len, int maxl)
{
    int n = split(q, len, v->off);
    if (n < 0)
        return false;
    v->q = q;
    v->len = len;
    v->n = n;
    int lo = n - (maxl < 1 ? 1 : maxl);
    v->lo = lo < 0 ? 0 : lo;
    uint64_t h = ROOT_HASH;
    v->h[n] = h;
    for (int i = n - 1; i >= v->lo; i--) {
        h = label_hash(h, q + v->off[i] + 1, q[v->off[i]]);
        v->h[i] = h;
    }
    return true;
}

/* ---- the set ------------------------------------------------------------------------------ */

struct cls {
    uint16_t list;
    uint8_t flags;
    uint8_t action;
    uint8_t kind;
    uint8_t removed;
};

struct tld_slot {
    uint64_t hash; /* of the last label as a name */
    uint32_t id1;  /* dictionary index + 1, 0 empty */
};

struct mw_domainset {
    uint32_t *slots; /* nslots, at least the last one empty */
    uint32_t *base;  /* arena offset of each block of 32 slots */
    uint8_t *arena;  /* entries in slot order, then ARENA_PAD zero octets */
    struct cls *cls;
    uint8_t *tld_lab;  /* dictionary labels, wire form ("\3com"), concatenated */
    uint16_t *tld_off; /* offset of each label in tld_lab */
    struct tld_slot *tld_tab;
    size_t tld_mask;
    size_t ntld;
    uint64_t cap; /* home slots are [0, cap) */
    size_t nslots, nblocks, arena_len, ncls;
    size_t nrules;
    size_t bytes;
    uint64_t lmask[2]; /* bit L: some entry has L labels */
};

static inline bool has_labels(const uint64_t *m, int l)
{
    return (m[l >> 6] >> (l & 63)) & 1;
}

static inline size_t home(uint64_t cap, uint64_t h)
{
    return (size_t)(((h >> 32) * cap) >> 32);
}

static inline uint32_t tag_of(uint64_t h)
{
    uint32_t t = (uint32_t)h & SLOT_TAG_MASK;
    return t ? t : 1;
}

/* Short equal-length compares, inlined: names are mostly under 32 octets. */
static inline bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
            if (rd8(a + i) != rd8(b + i))
                return false;
        return i == n || rd8(a + n - 8) == rd8(b + n - 8);
    }
    if (n >= 4)
        return rd4(a) == rd4(b) && rd4(a + n - 4) == rd4(b + n - 4);
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* Dictionary index of a last label (wire label at lab, hashed as a name to h), or -1. */
static int tld_find(const struct mw_domainset *s, uint64_t h, const uint8_t *lab)
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

static int qview_tld(const struct mw_domainset *s, const struct qview *v)
{
    if (v->n == 0)
        return -1;
    return tld_find(s, v->h[v->n - 1], v->q + v->off[v->n - 1]);
}

/* Does the entry at e hold the suffix of v starting at label i? tld is the dictionary index
 * of v's last label in this set. Returns the end of the entry's name, or NULL. */
static inline const uint8_t *name_eq(const uint8_t *e, const struct qview *v, int i, int tld)
{
    size_t o = v->off[i];
    if (tld >= 0 && i < v->n) {
        size_t hl = v->off[v->n - 1] - o;
        if (!same_bytes(e, v->q + o, hl) || e[hl] != TLD_BASE + tld)
            return NULL;
        return e + hl + 1;
    }
    size_t fl = v->len - o;
    if (!same_bytes(e, v->q + o, fl))
        return NULL;
    return e + fl;
}

/* Entries sit in hash order, so home slots never decrease along the table: entries displaced
 * from earlier homes are skipped, those of our home are compared by tag and name, and the first
 * entry with a later home ends a miss. */
static const uint8_t *find(const struct mw_domainset *s, const struct qview *v, int i, int tld)
{
    uint64_t h = v->h[i];
    uint32_t tag = tag_of(h);
    size_t h0 = home(s->cap, h);
    for (size_t k = h0;; k++) {
        uint32_t x = s->slots[k];
        if (!x)
            return NULL;
        size_t d = (x >> SLOT_DISP_SHIFT) & SLOT_DISP_MAX;
        if (d < SLOT_DISP_MAX) {
            if (k - d > h0)
                return NULL;
            if (k - d < h0)
                continue;
        } else if (k < h0 + SLOT_DISP_MAX) {
            continue; /* home <= k - 255 < h0 */
        }
        if ((x >> SLOT_TAG_SHIFT) != tag)
            continue;
        const uint8_t *e = s->arena + s->base[k >> BLOCK_SHIFT] + (x & SLOT_REL_MASK);
        const uint8_t *p = name_eq(e, v, i, tld);
        if (p)
            return p;
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
    } while (c & 0x80);
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

/* The rules stored at one name, by kind. */
struct found {
    uint8_t has;     /* bit per kind: a rule */
    uint8_t removed; /* bit per kind: a tombstone */
    struct mw_rule r[3];
};

/* Decode the items after a name; returns the end of the entry. */
static const uint8_t *read_items(const struct mw_domainset *s, const uint8_t *p, struct found *f,
                                 struct mw_rule *tomb)
{
    uint32_t v, line;
    do {
        p = get_varint(p, &v);
        p = get_varint(p, &line);
        const struct cls *c = &s->cls[v >> 1];
        struct mw_rule r = {.line = line, .list = c->list, .flags = c->flags, .action = c->action};
        if (c->removed) {
            f->removed |= (uint8_t)(1u << c->kind);
            if (tomb)
                tomb[c->kind] = r;
        } else {
            f->has |= (uint8_t)(1u << c->kind);
            f->r[c->kind] = r;
        }
    } while (v & 1);
    return p;
}

static void lookup(const struct mw_domainset *s, const struct qview *v, int i, int tld,
                   struct found *f)
{
    const uint8_t *p = find(s, v, i, tld);
    if (p)
        read_items(s, p, f, NULL);
}

/* Precedence between rules for the same name: allow first, then list, then line. */
static inline bool better(const struct mw_rule *a, const struct mw_rule *b)
{
    bool aa = a->flags & MW_RULE_ALLOW, ba = b->flags & MW_RULE_ALLOW;
    if (aa != ba)
        return aa;
    if (a->list != b->list)
        return a->list < b->list;
    return a->line < b->line;
}

/* The effective rule of (name, kind) over a base and a delta's rules at that name. */
static const struct mw_rule *effective(const struct found *b, const struct found *d, int k)
{
    const struct mw_rule *c = NULL;
    uint8_t bit = (uint8_t)(1u << k);
    if ((b->has & bit) && !(d->removed & bit))
        c = &b->r[k];
    if ((d->has & bit) && (!c || ((d->r[k].flags & MW_RULE_ALLOW) && !(c->flags & MW_RULE_ALLOW))))
        c = &d->r[k];
    return c;
}

static bool decide(const struct found *b, const struct found *d, unsigned kinds,
                   struct mw_domain_match *out)
{
    bool any = false;
    for (int k = 0; k < 3; k++) {
        if (!(kinds & (1u << k)))
            continue;
        const struct mw_rule *c = effective(b, d, k);
        if (c && (!any || better(c, &out->rule))) {
            out->rule = *c;
            out->kind = (uint8_t)k;
            any = true;
        }
    }
    return any;
}

static int max_labels(const uint64_t *m)
{
    if (m[1])
        return 64 + 63 - __builtin_clzll(m[1]);
    if (m[0])
        return 63 - __builtin_clzll(m[0]);
    return -1;
}

/* Inlined into both entry points so that the plain match loses the delta's branches. */
static inline __attribute__((always_inline)) bool match(const struct mw_domainset *base,
                                                        const struct mw_domainset *delta,
                                                        const uint8_t *qname, size_t len,
                                                        struct mw_domain_match *out)
{
    uint64_t m[2] = {base->lmask[0], base->lmask[1]};
    if (delta) {
        m[0] |= delta->lmask[0];
        m[1] |= delta->lmask[1];
    }
    int maxl = max_labels(m);
    struct qview v;
    if (maxl < 0 || !qview_init(&v, qname, len, maxl))
        return false;
    /* Start every slot load at once; the probes below then wait for one memory latency, not
     * one per suffix. */
    for (int i = v.lo; i <= v.n; i++) {
        if (has_labels(base->lmask, v.n - i))
            __builtin_prefetch(&base->slots[home(base->cap, v.h[i])]);
        if (delta && has_labels(delta->lmask, v.n - i))
            __builtin_prefetch(&delta->slots[home(delta->cap, v.h[i])]);
    }
    int tb = qview_tld(base, &v), td = delta ? qview_tld(delta, &v) : -1;
    for (int i = v.lo; i <= v.n; i++) {
        int l = v.n - i;
        if (!has_labels(m, l))
            continue;
        struct found fb, fd;
        fb.has = fb.removed = fd.has = fd.removed = 0;
        if (has_labels(base->lmask, l))
            lookup(base, &v, i, tb, &fb);
        if (delta && has_labels(delta->lmask, l))
            lookup(delta, &v, i, td, &fd);
        if (!fb.has && !fd.has)
            continue;
        unsigned kinds = i == 0 ? (1u << MW_DOMAIN_SUBTREE | 1u << MW_DOMAIN_EXACT)
                                : (1u << MW_DOMAIN_SUBTREE | 1u << MW_DOMAIN_WILDCARD);
        if (decide(&fb, &fd, kinds, out)) {
            out->offset = v.off[i];
            return true;
        }
    }
    return false;
}

bool mw_domainset_overlay_match(const struct mw_domainset *base, const struct mw_domainset *delta,
                                const uint8_t *qname, size_t len, struct mw_domain_match *out)
{
    return match(base, delta, qname, len, out);
}

bool mw_domainset_match(const struct mw_domainset *s, const uint8_t *qname, size_t len,
                        struct mw_domain_match *out)
{
    return match(s, NULL, qname, len, out);
}

bool mw_domainset_overlay_get(const struct mw_domainset *base, const struct mw_domainset *delta,
                              const uint8_t *wire, size_t wire_len, int kind, struct mw_rule *out)
{
    struct qview v;
    if (kind < 0 || kind > 2 || !qview_init(&v, wire, wire_len, MAX_LABELS))
        return false;
    struct found fb = {0}, fd = {0};
    lookup(base, &v, 0, qview_tld(base, &v), &fb);
    if (delta)
        lookup(delta, &v, 0, qview_tld(delta, &v), &fd);
    const struct mw_rule *c = effective(&fb, &fd, kind);
    if (c)
        *out = *c;
    return c != NULL;
}

bool mw_domainset_get(const struct mw_domainset *s, const uint8_t *wire, size_t wire_len, int kind,
                      struct mw_rule *out)
{
    return mw_domainset_overlay_get(s, NULL, wire, wire_len, kind, out);
}

size_t mw_domainset_count(const struct mw_domainset *s)
{
    return s->nrules;
}

size_t mw_domainset_bytes(const struct mw_domainset *s)
{
    return s->bytes;
}

int mw_domainset_foreach(const struct mw_domainset *s, mw_domain_rule_cb cb, void *arg)
{
    uint8_t name[MW_DNAME_MAX + 1];
    for (size_t k = 0; k < s->nslots; k++) {
        uint32_t x = s->slots[k];
        if (!x)
            continue;
        const uint8_t *p = s->arena + s->base[k >> BLOCK_SHIFT] + (x & SLOT_REL_MASK);
        size_t n = 0;
        while (*p && *p < TLD_BASE) {
            memcpy(name + n, p, (size_t)*p + 1);
            n += (size_t)*p + 1;
            p += *p + 1;
        }
        if (*p >= TLD_BASE) {
            const uint8_t *d = s->tld_lab + s->tld_off[*p - TLD_BASE];
            memcpy(name + n, d, (size_t)d[0] + 1);
            n += (size_t)d[0] + 1;
        }
        name[n++] = 0;
        p++;
        struct found f = {0};
        struct mw_rule tomb[3];
        read_items(s, p, &f, tomb);
        for (int kind = 0; kind < 3; kind++) {
            for (int rm = 0; rm < 2; rm++) {
                if (!((rm ? f.removed : f.has) & (1u << kind)))
                    continue;
                struct mw_domain_rule r = {.name = name,
                                           .name_len = (uint8_t)n,
                                           .kind = (uint8_t)kind,
                                           .removed = rm,
                                           .rule = rm ? tomb[kind] : f.r[kind]};
                int rc = cb(&r, arg);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

void mw_domainset_free(struct mw_domainset *s)
{
    if (!s)
        return;
    free(s->slots);
    free(s->base);
    free(s->arena);
    free(s->cls);
    free(s->tld_lab);
    free(s->tld_off);
    free(s->tld_tab);
    free(s);
}

/* ---- the builder -------------------------------------------------------------------------- */

/* One added rule, 24 octets; sorted in place by hash at build time. The name offset grows with
 * every add, so it also orders records by the time they were added. */
struct rec {
    uint64_t hash; /* of the whole name */
    uint32_t name; /* offset in the builder's names */
    uint32_t line;
    uint16_t list;
    uint8_t len; /* wire length, root included */
    uint8_t tlo; /* offset of the last label */
    uint8_t kind;
    uint8_t flags;
    uint8_t action;
    uint8_t removed;
};

struct mw_domainset_builder {
    struct rec *recs; /* owned */
    size_t nrecs, caprecs;
    uint8_t *names; /* owned: every added name, lowercased wire */
    size_t nnames, capnames;
    uint64_t lmask[2];
};

struct mw_domainset_builder *mw_domainset_builder_new(size_t size_hint)
{
    struct mw_domainset_builder *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    if (size_hint && size_hint < RULES_MAX) {
        b->recs = malloc(size_hint * sizeof *b->recs);
        b->names = malloc(size_hint * 20);
        if (b->recs)
            b->caprecs = size_hint;
        if (b->names)
            b->capnames = size_hint * 20;
    }
    return b;
}

void mw_domainset_builder_free(struct mw_domainset_builder *b)
{
    if (!b)
        return;
    free(b->recs);
    free(b->names);
    free(b);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

static int add(struct mw_domainset_builder *b, const uint8_t *wire, size_t len, int kind,
               const struct mw_rule *rule, bool removed)
{
    uint8_t off[MAX_LABELS + 1];
    if (kind < 0 || kind > 2 || !wire)
        return -EINVAL;
    int n = split(wire, len, off);
    if (n < 0)
        return -EINVAL;
    if (b->nrecs >= RULES_MAX || b->nnames + len > UINT32_MAX)
        return -E2BIG;
    if (grow((void **)&b->recs, &b->caprecs, b->nrecs + 1, sizeof *b->recs) ||
        grow((void **)&b->names, &b->capnames, b->nnames + len, 1))
        return -ENOMEM;

    uint8_t *w = b->names + b->nnames;
    memcpy(w, wire, len);
    mw_dname_lower(w, len);
    uint64_t h = ROOT_HASH;
    for (int i = n - 1; i >= 0; i--)
        h = label_hash(h, w + off[i] + 1, w[off[i]]);
    struct rec *r = &b->recs[b->nrecs++];
    *r = (struct rec){.hash = h,
                      .name = (uint32_t)b->nnames,
                      .len = (uint8_t)len,
                      .tlo = n ? off[n - 1] : 0,
                      .kind = (uint8_t)kind,
                      .removed = removed};
    if (rule) {
        r->line = rule->line;
        r->list = rule->list;
        r->flags = removed ? 0 : rule->flags;
        r->action = removed ? 0 : rule->action;
    }
    b->lmask[n >> 6] |= 1ull << (n & 63);
    b->nnames += len;
    return 0;
}

int mw_domainset_builder_add(struct mw_domainset_builder *b, const uint8_t *wire, size_t wire_len,
                             int kind, const struct mw_rule *rule)
{
    if (!rule)
        return -EINVAL;
    return add(b, wire, wire_len, kind, rule, false);
}

int mw_domainset_builder_remove(struct mw_domainset_builder *b, const uint8_t *wire,
                                size_t wire_len, int kind, const struct mw_rule *rule)
{
    return add(b, wire, wire_len, kind, rule, true);
}

/* Sorting: the records by the hash's top 32 bits with a stable LSD radix sort, then runs of
 * equal top bits (collisions and duplicate names) by (hash, name, order added). */
static int rec_cmp(const uint8_t *names, const struct rec *x, const struct rec *y)
{
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    int c = memcmp(names + x->name, names + y->name, x->len);
    if (c)
        return c;
    return x->name < y->name ? -1 : x->name > y->name;
}

/* Merge sort of a[0..n) using tmp[0..n); O(n log n) even on adversarial runs. */
static void rec_msort(const uint8_t *names, struct rec *a, struct rec *tmp, size_t n)
{
    if (n < 2)
        return;
    if (n <= 8) {
        for (size_t i = 1; i < n; i++) {
            struct rec x = a[i];
            size_t j = i;
            while (j > 0 && rec_cmp(names, &x, &a[j - 1]) < 0) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
        return;
    }
    size_t m = n / 2;
    rec_msort(names, a, tmp, m);
    rec_msort(names, a + m, tmp, n - m);
    size_t i = 0, j = m, k = 0;
    while (i < m && j < n)
        tmp[k++] = rec_cmp(names, &a[j], &a[i]) < 0 ? a[j++] : a[i++];
    while (i < m)
        tmp[k++] = a[i++];
    memcpy(a, tmp, k * sizeof *a);
}

static int sort_recs(struct mw_domainset_builder *b)
{
    size_t n = b->nrecs;
    struct rec *a = b->recs, *t = malloc(n * sizeof *t);
    uint32_t *cnt = calloc(3 * 2048, sizeof *cnt);
    if (!t || !cnt) {
        free(t);
        free(cnt);
        return -ENOMEM;
    }
    static const int shift[3] = {32, 43, 54};
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < 3; d++)
            cnt[d * 2048 + ((a[i].hash >> shift[d]) & 2047)]++;
    for (int d = 0; d < 3; d++) {
        uint32_t *c = cnt + d * 2048, sum = 0;
        for (int j = 0; j < 2048; j++) {
            uint32_t x = c[j];
            c[j] = sum;
            sum += x;
        }
        for (size_t i = 0; i < n; i++)
            t[c[(a[i].hash >> shift[d]) & 2047]++] = a[i];
        struct rec *x = a;
        a = t;
        t = x;
    }
    free(cnt);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && (a[j].hash >> 32) == (a[i].hash >> 32))
            j++;
        if (j - i > 1)
            rec_msort(b->names, a + i, t, j - i);
        i = j;
    }
    /* After an odd number of passes the sorted records are in the new buffer. */
    free(t);
    b->recs = a;
    b->caprecs = n;
    return 0;
}

static inline bool same_name(const uint8_t *names, const struct rec *x, const struct rec *y)
{
    return x->hash == y->hash && x->len == y->len &&
           memcmp(names + x->name, names + y->name, x->len) == 0;
}

static inline uint64_t tld_hash(const uint8_t *lab)
{
    return label_hash(ROOT_HASH, lab + 1, lab[0]);
}

/* Count last labels over all records (a bounded table of candidates; a list with thousands of
 * distinct last labels simply leaves the rarer ones uncompressed) and keep the most frequent
 * TLD_MAX that occur at least twice. */
struct tld_count {
    uint64_t hash;
    uint32_t lab; /* offset of the label in the builder's names */
    uint32_t count;
};

static int tld_count_cmp(const void *x, const void *y)
{
    const struct tld_count *a = x, *b = y;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return a->lab < b->lab ? -1 : a->lab > b->lab;
}

static int pick_tlds(const struct mw_domainset_builder *b, struct mw_domainset *s)
{
    const size_t tcap = 4096, tmask = tcap - 1;
    struct tld_count *t = calloc(tcap, sizeof *t);
    if (!t)
        return -ENOMEM;
    size_t used = 0;
    for (size_t r = 0; r < b->nrecs; r++) {
        const struct rec *x = &b->recs[r];
        if (x->len == 1)
            continue;
        const uint8_t *lab = b->names + x->name + x->tlo;
        uint64_t h = tld_hash(lab);
        for (size_t i = (h >> 40) & tmask;; i = (i + 1) & tmask) {
            if (!t[i].count) {
                if (used < tcap * 3 / 4) {
                    t[i] = (struct tld_count){.hash = h, .lab = x->name + x->tlo, .count = 1};
                    used++;
                }
                break;
            }
            const uint8_t *lab2 = b->names + t[i].lab;
            if (t[i].hash == h && lab[0] == lab2[0] && !memcmp(lab, lab2, lab[0] + 1u)) {
                t[i].count++;
                break;
            }
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < tcap; i++)
        if (t[i].count >= 2)
            t[k++] = t[i];
    qsort(t, k, sizeof *t, tld_count_cmp);
    if (k > TLD_MAX)
        k = TLD_MAX;

    int rc = 0;
    if (k) {
        size_t tsz = 16;
        while (tsz < 2 * k)
            tsz *= 2;
        s->tld_lab = malloc(k * 64);
        s->tld_off = malloc(k * sizeof *s->tld_off);
        s->tld_tab = calloc(tsz, sizeof *s->tld_tab);
        if (!s->tld_lab || !s->tld_off || !s->tld_tab) {
            rc = -ENOMEM;
            goto out;
        }
        s->tld_mask = tsz - 1;
        size_t n = 0;
        for (size_t j = 0; j < k; j++) {
            const uint8_t *lab = b->names + t[j].lab;
            s->tld_off[j] = (uint16_t)n;
            memcpy(s->tld_lab + n, lab, lab[0] + 1u);
            n += lab[0] + 1u;
            size_t i = (t[j].hash >> 40) & s->tld_mask;
            while (s->tld_tab[i].id1)
                i = (i + 1) & s->tld_mask;
            s->tld_tab[i] = (struct tld_slot){.hash = t[j].hash, .id1 = (uint32_t)j + 1};
        }
        s->ntld = k;
        s->bytes += k * 64 + k * sizeof *s->tld_off + tsz * sizeof *s->tld_tab;
    }
out:
    free(t);
    return rc;
}

/* Class ids: a small open-addressing map from the packed class key to its index. */
struct cls_map {
    uint64_t *keys; /* key + 1, 0 empty */
    uint32_t *ids;
    size_t mask, n;
};

static int cls_grow(struct cls_map *m)
{
    struct cls_map g = {.mask = 2 * m->mask + 1, .n = m->n};
    g.keys = calloc(g.mask + 1, sizeof *g.keys);
    g.ids = malloc((g.mask + 1) * sizeof *g.ids);
    if (!g.keys || !g.ids) {
        free(g.keys);
        free(g.ids);
        return -ENOMEM;
    }
    for (size_t j = 0; j <= m->mask; j++) {
        if (!m->keys[j])
            continue;
        size_t x = (size_t)(mix((m->keys[j] - 1) ^ S0, S1) & g.mask);
        while (g.keys[x])
            x = (x + 1) & g.mask;
        g.keys[x] = m->keys[j];
        g.ids[x] = m->ids[j];
    }
    free(m->keys);
    free(m->ids);
    *m = g;
    return 0;
}

static int cls_id(struct cls_map *m, struct mw_domainset *s, const struct rec *r, uint32_t *id)
{
    uint64_t key = (uint64_t)r->list | (uint64_t)r->flags << 16 | (uint64_t)r->action << 24 |
                   (uint64_t)r->kind << 32 | (uint64_t)r->removed << 34;
    if (2 * (m->n + 1) > m->mask + 1 && cls_grow(m))
        return -ENOMEM;
    size_t i = (size_t)(mix(key ^ S0, S1) & m->mask);
    while (m->keys[i]) {
        if (m->keys[i] == key + 1) {
            *id = m->ids[i];
            return 0;
        }
        i = (i + 1) & m->mask;
    }
    struct cls *c = realloc(s->cls, (m->n + 1) * sizeof *c);
    if (!c)
        return -ENOMEM;
    s->cls = c;
    c[m->n] = (struct cls){r->list, r->flags, r->action, r->kind, r->removed};
    m->keys[i] = key + 1;
    m->ids[i] = (uint32_t)m->n;
    *id = (uint32_t)m->n++;
    s->ncls = m->n;
    return 0;
}

/* Write the entry for the records of one name, a[0..n) in (hash, name, order added) order. */
static int put_entry(const uint8_t *names, struct mw_domainset *s, struct cls_map *cm,
                     const struct rec *a, size_t n, uint8_t **pp)
{
    /* The winner per (kind, tombstone): the first added, unless a later rule is an allow
     * rule and it is not. */
    const struct rec *w[6] = {0};
    for (size_t j = 0; j < n; j++) {
        const struct rec *r = &a[j];
        int c = r->kind * 2 + r->removed;
        if (!w[c] || (!r->removed && (r->flags & MW_RULE_ALLOW) && !(w[c]->flags & MW_RULE_ALLOW)))
            w[c] = r;
    }
    const uint8_t *name = names + a->name;
    uint8_t *p = *pp;
    int tld = -1;
    if (a->len > 1)
        tld = tld_find(s, tld_hash(name + a->tlo), name + a->tlo);
    if (tld >= 0) {
        memcpy(p, name, a->tlo);
        p += a->tlo;
        *p++ = (uint8_t)(TLD_BASE + tld);
    } else {
        memcpy(p, name, a->len);
        p += a->len;
    }
    int last = 5;
    while (!w[last])
        last--;
    for (int c = 0; c <= last; c++) {
        if (!w[c])
            continue;
        uint32_t id;
        int rc = cls_id(cm, s, w[c], &id);
        if (rc)
            return rc;
        p = put_varint(p, id << 1 | (c < last));
        p = put_varint(p, w[c]->line);
        if (!w[c]->removed)
            s->nrules++;
    }
    *pp = p;
    return 0;
}

static int layout(const struct mw_domainset_builder *b, struct mw_domainset *s)
{
    const struct rec *a = b->recs;
    size_t n = b->nrecs, distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || !same_name(b->names, &a[i - 1], &a[i]))
            distinct++;
    s->cap = (distinct * LOAD_DEN + LOAD_NUM - 1) / LOAD_NUM;
    if (s->cap == 0)
        s->cap = 1;

    /* A position is at most one past the previous one or its home, so cap + distinct + 1
     * slots always hold the table and its trailing empty slot. */
    size_t maxslots = ((size_t)s->cap + distinct + 1 + 63) & ~(size_t)63;
    size_t bound = b->nnames + n * 11 + ARENA_PAD;
    if (bound - ARENA_PAD > UINT32_MAX)
        return -E2BIG;
    struct cls_map cm = {.mask = 63};
    cm.keys = calloc(64, sizeof *cm.keys);
    cm.ids = malloc(64 * sizeof *cm.ids);
    s->slots = calloc(maxslots, sizeof *s->slots);
    s->base = malloc((maxslots >> BLOCK_SHIFT) * sizeof *s->base);
    s->arena = malloc(bound);
    int rc = -ENOMEM;
    if (!cm.keys || !cm.ids || !s->slots || !s->base || !s->arena)
        goto out;

    uint8_t *p = s->arena;
    size_t nextblk = 0, last = 0;
    bool first = true;
    for (size_t i = 0; i < n;) {
        if (i + 16 < n)
            __builtin_prefetch(b->names + a[i + 16].name);
        size_t j = i + 1;
        while (j < n && same_name(b->names, &a[i], &a[j]))
            j++;
        size_t pos = home(s->cap, a[i].hash);
        if (!first && pos <= last)
            pos = last + 1;
        first = false;
        last = pos;
        uint32_t off = (uint32_t)(p - s->arena);
        while (nextblk <= pos >> BLOCK_SHIFT)
            s->base[nextblk++] = off;
        uint32_t rel = off - s->base[pos >> BLOCK_SHIFT];
        size_t disp = pos - home(s->cap, a[i].hash);
        if (disp > SLOT_DISP_MAX)
            disp = SLOT_DISP_MAX;
        s->slots[pos] =
            tag_of(a[i].hash) << SLOT_TAG_SHIFT | (uint32_t)disp << SLOT_DISP_SHIFT | rel;
        rc = put_entry(b->names, s, &cm, a + i, j - i, &p);
        if (rc)
            goto out;
        i = j;
    }
    s->nslots = first ? 64 : ((last + 2 + 63) & ~(size_t)63); /* whole blocks */
    s->nblocks = s->nslots >> BLOCK_SHIFT;
    uint32_t end = (uint32_t)(p - s->arena);
    while (nextblk < s->nblocks)
        s->base[nextblk++] = end;
    memset(p, 0, ARENA_PAD);
    s->arena_len = (size_t)(p - s->arena) + ARENA_PAD;

    /* Trim every array to its final size (shrinking, so failure keeps the larger block). */
    uint8_t *ar = realloc(s->arena, s->arena_len);
    if (ar)
        s->arena = ar;
    uint32_t *sl = realloc(s->slots, s->nslots * sizeof *sl);
    if (sl)
        s->slots = sl;
    uint32_t *bs = realloc(s->base, s->nblocks * sizeof *bs);
    if (bs)
        s->base = bs;
    s->bytes += s->arena_len + s->nslots * sizeof *s->slots + s->nblocks * sizeof *s->base +
                s->ncls * sizeof *s->cls;
    rc = 0;
out:
    free(cm.keys);
    free(cm.ids);
    return rc;
}

int mw_domainset_build(struct mw_domainset_builder *b, struct mw_domainset **out)
{
    *out = NULL;
    struct mw_domainset *s = calloc(1, sizeof *s);
    int rc = -ENOMEM;
    if (!s)
        goto out;
    s->bytes = sizeof *s;
    s->lmask[0] = b->lmask[0];
    s->lmask[1] = b->lmask[1];
    if (b->nrecs) {
        rc = pick_tlds(b, s);
        if (rc)
            goto out;
        rc = sort_recs(b);
        if (rc)
            goto out;
    }
    rc = layout(b, s);
out:
    mw_domainset_builder_free(b);
    if (rc) {
        mw_domainset_free(s);
        return rc;
    }
    *out = s;
    return 0;
}
