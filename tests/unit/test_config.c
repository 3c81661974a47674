/* Unit tests for config.c and config_lists.c: defaults, every key's good values, every kind of
 * error with its exact line, several errors reported from one file, forward-zone selection,
 * relative paths made absolute against the config file's directory, resolv.conf reading, and
 * the shipped conf/minewall.yaml loading cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "minewall/config.h"
#include "minewall/dga.h"
#include "minewall/dname.h"
#include "minewall/error.h"
#include "minewall/listfile.h"
#include "minewall/log.h"

#ifndef MW_TEST_SRCDIR
#define MW_TEST_SRCDIR "tests"
#endif

#define NAME "t.yaml"

static struct mw_config *parse(const char *text, struct mw_errlist *e)
{
    return mw_config_parse(text, strlen(text), NAME, e);
}

/* text must parse without errors. */
static struct mw_config *parse_ok(const char *text)
{
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_config *cfg = parse(text, &e);
    if (!cfg || e.n)
        fail_msg("unexpected error for <<%s>>: %s", text, e.n ? e.msgs[0] : "(none)");
    mw_errlist_deinit(&e);
    return cfg;
}

/* text must fail with exactly n errors, the i-th starting with want[i]. */
static void parse_errors(const char *text, size_t n, const char *const *want)
{
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_config *cfg = parse(text, &e);
    assert_null(cfg);
    bool ok = e.n == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = strncmp(e.msgs[i], want[i], strlen(want[i])) == 0;
    if (!ok) {
        for (size_t i = 0; i < e.n; i++)
            print_error("  got: %s\n", e.msgs[i]);
        for (size_t i = 0; i < n; i++)
            print_error("  want: %s...\n", want[i]);
        fail_msg("errors differ for <<%s>>", text);
    }
    mw_errlist_deinit(&e);
}

/* text must fail with one error that starts with want. */
static void parse_error(const char *text, const char *want)
{
    parse_errors(text, 1, &want);
}

static void assert_addr(const struct mw_addr *a, const char *want)
{
    char buf[128];
    assert_int_equal(mw_addr_format(a, buf, sizeof(buf)), 0);
    assert_string_equal(buf, want);
}

static void assert_defaults(const struct mw_config *c)
{
    assert_int_equal(c->n_listen, 2);
    assert_addr(&c->listen[0], "127.0.0.1:53");
    assert_addr(&c->listen[1], "[::1]:53");
    assert_int_equal(c->n_upstreams, 0);
    assert_null(c->upstreams);
    assert_false(c->upstreams_from_resolv);
    assert_int_equal(c->n_zones, 0);
    assert_int_equal(c->threads, 1);
    static const char *const access[] = {"127.0.0.0/8",   "::1/128",        "10.0.0.0/8",
                                         "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"};
    assert_int_equal(c->n_access, 6);
    for (size_t i = 0; i < 6; i++) {
        char buf[64];
        assert_int_equal(mw_cidr_format(&c->access[i], buf, sizeof(buf)), 0);
        assert_string_equal(buf, access[i]);
    }
    assert_int_equal(c->cache.size, 100000);
    assert_int_equal(c->cache.min_ttl, 0);
    assert_int_equal(c->cache.max_ttl, 86400);
    assert_int_equal(c->cache.serve_stale, 86400);
    assert_int_equal(c->upstream.timeout_ms, 1500);
    assert_int_equal(c->upstream.total_ms, 4000);
    assert_int_equal(c->tcp.idle_timeout_ms, 10000);
    assert_int_equal(c->tcp.max_connections, 1024);
    assert_int_equal(c->tcp.max_pipeline, 64);
    assert_int_equal(c->log_level, MW_LOG_INFO);
}

static const uint8_t zero16[16];

static void assert_filter_defaults(const struct mw_config *c)
{
    assert_null(c->blocks_log);
    assert_int_equal(c->n_lists, 0);
    assert_null(c->lists);
    assert_int_equal(c->sinkhole.action, MW_ACTION_SINKHOLE);
    assert_memory_equal(c->sinkhole.ipv4, zero16, 4);
    assert_memory_equal(c->sinkhole.ipv6, zero16, 16);
    assert_int_equal(c->sinkhole.ttl, 60);
    assert_null(c->geoip.asn);
    assert_null(c->geoip.country);
}

static void test_defaults(void **state)
{
    (void)state;
    struct mw_config *c = mw_config_new_default();
    assert_non_null(c);
    assert_defaults(c);
    assert_filter_defaults(c);
    mw_config_free(c);
    mw_config_free(NULL);

    static const char *const empty[] = {"",
                                        "\n",
                                        "# only a comment\n",
                                        "---\n",
                                        "---\n...\n",
                                        "{}\n",
                                        "access: {}\ncache:\ntcp: {}\nlog:\n",
                                        "lists:\nsinkhole:\ngeoip:\n",
                                        "lists: []\nsinkhole: {}\ngeoip: {}\n"};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        c = parse_ok(empty[i]);
        assert_defaults(c);
        assert_filter_defaults(c);
        assert_string_equal(c->path, "<string>");
        mw_config_free(c);
    }
}

static void test_listen(void **state)
{
    (void)state;
    struct mw_config *c =
        parse_ok("listen:\n  - 0.0.0.0\n  - 192.0.2.1:5353\n  - \"[::]:53\"\n  - '[::1]:5300'\n"
                 "  - fe80::1%lo\n");
    assert_int_equal(c->n_listen, 5);
    assert_addr(&c->listen[0], "0.0.0.0:53");
    assert_addr(&c->listen[1], "192.0.2.1:5353");
    assert_addr(&c->listen[2], "[::]:53");
    assert_addr(&c->listen[3], "[::1]:5300");
    assert_int_equal(mw_addr_port(&c->listen[4]), 53);
    mw_config_free(c);

    c = parse_ok("listen: [127.0.0.1:5353]\n");
    assert_int_equal(c->n_listen, 1);
    assert_addr(&c->listen[0], "127.0.0.1:5353");
    mw_config_free(c);

    parse_error("threads: 1\nlisten: []\n", NAME ":2: listen: no addresses");
    parse_error("listen:\n", NAME ":1: listen: no addresses");
    parse_error("listen: 127.0.0.1\n", NAME ":1: listen: expected a list, found a single value");
    parse_error("listen:\n  - 127.0.0.1\n  - \":53\"\n", NAME ":3: listen: invalid address ':53'");
    parse_error("listen:\n  - 1.2.3.4:99999\n", NAME ":2: listen: invalid address '1.2.3.4:99999'");
    parse_error("listen:\n  - \"[::1\"\n", NAME ":2: listen: invalid address '[::1'");
    parse_error("listen:\n  - 1.2.3.256\n", NAME ":2: listen: invalid address '1.2.3.256'");
    parse_error("listen:\n  - [1.2.3.4]\n",
                NAME ":2: listen: expected a single value, found a list");
    parse_error("listen:\n  -\n", NAME ":2: listen: value missing");
}

static void test_upstreams(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("upstreams:\n  - 9.9.9.9\n  - \"[2620:fe::fe]:5353\"\n");
    assert_int_equal(c->n_upstreams, 2);
    assert_addr(&c->upstreams[0], "9.9.9.9:53");
    assert_addr(&c->upstreams[1], "[2620:fe::fe]:5353");
    mw_config_free(c);

    static const char *const none[] = {"upstreams: []\n", "upstreams:\n", "upstreams: ~\n"};
    for (size_t i = 0; i < 3; i++) {
        c = parse_ok(none[i]);
        assert_int_equal(c->n_upstreams, 0);
        assert_null(c->upstreams);
        mw_config_free(c);
    }
    parse_error("upstreams:\n  x: 1\n", NAME ":2: upstreams: expected a list, found a map");
    parse_error("upstreams: [9.9.9.9, dns.example]\n",
                NAME ":1: upstreams: invalid address 'dns.example'");
}

static void test_forward_zones(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("forward-zones:\n"
                                   "  Example.COM.:\n"
                                   "    - 192.0.2.1\n"
                                   "  corp.internal: [10.0.0.53, 10.0.0.54:5353]\n"
                                   "  lab.corp.internal: [10.1.0.53]\n"
                                   "  .: [192.0.2.99]\n");
    assert_int_equal(c->n_zones, 4);
    /* Sorted by descending wire length. */
    assert_string_equal(c->zones[0].name, "lab.corp.internal");
    assert_int_equal(c->zones[0].wire_len, 19);
    assert_string_equal(c->zones[1].name, "corp.internal");
    assert_int_equal(c->zones[1].n_upstreams, 2);
    assert_addr(&c->zones[1].upstreams[1], "10.0.0.54:5353");
    assert_int_equal(c->zones[1].line, 4);
    assert_string_equal(c->zones[2].name, "example.com");
    assert_memory_equal(c->zones[2].wire, "\7example\3com", 13);
    assert_int_equal(c->zones[2].wire_len, 13);
    assert_int_equal(c->zones[2].line, 2);
    assert_string_equal(c->zones[3].name, "");
    assert_int_equal(c->zones[3].wire_len, 1);
    for (size_t i = 1; i < c->n_zones; i++)
        assert_true(c->zones[i - 1].wire_len >= c->zones[i].wire_len);
    mw_config_free(c);

    c = parse_ok("forward-zones:\n");
    assert_int_equal(c->n_zones, 0);
    mw_config_free(c);

    parse_error("forward-zones:\n  a.example: [192.0.2.1]\n  A.Example.: [192.0.2.2]\n",
                NAME ":3: forward-zones: duplicate zone 'A.Example.' (first on line 2)");
    parse_error("forward-zones:\n  a.example: []\n",
                NAME ":2: forward-zones: zone 'a.example' has no upstreams");
    parse_error("forward-zones:\n  a.example:\n",
                NAME ":2: forward-zones: zone 'a.example' has no upstreams");
    parse_error("forward-zones:\n  a..example: [192.0.2.1]\n",
                NAME ":2: forward-zones: invalid zone name 'a..example'");
    parse_error("forward-zones:\n  a.example: 192.0.2.1\n",
                NAME ":2: forward-zones: expected a list, found a single value");
    parse_error("forward-zones:\n  - a.example\n",
                NAME ":2: forward-zones: expected a map of zone names, found a list");
    parse_error("forward-zones:\n  a.example: [192.0.2.1, nope]\n",
                NAME ":2: forward-zones: invalid address 'nope'");
}

static const char *zone_of(const struct mw_config *c, const char *qname)
{
    uint8_t wire[MW_DNAME_MAX + 1];
    int len = mw_dname_from_text(qname, wire, sizeof(wire));
    assert_true(len > 0);
    const struct mw_forward_zone *z = mw_config_zone_for(c, wire, (size_t)len);
    return z ? z->name : NULL;
}

