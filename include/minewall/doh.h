/* DNS over HTTPS (RFC 8484), the pure parts: the `https://HOST[:PORT]/PATH` upstream syntax,
 * the member identity and label of such an upstream, base64url without padding (RFC 4648
 * section 5, the `?dns=` of a GET) and the request path of a GET. No sockets, no HTTP/2:
 * dohconn.c is the HTTP/2 session (nghttp2), dotconn.c carries it over TLS.
 *
 * Identity: the upstream lists, the health board and the per-worker sets key members by
 * address. A DoH upstream has no address of its own until HOST is resolved (and the address
 * may change on each resolution), so its member identity is a stand-in address in the
 * discard-only prefix 100::/64 (RFC 6666: never routed, never a real upstream) whose low 64
 * bits hash the URL, with the URL's port. The same URL gives the same identity in every
 * config, so a reload keeps its state; two URLs are two members. Nothing is ever sent to the
 * stand-in address: the connections go to HOST's address (given or resolved). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/netaddr.h"

#define MW_DOH_PORT 443
#define MW_DOH_HOST_MAX 253  /* a host name as text, without trailing dot */
#define MW_DOH_PATH_MAX 255  /* the path (with its leading '/' and any query part) */
#define MW_DOH_MSG_MAX 65535 /* the largest DNS message a response body may carry */

struct mw_doh_url {
    char host[MW_DOH_HOST_MAX + 1]; /* lowercase name, or the address as text (no brackets) */
    char path[MW_DOH_PATH_MAX + 1]; /* "/dns-query" */
    uint16_t port;
    bool is_ip;        /* host is an IP address literal */
    struct mw_addr ip; /* when is_ip: host's address with port */
    struct mw_addr id; /* the member identity (see above) */
};

/* Parse "https://HOST[:PORT]/PATH" (HOST a name, an IPv4 address, or an IPv6 address in
 * brackets; PORT 1-65535, default 443; PATH starts with '/', printable ASCII without spaces
 * or '#', at most MW_DOH_PATH_MAX bytes; no user info). Returns 1 when s is an https:// URL
 * and was parsed into out, 0 when s has no "https://" prefix (nothing written), -EINVAL when
 * it is a malformed one. */
int mw_doh_parse_url(const char *s, struct mw_doh_url *out);

/* The stand-in identity of the upstream labelled label (its canonical text) with port. */
void mw_doh_identity(const char *label, uint16_t port, struct mw_addr *out);

/* Check host name s (as mw_dot_name_copy, and its last label not all digits: "999.1.1.1" is
 * a mistyped address) and copy it lowercase into out. Returns 0 or -EINVAL. */
int mw_doh_host_name(const char *s, char *out, size_t cap);

/* Is a the stand-in identity of a DoH upstream (in 100::/64)? */
bool mw_doh_is_identity(const struct mw_addr *a);

/* "https://HOST:PORT/PATH" (an IPv6 host in brackets) into buf; truncated to len - 1 bytes.
 * Returns the length it would have had (as snprintf). */
int mw_doh_label(const struct mw_doh_url *u, char *buf, size_t len);

/* The authority of the request (":authority"): "HOST" with ":PORT" unless 443, an IPv6 host
 * in brackets. Same return as mw_doh_label. */
int mw_doh_authority(const struct mw_doh_url *u, char *buf, size_t len);

/* The path of a GET for query q (len bytes): PATH, then "?dns=" (or "&dns=" when PATH has a
 * query part already) and the base64url of q. Returns the length, or -ENOSPC. */
int mw_doh_get_path(const char *path, const uint8_t *q, size_t len, char *out, size_t cap);

/* Is a Content-Type header value v (n bytes) "application/dns-message" (case-insensitive,
 * parameters after ';' and spaces around allowed)? */
bool mw_doh_content_type_ok(const char *v, size_t n);
