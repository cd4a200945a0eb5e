/* test_churn.c -- churn: nodes joining and leaving (world/world_churn.c,
 * sim/churn.c). A world is built and driven by hand to check placement and
 * routes after each join and leave; scenarios/inference_churn.yaml runs
 * with and without failover; a run without a churn section keeps its
 * trace. */
#include <check.h>
#include <string.h>

#include "node/node.h"
#include "scenarios/scn.h"
#include "tests/suites.h"
#include "util/hash.h"
#include "world/world_engine.h"

/* scenarios/inference_server_failover.yaml's trace before churn existed. */
#define TEST_CHURN_FAILOVER_TRACE UINT64_C(0xc184206e64a1a327)

static const char churn_yaml[] =
    "seed: 5\n"
    "duration: 10s\n"
    "nodes:\n"
    "  count: 40\n"
    "model:\n"
    "  shape: {dim: 16, hidden_dim: 32, layers: 4, heads: 4, vocab: 64, seq_len: 32}\n"
    "  segments: 4\n"
    "workload: {requests: 20, failover: true}\n"
    "churn: {join_rate: 1/s, leave_rate: 1/s, initially_online: 0.5}\n";

/* A world built as the simulator builds it, without the engine. */
static void churn_world_build(world_state *world, scn_scenario **scenario_out,
                              const char *const *overrides, size_t count)
{
    scn_error error;
    ck_assert_int_eq(util_hash_init(), 0);
    int rc = scn_load_string("churn.yaml", churn_yaml, overrides, count, scenario_out, &error);
    ck_assert_msg(rc == 0, "%d:%d: %s", error.line, error.column, error.message);
    memset(world, 0, sizeof(*world));
    world->scenario = *scenario_out;
    world->node_count = (*scenario_out)->nodes.count;
    world->inference = true;
    ck_assert_int_eq(world_build(world), 0);
}

static void churn_world_destroy(world_state *world, scn_scenario *scenario)
{
    world_result *result = world->result;
    world_destroy(world);
    world_result_destroy(result);
    scn_destroy(scenario);
}

/* The fewest live servers among the segments. */
static uint32_t live_min(const world_state *world)
{
    uint32_t least = UINT32_MAX;
    for (uint32_t s = 0; s < world->scenario->model.segment_count; s++) {
        least = world->churn.live[s] < least ? world->churn.live[s] : least;
    }
    return least;
}

/* Half the nodes start offline; each join takes a segment that had the
 * fewest live servers just before it, so the segments fill evenly. */
START_TEST(test_churn_join_takes_least_served)
{
    world_state world;
    scn_scenario *scenario = NULL;
    churn_world_build(&world, &scenario, NULL, 0);
    ck_assert_uint_eq(world_churn_start(&world), 20);
    ck_assert_uint_eq(world.churn.online, 20);
    for (int k = 0; k < 20; k++) {
        uint32_t before[NODE_SEGMENTS_MAX];
        memcpy(before, world.churn.live, sizeof(before));
        uint32_t least = live_min(&world);
        uint32_t id = world_churn_join(&world);
        ck_assert_uint_ne(id, UINT32_MAX);
        const world_churn_record *row = &world.result->churn_events[k];
        ck_assert(row->join);
        ck_assert_uint_eq(row->node, id);
        ck_assert_int_ge(row->segment, 0);
        ck_assert_uint_eq(before[row->segment], least);
        ck_assert_uint_eq(world.churn.live[row->segment], least + 1);
    }
    ck_assert_uint_eq(world_churn_join(&world), UINT32_MAX); /* Nobody left offline. */
    ck_assert_uint_eq(world.result->churn_joins, 20);
    for (uint32_t s = 1; s < scenario->model.segment_count; s++) {
        int32_t spread = (int32_t)world.churn.live[s] - (int32_t)world.churn.live[0];
        ck_assert_int_le(spread < 0 ? -spread : spread, 1);
    }
    churn_world_destroy(&world, scenario);
}
END_TEST

/* Whether any of requests [first, last) at attempts 0..3 is routed to
 * 'server' for 'segment'. */
static bool routed_to(const world_state *world, uint32_t server, uint32_t segment,
                      uint64_t first, uint64_t last)
{
    for (uint64_t r = first; r < last; r++) {
        for (uint32_t a = 0; a < 4; a++) {
            if (node_route_attempt(&world->serving, 0, r, segment, a) == server) {
                return true;
            }
        }
    }
    return false;
}

/* A departed server is routed to by no request; a joined one only by the
 * requests submitted after it joined; a graceful leaver only by those
 * submitted before it left, until its drain ends. */
