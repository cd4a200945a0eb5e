/* fault.c -- the fault schedule in the simulator: crashes, partitions and
 * link faults act on the network model; Byzantine behaviours go to the
 * world's verifier. */
#include <string.h>

#include "sim/sim_int.h"
#include "util/assert.h"

void sim__node_crash(sim_world *world, uint32_t node_id)
{
    world->w.result->nodes[node_id].crashes += !net_is_crashed(world->network, node_id);
    net_set_crashed(world->network, node_id, true);
}

void sim__node_recover(sim_world *world, uint32_t node_id)
{
    node_event recover = {.kind = NODE_EVENT_RECOVER};
    if (net_is_crashed(world->network, node_id)) {
        net_set_crashed(world->network, node_id, false);
        sim__node_deliver(world, node_id, &recover);
    }
}

/* Crash or recover every selected node. A recovering node keeps its state
 * (a restarted process with durable storage) and is told RECOVER. */
static uint32_t apply_crash(sim_world *world, const scn_fault *fault, uint32_t fault_index,
                            int ending)
{
    uint32_t affected = world_select(&world->w, &fault->nodes, fault_index, world->w.scratch);

    for (uint32_t i = 0; i < world->w.node_count; i++) {
        if (!world->w.scratch[i]) {
            continue;
        }
        if (!ending) {
            sim__node_crash(world, i);
        } else {
            sim__node_recover(world, i);
        }
    }
    return affected;
}

int sim__fault_apply(sim_world *world, uint32_t fault_index, int ending)
{
    const scn_fault *fault = &world->w.scenario->faults[fault_index];
    uint32_t affected = 0;
    char detail[96] = "";

    ASSERT(fault_index < world->w.scenario->fault_count);
    if (fault->kind == SCN_FAULT_CRASH) {
        affected = apply_crash(world, fault, fault_index, ending);
    } else if (fault->kind == SCN_FAULT_PARTITION) {
        if (ending) {
            net_partition_heal(world->network, fault_index);
        } else {
            affected = world_partition_groups(&world->w, fault, fault_index);
            if (net_partition_start(world->network, fault_index, world->w.groups) != 0) {
                return WORLD_ENOMEM;
            }
        }
    } else if (scn_fault_kinds[fault->kind].byzantine) {
        affected = world_select(&world->w, &fault->nodes, fault_index, world->w.scratch);
        snprintf(detail, sizeof(detail), "scale=%g", fault->scale);
        world_adversary_fault(&world->w, fault, world->w.scratch, ending);
    } else if (ending) {
        net_link_fault_stop(world->network, fault_index);
    } else {
        affected = world_select(&world->w, &fault->nodes, fault_index, world->w.scratch);
        snprintf(detail, sizeof(detail), "probability=%g delay_ns=%llu", fault->probability,
                 (unsigned long long)fault->delay_ns);
        if (net_link_fault_start(world->network, fault_index, fault->kind, fault->probability,
                                 fault->delay_ns, world->w.scratch) != 0) {
            return WORLD_ENOMEM;
        }
    }
    if (world->w.observer != NULL && world->w.observer->on_fault != NULL) {
        world->w.observer->on_fault(world->w.observer->context, fault_index,
                                  world_fault_kind_name(fault->kind),
                                  ending ? "end" : "start", world->w.now_ns, affected, detail);
    }
    return 0;
}
