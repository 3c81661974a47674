/* The routing journal: DNS routing changes as JSON lines, one event per line,
 *
 *   {"ts":"2024-05-01T12:00:00.123Z","type":"answer_change","host":"gw1",...}
 *
 * with "ts" the event time in RFC 3339 UTC with milliseconds, "type" one of answer_change,
 * host_config_change, upstream_change, config_change, and "host" the machine minewall runs on
 * (null when unknown), followed by the fields of the type (documented at each formatter). This
 * module formats events into caller buffers and queues the lines for a writer; the I/O shell
 * writes them to the journal file off the query path. Lines are built with the JSON writer
 * (jsonw.h): quote, backslash and control characters are escaped, valid UTF-8 passes through
 * unchanged, and each byte of invalid UTF-8 becomes U+FFFD, so every line is valid JSON whatever
 * the input.
 *
 * Formatting is pure (the time is passed in, geo data comes from the caller's mw_geo) and
 * allocation-free. The queue is the one shared piece: any thread may push, one writer pops. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/geo.h"

struct mw_answer_change;

/* A buffer this large holds any line the formatters write for bounded inputs: answer sets are
 * bounded by MW_ANSWERDIFF_MAX_VALUES and file lines by the limits below. Extreme inputs (64
 * names of 255 octets written as \DDD in every list) can still exceed it: -ENOSPC. */
#define MW_JOURNAL_LINE_MAX 65536

/* host_config_change lists at most this many added and removed file lines each, each cut to
 * MW_JOURNAL_FILE_LINE_MAX bytes (at a UTF-8 character boundary); "lines_truncated" says so. */
#define MW_JOURNAL_MAX_FILE_LINES 32
#define MW_JOURNAL_FILE_LINE_MAX 256

/* The event types, in the order of their names ("answer_change", "host_config_change",
 * "upstream_change", "config_change", "control", "new_domain", "other"). Each queued line carries
 * its type, so the writer and the Redis forwarder never read it back out of the JSON. */
enum mw_journal_type {
    MW_JOURNAL_ANSWER,
    MW_JOURNAL_HOST_CONFIG,
    MW_JOURNAL_UPSTREAM,
    MW_JOURNAL_CONFIG,
    MW_JOURNAL_CONTROL,
    MW_JOURNAL_NEW_DOMAIN, /* nodevent.h */
    MW_JOURNAL_OTHER,
    MW_JOURNAL_TYPES
};

/* The "type" text of t ("other" for a value out of range). */
const char *mw_journal_type_name(enum mw_journal_type t);

/* Size of an RFC 3339 timestamp "YYYY-MM-DDTHH:MM:SS.mmmZ" with its NUL. */
#define MW_JOURNAL_TS_LEN 25

/* Write unix_ms (milliseconds since the Unix epoch, UTC) as "2024-05-01T12:00:00.123Z" into
 * buf. Returns 0, or -EINVAL for a time past the year 9999. */
int mw_journal_timestamp(uint64_t unix_ms, char buf[MW_JOURNAL_TS_LEN]);

/* Write s (len bytes; NUL bytes in it are escaped as \u0000) as a quoted JSON string into buf,
 * NUL-terminated. Returns the length without the NUL, or -ENOSPC. */
int mw_journal_quote(const char *s, size_t len, char *buf, size_t cap);

/* ---- answer_change ---- */

/* What the geo databases say about the old and the new address set of an A or AAAA change:
 * per address, in the order of the sets. asn_known is true when every old and new address has
 * a known ASN; only then does asn_changed say whether the sets of ASNs differ (otherwise it is
 * false and the line writes null: an unknown ASN is never reported as "unchanged").
 * country_known and country_changed likewise for the country codes. */
struct mw_journal_answer_geo {
    bool looked_up; /* an address type and a geo was given; otherwise everything is empty */
    uint16_t n_old, n_new;
    struct mw_geo_info old_info[64]; /* MW_ANSWERDIFF_MAX_VALUES */
    struct mw_geo_info new_info[64];
    bool asn_changed;
    bool country_changed;
    bool asn_known;
    bool country_known;
};

/* Look up every address of ch's old and new sets in geo (may be NULL: nothing is looked up and
 * both flags are false) and fill *out, overwritten. Thread-safe on a shared geo. Returns 0, or
 * -EBADMSG when a database is corrupt where an address leads (what was found is kept). */
