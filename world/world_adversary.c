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
        world->behaviour_now[i] = ending ? NODE_BEHAVIOUR_HONEST : (uint8_t)behaviour;
        world->behaviour_scale[i] = fault->scale;
        world->gain_of[i] = ending ? 0.0 : fault->gain;
        if (!ending && fault->kind == SCN_FAULT_SYBIL) {
            /* k identities of one operator share its one stake. */
            world->result->stake[i] = world->scenario->verification.stake / count;
            world->result->behaviour_of[i] = NODE_BEHAVIOUR_SYBIL;
        } else if (!ending && fault->kind != SCN_FAULT_ADAPTIVE) {
            world->result->behaviour_of[i] = (uint8_t)behaviour;
        }
    }
}
