/* Socket options shared by the shell's client and upstream sockets. Best effort: a kernel
 * limit that caps a request is not an error the caller can do anything about. */
#pragma once

/* Ask for 4 MiB receive and send buffers on a UDP socket (capped by the kernel's
 * net.core.rmem_max/wmem_max). */
void mw_socket_buffers(int fd);

/* A non-blocking UDP socket of family (AF_INET, AF_INET6) with mw_socket_buffers, bound to a
 * port drawn from the CSPRNG (RFC 5452: the kernel's choice of ephemeral port is sequential on
 * some configurations), retried on collisions. Returns the descriptor or a negative errno. */
int mw_socket_udp_random_port(int family);