static void test_zone_for(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("forward-zones:\n"
                                   "  corp.internal: [10.0.0.53]\n"
                                   "  lab.corp.internal: [10.1.0.53]\n"
                                   "  example: [10.2.0.53]\n");
    assert_string_equal(zone_of(c, "corp.internal"), "corp.internal");
    assert_string_equal(zone_of(c, "a.corp.internal"), "corp.internal");
    assert_string_equal(zone_of(c, "a.b.corp.internal"), "corp.internal");
    assert_string_equal(zone_of(c, "lab.corp.internal"), "lab.corp.internal");
    assert_string_equal(zone_of(c, "x.lab.corp.internal"), "lab.corp.internal");
    assert_string_equal(zone_of(c, "xlab.corp.internal"), "corp.internal");
    assert_null(zone_of(c, "xcorp.internal"));
    assert_null(zone_of(c, "internal"));
    assert_null(zone_of(c, "example.com"));
    assert_string_equal(zone_of(c, "www.example"), "example");
    assert_null(zone_of(c, "."));
    mw_config_free(c);

    c = parse_ok("forward-zones:\n  .: [192.0.2.1]\n  corp.internal: [10.0.0.53]\n");
    assert_string_equal(zone_of(c, "example.com"), "");
    assert_string_equal(zone_of(c, "."), "");
    assert_string_equal(zone_of(c, "a.corp.internal"), "corp.internal");
    mw_config_free(c);

    c = mw_config_new_default();
    assert_null(zone_of(c, "example.com"));
    mw_config_free(c);
}

static void test_threads(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("threads: 4\n");
    assert_int_equal(c->threads, 4);
    mw_config_free(c);
    c = parse_ok("threads: '64'\n");
    assert_int_equal(c->threads, 64);
    mw_config_free(c);
    c = parse_ok("threads: auto\n");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(c->threads, cpus > 64 ? 64 : cpus < 1 ? 1 : cpus);
    mw_config_free(c);

    parse_error("threads: 0\n", NAME ":1: threads: '0' is out of range 1..64");
    parse_error("log: {}\nthreads: 65\n", NAME ":2: threads: '65' is out of range 1..64");
    parse_error("threads: -1\n", NAME ":1: threads: '-1' is out of range 1..64");
    parse_error("threads: many\n", NAME ":1: threads: invalid number 'many'");
    parse_error("threads: [1]\n", NAME ":1: threads: expected a single value, found a list");
    parse_error("threads:\n", NAME ":1: threads: value missing");
}

static void test_access(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("access:\n  allow:\n    - 192.0.2.0/24\n    - 2001:db8::1\n");
    assert_int_equal(c->n_access, 2);
    char buf[64];
    assert_int_equal(mw_cidr_format(&c->access[1], buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2001:db8::1/128");
    mw_config_free(c);

    parse_error("access:\n  allow: []\n", NAME ":2: access.allow: empty list");
    parse_error("access:\n  allow:\n", NAME ":2: access.allow: empty list");
    parse_error("access:\n  allow:\n    - 10.0.0.1/8\n",
                NAME ":3: access.allow: invalid prefix '10.0.0.1/8'");
    parse_error("access:\n  allow: [10.0.0.0/33]\n",
                NAME ":2: access.allow: invalid prefix '10.0.0.0/33'");
    parse_error("access:\n  allow: 10.0.0.0/8\n",
                NAME ":2: access.allow: expected a list, found a single value");
    parse_error("access:\n  - 10.0.0.0/8\n", NAME ":2: access: expected a map, found a list");
    parse_error("access:\n  deny: [10.0.0.0/8]\n", NAME ":2: unknown key 'deny' in 'access'");
}

static void test_cache(void **state)
{
    (void)state;
    struct mw_config *c =
        parse_ok("cache:\n  size: 0\n  min-ttl: 30\n  max-ttl: 3600\n  serve-stale: 0\n");
    assert_int_equal(c->cache.size, 0);
    assert_int_equal(c->cache.min_ttl, 30);
    assert_int_equal(c->cache.max_ttl, 3600);
    assert_int_equal(c->cache.serve_stale, 0);
    mw_config_free(c);
    c = parse_ok("cache: {size: 5000000, min-ttl: 60, max-ttl: 60}\n");
    assert_int_equal(c->cache.size, 5000000);
    assert_int_equal(c->cache.min_ttl, 60);
    assert_int_equal(c->cache.max_ttl, 60);
    mw_config_free(c);

    parse_error("cache:\n  size: -1\n", NAME ":2: cache.size: '-1' is out of range");
    parse_error("cache:\n  size: 10x\n", NAME ":2: cache.size: invalid number '10x'");
    parse_error("cache:\n  size: 0x10\n", NAME ":2: cache.size: invalid number '0x10'");
    parse_error("cache:\n  size: 1e3\n", NAME ":2: cache.size: invalid number '1e3'");
    parse_error("cache:\n  size: +5\n", NAME ":2: cache.size: invalid number '+5'");
    parse_error("cache:\n  size: 010\n", NAME ":2: cache.size: invalid number '010'");
    parse_error("cache:\n  size: 1_000\n", NAME ":2: cache.size: invalid number '1_000'");
    parse_error("cache:\n  size: 99999999999999999999999\n", NAME ":2: cache.size: invalid number");
    parse_error("cache:\n  min-ttl: 2147483648\n", NAME ":2: cache.min-ttl: '2147483648' is out");
    /* min-ttl above max-ttl: reported on the later of the two keys. */
    parse_error("cache:\n  min-ttl: 600\n  max-ttl: 300\n",
                NAME ":3: cache.min-ttl (600) is greater than cache.max-ttl (300)");
    parse_error("cache:\n  max-ttl: 300\n  min-ttl: 600\n",
                NAME ":3: cache.min-ttl (600) is greater than cache.max-ttl (300)");
    parse_error("threads: 1\ncache:\n  min-ttl: 100000\n",
                NAME ":3: cache.min-ttl (100000) is greater than cache.max-ttl (86400)");
    parse_error("cache: 100\n", NAME ":1: cache: expected a map, found a single value");
    parse_error("cache:\n  ttl: 5\n", NAME ":2: unknown key 'ttl' in 'cache'");
}

static void test_timeouts(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("upstream-timeout: 50\nresolve-timeout: 120000\n");
    assert_int_equal(c->upstream.timeout_ms, 50);
    assert_int_equal(c->upstream.total_ms, 120000);
    mw_config_free(c);
    c = parse_ok("upstream-timeout: 4000\n");
    assert_int_equal(c->upstream.timeout_ms, 4000);
    assert_int_equal(c->upstream.total_ms, 4000);
    mw_config_free(c);

    parse_error("upstream-timeout: 49\n",
                NAME ":1: upstream-timeout: '49' is out of range 50..60000");
    parse_error("upstream-timeout: 60001\n", NAME ":1: upstream-timeout: '60001' is out of range");
    parse_error("resolve-timeout: 99\n",
                NAME ":1: resolve-timeout: '99' is out of range 100..120000");
    parse_error("resolve-timeout: 1000\n",
                NAME ":1: resolve-timeout (1000 ms) is shorter than upstream-timeout (1500 ms)");
    parse_error("resolve-timeout: 1000\nthreads: 1\nupstream-timeout: 2000\n",
                NAME ":3: resolve-timeout (1000 ms) is shorter than upstream-timeout (2000 ms)");
}

static void test_tcp(void **state)
{
    (void)state;
    struct mw_config *c =
        parse_ok("tcp:\n  idle-timeout: 3600\n  max-connections: 1000000\n  max-pipeline: 1\n");
    assert_int_equal(c->tcp.idle_timeout_ms, 3600000);
    assert_int_equal(c->tcp.max_connections, 1000000);
    assert_int_equal(c->tcp.max_pipeline, 1);
    mw_config_free(c);

    parse_error("tcp:\n  idle-timeout: 0\n",
                NAME ":2: tcp.idle-timeout: '0' is out of range 1..3600");
    parse_error("tcp:\n  max-connections: 1000001\n", NAME ":2: tcp.max-connections: '1000001'");
    parse_error("tcp:\n  max-pipeline: 65536\n", NAME ":2: tcp.max-pipeline: '65536'");
    parse_error("tcp:\n  keepalive: 1\n", NAME ":2: unknown key 'keepalive' in 'tcp'");
}

/* Output bounds: defaults, ranges, and the limit not below the pause mark. */
static void test_output_bounds(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("tcp:\n  idle-timeout: 10\n");
    assert_int_equal(c->tcp.output_pause, 65536);
    assert_int_equal(c->tcp.output_limit, 1048576);
    assert_true(c->tcp.worker_output_limit == 33554432);
    assert_int_equal(c->udp.send_queue, 1048576);
    mw_config_free(c);
    c = parse_ok("tcp:\n  output-pause: 4096\n  output-limit: 4096\n"
                 "  worker-output-limit: 1099511627776\nudp:\n  send-queue: 0\n");
    assert_int_equal(c->tcp.output_pause, 4096);
    assert_int_equal(c->tcp.output_limit, 4096);
    assert_true(c->tcp.worker_output_limit == 1099511627776ULL);
    assert_int_equal(c->udp.send_queue, 0);
    mw_config_free(c);
    parse_error("tcp:\n  output-pause: 1023\n", NAME ":2: tcp.output-pause: '1023' is out");
    parse_error("tcp:\n  worker-output-limit: 1000\n",
                NAME ":2: tcp.worker-output-limit: '1000' is out");
    parse_error("udp:\n  send-queue: -1\n", NAME ":2: udp.send-queue: '-1'");
    parse_error("tcp:\n  output-limit: 2048\n  output-pause: 4096\n",
                NAME ":3: tcp.output-limit (2048) is less than tcp.output-pause (4096)");
    parse_error("tcp:\n  output-limit: 2048\n",
                NAME ":2: tcp.output-limit (2048) is less than tcp.output-pause (65536)");
    parse_error("udp:\n  queue: 1\n", NAME ":2: unknown key 'queue' in 'udp'");
}

static void test_log(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int level;
    } good[] = {{"log:\n  level: error\n", MW_LOG_ERROR},
                {"log:\n  level: warn\n", MW_LOG_WARN},
                {"log:\n  level: warning\n", MW_LOG_WARN},
                {"log: {level: info}\n", MW_LOG_INFO},
                {"log:\n  level: debug\n", MW_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct mw_config *c = parse_ok(good[i].text);
        assert_int_equal(c->log_level, good[i].level);
        mw_config_free(c);
    }
    parse_error("log:\n  level: loud\n", NAME ":2: log.level: unknown level 'loud'");
    parse_error("log:\n  level: [info]\n", NAME ":2: log.level: expected a single value");
    parse_error("log:\n  blocks:\n", NAME ":2: log.blocks: value missing");
    parse_error("log:\n  level: info\n  blocks: ''\n", NAME ":3: log.blocks: empty path");
    parse_error("log:\n  blocks: [a, b]\n", NAME ":2: log.blocks: expected a single value");
    parse_error("log:\n  file: x\n", NAME ":2: unknown key 'file' in 'log'");
    struct mw_config *c = parse_ok("log:\n  blocks: /var/log/minewall/blocks.log\n");
    assert_string_equal(c->blocks_log, "/var/log/minewall/blocks.log");
    assert_int_equal(c->log_level, MW_LOG_INFO);
    mw_config_free(c);

    assert_int_equal(mw_log_level_parse("DEBUG"), MW_LOG_DEBUG);
    assert_int_equal(mw_log_level_parse("verbose"), -EINVAL);
    assert_int_equal(mw_log_level_parse(NULL), -EINVAL);
}

static void test_lists(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("lists:\n"
                                   "  - name: mining-pools\n" /* 2 */
                                   "    category: mining\n"
                                   "    path: /etc/minewall/mining.txt\n"
                                   "  - name: C2_feed.v-2\n" /* 5 */
                                   "    category: c2\n"
                                   "    path: /lists/c2.rpz\n"
                                   "    action: nxdomain\n"
                                   "    type: ip\n"
                                   "    format: rpz\n"
                                   "    enabled: false\n"
                                   "  - {name: ok, category: allow, path: /a, enabled: true}\n"
                                   "  - name: asn\n" /* 13 */
                                   "    category: bad_asn-2\n"
                                   "    type: ASN\n"
                                   "    action: LOG\n"
                                   "    path: /asn.txt\n"
                                   "    format: domains\n"
                                   "  -\n" /* 19 */
                                   "    name: p\n"
                                   "    category: x\n"
                                   "    path: /p\n"
                                   "    type: pattern\n"
                                   "    action: drop\n"
                                   "    format: auto\n");
    assert_int_equal(c->n_lists, 5);
    const struct mw_list_conf *l = &c->lists[0];
    assert_string_equal(l->name, "mining-pools");
    assert_string_equal(l->category, "mining");
    assert_string_equal(l->path, "/etc/minewall/mining.txt");
    assert_int_equal(l->action, MW_ACTION_DEFAULT);
    assert_int_equal(l->type, MW_LIST_DOMAIN);
    assert_int_equal(l->format, MW_LISTFILE_FMT_AUTO);
    assert_false(l->allow);
    assert_true(l->enabled);
    assert_int_equal(l->line, 2);
    l = &c->lists[1];
    assert_string_equal(l->name, "C2_feed.v-2");
    assert_string_equal(l->path, "/lists/c2.rpz");
    assert_int_equal(l->action, MW_ACTION_NXDOMAIN);
    assert_int_equal(l->type, MW_LIST_IP);
    assert_int_equal(l->format, MW_LISTFILE_FMT_RPZ);
    assert_false(l->enabled);
    assert_int_equal(l->line, 5);
    l = &c->lists[2];
    assert_string_equal(l->category, "allow");
    assert_true(l->allow);
    assert_true(l->enabled);
    assert_int_equal(l->action, MW_ACTION_DEFAULT);
    assert_int_equal(l->line, 12);
    l = &c->lists[3];
    assert_string_equal(l->category, "bad_asn-2");
    assert_int_equal(l->type, MW_LIST_ASN);
    assert_int_equal(l->action, MW_ACTION_LOG);
    assert_int_equal(l->format, MW_LISTFILE_FMT_PLAIN);
    assert_int_equal(l->line, 13);
    l = &c->lists[4];
    assert_int_equal(l->type, MW_LIST_PATTERN);
    assert_int_equal(l->action, MW_ACTION_DROP);
    assert_int_equal(l->format, MW_LISTFILE_FMT_AUTO);
    assert_int_equal(l->line, 20);
    /* The rest of the config keeps its defaults. */
    assert_defaults(c);
    assert_int_equal(c->sinkhole.action, MW_ACTION_SINKHOLE);
    mw_config_free(c);

    static const struct {
        const char *text;
        int format;
    } formats[] = {
        {"auto", MW_LISTFILE_FMT_AUTO},       {"plain", MW_LISTFILE_FMT_PLAIN},
        {"hosts", MW_LISTFILE_FMT_HOSTS},     {"adblock", MW_LISTFILE_FMT_ADBLOCK},
        {"dnsmasq", MW_LISTFILE_FMT_DNSMASQ}, {"rpz", MW_LISTFILE_FMT_RPZ},
        {"ip", MW_LISTFILE_FMT_IP},           {"asn", MW_LISTFILE_FMT_ASN},
        {"pattern", MW_LISTFILE_FMT_PATTERN}, {"csv", MW_LISTFILE_FMT_CSV},
    };
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "lists:\n  - {name: a, category: b, path: /a, format: %s}\n",
                 formats[i].text);
        c = parse_ok(text);
        assert_int_equal(c->lists[0].format, formats[i].format);
        mw_config_free(c);
    }
    static const char *const actions[] = {"sinkhole", "nxdomain", "nodata",
                                          "refused",  "drop",     "log"};
    for (size_t i = 0; i < 6; i++) {
        char text[128];
        snprintf(text, sizeof(text), "lists:\n  - {name: a, category: b, path: /a, action: %s}\n",
                 actions[i]);
        c = parse_ok(text);
        assert_int_equal(c->lists[0].action, MW_ACTION_SINKHOLE + (int)i);
        mw_config_free(c);
    }
}

