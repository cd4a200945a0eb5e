/* cons_crossval.c -- Atoma's Cross-Validation. One executor (member 0)
 * answers; with probability p, from the beacon's spot check, n verifiers
 * re-run the hop too. The executor's output settles when every checker
 * that answered agrees with it and at least check_answers of them did; a
 * disagreement goes to the referee after dispute_ns. */
#include "consensus/cons_int.h"
#include "util/assert.h"

/* The executor, plus its verifiers when the spot check picks the hop. */
static uint32_t crossval_draw_size(const cons_params *params,
                                   const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment)
{
    ASSERT(params->check_probability >= 0.0 && params->check_probability <= 1.0);
    uint32_t size = cons_spot_check(beacon, segment, params->check_probability)
                        ? 1 + params->verifiers : 1;
    ASSERT(size <= cons__members_checkers(params));
    return size;
}

/* A checked hop whose executor answered but fewer than check_answers of
 * its checkers did (every checker drawn, when a small pool drew fewer):
 * it was not checked, so the executor's output does not settle on its
 * own. A fresh round, the silent checkers timed out. */
static bool crossval_unchecked(const cons_tally *tally, cons_decision *out)
{
    uint64_t valid = cons__valid(tally);
    uint64_t checkers = cons_members_all(tally->member_count) & ~1u;
    uint32_t drawn = (uint32_t)__builtin_popcountll(checkers);
    uint32_t needed = tally->params->check_answers < drawn ? tally->params->check_answers : drawn;
    if (checkers == 0 || !(valid & 1u) ||
        (uint32_t)__builtin_popcountll(valid & checkers) >= needed) {
        return false;
    }
    cons__round(out, tally, checkers & ~valid, 0, 0);
    out->revealed = valid;
    return true;
}

static void crossval_decide(const cons_tally *tally, cons_decision *out)
{
    ASSERT(tally->member_count <= cons__members_checkers(tally->params));
    if (tally->dispute == CONS_DISPUTE_REFEREE) {
        cons__decide_referee(tally, out);
        return;
    }
    if (!crossval_unchecked(tally, out)) {
        cons__decide_executor(tally, tally->params->dispute_ns, out);
    }
}

/* A Byzantine executor whose hop no honest checker re-runs: the spot
 * check did not fire, or every checker drawn is Byzantine too. */
static bool crossval_captured(const cons_params *params, uint64_t byzantine, uint32_t drawn)
{
    (void)params;
    return (byzantine & 1u) != 0 && byzantine == cons_members_all(drawn);
}

/* The executor Byzantine (malicious / pool), then unchecked: 1 - p, or
 * checked by n checkers all drawn from the Byzantine others,
 * C(malicious - 1, n) / C(pool - 1, n). Unconditional on the spot check,
 * so 'drawn' (which tells whether it fired) is not used. */
static double crossval_capture_probability(const cons_params *params, uint32_t pool,
                                           uint32_t malicious, uint32_t drawn)
{
    (void)drawn;
    ASSERT(malicious <= pool);
    if (malicious == 0) {
        return 0.0;
    }
    uint32_t others = pool - 1;
    uint32_t n = params->verifiers < others ? params->verifiers : others;
    double p = params->check_probability;
    double unwatched = (1.0 - p) + p * cons_sampling_capture(others, malicious - 1, n);
    return (double)malicious / (double)pool * unwatched;
}

const cons_protocol_ops cons__crossval_ops = {
    .name = "crossval",
    .doc = "one executor, re-checked by n verifiers with probability p; referee on a dispute",
    .vote_bytes = CONS_DIGEST_BYTES,
    .members_max = cons__members_checkers,
    .draw_size = crossval_draw_size,
    .commit_reveal = cons__commit_reveal,
    .evidence_bytes = cons__evidence_none,
    .vote = cons__vote_commitment,
    .open = cons__open_commitment,
    .reveal_ask = cons__ask_committed,
    .settle_hold = cons__hold_none,
    .decide = crossval_decide,
    .check_invariants = cons__check_executor,
    .referee = true,
    .exposure_members = cons__exposure_checkers,
    .captured = crossval_captured,
    .capture_probability = crossval_capture_probability,
};
