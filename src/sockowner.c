/* Who holds a listen address; see sockowner.h. Reads /proc only when a bind failed, so
 * nothing here is on a query path. The kernel prints addresses in /proc/net as the raw 32-bit
 * words of the address in host byte order, which memcpy back into network order. */
#include "minewall/sockowner.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "minewall/netaddr.h"

static int hex_word(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                            : 16;
        if (d == 16)
            return -EINVAL;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

int mw_sockowner_parse_line(const char *line, bool v6, struct mw_addr *local, unsigned *state,
                            uint64_t *inode)
{
    /* "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid
     *  timeout inode ..." */
    const char *p = strchr(line, ':');
    if (!p)
        return -EINVAL;
    p++;
    while (*p == ' ')
        p++;
    size_t words = v6 ? 4 : 1;
    uint32_t w[4];
    for (size_t i = 0; i < words; i++) {
        if (hex_word(p + 8 * i, &w[i]) < 0)
            return -EINVAL;
    }
    p += 8 * words;
    unsigned port, st, skip;
    unsigned long long ino;
    char rem[64];
    /* :port rem_address st tx:rx tr:when retrnsmt uid timeout inode */
    if (sscanf(p, ":%4x %63s %2x %*x:%*x %*x:%*x %*x %u %u %llu", &port, rem, &st, &skip, &skip,
               &ino) != 6)
        return -EINVAL;
    memset(local, 0, sizeof(*local));
    if (v6) {
        local->u.in6.sin6_family = AF_INET6;
        memcpy(&local->u.in6.sin6_addr, w, 16);
        local->u.in6.sin6_port = htons((uint16_t)port);
        local->len = sizeof(local->u.in6);
    } else {
        local->u.in4.sin_family = AF_INET;
        memcpy(&local->u.in4.sin_addr, w, 4);
        local->u.in4.sin_port = htons((uint16_t)port);
        local->len = sizeof(local->u.in4);
    }
    *state = st;
    *inode = ino;
    return 0;
}

static uint16_t port_of(const struct mw_addr *a)
{
    return ntohs(a->u.sa.sa_family == AF_INET6 ? a->u.in6.sin6_port : a->u.in4.sin_port);
}

static bool is_any(const struct mw_addr *a)
{
    if (a->u.sa.sa_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&a->u.in6.sin6_addr);
    return a->u.in4.sin_addr.s_addr == htonl(INADDR_ANY);
}

/* Does a socket bound to s keep us from binding a? Same port, and the same address or a
 * wildcard on either side; an IPv6 wildcard socket may be dual-stack and cover IPv4. */
static bool conflicts(const struct mw_addr *s, const struct mw_addr *a)
{
    if (port_of(s) != port_of(a))
        return false;
    if (s->u.sa.sa_family != a->u.sa.sa_family)
        return s->u.sa.sa_family == AF_INET6 && is_any(s);
    if (is_any(s) || is_any(a))
        return true;
    if (a->u.sa.sa_family == AF_INET6)
        return memcmp(&s->u.in6.sin6_addr, &a->u.in6.sin6_addr, 16) == 0;
    return s->u.in4.sin_addr.s_addr == a->u.in4.sin_addr.s_addr;
}

static uint64_t find_inode(const struct mw_addr *a, int type)
{
    static const char *const files[2][2] = {{"/proc/net/udp", "/proc/net/udp6"},
                                            {"/proc/net/tcp", "/proc/net/tcp6"}};
    bool tcp = type == SOCK_STREAM;
    for (int v6 = 0; v6 < 2; v6++) {
        FILE *f = fopen(files[tcp][v6], "re");
        if (!f)
            continue;
        char line[512];
        uint64_t found = 0;
        while (!found && fgets(line, sizeof(line), f)) {
            struct mw_addr local;
            unsigned st;
            uint64_t ino;
            if (mw_sockowner_parse_line(line, v6, &local, &st, &ino) < 0)
                continue; /* the header */
            if ((tcp && st != 0x0A) || ino == 0 || !conflicts(&local, a))
                continue;
            found = ino;
        }
        fclose(f);
        if (found)
            return found;
    }
    return 0;
}

/* The first process with socket:[inode] among its open files. */
static pid_t find_pid(uint64_t inode)
{
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    char want[48];
    snprintf(want, sizeof(want), "socket:[%" PRIu64 "]", inode);
    pid_t pid = 0;
    struct dirent *de;
    while (!pid && (de = readdir(proc))) {
        char *end;
        long n = strtol(de->d_name, &end, 10);
        if (*end || n <= 0)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/fd", n);
        DIR *fds = opendir(path);
        if (!fds)
            continue;
        struct dirent *fe;
        while (!pid && (fe = readdir(fds))) {
            char link[320], target[64];
            snprintf(link, sizeof(link), "%s/%s", path, fe->d_name);
            ssize_t len = readlink(link, target, sizeof(target) - 1);
            if (len <= 0)
                continue;
            target[len] = '\0';
            if (strcmp(target, want) == 0)
                pid = (pid_t)n;
        }
        closedir(fds);
    }
    closedir(proc);
    return pid;
}

int mw_sockowner_find(const struct mw_addr *addr, int type, struct mw_sockowner *out)
{
    memset(out, 0, sizeof(*out));
    out->inode = find_inode(addr, type);
    if (!out->inode)
        return -ENOENT;
    out->pid = find_pid(out->inode);
    if (out->pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/comm", (long)out->pid);
        FILE *f = fopen(path, "re");
        if (f) {
            if (fgets(out->comm, sizeof(out->comm), f))
                out->comm[strcspn(out->comm, "\n")] = '\0';
            fclose(f);
        }
    }
    return 0;
}
