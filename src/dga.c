/* DGA scoring: see dga.h. Two model formats, both scored in integers so that this file and
 * tools/dga-train (which trains the models and defines the features) give the same number
 * for every registered domain, bit for bit.
 *
 * Version 3 (shipped): boosted trees over 14 integer features (feats3(): shape counts of the
 * label, the suffix's kind and its DGA-to-benign log-ratio from a hashed table, the label's
 * cost per character under a benign and a DGA character 3-gram model, int16 tables in the
 * file), walked as complete trees with integer thresholds and leaves (walk()). A domain costs
 * one pass over the label and the suffix and trees x depth compares.
 *
 * Any change to a feature here must be made there too, with a new format version: the
 * dgascore tool, tests/unit/test_dga.c and tests/integration/test_dga.py compare the two.
 *
 * Version 2: one table of 2^bits int16 weights indexed by hashed features of "^label$" and of
 * the public suffix; the score is the bias plus the sum of the weights of the registered
 * domain's features. The features (a label of n bytes, lower-cased):
 *  - each n-gram of 1..order bytes of "^label$", and the same n-gram paired with the length;
 *  - seven shape values: length, digits, hyphens, vowel share in tenths, longest consonant
 *    run, distinct-byte share in tenths, letter/digit switches (each capped);
 *  - conjunctions: length with the set of character classes used, length with the highest
 *    and lowest byte, and the class pattern (C consonant, V vowel, D digit, O other) of the
 *    first 24 bytes, the first 4 and the last 4;
 *  - (version 2) the public suffix of the registered domain: whole, its last two labels, its
 *    top-level domain, with the length, the classes or both, and each 1- and 2-gram of
 *    "^label$" under it (generators draw from a few suffixes; see tools/dga-train).
 * Each feature's bytes are hashed with FNV-1a (32 bits); the slot is the top bits of the hash
 * times a Fibonacci constant. The n-gram hashes at one start position extend each other, so a
 * label of n bytes costs (n + 2) * order FNV steps and twice as many table reads, plus
 * (n + 2) * 2 under the suffix. */
#include "minewall/dga.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minewall/error.h"
#include "minewall/file.h"
#include "minewall/regmemo.h"

#define HEADER_LEN 48
#define VERSION 2
#define VERSION3 3
#define HEADER3_LEN 64
#define NFEAT 14      /* version 3's features: tools/dga-train, feats3() */
#define CHARV 40      /* symbols of the character model: '^', a-z, 0-9, '-', '$', other */
#define TREES_MAX 512 /* with |leaf| <= LEAF_MAX and the bias, every sum stays in int32 */
#define DEPTH_MAX 8
#define LEAF_MAX (1 << 20)
#define SFX_BITS_MIN 4
#define SFX_BITS_MAX 16
#define ORDER_MAX 8
#define BIAS_MAX (1 << 28) /* keeps every sum inside int32: see score() */
#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u
#define MIX 0x9E3779B1u
#define LEN_CAP 40

static const uint8_t magic[8] = {'M', 'W', 'D', 'G', 'A', 0, 0, 0};

struct mw_dga_model {
    unsigned version;
    unsigned bits;  /* version 2: table bits; version 3: suffix table bits */
    unsigned order; /* version 2: longest n-gram; version 3: the character model's order */
    double scale;
    int32_t bias;
    int32_t thr[3]; /* LOW, MEDIUM, HIGH */
    int16_t *w;     /* owned: 2^bits weights, 64-byte aligned (whole cache lines); version 3:
                     * the benign and DGA character costs (CHARV^order each), then the 2^bits
                     * suffix values, then the trees (nodes, then leaves), in one block */
    size_t w_len;   /* bytes at w */
    /* Version 3, borrowed from w. */
    unsigned trees, depth;
    const int16_t *cb, *cd, *sfx;
    /* Each tree (walk_d): 2^(depth + 1) - 1 int32, the nodes' thresholds (go right when the
     * feature is above) then the leaves, breadth first, and 2^depth - 1 uint32, the nodes'
     * features (< NFEAT). */
    const int32_t *nodes;
    uint16_t sym[256]; /* sym_table() */
};

/* Bitwise, no table: it runs once per model load (a few milliseconds for 256 KiB) and keeps
 * this file free of global state. */
