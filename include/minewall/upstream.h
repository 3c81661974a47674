/* Upstream resolution for one worker: which forwarder to ask (health and smoothed RTT), the
 * outgoing UDP sockets (a pool bound to random ports, rotated), random IDs from the CSPRNG,
 * strict matching of responses (source address and port, ID, question), retries on other
 * upstreams, TCP when an answer comes back truncated, and probing dead upstreams back in.
 *
 * A fetch is one question being resolved. The caller gives the question and a callback;
 * upstream.c owns the fetch object (pooled with its timer kept open, so a miss costs no handle
 * setup) and calls back exactly once, with the prepared response or a failure, never from
 * inside mw_fetch_start(). It knows nothing of clients: coalescing identical questions and
 * answering them is the caller's job (query.c). Health probes are not fetches: prober.c sends
 * them from the control loop; this module reads their outcome from the health board. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/upset.h"

struct mw_worker;
struct mw_config;
struct mw_health;
struct mw_dns_question;
struct mw_dns_response;
struct mw_upstreams;
struct mw_fetch;

/* Create the worker's upstream machinery for cfg, its health read from health (cfg's board,
 * borrowed: the sets take references; may be NULL). Returns 0 or a negative errno. */
int mw_upstreams_new(struct mw_worker *w, const struct mw_config *cfg, struct mw_health *health,
                     struct mw_upstreams **out);
/* Switch to cfg's upstreams and health board (reload); RTTs of addresses that stay are kept.
 * In-flight fetches finish on the set they started with. */
int mw_upstreams_reconfigure(struct mw_upstreams *ups, const struct mw_config *cfg,
                             struct mw_health *health);
/* Cancel every fetch still active (no callbacks), stop timers and close sockets. */
void mw_upstreams_close(struct mw_upstreams *ups);
/* Free after the loop has run the close callbacks. NULL is a no-op. */
void mw_upstreams_free(struct mw_upstreams *ups);

/* Read-only view for status/metrics. */
const struct mw_upset *mw_upstreams_current(const struct mw_upstreams *ups);
/* Free idle fetch objects beyond what the last interval needed (called once a second).
 * Returns the bytes handed back to malloc (once the loop has closed their timers). */
size_t mw_upstreams_trim(struct mw_upstreams *ups);
struct mw_fetch_gauges;
/* Add the idle fetch objects to g->pooled and set g->upstream_tcp. */
void mw_upstreams_gauges(const struct mw_upstreams *ups, struct mw_fetch_gauges *g);

struct mw_addr;
struct mw_dot_stats;
/* The DNS-over-TLS counters of upstream a in this worker (zeros for a plain one). */
void mw_upstreams_tls_stats(const struct mw_upstreams *ups, const struct mw_addr *a,
                            struct mw_dot_stats *out);

/* Flags of a fetch: bits copied into the upstream query. */
enum {
    MW_FETCH_CD = 1, /* checking disabled (RFC 4035) */
    MW_FETCH_DO = 2, /* DNSSEC OK in our OPT record */
};

/* How a fetch ended; every pointer is borrowed for the duration of the callback only. */
struct mw_fetch_result {
    int status;         /* 0: an answer (NOERROR or NXDOMAIN); -ETIMEDOUT: every attempt
                           failed or the budget ran out; -EBUSY: the answer was truncated
                           and fetch.max-tcp connections are open already */
    const uint8_t *pkt; /* the prepared response (OPT removed, mw_dns_prepare_response), or
                           NULL on failure */
    size_t len;
    const struct mw_dns_response *info; /* what preparing it learned */
    const uint16_t *ttl_off;            /* info->n_ttls TTL offsets in pkt and values */
    const uint32_t *ttl;
    const char *upstream; /* label of the upstream that answered, or NULL */
};

/* Called once per fetch. The fetch object is already back in upstream.c's pool: the callback
 * may start new fetches. */
typedef void (*mw_fetch_cb)(void *arg, const struct mw_fetch_result *res);

/* Begin resolving q (qname lowercase wire form) with flags (MW_FETCH_*) through the upstreams
 * configured for the qname. The name is sent as asked (q->qname_len octets: the client's
 * case, as Unbound forwards it: case is data to some peers, dns2tcp among them), or as q has
 * it when asked is NULL; the answer's question is matched ignoring case. Never calls cb
 * synchronously. On success *out (may be NULL) is the fetch, valid until cb runs or
 * mw_fetch_cancel(). Returns 0, -ENOENT when no upstream serves the name, -ENOMEM, or another
 * negative errno when nothing could be sent; cb is then never called. */
int mw_fetch_start(struct mw_upstreams *ups, const struct mw_dns_question *q, const uint8_t *asked,
                   unsigned flags, mw_fetch_cb cb, void *arg, struct mw_fetch **out);
/* As mw_fetch_start for a client of group gi (config.h): the group's own forward zones choose
 * the upstreams first (mw_config_zone_for_group). */
int mw_fetch_start_in(struct mw_upstreams *ups, const struct mw_dns_question *q,
                      const uint8_t *asked, unsigned flags, unsigned gi, mw_fetch_cb cb, void *arg,
                      struct mw_fetch **out);
/* Stop an active fetch without calling back (shutdown). */
void mw_fetch_cancel(struct mw_fetch *f);
