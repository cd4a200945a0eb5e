/* test_verify.c -- the verification protocols end to end in the simulator
 * (world/world_verify.c driving node/committee.c): sampling's unanimity, disputes
 * and resamples; cross-validation's spot checks; optimistic finality and
 * bisection; TEE attestation and a forged one; the zk cost model; the
 * economics (balances conserve money) and the rational adversary; a toy
 * protocol registered by the test itself, and the node's invariant check
 * stopping a run whose protocol invariant breaks; failure detection
 * (suspect_after) against crashed and slow members; a cartel that agrees
 * by messages, its targeted token, and a partition that splits it. Each
 * safety property is also broken on purpose, and the checker must fire. */
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/scn.h"
#include "sim/sim.h"
#include "consensus/cons.h"
#include "tests/suites.h"
#include "util/hash.h"
#include "util/stats.h"

/* 80 nodes of identical hardware, half with a TEE; ids 0..39 are the
 * "enclave" class (classes are apportioned in order). */
static const char verify_yaml[] =
    "name: verify\n"
    "seed: 5\n"
    "duration: 40s\n"
    "network: {latency: {model: uniform, min: 5ms, max: 20ms}}\n"
    "nodes:\n"
    "  count: 80\n"
    "  classes:\n"
    "    - {name: enclave, fraction: 0.5, flops: 50TFLOPS, kernel: blocked, tee: true}\n"
    "    - {name: plain, fraction: 0.5, flops: 50TFLOPS, kernel: blocked}\n"
    "model:\n"
    "  shape: {dim: 32, hidden_dim: 64, layers: 4, heads: 4, vocab: 128, seq_len: 64}\n"
    "  segments: 2\n"
    "  kv_slots: 16\n"
    "verification: {protocol: committee, stake: 10, slash: 0.5, fee_per_token: 0.01}\n"
    "workload: {requests: 30, rate: 4/s, prompt_tokens: [6, 10], generate: 3}\n"
    "output: {sample_interval: 0}\n";

static world_result *verify_run(const char *const *overrides, size_t count)
{
    return test_sim_run_yaml("verify.yaml", verify_yaml, overrides, count, 0);
}

static double verify_metric(const world_result *result, const char *name)
{
    double value = NAN;
    ck_assert_int_eq(world_result_metric(result, name, &value), 0);
    return value;
}

static bool verify_has_violation(const world_result *result, world_violation_kind kind)
{
    for (uint64_t i = 0; i < result->violation_count; i++) {
        if (result->violations[i].kind == kind) {
            return true;
        }
    }
    return false;
}

/* Every protocol finishes the honest workload, accepts nothing wrong,
 * penalises nobody, and is deterministic. */
START_TEST(test_verify_every_protocol_honest_and_deterministic)
{
    static const char *const protocols[] = {"committee", "sampling", "crossval",
                                            "optimistic", "tee", "zk"};
    for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++) {
        char set[64];
        snprintf(set, sizeof(set), "verification.protocol=%s", protocols[i]);
        const char *const overrides[] = {set};
        world_result *first = verify_run(overrides, 1);
        world_result *second = verify_run(overrides, 1);
        ck_assert_msg(first->requests_completed == 30, "%s completed %llu", protocols[i],
                      (unsigned long long)first->requests_completed);
        ck_assert_uint_eq(first->accepted_wrong, 0);
        ck_assert_uint_eq(first->honest_penalised, 0);
        ck_assert_uint_eq(first->disputes, 0);
        ck_assert_uint_eq(first->trace_hash, second->trace_hash);
        ck_assert_double_eq(first->fees_paid, second->fees_paid);
        ck_assert_double_gt(first->fees_paid, 0.0);
        ck_assert_double_ge(verify_metric(first, "cost_ratio"), 1.0);
        world_result_destroy(first);
        world_result_destroy(second);
    }
}
END_TEST

/* Sampling: a lone forger breaks unanimity, the dispute goes to the
 * referee, which sides with the honest outputs: nothing wrong accepted,
 * forgers slashed, honest stakes untouched. */
START_TEST(test_verify_sampling_dispute_slashes_forgers)
{
    const char *const overrides[] = {"verification.protocol=sampling",
                                     "faults.0.kind=wrong_output", "faults.0.at=0s",
                                     "faults.0.nodes.fraction=0.2"};
    world_result *result = verify_run(overrides, 4);
    ck_assert_uint_eq(result->accepted_wrong, 0);
    ck_assert_uint_eq(result->honest_penalised, 0);
    ck_assert_uint_gt(result->disputes, 0);
    ck_assert_uint_gt(result->referee_flops, 0);
    ck_assert_double_gt(result->stake_slashed, 0.0);
    for (uint32_t i = 0; i < result->node_count; i++) {
        if (result->behaviour_of[i] == NODE_BEHAVIOUR_HONEST) {
            ck_assert_double_eq(result->stake[i], 10.0);
        }
    }
    world_result_destroy(result);
}
END_TEST

/* The referee re-executes the disputed hop through the wire dtype the
 * servers use: with int8 activations between segments, bit-exact sampling
 * still settles honest outputs, and the referee sides with them. */
START_TEST(test_verify_referee_through_lossy_wire)
{
    const char *const overrides[] = {"verification.protocol=sampling", "model.wire_dtype=int8",
                                     "faults.0.kind=wrong_output", "faults.0.at=0s",
                                     "faults.0.nodes.fraction=0.2"};
    world_result *result = verify_run(overrides, 5);
    ck_assert_uint_eq(result->requests_completed, 30);
    ck_assert_uint_gt(result->disputes, 0);
    ck_assert_uint_eq(result->accepted_wrong, 0);
    ck_assert_uint_eq(result->honest_penalised, 0);
    world_result_destroy(result);
}
END_TEST

/* Sampling inside an echelon that the cartel owns entirely: every sampled
 * node answers the same lie, the roots agree, and the lie settles -- the
 * r^N = 1 case. The safety checker must see it. */
START_TEST(test_verify_sampling_captured_echelon_violates)
{
    const char *const overrides[] = {"verification.protocol=sampling",
                                     "verification.echelon=enclave", "faults.0.kind=collude",
                                     "faults.0.at=0s", "faults.0.nodes.class=enclave"};
    world_result *result = verify_run(overrides, 5);
    ck_assert_uint_gt(result->accepted_wrong, 0);
    ck_assert(verify_has_violation(result, WORLD_VIOLATION_ACCEPTED_WRONG));
    ck_assert_uint_eq(result->disputes, 0);
    world_result_destroy(result);
}
END_TEST

/* Sampling: members that never commit are replaced (a fresh sample) and
 * lose the timeout share of their stake. */
