/* Unit tests for dnsmsg.c. Queries with every parse result are written byte by byte; replies
 * and upstream queries we write are read back with ldns, and upstream responses are built
 * with ldns (which compresses names), so our wire handling is checked against an independent
 * implementation. Ends with a mutation loop that runs every entry point on broken packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/dnsmsg.h"

/* ---- a byte writer for hand-made packets ---- */

struct wb {
    uint8_t b[70000];
    size_t n;
};

static void put8(struct wb *w, uint8_t v)
{
    w->b[w->n++] = v;
}

static void put16(struct wb *w, uint16_t v)
{
    mw_dns_put16(w->b + w->n, v);
    w->n += 2;
}

static void put32(struct wb *w, uint32_t v)
{
    mw_dns_put32(w->b + w->n, v);
    w->n += 4;
}

static void putn(struct wb *w, const void *p, size_t n)
{
    if (n)
        memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void hdr(struct wb *w, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
                uint16_t ar)
{
    w->n = 0;
    put16(w, id);
    put16(w, flags);
    put16(w, qd);
    put16(w, an);
    put16(w, ns);
    put16(w, ar);
}

/* A question from a raw wire name (case kept). */
static void question(struct wb *w, const char *wire, size_t len, uint16_t type)
{
    putn(w, wire, len);
    put16(w, type);
    put16(w, 1);
}

#define QNAME "\7example\3com" /* with the implicit NUL: 13 octets */
#define QNAME_LEN 13

static void opt(struct wb *w, uint16_t udp, uint8_t ext, uint8_t version, uint16_t flags,
                const void *rdata, uint16_t rdlen)
{
    put8(w, 0);
    put16(w, MW_TYPE_OPT);
    put16(w, udp);
    put8(w, ext);
    put8(w, version);
    put16(w, flags);
    put16(w, rdlen);
    putn(w, rdata, rdlen);
}

/* A standard query for example.com A with RD and an optional OPT. */
static void std_query(struct wb *w, bool edns, uint16_t udp, uint16_t eflags)
{
    hdr(w, 0x1234, MW_DNS_RD, 1, 0, 0, edns ? 1 : 0);
    question(w, QNAME, QNAME_LEN, MW_TYPE_A);
    if (edns)
        opt(w, udp, 0, 0, eflags, NULL, 0);
}

/* ---- parse_query ---- */

static void test_parse_ok(void **state)
{
    (void)state;
    struct wb w;
    struct mw_dns_query q;
    std_query(&w, false, 0, 0);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_OK);
    assert_int_equal(q.id, 0x1234);
    assert_int_equal(q.flags, MW_DNS_RD);
    assert_int_equal(q.opcode, 0);
    assert_int_equal(q.q.qname_len, QNAME_LEN);
    assert_memory_equal(q.q.qname, QNAME, QNAME_LEN);
    assert_int_equal(q.q.qtype, MW_TYPE_A);
    assert_int_equal(q.q.qclass, 1);
    assert_ptr_equal(q.qsec, w.b + 12);
    assert_int_equal(q.qsec_len, QNAME_LEN + 4);
    assert_false(q.edns);
    assert_false(q.do_bit);
    assert_int_equal(q.udp_size, 512);

    /* Trailing garbage after the counted records is tolerated. */
    putn(&w, "\1\2\3", 3);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_OK);
}

static void test_parse_drop_notimp(void **state)
{
    (void)state;
    struct wb w;
    struct mw_dns_query q;
    std_query(&w, false, 0, 0);
    assert_int_equal(mw_dns_parse_query(w.b, 11, &q), MW_PARSE_DROP);
    assert_int_equal(mw_dns_parse_query(w.b, 0, &q), MW_PARSE_DROP);

    mw_dns_put16(w.b + 2, MW_DNS_QR | MW_DNS_RD);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_DROP);

    /* NOTIFY (opcode 4). */
    mw_dns_put16(w.b + 2, (4 << 11) | MW_DNS_AA);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_NOTIMP);
    assert_int_equal(q.id, 0x1234);
    assert_int_equal(q.flags, (4 << 11) | MW_DNS_AA);
    assert_int_equal(q.opcode, 4);
    assert_null(q.qsec);
    assert_int_equal(q.qsec_len, 0);

    /* A bare header with opcode UPDATE is NOTIMP too, not FORMERR. */
    hdr(&w, 7, 5 << 11, 0, 0, 0, 0);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_NOTIMP);
}

static void test_parse_formerr(void **state)
{
    (void)state;
    struct wb w;
    struct mw_dns_query q;

    hdr(&w, 1, 0, 0, 0, 0, 0);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_FORMERR);
    assert_int_equal(q.id, 1);
    assert_null(q.qsec);

    hdr(&w, 1, 0, 2, 0, 0, 0);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_AAAA);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_FORMERR);

    /* Truncated name, truncated type/class. */
    std_query(&w, false, 0, 0);
    assert_int_equal(mw_dns_parse_query(w.b, 12 + 5, &q), MW_PARSE_FORMERR);
    assert_int_equal(mw_dns_parse_query(w.b, 12 + QNAME_LEN, &q), MW_PARSE_FORMERR);
    assert_int_equal(mw_dns_parse_query(w.b, w.n - 1, &q), MW_PARSE_FORMERR);
    assert_null(q.qsec);

    /* A compression pointer in the question (to the header, the only thing before it). */
    hdr(&w, 1, 0, 1, 0, 0, 0);
    question(&w, "\3www\300\4", 6, MW_TYPE_A);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_FORMERR);

    /* The same with enough octets after it to pass for a 192-octet label. */
    hdr(&w, 1, 0, 1, 0, 0, 0);
    put8(&w, 0xc0);
    for (int k = 0; k < 0xc0; k++)
        put8(&w, 'a');
    question(&w, "", 1, MW_TYPE_A);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_FORMERR);

    /* Extended label type in the question. */
    hdr(&w, 1, 0, 1, 0, 0, 0);
    question(&w, "\101a", 3, MW_TYPE_A);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_FORMERR);

    /* Records in answer or authority; the question is still reported for the reply. */
    hdr(&w, 1, 0, 1, 1, 0, 0);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_FORMERR);
    assert_non_null(q.qsec);
    assert_int_equal(q.qsec_len, QNAME_LEN + 4);
    hdr(&w, 1, 0, 1, 0, 1, 0);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_FORMERR);

    /* ARCOUNT promises a record that is not there, or is cut short. */
    hdr(&w, 1, 0, 1, 0, 0, 1);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_FORMERR);
    opt(&w, 1232, 0, 0, 0, "\0\12\0\10abcdefgh", 12);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_OK);
    assert_int_equal(mw_dns_parse_query(w.b, w.n - 1, &q), MW_PARSE_FORMERR);

    /* An EDNS option that overruns the OPT rdata. */
    hdr(&w, 1, 0, 1, 0, 0, 1);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    opt(&w, 1232, 0, 0, 0, "\0\12\0\11abcdefgh", 12);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_FORMERR);
    hdr(&w, 1, 0, 1, 0, 0, 1);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    opt(&w, 1232, 0, 0, 0, "\0\12\0", 3);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_FORMERR);
}

static void test_parse_edns(void **state)
{
    (void)state;
    struct wb w;
    struct mw_dns_query q;

    std_query(&w, true, 4096, 0x8000);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_OK);
    assert_true(q.edns);
    assert_true(q.do_bit);
    assert_int_equal(q.udp_size, 4096);
    assert_int_equal(q.edns_version, 0);
    assert_int_equal(q.qsec_len, QNAME_LEN + 4);

    std_query(&w, true, 100, 0x7fff); /* every flag but DO */
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_OK);
    assert_true(q.edns);
    assert_false(q.do_bit);
    assert_int_equal(q.udp_size, 512);

    /* Two OPTs. */
    std_query(&w, true, 1232, 0);
    opt(&w, 1232, 0, 0, 0, NULL, 0);
    mw_dns_put16(w.b + 10, 2);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_FORMERR);

    /* OPT not owned by the root. */
    hdr(&w, 1, 0, 1, 0, 0, 1);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    putn(&w, "\300\14", 2);
    put16(&w, MW_TYPE_OPT);
    put16(&w, 1232);
    put32(&w, 0);
    put16(&w, 0);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_FORMERR);

    /* EDNS version 1. */
    hdr(&w, 1, 0, 1, 0, 0, 1);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    opt(&w, 1232, 0, 1, 0x8000, NULL, 0);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_BADVERS);
    assert_true(q.edns);
    assert_true(q.do_bit);
    assert_int_equal(q.edns_version, 1);
    assert_non_null(q.qsec);

    /* A TSIG-like record with a compressed owner before and after the OPT is skipped. */
    hdr(&w, 1, 0, 1, 0, 0, 3);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    putn(&w, "\3key\300\14", 6);
    put16(&w, 250);
    put16(&w, 255);
    put32(&w, 0);
    put16(&w, 4);
    putn(&w, "abcd", 4);
    opt(&w, 2048, 0, 0, 0x8000, NULL, 0);
    putn(&w, "\300\14", 2);
    put16(&w, 250);
    put16(&w, 255);
    put32(&w, 0);
    put16(&w, 0);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_OK);
    assert_true(q.edns);
    assert_int_equal(q.udp_size, 2048);
}

