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
 * RPZ local data trace a match to its list line. A rule an entry does not keep (its name and
 * kind added again by another list) goes to a side array sorted by entry offset, read only by
 * mw_domainset_get_if (client groups): empty unless lists share names.
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

#include "minewall/dname.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "domainset_internal.h"

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
        h = mw_hash_label(h, q + v->off[i] + 1, q[v->off[i]]);
        v->h[i] = h;
    }
    return true;
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
static inline __attribute__((always_inline)) size_t
pack_suffix(const struct qview *v, const struct qsym *qs, int i, int tld, uint8_t *out)
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
static inline __attribute__((always_inline)) const uint8_t *
find(const struct mw_domainset *s, uint64_t b, const uint8_t *enc, size_t el)
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
        if (c && (!any || mw_rule_before(c, &out->rule))) {
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

bool mw_domainset_get_if(const struct mw_domainset *s, const uint8_t *wire, size_t wire_len,
                         int kind, mw_rule_keep_cb keep, void *arg, struct mw_rule *out)
{
    struct qview v;
    if (kind < 0 || kind > 2 || !qview_init(&v, wire, wire_len, MAX_LABELS))
        return false;
    struct qsym qs;
    qsym_init(&qs, &v);
    uint8_t enc[ENC_MAX];
    size_t el = pack_suffix(&v, &qs, 0, qview_tld(s, &v), enc);
    const uint8_t *e = find(s, bucket_of(s, v.h[0]), enc, el);
    struct found f = {0};
    if (e)
        read_entry(s, e, &f, NULL);
    if (!(f.has & (1u << kind)))
        return false;
    if (keep(&f.r[kind], arg)) {
        *out = f.r[kind];
        return true;
    }
    /* The rules kept aside for this entry, in the order added: the first allow rule that keep
     * takes, else the first rule, as the builder would have chosen among them alone. */
    uint32_t at = (uint32_t)(e - s->arena);
    size_t lo = 0, hi = s->nhidden;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->hidden[mid].at < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct mw_rule *pick = NULL;
    for (size_t i = lo; i < s->nhidden && s->hidden[i].at == at; i++) {
        const struct mw_rule *r = &s->hidden[i].rule;
        if (s->hidden[i].kind != kind || !keep(r, arg))
            continue;
        if (!pick || ((r->flags & MW_RULE_ALLOW) && !(pick->flags & MW_RULE_ALLOW)))
            pick = r;
    }
    if (pick)
        *out = *pick;
    return pick != NULL;
}

size_t mw_domainset_hidden(const struct mw_domainset *s)
{
    return s->nhidden;
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
    size_t ns = unpack_groups(enc, 2 * ((el - 1) / 2), sym);
    size_t n = syms_to_wire(sym, ns, name);
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
    free(s->hidden);
    free(s);
}
