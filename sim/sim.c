/* sim.c -- the event loop. It owns simulated time, pops events in (time,
 * sequence) order, hands them to nodes, and turns the effects nodes return
 * into scheduled events: a SEND becomes a real encoded header with its
 * payload and the sender's MAC (what the testbed writes to a socket; stored
 * by message.c, the payload once per message), passes through the network
 * model, and arrives as one or two DELIVER events; at arrival the bytes are
 * authenticated and decoded, exactly as a receiver on a wire would, so a
 * corrupted message is rejected by its MAC and counted. Everything a run
 * measures is accumulated in world_result. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "sim/sim_int.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/bytes.h"

#define SIM_PROGRESS_EVERY 65536u


/* ---- effects ---- */

/* Puts staged copy 'index' (payload body 'body', index + 1 or 0) on the
 * network now: one or two deliveries, or a drop. The slot's hold from
 * staging passes to the deliveries; the first of two leaves it to the
 * second, which always arrives later. */
static void transmit(sim_world *world, uint32_t index, uint32_t body)
{
    const uint8_t *header = sim__slot_header(&world->messages, index);
    uint32_t source = util_get_u32(header + 4);
    uint32_t dest = util_get_u32(header + 8);
    uint64_t wire_bytes = sim__message_wire_bytes(world, header);
    world_type_stats *type = &world->w.result->types[header[1]];
    world_node_stats *stats = &world->w.result->nodes[source];
    net_send_result fate;

    stats->messages_sent += 1;
    stats->bytes_sent += wire_bytes;
    type->sent += 1;
    type->bytes_sent += wire_bytes;
    world->w.interval_sent += 1;
    net_send(world->network, world->w.now_ns, source, dest, wire_bytes, &fate);
    if (fate.drop != WORLD_DROP_NONE) {
        type->dropped[fate.drop] += 1;
        sim__message_seal(world, index, body); /* the call's other results (the oracle's) */
        sim__message_release(world, index, body);
        return;
    }
    type->duplicated += fate.count > 1;
    type->reordered += fate.reordered;
    for (uint32_t i = 0; i < fate.count; i++) {
        type->corrupted += fate.deliveries[i].corrupt;
        uint64_t arg2 = (uint64_t)body << SIM_COPY_BODY_SHIFT |
                        (uint64_t)dest << SIM_COPY_DEST_SHIFT |
                        (fate.deliveries[i].corrupt ? SIM_COPY_ALTERED : 0) |
                        (i + 1 < fate.count ? SIM_COPY_MORE : 0);
        int rc = sim_queue_push(&world->queue, fate.deliveries[i].at_ns, SIM_EV_DELIVER, index,
                                arg2);
        ASSERT(rc == 0);
    }
}

/* A SEND effect: now, or when the node's compute ends. */
static void send_message(sim_world *world, uint32_t source, const node_effect *effect)
{
    uint32_t body = 0;
    uint32_t index =
        sim__message_stage(world, source, &effect->message, effect->forward_ticket, &body);
    if (effect->send_at_ns > world->w.now_ns) {
        int rc = sim_queue_push(&world->queue, effect->send_at_ns, SIM_EV_TRANSMIT, index,
                                (uint64_t)body << SIM_COPY_BODY_SHIFT);
        ASSERT(rc == 0);
        return;
    }
    transmit(world, index, body);
}

static void apply_effects(sim_world *world, uint32_t node_id)
{
    node_outbox *outbox = &world->w.outbox;
    world->messages.share_body = 0; /* Payloads are shared within one outbox only. */
    /* A gossip node sends to several random peers at once: start loading
     * every link's state first, so the misses overlap. */
    for (uint32_t i = 0; i < outbox->count; i++) {
        const node_effect *effect = &outbox->effects[i];
        if (effect->kind == NODE_EFFECT_SEND && effect->send_at_ns <= world->w.now_ns &&
            effect->message.dest < world->w.node_count) {
            net_prefetch(world->network, node_id, effect->message.dest);
        }
        if (effect->kind == NODE_EFFECT_SEND && effect->forward_ticket != 0) {
            /* Every message of a call is counted before any is sent: one
             * dropped at once must not spend the ticket the others carry. */
            world_forward_hold(&world->w, effect->forward_ticket);
        }
    }
    for (uint32_t i = 0; i < outbox->count; i++) {
        const node_effect *effect = &outbox->effects[i];
        switch (effect->kind) {
        case NODE_EFFECT_SEND:
            send_message(world, node_id, effect);
            break;
        case NODE_EFFECT_TIMER: {
            ASSERT(effect->at_ns >= world->w.now_ns);
            int rc = sim_queue_push(&world->queue, effect->at_ns, SIM_EV_TIMER, node_id,
                                    effect->timer_id);
            ASSERT(rc == 0);
            break;
        }
        case NODE_EFFECT_OUTPUT:
        case NODE_EFFECT_OBSERVE:
            world_record_effect(&world->w, node_id, effect);
            break;
        }
    }
}

