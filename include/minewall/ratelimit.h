/* Per-client query rate limiting for one worker: a token bucket per client prefix (the source
 * address masked to prefix_v4 / prefix_v6; IPv4-mapped IPv6 counts as IPv4), refilled
 * continuously in integer milli-tokens. Buckets live in a fixed table of max_entries slots
 * allocated once at _new; a client is looked up in a window of a few slots chosen by a hash
 * keyed with a per-limiter secret from getrandom(), so spoofed sources cannot aim at one
 * window. When the window is full a bucket that has refilled to the brim (idle long enough to
 * be the same as absent) is reused first, else the least recently seen one is evicted. Every
 * call is O(1) with a bounded probe and never allocates, so a flood of random sources can
 * neither grow memory nor slow the limiter; its only effect is that evicted clients restart
 * with a full bucket. Pure: time is passed in (monotonic now_ms). Not thread-safe: each worker
 * owns one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;
struct mw_cidr;

#define MW_RATELIMIT_MAX_QPS 10000000u /* the config accepts up to these */
#define MW_RATELIMIT_MAX_BURST 100000000u

struct mw_ratelimit_params {
    uint32_t qps;                 /* tokens added per second, 1..MW_RATELIMIT_MAX_QPS */
    uint32_t burst;               /* bucket size in tokens, 1..MW_RATELIMIT_MAX_BURST */
    uint8_t prefix_v4;            /* 0..32: IPv4 clients sharing this prefix share a bucket */
    uint8_t prefix_v6;            /* 0..128 */
    size_t max_entries;           /* table slots, >= 1; the table never holds more buckets */
    const struct mw_cidr *exempt; /* borrowed during _new only (copied); may be NULL if n is 0 */
    size_t n_exempt;
};

struct mw_ratelimit_stats {
    uint64_t allowed;          /* calls answered, exempt ones included */
    uint64_t limited;          /* calls refused */
    uint64_t exempt;           /* calls from an exempt prefix (counted in allowed too) */
    uint64_t evictions;        /* buckets dropped to make room for a new client */
    uint64_t evictions_active; /* of those, buckets that had not refilled (state was lost) */
    size_t entries;            /* buckets in the table, <= capacity */
    size_t capacity;           /* max_entries */
};

struct mw_ratelimit;

/* Fill p with defaults: qps 20, burst 40, prefix_v4 32, prefix_v6 64, max_entries 65536, no
 * exempt prefixes (the caller adds loopback). */
void mw_ratelimit_params_init(struct mw_ratelimit_params *p);

/* Build a limiter; the table (32 bytes a slot) and a copy of the exempt prefixes are allocated
 * here and nowhere else. Returns NULL with errno EINVAL for parameters out of range, ENOMEM
 * when allocation fails. The caller owns the result and releases it with mw_ratelimit_free. */
struct mw_ratelimit *mw_ratelimit_new(const struct mw_ratelimit_params *p);
void mw_ratelimit_free(struct mw_ratelimit *rl); /* NULL is a no-op */

/* Account one query from client (AF_INET or AF_INET6) at now_ms (monotonic; a value earlier
 * than a bucket's last visit counts as no time passed). Returns true to answer, false to drop
 * or truncate. Exempt clients and other address families are always answered and create no
 * bucket. A refused query consumes nothing. No callbacks, no allocation, no syscalls. */
bool mw_ratelimit_allow(struct mw_ratelimit *rl, const struct sockaddr *client, uint64_t now_ms);

void mw_ratelimit_get_stats(const struct mw_ratelimit *rl, struct mw_ratelimit_stats *out);
