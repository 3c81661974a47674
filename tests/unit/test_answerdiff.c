/* Unit tests for answerdiff.c: first sight is not a change, addresses added and removed,
 * order, duplicates and TTLs are no change, numeric sorting, CNAME chains and retargets,
 * CNAME/NS/MX/AAAA values, skipped and malformed responses, the LRU bound with eviction and
 * re-learning, forget, the value cap and the counters. Responses are built here as wire
 * packets, some with compression pointers in owners and rdata. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "minewall/answerdiff.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"

#include "pktbuild.h"

static int obs(struct mw_answerdiff *ad, const char *qname, uint16_t qtype, const struct pkt *p,
               uint64_t now, struct mw_answer_change *out)
{
    uint8_t w[256];
    int n = mw_dname_from_text(qname, w, sizeof(w));
    assert_true(n > 0);
    return mw_answerdiff_observe(ad, w, (size_t)n, qtype, p->b, p->len, now, out);
}

/* The values of a list joined with ",". */
static const char *join(const struct mw_answer_list *l)
{
    static char buf[4][4096];
    static int k;
    char *b = buf[k++ & 3];
    b[0] = '\0';
    for (uint16_t i = 0; i < l->n; i++) {
        if (i)
            strcat(b, ",");
        strcat(b, l->v[i]);
    }
    return b;
}

static const char *join_chain(const char *const *v, uint8_t n)
{
    static char buf[2][4096];
    static int k;
    char *b = buf[k++ & 1];
    b[0] = '\0';
    for (uint8_t i = 0; i < n; i++) {
        if (i)
            strcat(b, ",");
        strcat(b, v[i]);
    }
    return b;
}

/* An A response for name with the given addresses, all with ttl. */
static void a_resp(struct pkt *p, const char *name, const char *const *ips, int n, uint32_t ttl)
{
    pk_start(p, name, MW_TYPE_A, 0);
    for (int i = 0; i < n; i++)
        pk_addr(p, NULL, ips[i], ttl);
}

static void test_first_sight(void **state)
{
    (void)state;
    struct mw_answerdiff *ad = mw_answerdiff_new(10);
    assert_non_null(ad);
    struct pkt p;
    struct mw_answer_change ch;
    const char *ips[] = {"192.0.2.1"};
    a_resp(&p, "www.example", ips, 1, 300);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 1000, &ch), 0);
    assert_false(ch.values_changed);
    assert_int_equal(ch.new_set.n, 0);
    assert_int_equal(mw_answerdiff_count(ad), 1);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 2000, &ch), 0);
    /* The same name with another type is another pair: its first sight. */
    pk_start(&p, "www.example", MW_TYPE_AAAA, 0);
    pk_addr(&p, NULL, "2001:db8::1", 300);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_AAAA, &p, 2000, &ch), 0);
    assert_int_equal(mw_answerdiff_count(ad), 2);
    struct mw_answerdiff_stats st;
    mw_answerdiff_get_stats(ad, &st);
    assert_int_equal(st.first_seen, 2);
    assert_int_equal(st.observed, 3);
    assert_int_equal(st.changes, 0);
    assert_int_equal(st.names, 2);
    assert_true(st.bytes > 0);
    assert_true(st.bytes_per_name > 0 && st.bytes_per_name < 256);
    mw_answerdiff_free(ad);
    mw_answerdiff_free(NULL);
}

