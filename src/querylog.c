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

/* The line is written through a raw pointer: mw_querylog_format first works out, from the
 * record's lengths, how many bytes the line can take at most (line_bound), and writes in place
 * when the buffer has that room, else into a scratch buffer that is then appended (and cut, as
 * any append). One bound check per line instead of one per append: the appends (a length
 * check, a copy and a NUL each) were most of a line's cost. */
#define PUT_LIT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

static char *put_u32(char *o, uint32_t v)
{
    char t[10];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *o++ = t[--n];
    return o;
}

/* A quoted value that needs no escaping (addresses, mnemonics, times). */
static char *put_plain(char *o, const char *s, size_t n)
{
    *o++ = '"';
    memcpy(o, s, n);
    o[n] = '"';
    return o + n + 1;
}

/* Bytes that go into a JSON string as they are: printable ASCII but quote and backslash. */
#define JSON_OK(c) ((c) >= 0x20 && (c) < 0x7f && (c) != '"' && (c) != '\\')
#define JSON_OK4(c) JSON_OK(c), JSON_OK(c + 1), JSON_OK(c + 2), JSON_OK(c + 3)
#define JSON_OK16(c) JSON_OK4(c), JSON_OK4(c + 4), JSON_OK4(c + 8), JSON_OK4(c + 12)
#define JSON_OK64(c) JSON_OK16(c), JSON_OK16(c + 16), JSON_OK16(c + 32), JSON_OK16(c + 48)
static const bool JSON_COPY[256] = {JSON_OK64(0), JSON_OK64(64), JSON_OK64(128), JSON_OK64(192)};

/* A quoted string from outside (group, upstream label): copied when nothing in it needs
 * escaping, which is the common case, else through the JSON writer. end is the buffer's end. */
static char *put_text(char *o, char *end, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    char *q = o + 1;
    /* Copied while checked: the NUL (JSON_COPY 0) ends the loop as any byte to escape does. */
    while (JSON_COPY[*p])
        *q++ = (char)*p++;
    if (!*p) {
        *o = '"';
        *q = '"';
        return q + 1;
    }
    struct mw_strbuf sb = {.b = o, .cap = (size_t)(end - o), .len = 0};
    mw_jsonw_str(&sb, s);
    return o + sb.len;
}

/* Octets 0-255 as decimal text, built by the preprocessor: 1-3 digits and the count. */
struct dec3 {
    char d[3];
    uint8_t n;
};
#define DEC3_D0(v) ((v) >= 100 ? '0' + (v) / 100 : (v) >= 10 ? '0' + (v) / 10 : '0' + (v))
#define DEC3_D1(v) ((v) >= 100 ? '0' + (v) / 10 % 10 : (v) >= 10 ? '0' + (v) % 10 : 0)
#define DEC3_D2(v) ((v) >= 100 ? '0' + (v) % 10 : 0)
#define DEC3(v)                                                                                    \
    {                                                                                              \
        {DEC3_D0(v), DEC3_D1(v), DEC3_D2(v)}, (v) >= 100 ? 3 : (v) >= 10 ? 2 : 1                   \
    }
#define DEC3_4(v) DEC3(v), DEC3(v + 1), DEC3(v + 2), DEC3(v + 3)
#define DEC3_16(v) DEC3_4(v), DEC3_4(v + 4), DEC3_4(v + 8), DEC3_4(v + 12)
#define DEC3_64(v) DEC3_16(v), DEC3_16(v + 16), DEC3_16(v + 32), DEC3_16(v + 48)
static const struct dec3 DEC[256] = {DEC3_64(0), DEC3_64(64), DEC3_64(128), DEC3_64(192)};

/* An address as text; returns its end. IPv4 by table: glibc's inet_ntop writes it through
 * sprintf, which cost more than all the rest of a line. Each octet copies 4 bytes (the count
 * too) and keeps its digits: the bytes past them are overwritten next (the line bound leaves
 * room for that one byte). */
