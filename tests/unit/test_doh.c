/* Unit tests for the pure DNS-over-HTTPS parts: the https:// syntax, its identity and label
 * (doh.c), base64url and the GET path, the Content-Type check, the config's https:// entries
 * and tls.doh-method / tls.hosts-file, and the bootstrap readers (dohboot.c): a hosts file
 * and the address of a DNS answer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "minewall/base64.h"
#include "minewall/config.h"
#include "minewall/dnsmsg.h"
#include "minewall/doh.h"
#include "minewall/dohboot.h"
#include "minewall/error.h"
#include "minewall/netaddr.h"

static void test_parse_url(void **state)
{
    (void)state;
    struct mw_doh_url u;
    char text[512];
    assert_int_equal(mw_doh_parse_url("https://Dns.Google/dns-query", &u), 1);
    assert_string_equal(u.host, "dns.google");
    assert_string_equal(u.path, "/dns-query");
    assert_int_equal(u.port, 443);
    assert_false(u.is_ip);
    assert_true(mw_doh_is_identity(&u.id));
    assert_int_equal(mw_addr_port(&u.id), 443);
    mw_doh_label(&u, text, sizeof(text));
    assert_string_equal(text, "https://dns.google:443/dns-query");
    mw_doh_authority(&u, text, sizeof(text));
    assert_string_equal(text, "dns.google");

    assert_int_equal(mw_doh_parse_url("https://127.0.0.1:8443/q?ct", &u), 1);
    assert_true(u.is_ip);
    mw_addr_format(&u.ip, text, sizeof(text));
    assert_string_equal(text, "127.0.0.1:8443");
    mw_doh_authority(&u, text, sizeof(text));
    assert_string_equal(text, "127.0.0.1:8443");
    assert_string_equal(u.path, "/q?ct");

    assert_int_equal(mw_doh_parse_url("https://[2001:db8::1]/dns-query", &u), 1);
    assert_true(u.is_ip);
    mw_doh_label(&u, text, sizeof(text));
    assert_string_equal(text, "https://[2001:db8::1]:443/dns-query");
    mw_doh_authority(&u, text, sizeof(text));
    assert_string_equal(text, "[2001:db8::1]");

    /* The identity is the URL's: the same URL gives the same one, another URL another. */
    struct mw_doh_url a, b;
    assert_int_equal(mw_doh_parse_url("https://dns.test:443/dns-query", &a), 1);
    assert_int_equal(mw_doh_parse_url("https://DNS.test/dns-query", &b), 1);
    assert_true(mw_addr_equal(&a.id, &b.id));
    assert_int_equal(mw_doh_parse_url("https://dns.test/other", &b), 1);
    assert_false(mw_addr_equal(&a.id, &b.id));
    struct mw_addr plain;
    assert_int_equal(mw_addr_parse("[2001:db8::1]:443", 53, &plain), 0);
    assert_false(mw_doh_is_identity(&plain));

    assert_int_equal(mw_doh_parse_url("tls://1.1.1.1", &u), 0);
    assert_int_equal(mw_doh_parse_url("1.1.1.1", &u), 0);
    const char *bad[] = {
        "https://dns.test",         /* no path */
        "https:///dns-query",       /* no host */
        "https://dns.test:0/q",     /* port 0 */
        "https://dns.test:65536/q", /* port too large */
        "https://dns.test:44a/q",   /* not a number */
        "https://dns.test:/q",      /* empty port */
        "https://user@dns.test/q",  /* user info */
        "https://dns..test/q",      /* empty label */
        "https://dns test/q",       /* space */
        "https://dns.test/a b",     /* space in the path */
        "https://dns.test/a#frag",  /* fragment */
        "https://[dns.test]/q",     /* brackets around a name */
        "https://[::1/q",           /* unclosed bracket */
        "https://[1.2.3.4]/q",      /* brackets around IPv4 */
        "https://999.1.1.1/q",      /* a mistyped address */
        "https://a../q",            /* two trailing dots (fuzz_doh) */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (mw_doh_parse_url(bad[i], &u) != -EINVAL)
            fail_msg("accepted %s", bad[i]);
}

