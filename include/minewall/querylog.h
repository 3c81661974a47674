/* The query log's pure part: the fixed-size record a worker fills for every answer it sends,
 * the single-producer ring that carries records to the writer thread, and the formatting of
 * one record as a JSON line:
 *
 *   {"time":"2024-05-01T12:00:00.123Z","client":"10.0.0.5","client_port":40000,
 *    "transport":"udp","group":"default","qname":"example.com","qtype":"A","rcode":"NOERROR",
 *    "answers":["192.0.2.1"],"upstream":"127.0.0.1:53","latency_ms":3,"cache":"miss",
 *    "verdict":"pass","rule":null}
 *
 * The worker's side (mw_querylog_fill, the ring) copies bytes and never formats text,
 * allocates or makes a system call: qname, qtype, rcode and the answer addresses are read back
 * out of a bounded copy of the reply by the writer (mw_querylog_format). A reply longer than
 * MW_QUERYLOG_PKT_MAX is copied cut: the question always fits, and the addresses that come
 * later are left out ("answers_cut":true). Pure: no libuv, no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "minewall/strbuf.h"

struct mw_verdict;

#define MW_QUERYLOG_PKT_MAX 512    /* reply bytes kept: header, question and the first records */
#define MW_QUERYLOG_RULE_MAX 256   /* rule text bytes kept (cut at a character boundary) */
#define MW_QUERYLOG_LABEL_MAX 64   /* upstream label and group name bytes kept, with the NUL */
#define MW_QUERYLOG_ANSWERS_MAX 16 /* addresses written per line */
/* A buffer this large holds any line: a 255-octet name as \DDD text (1 KB), the rule with
 * every byte escaped (6x), 16 IPv6 addresses and the keys. */
#define MW_QUERYLOG_LINE_MAX 4096

/* Where the answer came from ("cache"). */
enum mw_querylog_cache {
    MW_QL_LOCAL = 0, /* made by minewall: local data, a block, an error, a refusal */
    MW_QL_HIT,       /* from the cache */
    MW_QL_MISS,      /* after asking upstream (also SERVFAIL when that failed) */
    MW_QL_STALE,     /* from an expired cache entry (RFC 8767) */
};

/* What the policy said ("verdict"). */
enum mw_querylog_verdict {
    MW_QL_PASS = 0,   /* no list matched */
    MW_QL_ALLOW,      /* an allow rule matched */
    MW_QL_BLOCK,      /* a block rule matched and was carried out */
    MW_QL_LOG,        /* a rule of a list with action log matched: answered as allowed */
    MW_QL_PAUSED,     /* a block rule matched while blocking was paused (minewall-ctl pause) */
    MW_QL_REFUSED,    /* the client is not in access.allow */
    MW_QL_RATELIMITED /* over rate-limit, answered REFUSED */
};

/* What query.c knows about the answer it is sending, beyond the reply itself. All pointers are
 * borrowed for the duration of one send. */
struct mw_querylog_note {
    uint64_t start_ms;      /* loop time the question arrived (the fetch began, for waiters) */
    const char *upstream;   /* label of the upstream that answered, or NULL */
    struct mw_verdict *v;   /* the rule that matched (block, log, paused), or NULL */
    uint8_t cache, verdict; /* enum mw_querylog_cache, enum mw_querylog_verdict */
    unsigned group;         /* the client's group index (config.h; 0: default) */
};

/* One answered query, as the worker copies it. Plain bytes: no pointers. */
struct mw_querylog_rec {
    uint64_t mono_ms; /* loop time of the answer (CLOCK_MONOTONIC ms): the writer converts */
    uint32_t latency_ms;
    uint16_t qtype; /* the asked type (also when the reply carries no question) */
    uint16_t pkt_len, rule_len, client_port;
    uint8_t family; /* AF_INET, AF_INET6, or 0 when unknown */
    uint8_t cache, verdict;
    bool tcp, pkt_cut, rule_cut, has_rule;
    uint8_t client[16];
    /* What every record fills first and the rule last: a record touches its first few cache
     * lines only (the ring is large, so each line written is a cache miss). */
    char group[MW_QUERYLOG_LABEL_MAX];
    char upstream[MW_QUERYLOG_LABEL_MAX]; /* "" for none */
    uint8_t pkt[MW_QUERYLOG_PKT_MAX];     /* pkt_len bytes of the reply */
    char rule[MW_QUERYLOG_RULE_MAX + 1];  /* rule_len bytes and a NUL */
};

