/* Text of answer sets for the routing journal: the old and the new set of a change as value
 * texts ("192.0.2.1", "2001:db8::1", "ns1.example", "10 mx.example"), their difference and
 * their CNAME chains. Made only when a set changed (the comparison itself is binary, see
 * answerscan.h). Pure: writes into the caller's buffer, never allocates. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "minewall/answerscan.h"

struct mw_answer_change;

/* Longest value text: "65535 " and a name of 255 octets with every byte as \DDD. */
#define MW_ANSWERTEXT_MAX 1040
/* Room for the texts of one change: both sets and both chains. */
#define MW_ANSWERTEXT_BUF                                                                          \
    ((2 * MW_ANSWERSCAN_MAX_VALUES + 2 * MW_ANSWERSCAN_MAX_CHAIN) * MW_ANSWERTEXT_MAX)

/* Fill out's old_set, new_set (sorted by key), added, removed, their truncated flags, the two
 * chains and values_changed from the old and the new set of type qtype. The strings are
 * written into buf (MW_ANSWERTEXT_BUF bytes, overwritten) and out points into it. Returns
 * whether the two chains are the same. */
bool mw_answertext_fill(char *buf, uint16_t qtype, const struct mw_answerscan_set *o,
                        const struct mw_answerscan_set *n, struct mw_answer_change *out);
