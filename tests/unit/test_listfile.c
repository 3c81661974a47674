/* Unit tests for listfile.c: every format with good lines and each kind of bad line (line
 * numbers and messages asserted), format detection, IDN conversion and rejection (RPZ zones
 * are tested in test_rpz.c), the single-entry parser,
 * and the real public lists of ../shared/data, read in place (never copied into the repo). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minewall/dname.h"
#include "minewall/error.h"
#include "minewall/listdetect.h"
#include "minewall/listfile.h"

#ifndef MW_TEST_SRCDIR
#define MW_TEST_SRCDIR "tests"
#endif
#define DATA MW_TEST_SRCDIR "/../../shared/data"

#define COLL_MAX 64

struct coll {
    size_t n;
    struct mw_listfile_entry e[COLL_MAX];
};

static int collect(const struct mw_listfile_entry *e, void *arg)
{
    struct coll *c = arg;
    if (c->n < COLL_MAX)
        c->e[c->n] = *e;
    c->n++;
    return 0;
}

struct run {
    struct coll c;
    struct mw_listfile_report r;
    struct mw_errlist errs;
    int rc;
};

/* Parse a literal as "t" in format fmt into a heap struct run (freed by done()). */
static struct run *run(const char *text, enum mw_listfile_format fmt)
{
    struct run *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    mw_errlist_init(&x->errs);
    x->rc = mw_listfile_parse_buf("t", text, strlen(text), fmt, collect, &x->c, &x->r, &x->errs);
    assert_int_equal(x->rc, 0);
    assert_int_equal(x->r.entries, x->c.n);
    return x;
}

static void done(struct run *x)
{
    mw_errlist_deinit(&x->errs);
    free(x);
}

static const char *name_text(const struct mw_listfile_entry *e)
{
    static char buf[1024];
    assert_true(mw_dname_to_text(e->name, e->name_len, buf, sizeof(buf)) > 0);
    return buf;
}

static void assert_domain(const struct mw_listfile_entry *e, const char *name,
                          enum mw_listfile_kind kind, uint32_t line)
{
    assert_int_equal(e->type, MW_LISTFILE_ENTRY_DOMAIN);
    assert_string_equal(name_text(e), name);
    assert_int_equal(e->kind, kind);
    assert_int_equal(e->line, line);
}

static void assert_cidr(const struct mw_cidr *c, const char *want)
{
    char buf[64];
    assert_int_equal(mw_cidr_format(c, buf, sizeof(buf)), 0);
    assert_string_equal(buf, want);
}

static void assert_ip(const struct mw_listfile_entry *e, const char *cidr, uint32_t line)
{
    assert_int_equal(e->type, MW_LISTFILE_ENTRY_IP);
    assert_cidr(&e->cidr, cidr);
    assert_int_equal(e->line, line);
}

/* errs.msgs[i] is exactly want. */
static void assert_err(const struct run *x, size_t i, const char *want)
{
    assert_true(i < x->errs.n);
    assert_string_equal(x->errs.msgs[i], want);
}

static void test_plain(void **state)
{
    (void)state;
    struct run *x = run("\xEF\xBB\xBF# header\n"
                        "\n"
                        "Example.COM\n"
                        "  www.example.org.   # trailing comment\r\n"
                        "*.wild.example.net\n"
                        "under_score.example.com#comment\n"
                        "1.2.3.4\n"
                        "10.0.0.0/8\n"
                        "2001:db8::/32\n"
                        "\t\n"
                        "last.example.com",
                        MW_LISTFILE_FMT_PLAIN);
    assert_int_equal(x->r.format, MW_LISTFILE_FMT_PLAIN);
    assert_int_equal(x->r.lines, 11);
    assert_int_equal(x->c.n, 8);
    assert_int_equal(x->r.bad, 0);
    assert_domain(&x->c.e[0], "example.com", MW_LISTFILE_SUBTREE, 3);
    assert_memory_equal(x->c.e[0].name, "\7example\3com", 13);
    assert_int_equal(x->c.e[0].name_len, 13);
    assert_false(x->c.e[0].allow);
    assert_int_equal(x->c.e[0].action, MW_LISTFILE_ACT_DEFAULT);
    assert_domain(&x->c.e[1], "www.example.org", MW_LISTFILE_SUBTREE, 4);
    assert_domain(&x->c.e[2], "wild.example.net", MW_LISTFILE_SUBTREE, 5);
    assert_domain(&x->c.e[3], "under_score.example.com", MW_LISTFILE_SUBTREE, 6);
    assert_ip(&x->c.e[4], "1.2.3.4/32", 7);
    assert_ip(&x->c.e[5], "10.0.0.0/8", 8);
    assert_ip(&x->c.e[6], "2001:db8::/32", 9);
    assert_domain(&x->c.e[7], "last.example.com", MW_LISTFILE_SUBTREE, 11);
    done(x);
}