static void test_parse_refused_case(void **state)
{
    (void)state;
    struct wb w;
    struct mw_dns_query q;

    hdr(&w, 1, 0, 1, 0, 0, 0);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_AXFR);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_REFUSED);
    assert_int_equal(q.q.qtype, MW_TYPE_AXFR);
    assert_non_null(q.qsec);
    hdr(&w, 1, 0, 1, 0, 0, 0);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_IXFR);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_REFUSED);

    /* Uppercase: lowercased in q.qname, kept in qsec (0x20 clients check the echo). */
    hdr(&w, 1, 0, 1, 0, 0, 0);
    question(&w, "\7ExAmPlE\3COM", QNAME_LEN, MW_TYPE_AAAA);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_OK);
    assert_memory_equal(q.q.qname, QNAME, QNAME_LEN);
    assert_memory_equal(q.qsec, "\7ExAmPlE\3COM\0\0\34\0\1", QNAME_LEN + 4);
    assert_int_equal(q.q.qtype, MW_TYPE_AAAA);

    /* The root name. */
    hdr(&w, 1, 0, 1, 0, 0, 0);
    question(&w, "", 1, MW_TYPE_NS);
    assert_int_equal(mw_dns_parse_query(w.b, w.n, &q), MW_PARSE_OK);
    assert_int_equal(q.q.qname_len, 1);
    assert_int_equal(q.qsec_len, 5);
}

/* A query written by ldns parses as ldns meant it. */
static void test_parse_ldns_query(void **state)
{
    (void)state;
    ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str("WWW.Example.org."), LDNS_RR_TYPE_MX,
                                     LDNS_RR_CLASS_IN, LDNS_RD | LDNS_CD);
    ldns_pkt_set_id(p, 4321);
    ldns_pkt_set_edns_udp_size(p, 1400);
    ldns_pkt_set_edns_do(p, true);
    uint8_t *wire;
    size_t len;
    assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);

    struct mw_dns_query q;
    assert_int_equal(mw_dns_parse_query(wire, len, &q), MW_PARSE_OK);
    assert_int_equal(q.id, 4321);
    assert_true(q.flags & MW_DNS_RD);
    assert_true(q.flags & MW_DNS_CD);
    assert_true(q.edns);
    assert_true(q.do_bit);
    assert_int_equal(q.udp_size, 1400);
    assert_int_equal(q.q.qtype, MW_TYPE_MX);
    uint8_t name[256];
    assert_int_equal(mw_dname_from_text("www.example.org", name, sizeof(name)), q.q.qname_len);
    assert_memory_equal(q.q.qname, name, q.q.qname_len);

    struct mw_dns_client c;
    mw_dns_client_from_query(&q, false, &c);
    assert_int_equal(c.max_size, 1232);
    assert_int_equal(c.id, 4321);
    assert_ptr_equal(c.qsec, q.qsec);
    assert_true(c.edns && c.do_bit);
    mw_dns_client_from_query(&q, true, &c);
    assert_int_equal(c.max_size, 65535);
    q.udp_size = 800;
    mw_dns_client_from_query(&q, false, &c);
    assert_int_equal(c.max_size, 800);
    free(wire);
    ldns_pkt_free(p);
}

/* ---- build_error, build_query ---- */

static ldns_pkt *reparse(const uint8_t *wire, int len)
{
    assert_true(len > 0);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, wire, (size_t)len), LDNS_STATUS_OK);
    return p;
}

static void client_for(struct mw_dns_client *c, const struct wb *w, bool edns, bool do_bit)
{
    c->id = mw_dns_get16(w->b);
    c->qflags = mw_dns_get16(w->b + 2);
    c->qsec = w->b + 12;
    c->qsec_len = QNAME_LEN + 4;
    c->edns = edns;
    c->do_bit = do_bit;
    c->max_size = edns ? 1232 : 512;
}

static void test_build_error_ede(void **state)
{
    (void)state;
    struct wb w;
    hdr(&w, 0xabcd, MW_DNS_RD | MW_DNS_CD | MW_DNS_AD, 1, 0, 0, 0);
    question(&w, "\7ExAmPlE\3COM", QNAME_LEN, MW_TYPE_A);
    struct mw_dns_client c;
    client_for(&c, &w, true, true);

    uint8_t out[1500];
    const char *text = "blocked by ads.txt";
    int n = mw_dns_build_error(&c, MW_RCODE_REFUSED, 15, text, out, sizeof(out));
    size_t tl = strlen(text);
    assert_int_equal(n, 12 + QNAME_LEN + 4 + 11 + 6 + (int)tl);
    assert_memory_equal(out + 12, w.b + 12, QNAME_LEN + 4);

    ldns_pkt *p = reparse(out, n);
    assert_int_equal(ldns_pkt_id(p), 0xabcd);
    assert_true(ldns_pkt_qr(p));
    assert_true(ldns_pkt_ra(p));
    assert_true(ldns_pkt_rd(p));
    assert_true(ldns_pkt_cd(p));
    assert_false(ldns_pkt_ad(p));
    assert_false(ldns_pkt_aa(p));
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_get_opcode(p), LDNS_PACKET_QUERY);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
    assert_int_equal(ldns_pkt_qdcount(p), 1);
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_true(ldns_pkt_edns(p));
    assert_int_equal(ldns_pkt_edns_udp_size(p), MW_EDNS_CLIENT_BUF);
    assert_true(ldns_pkt_edns_do(p));
    assert_int_equal(ldns_pkt_edns_version(p), 0);
    assert_int_equal(ldns_pkt_edns_extended_rcode(p), 0);
    ldns_rdf *d = ldns_pkt_edns_data(p);
    assert_non_null(d);
    assert_int_equal(ldns_rdf_size(d), 6 + tl);
    const uint8_t *o = ldns_rdf_data(d);
    assert_int_equal(mw_dns_get16(o), 15);
    assert_int_equal(mw_dns_get16(o + 2), 2 + tl);
    assert_int_equal(mw_dns_get16(o + 4), 15);
    assert_memory_equal(o + 6, text, tl);
    /* The question is echoed with the client's case. */
    ldns_rr *qrr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
    char *owner = ldns_rdf2str(ldns_rr_owner(qrr));
    assert_string_equal(owner, "ExAmPlE.COM.");
    free(owner);
    ldns_pkt_free(p);

    /* No text, and no EDE at all. */
    n = mw_dns_build_error(&c, MW_RCODE_SERVFAIL, 22, NULL, out, sizeof(out));
    assert_int_equal(n, 12 + QNAME_LEN + 4 + 11 + 6);
    assert_memory_equal(out + n - 6, "\0\17\0\2\0\26", 6);
    n = mw_dns_build_error(&c, MW_RCODE_SERVFAIL, -1, "ignored", out, sizeof(out));
    assert_int_equal(n, 12 + QNAME_LEN + 4 + 11);
    assert_int_equal(mw_dns_get16(out + n - 2), 0);
    assert_int_equal(mw_dns_build_error(&c, MW_RCODE_SERVFAIL, 70000, NULL, out, sizeof(out)), n);

    assert_int_equal(mw_dns_build_error(&c, MW_RCODE_REFUSED, 15, text, out, 20), -ENOSPC);
}

