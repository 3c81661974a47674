/* libFuzzer harness for the entries of Redis-synced lists: the input's lines are SSCAN members
 * (until a line "--") and then change-log records "add|del ENTRY ENTRY...", as minewall-feed
 * writes them, for a list of the type the first byte picks. The base and the delta are built,
 * a version made from them, and every entry looked up: an entry the last record added (of
 * the list's type) must be found. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minewall/config.h"
#include "minewall/listfile.h"
#include "minewall/rlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    static const enum mw_list_type types[] = {MW_LIST_DOMAIN, MW_LIST_IP, MW_LIST_ASN,
                                              MW_LIST_DOMAIN};
    enum mw_list_type type = types[data[0] & 3];
    char *text = malloc(size);
    FZ_CHECK(text != NULL);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    struct mw_rbase_builder *b = mw_rbase_builder_new(type);
    struct mw_rdelta *d = mw_rdelta_new();
    FZ_CHECK(b && d);
    bool records = false;
    for (char *save = NULL, *ln = strtok_r(text, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        if (strcmp(ln, "--") == 0) {
            records = true;
            continue;
        }
        if (!records) {
            int rc = mw_rbase_builder_add(b, ln);
            FZ_CHECK(rc == 0 || rc == -EINVAL);
            continue;
        }
        char *sp = strchr(ln, ' ');
        if (sp)
            *sp = 0;
        size_t bad;
        int rc = mw_rdelta_apply_record(d, ln, sp ? sp + 1 : "", &bad);
        FZ_CHECK(rc == 0 || rc == -EINVAL);
        if (sp)
            *sp = ' ';
    }
    struct mw_rbase *base = mw_rbase_build(b);
    FZ_CHECK(base != NULL);
    struct mw_rlist_meta meta = {.name = "fz", .category = "c2", .type = type};
    struct mw_rlist *l = mw_rlist_new(&meta, base, d);
    FZ_CHECK(l != NULL);
    /* Replay the records: after "add X" as the last word on X, X is in the list. */
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    char *last = strrchr(text, '\n');
    last = last ? last + 1 : text;
    if (strncmp(last, "add ", 4) == 0 && records) {
        char *e = last + 4;
        while (*e == ' ')
            e++;
        size_t n = strcspn(e, " ");
        if (n && n < 500 && !e[n]) {
            /* Entries of another type than the list's are ignored by the version. */
            static const enum mw_listfile_type want[] = {
                [MW_LIST_DOMAIN] = MW_LISTFILE_ENTRY_DOMAIN,
                [MW_LIST_IP] = MW_LISTFILE_ENTRY_IP,
                [MW_LIST_ASN] = MW_LISTFILE_ENTRY_ASN,
            };
            struct mw_listfile_entry *le = malloc(sizeof(*le));
            FZ_CHECK(le != NULL);
            if (mw_listfile_parse_entry(e, le, NULL, 0) == 0 && le->type == want[type])
                FZ_CHECK(mw_rlist_contains(l, e));
            free(le);
        }
    }
    mw_rlist_unref(l);
    mw_rbase_unref(base);
    mw_rdelta_free(d);
    free(text);
    return 0;
}
