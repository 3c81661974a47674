/* List files: the parsers that turn blocklist and allowlist text into entries. One file is one
 * format, detected from its first meaningful lines or forced by the caller: plain domains,
 * hosts, AdBlock/AdGuard, dnsmasq, RPZ zone files, addresses/prefixes, AS numbers, name
 * patterns and "rank,domain" CSV. Every accepted rule becomes one struct mw_listfile_entry
 * handed to a callback; the parser keeps no entries itself and allocates nothing per line (the
 * entry is one reused struct, valid only during the callback). Bad lines are reported as
 * "FILE:LINE: reason: \"text\"" into a struct mw_errlist (the first 20 of a file) and skipped;
 * rules of a kind that DNS cannot enforce (AdBlock element hiding, URL paths, RPZ NSDNAME
 * triggers...) are skipped and counted per reason, not reported as errors. Pure: no libuv, no
 * logging; the only I/O is reading the file in mw_listfile_parse_file().
 *
 * Names are validated the same way in every format: letters, digits, '-' and '_' in labels of
 * 1..63 octets, at most 255 octets of wire form, case folded, one trailing dot ignored,
 * non-ASCII names converted to A-labels with libidn2 (UTS #46 non-transitional) or rejected
 * with libidn2's reason. A name of one label ("com", "localhost") is rejected ("would block a
 * whole TLD"), as is a name whose last label is numeric, except in RPZ where the zone decides.
 * Duplicates are not removed here: the list builder merges them. The line formats are parsed in
 * listfile.c, RPZ zones in rpz.c (rpz.h), the format is guessed in listdetect.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/dname.h"
#include "minewall/netaddr.h"

struct mw_errlist;

/* The formats. MW_LISTFILE_FMT_AUTO asks the parser to detect one. */
enum mw_listfile_format {
    MW_LISTFILE_FMT_AUTO = 0,
    /* One name a line, '#' comments (whole-line or trailing). "*.example.com" means the same
     * subtree as "example.com". A line that is an address or prefix ("1.2.3.4", "10.0.0.0/8")
     * becomes an IP entry: lists such as urlhaus-filter mix hosts given by address in. */
    MW_LISTFILE_FMT_PLAIN,
    /* "ADDRESS name [name...]", '#' comments. The address is not used. localhost-style names
     * (localhost, localhost.localdomain, local, broadcasthost, ip6-*, localhost4/6,
     * 0.0.0.0) are ignored and counted in report.ignored. */
    MW_LISTFILE_FMT_HOSTS,
    /* AdBlock Plus / AdGuard: "||name^" blocks the subtree, "@@||name^" allows it, "!" and
     * "# " comments, "[Adblock Plus 2.0]" headers. "||1.2.3.4^" becomes an IP entry, hosts-style
     * lines are accepted. Options after "$" are accepted only when they do not narrow the rule
     * below "every request for this host": important, all, document/doc, third-party/3p (a
     * resolver cannot tell who embeds a request, and a third-party-only block list names hosts
     * whose every use is blocked: the same projects ship these hosts in hosts form). Any other
     * option ($script, $websocket, $domain=, $~third-party, $badfilter, $dnsrewrite...)
     * skips the rule (MW_LISTFILE_SKIP_MODIFIER). */
    MW_LISTFILE_FMT_ADBLOCK,
    /* dnsmasq "address=/name[/name...]/[ADDR|#]", "server=/name/" and "local=/name/" (no
     * upstream: answered locally, a block). "server=/name/UPSTREAM" forwards and is skipped as
     * MW_LISTFILE_SKIP_DIRECTIVE, as is any other directive. '#' comments (whole lines). */
    MW_LISTFILE_FMT_DNSMASQ,
    /* RPZ zone file (draft-vixie-dnsop-dns-rpz): see rpz.h and MW_LISTFILE_ACT_*. */
    MW_LISTFILE_FMT_RPZ,
    /* One address or CIDR prefix a line, IPv4 or IPv6, '#' comments. */
    MW_LISTFILE_FMT_IP,
    /* One AS number a line, "AS13335" or "13335", '#' comments. */
    MW_LISTFILE_FMT_ASN,
    /* One shell glob a line ("*.xmr-pool-*.*"), '#' comments; characters a-z 0-9 . - _ * ?
     * and bracket sets "[a-z]" / "[!0-9]"; a pattern without any literal character ("*",
     * "*.*") is rejected: it would block everything. */
    MW_LISTFILE_FMT_PATTERN,
    /* "rank,name" lines as popularity lists (Tranco) ship them; EXACT domain entries. */
    MW_LISTFILE_FMT_CSV,
};

