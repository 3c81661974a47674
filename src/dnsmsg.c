/* DNS messages on the hot path, in wire form. Parses client queries, writes upstream queries
 * and error replies, validates upstream responses into a "prepared" copy (OPT removed, TTL
 * offsets recorded) and renders client replies from a prepared copy by patching ID, flags,
 * question case and TTLs. Nothing here allocates or logs; every read is bounds-checked
 * against the packet length first, and names go through the bounded walker of dname.c, so a
 * hostile packet can neither read out of bounds nor loop. Record data (rdata) is not
 * interpreted except for the SOA MINIMUM and EDNS options. Hand-written, not ldns, because this
 * is every packet's path: ldns_wire2pkt allocates the packet and each record. Zone files, type
 * names and record text, which are not per packet, are ldns's (rpz.c, dnstext.c). */
#include "minewall/dnsmsg.h"

#include <errno.h>
#include <string.h>

#include "minewall/dname.h"

#define OPT_LEN 11          /* root owner, type, class, TTL, rdlength */
#define EDE_CODE 15         /* RFC 8914 */
#define RR_FIXED 10         /* type, class, TTL, rdlength after the owner */
#define TTL_MAX 0x7fffffffu /* RFC 2181 8 */

static inline uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Read an uncompressed question name at off into wire, lowercased. Questions are the first
 * thing after the header, so a pointer there can only reach the header: we refuse it. Returns
 * the wire length or -1. */
static int read_qname(const uint8_t *pkt, size_t len, size_t off, uint8_t *wire)
{
    size_t n = 0;

    for (;;) {
        if (off >= len)
            return -1;
        uint8_t l = pkt[off];
        if (l > 63)
            return -1; /* pointer or 0x40/0x80 label type */
        if (n + 1 + l + (l ? 1 : 0) > MW_DNAME_MAX || off + 1 + l > len)
            return -1;
        wire[n] = l;
        for (size_t i = 1; i <= l; i++)
            wire[n + i] = lower(pkt[off + i]);
        n += 1 + (size_t)l;
        off += 1 + (size_t)l;
        if (l == 0)
            return (int)n;
    }
}

/* Read the question at offset 12 into q. Returns the offset after it, or 0. */
static size_t read_question(const uint8_t *pkt, size_t len, struct mw_dns_question *q)
{
    int n = read_qname(pkt, len, MW_DNS_HDR, q->qname);
    if (n < 0)
        return 0;
    size_t off = MW_DNS_HDR + (size_t)n;
    if (len - off < 4)
        return 0;
    q->qname_len = (uint16_t)n;
    q->qtype = mw_dns_get16(pkt + off);
    q->qclass = mw_dns_get16(pkt + off + 2);
    return off + 4;
}

/* ---- the record iterator ---- */

int mw_dns_iter_init(struct mw_dns_iter *it, const uint8_t *pkt, size_t len)
{
    if (len < MW_DNS_HDR)
        return -EBADMSG;
    size_t off = MW_DNS_HDR;
    unsigned qd = mw_dns_get16(pkt + 4);
    if (qd == 1) {
        /* The usual single question: its name is the message's first, so it holds no
         * compression pointer (one must point backwards); plain labels are skipped here, and
         * anything else is left to the walker, which refuses it. */
        size_t end = off;
        while (end < len && pkt[end] && pkt[end] <= 63 && end - off < MW_DNAME_MAX)
            end += 1 + (size_t)pkt[end];
        if (end < len && pkt[end] == 0 && end + 1 - off <= MW_DNAME_MAX && len - end - 1 >= 4) {
            off = end + 5;
            qd = 0;
        }
    }
    for (unsigned i = qd; i > 0; i--) {
        if (mw_dname_skip(pkt, len, &off) < 0 || len - off < 4)
            return -EBADMSG;
        off += 4;
    }
    mw_dns_iter_begin(it, pkt, len, off, mw_dns_get16(pkt + 6), mw_dns_get16(pkt + 8),
                      mw_dns_get16(pkt + 10));
    return 0;
}

