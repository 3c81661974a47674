/* DNS over TLS, the pure parts; see dot.h. */
#include "minewall/dot.h"

#include <errno.h>
#include <string.h>

#include "minewall/base64.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/netaddr.h"

#define OPT_KEEPALIVE 11 /* RFC 7828 */
#define OPT_PADDING 12   /* RFC 7830 */
#define TYPE_OPT 41

static bool name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
           ch == '.';
}

int mw_dot_name_copy(const char *s, char *name, size_t cap)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0 || n > MW_DOT_NAME_MAX || n + 1 > cap)
        return -EINVAL;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (!name_char(ch))
            return -EINVAL;
        if (ch == '.') {
            if (label == 0)
                return -EINVAL;
            label = 0;
        } else if (++label > 63) {
            return -EINVAL;
        }
        name[i] = ch;
    }
    if (label == 0) /* "a..": one trailing dot is dropped, a second is an empty label */
        return -EINVAL;
    name[n] = 0;
    return 0;
}

int mw_dot_parse_url(const char *s, struct mw_addr *addr, char *name, size_t cap)
{
    static const char prefix[] = "tls://";
    if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
        return 0;
    s += sizeof(prefix) - 1;
    char buf[128];
    const char *hash = strchr(s, '#');
    size_t alen = hash ? (size_t)(hash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(buf) || cap == 0)
        return -EINVAL;
    memcpy(buf, s, alen);
    buf[alen] = 0;
    /* A trailing '/' (tls://1.1.1.1/) is a common slip, but no path means anything here. */
    if (mw_addr_parse(buf, MW_DOT_PORT, addr) < 0)
        return -EINVAL;
    if (mw_addr_port(addr) == 0)
        return -EINVAL;
    name[0] = 0;
    if (hash && mw_dot_name_copy(hash + 1, name, cap) < 0)
        return -EINVAL;
    return 1;
}

int mw_dot_pin_decode(const char *s, uint8_t out[MW_DOT_PIN_LEN])
{
    /* 32 bytes are 43 characters of 6 bits (258 bits: the last 2 are zero) and one '='. */
    if (strlen(s) != 44 || s[43] != '=')
        return -EINVAL;
    return mw_base64_decode(s, 43, false, out, MW_DOT_PIN_LEN) == MW_DOT_PIN_LEN ? 0 : -EINVAL;
}

bool mw_dot_pin_match(const uint8_t (*pins)[MW_DOT_PIN_LEN], size_t n,
                      const uint8_t hash[MW_DOT_PIN_LEN])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(pins[i], hash, MW_DOT_PIN_LEN) == 0)
            return true;
    return false;
}

int mw_dot_finish_query(uint8_t *buf, size_t len, size_t cap)
{
    return mw_dot_finish_query_opt(buf, len, cap, true);
}

int mw_dot_finish_query_opt(uint8_t *buf, size_t len, size_t cap, bool keepalive)
{
    /* The OPT record mw_dns_build_query writes last: root name, TYPE 41, CLASS, TTL, RDLEN 0. */
    if (len < MW_DNS_HDR + 11)
        return -EINVAL;
    uint8_t *opt = buf + len - 11;
    if (opt[0] != 0 || mw_dns_get16(opt + 1) != TYPE_OPT || mw_dns_get16(opt + 9) != 0)
        return -EINVAL;
    size_t n = len + (keepalive ? 4 : 0); /* keepalive: code, length 0 */
    size_t pad_hdr = n + 4;
    size_t padded = (pad_hdr + MW_DOT_PAD_BLOCK - 1) / MW_DOT_PAD_BLOCK * MW_DOT_PAD_BLOCK;
    if (padded > cap)
        return -ENOSPC;
    uint8_t *p = buf + len;
    if (keepalive) {
        mw_dns_put16(p, OPT_KEEPALIVE);
        mw_dns_put16(p + 2, 0);
        p += 4;
    }
    mw_dns_put16(p, OPT_PADDING);
    mw_dns_put16(p + 2, (uint16_t)(padded - pad_hdr));
    memset(p + 4, 0, padded - pad_hdr); /* RFC 7830: the padding octets are zero */
    mw_dns_put16(opt + 9, (uint16_t)(padded - len));
    return (int)padded;
}

/* Skip one resource record at *off (name, fixed part, rdata). */
static int skip_rr(const uint8_t *pkt, size_t len, size_t *off)
{
    if (mw_dname_skip(pkt, len, off) < 0 || *off + 10 > len)
        return -EINVAL;
    size_t rd = mw_dns_get16(pkt + *off + 8);
    if (*off + 10 + rd > len)
        return -EINVAL;
    *off += 10 + rd;
    return 0;
}

int64_t mw_dot_keepalive_ms(const uint8_t *pkt, size_t len)
{
    if (len < MW_DNS_HDR)
        return -1;
    size_t off = MW_DNS_HDR;
    unsigned qd = mw_dns_get16(pkt + 4);
    unsigned skip = mw_dns_get16(pkt + 6) + mw_dns_get16(pkt + 8);
    unsigned ar = mw_dns_get16(pkt + 10);
    for (unsigned i = 0; i < qd; i++) {
        if (mw_dname_skip(pkt, len, &off) < 0 || off + 4 > len)
            return -1;
        off += 4;
    }
    for (unsigned i = 0; i < skip; i++)
        if (skip_rr(pkt, len, &off) < 0)
            return -1;
    for (unsigned i = 0; i < ar; i++) {
        size_t at = off;
        if (skip_rr(pkt, len, &off) < 0)
            return -1;
        if (pkt[at] != 0 || mw_dns_get16(pkt + at + 1) != TYPE_OPT)
            continue;
        size_t p = at + 11, end = off;
        while (p + 4 <= end) {
            uint16_t code = mw_dns_get16(pkt + p), olen = mw_dns_get16(pkt + p + 2);
            if (p + 4 + olen > end)
                return -1;
            if (code == OPT_KEEPALIVE && olen == 2)
                return (int64_t)mw_dns_get16(pkt + p + 4) * 100;
            p += 4 + (size_t)olen;
        }
        return -1;
    }
    return -1;
}
