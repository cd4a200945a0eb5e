/* world_referee.c -- the referee of disputes (sampling, crossval,
 * optimistic), the one service only a simulated world can offer: it really
 * re-executes the disputed hop (world__serve_replay: the segment over every
 * position so far, from the inputs the client accepted, on the member's
 * hardware class, through the wire dtype as the servers pass them). It
 * keeps the inputs each request's client accepted, for the protocols whose
 * table asks for a referee, and counts in referee_flops what a protocol's
 * referee would spend (one layer under bisection, the segment otherwise). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "consensus/cons.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "world/world_int.h"

/* The referee's FLOPs: the disputed layer (optimistic) or segment, on the
 * hop's rows, from the layer's weights (a multiply-add is 2). */
static uint64_t referee_flops(const world_state *world, bool last, uint32_t segment,
                                     size_t n_floats)
{
    const infer_shape *shape = infer_model_shape(world->model);
    uint64_t rows = last ? 1 : n_floats / world->serving.dim;
    uint64_t per_layer = 2 * (infer_layer_weight_bytes(shape) / sizeof(float)) * rows;
    bool bisect = world->serving.protocol->referee_bisects;
    uint64_t layers = bisect ? 1 : world->serving.segment_layers[segment];
    uint64_t classifier = last && !bisect ? 2ull * shape->dim * shape->vocab_size : 0;
    return per_layer * layers + classifier;
}

/* Positions of inputs kept per segment boundary: the model's context. */
static size_t referee_inputs_floats(const world_state *world)
{
    return (size_t)world->scenario->model.seq_len * world->serving.dim;
}

void world__referee_accepted(void *context, uint64_t request, uint32_t segment, uint32_t round,
                             uint32_t member, const float *output, size_t n_floats)
{
    world_state *world = context;
    world__oracle_accepted(world, request, segment, round, member);
    if (world->inputs_block_of == NULL) {
        return; /* No referee under this protocol. */
    }
    uint32_t *entry = &world->inputs_block_of[request];
    if (*entry == 0) {
        uint32_t block = 0;
        int rc = util_pool_take(&world->inputs_pool, &block);
        ASSERT(rc == 0); /* Host out of memory mid-run. */
        *entry = block + 1;
    }
    const node_request *r = &world->requests[request];
    size_t position = r->generated == 0 ? 0 : (size_t)r->prompt_tokens + r->generated - 1;
    float *inputs = (float *)util_pool_block(&world->inputs_pool, *entry - 1) +
                    (size_t)segment * referee_inputs_floats(world);
    ASSERT(position * world->serving.dim + n_floats <= referee_inputs_floats(world));
    memcpy(inputs + position * world->serving.dim, output, n_floats * sizeof(float));
}

const float *world__referee_inputs(const world_state *world, uint64_t request, uint32_t segment)
{
    ASSERT(segment >= 1);
    if (world->inputs_block_of == NULL || world->inputs_block_of[request] == 0) {
        return NULL;
    }
    const float *inputs = util_pool_block(&world->inputs_pool, world->inputs_block_of[request] - 1);
    return inputs + (size_t)(segment - 1) * referee_inputs_floats(world);
}

void world__referee_request_done(world_state *world, uint64_t request)
{
    if (world->inputs_block_of != NULL && world->inputs_block_of[request] != 0) {
        util_pool_give(&world->inputs_pool, world->inputs_block_of[request] - 1);
        world->inputs_block_of[request] = 0;
    }
}

uint64_t world__referee(void *context, bool last_segment, uint64_t request,
                               uint32_t segment, const float *const *outputs,
                               const uint32_t *members, size_t n_floats, uint32_t count)
{
    world_state *world = context;
    const cons_agreement *rule = last_segment ? &world->final_agreement : &world->agreement;
    world->result->referee_flops += referee_flops(world, last_segment, segment, n_floats);
    uint64_t correct = 0;
    uint64_t judged = 0;
    for (uint32_t i = 0; i < count; i++) {
        if ((judged >> i) & 1u) {
            continue;
        }
        /* One re-execution per hardware class among the answers. */
        uint8_t kernel = world->serving.kernel_of[members[i]];
        size_t n = 0;
        const float *truth = world__serve_replay(world, request, segment, (infer_kernel)kernel, &n);
        ASSERT(n == n_floats); /* The same hop: the same shape. */
        for (uint32_t j = i; j < count; j++) {
            if (world->serving.kernel_of[members[j]] == kernel) {
                judged |= UINT64_C(1) << j;
                correct |= (uint64_t)cons_agree(rule, outputs[j], truth, n) << j;
            }
        }
    }
    return correct;
}

/* The inputs each request accepted, for the referee (only the protocols
 * that have one, and ledger evidence): (segments - 1) x seq_len x dim
 * floats per request. */
int world__referee_build(world_state *world)
{
    uint32_t segments = world->scenario->model.segment_count;
    /* Ledger evidence: the referee rules on a penalised member's output. */
    bool referee = world->serving.protocol->referee || world->serving.ledger_evidence;
    if (!referee || segments < 2) {
        return 0;
    }
    world->inputs_block_of = util_calloc_sparse(world->result->request_count, sizeof(uint32_t));
    if (world->inputs_block_of == NULL) {
        return WORLD_ENOMEM;
    }
    util_pool_init(&world->inputs_pool,
                   (size_t)(segments - 1) * referee_inputs_floats(world) * sizeof(float));
    return 0;
}
