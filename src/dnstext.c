/* Text forms of DNS data through ldns: its descriptor table for type mnemonics and its
 * host2str printers for record data. The only patch over ldns is for the meta types 251-255
 * (IXFR, AXFR, MAILB, MAILA, ANY): ldns's descriptor table leaves them unnamed and only its
 * allocating ldns_rr_type2str() knows them, so they are named here, allocation-free. */
#include "minewall/dnstext.h"

#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <string.h>

static const char *const meta_names[] = {"IXFR", "AXFR", "MAILB", "MAILA", "ANY"};

const char *mw_dnstext_type(uint16_t type, char *buf, size_t cap)
{
    const ldns_rr_descriptor *d = ldns_rr_descript(type);
    if (d && d->_name && d->_type == type)
        return d->_name;
    if (type >= 251 && type <= 255)
        return meta_names[type - 251];
    if (!buf || cap == 0)
        return NULL;
    snprintf(buf, cap, "TYPE%u", (unsigned)type);
    return buf;
}

/* IANA's mnemonics (RFC 1035, 2136): ldns writes "NOTIMPL" for 4, but the metrics, dig and
 * the other resolvers' logs say "NOTIMP". */
static const char *const rcode_names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                          "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                          "NXRRSET", "NOTAUTH", "NOTZONE"};

const char *mw_dnstext_rcode(unsigned rcode, char *buf, size_t cap)
{
    if (rcode < sizeof(rcode_names) / sizeof(rcode_names[0]))
        return rcode_names[rcode];
    if (!buf || cap == 0)
        return NULL;
    snprintf(buf, cap, "RCODE%u", rcode);
    return buf;
}

/* ldns's lookups take C strings: copy a short span (no mnemonic is longer than 15). */
static bool to_cstr(const char *s, size_t n, char *tmp, size_t cap)
{
    if (!s || n == 0 || n >= cap || memchr(s, '\0', n))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return true;
}

int mw_dnstext_type_parse(const char *s, size_t n)
{
    char tmp[16];
    if (!to_cstr(s, n, tmp, sizeof(tmp)))
        return -EINVAL;
    ldns_rr_type t = ldns_get_rr_type_by_name(tmp);
    return t > 0 && t <= 65535 ? (int)t : -EINVAL;
}

int mw_dnstext_class_parse(const char *s, size_t n)
{
    char tmp[16];
    if (!to_cstr(s, n, tmp, sizeof(tmp)))
        return -EINVAL;
    ldns_rr_class c = ldns_get_rr_class_by_name(tmp);
    return c > 0 && c <= 65535 ? (int)c : -EINVAL;
}

int mw_dnstext_rdata(uint16_t type, const uint8_t *rdata, size_t len, char *buf, size_t cap)
{
    if (cap == 0 || len > 65535 || (!rdata && len))
        return -EINVAL;
    buf[0] = '\0';
    /* ldns reads record data after its 16-bit length, as in a packet. */
    uint8_t *w = LDNS_XMALLOC(uint8_t, len + 2);
    ldns_rr *rr = ldns_rr_new();
    ldns_buffer *b = ldns_buffer_new(cap < 64 ? 64 : cap);
    int rc = -ENOMEM;
    if (!w || !rr || !b)
        goto out;
    w[0] = (uint8_t)(len >> 8);
    w[1] = (uint8_t)len;
    if (len)
        memcpy(w + 2, rdata, len);
    ldns_rr_set_type(rr, type);
    size_t pos = 0;
    rc = -EBADMSG;
    if (ldns_wire2rdf(rr, w, len + 2, &pos) != LDNS_STATUS_OK || pos != len + 2)
        goto out;
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
        const ldns_rdf *f = ldns_rr_rdf(rr, i);
        if (i > 0)
            ldns_buffer_printf(b, " ");
        size_t start = ldns_buffer_position(b);
        if (ldns_rdf2buffer_str(b, f) != LDNS_STATUS_OK)
            goto out;
        size_t end = ldns_buffer_position(b);
        const char *t = (const char *)ldns_buffer_at(b, start);
        if (ldns_rdf_get_type(f) == LDNS_RDF_TYPE_DNAME && end - start > 1 &&
            t[end - start - 1] == '.')
            ldns_buffer_set_position(b, end - 1); /* "mail.example." -> "mail.example" */
    }
    rc = -ENOSPC;
    size_t n = ldns_buffer_position(b);
    if (!ldns_buffer_status_ok(b) || n >= cap)
        goto out;
    memcpy(buf, ldns_buffer_begin(b), n);
    buf[n] = '\0';
    rc = (int)n;
out:
    ldns_buffer_free(b);
    ldns_rr_free(rr);
    LDNS_FREE(w);
    return rc;
}
