/* minewall-feed hits: reads the block events resolvers append to minewall:events:blocks over
 * a window (XRANGE from the stream id of now - since, paged), and reports per list and rule
 * the hits, distinct clients and distinct resolvers (the host field), then the entries of the
 * published lists that no event named. Rules in events are normalised like entries
 * ("192.0.2.1/32" -> "192.0.2.1", "*.x.test" -> "x.test") so they compare with the SET.
 * Events are counted by stream id time, not by their ts field, so a resolver with a wrong
 * clock still lands in the right window. */
#include "minewall/feedcmd.h"

#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "minewall/listfile.h"
#include "minewall/rreply.h"

#define PAGE "5000"
#define PAGE_N 5000
#define NEVER_SHOWN 20

struct hit {
    char *list, *rule, *client, *host; /* owned */
};

struct hits {
    struct hit *v;
    size_t n, cap;
};

struct rulestat {
    const char *rule; /* borrowed from a hit */
    size_t hits, clients, hosts;
};

/* "30s", "15m", "1h", "2d", "1w" or bare seconds. Returns seconds or -1. */
static long long parse_since(const char *s)
{
    char *e;
    long long v = strtoll(s, &e, 10);
    if (e == s || v <= 0)
        return -1;
    long long mul = 1;
    if (*e) {
        if (e[1])
            return -1;
        switch (*e) {
        case 's':
            break;
        case 'm':
            mul = 60;
            break;
        case 'h':
            mul = 3600;
            break;
        case 'd':
            mul = 86400;
            break;
        case 'w':
            mul = 7 * 86400;
            break;
        default:
            return -1;
        }
    }
    if (v > 100LL * 365 * 86400 / mul)
        return -1;
    return v * mul;
}

static char *dup_field(const redisReply *kv, const char *name)
{
    const char *v = mw_rreply_field(kv, name);
    return strdup(v ? v : "");
}

/* The entry form of a rule, or the rule itself when it does not parse. */
static char *norm_rule(const char *rule)
{
    struct mw_listfile_entry e;
    char text[MW_FEED_ENTRY_MAX];
    if (mw_listfile_parse_entry(rule, &e, NULL, 0) == 0 &&
        mw_feed_entry_text(&e, text, sizeof(text)) == 0)
        return strdup(text);
    return strdup(rule);
}

static int hits_add(struct hits *h, const redisReply *kv, const char *only)
{
    const char *list = mw_rreply_field(kv, "list");
    if (!list || (only && strcmp(list, only) != 0))
        return 0;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        struct hit *v = realloc(h->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    const char *rule = mw_rreply_field(kv, "rule");
    struct hit *x = &h->v[h->n];
    x->list = strdup(list);
    x->rule = norm_rule(rule ? rule : "");
    x->client = dup_field(kv, "client");
    x->host = dup_field(kv, "host");
    h->n++;
    if (!x->list || !x->rule || !x->client || !x->host)
        return -ENOMEM;
    return 0;
}

static void hits_free(struct hits *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].list);
        free(h->v[i].rule);
        free(h->v[i].client);
        free(h->v[i].host);
    }
    free(h->v);
}

/* The id after "MS-SEQ", so the next page starts behind the last record read. */
static void next_id(const char *id, char *out, size_t cap)
{
    unsigned long long ms = 0, seq = 0;
    sscanf(id, "%llu-%llu", &ms, &seq);
    if (seq == ~0ULL)
        snprintf(out, cap, "%llu-0", ms + 1);
    else
        snprintf(out, cap, "%llu-%llu", ms, seq + 1);
}

static int read_events(struct mw_feed *f, unsigned long long from_ms, const char *only,
                       struct hits *h)
{
    char start[48];
    snprintf(start, sizeof(start), "%llu-0", from_ms);
    for (;;) {
        const char *av[] = {"XRANGE", MW_FEED_KEY_EVENTS, start, "+", "COUNT", PAGE};
        redisReply *r = mw_feed_argv(f, 6, av);
        if (!r)
            return -EIO;
        int rc = 0;
        size_t n = mw_rreply_records(r);
        for (size_t i = 0; i < n && rc == 0; i++) {
            const char *id;
            const redisReply *fields;
            if (mw_rreply_record(r, i, &id, &fields) < 0)
                continue;
            rc = hits_add(h, fields, only);
            if (i + 1 == n)
                next_id(id, start, sizeof(start));
        }
        freeReplyObject(r);
        if (rc < 0) {
            fprintf(stderr, "minewall-feed: out of memory\n");
            return rc;
        }
        if (n < PAGE_N)
            return 0;
    }
}

