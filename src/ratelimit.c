/* Per-client token buckets in a fixed open-addressed table (see ratelimit.h). A client key is
 * its address masked to the configured prefix, as 16 bytes with IPv4 in the ::ffff:0:0/96
 * form. A key maps to a window of WINDOW consecutive slots (wrapping) starting at a keyed hash
 * of it; the key is only ever stored inside its own window and slots are never emptied, only
 * reused, so a lookup scans the window and needs no tombstones. Token amounts are milli-tokens:
 * qps tokens per second is exactly qps milli-tokens per millisecond, so refill is one multiply
 * with no rounding drift and no floating point. */
#include "minewall/ratelimit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/hash.h"
#include "minewall/netaddr.h"

#define WINDOW 8 /* slots probed per call: bounds the work a miss costs */
#define MILLI 1000u

struct slot {
    uint64_t k0, k1; /* masked address, big-endian halves */
    uint64_t stamp;  /* now_ms + 1 at the last refill (the LRU clock); 0: slot empty */
    uint64_t tokens; /* milli-tokens, <= cap */
};

struct mw_ratelimit {
    struct slot *slots; /* owned, cap_slots of them */
    size_t cap_slots;
    unsigned window;
    uint32_t qps;           /* milli-tokens per ms */
    uint32_t cap;           /* burst in milli-tokens */
    uint64_t fill_ms;       /* ms for an empty bucket to refill; any longer idle means full */
    uint64_t m4;            /* mask for the IPv4 address (low 32 bits of k1) */
    uint64_t m6[2];         /* masks for the two IPv6 halves */
    uint64_t seed[3];       /* hash secret */
    struct mw_cidr *exempt; /* owned copy */
    size_t n_exempt;
    struct mw_ratelimit_stats st;
};

void mw_ratelimit_params_init(struct mw_ratelimit_params *p)
{
    *p = (struct mw_ratelimit_params){
        .qps = 20,
        .burst = 40,
        .prefix_v4 = 32,
        .prefix_v6 = 64,
        .max_entries = 65536,
    };
}

static uint64_t mask64(unsigned bits) /* top `bits` of 64 set */
{
    return bits == 0 ? 0 : bits >= 64 ? ~0ull : ~0ull << (64 - bits);
}

struct mw_ratelimit *mw_ratelimit_new(const struct mw_ratelimit_params *p)
{
    if (p->qps == 0 || p->qps > MW_RATELIMIT_MAX_QPS || p->burst == 0 ||
        p->burst > MW_RATELIMIT_MAX_BURST || p->prefix_v4 > 32 || p->prefix_v6 > 128 ||
        p->max_entries == 0 || p->max_entries > SIZE_MAX / sizeof(struct slot) ||
        (p->n_exempt && !p->exempt)) {
        errno = EINVAL;
        return NULL;
    }
    struct mw_ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        goto fail;
    rl->slots = calloc(p->max_entries, sizeof(*rl->slots));
    if (!rl->slots)
        goto fail;
    if (p->n_exempt) {
        rl->exempt = calloc(p->n_exempt, sizeof(*rl->exempt));
        if (!rl->exempt)
            goto fail;
        memcpy(rl->exempt, p->exempt, p->n_exempt * sizeof(*rl->exempt));
        rl->n_exempt = p->n_exempt;
    }
    rl->cap_slots = p->max_entries;
    rl->window = p->max_entries < WINDOW ? (unsigned)p->max_entries : WINDOW;
    rl->qps = p->qps;
    rl->cap = (uint64_t)p->burst * MILLI;
    rl->fill_ms = (rl->cap + rl->qps - 1) / rl->qps;
    rl->m4 = 0xffff00000000ull | (mask64(p->prefix_v4) >> 32);
    rl->m6[0] = mask64(p->prefix_v6);
    rl->m6[1] = p->prefix_v6 > 64 ? mask64(p->prefix_v6 - 64u) : 0;
    mw_hash_seed_fill(rl->seed, 3);
    rl->st.capacity = p->max_entries;
    return rl;
fail:
    mw_ratelimit_free(rl);
    errno = ENOMEM;
    return NULL;
}

void mw_ratelimit_free(struct mw_ratelimit *rl)
{
    if (!rl)
        return;
    free(rl->slots);
    free(rl->exempt);
    free(rl);
}

static inline uint64_t load_be64(const uint8_t *b)
{
    uint64_t v;
    memcpy(&v, b, 8);
    return __builtin_bswap64(v);
}

static inline uint32_t load_be32(const uint8_t *b)
{
    uint32_t v;
    memcpy(&v, b, 4);
    return __builtin_bswap32(v);
}

