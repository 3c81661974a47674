/* The CIDR rule set: each family's prefixes flattened into sorted, disjoint address ranges, each
 * labelled with the rule of the longest prefix that covers it (or none). CIDR prefixes nest or
 * are disjoint, so one sweep in (start, length) order with a stack of open prefixes produces the
 * ranges; a lookup is then a binary search for the last range starting at or below the address.
 * An index of 2^16 buckets over the bits that follow the common prefix of all rules narrows the
 * search to a few ranges, and addresses outside [lowest rule start, highest rule end] miss at
 * once. IPv4 keys are 32-bit; IPv6 keys are (hi, lo) 64-bit halves kept in separate arrays so
 * the search mostly reads one. The builder works on 128-bit keys for both, IPv4 in the top 32
 * bits. Immutable after build: lookups take a const set and need no locks.
 *
 * For filters (mw_ipset_match_if, client groups): the rules deduplication dropped are kept
 * aside when they come from another list (dups: 12 octets each, rare), and the shorter
 * prefixes holding an address are found by a binary search of the rules per prefix length
 * that occurs (a bit each), so the longest prefix a filter accepts costs nothing in memory
 * beyond the dups, and only the filtered lookup pays for the search. */
#include "minewall/ipset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "minewall/array.h"

#define NONE UINT32_MAX
#define IDX_BITS 16
#define IDX_MIN_RANGES 64 /* below this, search the whole family */
#define RULES_MAX (1u << 31)

struct u128 {
    uint64_t hi, lo;
};

static inline int cmp128(struct u128 a, struct u128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    return a.lo < b.lo ? -1 : a.lo > b.lo;
}

static inline uint64_t rd64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static inline uint32_t rd32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- the set ------------------------------------------------------------------------------ */

struct entry {
    struct mw_cidr prefix;
    struct mw_rule rule;
};

/* One family's ranges; range i covers [start i, start i+1) and carries val[i]. */
struct fam {
    size_t n;             /* ranges, 0 when the family has no rules */
    uint32_t *start4;     /* IPv4 starts */
    uint64_t *hi, *lo;    /* IPv6 starts */
    uint32_t *val;        /* entry index or NONE */
    uint32_t *idx;        /* 2^bits + 1 range indexes, or NULL */
    int shift, bits;      /* bucket = (key << shift) >> (64 - bits), key the top 64 bits */
    struct u128 min, max; /* lowest rule start, highest rule end */
};

/* A rule the build dropped for its prefix (ent), kept for filters. */
struct dup {
    uint32_t ent;
    struct mw_rule rule;
};

struct mw_ipset {
    struct fam v4, v6;
    struct entry *ent;   /* rules, IPv4 then IPv6, each in (start, length) order */
    size_t nent, n4;     /* n4: the IPv4 rules, ent[0..n4) */
    uint64_t lens[2][3]; /* per family (IPv4, IPv6), bit L: some rule has prefix length L */
    struct dup *dups;    /* sorted by (ent, order added); NULL when none */
    size_t ndups;
    size_t bytes;
};

static inline __attribute__((always_inline)) size_t search(const struct fam *f, struct u128 k)
{
    size_t lo = 0, hi = f->n - 1;
    if (f->idx) {
        size_t b = (size_t)((k.hi << f->shift) >> (64 - f->bits));
        lo = f->idx[b];
        hi = f->idx[b + 1];
    }
    /* Invariant: start[lo] <= k; find the last such index in [lo, hi]. */
    if (f->start4) {
        uint32_t a = (uint32_t)(k.hi >> 32);
        while (lo < hi) {
            size_t mid = lo + (hi - lo + 1) / 2;
            if (f->start4[mid] <= a)
                lo = mid;
            else
                hi = mid - 1;
        }
    } else {
        while (lo < hi) {
            size_t mid = lo + (hi - lo + 1) / 2;
            if (f->hi[mid] < k.hi || (f->hi[mid] == k.hi && f->lo[mid] <= k.lo))
                lo = mid;
            else
                hi = mid - 1;
        }
    }
    return lo;
}

