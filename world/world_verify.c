/* world_verify.c -- the world's side of verification: the node_verifier
 * the nodes call (sortition, salts, agreement, the ledger's wiring, the
 * TEE vendor's attestation key), built from the scenario with the
 * candidates, keys and stores it needs. The protocol's own rules are
 * consensus/'s table, which the nodes call directly; the referee is
 * world_referee.c, the adversary's choices world_adversary.c, the checkers
 * world_check.c.
 *
 * The committee of (request, segment, round) is drawn once, when first
 * asked, from the reputations at that moment, and then kept for every
 * round: every node that recomputes it later gets the same answer even
 * though reputations have moved since (on a real network the beacon and the
 * reputation snapshot would both be fixed on the ledger at request time).
 * Under verification.draw_epoch the reputations and stakes are the settled
 * state of world_settle.c instead, the same in both drivers; in a hosted
 * world under a ledger, the committed chain's state at the request's agreed
 * height (world_chain.c).
 *
 * Nothing here branches on the protocol: its table in consensus/ says how
 * many members a beacon draws (crossval adds its N verifiers only when the
 * spot check says so; optimistic always adds its challengers), who is
 * eligible (sampling's echelon, tee's TEE-capable classes), whether the
 * draw is uniform (sampling) or by stake x reputation (the others), and the
 * prover's and enclave's costs. The ledger is consensus/cons_ledger.c's,
 * over the result's reputation, stake and balance arrays: the judged and
 * decided callbacks hand it each verdict and settlement (fees, slashes,
 * the pot's shares) and copy its totals to the result; its conservation is
 * checked when the world is torn down. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "consensus/cons.h"
#include "world/world_int.h"
#include "util/alloc.h"
#include "util/assert.h"

static cons_agreement verify_rule(const scn_agreement *a)
{
    cons_agreement rule = {(cons_agree_kind)a->rule, a->epsilon, a->tau, a->top_k, a->margin};
    return rule;
}

/* ---- the verifier the nodes call ---- */

/* How many members the committee of (beacon, segment) has: the
 * protocol's draw size (crossval's spot check adds its verifiers). */
static uint32_t verify_draw_size(const world_state *world, const uint8_t *beacon, uint32_t segment)
{
    const node_serving *serving = &world->serving;
    uint32_t size = serving->protocol->draw_size(&serving->protocol_params, beacon, segment);
    ASSERT(size >= 1 && size <= serving->committee);
    return size;
}

/* A fresh draw against its closed form: is it captured by the members
 * Byzantine now (the protocol says what capture is), and how likely was
 * that for a uniform draw from the segment's pool as it stands (exact
 * under uniform weights, an approximation once stake and reputation
 * differ). */
static void verify_capture_note(world_state *world, uint32_t segment, const uint32_t *members,
                                uint32_t drawn)
{
    const cons_protocol_ops *protocol = world->serving.protocol;
    if (protocol->captured == NULL) {
        return;
    }
    const cons_candidate *pool = (const cons_candidate *)world->candidates +
                                 world->candidate_offsets[segment];
    uint32_t count = world->candidate_offsets[segment + 1] - world->candidate_offsets[segment];
    const uint8_t *behaviour = world->store.behaviour_of;
    struct world_capture_memo *memo = &world->capture_memo[segment];
    uint32_t malicious = memo->malicious;
    if (memo->counted != world->behaviour_changes + 1) {
        malicious = 0;
        for (uint32_t i = 0; i < count; i++) {
            malicious += behaviour[pool[i].node_id] != NODE_BEHAVIOUR_HONEST;
        }
    }
    uint64_t byzantine = 0;
    for (uint32_t j = 0; j < drawn; j++) {
        byzantine |= (uint64_t)(behaviour[members[j]] != NODE_BEHAVIOUR_HONEST) << j;
    }
    const cons_params *params = &world->serving.protocol_params;
    if (memo->draw != drawn || memo->malicious != malicious) {
        memo->probability = protocol->capture_probability(params, count, malicious, drawn);
    }
    memo->malicious = malicious;
    memo->draw = drawn;
    memo->counted = world->behaviour_changes + 1;
    world_result *result = world->result;
    result->capture_draws++;
    result->captured_draws += protocol->captured(params, byzantine, drawn);
    result->capture_expected += memo->probability;
}

/* Where a draw's weights come from: per-node arrays (the settled state or
 * the ledger now), or one value for every candidate (hosted: the snapshot
 * every process holds; a uniform draw: 1). */
