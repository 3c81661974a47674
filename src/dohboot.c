/* The bootstrap of DoH host names, the pure parts; see dohboot.h. */
#include "minewall/dohboot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "minewall/dnsmsg.h"
#include "minewall/netaddr.h"

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int mw_dohboot_hosts(const char *data, size_t len, const char *name, uint16_t port,
                     struct mw_addr *out)
{
    size_t nlen = strlen(name);
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *hash = memchr(p, '#', (size_t)(eol - p));
        const char *stop = hash ? hash : eol;
        /* Fields: the address, then names. */
        char addr[64];
        size_t n_addr = 0;
        const char *q = p;
        while (q < stop && blank(*q))
            q++;
        while (q < stop && !blank(*q) && n_addr < sizeof(addr) - 1)
            addr[n_addr++] = *q++;
        addr[n_addr] = 0;
        while (n_addr > 0 && q < stop) {
            while (q < stop && blank(*q))
                q++;
            const char *w = q;
            while (q < stop && !blank(*q))
                q++;
            size_t wl = (size_t)(q - w);
            if (wl > 0 && w[wl - 1] == '.')
                wl--;
            if (wl == nlen && strncasecmp(w, name, nlen) == 0 &&
                mw_addr_parse_ip(addr, port, out) == 0)
                return 1;
        }
        p = eol + 1;
    }
    return 0;
}

int mw_dohboot_answer(const uint8_t *pkt, size_t len, uint16_t qtype, uint16_t port,
                      struct mw_addr *out, uint32_t *ttl_s)
{
    struct mw_dns_iter it;
    if (mw_dns_iter_init(&it, pkt, len) < 0)
        return -EBADMSG;
    struct mw_dns_rr rr;
    int r;
    while ((r = mw_dns_iter_next(&it, &rr)) == 1) {
        if (rr.section != MW_SECTION_ANSWER)
            break;
        if (rr.type != qtype || rr.cls != 1)
            continue;
        memset(out, 0, sizeof(*out));
        if (qtype == MW_TYPE_A) {
            if (rr.rdlen != 4)
                return -EBADMSG;
            out->u.in4.sin_family = AF_INET;
            out->u.in4.sin_port = htons(port);
            memcpy(&out->u.in4.sin_addr, pkt + rr.rdata, 4);
            out->len = sizeof(out->u.in4);
        } else {
            if (rr.rdlen != 16)
                return -EBADMSG;
            out->u.in6.sin6_family = AF_INET6;
            out->u.in6.sin6_port = htons(port);
            memcpy(&out->u.in6.sin6_addr, pkt + rr.rdata, 16);
            out->len = sizeof(out->u.in6);
        }
        uint32_t t = rr.ttl & 0x80000000u ? 0 : rr.ttl; /* RFC 2181 section 8 */
        if (t < MW_DOHBOOT_TTL_MIN_S)
            t = MW_DOHBOOT_TTL_MIN_S;
        if (t > MW_DOHBOOT_TTL_MAX_S)
            t = MW_DOHBOOT_TTL_MAX_S;
        *ttl_s = t;
        return 1;
    }
    return r < 0 ? -EBADMSG : 0;
}