static void test_plain_bad(void **state)
{
    (void)state;
    char long_label[128], long_name[400];
    memset(long_label, 'a', 64);
    strcpy(long_label + 64, ".com");
    long_name[0] = '\0';
    for (int i = 0; i < 26; i++)
        strcat(long_name, "abcdefghi.");
    strcat(long_name, "com");
    char text[2048];
    snprintf(text, sizeof(text),
             "ok.example.com\n"   /* 1 */
             "com\n"              /* 2 */
             "a..b.com\n"         /* 3 */
             ".lead.com\n"        /* 4 */
             "%s\n"               /* 5: label of 64 */
             "%s\n"               /* 6: 263 octets */
             "two words.com\n"    /* 7 */
             "bad!char.com\n"     /* 8 */
             "1.2.3\n"            /* 9 */
             "10.0.0.1/8\n"       /* 10 */
             "example.com:8080\n" /* 11 */
             "*\n"                /* 12 */
             "localhost\n"        /* 13 */
             "nul\\x.com\n"       /* 14 */
             "name.123\n"         /* 15 */
             "2001:db8:::1\n"     /* 16 */
             "fine.example.net\n",
             long_label, long_name);
    struct run *x = run(text, MW_LISTFILE_FMT_PLAIN);
    assert_int_equal(x->c.n, 2);
    assert_int_equal(x->c.e[1].line, 17);
    assert_int_equal(x->r.bad, 15);
    assert_int_equal(x->errs.n, 15);
    assert_err(x, 0, "t:2: would block a whole TLD: \"com\"");
    assert_err(x, 1, "t:3: empty label (\"..\"): \"a..b.com\"");
    assert_err(x, 2, "t:4: leading dot: \".lead.com\"");
    assert_err(x, 3,
               "t:5: label longer than 63 octets: "
               "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
    assert_err(x, 4,
               "t:6: name longer than 255 octets: "
               "\"abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi....\"");
    assert_err(x, 5, "t:7: unexpected text after the name: \"two words.com\"");
    assert_err(x, 6, "t:8: invalid character '!': \"bad!char.com\"");
    assert_err(x, 7, "t:9: an address, not a name: \"1.2.3\"");
    assert_err(x, 8, "t:10: invalid address prefix (host bits set?): \"10.0.0.1/8\"");
    assert_err(x, 9, "t:11: invalid character ':': \"example.com:8080\"");
    assert_err(x, 10, "t:12: invalid character '*': \"*\"");
    assert_err(x, 11, "t:13: would block a whole TLD: \"localhost\"");
    assert_err(x, 12, "t:14: invalid character '\\': \"nul\\x5cx.com\"");
    assert_err(x, 13, "t:15: numeric top-level label: \"name.123\"");
    assert_err(x, 14, "t:16: invalid IPv6 address: \"2001:db8:::1\"");
    done(x);
}

static void test_bad_quoting(void **state)
{
    (void)state;
    /* Control bytes are escaped; a NUL inside a line is an invalid character. */
    const char text[] = "ok.example.com\nbad\x01name.com\nnul\0byte.com\n";
    struct run *x = calloc(1, sizeof(*x));
    mw_errlist_init(&x->errs);
    assert_int_equal(mw_listfile_parse_buf("t", text, sizeof(text) - 1, MW_LISTFILE_FMT_PLAIN,
                                           collect, &x->c, &x->r, &x->errs),
                     0);
    assert_int_equal(x->c.n, 1);
    assert_int_equal(x->r.bad, 2);
    assert_err(x, 0, "t:2: invalid character 0x01: \"bad\\x01name.com\"");
    assert_err(x, 1, "t:3: invalid character 0x00: \"nul\\x00byte.com\"");
    done(x);
}

static void test_error_cap(void **state)
{
    (void)state;
    char text[4096] = "";
    for (int i = 0; i < 25; i++)
        strcat(text, "bad name.com\nok.example.com\n");
    struct run *x = run(text, MW_LISTFILE_FMT_PLAIN);
    assert_int_equal(x->c.n, 25);
    assert_int_equal(x->r.bad, 25);
    assert_int_equal(x->errs.n, 21);
    assert_err(x, 0, "t:1: unexpected text after the name: \"bad name.com\"");
    assert_err(x, 19, "t:39: unexpected text after the name: \"bad name.com\"");
    assert_err(x, 20, "t: 5 more bad lines not shown");
    done(x);
}

static void test_hosts(void **state)
{
    (void)state;
    struct run *x = run("# hosts\n"
                        "127.0.0.1 localhost localhost.localdomain\n"  /* 2 */
                        "::1 ip6-localhost ip6-loopback\n"             /* 3 */
                        "0.0.0.0 0.0.0.0\n"                            /* 4 */
                        "255.255.255.255 broadcasthost\n"              /* 5 */
                        "0.0.0.0 a.example b.example\tc.example # x\n" /* 6 */
                        "127.0.0.1 X.Example.\n"                       /* 7 */
                        ":: v6.example\n"                              /* 8 */
                        "fe80::1%lo0 local\n"                          /* 9 */
                        "0.0.0.0 1.2.3.4\n"                            /* 10 */
                        "0.0.0.0\n"                                    /* 11 */
                        "example.com\n"                                /* 12 */
                        "0.0.0.0 good.example com bad_.ok.example\n",  /* 13 */
                        MW_LISTFILE_FMT_HOSTS);
    assert_int_equal(x->c.n, 7);
    assert_domain(&x->c.e[0], "a.example", MW_LISTFILE_SUBTREE, 6);
    assert_domain(&x->c.e[1], "b.example", MW_LISTFILE_SUBTREE, 6);
    assert_domain(&x->c.e[2], "c.example", MW_LISTFILE_SUBTREE, 6);
    assert_domain(&x->c.e[3], "x.example", MW_LISTFILE_SUBTREE, 7);
    assert_domain(&x->c.e[4], "v6.example", MW_LISTFILE_SUBTREE, 8);
    assert_domain(&x->c.e[5], "good.example", MW_LISTFILE_SUBTREE, 13);
    assert_domain(&x->c.e[6], "bad_.ok.example", MW_LISTFILE_SUBTREE, 13);
    assert_int_equal(x->r.ignored, 7);
    assert_int_equal(x->r.bad, 4);
    assert_err(x, 0, "t:10: an address, not a name: \"1.2.3.4\"");
    assert_err(x, 1, "t:11: address without names: \"0.0.0.0\"");
    assert_err(x, 2, "t:12: expected an address before the names: \"example.com\"");
    assert_err(x, 3, "t:13: would block a whole TLD: \"com\"");
    done(x);
}

static void test_adblock(void **state)
{
    (void)state;
    struct run *x = run("[Adblock Plus 2.0]\n"                          /* 1 */
                        "! Title: test\n"                               /* 2 */
                        "||ads.example.com^\n"                          /* 3 */
                        "@@||good.example.com^\n"                       /* 4 */
                        "||imp.example.com^$important\n"                /* 5 */
                        "||tp.example.com^$third-party\n"               /* 6 */
                        "||noanchor.example.com$third-party\n"          /* 7 */
                        "||all.example.com^$all,important\n"            /* 8 */
                        "||pipe.example.com^|\n"                        /* 9 */
                        "||1.2.3.4^\n"                                  /* 10 */
                        "0.0.0.0 hosts.example.com\n"                   /* 11 */
                        "# a comment in AdGuard Home style\n"           /* 12 */
                        "||script.example.com^$script\n"                /* 13 */
                        "||dom.example.com^$third-party,domain=x.com\n" /* 14 */
                        "@@||ws.example.com^$websocket\n"               /* 15 */
                        "example.com##.ad-banner\n"                     /* 16 */
                        "##.global-ad\n"                                /* 17 */
                        "example.com#@#.ad\n"                           /* 18 */
                        "example.com#?#div:has(> a)\n"                  /* 19 */
                        "example.com$$script[src]\n"                    /* 20 */
                        "/^https?:\\/\\/ads\\./\n"                      /* 21 */
                        "/banner\\d+/$script\n"                         /* 22 */
                        "||path.example.com/ads/*\n"                    /* 23 */
                        "||port.example.com:8080^\n"                    /* 24 */
                        "||query.example.com^*?proxy=\n"                /* 25 */
                        "||ads.*^\n"                                    /* 26 */
                        "||*.cdn.example.com^\n"                        /* 27 */
                        "-coin-hive.js\n"                               /* 28 */
                        "|https://x.example.com/\n"                     /* 29 */
                        "$websocket,domain=a.com|b.com\n"               /* 30 */
                        "/miner.js\n"                                   /* 31 */
                        "||com^\n"                                      /* 32 */
                        "||bad..example^\n"                             /* 33 */
                        "||sp.example.com^ trailing\n"                  /* 34 */
                        "||IDN.bücher.example^\n",                      /* 35 */
                        MW_LISTFILE_FMT_ADBLOCK);
    assert_int_equal(x->c.n, 10);
    assert_domain(&x->c.e[0], "ads.example.com", MW_LISTFILE_SUBTREE, 3);
    assert_false(x->c.e[0].allow);
    assert_domain(&x->c.e[1], "good.example.com", MW_LISTFILE_SUBTREE, 4);
    assert_true(x->c.e[1].allow);
    assert_domain(&x->c.e[2], "imp.example.com", MW_LISTFILE_SUBTREE, 5);
    assert_true(x->c.e[2].important);
    assert_false(x->c.e[3].important);
    assert_domain(&x->c.e[3], "tp.example.com", MW_LISTFILE_SUBTREE, 6);
    assert_domain(&x->c.e[4], "noanchor.example.com", MW_LISTFILE_SUBTREE, 7);
    assert_domain(&x->c.e[5], "all.example.com", MW_LISTFILE_SUBTREE, 8);
    assert_true(x->c.e[5].important);
    assert_domain(&x->c.e[6], "pipe.example.com", MW_LISTFILE_SUBTREE, 9);
    assert_ip(&x->c.e[7], "1.2.3.4/32", 10);
    assert_domain(&x->c.e[8], "hosts.example.com", MW_LISTFILE_SUBTREE, 11);
    assert_domain(&x->c.e[9], "idn.xn--bcher-kva.example", MW_LISTFILE_SUBTREE, 35);

    assert_int_equal(x->r.skip[MW_LISTFILE_SKIP_MODIFIER], 3);
    assert_int_equal(x->r.skip[MW_LISTFILE_SKIP_COSMETIC], 5);
    assert_int_equal(x->r.skip[MW_LISTFILE_SKIP_REGEX], 2);
    assert_int_equal(x->r.skip[MW_LISTFILE_SKIP_URL], 3);
    assert_int_equal(x->r.skip[MW_LISTFILE_SKIP_WILDCARD], 2);
    assert_int_equal(x->r.skip[MW_LISTFILE_SKIP_SUBSTRING], 4);
    assert_int_equal(x->r.skipped, 19);
    assert_int_equal(x->r.bad, 3);
    assert_err(x, 0, "t:32: would block a whole TLD: \"com\"");
    assert_err(x, 1, "t:33: empty label (\"..\"): \"bad..example\"");
    assert_err(x, 2, "t:34: unexpected text after the rule: \"||sp.example.com^ trailing\"");
    done(x);
}

static void test_dnsmasq(void **state)
{
    (void)state;
    struct run *x = run("# dnsmasq\n"
                        "address=/ads.example.com/0.0.0.0\n" /* 2 */
                        "address=/nx.example.com/\n"         /* 3 */
                        "address=/a.example/b.example/#\n"   /* 4 */
                        "address=/v6.example/::\n"           /* 5 */
                        "server=/srv.example/\n"             /* 6 */
                        "local=/loc.example/\n"              /* 7 */
                        "server=/fwd.example/1.1.1.1\n"      /* 8 */
                        "server=/def.example/#\n"            /* 9 */
                        "server=8.8.8.8\n"                   /* 10 */
                        "conf-file=/etc/x.conf\n"            /* 11 */
                        "no-resolv\n"                        /* 12 */
                        "address=/x.example/not-an-ip\n"     /* 13 */
                        "address=/#/0.0.0.0\n"               /* 14 */
                        "address=/com/\n"                    /* 15 */
                        "address=bogus\n"                    /* 16 */
                        "address=//1.2.3.4\n",               /* 17 */
                        MW_LISTFILE_FMT_DNSMASQ);
    assert_int_equal(x->c.n, 7);
    assert_domain(&x->c.e[0], "ads.example.com", MW_LISTFILE_SUBTREE, 2);
    assert_domain(&x->c.e[1], "nx.example.com", MW_LISTFILE_SUBTREE, 3);
    assert_domain(&x->c.e[2], "a.example", MW_LISTFILE_SUBTREE, 4);
    assert_domain(&x->c.e[3], "b.example", MW_LISTFILE_SUBTREE, 4);
    assert_domain(&x->c.e[4], "v6.example", MW_LISTFILE_SUBTREE, 5);
    assert_domain(&x->c.e[5], "srv.example", MW_LISTFILE_SUBTREE, 6);
    assert_domain(&x->c.e[6], "loc.example", MW_LISTFILE_SUBTREE, 7);
    assert_int_equal(x->r.skip[MW_LISTFILE_SKIP_DIRECTIVE], 5);
    assert_int_equal(x->r.bad, 5);
    assert_err(x, 0, "t:13: invalid address: \"not-an-ip\"");
    assert_err(x, 1, "t:14: would block everything: \"address=/#/0.0.0.0\"");
    assert_err(x, 2, "t:15: would block a whole TLD: \"com\"");
    assert_err(x, 3, "t:16: expected address=/name/[address]: \"address=bogus\"");
    assert_err(x, 4, "t:17: empty domain: \"address=//1.2.3.4\"");
    done(x);
}

static void test_ip(void **state)
{
    (void)state;
    struct run *x = run("# ips\n"
                        "1.2.3.4\n"              /* 2 */
                        "10.0.0.0/8 # private\n" /* 3 */
                        "2001:db8::1\n"          /* 4 */
                        "2001:db8::/32\r\n"      /* 5 */
                        "10.0.0.1/8\n"           /* 6 */
                        "1.2.3.4:443\n"          /* 7 */
                        "example.com\n"          /* 8 */
                        "1.2.3.4 5.6.7.8\n"      /* 9 */
                        "256.1.1.1\n"            /* 10 */
                        "1.2.3.0/33\n",          /* 11 */
                        MW_LISTFILE_FMT_IP);
    assert_int_equal(x->c.n, 4);
    assert_ip(&x->c.e[0], "1.2.3.4/32", 2);
    assert_ip(&x->c.e[1], "10.0.0.0/8", 3);
    assert_ip(&x->c.e[2], "2001:db8::1/128", 4);
    assert_ip(&x->c.e[3], "2001:db8::/32", 5);
    assert_int_equal(x->r.bad, 6);
    assert_err(x, 0, "t:6: invalid prefix (host bits set?): \"10.0.0.1/8\"");
    assert_err(x, 1, "t:7: not an address: \"1.2.3.4:443\"");
    assert_err(x, 2, "t:8: not an address: \"example.com\"");
    assert_err(x, 3, "t:9: unexpected text after the address: \"1.2.3.4 5.6.7.8\"");
    assert_err(x, 4, "t:10: not an address: \"256.1.1.1\"");
    assert_err(x, 5, "t:11: invalid prefix (host bits set?): \"1.2.3.0/33\"");
    done(x);
}

static void test_asn(void **state)
{
    (void)state;
    struct run *x = run("# asns\n"
                        "AS13335\n"        /* 2 */
                        "15169 # google\n" /* 3 */
                        "as4294967295\n"   /* 4 */
                        "AS0\n"            /* 5 */
                        "AS4294967296\n"   /* 6 */
                        "ASX\n"            /* 7 */
                        "AS1 Level3\n"     /* 8 */
                        "AS-1\n",          /* 9 */
                        MW_LISTFILE_FMT_ASN);
    assert_int_equal(x->c.n, 3);
    assert_int_equal(x->c.e[0].type, MW_LISTFILE_ENTRY_ASN);
    assert_int_equal(x->c.e[0].asn, 13335);
    assert_int_equal(x->c.e[0].line, 2);
    assert_int_equal(x->c.e[1].asn, 15169);
    assert_int_equal(x->c.e[2].asn, 4294967295u);
    assert_int_equal(x->r.bad, 5);
    assert_err(x, 0, "t:5: AS0 is reserved (RFC 7607): \"AS0\"");
    assert_err(x, 1, "t:6: AS number out of range: \"AS4294967296\"");
    assert_err(x, 2, "t:7: not an AS number: \"ASX\"");
    assert_err(x, 3, "t:8: unexpected text after the AS number: \"AS1 Level3\"");
    assert_err(x, 4, "t:9: not an AS number: \"AS-1\"");
    done(x);
}

static void test_pattern(void **state)
{
    (void)state;
    struct run *x = run("# patterns\n"
                        "*.xmr-pool-*.*\n"     /* 2 */
                        "Pool?.Example.com.\n" /* 3 */
                        "[a-c]pool.net\n"      /* 4 */
                        "[!0-9]x_y.com # c\n"  /* 5 */
                        "*\n"                  /* 6 */
                        "*.*\n"                /* 7 */
                        "a[b.com\n"            /* 8 */
                        "a]b.com\n"            /* 9 */
                        "a/b.com\n"            /* 10 */
                        "a b\n"                /* 11 */
                        "a!b.com\n"            /* 12 */
                        "[].com\n",            /* 13 */
                        MW_LISTFILE_FMT_PATTERN);
    assert_int_equal(x->c.n, 4);
    assert_int_equal(x->c.e[0].type, MW_LISTFILE_ENTRY_PATTERN);
    assert_string_equal(x->c.e[0].pattern, "*.xmr-pool-*.*");
    assert_int_equal(x->c.e[0].pattern_len, 14);
    assert_int_equal(x->c.e[0].line, 2);
    assert_string_equal(x->c.e[1].pattern, "pool?.example.com");
    assert_string_equal(x->c.e[2].pattern, "[a-c]pool.net");
    assert_string_equal(x->c.e[3].pattern, "[!0-9]x_y.com");
    assert_int_equal(x->c.e[3].line, 5);
    assert_int_equal(x->r.bad, 8);
    assert_err(x, 0, "t:6: would block everything: \"*\"");
    assert_err(x, 1, "t:7: would block everything: \"*.*\"");
    assert_err(x, 2, "t:8: unbalanced '[': \"a[b.com\"");
    assert_err(x, 3, "t:9: unbalanced ']': \"a]b.com\"");
    assert_err(x, 4, "t:10: invalid character '/': \"a/b.com\"");
    assert_err(x, 5, "t:11: unexpected text after the pattern: \"a b\"");
    assert_err(x, 6, "t:12: invalid character '!': \"a!b.com\"");
    assert_err(x, 7, "t:13: invalid character ']' in a bracket set: \"[].com\"");
    done(x);
}

static void test_csv(void **state)
{
    (void)state;
    struct run *x = run("1,google.com\n2,Mail.RU\r\nrank,domain\n4,com\n5,a.example,extra\n",
                        MW_LISTFILE_FMT_AUTO);
    assert_int_equal(x->r.format, MW_LISTFILE_FMT_CSV);
    assert_int_equal(x->c.n, 3);
    assert_domain(&x->c.e[0], "google.com", MW_LISTFILE_EXACT, 1);
    assert_domain(&x->c.e[1], "mail.ru", MW_LISTFILE_EXACT, 2);
    assert_domain(&x->c.e[2], "a.example", MW_LISTFILE_EXACT, 5);
    assert_int_equal(x->r.bad, 2);
    assert_err(x, 0, "t:3: expected rank,name: \"rank,domain\"");
    assert_err(x, 1, "t:4: would block a whole TLD: \"com\"");
    done(x);
}

static void test_idn(void **state)
{
    (void)state;
    struct run *x = run("bücher.example\n"        /* 1 */
                        "MÜNCHEN.example.\n"      /* 2: mapped to lower case */
                        "faß.de\n"                /* 3: non-transitional: ß stays */
                        "bad\xff\xfe.example\n"   /* 4: not UTF-8 */
                        "xn--bcher-kva.example\n" /* 5: A-label as is */
                        "\xcc\x88"
                        "abc.example\n"       /* 6: leading combining mark */
                        "ok.example\n"        /* 7 */
                        "bücher.example..\n", /* 8: two trailing dots: an empty label */
                        MW_LISTFILE_FMT_PLAIN);
    assert_int_equal(x->c.n, 5);
    assert_domain(&x->c.e[0], "xn--bcher-kva.example", MW_LISTFILE_SUBTREE, 1);
    assert_domain(&x->c.e[1], "xn--mnchen-3ya.example", MW_LISTFILE_SUBTREE, 2);
    assert_domain(&x->c.e[2], "xn--fa-hia.de", MW_LISTFILE_SUBTREE, 3);
    assert_domain(&x->c.e[3], "xn--bcher-kva.example", MW_LISTFILE_SUBTREE, 5);
    assert_domain(&x->c.e[4], "ok.example", MW_LISTFILE_SUBTREE, 7);
    assert_int_equal(x->r.bad, 3);
    assert_true(x->errs.n == 3);
    assert_non_null(strstr(x->errs.msgs[0], "t:4: IDN conversion failed: "));
    assert_non_null(strstr(x->errs.msgs[1], "t:6: IDN conversion failed: "));
    assert_non_null(strstr(x->errs.msgs[2], "t:8: empty label"));
    done(x);

    /* A UTF-8 sequence is never cut in two by the 60-byte quote. */
    char text[256];
    memset(text, 'a', 59);
    strcpy(text + 59, "\xc3\xa4\xff.example\n");
    x = run(text, MW_LISTFILE_FMT_PLAIN);
    assert_int_equal(x->r.bad, 1);
    assert_non_null(strstr(x->errs.msgs[0], "aaaaaaa...\""));
    assert_null(strstr(x->errs.msgs[0], "\xc3\""));
    done(x);
}

static void test_detect(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum mw_listfile_format want;
    } cases[] = {
        {"# x\nexample.com\nwww.example.org\n", MW_LISTFILE_FMT_PLAIN},
        {"# urlhaus-like\nexample.com\n1.2.3.4\n5.6.7.8\n9.9.9.9\n", MW_LISTFILE_FMT_PLAIN},
        {"# ips\n1.2.3.4\n5.6.7.8\n10.0.0.0/8\n::1\n", MW_LISTFILE_FMT_IP},
        {"AS13335\n15169\n", MW_LISTFILE_FMT_ASN},
        {"127.0.0.1 localhost\n0.0.0.0 a.example\n", MW_LISTFILE_FMT_HOSTS},
        {"! title\n||a.example^\n", MW_LISTFILE_FMT_ADBLOCK},
        {"[Adblock Plus 2.0]\n0.0.0.0 a.example\n1.2.3.4\n", MW_LISTFILE_FMT_ADBLOCK},
        {"example.com##.ad\nexample.org##.banner\n", MW_LISTFILE_FMT_ADBLOCK},
        {"# x\nserver=/a.example/\naddress=/b.example/0.0.0.0\n", MW_LISTFILE_FMT_DNSMASQ},
        {"$TTL 30\n@ SOA a. b. 1 2 3 4 5\n", MW_LISTFILE_FMT_RPZ},
        {"; zone\nbad.example CNAME .\n*.bad.example CNAME .\n", MW_LISTFILE_FMT_RPZ},
        {"x.example IN A 1.2.3.4\n", MW_LISTFILE_FMT_RPZ},
        {"*.xmr-pool-*.*\npool?.example\n", MW_LISTFILE_FMT_PATTERN},
        {"*.example.com\nexample.org\n", MW_LISTFILE_FMT_PLAIN},
        {"1,google.com\n2,example.com\n", MW_LISTFILE_FMT_CSV},
        {"", MW_LISTFILE_FMT_PLAIN},
        {"# only comments\n\n", MW_LISTFILE_FMT_PLAIN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum mw_listfile_format f = mw_listdetect_format(cases[i].text, strlen(cases[i].text));
        if (f != cases[i].want)
            fail_msg("case %zu: detected %s, want %s", i, mw_listfile_format_name(f),
                     mw_listfile_format_name(cases[i].want));
    }
    /* A forced format wins over detection. */
    struct run *x = run("1.2.3.4\n5.6.7.8\n", MW_LISTFILE_FMT_PLAIN);
    assert_int_equal(x->r.format, MW_LISTFILE_FMT_PLAIN);
    assert_int_equal(x->c.n, 2);
    done(x);
    x = run("1.2.3.4\n5.6.7.8\n", MW_LISTFILE_FMT_AUTO);
    assert_int_equal(x->r.format, MW_LISTFILE_FMT_IP);
    done(x);
}

static int stop_at_two(const struct mw_listfile_entry *e, void *arg)
{
    (void)e;
    int *n = arg;
    return ++*n == 2 ? -ECANCELED : 0;
}

static void test_callback_abort(void **state)
{
    (void)state;
    const char *text = "a.example\nb.example\nc.example\n";
    int n = 0;
    struct mw_listfile_report r;
    assert_int_equal(mw_listfile_parse_buf("t", text, strlen(text), MW_LISTFILE_FMT_PLAIN,
                                           stop_at_two, &n, &r, NULL),
                     -ECANCELED);
    assert_int_equal(n, 2);
    assert_int_equal(r.entries, 1);
    assert_int_equal(r.lines, 2);
    n = 0;
    const char *zone = "a.example A 1.2.3.4\nb.example CNAME .\nc.example CNAME .\n";
    assert_int_equal(mw_listfile_parse_buf("t", zone, strlen(zone), MW_LISTFILE_FMT_RPZ,
                                           stop_at_two, &n, &r, NULL),
                     -ECANCELED);
    assert_int_equal(n, 2);
    /* No callback: the parse only counts. */
    assert_int_equal(
        mw_listfile_parse_buf("t", text, strlen(text), MW_LISTFILE_FMT_AUTO, NULL, NULL, &r, NULL),
        0);
    assert_int_equal(r.entries, 3);
    assert_int_equal(mw_listfile_parse_buf("t", text, strlen(text), (enum mw_listfile_format)99,
                                           NULL, NULL, &r, NULL),
                     -EINVAL);
}

static void test_file(void **state)
{
    (void)state;
    struct mw_errlist errs;
    struct mw_listfile_report r;
    mw_errlist_init(&errs);
    assert_int_equal(mw_listfile_parse_file("/nonexistent/list.txt", MW_LISTFILE_FMT_AUTO, NULL,
                                            NULL, &r, &errs),
                     -ENOENT);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.msgs[0],
                        "/nonexistent/list.txt: cannot read: No such file or directory");
    assert_int_equal(mw_listfile_parse_file("/", MW_LISTFILE_FMT_AUTO, NULL, NULL, &r, &errs),
                     -EISDIR);
    assert_string_equal(errs.msgs[1], "/: cannot read: Is a directory");
    mw_errlist_deinit(&errs);

    char path[] = "/tmp/mw_listfile_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "0.0.0.0 a.example\n0.0.0.0 b.example bad!\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct coll *c = calloc(1, sizeof(*c));
    mw_errlist_init(&errs);
    assert_int_equal(mw_listfile_parse_file(path, MW_LISTFILE_FMT_AUTO, collect, c, &r, &errs), 0);
    assert_int_equal(r.format, MW_LISTFILE_FMT_HOSTS);
    assert_int_equal(c->n, 2);
    assert_int_equal(errs.n, 1);
    char want[256];
    snprintf(want, sizeof(want), "%s:2: invalid character '!': \"bad!\"", path);
    assert_string_equal(errs.msgs[0], want);
    mw_errlist_deinit(&errs);
    free(c);
    unlink(path);
}

