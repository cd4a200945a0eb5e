/* fuzz_world.c -- a tiny inference world per verification protocol, and two
 * settled by a BFT ledger, for the peer target (fuzz.h). The world is the
 * testbed's: a world_host built from a built-in scenario (8 nodes in two
 * classes, one with a TEE, a 2-layer model of dimension 16 in 2 segments,
 * 2 requests plus 4 spare ids). The driver here is the smallest one that works: honest messages are
 * delivered in FIFO order with no latency, timers fire earliest first.
 * Queues are bounded; past their bound a message or timer is dropped, as
 * a lossy network or a dying node would, never asserted on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "scenarios/scn.h"
#include "sim/sim.h"
#include "util/hash.h"

#define WORLD_QUEUE_MAX 256
#define WORLD_TIMERS_MAX 256
#define WORLD_EXTRA_REQUESTS 4

typedef struct world_message {
    node_message message;
    uint8_t *payload;                /* malloc'd copy, NULL when empty */
} world_message;

typedef struct world_timer {
    uint64_t at_ns;
    uint64_t timer_id;
    uint32_t node_id;
} world_timer;

struct fuzz_world {
    world_host *host;
    uint64_t now_ns;
    uint32_t node_count;
    fuzz_world_record record;
    void *context;
    world_message queue[WORLD_QUEUE_MAX];   /* ring: head .. head + count */
    uint32_t queue_head;
    uint32_t queue_count;
    world_timer timers[WORLD_TIMERS_MAX];
    uint32_t timer_count;
};

static const char *const world_protocols[FUZZ_WORLDS] = {
    "none", "committee", "sampling", "crossval", "optimistic", "tee", "zk",
    "ledger", "ledger_gossip"};

static const char world_yaml[] =
    "name: fuzz_peer\n"
    "seed: 3\n"
    "duration: 20s\n"
    "network: {latency: {model: constant, value: 5ms}}\n"
    "nodes:\n"
    "  count: 8\n"
    "  classes:\n"
    "    - {name: enclave, fraction: 0.5, memory: 1GiB, flops: 1TFLOPS, kernel: sequential,\n"
    "       tee: true}\n"
    "    - {name: plain, fraction: 0.5, memory: 1GiB, flops: 1TFLOPS, kernel: blocked}\n"
    "model:\n"
    "  shape: {dim: 16, hidden_dim: 32, layers: 2, heads: 2, vocab: 32, seq_len: 16}\n"
    "  segments: 2\n"
    "  kv_slots: 4\n"
    "workload: {requests: 2, rate: 1/s, arrival: constant, prompt_tokens: [2, 4], generate: 2}\n";

/* The ledger worlds' overrides: committee verification settled by 4
 * validators (MACed votes, short blocks and views, evidence on), the
 * transactions and votes direct or by gossip. */
static const char *const world_ledger[] = {
    "verification.protocol=committee", "verification.settlement=ledger",
    "ledger.validators=4", "ledger.auth=mac", "ledger.block_interval=20ms",
    "ledger.view_timeout=200ms", "ledger.dissemination=direct"};
#define WORLD_LEDGER_OVERRIDES (sizeof(world_ledger) / sizeof(world_ledger[0]))

static scn_scenario *world_scenarios[FUZZ_WORLDS];

/* The scenario of one protocol, parsed on first use and kept for the
 * process's life (the fuzzer never exits cleanly, so it is never freed). */
static const scn_scenario *world_scenario(uint32_t protocol)
{
    if (world_scenarios[protocol] != NULL) {
        return world_scenarios[protocol];
    }
    if (util_hash_init() != 0) {
        fprintf(stderr, "fuzz_world: libsodium does not initialise\n");
        abort();
    }
    char override[64];
    snprintf(override, sizeof(override), "verification.protocol=%s", world_protocols[protocol]);
    const char *overrides[WORLD_LEDGER_OVERRIDES] = {override};
    size_t count = 1;
    if (protocol >= FUZZ_PROTOCOLS) {
        memcpy(overrides, world_ledger, sizeof(world_ledger));
        count = WORLD_LEDGER_OVERRIDES;
        if (strcmp(world_protocols[protocol], "ledger_gossip") == 0) {
            overrides[count - 1] = "ledger.dissemination=gossip";
        }
    }
    scn_error error;
    int rc = scn_load_string("fuzz_peer.yaml", world_yaml, overrides, count,
                             &world_scenarios[protocol], &error);
    if (rc != 0) {
        char text[512];
        scn_error_format(&error, text, sizeof(text));
        fprintf(stderr, "fuzz_world: the built-in scenario does not load: %s\n", text);
        abort(); /* A bug of this file, whatever the input. */
    }
    return world_scenarios[protocol];
}

static void world_queue_message(fuzz_world *world, const node_message *message)
{
    if (world->queue_count == WORLD_QUEUE_MAX) {
        return; /* Lost, as on a lossy link. */
    }
    world_message *slot = &world->queue[(world->queue_head + world->queue_count) %
                                        WORLD_QUEUE_MAX];
    slot->message = *message;
    slot->payload = NULL;
    if (message->payload != NULL && message->payload_bytes > 0) {
        slot->payload = malloc(message->payload_bytes);
        if (slot->payload == NULL) {
            return;
        }
        memcpy(slot->payload, message->payload, message->payload_bytes);
    }
    slot->message.payload = slot->payload;
    world->queue_count += 1;
    if (world->record != NULL) {
        world->record(world->context, &slot->message);
    }
}

