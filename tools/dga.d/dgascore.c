/* The C scorer of the DGA model, for tools/dga-train and the tests (not installed):
 *   dgascore MODEL < names          one "SCORE<TAB>LEVEL" line per input registered domain
 *                                   ("label.suffix", e.g. "example.co.uk"; a bare label is
 *                                   scored under no suffix)
 *   dgascore --bench MODEL < names  score the names over and over for about a second and
 *                                   print the cost in ns per name (wall clock and CPU)
 * tools/dga-train --scorer uses the first form so that the evaluation it prints is this
 * implementation's (it checks every score against its own). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "minewall/dga.h"
#include "minewall/error.h"

#define MAX_NAMES 200000
#define NAME_MAX_LEN (MW_DGA_LABEL_MAX + 1 + MW_DGA_SUFFIX_MAX)

static double now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench(const struct mw_dga_model *m)
{
    static char labels[MAX_NAMES][NAME_MAX_LEN];
    static size_t lens[MAX_NAMES];
    size_t n = 0;
    char line[4096];
    while (n < MAX_NAMES && fgets(line, sizeof(line), stdin)) {
        size_t len = strcspn(line, "\r\n");
        if (len == 0 || len > NAME_MAX_LEN)
            continue;
        memcpy(labels[n], line, len);
        lens[n++] = len;
    }
    if (!n) {
        fprintf(stderr, "dgascore: --bench: no labels on stdin\n");
        return 1;
    }
    long long total = 0, sum = 0;
    double t0 = now_s(CLOCK_MONOTONIC), t = t0, c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    while (t - t0 < 1.0) {
        for (size_t i = 0; i < n; i++) {
            struct mw_dga_result r;
            mw_dga_score(m, labels[i], lens[i], &r);
            sum += r.score;
        }
        total += (long long)n;
        t = now_s(CLOCK_MONOTONIC);
    }
    /* CPU time as well: on a shared machine the wall clock counts other processes' turns. */
    double cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("%lld labels scored in %.3f s (%.3f s CPU): %.1f ns/label wall, %.1f ns/label CPU "
           "(checksum %lld)\n",
           total, t - t0, cpu, (t - t0) * 1e9 / (double)total, cpu * 1e9 / (double)total, sum);
    return 0;
}

int main(int argc, char **argv)
{
    int is_bench = argc == 3 && strcmp(argv[1], "--bench") == 0;
    if (argc != 2 && !is_bench) {
        fprintf(stderr, "usage: dgascore [--bench] MODEL < labels\n");
        return 2;
    }
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    struct mw_dga_model *m = NULL;
    int rc = mw_dga_load(argv[argc - 1], &m, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "dgascore: %s\n", errs.msgs[i]);
    mw_errlist_deinit(&errs);
    if (rc < 0)
        return 1;
    if (is_bench) {
        rc = bench(m);
        mw_dga_free(m);
        return rc;
    }
    char line[4096];
    unsigned long lineno = 0;
    rc = 0;
    while (fgets(line, sizeof(line), stdin)) {
        lineno++;
        size_t len = strcspn(line, "\r\n");
        struct mw_dga_result r;
        if (mw_dga_score(m, line, len, &r) < 0) {
            fprintf(stderr,
                    "dgascore: stdin:%lu: not a label of 1..%d bytes (and a suffix of at most "
                    "%d)\n",
                    lineno, MW_DGA_LABEL_MAX, MW_DGA_SUFFIX_MAX);
            rc = 1;
            printf("-\t-\n");
            continue;
        }
        printf("%d\t%s\n", r.score, mw_dga_level_name(r.level));
    }
    mw_dga_free(m);
    return rc;
}
