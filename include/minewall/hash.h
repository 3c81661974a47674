/* The one hash function family of minewall: a keyed 64-bit multiply-fold over bytes (in the
 * style of wyhash), for hash tables and set fingerprints, and the seeds that key it. Tables
 * that clients can fill (the answer cache, the answer tracker, rate-limit slots) take a random
 * per-table seed so that nobody outside can choose keys that collide; tables over trusted
 * input may pass seed 0. Not a cryptographic hash. Pure: no allocation, no global state. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The folding step: a and b multiplied to 128 bits, the halves xored. For fixed-size keys on
 * the hot path (two words of an address) that need no loop. */
static inline uint64_t mw_hash_mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)(r >> 64) ^ (uint64_t)r;
}

/* Hash len bytes at data (data may be NULL when len is 0) under seed, with tag mixed in (a
 * type, or the hash of a previous field to chain several fields). Equal inputs give equal
 * hashes for the same seed and tag. */
uint64_t mw_hash_bytes(uint64_t seed, uint64_t tag, const void *data, size_t len);

/* Fill n seeds from the kernel's CSPRNG (getrandom, not blocking). Before the entropy pool is
 * ready, falls back to the clock and the address of s run through splitmix64: weaker, but not
 * guessable from outside. Every seed is odd (never 0). */
void mw_hash_seed_fill(uint64_t *s, size_t n);

/* One seed, as mw_hash_seed_fill. */
uint64_t mw_hash_seed(void);
