/* world_privacy.c -- what the run tells about privacy: the epsilon each
 * request spent (its noised releases composed by consensus/'s Renyi-DP
 * accountant) and the part of it one node received, which requests'
 * prompts a node outside a TEE saw in the clear, who holds which of the
 * model's weights in the clear, and the run's privacy metrics. Read after
 * the run, from the recorder's rows (the weights from placement); nothing
 * here feeds back into a run. */
#include <math.h>

#include "consensus/cons.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "world/world_int.h"

double world_privacy_epsilon(const world_result *result, uint64_t request)
{
    ASSERT(request < result->request_count);
    if (!result->privacy_on) {
        return NAN;
    }
    return cons_rdp_epsilon(result->privacy_sigma, result->requests[request].releases,
                            result->privacy_delta, NULL);
}

double world_privacy_epsilon_received(const world_result *result, uint64_t request,
                                      uint32_t node_id)
{
    ASSERT(request < result->request_count);
    if (!result->privacy_on) {
        return NAN;
    }
    uint64_t releases = 0;
    for (uint32_t s = 1; s < result->segment_count; s++) {
        uint32_t i = result->execution_head[request * result->segment_count + s];
        for (; i != 0; i = result->executions[i - 1].next) {
            if (result->executions[i - 1].node_id == node_id) {
                releases += result->segments[request * result->segment_count + s].releases;
                break;
            }
        }
    }
    return cons_rdp_epsilon(result->privacy_sigma, releases, result->privacy_delta, NULL);
}

bool world__privacy_leaks(const world_state *world, uint64_t request, uint32_t node_id)
{
    ASSERT(node_id < world->node_count);
    if (!world->result->tee_of[node_id] || world->store.behaviour_of == NULL ||
        world->store.behaviour_of[node_id] != NODE_BEHAVIOUR_SIDE_CHANNEL) {
        return false;
    }
    double leak = world->scenario->privacy.enabled ? world->scenario->privacy.side_channel_leak
                                                   : 1.0;
    uint64_t draw = util_mix64(world->scenario->seed ^ util_mix64(request ^ UINT64_C(0x6c65616b)) ^
                               util_mix64((uint64_t)node_id << 1 | 1u));
    return (double)(draw >> 11) * 0x1.0p-53 < leak;
}

bool world_privacy_exposed(const world_result *result, uint64_t request)
{
    ASSERT(request < result->request_count);
    const world_request_record *q = &result->requests[request];
    uint32_t i = result->execution_head[request * result->segment_count];
    for (; i != 0; i = result->executions[i - 1].next) {
        uint32_t id = result->executions[i - 1].node_id;
        if (id != q->client && (result->tee_of[id] == 0 || result->executions[i - 1].leaked)) {
            return true;
        }
    }
    return false;
}

/* ---- the model's weights ---- */

uint64_t world_weights_params(const world_result *result, uint64_t segments)
{
    ASSERT(result->segment_count >= 1 && result->segment_count <= NODE_SEGMENTS_MAX);
    uint32_t last = result->segment_count - 1;
    uint64_t params = 0;
    for (uint32_t s = 0; s <= last; s++) {
        params += (segments >> s) & 1u ? result->weights_layers[s] : 0;
    }
    bool first_held = (segments & 1u) != 0;
    bool last_held = ((segments >> last) & 1u) != 0;
    if (first_held || (last_held && result->weights_shared)) {
        params += result->weights_embedding;
    }
    return params + (last_held ? result->weights_head : 0);
}

int world__weights_build(world_state *world)
{
    const scn_model *model = &world->scenario->model;
    world_result *result = world->result;
    result->segments_of = util_calloc(world->node_count, sizeof(uint64_t));
    if (result->segments_of == NULL) {
        return WORLD_ENOMEM;
    }
    uint64_t dim = model->dim;
    uint64_t kv_dim = dim * model->kv_heads / model->heads;
    uint64_t per_layer = 2 * dim + dim * dim * 2 + dim * kv_dim * 2 + 3 * dim * model->hidden_dim;
    for (uint32_t s = 0; s < model->segment_count; s++) {
        result->weights_layers[s] = per_layer * model->segment_layers[s];
        for (uint32_t i = world->server_offsets[s]; i < world->server_offsets[s + 1]; i++) {
            result->segments_of[world->servers[i]] |= UINT64_C(1) << s;
        }
    }
    result->weights_embedding = (uint64_t)model->vocab * dim;
    result->weights_shared = model->shared_classifier;
    result->weights_head = dim + (model->shared_classifier ? 0 : (uint64_t)model->vocab * dim);
    return 0;
}

