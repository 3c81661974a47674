/* An immutable set of domain rules, built once from list entries and then read by any number of
 * threads without locks (every read function takes a const set and keeps no state). Names are
 * lowercase wire form (RFC 1035 3.1, uncompressed, root label included). A rule is a name, a
 * kind and a small payload (struct mw_rule). Matching a query name finds the most specific rule
 * that covers it: the longest matching suffix wins, and only between rules for the same name
 * does an allow rule beat a block rule. The set is compact (a table of 32-bit slots over one
 * arena of names and packed payloads, well under 30 bytes per listed domain) and costs one hash
 * probe per label boundary of the query name.
 *
 * Incremental feeds use an overlay: a small "delta" set, built with the same builder, whose
 * rules are added to a large base set and whose removals (tombstones) hide base rules. The
 * delta is rebuilt whole when the feed changes; the base never is. Pure: no I/O, no logging.
 *
 * struct mw_rule, the payload shared with ipset.h and patternset.h, is declared here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* mw_rule.flags: an allowlist or exception rule rather than a block rule. */
#define MW_RULE_ALLOW 0x01

/* What a rule says, and where it came from. */
struct mw_rule {
    uint32_t line;  /* line number in the list, 0 if unknown */
    uint16_t list;  /* index of the list that holds the rule */
    uint8_t flags;  /* MW_RULE_* */
    uint8_t action; /* opaque action code, 0 = the list's default */
};

/* Precedence between rules for the same input: allow first, then the lower list, then the
 * lower line (the set's own tie-break, and a group's when it looks past it). */
static inline bool mw_rule_before(const struct mw_rule *a, const struct mw_rule *b)
{
    bool aa = a->flags & MW_RULE_ALLOW, ba = b->flags & MW_RULE_ALLOW;
    if (aa != ba)
        return aa;
    if (a->list != b->list)
        return a->list < b->list;
    return a->line < b->line;
}

enum mw_domain_kind {
    MW_DOMAIN_SUBTREE = 0,  /* the name and every name below it (plain, hosts, AdBlock) */
    MW_DOMAIN_EXACT = 1,    /* the name only (RPZ "d") */
    MW_DOMAIN_WILDCARD = 2, /* names strictly below the name only (RPZ "*.d") */
};

struct mw_domain_match {
    struct mw_rule rule;
    uint8_t kind;   /* enum mw_domain_kind */
    uint8_t offset; /* the rule's name is qname + offset, a suffix of the query name */
};

/* One rule as mw_domainset_foreach reports it. */
struct mw_domain_rule {
    const uint8_t *name; /* lowercase wire; borrowed, valid during the callback only */
    uint8_t name_len;    /* wire length including the root label */
    uint8_t kind;        /* enum mw_domain_kind */
    bool removed;        /* a tombstone of a delta set (rule is then only line and list) */
    struct mw_rule rule;
};

/* Called once per rule; a nonzero return stops the walk and is returned by foreach. */
typedef int (*mw_domain_rule_cb)(const struct mw_domain_rule *r, void *arg);

struct mw_domainset;
struct mw_domainset_builder;

/* A new, empty builder. size_hint (the expected number of rules, 0 if unknown) is not needed:
 * the builder keeps each rule packed (about 15 octets for a listed name) in chunks that grow
 * with it, and a build needs about 1.1x the built set's memory at its peak. Returns NULL on
 * ENOMEM. */
struct mw_domainset_builder *mw_domainset_builder_new(size_t size_hint);

/* Free a builder that was not passed to mw_domainset_build. NULL is a no-op. */
void mw_domainset_builder_free(struct mw_domainset_builder *b);

/* Add a rule. wire is a wire-form name of wire_len octets (root label included; uppercase
 * letters are folded), kind an enum mw_domain_kind, rule the payload (copied). The same name and
 * kind added twice keeps one rule: an allow rule beats a block rule, otherwise the first added
 * stays. Returns 0, -EINVAL for a malformed name or kind, -ENOMEM, or -E2BIG past 2^31 rules. */
int mw_domainset_builder_add(struct mw_domainset_builder *b, const uint8_t *wire, size_t wire_len,
                             int kind, const struct mw_rule *rule);

