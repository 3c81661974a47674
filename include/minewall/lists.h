/* A generation of all configured lists: every enabled list file parsed and merged into one
 * domain set, one IP set, one AS-number table and one pattern set, so a query costs one
 * lookup per kind whatever the number of lists. Built whole (off the event loop on reload),
 * immutable once built, shared by all workers through the snapshot and refcounted. Rule
 * payloads (struct mw_rule) carry the list index and line, so every match can be traced to
 * its list, file and line. Pure: file I/O only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/config.h"
#include "minewall/domainset.h"

struct mw_errlist;
struct mw_ipset;
struct mw_patternset;
struct mw_geo;
struct mw_regdom;

/* One list of a generation. */
struct mw_list_info {
    char *name;            /* owned */
    char *category;        /* owned */
    char *path;            /* owned */
    char *origin;          /* owned; "file" or "redis" */
    enum mw_action action; /* resolved: never MW_ACTION_DEFAULT */
    enum mw_list_type type;
    bool allow;
    bool stale; /* a Redis list whose keys vanished: its last synced copy is in force */
    int format; /* enum mw_listfile_format as parsed */
    size_t entries, bad, skipped;
    uint64_t content_hash; /* of the file's bytes as parsed (mw_listfile_hash_buf) */
    /* Exceptions (AdBlock "@@", RPZ rpz-passthru) in a list that is not an allowlist: they
     * allow their names against every list, as an allowlist does, so start-up names them. */
    size_t exceptions;
    char ede_text[200]; /* "minewall: <category>/<name>", the EDE extra text of its blocks */
};

/* Verdicts of a detector (not a list) carry rule.list = MW_LIST_DETECT + enum mw_detector;
 * mw_lists_info() gives their name ("rebinding"), category ("detect") and EDE text, so a
 * detection goes down the same block path (reply, block log, events, metrics) as a list hit.
 * List indexes stay below it (lists are far fewer). */
#define MW_LIST_DETECT 0xff00u
enum mw_detector {
    MW_DETECT_REBINDING = 0,
    MW_DETECT_DGA,
    MW_DETECT_TUNNEL,
    MW_DETECT_NEW_DOMAINS,
    MW_DETECT_COUNT
};

/* An AS number rule. */
struct mw_asn_rule {
    uint32_t asn;
    struct mw_rule rule;
};

/* RPZ local data of one rule: where a sinkhole action answers with the zone's addresses. */
struct mw_local_data {
    uint16_t list;
    uint32_t line;
    uint8_t n4, n6;
    uint8_t v4[4];  /* the first A address */
    uint8_t v6[16]; /* the first AAAA address */
};

struct mw_rlist;

struct mw_lists {
    int refs; /* atomic */
    uint64_t generation;
    /* A derived generation (mw_lists_derive) borrows every file-list member below from
     * files, which it holds a reference to, and adds the Redis lists. */
    struct mw_lists *files;   /* owned reference, or NULL for a file generation */
    struct mw_rlist **rlists; /* owned references */
    uint16_t n_rlists;
    uint16_t rlist_base;        /* lists[] index of rlists[0] */
    struct mw_list_info *lists; /* owned array */
    uint16_t n_lists;
    struct mw_domainset *domains;   /* owned */
    struct mw_ipset *ips;           /* owned */
    struct mw_patternset *patterns; /* owned; NULL when no pattern list */
    struct mw_asn_rule *asns;       /* owned, sorted by asn */
    size_t n_asns;
    struct mw_local_data *local; /* owned, sorted by (list, line) */
    size_t n_local;
    struct mw_geo *geo; /* owned; NULL without geoip.asn */
    /* Borrowed: the Public Suffix List, loaded once at start, outlives every generation
     * (server.c sets it on each file generation; derived ones copy it). NULL: every name of
     * two labels or more counts as public. */
    const struct mw_regdom *regdom;
    size_t total_entries;
    uint8_t *inputs;    /* owned: what a file generation was built from (mw_lists_inputs) */
    size_t inputs_len;  /* 0 when unknown: never equal to another */
    uint8_t *content;   /* owned: the same by the content of each list file (settings, hashes) */
    size_t content_len; /* 0 when unknown */
};

/* Load every enabled list of cfg (and the geoip ASN/country databases). Bad lines are
 * reported into errs as "FILE:LINE: reason" (the first 20 per file) and skipped; a missing
 * or unreadable list file or database is fatal: returns NULL with the reason in errs.
 * *warnings (may be NULL) is set to the number of bad lines. generation labels the result. */
struct mw_lists *mw_lists_build(const struct mw_config *cfg, uint64_t generation,
                                struct mw_errlist *errs, size_t *warnings);

/* A generation with the file lists of files (a generation from mw_lists_build) and the given
 * Redis lists (references taken), which get list indexes after the file lists. Returns NULL
 * on ENOMEM. */
struct mw_lists *mw_lists_derive(struct mw_lists *files, struct mw_rlist *const *rlists,
                                 uint16_t n_rlists, uint64_t generation,
                                 const struct mw_config *cfg);

/* A description of every input mw_lists_build reads for cfg: the enabled lists' settings, the
 * default action, and the identity, size and change times of every file (list files, geoip
 * databases), from stat() alone. Two equal descriptions mean a rebuild would read the same
 * bytes into the same lists (a file rewritten, renamed over or touched changes its change
 * time). On success *out is malloc'ed (caller frees) and 0 is returned; a file that cannot be
 * stat'ed gives -errno (the build will report it). */
int mw_lists_inputs(const struct mw_config *cfg, uint8_t **out, size_t *len);

/* Did l come from exactly these inputs (as mw_lists_inputs describes them)? */
bool mw_lists_same_inputs(const struct mw_lists *l, const uint8_t *inputs, size_t len);

/* Would a build of cfg parse the same bytes into the same lists as l was built from: the same
 * list settings, the same content of every list file (each one read and hashed now, one block
 * of memory at a time), the same geoip databases by stat()? For files rewritten with identical
 * bytes (a feed updater, a touch, a copy renamed over), where mw_lists_same_inputs says no.
 * Blocking file I/O: call it off the event loop. */
bool mw_lists_same_content(const struct mw_lists *l, const struct mw_config *cfg);

/* The reload guard: lists of next (a file generation) that had entries in prev under the same
 * name and path and have none now, each reported into errs as "PATH: list NAME has no entries
 * now ...". An emptied list file is a truncated write, a failed download or garbage far more
 * often than an intent (an operator drops a list by disabling or removing it), and applying it
 * would open a window without the list: the caller keeps the running generation instead, as
 * the Redis sync does with a list whose keys vanish. Returns their number (0 with a NULL). */
size_t mw_lists_emptied(const struct mw_lists *prev, const struct mw_lists *next,
                        struct mw_errlist *errs);

struct mw_lists *mw_lists_ref(struct mw_lists *l);
/* NULL is a no-op; the last unref frees. */
void mw_lists_unref(struct mw_lists *l);

/* The list (or detector) a rule's list index names, or NULL for an index that names
 * neither. */
const struct mw_list_info *mw_lists_info(const struct mw_lists *l, uint16_t list);

/* The RPZ local data of a rule, or NULL. */
const struct mw_local_data *mw_lists_local_data(const struct mw_lists *l, const struct mw_rule *r);

/* The AS number rule for asn, or NULL. */
const struct mw_asn_rule *mw_lists_asn(const struct mw_lists *l, uint32_t asn);
