/* Generated-domain (DGA) scoring of a registered domain: its label, left of the public suffix
 * ("example" in www.example.co.uk), the part of a name a domain generation algorithm invents,
 * and the suffix it sits under ("co.uk"), which generators pick from a few. The shipped model
 * (format version 3) is an ensemble of boosted trees over integer features of the label and
 * the suffix (shape counts, bits per character under a benign and a DGA character model, the
 * suffix's DGA-to-benign ratio); format version 2, still read, is a logistic regression over
 * hashed character n-grams and shape features, alone and crossed with the suffix. Both are
 * trained offline by tools/dga-train (which documents the models, the features and the file
 * formats) and shipped as conf/dga.model. A model is immutable once loaded:
 * any number of threads may score with it. Scoring allocates nothing and makes no system call.
 * Pure: no libuv; the caller finds the registered domain (libpsl) and hands over its label. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mw_errlist;
struct mw_dga_model;
struct mw_regmemo_words;

/* Confidence levels, as AWS DNS Firewall's: a label is at the highest level whose threshold
 * its score reaches. The model file carries the three thresholds; tools/dga-train sets them
 * on held-out benign registered domains so that at most 1 in 100 (LOW), 1 in 1,000 (MEDIUM)
 * and 1 in 10,000 (HIGH) of them reach the level. */
enum mw_dga_level { MW_DGA_NONE = 0, MW_DGA_LOW, MW_DGA_MEDIUM, MW_DGA_HIGH };

#define MW_DGA_LABEL_MAX 63
#define MW_DGA_SUFFIX_MAX 253 /* a suffix in text form, as in a 255-octet wire name */
/* File bounds: a version 2 table has 2^bits int16 weights, 10 <= bits <= 20, so a model file
 * is at most 48 + 2 MiB + 4 bytes; a version 3 file is at most 64 + 256,000 + 128 KiB + 512
 * trees of depth 8 (2,299 bytes each) + 4 bytes, less. */
#define MW_DGA_BITS_MIN 10
#define MW_DGA_BITS_MAX 20
#define MW_DGA_FILE_MAX (48 + 2 * ((size_t)1 << MW_DGA_BITS_MAX) + 4)

struct mw_dga_result {
    int32_t score; /* the integer score: bias plus the weights of the features (version 2) or
                    * the leaves the trees reach (version 3) */
    double logit;  /* score times the model's scale: log-odds of "generated" */
    enum mw_dga_level level;
};

/* Parse a model from len bytes at buf (copied: buf may be freed afterwards). A bad file gets
 * a message in why ("at offset N: ..." where an offset applies): wrong magic or version,
 * a field out of its bounds, a size that does not match the table, thresholds out of order,
 * a CRC-32 that does not match. On success *out takes a new model (mw_dga_free).
 * Returns 0, -EBADMSG for a bad file, -ENOMEM, -EINVAL for a NULL argument. */
int mw_dga_parse(const void *buf, size_t len, struct mw_dga_model **out, char *why, size_t why_len);

/* Read and parse the model file at path; errors are added to errs as "PATH: message" (one
 * message per failure). Returns 0 (*out set) or a negative errno: those of mw_dga_parse,
 * -EFBIG for a file over MW_DGA_FILE_MAX, or the open(2)/read(2) error. */
int mw_dga_load(const char *path, struct mw_dga_model **out, struct mw_errlist *errs);

/* The model file used when the config names none (detect.dga.model): the source tree's
 * conf/dga.model for a binary run from a build directory inside the source tree, else where
 * `meson install` puts it (MW_DEFAULT_DGA_MODEL, prefix/share/minewall/dga.model). Written
 * into buf (truncated to len). Reads /proc/self/exe. */
void mw_dga_default_path(char *buf, size_t len);

/* Do a and b score every label the same (same version, tables, trees, bias and thresholds)?
 * Two loads of one file are equal: a reload that reads the same model keeps the workers' memos.
 * NULL equals only NULL. */
bool mw_dga_equal(const struct mw_dga_model *a, const struct mw_dga_model *b);

/* Free a model. NULL is a no-op. */
void mw_dga_free(struct mw_dga_model *m);

/* Score the registered domain of len bytes at name in text form, "label.suffix" ("example.
 * co.uk": the label up to the first dot, the public suffix after it; a name without a dot is
 * a label under no suffix). Letters A-Z count as a-z; no terminator needed. Returns 0, or
 * -EINVAL for an empty label, a label over MW_DGA_LABEL_MAX or a suffix over
 * MW_DGA_SUFFIX_MAX bytes (*out untouched). Thread-safe, allocation-free. */
int mw_dga_score(const struct mw_dga_model *m, const char *name, size_t len,
                 struct mw_dga_result *out);

/* The same for a registered domain in wire form (reg_len octets at reg: its label, then the
 * suffix's labels, up to the root label or reg_len). Returns 0, or -EINVAL for a label of 0
 * or over MW_DGA_LABEL_MAX octets, or labels that run past reg_len. */
int mw_dga_score_wire(const struct mw_dga_model *m, const uint8_t *reg, size_t reg_len,
                      struct mw_dga_result *out);

/* The DGA detector on a live query: the score of the registered domain reg (wire form,
 * reg_len octets, as the worker's registered-domain memo found it, regmemo.h) taken from its
 * memo words when the model in force scored it before, else scored (its label and suffix)
 * and kept there. words is required (a caller without a memo passes words of its own, `public`
 * set). Names that are not public (single labels, .lan, .internal, home.arpa) are not scored.
 * Returns 1 with *out filled (*memoized: from the words), 0 when not scored, -EINVAL.
 * Allocates nothing. */
int mw_dga_check(const struct mw_dga_model *m, const uint8_t *reg, size_t reg_len,
                 struct mw_regmemo_words *words, struct mw_dga_result *out, bool *memoized);

/* The lowest score at level (LOW, MEDIUM or HIGH; NONE gives INT32_MIN). */
int32_t mw_dga_threshold(const struct mw_dga_model *m, enum mw_dga_level level);

/* "NONE", "LOW", "MEDIUM", "HIGH". */
const char *mw_dga_level_name(enum mw_dga_level level);

/* CRC-32 (IEEE 802.3, as zlib's crc32) of len bytes: the model file's checksum. */
uint32_t mw_dga_crc32(const void *buf, size_t len);
