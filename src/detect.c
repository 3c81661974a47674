/* The detectors' side of a worker: its registered-domain memo and the once-per-query lookup,
 * its tunnel detector per config, whether a detector may block for some group, and each
 * detector's verdict, counters and events on the query path; see detect.h. */
#include "minewall/detect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sys/socket.h>
#include <uv.h>

#include <netinet/in.h>

#include "minewall/config.h"
#include "minewall/dga.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/lists.h"
#include "minewall/nod.h"
#include "minewall/nodevent.h"
#include "minewall/nodsvc.h"
#include "minewall/qgroup.h"
#include "minewall/regdom.h"
#include "minewall/snapshot.h"
#include "minewall/tunnel.h"
#include "minewall/upstream.h"
#include "minewall/worker.h"

/* Registered domains memoised per worker at least (24 bytes each, 1.5 MiB, calloc'ed so pages
 * are touched as entries fill): a miss whose domain fell out of the memo costs libpsl (about
 * 5,000 instructions) and, with new-domains, a filter probe; 4,096 thrashed on a working set
 * of 20,000 registered domains (tools/bench's detect workload). */
#define MEMO_ENTRIES 65536

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
    struct mw_regmemo *m = w->regmemo ? w->regmemo : memo_of(w);
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

/* A name the memo found no registered domain for: maybe labels the list cannot hold on the
 * left (the rare path, out of line). */
static __attribute__((noinline)) int regdom_8bit(struct mw_worker *w, const uint8_t *name,
                                                 size_t len, struct mw_detect_rd *rd)
{
    /* The memo reads only the labels the list's rules can reach, so a tunnel's 8-bit labels
     * on the left (iodine's base128 encoding, which libpsl refuses) do not matter; when they
     * do (a name of such labels only), the domain is the one below the last label holding an
     * octet the list cannot. */
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
    int off = find(w, name + from, len - from, rd);
    if (off < 0)
        return rd->off;
    rd->off = off + (int)from;
    return rd->off;
}

