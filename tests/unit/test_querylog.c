/* Query log records (querylog.h): what a worker copies and the JSON line the writer makes of
 * it, for a miss with addresses, a hit over TCP, a block with its rule, a reply without a
 * question, a reply longer than the copy, a line that does not fit; the ring's bound and its
 * drop count; sampling one in N. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/filter.h"
#include "minewall/querylog.h"
#include "minewall/strbuf.h"
#include "pktbuild.h"

#define WALL0 1700000000123ULL /* 2023-11-14T22:13:20.123Z */

static struct sockaddr_in client4(void)
{
    struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(40000)};
    inet_pton(AF_INET, "192.0.2.9", &s.sin_addr);
    return s;
}

/* Format r into buf and return it (asserting it fits). */
static const char *line_of(const struct mw_querylog_rec *r, char *buf, size_t cap)
{
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, buf, cap);
    assert_int_equal(mw_querylog_format(r, WALL0, &sb), 0);
    assert_true(sb.len > 0 && buf[sb.len - 1] == '\n');
    return buf;
}

static void test_miss(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "Example.TEST", MW_TYPE_A, 0);
    pk_addr(&p, NULL, "192.0.2.1", 300);
    pk_addr(&p, NULL, "192.0.2.2", 300);
    pk_name(&p, NULL, MW_TYPE_CNAME, "x.example.test", 300); /* not an address: left out */
    struct sockaddr_in c = client4();
    struct mw_querylog_note n = {
        .start_ms = 1000, .upstream = "127.0.0.1:53", .cache = MW_QL_MISS, .verdict = MW_QL_PASS};
    static struct mw_querylog_rec r;
    mw_querylog_fill(&r, &n, "default", (struct sockaddr *)&c, false, MW_TYPE_A, p.b, p.len, 1007);
    char buf[MW_QUERYLOG_LINE_MAX];
    assert_string_equal(
        line_of(&r, buf, sizeof(buf)),
        "{\"time\":\"2023-11-14T22:13:20.123Z\",\"client\":\"192.0.2.9\",\"client_port\":40000,"
        "\"transport\":\"udp\",\"group\":\"default\",\"qname\":\"example.test\",\"qtype\":\"A\","
        "\"rcode\":\"NOERROR\",\"answers\":[\"192.0.2.1\",\"192.0.2.2\"],"
        "\"upstream\":\"127.0.0.1:53\",\"latency_ms\":7,\"cache\":\"miss\",\"verdict\":\"pass\","
        "\"rule\":null}\n");
}

static void test_hit_v6_tcp_nxdomain(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "gone.test", MW_TYPE_AAAA, 3 /* NXDOMAIN */);
    struct sockaddr_in6 c = {.sin6_family = AF_INET6, .sin6_port = htons(5353)};
    inet_pton(AF_INET6, "2001:db8::9", &c.sin6_addr);
    struct mw_querylog_note n = {.start_ms = 50, .cache = MW_QL_HIT, .verdict = MW_QL_ALLOW};
    static struct mw_querylog_rec r;
    mw_querylog_fill(&r, &n, "builders", (struct sockaddr *)&c, true, MW_TYPE_AAAA, p.b, p.len, 50);
    char buf[MW_QUERYLOG_LINE_MAX];
    const char *l = line_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"client\":\"2001:db8::9\",\"client_port\":5353,"
                              "\"transport\":\"tcp\",\"group\":\"builders\""));
    assert_non_null(strstr(l, "\"qtype\":\"AAAA\",\"rcode\":\"NXDOMAIN\",\"answers\":[],"
                              "\"upstream\":null,\"latency_ms\":0,\"cache\":\"hit\","
                              "\"verdict\":\"allow\",\"rule\":null}"));
}

static void test_block_rule(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "pool.evil.test", MW_TYPE_A, 0);
    pk_addr(&p, NULL, "0.0.0.0", 60);
    static struct mw_verdict v;
    memset(&v, 0, sizeof(v));
    snprintf(v.rule_text, sizeof(v.rule_text), "evil.test\"\\x");
    struct sockaddr_in c = client4();
    struct mw_querylog_note n = {.v = &v, .verdict = MW_QL_BLOCK};
    static struct mw_querylog_rec r;
    mw_querylog_fill(&r, &n, "default", (struct sockaddr *)&c, false, MW_TYPE_A, p.b, p.len, 0);
    char buf[MW_QUERYLOG_LINE_MAX];
    const char *l = line_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"answers\":[\"0.0.0.0\"],\"upstream\":null,\"latency_ms\":0,"
                              "\"cache\":\"local\",\"verdict\":\"block\","
                              "\"rule\":\"evil.test\\\"\\\\x\"}\n"));

    /* A rule longer than the copy is cut, and still valid JSON. */
    memset(v.rule_text, 'r', sizeof(v.rule_text) - 1);
    v.rule_text[sizeof(v.rule_text) - 1] = 0;
    mw_querylog_fill(&r, &n, "default", (struct sockaddr *)&c, false, MW_TYPE_A, p.b, p.len, 0);
    assert_true(r.rule_cut);
    l = line_of(&r, buf, sizeof(buf));
    const char *rule = strstr(l, "\"rule\":\"");
    assert_non_null(rule);
    assert_int_equal(strspn(rule + 8, "r"), MW_QUERYLOG_RULE_MAX - 3);
}

