/* DNS messages on the hot path: parse a client query, write an upstream query, check and
 * prepare an upstream response, and render a reply for a client from a prepared response.
 * Wire data stays in wire form (answers are patched, not rebuilt). Pure and allocation-free:
 * every function works in caller buffers. Hand-written rather than ldns for that reason (ldns
 * allocates per packet and per record); what is not per packet (zone files, type names, record
 * text) goes through ldns in rpz.c and dnstext.c. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "minewall/dname.h"

#define MW_DNS_HDR 12
#define MW_DNS_MAXMSG 65535
#define MW_DNS_UDP_MIN 512
#define MW_EDNS_UPSTREAM_BUF 1232 /* DNS flag day 2020 */
#define MW_EDNS_CLIENT_BUF 1232   /* what we advertise to clients */

/* Header flag bits in the 16-bit flags word (host order). */
#define MW_DNS_QR 0x8000
#define MW_DNS_AA 0x0400
#define MW_DNS_TC 0x0200
#define MW_DNS_RD 0x0100
#define MW_DNS_RA 0x0080
#define MW_DNS_AD 0x0020
#define MW_DNS_CD 0x0010

enum mw_dns_rcode {
    MW_RCODE_NOERROR = 0,
    MW_RCODE_FORMERR = 1,
    MW_RCODE_SERVFAIL = 2,
    MW_RCODE_NXDOMAIN = 3,
    MW_RCODE_NOTIMP = 4,
    MW_RCODE_REFUSED = 5,
    MW_RCODE_BADVERS = 16, /* extended: needs OPT */
};

enum mw_dns_type {
    MW_TYPE_A = 1,
    MW_TYPE_NS = 2,
    MW_TYPE_CNAME = 5,
    MW_TYPE_SOA = 6,
    MW_TYPE_PTR = 12,
    MW_TYPE_MX = 15,
    MW_TYPE_TXT = 16,
    MW_TYPE_AAAA = 28,
    MW_TYPE_SRV = 33,
    MW_TYPE_DNAME = 39,
    MW_TYPE_OPT = 41,
    MW_TYPE_SVCB = 64,
    MW_TYPE_HTTPS = 65,
    MW_TYPE_IXFR = 251,
    MW_TYPE_AXFR = 252,
    MW_TYPE_ANY = 255,
};

struct mw_dns_question {
    uint8_t qname[256]; /* lowercase wire form */
    uint16_t qname_len; /* including the root label */
    uint16_t qtype;
    uint16_t qclass;
};

/* Copy a question: only the octets of the name in use (a whole-struct copy moves all 256 and
 * is done twice on every forwarded query). */
static inline void mw_dns_question_copy(struct mw_dns_question *dst,
                                        const struct mw_dns_question *src)
{
    size_t n = src->qname_len <= sizeof(src->qname) ? src->qname_len : sizeof(src->qname);
    memcpy(dst->qname, src->qname, n);
    dst->qname_len = (uint16_t)n;
    dst->qtype = src->qtype;
    dst->qclass = src->qclass;
}

/* A client query as parsed. qsec/qsec_len point into the caller's packet: the question exactly
 * as the client wrote it (case kept, so a reply echoes it, which 0x20-randomising clients
 * check). */
struct mw_dns_query {
    uint16_t id;
    uint16_t flags; /* host order, as received */
    uint8_t opcode;
    struct mw_dns_question q;
    const uint8_t *qsec; /* borrowed from the packet */
    uint16_t qsec_len;
    bool edns;   /* client sent an OPT record */
    bool do_bit; /* DNSSEC OK */
    uint8_t edns_version;
    uint16_t udp_size; /* client's advertised buffer, at least 512; 512 without EDNS */
};

enum mw_dns_parse {
    MW_PARSE_OK = 0,
    MW_PARSE_DROP,    /* too short to answer, or QR set: drop and count */
    MW_PARSE_FORMERR, /* answer FORMERR (qsec may be empty) */
    MW_PARSE_NOTIMP,  /* opcode other than QUERY */
    MW_PARSE_BADVERS, /* EDNS version > 0 */
    MW_PARSE_REFUSED, /* AXFR/IXFR and other meta queries we do not forward */
};

/* Parse a client query. Fills what it could read even when the result is not OK, so the
 * caller can build an error reply. */
enum mw_dns_parse mw_dns_parse_query(const uint8_t *pkt, size_t len, struct mw_dns_query *out);