static void verify_weights_of(world_state *world, uint64_t request, world_weights *of,
                              bool *cacheable)
{
    const scn_verification *v = &world->scenario->verification;
    const double *reputation = NULL, *stake = NULL;
    /* verification.draw_epoch: the settled state (world_settle.c); a hosted
     * world under a ledger: the chain at the request's agreed height
     * (world_chain.c). Else, hosted: the snapshot the run started with,
     * which every process holds; simulated: the ledger now. Called before
     * any candidate is filled: the chain's state may apply blocks whose
     * evidence checks draw other committees. */
    uint64_t height = 0, source = WORLD_WEIGHTS_FIXED;
    if (world__settle_state(world, request, &reputation, &stake)) {
        source = WORLD_WEIGHTS_SETTLED | world->settled_generation;
    } else if (world__chain_state(world, request, &reputation, &stake, cacheable, &height)) {
        source = WORLD_WEIGHTS_CHAIN | height;
    }
    if (world->serving.protocol->uniform_draw) {
        *of = (world_weights){.reputation_all = 1.0, .stake_all = 1.0,
                              .source = WORLD_WEIGHTS_FIXED};
    } else if (source != WORLD_WEIGHTS_FIXED) {
        *of = (world_weights){.reputation = reputation, .stake = stake, .source = source};
    } else if (world->hosted) {
        *of = (world_weights){.reputation_all = v->reputation_initial, .stake_all = v->stake,
                              .source = WORLD_WEIGHTS_FIXED};
    } else {
        *of = (world_weights){.reputation = world->result->reputation,
                              .stake = world->result->stake, .source = WORLD_WEIGHTS_LIVE};
    }
}

/* What a race draw's slices prepare. */
typedef struct verify_prepare {
    world_state *world;
    uint32_t offset;                 /* the segment's first candidate */
    const world_weights *of;
    bool refill;                     /* the candidates' weights to write from 'of' */
    const world_vrf_draw *vrf;       /* the tickets to compute, or NULL */
} verify_prepare;

/* A slice's preparation (world_draw's hook, on any thread): its
 * candidates' weights when the segment held another source, then under
 * selection: vrf their tickets. */
static void verify_draw_prepare(void *context, size_t first, size_t last)
{
    const verify_prepare *w = context;
    cons_candidate *candidates = (cons_candidate *)w->world->candidates + w->offset;
    for (size_t i = first; w->refill && i < last; i++) {
        uint32_t id = candidates[i].node_id;
        candidates[i].reputation = world__weights_reputation(w->of, id);
        candidates[i].stake = world__weights_stake(w->of, id);
    }
    if (w->vrf != NULL) {
        world__vrf_tickets(w->world, w->vrf, w->offset + (uint32_t)first,
                           w->offset + (uint32_t)last);
    }
}

/* A moved node's weights written again at 'position' of a segment whose
 * candidates hold the live ledger (world__held_sync's hook). */
static void verify_set_live(void *context, uint32_t segment, uint32_t position,
                            uint32_t node_id, const world_weights *live)
{
    world_state *world = context;
    cons_candidate *candidate =
        (cons_candidate *)world->candidates + world->candidate_offsets[segment] + position;
    candidate->reputation = world__weights_reputation(live, node_id);
    candidate->stake = world__weights_stake(live, node_id);
}

uint32_t world__race_draw(world_state *world, uint32_t segment,
                          const uint8_t beacon[CONS_BEACON_BYTES], uint32_t k,
                          const world_weights *weights, const world_vrf_draw *vrf,
                          uint32_t *members_out)
{
    uint32_t first = world->candidate_offsets[segment];
    verify_prepare prepare = {.world = world, .offset = first, .of = weights, .vrf = vrf};
    prepare.refill = world__held_sync(world, segment, weights, verify_set_live, world);
    world_draw draw = {.beacon = beacon,
                       .segment = segment,
                       .candidates = (const cons_candidate *)world->candidates + first,
                       .count = world->candidate_offsets[segment + 1] - first,
                       .k = k,
                       .prepare = prepare.refill || vrf != NULL ? verify_draw_prepare : NULL,
                       .context = &prepare};
    if (vrf != NULL) {
        draw.uniforms = world->vrf_uniforms + first;
        draw.slice_min = vrf->slice_min;
    }
    struct util_workers *workers = world__draw_workers(world);
    world->result->committee_draws_pooled += world_draw_slices(workers, &draw) > 1;
    int chosen = world_draw_select(workers, &draw, members_out);
    ASSERT(chosen > 0); /* Weights are positive; k was checked at build. */
    return (uint32_t)chosen;
}

