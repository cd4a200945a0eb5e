/* verify.c -- the simulated world's side of committee verification: the
 * node_verifier the nodes call (sortition, commitments, agreement and the
 * reputation ledger, all from consensus/), the Byzantine behaviours the
 * fault schedule switches on and off, and the checkers only a simulator
 * can run: an accepted output outside the agreement rule's tolerance of the
 * reference (accepted_wrong), and an honest member losing reputation
 * (honest_penalised).
 *
 * The committee of (request, segment, round) is drawn once, when first
 * asked, from the reputations at that moment, and then kept for every
 * round: every node that recomputes it later gets the same answer even
 * though reputations have moved since (on a real network the beacon and the
 * reputation snapshot would both be fixed on the ledger at request time). */
#include <math.h>
#include <string.h>

#include "consensus/cons.h"
#include "sim/sim_int.h"
#include "util/alloc.h"
#include "util/assert.h"

static cons_agreement verify_rule(const scn_agreement *a)
{
    cons_agreement rule = {(cons_agree_kind)a->rule, a->epsilon, a->tau, a->top_k};
    return rule;
}

/* ---- the verifier the nodes call ---- */

static uint32_t verify_committee(void *context, uint64_t request, uint32_t segment,
                                 uint32_t round, uint32_t *members_out)
{
    sim_world *world = context;
    uint32_t k = world->serving.committee;
    size_t rounds = world->serving.retries + 1;
    ASSERT(round < rounds); /* Members check m->hops against retries first. */
    size_t index = ((size_t)request * world->serving.segment_count + segment) * rounds + round;
    uint32_t *cached = world->committee_cache + index * k;
    if (world->committee_cache_round[index] == 0) {
        cons_candidate *candidates = world->candidates;
        uint32_t first = world->server_offsets[segment];
        uint32_t count = world->server_offsets[segment + 1] - first;
        for (uint32_t i = 0; i < count; i++) {
            uint32_t id = world->servers[first + i];
            /* Hosted (testbed): the snapshot the run started with, which
             * every process holds (sim.h says why). */
            const scn_verification *v = &world->scenario->verification;
            candidates[first + i].reputation =
                world->hosted ? v->reputation_initial : world->result->reputation[id];
            candidates[first + i].stake = world->hosted ? v->stake : world->result->stake[id];
        }
        uint8_t beacon[CONS_BEACON_BYTES];
        cons_beacon_derive(world->scenario->seed, request, round, beacon);
        int chosen = cons_committee_select(beacon, segment, candidates + first, count, k, cached);
        ASSERT(chosen > 0); /* Weights are positive; k was checked at build. */
        world->committee_cache_count[index] = (uint32_t)chosen;
        world->committee_cache_round[index] = 1;
    }
    memcpy(members_out, cached, world->committee_cache_count[index] * sizeof(uint32_t));
    return world->committee_cache_count[index];
}

static void verify_commit(void *context, const void *output, size_t size,
                          const uint8_t salt[NODE_SALT_BYTES], uint32_t member,
                          uint8_t digest_out[NODE_DIGEST_BYTES])
{
    (void)context;
    util_hash256_state state;
    uint8_t id[4] = {(uint8_t)member, (uint8_t)(member >> 8), (uint8_t)(member >> 16),
                     (uint8_t)(member >> 24)};
    util_hash256_init(&state);
    util_hash256_update(&state, output, size);
    util_hash256_update(&state, salt, NODE_SALT_BYTES);
    util_hash256_update(&state, id, sizeof(id));
    util_hash256_final(&state, digest_out);
}

static void verify_salt(void *context, uint32_t member, uint64_t request, uint32_t segment,
                        uint32_t round, uint8_t salt_out[NODE_SALT_BYTES])
{
    sim_world *world = context;
    _Static_assert(NODE_SALT_BYTES == CONS_SALT_BYTES, "one salt size");
    cons_salt_derive(world->keys[member], UTIL_MAC_KEY_BYTES, request, segment, round, salt_out);
}

