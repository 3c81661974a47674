/* Active health of the upstreams: the state machine of one upstream and the board the workers
 * read; see health.h for the rules and the threads. */
#include "minewall/health.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/config.h"
#include "minewall/upset.h"

void mw_hcheck_init(struct mw_hcheck *h, uint64_t now)
{
    memset(h, 0, sizeof(*h));
    h->next_ms = now;
}

uint64_t mw_hcheck_timeout(const struct mw_hcheck *h, const struct mw_hcheck_params *p)
{
    /* A margin over the RTT seen, as a client query's attempt has (upset.h): a dead upstream
     * costs little more than its RTT per probe, so three failures fit in the 3 s an idle
     * upstream is given to be found dead (health.h). */
    uint64_t t =
        h->srtt_ms > 0 ? (uint64_t)(h->srtt_ms * 4) + MW_HCHECK_MARGIN_MS : MW_HCHECK_UNKNOWN_MS;
    return t < p->timeout_ms ? t : p->timeout_ms;
}

void mw_hcheck_sent(struct mw_hcheck *h)
{
    h->in_flight = true;
    h->probes++;
}

static uint64_t suspect_ms(const struct mw_hcheck_params *p)
{
    return p->interval_ms < MW_HCHECK_SUSPECT_MS ? p->interval_ms : MW_HCHECK_SUSPECT_MS;
}

enum mw_hcheck_change mw_hcheck_probe_done(struct mw_hcheck *h, const struct mw_hcheck_params *p,
                                           bool ok, uint64_t rtt, uint64_t now)
{
    h->in_flight = false;
    if (ok) {
        h->srtt_ms = h->srtt_ms == 0 ? (double)rtt + 0.1 : h->srtt_ms * 0.875 + (double)rtt * 0.125;
        h->fails = 0;
        if (!h->down) {
            h->next_ms = now + p->interval_ms;
            return MW_HCHECK_SAME;
        }
        if (++h->oks < p->up_after) {
            h->next_ms = now + suspect_ms(p); /* coming back: confirm it soon */
            return MW_HCHECK_SAME;
        }
        h->down = false;
        h->oks = 0;
        h->next_ms = now + p->interval_ms;
        return MW_HCHECK_UP;
    }
    h->probe_failures++;
    h->oks = 0;
    h->fails++;
    if (h->down) {
        h->next_ms = now + p->interval_ms; /* a dead upstream is asked once an interval */
        return MW_HCHECK_SAME;
    }
    if (h->fails < p->down_after) {
        h->next_ms = now + suspect_ms(p);
        return MW_HCHECK_SAME;
    }
    h->down = true;
    h->next_ms = now + p->interval_ms;
    return MW_HCHECK_DOWN;
}

enum mw_hcheck_change mw_hcheck_reports(struct mw_hcheck *h, const struct mw_hcheck_params *p,
                                        unsigned failures, bool worker_down, bool answered,
                                        uint64_t now)
{
    if (worker_down && !h->down) {
        h->down = true;
        h->oks = 0;
        h->fails = p->down_after;
        if (!h->in_flight)
            h->next_ms = now + p->interval_ms;
        return MW_HCHECK_DOWN;
    }
    if (failures) {
        /* Suspect: probe now rather than wait for the interval (a busy upstream that stops
         * answering is probed at once). */
        if (!h->down && h->next_ms > now)
            h->next_ms = now;
        return MW_HCHECK_SAME;
    }
    if (!answered)
        return MW_HCHECK_SAME;
    if (h->down) {
        /* Every upstream of a group was down, so clients asked this one, and it answered. */
        h->fails = 0;
        if (++h->oks < p->up_after)
            return MW_HCHECK_SAME;
        h->down = false;
        h->oks = 0;
        h->next_ms = now + p->interval_ms;
        return MW_HCHECK_UP;
    }
    /* Busy and healthy: the answers are the proof, the probe waits another interval. */
    if (h->fails == 0 && !h->in_flight && h->next_ms < now + p->interval_ms)
        h->next_ms = now + p->interval_ms;
    return MW_HCHECK_SAME;
}

/* ---- the board ---- */

static struct mw_health_slot *slot_add(struct mw_health *h, const struct mw_addr *a, size_t cap,
                                       const struct mw_config *cfg)
{
    struct mw_health_slot *s = mw_health_find(h, a);
    if (s || h->n >= cap)
        return s;
    s = &h->slot[h->n++];
    memset(s, 0, sizeof(*s));
    s->addr = *a;
    const struct mw_tls_upstream *t = mw_config_tls_upstream(cfg, a);
    s->tls = t != NULL;
    mw_upset_label(a, t, s->label, sizeof(s->label));
    s->q.qname[0] = 0; /* the root */
    s->q.qname_len = 1;
    s->q.qtype = MW_TYPE_NS;
    s->q.qclass = 1;
    return s;
}

