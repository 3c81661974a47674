/* The glob rule set. Each pattern is compiled to a string of 16-bit ops (a literal octet, any
 * octet, a star, or one of the set's deduplicated 256-bit character classes) and matched with
 * the usual one-star backtracking, linear in practice and O(name * pattern) at worst, both
 * bounded (names 254 octets, patterns 1024).
 *
 * Filtering. A pattern's runs of literal octets must each occur in any name it matches. Each
 * pattern is filed under one q-gram of one of its runs (q = min(4, run length)): preferring
 * grams without a dot (every name has dots, and most end in ".com"), then longer grams, then
 * grams fewer patterns could use. A lookup slides a 4-octet window over the name and, for each gram
 * length in use, tests a 2^17-bit Bloom filter, then the gram table, whose lists hold pattern ranks
 * in precedence order; patterns without any literal are kept in an always-tried list. Patterns are
 * stored sorted by precedence, so the best match is the lowest rank that matches and a list walk
 * stops at the first rank not better than the best found. */
#include "minewall/patternset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/array.h"

#define OP_ANY 256
#define OP_STAR 257
#define OP_SET 258 /* + class index */
#define SETS_MAX (65536 - OP_SET)
#define PATTERN_MAX 1024
#define PATTERNS_MAX (1u << 24)
#define BLOOM_BITS 17
#define GRAM_MAX 4

static const uint64_t M1 = 0x9e3779b97f4a7c15ull;

struct pat {
    uint32_t code;   /* offset of the ops in codes */
    uint32_t text;   /* offset of the pattern text in texts */
    uint16_t ncode;  /* ops */
    uint16_t minlen; /* octets any match has */
    uint8_t star;    /* has a star, so matches may be longer than minlen */
    struct mw_rule rule;
    uint32_t seq;  /* order added (builder) */
    uint64_t gram; /* filing key (builder), 0 for none */
};

struct gslot {
    uint64_t key1;         /* gram key + 1, 0 empty */
    uint32_t start, count; /* ranks[start .. start + count) */
};

struct mw_patternset {
    struct pat *pats; /* in precedence order: index = rank */
    size_t npats;
    uint16_t *codes;
    char *texts;
    uint8_t (*sets)[32];
    uint32_t *ranks; /* gram lists, then the always list */
    uint32_t *always;
    size_t nalways;
    struct gslot *gtab;
    size_t gmask;
    uint64_t *bloom;
    unsigned qmask; /* bit q: grams of length q are in use */
    size_t bytes;
};

/* ---- matching ----------------------------------------------------------------------------- */

static inline bool in_set(const uint8_t *set, uint8_t c)
{
    return (set[c >> 3] >> (c & 7)) & 1;
}

