/* Client groups (issue 13): which group a query belongs to, from its client address and the
 * listen address it arrived on. A matcher is built once per config from every group's client
 * prefixes (and their optional listener restriction), is immutable afterwards, and is read by
 * every worker through the snapshot's config without locks.
 *
 * The rule: the most specific (longest) client prefix that covers the address wins. At equal
 * prefix, a group restricted to listeners (`listeners:`) that include the arrival address wins
 * over an unrestricted one; a restricted group never matches a query that arrived on another
 * listener (the next shorter prefix is tried then). An address no prefix covers is in group 0,
 * `default`. The same prefix in two groups whose listener sets overlap (both unrestricted, or
 * sharing a listener) is ambiguous and refused at build.
 *
 * Structure: one open-addressing hash table keyed by (family, prefix length, masked address)
 * and, per family, the prefix lengths that occur, longest first: a lookup costs one probe per
 * distinct prefix length (a handful in practice), whatever the number of prefixes or groups.
 * IPv4-mapped IPv6 clients (::ffff:a.b.c.d) are matched as IPv4. Pure: no libuv. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/netaddr.h"

struct sockaddr;
struct mw_groups;

/* Bounds: groups (group indexes are 1..MW_GROUPS_MAX, 0 is default), prefixes in all, and
 * distinct listen addresses named by listener restrictions (a bit each). */
#define MW_GROUPS_MAX 4096
#define MW_GROUPS_MAX_CIDRS 1000000
#define MW_GROUPS_MAX_LISTENERS 64

/* One client prefix of a group. listeners (borrowed during _new only) restricts it to queries
 * that arrived on one of those listen addresses; n_listeners 0: any listener. */
struct mw_groups_rule {
    struct mw_cidr cidr;
    uint16_t group; /* 1..MW_GROUPS_MAX */
    const struct mw_addr *listeners;
    size_t n_listeners;
};

/* Build a matcher from n rules. Returns 0 with *out (caller frees), -EEXIST when two rules of
 * different groups have the same prefix and overlapping listener sets (*dup_a < *dup_b are
 * their indexes; the same prefix twice in one group is harmless and kept once), -E2BIG beyond
 * the bounds above, -EINVAL for a bad rule, or -ENOMEM. n 0 gives an empty matcher. */
int mw_groups_new(const struct mw_groups_rule *rules, size_t n, struct mw_groups **out,
                  size_t *dup_a, size_t *dup_b);
void mw_groups_free(struct mw_groups *g); /* NULL is a no-op */

/* Does any rule restrict by listener? When not, callers may pass listener NULL. */
bool mw_groups_uses_listeners(const struct mw_groups *g);

/* The group of client (AF_INET / AF_INET6; another family is group 0) for a query that
 * arrived on listener (NULL: unknown, only unrestricted rules apply). g may be NULL (group 0).
 * No allocation, no locks. */
unsigned mw_groups_match(const struct mw_groups *g, const struct sockaddr *client,
                         const struct mw_addr *listener);

/* Counts, for logs and tests: prefixes kept, distinct prefix lengths (both families). */
void mw_groups_counts(const struct mw_groups *g, size_t *prefixes, size_t *lengths);
