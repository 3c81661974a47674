/* Micro benchmark of the wire readers on the blocked and miss paths: parsing a client query,
 * preparing an upstream response, checking its answers against the lists and comparing it with
 * the last answer set for the journal. Each is called ITER times on typical packets (a CNAME to
 * two addresses with an OPT record; two plain addresses), and a cache hit (key, lookup,
 * render). Run it under callgrind to count
 * instructions per call:
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out build/tests/bench_wire
 *   callgrind_annotate --inclusive=yes cg.out | grep mw_
 * and divide by the ITER printed. Without valgrind it prints ns per call. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "minewall/answerdiff.h"
#include "minewall/cache.h"
#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/error.h"
#include "minewall/filter.h"
#include "minewall/lists.h"

#define ITER 200000

struct pkt {
    uint8_t b[1024];
    size_t n;
};

static void put16(struct pkt *p, uint16_t v)
{
    mw_dns_put16(p->b + p->n, v);
    p->n += 2;
}

static void put32(struct pkt *p, uint32_t v)
{
    mw_dns_put32(p->b + p->n, v);
    p->n += 4;
}

static void put_name(struct pkt *p, const char *text)
{
    int n = mw_dname_from_text(text, p->b + p->n, sizeof(p->b) - p->n);
    if (n < 0)
        abort();
    p->n += (size_t)n;
}

static void head(struct pkt *p, uint16_t flags, uint16_t an, uint16_t ar, const char *qname)
{
    p->n = 0;
    put16(p, 0x1234);
    put16(p, flags);
    put16(p, 1);
    put16(p, an);
    put16(p, 0);
    put16(p, ar);
    put_name(p, qname);
    put16(p, MW_TYPE_A);
    put16(p, 1);
}

static void rr_a(struct pkt *p, uint16_t owner_ptr, const uint8_t a[4])
{
    put16(p, owner_ptr);
    put16(p, MW_TYPE_A);
    put16(p, 1);
    put32(p, 300);
    put16(p, 4);
    memcpy(p->b + p->n, a, 4);
    p->n += 4;
}

static void opt(struct pkt *p)
{
    p->b[p->n++] = 0;
    put16(p, MW_TYPE_OPT);
    put16(p, 1232);
    put32(p, 0);
    put16(p, 0);
}

/* www.example.com CNAME cdn.example.net, two A records for it, OPT. */
static void cname_resp(struct pkt *p)
{
    head(p, 0x8180, 3, 1, "www.example.com");
    put16(p, 0xc00c);
    put16(p, MW_TYPE_CNAME);
    put16(p, 1);
    put32(p, 60);
    size_t rdl = p->n;
    put16(p, 0);
    uint16_t target = (uint16_t)p->n;
    put_name(p, "cdn.example.net");
    mw_dns_put16(p->b + rdl, (uint16_t)(p->n - rdl - 2));
    rr_a(p, (uint16_t)(0xc000 | target), (const uint8_t[]){192, 0, 2, 1});
    rr_a(p, (uint16_t)(0xc000 | target), (const uint8_t[]){192, 0, 2, 2});
    opt(p);
}

/* plain.example.org: two A records, OPT. */
static void plain_resp(struct pkt *p)
{
    head(p, 0x8180, 2, 1, "plain.example.org");
    rr_a(p, 0xc00c, (const uint8_t[]){198, 18, 0, 1});
    rr_a(p, 0xc00c, (const uint8_t[]){198, 18, 0, 2});
    opt(p);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static struct mw_lists *make_lists(void)
{
    char dir[] = "/tmp/mwbenchXXXXXX";
    if (!mkdtemp(dir))
        return NULL;
    char dom[256], ips[256], yaml[1024];
    snprintf(dom, sizeof(dom), "%s/dom.txt", dir);
    snprintf(ips, sizeof(ips), "%s/ips.txt", dir);
    FILE *f = fopen(dom, "w");
    for (int i = 0; i < 1000; i++)
        fprintf(f, "pool%d.mining.example\n", i);
    fclose(f);
    f = fopen(ips, "w");
    fprintf(f, "203.0.113.0/24\n");
    fclose(f);
    snprintf(yaml, sizeof(yaml),
             "upstreams: [127.0.0.1]\nlists:\n  - {name: d, category: c, path: %s}\n"
             "  - {name: i, category: c, path: %s, type: ip}\n",
             dom, ips);
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_config *cfg = mw_config_parse(yaml, strlen(yaml), "<bench>", &e);
    struct mw_lists *l = cfg ? mw_lists_build(cfg, 1, &e, NULL) : NULL;
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "%s\n", e.msgs[i]);
    mw_errlist_deinit(&e);
    unlink(dom);
    unlink(ips);
    rmdir(dir);
    mw_config_free(cfg);
    return l;
}

