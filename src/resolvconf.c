/* nameserver lines of resolv.conf; see resolvconf.h. */
#include "minewall/resolvconf.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "minewall/netaddr.h"

#define DNS_PORT 53

static inline bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static inline bool stop(char c)
{
    return c == '#' || c == ';' || c == '\0';
}

/* The next blank-separated token of the line [*q, end), or false at its end or a comment. */
static bool token(const char **q, const char *end, const char **tok, size_t *len)
{
    const char *s = *q;
    while (s < end && blank(*s))
        s++;
    if (s == end || stop(*s)) {
        *q = end;
        return false;
    }
    const char *t = s;
    while (s < end && !blank(*s) && !stop(*s))
        s++;
    *tok = t;
    *len = (size_t)(s - t);
    *q = s;
    return true;
}

int mw_resolvconf_next(const char **p, const char *end, struct mw_addr *ns)
{
    while (*p < end) {
        const char *nl = memchr(*p, '\n', (size_t)(end - *p));
        const char *le = nl ? nl : end, *q = *p;
        *p = nl ? nl + 1 : end;
        const char *kw, *val;
        size_t kl, vl;
        if (!token(&q, le, &kw, &kl) || kl != 10 || memcmp(kw, "nameserver", 10) != 0)
            continue;
        char buf[80];
        if (!token(&q, le, &val, &vl) || vl >= sizeof(buf))
            return -EINVAL;
        memcpy(buf, val, vl);
        buf[vl] = '\0';
        if (mw_addr_parse_ip(buf, DNS_PORT, ns) < 0)
            return -EINVAL;
        return 1;
    }
    return 0;
}
