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

#include "minewall/dname.h"
#include "minewall/filter.h"
#include "minewall/jsonw.h"
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

/* Room for the largest record. */
static struct mw_querylog_rec *rec_buf(void)
{
    static _Alignas(8) uint8_t b[MW_QUERYLOG_REC_MAX + MW_QUERYLOG_REC_PAD];
    memset(b, 0xa5, sizeof(b)); /* what fill leaves unset shows */
    return (struct mw_querylog_rec *)b;
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
    struct mw_querylog_rec *r = rec_buf();
    mw_querylog_make(r, &n, "default", (struct sockaddr *)&c, false, MW_TYPE_A, p.b, p.len, 1007);
    char buf[MW_QUERYLOG_LINE_MAX];
    assert_string_equal(
        line_of(r, buf, sizeof(buf)),
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
    struct mw_querylog_rec *r = rec_buf();
    mw_querylog_make(r, &n, "builders", (struct sockaddr *)&c, true, MW_TYPE_AAAA, p.b, p.len, 50);
    char buf[MW_QUERYLOG_LINE_MAX];
    const char *l = line_of(r, buf, sizeof(buf));
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
    struct mw_querylog_rec *r = rec_buf();
    mw_querylog_make(r, &n, "default", (struct sockaddr *)&c, false, MW_TYPE_A, p.b, p.len, 0);
    char buf[MW_QUERYLOG_LINE_MAX];
    const char *l = line_of(r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"answers\":[\"0.0.0.0\"],\"upstream\":null,\"latency_ms\":0,"
                              "\"cache\":\"local\",\"verdict\":\"block\","
                              "\"rule\":\"evil.test\\\"\\\\x\"}\n"));

    /* A rule longer than the copy is cut, and still valid JSON. */
    memset(v.rule_text, 'r', sizeof(v.rule_text) - 1);
    v.rule_text[sizeof(v.rule_text) - 1] = 0;
    mw_querylog_make(r, &n, "default", (struct sockaddr *)&c, false, MW_TYPE_A, p.b, p.len, 0);
    assert_true(r->rule_cut);
    l = line_of(r, buf, sizeof(buf));
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
    struct mw_querylog_rec *r = rec_buf();
    mw_querylog_make(r, &n, "we\"ird", NULL, false, MW_TYPE_TXT, p.b, p.len, 0);
    char buf[MW_QUERYLOG_LINE_MAX];
    const char *l = line_of(r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"group\":\"we\\\"ird\","));
    assert_non_null(strstr(l, "\"qname\":\"a\\\\001b.test\",\"qtype\":\"TXT\","));
}

static void test_no_question(void **state)
{
    (void)state;
    /* A FORMERR for a query without a question: header only; the asked type unknown. */
    uint8_t h[MW_DNS_HDR] = {0x12, 0x34, 0x80, 0x01};
    struct mw_querylog_note n = {.verdict = MW_QL_PASS};
    struct mw_querylog_rec *r = rec_buf();
    mw_querylog_make(r, &n, "default", NULL, false, 0, h, sizeof(h), 0);
    char buf[MW_QUERYLOG_LINE_MAX];
    const char *l = line_of(r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"client\":null,"));
    assert_non_null(strstr(l, "\"qname\":null,\"qtype\":null,\"rcode\":\"FORMERR\","
                              "\"answers\":[],"));
    /* Refused by access control. */
    n.verdict = MW_QL_REFUSED;
    mw_querylog_make(r, &n, "default", NULL, false, 0, h, sizeof(h), 0);
    assert_non_null(strstr(line_of(r, buf, sizeof(buf)), "\"verdict\":\"refused\""));
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
    struct mw_querylog_rec *r = rec_buf();
    mw_querylog_make(r, &n, "default", (struct sockaddr *)&c, false, MW_TYPE_AAAA, p.b, p.len, 0);
    assert_true(r->pkt_cut);
    assert_int_equal(r->pkt_len, MW_QUERYLOG_PKT_MAX);
    char buf[MW_QUERYLOG_LINE_MAX];
    const char *l = line_of(r, buf, sizeof(buf));
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
    struct mw_querylog_rec *r = rec_buf();
    mw_querylog_make(r, &n, "default", NULL, false, MW_TYPE_A, p.b, p.len, 0);
    char buf[64];
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, buf, sizeof(buf));
    mw_strbuf_puts(&sb, "kept");
    assert_int_equal(mw_querylog_format(r, WALL0, &sb), -ENOSPC);
    assert_int_equal(sb.len, 4); /* rewound: no partial line */
    assert_false(sb.trunc);
}

