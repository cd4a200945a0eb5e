/* test_sim.c -- the engine end to end, in process: determinism of the
 * trace, partitions that drop and heal, crashes, corruption caught by the
 * receiver's MAC, serialization charged in simulated time; and the
 * in-flight store inside it: payloads shared by the copies of a message,
 * copy on write under corruption, every hold returned. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/scn.h"
#include "sim/sim.h"
#include "sim/sim_int.h"
#include "tests/suites.h"
#include "util/alloc.h"
#include "util/hash.h"
#include "util/hist.h"
#include "util/prng.h"

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

static world_result *run(const char *const *overrides, size_t count)
{
    return test_sim_run_yaml("engine.yaml", base_yaml, overrides, count, 0);
}

static double metric(const world_result *result, const char *name)
{
    double value = -1.0;
    ck_assert_int_eq(world_result_metric(result, name, &value), 0);
    return value;
}

START_TEST(test_sim_run_same_seed_same_trace)
{
    world_result *first = run(NULL, 0);
    world_result *second = run(NULL, 0);
    ck_assert_uint_gt(first->events, 1000);
    ck_assert_uint_eq(first->trace_hash, second->trace_hash);
    ck_assert_uint_eq(first->events, second->events);
    ck_assert_uint_eq(first->deliveries, second->deliveries);
    ck_assert_int_eq(memcmp(first->nodes, second->nodes, first->node_count * sizeof(*first->nodes)),
                     0);
    world_result_destroy(first);
    world_result_destroy(second);
}
END_TEST

START_TEST(test_sim_run_other_seed_other_trace)
{
    const char *const other[] = {"seed=8"};
    world_result *first = run(NULL, 0);
    world_result *second = run(other, 1);
    ck_assert_uint_ne(first->trace_hash, second->trace_hash);
    world_result_destroy(first);
    world_result_destroy(second);
}
END_TEST

START_TEST(test_sim_gossip_delivers_everything)
{
    world_result *result = run(NULL, 0);
    ck_assert_uint_eq(result->rumors_published, 100);
    ck_assert_double_eq(metric(result, "delivery_ratio"), 1.0);
    /* Link latency is at least 5 ms, so no delivery is faster. */
    ck_assert_double_ge(metric(result, "latency_p50"), 5e6);
    ck_assert_uint_gt(result->duplicates, 0);
    world_result_destroy(result);
}
END_TEST

/* A partition between the two regions for the whole run: push-only gossip
 * cannot cross it, so over half the nodes miss each rumor (the forwards
 * lost at the cut also thin the epidemic inside each half). */
START_TEST(test_sim_partition_drops)
{
    const char *const cut[] = {"gossip.mode=push", "faults.0.kind=partition",
                               "faults.0.at=0s", "faults.0.shape=regions"};
    world_result *result = run(cut, 4);
    double ratio = metric(result, "delivery_ratio");
    ck_assert_double_lt(ratio, 0.5);
    ck_assert_double_gt(ratio, 0.25);
    ck_assert_uint_gt(result->types[NODE_MESSAGE_RUMOR].dropped[WORLD_DROP_PARTITION], 0);
    world_result_destroy(result);
}
END_TEST

/* The same partition healed at 1.5 s: push-pull anti-entropy then spreads
 * every rumor across, so delivery is complete again. */
START_TEST(test_sim_partition_heal_restores_delivery)
{
    const char *const healed[] = {"faults.0.kind=partition", "faults.0.at=0s",
                                  "faults.0.until=1500ms", "faults.0.shape=regions"};
    world_result *result = run(healed, 4);
    ck_assert_uint_gt(result->types[NODE_MESSAGE_RUMOR].dropped[WORLD_DROP_PARTITION], 0);
    ck_assert_double_eq(metric(result, "delivery_ratio"), 1.0);
    /* Rumors published during the cut waited for the heal. */
    ck_assert_double_gt(metric(result, "latency_max"), 5e8);
    world_result_destroy(result);
}
END_TEST

START_TEST(test_sim_crash_then_recover)
{
    const char *const crash[] = {"faults.0.kind=crash", "faults.0.at=100ms",
                                 "faults.0.until=2s", "faults.0.nodes.range=0-49"};
    world_result *result = run(crash, 4);
    for (uint32_t i = 0; i < 50; i++) {
        ck_assert_uint_eq(result->nodes[i].crashes, 1);
    }
    ck_assert_uint_eq(result->nodes[50].crashes, 0);
    ck_assert_uint_gt(result->types[NODE_MESSAGE_RUMOR].dropped[WORLD_DROP_CRASHED], 0);
    /* After recovery, anti-entropy catches the crashed nodes up. */
    ck_assert_double_eq(metric(result, "delivery_ratio"), 1.0);
    world_result_destroy(result);
}
END_TEST

START_TEST(test_sim_corruption_rejected_by_mac)
{
    const char *const corrupt[] = {"network.corrupt=0.05"};
    world_result *result = run(corrupt, 1);
    uint64_t corrupted = result->types[NODE_MESSAGE_RUMOR].corrupted +
                         result->types[NODE_MESSAGE_PULL].corrupted;
    uint64_t rejected = result->types[NODE_MESSAGE_RUMOR].rejected +
                        result->types[NODE_MESSAGE_PULL].rejected;
    ck_assert_uint_gt(corrupted, 100);
    /* Every corrupted copy that arrived was caught; nothing else was. */
    ck_assert_uint_eq(rejected, corrupted);
    ck_assert_double_eq(metric(result, "delivery_ratio"), 1.0);
    world_result_destroy(result);
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
    world_result *result = run(slow, 8);
    double first = (double)util_hist_quantile(&result->latency, 0.0);
    ck_assert_double_ge(first, 93.8e6 * 0.98);
    ck_assert_double_le(first, 93.9e6 * 1.02);
    world_result_destroy(result);
}
END_TEST

START_TEST(test_sim_metric_unknown_name)
{
    world_result *result = run(NULL, 0);
    double value = 0;
    ck_assert_int_eq(world_result_metric(result, "no_such_metric", &value), WORLD_EINVAL);
    for (int m = 0; m < SCN_METRIC_COUNT; m++) {
        ck_assert_int_eq(world_result_metric(result, scn_metrics[m].name, &value), 0);
    }
    world_result_destroy(result);
}
END_TEST

/* ---- split inference ---- */

static const char inference_yaml[] =
    "name: serve\n"
    "seed: 5\n"
    "duration: 30s\n"
    "network: {latency: {model: uniform, min: 2ms, max: 20ms}, jitter: 1ms}\n"
    "nodes:\n"
    "  count: 40\n"
    "  classes:\n"
    "    - {name: ref, fraction: 0.25, flops: 2TFLOPS, kernel: sequential}\n"
    "    - {name: blk, fraction: 0.25, flops: 1TFLOPS, kernel: blocked}\n"
    "    - {name: fma, fraction: 0.25, flops: 1TFLOPS, kernel: fma}\n"
    "    - {name: b16, fraction: 0.25, flops: 500GFLOPS, kernel: bf16}\n"
    "model:\n"
    "  shape: {dim: 64, hidden_dim: 160, layers: 4, heads: 4, kv_heads: 2, vocab: 128, "
    "seq_len: 48}\n"
    "  segments: 4\n"
    "workload: {requests: 30, rate: 10/s, prompt_tokens: [4, 12], generate: 6}\n"
    "output: {sample_interval: 0}\n";

static world_result *run_inference(const char *const *overrides, size_t count)
{
    return test_sim_run_yaml("serve.yaml", inference_yaml, overrides, count, 0);
}

START_TEST(test_sim_inference_completes_and_is_deterministic)
{
    world_result *first = run_inference(NULL, 0);
    world_result *second = run_inference(NULL, 0);
    ck_assert_uint_eq(first->requests_submitted, 30);
    ck_assert_uint_eq(first->requests_completed, 30);
    ck_assert_uint_eq(first->tokens_out, 30 * 6);
    ck_assert_uint_eq(first->trace_hash, second->trace_hash);
    ck_assert_uint_eq(first->flops_total, second->flops_total);
    for (uint64_t r = 0; r < first->request_count; r++) {
        ck_assert(first->requests[r].compared);
        ck_assert_double_eq(first->requests[r].logits_maxabs, second->requests[r].logits_maxabs);
        /* Four segments, each on some server that really computed. */
        for (uint32_t s = 0; s < 4; s++) {
            const world_segment_record *seg = &first->segments[r * 4 + s];
            ck_assert_uint_eq(seg->calls, 6); /* prefill + 5 decode steps */
            ck_assert_uint_gt(seg->flops, 0);
            ck_assert_uint_le(seg->start_ns, seg->end_ns);
        }
    }
    world_result_destroy(first);
    world_result_destroy(second);
}
END_TEST

/* A bound far above what the run makes: the end-of-run figures scan the
 * records up to the highest id submitted (request_reach), and find what a
 * run bounded there finds. */