static void test_b64url(void **state)
{
    (void)state;
    char out[64];
    uint8_t back[64];
    /* RFC 4648 section 10 vectors, in the URL alphabet without padding. */
    const char *vec[][2] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        size_t n = strlen(vec[i][0]);
        assert_int_equal(mw_base64_encode((const uint8_t *)vec[i][0], n, true, out, sizeof(out)),
                         (int)strlen(vec[i][1]));
        assert_string_equal(out, vec[i][1]);
        assert_int_equal(mw_base64_decode(out, strlen(out), true, back, sizeof(back)), (int)n);
        assert_memory_equal(back, vec[i][0], n);
    }
    const uint8_t hi[] = {0xfb, 0xff, 0xbf};
    assert_int_equal(mw_base64_encode(hi, 3, true, out, sizeof(out)), 4);
    assert_string_equal(out, "-_-_"); /* '+' and '/' of base64 are '-' and '_' */
    assert_int_equal(mw_base64_encode(hi, 3, true, out, 4), -ENOSPC);
    assert_int_equal(mw_base64_decode("Zm9v=", 5, true, back, sizeof(back)), -EINVAL);
    assert_int_equal(mw_base64_decode("Zm+v", 4, true, back, sizeof(back)), -EINVAL);
    assert_int_equal(mw_base64_decode("Z", 1, true, back, sizeof(back)), -EINVAL);
    assert_int_equal(mw_base64_decode("Zh", 2, true, back, sizeof(back)), -EINVAL); /* pad bits */
    assert_int_equal(mw_base64_decode("Zm9vYmFy", 8, true, back, 5), -ENOSPC);
    /* The standard alphabet (DoT pins) has '+' and '/' where the URL one has '-' and '_'. */
    assert_int_equal(mw_base64_encode(hi, 3, false, out, sizeof(out)), 4);
    assert_string_equal(out, "+/+/");
    assert_int_equal(mw_base64_decode("+/+/", 4, false, back, sizeof(back)), 3);
    assert_memory_equal(back, hi, 3);
    assert_int_equal(mw_base64_decode("-_-_", 4, false, back, sizeof(back)), -EINVAL);
}

static void test_get_path(void **state)
{
    (void)state;
    /* RFC 8484 section 4.1.1: www.example.com A with ID 0. */
    const uint8_t q[] = {0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
                         0x00, 0x03, 0x77, 0x77, 0x77, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70,
                         0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01};
    char p[256];
    assert_true(mw_doh_get_path("/dns-query", q, sizeof(q), p, sizeof(p)) > 0);
    assert_string_equal(p, "/dns-query?dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB");
    assert_true(mw_doh_get_path("/q?v=1", q, sizeof(q), p, sizeof(p)) > 0);
    assert_memory_equal(p, "/q?v=1&dns=AAAB", 15);
    assert_int_equal(mw_doh_get_path("/dns-query", q, sizeof(q), p, 20), -ENOSPC);
}