/* Draws the committee of (request, segment, round) into members_out; sets
 * *cacheable to whether it may be kept (world__chain_state). */
static uint32_t verify_draw(world_state *world, uint64_t request, uint32_t segment,
                            uint32_t round, uint32_t *members_out, bool *cacheable)
{
    uint8_t beacon[CONS_BEACON_BYTES];
    cons_beacon_derive(world->scenario->seed, request, round, beacon);
    world_weights weights;
    verify_weights_of(world, request, &weights, cacheable);
    uint32_t k = verify_draw_size(world, beacon, segment);
    world->result->committee_draws += 1;
    world_vrf_draw vrf;
    bool selection_vrf = world->scenario->verification.selection_vrf;
    if (selection_vrf) {
        world__vrf_draw_begin(world, request, segment, beacon, world->trees == NULL, &vrf);
    }
    const world_vrf_draw *tickets = selection_vrf ? &vrf : NULL;
    uint32_t chosen =
        world->trees != NULL
            ? world__tree_draw(world, segment, beacon, k, &weights, tickets, members_out)
            : world__race_draw(world, segment, beacon, k, &weights, tickets, members_out);
    ASSERT(chosen > 0); /* Weights are positive; k was checked at build. */
    if (selection_vrf) {
        world__vrf_seated(world, &vrf, members_out, chosen);
    }
    return chosen;
}

static uint32_t verify_committee(void *context, uint64_t request, uint32_t segment,
                                 uint32_t round, uint32_t *members_out)
{
    world_state *world = context;
    uint32_t k = world->serving.committee;
    size_t rounds = world->serving.retries + 1;
    ASSERT(round < rounds); /* Members check m->hops against retries first. */
    size_t index = ((size_t)request * world->serving.segment_count + segment) * rounds + round;
    uint32_t *cached = world->committee_cache + index * k;
    if (world->committee_cache_round[index] == 0) {
        bool cacheable = true;
        uint32_t chosen = verify_draw(world, request, segment, round, members_out, &cacheable);
        if (!cacheable) {
            return chosen;
        }
        memcpy(cached, members_out, chosen * sizeof(uint32_t));
        world->committee_cache_count[index] = chosen;
        world->committee_cache_round[index] = 1;
        verify_capture_note(world, segment, cached, chosen);
    }
    memcpy(members_out, cached, world->committee_cache_count[index] * sizeof(uint32_t));
    return world->committee_cache_count[index];
}

static void verify_salt(void *context, uint32_t member, uint64_t request, uint32_t segment,
                        uint32_t round, uint8_t salt_out[NODE_SALT_BYTES])
{
    world_state *world = context;
    _Static_assert(NODE_SALT_BYTES == CONS_SALT_BYTES, "one salt size");
    cons_salt_derive(world->keys[member], UTIL_MAC_KEY_BYTES, request, segment, round, salt_out);
}

static int verify_accept(void *context, bool last_segment, const float *const *outputs,
                         size_t n_floats, uint32_t count, uint32_t *accepted_out,
                         uint64_t *agree_mask_out)
{
    world_state *world = context;
    const cons_agreement *rule = last_segment ? &world->final_agreement : &world->agreement;
    /* unsafe_quorum_slack is a deliberately planted bug for swarm tests. */
    uint32_t quorum = world->serving.quorum - world->scenario->verification.unsafe_quorum_slack;
    int rc = cons_accept(rule, outputs, n_floats, count, quorum, accepted_out, agree_mask_out);
    return rc == 0 ? 0 : -1;
}

static bool verify_agree(void *context, bool last_segment, const float *a, const float *b,
                         size_t n_floats)
{
    world_state *world = context;
    return cons_agree(last_segment ? &world->final_agreement : &world->agreement, a, b, n_floats);
}

/* The ledger's totals, copied to the result after every change (the
 * per-node arrays are the result's own). */
void world__verify_totals(world_state *world)
{
    world_result *result = world->result;
    result->fees_paid = world->ledger.fees_paid;
    result->stake_slashed = world->ledger.stake_slashed;
    result->slashed_to_oracle = world->ledger.slashed_to_oracle;
    result->slashed_burnt = world->ledger.slashed_burnt;
}

