/* Newly observed domains: the memory of the registered domains this resolver has resolved, as
 * a pair of rotating Bloom filters ("generations"), so that the first sight of a domain can be
 * told from every later one in constant memory.
 *
 * A domain is "seen" when the current or the previous generation holds it; a new one is added
 * to the current generation, and one found only in the previous generation is copied into the
 * current one (a domain in use never ages out). When the current generation holds half of the
 * capacity, it becomes the previous one and the old previous one is cleared and becomes the
 * current one (mw_nod_maintain): the filter remembers between capacity/2 and capacity
 * domains, the ones used most recently, and never fills up. Each generation is sized for
 * capacity/2 names at 0.45 fp_rate, so that with both full a name never seen is taken for a
 * seen one with probability about 0.9 fp_rate (a margin for the rounding of k): with
 * p = 0.45 fp_rate, m = n * ln(1/p) / ln(2)^2 bits per generation and k = m/n * ln 2 probes
 * (8 at 1%), about 11.24 bits a name of the capacity in all at 1% (14.05 MB for 10M names,
 * plus 1.2 MB for the today filter).
 *
 * One filter serves every worker: bits are set with atomic OR and read with atomic loads
 * (setting a bit is idempotent, so concurrent observers never need a lock), and the count of
 * names in a generation is an atomic counter. Two workers observing the same new domain in the
 * same microsecond may both call it new; nothing worse can happen. Rotation (one thread, the
 * caller of mw_nod_maintain) clears the old generation with atomic stores before making it the
 * current one; observers racing a rotation may take a domain of the dropped generation for new.
 *
 * A second, smaller filter ("today") remembers which domains were announced to the fleet since
 * the last mw_nod_new_day(), so each resolver refreshes the fleet's memory once a day per
 * domain it uses (see nodsvc.h). It is not saved.
 *
 * Names are hashed with a random salt chosen when a filter is made and saved with it, so that
 * nobody outside can compute which names collide. The file format is this host's (native byte
 * order): a 64-byte header (magic, version, parameters, salt, counts, a checksum of the bits)
 * and the two generations' bits. mw_nod_save writes a temporary file and renames it over the
 * old one, so a crash leaves the old file or the new one, never a mix.
 *
 * Pure: no libuv; plain file I/O in save and load only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mw_nod;

#define MW_NOD_CAPACITY_DEFAULT 10000000ull
#define MW_NOD_CAPACITY_MIN 1000ull
#define MW_NOD_CAPACITY_MAX 1000000000ull
#define MW_NOD_FP_DEFAULT 0.01
/* The "today" filter holds a tenth of the capacity (at least MW_NOD_CAPACITY_MIN) at 1%. */
#define MW_NOD_TODAY_DIV 10

/* A filter for capacity names (MW_NOD_CAPACITY_MIN..MAX) at fp_rate (0 < fp_rate < 0.5),
 * salted with salt (0: a random salt). Returns 0 with *out owned by the caller, -EINVAL for a
 * parameter out of range, -ENOMEM. */
int mw_nod_new(uint64_t capacity, double fp_rate, uint64_t salt, struct mw_nod **out);

/* NULL is a no-op. */
void mw_nod_free(struct mw_nod *n);

/* Bytes of the two generations' bits and of the today filter (the memory bound). */
size_t mw_nod_bytes(const struct mw_nod *n);

/* Observe the registered domain name (lowercase wire form, len octets with the root label):
 * true when neither generation held it (it is new, and is now remembered). Any thread. */
bool mw_nod_observe(struct mw_nod *n, const uint8_t *name, size_t len);

/* The name's hash under the filter's salt: what the _hash forms below take, so that a caller
 * that knows the name early (a miss, before its answer) hashes it once. Any thread. */
uint64_t mw_nod_hash(const struct mw_nod *n, const uint8_t *name, size_t len);

/* Start loading the cache lines the name of hash h occupies in both generations (and, with
 * today, in the today filter), so that its mw_nod_observe_hash later finds them in cache:
 * each is one cache miss of a filter far larger than the caches. Changes nothing. */
void mw_nod_prefetch(const struct mw_nod *n, uint64_t h, bool today);

/* mw_nod_observe and mw_nod_today_first of the name of hash h (mw_nod_hash). */
bool mw_nod_observe_hash(struct mw_nod *n, uint64_t h);
bool mw_nod_today_first_hash(struct mw_nod *n, uint64_t h);

/* Does either generation hold name? Changes nothing. Any thread. */
bool mw_nod_contains(const struct mw_nod *n, const uint8_t *name, size_t len);

/* True the first time name is asked since the last mw_nod_new_day() (and remembered in the
 * today filter); false after that, and for a false positive of the today filter. */
bool mw_nod_today_first(struct mw_nod *n, const uint8_t *name, size_t len);

/* Forget the today filter (a new UTC day). One thread at a time. */
void mw_nod_new_day(struct mw_nod *n);

/* Rotate when the current generation holds capacity/2 names. One thread at a time (the
 * observers may run). Returns true when it rotated. */
bool mw_nod_maintain(struct mw_nod *n);

/* A number (never 0) that changes whenever a domain the filter holds in its current
 * generation, and announced today, might stop being so: at each rotation and each new day.
 * A caller that saw mw_nod_observe (and mw_nod_today_first) return false for a domain under
 * epoch E may skip both for that domain while the epoch is still E: they would change nothing
 * and return false again. Any thread. */
uint32_t mw_nod_epoch(const struct mw_nod *n);

struct mw_nod_stats {
    uint64_t capacity;
    uint64_t names[2];    /* names added to the current [0] and previous [1] generation */
    double fill[2];       /* fraction of their bits set */
    uint64_t rotations;   /* since the filter was made (kept across save and load) */
    uint32_t k;           /* probes per name */
    uint64_t bits;        /* bits per generation */
    uint64_t today_names; /* names announced since the last new day */
};

void mw_nod_stats(const struct mw_nod *n, struct mw_nod_stats *out);

/* Save to path: write path + ".tmp", fsync, rename over path. Returns 0 or a negative errno.
 * Observers may run meanwhile: a name being added while the bits are copied may be saved in
 * part, and is then new once more after a restart. */
int mw_nod_save(const struct mw_nod *n, const char *path);

/* Load a filter saved by mw_nod_save. Returns 0 with *out owned by the caller; -ENOENT when
 * there is no file; -EBADMSG for a file that is not one (bad magic, truncated, checksum
 * mismatch, parameters out of range); -EPROTONOSUPPORT for a filter file of another format
 * version (version 1, before the blocked layout: its bits mean other names, so it is refused,
 * and the caller starts afresh); -ESTALE when it was made for another capacity or fp_rate
 * than the ones given (the caller starts afresh); another negative errno of open/read. */
int mw_nod_load(const char *path, uint64_t capacity, double fp_rate, struct mw_nod **out);
