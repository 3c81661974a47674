/* Rendering of the HTTP endpoints /metrics (Prometheus text 0.0.4), /healthz and /status
 * (JSON) from the workers' published counters and the control loop's state. Runs on the
 * control loop only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/events.h"
#include "minewall/jlog.h"
#include "minewall/prober.h"
#include "minewall/redis_sync.h"
#include "minewall/tap.h"

struct mw_http_response;
struct mw_worker;
struct mw_snapshot;

/* A recent block hit, for /status (top blocked names and who asks for them). */
struct mw_recent_hit {
    char qname[MW_DNAME_MAX * 4 + 2]; /* text form: \DDD escapes make it up to 4x the wire */
    char client[48];
    char list[MW_LIST_NAME_MAX + 1];
    char category[MW_CATEGORY_MAX + 1];
    uint64_t count;
};

/* State of the control loop that the pages show. */
struct mw_metrics_extra {
    uint64_t uptime_s;
    uint64_t lists_loaded_unix;
    uint64_t reloads_ok, reloads_failed; /* SIGHUP and list-file reloads by outcome */
    bool last_reload_failed;             /* the running config/lists are older than asked */
    bool redis_configured;
    struct mw_rsync_stats redis;
    struct mw_events_stats events;
    struct mw_jlog_stats journal;
    const char *status_extra;      /* more members for /status ("k":v,...), or NULL */
    struct mw_prober_stats prober; /* zero without a prober */
    bool tap_configured;           /* dnstap output on: tap holds its counters */
    struct mw_tap_stats tap;
};

/* Fill r; 0 or r->err. */
int mw_metrics_render(struct mw_http_response *r, struct mw_worker *const *workers, unsigned n,
                      const struct mw_snapshot *snap, const struct mw_metrics_extra *x);
/* 200 "ok", or 503 with the reason: no listeners, lists not loaded, no healthy upstream. */
int mw_metrics_health(struct mw_http_response *r, struct mw_worker *const *workers, unsigned n,
                      const struct mw_snapshot *snap);
int mw_metrics_status(struct mw_http_response *r, struct mw_worker *const *workers, unsigned n,
                      const struct mw_snapshot *snap, const struct mw_metrics_extra *x);