/* Files over one block are streamed: lines across block boundaries, a hosts address cached
 * from an earlier block, a bad line in a later one, the last line without a newline; the
 * result (entries, bad lines, line numbers, content hash) is that of the whole buffer. */
struct last_line {
    size_t n;
    uint32_t max_line;
    uint64_t sum;
};

static int track(const struct mw_listfile_entry *e, void *arg)
{
    struct last_line *t = arg;
    t->n++;
    t->sum = t->sum * 31 + e->line + e->name_len;
    if (e->line > t->max_line)
        t->max_line = e->line;
    return 0;
}

static void test_file_streamed(void **state)
{
    (void)state;
    size_t cap = 3 * MW_LISTFILE_BLOCK + 4096, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    unsigned i = 0;
    while (len + 80 < 3 * MW_LISTFILE_BLOCK + 1000) {
        if (i == 70000)
            len += (size_t)sprintf(text + len, "not-an-address b%u.example\n", i);
        else
            len += (size_t)sprintf(text + len, "0.0.0.0 host%u.example%s\n", i,
                                   i % 7 ? "" : " other.example");
        i++;
    }
    len += (size_t)sprintf(text + len, "0.0.0.0 last.example"); /* no newline */
    char path[] = "/tmp/mw_listfile_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);

    struct last_line a = {0}, b = {0};
    struct mw_listfile_report ra, rb;
    struct mw_errlist ea, eb;
    mw_errlist_init(&ea);
    mw_errlist_init(&eb);
    assert_int_equal(mw_listfile_parse_file(path, MW_LISTFILE_FMT_AUTO, track, &a, &ra, &ea), 0);
    assert_int_equal(
        mw_listfile_parse_buf(path, text, len, MW_LISTFILE_FMT_AUTO, track, &b, &rb, &eb), 0);
    assert_int_equal(ra.format, MW_LISTFILE_FMT_HOSTS);
    assert_int_equal(a.n, b.n);
    assert_int_equal(a.sum, b.sum);
    assert_int_equal(a.max_line, i + 1);
    assert_int_equal(ra.lines, rb.lines);
    assert_int_equal(ra.bad, 1);
    assert_int_equal(ea.n, eb.n);
    assert_string_equal(ea.msgs[0], eb.msgs[0]);
    assert_true(ra.content_hash == mw_listfile_hash_buf(text, len));
    assert_true(ra.content_hash != mw_listfile_hash_buf(text, len - 1));
    mw_errlist_deinit(&ea);
    mw_errlist_deinit(&eb);
    unlink(path);
    free(text);
}

