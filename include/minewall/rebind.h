/* The address classes of the rebinding guard: is an address a client got for a public name one
 * that reaches the client's own host or network instead of the Internet? Cloud instance
 * metadata services (169.254.169.254 and fd00:ec2::254 on AWS, GCP and Azure, 169.254.170.2
 * for AWS ECS task credentials, 100.100.100.200 on Alibaba Cloud) hand out credentials to any
 * process that can reach them, so a public name answered with one of them is an SSRF bridge;
 * loopback, link-local and private space (RFC 1918, RFC 6598 shared space, ULA) let a page or
 * a fetcher reach internal services through a name the attacker controls (DNS rebinding).
 * IPv4 embedded in IPv6 (IPv4-mapped ::ffff:0:0/96, the NAT64 well-known prefix
 * 64:ff9b::/96, the deprecated IPv4-compatible ::/96) is classified as the IPv4 address it
 * carries. Pure, no state: a handful of integer compares per address. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mw_rebind_class {
    MW_REBIND_NONE = 0,  /* a global address, or one the guard has no opinion on */
    MW_REBIND_METADATA,  /* a cloud metadata service address (always its own class) */
    MW_REBIND_LOOPBACK,  /* 127.0.0.0/8, 0.0.0.0/8 (Linux connects to the host), ::1, :: */
    MW_REBIND_LINKLOCAL, /* 169.254.0.0/16, fe80::/10 */
    MW_REBIND_PRIVATE,   /* 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, fec0::/10 */
    MW_REBIND_COUNT
};

/* The class of addr (4 octets for AF_INET, 16 for AF_INET6, network order); any other family
 * is MW_REBIND_NONE. */
enum mw_rebind_class mw_rebind_classify(int family, const uint8_t *addr);

/* "metadata", "loopback", "link-local", "private", "none". */
const char *mw_rebind_class_name(enum mw_rebind_class c);

/* Does the guard act on class c: metadata addresses when metadata is on, the other classes
 * when private is on? */
static inline bool mw_rebind_guarded(enum mw_rebind_class c, bool metadata, bool private_ranges)
{
    return c == MW_REBIND_METADATA ? metadata : c != MW_REBIND_NONE && private_ranges;
}
