/* Query log records, their ring and their JSON lines; see querylog.h. The worker side is
 * copies only; everything that costs (names to text, addresses to text, the timestamp) happens
 * in mw_querylog_format on the writer thread. */
#include "minewall/querylog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
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

/* The one place a record is made: into ring (reserved there; NULL and counted when full) or,
 * without a ring, into dst. Inlined into both callers so that the worker's path is one frame
 * with the lengths in registers. */
static inline __attribute__((always_inline)) struct mw_querylog_rec *
record(struct mw_querylog_ring *ring, struct mw_querylog_rec *dst, const struct mw_querylog_note *n,
       const char *group, const struct sockaddr *client, bool tcp, uint16_t qtype,
       const uint8_t *pkt, size_t len, uint64_t now_ms)
{
    bool pkt_cut = len > MW_QUERYLOG_PKT_MAX;
    size_t pkt_len = pkt_cut ? MW_QUERYLOG_PKT_MAX : len;
    if (!group)
        group = "";
    size_t glen = strnlen(group, MW_QUERYLOG_LABEL_MAX - 1);
    size_t ulen = n->upstream ? strnlen(n->upstream, MW_QUERYLOG_LABEL_MAX - 1) : 0;
    const char *rule = NULL;
    size_t rlen = 0;
    bool rule_cut = false;
    if (n->v) { /* only the blocked and logged paths pay for the rule's text */
        rule = mw_verdict_rule_text(n->v);
        rlen = strnlen(rule, MW_QUERYLOG_RULE_MAX + 1);
        rule_cut = rlen > MW_QUERYLOG_RULE_MAX;
        if (rule_cut)
            rlen = MW_QUERYLOG_RULE_MAX;
    }
    size_t size = (sizeof(*dst) + pkt_len + glen + ulen + rlen + 7) & ~(size_t)7;
    struct mw_querylog_rec *r = ring ? mw_querylog_ring_reserve(ring, size) : dst;
    if (!r)
        return NULL;
    r->size = (uint16_t)size;
    r->pkt_len = (uint16_t)pkt_len;
    r->rule_len = (uint16_t)rlen;
    r->qtype = qtype;
    r->group_len = (uint8_t)glen;
    r->upstream_len = (uint8_t)ulen;
    r->cache = n->cache;
    r->verdict = n->verdict;
    r->tcp = tcp;
    r->pkt_cut = pkt_cut;
    r->rule_cut = rule_cut;
    r->has_rule = rule != NULL;
    r->mono_ms = now_ms;
    r->latency_ms = now_ms > n->start_ms ? (uint32_t)(now_ms - n->start_ms) : 0;
    if (client && client->sa_family == AF_INET) {
        const struct sockaddr_in *c = (const struct sockaddr_in *)client;
        r->family = AF_INET;
        memcpy(r->client, &c->sin_addr, 4);
        r->client_port = ntohs(c->sin_port);
    } else if (client && client->sa_family == AF_INET6) {
        const struct sockaddr_in6 *c = (const struct sockaddr_in6 *)client;
        r->family = AF_INET6;
        memcpy(r->client, &c->sin6_addr, 16);
        r->client_port = ntohs(c->sin6_port);
    } else {
        r->family = 0;
        r->client_port = 0;
    }
    uint8_t *d = r->data;
    memcpy(d, pkt, pkt_len);
    d += pkt_len;
    memcpy(d, group, glen);
    d += glen;
    if (ulen)
        memcpy(d, n->upstream, ulen);
    d += ulen;
    if (rlen)
        memcpy(d, rule, rlen);
    return r;
}

int mw_querylog_put(struct mw_querylog_ring *ring, const struct mw_querylog_note *n,
                    const char *group, const struct sockaddr *client, bool tcp, uint16_t qtype,
                    const uint8_t *pkt, size_t len, uint64_t now_ms)
{
    struct mw_querylog_rec *r = record(ring, NULL, n, group, client, tcp, qtype, pkt, len, now_ms);
    if (!r)
        return -ENOBUFS;
    uint64_t queued = mw_querylog_ring_commit(ring, r);
    /* One wake-up when the queue crosses the mark, not one per record. */
    return queued >= ring->wake && queued - r->size < ring->wake;
}

