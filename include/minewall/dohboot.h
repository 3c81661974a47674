/* The bootstrap of DoH upstreams named by host name, the pure parts: a host name looked up in
 * a hosts file's bytes, and the address read from a DNS answer. The prober (prober.c) drives
 * them on its loop: at start and when the address's TTL runs out it looks HOST up in
 * tls.hosts-file (default /etc/hosts), then asks a plain upstream of `upstreams`, or its
 * DoT upstream when it has no plain one (A, then AAAA when there is no A), never minewall
 * itself and never a DoH upstream; the address goes
 * on the health board (health.h) where the workers read it. Pure: no I/O. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct mw_addr;

/* Bounds on how long a resolved address is used before it is asked again. */
#define MW_DOHBOOT_TTL_MIN_S 5
#define MW_DOHBOOT_TTL_MAX_S 86400
#define MW_DOHBOOT_HOSTS_TTL_S 60 /* an address from the hosts file is looked up again after */

/* Look name (lowercase, no trailing dot) up in hosts-file text data (len bytes): the first
 * line "ADDR NAME..." naming it (case-insensitive; '#' starts a comment). out gets ADDR with
 * port. Returns 1 when found, 0 when not. */
int mw_dohboot_hosts(const char *data, size_t len, const char *name, uint16_t port,
                     struct mw_addr *out);

/* Read the first record of type qtype (A or AAAA) in the answer section of response pkt (len
 * bytes) into out with port, and its TTL clamped to MW_DOHBOOT_TTL_MIN_S..MAX_S into *ttl_s.
 * Returns 1 when found, 0 when the answer has none (NXDOMAIN, NODATA), -EBADMSG for a
 * malformed message or a bad rdata length. */
int mw_dohboot_answer(const uint8_t *pkt, size_t len, uint16_t qtype, uint16_t port,
                      struct mw_addr *out, uint32_t *ttl_s);
