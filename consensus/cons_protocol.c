/* cons_protocol.c -- the table of verification protocols (built in, then
 * registered by tests) and what several protocols share. The name of each
 * protocol lives in its own file's operation table; scenarios look names up
 * here. The only mutable state is the registered slots, written before a
 * run starts. */
#include <string.h>

#include "consensus/cons_int.h"
#include "util/assert.h"
#include "util/hash.h"

static const cons_protocol_ops protocol_none = {
    .name = "none",
    .doc = "one server per segment, trusted",
};

static const cons_protocol_ops *protocol_table[CONS_PROTOCOLS_MAX] = {
    [CONS_PROTOCOL_NONE] = &protocol_none,
    [CONS_PROTOCOL_COMMITTEE] = &cons__committee_ops,
    [CONS_PROTOCOL_SAMPLING] = &cons__sampling_ops,
    [CONS_PROTOCOL_CROSSVAL] = &cons__crossval_ops,
    [CONS_PROTOCOL_OPTIMISTIC] = &cons__optimistic_ops,
    [CONS_PROTOCOL_TEE] = &cons__tee_ops,
    [CONS_PROTOCOL_ZK] = &cons__zk_ops,
};
static uint32_t protocol_count = CONS_PROTOCOL_BUILTIN;

_Static_assert(CONS_PROTOCOL_BUILTIN <= CONS_PROTOCOLS_MAX, "room for the built-ins");
_Static_assert(CONS_COMMITTEE_MAX <= 64, "a member is one bit of a mask");

const cons_protocol_ops *cons_protocol_get(cons_protocol protocol)
{
    ASSERT((uint32_t)protocol < protocol_count);
    ASSERT(protocol_table[protocol] != NULL);
    return protocol == CONS_PROTOCOL_NONE ? NULL : protocol_table[protocol];
}

const char *cons_protocol_name(cons_protocol protocol)
{
    ASSERT((uint32_t)protocol < protocol_count);
    ASSERT(protocol_table[protocol]->name != NULL);
    return protocol_table[protocol]->name;
}

uint32_t cons_protocol_count(void)
{
    return protocol_count;
}

int cons_protocol_find(const char *name, cons_protocol *out)
{
    ASSERT(out != NULL);
    for (uint32_t i = 0; name != NULL && i < protocol_count; i++) {
        if (strcmp(protocol_table[i]->name, name) == 0) {
            *out = (cons_protocol)i;
            return 0;
        }
    }
    return CONS_EINVAL;
}

int cons_protocol_register(const cons_protocol_ops *ops)
{
    ASSERT(ops != NULL);
    cons_protocol taken;
    if (protocol_count >= CONS_PROTOCOLS_MAX || ops->name == NULL ||
        cons_protocol_find(ops->name, &taken) == 0 || ops->members_max == NULL ||
        ops->draw_size == NULL || ops->commit_reveal == NULL || ops->evidence_bytes == NULL ||
        ops->vote == NULL || ops->open == NULL || ops->reveal_ask == NULL ||
        ops->settle_hold == NULL || ops->decide == NULL || ops->check_invariants == NULL ||
        ops->vote_bytes == 0 || ops->vote_bytes > CONS_VOTE_MAX) {
        return CONS_EINVAL;
    }
    protocol_table[protocol_count] = ops;
    return (int)protocol_count++;
}

cons_verdict cons_decision_verdict(const cons_decision *decision, uint64_t answered,
                                   uint32_t member)
{
    ASSERT(decision != NULL);
    ASSERT(member < CONS_COMMITTEE_MAX);
    return ((decision->agreed >> member) & 1u)   ? CONS_VERDICT_AGREED
           : ((decision->proven >> member) & 1u) ? CONS_VERDICT_PROVEN
           : ((answered >> member) & 1u)         ? CONS_VERDICT_DEVIATED
                                                 : CONS_VERDICT_TIMEOUT;
}

uint64_t cons_members_all(uint32_t member_count)
{
    return member_count >= 64 ? UINT64_MAX : (UINT64_C(1) << member_count) - 1;
}

/* ---- shared operations ---- */

uint32_t cons__members_committee(const cons_params *params)
{
    ASSERT(params->committee >= 1 && params->committee <= CONS_COMMITTEE_MAX);
    return params->committee;
}