static void test_build_error_variants(void **state)
{
    (void)state;
    struct wb w;
    std_query(&w, false, 0, 0);
    struct mw_dns_client c;
    client_for(&c, &w, false, false);
    uint8_t out[1500];

    /* Without EDNS: no OPT and no EDE; RD copied, CD not set. */
    int n = mw_dns_build_error(&c, MW_RCODE_NXDOMAIN, 15, "x", out, sizeof(out));
    assert_int_equal(n, 12 + QNAME_LEN + 4);
    ldns_pkt *p = reparse(out, n);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    assert_false(ldns_pkt_edns(p));
    assert_true(ldns_pkt_rd(p));
    assert_false(ldns_pkt_cd(p));
    assert_int_equal(ldns_pkt_arcount(p), 0);
    ldns_pkt_free(p);

    /* BADVERS: header rcode 0, extended rcode 1 in the OPT. */
    client_for(&c, &w, true, false);
    c.qflags = 0;
    n = mw_dns_build_error(&c, MW_RCODE_BADVERS, -1, NULL, out, sizeof(out));
    assert_int_equal(out[3] & 0xf, 0);
    assert_int_equal(out[3] & 0x80, 0x80); /* RA */
    assert_int_equal(out[2] & 0x01, 0);    /* RD not asked, not set */
    p = reparse(out, n);
    assert_int_equal(ldns_pkt_edns_extended_rcode(p), 1);
    assert_false(ldns_pkt_edns_do(p));
    ldns_pkt_free(p);
    /* OPT TTL octets directly: ext rcode 1, version 0, flags 0. */
    assert_memory_equal(out + n - 11, "\0\0\51\4\320\1\0\0\0\0\0", 11);

    /* FORMERR without a question. */
    c.qsec = NULL;
    c.qsec_len = 0;
    n = mw_dns_build_error(&c, MW_RCODE_FORMERR, -1, NULL, out, sizeof(out));
    assert_int_equal(n, 12 + 11);
    assert_int_equal(mw_dns_get16(out + 4), 0);
    p = reparse(out, n);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_FORMERR);
    ldns_pkt_free(p);

    /* Long EDE text is cut to the client's limit, at a UTF-8 boundary. */
    client_for(&c, &w, true, false);
    char text[800];
    memset(text, 'a', sizeof(text));
    size_t base = 12 + QNAME_LEN + 4 + 11 + 6;
    /* "\303\251" (e-acute) straddles the 512-octet limit. */
    size_t at = 512 - base - 1;
    text[at] = (char)0xc3;
    text[at + 1] = (char)0xa9;
    text[sizeof(text) - 1] = '\0';
    c.max_size = 512;
    n = mw_dns_build_error(&c, MW_RCODE_REFUSED, 15, text, out, sizeof(out));
    assert_int_equal(n, 511);
    p = reparse(out, n);
    assert_int_equal(ldns_rdf_size(ldns_pkt_edns_data(p)), 6 + at);
    ldns_pkt_free(p);
    c.max_size = 1232;
    n = mw_dns_build_error(&c, MW_RCODE_REFUSED, 15, text, out, sizeof(out));
    assert_int_equal(n, (int)(base + sizeof(text) - 1));

    /* An extended rcode cannot be sent without EDNS. */
    client_for(&c, &w, false, false);
    n = mw_dns_build_error(&c, MW_RCODE_BADVERS, -1, NULL, out, sizeof(out));
    assert_int_equal(out[3] & 0xf, MW_RCODE_SERVFAIL);
}

static void test_build_query(void **state)
{
    (void)state;
    struct mw_dns_question q = {.qtype = MW_TYPE_AAAA, .qclass = 1};
    int ql = mw_dname_from_text("www.example.net", q.qname, sizeof(q.qname));
    assert_true(ql > 0);
    q.qname_len = (uint16_t)ql;
    uint8_t out[600];

    int n = mw_dns_build_query(&q, 0x5151, true, true, out, sizeof(out));
    assert_int_equal(n, 12 + ql + 4 + 11);
    ldns_pkt *p = reparse(out, n);
    assert_int_equal(ldns_pkt_id(p), 0x5151);
    assert_false(ldns_pkt_qr(p));
    assert_true(ldns_pkt_rd(p));
    assert_true(ldns_pkt_cd(p));
    assert_int_equal(ldns_pkt_qdcount(p), 1);
    assert_true(ldns_pkt_edns(p));
    assert_true(ldns_pkt_edns_do(p));
    assert_int_equal(ldns_pkt_edns_udp_size(p), MW_EDNS_UPSTREAM_BUF);
    assert_null(ldns_pkt_edns_data(p));
    ldns_rr *qrr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
    assert_int_equal(ldns_rr_get_type(qrr), LDNS_RR_TYPE_AAAA);
    assert_int_equal(ldns_rr_get_class(qrr), LDNS_RR_CLASS_IN);
    char *owner = ldns_rdf2str(ldns_rr_owner(qrr));
    assert_string_equal(owner, "www.example.net.");
    free(owner);
    ldns_pkt_free(p);

    /* Our own query parses as a client query too. */
    struct mw_dns_query pq;
    assert_int_equal(mw_dns_parse_query(out, (size_t)n, &pq), MW_PARSE_OK);
    assert_true(mw_dns_question_equal(&pq.q, &q));

    n = mw_dns_build_query(&q, 1, false, false, out, sizeof(out));
    assert_int_equal(mw_dns_get16(out + 2), MW_DNS_RD);
    assert_int_equal(out[n - 4], 0); /* DO clear */
    assert_int_equal(mw_dns_build_query(&q, 1, false, false, out, (size_t)n - 1), -ENOSPC);
    q.qname_len = 0;
    assert_int_equal(mw_dns_build_query(&q, 1, false, false, out, sizeof(out)), -EINVAL);
}

/* ---- build_synth ---- */

/* A client for a query of name (raw wire, case kept) and qtype, with its parsed question. */
static void synth_client(struct wb *w, struct mw_dns_client *c, struct mw_dns_question *q,
                         uint16_t id, uint16_t flags, const char *wire, size_t len, uint16_t qtype,
                         bool edns, bool do_bit)
{
    hdr(w, id, flags, 1, 0, 0, 0);
    question(w, wire, len, qtype);
    c->id = id;
    c->qflags = flags;
    c->qsec = w->b + 12;
    c->qsec_len = (uint16_t)(len + 4);
    c->edns = edns;
    c->do_bit = do_bit;
    c->max_size = edns ? 1232 : 512;
    memset(q, 0, sizeof(*q));
    memcpy(q->qname, wire, len);
    mw_dname_lower(q->qname, len);
    q->qname_len = (uint16_t)len;
    q->qtype = qtype;
    q->qclass = 1;
}

static void assert_owner(const ldns_rr *rr, const char *want)
{
    char *owner = ldns_rdf2str(ldns_rr_owner(rr));
    assert_string_equal(owner, want);
    free(owner);
}

/* The EDE option of a reply: code and text, or code -1 when the OPT has no option. */
static void assert_ede(ldns_pkt *p, int code, const char *text)
{
    assert_true(ldns_pkt_edns(p));
    ldns_rdf *d = ldns_pkt_edns_data(p);
    if (code < 0) {
        assert_true(d == NULL || ldns_rdf_size(d) == 0);
        return;
    }
    assert_non_null(d);
    size_t tl = text ? strlen(text) : 0;
    assert_int_equal(ldns_rdf_size(d), 6 + tl);
    const uint8_t *o = ldns_rdf_data(d);
    assert_int_equal(mw_dns_get16(o), 15);
    assert_int_equal(mw_dns_get16(o + 2), 2 + tl);
    assert_int_equal(mw_dns_get16(o + 4), code);
    if (tl)
        assert_memory_equal(o + 6, text, tl);
}

