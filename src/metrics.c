/* /metrics, /healthz and /status: rendered on the control loop from what every worker
 * published in its last second (mw_worker_pub_read: the query path takes no lock for its
 * counters) plus the control loop's own state (lists, Redis, journal). Prometheus text
 * exposition format 0.0.4, every name prefixed minewall_. */
#include "minewall/metrics.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/blocklog.h"
#include "minewall/config.h"
#include "minewall/dga.h"
#include "minewall/dname.h"
#include "minewall/filter.h"
#include "minewall/health.h"
#include "minewall/httpd.h"
#include "minewall/jsonw.h"
#include "minewall/lists.h"
#include "minewall/qgroup.h"
#include "minewall/rlist.h"
#include "minewall/snapshot.h"
#include "minewall/strbuf.h"
#include "minewall/worker.h"

_Static_assert(sizeof(((struct mw_block_counter *)0)->list) > MW_LIST_NAME_MAX &&
                   sizeof(((struct mw_block_counter *)0)->category) > MW_CATEGORY_MAX,
               "block counters hold names at their caps");

static const char *const RCODES[MW_M_RCODES] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                "NOTIMP",  "REFUSED", "other"};

static void head(struct mw_http_response *r, const char *name, const char *type, const char *help)
{
    mw_http_body_printf(r, "# HELP minewall_%s %s\n# TYPE minewall_%s %s\n", name, help, name,
                        type);
}

/* Room for a label value: a name at its cap (config.h) with every byte escaped (at most 3
 * bytes each: U+FFFD for an invalid byte), or an upstream label. */
#define LABEL_MAX 512

/* A label value into buf (LABEL_MAX bytes): backslash, quote and newline escaped (exposition
 * format 0.0.4), and, since values must be UTF-8, each invalid byte replaced by U+FFFD. The
 * writer is bounded: a value too long for buf is cut, never overrun. */
static const char *lv(const char *s, char *buf, size_t cap)
{
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, buf, cap);
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    for (size_t i = 0; i < len && !sb.trunc;) {
        size_t n = mw_utf8_len(p + i, len - i);
        if (n == 0) {
            mw_strbuf_put(&sb, "\xef\xbf\xbd", 3);
            n = 1;
        } else if (p[i] == '\\' || p[i] == '"') {
            mw_strbuf_putc(&sb, '\\');
            mw_strbuf_putc(&sb, (char)p[i]);
        } else if (p[i] == '\n') {
            mw_strbuf_put(&sb, "\\n", 2);
        } else {
            mw_strbuf_put(&sb, s + i, n);
        }
        i += n;
    }
    return buf;
}

static void histogram(struct mw_http_response *r, const char *name, const char *labels,
                      const uint64_t *b)
{
    uint64_t cum = 0;
    double sum = 0;
    for (unsigned i = 0; i < MW_M_LAT; i++) {
        cum += b[i];
        /* the sum is estimated from bucket bounds: exact sums would cost the hot path */
        sum += (double)b[i] * (i < MW_M_LAT - 1 ? MW_LAT_BOUNDS_MS[i] : 5000.0) / 1000.0;
        if (i < MW_M_LAT - 1)
            mw_http_body_printf(r, "minewall_%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
                                *labels ? "," : "", MW_LAT_BOUNDS_MS[i] / 1000.0,
                                (unsigned long long)cum);
        else
            mw_http_body_printf(r, "minewall_%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
                                *labels ? "," : "", (unsigned long long)cum);
    }
    const char *o = *labels ? "{" : "", *c = *labels ? "}" : "";
    mw_http_body_printf(r, "minewall_%s_sum%s%s%s %g\nminewall_%s_count%s%s%s %llu\n", name, o,
                        labels, c, sum, name, o, labels, c, (unsigned long long)cum);
}

/* Everything of all workers, summed. Upstreams and blocks are merged by their labels. */
struct sums {
    struct mw_worker_pub all; /* stats, cache, responses, client_lat summed */
    struct mw_upstream_pub ups[MW_M_UPS];
    unsigned n_ups;
    struct mw_block_counter blocks[MW_M_BLOCKS];
    unsigned n_blocks;
    struct mw_recent_hit recent[64]; /* merged by (name, client) */
    size_t n_recent;
};

static void add_recent(struct sums *s, const struct mw_worker_hit *h, const struct mw_lists *l)
{
    struct mw_recent_hit x;
    memset(&x, 0, sizeof(x));
    if (mw_dname_to_text(h->qname, h->qname_len, x.qname, sizeof(x.qname)) < 0)
        return;
    mw_addr_format_ip(&h->client, x.client, sizeof(x.client));
    const struct mw_list_info *li = mw_lists_info(l, h->list);
    if (li) {
        snprintf(x.list, sizeof(x.list), "%s", li->name);
        snprintf(x.category, sizeof(x.category), "%s", li->category);
    }
    for (size_t i = 0; i < s->n_recent; i++) {
        if (!strcmp(s->recent[i].qname, x.qname) && !strcmp(s->recent[i].client, x.client)) {
            s->recent[i].count++;
            return;
        }
    }
    if (s->n_recent < sizeof(s->recent) / sizeof(s->recent[0])) {
        x.count = 1;
        s->recent[s->n_recent++] = x;
    }
}

/* The sums of every worker's published counters (and l's list names), or NULL on ENOMEM.
 * The caller frees them. */
