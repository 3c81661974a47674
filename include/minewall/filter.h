/* The filtering decision: a query name, and the CNAME/DNAME targets and A/AAAA addresses
 * (and their AS numbers) of an upstream answer, checked against a generation of lists. Most
 * specific domain rule wins and an allow rule beats a block rule at equal specificity; an
 * allowed query name is never blocked by what its answer contains. Pure: the caller turns a
 * verdict into a reply (query.c) and a block-log record. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/config.h"
#include "minewall/domainset.h"

struct mw_lists;
struct mw_dns_question;
struct mw_group_conf;

enum mw_where {
    MW_WHERE_QNAME = 0,
    MW_WHERE_CNAME,
    MW_WHERE_ANSWER_IP,
    MW_WHERE_ASN,
    MW_WHERE_PATTERN,
    MW_WHERE_ANSWER_NAME, /* an owner or SVCB/HTTPS target name of an answer record */
};

enum mw_filter_result {
    MW_FILTER_PASS = 0, /* nothing matched */
    MW_FILTER_ALLOW,    /* an allowlist rule matched: resolve and do not check the answer */
    MW_FILTER_BLOCK,    /* a block rule matched: v says which and what to do */
};

struct mw_verdict {
    enum mw_action action; /* resolved (never DEFAULT); LOG means resolve and record */
    enum mw_where where;
    struct mw_rule rule;
    /* The matched rule as text: name, prefix, "AS64500" or the glob. For a query-name match
     * it is written only when asked for (mw_verdict_rule_text): the hot blocked path does
     * not format text nobody reads. */
    char rule_text[280];
    const uint8_t *rule_wire; /* query-name match not yet formatted: the rule's name... */
    uint8_t rule_wire_len;
    uint8_t rule_kind;    /* ...and its enum mw_domain_kind */
    char matched[280];    /* what matched it: the CNAME target or answer address */
    const uint8_t *sink4; /* RPZ local data, or NULL for the config's sinkhole addresses */
    const uint8_t *sink6;
    /* A detector's verdict (rule.list >= MW_LIST_DETECT): for the rebinding guard the
     * enum mw_rebind_class of the address that matched. */
    uint8_t detect_class;
};

const char *mw_where_name(enum mw_where w);

/* The action group g (NULL: the default group) gives the list or detector of index list
 * (`actions:` of the group, by list name, then category), else fallback. */
enum mw_action mw_filter_group_action(const struct mw_lists *l, const struct mw_group_conf *g,
                                      uint16_t list, enum mw_action fallback);

/* Client groups (config.h, struct mw_group_conf): every check below has an _in form that
 * gives the verdict of group g, and the plain form is the default group's (g NULL: every list,
 * no override); there is one code path. A group's verdict is exactly the one its `lists:`
 * alone would give (most specific name, longest prefix, allow first, as for everyone): when
 * the rule that decides for everyone is of a list outside the group, the group's own is looked
 * up again (only then, so the default path pays nothing), in the merged sets' rules kept aside
 * for inputs that several lists hold (domainset.h mw_domainset_get_if, ipset.h
 * mw_ipset_match_if; the AS table and the pattern set keep every rule). A group's
 * `actions:` replace the action of a list (by name, else by category) as the list's own
 * `action:` would, and that of the rebinding detector (list "rebinding", category "detect").
 * Detector verdicts apply to every group. */
/* The action group g (NULL: the default group) gives the list or detector of index list
 * (`actions:` by name, then by category), else fallback. For detectors that decide outside
 * the filter (new-domains). */
enum mw_action mw_filter_group_action(const struct mw_lists *l, const struct mw_group_conf *g,
                                      uint16_t list, enum mw_action fallback);
enum mw_filter_result mw_filter_qname_in(const struct mw_lists *l, const struct mw_config *cfg,
                                         const struct mw_group_conf *g,
                                         const struct mw_dns_question *q, struct mw_verdict *v);