static int verify_accept(void *context, bool last_segment, const float *const *outputs,
                         size_t n_floats, uint32_t count, uint32_t *accepted_out,
                         uint64_t *agree_mask_out)
{
    sim_world *world = context;
    const cons_agreement *rule = last_segment ? &world->final_agreement : &world->agreement;
    int rc = cons_accept(rule, outputs, n_floats, count, world->serving.quorum, accepted_out,
                         agree_mask_out);
    return rc == 0 ? 0 : -1;
}

void sim__verify_violation(sim_world *world, sim_violation_kind kind, uint64_t request,
                           uint32_t segment, uint32_t node_id, uint32_t step)
{
    sim_result *result = world->result;
    if (result->violation_count == result->violation_capacity) {
        uint64_t capacity = result->violation_capacity ? result->violation_capacity * 2 : 64;
        sim_violation *grown = util_realloc(result->violations, capacity * sizeof(*grown));
        ASSERT(grown != NULL); /* Host out of memory mid-run. */
        result->violations = grown;
        result->violation_capacity = capacity;
    }
    sim_violation v = {kind, world->now_ns, request, segment, node_id, step};
    result->violations[result->violation_count++] = v;
}

static void verify_judged(void *context, uint32_t member, bool deviated, bool proven,
                          uint64_t request, uint32_t segment)
{
    sim_world *world = context;
    sim_result *result = world->result;
    result->reputation[member] =
        cons_reputation_update(&world->reputation_rule, result->reputation[member], deviated);
    if (proven && world->scenario->verification.slash > 0.0) {
        double lost = result->stake[member] * world->scenario->verification.slash;
        result->stake[member] -= lost;
        result->stake_slashed += lost;
    }
    uint8_t now = world->serving.behaviour_of[member];
    /* An adaptive node not (yet) taken by the adversary behaves honestly. */
    if (now != NODE_BEHAVIOUR_HONEST && now != NODE_BEHAVIOUR_ADAPTIVE) {
        if (world->result->behaviour_of[member] == NODE_BEHAVIOUR_HONEST) {
            /* An adaptive corruption shows up here, when it is first judged. */
            world->result->behaviour_of[member] = world->serving.behaviour_of[member];
        }
        return;
    }
    result->honest_judged += 1;
    if (deviated) {
        result->honest_penalised += 1;
        sim__verify_violation(world, SIM_VIOLATION_HONEST_PENALISED, request, segment, member,
                         world->requests[request].generated);
    }
}

/* ---- building ---- */

static int verify_alloc(sim_world *world)
{
    const scn_scenario *scenario = world->scenario;
    uint32_t n = world->node_count;
    uint32_t k = scenario->verification.committee;
    uint32_t segments = scenario->model.segment_count;
    uint64_t requests = world->result->request_count;
    size_t slots = (size_t)k * (scenario->verification.retries + 1);
    node_serving *serving = &world->serving;
    world->result->reputation = util_calloc(n, sizeof(double));
    world->result->stake = util_calloc(n, sizeof(double));
    world->result->behaviour_of = util_calloc(n, 1);
    world->behaviour_now = util_calloc(n, 1);
    world->behaviour_scale = util_calloc(n, sizeof(double));
    world->identities = util_calloc(n, sizeof(*world->identities));
    world->candidates = util_calloc(world->server_offsets[segments], sizeof(cons_candidate));
    size_t rounds = scenario->verification.retries + 1;
    world->committee_cache = util_calloc(requests * segments * rounds * k, sizeof(uint32_t));
    world->committee_cache_round = util_calloc(requests * segments * rounds, 1);
    world->committee_cache_count = util_calloc(requests * segments * rounds, sizeof(uint32_t));
    world->committees = util_calloc(requests, sizeof(node_committee_state));
    world->reveal_block_of = util_calloc(requests * segments * slots, sizeof(uint32_t));
    world->decoded = util_calloc(serving->output_floats, sizeof(float));
    if (world->result->reputation == NULL || world->result->stake == NULL ||
        world->result->behaviour_of == NULL ||
        world->behaviour_now == NULL || world->behaviour_scale == NULL ||
        world->identities == NULL || world->candidates == NULL || world->committee_cache == NULL ||
        world->committee_cache_round == NULL || world->committee_cache_count == NULL ||
        world->committees == NULL || world->reveal_block_of == NULL || world->decoded == NULL) {
        return SIM_ENOMEM;
    }
    return 0;
}