START_TEST(test_churn_routes_skip_departed)
{
    world_state world;
    scn_scenario *scenario = NULL;
    churn_world_build(&world, &scenario, NULL, 0);
    world_churn_start(&world);
    world.result->requests_submitted = 10;
    uint32_t joined = world_churn_join(&world);
    int32_t segment = world.result->churn_events[0].segment;
    ck_assert(!routed_to(&world, joined, (uint32_t)segment, 0, 10));
    ck_assert(routed_to(&world, joined, (uint32_t)segment, 10, 20));
    bool leaving = true;
    uint32_t left = UINT32_MAX;
    while (left != joined) { /* Leave until the joined node is the one that goes. */
        left = world_churn_leave(&world, &leaving);
        ck_assert_uint_ne(left, UINT32_MAX);
        ck_assert(!leaving); /* churn.leave: crash */
        for (uint32_t s = 0; s < scenario->model.segment_count; s++) {
            if (world.churn.live[s] > 0) {
                ck_assert(!routed_to(&world, left, s, 0, 20));
            }
        }
        if (world.churn.online == 0) {
            break;
        }
    }
    ck_assert_uint_eq(left, joined);
    churn_world_destroy(&world, scenario);

    const char *const graceful[] = {"churn.leave=graceful"};
    churn_world_build(&world, &scenario, graceful, 1);
    world_churn_start(&world);
    world.result->requests_submitted = 10;
    uint32_t node_id = UINT32_MAX;
    int32_t served = -1;
    while (served < 0) { /* A leaver that serves a segment. */
        node_id = world_churn_leave(&world, &leaving);
        served = world.result->churn_events[world.result->churn_event_count - 1].segment;
    }
    ck_assert(leaving);
    ck_assert(!routed_to(&world, node_id, (uint32_t)served, 10, 40));
    ck_assert(routed_to(&world, node_id, (uint32_t)served, 0, 10));
    ck_assert_uint_eq(world.serving.route_until_of[node_id], 10); /* It refuses, too. */
    world_churn_gone(&world, node_id);
    ck_assert(!routed_to(&world, node_id, (uint32_t)served, 0, 40));
    churn_world_destroy(&world, scenario);
}
END_TEST

/* Requests whose client was down when it submitted: failed at once. */
static uint64_t client_down(const world_result *result)
{
    uint64_t count = 0;
    for (uint64_t r = 0; r < result->request_count; r++) {
        const world_request_record *q = &result->requests[r];
        count += q->submitted && q->status == NODE_REQUEST_FAILED && q->first_token_ns == 0 &&
                 q->finished_ns == q->submitted_ns;
    }
    return count;
}

/* scenarios/inference_churn.yaml: with failover every completed request
 * has the reference's tokens and nearly every request whose client was up
 * completes; without failover fewer do. The churn rows agree with the
 * metrics, and the run repeats exactly. */
START_TEST(test_churn_scenario_failover_completes)
{
    const char *const off[] = {"workload.failover=false", "workload.step_timeout=null"};
    world_result *with = test_sim_run_file("scenarios/inference_churn.yaml", NULL, 0, 0);
    world_result *again = test_sim_run_file("scenarios/inference_churn.yaml", NULL, 0, 0);
    world_result *without = test_sim_run_file("scenarios/inference_churn.yaml", off, 2, 0);
    uint64_t up = with->requests_submitted - client_down(with);
    ck_assert_uint_ge(with->requests_completed + 5, up);
    ck_assert_uint_gt(with->failovers, 0);
    for (uint64_t r = 0; r < with->request_count; r++) {
        const world_request_record *q = &with->requests[r];
        if (q->status == NODE_REQUEST_COMPLETED) {
            ck_assert_msg(q->reference_match, "request %llu", (unsigned long long)r);
        }
    }
    ck_assert_uint_lt(without->requests_completed + 5, with->requests_completed);
    ck_assert_uint_eq(with->trace_hash, again->trace_hash);
    ck_assert_uint_eq(with->churn_joins + with->churn_leaves, with->churn_event_count);
    ck_assert_uint_gt(with->churn_joins, 20);
    ck_assert_uint_gt(with->churn_leaves, 20);
    double value = -1;
    ck_assert_int_eq(world_result_metric(with, "churn_joins", &value), 0);
    ck_assert_double_eq(value, (double)with->churn_joins);
    ck_assert_int_eq(world_result_metric(with, "segment_servers_min", &value), 0);
    ck_assert_double_ge(value, 1.0);
    world_result_destroy(with);
    world_result_destroy(again);
    world_result_destroy(without);
}
END_TEST

/* Without a churn section nothing changes: the failover scenario keeps
 * the trace it had before churn existed, and the churn metrics are NaN. */
START_TEST(test_churn_off_keeps_trace)
{
    world_result *result = test_sim_run_file("scenarios/inference_server_failover.yaml", NULL, 0, 0);
    ck_assert_uint_eq(result->trace_hash, TEST_CHURN_FAILOVER_TRACE);
    ck_assert(!result->churn_on);
    ck_assert_uint_eq(result->churn_event_count, 0);
    double value = 0;
    ck_assert_int_eq(world_result_metric(result, "churn_leaves", &value), 0);
    ck_assert(value != value);
    world_result_destroy(result);
}
END_TEST

Suite *test_churn_suite(void)
{
    Suite *suite = suite_create("churn");
    TCase *world = tcase_create("world");
    tcase_add_test(world, test_churn_join_takes_least_served);
    tcase_add_test(world, test_churn_routes_skip_departed);
    suite_add_tcase(suite, world);
    TCase *runs = tcase_create("runs");
    tcase_set_timeout(runs, 300);
    tcase_add_test(runs, test_churn_scenario_failover_completes);
    tcase_add_test(runs, test_churn_off_keeps_trace);
    suite_add_tcase(suite, runs);
    return suite;
}