START_TEST(test_verify_sampling_timeouts_resample)
{
    const char *const overrides[] = {"verification.protocol=sampling",
                                     "verification.timeout_slash=0.2", "faults.0.kind=silent",
                                     "faults.0.at=0s", "faults.0.nodes.fraction=0.1",
                                     "verification.retries=10"};
    world_result *result = verify_run(overrides, 6);
    ck_assert_uint_gt(result->resamples, 0);
    ck_assert_uint_eq(result->accepted_wrong, 0);
    ck_assert_uint_ge(result->requests_completed, 29);
    bool slashed = false;
    for (uint32_t i = 0; i < result->node_count; i++) {
        if (result->behaviour_of[i] == NODE_BEHAVIOUR_SILENT) {
            slashed |= result->stake[i] < 10.0;
        } else {
            ck_assert_double_eq(result->stake[i], 10.0);
        }
    }
    ck_assert(slashed);
    world_result_destroy(result);
}
END_TEST

/* Cross-validation against a cartel executor: never checked (p = 0), its
 * lies are accepted; always checked (p = 1), every lie is disputed and
 * lost, at the price of N more executions. */
START_TEST(test_verify_crossval_check_probability)
{
    const char *const never[] = {"verification.protocol=crossval",
                                 "verification.check_probability=0", "faults.0.kind=collude",
                                 "faults.0.at=0s", "faults.0.nodes.fraction=0.3"};
    const char *const always[] = {"verification.protocol=crossval",
                                  "verification.check_probability=1", "faults.0.kind=collude",
                                  "faults.0.at=0s", "faults.0.nodes.fraction=0.3"};
    world_result *unchecked = verify_run(never, 5);
    world_result *checked = verify_run(always, 5);
    ck_assert_uint_gt(unchecked->accepted_wrong, 0);
    ck_assert_uint_eq(unchecked->disputes, 0);
    ck_assert_double_lt(verify_metric(unchecked, "cost_ratio"), 1.2);
    ck_assert_uint_lt(checked->accepted_wrong, unchecked->accepted_wrong);
    ck_assert_uint_gt(checked->disputes, 0);
    ck_assert_double_gt(verify_metric(checked, "cost_ratio"), 3.5);
    world_result_destroy(unchecked);
    world_result_destroy(checked);
}
END_TEST

/* The fewest valid checker answers among the checked steps (4 members)
 * that settled; *settled_out counts those steps. */
static uint32_t verify_fewest_checks(const world_result *result, uint64_t *settled_out)
{
    uint32_t fewest = UINT32_MAX;
    *settled_out = 0;
    for (uint64_t i = 0; i < result->decision_count;) {
        const world_decision_record *first = &result->decisions[i];
        uint32_t valid = 0;
        for (uint32_t j = 1; j < first->member_count; j++) {
            valid += (result->decisions[i + j].flags & WORLD_DECISION_REVEALED) != 0;
        }
        if (first->member_count == 4 && first->action == CONS_ACTION_SETTLE) {
            *settled_out += 1;
            fewest = valid < fewest ? valid : fewest;
        }
        i += first->member_count;
    }
    return fewest;
}

/* crossval at p = 1 with 60 % silent nodes (and no slashing, so the
 * cartel stays as likely to execute): with check_answers 0 a step whose
 * checkers are all silent settles on the executor alone, and the cartel's
 * lies go through; by default (1) such a step is a fresh round, and with 3
 * no checker may be missing: fewer lies, and each settled step had that
 * many answers. */
START_TEST(test_verify_crossval_check_answers)
{
    const char *sets[] = {"verification.protocol=crossval", "verification.check_probability=1",
                          "faults.0.kind=collude", "faults.0.at=0s",
                          "faults.0.nodes.fraction=0.2", "faults.1.kind=silent",
                          "faults.1.at=0s", "faults.1.nodes.fraction=0.6",
                          "verification.retries=6", "verification.slash=0",
                          "verification.reputation.penalty=1", "seed=7", NULL};
    const size_t count = sizeof(sets) / sizeof(sets[0]) - 1;
    uint64_t settled = 0;
    sets[count] = "verification.check_answers=0";
    world_result *alone = verify_run(sets, count + 1);
    ck_assert_uint_eq(verify_fewest_checks(alone, &settled), 0);
    ck_assert_uint_gt(alone->accepted_wrong, 0);
    world_result *one = verify_run(sets, count);
    ck_assert_uint_ge(verify_fewest_checks(one, &settled), 1);
    ck_assert_uint_gt(settled, 0);
    ck_assert_uint_lt(one->accepted_wrong, alone->accepted_wrong);
    sets[count] = "verification.check_answers=3";
    world_result *all = verify_run(sets, count + 1);
    ck_assert_uint_eq(verify_fewest_checks(all, &settled), 3);
    ck_assert_uint_gt(settled, 0);
    ck_assert_uint_le(all->accepted_wrong, one->accepted_wrong);
    world_result_destroy(alone);
    world_result_destroy(one);
    world_result_destroy(all);
}
END_TEST

/* Honest members that timed out at a step after the prefill
 * (*late_out), and of the timeouts at any step but the last how many the
 * same member (same request, segment and round) timed out again at the
 * next step (*again_out) out of *timeouts_out. */
static void verify_timeouts(const world_result *result, uint32_t last_step, uint64_t *late_out,
                            uint64_t *again_out, uint64_t *timeouts_out)
{
    *late_out = *again_out = *timeouts_out = 0;
    for (uint64_t i = 0; i < result->decision_count; i++) {
        const world_decision_record *a = &result->decisions[i];
        if (a->behaviour != NODE_BEHAVIOUR_HONEST || !(a->flags & WORLD_DECISION_JUDGED) ||
            a->verdict != CONS_VERDICT_TIMEOUT) {
            continue;
        }
        *late_out += a->step > 0;
        if (a->step == last_step) {
            continue;
        }
        *timeouts_out += 1;
        for (uint64_t j = i + 1; j < result->decision_count; j++) {
            const world_decision_record *b = &result->decisions[j];
            if (b->request == a->request && b->segment == a->segment && b->round == a->round &&
                b->member == a->member && b->step == a->step + 1u) {
                *again_out += (b->flags & WORLD_DECISION_JUDGED) &&
                              b->verdict == CONS_VERDICT_TIMEOUT;
                break;
            }
        }
    }
}

/* Catch-up under 5 % loss: a member that missed a step's input (the
 * prefill's included) gets it again with its next hop and answers, so a
 * timeout is followed by another at the next step far less often, and
 * fewer honest members time out after the prefill. Without it
 * (catch_up: false) a member whose cache has a gap stays silent for the
 * rest of the round. */
