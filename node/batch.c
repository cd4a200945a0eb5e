/* batch.c -- continuous batching of a server's decode steps, as serving
 * engines (vLLM, TGI, Petals) run them. Without it (max_batch 1) serve.c
 * charges every call alone on the server's FIFO (busy_until). With it,
 * every step is still computed for real and alone when its message
 * arrives -- the arithmetic, and so the tokens, do not change -- but its
 * result waits in the server's queue: when the server frees (the batch
 * timer), it takes up to max_batch waiting steps in arrival order and runs
 * them as one call, charged by the roofline with the weights read once:
 *
 *   time = overhead + max(sum of FLOPs / rate,
 *                         (weights of each segment in the batch, once
 *                          + each step's KV cache and activations) / memory bandwidth)
 *
 * and every result is sent when that call ends. A prefill (position 0:
 * the prompt, or a failover's replay) runs alone, as a batch of one: it is
 * compute-bound, and batching it would hold up the decode steps behind it.
 * It keeps its place in the queue: a batch takes the decode steps from the
 * head up to the first prefill.
 *
 * A waiting step is a block of store->batch_pool: the step's record and
 * the payload of its result. The per-node queue is a list through the
 * blocks; the batch timer's low bits carry a sequence so a timer armed
 * before a crash is recognised as stale. */
#include <string.h>

#include "node/node_int.h"
#include "util/alloc.h"
#include "util/assert.h"

/* The timer word: bit 31 armed, the low bits the sequence. */
#define BATCH_ARMED (UINT32_C(1) << 31)
#define BATCH_SEQUENCE_MASK ((UINT32_C(1) << 26) - 1)

/* 2 effects per step (COMPUTE, SEND) and the next timer fit one call. */
_Static_assert(2 * NODE_BATCH_MAX + 1 <= NODE_OUTBOX_MAX, "a batch's effects fit the outbox");

typedef struct batch_step {
    uint32_t next;                   /* block + 1 of the next waiting step, 0 = none */
    uint32_t segment;
    bool prefill;                    /* position 0: runs alone */
    uint64_t flops;
    uint64_t bytes;                  /* what the step moves besides the weights */
    uint32_t forward_ticket;         /* > 0: a handed-over call computes the payload */
    node_message message;            /* the result; its payload follows the record */
} batch_step;

static uint8_t *batch_payload(batch_step *step)
{
    return (uint8_t *)(step + 1);
}

int node_store_batch_init(node_store *store, const node_serving *serving, uint32_t node_count)
{
    ASSERT(store != NULL && serving != NULL);
    if (serving->max_batch_of == NULL) {
        return 0;
    }
    store->batch_head_of = util_calloc(node_count, sizeof(uint32_t));
    store->batch_tail_of = util_calloc(node_count, sizeof(uint32_t));
    store->batch_timer_of = util_calloc(node_count, sizeof(uint32_t));
    if (store->batch_head_of == NULL || store->batch_tail_of == NULL ||
        store->batch_timer_of == NULL) {
        return NODE_ENOMEM; /* node_store_release frees what was taken */
    }
    util_pool_init(&store->batch_pool, sizeof(batch_step) + serving->payload_capacity);
    return 0;
}

bool node__batch_on(const node *self)
{
    const node_serving *serving = self->config.serving;
    return serving->max_batch_of != NULL && serving->max_batch_of[self->config.node_id] > 1;
}

static void batch_timer_arm(node *self, uint64_t at_ns, node_outbox *outbox)
{
    uint32_t *timer = &self->config.store->batch_timer_of[self->config.node_id];
    ASSERT((*timer & BATCH_ARMED) == 0);
    uint32_t sequence = (*timer + 1) & BATCH_SEQUENCE_MASK;
    *timer = BATCH_ARMED | sequence;
    node__serve_timer_arm(outbox, at_ns,
                          node__serve_timer_id(NODE_SERVE_TIMER_BATCH, 0, sequence));
}

bool node__batch_defer(node *self, const node_message *m, uint64_t flops, uint64_t now_ns,
                       node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t id = self->config.node_id;
    ASSERT(node__batch_on(self) && serving->verifier == NULL);
    ASSERT(outbox->count > 0 && outbox->effects[outbox->count - 1].kind == NODE_EFFECT_SEND);
    const node_message *result = &outbox->effects[outbox->count - 1].message;
    uint32_t ticket = outbox->effects[outbox->count - 1].forward_ticket;
    ASSERT(result->payload_bytes <= serving->payload_capacity);
    uint32_t block = 0;
    if (util_pool_take(&store->batch_pool, &block) != 0) {
        return false;
    }
    batch_step *step = util_pool_block(&store->batch_pool, block);
    const infer_shape *shape = infer_model_shape(serving->model);
    uint32_t layers = serving->segment_layers[m->segment];
    bool last = m->segment + 1u == serving->segment_count;
    step->next = 0;
    step->segment = m->segment;
    step->prefill = m->position == 0;
    step->flops = flops;
    step->bytes = infer_forward_bytes(shape, layers, m->position, m->count, last) -
                  infer_forward_weight_bytes(shape, layers, last);
    step->message = *result;
    step->forward_ticket = ticket;
    if (result->payload_bytes > 0 && ticket == 0) {
        memcpy(batch_payload(step), result->payload, result->payload_bytes);
    }
    outbox->count -= 1; /* The result leaves when its batch ends. */
    if (store->batch_tail_of[id] != 0) {
        batch_step *tail = util_pool_block(&store->batch_pool, store->batch_tail_of[id] - 1);
        tail->next = block + 1;
    } else {
        store->batch_head_of[id] = block + 1;
    }
    store->batch_tail_of[id] = block + 1;
    if ((store->batch_timer_of[id] & BATCH_ARMED) == 0) {
        uint64_t busy = store->busy_until_ns[id];
        batch_timer_arm(self, busy > now_ns ? busy : now_ns, outbox);
    }
    return true;
}