static void test_parse_entry(void **state)
{
    (void)state;
    struct mw_listfile_entry e;
    char why[128];
    assert_int_equal(mw_listfile_parse_entry("  Example.COM. ", &e, why, sizeof(why)), 0);
    assert_domain(&e, "example.com", MW_LISTFILE_SUBTREE, 0);
    assert_int_equal(mw_listfile_parse_entry("*.example.org", &e, why, sizeof(why)), 0);
    assert_domain(&e, "example.org", MW_LISTFILE_SUBTREE, 0);
    assert_int_equal(mw_listfile_parse_entry("bücher.example", &e, why, sizeof(why)), 0);
    assert_domain(&e, "xn--bcher-kva.example", MW_LISTFILE_SUBTREE, 0);
    assert_int_equal(mw_listfile_parse_entry("10.0.0.0/8", &e, why, sizeof(why)), 0);
    assert_ip(&e, "10.0.0.0/8", 0);
    assert_int_equal(mw_listfile_parse_entry("2001:db8::1", &e, why, sizeof(why)), 0);
    assert_ip(&e, "2001:db8::1/128", 0);
    assert_int_equal(mw_listfile_parse_entry("AS13335", &e, why, sizeof(why)), 0);
    assert_int_equal(e.type, MW_LISTFILE_ENTRY_ASN);
    assert_int_equal(e.asn, 13335);
    assert_int_equal(mw_listfile_parse_entry("*.XMR-pool-*.*", &e, why, sizeof(why)), 0);
    assert_int_equal(e.type, MW_LISTFILE_ENTRY_PATTERN);
    assert_string_equal(e.pattern, "*.xmr-pool-*.*");

    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "empty entry"},
        {"   ", "empty entry"},
        {"com", "would block a whole TLD"},
        {"AS0", "AS0 is reserved (RFC 7607)"},
        {"AS12x", "not an AS number"},
        {"10.0.0.1/8", "invalid address prefix (host bits set?)"},
        {"*", "would block everything"},
        {"a b.com", "invalid character ' '"},
        {"1.2.3", "an address, not a name"},
        {"bad\xff.com", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(mw_listfile_parse_entry(bad[i].text, &e, why, sizeof(why)), -EINVAL);
        if (bad[i].why)
            assert_string_equal(why, bad[i].why);
        else
            assert_non_null(strstr(why, "IDN conversion failed"));
    }
    assert_int_equal(mw_listfile_parse_entry("com", &e, NULL, 0), -EINVAL);
    assert_int_equal(mw_listfile_parse_entry(NULL, &e, why, sizeof(why)), -EINVAL);
}