/* The client side of a reply: what the reply must echo and obey. */
struct mw_dns_client {
    uint16_t id;
    uint16_t qflags;     /* client's flags word; RD and CD are copied from it */
    const uint8_t *qsec; /* client's question section (borrowed); may be NULL with qsec_len 0 */
    uint16_t qsec_len;
    bool edns;
    bool do_bit;
    uint16_t max_size; /* the most we may send: udp_size capped at MW_EDNS_CLIENT_BUF for UDP,
                          65535 for TCP */
};

/* Fill a client description from a parsed query. tcp lifts the size limit. */
void mw_dns_client_from_query(const struct mw_dns_query *q, bool tcp, struct mw_dns_client *c);

/* Write a reply with no records beyond the question and, when the client used EDNS, our OPT:
 * QR=1, RA=1, the client's ID, RD and CD, and rcode (BADVERS sets the extended rcode; an
 * extended rcode for a client without EDNS becomes SERVFAIL). ede in 0..65535 adds an
 * Extended DNS Error option (RFC 8914) with info code ede and extra_text (may be NULL) when
 * the client used EDNS; the text is shortened (at a UTF-8 boundary) and then the option
 * dropped to keep the reply within c->max_size. Returns the length or -ENOSPC. */
int mw_dns_build_error(const struct mw_dns_client *c, uint8_t rcode, int ede,
                       const char *extra_text, uint8_t *out, size_t cap);

/* Write an upstream query: random id, RD=1, CD as given, one question, and an OPT record
 * advertising MW_EDNS_UPSTREAM_BUF with DO as given. Returns the length, -ENOSPC, or -EINVAL
 * for a qname_len of 0 or over 255. */
int mw_dns_build_query(const struct mw_dns_question *q, uint16_t id, bool cd, bool do_bit,
                       uint8_t *out, size_t cap);

/* Where the TTLs of a prepared response live, so they can count down without reparsing. */
#define MW_DNS_MAX_TTLS 512

/* What mw_dns_prepare_response() learned of an upstream response. */
struct mw_dns_response {
    uint16_t id;
    uint16_t flags;
    uint8_t rcode; /* 4-bit header rcode (extended bits from OPT are folded in) */
    uint16_t ancount, nscount, arcount; /* arcount as written to out (OPT removed) */
    struct mw_dns_question q;           /* lowercased */
    bool has_soa;                       /* SOA in authority */
    uint32_t neg_ttl;                   /* min(SOA TTL, SOA MINIMUM) when has_soa */
    uint32_t min_ttl;   /* smallest TTL of all records (OPT excluded); UINT32_MAX if none */
    uint16_t n_ttls;    /* entries written to ttl_off/ttl */
    bool ttls_overflow; /* more records than MW_DNS_MAX_TTLS: not cacheable; n_ttls is then
                           MW_DNS_MAX_TTLS and covers the first records only */
};

/* Check an upstream response and copy it to out with the OPT record removed (ARCOUNT fixed),
 * recording the offset (in out) and value of every record's TTL (values with the top bit set
 * count as 0, RFC 2181). The question must be exactly one uncompressed entry. The message is
 * cut at the OPT record: records that follow it in the additional section (TSIG, or unusual
 * ordering) are validated but dropped with it, so no offset moves and every compression
 * pointer stays valid. Bytes after the last counted record are dropped too. Returns the
 * length written to out, or -EBADMSG for a malformed message (also: not a response, QDCOUNT
 * != 1, OPT outside the additional section, two OPTs, SOA rdata of the wrong shape, len over
 * MW_DNS_MAXMSG, a name in an owner or in CNAME, DNAME, NS, PTR, MX, SRV or SOA rdata that is
 * malformed or that reads, through a compression pointer, the header or a TTL field: bytes
 * every reply rewrites, so what the filter read would not be what the client gets), -ENOSPC
 * when out is too small. out may be pkt (in-place). ttl_off and ttl
 * need room for MW_DNS_MAX_TTLS entries. */
int mw_dns_prepare_response(const uint8_t *pkt, size_t len, uint8_t *out, size_t cap,
                            struct mw_dns_response *info, uint16_t *ttl_off, uint32_t *ttl);

/* Does a response's question match what we asked (name case-insensitively, type, class)? */
bool mw_dns_question_equal(const struct mw_dns_question *a, const struct mw_dns_question *b);

/* A prepared response (OPT removed) and its TTL table. */
struct mw_dns_stored {
    const uint8_t *pkt;
    size_t len;
    const uint16_t *ttl_off;
    const uint32_t *ttl;
    uint16_t n_ttls;
    uint64_t *stamp; /* cache entries: a word the owner may mark (0 when new); else NULL */
};

