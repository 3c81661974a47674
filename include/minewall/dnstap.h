/* dnstap encoding (https://dnstap.info): one DNS message seen by minewall, with where and when
 * it was seen, as a protobuf "Dnstap" frame of the public schema (src/dnstap.proto holds it;
 * the unit test decodes what this module writes with protobuf-c code generated from it).
 *
 * The encoder is written out by hand rather than through protobuf-c's generic packer: it runs
 * on the workers for every query (twice, query and response), and a direct writer of the few
 * fields minewall fills costs a fraction of the descriptor walk. mw_dnstap_size() gives the
 * exact frame length, so the caller allocates once and mw_dnstap_encode() fills it. The
 * fields a query's frame shares with its response's, and the frames to and from one upstream
 * with each other, are kept encoded (struct mw_dnstap_pre) so they are not encoded again.
 *
 * Also here: the JSON object minewall puts in the frame's `extra` field for a blocked query
 * (README, "dnstap"). Pure: no libuv, no fstrm, no clock (times are passed in). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* Message.Type values of the schema that minewall writes. */
enum mw_dnstap_type {
    MW_DNSTAP_CLIENT_QUERY = 5,
    MW_DNSTAP_CLIENT_RESPONSE = 6,
    MW_DNSTAP_FORWARDER_QUERY = 7,
    MW_DNSTAP_FORWARDER_RESPONSE = 8,
};

/* Longest identity and version kept (longer ones are cut: they go in every frame). */
#define MW_DNSTAP_IDENT_MAX 255

/* The part every frame shares: the identity and version fields, encoded once. */
struct mw_dnstap_enc {
    uint8_t head[2 + 2 * (1 + 2 + MW_DNSTAP_IDENT_MAX)];
    size_t head_len;
};

/* One message to encode; every pointer is borrowed for the call. */
struct mw_dnstap_msg {
    enum mw_dnstap_type type;
    bool tcp; /* socket_protocol TCP, else UDP */
    /* The side that sent the query (the client, or minewall towards an upstream) and the side
     * that answers (minewall's listener, or the upstream); each may be NULL (left out). The
     * peer's family (the client's, the upstream's) is the message's: the other side is left
     * out when its family differs. AF_INET and AF_INET6 only. */
    const struct sockaddr *query_addr;
    const struct sockaddr *response_addr;
    /* When minewall saw the message (Unix time): query_time for a *_QUERY, response_time for a
     * *_RESPONSE. */
    uint64_t time_sec;
    uint32_t time_nsec;
    /* A *_RESPONSE's query_time too (when its query arrived or was sent, as Unbound writes
     * it); 0 seconds: left out. Unused for a *_QUERY. */
    uint64_t qtime_sec;
    uint32_t qtime_nsec;
    /* The DNS message in wire form: query_message or response_message by type. */
    const uint8_t *dns;
    size_t dns_len;
    /* Dnstap.extra, or NULL. */
    const uint8_t *extra;
    size_t extra_len;
};

/* Prepare e for frames carrying identity and version (NULL or "": the field is left out);
 * each is cut at MW_DNSTAP_IDENT_MAX bytes. */
void mw_dnstap_enc_init(struct mw_dnstap_enc *e, const char *identity, const char *version);

/* The exact length of m's frame. */
size_t mw_dnstap_size(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m);

/* Write m's frame to out (cap bytes). Returns its length, or 0 when it does not fit (nothing
 * useful is left in out then). */
size_t mw_dnstap_encode(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m, uint8_t *out,
                        size_t cap);

/* The leading fields of a frame's Message (type, protocol, family, both sides' addresses and
 * ports), encoded once and kept: a query and its response share them, as do all the frames
 * between minewall's socket and one upstream. The type written is the frame's (m->type); the
 * pre's only says which side is the peer (client types: the query side, forwarder types: the
 * response side). */
#define MW_DNSTAP_PRE_MAX 56 /* two IPv6 sides take 50 */
struct mw_dnstap_pre {
    uint8_t b[MW_DNSTAP_PRE_MAX];
    uint8_t len;
};

/* Encode the fields of a message of type (or of its response) with these sides (as in struct
 * mw_dnstap_msg: either may be NULL, the peer's family is the message's). */
void mw_dnstap_pre_init(struct mw_dnstap_pre *pre, enum mw_dnstap_type type, bool tcp,
                        const struct sockaddr *query_addr, const struct sockaddr *response_addr);

/* mw_dnstap_encode and mw_dnstap_size with the sides and protocol taken from pre (m's tcp,
 * query_addr and response_addr are not read): the same bytes as from the sockaddrs pre was
 * made from, for about half of the work. */
size_t mw_dnstap_encode_pre(const struct mw_dnstap_enc *e, const struct mw_dnstap_pre *pre,
                            const struct mw_dnstap_msg *m, uint8_t *out, size_t cap);
size_t mw_dnstap_pre_size(const struct mw_dnstap_enc *e, const struct mw_dnstap_pre *pre,
                          const struct mw_dnstap_msg *m);
/* mw_dnstap_encode that also leaves the fields it made from m's sockaddrs in keep (filled even
 * when the frame does not fit), for a later frame's mw_dnstap_encode_pre: one call for both. */
size_t mw_dnstap_encode_keep(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m,
                             struct mw_dnstap_pre *keep, uint8_t *out, size_t cap);

/* What the extra field of a blocked query's CLIENT_RESPONSE says; each string may be NULL
 * (written as null). */
struct mw_dnstap_block {
    const char *list, *category, *rule, *action, *where, *group;
};

/* The JSON object {"verdict":"block","list":...,"category":...,"rule":...,"action":...,
 * "where":...,"group":...} (the client's group: "default" outside groups) into buf (cap bytes).
 * Returns its length (without a NUL), or 0 when it did not fit in cap (the field is then left out
 * rather than cut). */
size_t mw_dnstap_block_extra(char *buf, size_t cap, const struct mw_dnstap_block *b);