/* A record of size bytes tagged i (qtype, and i in every data byte), committed. */
static bool put_rec(struct mw_querylog_ring *ring, uint16_t size, uint16_t i)
{
    struct mw_querylog_rec *r = mw_querylog_ring_reserve(ring, size);
    if (!r)
        return false;
    r->size = size;
    r->qtype = i;
    memset(r->data, (int)i, size - sizeof(*r));
    mw_querylog_ring_commit(ring, r);
    return true;
}

static void check_rec(const struct mw_querylog_rec *r, uint16_t size, uint16_t i)
{
    assert_int_equal(r->size, size);
    assert_int_equal(r->qtype, i);
    for (size_t k = 0; k < size - sizeof(*r); k++)
        assert_int_equal(r->data[k], (uint8_t)i);
}

static void test_ring_bound_and_sampling(void **state)
{
    (void)state;
    struct mw_querylog_ring ring;
    assert_int_equal(mw_querylog_ring_init(&ring, 3), 0);
    assert_int_equal(ring.cap, 4096); /* the least */
    /* Four records of 1000 bytes fit in 4096, a fifth does not; a smaller one still does. */
    for (uint16_t i = 0; i < 4; i++)
        assert_true(put_rec(&ring, 1000, i));
    assert_false(put_rec(&ring, 1000, 9));
    assert_false(put_rec(&ring, 104, 9));
    assert_int_equal(ring.dropped, 2);
    assert_int_equal(mw_querylog_ring_ready(&ring), 4000);
    check_rec(mw_querylog_ring_at(&ring, ring.tail), 1000, 0);
    check_rec(mw_querylog_ring_at(&ring, ring.tail + 1000), 1000, 1);
    mw_querylog_ring_release(&ring, 2000);
    assert_int_equal(mw_querylog_ring_ready(&ring), 2000);
    /* The next starts 96 bytes before the end and runs on into the slack, whole; the one
     * after starts where that one ends, modulo the size (904). */
    assert_true(put_rec(&ring, 1000, 4));
    assert_ptr_equal(mw_querylog_ring_at(&ring, 4000), ring.buf + 4000);
    assert_true(put_rec(&ring, 1000, 5));
    assert_ptr_equal(mw_querylog_ring_at(&ring, 5000), ring.buf + 904);
    assert_false(put_rec(&ring, 1000, 9)); /* 5000 queued bytes would pass 4096 */
    assert_int_equal(ring.dropped, 3);
    uint64_t pos = ring.tail;
    for (uint16_t i = 2; i < 6; i++) {
        check_rec(mw_querylog_ring_at(&ring, pos), 1000, i);
        pos += 1000;
    }
    mw_querylog_ring_release(&ring, pos - ring.tail);
    assert_int_equal(mw_querylog_ring_ready(&ring), 0);
    /* Many laps of records of mixed sizes, up to the largest, read back in order. */
    uint16_t next = 0, want = 0;
    for (int lap = 0; lap < 2000; lap++) {
        uint16_t size = (uint16_t)(sizeof(struct mw_querylog_rec) + 8 * (lap * 37 % 100));
        if (lap % 13 == 0)
            size = (uint16_t)MW_QUERYLOG_REC_MAX;
        if (put_rec(&ring, size, next))
            next++;
        if (lap % 3 == 2) { /* the consumer reads all there is */
            uint64_t end = ring.tail + mw_querylog_ring_ready(&ring);
            for (pos = ring.tail; pos < end;) {
                const struct mw_querylog_rec *r = mw_querylog_ring_at(&ring, pos);
                check_rec(r, r->size, want++);
                pos += r->size;
            }
            assert_int_equal(pos, end);
            mw_querylog_ring_release(&ring, pos - ring.tail);
        }
    }
    assert_true(next > 1000);
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

/* Addresses as inet_ntop writes them: every IPv4 octet, the IPv6 zero runs (first longest
 * wins, a single zero field stays), the mapped and compatible forms, and random ones. */
static void test_addr_text(void **state)
{
    (void)state;
    char want[INET6_ADDRSTRLEN], got[INET6_ADDRSTRLEN + 4];
    for (unsigned v = 0; v < 256; v++) {
        uint8_t a[4] = {(uint8_t)v, (uint8_t)(255 - v), (uint8_t)(v / 3), (uint8_t)(v * 7)};
        *mw_querylog_addr_text(AF_INET, a, got) = 0;
        assert_string_equal(got, inet_ntop(AF_INET, a, want, sizeof(want)));
    }
    static const char *const v6[] = {"::",
                                     "::1",
                                     "1::",
                                     "2001:db8::1",
                                     "2001:db8:0:1:1:1:1:1",
                                     "2001:0:0:1::1",
                                     "1:0:0:2:0:0:0:3",
                                     "::ffff:192.0.2.1",
                                     "::1.2.3.4",
                                     "::ffff:0:1.2.3.4",
                                     "fe80::1:2",
                                     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                                     "0:1:2:3:4:5:6:7",
                                     "1:2:3:4:5:6:7:0",
                                     "1:2:3:4:5:6::",
                                     "::2:3:4:5:6:7:8",
                                     "a:b:0:0:c:0:0:d",
                                     "::fffe:1.2.3.4",
                                     "::1:0:0:0:0"};
    for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
        uint8_t a[16];
        assert_int_equal(inet_pton(AF_INET6, v6[i], a), 1);
        *mw_querylog_addr_text(AF_INET6, a, got) = 0;
        assert_string_equal(got, inet_ntop(AF_INET6, a, want, sizeof(want)));
    }
    uint32_t x = 12345;
    for (int i = 0; i < 20000; i++) {
        uint8_t a[16];
        for (int k = 0; k < 8; k++) { /* fields zero half the time: runs of every length */
            x = x * 1103515245 + 12345;
            unsigned w = (x >> 16) & 1 ? 0 : (x >> 8) & ((x >> 20) & 1 ? 0xff : 0xffff);
            a[2 * k] = (uint8_t)(w >> 8);
            a[2 * k + 1] = (uint8_t)w;
        }
        *mw_querylog_addr_text(AF_INET6, a, got) = 0;
        assert_string_equal(got, inet_ntop(AF_INET6, a, want, sizeof(want)));
    }
}

