/* world_adversary.c -- the adversary behind the Byzantine behaviours: the
 * fault schedule's behaviour faults switch nodes' behaviours on and off
 * (a sybil operator's split stake, the adaptive adversary's budget, a
 * cartel's members), a rational member asks whether cheating on a hop pays
 * (cons_detection_probability against its gain), and an adaptive member
 * drawn into a committee asks whether the adversary takes it now. The
 * adversary's state (budgets, gains) is the world's, never a node's. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "consensus/cons.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "world/world_int.h"

/* The segment's candidates other than 'member' (the pool the rest of its
 * committee, sample or checkers are drawn from) and how many of them
 * answer one agreed lie with it (a cartel), for a colluding member; a
 * member that cheats alone has no colluders. */
static void adversary_pool(const world_state *world, uint32_t member, uint32_t segment,
                           cons_exposure *exposure)
{
    const cons_candidate *candidates = world->candidates;
    uint32_t first = world->candidate_offsets[segment];
    uint32_t last = world->candidate_offsets[segment + 1];
    bool colludes = world->behaviour_now[member] == NODE_BEHAVIOUR_COLLUDE;
    exposure->pool = 0;
    exposure->colluding = 0;
    for (uint32_t i = first; i < last; i++) {
        uint32_t id = candidates[i].node_id;
        if (id != member) {
            exposure->pool += 1;
            exposure->colluding += colludes && world->behaviour_now[id] == NODE_BEHAVIOUR_COLLUDE;
        }
    }
}

bool world__adversary_cheat(void *context, uint32_t member, uint64_t request, uint32_t segment)
{
    world_state *world = context;
    const scn_verification *v = &world->scenario->verification;
    const cons_protocol_ops *ops = world->serving.protocol;
    const cons_params *params = &world->serving.protocol_params;
    uint8_t behaviour = world->behaviour_now[member];
    (void)request;
    cons_exposure exposure = {
        .protocol = (cons_protocol)v->protocol,
        .members = ops->exposure_members != NULL ? ops->exposure_members(params)
                                                 : params->committee,
        .quorum = v->quorum,
        .check_probability = v->check_probability,
        .forged_evidence = behaviour == NODE_BEHAVIOUR_FORGE_ATTESTATION,
    };
    adversary_pool(world, member, segment, &exposure);
    double caught = cons_detection_probability(&exposure);
    double loss = world->result->stake[member] * v->slash + v->fee_per_token;
    bool cheats = cons_rational_cheats(caught, world->gain_of[member], loss);
    world->result->cheats_taken += cheats;
    world->result->cheats_declined += !cheats;
    return cheats;
}

/* The adaptive adversary takes a drawn node while its budget lasts. */
bool world__adversary_corrupt(void *context, uint32_t member)
{
    world_state *world = context;
    ASSERT(member < world->node_count);
    if (world->adaptive_budget == 0) {
        return false;
    }
    world->adaptive_budget -= 1;
    return true;
}

/* The behaviour a Byzantine fault gives its nodes: wrong_output's mode
 * picks one of three, a sybil operator's identities collude, and every
 * other Byzantine kind names its behaviour (a test checks that each
 * does), so a new one is a row in each table and its code in node/. */
static node_behaviour adversary_behaviour(const scn_fault *fault)
{
    static const node_behaviour wrong[] = {NODE_BEHAVIOUR_WRONG_OUTPUT,
                                           NODE_BEHAVIOUR_WRONG_MODEL,
                                           NODE_BEHAVIOUR_WRONG_LAYER};
    ASSERT(scn_fault_kinds[fault->kind].byzantine);
    if (fault->kind == SCN_FAULT_WRONG_OUTPUT) {
        ASSERT(fault->wrong_mode < UTIL_ARRAY_COUNT(wrong));
        return wrong[fault->wrong_mode];
    }
    if (fault->kind == SCN_FAULT_SYBIL) {
        return NODE_BEHAVIOUR_COLLUDE;
    }
    node_behaviour behaviour = NODE_BEHAVIOUR_HONEST;
    int rc = node_behaviour_parse(scn_fault_kinds[fault->kind].name, &behaviour);
    ASSERT(rc == 0);
    return behaviour;
}

/* A collude fault's node learns how its cartel agrees and what it targets,
 * an equivocate fault's whom it shows its second commitment (and each
 * forgets it when the fault ends). */
