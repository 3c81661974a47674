/* Unit tests for ratelimit.c: exact token-bucket arithmetic as time advances, independence of
 * clients, prefix aggregation for IPv4 and IPv6, IPv4-mapped clients, exempt prefixes, stats
 * and eviction order, and the table bound under a flood of a million random sources while a
 * steady client keeps its rate. Prints (does not assert) the cost per call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "minewall/netaddr.h"
#include "minewall/ratelimit.h"

static struct mw_addr addr(const char *s)
{
    struct mw_addr a;
    assert_int_equal(mw_addr_parse_ip(s, 53, &a), 0);
    return a;
}

static bool allow(struct mw_ratelimit *rl, const char *ip, uint64_t now)
{
    struct mw_addr a = addr(ip);
    return mw_ratelimit_allow(rl, &a.u.sa, now);
}

/* How many of n back-to-back queries at now are answered. */
static unsigned allow_n(struct mw_ratelimit *rl, const char *ip, uint64_t now, unsigned n)
{
    unsigned ok = 0;
    for (unsigned i = 0; i < n; i++)
        ok += allow(rl, ip, now);
    return ok;
}

static struct mw_ratelimit *make(uint32_t qps, uint32_t burst, uint8_t p4, uint8_t p6,
                                 size_t max_entries)
{
    struct mw_ratelimit_params p;
    mw_ratelimit_params_init(&p);
    p.qps = qps;
    p.burst = burst;
    p.prefix_v4 = p4;
    p.prefix_v6 = p6;
    p.max_entries = max_entries;
    struct mw_ratelimit *rl = mw_ratelimit_new(&p);
    assert_non_null(rl);
    return rl;
}

static void test_burst_limit_recovery(void **state)
{
    (void)state;
    struct mw_ratelimit *rl = make(10, 5, 32, 64, 1024); /* one token per 100 ms */
    uint64_t t = 1000;
    assert_int_equal(allow_n(rl, "192.0.2.1", t, 5), 5);
    assert_false(allow(rl, "192.0.2.1", t));
    assert_false(allow(rl, "192.0.2.1", t + 99)); /* 990 milli-tokens */
    assert_true(allow(rl, "192.0.2.1", t + 100)); /* 1000 */
    assert_false(allow(rl, "192.0.2.1", t + 100));
    assert_int_equal(allow_n(rl, "192.0.2.1", t + 350, 5), 2); /* 2.5 tokens, 0.5 left */
    assert_true(allow(rl, "192.0.2.1", t + 400));              /* 0.5 + 0.5 */
    assert_false(allow(rl, "192.0.2.1", t + 400));
    /* Refused queries consume nothing; a long idle refills to burst and no further. */
    assert_int_equal(allow_n(rl, "192.0.2.1", t + 100000, 10), 5);
    /* Time going backwards counts as no time passed. */
    assert_false(allow(rl, "192.0.2.1", t));
    assert_true(allow(rl, "192.0.2.1", t + 100100));
    mw_ratelimit_free(rl);

    /* A rate that does not divide 1000 ms: 3 qps is 3 milli-tokens per ms, so after draining
     * the k-th token arrives exactly at ceil(1000 k / 3) ms, with no rounding drift. Burst 2
     * so the bucket never reaches its cap between polls (which would discard the excess). */
    rl = make(3, 2, 32, 64, 1024);
    t = 5;
    assert_int_equal(allow_n(rl, "198.51.100.7", t, 3), 2);
    const unsigned want[] = {334, 667, 1000, 1334, 1667, 2000, 2334, 2667, 3000};
    unsigned got = 0;
    for (unsigned d = 1; d <= 3000; d++) {
        if (allow(rl, "198.51.100.7", t + d)) {
            assert_true(got < 9);
            assert_int_equal(d, want[got]);
            got++;
        }
    }
    assert_int_equal(got, 9);
    mw_ratelimit_free(rl);

    /* Sustained with polling every 10 ms: the burst, then 3 per second (299.97 in 99.99 s). */
    rl = make(3, 5, 32, 64, 1024);
    unsigned ok = 0;
    for (uint64_t now = 0; now < 100000; now += 10)
        ok += allow(rl, "198.51.100.7", now);
    assert_int_equal(ok, 5 + 299);
    mw_ratelimit_free(rl);
}

