/* An immutable set of shell-style glob rules over whole domain names in text form (lowercase,
 * no trailing dot, as mw_dname_to_text writes them), each with a struct mw_rule payload
 * (declared in domainset.h). Syntax, as fnmatch(3) with no flags in the C locale: '*' matches
 * any run of characters, dots included; '?' one character; "[abc]", "[a-z]", "[!x]" or "[^x]"
 * one character of (or not of) a set, ']' first in a set being a member; '\' makes the next
 * character literal. Letters in patterns are folded to lowercase. Character classes
 * ("[[:digit:]]"), an unterminated '[' and a trailing '\' are errors rather than guesses.
 *
 * A lookup returns the matching pattern of highest precedence: allow rules first, then the
 * lowest list index, then the lowest line, then the first added. Each pattern is filed under one
 * short literal it requires, so a lookup runs full glob matching only on the few patterns whose
 * literal occurs in the name (and on those with no literal at all, such as "*"). Built once,
 * then read by any number of threads without locks. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/domainset.h"

struct mw_pattern_match {
    struct mw_rule rule;
    const char *pattern; /* as added, NUL-terminated; borrowed from the set */
};

/* Called once per pattern; a nonzero return stops the walk and is returned by foreach. */
typedef int (*mw_pattern_rule_cb)(const char *pattern, const struct mw_rule *rule, void *arg);

struct mw_patternset;
struct mw_patternset_builder;

/* A new, empty builder; size_hint is the expected number of patterns (0 if unknown).
 * Returns NULL on ENOMEM. */
struct mw_patternset_builder *mw_patternset_builder_new(size_t size_hint);

/* Free a builder that was not passed to mw_patternset_build. NULL is a no-op. */
void mw_patternset_builder_free(struct mw_patternset_builder *b);

/* Compile and add a glob (NUL-terminated, at most 1024 octets, copied) with its rule (copied).
 * Returns 0, -EINVAL for a syntax error, -ENOMEM, or -E2BIG past 2^24 patterns. */
int mw_patternset_builder_add(struct mw_patternset_builder *b, const char *glob,
                              const struct mw_rule *rule);

/* Build the set. Consumes the builder whatever the outcome. On success *out takes a new set,
 * owned by the caller (mw_patternset_free). Returns 0 or -ENOMEM. */
int mw_patternset_build(struct mw_patternset_builder *b, struct mw_patternset **out);

/* NULL is a no-op. */
void mw_patternset_free(struct mw_patternset *s);

/* Number of patterns. */
size_t mw_patternset_count(const struct mw_patternset *s);

/* Heap bytes held by the set, the struct included. */
size_t mw_patternset_bytes(const struct mw_patternset *s);

/* The matching pattern of highest precedence for name (len octets, lowercase text, no trailing
 * dot). Returns true and fills *out, or false. Lock-free. */
bool mw_patternset_match(const struct mw_patternset *s, const char *name, size_t len,
                         struct mw_pattern_match *out);

/* As mw_patternset_match among the patterns whose rule keep accepts (client groups: the
 * patterns of the group's lists), as a set built from those alone would answer: every pattern
 * is kept, so this is exact. */
bool mw_patternset_match_if(const struct mw_patternset *s, const char *name, size_t len,
                            mw_rule_keep_cb keep, void *arg, struct mw_pattern_match *out);

/* Call cb for every pattern in precedence order, synchronously. Returns 0, or the first
 * nonzero value cb returned. */
int mw_patternset_foreach(const struct mw_patternset *s, mw_pattern_rule_cb cb, void *arg);
