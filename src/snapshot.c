/* Reference-counted immutable snapshot of config (and later lists); see snapshot.h. */
#include "minewall/snapshot.h"

#include <stdlib.h>

#include "minewall/blocklog.h"
#include "minewall/config.h"
#include "minewall/health.h"
#include "minewall/lists.h"

struct mw_snapshot *mw_snapshot_new(struct mw_config *cfg, struct mw_lists *lists,
                                    struct mw_blocklog *blocklog, uint64_t generation)
{
    struct mw_snapshot *s = calloc(1, sizeof(*s));
    struct mw_cfgbox *box = calloc(1, sizeof(*box));
    if (!s || !box) {
        free(s);
        free(box);
        mw_config_free(cfg);
        mw_lists_unref(lists);
        mw_blocklog_unref(blocklog);
        return NULL;
    }
    box->refs = 1;
    box->cfg = cfg;
    s->refs = 1;
    s->generation = generation;
    s->box = box;
    s->cfg = cfg;
    s->lists = lists;
    s->blocklog = blocklog;
    return s;
}

struct mw_snapshot *mw_snapshot_with_lists(const struct mw_snapshot *old, struct mw_lists *lists,
                                           struct mw_blocklog *blocklog, uint64_t generation)
{
    struct mw_snapshot *s = calloc(1, sizeof(*s));
    if (!s) {
        mw_lists_unref(lists);
        mw_blocklog_unref(blocklog);
        return NULL;
    }
    __atomic_add_fetch(&old->box->refs, 1, __ATOMIC_RELAXED);
    s->refs = 1;
    s->generation = generation;
    s->box = old->box;
    s->cfg = old->cfg;
    s->lists = lists;
    s->blocklog = blocklog;
    return s;
}

struct mw_snapshot *mw_snapshot_ref(struct mw_snapshot *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void mw_snapshot_unref(struct mw_snapshot *s)
{
    if (!s)
        return;
    /* Release pairs with the acquire so the freeing thread sees every write of the others. */
    if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (__atomic_sub_fetch(&s->box->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        mw_config_free(s->box->cfg);
        mw_health_unref(s->box->health);
        free(s->box);
    }
    mw_lists_unref(s->lists);
    mw_blocklog_unref(s->blocklog);
    free(s);
}