/* Are the EDNS options of an OPT rdata well-formed TLVs (RFC 6891 6.1.2)? */
static bool opt_options_ok(const uint8_t *rd, size_t rdlen)
{
    size_t pos = 0;
    while (pos < rdlen) {
        if (rdlen - pos < 4)
            return false;
        size_t olen = mw_dns_get16(rd + pos + 2);
        if (olen > rdlen - pos - 4)
            return false;
        pos += 4 + olen;
    }
    return true;
}

/* Scan the additional section of a query for its OPT record. */
static enum mw_dns_parse scan_additional(const uint8_t *pkt, size_t len, size_t off,
                                         unsigned arcount, struct mw_dns_query *out)
{
    struct mw_dns_iter it;
    struct mw_dns_rr rr;
    int r;
    mw_dns_iter_begin(&it, pkt, len, off, 0, 0, arcount);
    while ((r = mw_dns_iter_next(&it, &rr)) > 0) {
        if (rr.type != MW_TYPE_OPT)
            continue; /* TSIG, SIG(0), stray records: skipped */
        /* RFC 6891 6.1.1: one OPT, owned by the root. */
        if (out->edns || rr.rdata != rr.owner + 1 + RR_FIXED || pkt[rr.owner] != 0)
            return MW_PARSE_FORMERR;
        if (!opt_options_ok(pkt + rr.rdata, rr.rdlen))
            return MW_PARSE_FORMERR;
        const uint8_t *f = pkt + rr.rdata - RR_FIXED;
        out->edns = true;
        uint16_t udp = mw_dns_get16(f + 2);
        out->udp_size = udp < MW_DNS_UDP_MIN ? MW_DNS_UDP_MIN : udp;
        out->edns_version = f[5];
        out->do_bit = (f[6] & 0x80) != 0;
    }
    return r < 0 ? MW_PARSE_FORMERR : MW_PARSE_OK;
}

enum mw_dns_parse mw_dns_parse_query(const uint8_t *pkt, size_t len, struct mw_dns_query *out)
{
    out->id = 0;
    out->flags = 0;
    out->opcode = 0;
    out->q.qname_len = 0;
    out->q.qtype = 0;
    out->q.qclass = 0;
    out->qsec = NULL;
    out->qsec_len = 0;
    out->edns = false;
    out->do_bit = false;
    out->edns_version = 0;
    out->udp_size = MW_DNS_UDP_MIN;

    if (len < MW_DNS_HDR)
        return MW_PARSE_DROP;
    out->id = mw_dns_get16(pkt);
    out->flags = mw_dns_get16(pkt + 2);
    out->opcode = (uint8_t)((out->flags >> 11) & 0xf);
    if (out->flags & MW_DNS_QR)
        return MW_PARSE_DROP; /* never answer a response: reflection loops */
    if (out->opcode != 0)
        return MW_PARSE_NOTIMP;
    if (mw_dns_get16(pkt + 4) != 1)
        return MW_PARSE_FORMERR;

    size_t off = read_question(pkt, len, &out->q);
    if (off == 0)
        return MW_PARSE_FORMERR;
    out->qsec = pkt + MW_DNS_HDR;
    out->qsec_len = (uint16_t)(off - MW_DNS_HDR);

    if (mw_dns_get16(pkt + 6) != 0 || mw_dns_get16(pkt + 8) != 0)
        return MW_PARSE_FORMERR;
    enum mw_dns_parse r = scan_additional(pkt, len, off, mw_dns_get16(pkt + 10), out);
    if (r != MW_PARSE_OK)
        return r;
    if (out->edns && out->edns_version > 0)
        return MW_PARSE_BADVERS;
    if (out->q.qtype == MW_TYPE_AXFR || out->q.qtype == MW_TYPE_IXFR)
        return MW_PARSE_REFUSED;
    return MW_PARSE_OK;
}

