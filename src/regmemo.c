/* Memoised registered domains; see regmemo.h. Two tables of 64-bit keyed hashes of name
 * suffixes (mw_hash_label, one pass from the root down): the node set (every suffix of every
 * rule of the list, open addressing, built once) and the memo (4-way sets, round-robin
 * victim, counted), whose entries hold a suffix's registered domain and, for a registered
 * domain's own entry, the detectors' words. */
#include "minewall/regmemo.h"

#include <errno.h>
#include <idn2.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/hash.h"
#include "minewall/regdom.h"

#define WAYS 4
#define MAX_LABELS 128
#define TLD_SLOTS 256
/* A node set slot: the suffix's hash with bit 0 set (0 is an empty slot) and bit 1 the node's
 * own: set when a wildcard rule makes its children public suffixes. One probe answers both. */
#define NODE_IN 1u
#define NODE_WILD 2u

/* 24 bytes. A suffix's entry and a registered domain's are one entry when they are the same
 * labels: the key is the hash of the labels and their number, whatever the kind. */
struct memo_entry {
    uint64_t key;  /* 0: empty */
    int8_t labels; /* labels of the registered domain, -1: none (a name has at most 127) */
    bool final;    /* a walk ended here for want of deeper nodes: see mw_regmemo_find */
    struct mw_regmemo_words words;
};
_Static_assert(sizeof(struct memo_entry) == 24, "memo entry size");

struct mw_regmemo {
    const struct mw_regdom *rd; /* borrowed */
    uint64_t seed;
    uint64_t *nodes; /* owned: n_nodes slots, 0 empty; NULL without a list file */
    size_t n_nodes, mask_nodes;
    struct memo_entry *memo; /* owned */
    size_t n_memo;
    uint8_t *victim; /* owned: next way to replace, per set */
    struct mw_regmemo_stats stats;
    /* Whether a registered domain is public depends on its top-level label only (libpsl's
     * psl_is_public_suffix2 on it, about 2,500 instructions): kept per top-level label's hash,
     * direct-mapped, so a new registered domain under a known TLD costs libpsl one call. */
    uint64_t tld_key[TLD_SLOTS]; /* hash | 1, 0: empty */
    bool tld_public[TLD_SLOTS];
    /* The last registered domain answered by its own entry, the walk having stopped there for
     * want of deeper nodes (not for want of labels): every name that ends in these labels
     * walks the same suffixes, stops there too (the node set said so: never set without one)
     * and gets the same entry, so a name under the same domain as the one before (a
     * tunnel's, a host's burst) is a compare, no hashing. Valid while the entry still holds
     * last_key. */
    struct memo_entry *last_e; /* in memo, or NULL */
    struct memo_entry *prev_e; /* the entry of the name before: last_e's candidate */
    uint64_t last_key;
    int last_labels;
    uint16_t last_len;
    uint8_t last[256];
};

/* The node's slot bits (NODE_IN, NODE_WILD), or 0 when the suffix of hash h is no node. */
static unsigned node_find(const struct mw_regmemo *m, uint64_t h)
{
    h |= NODE_IN | NODE_WILD;
    for (size_t i = (h >> 2) & m->mask_nodes;; i = (i + 1) & m->mask_nodes) {
        uint64_t v = m->nodes[i];
        if ((v | NODE_WILD) == h)
            return (unsigned)(v & 3);
        if (v == 0)
            return 0;
    }
}

static void node_add(struct mw_regmemo *m, uint64_t h, bool wild)
{
    h |= NODE_IN | NODE_WILD;
    size_t i = (h >> 2) & m->mask_nodes;
    while (m->nodes[i] != 0) {
        if ((m->nodes[i] | NODE_WILD) == h) {
            m->nodes[i] |= wild ? NODE_WILD : 0;
            return;
        }
        i = (i + 1) & m->mask_nodes;
    }
    m->nodes[i] = wild ? h : h & ~(uint64_t)NODE_WILD;
    m->stats.nodes++;
}

/* Label start offsets of a wire name, left to right; their number, or -1. */
static int label_starts(const uint8_t *name, size_t len, uint16_t *starts)
{
    int n = 0;
    for (size_t pos = 0; pos < len && name[pos] != 0; pos += 1 + (size_t)name[pos]) {
        if (n == MAX_LABELS || name[pos] > 63 || pos + 1 + name[pos] >= len)
            return -1;
        starts[n++] = (uint16_t)pos;
    }
    return n;
}

/* Every suffix of one rule ("*." and "!" taken off: their depth is covered by the two labels
 * the lookup adds) into the node set. */