void sim__node_deliver(sim_world *world, uint32_t node_id, const node_event *event)
{
    ASSERT(node_id < world->w.node_count);
    world_forward_settle(&world->w, node_id); /* its handed-over calls write its caches */
    world->w.outbox.count = 0;
    int rc = node_on_event(&world->w.nodes[node_id], world->w.now_ns, event, &world->w.outbox);
    if (rc != 0) {
        world->w.result->nodes[node_id].rejected += 1;
        /* Counted by type when the type exists: a driver may hand over a
         * message that no decoder produced (a test, a fuzzer). */
        if (event->kind == NODE_EVENT_MESSAGE && event->message->type < NODE_MESSAGE_TYPE_COUNT) {
            world->w.result->types[event->message->type].rejected += 1;
        }
        return;
    }
    apply_effects(world, node_id);
}

/* ---- event handlers ---- */

static void on_deliver(sim_world *world, uint32_t index, uint64_t arg2)
{
    const uint8_t *header = sim__slot_header(&world->messages, index);
    uint32_t body = (uint32_t)(arg2 >> SIM_COPY_BODY_SHIFT);
    bool last = (arg2 & SIM_COPY_MORE) == 0;
    node_message received;

    sim__message_seal(world, index, body); /* a handed-over call's result, on first arrival */

    /* Accounting uses the simulator's ground truth; the node sees only what
     * survives authentication and decoding of the bytes that arrived. */
    const uint32_t dest = util_get_u32(header + 8);
    world_type_stats *type = &world->w.result->types[header[1]];
    net_drop drop = net_check_arrival(world->network, util_get_u32(header + 4), dest);
    if (drop != WORLD_DROP_NONE) {
        type->dropped[drop] += 1;
        if (last) {
            sim__message_release(world, index, body);
        }
        return;
    }
    uint64_t wire_bytes = sim__message_wire_bytes(world, header);
    world_node_stats *stats = &world->w.result->nodes[dest];
    stats->messages_received += 1;
    stats->bytes_received += wire_bytes;
    if (sim__message_receive(world, index, body, (arg2 & SIM_COPY_ALTERED) != 0, &received) != 0) {
        stats->rejected += 1;
        type->rejected += 1;
        if (last) {
            sim__message_release(world, index, body);
        }
        return;
    }
    type->delivered += 1;
    type->bytes_delivered += wire_bytes;
    if (world->w.inference) {
        world_count_bytes(&world->w, &received, wire_bytes, true);
    }
    node_event event = {.kind = NODE_EVENT_MESSAGE, .message = &received};
    if (world->w.inference && world->w.observer != NULL && world->w.observer->clock_ns != NULL) {
        /* The oracle may run inside (a client's OUTPUT): not serving time. */
        uint64_t oracle_before = world->w.result->wall_oracle_ns;
        uint64_t start = world->w.observer->clock_ns(world->w.observer->context);
        sim__node_deliver(world, dest, &event);
        uint64_t spent = world->w.observer->clock_ns(world->w.observer->context) - start;
        world->w.result->wall_serving_ns += spent - (world->w.result->wall_oracle_ns - oracle_before);
    } else {
        sim__node_deliver(world, dest, &event);
    }
    /* Released after the node's call: the payload is borrowed for it. */
    if (last) {
        sim__message_release(world, index, body);
    }
}

/* Schedules the next publication attempt. Rumor ids are handed out only
 * when a publication happens (on_publish), so ids stay dense: a rumor id
 * that nobody holds would be a permanent hole in every anti-entropy digest. */
