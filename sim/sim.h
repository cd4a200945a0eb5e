/* sim.h -- the discrete-event engine. sim_run builds a world from a
 * validated scenario with the engine-free world builder (world/world.h),
 * adds the network (net.h) and the fault schedule, then pops events in
 * (time, sequence) order, hands each to its node (node/) or to the network,
 * and drains the node's effects: sends and timers become events, outputs
 * and observations go to the world's recorder. Simulated time is integer
 * nanoseconds. Single-threaded, deterministic: the same scenario and seed
 * give the same event sequence, summarised by trace_hash. */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <signal.h>

#include "scenarios/scn.h"
#include "world/world.h"

/* Runs 'scenario' to its duration (or until *stop becomes non-zero; stop
 * may be NULL). On success returns 0 and *out (free with
 * world_result_destroy). Returns WORLD_ENOMEM when the world cannot be
 * allocated. */
int sim_run(const scn_scenario *scenario, const world_observer *observer,
            volatile sig_atomic_t *stop, world_result **out);

#endif