int mw_journal_answer_geo(const struct mw_answer_change *ch, const struct mw_geo *geo,
                          struct mw_journal_answer_geo *out);

/* For the ignore_same_asn option: is this change only churn inside the same networks? True when
 * the CNAME chain did not change, addresses were looked up, every old and new address has a
 * known ASN, and the sets of ASNs are equal (the addresses moved within the same ASNs). The
 * caller drops such events; false for NULL g. */
bool mw_journal_same_asn_churn(const struct mw_answer_change *ch,
                               const struct mw_journal_answer_geo *g);

/* Format an answer_change:
 *   "name":"www.example","qtype":"A","old":[...],"new":[...],"added":[...],"removed":[...],
 *   "ttl":300,"upstream":"192.0.2.53:53"|null,"truncated":false,"cname_changed":false,
 *   "old_cname":[...],"new_cname":[...],"asn_changed":false,"country_changed":false
 * (each null unless g looked up every address's ASN, country), and, when g looked addresses up,
 * "old_geo" and "new_geo": arrays of
 *   {"ip":"192.0.2.1","asn":64500|null,"as_org":"Example Org"|null,"country":"DE"|null}.
 * (The record type is "qtype" because "type" is the event type.) g may be NULL. Writes the line
 * with its '\n' and a NUL into buf. Returns the length (the '\n' included, the NUL not), or
 * -ENOSPC, -EINVAL for a NULL ch or a time past 9999. */
int mw_journal_format_answer(char *buf, size_t cap, uint64_t ts_ms, const char *host,
                             const struct mw_answer_change *ch, const char *upstream,
                             const struct mw_journal_answer_geo *g);

/* ---- host_config_change ---- */

/* A borrowed list of n strings. */
struct mw_journal_strv {
    const char *const *v;
    size_t n;
};

enum mw_journal_file_kind {
    MW_JOURNAL_FILE_OTHER = 0,
    MW_JOURNAL_FILE_RESOLV, /* resolv.conf: nameservers and resolver_bypass are written */
    MW_JOURNAL_FILE_HOSTS,  /* hosts: names_changed is written */
};

struct mw_journal_host_config {
    const char *file; /* path as watched */
    enum mw_journal_file_kind kind;
    const uint8_t *old_sha256; /* 32 bytes, or NULL when the file did not exist */
    const uint8_t *new_sha256; /* 32 bytes, or NULL when it was removed */
    struct mw_journal_strv lines_added, lines_removed;
    struct mw_journal_strv nameservers_old, nameservers_new; /* RESOLV */
    bool resolver_bypass_old, resolver_bypass;               /* RESOLV */
    struct mw_journal_strv names_changed;                    /* HOSTS */
};

/* Format a host_config_change:
 *   "file":"/etc/resolv.conf","kind":"resolv.conf"|"hosts"|"other",
 *   "old_sha256":"<hex>"|null,"new_sha256":"<hex>"|null,"lines_added":N,"lines_removed":M,
 *   "added_lines":[...],"removed_lines":[...],"lines_truncated":false
 * then for RESOLV "nameservers_old":[...],"nameservers_new":[...],"resolver_bypass":true,
 * "resolver_bypass_old":false, for HOSTS "names_changed":[...]. Returns as
 * mw_journal_format_answer. */
int mw_journal_format_host_config(char *buf, size_t cap, uint64_t ts_ms, const char *host,
                                  const struct mw_journal_host_config *ev);

/* ---- upstream_change ---- */

struct mw_journal_route {
    const char *zone;     /* "." for the default route */
    const char *upstream; /* where the zone goes now; NULL when nowhere (written as null) */
};

struct mw_journal_upstream {
    const char *upstream; /* name or address of the upstream whose state changed */
    bool up;
    const char *reason;                    /* may be NULL */
    const struct mw_journal_route *routes; /* the zone map in effect after the change */
    size_t n_routes;
};

/* Format an upstream_change:
 *   "upstream":"192.0.2.53:53","state":"up"|"down","reason":"..."|null,
 *   "zones":{"example.":"192.0.2.53:53",".":null}
 * Returns as mw_journal_format_answer. */
int mw_journal_format_upstream(char *buf, size_t cap, uint64_t ts_ms, const char *host,
                               const struct mw_journal_upstream *ev);