uint32_t cons__draw_committee(const cons_params *params, const uint8_t beacon[CONS_BEACON_BYTES],
                              uint32_t segment)
{
    (void)beacon;
    (void)segment;
    ASSERT(params != NULL);
    uint32_t size = cons__members_committee(params);
    ASSERT(size >= 1 && size <= CONS_COMMITTEE_MAX);
    return size;
}

uint32_t cons__members_checkers(const cons_params *params)
{
    ASSERT(params->verifiers < CONS_COMMITTEE_MAX);
    return 1 + params->verifiers;
}

uint32_t cons__exposure_checkers(const cons_params *params)
{
    ASSERT(params->verifiers < CONS_COMMITTEE_MAX);
    return params->verifiers;
}

bool cons__commit_reveal(const cons_params *params)
{
    ASSERT(params != NULL);
    return params->commit_reveal;
}

uint32_t cons__evidence_none(const cons_params *params)
{
    ASSERT(params != NULL);
    return 0;
}

bool cons__hold_none(const cons_params *params, uint64_t *delay_ns_out)
{
    ASSERT(params != NULL);
    ASSERT(delay_ns_out != NULL);
    *delay_ns_out = 0;
    return false;
}

void cons__vote_commitment(const cons_vote_input *input, uint8_t *vote_out)
{
    ASSERT(input->member < input->member_count);
    cons_commit_member(input->bytes, input->size, input->salt, input->member_id, vote_out);
}

uint64_t cons__open_commitment(const cons_opening *opening)
{
    ASSERT(opening->member < opening->member_count);
    uint64_t bit = UINT64_C(1) << opening->member;
    if (!opening->commit_reveal) {
        return bit;
    }
    uint8_t digest[CONS_DIGEST_BYTES];
    cons_commit_member(opening->bytes, opening->size, opening->salt, opening->member_id, digest);
    const uint8_t *vote = opening->votes + (size_t)opening->member * CONS_VOTE_MAX;
    bool opens = (opening->committed & bit) != 0 && memcmp(digest, vote, sizeof(digest)) == 0;
    return opens ? bit : 0;
}

uint64_t cons__ask_committed(const cons_tally *tally)
{
    uint64_t ask = tally->committed & ~tally->answered;
    ASSERT((ask & ~cons_members_all(tally->member_count)) == 0);
    return ask;
}

uint64_t cons__valid(const cons_tally *tally)
{
    uint64_t valid = tally->revealed & ~tally->equivocated;
    ASSERT((valid & ~tally->answered) == 0);
    return valid;
}

void cons__settle(cons_decision *out, const cons_tally *tally, uint32_t member,
                  uint64_t judged, uint64_t agreed, uint64_t proven)
{
    ASSERT(member < tally->member_count);
    ASSERT((judged & ~cons_members_all(tally->member_count)) == 0);
    *out = (cons_decision){.action = CONS_ACTION_SETTLE, .member = member, .judged = judged,
                           .agreed = agreed, .proven = proven, .dispute = tally->dispute,
                           .revealed = tally->revealed};
}

void cons__round(cons_decision *out, const cons_tally *tally, uint64_t judged,
                 uint64_t agreed, uint64_t proven)
{
    ASSERT((judged & ~cons_members_all(tally->member_count)) == 0);
    *out = (cons_decision){.action = CONS_ACTION_ROUND, .judged = judged, .agreed = agreed,
                           .proven = proven, .dispute = tally->dispute,
                           .revealed = tally->revealed};
}

void cons__dispute(cons_decision *out, const cons_tally *tally, uint64_t delay_ns)
{
    ASSERT(tally->dispute != CONS_DISPUTE_REFEREE); /* One referee per step. */
    *out = (cons_decision){.action = CONS_ACTION_DISPUTE, .dispute = CONS_DISPUTE_REFEREE,
                           .delay_ns = delay_ns, .revealed = tally->revealed};
}

