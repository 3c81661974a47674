/* The detectors' side of a worker: its registered-domain memo and the once-per-query lookup,
 * its tunnel detector per config, and whether a detector may block for some group; see
 * detect.h. */
#include "minewall/detect.h"

#include <errno.h>
#include <string.h>

#include "minewall/config.h"
#include "minewall/lists.h"
#include "minewall/regdom.h"
#include "minewall/snapshot.h"
#include "minewall/tunnel.h"
#include "minewall/worker.h"

#define MEMO_ENTRIES 4096 /* registered domains memoised per worker at least (24 bytes each) */

size_t mw_detect_memo_entries(const struct mw_config *cfg)
{
    if (cfg->detect.dga.enabled && cfg->detect.dga.cache_size > MEMO_ENTRIES)
        return cfg->detect.dga.cache_size;
    return MEMO_ENTRIES;
}

/* The worker's memo: made on first use. Once per worker (or after a reload that wants it
 * larger): reads the Public Suffix List's rules (about 0.2 MB) for its node set. */
static struct mw_regmemo *memo_of(struct mw_worker *w)
{
    if (!w->regmemo)
        w->regmemo = mw_regmemo_new(w->snap->lists->regdom, MW_REGDOM_DAT,
                                    mw_detect_memo_entries(w->snap->cfg));
    return w->regmemo;
}

static int find(struct mw_worker *w, const uint8_t *name, size_t len, struct mw_detect_rd *rd)
{
    const struct mw_regdom *psl = w->snap->lists->regdom;
    struct mw_regmemo *m = memo_of(w);
    if (m)
        return mw_regmemo_find(m, name, len, &rd->words);
    /* Out of memory: libpsl every time, words of this query only. */
    int off = mw_regdom_find(psl, name, len);
    rd->own = (struct mw_regmemo_words){0};
    if (off >= 0) {
        rd->own.public = mw_regdom_is_public(psl, name + off, len - (size_t)off);
        rd->words = &rd->own;
    }
    return off;
}

int mw_detect_regdom(struct mw_worker *w, const uint8_t *name, size_t len, struct mw_detect_rd *rd)
{
    if (rd->off != 1)
        return rd->off;
    rd->words = NULL;
    rd->off = -ENOENT;
    if (!w->snap->lists->regdom)
        return rd->off;
    int off = find(w, name, len, rd);
    if (off < 0) {
        /* The memo reads only the labels the list's rules can reach, so a tunnel's 8-bit
         * labels on the left (iodine's base128 encoding, which libpsl refuses) do not matter;
         * when they do (a name of such labels only), the domain is the one below the last
         * label holding an octet the list cannot. */
        size_t from = 0;
        for (size_t pos = 0; pos < len && name[pos] != 0;) {
            size_t l = name[pos];
            for (size_t i = pos + 1; i <= pos + l && i < len; i++) {
                if (name[i] > 0x7e || name[i] == '.' || name[i] == 0) {
                    from = pos + 1 + l;
                    break;
                }
            }
            pos += 1 + l;
        }
        if (from == 0 || from >= len)
            return rd->off;
        off = find(w, name + from, len - from, rd);
        if (off < 0)
            return rd->off;
        off += (int)from;
    }
    rd->off = off;
    return off;
}

bool mw_detect_may_block(const struct mw_config *cfg, const char *list, enum mw_action action)
{
    if (action != MW_ACTION_LOG)
        return true;
    for (size_t i = 0; i < cfg->n_groups; i++) {
        const struct mw_group_conf *g = &cfg->groups[i];
        for (size_t j = 0; j < g->n_actions; j++)
            if (g->actions[j].action != MW_ACTION_LOG &&
                strcmp(g->actions[j].name, g->actions[j].category ? "detect" : list) == 0)
                return true;
    }
    return false;
}

struct mw_tunnel *mw_detect_tunnel(struct mw_worker *w)
{
    const struct mw_config *cfg = w->snap->cfg;
    if (w->snap->generation == w->tunnel_gen) /* checked against this config already */
        return w->tunnel;
    w->tunnel_gen = w->snap->generation;
    if (!cfg->detect.tunnel.enabled || !w->snap->lists->regdom) {
        mw_tunnel_free(w->tunnel); /* turned off: its blocks go too */
        w->tunnel = NULL;
        return NULL;
    }
    struct mw_tunnel_params p = {.max_entries = cfg->detect.tunnel.max_entries,
                                 .max_blocks = cfg->detect.tunnel.max_blocks,
                                 .window_ms = cfg->detect.tunnel.window_ms,
                                 .block_ms = cfg->detect.tunnel.block_ms,
                                 .min_distinct = cfg->detect.tunnel.min_distinct,
                                 .threshold = cfg->detect.tunnel.threshold};
    if (w->tunnel && memcmp(&p, &w->tunnel_params, sizeof(p)) == 0)
        return w->tunnel;
    mw_tunnel_free(w->tunnel);
    w->tunnel = mw_tunnel_new(&p);
    w->tunnel_params = p;
    return w->tunnel;
}
