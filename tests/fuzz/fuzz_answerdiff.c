/* libFuzzer harness for the routing journal's answer diff: a sequence of up to 8 DNS responses
 * (each preceded by a two-octet length, as on a TCP stream) observed one after the other for the
 * question of the first, as successive upstream answers for one name would be, in a tracker of
 * 4 names so eviction and forgetting run too. Every change is formatted as an answer_change
 * JSON line. The responses are fed raw (not prepared): the diff must survive any bytes. */
#include <errno.h>
#include <string.h>

#include "fuzz_common.h"
#include "minewall/answerdiff.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/journal.h"
#include "minewall/tcpframe.h"

static char line[MW_JOURNAL_LINE_MAX];

static void check_set(const struct mw_answer_list *l)
{
    FZ_CHECK(l->n <= MW_ANSWERDIFF_MAX_VALUES);
    /* Sorted in the binary order of the values (addresses numerically), without duplicates. */
    for (unsigned i = 0; i < l->n; i++) {
        FZ_CHECK(l->v[i] != NULL);
        for (unsigned j = 0; j < i; j++)
            FZ_CHECK(strcmp(l->v[j], l->v[i]) != 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mw_answerdiff *ad = mw_answerdiff_new(4);
    FZ_CHECK(ad != NULL);
    uint8_t qname[256];
    size_t qname_len = 0;
    uint16_t qtype = 0;
    size_t off = 0;
    const uint8_t *msg;
    size_t mlen;
    for (unsigned i = 0; i < 8 && mw_tcpframe_next(data, size, &off, &msg, &mlen); i++) {
        if (!qname_len) { /* the question is that of the first response with one */
            size_t p = MW_DNS_HDR;
            int n = mlen > MW_DNS_HDR ? mw_dname_unpack(msg, mlen, &p, qname, sizeof(qname)) : -1;
            if (n <= 0 || p + 2 > mlen)
                continue;
            qname_len = (size_t)n;
            qtype = mw_dns_get16(msg + p);
        }
        struct mw_answer_change ch;
        int rc = mw_answerdiff_observe(ad, qname, qname_len, qtype, msg, mlen, i * 1000u, &ch);
        FZ_CHECK(rc == 0 || rc == 1 || rc == -EBADMSG || rc == -EINVAL || rc == -ENOMEM);
        if (rc != 1)
            continue;
        FZ_CHECK(ch.values_changed || ch.cname_changed);
        check_set(&ch.old_set);
        check_set(&ch.new_set);
        check_set(&ch.added);
        check_set(&ch.removed);
        FZ_CHECK(ch.old_chain_n <= MW_ANSWERDIFF_MAX_CHAIN &&
                 ch.new_chain_n <= MW_ANSWERDIFF_MAX_CHAIN);
        int n = mw_journal_format_answer(line, sizeof(line), 1700000000000ull + i, "host\x01", &ch,
                                         NULL, NULL);
        FZ_CHECK(n == -ENOSPC ||
                 (n > 0 && line[n - 1] == '\n' && memchr(line, '\n', n) == line + n - 1));
        if (i == 5) /* forgotten: the next sight is a first sight */
            FZ_CHECK(mw_answerdiff_forget(ad, qname, qname_len, qtype) == 0);
    }
    struct mw_answerdiff_stats st;
    mw_answerdiff_get_stats(ad, &st);
    FZ_CHECK(st.names <= 4 && st.names == mw_answerdiff_count(ad));
    mw_answerdiff_free(ad);
    return 0;
}