static void test_clients_independent(void **state)
{
    (void)state;
    struct mw_ratelimit *rl = make(1, 3, 32, 128, 1024);
    assert_int_equal(allow_n(rl, "10.0.0.1", 0, 10), 3);
    assert_int_equal(allow_n(rl, "10.0.0.2", 0, 10), 3);
    assert_int_equal(allow_n(rl, "2001:db8::1", 0, 10), 3);
    assert_int_equal(allow_n(rl, "2001:db8::2", 0, 10), 3);
    assert_false(allow(rl, "10.0.0.1", 999));
    assert_true(allow(rl, "10.0.0.1", 1000));
    assert_false(allow(rl, "10.0.0.2", 999));
    struct mw_ratelimit_stats st;
    mw_ratelimit_get_stats(rl, &st);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.evictions, 0);
    mw_ratelimit_free(rl);
}

static void test_prefix_aggregation(void **state)
{
    (void)state;
    struct mw_ratelimit *rl = make(1, 4, 24, 64, 1024);
    assert_int_equal(allow_n(rl, "10.1.2.3", 0, 2), 2);
    assert_int_equal(allow_n(rl, "10.1.2.250", 0, 5), 2); /* same /24 */
    assert_int_equal(allow_n(rl, "10.1.3.3", 0, 5), 4);   /* next /24 */
    assert_int_equal(allow_n(rl, "2001:db8:1:2::1", 0, 2), 2);
    assert_int_equal(allow_n(rl, "2001:db8:1:2:ffff:ffff:ffff:ffff", 0, 5), 2); /* same /64 */
    assert_int_equal(allow_n(rl, "2001:db8:1:3::1", 0, 5), 4);                  /* next /64 */
    mw_ratelimit_free(rl);

    /* Odd lengths inside a byte and in the low half of IPv6; /0 is one bucket for all. */
    rl = make(1, 2, 20, 70, 1024);
    assert_int_equal(allow_n(rl, "10.1.0.1", 0, 1), 1);
    assert_int_equal(allow_n(rl, "10.1.15.255", 0, 5), 1);
    assert_int_equal(allow_n(rl, "10.1.16.0", 0, 5), 2);
    assert_int_equal(allow_n(rl, "2001:db8::1", 0, 1), 1);
    assert_int_equal(allow_n(rl, "2001:db8::3ff:ffff:ffff:ffff", 0, 5), 1);
    assert_int_equal(allow_n(rl, "2001:db8::400:0:0:0", 0, 5), 2);
    mw_ratelimit_free(rl);

    rl = make(1, 2, 0, 0, 1024);
    assert_int_equal(allow_n(rl, "1.2.3.4", 0, 1), 1);
    assert_int_equal(allow_n(rl, "200.1.1.1", 0, 5), 1);
    assert_int_equal(allow_n(rl, "2001:db8::1", 0, 5), 2); /* v6 ::/0 is not v4 0/0 */
    assert_int_equal(allow_n(rl, "fe80::1", 0, 5), 0);
    mw_ratelimit_free(rl);
}

static void test_v4_mapped(void **state)
{
    (void)state;
    struct mw_ratelimit *rl = make(1, 4, 32, 64, 1024);
    assert_int_equal(allow_n(rl, "192.0.2.1", 0, 2), 2);
    assert_int_equal(allow_n(rl, "::ffff:192.0.2.1", 0, 5), 2);
    assert_int_equal(allow_n(rl, "::ffff:192.0.2.2", 0, 5), 4); /* /32: another client */
    /* Not mapped, so not the IPv4 client: IPv4-compatible and an unrelated ::/64. */
    assert_int_equal(allow_n(rl, "::192.0.2.1", 0, 5), 4);
    struct mw_ratelimit_stats st;
    mw_ratelimit_get_stats(rl, &st);
    assert_int_equal(st.entries, 3);
    mw_ratelimit_free(rl);

    rl = make(1, 3, 24, 64, 1024); /* the IPv4 prefix applies to mapped clients */
    assert_int_equal(allow_n(rl, "::ffff:203.0.113.9", 0, 2), 2);
    assert_int_equal(allow_n(rl, "203.0.113.200", 0, 5), 1);
    mw_ratelimit_free(rl);
}

