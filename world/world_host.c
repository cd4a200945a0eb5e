/* world_host.c -- the simulated world without its engine, for a driver that
 * keeps its own time and network (the testbed). The world is built by the
 * same code as sim_run (world_build: placement, serving, verifier,
 * nodes and keys); this file only hands events to nodes and records what
 * they report. See sim.h for the two differences from a simulated run. */
#include <string.h>

#include "world/world_int.h"
#include "util/alloc.h"
#include "util/assert.h"

struct world_host {
    world_state world;
};

int world_host_create(const scn_scenario *scenario, uint64_t extra_requests,
                    const world_observer *observer, world_host **out)
{
    ASSERT(scenario != NULL);
    ASSERT(out != NULL);
    *out = NULL;
    if (scenario->workload.kind != SCN_WORKLOAD_INFERENCE ||
        scenario->model.source == SCN_MODEL_NONE) {
        return WORLD_EINVAL;
    }
    world_host *host = util_calloc(1, sizeof(*host));
    if (host == NULL) {
        return WORLD_ENOMEM;
    }
    world_state *world = &host->world;
    world->scenario = scenario;
    world->observer = observer;
    world->node_count = scenario->nodes.count;
    world->inference = true;
    world->verifying = scenario->verification.protocol != CONS_PROTOCOL_NONE;
    world->hosted = true;
    world->extra_requests = extra_requests;
    int rc = world_build(world);
    if (rc != 0) {
        world_destroy(world);
        world_result_destroy(world->result);
        util_free(host);
        return rc;
    }
    *out = host;
    return 0;
}

void world_host_destroy(world_host *host)
{
    if (host == NULL) {
        return;
    }
    world_destroy(&host->world);
    world_result_destroy(host->world.result);
    util_free(host);
}

const node_outbox *world_host_event(world_host *host, uint32_t node_id, uint64_t now_ns,
                                  const node_event *event, int *rc_out)
{
    world_state *world = &host->world;
    ASSERT(node_id < world->node_count);
    ASSERT(now_ns >= world->now_ns); /* The driver's clock is monotonic. */
    world->now_ns = now_ns;
    world->outbox.count = 0;
    int rc = node_on_event(&world->nodes[node_id], now_ns, event, &world->outbox);
    *rc_out = rc;
    if (rc != 0) {
        world->result->nodes[node_id].rejected += 1;
        /* Counted by type when the type exists: a driver may hand over a
         * message that no decoder produced (a test, a fuzzer). */
        if (event->kind == NODE_EVENT_MESSAGE && event->message->type < NODE_MESSAGE_TYPE_COUNT) {
            world->result->types[event->message->type].rejected += 1;
        }
        return &world->outbox;
    }
    for (uint32_t i = 0; i < world->outbox.count; i++) {
        const node_effect *effect = &world->outbox.effects[i];
        if (effect->kind == NODE_EFFECT_SEND) {
            world_type_stats *type = &world->result->types[effect->message.type];
            uint64_t bytes = node_message_wire_size(&effect->message);
            world->result->nodes[node_id].messages_sent += 1;
            world->result->nodes[node_id].bytes_sent += bytes;
            type->sent += 1;
            type->bytes_sent += bytes;
            world_count_bytes(world, &effect->message, bytes, false);
        } else {
            world_record_effect(world, node_id, effect);
        }
    }
    return &world->outbox;
}

const node_outbox *world_host_submit(world_host *host, uint32_t client, uint64_t request,
                                   uint64_t now_ns, const uint32_t *tokens, uint32_t count,
                                   int *rc_out)
{
    world_state *world = &host->world;
    const scn_workload *workload = &world->scenario->workload;
    *rc_out = WORLD_EINVAL;
    if (client >= world->node_count || request >= world->result->request_count || count == 0 ||
        count > workload->prompt_max || world->result->requests[request].submitted) {
        return NULL;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (tokens[i] >= world->serving.vocab) {
            return NULL;
        }
    }
    if (world_oracle_take(world, request) != 0) {
        return NULL;
    }
    world_request_record *record = &world->result->requests[request];
    record->submitted = true;
    world_result_note_submitted(world->result, request);
    record->client = client;
    record->prompt_tokens = count;
    record->submitted_ns = now_ns;
    world->result->requests_submitted += 1;
    world_liveness_submitted(world, request, false); /* a client that submits is up */
    node_event event = {.kind = NODE_EVENT_SUBMIT, .rumor_id = request, .tokens = tokens,
                        .token_count = count};
    return world_host_event(host, client, now_ns, &event, rc_out);
}

int world_host_request_reset(world_host *host, uint64_t request)
{
    world_state *world = &host->world;
    world_result *result = world->result;
    if (request >= result->request_count ||
        (result->requests[request].submitted && result->requests[request].status == 0)) {
        return WORLD_EINVAL;
    }
    world_oracle_flush(world);
    if (world->oracle_block_of[request] != 0) {
        util_pool_give(&world->oracle_pool, world->oracle_block_of[request] - 1);
        world->oracle_block_of[request] = 0;
    }
    memset(&result->requests[request], 0, sizeof(result->requests[request]));
    memset(&result->segments[request * result->segment_count], 0,
           result->segment_count * sizeof(*result->segments));
    world__serve_forget_executions(result, request);
    world__verify_forget_decisions(result, request);
    memset(&result->divergence[request * INFER_KERNEL_COUNT], 0,
           INFER_KERNEL_COUNT * sizeof(*result->divergence));
    if (result->divergence_noised != NULL) {
        memset(&result->divergence_noised[request * INFER_KERNEL_COUNT], 0,
               INFER_KERNEL_COUNT * sizeof(*result->divergence_noised));
    }
    return 0;
}

