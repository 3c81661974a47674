/* An immutable set of CIDR rules, IPv4 and IPv6, each with a struct mw_rule payload (declared in
 * domainset.h). Built once, then read by any number of threads without locks. A lookup returns
 * the rule of the longest prefix that contains the address; only between rules for the same
 * prefix does an allow rule beat a block rule. The two families are separate: an IPv4 rule
 * never matches an IPv6 address, IPv4-mapped ones included (convert those first). Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/domainset.h"
#include "minewall/netaddr.h"

struct mw_ip_match {
    struct mw_rule rule;
    struct mw_cidr prefix; /* the matching prefix */
};

/* Called once per rule; a nonzero return stops the walk and is returned by foreach. */
typedef int (*mw_ip_rule_cb)(const struct mw_cidr *prefix, const struct mw_rule *rule, void *arg);

struct mw_ipset;
struct mw_ipset_builder;

/* A new, empty builder; size_hint is the expected number of rules (0 if unknown).
 * Returns NULL on ENOMEM. */
struct mw_ipset_builder *mw_ipset_builder_new(size_t size_hint);

/* Free a builder that was not passed to mw_ipset_build. NULL is a no-op. */
void mw_ipset_builder_free(struct mw_ipset_builder *b);

/* Add a rule for prefix (copied; as mw_cidr_parse gives it: AF_INET or AF_INET6, prefix within
 * the family's bits, host bits zero). The same prefix added twice keeps one rule: an allow rule
 * beats a block rule, otherwise the first added stays. Returns 0, -EINVAL, -ENOMEM, or -E2BIG
 * past 2^31 rules. */
int mw_ipset_builder_add(struct mw_ipset_builder *b, const struct mw_cidr *prefix,
                         const struct mw_rule *rule);

/* Build the set. Consumes the builder whatever the outcome. On success *out takes a new set,
 * owned by the caller (mw_ipset_free). Returns 0 or -ENOMEM. */
int mw_ipset_build(struct mw_ipset_builder *b, struct mw_ipset **out);

/* NULL is a no-op. */
void mw_ipset_free(struct mw_ipset *s);

/* Number of rules (distinct prefixes). */
size_t mw_ipset_count(const struct mw_ipset *s);

/* Heap bytes held by the set, the struct included. */
size_t mw_ipset_bytes(const struct mw_ipset *s);

/* Longest-prefix match of addr (network byte order: 4 octets for AF_INET, 16 for AF_INET6).
 * Returns true and fills *out, or false (also for another family). Lock-free. */
bool mw_ipset_match(const struct mw_ipset *s, int family, const uint8_t *addr,
                    struct mw_ip_match *out);

/* The longest-prefix match of addr in a set built only from the rules keep accepts (client
 * groups: the rules of the group's lists): the longest prefix holding addr with such a rule,
 * and for a prefix added more than once its own rule if keep accepts it, else the first allow
 * rule keep accepts among the others, else the first one. Exact when keep tells rules apart by
 * list: the set keeps every rule of another list for a prefix aside (mw_ipset_dups counts
 * them). Costs one match plus a step per enclosing prefix. Lock-free. */
bool mw_ipset_match_if(const struct mw_ipset *s, int family, const uint8_t *addr,
                       mw_rule_keep_cb keep, void *arg, struct mw_ip_match *out);

/* Number of rules kept aside for mw_ipset_match_if. */
size_t mw_ipset_dups(const struct mw_ipset *s);

/* Call cb for every rule (IPv4 first, each family in address order), synchronously. Returns 0,
 * or the first nonzero value cb returned. */
int mw_ipset_foreach(const struct mw_ipset *s, mw_ip_rule_cb cb, void *arg);
