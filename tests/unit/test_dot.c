/* Unit tests for the pure DNS-over-TLS parts (dot.c) and the tls: keys of the config
 * (config_tls.c): the tls:// syntax, base64 SPKI pins and their matching, the padded query
 * with its keepalive option, the keepalive a server announces, and the config's upstream
 * table, pins and errors with FILE:LINE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/dot.h"
#include "minewall/error.h"
#include "minewall/netaddr.h"

static void test_parse_url(void **state)
{
    (void)state;
    struct mw_addr a;
    char name[MW_DOT_NAME_MAX + 1], text[64];
    assert_int_equal(mw_dot_parse_url("tls://1.1.1.1", &a, name, sizeof(name)), 1);
    mw_addr_format(&a, text, sizeof(text));
    assert_string_equal(text, "1.1.1.1:853");
    assert_string_equal(name, "");
    assert_int_equal(mw_dot_parse_url("tls://9.9.9.9:8853#DNS.Quad9.net.", &a, name, sizeof(name)),
                     1);
    mw_addr_format(&a, text, sizeof(text));
    assert_string_equal(text, "9.9.9.9:8853");
    assert_string_equal(name, "dns.quad9.net");
    assert_int_equal(
        mw_dot_parse_url("tls://[2620:fe::fe]:853#dns.quad9.net", &a, name, sizeof(name)), 1);
    mw_addr_format(&a, text, sizeof(text));
    assert_string_equal(text, "[2620:fe::fe]:853");
    assert_int_equal(mw_dot_parse_url("tls://[::1]", &a, name, sizeof(name)), 1);
    assert_int_equal(mw_addr_port(&a), 853);
    /* An IPv6 address with a port needs brackets: "::1:853" is the address ::1:853. */
    assert_int_equal(mw_dot_parse_url("tls://::1:853", &a, name, sizeof(name)), 1);
    assert_int_equal(mw_addr_port(&a), 853);
    /* Not a tls:// URL: nothing to do here. */
    assert_int_equal(mw_dot_parse_url("1.1.1.1:53", &a, name, sizeof(name)), 0);
    assert_int_equal(mw_dot_parse_url("https://1.1.1.1/dns-query", &a, name, sizeof(name)), 0);
    static const char *const bad[] = {
        "tls://",
        "tls://#dns.test",
        "tls://dns.test",
        "tls://1.1.1.1:0",
        "tls://1.1.1.1:70000",
        "tls://1.1.1.1#",
        "tls://1.1.1.1#a..b",
        "tls://1.1.1.1#.a",
        "tls://1.1.1.1#a b",
        "tls://1.1.1.1#a/b",
        "tls://1.1.1.1/",
        "tls://1.1.1.1#aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (mw_dot_parse_url(bad[i], &a, name, sizeof(name)) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
}