static void verify_judged(void *context, uint32_t member, node_verdict verdict,
                          uint64_t request, uint32_t segment)
{
    world_state *world = context;
    world_result *result = world->result;
    if (world->judgement_count == sizeof(world->judgements) / sizeof(world->judgements[0])) {
        /* Verdicts whose DECISION never reached the recorder (a driver that
         * dropped a call's effects): forget them. */
        world->judgement_count = 0;
        world->judgement_used = 0;
    }
    world->judgements[world->judgement_count++] =
        (struct world_judgement){member, result->reputation[member], result->stake[member]};
    cons_ledger_judge(&world->ledger, member, verdict);
    world__settle_log(world, request, member, (uint32_t)verdict);
    world__verify_totals(world);
    (void)world__verify_honest_judged(world, member, verdict, request, segment);
}

/* An adaptive node not (yet) taken by the adversary behaves honestly. */
static bool verify_behaves_honestly(uint8_t behaviour)
{
    return behaviour == NODE_BEHAVIOUR_HONEST || behaviour == NODE_BEHAVIOUR_ADAPTIVE;
}

void world__verify_behaviour_set(world_state *world, uint32_t node_id, uint8_t behaviour)
{
    ASSERT(node_id < world->node_count);
    world->behaviour_changes += 1;
    if (!verify_behaves_honestly(world->behaviour_now[node_id]) &&
        verify_behaves_honestly(behaviour)) {
        world->byzantine_end_ns[node_id] = world->now_ns + 1;
    }
    world->behaviour_now[node_id] = behaviour;
}

/* Whether 'member' behaved honestly from the submission of 'request' until
 * now. A member that was Byzantine while the request ran may fail its later
 * steps for what it did then (a silent member holds no cache for the steps
 * after its spell), and under ledger settlement a verdict is judged when its
 * block commits, after the decision; neither penalty is a false positive. */
static bool verify_honest_throughout(const world_state *world, uint32_t member,
                                     uint64_t request)
{
    /* Under ledger settlement 'request' comes from a committed block. */
    return request < world->result->request_count &&
           verify_behaves_honestly(world->store.behaviour_of[member]) &&
           world->byzantine_end_ns[member] <= world->result->requests[request].submitted_ns;
}

bool world__verify_honest_judged(world_state *world, uint32_t member, cons_verdict verdict,
                                 uint64_t request, uint32_t segment)
{
    world_result *result = world->result;
    if (!verify_behaves_honestly(world->store.behaviour_of[member]) &&
        world->result->behaviour_of[member] == NODE_BEHAVIOUR_HONEST) {
        /* An adaptive corruption shows up here, when it is first judged. */
        world->result->behaviour_of[member] = world->store.behaviour_of[member];
    }
    if (!verify_honest_throughout(world, member, request)) {
        return false;
    }
    result->honest_judged += 1;
    if (verdict != CONS_VERDICT_AGREED) {
        result->honest_penalised += 1;
        world__check_violation(world, WORLD_VIOLATION_HONEST_PENALISED, request, segment, member,
                         world->requests[request].generated);
        return true;
    }
    return false;
}

void world__verify_record_decision(world_state *world, const node_decision *decision)
{
    world_result *result = world->result;
    ASSERT(decision != NULL && decision->member_count <= CONS_COMMITTEE_MAX);
    if (result->decision_count + decision->member_count > result->decision_capacity) {
        uint64_t capacity = result->decision_capacity ? result->decision_capacity : 256;
        while (capacity < result->decision_count + decision->member_count) {
            capacity *= 2;
        }
        world_decision_record *grown = util_realloc(result->decisions, capacity * sizeof(*grown));
        ASSERT(grown != NULL); /* Host out of memory mid-run. */
        result->decisions = grown;
        result->decision_capacity = capacity;
    }
    result->members_skipped += (uint64_t)__builtin_popcountll(decision->skipped);
    for (uint32_t j = 0; j < decision->member_count; j++) {
        uint32_t id = decision->members[j];
        ASSERT(id < world->node_count);
        uint64_t bit = UINT64_C(1) << j;
        bool judged = (decision->judged & bit) != 0;
        world_decision_record *row = &result->decisions[result->decision_count++];
        *row = (world_decision_record){
            .request = decision->request,
            .t_ns = world->now_ns,
            .segment = decision->segment,
            .step = decision->step,
            .round = decision->round,
            .member = j,
            .member_count = decision->member_count,
            .node_id = id,
            .action = (uint8_t)decision->action,
            .dispute = (uint8_t)decision->dispute,
            .verdict = judged ? decision->verdicts[j] : 0,
            .flags = (uint8_t)(((decision->committed & bit) ? WORLD_DECISION_COMMITTED : 0u) |
                               ((decision->answered & bit) ? WORLD_DECISION_ANSWERED : 0u) |
                               ((decision->revealed & bit) ? WORLD_DECISION_REVEALED : 0u) |
                               ((decision->equivocated & bit) ? WORLD_DECISION_EQUIVOCATED : 0u) |
                               (judged ? WORLD_DECISION_JUDGED : 0u) |
                               (decision->accepted == j ? WORLD_DECISION_ACCEPTED : 0u) |
                               ((decision->skipped & bit) ? WORLD_DECISION_SKIPPED : 0u)),
            .behaviour = world->store.behaviour_of[id],
            .reputation_before = result->reputation[id],
            .reputation_after = result->reputation[id],
            .stake_before = result->stake[id],
            .stake_after = result->stake[id],
        };
        if (judged && world->judgement_used < world->judgement_count &&
            world->judgements[world->judgement_used].node_id == id) {
            /* verify_judged logged this member's verdict, in member order
             * (without that entry the row keeps before = after). */
            const struct world_judgement *before = &world->judgements[world->judgement_used++];
            row->reputation_before = before->reputation;
            row->stake_before = before->stake;
        }
    }
    if (world->judgement_used >= world->judgement_count) {
        world->judgement_used = 0;
        world->judgement_count = 0;
    }
}

