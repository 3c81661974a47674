/* One TLS client session as a state machine over memory, for DNS over TLS (dotconn.c) and
 * later DNS over HTTPS on the same connection code. The caller moves bytes: what arrives
 * from the network goes in with mw_tls_feed, what must be sent comes out of mw_tls_take;
 * plaintext goes in with mw_tls_write and out of mw_tls_read. No sockets, no event loop.
 *
 * Library: OpenSSL (libssl3 on Debian 12), driven through two memory BIOs. It is what
 * Unbound, dnsdist and Knot Resolver's peers link in the Debian builds; it checks the
 * certificate's name or IP address itself (X509_VERIFY_PARAM_set1_host / set1_ip, RFC 6125
 * rules), reads the system trust store in one call, and gives TLS 1.3 session tickets to a
 * callback so a session can be resumed on the next connection. Memory BIOs keep the I/O in
 * libuv's hands (one loop, no blocking socket inside OpenSSL).
 *
 * Verification is strict (RFC 8310 strict usage profile): the chain must verify against the
 * trust anchors, the end certificate must name the authentication name (or the IP address
 * when there is none), and when pins are given the SHA-256 of the SubjectPublicKeyInfo of at
 * least one certificate of the verified chain must be among them (RFC 7858 section 4.2). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mw_addr;
struct mw_tls_ctx;
struct mw_tls;
struct mw_tls_session;

/* Trust anchors and settings shared by the sessions of one worker: ca_file (PEM; NULL: the
 * system store). Returns 0, -ENOMEM, or -EINVAL when the anchors cannot be loaded (why, when
 * not NULL, receives OpenSSL's reason). */
int mw_tls_ctx_new(const char *ca_file, struct mw_tls_ctx **out, char *why, size_t why_len);
/* NULL is a no-op; sessions made from ctx keep what they need. */
void mw_tls_ctx_free(struct mw_tls_ctx *ctx);

/* A client session to ip, verified against name ("" or NULL: the certificate must carry ip),
 * pins (n SPKI SHA-256 hashes; n 0: no pinning), resuming resume (may be NULL; borrowed).
 * The handshake starts at the first mw_tls_handshake. Returns NULL on ENOMEM. */
struct mw_tls *mw_tls_new(struct mw_tls_ctx *ctx, const char *name, const struct mw_addr *ip,
                          const uint8_t (*pins)[32], size_t n_pins,
                          const struct mw_tls_session *resume);
void mw_tls_free(struct mw_tls *t);

/* Offer ALPN protocols (wire form: length-prefixed names, "\x02h2" for HTTP/2) before the
 * handshake. Returns 0 or -ENOMEM. */
int mw_tls_set_alpn(struct mw_tls *t, const uint8_t *protos, size_t len);
/* After the handshake: did the server select protocol proto (NUL-terminated)? */
bool mw_tls_alpn_is(const struct mw_tls *t, const char *proto);

/* Advance the handshake. Returns 0 when it is complete, -EAGAIN when it needs bytes from the
 * peer (send what mw_tls_take gives first), -EPERM when the peer failed verification (chain,
 * name, expiry, pins: why gets the reason), -EPROTO for any other TLS failure. */
int mw_tls_handshake(struct mw_tls *t, char *why, size_t why_len);
/* Was the session resumed (valid after the handshake)? */
bool mw_tls_resumed(const struct mw_tls *t);

/* Bytes received from the network. Returns 0 or -ENOMEM. */
int mw_tls_feed(struct mw_tls *t, const uint8_t *buf, size_t len);
/* Bytes waiting to be sent. */
size_t mw_tls_pending(const struct mw_tls *t);
/* Take up to cap of them; returns how many. */
size_t mw_tls_take(struct mw_tls *t, uint8_t *buf, size_t cap);

/* Encrypt len plaintext bytes (after the handshake). Returns 0 or -EPROTO. */
int mw_tls_write(struct mw_tls *t, const uint8_t *buf, size_t len);
/* Decrypt into buf. Returns the bytes read, -EAGAIN when more input is needed, 0 when the peer
 * closed the session (close_notify), -EPROTO on a TLS error. */
int mw_tls_read(struct mw_tls *t, uint8_t *buf, size_t cap);

/* The newest resumable session the peer gave (a TLS 1.3 ticket, or the TLS 1.2 session),
 * handed over to the caller, or NULL. */
struct mw_tls_session *mw_tls_session_take(struct mw_tls *t);
void mw_tls_session_free(struct mw_tls_session *s);
