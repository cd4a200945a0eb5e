/* tb_emulate.c -- the link emulator of `infersim testbed --emulate`: each
 * frame a process sends is held in memory until the arrival time the
 * simulator's network model (world/world_net.h) gives it, then written to
 * the destination's TCP connection. The model is the simulator's own code:
 * the region matrix and the per-pair sample of the latency model, jitter,
 * the sender's uplink at its bandwidth (a token bucket of one frame: a frame
 * starts when the previous one has left), FIFO per link, reordering, loss,
 * duplication and corruption, drawn per frame from the sender's seeded NET
 * stream. Only the clock differs: the model is asked in real time
 * (CLOCK_MONOTONIC since the run's epoch), so the draws are seeded but the
 * timing of frames is not reproducible.
 *
 * A frame's life: tb__emulate_send copies it; when the node's compute for it
 * has not ended yet (send_at in the future) it first waits for that, as the
 * simulator stages a message; then the model decides its fate (dropped,
 * one or two deliveries); each delivery is a libevent timer that, when it
 * fires, asks the model whether a partition started meanwhile and hands
 * the frame to the process's writer. The delay between the requested
 * arrival and the hand-over is the emulator's own error, kept in a
 * histogram (tb_emulate_stats.lateness_ns).
 *
 * Faults: the scenario's partitions and link faults (loss, delay, reorder,
 * duplicate, corrupt) are started and stopped on the model at their times,
 * as the simulator does; the sender-side rules of a run without --emulate
 * are not used for them. */
#include <string.h>
#include <time.h>

#include "testbed/tb_int.h"
#include "util/alloc.h"
#include "util/assert.h"

typedef struct tb_held tb_held;

struct tb_held {
    tb_held *prev;
    tb_held *next;
    tb_emulator *emulator;
    struct event *event;
    bool in_flight;                  /* false: waiting for the compute to end */
    uint8_t type;                    /* node message type, for the counters */
    uint32_t source;
    uint32_t dest;
    uint64_t wire_bytes;             /* what the model charges: the message's wire size */
    uint64_t due_ns;                 /* requested arrival (in flight) or departure */
    size_t bytes;
    uint8_t frame[];
};

struct tb_emulator {
    tb_emulate_config config;
    net *network;
    uint64_t last_ns;                /* the model's clock never goes back */
    tb_held *held;                   /* a doubly linked list of held frames */
    tb_emulate_stats stats;
};

uint64_t tb__emulate_now_ns(const tb_emulator *emulator)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    return ns > emulator->config.epoch_ns ? ns - emulator->config.epoch_ns : 0;
}

int tb__emulate_create(const tb_emulate_config *config, tb_emulator **out)
{
    ASSERT(config != NULL && out != NULL);
    ASSERT(config->base != NULL && config->deliver != NULL);
    *out = NULL;
    tb_emulator *emulator = util_calloc(1, sizeof(*emulator));
    if (emulator == NULL) {
        return TB_ENOMEM;
    }
    emulator->config = *config;
    util_hist_init(&emulator->stats.lateness_ns);
    net_config model = {
        .network = config->network,
        .node_count = config->node_count,
        .region_of = config->region_of,
        .uplink_bps_of = config->uplink_bps_of,
        .run_seed = config->run_seed,
        .link_capacity = 4096,
    };
    if (net_create(&model, &emulator->network) != 0) {
        util_free(emulator);
        return TB_ENOMEM;
    }
    *out = emulator;
    return 0;
}

static void held_unlink(tb_emulator *emulator, tb_held *held)
{
    if (held->prev != NULL) {
        held->prev->next = held->next;
    } else {
        emulator->held = held->next;
    }
    if (held->next != NULL) {
        held->next->prev = held->prev;
    }
    event_free(held->event);
    util_free(held);
}

/* Frames still held are lost, as frames in flight when a process stops. */
void tb__emulate_destroy(tb_emulator *emulator)
{
    if (emulator == NULL) {
        return;
    }
    while (emulator->held != NULL) {
        held_unlink(emulator, emulator->held);
    }
    net_destroy(emulator->network);
    util_free(emulator);
}

static void held_fire(evutil_socket_t fd, short what, void *arg);

static void emulate_dropped(tb_emulator *emulator)
{
    emulator->stats.dropped += 1;
    if (emulator->config.dropped != NULL) {
        *emulator->config.dropped += 1;
    }
}

/* A held copy of frame[bytes], its timer armed for 'due_ns'. NULL when out
 * of memory (the frame is then lost). */
