/* dnstap frames written field by field (protobuf wire format: a key varint of
 * field_number << 3 | wire_type, then a varint, 4 little-endian bytes, or a length varint and
 * the bytes); see dnstap.h for why by hand. The field numbers are src/dnstap.proto's, which
 * are the public schema's; test_dnstap decodes the output with protobuf-c to keep them so. */
#include "minewall/dnstap.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "minewall/jsonw.h"
#include "minewall/strbuf.h"

/* Wire types. */
enum { VARINT = 0, LEN = 2, FIXED32 = 5 };
#define KEY(field, wt) ((uint8_t)((field) << 3 | (wt)))

/* Dnstap fields. */
enum { D_IDENTITY = 1, D_VERSION = 2, D_EXTRA = 3, D_MESSAGE = 14, D_TYPE = 15 };
#define D_TYPE_MESSAGE 1
/* Message fields. */
enum {
    M_TYPE = 1,
    M_FAMILY = 2,
    M_PROTOCOL = 3,
    M_QADDR = 4,
    M_RADDR = 5,
    M_QPORT = 6,
    M_RPORT = 7,
    M_QSEC = 8,
    M_QNSEC = 9,
    M_QMSG = 10,
    M_RSEC = 12,
    M_RNSEC = 13,
    M_RMSG = 14,
};
enum { FAMILY_INET = 1, FAMILY_INET6 = 2, PROTO_UDP = 1, PROTO_TCP = 2 };

/* Varints of the sizes minewall writes (ports, lengths, Unix seconds) in straight-line code:
 * this runs for every frame. */
