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

/* An IP address field: 4 or 16 bytes, copied with a fixed-size copy. */
static inline uint8_t *put_addr(uint8_t *p, unsigned field, const uint8_t *a, size_t alen)
{
    p[0] = KEY(field, LEN);
    p[1] = (uint8_t)alen;
    if (alen == 4)
        memcpy(p + 2, a, 4);
    else
        memcpy(p + 2, a, 16);
    return p + 2 + alen;
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

/* An address and its port, from a sockaddr of the message's family. */
struct side {
    const uint8_t *addr; /* NULL: left out */
    uint32_t alen, port;
};

static inline int side_of(const struct sockaddr *sa, int family, struct side *s)
{
    if (sa && sa->sa_family == AF_INET && family != AF_INET6) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        *s = (struct side){(const uint8_t *)&in->sin_addr, 4, ntohs(in->sin_port)};
        return AF_INET;
    }
    if (sa && sa->sa_family == AF_INET6 && family != AF_INET) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        *s = (struct side){(const uint8_t *)&in6->sin6_addr, 16, ntohs(in6->sin6_port)};
        return AF_INET6;
    }
    *s = (struct side){NULL, 0, 0};
    return family;
}

/* An address field and its port field, as the Message holds them. */
static inline size_t side_size(const struct side *s)
{
    return s->addr ? 2 + s->alen + 1 + (s->port < 1u << 7 ? 1 : s->port < 1u << 14 ? 2 : 3) : 0;
}

/* A Unix time's varint: five bytes in this era. */
static inline size_t seconds_len(uint64_t v)
{
    return v >= 1u << 28 && v < 1ull << 35 ? 5 : varint_len(v);
}

/* A response that also carries its query's time. */
static inline bool has_qtime(const struct mw_dnstap_msg *m, enum mw_dnstap_type type)
{
    return m->qtime_sec &&
           (type == MW_DNSTAP_CLIENT_RESPONSE || type == MW_DNSTAP_FORWARDER_RESPONSE);
}

/* Everything of a frame but the Message's fields, worked out by arithmetic only. */
struct layout {
    struct side q, r;
    int fam;
    size_t mlen;  /* the Message's bytes */
    size_t total; /* the frame's */
};

/* The message's family and its two sides. */
static inline __attribute__((always_inline)) void sides(const struct mw_dnstap_msg *m,
                                                        enum mw_dnstap_type type, struct layout *L)
{
    /* The peer's family (the client's, or the upstream's) is the message's. */
    if (type == MW_DNSTAP_CLIENT_QUERY || type == MW_DNSTAP_CLIENT_RESPONSE) {
        L->fam = side_of(m->query_addr, 0, &L->q);
        L->fam = side_of(m->response_addr, L->fam, &L->r);
    } else {
        L->fam = side_of(m->response_addr, 0, &L->r);
        L->fam = side_of(m->query_addr, L->fam, &L->q);
    }
}

static inline __attribute__((always_inline)) void
plan(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m, struct layout *L)
{
    sides(m, m->type, L);
    /* type, protocol and family (one-byte values), the two sides, time (seconds as a
     * five-byte varint in this era), nanoseconds, the DNS message. */
    size_t n = 4 + (L->fam ? 2 : 0) + side_size(&L->q) + side_size(&L->r);
    n += 1 + seconds_len(m->time_sec) + 5 + bytes_size(m->dns_len);
    if (has_qtime(m, m->type))
        n += 1 + seconds_len(m->qtime_sec) + 5;
    L->mlen = n;
    L->total = e->head_len + bytes_size(n);
    if (m->extra && m->extra_len)
        L->total += bytes_size(m->extra_len);
}

/* The head is copied as this many bytes when it is no longer (usual identities): past its
 * end the bytes are overwritten by the rest of the frame, which is always longer (at least
 * HEAD_COPY, see frame_bound). */
#define HEAD_COPY 64
_Static_assert(sizeof(((struct mw_dnstap_enc *)0)->head) >= HEAD_COPY, "head holds HEAD_COPY");

/* At least the frame's size, from lengths only: both sides as IPv6 with 3-byte ports, every
 * varint at its longest. */
static inline size_t frame_bound(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m)
{
    size_t n =
        e->head_len + 1 + 10 + 6 + 2 * (2 + 16 + 1 + 3) + 2 * (1 + 10 + 5) + 1 + 10 + m->dns_len;
    return m->extra && m->extra_len ? n + 1 + 10 + m->extra_len : n;
}

