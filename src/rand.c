/* Block-buffered kernel randomness (see rand.h). */
#include "minewall/rand.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void mw_rand_init(struct mw_rand *r)
{
    r->pos = MW_RAND_BLOCK;
}

static void refill(struct mw_rand *r)
{
    ssize_t got = getrandom(r->buf, MW_RAND_BLOCK, 0);
    if (got < 0)
        got = 0;
    if ((size_t)got < MW_RAND_BLOCK) /* interrupted, or no getrandom: glibc's never fails */
        arc4random_buf(r->buf + got, MW_RAND_BLOCK - (size_t)got);
    r->pos = 0;
}

uint32_t mw_rand_u32(struct mw_rand *r)
{
    if (r->pos > MW_RAND_BLOCK - 4)
        refill(r);
    uint32_t v;
    memcpy(&v, r->buf + r->pos, 4);
    memset(r->buf + r->pos, 0, 4); /* a value drawn is not left behind in memory */
    r->pos += 4;
    return v;
}

uint32_t mw_rand_uniform(struct mw_rand *r, uint32_t n)
{
    /* Reject the top 2^32 mod n values, so every residue is equally likely. */
    uint32_t min = -n % n;
    uint32_t v;
    do
        v = mw_rand_u32(r);
    while (v < min);
    return v % n;
}
