/* Thread names (what `top -H`, `ps -L` and /proc/PID/task/TID/comm show): one per kind of
 * thread, so an operator, and tools/bench, can tell the query path's CPU from the writers'. */
#pragma once

#include <stddef.h>

/* Name the calling thread (at most 15 bytes are kept). Best effort: a failure changes nothing
 * else, so none is returned. */
void mw_thread_name(const char *name);

/* The calling thread's name into buf (at least 16 bytes). */
void mw_thread_name_get(char *buf, size_t len);
