/* One TLS client session over memory BIOs (OpenSSL); see tls.h for why OpenSSL and the
 * verification rules. */
#include "minewall/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "minewall/dot.h"
#include "minewall/netaddr.h"

struct mw_tls_ctx {
    SSL_CTX *ssl;
};

struct mw_tls {
    SSL *ssl;
    BIO *in, *out;       /* owned by ssl: network -> ssl, ssl -> network */
    SSL_SESSION *fresh;  /* owned: the newest ticket, until taken */
    uint8_t (*pins)[32]; /* owned copy: a reload may free the config's during a handshake */
    size_t n_pins;
    bool done;
};

static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void ex_init(void)
{
    ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* TLS 1.3 tickets arrive after the handshake, each as a new session: keep the newest. */
static int on_new_session(SSL *ssl, SSL_SESSION *s)
{
    struct mw_tls *t = SSL_get_ex_data(ssl, ex_index);
    if (!t)
        return 0;
    SSL_SESSION_free(t->fresh);
    t->fresh = s;
    return 1; /* the reference is ours */
}

static void set_why(char *why, size_t len, const char *fmt, const char *detail)
{
    if (why && len)
        snprintf(why, len, fmt, detail);
}

int mw_tls_ctx_new(const char *ca_file, struct mw_tls_ctx **out, char *why, size_t why_len)
{
    pthread_once(&ex_once, ex_init); /* workers make their contexts in parallel */
    struct mw_tls_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->ssl = SSL_CTX_new(TLS_client_method());
    if (!c->ssl) {
        free(c);
        return -ENOMEM;
    }
    /* RFC 8310 section 9 and RFC 7525: TLS 1.2 at least. */
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(c->ssl,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c->ssl, on_new_session);
    int ok = ca_file ? SSL_CTX_load_verify_locations(c->ssl, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(c->ssl);
    if (ok != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        ERR_clear_error();
        set_why(why, why_len, "cannot load trust anchors: %s", e);
        SSL_CTX_free(c->ssl);
        free(c);
        return -EINVAL;
    }
    *out = c;
    return 0;
}

void mw_tls_ctx_free(struct mw_tls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

struct mw_tls *mw_tls_new(struct mw_tls_ctx *ctx, const char *name, const struct mw_addr *ip,
                          const uint8_t (*pins)[32], size_t n_pins,
                          const struct mw_tls_session *resume)
{
    struct mw_tls *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (n_pins) {
        t->pins = malloc(n_pins * sizeof(*t->pins));
        if (!t->pins) {
            free(t);
            return NULL;
        }
        memcpy(t->pins, pins, n_pins * sizeof(*t->pins));
        t->n_pins = n_pins;
    }
    t->ssl = SSL_new(ctx->ssl);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->in || !t->out)
        goto fail;
    BIO_set_mem_eof_return(t->in, -1); /* an empty input BIO means "wait", not EOF */
    SSL_set_bio(t->ssl, t->in, t->out);
    SSL_set_ex_data(t->ssl, ex_index, t);
    SSL_set_connect_state(t->ssl);
    X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
    if (name && *name) {
        /* SNI and the name check (RFC 6125: no partial wildcards). */
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set_tlsext_host_name(t->ssl, name) != 1 ||
            X509_VERIFY_PARAM_set1_host(vp, name, 0) != 1)
            goto fail_ssl;
    } else {
        char text[64];
        if (mw_addr_format_ip(ip, text, sizeof(text)) < 0 ||
            X509_VERIFY_PARAM_set1_ip_asc(vp, text) != 1)
            goto fail_ssl;
    }
    if (resume)
        SSL_set_session(t->ssl, (SSL_SESSION *)resume);
    return t;
fail:
    BIO_free(t->in);
    BIO_free(t->out);
    SSL_free(t->ssl);
    free(t->pins);
    free(t);
    return NULL;
fail_ssl:
    SSL_free(t->ssl); /* frees the BIOs it owns */
    free(t->pins);
    free(t);
    return NULL;
}

void mw_tls_free(struct mw_tls *t)
{
    if (!t)
        return;
    SSL_SESSION_free(t->fresh);
    SSL_free(t->ssl);
    free(t->pins);
    free(t);
}

/* Does a certificate of the verified chain carry one of the pinned keys? */
static bool pins_ok(struct mw_tls *t)
{
    STACK_OF(X509) *chain = SSL_get0_verified_chain(t->ssl);
    for (int i = 0; chain && i < sk_X509_num(chain); i++) {
        X509_PUBKEY *pk = X509_get_X509_PUBKEY(sk_X509_value(chain, i));
        unsigned char *der = NULL;
        int len = pk ? i2d_X509_PUBKEY(pk, &der) : -1;
        if (len <= 0)
            continue;
        uint8_t hash[32];
        unsigned hl = 0;
        int ok = EVP_Digest(der, (size_t)len, hash, &hl, EVP_sha256(), NULL);
        OPENSSL_free(der);
        if (ok == 1 && hl == 32 && mw_dot_pin_match((const uint8_t(*)[32])t->pins, t->n_pins, hash))
            return true;
    }
    return false;
}

int mw_tls_handshake(struct mw_tls *t, char *why, size_t why_len)
{
    if (t->done)
        return 0;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        if (t->n_pins && !pins_ok(t)) {
            set_why(why, why_len, "%s", "no certificate of the chain matches a pin");
            return -EPERM;
        }
        t->done = true;
        return 0;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return -EAGAIN;
    long v = SSL_get_verify_result(t->ssl);
    if (v != X509_V_OK) {
        set_why(why, why_len, "certificate verification failed: %s",
                X509_verify_cert_error_string(v));
        ERR_clear_error();
        return -EPERM;
    }
    char buf[256];
    ERR_error_string_n(ERR_peek_error(), buf, sizeof(buf));
    ERR_clear_error();
    set_why(why, why_len, "TLS handshake failed: %s", buf);
    return -EPROTO;
}

int mw_tls_set_alpn(struct mw_tls *t, const uint8_t *protos, size_t len)
{
    /* OpenSSL's one inverted return: 0 is success. */
    return SSL_set_alpn_protos(t->ssl, protos, (unsigned)len) == 0 ? 0 : -ENOMEM;
}

bool mw_tls_alpn_is(const struct mw_tls *t, const char *proto)
{
    const unsigned char *sel = NULL;
    unsigned n = 0;
    SSL_get0_alpn_selected(t->ssl, &sel, &n);
    return sel && n == strlen(proto) && memcmp(sel, proto, n) == 0;
}

bool mw_tls_resumed(const struct mw_tls *t)
{
    return SSL_session_reused(t->ssl) == 1;
}

int mw_tls_feed(struct mw_tls *t, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        int n = BIO_write(t->in, buf, len > 1 << 30 ? 1 << 30 : (int)len);
        if (n <= 0)
            return -ENOMEM;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t mw_tls_pending(const struct mw_tls *t)
{
    return BIO_ctrl_pending(t->out);
}

size_t mw_tls_take(struct mw_tls *t, uint8_t *buf, size_t cap)
{
    int n = BIO_read(t->out, buf, cap > 1 << 30 ? 1 << 30 : (int)cap);
    return n > 0 ? (size_t)n : 0;
}

/* The error queue is emptied on every failure path, so reads and writes need not clear it
 * first (ERR_clear_error cost 1.5k instructions per query, called before each). */
int mw_tls_write(struct mw_tls *t, const uint8_t *buf, size_t len)
{
    /* Memory BIOs grow: a write never waits for the network. */
    int n = SSL_write(t->ssl, buf, (int)len);
    if (n != (int)len) {
        ERR_clear_error();
        return -EPROTO;
    }
    return 0;
}

int mw_tls_read(struct mw_tls *t, uint8_t *buf, size_t cap)
{
    int n = SSL_read(t->ssl, buf, cap > 1 << 30 ? 1 << 30 : (int)cap);
    if (n > 0)
        return n;
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return -EAGAIN;
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    return -EPROTO;
}

struct mw_tls_session *mw_tls_session_take(struct mw_tls *t)
{
    /* The callback sees TLS 1.2 sessions too (the client cache mode is on). A copy is kept:
     * the session object is the connection's current one, and freeing a connection that
     * did not shut down cleanly (reset, idle close) marks that object not resumable. */
    SSL_SESSION *s = t->fresh;
    t->fresh = NULL;
    if (!s)
        return NULL;
    SSL_SESSION *copy = SSL_SESSION_dup(s);
    SSL_SESSION_free(s);
    return (struct mw_tls_session *)copy;
}

void mw_tls_session_free(struct mw_tls_session *s)
{
    SSL_SESSION_free((SSL_SESSION *)s);
}
