/* world_settle.c -- verification.draw_epoch: committees drawn from a
 * settled state that both drivers agree on, whatever the timing.
 *
 * Without the key a committee is drawn from the ledger as it stands when
 * the draw is first asked for (the simulator), or from the initial values
 * (the testbed without a ledger section, whose processes each see only
 * their own clients' verdicts; with one, world_chain.c): the two worlds draw differently once reputation moves. With
 * draw_epoch = N, requests are grouped by id into epochs of N, and every
 * committee of a workload request r is drawn from the reputation and stake
 * after the verdicts of requests 0 .. N * floor(r / N) - 1, applied
 * request by request in id order and, within a request, in the order its
 * client applied them. Those verdicts are logged per request (the judged
 * and decided callbacks) into a second ledger's input, the settled ledger,
 * which replays whole requests only. A request is submitted only once
 * every request before its epoch has finished (world_settle_gate_open; the
 * simulator holds it back, the testbed's process waits), so the state a
 * draw reads is complete when it is read, in both worlds. In the testbed
 * a request's log reaches the other processes through the driver's fetch
 * callback (a log shared by the launcher); a restarted process replays it
 * from the start. The live ledger is untouched: the results' reputation,
 * stake and decision rows are what they were.
 *
 * Ids beyond the workload's (the testbed's HTTP requests) are not logged
 * and draw from the initial values. */
#include <string.h>

#include "world/world_int.h"
#include "util/alloc.h"
#include "util/assert.h"

int world__settle_build(world_state *world)
{
    const scn_verification *v = &world->scenario->verification;
    if (v->draw_epoch == 0) {
        return 0;
    }
    uint32_t n = world->node_count;
    world->settle_requests = world->scenario->workload.requests;
    world->settle_logs = util_calloc(world->settle_requests > 0 ? world->settle_requests : 1,
                                     sizeof(*world->settle_logs));
    world->settled_reputation = util_calloc(n, sizeof(double));
    world->settled_stake = util_calloc(n, sizeof(double));
    world->settled_balance = util_calloc(n, sizeof(double));
    if (world->settle_logs == NULL || world->settled_reputation == NULL ||
        world->settled_stake == NULL || world->settled_balance == NULL) {
        return WORLD_ENOMEM;
    }
    cons_ledger_init(&world->settled, &world->ledger.terms, n, world->settled_reputation,
                     world->settled_stake, world->settled_balance, v->stake);
    world->settled_through = 0;
    return 0;
}

void world__settle_destroy(world_state *world)
{
    for (uint64_t r = 0; world->settle_logs != NULL && r < world->settle_requests; r++) {
        util_free(world->settle_logs[r].entries);
    }
    util_free(world->settle_logs);
    util_free(world->settled_reputation);
    util_free(world->settled_stake);
    util_free(world->settled_balance);
    world->settle_logs = NULL;
}

/* Appends one entry to the log of 'request' (a workload request whose
 * client this world hosts). Verdicts after the request finished are not
 * logged: its log was complete, and perhaps published, at its end. */
void world__settle_log(world_state *world, uint64_t request, uint32_t node_id, uint32_t value)
{
    if (world->settle_logs == NULL || request >= world->settle_requests ||
        world->result->requests[request].status != 0) {
        return;
    }
    struct world_settle_log *log = &world->settle_logs[request];
    if (log->count == log->capacity) {
        uint32_t capacity = log->capacity != 0 ? log->capacity * 2 : 64;
        world_settle_entry *grown = util_realloc(log->entries, capacity * sizeof(*grown));
        ASSERT(grown != NULL); /* Host out of memory mid-run. */
        log->entries = grown;
        log->capacity = capacity;
    }
    log->entries[log->count++] = (world_settle_entry){node_id, value};
}

/* The finished log of 'request': this world's own when its client is
 * here and it has finished, else the driver's source. */
static bool settle_entries(world_state *world, uint64_t request,
                           const world_settle_entry **entries, uint32_t *count)
{
    if (world->result->requests[request].status != 0) {
        *entries = world->settle_logs[request].entries;
        *count = world->settle_logs[request].count;
        return true;
    }
    return world->settle_fetch != NULL &&
           world->settle_fetch(world->settle_context, request, entries, count);
}

static bool settle_finished(world_state *world, uint64_t request)
{
    const world_settle_entry *entries = NULL;
    uint32_t count = 0;
    return settle_entries(world, request, &entries, &count);
}

bool world_settle_gate_open(world_state *world, uint64_t request)
{
    if (world->settle_logs == NULL || request >= world->settle_requests) {
        return true;
    }
    uint64_t epoch = world->scenario->verification.draw_epoch;
    uint64_t start = request / epoch * epoch;
    while (world->settle_finished < start && settle_finished(world, world->settle_finished)) {
        world->settle_finished += 1;
    }
    return world->settle_finished >= start;
}

/* Replays requests settled_through .. target - 1 into the settled ledger,
 * as far as their logs are there (the gate made sure they are). */
static void settle_advance(world_state *world, uint64_t target)
{
    while (world->settled_through < target) {
        const world_settle_entry *entries = NULL;
        uint32_t count = 0;
        if (!settle_entries(world, world->settled_through, &entries, &count)) {
            return;
        }
        for (uint32_t i = 0; i < count; i++) {
            if (entries[i].node_id == UINT32_MAX) {
                if (entries[i].value > 0) {
                    cons_ledger_settle(&world->settled, entries[i].value);
                }
            } else if (entries[i].node_id < world->node_count &&
                       entries[i].value <= CONS_VERDICT_TIMEOUT) {
                /* Checked: in the testbed the entries come from another
                 * process. */
                cons_ledger_judge(&world->settled, entries[i].node_id,
                                  (cons_verdict)entries[i].value);
            }
        }
        world->settled_through += 1;
        world->settled_generation += 1;
    }
}

bool world__settle_state(world_state *world, uint64_t request, const double **reputation,
                         const double **stake)
{
    if (world->settle_logs == NULL || request >= world->settle_requests) {
        return false;
    }
    uint64_t epoch = world->scenario->verification.draw_epoch;
    uint64_t target = request / epoch * epoch;
    if (world->settled_through > target) {
        /* A late first draw of an older epoch's request: replay from the
         * start. */
        cons_ledger_init(&world->settled, &world->ledger.terms, world->node_count,
                         world->settled_reputation, world->settled_stake,
                         world->settled_balance, world->scenario->verification.stake);
        world->settled_through = 0;
        world->settled_generation += 1;
    }
    settle_advance(world, target);
    *reputation = world->settled_reputation;
    *stake = world->settled_stake;
    return true;
}

/* ---- for the testbed ---- */

void world_host_settle_source(world_host *host, world_settle_fetch fetch, void *context)
{
    world_state *world = world__host_state(host);
    world->settle_fetch = fetch;
    world->settle_context = context;
}

bool world_host_settle_ready(world_host *host, uint64_t request)
{
    return world_settle_gate_open(world__host_state(host), request);
}

const world_settle_entry *world_host_settle_log(world_host *host, uint64_t request,
                                                uint32_t *count)
{
    world_state *world = world__host_state(host);
    *count = 0;
    if (world->settle_logs == NULL || request >= world->settle_requests ||
        world->result->requests[request].status == 0) {
        return NULL;
    }
    static const world_settle_entry none = {UINT32_MAX, 0};
    *count = world->settle_logs[request].count;
    return world->settle_logs[request].entries != NULL ? world->settle_logs[request].entries
                                                       : &none;
}