/* Numbers at their edges, rcodes without a mnemonic, and the time text kept between lines:
 * a new millisecond, a new second, a step back. */
static void test_numbers_rcodes_time(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "n.test", MW_TYPE_A, 11);
    struct sockaddr_in c = client4();
    c.sin_port = htons(65535);
    struct mw_querylog_note n = {.start_ms = 0, .cache = MW_QL_MISS, .verdict = MW_QL_PASS};
    struct mw_querylog_rec *r = rec_buf();
    mw_querylog_make(r, &n, "default", (struct sockaddr *)&c, false, MW_TYPE_A, p.b, p.len,
                     4294967295ULL);
    char buf[MW_QUERYLOG_LINE_MAX];
    const char *l = line_of(r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"client_port\":65535,"));
    assert_non_null(strstr(l, "\"latency_ms\":4294967295,"));
    assert_non_null(strstr(l, "\"rcode\":\"RCODE11\","));
    static const uint32_t lat[] = {0,        9,         10,        99,        100,
                                   999,      1000,      65536,     100000,    1234567,
                                   99999999, 100000000, 999999999, 1000000000};
    for (size_t i = 0; i < sizeof(lat) / sizeof(lat[0]); i++) {
        c.sin_port = htons((uint16_t)lat[i]);
        mw_querylog_make(r, &n, "default", (struct sockaddr *)&c, false, MW_TYPE_A, p.b, p.len,
                         lat[i]);
        char want[64];
        snprintf(want, sizeof(want), "\"client_port\":%u,", (unsigned)(uint16_t)lat[i]);
        assert_non_null(strstr(line_of(r, buf, sizeof(buf)), want));
        snprintf(want, sizeof(want), "\"latency_ms\":%u,", (unsigned)lat[i]);
        assert_non_null(strstr(buf, want));
    }
    static const struct {
        uint64_t ms;
        const char *text;
    } t[] = {{WALL0, "2023-11-14T22:13:20.123Z"},
             {WALL0 + 5, "2023-11-14T22:13:20.128Z"},
             {WALL0 + 877, "2023-11-14T22:13:21.000Z"},
             {WALL0 + 878, "2023-11-14T22:13:21.001Z"},
             {WALL0 - 23, "2023-11-14T22:13:20.100Z"},
             {WALL0 - 124, "2023-11-14T22:13:19.999Z"},
             {0, "1970-01-01T00:00:00.000Z"}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct mw_strbuf sb;
        mw_strbuf_init(&sb, buf, sizeof(buf));
        assert_int_equal(mw_querylog_format(r, t[i].ms, &sb), 0);
        char want[64];
        snprintf(want, sizeof(want), "{\"time\":\"%s\",\"client\":", t[i].text);
        assert_memory_equal(buf, want, strlen(want));
    }
}

