/* world_serve.c -- the simulated world's side of split inference: the model
 * (loaded once and shared read-only by every node), the placement of
 * segment servers, the request workload, and the oracle that knows the
 * right answer. The protocol itself runs in the nodes (node/serve.c); this
 * file only builds what they share and measures what they do.
 *
 * Placement policy (documented in scenarios/README.md): every node starts
 * with its class's memory free. Segments take servers round-robin, one per
 * segment per round; each pick is, among the nodes that do not already
 * serve that segment, the one serving the fewest segments so far, then the
 * one with the most free memory, then the lowest id -- and only if the
 * segment's memory (scn_segment_memory_bytes: weights and kv_slots KV
 * caches) fits in what it has left. A segment stops at model.replicas
 * servers (0: ceil(nodes / segments)), or when no node fits. A node may
 * serve several segments when its memory allows, and never one it cannot
 * hold.
 *
 * The oracle (world_oracle.c) judges each completed request; the referee's
 * re-execution of a disputed hop (world__serve_replay) is here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "world/world_int.h"
#include "world/world_net.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/stats.h"

/* ---- loading the model ---- */

int world__file_read(const char *path, uint8_t **bytes_out, size_t *size_out)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return -1;
    }
    uint8_t *bytes = NULL;
    long size = -1;
    if (fseek(file, 0, SEEK_END) == 0) {
        size = ftell(file);
    }
    if (size > 0 && fseek(file, 0, SEEK_SET) == 0) {
        bytes = util_malloc((size_t)size);
    }
    if (bytes == NULL || fread(bytes, 1, (size_t)size, file) != (size_t)size) {
        util_free(bytes);
        fclose(file);
        return -1;
    }
    fclose(file);
    *bytes_out = bytes;
    *size_out = (size_t)size;
    return 0;
}