/* The rule of the longest prefix holding addr: an index into ent, or NONE. */
static inline __attribute__((always_inline)) uint32_t lookup(const struct mw_ipset *s, int family,
                                                             const uint8_t *addr)
{
    const struct fam *f;
    struct u128 k;
    if (family == AF_INET) {
        f = &s->v4;
        k = (struct u128){(uint64_t)rd32be(addr) << 32, 0};
    } else if (family == AF_INET6) {
        f = &s->v6;
        k = (struct u128){rd64be(addr), rd64be(addr + 8)};
    } else {
        return NONE;
    }
    if (!f->n || cmp128(k, f->min) < 0 || cmp128(k, f->max) > 0)
        return NONE;
    return f->val[search(f, k)];
}

bool mw_ipset_match(const struct mw_ipset *s, int family, const uint8_t *addr,
                    struct mw_ip_match *out)
{
    uint32_t v = lookup(s, family, addr);
    if (v == NONE)
        return false;
    out->rule = s->ent[v].rule;
    out->prefix = s->ent[v].prefix;
    return true;
}

static struct u128 hostmask(int len);

/* The start key of a rule's prefix. */
static struct u128 start_of(const struct mw_cidr *c)
{
    if (c->family == AF_INET)
        return (struct u128){(uint64_t)rd32be(c->addr) << 32, 0};
    return (struct u128){rd64be(c->addr), rd64be(c->addr + 8)};
}

/* The rule of exactly the prefix of length len holding key k (of family), or NONE: a binary
 * search of the family's rules, sorted by (start, length). */
static uint32_t find_prefix(const struct mw_ipset *s, int family, struct u128 k, int len)
{
    struct u128 m = hostmask(len);
    k.hi &= ~m.hi;
    k.lo &= ~m.lo;
    size_t lo = family == AF_INET ? 0 : s->n4, hi = family == AF_INET ? s->n4 : s->nent;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct mw_cidr *c = &s->ent[mid].prefix;
        int d = cmp128(start_of(c), k);
        if (d == 0)
            d = c->prefix < len ? -1 : c->prefix > len;
        if (d == 0)
            return (uint32_t)mid;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NONE;
}

/* The rule a set built only from the rules keep accepts gives prefix v: its own, else the
 * first allow rule kept aside for it that keep accepts, else the first one. */
static const struct mw_rule *rule_if(const struct mw_ipset *s, uint32_t v, mw_rule_keep_cb keep,
                                     void *arg)
{
    if (keep(&s->ent[v].rule, arg))
        return &s->ent[v].rule;
    size_t lo = 0, hi = s->ndups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->dups[mid].ent < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct mw_rule *pick = NULL;
    for (size_t i = lo; i < s->ndups && s->dups[i].ent == v; i++) {
        const struct mw_rule *r = &s->dups[i].rule;
        if (keep(r, arg) &&
            (!pick || ((r->flags & MW_RULE_ALLOW) && !(pick->flags & MW_RULE_ALLOW))))
            pick = r;
    }
    return pick;
}

bool mw_ipset_match_if(const struct mw_ipset *s, int family, const uint8_t *addr,
                       mw_rule_keep_cb keep, void *arg, struct mw_ip_match *out)
{
    /* The range's rule is the longest prefix holding addr; its parents are the shorter ones. */
    uint32_t v = lookup(s, family, addr);
    if (v == NONE)
        return false;
    struct u128 k = family == AF_INET ? (struct u128){(uint64_t)rd32be(addr) << 32, 0}
                                      : (struct u128){rd64be(addr), rd64be(addr + 8)};
    const uint64_t *lens = s->lens[family == AF_INET ? 0 : 1];
    for (int len = s->ent[v].prefix.prefix;; len--) {
        if (v != NONE) {
            const struct mw_rule *r = rule_if(s, v, keep, arg);
            if (r) {
                out->rule = *r;
                out->prefix = s->ent[v].prefix;
                return true;
            }
        }
        while (len > 0 && !((lens[(len - 1) >> 6] >> ((len - 1) & 63)) & 1))
            len--;
        if (len == 0)
            return false;
        v = find_prefix(s, family, k, len - 1);
    }
}