/* Replies that do not parse: a question cut in its name, a record running past the end, a
 * compressed question name (the general way), a pointer loop. Lines stay whole. */
static void test_malformed_replies(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "example.test", MW_TYPE_A, 0);
    pk_addr(&p, NULL, "192.0.2.1", 300);
    pk_addr(&p, NULL, "192.0.2.2", 300);
    struct mw_querylog_note n = {.cache = MW_QL_HIT};
    struct mw_querylog_rec *r = rec_buf();
    char buf[MW_QUERYLOG_LINE_MAX];
    /* The second address cut: the first is read, the walk stops without a mark (not cut by
     * the copy: the reply itself was short). */
    mw_querylog_make(r, &n, "default", NULL, false, MW_TYPE_A, p.b, p.len - 2, 0);
    const char *l = line_of(r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"qname\":\"example.test\",\"qtype\":\"A\",\"rcode\":\"NOERROR\","
                              "\"answers\":[\"192.0.2.1\"],\"upstream\":null,"));
    /* Cut inside the question name: no name. */
    mw_querylog_make(r, &n, "default", NULL, false, MW_TYPE_A, p.b, MW_DNS_HDR + 5, 0);
    l = line_of(r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"qname\":null,\"qtype\":\"A\",\"rcode\":\"NOERROR\","
                              "\"answers\":[],"));
    /* Only 3 bytes: no rcode either. */
    mw_querylog_make(r, &n, "default", NULL, false, 0, p.b, 3, 0);
    l = line_of(r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"qname\":null,\"qtype\":null,\"rcode\":null,\"answers\":[],"));
    /* A question name that is a pointer (the general way, dname.c's checks): null for one
     * pointing forward or at itself. */
    uint8_t q[64] = {0x12, 0x34, 0x81, 0x80, 0, 1,   0,   0,   0, 0,   0,   0,   0xc0, 18,
                     0,    1,    0,    1,    3, 'F', 'o', 'o', 4, 't', 'e', 's', 't',  0};
    mw_querylog_make(r, &n, "default", NULL, false, MW_TYPE_A, q, 28, 0);
    l = line_of(r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"qname\":null,\"qtype\":\"A\""));
    q[13] = 12;
    mw_querylog_make(r, &n, "default", NULL, false, MW_TYPE_A, q, 28, 0);
    l = line_of(r, buf, sizeof(buf));
    assert_non_null(strstr(l, "\"qname\":null,\"qtype\":\"A\""));
}

/* The longest line: a 255-octet name of bytes written as \\DDD, group and upstream at their
 * bound with every byte escaped, the rule at its bound, 16 IPv6 addresses: within
 * MW_QUERYLOG_LINE_MAX, and every record's size is what prepare said, a multiple of 8. */
