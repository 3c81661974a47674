/* Newly observed domains: the rotating pair of Bloom filters and its file; see nod.h. The bit
 * arrays are calloc'ed, so the kernel hands out zero pages only as bits are set (a 15 MB
 * filter costs its RSS as it fills), and every access is atomic because all workers share it.
 *
 * Blocked Bloom filters (Putze, Sanders and Singler): a name's k bits all lie in one block of
 * 512 bits, one 64-byte cache line, picked by a multiply-shift of one 64-bit hash; inside it
 * the k positions are 9-bit slices of further hashes (seven a 64-bit word; double hashing
 * inside so small a block makes names share bit patterns and measurably raised the rate). A
 * probe of a filter far larger than the caches costs one cache miss instead
 * of k. Blocks fill unevenly (their loads are Poisson), which costs a few more bits a name for
 * the same false-positive rate: size_bloom computes the rate of the blocked layout and sizes
 * for it. */
#include "minewall/nod.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minewall/hash.h"

#define K_MAX 16
#define TAG 0x6e6f64u    /* "nod": the hash's type tag */
#define CHUNK (1u << 20) /* bytes copied, hashed and written at a time by save */
/* 2: the blocked layout. A file of version 1 (k scattered bits) cannot be read as one: it is
 * refused (-EPROTONOSUPPORT) and the caller starts with an empty filter. */
#define FILE_VERSION 2u
#define BLOCK_BITS 512u
#define BLOCK_WORDS (BLOCK_BITS / 64)
static const char MAGIC[8] = "MWNODBF";

struct bloom {
    _Atomic uint64_t *w; /* m / 64 words, 64-byte aligned, in raw */
    void *raw;           /* owned: the allocation */
    uint64_t m;          /* bits, a multiple of BLOCK_BITS */
    uint32_t k;
    _Atomic uint64_t names; /* names added */
    _Atomic uint64_t set;   /* bits set */
};

struct mw_nod {
    uint64_t capacity;
    double fp;
    uint64_t salt;
    struct bloom gen[2];
    _Atomic unsigned cur; /* index of the current generation */
    _Atomic uint64_t rotations;
    _Atomic uint32_t epoch; /* mw_nod_epoch */
    struct bloom today;
};

/* The file header; native byte order, as the bits after it. */
struct header {
    char magic[8];
    uint32_t version, k;
    uint64_t capacity, fp_bits, salt, m;
    uint64_t names[2]; /* current, previous */
    uint64_t rotations;
    uint64_t checksum; /* mw_hash_bytes chained over the bits, current generation first */
};
_Static_assert(sizeof(struct header) == 80, "header layout");

struct probe {
    uint64_t h1, h2; /* h1 picks the block, h2 the bits in it */
};

uint64_t mw_nod_hash(const struct mw_nod *n, const uint8_t *name, size_t len)
{
    return mw_hash_bytes(n->salt, TAG, name, len);
}

static struct probe probe_hashed(const struct mw_nod *n, uint64_t h)
{
    return (struct probe){h, mw_hash_mix(h ^ 0x9e3779b97f4a7c15ull, n->salt | 1)};
}

static struct probe probe_of(const struct mw_nod *n, const uint8_t *name, size_t len)
{
    return probe_hashed(n, mw_nod_hash(n, name, len));
}

/* A name's place in a filter: its block's first word and its k bits there, a mask per word.
 * The same for every filter of the same m and k (both generations): made once a name. */
struct bits {
    uint64_t word;
    uint64_t mask[BLOCK_WORDS];
};

/* The first word of the block of h1 in b (bits_of's, without the bits). */
static uint64_t block_word(const struct bloom *b, uint64_t h1)
{
    return (uint64_t)(((__uint128_t)h1 * (b->m / BLOCK_BITS)) >> 64) * BLOCK_WORDS;
}

static void bits_of(const struct bloom *b, const struct probe *p, struct bits *x)
{
    x->word = block_word(b, p->h1);
    memset(x->mask, 0, sizeof(x->mask));
    uint64_t h = p->h2;
    for (uint32_t i = 0, slice = 0; i < b->k; i++, slice++) {
        if (slice == 7) {
            h = mw_hash_mix(h ^ 0xc2b2ae3d27d4eb4full, p->h1 | 1);
            slice = 0;
        }
        uint32_t pos = (uint32_t)(h >> (9 * slice)) & (BLOCK_BITS - 1);
        x->mask[pos >> 6] |= 1ull << (pos & 63);
    }
}

