/* Levelled, tagged logging to stderr. The only global of minewall is the current level.
 * mw_log_<level>() tests the level before any formatting, so a disabled level costs one
 * compare. Tags are short subsystem names of at most 6 letters ("upstr", "cache"). */
#pragma once

#include <stdarg.h>

enum mw_log_level {
    MW_LOG_ERROR = 0,
    MW_LOG_WARN = 1,
    MW_LOG_INFO = 2,
    MW_LOG_DEBUG = 3,
};

extern int mw_log_level_current;

/* Set the level; thread-safe enough (an int store). */
void mw_log_set_level(int level);

/* Parse "error", "warn"/"warning", "info", "debug". Returns the level or -EINVAL. */
int mw_log_level_parse(const char *s);

/* Always formats; use the macros below. */
void mw_log_write(int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define mw_log_at(lvl, tag, ...)                                                                   \
    do {                                                                                           \
        if ((lvl) <= mw_log_level_current)                                                         \
            mw_log_write((lvl), (tag), __VA_ARGS__);                                               \
    } while (0)

#define mw_log_error(tag, ...) mw_log_at(MW_LOG_ERROR, tag, __VA_ARGS__)
#define mw_log_warn(tag, ...) mw_log_at(MW_LOG_WARN, tag, __VA_ARGS__)
#define mw_log_info(tag, ...) mw_log_at(MW_LOG_INFO, tag, __VA_ARGS__)
#define mw_log_debug(tag, ...) mw_log_at(MW_LOG_DEBUG, tag, __VA_ARGS__)
