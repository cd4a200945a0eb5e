/* world_privacy.c -- what the run tells about privacy: the epsilon each
 * request spent (its noised releases composed by consensus/'s Renyi-DP
 * accountant), which requests' prompts a node outside a TEE saw in the
 * clear, and the run's privacy metrics. Read after the run, from the
 * recorder's rows; nothing here feeds back into a run. */
#include <math.h>

#include "consensus/cons.h"
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

/* Mean and largest epsilon over the submitted requests. */
static void privacy_epsilons(const world_result *result, double *mean_out, double *max_out)
{
    double sum = 0.0, max = NAN;
    uint64_t n = 0;
    for (uint64_t r = 0; r < result->request_count; r++) {
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
        for (uint64_t r = 0; r < result->request_count; r++) {
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
    default: return NAN;
    }
}
