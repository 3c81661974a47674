/* The keyed multiply-fold hash and its seeds; see hash.h. The folding step multiplies two
 * 64-bit words to 128 bits and xors the halves (the "mum" of wyhash), with the seed in every
 * step, so a seed unknown to the client is what keeps crafted keys from colliding. */
#include "minewall/hash.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

#define P0 0xa0761d6478bd642full
#define P1 0xe7037ed1a0b428dbull
#define P2 0x8ebc6af09c88c6e3ull
#define P3 0x589965cc75374cc3ull

uint64_t mw_hash_bytes(uint64_t seed, uint64_t tag, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = mw_hash_mix(seed ^ P0 ^ (uint64_t)len, tag ^ P1 ^ seed);
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = mw_hash_mix(v ^ seed ^ P1, h ^ P2);
        p += 8;
        len -= 8;
    }
    uint64_t t = 0;
    if (len)
        memcpy(&t, p, len);
    h = mw_hash_mix(t ^ seed ^ P3, h ^ P0);
    return mw_hash_mix(h ^ P1, seed ^ P2);
}

void mw_hash_seed_fill(uint64_t *s, size_t n)
{
    if (getrandom(s, n * sizeof(*s), GRND_NONBLOCK) != (ssize_t)(n * sizeof(*s))) {
        /* No entropy yet (early boot). */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)s;
        for (size_t i = 0; i < n; i++) {
            x += 0x9e3779b97f4a7c15ull; /* splitmix64 */
            uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            s[i] = z ^ (z >> 31);
        }
    }
    for (size_t i = 0; i < n; i++)
        s[i] |= 1;
}

uint64_t mw_hash_seed(void)
{
    uint64_t s;
    mw_hash_seed_fill(&s, 1);
    return s;
}
