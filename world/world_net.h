/* world_net.h -- the network model: per-link latency, jitter, serialization
 * on each sender's uplink, FIFO order per link, loss, duplication,
 * reordering, corruption, partitions and crashed nodes. Pure arithmetic over
 * a clock its caller gives: the simulator's engine (sim/sim.c) asks when a
 * message sent now arrives, schedules the arrival itself, and asks again at
 * arrival whether it may be delivered; the testbed's link emulator
 * (testbed/tb_emulate.c) asks the same questions in real time and holds
 * each frame until its arrival. It lives below both drivers so that the two
 * draw from one model; its names keep the prefix net_.
 *
 * Model, in order, for a message of B wire bytes from s to d sent at t:
 *   1. s crashed, or s and d separated by an active partition: dropped.
 *   2. Serialization: starts at max(t, uplink_free[s]), lasts B*8/bps(s);
 *      uplink_free[s] becomes its end (FIFO per sender uplink).
 *   3. Propagation: region_latency[r(s)][r(d)] + the link's fixed sample
 *      from the latency model (drawn once per unordered pair from stream
 *      (seed, pair, LINK)) + uniform jitter in [0, jitter) + active delay
 *      faults on s or d.
 *   4. FIFO per link: arrival >= the last arrival on (s, d), unless the
 *      message is reordered (probability 'reorder'; held an extra uniform
 *      [0, reorder_delay) and exempt from FIFO).
 *   5. Loss (probability), duplication (a second copy, one more jitter
 *      draw later), corruption (flag; the receiver's MAC check rejects it).
 * All draws come from the sender's stream (seed, s, NET), in that order.
 * Scenario-wide probabilities and active link faults on s or d combine as
 * independent events: p = 1 - (1 - p1)(1 - p2)... */
#ifndef WORLD_WORLD_NET_H
#define WORLD_WORLD_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "scenarios/scn.h"
#include "world/world.h"

typedef struct net net;

/* Why a message was lost: world/world.h's world_drop. */
typedef world_drop net_drop;

typedef struct net_delivery {
    uint64_t at_ns;
    bool corrupt;
} net_delivery;

typedef struct net_send_result {
    net_drop drop;                   /* NONE: 'count' deliveries follow */
    uint32_t count;                  /* 0, 1 or 2 (duplicated) */
    net_delivery deliveries[2];
    bool reordered;
    uint64_t serialization_ns;       /* time on the uplink */
} net_send_result;

/* Per-node placement the network needs. Arrays of node_count entries,
 * copied. */
typedef struct net_config {
    const scn_network *network;
    uint32_t node_count;
    const uint16_t *region_of;       /* index into the region matrix */
    const uint64_t *uplink_bps_of;   /* > 0 */
    uint64_t run_seed;
    uint32_t link_capacity;          /* FIFO table slots: >= in-flight links bound */
    /* node_count entries or NULL, borrowed for the network's life: nodes no
     * partition cuts (a Twins validator, whose two instances sit on both
     * sides of any partition). */
    const uint8_t *partition_exempt;
} net_config;

/* Allocates the network. Returns 0, or -1 when out of memory. */
int net_create(const net_config *config, net **out);
void net_destroy(net *self);

/* Computes the fate of one message sent at now_ns. Updates uplink and link
 * FIFO state. Cannot fail. */
void net_send(net *self, uint64_t now_ns, uint32_t source, uint32_t dest, uint64_t wire_bytes,
              net_send_result *result);

/* A hint, no effect on any result: starts loading what net_send(source,
 * dest) will read (the link's FIFO slot, the pair's stored sample), so a
 * driver about to send several messages overlaps their cache misses. */
void net_prefetch(const net *self, uint32_t source, uint32_t dest);

/* A hint, like net_prefetch: starts loading what net_check_arrival and
 * net_is_crashed read of 'node_id' (its byte), and its record, which its
 * own sends read. */
void net_prefetch_node(const net *self, uint32_t node_id);

/* At arrival: may the message from source be handed to dest now? Returns
 * WORLD_DROP_NONE, WORLD_DROP_PARTITION (a partition started in flight) or
 * WORLD_DROP_CRASHED (dest is down). */
net_drop net_check_arrival(const net *self, uint32_t source, uint32_t dest);

/* Link latency of the pair without jitter or faults (for tests and docs). */
uint64_t net_link_latency_ns(const net *self, uint32_t source, uint32_t dest);

/* Serialization time of 'wire_bytes' on a 'bps' link, rounded up to 1 ns. */
uint64_t net_serialization_ns(uint64_t wire_bytes, uint64_t bps);

/* Crash state. */
void net_set_crashed(net *self, uint32_t node_id, bool crashed);
bool net_is_crashed(const net *self, uint32_t node_id);

/* Starts partition 'fault_id' with group_of[node] (copied; node_count
 * entries): nodes talk only when they share a group in every active
 * partition. Returns 0, or -1 when out of memory. */
int net_partition_start(net *self, uint32_t fault_id, const uint8_t *group_of);
void net_partition_heal(net *self, uint32_t fault_id);

/* Starts link fault 'fault_id' of 'kind' (LOSS, DUPLICATE, REORDER, CORRUPT
 * or DELAY) on messages from or to nodes with selected[node] != 0 (copied).
 * Returns 0, or -1 when out of memory. */
int net_link_fault_start(net *self, uint32_t fault_id, scn_fault_kind kind, double probability,
                         uint64_t delay_ns, const uint8_t *selected);
void net_link_fault_stop(net *self, uint32_t fault_id);

#endif
