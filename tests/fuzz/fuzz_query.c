/* libFuzzer harness: a client query through what query.c does with it before any upstream is
 * involved: parse, the client's reply limits, the access list, the error replies, the query
 * name filter over lists of every kind and action, the blocked reply (synthesized answer or
 * error with an Extended DNS Error), the block log line, the cache lookup, the forward-zone
 * choice and the upstream query. The first input byte picks the transport and the client
 * address; the rest is the packet. Every reply written must parse back as a response to the
 * same question and fit the client's limit. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minewall/blocklog.h"
#include "minewall/cache.h"
#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/filter.h"
#include "minewall/lists.h"
#include "minewall/netaddr.h"

static uint8_t out[MW_DNS_MAXMSG + 64];
static uint8_t prep[MW_DNS_MAXMSG + 64];
static uint16_t ttl_off[MW_DNS_MAX_TTLS];
static uint32_t ttls[MW_DNS_MAX_TTLS];

/* A reply we wrote: within the client's limit, and a well-formed response to q. */
static void check_reply(int n, const struct mw_dns_client *c, const struct mw_dns_query *q)
{
    FZ_CHECK(n >= MW_DNS_HDR && n <= c->max_size);
    FZ_CHECK(mw_dns_get16(out) == c->id && (mw_dns_get16(out + 2) & MW_DNS_QR));
    if (!c->qsec_len)
        return;
    struct mw_dns_response info;
    int len = mw_dns_prepare_response(out, (size_t)n, prep, sizeof(prep), &info, ttl_off, ttls);
    FZ_CHECK(len > 0);
    FZ_CHECK(mw_dns_question_equal(&info.q, &q->q));
}

static void client_addr(uint8_t sel, struct mw_addr *a)
{
    static const char *const ips[] = {"127.0.0.1", "::1",         "10.1.2.3",    "203.0.113.9",
                                      "fd00::5",   "2001:db8::1", "192.168.7.7", "::ffff:10.0.0.1"};
    FZ_CHECK(mw_addr_parse_ip(ips[sel & 7], (uint16_t)(1024 + sel), a) == 0);
}

static void blocked(const struct mw_config *cfg, const struct mw_lists *lists,
                    const struct mw_dns_client *c, const struct mw_dns_query *q,
                    struct mw_verdict *v, const struct mw_addr *from)
{
    const struct mw_list_info *li = mw_lists_info(lists, v->rule.list);
    FZ_CHECK(li != NULL); /* a list, or a detector (the rebinding guard) */
    const char *rule = mw_verdict_rule_text(v);
    FZ_CHECK(rule != NULL && strlen(rule) < sizeof(v->rule_text));
    static struct mw_blocklog *bl;
    static struct mw_blockfold *fold;
    if (!bl) {
        FZ_CHECK(mw_blocklog_open("/dev/null", &bl) == 0);
        FZ_CHECK((fold = mw_blockfold_new()) != NULL);
    }
    struct mw_block_event e = {
        .wall_ms = 1700000000000ull,
        .client = &from->u.sa,
        .qname = q->q.qname,
        .qname_len = q->q.qname_len,
        .qtype = q->q.qtype,
        .list = li->name,
        .category = li->category,
        .action = mw_action_name(v->action),
        .rule = rule,
        .where = mw_where_name(v->where),
        .matched = v->matched,
    };
    mw_blocklog_hit(bl, fold, &e, q->id);
    mw_blockfold_flush(bl, fold, q->id + 2000u, q->id + 2000u, false);