size_t mw_ipset_dups(const struct mw_ipset *s)
{
    return s->ndups;
}

size_t mw_ipset_count(const struct mw_ipset *s)
{
    return s->nent;
}

size_t mw_ipset_bytes(const struct mw_ipset *s)
{
    return s->bytes;
}

int mw_ipset_foreach(const struct mw_ipset *s, mw_ip_rule_cb cb, void *arg)
{
    for (size_t i = 0; i < s->nent; i++) {
        int rc = cb(&s->ent[i].prefix, &s->ent[i].rule, arg);
        if (rc)
            return rc;
    }
    return 0;
}

static void fam_free(struct fam *f)
{
    free(f->start4);
    free(f->hi);
    free(f->lo);
    free(f->val);
    free(f->idx);
}

void mw_ipset_free(struct mw_ipset *s)
{
    if (!s)
        return;
    fam_free(&s->v4);
    fam_free(&s->v6);
    free(s->ent);
    free(s->dups);
    free(s);
}

/* ---- the builder -------------------------------------------------------------------------- */

struct rec {
    struct u128 start, end; /* IPv4 in the top 32 bits, so end's low 96 bits are ones */
    struct mw_cidr prefix;
    struct mw_rule rule;
    uint32_t seq;
};

struct mw_ipset_builder {
    struct rec *recs; /* owned */
    size_t n, cap;
};

struct mw_ipset_builder *mw_ipset_builder_new(size_t size_hint)
{
    struct mw_ipset_builder *b = calloc(1, sizeof *b);
    if (b && size_hint && size_hint < RULES_MAX) {
        b->recs = malloc(size_hint * sizeof *b->recs);
        if (b->recs)
            b->cap = size_hint;
    }
    return b;
}

void mw_ipset_builder_free(struct mw_ipset_builder *b)
{
    if (!b)
        return;
    free(b->recs);
    free(b);
}

/* Ones in the low 128 - len bits. */
static struct u128 hostmask(int len)
{
    if (len == 0)
        return (struct u128){UINT64_MAX, UINT64_MAX};
    if (len < 64)
        return (struct u128){UINT64_MAX >> len, UINT64_MAX};
    if (len < 128)
        return (struct u128){0, UINT64_MAX >> (len - 64)};
    return (struct u128){0, 0};
}

int mw_ipset_builder_add(struct mw_ipset_builder *b, const struct mw_cidr *prefix,
                         const struct mw_rule *rule)
{
    if (!prefix || !rule)
        return -EINVAL;
    struct u128 k;
    int bits;
    if (prefix->family == AF_INET) {
        k = (struct u128){(uint64_t)rd32be(prefix->addr) << 32, 0};
        bits = 32;
    } else if (prefix->family == AF_INET6) {
        k = (struct u128){rd64be(prefix->addr), rd64be(prefix->addr + 8)};
        bits = 128;
    } else {
        return -EINVAL;
    }
    if (prefix->prefix > bits)
        return -EINVAL;
    struct u128 m = hostmask(prefix->prefix);
    if (bits == 32) {
        if ((k.hi & (m.hi & 0xffffffff00000000ull)) != 0)
            return -EINVAL;
    } else if ((k.hi & m.hi) || (k.lo & m.lo)) {
        return -EINVAL;
    }
    if (b->n >= RULES_MAX)
        return -E2BIG;
    if (b->n == b->cap) {
        size_t c = b->cap ? 2 * b->cap : 64;
        struct rec *r = realloc(b->recs, c * sizeof *r);
        if (!r)
            return -ENOMEM;
        b->recs = r;
        b->cap = c;
    }
    struct rec *r = &b->recs[b->n];
    memset(r, 0, sizeof *r);
    r->start = k;
    r->end = (struct u128){k.hi | m.hi, k.lo | m.lo};
    r->prefix.family = prefix->family;
    r->prefix.prefix = prefix->prefix;
    memcpy(r->prefix.addr, prefix->addr, bits / 8);
    r->rule = *rule;
    r->seq = (uint32_t)b->n++;
    return 0;
}