static bool test(const struct bloom *b, const struct bits *x)
{
    const _Atomic uint64_t *w = &b->w[x->word];
    for (uint32_t i = 0; i < BLOCK_WORDS; i++)
        if ((atomic_load_explicit(&w[i], memory_order_relaxed) & x->mask[i]) != x->mask[i])
            return false;
    return true;
}

/* Set the name's bits; true when this call set at least one (the name was not in b, and no
 * other thread added it first). */
static bool set(struct bloom *b, const struct bits *x)
{
    _Atomic uint64_t *w = &b->w[x->word];
    uint64_t flipped = 0;
    for (uint32_t i = 0; i < BLOCK_WORDS; i++) {
        if (!x->mask[i])
            continue;
        uint64_t old = atomic_fetch_or_explicit(&w[i], x->mask[i], memory_order_relaxed);
        for (uint64_t f = x->mask[i] & ~old; f; f &= f - 1) /* at most k bits: no popcount */
            flipped++;
    }
    if (!flipped)
        return false;
    atomic_fetch_add_explicit(&b->set, flipped, memory_order_relaxed);
    atomic_fetch_add_explicit(&b->names, 1, memory_order_relaxed);
    return true;
}

static void clear(struct bloom *b)
{
    for (uint64_t i = 0; i < b->m / 64; i++)
        if (atomic_load_explicit(&b->w[i], memory_order_relaxed))
            atomic_store_explicit(&b->w[i], 0, memory_order_relaxed);
    atomic_store(&b->set, 0);
    atomic_store(&b->names, 0);
}

/* The false-positive rate of a blocked filter with n names in m bits, k bits a name: a
 * block's load j is Poisson (mean n * 512 / m), a bit of a block of load j is set with
 * probability 1 - (1 - 1/512)^(k j), and a name never added is found when its k bits are. */
static double blocked_fp(uint64_t n, uint64_t m, uint32_t k)
{
    double lam = (double)n * BLOCK_BITS / (double)m, pj = exp(-lam), sum = 0;
    double limit = lam + 12 * sqrt(lam) + 30;
    for (uint32_t j = 0; j <= (uint32_t)limit; j++) {
        if (j > 0)
            pj *= lam / j;
        sum += pj * pow(1 - pow(1 - 1.0 / BLOCK_BITS, (double)k * j), (double)k);
    }
    return sum;
}

/* Bits and probes for n names at false-positive rate p: from the classic filter's size,
 * grown by 1% steps until the blocked layout reaches p with its best k. */
static int size_bloom(struct bloom *b, uint64_t n, double p)
{
    double ln2 = log(2.0);
    double bits = ceil((double)n * -log(p) / (ln2 * ln2));
    uint64_t m = 0;
    uint32_t best_k = 1;
    for (int step = 0; step < 200; step++, bits *= 1.01) {
        m = ((uint64_t)bits + BLOCK_BITS - 1) / BLOCK_BITS * BLOCK_BITS;
        double best = 2;
        for (uint32_t k = 1; k <= K_MAX; k++) {
            double f = blocked_fp(n, m, k);
            if (f < best) {
                best = f;
                best_k = k;
            }
        }
        if (best <= p)
            break;
    }
    b->m = m;
    b->k = best_k;
    /* Aligned by hand: calloc's zero pages stay untouched until bits are set. */
    b->raw = calloc(b->m / 64 + BLOCK_WORDS, sizeof(uint64_t));
    if (!b->raw)
        return -ENOMEM;
    b->w = (_Atomic uint64_t *)(((uintptr_t)b->raw + 63) & ~(uintptr_t)63);
    return 0;
}

int mw_nod_new(uint64_t capacity, double fp_rate, uint64_t salt, struct mw_nod **out)
{
    *out = NULL;
    if (capacity < MW_NOD_CAPACITY_MIN || capacity > MW_NOD_CAPACITY_MAX || !(fp_rate > 0) ||
        !(fp_rate < 0.5))
        return -EINVAL;
    struct mw_nod *n = calloc(1, sizeof(*n));
    if (!n)
        return -ENOMEM;
    n->capacity = capacity;
    n->fp = fp_rate;
    n->salt = salt ? salt : mw_hash_seed();
    uint64_t today = capacity / MW_NOD_TODAY_DIV;
    if (today < MW_NOD_CAPACITY_MIN)
        today = MW_NOD_CAPACITY_MIN;
    /* Each generation at 0.45 fp_rate: the union of two full ones stays at 0.9 fp_rate,
     * a margin for the rounding of k and of the bits (at exactly fp_rate / 2 the measured
     * union sat at fp_rate itself). */
    if (size_bloom(&n->gen[0], capacity / 2, fp_rate * 0.45) < 0 ||
        size_bloom(&n->gen[1], capacity / 2, fp_rate * 0.45) < 0 ||
        size_bloom(&n->today, today, 0.01) < 0) {
        mw_nod_free(n);
        return -ENOMEM;
    }
    *out = n;
    return 0;
}

