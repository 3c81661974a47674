/* libFuzzer harness for the YAML configuration: the input is a config file's text, parsed and
 * validated (mw_config_parse, the same code as mw_config_load after reading the file). Every
 * error must be reported as "NAME:LINE: message" or "NAME: message"; a config that loads must
 * keep the documented invariants, and the forward-zone lookup must work on it. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minewall/config.h"
#include "minewall/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    struct mw_config *cfg = mw_config_parse((const char *)data, size, "fz.yaml", &errs);
    for (size_t i = 0; i < errs.n; i++)
        FZ_CHECK(errs.msgs[i] == NULL || strncmp(errs.msgs[i], "fz.yaml", 7) == 0);
    if (cfg) {
        FZ_CHECK(errs.n == 0 || cfg != NULL);
        FZ_CHECK(cfg->threads >= 1 && cfg->threads <= 64);
        FZ_CHECK(cfg->sinkhole.action != MW_ACTION_DEFAULT);
        for (size_t i = 0; i < cfg->n_zones; i++) {
            const struct mw_forward_zone *z = &cfg->zones[i];
            FZ_CHECK(z->wire_len >= 1 && z->wire_len <= 255 && z->n_upstreams >= 1);
            FZ_CHECK((z->group ? mw_config_zone_for_group(cfg, z->group, z->wire, z->wire_len)
                               : mw_config_zone_for(cfg, z->wire, z->wire_len)) != NULL);
            /* top-level zones first, then each group's; longest first within each */
            if (i)
                FZ_CHECK(cfg->zones[i - 1].group < z->group ||
                         (cfg->zones[i - 1].group == z->group &&
                          cfg->zones[i - 1].wire_len >= z->wire_len));
        }
        for (size_t i = 0; i < cfg->n_lists; i++)
            FZ_CHECK(cfg->lists[i].name && cfg->lists[i].path && cfg->lists[i].category);
        static const uint8_t q[] = "\3www\7example\3com";
        (void)mw_config_zone_for(cfg, q, sizeof(q));
        mw_config_free(cfg);
    }
    mw_errlist_deinit(&errs);
    return 0;
}