/* Masked key of sa; false for families we do not limit. A native IPv6 key can never look
 * IPv4-mapped: masking below /96 clears bits 80..95, which the ::ffff: form has set. */
static inline bool make_key(const struct mw_ratelimit *rl, const struct sockaddr *sa, uint64_t *k0,
                            uint64_t *k1)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        *k0 = 0;
        *k1 = (0xffff00000000ull | load_be32((const uint8_t *)&in4->sin_addr)) & rl->m4;
        return true;
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    uint64_t hi = load_be64(a), lo = load_be64(a + 8);
    if (hi == 0 && (lo >> 32) == 0xffff) { /* ::ffff:a.b.c.d, RFC 4291 2.5.5.2 */
        *k0 = 0;
        *k1 = lo & rl->m4;
    } else {
        *k0 = hi & rl->m6[0];
        *k1 = lo & rl->m6[1];
    }
    return true;
}

/* wyhash-style multiply-fold with the secret in every step; the source never sees the hash,
 * only (at best) timing, so this keyed mix is enough to stop aiming at one window. */
static inline size_t window_start(const struct mw_ratelimit *rl, uint64_t k0, uint64_t k1)
{
    uint64_t h = mw_hash_mix(k0 ^ rl->seed[0], k1 ^ rl->seed[1]);
    h = mw_hash_mix(h ^ rl->seed[2], 0xe7037ed1a0b428dbull);
    return (size_t)(((__uint128_t)h * rl->cap_slots) >> 64); /* [0, cap_slots) without % */
}

/* Milli-tokens in s after refilling up to stamp (now_ms + 1). */
static inline uint64_t refilled(const struct mw_ratelimit *rl, const struct slot *s, uint64_t stamp)
{
    uint64_t dt = stamp > s->stamp ? stamp - s->stamp : 0;
    if (dt >= rl->fill_ms)
        return rl->cap;
    uint64_t t = s->tokens + dt * rl->qps; /* dt < fill_ms, so below cap + qps: no overflow */
    return t >= rl->cap ? rl->cap : t;
}

bool mw_ratelimit_allow(struct mw_ratelimit *rl, const struct sockaddr *client, uint64_t now_ms)
{
    uint64_t k0, k1;
    if (!make_key(rl, client, &k0, &k1)) {
        rl->st.allowed++;
        return true;
    }
    if (rl->n_exempt && mw_cidr_match_any(rl->exempt, rl->n_exempt, client)) {
        rl->st.allowed++;
        rl->st.exempt++;
        return true;
    }

    uint64_t stamp = now_ms < UINT64_MAX ? now_ms + 1 : UINT64_MAX;
    size_t i = window_start(rl, k0, k1);
    /* Victim order: an empty slot, else a refilled bucket (as good as absent), else the least
     * recently seen. Refilled buckets are also the oldest, so this is LRU in the window. */
    enum { EMPTY, FULL, ACTIVE, NONE } vrank = NONE;
    struct slot *victim = NULL;
    for (unsigned n = 0; n < rl->window; n++, i = i + 1 == rl->cap_slots ? 0 : i + 1) {
        struct slot *s = &rl->slots[i];
        if (s->stamp == 0) {
            if (vrank != EMPTY) {
                victim = s;
                vrank = EMPTY;
            }
            continue;
        }
        if (s->k0 == k0 && s->k1 == k1) {
            uint64_t t = refilled(rl, s, stamp);
            if (stamp > s->stamp)
                s->stamp = stamp;
            if (t < MILLI) {
                s->tokens = t;
                rl->st.limited++;
                return false;
            }
            s->tokens = t - MILLI;
            rl->st.allowed++;
            return true;
        }
        if (vrank <= FULL)
            continue;
        if (refilled(rl, s, stamp) == rl->cap) {
            victim = s;
            vrank = FULL;
        } else if (vrank == NONE || s->stamp < victim->stamp) {
            victim = s;
            vrank = ACTIVE;
        }
    }

    if (vrank != EMPTY) {
        rl->st.evictions++;
        if (vrank == ACTIVE)
            rl->st.evictions_active++;
    } else {
        rl->st.entries++;
    }
    *victim = (struct slot){.k0 = k0, .k1 = k1, .stamp = stamp, .tokens = rl->cap - MILLI};
    rl->st.allowed++;
    return true;
}

void mw_ratelimit_get_stats(const struct mw_ratelimit *rl, struct mw_ratelimit_stats *out)
{
    *out = rl->st;
}