static void test_build_synth_a(void **state)
{
    (void)state;
    struct wb w;
    struct mw_dns_client c;
    struct mw_dns_question q;
    synth_client(&w, &c, &q, 0xbeef, MW_DNS_RD | MW_DNS_CD | MW_DNS_AD, "\7ExAmPlE\3COM", QNAME_LEN,
                 MW_TYPE_A, true, true);
    uint8_t out[1500];
    const uint8_t a4[4] = {10, 1, 2, 3};
    const char *text = "minewall: mining/pools";
    int n = mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a4, 4, 42, 15, text, out, sizeof(out));
    size_t tl = strlen(text);
    assert_int_equal(n, 12 + QNAME_LEN + 4 + 16 + 11 + 6 + (int)tl);
    assert_memory_equal(out + 12, w.b + 12, QNAME_LEN + 4);

    ldns_pkt *p = reparse(out, n);
    assert_int_equal(ldns_pkt_id(p), 0xbeef);
    assert_true(ldns_pkt_qr(p));
    assert_true(ldns_pkt_ra(p));
    assert_true(ldns_pkt_rd(p));
    assert_true(ldns_pkt_cd(p));
    assert_false(ldns_pkt_ad(p));
    assert_false(ldns_pkt_aa(p));
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_get_opcode(p), LDNS_PACKET_QUERY);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_pkt_qdcount(p), 1);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    assert_int_equal(ldns_pkt_nscount(p), 0);
    assert_int_equal(ldns_pkt_arcount(p), 0); /* ldns takes the OPT out of the count */
    assert_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0), "ExAmPlE.COM.");
    ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
    assert_owner(rr, "ExAmPlE.COM.");
    assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_A);
    assert_int_equal(ldns_rr_get_class(rr), LDNS_RR_CLASS_IN);
    assert_int_equal(ldns_rr_ttl(rr), 42);
    assert_int_equal(ldns_rr_rd_count(rr), 1);
    assert_int_equal(ldns_rdf_size(ldns_rr_rdf(rr, 0)), 4);
    assert_memory_equal(ldns_rdf_data(ldns_rr_rdf(rr, 0)), a4, 4);
    assert_int_equal(ldns_pkt_edns_udp_size(p), MW_EDNS_CLIENT_BUF);
    assert_true(ldns_pkt_edns_do(p));
    assert_ede(p, 15, text);
    ldns_pkt_free(p);

    /* Without EDNS: no OPT, so no EDE; RD and CD as the client sent them. */
    synth_client(&w, &c, &q, 0x0102, 0, "\7example\3com", QNAME_LEN, MW_TYPE_A, false, false);
    n = mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a4, 4, 42, 15, text, out, sizeof(out));
    assert_int_equal(n, 12 + QNAME_LEN + 4 + 16);
    assert_int_equal(mw_dns_get16(out + 10), 0);
    p = reparse(out, n);
    assert_int_equal(ldns_pkt_id(p), 0x0102);
    assert_false(ldns_pkt_rd(p));
    assert_false(ldns_pkt_cd(p));
    assert_true(ldns_pkt_ra(p));
    assert_false(ldns_pkt_edns(p));
    assert_int_equal(ldns_pkt_ancount(p), 1);
    ldns_pkt_free(p);

    /* EDNS without an EDE (ede < 0 or over 65535): an empty OPT; DO echoed as sent. */
    synth_client(&w, &c, &q, 7, MW_DNS_RD, "\7example\3com", QNAME_LEN, MW_TYPE_A, true, false);
    n = mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a4, 4, 42, -1, text, out, sizeof(out));
    assert_int_equal(n, 12 + QNAME_LEN + 4 + 16 + 11);
    p = reparse(out, n);
    assert_ede(p, -1, NULL);
    assert_false(ldns_pkt_edns_do(p));
    ldns_pkt_free(p);
    assert_int_equal(
        mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a4, 4, 42, 70000, text, out, sizeof(out)), n);
}

static void test_build_synth_aaaa(void **state)
{
    (void)state;
    struct wb w;
    struct mw_dns_client c;
    struct mw_dns_question q;
    synth_client(&w, &c, &q, 0x7777, MW_DNS_RD, "\3WWW\4Pool\7example", 18, MW_TYPE_AAAA, true,
                 false);
    uint8_t out[1500];
    const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x55};
    int n = mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a6, 16, 3600, 17, "allowed? no", out,
                               sizeof(out));
    assert_int_equal(n, 12 + 18 + 4 + 28 + 11 + 6 + 11);
    ldns_pkt *p = reparse(out, n);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    assert_int_equal(ldns_pkt_nscount(p), 0);
    ldns_rr *qrr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
    assert_owner(qrr, "WWW.Pool.example.");
    assert_int_equal(ldns_rr_get_type(qrr), LDNS_RR_TYPE_AAAA);
    ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
    assert_owner(rr, "WWW.Pool.example.");
    assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_AAAA);
    assert_int_equal(ldns_rr_ttl(rr), 3600);
    assert_int_equal(ldns_rdf_size(ldns_rr_rdf(rr, 0)), 16);
    assert_memory_equal(ldns_rdf_data(ldns_rr_rdf(rr, 0)), a6, 16);
    assert_ede(p, 17, "allowed? no");
    ldns_pkt_free(p);
}

/* The authority SOA of a negative synthesized reply. */
static void assert_synth_soa(ldns_pkt *p, const char *owner, uint32_t ttl)
{
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_int_equal(ldns_pkt_nscount(p), 1);
    ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_authority(p), 0);
    assert_int_equal(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
    assert_int_equal(ldns_rr_get_class(soa), LDNS_RR_CLASS_IN);
    assert_owner(soa, owner);
    assert_int_equal(ldns_rr_ttl(soa), ttl);
    assert_int_equal(ldns_rr_rd_count(soa), 7);
    char *m = ldns_rdf2str(ldns_rr_rdf(soa, 0));
    assert_string_equal(m, "minewall.");
    free(m);
    m = ldns_rdf2str(ldns_rr_rdf(soa, 1));
    assert_string_equal(m, "blocked.minewall.");
    free(m);
    assert_int_equal(ldns_rdf2native_int32(ldns_rr_rdf(soa, 6)), ttl);
}

static void test_build_synth_negative(void **state)
{
    (void)state;
    struct wb w;
    struct mw_dns_client c;
    struct mw_dns_question q;
    uint8_t out[1500];

    /* NODATA: NOERROR with no address (any qtype). */
    synth_client(&w, &c, &q, 0x4321, MW_DNS_RD, "\7ExAmPlE\3COM", QNAME_LEN, MW_TYPE_MX, true,
                 true);
    int n = mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, NULL, 0, 60, 15, "t", out, sizeof(out));
    assert_int_equal(n, 12 + QNAME_LEN + 4 + 12 + 10 + 18 + 20 + 11 + 7);
    ldns_pkt *p = reparse(out, n);
    assert_int_equal(ldns_pkt_id(p), 0x4321);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(p), 0)), LDNS_RR_TYPE_MX);
    assert_synth_soa(p, "ExAmPlE.COM.", 60);
    assert_ede(p, 15, "t");
    ldns_pkt_free(p);

    /* An address of a length other than 4 or 16 is NODATA too. */
    const uint8_t a4[4] = {10, 0, 0, 1};
    n = mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a4, 3, 30, 15, "t", out, sizeof(out));
    p = reparse(out, n);
    assert_synth_soa(p, "ExAmPlE.COM.", 30);
    ldns_pkt_free(p);

    /* NXDOMAIN: an address is ignored; without EDNS no OPT. */
    synth_client(&w, &c, &q, 0x1111, 0, "\7example\3com", QNAME_LEN, MW_TYPE_A, false, false);
    n = mw_dns_build_synth(&c, &q, MW_RCODE_NXDOMAIN, a4, 4, 0, 15, "ignored", out, sizeof(out));
    assert_int_equal(n, 12 + QNAME_LEN + 4 + 12 + 10 + 18 + 20);
    p = reparse(out, n);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    assert_false(ldns_pkt_rd(p));
    assert_false(ldns_pkt_edns(p));
    assert_synth_soa(p, "example.com.", 0);
    ldns_pkt_free(p);

    /* NXDOMAIN with EDNS, EDE code and no text. */
    synth_client(&w, &c, &q, 0x1112, MW_DNS_RD, "\7example\3com", QNAME_LEN, MW_TYPE_A, true,
                 false);
    n = mw_dns_build_synth(&c, &q, MW_RCODE_NXDOMAIN, NULL, 0, 86400, 17, NULL, out, sizeof(out));
    assert_int_equal(n, 12 + QNAME_LEN + 4 + 60 + 11 + 6);
    p = reparse(out, n);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    assert_synth_soa(p, "example.com.", 86400);
    assert_ede(p, 17, NULL);
    ldns_pkt_free(p);
}