void cons__decide_referee(const cons_tally *tally, cons_decision *out)
{
    ASSERT(tally->dispute == CONS_DISPUTE_REFEREE);
    uint64_t agree = tally->referee_agree;
    ASSERT((agree & ~cons__valid(tally)) == 0); /* The referee rules on valid outputs. */
    uint64_t all = cons_members_all(tally->member_count);
    if (agree == 0) {
        cons__round(out, tally, all, 0, tally->answered);
    } else {
        cons__settle(out, tally, (uint32_t)__builtin_ctzll(agree), all, agree,
                     tally->answered & ~agree);
    }
    out->revealed = cons__valid(tally);
}

const char *cons__check_common(const cons_tally *tally)
{
    ASSERT(tally != NULL);
    ASSERT(tally->params != NULL);
    if (tally->member_count < 1 || tally->member_count > CONS_COMMITTEE_MAX) {
        return "member_count_in_range";
    }
    uint64_t outside = ~cons_members_all(tally->member_count);
    const uint64_t masks[] = {tally->committed, tally->revealed, tally->answered,
                              tally->equivocated, tally->asked, tally->vote_agree};
    static const char *const names[] = {"committed_within_committee", "revealed_within_committee",
                                        "answered_within_committee", "equivocated_within_committee",
                                        "asked_within_committee", "vote_agree_within_committee"};
    for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
        if ((masks[i] & outside) != 0) {
            return names[i];
        }
    }
    if ((tally->revealed & ~tally->answered) != 0) {
        return "revealed_implies_answered";
    }
    if ((tally->equivocated & ~tally->committed) != 0) {
        return "equivocated_implies_committed";
    }
    if (tally->phase > CONS_PHASE_HOLD) {
        return "phase_known";
    }
    if (tally->dispute > CONS_DISPUTE_REFEREE) {
        return "dispute_known";
    }
    if (tally->dispute == CONS_DISPUTE_REFEREE &&
        (tally->phase == CONS_PHASE_COMMIT || tally->phase == CONS_PHASE_REVEAL)) {
        return "referee_holds";
    }
    return NULL;
}

void cons__decide_executor(const cons_tally *tally, uint64_t dispute_delay_ns,
                           cons_decision *out)
{
    ASSERT(tally->agree != NULL);
    ASSERT(tally->dispute == CONS_DISPUTE_NONE);
    uint64_t valid = cons__valid(tally);
    uint64_t all = cons_members_all(tally->member_count);
    if (!(valid & 1u)) {
        cons__round(out, tally, 1u, 0, tally->answered & 1u);
        out->revealed = valid;
        return;
    }
    uint64_t agree = 0;
    for (uint32_t j = 0; j < tally->member_count; j++) {
        if ((valid >> j) & 1u) {
            bool same = tally->agree(tally->context, tally->last_segment, tally->outputs[0],
                                     tally->outputs[j], tally->n_floats);
            agree |= (uint64_t)same << j;
        }
    }
    if ((tally->answered & ~agree) != 0) {
        cons__dispute(out, tally, dispute_delay_ns);
    } else {
        cons__settle(out, tally, 0, all, agree, 0);
    }
    out->revealed = valid;
}

const char *cons__check_executor(const cons_tally *tally)
{
    ASSERT(tally != NULL);
    ASSERT(tally->params != NULL);
    const char *broken = cons__check_common(tally);
    if (broken != NULL) {
        return broken;
    }
    if (tally->dispute == CONS_DISPUTE_REVEALS) {
        return "executor_no_reveal_dispute";
    }
    if (!tally->params->commit_reveal && tally->asked != cons_members_all(tally->member_count)) {
        return "everyone_asked_at_once";
    }
    return NULL;
}

void cons__decide_single(const cons_tally *tally, cons_decision *out)
{
    ASSERT(tally->dispute == CONS_DISPUTE_NONE);
    uint64_t valid = tally->revealed & 1u;
    if (!valid) {
        cons__round(out, tally, 1u, 0, tally->answered & 1u);
        return;
    }
    cons__settle(out, tally, 0, 1u, 1u, 0);
}

const char *cons__check_single(const cons_tally *tally)
{
    ASSERT(tally != NULL);
    ASSERT(tally->params != NULL);
    const char *broken = cons__check_common(tally);
    if (broken != NULL) {
        return broken;
    }
    if (tally->dispute != CONS_DISPUTE_NONE) {
        return "single_no_dispute";
    }
    if (tally->member_count != 1) {
        return "single_one_executor";
    }
    return NULL;
}
