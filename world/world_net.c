/* world_net.c -- the network model of world/world_net.h: pure arithmetic over
 * the caller's time. This file decides when a message sent now arrives (uplink
 * serialization, link latency, jitter, FIFO per link, reordering) and whether
 * it arrives at all (crash, partition, loss), with which copies (duplication)
 * and in what state (corruption). It schedules nothing: its driver does.
 *
 * State, all sized at net_create and never allocated per message:
 *   - per node: uplink speed, the instant its uplink is free and its NET
 *     stream (seed, node, NET) in its record; its region and crashed flag
 *     in one byte of a table of their own (see net_node below);
 *   - per directed link (s, d), the last arrival on it while that is later
 *     than now (the FIFO constraint): in one of s's near entries, on the
 *     second line of its record, or in the link FIFO table, open addressing
 *     over directed links, 16 bytes a slot (see "near links" below);
 *   - a pair's fixed latency sample, drawn from its LINK stream at the
 *     pair's first send and stored (4 bytes an unordered pair) when the
 *     table of every pair fits NET_SAMPLES_BYTES_MAX; a larger network
 *     draws it again at every send (a stream seeding and one sample). The
 *     stored value is the one drawn, so the two give the same run;
 *   - active partitions (a group per node) and active link faults (a bitset
 *     of selected nodes), kept in start order.
 *
 * Time never goes backwards between calls to net_send (ASSERTed): the table
 * relies on it to tell live FIFO constraints from stale ones. */
#include "world/world_net.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "util/alloc.h"
#include "util/assert.h"
#include "util/prng.h"

/* A key no directed link can have: node ids stay below SCN_NODES_MAX. */
#define NET_LINK_EMPTY UINT64_MAX
#define NET_LINK_SLOTS_MIN 1024u
#define NET_FAULTS_ACTIVE_MAX SCN_FAULTS_MAX
/* The stored pair samples: up to 16 MiB (2,896 nodes); util_calloc_sparse, so only
 * the pages of pairs that talk are ever touched. */
#define NET_SAMPLES_BYTES_MAX ((uint64_t)16 << 20)
/* A stored sample is the sample plus one; 0 is "not drawn yet" and
 * NET_SAMPLE_REDRAW a sample too large to store (drawn again each time). */
#define NET_SAMPLE_REDRAW UINT32_MAX

__extension__ typedef unsigned __int128 net_u128;

_Static_assert(SCN_NODES_MAX < UINT32_MAX, "UINT64_MAX must not be a valid link key");

typedef struct net_link {
    uint64_t key;                    /* (uint64_t)source << 32 | dest, or NET_LINK_EMPTY */
    uint64_t last_arrival_ns;        /* latest FIFO arrival on the link */
} net_link;

/* Links of a sender kept in its own record (see "near links" below): as
 * many as a gossip forward's default fanout, 6, sends on at once. */
#define NET_NEAR_LINKS 6

/* Everything a send touches on its sender sits in one record of two cache
 * lines rather than in several arrays: with many nodes, net_send is bound
 * by cache misses. A send reads both lines (the stream and the uplink, the
 * near links), so the near links may straddle them. What a send and an
 * arrival read of the other end, its region and whether it is crashed, is
 * one byte of 'net.reach' instead: a random receiver's byte is in a table
 * of a megabyte at a million nodes, which stays in the caches, where its
 * record would be a miss at every send. */
typedef struct net_node {
    util_prng stream;                /* NET stream (seed, node, NET) */
    uint64_t uplink_free_ns;         /* the uplink is busy until then */
    uint64_t far_until_ns;           /* the latest last arrival of this sender's links
                                      * in the shared table (0: none ever) */
    uint64_t near_arrival_ns[NET_NEAR_LINKS]; /* last arrival on the near link i */
    uint32_t near_dest[NET_NEAR_LINKS];       /* its destination */
    uint64_t uplink_bps;
} net_node;

_Static_assert(sizeof(void *) != 8 || sizeof(net_node) == 128, "a net_node is two lines");
_Static_assert(sizeof(void *) != 8 || offsetof(net_node, near_dest) >= 64,
               "net_prefetch reaches the second line through near_dest");

/* A node's byte of 'net.reach': its region below, crashed in the top bit. */
#define NET_REACH_CRASHED 0x80u
#define NET_REACH_REGION 0x7fu
_Static_assert(SCN_REGIONS_MAX <= NET_REACH_REGION + 1, "a region fits its byte");

typedef struct net_partition {
    uint32_t fault_id;
    uint8_t *group_of;               /* node_count entries */
} net_partition;

