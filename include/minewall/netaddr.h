/* Socket addresses and CIDR prefixes as text and as values. Pure: no sockets are opened. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for an upstream's label in metrics, /status and the journal ("tls://[::1]:853", a DoH
 * URL; longer URLs are cut). */
#define MW_UPSTREAM_LABEL 128

struct mw_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } u;
    socklen_t len;
};

struct mw_cidr {
    uint8_t family;   /* AF_INET or AF_INET6 */
    uint8_t prefix;   /* bits */
    uint8_t addr[16]; /* network address, host bits zero */
};

/* Parse "1.2.3.4", "1.2.3.4:53", "::1", "[::1]", "[::1]:5353". A missing port becomes
 * default_port; a scope id ("fe80::1%eth0") is accepted. Returns 0 or -EINVAL. */
int mw_addr_parse(const char *s, uint16_t default_port, struct mw_addr *out);

/* Parse a bare address only ("1.2.3.4", "::1", "fe80::1%eth0"; no brackets, no port) as
 * resolv.conf and hosts files write it, with the given port. Returns 0 or -EINVAL. */
int mw_addr_parse_ip(const char *s, uint16_t port, struct mw_addr *out);

/* Format as "1.2.3.4:53" or "[::1]:53". Returns 0, or -ENOSPC when buf is too small. */
int mw_addr_format(const struct mw_addr *a, char *buf, size_t len);

/* Format without port ("1.2.3.4", "::1"). */
int mw_addr_format_ip(const struct mw_addr *a, char *buf, size_t len);

uint16_t mw_addr_port(const struct mw_addr *a);
/* Same family, address and port. */
bool mw_addr_equal(const struct mw_addr *a, const struct mw_addr *b);
/* Same family and address, any port. */
bool mw_addr_equal_ip(const struct mw_addr *a, const struct mw_addr *b);
/* Build from a struct sockaddr of AF_INET/AF_INET6; returns -EAFNOSUPPORT otherwise. */
int mw_addr_from_sa(const struct sockaddr *sa, struct mw_addr *out);

/* Parse "10.0.0.0/8", "fd00::/8", or a bare address (full-length prefix). Host bits set below
 * the prefix are an error (-EINVAL), so "10.0.0.1/8" is rejected as ambiguous. */
int mw_cidr_parse(const char *s, struct mw_cidr *out);
int mw_cidr_format(const struct mw_cidr *c, char *buf, size_t len);
/* Does sa (AF_INET/AF_INET6) fall into c? An IPv4-mapped IPv6 address matches IPv4 prefixes. */
bool mw_cidr_match(const struct mw_cidr *c, const struct sockaddr *sa);
/* Any of n prefixes. */
bool mw_cidr_match_any(const struct mw_cidr *c, size_t n, const struct sockaddr *sa);