static tb_held *held_start(tb_emulator *emulator, const tb_held *model, const uint8_t *frame,
                           uint64_t due_ns, uint64_t now_ns)
{
    tb_held *held = util_malloc(sizeof(*held) + model->bytes);
    if (held == NULL) {
        return NULL;
    }
    *held = *model;
    memcpy(held->frame, frame, model->bytes);
    held->emulator = emulator;
    held->due_ns = due_ns;
    held->event = evtimer_new(emulator->config.base, held_fire, held);
    if (held->event == NULL) {
        util_free(held);
        return NULL;
    }
    uint64_t wait = due_ns > now_ns ? due_ns - now_ns : 0;
    /* libevent adds a timeout to its cached time, taken when the loop
     * woke: refreshed, the frame cannot leave before its arrival. */
    event_base_update_cache_time(emulator->config.base);
    struct timeval tv = {(time_t)(wait / 1000000000u), (suseconds_t)((wait % 1000000000u) / 1000)};
    evtimer_add(held->event, &tv);
    held->prev = NULL;
    held->next = emulator->held;
    if (emulator->held != NULL) {
        emulator->held->prev = held;
    }
    emulator->held = held;
    return held;
}

/* Puts a frame on the emulated link now: the model's fate, then one timer
 * per delivery. */
static void transmit(tb_emulator *emulator, const tb_held *frame_of, const uint8_t *frame,
                     uint64_t now_ns)
{
    world_type_stats *type = &emulator->config.types[frame_of->type];
    net_send_result fate;
    now_ns = now_ns > emulator->last_ns ? now_ns : emulator->last_ns;
    emulator->last_ns = now_ns;
    net_send(emulator->network, now_ns, frame_of->source, frame_of->dest, frame_of->wire_bytes,
             &fate);
    if (fate.drop != WORLD_DROP_NONE) {
        type->dropped[fate.drop] += 1;
        emulate_dropped(emulator);
        return;
    }
    type->duplicated += fate.count > 1;
    type->reordered += fate.reordered;
    emulator->stats.duplicated += fate.count > 1;
    emulator->stats.reordered += fate.reordered;
    for (uint32_t i = 0; i < fate.count; i++) {
        tb_held *held = held_start(emulator, frame_of, frame, fate.deliveries[i].at_ns, now_ns);
        if (held == NULL) {
            emulate_dropped(emulator);
            continue;
        }
        held->in_flight = true;
        if (fate.deliveries[i].corrupt) {
            /* In the tag: the receiver rejects it, the framing stays intact. */
            held->frame[held->bytes - 1] ^= 0x04;
            type->corrupted += 1;
        }
    }
}

static void held_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tb_held *held = arg;
    tb_emulator *emulator = held->emulator;
    uint64_t now = tb__emulate_now_ns(emulator);
    if (!held->in_flight) {
        transmit(emulator, held, held->frame, now);
    } else if (net_check_arrival(emulator->network, held->source, held->dest) !=
               WORLD_DROP_NONE) {
        /* A partition started while the frame was in flight. */
        emulator->config.types[held->type].dropped[WORLD_DROP_PARTITION] += 1;
        emulate_dropped(emulator);
    } else {
        util_hist_add(&emulator->stats.lateness_ns, now > held->due_ns ? now - held->due_ns : 0);
        emulator->stats.delivered += 1;
        emulator->config.deliver(emulator->config.context, held->dest, held->frame, held->bytes);
    }
    held_unlink(emulator, held);
}

void tb__emulate_send(tb_emulator *emulator, const tb_emulate_frame *frame)
{
    ASSERT(emulator != NULL && frame != NULL);
    ASSERT(frame->source < emulator->config.node_count);
    ASSERT(frame->dest < emulator->config.node_count);
    ASSERT(frame->type < NODE_MESSAGE_TYPE_COUNT);
    uint64_t now = tb__emulate_now_ns(emulator);
    tb_held model = {
        .type = frame->type,
        .source = frame->source,
        .dest = frame->dest,
        .wire_bytes = frame->wire_bytes,
        .bytes = frame->bytes,
    };
    emulator->stats.sent += 1;
    if (frame->leave_ns <= now) {
        transmit(emulator, &model, frame->bytes_at, now);
        return;
    }
    if (held_start(emulator, &model, frame->bytes_at, frame->leave_ns, now) == NULL) {
        emulate_dropped(emulator);
    }
}

int tb__emulate_fault(tb_emulator *emulator, uint32_t fault_index, const scn_fault *fault,
                      const uint8_t *selected, const uint8_t *groups, bool ending)
{
    ASSERT(emulator != NULL && fault != NULL);
    if (fault->kind == SCN_FAULT_PARTITION) {
        if (ending) {
            net_partition_heal(emulator->network, fault_index);
            return 0;
        }
        return net_partition_start(emulator->network, fault_index, groups) == 0 ? 0 : TB_ENOMEM;
    }
    if (fault->kind != SCN_FAULT_LOSS && fault->kind != SCN_FAULT_DUPLICATE &&
        fault->kind != SCN_FAULT_REORDER && fault->kind != SCN_FAULT_CORRUPT &&
        fault->kind != SCN_FAULT_DELAY) {
        return TB_EINVAL;
    }
    if (ending) {
        net_link_fault_stop(emulator->network, fault_index);
        return 0;
    }
    return net_link_fault_start(emulator->network, fault_index, fault->kind, fault->probability,
                                fault->delay_ns, selected) == 0
               ? 0
               : TB_ENOMEM;
}

const tb_emulate_stats *tb__emulate_stats(const tb_emulator *emulator)
{
    ASSERT(emulator != NULL);
    return &emulator->stats;
}