static void schedule_publish(sim_world *world, uint64_t after_ns)
{
    const scn_workload *workload = &world->w.scenario->workload;
    double mean_ns = 1e9 / workload->rate_per_s;
    double gap_ns = workload->arrival == SCN_ARRIVAL_POISSON
                        ? util_prng_exponential(&world->workload_prng, mean_ns)
                        : mean_ns;
    if (world->publish_attempts >= workload->messages || gap_ns > 1e18) {
        return;
    }
    uint64_t at_ns = after_ns + (uint64_t)llround(gap_ns);
    if (at_ns > world->w.scenario->duration_ns) {
        return;
    }
    uint32_t origin = (uint32_t)util_prng_below(&world->workload_prng, world->w.node_count);
    uint64_t attempt = world->publish_attempts++;
    int rc = sim_queue_push(&world->queue, at_ns, SIM_EV_PUBLISH, origin, attempt);
    ASSERT(rc == 0);
}

/* A client hands rumor number next_rumor to 'origin'; a crashed origin
 * cannot take it, and the attempt is counted as publish_failed. */
static void on_publish(sim_world *world, uint32_t origin)
{
    schedule_publish(world, world->w.now_ns);
    if (net_is_crashed(world->network, origin)) {
        world->w.result->publish_failed += 1;
        return;
    }
    uint64_t rumor = world->w.next_rumor++;
    world->w.result->rumors_published += 1;
    world->w.origin_of[rumor] = origin;
    world->w.origin_ns[rumor] = world->w.now_ns;
    node_event event = {
        .kind = NODE_EVENT_PUBLISH,
        .rumor_id = rumor,
        .payload_bytes = world->w.scenario->workload.size_bytes,
    };
    sim__node_deliver(world, origin, &event);
}

static void on_timer(sim_world *world, uint32_t node_id, uint64_t timer_id)
{
    if (net_is_crashed(world->network, node_id) && !node_timer_outlives_crash(timer_id)) {
        return; /* A crashed node's timers are lost; RECOVER re-arms them. */
    }
    node_event event = {.kind = NODE_EVENT_TIMER, .timer_id = timer_id};
    sim__node_deliver(world, node_id, &event);
}


static void emit(const sim_world *world, const char *name, double value)
{
    world->w.observer->on_sample(world->w.observer->context, world->w.now_ns, name, value);
}

static void on_sample(sim_world *world, uint64_t number)
{
    world_result *result = world->w.result;
    uint64_t interval = world->w.scenario->output.sample_interval_ns;

    if (world->w.observer != NULL && world->w.observer->on_sample != NULL && world->w.inference) {
        emit(world, "messages_sent", (double)world->w.interval_sent);
        emit(world, "in_flight", (double)world->in_flight);
        world_serve_sample(&world->w);
        if (world->w.verifying) {
            world_check_sample(&world->w);
        }
    } else if (world->w.observer != NULL && world->w.observer->on_sample != NULL) {
        result->deliveries_expected = result->rumors_published * (world->w.node_count - 1);
        emit(world, "deliveries", (double)world->w.interval_deliveries);
        emit(world, "messages_sent", (double)world->w.interval_sent);
        emit(world, "in_flight", (double)world->in_flight);
        emit(world, "rumors_published", (double)result->rumors_published);
        emit(world, "delivery_ratio", world_delivery_ratio(result));
    }
    world->w.interval_deliveries = 0;
    world->w.interval_sent = 0;
    if (world->w.now_ns + interval <= world->w.scenario->duration_ns) {
        int rc = sim_queue_push(&world->queue, world->w.now_ns + interval, SIM_EV_SAMPLE, 0,
                                number + 1);
        ASSERT(rc == 0);
    }
}

static void dispatch(sim_world *world, const sim_event *event)
{
    switch (event->kind) {
    case SIM_EV_DELIVER:
        on_deliver(world, event->arg, event->arg2);
        break;
    case SIM_EV_TIMER:
        on_timer(world, event->arg, event->arg2);
        break;
    case SIM_EV_PUBLISH:
        on_publish(world, event->arg);
        break;
    case SIM_EV_FAULT: {
        int rc = sim__fault_apply(world, event->arg, (int)event->arg2);
        ASSERT(rc == 0); /* Fault tables are allocated once, at setup. */
        break;
    }
    case SIM_EV_SAMPLE:
        on_sample(world, event->arg2);
        break;
    case SIM_EV_SUBMIT:
        sim__workload_submit(world, event->arg, event->arg2);
        break;
    case SIM_EV_TRANSMIT: {
        uint32_t body = (uint32_t)(event->arg2 >> SIM_COPY_BODY_SHIFT);
        transmit(world, event->arg, body);
        break;
    }
    case SIM_EV_CHURN:
        sim__churn_apply(world, event->arg, event->arg2);
        break;
    default:
        ASSERT(0 && "unknown event kind");
    }
}

