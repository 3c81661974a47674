/* `minewall --explain INPUT`: what the lists say about a name, an address or an AS number. It
 * loads the config and the lists as the server would (file lists and the Redis lists last
 * synced into state-dir), prints every list that holds the input, each with its origin (file
 * and line, or the Redis list), then the decision over all lists and why that rule won. */
#pragma once

#include <stdio.h>

struct mw_overrides;
struct mw_config;
struct mw_lists;
struct mw_rlist;

/* The outcome of an explanation, for callers that want more than the text (JSON). */
struct mw_explain_summary {
    char input[1024];     /* as looked up (A-labels, normalised address) */
    const char *decision; /* "blocked", "allowed" or "none" (static) */
    char list[256];       /* the deciding list, "" for none */
    char rule[280];
    const char *action; /* of a block (static), NULL otherwise */
    size_t holders;     /* lists that hold the input */
    char group[64];     /* the client's group ("default" without a client) */
};

/* The report of --explain for input against the lists l built from cfg (the running ones for
 * the control API: neither is written), with the Redis lists synced (borrowed; they are only
 * read) to find each Redis list that holds it. Builds each file list alone to find its
 * holders: seconds for large lists, so a server runs it off its loop. Serialised by a mutex
 * (one shared holder table). Writes the text to out and, when sum is not NULL, fills it.
 * Returns 0, or -EINVAL with why set when input is not a name, address or AS number. */
int mw_explain_lists(const struct mw_config *cfg, const struct mw_lists *l,
                     struct mw_rlist *const *synced, size_t n_synced, const char *input, FILE *out,
                     struct mw_explain_summary *sum, char *why, size_t why_len);

/* As mw_explain_lists for a query of client (an IP address as text; NULL: none) that arrived
 * on listener ("ADDR[:PORT]", port 53 by default; NULL: unknown, so groups restricted to
 * listeners are not considered): names the client's group, chosen by mw_groups_match as a
 * query's is, and gives that group's verdict (its lists, action overrides and local data).
 * -EINVAL with why also for a client that is not an address or a listener that does not
 * parse. */
int mw_explain_lists_for(const struct mw_config *cfg, const struct mw_lists *l,
                         struct mw_rlist *const *synced, size_t n_synced, const char *input,
                         const char *client, const char *listener, FILE *out,
                         struct mw_explain_summary *sum, char *why, size_t why_len);
/* As mw_explain_run for a query of client on listener (each NULL: none; see
 * mw_explain_lists_for). */
int mw_explain_run_for(const struct mw_overrides *o, const char *input, const char *client,
                       const char *listener, FILE *out);

/* INPUT is a name (Unicode names are converted to A-labels as list entries are, IDNA 2008 /
 * UTS #46 non-transitional), an IPv4 or IPv6 address, or an AS number ("AS64500" or
 * "64500"). Writes the report to out and errors to stderr. Returns the exit code: 0 reported,
 * 1 config or list errors, 2 the input is not a name, address or AS number. */
int mw_explain_run(const struct mw_overrides *o, const char *input, FILE *out);
