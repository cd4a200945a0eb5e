/* world.c -- building the world without its engine, and recording what
 * nodes report. world_build places the nodes, builds the serving context
 * and store, the verifier and the nodes; world_record_effect turns OUTPUT
 * and OBSERVE effects into the world_result, for either driver. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "util/alloc.h"
#include "util/assert.h"
#include "world/world_int.h"


double world_delivery_ratio(const world_result *result)
{
    if (result->deliveries_expected == 0) {
        return NAN; /* Nothing was published: no ratio to speak of. */
    }
    return (double)result->deliveries / (double)result->deliveries_expected;
}

const char *world_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case WORLD_ENOMEM: return "out of memory while building the simulated world";
    case WORLD_EINVAL: return "invalid argument";
    case WORLD_EMODEL: return "the model's weights could not be loaded";
    case WORLD_EPLACEMENT: return "a model segment found no node with memory for it";
    case WORLD_ECOMMITTEE: return "a model segment has fewer eligible servers (in the echelon, of a TEE class) than one committee needs";
    default: return "unknown simulator error";
    }
}

/* A rumor reached the application of 'node_id'. The origin's own copy is
 * not a delivery: delivery ratio and latency count the other nodes. */
static void record_output(world_state *world, uint32_t node_id, const node_effect *effect)
{
    world_result *result = world->result;
    ASSERT(effect->origin_ns <= world->now_ns);
    ASSERT(effect->rumor_id < world->next_rumor);
    result->nodes[node_id].delivered += 1;
    if (world->origin_of[effect->rumor_id] == node_id) {
        return;
    }
    result->deliveries += 1;
    world->interval_deliveries += 1;
    util_hist_add(&result->latency, world->now_ns - effect->origin_ns);
}

void world_record_effect(world_state *world, uint32_t node_id, const node_effect *effect)
{
    if (effect->kind == NODE_EFFECT_OUTPUT) {
        if (world->inference) {
            world__serve_output(world, effect);
        } else {
            record_output(world, node_id, effect);
        }
    } else if (effect->kind == NODE_EFFECT_OBSERVE) {
        if (effect->observation == NODE_OBS_DUPLICATE) {
            world->result->duplicates += effect->value;
        } else if (effect->observation == NODE_OBS_PULL_SERVED) {
            world->result->pull_served += effect->value;
        } else if ((effect->observation >= NODE_OBS_LEDGER_COMMIT &&
                    effect->observation <= NODE_OBS_LEDGER_REFUSED) ||
                   effect->observation == NODE_OBS_ATTEST) {
            world__ledger_observe(world, node_id, effect);
        } else {
            world__serve_observe(world, node_id, effect);
        }
    }
}

static int result_create(uint32_t node_count, world_result **out)
{
    world_result *result = util_calloc(1, sizeof(*result));
    if (result == NULL) {
        return WORLD_ENOMEM;
    }
    result->node_count = node_count;
    result->nodes = util_calloc(node_count, sizeof(*result->nodes));
    result->class_of = util_calloc(node_count, sizeof(*result->class_of));
    result->region_of = util_calloc(node_count, sizeof(*result->region_of));
    util_hist_init(&result->latency);
    util_hist_init(&result->ledger_finality);
    if (result->nodes == NULL || result->class_of == NULL || result->region_of == NULL) {
        world_result_destroy(result);
        return WORLD_ENOMEM;
    }
    *out = result;
    return 0;
}

void world_result_note_submitted(world_result *result, uint64_t request)
{
    ASSERT(request < result->request_count);
    result->request_reach = request >= result->request_reach ? request + 1 : result->request_reach;
}

void world_result_destroy(world_result *result)
{
    if (result == NULL) {
        return;
    }
    util_free(result->nodes);
    util_free(result->class_of);
    util_free(result->region_of);
    util_free(result->requests);
    util_free(result->segments);
    util_free(result->divergence);
    util_free(result->divergence_noised);
    util_free(result->token_ids);
    util_free(result->kernel_of);
    util_free(result->tee_of);
    util_free(result->curious_of);
    util_free(result->attacks);
    util_free(result->segments_of);
    util_free(result->reputation);
    util_free(result->balance);
    util_free(result->stake);
    util_free(result->behaviour_of);
    util_free(result->violations);
    util_free(result->blocks);
    util_free(result->view_changes);
    util_free(result->executions);
    util_free(result->execution_head);
    util_free(result->decisions);
    util_free(result->churn_events);
    util_free(result);
}