static void adversary_roles(world_state *world, const scn_fault *fault, uint32_t node_id,
                            bool ending)
{
    if (fault->kind == SCN_FAULT_EQUIVOCATE && world->equivocate_peers_of != NULL) {
        world->equivocate_peers_of[node_id] = !ending && fault->second_to_peers;
    }
    if (fault->kind != SCN_FAULT_COLLUDE) {
        return;
    }
    if (world->cartel_messages_of != NULL) {
        world->cartel_messages_of[node_id] =
            !ending && fault->coordination == SCN_CARTEL_MESSAGES;
    }
    if (world->cartel_target_of != NULL) {
        world->cartel_target_of[node_id] = ending ? NODE_CARTEL_NO_TARGET : fault->target_token;
    }
}

void world_adversary_fault(world_state *world, const scn_fault *fault, const uint8_t *selected,
                           bool ending)
{
    node_behaviour behaviour = adversary_behaviour(fault);
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
        world__verify_behaviour_set(world, i, ending ? NODE_BEHAVIOUR_HONEST : (uint8_t)behaviour);
        adversary_roles(world, fault, i, ending);
        world->behaviour_scale[i] = fault->scale;
        world->gain_of[i] = ending ? 0.0 : fault->gain;
        if (!ending && fault->kind == SCN_FAULT_SYBIL) {
            /* k identities of one operator share its one stake. */
            world->result->stake[i] = world->scenario->verification.stake / count;
            world__held_touch(world, i);
            world->result->behaviour_of[i] = NODE_BEHAVIOUR_SYBIL;
        } else if (!ending && fault->kind != SCN_FAULT_ADAPTIVE) {
            world->result->behaviour_of[i] = (uint8_t)behaviour;
        }
    }
}

bool world__adversary_targets(const world_state *world, uint32_t token)
{
    const scn_scenario *scenario = world->scenario;
    for (uint32_t f = 0; f < scenario->fault_count; f++) {
        const scn_fault *fault = &scenario->faults[f];
        if (fault->kind == SCN_FAULT_COLLUDE && fault->target_token == token) {
            return true;
        }
    }
    return false;
}

int world__adversary_build(world_state *world)
{
    const scn_scenario *scenario = world->scenario;
    world_result *result = world->result;
    node_serving *serving = &world->serving;
    for (uint32_t f = 0; f < scenario->fault_count; f++) {
        const scn_fault *fault = &scenario->faults[f];
        result->cartel_on |= fault->kind == SCN_FAULT_COLLUDE &&
                             fault->coordination == SCN_CARTEL_MESSAGES;
        result->targeting |= fault->kind == SCN_FAULT_COLLUDE &&
                             fault->target_token != SCN_TARGET_NONE;
    }
    uint32_t n = world->node_count;
    bool peers = false;
    for (uint32_t f = 0; f < scenario->fault_count; f++) {
        peers |= scenario->faults[f].kind == SCN_FAULT_EQUIVOCATE &&
                 scenario->faults[f].second_to_peers;
    }
    if (peers) {
        world->equivocate_peers_of = util_calloc(n, 1);
        if (world->equivocate_peers_of == NULL) {
            return WORLD_ENOMEM;
        }
        serving->equivocate_peers_of = world->equivocate_peers_of;
    }
    if (result->targeting) {
        world->cartel_target_of = util_calloc(n, sizeof(uint32_t));
        if (world->cartel_target_of == NULL) {
            return WORLD_ENOMEM;
        }
        for (uint32_t i = 0; i < n; i++) {
            world->cartel_target_of[i] = NODE_CARTEL_NO_TARGET;
        }
        serving->cartel_target_of = world->cartel_target_of;
    }
    if (!result->cartel_on) {
        return 0;
    }
    size_t slots = (size_t)result->request_count * scenario->model.segment_count *
                   serving->committee * (scenario->verification.retries + 1);
    world->cartel_messages_of = util_calloc(n, 1);
    world->cartel_slots = util_calloc(slots, sizeof(node_cartel_slot));
    if (world->cartel_messages_of == NULL || world->cartel_slots == NULL) {
        return WORLD_ENOMEM;
    }
    serving->cartel_messages_of = world->cartel_messages_of;
    world->store.cartel_slots = world->cartel_slots;
    /* A member waits half its commit (or reveal) phase for the agreement,
     * so that its honest fallback still reaches the client in time. */
    serving->cartel_wait_ns = (serving->commit_reveal ? serving->commit_timeout_ns
                                                      : serving->reveal_timeout_ns) / 2;
    return 0;
}

void world__adversary_destroy(world_state *world)
{
    util_free(world->cartel_messages_of);
    util_free(world->cartel_target_of);
    util_free(world->cartel_slots);
    util_free(world->equivocate_peers_of);
    world->equivocate_peers_of = NULL;
    world->cartel_messages_of = NULL;
    world->cartel_target_of = NULL;
    world->cartel_slots = NULL;
}