static void test_added_removed(void **state)
{
    (void)state;
    struct mw_answerdiff *ad = mw_answerdiff_new(10);
    struct pkt p;
    struct mw_answer_change ch;
    const char *one[] = {"192.0.2.1"};
    const char *two[] = {"192.0.2.2", "192.0.2.1"};
    const char *other[] = {"198.51.100.7"};
    a_resp(&p, "www.example", one, 1, 300);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 1000, &ch), 0);

    a_resp(&p, "www.example", two, 2, 120);
    assert_int_equal(obs(ad, "WWW.Example", MW_TYPE_A, &p, 5000, &ch), 1);
    assert_true(ch.values_changed);
    assert_false(ch.cname_changed);
    assert_string_equal(join(&ch.old_set), "192.0.2.1");
    assert_string_equal(join(&ch.new_set), "192.0.2.1,192.0.2.2");
    assert_string_equal(join(&ch.added), "192.0.2.2");
    assert_string_equal(join(&ch.removed), "");
    assert_int_equal(ch.ttl, 120);
    assert_int_equal(ch.old_ttl, 300);
    assert_int_equal(ch.old_seen_ms, 1000);
    assert_int_equal(ch.qtype, MW_TYPE_A);
    assert_memory_equal(ch.qname, "\3www\7example", 13); /* lowercased */
    assert_false(ch.new_set.truncated);

    a_resp(&p, "www.example", other, 1, 60);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 6000, &ch), 1);
    assert_string_equal(join(&ch.added), "198.51.100.7");
    assert_string_equal(join(&ch.removed), "192.0.2.1,192.0.2.2");
    assert_int_equal(ch.old_seen_ms, 5000);

    /* NODATA: the set became empty. */
    pk_start(&p, "www.example", MW_TYPE_A, 0);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 7000, &ch), 1);
    assert_string_equal(join(&ch.removed), "198.51.100.7");
    assert_int_equal(ch.new_set.n, 0);
    assert_int_equal(ch.ttl, 0);
    struct mw_answerdiff_stats st;
    mw_answerdiff_get_stats(ad, &st);
    assert_int_equal(st.changes, 3);
    assert_int_equal(mw_answerdiff_count(ad), 1);
    mw_answerdiff_free(ad);
}

static void test_order_dup_ttl(void **state)
{
    (void)state;
    struct mw_answerdiff *ad = mw_answerdiff_new(10);
    struct pkt p;
    struct mw_answer_change ch;
    const char *a[] = {"192.0.2.10", "192.0.2.9", "10.0.0.1"};
    const char *b[] = {"10.0.0.1", "192.0.2.9", "192.0.2.10", "192.0.2.9"};
    const char *c[] = {"192.0.2.9", "10.0.0.1"};
    a_resp(&p, "x.example", a, 3, 300);
    assert_int_equal(obs(ad, "x.example", MW_TYPE_A, &p, 1, &ch), 0);
    a_resp(&p, "x.example", b, 4, 17); /* other order, a duplicate, another TTL */
    assert_int_equal(obs(ad, "x.example", MW_TYPE_A, &p, 2, &ch), 0);
    assert_false(ch.values_changed);
    /* Sorted numerically, not as text: 9 before 10. */
    a_resp(&p, "x.example", c, 2, 300);
    assert_int_equal(obs(ad, "x.example", MW_TYPE_A, &p, 3, &ch), 1);
    assert_string_equal(join(&ch.old_set), "10.0.0.1,192.0.2.9,192.0.2.10");
    assert_string_equal(join(&ch.removed), "192.0.2.10");
    /* Records of another owner in the answer (no CNAME leads there) are not part of the set. */
    a_resp(&p, "x.example", c, 2, 300);
    pk_addr(&p, "y.example", "203.0.113.1", 300);
    assert_int_equal(obs(ad, "x.example", MW_TYPE_A, &p, 4, &ch), 0);
    mw_answerdiff_free(ad);
}