typedef struct net_link_fault {
    uint32_t fault_id;
    scn_fault_kind kind;
    double probability;
    uint64_t delay_ns;
    uint64_t *selected_bits;         /* node_count bits */
} net_link_fault;

struct net {
    scn_network network;
    uint32_t node_count;
    uint64_t run_seed;
    const uint8_t *partition_exempt; /* node_count entries or NULL (net_config) */
    uint64_t now_ns;                 /* latest net_send time seen */
    net_node *nodes;                 /* node_count entries */
    uint8_t *reach;                  /* node_count entries: region | NET_REACH_CRASHED */

    /* Link FIFO table (see "link FIFO table" below). */
    net_link *links;
    uint32_t links_mask;             /* slot count - 1; slot count a power of two */
    uint32_t links_used;             /* non-empty slots, live or stale */
    uint64_t links_sweeps;           /* counters, for debugging and tuning */
    uint64_t links_grows;
    uint32_t *samples;               /* per unordered pair, or NULL (see top) */

    uint32_t partition_count;
    net_partition partitions[NET_FAULTS_ACTIVE_MAX];
    uint32_t link_fault_count;
    net_link_fault link_faults[NET_FAULTS_ACTIVE_MAX];
};

/* The effect of the scenario plus every active link fault on one message:
 * combined probabilities (see net_effects_gather), delays. */
typedef struct net_effects {
    double loss;
    double duplicate;
    double reorder;
    double corrupt;
    uint64_t delay_ns;               /* sum of DELAY faults */
    uint64_t reorder_hold_ns;        /* largest applicable reorder hold */
} net_effects;

