/* The query log's pure part: the fixed-size record a worker fills for every answer it sends,
 * the single-producer ring that carries records to the writer thread, and the formatting of
 * one record as a JSON line:
 *
 *   {"time":"2024-05-01T12:00:00.123Z","client":"10.0.0.5","client_port":40000,
 *    "transport":"udp","group":"default","qname":"example.com","qtype":"A","rcode":"NOERROR",
 *    "answers":["192.0.2.1"],"upstream":"127.0.0.1:53","latency_ms":3,"cache":"miss",
 *    "verdict":"pass","rule":null}
 *
 * The worker's side (mw_querylog_prepare/fill, the ring) copies bytes and never formats text,
 * allocates or makes a system call: qname, qtype, rcode and the answer addresses are read back
 * out of a bounded copy of the reply by the writer (mw_querylog_format). A reply longer than
 * MW_QUERYLOG_PKT_MAX is copied cut: the question always fits, and the addresses that come
 * later are left out ("answers_cut":true). Records are variable-length (a hit takes about 100
 * bytes), so a ring of a few thousand stays in the caches. Pure: no libuv, no I/O. */
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
#define MW_QUERYLOG_LINE_MAX 6144

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

/* One answered query, as the worker copies it: this header and, after it, the variable part
 * data[]: pkt_len bytes of the reply, then the group name, the upstream label and the rule
 * text (group_len, upstream_len, rule_len bytes, no NULs). A record takes `size` bytes of its
 * ring (a multiple of 8): about 100 for a cache hit, where a fixed slot took 1 KiB and the ring
 * 8 MiB, more than the caches hold. Plain bytes: no pointers, so a record stays valid when the
 * config it was made under is swapped. */
struct mw_querylog_rec {
    uint16_t size;    /* bytes of the record, header included, a multiple of 8 */
    uint16_t pkt_len; /* bytes of the reply kept (MW_QUERYLOG_PKT_MAX at most) */
    uint16_t rule_len, qtype, client_port;
    uint8_t group_len, upstream_len;
    uint8_t family; /* AF_INET, AF_INET6, or 0 when unknown */
    uint8_t cache, verdict;
    bool tcp, pkt_cut, rule_cut, has_rule;
    uint32_t latency_ms;
    uint64_t mono_ms; /* loop time of the answer (CLOCK_MONOTONIC ms): the writer converts */
    uint8_t client[16];
    uint8_t data[];
};

/* The largest record: the header, the reply's copy and every string at its bound. */
#define MW_QUERYLOG_REC_MAX                                                                        \
    ((sizeof(struct mw_querylog_rec) + MW_QUERYLOG_PKT_MAX + 2 * (MW_QUERYLOG_LABEL_MAX - 1) +     \
      MW_QUERYLOG_RULE_MAX + 7) &                                                                  \
     ~(size_t)7)
/* Bytes after a record that may be read (not used) by the formatting, which checks text 8
 * bytes at a time: a buffer that holds a record has this many more. */
#define MW_QUERYLOG_REC_PAD 16
/* The ring bytes `log.queue` buys per record: a hit or a miss with an address or two takes
 * 80 to 130 (a larger record takes more of the ring). */
#define MW_QUERYLOG_REC_AVG 128

struct mw_querylog_ring;

/* The worker's side: keep a record in ring of the reply pkt[0..len) sent to client (tcp: over
 * TCP) for a question of qtype, answered at loop time now_ms, in group (borrowed, cut to fit);
 * the rule text of n->v is made (mw_verdict_rule_text) when there is one, which only the
 * blocked and logged paths pay. Copies only. Returns 1 when the ring just filled past its wake
 * mark (the caller wakes the consumer), 0, or -ENOBUFS when the ring was full (counted in its
 * dropped). */
int mw_querylog_put(struct mw_querylog_ring *ring, const struct mw_querylog_note *n,
                    const char *group, const struct sockaddr *client, bool tcp, uint16_t qtype,
                    const uint8_t *pkt, size_t len, uint64_t now_ms);

/* The same record into r, a buffer of MW_QUERYLOG_REC_MAX + MW_QUERYLOG_REC_PAD bytes (tests,
 * tools). */
void mw_querylog_make(struct mw_querylog_rec *r, const struct mw_querylog_note *n,
                      const char *group, const struct sockaddr *client, bool tcp, uint16_t qtype,
                      const uint8_t *pkt, size_t len, uint64_t now_ms);