static int cmp_hit(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    int c = strcmp(x->list, y->list);
    if (!c)
        c = strcmp(x->rule, y->rule);
    if (!c)
        c = strcmp(x->client, y->client);
    return c;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_stat(const void *a, const void *b)
{
    const struct rulestat *x = a, *y = b;
    if (x->hits != y->hits)
        return x->hits > y->hits ? -1 : 1;
    return strcmp(x->rule, y->rule);
}

/* Stats of the rules of the list starting at h[*pos] (h sorted by cmp_hit); advances *pos.
 * st must hold one slot per hit; hosts is scratch of the same size. Returns rules. */
static size_t list_stats(const struct hits *h, size_t *pos, struct rulestat *st, char **hosts)
{
    size_t nst = 0, i = *pos;
    const char *list = h->v[i].list;
    while (i < h->n && strcmp(h->v[i].list, list) == 0) {
        struct rulestat *s = &st[nst++];
        memset(s, 0, sizeof(*s));
        s->rule = h->v[i].rule;
        size_t nh = 0;
        for (; i < h->n && strcmp(h->v[i].list, list) == 0 && strcmp(h->v[i].rule, s->rule) == 0;
             i++) {
            if (s->hits == 0 || strcmp(h->v[i].client, h->v[i - 1].client) != 0)
                s->clients++;
            s->hits++;
            hosts[nh++] = h->v[i].host;
        }
        qsort(hosts, nh, sizeof(*hosts), cmp_str);
        for (size_t k = 0; k < nh; k++)
            if (k == 0 || strcmp(hosts[k], hosts[k - 1]) != 0)
                s->hosts++;
    }
    *pos = i;
    return nst;
}

/* The entries of a published list not in hit (sorted rules of that list). */
static int never_hit(struct mw_feed *f, const char *list, const struct mw_strvec *hit, bool all)
{
    char key[128];
    struct mw_strvec ents = {0};
    mw_feed_key(key, sizeof(key), list, "entries");
    int rc = mw_feed_set_load(f, key, &ents);
    if (rc < 0)
        goto out;
    size_t never = 0;
    for (size_t i = 0; i < ents.n; i++)
        if (!mw_strvec_contains(hit, ents.v[i]))
            never++;
    printf("  never hit: %zu of %zu entries\n", never, ents.n);
    size_t shown = 0;
    for (size_t i = 0; i < ents.n && (all || shown < NEVER_SHOWN); i++) {
        if (!mw_strvec_contains(hit, ents.v[i])) {
            printf("    %s\n", ents.v[i]);
            shown++;
        }
    }
    if (shown < never)
        printf("    ... %zu more\n", never - shown);
out:
    mw_strvec_free(&ents);
    return rc;
}

static int report_list(struct mw_feed *f, const char *list, const struct hits *h, size_t *pos,
                       bool published, bool all, struct rulestat *st, char **scratch)
{
    size_t nst = 0, total = 0;
    if (*pos < h->n && strcmp(h->v[*pos].list, list) == 0)
        nst = list_stats(h, pos, st, scratch);
    for (size_t i = 0; i < nst; i++)
        total += st[i].hits;
    printf("list %s: %zu hits on %zu rules%s\n", list, total, nst,
           published ? "" : " (not published in Redis)");
    struct mw_strvec hit = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nst; i++)
        rc = mw_strvec_push(&hit, st[i].rule); /* st is in rule order: already sorted */
    qsort(st, nst, sizeof(*st), cmp_stat);
    if (nst)
        printf("  %8s %8s %9s  %s\n", "HITS", "CLIENTS", "RESOLVERS", "RULE");
    for (size_t i = 0; i < nst; i++)
        printf("  %8zu %8zu %9zu  %s\n", st[i].hits, st[i].clients, st[i].hosts, st[i].rule);
    if (rc == 0 && published)
        rc = never_hit(f, list, &hit, all);
    mw_strvec_free(&hit);
    return rc;
}

int mw_feed_cmd_hits(struct mw_feed *f, int argc, char **argv)
{
    static const struct option opts[] = {{"since", required_argument, NULL, 's'}, {0}};
    long long since = 3600;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
        if (c != 's' || (since = parse_since(optarg)) < 0) {
            fprintf(stderr, "minewall-feed: usage: hits [NAME] [--since 30s|15m|1h|2d]\n");
            return MW_FEED_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "minewall-feed: usage: hits [NAME] [--since 30s|15m|1h|2d]\n");
        return MW_FEED_EXIT_USAGE;
    }
    const char *only = argc - optind == 1 ? argv[optind] : NULL;
    if (mw_feed_connect(f) < 0)
        return MW_FEED_EXIT_REDIS;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long now_ms = (unsigned long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    unsigned long long from_ms = now_ms - (unsigned long long)since * 1000;
    struct hits h = {0};
    struct mw_strvec lists = {0}, names = {0};
    struct rulestat *st = NULL;
    char **scratch = NULL;
    int ex = MW_FEED_EXIT_REDIS;
    if (read_events(f, from_ms, only, &h) < 0 || mw_feed_set_load(f, MW_FEED_KEY_LISTS, &lists) < 0)
        goto out;
    qsort(h.v, h.n, sizeof(*h.v), cmp_hit);
    /* Report every published list (or only NAME) and every list named by an event. */
    for (size_t i = 0; i < lists.n; i++)
        if (!only || strcmp(lists.v[i], only) == 0)
            mw_strvec_push(&names, lists.v[i]);
    if (only)
        mw_strvec_push(&names, only);
    for (size_t i = 0; i < h.n; i++)
        mw_strvec_push(&names, h.v[i].list);
    mw_strvec_sort_uniq(&names);
    st = malloc((h.n + 1) * sizeof(*st));
    scratch = malloc((h.n + 1) * sizeof(*scratch));
    if (!st || !scratch)
        goto out;
    char when[64];
    mw_feed_time_text((long long)(from_ms / 1000), when, sizeof(when));
    printf("block hits since %s: %zu events\n", when, h.n);
    size_t pos = 0;
    for (size_t i = 0; i < names.n; i++) {
        bool published = mw_strvec_contains(&lists, names.v[i]);
        if (report_list(f, names.v[i], &h, &pos, published, only != NULL, st, scratch) < 0)
            goto out;
    }
    ex = MW_FEED_EXIT_OK;
out:
    free(st);
    free(scratch);
    mw_strvec_free(&names);
    mw_strvec_free(&lists);
    hits_free(&h);
    return ex;
}