static uint64_t net_add_saturate(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Rounds a non-negative double to the nearest integer nanosecond; NaN and
 * negative values give 0, huge values saturate. */
static uint64_t net_round_ns(double value)
{
    if (!(value > 0.0)) {
        return 0;
    }
    if (value >= 18446744073709549568.0) {
        return UINT64_MAX;
    }
    return (uint64_t)floor(value + 0.5);
}

/* floor(u * range) for u in [0, 1), kept below 'range'; 0 when range is 0. */
static uint64_t net_scale(double u, uint64_t range)
{
    uint64_t value;

    if (range == 0) {
        return 0;
    }
    value = (uint64_t)(u * (double)range);
    return value < range ? value : range - 1;
}

uint64_t net_serialization_ns(uint64_t wire_bytes, uint64_t bps)
{
    net_u128 bits_ns;
    net_u128 quotient;

    ASSERT(bps > 0);
    /* bytes * 8 * 1e9 needs up to 64 + 33 bits: exact in 128-bit. */
    bits_ns = (net_u128)wire_bytes * 8u * 1000000000u;
    quotient = (bits_ns + (bps - 1)) / bps;
    return quotient > UINT64_MAX ? UINT64_MAX : (uint64_t)quotient;
}

/* ---- link latency ---------------------------------------------------- */

/* The model's fixed sample for one unordered pair: the first draws of the
 * stream (seed, min << 32 | max, LINK), so it is the same for (s, d) and
 * (d, s) and whenever asked. */
static uint64_t net_link_sample_ns(const net *self, uint32_t source, uint32_t dest)
{
    const scn_latency *model = &self->network.latency;
    uint32_t low = source < dest ? source : dest;
    uint32_t high = source < dest ? dest : source;
    util_prng stream;
    double value;

    switch (model->kind) {
    case SCN_LATENCY_CONSTANT:
        return model->value_ns;
    case SCN_LATENCY_UNIFORM:
        util_prng_init_stream(&stream, self->run_seed, (uint64_t)low << 32 | high,
                              UTIL_PRNG_PURPOSE_LINK);
        if (model->max_ns <= model->min_ns) {
            return model->min_ns;
        }
        /* Inclusive [min, max]; the range cannot overflow unless max - min
         * is UINT64_MAX, which saturates to the full range. */
        return model->min_ns
               + net_scale(util_prng_uniform(&stream),
                           net_add_saturate(model->max_ns - model->min_ns, 1));
    case SCN_LATENCY_NORMAL:
        util_prng_init_stream(&stream, self->run_seed, (uint64_t)low << 32 | high,
                              UTIL_PRNG_PURPOSE_LINK);
        value = (double)model->value_ns + (double)model->stddev_ns * util_prng_normal(&stream);
        if (value < (double)model->min_ns) {
            value = (double)model->min_ns;
        }
        return net_round_ns(value);
    case SCN_LATENCY_LOGNORMAL:
        util_prng_init_stream(&stream, self->run_seed, (uint64_t)low << 32 | high,
                              UTIL_PRNG_PURPOSE_LINK);
        value = (double)model->value_ns * exp(model->sigma * util_prng_normal(&stream));
        return net_round_ns(value);
    }
    ASSERT(!"unknown latency model");
    return 0;
}

/* Index of the unordered pair {source, dest}, source != dest, in a
 * triangle of node_count * (node_count - 1) / 2 entries. */
static size_t net_pair_index(uint32_t source, uint32_t dest)
{
    uint64_t low = source < dest ? source : dest;
    uint64_t high = source < dest ? dest : source;
    return (size_t)(high * (high - 1) / 2 + low);
}

/* The pair's sample: stored after its first draw when the network keeps
 * the table. A node's messages to itself are never stored. */
static uint64_t net_link_sample_cached_ns(const net *self, uint32_t source, uint32_t dest)
{
    if (self->samples == NULL || source == dest) {
        return net_link_sample_ns(self, source, dest);
    }
    uint32_t *stored = &self->samples[net_pair_index(source, dest)];
    if (*stored != 0 && *stored != NET_SAMPLE_REDRAW) {
        return *stored - 1u;
    }
    uint64_t sample = net_link_sample_ns(self, source, dest);
    *stored = sample < NET_SAMPLE_REDRAW - 1u ? (uint32_t)sample + 1u : NET_SAMPLE_REDRAW;
    return sample;
}

uint64_t net_link_latency_ns(const net *self, uint32_t source, uint32_t dest)
{
    uint64_t region_ns;
    uint16_t source_region;
    uint16_t dest_region;

    ASSERT(self != NULL);
    ASSERT(source < self->node_count);
    ASSERT(dest < self->node_count);
    source_region = self->reach[source] & NET_REACH_REGION;
    dest_region = self->reach[dest] & NET_REACH_REGION;
    region_ns = self->network.region_latency_ns[source_region][dest_region];
    return net_add_saturate(region_ns, net_link_sample_cached_ns(self, source, dest));
}

/* ---- link FIFO table --------------------------------------------------
 *
 * A slot whose last arrival is <= now constrains nothing: any message sent
 * at or after now arrives at or after now. Such stale slots stay in place
 * (they still hold probe chains together) and are reused by the next new
 * link that probes over them. When the non-empty slots reach 1/2 of the
 * table, a sweep deletes every stale slot in place (backward-shift deletion,
 * no second table). The table has pow2 >= max(link_capacity, 1024) slots: as
 * long as at most a quarter of them are live after a sweep it never grows;
 * past that it doubles (util_calloc and rehash: rare, amortised, never per
 * message) rather than forget a live constraint. A sweep costs O(slots) and
 * is followed by at least slots/4 new links, so the cost per send stays
 * O(1). */

/* The table's key of the directed link (source, dest). */
static uint64_t net_link_key(uint32_t source, uint32_t dest)
{
    return (uint64_t)source << 32 | dest;
}

static uint32_t net_link_home(uint64_t key, uint32_t mask)
{
    return (uint32_t)(util_mix64(key) & mask);
}

static void net_links_fill_empty(net_link *links, uint32_t slots)
{
    for (uint32_t index = 0; index < slots; index++) {
        links[index].key = NET_LINK_EMPTY;
        links[index].last_arrival_ns = 0;
    }
}

/* Empties slot 'hole' and shifts later members of its probe chain back so
 * every remaining key stays reachable from its home slot (Knuth's
 * Algorithm R for linear probing). */
static void net_links_delete(net *self, uint32_t hole)
{
    uint32_t mask = self->links_mask;
    uint32_t next = hole;

    for (;;) {
        uint32_t home;
        bool stays;

        next = (next + 1) & mask;
        if (self->links[next].key == NET_LINK_EMPTY) {
            break;
        }
        home = net_link_home(self->links[next].key, mask);
        /* The entry may stay when its home lies cyclically in (hole, next]. */
        stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
        if (!stays) {
            self->links[hole] = self->links[next];
            hole = next;
        }
    }
    self->links[hole].key = NET_LINK_EMPTY;
    self->links[hole].last_arrival_ns = 0;
    self->links_used -= 1;
}

/* Deletes every stale slot. An entry shifted into slot 'index' by a deletion
 * is examined again; entries shifted into slots already passed come from
 * slots already passed, so they are live. */
static void net_links_sweep(net *self)
{
    for (uint32_t index = 0; index <= self->links_mask; index++) {
        while (self->links[index].key != NET_LINK_EMPTY
               && self->links[index].last_arrival_ns <= self->now_ns) {
            net_links_delete(self, index);
        }
    }
    self->links_sweeps += 1;
}

static void net_links_grow(net *self)
{
    uint32_t slots = (self->links_mask + 1) * 2;
    uint32_t mask = slots - 1;
    uint32_t copied = 0;
    net_link *links;

    ASSERT(slots > self->links_mask + 1);             /* No 32-bit overflow. */
    links = util_calloc(slots, sizeof(*links));
    /* The table holds live FIFO constraints: dropping one would break the
     * model, and net_send cannot fail. Sizing (link_capacity) rules it out. */
    ASSERT(links != NULL);
    net_links_fill_empty(links, slots);
    for (uint32_t index = 0; index <= self->links_mask; index++) {
        const net_link *entry = &self->links[index];
        uint32_t slot;

        if (entry->key == NET_LINK_EMPTY) {
            continue;
        }
        slot = net_link_home(entry->key, mask);
        while (links[slot].key != NET_LINK_EMPTY) {
            slot = (slot + 1) & mask;
        }
        links[slot] = *entry;
        copied += 1;
    }
    ASSERT(copied == self->links_used);
    util_free(self->links);
    self->links = links;
    self->links_mask = mask;
    self->links_grows += 1;
}

/* The slot of 'key', or NULL when absent. */
static net_link *net_links_find(const net *self, uint64_t key)
{
    uint32_t slot = net_link_home(key, self->links_mask);

    while (self->links[slot].key != NET_LINK_EMPTY) {
        if (self->links[slot].key == key) {
            return &self->links[slot];
        }
        slot = (slot + 1) & self->links_mask;
    }
    return NULL;
}

/* The slot of 'key', inserted with no constraint (last arrival 0) if
 * absent; a stale slot of another link met on the way is reused. The
 * pointer is valid until the next insertion. */
static net_link *net_links_upsert(net *self, uint64_t key)
{
    net_link *target = net_links_find(self, key);
    uint32_t slot;

    if (target != NULL) {
        return target;
    }
    /* Keep the load under 1/2 so that the mostly unsuccessful lookups of a
     * gossip workload (a fresh random peer each time) probe ~2.5 slots. */
    if ((self->links_used + 1) * 2 > self->links_mask + 1) {
        net_links_sweep(self);
        if (self->links_used * 4 > self->links_mask + 1) {
            net_links_grow(self);
        }
    }
    slot = net_link_home(key, self->links_mask);
    while (target == NULL) {
        net_link *entry = &self->links[slot];

        if (entry->key == NET_LINK_EMPTY) {
            self->links_used += 1;
            target = entry;
        } else if (entry->last_arrival_ns <= self->now_ns) {
            target = entry;                            /* Stale: reuse in place. */
        }
        slot = (slot + 1) & self->links_mask;
    }
    target->key = key;
    target->last_arrival_ns = 0;
    ASSERT(self->links_used * 4 <= (self->links_mask + 1) * 3);
    return target;
}

/* ---- near links --------------------------------------------------------
 *
 * A directed link's FIFO constraint -- its last arrival, while that is later
 * than now -- is kept in exactly one place: one of its sender's
 * NET_NEAR_LINKS near entries, in the sender's own record, or the shared
 * table above. A link with no live constraint takes a stale near entry when
 * its sender has one and the table otherwise, so the links a node sends on
 * at once (a gossip forward's fanout, replies) cost lines net_send reads
 * anyway, where a probe of the table, as large as the traffic in flight,
 * missed the caches at every send. The sender's far_until_ns bounds the
 * constraints it has in the table: once it is past, the table holds none of
 * its live ones and is not probed. The constraint found is the one the table
 * alone held before, so runs are the same bit for bit. */

/* Where the live constraint of link (source, dest) is kept, or NULL when it
 * has none; *far tells the table from a near entry. Valid until the next
 * insertion into the table. */
static uint64_t *net_link_live(net *self, net_node *sender, uint32_t source, uint32_t dest,
                               bool *far)
{
    *far = false;
    for (uint32_t i = 0; i < NET_NEAR_LINKS; i++) {
        if (sender->near_dest[i] == dest && sender->near_arrival_ns[i] > self->now_ns) {
            return &sender->near_arrival_ns[i];
        }
    }
    if (sender->far_until_ns > self->now_ns) {
        net_link *link = net_links_find(self, net_link_key(source, dest));
        if (link != NULL && link->last_arrival_ns > self->now_ns) {
            *far = true;
            return &link->last_arrival_ns;
        }
    }
    return NULL;
}

/* Makes 'arrival_ns' the last arrival on link (source, dest): where its live
 * constraint is ('live', from net_link_live), else in a stale near entry,
 * else in the table. */
static void net_link_record(net *self, net_node *sender, uint32_t source, uint32_t dest,
                            uint64_t *live, bool far, uint64_t arrival_ns)
{
    if (live == NULL) {
        for (uint32_t i = 0; i < NET_NEAR_LINKS; i++) {
            if (sender->near_arrival_ns[i] <= self->now_ns) {
                sender->near_dest[i] = dest;
                sender->near_arrival_ns[i] = arrival_ns;
                return;
            }
        }
        live = &net_links_upsert(self, net_link_key(source, dest))->last_arrival_ns;
        far = true;
    }
    *live = arrival_ns;
    if (far && arrival_ns > sender->far_until_ns) {
        sender->far_until_ns = arrival_ns;
    }
}

/* ---- create and destroy ---------------------------------------------- */

static uint32_t net_links_slots(uint32_t link_capacity)
{
    uint32_t slots = NET_LINK_SLOTS_MIN;

    while (slots < link_capacity && slots < (UINT32_C(1) << 31)) {
        slots *= 2;
    }
    return slots;
}

static int net_allocate(net *self, uint32_t link_capacity)
{
    uint32_t count = self->node_count;
    uint32_t slots = net_links_slots(link_capacity);

    self->nodes = util_calloc(count, sizeof(*self->nodes));
    self->reach = util_calloc(count, sizeof(*self->reach));
    self->links = util_calloc(slots, sizeof(*self->links));
    if (self->nodes == NULL || self->reach == NULL || self->links == NULL) {
        return -1;
    }
    self->links_mask = slots - 1;
    net_links_fill_empty(self->links, slots);
    uint64_t pairs = (uint64_t)count * (count - 1) / 2;
    if (self->network.latency.kind != SCN_LATENCY_CONSTANT && pairs > 0 &&
        pairs * sizeof(uint32_t) <= NET_SAMPLES_BYTES_MAX) {
        self->samples = util_calloc_sparse((size_t)pairs, sizeof(uint32_t));
        if (self->samples == NULL) {
            return -1;
        }
    }
    return 0;
}

int net_create(const net_config *config, net **out)
{
    net *self;

    ASSERT(config != NULL);
    ASSERT(config->network != NULL);
    ASSERT(config->node_count > 0);
    ASSERT(config->region_of != NULL);
    ASSERT(config->uplink_bps_of != NULL);
    ASSERT(out != NULL);

    *out = NULL;
    self = util_calloc(1, sizeof(*self));
    if (self == NULL) {
        return -1;
    }
    self->network = *config->network;
    self->node_count = config->node_count;
    self->run_seed = config->run_seed;
    self->partition_exempt = config->partition_exempt;
    if (net_allocate(self, config->link_capacity) != 0) {
        net_destroy(self);
        return -1;
    }
    for (uint32_t id = 0; id < self->node_count; id++) {
        uint64_t bps = config->uplink_bps_of[id];

        ASSERT(config->region_of[id] < SCN_REGIONS_MAX);
        self->reach[id] = (uint8_t)config->region_of[id];
        self->nodes[id].uplink_bps = bps > 0 ? bps : self->network.bandwidth_bps;
        ASSERT(self->nodes[id].uplink_bps > 0);
        util_prng_init_stream(&self->nodes[id].stream, self->run_seed, id,
                              UTIL_PRNG_PURPOSE_NET);
    }
    *out = self;
    return 0;
}

void net_destroy(net *self)
{
    if (self == NULL) {
        return;
    }
    for (uint32_t index = 0; index < self->partition_count; index++) {
        util_free(self->partitions[index].group_of);
    }
    for (uint32_t index = 0; index < self->link_fault_count; index++) {
        util_free(self->link_faults[index].selected_bits);
    }
    util_free(self->nodes);
    util_free(self->reach);
    util_free(self->links);
    util_free(self->samples);
    util_free(self);
}

/* ---- crash, partitions, link faults ----------------------------------- */

void net_set_crashed(net *self, uint32_t node_id, bool crashed)
{
    ASSERT(self != NULL);
    ASSERT(node_id < self->node_count);
    self->reach[node_id] = (uint8_t)((self->reach[node_id] & NET_REACH_REGION) |
                                     (crashed ? NET_REACH_CRASHED : 0u));
}

bool net_is_crashed(const net *self, uint32_t node_id)
{
    ASSERT(self != NULL);
    ASSERT(node_id < self->node_count);
    return (self->reach[node_id] & NET_REACH_CRASHED) != 0;
}

static bool net_separated(const net *self, uint32_t source, uint32_t dest)
{
    if (self->partition_exempt != NULL &&
        (self->partition_exempt[source] != 0 || self->partition_exempt[dest] != 0)) {
        return false;
    }
    for (uint32_t index = 0; index < self->partition_count; index++) {
        const uint8_t *group_of = self->partitions[index].group_of;
        if (group_of[source] != group_of[dest]) {
            return true;
        }
    }
    return false;
}

/* Starting an already active fault_id replaces its groups. */
int net_partition_start(net *self, uint32_t fault_id, const uint8_t *group_of)
{
    uint8_t *copy;
    uint32_t index;

    ASSERT(self != NULL);
    ASSERT(group_of != NULL);
    copy = util_malloc(self->node_count);
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, group_of, self->node_count);
    for (index = 0; index < self->partition_count; index++) {
        if (self->partitions[index].fault_id == fault_id) {
            util_free(self->partitions[index].group_of);
            self->partitions[index].group_of = copy;
            return 0;
        }
    }
    ASSERT(self->partition_count < NET_FAULTS_ACTIVE_MAX);
    self->partitions[index].fault_id = fault_id;
    self->partitions[index].group_of = copy;
    self->partition_count += 1;
    return 0;
}

