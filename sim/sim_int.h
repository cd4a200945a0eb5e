/* sim_int.h -- private declarations shared by the engine files of sim/:
 * the engine's world (sim.c owns the event loop, workload.c the arrivals,
 * fault.c the fault schedule's effect on the network). Not part of the
 * public interface. */
#ifndef SIM_SIM_INT_H
#define SIM_SIM_INT_H

#include "consensus/cons.h"
#include "sim/queue.h"
#include "world/world_net.h"
#include "sim/sim.h"
#include "world/world_engine.h"
#include "util/hash.h"

/* Event kinds in the queue; part of the trace hash, append only. */
enum {
    SIM_EV_DELIVER = 1,   /* arg = message slot, arg2 = corrupt flag */
    SIM_EV_TIMER = 2,     /* arg = node, arg2 = timer id */
    SIM_EV_PUBLISH = 3,   /* arg = origin node, arg2 = attempt number */
    SIM_EV_FAULT = 4,     /* arg = fault index, arg2 = 0 start, 1 end */
    SIM_EV_SAMPLE = 5,    /* arg2 = sample number */
    SIM_EV_SUBMIT = 6,    /* arg = client node, arg2 = request id */
    SIM_EV_TRANSMIT = 7,  /* arg = message slot: a send held until compute ended */
    SIM_EV_CHURN = 8      /* arg = sim_churn_event, arg2 = node (a drain's end) */
};

/* What is in flight. A SEND effect is one copy: one destination, one
 * message slot, delivered once or twice (duplication). A copy is its wire
 * header and nothing else -- source, destination, type and the declared
 * payload size are read from it -- so a slot is one cache line (64 bytes,
 * aligned). Copies of one message share its payload: a body holds the
 * bytes once, with the sender's MAC over them computed once, and counts
 * the copies that reference it; a node's multicast (the same payload
 * buffer sent to several peers in one call) stages one body. The slot
 * index of a copy is part of the trace (DELIVER and TRANSMIT events name
 * it), so slots are handed out exactly as a LIFO free list would. */
typedef struct sim_slot {
    _Alignas(64) uint8_t header[NODE_HEADER_BYTES];
} sim_slot;

_Static_assert(sizeof(sim_slot) == 64, "a copy is one cache line");

typedef struct sim_body {
    uint8_t *payload;                /* owned; grows to the largest payload seen */
    uint32_t payload_bytes;
    uint32_t payload_capacity;
    uint32_t refs;                   /* copies (slots) that reference it */
    uint32_t unused;
    uint64_t tag;                    /* the sender's MAC over the payload */
} sim_body;

/* A DELIVER or TRANSMIT event's arg2: bit 0 the copy was altered in flight
 * (DELIVER), bit 1 the slot's other copy arrives later (a duplicate: this
 * arrival does not release the slot), bits 8..31 the destination (DELIVER:
 * a hint, so the loop can start loading the receiver's state one event
 * ahead), the high half the body's index + 1 (0: no payload). A TRANSMIT's
 * low 16 bits are the forward ticket whose result the message carries (0:
 * none; world_forward_take). Only the altered bit is folded into the
 * trace: the rest follows from the slot. */
#define SIM_COPY_ALTERED UINT64_C(1)
#define SIM_COPY_MORE UINT64_C(2)
#define SIM_COPY_DEST_SHIFT 8
#define SIM_COPY_DEST_MASK UINT64_C(0xffffff)
#define SIM_COPY_BODY_SHIFT 32

_Static_assert(SCN_NODES_MAX <= SIM_COPY_DEST_MASK, "a destination fits its bits of arg2");

/* The part of an event's arg2 the trace folds. */
static inline uint64_t sim__event_traced_arg2(const sim_event *event)
{
    if (event->kind == SIM_EV_DELIVER) {
        return event->arg2 & SIM_COPY_ALTERED;
    }
    return event->kind == SIM_EV_TRANSMIT ? 0 : event->arg2;
}

/* The copies and messages in flight (sim/message.c). Slots come in chunks
 * that never move: growing adds one more chunk (past the first eight, from
 * an 8 MiB block on 4 KiB pages) and copies nothing, and a page is first
 * touched when a copy needs it. */
#define SIM_SLOT_CHUNK_BITS 14
#define SIM_SLOT_CHUNK (UINT32_C(1) << SIM_SLOT_CHUNK_BITS)

