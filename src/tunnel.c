/* DNS tunnel detection; see tunnel.h. Two fixed-size, 4-way set-associative tables keyed by a
 * keyed hash of (client address, registered domain): the states (window counters and a
 * 256-bit linear-counting sketch of distinct subdomains) and the blocks. A full bucket gives
 * up its least recently seen way; a way still inside its window (or its block time) is
 * counted as evicted, so an operator sees when the bound is too small. Keys are 64-bit hashes
 * with a random seed: a collision (2^-64 per pair) could merge two pairs' counters, never
 * read past a buffer. */
#include "minewall/tunnel.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/hash.h"

#define WAYS 4
#define SKETCH_BITS 256
#define SWEEP_MS 10000   /* expired blocks are reclaimed at most this often */
#define ENCODED_MIN 16   /* a label this long or longer may look encoded */
#define WANT_NAME_LEN 48 /* wire octets above which a name is scored whatever its labels */
#define SCORE_EVERY 4    /* past the gate, the score is computed on every 4th name */
#define ENTROPY_EVERY 4  /* one name in 4 has its entropy measured */
#define ENTROPY_MIN 12   /* shorter labels have less entropy than the score's ramp starts at */
#define DATA_LO 48       /* encoded characters a name: the name-only damping lifts from here */
#define DATA_HI 96       /* ... to none: a tunnel of A queries fills several long labels */
#define DATA_FLOOR 0.75f /* the name features' factor when the names carry one hash at most */

struct state {
    uint64_t key; /* 0: empty */
    uint64_t first_ms, last_ms;
    uint32_t queries, answers;
    uint32_t sum_len, sum_label, encoded, types;
    uint64_t sum_entropy; /* millibits per character, summed over the sampled names */
    uint32_t entropy_n;   /* weight of the names sampled for entropy: one in ENTROPY_EVERY */
    uint32_t observed;    /* names observed (queries is their weight: sampled names count 4) */
    uint64_t bytes_up, bytes_down;
    uint64_t sketch[SKETCH_BITS / 64];
    uint32_t sum_data; /* characters in encoded-looking labels (here, it fills padding) */
    uint16_t ones;     /* bits set in sketch */
    uint8_t gen;       /* bumped when the slot starts again: stale tickets miss */
};

struct block {
    uint64_t key; /* 0: empty */
    uint64_t until_ms;
};

/* Lookup tables and the entropy histogram (kept zeroed), owned by one table: one worker. */
struct tables {
    float clog[256];   /* c * log2(c) */
    uint32_t cls[256]; /* packed octet classes (CLS_*) */
    uint8_t hist[256];
};

struct mw_tunnel {
    struct mw_tunnel_params p;
    uint64_t seed;
    struct state *st; /* owned: n_st slots */
    struct block *bl; /* owned: n_bl slots */
    size_t n_st, n_bl;
    size_t used_bl; /* blocks occupied (expired ones until reclaimed) */
    uint64_t next_sweep_ms;
    struct mw_tunnel_stats stats;
    struct tables tb;
    float distinct[SKETCH_BITS + 1]; /* linear counting: estimate by zero bits left */
};

static void tables_init(struct tables *tb);

static size_t round_pow2(size_t n)
{
    size_t r = WAYS;
    while (r < n)
        r <<= 1;
    return r;
}

struct mw_tunnel *mw_tunnel_new(const struct mw_tunnel_params *p)
{
    if (!p || p->max_entries < 16 || p->max_blocks < 16 || p->threshold < 1 ||
        p->min_distinct < 1 || p->max_entries > (1u << 24) || p->max_blocks > (1u << 24))
        return NULL;
    struct mw_tunnel *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->p = *p;
    t->n_st = round_pow2(p->max_entries);
    t->n_bl = round_pow2(p->max_blocks);
    t->st = calloc(t->n_st, sizeof(*t->st));
    t->bl = calloc(t->n_bl, sizeof(*t->bl));
    if (!t->st || !t->bl) {
        mw_tunnel_free(t);
        return NULL;
    }
    t->seed = mw_hash_seed();
    tables_init(&t->tb);
    /* Linear counting (Whang et al. 1990): n ~ m ln(m / V) for V of m bits still zero; with
     * every bit set the sketch says "at least" m ln m. */
    for (unsigned v = 1; v <= SKETCH_BITS; v++)
        t->distinct[v] = (float)(SKETCH_BITS * log((double)SKETCH_BITS / (double)v));
    t->distinct[0] = (float)(SKETCH_BITS * log((double)SKETCH_BITS));
    return t;
}