/* Whether the node counts among the colluding curious: drawn by
 * privacy.curious or given the curious behaviour by a fault. */
static bool weights_curious(const world_result *result, uint32_t id)
{
    return (result->curious_of != NULL && result->curious_of[id]) ||
           (result->behaviour_of != NULL && result->behaviour_of[id] == NODE_BEHAVIOUR_CURIOUS);
}

/* The weights metrics: the share of the model held in the clear by any
 * node outside a TEE (union), by the largest single one, and by the
 * curious ones together; NaN for the last when none is curious, and NaN
 * for all without a privacy section (the rows of a run that does not ask
 * stay as they were). */
static double weights_metric(const world_result *result, scn_metric metric)
{
    uint64_t any = 0, curious = 0, largest = 0;
    bool some_curious = false;
    if (!result->privacy_on || result->segments_of == NULL) {
        return NAN;
    }
    for (uint32_t id = 0; id < result->node_count; id++) {
        uint64_t held = result->tee_of[id] ? 0 : result->segments_of[id];
        uint64_t params = world_weights_params(result, held);
        any |= held;
        largest = params > largest ? params : largest;
        if (weights_curious(result, id)) {
            curious |= held;
            some_curious = true;
        }
    }
    double total = (double)world_weights_params(result, UINT64_MAX);
    switch (metric) {
    case SCN_METRIC_WEIGHTS_EXPOSED_RATIO:
        return (double)world_weights_params(result, any) / total;
    case SCN_METRIC_WEIGHTS_NODE_MAX_RATIO: return (double)largest / total;
    default:
        return some_curious ? (double)world_weights_params(result, curious) / total : NAN;
    }
}

/* Mean and largest epsilon over the submitted requests. */
static void privacy_epsilons(const world_result *result, double *mean_out, double *max_out)
{
    double sum = 0.0, max = NAN;
    uint64_t n = 0;
    for (uint64_t r = 0; r < result->request_reach; r++) {
        if (!result->requests[r].submitted) {
            continue;
        }
        double epsilon = world_privacy_epsilon(result, r);
        sum += epsilon;
        max = n == 0 || epsilon > max ? epsilon : max;
        n += 1;
    }
    *mean_out = n > 0 && result->privacy_on ? sum / (double)n : NAN;
    *max_out = result->privacy_on ? max : NAN;
}

double world__privacy_metric(const world_result *result, scn_metric metric)
{
    double mean = NAN, max = NAN;
    uint64_t submitted = 0, exposed = 0;
    switch (metric) {
    case SCN_METRIC_PRIVACY_EPSILON_MEAN:
        privacy_epsilons(result, &mean, &max);
        return mean;
    case SCN_METRIC_PRIVACY_EPSILON_MAX:
        privacy_epsilons(result, &mean, &max);
        return max;
    case SCN_METRIC_PLAINTEXT_EXPOSED_RATIO:
        for (uint64_t r = 0; r < result->request_reach; r++) {
            if (result->requests[r].submitted) {
                submitted += 1;
                exposed += world_privacy_exposed(result, r) ? 1 : 0;
            }
        }
        return submitted > 0 ? (double)exposed / (double)submitted : NAN;
    case SCN_METRIC_PROMPT_RECONSTRUCTION_RATE: {
        double sum = 0.0;
        for (uint64_t i = 0; i < result->attack_count; i++) {
            sum += (double)result->attacks[i].recovered / (double)result->attacks[i].tokens;
        }
        return result->attack_count > 0 ? sum / (double)result->attack_count : NAN;
    }
    case SCN_METRIC_GENERATION_RECONSTRUCTION_RATE: {
        double sum = 0.0;
        uint64_t n = 0;
        for (uint64_t i = 0; i < result->attack_count; i++) {
            const world_attack_record *a = &result->attacks[i];
            sum += a->steps > 0 ? (double)a->steps_recovered / (double)a->steps : 0.0;
            n += a->steps > 0;
        }
        return n > 0 ? sum / (double)n : NAN;
    }
    case SCN_METRIC_WEIGHTS_EXPOSED_RATIO:
    case SCN_METRIC_WEIGHTS_NODE_MAX_RATIO:
    case SCN_METRIC_WEIGHTS_CURIOUS_RATIO: return weights_metric(result, metric);
    default: return NAN;
    }
}