START_TEST(test_verify_committee_catch_up)
{
    const char *const sets[] = {"network.loss=0.05", "verification.catch_up=false"};
    world_result *off = verify_run(sets, 2);
    world_result *on = verify_run(sets, 1);
    uint64_t late[2], again[2], timeouts[2];
    verify_timeouts(off, 2, &late[0], &again[0], &timeouts[0]);
    verify_timeouts(on, 2, &late[1], &again[1], &timeouts[1]);
    ck_assert_uint_gt(timeouts[0], 0);
    ck_assert_uint_gt(timeouts[1], 0);
    ck_assert_uint_eq(off->catch_ups, 0);
    ck_assert_uint_gt(on->catch_ups, 0);
    ck_assert_double_eq(verify_metric(on, "catch_ups"), (double)on->catch_ups);
    ck_assert_uint_lt(late[1], late[0]);
    /* again / timeouts: on below half of off. */
    ck_assert_uint_lt(2 * again[1] * timeouts[0], again[0] * timeouts[1]);
    ck_assert_uint_ge(on->requests_completed, off->requests_completed);
    ck_assert_uint_eq(on->accepted_wrong, 0);
    ck_assert_uint_eq(off->accepted_wrong, 0);
    world_result_destroy(off);
    world_result_destroy(on);
}
END_TEST

/* The recorder's decisions (one world_decision_record per member of every
 * decision): members x decisions rows, one accepted member per settled
 * decision, the spot check visible in the committee's size, the verdicts
 * moving the ledger as they should, and each node's last judged row
 * holding its final reputation. */
START_TEST(test_verify_decisions_record_every_member)
{
    const char *const sets[2][5] = {
        {"verification.protocol=crossval", "verification.check_probability=0",
         "faults.0.kind=collude", "faults.0.at=0s", "faults.0.nodes.fraction=0.3"},
        {"verification.protocol=crossval", "verification.check_probability=1",
         "faults.0.kind=collude", "faults.0.at=0s", "faults.0.nodes.fraction=0.3"},
    };
    for (int checked = 0; checked < 2; checked++) {
        world_result *result = verify_run(sets[checked], 5);
        ck_assert_uint_gt(result->decision_count, 0);
        uint64_t settled = 0, accepted = 0, proven = 0;
        uint64_t i = 0;
        while (i < result->decision_count) {
            const world_decision_record *first = &result->decisions[i];
            ck_assert_uint_eq(first->member, 0);
            ck_assert_uint_eq(first->member_count, checked ? 4 : 1);
            settled += first->action == CONS_ACTION_SETTLE;
            for (uint32_t j = 0; j < first->member_count; j++, i++) {
                const world_decision_record *d = &result->decisions[i];
                ck_assert_uint_lt(i, result->decision_count);
                ck_assert_uint_eq(d->member, j);
                ck_assert(d->request == first->request && d->segment == first->segment &&
                          d->step == first->step && d->round == first->round);
                accepted += (d->flags & WORLD_DECISION_ACCEPTED) != 0;
                if ((d->flags & WORLD_DECISION_JUDGED) && d->verdict == CONS_VERDICT_PROVEN) {
                    proven += 1;
                    ck_assert_double_lt(d->stake_after, d->stake_before);
                    ck_assert_double_le(d->reputation_after, d->reputation_before); /* floored */
                    ck_assert_uint_ne(d->behaviour, NODE_BEHAVIOUR_HONEST);
                }
                if (!(d->flags & WORLD_DECISION_JUDGED)) {
                    ck_assert_double_eq(d->reputation_after, d->reputation_before);
                }
            }
        }
        ck_assert_uint_eq(accepted, settled);
        ck_assert(checked ? proven > 0 : proven == 0);
        /* A node's reputation only moves on its verdicts. */
        for (uint32_t id = 0; id < result->node_count; id++) {
            for (uint64_t k = result->decision_count; k-- > 0;) {
                const world_decision_record *d = &result->decisions[k];
                if (d->node_id == id && (d->flags & WORLD_DECISION_JUDGED)) {
                    ck_assert_double_eq(d->reputation_after, result->reputation[id]);
                    break;
                }
            }
        }
        /* Every member that answered validly computed the hop: it has an
         * execution row with calls. */
        for (uint64_t k = 0; k < result->decision_count; k++) {
            const world_decision_record *d = &result->decisions[k];
            if (!(d->flags & WORLD_DECISION_REVEALED)) {
                continue;
            }
            bool found = false;
            uint32_t head = result->execution_head[d->request * result->segment_count + d->segment];
            for (uint32_t e = head; e != 0 && !found; e = result->executions[e - 1].next) {
                found = result->executions[e - 1].node_id == d->node_id &&
                        result->executions[e - 1].calls > 0;
            }
            ck_assert_msg(found, "request %llu segment %u node %u has no execution",
                          (unsigned long long)d->request, d->segment, d->node_id);
        }
        world_result_destroy(result);
    }
}
END_TEST

/* Optimistic: finality waits for the challenge window; a forging executor
 * is challenged, the bisection game takes its rounds, and the referee
 * sides with the honest challenger. */
START_TEST(test_verify_optimistic_window_and_bisection)
{
    const char *const overrides[] = {"verification.protocol=optimistic",
                                     "verification.challenge_window=5s",
                                     "verification.bisection_round=200ms",
                                     "faults.0.kind=wrong_output", "faults.0.at=0s",
                                     "faults.0.nodes.fraction=0.2"};
    world_result *result = verify_run(overrides, 6);
    ck_assert_double_ge(verify_metric(result, "finality_p50"), 5e9);
    ck_assert_double_lt(verify_metric(result, "request_latency_p50"), 5e9);
    ck_assert_uint_gt(result->disputes, 0);
    ck_assert_uint_eq(result->accepted_wrong, 0);
    ck_assert_uint_eq(result->honest_penalised, 0);
    world_result_destroy(result);
}
END_TEST

/* TEE: executors are drawn from TEE classes only; tampering after the
 * enclave fails the attestation (a fresh executor); a compromised enclave
 * attests its own lie and is believed -- the trust assumption, made
 * visible by the checker. */
START_TEST(test_verify_tee_attestation_and_forgery)
{
    const char *const tampered[] = {"verification.protocol=tee", "faults.0.kind=wrong_output",
                                    "faults.0.at=0s", "faults.0.nodes.fraction=0.3"};
    const char *const forged[] = {"verification.protocol=tee",
                                  "faults.0.kind=forge_attestation", "faults.0.at=0s",
                                  "faults.0.nodes.fraction=0.3"};
    world_result *caught = verify_run(tampered, 4);
    ck_assert_uint_eq(caught->accepted_wrong, 0);
    ck_assert_uint_gt(caught->resamples, 0);
    for (uint64_t r = 0; r < caught->request_count; r++) {
        for (uint32_t s = 0; s < caught->segment_count; s++) {
            const world_segment_record *segment = &caught->segments[r * caught->segment_count + s];
            if (segment->calls > 0) {
                ck_assert_uint_eq(caught->class_of[segment->node_id], 0); /* enclave */
            }
        }
    }
    world_result *fooled = verify_run(forged, 4);
    ck_assert_uint_gt(fooled->accepted_wrong, 0);
    ck_assert(verify_has_violation(fooled, WORLD_VIOLATION_ACCEPTED_WRONG));
    world_result_destroy(caught);
    world_result_destroy(fooled);
}
END_TEST

