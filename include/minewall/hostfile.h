/* Snapshots of the host's own resolver configuration files (resolv.conf, hosts) for the routing
 * journal: the file's bytes and SHA-256 (FIPS 180-4, implemented here), the lines added and
 * removed between two snapshots, the nameservers of a resolv.conf and whether they bypass
 * minewall, and the names of a hosts file whose addresses changed (a miner adding
 * "127.0.0.1 pool.rival.example" to block a competitor shows up as one changed name).
 * Everything works on bytes passed in, apart from mw_hostfile_read, which reads a file with
 * blocking calls and belongs on a worker thread. Nothing here watches files, logs or keeps
 * state between calls; a snapshot is immutable once made, so threads may share it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mw_addr;

#define MW_SHA256_LEN 32
#define MW_SHA256_HEX_LEN 65 /* 64 hex digits and the NUL */

/* Largest file mw_hostfile_read accepts; resolv.conf and hosts files are far smaller, and a
 * bound keeps a runaway file from taking the memory of the resolver. */
#define MW_HOSTFILE_MAX_BYTES (16u << 20)

/* At most this many nameservers of one resolv.conf are kept (glibc uses the first 3). */
#define MW_RESOLV_MAX_NS 16

/* SHA-256 of len bytes at data (data may be NULL when len is 0) into out. */
void mw_hostfile_sha256(const void *data, size_t len, uint8_t out[MW_SHA256_LEN]);

/* Lowercase hex of a digest, NUL-terminated, into hex. */
void mw_hostfile_sha256_hex(const uint8_t digest[MW_SHA256_LEN], char hex[MW_SHA256_HEX_LEN]);

/* One version of a watched file. exists is false for a file that was missing (data is then ""
 * and sha256 is the digest of the empty string, but journal code should print null). data is
 * NUL-terminated after len bytes; the file itself may contain NULs, which the line functions
 * treat as ordinary bytes. */
struct mw_hostfile_snap {
    char *data; /* owned, len + 1 bytes */
    size_t len;
    bool exists;
    uint8_t sha256[MW_SHA256_LEN];
};

/* Make a snapshot of len bytes at data (copied), or of a missing file when data is NULL.
 * *out takes a new snapshot owned by the caller (mw_hostfile_snap_free). Returns 0, -ENOMEM,
 * or -EINVAL for a NULL out or len over MW_HOSTFILE_MAX_BYTES. */
int mw_hostfile_snap_new(const void *data, size_t len, struct mw_hostfile_snap **out);

/* Read path into a new snapshot (blocking open/read: call from a worker thread, never from the
 * event loop). A missing file (ENOENT, ENOTDIR) gives a snapshot with exists false and returns
 * 0. Returns 0, -EFBIG for a file over MW_HOSTFILE_MAX_BYTES, -ENOMEM, or another negative
 * errno of open(2)/read(2) (*out is then NULL). */
int mw_hostfile_read(const char *path, struct mw_hostfile_snap **out);

/* Free a snapshot. NULL is a no-op. */
void mw_hostfile_snap_free(struct mw_hostfile_snap *s);

/* True when both snapshots exist and have the same digest, or both are missing. NULL counts as
 * a missing file. */
bool mw_hostfile_same(const struct mw_hostfile_snap *a, const struct mw_hostfile_snap *b);

/* A list of NUL-terminated strings in one allocation: v[0..n-1] point into the same block, so
 * one free releases all. Initialise with {0} or mw_hostfile_list_deinit on a zeroed struct. */
struct mw_hostfile_list {
    const char **v; /* owned (the whole block, strings included) */
    size_t n;
};

/* Free the block and zero the list. */
void mw_hostfile_list_deinit(struct mw_hostfile_list *l);

/* Lines of new_s that are not in old_s and lines of old_s that are not in new_s, compared as
 * multisets: moving a line is no change, a line written twice where it was once is added once.
 * A line ends at '\n'; a trailing '\r' is dropped, and empty lines are ignored. Either snapshot
 * may be NULL (no lines). added and removed are sorted bytewise; they are overwritten (not
 * freed) and owned by the caller afterwards. Returns 0 or -ENOMEM (both lists then empty). */
int mw_hostfile_diff_lines(const struct mw_hostfile_snap *old_s,
                           const struct mw_hostfile_snap *new_s, struct mw_hostfile_list *added,
                           struct mw_hostfile_list *removed);

