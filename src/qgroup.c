/* Client groups on the query path; see qgroup.h. Everything here is a few loads on the path of
 * a query in a group, nothing on the path of one in default beyond the matcher's probes. */
#include "minewall/qgroup.h"

#include <stdlib.h>
#include <string.h>

#include "minewall/cache.h"
#include "minewall/config.h"
#include "minewall/dnsmsg.h"
#include "minewall/groups.h"
#include "minewall/ratelimit.h"
#include "minewall/snapshot.h"
#include "minewall/worker.h"

unsigned mw_qgroup_label(unsigned gi)
{
    return gi < MW_GROUP_LABELS - 1 ? gi : MW_GROUP_LABELS - 1;
}

const char *mw_qgroup_label_name(const struct mw_config *cfg, unsigned i)
{
    return i == MW_GROUP_LABELS - 1 ? "other" : mw_config_group_name(cfg, i);
}

unsigned mw_qgroup_of(struct mw_worker *w, const struct sockaddr *from, const struct mw_addr *local)
{
    const struct mw_config *cfg = w->snap->cfg;
    unsigned gi = cfg->group_match ? mw_groups_match(cfg->group_match, from, local) : 0;
    w->stats.group_queries[mw_qgroup_label(gi)]++;
    return gi;
}

uint64_t mw_qgroup_policy(const struct mw_config *cfg, unsigned gi)
{
    const struct mw_group_conf *g = mw_qgroup_conf(cfg, gi);
    return g && (!g->all_lists || g->n_actions) ? g->tag : 0;
}

uint64_t mw_qgroup_tag(const struct mw_config *cfg, unsigned gi)
{
    const struct mw_group_conf *g = mw_qgroup_conf(cfg, gi);
    return g ? g->tag : 0;
}

unsigned mw_qgroup_refind(const struct mw_config *cfg, unsigned gi, uint64_t tag)
{
    if (mw_qgroup_tag(cfg, gi) == tag)
        return gi; /* the same config, or the group kept its place */
    for (size_t i = 0; i < cfg->n_groups && tag; i++)
        if (cfg->groups[i].tag == tag)
            return (unsigned)i + 1;
    return 0;
}

const struct mw_group_conf *mw_qgroup_conf(const struct mw_config *cfg, unsigned gi)
{
    return gi && gi <= cfg->n_groups ? &cfg->groups[gi - 1] : NULL;
}

/* The worker's limiters are for one config: a new snapshot's groups start afresh. */
static bool rl_table(struct mw_worker *w, const struct mw_config *cfg)
{
    if (w->group_rl_cfg == cfg)
        return w->group_rl != NULL;
    mw_qgroup_deinit(w);
    w->group_rl = calloc(cfg->n_groups ? cfg->n_groups : 1, sizeof(*w->group_rl));
    if (!w->group_rl)
        return false;
    w->n_group_rl = cfg->n_groups;
    w->group_rl_cfg = cfg;
    return true;
}

struct mw_ratelimit *mw_qgroup_ratelimit(struct mw_worker *w, unsigned gi, bool *refuse)
{
    const struct mw_config *cfg = w->snap->cfg;
    const struct mw_group_conf *g = mw_qgroup_conf(cfg, gi);
    if (!g || !g->has_ratelimit) {
        *refuse = cfg->ratelimit.refuse;
        return w->rl;
    }
    *refuse = g->ratelimit.refuse;
    if (!rl_table(w, cfg))
        return NULL;
    struct mw_ratelimit **rl = &w->group_rl[gi - 1];
    if (!*rl) {
        struct mw_ratelimit_params p;
        mw_ratelimit_params_init(&p);
        p.qps = g->ratelimit.qps;
        p.burst = g->ratelimit.burst;
        p.prefix_v4 = g->ratelimit.prefix_v4;
        p.prefix_v6 = g->ratelimit.prefix_v6;
        p.max_entries = g->ratelimit.max_clients;
        *rl = mw_ratelimit_new(&p); /* NULL without memory: the group is not limited */
    }
    return *rl;
}

bool mw_qgroup_paused(struct mw_worker *w, unsigned gi)
{
    if (atomic_load_explicit(&w->paused, memory_order_relaxed))
        return true;
    if (!atomic_load_explicit(&w->n_paused_groups, memory_order_relaxed))
        return false;
    const struct mw_config *cfg = w->snap->cfg;
    const struct mw_group_conf *g = mw_qgroup_conf(cfg, gi);
    uint64_t tag = g ? g->tag : mw_group_tag("default");
    for (unsigned i = 0; i < MW_PAUSE_GROUPS; i++)
        if (atomic_load_explicit(&w->paused_groups[i], memory_order_relaxed) == tag)
            return true;
    return false;
}

void mw_qgroup_set_paused(struct mw_worker *w, const uint64_t *tags, unsigned n)
{
    for (unsigned i = 0; i < MW_PAUSE_GROUPS; i++)
        atomic_store_explicit(&w->paused_groups[i], i < n ? tags[i] : 0, memory_order_relaxed);
    atomic_store_explicit(&w->n_paused_groups, n, memory_order_relaxed);
}

void mw_qgroup_key(const struct mw_config *cfg, unsigned gi, const struct mw_dns_question *q,
                   bool do_bit, struct mw_cache_key *k)
{
    mw_cache_key_make(q, do_bit, k);
    const struct mw_group_conf *g = mw_qgroup_conf(cfg, gi);
    if (!g || !g->n_zones)
        return;
    const struct mw_forward_zone *z = mw_config_zone_for_group(cfg, gi, q->qname, q->qname_len);
    if (!z || !z->group || (size_t)k->len + 8 > sizeof(k->data))
        return;
    memcpy(k->data + k->len, &g->tag, 8);
    k->len = (uint16_t)(k->len + 8);
}

void mw_qgroup_deinit(struct mw_worker *w)
{
    for (size_t i = 0; i < w->n_group_rl; i++)
        mw_ratelimit_free(w->group_rl[i]);
    free(w->group_rl);
    w->group_rl = NULL;
    w->n_group_rl = 0;
    w->group_rl_cfg = NULL;
}