    uint8_t rcode = MW_RCODE_NOERROR;
    const uint8_t *addr = NULL;
    size_t alen = 0;
    int n;
    switch (v->action) {
    case MW_ACTION_DROP:
    case MW_ACTION_LOG:
        return;
    case MW_ACTION_REFUSED:
        n = mw_dns_build_error(c, MW_RCODE_REFUSED, 15, li->ede_text, out, sizeof(out));
        check_reply(n, c, q);
        return;
    case MW_ACTION_NXDOMAIN:
        rcode = MW_RCODE_NXDOMAIN;
        break;
    case MW_ACTION_NODATA:
        break;
    default:
        if (q->q.qtype == MW_TYPE_A) {
            addr = v->sink4 ? v->sink4 : cfg->sinkhole.ipv4;
            alen = 4;
        } else if (q->q.qtype == MW_TYPE_AAAA) {
            addr = v->sink6 ? v->sink6 : cfg->sinkhole.ipv6;
            alen = 16;
        }
        break;
    }
    n = mw_dns_build_synth(c, &q->q, rcode, addr, alen, cfg->sinkhole.ttl, 15, li->ede_text, out,
                           sizeof(out));
    check_reply(n, c, q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const struct mw_config *cfg;
    const struct mw_lists *lists;
    fz_lists(&cfg, &lists);
    bool tcp = data[0] & 0x80;
    struct mw_addr from;
    client_addr(data[0], &from);
    data++;
    size--;

    struct mw_dns_query q;
    enum mw_dns_parse pr = mw_dns_parse_query(data, size, &q);
    if (pr == MW_PARSE_DROP)
        return 0;
    FZ_CHECK(size >= MW_DNS_HDR);
    FZ_CHECK(!q.qsec_len || (q.qsec == data + MW_DNS_HDR && q.qsec_len <= size - MW_DNS_HDR));
    struct mw_dns_client c;
    mw_dns_client_from_query(&q, tcp, &c);
    FZ_CHECK(c.max_size >= MW_DNS_UDP_MIN);
    if (!mw_cidr_match_any(cfg->access, cfg->n_access, &from.u.sa)) {
        check_reply(mw_dns_build_error(&c, MW_RCODE_REFUSED, -1, NULL, out, sizeof(out)), &c, &q);
        return 0;
    }
    if (pr != MW_PARSE_OK) {
        uint8_t rcode = pr == MW_PARSE_FORMERR   ? MW_RCODE_FORMERR
                        : pr == MW_PARSE_NOTIMP  ? MW_RCODE_NOTIMP
                        : pr == MW_PARSE_BADVERS ? MW_RCODE_BADVERS
                                                 : MW_RCODE_REFUSED;
        check_reply(mw_dns_build_error(&c, rcode, -1, NULL, out, sizeof(out)), &c, &q);
        return 0;
    }
    FZ_CHECK(q.q.qname_len >= 1 && q.q.qname_len <= MW_DNAME_MAX);
    FZ_CHECK(mw_dname_labels(q.q.qname, q.q.qname_len) >= 0);

    struct mw_verdict v;
    enum mw_filter_result fr = mw_filter_qname(lists, cfg, &q.q, &v);
    if (fr == MW_FILTER_BLOCK)
        blocked(cfg, lists, &c, &q, &v, &from);

    static struct mw_cache *cache;
    if (!cache) {
        struct mw_cache_params p = {.max_entries = 16, .max_ttl = 3600, .serve_stale = 30};
        FZ_CHECK((cache = mw_cache_new(&p)) != NULL);
    }
    struct mw_cache_key k;
    mw_cache_key_make(&q.q, q.do_bit, &k);
    struct mw_dns_stored st;
    uint32_t elapsed;
    (void)mw_cache_lookup(cache, &k, 1000, false, &st, &elapsed);

    (void)mw_config_zone_for(cfg, q.q.qname, q.q.qname_len);
    int n = mw_dns_build_query(&q.q, q.id, q.flags & MW_DNS_CD, q.do_bit, out, sizeof(out));
    FZ_CHECK(n > MW_DNS_HDR);
    struct mw_dns_query back;
    FZ_CHECK(mw_dns_parse_query(out, (size_t)n, &back) == MW_PARSE_OK);
    FZ_CHECK(mw_dns_question_equal(&back.q, &q.q));
    return 0;
}