/* Family first, then start, then shorter (enclosing) prefixes first, then order added. */
static int rec_cmp(const void *x, const void *y)
{
    const struct rec *a = x, *b = y;
    if (a->prefix.family != b->prefix.family)
        return a->prefix.family == AF_INET ? -1 : 1;
    int c = cmp128(a->start, b->start);
    if (c)
        return c;
    if (a->prefix.prefix != b->prefix.prefix)
        return a->prefix.prefix < b->prefix.prefix ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Ranges under construction. */
struct ranges {
    struct u128 *start;
    uint32_t *val;
    size_t n;
};

/* Open a range at `at` with value val, replacing one that opened at the same point and merging
 * with an equal neighbour. Capacity is 2 * rules + 1, enough for one open and one close each. */
static void emit(struct ranges *r, struct u128 at, uint32_t val)
{
    if (r->n && cmp128(r->start[r->n - 1], at) == 0)
        r->n--;
    if (r->n && r->val[r->n - 1] == val)
        return;
    r->start[r->n] = at;
    r->val[r->n++] = val;
}

static struct u128 plus1(struct u128 a)
{
    a.lo++;
    if (a.lo == 0)
        a.hi++;
    return a;
}

/* The stack holds at most one prefix per length: 129 entries. */
struct open {
    struct u128 end;
    uint32_t val;
};

static void close_until(struct ranges *r, struct open *st, int *sp, const struct u128 *before)
{
    while (*sp && (!before || cmp128(st[*sp - 1].end, *before) < 0)) {
        struct u128 end = st[--*sp].end;
        if (end.hi == UINT64_MAX && end.lo == UINT64_MAX)
            continue; /* runs to the end of the address space */
        emit(r, plus1(end), *sp ? st[*sp - 1].val : NONE);
    }
}

/* Build one family's ranges from ent[0..n) (sorted, deduplicated; indexes from first). */
static int fam_build(struct mw_ipset *s, struct fam *f, const struct rec *recs, size_t n,
                     uint32_t first, bool v4)
{
    if (!n)
        return 0;
    struct ranges r = {malloc((2 * n + 1) * sizeof *r.start), malloc((2 * n + 1) * sizeof *r.val),
                       0};
    struct open st[130];
    int sp = 0;
    int rc = -ENOMEM;
    if (!r.start || !r.val)
        goto out;
    emit(&r, (struct u128){0, 0}, NONE);
    f->min = recs[0].start;
    f->max = recs[0].end;
    for (size_t i = 0; i < n; i++) {
        close_until(&r, st, &sp, &recs[i].start);
        emit(&r, recs[i].start, first + (uint32_t)i);
        st[sp++] = (struct open){recs[i].end, first + (uint32_t)i};
        if (cmp128(recs[i].end, f->max) > 0)
            f->max = recs[i].end;
    }
    close_until(&r, st, &sp, NULL);

    f->n = r.n;
    f->val = realloc(r.val, r.n * sizeof *r.val); /* shrinking */
    if (!f->val)
        f->val = r.val;
    r.val = NULL;
    if (v4) {
        f->start4 = malloc(r.n * sizeof *f->start4);
        if (!f->start4)
            goto out;
        for (size_t i = 0; i < r.n; i++)
            f->start4[i] = (uint32_t)(r.start[i].hi >> 32);
        s->bytes += r.n * sizeof *f->start4;
    } else {
        f->hi = malloc(r.n * sizeof *f->hi);
        f->lo = malloc(r.n * sizeof *f->lo);
        if (!f->hi || !f->lo)
            goto out;
        for (size_t i = 0; i < r.n; i++) {
            f->hi[i] = r.start[i].hi;
            f->lo[i] = r.start[i].lo;
        }
        s->bytes += r.n * (sizeof *f->hi + sizeof *f->lo);
    }
    s->bytes += r.n * sizeof *f->val;

    /* The index: buckets over the IDX_BITS key bits that follow the bits all rules share
     * (within the top 64 bits, and within 32 for IPv4). */
    uint64_t diff = f->min.hi ^ f->max.hi;
    int shift = diff ? __builtin_clzll(diff) : 64;
    int width = v4 ? 32 : 64;
    int bits = width - shift < IDX_BITS ? width - shift : IDX_BITS;
    if (r.n >= IDX_MIN_RANGES && bits >= 4) {
        size_t nb = (size_t)1 << bits;
        f->idx = malloc((nb + 1) * sizeof *f->idx);
        if (!f->idx)
            goto out;
        f->shift = shift;
        f->bits = bits;
        uint64_t common = shift ? f->min.hi & ~(UINT64_MAX >> shift) : 0;
        size_t i = 0;
        for (size_t k = 0; k < nb; k++) {
            struct u128 bstart = {common | (uint64_t)k << (64 - shift - bits), 0};
            while (i + 1 < r.n && cmp128(r.start[i + 1], bstart) <= 0)
                i++;
            f->idx[k] = (uint32_t)i;
        }
        f->idx[nb] = (uint32_t)(r.n - 1);
        s->bytes += (nb + 1) * sizeof *f->idx;
    }
    rc = 0;
out:
    free(r.start);
    free(r.val);
    return rc;
}

int mw_ipset_build(struct mw_ipset_builder *b, struct mw_ipset **out)
{
    *out = NULL;
    struct mw_ipset *s = calloc(1, sizeof *s);
    int rc = -ENOMEM;
    if (!s)
        goto out;
    s->bytes = sizeof *s;
    if (b->n)
        qsort(b->recs, b->n, sizeof *b->recs, rec_cmp);

    /* Deduplicate equal prefixes in place: allow beats block, else the first added. The others
     * go aside (dups) unless a filter by list could never pick them: one of the winner's list
     * and flags, or of a list and flags already aside (the first added of those wins). */
    size_t n = 0, dcap = 0;
    for (size_t i = 0, j; i < b->n; i = j) {
        const struct rec *x = &b->recs[i];
        size_t win = i;
        for (j = i + 1; j < b->n && b->recs[j].prefix.family == x->prefix.family &&
                        b->recs[j].prefix.prefix == x->prefix.prefix &&
                        cmp128(b->recs[j].start, x->start) == 0;
             j++)
            if ((b->recs[j].rule.flags & MW_RULE_ALLOW) &&
                !(b->recs[win].rule.flags & MW_RULE_ALLOW))
                win = j;
        size_t first = s->ndups;
        for (size_t t = i; t < j; t++) {
            const struct mw_rule *r = &b->recs[t].rule, *w = &b->recs[win].rule;
            bool seen = t == win || (r->list == w->list && r->flags == w->flags);
            for (size_t d = first; d < s->ndups && !seen; d++)
                seen = s->dups[d].rule.list == r->list && s->dups[d].rule.flags == r->flags;
            if (seen)
                continue;
            if (mw_array_grow((void **)&s->dups, &dcap, s->ndups + 1, sizeof *s->dups))
                goto out;
            s->dups[s->ndups++] = (struct dup){(uint32_t)n, *r};
        }
        b->recs[n++] = b->recs[win];
    }
    s->bytes += s->ndups * sizeof *s->dups;
    size_t n4 = 0;
    while (n4 < n && b->recs[n4].prefix.family == AF_INET)
        n4++;

    if (n) {
        s->ent = malloc(n * sizeof *s->ent);
        if (!s->ent)
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct mw_cidr *c = &b->recs[i].prefix;
        s->ent[i] = (struct entry){*c, b->recs[i].rule};
        s->lens[c->family == AF_INET ? 0 : 1][c->prefix >> 6] |= 1ull << (c->prefix & 63);
    }
    s->nent = n;
    s->n4 = n4;
    s->bytes += n * sizeof *s->ent;
    rc = fam_build(s, &s->v4, b->recs, n4, 0, true);
    if (!rc && n > n4)
        rc = fam_build(s, &s->v6, b->recs + n4, n - n4, (uint32_t)n4, false);
out:
    mw_ipset_builder_free(b);
    if (rc) {
        mw_ipset_free(s);
        return rc;
    }
    *out = s;
    return 0;
}
