/* The upstreams of one config and their health; see upset.h. */
#include "minewall/upset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/config.h"

#define FAILS_TO_DOWN 3
#define PROBE_FIRST_MS 1000
#define PROBE_MAX_MS 8000

void mw_upset__free(struct mw_upset *s)
{
    free(s->def.idx);
    for (uint16_t i = 0; i < s->n_zones; i++)
        free(s->zones[i].idx);
    free(s->zones);
    free(s->u);
    free(s);
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

struct mw_upset *mw_upset_build(const struct mw_config *cfg, const struct mw_upset *old)
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
                s->u[i].probe_in_flight = false;
                break;
            }
        }
    }
    return s;
fail:
    mw_upset_unref(s);
    return NULL;
}

int mw_upset_pick(const struct mw_upset *s, const struct mw_upgroup *g, uint32_t *tried,
                  unsigned n_tries, bool retry)
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
    if (best >= 0 && g->n > 1 && n_tries == 0 && arc4random_uniform(32) == 0) {
        int other = (int)arc4random_uniform(g->n);
        if (!s->u[g->idx[other]].down)
            best = other;
    }
    if (best < 0)
        best = fallback;
    if (best < 0 && retry && g->n > 0) {
        *tried = 0;
        return mw_upset_pick(s, g, tried, n_tries, false);
    }
    return best;
}

bool mw_upset_failed(struct mw_upstream *u, uint64_t now)
{
    u->fails++;
    if (u->down || u->fails < FAILS_TO_DOWN)
        return false;
    u->down = true;
    u->probe_backoff_ms = PROBE_FIRST_MS;
    u->next_probe_ms = now + PROBE_FIRST_MS;
    return true;
}

void mw_upset_probe_failed(struct mw_upstream *u, uint64_t now)
{
    u->probe_backoff_ms =
        u->probe_backoff_ms * 2 > PROBE_MAX_MS ? PROBE_MAX_MS : u->probe_backoff_ms * 2;
    u->next_probe_ms = now + u->probe_backoff_ms;
}