static void test_names(void **state)
{
    (void)state;
    for (int f = MW_LISTFILE_FMT_AUTO; f <= MW_LISTFILE_FMT_CSV; f++) {
        enum mw_listfile_format back;
        assert_int_equal(mw_listfile_format_parse(mw_listfile_format_name(f), &back), 0);
        assert_int_equal(back, f);
    }
    enum mw_listfile_format f;
    assert_int_equal(mw_listfile_format_parse("domains", &f), 0);
    assert_int_equal(f, MW_LISTFILE_FMT_PLAIN);
    assert_int_equal(mw_listfile_format_parse("HOSTS", &f), 0);
    assert_int_equal(f, MW_LISTFILE_FMT_HOSTS);
    assert_int_equal(mw_listfile_format_parse("yaml", &f), -EINVAL);
    for (int r = 0; r < MW_LISTFILE_SKIP_N; r++)
        assert_string_not_equal(mw_listfile_skip_name(r), "unknown");
    assert_string_equal(mw_listfile_skip_name(MW_LISTFILE_SKIP_N), "unknown");
}

/* ---- the real lists ---- */

struct tally {
    size_t domains, ips, idn;
    uint32_t want_line; /* a line whose entry is checked */
    char at_line[300];
};

static int count(const struct mw_listfile_entry *e, void *arg)
{
    struct tally *t = arg;
    assert_true(e->line > 0);
    if (e->type == MW_LISTFILE_ENTRY_DOMAIN) {
        t->domains++;
        /* Wire invariants: length within limits, ends with the root, lowercase. */
        assert_true(e->name_len >= 3 && e->name_len <= MW_DNAME_MAX);
        assert_int_equal(e->name[e->name_len - 1], 0);
        assert_true(mw_dname_labels(e->name, e->name_len) >= 1);
        for (size_t i = 0; i < e->name_len; i++)
            assert_false(e->name[i] >= 'A' && e->name[i] <= 'Z');
        if (e->name_len > 5 && memcmp(e->name + 1, "xn--", 4) == 0)
            t->idn++;
        if (e->line == t->want_line)
            mw_dname_to_text(e->name, e->name_len, t->at_line, sizeof(t->at_line));
    } else if (e->type == MW_LISTFILE_ENTRY_IP) {
        t->ips++;
        assert_true(e->cidr.family == AF_INET || e->cidr.family == AF_INET6);
    } else {
        fail_msg("unexpected entry type %d at line %u", (int)e->type, (unsigned)e->line);
    }
    return 0;
}