static char *addr_text(int af, const uint8_t *a, char *o)
{
    if (af != AF_INET) {
        if (!inet_ntop(af, a, o, INET6_ADDRSTRLEN))
            *o = 0;
        return o + strlen(o);
    }
    for (int i = 0; i < 4; i++) {
        const struct dec3 *d = &DEC[a[i]];
        memcpy(o, d, 4);
        o += d->n;
        *o++ = '.';
    }
    return o - 1;
}

/* "answers":[...] from the A and AAAA records of the answer section. A cut copy ends the walk
 * at the first record that runs past it; *cut then says so. */
static char *put_answers(char *o, const struct mw_querylog_rec *r, size_t root, bool *cut)
{
    o = PUT_LIT(o, ",\"answers\":[");
    struct mw_dns_iter it;
    struct mw_dns_rr rr;
    unsigned n = 0;
    int rc = 0;
    /* The single question's name was walked already (root: its last octet, else 0): the
     * iterator starts after it, as mw_dns_iter_init would. */
    const uint8_t *pkt = r->pkt;
    size_t len = r->pkt_len;
    int init = root && mw_dns_get16(pkt + 4) == 1 && len - root - 1 >= 4
                   ? (mw_dns_iter_begin(&it, pkt, len, root + 5, mw_dns_get16(pkt + 6),
                                        mw_dns_get16(pkt + 8), mw_dns_get16(pkt + 10)),
                      0)
                   : mw_dns_iter_init(&it, pkt, len);
    if (init == 0) {
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
            if (n++)
                *o++ = ',';
            *o++ = '"';
            o = addr_text(af, r->pkt + rr.rdata, o);
            *o++ = '"';
        }
    }
    if (rc < 0 && r->pkt_cut)
        *cut = true;
    *o++ = ']';
    return o;
}

/* Name text is [a-z0-9-_*] and \DDD for any other octet (mw_dname_to_text), and only its
 * backslash needs JSON escaping: "\\DDD". NAME_CH maps an octet to its text, lowercased as
 * mw_dname_unpack does, or to 0 for \DDD: one load per octet. */
#define NAME_CH(c)                                                                                 \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= '0' && (c) <= '9') || (c) == '-' || (c) == '_' ||       \
             (c) == '*'                                                                            \
         ? (c)                                                                                     \
     : (c) >= 'A' && (c) <= 'Z' ? (c) + 32                                                         \
                                : 0)
#define NAME_CH4(c) NAME_CH(c), NAME_CH(c + 1), NAME_CH(c + 2), NAME_CH(c + 3)
#define NAME_CH16(c) NAME_CH4(c), NAME_CH4(c + 4), NAME_CH4(c + 8), NAME_CH4(c + 12)
#define NAME_CH64(c) NAME_CH16(c), NAME_CH16(c + 16), NAME_CH16(c + 32), NAME_CH16(c + 48)
static const char NAME_TEXT[256] = {NAME_CH64(0), NAME_CH64(64), NAME_CH64(128), NAME_CH64(192)};

/* The question name as a JSON string, in one pass over the reply's uncompressed question
 * (what a question nearly always is); NULL when it is not that simple (a compression pointer,
 * a name running past the copy or past 255 octets): the caller then takes the general way. */
static char *put_qname_fast(char *o, const uint8_t *pkt, size_t len, size_t *root)
{
    size_t pos = MW_DNS_HDR;
    *o++ = '"';
    char *first = o;
    for (;;) {
        if (pos >= len || pos >= MW_DNS_HDR + MW_DNAME_MAX)
            return NULL;
        uint8_t l = pkt[pos];
        if (l == 0)
            break;
        if (l > 63 || pos + 1 + l >= len || pos + 1 + l >= MW_DNS_HDR + MW_DNAME_MAX)
            return NULL;
        if (o != first)
            *o++ = '.';
        for (size_t i = pos + 1; i <= pos + l; i++) {
            uint8_t c = pkt[i];
            char t = NAME_TEXT[c];
            if (t) {
                *o++ = t;
            } else {
                o[0] = '\\';
                o[1] = '\\';
                o[2] = (char)('0' + c / 100);
                o[3] = (char)('0' + c / 10 % 10);
                o[4] = (char)('0' + c % 10);
                o += 5;
            }
        }
        pos += 1 + l;
    }
    if (o == first)
        *o++ = '.';
    *o++ = '"';
    *root = pos;
    return o;
}