void mw_dns_client_from_query(const struct mw_dns_query *q, bool tcp, struct mw_dns_client *c)
{
    c->id = q->id;
    c->qflags = q->flags;
    c->qsec = q->qsec;
    c->qsec_len = q->qsec ? q->qsec_len : 0;
    c->edns = q->edns;
    c->do_bit = q->do_bit;
    if (tcp)
        c->max_size = MW_DNS_MAXMSG;
    else if (q->udp_size > MW_EDNS_CLIENT_BUF)
        c->max_size = MW_EDNS_CLIENT_BUF; /* avoid fragmentation, DNS flag day 2020 */
    else
        c->max_size = q->udp_size < MW_DNS_UDP_MIN ? MW_DNS_UDP_MIN : q->udp_size;
}

/* Write an OPT record with no options yet; rdlength is patched by the caller if needed. */
static void put_opt(uint8_t *p, uint16_t udp, uint8_t ext_rcode, bool do_bit, uint16_t rdlen)
{
    p[0] = 0;
    mw_dns_put16(p + 1, MW_TYPE_OPT);
    mw_dns_put16(p + 3, udp);
    p[5] = ext_rcode;
    p[6] = 0; /* version */
    p[7] = do_bit ? 0x80 : 0;
    p[8] = 0;
    mw_dns_put16(p + 9, rdlen);
}

/* Reply flags for a client: the client's opcode (RFC 1035 4.1.1 copies it, also into a
 * NOTIMP), RD and CD, QR and RA. AA is cleared: a forwarder is not the authority for what it
 * relays (as Unbound does). */
static inline uint16_t reply_flags(const struct mw_dns_client *c, uint16_t keep)
{
    return (uint16_t)((keep & ~(MW_DNS_RD | MW_DNS_CD | MW_DNS_AA | 0x7800)) |
                      (c->qflags & (MW_DNS_RD | MW_DNS_CD | 0x7800)) | MW_DNS_QR | MW_DNS_RA);
}

/* Header + question (+ OPT) into out; the caller checked the room. */
static size_t put_head(const struct mw_dns_client *c, uint16_t flags, uint8_t ext_rcode,
                       uint8_t *out)
{
    size_t qlen = c->qsec ? c->qsec_len : 0;
    mw_dns_put16(out, c->id);
    mw_dns_put16(out + 2, flags);
    mw_dns_put16(out + 4, qlen ? 1 : 0);
    mw_dns_put16(out + 6, 0);
    mw_dns_put16(out + 8, 0);
    mw_dns_put16(out + 10, c->edns ? 1 : 0);
    if (qlen)
        memcpy(out + MW_DNS_HDR, c->qsec, qlen);
    size_t n = MW_DNS_HDR + qlen;
    if (c->edns) {
        put_opt(out + n, MW_EDNS_CLIENT_BUF, ext_rcode, c->do_bit, 0);
        n += OPT_LEN;
    }
    return n;
}

/* An Extended DNS Error (RFC 8914) for a reply of base octets: whether the option fits the
 * client's limit (and cap), and how much of text goes in: shortened at a UTF-8 boundary first,
 * the option dropped only when not even its fixed 6 octets fit. Returns -1 without the option,
 * else the text length. */
static long ede_text_len(const struct mw_dns_client *c, size_t base, size_t cap, int ede,
                         const char *text)
{
    size_t budget = c->max_size >= MW_DNS_UDP_MIN ? c->max_size : MW_DNS_UDP_MIN;
    if (budget > cap)
        budget = cap;
    if (!c->edns || ede < 0 || ede > 0xffff || base + 6 > budget)
        return -1;
    size_t n = text ? strlen(text) : 0;
    if (n > budget - base - 6) {
        n = budget - base - 6;
        while (n > 0 && ((uint8_t)text[n] & 0xc0) == 0x80)
            n--; /* do not cut a UTF-8 sequence */
    }
    return (long)n;
}

