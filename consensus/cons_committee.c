/* cons_committee.c -- Nesa-style committee verification. k members drawn
 * by stake x reputation commit H(output | salt | member), reveal, and the
 * output backed by a quorum of members under the segment's agreement rule
 * is accepted; the others are provably wrong, members that gave nothing
 * valid time out. No quorum: a fresh committee. */
#include "consensus/cons_int.h"
#include "util/assert.h"

/* The output backed by a quorum (the driver's accept rule). With no quorum
 * only the members that gave nothing valid are judged. */
static void committee_decide(const cons_tally *tally, cons_decision *out)
{
    ASSERT(tally->accept != NULL);
    ASSERT(tally->outputs != NULL);
    uint64_t valid = cons__valid(tally);
    const float *outputs[CONS_COMMITTEE_MAX];
    uint32_t index_of[CONS_COMMITTEE_MAX];
    uint32_t count = 0;
    for (uint32_t j = 0; j < tally->member_count; j++) {
        if ((valid >> j) & 1u) {
            index_of[count] = j;
            outputs[count++] = tally->outputs[j];
        }
    }
    uint32_t accepted = 0;
    uint64_t mask = 0;
    int rc = count == 0 ? -1
                        : tally->accept(tally->context, tally->last_segment, outputs,
                                        tally->n_floats, count, &accepted, &mask);
    uint64_t all = cons_members_all(tally->member_count);
    if (rc != 0) {
        cons__round(out, tally, all & ~valid, 0, tally->equivocated);
        out->revealed = valid;
        return;
    }
    ASSERT(accepted < count);
    uint64_t agree = 0;
    for (uint32_t i = 0; i < count; i++) {
        agree |= ((mask >> i) & 1u) << index_of[i];
    }
    ASSERT((agree & ~valid) == 0); /* Only valid outputs vote. */
    cons__settle(out, tally, index_of[accepted], all, agree,
                 tally->equivocated | (valid & ~agree));
    out->revealed = valid;
}

/* Beyond the common ones: no dispute ever opens. */
static const char *committee_check_invariants(const cons_tally *tally)
{
    ASSERT(tally != NULL);
    ASSERT(tally->params != NULL);
    const char *broken = cons__check_common(tally);
    if (broken != NULL) {
        return broken;
    }
    if (tally->dispute != CONS_DISPUTE_NONE) {
        return "committee_no_dispute";
    }
    if (tally->params->commit_reveal && (tally->asked & ~tally->committed) != 0) {
        return "asked_implies_committed";
    }
    return NULL;
}

/* A quorum of Byzantine members accepts their output. */
static bool committee_captured(const cons_params *params, uint64_t byzantine, uint32_t drawn)
{
    (void)drawn;
    return (uint32_t)__builtin_popcountll(byzantine) >= params->quorum;
}

static double committee_capture_probability(const cons_params *params, uint32_t pool,
                                            uint32_t malicious, uint32_t drawn)
{
    return cons_capture_probability(pool, malicious, drawn, params->quorum);
}

const cons_protocol_ops cons__committee_ops = {
    .name = "committee",
    .doc = "k members by stake x reputation; a quorum under the agreement rule",
    .vote_bytes = CONS_DIGEST_BYTES,
    .members_max = cons__members_committee,
    .draw_size = cons__draw_committee,
    .commit_reveal = cons__commit_reveal,
    .evidence_bytes = cons__evidence_none,
    .vote = cons__vote_commitment,
    .open = cons__open_commitment,
    .reveal_ask = cons__ask_committed,
    .settle_hold = cons__hold_none,
    .decide = committee_decide,
    .check_invariants = committee_check_invariants,
    .captured = committee_captured,
    .capture_probability = committee_capture_probability,
};
