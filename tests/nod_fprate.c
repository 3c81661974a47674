/* The false "already seen" rate of the new-domains filter (nod.h) at full size, the issue's
 * "<= 1% at 10M names": fills a filter of CAPACITY (default 10,000,000) at FP-RATE (default
 * 0.01) with as many distinct registered-domain-like names, rotating as the service does, so
 * both generations are full at the end (the worst moment), then asks PROBES (default 1,000,000)
 * names never added and counts those taken for seen. Also prints the memory of the bit arrays,
 * that every one of the last CAPACITY/2 names is still remembered (no false "new"), and the
 * time per observation.
 *
 *   build/tests/nod_fprate [CAPACITY [FP-RATE [PROBES]]]
 *
 * Not a unit test (10M names take about a minute); tests/unit/test_nod.c checks the same at
 * 200,000 names. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "minewall/nod.h"

/* "<prefix><i>.com" in wire form: the shape of a registered domain. */
static size_t name_of(uint8_t *w, char prefix, uint64_t i)
{
    char label[32];
    int n = snprintf(label, sizeof(label), "%c%llu", prefix, (unsigned long long)i);
    w[0] = (uint8_t)n;
    for (int j = 0; j < n; j++)
        w[1 + j] = (uint8_t)label[j];
    w[1 + n] = 3;
    w[2 + n] = 'c';
    w[3 + n] = 'o';
    w[4 + n] = 'm';
    w[5 + n] = 0;
    return (size_t)n + 6;
}

static double secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    uint64_t cap = argc > 1 ? strtoull(argv[1], NULL, 10) : MW_NOD_CAPACITY_DEFAULT;
    double fp = argc > 2 ? strtod(argv[2], NULL) : MW_NOD_FP_DEFAULT;
    uint64_t probes = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000;
    struct mw_nod *n;
    if (mw_nod_new(cap, fp, 0, &n) < 0) {
        fprintf(stderr, "nod_fprate: bad parameters\n");
        return 64;
    }
    uint8_t w[64];
    uint64_t fresh = 0;
    double t0 = secs();
    for (uint64_t i = 0; i < cap; i++) {
        fresh += mw_nod_observe(n, w, name_of(w, 'd', i));
        if (i + 1 < cap && i % 1000 == 999)
            mw_nod_maintain(n);
    }
    double t1 = secs();
    uint64_t fpos = 0, forgotten = 0;
    for (uint64_t i = 0; i < probes; i++)
        fpos += mw_nod_contains(n, w, name_of(w, 'x', i));
    double t2 = secs();
    for (uint64_t i = cap / 2 + 1000; i < cap; i++)
        forgotten += !mw_nod_contains(n, w, name_of(w, 'd', i));
    struct mw_nod_stats st;
    mw_nod_stats(n, &st);
    printf("capacity %llu names, fp-rate %g: %zu bytes of bits (%.2f bits a name), k=%u\n",
           (unsigned long long)cap, fp, mw_nod_bytes(n), (double)(2 * st.bits) / (double)cap, st.k);
    printf("generations: current %llu names (fill %.3f), previous %llu (fill %.3f), "
           "%llu rotations\n",
           (unsigned long long)st.names[0], st.fill[0], (unsigned long long)st.names[1], st.fill[1],
           (unsigned long long)st.rotations);
    printf("first sights reported new: %llu of %llu (%.4f%% taken for seen while filling)\n",
           (unsigned long long)fresh, (unsigned long long)cap,
           100.0 * (double)(cap - fresh) / (double)cap);
    printf("false \"already seen\" with both generations full: %llu of %llu = %.4f%%\n",
           (unsigned long long)fpos, (unsigned long long)probes,
           100.0 * (double)fpos / (double)probes);
    printf("recent names forgotten (must be 0): %llu\n", (unsigned long long)forgotten);
    printf("%.0f ns per observe, %.0f ns per lookup of an unseen name\n",
           (t1 - t0) * 1e9 / (double)cap, (t2 - t1) * 1e9 / (double)probes);
    mw_nod_free(n);
    return forgotten ? 1 : 0;
}