/* Render a reply for client c from a stored response: copy, set the client's ID and RD/CD
 * (other upstream flags are kept, QR and RA set, AD cleared unless the client sent DO or AD,
 * RFC 6840 5.8),
 * overwrite the question with the client's bytes (same length, so compression pointers stay
 * valid), write TTLs as ttl - elapsed (floored at 0), or fixed_ttl for every record when
 * fixed_ttl >= 0 (serve-stale uses 30), and append our OPT when the client used EDNS. When the
 * result exceeds c->max_size, writes a TC=1 reply with the question only. Returns the length,
 * -ENOSPC, or -EINVAL when the client's question length differs from the stored one (or
 * c->qsec is NULL) or a TTL offset lies outside the packet. out should hold MW_DNS_MAXMSG + 64
 * bytes and must not overlap s->pkt. */
int mw_dns_render(const struct mw_dns_stored *s, const struct mw_dns_client *c, uint32_t elapsed,
                  int64_t fixed_ttl, uint8_t *out, size_t cap);

/* Write a synthesized (filtering) reply: rcode with, for NOERROR and addr != NULL and class
 * IN, one answer record of type qtype (A with 4 bytes, AAAA with 16) for the question name;
 * for NXDOMAIN and
 * for NOERROR without addr (NODATA), a synthetic SOA in the authority section whose MINIMUM
 * and TTL are ttl, so clients cache the negative answer no longer than that. When the client
 * used EDNS, an Extended DNS Error (RFC 8914) ede with extra_text. Returns the length or
 * -ENOSPC. */
int mw_dns_build_synth(const struct mw_dns_client *c, const struct mw_dns_question *q,
                       uint8_t rcode, const uint8_t *addr, size_t addr_len, uint32_t ttl, int ede,
                       const char *extra_text, uint8_t *out, size_t cap);

/* One record for mw_dns_build_local(), class IN. owner is an uncompressed wire name, or NULL
 * for a compression pointer to the question name from octet qoff of it on (a suffix that
 * starts at a label: the caller knows the name's structure). rdata is uncompressed wire. */
struct mw_dns_rrw {
    const uint8_t *owner; /* borrowed; NULL: the question name from qoff on */
    uint16_t owner_len;
    uint16_t qoff;
    uint16_t type;
    uint16_t rdlen;
    uint32_t ttl;
    const uint8_t *rdata; /* borrowed */
};

/* Write an authoritative reply (AA=1, as a server for local data is the authority for it):
 * rcode, the n_an answer records, the n_ns authority records, and our OPT when the client used
 * EDNS. A reply over c->max_size is cut to the question with TC=1 (the client retries over
 * TCP). Needs the client's question (c->qsec). Returns the length, -EINVAL without a question
 * or with a qoff outside it, or -ENOSPC. */
int mw_dns_build_local(const struct mw_dns_client *c, uint8_t rcode, const struct mw_dns_rrw *an,
                       size_t n_an, const struct mw_dns_rrw *ns, size_t n_ns, uint8_t *out,
                       size_t cap);

/* The one reader of resource records. Every record of a message is read through it, so
 * the bounds checks (owner name by the bounded walker of dname.c, the 10 fixed octets, rdata
 * within the message) live here only. Callers interpret rdata themselves. */
enum mw_dns_section {
    MW_SECTION_ANSWER = 0,
    MW_SECTION_AUTHORITY = 1,
    MW_SECTION_ADDITIONAL = 2,
};

/* One record as read: offsets into the packet, fixed fields in host order. */
struct mw_dns_rr {
    size_t owner; /* offset of the owner name (possibly compressed) */
    size_t rdata; /* offset of the rdata; the type is at rdata - 10, the TTL at rdata - 6 */
    uint32_t ttl; /* as written (RFC 2181 8 is the caller's business) */
    uint16_t type;
    uint16_t cls;
    uint16_t rdlen;
    uint8_t section; /* enum mw_dns_section */
    bool owner_is_q; /* the owner is a pointer to the question name at offset 12 */
    bool owner_eq;   /* after mw_dns_iter_match: the owner equals the wanted name */
};

/* Iterator state: caller storage, no allocation. */
struct mw_dns_iter {
    const uint8_t *pkt; /* borrowed */
    size_t len;
    size_t off;          /* the next record */
    unsigned index;      /* records read */
    unsigned an_end;     /* index where the authority section starts */
    unsigned ns_end;     /* index where the additional section starts */
    unsigned total;      /* records in the message */
    bool q_ok;           /* the question name at offset 12 was validated by whoever read it */
    bool q_eq;           /* the question name equals want */
    const uint8_t *want; /* borrowed; NULL: owners are only skipped */
    size_t want_len;
    /* Fields a reply rewrites (TTLs, as offsets of 4 octets, ascending): an owner must not
     * read them through a pointer (mw_dname_skip_stable). NULL/0: no such check. */
    const uint16_t *holes; /* borrowed */
    size_t n_holes;
};

