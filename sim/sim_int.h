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

/* One message in flight: the encoded header as it would cross a wire, its
 * MAC and how many scheduled deliveries still reference it. */
/* The fields read at every arrival come first, the header right after:
 * an arrival touches two cache lines. Signatures live in a side array. */
typedef struct sim_slot {
    uint32_t refs;
    uint32_t next_free;
    uint32_t source;                 /* ground truth, for accounting only */
    uint32_t dest;
    uint32_t type;
    uint32_t payload_bytes;          /* real payload bytes after the header */
    uint64_t wire_bytes;
    uint64_t tag;
    uint8_t *payload;                /* owned; grows to the largest payload seen */
    uint32_t payload_capacity;
    bool signed_ed25519;             /* carries an ed25519 signature instead of the MAC */
    bool signature_checked;          /* the unaltered bytes' signature was verified once */
    uint32_t forward_ticket;         /* > 0: a forward call computes the payload (or the
                                      * token); sealed when the message leaves */
    uint8_t header[NODE_HEADER_BYTES];
} sim_slot;

/* The engine's world: the engine-free world (world/world_int.h) and what
 * only the engine has -- the event queue, the network, the messages in
 * flight, the workload's arrival stream. */
typedef struct sim_world {
    world_state w;
    sim_queue queue;
    net *network;
    sim_slot *slots;
    uint32_t slot_capacity;
    uint32_t slot_free;
    uint64_t in_flight;
    util_prng workload_prng;
    uint64_t publish_attempts;
    uint64_t submit_attempts;
    /* verification.draw_epoch: an arrival held back until every request
     * before its epoch has finished (request + 1, 0 = none). */
    uint64_t held_request;
    uint32_t held_client;
    uint8_t *sign_buffer;            /* header and payload, to sign or verify */
    uint8_t (*signatures)[64];       /* per slot, when signing */
    size_t sign_capacity;
} sim_world;

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