void world__verify_forget_decisions(world_result *result, uint64_t request)
{
    for (uint64_t i = 0; i < result->decision_count; i++) {
        if (result->decisions[i].request == request) {
            result->decisions[i].request = UINT64_MAX;
        }
    }
}

/* Closes a decision: fees to the agreeing members, the pot shared out. */
static void verify_decided(void *context, uint64_t request, uint32_t segment, uint32_t rows)
{
    world_state *world = context;
    (void)segment;
    ASSERT(rows > 0);
    cons_ledger_settle(&world->ledger, rows);
    world__settle_log(world, request, UINT32_MAX, rows);
    world__verify_totals(world);
#if defined(INFERSIM_DEEP_CHECKS) && INFERSIM_DEEP_CHECKS
    /* Checking builds (make sanitize): conservation after every settlement,
     * O(nodes) each; other builds check once, at teardown. */
    const char *broken = cons_ledger_check(&world->ledger);
    if (broken != NULL) {
        fprintf(stderr, "ledger invariant broken: %s (request %llu, segment %u)\n", broken,
                (unsigned long long)request, segment);
    }
    ASSERT(broken == NULL);
#endif
}

/* ---- tee attestation ---- */

/* The attested statement: H(model hash | request | segment | step |
 * member | H(output bytes)). */
static void verify_statement(const world_state *world, bool right_model, uint32_t member,
                             uint64_t request, uint32_t segment, uint32_t step,
                             const void *bytes, size_t size, uint8_t out[32])
{
    uint8_t fields[24];
    uint8_t output_hash[32];
    util_hash256(bytes, size, output_hash);
    for (int b = 0; b < 8; b++) {
        fields[b] = (uint8_t)(request >> (8 * b));
    }
    for (int b = 0; b < 4; b++) {
        fields[8 + b] = (uint8_t)(segment >> (8 * b));
        fields[12 + b] = (uint8_t)(step >> (8 * b));
        fields[16 + b] = (uint8_t)(member >> (8 * b));
    }
    memset(fields + 20, 0, 4);
    util_hash256_state state;
    util_hash256_init(&state);
    util_hash256_update(&state, world->model_hash[right_model ? 0 : 1], 32);
    util_hash256_update(&state, fields, sizeof(fields));
    util_hash256_update(&state, output_hash, sizeof(output_hash));
    util_hash256_final(&state, out);
}

static void verify_attest(void *context, uint32_t member, uint64_t request, uint32_t segment,
                          uint32_t step, bool right_model, const void *bytes, size_t size,
                          uint8_t evidence_out[NODE_ATTEST_BYTES])
{
    world_state *world = context;
    uint8_t statement[32];
    verify_statement(world, right_model, member, request, segment, step, bytes, size, statement);
    util_sign(world->vendor_secret, statement, sizeof(statement), evidence_out);
}

static bool verify_attest_check(void *context, uint32_t member, uint64_t request,
                                uint32_t segment, uint32_t step, const void *bytes, size_t size,
                                const uint8_t evidence[NODE_ATTEST_BYTES])
{
    world_state *world = context;
    uint8_t statement[32];
    verify_statement(world, true, member, request, segment, step, bytes, size, statement);
    return util_sign_verify(world->vendor_public, statement, sizeof(statement), evidence);
}

/* ---- the rational adversary ---- */

/* ---- building ---- */

