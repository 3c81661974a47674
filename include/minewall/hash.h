/* The one hash function family of minewall: a keyed 64-bit multiply-fold over bytes (in the
 * style of wyhash), for hash tables and set fingerprints, and the seeds that key it. Tables
 * that clients can fill (the answer cache, the answer tracker, rate-limit slots) take a random
 * per-table seed so that nobody outside can choose keys that collide; tables over trusted
 * input may pass seed 0. Not a cryptographic hash. Pure: no allocation, no global state. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The folding step: a and b multiplied to 128 bits, the halves xored. For fixed-size keys on
 * the hot path (two words of an address) that need no loop. */
static inline uint64_t mw_hash_mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)(r >> 64) ^ (uint64_t)r;
}

/* Unaligned native-order loads (memcpy of a constant size compiles to one load). */
static inline uint64_t mw_load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t mw_load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Extend the hash h of a name by one label of n octets at p (1 <= n <= 63; any n >= 1 is read
 * whole, so it also hashes a short string in one call) on its left, so
 * that one pass from the root down gives the hash of every suffix of a name (the list set's
 * and the local zones' walks). wyhash-style: every octet is read, short labels by overlapping
 * loads with no loop; two 64x64->128 multiplies per label. Hand-written because it is the
 * per-label cost of every list lookup. */
static inline uint64_t mw_hash_label(uint64_t h, const uint8_t *p, size_t n)
{
    const uint64_t s0 = 0xa0761d6478bd642full, s1 = 0xe7037ed1a0b428dbull;
    uint64_t a, b;
    if (n <= 16) {
        if (n >= 4) {
            size_t m = (n >> 3) << 2;
            a = (mw_load32(p) << 32) | mw_load32(p + m);
            b = (mw_load32(p + n - 4) << 32) | mw_load32(p + n - 4 - m);
        } else {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1];
            b = 0;
        }
    } else {
        size_t i = n;
        while (i > 16) {
            h = mw_hash_mix(mw_load64(p) ^ s1, mw_load64(p + 8) ^ h);
            p += 16;
            i -= 16;
        }
        a = mw_load64(p + i - 16);
        b = mw_load64(p + i - 8);
    }
    __uint128_t r = (__uint128_t)(a ^ s1) * (b ^ h);
    return mw_hash_mix((uint64_t)r ^ s0 ^ n, (uint64_t)(r >> 64) ^ s1);
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
