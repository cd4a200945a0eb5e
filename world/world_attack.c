/* world_attack.c -- an honest-but-curious server reconstructs the prompt
 * and the generated tokens from the hidden states it receives. A curious
 * server of segment s >= 1 knows the public weights of layers [0, first
 * layer of s). Position by position it tries every vocabulary token after
 * the prefix it has recovered: it embeds the candidate, runs those layers
 * with its own kernel variant over the cached prefix (the KV cache makes a
 * candidate cost one position), and keeps the token whose hidden state is
 * nearest (L2) the row it received; the chosen token then goes into the
 * cache. It attacks the prefill's rows -- noised, when its boundary is --
 * of a deterministic sample of requests, once per (request, node); then
 * each generation step's single row, in step order, extending its own
 * recovered prefix by one token per step (the prefix is re-run from its
 * recovered tokens each step, so no cache is kept between arrivals). The
 * attack runs outside the event timeline, like the oracle: it costs no
 * simulated time, draws no stream and changes no trace. A node in a TEE
 * cannot run it, unless a side_channel fault leaks the rows out of its
 * enclave. */
#include <math.h>
#include <string.h>

#include "util/alloc.h"
#include "util/assert.h"
#include "world/world_int.h"

/* Whether 'request' is in the attacked sample: a hash of (seed, request). */
static bool attack_sampled(const world_state *world, uint64_t request)
{
    const scn_privacy *privacy = &world->scenario->privacy;
    double share = privacy->enabled ? privacy->attack_sample : 1.0;
    uint64_t draw = util_mix64(world->scenario->seed ^ util_mix64(request ^ UINT64_C(0x617474)));
    return (double)(draw >> 11) * 0x1.0p-53 < share;
}

/* A node attacks when privacy.curious drew it or a curious fault holds it. */
static bool attack_curious(const world_state *world, uint32_t node_id)
{
    return world->result->curious_of[node_id] ||
           (world->store.behaviour_of != NULL &&
            world->store.behaviour_of[node_id] == NODE_BEHAVIOUR_CURIOUS);
}

int world__attack_build(world_state *world)
{
    const scn_privacy *privacy = &world->scenario->privacy;
    world_result *result = world->result;
    result->curious_of = util_calloc(world->node_count, 1);
    if (result->curious_of == NULL) {
        return WORLD_ENOMEM;
    }
    bool any = false;
    for (uint32_t i = 0; privacy->enabled && i < world->node_count; i++) {
        uint64_t draw = util_mix64(world->scenario->seed ^ util_mix64(i ^ UINT64_C(0x637572)));
        result->curious_of[i] = (double)(draw >> 11) * 0x1.0p-53 < privacy->curious;
        any |= result->curious_of[i] != 0;
    }
    for (uint32_t f = 0; f < world->scenario->fault_count; f++) {
        any |= world->scenario->faults[f].kind == SCN_FAULT_CURIOUS;
    }
    if (!any) {
        return 0;
    }
    const infer_shape *shape = infer_model_shape(world->model);
    world->attack_kv = util_malloc(infer_kv_bytes(shape, shape->n_layers));
    world->attack_rows = util_calloc((size_t)world->scenario->workload.prompt_max * shape->dim,
                                     sizeof(float));
    world->attack_x = util_calloc(shape->dim, sizeof(float));
    world->attack_stride =
        world->scenario->workload.prompt_max + world->scenario->workload.generate_tokens;
    if (world->attack_kv == NULL || world->attack_rows == NULL || world->attack_x == NULL ||
        infer_executor_create(world->model, 1, &world->attack_executor) != 0) {
        return WORLD_ENOMEM;
    }
    return 0;
}

void world__attack_destroy(world_state *world)
{
    infer_executor_destroy(world->attack_executor);
    world->attack_executor = NULL;
    util_free(world->attack_kv);
    util_free(world->attack_rows);
    util_free(world->attack_x);
    util_free(world->attack_guess);
    world->attack_guess = NULL;
}

static double attack_distance(const float *a, const float *b, uint32_t dim)
{
    double sum = 0.0;
    for (uint32_t i = 0; i < dim; i++) {
        double d = (double)a[i] - b[i];
        sum += d * d;
    }
    return sum;
}

/* The candidate token at 'position' after the cached prefix: its hidden
 * state after layers [0, kv->layer_count), left in attack_x. */
static void attack_try(world_state *world, infer_kernel kernel, infer_kv *kv, uint32_t token,
                       uint32_t position)
{
    uint64_t flops = 0;
    kv->length = position;
    int rc = infer_embed(world->attack_executor, &token, 1, world->attack_x);
    ASSERT(rc == 0); /* token < vocab */
    rc = infer_forward(world->attack_executor, kernel, kv, world->attack_x, 1, &flops);
    ASSERT(rc == 0); /* position < prompt_max <= seq_len */
}

/* The token nearest 'target' at 'position' after the prefix cached in
 * 'kv' (kv->length = position on entry); on return the chosen token's
 * state is in the cache, so the next position extends it. */
static uint32_t attack_position(world_state *world, infer_kernel kernel, infer_kv *kv,
                                const float *target, uint32_t position)
{
    const infer_shape *shape = infer_model_shape(world->model);
    uint32_t best = 0;
    double best_distance = INFINITY;
    for (uint32_t v = 0; v < shape->vocab_size; v++) {
        attack_try(world, kernel, kv, v, position);
        double distance = attack_distance(world->attack_x, target, shape->dim);
        if (distance < best_distance) {
            best_distance = distance;
            best = v;
        }
    }
    attack_try(world, kernel, kv, best, position); /* The prefix the next position extends. */
    ASSERT(kv->length == position + 1);
    return best;
}