enum mw_filter_result mw_filter_answer_in(const struct mw_lists *l, const struct mw_config *cfg,
                                          const struct mw_group_conf *g, const uint8_t *pkt,
                                          size_t len, struct mw_verdict *v);
enum mw_filter_result mw_filter_response_in(const struct mw_lists *l, const struct mw_config *cfg,
                                            const struct mw_group_conf *g,
                                            const struct mw_dns_question *q, const uint8_t *pkt,
                                            size_t len, struct mw_verdict *v);
enum mw_filter_result mw_filter_explain_in(const struct mw_lists *l, const struct mw_group_conf *g,
                                           const struct mw_dns_question *q, struct mw_verdict *v);
enum mw_filter_result mw_filter_explain_addr_in(const struct mw_lists *l,
                                                const struct mw_group_conf *g, int family,
                                                const uint8_t *addr, struct mw_verdict *v);
enum mw_filter_result mw_filter_explain_asn_in(const struct mw_lists *l,
                                               const struct mw_group_conf *g, uint32_t asn,
                                               struct mw_verdict *v);

/* The rule text of a verdict, formatted on first use. rule_wire points into the query name
 * given to mw_filter_qname, which must still be valid. */
const char *mw_verdict_rule_text(struct mw_verdict *v);

/* Check a query name (lowercase wire). */
enum mw_filter_result mw_filter_qname(const struct mw_lists *l, const struct mw_config *cfg,
                                      const struct mw_dns_question *q, struct mw_verdict *v);

/* As mw_filter_qname, for --explain: also fills rule and rule_text when an allow rule
 * matches. */
enum mw_filter_result mw_filter_explain(const struct mw_lists *l, const struct mw_dns_question *q,
                                        struct mw_verdict *v);

/* --explain for an address: the deciding IP rule (longest prefix, allow at equal length), else
 * with a geoip ASN database the rule for the address's AS number. Fills v for allow rules
 * too. */
enum mw_filter_result mw_filter_explain_addr(const struct mw_lists *l, int family,
                                             const uint8_t *addr, struct mw_verdict *v);

/* --explain for an AS number: the AS rules alone (allow wins). */
enum mw_filter_result mw_filter_explain_asn(const struct mw_lists *l, uint32_t asn,
                                            struct mw_verdict *v);

/* Check the records of a prepared upstream response: CNAME/DNAME targets and A/AAAA addresses
 * (and their AS numbers) in every section, SVCB/HTTPS targets and address hints, and the owner
 * names of the answer and additional sections except the question name, which is the caller's
 * to check. No depth limit. With cfg (may be NULL: no guard) the same walk runs the rebinding
 * guard (detect.rebinding) over the A/AAAA addresses and SVCB/HTTPS ipv4hint/ipv6hint of the
 * answer and additional sections that no IP or AS rule matched: a guarded address class for a
 * public question name (regdom.h) whose question and owner are under no internal zone gives a
 * verdict with rule.list MW_LIST_DETECT + MW_DETECT_REBINDING, the detector's action, where
 * answer-ip, rule_text "rebinding:<class>" and the address in matched. */
enum mw_filter_result mw_filter_answer(const struct mw_lists *l, const struct mw_config *cfg,
                                       const uint8_t *pkt, size_t len, struct mw_verdict *v);

/* The verdict on a response for q under the lists in force now: the question name (an allow
 * rule ends the check, a block rule other than monitor-mode decides), then the records as
 * mw_filter_answer. For answers whose question was checked under an older generation: a fetch
 * that was in flight across a reload, or a stale answer served when every upstream failed. A
 * question-name block leaves rule_wire pointing into q. */
enum mw_filter_result mw_filter_response(const struct mw_lists *l, const struct mw_config *cfg,
                                         const struct mw_dns_question *q, const uint8_t *pkt,
                                         size_t len, struct mw_verdict *v);