/* zk as a cost model: the prover's FLOPs multiply the cost, the proof's
 * bytes cross the wire, and a forger's proof never verifies. */
START_TEST(test_verify_zk_cost_model)
{
    const char *const honest[] = {"verification.protocol=zk", "verification.zk.prover_factor=50",
                                  "verification.zk.proof_bytes=10KiB"};
    const char *const small[] = {"verification.protocol=zk", "verification.zk.prover_factor=50",
                                 "verification.zk.proof_bytes=1KiB"};
    const char *const forger[] = {"verification.protocol=zk", "faults.0.kind=wrong_output",
                                  "faults.0.at=0s", "faults.0.nodes.fraction=0.3"};
    world_result *big = verify_run(honest, 3);
    world_result *light = verify_run(small, 3);
    double cost = verify_metric(big, "cost_ratio");
    ck_assert_double_gt(cost, 45.0);
    ck_assert_double_lt(cost, 56.0);
    ck_assert_double_gt(verify_metric(big, "bytes_sent"), verify_metric(light, "bytes_sent"));
    world_result *caught = verify_run(forger, 4);
    ck_assert_uint_eq(caught->accepted_wrong, 0);
    ck_assert_uint_gt(caught->resamples, 0);
    world_result_destroy(big);
    world_result_destroy(light);
    world_result_destroy(caught);
}
END_TEST

/* Money is conserved: what the nodes hold is their stake plus the fees
 * clients paid, minus what went to the oracle and was burnt. */
START_TEST(test_verify_economics_conserve_balances)
{
    const char *const overrides[] = {"verification.protocol=committee",
                                     "verification.slashed_to.honest=0.6",
                                     "verification.slashed_to.oracle=0.1",
                                     "verification.slashed_to.burn=0.3",
                                     "faults.0.kind=wrong_output", "faults.0.at=0s",
                                     "faults.0.nodes.fraction=0.2"};
    world_result *result = verify_run(overrides, 7);
    double total = 0.0;
    for (uint32_t i = 0; i < result->node_count; i++) {
        total += result->balance[i];
    }
    double expected = 80 * 10.0 + result->fees_paid - result->slashed_to_oracle -
                      result->slashed_burnt;
    ck_assert_double_gt(result->stake_slashed, 0.0);
    ck_assert_double_eq_tol(total, expected, 1e-6);
    ck_assert_double_eq_tol(result->slashed_to_oracle, 0.1 * result->stake_slashed, 1e-6);
    ck_assert_double_gt(verify_metric(result, "balance_honest_mean"),
                        verify_metric(result, "balance_byzantine_mean"));
    world_result_destroy(result);
}
END_TEST

/* Samples by kind: every node's balance.<id>, and the honest mean. */
typedef struct verify_samples {
    uint64_t node_balances;
    uint64_t honest_means;
} verify_samples;

static void verify_on_sample(void *context, uint64_t t_ns, const char *name, double value)
{
    verify_samples *samples = context;
    (void)t_ns;
    (void)value;
    samples->node_balances += strncmp(name, "balance.", 8) == 0;
    samples->honest_means += strcmp(name, "balance_honest_mean") == 0;
}

static verify_samples verify_run_sampled(const char *node_series)
{
    const char *const overrides[] = {"output.sample_interval=1s", node_series,
                                     "workload.requests=4"};
    scn_scenario *scenario = NULL;
    scn_error error;
    ck_assert_int_eq(scn_load_string("verify.yaml", verify_yaml, overrides, 3, &scenario, &error),
                     0);
    verify_samples samples = {0, 0};
    world_observer observer = {&samples, NULL, verify_on_sample, NULL, NULL, 1, false};
    world_result *result = NULL;
    ck_assert_int_eq(sim_run(scenario, &observer, NULL, &result), 0);
    world_result_destroy(result);
    scn_destroy(scenario);
    return samples;
}

/* output.node_series: by default every sample carries every node's
 * balance; false keeps the means and drops the N rows a sample. */
START_TEST(test_verify_node_series_key)
{
    verify_samples all = verify_run_sampled("output.node_series=true");
    verify_samples means = verify_run_sampled("output.node_series=false");
    ck_assert_uint_gt(all.honest_means, 0);
    ck_assert_uint_eq(all.node_balances, 80 * all.honest_means);
    ck_assert_uint_eq(means.honest_means, all.honest_means);
    ck_assert_uint_eq(means.node_balances, 0);
}
END_TEST

/* A rational cartel cheats only when it pays: with little to gain against
 * a large slash it stays honest; with much to gain it cheats. */
START_TEST(test_verify_rational_adversary)
{
    const char *const timid[] = {"verification.protocol=crossval",
                                 "verification.check_probability=0.5", "faults.0.kind=collude",
                                 "faults.0.at=0s", "faults.0.nodes.fraction=0.3",
                                 "faults.0.gain=0.1"};
    const char *const greedy[] = {"verification.protocol=crossval",
                                  "verification.check_probability=0.5", "faults.0.kind=collude",
                                  "faults.0.at=0s", "faults.0.nodes.fraction=0.3",
                                  "faults.0.gain=1000"};
    world_result *honest = verify_run(timid, 6);
    world_result *cheating = verify_run(greedy, 6);
    ck_assert_uint_gt(honest->cheats_declined, 0);
    ck_assert_uint_eq(honest->cheats_taken, 0);
    ck_assert_uint_eq(honest->accepted_wrong, 0);
    ck_assert_uint_gt(cheating->cheats_taken, 0);
    ck_assert_uint_gt(cheating->accepted_wrong, 0);
    /* Lies slip through unchecked segments, then later segments' disputes
     * are judged from the inputs the client accepted: the honest checkers
     * of a hop whose input was already wrong did their job and keep their
     * reputation. */
    ck_assert_uint_gt(cheating->disputes, 0);
    ck_assert_uint_eq(cheating->honest_penalised, 0);
    world_result_destroy(honest);
    world_result_destroy(cheating);
}
END_TEST

/* One segment, so every request is one draw; many requests, so many
 * independent beacons; reputations and stakes that never move (penalty =
 * reward = 1, no slash), so every draw sees the same weights. 60 nodes, a
 * cartel of 24 answering one lie. */
