/* test_sim.c -- the engine end to end, in process: determinism of the
 * trace, partitions that drop and heal, crashes, corruption caught by the
 * receiver's MAC, serialization charged in simulated time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/scn.h"
#include "sim/sim.h"
#include "tests/suites.h"
#include "util/hash.h"

static const char base_yaml[] =
    "name: engine\n"
    "seed: 7\n"
    "duration: 4s\n"
    "network:\n"
    "  latency: {model: uniform, min: 5ms, max: 30ms}\n"
    "  jitter: 1ms\n"
    "  bandwidth: 1Gbps\n"
    "nodes:\n"
    "  count: 200\n"
    "  regions: [{name: a, fraction: 0.5}, {name: b, fraction: 0.5}]\n"
    "gossip: {mode: pushpull, fanout: 4, pull_interval: 200ms}\n"
    "workload: {messages: 100, rate: 100/s, size: 1KiB}\n"
    "output: {sample_interval: 0}\n";

static scn_scenario *load(const char *const *overrides, size_t count)
{
    scn_scenario *scenario = NULL;
    scn_error error;
    ck_assert_int_eq(util_hash_init(), 0);
    int rc = scn_load_string("engine.yaml", base_yaml, overrides, count, &scenario, &error);
    ck_assert_msg(rc == 0, "load failed: %d:%d %s", error.line, error.column, error.message);
    return scenario;
}

static sim_result *run(const char *const *overrides, size_t count)
{
    scn_scenario *scenario = load(overrides, count);
    sim_result *result = NULL;
    ck_assert_int_eq(sim_run(scenario, NULL, NULL, &result), 0);
    scn_destroy(scenario);
    return result;
}

static double metric(const sim_result *result, const char *name)
{
    double value = -1.0;
    ck_assert_int_eq(sim_result_metric(result, name, &value), 0);
    return value;
}

START_TEST(test_sim_run_same_seed_same_trace)
{
    sim_result *first = run(NULL, 0);
    sim_result *second = run(NULL, 0);
    ck_assert_uint_gt(first->events, 1000);
    ck_assert_uint_eq(first->trace_hash, second->trace_hash);
    ck_assert_uint_eq(first->events, second->events);
    ck_assert_uint_eq(first->deliveries, second->deliveries);
    ck_assert_int_eq(memcmp(first->nodes, second->nodes, first->node_count * sizeof(*first->nodes)),
                     0);
    sim_result_destroy(first);
    sim_result_destroy(second);
}
END_TEST

START_TEST(test_sim_run_other_seed_other_trace)
{
    const char *const other[] = {"seed=8"};
    sim_result *first = run(NULL, 0);
    sim_result *second = run(other, 1);
    ck_assert_uint_ne(first->trace_hash, second->trace_hash);
    sim_result_destroy(first);
    sim_result_destroy(second);
}
END_TEST

START_TEST(test_sim_gossip_delivers_everything)
{
    sim_result *result = run(NULL, 0);
    ck_assert_uint_eq(result->rumors_published, 100);
    ck_assert_double_eq(metric(result, "delivery_ratio"), 1.0);
    /* Link latency is at least 5 ms, so no delivery is faster. */
    ck_assert_double_ge(metric(result, "latency_p50"), 5e6);
    ck_assert_uint_gt(result->duplicates, 0);
    sim_result_destroy(result);
}
END_TEST

/* A partition between the two regions for the whole run: push-only gossip
 * cannot cross it, so over half the nodes miss each rumor (the forwards
 * lost at the cut also thin the epidemic inside each half). */
START_TEST(test_sim_partition_drops)
{
    const char *const cut[] = {"gossip.mode=push", "faults.0.kind=partition",
                               "faults.0.at=0s", "faults.0.shape=regions"};
    sim_result *result = run(cut, 4);
    double ratio = metric(result, "delivery_ratio");
    ck_assert_double_lt(ratio, 0.5);
    ck_assert_double_gt(ratio, 0.25);
    ck_assert_uint_gt(result->types[NODE_MESSAGE_RUMOR].dropped[NET_DROP_PARTITION], 0);
    sim_result_destroy(result);
}
END_TEST

/* The same partition healed at 1.5 s: push-pull anti-entropy then spreads
 * every rumor across, so delivery is complete again. */