static void test_exempt(void **state)
{
    (void)state;
    struct mw_cidr ex[2];
    assert_int_equal(mw_cidr_parse("127.0.0.0/8", &ex[0]), 0);
    assert_int_equal(mw_cidr_parse("::1", &ex[1]), 0);
    struct mw_ratelimit_params p;
    mw_ratelimit_params_init(&p);
    p.qps = 1;
    p.burst = 1;
    p.max_entries = 16;
    p.exempt = ex;
    p.n_exempt = 2;
    struct mw_ratelimit *rl = mw_ratelimit_new(&p);
    assert_non_null(rl);
    memset(ex, 0, sizeof(ex)); /* the limiter keeps its own copy */
    assert_int_equal(allow_n(rl, "127.0.0.1", 0, 100), 100);
    assert_int_equal(allow_n(rl, "127.9.9.9", 0, 100), 100);
    assert_int_equal(allow_n(rl, "::1", 0, 100), 100);
    assert_int_equal(allow_n(rl, "::ffff:127.0.0.1", 0, 100), 100);
    assert_int_equal(allow_n(rl, "::2", 0, 100), 1);
    assert_int_equal(allow_n(rl, "128.0.0.1", 0, 100), 1);
    struct mw_ratelimit_stats st;
    mw_ratelimit_get_stats(rl, &st);
    assert_int_equal(st.exempt, 400);
    assert_int_equal(st.allowed, 402);
    assert_int_equal(st.limited, 198);
    assert_int_equal(st.entries, 2);

    /* Families we do not limit are answered, create nothing and are not "exempt". */
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_true(mw_ratelimit_allow(rl, &un, 0));
    mw_ratelimit_get_stats(rl, &st);
    assert_int_equal(st.allowed, 403);
    assert_int_equal(st.exempt, 400);
    assert_int_equal(st.entries, 2);
    mw_ratelimit_free(rl);
}

static void test_stats_and_eviction(void **state)
{
    (void)state;
    /* Two slots: the probe window is the whole table, so eviction order is deterministic. */
    struct mw_ratelimit *rl = make(1, 2, 32, 64, 2);
    struct mw_ratelimit_stats st;
    mw_ratelimit_get_stats(rl, &st);
    assert_int_equal(st.capacity, 2);
    assert_int_equal(st.entries, 0);

    assert_int_equal(allow_n(rl, "10.0.0.1", 0, 3), 2);
    assert_int_equal(allow_n(rl, "10.0.0.2", 100, 3), 2);
    /* Table full, neither bucket refilled: the least recently seen (10.0.0.1) goes. */
    assert_true(allow(rl, "10.0.0.3", 200));
    mw_ratelimit_get_stats(rl, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.evictions_active, 1);
    assert_int_equal(allow_n(rl, "10.0.0.2", 250, 3), 0); /* still drained: it was kept */
    /* 10.0.0.1 comes back as new (full bucket), evicting 10.0.0.3 (seen at 200, before .2). */
    assert_int_equal(allow_n(rl, "10.0.0.1", 300, 3), 2);
    assert_int_equal(allow_n(rl, "10.0.0.2", 300, 3), 0);
    /* Long idle: both refilled, so the victim counts as an eviction but not an active one. */
    assert_true(allow(rl, "10.0.0.4", 10000));
    mw_ratelimit_get_stats(rl, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.evictions, 3);
    assert_int_equal(st.evictions_active, 2);
    assert_int_equal(st.allowed, 2 + 2 + 1 + 2 + 1);
    assert_int_equal(st.limited, 1 + 1 + 3 + 1 + 3);
    assert_int_equal(st.exempt, 0);
    mw_ratelimit_free(rl);

    /* A refilled bucket is preferred over an older-seen but still drained one. */
    rl = make(1, 2, 32, 64, 2);
    assert_int_equal(allow_n(rl, "10.0.0.1", 0, 2), 2);
    assert_int_equal(allow_n(rl, "10.0.0.1", 1000, 3), 1); /* A: 0 tokens, seen at 1000 */
    assert_true(allow(rl, "10.0.0.2", 1100));              /* B: 1 token, seen at 1100 */
    /* At 2100 A holds 1.1 tokens (not full), B 2 (full): B goes although A is older. */
    assert_true(allow(rl, "10.0.0.3", 2100));
    assert_int_equal(allow_n(rl, "10.0.0.1", 2100, 3), 1); /* A kept its state */
    mw_ratelimit_get_stats(rl, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.evictions_active, 0);
    mw_ratelimit_free(rl);
}

