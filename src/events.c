/* Events publisher; see events.h. A block event is copied into a fixed-size record (the name
 * in wire form, the client as an address, the texts through the bounded writer), so a worker
 * pays a mutex and a copy, never formatting; the control loop turns records into XADD fields.
 * The queue is two arrays of records swapped under the mutex, like the journal queue. */
#include "minewall/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "minewall/blocklog.h"
#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/dnstext.h"
#include "minewall/netaddr.h"
#include "minewall/rconn.h"
#include "minewall/redisurl.h"
#include "minewall/strbuf.h"

#define QUEUE_MAX 8192 /* block events between two sends (200 ms) */
#define SEND_MS 200
#define STREAM_MAXLEN "100000"
#define FIELD_MAX 280 /* rule and matched: the size of a verdict's texts */

struct brec {
    uint64_t wall_ms;
    struct mw_addr client;
    uint16_t qtype;
    uint16_t qname_len;
    uint8_t qname[MW_DNAME_MAX + 1];
    char list[MW_LIST_NAME_MAX + 1], category[MW_CATEGORY_MAX + 1];
    char action[16], where[16];
    char rule[FIELD_MAX], matched[FIELD_MAX];
    char group[64]; /* the client's group (config.h names are at most 63) */
};

struct mw_events {
    uv_loop_t *loop;
    struct mw_rconn *conn; /* owned */
    uv_timer_t timer;
    char host[256];
    unsigned open; /* the rconn and the timer, until their close callbacks */
    bool closing;
    pthread_mutex_t mu; /* guards q, n_q and the counters producers touch */
    struct brec *q;     /* owned, QUEUE_MAX: filled by producers */
    size_t n_q;
    struct brec *batch; /* owned, QUEUE_MAX: being sent by the loop */
    uint64_t q_dropped, truncated;
    struct mw_events_stats st; /* loop side */
};

int mw_events_new(uv_loop_t *loop, const struct mw_config *cfg, const char *host,
                  struct mw_events **out, char *why, size_t why_len)
{
    const char *u = cfg->redis.events_url ? cfg->redis.events_url : cfg->redis.url;
    struct mw_redis_url url;
    if (!u || mw_redis_url_parse(u, &url, why, why_len) < 0)
        return -EINVAL;
    struct mw_events *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return -ENOMEM;
    ev->loop = loop;
    /* malloc, not calloc: pages of the queue are touched only as events arrive. */
    ev->q = malloc(QUEUE_MAX * sizeof(*ev->q));
    ev->batch = malloc(QUEUE_MAX * sizeof(*ev->batch));
    static const struct mw_rconn_cbs cbs = {0};
    int rc = ev->q && ev->batch ? 0 : -ENOMEM;
    if (rc == 0 && pthread_mutex_init(&ev->mu, NULL) != 0)
        rc = -ENOMEM;
    if (rc == 0 && (rc = mw_rconn_new(loop, &url, &cbs, ev, &ev->conn)) < 0)
        pthread_mutex_destroy(&ev->mu);
    if (rc < 0) {
        snprintf(why, why_len, "cannot set up the Redis events connection: %s", strerror(-rc));
        free(ev->q);
        free(ev->batch);
        free(ev);
        return rc;
    }
    snprintf(ev->host, sizeof(ev->host), "%s", host);
    uv_timer_init(loop, &ev->timer);
    ev->timer.data = ev;
    ev->open = 2;
    *out = ev;
    return 0;
}

/* Copy s into a fixed field; true when it had to be cut. */
static bool field(char *dst, size_t cap, const char *s)
{
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, dst, cap);
    mw_strbuf_puts(&sb, s);
    return sb.trunc;
}

int mw_events_block(struct mw_events *ev, const struct mw_block_event *e)
{
    pthread_mutex_lock(&ev->mu);
    if (ev->n_q == QUEUE_MAX || ev->closing) {
        ev->q_dropped++;
        pthread_mutex_unlock(&ev->mu);
        return -ENOSPC;
    }
    struct brec *r = &ev->q[ev->n_q++];
    r->wall_ms = e->wall_ms;
    if (mw_addr_from_sa(e->client, &r->client) < 0)
        memset(&r->client, 0, sizeof(r->client));
    r->qtype = e->qtype;
    r->qname_len = e->qname_len <= sizeof(r->qname) ? (uint16_t)e->qname_len : 0;
    memcpy(r->qname, e->qname, r->qname_len);
    bool cut = field(r->list, sizeof(r->list), e->list);
    cut |= field(r->category, sizeof(r->category), e->category);
    cut |= field(r->action, sizeof(r->action), e->action);
    cut |= field(r->where, sizeof(r->where), e->where);
    cut |= field(r->rule, sizeof(r->rule), e->rule);
    cut |= field(r->matched, sizeof(r->matched), e->matched ? e->matched : "");
    cut |= field(r->group, sizeof(r->group), e->group ? e->group : "default");
    ev->truncated += cut;
    pthread_mutex_unlock(&ev->mu);
    return 0;
}