static struct sums *sums_new(struct mw_worker *const *w, unsigned n, const struct mw_lists *l)
{
    struct sums *s = calloc(1, sizeof(*s));
    struct mw_worker_pub *p = malloc(sizeof(*p));
    if (!s || !p) {
        free(s);
        free(p);
        return NULL;
    }
    for (unsigned i = 0; i < n; i++) {
        mw_worker_pub_read(w[i], p);
        uint64_t *dst = (uint64_t *)&s->all.stats;
        const uint64_t *src = (const uint64_t *)&p->stats;
        for (size_t k = 0; k < sizeof(p->stats) / sizeof(uint64_t); k++)
            dst[k] += src[k];
        struct mw_fetch_gauges *fg = &s->all.fetch;
        fg->in_flight += p->fetch.in_flight;
        if (p->fetch.in_flight_peak > fg->in_flight_peak) /* per worker: the bound's unit */
            fg->in_flight_peak = p->fetch.in_flight_peak;
        fg->waiting += p->fetch.waiting;
        fg->pooled += p->fetch.pooled;
        fg->upstream_tcp += p->fetch.upstream_tcp;
        s->all.cache.hits += p->cache.hits;
        s->all.cache.misses += p->cache.misses;
        s->all.cache.evictions += p->cache.evictions;
        s->all.cache.evictions_bytes += p->cache.evictions_bytes;
        s->all.cache.bytes += p->cache.bytes;
        s->all.cache.entries += p->cache.entries;
        s->all.cache.stale_hits += p->cache.stale_hits;
        for (unsigned t = 0; t < 2; t++)
            for (unsigned q = 0; q < MW_M_QTYPES; q++)
                for (unsigned c = 0; c < MW_M_RCODES; c++)
                    s->all.responses[t][q][c] += p->responses[t][q][c];
        for (unsigned b = 0; b < MW_M_LAT; b++)
            s->all.client_lat[b] += p->client_lat[b];
        for (unsigned u = 0; u < p->n_ups; u++) {
            unsigned k = 0;
            while (k < s->n_ups && strcmp(s->ups[k].label, p->ups[u].label) != 0)
                k++;
            if (k == s->n_ups) {
                if (s->n_ups == MW_M_UPS)
                    continue;
                s->ups[s->n_ups++] = p->ups[u];
                s->ups[k].srtt_ms = 0;
                memset(s->ups[k].lat, 0, sizeof(s->ups[k].lat));
                s->ups[k].queries = s->ups[k].answers = s->ups[k].timeouts = 0;
                s->ups[k].errors = 0;
                s->ups[k].up = false;
                memset(&s->ups[k].dot, 0, sizeof(s->ups[k].dot));
            }
            struct mw_upstream_pub *o = &s->ups[k];
            o->up = o->up || p->ups[u].up; /* healthy for some worker: healthy */
            if (p->ups[u].srtt_ms > 0 && (o->srtt_ms == 0 || p->ups[u].srtt_ms < o->srtt_ms))
                o->srtt_ms = p->ups[u].srtt_ms;
            o->queries += p->ups[u].queries;
            o->answers += p->ups[u].answers;
            o->timeouts += p->ups[u].timeouts;
            o->errors += p->ups[u].errors;
            for (unsigned b = 0; b < MW_M_LAT; b++)
                o->lat[b] += p->ups[u].lat[b];
            o->tls = o->tls || p->ups[u].tls; /* TLS counters summed over the workers */
            mw_dot_stats_add(&o->dot, &p->ups[u].dot);
        }
        for (unsigned b = 0; b < p->n_blocks; b++) {
            const struct mw_block_counter *x = &p->blocks[b];
            unsigned k = 0;
            while (k < s->n_blocks &&
                   (s->blocks[k].action != x->action || s->blocks[k].where != x->where ||
                    strcmp(s->blocks[k].list, x->list) ||
                    strcmp(s->blocks[k].category, x->category)))
                k++;
            if (k == s->n_blocks) {
                if (s->n_blocks == MW_M_BLOCKS)
                    continue;
                s->blocks[s->n_blocks] = *x;
                s->blocks[s->n_blocks++].count = 0;
            }
            s->blocks[k].count += x->count;
        }
        for (unsigned h = 0; h < p->n_recent; h++)
            add_recent(s, &p->recent[h], l);
    }
    free(p);
    return s;
}

/* The counters kept per upstream: one family each, one sample per upstream. */
static const struct {
    const char *name, *help;
    size_t off; /* of a uint64_t in struct mw_upstream_pub */
} ups_counters[] = {
    {"upstream_queries_total", "Queries sent to each upstream.",
     offsetof(struct mw_upstream_pub, queries)},
    {"upstream_timeouts_total", "Upstream attempts that timed out.",
     offsetof(struct mw_upstream_pub, timeouts)},
    {"upstream_errors_total",
     "Upstream errors (send errors, SERVFAIL, REFUSED, malformed answers).",
     offsetof(struct mw_upstream_pub, errors)},
};

