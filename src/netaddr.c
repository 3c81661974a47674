/* Socket addresses and CIDR prefixes: text to value and back, comparison and prefix matching.
 * Text forms are strict: IPv4 is dotted quad only (inet_pton, so no "010.1" or "1.2.3"), an
 * IPv6 address with a port must be bracketed, ports are 1..65535 in decimal. A struct mw_addr
 * built here has only family, address, port and (IPv6) scope id set and everything else
 * zero. Scope names ("%eth0") are resolved with if_nametoindex(); scope ids are formatted as
 * numbers so that output does not depend on the host's interfaces. Nothing here opens a socket
 * for traffic. */
#include "minewall/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest text accepted for an address part: a full IPv6 address plus "%" and an interface
 * name. Anything longer is not an address. */
#define ADDR_TEXT_MAX (INET6_ADDRSTRLEN + IF_NAMESIZE + 2)

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

static int parse_port(const char *s, uint16_t *port)
{
    if (!all_digits(s) || strlen(s) > 5)
        return -EINVAL;
    long v = strtol(s, NULL, 10);
    if (v < 1 || v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

static int parse_scope(const char *s, uint32_t *scope)
{
    if (all_digits(s)) {
        if (strlen(s) > 10)
            return -EINVAL;
        unsigned long v = strtoul(s, NULL, 10);
        if (v > UINT32_MAX)
            return -EINVAL;
        *scope = (uint32_t)v;
        return 0;
    }
    if (!*s || strlen(s) >= IF_NAMESIZE)
        return -EINVAL;
    unsigned idx = if_nametoindex(s);
    if (idx == 0)
        return -EINVAL;
    *scope = idx;
    return 0;
}

/* Parse an IPv6 address with an optional "%scope" from a writable buffer. */
static int parse_v6(char *text, uint16_t port, struct mw_addr *out)
{
    uint32_t scope = 0;
    char *pct = strchr(text, '%');
    if (pct) {
        *pct = '\0';
        if (parse_scope(pct + 1, &scope) < 0)
            return -EINVAL;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, text, &a6) != 1)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->u.in6.sin6_family = AF_INET6;
    out->u.in6.sin6_addr = a6;
    out->u.in6.sin6_port = htons(port);
    out->u.in6.sin6_scope_id = scope;
    out->len = sizeof(struct sockaddr_in6);
    return 0;
}

static int parse_v4(const char *text, uint16_t port, struct mw_addr *out)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, text, &a4) != 1)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->u.in4.sin_family = AF_INET;
    out->u.in4.sin_addr = a4;
    out->u.in4.sin_port = htons(port);
    out->len = sizeof(struct sockaddr_in);
    return 0;
}

int mw_addr_parse_ip(const char *s, uint16_t port, struct mw_addr *out)
{
    char buf[ADDR_TEXT_MAX];
    if (!s || strlen(s) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, s);
    if (strchr(buf, ':'))
        return parse_v6(buf, port, out);
    return parse_v4(buf, port, out);
}

int mw_addr_parse(const char *s, uint16_t default_port, struct mw_addr *out)
{
    char buf[ADDR_TEXT_MAX + 8];
    if (!s || strlen(s) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, s);
    uint16_t port = default_port;

    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close)
            return -EINVAL;
        *close = '\0';
        if (close[1] == ':') {
            if (parse_port(close + 2, &port) < 0)
                return -EINVAL;
        } else if (close[1] != '\0') {
            return -EINVAL;
        }
        /* Brackets hold IPv6 only; "[1.2.3.4]" has no colon and fails here. */
        if (!strchr(buf + 1, ':'))
            return -EINVAL;
        return parse_v6(buf + 1, port, out);
    }

    char *colon = strchr(buf, ':');
    if (colon && strchr(colon + 1, ':'))
        return parse_v6(buf, port, out); /* bare IPv6, no port */
    if (colon) {
        *colon = '\0';
        if (parse_port(colon + 1, &port) < 0)
            return -EINVAL;
    }
    return parse_v4(buf, port, out);
}

int mw_addr_format_ip(const struct mw_addr *a, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    int n;
    if (a->u.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &a->u.in4.sin_addr, ip, sizeof(ip));
        n = snprintf(buf, len, "%s", ip);
    } else if (a->u.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &a->u.in6.sin6_addr, ip, sizeof(ip));
        if (a->u.in6.sin6_scope_id)
            n = snprintf(buf, len, "%s%%%u", ip, (unsigned)a->u.in6.sin6_scope_id);
        else
            n = snprintf(buf, len, "%s", ip);
    } else {
        return -EAFNOSUPPORT;
    }
    return (n < 0 || (size_t)n >= len) ? -ENOSPC : 0;
}