void mw_querylog_make(struct mw_querylog_rec *r, const struct mw_querylog_note *n,
                      const char *group, const struct sockaddr *client, bool tcp, uint16_t qtype,
                      const uint8_t *pkt, size_t len, uint64_t now_ms)
{
    record(NULL, r, n, group, client, tcp, qtype, pkt, len, now_ms);
}

/* The line is written through a raw pointer into a buffer the caller guarantees holds
 * MW_QUERYLOG_LINE_MAX bytes (the bound below): no bound check per field. Fixed text goes in
 * as literals of known length, numbers and addresses by table, and what is the same from line
 * to line (the time up to its milliseconds, the rcode and the cache/verdict/rule keys) is kept
 * ready as text: the appends, checks and calls were most of a line's cost. */
#define PUT_LIT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

/* "00".."99": two digits per step. */
#define D2(t) #t "0" #t "1" #t "2" #t "3" #t "4" #t "5" #t "6" #t "7" #t "8" #t "9"
static const char DIGITS2[201] = D2(0) D2(1) D2(2) D2(3) D2(4) D2(5) D2(6) D2(7) D2(8) D2(9);

/* Digits written backwards straight into place, two per step, after counting them. Building
 * them in a temp and copying 16 bytes out read back bytes just stored two at a time, which
 * the store buffer cannot forward: put_u32 took a third of the writer's user time (perf) for
 * a twelfth of its instructions. */
static char *put_u32(char *o, uint32_t v)
{
    unsigned n = v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : 5;
    for (uint64_t p = 100000; v >= p; p *= 10) /* rare: a latency of 100 s or more */
        n++;
    char *p = o + n;
    while (v >= 100) {
        p -= 2;
        memcpy(p, DIGITS2 + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10)
        memcpy(p - 2, DIGITS2 + 2 * v, 2);
    else
        p[-1] = (char)('0' + v);
    return o + n;
}

/* A quoted value that needs no escaping (addresses, mnemonics, times). */
static char *put_plain(char *o, const char *s, size_t n)
{
    *o++ = '"';
    memcpy(o, s, n);
    o[n] = '"';
    return o + n + 1;
}

/* Eight bytes checked at once (SWAR): each helper sets the high bit of every byte of x that is
 * in [lo, hi], for bytes below 0x80 (a byte at or above it carries into its neighbour, so the
 * callers also demand a clear high bit, which fails the word as it should). Words are read
 * past the text checked (the record's buffer has MW_QUERYLOG_REC_PAD bytes after it) and the
 * bytes past the end masked off. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static inline uint64_t in_range(uint64_t x, unsigned lo, unsigned hi)
{
    return (x + ONES * (0x80 - lo)) & ~(x + ONES * (0x7f - hi)) & HIGHS;
}

static inline uint64_t load8(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The first n (< 8) bytes of a word; all for n >= 8 (little-endian: they are the low ones). */
static inline uint64_t low_bytes(size_t n)
{
    return n >= 8 ? ~0ULL : (1ULL << (8 * n)) - 1;
}

/* Whether the n bytes at a and b are the same, 8 at a time (both readable 8 past n). */
static inline bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64_t d = 0;
    for (size_t i = 0; i < n; i += 8)
        d |= (load8(a + i) ^ load8(b + i)) & low_bytes(n - i);
    return d == 0;
}

/* Whether the word's first n bytes are name text as they are: [a-z0-9-] (NAME_TEXT maps
 * them to themselves; '_', '*', capitals and the rest take the byte-by-byte way). */
static inline bool name_plain8(uint64_t x, size_t n)
{
    uint64_t ok = (in_range(x, 'a', 'z') | in_range(x, '0', '9') | in_range(x, '-', '-')) & ~x;
    uint64_t m = low_bytes(n) & HIGHS;
    return (ok & m) == m;
}

/* Whether the word's first n bytes go into a JSON string as they are: printable ASCII but
 * quote and backslash. */
static inline bool json_plain8(uint64_t x, size_t n)
{
    uint64_t ok = in_range(x, 0x20, 0x7e) & ~in_range(x, '"', '"') & ~in_range(x, '\\', '\\') & ~x;
    uint64_t m = low_bytes(n) & HIGHS;
    return (ok & m) == m;
}

/* A quoted string from outside (group, upstream label: n bytes at s): copied when nothing in
 * it needs escaping, which is the common case, else through the JSON writer. The check is a
 * loop of loads with no store in it (a store through char * would make every load wait). */