START_TEST(test_sim_inference_bound_beyond_reach)
{
    const char *const roomy[] = {"workload.requests=100000", "duration=2s"};
    world_result *wide = run_inference(roomy, 2);
    ck_assert_uint_gt(wide->requests_submitted, 5);
    ck_assert_uint_eq(wide->request_reach, wide->requests_submitted); /* ids from 0, in order */
    ck_assert_uint_lt(wide->request_reach, wide->request_count);
    char bound[64];
    snprintf(bound, sizeof(bound), "workload.requests=%llu",
             (unsigned long long)wide->request_reach);
    const char *const tight[] = {bound, "duration=2s"};
    world_result *narrow = run_inference(tight, 2);
    ck_assert_uint_eq(narrow->requests_submitted, wide->requests_submitted);
    static const char *const metrics[] = {"request_latency_p99", "first_token_p50",
                                          "reference_match_ratio"};
    for (size_t m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) {
        double a = NAN, b = NAN;
        ck_assert_int_eq(world_result_metric(wide, metrics[m], &a), 0);
        ck_assert_int_eq(world_result_metric(narrow, metrics[m], &b), 0);
        ck_assert_msg(isfinite(a) && a == b, "%s: %g against %g", metrics[m], a, b);
    }
    world_result_destroy(wide);
    world_result_destroy(narrow);
}
END_TEST

/* Only the reference kernel everywhere: the network's logits are the
 * reference's bit for bit, so every token matches. */
START_TEST(test_sim_inference_reference_kernel_matches_exactly)
{
    const char *const all_reference[] = {
        "nodes.classes.1.kernel=sequential", "nodes.classes.2.kernel=sequential",
        "nodes.classes.3.kernel=sequential"};
    world_result *result = run_inference(all_reference, 3);
    double match = 0;
    ck_assert_int_eq(world_result_metric(result, "reference_match_ratio", &match), 0);
    ck_assert_double_eq(match, 1.0);
    for (uint64_t r = 0; r < result->request_count; r++) {
        ck_assert_double_eq(result->requests[r].logits_maxabs, 0.0);
    }
    world_result_destroy(result);
}
END_TEST

/* Honest divergence: the reference kernel is exact, every other variant
 * drifts a little, bf16 the most; none changes what the model says. */
START_TEST(test_sim_inference_divergence_by_kernel)
{
    world_result *result = run_inference(NULL, 0);
    double drift[INFER_KERNEL_COUNT] = {0};
    for (uint64_t r = 0; r < result->request_count; r++) {
        for (uint32_t k = 0; k < INFER_KERNEL_COUNT; k++) {
            const world_divergence_record *d = &result->divergence[r * INFER_KERNEL_COUNT + k];
            if (!result->kernel_used[k]) {
                continue; /* q8: no class runs it here */
            }
            drift[k] = d->logits_maxabs > drift[k] ? d->logits_maxabs : drift[k];
            ck_assert_double_gt(d->logits_cosine, 0.999);
        }
    }
    ck_assert_double_eq(drift[INFER_KERNEL_SEQUENTIAL], 0.0);
    ck_assert_double_gt(drift[INFER_KERNEL_BLOCKED], 0.0);
    ck_assert_double_gt(drift[INFER_KERNEL_FMA], 0.0);
    ck_assert_double_gt(drift[INFER_KERNEL_BF16], drift[INFER_KERNEL_BLOCKED]);
    world_result_destroy(result);
}
END_TEST

/* A class on the q8 kernel (int8 matmuls): the oracle measures its drift
 * like any variant's -- larger than the float kernels', not zero, and the
 * logits still point the same way. */
START_TEST(test_sim_inference_q8_kernel_measured)
{
    const char *const q8[] = {"nodes.classes.3.kernel=q8"};
    world_result *result = run_inference(q8, 1);
    ck_assert(result->kernel_used[INFER_KERNEL_Q8]);
    double drift_q8 = 0, drift_blocked = 0;
    for (uint64_t r = 0; r < result->request_count; r++) {
        ck_assert(result->requests[r].compared);
        const world_divergence_record *d = &result->divergence[r * INFER_KERNEL_COUNT];
        drift_q8 = fmax(drift_q8, d[INFER_KERNEL_Q8].logits_maxabs);
        drift_blocked = fmax(drift_blocked, d[INFER_KERNEL_BLOCKED].logits_maxabs);
        ck_assert_double_gt(d[INFER_KERNEL_Q8].logits_cosine, 0.999);
    }
    ck_assert_double_gt(drift_q8, drift_blocked);
    ck_assert_double_gt(drift_blocked, 0.0);
    world_result_destroy(result);
}
END_TEST

/* int8 activations on the wire are a lossy encoding: the logits move. */
START_TEST(test_sim_inference_int8_wire_drifts)
{
    const char *const int8[] = {"model.wire_dtype=int8", "nodes.classes.1.kernel=sequential",
                                "nodes.classes.2.kernel=sequential",
                                "nodes.classes.3.kernel=sequential"};
    world_result *result = run_inference(int8, 4);
    double worst = 0.0;
    for (uint64_t r = 0; r < result->request_count; r++) {
        worst = result->requests[r].logits_maxabs > worst ? result->requests[r].logits_maxabs
                                                          : worst;
    }
    ck_assert_double_gt(worst, 0.0);
    ck_assert_uint_gt(result->activation_bytes, 0);
    world_result_destroy(result);
}
END_TEST

/* One KV slot per server and a burst of requests: servers refuse what they
 * cannot hold, and those requests fail instead of hanging. */
START_TEST(test_sim_inference_kv_slots_refuse)
{
    const char *const tight[] = {"model.kv_slots=1", "model.replicas=1",
                                 "workload.arrival=constant", "workload.rate=1000/s"};
    world_result *result = run_inference(tight, 4);
    ck_assert_uint_gt(result->busy_refusals, 0);
    ck_assert_uint_lt(result->requests_completed, 30);
    uint64_t failed = 0;
    for (uint64_t r = 0; r < result->request_count; r++) {
        failed += result->requests[r].status == NODE_REQUEST_FAILED;
    }
    ck_assert_uint_eq(failed + result->requests_completed, 30);
    world_result_destroy(result);
}
END_TEST

/* Half the nodes, every server among them (two per segment, the lowest
 * ids when memory is equal), crash for good at 1 s: requests in flight
 * and later ones time out, or fail when their client is down. */
START_TEST(test_sim_inference_crash_times_out)
{
    const char *const crash[] = {"faults.0.kind=crash", "faults.0.at=1s",
                                 "faults.0.nodes.range=0-19", "workload.timeout=2s",
                                 "model.replicas=2"};
    world_result *result = run_inference(crash, 5);
    uint64_t timeouts = 0;
    for (uint64_t r = 0; r < result->request_count; r++) {
        timeouts += result->requests[r].status == NODE_REQUEST_TIMEOUT;
    }
    ck_assert_uint_gt(timeouts, 0);
    ck_assert_uint_lt(result->requests_completed, 30);
    world_result_destroy(result);
}
END_TEST

/* Every node crashes for four seconds, longer than the 2 s timeout: the
 * requests in flight lose their messages, and their clients' timeouts fire
 * while the clients are down and are lost. The recovered clients re-arm
 * them, so no request is left unfinished. */
START_TEST(test_sim_inference_client_crash_recovers_timeouts)
{
    const char *const crash[] = {"faults.0.kind=crash", "faults.0.at=1s",
                                 "faults.0.until=5s", "faults.0.nodes=all",
                                 "workload.timeout=2s"};
    world_result *result = run_inference(crash, 5);
    uint64_t timeouts = 0;
    for (uint64_t r = 0; r < result->request_count; r++) {
        const world_request_record *q = &result->requests[r];
        if (q->submitted) {
            ck_assert_uint_ne(q->status, 0);
        }
        timeouts += q->status == NODE_REQUEST_TIMEOUT;
    }
    ck_assert_uint_gt(timeouts, 0);
    world_result_destroy(result);
}
END_TEST

/* The four servers (one per segment, nodes 0-3), one KV slot each, crash
 * from 1.2 s to 5 s, longer than the 2 s timeout, while the request sent at
 * 1 s holds a cache on them: the caches outlive both their leases and the
 * client's end message, which is lost. The leases still end on time, so
 * after the recovery every request (one a second) is served; were they
 * lost with the crash, the servers would refuse every request for good. */
START_TEST(test_sim_inference_kv_leases_end_while_down)
{
    const char *const crash[] = {"model.kv_slots=1", "model.replicas=1",
                                 "workload.rate=1/s", "workload.arrival=constant",
                                 "workload.timeout=2s", "faults.0.kind=crash",
                                 "faults.0.at=1200ms", "faults.0.until=5s",
                                 "faults.0.nodes.range=0-3"};
    world_result *result = run_inference(crash, 9);
    ck_assert_uint_eq(result->requests[0].status, NODE_REQUEST_TIMEOUT);
    uint32_t after = 0;
    for (uint64_t r = 0; r < result->request_count; r++) {
        const world_request_record *q = &result->requests[r];
        if (q->submitted_ns >= 5000000000u && q->status != 0) {
            after += 1;
            ck_assert_uint_eq(q->status, NODE_REQUEST_COMPLETED);
        }
    }
    ck_assert_uint_ge(after, 20);
    ck_assert_uint_eq(result->busy_refusals, 0);
    world_result_destroy(result);
}
END_TEST

