/* Address to autonomous system and country, from MaxMind DB files (libmaxminddb). One struct
 * mw_geo holds up to two databases opened read-only with mmap: an ASN database in the
 * GeoLite2-ASN layout (autonomous_system_number, autonomous_system_organization; DB-IP's ASN
 * Lite uses the same names) and a country database in the GeoLite2-Country layout
 * (country.iso_code; DB-IP Country Lite too). The filter checks answer addresses with it and the
 * routing journal annotates them. After mw_geo_open the struct is never written, so any number
 * of threads may look up in it at once; a reload opens a new one and frees the old one when no
 * thread uses it any more. A lookup allocates nothing and makes no syscall. This module does not
 * log, does not watch the files for changes, and does not read any other field (names, cities,
 * registered_country). Pure apart from opening the files. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct mw_errlist;
struct mw_geo;

/* Size of mw_geo_info.as_org, the terminating NUL included. */
#define MW_GEO_ORG_LEN 96

/* What the databases say about one address. A field that is unknown is zero or "". */
struct mw_geo_info {
    uint32_t asn;       /* autonomous_system_number; 0 when unknown */
    bool found_asn;     /* the ASN database has a number for the address */
    bool found_country; /* the country database has a two-letter code for the address */
    /* autonomous_system_organization as stored (UTF-8), NUL-terminated. A longer name is cut at
     * a character boundary; "" when unknown. Not escaped: quote it before writing it anywhere. */
    char as_org[MW_GEO_ORG_LEN];
    char country[3]; /* country.iso_code, e.g. "DE"; "" when unknown */
};

/* Open the databases at asn_path and country_path; either may be NULL (that part of a lookup
 * then finds nothing; both NULL gives a geo that knows nothing). A file that cannot be opened
 * adds "PATH: cannot open MaxMind database: REASON" to errs; both files are tried, so both
 * errors are reported. On success *out takes a new object owned by the caller (mw_geo_free).
 * Returns 0, or the first error as a negative errno (*out is then NULL): -ENOENT, -EACCES or
 * another open(2) error, -EBADMSG for a file that is not a valid MaxMind DB, -ENOTSUP for an
 * unknown format version, -EIO, -ENOMEM, -EINVAL for a NULL out. */
int mw_geo_open(struct mw_geo **out, const char *asn_path, const char *country_path,
                struct mw_errlist *errs);

/* Close both databases and free g. NULL is a no-op. No lookup may be running on g. */
void mw_geo_free(struct mw_geo *g);

/* Look up addr (network byte order: 4 octets for AF_INET, 16 for AF_INET6) and fill *out, which
 * is always cleared first. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is looked up as the
 * IPv4 address; an IPv6 address in an IPv4-only database finds nothing. g may be NULL (nothing
 * is found). Thread-safe on a shared g, allocation-free, lock-free.
 * Returns 0 whether or not anything was found; -EAFNOSUPPORT for another family; -EBADMSG when a
 * database is corrupt where the address leads (what the other database found is still filled
 * in). A field of an unexpected type counts as not found rather than as an error. */
int mw_geo_lookup(const struct mw_geo *g, int family, const uint8_t *addr, struct mw_geo_info *out);
