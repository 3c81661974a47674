/* The DGA detector's check and its memo; see dgacheck.h. The memo's sets are 4 entries of 16
 * bytes, one cache line: a lookup reads one line. Two kinds of entry share the table, keyed
 * with different hash tags:
 *  - a parent domain (a query name less its first label): what libpsl said for a child of it,
 *    either "the child is the registered domain" (the parent is a public suffix) or "the
 *    registered domain is the last `depth` labels", with that domain's score;
 *  - a registered domain that is the child of a public suffix, with its score.
 * So "www.example.com" costs one lookup (parent example.com holds the score of example.com)
 * and "example.com" two (parent com, then example.com). libpsl costs thousands of
 * instructions a name (a DAFSA walk per candidate suffix), more than the rest of a cache
 * miss, and is asked once per parent; the model once per registered domain and parent.
 * For every child of a parent the registered domain is the same, except for a child that is
 * itself a rule of the list ("s3.amazonaws.com" under "amazonaws.com"): such a name, asked
 * after a sibling, has its parent's registered domain scored instead of none, a label of a
 * public suffix operator, never a generated one. A name with no registered domain is not
 * memoized. An entry's key is the hash with its low bit set, so 0 marks an empty entry.
 * Replacement within a set is round-robin (a byte per set): cheaper than LRU and, for a memo
 * whose entries are all about as expensive to recompute, as good. */
#include "minewall/dgacheck.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/hash.h"
#include "minewall/regdom.h"

#define WAYS 4
enum { KIND_SCORE = 1, KIND_PARENT_SUFFIX, KIND_PARENT_DEPTH };

struct entry {
    uint64_t key;  /* hash | 1; 0: empty */
    int32_t score; /* KIND_SCORE, KIND_PARENT_DEPTH: the registered domain's */
    uint8_t level; /* the same's enum mw_dga_level */
    uint8_t kind;
    uint8_t depth; /* KIND_PARENT_DEPTH: labels of the registered domain */
    uint8_t pad;
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

/* The set of key in the memo, and the entry holding key (NULL: none). */
static struct entry *lookup(struct mw_dga_memo *memo, uint64_t key, struct entry **set)
{
    *set = &memo->e[(key >> 8 & memo->mask) * WAYS];
    for (int i = 0; i < WAYS; i++)
        if ((*set)[i].key == key)
            return &(*set)[i];
    return NULL;
}

/* Put key in its set (found by lookup): an empty entry, else the set's next victim. */
static struct entry *put(struct mw_dga_memo *memo, struct entry *set, uint64_t key,
                         unsigned *evicted)
{
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
        (*evicted)++;
    }
    *slot = (struct entry){.key = key};
    return slot;
}

/* libpsl: the registered domain of name as a count of labels from the right, 0 for none. */
static unsigned psl_depth(const struct mw_regdom *rd, const uint8_t *name, size_t len)
{
    if (!mw_regdom_is_public(rd, name, len))
        return 0;
    int off = mw_regdom_find(rd, name, len);
    if (off < 0)
        return 0;
    unsigned depth = 0;
    for (size_t p = (size_t)off; p < len && name[p]; p += 1 + name[p])
        depth++;
    return depth;
}

/* Score the registered domain at reg (reg_len octets): the model, counted. */
static int score(const struct mw_dga_model *m, struct mw_dga_memo *memo, const uint8_t *reg,
                 struct mw_dga_check *out)
{
    struct mw_dga_result r;
    if (mw_dga_score(m, (const char *)reg + 1, reg[0], &r) < 0)
        return -EINVAL;
    out->score = r.score;
    out->level = r.level;
    if (memo)
        memo->st.scored++;
    return 0;
}

/* The score of a registered domain through its own entry (the child of a public suffix). */
static int score_regdom(const struct mw_dga_model *m, struct mw_dga_memo *memo, const uint8_t *reg,
                        size_t reg_len, struct mw_dga_check *out)
{
    struct entry *set = NULL, *e = NULL;
    uint64_t key = 0;
    if (memo) {
        key = mw_hash_bytes(memo->seed, KIND_SCORE, reg, reg_len) | 1;
        if ((e = lookup(memo, key, &set))) {
            memo->st.hits++;
            out->score = e->score;
            out->level = (enum mw_dga_level)e->level;
            out->memoized = true;
            return 0;
        }
    }
    if (score(m, memo, reg, out) < 0)
        return -EINVAL;
    if (memo) {
        e = put(memo, set, key, &out->evicted);
        e->kind = KIND_SCORE;
        e->score = out->score;
        e->level = (uint8_t)out->level;
    }
    return 0;
}

int mw_dga_check(const struct mw_dga_model *m, const struct mw_regdom *rd, struct mw_dga_memo *memo,
                 const uint8_t *name, size_t len, struct mw_dga_check *out)
{
    if (!m || !rd || !name || !out)
        return -EINVAL;
    out->evicted = 0;
    out->memoized = false;
    /* Count the labels; a single label (or the root) is never public. */
    unsigned labels = 0;
    for (size_t p = 0; p < len && name[p]; p += 1 + name[p])
        labels++;
    if (labels < 2 || len > 255)
        return 0;
    const uint8_t *parent = name + 1 + name[0];
    size_t plen = len - 1 - name[0];
    struct entry *set = NULL, *e = NULL;
    uint64_t key = 0;
    unsigned depth;
    if (memo) {
        key = mw_hash_bytes(memo->seed, KIND_PARENT_SUFFIX, parent, plen) | 1;
        e = lookup(memo, key, &set);
    }
    if (e) {
        memo->st.hits++;
        depth = e->kind == KIND_PARENT_SUFFIX ? labels : e->depth;
    } else {
        depth = psl_depth(rd, name, len);
        if (memo)
            memo->st.psl++;
    }
    if (depth == 0 || depth > labels)
        return 0;
    size_t off = 0;
    for (unsigned skip = labels - depth; skip; skip--)
        off += 1 + name[off];
    out->regdom_off = off;
    if (e && e->kind == KIND_PARENT_DEPTH) { /* the score rides with the parent */
        out->score = e->score;
        out->level = (enum mw_dga_level)e->level;
        out->memoized = true;
        return 1;
    }
    if (score_regdom(m, memo, name + off, len - off, out) < 0)
        return 0;
    if (memo && !e) {
        e = put(memo, set, key, &out->evicted);
        e->kind = depth == labels ? KIND_PARENT_SUFFIX : KIND_PARENT_DEPTH;
        e->depth = (uint8_t)depth;
        e->score = out->score;
        e->level = (uint8_t)out->level;
    }
    return 1;
}
