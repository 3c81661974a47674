/* The domain set's builder; the layout it writes is described in domainset.c. */
#include "minewall/domainset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "domainset_internal.h"
#include "minewall/array.h"

/* ---- the builder -------------------------------------------------------------------------- */

/* The builder keeps every added rule once, already packed, and no per-rule array: the stored
 * entries of NPART partitions (by the top bits of the name's hash) in chunks of their own
 * mmap'd memory. A stored entry is a header octet (class id * 64 + name length when both are
 * small, else XHDR and both as varints), the line as a varint, and the stored name: a marker
 * naming its last label in the builder's table of last labels (or saying none, or the root)
 * and the packed symbols of its other labels, about 14 octets for a typical listed name. The
 * build recomputes each name's hash from its stored form, one partition at a time, writes that
 * partition's entries to the set and unmaps its chunks at once, so the memory a build needs
 * is about one set plus one partition's sort index, and goes back to the system as it ends
 * (issue 16: a reload's peak within twice the steady RSS, with the old generation alive). */

#define NPART 16
#define PART_SHIFT 60
#define CHUNK_MIN 4096
#define CHUNK_MAX 65536 /* offsets in a chunk fit 16 bits */
#define XHDR 0xFF       /* stored header: extended (varint class id, varint name length) */
#define TLD_SLOTS 4096
#define TLD_IDS 3072 /* last labels the builder tracks; later new ones stay among the symbols */
#define MK_WIDE 0xFD /* marker: a 16-bit last-label id follows */
#define MK_ROOT 0xFE /* marker: the root name */
#define MK_NONE 0xFF /* marker: the last label is among the symbols */
#define CLS_MAX 65535u

struct chunk {
    struct chunk *next;
    uint32_t used, cap; /* octets of data */
    uint8_t data[];
};

struct part {
    struct chunk *head, *tail; /* owned, mmap'd */
    size_t n, nchunks;
};

/* A last label the builder has seen: its hash as a name and where its octets are. */
struct tld_ent {
    uint64_t hash;
    uint32_t lab; /* offset of the wire label in tld_lab */
    uint32_t count;
};

/* Class ids: a small open-addressing map from the packed class key to its index. */
struct cls_map {
    uint64_t *keys; /* key + 1, 0 empty */
    uint32_t *ids;
    size_t mask, n;
};

struct mw_domainset_builder {
    struct part part[NPART];
    size_t nrecs;
    uint64_t bound;   /* arena octets the stored entries can take, at most */
    struct cls *cls;  /* owned: classes by id */
    uint64_t *ccount; /* owned: records per class id, to pick the set's frequent classes */
    uint32_t maxline; /* largest line added: the set's line width */
    struct cls_map cm;
    uint64_t lmask[2];
    uint16_t *tld_slot;  /* owned, TLD_SLOTS: id + 1, 0 empty */
    struct tld_ent *tld; /* owned, by id */
    size_t ntld, tld_cap;
    uint8_t *tld_lab; /* owned: the labels, wire form, concatenated */
    size_t tld_lab_len, tld_lab_cap;
};

static struct chunk *chunk_new(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct chunk *c = p;
    c->next = NULL;
    c->used = 0;
    c->cap = (uint32_t)(size - sizeof *c);
    return c;
}

static void part_free(struct part *pt)
{
    for (struct chunk *c = pt->head, *nx; c; c = nx) {
        nx = c->next;
        munmap(c, c->cap + sizeof *c);
    }
    memset(pt, 0, sizeof *pt);
}

/* Room for need octets at the end of pt (chunks double from 4 KiB to 64 KiB, so a small set
 * stays small and a large one makes few mappings). */
static uint8_t *reserve(struct part *pt, size_t need)
{
    struct chunk *t = pt->tail;
    if (!t || t->cap - t->used < need) {
        size_t size = t ? 2 * (t->cap + sizeof *t) : CHUNK_MIN;
        struct chunk *c = chunk_new(size > CHUNK_MAX ? CHUNK_MAX : size);
        if (!c)
            return NULL;
        if (t)
            t->next = c;
        else
            pt->head = c;
        pt->tail = t = c;
        pt->nchunks++;
    }
    return t->data + t->used;
}