static void test_bad_params(void **state)
{
    (void)state;
    struct mw_ratelimit_params p;
    mw_ratelimit_params_init(&p);
    struct mw_ratelimit_params bad[7];
    for (int i = 0; i < 7; i++)
        bad[i] = p;
    bad[0].qps = 0;
    bad[1].burst = 0;
    bad[2].prefix_v4 = 33;
    bad[3].prefix_v6 = 129;
    bad[4].max_entries = 0;
    bad[5].n_exempt = 1; /* with exempt NULL */
    bad[6].burst = MW_RATELIMIT_MAX_BURST + 1;
    for (int i = 0; i < 7; i++) {
        errno = 0;
        assert_null(mw_ratelimit_new(&bad[i]));
        assert_int_equal(errno, EINVAL);
    }
    struct mw_ratelimit_params big = p;
    big.qps = MW_RATELIMIT_MAX_QPS + 1;
    assert_null(mw_ratelimit_new(&big));
    /* The largest rates the config accepts: no overflow in milli-tokens. */
    p.burst = MW_RATELIMIT_MAX_BURST;
    p.qps = MW_RATELIMIT_MAX_QPS;
    struct mw_ratelimit *rl = mw_ratelimit_new(&p);
    assert_non_null(rl);
    assert_int_equal(allow_n(rl, "10.0.0.1", 0, 3), 3);
    assert_true(allow(rl, "10.0.0.1", UINT64_MAX));
    mw_ratelimit_free(rl);
    p.burst = 3;
    p.qps = MW_RATELIMIT_MAX_QPS; /* 10000 tokens per ms */
    rl = mw_ratelimit_new(&p);
    assert_non_null(rl);
    assert_int_equal(allow_n(rl, "10.0.0.1", 7, 5), 3);
    assert_int_equal(allow_n(rl, "10.0.0.1", 8, 5), 3); /* refilled to the cap, not beyond */
    mw_ratelimit_free(rl);
    mw_ratelimit_free(NULL);
}

static uint64_t xs(uint64_t *s) /* xorshift64* */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static void random_sa(uint64_t *rng, struct mw_addr *a)
{
    uint64_t r = xs(rng);
    memset(a, 0, sizeof(*a));
    if (r & 1) {
        a->u.in4.sin_family = AF_INET;
        uint32_t v = (uint32_t)(r >> 32);
        memcpy(&a->u.in4.sin_addr, &v, 4);
    } else {
        a->u.in6.sin6_family = AF_INET6;
        uint64_t r2 = xs(rng);
        memcpy(a->u.in6.sin6_addr.s6_addr, &r, 8);
        memcpy(a->u.in6.sin6_addr.s6_addr + 8, &r2, 8);
    }
}

/* One million random spoofed sources over 20 simulated seconds against a 65536-slot table,
 * while a legitimate client asks at twice its rate (so it should get exactly its rate). */