uint32_t mw_dga_crc32(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & -(c & 1));
    }
    return c ^ 0xFFFFFFFFu;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return le32toh(v);
}

static int bad(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t why_len, const char *fmt, ...)
{
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return -EBADMSG;
}

/* What both versions share: the CRC-32 in the last 4 bytes of the len bytes, and the header's
 * scale at 24, bias at 32, thresholds at 36. */
static int parse_common(const uint8_t *p, size_t len, double *scale, int32_t *bias, int32_t thr[3],
                        char *why, size_t why_len)
{
    uint32_t crc = rd32(p + len - 4);
    if (crc != mw_dga_crc32(p, len - 4))
        return bad(why, why_len, "checksum mismatch (file 0x%08x, content 0x%08x): corrupt", crc,
                   mw_dga_crc32(p, len - 4));
    uint64_t sbits = (uint64_t)rd32(p + 24) | (uint64_t)rd32(p + 28) << 32;
    memcpy(scale, &sbits, sizeof(*scale));
    if (!isfinite(*scale) || *scale <= 0 || *scale > 1)
        return bad(why, why_len, "at offset 24: scale %g is not in (0, 1]", *scale);
    *bias = (int32_t)rd32(p + 32);
    if (*bias > BIAS_MAX || *bias < -BIAS_MAX)
        return bad(why, why_len, "at offset 32: bias %d out of +-%d", *bias, BIAS_MAX);
    for (int i = 0; i < 3; i++) {
        thr[i] = (int32_t)rd32(p + 36 + 4 * i);
        if (i && thr[i] < thr[i - 1])
            return bad(why, why_len, "at offset %d: threshold %d below the previous %d", 36 + 4 * i,
                       thr[i], thr[i - 1]);
    }
    return 0;
}

static void sym_table(uint16_t *t);

/* Format version 3 (tools/dga-train documents the layout): after the 64-byte header, the
 * character costs, the suffix table and the trees, then the CRC-32. */
