/* Levelled logging to stderr. Each record is one line, "TIME LEVEL [tag] message", written with
 * a single fwrite so that lines from several worker threads do not interleave. The time is UTC
 * to the second in ISO 8601 form. The current level is the only global of minewall; the
 * mw_log_<level>() macros test it before any formatting happens. This module does not rotate,
 * buffer or rate-limit: callers rate-limit repeated network errors themselves. */
#include "minewall/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

_Atomic int mw_log_level_current = MW_LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void mw_log_set_level(int level)
{
    if (level < MW_LOG_ERROR)
        level = MW_LOG_ERROR;
    if (level > MW_LOG_DEBUG)
        level = MW_LOG_DEBUG;
    atomic_store_explicit(&mw_log_level_current, level, memory_order_relaxed);
}

int mw_log_level_parse(const char *s)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {
        {"error", MW_LOG_ERROR}, {"warn", MW_LOG_WARN},   {"warning", MW_LOG_WARN},
        {"info", MW_LOG_INFO},   {"debug", MW_LOG_DEBUG},
    };
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0)
            return names[i].level;
    }
    return -EINVAL;
}

void mw_log_write(int level, const char *tag, const char *fmt, ...)
{
    if (level < MW_LOG_ERROR)
        level = MW_LOG_ERROR;
    if (level > MW_LOG_DEBUG)
        level = MW_LOG_DEBUG;

    char stamp[32] = "0000-00-00T00:00:00Z";
    struct timespec ts;
    struct tm tm;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && gmtime_r(&ts.tv_sec, &tm))
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);

    /* Most records fit the stack buffer; a longer one is formatted again on the heap rather
     * than cut, since the message is usually the interesting part. */
    char buf[1024];
    int head =
        snprintf(buf, sizeof(buf), "%s %s [%s] ", stamp, level_names[level], tag ? tag : "-");
    if (head < 0 || (size_t)head >= sizeof(buf))
        return;
    va_list ap;
    va_start(ap, fmt);
    int body = vsnprintf(buf + head, sizeof(buf) - head, fmt, ap);
    va_end(ap);
    if (body < 0)
        return;

    char *line = buf;
    size_t total = (size_t)head + (size_t)body + 1;
    if (total >= sizeof(buf)) {
        line = malloc(total + 1);
        if (line) {
            memcpy(line, buf, head);
            va_start(ap, fmt);
            vsnprintf(line + head, total - head, fmt, ap);
            va_end(ap);
        } else {
            line = buf; /* out of memory: write the truncated record */
            total = sizeof(buf);
        }
    }
    line[total - 1] = '\n';
    fwrite(line, 1, total, stderr);
    if (line != buf)
        free(line);
}