static void test_lists_errors(void **state)
{
    (void)state;
    parse_error("lists: 1\n", NAME ":1: lists: expected a list, found a single value");
    parse_error("threads: 1\nlists:\n  a: 1\n", NAME ":3: lists: expected a list, found a map");
    parse_error("lists:\n  - x\n", NAME ":2: lists: expected a map, found a single value");
    parse_error("lists:\n  - [a]\n", NAME ":2: lists: expected a map, found a list");

    /* name */
    parse_error("lists:\n  - name: a b\n    category: x\n    path: /a\n",
                NAME ":2: lists.name: invalid name 'a b' (letters, digits");
    parse_error("lists:\n  - category: x\n    name: a/b\n    path: /a\n",
                NAME ":3: lists.name: invalid name 'a/b'");
    parse_error("lists:\n  - category: x\n    path: /a\n    name: ''\n",
                NAME ":4: lists.name: invalid name ''");
    parse_error("lists:\n  - category: x\n    path: /a\n    name:\n",
                NAME ":4: lists.name: value missing");
    parse_error("lists:\n  - category: x\n    path: /a\n    name: [a]\n",
                NAME ":4: lists.name: expected a single value, found a list");
    parse_error("lists:\n  - category: x\n    path: /a\n", NAME ":2: lists: a list has no 'name'");

    /* category */
    parse_error("lists:\n  - name: a\n    category: Mining\n    path: /a\n",
                NAME ":3: lists.category: invalid category 'Mining' (lowercase letters");
    parse_error("lists:\n  - name: a\n    category: a.b\n    path: /a\n",
                NAME ":3: lists.category: invalid category 'a.b'");
    parse_error("lists:\n  - name: a\n    category:\n    path: /a\n",
                NAME ":3: lists.category: value missing");
    parse_error("threads: 1\nlists:\n  - name: a\n    path: /a\n",
                NAME ":3: lists: list 'a' has no 'category'");

    /* Length caps: names travel into fixed fields (events, labels, state file names). */
    char text[512], name[MW_LIST_NAME_MAX + 2], cat[MW_CATEGORY_MAX + 2];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = 0;
    memset(cat, 'c', sizeof(cat) - 1);
    cat[sizeof(cat) - 1] = 0;
    snprintf(text, sizeof(text), "lists:\n  - name: %s\n    category: c\n    path: /a\n", name);
    parse_error(text, NAME ":2: lists.name: name 'nnnn");
    snprintf(text, sizeof(text), "lists:\n  - name: a\n    category: %s\n    path: /a\n", cat);
    parse_error(text, NAME ":3: lists.category: category 'cccc");
    snprintf(text, sizeof(text), "redis:\n  url: redis://127.0.0.1\n  lists: [ok, %s]\n", name);
    parse_error(text, NAME ":3: redis.lists: list name 'nnnn");
    name[MW_LIST_NAME_MAX] = 0; /* at the caps: fine */
    cat[MW_CATEGORY_MAX] = 0;
    snprintf(text, sizeof(text),
             "lists:\n  - name: %s\n    category: %s\n    path: /a\nredis:\n"
             "  url: redis://127.0.0.1\n  lists: [%s]\n",
             name, cat, name);
    struct mw_config *c = parse_ok(text);
    assert_string_equal(c->lists[0].name, name);
    assert_string_equal(c->lists[0].category, cat);
    mw_config_free(c);

    /* path */
    parse_error("lists:\n  - name: a\n    category: b\n    path: ''\n",
                NAME ":4: lists.path: empty path");
    parse_error("lists:\n  - name: a\n    category: b\n    path: {x: 1}\n",
                NAME ":4: lists.path: expected a single value, found a map");
    parse_error("lists:\n  - name: a\n    category: b\n", NAME ":2: lists: list 'a' has no 'path'");

    /* action, type, format, enabled */
    parse_error("lists:\n  - name: a\n    category: b\n    path: /a\n    action: block\n",
                NAME ":5: lists.action: unknown action 'block' (expected sinkhole, nxdomain, "
                     "nodata, refused, drop or log)");
    parse_error("lists:\n  - name: a\n    category: b\n    path: /a\n    action: default\n",
                NAME ":5: lists.action: unknown action 'default'");
    parse_error("lists:\n  - name: a\n    category: b\n    path: /a\n    type: domains\n",
                NAME ":5: lists.type: unknown type 'domains' (expected domain, ip, asn or "
                     "pattern)");
    parse_error("lists:\n  - name: a\n    category: b\n    path: /a\n    format: json\n",
                NAME ":5: lists.format: unknown format 'json' (expected auto, plain, hosts, "
                     "adblock, dnsmasq, rpz, ip, asn, pattern or csv)");
    parse_error("lists:\n  - name: a\n    category: b\n    path: /a\n    enabled: yes\n",
                NAME ":5: lists.enabled: expected true or false, found 'yes'");
    parse_error("lists:\n  - name: a\n    category: b\n    path: /a\n    enabled: 0\n",
                NAME ":5: lists.enabled: expected true or false, found '0'");

    /* keys */
    parse_error("lists:\n  - name: a\n    category: b\n    path: /a\n    url: http://x/\n",
                NAME ":5: unknown key 'url' in 'lists'");
    parse_error("lists:\n  - name: a\n    category: b\n    path: /a\n    path: /b\n",
                NAME ":5: duplicate key 'path' (first on line 4)");

    /* An allowlist has no action, even the default one written out. */
    parse_error("lists:\n  - name: ok\n    action: drop\n    category: allow\n    path: /a\n",
                NAME ":3: lists.action: an allowlist has no action");
    parse_error("lists:\n  - {name: ok, category: allow, path: /a, action: sinkhole}\n",
                NAME ":2: lists.action: an allowlist has no action");

    /* Duplicate names: reported on the line of the later list, each against the first. */
    static const char dup[] = "lists:\n"                                /* 1 */
                              "  - name: a\n"                           /* 2 */
                              "    category: x\n"                       /* 3 */
                              "    path: /a\n"                          /* 4 */
                              "  - category: y\n"                       /* 5 */
                              "    name: a\n"                           /* 6 */
                              "    path: /b\n"                          /* 7 */
                              "  - name: A\n"                           /* 8 */
                              "    category: y\n"                       /* 9 */
                              "    path: /c\n"                          /* 10 */
                              "  - {name: a, category: z, path: /d}\n"; /* 11 */
    static const char *const want_dup[] = {
        NAME ":5: lists.name: duplicate list name 'a' (first on line 2)",
        NAME ":11: lists.name: duplicate list name 'a' (first on line 2)",
    };
    parse_errors(dup, 2, want_dup);

    /* Every problem of every list, in file order, and the walk goes on after the lists. */
    static const char many[] = "lists:\n"              /* 1 */
                               "  - {}\n"              /* 2 */
                               "  - name: x y\n"       /* 3 */
                               "    category: UP\n"    /* 4 */
                               "    path:\n"           /* 5 */
                               "    type: ipv4\n"      /* 6 */
                               "  - 7\n"               /* 7 */
                               "  - name: z\n"         /* 8 */
                               "    category: allow\n" /* 9 */
                               "    action: refused\n" /* 10 */
                               "threads: 0\n";         /* 11 */
    static const char *const want_many[] = {
        NAME ":2: lists: a list has no 'name'",
        NAME ":2: lists: a list has no 'category'",
        NAME ":2: lists: a list has no 'path'",
        NAME ":3: lists.name: invalid name 'x y'",
        NAME ":4: lists.category: invalid category 'UP'",
        NAME ":5: lists.path: value missing",
        NAME ":6: lists.type: unknown type 'ipv4'",
        NAME ":7: lists: expected a map, found a single value",
        NAME ":8: lists: list 'z' has no 'path'",
        NAME ":10: lists.action: an allowlist has no action",
        NAME ":11: threads: '0' is out of range 1..64",
    };
    parse_errors(many, sizeof(want_many) / sizeof(want_many[0]), want_many);
}

