/* workload.c -- the simulator's workload: arrivals become SUBMIT events in
 * the queue, each drawn from the workload stream when the previous one is
 * submitted, and a client submits with a prompt drawn then. Under
 * verification.draw_epoch an arrival whose epoch's gate is closed is held
 * and submitted when the last request before its epoch finishes. */
#include <string.h>

#include "sim/sim_int.h"
#include "util/assert.h"

/* Schedules arrival number world->submit_attempts, choosing its client now;
 * none once the workload has ended (workload.until). */
void sim__workload_schedule(sim_world *world, uint64_t after_ns)
{
    uint64_t at_ns = 0;
    uint32_t client = 0;
    uint64_t request = world->submit_attempts;
    if (world_workload_ended(&world->w) ||
        !world_workload_arrival(world->w.scenario, &world->workload_prng, request, after_ns,
                                &at_ns, &client)) {
        return;
    }
    world->submit_attempts += 1;
    int rc = sim_queue_push(&world->queue, at_ns, SIM_EV_SUBMIT, client, request);
    ASSERT(rc == 0);
}

/* A client submits request 'request': its prompt is drawn now from the
 * workload stream and handed to the client with SUBMIT. A crashed client
 * cannot submit: the request fails. */
void sim__workload_submit(sim_world *world, uint32_t client, uint64_t request)
{
    world_request_record *record = &world->w.result->requests[request];
    if (!world_settle_gate_open(&world->w, request)) {
        /* verification.draw_epoch: its committees read the verdicts of the
         * epochs before, which are not all in yet. The next arrival is
         * drawn when this one is submitted, so one is held at most. */
        ASSERT(world->held_request == 0);
        world->held_request = request + 1;
        world->held_client = client;
        return;
    }
    sim__workload_schedule(world, world->w.now_ns);
    uint32_t count = world_workload_prompt(world->w.scenario, &world->w.prompts,
                                           &world->workload_prng, world->w.prompt);
    record->submitted = true;
    world_result_note_submitted(world->w.result, request);
    record->client = client;
    record->prompt_tokens = count;
    record->submitted_ns = world->w.now_ns;
    world->w.result->requests_submitted += 1;
    bool down = net_is_crashed(world->network, client);
    world_liveness_submitted(&world->w, request, down);
    if (down) {
        record->status = NODE_REQUEST_FAILED;
        record->finished_ns = world->w.now_ns;
        world->w.result->requests_finished += 1;
        return;
    }
    int rc = world_oracle_take(&world->w, request);
    ASSERT(rc == 0); /* Bounded by the requests in flight. */
    node_event event = {.kind = NODE_EVENT_SUBMIT, .rumor_id = request, .tokens = world->w.prompt,
                        .token_count = count};
    sim__node_deliver(world, client, &event);
}

void sim__workload_release(sim_world *world)
{
    uint64_t request = world->held_request - 1;
    if (!world_settle_gate_open(&world->w, request)) {
        return;
    }
    world->held_request = 0;
    int rc = sim_queue_push(&world->queue, world->w.now_ns, SIM_EV_SUBMIT, world->held_client,
                            request);
    ASSERT(rc == 0);
}
