/* The DGA detector's check and its memo; see dgacheck.h. The memo's sets are 4 entries of 16
 * bytes, one cache line: a lookup reads one line. An entry's key is the hash with its low bit
 * set, so 0 marks an empty entry. Replacement within a set is round-robin (a byte per set):
 * cheaper than LRU and, for a memo whose entries are all equally expensive to recompute, as
 * good. */
#include "minewall/dgacheck.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/hash.h"
#include "minewall/regdom.h"

#define WAYS 4

struct entry {
    uint64_t key; /* hash | 1; 0: empty */
    int32_t score;
    uint8_t level;
    uint8_t pad[3];
};

struct mw_dga_memo {
    struct entry *e; /* owned: n_sets * WAYS entries */
    uint8_t *next;   /* owned: the way each set replaces next */
    size_t mask;     /* n_sets - 1 */
    uint64_t seed;
    struct mw_dga_memo_stats st;
};

struct mw_dga_memo *mw_dga_memo_new(size_t entries)
{
    size_t n = MW_DGA_MEMO_MIN;
    while (n < entries && n < MW_DGA_MEMO_MAX)
        n <<= 1;
    struct mw_dga_memo *memo = calloc(1, sizeof(*memo));
    if (!memo)
        return NULL;
    memo->e = aligned_alloc(64, n * sizeof(struct entry));
    memo->next = calloc(n / WAYS, 1);
    if (!memo->e || !memo->next) {
        mw_dga_memo_free(memo);
        return NULL;
    }
    memset(memo->e, 0, n * sizeof(struct entry));
    memo->mask = n / WAYS - 1;
    memo->seed = mw_hash_seed();
    memo->st.capacity = n;
    return memo;
}

void mw_dga_memo_free(struct mw_dga_memo *memo)
{
    if (!memo)
        return;
    free(memo->e);
    free(memo->next);
    free(memo);
}

void mw_dga_memo_clear(struct mw_dga_memo *memo)
{
    memset(memo->e, 0, memo->st.capacity * sizeof(struct entry));
    memo->st.entries = 0;
}

void mw_dga_memo_stats(const struct mw_dga_memo *memo, struct mw_dga_memo_stats *out)
{
    *out = memo->st;
}

int mw_dga_check(const struct mw_dga_model *m, const struct mw_regdom *rd,
                 struct mw_dga_memo *memo, const uint8_t *name, size_t len,
                 struct mw_dga_check *out)
{
    if (!m || !rd || !name || !out)
        return -EINVAL;
    if (!mw_regdom_is_public(rd, name, len))
        return 0;
    int off = mw_regdom_find(rd, name, len);
    if (off < 0)
        return 0;
    const uint8_t *reg = name + off;
    size_t reg_len = len - (size_t)off;
    out->regdom_off = (size_t)off;
    struct entry *set = NULL;
    uint64_t key = 0;
    if (memo) {
        key = mw_hash_bytes(memo->seed, 0, reg, reg_len) | 1;
        set = &memo->e[(key >> 8 & memo->mask) * WAYS];
        for (int i = 0; i < WAYS; i++) {
            if (set[i].key == key) {
                memo->st.hits++;
                out->score = set[i].score;
                out->level = (enum mw_dga_level)set[i].level;
                out->memoized = true;
                return 1;
            }
        }
    }
    struct mw_dga_result r;
    if (mw_dga_score(m, (const char *)reg + 1, reg[0], &r) < 0)
        return 0;
    out->score = r.score;
    out->level = r.level;
    out->memoized = false;
    out->evicted = false;
    if (memo) {
        memo->st.scored++;
        size_t s = (size_t)(set - memo->e) / WAYS;
        struct entry *slot = NULL;
        for (int i = 0; i < WAYS && !slot; i++)
            if (!set[i].key)
                slot = &set[i];
        if (slot) {
            memo->st.entries++;
        } else {
            slot = &set[memo->next[s]];
            memo->next[s] = (uint8_t)((memo->next[s] + 1) % WAYS);
            memo->st.evictions++;
            out->evicted = true;
        }
        *slot = (struct entry){.key = key, .score = r.score, .level = (uint8_t)r.level};
    }
    return 1;
}
