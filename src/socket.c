/* Socket options shared by listener.c, upstream.c and prober.c; see socket.h. */
#include "minewall/socket.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "minewall/netaddr.h"

void mw_socket_buffers(int fd)
{
    /* The default 208 KiB receive buffer overflows in bursts of a few thousand queries;
     * the kernel caps the request at net.core.rmem_max, which is fine: best effort. */
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

int mw_socket_udp_random_port(int family)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    mw_socket_buffers(fd);
    struct mw_addr a;
    memset(&a, 0, sizeof(a));
    a.u.sa.sa_family = (sa_family_t)family;
    a.len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    int rc = -1;
    for (int tries = 0; tries < 16 && rc < 0; tries++) {
        uint16_t port = (uint16_t)(1024 + arc4random_uniform(65536 - 1024));
        if (family == AF_INET)
            a.u.in4.sin_port = htons(port);
        else
            a.u.in6.sin6_port = htons(port);
        rc = bind(fd, &a.u.sa, a.len);
    }
    if (rc < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}