/* ---- building and tearing down the world ---- */

static int network_create(sim_world *world)
{
    const scn_scenario *scenario = world->w.scenario;
    uint32_t n = world->w.node_count;
    uint64_t *uplink = util_malloc((size_t)n * sizeof(*uplink));
    if (uplink == NULL) {
        return WORLD_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t bps = scenario->nodes.classes[world->w.result->class_of[i]].bandwidth_bps;
        uplink[i] = bps != 0 ? bps : scenario->network.bandwidth_bps;
    }
    uint64_t links = (uint64_t)n * (scenario->gossip.fanout + 1) * 2;
    net_config config = {
        .network = &scenario->network,
        .node_count = n,
        .region_of = world->w.result->region_of,
        .uplink_bps_of = uplink,
        .run_seed = scenario->seed,
        .link_capacity = (uint32_t)(links < 4096 ? 4096 : links > (1u << 20) ? (1u << 20) : links),
        .partition_exempt = world->w.ledger_bft.twin_of,
    };
    int rc = net_create(&config, &world->network);
    util_free(uplink);
    world->w.crash_view = world->network; /* false_suspicions: crashed or not */
    return rc == 0 ? 0 : WORLD_ENOMEM;
}

/* Frees the engine's part, then the world. Cannot fail. */
static void engine_destroy(sim_world *world)
{
    sim__messages_destroy(world);
    sim_queue_deinit(&world->queue);
    net_destroy(world->network);
    world_destroy(&world->w);
}

/* Schedules what is known at t = 0: faults, samples, the first publication. */
static int schedule_initial(sim_world *world)
{
    const scn_scenario *scenario = world->w.scenario;
    int rc = 0;
    for (uint32_t i = 0; i < scenario->fault_count && rc == 0; i++) {
        const scn_fault *fault = &scenario->faults[i];
        if (fault->at_ns <= scenario->duration_ns) {
            rc = sim_queue_push(&world->queue, fault->at_ns, SIM_EV_FAULT, i, 0);
        }
        if (rc == 0 && fault->until_ns <= scenario->duration_ns) {
            rc = sim_queue_push(&world->queue, fault->until_ns, SIM_EV_FAULT, i, 1);
        }
    }
    if (rc == 0 && scenario->output.sample_interval_ns > 0) {
        rc = sim_queue_push(&world->queue, scenario->output.sample_interval_ns, SIM_EV_SAMPLE, 0,
                            1);
    }
    if (rc == 0) {
        rc = sim__churn_schedule(world);
    }
    util_prng_init_stream(&world->workload_prng, scenario->seed, 0, UTIL_PRNG_PURPOSE_WORKLOAD);
    if (world->w.inference) {
        sim__workload_schedule(world, scenario->workload.start_ns);
    } else if (rc == 0 && scenario->workload.messages > 0) {
        /* The first gap is drawn from start, like every later one. */
        schedule_publish(world, scenario->workload.start_ns);
    }
    return rc == 0 ? 0 : WORLD_ENOMEM;
}

/* The world (world_build), then the engine's part: the queue, the
 * network, the message slots and what is scheduled at t = 0. */
static int engine_build(sim_world *world)
{
    int rc = world_build(&world->w);
    if (rc == 0) {
        rc = world_forward_build(&world->w);
    }
    if (rc == 0 && sim_queue_init(&world->queue, (size_t)world->w.node_count * 4 + 1024) != 0) {
        rc = WORLD_ENOMEM;
    }
    if (rc == 0) {
        rc = network_create(world);
    }
    if (rc == 0) {
        rc = sim__messages_grow(world);
    }
    if (rc == 0) {
        rc = schedule_initial(world);
    }
    return rc;
}

/* Every node starts at t = 0, in id order. */
static void start_nodes(sim_world *world)
{
    node_event start = {.kind = NODE_EVENT_START};
    for (uint32_t i = 0; i < world->w.node_count; i++) {
        world->w.result->trace_hash = util_trace_fold(world->w.result->trace_hash, 0, 0, i);
        sim__node_deliver(world, i, &start);
    }
}