/* A class without the memory for any segment never serves one. */
START_TEST(test_sim_inference_placement_respects_memory)
{
    const char *const small[] = {"nodes.classes.3.memory=1KiB"};
    world_result *result = run_inference(small, 1);
    for (uint64_t r = 0; r < result->request_count; r++) {
        for (uint32_t s = 0; s < 4; s++) {
            uint32_t server = result->segments[r * 4 + s].node_id;
            ck_assert_uint_ne(result->class_of[server], 3);
        }
    }
    ck_assert_uint_eq(result->requests_completed, 30);
    world_result_destroy(result);
}
END_TEST

/* A llama2.c checkpoint written from the seed model serves exactly like
 * the seed model: the same weights, loaded from a file, give the same run. */
START_TEST(test_sim_inference_checkpoint_file_same_run)
{
    infer_shape shape = {64, 160, 4, 4, 2, 128, 48, true};
    infer_model *model = NULL;
    char why[128];
    ck_assert_int_eq(infer_model_from_seed(&shape, 9, &model, why, sizeof(why)), 0);
    uint8_t *bytes = NULL;
    size_t size = 0;
    ck_assert_int_eq(infer_model_to_checkpoint(model, &bytes, &size), 0);
    char path[] = "/tmp/infersim-ckpt-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *file = fdopen(fd, "wb");
    ck_assert_uint_eq(fwrite(bytes, 1, size, file), size);
    fclose(file);
    util_free(bytes);
    infer_model_destroy(model);

    char file_override[128];
    snprintf(file_override, sizeof(file_override), "model.file=%s", path);
    const char *const from_file[] = {"model.source=file", file_override, "model.shape="};
    const char *const from_seed[] = {"model.seed=9"};
    world_result *loaded = run_inference(from_file, 3);
    world_result *seeded = run_inference(from_seed, 1);
    unlink(path);
    ck_assert_uint_eq(loaded->requests_completed, 30);
    ck_assert_uint_eq(loaded->trace_hash, seeded->trace_hash);
    ck_assert_uint_eq(loaded->flops_total, seeded->flops_total);
    for (uint64_t r = 0; r < loaded->request_count; r++) {
        ck_assert_double_eq(loaded->requests[r].logits_maxabs, seeded->requests[r].logits_maxabs);
    }
    world_result_destroy(loaded);
    world_result_destroy(seeded);
}
END_TEST

/* Duplicated messages are computed once: the copies are recognised by the
 * KV cache (or the client's step) and dropped, and nothing fails. */
START_TEST(test_sim_inference_duplicates_computed_once)
{
    const char *const dup[] = {"network.duplicate=0.3"};
    world_result *clean = run_inference(NULL, 0);
    world_result *result = run_inference(dup, 1);
    ck_assert_uint_eq(result->requests_completed, 30);
    ck_assert_uint_gt(result->duplicates, 10);
    ck_assert_uint_eq(result->flops_total, clean->flops_total);
    world_result_destroy(result);
    world_result_destroy(clean);
}
END_TEST

/* ---- committee verification ---- */

static const char committee_yaml[] =
    "name: committee\n"
    "seed: 3\n"
    "duration: 30s\n"
    "network: {latency: {model: uniform, min: 5ms, max: 20ms}}\n"
    "nodes:\n"
    "  count: 60\n"
    "  classes:\n"
    "    - {name: a, fraction: 0.34, flops: 50TFLOPS, kernel: fma}\n"
    "    - {name: b, fraction: 0.33, flops: 50TFLOPS, kernel: blocked}\n"
    "    - {name: c, fraction: 0.33, flops: 20TFLOPS, kernel: bf16}\n"
    "model:\n"
    "  shape: {dim: 64, hidden_dim: 172, layers: 4, heads: 4, vocab: 256, seq_len: 64}\n"
    "  segments: 2\n"
    "  kv_slots: 16\n"
    "verification: {protocol: committee, committee: 5, quorum: 3}\n"
    "workload: {requests: 40, rate: 4/s, prompt_tokens: [8, 12], generate: 4}\n"
    "output: {sample_interval: 0}\n";

static world_result *run_committee(const char *const *overrides, size_t count)
{
    return test_sim_run_yaml("committee.yaml", committee_yaml, overrides, count, 0);
}

static int test_sim_compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank quantile q of values[0 .. n), sorted here. */
static double test_sim_nearest_rank(uint64_t *values, uint64_t n, double q)
{
    qsort(values, n, sizeof(*values), test_sim_compare_u64);
    uint64_t rank = (uint64_t)ceil(q * (double)n);
    return (double)values[rank == 0 ? 0 : rank - 1];
}

/* Percentiles of per-request durations are exact (nearest rank over the
 * request records), not histogram bucket edges; the histograms stay within
 * their 1/64 bound of them. */
START_TEST(test_sim_inference_percentiles_exact)
{
    world_result *result = run_committee(NULL, 0);
    uint64_t latency[64], first[64], n = 0, m = 0;
    ck_assert_uint_le(result->request_count, 64);
    for (uint64_t r = 0; r < result->request_count; r++) {
        const world_request_record *record = &result->requests[r];
        if (record->status == NODE_REQUEST_COMPLETED) {
            latency[n++] = record->finished_ns - record->submitted_ns;
        }
        if (record->first_token_ns != 0) {
            first[m++] = record->first_token_ns - record->submitted_ns;
        }
    }
    ck_assert_uint_gt(n, 10);
    const double qs[] = {0.50, 0.95, 0.99};
    const char *const names[] = {"request_latency_p50", "request_latency_p95",
                                 "request_latency_p99"};
    for (int i = 0; i < 3; i++) {
        double exact = test_sim_nearest_rank(latency, n, qs[i]);
        ck_assert_double_eq(metric(result, names[i]), exact);
        double binned = util_hist_metric(&result->request_latency, qs[i]);
        ck_assert_double_le(fabs(binned - exact), exact / 64.0 + 1.0);
    }
    /* Committee verification: finality is the latency (no challenge window). */
    ck_assert_double_eq(metric(result, "finality_p50"), test_sim_nearest_rank(latency, n, 0.5));
    ck_assert_double_eq(metric(result, "finality_p99"), test_sim_nearest_rank(latency, n, 0.99));
    ck_assert_double_eq(metric(result, "first_token_p50"), test_sim_nearest_rank(first, m, 0.5));
    world_result_destroy(result);
    /* An optimistic run adds the challenge window to every completed request. */
    const char *const optimistic[] = {"verification.protocol=optimistic",
                                      "verification.challenge_window=250ms"};
    result = run_inference(optimistic, 2);
    n = 0;
    for (uint64_t r = 0; r < result->request_count; r++) {
        const world_request_record *record = &result->requests[r];
        if (record->status == NODE_REQUEST_COMPLETED) {
            latency[n++] = record->finished_ns - record->submitted_ns + 250000000u;
        }
    }
    ck_assert_uint_gt(n, 0);
    ck_assert_double_eq(metric(result, "finality_p99"), test_sim_nearest_rank(latency, n, 0.99));
    world_result_destroy(result);
}
END_TEST

/* Honest members on three kernels: a tolerant rule accepts their drift,
 * penalises nobody and accepts nothing wrong; the same run twice is the
 * same run. */
START_TEST(test_sim_committee_tolerant_honest)
{
    world_result *first = run_committee(NULL, 0);
    world_result *second = run_committee(NULL, 0);
    ck_assert_uint_eq(first->requests_completed, 40);
    ck_assert_uint_eq(first->accepted_wrong, 0);
    ck_assert_uint_eq(first->honest_penalised, 0);
    ck_assert_uint_eq(first->trace_hash, second->trace_hash);
    for (uint32_t i = 0; i < first->node_count; i++) {
        ck_assert_double_ge(first->reputation[i], 1.0); /* Only ever rewarded. */
        ck_assert_double_eq(first->reputation[i], second->reputation[i]);
    }
    world_result_destroy(first);
    world_result_destroy(second);
}
END_TEST

/* workload.until all_served: arrivals stop once every node has made a
 * forward call, at most one already drawn arriving after; the same
 * workload without it submits every request. Same trace on 1 and 2
 * threads. */