/* The nameservers of a resolv.conf (resolv.conf(5)): "nameserver ADDR" lines in file order,
 * comments starting with '#' or ';' ignored, addresses that do not parse counted in invalid and
 * skipped, at most MW_RESOLV_MAX_NS kept (more are counted in dropped). Port 53 throughout. */
struct mw_resolv {
    size_t n;
    size_t invalid;
    size_t dropped;
    /* No usable nameserver line: the C library then asks the local machine (127.0.0.1), and
     * mw_hostfile_resolver_bypass decides as if ns[0] were 127.0.0.1. */
    bool implicit_local;
    char ns_text[MW_RESOLV_MAX_NS][64]; /* as mw_addr_format_ip writes it, e.g. "127.0.0.53" */
    uint8_t family[MW_RESOLV_MAX_NS];   /* AF_INET or AF_INET6 */
    uint8_t addr[MW_RESOLV_MAX_NS][16]; /* network byte order; IPv4 in the first 4 octets */
};

/* Parse a resolv.conf snapshot (NULL or a missing file: no nameservers, implicit_local).
 * Always succeeds; out is overwritten. */
void mw_hostfile_resolv_parse(const struct mw_hostfile_snap *s, struct mw_resolv *out);

/* Does the resolver configuration go around minewall? True when no nameserver of r (or the
 * implicit 127.0.0.1) has the IP address of one of the n listen addresses; ports and IPv6
 * scope ids are not compared (pass only the listeners that serve port 53), and an IPv4-mapped
 * IPv6 address equals its IPv4 address. 127.0.0.1 and 127.0.0.53 are different addresses, so
 * systemd-resolved's stub in resolv.conf is a bypass unless minewall listens there. A wildcard
 * listen address (0.0.0.0, ::) matches nothing: the caller expands it into the host's
 * addresses, which this pure code cannot know. */
bool mw_hostfile_resolver_bypass(const struct mw_resolv *r, const struct mw_addr *listen, size_t n);

/* What a watched file is, judged by its content (journal.watch entries without `kind:`). */
enum mw_hostfile_kind {
    MW_HOSTFILE_UNKNOWN = 0, /* empty, missing, or mostly lines of neither kind */
    MW_HOSTFILE_RESOLV,      /* mostly resolv.conf directives (nameserver, search, options...) */
    MW_HOSTFILE_HOSTS,       /* mostly "ADDR NAME..." lines */
};

/* Classify a snapshot by its non-comment lines: the kind with more lines than the other and at
 * least as many as the unrecognised lines, else UNKNOWN. NULL or missing: UNKNOWN. */
enum mw_hostfile_kind mw_hostfile_guess_kind(const struct mw_hostfile_snap *s);

/* One name -> address pair of a hosts file. */
struct mw_hosts_entry {
    const char *name; /* lowercase, no trailing dot; points into mw_hosts.text */
    uint8_t family;   /* AF_INET or AF_INET6 */
    uint8_t addr[16];
};

/* A parsed hosts file (hosts(5)): "ADDR NAME [ALIAS...]" lines, '#' starts a comment. Entries
 * are sorted by name, then family and address, without duplicates, so the addresses of one
 * name are adjacent. Lines whose address does not parse are counted in invalid. */
struct mw_hosts {
    char *text;               /* owned: the names, NUL-separated */
    struct mw_hosts_entry *e; /* owned */
    size_t n;
    size_t invalid;
};

/* Parse a hosts snapshot (NULL or missing: no entries) into *out, overwritten. Returns 0 or
 * -ENOMEM (out is then empty). Release with mw_hostfile_hosts_deinit. */
int mw_hostfile_hosts_parse(const struct mw_hostfile_snap *s, struct mw_hosts *out);

/* Free what mw_hostfile_hosts_parse allocated and zero *h. */
void mw_hostfile_hosts_deinit(struct mw_hosts *h);

/* The names whose address set differs between two parsed hosts files: names that appear,
 * disappear, or map to other addresses. Sorted, without duplicates; *out is overwritten and
 * owned by the caller. Returns 0 or -ENOMEM. */
int mw_hostfile_hosts_changed(const struct mw_hosts *old_h, const struct mw_hosts *new_h,
                              struct mw_hostfile_list *out);
