/* Socket options shared by the shell's client and upstream sockets. Best effort: a kernel
 * limit that caps a request is not an error the caller can do anything about. */
#pragma once

/* Ask for 4 MiB receive and send buffers on a UDP socket (capped by the kernel's
 * net.core.rmem_max/wmem_max). */
void mw_socket_buffers(int fd);