/* Every server of a segment is a candidate for its committees, weighted by
 * stake x reputation; its identity is a public hash of (seed, node). */
static int verify_candidates(sim_world *world)
{
    const scn_verification *v = &world->scenario->verification;
    cons_candidate *candidates = world->candidates;
    for (uint32_t i = 0; i < world->node_count; i++) {
        uint8_t id[12];
        for (int b = 0; b < 8; b++) {
            id[b] = (uint8_t)(world->scenario->seed >> (8 * b));
        }
        for (int b = 0; b < 4; b++) {
            id[8 + b] = (uint8_t)(i >> (8 * b));
        }
        util_hash256(id, sizeof(id), world->identities[i]);
        world->result->reputation[i] = v->reputation_initial;
        world->result->stake[i] = v->stake;
    }
    for (uint32_t s = 0; s < world->scenario->model.segment_count; s++) {
        uint32_t first = world->server_offsets[s];
        uint32_t count = world->server_offsets[s + 1] - first;
        if (count < v->committee) {
            return SIM_ECOMMITTEE; /* Fewer servers than committee members. */
        }
        for (uint32_t i = first; i < first + count; i++) {
            candidates[i].node_id = world->servers[i];
            memcpy(candidates[i].public_key, world->identities[world->servers[i]],
                   sizeof(candidates[i].public_key));
            candidates[i].stake = v->stake;
            candidates[i].reputation = v->reputation_initial;
        }
    }
    return 0;
}

/* ed25519 key pairs for every node, derived from (seed, node): a node
 * signs with its own secret key only, so a forged vote cannot verify. */
static int verify_keys(sim_world *world)
{
    uint32_t n = world->node_count;
    world->public_keys = util_calloc(n, sizeof(*world->public_keys));
    world->secret_keys = util_calloc(n, sizeof(*world->secret_keys));
    if (world->public_keys == NULL || world->secret_keys == NULL) {
        return SIM_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        util_sign_keypair_from_seed(world->scenario->seed, i, world->public_keys[i],
                                    world->secret_keys[i]);
    }
    world->signing = true;
    return 0;
}

/* A substituted model: the same shape with other weights (the run's weight
 * seed + 1), for wrong_output faults of mode 'model'. */
static int verify_substitute(sim_world *world)
{
    bool wanted = false;
    for (uint32_t i = 0; i < world->scenario->fault_count; i++) {
        const scn_fault *fault = &world->scenario->faults[i];
        wanted |= fault->kind == SCN_FAULT_WRONG_OUTPUT && fault->wrong_mode == 1;
    }
    if (!wanted) {
        return 0;
    }
    char why[128];
    infer_shape shape = *infer_model_shape(world->model);
    if (infer_model_from_seed(&shape, world->scenario->model.weight_seed + 1, &world->substitute,
                              why, sizeof(why)) != 0 ||
        infer_executor_create(world->substitute, world->serving.tokens_max,
                              &world->serving.substitute) != 0) {
        return SIM_ENOMEM;
    }
    return 0;
}

