/* Unit tests for dname.c: text <-> wire with escapes and limits, suffix tests at label
 * boundaries, and the bounded reader of compressed names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "minewall/dname.h"

/* Wire form from a literal without its implicit trailing NUL. */
#define W(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static void assert_wire(const char *text, const char *wire, size_t wire_len)
{
    uint8_t buf[MW_DNAME_MAX + 1];
    int n = mw_dname_from_text(text, buf, sizeof(buf));
    assert_int_equal(n, (int)wire_len);
    assert_memory_equal(buf, wire, wire_len);
}

/* A name of the given label lengths, as text ("aaa.bbb"). */
static void make_text(char *out, const int *lens, int n)
{
    char *p = out;
    for (int i = 0; i < n; i++) {
        if (i)
            *p++ = '.';
        memset(p, 'a' + i, (size_t)lens[i]);
        p += lens[i];
    }
    *p = '\0';
}

static void test_from_text_basic(void **state)
{
    (void)state;
    assert_wire("Example.COM", "\7example\3com", 13);
    assert_wire("example.com.", "\7example\3com", 13);
    assert_wire("www.example.com", "\3www\7example\3com", 17);
    assert_wire(".", "", 1);
    assert_wire("", "", 1);
    assert_wire("*.Foo_bar", "\1*\7foo_bar", 11);
}