static void test_sinkhole(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("sinkhole:\n  action: nxdomain\n  ipv4: 192.0.2.1\n"
                                   "  ipv6: 2001:db8::1\n  ttl: 0\n");
    assert_int_equal(c->sinkhole.action, MW_ACTION_NXDOMAIN);
    static const uint8_t v4[4] = {192, 0, 2, 1};
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    assert_memory_equal(c->sinkhole.ipv4, v4, 4);
    assert_memory_equal(c->sinkhole.ipv6, v6, 16);
    assert_int_equal(c->sinkhole.ttl, 0);
    mw_config_free(c);

    c = parse_ok("sinkhole: {action: LOG, ttl: 86400, ipv6: '::', ipv4: 0.0.0.0}\n");
    assert_int_equal(c->sinkhole.action, MW_ACTION_LOG);
    assert_int_equal(c->sinkhole.ttl, 86400);
    assert_memory_equal(c->sinkhole.ipv4, zero16, 4);
    assert_memory_equal(c->sinkhole.ipv6, zero16, 16);
    mw_config_free(c);

    c = parse_ok("sinkhole:\n  ipv6: \"::ffff:10.0.0.1\"\n");
    static const uint8_t mapped[16] = {[10] = 0xff, [11] = 0xff, [12] = 10, [15] = 1};
    assert_memory_equal(c->sinkhole.ipv6, mapped, 16);
    assert_int_equal(c->sinkhole.action, MW_ACTION_SINKHOLE);
    assert_int_equal(c->sinkhole.ttl, 60);
    mw_config_free(c);

    parse_error("sinkhole:\n  action: block\n", NAME ":2: sinkhole.action: unknown action 'block'");
    parse_error("sinkhole:\n  action: default\n",
                NAME ":2: sinkhole.action: unknown action 'default'");
    parse_error("sinkhole:\n  action:\n", NAME ":2: sinkhole.action: value missing");
    parse_error("sinkhole:\n  ipv4: 1.2.3\n",
                NAME ":2: sinkhole.ipv4: invalid IPv4 address '1.2.3'");
    parse_error("sinkhole:\n  ipv4: 256.1.1.1\n", NAME ":2: sinkhole.ipv4: invalid IPv4 address");
    parse_error("sinkhole:\n  ipv4: 10.0.0.1/32\n", NAME ":2: sinkhole.ipv4: invalid IPv4 address");
    parse_error("sinkhole:\n  ttl: 1\n  ipv4: \"::1\"\n",
                NAME ":3: sinkhole.ipv4: invalid IPv4 address '::1'");
    parse_error("sinkhole:\n  ipv6: 192.0.2.1\n",
                NAME ":2: sinkhole.ipv6: invalid IPv6 address '192.0.2.1'");
    parse_error("sinkhole:\n  ipv6: fe80::1%lo\n", NAME ":2: sinkhole.ipv6: invalid IPv6 address");
    parse_error("sinkhole:\n  ipv6: \"[::1]\"\n", NAME ":2: sinkhole.ipv6: invalid IPv6 address");
    parse_error("sinkhole:\n  ttl: 86401\n",
                NAME ":2: sinkhole.ttl: '86401' is out of range 0..86400");
    parse_error("sinkhole:\n  ttl: -1\n", NAME ":2: sinkhole.ttl: '-1' is out of range");
    parse_error("sinkhole:\n  ttl: 60s\n", NAME ":2: sinkhole.ttl: invalid number '60s'");
    parse_error("sinkhole:\n  address: 0.0.0.0\n", NAME ":2: unknown key 'address' in 'sinkhole'");
    parse_error("sinkhole: nxdomain\n", NAME ":1: sinkhole: expected a map, found a single value");
}

static void test_geoip(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("geoip:\n  asn: /var/lib/GeoLite2-ASN.mmdb\n"
                                   "  country: /var/lib/GeoLite2-Country.mmdb\n");
    assert_string_equal(c->geoip.asn, "/var/lib/GeoLite2-ASN.mmdb");
    assert_string_equal(c->geoip.country, "/var/lib/GeoLite2-Country.mmdb");
    mw_config_free(c);
    c = parse_ok("geoip:\n  country: /c.mmdb\n");
    assert_null(c->geoip.asn);
    assert_string_equal(c->geoip.country, "/c.mmdb");
    mw_config_free(c);

    parse_error("geoip:\n  asn:\n", NAME ":2: geoip.asn: value missing");
    parse_error("geoip:\n  asn: /a\n  country: \"\"\n", NAME ":3: geoip.country: empty path");
    parse_error("geoip:\n  city: /c.mmdb\n", NAME ":2: unknown key 'city' in 'geoip'");
    parse_error("geoip: [a]\n", NAME ":1: geoip: expected a map, found a list");
}

/* A buffer has no file: relative paths are read against the current directory. */
static void test_relative_to_cwd(void **state)
{
    (void)state;
    char *cwd = getcwd(NULL, 0);
    assert_non_null(cwd);
    struct mw_config *c = parse_ok("lists:\n  - {name: a, category: b, path: lists/a.txt}\n"
                                   "  - {name: b, category: b, path: ././b.txt}\n"
                                   "geoip: {asn: asn.mmdb}\nlog: {blocks: ../blocks.log}\n");
    char want[4096];
    snprintf(want, sizeof(want), "%s/lists/a.txt", cwd);
    assert_string_equal(c->lists[0].path, want);
    snprintf(want, sizeof(want), "%s/b.txt", cwd);
    assert_string_equal(c->lists[1].path, want);
    snprintf(want, sizeof(want), "%s/asn.mmdb", cwd);
    assert_string_equal(c->geoip.asn, want);
    snprintf(want, sizeof(want), "%s/../blocks.log", cwd);
    assert_string_equal(c->blocks_log, want);
    mw_config_free(c);
    free(cwd);
}

static void test_action_names(void **state)
{
    (void)state;
    static const char *const names[] = {"default", "sinkhole", "nxdomain", "nodata",
                                        "refused", "drop",     "log"};
    assert_int_equal(MW_ACTION_LOG + 1, sizeof(names) / sizeof(names[0]));
    for (int a = MW_ACTION_DEFAULT; a <= MW_ACTION_LOG; a++)
        assert_string_equal(mw_action_name((enum mw_action)a), names[a]);
    for (int a = MW_ACTION_SINKHOLE; a <= MW_ACTION_LOG; a++) {
        enum mw_action back = MW_ACTION_DEFAULT;
        assert_int_equal(mw_action_parse(mw_action_name((enum mw_action)a), &back), 0);
        assert_int_equal(back, a);
    }
    enum mw_action a = MW_ACTION_LOG;
    assert_int_equal(mw_action_parse("NXDomain", &a), 0);
    assert_int_equal(a, MW_ACTION_NXDOMAIN);
    static const char *const bad[] = {"default", "", "block", "nxdomain ", "sink"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        a = MW_ACTION_DROP;
        assert_int_equal(mw_action_parse(bad[i], &a), -EINVAL);
        assert_int_equal(a, MW_ACTION_DROP); /* untouched on failure */
    }
    assert_int_equal(mw_action_parse(NULL, &a), -EINVAL);
    assert_string_equal(mw_action_name((enum mw_action)99), "unknown");

    assert_string_equal(mw_list_type_name(MW_LIST_DOMAIN), "domain");
    assert_string_equal(mw_list_type_name(MW_LIST_IP), "ip");
    assert_string_equal(mw_list_type_name(MW_LIST_ASN), "asn");
    assert_string_equal(mw_list_type_name(MW_LIST_PATTERN), "pattern");
    assert_string_equal(mw_list_type_name((enum mw_list_type)9), "unknown");
}