/* The EDE option at p (room checked by ede_text_len); returns its length. */
static size_t put_ede(uint8_t *p, int ede, const char *text, size_t n)
{
    mw_dns_put16(p, EDE_CODE);
    mw_dns_put16(p + 2, (uint16_t)(2 + n));
    mw_dns_put16(p + 4, (uint16_t)ede);
    if (n)
        memcpy(p + 6, text, n);
    return 6 + n;
}

int mw_dns_build_error(const struct mw_dns_client *c, uint8_t rcode, int ede,
                       const char *extra_text, uint8_t *out, size_t cap)
{
    uint8_t hdr_rcode = rcode & 0xf, ext = (uint8_t)(rcode >> 4);
    if (ext && !c->edns) {
        hdr_rcode = MW_RCODE_SERVFAIL; /* an extended rcode cannot be said without OPT */
        ext = 0;
    }
    size_t base = MW_DNS_HDR + (c->qsec ? c->qsec_len : 0) + (c->edns ? OPT_LEN : 0);
    if (base > cap)
        return -ENOSPC;

    long text_len = ede_text_len(c, base, cap, ede, extra_text);
    uint16_t flags = reply_flags(c, hdr_rcode);
    size_t n = put_head(c, flags, ext, out);
    if (text_len >= 0) {
        uint8_t *opt = out + n - OPT_LEN;
        mw_dns_put16(opt + 9, (uint16_t)(6 + text_len));
        n += put_ede(out + n, ede, extra_text, (size_t)text_len);
    }
    return (int)n;
}

/* The synthetic SOA of negative filtering answers: "minewall. blocked.minewall." */
static const uint8_t SYNTH_MNAME[] = "\x08"
                                     "minewall";
static const uint8_t SYNTH_RNAME[] = "\x07"
                                     "blocked"
                                     "\x08"
                                     "minewall";

int mw_dns_build_synth(const struct mw_dns_client *c, const struct mw_dns_question *q,
                       uint8_t rcode, const uint8_t *addr, size_t addr_len, uint32_t ttl, int ede,
                       const char *extra_text, uint8_t *out, size_t cap)
{
    if (!c->qsec || c->qsec_len < 5)
        return mw_dns_build_error(c, rcode, ede, extra_text, out, cap);
    /* Name compression: every owner is a pointer to the question name at offset 12. */
    size_t rr_len = 0;
    /* Addresses are class IN data: an A record of another class (CHAOS) has another shape,
     * so other classes get the negative form. */
    bool answer =
        rcode == MW_RCODE_NOERROR && addr && (addr_len == 4 || addr_len == 16) && q->qclass == 1;
    if (answer)
        rr_len = 2 + 10 + addr_len;
    else
        rr_len = 2 + 10 + (sizeof(SYNTH_MNAME)) + (sizeof(SYNTH_RNAME)) + 20;
    size_t base = MW_DNS_HDR + c->qsec_len + rr_len + (c->edns ? OPT_LEN : 0);
    if (base > cap)
        return -ENOSPC;
    long text_len = ede_text_len(c, base, cap, ede, extra_text);
    mw_dns_put16(out, c->id);
    mw_dns_put16(out + 2, reply_flags(c, rcode & 0xf));
    mw_dns_put16(out + 4, 1);
    mw_dns_put16(out + 6, answer ? 1 : 0);
    mw_dns_put16(out + 8, answer ? 0 : 1);
    mw_dns_put16(out + 10, c->edns ? 1 : 0);
    memcpy(out + MW_DNS_HDR, c->qsec, c->qsec_len);
    uint8_t *p = out + MW_DNS_HDR + c->qsec_len;
    p[0] = 0xc0;
    p[1] = MW_DNS_HDR;
    if (answer) {
        mw_dns_put16(p + 2, addr_len == 4 ? MW_TYPE_A : MW_TYPE_AAAA);
        mw_dns_put16(p + 4, q->qclass);
        mw_dns_put32(p + 6, ttl);
        mw_dns_put16(p + 10, (uint16_t)addr_len);
        memcpy(p + 12, addr, addr_len);
        p += 12 + addr_len;
    } else {
        mw_dns_put16(p + 2, MW_TYPE_SOA);
        mw_dns_put16(p + 4, q->qclass);
        mw_dns_put32(p + 6, ttl);
        mw_dns_put16(p + 10, (uint16_t)(sizeof(SYNTH_MNAME) + sizeof(SYNTH_RNAME) + 20));
        p += 12;
        memcpy(p, SYNTH_MNAME, sizeof(SYNTH_MNAME));
        p += sizeof(SYNTH_MNAME);
        memcpy(p, SYNTH_RNAME, sizeof(SYNTH_RNAME));
        p += sizeof(SYNTH_RNAME);
        mw_dns_put32(p, 1);          /* serial */
        mw_dns_put32(p + 4, 3600);   /* refresh */
        mw_dns_put32(p + 8, 600);    /* retry */
        mw_dns_put32(p + 12, 86400); /* expire */
        mw_dns_put32(p + 16, ttl);   /* minimum: the negative TTL */
        p += 20;
    }
    if (c->edns) {
        uint16_t rdlen = text_len >= 0 ? (uint16_t)(6 + text_len) : 0;
        put_opt(p, MW_EDNS_CLIENT_BUF, 0, c->do_bit, rdlen);
        p += OPT_LEN;
        if (text_len >= 0)
            p += put_ede(p, ede, extra_text, (size_t)text_len);
    }
    return (int)(p - out);
}