int mw_detect_regdom(struct mw_worker *w, const uint8_t *name, size_t len, struct mw_detect_rd *rd)
{
    if (rd->off != 1)
        return rd->off;
    rd->words = NULL;
    rd->off = -ENOENT;
    if (!w->snap->lists->regdom)
        return rd->off;
    /* The common case: the worker's memo, one call. */
    int off =
        w->regmemo ? mw_regmemo_find(w->regmemo, name, len, &rd->words) : find(w, name, len, rd);
    if (off < 0)
        return regdom_8bit(w, name, len, rd);
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

/* ---- verdicts ---- */

/* Carried out, not only recorded: not an action that logs, nor while the control API has
 * paused blocking for the group (query.c's test, for the same verdict). */
static bool enforced(struct mw_worker *w, const struct mw_verdict *v, unsigned gi)
{
    return v->action != MW_ACTION_LOG && !mw_qgroup_paused(w, gi);
}

/* The next verdict of res; res->block set when it is enforced. */
static struct mw_verdict *add_hit(struct mw_detect_result *res, bool filtered)
{
    struct mw_detect_hit *h = &res->hit[res->n++];
    h->filtered = filtered;
    return &h->v;
}

static bool add_done(struct mw_worker *w, struct mw_detect_result *res, unsigned gi)
{
    res->block = enforced(w, &res->hit[res->n - 1].v, gi);
    return res->block;
}

/* ---- generated domains (dga.h) ---- */

/* The DGA detector (detect.dga): the registered-domain label scored (or its score found in
 * the worker's memo). True when its verdict blocks. Cache hits never come here: a name that
 * passed (or was only logged) is cached with its answer and answered from the cache without
 * a second check, and a blocked name is never cached, so each of its repeats is a miss that
 * the memo answers without scoring. */
static bool dga_hit(struct mw_worker *w, const struct mw_dns_question *q, unsigned gi, int off,
                    const struct mw_dga_result *r, struct mw_detect_result *res);

static bool dga_check(struct mw_worker *w, const struct mw_dns_question *q, unsigned gi,
                      struct mw_detect_result *res)
{
    const struct mw_config *cfg = w->snap->cfg;
    if (!cfg->detect.dga.loaded)
        return false;
    int off = mw_detect_regdom(w, q->qname, q->qname_len, &res->rd);
    const struct mw_regmemo_words *words = res->rd.words;
    if (off < 0 || !words || !words->public)
        return false;
    /* The common miss: a registered domain scored before (the memo's words) under the level:
     * one test, no call. */
    if (words->dga_scored && (int)words->dga_level < cfg->detect.dga.level) {
        w->stats.dga_memo_hits++;
        return false;
    }
    struct mw_dga_result r;
    bool memoized;
    if (mw_dga_check(cfg->detect.dga.loaded, q->qname + off, q->qname_len - (size_t)off,
                     res->rd.words, &r, &memoized) != 1)
        return false;
    if (memoized)
        w->stats.dga_memo_hits++;
    else
        w->stats.dga_scored++;
    if ((int)r.level < cfg->detect.dga.level)
        return false;
    return dga_hit(w, q, gi, off, &r, res);
}

/* A detection: the verdict (rare: out of line, with its text buffers). */
static __attribute__((noinline)) bool dga_hit(struct mw_worker *w, const struct mw_dns_question *q,
                                              unsigned gi, int off, const struct mw_dga_result *r,
                                              struct mw_detect_result *res)
{
    const struct mw_config *cfg = w->snap->cfg;
    const uint16_t list = MW_LIST_DETECT + MW_DETECT_DGA;
    struct mw_verdict *v = add_hit(res, true);
    *v = (struct mw_verdict){
        .action = mw_filter_group_action(w->snap->lists, mw_qgroup_conf(cfg, gi), list,
                                         cfg->detect.dga.action),
        .where = MW_WHERE_QNAME,
        .rule = {.list = list},
        .detect_class = (uint8_t)r->level,
    };
    static const char *const level[] = {"none", "low", "medium", "high"};
    snprintf(v->rule_text, sizeof(v->rule_text), "dga:%s", level[r->level]);
    char text[1024]; /* escaped text of at most 255 octets */
    if (mw_dname_to_text(q->qname + off, q->qname_len - (size_t)off, text, sizeof(text)) < 0)
        text[0] = 0;
    snprintf(v->matched, sizeof(v->matched), "%s score=%d", text, (int)r->score);
    return add_done(w, res, gi);
}

unsigned mw_detect_recheck(struct mw_worker *w, const struct mw_dns_question *q, unsigned gi,
                           struct mw_detect_result *res)
{
    res->n = 0;
    res->block = false;
    res->tunnel_ticket = 0;
    mw_detect_rd_init(&res->rd);
    if (w->snap->cfg->detect.dga.enabled)
        dga_check(w, q, gi, res);
    return res->n;
}

/* ---- tunnels (tunnel.h) ---- */

/* The client's address octets, the key of its tunnel state. */
static const uint8_t *client_octets(const struct sockaddr *sa, size_t *n)
{
    if (sa->sa_family == AF_INET6) {
        *n = 16;
        return ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    }
    *n = 4;
    return (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
}

/* A tunnel verdict for group gi: rule "tunnel:<registered domain>", the features (or why) in
 * matched; the action is the group's `actions:` entry for "tunnel" (or category "detect"),
 * else detect.tunnel.action. */
static void tunnel_verdict(struct mw_worker *w, const struct mw_dns_question *q, size_t off,
                           const char *why, unsigned gi, struct mw_verdict *v)
{
    const struct mw_config *cfg = w->snap->cfg;
    const uint16_t list = MW_LIST_DETECT + MW_DETECT_TUNNEL;
    *v = (struct mw_verdict){.action =
                                 mw_filter_group_action(w->snap->lists, mw_qgroup_conf(cfg, gi),
                                                        list, cfg->detect.tunnel.action),
                             .where = MW_WHERE_QNAME,
                             .rule = {.list = list}};
    char dom[1024]; /* escaped text of a wire name: at most 4 x 255 */
    if (mw_dname_to_text(q->qname + off, q->qname_len - off, dom, sizeof(dom)) < 0)
        dom[0] = 0;
    snprintf(v->rule_text, sizeof(v->rule_text), "tunnel:%s", dom);
    snprintf(v->matched, sizeof(v->matched), "%s", why);
}

bool mw_detect_before_cache(struct mw_worker *w, const struct mw_dns_question *q,
                            const struct sockaddr *from, unsigned gi, struct mw_detect_result *res)
{
    const struct mw_config *cfg = w->snap->cfg;
    res->n = 0;
    res->block = false;
    /* One test while no block is in force; the groups walked only while one is. */
    if (!w->tunnel || !mw_tunnel_any_blocks(w->tunnel) || !cfg->detect.tunnel.enabled ||
        !mw_detect_may_block(cfg, "tunnel", cfg->detect.tunnel.action))
        return false;
    size_t alen, off;
    const uint8_t *a = client_octets(from, &alen);
    if (!mw_tunnel_blocked(w->tunnel, a, alen, q->qname, q->qname_len, mw_worker_now(w), &off))
        return false;
    struct mw_verdict *v = add_hit(res, true);
    tunnel_verdict(w, q, off, "blocked after a detection", gi, v);
    if (v->action == MW_ACTION_LOG) {
        res->n = 0; /* this group only logs: its detection was the one alert */
        return false;
    }
    w->stats.tunnel_blocked++;
    add_done(w, res, gi);
    return true;
}

static bool tunnel_hit(struct mw_worker *w, const struct mw_dns_question *q, unsigned gi, int off,
                       const struct mw_tunnel_features *fp, struct mw_detect_result *res);

/* On the miss path: score the name. True when a detection blocks. */
static bool tunnel_check(struct mw_worker *w, const struct mw_dns_question *q,
                         const struct sockaddr *from, unsigned gi, struct mw_detect_result *res)
{
    unsigned weight;
    if (!w->snap->cfg->detect.tunnel.enabled ||
        !(weight = mw_tunnel_wants(q->qname, q->qname_len, q->qtype)))
        return false;
    struct mw_tunnel *t = mw_detect_tunnel(w); /* made on the first name that may count */
    if (!t || (weight != 1 && !mw_tunnel_sampled(t, q->qname)))
        return false;
    int off = mw_detect_regdom(w, q->qname, q->qname_len, &res->rd);
    if (off <= 0)
        return false;
    size_t alen;
    const uint8_t *a = client_octets(from, &alen);
    struct mw_tunnel_features f;
    if (mw_tunnel_observe(t, a, alen, q->qname, q->qname_len, (size_t)off, q->qtype, weight,
                          mw_worker_now(w), &res->tunnel_ticket, &f) != 1)
        return false;
    return tunnel_hit(w, q, gi, off, &f, res);
}

/* A detection: the verdict (rare: out of line, with its text buffers). */
static __attribute__((noinline)) bool tunnel_hit(struct mw_worker *w,
                                                 const struct mw_dns_question *q, unsigned gi,
                                                 int off, const struct mw_tunnel_features *fp,
                                                 struct mw_detect_result *res)
{
    struct mw_tunnel_features f = *fp;
    char why[sizeof(((struct mw_verdict *)0)->matched)];
    struct mw_verdict *v = add_hit(res, true);
    tunnel_verdict(w, q, (size_t)off, mw_tunnel_features_text(&f, why, sizeof(why)), gi, v);
    w->stats.tunnel_detections++;
    return add_done(w, res, gi);
}

/* ---- newly observed domains (nod.h, nodsvc.h) ---- */

/* The new-domain action for group gi. */
static enum mw_action nod_action(struct mw_worker *w, unsigned gi)
{
    const struct mw_config *cfg = w->snap->cfg;
    return mw_filter_group_action(w->snap->lists, mw_qgroup_conf(cfg, gi),
                                  MW_LIST_DETECT + MW_DETECT_NEW_DOMAINS,
                                  cfg->detect.new_domains.action);
}

static void nod_verdict(struct mw_worker *w, unsigned gi, const uint8_t *rd, size_t rl,
                        struct mw_verdict *v)
{
    v->rule = (struct mw_rule){.list = MW_LIST_DETECT + MW_DETECT_NEW_DOMAINS};
    v->action = nod_action(w, gi);
    v->where = MW_WHERE_QNAME;
    v->rule_wire = NULL;
    v->sink4 = v->sink6 = NULL;
    v->detect_class = 0;
    snprintf(v->rule_text, sizeof(v->rule_text), "new-domain");
    if (mw_dname_to_text(rd, rl, v->matched, sizeof(v->matched)) < 0)
        v->matched[0] = 0;
}

void mw_detect_nod_verdict(struct mw_worker *w, unsigned gi, const struct mw_dns_question *q,
                           const struct mw_detect_pending *d, struct mw_verdict *v)
{
    size_t off = d->regdom_off > 0 ? (size_t)d->regdom_off : 0;
    nod_verdict(w, gi, q->qname + off, q->qname_len - off, v);
}

/* A miss for a name under a registered domain first seen less than block-for ago, from a
 * client whose group blocks new domains: answered as blocked without asking upstream. Only
 * while some block is in force does this cost more than one atomic load, and never on a cache
 * hit (the answers of a domain in its block time are not cached). */
static bool nod_check(struct mw_worker *w, const struct mw_dns_question *q, unsigned gi,
                      struct mw_detect_result *res)
{
    struct mw_nodsvc *ns = w->snap->nod;
    uint64_t now = mw_worker_now(w);
    if (!mw_nodsvc_blocking(ns, now))
        return false;
    int off = mw_detect_regdom(w, q->qname, q->qname_len, &res->rd);
    if (off < 0 || !mw_nodsvc_blocked(ns, q->qname + off, q->qname_len - (size_t)off, now))
        return false;
    struct mw_verdict *v = add_hit(res, false);
    nod_verdict(w, gi, q->qname + off, q->qname_len - (size_t)off, v);
    if (v->action == MW_ACTION_LOG) {
        res->n--; /* this group only logs (or a reload made it so) */
        return false;
    }
    return add_done(w, res, gi);
}

unsigned mw_detect_miss(struct mw_worker *w, const struct mw_dns_question *q,
                        const struct sockaddr *from, unsigned gi, bool allowed,
                        struct mw_detect_result *res)
{
    res->n = 0;
    res->block = false;
    res->tunnel_ticket = 0;
    /* The registered domain of the name, looked up once (on the first detector that needs
     * it) for every detector of this miss. */
    mw_detect_rd_init(&res->rd);
    if (allowed)
        return 0;
    if (w->snap->cfg->detect.dga.enabled && dga_check(w, q, gi, res))
        return res->n;
    /* Tunnels defeat the cache by design: they are scored on the miss path only. */
    if (tunnel_check(w, q, from, gi, res))
        return res->n;
    if (w->snap->nod)
        nod_check(w, q, gi, res);
    return res->n;
}

/* A registered domain not known in this epoch: its answer probes the filter. The name is
 * hashed now and its blocks (a cache miss each, the filter being far larger than the caches)
 * are loaded while the question is upstream. Out of line: the known domain's miss stays a
 * word test. */
static __attribute__((noinline)) void nod_unknown(struct mw_nodsvc *ns, struct mw_nod *nod,
                                                  const struct mw_dns_question *q, int off,
                                                  const struct mw_detect_result *res,
                                                  struct mw_detect_pending *out)
{
    const struct mw_regmemo_words *words = res->rd.words;
    out->memo_key = words && words != &res->rd.own ? mw_regmemo_key_of(words) : 0;
    out->nod_hash = mw_nod_hash(nod, q->qname + off, q->qname_len - (size_t)off);
    mw_nod_prefetch(nod, out->nod_hash, mw_nodsvc_fleet(ns));
}

/* The new-domain part of mw_detect_pending_init, out of line: a miss with the detector off
 * pays one test, not this function's frame. */
static __attribute__((noinline)) void nod_pending(struct mw_worker *w,
                                                  const struct mw_dns_question *q,
                                                  struct mw_detect_result *res,
                                                  struct mw_detect_pending *out)
{
    int off = mw_detect_regdom(w, q->qname, q->qname_len, &res->rd);
    out->regdom_off = (int16_t)off;
    if (off < 0)
        return;
    struct mw_nod *nod = mw_nodsvc_filter(w->snap->nod);
    out->nod_known = res->rd.words && res->rd.words->nod_epoch == mw_nod_epoch(nod);
    if (!out->nod_known)
        nod_unknown(w->snap->nod, nod, q, off, res, out);
}

void mw_detect_pending_init(struct mw_worker *w, const struct mw_dns_question *q,
                            struct mw_detect_result *res, struct mw_detect_pending *out)
{
    out->tunnel_ticket = res->tunnel_ticket;
    out->regdom_off = -1;
    out->nod_known = false;
    if (w->snap->nod)
        nod_pending(w, q, res, out);
}

void mw_detect_answered(struct mw_worker *w, const struct mw_detect_pending *d, size_t len)
{
    if (d->tunnel_ticket && w->tunnel)
        mw_tunnel_answer(w->tunnel, d->tunnel_ticket, len);
}

/* NXDOMAIN and failures are not sightings: a name that does not exist was not observed, and
 * random nonexistent names do not fill the filter. */
static bool nod_sighting(struct mw_worker *w, const struct mw_detect_pending *d,
                         const struct mw_dns_question *q, bool allowed,
                         const struct sockaddr *first, unsigned first_group,
                         const struct mw_fetch_result *r);

bool mw_detect_new_domain(struct mw_worker *w, const struct mw_detect_pending *d,
                          const struct mw_dns_question *q, bool allowed,
                          const struct sockaddr *first, unsigned first_group,
                          const struct mw_fetch_result *r)
{
    struct mw_nodsvc *ns = w->snap->nod;
    if (!ns || r->len < MW_DNS_HDR || (r->pkt[3] & 0x0f) != MW_RCODE_NOERROR)
        return false;
    int off = d->regdom_off;
    if (off < 0)
        return false;
    const uint8_t *rd = q->qname + off;
    size_t rl = q->qname_len - (size_t)off;
    /* In a domain's block time, the answers a group that only logs receives are not cached
     * either: a blocking group's client would get them from the cache. */
    uint64_t now = mw_worker_now(w);
    if (mw_nodsvc_blocking(ns, now) && !allowed && mw_nodsvc_blocked(ns, rd, rl, now))
        return true;
    /* The common miss: another name under a domain this worker found known in this epoch
     * (its memo words said so when the query missed): nothing to do, no filter probe. */
    if (d->nod_known)
        return false;
    return nod_sighting(w, d, q, allowed, first, first_group, r);
}

/* A registered domain not known in this epoch: the filter probed and set, the memo told,
 * and a first sight (or the day's first, for the fleet) reported. Out of line: rare. */
static __attribute__((noinline)) bool
nod_sighting(struct mw_worker *w, const struct mw_detect_pending *d,
             const struct mw_dns_question *q, bool allowed, const struct sockaddr *first,
             unsigned first_group, const struct mw_fetch_result *r)
{
    struct mw_nodsvc *ns = w->snap->nod;
    const struct mw_lists *lists = w->snap->lists;
    const struct mw_config *cfg = w->snap->cfg;
    int off = d->regdom_off;
    const uint8_t *rd = q->qname + off;
    size_t rl = q->qname_len - (size_t)off;
    uint64_t now = mw_worker_now(w);
    struct mw_nod *nod = mw_nodsvc_filter(ns);
    uint32_t epoch = mw_nod_epoch(nod);
    bool fresh = mw_nod_observe_hash(nod, d->nod_hash);
    bool refresh = mw_nodsvc_fleet(ns) && mw_nod_today_first_hash(nod, d->nod_hash);
    /* Known in the current generation and announced today from now on: the words are found
     * again by the entry's key kept at the miss (one probe), or, when the entry went
     * meanwhile, by a second lookup. */
    struct mw_detect_rd again;
    mw_detect_rd_init(&again);
    again.words = d->memo_key && w->regmemo ? mw_regmemo_words_of(w->regmemo, d->memo_key) : NULL;
    bool found =
        again.words || (mw_detect_regdom(w, q->qname, q->qname_len, &again) == off && again.words);
    if (found)
        again.words->nod_epoch = epoch;
    if (!fresh && !refresh)
        return false;
    /* Only public registered domains are news: a .lan or .internal name is remembered (the
     * check costs nothing until a domain is new) but never reported or blocked. The memo's
     * words know (libpsl asked once per top-level label). */
    if (!(found ? again.words->public : mw_regdom_is_public(lists->regdom, rd, rl)))
        return false;
    /* Rare (a first sight, or once a day per domain): large, so off the stack. */
    static __thread struct mw_nod_event e;
    memset(&e.client, 0, sizeof(e.client));
    if (first)
        mw_addr_from_sa(first, &e.client);
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    e.wall_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
    e.qtype = q->qtype;
    e.qname_len = (uint16_t)q->qname_len;
    e.regdom_off = (uint16_t)off;
    memcpy(e.qname, q->qname, q->qname_len);
    mw_nod_event_address(&e, r->pkt, r->len, r->ttl_off,
                         r->info->ancount < r->info->n_ttls ? r->info->ancount : r->info->n_ttls);
    e.local_new = fresh;
    /* The event carries the action only: no verdict text to write. */
    enum mw_action action = nod_action(w, first ? first_group : 0);
    e.action = (uint8_t)action;
    e.block_for_ms = cfg->detect.new_domains.block_for_ms;
    e.blocked = fresh && action != MW_ACTION_LOG && !allowed;
    bool block = fresh && !allowed &&
                 mw_detect_may_block(cfg, "new-domains", cfg->detect.new_domains.action);
    if (block)
        mw_nodsvc_block(ns, rd, rl, now, now + e.block_for_ms);
    mw_nodsvc_report(ns, &e);
    return block;
}