static const char frequency_yaml[] =
    "name: frequency\n"
    "seed: 9\n"
    "duration: 120s\n"
    "network: {latency: {model: constant, value: 2ms}}\n"
    "nodes: {count: 60, classes: [{name: gpu, fraction: 1, kernel: blocked}]}\n"
    "model:\n"
    "  shape: {dim: 16, hidden_dim: 32, layers: 2, heads: 2, vocab: 32, seq_len: 16}\n"
    "  segments: 1\n"
    "  kv_slots: 64\n"
    "verification: {protocol: committee, reputation: {penalty: 1, reward: 1}}\n"
    "workload: {requests: 600, rate: 20/s, prompt_tokens: [4, 4], generate: 1}\n"
    "faults: [{kind: collude, at: 0s, nodes: {range: 36-59}}]\n"
    "output: {sample_interval: 0}\n";

static world_result *frequency_run(const char *const *overrides, size_t count)
{
    world_result *result = test_sim_run_yaml("frequency.yaml", frequency_yaml, overrides, count, 0);
    ck_assert_uint_eq(result->requests_completed, 600);
    return result;
}

/* 4-sigma bound on a Binomial(trials, p) count. */
static void verify_assert_binomial(uint64_t observed, uint64_t trials, double p)
{
    double mean = p * (double)trials;
    double sigma = sqrt((double)trials * p * (1.0 - p));
    ck_assert_msg(fabs((double)observed - mean) <= 4.0 * sigma,
                  "observed %llu, expected %.1f +- %.1f (4 sigma)", (unsigned long long)observed,
                  mean, 4.0 * sigma);
}

/* Sampling end to end: the share of requests whose lie settles is the
 * probability that all N sampled nodes are in the cartel -- the
 * hypergeometric C(24, N) / C(60, N), close to r^N = 0.4^N. */
START_TEST(test_verify_sampling_capture_frequency)
{
    const char *const overrides[] = {"verification.protocol=sampling",
                                     "verification.committee=2"};
    world_result *result = frequency_run(overrides, 2);
    double expected = cons_sampling_capture(60, 24, 2);
    ck_assert_double_eq_tol(expected, 24.0 * 23 / (60.0 * 59), 1e-12);
    verify_assert_binomial(result->accepted_wrong, 600, expected);
    ck_assert_double_lt(fabs(expected - cons_sampling_capture_iid(0.4, 2)), 0.01);
    world_result_destroy(result);
}
END_TEST

/* Captured draws recounted from the decisions rows: a draw is one
 * (request, segment, round); its members are the rows of its first
 * decision; it is captured when 'quorum' of them are Byzantine. */
static uint64_t verify_recount_captured(const world_result *result, uint32_t quorum,
                                        uint64_t *draws_out)
{
    uint64_t draws = 0, captured = 0;
    uint64_t i = 0;
    while (i < result->decision_count) {
        const world_decision_record *first = &result->decisions[i];
        bool fresh = true;
        for (uint64_t k = 0; k < i && fresh; k++) {
            const world_decision_record *d = &result->decisions[k];
            fresh = !(d->request == first->request && d->segment == first->segment &&
                      d->round == first->round);
        }
        uint32_t byzantine = 0;
        for (uint32_t j = 0; j < first->member_count; j++) {
            byzantine += result->decisions[i + j].behaviour != NODE_BEHAVIOUR_HONEST;
        }
        draws += fresh;
        captured += fresh && byzantine >= quorum;
        i += first->member_count;
    }
    *draws_out = draws;
    return captured;
}

/* A committee of 5 with quorum 3 from 60 nodes, 24 in a cartel: every
 * draw is counted, its capture recounted from the decisions rows agrees,
 * the prediction is the hypergeometric tail exactly (weights never move
 * here), and the measured rate's 99.9 % Wilson interval holds it. The same
 * interval rejects the prediction for a cartel of 12: the comparison can
 * fail. */
START_TEST(test_verify_committee_capture_against_closed_form)
{
    const char *const overrides[] = {"verification.committee=5", "verification.quorum=3"};
    world_result *result = frequency_run(overrides, 2);
    double predicted = cons_capture_probability(60, 24, 5, 3);
    ck_assert_uint_eq(result->capture_draws, 600);
    ck_assert_double_eq_tol(result->capture_expected / 600.0, predicted, 1e-9);
    ck_assert_double_eq_tol(world_result_metric_value(result, SCN_METRIC_CAPTURE_RATE_PREDICTED),
                            predicted, 1e-9);
    uint64_t draws = 0;
    ck_assert_uint_eq(verify_recount_captured(result, 3, &draws), result->captured_draws);
    ck_assert_uint_eq(draws, 600);
    double low, high;
    util_wilson_interval(result->captured_draws, 600, 3.29, &low, &high);
    ck_assert_msg(low <= predicted && predicted <= high, "%llu of 600 captured, predicted %.4f",
                  (unsigned long long)result->captured_draws, predicted);
    double wrong = cons_capture_probability(60, 12, 5, 3);
    ck_assert(wrong < low || wrong > high);
    world_result_destroy(result);
}
END_TEST

/* The closed form follows the cartel in and out: with the collusion on
 * from 10 s to 20 s of a 30 s workload, each draw's prediction counts the
 * pool's Byzantine members of its moment (24 inside the window, 0 outside),
 * so the mean prediction is about a third of the whole-run cartel's; a
 * count kept from the first draw would give 0, one kept after the start
 * two thirds. */
START_TEST(test_verify_capture_prediction_follows_faults)
{
    const char *const overrides[] = {"verification.committee=5", "verification.quorum=3",
                                     "faults.0.at=10s", "faults.0.until=20s"};
    world_result *result = frequency_run(overrides, 4);
    double whole = cons_capture_probability(60, 24, 5, 3);
    double predicted = world_result_metric_value(result, SCN_METRIC_CAPTURE_RATE_PREDICTED);
    ck_assert_uint_eq(result->capture_draws, 600);
    ck_assert_msg(predicted > 0.25 * whole && predicted < 0.42 * whole,
                  "predicted %.5f against %.5f for the whole run", predicted, whole);
    world_result_destroy(result);
}
END_TEST

/* Cross-validation end to end: a lie settles when the executor is in the
 * cartel and either the spot check (p) does not fire or all N verifiers
 * are in the cartel too; the referee settles every other dispute. */