/* Octets of one record as mw_dns_build_local writes it, or 0 when its owner cannot be said. */
static size_t rrw_len(const struct mw_dns_client *c, const struct mw_dns_rrw *r)
{
    if (!r->owner && (size_t)r->qoff + 5 > c->qsec_len)
        return 0;
    return (r->owner ? r->owner_len : 2) + 10 + (size_t)r->rdlen;
}

static uint8_t *put_rrw(uint8_t *p, const struct mw_dns_rrw *r)
{
    if (r->owner) {
        memcpy(p, r->owner, r->owner_len);
        p += r->owner_len;
    } else {
        mw_dns_put16(p, (uint16_t)(0xc000 | (MW_DNS_HDR + r->qoff)));
        p += 2;
    }
    mw_dns_put16(p, r->type);
    mw_dns_put16(p + 2, 1); /* IN */
    mw_dns_put32(p + 4, r->ttl);
    mw_dns_put16(p + 8, r->rdlen);
    memcpy(p + 10, r->rdata, r->rdlen);
    return p + 10 + r->rdlen;
}

int mw_dns_build_local(const struct mw_dns_client *c, uint8_t rcode, const struct mw_dns_rrw *an,
                       size_t n_an, const struct mw_dns_rrw *ns, size_t n_ns, uint8_t *out,
                       size_t cap)
{
    if (!c->qsec || c->qsec_len < 5 || n_an > 0xffff || n_ns > 0xffff)
        return -EINVAL;
    size_t total = MW_DNS_HDR + c->qsec_len + (c->edns ? OPT_LEN : 0);
    for (size_t i = 0; i < n_an + n_ns; i++) {
        size_t n = rrw_len(c, i < n_an ? &an[i] : &ns[i - n_an]);
        if (!n)
            return -EINVAL;
        total += n;
    }
    uint16_t flags = (uint16_t)(reply_flags(c, rcode & 0xf) | MW_DNS_AA);
    if (total > c->max_size || total > (size_t)MW_DNS_MAXMSG) {
        if ((size_t)(MW_DNS_HDR + c->qsec_len + (c->edns ? OPT_LEN : 0)) > cap)
            return -ENOSPC;
        return (int)put_head(c, flags | MW_DNS_TC, 0, out);
    }
    if (total > cap)
        return -ENOSPC;
    size_t n = put_head(c, flags, 0, out);
    uint8_t *p = out + n - (c->edns ? OPT_LEN : 0);
    uint8_t opt[OPT_LEN];
    if (c->edns)
        memcpy(opt, p, OPT_LEN); /* the records go before it */
    for (size_t i = 0; i < n_an; i++)
        p = put_rrw(p, &an[i]);
    for (size_t i = 0; i < n_ns; i++)
        p = put_rrw(p, &ns[i]);
    if (c->edns) {
        memcpy(p, opt, OPT_LEN);
        p += OPT_LEN;
    }
    mw_dns_put16(out + 6, (uint16_t)n_an);
    mw_dns_put16(out + 8, (uint16_t)n_ns);
    return (int)(p - out);
}