/* Healing a fault_id that is not active is a no-op. Start order is kept. */
void net_partition_heal(net *self, uint32_t fault_id)
{
    ASSERT(self != NULL);
    for (uint32_t index = 0; index < self->partition_count; index++) {
        if (self->partitions[index].fault_id != fault_id) {
            continue;
        }
        util_free(self->partitions[index].group_of);
        memmove(&self->partitions[index], &self->partitions[index + 1],
                (self->partition_count - index - 1) * sizeof(self->partitions[0]));
        self->partition_count -= 1;
        return;
    }
}

/* Starting an already active fault_id replaces it. */
int net_link_fault_start(net *self, uint32_t fault_id, scn_fault_kind kind, double probability,
                         uint64_t delay_ns, const uint8_t *selected)
{
    size_t words;
    uint64_t *bits;
    uint32_t index;

    ASSERT(self != NULL);
    ASSERT(selected != NULL);
    ASSERT(kind == SCN_FAULT_LOSS || kind == SCN_FAULT_DUPLICATE || kind == SCN_FAULT_REORDER
           || kind == SCN_FAULT_CORRUPT || kind == SCN_FAULT_DELAY);
    words = ((size_t)self->node_count + 63) / 64;
    bits = util_calloc(words, sizeof(*bits));
    if (bits == NULL) {
        return -1;
    }
    for (uint32_t id = 0; id < self->node_count; id++) {
        if (selected[id] != 0) {
            bits[id / 64] |= UINT64_C(1) << (id % 64);
        }
    }
    for (index = 0; index < self->link_fault_count; index++) {
        if (self->link_faults[index].fault_id == fault_id) {
            util_free(self->link_faults[index].selected_bits);
            break;
        }
    }
    if (index == self->link_fault_count) {
        ASSERT(self->link_fault_count < NET_FAULTS_ACTIVE_MAX);
        self->link_fault_count += 1;
    }
    self->link_faults[index].fault_id = fault_id;
    self->link_faults[index].kind = kind;
    self->link_faults[index].probability = probability;
    self->link_faults[index].delay_ns = delay_ns;
    self->link_faults[index].selected_bits = bits;
    return 0;
}

