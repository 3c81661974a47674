/* Parsing of Redis URLs; see redisurl.h. The one parser of minewall and minewall-feed. */
#include "minewall/redisurl.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int url_fail(char *why, size_t wl, const char *msg)
{
    if (wl)
        snprintf(why, wl, "%s", msg);
    return -EINVAL;
}

static int hexdigit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Decode [s, e) with %XX escapes into dst of cap bytes. -1 when it does not fit or an escape
 * is malformed. */
static int unescape(char *dst, size_t cap, const char *s, const char *e)
{
    size_t n = 0;
    while (s < e) {
        char ch = *s++;
        if (ch == '%') {
            if (e - s < 2 || hexdigit(s[0]) < 0 || hexdigit(s[1]) < 0)
                return -1;
            ch = (char)(hexdigit(s[0]) << 4 | hexdigit(s[1]));
            if (ch == '\0')
                return -1; /* %00 would cut the C string short: a different password */
            s += 2;
        }
        if (n + 1 >= cap)
            return -1;
        dst[n++] = ch;
    }
    dst[n] = '\0';
    return 0;
}

/* A decimal number of [s, e) within [lo, hi], or -1. */
static long decimal(const char *s, const char *e, long lo, long hi)
{
    long v = 0;
    if (s == e || e - s > 9)
        return -1;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v >= lo && v <= hi ? v : -1;
}

int mw_redis_url_parse(const char *text, struct mw_redis_url *u, char *why, size_t why_len)
{
    static const char scheme[] = "redis://";
    memset(u, 0, sizeof(*u));
    u->port = MW_REDIS_DEFAULT_PORT;
    if (!text || strncmp(text, scheme, sizeof(scheme) - 1) != 0)
        return url_fail(why, why_len, "expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]");
    const char *s = text + sizeof(scheme) - 1;
    /* The authority ends at the first '/' after the last '@' (an escaped password has none,
     * but be lenient about a raw '/' before the '@'). */
    const char *at = strrchr(s, '@');
    const char *hs = at ? at + 1 : s;
    const char *slash = strchr(hs, '/');
    const char *end = slash ? slash : hs + strlen(hs);
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        if (!colon)
            return url_fail(why, why_len, "credentials must be [USER]:PASSWORD");
        if (unescape(u->user, sizeof(u->user), s, colon) < 0)
            return url_fail(why, why_len, "bad or too long user name");
        if (unescape(u->pass, sizeof(u->pass), colon + 1, at) < 0)
            return url_fail(why, why_len, "bad or too long password");
    }
    const char *he, *port = NULL;
    if (*hs == '[') {
        const char *rb = memchr(hs, ']', (size_t)(end - hs));
        if (!rb)
            return url_fail(why, why_len, "missing ']' after IPv6 address");
        hs++;
        he = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return url_fail(why, why_len, "junk after ']'");
            port = rb + 2;
        }
    } else {
        he = memchr(hs, ':', (size_t)(end - hs));
        if (he)
            port = he + 1;
        else
            he = end;
    }
    if (he == hs)
        return url_fail(why, why_len, "missing host");
    if ((size_t)(he - hs) >= sizeof(u->host))
        return url_fail(why, why_len, "host too long");
    memcpy(u->host, hs, (size_t)(he - hs));
    if (port) {
        long v = decimal(port, end, 1, 65535);
        if (v < 0)
            return url_fail(why, why_len, "bad port");
        u->port = (int)v;
    }
    if (slash && slash[1]) {
        long v = decimal(slash + 1, slash + strlen(slash), 0, 1000000);
        if (v < 0)
            return url_fail(why, why_len, "bad database number");
        u->db = (int)v;
    }
    bool v6 = strchr(u->host, ':') != NULL;
    int n = snprintf(u->shown, sizeof(u->shown), "redis://%s%s%s:%d", v6 ? "[" : "", u->host,
                     v6 ? "]" : "", u->port);
    if (u->db && n > 0 && (size_t)n < sizeof(u->shown))
        snprintf(u->shown + n, sizeof(u->shown) - (size_t)n, "/%d", u->db);
    return 0;
}
