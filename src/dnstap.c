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

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static uint8_t *put_bytes(uint8_t *p, unsigned field, const void *b, size_t n)
{
    *p++ = KEY(field, LEN);
    p = put_varint(p, n);
    memcpy(p, b, n);
    return p + n;
}

static uint8_t *put_fixed32(uint8_t *p, unsigned field, uint32_t v)
{
    *p++ = KEY(field, FIXED32);
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

/* A length-delimited field's size on the wire (all of minewall's keys are one byte). */
static size_t bytes_size(size_t n)
{
    return 1 + varint_len(n) + n;
}

void mw_dnstap_enc_init(struct mw_dnstap_enc *e, const char *identity, const char *version)
{
    uint8_t *p = e->head;
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

/* An address and its port, when the family is the message's. */
struct side {
    const uint8_t *addr; /* NULL: left out */
    size_t alen;
    uint16_t port;
};

static int side_of(const struct sockaddr *sa, int family, struct side *s)
{
    *s = (struct side){0};
    if (!sa || (family && sa->sa_family != family))
        return family;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        s->addr = (const uint8_t *)&in->sin_addr;
        s->alen = 4;
        s->port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        s->addr = (const uint8_t *)&in6->sin6_addr;
        s->alen = 16;
        s->port = ntohs(in6->sin6_port);
    } else {
        return family;
    }
    return sa->sa_family;
}

static bool is_query(enum mw_dnstap_type t)
{
    return t == MW_DNSTAP_CLIENT_QUERY || t == MW_DNSTAP_FORWARDER_QUERY;
}

/* The fields of the Message, in order, into out; with out NULL only their size. */
static size_t message(const struct mw_dnstap_msg *m, uint8_t *out)
{
    /* The peer's family (the client's, or the upstream's) is the message's. */
    struct side q, r;
    int fam;
    if (m->type == MW_DNSTAP_CLIENT_QUERY || m->type == MW_DNSTAP_CLIENT_RESPONSE) {
        fam = side_of(m->query_addr, 0, &q);
        fam = side_of(m->response_addr, fam, &r);
    } else {
        fam = side_of(m->response_addr, 0, &r);
        fam = side_of(m->query_addr, fam, &q);
    }
    bool query = is_query(m->type);
    size_t n = 2 + 2; /* type, protocol: one-byte values */
    if (fam)
        n += 2;
    if (q.addr)
        n += bytes_size(q.alen) + 1 + varint_len(q.port);
    if (r.addr)
        n += bytes_size(r.alen) + 1 + varint_len(r.port);
    n += 1 + varint_len(m->time_sec) + 5;
    n += bytes_size(m->dns_len);
    if (!out)
        return n;
    uint8_t *p = out;
    *p++ = KEY(M_TYPE, VARINT);
    *p++ = (uint8_t)m->type;
    if (fam) {
        *p++ = KEY(M_FAMILY, VARINT);
        *p++ = fam == AF_INET ? FAMILY_INET : FAMILY_INET6;
    }
    *p++ = KEY(M_PROTOCOL, VARINT);
    *p++ = m->tcp ? PROTO_TCP : PROTO_UDP;
    if (q.addr)
        p = put_bytes(p, M_QADDR, q.addr, q.alen);
    if (r.addr)
        p = put_bytes(p, M_RADDR, r.addr, r.alen);
    if (q.addr) {
        *p++ = KEY(M_QPORT, VARINT);
        p = put_varint(p, q.port);
    }
    if (r.addr) {
        *p++ = KEY(M_RPORT, VARINT);
        p = put_varint(p, r.port);
    }
    *p++ = KEY(query ? M_QSEC : M_RSEC, VARINT);
    p = put_varint(p, m->time_sec);
    p = put_fixed32(p, query ? M_QNSEC : M_RNSEC, m->time_nsec);
    p = put_bytes(p, query ? M_QMSG : M_RMSG, m->dns, m->dns_len);
    return (size_t)(p - out);
}

size_t mw_dnstap_size(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m)
{
    size_t n = e->head_len + bytes_size(message(m, NULL)) + 2;
    if (m->extra && m->extra_len)
        n += bytes_size(m->extra_len);
    return n;
}

size_t mw_dnstap_encode(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m,
                        uint8_t *out, size_t cap)
{
    size_t mlen = message(m, NULL);
    size_t total = e->head_len + bytes_size(mlen) + 2;
    if (m->extra && m->extra_len)
        total += bytes_size(m->extra_len);
    if (total > cap)
        return 0;
    uint8_t *p = out;
    memcpy(p, e->head, e->head_len);
    p += e->head_len;
    if (m->extra && m->extra_len)
        p = put_bytes(p, D_EXTRA, m->extra, m->extra_len);
    *p++ = KEY(D_MESSAGE, LEN);
    p = put_varint(p, mlen);
    p += message(m, p);
    *p++ = KEY(D_TYPE, VARINT);
    *p++ = D_TYPE_MESSAGE;
    return (size_t)(p - out);
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
    mw_strbuf_putc(&sb, '}');
    return sb.trunc ? 0 : sb.len;
}
