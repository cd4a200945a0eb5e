/* cons_sampling.c -- Atoma's Sampling Consensus. n members of one hardware
 * echelon, drawn uniformly, each commit [root, leaf] with leaf_i =
 * H(O | i) and root = H(leaf_0 .. leaf_n-1) over their output O; the client
 * asks one member for O and settles when O opens every vote. A member that
 * does not commit is replaced (a fresh round); any other mismatch is a
 * dispute: every member reveals, then the referee rules. */
#include <string.h>

#include "consensus/cons_int.h"
#include "util/assert.h"
#include "util/hash.h"

void cons_sampling_leaves(const void *bytes, size_t size, uint32_t n,
                          uint8_t leaves[][CONS_DIGEST_BYTES], uint8_t root[CONS_DIGEST_BYTES])
{
    static const uint8_t zero[CONS_SALT_BYTES];
    ASSERT(n >= 1 && n <= CONS_COMMITTEE_MAX);
    ASSERT(leaves != NULL && root != NULL);
    for (uint32_t j = 0; j < n; j++) {
        cons_commit_member(bytes, size, zero, j, leaves[j]);
    }
    util_hash256(leaves, (size_t)n * CONS_DIGEST_BYTES, root);
}

/* [root, leaf_member] over the n members of its committee. */
static void sampling_vote(const cons_vote_input *input, uint8_t *vote_out)
{
    uint8_t leaves[CONS_COMMITTEE_MAX][CONS_DIGEST_BYTES];
    ASSERT(input->member < input->member_count);
    cons_sampling_leaves(input->bytes, input->size, input->member_count, leaves, vote_out);
    memcpy(vote_out + CONS_DIGEST_BYTES, leaves[input->member], CONS_DIGEST_BYTES);
}

/* The one output checked against every committed vote (with or without a
 * commit phase: the vote is the protocol). Safe on peer bytes. */
static uint64_t sampling_open(const cons_opening *opening)
{
    uint8_t leaves[CONS_COMMITTEE_MAX][CONS_DIGEST_BYTES];
    uint8_t root[CONS_DIGEST_BYTES];
    ASSERT(opening->member < opening->member_count);
    cons_sampling_leaves(opening->bytes, opening->size, opening->member_count, leaves, root);
    uint64_t agree = 0;
    for (uint32_t j = 0; j < opening->member_count; j++) {
        const uint8_t *vote = opening->votes + (size_t)j * CONS_VOTE_MAX;
        bool opens = ((opening->committed >> j) & 1u) &&
                     memcmp(vote, root, CONS_DIGEST_BYTES) == 0 &&
                     memcmp(vote + CONS_DIGEST_BYTES, leaves[j], CONS_DIGEST_BYTES) == 0;
        agree |= (uint64_t)opens << j;
    }
    return agree;
}

/* The first ask goes to one member (the lowest that committed); in a
 * dispute every member that committed reveals. */
static uint64_t sampling_reveal_ask(const cons_tally *tally)
{
    uint64_t ask = cons__ask_committed(tally);
    if (tally->dispute == CONS_DISPUTE_NONE) {
        ask &= ~ask + 1;
    }
    ASSERT(__builtin_popcountll(ask) <= 1 || tally->dispute != CONS_DISPUTE_NONE);
    return ask;
}

static void sampling_decide(const cons_tally *tally, cons_decision *out)
{
    uint64_t all = cons_members_all(tally->member_count);
    if (tally->dispute == CONS_DISPUTE_REFEREE) {
        cons__decide_referee(tally, out);
        return;
    }
    if (tally->dispute == CONS_DISPUTE_REVEALS) {
        cons__dispute(out, tally, tally->params->dispute_ns);
        return;
    }
    if (tally->committed != all) {
        cons__round(out, tally, all & ~tally->committed, 0, 0);
        return;
    }
    uint64_t opener = tally->revealed & tally->asked & ~tally->equivocated;
    if (opener != 0 && tally->vote_agree == all && tally->equivocated == 0) {
        cons__settle(out, tally, (uint32_t)__builtin_ctzll(opener), all, all, 0);
        return;
    }
    *out = (cons_decision){.action = CONS_ACTION_REVEAL,
                           .ask = tally->committed & ~tally->answered,
                           .dispute = CONS_DISPUTE_REVEALS,
                           .revealed = tally->revealed};
    ASSERT((out->ask & ~all) == 0);
}

/* Beyond the common ones: a vote opened only if it was committed; before a
 * dispute, under commit-reveal, at most one member is asked. */
static const char *sampling_check_invariants(const cons_tally *tally)
{
    ASSERT(tally != NULL);
    ASSERT(tally->params != NULL);
    const char *broken = cons__check_common(tally);
    if (broken != NULL) {
        return broken;
    }
    if ((tally->vote_agree & ~tally->committed) != 0) {
        return "vote_agree_implies_committed";
    }
    if (tally->params->commit_reveal && tally->dispute == CONS_DISPUTE_NONE &&
        __builtin_popcountll(tally->asked) > 1) {
        return "one_asked_first";
    }
    return NULL;
}

/* Only the echelon's class, when the scenario names one. */
static bool sampling_eligible(const cons_params *params, const cons_server_class *server)
{
    ASSERT(server != NULL);
    return params->echelon < 0 || server->index == (uint32_t)params->echelon;
}

/* Unanimity: only a sample all of Byzantine members settles their output. */
static bool sampling_captured(const cons_params *params, uint64_t byzantine, uint32_t drawn)
{
    (void)params;
    return byzantine == cons_members_all(drawn);
}

static double sampling_capture_probability(const cons_params *params, uint32_t pool,
                                           uint32_t malicious, uint32_t drawn)
{
    (void)params;
    return cons_sampling_capture(pool, malicious, drawn);
}

const cons_protocol_ops cons__sampling_ops = {
    .name = "sampling",
    .doc = "n members of one echelon; unanimity over [root, leaf] votes; referee on a dispute",
    .vote_bytes = CONS_VOTE_MAX,
    .members_max = cons__members_committee,
    .draw_size = cons__draw_committee,
    .commit_reveal = cons__commit_reveal,
    .evidence_bytes = cons__evidence_none,
    .vote = sampling_vote,
    .open = sampling_open,
    .reveal_ask = sampling_reveal_ask,
    .settle_hold = cons__hold_none,
    .decide = sampling_decide,
    .check_invariants = sampling_check_invariants,
    .uniform_draw = true,
    .referee = true,
    .eligible = sampling_eligible,
    .captured = sampling_captured,
    .capture_probability = sampling_capture_probability,
};