static int parse3(const uint8_t *p, size_t len, struct mw_dga_model **out, char *why,
                  size_t why_len)
{
    if (len < HEADER3_LEN + 4)
        return bad(why, why_len, "truncated: %zu bytes, a version 3 model has at least %d", len,
                   HEADER3_LEN + 4);
    uint32_t trees = rd32(p + 12), depth = rd32(p + 16), order = rd32(p + 48), sbits = rd32(p + 52);
    if (trees < 1 || trees > TREES_MAX)
        return bad(why, why_len, "at offset 12: %u trees, out of 1..%d", trees, TREES_MAX);
    if (depth < 1 || depth > DEPTH_MAX)
        return bad(why, why_len, "at offset 16: tree depth %u out of 1..%d", depth, DEPTH_MAX);
    if (rd32(p + 20) != 0)
        return bad(why, why_len, "at offset 20: unknown flags 0x%x", rd32(p + 20));
    if (order < 1 || order > 3)
        return bad(why, why_len, "at offset 48: character model order %u out of 1..3", order);
    if (sbits < SFX_BITS_MIN || sbits > SFX_BITS_MAX)
        return bad(why, why_len, "at offset 52: suffix table bits %u out of %d..%d", sbits,
                   SFX_BITS_MIN, SFX_BITS_MAX);
    if (rd32(p + 56) != NFEAT)
        return bad(why, why_len, "at offset 56: %u features, this minewall computes %d",
                   rd32(p + 56), NFEAT);
    if (rd32(p + 60) != 0)
        return bad(why, why_len, "at offset 60: reserved field 0x%x", rd32(p + 60));
    size_t nc = order == 1 ? CHARV : order == 2 ? CHARV * CHARV : CHARV * CHARV * CHARV;
    size_t ns = (size_t)1 << sbits, inner = ((size_t)1 << depth) - 1;
    size_t tree_bytes = inner * 5 + (inner + 1) * 4; /* i32 thresholds, u8 features, i32 leaves */
    size_t want = HEADER3_LEN + 4 * nc + 2 * ns + trees * tree_bytes + 4;
    if (len != want)
        return bad(why, why_len, "%s: %zu bytes, %u trees of depth %u make %zu",
                   len < want ? "truncated" : "trailing bytes", len, trees, depth, want);
    double scale;
    int32_t bias, thr[3];
    int rc = parse_common(p, len, &scale, &bias, thr, why, why_len);
    if (rc < 0)
        return rc;
    const uint8_t *q = p + HEADER3_LEN;
    for (size_t i = 0; i < 2 * nc; i++)
        if ((int16_t)(q[2 * i] | q[2 * i + 1] << 8) < 0)
            return bad(why, why_len, "at offset %zu: negative character cost", HEADER3_LEN + 2 * i);
    /* One block: int16 costs and suffix values, then (aligned) each tree's nodes and leaves. */
    size_t h16 = (2 * nc + ns) * sizeof(int16_t), per = 2 * inner + 1, stride = per + inner;
    size_t off_nodes = (h16 + 7) & ~(size_t)7;
    size_t total = off_nodes + trees * stride * sizeof(int32_t);
    struct mw_dga_model *m = calloc(1, sizeof(*m));
    uint8_t *blk = aligned_alloc(64, (total + 63) & ~(size_t)63);
    if (!m || !blk) {
        free(m);
        free(blk);
        return -ENOMEM;
    }
    memset(blk, 0, (total + 63) & ~(size_t)63);
    int16_t *h = (int16_t *)blk;
    for (size_t i = 0; i < 2 * nc + ns; i++)
        h[i] = (int16_t)(q[2 * i] | q[2 * i + 1] << 8);
    int32_t *nodes = (int32_t *)(blk + off_nodes);
    q += 2 * (2 * nc + ns);
    for (size_t t = 0; t < trees; t++, q += tree_bytes) {
        for (size_t i = 0; i < inner; i++) {
            nodes[t * stride + i] = (int32_t)rd32(q + 4 * i);
            nodes[t * stride + per + i] = q[4 * inner + i];
            if (q[4 * inner + i] >= NFEAT)
                rc = bad(why, why_len, "at offset %zu: feature %u out of 0..%d",
                         (size_t)(q - p) + 4 * inner + i, q[4 * inner + i], NFEAT - 1);
        }
        for (size_t i = 0; i <= inner; i++) {
            int32_t v = (int32_t)rd32(q + 5 * inner + 4 * i);
            if (v > LEAF_MAX || v < -LEAF_MAX)
                rc = bad(why, why_len, "at offset %zu: leaf %d out of +-%d",
                         (size_t)(q - p) + 5 * inner + 4 * i, v, LEAF_MAX);
            nodes[t * stride + inner + i] = v;
        }
        if (rc < 0) {
            free(blk);
            free(m);
            return rc;
        }
    }
    sym_table(m->sym);
    m->version = VERSION3;
    m->bits = sbits;
    m->order = order;
    m->scale = scale;
    m->bias = bias;
    memcpy(m->thr, thr, sizeof(thr));
    m->w = h;
    m->w_len = total;
    m->trees = trees;
    m->depth = depth;
    m->cb = h;
    m->cd = h + nc;
    m->sfx = h + 2 * nc;
    m->nodes = nodes;
    *out = m;
    return 0;
}