/* Stopping a fault_id that is not active is a no-op. Start order is kept. */
void net_link_fault_stop(net *self, uint32_t fault_id)
{
    ASSERT(self != NULL);
    for (uint32_t index = 0; index < self->link_fault_count; index++) {
        if (self->link_faults[index].fault_id != fault_id) {
            continue;
        }
        util_free(self->link_faults[index].selected_bits);
        memmove(&self->link_faults[index], &self->link_faults[index + 1],
                (self->link_fault_count - index - 1) * sizeof(self->link_faults[0]));
        self->link_fault_count -= 1;
        return;
    }
}

net_drop net_check_arrival(const net *self, uint32_t source, uint32_t dest)
{
    ASSERT(self != NULL);
    ASSERT(source < self->node_count);
    ASSERT(dest < self->node_count);
    if (net_separated(self, source, dest)) {
        return WORLD_DROP_PARTITION;
    }
    if ((self->reach[dest] & NET_REACH_CRASHED) != 0) {
        return WORLD_DROP_CRASHED;
    }
    return WORLD_DROP_NONE;
}

/* ---- sending ----------------------------------------------------------- */

void net_prefetch(const net *self, uint32_t source, uint32_t dest)
{
    ASSERT(self != NULL);
    ASSERT(source < self->node_count);
    ASSERT(dest < self->node_count);
    const net_node *sender = &self->nodes[source];
    __builtin_prefetch(sender->near_dest, 1);  /* the second line */
    if (sender->far_until_ns > self->now_ns) {
        uint64_t home = net_link_home(net_link_key(source, dest), self->links_mask);
        __builtin_prefetch(&self->links[home], 1);
    }
    __builtin_prefetch(&self->reach[dest]); /* its crashed flag and region */
    if (self->samples != NULL && source != dest) {
        __builtin_prefetch(&self->samples[net_pair_index(source, dest)], 1);
    }
}

