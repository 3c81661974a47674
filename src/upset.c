/* The upstreams of one config as one worker sees them; see upset.h. */
#include "minewall/upset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/config.h"
#include "minewall/doh.h"
#include "minewall/health.h"
#include "minewall/rand.h"

void mw_upset__free(struct mw_upset *s)
{
    mw_health_unref(s->health);
    free(s->def.idx);
    for (uint16_t i = 0; i < s->n_zones; i++)
        free(s->zones[i].idx);
    free(s->zones);
    free(s->u);
    free(s);
}

/* A member's transport: a tls:// or https:// entry of cfg is asked over TLS and labelled
 * "tls://..." or with its URL. */
static void set_transport(struct mw_upstream *u, const struct mw_config *cfg)
{
    const struct mw_tls_upstream *t = mw_config_tls_upstream(cfg, &u->addr);
    u->tls = t != NULL;
    snprintf(u->auth_name, sizeof(u->auth_name), "%s", t ? t->auth_name : "");
    mw_upset_label(&u->addr, t, u->label, sizeof(u->label));
}

void mw_upset_label(const struct mw_addr *a, const struct mw_tls_upstream *t, char *buf, size_t len)
{
    if (t && t->doh) {
        mw_doh_label(&t->url, buf, len);
        return;
    }
    if (t && t->by_name) {
        snprintf(buf, len, "tls://%s:%u", t->url.host, (unsigned)t->url.port);
        return;
    }
    char text[64];
    mw_addr_format(a, text, sizeof(text));
    snprintf(buf, len, "%s%s", t ? "tls://" : "", text);
}

static int set_index(struct mw_upset *s, const struct mw_addr *a, size_t cap)
{
    for (uint16_t i = 0; i < s->n; i++)
        if (mw_addr_equal(&s->u[i].addr, a))
            return i;
    if (s->n >= cap)
        return -ENOSPC;
    struct mw_upstream *u = &s->u[s->n];
    memset(u, 0, sizeof(*u));
    u->addr = *a;
    mw_addr_format(a, u->label, sizeof(u->label));
    return s->n++;
}

static int group_fill(struct mw_upset *s, struct mw_upgroup *g, const struct mw_addr *a, size_t n,
                      size_t cap)
{
    g->idx = calloc(n ? n : 1, sizeof(*g->idx));
    if (!g->idx)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int ix = set_index(s, &a[i], cap);
        if (ix < 0)
            return ix;
        g->idx[g->n++] = (uint16_t)ix;
    }
    return 0;
}

struct mw_upset *mw_upset_build(const struct mw_config *cfg, const struct mw_upset *old,
                                struct mw_health *health)
{
    size_t cap = cfg->n_upstreams;
    for (size_t z = 0; z < cfg->n_zones; z++)
        cap += cfg->zones[z].n_upstreams;
    if (cap > 65535)
        return NULL;
    struct mw_upset *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->refs = 1;
    s->u = calloc(cap ? cap : 1, sizeof(*s->u));
    s->zones = calloc(cfg->n_zones ? cfg->n_zones : 1, sizeof(*s->zones));
    if (!s->u || !s->zones)
        goto fail;
    s->n_zones = (uint16_t)cfg->n_zones;
    if (group_fill(s, &s->def, cfg->upstreams, cfg->n_upstreams, cap) < 0)
        goto fail;
    for (size_t z = 0; z < cfg->n_zones; z++)
        if (group_fill(s, &s->zones[z], cfg->zones[z].upstreams, cfg->zones[z].n_upstreams, cap) <
            0)
            goto fail;
    for (uint16_t i = 0; old && i < s->n; i++) {
        for (uint16_t j = 0; j < old->n; j++) {
            if (mw_addr_equal(&s->u[i].addr, &old->u[j].addr)) {
                s->u[i] = old->u[j];
                break;
            }
        }
    }
    for (uint16_t i = 0; i < s->n; i++)
        set_transport(&s->u[i], cfg);
    /* The old set's slots belong to its board: every member points into the new one. */
    s->health = health ? mw_health_ref(health) : NULL;
    for (uint16_t i = 0; i < s->n; i++) {
        struct mw_upstream *u = &s->u[i];
        u->hs = health ? mw_health_find(health, &u->addr) : NULL;
        if (u->hs) {
            u->down = mw_health_down(u->hs);
            u->up_gen = __atomic_load_n(&u->hs->up_gen, __ATOMIC_RELAXED);
        }
    }
    return s;
fail:
    mw_upset_unref(s);
    return NULL;
}

int mw_upset_pick(const struct mw_upset *s, const struct mw_upgroup *g, uint32_t *tried,
                  unsigned n_tries, bool retry, struct mw_rand *r)
{
    int best = -1, fallback = -1;
    double best_rtt = 0;
    for (int i = 0; i < g->n; i++) {
        if (i < 32 && (*tried & (1u << i)))
            continue;
        const struct mw_upstream *u = &s->u[g->idx[i]];
        if (u->down) {
            if (fallback < 0)
                fallback = i;
            continue;
        }
        if (best < 0 || u->srtt_ms < best_rtt) {
            best = i;
            best_rtt = u->srtt_ms;
        }
    }
    if (best >= 0 && g->n > 1 && n_tries == 0 && mw_rand_uniform(r, 32) == 0) {
        int other = (int)mw_rand_uniform(r, (uint32_t)g->n);
        if (!s->u[g->idx[other]].down)
            best = other;
    }
    if (best < 0)
        best = fallback;
    if (best < 0 && retry && g->n > 0) {
        *tried = 0;
        return mw_upset_pick(s, g, tried, n_tries, false, r);
    }
    return best;
}

void mw_upset_sync(struct mw_upset *s, unsigned down_after)
{
    for (uint16_t i = 0; i < s->n; i++) {
        struct mw_upstream *u = &s->u[i];
        if (!u->hs) { /* no board (tests): the worker's own run decides alone */
            u->down = u->fails >= down_after;
            continue;
        }
        uint32_t gen = __atomic_load_n(&u->hs->up_gen, __ATOMIC_RELAXED);
        if (gen != u->up_gen) {
            u->up_gen = gen;
            u->fails = 0;
        }
        bool board_down = mw_health_down(u->hs);
        bool run = u->fails >= down_after;
        if (run && !board_down)
            mw_health_report_fail(u->hs, true);
        u->down = board_down || run;
        /* The RTT: plain load and store, not a read-modify-write: two workers' ticks that
         * cross lose one's sample, which the next tick makes good. */
        uint32_t board_us = __atomic_load_n(&u->hs->srtt_us, __ATOMIC_RELAXED);
        if (u->answers != u->answers_synced) {
            u->answers_synced = u->answers;
            mw_health_report_answers(u->hs);
            if (board_us && u->srtt_ms > 0)
                u->srtt_ms = (u->srtt_ms + board_us / 1000.0) / 2;
            double us = u->srtt_ms * 1000;
            __atomic_store_n(&u->hs->srtt_us, us >= UINT32_MAX ? UINT32_MAX : (uint32_t)us + 1,
                             __ATOMIC_RELAXED);
        } else if (board_us) {
            u->srtt_ms = board_us / 1000.0;
        }
    }
}