static void test_cname_retarget(void **state)
{
    (void)state;
    struct mw_answerdiff *ad = mw_answerdiff_new(10);
    struct pkt p;
    struct mw_answer_change ch;
    /* www -> a.cdn -> edge.cdn -> 192.0.2.1; records deliberately out of order. */
    pk_start(&p, "www.example", MW_TYPE_A, 0);
    pk_addr(&p, "edge.cdn.example", "192.0.2.1", 20);
    pk_name(&p, "a.cdn.example", MW_TYPE_CNAME, "edge.cdn.example", 600);
    pk_name(&p, NULL, MW_TYPE_CNAME, "a.cdn.example", 3600);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 1, &ch), 0);

    /* Same chain, same address: nothing. */
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 2, &ch), 0);

    /* Retarget to b.cdn with the same address. */
    pk_start(&p, "www.example", MW_TYPE_A, 0);
    pk_name(&p, NULL, MW_TYPE_CNAME, "b.cdn.example", 3600);
    pk_addr(&p, "b.cdn.example", "192.0.2.1", 30);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 3, &ch), 1);
    assert_true(ch.cname_changed);
    assert_false(ch.values_changed);
    assert_string_equal(join_chain(ch.old_chain, ch.old_chain_n), "a.cdn.example,edge.cdn.example");
    assert_string_equal(join_chain(ch.new_chain, ch.new_chain_n), "b.cdn.example");
    assert_string_equal(join(&ch.new_set), "192.0.2.1");
    assert_int_equal(ch.ttl, 30); /* min over chain and values */
    assert_int_equal(ch.old_ttl, 20);

    /* Retarget and new address; the CNAME target is a compression pointer target too. */
    pk_start(&p, "www.example", MW_TYPE_A, 0);
    pk_name(&p, NULL, MW_TYPE_CNAME, "c.cdn.example", 3600);
    pk_addr(&p, "c.cdn.example", "198.51.100.1", 30);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 4, &ch), 1);
    assert_true(ch.cname_changed);
    assert_true(ch.values_changed);
    assert_string_equal(join(&ch.added), "198.51.100.1");

    /* A CNAME loop ends at the hop limit without error. */
    pk_start(&p, "loop.example", MW_TYPE_A, 0);
    pk_name(&p, NULL, MW_TYPE_CNAME, "loop2.example", 60);
    pk_name(&p, "loop2.example", MW_TYPE_CNAME, "loop.example", 60);
    assert_int_equal(obs(ad, "loop.example", MW_TYPE_A, &p, 5, &ch), 0);
    assert_int_equal(obs(ad, "loop.example", MW_TYPE_A, &p, 6, &ch), 0);
    mw_answerdiff_free(ad);
}

static void test_cname_type(void **state)
{
    (void)state;
    struct mw_answerdiff *ad = mw_answerdiff_new(10);
    struct pkt p;
    struct mw_answer_change ch;
    pk_start(&p, "alias.example", MW_TYPE_CNAME, 0);
    pk_name(&p, NULL, MW_TYPE_CNAME, "one.example", 60);
    assert_int_equal(obs(ad, "alias.example", MW_TYPE_CNAME, &p, 1, &ch), 0);
    pk_start(&p, "alias.example", MW_TYPE_CNAME, 0);
    pk_name(&p, NULL, MW_TYPE_CNAME, "Two.Example", 60);
    assert_int_equal(obs(ad, "alias.example", MW_TYPE_CNAME, &p, 2, &ch), 1);
    assert_true(ch.cname_changed);
    assert_string_equal(join(&ch.old_set), "one.example");
    assert_string_equal(join(&ch.new_set), "two.example");
    assert_int_equal(ch.new_chain_n, 0);
    mw_answerdiff_free(ad);
}