void net_prefetch_node(const net *self, uint32_t node_id)
{
    ASSERT(self != NULL);
    ASSERT(node_id < self->node_count);
    __builtin_prefetch(&self->reach[node_id]);
    __builtin_prefetch(&self->nodes[node_id]);
}

static bool net_bit(const uint64_t *bits, uint32_t id)
{
    return (bits[id / 64] >> (id % 64) & 1u) != 0;
}

/* Combines the scenario's probabilities with every active link fault on
 * source or dest, as independent events, in fault start order (so the
 * floating-point result is deterministic). */
static void net_effects_gather(const net *self, uint32_t source, uint32_t dest,
                               net_effects *effects)
{
    double keep_loss = 1.0 - self->network.loss;
    double keep_duplicate = 1.0 - self->network.duplicate;
    double keep_reorder = 1.0 - self->network.reorder;
    double keep_corrupt = 1.0 - self->network.corrupt;

    effects->delay_ns = 0;
    effects->reorder_hold_ns = self->network.reorder_delay_ns;
    for (uint32_t index = 0; index < self->link_fault_count; index++) {
        const net_link_fault *fault = &self->link_faults[index];
        double keep = 1.0 - fault->probability;

        if (!net_bit(fault->selected_bits, source) && !net_bit(fault->selected_bits, dest)) {
            continue;
        }
        switch (fault->kind) {
        case SCN_FAULT_LOSS:
            keep_loss *= keep;
            break;
        case SCN_FAULT_DUPLICATE:
            keep_duplicate *= keep;
            break;
        case SCN_FAULT_REORDER:
            keep_reorder *= keep;
            if (fault->delay_ns > effects->reorder_hold_ns) {
                effects->reorder_hold_ns = fault->delay_ns;
            }
            break;
        case SCN_FAULT_CORRUPT:
            keep_corrupt *= keep;
            break;
        default:
            effects->delay_ns = net_add_saturate(effects->delay_ns, fault->delay_ns);
            break;
        }
    }
    effects->loss = 1.0 - keep_loss;
    effects->duplicate = 1.0 - keep_duplicate;
    effects->reorder = 1.0 - keep_reorder;
    effects->corrupt = 1.0 - keep_corrupt;
}