static void test_unknown_keys(void **state)
{
    (void)state;
    parse_error("threads: 1\nlog:\n  level: info\nbogus: 1\n", NAME ":4: unknown key 'bogus'");
    parse_error("threads: 1\n\n# comment\nlisten : [1.2.3.4]\nbogus:\n  - x\n",
                NAME ":5: unknown key 'bogus'");
    /* Keys reserved for later work are not accepted yet. */
    static const char *const reserved[] = {"bogus2", "api"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        char text[64], want[64];
        snprintf(text, sizeof(text), "threads: 2\n%s: 1\n", reserved[i]);
        snprintf(want, sizeof(want), NAME ":2: unknown key '%s'", reserved[i]);
        parse_error(text, want);
    }
    parse_error("Threads: 1\n", NAME ":1: unknown key 'Threads'");
    parse_error("? [a]\n: 1\n", NAME ":1: expected a key, found a list");
    /* Control bytes in a quoted value are not copied into the message. */
    parse_error("\"bad\\tkey\": 1\n", NAME ":1: unknown key 'bad?key'");
}

static void test_redis(void **state)
{
    (void)state;
    struct mw_config *cfg = parse_ok("redis:\n  url: \"redis://:pw@127.0.0.1:6390/2\"\n"
                                     "  lists: [mining, c2]\n  state-dir: /var/lib/mw\n");
    assert_string_equal(cfg->redis.url, "redis://:pw@127.0.0.1:6390/2");
    assert_int_equal(cfg->redis.n_lists, 2);
    assert_string_equal(cfg->redis.lists[1], "c2");
    assert_false(cfg->redis.all);
    assert_string_equal(cfg->redis.state_dir, "/var/lib/mw");
    assert_null(cfg->redis.events_url);
    mw_config_free(cfg);
    cfg = parse_ok("redis: {url: \"redis://localhost\", lists: [\"*\"]}\n");
    assert_true(cfg->redis.all);
    assert_int_equal(cfg->redis.n_lists, 0);
    mw_config_free(cfg);
    cfg = parse_ok("threads: 1\n");
    assert_null(cfg->redis.url);
    mw_config_free(cfg);
    parse_error("threads: 1\nredis:\n  url: \"http://x\"\n", NAME ":3: redis.url: ");
    parse_error("redis:\n  lists: [\"bad name\"]\n", NAME ":2: redis.lists: invalid list name");
    parse_error("redis:\n  lists: mining\n", NAME ":2: redis.lists: expected a list");
    parse_error("redis:\n  bogus: 1\n", NAME ":2: unknown key 'bogus'");
}

static void test_journal(void **state)
{
    (void)state;
    struct mw_config *cfg = parse_ok("geoip: {asn: /db/asn.mmdb}\n"
                                     "journal:\n  path: /var/log/j.jsonl\n  track: listed\n"
                                     "  max-names: 500\n  ignore-same-asn: true\n"
                                     "  watch: [/etc/hosts]\n");
    assert_string_equal(cfg->journal.path, "/var/log/j.jsonl");
    assert_int_equal(cfg->journal.track, MW_TRACK_LISTED);
    assert_int_equal(cfg->journal.max_names, 500);
    assert_true(cfg->journal.ignore_same_asn);
    assert_int_equal(cfg->journal.n_watch, 1);
    assert_string_equal(cfg->journal.watch[0], "/etc/hosts");
    assert_string_equal(cfg->journal.geo_asn, "/db/asn.mmdb"); /* shared with filtering */
    mw_config_free(cfg);
    cfg = parse_ok("threads: 1\n");
    assert_null(cfg->journal.path);
    assert_int_equal(cfg->journal.track, MW_TRACK_ALL);
    assert_int_equal(cfg->journal.n_watch, 2);
    assert_string_equal(cfg->journal.watch[0], "/etc/resolv.conf");
    mw_config_free(cfg);
    parse_error("journal:\n  track: some\n", NAME ":2: journal.track: expected all, listed");
    parse_error("journal:\n  watch: [etc/hosts]\n", NAME ":2: journal.watch: 'etc/hosts' is not");
    parse_error("journal:\n  max-names: 0\n", NAME ":2: ");
    parse_error("journal:\n  ignore-same-asn: yes\n", NAME ":2: journal.ignore-same-asn");
    /* Issue 11 item 10: without an ASN database the option is an error at its line. */
    parse_error("journal:\n  path: /j\n  ignore-same-asn: true\n",
                NAME ":3: journal.ignore-same-asn needs an ASN database");
    parse_error("geoip: {country: /c.mmdb}\njournal:\n  ignore-same-asn: true\n",
                NAME ":3: journal.ignore-same-asn needs an ASN database");
    mw_config_free(parse_ok("journal:\n  ignore-same-asn: true\n  geoip: {asn: /a.mmdb}\n"));
    mw_config_free(parse_ok("journal:\n  ignore-same-asn: false\n"));
}

/* journal.watch: plain paths (kind judged by content) and {path, kind} maps, mixed. */
static void test_journal_watch_kinds(void **state)
{
    (void)state;
    struct mw_config *cfg = parse_ok("journal:\n  watch:\n    - /etc/hosts\n"
                                     "    - {path: /run/r.conf, kind: resolv}\n"
                                     "    - path: /srv/h\n      kind: hosts\n"
                                     "    - {path: /srv/x, kind: other}\n");
    assert_int_equal(cfg->journal.n_watch, 4);
    assert_string_equal(cfg->journal.watch[1], "/run/r.conf");
    assert_string_equal(cfg->journal.watch[2], "/srv/h");
    assert_int_equal(cfg->journal.watch_kind[0], MW_WATCH_AUTO);
    assert_int_equal(cfg->journal.watch_kind[1], MW_WATCH_RESOLV);
    assert_int_equal(cfg->journal.watch_kind[2], MW_WATCH_HOSTS);
    assert_int_equal(cfg->journal.watch_kind[3], MW_WATCH_OTHER);
    mw_config_free(cfg);
    cfg = parse_ok("threads: 1\n"); /* the defaults carry kinds too */
    assert_non_null(cfg->journal.watch_kind);
    assert_int_equal(cfg->journal.watch_kind[0], MW_WATCH_AUTO);
    mw_config_free(cfg);
    parse_error("journal:\n  watch:\n    - {path: /a, kind: dns}\n",
                NAME ":3: journal.watch.kind: expected resolv, hosts, other or auto, found 'dns'");
    parse_error("journal:\n  watch:\n    - {kind: hosts}\n",
                NAME ":3: journal.watch: an entry has no 'path'");
    parse_error("journal:\n  watch:\n    - {path: rel/a}\n",
                NAME ":3: journal.watch: 'rel/a' is not an absolute path");
    parse_error("journal:\n  watch:\n    - {path: /a, mode: x}\n",
                NAME ":3: journal.watch: unknown key 'mode'");
    parse_error("journal:\n  watch: /etc/hosts\n", NAME ":2: journal.watch: expected a list");
}

static void test_ops(void **state)
{
    (void)state;
    struct mw_config *cfg = parse_ok("metrics: {listen: \"127.0.0.1:9200\"}\n"
                                     "rate-limit: {qps: 50, prefix-v6: 56, action: refused}\n"
                                     "user: nobody\n");
    assert_true(cfg->metrics.enabled);
    assert_int_equal(mw_addr_port(&cfg->metrics.listen), 9200);
    assert_true(cfg->ratelimit.enabled);
    assert_int_equal(cfg->ratelimit.qps, 50);
    assert_int_equal(cfg->ratelimit.burst, 100);
    assert_int_equal(cfg->ratelimit.prefix_v4, 32);
    assert_int_equal(cfg->ratelimit.prefix_v6, 56);
    assert_true(cfg->ratelimit.refuse);
    assert_string_equal(cfg->user, "nobody");
    mw_config_free(cfg);
    cfg = parse_ok("threads: 1\n");
    assert_false(cfg->metrics.enabled);
    assert_false(cfg->ratelimit.enabled);
    assert_null(cfg->user);
    mw_config_free(cfg);
    parse_error("metrics: {listen: nowhere}\n", NAME ":1: metrics.listen: invalid address");
    parse_error("rate-limit:\n  burst: 5\n", NAME ":2: rate-limit: qps is required");
    parse_error("rate-limit: {qps: 5, prefix-v4: 33}\n", NAME ":1: ");
    parse_error("rate-limit: {qps: 5, action: slow}\n", NAME ":1: rate-limit.action: expected");
    parse_error("user: \"a b\"\n", NAME ":1: user: invalid account name");
}

static void test_fetch_bounds(void **state)
{
    (void)state;
    struct mw_config *cfg = parse_ok("threads: 1\n");
    assert_int_equal(cfg->fetch.max_per_worker, 4096);
    assert_int_equal(cfg->fetch.max_waiters, 64);
    assert_int_equal(cfg->fetch.max_queries, 16384);
    assert_int_equal(cfg->fetch.max_tcp, 64);
    assert_false(cfg->fetch.overflow_drop);
    mw_config_free(cfg);
    cfg = parse_ok("fetch:\n  max-per-worker: 100\n  max-waiters: 3\n  max-queries: 200\n"
                   "  overflow: drop\n  max-tcp: 2\n");
    assert_int_equal(cfg->fetch.max_per_worker, 100);
    assert_int_equal(cfg->fetch.max_waiters, 3);
    assert_int_equal(cfg->fetch.max_queries, 200);
    assert_int_equal(cfg->fetch.max_tcp, 2);
    assert_true(cfg->fetch.overflow_drop);
    mw_config_free(cfg);
    parse_error("fetch:\n  max-per-worker: 0\n", NAME ":2: fetch.max-per-worker");
    parse_error("fetch:\n  max-waiters: 70000\n", NAME ":2: fetch.max-waiters");
    parse_error("fetch:\n  overflow: refuse\n",
                NAME ":2: fetch.overflow: expected servfail or drop, found 'refuse'");
    parse_error("fetch:\n  max-tcp: -1\n", NAME ":2: fetch.max-tcp");
    parse_error("fetch:\n  bogus: 1\n", NAME ":2: ");
}