static void test_ns_mx_aaaa(void **state)
{
    (void)state;
    struct mw_answerdiff *ad = mw_answerdiff_new(10);
    struct pkt p;
    struct mw_answer_change ch;

    pk_start(&p, "example", MW_TYPE_MX, 0);
    pk_mx(&p, NULL, 20, "mx2.example", 300);
    pk_mx(&p, NULL, 10, "mx1.example", 300);
    assert_int_equal(obs(ad, "example", MW_TYPE_MX, &p, 1, &ch), 0);
    pk_start(&p, "example", MW_TYPE_MX, 0);
    pk_mx(&p, NULL, 5, "mx.evil.example", 300);
    pk_mx(&p, NULL, 10, "mx1.example", 300);
    pk_mx(&p, NULL, 20, "mx2.example", 300);
    assert_int_equal(obs(ad, "example", MW_TYPE_MX, &p, 2, &ch), 1);
    assert_string_equal(join(&ch.new_set), "5 mx.evil.example,10 mx1.example,20 mx2.example");
    assert_string_equal(join(&ch.added), "5 mx.evil.example");

    pk_start(&p, "example", MW_TYPE_NS, 0);
    pk_name(&p, NULL, MW_TYPE_NS, "ns1.example", 300);
    assert_int_equal(obs(ad, "example", MW_TYPE_NS, &p, 3, &ch), 0);
    pk_start(&p, "example", MW_TYPE_NS, 0);
    pk_name(&p, NULL, MW_TYPE_NS, "ns1.example", 300);
    pk_name(&p, NULL, MW_TYPE_NS, NULL, 300); /* in-bailiwick "example" itself, compressed */
    assert_int_equal(obs(ad, "example", MW_TYPE_NS, &p, 4, &ch), 1);
    assert_string_equal(join(&ch.added), "example");

    pk_start(&p, "v6.example", MW_TYPE_AAAA, 0);
    pk_addr(&p, NULL, "2001:db8::1", 300);
    assert_int_equal(obs(ad, "v6.example", MW_TYPE_AAAA, &p, 5, &ch), 0);
    pk_start(&p, "v6.example", MW_TYPE_AAAA, 0);
    pk_addr(&p, NULL, "2001:db8:0:0:0:0:0:2", 300);
    assert_int_equal(obs(ad, "v6.example", MW_TYPE_AAAA, &p, 6, &ch), 1);
    assert_string_equal(join(&ch.added), "2001:db8::2");
    assert_string_equal(join(&ch.removed), "2001:db8::1");
    assert_int_equal(mw_answerdiff_count(ad), 3);
    assert_string_equal(mw_answerdiff_type_name(MW_TYPE_MX), "MX");
    assert_null(mw_answerdiff_type_name(MW_TYPE_TXT));
    mw_answerdiff_free(ad);
}

static void test_skipped_and_bad(void **state)
{
    (void)state;
    struct mw_answerdiff *ad = mw_answerdiff_new(10);
    struct pkt p;
    struct mw_answer_change ch;
    const char *one[] = {"192.0.2.1"};
    a_resp(&p, "www.example", one, 1, 300);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 1, &ch), 0);

    /* SERVFAIL and TC say nothing about the set. */
    pk_start(&p, "www.example", MW_TYPE_A, MW_RCODE_SERVFAIL);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 2, &ch), 0);
    pk_start(&p, "www.example", MW_TYPE_A, MW_DNS_TC);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 3, &ch), 0);
    pk_start(&p, "new.example", MW_TYPE_A, MW_RCODE_NXDOMAIN);
    assert_int_equal(obs(ad, "new.example", MW_TYPE_A, &p, 3, &ch), 0);
    assert_int_equal(mw_answerdiff_count(ad), 1);
    /* Untracked type. */
    pk_start(&p, "www.example", MW_TYPE_TXT, 0);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_TXT, &p, 3, &ch), 0);
    assert_int_equal(mw_answerdiff_count(ad), 1);

    /* Question mismatch, truncated packet, bad rdata length, not a response. */
    a_resp(&p, "www.example", one, 1, 300);
    assert_int_equal(obs(ad, "other.example", MW_TYPE_A, &p, 4, &ch), -EBADMSG);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_AAAA, &p, 4, &ch), -EBADMSG);
    struct pkt q = p;
    q.len -= 2;
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &q, 4, &ch), -EBADMSG);
    pk_start(&q, "www.example", MW_TYPE_A, 0);
    size_t at = pk_rr_head(&q, NULL, MW_TYPE_A, 60);
    memcpy(q.b + q.len, "\1\2\3", 3);
    q.len += 3;
    pk_rr_end(&q, at);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &q, 4, &ch), -EBADMSG);
    q = p;
    q.b[2] &= 0x7f;
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &q, 4, &ch), -EBADMSG);
    assert_int_equal(
        mw_answerdiff_observe(ad, (const uint8_t *)"", 0, MW_TYPE_A, p.b, p.len, 4, &ch), -EINVAL);
    /* The stored set survived all that. */
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 5, &ch), 0);
    struct mw_answerdiff_stats st;
    mw_answerdiff_get_stats(ad, &st);
    assert_int_equal(st.skipped, 4);
    assert_int_equal(st.errors, 5);
    assert_null(mw_answerdiff_new(0));
    mw_answerdiff_free(ad);
}