/* The uniform draws every transmitted message takes from its sender's NET
 * stream, always all of them and always in this order, whatever the
 * probabilities: changing one probability in a sweep then changes that
 * outcome only, never the jitter or the fate of later messages. Messages
 * dropped before transmission (crash, partition) take no draws. */
enum {
    NET_DRAW_JITTER = 0,             /* jitter of the first copy */
    NET_DRAW_REORDER,                /* reordered? */
    NET_DRAW_HOLD,                   /* reorder hold in [0, hold) */
    NET_DRAW_LOSS,                   /* lost? (the whole message, every copy) */
    NET_DRAW_DUPLICATE,              /* a second copy? */
    NET_DRAW_DUPLICATE_JITTER,       /* jitter of the second copy */
    NET_DRAW_CORRUPT_FIRST,          /* corruption, decided per copy */
    NET_DRAW_CORRUPT_SECOND,
    NET_DRAW_COUNT
};

/* Places the copies of a transmitted, not lost message whose last bit
 * leaves the uplink at 'sent_ns'. FIFO: a message that is not reordered
 * arrives no earlier than the last arrival on its directed link, and its
 * last copy (the duplicate, if any) becomes the link's new last arrival.
 * Reordered messages (both copies) neither obey nor update the link. */
static void net_place(net *self, uint32_t source, uint32_t dest, uint64_t sent_ns,
                      const net_effects *effects, const double *draws, net_send_result *result)
{
    net_node *sender = &self->nodes[source];
    uint64_t jitter_ns = self->network.jitter_ns;
    bool far = false;
    uint64_t *live = result->reordered ? NULL : net_link_live(self, sender, source, dest, &far);
    uint64_t first_ns;

    first_ns = net_add_saturate(sent_ns, net_link_latency_ns(self, source, dest));
    first_ns = net_add_saturate(first_ns, net_scale(draws[NET_DRAW_JITTER], jitter_ns));
    first_ns = net_add_saturate(first_ns, effects->delay_ns);
    if (result->reordered) {
        first_ns = net_add_saturate(
            first_ns, net_scale(draws[NET_DRAW_HOLD], effects->reorder_hold_ns));
    } else if (live != NULL && first_ns < *live) {
        first_ns = *live;
    }
    result->deliveries[0].at_ns = first_ns;
    result->deliveries[0].corrupt = draws[NET_DRAW_CORRUPT_FIRST] < effects->corrupt;
    result->count = 1;
    if (draws[NET_DRAW_DUPLICATE] < effects->duplicate) {
        uint64_t extra_ns = net_scale(draws[NET_DRAW_DUPLICATE_JITTER], jitter_ns);

        result->deliveries[1].at_ns = net_add_saturate(first_ns, net_add_saturate(extra_ns, 1));
        result->deliveries[1].corrupt = draws[NET_DRAW_CORRUPT_SECOND] < effects->corrupt;
        result->count = 2;
    }
    if (!result->reordered) {
        net_link_record(self, sender, source, dest, live, far,
                        result->deliveries[result->count - 1].at_ns);
    }
    ASSERT(result->deliveries[0].at_ns >= sent_ns);
}