int mw_dga_parse(const void *buf, size_t len, struct mw_dga_model **out, char *why, size_t why_len)
{
    if (!out || (!buf && len))
        return -EINVAL;
    *out = NULL;
    const uint8_t *p = buf;
    if (len < HEADER_LEN + 4)
        return bad(why, why_len, "truncated: %zu bytes, a model has at least %d", len,
                   HEADER_LEN + 4);
    if (memcmp(p, magic, sizeof(magic)) != 0)
        return bad(why, why_len, "not a minewall DGA model (no MWDGA magic)");
    uint32_t version = rd32(p + 8), bits = rd32(p + 12), order = rd32(p + 16);
    if (version == VERSION3)
        return parse3(p, len, out, why, why_len);
    if (version != VERSION)
        return bad(why, why_len, "at offset 8: format version %u, this minewall reads %d and %d",
                   version, VERSION, VERSION3);
    if (bits < MW_DGA_BITS_MIN || bits > MW_DGA_BITS_MAX)
        return bad(why, why_len, "at offset 12: table bits %u out of %d..%d", bits, MW_DGA_BITS_MIN,
                   MW_DGA_BITS_MAX);
    if (order < 1 || order > ORDER_MAX)
        return bad(why, why_len, "at offset 16: n-gram order %u out of 1..%d", order, ORDER_MAX);
    if (rd32(p + 20) != 0)
        return bad(why, why_len, "at offset 20: unknown flags 0x%x", rd32(p + 20));
    size_t want = HEADER_LEN + ((size_t)2 << bits) + 4;
    if (len != want)
        return bad(why, why_len, "%s: %zu bytes, a table of 2^%u weights makes %zu",
                   len < want ? "truncated" : "trailing bytes", len, bits, want);
    double scale;
    int32_t bias, thr[3];
    int rc = parse_common(p, len, &scale, &bias, thr, why, why_len);
    if (rc < 0)
        return rc;
    size_t n = (size_t)1 << bits;
    struct mw_dga_model *m = calloc(1, sizeof(*m));
    int16_t *w = aligned_alloc(64, n * sizeof(int16_t)); /* n >= 1024: a multiple of 64 */
    if (!m || !w) {
        free(m);
        free(w);
        return -ENOMEM;
    }
    m->w = w;
    m->w_len = n * sizeof(int16_t);
    m->version = VERSION;
    m->bits = bits;
    m->order = order;
    m->scale = scale;
    m->bias = bias;
    memcpy(m->thr, thr, sizeof(thr));
    for (size_t i = 0; i < n; i++) {
        uint16_t v;
        memcpy(&v, p + HEADER_LEN + 2 * i, 2);
        m->w[i] = (int16_t)le16toh(v);
    }
    *out = m;
    return 0;
}

int mw_dga_load(const char *path, struct mw_dga_model **out, struct mw_errlist *errs)
{
    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = mw_file_read(path, MW_DGA_FILE_MAX, &buf, &len);
    if (rc == -EFBIG) {
        mw_errlist_add(errs, "%s: DGA model larger than %zu bytes", path, (size_t)MW_DGA_FILE_MAX);
        return rc;
    }
    if (rc < 0) {
        mw_errlist_add(errs, "%s: cannot read DGA model: %s", path, strerror(-rc));
        return rc;
    }
    char why[160];
    rc = mw_dga_parse(buf, len, out, why, sizeof(why));
    free(buf);
    if (rc == -EBADMSG)
        mw_errlist_add(errs, "%s: bad DGA model: %s", path, why);
    else if (rc < 0)
        mw_errlist_add(errs, "%s: cannot load DGA model: %s", path, strerror(-rc));
    return rc;
}

/* A binary run from a build directory inside the source tree (a meson.build next to it) uses
 * the source tree's model, so tests and --explain of a build see the shipped file. */
void mw_dga_default_path(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash = n > 0 ? (exe[n] = 0, strrchr(exe, '/')) : NULL;
    if (slash) {
        *slash = 0;
        char tree[PATH_MAX];
        snprintf(buf, len, "%s/../meson.build", exe);
        if (access(buf, F_OK) == 0 && strlen(exe) < PATH_MAX - 20) {
            snprintf(buf, len, "%s/../conf/dga.model", exe);
            if (realpath(buf, tree) && strlen(tree) < len) {
                memcpy(buf, tree, strlen(tree) + 1);
                return;
            }
        }
    }
    snprintf(buf, len, "%s", MW_DEFAULT_DGA_MODEL);
}

bool mw_dga_equal(const struct mw_dga_model *a, const struct mw_dga_model *b)
{
    if (!a || !b)
        return a == b;
    return a->version == b->version && a->bits == b->bits && a->order == b->order &&
           a->scale == b->scale && a->bias == b->bias && a->trees == b->trees &&
           a->depth == b->depth && memcmp(a->thr, b->thr, sizeof(a->thr)) == 0 &&
           a->w_len == b->w_len && memcmp(a->w, b->w, a->w_len) == 0;
}

void mw_dga_free(struct mw_dga_model *m)
{
    if (m)
        free(m->w);
    free(m);
}

static inline uint32_t fnv(uint32_t h, uint8_t c)
{
    return (h ^ c) * FNV_PRIME;
}

static inline int32_t at(const struct mw_dga_model *m, uint32_t h)
{
    return m->w[(uint32_t)(h * MIX) >> (32 - m->bits)];
}

/* FNV-1a of the bytes tag, a[0..n). */
static uint32_t key(uint8_t tag, const uint8_t *a, size_t n)
{
    uint32_t h = fnv(FNV_OFFSET, tag);
    for (size_t i = 0; i < n; i++)
        h = fnv(h, a[i]);
    return h;
}

