/* matchbench: build and lookup costs of the matcher sets (domainset, patternset, ipset) on
 * generated data, deterministic for a given seed.
 *
 *   matchbench [-n names] [-q lookups] [-p patterns] [-c cidrs] [-s seed]
 *
 * Domains: names shaped like block lists (60% "label.tld", 30% one more label, 10% two more;
 * 75 TLDs, "com" most frequent). Reports add and build time, heap bytes per listed domain (the
 * set's own count and the VmRSS growth), the peak of the build over the RSS before it, and ns per
 * lookup over a mix of 50% listed names, 25% names below listed ones and 25% misses, all looked up
 * in random order so the set is as cold as it is in a resolver. Patterns: realistic mining-pool
 * globs, timed on benign names. CIDRs: mostly IPv4 /24 and /32 with some IPv6, timed on addresses
 * half inside the rules.
 *
 * The machine's random memory latency (a pointer chase over 64 MiB) is printed first: lookups
 * of a cold million-entry set are bound by it, so compare ns per lookup with it. */
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "minewall/dname.h"
#include "minewall/domainset.h"
#include "minewall/ipset.h"
#include "minewall/patternset.h"

static uint64_t rng_state;

static uint64_t rnd64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t rnd(uint32_t n)
{
    return (uint32_t)(rnd64() % n);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A field of /proc/self/status in kB: "VmRSS:" or "VmHWM:" (the peak RSS). */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t fl = strlen(field);
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0 && sscanf(line + fl, "%ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static long rss_kb(void)
{
    return status_kb("VmRSS:");
}

/* Start the peak (VmHWM) over from the current RSS (Linux clear_refs 5); false if not. */
static bool reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* Lookups are timed in chunks, over several rounds; the median and the minimum chunk are
 * reported, so that time lost to other processes on a shared machine shows as a gap between
 * the two instead of silently inflating one number. */
typedef size_t (*run_fn)(const void *ctx, size_t from, size_t to);

#define CHUNKS 10
#define ROUNDS 3

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void time_lookups(const char *what, run_fn fn, const void *ctx, size_t n)
{
    double t[CHUNKS * ROUNDS];
    size_t hits = 0, chunk = n / CHUNKS ? n / CHUNKS : 1, k = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t from = 0; from + chunk <= n && k < CHUNKS * ROUNDS; from += chunk) {
            double t0 = now();
            size_t h = fn(ctx, from, from + chunk);
            t[k++] = (now() - t0) * 1e9 / (double)chunk;
            if (r == 0)
                hits += h;
        }
    }
    qsort(t, k, sizeof(*t), cmp_double);
    printf("  %s: %.0f ns/lookup median, %.0f min (%zu x %zu lookups; %.1f%% hits)\n", what,
           t[k / 2], t[0], k, chunk, 100.0 * (double)hits / (double)(chunk * (k / ROUNDS)));
}