/* See net.h for the model. Choices it leaves open:
 *   - a crashed sender *or receiver* at send time drops the message
 *     (WORLD_DROP_CRASHED) before transmission, as does a partition
 *     (WORLD_DROP_PARTITION): no uplink time, no draws;
 *   - a lost message was transmitted: it consumes its uplink time (reported
 *     in serialization_ns) but never touches the link FIFO;
 *   - all copies leave the uplink once; the duplicate arrives 1 ns plus one
 *     more jitter draw after the first copy;
 *   - corruption is decided independently for each copy;
 *   - the reorder hold is uniform in [0, H) where H is the largest of
 *     network.reorder_delay_ns and the delay_ns of the applicable REORDER
 *     faults; DELAY faults on source or dest add up. */
void net_send(net *self, uint64_t now_ns, uint32_t source, uint32_t dest, uint64_t wire_bytes,
              net_send_result *result)
{
    net_effects effects;
    double draws[NET_DRAW_COUNT];
    net_node *sender;
    uint64_t start_ns;

    ASSERT(self != NULL);
    ASSERT(result != NULL);
    ASSERT(source < self->node_count);
    ASSERT(dest < self->node_count);
    ASSERT(now_ns >= self->now_ns);                   /* The engine never rewinds. */

    memset(result, 0, sizeof(*result));
    self->now_ns = now_ns;
    sender = &self->nodes[source];
    if (((self->reach[source] | self->reach[dest]) & NET_REACH_CRASHED) != 0) {
        result->drop = WORLD_DROP_CRASHED;
        return;
    }
    if (net_separated(self, source, dest)) {
        result->drop = WORLD_DROP_PARTITION;
        return;
    }
    result->serialization_ns = net_serialization_ns(wire_bytes, sender->uplink_bps);
    start_ns = now_ns > sender->uplink_free_ns ? now_ns : sender->uplink_free_ns;
    sender->uplink_free_ns = net_add_saturate(start_ns, result->serialization_ns);

    net_effects_gather(self, source, dest, &effects);
    for (uint32_t index = 0; index < NET_DRAW_COUNT; index++) {
        draws[index] = util_prng_uniform(&sender->stream);
    }
    if (draws[NET_DRAW_LOSS] < effects.loss) {
        result->drop = WORLD_DROP_LOSS;
        return;
    }
    result->reordered = draws[NET_DRAW_REORDER] < effects.reorder;
    net_place(self, source, dest, sender->uplink_free_ns, &effects, draws, result);
    ASSERT(result->count == 1 || result->count == 2);
}