static void flood_case(size_t max_entries, uint64_t seed)
{
    const uint32_t qps = 20, burst = 40;
    struct mw_ratelimit *rl = make(qps, burst, 32, 64, max_entries);
    struct mw_addr legit = addr("192.0.2.53"), src;
    uint64_t rng = seed;
    const unsigned flood = 1000000, per_ms = 50; /* 50k spoofed queries per second */
    const uint64_t t0 = 1000000;
    unsigned legit_ok = 0, legit_sent = 0;
    struct mw_ratelimit_stats st;
    for (unsigned i = 0; i < flood; i++) {
        uint64_t now = t0 + i / per_ms;
        random_sa(&rng, &src);
        mw_ratelimit_allow(rl, &src.u.sa, now);
        if (i % (per_ms * 25) == 0) { /* every 25 ms: 40 qps, twice the rate */
            legit_sent++;
            legit_ok += mw_ratelimit_allow(rl, &legit.u.sa, now);
        }
        if ((i & 1023) == 0) {
            mw_ratelimit_get_stats(rl, &st);
            assert_true(st.entries <= max_entries);
        }
    }
    mw_ratelimit_get_stats(rl, &st);
    assert_true(st.entries <= max_entries);
    if (flood > max_entries)
        assert_true(st.entries > max_entries * 9 / 10); /* the flood fills it */
    unsigned secs = flood / per_ms / 1000;
    unsigned expected = qps * secs; /* plus up to burst */
    printf("  flood max_entries=%zu: entries=%zu evictions=%llu (active %llu); legit %u/%u "
           "answered, expected >= %u\n",
           max_entries, st.entries, (unsigned long long)st.evictions,
           (unsigned long long)st.evictions_active, legit_ok, legit_sent, expected);
    assert_true(legit_ok * 10 >= expected * 9);
    mw_ratelimit_free(rl);
}

static void test_flood_bound(void **state)
{
    (void)state;
    flood_case(65536, 0x1234567887654321ull);
    flood_case(1000, 42); /* not a power of two; heavily oversubscribed */
    flood_case(5, 7);     /* smaller than the probe window */
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void test_timing(void **state)
{
    (void)state;
    struct mw_ratelimit_params p;
    mw_ratelimit_params_init(&p);
    struct mw_cidr lo;
    assert_int_equal(mw_cidr_parse("127.0.0.0/8", &lo), 0);
    p.exempt = &lo;
    p.n_exempt = 1;
    struct mw_ratelimit *rl = mw_ratelimit_new(&p);
    assert_non_null(rl);

    enum { POOL = 8192, N = 2000000 };
    static struct mw_addr pool[POOL];
    uint64_t rng = 99;
    for (int i = 0; i < POOL; i++)
        random_sa(&rng, &pool[i]);
    unsigned ok = 0;
    double t = now_ns();
    for (unsigned i = 0; i < N; i++)
        ok += mw_ratelimit_allow(rl, &pool[i % POOL].u.sa, i / 1000);
    double known = (now_ns() - t) / N;

    /* More distinct sources than slots, generated beforehand: every call is a miss that
     * probes a full window and evicts. */
    enum { SPOOF = 1 << 18 };
    struct sockaddr_in6 *spoof = calloc(SPOOF, sizeof(*spoof));
    assert_non_null(spoof);
    for (int i = 0; i < SPOOF; i++) {
        struct mw_addr a;
        random_sa(&rng, &a);
        memcpy(&spoof[i], &a.u.in6, sizeof(spoof[i])); /* holds either family */
    }
    t = now_ns();
    for (unsigned i = 0; i < N; i++)
        ok += mw_ratelimit_allow(rl, (const struct sockaddr *)&spoof[i % SPOOF], 2000 + i / 1000);
    double flood = (now_ns() - t) / N;
    free(spoof);
    printf("  timing: %.1f ns/call for %d known clients, %.1f ns/call for %d random sources "
           "(table full) [%u allowed]\n",
           known, POOL, flood, SPOOF, ok);
    mw_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_limit_recovery),
        cmocka_unit_test(test_clients_independent),
        cmocka_unit_test(test_prefix_aggregation),
        cmocka_unit_test(test_v4_mapped),
        cmocka_unit_test(test_exempt),
        cmocka_unit_test(test_stats_and_eviction),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_flood_bound),
        cmocka_unit_test(test_timing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
