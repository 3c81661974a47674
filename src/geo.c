/* MaxMind DB lookups for the filter and the routing journal. Each database is an MMDB_s opened
 * with MMDB_MODE_MMAP inside struct mw_geo and not touched again until mw_geo_free, which is what
 * makes concurrent lookups safe: libmaxminddb only reads the mapping and the struct. Values are
 * read with MMDB_aget_value and static paths; MMDB_get_value would calloc a path array on every
 * call. MMDB_* status codes become negative errno here and go no further. */
#include "minewall/geo.h"

#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "minewall/error.h"

struct mw_geo {
    MMDB_s asn;     /* valid when has_asn */
    MMDB_s country; /* valid when has_country */
    bool has_asn;
    bool has_country;
};

static const char *const asn_number_path[] = {"autonomous_system_number", NULL};
static const char *const asn_org_path[] = {"autonomous_system_organization", NULL};
static const char *const country_code_path[] = {"country", "iso_code", NULL};

static int status_errno(int status)
{
    switch (status) {
    case MMDB_SUCCESS:
        return 0;
    case MMDB_FILE_OPEN_ERROR:
        return -ENOENT;
    case MMDB_IO_ERROR:
        return -EIO;
    case MMDB_OUT_OF_MEMORY_ERROR:
        return -ENOMEM;
    case MMDB_UNKNOWN_DATABASE_FORMAT_ERROR:
        return -ENOTSUP;
    case MMDB_INVALID_LOOKUP_PATH_ERROR:
    case MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR:
        return -EINVAL;
    case MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR:
        return -EAFNOSUPPORT;
    case MMDB_CORRUPT_SEARCH_TREE_ERROR:
    case MMDB_INVALID_METADATA_ERROR:
    case MMDB_INVALID_DATA_ERROR:
    case MMDB_INVALID_NODE_NUMBER_ERROR:
        return -EBADMSG;
    default:
        return -EIO;
    }
}

/* Open one file into *db. MMDB_open keeps errno from open(2)/fstat/mmap for the two I/O
 * statuses, which says more than MMDB_FILE_OPEN_ERROR alone (EACCES, EISDIR, ...). */
static int open_one(MMDB_s *db, const char *path, struct mw_errlist *errs)
{
    errno = 0;
    int status = MMDB_open(path, MMDB_MODE_MMAP, db);
    if (status == MMDB_SUCCESS)
        return 0;
    int saved = errno;
    int err = status_errno(status);
    if ((status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR) && saved > 0)
        err = -saved;
    if (errs)
        mw_errlist_add(errs, "%s: cannot open MaxMind database: %s", path, MMDB_strerror(status));
    return err;
}

int mw_geo_open(struct mw_geo **out, const char *asn_path, const char *country_path,
                struct mw_errlist *errs)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    struct mw_geo *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;

    int err = 0;
    if (asn_path) {
        err = open_one(&g->asn, asn_path, errs);
        g->has_asn = err == 0;
    }
    if (country_path) {
        int e = open_one(&g->country, country_path, errs);
        g->has_country = e == 0;
        if (!err)
            err = e;
    }
    if (err) {
        mw_geo_free(g);
        return err;
    }
    *out = g;
    return 0;
}

void mw_geo_free(struct mw_geo *g)
{
    if (!g)
        return;
    if (g->has_country)
        MMDB_close(&g->country);
    if (g->has_asn)
        MMDB_close(&g->asn);
    free(g);
}

/* Find the record for sa. Returns 1 with *entry set, 0 when the database has nothing for the
 * address (an IPv6 address in an IPv4 database included), or a negative errno. */