size_t mw_dnstap_size(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m)
{
    struct layout L;
    plan(e, m, &L);
    return L.total;
}

static inline uint8_t *put_side(uint8_t *p, const struct side *s, unsigned addr_field,
                                unsigned port_field)
{
    p = put_addr(p, addr_field, s->addr, s->alen);
    *p++ = KEY(port_field, VARINT);
    return put_small(p, s->port);
}

/* The Message's fields at p; returns their end. */
static inline __attribute__((always_inline)) uint8_t *put_message(uint8_t *p,
                                                                  const struct mw_dnstap_msg *m,
                                                                  enum mw_dnstap_type type,
                                                                  const struct layout *L)
{
    p[0] = KEY(M_TYPE, VARINT);
    p[1] = (uint8_t)type;
    p[2] = KEY(M_PROTOCOL, VARINT);
    p[3] = m->tcp ? PROTO_TCP : PROTO_UDP;
    p += 4;
    if (L->fam) {
        p[0] = KEY(M_FAMILY, VARINT);
        p[1] = L->fam == AF_INET ? FAMILY_INET : FAMILY_INET6;
        p += 2;
    }
    if (L->q.addr)
        p = put_side(p, &L->q, M_QADDR, M_QPORT);
    if (L->r.addr)
        p = put_side(p, &L->r, M_RADDR, M_RPORT);
    bool query = type == MW_DNSTAP_CLIENT_QUERY || type == MW_DNSTAP_FORWARDER_QUERY;
    if (has_qtime(m, type)) {
        *p++ = KEY(M_QSEC, VARINT);
        p = put_seconds(p, m->qtime_sec);
        p = put_fixed32(p, M_QNSEC, m->qtime_nsec);
    }
    *p++ = KEY(query ? M_QSEC : M_RSEC, VARINT);
    p = put_seconds(p, m->time_sec);
    p = put_fixed32(p, query ? M_QNSEC : M_RNSEC, m->time_nsec);
    return put_bytes(p, query ? M_QMSG : M_RMSG, m->dns, m->dns_len);
}

/* The usual frame (it fits in cap by frame_bound), for a type known at compile time: each of
 * the four copies has the type's branches folded away. The Message's fields go where the
 * length's varint would leave them by an estimate (ports taken as 2 bytes), without working
 * out that length exactly first, and move in the rare case the varint takes another size. */
static inline __attribute__((always_inline)) size_t encode_as(const struct mw_dnstap_enc *e,
                                                              const struct mw_dnstap_msg *m,
                                                              enum mw_dnstap_type type,
                                                              uint8_t *out)
{
    struct layout L;
    uint8_t *p = out;
    sides(m, type, &L);
    size_t est = 4 + (L.fam ? 2 : 0) + (L.q.addr ? 6 + L.q.alen : 0) +
                 (L.r.addr ? 6 + L.r.alen : 0) + 11 + bytes_size(m->dns_len) +
                 (has_qtime(m, type) ? 11 : 0);
    size_t guess = varint_len(est);
    if (e->head_len <= HEAD_COPY)
        memcpy(p, e->head, HEAD_COPY); /* a fixed-size copy, no call: the frame is longer */
    else
        memcpy(p, e->head, e->head_len);
    p += e->head_len;
    if (m->extra && m->extra_len)
        p = put_bytes(p, D_EXTRA, m->extra, m->extra_len);
    *p++ = KEY(D_MESSAGE, LEN);
    uint8_t *body = p + guess;
    size_t mlen = (size_t)(put_message(body, m, type, &L) - body);
    size_t k = varint_len(mlen);
    if (k != guess)
        memmove(p + k, body, mlen);
    p = put_small(p, (uint32_t)mlen);
    return (size_t)(p - out) + mlen;
}