/* The next event's state is a likely cache miss with many nodes: start
 * loading it while this event is handled -- an arrival's copy and its
 * receiver (network record, counters, node, seen-set), a timer's node. A
 * hint only: 'next' may not be the next event. */
static void prefetch_next(const sim_world *world, const sim_event *next)
{
    uint64_t node_id;
    if (next == NULL) {
        return;
    }
    if (next->kind == SIM_EV_DELIVER && next->arg < world->messages.slot_capacity) {
        __builtin_prefetch(sim__slot_header(&world->messages, next->arg));
        node_id = next->arg2 >> SIM_COPY_DEST_SHIFT & SIM_COPY_DEST_MASK;
    } else if (next->kind == SIM_EV_TIMER) {
        node_id = next->arg;
    } else {
        return;
    }
    if (node_id >= world->w.node_count) {
        return;
    }
    net_prefetch_node(world->network, (uint32_t)node_id);
    __builtin_prefetch(&world->w.result->nodes[node_id]);
    __builtin_prefetch(&world->w.nodes[node_id]);
    if (world->w.seen_bits != NULL) {
        size_t words = node_seen_words(world->w.nodes[0].config.rumor_capacity);
        __builtin_prefetch(&world->w.seen_bits[node_id * words]);
    }
}

static void run_loop(sim_world *world, volatile sig_atomic_t *stop)
{
    world_result *result = world->w.result;
    const uint64_t end_ns = world->w.scenario->duration_ns;
    sim_event event;

    while (sim_queue_pop(&world->queue, &event)) {
        if (event.at_ns > end_ns) {
            break;
        }
        ASSERT(event.at_ns >= world->w.now_ns); /* Time never runs backwards. */
        world->w.now_ns = event.at_ns;
        result->events += 1;
        result->trace_hash =
            util_trace_fold(result->trace_hash, event.at_ns,
                            ((uint64_t)event.kind << 32) | event.arg, sim__event_traced_arg2(&event));
        prefetch_next(world, sim_queue_peek_hint(&world->queue));
        dispatch(world, &event);
        if (world->held_request != 0) {
            sim__workload_release(world);
        }
        /* Checked every event: one event of an inference run can be a
         * millisecond of real arithmetic, and a signal must not wait. */
        if (stop != NULL && *stop) {
            result->interrupted = true;
            break;
        }
        if ((result->events % SIM_PROGRESS_EVERY) == 0 && world->w.observer != NULL &&
            world->w.observer->on_progress != NULL) {
            world->w.observer->on_progress(world->w.observer->context, world->w.now_ns, result->events);
        }
    }
    result->sim_ns = result->interrupted ? world->w.now_ns : end_ns;
}

int sim_run(const scn_scenario *scenario, const world_observer *observer,
            volatile sig_atomic_t *stop, world_result **out)
{
    sim_world world;

    ASSERT(scenario != NULL);
    ASSERT(out != NULL);
    ASSERT(scenario->nodes.count >= 1);
    memset(&world, 0, sizeof(world));
    world.w.scenario = scenario;
    world.w.observer = observer;
    world.w.node_count = scenario->nodes.count;
    world.w.inference = scenario->workload.kind == SCN_WORKLOAD_INFERENCE;
    world.w.verifying = world.w.inference &&
                      scenario->verification.protocol != CONS_PROTOCOL_NONE;
    *out = NULL;
    int rc = engine_build(&world);
    if (rc != 0) {
        engine_destroy(&world);
        world_result_destroy(world.w.result);
        return rc;
    }
    start_nodes(&world);
    run_loop(&world, stop);
    world_oracle_flush(&world.w);
    world_attack_flush(&world.w);
    if (world.w.inference && scenario->converge_within_ns > 0 && !world.w.result->interrupted) {
        world_liveness_check(&world.w);
    }
    world.w.result->deliveries_expected =
        world.w.result->rumors_published * (uint64_t)(world.w.node_count - 1);
    world.w.result->peak_payloads_in_flight = world.messages.bodies_peak;
    world.w.result->copy_record_bytes = sizeof(sim_slot) + sizeof(uint32_t) + sizeof(sim_event);
    world.w.result->payload_record_bytes = sizeof(sim_body) + sizeof(uint32_t);
    sim__messages_memory(&world, &world.w.result->copy_storage_bytes,
                         &world.w.result->payload_storage_bytes);
    engine_destroy(&world);
    *out = world.w.result;
    return 0;
}

/* ---- run-level metrics ---- */
