/* The one reader of resolv.conf(5): its "nameserver ADDR" lines, for the upstreams taken from
 * the host (config.c) and for the routing journal's view of the host's resolver (hostfile.c).
 * Lines end at '\n'; blanks are space, tab, CR, VT and FF; '#' or ';' start a comment anywhere
 * (as in the C library), and so does a NUL byte; keywords other than nameserver are skipped.
 * Pure: works on bytes, never allocates. */
#pragma once

struct mw_addr;

/* Read from *p (up to end) to the next nameserver line and advance *p past it. Returns 1 with
 * the address in *ns (port 53); -EINVAL for a nameserver line without an address or with one
 * that does not parse (*p has moved on: call again; the C library ignores such lines); 0 when
 * no nameserver line is left (*p == end). */
int mw_resolvconf_next(const char **p, const char *end, struct mw_addr *ns);