static bool glob(const struct mw_patternset *s, const struct pat *p, const uint8_t *t, size_t n)
{
    const uint16_t *op = s->codes + p->code;
    size_t np = p->ncode, pi = 0, ti = 0, star_p = SIZE_MAX, star_t = 0;
    while (ti < n) {
        if (pi < np) {
            uint16_t o = op[pi];
            if (o == OP_STAR) {
                star_p = ++pi;
                star_t = ti;
                continue;
            }
            if (o < 256 ? o == t[ti] : o == OP_ANY || in_set(s->sets[o - OP_SET], t[ti])) {
                pi++;
                ti++;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        pi = star_p;
        ti = ++star_t;
    }
    while (pi < np && op[pi] == OP_STAR)
        pi++;
    return pi == np;
}

static inline bool try_pat(const struct mw_patternset *s, uint32_t r, const uint8_t *t, size_t n)
{
    const struct pat *p = &s->pats[r];
    if (n < p->minlen || (!p->star && n != p->minlen))
        return false;
    return glob(s, p, t, n);
}

/* Walk a rank list in order; returns the first matching rank below best, or best. */
static uint32_t try_list(const struct mw_patternset *s, const uint32_t *r, size_t n,
                         const uint8_t *t, size_t len, uint32_t best)
{
    for (size_t i = 0; i < n && r[i] < best; i++)
        if (try_pat(s, r[i], t, len))
            return r[i];
    return best;
}

/* try_list among the ranks whose rule keep accepts: the filtered lookup's own, so the plain
 * one keeps its code. */
static uint32_t try_list_if(const struct mw_patternset *s, const uint32_t *r, size_t n,
                            const uint8_t *t, size_t len, uint32_t best, mw_rule_keep_cb keep,
                            void *arg)
{
    for (size_t i = 0; i < n && r[i] < best; i++)
        if (try_pat(s, r[i], t, len) && keep(&s->pats[r[i]].rule, arg))
            return r[i];
    return best;
}

static inline uint64_t gram_hash(uint64_t key)
{
    return (key ^ (key >> 29)) * M1;
}

static const struct gslot *gram_find(const struct mw_patternset *s, uint64_t key, uint64_t h)
{
    for (size_t i = (size_t)h & s->gmask;; i = (i + 1) & s->gmask) {
        const struct gslot *g = &s->gtab[i];
        if (!g->key1)
            return NULL;
        if (g->key1 == key + 1)
            return g;
    }
}

/* Gram key: length in bits 32..34, octets little-endian below. */
static inline uint64_t gram_key(unsigned q, uint32_t w)
{
    return (uint64_t)q << 32 | (q == 4 ? w : w & ((1u << (8 * q)) - 1));
}

/* Inlined into both entry points, so the plain match has no filter test (keep NULL). */
static inline __attribute__((always_inline)) bool match(const struct mw_patternset *s,
                                                        const char *name, size_t len,
                                                        mw_rule_keep_cb keep, void *arg,
                                                        struct mw_pattern_match *out)
{
    const uint8_t *t = (const uint8_t *)name;
    uint32_t best = keep ? try_list_if(s, s->always, s->nalways, t, len, UINT32_MAX, keep, arg)
                         : try_list(s, s->always, s->nalways, t, len, UINT32_MAX);
    if (s->qmask) {
        for (size_t i = 0; i < len; i++) {
            uint32_t w = 0;
            if (i + 4 <= len)
                memcpy(&w, t + i, 4);
            else
                for (size_t j = 0; i + j < len; j++)
                    w |= (uint32_t)t[i + j] << (8 * j);
            for (unsigned q = 1; q <= GRAM_MAX; q++) {
                if (!(s->qmask & (1u << q)) || i + q > len)
                    continue;
                uint64_t key = gram_key(q, w), h = gram_hash(key);
                uint64_t bit = h >> (64 - BLOOM_BITS);
                if (!((s->bloom[bit >> 6] >> (bit & 63)) & 1))
                    continue;
                const struct gslot *g = gram_find(s, key, h);
                if (g)
                    best = keep ? try_list_if(s, s->ranks + g->start, g->count, t, len, best, keep,
                                              arg)
                                : try_list(s, s->ranks + g->start, g->count, t, len, best);
            }
        }
    }
    if (best == UINT32_MAX)
        return false;
    out->rule = s->pats[best].rule;
    out->pattern = s->texts + s->pats[best].text;
    return true;
}

bool mw_patternset_match(const struct mw_patternset *s, const char *name, size_t len,
                         struct mw_pattern_match *out)
{
    return match(s, name, len, NULL, NULL, out);
}

bool mw_patternset_match_if(const struct mw_patternset *s, const char *name, size_t len,
                            mw_rule_keep_cb keep, void *arg, struct mw_pattern_match *out)
{
    return match(s, name, len, keep, arg, out);
}

size_t mw_patternset_count(const struct mw_patternset *s)
{
    return s->npats;
}

size_t mw_patternset_bytes(const struct mw_patternset *s)
{
    return s->bytes;
}

int mw_patternset_foreach(const struct mw_patternset *s, mw_pattern_rule_cb cb, void *arg)
{
    for (size_t i = 0; i < s->npats; i++) {
        int rc = cb(s->texts + s->pats[i].text, &s->pats[i].rule, arg);
        if (rc)
            return rc;
    }
    return 0;
}

void mw_patternset_free(struct mw_patternset *s)
{
    if (!s)
        return;
    free(s->pats);
    free(s->codes);
    free(s->texts);
    free(s->sets);
    free(s->ranks);
    free(s->gtab);
    free(s->bloom);
    free(s);
}

/* ---- the builder -------------------------------------------------------------------------- */

struct mw_patternset_builder {
    struct pat *pats;
    size_t npats, cappats;
    uint16_t *codes;
    size_t ncodes, capcodes;
    char *texts;
    size_t ntexts, captexts;
    uint8_t (*sets)[32];
    size_t nsets, capsets;
    uint32_t *setmap; /* set index + 1 by hash, 0 empty */
    size_t setmask;
};

struct mw_patternset_builder *mw_patternset_builder_new(size_t size_hint)
{
    struct mw_patternset_builder *b = calloc(1, sizeof *b);
    if (b && size_hint && size_hint < PATTERNS_MAX) {
        b->pats = malloc(size_hint * sizeof *b->pats);
        if (b->pats)
            b->cappats = size_hint;
    }
    return b;
}

void mw_patternset_builder_free(struct mw_patternset_builder *b)
{
    if (!b)
        return;
    free(b->pats);
    free(b->codes);
    free(b->texts);
    free(b->sets);
    free(b->setmap);
    free(b);
}

static uint64_t set_hash(const uint8_t *set)
{
    uint64_t h = 0;
    for (int i = 0; i < 32; i += 8) {
        uint64_t v;
        memcpy(&v, set + i, 8);
        h = (h ^ v) * M1;
        h ^= h >> 31;
    }
    return h;
}

/* Index of an equal class, added if new; -ENOMEM, or -E2BIG past SETS_MAX classes. */
static int set_id(struct mw_patternset_builder *b, const uint8_t *set)
{
    if (2 * (b->nsets + 1) > b->setmask + 1) {
        size_t n = b->setmask ? 2 * (b->setmask + 1) : 64;
        uint32_t *m = calloc(n, sizeof *m);
        if (!m)
            return -ENOMEM;
        for (size_t j = 0; j < b->nsets; j++) {
            size_t i = (size_t)set_hash(b->sets[j]) & (n - 1);
            while (m[i])
                i = (i + 1) & (n - 1);
            m[i] = (uint32_t)j + 1;
        }
        free(b->setmap);
        b->setmap = m;
        b->setmask = n - 1;
    }
    size_t i = (size_t)set_hash(set) & b->setmask;
    for (; b->setmap[i]; i = (i + 1) & b->setmask)
        if (memcmp(b->sets[b->setmap[i] - 1], set, 32) == 0)
            return (int)b->setmap[i] - 1;
    if (b->nsets >= SETS_MAX)
        return -E2BIG;
    if (mw_array_grow((void **)&b->sets, &b->capsets, b->nsets + 1, sizeof *b->sets))
        return -ENOMEM;
    memcpy(b->sets[b->nsets], set, 32);
    b->setmap[i] = (uint32_t)b->nsets + 1;
    return (int)b->nsets++;
}

/* Parse a bracket expression at g[*i] (just past '['), lowercase text, into set. */
static int parse_set(const char *g, size_t gl, size_t *i, uint8_t *set)
{
    size_t k = *i;
    bool neg = false, first = true;
    memset(set, 0, 32);
    if (k < gl && (g[k] == '!' || g[k] == '^')) {
        neg = true;
        k++;
    }
    for (;;) {
        if (k >= gl)
            return -EINVAL;
        uint8_t c = (uint8_t)g[k];
        if (c == ']' && !first) {
            k++;
            break;
        }
        first = false;
        if (c == '[' && k + 1 < gl && (g[k + 1] == ':' || g[k + 1] == '=' || g[k + 1] == '.'))
            return -EINVAL; /* classes, equivalence classes, collating symbols */
        if (c == '\\') {
            if (++k >= gl)
                return -EINVAL;
            c = (uint8_t)g[k];
        }
        k++;
        uint8_t hi = c;
        if (k + 1 < gl && g[k] == '-' && g[k + 1] != ']') {
            k++;
            if (g[k] == '\\' && ++k >= gl)
                return -EINVAL;
            if (g[k] == '[' && k + 1 < gl &&
                (g[k + 1] == ':' || g[k + 1] == '=' || g[k + 1] == '.'))
                return -EINVAL;
            hi = (uint8_t)g[k++];
        }
        for (unsigned x = c; x <= hi; x++)
            set[x >> 3] |= (uint8_t)(1u << (x & 7));
    }
    if (neg)
        for (int j = 0; j < 32; j++)
            set[j] = (uint8_t)~set[j];
    *i = k;
    return 0;
}

static int compile(struct mw_patternset_builder *b, const char *g, size_t gl, struct pat *p)
{
    if (mw_array_grow((void **)&b->codes, &b->capcodes, b->ncodes + gl + 1, sizeof *b->codes))
        return -ENOMEM;
    uint16_t *op = b->codes + b->ncodes;
    size_t n = 0, minlen = 0;
    bool star = false;
    for (size_t i = 0; i < gl;) {
        uint8_t c = (uint8_t)g[i];
        if (c == '*') {
            if (!n || op[n - 1] != OP_STAR)
                op[n++] = OP_STAR;
            star = true;
            i++;
            continue;
        }
        minlen++;
        if (c == '?') {
            op[n++] = OP_ANY;
            i++;
        } else if (c == '[') {
            uint8_t set[32];
            i++;
            int rc = parse_set(g, gl, &i, set);
            if (rc)
                return rc;
            int id = set_id(b, set);
            if (id < 0)
                return id;
            op[n++] = (uint16_t)(OP_SET + id);
        } else {
            if (c == '\\') {
                if (i + 1 >= gl)
                    return -EINVAL;
                c = (uint8_t)g[++i];
            }
            op[n++] = c;
            i++;
        }
    }
    p->code = (uint32_t)b->ncodes;
    p->ncode = (uint16_t)n;
    p->minlen = (uint16_t)minlen;
    p->star = star;
    b->ncodes += n;
    return 0;
}

int mw_patternset_builder_add(struct mw_patternset_builder *b, const char *glob_text,
                              const struct mw_rule *rule)
{
    if (!glob_text || !rule)
        return -EINVAL;
    size_t gl = strlen(glob_text);
    if (gl > PATTERN_MAX)
        return -EINVAL;
    if (b->npats >= PATTERNS_MAX)
        return -E2BIG;
    if (mw_array_grow((void **)&b->pats, &b->cappats, b->npats + 1, sizeof *b->pats) ||
        mw_array_grow((void **)&b->texts, &b->captexts, b->ntexts + gl + 1, 1))
        return -ENOMEM;
    /* The text is kept as added; the lowercase copy is what compiles. */
    char *text = b->texts + b->ntexts;
    char low[PATTERN_MAX + 1];
    for (size_t i = 0; i <= gl; i++) {
        text[i] = glob_text[i];
        low[i] =
            glob_text[i] >= 'A' && glob_text[i] <= 'Z' ? (char)(glob_text[i] + 32) : glob_text[i];
    }
    struct pat *p = &b->pats[b->npats];
    memset(p, 0, sizeof *p);
    size_t ncodes = b->ncodes;
    int rc = compile(b, low, gl, p);
    if (rc) {
        b->ncodes = ncodes;
        return rc;
    }
    p->text = (uint32_t)b->ntexts;
    p->rule = *rule;
    p->seq = (uint32_t)b->npats++;
    b->ntexts += gl + 1;
    return 0;
}

static int pat_cmp(const void *x, const void *y)
{
    const struct pat *a = x, *b = y;
    bool aa = a->rule.flags & MW_RULE_ALLOW, ba = b->rule.flags & MW_RULE_ALLOW;
    if (aa != ba)
        return aa ? -1 : 1;
    if (a->rule.list != b->rule.list)
        return a->rule.list < b->rule.list ? -1 : 1;
    if (a->rule.line != b->rule.line)
        return a->rule.line < b->rule.line ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Call fn on every q-gram of each maximal literal run of p, q = min(GRAM_MAX, run length). */
static int for_grams(const uint16_t *op, size_t n, int (*fn)(void *, uint64_t), void *arg)
{
    for (size_t i = 0; i < n;) {
        if (op[i] >= 256) {
            i++;
            continue;
        }
        size_t e = i;
        while (e < n && op[e] < 256)
            e++;
        unsigned q = e - i < GRAM_MAX ? (unsigned)(e - i) : GRAM_MAX;
        for (size_t k = i; k + q <= e; k++) {
            uint32_t w = 0;
            for (unsigned j = 0; j < q; j++)
                w |= (uint32_t)op[k + j] << (8 * j);
            int rc = fn(arg, gram_key(q, w));
            if (rc)
                return rc;
        }
        i = e;
    }
    return 0;
}

/* A growable gram -> count table; slots are struct gslot with count only. */
struct gcount {
    struct gslot *tab;
    size_t mask, n;
};

static struct gslot *gc_slot(struct gcount *c, uint64_t key)
{
    for (size_t i = (size_t)gram_hash(key) & c->mask;; i = (i + 1) & c->mask)
        if (!c->tab[i].key1 || c->tab[i].key1 == key + 1)
            return &c->tab[i];
}

static int gc_add(void *arg, uint64_t key)
{
    struct gcount *c = arg;
    if (2 * (c->n + 1) > c->mask + 1) {
        struct gcount g = {.mask = c->mask ? 2 * c->mask + 1 : 1023, .n = c->n};
        g.tab = calloc(g.mask + 1, sizeof *g.tab);
        if (!g.tab)
            return -ENOMEM;
        for (size_t i = 0; c->tab && i <= c->mask; i++)
            if (c->tab[i].key1)
                *gc_slot(&g, c->tab[i].key1 - 1) = c->tab[i];
        free(c->tab);
        *c = g;
    }
    struct gslot *s = gc_slot(c, key);
    if (!s->key1) {
        s->key1 = key + 1;
        c->n++;
    }
    s->count++;
    return 0;
}

struct pick {
    struct gcount *c;
    uint64_t best;
    uint64_t score;
};

/* Lower is better: grams without a dot (every name has dots), then longer ones, then those
 * fewer patterns could use. */
static int pick_gram(void *arg, uint64_t key)
{
    struct pick *p = arg;
    unsigned q = (unsigned)(key >> 32);
    bool dot = false;
    for (unsigned j = 0; j < q; j++)
        dot |= ((key >> (8 * j)) & 0xff) == '.';
    uint64_t score =
        (uint64_t)dot << 40 | (uint64_t)(GRAM_MAX - q) << 32 | gc_slot(p->c, key)->count;
    if (!p->best || score < p->score) {
        p->best = key;
        p->score = score;
    }
    return 0;
}

/* File every pattern under a gram; fill the gram table, its lists and the always list. */
static int index_grams(struct mw_patternset_builder *b, struct mw_patternset *s)
{
    struct gcount all = {0}, chosen = {0};
    int rc = 0;
    for (size_t r = 0; r < b->npats && !rc; r++) {
        struct pat *p = &b->pats[r];
        rc = for_grams(b->codes + p->code, p->ncode, gc_add, &all);
    }
    for (size_t r = 0; r < b->npats && !rc; r++) {
        struct pat *p = &b->pats[r];
        struct pick pk = {.c = &all};
        for_grams(b->codes + p->code, p->ncode, pick_gram, &pk);
        p->gram = pk.best;
        if (pk.best) {
            rc = gc_add(&chosen, pk.best);
            s->qmask |= 1u << (pk.best >> 32);
        } else {
            s->nalways++;
        }
    }
    if (rc)
        goto out;

    s->ranks = malloc((b->npats + 1) * sizeof *s->ranks);
    s->bloom = calloc((1u << BLOOM_BITS) / 64, sizeof *s->bloom);
    rc = -ENOMEM;
    if (!s->ranks || !s->bloom)
        goto out;
    /* Lists in table order, then the always list; ranks appended in precedence order. */
    uint32_t at = 0;
    for (size_t i = 0; chosen.tab && i <= chosen.mask; i++) {
        if (!chosen.tab[i].key1)
            continue;
        chosen.tab[i].start = at;
        at += chosen.tab[i].count;
        chosen.tab[i].count = 0;
        uint64_t bit = gram_hash(chosen.tab[i].key1 - 1) >> (64 - BLOOM_BITS);
        s->bloom[bit >> 6] |= 1ull << (bit & 63);
    }
    s->always = s->ranks + at;
    size_t na = 0;
    for (size_t r = 0; r < b->npats; r++) {
        if (b->pats[r].gram) {
            struct gslot *g = gc_slot(&chosen, b->pats[r].gram);
            s->ranks[g->start + g->count++] = (uint32_t)r;
        } else {
            s->always[na++] = (uint32_t)r;
        }
    }
    s->gtab = chosen.tab;
    s->gmask = chosen.mask;
    chosen.tab = NULL;
    if (!s->gtab) {
        /* No grams at all: a one-slot empty table keeps lookups uniform. */
        s->gtab = calloc(1, sizeof *s->gtab);
        s->gmask = 0;
        if (!s->gtab)
            goto out;
    }
    s->bytes += (b->npats + 1) * sizeof *s->ranks + ((1u << BLOOM_BITS) / 8) +
                (s->gmask + 1) * sizeof *s->gtab;
    rc = 0;
out:
    free(all.tab);
    free(chosen.tab);
    return rc;
}

int mw_patternset_build(struct mw_patternset_builder *b, struct mw_patternset **out)
{
    *out = NULL;
    struct mw_patternset *s = calloc(1, sizeof *s);
    int rc = -ENOMEM;
    if (!s)
        goto out;
    if (b->npats)
        qsort(b->pats, b->npats, sizeof *b->pats, pat_cmp);
    rc = index_grams(b, s);
    if (rc)
        goto out;
    /* Hand the builder's arrays over, trimmed. */
    s->npats = b->npats;
    s->pats = b->pats;
    s->codes = b->codes;
    s->texts = b->texts;
    s->sets = b->sets;
    b->pats = NULL;
    b->codes = NULL;
    b->texts = NULL;
    b->sets = NULL;
    if (s->npats) {
        void *x = realloc(s->pats, s->npats * sizeof *s->pats);
        s->pats = x ? x : s->pats;
        x = realloc(s->codes, (b->ncodes ? b->ncodes : 1) * sizeof *s->codes);
        s->codes = x ? x : s->codes;
        x = realloc(s->texts, b->ntexts);
        s->texts = x ? x : s->texts;
    }
    s->bytes += sizeof *s + s->npats * sizeof *s->pats + b->ncodes * sizeof *s->codes + b->ntexts +
                b->nsets * sizeof *s->sets;
    rc = 0;
out:
    mw_patternset_builder_free(b);
    if (rc) {
        mw_patternset_free(s);
        return rc;
    }
    *out = s;
    return 0;
}