static void add_rule(struct mw_regmemo *m, const char *rule)
{
    /* "*.x": x's children are public suffixes, so names under x need one label more. */
    bool wild = rule[0] == '*';
    while (*rule == '!' || *rule == '*' || *rule == '.')
        rule++;
    char *ascii = NULL;
    for (const char *p = rule; *p; p++) {
        if ((unsigned char)*p >= 0x80) {
            if (idn2_to_ascii_8z(rule, &ascii, IDN2_NONTRANSITIONAL) != IDN2_OK)
                return;
            rule = ascii;
            break;
        }
    }
    uint8_t w[256];
    uint16_t starts[MAX_LABELS];
    int wl = mw_dname_from_text(rule, w, sizeof(w));
    int n = wl > 1 ? label_starts(w, (size_t)wl, starts) : -1;
    if (n > 0) {
        mw_dname_lower(w, (size_t)wl);
        uint64_t h = m->seed;
        for (int i = n - 1; i >= 0; i--) {
            h = mw_hash_label(h, w + starts[i] + 1, w[starts[i]]);
            node_add(m, h, wild && i == 0);
        }
    }
    free(ascii);
}

static int load_nodes(struct mw_regmemo *m, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    /* About 9,700 rules with 1.3 suffixes of their own each: 32768 slots stay under half full;
     * grown once if a future list is much larger. */
    size_t cap = 32768;
    m->nodes = calloc(cap, sizeof(*m->nodes));
    if (!m->nodes) {
        fclose(f);
        return -ENOMEM;
    }
    m->n_nodes = cap;
    m->mask_nodes = cap - 1;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t l = strcspn(s, " \t\r\n");
        s[l] = 0;
        if (l == 0 || (s[0] == '/' && s[1] == '/'))
            continue;
        if (m->stats.nodes * 2 >= m->n_nodes) {
            fclose(f); /* a list this large is not Debian's: do without the set */
            free(m->nodes);
            m->nodes = NULL;
            m->stats.nodes = 0;
            return -E2BIG;
        }
        add_rule(m, s);
    }
    fclose(f);
    return 0;
}

struct mw_regmemo *mw_regmemo_new(const struct mw_regdom *rd, const char *dat_path,
                                  size_t max_entries)
{
    struct mw_regmemo *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->rd = rd;
    m->seed = mw_hash_seed();
    size_t n = 64;
    while (n < max_entries && n < ((size_t)1 << 24))
        n <<= 1;
    m->n_memo = n;
    m->memo = calloc(n, sizeof(*m->memo));
    m->victim = calloc(n / WAYS, 1);
    if (!m->memo || !m->victim) {
        mw_regmemo_free(m);
        return NULL;
    }
    if (dat_path && load_nodes(m, dat_path) == -ENOMEM) {
        mw_regmemo_free(m);
        return NULL;
    }
    return m;
}

void mw_regmemo_free(struct mw_regmemo *m)
{
    if (!m)
        return;
    free(m->nodes);
    free(m->memo);
    free(m->victim);
    free(m);
}

/* The entry of key, or NULL. */
static inline struct memo_entry *lookup(struct mw_regmemo *m, uint64_t key)
{
    struct memo_entry *e = &m->memo[((key >> 8) & (m->n_memo / WAYS - 1)) * WAYS];
    for (int i = 0; i < WAYS; i++)
        if (e[i].key == key)
            return &e[i];
    return NULL;
}

/* A new entry for key (not in the memo): its set's next victim given up. */
static struct memo_entry *make(struct mw_regmemo *m, uint64_t key)
{
    size_t set = (key >> 8) & (m->n_memo / WAYS - 1);
    struct memo_entry *v = &m->memo[set * WAYS + m->victim[set]];
    m->victim[set] = (uint8_t)((m->victim[set] + 1) % WAYS);
    if (v->key)
        m->stats.evicted++;
    *v = (struct memo_entry){.key = key, .labels = -1};
    return v;
}

/* The entry of key in its set: found (a hit) or made. */
static struct memo_entry *entry_of(struct mw_regmemo *m, uint64_t key, bool *hit)
{
    struct memo_entry *e = lookup(m, key);
    *hit = e != NULL;
    return e ? e : make(m, key);
}

/* The memo key of the suffix of j labels whose hash is h: the hashes are keyed by the memo's
 * seed already, so the label count is only folded in (a suffix's hash differs from its
 * parent's anyway); bit 0 set, as 0 marks an empty entry. */
static inline uint64_t key_of(uint64_t h, int labels)
{
    return (h + (uint64_t)labels * 0x9e3779b97f4a7c15ull) | 1;
}

