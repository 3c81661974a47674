/* Error collection for input that is parsed as a whole (config, list files): deep code appends
 * "FILE:LINE: message" strings and keeps parsing; the caller (main, server, reload) prints them.
 * Also the two assertion kinds of STYLE rule 9. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct mw_errlist {
    char **msgs; /* owned, each malloc'ed */
    size_t n;
    size_t cap;
};

void mw_errlist_init(struct mw_errlist *e);
void mw_errlist_deinit(struct mw_errlist *e);
/* Append a formatted message. Allocation failure drops the message but still counts it. */
void mw_errlist_add(struct mw_errlist *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append "FILE:LINE: message" (line > 0), "FILE: message" (line <= 0) or the message alone
 * (file NULL), the message formatted from fmt and ap. */
void mw_errlist_vadd_at(struct mw_errlist *e, const char *file, int line, const char *fmt,
                        va_list ap) __attribute__((format(printf, 4, 0)));

/* Memory-safety invariant: always aborts with file:line when false. */
#define mw_require(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            mw_require_fail(#cond, __FILE__, __LINE__);                                            \
    } while (0)
/* Recoverable invariant: logs and evaluates to true when it fails, so the caller can recover. */
#define mw_assert(cond) (!(cond) ? (mw_assert_fail(#cond, __FILE__, __LINE__), true) : false)

__attribute__((noreturn)) void mw_require_fail(const char *expr, const char *file, int line);
void mw_assert_fail(const char *expr, const char *file, int line);
