/* Socket options shared by listener.c and upstream.c; see socket.h. */
#include "minewall/socket.h"

#include <sys/socket.h>

void mw_socket_buffers(int fd)
{
    /* The default 208 KiB receive buffer overflows in bursts of a few thousand queries;
     * the kernel caps the request at net.core.rmem_max, which is fine: best effort. */
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}
