/* The domain rule set: entries in hash order in one arena, found through a small bucket
 * directory, built once and never modified, so readers need no locks.
 *
 * Layout. Every distinct name is one arena entry. Its name is packed: the octets of its labels
 * as symbols of a 40-letter alphabet (a-z, 0-9, '-', a label separator, and an escape followed
 * by two digits for any other octet), three symbols to 16 bits counted from the end, then one
 * octet naming its last label in a dictionary of the set's most frequent ones (up to 192: "com",
 * "net", ...), or saying the last label is among the symbols. The packing is canonical, so two
 * names are equal exactly when their packed forms are, and a lookup packs the query suffix once
 * and compares octets. A typical listed name takes 9-10 octets instead of 13-17 as text.
 * An entry is a header octet and the packed name; most entries hold one rule of one of the
 * set's three most frequent classes (list, flags, action, kind), and then the header is the
 * class and the packed length and the entry ends with the rule's line number in a fixed width
 * (0-4 octets, the fewest that hold the set's largest line). Other entries (several kinds at
 * one name, tombstones of a delta, a rarer class, a long name) have an extended header with a
 * rule count and a 16-bit length, and a class index per rule. Lines are kept because --explain and
 * RPZ local data trace a match to its list line.
 *
 * Buckets. The 64-bit hash's top 32 bits, scaled to the bucket count, pick a bucket of about
 * eight entries; entries are written in hash order, so a bucket is one run of the arena. The
 * directory gives each bucket's start as a 32-bit base per 64 buckets plus a 16-bit offset per
 * bucket (0.27 octets per entry, small enough to stay in cache), or plain 32-bit offsets when
 * a run of 64 buckets spans 64 KiB or more. A probe reads the directory, then scans one run of
 * about 110 octets: misses and hits cost one arena access, and the set about 14 octets per
 * listed domain on a million-name list (the slot table it replaced took 24).
 *
 * Hashing. A name's hash is computed from the right, one label at a time, from a root constant,
 * so the hashes of all suffixes of a query name fall out of one pass. Matching probes the
 * suffixes from the longest to the shortest, skipping label counts that no rule has, and stops
 * at the first suffix with an applicable rule. The hash is fixed, not seeded: lists come from
 * the operator's configuration, and query names can only choose among buckets that exist. */
#include "minewall/domainset.h"

