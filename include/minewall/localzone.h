/* Local data and local zones (issue 13): records the operator writes in zone-file syntax
 * (`local-data:`), zones that decide what happens to the other names below them
 * (`local-zones:`, with Unbound's meanings of static, transparent, refuse and redirect), and
 * PTR records made from the A and AAAA records (`local-data-ptr:`). One set is built per
 * config (a client group will carry its own set the same way) and read by every worker
 * through the snapshot; it is never edited after the build, a reload builds a new one.
 *
 * The decision for a question is one call, mw_localzone_lookup(): answer with local records,
 * NODATA, NXDOMAIN, REFUSED, or PASS (not local: lists, cache and upstream as usual). The
 * caller writes the reply with mw_dns_build_local() from the records the result points at.
 *
 * Pure: ldns parses the record text at build time only; the lookup allocates nothing and
 * reads no clock. A name under a top-level domain that no local name or zone uses passes after
 * a label walk and a bitmap test (when the set has at most 16 TLDs and no zone at the root);
 * one whose last two labels are no local name's passes after hashing those two (when every
 * zone has two labels or more); others cost the hashes of their suffixes and a probe (behind
 * a bit filter) for the name and each candidate zone depth. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/dnsmsg.h"

struct mw_errlist;
struct mw_localzone;
struct mw_localzone_builder;

/* Bounds: configured records (a config with more is refused; PTR records made from A/AAAA
 * come on top, at most as many again) and zones. The wire size of all records of one name
 * must fit a DNS message. */
#define MW_LOCALZONE_MAX_RECORDS 65536
#define MW_LOCALZONE_MAX_ZONES 65536
#define MW_LOCALZONE_MAX_TEXT 8192       /* characters of one record's text */
#define MW_LOCALZONE_MAX_NAME_DATA 60000 /* wire octets of all records of one name */
/* TTL of a record whose text gives none (as Unbound), and of the SOA made for a zone that has
 * none in local data: how long clients may cache a negative answer from that zone. */
#define MW_LOCALZONE_DEFAULT_TTL 3600
#define MW_LOCALZONE_NEG_TTL 60

enum mw_localzone_type {
    MW_LZ_NONE = 0,    /* no local zone encloses the name */
    MW_LZ_STATIC,      /* local data, else NXDOMAIN / NODATA; never forwarded */
    MW_LZ_TRANSPARENT, /* local data, else forwarded */
    MW_LZ_REFUSE,      /* local data, else REFUSED */
    MW_LZ_REDIRECT,    /* every name below answered with the apex's data */
};

enum mw_local_action {
    MW_LOCAL_PASS = 0, /* not answered locally */
    MW_LOCAL_ANSWER,   /* NOERROR with the records of the result */
    MW_LOCAL_NODATA,   /* NOERROR, no answer records */
    MW_LOCAL_NXDOMAIN,
    MW_LOCAL_REFUSED,
};

/* What the lookup decided. Pointers are borrowed from the set and live as long as it does,
 * except that an may point at soa in the result itself (the SOA query at a static zone's apex
 * that has no SOA of its own is answered with the made one). */
struct mw_local_result {
    enum mw_local_action action;
    const struct mw_dns_rrw *an; /* answer records (owner: the question name); n_an of them */
    size_t n_an;
    bool has_soa;          /* NODATA/NXDOMAIN under a local zone: soa goes in authority */
    struct mw_dns_rrw soa; /* owner: the zone apex, as a pointer into the question */
    const uint8_t *owner;  /* the name whose records answer (the zone apex for redirect) */
    uint16_t owner_len;
    int line;                         /* config line of the first answering record, 0: none */
    enum mw_localzone_type zone_type; /* the nearest enclosing local zone, MW_LZ_NONE: none */
    const char *zone;                 /* its name as text ("." for the root), NULL: none */
    int zone_line;
};

/* "static", "transparent", "refuse", "redirect" <-> enum; parse returns 0 or -EINVAL. */
int mw_localzone_type_parse(const char *s, enum mw_localzone_type *out);
const char *mw_localzone_type_name(enum mw_localzone_type t);
const char *mw_local_action_name(enum mw_local_action a);

/* A builder that reports every problem to errs (may be NULL) as "NAME:LINE: message", name
 * being the config file (borrowed, must outlive the builder). Returns NULL without memory. */
struct mw_localzone_builder *mw_localzone_builder_new(const char *name, struct mw_errlist *errs);
void mw_localzone_builder_free(struct mw_localzone_builder *b);

/* One record in zone-file syntax ("printer.corp.internal. 300 A 10.0.0.7"; a name without the
 * final dot is absolute too; no TTL means MW_LOCALZONE_DEFAULT_TTL) from config line `line`.
 * Class IN only; no wildcard owner, no record at the root, no meta type (ANY, OPT, AXFR...),
 * no empty rdata. Returns 0, or -EINVAL after reporting (the build will then fail too). */
int mw_localzone_add_record(struct mw_localzone_builder *b, const char *text, int line);

/* One local zone: name (text) and type ("static"...). Returns 0 or -EINVAL after reporting
 * (bad name or type, the same zone twice, more than MW_LOCALZONE_MAX_ZONES). */
int mw_localzone_add_zone(struct mw_localzone_builder *b, const char *name, const char *type,
                          int line);

/* Make a PTR record for the address of every A and AAAA record (no PTR is made for a reverse
 * name that has its own PTR or CNAME in local data, or that lies below a redirect zone). */
void mw_localzone_set_ptr(struct mw_localzone_builder *b, bool on);

/* Check the whole set (a CNAME beside other data, data below a redirect zone's apex, a name
 * with more than MW_LOCALZONE_MAX_NAME_DATA octets) and build it. Returns 0 with *out (the
 * caller frees; NULL when nothing was configured), -EINVAL when any error was reported (here
 * or by an earlier add), or -ENOMEM. The builder is left empty either way. */
int mw_localzone_build(struct mw_localzone_builder *b, struct mw_localzone **out);

void mw_localzone_free(struct mw_localzone *lz);

/* Decide question q (lowercase wire name, type, class) against the set lz (may be NULL: PASS).
 * Class IN only, as Unbound's default local zones. Returns r->action; the other fields of r
 * are filled whenever a local zone or local data concerns the name (a PASS through a
 * transparent zone names the zone), and left as they were when nothing does. */
enum mw_local_action mw_localzone_lookup(const struct mw_localzone *lz,
                                         const struct mw_dns_question *q,
                                         struct mw_local_result *r);

/* Every record of name (lowercase wire) for --explain: *rrs points at them (owner is the name),
 * lines[i] (when lines is not NULL) receives each record's config line, made[i] (when made is
 * not NULL) whether it was made from an A/AAAA record (then lines[i] is that record's line);
 * at most cap are written. Returns how many records the name has. */
size_t mw_localzone_records(const struct mw_localzone *lz, const uint8_t *name, size_t len,
                            const struct mw_dns_rrw **rrs, int *lines, bool *made, size_t cap);

/* Counts, for logs and tests: records (made PTRs included), names with data, zones. */
void mw_localzone_counts(const struct mw_localzone *lz, size_t *records, size_t *names,
                         size_t *zones);