int mw_dns_build_query(const struct mw_dns_question *q, uint16_t id, bool cd, bool do_bit,
                       uint8_t *out, size_t cap)
{
    if (q->qname_len == 0 || q->qname_len > MW_DNAME_MAX)
        return -EINVAL;
    size_t n = MW_DNS_HDR + q->qname_len + 4 + OPT_LEN;
    if (n > cap)
        return -ENOSPC;
    mw_dns_put16(out, id);
    mw_dns_put16(out + 2, (uint16_t)(MW_DNS_RD | (cd ? MW_DNS_CD : 0)));
    mw_dns_put16(out + 4, 1);
    mw_dns_put16(out + 6, 0);
    mw_dns_put16(out + 8, 0);
    mw_dns_put16(out + 10, 1);
    memcpy(out + MW_DNS_HDR, q->qname, q->qname_len);
    uint8_t *p = out + MW_DNS_HDR + q->qname_len;
    mw_dns_put16(p, q->qtype);
    mw_dns_put16(p + 2, q->qclass);
    put_opt(p + 4, MW_EDNS_UPSTREAM_BUF, 0, do_bit, 0);
    return (int)n;
}

/* SOA rdata is MNAME, RNAME (either may be compressed) and five 32-bit fields; the last is
 * MINIMUM (RFC 1035 3.3.13). Returns MINIMUM, or -1 when the rdata does not have that shape. */
static int64_t soa_minimum(const uint8_t *pkt, size_t len, size_t rd, size_t rdlen,
                           const uint16_t *holes, size_t n_holes)
{
    if (rdlen < 22)
        return -1;
    size_t end = rd + rdlen, pos = rd;
    if (mw_dname_skip_stable(pkt, len, &pos, holes, n_holes) < 0 ||
        mw_dname_skip_stable(pkt, len, &pos, holes, n_holes) < 0)
        return -1;
    if (pos + 20 != end)
        return -1;
    return mw_dns_get32(pkt + end - 4);
}

/* Offset in the rdata of a record type's domain name that the filter and the journal read
 * (CNAME/DNAME targets, NS, PTR, MX exchange, SRV target), or -1. */
static int rdata_name_at(uint16_t type)
{
    switch (type) {
    case MW_TYPE_CNAME:
    case MW_TYPE_DNAME:
    case MW_TYPE_NS:
    case MW_TYPE_PTR:
        return 0;
    case MW_TYPE_MX:
        return 2;
    case MW_TYPE_SRV:
        return 6;
    default:
        return -1;
    }
}

/* Removing the OPT record: it is normally the last record, and then cutting the message at
 * its first octet removes it without moving anything. When records follow it (TSIG, or a
 * server that orders the additional section differently) we cut there too and drop them with
 * it: the additional section is optional data (RFC 2181 9), TSIG was not ours to forward, and
 * a cut never invalidates a compression pointer because every accepted pointer points
 * backwards. Moving the later records instead would mean rewriting pointers inside rdata of
 * arbitrary types. */