/* The general way: unpack (pointers followed, checked), to text, JSON. Sets *ok. */
static char *put_qname_slow(char *o, char *end, const struct mw_querylog_rec *r, bool *ok)
{
    uint8_t qname[MW_DNAME_MAX + 1];
    char qtext[MW_DNAME_MAX * 4 + 2];
    size_t off = MW_DNS_HDR;
    int wl = mw_dname_unpack(r->pkt, r->pkt_len, &off, qname, sizeof(qname));
    int ql = wl > 0 ? mw_dname_to_text(qname, (size_t)wl, qtext, sizeof(qtext)) : -1;
    *ok = wl > 0;
    struct mw_strbuf sb = {.b = o, .cap = (size_t)(end - o), .len = 0};
    mw_jsonw_str(&sb, ql >= 0 ? qtext : NULL);
    return o + sb.len;
}

/* The most bytes the line of r can take: fixed parts (keys, time, client, port, mnemonics,
 * numbers) within 512; escaped text 6 bytes per byte at most (\u00XX); the name 5 per octet
 * (\\DDD) and its dots; the addresses. */
#define FIXED_MAX 512
#define NAME_MAX_TEXT (MW_DNAME_MAX * 5 + 4)
#define ANSWERS_MAX_TEXT (MW_QUERYLOG_ANSWERS_MAX * (INET6_ADDRSTRLEN + 3) + 32)
#define LINE_BOUND_MAX                                                                             \
    (FIXED_MAX + 2 * 6 * MW_QUERYLOG_LABEL_MAX + 6 * MW_QUERYLOG_RULE_MAX + 8 + NAME_MAX_TEXT +    \
     ANSWERS_MAX_TEXT)

static size_t line_bound(const struct mw_querylog_rec *r)
{
    return FIXED_MAX + 6 * (2 * MW_QUERYLOG_LABEL_MAX + r->rule_len) + 8 + NAME_MAX_TEXT +
           ANSWERS_MAX_TEXT;
}

/* The timestamp of the last line written: lines come in bursts within one millisecond, and
 * the writer is one thread (each thread keeps its own). Within a second only its milliseconds
 * are rewritten. */
static __thread uint64_t last_ts_ms = UINT64_MAX;
static __thread char last_ts[MW_JOURNAL_TS_LEN];
static __thread size_t last_ts_len;
/* Where a line goes when the caller's buffer may not hold it. */
static __thread char scratch[LINE_BOUND_MAX];

static const uint8_t CACHE_LEN[] = {5, 3, 4, 5};
static const uint8_t VERDICT_LEN[] = {4, 5, 5, 3, 6, 7, 11};