world_result *world_host_result(world_host *host)
{
    world__ledger_counters(&host->world);
    return host->world.result;
}

void world_host_finish(world_host *host)
{
    world_oracle_flush(&host->world);
    world_attack_flush(&host->world);
}

const node_serving *world_host_serving(const world_host *host)
{
    return &host->world.serving;
}

uint64_t world_host_request_capacity(const world_host *host)
{
    return host->world.result->request_count;
}

uint32_t world_host_fault_nodes(world_host *host, uint32_t fault_index, uint8_t *selected,
                              uint8_t *groups_out)
{
    world_state *world = &host->world;
    ASSERT(fault_index < world->scenario->fault_count);
    const scn_fault *fault = &world->scenario->faults[fault_index];
    uint32_t count = 0;
    if (fault->kind == SCN_FAULT_PARTITION) {
        count = world_partition_groups(world, fault, fault_index);
        for (uint32_t i = 0; i < world->node_count; i++) {
            selected[i] = world->groups[i] != 0;
        }
        if (groups_out != NULL) {
            memcpy(groups_out, world->groups, world->node_count);
        }
        return count;
    }
    count = world_select(world, &fault->nodes, fault_index, world->scratch);
    memcpy(selected, world->scratch, world->node_count);
    return count;
}

int world_host_behaviour(world_host *host, uint32_t fault_index, bool ending)
{
    world_state *world = &host->world;
    ASSERT(fault_index < world->scenario->fault_count);
    const scn_fault *fault = &world->scenario->faults[fault_index];
    if (!scn_fault_kinds[fault->kind].byzantine || !world->verifying) {
        return WORLD_EINVAL;
    }
    world_select(world, &fault->nodes, fault_index, world->scratch);
    world_adversary_fault(world, fault, world->scratch, ending);
    return 0;
}

int world_host_set_behaviour(world_host *host, uint32_t node_id, node_behaviour behaviour,
                           double scale)
{
    world_state *world = &host->world;
    if (!world->verifying || node_id >= world->node_count ||
        behaviour >= NODE_BEHAVIOUR_COUNT || !node_behaviours[behaviour].settable ||
        (behaviour == NODE_BEHAVIOUR_FORGE_ATTESTATION &&
         world->scenario->verification.protocol != CONS_PROTOCOL_TEE) ||
        (behaviour == NODE_BEHAVIOUR_FORGED_TICKET &&
         !world->scenario->verification.selection_vrf)) {
        return WORLD_EINVAL;
    }
    world__verify_behaviour_set(world, node_id, (uint8_t)behaviour);
    world->behaviour_scale[node_id] = scale;
    if (behaviour != NODE_BEHAVIOUR_HONEST) {
        world->result->behaviour_of[node_id] = (uint8_t)behaviour;
    }
    return 0;
}

int world_host_node_secret(world_host *host, uint32_t node_id, const uint8_t *secret, size_t size)
{
    world_state *world = &host->world;
    if (node_id >= world->node_count || secret == NULL || size < UTIL_MAC_KEY_BYTES) {
        return WORLD_EINVAL;
    }
    uint8_t digest[32];
    util_hash256(secret, size, digest);
    _Static_assert(UTIL_MAC_KEY_BYTES <= sizeof(digest), "a node secret fits a digest");
    memcpy(world->keys[node_id], digest, UTIL_MAC_KEY_BYTES);
    util_memzero(digest, sizeof(digest));
    return 0;
}

uint64_t world_host_settle_capacity(const world_host *host)
{
    const node_serving *serving = &host->world.serving;
    uint64_t decisions = (uint64_t)(serving->retries + 1) * serving->segment_count *
                         (serving->tokens_max + 1);
    return decisions * (serving->committee + 1);
}

const uint8_t *world_host_block_id(const world_host *host, uint64_t height)
{
    const world_ledger_state *s = &host->world.ledger_bft;
    return height >= 1 && height <= s->applied_height ? s->ids[height - 1] : NULL;
}

const uint8_t *world_host_block_txs(const world_host *host, uint64_t height, size_t *size_out)
{
    const world_ledger_state *s = &host->world.ledger_bft;
    *size_out = 0;
    if (world_host_block_id(host, height) == NULL || s->payloads == NULL) {
        return NULL;
    }
    *size_out = s->payload_sizes[height - 1];
    return s->payloads[height - 1];
}

int world_host_block_forked(world_host *host, uint64_t height)
{
    if (world_host_block_id(host, height) == NULL) {
        return WORLD_EINVAL;
    }
    world__ledger_fork(&host->world, height, UINT32_MAX);
    return 0;
}

world_state *world__host_state(world_host *host)
{
    return &host->world;
}