static bool is_vowel(uint8_t c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

static unsigned cap(unsigned v, unsigned max)
{
    return v < max ? v : max;
}

/* The shape and conjunction features (the n-grams are summed by the caller). */
static int32_t shape(const struct mw_dga_model *m, const uint8_t *s, size_t n, uint8_t *cls_out)
{
    unsigned digits = 0, hyph = 0, vowels = 0, run = 0, best = 0, switches = 0, distinct = 0;
    unsigned cls = 0, prev = 0;
    uint8_t hi = 0, lo = 255, pat[MW_DGA_LABEL_MAX];
    uint64_t seen[4] = {0};
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        unsigned kind = 0;
        if (c >= '0' && c <= '9') {
            digits++;
            kind = 2;
            cls |= 1;
            pat[i] = 'D';
        } else if (c >= 'a' && c <= 'z') {
            kind = 1;
            if (is_vowel(c)) {
                vowels++;
                cls |= 2;
                pat[i] = 'V';
            } else {
                cls |= c > 'f' ? 4 : 8;
                pat[i] = 'C';
            }
        } else {
            hyph += c == '-';
            cls |= 16;
            pat[i] = 'O';
        }
        run = kind == 1 && !is_vowel(c) ? run + 1 : 0;
        best = run > best ? run : best;
        if (kind && prev && kind != prev)
            switches++;
        if (kind)
            prev = kind;
        if (!(seen[c >> 6] >> (c & 63) & 1)) {
            seen[c >> 6] |= (uint64_t)1 << (c & 63);
            distinct++;
        }
        hi = c > hi ? c : hi;
        lo = c < lo ? c : lo;
    }
    unsigned nl = cap((unsigned)n, LEN_CAP);
    const uint8_t v[7][2] = {
        {1, (uint8_t)nl},
        {2, (uint8_t)cap(digits, 12)},
        {3, (uint8_t)cap(hyph, 4)},
        {4, (uint8_t)(vowels * 10 / n)},
        {5, (uint8_t)cap(best, 12)},
        {6, (uint8_t)(distinct * 10 / n)},
        {7, (uint8_t)cap(switches, 12)},
    };
    int32_t sum = 0;
    for (int i = 0; i < 7; i++)
        sum += at(m, key(1, v[i], 2));
    uint8_t lc[2] = {(uint8_t)nl, (uint8_t)cls};
    sum += at(m, key(2, lc, 2));
    uint8_t lhl[3] = {(uint8_t)nl, hi, lo};
    sum += at(m, key(6, lhl, 3));
    sum += at(m, key(3, pat, n < 24 ? n : 24));
    sum += at(m, key(4, pat, n < 4 ? n : 4));
    sum += at(m, key(5, pat + (n < 4 ? 0 : n - 4), n < 4 ? n : 4));
    *cls_out = (uint8_t)cls;
    return sum;
}

/* FNV-1a of a[0..n) continued from h. */
static uint32_t ext(uint32_t h, const uint8_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = fnv(h, a[i]);
    return h;
}

/* The public suffix's features (format version 2), sfx the suffix in text form, lower case,
 * sl bytes (0 for none); s is "^label$" of n bytes, nl the capped label length, cls its set of
 * character classes. tools/dga-train says why. */
static int32_t suffix_sum(const struct mw_dga_model *m, const uint8_t *sfx, size_t sl,
                          const uint8_t *s, size_t n, uint8_t nl, uint8_t cls)
{
    /* Its top-level domain (after the last dot) and last two labels (after the one before). */
    size_t t = sl, p = 0;
    while (t > 0 && sfx[t - 1] != '.')
        t--;
    if (t > 1) {
        p = t - 1;
        while (p > 0 && sfx[p - 1] != '.')
            p--;
    }
    int32_t sum = at(m, key(8, sfx, sl)) + at(m, key(12, sfx + t, sl - t)) +
                  at(m, key(14, sfx + p, sl - p)) + at(m, ext(key(15, &nl, 1), sfx + p, sl - p)) +
                  at(m, ext(key(9, &nl, 1), sfx, sl)) + at(m, ext(key(10, &cls, 1), sfx, sl));
    const uint8_t ncls[2] = {nl, cls};
    sum += at(m, ext(key(11, ncls, 2), sfx, sl));
    /* The label's 1- and 2-grams under the suffix: one hash of the suffix, extended. */
    uint32_t hs = key(13, sfx, sl);
    unsigned shift = 32 - m->bits;
    for (size_t i = 0; i < n; i++) {
        uint32_t h = fnv(hs, s[i]);
        sum += m->w[(uint32_t)(h * MIX) >> shift];
        if (i + 1 < n)
            sum += m->w[(uint32_t)(fnv(h, s[i + 1]) * MIX) >> shift];
    }
    return sum;
}