START_TEST(test_sim_workload_until_all_served)
{
    const char *const until[] = {"workload.requests=400", "duration=200s",
                                 "workload.until=all_served"};
    world_result *early = test_sim_run_yaml("committee.yaml", committee_yaml, until, 3, 1);
    world_result *two = test_sim_run_yaml("committee.yaml", committee_yaml, until, 3, 2);
    world_result *every = run_committee(until, 2);
    ck_assert_uint_eq(early->nodes_served, early->node_count);
    ck_assert_uint_lt(early->requests_submitted, 400);
    uint64_t after = 0, last_ns = 0;
    for (uint64_t r = 0; r < early->request_count; r++) {
        const world_request_record *q = &early->requests[r];
        after += q->submitted && q->submitted_ns > early->all_served_ns;
        last_ns = q->submitted && q->submitted_ns > last_ns ? q->submitted_ns : last_ns;
    }
    ck_assert_uint_le(after, 1);
    ck_assert_uint_gt(last_ns, 0);
    ck_assert_double_eq(metric(early, "nodes_served"), (double)early->node_count);
    ck_assert_double_eq(metric(early, "all_served_ns"), (double)early->all_served_ns);
    ck_assert_uint_eq(two->trace_hash, early->trace_hash);
    ck_assert_uint_eq(two->requests_submitted, early->requests_submitted);
    ck_assert_uint_eq(every->requests_submitted, 400);
    ck_assert_uint_eq(every->nodes_served, every->node_count);
    ck_assert_uint_eq(every->all_served_ns, early->all_served_ns); /* same run until then */
    world_result_destroy(early);
    world_result_destroy(two);
    world_result_destroy(every);
}
END_TEST

/* A node that never serves keeps the workload going: with a class that
 * cannot hold a segment, every request is submitted and all_served_ns is
 * not defined. */
START_TEST(test_sim_workload_until_needs_every_node)
{
    const char *const until[] = {"workload.requests=120", "duration=200s",
                                 "workload.until=all_served", "nodes.classes.2.memory=1KiB"};
    world_result *result = run_committee(until, 4);
    ck_assert_uint_eq(result->requests_submitted, 120);
    ck_assert_uint_gt(result->nodes_served, 0);
    ck_assert_uint_lt(result->nodes_served, result->node_count);
    ck_assert(isnan(metric(result, "all_served_ns")));
    world_result_destroy(result);
}
END_TEST

/* The same honest network under the exact rule: honest drift between
 * kernels is read as disagreement, and honest members are penalised -- the
 * checker must see it. */
START_TEST(test_sim_committee_exact_penalises_honest)
{
    const char *const exact[] = {"verification.agreement.rule=exact"};
    world_result *result = run_committee(exact, 1);
    ck_assert_uint_gt(result->honest_penalised, 10);
    ck_assert_uint_gt(result->violation_count, 10);
    ck_assert_int_eq(result->violations[0].kind, WORLD_VIOLATION_HONEST_PENALISED);
    world_result_destroy(result);
}
END_TEST

/* A lone forger adds noise: it never reaches a quorum, loses reputation,
 * and nothing wrong is accepted. */
START_TEST(test_sim_committee_wrong_output_caught)
{
    const char *const forger[] = {"faults.0.kind=wrong_output", "faults.0.at=0s",
                                  "faults.0.nodes.fraction=0.2", "verification.slash=0.1"};
    world_result *result = run_committee(forger, 4);
    double honest = 0, byzantine = 0;
    ck_assert_int_eq(world_result_metric(result, "reputation_honest_mean", &honest), 0);
    ck_assert_int_eq(world_result_metric(result, "reputation_byzantine_mean", &byzantine), 0);
    ck_assert_uint_eq(result->accepted_wrong, 0);
    ck_assert_uint_eq(result->requests_completed, 40);
    ck_assert_double_lt(byzantine, 0.9);
    ck_assert_double_gt(honest, 1.0);
    /* Proven deviations cost stake; honest stakes are untouched. */
    ck_assert_double_gt(result->stake_slashed, 0.0);
    for (uint32_t i = 0; i < result->node_count; i++) {
        if (result->behaviour_of[i] == NODE_BEHAVIOUR_HONEST) {
            ck_assert_double_eq(result->stake[i], 1.0);
        }
    }
    world_result_destroy(result);
}
END_TEST

/* A cartel below the quorum is outvoted; a cartel that holds the quorum
 * in most committees gets its wrong output accepted and the honest
 * minority penalised: the safety checker must fire. */
START_TEST(test_sim_committee_cartel_below_and_above_quorum)
{
    const char *const small[] = {"faults.0.kind=collude", "faults.0.at=0s",
                                 "faults.0.nodes.fraction=0.2"};
    const char *const large[] = {"faults.0.kind=collude", "faults.0.at=0s",
                                 "faults.0.nodes.fraction=0.7"};
    world_result *safe = run_committee(small, 3);
    world_result *captured = run_committee(large, 3);
    ck_assert_uint_eq(safe->accepted_wrong, 0);
    ck_assert_uint_gt(captured->accepted_wrong, 20);
    ck_assert_uint_gt(captured->honest_penalised, 0);
    bool seen = false;
    for (uint64_t i = 0; i < captured->violation_count; i++) {
        seen |= captured->violations[i].kind == WORLD_VIOLATION_ACCEPTED_WRONG;
    }
    ck_assert(seen);
    world_result_destroy(safe);
    world_result_destroy(captured);
}
END_TEST

/* Silent members time out the commit phase and are judged as deviating;
 * with commit-reveal off the protocol still decides from the reveals. */
START_TEST(test_sim_committee_silent_and_no_commit_reveal)
{
    const char *const silent[] = {"faults.0.kind=silent", "faults.0.at=0s",
                                  "faults.0.nodes.fraction=0.1",
                                  "verification.commit_reveal=false"};
    world_result *result = run_committee(silent, 4);
    double byzantine = 0;
    ck_assert_int_eq(world_result_metric(result, "reputation_byzantine_mean", &byzantine), 0);
    ck_assert_double_lt(byzantine, 1.0);
    ck_assert_uint_gt(result->requests_completed, 30);
    ck_assert_uint_eq(result->types[NODE_MESSAGE_INFER_COMMIT].sent, 0);
    ck_assert_uint_gt(result->types[NODE_MESSAGE_INFER_REVEAL].sent, 0);
    world_result_destroy(result);
}
END_TEST

/* Lazy copiers: without commitments they copy their way to the honest
 * reward while computing nothing; with commit-reveal their copies fail the
 * commitment and their reputation falls. */
START_TEST(test_sim_committee_lazy_copy_needs_commit_reveal)
{
    const char *const open_run[] = {"faults.0.kind=lazy_copy", "faults.0.at=0s",
                                    "faults.0.nodes.fraction=0.3",
                                    "verification.commit_reveal=false"};
    const char *const committed[] = {"faults.0.kind=lazy_copy", "faults.0.at=0s",
                                     "faults.0.nodes.fraction=0.3",
                                     "verification.commit_reveal=true"};
    world_result *prosper = run_committee(open_run, 4);
    world_result *caught = run_committee(committed, 4);
    double open_mean = 0, caught_mean = 0;
    ck_assert_int_eq(world_result_metric(prosper, "reputation_byzantine_mean", &open_mean), 0);
    ck_assert_int_eq(world_result_metric(caught, "reputation_byzantine_mean", &caught_mean), 0);
    ck_assert_double_gt(open_mean, 1.0);
    ck_assert_double_lt(caught_mean, 0.5);
    ck_assert_uint_eq(prosper->accepted_wrong, 0);
    ck_assert_uint_eq(caught->accepted_wrong, 0);
    /* The copiers did no arithmetic: fewer FLOPs than an honest network. */
    world_result *honest = run_committee(NULL, 0);
    ck_assert_uint_lt(prosper->flops_total, honest->flops_total);
    world_result_destroy(prosper);
    world_result_destroy(caught);
    world_result_destroy(honest);
}
END_TEST

/* Votes signed with ed25519: every corrupted commitment or reveal fails
 * its signature and is rejected, the signatures cost bytes on the wire, and
 * the protocol's outcome is what the MAC gives. */
START_TEST(test_sim_committee_ed25519_votes)
{
    const char *const mac[] = {"network.corrupt=0.05"};
    const char *const signed_votes[] = {"network.corrupt=0.05", "verification.crypto=ed25519"};
    world_result *tagged = run_committee(mac, 1);
    world_result *signed_run = run_committee(signed_votes, 2);
    const world_type_stats *commits = &signed_run->types[NODE_MESSAGE_INFER_COMMIT];
    ck_assert_uint_gt(commits->corrupted, 0);
    ck_assert_uint_eq(commits->rejected, commits->corrupted);
    ck_assert_uint_gt(commits->bytes_sent / commits->sent,
                      tagged->types[NODE_MESSAGE_INFER_COMMIT].bytes_sent /
                          tagged->types[NODE_MESSAGE_INFER_COMMIT].sent);
    /* Losing 5 % of every hop costs the same requests either way. */
    ck_assert_uint_eq(signed_run->requests_completed, tagged->requests_completed);
    ck_assert_uint_eq(signed_run->accepted_wrong, 0);
    world_result_destroy(tagged);
    world_result_destroy(signed_run);
}
END_TEST

/* Sybil identities share one stake, so stake-weighted sortition gives them
 * no more seats than one operator; an adaptive adversary corrupts members
 * after they are drawn and, with three corruptions, captures a committee. */