static void test_health_check(void **state)
{
    (void)state;
    struct mw_config *cfg = parse_ok("threads: 1\n");
    assert_int_equal(cfg->health.interval_ms, 1000);
    assert_int_equal(cfg->health.down_after, 3);
    assert_int_equal(cfg->health.up_after, 2);
    mw_config_free(cfg);
    cfg = parse_ok("health-check:\n  interval: 250\n  down-after: 1\n  up-after: 100\n");
    assert_int_equal(cfg->health.interval_ms, 250);
    assert_int_equal(cfg->health.down_after, 1);
    assert_int_equal(cfg->health.up_after, 100);
    mw_config_free(cfg);
    cfg = parse_ok("health-check:\n"); /* empty: the defaults */
    assert_int_equal(cfg->health.interval_ms, 1000);
    mw_config_free(cfg);
    parse_error("health-check:\n  interval: 99\n", NAME ":2: health-check.interval");
    parse_error("health-check:\n  down-after: 0\n", NAME ":2: health-check.down-after");
    parse_error("health-check:\n  up-after: 101\n", NAME ":2: health-check.up-after");
    parse_error("health-check:\n  up-after: soon\n", NAME ":2: health-check.up-after");
    parse_error("health-check:\n  timeout: 5\n", NAME ":2: ");
    parse_error("health-check: 5\n", NAME ":1: ");
}

static void test_duplicates(void **state)
{
    (void)state;
    parse_error("threads: 1\nlog: {}\nthreads: 2\n",
                NAME ":3: duplicate key 'threads' (first on line 1)");
    parse_error("cache:\n  size: 1\n  size: 2\n",
                NAME ":3: duplicate key 'size' (first on line 2)");
}

static void test_structure(void **state)
{
    (void)state;
    parse_error("- threads\n- 1\n",
                NAME ":1: the top level must be a map of options, found a list");
    parse_error("# hello\nthreads\n", NAME ":2: the top level must be a map of options");
    parse_error("threads: 1\n---\nthreads: 2\n", NAME ":3: only one YAML document is allowed");
    parse_error("threads: \"1\\x002\"\n", NAME ":1: threads: value contains a NUL byte");
}

static void test_yaml_syntax(void **state)
{
    (void)state;
    parse_error("threads: 1\nlog:\n  level: info\n a: b: c\n", NAME ":4: YAML syntax error: ");
    parse_error("threads: 1\nx: a: b\n",
                NAME ":2: YAML syntax error: mapping values are not allowed in this context");
    parse_error("threads: 1\n\tlog: 2\n", NAME ":2: YAML syntax error: found a tab character");
    parse_error("threads: 1\nlog:\n  level: \"info\n", NAME ":4: YAML syntax error: ");
    parse_error("threads: 1\nlog: *nowhere\n", NAME ":2: YAML syntax error: found undefined alias");
    const char bad_utf8[] = "threads: 1\nx: \xff\n";
    parse_error(bad_utf8, NAME ":2: YAML error: invalid leading UTF-8 octet");
}

static void test_many_errors(void **state)
{
    (void)state;
    static const char text[] = "listen:\n"               /* 1 */
                               "  - 1.2.3.4:0\n"         /* 2 */
                               "threads: 10x\n"          /* 3 */
                               "bogus: true\n"           /* 4 */
                               "cache:\n"                /* 5 */
                               "  size: -5\n"            /* 6 */
                               "  max-ttl: 10\n"         /* 7 */
                               "  min-ttl: 20\n"         /* 8 */
                               "access:\n"               /* 9 */
                               "  allow: []\n"           /* 10 */
                               "forward-zones:\n"        /* 11 */
                               "  a.example: []\n"       /* 12 */
                               "  b.example: [x]\n"      /* 13 */
                               "log:\n"                  /* 14 */
                               "  level: shout\n"        /* 15 */
                               "  level: info\n"         /* 16 */
                               "tcp: [1]\n"              /* 17 */
                               "resolve-timeout: 200\n"; /* 18 */
    static const char *const want[] = {
        NAME ":2: listen: invalid address '1.2.3.4:0'",
        NAME ":3: threads: invalid number '10x'",
        NAME ":4: unknown key 'bogus'",
        NAME ":6: cache.size: '-5' is out of range",
        NAME ":10: access.allow: empty list",
        NAME ":12: forward-zones: zone 'a.example' has no upstreams",
        NAME ":13: forward-zones: invalid address 'x'",
        NAME ":15: log.level: unknown level 'shout'",
        NAME ":16: duplicate key 'level' (first on line 15)",
        NAME ":17: tcp: expected a map, found a list",
        NAME ":8: cache.min-ttl (20) is greater than cache.max-ttl (10)",
        NAME ":18: resolve-timeout (200 ms) is shorter than upstream-timeout (1500 ms)",
    };
    parse_errors(text, sizeof(want) / sizeof(want[0]), want);
}

/* conf/minewall.yaml enables the shipped lists; their paths are relative to the file. */
static void assert_shipped_filtering(const struct mw_config *c)
{
    static const struct {
        const char *name, *category, *file;
        enum mw_action action;
        enum mw_list_type type;
        bool allow, enabled;
    } want[] = {
        {"mining-pools", "mining", "mining-pools.txt", MW_ACTION_DEFAULT, MW_LIST_DOMAIN, false,
         true},
        {"c2", "c2", "c2.txt", MW_ACTION_DEFAULT, MW_LIST_DOMAIN, false, true},
        {"c2-ips", "c2", "c2-ips.txt", MW_ACTION_DEFAULT, MW_LIST_IP, false, true},
        {"doh-canary", "doh", "doh-canary.txt", MW_ACTION_NXDOMAIN, MW_LIST_DOMAIN, false, true},
        {"allow", "allow", "allow.txt", MW_ACTION_DEFAULT, MW_LIST_DOMAIN, true, true},
        {"patterns", "mining", "patterns.txt", MW_ACTION_DEFAULT, MW_LIST_PATTERN, false, true},
        {"doh", "doh", "doh.txt", MW_ACTION_DEFAULT, MW_LIST_DOMAIN, false, false},
    };
    assert_int_equal(c->n_lists, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < c->n_lists; i++) {
        const struct mw_list_conf *l = &c->lists[i];
        char path[4096];
        snprintf(path, sizeof(path), "%s/../conf/../blocklists/%s", MW_TEST_SRCDIR, want[i].file);
        assert_string_equal(l->name, want[i].name);
        assert_string_equal(l->category, want[i].category);
        assert_string_equal(l->path, path);
        assert_int_equal(l->action, want[i].action);
        assert_int_equal(l->type, want[i].type);
        assert_int_equal(l->format, MW_LISTFILE_FMT_AUTO);
        assert_int_equal(l->allow, want[i].allow);
        assert_int_equal(l->enabled, want[i].enabled);
    }
    assert_null(c->blocks_log);
    assert_int_equal(c->sinkhole.action, MW_ACTION_SINKHOLE);
    assert_memory_equal(c->sinkhole.ipv4, zero16, 4);
    assert_memory_equal(c->sinkhole.ipv6, zero16, 16);
    assert_int_equal(c->sinkhole.ttl, 60);
    assert_null(c->geoip.asn);
    assert_null(c->geoip.country);
}

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/mwtest-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_load(void **state)
{
    (void)state;
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_config *c = mw_config_load(MW_TEST_SRCDIR "/../conf/minewall.yaml", &e);
    if (!c || e.n)
        fail_msg("shipped config: %s", e.n ? e.msgs[0] : "(no message)");
    assert_defaults(c);
    assert_string_equal(c->path, MW_TEST_SRCDIR "/../conf/minewall.yaml");
    assert_shipped_filtering(c);
    mw_config_free(c);

    assert_null(mw_config_load("/nonexistent/minewall.yaml", &e));
    assert_int_equal(e.n, 1);
    assert_string_equal(e.msgs[0],
                        "/nonexistent/minewall.yaml: cannot read: No such file or directory");
    assert_null(mw_config_load("/tmp", &e));
    assert_int_equal(e.n, 2);
    assert_string_equal(e.msgs[1], "/tmp: cannot read: Is a directory");
    mw_errlist_deinit(&e);

    char *path = write_temp("threads: 3\n\nwhat: 1\n");
    mw_errlist_init(&e);
    assert_null(mw_config_load(path, &e));
    assert_int_equal(e.n, 1);
    char want[128];
    snprintf(want, sizeof(want), "%s:3: unknown key 'what'", path);
    assert_string_equal(e.msgs[0], want);
    mw_errlist_deinit(&e);
    unlink(path);
    free(path);

    path = write_temp("threads: 3\n");
    c = mw_config_load(path, NULL);
    assert_non_null(c);
    assert_int_equal(c->threads, 3);
    assert_string_equal(c->path, path);
    mw_config_free(c);
    unlink(path);
    free(path);
}

/* Relative paths in a file are read against the file's directory, however the file itself was
 * named: absolute, relative to the current directory, or from "/". */
static void expect_paths(const char *cfg_path, const char *dir)
{
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_config *c = mw_config_load(cfg_path, &e);
    if (!c || e.n)
        fail_msg("%s: %s", cfg_path, e.n ? e.msgs[0] : "(no message)");
    mw_errlist_deinit(&e);
    char want[4096];
    assert_int_equal(c->n_lists, 4);
    snprintf(want, sizeof(want), "%s/lists/a.txt", dir);
    assert_string_equal(c->lists[0].path, want);
    snprintf(want, sizeof(want), "%s/b.txt", dir);
    assert_string_equal(c->lists[1].path, want);
    snprintf(want, sizeof(want), "%s/../shared/c.txt", dir);
    assert_string_equal(c->lists[2].path, want);
    assert_string_equal(c->lists[3].path, "/srv/d.txt");
    snprintf(want, sizeof(want), "%s/blocks.log", dir);
    assert_string_equal(c->blocks_log, want);
    snprintf(want, sizeof(want), "%s/geo/asn.mmdb", dir);
    assert_string_equal(c->geoip.asn, want);
    assert_string_equal(c->geoip.country, "/usr/share/GeoIP/country.mmdb");
    assert_string_equal(c->path, cfg_path);
    mw_config_free(c);
}

static void test_relative_paths(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/mwtest-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char cfg_path[256];
    snprintf(cfg_path, sizeof(cfg_path), "%s/minewall.yaml", dir);
    FILE *f = fopen(cfg_path, "w");
    assert_non_null(f);
    fputs("log:\n"
          "  blocks: blocks.log\n"
          "lists:\n"
          "  - {name: a, category: mining, path: lists/a.txt}\n"
          "  - {name: b, category: c2, path: ./b.txt}\n"
          "  - {name: c, category: c2, path: ../shared/c.txt}\n"
          "  - {name: d, category: c2, path: /srv/d.txt}\n"
          "geoip:\n"
          "  asn: geo/asn.mmdb\n"
          "  country: /usr/share/GeoIP/country.mmdb\n",
          f);
    assert_int_equal(fclose(f), 0);

    /* /tmp/mwtest-X/minewall.yaml: lists/a.txt is /tmp/mwtest-X/lists/a.txt. */
    expect_paths(cfg_path, dir);

    char *saved = getcwd(NULL, 0);
    assert_non_null(saved);
    assert_int_equal(chdir(dir), 0);
    char *real = getcwd(NULL, 0); /* dir as the kernel spells it */
    assert_non_null(real);
    expect_paths("minewall.yaml", real);
    expect_paths("./minewall.yaml", real);
    assert_int_equal(chdir("/"), 0);
    expect_paths(cfg_path + 1, dir); /* "tmp/mwtest-X/minewall.yaml" */
    assert_int_equal(chdir(saved), 0);
    free(real);
    free(saved);

    assert_int_equal(unlink(cfg_path), 0);
    assert_int_equal(rmdir(dir), 0);
}

