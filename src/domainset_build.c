/* The builder of the domain rule set: rules added in any order, then sorted by hash and laid
 * out once into the arena and directory that domainset.c reads (see its top comment and
 * domainset_internal.h). */
#include "minewall/domainset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "domainset_internal.h"
#include "minewall/array.h"

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
