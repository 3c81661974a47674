/* Unit tests for cache.c: positive and negative lifetimes with clamps, what is not stored,
 * LRU order, the serve-stale window, key separation, clear, resize and the counters. Entries
 * are real prepared responses, and a hit is rendered once to check the whole path. The shared
 * cache: the bounds over shards, references that outlive eviction, and threads that insert,
 * look up and clear at once (run under TSan with -Db_sanitize=thread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "minewall/cache.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"

struct resp {
    uint8_t wire[4096];
    size_t wlen;
    uint8_t out[4096];
    int len;
    struct mw_dns_response info;
    uint16_t off[MW_DNS_MAX_TTLS];
    uint32_t ttl[MW_DNS_MAX_TTLS];
    struct mw_cache_key key;
};

/* A response for name/A: one A record per entry of ttls, and an SOA in authority (owner
 * pointer to the question, TTL soa_ttl, MINIMUM soa_min) when soa_ttl >= 0. Prepared, with
 * its key (DO as given). */
static void make(struct resp *r, const char *name, uint8_t rcode, const uint32_t *ttls, int n,
                 int64_t soa_ttl, uint32_t soa_min, bool do_bit)
{
    uint8_t *p = r->wire;
    mw_dns_put16(p, 99);
    mw_dns_put16(p + 2, MW_DNS_QR | MW_DNS_RD | MW_DNS_RA | rcode);
    mw_dns_put16(p + 4, 1);
    mw_dns_put16(p + 6, (uint16_t)n);
    mw_dns_put16(p + 8, soa_ttl >= 0 ? 1 : 0);
    mw_dns_put16(p + 10, 0);
    size_t off = 12;
    int ql = mw_dname_from_text(name, p + off, 256);
    assert_true(ql > 0);
    off += (size_t)ql;
    mw_dns_put16(p + off, MW_TYPE_A);
    mw_dns_put16(p + off + 2, 1);
    off += 4;
    for (int i = 0; i < n; i++) {
        memcpy(p + off, "\300\14\0\1\0\1", 6);
        mw_dns_put32(p + off + 6, ttls[i]);
        mw_dns_put16(p + off + 10, 4);
        mw_dns_put32(p + off + 12, 0xc0000200u + (uint32_t)i);
        off += 16;
    }
    if (soa_ttl >= 0) {
        memcpy(p + off, "\300\14\0\6\0\1", 6);
        mw_dns_put32(p + off + 6, (uint32_t)soa_ttl);
        mw_dns_put16(p + off + 10, 22);
        memset(p + off + 12, 0, 18);
        mw_dns_put32(p + off + 30, soa_min);
        off += 34;
    }
    r->wlen = off;
    r->len =
        mw_dns_prepare_response(r->wire, r->wlen, r->out, sizeof(r->out), &r->info, r->off, r->ttl);
    assert_int_equal(r->len, (int)off);
    mw_cache_key_make(&r->info.q, do_bit, &r->key);
}

static int insert(struct mw_cache *c, const struct resp *r, uint64_t now)
{
    return mw_cache_insert(c, &r->key, r->out, (size_t)r->len, &r->info, r->off, r->ttl, now);
}

static enum mw_cache_result look(struct mw_cache *c, const struct resp *r, uint64_t now, bool stale,
                                 struct mw_dns_stored *s, uint32_t *elapsed)
{
    return mw_cache_lookup(c, &r->key, now, stale, s, elapsed);
}

static struct mw_cache *cache(size_t n, uint32_t min, uint32_t max, uint32_t stale)
{
    /* One thread here: the tests built on this helper run without locks (threads: 1). */
    struct mw_cache_params p = {
        .max_entries = n, .min_ttl = min, .max_ttl = max, .serve_stale = stale, .one_thread = true};
    struct mw_cache *c = mw_cache_new(&p);
    assert_non_null(c);
    return c;
}

static struct resp A, B, C, D;

