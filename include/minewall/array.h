/* Growable arrays: the one capacity-doubling realloc that the builders (domainset_build.c,
 * patternset.c) use for their arrays. Pure; no state. */
#pragma once

#include <stddef.h>

/* Make *p (an array of elements of elem bytes with room for *cap of them; NULL with *cap 0
 * at first) hold at least need elements: the capacity doubles from 64 until it does, so n
 * appends cost O(n) copies in all. On success *p and *cap are updated; on failure both are
 * unchanged and *p stays valid (the caller still owns and frees it). Returns 0, or -ENOMEM
 * (out of memory, or a size that does not fit in size_t). */
int mw_array_grow(void **p, size_t *cap, size_t need, size_t elem);
