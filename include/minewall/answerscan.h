/* Reading one DNS response for the answer tracker (answerdiff.h): the values of the asked type
 * owned by the final name of the CNAME chain in the answer section, and that chain, in a
 * binary form that compares as bytes. For qtype CNAME the values are the targets of the CNAME
 * records at the name and no chain is followed. The scanner owns its scratch space (one
 * allocation) and validates every record of the answer section through the record iterator
 * of dnsmsg.h. Pure: no I/O, no logging, never calls back. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MW_ANSWERSCAN_MAX_VALUES 64 /* values kept per set (the smallest in key order) */
#define MW_ANSWERSCAN_MAX_CHAIN 16  /* CNAME hops followed */

struct mw_answerscan;

/* One answer set in binary: the chain targets (lowercase uncompressed wire names, in chain
 * order), then the values as keys, sorted bytewise and de-duplicated, back to back. Keys: A
 * the 4 address octets, AAAA the 16, MX the preference (2 octets, network order) and the wire
 * name, NS and CNAME the wire name; so addresses sort numerically. Lengths are implied by the
 * type (mw_answerscan_val_len). */
struct mw_answerscan_set {
    const uint8_t *p; /* borrowed */
    size_t len;       /* bytes at p */
    uint8_t n_chain;
    uint8_t n_vals;
    bool truncated; /* the response had more than MW_ANSWERSCAN_MAX_VALUES values */
    uint32_t ttl;   /* smallest TTL of the records that made the set and chain; 0 if none */
};

/* A scanner with its scratch space, or NULL on ENOMEM. */
struct mw_answerscan *mw_answerscan_new(void);

/* NULL is a no-op. */
void mw_answerscan_free(struct mw_answerscan *sc);

/* Bytes a scanner holds (for memory statistics). */
size_t mw_answerscan_size(void);

/* Read the response pkt (len bytes, as received or as prepared by mw_dns_prepare_response)
 * whose question must be (qname, qtype, IN); qname is lowercase wire (qname_len with the
 * root). Returns 1 with *out filled (out->p points into sc until the next read); 0 when the
 * response says nothing about the set (not NOERROR, or TC set); -EBADMSG for a malformed
 * response, a question that differs, or a malformed record of the set. */
int mw_answerscan_read(struct mw_answerscan *sc, const uint8_t *qname, size_t qname_len,
                       uint16_t qtype, const uint8_t *pkt, size_t len,
                       struct mw_answerscan_set *out);

/* Length of the wire name at w (uncompressed, as stored in a set). */
size_t mw_answerscan_name_len(const uint8_t *w);

/* Length of the value key of type qtype at p. */
size_t mw_answerscan_val_len(uint16_t qtype, const uint8_t *p);

/* Order of two keys: bytewise, a prefix first. */
int mw_answerscan_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