int mw_addr_format(const struct mw_addr *a, char *buf, size_t len)
{
    char ip[ADDR_TEXT_MAX];
    int r = mw_addr_format_ip(a, ip, sizeof(ip));
    if (r < 0)
        return r;
    int n;
    if (a->u.sa.sa_family == AF_INET6)
        n = snprintf(buf, len, "[%s]:%u", ip, (unsigned)mw_addr_port(a));
    else
        n = snprintf(buf, len, "%s:%u", ip, (unsigned)mw_addr_port(a));
    return (n < 0 || (size_t)n >= len) ? -ENOSPC : 0;
}

uint16_t mw_addr_port(const struct mw_addr *a)
{
    if (a->u.sa.sa_family == AF_INET)
        return ntohs(a->u.in4.sin_port);
    if (a->u.sa.sa_family == AF_INET6)
        return ntohs(a->u.in6.sin6_port);
    return 0;
}

bool mw_addr_equal_ip(const struct mw_addr *a, const struct mw_addr *b)
{
    if (a->u.sa.sa_family != b->u.sa.sa_family)
        return false;
    if (a->u.sa.sa_family == AF_INET)
        return a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
    if (a->u.sa.sa_family == AF_INET6)
        return memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, 16) == 0 &&
               a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id;
    return false;
}

bool mw_addr_equal(const struct mw_addr *a, const struct mw_addr *b)
{
    return mw_addr_equal_ip(a, b) && mw_addr_port(a) == mw_addr_port(b);
}

int mw_addr_from_sa(const struct sockaddr *sa, struct mw_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        out->u.in4.sin_family = AF_INET;
        out->u.in4.sin_port = in4->sin_port;
        out->u.in4.sin_addr = in4->sin_addr;
        out->len = sizeof(struct sockaddr_in);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        out->u.in6.sin6_family = AF_INET6;
        out->u.in6.sin6_port = in6->sin6_port;
        out->u.in6.sin6_addr = in6->sin6_addr;
        out->u.in6.sin6_scope_id = in6->sin6_scope_id;
        out->len = sizeof(struct sockaddr_in6);
        return 0;
    }
    return -EAFNOSUPPORT;
}

/* Do the first `bits` bits of a and b agree? */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, b, bytes) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

int mw_cidr_parse(const char *s, struct mw_cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (!s || strlen(s) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, s);

    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    uint8_t addr[16] = {0};
    unsigned max;
    uint8_t family;
    if (inet_pton(AF_INET, buf, addr) == 1) {
        family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, addr) == 1) {
        family = AF_INET6;
        max = 128;
    } else {
        return -EINVAL;
    }

    unsigned prefix = max;
    if (slash) {
        if (!all_digits(slash + 1) || strlen(slash + 1) > 3)
            return -EINVAL;
        prefix = (unsigned)strtoul(slash + 1, NULL, 10);
        if (prefix > max)
            return -EINVAL;
    }
    /* Host bits below the prefix make the intent unclear ("10.0.0.1/8"): reject them. */
    for (unsigned bit = prefix; bit < max; bit++) {
        if (addr[bit / 8] & (0x80 >> (bit % 8)))
            return -EINVAL;
    }
    out->family = family;
    out->prefix = (uint8_t)prefix;
    memcpy(out->addr, addr, sizeof(out->addr));
    return 0;
}

int mw_cidr_format(const struct mw_cidr *c, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    int af = c->family == AF_INET ? AF_INET : AF_INET6;
    if (c->family != AF_INET && c->family != AF_INET6)
        return -EAFNOSUPPORT;
    inet_ntop(af, c->addr, ip, sizeof(ip));
    int n = snprintf(buf, len, "%s/%u", ip, (unsigned)c->prefix);
    return (n < 0 || (size_t)n >= len) ? -ENOSPC : 0;
}

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool mw_cidr_match(const struct mw_cidr *c, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        if (c->family != AF_INET)
            return false;
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        return prefix_equal((const uint8_t *)&in4->sin_addr, c->addr, c->prefix);
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    if (c->family == AF_INET6)
        return prefix_equal(a6, c->addr, c->prefix);
    /* A dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d (RFC 4291 2.5.5.2). */
    if (c->family == AF_INET && memcmp(a6, v4mapped_prefix, 12) == 0)
        return prefix_equal(a6 + 12, c->addr, c->prefix);
    return false;
}

bool mw_cidr_match_any(const struct mw_cidr *c, size_t n, const struct sockaddr *sa)
{
    for (size_t i = 0; i < n; i++) {
        if (mw_cidr_match(&c[i], sa))
            return true;
    }
    return false;
}