START_TEST(test_sim_partition_heal_restores_delivery)
{
    const char *const healed[] = {"faults.0.kind=partition", "faults.0.at=0s",
                                  "faults.0.until=1500ms", "faults.0.shape=regions"};
    sim_result *result = run(healed, 4);
    ck_assert_uint_gt(result->types[NODE_MESSAGE_RUMOR].dropped[NET_DROP_PARTITION], 0);
    ck_assert_double_eq(metric(result, "delivery_ratio"), 1.0);
    /* Rumors published during the cut waited for the heal. */
    ck_assert_double_gt(metric(result, "latency_max"), 5e8);
    sim_result_destroy(result);
}
END_TEST

START_TEST(test_sim_crash_then_recover)
{
    const char *const crash[] = {"faults.0.kind=crash", "faults.0.at=100ms",
                                 "faults.0.until=2s", "faults.0.nodes.range=0-49"};
    sim_result *result = run(crash, 4);
    for (uint32_t i = 0; i < 50; i++) {
        ck_assert_uint_eq(result->nodes[i].crashes, 1);
    }
    ck_assert_uint_eq(result->nodes[50].crashes, 0);
    ck_assert_uint_gt(result->types[NODE_MESSAGE_RUMOR].dropped[NET_DROP_CRASHED], 0);
    /* After recovery, anti-entropy catches the crashed nodes up. */
    ck_assert_double_eq(metric(result, "delivery_ratio"), 1.0);
    sim_result_destroy(result);
}
END_TEST

START_TEST(test_sim_corruption_rejected_by_mac)
{
    const char *const corrupt[] = {"network.corrupt=0.05"};
    sim_result *result = run(corrupt, 1);
    uint64_t corrupted = result->types[NODE_MESSAGE_RUMOR].corrupted +
                         result->types[NODE_MESSAGE_PULL].corrupted;
    uint64_t rejected = result->types[NODE_MESSAGE_RUMOR].rejected +
                        result->types[NODE_MESSAGE_PULL].rejected;
    ck_assert_uint_gt(corrupted, 100);
    /* Every corrupted copy that arrived was caught; nothing else was. */
    ck_assert_uint_eq(rejected, corrupted);
    ck_assert_double_eq(metric(result, "delivery_ratio"), 1.0);
    sim_result_destroy(result);
}
END_TEST

/* One rumor of 1 MiB over 100 Mbit/s links with a constant 10 ms latency:
 * each hop costs 83.9 ms of serialization plus 10 ms. */
START_TEST(test_sim_serialization_charged)
{
    const char *const slow[] = {
        "network.latency.model=constant", "network.latency.value=10ms",
        "network.jitter=0",               "network.bandwidth=100Mbps",
        "workload.messages=1",            "workload.size=1MiB",
        "gossip.mode=push",               "gossip.fanout=1",
    };
    sim_result *result = run(slow, 8);
    double first = (double)util_hist_quantile(&result->latency, 0.0);
    ck_assert_double_ge(first, 93.8e6 * 0.98);
    ck_assert_double_le(first, 93.9e6 * 1.02);
    sim_result_destroy(result);
}
END_TEST

START_TEST(test_sim_metric_unknown_name)
{
    sim_result *result = run(NULL, 0);
    double value = 0;
    ck_assert_int_eq(sim_result_metric(result, "no_such_metric", &value), SIM_EINVAL);
    for (size_t i = 0; scn_expect_metrics[i] != NULL; i++) {
        ck_assert_int_eq(sim_result_metric(result, scn_expect_metrics[i], &value), 0);
    }
    sim_result_destroy(result);
}
END_TEST

Suite *test_sim_suite(void)
{
    Suite *suite = suite_create("sim");
    TCase *trace = tcase_create("trace");
    tcase_set_timeout(trace, 60);
    tcase_add_test(trace, test_sim_run_same_seed_same_trace);
    tcase_add_test(trace, test_sim_run_other_seed_other_trace);
    suite_add_tcase(suite, trace);
    TCase *world = tcase_create("world");
    tcase_set_timeout(world, 60);
    tcase_add_test(world, test_sim_gossip_delivers_everything);
    tcase_add_test(world, test_sim_partition_drops);
    tcase_add_test(world, test_sim_partition_heal_restores_delivery);
    tcase_add_test(world, test_sim_crash_then_recover);
    tcase_add_test(world, test_sim_corruption_rejected_by_mac);
    tcase_add_test(world, test_sim_serialization_charged);
    tcase_add_test(world, test_sim_metric_unknown_name);
    suite_add_tcase(suite, world);
    return suite;
}