int main(void)
{
    struct pkt q, r1, r2;
    head(&q, 0x0100, 0, 1, "www.example.com");
    opt(&q);
    cname_resp(&r1);
    plain_resp(&r2);
    struct mw_lists *lists = make_lists();
    struct mw_answerdiff *ad = mw_answerdiff_new(1000);
    if (!lists || !ad)
        return 1;
    static uint8_t out[MW_DNS_MAXMSG];
    static uint16_t ttl_off[MW_DNS_MAX_TTLS];
    static uint32_t ttl[MW_DNS_MAX_TTLS];
    struct mw_dns_response info;
    struct mw_dns_query dq;
    struct mw_verdict v;
    struct mw_answer_change ch;
    uint64_t sink = 0;
    double t[7];

    t[0] = now_ns();
    for (int i = 0; i < ITER; i++)
        sink += mw_dns_parse_query(q.b, q.n, &dq);
    t[1] = now_ns();
    for (int i = 0; i < ITER; i++) {
        sink +=
            (uint64_t)mw_dns_prepare_response(r1.b, r1.n, out, sizeof(out), &info, ttl_off, ttl);
        sink +=
            (uint64_t)mw_dns_prepare_response(r2.b, r2.n, out, sizeof(out), &info, ttl_off, ttl);
    }
    t[2] = now_ns();
    for (int i = 0; i < ITER; i++) {
        sink += mw_filter_answer(lists, NULL, r1.b, r1.n, &v);
        sink += mw_filter_answer(lists, NULL, r2.b, r2.n, &v);
    }
    t[3] = now_ns();
    for (int i = 0; i < ITER; i++) {
        sink += (uint64_t)mw_answerdiff_observe(ad, r1.b + 12, 17, MW_TYPE_A, r1.b, r1.n, 1, &ch);
        sink += (uint64_t)mw_answerdiff_observe(ad, r2.b + 12, 19, MW_TYPE_A, r2.b, r2.n, 1, &ch);
    }
    t[4] = now_ns();
    /* The hit path: key, lookup, render. */
    struct mw_cache_params cp = {.max_entries = 1000, .min_ttl = 0, .max_ttl = 86400};
    struct mw_cache *cache = mw_cache_new(&cp);
    int plen = mw_dns_prepare_response(r2.b, r2.n, out, sizeof(out), &info, ttl_off, ttl);
    struct mw_dns_query cq;
    struct mw_dns_client cl;
    struct mw_cache_key key;
    head(&q, 0x0100, 0, 1, "plain.example.org");
    opt(&q);
    mw_dns_parse_query(q.b, q.n, &cq);
    mw_dns_client_from_query(&cq, false, &cl);
    mw_cache_key_make(&cq.q, false, &key);
    if (!cache || plen < 0 ||
        mw_cache_insert(cache, &key, out, (size_t)plen, &info, ttl_off, ttl, 0))
        return 1;
    static uint8_t reply[MW_DNS_MAXMSG + 64];
    t[5] = now_ns();
    for (int i = 0; i < ITER; i++) {
        struct mw_dns_stored st;
        uint32_t el;
        mw_cache_key_make(&cq.q, false, &key);
        if (mw_cache_lookup(cache, &key, 1000, false, &st, &el) == MW_CACHE_HIT)
            sink += (uint64_t)mw_dns_render(&st, &cl, el, -1, reply, sizeof(reply));
    }
    t[6] = now_ns();
    mw_cache_free(cache);
    printf("iterations %d (x2 packets for the last three)\n", ITER);
    printf("parse_query      %.1f ns\n", (t[1] - t[0]) / ITER);
    printf("prepare_response %.1f ns\n", (t[2] - t[1]) / ITER / 2);
    printf("filter_answer    %.1f ns\n", (t[3] - t[2]) / ITER / 2);
    printf("answerdiff       %.1f ns\n", (t[4] - t[3]) / ITER / 2);
    printf("cache hit        %.1f ns\n", (t[6] - t[5]) / ITER);
    printf("(%llu)\n", (unsigned long long)sink);
    mw_answerdiff_free(ad);
    mw_lists_unref(lists);
    return 0;
}