static void test_pins(void **state)
{
    (void)state;
    /* SHA-256("abc") in base64 (FIPS 180-2 test vector). */
    static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                    0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                    0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    uint8_t pin[2][32];
    assert_int_equal(mw_dot_pin_decode("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", pin[0]), 0);
    assert_memory_equal(pin[0], abc, 32);
    memset(pin[1], 0x11, 32);
    assert_true(mw_dot_pin_match((const uint8_t(*)[32])pin, 2, abc));
    uint8_t other[32] = {0};
    assert_false(mw_dot_pin_match((const uint8_t(*)[32])pin, 2, other));
    assert_false(mw_dot_pin_match((const uint8_t(*)[32])pin, 0, abc));
    static const char *const bad[] = {
        "",
        "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0",   /* no pad */
        "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa1=",  /* pad bits set */
        "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0==", /* too long */
        "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0=",  /* base64url alphabet */
        "ungWv48Bz pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",  /* a space */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (mw_dot_pin_decode(bad[i], pin[0]) != -EINVAL)
            fail_msg("accepted pin '%s'", bad[i]);
}

static void question(struct mw_dns_question *q, const char *name)
{
    memset(q, 0, sizeof(*q));
    int n = mw_dname_from_text(name, q->qname, sizeof(q->qname));
    assert_true(n > 0);
    q->qname_len = (uint16_t)n;
    q->qtype = 1;
    q->qclass = 1;
}

static void test_padding(void **state)
{
    (void)state;
    static const char *const names[] = {"a.test", "www.example.com",
                                        "a-rather-long-label-to-cross-a-block.and-another-one-"
                                        "that-is-long.example.org"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct mw_dns_question q;
        question(&q, names[i]);
        uint8_t buf[1024];
        int n = mw_dns_build_query(&q, 0x1234, false, true, buf, sizeof(buf));
        assert_true(n > 0);
        int m = mw_dot_finish_query(buf, (size_t)n, sizeof(buf));
        assert_true(m > n);
        assert_int_equal(m % MW_DOT_PAD_BLOCK, 0);
        /* The OPT record's rdata holds keepalive (11, empty) then padding (12) to the end. */
        const uint8_t *opt = buf + n - 11;
        assert_int_equal(mw_dns_get16(opt + 1), 41);
        assert_int_equal(mw_dns_get16(opt + 9), m - n);
        assert_int_equal(mw_dns_get16(buf + n), 11);
        assert_int_equal(mw_dns_get16(buf + n + 2), 0);
        assert_int_equal(mw_dns_get16(buf + n + 4), 12);
        assert_int_equal(mw_dns_get16(buf + n + 6), m - n - 8);
        for (int k = n + 8; k < m; k++)
            assert_int_equal(buf[k], 0);
        /* A server reading it: the keepalive option without a timeout is no timeout. */
        assert_int_equal(mw_dot_keepalive_ms(buf, (size_t)m), -1);
        /* A query without the empty OPT last (this one has options now), or too small a
         * buffer. */
        assert_int_equal(mw_dot_finish_query(buf, (size_t)m, sizeof(buf)), -EINVAL);
        n = mw_dns_build_query(&q, 0x1234, false, true, buf, sizeof(buf));
        assert_int_equal(mw_dot_finish_query(buf, (size_t)n, (size_t)m - 1), -ENOSPC);
    }
}

static void test_keepalive(void **state)
{
    (void)state;
    /* An answer: header, question a.test A, one A record (compressed owner), OPT with
     * keepalive 300 (30 s) after another option. */
    static const uint8_t pkt[] = {
        0x12, 0x34, 0x81, 0x80, 0,   1,   0,   1, 0, 0,  0, 1,               /* header */
        1,    'a',  4,    't',  'e', 's', 't', 0, 0, 1,  0, 1,               /* question */
        0xc0, 12,   0,    1,    0,   1,   0,   0, 0, 60, 0, 4, 192, 0, 2, 1, /* A */
        0,    0,    41,   4,    0,   0,   0,   0, 0,                         /* OPT */
        0,    14,                                                            /* rdlen */
        0,    10,   0,    4,    1,   2,   3,   4,                            /* cookie-ish option */
        0,    11,   0,    2,    1,   44,                                     /* keepalive 300 */
    };
    assert_int_equal(mw_dot_keepalive_ms(pkt, sizeof(pkt)), 30000);
    /* Truncated anywhere: never read past the end. */
    for (size_t n = 0; n < sizeof(pkt); n++)
        assert_true(mw_dot_keepalive_ms(pkt, n) == -1 || n == sizeof(pkt));
    uint8_t no_opt[sizeof(pkt)];
    memcpy(no_opt, pkt, sizeof(pkt));
    no_opt[11] = 0; /* ARCOUNT 0 */
    assert_int_equal(mw_dot_keepalive_ms(no_opt, sizeof(pkt)), -1);
}

static struct mw_config *parse(const char *text, struct mw_errlist *e)
{
    return mw_config_parse(text, strlen(text), "t.yaml", e);
}

static void test_config(void **state)
{
    (void)state;
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_config *c = parse("upstreams:\n"
                                "  - 192.0.2.1\n"
                                "  - tls://192.0.2.2#Dns.Test\n"
                                "forward-zones:\n"
                                "  corp: [\"tls://[2001:db8::1]:8853\", tls://192.0.2.2#dns.test]\n"
                                "tls:\n"
                                "  ca-file: /etc/ssl/certs/ca-certificates.crt\n"
                                "  max-connections: 4\n"
                                "  idle-timeout: 30\n"
                                "  pins:\n"
                                "    dns.test: [ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=]\n",
                                &e);
    if (!c || e.n)
        fail_msg("%s", e.n ? e.msgs[0] : "no config");
    assert_int_equal(c->n_upstreams, 2);
    assert_int_equal(c->tls.n_ups, 2);
    assert_null(mw_config_tls_upstream(c, &c->upstreams[0]));
    const struct mw_tls_upstream *t = mw_config_tls_upstream(c, &c->upstreams[1]);
    assert_non_null(t);
    assert_string_equal(t->auth_name, "dns.test");
    assert_int_equal(mw_addr_port(&t->addr), 853);
    t = mw_config_tls_upstream(c, &c->zones[0].upstreams[0]);
    assert_non_null(t);
    assert_string_equal(t->auth_name, "");
    assert_int_equal(mw_addr_port(&t->addr), 8853);
    assert_int_equal(c->tls.max_connections, 4);
    assert_int_equal(c->tls.idle_timeout_ms, 30000);
    assert_string_equal(c->tls.ca_file, "/etc/ssl/certs/ca-certificates.crt");
    const struct mw_tls_pins *p = mw_config_tls_pins(c, "dns.test");
    assert_non_null(p);
    assert_int_equal(p->n, 1);
    assert_null(mw_config_tls_pins(c, "other.test"));
    mw_config_free(c);

    /* A group's forward zone: its tls:// entries are the config's too. */
    c = parse("upstreams: [127.0.0.1]\n"
              "groups:\n"
              "  lab:\n"
              "    clients: [10.0.0.0/8]\n"
              "    forward-zones:\n"
              "      lab.test: [\"tls://192.0.2.9#lab.test\"]\n",
              &e);
    if (!c || e.n)
        fail_msg("%s", e.n ? e.msgs[0] : "no config");
    assert_int_equal(c->tls.n_ups, 1);
    assert_string_equal(c->tls.ups[0].auth_name, "lab.test");
    mw_config_free(c);

    c = parse("upstreams: [127.0.0.1]\n", &e);
    assert_non_null(c);
    assert_int_equal(c->tls.n_ups, 0);
    assert_int_equal(c->tls.max_connections, 2);
    assert_int_equal(c->tls.max_pipeline, 64);
    assert_null(c->tls.ca_file);
    mw_config_free(c);

    c = parse("upstreams:\n"
              "  - tls://192.0.2.2#a.test\n"
              "  - tls://192.0.2.2#b.test\n"
              "  - tls://192.0.2.3#bad!name\n"
              "  - tls:/192.0.2.4\n"
              "tls:\n"
              "  pins:\n"
              "    a.test: []\n"
              "    b.test: [short]\n"
              "    a..test: [ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=]\n"
              "  max-pipeline: 0\n"
              "  color: blue\n",
              &e);
    assert_null(c);
    static const char *const want[] = {
        "t.yaml:3: upstreams: 'tls://192.0.2.2#b.test' names another authentication name than "
        "line 2",
        "t.yaml:4: upstreams: invalid address",
        "t.yaml:5: upstreams: invalid address 'tls:/192.0.2.4'",
        "t.yaml:8: tls.pins: 'a.test' has no pins",
        "t.yaml:9: tls.pins: invalid pin 'short'",
        "t.yaml:10: tls.pins: invalid authentication name 'a..test'",
        "t.yaml:11:",
        "t.yaml:12:",
    };
    bool ok = e.n == sizeof(want) / sizeof(want[0]);
    for (size_t i = 0; ok && i < e.n; i++)
        ok = strncmp(e.msgs[i], want[i], strlen(want[i])) == 0;
    if (!ok) {
        for (size_t i = 0; i < e.n; i++)
            print_message("got: %s\n", e.msgs[i]);
        fail();
    }
    mw_errlist_deinit(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_url), cmocka_unit_test(test_pins),
        cmocka_unit_test(test_padding),   cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