START_TEST(test_verify_crossval_acceptance_frequency)
{
    const char *const overrides[] = {"verification.protocol=crossval",
                                     "verification.check_probability=0.3",
                                     "verification.verifiers=2"};
    world_result *result = frequency_run(overrides, 3);
    double p = 0.3;
    double executor = 24.0 / 60.0;
    double expected = executor * ((1.0 - p) + p * cons_sampling_capture(59, 23, 2));
    verify_assert_binomial(result->accepted_wrong, 600, expected);
    /* Disputes are the checked requests with a cartel executor and at least
     * one honest verifier, or an honest executor and a cartel verifier. */
    double disputed = p * (executor * (1.0 - cons_sampling_capture(59, 23, 2)) +
                           (1.0 - executor) * (1.0 - cons_sampling_capture(59, 35, 2)));
    verify_assert_binomial(result->disputes, 600, disputed);
    /* The escape of a cartel executor is the draw's capture: predicted by
     * the same closed form, and counted. */
    ck_assert_uint_eq(result->capture_draws, 600);
    ck_assert_double_eq_tol(result->capture_expected / 600.0, expected, 1e-9);
    verify_assert_binomial(result->captured_draws, 600, expected);
    /* Detection per request from the decisions rows alone: of the draws
     * with a cartel executor, those whose spot check fired (more than one
     * member) with an honest checker among them; the closed form is
     * cons_crossval_detection_exact over the 59 others, 23 in the cartel. */
    uint64_t lies = 0, caught = 0;
    for (uint64_t i = 0; i < result->decision_count;) {
        const world_decision_record *d = &result->decisions[i];
        bool fresh = d->round == 0 && d->step == 0;
        bool honest_checker = false;
        for (uint32_t j = 1; j < d->member_count; j++) {
            honest_checker |= result->decisions[i + j].behaviour == NODE_BEHAVIOUR_HONEST;
        }
        lies += fresh && d->behaviour != NODE_BEHAVIOUR_HONEST;
        caught += fresh && d->behaviour != NODE_BEHAVIOUR_HONEST && honest_checker;
        i += d->member_count;
    }
    double detection = cons_crossval_detection_exact(p, 59, 23, 2, 1);
    double low, high;
    util_wilson_interval(caught, lies, 3.29, &low, &high);
    ck_assert_msg(lies > 150 && low <= detection && detection <= high,
                  "%llu of %llu lies caught, predicted %.4f",
                  (unsigned long long)caught, (unsigned long long)lies, detection);
    world_result_destroy(result);
}
END_TEST

/* ---- a protocol added by a test ---- */

/* "First answer wins": the committee answers at once (no commit phase)
 * and the lowest member with a valid answer settles the step; nobody
 * valid: a fresh round. It reuses the committee's votes and openings and
 * is defined here alone: registering it is all the simulator needs. */
static void verify_toy_decide(const cons_tally *tally, cons_decision *out)
{
    uint64_t valid = tally->revealed & ~tally->equivocated;
    uint64_t all = cons_members_all(tally->member_count);
    *out = (cons_decision){.action = valid != 0 ? CONS_ACTION_SETTLE : CONS_ACTION_ROUND,
                           .member = valid != 0 ? (uint32_t)__builtin_ctzll(valid) : 0,
                           .judged = all,
                           .agreed = valid,
                           .dispute = tally->dispute,
                           .revealed = tally->revealed};
}

static bool verify_toy_commit_reveal(const cons_params *params)
{
    (void)params;
    return false;
}

static const char *verify_toy_check(const cons_tally *tally)
{
    uint64_t all = cons_members_all(tally->member_count);
    if ((tally->answered & ~all) != 0 || (tally->revealed & ~tally->answered) != 0) {
        return "toy_answers_within_committee";
    }
    return tally->asked == all ? NULL : "toy_everyone_asked";
}

/* A broken invariant: no member may ever reveal. */
static const char *verify_toy_never_reveals(const cons_tally *tally)
{
    return tally->revealed != 0 ? "toy_never_reveals" : NULL;
}

static void verify_toy_register(const char *name,
                                const char *(*check)(const cons_tally *tally))
{
    cons_protocol found;
    if (cons_protocol_find(name, &found) == 0) {
        return; /* Registered by an earlier test in this process (no fork). */
    }
    static cons_protocol_ops ops[2];
    cons_protocol_ops *slot = &ops[check == verify_toy_check ? 0 : 1];
    *slot = *cons_protocol_get(CONS_PROTOCOL_COMMITTEE);
    slot->name = name;
    slot->doc = "first answer wins";
    slot->commit_reveal = verify_toy_commit_reveal;
    slot->decide = verify_toy_decide;
    slot->check_invariants = check;
    ck_assert_int_ge(cons_protocol_register(slot), CONS_PROTOCOL_BUILTIN);
}

START_TEST(test_verify_toy_protocol_registered_settles)
{
    verify_toy_register("toy", verify_toy_check);
    const char *const overrides[] = {"verification.protocol=toy"};
    world_result *result = verify_run(overrides, 1);
    ck_assert_uint_eq(result->requests_completed, 30);
    ck_assert_uint_eq(result->violation_count, 0);
    ck_assert_uint_eq(result->accepted_wrong, 0);
    world_result_destroy(result);
}
END_TEST

/* The node checks the protocol's invariants after every committee message
 * it handles as a client: a protocol whose invariant the first reveal
 * breaks stops the run there. */
START_TEST(test_verify_toy_protocol_broken_invariant_asserts)
{
    verify_toy_register("toy_strict", verify_toy_never_reveals);
    const char *const overrides[] = {"verification.protocol=toy_strict"};
    test_stderr_silence();      /* the expected assertion message */
    world_result *result = verify_run(overrides, 1);
    world_result_destroy(result);
}
END_TEST

/* verification.draw_epoch in the simulator: a request of epoch e is
 * submitted only after every request of the epochs before has finished
 * (its committees read their settled verdicts), the run is deterministic,
 * and the cartel's captures follow the settled state, not the live one. */
START_TEST(test_verify_draw_epoch_holds_requests_for_settled_draws)
{
    static const char *const epochs[] = {"verification.draw_epoch=1",
                                         "verification.draw_epoch=4",
                                         "verification.draw_epoch=0"};
    const char *path = "scenarios/calibrate_cartel.yaml";
    world_result *results[3];
    for (int e = 0; e < 3; e++) {
        results[e] = test_sim_run_file(path, &epochs[e], 1, 1);
        ck_assert_uint_eq(results[e]->requests_completed, 15);
    }
    uint32_t sizes[2] = {1, 4};
    for (int e = 0; e < 2; e++) {
        const world_result *result = results[e];
        for (uint64_t r = 0; r < result->request_count && result->requests[r].submitted; r++) {
            uint64_t start = r / sizes[e] * sizes[e];
            for (uint64_t before = 0; before < start; before++) {
                ck_assert_msg(result->requests[before].finished_ns <=
                                  result->requests[r].submitted_ns,
                              "draw_epoch %u: request %llu submitted before %llu finished",
                              sizes[e], (unsigned long long)r, (unsigned long long)before);
            }
        }
    }
    /* Requests overlap without the key (arrivals every 25 ms, 42 ms each). */
    const world_result *live = results[2];
    ck_assert_uint_lt(live->requests[1].submitted_ns, live->requests[0].finished_ns);
    /* The settled draws change what the cartel captures. */
    ck_assert_uint_ne(results[0]->honest_penalised, live->honest_penalised);
    world_result *again = test_sim_run_file(path, &epochs[0], 1, 1);
    ck_assert_uint_eq(again->trace_hash, results[0]->trace_hash);
    ck_assert_uint_eq(again->honest_penalised, results[0]->honest_penalised);
    world_result_destroy(again);
    for (int e = 0; e < 3; e++) {
        world_result_destroy(results[e]);
    }
}
END_TEST