enum mw_listfile_type {
    MW_LISTFILE_ENTRY_DOMAIN = 0,
    MW_LISTFILE_ENTRY_IP, /* a client answer address or prefix (RPZ: rpz-ip trigger) */
    MW_LISTFILE_ENTRY_ASN,
    MW_LISTFILE_ENTRY_PATTERN,
};

enum mw_listfile_kind {
    MW_LISTFILE_SUBTREE = 0, /* the name and every name below it */
    MW_LISTFILE_EXACT,       /* the name only (RPZ "name", CSV) */
    MW_LISTFILE_WILDCARD,    /* names below it, not the name itself (RPZ "*.name") */
};

enum mw_listfile_action {
    MW_LISTFILE_ACT_DEFAULT = 0, /* the list's configured action */
    MW_LISTFILE_ACT_NXDOMAIN,    /* RPZ "CNAME ." */
    MW_LISTFILE_ACT_NODATA,      /* RPZ "CNAME *." */
    MW_LISTFILE_ACT_DROP,        /* RPZ "CNAME rpz-drop." */
    MW_LISTFILE_ACT_SINKHOLE,    /* RPZ local A/AAAA data: answer with addrs[0..naddrs) */
    MW_LISTFILE_ACT_PASSTHRU,    /* RPZ "CNAME rpz-passthru." (allow is set too) */
    MW_LISTFILE_ACT_CNAME,       /* RPZ "CNAME target.": answer with a CNAME to target */
};

/* Addresses one RPZ trigger may carry as local data (its A/AAAA records). */
#define MW_LISTFILE_ADDRS_MAX 16
#define MW_LISTFILE_PATTERN_MAX 255

/* One rule. Which members are meaningful depends on type; the parser only sets those (the
 * struct is reused between callbacks, so others hold stale data). */
struct mw_listfile_entry {
    enum mw_listfile_type type;
    uint32_t line;                  /* 1-based; RPZ: the line where the record starts */
    enum mw_listfile_action action; /* DOMAIN and IP */
    bool allow;                     /* an exception: AdBlock "@@", RPZ passthru */
    bool important;                 /* AdBlock "$important" */
    /* DOMAIN: lowercase wire name, length including the root label. */
    enum mw_listfile_kind kind;
    uint16_t name_len;
    uint8_t name[MW_DNAME_MAX + 1];
    /* IP: the prefix (host bits zero). */
    struct mw_cidr cidr;
    /* ASN */
    uint32_t asn;
    /* PATTERN: lowercase glob, NUL-terminated. */
    uint16_t pattern_len;
    char pattern[MW_LISTFILE_PATTERN_MAX + 1];
    /* ACT_SINKHOLE: the local data addresses (prefix 32 or 128). */
    uint8_t naddrs;
    struct mw_cidr addrs[MW_LISTFILE_ADDRS_MAX];
    /* ACT_CNAME: lowercase absolute wire target. */
    uint16_t target_len;
    uint8_t target[MW_DNAME_MAX + 1];
};

/* Rule kinds that are skipped and counted, not errors. */
enum mw_listfile_skip {
    MW_LISTFILE_SKIP_COSMETIC = 0, /* AdBlock element hiding / scriptlets: ##, #@#, #?#, $$ */
    MW_LISTFILE_SKIP_URL,          /* AdBlock "||host/path", "||host:port", "||host^*..." */
    MW_LISTFILE_SKIP_REGEX,        /* AdBlock "/regex/" */
    MW_LISTFILE_SKIP_SUBSTRING,    /* AdBlock rule not anchored with "||" ("-miner.js", "|http") */
    MW_LISTFILE_SKIP_WILDCARD,     /* AdBlock host with '*' ("||ads.*^", "||*.cdn.com^") */
    MW_LISTFILE_SKIP_MODIFIER,     /* AdBlock option that narrows the rule (see FMT_ADBLOCK) */
    MW_LISTFILE_SKIP_DIRECTIVE,    /* dnsmasq: other directives, server= with an upstream */
    MW_LISTFILE_SKIP_RPZ_TRIGGER,  /* rpz-nsdname, rpz-nsip, rpz-client-ip triggers */
    MW_LISTFILE_SKIP_RPZ_ACTION,   /* rpz-tcp-only, CNAME to "*.name" (wildcard synthesis) */
    MW_LISTFILE_SKIP_RPZ_DATA,     /* local data other than A/AAAA/CNAME (TXT, MX, NS, ...) */
    MW_LISTFILE_SKIP_N,
};