struct mw_health *mw_health_build(const struct mw_config *cfg, const struct mw_health *old,
                                  uint64_t now)
{
    size_t cap = cfg->n_upstreams;
    for (size_t z = 0; z < cfg->n_zones; z++)
        cap += cfg->zones[z].n_upstreams;
    if (cap > 65535)
        return NULL;
    struct mw_health *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->refs = 1;
    h->slot = calloc(cap ? cap : 1, sizeof(*h->slot));
    if (!h->slot) {
        free(h);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_upstreams; i++)
        slot_add(h, &cfg->upstreams[i], cap, cfg);
    uint16_t n_default = h->n;
    for (size_t z = 0; z < cfg->n_zones; z++) {
        const struct mw_forward_zone *fz = &cfg->zones[z];
        for (size_t i = 0; i < fz->n_upstreams; i++) {
            uint16_t before = h->n;
            struct mw_health_slot *s = slot_add(h, &fz->upstreams[i], cap, cfg);
            if (!s || h->n == before || s - h->slot < n_default)
                continue;
            memcpy(s->q.qname, fz->wire, fz->wire_len); /* zone-only: ask for its zone */
            s->q.qname_len = fz->wire_len;
        }
    }
    for (uint16_t i = 0; i < h->n; i++) {
        struct mw_health_slot *s = &h->slot[i];
        const struct mw_health_slot *o = old ? mw_health_find(old, &s->addr) : NULL;
        if (!o) {
            mw_hcheck_init(&s->hc, now);
            continue;
        }
        /* The old board's outstanding probe belongs to it: the prober forgets it and asks
         * again on the new board. */
        s->hc = o->hc;
        s->hc.in_flight = false;
        if (s->hc.next_ms > now + MW_HCHECK_SUSPECT_MS)
            s->hc.next_ms = now + MW_HCHECK_SUSPECT_MS;
        s->down = s->hc.down;
        s->up_gen = o->up_gen;
        s->srtt_us = __atomic_load_n(&o->srtt_us, __ATOMIC_RELAXED);
        /* A host name keeps its address across a reload (the prober writes both boards). */
        s->resolved = o->resolved;
        s->res_seq = o->res_seq & ~1u;
        s->res_next_ms = o->res_next_ms;
        s->res_backoff_ms = o->res_backoff_ms;
    }
    return h;
}

void mw_health_set_resolved(struct mw_health_slot *s, const struct mw_addr *a)
{
    uint32_t q = s->res_seq;
    __atomic_store_n(&s->res_seq, q + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(&s->resolved, a, sizeof(*a));
    __atomic_store_n(&s->res_seq, q + 2, __ATOMIC_RELEASE);
}

struct mw_health *mw_health_ref(struct mw_health *h)
{
    __atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
    return h;
}

void mw_health_unref(struct mw_health *h)
{
    if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(h->slot);
    free(h);
}

struct mw_health_slot *mw_health_find(const struct mw_health *h, const struct mw_addr *a)
{
    for (uint16_t i = 0; i < h->n; i++)
        if (mw_addr_equal(&h->slot[i].addr, a))
            return &h->slot[i];
    return NULL;
}

static void store_down(struct mw_health_slot *s, enum mw_hcheck_change c)
{
    if (c == MW_HCHECK_UP)
        __atomic_add_fetch(&s->up_gen, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->down, (uint8_t)s->hc.down, __ATOMIC_RELAXED);
}

enum mw_hcheck_change mw_health_tick(struct mw_health_slot *s, const struct mw_hcheck_params *p,
                                     uint64_t now)
{
    unsigned fails = __atomic_exchange_n(&s->fail_reports, 0, __ATOMIC_RELAXED);
    unsigned downs = __atomic_exchange_n(&s->down_reports, 0, __ATOMIC_RELAXED);
    unsigned answers = __atomic_exchange_n(&s->answer_reports, 0, __ATOMIC_RELAXED);
    enum mw_hcheck_change c = mw_hcheck_reports(&s->hc, p, fails, downs > 0, answers > 0, now);
    store_down(s, c);
    return c;
}

enum mw_hcheck_change mw_health_probe_done(struct mw_health_slot *s,
                                           const struct mw_hcheck_params *p, bool ok, uint64_t rtt,
                                           uint64_t now)
{
    enum mw_hcheck_change c = mw_hcheck_probe_done(&s->hc, p, ok, rtt, now);
    store_down(s, c);
    return c;
}

void mw_health_params(const struct mw_config *cfg, struct mw_hcheck_params *p)
{
    p->interval_ms = cfg->health.interval_ms;
    p->down_after = cfg->health.down_after ? cfg->health.down_after : 1;
    p->up_after = cfg->health.up_after ? cfg->health.up_after : 1;
    p->timeout_ms = cfg->upstream.timeout_ms;
}
