/* DNS over TLS (RFC 7858, RFC 8310), the pure parts: the `tls://ADDR[:PORT][#AUTH-NAME]`
 * upstream syntax, SPKI pins (RFC 7858 section 4.2) as base64 text and their matching, the
 * EDNS options a DoT query carries (tcp-keepalive, RFC 7828; padding to a multiple of 128
 * bytes, RFC 7830 and the block-length policy of RFC 8467) and the keepalive a server
 * announces in its answer. No sockets and no TLS library: tls.c drives OpenSSL, dotconn.c the
 * connections. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mw_addr;

#define MW_DOT_PORT 853
#define MW_DOT_NAME_MAX 253  /* an authentication name as text, without trailing dot */
#define MW_DOT_PAD_BLOCK 128 /* RFC 8467 section 4.1: queries padded to a multiple of 128 */
#define MW_DOT_PIN_LEN 32    /* SHA-256 of the SubjectPublicKeyInfo */

/* Parse "tls://ADDR[:PORT][#AUTH-NAME]" (ADDR an IPv4 address or an IPv6 one in brackets
 * when a port follows, as mw_addr_parse reads them; PORT defaults to 853). The name is
 * checked (letters, digits, '-', '_', '.', labels of 1..63, at most 253 bytes; a trailing dot
 * is dropped) and copied lowercase into name (cap >= MW_DOT_NAME_MAX + 1), "" when absent.
 * Returns 1 when s is a tls:// URL and was parsed, 0 when s has no "tls://" prefix (nothing
 * written), -EINVAL when it is a malformed one. */
int mw_dot_parse_url(const char *s, struct mw_addr *addr, char *name, size_t cap);

/* Check the host name s (letters, digits, '-', '_', '.', labels of 1..63, at most 253 bytes; a
 * trailing dot is dropped) and copy it lowercase into name (cap bytes). Returns 0 or -EINVAL. */
int mw_dot_name_copy(const char *s, char *name, size_t cap);

/* Decode a base64 SHA-256 pin (44 characters with one '=' pad, RFC 4648) into out. Returns 0
 * or -EINVAL (wrong length, bad characters, non-zero pad bits). */
int mw_dot_pin_decode(const char *s, uint8_t out[MW_DOT_PIN_LEN]);

/* Is hash one of the n pins? */
bool mw_dot_pin_match(const uint8_t (*pins)[MW_DOT_PIN_LEN], size_t n,
                      const uint8_t hash[MW_DOT_PIN_LEN]);

/* Turn a query built by mw_dns_build_query (its OPT record last, with empty rdata) of len
 * bytes in buf (cap bytes) into a DoT query: an empty edns-tcp-keepalive option (RFC 7828:
 * a client sends it without a timeout) and a padding option that brings the message to a
 * multiple of MW_DOT_PAD_BLOCK bytes. Returns the new length, -EINVAL when buf does not end
 * in an empty OPT record, -ENOSPC when cap is too small. */
int mw_dot_finish_query(uint8_t *buf, size_t len, size_t cap);
/* The same, with the keepalive option only when keepalive (DoH queries are padded only). */
int mw_dot_finish_query_opt(uint8_t *buf, size_t len, size_t cap, bool keepalive);

/* The edns-tcp-keepalive timeout a server put in its answer pkt (len bytes), in
 * milliseconds (the option counts units of 100 ms), or -1 when it sent none (or the message
 * cannot be walked). A timeout of 0 means: close the connection when idle. */
int64_t mw_dot_keepalive_ms(const uint8_t *pkt, size_t len);