/* The hash of the last k labels of name (label starts in starts[0..n-1]): the rare second
 * probe's, computed again rather than kept for every query. */
static uint64_t suffix_hash(const struct mw_regmemo *m, const uint8_t *name, const uint8_t *starts,
                            int n, int k)
{
    uint64_t h = m->seed;
    for (int i = n - 1; i >= n - k; i--)
        h = mw_hash_label(h, name + starts[i] + 1, name[starts[i]]);
    return h;
}

/* mw_regdom_is_public() of the registered domain at name (len octets) whose top-level
 * label's hash is h1, through the per-TLD cache. "arpa" is not cached: its answer depends on
 * more than the top-level label (home.arpa, RFC 8375). */
static bool is_public(struct mw_regmemo *m, uint64_t h1, const uint8_t *name, size_t len)
{
    size_t l = name[0];
    if (l + 2 >= len) /* one label: never public */
        return mw_regdom_is_public(m->rd, name, len);
    const uint8_t *tld = name;
    while ((size_t)(tld - name) + 1 + tld[0] < len && tld[1 + tld[0]] != 0)
        tld += 1 + tld[0];
    if (tld[0] == 4 && memcmp(tld + 1, "arpa", 4) == 0)
        return mw_regdom_is_public(m->rd, name, len);
    size_t slot = (h1 >> 3) & (TLD_SLOTS - 1);
    if (m->tld_key[slot] == (h1 | 1))
        return m->tld_public[slot];
    bool pub = mw_regdom_is_public(m->rd, name, len);
    m->tld_key[slot] = h1 | 1;
    m->tld_public[slot] = pub;
    return pub;
}

/* The key of a class of names: those whose last d labels hash to hd and, with more, whose
 * suffix of d + 1 labels is no node of the list (the node set has no false "no": every name of
 * the class has the same public suffix, see the header); without more, those of d labels.
 * Salted apart from the suffix keys. */
static inline uint64_t class_key(uint64_t hd, int d, bool more)
{
    return key_of(hd ^ (more ? 0x5be0cd19137e2179ull : 0x1f83d9abfb41bd6bull), d + MAX_LABELS);
}

/* Names whose asked suffix is longer than this (wire octets) never use or make a class entry:
 * no rule is near it, and it keeps any length limit inside libpsl (its suffix buffers) out of
 * the classes' reasoning. */
#define CLASS_SUFFIX_MAX 120

/* Octets regdom.c hands to libpsl: 0x21-0x7e but the dot. By table: every new registered
 * domain's own label is checked (three compares an octet were 140 instructions a miss). */
#define RD1(c) ((c) > 0x20 && (c) < 0x7f && (c) != '.')
#define RD4(c) RD1(c), RD1(c + 1), RD1(c + 2), RD1(c + 3)
#define RD16(c) RD4(c), RD4(c + 4), RD4(c + 8), RD4(c + 12)
#define RD64(c) RD16(c), RD16(c + 16), RD16(c + 32), RD16(c + 48)
static const bool READABLE[256] = {RD64(0), RD64(64), RD64(128), RD64(192)};

/* Are the labels of depths from..to (1: the top-level label) ones regdom.c hands to libpsl? */
static bool plain(const uint8_t *name, const uint8_t *starts, int n, int from, int to)
{
    bool ok = true;
    for (int k = from; k <= to; k++) {
        const uint8_t *p = name + starts[n - k];
        for (size_t i = 1; i <= *p; i++)
            ok &= READABLE[p[i]];
    }
    return ok;
}

/* The miss: libpsl asked about the suffix of j labels (from its start), its answer kept in e,
 * and the public suffix it implies kept for the name's class (d, hd: the deepest node of the
 * list among its suffixes). Out of line: once per class and suffix while their entries live. */
static __attribute__((noinline)) void ask_psl(struct mw_regmemo *m, struct memo_entry *e,
                                              const uint8_t *name, size_t len,
                                              const uint8_t *starts, int n, int j, uint64_t h1,
                                              int d, uint64_t hd)
{
    m->stats.psl++;
    size_t from = starts[n - j];
    int off = mw_regdom_find(m->rd, name + from, len - from);
    if (off >= 0) {
        for (int i = n - j; i < n; i++)
            if (starts[i] == from + (size_t)off)
                e->labels = n - i;
    }
    if (e->labels == j) /* the suffix is the registered domain: its own entry */
        e->words.public = is_public(m, h1, name + from, len - from);
    /* The class learns the public suffix's depth: one label less than the registered domain,
     * or the whole suffix asked when it is public itself (libpsl's NULL for a name it read).
     * It is at most d + 1 (a wildcard's child); anything else is not kept. */
    if (!m->nodes || len - from > CLASS_SUFFIX_MAX || !plain(name, starts, n, 1, j))
        return;
    int p = e->labels > 0 ? e->labels - 1 : j;
    if (p < 1 || p > d + 1)
        return;
    uint64_t ck = class_key(hd, d, n > d);
    struct memo_entry *c = lookup(m, ck);
    (c ? c : make(m, ck))->labels = p;
}