/* Fill r for the reply pkt[0..len) sent to client (tcp: over TCP) for a question of qtype,
 * answered at loop time now_ms, in group (borrowed, cut to fit). Formats the rule text of
 * n->v when there is one (mw_verdict_rule_text), which only the blocked and logged paths pay. */
void mw_querylog_fill(struct mw_querylog_rec *r, const struct mw_querylog_note *n,
                      const char *group, const struct sockaddr *client, bool tcp, uint16_t qtype,
                      const uint8_t *pkt, size_t len, uint64_t now_ms);

/* Append the JSON line of r (with its '\n') to sb, stamped wall_ms (ms since the epoch).
 * Returns 0, or -ENOSPC when it did not fit (sb is then rewound to where it was: no partial
 * line). A reply that does not parse gives null qname and no answers, never an error. */
int mw_querylog_format(const struct mw_querylog_rec *r, uint64_t wall_ms, struct mw_strbuf *sb);

/* The text forms of the enums ("hit", "block", ...; "?" out of range). */
const char *mw_querylog_cache_name(unsigned c);
const char *mw_querylog_verdict_name(unsigned v);

/* A bounded single-producer, single-consumer ring of records: the worker reserves a slot,
 * fills it and commits; the writer thread reads what is committed and releases it. When it is
 * full, reserve fails and the loss is counted: the worker never waits. Head and tail sit on
 * their own cache lines so the two threads do not share one. */
struct mw_querylog_ring {
    _Alignas(64) uint64_t head;    /* producer: records committed (atomic) */
    uint64_t dropped;              /* producer: records refused when full (atomic) */
    uint32_t sample_left;          /* producer: answers to skip before the next one is logged */
    _Alignas(64) uint64_t tail;    /* consumer: records released (atomic) */
    uint32_t cap;                  /* a power of two */
    struct mw_querylog_rec *slots; /* owned: cap records */
};

/* Set up r with room for at least want records (rounded up to a power of two, at least 2).
 * Returns 0 or -ENOMEM. */
int mw_querylog_ring_init(struct mw_querylog_ring *r, uint32_t want);
void mw_querylog_ring_deinit(struct mw_querylog_ring *r);

/* Sampling: true for one answer in every `every` (1: all), counted per ring. */
static inline bool mw_querylog_ring_sample(struct mw_querylog_ring *r, uint32_t every)
{
    if (r->sample_left && r->sample_left < every) { /* a count left by a larger rate ends */
        r->sample_left--;
        return false;
    }
    r->sample_left = every ? every - 1 : 0;
    return true;
}

/* The slot for the next record, or NULL when the ring is full (counted in dropped). */
static inline struct mw_querylog_rec *mw_querylog_ring_reserve(struct mw_querylog_ring *r)
{
    uint64_t head = r->head; /* only this thread writes it */
    if (head - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) >= r->cap) {
        __atomic_store_n(&r->dropped, r->dropped + 1, __ATOMIC_RELAXED);
        return NULL;
    }
    return &r->slots[head & (r->cap - 1)];
}

/* Publish the reserved record to the consumer. */
static inline void mw_querylog_ring_commit(struct mw_querylog_ring *r)
{
    __atomic_store_n(&r->head, r->head + 1, __ATOMIC_RELEASE);
}

/* Consumer: the number of records ready to read; mw_querylog_ring_at(r, i) is the i-th. */
static inline uint64_t mw_querylog_ring_ready(struct mw_querylog_ring *r)
{
    return __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) - r->tail;
}

static inline const struct mw_querylog_rec *mw_querylog_ring_at(const struct mw_querylog_ring *r,
                                                                uint64_t i)
{
    return &r->slots[(r->tail + i) & (r->cap - 1)];
}

/* Consumer: give n records back to the producer. */
static inline void mw_querylog_ring_release(struct mw_querylog_ring *r, uint64_t n)
{
    __atomic_store_n(&r->tail, r->tail + n, __ATOMIC_RELEASE);
}
