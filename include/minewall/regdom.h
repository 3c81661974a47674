/* The registered domain (eTLD+1) of a name, from the Public Suffix List through libpsl: the
 * part of a name an owner registered, under which every label is theirs ("a.b.example.co.uk"
 * -> "example.co.uk"). Loaded once at start and immutable after, so every worker reads it
 * without locks. The list comes from Debian's `publicsuffix` package (the DAFSA file, which
 * libpsl reads fastest, else the text list) and, when neither can be read, from the copy
 * built into libpsl; mw_regdom_source() says which was used. No suffix table of our own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where Debian's publicsuffix package puts the list. */
#define MW_REGDOM_DAFSA "/usr/share/publicsuffix/public_suffix_list.dafsa"
#define MW_REGDOM_DAT "/usr/share/publicsuffix/public_suffix_list.dat"

struct mw_regdom;

/* Load the list: path (a .dafsa or .dat file) when not NULL, else MW_REGDOM_DAFSA then
 * MW_REGDOM_DAT; when none of them loads, libpsl's built-in list. Returns NULL only on ENOMEM
 * or when libpsl has no built-in list either. The caller frees. */
struct mw_regdom *mw_regdom_new(const char *path);

/* NULL is a no-op. */
void mw_regdom_free(struct mw_regdom *rd);

/* "file PATH" or "libpsl built-in" (borrowed, lives as long as rd). */
const char *mw_regdom_source(const struct mw_regdom *rd);

/* The registered domain of the lowercase wire name (len octets with the root): the offset
 * into name where it starts (it is a suffix of name), or -ENOENT when the name has none (it
 * is a public suffix itself, the root, a single label, or a label holds a dot, a NUL or an
 * octet above 0x7e, which no list entry can hold). Unknown top-level domains follow the
 * list's implicit "*" rule ("host.lan" is its own registered domain). */
int mw_regdom_find(const struct mw_regdom *rd, const uint8_t *name, size_t len);

/* Is the name under a public suffix the list knows (its top-level label is listed)? False for
 * single-label names, names under top-level labels the list does not have (.lan, .home,
 * .internal, .local, localhost) and names under home.arpa (RFC 8375: the homenet's own names,
 * although "arpa" is listed). Names such software answers locally are never public. */
bool mw_regdom_is_public(const struct mw_regdom *rd, const uint8_t *name, size_t len);
