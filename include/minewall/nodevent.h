/* The new_domain event of the newly-observed-domain detector (nod.h, nodsvc.h): the fixed-size
 * record a worker hands over when a registered domain is new to this resolver, or due for its
 * daily refresh in the fleet's Redis sets, and its journal line
 *
 *   {"ts":"...","type":"new_domain","host":"gw1","scope":"local"|"fleet",
 *    "client":"10.0.0.5","registered_domain":"example.com","qname":"www.example.com",
 *    "qtype":"A","address":"192.0.2.1"|null,"asn":64500|null,"as_org":"Example"|null,
 *    "country":"DE"|null,"action":"log","blocked_for_s":600}
 *
 * (blocked_for_s only when the detector's action blocked the domain). "address" is the first
 * A or AAAA record of the answer section of the first answer, and asn, as_org and country what
 * the journal's geo databases say about it. Pure: formatting only, no allocation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/netaddr.h"

struct mw_geo_info;

struct mw_nod_event {
    uint64_t wall_ms;      /* when the answer arrived, ms since the Unix epoch */
    struct mw_addr client; /* who asked first (family 0: unknown) */
    uint16_t qtype;
    uint16_t qname_len;  /* lowercase wire, with the root label */
    uint16_t regdom_off; /* the registered domain is qname + regdom_off */
    uint8_t qname[256];
    uint8_t family; /* AF_INET, AF_INET6, or 0: the answer had no address */
    uint8_t addr[16];
    bool local_new; /* new to this resolver (else only the fleet's daily refresh) */
    bool blocked;   /* the detector's action blocked the domain */
    uint8_t action; /* enum mw_action: the detector's action when the answer came */
    uint64_t block_for_ms;
};

/* The first A or AAAA record (class IN, right length) of the answer section of the response
 * pkt (len octets) as mw_dns_prepare_response left it, into e->family and e->addr; family 0
 * when there is none. ttl_off: the offsets of the records' TTLs it recorded, n of them for the
 * answer section (its count, or the offsets kept when fewer): each record's type, class and
 * length sit around its TTL, so no name is walked. */
void mw_nod_event_address(struct mw_nod_event *e, const uint8_t *pkt, size_t len,
                          const uint16_t *ttl_off, unsigned n);

/* Format the event as a journal line (with '\n' and NUL) into buf: scope "local" or "fleet",
 * gi the geo information of e's address (NULL: unknown). Returns the length without the NUL,
 * -ENOSPC, or -EINVAL for a time past the year 9999. */
int mw_nod_event_format(char *buf, size_t cap, const char *host, const struct mw_nod_event *e,
                        const char *scope, const struct mw_geo_info *gi);
