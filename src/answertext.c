/* Texts of answer sets; see answertext.h. Each text is written at the end of what the buffer
 * holds; the buffer is sized for the most one change can need, so nothing is ever cut. Values
 * are written by ldns (dnstext.c): text is made only on a change, never per query. */
#include "minewall/answertext.h"

#include <string.h>

#include "minewall/answerdiff.h"
#include "minewall/dname.h"
#include "minewall/dnstext.h"

/* The texts of one change, back to back in buf. */
struct texts {
    char *buf;
    size_t used;
};

static const char *put_text(struct texts *tx, const char *s, int rc)
{
    char *t = tx->buf + tx->used;
    if (rc < 0) /* not expected: MW_ANSWERTEXT_MAX holds any key */
        s = "?";
    size_t n = strlen(s) + 1;
    memmove(t, s, n);
    tx->used += n;
    return t;
}

static const char *name_text(struct texts *tx, const uint8_t *w, size_t wlen)
{
    char *t = tx->buf + tx->used;
    return put_text(tx, t, mw_dname_to_text(w, wlen, t, MW_ANSWERTEXT_MAX));
}

static const char *value_text(struct texts *tx, uint16_t qtype, const uint8_t *key, size_t klen)
{
    /* A stored key is the record data in uncompressed wire form: ldns writes its text. */
    char *t = tx->buf + tx->used;
    return put_text(tx, t, mw_dnstext_rdata(qtype, key, klen, t, MW_ANSWERTEXT_MAX));
}

/* Texts of a chain into chain, its bytes into *bytes; returns where the values start. */
static const uint8_t *chain_texts(struct texts *tx, const struct mw_answerscan_set *st,
                                  const char **chain, size_t *bytes)
{
    const uint8_t *p = st->p;
    for (uint8_t i = 0; i < st->n_chain; i++) {
        size_t n = mw_answerscan_name_len(p);
        chain[i] = name_text(tx, p, n);
        p += n;
    }
    *bytes = (size_t)(p - st->p);
    return p;
}

static void value_texts(struct texts *tx, uint16_t qtype, const uint8_t *p, uint8_t n,
                        struct mw_answer_list *l)
{
    for (uint8_t i = 0; i < n; i++) {
        size_t k = mw_answerscan_val_len(qtype, p);
        l->v[i] = value_text(tx, qtype, p, k);
        p += k;
    }
    l->n = n;
}

bool mw_answertext_fill(char *buf, uint16_t qtype, const struct mw_answerscan_set *o,
                        const struct mw_answerscan_set *n, struct mw_answer_change *out)
{
    struct texts txs = {buf, 0}, *tx = &txs;
    size_t ob, nb;
    const uint8_t *po = chain_texts(tx, o, out->old_chain, &ob);
    const uint8_t *pn = chain_texts(tx, n, out->new_chain, &nb);
    out->old_chain_n = o->n_chain;
    out->new_chain_n = n->n_chain;
    value_texts(tx, qtype, po, o->n_vals, &out->old_set);
    value_texts(tx, qtype, pn, n->n_vals, &out->new_set);
    out->old_set.truncated = o->truncated;
    out->new_set.truncated = n->truncated;
    out->added.truncated = out->removed.truncated = o->truncated || n->truncated;
    uint8_t i = 0, j = 0;
    while (i < o->n_vals || j < n->n_vals) {
        size_t ol = i < o->n_vals ? mw_answerscan_val_len(qtype, po) : 0;
        size_t nl = j < n->n_vals ? mw_answerscan_val_len(qtype, pn) : 0;
        int c = i == o->n_vals ? 1 : j == n->n_vals ? -1 : mw_answerscan_key_cmp(po, ol, pn, nl);
        if (c <= 0)
            po += ol;
        if (c >= 0)
            pn += nl;
        if (c < 0)
            out->removed.v[out->removed.n++] = out->old_set.v[i++];
        else if (c > 0)
            out->added.v[out->added.n++] = out->new_set.v[j++];
        else
            i++, j++;
    }
    out->values_changed = out->added.n || out->removed.n;
    return o->n_chain == n->n_chain && ob == nb && memcmp(o->p, n->p, ob) == 0;
}