static void test_lru(void **state)
{
    (void)state;
    struct mw_answerdiff *ad = mw_answerdiff_new(3);
    struct pkt p;
    struct mw_answer_change ch;
    char name[32];
    const char *first[] = {"192.0.2.1"};
    const char *second[] = {"192.0.2.2"};
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "n%d.example", i);
        a_resp(&p, name, first, 1, 60);
        assert_int_equal(obs(ad, name, MW_TYPE_A, &p, (uint64_t)i, &ch), 0);
        assert_true(mw_answerdiff_count(ad) <= 3);
    }
    assert_int_equal(mw_answerdiff_count(ad), 3);
    struct mw_answerdiff_stats st;
    mw_answerdiff_get_stats(ad, &st);
    assert_int_equal(st.evictions, 7);
    /* The oldest was forgotten: its next sight, with another address, is a first sight. */
    a_resp(&p, "n0.example", second, 1, 60);
    assert_int_equal(obs(ad, "n0.example", MW_TYPE_A, &p, 20, &ch), 0);
    /* That evicted n7 (least recently seen of 7, 8, 9); n8 is still known. */
    a_resp(&p, "n8.example", second, 1, 60);
    assert_int_equal(obs(ad, "n8.example", MW_TYPE_A, &p, 21, &ch), 1);
    a_resp(&p, "n7.example", second, 1, 60);
    assert_int_equal(obs(ad, "n7.example", MW_TYPE_A, &p, 22, &ch), 0);
    /* Now n7, n8, n0 are tracked (n9 evicted); seeing n0 again keeps it over n8. */
    a_resp(&p, "n0.example", second, 1, 60);
    assert_int_equal(obs(ad, "n0.example", MW_TYPE_A, &p, 23, &ch), 0);
    a_resp(&p, "n5.example", first, 1, 60);
    assert_int_equal(obs(ad, "n5.example", MW_TYPE_A, &p, 24, &ch), 0); /* evicts n8 */
    a_resp(&p, "n0.example", first, 1, 60);
    assert_int_equal(obs(ad, "n0.example", MW_TYPE_A, &p, 25, &ch), 1);
    a_resp(&p, "n8.example", first, 1, 60);
    assert_int_equal(obs(ad, "n8.example", MW_TYPE_A, &p, 26, &ch), 0);
    assert_int_equal(mw_answerdiff_count(ad), 3);

    /* forget */
    uint8_t w[64];
    int n = mw_dname_from_text("n8.example", w, sizeof(w));
    assert_int_equal(mw_answerdiff_forget(ad, w, (size_t)n, MW_TYPE_A), 0);
    assert_int_equal(mw_answerdiff_forget(ad, w, (size_t)n, MW_TYPE_A), -ENOENT);
    assert_int_equal(mw_answerdiff_count(ad), 2);
    mw_answerdiff_free(ad);
}

static void test_many_values(void **state)
{
    (void)state;
    struct mw_answerdiff *ad = mw_answerdiff_new(4);
    struct pkt p;
    struct mw_answer_change ch;
    pk_start(&p, "big.example", MW_TYPE_A, 0);
    for (int i = 0; i < 70; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.0.0.%d", 200 - i);
        pk_addr(&p, NULL, ip, 60);
    }
    assert_int_equal(obs(ad, "big.example", MW_TYPE_A, &p, 1, &ch), 0);
    pk_start(&p, "big.example", MW_TYPE_A, 0);
    pk_addr(&p, NULL, "10.0.0.1", 60);
    assert_int_equal(obs(ad, "big.example", MW_TYPE_A, &p, 2, &ch), 1);
    assert_int_equal(ch.old_set.n, MW_ANSWERDIFF_MAX_VALUES);
    assert_true(ch.old_set.truncated);
    assert_true(ch.removed.truncated);
    assert_string_equal(ch.old_set.v[0], "10.0.0.131"); /* the smallest 64 were kept */
    assert_string_equal(ch.old_set.v[63], "10.0.0.194");
    assert_int_equal(ch.removed.n, 64);
    assert_false(ch.new_set.truncated);
    mw_answerdiff_free(ad);
}