/* The DNS-over-TLS families: one sample per tls:// upstream. */
static const struct {
    const char *name, *type, *help;
    size_t off; /* of a uint64_t in struct mw_upstream_pub */
} tls_counters[] = {
    {"upstream_tls_handshakes_total", "counter", "TLS handshakes completed with each upstream.",
     offsetof(struct mw_upstream_pub, dot.handshakes)},
    {"upstream_tls_resumptions_total", "counter", "TLS handshakes that resumed an earlier session.",
     offsetof(struct mw_upstream_pub, dot.resumptions)},
    {"upstream_tls_verify_failures_total", "counter",
     "TLS handshakes refused: certificate chain, name, validity or pins (never a fallback to "
     "plain DNS).",
     offsetof(struct mw_upstream_pub, dot.verify_failures)},
    {"upstream_tls_connect_failures_total", "counter",
     "TLS connections that failed otherwise (refused, reset, timed out, protocol error).",
     offsetof(struct mw_upstream_pub, dot.conn_failures)},
    {"upstream_tls_queries_total", "counter", "Queries written on TLS connections.",
     offsetof(struct mw_upstream_pub, dot.queries)},
    {"upstream_tls_reused_queries_total", "counter",
     "Queries written on a TLS connection that had carried a query before.",
     offsetof(struct mw_upstream_pub, dot.reused)},
    {"upstream_tls_busy_total", "counter",
     "Queries not sent: every connection of the pool full (tls.max-connections x "
     "tls.max-pipeline, or for DoH the server's SETTINGS_MAX_CONCURRENT_STREAMS if lower).",
     offsetof(struct mw_upstream_pub, dot.busy)},
    {"upstream_tls_backoff_total", "counter",
     "Queries not sent: no connection open and the last ones failed (a backoff from 250 ms "
     "doubling to 30 s).",
     offsetof(struct mw_upstream_pub, dot.backoff)},
    {"upstream_tls_moved_queries_total", "counter",
     "Queries moved to another connection after the server closed theirs (RFC 7766 6.2.4).",
     offsetof(struct mw_upstream_pub, dot.moved)},
    {"upstream_tls_connections", "gauge", "TLS connections open to each upstream.",
     offsetof(struct mw_upstream_pub, dot.open)},
    {"upstream_doh_http_errors_total", "counter",
     "DNS-over-HTTPS answers refused: HTTP status not 200, wrong Content-Type or a body too "
     "short (a failed upstream answer).",
     offsetof(struct mw_upstream_pub, dot.http_errors)},
    {"upstream_doh_oversize_total", "counter",
     "DNS-over-HTTPS answers refused: a body over 65535 bytes (the stream is reset).",
     offsetof(struct mw_upstream_pub, dot.oversize)},
    {"upstream_doh_resets_total", "counter",
     "DNS-over-HTTPS streams reset or refused by the server before their answer.",
     offsetof(struct mw_upstream_pub, dot.resets)},
};

static void counter(struct mw_http_response *r, const char *name, const char *help,
                    const char *labels, uint64_t v)
{
    head(r, name, "counter", help);
    mw_http_body_printf(r, "minewall_%s%s%s%s %llu\n", name, *labels ? "{" : "", labels,
                        *labels ? "}" : "", (unsigned long long)v);
}

/* dnstap output (tap.h): frames written, and frames lost by why. */
static void tap_metrics(struct mw_http_response *r, const struct mw_tap_stats *t)
{
    counter(r, "dnstap_sent_total", "dnstap frames written to the reader.", "", t->sent);
    head(r, "dnstap_dropped_total", "counter",
         "dnstap frames lost: a worker's queue was full, or no reader was connected.");
    mw_http_body_printf(r, "minewall_dnstap_dropped_total{reason=\"queue_full\"} %llu\n",
                        (unsigned long long)t->queue_full);
    mw_http_body_printf(r, "minewall_dnstap_dropped_total{reason=\"no_reader\"} %llu\n",
                        (unsigned long long)t->no_reader);
    head(r, "dnstap_connected", "gauge", "1 while a dnstap reader is connected.");
    mw_http_body_printf(r, "minewall_dnstap_connected %d\n", t->connected ? 1 : 0);
    counter(r, "dnstap_connects_total", "Connections made to the dnstap reader.", "", t->connects);
}

