/* libFuzzer entry point for the packet-facing pure core: the input is fed as a client query
 * (parse, error reply, upstream query), as an upstream response (prepare, render, cache
 * insert, lookup and render from the cache) and to the name functions. Invariants that must
 * hold for any input are checked with abort(), so a violation is reported like a crash.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude src/dname.c \
 *       src/dnsmsg.c src/cache.c tests/fuzz/fuzz_dnsmsg.c -o /tmp/fz && /tmp/fz
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/cache.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[MW_DNS_MAXMSG + 64];
static uint8_t prep[MW_DNS_MAXMSG + 64];
static uint16_t ttl_off[MW_DNS_MAX_TTLS];
static uint32_t ttl[MW_DNS_MAX_TTLS];
static struct mw_cache *cache;

static void check(int cond)
{
    if (!cond)
        abort();
}

static void as_query(const uint8_t *data, size_t size)
{
    struct mw_dns_query q;
    enum mw_dns_parse r = mw_dns_parse_query(data, size, &q);
    if (r == MW_PARSE_DROP)
        return;
    check(!q.qsec || (q.qsec == data + MW_DNS_HDR && q.qsec_len <= size - MW_DNS_HDR));
    check(q.udp_size >= MW_DNS_UDP_MIN);
    struct mw_dns_client c;
    mw_dns_client_from_query(&q, size & 1, &c);
    uint8_t rcode = r == MW_PARSE_BADVERS ? MW_RCODE_BADVERS : MW_RCODE_FORMERR;
    int n = mw_dns_build_error(&c, rcode, 17, "filtered", out, sizeof(out));
    check(n >= MW_DNS_HDR && n <= c.max_size);
    if (r == MW_PARSE_OK) {
        n = mw_dns_build_query(&q.q, 7, true, q.do_bit, out, sizeof(out));
        check(n > 0);
        struct mw_dns_query back;
        check(mw_dns_parse_query(out, (size_t)n, &back) == MW_PARSE_OK);
        check(mw_dns_question_equal(&back.q, &q.q));
    }
}

static void as_response(const uint8_t *data, size_t size)
{
    struct mw_dns_response info;
    int len = mw_dns_prepare_response(data, size, prep, sizeof(prep), &info, ttl_off, ttl);
    if (len < 0)
        return;
    check((size_t)len <= size && info.n_ttls <= MW_DNS_MAX_TTLS);
    for (unsigned i = 0; i < info.n_ttls; i++)
        check(ttl_off[i] + 4u <= (unsigned)len && ttl[i] <= 0x7fffffffu);

    struct mw_dns_stored s = {prep, (size_t)len, ttl_off, ttl, info.n_ttls};
    struct mw_dns_client c = {
        .id = 1,
        .qflags = (uint16_t)(data[2] << 8 | data[3]),
        .qsec = prep + MW_DNS_HDR,
        .qsec_len = (uint16_t)(info.q.qname_len + 4),
        .edns = data[0] & 1,
        .do_bit = data[0] & 2,
        .max_size = (data[1] & 1) ? MW_DNS_MAXMSG : (uint16_t)(512 + data[1] * 4),
    };
    int n = mw_dns_render(&s, &c, data[0], -1, out, sizeof(out));
    check(n >= MW_DNS_HDR && n <= c.max_size);
    n = mw_dns_render(&s, &c, 0, 30, out, sizeof(out));
    check(n >= MW_DNS_HDR);

    if (!cache) {
        struct mw_cache_params p = {
            .max_entries = 64, .min_ttl = 0, .max_ttl = 3600, .serve_stale = 30};
        cache = mw_cache_new(&p);
        check(cache != NULL);
    }
    struct mw_cache_key k;
    mw_cache_key_make(&info.q, data[0] & 2, &k);
    uint64_t now = (uint64_t)data[size - 1] * 1000;
    int rc = mw_cache_insert(cache, &k, prep, (size_t)len, &info, ttl_off, ttl, now);
    struct mw_dns_stored hit;
    uint32_t elapsed;
    enum mw_cache_result r = mw_cache_lookup(cache, &k, now + data[4] * 100u, true, &hit, &elapsed);
    if (rc == 0)
        check(r != MW_CACHE_MISS || data[4] * 100u >= 1000);
    if (r != MW_CACHE_MISS) {
        n = mw_dns_render(&hit, &c, elapsed, r == MW_CACHE_STALE ? 30 : -1, out, sizeof(out));
        check(n >= MW_DNS_HDR);
    }
}

static void as_names(const uint8_t *data, size_t size)
{
    uint8_t wire[MW_DNAME_MAX + 1];
    char text[MW_DNAME_MAX * 4 + 2];
    size_t off = data[0] % size;
    int n = mw_dname_unpack(data, size, &off, wire, sizeof(wire));
    if (n > 0) {
        check(off <= size);
        int t = mw_dname_to_text(wire, (size_t)n, text, sizeof(text));
        check(t > 0);
        uint8_t again[MW_DNAME_MAX + 1];
        check(mw_dname_from_text(text, again, sizeof(again)) == n);
        check(memcmp(again, wire, (size_t)n) == 0);
        check(mw_dname_labels(wire, (size_t)n) >= 0);
        check(mw_dname_is_subdomain(wire, (size_t)n, (const uint8_t *)"", 1));
    }
    char buf[300];
    size_t l = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
    memcpy(buf, data, l);
    buf[l] = '\0';
    n = mw_dname_from_text(buf, wire, sizeof(wire));
    if (n > 0)
        check(mw_dname_to_text(wire, (size_t)n, text, sizeof(text)) > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < MW_DNS_HDR)
        return 0;
    as_query(data, size);
    as_response(data, size);
    as_names(data, size);
    return 0;
}
