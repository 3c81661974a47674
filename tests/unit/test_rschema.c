/* rschema: list names, meta fields and record ops read from Redis (input, never trusted). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "minewall/config.h"
#include "minewall/rschema.h"

/* A record as NULL-terminated field, value pairs. */
static const char *get(void *arg, const char *field)
{
    const char *const *kv = arg;
    for (; kv[0]; kv += 2)
        if (strcmp(kv[0], field) == 0)
            return kv[1];
    return NULL;
}

static void test_names(void **state)
{
    (void)state;
    assert_null(mw_rschema_name_problem("mining-pools_v2.1"));
    char at_cap[MW_LIST_NAME_MAX + 2];
    memset(at_cap, 'a', MW_LIST_NAME_MAX);
    at_cap[MW_LIST_NAME_MAX] = 0;
    assert_null(mw_rschema_name_problem(at_cap));
    at_cap[MW_LIST_NAME_MAX] = 'a';
    at_cap[MW_LIST_NAME_MAX + 1] = 0;
    assert_non_null(mw_rschema_name_problem(at_cap));
    const char *bad[] = {"", "../etc", "a/b", "a b", "{x}", "x\n", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_non_null(mw_rschema_name_problem(bad[i]));
}

static void test_meta_full(void **state)
{
    (void)state;
    const char *rec[] = {"op",       "meta",       "category", "mining",      "action",
                         "sinkhole", "type",       "ip",       "description", "Pools",
                         "updated",  "1700000000", NULL};
    struct mw_rlist_meta m;
    assert_int_equal(mw_rschema_meta("l", get, rec, &m), 0);
    assert_string_equal(m.name, "l");
    assert_string_equal(m.category, "mining");
    assert_int_equal(m.action, MW_ACTION_SINKHOLE);
    assert_int_equal(m.type, MW_LIST_IP);
    assert_string_equal(m.description, "Pools");
    assert_true(m.updated == 1700000000);
}

static void test_meta_defaults(void **state)
{
    (void)state;
    const char *rec[] = {"action", "explode", "type", "IPV9", NULL};
    struct mw_rlist_meta m;
    assert_int_equal(mw_rschema_meta("l", get, rec, &m), 0);
    assert_string_equal(m.category, "unknown");
    assert_int_equal(m.action, MW_ACTION_DEFAULT);
    assert_int_equal(m.type, MW_LIST_DOMAIN);
    assert_string_equal(m.description, "");
    assert_true(m.updated == 0);
    const char *log[] = {"action", "log", "type", "asn", NULL};
    assert_int_equal(mw_rschema_meta("l", get, log, &m), 0);
    assert_int_equal(m.action, MW_ACTION_LOG);
    assert_int_equal(m.type, MW_LIST_ASN);
}

static void test_meta_bounds(void **state)
{
    (void)state;
    char cat[MW_CATEGORY_MAX + 2], desc[4096];
    memset(cat, 'c', sizeof(cat) - 1);
    cat[sizeof(cat) - 1] = 0; /* one over the cap */
    memset(desc, 'd', sizeof(desc) - 1);
    desc[sizeof(desc) - 1] = 0;
    const char *rec[] = {"category", cat, "description", desc, NULL};
    struct mw_rlist_meta m;
    assert_int_equal(mw_rschema_meta("l", get, rec, &m), -E2BIG);
    cat[MW_CATEGORY_MAX] = 0; /* at the cap */
    assert_int_equal(mw_rschema_meta("l", get, rec, &m), 0);
    assert_int_equal(strlen(m.category), MW_CATEGORY_MAX);
    assert_int_equal(strlen(m.description), sizeof(m.description) - 1); /* cut */
}

static void test_meta_same(void **state)
{
    (void)state;
    const char *a[] = {"category", "c", "action", "log", "updated", "1", NULL};
    const char *b[] = {"category", "c", "action", "log", "updated", "2", NULL};
    const char *c[] = {"category", "c", "action", "sinkhole", NULL};
    struct mw_rlist_meta ma, mb, mc;
    mw_rschema_meta("l", get, a, &ma);
    mw_rschema_meta("l", get, b, &mb);
    mw_rschema_meta("l", get, c, &mc);
    assert_true(mw_rschema_meta_same(&ma, &mb));
    assert_false(mw_rschema_meta_same(&ma, &mc));
}

static void test_ops(void **state)
{
    (void)state;
    const char *add[] = {"op", "add", "entries", "a.test", NULL};
    const char *ret[] = {"op", "retire", NULL};
    const char *bad[] = {"op", "create", NULL}; /* a catalog op, not a log op */
    const char *none[] = {"entries", "a.test", NULL};
    assert_int_equal(mw_rschema_log_op(get, add), MW_RSCHEMA_OP_ADD);
    assert_int_equal(mw_rschema_log_op(get, ret), MW_RSCHEMA_OP_RETIRE);
    assert_int_equal(mw_rschema_log_op(get, bad), MW_RSCHEMA_OP_NONE);
    assert_int_equal(mw_rschema_log_op(get, none), MW_RSCHEMA_OP_NONE);

    const char *name;
    const char *create[] = {"op", "create", "list", "fresh", NULL};
    assert_int_equal(mw_rschema_catalog(get, create, &name), MW_RSCHEMA_OP_CREATE);
    assert_string_equal(name, "fresh");
    const char *meta[] = {"list", "x", "op", "meta", NULL};
    assert_int_equal(mw_rschema_catalog(get, meta, &name), MW_RSCHEMA_OP_META);
    const char *escape[] = {"op", "create", "list", "../../etc/x", NULL};
    assert_int_equal(mw_rschema_catalog(get, escape, &name), MW_RSCHEMA_OP_NONE);
    const char *noname[] = {"op", "retire", NULL};
    assert_int_equal(mw_rschema_catalog(get, noname, &name), MW_RSCHEMA_OP_NONE);
    const char *badop[] = {"op", "add", "list", "x", NULL};
    assert_int_equal(mw_rschema_catalog(get, badop, &name), MW_RSCHEMA_OP_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),         cmocka_unit_test(test_meta_full),
        cmocka_unit_test(test_meta_defaults), cmocka_unit_test(test_meta_bounds),
        cmocka_unit_test(test_meta_same),     cmocka_unit_test(test_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
