/* Private to the list file parsers: what listfile.c (the line formats and the public entry
 * points) shares with rpz.c (RPZ zones) and listdetect.c (format detection). Not installed
 * and not for any other module. Shared functions are named mw_listfile__*; the lexical helpers
 * are static inline with short names, private to each file that includes this one. Every helper
 * takes a span (pointer and length): list text is never assumed to be NUL-terminated. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "minewall/listfile.h"

struct mw_errlist;

#define MW_LISTFILE__WHY_MAX 192 /* a reason written into a caller's buffer */

/* Flags of mw_listfile__name(). */
enum {
    MW_LISTFILE__NAME_RPZ = 1,   /* RPZ: single labels and numeric labels are names */
    MW_LISTFILE__NAME_NOIDN = 2, /* the text is the output of IDN conversion already */
    /* A printable ASCII character outside [A-Za-z0-9-_] (or a '\' escape) is no error but
     * -EILSEQ with why untouched: the caller hands the name to the general (ldns) parser. */
    MW_LISTFILE__NAME_ESC = 4,
};

static inline bool blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static inline bool digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static inline void trim(const char **p, size_t *n)
{
    while (*n && blank(**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n && blank((*p)[*n - 1]))
        (*n)--;
}

/* Cut a '#' comment (whole-line or trailing) off a line. */
static inline void cut_comment(const char *p, size_t *n)
{
    const char *h = memchr(p, '#', *n);
    if (h)
        *n = (size_t)(h - p);
}

/* Length of the token at p: up to the first blank. */
static inline size_t tok_len(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && !blank(p[i]))
        i++;
    return i;
}

static inline bool span_ieq(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(p, lit, n) == 0;
}

static inline bool prefix_ieq(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && strncasecmp(p, lit, l) == 0;
}

/* Worth trying as an address: IPv6 has ':', IPv4 and prefixes end in a digit. */
static inline bool addr_like(const char *p, size_t n)
{
    return n > 0 && (digit(p[n - 1]) || memchr(p, ':', n));
}

/* Format a reason into why[wl]; returns -EINVAL. */
int mw_listfile__fail(char *why, size_t wl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Where a parser puts what it reads: listfile.c's and rpz.c's parse contexts each hold one
 * (member o). Set up with mw_listfile__out_init; the parser keeps line and e current. */
struct mw_listfile__out {
    const char *name; /* borrowed: file name for messages */
    mw_listfile_entry_cb cb;
    void *arg;
    struct mw_listfile_report *rep; /* borrowed */
    struct mw_errlist *errs;        /* borrowed, may be NULL */
    uint32_t line;                  /* the line (record) being read */
    int rc;                         /* a callback's error or -ENOMEM: stops the parse */
    struct mw_listfile_entry e;     /* the entry being built */
};

void mw_listfile__out_init(struct mw_listfile__out *o, const char *name, mw_listfile_entry_cb cb,
                           void *arg, struct mw_listfile_report *rep, struct mw_errlist *errs);

/* Count one bad line in o->rep and, for the first 20 of a file, add "NAME:LINE: why:
 * \"text\"" to o->errs (may be NULL), text quoted (at most 60 bytes, controls and quotes
 * escaped). */
void mw_listfile__bad(struct mw_listfile__out *o, const char *why, const char *txt, size_t n);

/* A line skipped for reason r: counted in o->rep. */
static inline void mw_listfile__skip(struct mw_listfile__out *o, enum mw_listfile_skip r)
{
    o->rep->skip[r]++;
}

/* Hand o->e to the callback and count it; a callback error is kept in o->rc and stops the
 * parse (nothing more is emitted once o->rc is set). */
void mw_listfile__emit(struct mw_listfile__out *o);

/* End of a parse: sum the skip counters into rep->skipped and add the "N more bad lines not
 * shown" message when more than 20 were bad. */
void mw_listfile__finish(struct mw_listfile__out *o);

/* Text name s[0..n) (one trailing dot allowed, not an escape) to lowercase wire in
 * wire[MW_DNAME_MAX + 1], validated as described in listfile.h; non-ASCII names are converted
 * to A-labels. Returns the wire length or -EINVAL with the reason in why (or -EILSEQ, see
 * MW_LISTFILE__NAME_ESC). */
int mw_listfile__name(const char *s, size_t n, uint8_t *wire, unsigned flags, char *why, size_t wl);

/* One address of the given family (0: either) into addr (16 bytes; may be NULL), scope
 * ("%eth0") allowed when family is 0 as hosts files write it. */
bool mw_listfile__addr(const char *p, size_t n, int family, uint8_t *addr);
/* An address or a CIDR prefix with host bits zero. */
bool mw_listfile__cidr(const char *p, size_t n, struct mw_cidr *out);
/* "AS13335" or (need_as false) "13335"; 0 or -EINVAL with the reason in why. */
int mw_listfile__asn(const char *p, size_t n, bool need_as, uint32_t *out, char *why, size_t wl);
/* AdBlock element hiding, scriptlets and HTML filters ("##", "#@#", "$$"...). */
bool mw_listfile__cosmetic(const char *p, size_t n);
/* A glob: '*', '?' or '[' other than a leading "*.". */
bool mw_listfile__glob_like(const char *p, size_t n);