static void test_hit(void **state)
{
    (void)state;
    struct mw_cache *c = cache(100, 0, 86400, 0);
    uint32_t ttls[] = {300, 200};
    make(&A, "Example.COM", MW_RCODE_NOERROR, ttls, 2, -1, 0, false);
    assert_int_equal(insert(c, &A, 1000), 0);

    struct mw_dns_stored s;
    uint32_t el = 99;
    assert_int_equal(look(c, &A, 1000, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(el, 0);
    assert_int_equal(s.len, (size_t)A.len);
    assert_memory_equal(s.pkt, A.out, s.len);
    assert_int_equal(s.n_ttls, 2);
    assert_int_equal(s.ttl[0], 300);
    assert_int_equal(s.ttl[1], 200);
    assert_int_equal(s.ttl_off[0], A.off[0]);

    assert_int_equal(look(c, &A, 1000 + 150999, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(el, 150);

    /* The hit renders with counted-down TTLs and the client's case. */
    uint8_t q[64] = {0};
    mw_dns_put16(q, 4242);
    mw_dns_put16(q + 4, 1);
    memcpy(q + 12, "\7EXAMPLE\3com\0\0\1\0\1", 17);
    struct mw_dns_query pq;
    assert_int_equal(mw_dns_parse_query(q, 29, &pq), MW_PARSE_OK);
    struct mw_dns_client cl;
    mw_dns_client_from_query(&pq, false, &cl);
    static uint8_t out[MW_DNS_MAXMSG + 64];
    int n = mw_dns_render(&s, &cl, el, -1, out, sizeof(out));
    assert_int_equal(n, A.len);
    assert_int_equal(mw_dns_get16(out), 4242);
    assert_memory_equal(out + 12, "\7EXAMPLE", 8);
    assert_int_equal(mw_dns_get32(out + A.off[0]), 150);
    assert_int_equal(mw_dns_get32(out + A.off[1]), 50);

    /* Lifetime is the smallest TTL: 200 s. */
    assert_int_equal(look(c, &A, 1000 + 199999, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(look(c, &A, 1000 + 200000, false, &s, &el), MW_CACHE_MISS);
    struct mw_cache_stats st;
    mw_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.hits, 3);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.inserts, 1);
    mw_cache_free(c);
    mw_cache_free(NULL);
}

static void test_clamps(void **state)
{
    (void)state;
    struct mw_cache *c = cache(100, 60, 3600, 0);
    uint32_t ttls[] = {10, 86400};
    make(&A, "a.example", MW_RCODE_NOERROR, ttls, 2, -1, 0, false);
    assert_int_equal(insert(c, &A, 0), 0);
    struct mw_dns_stored s;
    uint32_t el;
    assert_int_equal(look(c, &A, 59999, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(s.ttl[0], 60);
    assert_int_equal(s.ttl[1], 3600);
    assert_int_equal(look(c, &A, 60000, false, &s, &el), MW_CACHE_MISS);

    /* Both TTLs above max: lifetime max. */
    uint32_t big[] = {100000, 90000};
    make(&B, "b.example", MW_RCODE_NOERROR, big, 2, -1, 0, false);
    assert_int_equal(insert(c, &B, 0), 0);
    assert_int_equal(look(c, &B, 3599999, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(look(c, &B, 3600000, false, &s, &el), MW_CACHE_MISS);

    /* Lifetime 0 is not stored (no min_ttl to lift it). */
    mw_cache_free(c);
    c = cache(100, 0, 3600, 0);
    uint32_t zero[] = {0, 300};
    make(&A, "a.example", MW_RCODE_NOERROR, zero, 2, -1, 0, false);
    assert_int_equal(insert(c, &A, 0), -EINVAL);
    assert_int_equal(look(c, &A, 0, false, &s, &el), MW_CACHE_MISS);
    mw_cache_free(c);
}

static void test_negative(void **state)
{
    (void)state;
    struct mw_cache *c = cache(100, 0, 86400, 0);
    struct mw_dns_stored s;
    uint32_t el;

    /* NXDOMAIN: lifetime min(SOA TTL 3600, MINIMUM 300); the SOA's TTL is served as 300. */
    make(&A, "nx.example", MW_RCODE_NXDOMAIN, NULL, 0, 3600, 300, false);
    assert_true(A.info.has_soa);
    assert_int_equal(insert(c, &A, 0), 0);
    assert_int_equal(look(c, &A, 299999, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(s.n_ttls, 1);
    assert_int_equal(s.ttl[0], 300);
    assert_int_equal(look(c, &A, 300000, false, &s, &el), MW_CACHE_MISS);

    /* NODATA (NOERROR, no answers) with an SOA. */
    make(&B, "nodata.example", MW_RCODE_NOERROR, NULL, 0, 120, 900, false);
    assert_int_equal(insert(c, &B, 0), 0);
    assert_int_equal(look(c, &B, 119000, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(s.ttl[0], 120);
    assert_int_equal(look(c, &B, 120000, false, &s, &el), MW_CACHE_MISS);

    /* Without an SOA neither is stored. */
    make(&C, "nosoa.example", MW_RCODE_NXDOMAIN, NULL, 0, -1, 0, false);
    assert_int_equal(insert(c, &C, 0), -EINVAL);
    make(&C, "nosoa.example", MW_RCODE_NOERROR, NULL, 0, -1, 0, false);
    assert_int_equal(insert(c, &C, 0), -EINVAL);
    assert_int_equal(look(c, &C, 0, false, &s, &el), MW_CACHE_MISS);

    /* NXDOMAIN with a CNAME answer: answer TTLs are capped to the negative lifetime. */
    uint32_t ttls[] = {5000};
    make(&D, "cname.example", MW_RCODE_NXDOMAIN, ttls, 1, 600, 60, false);
    assert_int_equal(insert(c, &D, 0), 0);
    assert_int_equal(look(c, &D, 0, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(s.ttl[0], 60);
    assert_int_equal(s.ttl[1], 60);
    mw_cache_free(c);

    /* Negative lifetime clamped to max_ttl, and lifted to min_ttl. */
    c = cache(100, 30, 100, 0);
    make(&A, "nx.example", MW_RCODE_NXDOMAIN, NULL, 0, 3600, 300, false);
    assert_int_equal(insert(c, &A, 0), 0);
    assert_int_equal(look(c, &A, 99999, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(s.ttl[0], 100);
    assert_int_equal(look(c, &A, 100000, false, &s, &el), MW_CACHE_MISS);
    /* min_ttl would give it a lifetime, but without an SOA it is still not stored. */
    make(&C, "nosoa.example", MW_RCODE_NXDOMAIN, NULL, 0, -1, 0, false);
    assert_int_equal(insert(c, &C, 0), -EINVAL);
    make(&B, "nx2.example", MW_RCODE_NXDOMAIN, NULL, 0, 0, 0, false);
    assert_int_equal(insert(c, &B, 0), 0);
    assert_int_equal(look(c, &B, 29999, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(s.ttl[0], 30);
    mw_cache_free(c);
}

static void test_not_stored(void **state)
{
    (void)state;
    struct mw_cache *c = cache(100, 0, 86400, 0);
    uint32_t ttls[] = {300};
    make(&A, "x.example", MW_RCODE_SERVFAIL, NULL, 0, 300, 300, false);
    assert_int_equal(insert(c, &A, 0), -EINVAL);
    make(&A, "x.example", MW_RCODE_REFUSED, ttls, 1, -1, 0, false);
    assert_int_equal(insert(c, &A, 0), -EINVAL);
    make(&A, "x.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    A.info.flags |= MW_DNS_TC;
    assert_int_equal(insert(c, &A, 0), -EINVAL);
    make(&A, "x.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    A.info.ttls_overflow = true;
    assert_int_equal(insert(c, &A, 0), -EINVAL);
    /* Answers counted but no TTL table: nothing to take a lifetime from. */
    make(&A, "x.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    A.info.n_ttls = 0;
    assert_int_equal(insert(c, &A, 0), -EINVAL);
    /* An extended rcode (BADVERS folded in) is not NOERROR. */
    make(&A, "x.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    A.info.rcode = 16;
    assert_int_equal(insert(c, &A, 0), -EINVAL);

    struct mw_cache_stats st;
    mw_cache_get_stats(c, &st);
    assert_int_equal(st.inserts, 0);
    assert_int_equal(st.entries, 0);
    mw_cache_free(c);

    /* max_entries 0: never store. */
    c = cache(0, 0, 86400, 0);
    make(&A, "x.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    assert_int_equal(insert(c, &A, 0), -EINVAL);
    struct mw_dns_stored s;
    uint32_t el;
    assert_int_equal(look(c, &A, 0, false, &s, &el), MW_CACHE_MISS);
    mw_cache_free(c);
}

static void test_lru(void **state)
{
    (void)state;
    struct mw_cache *c = cache(3, 0, 86400, 0);
    uint32_t ttls[] = {300};
    make(&A, "a.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    make(&B, "b.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    make(&C, "c.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    make(&D, "d.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    assert_int_equal(insert(c, &A, 0), 0);
    assert_int_equal(insert(c, &B, 0), 0);
    assert_int_equal(insert(c, &C, 0), 0);
    struct mw_dns_stored s;
    uint32_t el;
    /* Use A: B becomes the least recently used. */
    assert_int_equal(look(c, &A, 1, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(insert(c, &D, 2), 0);
    assert_int_equal(look(c, &B, 3, false, &s, &el), MW_CACHE_MISS);
    assert_int_equal(look(c, &C, 3, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(look(c, &D, 3, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(look(c, &A, 3, false, &s, &el), MW_CACHE_HIT);
    /* Order now A, D, C (front to back): inserting B evicts C. */
    assert_int_equal(insert(c, &B, 4), 0);
    assert_int_equal(look(c, &C, 5, false, &s, &el), MW_CACHE_MISS);
    assert_int_equal(look(c, &A, 5, false, &s, &el), MW_CACHE_HIT);
    struct mw_cache_stats st;
    mw_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 2);
    assert_int_equal(st.inserts, 5);

    /* Replacing an entry neither evicts nor grows. */
    uint32_t other[] = {77};
    make(&D, "d.example", MW_RCODE_NOERROR, other, 1, -1, 0, false);
    assert_int_equal(insert(c, &D, 6), 0);
    mw_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 2);
    assert_int_equal(look(c, &D, 6, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(s.ttl[0], 77);
    assert_int_equal(look(c, &A, 6, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(look(c, &B, 6, false, &s, &el), MW_CACHE_HIT);

    /* Shrinking evicts now, from the LRU end (D was used least recently). */
    struct mw_cache_params p = {.max_entries = 2, .max_ttl = 86400};
    mw_cache_set_params(c, &p);
    assert_int_equal(look(c, &D, 7, false, &s, &el), MW_CACHE_MISS);
    assert_int_equal(look(c, &A, 7, false, &s, &el), MW_CACHE_HIT);
    assert_int_equal(look(c, &B, 7, false, &s, &el), MW_CACHE_HIT);
    mw_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.evictions, 3);
    mw_cache_free(c);
}

static void test_stale(void **state)
{
    (void)state;
    struct mw_cache *c = cache(10, 0, 86400, 60);
    uint32_t ttls[] = {10};
    make(&A, "s.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    assert_int_equal(insert(c, &A, 1000), 0);
    struct mw_dns_stored s;
    uint32_t el;
    assert_int_equal(look(c, &A, 10999, true, &s, &el), MW_CACHE_HIT);
    assert_int_equal(look(c, &A, 11000, true, &s, &el), MW_CACHE_STALE);
    assert_int_equal(el, 10);
    assert_int_equal(s.len, (size_t)A.len);
    /* Within the window but stale not allowed: a miss that keeps the entry. */
    assert_int_equal(look(c, &A, 16000, false, &s, &el), MW_CACHE_MISS);
    assert_int_equal(look(c, &A, 70999, true, &s, &el), MW_CACHE_STALE);
    assert_int_equal(el, 69);
    struct mw_cache_stats st;
    mw_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.stale_hits, 2);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 1);
    /* Past the window: removed. */
    assert_int_equal(look(c, &A, 71000, true, &s, &el), MW_CACHE_MISS);
    mw_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.expired, 1);
    assert_int_equal(look(c, &A, 71000, true, &s, &el), MW_CACHE_MISS);
    mw_cache_free(c);

    /* Without serve_stale an expired entry goes at once. */
    c = cache(10, 0, 86400, 0);
    assert_int_equal(insert(c, &A, 0), 0);
    assert_int_equal(look(c, &A, 10000, true, &s, &el), MW_CACHE_MISS);
    mw_cache_get_stats(c, &st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.entries, 0);
    mw_cache_free(c);
}

static void test_keys(void **state)
{
    (void)state;
    struct mw_cache *c = cache(10, 0, 86400, 0);
    uint32_t ttls[] = {300};
    make(&A, "k.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    make(&B, "k.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, true);
    assert_false(mw_cache_key_equal(&A.key, &B.key));
    assert_int_equal(A.key.len, B.key.len);
    assert_int_equal(insert(c, &A, 0), 0);
    struct mw_dns_stored s;
    uint32_t el;
    assert_int_equal(look(c, &B, 0, false, &s, &el), MW_CACHE_MISS);
    assert_int_equal(look(c, &A, 0, false, &s, &el), MW_CACHE_HIT);

    /* Names compare case-insensitively; type and class are part of the key. */
    struct mw_dns_question q = A.info.q;
    q.qname[1] = 'K';
    struct mw_cache_key k;
    mw_cache_key_make(&q, false, &k);
    assert_true(mw_cache_key_equal(&k, &A.key));
    assert_true(mw_cache_key_hash(c, &k) == mw_cache_key_hash(c, &A.key));
    /* Each cache keys its hash with its own random seed (no process-wide seed). */
    struct mw_cache *c2 = cache(10, 0, 86400, 0);
    assert_true(mw_cache_key_hash(c2, &k) != mw_cache_key_hash(c, &k));
    mw_cache_free(c2);
    assert_int_equal(mw_cache_lookup(c, &k, 0, false, &s, &el), MW_CACHE_HIT);
    q.qtype = MW_TYPE_AAAA;
    mw_cache_key_make(&q, false, &k);
    assert_false(mw_cache_key_equal(&k, &A.key));
    assert_int_equal(mw_cache_lookup(c, &k, 0, false, &s, &el), MW_CACHE_MISS);
    q.qtype = MW_TYPE_A;
    q.qclass = 3;
    mw_cache_key_make(&q, false, &k);
    assert_int_equal(mw_cache_lookup(c, &k, 0, false, &s, &el), MW_CACHE_MISS);

    /* Clear drops everything but the counters. */
    assert_int_equal(insert(c, &B, 0), 0);
    mw_cache_clear(c);
    assert_int_equal(look(c, &A, 0, false, &s, &el), MW_CACHE_MISS);
    assert_int_equal(look(c, &B, 0, false, &s, &el), MW_CACHE_MISS);
    struct mw_cache_stats st;
    mw_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0); /* the byte count starts over too (max-bytes) */
    assert_int_equal(st.inserts, 2);
    assert_int_equal(insert(c, &A, 0), 0);
    assert_int_equal(look(c, &A, 0, false, &s, &el), MW_CACHE_HIT);
    mw_cache_free(c);
}

/* minewall-ctl flush NAME: every entry of the name (any type, DO bit), nothing else. */
static void test_remove_name(void **state)
{
    (void)state;
    struct mw_cache *c = cache(100, 0, 86400, 0);
    uint32_t ttls[] = {300};
    static struct resp a1, a2, other;
    make(&a1, "flush.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    make(&a2, "FLUSH.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, true);
    make(&other, "sub.flush.example", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    assert_int_equal(insert(c, &a1, 0), 0);
    assert_int_equal(insert(c, &a2, 0), 0);
    assert_int_equal(insert(c, &other, 0), 0);
    uint8_t name[256];
    int n = mw_dname_from_text("flush.example", name, sizeof(name));
    assert_int_equal(mw_cache_remove_name(c, name, (size_t)n), 2);
    struct mw_dns_stored s;
    uint32_t el;
    assert_int_equal(look(c, &a1, 0, false, &s, &el), MW_CACHE_MISS);
    assert_int_equal(look(c, &a2, 0, false, &s, &el), MW_CACHE_MISS);
    assert_int_equal(look(c, &other, 0, false, &s, &el), MW_CACHE_HIT);
    struct mw_cache_stats st;
    mw_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(mw_cache_remove_name(c, name, (size_t)n), 0);
    mw_cache_free(c);
}

/* Many names: the table spreads them, evicts the oldest, and survives growing. */
static void test_many(void **state)
{
    (void)state;
    struct mw_cache *c = cache(1000, 0, 86400, 0);
    uint32_t ttls[] = {300};
    static struct resp r;
    char name[64];
    struct mw_dns_stored s;
    uint32_t el;
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "host%d.example.com", i);
        make(&r, name, MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
        assert_int_equal(insert(c, &r, 0), 0);
    }
    struct mw_cache_stats st;
    mw_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 1000);
    assert_int_equal(st.evictions, 2000);
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "host%d.example.com", i);
        make(&r, name, MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
        assert_int_equal(look(c, &r, 1, false, &s, &el), i >= 2000 ? MW_CACHE_HIT : MW_CACHE_MISS);
        if (i >= 2000)
            assert_memory_equal(s.pkt, r.out, s.len);
    }

    /* Grow: everything stays reachable after the rehash, and more fits. */
    struct mw_cache_params p = {.max_entries = 5000, .max_ttl = 86400};
    mw_cache_set_params(c, &p);
    for (int i = 3000; i < 7000; i++) {
        snprintf(name, sizeof(name), "host%d.example.com", i);
        make(&r, name, MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
        assert_int_equal(insert(c, &r, 2), 0);
    }
    mw_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 5000);
    for (int i = 2000; i < 7000; i++) {
        snprintf(name, sizeof(name), "host%d.example.com", i);
        make(&r, name, MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
        assert_int_equal(look(c, &r, 3, false, &s, &el), MW_CACHE_HIT);
    }
    mw_cache_free(c);
}

/* The byte bound: entries are evicted least recently used first until the bytes fit, those
 * evictions are counted apart, and an answer larger than the bound is not stored. */
static void test_max_bytes(void **state)
{
    (void)state;
    struct mw_cache_params p = {.max_entries = 100000, .max_ttl = 86400, .max_bytes = 16384};
    struct mw_cache *c = mw_cache_new(&p);
    assert_non_null(c);
    uint32_t ttls[8] = {300, 300, 300, 300, 300, 300, 300, 300};
    static struct resp r;
    char name[64];
    struct mw_dns_stored s;
    uint32_t el;
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "host%d.example.com", i);
        make(&r, name, MW_RCODE_NOERROR, ttls, 8, -1, 0, false);
        assert_int_equal(insert(c, &r, 0), 0);
        struct mw_cache_stats st;
        mw_cache_get_stats(c, &st);
        assert_true(st.bytes <= p.max_bytes);
    }
    struct mw_cache_stats st;
    mw_cache_get_stats(c, &st);
    assert_true(st.entries > 10 && st.entries < 1000);
    assert_int_equal(st.evictions, 1000 - st.entries);
    assert_int_equal(st.evictions_bytes, st.evictions);
    /* the newest is there, the oldest gone */
    assert_int_equal(look(c, &r, 1, false, &s, &el), MW_CACHE_HIT);
    make(&r, "host0.example.com", MW_RCODE_NOERROR, ttls, 8, -1, 0, false);
    assert_int_equal(look(c, &r, 1, false, &s, &el), MW_CACHE_MISS);
    /* shrinking the bound evicts now */
    p.max_bytes = 4096;
    mw_cache_set_params(c, &p);
    mw_cache_get_stats(c, &st);
    assert_true(st.bytes <= 4096);
    /* an answer larger than the whole bound is refused, not stored by evicting everything */
    p.max_bytes = 200;
    mw_cache_set_params(c, &p);
    make(&r, "big.example.com", MW_RCODE_NOERROR, ttls, 8, -1, 0, false);
    assert_int_equal(insert(c, &r, 2), -EINVAL);
    mw_cache_free(c);
}

static void test_shards_for(void **state)
{
    (void)state;
    assert_int_equal(mw_cache_shards_for(1, 100000), 1);
    assert_int_equal(mw_cache_shards_for(2, 100000), 8);
    assert_int_equal(mw_cache_shards_for(3, 100000), 16);
    assert_int_equal(mw_cache_shards_for(64, 100000000), MW_CACHE_MAX_SHARDS);
    assert_int_equal(mw_cache_shards_for(2, 1000), 2); /* at least 256 entries a shard */
    assert_int_equal(mw_cache_shards_for(8, 10), 1);
}

/* With shards the entry and byte bounds are the whole cache's: never passed, and every
 * entry over them counted as an eviction. */
static void test_shard_bounds(void **state)
{
    (void)state;
    struct mw_cache_params p = {.max_entries = 1001, .max_ttl = 86400, .shards = 8};
    struct mw_cache *c = mw_cache_new(&p);
    assert_non_null(c);
    uint32_t ttls[] = {300};
    static struct resp r;
    char name[64];
    struct mw_cache_stats st;
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "s%d.example.com", i);
        make(&r, name, MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
        assert_int_equal(insert(c, &r, 0), 0);
    }
    mw_cache_get_stats(c, &st);
    assert_true(st.entries <= 1001);
    assert_true(st.entries > 900); /* the shards fill about evenly */
    assert_int_equal(st.evictions, 5000 - st.entries);
    assert_int_equal(st.inserts, 5000);
    /* every name still held is found, whatever its shard */
    size_t hits = 0;
    struct mw_dns_stored s;
    uint32_t el;
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "s%d.example.com", i);
        make(&r, name, MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
        if (look(c, &r, 1, false, &s, &el) == MW_CACHE_HIT) {
            assert_memory_equal(s.pkt, r.out, s.len);
            hits++;
        }
    }
    assert_int_equal(hits, st.entries);
    /* the byte bound over shards */
    p.max_bytes = 20000;
    mw_cache_set_params(c, &p);
    mw_cache_get_stats(c, &st);
    assert_true(st.bytes <= 20000);
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "b%d.example.com", i);
        make(&r, name, MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
        assert_int_equal(insert(c, &r, 0), 0);
        mw_cache_get_stats(c, &st);
        assert_true(st.bytes <= 20000);
    }
    assert_true(st.evictions_bytes > 0);
    /* one name's types live in several shards: remove_name finds them all */
    for (uint16_t t = 1; t < 40; t++) {
        make(&r, "multi.example.com", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
        mw_dns_put16(r.key.data + r.key.len - 5, t);
        assert_int_equal(insert(c, &r, 0), 0);
    }
    static const uint8_t multi[] = "\5multi\7example\3com";
    assert_int_equal(mw_cache_remove_name(c, multi, sizeof(multi)), 39);
    mw_cache_get_stats(c, &st);
    assert_int_equal(mw_cache_clear(c), st.entries);
    mw_cache_free(c);
}

/* A held entry stays readable after it is replaced, evicted and the cache cleared; the last
 * release frees it (ASan checks both). insert_hold hands out the clamped TTLs. */
static void test_hold(void **state)
{
    (void)state;
    struct mw_cache *c = cache(1, 0, 100, 0);
    uint32_t ttls[] = {300};
    make(&A, "held.example.com", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    struct mw_dns_stored s, s2;
    struct mw_cache_entry *ref, *ref2;
    assert_int_equal(
        mw_cache_insert_hold(c, &A.key, A.out, (size_t)A.len, &A.info, A.off, A.ttl, 0, &s, &ref),
        0);
    assert_non_null(ref);
    assert_int_equal(s.ttl[0], 100); /* clamped by max_ttl */
    uint32_t el;
    uint64_t h = mw_cache_key_hash(c, &A.key);
    assert_int_equal(mw_cache_lookup_hold(c, &A.key, h, 1500, false, &s2, &el, &ref2),
                     MW_CACHE_HIT);
    assert_ptr_equal(ref, ref2);
    assert_int_equal(el, 1);
    mw_cache_stamp_set(s2.stamp, 77);
    assert_int_equal(mw_cache_stamp_get(s.stamp), 77);
    /* B evicts A (one entry); A's pointers stay valid for its holders */
    make(&B, "other.example.com", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    assert_int_equal(insert(c, &B, 0), 0);
    assert_int_equal(mw_cache_lookup_hold(c, &A.key, h, 1500, false, &s2, &el, &ref2),
                     MW_CACHE_MISS);
    assert_null(ref2);
    assert_memory_equal(s.pkt, A.out, s.len);
    mw_cache_release(c, ref);
    assert_memory_equal(s.pkt, A.out, s.len); /* the first lookup's reference still holds */
    mw_cache_release(c, ref);                 /* that one: freed now */
    assert_int_equal(
        mw_cache_lookup_hold(c, &B.key, mw_cache_key_hash(c, &B.key), 0, false, &s, &el, &ref),
        MW_CACHE_HIT);
    assert_int_equal(mw_cache_clear(c), 1);
    assert_memory_equal(s.pkt, B.out, s.len);
    mw_cache_release(c, ref);
    mw_cache_release(c, NULL);
    mw_cache_free(c);
}

/* Threads that share the cache: each inserts its own names and names of the others, looks
 * up, holds and renders from entries while the others evict, and one clears now and then.
 * Every hit must carry the packet of its own name. */
struct th_arg {
    struct mw_cache *c;
    unsigned id;
    unsigned hits;
    unsigned bad; /* hits or holds with another packet (cmocka's asserts are for the main thread) */
};

static void *th_run(void *arg)
{
    struct th_arg *a = arg;
    static __thread struct resp r;
    uint32_t ttls[] = {300};
    char name[64];
    for (unsigned i = 0; i < 20000; i++) {
        snprintf(name, sizeof(name), "n%u.example.com", (i * 7 + a->id) % 3000);
        make(&r, name, MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
        struct mw_dns_stored s;
        struct mw_cache_entry *ref;
        uint32_t el;
        /* Every 4th name is asked again at once: a hit whatever the threads' timing (the
         * 3,000 names of the others overflow the 1,000 entries between two rounds). */
        if (i % 4 == 0) {
            if (mw_cache_lookup_hold(a->c, &r.key, mw_cache_key_hash(a->c, &r.key), i, false, &s,
                                     &el, &ref) == MW_CACHE_HIT) {
                a->hits++;
                mw_cache_release(a->c, ref);
            } else if (mw_cache_insert_hold(a->c, &r.key, r.out, (size_t)r.len, &r.info, r.off,
                                            r.ttl, i, &s, &ref) == 0) {
                mw_cache_release(a->c, ref);
            }
        }
        if (mw_cache_lookup_hold(a->c, &r.key, mw_cache_key_hash(a->c, &r.key), i, false, &s, &el,
                                 &ref) == MW_CACHE_HIT) {
            if (s.len != (size_t)r.len || memcmp(s.pkt + 12, r.out + 12, s.len - 12) != 0)
                a->bad++;
            if (mw_cache_stamp_get(s.stamp) != a->id)
                mw_cache_stamp_set(s.stamp, a->id);
            mw_cache_release(a->c, ref);
            a->hits++;
        } else if (mw_cache_insert_hold(a->c, &r.key, r.out, (size_t)r.len, &r.info, r.off, r.ttl,
                                        i, &s, &ref) == 0) {
            if (s.len != (size_t)r.len || memcmp(s.pkt + 12, r.out + 12, s.len - 12) != 0)
                a->bad++;
            mw_cache_release(a->c, ref);
        }
        if (a->id == 0 && i % 5000 == 4999)
            mw_cache_clear(a->c);
        if (a->id == 1 && i % 3000 == 2999)
            mw_cache_remove_name(a->c, r.key.data, r.key.len - 5);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct mw_cache_params p = {
        .max_entries = 1000, .max_ttl = 86400, .max_bytes = 200000, .shards = 4};
    struct mw_cache *c = mw_cache_new(&p);
    assert_non_null(c);
    pthread_t t[4];
    struct th_arg a[4];
    for (unsigned i = 0; i < 4; i++) {
        a[i] = (struct th_arg){.c = c, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, th_run, &a[i]), 0);
    }
    unsigned hits = 0;
    for (unsigned i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        hits += a[i].hits;
        assert_int_equal(a[i].bad, 0);
    }
    struct mw_cache_stats st;
    mw_cache_get_stats(c, &st);
    assert_true(st.entries <= 1000);
    assert_true(st.bytes <= 200000);
    assert_int_equal(st.hits, hits);
    assert_true(hits > 0);
    mw_cache_free(c);
}

/* In-flight marks: the first thread to claim a key owns it, the others park (and are named
 * when it unclaims), the owner's own second claim is not marked, and an answer inserted
 * before a claim makes it a hit. */
static void test_claim(void **state)
{
    (void)state;
    struct mw_cache_params p = {.max_entries = 1000, .max_ttl = 86400, .shards = 4};
    struct mw_cache *c = mw_cache_new(&p);
    assert_non_null(c);
    uint32_t ttls[] = {300};
    make(&A, "claimed.example.com", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    make(&B, "other.example.com", MW_RCODE_NOERROR, ttls, 1, -1, 0, false);
    uint64_t ha = mw_cache_key_hash(c, &A.key), hb = mw_cache_key_hash(c, &B.key);
    struct mw_cache_mark ma = {0}, mb = {0}, spare = {0};
    assert_int_equal(mw_cache_claim(c, &A.key, ha, 0, 0, 0, &ma), MW_CACHE_CLAIM_OWNED);
    assert_true(ma.linked);
    assert_int_equal(mw_cache_claim(c, &A.key, ha, 0, 0, 0, &spare), MW_CACHE_CLAIM_NONE);
    assert_int_equal(mw_cache_claim(c, &A.key, ha, 0, 0, 3, &spare), MW_CACHE_CLAIM_PARKED);
    assert_int_equal(mw_cache_claim(c, &A.key, ha, 0, 0, 5, &spare), MW_CACHE_CLAIM_PARKED);
    assert_int_equal(mw_cache_claim(c, &A.key, ha, 0, 0, 3, &spare), MW_CACHE_CLAIM_PARKED);
    assert_false(spare.linked);
    /* another variant (the CD bit) of the key is a fetch of its own */
    struct mw_cache_mark mcd = {0};
    assert_int_equal(mw_cache_claim(c, &A.key, ha, 1, 0, 3, &mcd), MW_CACHE_CLAIM_OWNED);
    assert_int_equal(mw_cache_unclaim(c, &mcd), 0);
    assert_int_equal(mw_cache_claim(c, &B.key, hb, 0, 0, 1, &mb), MW_CACHE_CLAIM_OWNED);
    /* the owner inserts, then unclaims: threads 3 and 5 are told */
    assert_int_equal(insert(c, &A, 0), 0);
    assert_int_equal(mw_cache_claim(c, &A.key, ha, 0, 10, 7, &spare), MW_CACHE_CLAIM_HIT);
    assert_true(mw_cache_unclaim(c, &ma) == ((1u << 3) | (1u << 5)));
    assert_false(ma.linked);
    assert_int_equal(mw_cache_unclaim(c, &ma), 0);
    /* expired: a claim again */
    assert_int_equal(mw_cache_claim(c, &A.key, ha, 0, 400000, 2, &ma), MW_CACHE_CLAIM_OWNED);
    assert_int_equal(mw_cache_unclaim(c, &ma), 0);
    assert_int_equal(mw_cache_unclaim(c, &mb), 0);
    assert_int_equal(mw_cache_claim(c, &B.key, hb, 0, 0, 1, &mb), MW_CACHE_CLAIM_OWNED);
    assert_int_equal(mw_cache_unclaim(c, &mb), 0);
    mw_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit),        cmocka_unit_test(test_clamps),
        cmocka_unit_test(test_negative),   cmocka_unit_test(test_not_stored),
        cmocka_unit_test(test_lru),        cmocka_unit_test(test_stale),
        cmocka_unit_test(test_keys),       cmocka_unit_test(test_remove_name),
        cmocka_unit_test(test_many),       cmocka_unit_test(test_max_bytes),
        cmocka_unit_test(test_shards_for), cmocka_unit_test(test_shard_bounds),
        cmocka_unit_test(test_hold),       cmocka_unit_test(test_threads),
        cmocka_unit_test(test_claim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