/* Write the line of r at o (room for line_bound bytes); returns its end. */
static char *format_at(const struct mw_querylog_rec *r, char *o, char *end)
{
    o = PUT_LIT(o, "{\"time\":");
    o = put_plain(o, last_ts, last_ts_len);
    o = PUT_LIT(o, ",\"client\":");
    if (r->family) {
        *o++ = '"';
        o = addr_text(r->family, r->client, o);
        *o++ = '"';
    } else {
        o = PUT_LIT(o, "null");
    }
    o = PUT_LIT(o, ",\"client_port\":");
    o = put_u32(o, r->client_port);
    if (r->tcp)
        o = PUT_LIT(o, ",\"transport\":\"tcp\",\"group\":");
    else
        o = PUT_LIT(o, ",\"transport\":\"udp\",\"group\":");
    o = r->group[0] ? put_text(o, end, r->group) : PUT_LIT(o, "\"\"");
    /* The echoed question, when the reply has one (a FORMERR for a query without one has not). */
    o = PUT_LIT(o, ",\"qname\":");
    bool has_q = r->pkt_len >= MW_DNS_HDR && mw_dns_get16(r->pkt + 4) > 0;
    size_t root = 0;
    char *q = has_q ? put_qname_fast(o, r->pkt, r->pkt_len, &root) : NULL;
    if (q)
        o = q;
    else if (has_q)
        o = put_qname_slow(o, end, r, &has_q);
    else
        o = PUT_LIT(o, "null");
    char tb[16], rb[16];
    o = PUT_LIT(o, ",\"qtype\":");
    if (r->qtype == 1) { /* the usual ones without a look-up */
        o = PUT_LIT(o, "\"A\"");
    } else if (r->qtype == 28) {
        o = PUT_LIT(o, "\"AAAA\"");
    } else if (has_q || r->qtype) {
        const char *t = mw_dnstext_type(r->qtype, tb, sizeof(tb));
        o = put_plain(o, t, strlen(t));
    } else {
        o = PUT_LIT(o, "null");
    }
    o = PUT_LIT(o, ",\"rcode\":");
    if (r->pkt_len >= 4) {
        const char *t = mw_dnstext_rcode(r->pkt[3] & 0x0f, rb, sizeof(rb));
        o = put_plain(o, t, strlen(t));
    } else {
        o = PUT_LIT(o, "null");
    }
    bool cut = false;
    o = put_answers(o, r, root, &cut);
    if (cut)
        o = PUT_LIT(o, ",\"answers_cut\":true");
    o = PUT_LIT(o, ",\"upstream\":");
    o = r->upstream[0] ? put_text(o, end, r->upstream) : PUT_LIT(o, "null");
    o = PUT_LIT(o, ",\"latency_ms\":");
    o = put_u32(o, r->latency_ms);
    o = PUT_LIT(o, ",\"cache\":");
    o = r->cache < sizeof(CACHE_LEN) ? put_plain(o, CACHE_NAMES[r->cache], CACHE_LEN[r->cache])
                                     : PUT_LIT(o, "\"?\"");
    o = PUT_LIT(o, ",\"verdict\":");
    o = r->verdict < sizeof(VERDICT_LEN)
            ? put_plain(o, VERDICT_NAMES[r->verdict], VERDICT_LEN[r->verdict])
            : PUT_LIT(o, "\"?\"");
    o = PUT_LIT(o, ",\"rule\":");
    if (r->has_rule) { /* a cut copy may end inside a UTF-8 sequence: cut 3 bytes earlier */
        struct mw_strbuf sb = {.b = o, .cap = (size_t)(end - o), .len = 0};
        mw_jsonw_strn(&sb, r->rule, r->rule_len, r->rule_cut ? (size_t)r->rule_len - 3 : SIZE_MAX,
                      NULL);
        o += sb.len;
    } else {
        o = PUT_LIT(o, "null");
    }
    return PUT_LIT(o, "}\n");
}

int mw_querylog_format(const struct mw_querylog_rec *r, uint64_t wall_ms, struct mw_strbuf *sb)
{
    if (wall_ms / 1000 != last_ts_ms / 1000 || last_ts_ms == UINT64_MAX) {
        if (mw_journal_timestamp(wall_ms, last_ts) < 0)
            last_ts[0] = 0;
        last_ts_len = strlen(last_ts);
        last_ts_ms = wall_ms;
    } else if (wall_ms != last_ts_ms && last_ts_len == MW_JOURNAL_TS_LEN - 1) {
        /* The same second: only the milliseconds ("...:SS.mmmZ") change. */
        unsigned ms = (unsigned)(wall_ms % 1000);
        last_ts[MW_JOURNAL_TS_LEN - 5] = (char)('0' + ms / 100);
        last_ts[MW_JOURNAL_TS_LEN - 4] = (char)('0' + ms / 10 % 10);
        last_ts[MW_JOURNAL_TS_LEN - 3] = (char)('0' + ms % 10);
        last_ts_ms = wall_ms;
    }
    size_t bound = line_bound(r);
    if (!sb->trunc && bound <= mw_strbuf_room(sb)) {
        char *o = sb->b + sb->len;
        o = format_at(r, o, o + bound + 1);
        sb->len = (size_t)(o - sb->b);
        sb->b[sb->len] = 0;
        return 0;
    }
    size_t mark = sb->len;
    char *o = format_at(r, scratch, scratch + sizeof(scratch));
    mw_strbuf_put(sb, scratch, (size_t)(o - scratch));
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