static void test_longest_line(void **state)
{
    (void)state;
    struct pkt p;
    memset(&p, 0, sizeof(p));
    mw_dns_put16(p.b + 2, MW_DNS_QR);
    mw_dns_put16(p.b + 4, 1);
    p.len = MW_DNS_HDR;
    for (int lab = 0; lab < 4; lab++) { /* 62, 62, 62, 61 and 2 octets: 255 with the root */
        unsigned ll = lab < 3 ? 62 : 61;
        p.b[p.len++] = (uint8_t)ll;
        for (unsigned k = 0; k < ll; k++)
            p.b[p.len++] = (uint8_t)(0x80 + k);
    }
    p.b[p.len++] = 2;
    p.b[p.len++] = '"';
    p.b[p.len++] = '\\';
    p.b[p.len++] = 0;
    mw_dns_put16(p.b + p.len, MW_TYPE_AAAA);
    mw_dns_put16(p.b + p.len + 2, 1);
    p.len += 4;
    for (int i = 0; i < 17; i++)
        pk_addr(&p, NULL, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 60);
    char group[100], up[100];
    memset(group, 0x01, sizeof(group));
    memset(up, '"', sizeof(up));
    group[99] = up[99] = 0;
    static struct mw_verdict v;
    memset(v.rule_text, '\\', sizeof(v.rule_text) - 1);
    v.rule_text[sizeof(v.rule_text) - 1] = 0;
    struct mw_querylog_note n = {
        .upstream = up, .v = &v, .cache = MW_QL_MISS, .verdict = MW_QL_BLOCK, .start_ms = 0};
    struct sockaddr_in6 c = {.sin6_family = AF_INET6, .sin6_port = htons(65535)};
    memset(&c.sin6_addr, 0xff, 16);
    struct mw_querylog_rec *r = rec_buf();
    mw_querylog_make(r, &n, group, (struct sockaddr *)&c, true, MW_TYPE_AAAA, p.b, p.len,
                     4294967295ULL);
    assert_true(r->size <= MW_QUERYLOG_REC_MAX);
    assert_true(r->size >= sizeof(*r) + MW_QUERYLOG_PKT_MAX + 2 * 63 + MW_QUERYLOG_RULE_MAX);
    assert_int_equal(r->size % 8, 0);
    assert_int_equal(r->group_len, MW_QUERYLOG_LABEL_MAX - 1);
    assert_int_equal(r->upstream_len, MW_QUERYLOG_LABEL_MAX - 1);
    static char buf[2 * MW_QUERYLOG_LINE_MAX];
    memset(buf, 0, sizeof(buf));
    char *end = mw_querylog_format_at(r, WALL0, buf);
    assert_true(end - buf < MW_QUERYLOG_LINE_MAX);
    assert_int_equal(end[-1], '\n');
    *end = 0;
    assert_non_null(strstr(buf, "\"qname\":\"\\\\128\\\\129"));
    assert_non_null(strstr(buf, ".\\\\034\\\\092\",\"qtype\":\"AAAA\""));
    assert_non_null(strstr(buf, "\"group\":\"\\u0001\\u0001"));
    assert_non_null(strstr(buf, "\"upstream\":\"\\\"\\\""));
    assert_non_null(strstr(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\"],\"answers_cut\":true"));
    assert_ptr_equal(strchr(buf, '\n') + 1, end);
    /* A cache hit's record is small: the ring holds thousands in a few hundred KiB. */
    struct pkt h;
    pk_start(&h, "www.example.com", MW_TYPE_A, 0);
    pk_addr(&h, NULL, "192.0.2.1", 300);
    struct mw_querylog_note hn = {.cache = MW_QL_HIT};
    mw_querylog_make(r, &hn, "default", NULL, false, MW_TYPE_A, h.b, h.len, 0);
    assert_true(r->size <= 112);
}

/* The 8-bytes-at-a-time checks against the byte-by-byte writers, at every length and
 * position: a group name with one byte to escape, and a name with one octet of every value
 * (written as mw_dname_to_text writes the lowercased name, then JSON-escaped). */