static void test_build_synth_echo_nospc(void **state)
{
    (void)state;
    struct wb w;
    struct mw_dns_client c;
    struct mw_dns_question q;
    uint8_t out[1500];
    const uint8_t a4[4] = {10, 1, 2, 3};

    /* The opcode is copied from the client's flags (RFC 1035 4.1.1). */
    synth_client(&w, &c, &q, 0x2222, (2 << 11) | MW_DNS_RD, "\7example\3com", QNAME_LEN, MW_TYPE_A,
                 false, false);
    int n = mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a4, 4, 5, -1, NULL, out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal((mw_dns_get16(out + 2) >> 11) & 0xf, 2);
    ldns_pkt *p = reparse(out, n);
    assert_int_equal(ldns_pkt_get_opcode(p), LDNS_PACKET_STATUS);
    assert_true(ldns_pkt_rd(p));
    ldns_pkt_free(p);

    /* The class is echoed; an address is IN data, so another class gets the negative form (a
     * CHAOS A record has another shape). */
    synth_client(&w, &c, &q, 0x2223, 0, "\7example\3com", QNAME_LEN, MW_TYPE_A, false, false);
    q.qclass = 3;
    w.b[12 + QNAME_LEN + 3] = 3;
    n = mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a4, 4, 5, -1, NULL, out, sizeof(out));
    p = reparse(out, n);
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_int_equal(ldns_rr_get_class(ldns_rr_list_rr(ldns_pkt_authority(p), 0)),
                     LDNS_RR_CLASS_CH);
    ldns_pkt_free(p);

    /* -ENOSPC below the reply without its EDE; between that and the full length the EDE
     * text is shortened (then dropped) so the reply still fits, as mw_dns_build_error does. */
    synth_client(&w, &c, &q, 0x2224, MW_DNS_RD, "\7example\3com", QNAME_LEN, MW_TYPE_A, true,
                 false);
    uint8_t small[200];
    const char *text = "minewall: c2/feed";
    int full = mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a4, 4, 5, 15, text, out, sizeof(out));
    int bare = mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a4, 4, 5, -1, NULL, out, sizeof(out));
    int neg = mw_dns_build_synth(&c, &q, MW_RCODE_NXDOMAIN, NULL, 0, 5, 15, text, out, sizeof(out));
    int neg_bare =
        mw_dns_build_synth(&c, &q, MW_RCODE_NXDOMAIN, NULL, 0, 5, -1, NULL, out, sizeof(out));
    assert_true(bare > 0 && full > bare && neg > full && neg_bare < neg);
    for (size_t cap = 0; cap < (size_t)full; cap++) {
        int r = mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a4, 4, 5, 15, text, small, cap);
        if (cap < (size_t)bare)
            assert_int_equal(r, -ENOSPC);
        else
            assert_true(r >= bare && (size_t)r <= cap);
    }
    for (size_t cap = 0; cap < (size_t)neg; cap++) {
        int r = mw_dns_build_synth(&c, &q, MW_RCODE_NXDOMAIN, NULL, 0, 5, 15, text, small, cap);
        if (cap < (size_t)neg_bare)
            assert_int_equal(r, -ENOSPC);
        else
            assert_true(r >= neg_bare && (size_t)r <= cap);
    }
    assert_int_equal(
        mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a4, 4, 5, 15, text, small, (size_t)full),
        full);
    assert_int_equal(
        mw_dns_build_synth(&c, &q, MW_RCODE_NXDOMAIN, NULL, 0, 5, 15, text, small, (size_t)neg),
        neg);
    c.edns = false;
    assert_int_equal(mw_dns_build_synth(&c, &q, MW_RCODE_NOERROR, a4, 4, 5, 15, text, out, 20),
                     -ENOSPC);
}

/* ---- prepare_response ---- */

static void add_rr(ldns_pkt *p, ldns_pkt_section s, const char *str)
{
    ldns_rr *rr = NULL;
    assert_int_equal(ldns_rr_new_frm_str(&rr, str, 3600, NULL, NULL), LDNS_STATUS_OK);
    assert_true(ldns_pkt_push_rr(p, s, rr));
}

static ldns_pkt *resp_new(const char *qname, ldns_rr_type t, uint8_t rcode)
{
    ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str(qname), t, LDNS_RR_CLASS_IN, LDNS_RD);
    ldns_pkt_set_id(p, 777);
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_ra(p, true);
    ldns_pkt_set_rcode(p, rcode);
    return p;
}

static size_t to_wire(ldns_pkt *p, struct wb *w)
{
    uint8_t *wire;
    size_t len;
    assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
    assert_true(len <= sizeof(w->b));
    memcpy(w->b, wire, len);
    w->n = len;
    free(wire);
    ldns_pkt_free(p);
    return len;
}

/* example.com A: two answers, an NS in authority, glue, and our OPT last. */
static size_t positive(struct wb *w, bool edns)
{
    ldns_pkt *p = resp_new("Example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR);
    add_rr(p, LDNS_SECTION_ANSWER, "example.com. 300 IN A 192.0.2.1");
    add_rr(p, LDNS_SECTION_ANSWER, "example.com. 200 IN A 192.0.2.2");
    add_rr(p, LDNS_SECTION_AUTHORITY, "example.com. 1000 IN NS ns1.example.com.");
    add_rr(p, LDNS_SECTION_ADDITIONAL, "ns1.example.com. 50 IN A 192.0.2.53");
    if (edns) {
        ldns_pkt_set_edns_udp_size(p, 1232);
        ldns_pkt_set_edns_do(p, true);
    }
    return to_wire(p, w);
}

struct prep {
    uint8_t out[70000];
    int len;
    struct mw_dns_response info;
    uint16_t off[MW_DNS_MAX_TTLS];
    uint32_t ttl[MW_DNS_MAX_TTLS];
};

static int prepare(const struct wb *w, struct prep *r)
{
    r->len = mw_dns_prepare_response(w->b, w->n, r->out, sizeof(r->out), &r->info, r->off, r->ttl);
    return r->len;
}

static struct prep R; /* large: keep it off the stack */

static void test_prepare_positive(void **state)
{
    (void)state;
    struct wb w;
    size_t len = positive(&w, true);
    /* ldns compressed the owners. */
    assert_true(len < 12 + 17 + 4 * 27 + 11);
    assert_int_equal(prepare(&w, &R), (int)len - 11);
    struct mw_dns_response *i = &R.info;
    assert_int_equal(i->id, 777);
    assert_int_equal(i->rcode, 0);
    assert_int_equal(i->ancount, 2);
    assert_int_equal(i->nscount, 1);
    assert_int_equal(i->arcount, 1);
    assert_memory_equal(i->q.qname, QNAME, QNAME_LEN);
    assert_int_equal(i->q.qtype, MW_TYPE_A);
    assert_false(i->has_soa);
    assert_int_equal(i->min_ttl, 50);
    assert_int_equal(i->n_ttls, 4);
    assert_false(i->ttls_overflow);
    uint32_t want[] = {300, 200, 1000, 50};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(R.ttl[k], want[k]);
        assert_int_equal(mw_dns_get32(R.out + R.off[k]), want[k]);
    }
    assert_int_equal(mw_dns_get16(R.out + 10), 1);
    assert_memory_equal(R.out, w.b, 10);

    ldns_pkt *p = reparse(R.out, R.len);
    assert_false(ldns_pkt_edns(p));
    assert_int_equal(ldns_pkt_ancount(p), 2);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_additional(p), 0)), 50);
    ldns_pkt_free(p);

    /* Without EDNS, the copy is exact; in place works too. */
    len = positive(&w, false);
    assert_int_equal(prepare(&w, &R), (int)len);
    assert_memory_equal(R.out, w.b, len);
    assert_int_equal(mw_dns_prepare_response(w.b, w.n, w.b, w.n, &R.info, R.off, R.ttl), (int)len);
    assert_int_equal(mw_dns_prepare_response(w.b, w.n, R.out, len - 1, &R.info, R.off, R.ttl),
                     -ENOSPC);

    /* Trailing garbage is dropped. */
    putn(&w, "junk", 4);
    assert_int_equal(prepare(&w, &R), (int)len);
}