static void test_content_type(void **state)
{
    (void)state;
    const char *good[] = {"application/dns-message", "Application/DNS-Message",
                          " application/dns-message ", "application/dns-message; charset=x"};
    const char *bad[] = {"",
                         "text/html",
                         "application/dns-messages",
                         "application/dns",
                         "application/dns-message x",
                         "application/dns-json"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(mw_doh_content_type_ok(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(mw_doh_content_type_ok(bad[i], strlen(bad[i])));
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
                                "  - https://dns.test/dns-query\n"
                                "  - https://192.0.2.3:8443/q\n"
                                "forward-zones:\n"
                                "  corp: [\"https://dns.test/dns-query\"]\n"
                                "tls:\n"
                                "  doh-method: get\n"
                                "  hosts-file: /etc/hosts\n",
                                &e);
    if (!c || e.n)
        fail_msg("%s", e.n ? e.msgs[0] : "no config");
    assert_int_equal(c->n_upstreams, 3);
    assert_int_equal(c->tls.n_ups, 2);
    assert_true(c->tls.doh_get);
    assert_string_equal(c->tls.hosts_file, "/etc/hosts");
    const struct mw_tls_upstream *t = mw_config_tls_upstream(c, &c->upstreams[1]);
    assert_non_null(t);
    assert_true(t->doh);
    assert_string_equal(t->auth_name, "dns.test");
    assert_true(mw_addr_equal(&c->zones[0].upstreams[0], &c->upstreams[1]));
    t = mw_config_tls_upstream(c, &c->upstreams[2]);
    assert_non_null(t);
    assert_true(t->doh && t->url.is_ip);
    assert_string_equal(t->auth_name, ""); /* an address: the certificate must carry it */
    mw_config_free(c);

    c = parse("upstreams: [127.0.0.1]\n", &e);
    assert_non_null(c);
    assert_false(c->tls.doh_get);
    mw_config_free(c);

    c = parse("upstreams:\n"
              "  - https://dns.test\n"
              "tls:\n"
              "  doh-method: put\n",
              &e);
    assert_null(c);
    assert_int_equal(e.n, 2);
    assert_non_null(strstr(e.msgs[0], "t.yaml:2: upstreams: invalid address 'https://dns.test'"));
    assert_non_null(strstr(e.msgs[1], "t.yaml:4: tls.doh-method: expected post or get"));
    mw_errlist_deinit(&e);

    struct mw_tls_upstream u;
    assert_int_equal(mw_config_parse_upstream("192.0.2.1", &u), 0);
    assert_int_equal(mw_config_parse_upstream("tls://192.0.2.1#a.test", &u), 1);
    assert_false(u.doh);
    assert_int_equal(mw_config_parse_upstream("https://a.test/q", &u), 1);
    assert_true(u.doh);
    assert_int_equal(mw_config_parse_upstream("https://a.test", &u), -EINVAL);
    /* tls:// with a host name: bootstrapped like DoH, verified against NAME or AUTH-NAME. */
    assert_int_equal(mw_config_parse_upstream("tls://Dns.Quad9.net", &u), 1);
    assert_true(u.by_name && !u.doh);
    assert_true(mw_doh_is_identity(&u.addr));
    assert_int_equal(u.url.port, 853);
    assert_string_equal(u.url.host, "dns.quad9.net");
    assert_string_equal(u.auth_name, "dns.quad9.net");
    assert_int_equal(mw_config_parse_upstream("tls://resolver.test:8853#dns.test", &u), 1);
    assert_int_equal(u.url.port, 8853);
    assert_string_equal(u.auth_name, "dns.test");
    assert_int_equal(mw_config_parse_upstream("tls://192.0.2.1", &u), 1);
    assert_false(u.by_name);
    const char *bad_tls[] = {"tls://1.1.1.1/", "tls://999.1.1.1",     "tls://a.test:0",
                             "tls://a.test:x", "tls://a.test:",       "tls://a..test",
                             "tls://#a.test",  "tls://a.test#b..test"};
    for (size_t i = 0; i < sizeof(bad_tls) / sizeof(bad_tls[0]); i++)
        if (mw_config_parse_upstream(bad_tls[i], &u) != -EINVAL)
            fail_msg("accepted %s", bad_tls[i]);
    assert_int_equal(mw_config_parse_upstream("nonsense", &u), -EINVAL);
}

static void test_hosts(void **state)
{
    (void)state;
    const char *f = "# comment dns.test\n"
                    "127.0.0.2 other.test # dns.test in a comment\n"
                    "\n"
                    "::1\tlocalhost  DNS.Test.\r\n"
                    "127.0.0.3 dns.test\n";
    struct mw_addr a;
    char text[64];
    assert_int_equal(mw_dohboot_hosts(f, strlen(f), "dns.test", 8443, &a), 1);
    mw_addr_format(&a, text, sizeof(text));
    assert_string_equal(text, "[::1]:8443");
    assert_int_equal(mw_dohboot_hosts(f, strlen(f), "other.test", 443, &a), 1);
    assert_int_equal(mw_dohboot_hosts(f, strlen(f), "missing.test", 443, &a), 0);
    assert_int_equal(mw_dohboot_hosts(f, strlen(f), "dns", 443, &a), 0);
    const char *bad = "not-an-address dns.test\n192.0.2.1 dns.test";
    assert_int_equal(mw_dohboot_hosts(bad, strlen(bad), "dns.test", 443, &a), 1);
    mw_addr_format(&a, text, sizeof(text));
    assert_string_equal(text, "192.0.2.1:443"); /* the last line has no newline */
}

static void test_answer(void **state)
{
    (void)state;
    /* dns.test A: a CNAME, then A 127.0.0.1 TTL 2 (raised to the minimum), then AAAA. */
    const uint8_t pkt[] = {
        0x12, 0x34, 0x81, 0x80, 0,    1,    0,    3,  0,  0,    0,  0, 3, 'd',  'n',  's', 4,
        't',  'e',  's',  't',  0,    0,    1,    0,  1,  0xc0, 12, 0, 5, 0,    1,    0,   0,
        0,    60,   0,    2,    0xc0, 12,   0xc0, 12, 0,  1,    0,  1, 0, 0,    0,    2,   0,
        4,    127,  0,    0,    1,    0xc0, 12,   0,  28, 0,    1,  0, 0, 0x0e, 0x10, 0,   16,
        0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    0,  0,  0,    0,  0, 0, 0,    0,    9,
    };
    struct mw_addr a;
    uint32_t ttl = 0;
    char text[64];
    assert_int_equal(mw_dohboot_answer(pkt, sizeof(pkt), MW_TYPE_A, 443, &a, &ttl), 1);
    mw_addr_format(&a, text, sizeof(text));
    assert_string_equal(text, "127.0.0.1:443");
    assert_int_equal(ttl, MW_DOHBOOT_TTL_MIN_S);
    assert_int_equal(mw_dohboot_answer(pkt, sizeof(pkt), MW_TYPE_AAAA, 8443, &a, &ttl), 1);
    mw_addr_format(&a, text, sizeof(text));
    assert_string_equal(text, "[2001:db8::9]:8443");
    assert_int_equal(ttl, 3600);
    uint8_t nodata[26];
    memcpy(nodata, pkt, sizeof(nodata));
    nodata[7] = 0; /* ANCOUNT 0 */
    assert_int_equal(mw_dohboot_answer(nodata, sizeof(nodata), MW_TYPE_A, 443, &a, &ttl), 0);
    for (size_t n = 27; n < sizeof(pkt); n++)
        assert_true(mw_dohboot_answer(pkt, n, MW_TYPE_AAAA, 443, &a, &ttl) <= 0);
    uint8_t badlen[sizeof(pkt)];
    memcpy(badlen, pkt, sizeof(pkt));
    badlen[51] = 5; /* A rdlength 5 */
    assert_int_equal(mw_dohboot_answer(badlen, sizeof(pkt), MW_TYPE_A, 443, &a, &ttl), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_url), cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_get_path),  cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_config),    cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