static void test_text_checks(void **state)
{
    (void)state;
    struct mw_querylog_note n = {0};
    struct mw_querylog_rec *r = rec_buf();
    char buf[MW_QUERYLOG_LINE_MAX], want[1024];
    static const uint8_t odd[] = {0x01, 0x1f, ' ', '"', '\\', '~', 0x7f, 0x80, 0xc3, 0xff, 'a'};
    uint8_t h[MW_DNS_HDR] = {0x12, 0x34, 0x80, 0x01};
    for (size_t len = 1; len < MW_QUERYLOG_LABEL_MAX; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            for (size_t k = 0; k < sizeof(odd); k++) {
                char g[MW_QUERYLOG_LABEL_MAX];
                memset(g, 'x', len);
                g[pos] = (char)odd[k];
                g[len] = 0;
                mw_querylog_make(r, &n, g, NULL, false, 0, h, sizeof(h), 0);
                struct mw_strbuf sb;
                mw_strbuf_init(&sb, want, sizeof(want));
                mw_strbuf_puts(&sb, "\"group\":");
                mw_jsonw_strn(&sb, g, len, SIZE_MAX, NULL);
                mw_strbuf_puts(&sb, ",\"qname\":null,");
                assert_non_null(strstr(line_of(r, buf, sizeof(buf)), want));
            }
        }
    }
    for (unsigned c = 0; c < 256; c++) {
        for (unsigned ll = 1; ll <= 20; ll += 1) {
            unsigned pos = (c + ll) % ll;
            uint8_t wire[64], lower[64];
            size_t wl = 0;
            wire[wl++] = (uint8_t)ll;
            for (unsigned i = 0; i < ll; i++)
                wire[wl++] = i == pos ? (uint8_t)c : (uint8_t)('a' + i % 26);
            memcpy(wire + wl, "\3abc\0", 5);
            wl += 5;
            for (size_t i = 0; i < wl; i++)
                lower[i] = wire[i] >= 'A' && wire[i] <= 'Z' ? wire[i] + 32 : wire[i];
            uint8_t pkt[128] = {0x12, 0x34, 0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
            memcpy(pkt + MW_DNS_HDR, wire, wl);
            memcpy(pkt + MW_DNS_HDR + wl, "\0\1\0\1", 4);
            mw_querylog_make(r, &n, "g", NULL, false, 1, pkt, MW_DNS_HDR + wl + 4, 0);
            char text[MW_DNAME_MAX * 4 + 2];
            assert_true(mw_dname_to_text(lower, wl, text, sizeof(text)) > 0);
            struct mw_strbuf sb;
            mw_strbuf_init(&sb, want, sizeof(want));
            mw_strbuf_puts(&sb, "\"qname\":");
            mw_jsonw_str(&sb, text);
            mw_strbuf_puts(&sb, ",\"qtype\":\"A\"");
            assert_non_null(strstr(line_of(r, buf, sizeof(buf)), want));
        }
    }
}

/* The text kept from the line before (client, transport and group, upstream) follows every
 * change, also to a value of the same length. */