static void test_prepare_ttl_rcode(void **state)
{
    (void)state;
    struct wb w;
    positive(&w, true);
    assert_int_equal(prepare(&w, &R), (int)w.n - 11);
    /* A TTL with the top bit set counts as 0 (RFC 2181 8). */
    mw_dns_put32(w.b + R.off[1], 0x80000001u);
    /* An extended rcode of 1 in the OPT: the TTL's first octet of the last record. */
    w.b[w.n - 11 + 5] = 1;
    assert_int_equal(prepare(&w, &R), (int)w.n - 11);
    assert_int_equal(R.ttl[1], 0);
    assert_int_equal(R.info.min_ttl, 0);
    assert_int_equal(R.info.rcode, 16);

    /* No records at all: min_ttl stays UINT32_MAX. */
    ldns_pkt *p = resp_new("example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_SERVFAIL);
    to_wire(p, &w);
    assert_int_equal(prepare(&w, &R), (int)w.n);
    assert_int_equal(R.info.rcode, 2);
    assert_int_equal(R.info.min_ttl, UINT32_MAX);
    assert_int_equal(R.info.n_ttls, 0);
}

static void test_prepare_soa(void **state)
{
    (void)state;
    struct wb w;
    ldns_pkt *p = resp_new("nope.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN);
    add_rr(p, LDNS_SECTION_AUTHORITY,
           "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 900 "
           "1209600 300");
    to_wire(p, &w);
    assert_int_equal(prepare(&w, &R), (int)w.n);
    assert_true(R.info.has_soa);
    assert_int_equal(R.info.neg_ttl, 300);
    assert_int_equal(R.info.rcode, MW_RCODE_NXDOMAIN);
    assert_int_equal(R.info.min_ttl, 3600);

    p = resp_new("nope.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR);
    add_rr(p, LDNS_SECTION_AUTHORITY,
           "example.com. 60 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 900 "
           "1209600 300");
    to_wire(p, &w);
    assert_int_equal(prepare(&w, &R), (int)w.n);
    assert_true(R.info.has_soa);
    assert_int_equal(R.info.neg_ttl, 60);

    /* An SOA in the answer (a SOA query) is not a negative-caching SOA. */
    p = resp_new("example.com.", LDNS_RR_TYPE_SOA, LDNS_RCODE_NOERROR);
    add_rr(p, LDNS_SECTION_ANSWER,
           "example.com. 60 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 900 "
           "1209600 300");
    to_wire(p, &w);
    assert_int_equal(prepare(&w, &R), (int)w.n);
    assert_false(R.info.has_soa);

    /* An SOA whose rdata is too short for its names and five numbers. */
    hdr(&w, 1, MW_DNS_QR | MW_RCODE_NXDOMAIN, 1, 0, 1, 0);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    putn(&w, "\300\14", 2);
    put16(&w, MW_TYPE_SOA);
    put16(&w, 1);
    put32(&w, 60);
    put16(&w, 21);
    putn(&w, "\0\0", 2);
    for (int k = 0; k < 19; k++)
        put8(&w, 0);
    assert_int_equal(prepare(&w, &R), -EBADMSG);
    /* 22 octets, but the names do not end 20 octets before the end. */
    mw_dns_put16(w.b + w.n - 23, 22);
    w.b[w.n - 21] = 3; /* RNAME becomes a 3-octet label */
    put8(&w, 0);
    assert_int_equal(prepare(&w, &R), -EBADMSG);
    w.b[w.n - 22] = 0;
    assert_int_equal(prepare(&w, &R), (int)w.n);
    assert_true(R.info.has_soa);
    assert_int_equal(R.info.neg_ttl, 0);
}

/* A record appended by hand: owner pointer to the question, type A. */
static void put_a(struct wb *w, uint32_t ttl)
{
    putn(w, "\300\14", 2);
    put16(w, MW_TYPE_A);
    put16(w, 1);
    put32(w, ttl);
    put16(w, 4);
    putn(w, "\300\0\2\7", 4);
}

static void test_prepare_opt_not_last(void **state)
{
    (void)state;
    struct wb w;
    size_t len = positive(&w, false);
    /* Additional: glue (from ldns), OPT, then another A. */
    opt(&w, 1232, 0, 0, 0x8000, "\0\12\0\2ab", 6);
    put_a(&w, 5);
    mw_dns_put16(w.b + 10, 3);
    assert_int_equal(prepare(&w, &R), (int)len);
    assert_int_equal(R.info.arcount, 1);
    assert_int_equal(R.info.n_ttls, 4);
    assert_int_equal(R.info.min_ttl, 50);
    assert_memory_equal(R.out + 12, w.b + 12, len - 12);
    ldns_pkt *p = reparse(R.out, R.len);
    assert_false(ldns_pkt_edns(p));
    assert_int_equal(ldns_pkt_arcount(p), 1);
    ldns_pkt_free(p);

    /* The OPT first in the additional section: the glue after it goes too. */
    hdr(&w, 9, MW_DNS_QR, 1, 1, 0, 2);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    put_a(&w, 100);
    size_t cut = w.n;
    opt(&w, 1232, 0, 0, 0, NULL, 0);
    put_a(&w, 7);
    assert_int_equal(prepare(&w, &R), (int)cut);
    assert_int_equal(R.info.arcount, 0);
    assert_int_equal(R.info.n_ttls, 1);
    assert_int_equal(R.info.min_ttl, 100);
    p = reparse(R.out, R.len);
    assert_int_equal(ldns_pkt_arcount(p), 0);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    ldns_pkt_free(p);

    /* Records after the OPT are still validated. */
    w.n -= 1;
    assert_int_equal(prepare(&w, &R), -EBADMSG);
}

static void test_prepare_malformed(void **state)
{
    (void)state;
    struct wb w;
    size_t len = positive(&w, true);
    struct wb m;

    /* Every truncation of a valid message fails cleanly (the OPT is the last 11 octets; a cut
     * inside it is still a cut record). */
    for (size_t n = 0; n < len; n++) {
        memcpy(m.b, w.b, n);
        m.n = n;
        assert_int_equal(prepare(&m, &R), -EBADMSG);
    }

    /* rdlength of the first answer one too large. */
    memcpy(&m, &w, sizeof(m));
    prepare(&w, &R);
    mw_dns_put16(m.b + R.off[0] + 4, 0x1000);
    assert_int_equal(prepare(&m, &R), -EBADMSG);

    /* Not a response; QDCOUNT 0 or 2; compressed question. */
    memcpy(&m, &w, sizeof(m));
    m.b[2] &= 0x7f;
    assert_int_equal(prepare(&m, &R), -EBADMSG);
    memcpy(&m, &w, sizeof(m));
    mw_dns_put16(m.b + 4, 0);
    assert_int_equal(prepare(&m, &R), -EBADMSG);
    mw_dns_put16(m.b + 4, 2);
    assert_int_equal(prepare(&m, &R), -EBADMSG);
    hdr(&m, 1, MW_DNS_QR, 1, 0, 0, 0);
    question(&m, "\300\2", 2, MW_TYPE_A);
    assert_int_equal(prepare(&m, &R), -EBADMSG);

    /* An OPT in the answer section; two OPTs. */
    hdr(&m, 1, MW_DNS_QR, 1, 1, 0, 0);
    question(&m, QNAME, QNAME_LEN, MW_TYPE_A);
    opt(&m, 1232, 0, 0, 0, NULL, 0);
    assert_int_equal(prepare(&m, &R), -EBADMSG);
    hdr(&m, 1, MW_DNS_QR, 1, 0, 0, 2);
    question(&m, QNAME, QNAME_LEN, MW_TYPE_A);
    opt(&m, 1232, 0, 0, 0, NULL, 0);
    opt(&m, 1232, 0, 0, 0, NULL, 0);
    assert_int_equal(prepare(&m, &R), -EBADMSG);

    /* A forward compression pointer in an owner. */
    hdr(&m, 1, MW_DNS_QR, 1, 1, 0, 0);
    question(&m, QNAME, QNAME_LEN, MW_TYPE_A);
    putn(&m, "\300\100", 2);
    put16(&m, MW_TYPE_A);
    put16(&m, 1);
    put32(&m, 1);
    put16(&m, 4);
    putn(&m, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", 40);
    assert_int_equal(prepare(&m, &R), -EBADMSG);
}

/* Found by fuzzing (tests/fuzz/fuzz_response): a name may not be built, through compression
 * pointers, from bytes that every reply rewrites (the header's ID and flags, TTLs): the filter
 * would check one name and clients would get another. */
static void unstable_answer(struct wb *w, const uint8_t *cname_rdata, bool owner_in_ttl)
{
    hdr(w, 0x4242, MW_DNS_QR | MW_DNS_RD, 1, 2, 0, 0);
    question(w, QNAME "", QNAME_LEN, MW_TYPE_A);
    /* An A record whose TTL octets and rdlength read as the name "abc." (0x03 'a' 'b' 'c',
     * then rdlength 0x0004 starts with the root octet). */
    putn(w, "\300\14", 2);
    put16(w, MW_TYPE_A);
    put16(w, 1);
    putn(w, "\3abc", 4);
    put16(w, 4);
    putn(w, "\300\0\2\7", 4);
    if (owner_in_ttl)
        putn(w, "\300\43", 2); /* the first answer's TTL: offset 12 + 17 + 6 = 35 */
    else
        putn(w, "\300\14", 2);
    put16(w, MW_TYPE_CNAME);
    put16(w, 1);
    put32(w, 60);
    put16(w, 2);
    putn(w, cname_rdata, 2);
}

static void test_prepare_unstable_names(void **state)
{
    (void)state;
    struct wb w;
    /* Control: the CNAME target points at the question name. */
    unstable_answer(&w, (const uint8_t *)"\300\14", false);
    assert_int_equal(prepare(&w, &R), (int)w.n);
    assert_int_equal(R.off[0], 35);
    /* Into the first answer's TTL. */
    unstable_answer(&w, (const uint8_t *)"\300\43", false);
    assert_int_equal(prepare(&w, &R), -EBADMSG);
    /* An owner name there. */
    unstable_answer(&w, (const uint8_t *)"\300\14", true);
    assert_int_equal(prepare(&w, &R), -EBADMSG);
    /* Into the header (the flags word). */
    unstable_answer(&w, (const uint8_t *)"\300\2", false);
    assert_int_equal(prepare(&w, &R), -EBADMSG);
    /* A CNAME whose rdata is not a name at all. */
    unstable_answer(&w, (const uint8_t *)"\100\0", false);
    assert_int_equal(prepare(&w, &R), -EBADMSG);
}

static void test_prepare_many_ttls(void **state)
{
    (void)state;
    struct wb w;
    hdr(&w, 1, MW_DNS_QR, 1, 600, 0, 0);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    for (int k = 0; k < 600; k++)
        put_a(&w, 1000 - (uint32_t)k);
    assert_int_equal(prepare(&w, &R), (int)w.n);
    assert_true(R.info.ttls_overflow);
    assert_int_equal(R.info.n_ttls, MW_DNS_MAX_TTLS);
    assert_int_equal(R.info.min_ttl, 401);
    assert_int_equal(R.ttl[MW_DNS_MAX_TTLS - 1], 1000 - (MW_DNS_MAX_TTLS - 1));

    hdr(&w, 1, MW_DNS_QR, 1, MW_DNS_MAX_TTLS, 0, 0);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    for (int k = 0; k < MW_DNS_MAX_TTLS; k++)
        put_a(&w, 10);
    assert_int_equal(prepare(&w, &R), (int)w.n);
    assert_false(R.info.ttls_overflow);
    assert_int_equal(R.info.n_ttls, MW_DNS_MAX_TTLS);
}

/* ---- render ---- */

static uint8_t OUT[MW_DNS_MAXMSG + 64];

static struct mw_dns_stored stored_of(const struct prep *r)
{
    struct mw_dns_stored s = {r->out, (size_t)r->len, r->off, r->ttl, r->info.n_ttls};
    return s;
}

static void test_render(void **state)
{
    (void)state;
    struct wb w, q;
    positive(&w, true);
    prepare(&w, &R);
    struct mw_dns_stored s = stored_of(&R);

    hdr(&q, 0xbeef, MW_DNS_RD | MW_DNS_CD, 1, 0, 0, 1);
    question(&q, "\7eXaMpLe\3CoM", QNAME_LEN, MW_TYPE_A);
    opt(&q, 4096, 0, 0, 0x8000, NULL, 0);
    struct mw_dns_query pq;
    assert_int_equal(mw_dns_parse_query(q.b, q.n, &pq), MW_PARSE_OK);
    struct mw_dns_client c;
    mw_dns_client_from_query(&pq, false, &c);

    int n = mw_dns_render(&s, &c, 100, -1, OUT, sizeof(OUT));
    assert_int_equal(n, R.len + 11);
    assert_memory_equal(OUT + 12, q.b + 12, QNAME_LEN + 4);
    ldns_pkt *p = reparse(OUT, n);
    assert_int_equal(ldns_pkt_id(p), 0xbeef);
    assert_true(ldns_pkt_qr(p) && ldns_pkt_ra(p) && ldns_pkt_rd(p) && ldns_pkt_cd(p));
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 2);
    assert_int_equal(ldns_pkt_nscount(p), 1);
    assert_int_equal(ldns_pkt_arcount(p), 1); /* ldns counts the OPT out */
    assert_true(ldns_pkt_edns(p));
    assert_true(ldns_pkt_edns_do(p));
    assert_int_equal(ldns_pkt_edns_udp_size(p), MW_EDNS_CLIENT_BUF);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 200);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 1)), 100);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_authority(p), 0)), 900);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_additional(p), 0)), 0);
    /* Compression pointers still land on the (re-cased) question name. */
    char *owner = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_answer(p), 0)));
    assert_string_equal(owner, "eXaMpLe.CoM.");
    free(owner);
    ldns_pkt_free(p);
    assert_int_equal(mw_dns_get16(OUT + 10), 2);

    /* Serve-stale fixed TTL; the stored packet is untouched by rendering. */
    n = mw_dns_render(&s, &c, 100, 30, OUT, sizeof(OUT));
    p = reparse(OUT, n);
    for (size_t k = 0; k < 2; k++)
        assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), k)), 30);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_additional(p), 0)), 30);
    ldns_pkt_free(p);
    assert_int_equal(mw_dns_get32(R.out + R.off[0]), 300);

    /* A client without EDNS, RD or CD. */
    c.edns = false;
    c.do_bit = false;
    c.qflags = 0;
    n = mw_dns_render(&s, &c, 0, -1, OUT, sizeof(OUT));
    assert_int_equal(n, R.len);
    p = reparse(OUT, n);
    assert_false(ldns_pkt_edns(p));
    assert_false(ldns_pkt_rd(p) || ldns_pkt_cd(p));
    assert_true(ldns_pkt_ra(p));
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 300);
    ldns_pkt_free(p);

    assert_int_equal(mw_dns_render(&s, &c, 0, -1, OUT, (size_t)R.len - 1), -ENOSPC);
    c.qsec_len--;
    assert_int_equal(mw_dns_render(&s, &c, 0, -1, OUT, sizeof(OUT)), -EINVAL);
}

