/* The health prober: one for the whole process, on the control loop. It sends the probes of
 * every upstream on the health board of the running config (health.h), folds in what the
 * workers reported, and is the one writer of each upstream's up/down state; when a state
 * changes it logs it and writes one upstream_change event to the routing journal (one, however
 * many workers there are). Probes leave from sockets of their own (random ports from the
 * CSPRNG, re-bound every MW_PROBER_ROTATE probes), carry a fresh random ID and are accepted
 * only from the probed address with our ID and question (RFC 5452, as upstream.c does); they
 * never count as client queries. A tls:// upstream is probed over TLS, through a DoT pool of
 * the prober's own (dotconn.h), with the same verification as client queries. At most one probe per
 * upstream is outstanding, so the traffic is bounded by the configured upstreams: one question per
 * interval each, while idle or down. */
#pragma once

#include <stdint.h>

struct uv_loop_s;
struct mw_snapshot;
struct mw_prober;

/* Counters of the prober, for metrics. */
struct mw_prober_stats {
    uint64_t journal_dropped; /* upstream_change events the journal queue refused */
    uint64_t stray;           /* datagrams on a probe socket that matched no probe */
    uint64_t send_errors;     /* probes that could not be sent (counted as failures) */
};

/* Create a prober on loop, idle until mw_prober_set(). Returns 0 or a negative errno. */
int mw_prober_new(struct uv_loop_s *loop, struct mw_prober **out);
/* Probe the upstreams of snap's config (takes a reference to snap, drops the previous one).
 * A snapshot with the same health board as before changes nothing; a new board forgets the
 * outstanding probes (the board carried their state over) and starts on the new one. */
void mw_prober_set(struct mw_prober *p, struct mw_snapshot *snap);
/* Stop probing and close every handle; the prober frees itself once the loop has run the
 * close callbacks. NULL is a no-op. */
void mw_prober_close(struct mw_prober *p);
void mw_prober_stats(const struct mw_prober *p, struct mw_prober_stats *out);
