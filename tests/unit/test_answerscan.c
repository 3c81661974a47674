/* Unit tests for answerscan.c: the binary set of a response (values sorted as keys and
 * de-duplicated, addresses numerically), the TTL, a CNAME chain followed to its end through
 * compressed owners, qtype CNAME without a chain, MX and NS keys, the value cap, responses
 * that say nothing (NXDOMAIN, TC) and malformed ones (question mismatch, bad rdata, records
 * cut short), and the key helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "minewall/answerscan.h"

#include "pktbuild.h"

static struct mw_answerscan *SC;
static struct mw_answerscan_set SET;

static int rd(const char *qname, uint16_t qtype, const struct pkt *p)
{
    uint8_t w[256];
    int n = mw_dname_from_text(qname, w, sizeof(w));
    assert_true(n > 0);
    memset(&SET, 0, sizeof(SET));
    return mw_answerscan_read(SC, w, (size_t)n, qtype, p->b, p->len, &SET);
}

static void test_addresses(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "www.example", MW_TYPE_A, 0);
    pk_addr(&p, NULL, "192.0.2.10", 300);
    pk_addr(&p, NULL, "192.0.2.9", 60);
    pk_addr(&p, "WWW.Example", "192.0.2.10", 100);   /* a duplicate, another case */
    pk_addr(&p, "other.example", "198.51.100.1", 5); /* another owner: not in the set */
    assert_int_equal(rd("www.example", MW_TYPE_A, &p), 1);
    assert_int_equal(SET.n_chain, 0);
    assert_int_equal(SET.n_vals, 2);
    assert_int_equal(SET.len, 8);
    assert_memory_equal(SET.p, "\xc0\x00\x02\x09\xc0\x00\x02\x0a", 8); /* 9 before 10 */
    assert_int_equal(SET.ttl, 60);
    assert_false(SET.truncated);

    /* NOERROR without records is the empty set. */
    pk_start(&p, "www.example", MW_TYPE_AAAA, 0);
    assert_int_equal(rd("www.example", MW_TYPE_AAAA, &p), 1);
    assert_int_equal(SET.n_vals, 0);
    assert_int_equal(SET.len, 0);
    assert_int_equal(SET.ttl, 0);
}

static void test_chain(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "a.example", MW_TYPE_AAAA, 0);
    pk_name(&p, NULL, MW_TYPE_CNAME, "b.example", 50);
    pk_name(&p, "b.example", MW_TYPE_CNAME, "c.example", 40);
    pk_addr(&p, "c.example", "2001:db8::2", 90);
    pk_addr(&p, "c.example", "2001:db8::1", 90);
    pk_addr(&p, NULL, "2001:db8::ff", 90); /* at the question name: not the chain's end */
    assert_int_equal(rd("a.example", MW_TYPE_AAAA, &p), 1);
    assert_int_equal(SET.n_chain, 2);
    assert_int_equal(SET.n_vals, 2);
    static const uint8_t chain[] = "\1b\7example\0\1c\7example";
    assert_memory_equal(SET.p, chain, sizeof(chain));
    assert_int_equal(mw_answerscan_name_len(SET.p), 11);
    const uint8_t *v = SET.p + sizeof(chain);
    assert_int_equal(v[15], 1);
    assert_int_equal(v[16 + 15], 2);
    assert_int_equal(SET.len, sizeof(chain) + 32);
    assert_int_equal(SET.ttl, 40);

    /* qtype CNAME: the targets are the values, no chain. */
    pk_start(&p, "a.example", MW_TYPE_CNAME, 0);
    pk_name(&p, NULL, MW_TYPE_CNAME, "b.example", 50);
    assert_int_equal(rd("a.example", MW_TYPE_CNAME, &p), 1);
    assert_int_equal(SET.n_chain, 0);
    assert_int_equal(SET.n_vals, 1);
    assert_memory_equal(SET.p, "\1b\7example", 11);

    /* A CNAME loop runs into the hop limit. */
    pk_start(&p, "x.example", MW_TYPE_A, 0);
    pk_name(&p, NULL, MW_TYPE_CNAME, "y.example", 5);
    pk_name(&p, "y.example", MW_TYPE_CNAME, "x.example", 5);
    assert_int_equal(rd("x.example", MW_TYPE_A, &p), 1);
    assert_int_equal(SET.n_chain, MW_ANSWERSCAN_MAX_CHAIN);
    assert_int_equal(SET.n_vals, 0);
}

