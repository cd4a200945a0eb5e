/* cons_optimistic.c -- optimistic verification. One executor (member 0)
 * and n challengers that re-run the hop; any challenge is a dispute, which
 * the bisection game narrows to one layer before the referee rules: one
 * round per halving of the segments, then of the disputed segment's
 * layers. */
#include "consensus/cons_int.h"
#include "util/assert.h"

static uint32_t optimistic_draw_size(const cons_params *params,
                                     const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment)
{
    (void)beacon;
    (void)segment;
    ASSERT(params != NULL);
    uint32_t size = cons__members_checkers(params);
    ASSERT(size >= 1 && size <= CONS_COMMITTEE_MAX);
    return size;
}

/* ceil(log2(segments)) + ceil(log2(layers)) rounds, at least one. */
static uint64_t optimistic_bisection_ns(const cons_tally *tally)
{
    ASSERT(tally->segment_count >= 1);
    uint32_t rounds = 0;
    for (uint32_t span = 1; span < tally->segment_count; span *= 2) {
        rounds++;
    }
    for (uint32_t span = 1; span < tally->segment_layers; span *= 2) {
        rounds++;
    }
    ASSERT(rounds < 64);
    return (uint64_t)(rounds > 0 ? rounds : 1) * tally->params->bisection_round_ns;
}

static void optimistic_decide(const cons_tally *tally, cons_decision *out)
{
    ASSERT(tally->member_count <= cons__members_checkers(tally->params));
    if (tally->dispute == CONS_DISPUTE_REFEREE) {
        cons__decide_referee(tally, out);
        return;
    }
    cons__decide_executor(tally, optimistic_bisection_ns(tally), out);
}

const cons_protocol_ops cons__optimistic_ops = {
    .name = "optimistic",
    .doc = "one executor and n challengers; bisection to one layer, then the referee",
    .vote_bytes = CONS_DIGEST_BYTES,
    .members_max = cons__members_checkers,
    .draw_size = optimistic_draw_size,
    .commit_reveal = cons__commit_reveal,
    .evidence_bytes = cons__evidence_none,
    .vote = cons__vote_commitment,
    .open = cons__open_commitment,
    .reveal_ask = cons__ask_committed,
    .settle_hold = cons__hold_none,
    .decide = optimistic_decide,
    .check_invariants = cons__check_executor,
    .referee = true,
    .referee_bisects = true,
    .exposure_members = cons__exposure_checkers,
};
