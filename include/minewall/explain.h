/* `minewall --explain INPUT`: what the lists say about a name, an address or an AS number. It
 * loads the config and the lists as the server would (file lists and the Redis lists last
 * synced into state-dir), prints every list that holds the input, each with its origin (file
 * and line, or the Redis list), then the decision over all lists and why that rule won. */
#pragma once

#include <stdio.h>

struct mw_overrides;

/* INPUT is a name (Unicode names are converted to A-labels as list entries are, IDNA 2008 /
 * UTS #46 non-transitional), an IPv4 or IPv6 address, or an AS number ("AS64500" or
 * "64500"). Writes the report to out and errors to stderr. Returns the exit code: 0 reported,
 * 1 config or list errors, 2 the input is not a name, address or AS number. */
int mw_explain_run(const struct mw_overrides *o, const char *input, FILE *out);