/* Rumor ids a node's seen-set covers: one at least (an inference run). */
static uint64_t world_rumor_capacity(const scn_scenario *scenario)
{
    return scenario->workload.messages > 0 ? scenario->workload.messages : 1;
}

uint64_t world_seen_set_bytes(const scn_scenario *scenario)
{
    size_t words = node_seen_words(world_rumor_capacity(scenario));
    return words > 1 ? (uint64_t)scenario->nodes.count * words * sizeof(uint64_t) : 0;
}

static int nodes_create(world_state *world)
{
    const scn_scenario *scenario = world->scenario;
    uint32_t n = world->node_count;
    uint64_t capacity = world_rumor_capacity(scenario);
    size_t words = node_seen_words(capacity); /* a node's stride in seen_bits */

    world->nodes = util_calloc(n, sizeof(*world->nodes));
    /* One word of seen-set lives in each node (node.seen_word), on the line
     * an arrival reads anyway; more come from one array, of the size the
     * tools weigh against the machine's memory before the run. */
    uint64_t seen_bytes = world_seen_set_bytes(scenario);
    world->seen_bits = seen_bytes > 0 ? util_calloc(seen_bytes / sizeof(uint64_t), sizeof(uint64_t))
                                      : NULL;
    world->origin_ns = util_calloc_sparse(capacity, sizeof(uint64_t));
    world->origin_of = util_calloc_sparse(capacity, sizeof(uint32_t));
    world->keys = util_calloc(n, sizeof(*world->keys));
    world->scratch = util_calloc(n, 1);
    world->groups = util_calloc(n, 1);
    if (world->nodes == NULL || (seen_bytes > 0 && world->seen_bits == NULL) ||
        world->origin_ns == NULL ||
        world->origin_of == NULL || world->keys == NULL || world->scratch == NULL ||
        world->groups == NULL) {
        return WORLD_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        node_config config = {
            .node_id = i,
            .node_count = n,
            /* An inference run gossips nothing: no anti-entropy timers. */
            .mode = scenario->gossip.mode == SCN_GOSSIP_PUSHPULL && !world->inference
                        ? NODE_GOSSIP_PUSHPULL
                        : NODE_GOSSIP_PUSH,
            .fanout = n > 1 && scenario->gossip.fanout > n - 1 ? n - 1 : scenario->gossip.fanout,
            .pull_interval_ns = scenario->gossip.pull_interval_ns,
            .pull_max = scenario->gossip.pull_max,
            .rumor_capacity = capacity,
            .rumor_payload_bytes = scenario->workload.size_bytes,
            .serving = world->inference ? &world->serving : NULL,
            .store = world->inference ? &world->store : NULL,
        };
        util_prng prng;
        util_prng_init_stream(&prng, scenario->seed, i, UTIL_PRNG_PURPOSE_NODE);
        uint64_t *seen = world->seen_bits != NULL ? world->seen_bits + (size_t)i * words
                                                  : &world->nodes[i].seen_word;
        node_init(&world->nodes[i], &config, &prng, seen, world->origin_ns);
        /* Hosted by the testbed, a process holds secrets only for its own
         * nodes, from their key files (world_host_node_secret). */
        if (!world->hosted) {
            util_mac_key_derive(scenario->seed, i, world->keys[i]);
        }
    }
    return 0;
}

static uint64_t sum_types(const world_result *result, size_t offset)
{
    uint64_t total = 0;
    for (uint32_t t = 1; t < NODE_MESSAGE_TYPE_COUNT; t++) {
        total += *(const uint64_t *)((const char *)&result->types[t] + offset);
    }
    return total;
}

static uint64_t dropped_total(const world_result *result)
{
    uint64_t total = 0;
    for (uint32_t t = 1; t < NODE_MESSAGE_TYPE_COUNT; t++) {
        for (uint32_t d = WORLD_DROP_NONE + 1; d < WORLD_DROP_COUNT; d++) {
            total += result->types[t].dropped[d];
        }
    }
    return total;
}