#include "minewall/array.h"
#include "minewall/dname.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
static size_t symbolize(const uint8_t *w, const uint8_t *off, int from, int to, uint8_t *sym,
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
static size_t pack(const uint8_t *sym, size_t ns, uint8_t dict, uint8_t *out)
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
    out[o++] = dict;
    return o;
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
    uint64_t lmask[2]; /* bit L: some entry has L labels */
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

/* The symbols of a query name's labels, made once per match and shared by every probe. */
struct qsym {
    size_t ns;
    uint16_t st[MAX_LABELS + 1]; /* st[i]: where label i starts, for lo <= i < n */
    uint8_t sym[3 * MW_DNAME_MAX];
};

static void qsym_init(struct qsym *qs, const struct qview *v)
{
    qs->ns = symbolize(v->q, v->off, v->lo, v->n, qs->sym, qs->st);
}

/* The packed form of the suffix of v at label i, in a set where v's last label has
 * dictionary index tld (or -1). */
static size_t pack_suffix(const struct qview *v, const struct qsym *qs, int i, int tld,
                          uint8_t *out)
{
    if (i == v->n) {
        out[0] = TLD_ROOT;
        return 1;
    }
    size_t from = qs->st[i];
    if (tld < 0)
        return pack(qs->sym + from, qs->ns - from, TLD_NONE, out);
    size_t to = i == v->n - 1 ? from : (size_t)qs->st[v->n - 1] - 1; /* before the last SEP */
    return pack(qs->sym + from, to - from, (uint8_t)tld, out);
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

/* The packed name of the entry at e. */
static inline const uint8_t *entry_name(const uint8_t *e, size_t *len)
{
    if (e[0] < EXT) {
        *len = e[0] % SIMPLE_LEN;
        return e + 1;
    }
    *len = e[1] | (size_t)e[2] << 8;
    return e + 3;
}

/* The rules stored at one name, by kind. */
struct found {
    uint8_t has;     /* bit per kind: a rule */
    uint8_t removed; /* bit per kind: a tombstone */
    struct mw_rule r[3];
};

static inline void put_found(const struct mw_domainset *s, uint32_t cid, uint32_t line,
                             struct found *f, struct mw_rule *tomb)
{
    const struct cls *c = &s->cls[cid];
    struct mw_rule r = {.line = line, .list = c->list, .flags = c->flags, .action = c->action};
    if (c->removed) {
        f->removed |= (uint8_t)(1u << c->kind);
        if (tomb)
            tomb[c->kind] = r;
    } else {
        f->has |= (uint8_t)(1u << c->kind);
        f->r[c->kind] = r;
    }
}

/* Walk the entry at e: decode its rules into f (NULL to skip); returns the entry's end. */
static const uint8_t *read_entry(const struct mw_domainset *s, const uint8_t *e, struct found *f,
                                 struct mw_rule *tomb)
{
    if (e[0] < EXT) {
        const uint8_t *p = e + 1 + e[0] % SIMPLE_LEN;
        if (f)
            put_found(s, e[0] / SIMPLE_LEN, get_line(p, s->lw), f, tomb);
        return p + s->lw;
    }
    unsigned k = (e[0] & 7u) + 1;
    const uint8_t *p = e + 3 + (e[1] | (size_t)e[2] << 8);
    for (unsigned j = 0; j < k; j++) {
        uint32_t cid;
        p = get_varint(p, &cid);
        if (f)
            put_found(s, cid, get_line(p, s->lw), f, tomb);
        p += s->lw;
    }
    return p;
}

/* The entry of the packed name enc in bucket b, or NULL. A bucket is about eight entries in
 * one run of the arena; a simple entry is skipped with one add. */
static const uint8_t *find(const struct mw_domainset *s, uint64_t b, const uint8_t *enc, size_t el)
{
    const uint8_t *p = s->arena + bucket_start(s, b), *end = s->arena + bucket_start(s, b + 1);
    const unsigned lw = s->lw;
    while (p < end) {
        if (p[0] < EXT) {
            size_t nl = p[0] % SIMPLE_LEN;
            if (nl == el && same_bytes(p + 1, enc, el))
                return p;
            p += 1 + nl + lw;
        } else {
            size_t nl;
            const uint8_t *name = entry_name(p, &nl);
            if (nl == el && same_bytes(name, enc, el))
                return p;
            p = read_entry(s, p, NULL, NULL);
        }
    }
    return NULL;
}

static void lookup(const struct mw_domainset *s, const struct qview *v, const struct qsym *qs,
                   int i, int tld, struct found *f)
{
    uint8_t enc[ENC_MAX];
    size_t el = pack_suffix(v, qs, i, tld, enc);
    const uint8_t *e = find(s, bucket_of(s, v->h[i]), enc, el);
    if (e)
        read_entry(s, e, f, NULL);
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
    /* Start every directory load, then every bucket load, at once: the probes below then
     * wait for about one memory latency, not one per suffix. */
    for (int i = v.lo; i <= v.n; i++) {
        if (has_labels(base->lmask, v.n - i))
            __builtin_prefetch(dir_slot(base, bucket_of(base, v.h[i])));
        if (delta && has_labels(delta->lmask, v.n - i))
            __builtin_prefetch(dir_slot(delta, bucket_of(delta, v.h[i])));
    }
    for (int i = v.lo; i <= v.n; i++) {
        if (has_labels(base->lmask, v.n - i))
            __builtin_prefetch(base->arena + bucket_start(base, bucket_of(base, v.h[i])));
        if (delta && has_labels(delta->lmask, v.n - i))
            __builtin_prefetch(delta->arena + bucket_start(delta, bucket_of(delta, v.h[i])));
    }
    int tb = qview_tld(base, &v), td = delta ? qview_tld(delta, &v) : -1;
    struct qsym qs;
    qsym_init(&qs, &v);
    for (int i = v.lo; i <= v.n; i++) {
        int l = v.n - i;
        if (!has_labels(m, l))
            continue;
        struct found fb, fd;
        fb.has = fb.removed = fd.has = fd.removed = 0;
        if (has_labels(base->lmask, l))
            lookup(base, &v, &qs, i, tb, &fb);
        if (delta && has_labels(delta->lmask, l))
            lookup(delta, &v, &qs, i, td, &fd);
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
    struct qsym qs;
    qsym_init(&qs, &v);
    lookup(base, &v, &qs, 0, qview_tld(base, &v), &fb);
    if (delta)
        lookup(delta, &v, &qs, 0, qview_tld(delta, &v), &fd);
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

/* Unpack the packed name enc (el octets) of set s into wire form; returns its length. */
static size_t decode(const struct mw_domainset *s, const uint8_t *enc, size_t el, uint8_t *name)
{
    uint8_t sym[3 * MW_DNAME_MAX];
    size_t ns = 0, groups = (el - 1) / 2;
    for (size_t g = 0; g < groups; g++) {
        unsigned v = (unsigned)enc[2 * g] << 8 | enc[2 * g + 1];
        uint8_t d[3] = {(uint8_t)(v / (SYM_BASE * SYM_BASE)), (uint8_t)(v / SYM_BASE % SYM_BASE),
                        (uint8_t)(v % SYM_BASE)};
        int j = 0;
        if (g == 0)
            while (j < 2 && d[j] == SYM_PAD)
                j++;
        for (; j < 3; j++)
            sym[ns++] = d[j];
    }
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
    size_t n = 0, lab = 0;
    if (ns) {
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
    }
    uint8_t dict = enc[el - 1];
    if (dict < TLD_ROOT) {
        const uint8_t *d = s->tld_lab + s->tld_off[dict];
        memcpy(name + n, d, (size_t)d[0] + 1);
        n += (size_t)d[0] + 1;
    }
    name[n++] = 0;
    return n;
}

int mw_domainset_foreach(const struct mw_domainset *s, mw_domain_rule_cb cb, void *arg)
{
    uint8_t name[MW_DNAME_MAX + 1 + ENC_MAX];
    const uint8_t *p = s->arena, *end = s->arena + s->arena_len - ARENA_PAD;
    while (p < end) {
        size_t el;
        const uint8_t *enc = entry_name(p, &el);
        size_t n = decode(s, enc, el, name);
        struct found f = {0};
        struct mw_rule tomb[3];
        p = read_entry(s, p, &f, tomb);
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
    free(s->arena);
    free(s->super);
    free(s->rel16);
    free(s->off32);
    free(s->cls);
    free(s->tld_lab);
    free(s->tld_off);
    free(s->tld_tab);
    free(s);
}

/* ---- the builder -------------------------------------------------------------------------- */

/* One added rule, 16 octets, sorted in place by hash at build time. Its name, class and
 * length sit in the builder's names buffer: a 16-bit class id, the wire length, the offset of
 * the last label, the lowercase wire name. The name offset grows with every add, so it also orders
 * records by the time they were added. */
struct rec {
    uint64_t hash; /* of the whole name */
    uint32_t name; /* offset of the record's header in the builder's names */
    uint32_t line;
};

#define REC_HDR 4
#define CLS_MAX 65535u

/* Class ids: a small open-addressing map from the packed class key to its index. */
struct cls_map {
    uint64_t *keys; /* key + 1, 0 empty */
    uint32_t *ids;
    size_t mask, n;
};

struct mw_domainset_builder {
    struct rec *recs; /* owned */
    size_t nrecs, caprecs;
    uint8_t *names; /* owned: every added name with its header */
    size_t nnames, capnames;
    struct cls *cls;  /* owned: classes by id */
    uint64_t *ccount; /* owned: records per class id, to pick the set's frequent classes */
    uint32_t maxline; /* largest line added: the set's line width */
    struct cls_map cm;
    uint64_t lmask[2];
};

static inline size_t rec_len(const uint8_t *names, const struct rec *r)
{
    return names[r->name + 2];
}

static inline const uint8_t *rec_wire(const uint8_t *names, const struct rec *r)
{
    return names + r->name + REC_HDR;
}

static inline uint32_t rec_cls(const uint8_t *names, const struct rec *r)
{
    return names[r->name] | (uint32_t)names[r->name + 1] << 8;
}

/* Offset of the last label in the record's wire name (0 for the root). */
static inline size_t rec_tlo(const uint8_t *names, const struct rec *r)
{
    return names[r->name + 3];
}

struct mw_domainset_builder *mw_domainset_builder_new(size_t size_hint)
{
    struct mw_domainset_builder *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->cm.mask = 63;
    b->cm.keys = calloc(64, sizeof *b->cm.keys);
    b->cm.ids = malloc(64 * sizeof *b->cm.ids);
    if (!b->cm.keys || !b->cm.ids) {
        mw_domainset_builder_free(b);
        return NULL;
    }
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
    free(b->cls);
    free(b->ccount);
    free(b->cm.keys);
    free(b->cm.ids);
    free(b);
}

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

/* The id of a class, added when new. Returns 0, -ENOMEM or -E2BIG past CLS_MAX classes. */
static int cls_id(struct mw_domainset_builder *b, const struct cls *c, uint32_t *id)
{
    struct cls_map *m = &b->cm;
    uint64_t key = (uint64_t)c->list | (uint64_t)c->flags << 16 | (uint64_t)c->action << 24 |
                   (uint64_t)c->kind << 32 | (uint64_t)c->removed << 34;
    size_t i = (size_t)(mix(key ^ S0, S1) & m->mask);
    while (m->keys[i]) {
        if (m->keys[i] == key + 1) {
            *id = m->ids[i];
            return 0;
        }
        i = (i + 1) & m->mask;
    }
    if (m->n >= CLS_MAX)
        return -E2BIG;
    struct cls *t = realloc(b->cls, (m->n + 1) * sizeof *t);
    if (!t)
        return -ENOMEM;
    b->cls = t;
    uint64_t *cc = realloc(b->ccount, (m->n + 1) * sizeof *cc);
    if (!cc)
        return -ENOMEM;
    b->ccount = cc;
    cc[m->n] = 0;
    t[m->n] = *c;
    m->keys[i] = key + 1;
    m->ids[i] = (uint32_t)m->n;
    *id = (uint32_t)m->n++;
    if (2 * m->n > m->mask + 1)
        return cls_grow(m);
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
    if (b->nrecs >= RULES_MAX || b->nnames + len + REC_HDR > UINT32_MAX)
        return -E2BIG;
    struct cls c = {.kind = (uint8_t)kind, .removed = removed};
    if (rule) {
        c.list = rule->list;
        c.flags = removed ? 0 : rule->flags;
        c.action = removed ? 0 : rule->action;
    }
    uint32_t id;
    int rc = cls_id(b, &c, &id);
    if (rc)
        return rc;
    if (mw_array_grow((void **)&b->recs, &b->caprecs, b->nrecs + 1, sizeof *b->recs) ||
        mw_array_grow((void **)&b->names, &b->capnames, b->nnames + len + REC_HDR, 1))
        return -ENOMEM;

    uint8_t *h = b->names + b->nnames, *w = h + REC_HDR;
    h[0] = (uint8_t)id;
    h[1] = (uint8_t)(id >> 8);
    h[2] = (uint8_t)len;
    h[3] = n ? off[n - 1] : 0;
    b->ccount[id]++;
    if (rule && rule->line > b->maxline)
        b->maxline = rule->line;
    memcpy(w, wire, len);
    mw_dname_lower(w, len);
    uint64_t hash = ROOT_HASH;
    for (int i = n - 1; i >= 0; i--)
        hash = label_hash(hash, w + off[i] + 1, w[off[i]]);
    b->recs[b->nrecs++] =
        (struct rec){.hash = hash, .name = (uint32_t)b->nnames, .line = rule ? rule->line : 0};
    b->lmask[n >> 6] |= 1ull << (n & 63);
    b->nnames += len + REC_HDR;
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

/* Order of records: hash, then name (length, octets), then the order added. */
static int rec_cmp(const uint8_t *names, const struct rec *x, const struct rec *y)
{
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    size_t lx = rec_len(names, x), ly = rec_len(names, y);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    int c = memcmp(rec_wire(names, x), rec_wire(names, y), lx);
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

/* One in-place radix pass (American flag sort) over a[0..n) on the 8 hash bits at shift:
 * cycles of swaps, with 256 write heads that stay in cache. start[0..256] receives the
 * bucket bounds. */
static void flag_pass(struct rec *a, size_t n, int shift, size_t start[257])
{
    size_t next[256];
    memset(start, 0, 257 * sizeof *start);
    for (size_t i = 0; i < n; i++)
        start[((a[i].hash >> shift) & 255) + 1]++;
    for (int k = 0; k < 256; k++) {
        start[k + 1] += start[k];
        next[k] = start[k];
    }
    for (int k = 0; k < 256; k++) {
        while (next[k] < start[k + 1]) {
            struct rec r = a[next[k]];
            unsigned d = (unsigned)(r.hash >> shift) & 255;
            while (d != (unsigned)k) {
                struct rec t = a[next[d]];
                a[next[d]++] = r;
                r = t;
                d = (unsigned)(r.hash >> shift) & 255;
            }
            a[next[k]++] = r;
        }
    }
}

/* Sort a[0..n) by rec_cmp in place: radix passes on the top hash bits while a bucket is large,
 * then a merge sort of each small bucket in tmp (room for SORT_SMALL records); a bucket that
 * the hash cannot split (many copies of one name) gets a merge sort with its own buffer. */
#define SORT_SMALL 64
static int sort_range(const uint8_t *names, struct rec *a, size_t n, int shift, struct rec *tmp)
{
    if (n <= SORT_SMALL) {
        rec_msort(names, a, tmp, n);
        return 0;
    }
    if (shift < 0) {
        struct rec *big = malloc(n * sizeof *big);
        if (!big)
            return -ENOMEM;
        rec_msort(names, a, big, n);
        free(big);
        return 0;
    }
    size_t start[257];
    flag_pass(a, n, shift, start);
    for (int k = 0; k < 256; k++) {
        int rc = sort_range(names, a + start[k], start[k + 1] - start[k], shift - 8, tmp);
        if (rc)
            return rc;
    }
    return 0;
}

/* Sorting in place, so a build needs no second copy of the records. */
static int sort_recs(struct mw_domainset_builder *b)
{
    struct rec tmp[SORT_SMALL];
    return sort_range(b->names, b->recs, b->nrecs, 56, tmp);
}

static inline bool same_name(const uint8_t *names, const struct rec *x, const struct rec *y)
{
    size_t l = rec_len(names, x);
    return x->hash == y->hash && l == rec_len(names, y) &&
           memcmp(rec_wire(names, x), rec_wire(names, y), l) == 0;
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
        if (rec_len(b->names, x) == 1)
            continue;
        uint32_t at = x->name + REC_HDR + rec_tlo(b->names, x);
        const uint8_t *lab = b->names + at;
        uint64_t h = tld_hash(lab);
        for (size_t i = (h >> 40) & tmask;; i = (i + 1) & tmask) {
            if (!t[i].count) {
                if (used < tcap * 3 / 4) {
                    t[i] = (struct tld_count){.hash = h, .lab = at, .count = 1};
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
/* The winning record per (kind, tombstone) among the records of one name, a[0..n) in (hash,
 * name, order added) order: the first added, unless a later rule is an allow rule and it is
 * not. Returns how many slots of w are set. */
static unsigned winners(const struct mw_domainset_builder *b, const struct rec *a, size_t n,
                        const struct rec *w[6])
{
    unsigned k = 0;
    memset(w, 0, 6 * sizeof *w);
    for (size_t j = 0; j < n; j++) {
        const struct rec *r = &a[j];
        const struct cls *c = &b->cls[rec_cls(b->names, r)];
        int slot = c->kind * 2 + c->removed;
        if (!w[slot]) {
            k++;
            w[slot] = r;
        } else if (!c->removed && (c->flags & MW_RULE_ALLOW) &&
                   !(b->cls[rec_cls(b->names, w[slot])].flags & MW_RULE_ALLOW)) {
            w[slot] = r;
        }
    }
    return k;
}

/* The packed name of a record in set s. */
static size_t pack_rec(const struct mw_domainset *s, const uint8_t *names, const struct rec *r,
                       uint8_t *out)
{
    const uint8_t *name = rec_wire(names, r);
    size_t len = rec_len(names, r);
    if (len == 1) {
        out[0] = TLD_ROOT;
        return 1;
    }
    const uint8_t *last = name + rec_tlo(names, r);
    int tld = tld_find(s, tld_hash(last), last);
    /* The labels up to the dictionary label, or all of them, as symbols. */
    size_t stop = tld >= 0 ? rec_tlo(names, r) : len - 1, ns = 0;
    uint8_t sym[3 * MW_DNAME_MAX];
    for (size_t o = 0; o < stop; o += name[o] + 1u) {
        if (o)
            sym[ns++] = SYM_SEP;
        ns = label_syms(name + o, sym, ns);
    }
    return pack(sym, ns, tld >= 0 ? (uint8_t)tld : TLD_NONE, out);
}

static int count_cmp(const void *x, const void *y, void *arg)
{
    const uint64_t *count = arg;
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    if (count[a] != count[b])
        return count[a] > count[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* The set's classes: the builder's, most used first, so that the most
 * frequent become classes 0-2 (the classes simple entries can name); remap takes a builder
 * class id to the set's. Also the widest line number. */
static int classify(const struct mw_domainset_builder *b, struct mw_domainset *s,
                    uint32_t **remap_out)
{
    size_t nc = b->cm.n ? b->cm.n : 1;
    uint64_t *count = calloc(nc, sizeof *count);
    uint32_t *remap = malloc(nc * sizeof *remap), *order = malloc(nc * sizeof *order);
    s->cls = malloc(nc * sizeof *s->cls);
    if (!count || !remap || !order || !s->cls) {
        free(count);
        free(remap);
        free(order);
        return -ENOMEM;
    }
    /* Counted over every record added, winners or not: close enough to choose the classes that
     * simple entries name, and no pass over the names in hash order. */
    uint32_t maxline = b->maxline;
    if (b->cm.n)
        memcpy(count, b->ccount, b->cm.n * sizeof *count);
    s->ncls = b->cm.n;
    for (size_t c = 0; c < s->ncls; c++)
        order[c] = (uint32_t)c;
    if (s->ncls)
        qsort_r(order, s->ncls, sizeof *order, count_cmp, count);
    for (size_t c = 0; c < s->ncls; c++) {
        remap[order[c]] = (uint32_t)c;
        s->cls[c] = b->cls[order[c]];
    }
    free(order);
    free(count);
    s->lw = maxline > 0xffffff ? 4 : maxline > 0xffff ? 3 : maxline > 0xff ? 2 : maxline ? 1 : 0;
    *remap_out = remap;
    return 0;
}

/* Write the entry for the records of one name at p; returns its end. */
static uint8_t *put_entry(const struct mw_domainset_builder *b, struct mw_domainset *s,
                          const uint32_t *remap, const uint8_t *enc, size_t el, const struct rec *a,
                          size_t n, uint8_t *p)
{
    const struct rec *w[6];
    unsigned k = winners(b, a, n, w);
    uint32_t ids[6];
    int only = -1;
    for (int c = 0; c < 6; c++) {
        if (!w[c])
            continue;
        ids[c] = remap[rec_cls(b->names, w[c])];
        if (!s->cls[ids[c]].removed)
            s->nrules++;
        only = c;
    }
    if (k == 1 && ids[only] < SIMPLE_CLS && el < SIMPLE_LEN) {
        *p++ = (uint8_t)(ids[only] * SIMPLE_LEN + el);
        memcpy(p, enc, el);
        return put_line(p + el, w[only]->line, s->lw);
    }
    *p++ = (uint8_t)(EXT | (k - 1));
    *p++ = (uint8_t)el;
    *p++ = (uint8_t)(el >> 8);
    memcpy(p, enc, el);
    p += el;
    for (int c = 0; c < 6; c++) {
        if (!w[c])
            continue;
        p = put_varint(p, ids[c]);
        p = put_line(p, w[c]->line, s->lw);
    }
    return p;
}

static int make_dir(struct mw_domainset *s, uint32_t *off)
{
    uint64_t nb = s->nb;
    for (uint64_t b = 0; b <= nb; b++) {
        if (off[b] - off[b & ~(uint64_t)((1u << SUPER_SHIFT) - 1)] > UINT16_MAX) {
            s->off32 = off;
            s->bytes += (nb + 1) * sizeof *off;
            return 0;
        }
    }
    size_t nsup = (size_t)(nb >> SUPER_SHIFT) + 1;
    s->super = malloc(nsup * sizeof *s->super);
    s->rel16 = malloc((nb + 1) * sizeof *s->rel16);
    if (!s->super || !s->rel16) {
        free(off);
        return -ENOMEM;
    }
    for (uint64_t b = 0; b <= nb; b++) {
        if (!(b & ((1u << SUPER_SHIFT) - 1)))
            s->super[b >> SUPER_SHIFT] = off[b];
        s->rel16[b] = (uint16_t)(off[b] - s->super[b >> SUPER_SHIFT]);
    }
    free(off);
    s->bytes += nsup * sizeof *s->super + (nb + 1) * sizeof *s->rel16;
    return 0;
}

static int layout(const struct mw_domainset_builder *b, struct mw_domainset *s)
{
    const struct rec *a = b->recs;
    size_t n = b->nrecs, distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || !same_name(b->names, &a[i - 1], &a[i]))
            distinct++;
    s->nb = distinct / BUCKET_FILL + 1;

    /* Packed names are at most twice the wire name; a rule at most a varint and a line. */
    size_t bound = 2 * b->nnames + n * 12 + distinct * 3 + ARENA_PAD;
    if (bound - ARENA_PAD > UINT32_MAX)
        return -E2BIG;
    uint32_t *remap = NULL, *off = NULL;
    int rc = classify(b, s, &remap);
    if (rc)
        return rc;
    rc = -ENOMEM;
    off = malloc((s->nb + 1) * sizeof *off);
    s->arena = malloc(bound);
    if (!off || !s->arena)
        goto out;

    uint8_t *p = s->arena, enc[ENC_MAX];
    uint64_t nextb = 0;
    for (size_t i = 0; i < n;) {
        if (i + 16 < n)
            __builtin_prefetch(b->names + a[i + 16].name);
        size_t j = i + 1;
        while (j < n && same_name(b->names, &a[i], &a[j]))
            j++;
        uint64_t bk = bucket_of(s, a[i].hash);
        while (nextb <= bk)
            off[nextb++] = (uint32_t)(p - s->arena);
        size_t el = pack_rec(s, b->names, &a[i], enc);
        p = put_entry(b, s, remap, enc, el, a + i, j - i, p);
        i = j;
    }
    while (nextb <= s->nb)
        off[nextb++] = (uint32_t)(p - s->arena);
    memset(p, 0, ARENA_PAD);
    s->arena_len = (size_t)(p - s->arena) + ARENA_PAD;
    uint8_t *ar = realloc(s->arena, s->arena_len); /* shrinking: failure keeps the larger */
    if (ar)
        s->arena = ar;
    rc = make_dir(s, off);
    off = NULL;
    if (rc)
        goto out;
    s->bytes += s->arena_len + s->ncls * sizeof *s->cls;
out:
    free(off);
    free(remap);
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