int mw_dns_prepare_response(const uint8_t *pkt, size_t len, uint8_t *out, size_t cap,
                            struct mw_dns_response *info, uint16_t *ttl_off, uint32_t *ttl)
{
    /* Field by field: the 256-octet qname is written by read_question up to its length, and
     * clearing all of it was 1% of a forwarded query's instructions. */
    info->q.qname_len = info->q.qtype = info->q.qclass = 0;
    info->rcode = 0;
    info->ancount = info->nscount = info->arcount = info->n_ttls = 0;
    info->has_soa = info->ttls_overflow = false;
    info->neg_ttl = 0;
    info->min_ttl = UINT32_MAX;
    info->id = info->flags = 0;
    if (len < MW_DNS_HDR || len > MW_DNS_MAXMSG)
        return -EBADMSG; /* TTL offsets are 16 bits */
    info->id = mw_dns_get16(pkt);
    info->flags = mw_dns_get16(pkt + 2);
    if (!(info->flags & MW_DNS_QR) || mw_dns_get16(pkt + 4) != 1)
        return -EBADMSG;
    info->ancount = mw_dns_get16(pkt + 6);
    info->nscount = mw_dns_get16(pkt + 8);
    unsigned arcount = mw_dns_get16(pkt + 10);
    size_t off = read_question(pkt, len, &info->q);
    if (off == 0)
        return -EBADMSG;

    struct mw_dns_iter it;
    struct mw_dns_rr rr;
    unsigned ar_kept = 0, ext_rcode = 0, n = 0;
    size_t cut = 0;
    int r;
    mw_dns_iter_begin(&it, pkt, len, off, info->ancount, info->nscount, arcount);
    /* Names are checked not to read, through a pointer, the header or a TTL of an earlier
     * record: replies rewrite those bytes, and a name built from them would not be the name
     * the filter checked. */
    it.holes = ttl_off;
    while ((it.n_holes = n, r = mw_dns_iter_next(&it, &rr)) > 0) {
        size_t fix = rr.rdata - RR_FIXED;
        if (rr.type == MW_TYPE_OPT) {
            if (rr.section != MW_SECTION_ADDITIONAL || cut || fix != rr.owner + 1 ||
                pkt[rr.owner] != 0)
                return -EBADMSG; /* RFC 6891 6.1.1: one, in additional, owned by root */
            cut = rr.owner;
            ext_rcode = pkt[fix + 4];
            continue;
        }
        if (cut)
            continue; /* validated, but dropped with the OPT */
        if (rr.section == MW_SECTION_ADDITIONAL)
            ar_kept++;
        uint32_t t = rr.ttl;
        if (t > TTL_MAX)
            t = 0; /* RFC 2181 8: treat as zero */
        if (t < info->min_ttl)
            info->min_ttl = t;
        if (n < MW_DNS_MAX_TTLS) {
            ttl_off[n] = (uint16_t)(fix + 4);
            ttl[n] = t;
            n++;
        } else {
            info->ttls_overflow = true;
        }
        int at = rdata_name_at(rr.type);
        if (at >= 0) {
            size_t pos = rr.rdata + (size_t)at;
            if ((size_t)at >= rr.rdlen || mw_dname_skip_stable(pkt, len, &pos, ttl_off, n) < 0 ||
                pos > rr.rdata + rr.rdlen)
                return -EBADMSG;
        }
        if (rr.type == MW_TYPE_SOA && rr.section == MW_SECTION_AUTHORITY) {
            int64_t min = soa_minimum(pkt, len, rr.rdata, rr.rdlen, ttl_off, n);
            if (min < 0)
                return -EBADMSG;
            uint32_t neg = (uint32_t)min < t ? (uint32_t)min : t;
            if (!info->has_soa || neg < info->neg_ttl)
                info->neg_ttl = neg;
            info->has_soa = true;
        }
    }
    if (r < 0)
        return -EBADMSG;
    if (!cut)
        cut = it.off; /* bytes after the last counted record are dropped */