static char *put_text(char *o, const uint8_t *s, size_t n)
{
    *o = '"';
    bool ok = true;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = load8(s + i);
        ok &= json_plain8(w, n - i);
        memcpy(o + 1 + i, &w, 8);
    }
    if (ok) {
        o[n + 1] = '"';
        return o + n + 2;
    }
    struct mw_strbuf sb = {.b = o, .cap = 6 * n + 3, .len = 0};
    mw_jsonw_strn(&sb, (const char *)s, n, SIZE_MAX, NULL);
    return o + sb.len;
}

/* Octets 0-255 as decimal text and a dot, built by the preprocessor: the digits, the dot
 * (4 bytes copied at once: the ones past the dot are overwritten next) and the count. */
struct dec3 {
    char d[4];
    uint8_t n;
};
#define DEC3_D0(v) ((v) >= 100 ? '0' + (v) / 100 : (v) >= 10 ? '0' + (v) / 10 : '0' + (v))
#define DEC3_D1(v) ((v) >= 100 ? '0' + (v) / 10 % 10 : (v) >= 10 ? '0' + (v) % 10 : '.')
#define DEC3_D2(v) ((v) >= 100 ? '0' + (v) % 10 : (v) >= 10 ? '.' : 0)
#define DEC3_D3(v) ((v) >= 100 ? '.' : 0)
#define DEC3(v)                                                                                    \
    {                                                                                              \
        {DEC3_D0(v), DEC3_D1(v), DEC3_D2(v), DEC3_D3(v)}, (v) >= 100 ? 4 : (v) >= 10 ? 3 : 2       \
    }
#define DEC3_4(v) DEC3(v), DEC3(v + 1), DEC3(v + 2), DEC3(v + 3)
#define DEC3_16(v) DEC3_4(v), DEC3_4(v + 4), DEC3_4(v + 8), DEC3_4(v + 12)
#define DEC3_64(v) DEC3_16(v), DEC3_16(v + 16), DEC3_16(v + 32), DEC3_16(v + 48)
static const struct dec3 DEC[256] = {DEC3_64(0), DEC3_64(64), DEC3_64(128), DEC3_64(192)};

/* a.b.c.d; returns its end. The last octet's dot and the 3 bytes after it may be written. */
static char *ipv4_text(const uint8_t *a, char *o)
{
    const struct dec3 *d0 = &DEC[a[0]], *d1 = &DEC[a[1]], *d2 = &DEC[a[2]], *d3 = &DEC[a[3]];
    memcpy(o, d0->d, 4);
    o += d0->n;
    memcpy(o, d1->d, 4);
    o += d1->n;
    memcpy(o, d2->d, 4);
    o += d2->n;
    memcpy(o, d3->d, 4);
    return o + d3->n - 1;
}

static const char HEX[] = "0123456789abcdef";

/* One 16-bit field in hex without leading zeros. */
static char *hex16(char *o, unsigned w)
{
    if (w >= 0x1000)
        *o++ = HEX[w >> 12];
    if (w >= 0x100)
        *o++ = HEX[(w >> 8) & 15];
    if (w >= 0x10)
        *o++ = HEX[(w >> 4) & 15];
    *o++ = HEX[w & 15];
    return o;
}

/* IPv6 as glibc's inet_ntop writes it (RFC 5952): the first longest run of two or more zero
 * fields as "::", and the last 32 bits as a.b.c.d after ::ffff: or after six zero fields
 * (the IPv4-compatible form). inet_ntop went through sprintf per field. */
static char *ipv6_text(const uint8_t *a, char *o)
{
    unsigned w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i < 8; i++) {
        if (w[i] == 0) {
            if (cur < 0)
                cur = i, cur_len = 0;
            if (++cur_len > best_len)
                best = cur, best_len = cur_len;
        } else {
            cur = -1;
        }
    }
    if (best_len < 2)
        best = -1;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best)
                *o++ = ':';
            continue;
        }
        if (i)
            *o++ = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)))
            return ipv4_text(a + 12, o);
        o = hex16(o, w[i]);
    }
    if (best >= 0 && best + best_len == 8)
        *o++ = ':';
    return o;
}

char *mw_querylog_addr_text(int af, const uint8_t *a, char *o)
{
    return af == AF_INET ? ipv4_text(a, o) : ipv6_text(a, o);
}