/* ---- config_change ---- */

struct mw_journal_list_delta {
    const char *list;        /* list name */
    uint64_t added, removed; /* entries */
};

struct mw_journal_config {
    struct mw_journal_strv listeners_added, listeners_removed;
    struct mw_journal_strv upstreams_added, upstreams_removed;
    struct mw_journal_strv zones_added, zones_removed;
    const struct mw_journal_list_delta *lists;
    size_t n_lists;
};

/* Format a config_change:
 *   "listeners_added":[...],"listeners_removed":[...],"upstreams_added":[...],
 *   "upstreams_removed":[...],"zones_added":[...],"zones_removed":[...],
 *   "lists":[{"list":"ads","added":10,"removed":2}]
 * Returns as mw_journal_format_answer. */
int mw_journal_format_config(char *buf, size_t cap, uint64_t ts_ms, const char *host,
                             const struct mw_journal_config *ev);

/* ---- control ---- */

/* One action of the control API (minewall-ctl): who asked, what, and how it ended. */
struct mw_journal_control {
    const char *via;     /* "unix" or "http" */
    long uid, pid;       /* the UNIX peer's credentials (SO_PEERCRED); -1 when unknown */
    const char *peer;    /* the HTTP client's address, or NULL */
    const char *command; /* the verb ("pause") */
    const char *request; /* the whole request line ("pause?for=5m") */
    bool ok;
    const char *result; /* the answer's message or the error */
};

/* Format a control event:
 *   "via":"unix","uid":0|null,"pid":4242|null,"peer":"127.0.0.1:41000"|null,
 *   "command":"pause","request":"pause?for=5m","ok":true,"result":"..."
 * Returns as mw_journal_format_answer. */
int mw_journal_format_control(char *buf, size_t cap, uint64_t ts_ms, const char *host,
                              const struct mw_journal_control *ev);

/* ---- the queue ---- */

/* A bounded queue of formatted lines: producers (any thread) push, one writer takes everything
 * at once. Lines are kept back to back in one buffer of max_bytes; taking swaps that buffer
 * with the writer's batch, so neither side allocates after the first take and the lock is held
 * for a copy of one line or a pointer swap. */
struct mw_journal_queue;

struct mw_journal_queue_stats {
    uint64_t pushed;  /* lines accepted */
    uint64_t dropped; /* lines refused because the queue was full (or a line was too long) */
    size_t lines;     /* queued now */
    size_t bytes;
};

/* What the writer took: data holds lines lines, each ending in '\n', len bytes in all, and
 * types[i] is the type of the i-th line. Owned by the writer; start zeroed, reuse across
 * takes, release with mw_journal_batch_deinit. */
struct mw_journal_batch {
    char *data;
    size_t len;
    size_t lines;
    size_t cap;
    uint8_t *types; /* enum mw_journal_type */
    size_t types_cap;
};

/* A queue holding at most max_lines lines and max_bytes bytes (both at least 1). NULL on
 * ENOMEM or a zero bound. */
struct mw_journal_queue *mw_journal_queue_new(size_t max_lines, size_t max_bytes);

/* Free the queue and the lines in it. NULL is a no-op. No thread may use it any more. */
void mw_journal_queue_free(struct mw_journal_queue *q);

/* Copy a line of the given type (len bytes; a '\n' is added when it does not end with one)
 * into the queue.
 * Thread-safe, never blocks beyond the mutex, never calls back. Returns 0, or -ENOSPC when the
 * queue is full or the line is larger than max_bytes (the line is dropped and counted), or
 * -EINVAL for an empty line or an unknown type. */
int mw_journal_queue_push(struct mw_journal_queue *q, enum mw_journal_type type, const char *line,
                          size_t len);

/* Take every queued line into b (its previous content is discarded). Thread-safe with pushes;
 * one writer at a time. Returns the number of lines taken (0 when empty) or -ENOMEM (the lines
 * stay queued). */
int mw_journal_queue_pop_all(struct mw_journal_queue *q, struct mw_journal_batch *b);

/* Free a batch's buffer and zero it. */
void mw_journal_batch_deinit(struct mw_journal_batch *b);

void mw_journal_queue_get_stats(struct mw_journal_queue *q, struct mw_journal_queue_stats *out);