/* The steps the next batch takes from the head: up to max_batch decode
 * steps, stopping at a prefill; a prefill at the head alone. */
static uint32_t batch_take_count(const node *self)
{
    const node_store *store = self->config.store;
    uint32_t id = self->config.node_id;
    uint32_t max_batch = self->config.serving->max_batch_of[id];
    uint32_t count = 0;
    for (uint32_t b = store->batch_head_of[id]; b != 0 && count < max_batch;) {
        const batch_step *step = util_pool_block(&store->batch_pool, b - 1);
        if (step->prefill) {
            return count == 0 ? 1 : count;
        }
        count += 1;
        b = step->next;
    }
    return count;
}

/* The batch's time on this server, in ns: the roofline with the FLOPs
 * summed, the weights of each segment read once and each step's own bytes,
 * plus one overhead. *memory_bound_out: the memory side set it. */
static uint64_t batch_time_ns(const node *self, uint32_t count, bool *memory_bound_out)
{
    const node_serving *serving = self->config.serving;
    const node_store *store = self->config.store;
    uint32_t id = self->config.node_id;
    const infer_shape *shape = infer_model_shape(serving->model);
    uint64_t flops = 0;
    uint64_t bytes = 0;
    uint64_t segments_read = 0;
    _Static_assert(NODE_SEGMENTS_MAX <= 64, "a segment mask fits 64 bits");
    uint32_t b = store->batch_head_of[id];
    for (uint32_t i = 0; i < count; i++) {
        ASSERT(b != 0);
        const batch_step *step = util_pool_block(&store->batch_pool, b - 1);
        flops += step->flops;
        bytes += step->bytes;
        if ((segments_read & (UINT64_C(1) << step->segment)) == 0) {
            segments_read |= UINT64_C(1) << step->segment;
            bytes += infer_forward_weight_bytes(shape, serving->segment_layers[step->segment],
                                                step->segment + 1u == serving->segment_count);
        }
        b = step->next;
    }
    return serving->overhead_ns_of[id] + node__roofline_ns(self, flops, bytes, memory_bound_out);
}

/* Reports the step's share of the batch and sends its result at end_ns.
 * The block goes back to the pool; its payload stays readable until the
 * pool's next take, which no later effect of this call makes (the driver
 * copies the payload when it drains the outbox). */
static void batch_step_finish(node *self, uint32_t block, uint32_t index, uint32_t count,
                              uint64_t start_ns, uint64_t end_ns, bool memory_bound,
                              node_outbox *outbox)
{
    node_store *store = self->config.store;
    batch_step *step = util_pool_block(&store->batch_pool, block);
    node_effect *compute = node__serve_observe_compute(outbox, step->message.rumor_id,
                                                       step->segment, step->flops, start_ns,
                                                       end_ns);
    compute->memory_bound = memory_bound;
    compute->batch_size = count;
    compute->batch_first = index == 0;
    node_effect *send = node__effect_append(outbox, NODE_EFFECT_SEND);
    send->send_at_ns = end_ns;
    send->message = step->message;
    send->message.payload =
        step->message.payload_bytes > 0 && step->forward_ticket == 0 ? batch_payload(step) : NULL;
    send->forward_ticket = step->forward_ticket;
    util_pool_give(&store->batch_pool, block);
}

void node__batch_timer(node *self, uint64_t now_ns, uint32_t low, node_outbox *outbox)
{
    node_store *store = self->config.store;
    uint32_t id = self->config.node_id;
    if (!node__batch_on(self) || store->batch_timer_of[id] != (BATCH_ARMED | low)) {
        return; /* stale: armed before a crash */
    }
    store->batch_timer_of[id] &= ~BATCH_ARMED;
    if (store->batch_head_of[id] == 0) {
        return;
    }
    uint64_t start_ns = store->busy_until_ns[id] > now_ns ? store->busy_until_ns[id] : now_ns;
    uint32_t count = batch_take_count(self);
    ASSERT(count >= 1 && count <= self->config.serving->max_batch_of[id]);
    ASSERT(count <= NODE_BATCH_MAX);
    ASSERT(outbox->count + 2 * count + 1 <= NODE_OUTBOX_MAX);
    bool memory_bound = false;
    uint64_t end_ns = start_ns + batch_time_ns(self, count, &memory_bound);
    ASSERT(end_ns >= start_ns);
    store->busy_until_ns[id] = end_ns;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t block = store->batch_head_of[id] - 1;
        const batch_step *step = util_pool_block(&store->batch_pool, block);
        store->batch_head_of[id] = step->next;
        batch_step_finish(self, block, i, count, start_ns, end_ns, memory_bound, outbox);
    }
    if (store->batch_head_of[id] == 0) {
        store->batch_tail_of[id] = 0;
    } else {
        batch_timer_arm(self, end_ns, outbox);
    }
}

void node__batch_recover(node *self)
{
    node_store *store = self->config.store;
    uint32_t id = self->config.node_id;
    if (!node__batch_on(self)) {
        return;
    }
    const node_forward_hook *hook = self->config.serving->forward;
    for (uint32_t b = store->batch_head_of[id]; b != 0;) {
        const batch_step *step = util_pool_block(&store->batch_pool, b - 1);
        uint32_t next = step->next;
        if (step->forward_ticket != 0) {
            hook->drop(hook->context, step->forward_ticket);
        }
        util_pool_give(&store->batch_pool, b - 1);
        b = next;
    }
    store->batch_head_of[id] = 0;
    store->batch_tail_of[id] = 0;
    store->batch_timer_of[id] &= ~BATCH_ARMED;
}