static int find(const MMDB_s *db, const struct sockaddr *sa, MMDB_entry_s *entry)
{
    int status = MMDB_SUCCESS;
    MMDB_lookup_result_s res = MMDB_lookup_sockaddr(db, sa, &status);
    if (status == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
        return 0;
    if (status != MMDB_SUCCESS)
        return status_errno(status);
    if (!res.found_entry)
        return 0;
    *entry = res.entry;
    return 1;
}

/* Read one value at path. Returns 1 with *data set, 0 when the key is missing or the path runs
 * into a value that is not a map, or a negative errno for corrupt data. */
static int get(MMDB_entry_s *entry, const char *const *path, MMDB_entry_data_s *data)
{
    int status = MMDB_aget_value(entry, data, path);
    if (status == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
        return 0;
    if (status != MMDB_SUCCESS)
        return status_errno(status);
    return data->has_data ? 1 : 0;
}

/* The ASN is a uint32 in both GeoLite2 and DB-IP; accept the other unsigned widths a third-party
 * writer might pick, as long as the value fits. */
static bool as_uint32(const MMDB_entry_data_s *d, uint32_t *v)
{
    switch (d->type) {
    case MMDB_DATA_TYPE_UINT16:
        *v = d->uint16;
        return true;
    case MMDB_DATA_TYPE_UINT32:
        *v = d->uint32;
        return true;
    case MMDB_DATA_TYPE_UINT64:
        if (d->uint64 > UINT32_MAX)
            return false;
        *v = (uint32_t)d->uint64;
        return true;
    case MMDB_DATA_TYPE_INT32:
        if (d->int32 < 0)
            return false;
        *v = (uint32_t)d->int32;
        return true;
    default:
        return false;
    }
}

/* Copy a string that is not NUL-terminated in the mapping. When it is cut, back up over UTF-8
 * continuation bytes (at most three) so that no character is split. */
static void copy_utf8(char *dst, size_t cap, const char *src, uint32_t len)
{
    size_t n = len;
    if (n >= cap) {
        n = cap - 1;
        for (int i = 0; i < 3 && n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80; i++)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Read the values at paths[0..n) of sa's entry in db: has[i] tells whether d[i] was found.
 * Returns 1, 0 when db has no entry for sa (nothing read), or a negative errno for corrupt
 * data. */
static int read_values(const MMDB_s *db, const struct sockaddr *sa, const char *const *const *paths,
                       size_t n, MMDB_entry_data_s *d, bool *has)
{
    MMDB_entry_s entry;
    int r = find(db, sa, &entry);
    for (size_t i = 0; r > 0 && i < n; i++) {
        int g = get(&entry, paths[i], &d[i]);
        if (g < 0)
            return g;
        has[i] = g == 1;
    }
    return r;
}

static int lookup_asn(const MMDB_s *db, const struct sockaddr *sa, struct mw_geo_info *out)
{
    static const char *const *const paths[] = {asn_number_path, asn_org_path};
    MMDB_entry_data_s d[2];
    bool has[2];
    int r = read_values(db, sa, paths, 2, d, has);
    if (r <= 0)
        return r;
    if (has[0] && as_uint32(&d[0], &out->asn))
        out->found_asn = true;
    if (has[1] && d[1].type == MMDB_DATA_TYPE_UTF8_STRING)
        copy_utf8(out->as_org, sizeof(out->as_org), d[1].utf8_string, d[1].data_size);
    return 0;
}

static bool is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int lookup_country(const MMDB_s *db, const struct sockaddr *sa, struct mw_geo_info *out)
{
    static const char *const *const paths[] = {country_code_path};
    MMDB_entry_data_s d;
    bool has;
    int r = read_values(db, sa, paths, 1, &d, &has);
    if (r <= 0 || !has)
        return r < 0 ? r : 0;
    /* ISO 3166-1 alpha-2; anything else would not fit country[3] and is not a code we match. */
    if (d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size != 2 || !is_alpha(d.utf8_string[0]) ||
        !is_alpha(d.utf8_string[1]))
        return 0;
    out->country[0] = d.utf8_string[0];
    out->country[1] = d.utf8_string[1];
    out->country[2] = '\0';
    out->found_country = true;
    return 0;
}

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int mw_geo_lookup(const struct mw_geo *g, int family, const uint8_t *addr, struct mw_geo_info *out)
{
    mw_require(out != NULL && addr != NULL);
    memset(out, 0, sizeof(*out));
    if (family != AF_INET && family != AF_INET6)
        return -EAFNOSUPPORT;

    /* libmaxminddb only reads the family and the address of the sockaddr. */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } u;
    memset(&u, 0, sizeof(u));
    if (family == AF_INET6 && memcmp(addr, v4mapped_prefix, sizeof(v4mapped_prefix)) != 0) {
        u.in6.sin6_family = AF_INET6;
        memcpy(&u.in6.sin6_addr, addr, 16);
    } else {
        u.in4.sin_family = AF_INET;
        memcpy(&u.in4.sin_addr, family == AF_INET ? addr : addr + 12, 4);
    }
    if (!g)
        return 0;

    int err = 0;
    if (g->has_asn) {
        err = lookup_asn(&g->asn, &u.sa, out);
        if (err) {
            /* Corrupt where this address leads: report none of it rather than half. */
            out->asn = 0;
            out->found_asn = false;
            out->as_org[0] = '\0';
        }
    }
    if (g->has_country) {
        int e = lookup_country(&g->country, &u.sa, out);
        if (!err)
            err = e;
    }
    return err;
}
