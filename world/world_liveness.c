/* world_liveness.c -- the liveness oracle (expect.converge_within). Safety
 * checkers say nothing bad happened; this one says something good did:
 * once the network is whole again, it serves. The heal time is the latest
 * 'until' among the scenario's faults (0 without any); a fault with no
 * 'until' never heals and is part of the network the requests must be
 * served by, so it does not move the heal time. Every request submitted
 * at or after the heal time must complete within the bound; each one that
 * completes late, fails, or is still running when its bound expired
 * before the run's end is one 'liveness' violation. A request still
 * running whose bound lies beyond the run's end is not judged.
 *
 * Liveness is owed to clients that stay up: a request whose own client was
 * down when it submitted (a crash, or a churned node offline), or went
 * down before the request finished (before the run's end when it never
 * did), failed with its client, and no protocol can serve it; it is not
 * judged. The client's crash count, taken at submission and compared at
 * the finish, says whether it went down in between, in O(1) per request. */
#include <stdint.h>

#include "world/world_int.h"
#include "util/assert.h"

/* The latest 'until' of the faults that heal; 0 when none does. */
static uint64_t liveness_heal_ns(const scn_scenario *scenario)
{
    uint64_t heal_ns = 0;
    for (uint32_t i = 0; i < scenario->fault_count; i++) {
        uint64_t until_ns = scenario->faults[i].until_ns;
        if (until_ns != UINT64_MAX && until_ns > heal_ns) {
            heal_ns = until_ns;
        }
    }
    return heal_ns;
}

/* When request r broke its bound, or UINT64_MAX when it did not (or
 * cannot be judged yet). */
static uint64_t liveness_broken_ns(const world_request_record *r, uint64_t bound_ns,
                                   uint64_t end_ns)
{
    uint64_t deadline_ns = r->submitted_ns + bound_ns;
    if (r->status == NODE_REQUEST_COMPLETED) {
        return r->finished_ns > deadline_ns ? deadline_ns : UINT64_MAX;
    }
    if (r->status != 0) {
        return r->finished_ns < deadline_ns ? r->finished_ns : deadline_ns; /* never completes */
    }
    return deadline_ns <= end_ns ? deadline_ns : UINT64_MAX;
}

void world_liveness_submitted(world_state *world, uint64_t request, bool client_down)
{
    world_request_record *r = &world->result->requests[request];
    ASSERT(r->submitted && r->client < world->node_count);
    r->client_failed = client_down;
    r->client_crashes = world->result->nodes[r->client].crashes;
}

void world__liveness_finished(world_state *world, world_request_record *r)
{
    r->client_failed |= world->result->nodes[r->client].crashes > r->client_crashes;
}

/* The request failed with its own client (see the top). */
static bool liveness_client_failed(const world_result *result, const world_request_record *r)
{
    return r->client_failed ||
           (r->status == 0 && result->nodes[r->client].crashes > r->client_crashes);
}

void world_liveness_check(world_state *world)
{
    const scn_scenario *scenario = world->scenario;
    world_result *result = world->result;
    uint64_t bound_ns = scenario->converge_within_ns;
    ASSERT(bound_ns > 0);
    result->liveness_checked = true;
    uint64_t heal_ns = liveness_heal_ns(scenario);
    for (uint64_t i = 0; i < result->request_reach; i++) {
        const world_request_record *r = &result->requests[i];
        if (!r->submitted || r->submitted_ns < heal_ns || liveness_client_failed(result, r)) {
            continue;
        }
        uint64_t broken_ns = liveness_broken_ns(r, bound_ns, result->sim_ns);
        if (broken_ns == UINT64_MAX) {
            continue;
        }
        world__check_violation(world, WORLD_VIOLATION_LIVENESS, i, 0, UINT32_MAX, r->tokens_out);
        result->violations[result->violation_count - 1].t_ns = broken_ns;
        result->liveness_violations += 1;
    }
    ASSERT(result->liveness_violations <= result->request_count);
}