/* ---- failure detection (verification.suspect_after) ---- */

#define DETECT_FILE "scenarios/committee_crash_detect.yaml"

static double detect_p50(const char *const *overrides, size_t count, world_result **out)
{
    world_result *result = test_sim_run_file(DETECT_FILE, overrides, count, 0);
    double p50 = verify_metric(result, "request_latency_p50");
    ck_assert(p50 > 0);
    if (out != NULL) {
        *out = result;
    } else {
        world_result_destroy(result);
    }
    return p50;
}

/* One server of each committee's three is down from 1 s on. Without
 * detection every step waits out the 2 s commit deadline for it; with
 * suspect_after each client waits 30 ms for it once, then goes on without
 * it: the median stays within twice the crash-free one, and the crashed
 * member, skipped, is not judged. */
START_TEST(test_verify_detection_keeps_p50)
{
    const char *const none[] = {"faults.0.at=39s", "verification.suspect_after=0s"};
    double base = detect_p50(none, 2, NULL);
    const char *const off[] = {"verification.suspect_after=0s"};
    world_result *result = NULL;
    double slow = detect_p50(off, 1, &result);
    ck_assert(isnan(verify_metric(result, "suspicions"))); /* off: no rows */
    ck_assert_uint_gt(result->honest_penalised, 0);        /* the crashed member timed out */
    world_result_destroy(result);
    double fast = detect_p50(NULL, 0, &result);
    printf("detection: p50 %.1f ms without a crash, %.1f ms crashed, %.1f ms detected\n",
           base / 1e6, slow / 1e6, fast / 1e6);
    ck_assert_msg(slow > 1e9, "without detection p50 waits out the commit timeout");
    ck_assert_msg(fast < 2.0 * base, "detected p50 %.0f vs %.0f", fast, base);
    ck_assert_double_gt(verify_metric(result, "suspicions"), 0);
    ck_assert_double_eq(verify_metric(result, "false_suspicions"), 0);
    ck_assert_double_gt(verify_metric(result, "members_skipped"), 0);
    ck_assert_uint_eq(result->honest_penalised, 0);
    ck_assert_uint_eq(result->accepted_wrong, 0);
    uint64_t skipped = 0;
    for (uint64_t i = 0; i < result->decision_count; i++) {
        const world_decision_record *d = &result->decisions[i];
        if (d->flags & WORLD_DECISION_SKIPPED) {
            ck_assert_uint_eq(d->node_id, 2); /* only the crashed server */
            ck_assert(!(d->flags & WORLD_DECISION_JUDGED));
            skipped += 1;
        }
    }
    ck_assert_double_eq((double)skipped, verify_metric(result, "members_skipped"));
    world_result_destroy(result);
}
END_TEST

/* An honest server slowed by 150 ms (no crash) is suspected: a false
 * suspicion, visible as such, and each decision that went on without it
 * leaves it unjudged -- never penalised for being suspected. Its next
 * commit clears the suspicion, so it keeps being suspected afresh. */
START_TEST(test_verify_detection_slow_honest_not_penalised)
{
    const char *const slow[] = {"faults.0.kind=delay", "faults.0.delay=150ms",
                                "faults.0.nodes.ids=[3]"};
    world_result *result = test_sim_run_file(DETECT_FILE, slow, 3, 0);
    double suspicions = verify_metric(result, "suspicions");
    double wrong = verify_metric(result, "false_suspicions");
    printf("slow honest node: %.0f suspicions, %.0f false, %.0f members skipped\n", suspicions,
           wrong, verify_metric(result, "members_skipped"));
    ck_assert_double_gt(wrong, 1);
    ck_assert_double_eq(wrong, suspicions);
    ck_assert_uint_eq(result->honest_penalised, 0);
    bool seen = false;
    for (uint64_t i = 0; i < result->decision_count; i++) {
        const world_decision_record *d = &result->decisions[i];
        if ((d->flags & WORLD_DECISION_SKIPPED) && d->node_id == 3) {
            ck_assert(!(d->flags & WORLD_DECISION_JUDGED));
            seen = true;
        }
    }
    ck_assert(seen);
    ck_assert_double_ge(result->reputation[3], 1.0); /* never lowered */
    world_result_destroy(result);
}
END_TEST

/* suspect_after 0s is off: the same trace as without the key. */
START_TEST(test_verify_detection_off_by_default)
{
    const char *const off[] = {"verification.suspect_after=0s"};
    world_result *zero = test_sim_run_yaml("verify.yaml", verify_yaml, off, 1, 0);
    world_result *absent = verify_run(NULL, 0);
    ck_assert_uint_eq(zero->trace_hash, absent->trace_hash);
    ck_assert(isnan(verify_metric(absent, "suspicions")));
    ck_assert(isnan(verify_metric(absent, "members_skipped")));
    world_result_destroy(zero);
    world_result_destroy(absent);
    const char *const on[] = {"verification.suspect_after=100ms"};
    world_result *detect = test_sim_run_yaml("verify.yaml", verify_yaml, on, 1, 0);
    ck_assert_double_eq(verify_metric(detect, "suspicions"), 0); /* nobody is down */
    world_result_destroy(detect);
}
END_TEST

/* ---- a cartel by messages (node/cartel.c) ---- */

/* Under ASan (make sanitize) a third of the requests: the checks need the
 * code paths, and the comparisons below hold at 20 requests too. */
static world_result *cartel_run(const char *path, const char *override)
{
    const char *overrides[2];
    size_t count = 0;
    if (override != NULL) {
        overrides[count++] = override;
    }
    if (getenv("INFERSIM_SANITIZE") != NULL) {
        overrides[count++] = "workload.requests=20";
    }
    return test_sim_run_file(path, overrides, count, 1);
}

/* The cartel at quorum agrees by messages: every agreement is a real
 * cartel_agree message of 92 bytes, none is missed without faults, and the
 * attack succeeds with the target token accepted where the reference
 * chose another. */