/* Recovers the prompt from rows[count * dim], the input of a segment whose
 * first layer is 'layers', into guess[0 .. count); returns how many tokens
 * equal 'prompt'. */
static uint32_t attack_run(world_state *world, infer_kernel kernel, uint32_t layers,
                           uint32_t count, const uint32_t *prompt, uint32_t *guess)
{
    const infer_shape *shape = infer_model_shape(world->model);
    infer_kv kv;
    infer_kv_init(&kv, shape, 0, layers, world->attack_kv);
    uint32_t recovered = 0;
    for (uint32_t p = 0; p < count; p++) {
        const float *target = world->attack_rows + (size_t)p * shape->dim;
        guess[p] = attack_position(world, kernel, &kv, target, p);
        recovered += guess[p] == prompt[p];
    }
    ASSERT(recovered <= count);
    return recovered;
}

/* The attack record of (request, node), or NULL: the latest first. */
static world_attack_record *attack_find(const world_result *result, uint64_t request,
                                        uint32_t node_id)
{
    for (uint64_t i = result->attack_count; i > 0; i--) {
        world_attack_record *a = &result->attacks[i - 1];
        if (a->request == request && a->node_id == node_id) {
            return a;
        }
    }
    return NULL;
}

/* Appends 'record'; returns its recovered-token buffer (attack_stride
 * entries). */
static uint32_t *attack_record(world_state *world, const world_attack_record *record)
{
    world_result *result = world->result;
    if (result->attack_count == result->attack_capacity) {
        uint64_t capacity = result->attack_capacity ? result->attack_capacity * 2 : 64;
        world_attack_record *grown = util_realloc(result->attacks, capacity * sizeof(*grown));
        uint32_t *guess = util_realloc(world->attack_guess,
                                       capacity * world->attack_stride * sizeof(*guess));
        ASSERT(grown != NULL && guess != NULL); /* Host out of memory mid-run. */
        result->attacks = grown;
        world->attack_guess = guess;
        result->attack_capacity = capacity;
    }
    result->attacks[result->attack_count] = *record;
    return world->attack_guess + result->attack_count++ * world->attack_stride;
}

/* The prefill's rows reaching a curious server: the prompt, once per
 * (request, node). */
static void attack_prefill(world_state *world, const node_message *m)
{
    world_result *result = world->result;
    const node_request *r = &world->requests[m->rumor_id];
    if (m->position != 0 || attack_find(result, m->rumor_id, m->dest) != NULL ||
        m->count != r->prompt_tokens || m->count > world->scenario->workload.prompt_max ||
        infer_wire_decode(world->serving.wire_dtype, m->payload, m->payload_bytes, m->count,
                          world->serving.dim, world->attack_rows) != 0) {
        return; /* Done already, or not the prefill it claims to be: nothing to attack. */
    }
    world_attack_record record = {
        .request = m->rumor_id,
        .node_id = m->dest,
        .segment = m->segment,
        .tokens = m->count,
    };
    uint32_t *guess = attack_record(world, &record);
    world_attack_record *a = &result->attacks[result->attack_count - 1];
    a->recovered = attack_run(world, (infer_kernel)result->kernel_of[m->dest],
                              world->serving.segment_first[m->segment], m->count, r->tokens,
                              guess);
}

/* Generation step m->step's single row reaching a curious server that
 * attacked the prompt and every step before: its recovered prefix is run
 * through the public layers again, then every candidate at the row's
 * position. The truth is the token the client fed in at that position. */
static void attack_step(world_state *world, const node_message *m)
{
    world_result *result = world->result;
    const node_request *r = &world->requests[m->rumor_id];
    world_attack_record *a = attack_find(result, m->rumor_id, m->dest);
    if (a == NULL || a->segment != m->segment || m->count != 1 || a->steps + 1 != m->step ||
        m->position != a->tokens + a->steps || m->position >= world->attack_stride ||
        m->position >= r->prompt_tokens + r->generated ||
        infer_wire_decode(world->serving.wire_dtype, m->payload, m->payload_bytes, 1,
                          world->serving.dim, world->attack_rows) != 0) {
        return; /* Not the next step of a prompt it attacked (a retry, a gap). */
    }
    const infer_shape *shape = infer_model_shape(world->model);
    infer_kernel kernel = (infer_kernel)result->kernel_of[m->dest];
    uint32_t *guess = world->attack_guess + (size_t)(a - result->attacks) * world->attack_stride;
    infer_kv kv;
    infer_kv_init(&kv, shape, 0, world->serving.segment_first[m->segment], world->attack_kv);
    for (uint32_t p = 0; p < m->position; p++) {
        attack_try(world, kernel, &kv, guess[p], p);
    }
    guess[m->position] = attack_position(world, kernel, &kv, world->attack_rows, m->position);
    a->steps_recovered += guess[m->position] == r->tokens[m->position];
    a->steps += 1;
    ASSERT(a->steps_recovered <= a->steps);
}

void world__attack_arrival(world_state *world, const node_message *m, bool leaked)
{
    world_result *result = world->result;
    if (world->attack_executor == NULL || m->type != NODE_MESSAGE_INFER_ACTIVATIONS ||
        m->segment == 0 || m->dest >= world->node_count || !attack_curious(world, m->dest) ||
        (result->tee_of[m->dest] && !leaked) || m->rumor_id >= result->request_count ||
        !attack_sampled(world, m->rumor_id)) {
        return;
    }
    if (m->step == 0) {
        attack_prefill(world, m);
    } else {
        attack_step(world, m);
    }
}