START_TEST(test_sim_committee_sybil_and_adaptive)
{
    const char *const sybil[] = {"faults.0.kind=sybil", "faults.0.at=0s",
                                 "faults.0.nodes.range=0-29"};
    const char *const adaptive[] = {"faults.0.kind=adaptive", "faults.0.at=0s",
                                    "faults.0.nodes=all", "faults.0.budget=3"};
    world_result *split = run_committee(sybil, 3);
    world_result *aimed = run_committee(adaptive, 4);
    ck_assert_uint_eq(split->accepted_wrong, 0);
    ck_assert_double_eq_tol(split->stake[0], 1.0 / 30.0, 1e-12);
    uint32_t taken = 0;
    for (uint32_t i = 0; i < aimed->node_count; i++) {
        taken += aimed->behaviour_of[i] != NODE_BEHAVIOUR_HONEST;
    }
    ck_assert_uint_eq(taken, 3);
    ck_assert_uint_ge(aimed->accepted_wrong, 1);
    world_result_destroy(split);
    world_result_destroy(aimed);
}
END_TEST

/* The other two ways of being wrong: a substituted model (other weights)
 * and one corrupted layer. Both disagree with the honest members, lose
 * reputation, and never reach the quorum. */
START_TEST(test_sim_committee_wrong_model_and_layer)
{
    const char *const modes[] = {"faults.0.mode=model", "faults.0.mode=layer"};
    for (size_t i = 0; i < 2; i++) {
        const char *const forger[] = {"faults.0.kind=wrong_output", "faults.0.at=0s",
                                      "faults.0.nodes.fraction=0.2", modes[i]};
        world_result *result = run_committee(forger, 4);
        double byzantine = 0;
        ck_assert_int_eq(world_result_metric(result, "reputation_byzantine_mean", &byzantine), 0);
        ck_assert_double_lt(byzantine, 1.0);
        ck_assert_uint_eq(result->accepted_wrong, 0);
        ck_assert_uint_eq(result->honest_penalised, 0);
        world_result_destroy(result);
    }
}
END_TEST

/* Equivocators sign two different commitments: the pair is proof, their
 * votes are discarded, and they lose reputation and stake. */
START_TEST(test_sim_committee_equivocation_proven)
{
    const char *const equivocate[] = {"faults.0.kind=equivocate", "faults.0.at=0s",
                                      "faults.0.nodes.fraction=0.2", "verification.slash=0.2"};
    world_result *result = run_committee(equivocate, 4);
    double byzantine = 0;
    ck_assert_int_eq(world_result_metric(result, "reputation_byzantine_mean", &byzantine), 0);
    ck_assert_double_lt(byzantine, 0.6);
    ck_assert_double_gt(result->stake_slashed, 0.0);
    ck_assert_uint_eq(result->accepted_wrong, 0);
    ck_assert_uint_eq(result->honest_penalised, 0);
    ck_assert_uint_gt(result->types[NODE_MESSAGE_INFER_COMMIT].sent,
                      result->types[NODE_MESSAGE_INFER_REVEAL_ASK].sent);
    world_result_destroy(result);
}
END_TEST

/* Failover: a fifth of the nodes (0-7) crash from 1 s to 5 s. Without it a
 * request routed through a crashed server times out although its client is
 * up; with it the client replays on the next route after 200 ms, and every
 * request whose client stayed up completes with the reference's tokens
 * (one kernel everywhere: bit for bit). */
static void failover_count(const world_result *result, uint64_t *live, uint64_t *live_done,
                           uint64_t *failovers)
{
    *live = *live_done = *failovers = 0;
    for (uint64_t r = 0; r < result->request_count; r++) {
        const world_request_record *q = &result->requests[r];
        *failovers += q->failovers;
        if (!q->submitted || q->client <= 7) {
            continue;
        }
        *live += 1;
        if (q->status == NODE_REQUEST_COMPLETED) {
            *live_done += 1;
            ck_assert_msg(q->reference_match, "request %llu", (unsigned long long)r);
        }
    }
}

START_TEST(test_sim_inference_failover_replays)
{
    const char *const crash[] = {
        "faults.0.kind=crash", "faults.0.at=1s", "faults.0.until=5s",
        "faults.0.nodes.range=0-7", "workload.timeout=2s", "workload.requests=40",
        "nodes.classes.1.kernel=sequential", "nodes.classes.2.kernel=sequential",
        "nodes.classes.3.kernel=sequential", "workload.failover=true",
        "workload.step_timeout=200ms"};
    uint64_t live = 0, done = 0, failovers = 0;
    world_result *without = run_inference(crash, 9);
    failover_count(without, &live, &done, &failovers);
    ck_assert_uint_eq(failovers, 0);
    ck_assert_uint_eq(without->failovers, 0);
    ck_assert_uint_lt(done, live); /* Some live clients lost their request. */
    world_result_destroy(without);

    world_result *with = run_inference(crash, 11);
    failover_count(with, &live, &done, &failovers);
    ck_assert_uint_gt(live, 20);
    ck_assert_uint_eq(done, live);
    ck_assert_uint_gt(failovers, 0);
    ck_assert_uint_eq(failovers, with->failovers);
    ck_assert_double_eq(metric(with, "failovers"), (double)failovers);
    world_result *again = run_inference(crash, 11);
    ck_assert_uint_eq(with->trace_hash, again->trace_hash);
    world_result_destroy(again);
    world_result_destroy(with);
}
END_TEST

/* ---- routing ---- */

/* Runs scenarios/inference_routing_latency.yaml with the overrides. */
static world_result *run_routing(const char *const *overrides, size_t count)
{
    return test_sim_run_file("scenarios/inference_routing_latency.yaml", overrides, count, 0);
}

/* Latency routing keeps a request's route in its client's region on fast
 * servers: request latency p50 drops well below hash routing's, with the
 * same tokens as the reference, and the run repeats exactly. Picking among
 * every server (routing_choices past the servers per segment) is a random
 * permutation again, no better than the hash. */
START_TEST(test_sim_routing_latency_lowers_p50)
{
    const char *const hash[] = {"workload.routing=hash"};
    const char *const all[] = {"workload.routing_choices=1024"};
    /* Under ASan (make sanitize) two runs cover the code; make test makes
     * all four. */
    bool full = getenv("INFERSIM_SANITIZE") == NULL;
    world_result *by_hash = run_routing(hash, 1);
    world_result *by_latency = run_routing(NULL, 0);
    world_result *again = full ? run_routing(NULL, 0) : NULL;
    world_result *by_all = full ? run_routing(all, 1) : NULL;
    double p50_hash = metric(by_hash, "request_latency_p50");
    double p50_latency = metric(by_latency, "request_latency_p50");
    ck_assert_double_gt(p50_latency, 0.0);
    ck_assert_double_lt(p50_latency * 3.0, p50_hash);
    ck_assert_double_eq(metric(by_latency, "reference_match_ratio"), 1.0);
    ck_assert_double_eq(metric(by_hash, "reference_match_ratio"), 1.0);
    ck_assert_uint_eq(by_latency->requests_completed, by_latency->requests_submitted);
    ck_assert_uint_ne(by_latency->trace_hash, by_hash->trace_hash);
    if (full) {
        ck_assert_double_lt(p50_latency * 3.0, metric(by_all, "request_latency_p50"));
        ck_assert_uint_eq(by_latency->trace_hash, again->trace_hash);
        ck_assert_double_eq(metric(again, "request_latency_p50"), p50_latency);
        world_result_destroy(again);
        world_result_destroy(by_all);
    }
    world_result_destroy(by_hash);
    world_result_destroy(by_latency);
}
END_TEST

/* ---- the roofline ---- */

static const char roofline_yaml[] =
    "name: roofline\n"
    "seed: 3\n"
    "duration: 5s\n"
    "network: {latency: {model: constant, value: 1ms}}\n"
    "nodes:\n"
    "  count: 2\n"
    "  classes:\n"
    "    - {name: gpu, fraction: 1, flops: 1TFLOPS, memory_bandwidth: 100GB/s, "
    "overhead: 10us}\n"
    "model:\n"
    "  shape: {dim: 64, hidden_dim: 160, layers: 4, heads: 4, kv_heads: 2, vocab: 128, "
    "seq_len: 48}\n"
    "  segments: 1\n"
    "workload: {requests: 1, rate: 10/s, prompt_tokens: 32, generate: 1}\n"
    "output: {sample_interval: 0}\n";

/* The bytes one call moves, from the shape by hand (dim 64, kv_dim 32,
 * hidden 160, 4 layers, vocab 128): each layer's weights (two norms, wq and
 * wo, wk and wv, w1 w2 w3) read once, the KV cache over the context, the
 * activations in and out, the final norm, classifier and logits. */
static uint64_t roofline_bytes(uint32_t pos0, uint32_t count)
{
    uint64_t layer = 4 * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 64 * 160);
    uint64_t kv = 2 * 32 * 4 * (uint64_t)(pos0 + count);
    uint64_t activations = 2 * (uint64_t)count * 64 * 4;
    uint64_t last = 4 * (64 + 128 * 64 + 128);
    return 4 * (layer + kv) + activations + last;
}

/* One call's simulated time: the one segment's record spans it exactly
 * (one request, one call, an idle server). */