static inline size_t varint_len(uint64_t v)
{
    return v < 1u << 7      ? 1
           : v < 1u << 14   ? 2
           : v < 1u << 21   ? 3
           : v < 1u << 28   ? 4
           : v < 1ull << 35 ? 5
                            : 5 + varint_len(v >> 35);
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Unix seconds: five bytes from 2^28 (1978) to 2^35 (year 3058), unrolled. */
static inline uint8_t *put_seconds(uint8_t *p, uint64_t v)
{
    if (v < 1u << 28 || v >= 1ull << 35)
        return put_varint(p, v);
    p[0] = (uint8_t)(v | 0x80);
    p[1] = (uint8_t)((v >> 7) | 0x80);
    p[2] = (uint8_t)((v >> 14) | 0x80);
    p[3] = (uint8_t)((v >> 21) | 0x80);
    p[4] = (uint8_t)(v >> 28);
    return p + 5;
}

/* A port or a length below 2^21: at most three bytes, no loop. */
static inline uint8_t *put_small(uint8_t *p, uint32_t v)
{
    if (v < 1u << 7) {
        p[0] = (uint8_t)v;
        return p + 1;
    }
    if (v < 1u << 14) {
        p[0] = (uint8_t)(v | 0x80);
        p[1] = (uint8_t)(v >> 7);
        return p + 2;
    }
    if (v < 1u << 21) {
        p[0] = (uint8_t)(v | 0x80);
        p[1] = (uint8_t)((v >> 7) | 0x80);
        p[2] = (uint8_t)(v >> 14);
        return p + 3;
    }
    return put_varint(p, v);
}

static inline uint8_t *put_bytes(uint8_t *p, unsigned field, const void *b, size_t n)
{
    *p++ = KEY(field, LEN);
    p = put_small(p, (uint32_t)n);
    memcpy(p, b, n);
    return p + n;
}

static inline uint8_t *put_fixed32(uint8_t *p, unsigned field, uint32_t v)
{
    *p++ = KEY(field, FIXED32);
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

/* A length-delimited field's size on the wire (all of minewall's keys are one byte). */
static inline size_t bytes_size(size_t n)
{
    return 1 + varint_len(n) + n;
}

void mw_dnstap_enc_init(struct mw_dnstap_enc *e, const char *identity, const char *version)
{
    /* Every frame starts with these bytes: Dnstap.type first (protobuf readers take fields
     * in any order), then identity and version; the Message goes last, where its length is
     * known. */
    uint8_t *p = e->head;
    *p++ = KEY(D_TYPE, VARINT);
    *p++ = D_TYPE_MESSAGE;
    const char *s[2] = {identity, version};
    for (unsigned i = 0; i < 2; i++) {
        size_t n = s[i] ? strlen(s[i]) : 0;
        if (n > MW_DNSTAP_IDENT_MAX)
            n = MW_DNSTAP_IDENT_MAX;
        if (n)
            p = put_bytes(p, i == 0 ? D_IDENTITY : D_VERSION, s[i], n);
    }
    e->head_len = (size_t)(p - e->head);
}

/* A sockaddr's family when it is one a frame carries (AF_INET, AF_INET6), else 0. */
static inline int family_of(const struct sockaddr *sa)
{
    return sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) ? sa->sa_family : 0;
}

/* An address field and its port field from sa (of family fam, AF_INET or AF_INET6). */
static inline uint8_t *put_side(uint8_t *p, const struct sockaddr *sa, int fam, unsigned addr_field,
                                unsigned port_field)
{
    uint16_t port;
    p[0] = KEY(addr_field, LEN);
    if (fam == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        p[1] = 4;
        memcpy(p + 2, &in->sin_addr, 4);
        p += 6;
        port = ntohs(in->sin_port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        p[1] = 16;
        memcpy(p + 2, &in6->sin6_addr, 16);
        p += 18;
        port = ntohs(in6->sin6_port);
    }
    *p++ = KEY(port_field, VARINT);
    return put_small(p, port);
}

_Static_assert(MW_DNSTAP_PRE_MAX >= 4 + 2 + 2 * (2 + 16 + 1 + 3), "a pre holds two IPv6 sides");

/* mw_dnstap_pre_init, inlined where a frame is encoded from sockaddrs. */
static inline __attribute__((always_inline)) void pre_fill(struct mw_dnstap_pre *pre,
                                                           enum mw_dnstap_type type, bool tcp,
                                                           const struct sockaddr *query_addr,
                                                           const struct sockaddr *response_addr)
{
    /* The peer's family (the client's, or the upstream's) is the message's, else the other
     * side's; a side of another family is left out. */
    int qf = family_of(query_addr), rf = family_of(response_addr);
    bool client = type == MW_DNSTAP_CLIENT_QUERY || type == MW_DNSTAP_CLIENT_RESPONSE;
    int fam = client ? (qf ? qf : rf) : (rf ? rf : qf);
    uint8_t *p = pre->b;
    p[0] = KEY(M_TYPE, VARINT);
    p[1] = (uint8_t)type;
    p[2] = KEY(M_PROTOCOL, VARINT);
    p[3] = tcp ? PROTO_TCP : PROTO_UDP;
    p += 4;
    if (fam) {
        p[0] = KEY(M_FAMILY, VARINT);
        p[1] = fam == AF_INET ? FAMILY_INET : FAMILY_INET6;
        p += 2;
        if (qf == fam)
            p = put_side(p, query_addr, fam, M_QADDR, M_QPORT);
        if (rf == fam)
            p = put_side(p, response_addr, fam, M_RADDR, M_RPORT);
    }
    pre->len = (uint8_t)(p - pre->b);
}

void mw_dnstap_pre_init(struct mw_dnstap_pre *pre, enum mw_dnstap_type type, bool tcp,
                        const struct sockaddr *query_addr, const struct sockaddr *response_addr)
{
    pre_fill(pre, type, tcp, query_addr, response_addr);
}

/* A Unix time's varint: five bytes in this era. */
static inline size_t seconds_len(uint64_t v)
{
    return v >= 1u << 28 && v < 1ull << 35 ? 5 : varint_len(v);
}

/* A query type (CLIENT_QUERY, FORWARDER_QUERY: odd), else a response. */
static inline bool is_query(enum mw_dnstap_type type)
{
    return type & 1;
}

/* A response that also carries its query's time. */
static inline bool has_qtime(const struct mw_dnstap_msg *m)
{
    return m->qtime_sec && !is_query(m->type);
}

/* The Message's length, and the frame's (*total), for pre's fields followed by m's. */
static inline __attribute__((always_inline)) size_t
lengths(const struct mw_dnstap_enc *e, size_t pre_len, const struct mw_dnstap_msg *m, size_t *total)
{
    size_t mlen = pre_len + 1 + seconds_len(m->time_sec) + 5 + bytes_size(m->dns_len);
    if (has_qtime(m))
        mlen += 1 + seconds_len(m->qtime_sec) + 5;
    size_t n = e->head_len + bytes_size(mlen);
    if (m->extra && m->extra_len)
        n += bytes_size(m->extra_len);
    *total = n;
    return mlen;
}

/* Fixed-size copies, no call: the head is copied as HEAD_COPY bytes and a pre as PRE_COPY
 * when they are no longer and the frame has that many bytes left from where they go (the
 * bytes past their end are then overwritten by the rest of the frame). */
#define HEAD_COPY 64
#define PRE_COPY MW_DNSTAP_PRE_MAX
_Static_assert(sizeof(((struct mw_dnstap_enc *)0)->head) >= HEAD_COPY, "head holds HEAD_COPY");
_Static_assert(sizeof(((struct mw_dnstap_pre *)0)->b) >= PRE_COPY, "a pre holds PRE_COPY");

/* The frame: head, extra, then the Message (pre's fields with m's type, the times, the DNS
 * message), for a query or a response (query: m->type's kind, a constant in each caller's
 * copy). Returns its length, or 0 when it does not fit in cap (nothing written then). The
 * usual frame fits by a bound worked out from the lengths alone, and its Message goes where
 * the length's varint would leave it by an estimate, moved in the rare case the varint takes
 * another size; only a frame near cap has its exact length worked out first. */
static inline __attribute__((always_inline)) size_t frame(const struct mw_dnstap_enc *e,
                                                          const uint8_t *pre, size_t pre_len,
                                                          const struct mw_dnstap_msg *m, bool query,
                                                          uint8_t *out, size_t cap)
{
    bool qt = !query && m->qtime_sec;
    bool extra = m->extra && m->extra_len;
    size_t guess; /* the Message length's varint */
    /* Every varint at its longest: lengths 3 bytes (put_small), times 10. */
    size_t bound = e->head_len + 4 + pre_len + 2 * 16 + 4 + m->dns_len;
    if (extra)
        bound += 4 + m->extra_len;
    if (bound <= cap) {
        size_t est = pre_len + 11 + (qt ? 11 : 0) + 2 + m->dns_len;
        guess = est < 1u << 7 ? 1 : est < 1u << 14 ? 2 : 3;
    } else {
        size_t total;
        guess = varint_len(lengths(e, pre_len, m, &total));
        if (total > cap)
            return 0;
    }
    /* The frame's shortest length from here, for the fixed-size copies. */
    size_t rest = 1 + 1 + pre_len + 7 + 1 + 1 + m->dns_len;
    uint8_t *p = out;
    if (e->head_len <= HEAD_COPY && e->head_len + rest >= HEAD_COPY)
        memcpy(p, e->head, HEAD_COPY);
    else
        memcpy(p, e->head, e->head_len);
    p += e->head_len;
    if (extra)
        p = put_bytes(p, D_EXTRA, m->extra, m->extra_len);
    *p++ = KEY(D_MESSAGE, LEN);
    uint8_t *body = p + guess, *q = body;
    if (pre_len <= PRE_COPY && rest - 2 >= PRE_COPY)
        memcpy(q, pre, PRE_COPY);
    else
        memcpy(q, pre, pre_len);
    q[1] = (uint8_t)m->type;
    q += pre_len;
    if (qt) {
        *q++ = KEY(M_QSEC, VARINT);
        q = put_seconds(q, m->qtime_sec);
        q = put_fixed32(q, M_QNSEC, m->qtime_nsec);
    }
    *q++ = KEY(query ? M_QSEC : M_RSEC, VARINT);
    q = put_seconds(q, m->time_sec);
    q = put_fixed32(q, query ? M_QNSEC : M_RNSEC, m->time_nsec);
    q = put_bytes(q, query ? M_QMSG : M_RMSG, m->dns, m->dns_len);
    size_t mlen = (size_t)(q - body);
    size_t k = varint_len(mlen);
    if (k != guess)
        memmove(p + k, body, mlen);
    p = put_small(p, (uint32_t)mlen);
    return (size_t)(p - out) + mlen;
}

/* frame() with the kind of m's type folded in. */
static inline __attribute__((always_inline)) size_t frame_any(const struct mw_dnstap_enc *e,
                                                              const uint8_t *pre, size_t pre_len,
                                                              const struct mw_dnstap_msg *m,
                                                              uint8_t *out, size_t cap)
{
    return is_query(m->type) ? frame(e, pre, pre_len, m, true, out, cap)
                             : frame(e, pre, pre_len, m, false, out, cap);
}

size_t mw_dnstap_size(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m)
{
    struct mw_dnstap_pre pre;
    pre_fill(&pre, m->type, m->tcp, m->query_addr, m->response_addr);
    size_t total;
    lengths(e, pre.len, m, &total);
    return total;
}

size_t mw_dnstap_encode(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m, uint8_t *out,
                        size_t cap)
{
    struct mw_dnstap_pre pre;
    pre_fill(&pre, m->type, m->tcp, m->query_addr, m->response_addr);
    return frame_any(e, pre.b, pre.len, m, out, cap);
}

size_t mw_dnstap_encode_keep(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m,
                             struct mw_dnstap_pre *keep, uint8_t *out, size_t cap)
{
    pre_fill(keep, m->type, m->tcp, m->query_addr, m->response_addr);
    return frame_any(e, keep->b, keep->len, m, out, cap);
}

size_t mw_dnstap_encode_pre(const struct mw_dnstap_enc *e, const struct mw_dnstap_pre *pre,
                            const struct mw_dnstap_msg *m, uint8_t *out, size_t cap)
{
    return frame_any(e, pre->b, pre->len, m, out, cap);
}

size_t mw_dnstap_pre_size(const struct mw_dnstap_enc *e, const struct mw_dnstap_pre *pre,
                          const struct mw_dnstap_msg *m)
{
    size_t total;
    lengths(e, pre->len, m, &total);
    return total;
}

size_t mw_dnstap_block_extra(char *buf, size_t cap, const struct mw_dnstap_block *b)
{
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, buf, cap);
    mw_strbuf_puts(&sb, "{\"verdict\":\"block\"");
    mw_jsonw_kstr(&sb, "list", b->list);
    mw_jsonw_kstr(&sb, "category", b->category);
    mw_jsonw_kstr(&sb, "rule", b->rule);
    mw_jsonw_kstr(&sb, "action", b->action);
    mw_jsonw_kstr(&sb, "where", b->where);
    mw_jsonw_kstr(&sb, "group", b->group);
    mw_strbuf_putc(&sb, '}');
    return sb.trunc ? 0 : sb.len;
}