static void test_mx_ns(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "example", MW_TYPE_MX, 0);
    pk_mx(&p, NULL, 20, "mx2.example", 30);
    pk_mx(&p, NULL, 10, "MX1.example", 30);
    assert_int_equal(rd("example", MW_TYPE_MX, &p), 1);
    assert_int_equal(SET.n_vals, 2);
    assert_memory_equal(SET.p, "\0\12\3mx1\7example", 15); /* lowercased */
    assert_int_equal(mw_answerscan_val_len(MW_TYPE_MX, SET.p), 15);
    assert_int_equal(mw_answerscan_val_len(MW_TYPE_MX, SET.p + 15), 15);
    assert_int_equal(SET.len, 30);

    pk_start(&p, "example", MW_TYPE_NS, 0);
    pk_name(&p, NULL, MW_TYPE_NS, NULL, 30); /* rdata: a pointer to the question */
    assert_int_equal(rd("example", MW_TYPE_NS, &p), 1);
    assert_int_equal(SET.n_vals, 1);
    assert_memory_equal(SET.p, "\7example", 9);
}

static void test_cap(void **state)
{
    (void)state;
    static struct pkt p;
    pk_start(&p, "many.example", MW_TYPE_A, 0);
    for (int i = 100; i > 100 - (MW_ANSWERSCAN_MAX_VALUES + 6); i--) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.0.0.%d", i);
        pk_addr(&p, NULL, ip, 1);
    }
    assert_int_equal(rd("many.example", MW_TYPE_A, &p), 1);
    assert_true(SET.truncated);
    assert_int_equal(SET.n_vals, MW_ANSWERSCAN_MAX_VALUES);
    assert_int_equal(SET.p[3], 100 - (MW_ANSWERSCAN_MAX_VALUES + 6) + 1); /* the smallest */
}

static void test_skip_and_bad(void **state)
{
    (void)state;
    struct pkt p;
    pk_start(&p, "n.example", MW_TYPE_A, MW_RCODE_NXDOMAIN);
    assert_int_equal(rd("n.example", MW_TYPE_A, &p), 0);
    pk_start(&p, "n.example", MW_TYPE_A, MW_DNS_TC);
    assert_int_equal(rd("n.example", MW_TYPE_A, &p), 0);

    pk_start(&p, "n.example", MW_TYPE_A, 0);
    pk_addr(&p, NULL, "192.0.2.1", 1);
    assert_int_equal(rd("m.example", MW_TYPE_A, &p), -EBADMSG);    /* another name */
    assert_int_equal(rd("n.example", MW_TYPE_AAAA, &p), -EBADMSG); /* another type */
    assert_int_equal(rd("N.EXAMPLE", MW_TYPE_A, &p), 1);           /* same name */
    for (size_t cut = p.len - 1; cut > 12; cut--) {
        struct pkt q = p;
        q.len = cut;
        assert_int_equal(rd("n.example", MW_TYPE_A, &q), -EBADMSG);
    }
    /* An A record of the set with 5 octets of rdata. */
    pk_start(&p, "n.example", MW_TYPE_A, 0);
    size_t at = pk_rr_head(&p, NULL, MW_TYPE_A, 1);
    memcpy(p.b + p.len, "\1\2\3\4\5", 5);
    p.len += 5;
    pk_rr_end(&p, at);
    assert_int_equal(rd("n.example", MW_TYPE_A, &p), -EBADMSG);
    /* Not a response. */
    pk_start(&p, "n.example", MW_TYPE_A, 0);
    p.b[2] &= 0x7f;
    assert_int_equal(rd("n.example", MW_TYPE_A, &p), -EBADMSG);
}

static void test_keys(void **state)
{
    (void)state;
    assert_true(mw_answerscan_key_cmp((const uint8_t *)"a", 1, (const uint8_t *)"b", 1) < 0);
    assert_true(mw_answerscan_key_cmp((const uint8_t *)"ab", 2, (const uint8_t *)"a", 1) > 0);
    assert_int_equal(mw_answerscan_key_cmp((const uint8_t *)"ab", 2, (const uint8_t *)"ab", 2), 0);
    assert_int_equal(mw_answerscan_val_len(MW_TYPE_A, NULL), 4);
    assert_int_equal(mw_answerscan_val_len(MW_TYPE_AAAA, NULL), 16);
    assert_int_equal(mw_answerscan_val_len(MW_TYPE_NS, (const uint8_t *)""), 1);
    assert_true(mw_answerscan_size() > 0);
}

static int setup(void **state)
{
    (void)state;
    SC = mw_answerscan_new();
    return SC ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    mw_answerscan_free(SC);
    mw_answerscan_free(NULL);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),    cmocka_unit_test(test_chain),
        cmocka_unit_test(test_mx_ns),        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_skip_and_bad), cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
