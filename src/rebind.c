/* Address classes of the rebinding guard; see rebind.h. Written as compares on the octets
 * rather than as a CIDR set: the set is fixed by the RFCs, it is consulted for every address of
 * every upstream answer, and a dozen compares cost less than a lookup. */
#include "minewall/rebind.h"

#include <string.h>
#include <sys/socket.h>

static enum mw_rebind_class classify4(const uint8_t *a)
{
    /* One integer and a few compares: this runs for every address of every upstream answer. */
    uint32_t x = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    /* Metadata first: 169.254.169.254 and 169.254.170.2 are link-local too. */
    if (x == 0xa9fea9feu    /* 169.254.169.254: AWS, GCP, Azure, Oracle, OpenStack metadata */
        || x == 0xa9feaa02u /* 169.254.170.2: AWS ECS task metadata and credentials */
        || x == 0x646464c8u /* 100.100.100.200: Alibaba Cloud instance metadata */)
        return MW_REBIND_METADATA;
    if (a[0] == 127 || a[0] == 0) /* 0.0.0.0/8: "this host" (RFC 1122), reaches local ports */
        return MW_REBIND_LOOPBACK;
    if ((x >> 16) == 0xa9feu) /* 169.254.0.0/16 */
        return MW_REBIND_LINKLOCAL;
    if (a[0] == 10 || (x >> 20) == 0xac1u || (x >> 16) == 0xc0a8u || (x >> 22) == 0x191u)
        return MW_REBIND_PRIVATE; /* RFC 1918; 100.64.0.0/10, RFC 6598 shared address space */
    return MW_REBIND_NONE;
}

static bool zero(const uint8_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i])
            return false;
    return true;
}

static enum mw_rebind_class classify6(const uint8_t *a)
{
    /* fd00:ec2::254, AWS instance metadata over IPv6 (Nitro instances). */
    static const uint8_t meta6[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0,    0,
                                      0,    0,    0,    0,    0, 0, 0x02, 0x54};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(a, meta6, 16) == 0)
        return MW_REBIND_METADATA;
    if (zero(a, 10)) {
        if (a[10] == 0xff && a[11] == 0xff) /* ::ffff:0:0/96, IPv4-mapped (RFC 4291 2.5.5.2) */
            return classify4(a + 12);
        if (a[10] == 0 && a[11] == 0) {
            /* ::1 and :: are loopback and "any" (which connects to the host); the rest of
             * ::/96 is IPv4-compatible (RFC 4291 2.5.5.1, deprecated but still parsed). */
            if (zero(a + 12, 3) && a[15] <= 1)
                return MW_REBIND_LOOPBACK;
            return classify4(a + 12);
        }
    }
    if (memcmp(a, nat64, 12) == 0) /* 64:ff9b::/96, the NAT64 well-known prefix (RFC 6052) */
        return classify4(a + 12);
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return MW_REBIND_LINKLOCAL;
    if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)) /* ULA, site-local */
        return MW_REBIND_PRIVATE;
    return MW_REBIND_NONE;
}

enum mw_rebind_class mw_rebind_classify(int family, const uint8_t *addr)
{
    if (family == AF_INET)
        return classify4(addr);
    if (family == AF_INET6)
        return classify6(addr);
    return MW_REBIND_NONE;
}

const char *mw_rebind_class_name(enum mw_rebind_class c)
{
    switch (c) {
    case MW_REBIND_METADATA:
        return "metadata";
    case MW_REBIND_LOOPBACK:
        return "loopback";
    case MW_REBIND_LINKLOCAL:
        return "link-local";
    case MW_REBIND_PRIVATE:
        return "private";
    default:
        return "none";
    }
}
