/* libFuzzer harness: an upstream response through the path query.c runs on it: check and
 * prepare (OPT removed, TTL table), the answer filter (CNAME targets, addresses, patterns
 * against lists of every kind), the blocked reply when it matches, the journal's answer diff
 * and its JSON line, the cache insert, and the reply rendered for a client (fresh, aged,
 * stale, over UDP limits). The first input byte shapes the client; the rest is the response.
 * Every reply written must fit the client's limit and parse back. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minewall/answerdiff.h"
#include "minewall/cache.h"
#include "minewall/config.h"
#include "minewall/dnsmsg.h"
#include "minewall/filter.h"
#include "minewall/journal.h"
#include "minewall/lists.h"

static uint8_t prep[MW_DNS_MAXMSG + 64];
static uint8_t out[MW_DNS_MAXMSG + 64];
static uint8_t back[MW_DNS_MAXMSG + 64];
static uint16_t ttl_off[MW_DNS_MAX_TTLS], ttl_off2[MW_DNS_MAX_TTLS];
static uint32_t ttls[MW_DNS_MAX_TTLS], ttls2[MW_DNS_MAX_TTLS];
static char line[MW_JOURNAL_LINE_MAX];

static void check_reply(int n, const struct mw_dns_client *c, const struct mw_dns_question *q)
{
    FZ_CHECK(n >= MW_DNS_HDR && n <= c->max_size);
    struct mw_dns_response info;
    FZ_CHECK(mw_dns_prepare_response(out, (size_t)n, back, sizeof(back), &info, ttl_off2, ttls2) >
             0);
    FZ_CHECK(mw_dns_question_equal(&info.q, q));
}

static void check_line(int n)
{
    if (n == -ENOSPC)
        return;
    FZ_CHECK(n > 0 && (size_t)n < sizeof(line) && line[n - 1] == '\n' && line[n] == 0);
    for (int i = 0; i < n - 1; i++) /* one line of JSON: control bytes are escaped */
        FZ_CHECK((unsigned char)line[i] >= 0x20);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 + MW_DNS_HDR)
        return 0;
    const struct mw_config *cfg;
    const struct mw_lists *lists;
    fz_lists(&cfg, &lists);
    uint8_t sel = data[0];
    data++;
    size--;

    struct mw_dns_response info;
    int len = mw_dns_prepare_response(data, size, prep, sizeof(prep), &info, ttl_off, ttls);
    if (len < 0)
        return 0;
    FZ_CHECK((size_t)len <= size && info.n_ttls <= MW_DNS_MAX_TTLS);
    for (unsigned i = 0; i < info.n_ttls; i++)
        FZ_CHECK(ttl_off[i] + 4u <= (unsigned)len && ttls[i] <= 0x7fffffffu);

    /* The client that asked: its question is the response's, as the upstream matcher made sure. */
    struct mw_dns_client c = {
        .id = 0x1234,
        .qflags = (uint16_t)(MW_DNS_RD | ((sel & 1) ? MW_DNS_CD : 0) | ((sel & 2) ? MW_DNS_AD : 0)),
        .qsec = prep + MW_DNS_HDR,
        .qsec_len = (uint16_t)(info.q.qname_len + 4),
        .edns = sel & 4,
        .do_bit = sel & 8,
        .max_size = (sel & 0x10) ? MW_DNS_MAXMSG : (uint16_t)(512 + (sel >> 5) * 100),
    };

    struct mw_verdict v;
    if (mw_filter_answer(lists, cfg, prep, (size_t)len, &v) == MW_FILTER_BLOCK) {
        const struct mw_list_info *li = mw_lists_info(lists, v.rule.list);
        FZ_CHECK(li != NULL); /* a list, or a detector (the rebinding guard) */
        FZ_CHECK(v.rule.list < lists->n_lists || v.rule.list >= MW_LIST_DETECT);
        FZ_CHECK(strlen(mw_verdict_rule_text(&v)) < sizeof(v.rule_text));
        FZ_CHECK(strlen(v.matched) < sizeof(v.matched));
        const char *text = li->ede_text;
        int n = mw_dns_build_synth(&c, &info.q, MW_RCODE_NXDOMAIN, NULL, 0, 60, 17, text, out,
                                   sizeof(out));
        check_reply(n, &c, &info.q);
    }

    /* The journal: first sight, then the same answer again (no change), then forgotten. */
    static struct mw_answerdiff *ad;
    if (!ad)
        FZ_CHECK((ad = mw_answerdiff_new(8)) != NULL);
    struct mw_answer_change ch;
    int rc = mw_answerdiff_observe(ad, info.q.qname, info.q.qname_len, info.q.qtype, prep,
                                   (size_t)len, 1000, &ch);
    FZ_CHECK(rc == 0 || rc == 1 || rc == -EBADMSG || rc == -ENOMEM);
    if (rc == 1)
        check_line(mw_journal_format_answer(line, sizeof(line), 1700000000000ull, "fz", &ch,
                                            "192.0.2.53:53", NULL));
    rc = mw_answerdiff_observe(ad, info.q.qname, info.q.qname_len, info.q.qtype, prep, (size_t)len,
                               2000, &ch);
    FZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOMEM);
    (void)mw_answerdiff_forget(ad, info.q.qname, info.q.qname_len, info.q.qtype);

    struct mw_dns_stored s = {prep, (size_t)len, ttl_off, ttls, info.n_ttls, NULL};
    int n = mw_dns_render(&s, &c, sel, -1, out, sizeof(out));
    check_reply(n, &c, &info.q);
    n = mw_dns_render(&s, &c, 0, 30, out, sizeof(out));
    check_reply(n, &c, &info.q);

    static struct mw_cache *cache;
    if (!cache) {
        struct mw_cache_params p = {.max_entries = 16, .max_ttl = 3600, .serve_stale = 30};
        FZ_CHECK((cache = mw_cache_new(&p)) != NULL);
    }
    struct mw_cache_key k;
    mw_cache_key_make(&info.q, c.do_bit, &k);
    uint64_t now = 1000000 + (uint64_t)sel * 1000;
    if (mw_cache_insert(cache, &k, prep, (size_t)len, &info, ttl_off, ttls, now) == 0) {
        struct mw_dns_stored hit;
        uint32_t elapsed;
        enum mw_cache_result r = mw_cache_lookup(cache, &k, now + sel * 50u, true, &hit, &elapsed);
        if (r != MW_CACHE_MISS) {
            n = mw_dns_render(&hit, &c, elapsed, r == MW_CACHE_STALE ? 30 : -1, out, sizeof(out));
            check_reply(n, &c, &info.q);
        }
    }
    return 0;
}
