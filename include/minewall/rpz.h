/* RPZ zones (draft-vixie-dnsop-dns-rpz) read as master files (RFC 1035 5.1) into list entries:
 * $ORIGIN, $TTL, parentheses, comments, quoted strings, '\' escapes, blank owners, relative
 * names and every record type ldns knows. Triggers are owner names relative to the zone apex
 * (the owner of the first SOA record, or else the first $ORIGIN, or else the root): "name"
 * (EXACT), "*.name" (WILDCARD), "PREFIX.ADDRESS.rpz-ip" (an IP entry). Actions: CNAME . is
 * NXDOMAIN, CNAME *. NODATA, CNAME rpz-passthru. (or the owner itself) PASSTHRU, CNAME
 * rpz-drop. DROP, CNAME to another name a CNAME answer, A/AAAA local data SINKHOLE (all the
 * A/AAAA records of one trigger anywhere in the zone make one entry, emitted at the end of the
 * zone with the line of its first record). Other triggers (rpz-nsdname, rpz-nsip,
 * rpz-client-ip), actions (rpz-tcp-only, CNAME *.name) and local data types are skipped and
 * counted; SOA, NS and other records of the apex are counted as ignored.
 *
 * Errors are reported as "NAME:LINE: reason: \"text\"" as in listfile.h, and a bad record never
 * stops the zone: the reader resynchronises at the next record (the next line outside
 * parentheses). Pure: no libuv, no logging, no I/O. */
#pragma once

#include <stddef.h>

#include "minewall/listfile.h"

struct mw_errlist;

/* Local data (A/AAAA records) the reader holds until the end of a zone, counted in triggers;
 * a record over the bound is reported bad. */
#define MW_RPZ_LOCAL_MAX (1u << 20)

enum {
    /* Read every record with ldns, not only the ones the fast path cannot take: for tests and
     * fuzzers that check both paths give the same entries. */
    MW_RPZ_NO_FAST = 1,
};

/* Parse len bytes of buf (need not be NUL-terminated; CRLF accepted; no BOM) as an RPZ zone.
 * name is used in messages only. flags: 0 or MW_RPZ_NO_FAST. cb, arg, rep (required, reset
 * and filled, rep->format is RPZ) and errs (may be NULL) are as for mw_listfile_parse_buf(),
 * whose RPZ branch this is. Returns 0, -ENOMEM, or the negative errno a callback returned
 * (the parse stops there). */
int mw_rpz_parse(const char *name, const char *buf, size_t len, unsigned flags,
                 mw_listfile_entry_cb cb, void *arg, struct mw_listfile_report *rep,
                 struct mw_errlist *errs);