struct mw_domainset_builder *mw_domainset_builder_new(size_t size_hint)
{
    (void)size_hint; /* storage grows in chunks; no estimate needed */
    struct mw_domainset_builder *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->cm.mask = 63;
    b->cm.keys = calloc(64, sizeof *b->cm.keys);
    b->cm.ids = malloc(64 * sizeof *b->cm.ids);
    b->tld_slot = calloc(TLD_SLOTS, sizeof *b->tld_slot);
    if (!b->cm.keys || !b->cm.ids || !b->tld_slot) {
        mw_domainset_builder_free(b);
        return NULL;
    }
    return b;
}

void mw_domainset_builder_free(struct mw_domainset_builder *b)
{
    if (!b)
        return;
    for (int p = 0; p < NPART; p++)
        part_free(&b->part[p]);
    free(b->cls);
    free(b->ccount);
    free(b->cm.keys);
    free(b->cm.ids);
    free(b->tld_slot);
    free(b->tld);
    free(b->tld_lab);
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
        size_t x = (size_t)(mw_hash_mix((m->keys[j] - 1) ^ S0, S1) & g.mask);
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
    size_t i = (size_t)(mw_hash_mix(key ^ S0, S1) & m->mask);
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

/* The builder's id of the last label lab (hashed as a name to h), added when new; -1 when the
 * table is full and lab is not in it. Counted, to pick the set's dictionary. Returns 0 or
 * -ENOMEM. */
static int tld_id(struct mw_domainset_builder *b, uint64_t h, const uint8_t *lab, int *id)
{
    size_t i = (h >> 40) & (TLD_SLOTS - 1);
    for (;; i = (i + 1) & (TLD_SLOTS - 1)) {
        uint16_t s = b->tld_slot[i];
        if (!s)
            break;
        const struct tld_ent *t = &b->tld[s - 1];
        const uint8_t *l2 = b->tld_lab + t->lab;
        if (t->hash == h && l2[0] == lab[0] && !memcmp(l2 + 1, lab + 1, lab[0])) {
            *id = s - 1;
            b->tld[s - 1].count++;
            return 0;
        }
    }
    *id = -1;
    if (b->ntld == TLD_IDS)
        return 0;
    size_t need = b->tld_lab_len + lab[0] + 1u;
    if (mw_array_grow((void **)&b->tld, &b->tld_cap, b->ntld + 1, sizeof *b->tld) ||
        mw_array_grow((void **)&b->tld_lab, &b->tld_lab_cap, need, 1))
        return -ENOMEM;
    memcpy(b->tld_lab + b->tld_lab_len, lab, lab[0] + 1u);
    b->tld[b->ntld] = (struct tld_ent){.hash = h, .lab = (uint32_t)b->tld_lab_len, .count = 1};
    b->tld_lab_len = need;
    b->tld_slot[i] = (uint16_t)(b->ntld + 1);
    *id = (int)b->ntld++;
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
    if (b->nrecs >= RULES_MAX || b->bound + 2 * len + 16 > UINT32_MAX)
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

    uint8_t w[MW_DNAME_MAX + 1];
    memcpy(w, wire, len);
    mw_dname_lower(w, len);
    uint64_t hash = ROOT_HASH, h1 = 0;
    for (int i = n - 1; i >= 0; i--) {
        hash = mw_hash_label(hash, w + off[i] + 1, w[off[i]]);
        if (i == n - 1)
            h1 = hash;
    }
    /* The stored name: the marker, then the packed symbols of the other labels. */
    uint8_t name[ENC_MAX + 4], sym[3 * MW_DNAME_MAX];
    uint16_t st[MAX_LABELS + 1];
    size_t nl;
    if (n == 0) {
        name[0] = MK_ROOT;
        nl = 1;
    } else {
        int tid;
        rc = tld_id(b, h1, w + off[n - 1], &tid);
        if (rc)
            return rc;
        size_t o = 1;
        if (tid < 0) {
            name[0] = MK_NONE;
        } else if (tid < MK_WIDE) {
            name[0] = (uint8_t)tid;
        } else {
            name[0] = MK_WIDE;
            name[1] = (uint8_t)tid;
            name[2] = (uint8_t)(tid >> 8);
            o = 3;
        }
        size_t ns = symbolize(w, off, 0, tid < 0 ? n : n - 1, sym, st);
        nl = o + pack_groups(sym, ns, name + o);
    }
    uint8_t hdr[16], *hp = hdr;
    if (id < 3 && nl < SIMPLE_LEN) {
        *hp++ = (uint8_t)(id * SIMPLE_LEN + nl);
    } else {
        *hp++ = XHDR;
        hp = put_varint(hp, id);
        hp = put_varint(hp, (uint32_t)nl);
    }
    hp = put_varint(hp, rule ? rule->line : 0);
    size_t hl = (size_t)(hp - hdr);
    struct part *pt = &b->part[hash >> PART_SHIFT];
    uint8_t *d = reserve(pt, hl + nl);
    if (!d)
        return -ENOMEM;
    memcpy(d, hdr, hl);
    memcpy(d + hl, name, nl);
    pt->tail->used += (uint32_t)(hl + nl);
    pt->n++;
    b->nrecs++;
    /* Its set entry: an extended header, the name packed (at most 2 octets per 3 symbols and
     * the dictionary octet), a class id and a line. */
    b->bound += 2 * len + 16;
    b->ccount[id]++;
    if (rule && rule->line > b->maxline)
        b->maxline = rule->line;
    b->lmask[n >> 6] |= 1ull << (n & 63);
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

/* One stored entry, decoded. */
struct stored {
    uint32_t cls, line;
    const uint8_t *name;
    size_t nl;
};

static const uint8_t *read_stored(const uint8_t *e, struct stored *out)
{
    if (e[0] != XHDR) {
        out->cls = e[0] / SIMPLE_LEN;
        out->nl = e[0] % SIMPLE_LEN;
        e++;
    } else {
        uint32_t nl;
        e = get_varint(e + 1, &out->cls);
        e = get_varint(e, &nl);
        out->nl = nl;
    }
    e = get_varint(e, &out->line);
    out->name = e;
    return e + out->nl;
}

/* The last-label id of a stored name (-1: none or the root) and where its groups start. */
static int stored_tld(const uint8_t *name, size_t *groups)
{
    *groups = name[0] == MK_WIDE ? 3 : 1;
    if (name[0] == MK_NONE || name[0] == MK_ROOT)
        return -1;
    return name[0] == MK_WIDE ? (int)(name[1] | (unsigned)name[2] << 8) : name[0];
}

/* The hash of a stored name, as add computed it from the wire name. */
static uint64_t stored_hash(const struct mw_domainset_builder *b, const struct stored *e)
{
    if (e->name[0] == MK_ROOT)
        return ROOT_HASH;
    size_t g;
    int tid = stored_tld(e->name, &g);
    uint8_t sym[3 * MW_DNAME_MAX], w[MW_DNAME_MAX + 1], off[MAX_LABELS + 1];
    size_t ns = unpack_groups(e->name + g, e->nl - g, sym);
    size_t n = syms_to_wire(sym, ns, w);
    uint64_t h = ROOT_HASH;
    if (tid >= 0)
        h = b->tld[tid].hash;
    int k = 0;
    for (size_t o = 0; o < n; o += w[o] + 1u)
        off[k++] = (uint8_t)o;
    while (k-- > 0)
        h = mw_hash_label(h, w + off[k] + 1, w[off[k]]);
    return h;
}

/* The packed name in set s of a stored name; tmap takes builder last-label ids to the set's
 * dictionary (-1: not in it). */
static size_t final_name(const struct mw_domainset_builder *b, const int16_t *tmap,
                         const struct stored *e, uint8_t *out)
{
    if (e->name[0] == MK_ROOT) {
        out[0] = TLD_ROOT;
        return 1;
    }
    size_t g;
    int tid = stored_tld(e->name, &g);
    if (tid < 0 || tmap[tid] >= 0) {
        memcpy(out, e->name + g, e->nl - g);
        out[e->nl - g] = tid < 0 ? TLD_NONE : (uint8_t)tmap[tid];
        return e->nl - g + 1;
    }
    /* A last label left out of the dictionary: it joins the symbols. */
    uint8_t sym[3 * MW_DNAME_MAX + 4];
    size_t ns = unpack_groups(e->name + g, e->nl - g, sym);
    if (ns)
        sym[ns++] = SYM_SEP;
    ns = label_syms(b->tld_lab + b->tld[tid].lab, sym, ns);
    return pack(sym, ns, TLD_NONE, out);
}

/* Keep the most frequent TLD_MAX last labels that occur at least twice as the set's
 * dictionary; tmap[id] gets each builder id's dictionary index or -1. */
static int pick_tlds(const struct mw_domainset_builder *b, struct mw_domainset *s, int16_t *tmap)
{
    size_t k = 0;
    uint32_t *ids = malloc((b->ntld ? b->ntld : 1) * sizeof *ids);
    if (!ids)
        return -ENOMEM;
    for (size_t i = 0; i < b->ntld; i++) {
        tmap[i] = -1;
        if (b->tld[i].count >= 2)
            ids[k++] = (uint32_t)i;
    }
    /* Most frequent first, then the first seen: a small sort of at most TLD_IDS ids. */
    for (size_t i = 1; i < k; i++) {
        uint32_t x = ids[i];
        size_t j = i;
        while (j > 0 && b->tld[ids[j - 1]].count < b->tld[x].count) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = x;
    }
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
            const struct tld_ent *t = &b->tld[ids[j]];
            const uint8_t *lab = b->tld_lab + t->lab;
            s->tld_off[j] = (uint16_t)n;
            memcpy(s->tld_lab + n, lab, lab[0] + 1u);
            n += lab[0] + 1u;
            size_t i = (t->hash >> 40) & s->tld_mask;
            while (s->tld_tab[i].id1)
                i = (i + 1) & s->tld_mask;
            s->tld_tab[i] = (struct tld_slot){.hash = t->hash, .id1 = (uint32_t)j + 1};
            tmap[ids[j]] = (int16_t)j;
        }
        s->ntld = k;
        s->bytes += k * 64 + k * sizeof *s->tld_off + tsz * sizeof *s->tld_tab;
    }
out:
    free(ids);
    return rc;
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

/* The winning rule per (kind, tombstone) slot among the stored entries of one name, in the
 * order added: the first, unless a later rule is an allow rule and it is not. Returns how many
 * slots of w are set. */
static unsigned winners(const struct mw_domainset_builder *b, const struct stored *a, size_t n,
                        const struct stored *w[6])
{
    unsigned k = 0;
    memset(w, 0, 6 * sizeof *w);
    for (size_t j = 0; j < n; j++) {
        const struct cls *c = &b->cls[a[j].cls];
        int slot = c->kind * 2 + c->removed;
        if (!w[slot]) {
            k++;
            w[slot] = &a[j];
        } else if (!c->removed && (c->flags & MW_RULE_ALLOW) &&
                   !(b->cls[w[slot]->cls].flags & MW_RULE_ALLOW)) {
            w[slot] = &a[j];
        }
    }
    return k;
}

/* Write the entry for the stored entries a[0..n) of one name at p; returns its end. */
static uint8_t *put_entry(const struct mw_domainset_builder *b, struct mw_domainset *s,
                          const uint32_t *remap, const uint8_t *enc, size_t el,
                          const struct stored *a, size_t n, uint8_t *p)
{
    const struct stored *w[6];
    unsigned k = winners(b, a, n, w);
    uint32_t ids[6];
    int only = -1;
    for (int c = 0; c < 6; c++) {
        if (!w[c])
            continue;
        ids[c] = remap[w[c]->cls];
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

/* ---- the partition sort ---- */

/* A stored entry of the partition being written: its name's hash and where it is (chunk
 * number << 16 | offset), which also orders entries by the time they were added. */
struct ix {
    uint64_t hash;
    uint32_t where;
    uint32_t pad;
};

static inline bool ix_less(const struct ix *x, const struct ix *y)
{
    return x->hash != y->hash ? x->hash < y->hash : x->where < y->where;
}

static int ix_cmp(const void *x, const void *y)
{
    const struct ix *a = x, *b = y;
    return ix_less(a, b) ? -1 : ix_less(b, a);
}

/* Sort a[0..n) by (hash, where) in place: American flag passes on 8 hash bits at a time while
 * a bucket is large, insertion sort for small ones, and qsort for a large bucket the passes
 * could not split (one name added many times: equal hashes). */
static void ix_sort(struct ix *a, size_t n, int shift)
{
    if (n <= 24) {
        for (size_t i = 1; i < n; i++) {
            struct ix x = a[i];
            size_t j = i;
            while (j > 0 && ix_less(&x, &a[j - 1])) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
        return;
    }
    if (shift < 0) {
        qsort(a, n, sizeof *a, ix_cmp);
        return;
    }
    size_t start[257], next[256];
    memset(start, 0, sizeof start);
    for (size_t i = 0; i < n; i++)
        start[((a[i].hash >> shift) & 255) + 1]++;
    for (int k = 0; k < 256; k++) {
        start[k + 1] += start[k];
        next[k] = start[k];
    }
    for (int k = 0; k < 256; k++) {
        while (next[k] < start[k + 1]) {
            struct ix r = a[next[k]];
            unsigned d = (unsigned)(r.hash >> shift) & 255;
            while (d != (unsigned)k) {
                struct ix t = a[next[d]];
                a[next[d]++] = r;
                r = t;
                d = (unsigned)(r.hash >> shift) & 255;
            }
            a[next[k]++] = r;
        }
    }
    for (int k = 0; k < 256; k++)
        ix_sort(a + start[k], start[k + 1] - start[k], shift - 8);
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

/* The state of writing the set, partition after partition. */
struct writer {
    const struct mw_domainset_builder *b;
    struct mw_domainset *s;
    const uint32_t *remap;
    const int16_t *tmap;
    uint32_t *off;
    uint64_t nextb;
    uint8_t *p;
    struct chunk **chunks; /* the partition's, by number */
    struct stored *group;  /* the entries of one name */
    size_t group_cap;
    struct hidden *hidden; /* the rules not kept, for s->hidden */
    size_t nhidden, hidden_cap;
};

/* The rules of one name (a[0..n), in the order added, its entry at arena offset at) that the
 * entry does not keep but a set built from fewer lists would: a client group without the
 * winner's list must see the next rule of its own lists (filter.c). Left out, as no such set
 * could pick them: tombstones, a rule of the winner's own list with its flags, and one of a
 * list and flags already kept aside for the kind (the first added of those wins there too).
 * Lists rarely share names, so this is a short array, not a second set. */
static int keep_hidden(struct writer *wr, const struct stored *a, size_t n, uint32_t at)
{
    const struct stored *w[6];
    winners(wr->b, a, n, w);
    size_t first = wr->nhidden;
    for (size_t j = 0; j < n; j++) {
        const struct cls *c = &wr->b->cls[a[j].cls];
        const struct stored *win = w[c->kind * 2];
        if (c->removed || !win || win == &a[j])
            continue;
        const struct cls *wc = &wr->b->cls[win->cls];
        bool seen = wc->list == c->list && wc->flags == c->flags;
        for (size_t h = first; h < wr->nhidden && !seen; h++) {
            const struct hidden *x = &wr->hidden[h];
            seen = x->kind == c->kind && x->rule.list == c->list && x->rule.flags == c->flags;
        }
        if (seen)
            continue;
        if (mw_array_grow((void **)&wr->hidden, &wr->hidden_cap, wr->nhidden + 1,
                          sizeof *wr->hidden))
            return -ENOMEM;
        wr->hidden[wr->nhidden++] = (struct hidden){
            .at = at,
            .kind = c->kind,
            .rule = {.line = a[j].line, .list = c->list, .flags = c->flags, .action = c->action}};
    }
    return 0;
}

static inline const uint8_t *ix_entry(const struct writer *wr, const struct ix *x)
{
    return wr->chunks[x->where >> 16]->data + (x->where & 0xffff);
}

static inline bool same_stored(const struct stored *x, const struct stored *y)
{
    return x->nl == y->nl && memcmp(x->name, y->name, x->nl) == 0;
}

/* Write the names of a[0..n), sorted, all of one hash: usually one name, but two names may
 * share a 64-bit hash, so each is gathered from the whole run. Marks what it wrote. */
static int write_run(struct writer *wr, struct ix *a, size_t n)
{
    if (mw_array_grow((void **)&wr->group, &wr->group_cap, n, sizeof *wr->group))
        return -ENOMEM;
    uint64_t bk = bucket_of(wr->s, a[0].hash);
    while (wr->nextb <= bk)
        wr->off[wr->nextb++] = (uint32_t)(wr->p - wr->s->arena);
    for (size_t i = 0; i < n; i++) {
        if (a[i].where == UINT32_MAX)
            continue;
        size_t k = 0;
        read_stored(ix_entry(wr, &a[i]), &wr->group[k++]);
        for (size_t j = i + 1; j < n; j++) {
            if (a[j].where == UINT32_MAX)
                continue;
            read_stored(ix_entry(wr, &a[j]), &wr->group[k]);
            if (same_stored(&wr->group[0], &wr->group[k])) {
                a[j].where = UINT32_MAX;
                k++;
            }
        }
        if (k > 1 && keep_hidden(wr, wr->group, k, (uint32_t)(wr->p - wr->s->arena)) < 0)
            return -ENOMEM;
        uint8_t enc[ENC_MAX];
        size_t el = final_name(wr->b, wr->tmap, &wr->group[0], enc);
        wr->p = put_entry(wr->b, wr->s, wr->remap, enc, el, wr->group, k, wr->p);
    }
    return 0;
}

/* Write partition pt's names to the set, then unmap its chunks. */
static int write_part(struct writer *wr, struct part *pt, struct ix *idx)
{
    size_t k = 0, c = 0;
    for (struct chunk *ch = pt->head; ch; ch = ch->next, c++) {
        wr->chunks[c] = ch;
        const uint8_t *e = ch->data, *end = ch->data + ch->used;
        while (e < end) {
            struct stored st;
            const uint8_t *nx = read_stored(e, &st);
            idx[k].hash = stored_hash(wr->b, &st);
            idx[k].where = (uint32_t)(c << 16 | (size_t)(e - ch->data));
            k++;
            e = nx;
        }
    }
    ix_sort(idx, k, PART_SHIFT - 8);
    int rc = 0;
    for (size_t i = 0; i < k && !rc;) {
        size_t j = i + 1;
        while (j < k && idx[j].hash == idx[i].hash)
            j++;
        rc = write_run(wr, idx + i, j - i);
        i = j;
    }
    part_free(pt);
    return rc;
}

static int layout(struct mw_domainset_builder *b, struct mw_domainset *s, const int16_t *tmap)
{
    /* Buckets for every name added: duplicates (rare in one list) only make them sparser. */
    s->nb = b->nrecs / BUCKET_FILL + 1;
    uint64_t bound = b->bound + ARENA_PAD;
    if (bound - ARENA_PAD > UINT32_MAX)
        return -E2BIG;
    size_t maxn = 1, maxc = 1;
    for (int p = 0; p < NPART; p++) {
        if (b->part[p].n > maxn)
            maxn = b->part[p].n;
        if (b->part[p].nchunks > maxc)
            maxc = b->part[p].nchunks;
    }
    struct writer wr = {.b = b, .s = s, .tmap = tmap};
    uint32_t *remap = NULL;
    struct ix *idx = NULL;
    int rc = classify(b, s, &remap);
    if (rc)
        return rc;
    wr.remap = remap;
    rc = -ENOMEM;
    wr.off = malloc((s->nb + 1) * sizeof *wr.off);
    wr.chunks = malloc(maxc * sizeof *wr.chunks);
    idx = malloc(maxn * sizeof *idx);
    /* Only the octets written count: the bound is address space, not memory. */
    s->arena = malloc((size_t)bound);
    if (!wr.off || !wr.chunks || !idx || !s->arena)
        goto out;
    wr.p = s->arena;
    for (int p = 0; p < NPART; p++) {
        rc = write_part(&wr, &b->part[p], idx);
        if (rc)
            goto out;
    }
    while (wr.nextb <= s->nb)
        wr.off[wr.nextb++] = (uint32_t)(wr.p - s->arena);
    memset(wr.p, 0, ARENA_PAD);
    s->arena_len = (size_t)(wr.p - s->arena) + ARENA_PAD;
    uint8_t *ar = realloc(s->arena, s->arena_len); /* shrinking: failure keeps the larger */
    if (ar)
        s->arena = ar;
    free(idx);
    idx = NULL;
    rc = make_dir(s, wr.off);
    wr.off = NULL;
    if (rc)
        goto out;
    s->bytes += s->arena_len + s->ncls * sizeof *s->cls;
    if (wr.nhidden) {
        struct hidden *h = realloc(wr.hidden, wr.nhidden * sizeof *h); /* shrinking */
        s->hidden = h ? h : wr.hidden;
        s->nhidden = wr.nhidden;
        wr.hidden = NULL;
        s->bytes += s->nhidden * sizeof *s->hidden;
    }
out:
    free(idx);
    free(wr.off);
    free(wr.chunks);
    free(wr.group);
    free(wr.hidden);
    free(remap);
    return rc;
}

int mw_domainset_build(struct mw_domainset_builder *b, struct mw_domainset **out)
{
    *out = NULL;
    struct mw_domainset *s = calloc(1, sizeof *s);
    int16_t *tmap = malloc((b->ntld ? b->ntld : 1) * sizeof *tmap);
    int rc = -ENOMEM;
    if (!s || !tmap)
        goto out;
    s->bytes = sizeof *s;
    s->lmask[0] = b->lmask[0];
    s->lmask[1] = b->lmask[1];
    rc = pick_tlds(b, s, tmap);
    if (rc)
        goto out;
    rc = layout(b, s, tmap);
out:
    free(tmap);
    mw_domainset_builder_free(b);
    if (rc) {
        mw_domainset_free(s);
        return rc;
    }
    *out = s;
    return 0;
}