static uint64_t roofline_call_ns(const char *const *overrides, size_t count, uint64_t *flops,
                                 double *memory_bound)
{
    world_result *result = test_sim_run_yaml("roofline.yaml", roofline_yaml, overrides, count, 0);
    ck_assert_uint_eq(result->requests_completed, 1);
    const world_segment_record *seg = &result->segments[0];
    ck_assert_uint_eq(seg->calls, 1);
    *flops = seg->flops;
    *memory_bound = metric(result, "memory_bound_ratio");
    uint64_t ns = seg->end_ns - seg->start_ns;
    world_result_destroy(result);
    return ns;
}

/* A 32-token prefill does 16x the arithmetic per weight byte of a
 * one-token step: at 1 TFLOPS and 100 GB/s (ridge 10 FLOP/B) the prefill
 * is compute-bound and the step memory-bound, and each call lasts the
 * overhead plus the larger side, to the nanosecond. */
START_TEST(test_sim_roofline_prefill_compute_decode_memory)
{
    uint64_t flops = 0;
    double bound = -1;
    uint64_t prefill_ns = roofline_call_ns(NULL, 0, &flops, &bound);
    uint64_t flops_ns = (uint64_t)((double)flops * 1e9 / 1e12);
    uint64_t bytes_ns = (uint64_t)((double)roofline_bytes(0, 32) * 1e9 / 100e9);
    ck_assert_uint_gt(flops_ns, bytes_ns);
    ck_assert_uint_eq(prefill_ns, 10000 + flops_ns);
    ck_assert_double_eq(bound, 0.0);

    const char *const one_token[] = {"workload.prompt_tokens=1"};
    uint64_t step_ns = roofline_call_ns(one_token, 1, &flops, &bound);
    flops_ns = (uint64_t)((double)flops * 1e9 / 1e12);
    bytes_ns = (uint64_t)((double)roofline_bytes(0, 1) * 1e9 / 100e9);
    ck_assert_uint_gt(bytes_ns, 4 * flops_ns);
    ck_assert_uint_eq(step_ns, 10000 + bytes_ns);
    ck_assert_double_eq(bound, 1.0);

    /* Without a bandwidth the same step costs its FLOPs alone (today's model). */
    const char *const unbounded[] = {"workload.prompt_tokens=1",
                                     "nodes.classes.0.memory_bandwidth=0"};
    step_ns = roofline_call_ns(unbounded, 2, &flops, &bound);
    ck_assert_uint_eq(step_ns, 10000 + flops_ns);
    ck_assert_double_eq(bound, 0.0);
}
END_TEST

/* A whole generation: one compute-bound prefill, then memory-bound decode
 * steps (each reading the weights and a longer KV cache). */
START_TEST(test_sim_roofline_generation_ratio)
{
    const char *const generate[] = {"workload.generate=8"};
    world_result *result = test_sim_run_yaml("roofline.yaml", roofline_yaml, generate, 1, 0);
    ck_assert_uint_eq(result->requests_completed, 1);
    ck_assert_uint_eq(result->segments[0].calls, 8);
    ck_assert_double_eq_tol(metric(result, "memory_bound_ratio"), 7.0 / 8.0, 1e-12);
    world_result_destroy(result);
}
END_TEST

/* ---- continuous batching ---- */

/* Four servers of a two-segment model whose decode steps wait on memory
 * (100 MB/s): at 40 requests/s each server has steps waiting most of the
 * time. max_batch set per run. */
static const char batching_yaml[] =
    "name: batching\n"
    "seed: 5\n"
    "duration: 20s\n"
    "network: {latency: {model: uniform, min: 1ms, max: 3ms}}\n"
    "nodes:\n"
    "  count: 4\n"
    "  classes:\n"
    "    - {name: edge, fraction: 1, flops: 1TFLOPS, memory_bandwidth: 100MB/s, "
    "overhead: 20us}\n"
    "model:\n"
    "  shape: {dim: 64, hidden_dim: 160, layers: 4, heads: 4, kv_heads: 2, vocab: 128, "
    "seq_len: 48}\n"
    "  segments: 2\n"
    "  kv_slots: 64\n"
    "workload: {requests: 60, rate: 40/s, prompt_tokens: [4, 8], generate: 16}\n"
    "output: {sample_interval: 0}\n";

/* batching_yaml's trace on main, before batching existed. */
#define BATCHING_MAIN_TRACE_HASH UINT64_C(0xa1e97c45a1211093)

static world_result *run_batching(const char *max_batch)
{
    const char *const overrides[] = {max_batch};
    return test_sim_run_yaml("batching.yaml", batching_yaml, overrides, 1, 0);
}

/* Batching runs waiting decode steps together: latency drops (p50 and p99)
 * while every request still gets the reference's tokens, bit for bit (the
 * arithmetic of each step is its own, batched or not). */
START_TEST(test_sim_batching_lowers_latency_same_tokens)
{
    world_result *alone = run_batching("nodes.classes.0.max_batch=1");
    world_result *batched = run_batching("nodes.classes.0.max_batch=8");
    ck_assert_uint_eq(alone->requests_completed, 60);
    ck_assert_uint_eq(batched->requests_completed, 60);
    ck_assert_double_eq(metric(alone, "reference_match_ratio"), 1.0);
    ck_assert_double_eq(metric(batched, "reference_match_ratio"), 1.0);
    for (uint64_t r = 0; r < batched->request_count; r++) {
        ck_assert_msg(batched->requests[r].reference_match, "request %llu",
                      (unsigned long long)r);
        ck_assert_uint_eq(batched->requests[r].batch_calls, alone->requests[r].batch_calls);
    }
    ck_assert_uint_eq(alone->tokens_out, batched->tokens_out);
    ck_assert_uint_eq(alone->flops_total, batched->flops_total);
    ck_assert_double_lt(metric(batched, "request_latency_p50") * 1.5,
                        metric(alone, "request_latency_p50"));
    ck_assert_double_lt(metric(batched, "request_latency_p99") * 1.5,
                        metric(alone, "request_latency_p99"));
    ck_assert_double_eq(metric(alone, "batch_size_mean"), 1.0);
    ck_assert_double_eq(metric(alone, "batch_size_max"), 1.0);
    ck_assert_double_eq(metric(alone, "batched_steps_ratio"), 0.0);
    ck_assert_double_gt(metric(batched, "batch_size_mean"), 1.1);
    ck_assert_double_gt(metric(batched, "batch_size_max"), 2.0);
    ck_assert_double_le(metric(batched, "batch_size_max"), 8.0);
    ck_assert_double_gt(metric(batched, "batched_steps_ratio"), 0.2);
    ck_assert(!alone->batching && batched->batching);
    world_result *again = run_batching("nodes.classes.0.max_batch=8");
    ck_assert_uint_eq(again->trace_hash, batched->trace_hash);
    ck_assert_uint_ne(alone->trace_hash, batched->trace_hash);
    world_result_destroy(again);
    world_result_destroy(alone);
    world_result_destroy(batched);
}
END_TEST

/* max_batch 1 is no batching at all: the trace is main's, hash for hash
 * (the value main's build gives batching_yaml without the key). */
START_TEST(test_sim_batching_one_is_today)
{
    world_result *plain = test_sim_run_yaml("batching.yaml", batching_yaml, NULL, 0, 0);
    world_result *one = run_batching("nodes.classes.0.max_batch=1");
    ck_assert_uint_eq(plain->trace_hash, one->trace_hash);
    ck_assert_uint_eq(plain->trace_hash, BATCHING_MAIN_TRACE_HASH);
    world_result_destroy(plain);
    world_result_destroy(one);
}
END_TEST

/* Batching under failover and latency routing: a server crashes with
 * steps waiting in its queue (they die with it) and clients replay on the
 * next route; every request whose client stayed up completes with the
 * reference's tokens. Latency routing (which estimates one decode step per
 * server) keeps batching too. */
START_TEST(test_sim_batching_with_failover_and_routing)
{
    const char *const crash[] = {
        "nodes.classes.0.max_batch=8", "workload.failover=true", "workload.step_timeout=300ms",
        "faults.0.kind=crash", "faults.0.at=500ms", "faults.0.until=1s",
        "faults.0.nodes.range=1-1", "workload.timeout=5s"};
    world_result *result = test_sim_run_yaml("batching.yaml", batching_yaml, crash, 8, 0);
    uint64_t live = 0;
    for (uint64_t r = 0; r < result->request_count; r++) {
        const world_request_record *q = &result->requests[r];
        if (q->submitted && q->client != 1) {
            live += 1;
            ck_assert_uint_eq(q->status, NODE_REQUEST_COMPLETED);
            ck_assert_msg(q->reference_match, "request %llu", (unsigned long long)r);
        }
    }
    ck_assert_uint_ge(live, 40);
    ck_assert_uint_gt(result->failovers, 0);
    ck_assert_double_gt(metric(result, "batch_size_max"), 1.0);
    world_result_destroy(result);

    const char *const routed[] = {"nodes.classes.0.max_batch=8", "workload.routing=latency"};
    result = test_sim_run_yaml("batching.yaml", batching_yaml, routed, 2, 0);
    ck_assert_uint_eq(result->requests_completed, 60);
    ck_assert_double_eq(metric(result, "reference_match_ratio"), 1.0);
    ck_assert_double_gt(metric(result, "batch_size_max"), 1.0);
    world_result_destroy(result);
}
END_TEST

