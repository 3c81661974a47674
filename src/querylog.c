/* Query log records, their ring and their JSON lines; see querylog.h. The worker side is
 * copies only; everything that costs (names to text, addresses to text, the timestamp) happens
 * in mw_querylog_format on the writer thread. */
#include "minewall/querylog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/dnstext.h"
#include "minewall/filter.h"
#include "minewall/journal.h"
#include "minewall/jsonw.h"

static const char *const CACHE_NAMES[] = {"local", "hit", "miss", "stale"};
static const char *const VERDICT_NAMES[] = {"pass",   "allow",   "block",      "log",
                                            "paused", "refused", "ratelimited"};

const char *mw_querylog_cache_name(unsigned c)
{
    return c < sizeof(CACHE_NAMES) / sizeof(CACHE_NAMES[0]) ? CACHE_NAMES[c] : "?";
}

const char *mw_querylog_verdict_name(unsigned v)
{
    return v < sizeof(VERDICT_NAMES) / sizeof(VERDICT_NAMES[0]) ? VERDICT_NAMES[v] : "?";
}

/* Copy the NUL-terminated s into dst[MW_QUERYLOG_LABEL_MAX], cut to fit ("" for NULL). */
static void copy_label(char *dst, const char *s)
{
    size_t n = s ? strnlen(s, MW_QUERYLOG_LABEL_MAX - 1) : 0;
    memcpy(dst, s ? s : "", n);
    dst[n] = 0;
}

void mw_querylog_fill(struct mw_querylog_rec *r, const struct mw_querylog_note *n,
                      const char *group, const struct sockaddr *client, bool tcp, uint16_t qtype,
                      const uint8_t *pkt, size_t len, uint64_t now_ms)
{
    r->mono_ms = now_ms;
    r->latency_ms = now_ms > n->start_ms ? (uint32_t)(now_ms - n->start_ms) : 0;
    r->qtype = qtype;
    r->cache = n->cache;
    r->verdict = n->verdict;
    r->tcp = tcp;
    r->family = 0;
    r->client_port = 0;
    if (client && client->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)client;
        r->family = AF_INET;
        memcpy(r->client, &s->sin_addr, 4);
        r->client_port = ntohs(s->sin_port);
    } else if (client && client->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)client;
        r->family = AF_INET6;
        memcpy(r->client, &s->sin6_addr, 16);
        r->client_port = ntohs(s->sin6_port);
    }
    copy_label(r->upstream, n->upstream);
    copy_label(r->group, group);
    r->has_rule = n->v != NULL;
    r->rule_len = 0;
    r->rule_cut = false;
    if (n->v) {
        const char *t = mw_verdict_rule_text(n->v);
        size_t tl = strnlen(t, MW_QUERYLOG_RULE_MAX + 1);
        r->rule_cut = tl > MW_QUERYLOG_RULE_MAX;
        r->rule_len = (uint16_t)(r->rule_cut ? MW_QUERYLOG_RULE_MAX : tl);
        memcpy(r->rule, t, r->rule_len);
        r->rule[r->rule_len] = 0;
    }
    r->pkt_cut = len > MW_QUERYLOG_PKT_MAX;
    r->pkt_len = (uint16_t)(r->pkt_cut ? MW_QUERYLOG_PKT_MAX : len);
    memcpy(r->pkt, pkt, r->pkt_len);
}

/* A key with its comma and colon as one literal: keys are the writer's own, and one append
 * per key instead of four keeps the writer thread cheap. */
#define PUT_LIT(sb, lit) mw_strbuf_put((sb), (lit), sizeof(lit) - 1)

/* A quoted value that needs no escaping (addresses, mnemonics, times), or null. Text from
 * outside (names, labels, rules) goes through the JSON writer instead. */
static void put_plain(struct mw_strbuf *sb, const char *s)
{
    if (!s) {
        PUT_LIT(sb, "null");
        return;
    }
    mw_strbuf_putc(sb, '"');
    mw_strbuf_puts(sb, s);
    mw_strbuf_putc(sb, '"');
}

/* An address as text. IPv4 by hand: glibc's inet_ntop writes it through sprintf, which cost
 * more than all the rest of a line. */
static void addr_text(int af, const uint8_t *a, char out[INET6_ADDRSTRLEN])
{
    if (af != AF_INET) {
        inet_ntop(af, a, out, INET6_ADDRSTRLEN);
        return;
    }
    char *o = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = a[i];
        if (v >= 100)
            *o++ = (char)('0' + v / 100);
        if (v >= 10)
            *o++ = (char)('0' + v / 10 % 10);
        *o++ = (char)('0' + v % 10);
        *o++ = i < 3 ? '.' : 0;
    }
}

/* "answers":[...] from the A and AAAA records of the answer section. A cut copy ends the walk
 * at the first record that runs past it; *cut then says so. */
