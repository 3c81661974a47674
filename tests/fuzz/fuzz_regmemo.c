/* libFuzzer harness for regmemo.c against libpsl (regdom.c): the input is names, one a line
 * (text, as in a list), each asked of a small memo (64 entries: evictions, the classes of
 * names and the last-domain shortcut all in play) and of libpsl on the whole name. For a name
 * whose labels libpsl can read (octets 0x21-0x7e but the dot), the memo's registered domain
 * and its public flag must be libpsl's, with and without the words; any other name must only
 * be answered without a fault. The memo and the list (Debian's public_suffix_list.dat, as the
 * resolver reads it) live for the whole run, so names of one input meet what earlier inputs
 * left. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minewall/dname.h"
#include "minewall/regdom.h"
#include "minewall/regmemo.h"

static struct mw_regdom *rd;
static struct mw_regmemo *memo;

static bool readable(const uint8_t *w, size_t len)
{
    for (size_t pos = 0; pos < len && w[pos]; pos += 1 + w[pos])
        for (size_t i = pos + 1; i <= pos + w[pos] && i < len; i++)
            if (w[i] <= 0x20 || w[i] >= 0x7f || w[i] == '.')
                return false;
    return true;
}

static void one(const char *text)
{
    uint8_t w[MW_DNAME_MAX + 1];
    int n = mw_dname_from_text(text, w, sizeof(w));
    if (n <= 0)
        return;
    mw_dname_lower(w, (size_t)n);
    int plain = mw_regmemo_find(memo, w, (size_t)n, NULL);
    struct mw_regmemo_words *words;
    int with = mw_regmemo_find(memo, w, (size_t)n, &words);
    FZ_CHECK(plain == with);
    FZ_CHECK((with >= 0) == (words != NULL));
    if (words) /* the words found again by their entry's key */
        FZ_CHECK(mw_regmemo_words_of(memo, mw_regmemo_key_of(words)) == words);
    FZ_CHECK(with == -ENOENT || (with >= 0 && with < n));
    if (!readable(w, (size_t)n))
        return;
    FZ_CHECK(with == mw_regdom_find(rd, w, (size_t)n));
    if (with >= 0)
        FZ_CHECK(words->public == mw_regdom_is_public(rd, w + with, (size_t)(n - with)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rd) {
        rd = mw_regdom_new(MW_REGDOM_DAT);
        memo = rd ? mw_regmemo_new(rd, MW_REGDOM_DAT, 64) : NULL;
        FZ_CHECK(rd && memo);
    }
    char line[1024];
    size_t l = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            line[l] = 0;
            one(line);
            l = 0;
        } else if (l < sizeof(line) - 1) {
            line[l++] = (char)data[i];
        }
    }
    return 0;
}
