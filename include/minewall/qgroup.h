/* Client groups on the query path (issue 13): the few per-query steps query.c takes for a
 * group, kept out of query.c. The group of a query is decided once, in query.c's handle(),
 * from the client address and the listener it arrived on (groups.h), and travels with the
 * query (its waiter, when it waits on a fetch) as the group index: 0 is `default`, i is
 * cfg->groups[i - 1]. One cache and one coalescing table serve every group: a cached or
 * fetched answer is filtered per group on its way out; only an answer from a group's own
 * forward zone is cached apart, under a key that carries the group's tag.
 * Shell side: reads the worker (its snapshot, counters and per-group limiters). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct mw_worker;
struct mw_config;
struct mw_addr;
struct mw_cache_key;
struct mw_dns_question;
struct mw_group_conf;
struct mw_ratelimit;
struct sockaddr;

/* The group of a client's query; local is the listen address it arrived on (NULL: unknown,
 * only groups without `listeners:` can match). Counts the query for the group's metrics. */
unsigned mw_qgroup_of(struct mw_worker *w, const struct sockaddr *from,
                      const struct mw_addr *local);

/* The group's settings, NULL for default (and for an index the config does not have). */
const struct mw_group_conf *mw_qgroup_conf(const struct mw_config *cfg, unsigned gi);

/* The rate limiter for group gi: its own (made at its first query, per worker, with the
 * group's `rate-limit:`; a group names its clients, so loopback is not exempt there), or the
 * worker's top-level one (may be NULL: no limit). *refuse: the limiter's action. */
struct mw_ratelimit *mw_qgroup_ratelimit(struct mw_worker *w, unsigned gi, bool *refuse);

/* Is blocking paused for group gi (minewall-ctl pause, for everyone or for that group)? */
bool mw_qgroup_paused(struct mw_worker *w, unsigned gi);

/* The cache key of q for group gi: when one of the group's own forward zones serves the name,
 * the group's tag is appended (its answers come from other upstreams). */
void mw_qgroup_key(const struct mw_config *cfg, unsigned gi, const struct mw_dns_question *q,
                   bool do_bit, struct mw_cache_key *k);

/* The policy of group gi as far as verdicts go: 0 when they equal default's (every list, no
 * action override), else the group's tag. A cache entry's stamp is the lists' generation xor
 * the policy that last passed it. */
uint64_t mw_qgroup_policy(const struct mw_config *cfg, unsigned gi);

/* The tag of group gi (0 for default). A waiter keeps it: after a reload, the group index
 * of a query asked under the old config is found again with mw_qgroup_refind (a group gone
 * is default). */
uint64_t mw_qgroup_tag(const struct mw_config *cfg, unsigned gi);
unsigned mw_qgroup_refind(const struct mw_config *cfg, unsigned gi, uint64_t tag);

/* The metric label index of group gi (see MW_GROUP_LABELS). */
unsigned mw_qgroup_label(unsigned gi);
/* The label text of index i under cfg: "default", a group's name, or "other". */
const char *mw_qgroup_label_name(const struct mw_config *cfg, unsigned i);

/* Thread-safe: the groups (by tag, mw_group_tag) whose blocking is paused; n at most
 * MW_PAUSE_GROUPS. */
void mw_qgroup_set_paused(struct mw_worker *w, const uint64_t *tags, unsigned n);

/* Free the worker's per-group limiters. */
void mw_qgroup_deinit(struct mw_worker *w);