int mw_metrics_render(struct mw_http_response *r, struct mw_worker *const *workers, unsigned n,
                      const struct mw_snapshot *snap, const struct mw_metrics_extra *x)
{
    struct sums *s = sums_new(workers, n, snap->lists);
    if (!s)
        return -1;
    const struct mw_worker_stats *st = &s->all.stats;
    char a[LABEL_MAX], b[LABEL_MAX], o[LABEL_MAX];

    head(r, "queries_total", "counter", "DNS responses sent, by transport, query type, rcode.");
    for (unsigned t = 0; t < 2; t++)
        for (unsigned q = 0; q < MW_M_QTYPES; q++)
            for (unsigned c = 0; c < MW_M_RCODES; c++)
                if (s->all.responses[t][q][c])
                    mw_http_body_printf(
                        r,
                        "minewall_queries_total{transport=\"%s\",qtype=\"%s\",rcode=\"%s\"} %llu\n",
                        t ? "tcp" : "udp", mw_qtype_index_name(q), RCODES[c],
                        (unsigned long long)s->all.responses[t][q][c]);
    head(r, "queries_received_total", "counter", "DNS queries received, by transport.");
    mw_http_body_printf(r,
                        "minewall_queries_received_total{transport=\"udp\"} %llu\n"
                        "minewall_queries_received_total{transport=\"tcp\"} %llu\n",
                        (unsigned long long)st->queries_udp, (unsigned long long)st->queries_tcp);

    head(r, "blocks_total", "counter",
         "Queries matched by a list, by category, list, action "
         "and where the match was.");
    for (unsigned i = 0; i < s->n_blocks; i++)
        mw_http_body_printf(r,
                            "minewall_blocks_total{category=\"%s\",list=\"%s\",action=\"%s\","
                            "where=\"%s\"} %llu\n",
                            lv(s->blocks[i].category, a, sizeof(a)),
                            lv(s->blocks[i].list, b, sizeof(b)),
                            mw_action_name((enum mw_action)s->blocks[i].action),
                            mw_where_name((enum mw_where)s->blocks[i].where),
                            (unsigned long long)s->blocks[i].count);

    counter(r, "cache_hits_total", "Queries answered from the cache.", "", st->cache_hits);
    counter(r, "cache_misses_total", "Queries the cache could not answer.", "", st->cache_misses);
    counter(r, "cache_coalesced_workers_total",
            "Misses answered by another worker's fetch of the same question (one cache).", "",
            st->coalesced_workers);
    counter(r, "cache_evictions_total", "Cache entries evicted for room.", "",
            s->all.cache.evictions);
    counter(r, "cache_stale_served_total",
            "Expired answers served because every upstream "
            "failed (RFC 8767).",
            "", st->stale_served);
    head(r, "cache_entries", "gauge", "Entries in the answer cache (one for all workers).");
    mw_http_body_printf(r, "minewall_cache_entries %zu\n", s->all.cache.entries);
    head(r, "cache_bytes", "gauge", "Heap bytes of the entries in the answer cache.");
    mw_http_body_printf(r, "minewall_cache_bytes %zu\n", s->all.cache.bytes);

    for (size_t c = 0; c < sizeof(ups_counters) / sizeof(ups_counters[0]); c++) {
        head(r, ups_counters[c].name, "counter", ups_counters[c].help);
        for (unsigned i = 0; i < s->n_ups; i++) {
            uint64_t v;
            memcpy(&v, (const char *)&s->ups[i] + ups_counters[c].off, sizeof(v));
            mw_http_body_printf(r, "minewall_%s{upstream=\"%s\"} %llu\n", ups_counters[c].name,
                                lv(s->ups[i].label, a, sizeof(a)), (unsigned long long)v);
        }
    }
    for (size_t c = 0; c < sizeof(tls_counters) / sizeof(tls_counters[0]); c++) {
        head(r, tls_counters[c].name, tls_counters[c].type, tls_counters[c].help);
        for (unsigned i = 0; i < s->n_ups; i++) {
            uint64_t v;
            memcpy(&v, (const char *)&s->ups[i] + tls_counters[c].off, sizeof(v));
            if (s->ups[i].tls)
                mw_http_body_printf(r, "minewall_%s{upstream=\"%s\"} %llu\n", tls_counters[c].name,
                                    lv(s->ups[i].label, a, sizeof(a)), (unsigned long long)v);
        }
    }
    /* Health: the board of the running config (health.h), one sample per configured
     * upstream; the prober that writes it runs on this thread. */
    const struct mw_health *hb = snap->box->health;
    head(r, "upstream_up", "gauge", "1 when the upstream is healthy, 0 when marked down.");
    for (uint16_t i = 0; hb && i < hb->n; i++)
        mw_http_body_printf(r, "minewall_upstream_up{upstream=\"%s\"} %d\n",
                            lv(hb->slot[i].label, a, sizeof(a)), hb->slot[i].hc.down ? 0 : 1);
    head(r, "upstream_probes_total", "counter",
         "Health probes sent to each upstream (never counted as client queries).");
    for (uint16_t i = 0; hb && i < hb->n; i++)
        mw_http_body_printf(r, "minewall_upstream_probes_total{upstream=\"%s\"} %llu\n",
                            lv(hb->slot[i].label, a, sizeof(a)),
                            (unsigned long long)hb->slot[i].hc.probes);
    head(r, "upstream_probe_failures_total", "counter",
         "Health probes that failed: no answer in time, SERVFAIL, REFUSED, malformed, not sent.");
    for (uint16_t i = 0; hb && i < hb->n; i++)
        mw_http_body_printf(r, "minewall_upstream_probe_failures_total{upstream=\"%s\"} %llu\n",
                            lv(hb->slot[i].label, a, sizeof(a)),
                            (unsigned long long)hb->slot[i].hc.probe_failures);
    counter(r, "upstream_probe_stray_total",
            "Datagrams on the probe sockets that answered no outstanding probe.", "",
            x->prober.stray);
    counter(r, "upstream_probe_send_errors_total",
            "Health probes that could not be sent (each also a failed probe of its upstream).", "",
            x->prober.send_errors);
    head(r, "upstream_srtt_seconds", "gauge", "Smoothed round-trip time of each upstream.");
    for (unsigned i = 0; i < s->n_ups; i++)
        mw_http_body_printf(r, "minewall_upstream_srtt_seconds{upstream=\"%s\"} %g\n",
                            lv(s->ups[i].label, a, sizeof(a)), s->ups[i].srtt_ms / 1000.0);
    head(r, "upstream_latency_seconds", "histogram", "Round-trip time of upstream answers.");
    for (unsigned i = 0; i < s->n_ups; i++) {
        char labels[LABEL_MAX + 16];
        struct mw_strbuf lb;
        mw_strbuf_init(&lb, labels, sizeof(labels));
        mw_strbuf_printf(&lb, "upstream=\"%s\"", lv(s->ups[i].label, a, sizeof(a)));
        histogram(r, "upstream_latency_seconds", labels, s->ups[i].lat);
    }
    head(r, "client_latency_seconds", "histogram",
         "Time from a cache miss to its answer, as the client sees it.");
    histogram(r, "client_latency_seconds", "", s->all.client_lat);

    const struct mw_lists *l = snap->lists;
    head(r, "list_entries", "gauge", "Entries of each list.");
    for (uint16_t i = 0; i < l->n_lists; i++)
        mw_http_body_printf(
            r, "minewall_list_entries{list=\"%s\",category=\"%s\",origin=\"%s\"} %zu\n",
            lv(l->lists[i].name, a, sizeof(a)), lv(l->lists[i].category, b, sizeof(b)),
            lv(l->lists[i].origin, o, sizeof(o)), l->lists[i].entries);
    head(r, "list_stale", "gauge",
         "1 while a Redis list's keys are gone and its last synced copy is enforced.");
    for (uint16_t i = 0; i < l->n_lists; i++)
        if (strcmp(l->lists[i].origin, "redis") == 0)
            mw_http_body_printf(r, "minewall_list_stale{list=\"%s\"} %d\n",
                                lv(l->lists[i].name, a, sizeof(a)), l->lists[i].stale ? 1 : 0);
    head(r, "lists_loaded_timestamp_seconds", "gauge",
         "When the lists in force were loaded or last changed by a sync.");
    mw_http_body_printf(r, "minewall_lists_loaded_timestamp_seconds %llu\n",
                        (unsigned long long)x->lists_loaded_unix);
    head(r, "reloads_total", "counter",
         "Reloads (SIGHUP, list file changes) by result; a failed one keeps the running "
         "config and lists.");
    mw_http_body_printf(r,
                        "minewall_reloads_total{result=\"ok\"} %llu\n"
                        "minewall_reloads_total{result=\"failed\"} %llu\n",
                        (unsigned long long)x->reloads_ok, (unsigned long long)x->reloads_failed);
    head(r, "last_reload_successful", "gauge",
         "0 while the last reload failed: the lists in force are older than the files.");
    mw_http_body_printf(r, "minewall_last_reload_successful %d\n", x->last_reload_failed ? 0 : 1);

    if (x->redis_configured) {
        head(r, "redis_up", "gauge", "1 while the Redis list sync is connected.");
        mw_http_body_printf(r, "minewall_redis_up %d\n", x->redis.up);
        counter(r, "redis_resyncs_total", "Full list resyncs (first sync, gaps, compaction).", "",
                x->redis.full_syncs);
        counter(r, "redis_events_dropped_total", "Events not delivered to Redis.", "",
                x->events.dropped);
        counter(r, "redis_lists_refused_total",
                "Lists published in Redis and refused: a name "
                "or category over its cap or of other "
                "characters.",
                "", x->redis.lists_refused);
        counter(r, "redis_events_truncated_total",
                "Block events sent with a field cut to its "
                "bound.",
                "", x->events.truncated);
        counter(r, "redis_meta_changes_total",
                "List meta changes (category, action, description) applied from the logs.", "",
                x->redis.meta_changes);
        counter(r, "redis_lists_retired_total", "Lists dropped by a retire record.", "",
                x->redis.lists_retired);
        counter(r, "redis_catalog_ignored_total",
                "Catalog records that were not create, meta or retire of a valid name.", "",
                x->redis.catalog_ignored);
    }
    head(r, "journal_events_total", "counter", "Routing-change events journaled, by type.");
    for (unsigned t = 0; t < MW_JOURNAL_TYPES; t++)
        mw_http_body_printf(r, "minewall_journal_events_total{type=\"%s\"} %llu\n",
                            mw_journal_type_name(t), (unsigned long long)x->journal.by_type[t]);
    counter(r, "journal_dropped_total",
            "Routing-change events lost (queue full, write "
            "errors).",
            "",
            st->journal_dropped + x->prober.journal_dropped + x->journal.dropped + x->journal.lost);

    if (x->tap_configured)
        tap_metrics(r, &x->tap);

    if (snap->blocklog) {
        uint64_t written, failed;
        mw_blocklog_counts(snap->blocklog, &written, &failed);
        counter(r, "block_log_lost_total",
                "Block log lines not written (write errors, or a "
                "line over its bound).",
                "", failed);
    }

    const struct mw_fetch_gauges *fg = &s->all.fetch;
    head(r, "fetches_in_flight", "gauge", "Questions waiting for an upstream answer.");
    mw_http_body_printf(r, "minewall_fetches_in_flight %llu\n", (unsigned long long)fg->in_flight);
    head(r, "fetches_in_flight_peak", "gauge",
         "The most questions one worker had waiting for upstream at once since start "
         "(bounded by fetch.max-per-worker).");
    mw_http_body_printf(r, "minewall_fetches_in_flight_peak %llu\n",
                        (unsigned long long)fg->in_flight_peak);
    head(r, "fetch_waiters", "gauge", "Client queries waiting for an upstream answer.");
    mw_http_body_printf(r, "minewall_fetch_waiters %llu\n", (unsigned long long)fg->waiting);
    head(r, "fetch_pool_objects", "gauge", "Idle objects kept in the fetch and waiter pools.");
    mw_http_body_printf(r, "minewall_fetch_pool_objects %llu\n", (unsigned long long)fg->pooled);
    head(r, "upstream_tcp_connections", "gauge", "TCP fallback connections to upstreams open.");
    mw_http_body_printf(r, "minewall_upstream_tcp_connections %llu\n",
                        (unsigned long long)fg->upstream_tcp);
    head(r, "fetch_overflow_total", "counter",
         "Queries over a fetch bound (answered stale, SERVFAIL or dropped), by bound.");
    mw_http_body_printf(
        r,
        "minewall_fetch_overflow_total{bound=\"max-per-worker\"} %llu\n"
        "minewall_fetch_overflow_total{bound=\"max-waiters\"} %llu\n"
        "minewall_fetch_overflow_total{bound=\"max-queries\"} %llu\n"
        "minewall_fetch_overflow_total{bound=\"max-tcp\"} %llu\n",
        (unsigned long long)st->fetch_overflow, (unsigned long long)st->waiters_overflow,
        (unsigned long long)st->queries_overflow, (unsigned long long)st->upstream_tcp_overflow);
    counter(r, "fetch_overflow_stale_total",
            "Queries over a fetch bound answered from a stale cache entry.", "",
            st->overflow_stale);
    counter(r, "pool_freed_bytes_total", "Bytes of idle pool objects freed after bursts.", "",
            st->pool_freed);
    counter(r, "malloc_trims_total", "Times free memory was handed back to the kernel.", "",
            st->malloc_trims);

    head(r, "detections_total", "counter",
         "Answers a detector flagged (blocked, or recorded with action log), by detector and "
         "class.");
    for (unsigned c = MW_REBIND_METADATA; c < MW_REBIND_COUNT; c++)
        mw_http_body_printf(
            r, "minewall_detections_total{detector=\"rebinding\",class=\"%s\"} %llu\n",
            mw_rebind_class_name((enum mw_rebind_class)c), (unsigned long long)st->rebinding[c]);
    static const char *const dga_level[] = {"", "low", "medium", "high"};
    for (unsigned lv = MW_DGA_LOW; lv <= MW_DGA_HIGH; lv++)
        mw_http_body_printf(r, "minewall_detections_total{detector=\"dga\",level=\"%s\"} %llu\n",
                            dga_level[lv], (unsigned long long)st->dga[lv]);
    counter(r, "dga_scored_total",
            "Registered-domain labels the DGA model scored (cache misses the memo did not answer).",
            "", st->dga_scored);
    counter(r, "dga_memo_hits_total", "DGA checks answered by the per-worker memo of scores.", "",
            st->dga_memo_hits);
    counter(r, "dga_memo_evictions_total",
            "Entries of the detectors' registered-domain memo given up for new ones "
            "(detect.dga.cache-size).",
            "", st->dga_memo_evictions);
    mw_http_body_printf(r, "minewall_detections_total{detector=\"tunnel\"} %llu\n",
                        (unsigned long long)st->tunnel_detections);
    counter(r, "tunnel_blocked_total",
            "Queries answered as blocked (or, with action log, let through) because a tunnel "
            "detection blocks their registered domain for the client.",
            "", st->tunnel_blocked);
    counter(r, "tunnel_evicted_total",
            "Tunnel detection states evicted by detect.tunnel.max-entries (per worker) while "
            "still inside their window.",
            "", st->tunnel_evicted);
    counter(r, "tunnel_blocks_evicted_total",
            "Tunnel blocks evicted by detect.tunnel.max-blocks before block-for ended.", "",
            st->tunnel_blocks_evicted);
    head(r, "tunnel_entries", "gauge",
         "(client, registered domain) states held by the tunnel detector, all workers.");
    mw_http_body_printf(r, "minewall_tunnel_entries %llu\n",
                        (unsigned long long)st->tunnel_entries);
    head(r, "tunnel_blocks", "gauge", "Tunnel blocks held (in force or not yet reclaimed).");
    mw_http_body_printf(r, "minewall_tunnel_blocks %llu\n", (unsigned long long)st->tunnel_blocks);

    /* Client groups: default, the first MW_GROUP_LABELS - 2 groups by name, the rest "other". */
    unsigned n_labels = snap->cfg->n_groups + 1 < MW_GROUP_LABELS - 1
                            ? (unsigned)snap->cfg->n_groups + 1
                            : MW_GROUP_LABELS;
    head(r, "group_queries_total", "counter",
         "Client queries by client group (groups: the first 64 by name, the rest as other).");
    for (unsigned g = 0; g < n_labels; g++)
        mw_http_body_printf(r, "minewall_group_queries_total{group=\"%s\"} %llu\n",
                            lv(mw_qgroup_label_name(snap->cfg, g), a, sizeof(a)),
                            (unsigned long long)st->group_queries[g]);
    head(r, "group_blocks_total", "counter",
         "List and detector hits (blocked, monitored or paused) by client group.");
    for (unsigned g = 0; g < n_labels; g++)
        mw_http_body_printf(r, "minewall_group_blocks_total{group=\"%s\"} %llu\n",
                            lv(mw_qgroup_label_name(snap->cfg, g), a, sizeof(a)),
                            (unsigned long long)st->group_blocks[g]);

    head(r, "local_answers_total", "counter",
         "Queries answered from local data and local zones, by result.");
    mw_http_body_printf(r,
                        "minewall_local_answers_total{result=\"answer\"} %llu\n"
                        "minewall_local_answers_total{result=\"nodata\"} %llu\n"
                        "minewall_local_answers_total{result=\"nxdomain\"} %llu\n"
                        "minewall_local_answers_total{result=\"refused\"} %llu\n",
                        (unsigned long long)st->local_answer, (unsigned long long)st->local_nodata,
                        (unsigned long long)st->local_nxdomain,
                        (unsigned long long)st->local_refused);

    head(r, "dropped_packets_total", "counter", "Packets dropped or refused, by reason.");
    mw_http_body_printf(
        r,
        "minewall_dropped_packets_total{reason=\"malformed\"} %llu\n"
        "minewall_dropped_packets_total{reason=\"spoofed\"} %llu\n"
        "minewall_dropped_packets_total{reason=\"stray\"} %llu\n"
        "minewall_dropped_packets_total{reason=\"refused-access\"} %llu\n"
        "minewall_dropped_packets_total{reason=\"rate-limited\"} %llu\n",
        (unsigned long long)(st->drop_malformed + st->formerr),
        (unsigned long long)st->upstream_spoofed, (unsigned long long)st->upstream_stray,
        (unsigned long long)st->refused_access, (unsigned long long)st->ratelimited);

    /* Each bound on client connections and output, and how often it was hit. */
    head(r, "limit_hits_total", "counter", "Times a resource bound was hit, by bound.");
    mw_http_body_printf(
        r,
        "minewall_limit_hits_total{limit=\"tcp-max-connections\"} %llu\n"
        "minewall_limit_hits_total{limit=\"tcp-output-pause\"} %llu\n"
        "minewall_limit_hits_total{limit=\"tcp-output-limit\"} %llu\n"
        "minewall_limit_hits_total{limit=\"tcp-worker-output-limit\"} %llu\n"
        "minewall_limit_hits_total{limit=\"udp-send-queue\"} %llu\n"
        "minewall_limit_hits_total{limit=\"cache-max-bytes\"} %llu\n",
        (unsigned long long)st->tcp_rejected, (unsigned long long)st->tcp_out_paused,
        (unsigned long long)st->tcp_out_closed, (unsigned long long)st->tcp_worker_out_closed,
        (unsigned long long)st->udp_send_dropped, (unsigned long long)s->all.cache.evictions_bytes);
    head(r, "output_queued_bytes", "gauge",
         "Answers waiting in memory: for TCP clients to read them, for UDP socket room.");
    mw_http_body_printf(r,
                        "minewall_output_queued_bytes{transport=\"tcp\"} %llu\n"
                        "minewall_output_queued_bytes{transport=\"udp\"} %llu\n",
                        (unsigned long long)st->tcp_out_bytes,
                        (unsigned long long)st->udp_queued_bytes);
    free(s);
    return r->err;
}