/* One server (the phones cannot hold the model) and three one-token
 * prompts at once, over 100 MB/s: the prefills run one after another (a
 * prefill runs alone), the first two requests' decode steps arrive while
 * the third prefill runs and wait; when it ends they run as one batch:
 * overhead + (the weights once + each step's KV cache and activations) /
 * bandwidth, to the nanosecond. Without batching the second step waits for
 * the first. */
static const char batch_exact_yaml[] =
    "name: batch_exact\n"
    "seed: 3\n"
    "duration: 5s\n"
    "network: {latency: {model: constant, value: 1ms}}\n"
    "nodes:\n"
    "  count: 3\n"
    "  classes:\n"
    "    - {name: gpu, fraction: 0.34, flops: 1TFLOPS, memory_bandwidth: 100MB/s, "
    "overhead: 10us, max_batch: 8}\n"
    "    - {name: phone, fraction: 0.66, memory: 1KiB}\n"
    "model:\n"
    "  shape: {dim: 64, hidden_dim: 160, layers: 4, heads: 4, kv_heads: 2, vocab: 128, "
    "seq_len: 48}\n"
    "  segments: 1\n"
    "workload: {requests: 3, arrival: explicit, times: [0ms, 0ms, 0ms], prompt_tokens: 1, "
    "generate: 2}\n"
    "output: {sample_interval: 0}\n";

/* The request whose prefill started last (of batch_exact's three). */
static uint32_t latest_start(const world_result *result)
{
    uint32_t last = 0;
    for (uint32_t r = 1; r < 3; r++) {
        last = result->segments[r].start_ns > result->segments[last].start_ns ? r : last;
    }
    return last;
}

START_TEST(test_sim_batching_charge_exact)
{
    world_result *result = test_sim_run_yaml("batch_exact.yaml", batch_exact_yaml, NULL, 0, 0);
    ck_assert_uint_eq(result->requests_completed, 3);
    /* roofline_bytes: the weights (4 layers, final norm, classifier) and
     * the rest (KV cache, activations, logits) of one call. */
    uint64_t weights = roofline_bytes(0, 1) - 2 * 32 * 4 * 4 - 2 * 64 * 4 - 4 * 128;
    uint64_t step = roofline_bytes(1, 1) - weights;
    uint64_t prefill_ns = 10000 + (uint64_t)((double)roofline_bytes(0, 1) * 1e9 / 100e6);
    uint64_t batch_ns = 10000 + (uint64_t)((double)(weights + 2 * step) * 1e9 / 100e6);
    uint32_t last = latest_start(result);
    const world_segment_record *third = &result->segments[last];
    uint64_t batch_end_ns = third->start_ns + prefill_ns + batch_ns;
    for (uint32_t r = 0; r < 3; r++) {
        ck_assert_uint_eq(result->segments[r].calls, 2);
        if (r != last) {
            ck_assert_uint_eq(result->segments[r].end_ns, batch_end_ns);
            ck_assert_uint_eq(result->requests[r].batch_size_max, 2);
        }
    }
    ck_assert_double_eq(metric(result, "batch_size_max"), 2.0);
    ck_assert_double_eq(metric(result, "batch_size_mean"), 6.0 / 5.0);
    world_result_destroy(result);

    const char *const alone[] = {"nodes.classes.0.max_batch=1"};
    result = test_sim_run_yaml("batch_exact.yaml", batch_exact_yaml, alone, 1, 0);
    ck_assert_uint_eq(result->requests_completed, 3);
    uint64_t single_ns = 10000 + (uint64_t)((double)roofline_bytes(1, 1) * 1e9 / 100e6);
    uint64_t ends[2];
    uint32_t n = 0;
    last = latest_start(result);
    for (uint32_t r = 0; r < 3; r++) {
        if (r != last) {
            ends[n++] = result->segments[r].end_ns;
        }
    }
    uint64_t first_end = ends[0] < ends[1] ? ends[0] : ends[1];
    uint64_t second_end = ends[0] < ends[1] ? ends[1] : ends[0];
    ck_assert_uint_eq(first_end, result->segments[last].start_ns + prefill_ns + single_ns);
    ck_assert_uint_eq(second_end, first_end + single_ns);
    ck_assert_uint_gt(second_end, batch_end_ns);
    world_result_destroy(result);
}
END_TEST

/* ---- the in-flight store: payloads shared by copies ---- */

#define SHARED_NODES 4u
#define SHARED_PAYLOAD 200u

typedef struct shared_fixture {
    sim_world world;
    world_result result;
    uint8_t keys[SHARED_NODES][UTIL_MAC_KEY_BYTES];
    uint8_t payload[SHARED_PAYLOAD];
} shared_fixture;

static void shared_setup(shared_fixture *f)
{
    memset(f, 0, sizeof(*f));
    for (uint32_t n = 0; n < SHARED_NODES; n++) {
        for (uint32_t b = 0; b < UTIL_MAC_KEY_BYTES; b++) {
            f->keys[n][b] = (uint8_t)(n * 31 + b);
        }
    }
    for (uint32_t i = 0; i < SHARED_PAYLOAD; i++) {
        f->payload[i] = (uint8_t)(i * 7 + 1);
    }
    f->world.w.node_count = SHARED_NODES;
    f->world.w.keys = f->keys;
    f->world.w.result = &f->result;
    ck_assert_int_eq(sim__messages_grow(&f->world), 0);
}

/* Node 0 sends its one payload buffer to nodes 1, 2 and 3 in one outbox. */
static void shared_stage(shared_fixture *f, uint32_t slots[3], uint32_t bodies[3])
{
    f->world.messages.share_body = 0; /* a new outbox */
    for (uint32_t i = 0; i < 3; i++) {
        node_message message;
        memset(&message, 0, sizeof(message));
        message.type = NODE_MESSAGE_INFER_ACTIVATIONS;
        message.source = 0;
        message.dest = i + 1;
        message.position = i;            /* the copies' headers differ */
        message.payload = f->payload;
        message.payload_bytes = SHARED_PAYLOAD;
        slots[i] = sim__message_stage(&f->world, 0, &message, 0, &bodies[i]);
    }
}

/* An event count whose corruption flips a payload bit (payload) or a
 * header bit (!payload): the flip is a pure function of it. */
static uint64_t shared_events_flipping(bool payload)
{
    uint64_t bits = ((uint64_t)NODE_HEADER_BYTES + SHARED_PAYLOAD) * 8;
    for (uint64_t events = 1;; events++) {
        bool in_payload = util_mix64(events) % bits >= NODE_HEADER_BYTES * 8;
        if (in_payload == payload) {
            return events;
        }
    }
}

static uint32_t bits_differing(const uint8_t *a, const uint8_t *b, size_t size)
{
    uint32_t count = 0;
    for (size_t i = 0; i < size; i++) {
        count += (uint32_t)__builtin_popcount((unsigned)(a[i] ^ b[i]));
    }
    return count;
}

START_TEST(test_sim_shared_payload_survives_corruption)
{
    shared_fixture *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    shared_setup(f);
    uint8_t original[SHARED_PAYLOAD];
    memcpy(original, f->payload, sizeof(original));
    uint32_t slots[3];
    uint32_t bodies[3];
    shared_stage(f, slots, bodies);
    /* One payload for the three copies. */
    ck_assert_uint_ne(bodies[0], 0);
    ck_assert_uint_eq(bodies[1], bodies[0]);
    ck_assert_uint_eq(bodies[2], bodies[0]);
    const sim_body *body = &f->world.messages.bodies[bodies[0] - 1];
    ck_assert_uint_eq(body->refs, 3);
    ck_assert_uint_eq(f->world.messages.bodies_in_flight, 1);
    ck_assert_uint_eq(f->world.in_flight, 3);
    memset(f->payload, 0xee, sizeof(f->payload)); /* the sender's buffer is not held */

    /* The second copy is altered in its payload: a private copy differs by
     * one bit and the MAC rejects it; the body keeps the sender's bytes. */
    node_message received;
    f->result.events = shared_events_flipping(true);
    ck_assert_int_eq(sim__message_receive(&f->world, slots[1], bodies[1], true, &received), -1);
    ck_assert_uint_eq(bits_differing(f->world.messages.altered, original, SHARED_PAYLOAD), 1);
    ck_assert_mem_eq(body->payload, original, SHARED_PAYLOAD);
    /* The other copies keep the original bytes and verify. */
    for (uint32_t i = 0; i < 3; i += 2) {
        ck_assert_int_eq(sim__message_receive(&f->world, slots[i], bodies[i], false, &received),
                         0);
        ck_assert_uint_eq(received.dest, i + 1);
        ck_assert_uint_eq(received.position, i);
        ck_assert_uint_eq(received.payload_bytes, SHARED_PAYLOAD);
        ck_assert_mem_eq(received.payload, original, SHARED_PAYLOAD);
    }
    /* A flip in a copy's header is rejected too, and leaves the payload. */
    f->result.events = shared_events_flipping(false);
    ck_assert_int_eq(sim__message_receive(&f->world, slots[2], bodies[2], true, &received), -1);
    ck_assert_mem_eq(body->payload, original, SHARED_PAYLOAD);

    /* Every hold returns: no copy, no payload in flight. */
    for (uint32_t i = 0; i < 3; i++) {
        sim__message_release(&f->world, slots[i], bodies[i]);
    }
    ck_assert_uint_eq(body->refs, 0);
    ck_assert_uint_eq(f->world.messages.bodies_in_flight, 0);
    ck_assert_uint_eq(f->world.in_flight, 0);
    ck_assert_uint_eq(f->world.messages.slot_free_count, f->world.messages.slot_capacity);
    sim__messages_destroy(&f->world);
    free(f);
}
END_TEST