/* The scenario's protocol settings, as consensus/ reads them. */
static cons_params verify_params(const scn_verification *v)
{
    cons_params params = {
        .committee = v->committee,
        .verifiers = v->verifiers,
        .quorum = v->quorum,
        .commit_reveal = v->commit_reveal,
        .check_probability = v->check_probability,
        .check_answers = v->check_answers,
        .proof_bytes = v->zk_proof_bytes,
        .dispute_ns = v->dispute_ns,
        .bisection_round_ns = v->bisection_round_ns,
        .zk_verify_ns = v->zk_verify_ns,
        .echelon = v->echelon,
        .tee_overhead = v->tee_overhead,
        .zk_prover_factor = v->zk_prover_factor,
    };
    return params;
}

uint32_t world__verify_members_max(const scn_verification *v)
{
    ASSERT(v->protocol != CONS_PROTOCOL_NONE);
    cons_params params = verify_params(v);
    return cons_protocol_get(v->protocol)->members_max(&params);
}

static int verify_alloc(world_state *world)
{
    const scn_scenario *scenario = world->scenario;
    uint32_t n = world->node_count;
    uint32_t k = world->serving.committee;
    uint32_t segments = scenario->model.segment_count;
    uint64_t requests = world->result->request_count;
    size_t slots = (size_t)k * (scenario->verification.retries + 1);
    node_serving *serving = &world->serving;
    world_result *result = world->result;
    result->reputation = util_calloc(n, sizeof(double));
    result->stake = util_calloc(n, sizeof(double));
    result->balance = util_calloc(n, sizeof(double));
    result->behaviour_of = util_calloc(n, 1);
    world->behaviour_now = util_calloc(n, 1);
    world->byzantine_end_ns = util_calloc_sparse(n, sizeof(uint64_t)); /* written by faults */
    world->behaviour_scale = util_calloc(n, sizeof(double));
    world->gain_of = util_calloc(n, sizeof(double));
    world->identities = util_calloc(n, sizeof(*world->identities));
    world->candidates = util_calloc(world->server_offsets[segments], sizeof(cons_candidate));
    world->candidate_offsets = util_calloc(segments + 1, sizeof(uint32_t));
    size_t rounds = scenario->verification.retries + 1;
    world->committee_cache = util_calloc_sparse(requests * segments * rounds * k, sizeof(uint32_t));
    world->committee_cache_round = util_calloc_sparse(requests * segments * rounds, 1);
    world->committee_cache_count =
        util_calloc_sparse(requests * segments * rounds, sizeof(uint32_t));
    world->committees = util_calloc_sparse(requests, sizeof(node_committee_state));
    world->reveal_block_of = util_calloc_sparse(requests * segments * slots, sizeof(uint32_t));
    world->decoded = util_calloc(serving->output_floats, sizeof(float));
    if (scenario->verification.suspect_after_ns > 0) {
        world->suspects = util_calloc((size_t)n * NODE_SUSPECTS_MAX, sizeof(uint32_t));
        if (world->suspects == NULL) {
            return WORLD_ENOMEM;
        }
    }
    if (result->reputation == NULL || result->stake == NULL || result->balance == NULL ||
        result->behaviour_of == NULL || world->behaviour_now == NULL ||
        world->byzantine_end_ns == NULL || world->behaviour_scale == NULL ||
        world->gain_of == NULL || world->identities == NULL ||
        world->candidates == NULL || world->candidate_offsets == NULL ||
        world->committee_cache == NULL || world->committee_cache_round == NULL ||
        world->committee_cache_count == NULL || world->committees == NULL ||
        world->reveal_block_of == NULL || world->decoded == NULL) {
        return WORLD_ENOMEM;
    }
    return 0;
}

/* Whether a server may sit on this protocol's committees, as the
 * protocol's table says (sampling's echelon, tee's enclaves). */
static bool verify_eligible(const world_state *world, uint32_t node_id)
{
    const cons_protocol_ops *ops = world->serving.protocol;
    uint16_t class_index = world->result->class_of[node_id];
    cons_server_class server = {class_index, world->scenario->nodes.classes[class_index].tee};
    return ops->eligible == NULL || ops->eligible(&world->serving.protocol_params, &server);
}

/* The ledger over the result's per-node arrays: every node at the initial
 * reputation with the scenario's stake as stake and balance. Cannot fail
 * (the scenario's loader checked the terms). */