/* Write the JSON line of r (with its '\n') at o, which has room for MW_QUERYLOG_LINE_MAX
 * bytes, stamped wall_ms (ms since the epoch); returns the line's end (no NUL). The writer's
 * way: no bound check per field, the time text kept from the line before. A reply that does
 * not parse gives null qname and no answers, never an error. */
char *mw_querylog_format_at(const struct mw_querylog_rec *r, uint64_t wall_ms, char *o);

/* Append the JSON line of r (with its '\n') to sb, stamped wall_ms (ms since the epoch).
 * Returns 0, or -ENOSPC when it did not fit (sb is then rewound to where it was: no partial
 * line). */
int mw_querylog_format(const struct mw_querylog_rec *r, uint64_t wall_ms, struct mw_strbuf *sb);

/* The text of an IPv4 (af AF_INET, 4 bytes) or IPv6 address (16 bytes) at o, as inet_ntop
 * writes it (RFC 5952: lowercase, the longest run of zero fields as ::, ::ffff:a.b.c.d for a
 * mapped address); no NUL. Returns its end; o needs INET6_ADDRSTRLEN bytes. */
char *mw_querylog_addr_text(int af, const uint8_t *a, char *o);

/* The text forms of the enums ("hit", "block", ...; "?" out of range). */
const char *mw_querylog_cache_name(unsigned c);
const char *mw_querylog_verdict_name(unsigned v);

/* A bounded single-producer, single-consumer ring of variable-length records in one byte
 * buffer: the worker reserves room, fills it and commits; the writer thread reads what is
 * committed and releases it. When it is full, reserve fails and the loss is counted: the
 * worker never waits. A record never wraps: the buffer has MW_QUERYLOG_REC_MAX bytes of slack
 * past its end, so one that starts near the end runs on into the slack (the bytes its place
 * maps to at the buffer's start stay unused for that lap). head and tail count bytes ever
 * committed and released, and sit on cache lines of their own. */
struct mw_querylog_ring {
    _Alignas(64) uint64_t head; /* producer: bytes committed (atomic) */
    uint64_t dropped;           /* producer: records refused when full (atomic) */
    uint32_t sample_left;       /* producer: answers to skip before the next one is logged */
    uint32_t cap;               /* bytes, a power of two (read-only after init) */
    uint32_t wake;              /* bytes queued at which the producer wakes the consumer */
    uint8_t *buf;               /* owned: cap + MW_QUERYLOG_REC_MAX + MW_QUERYLOG_REC_PAD bytes */
    _Alignas(64) uint64_t tail; /* consumer: bytes released (atomic) */
};

/* Set up r with room for at least want records of MW_QUERYLOG_REC_AVG bytes (rounded up to a
 * power of two, at least 4 KiB). Returns 0 or -ENOMEM. */
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

/* Room for the next record of size bytes (a multiple of 8, at most MW_QUERYLOG_REC_MAX), or
 * NULL when the ring is full (counted in dropped). */
static inline struct mw_querylog_rec *mw_querylog_ring_reserve(struct mw_querylog_ring *r,
                                                               size_t size)
{
    uint64_t head = r->head; /* only this thread writes it */
    if (head + size - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) > r->cap) {
        __atomic_store_n(&r->dropped, r->dropped + 1, __ATOMIC_RELAXED);
        return NULL;
    }
    return (struct mw_querylog_rec *)(r->buf + (head & (r->cap - 1)));
}

/* Publish the reserved record (its size filled in) to the consumer. Returns the bytes now
 * queued, for the caller's wake-up check. */
static inline uint64_t mw_querylog_ring_commit(struct mw_querylog_ring *r,
                                               const struct mw_querylog_rec *rec)
{
    uint64_t head = r->head + rec->size;
    __atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
    return head - __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
}

/* Consumer: the bytes ready to read; records follow each other from tail, each `size` bytes
 * long. */
static inline uint64_t mw_querylog_ring_ready(struct mw_querylog_ring *r)
{
    return __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) - r->tail;
}

/* Consumer: the record at byte position pos (tail, then tail plus the sizes before it). */
static inline const struct mw_querylog_rec *mw_querylog_ring_at(const struct mw_querylog_ring *r,
                                                                uint64_t pos)
{
    return (const struct mw_querylog_rec *)(r->buf + (pos & (r->cap - 1)));
}

/* Consumer: give n bytes back to the producer. */
static inline void mw_querylog_ring_release(struct mw_querylog_ring *r, uint64_t n)
{
    __atomic_store_n(&r->tail, r->tail + n, __ATOMIC_RELEASE);
}
