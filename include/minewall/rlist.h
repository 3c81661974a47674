/* A list synced from Redis, as the filter reads it: an immutable base built from a full sync
 * (or from the state directory at start) plus a small delta of the changes that followed, so
 * a change to a million-entry list costs a rebuild of the delta only. Domain lists match
 * through the domain-set overlay; IP and AS-number lists are small and are rebuilt whole.
 * Bases are refcounted and shared by successive versions; a version is immutable once made.
 * Pure: no hiredis, no libuv. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/config.h"

struct mw_domainset;
struct mw_ipset;
struct mw_asn_rule;
struct mw_rbase;
struct mw_rbase_builder;
struct mw_rdelta;

/* What a Redis list's meta hash says. */
struct mw_rlist_meta {
    char name[128];
    char category[64];
    char description[256];
    enum mw_action action; /* MW_ACTION_DEFAULT: sinkhole.action */
    enum mw_list_type type;
    uint64_t updated; /* unix time */
};

/* One version of a synced list. */
struct mw_rlist {
    int refs; /* atomic */
    struct mw_rlist_meta meta;
    bool allow;                 /* category "allow" */
    bool stale;                 /* its keys vanished from Redis: this is the last good copy */
    char last_id[48];           /* stream id of the last change applied */
    struct mw_rbase *base;      /* owned reference */
    struct mw_domainset *delta; /* owned; NULL when nothing changed since the base */
    struct mw_ipset *ips;       /* owned: the current IP entries (type ip) */
    struct mw_asn_rule *asns;   /* owned, sorted (type asn) */
    size_t n_asns;
    size_t entries; /* current entry count */
};

/* ---- base ---- */

/* Entries are normalised texts as minewall-feed writes them ("example.com", "10.0.0.0/8",
 * "AS13335"). Returns NULL on ENOMEM. */
struct mw_rbase_builder *mw_rbase_builder_new(enum mw_list_type type);
/* -EINVAL for an entry that is not of the list's type (skipped, counted), -ENOMEM. */
int mw_rbase_builder_add(struct mw_rbase_builder *b, const char *entry);
size_t mw_rbase_builder_rejected(const struct mw_rbase_builder *b);
/* Consumes b. Returns NULL on ENOMEM. */
struct mw_rbase *mw_rbase_build(struct mw_rbase_builder *b);
void mw_rbase_builder_free(struct mw_rbase_builder *b);
void mw_rbase_unref(struct mw_rbase *b);
size_t mw_rbase_count(const struct mw_rbase *b);
const struct mw_domainset *mw_rbase_domains(const struct mw_rbase *b);

/* ---- delta: the changes since the base, applied idempotently ---- */

struct mw_rdelta *mw_rdelta_new(void);
void mw_rdelta_free(struct mw_rdelta *d);
/* add (true) or delete (false) one entry; the last operation on an entry wins. Returns 0,
 * -EINVAL for an entry that does not parse, -ENOMEM. */
int mw_rdelta_apply(struct mw_rdelta *d, bool add, const char *entry);
/* One record of a list's change log (minewall-feed writes "op" add|del and "entries", the
 * entries separated by spaces): apply each entry as mw_rdelta_apply does. Entries of 512 bytes
 * or more and entries that do not parse are skipped and counted in *bad (may be NULL). Returns
 * 0, -EINVAL when op is not "add" or "del" or either is NULL (nothing applied), -ENOMEM. */
int mw_rdelta_apply_record(struct mw_rdelta *d, const char *op, const char *entries, size_t *bad);
size_t mw_rdelta_size(const struct mw_rdelta *d);

/* ---- versions ---- */

/* A version of base with delta applied (delta may be NULL or empty). Takes a new reference
 * to base. Returns NULL on ENOMEM. */
struct mw_rlist *mw_rlist_new(const struct mw_rlist_meta *meta, struct mw_rbase *base,
                              const struct mw_rdelta *delta);
struct mw_rlist *mw_rlist_ref(struct mw_rlist *l);
void mw_rlist_unref(struct mw_rlist *l);

/* Does the current version contain entry (as the filter would see it)? For tests/tools. */
bool mw_rlist_contains(const struct mw_rlist *l, const char *entry);

/* Write the current entries, one per line, after a header of '#' lines carrying the meta and
 * last_id (the state-directory format; readable as a plain list). Writes path.tmp, fsyncs and
 * renames over path. Returns 0 or a negative errno. */
int mw_rlist_save(const struct mw_rlist *l, const char *path);

/* Read a state file written by mw_rlist_save. Returns a new version (stale false) or NULL
 * with *err set (negative errno, -EBADMSG for a file that is not a state file). */
struct mw_rlist *mw_rlist_load(const char *path, int *err);