static void test_real_files(void **state)
{
    (void)state;
    if (access(DATA "/SOURCES.md", R_OK) != 0) {
        print_message("skipped: %s is absent\n", DATA);
        skip();
    }
    static const struct {
        const char *path;
        enum mw_listfile_format fmt;
        size_t min_domains, min_ips, max_bad, min_skipped;
    } files[] = {
        {"mining/coinblockerlists/list.txt", MW_LISTFILE_FMT_PLAIN, 5800, 0, 2, 0},
        {"mining/coinblockerlists/list_browser.txt", MW_LISTFILE_FMT_PLAIN, 1700, 0, 0, 0},
        {"mining/coinblockerlists/list_optional.txt", MW_LISTFILE_FMT_PLAIN, 290, 0, 0, 0},
        {"mining/coinblockerlists/hosts", MW_LISTFILE_FMT_HOSTS, 5800, 0, 2, 0},
        {"mining/coinblockerlists/white_list.txt", MW_LISTFILE_FMT_PLAIN, 15, 0, 0, 0},
        {"mining/coinblockerlists/MiningServerIPList.txt", MW_LISTFILE_FMT_IP, 0, 1000, 0, 0},
        {"mining/coinblockerlists/white_list_IPs.txt", MW_LISTFILE_FMT_IP, 0, 15, 0, 0},
        {"mining/nocoin/nocoin.txt", MW_LISTFILE_FMT_ADBLOCK, 100, 0, 0, 100},
        {"mining/nocoin/hosts.txt", MW_LISTFILE_FMT_HOSTS, 300, 0, 0, 0},
        {"mining/anudeep/CoinMiner.txt", MW_LISTFILE_FMT_HOSTS, 5900, 0, 0, 0},
        {"mining/blocklistproject/crypto.txt", MW_LISTFILE_FMT_HOSTS, 1250, 0, 0, 0},
        {"mining/blocklistproject/crypto-nl.txt", MW_LISTFILE_FMT_PLAIN, 1250, 0, 0, 0},
        {"mining/blocklistproject/crypto-ags.txt", MW_LISTFILE_FMT_ADBLOCK, 1250, 0, 0, 0},
        {"mining/blocklistproject/crypto-dnsmasq.txt", MW_LISTFILE_FMT_DNSMASQ, 1250, 0, 0, 0},
        /* urlhaus-filter names hosts by address too: those become IP entries. */
        {"c2/urlhaus-filter/urlhaus-filter-domains.txt", MW_LISTFILE_FMT_PLAIN, 2600, 23000, 0, 0},
        {"c2/urlhaus-filter/urlhaus-filter-agh.txt", MW_LISTFILE_FMT_ADBLOCK, 2600, 23000, 0, 0},
        {"c2/urlhaus-filter/urlhaus-filter-hosts.txt", MW_LISTFILE_FMT_HOSTS, 2600, 0, 0, 0},
        {"c2/urlhaus-filter/urlhaus-filter-hosts-online.txt", MW_LISTFILE_FMT_HOSTS, 600, 0, 0, 0},
        {"c2/urlhaus-filter/urlhaus-filter-rpz.conf", MW_LISTFILE_FMT_RPZ, 2600, 0, 0, 0},
        {"c2/urlhaus-filter/urlhaus-filter-rpz-online.conf", MW_LISTFILE_FMT_RPZ, 600, 0, 0, 0},
        {"c2/threatfox-ips/ips.txt", MW_LISTFILE_FMT_IP, 0, 19000, 0, 0},
        {"benign/tranco-top-50k.csv", MW_LISTFILE_FMT_CSV, 50000, 0, 0, 0},
        {"benign/umbrella-top-100k.txt", MW_LISTFILE_FMT_PLAIN, 99000, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", DATA, files[i].path);
        struct tally t = {0};
        struct mw_listfile_report r;
        struct mw_errlist errs;
        mw_errlist_init(&errs);
        int rc = mw_listfile_parse_file(path, MW_LISTFILE_FMT_AUTO, count, &t, &r, &errs);
        print_message("%-52s %-7s lines %6zu entries %6zu (names %6zu, addresses %5zu) bad %zu "
                      "skipped %zu ignored %zu\n",
                      files[i].path, mw_listfile_format_name(r.format), r.lines, r.entries,
                      t.domains, t.ips, r.bad, r.skipped, r.ignored);
        for (size_t k = 0; k < errs.n; k++)
            print_message("    %s\n", errs.msgs[k]);
        assert_int_equal(rc, 0);
        assert_int_equal(r.format, files[i].fmt);
        assert_true(t.domains >= files[i].min_domains);
        assert_true(t.ips >= files[i].min_ips);
        assert_true(r.bad <= files[i].max_bad);
        assert_true(r.skipped >= files[i].min_skipped);
        assert_int_equal(r.entries, t.domains + t.ips);
        mw_errlist_deinit(&errs);
    }
}

/* Specific lines of the real files: IDN names, bad lines, and the two urlhaus forms agreeing. */
static void test_real_details(void **state)
{
    (void)state;
    if (access(DATA "/SOURCES.md", R_OK) != 0) {
        print_message("skipped: %s is absent\n", DATA);
        skip();
    }
    struct tally t = {.want_line = 2979};
    struct mw_listfile_report r;
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    assert_int_equal(mw_listfile_parse_file(DATA "/mining/coinblockerlists/list.txt",
                                            MW_LISTFILE_FMT_AUTO, count, &t, &r, &errs),
                     0);
    /* Line 2979 is "myètherwället.com": converted to its A-label. */
    assert_memory_equal(t.at_line, "xn--", 4);
    assert_true(t.idn >= 2);
    assert_int_equal(r.bad, 2);
    assert_int_equal(errs.n, 2);
    assert_non_null(
        strstr(errs.msgs[0], "list.txt:2049: invalid character ':': \"hashbag.cc:8688\""));
    assert_non_null(
        strstr(errs.msgs[1], "list.txt:3727: invalid character ':': \"server.com:1234\""));
    mw_errlist_deinit(&errs);

    /* nocoin: third-party domain rules are kept, content rules skipped per reason. */
    memset(&t, 0, sizeof(t));
    assert_int_equal(mw_listfile_parse_file(DATA "/mining/nocoin/nocoin.txt", MW_LISTFILE_FMT_AUTO,
                                            count, &t, &r, NULL),
                     0);
    assert_true(r.skip[MW_LISTFILE_SKIP_SUBSTRING] >= 50);
    assert_true(r.skip[MW_LISTFILE_SKIP_REGEX] >= 3);
    assert_true(r.skip[MW_LISTFILE_SKIP_URL] >= 10);
    assert_true(r.skip[MW_LISTFILE_SKIP_MODIFIER] >= 5);

    /* The plain and the AdGuard form of urlhaus-filter give the same counts. */
    struct tally a = {0}, b = {0};
    struct mw_listfile_report ra, rb;
    assert_int_equal(mw_listfile_parse_file(DATA "/c2/urlhaus-filter/urlhaus-filter-domains.txt",
                                            MW_LISTFILE_FMT_AUTO, count, &a, &ra, NULL),
                     0);
    assert_int_equal(mw_listfile_parse_file(DATA "/c2/urlhaus-filter/urlhaus-filter-agh.txt",
                                            MW_LISTFILE_FMT_AUTO, count, &b, &rb, NULL),
                     0);
    assert_true(ra.entries >= 25000);
    assert_int_equal(ra.entries, rb.entries);
    assert_int_equal(a.domains, b.domains);
    assert_int_equal(a.ips, b.ips);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),       cmocka_unit_test(test_plain_bad),
        cmocka_unit_test(test_bad_quoting), cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_hosts),       cmocka_unit_test(test_adblock),
        cmocka_unit_test(test_dnsmasq),     cmocka_unit_test(test_ip),
        cmocka_unit_test(test_asn),         cmocka_unit_test(test_pattern),
        cmocka_unit_test(test_csv),         cmocka_unit_test(test_idn),
        cmocka_unit_test(test_detect),      cmocka_unit_test(test_callback_abort),
        cmocka_unit_test(test_file),        cmocka_unit_test(test_file_streamed),
        cmocka_unit_test(test_parse_entry), cmocka_unit_test(test_names),
        cmocka_unit_test(test_real_files),  cmocka_unit_test(test_real_details),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