static void test_render_ad(void **state)
{
    (void)state;
    struct wb w, q;
    positive(&w, false);
    mw_dns_put16(w.b + 2, (uint16_t)(mw_dns_get16(w.b + 2) | MW_DNS_AD | MW_DNS_AA));
    prepare(&w, &R);
    struct mw_dns_stored s = stored_of(&R);
    std_query(&q, false, 0, 0);
    struct mw_dns_client c;
    client_for(&c, &q, false, false);
    assert_true(mw_dns_render(&s, &c, 0, -1, OUT, sizeof(OUT)) > 0);
    /* AA is never relayed: a forwarder is not the authority. */
    assert_int_equal(mw_dns_get16(OUT + 2) & (MW_DNS_AD | MW_DNS_AA), 0);
    c.qflags |= MW_DNS_AD;
    assert_true(mw_dns_render(&s, &c, 0, -1, OUT, sizeof(OUT)) > 0);
    assert_true(mw_dns_get16(OUT + 2) & MW_DNS_AD);
    c.qflags = 0;
    c.do_bit = true;
    assert_true(mw_dns_render(&s, &c, 0, -1, OUT, sizeof(OUT)) > 0);
    assert_true(mw_dns_get16(OUT + 2) & MW_DNS_AD);
}

static void test_render_tc(void **state)
{
    (void)state;
    struct wb w, q;
    hdr(&w, 1, MW_DNS_QR | MW_DNS_RA | MW_DNS_RD, 1, 40, 0, 0);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    for (int k = 0; k < 40; k++)
        put_a(&w, 60);
    assert_int_equal(prepare(&w, &R), (int)w.n);
    assert_true(w.n > 512);
    struct mw_dns_stored s = stored_of(&R);

    std_query(&q, false, 0, 0);
    struct mw_dns_client c;
    client_for(&c, &q, false, false);
    int n = mw_dns_render(&s, &c, 0, -1, OUT, sizeof(OUT));
    assert_int_equal(n, 12 + QNAME_LEN + 4);
    ldns_pkt *p = reparse(OUT, n);
    assert_true(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_id(p), 0x1234);
    assert_int_equal(ldns_pkt_qdcount(p), 1);
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_int_equal(ldns_pkt_arcount(p), 0);
    assert_false(ldns_pkt_edns(p));
    ldns_pkt_free(p);

    /* With EDNS: OPT counted; fits at 1232, truncated at 600. */
    client_for(&c, &q, true, true);
    c.max_size = 600;
    n = mw_dns_render(&s, &c, 0, -1, OUT, sizeof(OUT));
    assert_int_equal(n, 12 + QNAME_LEN + 4 + 11);
    p = reparse(OUT, n);
    assert_true(ldns_pkt_tc(p));
    assert_true(ldns_pkt_edns(p) && ldns_pkt_edns_do(p));
    assert_int_equal(ldns_pkt_ancount(p), 0);
    ldns_pkt_free(p);
    c.max_size = 1232;
    n = mw_dns_render(&s, &c, 0, -1, OUT, sizeof(OUT));
    assert_int_equal(n, (int)w.n + 11);
    assert_false(mw_dns_get16(OUT + 2) & MW_DNS_TC);
    /* Over TCP it all fits. */
    client_for(&c, &q, false, false);
    c.max_size = 65535;
    assert_int_equal(mw_dns_render(&s, &c, 0, -1, OUT, sizeof(OUT)), (int)w.n);
}

/* ---- the record iterator ---- */