/* The binary store: a set that grows past its block and shrinks back into it, a question in
 * mixed case (0x20) with owners in another case, and a malformed record at the question name
 * that a CNAME makes irrelevant. */
static void test_store_reuse(void **state)
{
    (void)state;
    struct mw_answerdiff *ad = mw_answerdiff_new(4);
    struct pkt p;
    struct mw_answer_change ch;
    const char *one[] = {"192.0.2.1"};
    const char *three[] = {"192.0.2.3", "192.0.2.1", "192.0.2.2"};
    a_resp(&p, "WwW.ExAmple", one, 1, 300);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 1, &ch), 0);
    struct mw_answerdiff_stats st;
    mw_answerdiff_get_stats(ad, &st);
    size_t small = st.bytes;
    a_resp(&p, "www.example", three, 3, 300);
    pk_addr(&p, "WWW.EXAMPLE", "192.0.2.4", 300); /* an owner spelt out in upper case */
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 2, &ch), 1);
    assert_string_equal(join(&ch.added), "192.0.2.2,192.0.2.3,192.0.2.4");
    mw_answerdiff_get_stats(ad, &st);
    assert_true(st.bytes > small);
    size_t big = st.bytes;
    a_resp(&p, "www.example", one, 1, 300);
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 3, &ch), 1);
    assert_string_equal(join(&ch.old_set), "192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4");
    assert_string_equal(join(&ch.removed), "192.0.2.2,192.0.2.3,192.0.2.4");
    mw_answerdiff_get_stats(ad, &st);
    assert_int_equal(st.bytes, big); /* shrunk in place */
    assert_int_equal(obs(ad, "www.example", MW_TYPE_A, &p, 4, &ch), 0);

    /* A broken A record at the question name does not count once a CNAME leads elsewhere. */
    pk_start(&p, "alias.example", MW_TYPE_A, 0);
    size_t at = pk_rr_head(&p, NULL, MW_TYPE_A, 60);
    memcpy(p.b + p.len, "\1\2\3", 3);
    p.len += 3;
    pk_rr_end(&p, at);
    pk_name(&p, NULL, MW_TYPE_CNAME, "target.example", 60);
    pk_addr(&p, "target.example", "198.51.100.1", 60);
    assert_int_equal(obs(ad, "alias.example", MW_TYPE_A, &p, 5, &ch), 0);
    pk_start(&p, "alias.example", MW_TYPE_A, 0);
    pk_name(&p, NULL, MW_TYPE_CNAME, "target.example", 60);
    pk_addr(&p, "target.example", "198.51.100.2", 60);
    assert_int_equal(obs(ad, "alias.example", MW_TYPE_A, &p, 6, &ch), 1);
    assert_false(ch.cname_changed);
    assert_string_equal(join_chain(ch.new_chain, ch.new_chain_n), "target.example");
    assert_string_equal(join(&ch.removed), "198.51.100.1");
    mw_answerdiff_free(ad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_sight),     cmocka_unit_test(test_added_removed),
        cmocka_unit_test(test_order_dup_ttl),   cmocka_unit_test(test_cname_retarget),
        cmocka_unit_test(test_cname_type),      cmocka_unit_test(test_ns_mx_aaaa),
        cmocka_unit_test(test_skipped_and_bad), cmocka_unit_test(test_lru),
        cmocka_unit_test(test_many_values),     cmocka_unit_test(test_store_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