/* The registered domain's labels (-1: none) of a name (j labels asked) from its class's
 * entry, if the memo has it: false when libpsl must be asked. */
static bool from_class(struct mw_regmemo *m, const uint8_t *name, size_t len, const uint8_t *starts,
                       int n, int j, int d, uint64_t hd, int *labels)
{
    if (len - starts[n - j] > CLASS_SUFFIX_MAX)
        return false;
    const struct memo_entry *c = lookup(m, class_key(hd, d, n > d));
    if (!c)
        return false;
    /* The labels outside the class's key are this name's own: libpsl refuses the name (as it
     * would the suffix asked) when one holds an octet it cannot read. */
    int r = c->labels + 1;
    *labels = r <= j && plain(name, starts, n, d + 1, j) ? r : -1;
    return true;
}

static int result(struct mw_regmemo *m, struct memo_entry *e, const uint8_t *name, size_t len,
                  const uint8_t *starts, int n, int j, int want, uint64_t h1,
                  struct mw_regmemo_words **words);

/* Keep e's registered domain (the len octets at rd, its labels e->labels) as the last one. */
static __attribute__((noinline)) void keep_last(struct mw_regmemo *m, struct memo_entry *e,
                                                const uint8_t *rd, size_t len)
{
    m->last_e = e;
    m->last_key = e->key;
    m->last_labels = e->labels;
    m->last_len = (uint16_t)len;
    memcpy(m->last, rd, len);
}

/* a[0..n) == b[0..n), n >= 2 (a name with the root): 8 octets at a time, inline, the end
 * first (the labels nearest the root differ least among a worker's names). */
static inline bool same_tail(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64_t x, y;
    size_t i = n;
    while (i >= 8) {
        i -= 8;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return false;
    }
    while (i > 0) {
        i--;
        if (a[i] != b[i])
            return false;
    }
    return true;
}

