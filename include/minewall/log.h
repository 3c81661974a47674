/* Levelled, tagged logging to stderr. The only global of minewall is the current level.
 * mw_log_<level>() tests the level before any formatting, so a disabled level costs one
 * compare. Tags are short subsystem names of at most 6 letters ("upstr", "cache"). */
#pragma once

#include <stdarg.h>
#include <stdatomic.h>

enum mw_log_level {
    MW_LOG_ERROR = 0,
    MW_LOG_WARN = 1,
    MW_LOG_INFO = 2,
    MW_LOG_DEBUG = 3,
};

/* Written by the control thread (start, reload), read by every worker before it formats a
 * record: an atomic, read and written relaxed (no other memory is ordered by it). */
extern _Atomic int mw_log_level_current;

/* Set the level (clamped to ERROR..DEBUG). Thread-safe. */
void mw_log_set_level(int level);

/* The level in force. */
static inline int mw_log_level(void)
{
    return atomic_load_explicit(&mw_log_level_current, memory_order_relaxed);
}

/* Parse "error", "warn"/"warning", "info", "debug". Returns the level or -EINVAL. */
int mw_log_level_parse(const char *s);

/* Always formats; use the macros below. */
void mw_log_write(int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define mw_log_at(lvl, tag, ...)                                                                   \
    do {                                                                                           \
        if ((lvl) <= mw_log_level())                                                               \
            mw_log_write((lvl), (tag), __VA_ARGS__);                                               \
    } while (0)

#define mw_log_error(tag, ...) mw_log_at(MW_LOG_ERROR, tag, __VA_ARGS__)
#define mw_log_warn(tag, ...) mw_log_at(MW_LOG_WARN, tag, __VA_ARGS__)
#define mw_log_info(tag, ...) mw_log_at(MW_LOG_INFO, tag, __VA_ARGS__)
#define mw_log_debug(tag, ...) mw_log_at(MW_LOG_DEBUG, tag, __VA_ARGS__)