START_TEST(test_verify_cartel_messages_attack)
{
    world_result *result = cartel_run("scenarios/cartel_messages.yaml", NULL);
    const world_type_stats *agree = &result->types[NODE_MESSAGE_CARTEL_AGREE];
    ck_assert_uint_gt(result->cartel_messages, 0);
    ck_assert_uint_eq(agree->sent, result->cartel_messages);
    ck_assert_uint_eq(result->cartel_bytes,
                      result->cartel_messages *
                          (NODE_HEADER_BYTES + NODE_CARTEL_AGREE_BYTES + NODE_TAG_BYTES));
    ck_assert_uint_eq(agree->bytes_sent, result->cartel_bytes);
    ck_assert_uint_eq(agree->rejected, 0);
    ck_assert_uint_eq(result->cartel_missed, 0);
    ck_assert_uint_gt(result->accepted_wrong, result->requests_completed / 2);
    ck_assert_uint_gt(result->targeted_tokens_accepted, 0);
    ck_assert_double_eq(verify_metric(result, "cartel_messages"), (double)result->cartel_messages);
    world_result_destroy(result);
}
END_TEST

/* A partition that splits the cartel: agreements are dropped, members
 * answer honestly, and fewer wrong outputs are accepted -- while the same
 * partition leaves a cartel that agrees off the network (stream) its lies. */
START_TEST(test_verify_cartel_partition_weakens)
{
    world_result *whole = cartel_run("scenarios/cartel_messages.yaml", NULL);
    world_result *split = cartel_run("scenarios/cartel_messages_partitioned.yaml", NULL);
    world_result *free_split =
        cartel_run("scenarios/cartel_messages_partitioned.yaml", "faults.0.coordination=stream");
    ck_assert_uint_gt(split->cartel_missed, 0);
    ck_assert_uint_gt(split->types[NODE_MESSAGE_CARTEL_AGREE].dropped[WORLD_DROP_PARTITION], 0);
    ck_assert_uint_lt(split->accepted_wrong, whole->accepted_wrong / 2);
    ck_assert_uint_lt(split->targeted_tokens_accepted, whole->targeted_tokens_accepted);
    double split_ratio = verify_metric(split, "accepted_wrong_ratio");
    double free_ratio = verify_metric(free_split, "accepted_wrong_ratio");
    ck_assert_msg(split_ratio < free_ratio, "messages %.3f, stream %.3f", split_ratio,
                  free_ratio);
    ck_assert(isnan(verify_metric(free_split, "cartel_messages")));
    world_result_destroy(whole);
    world_result_destroy(split);
    world_result_destroy(free_split);
}
END_TEST

/* The default is today's cartel: coordination stream spelled out runs the
 * same trace, sends no cartel message and writes no cartel metric; a
 * target works off the network too. */
START_TEST(test_verify_cartel_stream_default)
{
    world_result *plain = cartel_run("scenarios/cartel_at_quorum.yaml", NULL);
    world_result *spelled =
        cartel_run("scenarios/cartel_at_quorum.yaml", "faults.0.coordination=stream");
    world_result *targeted = cartel_run("scenarios/cartel_at_quorum.yaml",
                                        "faults.0.target_token=7");
    ck_assert_uint_eq(plain->trace_hash, spelled->trace_hash);
    ck_assert_uint_eq(plain->accepted_wrong, spelled->accepted_wrong);
    ck_assert_uint_eq(plain->types[NODE_MESSAGE_CARTEL_AGREE].sent, 0);
    ck_assert(isnan(verify_metric(plain, "cartel_messages")));
    ck_assert(isnan(verify_metric(plain, "targeted_tokens_accepted")));
    ck_assert_uint_eq(targeted->types[NODE_MESSAGE_CARTEL_AGREE].sent, 0);
    ck_assert_uint_gt(targeted->targeted_tokens_accepted, 0);
    ck_assert_uint_gt(targeted->accepted_wrong, 0);
    world_result_destroy(plain);
    world_result_destroy(spelled);
    world_result_destroy(targeted);
}
END_TEST

Suite *test_verify_suite(void)
{
    Suite *suite = suite_create("verify");
    TCase *protocols = tcase_create("protocols");
    tcase_set_timeout(protocols, 300);
    tcase_add_test(protocols, test_verify_every_protocol_honest_and_deterministic);
    tcase_add_test(protocols, test_verify_sampling_dispute_slashes_forgers);
    tcase_add_test(protocols, test_verify_referee_through_lossy_wire);
    tcase_add_test(protocols, test_verify_sampling_captured_echelon_violates);
    tcase_add_test(protocols, test_verify_sampling_timeouts_resample);
    tcase_add_test(protocols, test_verify_crossval_check_probability);
    tcase_add_test(protocols, test_verify_crossval_check_answers);
    tcase_add_test(protocols, test_verify_committee_catch_up);
    tcase_add_test(protocols, test_verify_decisions_record_every_member);
    tcase_add_test(protocols, test_verify_draw_epoch_holds_requests_for_settled_draws);
    tcase_add_test(protocols, test_verify_optimistic_window_and_bisection);
    tcase_add_test(protocols, test_verify_tee_attestation_and_forgery);
    tcase_add_test(protocols, test_verify_zk_cost_model);
    tcase_add_test(protocols, test_verify_toy_protocol_registered_settles);
    tcase_add_test_raise_signal(protocols, test_verify_toy_protocol_broken_invariant_asserts,
                                SIGABRT);
    suite_add_tcase(suite, protocols);
    TCase *frequency = tcase_create("frequency");
    tcase_set_timeout(frequency, 300);
    tcase_add_test(frequency, test_verify_sampling_capture_frequency);
    tcase_add_test(frequency, test_verify_committee_capture_against_closed_form);
    tcase_add_test(frequency, test_verify_capture_prediction_follows_faults);
    tcase_add_test(frequency, test_verify_crossval_acceptance_frequency);
    suite_add_tcase(suite, frequency);
    TCase *economics = tcase_create("economics");
    tcase_set_timeout(economics, 300);
    tcase_add_test(economics, test_verify_economics_conserve_balances);
    tcase_add_test(economics, test_verify_node_series_key);
    tcase_add_test(economics, test_verify_rational_adversary);
    suite_add_tcase(suite, economics);
    TCase *detect = tcase_create("detect");
    tcase_set_timeout(detect, 300);
    tcase_add_test(detect, test_verify_detection_keeps_p50);
    tcase_add_test(detect, test_verify_detection_slow_honest_not_penalised);
    tcase_add_test(detect, test_verify_detection_off_by_default);
    suite_add_tcase(suite, detect);
    TCase *cartel = tcase_create("cartel");
    tcase_set_timeout(cartel, 300);
    tcase_add_test(cartel, test_verify_cartel_messages_attack);
    tcase_add_test(cartel, test_verify_cartel_partition_weakens);
    tcase_add_test(cartel, test_verify_cartel_stream_default);
    suite_add_tcase(suite, cartel);
    return suite;
}