/* The addresses of "answers":[...] and its ']' from the A and AAAA records of the answer section. A
 * cut copy ends the walk at the first record that runs past it; *cut then says so. */
static char *put_answers(char *o, const struct mw_querylog_rec *r, size_t root, bool *cut)
{
    struct mw_dns_iter it;
    struct mw_dns_rr rr;
    unsigned n = 0;
    int rc = 0;
    /* The single question's name was walked already (root: its last octet, else 0): the
     * iterator starts after it, as mw_dns_iter_init would. */
    const uint8_t *pkt = r->data;
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
            o = af == AF_INET ? ipv4_text(pkt + rr.rdata, o) : ipv6_text(pkt + rr.rdata, o);
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
/* The octets that are their own text: [a-z0-9-_*]. */
#define NAME_SM(c) ((c) && NAME_CH(c) == (c))
#define NAME_SM4(c) NAME_SM(c), NAME_SM(c + 1), NAME_SM(c + 2), NAME_SM(c + 3)
#define NAME_SM16(c) NAME_SM4(c), NAME_SM4(c + 4), NAME_SM4(c + 8), NAME_SM4(c + 12)
#define NAME_SM64(c) NAME_SM16(c), NAME_SM16(c + 16), NAME_SM16(c + 32), NAME_SM16(c + 48)
static const bool NAME_SAME[256] = {NAME_SM64(0), NAME_SM64(64), NAME_SM64(128), NAME_SM64(192)};

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
        /* Copied as it is and checked: a label of [a-z0-9-_*], nearly every one, is then
         * done. Long labels 8 bytes at a time, short ones by table with no store in the loop
         * (a store through char * would make every load wait). */
        const uint8_t *lab = pkt + pos + 1;
        bool same = true;
        if (l >= 8) {
            for (unsigned i = 0; i < l; i += 8) {
                uint64_t w = load8(lab + i);
                same &= name_plain8(w, l - i);
                memcpy(o + i, &w, 8);
            }
        } else {
            memcpy(o, lab, 8);
            for (unsigned i = 0; i < l; i++)
                same &= NAME_SAME[lab[i]];
        }
        if (same) {
            o += l;
        } else {
            for (unsigned i = 0; i < l; i++) {
                uint8_t c = lab[i];
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
static char *put_qname_slow(char *o, const struct mw_querylog_rec *r, bool *ok)
{
    uint8_t qname[MW_DNAME_MAX + 1];
    char qtext[MW_DNAME_MAX * 4 + 2];
    size_t off = MW_DNS_HDR;
    int wl = mw_dname_unpack(r->data, r->pkt_len, &off, qname, sizeof(qname));
    int ql = wl > 0 ? mw_dname_to_text(qname, (size_t)wl, qtext, sizeof(qtext)) : -1;
    *ok = wl > 0;
    struct mw_strbuf sb = {.b = o, .cap = 2 * sizeof(qtext) + 3, .len = 0};
    mw_jsonw_str(&sb, ql >= 0 ? qtext : NULL);
    return o + sb.len;
}

/* The most bytes a line can take: fixed parts (keys, time, client, port, mnemonics, numbers)
 * within 512; escaped text 6 bytes per byte at most (\u00XX); the name 5 per octet (\\DDD)
 * and its dots; the addresses. */
#define FIXED_MAX 512
#define NAME_MAX_TEXT (MW_DNAME_MAX * 5 + 4)
#define ANSWERS_MAX_TEXT (MW_QUERYLOG_ANSWERS_MAX * (INET6_ADDRSTRLEN + 3) + 32)
_Static_assert(FIXED_MAX + 2 * 6 * MW_QUERYLOG_LABEL_MAX + 6 * MW_QUERYLOG_RULE_MAX + 8 +
                       NAME_MAX_TEXT + ANSWERS_MAX_TEXT <
                   MW_QUERYLOG_LINE_MAX,
               "MW_QUERYLOG_LINE_MAX holds any line");

/* Text that stays the same from line to line, kept per thread (the writer is one): the time
 * as `{"time":"...","client":` up to its second, the rcode mnemonics, and the keys and values
 * from "cache" to "rule" for each pair of cache and verdict. */
#define TS_PRE "{\"time\":\""
#define TS_POST "\",\"client\":"
#define TS_FULL (sizeof(TS_PRE) - 1 + MW_JOURNAL_TS_LEN - 1 + sizeof(TS_POST) - 1)
#define N_CACHE (sizeof(CACHE_NAMES) / sizeof(CACHE_NAMES[0]))
#define N_VERDICT (sizeof(VERDICT_NAMES) / sizeof(VERDICT_NAMES[0]))
struct text {
    char s[64];
    uint8_t n;
};
/* A string of the record (group, upstream) and its line text, kept while the next line's is
 * the same; flag is another byte of the key (the group's transport). */
struct kept_str {
    uint8_t len, flag;
    uint16_t text_len;
    uint8_t key[MW_QUERYLOG_LABEL_MAX + 8];
    char text[6 * MW_QUERYLOG_LABEL_MAX + 128];
};

static __thread struct {
    bool ready;
    uint64_t ts_ms; /* the time of ts, UINT64_MAX for none */
    char ts[TS_FULL + 8];
    size_t ts_len;
    struct text rcode[16];
    struct text tail[N_CACHE][N_VERDICT];
    struct text qtype_rcode[2][16]; /* ,"qtype":"A","rcode":"NOERROR","answers":[ and AAAA */
    struct text tail_null[N_CACHE][N_VERDICT]; /* the tail with "rule":null}\n */
    /* The last client's address as text with its quotes and the port's key: a client asks
     * many times in a row. */
    uint8_t client_af, client_addr[16 + 8];
    struct text client;
    struct kept_str group; /* the text from "transport" to "qname", by group and transport */
    struct kept_str up;    /* the upstream's, from its key to the latency's */
} kept;

static inline bool kept_same(const struct kept_str *k, const uint8_t *v, uint8_t n, uint8_t flag)
{
    return n == k->len && flag == k->flag && same_bytes(v, k->key, n);
}

/* k's text was written up to end: keep it for the key v[0..n), flag. */
static void kept_set(struct kept_str *k, const uint8_t *v, uint8_t n, uint8_t flag, const char *end)
{
    k->text_len = (uint16_t)(end - k->text);
    k->len = n;
    k->flag = flag;
    memset(k->key, 0, sizeof(k->key));
    memcpy(k->key, v, n);
}

static inline char *put_kept_str(char *o, const struct kept_str *k)
{
    if (k->text_len <= 64)
        memcpy(o, k->text, 64); /* a fixed-size copy, no call: the line goes on after it */
    else
        memcpy(o, k->text, k->text_len);
    return o + k->text_len;
}

static void text_set(struct text *t, const char *a, const char *b, const char *c)
{
    int n = snprintf(t->s, sizeof(t->s), "%s%s%s", a, b, c);
    t->n = (uint8_t)(n > 0 && (size_t)n < sizeof(t->s) ? n : 0);
}

static void kept_init(void)
{
    char b[16];
    for (unsigned i = 0; i < 16; i++) {
        const char *rc = mw_dnstext_rcode(i, b, sizeof(b));
        text_set(&kept.rcode[i], "\"", rc, "\"");
        text_set(&kept.qtype_rcode[0][i], ",\"qtype\":\"A\",\"rcode\":\"", rc, "\",\"answers\":[");
        text_set(&kept.qtype_rcode[1][i], ",\"qtype\":\"AAAA\",\"rcode\":\"", rc,
                 "\",\"answers\":[");
    }
    for (unsigned c = 0; c < N_CACHE; c++) {
        for (unsigned v = 0; v < N_VERDICT; v++) {
            char cv[40];
            snprintf(cv, sizeof(cv), "%s\",\"verdict\":\"%s", CACHE_NAMES[c], VERDICT_NAMES[v]);
            text_set(&kept.tail[c][v], ",\"cache\":\"", cv, "\",\"rule\":");
            text_set(&kept.tail_null[c][v], ",\"cache\":\"", cv, "\",\"rule\":null}\n");
        }
    }
    kept.ts_ms = UINT64_MAX;
    kept.client_af = 0xff;
    kept.group.len = 0xff;
    kept.up.len = 0xff;
    kept.ready = true;
}

/* Bring the kept time text to wall_ms: all of it on a new second, else its milliseconds. */
static void kept_time(uint64_t wall_ms)
{
    if (wall_ms == kept.ts_ms)
        return;
    const size_t at = sizeof(TS_PRE) - 1;
    if (kept.ts_ms == UINT64_MAX || wall_ms / 1000 != kept.ts_ms / 1000 || kept.ts_len != TS_FULL) {
        char t[MW_JOURNAL_TS_LEN];
        if (mw_journal_timestamp(wall_ms, t) < 0)
            t[0] = 0;
        size_t tl = strlen(t);
        memcpy(kept.ts, TS_PRE, at);
        memcpy(kept.ts + at, t, tl);
        memcpy(kept.ts + at + tl, TS_POST, sizeof(TS_POST) - 1);
        kept.ts_len = at + tl + sizeof(TS_POST) - 1;
    } else { /* the same second: only "mmm" of "...:SS.mmmZ" changes */
        unsigned ms = (unsigned)(wall_ms % 1000);
        char *m = kept.ts + at + MW_JOURNAL_TS_LEN - 5;
        m[0] = (char)('0' + ms / 100);
        memcpy(m + 1, DIGITS2 + 2 * (ms % 100), 2);
    }
    kept.ts_ms = wall_ms;
}

/* Copy the kept text t (its whole buffer: one fixed-size copy) and step past its length. */
#define PUT_KEPT(o, t) (memcpy((o), (t)->s, sizeof((t)->s)), (o) + (t)->n)

char *mw_querylog_format_at(const struct mw_querylog_rec *r, uint64_t wall_ms, char *o)
{
    if (!kept.ready)
        kept_init();
    kept_time(wall_ms);
    if (kept.ts_len == TS_FULL) {
        memcpy(o, kept.ts, TS_FULL);
        o += TS_FULL;
    } else {
        memcpy(o, kept.ts, kept.ts_len);
        o += kept.ts_len;
    }
    if (r->family) {
        if (r->family != kept.client_af || !same_bytes(r->client, kept.client_addr, 16)) {
            char *t = kept.client.s;
            *t++ = '"';
            t = r->family == AF_INET ? ipv4_text(r->client, t) : ipv6_text(r->client, t);
            t = PUT_LIT(t, "\",\"client_port\":");
            kept.client.n = (uint8_t)(t - kept.client.s);
            kept.client_af = r->family;
            memcpy(kept.client_addr, r->client, 16);
        }
        o = PUT_KEPT(o, &kept.client);
    } else {
        o = PUT_LIT(o, "null,\"client_port\":");
    }
    o = put_u32(o, r->client_port);
    const uint8_t *pkt = r->data, *group = pkt + r->pkt_len, *up = group + r->group_len;
    /* ,"transport":...,"group":...,"qname": as on the line before, unless transport or group
     * changed. */
    if (!kept_same(&kept.group, group, r->group_len, r->tcp)) {
        char *t = kept.group.text;
        t = r->tcp ? PUT_LIT(t, ",\"transport\":\"tcp\",\"group\":")
                   : PUT_LIT(t, ",\"transport\":\"udp\",\"group\":");
        t = put_text(t, group, r->group_len);
        t = PUT_LIT(t, ",\"qname\":");
        kept_set(&kept.group, group, r->group_len, r->tcp, t);
    }
    o = put_kept_str(o, &kept.group);
    /* The echoed question, when the reply has one (a FORMERR for a query without one has not). */
    bool has_q = r->pkt_len >= MW_DNS_HDR && mw_dns_get16(pkt + 4) > 0;
    size_t root = 0;
    char *q = has_q ? put_qname_fast(o, pkt, r->pkt_len, &root) : NULL;
    if (q)
        o = q;
    else if (has_q)
        o = put_qname_slow(o, r, &has_q);
    else
        o = PUT_LIT(o, "null");
    if ((r->qtype == 1 || r->qtype == 28) && r->pkt_len >= 4) { /* the usual ones, kept whole */
        o = PUT_KEPT(o, &kept.qtype_rcode[r->qtype == 28][pkt[3] & 0x0f]);
    } else {
        o = PUT_LIT(o, ",\"qtype\":");
        if (has_q || r->qtype) {
            char tb[16];
            const char *t = mw_dnstext_type(r->qtype, tb, sizeof(tb));
            o = put_plain(o, t, strlen(t));
        } else {
            o = PUT_LIT(o, "null");
        }
        o = PUT_LIT(o, ",\"rcode\":");
        if (r->pkt_len >= 4) {
            const struct text *t = &kept.rcode[pkt[3] & 0x0f];
            memcpy(o, t->s, 16); /* every one within 16 bytes */
            o += t->n;
        } else {
            o = PUT_LIT(o, "null");
        }
        o = PUT_LIT(o, ",\"answers\":[");
    }
    bool cut = false;
    o = put_answers(o, r, root, &cut);
    if (cut)
        o = PUT_LIT(o, ",\"answers_cut\":true");
    if (r->upstream_len) { /* kept as the group is: a few upstreams answer everything */
        if (!kept_same(&kept.up, up, r->upstream_len, 0)) {
            char *t = PUT_LIT(kept.up.text, ",\"upstream\":");
            t = put_text(t, up, r->upstream_len);
            t = PUT_LIT(t, ",\"latency_ms\":");
            kept_set(&kept.up, up, r->upstream_len, 0, t);
        }
        o = put_kept_str(o, &kept.up);
    } else {
        o = PUT_LIT(o, ",\"upstream\":null,\"latency_ms\":");
    }
    o = put_u32(o, r->latency_ms);
    if (r->cache < N_CACHE && r->verdict < N_VERDICT) {
        if (!r->has_rule)
            return PUT_KEPT(o, &kept.tail_null[r->cache][r->verdict]);
        o = PUT_KEPT(o, &kept.tail[r->cache][r->verdict]);
    } else {
        o = PUT_LIT(o, ",\"cache\":");
        o = put_plain(o, mw_querylog_cache_name(r->cache),
                      strlen(mw_querylog_cache_name(r->cache)));
        o = PUT_LIT(o, ",\"verdict\":");
        o = put_plain(o, mw_querylog_verdict_name(r->verdict),
                      strlen(mw_querylog_verdict_name(r->verdict)));
        o = PUT_LIT(o, ",\"rule\":");
    }
    if (r->has_rule) { /* a cut copy may end inside a UTF-8 sequence: cut 3 bytes earlier */
        struct mw_strbuf sb = {.b = o, .cap = 6 * MW_QUERYLOG_RULE_MAX + 3, .len = 0};
        mw_jsonw_strn(&sb, (const char *)up + r->upstream_len, r->rule_len,
                      r->rule_cut ? (size_t)r->rule_len - 3 : SIZE_MAX, NULL);
        o += sb.len;
    } else {
        o = PUT_LIT(o, "null");
    }
    return PUT_LIT(o, "}\n");
}

/* Where a line goes when the caller's buffer may not hold the longest line. */
static __thread char scratch[MW_QUERYLOG_LINE_MAX];

int mw_querylog_format(const struct mw_querylog_rec *r, uint64_t wall_ms, struct mw_strbuf *sb)
{
    if (!sb->trunc && mw_strbuf_room(sb) >= MW_QUERYLOG_LINE_MAX) {
        char *o = mw_querylog_format_at(r, wall_ms, sb->b + sb->len);
        sb->len = (size_t)(o - sb->b);
        sb->b[sb->len] = 0;
        return 0;
    }
    size_t mark = sb->len;
    char *o = mw_querylog_format_at(r, wall_ms, scratch);
    mw_strbuf_put(sb, scratch, (size_t)(o - scratch));
    if (sb->trunc) {
        mw_strbuf_rewind(sb, mark);
        return -ENOSPC;
    }
    return 0;
}

int mw_querylog_ring_init(struct mw_querylog_ring *r, uint32_t want)
{
    uint64_t bytes = (uint64_t)want * MW_QUERYLOG_REC_AVG;
    uint32_t cap = 4096;
    while (cap < bytes && cap < (1u << 30))
        cap <<= 1;
    memset(r, 0, sizeof(*r));
    r->buf = malloc((size_t)cap + MW_QUERYLOG_REC_MAX + MW_QUERYLOG_REC_PAD);
    if (!r->buf)
        return -ENOMEM;
    r->cap = cap;
    /* The writer is woken at 64 KiB queued (or half a smaller ring): it then reads records
     * the worker wrote moments ago, still in the caches, and writes a few hundred lines. */
    r->wake = cap / 2 < (64u << 10) ? cap / 2 : (64u << 10);
    return 0;
}

void mw_querylog_ring_deinit(struct mw_querylog_ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = 0;
}
