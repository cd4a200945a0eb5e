/* cons_zk.c -- a zero-knowledge proof of the hop, as a cost model: the
 * executor's prover costs a factor of its FLOPs, the proof has proof_bytes
 * and the client spends zk_verify_ns checking it. The proof verifies only
 * for the honest computation: its first byte stands for the verifier's
 * verdict, the rest for its size. */
#include "consensus/cons_int.h"
#include "util/assert.h"

static uint32_t zk_evidence_bytes(const cons_params *params)
{
    return params->proof_bytes;
}

static void zk_evidence(const cons_evidence_input *input, uint8_t *evidence_out)
{
    ASSERT(evidence_out != NULL);
    ASSERT(input != NULL);
    evidence_out[0] = input->cheated ? 0 : 1;
}

/* Safe on peer bytes: a missing proof never verifies. */
static bool zk_evidence_verify(const cons_evidence_check *check)
{
    ASSERT(check->evidence != NULL || check->evidence_bytes == 0);
    return check->evidence_bytes != 0 && check->evidence[0] == 1;
}

/* The client checks the proof before it decides. */
static bool zk_settle_hold(const cons_params *params, uint64_t *delay_ns_out)
{
    ASSERT(params != NULL);
    ASSERT(delay_ns_out != NULL);
    *delay_ns_out = params->zk_verify_ns;
    return true;
}

/* The prover's FLOPs per FLOP of the hop. */
static double zk_prover_factor(const cons_params *params)
{
    ASSERT(params->zk_prover_factor >= 0.0);
    return params->zk_prover_factor;
}

const cons_protocol_ops cons__zk_ops = {
    .name = "zk",
    .doc = "one executor with a proof (a cost model)",
    .vote_bytes = CONS_DIGEST_BYTES,
    .members_max = cons__members_committee,
    .draw_size = cons__draw_committee,
    .commit_reveal = cons__commit_reveal,
    .evidence_bytes = zk_evidence_bytes,
    .vote = cons__vote_commitment,
    .open = cons__open_commitment,
    .evidence = zk_evidence,
    .evidence_verify = zk_evidence_verify,
    .reveal_ask = cons__ask_committed,
    .settle_hold = zk_settle_hold,
    .decide = cons__decide_single,
    .check_invariants = cons__check_single,
    .prover_factor = zk_prover_factor,
};