static void test_kept_text_changes(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "k.test", MW_TYPE_A, 0);
    static const char *const ups[] = {"10.0.0.1:53", "10.0.0.2:53", NULL, "10.0.0.2:53"};
    static const char *const groups[] = {"aa", "ab", "ab", "aa"};
    struct sockaddr_in c4 = client4();
    struct sockaddr_in6 c6 = {.sin6_family = AF_INET6, .sin6_port = htons(40000)};
    inet_pton(AF_INET6, "2001:db8::9", &c6.sin6_addr);
    struct sockaddr_in c4b = c4;
    inet_pton(AF_INET, "192.0.2.10", &c4b.sin_addr);
    const struct sockaddr *clients[] = {(struct sockaddr *)&c4, (struct sockaddr *)&c6, NULL,
                                        (struct sockaddr *)&c4b};
    static const char *const ctext[] = {"\"192.0.2.9\"", "\"2001:db8::9\"", "null",
                                        "\"192.0.2.10\""};
    struct mw_querylog_rec *r = rec_buf();
    char buf[MW_QUERYLOG_LINE_MAX], want[256];
    for (int i = 0; i < 24; i++) {
        struct mw_querylog_note n = {.upstream = ups[i % 4], .cache = MW_QL_MISS};
        bool tcp = i % 3 == 0;
        mw_querylog_make(r, &n, groups[i % 4 == 2 ? 2 : (i / 4) % 4], clients[(i / 2) % 4], tcp,
                         MW_TYPE_A, p.b, p.len, 0);
        const char *l = line_of(r, buf, sizeof(buf));
        snprintf(want, sizeof(want), "\"client\":%s,\"client_port\":%s,\"transport\":\"%s\",",
                 ctext[(i / 2) % 4], clients[(i / 2) % 4] ? "40000" : "0", tcp ? "tcp" : "udp");
        assert_non_null(strstr(l, want));
        snprintf(want, sizeof(want), "\"group\":\"%s\",\"qname\":\"k.test\",",
                 groups[i % 4 == 2 ? 2 : (i / 4) % 4]);
        assert_non_null(strstr(l, want));
        if (ups[i % 4])
            snprintf(want, sizeof(want), "\"upstream\":\"%s\",\"latency_ms\":0,", ups[i % 4]);
        else
            snprintf(want, sizeof(want), "\"upstream\":null,\"latency_ms\":0,");
        assert_non_null(strstr(l, want));
    }
}

/* The worker's put: records go into the ring as the writer reads them back, the wake-up is
 * asked for once, when the queue crosses its mark, and a full ring refuses and counts. */
static void test_put_wake_and_drop(void **state)
{
    (void)state;
    struct mw_querylog_ring ring;
    assert_int_equal(mw_querylog_ring_init(&ring, 64), 0); /* 8 KiB, woken at 4 KiB */
    assert_int_equal(ring.cap, 8192);
    assert_int_equal(ring.wake, 4096);
    struct pkt p;
    pk_start(&p, "www.example.test", MW_TYPE_A, 0);
    pk_addr(&p, NULL, "192.0.2.1", 300);
    struct sockaddr_in c = client4();
    struct mw_querylog_note n = {.cache = MW_QL_HIT};
    int wakes = 0, puts = 0, rc;
    while ((rc = mw_querylog_put(&ring, &n, "default", (struct sockaddr *)&c, false, MW_TYPE_A, p.b,
                                 p.len, (uint64_t)puts)) >= 0) {
        wakes += rc;
        puts++;
    }
    assert_int_equal(rc, -ENOBUFS);
    assert_int_equal(wakes, 1);
    assert_int_equal(ring.dropped, 1);
    assert_true(puts > 60); /* about 100 bytes each */
    uint64_t end = ring.tail + mw_querylog_ring_ready(&ring), pos = ring.tail;
    char buf[MW_QUERYLOG_LINE_MAX];
    for (int i = 0; pos < end; i++) {
        const struct mw_querylog_rec *r = mw_querylog_ring_at(&ring, pos);
        assert_int_equal(r->mono_ms, (uint64_t)i);
        assert_non_null(strstr(line_of(r, buf, sizeof(buf)),
                               "\"qname\":\"www.example.test\",\"qtype\":\"A\",\"rcode\":"
                               "\"NOERROR\",\"answers\":[\"192.0.2.1\"],"));
        pos += r->size;
    }
    mw_querylog_ring_deinit(&ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_miss),
        cmocka_unit_test(test_hit_v6_tcp_nxdomain),
        cmocka_unit_test(test_block_rule),
        cmocka_unit_test(test_escaped_name),
        cmocka_unit_test(test_no_question),
        cmocka_unit_test(test_long_reply_cut),
        cmocka_unit_test(test_no_room),
        cmocka_unit_test(test_ring_bound_and_sampling),
        cmocka_unit_test(test_addr_text),
        cmocka_unit_test(test_numbers_rcodes_time),
        cmocka_unit_test(test_malformed_replies),
        cmocka_unit_test(test_longest_line),
        cmocka_unit_test(test_text_checks),
        cmocka_unit_test(test_kept_text_changes),
        cmocka_unit_test(test_put_wake_and_drop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