struct mw_listfile_report {
    enum mw_listfile_format format; /* the format parsed: detected or forced */
    size_t lines;                   /* lines read */
    size_t entries;                 /* callbacks that returned 0 */
    size_t bad;                     /* rejected lines (hosts: rejected names) */
    size_t ignored;                 /* hosts localhost names, RPZ SOA/NS and apex records */
    size_t skipped;                 /* sum of skip[] */
    size_t skip[MW_LISTFILE_SKIP_N];
    uint64_t content_hash; /* mw_listfile_parse_file: mw_listfile_hash_buf of the bytes read */
};

/* Called once per entry, synchronously, from inside the parse call. e is borrowed: valid
 * until the callback returns. Return 0 to go on or a negative errno to stop the parse, which
 * then returns that value. */
typedef int (*mw_listfile_entry_cb)(const struct mw_listfile_entry *e, void *arg);

/* "plain", "hosts", "adblock", "dnsmasq", "rpz", "ip", "asn", "pattern", "csv", "auto". */
const char *mw_listfile_format_name(enum mw_listfile_format f);
/* The reverse, for configuration ("domains" is accepted for plain). Returns 0 or -EINVAL. */
int mw_listfile_format_parse(const char *s, enum mw_listfile_format *out);
/* Short text for a skip reason ("element hiding", "URL path or port", ...). */
const char *mw_listfile_skip_name(enum mw_listfile_skip r);

/* Parse len bytes of buf (need not be NUL-terminated; a UTF-8 BOM and CRLF line ends are
 * accepted) as format fmt (MW_LISTFILE_FMT_AUTO: detect). name is used in messages only
 * ("redis:minewall:list:x"); detection is mw_listdetect_format() (listdetect.h), RPZ zones
 * are read by mw_rpz_parse() (rpz.h). rep (required) is reset and filled; errs (may be NULL)
 * receives the first 20 bad-line messages and, if there were more, one "NAME: N more bad lines not
 * shown". Bad lines never make the call fail. Returns 0, or the negative errno a callback
 * returned (the parse stops there; rep counts what was seen up to that line). */
int mw_listfile_parse_buf(const char *name, const char *buf, size_t len,
                          enum mw_listfile_format fmt, mw_listfile_entry_cb cb, void *arg,
                          struct mw_listfile_report *rep, struct mw_errlist *errs);

/* Bytes a list file is read and hashed in at a time (the fuzz build makes it small, so that
 * inputs of a few hundred bytes cross block boundaries). */
#ifndef MW_LISTFILE_BLOCK
#define MW_LISTFILE_BLOCK ((size_t)1 << 20)
#endif

/* Parse the file at path as mw_listfile_parse_buf() does, path standing for name. The line
 * formats are read in MW_LISTFILE_BLOCK steps and parsed as they come, so a large list costs
 * two blocks of memory, not its size (RPZ zones and pipes are read whole). A missing or
 * unreadable file (or one over 1 GiB) fails before any callback with a negative errno and
 * "PATH: cannot read: REASON" in errs; a read error later stops the parse with it.
 * rep->content_hash is set to mw_listfile_hash_buf() of the bytes read. */
int mw_listfile_parse_file(const char *path, enum mw_listfile_format fmt, mw_listfile_entry_cb cb,
                           void *arg, struct mw_listfile_report *rep, struct mw_errlist *errs);

/* A fingerprint of a list file's bytes: mw_hash_bytes chained over MW_LISTFILE_BLOCK pieces
 * (0 for no bytes), so that it can be computed while the file is streamed. */
uint64_t mw_listfile_hash_buf(const void *buf, size_t len);

/* The fingerprint of the file at path, read in blocks (one block of memory). Returns 0 with
 * *out set, or a negative errno. */
int mw_listfile_hash_file(const char *path, uint64_t *out);

/* Parse one normalised entry as tools and the Redis sync write it: "example.com" (or
 * "*.example.com", an IDN name; a DOMAIN SUBTREE entry), "10.0.0.0/8" or "2001:db8::1" (IP),
 * "AS13335" (ASN; the "AS" is required here), a glob with '*', '?' or '[' other than a
 * leading "*." (PATTERN). Leading and trailing blanks are ignored. out->line is 0. Returns 0,
 * or -EINVAL with the reason in why (may be NULL; truncated to why_len). */
int mw_listfile_parse_entry(const char *text, struct mw_listfile_entry *out, char *why,
                            size_t why_len);