size_t mw_dnstap_encode(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m, uint8_t *out,
                        size_t cap)
{
    if (frame_bound(e, m) <= cap) {
        switch (m->type) {
        case MW_DNSTAP_CLIENT_QUERY:
            return encode_as(e, m, MW_DNSTAP_CLIENT_QUERY, out);
        case MW_DNSTAP_CLIENT_RESPONSE:
            return encode_as(e, m, MW_DNSTAP_CLIENT_RESPONSE, out);
        case MW_DNSTAP_FORWARDER_QUERY:
            return encode_as(e, m, MW_DNSTAP_FORWARDER_QUERY, out);
        case MW_DNSTAP_FORWARDER_RESPONSE:
            return encode_as(e, m, MW_DNSTAP_FORWARDER_RESPONSE, out);
        }
    }
    struct layout L;
    plan(e, m, &L);
    if (L.total > cap)
        return 0;
    uint8_t *p = out;
    memcpy(p, e->head, e->head_len);
    p += e->head_len;
    if (m->extra && m->extra_len)
        p = put_bytes(p, D_EXTRA, m->extra, m->extra_len);
    *p++ = KEY(D_MESSAGE, LEN);
    p = put_small(p, (uint32_t)L.mlen);
    p = put_message(p, m, m->type, &L);
    return (size_t)(p - out);
}

size_t mw_dnstap_encode_answer(const struct mw_dnstap_enc *e, const uint8_t *q, size_t q_len,
                               size_t q_dns_len, const uint8_t *dns, size_t dns_len, uint8_t *out,
                               size_t cap)
{
    /* q is head, Message key, length, then the Message: type, protocol, family, the sides,
     * the time (seconds and nanoseconds), the query message last. Each part is checked
     * before it is used (every read stays in q): a frame of another shape gives 0. */
    const uint8_t *end = q + q_len;
    const uint8_t *body = q + e->head_len + 1;
    if (q_len < e->head_len + 3 || body[-1] != KEY(D_MESSAGE, LEN))
        return 0;
    size_t qm = body[0];
    if (qm < 0x80) {
        body += 1;
    } else if (body[1] < 0x80 && q_len >= e->head_len + 4) {
        qm = (qm & 0x7f) | (size_t)body[1] << 7;
        body += 2;
    } else {
        return 0; /* a query frame of 16 KiB or more: not made here */
    }
    size_t tail = 1 + varint_len(q_dns_len) + q_dns_len; /* the query message's field */
    if (qm != (size_t)(end - body) || qm < 4 + 7 + tail || body[0] != KEY(M_TYPE, VARINT) ||
        (body[1] != MW_DNSTAP_CLIENT_QUERY && body[1] != MW_DNSTAP_FORWARDER_QUERY))
        return 0;
    const uint8_t *msg = end - tail;
    if (msg[0] != KEY(M_QMSG, LEN) || msg[-5] != KEY(M_QNSEC, FIXED32) || msg[-6] >= 0x80)
        return 0;
    /* The seconds' key: 11 bytes before the query message for a time of this era (five
     * varint bytes), else found by going back over the varint's bytes (the last below 0x80,
     * the others above) to the key, which is below 0x80. */
    const uint8_t *t = msg - 11;
    if (t < body + 4 || t[0] != KEY(M_QSEC, VARINT) || (t[1] & t[2] & t[3] & t[4]) < 0x80) {
        t = msg - 6;
        do
            t--;
        while (t > body + 4 && *t >= 0x80);
        if (*t != KEY(M_QSEC, VARINT))
            return 0;
    }
    size_t pre = (size_t)(t - body); /* type to the sides */
    size_t tl = (size_t)(msg - t);   /* the time fields */
    size_t mlen = pre + 2 * tl + 1 + varint_len(dns_len) + dns_len;
    size_t total = e->head_len + 1 + varint_len(mlen) + mlen;
    if (total > cap)
        return 0;
    uint8_t *p = out;
    if (e->head_len <= HEAD_COPY && total >= HEAD_COPY)
        memcpy(p, e->head, HEAD_COPY); /* q's head is e's: copied from e, q may be shorter */
    else
        memcpy(p, e->head, e->head_len);
    p += e->head_len;
    *p++ = KEY(D_MESSAGE, LEN);
    p = put_small(p, (uint32_t)mlen);
    /* The query's fields as they are, its time now the response's query_time... */
    uint8_t *r = p;
    memcpy(p, body, pre + tl);
    r[1] = (uint8_t)(body[1] + 1); /* *_QUERY + 1 is its *_RESPONSE */
    p += pre + tl;
    /* ... and again as the response's time. */
    if (tl == 11) {
        memcpy(p, t, 8); /* fixed-size copies, no call */
        memcpy(p + 7, t + 7, 4);
    } else {
        memcpy(p, t, tl);
    }
    p[0] = KEY(M_RSEC, VARINT);
    p[tl - 5] = KEY(M_RNSEC, FIXED32);
    p += tl;
    return (size_t)(put_bytes(p, M_RMSG, dns, dns_len) - out);
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