/* Add a tombstone for (name, kind), making the built set a delta that hides that rule of a base
 * set in the overlay functions. rule may be NULL; its list and line are kept for tooling. A
 * tombstone never matches by itself, and a delta may hold a tombstone and a rule for the same
 * name and kind (a replacement). Returns as mw_domainset_builder_add. */
int mw_domainset_builder_remove(struct mw_domainset_builder *b, const uint8_t *wire,
                                size_t wire_len, int kind, const struct mw_rule *rule);

/* Build the set. Consumes the builder whatever the outcome. On success *out takes a new set,
 * owned by the caller (mw_domainset_free). Returns 0, -ENOMEM, or -E2BIG when the names exceed
 * the 4 GiB arena. An empty builder gives an empty set. */
int mw_domainset_build(struct mw_domainset_builder *b, struct mw_domainset **out);

/* NULL is a no-op. */
void mw_domainset_free(struct mw_domainset *s);

/* Number of rules (distinct name and kind pairs, tombstones not counted). */
size_t mw_domainset_count(const struct mw_domainset *s);

/* Heap bytes held by the set, the struct included. */
size_t mw_domainset_bytes(const struct mw_domainset *s);

/* The most specific rule covering qname (lowercase wire of len octets, as mw_dname_unpack
 * gives it): suffixes are tried from the whole name to the root; the name itself is matched by
 * EXACT and SUBTREE rules, a proper ancestor by SUBTREE and WILDCARD rules. Among the rules of
 * the first suffix that has any, an allow rule wins, then the lower list index, then the lower
 * line. Returns true and fills *out, or false (also for a malformed name). Lock-free. */
bool mw_domainset_match(const struct mw_domainset *s, const uint8_t *qname, size_t len,
                        struct mw_domain_match *out);

/* The rule stored for exactly (name, kind), ignoring tombstones. Returns true and fills *out,
 * or false. */
bool mw_domainset_get(const struct mw_domainset *s, const uint8_t *wire, size_t wire_len, int kind,
                      struct mw_rule *out);

/* A filter over rules: true keeps r. Client groups keep the rules of the group's lists. */
typedef bool (*mw_rule_keep_cb)(const struct mw_rule *r, void *arg);

/* The rule (name, kind) would have in a set built only from the rules that keep accepts, in
 * the same order: the stored rule when keep accepts it, else, among the rules the build did
 * not keep for (name, kind), the first allow rule keep accepts, else the first one it accepts.
 * The set keeps those aside for every name added by more than one list (a short array: one
 * entry per other list and flags, 16 octets each, mw_domainset_hidden counts them), so the
 * answer is exact when keep tells rules apart by list. Returns true and fills *out, or false.
 * For a base set (no tombstones). Lock-free. */
bool mw_domainset_get_if(const struct mw_domainset *s, const uint8_t *wire, size_t wire_len,
                         int kind, mw_rule_keep_cb keep, void *arg, struct mw_rule *out);

/* Number of rules kept aside for mw_domainset_get_if. */
size_t mw_domainset_hidden(const struct mw_domainset *s);

/* Call cb for every rule and tombstone, in a fixed but unspecified order, synchronously.
 * Returns 0, or the first nonzero value cb returned. */
int mw_domainset_foreach(const struct mw_domainset *s, mw_domain_rule_cb cb, void *arg);

/* mw_domainset_match over base with delta layered on top (delta may be NULL). At each suffix
 * the candidates are the base rules whose (name, kind) the delta does not remove and the delta's
 * rules; for one (name, kind) in both, the delta's rule wins only if it is an allow rule and the
 * base's is not, as if the base had been rebuilt with the delta's rules added after its own.
 * Precedence between suffixes and kinds is as in mw_domainset_match. */
bool mw_domainset_overlay_match(const struct mw_domainset *base, const struct mw_domainset *delta,
                                const uint8_t *qname, size_t len, struct mw_domain_match *out);

/* mw_domainset_get over base with delta layered on top, by the rule above. */
bool mw_domainset_overlay_get(const struct mw_domainset *base, const struct mw_domainset *delta,
                              const uint8_t *wire, size_t wire_len, int kind, struct mw_rule *out);