static void verify_ledger(world_state *world)
{
    const scn_verification *v = &world->scenario->verification;
    world_result *result = world->result;
    cons_ledger_terms terms = {
        .reputation = {v->penalty, v->reward, v->reputation_min, v->reputation_max,
                       v->reputation_initial},
        .slash = v->slash,
        .timeout_slash = v->timeout_slash,
        .fee_per_token = v->fee_per_token,
        .to_honest = v->slashed_honest,
        .to_oracle = v->slashed_oracle,
        .to_burn = v->slashed_burn,
    };
    cons_ledger_init(&world->ledger, &terms, world->node_count, result->reputation,
                     result->stake, result->balance, v->stake);
    uint32_t fall = cons_reputation_rounds_to_fall(&terms.reputation, v->reputation_initial,
                                                   v->reputation_min);
    result->reputation_floor = v->reputation_min;
    result->floor_penalties_predicted = fall == UINT32_MAX ? NAN : (double)fall;
}

/* Every eligible server of a segment is a candidate for its committees,
 * weighted by stake x reputation; its identity is a public hash of (seed,
 * node). */
static int verify_candidates(world_state *world)
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
    }
    uint32_t used = 0;
    for (uint32_t s = 0; s < world->scenario->model.segment_count; s++) {
        world->candidate_offsets[s] = used;
        for (uint32_t i = world->server_offsets[s]; i < world->server_offsets[s + 1]; i++) {
            uint32_t node_id = world->servers[i];
            if (!verify_eligible(world, node_id)) {
                continue;
            }
            candidates[used].node_id = node_id;
            memcpy(candidates[used].public_key, world->identities[node_id],
                   sizeof(candidates[used].public_key));
            candidates[used].stake = v->stake;
            candidates[used].reputation = v->reputation_initial;
            used++;
        }
        if (used - world->candidate_offsets[s] < world->serving.committee) {
            return WORLD_ECOMMITTEE; /* Fewer eligible servers than committee members. */
        }
    }
    world->candidate_offsets[world->scenario->model.segment_count] = used;
    return 0;
}

/* tee: the vendor's key pair and the hashes an enclave can attest (the
 * scenario's model, or the other weights a substituted model runs). */
static void verify_vendor(world_state *world)
{
    util_sign_keypair_from_seed(world->scenario->seed ^ UINT64_C(0x76656e646f72), UINT32_MAX,
                                world->vendor_public, world->vendor_secret);
    const scn_model *m = &world->scenario->model;
    for (uint64_t which = 0; which < 2; which++) {
        uint64_t fields[3] = {m->weight_seed + which, m->layers, m->dim};
        uint8_t bytes[sizeof(fields) + sizeof(m->file_sha256)] = {0};
        memcpy(bytes, fields, sizeof(fields));
        if (which == 0) {
            memcpy(bytes + sizeof(fields), m->file_sha256, sizeof(m->file_sha256));
        }
        util_hash256(bytes, sizeof(bytes), world->model_hash[which]);
    }
}

/* ed25519 key pairs for every node, derived from (seed, node): a node
 * signs with its own secret key only, so a forged vote cannot verify. */
static int verify_keys(world_state *world)
{
    uint32_t n = world->node_count;
    world->public_keys = util_calloc(n, sizeof(*world->public_keys));
    world->secret_keys = util_calloc(n, sizeof(*world->secret_keys));
    if (world->public_keys == NULL || world->secret_keys == NULL) {
        return WORLD_ENOMEM;
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
static int verify_substitute(world_state *world)
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
                              &world->store.substitute) != 0) {
        return WORLD_ENOMEM;
    }
    return 0;
}

/* The protocol's knobs on the serving context, read by node/committee.c. */
static void verify_serving(world_state *world)
{
    const scn_verification *v = &world->scenario->verification;
    node_serving *serving = &world->serving;
    serving->protocol = cons_protocol_get(v->protocol);
    serving->protocol_params = verify_params(v);
    serving->committee = serving->protocol->members_max(&serving->protocol_params);
    serving->quorum = v->quorum;
    serving->retries = v->retries;
    serving->commit_reveal = serving->protocol->commit_reveal(&serving->protocol_params);
    serving->commit_timeout_ns = v->commit_timeout_ns;
    serving->reveal_timeout_ns = v->reveal_timeout_ns;
    serving->suspect_after_ns = v->suspect_after_ns;
    serving->vote_bytes = serving->protocol->vote_bytes;
    serving->evidence_bytes = serving->protocol->evidence_bytes(&serving->protocol_params);
    const cons_protocol_ops *ops = serving->protocol;
    serving->prover_factor = ops->prover_factor != NULL
                                 ? ops->prover_factor(&serving->protocol_params)
                                 : 0.0;
    serving->time_overhead = ops->time_overhead != NULL
                                 ? ops->time_overhead(&serving->protocol_params)
                                 : 0.0;
}

