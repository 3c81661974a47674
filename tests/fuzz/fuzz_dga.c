/* libFuzzer harness for the DGA model loader: the input is a model file, parsed as it is and
 * again with its CRC-32 recomputed (so the fuzzer reaches the checks behind the checksum). A
 * model that loads scores names cut from the input (text and wire form): every score of a
 * name with a label must succeed and its level must be the highest threshold the score
 * reaches. The seed corpus holds small valid models written by tools/dga-train: seed1-3 of
 * format version 2 (2^10 weights, its Model class), seed4-6 of version 3 (Model3: character
 * models of order 1 and 2, 16- and 32-slot suffix tables, 2 to 4 trees of depth 2, 3 and 5,
 * random costs, thresholds and leaves). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minewall/dga.h"

static void use(const struct mw_dga_model *m, const uint8_t *data, size_t size)
{
    int32_t lo = mw_dga_threshold(m, MW_DGA_LOW), me = mw_dga_threshold(m, MW_DGA_MEDIUM),
            hi = mw_dga_threshold(m, MW_DGA_HIGH);
    FZ_CHECK(lo <= me && me <= hi);
    for (size_t off = 0; off < size && off < 4096; off += 61) {
        size_t len = size - off < MW_DGA_LABEL_MAX ? size - off : MW_DGA_LABEL_MAX;
        struct mw_dga_result r;
        /* The text up to a dot is the label, the rest the suffix: only an empty label fails. */
        int rc = mw_dga_score(m, (const char *)data + off, len, &r);
        FZ_CHECK(rc == 0 || (rc == -EINVAL && data[off] == '.'));
        /* The same bytes as a wire-form registered domain: scored or refused, never read
         * past. */
        struct mw_dga_result rw;
        int rcw = mw_dga_score_wire(m, data + off, len, &rw);
        FZ_CHECK(rcw == 0 || rcw == -EINVAL);
        if (rc < 0)
            continue;
        enum mw_dga_level want = r.score >= hi   ? MW_DGA_HIGH
                                 : r.score >= me ? MW_DGA_MEDIUM
                                 : r.score >= lo ? MW_DGA_LOW
                                                 : MW_DGA_NONE;
        FZ_CHECK(r.level == want);
    }
}

static void parse(const uint8_t *data, size_t size)
{
    struct mw_dga_model *m = NULL;
    char why[160];
    int rc = mw_dga_parse(data, size, &m, why, sizeof(why));
    FZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOMEM);
    FZ_CHECK((rc == 0) == (m != NULL));
    FZ_CHECK(rc != -EBADMSG || why[0]);
    if (m)
        use(m, data, size);
    mw_dga_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse(data, size);
    if (size >= 4) {
        uint8_t *b = malloc(size);
        FZ_CHECK(b != NULL);
        memcpy(b, data, size);
        uint32_t crc = mw_dga_crc32(b, size - 4);
        for (int i = 0; i < 4; i++)
            b[size - 4 + i] = (uint8_t)(crc >> (8 * i));
        parse(b, size);
        free(b);
    }
    return 0;
}