void mw_tunnel_free(struct mw_tunnel *t)
{
    if (!t)
        return;
    free(t->st);
    free(t->bl);
    free(t);
}

bool mw_tunnel_any_blocks(const struct mw_tunnel *t)
{
    return t->used_bl != 0;
}

/* The client's address (4 or 16 octets; others hashed whole) as one word: two multiplies. */
static uint64_t client_tag(const struct mw_tunnel *t, const uint8_t *addr, size_t alen)
{
    if (alen == 4)
        return mw_hash_mix(mw_load32(addr) ^ t->seed, 0x9e3779b97f4a7c15ull);
    if (alen == 16)
        return mw_hash_mix(mw_load64(addr) ^ t->seed, mw_load64(addr + 8) ^ 0x9e3779b97f4a7c15ull);
    return mw_hash_bytes(t->seed, 0x74756e6e656cull, addr, alen);
}

/* The key of (client, domain): the domain's labels (dom, n octets with the root) hashed one
 * by one onto the client's word. */
static uint64_t pair_key(const struct mw_tunnel *t, uint64_t ctag, const uint8_t *dom, size_t n)
{
    uint64_t h = ctag ^ t->seed;
    for (size_t pos = 0; pos < n && dom[pos] != 0; pos += 1 + (size_t)dom[pos])
        h = mw_hash_label(h, dom + pos + 1, dom[pos]);
    return h | 1; /* never 0, the empty mark */
}

/* ---- blocks ---- */

static void sweep(struct mw_tunnel *t, uint64_t now)
{
    t->next_sweep_ms = now + SWEEP_MS;
    for (size_t i = 0; i < t->n_bl; i++) {
        if (t->bl[i].key && t->bl[i].until_ms <= now) {
            t->bl[i].key = 0;
            t->used_bl--;
        }
    }
}

static void block_add(struct mw_tunnel *t, uint64_t key, uint64_t now)
{
    struct block *b = &t->bl[(key >> 8) & (t->n_bl - WAYS)];
    struct block *victim = &b[0];
    for (int i = 0; i < WAYS; i++) {
        if (b[i].key == key || !b[i].key) {
            victim = &b[i];
            break;
        }
        if (b[i].until_ms < victim->until_ms)
            victim = &b[i];
    }
    if (!victim->key)
        t->used_bl++;
    else if (victim->key != key && victim->until_ms > now)
        t->stats.blocks_evicted++;
    victim->key = key;
    victim->until_ms = now + t->p.block_ms;
}

static bool block_find(struct mw_tunnel *t, uint64_t key, uint64_t now)
{
    struct block *b = &t->bl[(key >> 8) & (t->n_bl - WAYS)];
    for (int i = 0; i < WAYS; i++) {
        if (b[i].key != key)
            continue;
        if (b[i].until_ms > now)
            return true;
        b[i].key = 0;
        t->used_bl--;
        return false;
    }
    return false;
}

bool mw_tunnel_blocked(struct mw_tunnel *t, const uint8_t *addr, size_t alen, const uint8_t *name,
                       size_t len, uint64_t now_ms, size_t *regdom_off)
{
    if (!t->used_bl)
        return false;
    if (now_ms >= t->next_sweep_ms)
        sweep(t, now_ms);
    uint64_t ctag = client_tag(t, addr, alen);
    /* Every suffix but the root: a registered domain is one of them, and the caller need
     * not know which (no Public Suffix List lookup here). */
    for (size_t pos = 0; pos + 1 < len && name[pos] != 0 && name[pos] <= 63;
         pos += 1 + (size_t)name[pos]) {
        if (block_find(t, pair_key(t, ctag, name + pos, len - pos), now_ms)) {
            if (regdom_off)
                *regdom_off = pos;
            return true;
        }
    }
    return false;
}

/* ---- one name's features ---- */