static void on_xadd(const redisReply *r, void *privdata)
{
    struct mw_events *ev = privdata;
    if (!r || r->type == REDIS_REPLY_ERROR)
        ev->st.dropped++;
    else
        ev->st.sent++;
}

/* One XADD of a block record, pipelined. */
static void send_block(struct mw_events *ev, const struct brec *r)
{
    char ts[24], client[64] = "", qname[MW_DNAME_MAX * 4 + 2] = "", qt[16];
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, ts, sizeof(ts));
    mw_strbuf_u64(&sb, r->wall_ms / 1000);
    if (r->client.u.sa.sa_family)
        mw_addr_format_ip(&r->client, client, sizeof(client));
    if (!r->qname_len || mw_dname_to_text(r->qname, r->qname_len, qname, sizeof(qname)) < 0)
        qname[0] = 0;
    const char *qtn = mw_dnstext_type(r->qtype, qt, sizeof(qt));
    const char *argv[] = {"XADD",        "minewall:events:blocks",
                          "MAXLEN",      "~",
                          STREAM_MAXLEN, "*",
                          "host",        ev->host,
                          "ts",          ts,
                          "client",      client,
                          "qname",       qname,
                          "qtype",       qtn,
                          "list",        r->list,
                          "category",    r->category,
                          "action",      r->action,
                          "rule",        r->rule,
                          "where",       r->where,
                          "matched",     r->matched,
                          "group",       r->group};
    int argc = (int)(sizeof(argv) / sizeof(argv[0]));
    if (mw_rconn_command_argv(ev->conn, on_xadd, ev, argc, argv, NULL) < 0)
        ev->st.dropped++;
}

static void send_tick(uv_timer_t *t)
{
    struct mw_events *ev = t->data;
    pthread_mutex_lock(&ev->mu);
    struct brec *b = ev->q;
    size_t n = ev->n_q;
    ev->q = ev->batch;
    ev->batch = b;
    ev->n_q = 0;
    pthread_mutex_unlock(&ev->mu);
    if (!n)
        return;
    if (!mw_rconn_is_up(ev->conn)) {
        ev->st.dropped += n;
        return;
    }
    for (size_t i = 0; i < n; i++)
        send_block(ev, &ev->batch[i]);
}

void mw_events_routing(struct mw_events *ev, const struct mw_routing_event *e)
{
    if (ev->closing || !mw_rconn_is_up(ev->conn)) {
        ev->st.dropped++;
        return;
    }
    /* The type is a field of its own so consumers can filter without parsing the JSON. */
    const char *type = mw_journal_type_name(e->type);
    const char *argv[] = {"XADD",        "minewall:events:routing",
                          "MAXLEN",      "~",
                          STREAM_MAXLEN, "*",
                          "host",        ev->host,
                          "type",        type,
                          "event",       e->json};
    size_t lens[] = {4, 23,           6, 1,     strlen(STREAM_MAXLEN), 1, 4, strlen(ev->host),
                     4, strlen(type), 5, e->len};
    if (mw_rconn_command_argv(ev->conn, on_xadd, ev, 12, argv, lens) < 0)
        ev->st.dropped++;
}

int mw_events_start(struct mw_events *ev)
{
    uv_timer_start(&ev->timer, send_tick, SEND_MS, SEND_MS);
    return mw_rconn_start(ev->conn);
}

static void closed_one(void *arg)
{
    struct mw_events *ev = arg;
    ev->open--;
}

static void timer_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

void mw_events_close(struct mw_events *ev)
{
    if (!ev || ev->closing)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->closing = true; /* later pushes are dropped and counted */
    pthread_mutex_unlock(&ev->mu);
    send_tick(&ev->timer); /* what is queued still goes out if Redis is up */
    uv_close((uv_handle_t *)&ev->timer, timer_closed);
    mw_rconn_close(ev->conn, closed_one);
}

void mw_events_free(struct mw_events *ev)
{
    if (!ev)
        return;
    /* Never before the loop closed both handles: their callbacks still point here. */
    if (ev->open)
        return;
    pthread_mutex_destroy(&ev->mu);
    free(ev->q);
    free(ev->batch);
    free(ev);
}

void mw_events_stats(struct mw_events *ev, struct mw_events_stats *out)
{
    *out = ev->st;
    pthread_mutex_lock(&ev->mu);
    out->dropped += ev->q_dropped;
    out->truncated = ev->truncated;
    pthread_mutex_unlock(&ev->mu);
}