static const char resolv_text[] = "# generated\n"
                                  "; also a comment\n"
                                  "search example.com\n"
                                  "nameserver 192.0.2.1\n"
                                  "nameserver 2001:db8::1\n"
                                  "nameserver   127.0.0.1   # local stub\n"
                                  "nameserver\t127.0.0.53\n"
                                  "nameserver ::1\n"
                                  "nameserver fe80::1%lo\n"
                                  "nameserver bogus\n"
                                  "nameserver 192.0.2.9:5353\n"
                                  "nameserver\n"
                                  "nameservers 192.0.2.77\n"
                                  "#nameserver 192.0.2.88\n"
                                  "options edns0 trust-ad\n"
                                  "  nameserver 198.51.100.1";

static void expect_resolv(const char *path, const char *skip_text, const char *const *want,
                          size_t n_want)
{
    struct mw_addr skip;
    size_t n_skip = 0;
    if (skip_text) {
        assert_int_equal(mw_addr_parse(skip_text, 53, &skip), 0);
        n_skip = 1;
    }
    struct mw_addr *out = (void *)1;
    int n = mw_config_read_resolv(path, &skip, n_skip, &out);
    assert_int_equal(n, (int)n_want);
    for (size_t i = 0; i < n_want; i++) {
        char buf[128];
        assert_int_equal(mw_addr_format_ip(&out[i], buf, sizeof(buf)), 0);
        if (strncmp(buf, want[i], strlen(want[i])) != 0)
            fail_msg("skip %s: entry %zu is %s, want %s", skip_text, i, buf, want[i]);
        assert_int_equal(mw_addr_port(&out[i]), 53);
    }
    if (n_want == 0)
        assert_null(out);
    free(out);
}

static void test_resolv(void **state)
{
    (void)state;
    char *path = write_temp(resolv_text);
    static const char *const all[] = {"192.0.2.1", "2001:db8::1", "127.0.0.1",   "127.0.0.53",
                                      "::1",       "fe80::1%",    "198.51.100.1"};
    static const char *const no_own[] = {"192.0.2.1", "2001:db8::1", "127.0.0.53",
                                         "::1",       "fe80::1%",    "198.51.100.1"};
    static const char *const no_loop[] = {"192.0.2.1", "2001:db8::1", "fe80::1%", "198.51.100.1"};
    expect_resolv(path, NULL, all, 7);
    expect_resolv(path, "127.0.0.1:53", no_own, 6);
    expect_resolv(path, "127.0.0.1:5353", all, 7); /* another port is not us */
    expect_resolv(path, "0.0.0.0:53", no_loop, 4);
    expect_resolv(path, "[::]:53", no_loop, 4);
    expect_resolv(path, "0.0.0.0:5353", all, 7);
    static const char *const no_v4[] = {"2001:db8::1", "127.0.0.1", "127.0.0.53",
                                        "::1",         "fe80::1%",  "198.51.100.1"};
    expect_resolv(path, "192.0.2.1", no_v4, 6);
    unlink(path);
    free(path);

    path = write_temp("# nothing here\nsearch lan\n");
    expect_resolv(path, NULL, NULL, 0);
    unlink(path);
    free(path);

    struct mw_addr *out = NULL;
    assert_int_equal(mw_config_read_resolv("/nonexistent/resolv.conf", NULL, 0, &out), -ENOENT);
    assert_null(out);
}

static void test_overrides(void **state)
{
    (void)state;
    struct mw_config *c = mw_config_new_default();
    struct mw_addr a[3];
    assert_int_equal(mw_addr_parse("192.0.2.1", 53, &a[0]), 0);
    assert_int_equal(mw_addr_parse("[::1]:5353", 53, &a[1]), 0);
    assert_int_equal(mw_addr_parse("10.0.0.1:5300", 53, &a[2]), 0);

    assert_int_equal(mw_config_set_listen(c, a, 1), 0);
    assert_int_equal(c->n_listen, 1);
    assert_true(c->listen != a);
    assert_addr(&c->listen[0], "192.0.2.1:53");

    c->upstreams_from_resolv = true;
    assert_int_equal(mw_config_set_upstreams(c, a, 3), 0);
    assert_int_equal(c->n_upstreams, 3);
    assert_false(c->upstreams_from_resolv);
    a[2].u.in4.sin_port = 0; /* the config holds a copy */
    assert_addr(&c->upstreams[2], "10.0.0.1:5300");

    assert_int_equal(mw_config_set_upstreams(c, NULL, 0), 0);
    assert_int_equal(c->n_upstreams, 0);
    assert_null(c->upstreams);
    assert_int_equal(mw_config_set_listen(c, NULL, 2), -EINVAL);
    assert_int_equal(c->n_listen, 1);
    mw_config_free(c);
}

static void test_errlist(void **state)
{
    (void)state;
    struct mw_errlist e;
    mw_errlist_init(&e);
    for (int i = 0; i < 100; i++)
        mw_errlist_add(&e, "message %d", i);
    assert_int_equal(e.n, 100);
    assert_string_equal(e.msgs[0], "message 0");
    assert_string_equal(e.msgs[99], "message 99");
    mw_errlist_deinit(&e);
    assert_int_equal(e.n, 0);
    assert_null(e.msgs);
    mw_errlist_deinit(&e);
}

/* Run fn with stderr sent to a file; returns what it wrote (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
    char *path = write_temp("");
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(f), 2) >= 0);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *buf = calloc(1, 8192);
    assert_non_null(buf);
    rewind(f);
    size_t n = fread(buf, 1, 8191, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    free(path);
    return buf;
}

static void log_some(void)
{
    mw_log_set_level(MW_LOG_WARN);
    mw_log_info("test", "hidden %d", 1);
    mw_log_warn("test", "shown %d", 2);
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    mw_log_error("upstr", "%s!", big);
    bool failed = mw_assert(1 + 1 == 3);
    assert_true(failed);
    assert_false(mw_assert(1 + 1 == 2));
    mw_log_set_level(MW_LOG_INFO);
}

static void test_log_output(void **state)
{
    (void)state;
    char *out = capture_stderr(log_some);
    /* "2026-11-23T12:00:00Z WARN [test] shown 2" */
    char *line = out;
    assert_int_equal(strlen(line) > 21, 1);
    assert_true(line[4] == '-' && line[7] == '-' && line[10] == 'T' && line[13] == ':' &&
                line[19] == 'Z' && line[20] == ' ');
    assert_int_equal(strncmp(line + 21, "WARN [test] shown 2\n", 20), 0);
    line = strchr(line, '\n') + 1;
    assert_int_equal(strncmp(line + 21, "ERROR [upstr] xxx", 17), 0);
    char *end = strchr(line, '\n');
    assert_non_null(end);
    assert_int_equal(end - (line + 21), strlen("ERROR [upstr] ") + 2999 + 1);
    assert_int_equal(end[-1], '!');
    line = end + 1;
    assert_non_null(strstr(line, "ERROR [assert] "));
    assert_non_null(strstr(line, ": assertion failed: 1 + 1 == 3\n"));
    assert_null(strstr(out, "hidden"));
    assert_null(strstr(out, "1 + 1 == 2"));
    free(out);
}

