/* Random numbers from the kernel's CSPRNG, fetched a block at a time for a worker's per-query
 * draws (upstream query IDs, the socket a query leaves from, the upstream explored): glibc
 * 2.36's arc4random makes one getrandom syscall per call, about 0.6 us on our VMs, and a
 * forwarded query drew two. A block serves some sixty queries. Each mw_rand belongs to one
 * thread. Rare draws (a socket's port, the prober, DoT/DoH IDs, whose TLS costs far more)
 * call arc4random directly. */
#pragma once

#include <stdint.h>

#define MW_RAND_BLOCK 512

struct mw_rand {
    uint32_t pos; /* bytes of buf used */
    uint8_t buf[MW_RAND_BLOCK];
};

/* Empty: the first draw fetches a block. */
void mw_rand_init(struct mw_rand *r);

/* 32 uniformly random bits. */
uint32_t mw_rand_u32(struct mw_rand *r);

/* Uniform in [0, n) without modulo bias; n > 0. */
uint32_t mw_rand_uniform(struct mw_rand *r, uint32_t n);