int mw_metrics_health(struct mw_http_response *r, struct mw_worker *const *workers, unsigned n,
                      const struct mw_snapshot *snap)
{
    struct sums *s = sums_new(workers, n, snap->lists);
    if (!s)
        return -1;
    bool up = false;
    for (unsigned i = 0; i < s->n_ups; i++)
        up = up || s->ups[i].up;
    free(s);
    const char *why = n == 0         ? "no listeners"
                      : !snap->lists ? "lists not loaded"
                      : !up          ? "no healthy upstream"
                                     : NULL;
    r->status = why ? 503 : 200;
    if (why) {
        mw_http_body_printf(r, "%s\n", why);
        return 0;
    }
    /* Stale Redis lists: still serving (the last synced copies are enforced), so 200 keeps
     * the resolver in a load balancer's pool, but the body says "degraded" for checks and
     * people that read it. */
    size_t stale = 0;
    for (uint16_t i = 0; i < snap->lists->n_lists; i++)
        stale += snap->lists->lists[i].stale;
    if (!stale) {
        mw_http_body_printf(r, "ok\n");
        return 0;
    }
    mw_http_body_printf(r, "degraded: %zu stale list%s:", stale, stale == 1 ? "" : "s");
    for (uint16_t i = 0; i < snap->lists->n_lists; i++)
        if (snap->lists->lists[i].stale)
            mw_http_body_printf(r, " %s", snap->lists->lists[i].name);
    mw_http_body_printf(r, "\n");
    return 0;
}

