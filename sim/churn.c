/* churn.c -- the churn section in the simulator. world/world_churn.c draws
 * the events and keeps placement and routes; here a leave is a crash on
 * the network (fault.c's) -- at once, or after a graceful leaver's drain --
 * and a join a recovery. Each process schedules its next event when one
 * happens, so the event queue holds at most one join, one leave and the
 * drains in progress. */
#include "sim/sim_int.h"
#include "util/assert.h"

enum { SIM_CHURN_JOIN = 0, SIM_CHURN_LEAVE = 1, SIM_CHURN_GONE = 2 };

static void churn_next(sim_world *world, bool join)
{
    uint64_t at_ns = world_churn_next_ns(&world->w, join, world->w.now_ns);
    if (at_ns != UINT64_MAX) {
        int rc = sim_queue_push(&world->queue, at_ns, SIM_EV_CHURN,
                                join ? SIM_CHURN_JOIN : SIM_CHURN_LEAVE, 0);
        ASSERT(rc == 0); /* The queue grows by doubling; failing is the host's. */
    }
}

int sim__churn_schedule(sim_world *world)
{
    if (!world->w.scenario->churn.enabled) {
        return 0;
    }
    world_churn_start(&world->w);
    for (uint32_t i = 0; i < world->w.node_count; i++) {
        if (world->w.scratch[i]) {
            net_set_crashed(world->network, i, true); /* Never up yet: no crash counted. */
        }
    }
    churn_next(world, true);
    churn_next(world, false);
    return 0;
}

void sim__churn_apply(sim_world *world, uint32_t what, uint64_t node_id)
{
    bool leaving = false;
    uint32_t id = UINT32_MAX;
    switch (what) {
    case SIM_CHURN_JOIN:
        id = world_churn_join(&world->w);
        if (id != UINT32_MAX) {
            sim__node_recover(world, id);
        }
        churn_next(world, true);
        break;
    case SIM_CHURN_LEAVE:
        id = world_churn_leave(&world->w, &leaving);
        if (id != UINT32_MAX && leaving) {
            int rc = sim_queue_push(&world->queue,
                                    world->w.now_ns + world->w.scenario->churn.drain_ns,
                                    SIM_EV_CHURN, SIM_CHURN_GONE, id);
            ASSERT(rc == 0);
        } else if (id != UINT32_MAX) {
            sim__node_crash(world, id);
        }
        churn_next(world, false);
        break;
    case SIM_CHURN_GONE:
        ASSERT(node_id < world->w.node_count);
        world_churn_gone(&world->w, (uint32_t)node_id);
        sim__node_crash(world, (uint32_t)node_id);
        break;
    default:
        ASSERT(0 && "unknown churn event");
    }
}