/* Version 3's symbol of a byte (lower case) in the character model and its class bit (1
 * digit, 2 vowel, 4 consonant beyond f, 8 consonant a-f, 16 other), as sym | class << 8: one
 * table read per label byte. Built at load, kept in the model. */
static void sym_table(uint16_t *t)
{
    for (unsigned b = 0; b < 256; b++) {
        unsigned sym = 39, bit = 16;
        unsigned c = b >= 'A' && b <= 'Z' ? b + 32 : b; /* A-Z count as a-z: no lower-cased copy */
        if (c >= 'a' && c <= 'z') {
            sym = c - 'a' + 1;
            bit = is_vowel((uint8_t)c) ? 2 : c > 'f' ? 4 : 8;
        } else if (c >= '0' && c <= '9') {
            sym = c - '0' + 27;
            bit = 1;
        } else if (c == '-') {
            sym = 37;
        }
        t[b] = (uint16_t)(sym | bit << 8);
    }
}

/* Version 3's NFEAT integer features of the label lb (n bytes, any case) under the suffix sfx
 * (sl bytes, lower case), as tools/dga-train's feats3(). */
static void feats3(const struct mw_dga_model *m, const uint8_t *lb, size_t n, const uint8_t *sfx,
                   size_t sl, int32_t *f)
{
    unsigned digits = 0, hyph = 0, vowels = 0, run = 0, best = 0, drun = 0, dbest = 0;
    unsigned switches = 0, cls = 0, prev = 0;
    uint64_t seen = 0;
    /* The character models over "^^label$": j indexes (two symbols before, this one). */
    unsigned m2 = m->order == 3 ? CHARV * CHARV : 0, m1 = m->order >= 2 ? CHARV : 0;
    unsigned ctx = 0, b = 0; /* the previous two symbols' part of j ('^' is 0); the last one */
    int32_t cb = 0, cd = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned t = m->sym[lb[i]], x = t & 0xFF, k = t >> 8;
        cls |= k;
        digits += k & 1;
        vowels += k >> 1 & 1;
        hyph += x == 37;
        run = k & 12 ? run + 1 : 0;
        best = run > best ? run : best;
        drun = k & 1 ? drun + 1 : 0;
        dbest = drun > dbest ? drun : dbest;
        unsigned kind = k & 14 ? 1 : k & 1 ? 2 : 0; /* letter, digit, neither */
        switches += kind && prev && kind != prev;
        prev = kind ? kind : prev;
        seen |= (uint64_t)1 << x;
        unsigned j = ctx + x;
        cb += m->cb[j];
        cd += m->cd[j];
        ctx = b * m2 + x * m1;
        b = x;
    }
    cb = (cb + m->cb[ctx + 38]) / (int32_t)(n + 1); /* and the end mark */
    cd = (cd + m->cd[ctx + 38]) / (int32_t)(n + 1);
    f[0] = (int32_t)n;
    f[1] = (int32_t)digits;
    f[2] = (int32_t)hyph;
    f[3] = (int32_t)vowels;
    f[4] = (int32_t)best;
    f[5] = (int32_t)dbest;
    f[6] = __builtin_popcountll(seen);
    f[7] = (int32_t)switches;
    f[8] = (int32_t)cls;
    /* The suffix's kind: com/net/org, another generic TLD, two letters, another single label
     * (or none), several labels; and its slot in the suffix table. */
    uint32_t h = fnv(FNV_OFFSET, 0x10);
    bool dot = false;
    for (size_t i = 0; i < sl; i++) {
        h = fnv(h, sfx[i]);
        dot |= sfx[i] == '.';
    }
    uint32_t w3 = sl == 3 ? (uint32_t)sfx[0] << 16 | (uint32_t)sfx[1] << 8 | sfx[2] : 0;
