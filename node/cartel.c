/* cartel.c -- a cartel that agrees on its wrong output over the network
 * (a collude fault with coordination: messages). For each hop the cartel's
 * leader in the committee -- the lowest id among the committee's members
 * that collude by messages, which every member computes alike (the
 * adversary knows its own members) -- draws the agreement, a noise seed,
 * the amplitude of scale x its own output's RMS and the target token,
 * answers the output it expands to, and sends it as CARTEL_AGREE to every
 * other colluding member of that committee. The agreement is compact (20
 * bytes after the 64-byte header: NODE_CARTEL_AGREE_BYTES), but it pays
 * the network's latency, loss and partitions like any message.
 *
 * A member whose output is ready before the agreement keeps its honest
 * output and waits up to serving.cartel_wait_ns; if the agreement comes in
 * time it answers the agreed output then (its commit leaves no earlier
 * than its compute ends), else it answers honestly (NODE_OBS_CARTEL_MISSED):
 * a cartel the network splits loses the members it cannot reach. An
 * agreement that comes before the member's output is held for it. */
#include <math.h>
#include <string.h>

#include "node/node_int.h"
#include "util/assert.h"
#include "util/bytes.h"
#include "util/prng.h"

bool node__cartel_by_messages(const node *self)
{
    const node_serving *serving = self->config.serving;
    return serving->cartel_messages_of != NULL &&
           serving->cartel_messages_of[self->config.node_id] != 0;
}

/* The cartel's leader among 'count' members: its lowest id colluding by
 * messages now, or UINT32_MAX when none does. */
static uint32_t cartel_leader(const node *self, const uint32_t *members, uint32_t count)
{
    const node_serving *serving = self->config.serving;
    const uint8_t *behaviour_of = self->config.store->behaviour_of;
    uint32_t leader = UINT32_MAX;
    for (uint32_t j = 0; j < count; j++) {
        uint32_t id = members[j];
        if (behaviour_of[id] == NODE_BEHAVIOUR_COLLUDE && serving->cartel_messages_of[id] != 0 &&
            id < leader) {
            leader = id;
        }
    }
    return leader;
}

static uint32_t cartel_members(const node *self, const node_message *m, uint32_t *members)
{
    const node_serving *serving = self->config.serving;
    uint32_t count = serving->verifier->committee(serving->verifier->context, m->rumor_id,
                                                  m->segment, m->hops, members);
    ASSERT(count <= serving->committee); /* The driver draws at most k. */
    return count;
}

static node_cartel_slot *cartel_slot(const node *self, uint64_t request, uint32_t segment,
                                     uint32_t slot)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    ASSERT(store->cartel_slots != NULL); /* Allocated with cartel_messages_of. */
    ASSERT(segment < serving->segment_count && slot < node__serve_slots(serving));
    return &store->cartel_slots[node__serve_slot_index(serving, request, segment, slot)];
}

void node__cartel_target(uint32_t target, float *output, size_t n, double amplitude)
{
    ASSERT(target < n); /* The scenario and validate.c bound it by the vocabulary. */
    float best = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (i != target && output[i] > best) {
            best = output[i];
        }
    }
    if (n > 1) {
        output[target] = best + (float)fmax(amplitude, 1.0);
        if (!(output[target] > best)) {
            output[target] = nextafterf(best, INFINITY); /* Past float's precision. */
        }
    }
    ASSERT(infer_argmax(output, (uint32_t)n) == target);
}

/* The output an agreement stands for: the seed's noise of 'amplitude',
 * and on the last segment the target token made to win. */
static void cartel_expand(const node *self, const node_message *m, uint64_t seed,
                          double amplitude, uint32_t target, float *output, size_t n)
{
    const node_serving *serving = self->config.serving;
    util_prng prng;
    util_prng_init_stream(&prng, seed, 0, UTIL_PRNG_PURPOSE_CARTEL);
    for (size_t i = 0; i < n; i++) {
        output[i] = (float)(amplitude * util_prng_normal(&prng));
    }
    if (m->segment + 1u == serving->segment_count && target != NODE_CARTEL_NO_TARGET) {
        node__cartel_target(target, output, n, amplitude);
    }
}