int sim__verify_build(sim_world *world)
{
    const scn_verification *v = &world->scenario->verification;
    node_serving *serving = &world->serving;
    world->agreement = verify_rule(&v->agreement);
    world->final_agreement = verify_rule(&v->final_agreement);
    cons_reputation_rule reputation = {v->penalty, v->reward, v->reputation_min,
                                       v->reputation_max, v->reputation_initial};
    world->reputation_rule = reputation;
    serving->committee = v->committee;
    serving->quorum = v->quorum;
    serving->retries = v->retries;
    serving->commit_reveal = v->commit_reveal;
    serving->commit_timeout_ns = v->commit_timeout_ns;
    serving->reveal_timeout_ns = v->reveal_timeout_ns;
    world->result->verified = true;
    int rc = verify_alloc(world);
    if (rc == 0) {
        rc = verify_candidates(world);
    }
    if (rc == 0 && v->sign_ed25519) {
        rc = verify_keys(world);
    }
    if (rc == 0) {
        rc = verify_substitute(world);
    }
    if (rc != 0) {
        return rc;
    }
    node_verifier verifier = {world, verify_committee, verify_commit, verify_salt, verify_accept,
                              verify_judged};
    world->verifier = verifier;
    serving->verifier = &world->verifier;
    serving->behaviour_of = world->behaviour_now;
    serving->adaptive_budget = &world->adaptive_budget;
    serving->behaviour_scale_of = world->behaviour_scale;
    serving->behaviour_seed = util_mix64(world->scenario->seed ^ UINT64_C(0x636172746c));
    serving->committees = world->committees;
    serving->reveal_block_of = world->reveal_block_of;
    serving->decoded = world->decoded;
    size_t outputs = (size_t)NODE_COMMITTEE_MAX * NODE_DIGEST_BYTES +
                     (size_t)v->committee * serving->output_floats * sizeof(float);
    size_t reveal = sizeof(uint32_t) + NODE_SALT_BYTES +
                    (serving->output_floats + serving->tokens_max) * sizeof(float);
    util_pool_init(&serving->committee_pool, outputs);
    util_pool_init(&serving->reveal_pool, reveal);
    return 0;
}

void sim__verify_destroy(sim_world *world)
{
    node_serving *serving = &world->serving;
    if (serving->committee_pool.block_bytes != 0) {
        util_pool_deinit(&serving->committee_pool);
        util_pool_deinit(&serving->reveal_pool);
    }
    infer_executor_destroy(serving->substitute);
    infer_model_destroy(world->substitute);
    util_free(world->public_keys);
    util_free(world->secret_keys);
    util_free(world->behaviour_now);
    util_free(world->behaviour_scale);
    util_free(world->identities);
    util_free(world->candidates);
    util_free(world->committee_cache);
    util_free(world->committee_cache_round);
    util_free(world->committee_cache_count);
    util_free(world->committees);
    util_free(world->reveal_block_of);
    util_free(world->decoded);
}

void sim__verify_behaviour(sim_world *world, const scn_fault *fault, const uint8_t *selected,
                           bool ending)
{
    static const node_behaviour wrong[] = {NODE_BEHAVIOUR_WRONG_OUTPUT,
                                           NODE_BEHAVIOUR_WRONG_MODEL,
                                           NODE_BEHAVIOUR_WRONG_LAYER};
    ASSERT(fault->wrong_mode < UTIL_ARRAY_COUNT(wrong));
    node_behaviour behaviour = fault->kind == SCN_FAULT_WRONG_OUTPUT ? wrong[fault->wrong_mode]
                               : fault->kind == SCN_FAULT_COLLUDE    ? NODE_BEHAVIOUR_COLLUDE
                               : fault->kind == SCN_FAULT_SYBIL      ? NODE_BEHAVIOUR_COLLUDE
                               : fault->kind == SCN_FAULT_LAZY_COPY  ? NODE_BEHAVIOUR_LAZY_COPY
                               : fault->kind == SCN_FAULT_ADAPTIVE   ? NODE_BEHAVIOUR_ADAPTIVE
                               : fault->kind == SCN_FAULT_EQUIVOCATE ? NODE_BEHAVIOUR_EQUIVOCATE
                                                                     : NODE_BEHAVIOUR_SILENT;
    uint32_t count = 0;
    ASSERT(world->verifying);
    for (uint32_t i = 0; i < world->node_count; i++) {
        count += selected[i];
    }
    if (fault->kind == SCN_FAULT_ADAPTIVE && !ending) {
        world->adaptive_budget += fault->budget != 0 ? fault->budget : count;
    }
    for (uint32_t i = 0; i < world->node_count; i++) {
        if (!selected[i]) {
            continue;
        }
        world->behaviour_now[i] = ending ? NODE_BEHAVIOUR_HONEST : (uint8_t)behaviour;
        world->behaviour_scale[i] = fault->scale;
        if (!ending && fault->kind == SCN_FAULT_SYBIL) {
            /* k identities of one operator share its one stake. */
            world->result->stake[i] = world->scenario->verification.stake / count;
            world->result->behaviour_of[i] = NODE_BEHAVIOUR_SYBIL;
        } else if (!ending && fault->kind != SCN_FAULT_ADAPTIVE) {
            world->result->behaviour_of[i] = (uint8_t)behaviour;
        }
    }
}