    unsigned full = (info->flags & 0xf) | (ext_rcode << 4);
    info->rcode = full > 0xff ? 0xff : (uint8_t)full;
    info->arcount = (uint16_t)ar_kept;
    info->n_ttls = (uint16_t)n;
    if (cut > cap)
        return -ENOSPC;
    memmove(out, pkt, cut);
    mw_dns_put16(out + 10, (uint16_t)ar_kept);
    return (int)cut;
}

bool mw_dns_question_equal(const struct mw_dns_question *a, const struct mw_dns_question *b)
{
    if (a->qtype != b->qtype || a->qclass != b->qclass || a->qname_len != b->qname_len)
        return false;
    for (size_t i = 0; i < a->qname_len && i < sizeof(a->qname); i++) {
        if (lower(a->qname[i]) != lower(b->qname[i]))
            return false;
    }
    return true;
}

/* Length of the (uncompressed) question section of a prepared response, or -1. */
static int stored_qlen(const uint8_t *p, size_t len)
{
    size_t off = MW_DNS_HDR;
    while (off < len) {
        uint8_t l = p[off];
        if (l == 0)
            return off + 5 <= len ? (int)(off + 5 - MW_DNS_HDR) : -1;
        if (l > 63)
            return -1;
        off += 1 + (size_t)l;
    }
    return -1;
}

int mw_dns_render(const struct mw_dns_stored *s, const struct mw_dns_client *c, uint32_t elapsed,
                  int64_t fixed_ttl, uint8_t *out, size_t cap)
{
    if (s->len < MW_DNS_HDR || !c->qsec)
        return -EINVAL;
    int qlen = stored_qlen(s->pkt, s->len);
    if (qlen < 0 || (size_t)qlen != c->qsec_len)
        return -EINVAL;

    uint16_t flags = reply_flags(c, mw_dns_get16(s->pkt + 2));
    /* RFC 6840 5.8: AD only for clients that asked with DO or AD. */
    if (!c->do_bit && !(c->qflags & MW_DNS_AD))
        flags &= (uint16_t)~MW_DNS_AD;
    size_t total = s->len + (c->edns ? OPT_LEN : 0);

    if (total > c->max_size) {
        size_t n = MW_DNS_HDR + (size_t)qlen + (c->edns ? OPT_LEN : 0);
        if (n > cap)
            return -ENOSPC;
        return (int)put_head(c, flags | MW_DNS_TC, 0, out);
    }
    if (total > cap)
        return -ENOSPC;

    memcpy(out, s->pkt, s->len);
    mw_dns_put16(out, c->id);
    mw_dns_put16(out + 2, flags);
    memcpy(out + MW_DNS_HDR, c->qsec, (size_t)qlen);

    const uint16_t *offs = s->ttl_off;
    const uint32_t *vals = s->ttl;
    size_t limit = s->len - 4;
    if (fixed_ttl >= 0) {
        uint32_t v = fixed_ttl > TTL_MAX ? TTL_MAX : (uint32_t)fixed_ttl;
        for (unsigned i = 0; i < s->n_ttls; i++) {
            if (offs[i] > limit)
                return -EINVAL;
            mw_dns_put32(out + offs[i], v);
        }
    } else {
        for (unsigned i = 0; i < s->n_ttls; i++) {
            if (offs[i] > limit)
                return -EINVAL;
            mw_dns_put32(out + offs[i], vals[i] > elapsed ? vals[i] - elapsed : 0);
        }
    }

    if (c->edns) {
        put_opt(out + s->len, MW_EDNS_CLIENT_BUF, 0, c->do_bit, 0);
        mw_dns_put16(out + 10, (uint16_t)(mw_dns_get16(out + 10) + 1));
    }
    return (int)total;
}
