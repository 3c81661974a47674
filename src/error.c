/* Error lists for input parsed as a whole, and the failure ends of mw_require()/mw_assert().
 * An errlist stays iterable (msgs[0..n) are valid strings) even when memory runs out: a message
 * that cannot be stored is replaced by a static "out of memory" note, so a caller that tests
 * n > 0 still sees that something failed. The static note is never freed. */
#include "minewall/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "minewall/log.h"

static char oom_msg[] = "out of memory: further error messages were dropped";
static char *oom_slot[1] = {oom_msg};

void mw_errlist_init(struct mw_errlist *e)
{
    e->msgs = NULL;
    e->n = 0;
    e->cap = 0;
}

void mw_errlist_deinit(struct mw_errlist *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++) {
        if (e->msgs[i] != oom_msg)
            free(e->msgs[i]);
    }
    if (e->msgs != oom_slot)
        free(e->msgs);
    mw_errlist_init(e);
}

static void store_oom(struct mw_errlist *e)
{
    if (e->n == 0) {
        e->msgs = oom_slot;
        e->n = e->cap = 1;
        return;
    }
    if (e->msgs[e->n - 1] != oom_msg)
        free(e->msgs[e->n - 1]);
    e->msgs[e->n - 1] = oom_msg;
}

void mw_errlist_vadd_at(struct mw_errlist *e, const char *file, int line, const char *fmt,
                        va_list ap)
{
    if (e->msgs == oom_slot)
        return; /* already out of memory; the note is there */
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    if (m && file) {
        char *full = NULL;
        int r = line > 0 ? asprintf(&full, "%s:%d: %s", file, line, m)
                         : asprintf(&full, "%s: %s", file, m);
        free(m);
        m = r < 0 ? NULL : full;
    }

    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        char **msgs = realloc(e->msgs, cap * sizeof(*msgs));
        if (!msgs) {
            free(m);
            store_oom(e);
            return;
        }
        e->msgs = msgs;
        e->cap = cap;
    }
    e->msgs[e->n++] = m ? m : oom_msg;
}

void mw_errlist_add(struct mw_errlist *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mw_errlist_vadd_at(e, NULL, 0, fmt, ap);
    va_end(ap);
}

void mw_require_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "%s:%d: requirement failed: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}

void mw_assert_fail(const char *expr, const char *file, int line)
{
    mw_log_error("assert", "%s:%d: assertion failed: %s", file, line, expr);
}