static void test_from_text_escapes(void **state)
{
    (void)state;
    assert_wire("a\\.b.c", "\3a.b\1c", 7);
    assert_wire("\\065bc", "\3abc", 5); /* escaped 'A' is lowercased too */
    assert_wire("x\\000y", "\3x\0y", 5);
    assert_wire("\\255", "\1\377", 3);
    assert_wire("a\\\\b", "\3a\\b", 5);

    uint8_t buf[256];
    assert_int_equal(mw_dname_from_text("\\256", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mw_dname_from_text("\\12", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mw_dname_from_text("\\1", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mw_dname_from_text("abc\\", buf, sizeof(buf)), -EINVAL);
}

static void test_from_text_errors(void **state)
{
    (void)state;
    uint8_t buf[256];
    assert_int_equal(mw_dname_from_text("a..b", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mw_dname_from_text(".a", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mw_dname_from_text("a..", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mw_dname_from_text("..", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mw_dname_from_text(NULL, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mw_dname_from_text("example.com", buf, 5), -ENOSPC);
    assert_int_equal(mw_dname_from_text("example.com", buf, 12), -ENOSPC);
    assert_int_equal(mw_dname_from_text("example.com", buf, 13), 13);
    assert_int_equal(mw_dname_from_text(".", buf, 0), -ENOSPC);
}

static void test_label_limits(void **state)
{
    (void)state;
    char text[600];
    uint8_t buf[MW_DNAME_MAX + 1];

    int l63[] = {63};
    make_text(text, l63, 1);
    assert_int_equal(mw_dname_from_text(text, buf, sizeof(buf)), 65);
    assert_int_equal(buf[0], 63);

    int l64[] = {64};
    make_text(text, l64, 1);
    assert_int_equal(mw_dname_from_text(text, buf, sizeof(buf)), -EINVAL);

    /* 3 * (1 + 63) + (1 + 61) + 1 = 255 octets: the longest name. */
    int l255[] = {63, 63, 63, 61};
    make_text(text, l255, 4);
    assert_int_equal(mw_dname_from_text(text, buf, sizeof(buf)), 255);
    char back[1200];
    assert_int_equal(mw_dname_to_text(buf, 255, back, sizeof(back)), (int)strlen(text));
    assert_string_equal(back, text);
    assert_int_equal(mw_dname_labels(buf, 255), 4);

    int l256[] = {63, 63, 63, 62};
    make_text(text, l256, 4);
    assert_int_equal(mw_dname_from_text(text, buf, sizeof(buf)), -EINVAL);
    strcat(text, ".");
    assert_int_equal(mw_dname_from_text(text, buf, sizeof(buf)), -EINVAL);

    /* Many one-octet labels: 127 * 2 + 1 = 255 fits, 128 does not. */
    char *p = text;
    for (int i = 0; i < 128; i++) {
        *p++ = 'x';
        *p++ = '.';
    }
    *p = '\0';
    text[127 * 2] = '\0';
    assert_int_equal(mw_dname_from_text(text, buf, sizeof(buf)), 255);
    text[127 * 2] = 'x';
    text[128 * 2 - 1] = '\0';
    assert_int_equal(mw_dname_from_text(text, buf, sizeof(buf)), -EINVAL);
}

static void test_to_text(void **state)
{
    (void)state;
    char buf[256];
    assert_int_equal(mw_dname_to_text(W("\0"), buf, sizeof(buf)), 1);
    assert_string_equal(buf, ".");
    assert_int_equal(mw_dname_to_text(W("\7example\3com\0"), buf, sizeof(buf)), 11);
    assert_string_equal(buf, "example.com");
    assert_int_equal(mw_dname_to_text(W("\3a.b\3c d\1A\1*\0"), buf, sizeof(buf)), 20);
    assert_string_equal(buf, "a\\046b.c\\032d.\\065.*");

    /* Escaped text reads back to the same wire. */
    uint8_t wire[256];
    assert_int_equal(mw_dname_from_text("a\\046b.c\\032d", wire, sizeof(wire)), 9);
    assert_memory_equal(wire, "\3a.b\3c d\0", 9);

    /* Exact fit and one short; the NUL needs its byte. */
    assert_int_equal(mw_dname_to_text(W("\7example\3com\0"), buf, 12), 11);
    assert_int_equal(mw_dname_to_text(W("\7example\3com\0"), buf, 11), -ENOSPC);
    assert_int_equal(mw_dname_to_text(W("\0"), buf, 1), -ENOSPC);
    assert_int_equal(mw_dname_to_text(W("\1 \0"), buf, 4), -ENOSPC);
    assert_int_equal(mw_dname_to_text(W("\1 \0"), buf, 5), 4);
    assert_string_equal(buf, "\\032");

    /* Malformed wire. */
    assert_int_equal(mw_dname_to_text(W("\7exam"), buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mw_dname_to_text(W("\3com"), buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mw_dname_to_text(W("\100aaaa\0"), buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mw_dname_to_text(W("\300\14"), buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mw_dname_to_text((const uint8_t *)"", 0, buf, sizeof(buf)), -EINVAL);
}

static void test_lower(void **state)
{
    (void)state;
    uint8_t w[] = "\3WwW\7ExAmPlE\3COM";
    mw_dname_lower(w, sizeof(w));
    assert_memory_equal(w, "\3www\7example\3com", sizeof(w));
}

static void test_subdomain(void **state)
{
    (void)state;
    assert_true(mw_dname_is_subdomain(W("\3www\7example\3com\0"), W("\7example\3com\0")));
    assert_true(mw_dname_is_subdomain(W("\7example\3com\0"), W("\7example\3com\0")));
    assert_true(mw_dname_is_subdomain(W("\7example\3com\0"), W("\0")));
    assert_true(mw_dname_is_subdomain(W("\0"), W("\0")));
    assert_false(mw_dname_is_subdomain(W("\3com\0"), W("\7example\3com\0")));
    assert_false(mw_dname_is_subdomain(W("\12badexample\3com\0"), W("\7example\3com\0")));
    assert_false(mw_dname_is_subdomain(W("\7example\3org\0"), W("\7example\3com\0")));
    /* The suffix octets match but start inside a label ("a\003com" is one label). */
    assert_false(mw_dname_is_subdomain(W("\5a\3com\0"), W("\3com\0")));
    assert_false(mw_dname_is_subdomain(W("\3www\7example\3com\0"), (const uint8_t *)"", 0));
}

static void test_labels(void **state)
{
    (void)state;
    assert_int_equal(mw_dname_labels(W("\0")), 0);
    assert_int_equal(mw_dname_labels(W("\3www\7example\3com\0")), 3);
    assert_int_equal(mw_dname_labels(W("\3www\7exa")), -EINVAL);
    assert_int_equal(mw_dname_labels(W("\300\14")), -EINVAL);
}

/* A packet: header (12 zero octets), "Example.COM" at 12, a pointer to it at 25, and
 * "www" + pointer at 27. */
static const uint8_t pkt1[] = {0,   0,   0,   0,    0,   0,   0,   0,   0,   0,    0,
                               0,   7,   'E', 'x',  'a', 'm', 'p', 'l', 'e', 3,    'C',
                               'O', 'M', 0,   0xc0, 12,  3,   'W', 'w', 'W', 0xc0, 12};

static void test_unpack(void **state)
{
    (void)state;
    uint8_t w[MW_DNAME_MAX + 1];
    size_t off = 12;
    assert_int_equal(mw_dname_unpack(pkt1, sizeof(pkt1), &off, w, sizeof(w)), 13);
    assert_int_equal(off, 25);
    assert_memory_equal(w, "\7example\3com", 13);

    off = 25;
    assert_int_equal(mw_dname_unpack(pkt1, sizeof(pkt1), &off, w, sizeof(w)), 13);
    assert_int_equal(off, 27);
    assert_memory_equal(w, "\7example\3com", 13);

    off = 27;
    assert_int_equal(mw_dname_unpack(pkt1, sizeof(pkt1), &off, w, sizeof(w)), 17);
    assert_int_equal(off, 33);
    assert_memory_equal(w, "\3www\7example\3com", 17);

    off = 27;
    assert_int_equal(mw_dname_skip(pkt1, sizeof(pkt1), &off), 0);
    assert_int_equal(off, 33);

    off = 27;
    assert_int_equal(mw_dname_unpack(pkt1, sizeof(pkt1), &off, w, 16), -ENOSPC);

    /* Truncated: the pointer's second octet, a label and the root missing. */
    off = 27;
    assert_int_equal(mw_dname_unpack(pkt1, sizeof(pkt1) - 1, &off, w, sizeof(w)), -EBADMSG);
    off = 12;
    assert_int_equal(mw_dname_unpack(pkt1, 20, &off, w, sizeof(w)), -EBADMSG);
    off = 12;
    assert_int_equal(mw_dname_skip(pkt1, 24, &off), -EBADMSG);
    off = 33;
    assert_int_equal(mw_dname_skip(pkt1, sizeof(pkt1), &off), -EBADMSG);
}

static void test_unpack_bad_pointers(void **state)
{
    (void)state;
    uint8_t w[MW_DNAME_MAX + 1];
    size_t off;

    /* Pointer to itself. */
    uint8_t self[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 12};
    off = 12;
    assert_int_equal(mw_dname_unpack(self, sizeof(self), &off, w, sizeof(w)), -EBADMSG);

    /* Forward pointer to a valid name. */
    uint8_t fwd[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 14, 1, 'a', 0};
    off = 12;
    assert_int_equal(mw_dname_unpack(fwd, sizeof(fwd), &off, w, sizeof(w)), -EBADMSG);
    off = 12;
    assert_int_equal(mw_dname_skip(fwd, sizeof(fwd), &off), -EBADMSG);
    off = 14;
    assert_int_equal(mw_dname_skip(fwd, sizeof(fwd), &off), 0);

    /* A loop through a label: "a" + pointer back to the "a", forever; each jump is backwards
     * from where it is read, so only the limits end it. */
    uint8_t loop[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 0xc0, 12};
    off = 12;
    assert_int_equal(mw_dname_unpack(loop, sizeof(loop), &off, w, sizeof(w)), -EBADMSG);
    off = 14;
    assert_int_equal(mw_dname_skip(loop, sizeof(loop), &off), -EBADMSG);

    /* A label reached through a pointer that runs over the pointer itself (found by
     * fuzzing: such a name read the record's own TTL and bytes past the OPT cut). */
    uint8_t span[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 'a', 'b', 0xc0, 12, 0};
    off = 15;
    assert_int_equal(mw_dname_unpack(span, sizeof(span), &off, w, sizeof(w)), -EBADMSG);
    off = 15;
    assert_int_equal(mw_dname_equal_at(span, sizeof(span), &off, (const uint8_t *)"\4ab\300\14", 7),
                     -EBADMSG);

    /* Into the header, which holds no names (found by fuzzing: replies rewrite it). */
    uint8_t hdrp[] = {1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0};
    off = 12;
    assert_int_equal(mw_dname_unpack(hdrp, sizeof(hdrp), &off, w, sizeof(w)), -EBADMSG);
    off = 12;
    assert_int_equal(mw_dname_skip(hdrp, sizeof(hdrp), &off), -EBADMSG);

    /* Labels reached through a pointer must stay out of the fields the caller rewrites. */
    uint8_t st[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 2, 'b', 'c', 0, 0xc0, 14, 0xc0, 12};
    const uint16_t holes[] = {15};
    off = 18;
    assert_int_equal(mw_dname_skip_stable(st, sizeof(st), &off, holes, 1), -EBADMSG);
    off = 20;
    assert_int_equal(mw_dname_skip_stable(st, sizeof(st), &off, holes, 1), -EBADMSG);
    off = 12; /* no pointer: the caller's own fields are not names it reads through one */
    assert_int_equal(mw_dname_skip_stable(st, sizeof(st), &off, holes, 1), 0);
    /* A pointer lying in such a field, reached through another pointer (found by fuzzing). */
    uint8_t sp[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x59, 0xc0, 12, 0, 0xc0, 14};
    const uint16_t ttl[] = {13};
    off = 17;
    assert_int_equal(mw_dname_skip_stable(sp, sizeof(sp), &off, ttl, 1), -EBADMSG);
    off = 17;
    assert_int_equal(mw_dname_skip(sp, sizeof(sp), &off), 0);
    const uint16_t far[] = {2, 30};
    off = 20;
    assert_int_equal(mw_dname_skip_stable(st, sizeof(st), &off, far, 2), 0);
    assert_int_equal(off, 22);

    /* 0x40 and 0x80 label types, with enough octets after them to pass as long labels. */
    uint8_t ext[12 + 1 + 0x81 + 1] = {0};
    memset(ext + 13, 'a', 0x81);
    ext[12] = 0x41;
    off = 12;
    assert_int_equal(mw_dname_unpack(ext, sizeof(ext), &off, w, sizeof(w)), -EBADMSG);
    ext[12] = 0x81;
    off = 12;
    assert_int_equal(mw_dname_skip(ext, sizeof(ext), &off), -EBADMSG);
    ext[12] = 0x3f;
    ext[12 + 64] = 0;
    off = 12;
    assert_int_equal(mw_dname_unpack(ext, sizeof(ext), &off, w, sizeof(w)), 65);
}

/* A chain of n pointers, each to the previous one, the first to a root name at 12. */
static size_t make_chain(uint8_t *pkt, int n)
{
    memset(pkt, 0, 12);
    pkt[12] = 0;
    size_t pos = 13;
    for (int i = 0; i < n; i++) {
        size_t target = i == 0 ? 12 : pos - 2;
        pkt[pos] = (uint8_t)(0xc0 | (target >> 8));
        pkt[pos + 1] = (uint8_t)target;
        pos += 2;
    }
    return pos;
}

static void test_jump_limit(void **state)
{
    (void)state;
    uint8_t pkt[400], w[MW_DNAME_MAX + 1];
    size_t len = make_chain(pkt, 127);
    size_t off = len - 2;
    assert_int_equal(mw_dname_unpack(pkt, len, &off, w, sizeof(w)), 1);
    assert_int_equal(off, len);

    len = make_chain(pkt, 128);
    off = len - 2;
    assert_int_equal(mw_dname_unpack(pkt, len, &off, w, sizeof(w)), -EBADMSG);
    off = len - 2;
    assert_int_equal(mw_dname_skip(pkt, len, &off), -EBADMSG);
}

/* Compressed names that decode to 255 octets pass, to 256 fail. */
static void test_unpack_length_limit(void **state)
{
    (void)state;
    uint8_t pkt[600], w[MW_DNAME_MAX + 1];
    memset(pkt, 0, 12);
    /* At 12: labels 63, 63, 63 then root (193 octets). */
    size_t pos = 12;
    for (int i = 0; i < 3; i++) {
        pkt[pos] = 63;
        memset(pkt + pos + 1, 'a', 63);
        pos += 64;
    }
    pkt[pos++] = 0;
    /* A 61-octet label, then a pointer to 12: 62 + 193 = 255. */
    size_t ok = pos;
    pkt[pos] = 61;
    memset(pkt + pos + 1, 'b', 61);
    pos += 62;
    pkt[pos++] = 0xc0;
    pkt[pos++] = 12;
    /* A 62-octet label, then a pointer to 12: 256. */
    size_t bad = pos;
    pkt[pos] = 62;
    memset(pkt + pos + 1, 'c', 62);
    pos += 63;
    pkt[pos++] = 0xc0;
    pkt[pos++] = 12;

    size_t off = ok;
    assert_int_equal(mw_dname_unpack(pkt, pos, &off, w, sizeof(w)), 255);
    assert_int_equal(off, bad);
    char text[1100];
    assert_int_equal(mw_dname_labels(w, 255), 4);
    assert_true(mw_dname_to_text(w, 255, text, sizeof(text)) > 0);
    off = bad;
    assert_int_equal(mw_dname_unpack(pkt, pos, &off, w, sizeof(w)), -EBADMSG);
    off = bad;
    assert_int_equal(mw_dname_skip(pkt, pos, &off), -EBADMSG);
}

static void test_equal_at(void **state)
{
    (void)state;
    /* "www.Example.com" at 12, then a pointer to "example.com" (offset 16), then garbage. */
    uint8_t pkt[64] = {0};
    const uint8_t name[] = "\3www\7Example\3com";
    memcpy(pkt + 12, name, sizeof(name)); /* 17 octets incl. the root */
    size_t ptr = 12 + sizeof(name);
    pkt[ptr] = 0xC0;
    pkt[ptr + 1] = 16;
    const uint8_t want[] = "\3www\7example\3com", tail[] = "\7example\3com";
    size_t off = 12;
    assert_int_equal(mw_dname_equal_at(pkt, sizeof(pkt), &off, want, sizeof(want)), 1);
    assert_int_equal(off, 12 + sizeof(name));
    off = ptr;
    assert_int_equal(mw_dname_equal_at(pkt, sizeof(pkt), &off, tail, sizeof(tail)), 1);
    assert_int_equal(off, ptr + 2);
    off = ptr;
    assert_int_equal(mw_dname_equal_at(pkt, sizeof(pkt), &off, want, sizeof(want)), 0);
    pkt[ptr + 1] = (uint8_t)(ptr + 5); /* forward pointer */
    off = ptr;
    assert_int_equal(mw_dname_equal_at(pkt, sizeof(pkt), &off, tail, sizeof(tail)), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_at),
        cmocka_unit_test(test_from_text_basic),
        cmocka_unit_test(test_from_text_escapes),
        cmocka_unit_test(test_from_text_errors),
        cmocka_unit_test(test_label_limits),
        cmocka_unit_test(test_to_text),
        cmocka_unit_test(test_lower),
        cmocka_unit_test(test_subdomain),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_unpack),
        cmocka_unit_test(test_unpack_bad_pointers),
        cmocka_unit_test(test_jump_limit),
        cmocka_unit_test(test_unpack_length_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