/* Start at off, just after a question section the caller has read and validated (the name at
 * offset 12 then is a valid name, and an owner that is a pointer to it needs no second walk),
 * with the section counts an, ns and ar. off == MW_DNS_HDR means no question. */
static inline void mw_dns_iter_begin(struct mw_dns_iter *it, const uint8_t *pkt, size_t len,
                                     size_t off, unsigned an, unsigned ns, unsigned ar)
{
    it->pkt = pkt;
    it->len = len;
    it->off = off <= len ? off : len;
    it->index = 0;
    it->an_end = an;
    it->ns_end = an + ns;
    it->total = an + ns + ar;
    it->q_ok = off > MW_DNS_HDR;
    it->q_eq = false;
    it->want = NULL;
    it->want_len = 0;
    it->holes = NULL;
    it->n_holes = 0;
}

/* Start at the first record of a whole message: the counts come from the header and the
 * QDCOUNT questions are skipped (validated, not decoded). Returns 0, or -EBADMSG for a message
 * shorter than a header or a malformed question. */
int mw_dns_iter_init(struct mw_dns_iter *it, const uint8_t *pkt, size_t len);

/* From now on compare every owner with want (lowercase uncompressed wire, want_len octets,
 * borrowed until the iteration ends) while reading it, ignoring ASCII case, and say the answer
 * in rr->owner_eq: one walk of the name does both. q_eq tells whether want is the question name
 * (1 or 0); -1 compares them here, once. Returns 0, or -EBADMSG when that comparison finds
 * the question name malformed. */
static inline int mw_dns_iter_match(struct mw_dns_iter *it, const uint8_t *want, size_t want_len,
                                    int q_eq)
{
    it->want = want;
    it->want_len = want_len;
    if (q_eq < 0 && it->q_ok) {
        size_t at = MW_DNS_HDR;
        q_eq = mw_dname_equal_at(it->pkt, it->len, &at, want, want_len);
        if (q_eq < 0)
            return -EBADMSG;
    }
    it->q_eq = q_eq > 0;
    return 0;
}

/* Read the next record into rr. Returns 1, 0 after the last one, or -EBADMSG for a malformed
 * record (the owner name, the fixed part or the rdata running past the end); after -EBADMSG
 * the iterator must not be used again. */
static inline int mw_dns_iter_next(struct mw_dns_iter *it, struct mw_dns_rr *rr);

/* Read the 16-bit id/flags of a packet (len >= 12 is the caller's check). */
static inline uint16_t mw_dns_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline void mw_dns_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline uint32_t mw_dns_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void mw_dns_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Inline: it runs for every record of every upstream answer (the miss and blocked paths). */
static inline __attribute__((always_inline)) int mw_dns_iter_next(struct mw_dns_iter *it,
                                                                  struct mw_dns_rr *rr)
{
    if (it->index >= it->total)
        return 0;
    const uint8_t *pkt = it->pkt;
    size_t len = it->len, off = it->off;
    rr->owner = off;
    /* Most owners are a pointer to the question name, which is known to be valid: walking it
     * again would only repeat that. */
    if (it->q_ok && len - off >= 2 && pkt[off] == 0xc0 && pkt[off + 1] == MW_DNS_HDR) {
        off += 2;
        rr->owner_is_q = true;
        rr->owner_eq = it->q_eq;
    } else if (it->want) {
        rr->owner_is_q = false;
        int eq = mw_dname_equal_at(pkt, len, &off, it->want, it->want_len);
        if (eq < 0)
            return -EBADMSG;
        rr->owner_eq = eq > 0;
    } else {
        rr->owner_is_q = rr->owner_eq = false;
        if ((it->n_holes ? mw_dname_skip_stable(pkt, len, &off, it->holes, it->n_holes)
                         : mw_dname_skip(pkt, len, &off)) < 0)
            return -EBADMSG;
    }
    if (len - off < 10)
        return -EBADMSG;
    const uint8_t *f = pkt + off;
    rr->type = mw_dns_get16(f);
    rr->cls = mw_dns_get16(f + 2);
    rr->ttl = mw_dns_get32(f + 4);
    rr->rdlen = mw_dns_get16(f + 8);
    rr->rdata = off + 10;
    if (rr->rdlen > len - rr->rdata)
        return -EBADMSG;
    rr->section = it->index < it->an_end   ? MW_SECTION_ANSWER
                  : it->index < it->ns_end ? MW_SECTION_AUTHORITY
                                           : MW_SECTION_ADDITIONAL;
    it->off = rr->rdata + rr->rdlen;
    it->index++;
    return 1;
}