static int load_model(world_state *world)
{
    const scn_model *m = &world->scenario->model;
    char why[256];
    if (m->source == SCN_MODEL_SEED) {
        infer_shape shape = {m->dim,   m->hidden_dim, m->layers,  m->heads,
                             m->kv_heads, m->vocab,   m->seq_len, m->shared_classifier};
        return infer_model_from_seed(&shape, m->weight_seed, &world->model, why, sizeof(why)) == 0
                   ? 0
                   : WORLD_EMODEL;
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (world__file_read(m->file, &bytes, &size) != 0) {
        return WORLD_EMODEL;
    }
    int rc = infer_model_from_checkpoint(bytes, size, &world->model, why, sizeof(why));
    util_free(bytes);
    return rc == 0 ? 0 : WORLD_EMODEL;
}

/* ---- placement ---- */

typedef struct place_heap {
    uint32_t *ids;
    uint32_t count;
    const uint64_t *free_bytes;
    const uint64_t *serves;          /* bit s: serves segment s */
} place_heap;

static bool place_before(const place_heap *heap, uint32_t a, uint32_t b)
{
    int load_a = __builtin_popcountll(heap->serves[a]);
    int load_b = __builtin_popcountll(heap->serves[b]);
    if (load_a != load_b) {
        return load_a < load_b;
    }
    if (heap->free_bytes[a] != heap->free_bytes[b]) {
        return heap->free_bytes[a] > heap->free_bytes[b];
    }
    return a < b;
}

static void place_push(place_heap *heap, uint32_t id)
{
    uint32_t at = heap->count++;
    while (at > 0 && place_before(heap, id, heap->ids[(at - 1) / 2])) {
        heap->ids[at] = heap->ids[(at - 1) / 2];
        at = (at - 1) / 2;
    }
    heap->ids[at] = id;
}

static uint32_t place_pop(place_heap *heap)
{
    ASSERT(heap->count > 0);
    uint32_t top = heap->ids[0];
    uint32_t last = heap->ids[--heap->count];
    uint32_t at = 0;
    for (;;) {
        uint32_t child = 2 * at + 1;
        if (child >= heap->count) {
            break;
        }
        if (child + 1 < heap->count && place_before(heap, heap->ids[child + 1], heap->ids[child])) {
            child += 1;
        }
        if (!place_before(heap, heap->ids[child], last)) {
            break;
        }
        heap->ids[at] = heap->ids[child];
        at = child;
    }
    if (heap->count > 0) {
        heap->ids[at] = last;
    }
    return top;
}

/* One pick for 'segment': the first node in heap order that does not serve
 * it yet and has room. Nodes passed over go back afterwards. Returns
 * UINT32_MAX when none fits. */
static uint32_t place_pick(place_heap *heap, uint64_t *free_bytes, uint64_t *serves,
                           uint32_t segment, uint64_t need, uint32_t *aside)
{
    uint32_t aside_count = 0;
    uint32_t chosen = UINT32_MAX;
    while (heap->count > 0) {
        uint32_t id = place_pop(heap);
        if (free_bytes[id] < need || ((serves[id] >> segment) & 1u)) {
            aside[aside_count++] = id;
            continue;
        }
        chosen = id;
        free_bytes[id] -= need;
        serves[id] |= UINT64_C(1) << segment;
        aside[aside_count++] = id;
        break;
    }
    for (uint32_t i = 0; i < aside_count; i++) {
        place_push(heap, aside[i]);
    }
    return chosen;
}

static int place_run(world_state *world, uint64_t *free_bytes, uint64_t *serves, uint32_t *aside,
                     uint32_t **lists, uint32_t *counts, uint32_t target)
{
    const scn_model *model = &world->scenario->model;
    uint32_t n = world->node_count;
    place_heap heap = {aside + n, 0, free_bytes, serves};
    bool open[NODE_SEGMENTS_MAX];
    for (uint32_t i = 0; i < n; i++) {
        place_push(&heap, i);
    }
    for (uint32_t s = 0; s < model->segment_count; s++) {
        open[s] = true;
    }
    for (uint32_t round = 0; round < target; round++) {
        for (uint32_t s = 0; s < model->segment_count; s++) {
            if (!open[s]) {
                continue;
            }
            uint32_t id = place_pick(&heap, free_bytes, serves, s,
                                     scn_segment_memory_bytes(model, s), aside);
            if (id == UINT32_MAX) {
                open[s] = false;
                continue;
            }
            lists[s][counts[s]++] = id;
        }
    }
    for (uint32_t s = 0; s < model->segment_count; s++) {
        if (counts[s] == 0) {
            return WORLD_EPLACEMENT;
        }
    }
    return 0;
}

/* privacy.require_tee_for: the segments whose servers see token ids (the
 * first takes the prompt, the last picks the tokens) or activations (every
 * segment after the first) keep only the attested (TEE) servers placed. */
static int place_attested(world_state *world, uint32_t **lists, uint32_t *counts)
{
    const scn_privacy *privacy = &world->scenario->privacy;
    uint32_t last = world->scenario->model.segment_count - 1;
    for (uint32_t s = 0; privacy->enabled && s <= last; s++) {
        bool tokens = privacy->require_tee_tokens && (s == 0 || s == last);
        bool activations = privacy->require_tee_activations && s > 0;
        if (!tokens && !activations) {
            continue;
        }
        uint32_t kept = 0;
        for (uint32_t i = 0; i < counts[s]; i++) {
            if (world->scenario->nodes.classes[world->result->class_of[lists[s][i]]].tee) {
                lists[s][kept++] = lists[s][i];
            }
        }
        counts[s] = kept;
        if (kept == 0) {
            return WORLD_EPLACEMENT;
        }
    }
    return 0;
}

/* Fills world->servers / server_offsets. */
static int place_servers(world_state *world)
{
    const scn_model *model = &world->scenario->model;
    uint32_t n = world->node_count;
    uint32_t segments = model->segment_count;
    uint32_t target = model->replicas != 0 ? model->replicas : (n + segments - 1) / segments;
    target = target > n ? n : target;
    uint64_t *free_bytes = util_calloc(n, sizeof(uint64_t));
    uint64_t *serves = util_calloc(n, sizeof(uint64_t));
    uint32_t *aside = util_calloc((size_t)n * 2, sizeof(uint32_t));
    uint32_t *flat = util_calloc((size_t)segments * target, sizeof(uint32_t));
    world->servers = util_calloc((size_t)segments * target, sizeof(uint32_t));
    world->server_offsets = util_calloc(segments + 1, sizeof(uint32_t));
    int rc = WORLD_ENOMEM;
    if (free_bytes != NULL && serves != NULL && aside != NULL && flat != NULL &&
        world->servers != NULL && world->server_offsets != NULL) {
        uint32_t *lists[NODE_SEGMENTS_MAX];
        uint32_t counts[NODE_SEGMENTS_MAX] = {0};
        for (uint32_t i = 0; i < n; i++) {
            free_bytes[i] = world->scenario->nodes.classes[world->result->class_of[i]].memory_bytes;
        }
        for (uint32_t s = 0; s < segments; s++) {
            lists[s] = flat + (size_t)s * target;
        }
        rc = place_run(world, free_bytes, serves, aside, lists, counts, target);
        if (rc == 0) {
            rc = place_attested(world, lists, counts);
        }
        for (uint32_t s = 0; rc == 0 && s < segments; s++) {
            world->server_offsets[s + 1] = world->server_offsets[s] + counts[s];
            memcpy(world->servers + world->server_offsets[s], lists[s], counts[s] * sizeof(uint32_t));
        }
    }
    util_free(free_bytes);
    util_free(serves);
    util_free(aside);
    util_free(flat);
    return rc;
}

/* ---- the serving context the nodes share ---- */

_Static_assert(SCN_MAX_BATCH_MAX <= NODE_BATCH_MAX, "the loader's bound is the node's");

/* Continuous batching: each node's max_batch, when some class batches
 * (NULL otherwise: every call alone, as before). */
static int serving_batching(world_state *world)
{
    const scn_nodes *nodes = &world->scenario->nodes;
    bool batching = false;
    for (uint32_t c = 0; c < nodes->class_count; c++) {
        batching = batching || nodes->classes[c].max_batch > 1;
    }
    world->result->batching = batching;
    if (!batching) {
        return 0;
    }
    world->max_batch_of = util_calloc(world->node_count, sizeof(uint16_t));
    if (world->max_batch_of == NULL) {
        return WORLD_ENOMEM;
    }
    for (uint32_t i = 0; i < world->node_count; i++) {
        world->max_batch_of[i] = (uint16_t)nodes->classes[world->result->class_of[i]].max_batch;
    }
    return 0;
}

static int serving_per_node(world_state *world)
{
    const scn_scenario *scenario = world->scenario;
    uint32_t n = world->node_count;
    world->result->kernel_of = util_calloc(n, 1);
    world->result->tee_of = util_calloc(n, 1);
    world->flops_of = util_calloc(n, sizeof(double));
    world->overhead_of = util_calloc(n, sizeof(uint64_t));
    world->bandwidth_of = util_calloc(n, sizeof(double));
    world->busy_until = util_calloc(n, sizeof(uint64_t));
    world->kv_in_use = util_calloc((size_t)n * scenario->model.segment_count, sizeof(uint16_t));
    if (world->result->kernel_of == NULL || world->result->tee_of == NULL ||
        world->flops_of == NULL ||
        world->overhead_of == NULL || world->bandwidth_of == NULL || world->busy_until == NULL || world->kv_in_use == NULL) {
        return WORLD_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        const scn_class *class = &scenario->nodes.classes[world->result->class_of[i]];
        world->result->kernel_of[i] = (uint8_t)class->kernel;
        world->result->tee_of[i] = class->tee ? 1 : 0;
        world->result->kernel_used[class->kernel] = true;
        world->flops_of[i] = class->flops_per_s;
        world->overhead_of[i] = class->overhead_ns;
        world->bandwidth_of[i] = (double)class->memory_bandwidth_bytes_per_s;
    }
    return serving_batching(world);
}

/* The tables indexed by request id, sized by workload.requests. They come
 * from util_calloc_sparse: a request's entries are written from its
 * submission on, so a run that stops short of its bound holds only the
 * pages of the requests it made, and the summaries at the end scan the
 * records only up to result->request_reach. */
static int serving_per_request(world_state *world)
{
    const scn_workload *workload = &world->scenario->workload;
    uint64_t capacity = (uint64_t)workload->requests + world->extra_requests;
    capacity = capacity > 0 ? capacity : 1;
    uint32_t per_request = workload->prompt_max + workload->generate_tokens;
    uint32_t segments = world->scenario->model.segment_count;
    world_result *result = world->result;
    world->requests = util_calloc(capacity, sizeof(node_request));
    world->tokens = util_calloc_sparse(capacity * per_request, sizeof(uint32_t));
    const scn_verification *v = &world->scenario->verification;
    size_t slots = v->protocol != CONS_PROTOCOL_NONE
                       ? (size_t)world__verify_members_max(v) * (v->retries + 1)
                       : (workload->failover ? NODE_ATTEMPTS_MAX : 1);
    world->kv_block_of = util_calloc_sparse(capacity * segments * slots, sizeof(uint32_t));
    world->store.client_of = util_calloc_sparse(capacity * segments * slots, sizeof(uint32_t));
    world->prompt = util_calloc(workload->prompt_max, sizeof(uint32_t));
    world->oracle_block_of = util_calloc_sparse(capacity, sizeof(uint32_t));
    world->oracle_steps_of = util_calloc_sparse(capacity, sizeof(uint32_t));
    result->request_count = capacity;
    result->requests = util_calloc_sparse(capacity, sizeof(world_request_record));
    result->segments = util_calloc_sparse(capacity * segments, sizeof(world_segment_record));
    result->divergence =
        util_calloc_sparse(capacity * INFER_KERNEL_COUNT, sizeof(world_divergence_record));
    if (world->scenario->privacy.enabled) {
        result->divergence_noised =
            util_calloc_sparse(capacity * INFER_KERNEL_COUNT, sizeof(world_divergence_record));
    }
    result->execution_head = util_calloc_sparse(capacity * segments, sizeof(uint32_t));
    world->served_bits = util_calloc((world->node_count + 63u) / 64u, sizeof(uint64_t));
    if (result->execution_head == NULL || world->requests == NULL || world->tokens == NULL ||
        world->served_bits == NULL || world->kv_block_of == NULL ||
        world->store.client_of == NULL || world->prompt == NULL ||
        world->oracle_block_of == NULL || world->oracle_steps_of == NULL ||
        result->requests == NULL || result->segments == NULL ||
        result->divergence == NULL ||
        (world->scenario->privacy.enabled && result->divergence_noised == NULL)) {
        return WORLD_ENOMEM;
    }
    for (uint64_t r = 0; r < capacity; r++) {
        world->requests[r].tokens = world->tokens + r * per_request;
    }
    if (world->scenario->model.tokenizer[0] != '\0') {
        result->token_stride = per_request;
        result->token_ids = util_calloc_sparse(capacity * per_request, sizeof(uint32_t));
        if (result->token_ids == NULL) {
            return WORLD_ENOMEM;
        }
    }
    return 0;
}

static int serving_scratch(world_state *world)
{
    const scn_workload *workload = &world->scenario->workload;
    node_serving *serving = &world->serving;
    /* Failover replays a step as one prefill, and a committee member
     * catching up gets the steps it missed with this one: the prompt and
     * the tokens so far, at most prompt_max + generate - 1 rows. A member's
     * output is at most the prompt's rows (a catch-up answers its step). */
    const scn_verification *v = &world->scenario->verification;
    serving->catch_up = v->protocol != CONS_PROTOCOL_NONE && v->catch_up;
    uint32_t tokens_max = workload->failover || serving->catch_up
                              ? workload->prompt_max + workload->generate_tokens - 1u
                              : workload->prompt_max;
    uint32_t sequence = workload->prompt_max + workload->generate_tokens;
    size_t wire = infer_wire_bytes(serving->wire_dtype, tokens_max, serving->dim);
    size_t output_rows = workload->failover ? tokens_max : workload->prompt_max;
    serving->tokens_max = tokens_max;
    serving->output_floats = output_rows * serving->dim > serving->vocab
                                 ? output_rows * serving->dim
                                 : serving->vocab;
    serving->payload_capacity = wire > (size_t)tokens_max * 4 ? wire : (size_t)tokens_max * 4;
    /* selection vrf: a commitment carries a proof after its vote, and an
     * equivocating member builds two of them side by side. */
    size_t claimed = 2 * ((size_t)NODE_VOTE_MAX + NODE_CLAIM_MAX);
    if (world->scenario->verification.selection_vrf && serving->payload_capacity < claimed) {
        serving->payload_capacity = claimed;
    }
    /* Ledger evidence: each of the two also carries the member's signature. */
    const scn_ledger *ledger = &world->scenario->ledger;
    size_t signed_two = claimed + 2 * (size_t)NODE_SIGNATURE_BYTES;
    if (ledger->settlement_ledger && ledger->evidence &&
        serving->payload_capacity < signed_two) {
        serving->payload_capacity = signed_two;
    }
    world->store.x = util_calloc((size_t)tokens_max * serving->dim, sizeof(float));
    world->store.logits = util_calloc(serving->vocab, sizeof(float));
    world->store.payload = util_calloc(serving->payload_capacity, 1);
    world->store.token_scratch = util_calloc(tokens_max, sizeof(uint32_t));
    world->oracle_x = util_calloc((size_t)sequence * serving->dim, sizeof(float));
    world->replay_wire = util_malloc(infer_wire_bytes(serving->wire_dtype, sequence, serving->dim));
    world->oracle_variant = util_calloc(serving->vocab, sizeof(float));
    world->oracle_kv = util_malloc(infer_kv_bytes(infer_model_shape(world->model),
                                                  world->scenario->model.layers));
    if (world->store.x == NULL || world->store.logits == NULL || world->store.payload == NULL ||
        world->store.token_scratch == NULL || world->oracle_x == NULL || world->replay_wire == NULL ||
        world->oracle_variant == NULL || world->oracle_kv == NULL) {
        return WORLD_ENOMEM;
    }
    /* Each block: the logits of every step, then who wrote each step. */
    util_pool_init(&world->oracle_pool,
                   (size_t)workload->generate_tokens * serving->vocab * sizeof(float) +
                       (size_t)workload->generate_tokens * sizeof(uint16_t));
    if (infer_executor_create(world->model, tokens_max, &world->store.executor) != 0 ||
        infer_executor_create(world->model, sequence, &world->oracle_executor) != 0) {
        return WORLD_ENOMEM;
    }
    return 0;
}

/* workload.routing: latency routing reads each node's region and the
 * scenario's base latencies between regions (node/route.c). */
static void serving_routing(world_state *world)
{
    const scn_workload *workload = &world->scenario->workload;
    node_serving *serving = &world->serving;
    serving->routing =
        workload->routing == SCN_ROUTING_LATENCY ? NODE_ROUTING_LATENCY : NODE_ROUTING_HASH;
    serving->routing_choices = workload->routing_choices;
    serving->route_nodes = world->node_count;
    serving->region_of = world->result->region_of;
    serving->region_latency_ns = &world->scenario->network.region_latency_ns[0][0];
    serving->region_stride = SCN_REGIONS_MAX;
}

static void serving_fill(world_state *world)
{
    const scn_model *model = &world->scenario->model;
    node_serving *serving = &world->serving;
    serving->model = world->model;
    serving->dim = model->dim;
    serving->vocab = model->vocab;
    serving->seq_len = model->seq_len;
    serving->wire_dtype = (infer_dtype)model->wire_dtype;
    serving->segment_count = model->segment_count;
    memcpy(serving->segment_first, model->segment_first, sizeof(serving->segment_first));
    memcpy(serving->segment_layers, model->segment_layers, sizeof(serving->segment_layers));
    serving->servers = world->servers;
    serving->server_offsets = world->server_offsets;
    serving->route_salt = util_mix64(world->scenario->seed ^ UINT64_C(0x726f757465));
    serving_routing(world);
    serving->generate_tokens = world->scenario->workload.generate_tokens;
    serving->request_timeout_ns = world->scenario->workload.request_timeout_ns;
    serving->failover = world->scenario->workload.failover;
    world->result->failover = serving->failover;
    serving->step_timeout_ns = world->scenario->workload.step_timeout_ns;
    serving->kv_slots = model->kv_slots;
    const scn_privacy *privacy = &world->scenario->privacy;
    if (privacy->enabled) {
        serving->privacy_mask = privacy->boundary_mask;
        serving->privacy_clip = privacy->clip;
        serving->privacy_sigma = privacy->sigma;
        serving->privacy_seed = util_mix64(world->scenario->seed ^ UINT64_C(0x7072697679));
        world->result->privacy_on = true;
        world->result->privacy_sigma = privacy->sigma;
        world->result->privacy_delta = privacy->delta;
    }
    serving->kernel_of = world->result->kernel_of;
    serving->flops_per_s_of = world->flops_of;
    serving->overhead_ns_of = world->overhead_of;
    serving->memory_bandwidth_of = world->bandwidth_of;
    serving->max_batch_of = world->max_batch_of;
    world->store.busy_until_ns = world->busy_until;
    world->store.kv_in_use = world->kv_in_use;
    world->store.requests = world->requests;
    serving->request_capacity = world->result->request_count;
    world->store.kv_block_of = world->kv_block_of;
    world->result->segment_count = model->segment_count;
    memcpy(world->result->segment_first, model->segment_first, sizeof(model->segment_first));
    memcpy(world->result->segment_layers, model->segment_layers, sizeof(model->segment_layers));
}

int world__serve_build(world_state *world)
{
    ASSERT(world->scenario->model.source != SCN_MODEL_NONE);
    util_hist_init(&world->result->request_latency);
    util_hist_init(&world->result->finality);
    util_hist_init(&world->result->first_token);
    world->result->finality_window_ns =
        world->scenario->verification.protocol == CONS_PROTOCOL_OPTIMISTIC
            ? world->scenario->verification.challenge_window_ns
            : 0;
    int rc = load_model(world);
    if (rc == 0) {
        rc = world__prompts_load(world->scenario, &world->prompts);
    }
    if (rc == 0) {
        rc = place_servers(world);
    }
    if (rc == 0) {
        rc = world__weights_build(world);
    }
    if (rc == 0) {
        rc = serving_per_node(world);
    }
    if (rc == 0) {
        rc = serving_per_request(world);
    }
    if (rc == 0) {
        serving_fill(world);
        rc = serving_scratch(world);
    }
    if (rc == 0 && node_store_batch_init(&world->store, &world->serving, world->node_count) != 0) {
        rc = WORLD_ENOMEM;
    }
    if (rc == 0) {
        rc = world__attack_build(world);
    }
    return rc;
}

void world__serve_destroy(world_state *world)
{
    world__attack_destroy(world);
    node_store_release(&world->store);
    infer_executor_destroy(world->store.executor);
    infer_executor_destroy(world->oracle_executor);
    util_free(world->store.x);
    util_free(world->store.logits);
    util_free(world->store.payload);
    util_free(world->store.token_scratch);
    util_free(world->oracle_x);
    util_free(world->replay_wire);
    util_free(world->oracle_variant);
    util_free(world->oracle_kv);
    if (world->oracle_pool.block_bytes != 0) {
        util_pool_deinit(&world->oracle_pool);
    }
    util_free(world->servers);
    util_free(world->server_offsets);
    util_free(world->flops_of);
    util_free(world->overhead_of);
    util_free(world->bandwidth_of);
    util_free(world->max_batch_of);
    util_free(world->busy_until);
    util_free(world->kv_in_use);
    util_free(world->requests);
    util_free(world->tokens);
    util_free(world->served_bits);
    util_free(world->store.client_of);
    util_free(world->prompt);
    world__prompts_deinit(&world->prompts);
    util_free(world->kv_block_of);
    util_free(world->oracle_block_of);
    util_free(world->oracle_steps_of);
    infer_model_destroy(world->model);
}

/* ---- the request workload ---- */

/* Draws arrival number 'index' (poisson, constant or explicit times) after
 * 'after_ns' and its client, from 'prng'. Returns false when there is none
 * (past the request count or the run's end); then nothing was drawn for the
 * client. One implementation for the simulator and the testbed's plan. */
bool world_workload_arrival(const scn_scenario *scenario, util_prng *prng, uint64_t index,
                             uint64_t after_ns, uint64_t *at_out, uint32_t *client_out)
{
    const scn_workload *workload = &scenario->workload;
    if (index >= workload->requests) {
        return false;
    }
    uint64_t at_ns;
    if (workload->arrival == SCN_ARRIVAL_EXPLICIT) {
        at_ns = workload->times_ns[index];
    } else {
        double mean_ns = 1e9 / workload->rate_per_s;
        double gap_ns = workload->arrival == SCN_ARRIVAL_POISSON
                            ? util_prng_exponential(prng, mean_ns)
                            : mean_ns;
        if (gap_ns > 1e18) {
            return false;
        }
        at_ns = after_ns + (uint64_t)llround(gap_ns);
    }
    if (at_ns > scenario->duration_ns) {
        return false;
    }
    *at_out = at_ns;
    *client_out = (uint32_t)util_prng_below(prng, scenario->nodes.count);
    return true;
}

int world_workload_plan(const scn_scenario *scenario, world_plan_entry *plan, uint64_t capacity,
                      uint64_t *count_out)
{
    util_prng prng;
    uint64_t count = 0;
    uint64_t at_ns = 0;
    uint32_t client = 0;
    ASSERT(scenario->workload.kind == SCN_WORKLOAD_INFERENCE);
    world_prompts prompts;
    int rc = world__prompts_load(scenario, &prompts);
    if (rc != 0) {
        return rc;
    }
    util_prng_init_stream(&prng, scenario->seed, 0, UTIL_PRNG_PURPOSE_WORKLOAD);
    /* The simulator's order of draws: arrival r + 1 is drawn when request r
     * is submitted, before r's prompt. */
    bool more = world_workload_arrival(scenario, &prng, 0, scenario->workload.start_ns, &at_ns, &client);
    while (more) {
        if (count >= capacity) {
            world__prompts_deinit(&prompts);
            return WORLD_EINVAL;
        }
        world_plan_entry *entry = &plan[count];
        entry->at_ns = at_ns;
        entry->client = client;
        more = world_workload_arrival(scenario, &prng, count + 1, at_ns, &at_ns, &client);
        entry->prompt_tokens = world_workload_prompt(scenario, &prompts, &prng, entry->tokens);
        count += 1;
    }
    world__prompts_deinit(&prompts);
    *count_out = count;
    return 0;
}

int world_oracle_take(world_state *world, uint64_t request)
{
    ASSERT(request < world->result->request_count);
    ASSERT(world->oracle_block_of[request] == 0);
    uint32_t block = 0;
    if (util_pool_take(&world->oracle_pool, &block) != 0) {
        return WORLD_ENOMEM;
    }
    world->oracle_block_of[request] = block + 1;
    world->oracle_steps_of[request] = 0;
    memset(world__oracle_writers(world, block + 1), 0,
           world->serving.generate_tokens * sizeof(uint16_t));
    return 0;
}

uint16_t *world__oracle_writers(const world_state *world, uint32_t block)
{
    ASSERT(block != 0);
    float *logits = util_pool_block(&world->oracle_pool, block - 1);
    return (uint16_t *)(logits + (size_t)world->serving.generate_tokens * world->serving.vocab);
}

/* ---- what the nodes report ---- */

/* The execution row of (request, segment) by 'node_id'; a new one when
 * 'create', else NULL when there is none. Rows of a hop are chained, so a
 * lookup walks the hop's members only. */
static world_execution_record *execution_row(world_result *result, uint64_t request,
                                             uint32_t segment, uint32_t node_id, bool create)
{
    uint32_t *head = &result->execution_head[request * result->segment_count + segment];
    for (uint32_t i = *head; i != 0; i = result->executions[i - 1].next) {
        if (result->executions[i - 1].node_id == node_id) {
            return &result->executions[i - 1];
        }
    }
    if (!create) {
        return NULL;
    }
    if (result->execution_count == result->execution_capacity) {
        uint64_t capacity = result->execution_capacity ? result->execution_capacity * 2 : 256;
        world_execution_record *grown =
            util_realloc(result->executions, capacity * sizeof(*grown));
        ASSERT(grown != NULL); /* Host out of memory mid-run. */
        result->executions = grown;
        result->execution_capacity = capacity;
    }
    ASSERT(result->execution_count < UINT32_MAX);
    world_execution_record *row = &result->executions[result->execution_count++];
    *row = (world_execution_record){.request = request, .segment = segment, .node_id = node_id,
                                    .next = *head};
    *head = (uint32_t)result->execution_count;
    return row;
}

void world__serve_forget_executions(world_result *result, uint64_t request)
{
    for (uint32_t s = 0; s < result->segment_count; s++) {
        uint32_t *head = &result->execution_head[request * result->segment_count + s];
        for (uint32_t i = *head; i != 0; i = result->executions[i - 1].next) {
            result->executions[i - 1].request = UINT64_MAX;
        }
        *head = 0;
    }
}

/* A client suspected 'suspect': a false suspicion when the engine knows
 * it was up and it was not playing silent (testbed: not counted). */
static void serve_suspicion(world_state *world, uint32_t suspect)
{
    world_result *result = world->result;
    ASSERT(suspect < world->node_count); /* A committee member the client drew. */
    result->suspicions += 1;
    if (world->crash_view != NULL && !net_is_crashed(world->crash_view, suspect) &&
        world->store.behaviour_of[suspect] != NODE_BEHAVIOUR_SILENT) {
        result->false_suspicions += 1;
    }
}

/* A compute call's batch (continuous batching; every call is a batch of
 * one without it). */
static void serve_record_batch(world_result *result, uint64_t request, const node_effect *effect)
{
    ASSERT(effect->batch_size >= 1);
    world_request_record *q = &result->requests[request];
    q->batch_calls += 1;
    q->batch_size_sum += effect->batch_size;
    q->batch_size_max = effect->batch_size > q->batch_size_max ? effect->batch_size
                                                               : q->batch_size_max;
    result->batches += effect->batch_first ? 1u : 0u;
    result->batched_calls += effect->batch_size > 1 ? 1u : 0u;
    result->batch_size_max = effect->batch_size > result->batch_size_max
                                 ? effect->batch_size
                                 : result->batch_size_max;
}

/* Whether every node has made a forward call. */
static bool serve_all_served(const world_result *result)
{
    return result->nodes_served == result->node_count;
}

/* Node 'node_id' made a forward call: the first one counts it served. */
static void serve_note_served(world_state *world, uint32_t node_id)
{
    ASSERT(node_id < world->node_count);
    uint64_t bit = UINT64_C(1) << (node_id % 64u);
    uint64_t *word = &world->served_bits[node_id / 64u];
    if ((*word & bit) != 0) {
        return;
    }
    *word |= bit;
    world_result *result = world->result;
    result->nodes_served += 1;
    if (serve_all_served(result)) {
        result->all_served_ns = world->now_ns;
    }
}

bool world_workload_ended(const world_state *world)
{
    return world->scenario->workload.until == SCN_UNTIL_ALL_SERVED &&
           serve_all_served(world->result);
}

void world__serve_observe(world_state *world, uint32_t node_id, const node_effect *effect)
{
    world_result *result = world->result;
    uint64_t request = effect->rumor_id;
    ASSERT(request < result->request_count);
    if (effect->observation == NODE_OBS_COMPUTE) {
        world_segment_record *segment =
            &result->segments[request * result->segment_count + effect->segment];
        if (segment->calls == 0) {
            segment->start_ns = effect->start_ns;
        }
        segment->node_id = node_id;
        segment->calls += 1;
        segment->end_ns = effect->at_ns;
        segment->flops += effect->value;
        result->flops_total += effect->value;
        result->compute_calls += 1;
        serve_note_served(world, node_id);
        result->memory_bound_calls += effect->memory_bound ? 1u : 0u;
        serve_record_batch(result, request, effect);
        world_execution_record *row =
            execution_row(result, request, effect->segment, node_id, true);
        if (row->calls == 0) {
            row->start_ns = effect->start_ns;
        }
        row->calls += 1;
        row->end_ns = effect->at_ns;
        row->flops += effect->value;
    } else if (effect->observation == NODE_OBS_LOGITS) {
        uint32_t block = world->oracle_block_of[request];
        /* Failover: logits of a route the client already gave up are not
         * its answer (the replay's are). */
        bool abandoned = effect->attempt < world->requests[request].attempt;
        if (block != 0 && !abandoned && effect->value < world->serving.generate_tokens) {
            if (effect->forward_ticket != 0) {
                /* Copied when the call's result is taken (world_forward.c). */
                world__forward_observe_logits(world, effect->forward_ticket, request, block,
                                             (uint32_t)effect->value);
            } else {
                float *logits = util_pool_block(&world->oracle_pool, block - 1);
                memcpy(logits + effect->value * world->serving.vocab, effect->data,
                       world->serving.vocab * sizeof(float));
                world__oracle_writers(world, block)[effect->value] = 0;
            }
            world->oracle_steps_of[request] += 1;
        }
    } else if (effect->observation == NODE_OBS_TOKEN) {
        if (effect->value == 0) {
            result->requests[request].first_token_ns = world->now_ns;
            util_hist_add(&result->first_token, world->now_ns - result->requests[request].submitted_ns);
        }
    } else if (effect->observation == NODE_OBS_BUSY) {
        result->busy_refusals += 1;
    } else if (effect->observation == NODE_OBS_NO_QUORUM) {
        result->no_quorum += 1;
    } else if (effect->observation == NODE_OBS_DISPUTE) {
        result->disputes += 1;
    } else if (effect->observation == NODE_OBS_RESAMPLE) {
        result->resamples += 1;
    } else if (effect->observation == NODE_OBS_CATCH_UP) {
        result->catch_ups += 1;
    } else if (effect->observation == NODE_OBS_ROUNDS) {
        result->requests[request].rounds = (uint32_t)effect->value;
    } else if (effect->observation == NODE_OBS_DECISION) {
        world__verify_record_decision(world, effect->decision);
    } else if (effect->observation == NODE_OBS_RELEASE) {
        result->requests[request].releases += 1;
        if (effect->segment < result->segment_count) {
            result->segments[request * result->segment_count + effect->segment].releases += 1;
        }
    } else if (effect->observation == NODE_OBS_CARTEL_MISSED) {
        result->cartel_missed += 1;
    } else if (effect->observation == NODE_OBS_SUSPECT) {
        serve_suspicion(world, (uint32_t)effect->value);
    } else if (effect->observation == NODE_OBS_FAILOVER) {
        result->requests[request].failovers += 1;
        result->failovers += 1;
    }
}

/* Bytes of inference payloads per (request, segment): 'in' at arrival at a
 * server, 'out' when a server sends its result on. */
void world_count_bytes(world_state *world, const node_message *message, uint64_t wire_bytes,
                            bool arrival)
{
    world_result *result = world->result;
    if (message->type == NODE_MESSAGE_CARTEL_AGREE && !arrival) {
        result->cartel_messages += 1;
        result->cartel_bytes += wire_bytes;
        return;
    }
    if (message->type < NODE_MESSAGE_INFER_TOKENS || message->type > NODE_MESSAGE_INFER_REVEAL ||
        message->rumor_id >= result->request_count || message->segment >= result->segment_count) {
        return;
    }
    /* Per execution: a hop's input reaching a node makes (or finds) its row;
     * what a node sends about a hop it holds a row for counts as its output. */
    world_execution_record *mine = NULL;
    if (message->source >= world->node_count || message->dest >= world->node_count) {
        /* Not a node's message: no execution row (the per-hop totals below
         * count it as they always have). */
    } else if (arrival && (message->type == NODE_MESSAGE_INFER_TOKENS ||
                    message->type == NODE_MESSAGE_INFER_ACTIVATIONS)) {
        mine = execution_row(result, message->rumor_id, message->segment, message->dest, true);
        mine->bytes_in += wire_bytes;
        mine->leaked |= world__privacy_leaks(world, message->rumor_id, message->dest);
        world__attack_arrival(world, message, mine->leaked);
    } else if (!arrival && message->type == NODE_MESSAGE_INFER_ACTIVATIONS &&
               message->segment > 0) {
        mine = execution_row(result, message->rumor_id, message->segment - 1u, message->source,
                             false);
    } else if (!arrival && (message->type == NODE_MESSAGE_INFER_TOKEN ||
                            message->type == NODE_MESSAGE_INFER_COMMIT ||
                            message->type == NODE_MESSAGE_INFER_REVEAL)) {
        mine = execution_row(result, message->rumor_id, message->segment, message->source, false);
    }
    if (mine != NULL && !arrival) {
        mine->bytes_out += wire_bytes;
    }
    if (message->type > NODE_MESSAGE_INFER_TOKEN) {
        return;
    }
    world_segment_record *row = &result->segments[message->rumor_id * result->segment_count];
    if (arrival && message->type != NODE_MESSAGE_INFER_TOKEN) {
        row[message->segment].bytes_in += wire_bytes;
    } else if (!arrival && message->type == NODE_MESSAGE_INFER_ACTIVATIONS) {
        row[message->segment - 1u].bytes_out += wire_bytes;
        result->activation_bytes += wire_bytes;
    } else if (!arrival && message->type == NODE_MESSAGE_INFER_TOKEN) {
        row[message->segment].bytes_out += wire_bytes;
    }
}

/* ---- the oracle ---- */

/* Passes 'count' rows of oracle_x through the wire dtype and back. */
static void oracle_wire_round_trip(world_state *world, uint32_t count)
{
    const node_serving *serving = &world->serving;
    size_t bytes = infer_wire_bytes(serving->wire_dtype, count, serving->dim);
    infer_wire_encode(serving->wire_dtype, world->oracle_x, count, serving->dim,
                      world->replay_wire);
    int rc = infer_wire_decode(serving->wire_dtype, world->replay_wire, bytes, count,
                               serving->dim, world->oracle_x);
    ASSERT(rc == 0); /* Our own encoding of finite values. */
}

const float *world__serve_replay(world_state *world, uint64_t request, uint32_t segment,
                               infer_kernel kernel, size_t *n_out)
{
    /* The referee reads the disputed request as its client (who calls it)
     * holds it. */
    const node_request *r = &world->store.requests[request];
    const node_serving *serving = &world->serving;
    const infer_shape *shape = infer_model_shape(world->model);
    uint32_t count = r->prompt_tokens + r->generated;
    uint64_t flops = 0;
    if (segment == 0) {
        int rc = infer_embed(world->oracle_executor, r->tokens, count, world->oracle_x);
        ASSERT(rc == 0); /* Tokens were drawn below vocab or chosen by argmax. */
    } else {
        const float *inputs = world__referee_inputs(world, request, segment);
        ASSERT(inputs != NULL); /* A dispute on segment s follows an accepted s - 1. */
        memcpy(world->oracle_x, inputs, (size_t)count * serving->dim * sizeof(float));
        oracle_wire_round_trip(world, count);
    }
    infer_kv kv;
    infer_kv_init(&kv, shape, serving->segment_first[segment], serving->segment_layers[segment],
                  world->oracle_kv);
    int rc = infer_forward(world->oracle_executor, kernel, &kv, world->oracle_x, count, &flops);
    ASSERT(rc == 0);
    if (segment + 1 == serving->segment_count) {
        infer_logits(world->oracle_executor, kernel,
                     world->oracle_x + (size_t)(count - 1) * serving->dim, world->oracle_variant,
                     &flops);
        *n_out = serving->vocab;
        return world->oracle_variant;
    }
    oracle_wire_round_trip(world, count);
    uint32_t rows = r->generated == 0 ? count : 1;
    *n_out = (size_t)rows * serving->dim;
    return world->oracle_x + (size_t)(count - rows) * serving->dim;
}

/* A client reports its request finished (OUTPUT, value = status). */
void world__serve_output(world_state *world, const node_effect *effect)
{
    uint64_t request = effect->rumor_id;
    world_result *result = world->result;
    world_request_record *record = &result->requests[request];
    ASSERT(request < result->request_count);
    ASSERT(effect->outcome != NULL); /* Every inference OUTPUT carries one. */
    if (record->status != 0) {
        /* The protocol must decide a request once: a second outcome is a
         * safety violation, recorded, and the first outcome stands. */
        world__check_violation(world, WORLD_VIOLATION_DOUBLE_FINALIZATION, request, 0, UINT32_MAX,
                              effect->outcome->generated);
        return;
    }
    record->status = (uint32_t)effect->value;
    result->requests_finished += 1;
    if (world->verifying) {
        world__referee_request_done(world, request);
    }
    record->finished_ns = world->now_ns;
    world__liveness_finished(world, record);
    record->tokens_out = effect->outcome->generated;
    if (result->token_ids != NULL) {
        /* What the network answered, kept for the results (text decoded there). */
        const node_outcome *outcome = effect->outcome;
        uint32_t count = outcome->prompt_tokens + outcome->generated;
        ASSERT(count <= result->token_stride);
        memcpy(result->token_ids + request * result->token_stride, outcome->tokens,
               count * sizeof(uint32_t));
    }
    result->tokens_out += record->tokens_out;
    if (record->status == NODE_REQUEST_COMPLETED) {
        result->requests_completed += 1;
        util_hist_add(&result->request_latency, world->now_ns - record->submitted_ns);
        util_hist_add(&result->finality,
                      world->now_ns - record->submitted_ns + result->finality_window_ns);
        world__oracle_submit(world, request, effect->outcome);
    }
    if (world->oracle_block_of[request] != 0) {
        util_pool_give(&world->oracle_pool, world->oracle_block_of[request] - 1);
        world->oracle_block_of[request] = 0;
    }
}

/* ---- timeseries ---- */

/* One sample of an inference run: requests in flight, and what the last
 * interval produced (tokens, FLOPs served). */
void world_serve_sample(world_state *world)
{
    const world_result *result = world->result;
    const world_observer *observer = world->observer;
    observer->on_sample(observer->context, world->now_ns, "requests_in_flight",
                        (double)(result->requests_submitted - result->requests_finished));
    observer->on_sample(observer->context, world->now_ns, "requests_completed",
                        (double)result->requests_completed);
    observer->on_sample(observer->context, world->now_ns, "tokens",
                        (double)(result->tokens_out - world->sampled_tokens));
    observer->on_sample(observer->context, world->now_ns, "flops",
                        (double)(result->flops_total - world->sampled_flops));
    world->sampled_tokens = result->tokens_out;
    world->sampled_flops = result->flops_total;
}

/* ---- run-level metrics of an inference run ---- */

static void compared_means(const world_result *result, double *match_ratio, double *agree_mean)
{
    uint64_t compared = 0, matched = 0;
    double agree = 0.0;
    for (uint64_t r = 0; r < result->request_reach; r++) {
        const world_request_record *record = &result->requests[r];
        if (record->compared) {
            compared += 1;
            matched += record->reference_match;
            agree += record->argmax_agree;
        }
    }
    *match_ratio = compared > 0 ? (double)matched / (double)compared : NAN;
    *agree_mean = compared > 0 ? agree / (double)compared : NAN;
}

/* Requests that ended without an answer. */
static double serve_failed(const world_result *result)
{
    uint64_t failed = 0;
    for (uint64_t r = 0; r < result->request_reach; r++) {
        failed += result->requests[r].status == NODE_REQUEST_FAILED ||
                  result->requests[r].status == NODE_REQUEST_TIMEOUT;
    }
    return (double)failed;
}

/* The span of one record, or false when the request has none. */
static bool request_span(const world_result *result, const world_request_record *record,
                         world_span span, uint64_t *out)
{
    if (span == WORLD_SPAN_FIRST_TOKEN) {
        *out = record->first_token_ns - record->submitted_ns;
        return record->first_token_ns != 0;
    }
    *out = record->finished_ns - record->submitted_ns +
           (span == WORLD_SPAN_FINALITY ? result->finality_window_ns : 0);
    return record->status == NODE_REQUEST_COMPLETED;
}

double world__request_quantile(const world_result *result, world_span span, double q)
{
    const util_hist *hist = span == WORLD_SPAN_LATENCY       ? &result->request_latency
                            : span == WORLD_SPAN_FIRST_TOKEN ? &result->first_token
                                                             : &result->finality;
    uint64_t *values = util_malloc((result->request_reach + 1) * sizeof(*values));
    if (values == NULL) {
        return util_hist_metric(hist, q);
    }
    uint64_t n = 0;
    for (uint64_t r = 0; r < result->request_reach; r++) {
        n += request_span(result, &result->requests[r], span, &values[n]);
    }
    double value = util_quantile_nearest_rank(values, n, q);
    util_free(values);
    return value;
}

/* The value of an inference metric in a run that served requests. */
static double serve_metric_value(const world_result *result, scn_metric metric)
{
    double match_ratio = NAN, agree_mean = NAN;
    double seconds = (double)result->sim_ns / 1e9;
    switch (metric) {
    case SCN_METRIC_REQUESTS_COMPLETED: return (double)result->requests_completed;
    case SCN_METRIC_COMPLETED_RATIO:
        return result->requests_submitted > 0
                   ? (double)result->requests_completed / (double)result->requests_submitted
                   : NAN;
    case SCN_METRIC_REQUEST_LATENCY_P50:
        return world__request_quantile(result, WORLD_SPAN_LATENCY, 0.50);
    case SCN_METRIC_REQUEST_LATENCY_P95:
        return world__request_quantile(result, WORLD_SPAN_LATENCY, 0.95);
    case SCN_METRIC_REQUEST_LATENCY_P99:
        return world__request_quantile(result, WORLD_SPAN_LATENCY, 0.99);
    case SCN_METRIC_FIRST_TOKEN_P50:
        return world__request_quantile(result, WORLD_SPAN_FIRST_TOKEN, 0.50);
    case SCN_METRIC_TOKENS_PER_S: return seconds > 0 ? (double)result->tokens_out / seconds : NAN;
    case SCN_METRIC_REFERENCE_MATCH_RATIO:
        compared_means(result, &match_ratio, &agree_mean);
        return match_ratio;
    case SCN_METRIC_ARGMAX_AGREE_MEAN:
        compared_means(result, &match_ratio, &agree_mean);
        return agree_mean;
    case SCN_METRIC_FLOPS_TOTAL: return (double)result->flops_total;
    case SCN_METRIC_FAILOVERS: return (double)result->failovers;
    case SCN_METRIC_CHURN_JOINS: return result->churn_on ? (double)result->churn_joins : NAN;
    case SCN_METRIC_CHURN_LEAVES: return result->churn_on ? (double)result->churn_leaves : NAN;
    case SCN_METRIC_SEGMENT_SERVERS_MIN:
        return result->churn_on && result->segment_servers_min != UINT32_MAX
                   ? (double)result->segment_servers_min
                   : NAN;
    case SCN_METRIC_MEMORY_BOUND_RATIO:
        return result->compute_calls > 0
                   ? (double)result->memory_bound_calls / (double)result->compute_calls
                   : NAN;
    case SCN_METRIC_BATCH_SIZE_MEAN:
        return result->batches > 0 ? (double)result->compute_calls / (double)result->batches
                                   : NAN;
    case SCN_METRIC_BATCH_SIZE_MAX:
        return result->batches > 0 ? (double)result->batch_size_max : NAN;
    case SCN_METRIC_BATCHED_STEPS_RATIO:
        return result->compute_calls > 0
                   ? (double)result->batched_calls / (double)result->compute_calls
                   : NAN;
    case SCN_METRIC_ACTIVATION_BYTES: return (double)result->activation_bytes;
    case SCN_METRIC_REQUESTS_FAILED: return serve_failed(result);
    case SCN_METRIC_NODES_SERVED: return (double)result->nodes_served;
    case SCN_METRIC_ALL_SERVED_NS:
        return serve_all_served(result) ? (double)result->all_served_ns : NAN;
    case SCN_METRIC_PRIVACY_EPSILON_MEAN:
    case SCN_METRIC_PRIVACY_EPSILON_MAX:
    case SCN_METRIC_PROMPT_RECONSTRUCTION_RATE:
    case SCN_METRIC_PLAINTEXT_EXPOSED_RATIO:
    case SCN_METRIC_GENERATION_RECONSTRUCTION_RATE:
    case SCN_METRIC_WEIGHTS_EXPOSED_RATIO:
    case SCN_METRIC_WEIGHTS_NODE_MAX_RATIO:
    case SCN_METRIC_WEIGHTS_CURIOUS_RATIO: return world__privacy_metric(result, metric);
    default: return NAN;
    }
}

double world__serve_metric(const world_result *result, scn_metric metric)
{
    return result->request_count > 0 ? serve_metric_value(result, metric) : NAN;
}