static void test_iter(void **state)
{
    (void)state;
    struct wb w;
    /* example.com A: an answer owned by a pointer to the question, a CNAME whose target
     * owns an answer, an authority record with an uncompressed owner, and OPT. */
    hdr(&w, 1, MW_DNS_QR, 1, 3, 1, 1);
    question(&w, QNAME, QNAME_LEN, MW_TYPE_A);
    put16(&w, 0xc00c);
    put16(&w, MW_TYPE_CNAME);
    put16(&w, 1);
    put32(&w, 0x80000001u);
    put16(&w, 4);
    size_t target = w.n;
    putn(&w, "\1x\xc0\x0c", 4); /* x.example.com */
    put16(&w, (uint16_t)(0xc000 | target));
    put16(&w, MW_TYPE_A);
    put16(&w, 1);
    put32(&w, 7);
    put16(&w, 4);
    putn(&w, "\1\2\3\4", 4);
    putn(&w, "\1X\7EXAMPLE\3com", 15); /* the same name in other case, uncompressed */
    put16(&w, MW_TYPE_A);
    put16(&w, 1);
    put32(&w, 8);
    put16(&w, 4);
    putn(&w, "\1\2\3\5", 4);
    put8(&w, 0);
    put16(&w, MW_TYPE_NS);
    put16(&w, 1);
    put32(&w, 9);
    put16(&w, 2);
    put16(&w, 0xc00c);
    opt(&w, 1232, 0, 0, 0, NULL, 0);

    struct mw_dns_iter it;
    struct mw_dns_rr rr = {0};
    assert_int_equal(mw_dns_iter_init(&it, w.b, w.n), 0);
    static const uint8_t want[] = "\1x\7example\3com";
    assert_int_equal(mw_dns_iter_match(&it, want, sizeof(want), -1), 0);
    static const struct {
        uint16_t type;
        uint8_t section;
        bool is_q, eq;
        uint32_t ttl;
    } exp[] = {
        {MW_TYPE_CNAME, MW_SECTION_ANSWER, true, false, 0x80000001u},
        {MW_TYPE_A, MW_SECTION_ANSWER, false, true, 7},
        {MW_TYPE_A, MW_SECTION_ANSWER, false, true, 8},
        {MW_TYPE_NS, MW_SECTION_AUTHORITY, false, false, 9},
        {MW_TYPE_OPT, MW_SECTION_ADDITIONAL, false, false, 0},
    };
    for (size_t i = 0; i < sizeof(exp) / sizeof(exp[0]); i++) {
        assert_int_equal(mw_dns_iter_next(&it, &rr), 1);
        assert_int_equal(rr.type, exp[i].type);
        assert_int_equal(rr.section, exp[i].section);
        assert_int_equal(rr.owner_is_q, exp[i].is_q);
        assert_int_equal(rr.owner_eq, exp[i].eq);
        assert_true(rr.ttl == exp[i].ttl);
        assert_int_equal(mw_dns_get16(w.b + rr.rdata - 10), rr.type);
    }
    assert_int_equal(rr.rdata + rr.rdlen, w.n);
    assert_int_equal(mw_dns_iter_next(&it, &rr), 0);
    assert_int_equal(mw_dns_iter_next(&it, &rr), 0);

    /* The question name itself as want: pointer owners match without a walk. */
    assert_int_equal(mw_dns_iter_init(&it, w.b, w.n), 0);
    assert_int_equal(mw_dns_iter_match(&it, (const uint8_t *)QNAME, QNAME_LEN, -1), 0);
    assert_int_equal(mw_dns_iter_next(&it, &rr), 1);
    assert_true(rr.owner_is_q && rr.owner_eq);

    /* Every truncation fails cleanly, never reads past the end. */
    for (size_t cut = 0; cut < w.n; cut++) {
        int r = mw_dns_iter_init(&it, w.b, cut);
        unsigned n = 0;
        while (r == 0 && (r = mw_dns_iter_next(&it, &rr)) > 0) {
            assert_true(rr.rdata + rr.rdlen <= cut);
            n++;
            r = 0;
        }
        assert_true(r < 0);
        assert_true(n < 5);
    }
    /* A forward pointer as owner, and rdata past the end. */
    w.b[12 + QNAME_LEN + 4 + 1] = 0xff;
    assert_int_equal(mw_dns_iter_init(&it, w.b, w.n), 0);
    assert_int_equal(mw_dns_iter_next(&it, &rr), -EBADMSG);
    hdr(&w, 1, MW_DNS_QR, 0, 1, 0, 0);
    put8(&w, 0);
    put16(&w, MW_TYPE_A);
    put16(&w, 1);
    put32(&w, 1);
    put16(&w, 5);
    putn(&w, "\1\2\3\4", 4);
    assert_int_equal(mw_dns_iter_init(&it, w.b, w.n), 0);
    assert_int_equal(mw_dns_iter_next(&it, &rr), -EBADMSG);
    assert_int_equal(mw_dns_iter_init(&it, w.b, 11), -EBADMSG);
}

/* ---- mutation loop ---- */

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static void run_all(const uint8_t *pkt, size_t len)
{
    struct mw_dns_query q;
    enum mw_dns_parse pr = mw_dns_parse_query(pkt, len, &q);
    if (pr == MW_PARSE_OK || pr == MW_PARSE_FORMERR) {
        struct mw_dns_client c;
        mw_dns_client_from_query(&q, false, &c);
        assert_true(mw_dns_build_error(&c, MW_RCODE_FORMERR, 0, "x", OUT, sizeof(OUT)) > 0);
    }
    int n = mw_dns_prepare_response(pkt, len, R.out, sizeof(R.out), &R.info, R.off, R.ttl);
    if (n < 0)
        return;
    R.len = n;
    assert_true(R.info.n_ttls <= MW_DNS_MAX_TTLS);
    for (unsigned k = 0; k < R.info.n_ttls; k++)
        assert_true(R.off[k] + 4u <= (unsigned)n);
    struct mw_dns_stored s = stored_of(&R);
    struct mw_dns_client c = {.id = 1,
                              .qsec = R.out + 12,
                              .qsec_len = R.info.q.qname_len + 4,
                              .edns = rnd() & 1,
                              .max_size = (uint16_t)(512 + rnd() % 2000)};
    int m = mw_dns_render(&s, &c, rnd() % 100, -1, OUT, sizeof(OUT));
    assert_true(m >= 12);
    ldns_pkt *p = NULL;
    if (ldns_wire2pkt(&p, OUT, (size_t)m) == LDNS_STATUS_OK)
        ldns_pkt_free(p);
}

static void test_fuzz(void **state)
{
    (void)state;
    struct wb seeds[4];
    positive(&seeds[0], true);
    positive(&seeds[1], false);
    ldns_pkt *p = resp_new("a.b.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN);
    add_rr(p, LDNS_SECTION_ANSWER, "a.b.example.com. 30 IN CNAME x.example.com.");
    add_rr(p, LDNS_SECTION_AUTHORITY,
           "example.com. 60 IN SOA ns1.example.com. h.example.com. 1 2 3 4 5");
    ldns_pkt_set_edns_udp_size(p, 1232);
    to_wire(p, &seeds[2]);
    std_query(&seeds[3], true, 1232, 0x8000);

    struct wb m;
    unsigned accepted = 0;
    for (int it = 0; it < 6000; it++) {
        if (it % 4 == 3) {
            /* Pure noise, often with a plausible header. */
            m.n = rnd() % 300;
            for (size_t k = 0; k < m.n; k++)
                m.b[k] = (uint8_t)rnd();
            if (m.n >= 12 && (rnd() & 1)) {
                mw_dns_put16(m.b + 4, 1);
                m.b[6] = m.b[8] = m.b[10] = 0;
                m.b[7] = (uint8_t)(rnd() % 4);
                m.b[11] = (uint8_t)(rnd() % 3);
            }
        } else {
            const struct wb *sd = &seeds[rnd() % 4];
            memcpy(m.b, sd->b, sd->n);
            m.n = sd->n;
            int flips = 1 + (int)(rnd() % 4);
            for (int f = 0; f < flips; f++) {
                uint32_t r = rnd();
                size_t at = rnd() % m.n;
                if (r % 3 == 0)
                    m.b[at] = (uint8_t)rnd();
                else if (r % 3 == 1)
                    m.b[at] ^= (uint8_t)(1u << (rnd() % 8));
                else
                    m.n = at + 1; /* truncate */
            }
        }
        run_all(m.b, m.n);
        if (mw_dns_prepare_response(m.b, m.n, R.out, sizeof(R.out), &R.info, R.off, R.ttl) >= 0)
            accepted++;
    }
    /* The mutations are not all rejected: render was exercised. */
    assert_true(accepted > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iter),
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_drop_notimp),
        cmocka_unit_test(test_parse_formerr),
        cmocka_unit_test(test_parse_edns),
        cmocka_unit_test(test_parse_refused_case),
        cmocka_unit_test(test_parse_ldns_query),
        cmocka_unit_test(test_build_error_ede),
        cmocka_unit_test(test_build_error_variants),
        cmocka_unit_test(test_build_synth_a),
        cmocka_unit_test(test_build_synth_aaaa),
        cmocka_unit_test(test_build_synth_negative),
        cmocka_unit_test(test_build_synth_echo_nospc),
        cmocka_unit_test(test_build_query),
        cmocka_unit_test(test_prepare_positive),
        cmocka_unit_test(test_prepare_ttl_rcode),
        cmocka_unit_test(test_prepare_soa),
        cmocka_unit_test(test_prepare_opt_not_last),
        cmocka_unit_test(test_prepare_malformed),
        cmocka_unit_test(test_prepare_unstable_names),
        cmocka_unit_test(test_prepare_many_ttls),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_render_ad),
        cmocka_unit_test(test_render_tc),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