/* Average latency of dependent random loads over 64 MiB. */
static double memory_latency_ns(void)
{
    size_t n = (64u << 20) / sizeof(size_t);
    size_t *a = malloc(n * sizeof(*a));
    if (!a)
        return -1;
    for (size_t i = 0; i < n; i++)
        a[i] = i;
    for (size_t i = n - 1; i > 0; i--) { /* Sattolo: one cycle through every element */
        size_t j = rnd((uint32_t)i);
        size_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
    size_t p = 0, steps = 5000000;
    double t0 = now();
    for (size_t i = 0; i < steps; i++)
        p = a[p];
    double t1 = now();
    free(a);
    return p == SIZE_MAX ? 0 : (t1 - t0) * 1e9 / (double)steps;
}

static const char *tlds[75] = {
    "com",   "net",  "org",   "io",  "de",  "ru",  "xyz", "info", "co",   "uk",     "cn",
    "br",    "fr",   "it",    "nl",  "pl",  "au",  "in",  "jp",   "es",   "ca",     "eu",
    "ch",    "se",   "be",    "at",  "dk",  "cz",  "no",  "fi",   "pt",   "gr",     "hu",
    "ro",    "sk",   "tk",    "ml",  "ga",  "cf",  "gq",  "top",  "site", "online", "club",
    "shop",  "app",  "dev",   "me",  "tv",  "cc",  "biz", "us",   "mobi", "pro",    "live",
    "store", "tech", "space", "fun", "icu", "vip", "win", "work", "xxx",  "link",   "click",
    "ws",    "la",   "to",    "su",  "kr",  "tw",  "vn",  "id",   "ir"};

static const char *tld(void)
{
    return rnd(10) < 4 ? "com" : tlds[rnd(75)];
}

static void label(char *p, int n)
{
    static const char a[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (int i = 0; i < n; i++)
        p[i] = a[rnd(i ? 36 : 26)];
    p[n] = '\0';
}

static void gen_domain(char *out, size_t cap)
{
    char l0[16], l1[16], l2[16];
    int shape = (int)rnd(10);
    label(l0, 4 + (int)rnd(11));
    if (shape < 6) {
        snprintf(out, cap, "%s.%s", l0, tld());
    } else if (shape < 9) {
        label(l1, 2 + (int)rnd(9));
        snprintf(out, cap, "%s.%s.%s", l1, l0, tld());
    } else {
        label(l1, 2 + (int)rnd(9));
        label(l2, 2 + (int)rnd(9));
        snprintf(out, cap, "%s.%s.%s.%s", l2, l1, l0, tld());
    }
}

#define SLOT 256 /* one wire name per slot in the flat arrays */

struct dctx {
    const struct mw_domainset *s;
    const uint8_t *q;
    const uint8_t *ql;
};

static size_t run_domains(const void *arg, size_t from, size_t to)
{
    const struct dctx *c = arg;
    struct mw_domain_match m;
    size_t hits = 0;
    for (size_t i = from; i < to; i++)
        hits += mw_domainset_match(c->s, c->q + i * SLOT, c->ql[i], &m);
    return hits;
}

/* The same query names, but only 1000 of them: the CPU cost without memory misses. */
static size_t run_domains_hot(const void *arg, size_t from, size_t to)
{
    const struct dctx *c = arg;
    struct mw_domain_match m;
    size_t hits = 0;
    for (size_t i = from; i < to; i++) {
        size_t j = (i * 7919) % 1000;
        hits += mw_domainset_match(c->s, c->q + j * SLOT, c->ql[j], &m);
    }
    return hits;
}

static void bench_domains(size_t n, size_t nq)
{
    uint8_t *w = malloc(n * SLOT);
    uint8_t *wl = malloc(n);
    if (!w || !wl)
        exit(1);
    size_t raw = 0;
    for (size_t i = 0; i < n; i++) {
        char txt[80];
        gen_domain(txt, sizeof(txt));
        raw += strlen(txt) + 1;
        wl[i] = (uint8_t)mw_dname_from_text(txt, w + i * SLOT, SLOT);
    }

    malloc_trim(0);
    long rss0 = rss_kb();
    bool peaked = reset_peak();
    double t0 = now();
    struct mw_domainset_builder *b = mw_domainset_builder_new(n);
    for (size_t i = 0; i < n; i++) {
        struct mw_rule r = {.line = (uint32_t)i + 1, .list = (uint16_t)(i % 3)};
        if (mw_domainset_builder_add(b, w + i * SLOT, wl[i], MW_DOMAIN_SUBTREE, &r))
            exit(1);
    }
    double t1 = now();
    struct mw_domainset *s;
    if (mw_domainset_build(b, &s))
        exit(1);
    double t2 = now();
    long hwm = status_kb("VmHWM:");
    malloc_trim(0);
    long rss1 = rss_kb();
    size_t count = mw_domainset_count(s), bytes = mw_domainset_bytes(s);
    printf("domainset: %zu names (%zu distinct), raw list %.1f B/domain\n", n, count,
           (double)raw / (double)n);
    printf("  build: %.0f ms (add %.0f ms + build %.0f ms)\n", (t2 - t0) * 1e3, (t1 - t0) * 1e3,
           (t2 - t1) * 1e3);
    printf("  memory: %zu bytes = %.2f B/domain; VmRSS delta %.2f B/domain\n", bytes,
           (double)bytes / (double)count, (double)(rss1 - rss0) * 1024.0 / (double)count);
    if (peaked) /* what a reload adds to the running lists at its peak, per domain */
        printf("  build peak: VmRSS + %.2f B/domain (%.2fx the set)\n",
               (double)(hwm - rss0) * 1024.0 / (double)count,
               (double)(hwm - rss0) / (double)(rss1 - rss0));

    /* The query mix: 50% listed, 25% below listed, 25% misses; 3 to 5 labels. */
    uint8_t *q = malloc(nq * SLOT);
    uint8_t *ql = malloc(nq);
    if (!q || !ql)
        exit(1);
    for (size_t i = 0; i < nq; i++) {
        uint32_t k = rnd(4);
        size_t j = rnd((uint32_t)n);
        uint8_t *d = q + i * SLOT;
        if (k < 2) {
            memcpy(d, w + j * SLOT, wl[j]);
            ql[i] = wl[j];
        } else if (k == 2) {
            static const char *sub[] = {"\3www", "\3cdn", "\3api", "\1m", "\6static"};
            const char *p = sub[rnd(5)];
            size_t pl = (size_t)p[0] + 1;
            memcpy(d, p, pl);
            memcpy(d + pl, w + j * SLOT, wl[j]);
            ql[i] = (uint8_t)(wl[j] + pl);
        } else {
            char txt[80], l0[16], l1[16];
            label(l0, 4 + (int)rnd(11));
            label(l1, 2 + (int)rnd(6));
            snprintf(txt, sizeof(txt), "%s.%s.%s", l1, l0, tld());
            ql[i] = (uint8_t)mw_dname_from_text(txt, d, SLOT);
        }
    }
    struct dctx ctx = {s, q, ql};
    time_lookups("lookup", run_domains, &ctx, nq);
    time_lookups("lookup, cached set (1000 names)", run_domains_hot, &ctx, nq);
    mw_domainset_free(s);
    free(q);
    free(ql);
    free(w);
    free(wl);
}

static const char *words[] = {"xmr",     "pool",   "mine", "coin", "hive",   "nice", "hash",
                              "miner",   "crypto", "eth",  "btc",  "monero", "nano", "supp",
                              "stratum", "rig",    "zec",  "ltc",  "dash",   "grin"};

static void gen_pattern(char *out, size_t cap)
{
    const char *a = words[rnd(20)], *b = words[rnd(20)];
    unsigned n = rnd(100);
    switch (rnd(6)) {
    case 0:
        snprintf(out, cap, "*.%s-%s-*.*", a, b);
        break;
    case 1:
        snprintf(out, cap, "%s%u-*.*", a, n);
        break;
    case 2:
        snprintf(out, cap, "%s?.%s%u.*", b, a, n);
        break;
    case 3:
        snprintf(out, cap, "*-%s%u-[0-9]*.com", a, n);
        break;
    case 4:
        snprintf(out, cap, "*%s%s%u*", a, b, n);
        break;
    default:
        snprintf(out, cap, "%s[a-z]%u.*.%s", a, n, tld());
        break;
    }
}

struct pctx {
    const struct mw_patternset *s;
    char (*names)[80];
    size_t mask;
};

static size_t run_patterns(const void *arg, size_t from, size_t to)
{
    const struct pctx *c = arg;
    struct mw_pattern_match m;
    size_t hits = 0;
    for (size_t i = from; i < to; i++) {
        const char *nm = c->names[i & c->mask];
        hits += mw_patternset_match(c->s, nm, strlen(nm), &m);
    }
    return hits;
}

static void bench_patterns(size_t np, size_t nq)
{
    double t0 = now();
    struct mw_patternset_builder *b = mw_patternset_builder_new(np);
    for (size_t i = 0; i < np; i++) {
        char g[80];
        gen_pattern(g, sizeof(g));
        struct mw_rule r = {.line = (uint32_t)i + 1};
        if (mw_patternset_builder_add(b, g, &r))
            exit(1);
    }
    struct mw_patternset *s;
    if (mw_patternset_build(b, &s))
        exit(1);
    double t1 = now();
    printf("patternset: %zu patterns, build %.1f ms, %zu bytes\n", np, (t1 - t0) * 1e3,
           mw_patternset_bytes(s));

    size_t nn = 4096;
    char(*names)[80] = malloc(nn * sizeof(*names));
    if (!names)
        exit(1);
    for (size_t i = 0; i < nn; i++) {
        char l0[16], l1[16];
        label(l0, 4 + (int)rnd(11));
        label(l1, 2 + (int)rnd(6));
        if (rnd(2))
            snprintf(names[i], 80, "%s.%s", l0, tld());
        else
            snprintf(names[i], 80, "%s.%s.%s", l1, l0, tld());
    }
    struct pctx ctx = {s, names, nn - 1};
    time_lookups("lookup of benign names", run_patterns, &ctx, nq);
    mw_patternset_free(s);
    free(names);
}

static void gen_cidr(struct mw_cidr *c)
{
    memset(c, 0, sizeof(*c));
    if (rnd(5)) {
        static const uint8_t lens[] = {8, 12, 16, 20, 22, 24, 24, 24, 24, 24, 28, 32, 32, 32};
        c->family = AF_INET;
        c->prefix = lens[rnd(sizeof(lens))];
        uint32_t a = (uint32_t)rnd64() & (c->prefix ? ~0u << (32 - c->prefix) : 0);
        for (int i = 0; i < 4; i++)
            c->addr[i] = (uint8_t)(a >> (24 - 8 * i));
    } else {
        static const uint8_t lens[] = {32, 40, 48, 48, 56, 64, 64, 128};
        c->family = AF_INET6;
        c->prefix = lens[rnd(sizeof(lens))];
        uint64_t hi = 0x2000000000000000ull | (rnd64() >> 3), lo = rnd64();
        for (int i = 0; i < 8; i++) {
            c->addr[i] = (uint8_t)(hi >> (56 - 8 * i));
            c->addr[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
        }
        for (int i = c->prefix; i < 128; i++)
            c->addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
    }
}

struct qaddr {
    int fam;
    uint8_t a[16];
};

struct ictx {
    const struct mw_ipset *s;
    const struct qaddr *q;
    size_t mask;
};

static size_t run_cidrs(const void *arg, size_t from, size_t to)
{
    const struct ictx *c = arg;
    struct mw_ip_match m;
    size_t hits = 0;
    for (size_t i = from; i < to; i++)
        hits += mw_ipset_match(c->s, c->q[i & c->mask].fam, c->q[i & c->mask].a, &m);
    return hits;
}

static void bench_cidrs(size_t nc, size_t nq)
{
    struct mw_cidr *c = malloc(nc * sizeof(*c));
    if (!c)
        exit(1);
    for (size_t i = 0; i < nc; i++)
        gen_cidr(&c[i]);
    double t0 = now();
    struct mw_ipset_builder *b = mw_ipset_builder_new(nc);
    for (size_t i = 0; i < nc; i++) {
        struct mw_rule r = {.line = (uint32_t)i + 1};
        if (mw_ipset_builder_add(b, &c[i], &r))
            exit(1);
    }
    struct mw_ipset *s;
    if (mw_ipset_build(b, &s))
        exit(1);
    double t1 = now();
    printf("ipset: %zu prefixes (%zu distinct), build %.1f ms, %zu bytes\n", nc, mw_ipset_count(s),
           (t1 - t0) * 1e3, mw_ipset_bytes(s));

    size_t na = 1u << 20;
    struct qaddr *q = malloc(na * sizeof(*q));
    if (!q)
        exit(1);
    for (size_t i = 0; i < na; i++) {
        struct mw_cidr x;
        if (rnd(2)) {
            x = c[rnd((uint32_t)nc)];
            int bits = x.family == AF_INET ? 32 : 128;
            for (int k = x.prefix; k < bits; k++)
                if (rnd(2))
                    x.addr[k / 8] |= (uint8_t)(0x80 >> (k % 8));
        } else {
            gen_cidr(&x);
            for (int k = 0; k < 16; k++)
                x.addr[k] ^= (uint8_t)rnd64();
        }
        q[i].fam = x.family;
        memcpy(q[i].a, x.addr, 16);
    }
    struct ictx ctx = {s, q, na - 1};
    time_lookups("lookup", run_cidrs, &ctx, nq);
    mw_ipset_free(s);
    free(q);
    free(c);
}

int main(int argc, char **argv)
{
    size_t n = 1000000, nq = 1000000, np = 10000, nc = 100000;
    unsigned long seed = 1;
    int opt;
    while ((opt = getopt(argc, argv, "n:q:p:c:s:")) != -1) {
        switch (opt) {
        case 'n':
            n = strtoul(optarg, NULL, 10);
            break;
        case 'q':
            nq = strtoul(optarg, NULL, 10);
            break;
        case 'p':
            np = strtoul(optarg, NULL, 10);
            break;
        case 'c':
            nc = strtoul(optarg, NULL, 10);
            break;
        case 's':
            seed = strtoul(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-n names] [-q lookups] [-p patterns] [-c cidrs] "
                    "[-s seed]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!n || !nc || n > 100000000) {
        fprintf(stderr, "%s: -n must be 1..100000000 and -c at least 1\n", argv[0]);
        return 2;
    }
    rng_state = seed;
    printf("random memory latency (64 MiB pointer chase): %.0f ns\n", memory_latency_ns());
    rng_state = seed;
    bench_domains(n, nq);
    bench_patterns(np, nq);
    bench_cidrs(nc, nq);
    return 0;
}