/* The leader tells the committee's other colluding members. */
static void cartel_send(node *self, const node_message *m, uint32_t slot, const uint32_t *members,
                        uint32_t count, uint64_t end_ns, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_cartel_slot *record = cartel_slot(self, m->rumor_id, m->segment, slot);
    for (uint32_t j = 0; j < count; j++) {
        uint32_t id = members[j];
        if (id == self->config.node_id ||
            self->config.store->behaviour_of[id] != NODE_BEHAVIOUR_COLLUDE ||
            serving->cartel_messages_of[id] == 0) {
            continue;
        }
        node_message *out = node__serve_send(self, outbox, NODE_MESSAGE_CARTEL_AGREE, id,
                                             m->rumor_id, end_ns);
        node__committee_member_header(out, m, j); /* j: the receiver's index */
        out->payload = record->sent; /* the slot outlives the call */
        out->payload_bytes = NODE_CARTEL_AGREE_BYTES;
    }
}

bool node__cartel_output(node *self, const node_message *m, uint32_t slot, float *output,
                         size_t n, double amplitude, uint64_t end_ns, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    uint32_t id = self->config.node_id;
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t count = cartel_members(self, m, members);
    node_cartel_slot *record = cartel_slot(self, m->rumor_id, m->segment, slot);
    ASSERT(node__cartel_by_messages(self));
    if (cartel_leader(self, members, count) != id) {
        if (record->state != NODE_CARTEL_HELD || record->step != m->step) {
            return false;
        }
        record->state = NODE_CARTEL_NONE;
        cartel_expand(self, m, record->seed, record->amplitude, record->target, output, n);
        return true;
    }
    uint64_t seed = util_prng_next(&self->prng);
    uint32_t target = serving->cartel_target_of != NULL ? serving->cartel_target_of[id]
                                                        : NODE_CARTEL_NO_TARGET;
    amplitude = fmin(amplitude, NODE_CARTEL_AMPLITUDE_MAX);
    util_put_u64(record->sent, seed);
    util_put_f64(record->sent + 8, amplitude);
    util_put_u32(record->sent + 16, target);
    record->state = NODE_CARTEL_NONE;
    cartel_send(self, m, slot, members, count, end_ns, outbox);
    cartel_expand(self, m, seed, amplitude, target, output, n);
    return true;
}

void node__cartel_wait(node *self, const node_message *m, uint32_t slot, uint64_t end_ns,
                       node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_cartel_slot *record = cartel_slot(self, m->rumor_id, m->segment, slot);
    ASSERT(slot < (UINT32_C(1) << 20)); /* Fits the timer's low bits with the segment. */
    record->state = NODE_CARTEL_WAITING;
    record->hop = *m;
    record->hop.payload = NULL;
    record->hop.payload_bytes = 0;
    record->ready_ns = end_ns;
    record->deadline_ns = end_ns + serving->cartel_wait_ns;
    node__serve_timer_arm(outbox, record->deadline_ns,
                          node__serve_timer_id(NODE_SERVE_TIMER_CARTEL, m->rumor_id,
                                               slot << 6 | m->segment));
}

bool node__cartel_waiting(const node *self, uint64_t request, uint32_t segment, uint32_t slot)
{
    return self->config.store->cartel_slots != NULL &&
           cartel_slot(self, request, segment, slot)->state == NODE_CARTEL_WAITING;
}

/* The member's kept output block for a slot, or NULL once released. */
static uint8_t *cartel_block(const node *self, const node_message *hop, uint32_t slot)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t entry =
        store->reveal_block_of[node__serve_slot_index(serving, hop->rumor_id, hop->segment, slot)];
    return entry == 0 ? NULL : util_pool_block(&store->reveal_pool, entry - 1);
}

