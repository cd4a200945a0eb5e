/* cons_tee.c -- a trusted execution environment. One executor of a
 * TEE-capable class runs the hop in an enclave that attests its output
 * bytes and the hash of the model it runs, under the vendor's key; a valid
 * attestation settles. Output tampered with after the enclave carries an
 * attestation of other bytes; a compromised enclave attests anything. */
#include "consensus/cons_int.h"
#include "util/assert.h"

static uint32_t tee_evidence_bytes(const cons_params *params)
{
    (void)params;
    return CONS_ATTEST_BYTES;
}

/* The enclave attests what it computed; tampered output (not forged)
 * reveals other bytes than the attested ones. */
static void tee_evidence(const cons_evidence_input *input, uint8_t *evidence_out)
{
    ASSERT(input->attest != NULL);
    ASSERT(evidence_out != NULL);
    bool honest = input->cheated && !input->forged;
    input->attest(input->context, input->right_model, honest ? input->honest : input->bytes,
                  honest ? input->honest_size : input->size, evidence_out);
}

static bool tee_evidence_verify(const cons_evidence_check *check)
{
    ASSERT(check->attest_verify != NULL);
    ASSERT(check->evidence_bytes == CONS_ATTEST_BYTES);
    return check->attest_verify(check->context, check->bytes, check->size, check->evidence);
}

/* Only classes with an enclave. */
static bool tee_eligible(const cons_params *params, const cons_server_class *server)
{
    (void)params;
    ASSERT(server != NULL);
    return server->tee;
}

/* The enclave slows the executor's compute by the scenario's overhead. */
static double tee_time_overhead(const cons_params *params)
{
    ASSERT(params->tee_overhead >= 0.0);
    return params->tee_overhead;
}

const cons_protocol_ops cons__tee_ops = {
    .name = "tee",
    .doc = "one attested executor of a TEE-capable class",
    .vote_bytes = CONS_DIGEST_BYTES,
    .members_max = cons__members_committee,
    .draw_size = cons__draw_committee,
    .commit_reveal = cons__commit_reveal,
    .evidence_bytes = tee_evidence_bytes,
    .vote = cons__vote_commitment,
    .open = cons__open_commitment,
    .evidence = tee_evidence,
    .evidence_verify = tee_evidence_verify,
    .reveal_ask = cons__ask_committed,
    .settle_hold = cons__hold_none,
    .decide = cons__decide_single,
    .check_invariants = cons__check_single,
    .eligible = tee_eligible,
    .time_overhead = tee_time_overhead,
};
