/* Hand-made DNS responses for the unit tests of answer readers (answerdiff, answerscan):
 * header, question, and records with owners and rdata written as text or as a pointer to the
 * question name. Header only, like testutil.h: each test is one program; include it after
 * <cmocka.h>. */
#pragma once

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/dnsmsg.h"

struct pkt {
    uint8_t b[8192];
    size_t len;
    uint16_t an;
};

static inline size_t put_name(struct pkt *p, const char *text)
{
    int n = mw_dname_from_text(text, p->b + p->len, sizeof(p->b) - p->len);
    assert_true(n > 0);
    p->len += (size_t)n;
    return (size_t)n;
}

/* Header and question; flags beyond QR|RD|RA (rcode, TC) as given. */
static inline void pk_start(struct pkt *p, const char *qname, uint16_t qtype, uint16_t flags)
{
    memset(p, 0, sizeof(*p));
    mw_dns_put16(p->b, 0x1234);
    mw_dns_put16(p->b + 2, MW_DNS_QR | MW_DNS_RD | MW_DNS_RA | flags);
    mw_dns_put16(p->b + 4, 1);
    p->len = MW_DNS_HDR;
    put_name(p, qname);
    mw_dns_put16(p->b + p->len, qtype);
    mw_dns_put16(p->b + p->len + 2, 1);
    p->len += 4;
}

/* Owner (text, or NULL for a pointer to the question name at offset 12), type, TTL; returns
 * the offset of the rdlength field, which the caller fills after writing rdata. */
static inline size_t pk_rr_head(struct pkt *p, const char *owner, uint16_t type, uint32_t ttl)
{
    if (owner) {
        put_name(p, owner);
    } else {
        p->b[p->len++] = 0xc0;
        p->b[p->len++] = 12;
    }
    mw_dns_put16(p->b + p->len, type);
    mw_dns_put16(p->b + p->len + 2, 1);
    mw_dns_put32(p->b + p->len + 4, ttl);
    p->len += 10;
    p->an++;
    mw_dns_put16(p->b + 6, p->an);
    return p->len - 2;
}

static inline void pk_rr_end(struct pkt *p, size_t rdlen_at)
{
    mw_dns_put16(p->b + rdlen_at, (uint16_t)(p->len - rdlen_at - 2));
}

static inline void pk_addr(struct pkt *p, const char *owner, const char *ip, uint32_t ttl)
{
    uint8_t a[16];
    bool v6 = strchr(ip, ':') != NULL;
    assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, ip, a), 1);
    size_t at = pk_rr_head(p, owner, v6 ? MW_TYPE_AAAA : MW_TYPE_A, ttl);
    memcpy(p->b + p->len, a, v6 ? 16 : 4);
    p->len += v6 ? 16 : 4;
    pk_rr_end(p, at);
}

/* CNAME or NS; target NULL writes a pointer to the question name. */
static inline void pk_name(struct pkt *p, const char *owner, uint16_t type, const char *target,
                           uint32_t ttl)
{
    size_t at = pk_rr_head(p, owner, type, ttl);
    if (target) {
        put_name(p, target);
    } else {
        p->b[p->len++] = 0xc0;
        p->b[p->len++] = 12;
    }
    pk_rr_end(p, at);
}

static inline void pk_mx(struct pkt *p, const char *owner, uint16_t pref, const char *target,
                         uint32_t ttl)
{
    size_t at = pk_rr_head(p, owner, MW_TYPE_MX, ttl);
    mw_dns_put16(p->b + p->len, pref);
    p->len += 2;
    put_name(p, target);
    pk_rr_end(p, at);
}