#define W3(s) ((uint32_t)(s)[0] << 16 | (uint32_t)(s)[1] << 8 | (uint32_t)(s)[2])
    int kind;
    if (w3 == W3("com") || w3 == W3("net") || w3 == W3("org"))
        kind = 0;
    else if (dot)
        kind = 4;
    else if (w3 == W3("biz") || w3 == W3("edu") || w3 == W3("gov") || w3 == W3("mil") ||
             w3 == W3("int") || (sl == 4 && memcmp(sfx, "info", 4) == 0))
        kind = 1;
    else
        kind = sl == 2 ? 2 : 3;
#undef W3
    f[9] = kind;
    f[10] = m->sfx[(uint32_t)(h * MIX) >> (32 - m->bits)];
    f[11] = cb;
    f[12] = cd;
    f[13] = cb - cd;
}

/* One walk over every tree of depth levels: the bias plus, for each tree, the leaf its walk
 * reaches. A tree is complete (children of node i at 2i + 1 and 2i + 2, leaves on the last
 * level) and stored as its thresholds and leaves, then its nodes' features, so a step is a
 * read of the feature, a compare and an index update, with no branch. Inlined with a constant
 * depth: the loop over the levels unrolls and the features sit at a constant offset. */
static inline __attribute__((always_inline)) int32_t walk_d(const struct mw_dga_model *m,
                                                            const int32_t *f, unsigned depth)
{
    int32_t sum = m->bias;
    size_t per = (2u << depth) - 1, stride = per + (1u << depth) - 1;
    const int32_t *t = m->nodes, *end = t + m->trees * stride;
    for (; t < end; t += stride) {
        const uint32_t *feat = (const uint32_t *)t + per;
        size_t i = 0; /* not unsigned: no zero-extension before each address */
#pragma GCC unroll 8
        for (unsigned d = 0; d < depth; d++)
            i = 2 * i + 1 + (size_t)(f[feat[i]] > t[i]);
        sum += t[i];
    }
    return sum;
}

/* The usual depths, each its own function: merged into one, the compiler tests the depth
 * inside the loop and keeps a step counter. */
static __attribute__((noinline)) int32_t walk4(const struct mw_dga_model *m, const int32_t *f)
{
    return walk_d(m, f, 4);
}

static __attribute__((noinline)) int32_t walk5(const struct mw_dga_model *m, const int32_t *f)
{
    return walk_d(m, f, 5);
}

static __attribute__((noinline)) int32_t walk6(const struct mw_dga_model *m, const int32_t *f)
{
    return walk_d(m, f, 6);
}

static int32_t walk(const struct mw_dga_model *m, const int32_t *f)
{
    switch (m->depth) {
    case 4:
        return walk4(m, f);
    case 5:
        return walk5(m, f);
    case 6:
        return walk6(m, f);
    default:
        return walk_d(m, f, m->depth);
    }
}

static void level_of(const struct mw_dga_model *m, int32_t sum, struct mw_dga_result *out)
{
    out->score = sum;
    out->logit = sum * m->scale;
    out->level = MW_DGA_NONE;
    for (int i = 0; i < 3; i++)
        if (sum >= m->thr[i])
            out->level = (enum mw_dga_level)(i + 1);
}

/* The score of label (len bytes, 1..MW_DGA_LABEL_MAX) under the suffix sfx (sl bytes, lower
 * case, text form; sl 0 for none). */
