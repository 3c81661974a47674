/* Domain names in wire form (RFC 1035 3.1): conversion from and to text, lowercasing and
 * suffix tests. Wire names here are always uncompressed and end with the root label; their
 * length includes it ("\0" alone is the root, length 1). Max 255 octets. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MW_DNAME_MAX 255

/* Text ("Example.COM", "example.com.", "." or "") to lowercase wire. Accepts \DDD and \X
 * escapes. Returns the wire length, or -EINVAL for an empty label, a label over 63 octets or
 * a name over 255 octets. cap must be at least MW_DNAME_MAX + 1 to take any name. */
int mw_dname_from_text(const char *text, uint8_t *wire, size_t cap);

/* Wire to text without the trailing dot ("example.com", "." for the root); bytes outside
 * [a-z0-9-_*] and the dot inside a label are escaped as \DDD. Returns the text length or
 * -ENOSPC/-EINVAL. */
int mw_dname_to_text(const uint8_t *wire, size_t wire_len, char *buf, size_t cap);

/* Lowercase ASCII letters in place. */
void mw_dname_lower(uint8_t *wire, size_t len);

/* Is name equal to or below zone (both lowercase wire)? */
bool mw_dname_is_subdomain(const uint8_t *name, size_t name_len, const uint8_t *zone,
                           size_t zone_len);

/* Number of labels, not counting the root. */
int mw_dname_labels(const uint8_t *wire, size_t len);

/* Read a possibly compressed name at *off from a packet into wire (lowercased), advancing *off
 * past the name as it appears at that position. Bounded: at most 127 pointer jumps, pointers
 * must point backwards and past the 12-octet header, and what they lead to must end before
 * the first pointer. Returns the wire length, -EBADMSG, or -ENOSPC when cap is too small
 * (MW_DNAME_MAX + 1 always suffices). */
int mw_dname_unpack(const uint8_t *pkt, size_t pkt_len, size_t *off, uint8_t *wire, size_t cap);

/* Skip a possibly compressed name at *off without decoding. Returns 0 or -EBADMSG. */
int mw_dname_skip(const uint8_t *pkt, size_t pkt_len, size_t *off);

/* As mw_dname_skip, and no label reached through a pointer may overlap one of the 4-octet
 * fields starting at holes[0..n_holes) (ascending offsets): fields the caller rewrites in
 * copies of the packet (TTLs), so a name read now is the name every later copy holds. */
int mw_dname_skip_stable(const uint8_t *pkt, size_t pkt_len, size_t *off, const uint16_t *holes,
                         size_t n_holes);

/* Is the (possibly compressed) name at *off equal to want (lowercase wire), ignoring ASCII
 * case? Validates the name as mw_dname_unpack does, without copying it, and advances *off past
 * it. Returns 1, 0 or -EBADMSG. */
int mw_dname_equal_at(const uint8_t *pkt, size_t pkt_len, size_t *off, const uint8_t *want,
                      size_t want_len);