static void test_escaped_name(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "a\\001b.Test", MW_TYPE_TXT, 0); /* a label with the byte 1 */
    struct mw_querylog_note n = {0};
    static struct mw_querylog_rec r;
    mw_querylog_fill(&r, &n, "we\"ird", NULL, false, MW_TYPE_TXT, p.b, p.len, 0);
    char buf[MW_QUERYLOG_LINE_MAX];
    const char *l = line_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"group\":\"we\\\"ird\","));
    assert_non_null(strstr(l, "\"qname\":\"a\\\\001b.test\",\"qtype\":\"TXT\","));
}

static void test_no_question(void **state)
{
    (void)state;
    /* A FORMERR for a query without a question: header only; the asked type unknown. */
    uint8_t h[MW_DNS_HDR] = {0x12, 0x34, 0x80, 0x01};
    struct mw_querylog_note n = {.verdict = MW_QL_PASS};
    static struct mw_querylog_rec r;
    mw_querylog_fill(&r, &n, "default", NULL, false, 0, h, sizeof(h), 0);
    char buf[MW_QUERYLOG_LINE_MAX];
    const char *l = line_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"client\":null,"));
    assert_non_null(strstr(l, "\"qname\":null,\"qtype\":null,\"rcode\":\"FORMERR\","
                              "\"answers\":[],"));
    /* Refused by access control. */
    n.verdict = MW_QL_REFUSED;
    mw_querylog_fill(&r, &n, "default", NULL, false, 0, h, sizeof(h), 0);
    assert_non_null(strstr(line_of(&r, buf, sizeof(buf)), "\"verdict\":\"refused\""));
}

static void test_long_reply_cut(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "many.test", MW_TYPE_AAAA, 0);
    for (int i = 0; i < 40; i++) {
        char a[64];
        snprintf(a, sizeof(a), "2001:db8::%x", i + 1);
        pk_addr(&p, NULL, a, 60);
    }
    assert_true(p.len > MW_QUERYLOG_PKT_MAX);
    struct sockaddr_in c = client4();
    struct mw_querylog_note n = {.cache = MW_QL_STALE};
    static struct mw_querylog_rec r;
    mw_querylog_fill(&r, &n, "default", (struct sockaddr *)&c, false, MW_TYPE_AAAA, p.b, p.len, 0);
    assert_true(r.pkt_cut);
    assert_int_equal(r.pkt_len, MW_QUERYLOG_PKT_MAX);
    char buf[MW_QUERYLOG_LINE_MAX];
    const char *l = line_of(&r, buf, sizeof(buf));
    /* 16 addresses at most, then the mark; the walk never reads past the copy. */
    assert_non_null(strstr(l, "\"2001:db8::10\"],\"answers_cut\":true,"));
    assert_null(strstr(l, "2001:db8::11"));
    assert_non_null(strstr(l, "\"cache\":\"stale\""));
}

static void test_no_room(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "example.test", MW_TYPE_A, 0);
    struct mw_querylog_note n = {0};
    static struct mw_querylog_rec r;
    mw_querylog_fill(&r, &n, "default", NULL, false, MW_TYPE_A, p.b, p.len, 0);
    char buf[64];
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, buf, sizeof(buf));
    mw_strbuf_puts(&sb, "kept");
    assert_int_equal(mw_querylog_format(&r, WALL0, &sb), -ENOSPC);
    assert_int_equal(sb.len, 4); /* rewound: no partial line */
    assert_false(sb.trunc);
}

static void test_ring_bound_and_sampling(void **state)
{
    (void)state;
    struct mw_querylog_ring ring;
    assert_int_equal(mw_querylog_ring_init(&ring, 3), 0);
    assert_int_equal(ring.cap, 4);
    for (int i = 0; i < 4; i++) {
        struct mw_querylog_rec *r = mw_querylog_ring_reserve(&ring);
        assert_non_null(r);
        r->qtype = (uint16_t)i;
        mw_querylog_ring_commit(&ring);
    }
    assert_null(mw_querylog_ring_reserve(&ring));
    assert_null(mw_querylog_ring_reserve(&ring));
    assert_int_equal(ring.dropped, 2);
    assert_int_equal(mw_querylog_ring_ready(&ring), 4);
    assert_int_equal(mw_querylog_ring_at(&ring, 1)->qtype, 1);
    mw_querylog_ring_release(&ring, 3);
    assert_int_equal(mw_querylog_ring_ready(&ring), 1);
    assert_int_equal(mw_querylog_ring_at(&ring, 0)->qtype, 3);
    assert_non_null(mw_querylog_ring_reserve(&ring)); /* room again, wrapping around */
    mw_querylog_ring_deinit(&ring);

    struct mw_querylog_ring s = {0};
    int taken = 0;
    for (int i = 0; i < 1000; i++)
        taken += mw_querylog_ring_sample(&s, 7);
    assert_true(taken == 142 || taken == 143);
    taken = 0;
    for (int i = 0; i < 10; i++)
        taken += mw_querylog_ring_sample(&s, 1);
    assert_int_equal(taken, 10); /* a lower rate applies at once */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_miss),        cmocka_unit_test(test_hit_v6_tcp_nxdomain),
        cmocka_unit_test(test_block_rule),  cmocka_unit_test(test_escaped_name),
        cmocka_unit_test(test_no_question), cmocka_unit_test(test_long_reply_cut),
        cmocka_unit_test(test_no_room),     cmocka_unit_test(test_ring_bound_and_sampling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