/* A string of /status through the JSON writer: at most STATUS_STR_MAX of its bytes (a longer
 * one, only ever a path, is cut at a character boundary), into a buffer that holds them even
 * when every byte is escaped (\u00XX: 6 bytes). */
#define STATUS_STR_MAX 1024

static void json_str(struct mw_http_response *r, const char *s)
{
    char buf[STATUS_STR_MAX * 6 + 3];
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, buf, sizeof(buf));
    mw_jsonw_strn(&sb, s, strlen(s), STATUS_STR_MAX, NULL);
    mw_http_body_append(r, buf, sb.len);
}

/* ,"key":"value", the value escaped and cut as json_str does. */
static void json_kv(struct mw_http_response *r, const char *key, const char *v)
{
    mw_http_body_printf(r, ",\"%s\":", key);
    json_str(r, v);
}

int mw_metrics_status(struct mw_http_response *r, struct mw_worker *const *workers, unsigned n,
                      const struct mw_snapshot *snap, const struct mw_metrics_extra *x)
{
    struct sums *s = sums_new(workers, n, snap->lists);
    if (!s)
        return -1;
    const struct mw_config *cfg = snap->cfg;
    r->content_type = "application/json";
    mw_http_body_printf(r, "{\"version\":\"%s\",\"uptime_seconds\":%llu,\"config\":", MW_VERSION,
                        (unsigned long long)x->uptime_s);
    json_str(r, cfg->path ? cfg->path : "");
    mw_http_body_printf(r, ",\"workers\":%u,\"listeners\":[", n);
    for (size_t i = 0; i < cfg->n_listen; i++) {
        char a[64];
        mw_addr_format(&cfg->listen[i], a, sizeof(a));
        mw_http_body_printf(r, "%s", i ? "," : "");
        json_str(r, a);
    }
    mw_http_body_printf(r, "],\"upstreams\":[");
    for (unsigned i = 0; i < s->n_ups; i++) {
        mw_http_body_printf(r, "%s{\"address\":", i ? "," : "");
        json_str(r, s->ups[i].label);
        mw_http_body_printf(r, ",\"up\":%s,\"srtt_ms\":%.2f,\"queries\":%llu,\"timeouts\":%llu}",
                            s->ups[i].up ? "true" : "false", s->ups[i].srtt_ms,
                            (unsigned long long)s->ups[i].queries,
                            (unsigned long long)s->ups[i].timeouts);
    }
    mw_http_body_printf(r, "],\"lists\":[");
    const struct mw_lists *l = snap->lists;
    for (uint16_t i = 0; i < l->n_lists; i++) {
        const struct mw_list_info *li = &l->lists[i];
        mw_http_body_printf(r, "%s{\"name\":", i ? "," : "");
        json_str(r, li->name);
        json_kv(r, "category", li->category);
        json_kv(r, "source", li->path ? li->path : "");
        json_kv(r, "origin", li->origin);
        mw_http_body_printf(r, ",\"action\":\"%s\",\"type\":\"%s\"", mw_action_name(li->action),
                            mw_list_type_name(li->type));
        mw_http_body_printf(r, ",\"entries\":%zu,\"stale\":%s}", li->entries,
                            li->stale ? "true" : "false");
    }
    mw_http_body_printf(r, "],\"blocks\":[");
    for (unsigned i = 0; i < s->n_blocks; i++) {
        mw_http_body_printf(r, "%s{\"list\":", i ? "," : "");
        json_str(r, s->blocks[i].list);
        json_kv(r, "category", s->blocks[i].category);
        mw_http_body_printf(r, ",\"where\":\"%s\",\"count\":%llu}",
                            mw_where_name((enum mw_where)s->blocks[i].where),
                            (unsigned long long)s->blocks[i].count);
    }
    mw_http_body_printf(r, "],\"blocks_recent\":[");
    for (size_t i = 0; i < s->n_recent; i++) {
        mw_http_body_printf(r, "%s{\"qname\":", i ? "," : "");
        json_str(r, s->recent[i].qname);
        json_kv(r, "client", s->recent[i].client);
        json_kv(r, "list", s->recent[i].list);
        json_kv(r, "category", s->recent[i].category);
        mw_http_body_printf(r, ",\"count\":%llu}", (unsigned long long)s->recent[i].count);
    }
    /* Client groups with their counts (label indexes: the first 64 groups, then "other"). */
    mw_http_body_printf(r, "],\"groups\":[");
    const struct mw_worker_stats *st = &s->all.stats;
    for (size_t g = 0; g <= cfg->n_groups; g++) {
        unsigned li = mw_qgroup_label((unsigned)g);
        bool shared = li == MW_GROUP_LABELS - 1;
        mw_http_body_printf(r, "%s{\"name\":", g ? "," : "");
        json_str(r, mw_config_group_name(cfg, (unsigned)g));
        const struct mw_group_conf *gc = g ? &cfg->groups[g - 1] : NULL;
        mw_http_body_printf(r, ",\"clients\":%zu,\"lists\":%s", gc ? gc->n_clients : 0,
                            gc && !gc->all_lists ? "\"some\"" : "\"all\"");
        mw_http_body_printf(
            r, ",\"queries\":%llu,\"blocks\":%llu%s}", (unsigned long long)st->group_queries[li],
            (unsigned long long)st->group_blocks[li], shared ? ",\"counted_as\":\"other\"" : "");
    }
    mw_http_body_printf(r, "],\"reloads\":{\"ok\":%llu,\"failed\":%llu,\"last_ok\":%s}",
                        (unsigned long long)x->reloads_ok, (unsigned long long)x->reloads_failed,
                        x->last_reload_failed ? "false" : "true");
    mw_http_body_printf(r, ",\"redis\":{\"configured\":%s,\"up\":%s},\"journal\":{\"path\":",
                        x->redis_configured ? "true" : "false", x->redis.up ? "true" : "false");
    json_str(r, cfg->journal.path ? cfg->journal.path : "");
    mw_http_body_printf(r, "}%s%s}\n", x->status_extra && *x->status_extra ? "," : "",
                        x->status_extra ? x->status_extra : "");
    free(s);
    return r->err;
}