typedef struct sim_messages {
    sim_slot **chunks;               /* slot_capacity / SIM_SLOT_CHUNK, aligned */
    void **chunk_blocks;             /* the allocations they sit in */
    uint32_t chunk_capacity;
    uint32_t *slot_stack;            /* free slots, the next one on top */
    uint32_t slot_free_count;
    uint32_t slot_capacity;
    uint32_t slot_room;              /* entries allocated in the per-slot arrays (the stack,
                                      * tickets, signatures): at least slot_capacity */
    sim_body *bodies;
    uint32_t *body_stack;
    uint32_t body_free_count;
    uint32_t body_capacity;
    uint32_t bodies_in_flight;
    uint32_t bodies_peak;
    /* The body the last SEND of the outbox being applied staged (index + 1)
     * and the buffer it came from: a later SEND of the same buffer and size
     * in the same outbox shares it. Cleared before each outbox. */
    uint32_t share_body;
    const uint8_t *share_payload;
    uint8_t *altered;                /* an altered copy's private payload */
    size_t altered_capacity;
    uint8_t *sign_buffer;            /* header and payload, to sign or verify */
    size_t sign_capacity;
    uint16_t *tickets;               /* per slot: the forward ticket whose result the copy
                                      * still waits for (0: sealed, or none) */
    uint8_t (*signatures)[64];       /* per slot, when signing */
    uint8_t *signature_checked;      /* per slot: the unaltered bytes verified once */
} sim_messages;

/* The header of copy 'index'. */
static inline uint8_t *sim__slot_header(const sim_messages *messages, uint32_t index)
{
    return messages->chunks[index >> SIM_SLOT_CHUNK_BITS][index & (SIM_SLOT_CHUNK - 1)].header;
}

/* The engine's world: the engine-free world (world/world_int.h) and what
 * only the engine has -- the event queue, the network, the messages in
 * flight, the workload's arrival stream. */
typedef struct sim_world {
    world_state w;
    sim_queue queue;
    net *network;
    sim_messages messages;
    uint64_t in_flight;              /* copies */
    util_prng workload_prng;
    uint64_t publish_attempts;
    uint64_t submit_attempts;
    /* verification.draw_epoch: an arrival held back until every request
     * before its epoch has finished (request + 1, 0 = none). */
    uint64_t held_request;
    uint32_t held_client;
} sim_world;

/* message.c: the in-flight store. grow is 0 or WORLD_ENOMEM (at setup);
 * stage copies a SEND into a slot (and a body, or the outbox's shared one)
 * and returns the slot with its body in *body (index + 1, 0 none); with a
 * forward ticket the payload (or the token) is not computed yet: the slot
 * keeps the ticket, and seal (a no-op without one; fill is its out-of-line
 * part) takes the call's result
 * into the slot and its own body when the first copy arrives or the
 * message is dropped -- the network model reads only the header, so the
 * event loop goes on while the call runs through the message's latency;
 * release drops one copy's hold on both; receive
 * authenticates and decodes an arriving copy (0, or -1 to reject); destroy
 * frees it all. */
int sim__messages_grow(sim_world *world);
uint32_t sim__message_stage(sim_world *world, uint32_t source, const node_message *message,
                            uint32_t forward_ticket, uint32_t *body);
void sim__message_fill(sim_world *world, uint32_t slot, uint32_t body);
static inline void sim__message_seal(sim_world *world, uint32_t slot, uint32_t body)
{
    if (world->messages.tickets != NULL && world->messages.tickets[slot] != 0) {
        sim__message_fill(world, slot, body); /* out of line: most copies have no ticket */
    }
}
void sim__message_release(sim_world *world, uint32_t slot, uint32_t body);
int sim__message_receive(sim_world *world, uint32_t slot, uint32_t body, bool altered,
                         node_message *received);
uint64_t sim__message_wire_bytes(const sim_world *world, const uint8_t *header);
void sim__messages_destroy(sim_world *world);
/* Bytes the engine holds for copies (slots, their free list, queued
 * events) and for messages (bodies and their payload buffers). */
void sim__messages_memory(const sim_world *world, uint64_t *copy_bytes, uint64_t *message_bytes);

/* sim.c */
void sim__node_deliver(sim_world *world, uint32_t node_id, const node_event *event);
/* fault.c: a fault of the schedule starts (ending 0) or ends (1). */
int sim__fault_apply(sim_world *world, uint32_t fault_index, int ending);
/* fault.c: a node goes down (its messages and timers are lost; counted in
 * its crashes) or comes back (told RECOVER); both no-ops when it already is. */
void sim__node_crash(sim_world *world, uint32_t node_id);
void sim__node_recover(sim_world *world, uint32_t node_id);
/* churn.c: the churn section -- the nodes offline at t = 0 and the first
 * join and leave (0 or WORLD_ENOMEM), then each churn event. */
int sim__churn_schedule(sim_world *world);
void sim__churn_apply(sim_world *world, uint32_t what, uint64_t node_id);
/* workload.c: schedules arrival number submit_attempts, and a client
 * submits a request (its prompt drawn from the workload stream). */
void sim__workload_schedule(sim_world *world, uint64_t after_ns);
void sim__workload_submit(sim_world *world, uint32_t client, uint64_t request);
/* Submits the held arrival now when its epoch's gate has opened. */
void sim__workload_release(sim_world *world);

#endif