void mw_nod_free(struct mw_nod *n)
{
    if (!n)
        return;
    free(n->gen[0].raw);
    free(n->gen[1].raw);
    free(n->today.raw);
    free(n);
}

size_t mw_nod_bytes(const struct mw_nod *n)
{
    return (size_t)((n->gen[0].m + n->gen[1].m + n->today.m) / 8);
}

void mw_nod_prefetch(const struct mw_nod *n, uint64_t h, bool today)
{
    uint64_t at = block_word(&n->gen[0], h); /* the generations are the same size */
    __builtin_prefetch((const void *)&n->gen[0].w[at], 0, 3);
    __builtin_prefetch((const void *)&n->gen[1].w[at], 0, 3);
    if (today)
        __builtin_prefetch((const void *)&n->today.w[block_word(&n->today, h)], 0, 3);
}

bool mw_nod_observe(struct mw_nod *n, const uint8_t *name, size_t len)
{
    return mw_nod_observe_hash(n, mw_nod_hash(n, name, len));
}

bool mw_nod_observe_hash(struct mw_nod *n, uint64_t h)
{
    struct probe p = probe_hashed(n, h);
    unsigned cur = atomic_load_explicit(&n->cur, memory_order_acquire);
    struct bits x; /* the generations are the same size: the same place in both */
    bits_of(&n->gen[cur], &p, &x);
    if (test(&n->gen[cur], &x))
        return false;
    if (test(&n->gen[cur ^ 1], &x)) {
        set(&n->gen[cur], &x); /* still in use: carried into the current generation */
        return false;
    }
    return set(&n->gen[cur], &x);
}

bool mw_nod_contains(const struct mw_nod *n, const uint8_t *name, size_t len)
{
    struct probe p = probe_of(n, name, len);
    struct bits x;
    bits_of(&n->gen[0], &p, &x);
    return test(&n->gen[0], &x) || test(&n->gen[1], &x);
}

bool mw_nod_today_first(struct mw_nod *n, const uint8_t *name, size_t len)
{
    return mw_nod_today_first_hash(n, mw_nod_hash(n, name, len));
}

bool mw_nod_today_first_hash(struct mw_nod *n, uint64_t h)
{
    struct probe p = probe_hashed(n, h);
    struct bits x;
    bits_of(&n->today, &p, &x);
    return !test(&n->today, &x) && set(&n->today, &x);
}

void mw_nod_new_day(struct mw_nod *n)
{
    clear(&n->today);
    /* After the change: a caller that read the old epoch stored a stale tag; one that reads
     * the new one sees the cleared filter (release/acquire). */
    atomic_fetch_add_explicit(&n->epoch, 1, memory_order_release);
}

uint32_t mw_nod_epoch(const struct mw_nod *n)
{
    return atomic_load_explicit(&n->epoch, memory_order_acquire) + 1;
}

bool mw_nod_maintain(struct mw_nod *n)
{
    unsigned cur = atomic_load(&n->cur);
    if (atomic_load(&n->gen[cur].names) < n->capacity / 2)
        return false;
    /* Cleared while it is still the previous generation: observers only read it then. */
    clear(&n->gen[cur ^ 1]);
    atomic_store_explicit(&n->cur, cur ^ 1, memory_order_release);
    atomic_fetch_add(&n->rotations, 1);
    /* After the switch, as in mw_nod_new_day. */
    atomic_fetch_add_explicit(&n->epoch, 1, memory_order_release);
    return true;
}

