/* Text forms of DNS data for everything off the per-query hot path (the block log, the routing
 * journal, metrics labels, list files, tools), all from ldns so that the project has one table
 * of type mnemonics and one presentation format: the hot path (dnsmsg.c) keeps numbers and
 * wire data and never calls this. Pure: no I/O, no logging. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The mnemonic of a record type ("A", "HTTPS", "ANY"), a static string from ldns's table. An
 * unknown type gets its RFC 3597 name "TYPE65534" written into buf[cap] (returned), or NULL when
 * buf is NULL. Allocation-free. */
const char *mw_dnstext_type(uint16_t type, char *buf, size_t cap);

/* The mnemonic of a response code ("NOERROR", "NXDOMAIN"), or "RCODE<n>" written into buf[cap]
 * for one without a name (NULL when buf is NULL). Allocation-free. */
const char *mw_dnstext_rcode(unsigned rcode, char *buf, size_t cap);

/* The reverse for the text s[0..n) (need not be NUL-terminated), case-insensitive: "aaaa" or
 * "TYPE28" -> 28. Returns the type (1..65535) or -EINVAL. Allocation-free. */
int mw_dnstext_type_parse(const char *s, size_t n);

/* A class mnemonic s[0..n): "IN" -> 1, "CH", "HS", "NONE", "ANY", "CLASS3". Returns the class
 * (1..65535) or -EINVAL. Allocation-free. */
int mw_dnstext_class_parse(const char *s, size_t n);

/* Record data rdata[0..len) of type (uncompressed wire, as in a stored answer) in presentation
 * format, fields separated by one blank ("10 mail.example"). Names are written without their
 * trailing dot, the way minewall writes names everywhere ("." stays "."). Returns the text
 * length, -EBADMSG when the data does not parse for the type, -ENOSPC when buf[cap] is too
 * small (buf then holds ""), -ENOMEM. Allocates inside ldns; for text made on a change, not per
 * query. */
int mw_dnstext_rdata(uint16_t type, const uint8_t *rdata, size_t len, char *buf, size_t cap);