static void require_fails(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int three = 3;
        mw_require(three == 4);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void test_require(void **state)
{
    (void)state;
    char *out = capture_stderr(require_fails);
    assert_non_null(strstr(out, "test_config.c:"));
    assert_non_null(strstr(out, ": requirement failed: three == 4\n"));
    free(out);
}

/* detect.new-domains: off by default, on with the section (every default), every key, the
 * state directory from redis.state-dir, redis following redis.url, errors with their line. */
static void test_detect_new_domains(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("listen: [127.0.0.1]\n");
    assert_false(c->detect.new_domains.enabled);
    mw_config_free(c);
    c = parse_ok("detect: {new-domains: {state-dir: /var/lib/mw}}\n");
    assert_true(c->detect.new_domains.enabled);
    assert_int_equal(c->detect.new_domains.action, MW_ACTION_LOG);
    assert_true(c->detect.new_domains.block_for_ms == 600000);
    assert_true(c->detect.new_domains.capacity == 10000000);
    assert_true(c->detect.new_domains.fp_rate == 0.01);
    assert_false(c->detect.new_domains.redis); /* no redis.url */
    assert_int_equal(c->detect.new_domains.fleet_days, 30);
    assert_int_equal(c->detect.new_domains.max_in_flight, 64);
    assert_true(c->detect.new_domains.save_ms == 300000);
    assert_string_equal(c->detect.new_domains.state_dir, "/var/lib/mw");
    mw_config_free(c);
    c = parse_ok("redis: {url: 'redis://127.0.0.1:6379', state-dir: /var/lib/mwr}\n"
                 "detect:\n"
                 "  new-domains:\n"
                 "    action: refused\n"
                 "    block-for: 1h30m\n"
                 "    capacity: 5000\n"
                 "    fp-rate: 0.001\n"
                 "    fleet-days: 7\n"
                 "    max-in-flight: 8\n"
                 "    save-interval: 90s\n");
    assert_true(c->detect.new_domains.enabled);
    assert_int_equal(c->detect.new_domains.action, MW_ACTION_REFUSED);
    assert_true(c->detect.new_domains.block_for_ms == 5400000);
    assert_true(c->detect.new_domains.capacity == 5000);
    assert_true(c->detect.new_domains.fp_rate == 0.001);
    assert_true(c->detect.new_domains.redis);
    assert_int_equal(c->detect.new_domains.fleet_days, 7);
    assert_int_equal(c->detect.new_domains.max_in_flight, 8);
    assert_true(c->detect.new_domains.save_ms == 90000);
    assert_string_equal(c->detect.new_domains.state_dir, "/var/lib/mwr");
    mw_config_free(c);
    c = parse_ok("detect: {new-domains: {enabled: false}}\n");
    assert_false(c->detect.new_domains.enabled);
    mw_config_free(c);

    parse_error("detect:\n  new-domains:\n    action: log\n",
                NAME ":3: detect.new-domains: needs a state-dir");
    parse_error("detect:\n  new-domains:\n    state-dir: /x\n    block-for: 0s\n",
                NAME ":4: detect.new-domains.block-for: '0s' is out of range (1s to 31536000s)");
    parse_error("detect:\n  new-domains:\n    state-dir: /x\n    capacity: 999\n",
                NAME ":4: detect.new-domains.capacity");
    parse_error("detect:\n  new-domains:\n    state-dir: /x\n    fp-rate: 1%\n",
                NAME ":4: detect.new-domains.fp-rate: expected a rate from 0.0001 to 0.1, found "
                     "'1%'");
    parse_error("detect:\n  new-domains:\n    state-dir: /x\n    redis: true\n",
                NAME ":4: detect.new-domains.redis: true needs redis.url");
    parse_error("detect:\n  new-domains:\n    state-dir: /x\n    fleet-days: 0\n",
                NAME ":4: detect.new-domains.fleet-days");
}

/* detect.rebinding: defaults (metadata on, private off, nxdomain), every key, internal zones
 * matched as subtrees, and each error with its line. */
static void test_detect_tunnel(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("listen: [127.0.0.1]\n");
    assert_true(c->detect.tunnel.enabled);
    assert_int_equal(c->detect.tunnel.action, MW_ACTION_LOG);
    assert_int_equal(c->detect.tunnel.block_ms, 600000);
    assert_int_equal(c->detect.tunnel.window_ms, 60000);
    assert_int_equal(c->detect.tunnel.max_entries, 16384);
    assert_int_equal(c->detect.tunnel.max_blocks, 4096);
    assert_int_equal(c->detect.tunnel.min_distinct, 30);
    assert_int_equal(c->detect.tunnel.threshold, 60);
    mw_config_free(c);

    c = parse_ok("detect:\n"
                 "  tunnel:\n"
                 "    enabled: true\n"
                 "    action: refused\n"
                 "    block-for: 1h\n"
                 "    window: 90s\n"
                 "    max-entries: 1000\n"
                 "    max-blocks: 64\n"
                 "    min-distinct: 20\n"
                 "    threshold: 70\n");
    assert_int_equal(c->detect.tunnel.action, MW_ACTION_REFUSED);
    assert_int_equal(c->detect.tunnel.block_ms, 3600000);
    assert_int_equal(c->detect.tunnel.window_ms, 90000);
    assert_int_equal(c->detect.tunnel.max_entries, 1000);
    assert_int_equal(c->detect.tunnel.max_blocks, 64);
    assert_int_equal(c->detect.tunnel.min_distinct, 20);
    assert_int_equal(c->detect.tunnel.threshold, 70);
    mw_config_free(c);
    c = parse_ok("detect: {tunnel: {enabled: false, block-for: 10m, window: 30}}\n");
    assert_false(c->detect.tunnel.enabled);
    assert_int_equal(c->detect.tunnel.block_ms, 600000);
    assert_int_equal(c->detect.tunnel.window_ms, 30000);
    mw_config_free(c);

    parse_error("detect:\n  tunnel:\n    action: block\n",
                NAME ":3: detect.tunnel.action: unknown action 'block'");
    parse_error("detect:\n  tunnel:\n    block-for: 10 minutes\n",
                NAME ":3: detect.tunnel.block-for: expected a duration such as 90s, 10m or 1h, "
                     "found '10 minutes'");
    parse_error("detect:\n  tunnel:\n    window: 2h\n",
                NAME ":3: detect.tunnel.window: '2h' is out of range (1s to 3600s)");
    parse_error("detect:\n  tunnel:\n    block-for: 0s\n",
                NAME ":3: detect.tunnel.block-for: '0s' is out of range");
    parse_error("detect:\n  tunnel:\n    threshold: 101\n", NAME ":3: detect.tunnel.threshold");
    parse_error("detect:\n  tunnel:\n    max-entries: 8\n", NAME ":3: detect.tunnel.max-entries");
    parse_error("detect:\n  tunnel:\n    treshold: 50\n",
                NAME ":3: unknown key 'treshold' in 'detect.tunnel'");
}

static void test_detect(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("listen: [127.0.0.1]\n");
    assert_true(c->detect.rebinding.metadata);
    assert_false(c->detect.rebinding.private_ranges);
    assert_int_equal(c->detect.rebinding.action, MW_ACTION_NXDOMAIN);
    assert_int_equal(c->detect.rebinding.n_internal, 0);
    mw_config_free(c);

    c = parse_ok("detect:\n"
                 "  rebinding:\n"
                 "    metadata: false\n"
                 "    private: true\n"
                 "    action: log\n"
                 "    internal-zones: [Corp.Example.com., vpc.internal]\n");
    assert_false(c->detect.rebinding.metadata);
    assert_true(c->detect.rebinding.private_ranges);
    assert_int_equal(c->detect.rebinding.action, MW_ACTION_LOG);
    assert_int_equal(c->detect.rebinding.n_internal, 2);
    uint8_t w[256];
    int n = mw_dname_from_text("db.CORP.example.com", w, sizeof(w));
    mw_dname_lower(w, (size_t)n);
    assert_true(mw_config_is_internal(c, w, (size_t)n));
    n = mw_dname_from_text("corp.example.com", w, sizeof(w));
    assert_true(mw_config_is_internal(c, w, (size_t)n));
    n = mw_dname_from_text("xcorp.example.com", w, sizeof(w));
    assert_false(mw_config_is_internal(c, w, (size_t)n));
    n = mw_dname_from_text("example.com", w, sizeof(w));
    assert_false(mw_config_is_internal(c, w, (size_t)n));
    mw_config_free(c);

    c = parse_ok("detect: {rebinding: {action: sinkhole, internal-zones: []}}\n");
    assert_int_equal(c->detect.rebinding.action, MW_ACTION_SINKHOLE);
    mw_config_free(c);
    c = parse_ok("detect:\n");
    assert_true(c->detect.rebinding.metadata);
    mw_config_free(c);

    parse_error("detect:\n  rebinding:\n    private: yes\n",
                NAME ":3: detect.rebinding.private: expected true or false, found 'yes'");
    parse_error("detect:\n  rebinding:\n    action: block\n",
                NAME ":3: detect.rebinding.action: unknown action 'block'");
    parse_error("detect:\n  rebinding:\n    internal-zones: corp.example\n",
                NAME ":3: detect.rebinding.internal-zones: expected a list of zone names");
    parse_error("detect:\n  rebinding:\n    internal-zones:\n      - .\n",
                NAME ":4: detect.rebinding.internal-zones: invalid zone name '.'");
    parse_error("detect:\n  rebinding:\n    internal-zones: [a..b]\n",
                NAME ":3: detect.rebinding.internal-zones: invalid zone name 'a..b'");
    parse_error(
        "detect:\n  rebinding:\n    internal-zones:\n      - a.example\n      - A.example.\n",
        NAME ":5: detect.rebinding.internal-zones: duplicate zone 'A.example.' (first on "
             "line 4)");
    parse_error("detect:\n  rebinding:\n    privat: true\n",
                NAME ":3: unknown key 'privat' in 'detect.rebinding'");
    parse_error("detect:\n  tunel: {}\n", NAME ":2: unknown key 'tunel' in 'detect'");
    const char *const two[] = {NAME ":3: detect.rebinding.metadata",
                               NAME ":4: detect.rebinding.action"};
    parse_errors("detect:\n  rebinding:\n    metadata: 1\n    action: x\n", 2, two);
}

/* detect.dga: off without the section; with it, the defaults (log, high, 65536) and the model
 * loaded with the config; every key; a bad level, a cache size out of range and a model that
 * does not load, each with its line. */
static void test_detect_dga(void **state)
{
    (void)state;
    struct mw_config *c = parse_ok("listen: [127.0.0.1]\n");
    assert_false(c->detect.dga.enabled);
    assert_null(c->detect.dga.loaded);
    mw_config_free(c);

#define DGA_MODEL MW_TEST_SRCDIR "/../conf/dga.model"
    c = parse_ok("detect:\n  dga:\n    model: " DGA_MODEL "\n");
    assert_true(c->detect.dga.enabled);
    assert_non_null(c->detect.dga.loaded);
    assert_int_equal(c->detect.dga.action, MW_ACTION_LOG);
    assert_int_equal(c->detect.dga.level, MW_DGA_HIGH);
    assert_int_equal(c->detect.dga.cache_size, 65536);
    assert_string_equal(c->detect.dga.model, DGA_MODEL);
    assert_int_equal(c->detect.dga.model_line, 3);
    mw_config_free(c);

    c = parse_ok("detect:\n  dga:\n    action: nxdomain\n    level: medium\n"
                 "    cache-size: 1024\n    model: " DGA_MODEL "\n");
    assert_int_equal(c->detect.dga.action, MW_ACTION_NXDOMAIN);
    assert_int_equal(c->detect.dga.level, MW_DGA_MEDIUM);
    assert_int_equal(c->detect.dga.cache_size, 1024);
    mw_config_free(c);

    parse_error("detect:\n  dga:\n    level: extreme\n    model: " DGA_MODEL "\n", NAME
                ":3: detect.dga.level: unknown level 'extreme' (expected low, medium or high)");
    parse_error("detect:\n  dga:\n    cache-size: 3\n    model: " DGA_MODEL "\n",
                NAME ":3: detect.dga.cache-size");
    parse_error("detect:\n  dga:\n    action: log\n    model: /nonexistent/dga.model\n",
                NAME ":4: detect.dga: /nonexistent/dga.model: cannot read DGA model: No such "
                     "file or directory");
    parse_error("detect:\n  dga:\n    model: " MW_TEST_SRCDIR "/../conf/minewall.yaml\n",
                NAME ":3: detect.dga: " MW_TEST_SRCDIR "/../conf/minewall.yaml: bad DGA model: not "
                     "a minewall DGA model");
#undef DGA_MODEL
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_detect_dga),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_upstreams),
        cmocka_unit_test(test_forward_zones),
        cmocka_unit_test(test_zone_for),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_access),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_output_bounds),
        cmocka_unit_test(test_log),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_lists_errors),
        cmocka_unit_test(test_sinkhole),
        cmocka_unit_test(test_geoip),
        cmocka_unit_test(test_relative_to_cwd),
        cmocka_unit_test(test_action_names),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_redis),
        cmocka_unit_test(test_journal),
        cmocka_unit_test(test_journal_watch_kinds),
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_fetch_bounds),
        cmocka_unit_test(test_health_check),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_yaml_syntax),
        cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_resolv),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_errlist),
        cmocka_unit_test(test_log_output),
        cmocka_unit_test(test_require),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_detect_tunnel),
        cmocka_unit_test(test_detect_new_domains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