/* Slots past the first eight chunks come from 8 MiB blocks, a chunk at a
 * time, each chunk on a cache line: every slot has its own line (a byte written
 * to each reads back), a group's chunks follow each other, and growing adds
 * one chunk's slots, however the storage is grouped. The per-slot arrays
 * (the free stack, the forward tickets, the signatures) grow by half
 * again, not by a chunk each time, keeping what they hold, and a new
 * slot's ticket starts at 0. */
START_TEST(test_sim_slots_grow_in_groups)
{
    shared_fixture *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    shared_setup(f);
    sim__messages_destroy(&f->world);
    f->world.w.forward = (world_forward *)f; /* tickets are kept; never called here */
    f->world.w.signing = true;                /* and signatures */
    ck_assert_int_eq(sim__messages_grow(&f->world), 0);
    const uint32_t chunks = 20; /* 8 single, a group of 8, half a group */
    uint32_t room_changes = 0;
    for (uint32_t c = 1; c < chunks; c++) {
        sim_messages *messages = &f->world.messages;
        uint32_t room = messages->slot_room;
        memset(messages->tickets, 0xff, (size_t)messages->slot_capacity * sizeof(uint16_t));
        messages->slot_free_count = 0; /* as when every slot is in flight */
        ck_assert_int_eq(sim__messages_grow(&f->world), 0);
        ck_assert_uint_eq(messages->slot_capacity, (c + 1) * SIM_SLOT_CHUNK);
        ck_assert_uint_ge(messages->slot_room, messages->slot_capacity);
        room_changes += messages->slot_room != room;
        for (uint32_t i = c * SIM_SLOT_CHUNK; i < messages->slot_capacity; i++) {
            TEST_ASSERT_UINT_EQ(messages->tickets[i], 0);
        }
        ck_assert_uint_eq(messages->slot_stack[messages->slot_free_count - 1], c * SIM_SLOT_CHUNK);
        memset(messages->signatures[messages->slot_capacity - 1], 0xab, 64);
        messages->signature_checked[messages->slot_capacity - 1] = 1;
    }
    for (uint32_t c = 1; c < chunks; c++) {
        TEST_ASSERT_UINT_EQ(f->world.messages.signatures[(c + 1) * SIM_SLOT_CHUNK - 1][63], 0xab);
    }
    ck_assert_uint_le(room_changes, 8); /* 1.5^8 > 20 */
    for (uint32_t g = 8; g < chunks; g += 8) {
        ck_assert_uint_eq((uintptr_t)f->world.messages.chunks[g] % 64, 0);
        for (uint32_t c = g + 1; c < chunks && c < g + 8; c++) {
            ck_assert_ptr_eq(f->world.messages.chunks[c],
                             f->world.messages.chunks[c - 1] + SIM_SLOT_CHUNK);
        }
    }
    uint32_t slots = chunks * SIM_SLOT_CHUNK;
    for (uint32_t i = 0; i < slots; i++) {
        memset(sim__slot_header(&f->world.messages, i), (int)(i * 13 % 251), sizeof(sim_slot));
    }
    for (uint32_t i = 0; i < slots; i++) {
        const uint8_t *header = sim__slot_header(&f->world.messages, i);
        TEST_ASSERT_UINT_EQ(header[0], i * 13 % 251);
        TEST_ASSERT_UINT_EQ(header[sizeof(sim_slot) - 1], i * 13 % 251);
    }
    sim__messages_destroy(&f->world);
    free(f);
}
END_TEST

/* A payload is shared within one outbox only: the same buffer sent again
 * by a later call may hold other bytes, so it gets a body of its own. The
 * freed slots come back last freed first, as the trace expects. */
START_TEST(test_sim_shared_payload_per_outbox)
{
    shared_fixture *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    shared_setup(f);
    uint32_t first[3];
    uint32_t first_bodies[3];
    uint32_t second[3];
    uint32_t second_bodies[3];
    shared_stage(f, first, first_bodies);
    f->payload[0] ^= 1;
    shared_stage(f, second, second_bodies);
    ck_assert_uint_ne(second_bodies[0], first_bodies[0]);
    ck_assert_uint_eq(f->world.messages.bodies_in_flight, 2);
    for (uint32_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(first[i], i);
        ck_assert_uint_eq(second[i], 3 + i);
    }
    node_message received;
    ck_assert_int_eq(sim__message_receive(&f->world, second[0], second_bodies[0], false,
                                          &received), 0);
    ck_assert_mem_eq(received.payload, f->payload, SHARED_PAYLOAD);
    ck_assert_int_eq(sim__message_receive(&f->world, first[0], first_bodies[0], false,
                                          &received), 0);
    ck_assert_uint_eq(received.payload[0], (uint8_t)(f->payload[0] ^ 1));
    sim__message_release(&f->world, first[1], first_bodies[1]);
    sim__message_release(&f->world, second[2], second_bodies[2]);
    uint32_t again[3];
    uint32_t again_bodies[3];
    shared_stage(f, again, again_bodies);
    ck_assert_uint_eq(again[0], second[2]);
    ck_assert_uint_eq(again[1], first[1]);
    ck_assert_uint_eq(again[2], 6);
    sim__messages_destroy(&f->world);
    free(f);
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
    TCase *messages = tcase_create("messages");
    tcase_set_timeout(messages, 30);
    tcase_add_test(messages, test_sim_shared_payload_survives_corruption);
    tcase_add_test(messages, test_sim_shared_payload_per_outbox);
    tcase_add_test(messages, test_sim_slots_grow_in_groups);
    suite_add_tcase(suite, messages);
    TCase *inference = tcase_create("inference");
    tcase_set_timeout(inference, 120);
    tcase_add_test(inference, test_sim_inference_completes_and_is_deterministic);
    tcase_add_test(inference, test_sim_inference_reference_kernel_matches_exactly);
    tcase_add_test(inference, test_sim_inference_bound_beyond_reach);
    tcase_add_test(inference, test_sim_inference_divergence_by_kernel);
    tcase_add_test(inference, test_sim_inference_int8_wire_drifts);
    tcase_add_test(inference, test_sim_inference_q8_kernel_measured);
    tcase_add_test(inference, test_sim_inference_kv_slots_refuse);
    tcase_add_test(inference, test_sim_inference_crash_times_out);
    tcase_add_test(inference, test_sim_inference_placement_respects_memory);
    tcase_add_test(inference, test_sim_inference_client_crash_recovers_timeouts);
    tcase_add_test(inference, test_sim_inference_kv_leases_end_while_down);
    tcase_add_test(inference, test_sim_inference_checkpoint_file_same_run);
    tcase_add_test(inference, test_sim_inference_duplicates_computed_once);
    tcase_add_test(inference, test_sim_inference_failover_replays);
    tcase_add_test(inference, test_sim_routing_latency_lowers_p50);
    tcase_add_test(inference, test_sim_roofline_prefill_compute_decode_memory);
    tcase_add_test(inference, test_sim_roofline_generation_ratio);
    tcase_add_test(inference, test_sim_batching_lowers_latency_same_tokens);
    tcase_add_test(inference, test_sim_batching_one_is_today);
    tcase_add_test(inference, test_sim_batching_charge_exact);
    tcase_add_test(inference, test_sim_batching_with_failover_and_routing);
    suite_add_tcase(suite, inference);
    TCase *committee = tcase_create("committee");
    tcase_set_timeout(committee, 120);
    tcase_add_test(committee, test_sim_committee_tolerant_honest);
    tcase_add_test(committee, test_sim_committee_exact_penalises_honest);
    tcase_add_test(committee, test_sim_workload_until_all_served);
    tcase_add_test(committee, test_sim_workload_until_needs_every_node);
    tcase_add_test(committee, test_sim_committee_wrong_output_caught);
    tcase_add_test(committee, test_sim_committee_cartel_below_and_above_quorum);
    tcase_add_test(committee, test_sim_committee_silent_and_no_commit_reveal);
    tcase_add_test(committee, test_sim_committee_lazy_copy_needs_commit_reveal);
    tcase_add_test(committee, test_sim_committee_ed25519_votes);
    tcase_add_test(committee, test_sim_committee_sybil_and_adaptive);
    tcase_add_test(committee, test_sim_committee_wrong_model_and_layer);
    tcase_add_test(committee, test_sim_committee_equivocation_proven);
    tcase_add_test(committee, test_sim_inference_percentiles_exact);
    suite_add_tcase(suite, committee);
    return suite;
}