void mw_nod_stats(const struct mw_nod *n, struct mw_nod_stats *out)
{
    unsigned cur = atomic_load(&n->cur);
    *out = (struct mw_nod_stats){.capacity = n->capacity,
                                 .rotations = atomic_load(&n->rotations),
                                 .k = n->gen[0].k,
                                 .bits = n->gen[0].m,
                                 .today_names = atomic_load(&n->today.names)};
    for (int i = 0; i < 2; i++) {
        const struct bloom *b = &n->gen[cur ^ (unsigned)i];
        out->names[i] = atomic_load(&b->names);
        out->fill[i] = (double)atomic_load(&b->set) / (double)b->m;
    }
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t r = write(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

/* Copy, hash and write one generation's bits CHUNK bytes at a time (bounded memory). */
static int write_bits(int fd, const struct bloom *b, uint64_t *buf, uint64_t seed, uint64_t *h)
{
    uint64_t words = b->m / 64, per = CHUNK / 8;
    for (uint64_t i = 0; i < words; i += per) {
        uint64_t n = words - i < per ? words - i : per;
        for (uint64_t j = 0; j < n; j++)
            buf[j] = atomic_load_explicit(&b->w[i + j], memory_order_relaxed);
        *h = mw_hash_bytes(seed, *h, buf, n * 8);
        int rc = write_all(fd, buf, n * 8);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int mw_nod_save(const struct mw_nod *n, const char *path)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    uint64_t *buf = malloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        free(buf);
        return -errno;
    }
    unsigned cur = atomic_load(&n->cur);
    struct header h = {
        .version = FILE_VERSION,
        .k = n->gen[0].k,
        .capacity = n->capacity,
        .salt = n->salt,
        .m = n->gen[0].m,
        .names = {atomic_load(&n->gen[cur].names), atomic_load(&n->gen[cur ^ 1].names)},
        .rotations = atomic_load(&n->rotations)};
    memcpy(h.magic, MAGIC, sizeof(h.magic));
    memcpy(&h.fp_bits, &n->fp, sizeof(h.fp_bits));
    /* The header goes last, with the checksum: a file cut short never has a valid one. */
    int rc = lseek(fd, sizeof(h), SEEK_SET) < 0 ? -errno : 0;
    uint64_t sum = 0;
    if (rc == 0)
        rc = write_bits(fd, &n->gen[cur], buf, n->salt, &sum);
    if (rc == 0)
        rc = write_bits(fd, &n->gen[cur ^ 1], buf, n->salt, &sum);
    h.checksum = sum;
    if (rc == 0 && pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
        rc = -EIO;
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    free(buf);
    return rc;
}

static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t r = read(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EBADMSG; /* truncated */
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

static uint64_t popcount_bits(const struct bloom *b)
{
    uint64_t c = 0;
    for (uint64_t i = 0; i < b->m / 64; i++)
        c += (uint64_t)__builtin_popcountll(atomic_load_explicit(&b->w[i], memory_order_relaxed));
    return c;
}

static int read_bits(int fd, struct bloom *b, uint64_t seed, uint64_t *h)
{
    /* Straight into the array: nobody else holds this filter yet. Hashed in the pieces
     * write_bits hashed. */
    int rc = read_all(fd, (void *)b->w, b->m / 8);
    for (uint64_t off = 0; rc == 0 && off < b->m / 8; off += CHUNK) {
        uint64_t n = b->m / 8 - off < CHUNK ? b->m / 8 - off : CHUNK;
        *h = mw_hash_bytes(seed, *h, (const char *)b->w + off, n);
    }
    return rc;
}

int mw_nod_load(const char *path, uint64_t capacity, double fp_rate, struct mw_nod **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct header h;
    struct mw_nod *n = NULL;
    struct stat sb;
    int rc = fstat(fd, &sb) < 0 ? -errno : read_all(fd, &h, sizeof(h));
    if (rc < 0)
        goto out;
    double fp;
    memcpy(&fp, &h.fp_bits, sizeof(fp));
    if (memcmp(h.magic, MAGIC, sizeof(h.magic)) != 0) {
        rc = -EBADMSG;
        goto out;
    }
    if (h.version != FILE_VERSION) { /* another layout of the bits: never read as this one */
        rc = -EPROTONOSUPPORT;
        goto out;
    }
    if (h.capacity != capacity || fp != fp_rate) {
        rc = -ESTALE;
        goto out;
    }
    if ((rc = mw_nod_new(capacity, fp_rate, h.salt, &n)) < 0)
        goto out;
    /* A file of the right parameters but other sizes was not written by this code. */
    if (h.k != n->gen[0].k || h.m != n->gen[0].m || h.salt == 0 ||
        (uint64_t)sb.st_size != sizeof(h) + 2 * (h.m / 8)) {
        rc = -EBADMSG;
        goto out;
    }
    uint64_t sum = 0;
    if ((rc = read_bits(fd, &n->gen[0], n->salt, &sum)) < 0 ||
        (rc = read_bits(fd, &n->gen[1], n->salt, &sum)) < 0)
        goto out;
    if (sum != h.checksum) {
        rc = -EBADMSG;
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        atomic_store(&n->gen[i].names, h.names[i]);
        atomic_store(&n->gen[i].set, popcount_bits(&n->gen[i]));
    }
    atomic_store(&n->rotations, h.rotations);
    *out = n; /* the saved current generation is gen[0], and cur starts at 0 */
    n = NULL;
out:
    mw_nod_free(n);
    close(fd);
    return rc;
}