int world__verify_build(world_state *world)
{
    const scn_verification *v = &world->scenario->verification;
    node_serving *serving = &world->serving;
    world->agreement = verify_rule(&v->agreement);
    world->final_agreement = verify_rule(&v->final_agreement);
    verify_serving(world);
    world->result->verified = true;
    world->result->suspecting = v->suspect_after_ns > 0;
    int rc = verify_alloc(world);
    if (rc == 0) {
        verify_ledger(world);
        rc = verify_candidates(world);
    }
    if (rc == 0) {
        rc = world__settle_build(world);
    }
    if (rc == 0) {
        rc = world__held_build(world);
    }
    if (rc == 0) {
        rc = world__tree_build(world);
    }
    if (rc == 0 && v->sign_ed25519 && !world->hosted) {
        rc = verify_keys(world); /* Hosted: the testbed signs frames with its own keys. */
    }
    if (rc == 0) {
        rc = verify_substitute(world);
    }
    if (rc != 0) {
        return rc;
    }
    verify_vendor(world);
    node_verifier verifier = {
        .context = world,
        .committee = verify_committee,
        .salt = verify_salt,
        .accept = verify_accept,
        .agree = verify_agree,
        .judged = verify_judged,
        .decided = verify_decided,
        .accepted = world__referee_accepted,
        .referee = world__referee,
        .attest = verify_attest,
        .attest_verify = verify_attest_check,
        .cheat = world__adversary_cheat,
        .corrupt = world__adversary_corrupt,
    };
    world->verifier = verifier;
    serving->verifier = &world->verifier;
    if ((rc = world__ledger_build(world)) != 0) {
        return rc;
    }
    if ((rc = world__vrf_build(world)) != 0) {
        return rc;
    }
    if ((rc = world__adversary_build(world)) != 0) {
        return rc;
    }
    world->store.behaviour_of = world->behaviour_now;
    serving->behaviour_scale_of = world->behaviour_scale;
    serving->gain_of = world->gain_of;
    serving->behaviour_seed = util_mix64(world->scenario->seed ^ UINT64_C(0x636172746c));
    world->store.committees = world->committees;
    world->store.reveal_block_of = world->reveal_block_of;
    world->store.decoded = world->decoded;
    world->store.suspects = world->suspects;
    size_t outputs = node_committee_block_bytes(serving);
    size_t reveal = sizeof(uint32_t) + NODE_SALT_BYTES +
                    (serving->output_floats + serving->tokens_max) * sizeof(float) +
                    serving->evidence_bytes;
    util_pool_init(&world->store.committee_pool, outputs);
    util_pool_init(&world->store.reveal_pool, reveal);
    return world__referee_build(world);
}

/* The ledger's invariants are checked here, once per run (both drivers tear
 * the world down through this), not after every settlement: the check sums
 * every balance, O(nodes), and a running sum could not see a balance
 * changed behind the ledger's back. tests/test_cons.c checks it per step. */
void world__verify_destroy(world_state *world)
{
    if (world->ledger.node_count != 0) {
        const char *broken = cons_ledger_check(&world->ledger);
        if (broken != NULL) {
            fprintf(stderr, "ledger invariant broken: %s\n", broken);
        }
        ASSERT(broken == NULL);
    }
    if (world->store.committee_pool.block_bytes != 0) {
        util_pool_deinit(&world->store.committee_pool);
        util_pool_deinit(&world->store.reveal_pool);
    }
    util_free(world->gain_of);
    world__adversary_destroy(world);
    if (world->inputs_pool.block_bytes != 0) {
        util_pool_deinit(&world->inputs_pool);
    }
    util_free(world->inputs_block_of);
    util_free(world->candidate_offsets);
    infer_executor_destroy(world->store.substitute);
    infer_model_destroy(world->substitute);
    util_free(world->public_keys);
    util_free(world->secret_keys);
    world__ledger_destroy(world);
    world__settle_destroy(world);
    world__chain_destroy(world);
    world__vrf_destroy(world);
    world__tree_destroy(world);
    world__held_destroy(world);
    util_free(world->behaviour_now);
    util_free(world->byzantine_end_ns);
    util_free(world->behaviour_scale);
    util_free(world->identities);
    util_free(world->candidates);
    util_free(world->committee_cache);
    util_free(world->committee_cache_round);
    util_free(world->committee_cache_count);
    util_free(world->committees);
    util_free(world->reveal_block_of);
    util_free(world->decoded);
    util_free(world->suspects);
}

/* ---- the checkers and the metrics ---- */
