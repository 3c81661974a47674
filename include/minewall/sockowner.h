/* Who holds a listen address: the socket in /proc/net/{udp,udp6,tcp,tcp6} bound to the same
 * port and to the same or a wildcard address, and the process with that socket open (found
 * through /proc/PID/fd). Used only to explain a failed bind at start or reload; Linux only,
 * best effort: another user's process is invisible without privileges. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mw_addr;

struct mw_sockowner {
    uint64_t inode; /* the socket's inode, 0 if none was found */
    pid_t pid;      /* 0 if no process with the socket open is visible */
    char comm[32];  /* the process's name (/proc/PID/comm), "" if unknown */
};

/* One line of /proc/net/{udp,tcp}[6] (not the header): the local address and port, the state
 * (TCP: 0x0A is LISTEN) and the inode. v6 tells which file the line came from. Returns 0, or
 * -EINVAL when the line does not parse. Pure. */
int mw_sockowner_parse_line(const char *line, bool v6, struct mw_addr *local, unsigned *state,
                            uint64_t *inode);

/* Find a socket of type SOCK_DGRAM or SOCK_STREAM (listening) that conflicts with addr, and
 * its process. Returns 0 when a socket was found (out->pid may still be 0), -ENOENT when none,
 * or another negative errno when /proc cannot be read. */
int mw_sockowner_find(const struct mw_addr *addr, int type, struct mw_sockowner *out);