/* A metric of SCN_METRIC_RUNS_ANY or _GOSSIP. Cannot fail. */
static double gossip_metric(const world_result *result, scn_metric metric)
{
    const util_hist *hist = &result->latency;
    switch (metric) {
    case SCN_METRIC_DELIVERY_RATIO: return world_delivery_ratio(result);
    case SCN_METRIC_LATENCY_P50: return util_hist_metric(hist, 0.50);
    case SCN_METRIC_LATENCY_P95: return util_hist_metric(hist, 0.95);
    case SCN_METRIC_LATENCY_P99: return util_hist_metric(hist, 0.99);
    case SCN_METRIC_LATENCY_MAX: return util_hist_metric(hist, 1.0);
    case SCN_METRIC_LATENCY_MEAN: return hist->total_count == 0 ? NAN : util_hist_mean(hist);
    case SCN_METRIC_MESSAGES_SENT: return (double)sum_types(result, offsetof(world_type_stats, sent));
    case SCN_METRIC_BYTES_SENT:
        return (double)sum_types(result, offsetof(world_type_stats, bytes_sent));
    case SCN_METRIC_MESSAGES_REJECTED:
        return (double)sum_types(result, offsetof(world_type_stats, rejected));
    case SCN_METRIC_MESSAGES_DROPPED: return (double)dropped_total(result);
    case SCN_METRIC_EVENTS: return (double)result->events;
    case SCN_METRIC_RUMORS_PUBLISHED: return (double)result->rumors_published;
    case SCN_METRIC_PUBLISH_FAILED: return (double)result->publish_failed;
    case SCN_METRIC_DELIVERIES: return (double)result->deliveries;
    case SCN_METRIC_DUPLICATES: return (double)result->duplicates;
    case SCN_METRIC_PEAK_IN_FLIGHT: return (double)result->peak_in_flight;
    default: return NAN;
    }
}

/* Dispatches on the row's runs: gossip and network here, inference in
 * world_serve.c, verification in world_check.c; liveness_violations from
 * world_liveness.c's count. Cannot fail. */
double world_result_metric_value(const world_result *result, scn_metric metric)
{
    if (metric == SCN_METRIC_LIVENESS_VIOLATIONS) {
        return result->liveness_checked ? (double)result->liveness_violations : NAN;
    }
    switch (scn_metrics[metric].runs) {
    case SCN_METRIC_RUNS_INFERENCE: return world__serve_metric(result, metric);
    case SCN_METRIC_RUNS_VERIFICATION: return world__check_metric(result, metric);
    default: return gossip_metric(result, metric);
    }
}

/* Looks the name up in the table; WORLD_EINVAL when it is not a row. */
int world_result_metric(const world_result *result, const char *name, double *value_out)
{
    int metric = scn_metric_find(name);
    if (metric < 0) {
        return WORLD_EINVAL;
    }
    *value_out = world_result_metric_value(result, (scn_metric)metric);
    return 0;
}

void world_destroy(world_state *world)
{
    world__churn_destroy(world);
    world_forward_destroy(world); /* before the oracle: its jobs run on the oracle's pool */
    world__oracle_destroy(world);
    if (world->verifying) {
        world__verify_destroy(world);
    }
    if (world->inference) {
        world__serve_destroy(world);
    }
    util_free(world->nodes);
    util_free(world->seen_bits);
    util_free(world->origin_ns);
    util_free(world->origin_of);
    util_free(world->keys);
    util_free(world->scratch);
    util_free(world->groups);
}

int world_build(world_state *world)
{
    int rc = result_create(world->node_count, &world->result);
    if (rc == 0) {
        rc = world__placement(world);
    }
    if (rc == 0 && world->inference) {
        rc = world__serve_build(world);
    }
    if (rc == 0 && world->verifying) {
        rc = world__verify_build(world);
    }
    if (rc == 0 && world->inference) {
        rc = world__oracle_build(world);
    }
    if (rc == 0 && world->inference) {
        rc = world__attack_start(world);
    }
    if (rc == 0) {
        rc = nodes_create(world);
    }
    if (rc == 0 && world->scenario->churn.enabled) {
        rc = world__churn_build(world);
    }
    if (rc == 0 && world->inference &&
        node_store_route_init(&world->store, &world->serving) != 0) {
        rc = WORLD_ENOMEM;
    }
    return rc;
}