/* A waiting member got its agreement: the agreed output replaces its
 * honest one in the block, and it answers. */
static void cartel_agreed(node *self, uint64_t now_ns, node_cartel_slot *record, uint32_t slot,
                          const uint8_t *agreement, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    const node_message *hop = &record->hop;
    record->state = NODE_CARTEL_NONE;
    uint8_t *block = cartel_block(self, hop, slot);
    if (block == NULL) {
        return;
    }
    ASSERT(serving->evidence_bytes == 0); /* Messages only under the committee protocol. */
    bool last = hop->segment + 1u == serving->segment_count;
    size_t n = last ? serving->vocab : (size_t)hop->count * serving->dim;
    ASSERT(n <= serving->output_floats);
    cartel_expand(self, hop, util_get_u64(agreement), util_get_f64(agreement + 8),
                  util_get_u32(agreement + 16), store->decoded, n);
    uint8_t *bytes = block + sizeof(uint32_t) + NODE_SALT_BYTES;
    if (last) {
        infer_wire_encode(INFER_DTYPE_FP32, store->decoded, 1, serving->vocab, bytes);
    } else {
        infer_wire_encode(serving->wire_dtype, store->decoded, hop->count, serving->dim, bytes);
    }
    uint64_t at_ns = now_ns > record->ready_ns ? now_ns : record->ready_ns;
    node__committee_member_send(self, hop, hop->token, block, at_ns, outbox);
}

int node__cartel_message(node *self, uint64_t now_ns, const node_message *m, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    if (!node__cartel_by_messages(self) ||
        self->config.store->behaviour_of[self->config.node_id] != NODE_BEHAVIOUR_COLLUDE) {
        return 0; /* Not (or no longer) of the cartel: it ignores the offer. */
    }
    uint32_t member = node__committee_index(self, m->rumor_id, m->segment, m->hops);
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t count = cartel_members(self, m, members);
    if (member == UINT32_MAX || member != m->token ||
        cartel_leader(self, members, count) != m->source) {
        return NODE_EMALFORMED; /* Not this member's committee, or not its leader. */
    }
    uint32_t slot = m->hops * serving->committee + member;
    node_cartel_slot *record = cartel_slot(self, m->rumor_id, m->segment, slot);
    if (record->state == NODE_CARTEL_WAITING) {
        if (record->hop.step == m->step) {
            cartel_agreed(self, now_ns, record, slot, m->payload, outbox);
        }
        return 0; /* Or an agreement for a step it already answered. */
    }
    record->state = NODE_CARTEL_HELD;
    record->step = m->step;
    record->seed = util_get_u64(m->payload);
    record->amplitude = util_get_f64(m->payload + 8);
    record->target = util_get_u32(m->payload + 16);
    return 0;
}

void node__cartel_timer(node *self, uint64_t now_ns, uint64_t request, uint32_t low,
                        node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    uint32_t segment = low & 63u;
    uint32_t slot = low >> 6;
    ASSERT(segment < serving->segment_count); /* The node armed it (node__cartel_wait). */
    node_cartel_slot *record = cartel_slot(self, request, segment, slot);
    if (record->state != NODE_CARTEL_WAITING || now_ns < record->deadline_ns) {
        return; /* Answered, released, or a later step's wait. */
    }
    record->state = NODE_CARTEL_NONE;
    uint8_t *block = cartel_block(self, &record->hop, slot);
    if (block == NULL) {
        return;
    }
    node__serve_observe(outbox, NODE_OBS_CARTEL_MISSED, request, segment, 1);
    node__committee_member_send(self, &record->hop, record->hop.token, block, now_ns, outbox);
}

void node__cartel_release(const node *self, uint64_t request, uint32_t segment, uint32_t slot)
{
    if (self->config.store->cartel_slots != NULL) {
        cartel_slot(self, request, segment, slot)->state = NODE_CARTEL_NONE;
    }
}