int mw_regmemo_find(struct mw_regmemo *m, const uint8_t *name, size_t len,
                    struct mw_regmemo_words **words)
{
    if (words)
        *words = NULL;
    /* Label starts, left to right: a name of at most 255 octets has at most 127 labels and
     * every start fits in an octet. */
    uint8_t starts[MAX_LABELS];
    int n = 0;
    if (len == 0 || len > 255)
        return -ENOENT;
    /* The last domain's labels at the end of the name, after whole labels (checked as the
     * parse below would: lengths up to 63, no root before the end): see last_e. */
    if (m->last_e && len >= m->last_len && m->last_e->key == m->last_key &&
        same_tail(name + len - m->last_len, m->last, m->last_len)) {
        size_t from = len - m->last_len, pos = 0;
        while (pos < from && name[pos] != 0 && name[pos] <= 63)
            pos += 1 + (size_t)name[pos];
        if (pos == from) {
            m->stats.hits++;
            if (words)
                *words = &m->last_e->words;
            return (int)from;
        }
    }
    for (size_t pos = 0; name[pos] != 0; pos += 1 + (size_t)name[pos]) {
        if (name[pos] > 63 || pos + 1 + name[pos] >= len)
            return -ENOENT;
        starts[n++] = (uint8_t)pos;
    }
    if (n == 0)
        return -ENOENT;
    /* Down from the root while the suffix is a node of the list, then one label more (the
     * public suffix is at most the deepest node, the registered domain one more), two under a
     * wildcard rule's node (its children are public suffixes). Without a node set, the whole
     * name. "n1.example.com" asks about "example.com": every name under it shares its entry.
     * d is the deepest node found (0: none) and hd its hash: the suffix of d + 1 labels was
     * tested and is no node, or the name has d labels. */
    int want = m->nodes ? 2 : n, j = 0, d = 0; /* 2: the implicit "*" rule (a top-level label) */
    uint64_t h = m->seed, h1 = 0, hd = m->seed, h2 = 0;
    /* Every walk with the node set hashes two labels at least; most end there (a name under
     * .com). An entry of those two labels marked final was made by a walk that ended there
     * for want of deeper nodes, and the walk of any name ending in them ends there too: the
     * node probes are skipped. */
    bool two = m->nodes && n >= 2;
    struct memo_entry *e2 = NULL;
    if (two) {
        const uint8_t *t = name + starts[n - 1], *u = name + starts[n - 2];
        h1 = mw_hash_label(m->seed, t + 1, *t);
        h2 = mw_hash_label(h1, u + 1, *u);
        e2 = lookup(m, key_of(h2, 2));
        if (e2 && e2->final) {
            m->stats.hits++;
            if (e2->labels != 2) /* a public suffix, or a domain above its suffix: rarer */
                return result(m, e2, name, len, starts, n, 2, 2, h1, words);
            /* The common name, as result() answers it with j = want = labels = 2. */
            size_t off = starts[n - 2];
            if (e2 == m->prev_e && (e2 != m->last_e || e2->key != m->last_key))
                keep_last(m, e2, name + off, len - off);
            m->prev_e = e2;
            if (words)
                *words = &e2->words;
            return (int)off;
        }
    }
    while (j < n && j < want) {
        const uint8_t *p = name + starts[n - 1 - j];
        h = two && j < 2 ? (j == 0 ? h1 : h2) : mw_hash_label(h, p + 1, *p);
        if (j++ == 0)
            h1 = h; /* the top-level label's */
        unsigned node;
        if (m->nodes && j + 1 >= want && (node = node_find(m, h)) != 0) {
            int deeper = j + (node & NODE_WILD ? 2 : 1);
            want = deeper > want ? deeper : want;
            d = j;
            hd = h;
        }
    }
    struct memo_entry *e = two && j == 2 ? e2 : lookup(m, key_of(h, j));
    if (e) {
        m->stats.hits++;
        e->final = e->final || j == want;
    } else {
        /* A suffix not in the memo: its class's answer (a new registered domain under a known
         * public suffix costs no libpsl call), else libpsl's. */
        m->stats.misses++;
        int r;
        bool known = m->nodes && from_class(m, name, len, starts, n, j, d, hd, &r);
        e = make(m, key_of(h, j));
        if (known) {
            m->stats.classed++;
            e->labels = r;
            if (r == j)
                e->words.public =
                    is_public(m, h1, name + starts[n - j], len - (size_t)starts[n - j]);
        } else {
            ask_psl(m, e, name, len, starts, n, j, h1, d, hd);
        }
        e->final = j == want;
    }
    return result(m, e, name, len, starts, n, j, want, h1, words);
}

/* The answer of the entry e that ended a walk of j labels (want: where the node set stopped
 * it), with the registered domain's words when asked. */
static int result(struct mw_regmemo *m, struct memo_entry *e, const uint8_t *name, size_t len,
                  const uint8_t *starts, int n, int j, int want, uint64_t h1,
                  struct mw_regmemo_words **words)
{
    int labels = e->labels;
    if (labels <= 0)
        return -ENOENT;
    int off = starts[n - labels];
    /* See last_e (without nodes want is n); kept once a domain comes twice in a row, so that
     * names of many domains in turn cost no copy. */
    if (labels == j && j == want && m->nodes && e == m->prev_e &&
        (e != m->last_e || e->key != m->last_key))
        keep_last(m, e, name + off, len - (size_t)off);
    m->prev_e = e;
    if (!words)
        return off;
    /* The words live in the registered domain's own entry: this one when the suffix is the
     * domain, else a second probe (made from the labels just found, no libpsl). */
    if (labels != j) {
        bool hit;
        e = entry_of(m, key_of(suffix_hash(m, name, starts, n, labels), labels), &hit);
        if (!hit) {
            e->labels = labels;
            e->words.public = is_public(m, h1, name + off, len - (size_t)off);
        }
    }
    *words = &e->words;
    return off;
}

uint64_t mw_regmemo_key_of(const struct mw_regmemo_words *words)
{
    const struct memo_entry *e =
        (const struct memo_entry *)((const char *)words - offsetof(struct memo_entry, words));
    return e->key;
}

struct mw_regmemo_words *mw_regmemo_words_of(struct mw_regmemo *m, uint64_t key)
{
    struct memo_entry *e = key ? lookup(m, key) : NULL;
    return e ? &e->words : NULL;
}

void mw_regmemo_forget(struct mw_regmemo *m)
{
    memset(m->memo, 0, m->n_memo * sizeof(*m->memo));
    m->last_e = m->prev_e = NULL;
}

size_t mw_regmemo_capacity(const struct mw_regmemo *m)
{
    return m->n_memo;
}

void mw_regmemo_stats(const struct mw_regmemo *m, struct mw_regmemo_stats *out)
{
    *out = m->stats;
}