static void world_queue_timer(fuzz_world *world, uint32_t node_id, const node_effect *effect)
{
    if (world->timer_count == WORLD_TIMERS_MAX) {
        return;
    }
    world_timer *timer = &world->timers[world->timer_count++];
    timer->at_ns = effect->at_ns;
    timer->timer_id = effect->timer_id;
    timer->node_id = node_id;
}

/* Carries out a node's SEND and TIMER effects (the host recorded the
 * others). */
static void world_effects(fuzz_world *world, uint32_t node_id, const node_outbox *outbox)
{
    for (uint32_t i = 0; i < outbox->count; i++) {
        const node_effect *effect = &outbox->effects[i];
        if (effect->kind == NODE_EFFECT_SEND) {
            world_queue_message(world, &effect->message);
        } else if (effect->kind == NODE_EFFECT_TIMER) {
            world_queue_timer(world, node_id, effect);
        }
    }
}

static void world_event(fuzz_world *world, uint32_t node_id, const node_event *event)
{
    int rc = 0;
    const node_outbox *outbox = world_host_event(world->host, node_id, world->now_ns, event, &rc);
    if (rc == 0) {
        world_effects(world, node_id, outbox);
    }
}

/* Starts every node and submits requests 0 (from node 0) and 1 (from the
 * last node), so there is client and server state to disturb. */
static void world_start(fuzz_world *world)
{
    node_event start = {.kind = NODE_EVENT_START};
    for (uint32_t node_id = 0; node_id < world->node_count; node_id++) {
        world_event(world, node_id, &start);
    }
    static const uint32_t prompts[2][3] = {{1, 2, 3}, {30, 7, 0}};
    uint32_t clients[2] = {0, world->node_count - 1};
    for (uint32_t r = 0; r < 2; r++) {
        int rc = 0;
        const node_outbox *outbox = world_host_submit(world->host, clients[r], r, world->now_ns,
                                                    prompts[r], 3, &rc);
        if (outbox != NULL && rc == 0) {
            world_effects(world, clients[r], outbox);
        }
    }
}

fuzz_world *fuzz_world_create(uint32_t protocol, fuzz_world_record record, void *context)
{
    if (protocol >= FUZZ_WORLDS) {
        return NULL;
    }
    const scn_scenario *scenario = world_scenario(protocol);
    fuzz_world *world = calloc(1, sizeof(*world));
    int rc = world == NULL ? WORLD_ENOMEM
                           : world_host_create(scenario, WORLD_EXTRA_REQUESTS, NULL, &world->host);
    if (rc != 0) {
        fprintf(stderr, "fuzz_world: the %s world cannot be built: %s\n",
                world_protocols[protocol], world_strerror(rc));
        abort(); /* Not the input's doing: every input builds the same world. */
    }
    world->node_count = scenario->nodes.count;
    world->record = record;
    world->context = context;
    world_start(world);
    return world;
}

const char *fuzz_world_name(uint32_t protocol)
{
    return protocol < FUZZ_WORLDS ? world_protocols[protocol] : NULL;
}

void fuzz_world_destroy(fuzz_world *world)
{
    if (world == NULL) {
        return;
    }
    for (uint32_t i = 0; i < world->queue_count; i++) {
        free(world->queue[(world->queue_head + i) % WORLD_QUEUE_MAX].payload);
    }
    world_host_destroy(world->host);
    free(world);
}

uint32_t fuzz_world_node_count(const fuzz_world *world)
{
    return world->node_count;
}

uint64_t fuzz_world_request_capacity(const fuzz_world *world)
{
    return world_host_request_capacity(world->host);
}

uint32_t fuzz_world_segment_count(const fuzz_world *world)
{
    return world_host_serving(world->host)->segment_count;
}

void fuzz_world_advance(fuzz_world *world, uint64_t ns)
{
    world->now_ns += ns;
}

void fuzz_world_deliver(fuzz_world *world, const node_message *message)
{
    if (message->source >= world->node_count || message->dest >= world->node_count) {
        return; /* The frame layer refuses these before any node sees them. */
    }
    node_event event = {.kind = NODE_EVENT_MESSAGE, .message = message};
    world_event(world, message->dest, &event);
}

bool fuzz_world_step_message(fuzz_world *world)
{
    if (world->queue_count == 0) {
        return false;
    }
    world_message item = world->queue[world->queue_head];
    world->queue_head = (world->queue_head + 1) % WORLD_QUEUE_MAX;
    world->queue_count -= 1;
    fuzz_world_deliver(world, &item.message);
    free(item.payload);
    return true;
}

bool fuzz_world_step_timer(fuzz_world *world)
{
    if (world->timer_count == 0) {
        return false;
    }
    uint32_t best = 0;
    for (uint32_t i = 1; i < world->timer_count; i++) {
        if (world->timers[i].at_ns < world->timers[best].at_ns) {
            best = i;
        }
    }
    world_timer timer = world->timers[best];
    /* Keep the order of the others: equal deadlines fire as armed. */
    memmove(&world->timers[best], &world->timers[best + 1],
            (world->timer_count - best - 1) * sizeof(world_timer));
    world->timer_count -= 1;
    if (timer.at_ns > world->now_ns) {
        world->now_ns = timer.at_ns;
    }
    node_event event = {.kind = NODE_EVENT_TIMER, .timer_id = timer.timer_id};
    world_event(world, timer.node_id, &event);
    return true;
}

void fuzz_world_drain(fuzz_world *world, uint32_t events)
{
    for (uint32_t i = 0; i < events; i++) {
        if (!fuzz_world_step_message(world) && !fuzz_world_step_timer(world)) {
            return;
        }
    }
}