static void score(const struct mw_dga_model *m, const char *label, size_t len, const uint8_t *sfx,
                  size_t sl, struct mw_dga_result *out)
{
    if (m->version == VERSION3) {
        int32_t f[NFEAT];
        feats3(m, (const uint8_t *)label, len, sfx, sl, f);
        level_of(m, walk(m, f), out);
        return;
    }
    /* "^label$", lower-cased. */
    uint8_t s[MW_DGA_LABEL_MAX + 2];
    size_t n = len + 2;
    s[0] = '^';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)label[i];
        s[i + 1] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
    }
    s[n - 1] = '$';
    /* The n-gram paired with the length: its FNV state extended by the byte 0x80 | length. */
    uint8_t lenkey = (uint8_t)(0x80 | cap((unsigned)len, LEN_CAP));
    unsigned shift = 32 - m->bits;
    /* At most 65 * 8 * 2 n-gram reads, 65 * 2 under the suffix and 19 others of |w| <= 32768
     * each, plus a bias of at most 2^28: inside int32. */
    int32_t sum = m->bias;
    for (size_t i = 0; i < n; i++) {
        uint32_t h = FNV_OFFSET;
        size_t end = i + m->order < n ? i + m->order : n;
        for (size_t j = i; j < end; j++) {
            h = fnv(h, s[j]);
            sum += m->w[(uint32_t)(h * MIX) >> shift] +
                   m->w[(uint32_t)(fnv(h, lenkey) * MIX) >> shift];
        }
    }
    uint8_t cls;
    sum += shape(m, s + 1, len, &cls);
    sum += suffix_sum(m, sfx, sl, s, n, (uint8_t)cap((unsigned)len, LEN_CAP), cls);
    level_of(m, sum, out);
}

int mw_dga_score(const struct mw_dga_model *m, const char *name, size_t len,
                 struct mw_dga_result *out)
{
    if (!m || !name || !out)
        return -EINVAL;
    const char *dot = memchr(name, '.', len);
    size_t ll = dot ? (size_t)(dot - name) : len;
    size_t sl = dot ? len - ll - 1 : 0;
    if (ll == 0 || ll > MW_DGA_LABEL_MAX || sl > MW_DGA_SUFFIX_MAX)
        return -EINVAL;
    uint8_t sfx[MW_DGA_SUFFIX_MAX];
    for (size_t i = 0; i < sl; i++) {
        uint8_t c = (uint8_t)dot[1 + i];
        sfx[i] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
    }
    score(m, name, ll, sfx, sl, out);
    return 0;
}

int mw_dga_score_wire(const struct mw_dga_model *m, const uint8_t *reg, size_t reg_len,
                      struct mw_dga_result *out)
{
    if (!m || !reg || !out || reg_len < 2 || reg[0] == 0 || reg[0] > MW_DGA_LABEL_MAX ||
        reg[0] >= reg_len)
        return -EINVAL;
    /* The suffix's labels in text form, lower case: at most 253 bytes in a 255-byte name. */
    uint8_t sfx[MW_DGA_SUFFIX_MAX];
    size_t sl = 0;
    for (size_t i = 1 + (size_t)reg[0]; i < reg_len && reg[i] != 0;) {
        size_t ln = reg[i];
        if (ln > 63 || i + 1 + ln > reg_len || sl + (sl > 0) + ln > sizeof(sfx))
            return -EINVAL;
        if (sl)
            sfx[sl++] = '.';
        for (size_t j = 0; j < ln; j++) {
            uint8_t c = reg[i + 1 + j];
            sfx[sl++] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
        }
        i += 1 + ln;
    }
    score(m, (const char *)reg + 1, reg[0], sfx, sl, out);
    return 0;
}

int mw_dga_check(const struct mw_dga_model *m, const uint8_t *reg, size_t reg_len,
                 struct mw_regmemo_words *words, struct mw_dga_result *out, bool *memoized)
{
    if (!m || !reg || !words || !out || reg_len < 2 || reg[0] >= reg_len)
        return -EINVAL;
    *memoized = words->dga_scored;
    if (!words->public)
        return 0;
    if (words->dga_scored) {
        out->score = words->dga_score;
        out->level = (enum mw_dga_level)words->dga_level;
        out->logit = out->score * m->scale;
        return 1;
    }
    if (mw_dga_score_wire(m, reg, reg_len, out) < 0)
        return 0;
    words->dga_score = out->score;
    words->dga_level = (uint8_t)out->level;
    words->dga_scored = true;
    return 1;
}

int32_t mw_dga_threshold(const struct mw_dga_model *m, enum mw_dga_level level)
{
    if (level < MW_DGA_LOW || level > MW_DGA_HIGH)
        return INT32_MIN;
    return m->thr[level - 1];
}

const char *mw_dga_level_name(enum mw_dga_level level)
{
    static const char *const names[] = {"NONE", "LOW", "MEDIUM", "HIGH"};
    return level >= MW_DGA_NONE && level <= MW_DGA_HIGH ? names[level] : "?";
}