static void put_answers(struct mw_strbuf *sb, const struct mw_querylog_rec *r, bool *cut)
{
    PUT_LIT(sb, ",\"answers\":[");
    struct mw_dns_iter it;
    struct mw_dns_rr rr;
    unsigned n = 0;
    int rc = 0;
    if (mw_dns_iter_init(&it, r->pkt, r->pkt_len) == 0) {
        while ((rc = mw_dns_iter_next(&it, &rr)) == 1 && rr.section == MW_SECTION_ANSWER) {
            int af = rr.type == 1 && rr.rdlen == 4     ? AF_INET
                     : rr.type == 28 && rr.rdlen == 16 ? AF_INET6
                                                       : 0;
            if (!af || rr.cls != 1)
                continue;
            if (n == MW_QUERYLOG_ANSWERS_MAX) {
                *cut = true;
                break;
            }
            char a[INET6_ADDRSTRLEN];
            addr_text(af, r->pkt + rr.rdata, a);
            if (n++)
                mw_strbuf_putc(sb, ',');
            put_plain(sb, a);
        }
    }
    if (rc < 0 && r->pkt_cut)
        *cut = true;
    mw_strbuf_putc(sb, ']');
}

/* The timestamp of the last line written: lines come in bursts within one millisecond, and
 * the writer is one thread (each thread keeps its own). */
static __thread uint64_t last_ts_ms = UINT64_MAX;
static __thread char last_ts[MW_JOURNAL_TS_LEN];

int mw_querylog_format(const struct mw_querylog_rec *r, uint64_t wall_ms, struct mw_strbuf *sb)
{
    size_t mark = sb->len;
    if (wall_ms != last_ts_ms) {
        if (mw_journal_timestamp(wall_ms, last_ts) < 0)
            last_ts[0] = 0;
        last_ts_ms = wall_ms;
    }
    char client[INET6_ADDRSTRLEN] = "";
    if (r->family)
        addr_text(r->family, r->client, client);
    PUT_LIT(sb, "{\"time\":");
    put_plain(sb, last_ts);
    PUT_LIT(sb, ",\"client\":");
    put_plain(sb, r->family ? client : NULL);
    PUT_LIT(sb, ",\"client_port\":");
    mw_strbuf_u64(sb, r->client_port);
    if (r->tcp)
        PUT_LIT(sb, ",\"transport\":\"tcp\",\"group\":");
    else
        PUT_LIT(sb, ",\"transport\":\"udp\",\"group\":");
    mw_jsonw_str(sb, r->group);
    /* The echoed question, when the reply has one (a FORMERR for a query without one has not). */
    uint8_t qname[MW_DNAME_MAX + 1];
    char qtext[MW_DNAME_MAX * 4 + 2];
    size_t off = MW_DNS_HDR;
    int wl = r->pkt_len >= MW_DNS_HDR && mw_dns_get16(r->pkt + 4) > 0
                 ? mw_dname_unpack(r->pkt, r->pkt_len, &off, qname, sizeof(qname))
                 : -1;
    int ql = wl > 0 ? mw_dname_to_text(qname, (size_t)wl, qtext, sizeof(qtext)) : -1;
    PUT_LIT(sb, ",\"qname\":");
    /* Name text is [a-z0-9-_*.] and \DDD escapes: only a backslash needs the JSON writer. */
    if (ql >= 0 && !memchr(qtext, '\\', (size_t)ql))
        put_plain(sb, qtext);
    else
        mw_jsonw_str(sb, ql >= 0 ? qtext : NULL);
    char tb[16], rb[16];
    PUT_LIT(sb, ",\"qtype\":");
    put_plain(sb, wl > 0 || r->qtype ? mw_dnstext_type(r->qtype, tb, sizeof(tb)) : NULL);
    PUT_LIT(sb, ",\"rcode\":");
    put_plain(sb, r->pkt_len >= 4 ? mw_dnstext_rcode(r->pkt[3] & 0x0f, rb, sizeof(rb)) : NULL);
    bool cut = false;
    put_answers(sb, r, &cut);
    if (cut)
        PUT_LIT(sb, ",\"answers_cut\":true");
    PUT_LIT(sb, ",\"upstream\":");
    mw_jsonw_str(sb, r->upstream[0] ? r->upstream : NULL);
    PUT_LIT(sb, ",\"latency_ms\":");
    mw_strbuf_u64(sb, r->latency_ms);
    PUT_LIT(sb, ",\"cache\":");
    put_plain(sb, mw_querylog_cache_name(r->cache));
    PUT_LIT(sb, ",\"verdict\":");
    put_plain(sb, mw_querylog_verdict_name(r->verdict));
    PUT_LIT(sb, ",\"rule\":");
    if (r->has_rule) /* a cut copy may end inside a UTF-8 sequence: cut 3 bytes earlier */
        mw_jsonw_strn(sb, r->rule, r->rule_len, r->rule_cut ? (size_t)r->rule_len - 3 : SIZE_MAX,
                      NULL);
    else
        PUT_LIT(sb, "null");
    PUT_LIT(sb, "}\n");
    if (sb->trunc) {
        mw_strbuf_rewind(sb, mark);
        return -ENOSPC;
    }
    return 0;
}

int mw_querylog_ring_init(struct mw_querylog_ring *r, uint32_t want)
{
    uint32_t cap = 2;
    while (cap < want && cap < (1u << 30))
        cap <<= 1;
    memset(r, 0, sizeof(*r));
    r->slots = malloc((size_t)cap * sizeof(*r->slots));
    if (!r->slots)
        return -ENOMEM;
    r->cap = cap;
    return 0;
}

void mw_querylog_ring_deinit(struct mw_querylog_ring *r)
{
    free(r->slots);
    r->slots = NULL;
    r->cap = 0;
}