/* ---- the checkers and the metrics ---- */

void sim__verify_judge_request(sim_world *world, uint64_t request, const float *network,
                               const float *reference)
{
    uint32_t vocab = world->serving.vocab;
    sim_request_record *record = &world->result->requests[request];
    for (uint32_t step = 0; step < world->serving.generate_tokens; step++) {
        const float *a = network + (size_t)step * vocab;
        const float *b = reference + (size_t)step * vocab;
        if (!cons_agree(&world->final_agreement, a, b, vocab)) {
            record->accepted_wrong = true;
            sim__verify_violation(world, SIM_VIOLATION_ACCEPTED_WRONG, request,
                             world->serving.segment_count - 1, UINT32_MAX, step);
        }
    }
    world->result->accepted_wrong += record->accepted_wrong;
}

static void reputation_means(const sim_result *result, double *honest, double *byzantine)
{
    double sums[2] = {0, 0};
    uint64_t counts[2] = {0, 0};
    for (uint32_t i = 0; i < result->node_count; i++) {
        int bad = result->behaviour_of[i] != NODE_BEHAVIOUR_HONEST;
        sums[bad] += result->reputation[i];
        counts[bad] += 1;
    }
    *honest = counts[0] ? sums[0] / (double)counts[0] : NAN;
    *byzantine = counts[1] ? sums[1] / (double)counts[1] : NAN;
}

int sim__verify_metric(const sim_result *result, const char *name, double *value_out)
{
    double honest = NAN, byzantine = NAN;
    uint64_t failed = 0;
    if (result->verified) {
        reputation_means(result, &honest, &byzantine);
    }
    for (uint64_t r = 0; r < result->request_count; r++) {
        failed += result->requests[r].status == NODE_REQUEST_FAILED ||
                  result->requests[r].status == NODE_REQUEST_TIMEOUT;
    }
    const struct {
        const char *name;
        double value;
    } metrics[] = {
        {"accepted_wrong", (double)result->accepted_wrong},
        {"accepted_wrong_ratio", result->requests_completed
                                     ? (double)result->accepted_wrong /
                                           (double)result->requests_completed
                                     : NAN},
        {"honest_penalised", (double)result->honest_penalised},
        {"honest_penalised_ratio", result->honest_judged ? (double)result->honest_penalised /
                                                               (double)result->honest_judged
                                                         : 0.0},
        {"no_quorum", (double)result->no_quorum},
        {"reputation_honest_mean", honest},
        {"reputation_byzantine_mean", byzantine},
        {"requests_failed", (double)failed},
        {"stake_slashed", result->stake_slashed},
    };
    for (size_t i = 0; i < UTIL_ARRAY_COUNT(metrics); i++) {
        if (strcmp(name, metrics[i].name) == 0) {
            bool inference = result->request_count > 0;
            bool counts_everywhere = strcmp(name, "requests_failed") == 0;
            *value_out = result->verified || (inference && counts_everywhere) ? metrics[i].value
                                                                               : NAN;
            return 0;
        }
    }
    return SIM_EINVAL;
}
