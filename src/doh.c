/* DNS over HTTPS, the pure parts; see doh.h. */
#include "minewall/doh.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "minewall/base64.h"
#include "minewall/dot.h"

/* FNV-1a, 64 bits: a stable hash of the URL for the identity (not a security boundary: two
 * URLs that collide are caught by the config as one member under two URLs). */
static uint64_t fnv64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static bool path_ok(const char *p)
{
    if (p[0] != '/' || strlen(p) > MW_DOH_PATH_MAX)
        return false;
    for (; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || *p == '#')
            return false;
    return true;
}

int mw_doh_parse_url(const char *s, struct mw_doh_url *out)
{
    static const char prefix[] = "https://";
    if (strncasecmp(s, prefix, sizeof(prefix) - 1) != 0)
        return 0;
    s += sizeof(prefix) - 1;
    memset(out, 0, sizeof(*out));
    const char *slash = strchr(s, '/');
    if (!slash || !path_ok(slash))
        return -EINVAL;
    snprintf(out->path, sizeof(out->path), "%s", slash);
    char hp[MW_DOH_HOST_MAX + 16];
    size_t n = (size_t)(slash - s);
    if (n == 0 || n >= sizeof(hp) || memchr(s, '@', n))
        return -EINVAL;
    memcpy(hp, s, n);
    hp[n] = 0;
    char *host = hp, *port = NULL;
    if (hp[0] == '[') {
        char *end = strchr(hp, ']');
        if (!end || (end[1] && end[1] != ':'))
            return -EINVAL;
        *end = 0;
        host = hp + 1;
        port = end[1] == ':' ? end + 2 : NULL;
        if (!strchr(host, ':'))
            return -EINVAL;
    } else {
        char *colon = strchr(hp, ':');
        if (colon) {
            *colon = 0;
            port = colon + 1;
        }
    }
    out->port = MW_DOH_PORT;
    if (port) {
        unsigned long v = 0;
        if (!*port || strlen(port) > 5)
            return -EINVAL;
        for (const char *c = port; *c; c++) {
            if (*c < '0' || *c > '9')
                return -EINVAL;
            v = v * 10 + (unsigned long)(*c - '0');
        }
        if (v == 0 || v > 65535)
            return -EINVAL;
        out->port = (uint16_t)v;
    }
    if (mw_addr_parse_ip(host, out->port, &out->ip) == 0) {
        out->is_ip = true;
        if (mw_addr_format_ip(&out->ip, out->host, sizeof(out->host)) < 0)
            return -EINVAL;
    } else if (hp[0] == '[' || mw_doh_host_name(host, out->host, sizeof(out->host)) < 0) {
        return -EINVAL;
    }
    char label[MW_DOH_HOST_MAX + MW_DOH_PATH_MAX + 32];
    mw_doh_label(out, label, sizeof(label));
    mw_doh_identity(label, out->port, &out->id);
    return 1;
}

void mw_doh_identity(const char *label, uint16_t port, struct mw_addr *out)
{
    /* 100::/64 (RFC 6666) with the hash of the canonical label. */
    uint64_t h = fnv64(label);
    memset(out, 0, sizeof(*out));
    struct sockaddr_in6 *a6 = &out->u.in6;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    a6->sin6_addr.s6_addr[0] = 0x01;
    for (int i = 0; i < 8; i++)
        a6->sin6_addr.s6_addr[8 + i] = (uint8_t)(h >> (56 - 8 * i));
    out->len = sizeof(*a6);
}

bool mw_doh_is_identity(const struct mw_addr *a)
{
    static const uint8_t prefix[8] = {0x01, 0, 0, 0, 0, 0, 0, 0};
    return a->u.sa.sa_family == AF_INET6 && memcmp(a->u.in6.sin6_addr.s6_addr, prefix, 8) == 0;
}

static bool host_v6(const struct mw_doh_url *u)
{
    return u->is_ip && u->ip.u.sa.sa_family == AF_INET6;
}

int mw_doh_host_name(const char *s, char *out, size_t cap)
{
    if (mw_dot_name_copy(s, out, cap) < 0)
        return -EINVAL;
    /* An all-numeric last label is a mistyped address ("999.1.1.1"), not a host name. */
    const char *last = strrchr(out, '.');
    last = last ? last + 1 : out;
    if (strspn(last, "0123456789") == strlen(last))
        return -EINVAL;
    return 0;
}

int mw_doh_label(const struct mw_doh_url *u, char *buf, size_t len)
{
    bool v6 = host_v6(u);
    return snprintf(buf, len, "https://%s%s%s:%u%s", v6 ? "[" : "", u->host, v6 ? "]" : "",
                    (unsigned)u->port, u->path);
}

int mw_doh_authority(const struct mw_doh_url *u, char *buf, size_t len)
{
    bool v6 = host_v6(u);
    if (u->port == MW_DOH_PORT)
        return snprintf(buf, len, "%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "");
    return snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", u->host, v6 ? "]" : "",
                    (unsigned)u->port);
}

int mw_doh_get_path(const char *path, const uint8_t *q, size_t len, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%cdns=", path, strchr(path, '?') ? '&' : '?');
    if (n < 0 || (size_t)n >= cap)
        return -ENOSPC;
    int b = mw_base64_encode(q, len, true, out + n, cap - (size_t)n);
    return b < 0 ? b : n + b;
}

bool mw_doh_content_type_ok(const char *v, size_t n)
{
    static const char want[] = "application/dns-message";
    const size_t wn = sizeof(want) - 1;
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    if (n < wn || strncasecmp(v, want, wn) != 0)
        return false;
    for (size_t i = wn; i < n; i++) {
        if (v[i] == ';')
            return true;
        if (v[i] != ' ' && v[i] != '\t')
            return false;
    }
    return true;
}