static bool is_vowel(uint8_t c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

/* A label of a tunnel's payload: one of any length with an octet no hostname has (base64's
 * '+', '/' and '=', base128's octets above 0x7f: dns2tcp's polls are 10 characters), or a long
 * one with digits and not spelled like words (fewer than 3 vowels in 10 letters, or a quarter
 * digits or more: hex). Hostname words ("download-center-2024") have vowels; base32, base64
 * and hex do not. */
static bool looks_encoded(unsigned n, unsigned digits, unsigned letters, unsigned vowels,
                          unsigned odd)
{
    if (odd > 0)
        return true;
    if (n < ENCODED_MIN || digits == 0)
        return false;
    return vowels * 10 < letters * 3 || digits * 4 >= n;
}

struct name_features {
    uint32_t len, label, entropy_milli;
    uint32_t data; /* characters in encoded-looking labels, all of them */
    bool encoded;
    uint64_t hash; /* of the subdomain part, for the distinct sketch */
};

/* Per-octet classes packed in one word, so that a label's counts are one add per octet:
 * digits in bits 0-7, letters 8-15, vowels 16-23, octets no hostname has 24-31: above 0x7f, or
 * ASCII other than lowercase letters, digits, '-' and '_' (service labels); names come
 * lowercased. A label has at most 63 octets: no field overflows. */
enum { CLS_DIGIT = 1u, CLS_LETTER = 1u << 8, CLS_VOWEL = 1u << 16, CLS_ODD = 1u << 24 };

static void tables_init(struct tables *tb)
{
    memset(tb, 0, sizeof(*tb));
    for (unsigned c = 1; c < 256; c++)
        tb->clog[c] = (float)(c * log2((double)c));
    for (unsigned c = 0; c < 256; c++) {
        uint32_t v = 0;
        if (c >= '0' && c <= '9')
            v |= CLS_DIGIT;
        if (c >= 'a' && c <= 'z')
            v |= CLS_LETTER;
        if (is_vowel((uint8_t)c))
            v |= CLS_VOWEL;
        if (!(v & (CLS_DIGIT | CLS_LETTER)) && c != '-' && c != '_')
            v |= CLS_ODD;
        tb->cls[c] = v;
    }
}

/* The entropy of the longest label (hashes and payloads sit in one long label; the short
 * words around them would blur it): H = log2 n - (1/n) sum c log2 c, in millibits. The
 * histogram is kept zeroed between calls: only the octets seen are cleared. */
static uint32_t label_entropy(struct tables *tb, const uint8_t *p, unsigned n)
{
    uint8_t seen[64];
    unsigned n_seen = 0;
    for (unsigned i = 0; i < n; i++)
        if (!tb->hist[p[i]]++)
            seen[n_seen++] = p[i];
    float s = 0;
    for (unsigned i = 0; i < n_seen; i++) {
        s += tb->clog[tb->hist[seen[i]]];
        tb->hist[seen[i]] = 0;
    }
    float h = (tb->clog[n] - s) / (float)n;
    return h > 0 ? (uint32_t)(h * 1000.0f + 0.5f) : 0;
}

static void name_features(struct tables *tb, uint64_t seed, const uint8_t *name, size_t regdom_off,
                          bool entropy, struct name_features *nf)
{
    *nf = (struct name_features){.hash = seed};
    const uint8_t *longest = NULL;
    for (size_t pos = 0; pos < regdom_off;) {
        unsigned l = name[pos];
        const uint8_t *p = name + pos + 1;
        if (pos == 0) /* the sketch's key: tunnels vary their first label on every query */
            nf->hash = mw_hash_label(nf->hash ^ regdom_off, p, l);
        if (l > nf->label) {
            nf->label = l;
            longest = p;
        }
        uint32_t acc = 0; /* every label: a short one may hold octets no hostname has */
        for (unsigned i = 0; i < l; i++)
            acc += tb->cls[p[i]];
        if (looks_encoded(l, acc & 0xff, (acc >> 8) & 0xff, (acc >> 16) & 0xff, acc >> 24)) {
            nf->encoded = true;
            nf->data += l;
        }
        pos += 1 + l;
    }
    nf->len = regdom_off ? (uint32_t)regdom_off - 1 : 0;
    /* Below ENTROPY_MIN characters the entropy cannot reach the score's ramp (log2 11 < 3.5
     * bits): not computed. */
    if (entropy && longest && nf->label >= ENTROPY_MIN)
        nf->entropy_milli = label_entropy(tb, longest, nf->label);
}

void mw_tunnel_name_features(const uint8_t *name, size_t regdom_off, uint32_t *len, uint32_t *label,
                             uint32_t *entropy_milli, bool *encoded)
{
    struct tables tb;
    tables_init(&tb);
    struct name_features nf;
    name_features(&tb, 0, name, regdom_off, true, &nf);
    *len = nf.len;
    *label = nf.label;
    *entropy_milli = nf.entropy_milli;
    *encoded = nf.encoded;
}

/* Record types that carry much data back, which tunnels ask for (iodine: NULL, PRIVATE,
 * TXT, SRV, MX, CNAME; dns2tcp: TXT, KEY). */
static bool data_type(uint16_t t)
{
    switch (t) {
    case 5:  /* CNAME */
    case 10: /* NULL */
    case 15: /* MX */
    case 16: /* TXT */
    case 25: /* KEY */
    case 33: /* SRV */
        return true;
    default:
        return t >= 65280 && t <= 65534; /* private use, RFC 6895 */
    }
}

unsigned mw_tunnel_wants(const uint8_t *name, size_t len, uint16_t qtype)
{
    if (data_type(qtype))
        return 1;
    bool want = len > WANT_NAME_LEN;
    for (size_t pos = 0; !want && pos < len && name[pos] != 0; pos += 1 + (size_t)name[pos])
        want = name[pos] >= ENCODED_MIN;
    return want && len >= 2 && name[0] != 0 ? MW_TUNNEL_SAMPLE : 0;
}

bool mw_tunnel_sampled(const struct mw_tunnel *t, const uint8_t *name)
{
    /* A keyed hash of the first label (which a tunnel varies on every query), so that a
     * client cannot steer its names around the sample. */
    uint64_t h = mw_hash_label(t->seed ^ 0x73616d706c65ull, name + 1, name[0]);
    return h % MW_TUNNEL_SAMPLE == 0;
}

/* ---- the score ---- */

/* 0 at or below lo, 1 at or above hi, linear between. */
static float ramp(float x, float lo, float hi)
{
    return x <= lo ? 0.0f : x >= hi ? 1.0f : (x - lo) / (hi - lo);
}

static unsigned zero_bits(const struct state *s)
{
    return SKETCH_BITS - s->ones;
}

/* Distinct names: the sketch counts the names observed; sampled ones stand for MW_TUNNEL_SAMPLE
 * each, so the estimate is scaled by the pair's weight per observed name. */
static float distinct_of(const struct mw_tunnel *t, const struct state *s)
{
    float d = t->distinct[zero_bits(s)];
    return s->observed ? d * (float)s->queries / (float)s->observed : d;
}

static void features_of(const struct mw_tunnel *t, const struct state *s, uint64_t now,
                        struct mw_tunnel_features *f)
{
    float q = (float)s->queries;
    float d = distinct_of(t, s);
    if (d > q)
        d = q; /* the sketch can overshoot a little on few names */
    uint64_t el = now > s->first_ms ? now - s->first_ms : 0;
    f->queries = s->queries;
    f->distinct = (uint32_t)(d + 0.5f);
    f->rate_min = (uint32_t)((double)f->distinct * 60000.0 / (double)(el > 1000 ? el : 1000));
    f->mean_len = (uint32_t)(s->sum_len / q + 0.5f);
    f->mean_label = (uint32_t)(s->sum_label / q + 0.5f);
    float ent = s->entropy_n ? (float)s->sum_entropy / (float)s->entropy_n : 0.0f;
    f->entropy_milli = (uint32_t)(ent + 0.5f);
    f->encoded_pct = (uint32_t)(100.0f * (float)s->encoded / q + 0.5f);
    f->types_pct = (uint32_t)(100.0f * (float)s->types / q + 0.5f);
    f->mean_data = (uint32_t)((float)s->sum_data / q + 0.5f);
    f->bytes_up = s->bytes_up;
    f->bytes_down = s->bytes_down;
    f->elapsed_ms = (uint32_t)(el > UINT32_MAX ? UINT32_MAX : el);
    /* The weights and ramps README "Tunnel detection" documents. Data record types weigh
     * most: an idle tunnel polls with short names, but always for NULL or TXT. */
    float rate = (float)f->rate_min, types = (float)s->types / q;
    float names = 20.0f * ramp((float)s->sum_len / q, 16.0f, 48.0f) +
                  15.0f * ramp(ent, 3500.0f, 4500.0f) + 10.0f * ((float)s->encoded / q) +
                  10.0f * ramp(d / q, 0.5f, 0.9f) + 10.0f * ramp(rate, 60.0f, 600.0f);
    /* Names asked without a data type have no channel back but the addresses: such a tunnel
     * exists to carry data up and fills several long encoded labels a name. Hashed telemetry
     * and CDN names (one hex hash in a label, often with a constant prefix or suffix) match
     * the name features as well, in a burst, but carry one hash at most: for the share of
     * names without a data type, the name features count DATA_FLOOR of their points until
     * the names carry DATA_LO encoded characters, and fully from DATA_HI. */
    float damp = DATA_FLOOR + (1.0f - DATA_FLOOR) * ramp((float)s->sum_data / q, DATA_LO, DATA_HI);
    float score = 35.0f * types + names * (types + (1.0f - types) * damp);
    f->score = (uint32_t)(score + 0.5f);
}

/* ---- states ---- */

static void state_start(struct state *s, uint64_t key, uint64_t now)
{
    uint8_t gen = (uint8_t)(s->gen + 1);
    *s = (struct state){.key = key, .first_ms = now, .last_ms = now, .gen = gen};
}

static struct state *state_get(struct mw_tunnel *t, uint64_t key, uint64_t now)
{
    struct state *b = &t->st[(key >> 8) & (t->n_st - WAYS)];
    struct state *victim = &b[0];
    for (int i = 0; i < WAYS; i++) {
        if (b[i].key == key) {
            if (now - b[i].first_ms >= t->p.window_ms)
                state_start(&b[i], key, now); /* the window ended: count afresh */
            return &b[i];
        }
        if (!b[i].key) {
            victim = &b[i];
            break;
        }
        if (b[i].last_ms < victim->last_ms)
            victim = &b[i];
    }
    if (!victim->key)
        t->stats.entries++;
    else if (now - victim->first_ms < t->p.window_ms)
        t->stats.evicted++;
    state_start(victim, key, now);
    return victim;
}

int mw_tunnel_observe(struct mw_tunnel *t, const uint8_t *addr, size_t alen, const uint8_t *name,
                      size_t len, size_t regdom_off, uint16_t qtype, unsigned weight,
                      uint64_t now_ms, uint32_t *ticket, struct mw_tunnel_features *f)
{
    *ticket = 0;
    if (regdom_off == 0 || regdom_off >= len)
        return 0; /* the registered domain itself: no subdomain to carry data */
    t->stats.observed++;
    uint64_t key = pair_key(t, client_tag(t, addr, alen), name + regdom_off, len - regdom_off);
    /* Detected already (action log lets the queries through): one event per block-for. */
    if (t->used_bl && block_find(t, key, now_ms))
        return 0;
    struct state *s = state_get(t, key, now_ms);
    struct name_features nf;
    /* The entropy (a histogram of the longest label) of one name in ENTROPY_EVERY, the first
     * included: its mean over a sample is as good, at a quarter of the cost. */
    bool entropy = s->observed % ENTROPY_EVERY == 0;
    name_features(&t->tb, t->seed, name, regdom_off, entropy, &nf);
    s->last_ms = now_ms;
    s->observed++;
    s->queries += weight;
    s->sum_len += weight * nf.len;
    s->sum_label += weight * nf.label;
    if (entropy) {
        s->sum_entropy += weight * nf.entropy_milli;
        s->entropy_n += weight;
    }
    s->encoded += weight * nf.encoded;
    s->sum_data += weight * nf.data;
    s->types += weight * data_type(qtype);
    s->bytes_up += weight * len;
    uint64_t sh = mw_hash_mix(nf.hash, 0x9e3779b97f4a7c15ull);
    uint64_t bit = 1ull << (sh & 63), *word = &s->sketch[(sh >> 6) & 3];
    s->ones += (*word & bit) == 0;
    *word |= bit;
    size_t slot = (size_t)(s - t->st);
    *ticket = (uint32_t)((slot + 1) << 8 | s->gen);
    if (distinct_of(t, s) < (float)t->p.min_distinct || s->observed % SCORE_EVERY != 0)
        return 0;
    features_of(t, s, now_ms, f);
    if (f->score < t->p.threshold)
        return 0;
    t->stats.detections++;
    block_add(t, s->key, now_ms);
    state_start(s, s->key, now_ms);
    *ticket = 0;
    return 1;
}

void mw_tunnel_answer(struct mw_tunnel *t, uint32_t ticket, size_t bytes)
{
    size_t slot = (ticket >> 8);
    if (slot == 0 || slot > t->n_st)
        return;
    struct state *s = &t->st[slot - 1];
    if (!s->key || s->gen != (uint8_t)ticket)
        return;
    s->answers++;
    s->bytes_down += bytes;
}

void mw_tunnel_stats(const struct mw_tunnel *t, struct mw_tunnel_stats *out)
{
    *out = t->stats;
    out->blocks = t->used_bl;
}

const char *mw_tunnel_features_text(const struct mw_tunnel_features *f, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    int n = snprintf(buf, cap,
                     "score=%u queries=%u distinct=%u rate=%u/min len=%u label=%u "
                     "entropy=%u.%02u encoded=%u%% types=%u%% up=%llu down=%llu ms=%u data=%u",
                     f->score, f->queries, f->distinct, f->rate_min, f->mean_len, f->mean_label,
                     f->entropy_milli / 1000, (f->entropy_milli % 1000) / 10, f->encoded_pct,
                     f->types_pct, (unsigned long long)f->bytes_up,
                     (unsigned long long)f->bytes_down, f->elapsed_ms, f->mean_data);
    if (n < 0)
        buf[0] = 0;
    return buf;
}
