/* bench.c -- `make bench`: the event-queue hold benchmark and an end-to-end
 * simulator run. Figures are machine-dependent, so each run also measures
 * baselines (PRNG draws, a sequential memory pass) to read them as ratios.
 *
 * Hold model: N events pending; each operation pops the earliest and pushes
 * one at now + exponential(mean 1000 ns), for each of the three queues
 * (heap, calendar, radix), with their ratios to the heap. The end-to-end
 * run uses whichever queue sim_queue maps to and names it. This is the steady state of a
 * discrete-event simulator and the classic queue benchmark (Jones 1986).
 * Wall-clock reads are allowed here: bench/ is not simulation code. */
#include <stdbool.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scenarios/scn.h"
#include "sim/queue.h"
#include "bench/bench_bft.h"
#include "bench/bench_infer.h"
#include "bench/bench_largest.h"
#include "bench/bench_util.h"
#include "bench/bench_runc.h"
#include "bench/bench_scale.h"
#include "bench/bench_store.h"
#include "bench/bench_testbed.h"
#include "bench/bench_vrf.h"
#include "sim/sim.h"
#include "util/alloc.h"
#include "util/hash.h"
#include "util/prng.h"

#define BENCH_MEAN_DELAY_NS 1000.0
#define BENCH_HOLD_OPS 6000000u
#define BENCH_SEED 0x5eedULL
#define BENCH_GOSSIP_SCENARIO "scenarios/gossip.yaml"
#define BENCH_INFERENCE_SCENARIO "scenarios/default.yaml"
#define BENCH_COMMITTEE_SCENARIO "scenarios/compare_committee.yaml"
#define BENCH_LARGEST_BUDGET_S 600.0   /* ten minutes */

typedef struct bench_hold_result {
    double heap;
    double heap_replace;
    double calq;
    double radix;
} bench_hold_result;


/* The hold delay's mean: BENCH_MEAN_DELAY_NS for the standard rows. With
 * integer nanoseconds and N >= 1e5 that makes many events share an instant,
 * so one extra row uses a 1 ms mean to show the tie-free case. */
static double bench_mean_ns = BENCH_MEAN_DELAY_NS;

/* When set, delays are lognormal with median bench_mean_ns and this shape:
 * the spread of a simulator's queue, where link latencies, serialization
 * backlogs and periodic timers mix microseconds with seconds. */
static double bench_lognormal_sigma;

/* When set, delays are those of BENCH_GOSSIP_SCENARIO's links, read from
 * the file (bench/gossip_1m.yaml shares its network): a pair of regions
 * drawn by the regions' fractions, their base latency, plus the link
 * model's sample (lognormal or constant) and the jitter. Serialization
 * (under 0.2 ms for 1 KiB) and the pull timers (one event in 1,500) are
 * left out. This is the queue a gossip run keeps, without the gossip. */
static bool bench_gossip_delays;

typedef struct bench_gossip_links {
    uint32_t regions;
    double fraction[SCN_REGIONS_MAX];
    double base_ns[SCN_REGIONS_MAX][SCN_REGIONS_MAX];
    double median_ns;
    double sigma;      /* 0: the link sample is the constant median_ns */
    double jitter_ns;
} bench_gossip_links;

static bench_gossip_links bench_links;

/* Reads the links of 'path' into bench_links. 0, or 1 when it cannot be
 * loaded or its latency model is neither lognormal nor constant. */
static int bench_gossip_links_load(const char *path)
{
    scn_scenario *scenario = NULL;
    if (bench_util_load(path, NULL, 0, &scenario) != 0) {
        return 1;
    }
    const scn_latency *latency = &scenario->network.latency;
    bool lognormal = latency->kind == SCN_LATENCY_LOGNORMAL;
    int rc = lognormal || latency->kind == SCN_LATENCY_CONSTANT ? 0 : 1;
    bench_links.regions = scenario->nodes.region_count;
    for (uint32_t i = 0; i < bench_links.regions; i++) {
        bench_links.fraction[i] = scenario->nodes.regions[i].fraction;
        for (uint32_t j = 0; j < bench_links.regions; j++) {
            bench_links.base_ns[i][j] = (double)scenario->network.region_latency_ns[i][j];
        }
    }
    bench_links.median_ns = (double)latency->value_ns;
    bench_links.sigma = lognormal ? latency->sigma : 0.0;
    bench_links.jitter_ns = (double)scenario->network.jitter_ns;
    scn_destroy(scenario);
    if (rc != 0) {
        bench_links.regions = 0;
        fprintf(stderr, "bench: %s: the gossip hold model takes lognormal or constant links\n",
                path);
    }
    return rc;
}

static uint32_t bench_gossip_region(util_prng *prng)
{
    double u = util_prng_uniform(prng);
    uint32_t r = 0;
    while (r + 1 < bench_links.regions && u >= bench_links.fraction[r]) {
        u -= bench_links.fraction[r];
        r++;
    }
    return r;
}

static uint64_t bench_gossip_delay_ns(util_prng *prng)
{
    uint32_t from = bench_gossip_region(prng), to = bench_gossip_region(prng);
    double link = bench_links.sigma > 0.0
                      ? bench_links.median_ns * exp(bench_links.sigma * util_prng_normal(prng))
                      : bench_links.median_ns;
    double ns = bench_links.base_ns[from][to] + link +
                bench_links.jitter_ns * util_prng_uniform(prng);
    return (uint64_t)ns;
}

static uint64_t bench_delay_ns(util_prng *prng)
{
    if (bench_gossip_delays) {
        return bench_gossip_delay_ns(prng);
    }
    if (bench_lognormal_sigma > 0.0) {
        return (uint64_t)(bench_mean_ns * exp(bench_lognormal_sigma * util_prng_normal(prng)));
    }
    return (uint64_t)util_prng_exponential(prng, bench_mean_ns);
}

/* Draws per second of util_prng_next and util_prng_exponential. The sums are
 * printed so the compiler cannot drop the loops. */
static double bench_baseline_prng(void)
{
    util_prng prng;
    util_prng_init(&prng, BENCH_SEED);
    uint64_t sum = 0;
    double start = bench_util_now_s();
    for (uint32_t i = 0; i < 50000000u; i++) {
        sum += util_prng_next(&prng);
    }
    double next_s = bench_util_now_s() - start;
    start = bench_util_now_s();
    for (uint32_t i = 0; i < BENCH_HOLD_OPS; i++) {
        sum += bench_delay_ns(&prng);
    }
    double exp_s = bench_util_now_s() - start;
    printf("baseline prng_next        draws/s=%.3e\n", 50000000.0 / next_s);
    printf("baseline prng_exponential draws/s=%.3e  (one per hold op)  [%llu]\n",
           BENCH_HOLD_OPS / exp_s, (unsigned long long)(sum & 0xff));
    return BENCH_HOLD_OPS / exp_s;
}

/* Sequential read of 256 MiB in 8-byte words: memory bandwidth in GB/s. */
static void bench_baseline_memory(void)
{
    size_t words = (size_t)32 << 20;
    uint64_t *data = util_malloc(words * sizeof(uint64_t));
    if (data == NULL) {
        printf("baseline memory           skipped (out of memory)\n");
        return;
    }
    for (size_t i = 0; i < words; i++) {
        data[i] = i;
    }
    volatile uint64_t sink = 0;
    uint64_t sum = 0;
    double start = bench_util_now_s();
    for (size_t i = 0; i < words; i++) {
        sum += data[i];
    }
    double elapsed = bench_util_now_s() - start;
    sink = sum;
    (void)sink;
    printf("baseline memory read      GB/s=%.2f\n",
           (double)(words * sizeof(uint64_t)) / elapsed * 1e-9);
    util_free(data);
}

/* Fills a queue with n events at exponential times from 0. */
#define BENCH_FILL(push, queue, n, prng)                                      \
    for (size_t fill_i = 0; fill_i < (n); fill_i++) {                        \
        if (push((queue), bench_delay_ns(prng), 0, 0, fill_i) != 0) {        \
            fprintf(stderr, "bench: out of memory\n");                      \
            exit(1);                                                          \
        }                                                                     \
    }

/* 'ops' hold operations with pop then push; returns elapsed seconds. */
#define BENCH_HOLD_LOOP(pop, push, queue, ops, prng, elapsed_out)             \
    do {                                                                      \
        sim_event hold_event;                                                 \
        double hold_start = bench_util_now_s();                                   \
        for (uint32_t hold_i = 0; hold_i < (ops); hold_i++) {                \
            if (!pop((queue), &hold_event)) {                                 \
                abort();                                                      \
            }                                                                 \
            uint64_t hold_at = hold_event.at_ns + bench_delay_ns(prng);       \
            if (push((queue), hold_at, 0, 0, hold_i) != 0) {                  \
                abort();                                                      \
            }                                                                 \
        }                                                                     \
        (elapsed_out) = bench_util_now_s() - hold_start;                           \
    } while (0)

static uint32_t bench_warmup_ops(size_t n)
{
    return n < 1000000 ? 1000000u : (uint32_t)n;
}

static double bench_hold_heap(size_t n)
{
    util_prng prng;
    util_prng_init(&prng, BENCH_SEED);
    sim_heap heap;
    if (sim_heap_init(&heap, n) != 0) {
        exit(1);
    }
    double elapsed = 0.0;
    BENCH_FILL(sim_heap_push, &heap, n, &prng);
    BENCH_HOLD_LOOP(sim_heap_pop, sim_heap_push, &heap, bench_warmup_ops(n), &prng, elapsed);
    BENCH_HOLD_LOOP(sim_heap_pop, sim_heap_push, &heap, BENCH_HOLD_OPS, &prng, elapsed);
    sim_heap_deinit(&heap);
    return BENCH_HOLD_OPS / elapsed;
}

static double bench_hold_heap_replace(size_t n)
{
    util_prng prng;
    util_prng_init(&prng, BENCH_SEED);
    sim_heap heap;
    if (sim_heap_init(&heap, n) != 0) {
        exit(1);
    }
    BENCH_FILL(sim_heap_push, &heap, n, &prng);
    sim_event event = *sim_heap_peek(&heap);
    uint32_t warmup = bench_warmup_ops(n);
    double start = 0.0;
    for (uint32_t i = 0; i < warmup + BENCH_HOLD_OPS; i++) {
        if (i == warmup) {
            start = bench_util_now_s();
        }
        /* The top is known before the pop: it was peeked (or just replaced). */
        uint64_t at_ns = sim_heap_peek(&heap)->at_ns + bench_delay_ns(&prng);
        if (!sim_heap_replace_top(&heap, &event, at_ns, 0, 0, i)) {
            abort();
        }
    }
    double elapsed = bench_util_now_s() - start;
    sim_heap_deinit(&heap);
    return BENCH_HOLD_OPS / elapsed;
}

static double bench_hold_calq(size_t n)
{
    util_prng prng;
    util_prng_init(&prng, BENCH_SEED);
    sim_calq calq;
    if (sim_calq_init(&calq, n) != 0) {
        exit(1);
    }
    double elapsed = 0.0;
    BENCH_FILL(sim_calq_push, &calq, n, &prng);
    BENCH_HOLD_LOOP(sim_calq_pop, sim_calq_push, &calq, bench_warmup_ops(n), &prng, elapsed);
    BENCH_HOLD_LOOP(sim_calq_pop, sim_calq_push, &calq, BENCH_HOLD_OPS, &prng, elapsed);
    sim_calq_deinit(&calq);
    return BENCH_HOLD_OPS / elapsed;
}

static const char *bench_fastest(const bench_hold_result *result)
{
    if (result->radix > result->heap && result->radix > result->calq) {
        return "radix";
    }
    return result->calq > result->heap ? "calq" : "heap";
}

static double bench_hold_radix(size_t n)
{
    util_prng prng;
    util_prng_init(&prng, BENCH_SEED);
    sim_radix radix;
    if (sim_radix_init(&radix, n) != 0) {
        exit(1);
    }
    double elapsed = 0.0;
    BENCH_FILL(sim_radix_push, &radix, n, &prng);
    BENCH_HOLD_LOOP(sim_radix_pop, sim_radix_push, &radix, bench_warmup_ops(n), &prng, elapsed);
    BENCH_HOLD_LOOP(sim_radix_pop, sim_radix_push, &radix, BENCH_HOLD_OPS, &prng, elapsed);
    sim_radix_deinit(&radix);
    return BENCH_HOLD_OPS / elapsed;
}

static bench_hold_result bench_hold(size_t n, double mean_ns, double baseline_exp)
{
    bench_hold_result result;
    bench_mean_ns = mean_ns;
    if (bench_gossip_delays) {
        printf("hold model        N=%-8zu the gossip scenarios' link delays, %u timed ops\n", n,
               BENCH_HOLD_OPS);
    } else {
        printf("hold model        N=%-8zu mean delay %.0f ns, %u timed ops\n", n, mean_ns,
               BENCH_HOLD_OPS);
    }
    result.heap = bench_hold_heap(n);
    result.heap_replace = bench_hold_heap_replace(n);
    result.calq = bench_hold_calq(n);
    result.radix = bench_hold_radix(n);
    printf("hold heap         N=%-8zu events/s=%.3e  (%.2f x prng_exponential)\n", n,
           result.heap, result.heap / baseline_exp);
    printf("hold heap-replace N=%-8zu events/s=%.3e  (%.2f x heap)\n", n, result.heap_replace,
           result.heap_replace / result.heap);
    printf("hold calq         N=%-8zu events/s=%.3e  (%.2f x prng_exponential)\n", n,
           result.calq, result.calq / baseline_exp);
    printf("hold radix        N=%-8zu events/s=%.3e  (%.2f x prng_exponential)\n", n,
           result.radix, result.radix / baseline_exp);
    printf("hold ratio        N=%-8zu calq/heap=%.2f  radix/heap=%.2f  fastest=%s\n", n,
           result.calq / result.heap, result.radix / result.heap, bench_fastest(&result));
    return result;
}

/* The hold rate of the implementation sim_queue maps to (sim/queue.h). */
#define BENCH_ENGINE_RATE(result)                                             \
    _Generic((sim_queue *)NULL, sim_heap *: (result).heap,                    \
             sim_calq *: (result).calq, sim_radix *: (result).radix)
#define BENCH_ENGINE_NAME                                                     \
    _Generic((sim_queue *)NULL, sim_heap *: "heap", sim_calq *: "calq",      \
             sim_radix *: "radix")

/* The engine queue's hold rate at N pending events with the gossip
 * scenario's link delays: the bare queue of a gossip run of that size.
 * 0 when the scenario's links cannot be read (the ratio is then left out). */
static double bench_hold_gossip(size_t n, double baseline_exp)
{
    if (bench_links.regions == 0 && bench_gossip_links_load(BENCH_GOSSIP_SCENARIO) != 0) {
        return 0.0;
    }
    bench_gossip_delays = true;
    bench_hold_result result = bench_hold(n, 0.0, baseline_exp);
    bench_gossip_delays = false;
    return BENCH_ENGINE_RATE(result);
}


/* Runs 'path' with 'nodes' nodes; returns peak live bytes, sets wall and
 * events. */
static size_t bench_committee_once(const char *path, uint32_t nodes, double *wall_out,
                                   uint64_t *events_out)
{
    char override[64];
    snprintf(override, sizeof(override), "nodes.count=%u", nodes);
    const char *const overrides[] = {override};
    scn_scenario *scenario = NULL;
    bench_util_memory memory = {0, 0};
    if (bench_util_load(path, overrides, 1, &scenario) != 0) {
        return 0;
    }
    world_result *result = NULL;
    util_alloc_set_hook(bench_util_counting_alloc, &memory);
    double start = bench_util_now_s();
    int rc = sim_run(scenario, NULL, NULL, &result);
    *wall_out = bench_util_now_s() - start;
    *events_out = rc == 0 ? result->events : 0;
    world_result_destroy(result);
    util_alloc_set_hook(NULL, NULL);
    scn_destroy(scenario);
    return rc == 0 ? memory.peak : 0;
}

/* The committee benchmark: 10,000 nodes and 1,000 requests; memory per
 * node is the growth of peak live bytes between 5,000 and 10,000 nodes
 * (weights and KV caches do not grow with the node count). */
static void bench_committee(void)
{
    const char *path = "bench/committee_10k.yaml";
    double wall_small = 0, wall = 0;
    uint64_t events_small = 0, events = 0;
    size_t peak_small = bench_committee_once(path, 5000, &wall_small, &events_small);
    size_t peak = bench_committee_once(path, 10000, &wall, &events);
    if (peak == 0 || peak_small == 0) {
        printf("committee  %s  failed\n", path);
        return;
    }
    printf("committee  nodes=10000 requests=1000 wall_s=%.3f events=%llu events/s=%.3e "
           "peak_alloc_MiB=%.1f\n",
           wall, (unsigned long long)events, (double)events / wall, (double)peak / 1048576.0);
    printf("committee  memory per node (peak growth 5000 -> 10000 nodes) = %.0f bytes  "
           "(target < 2048)\n",
           (double)(peak - peak_small) / 5000.0);
}

static uint64_t bench_clock_ns(void *context)
{
    (void)context;
    return (uint64_t)(bench_util_now_s() * 1e9);
}

/* One inference run of 'path' on 'threads' (every call inline when
 * 'inline_compute') with the overrides given: its wall seconds, the share
 * of them the event loop spent in the oracle (judging, or waiting for its
 * jobs), and the shares of the servers' forward calls that ran on the
 * worker pool and that were copied from a member's identical call. Returns
 * 0, or 1 when it failed. */
typedef struct bench_threads_run {
    double wall_s;
    double oracle_share;
    double pooled_share;
    double copied_share;
    uint64_t trace;
} bench_threads_run;

static int bench_threads_once(const char *path, uint32_t threads, bool inline_compute,
                              const char *const *overrides, size_t count, bench_threads_run *out)
{
    scn_scenario *scenario = NULL;
    if (bench_util_load(path, overrides, count, &scenario) != 0) {
        return 1;
    }
    world_result *result = NULL;
    world_observer observer = {NULL, NULL, NULL, NULL, bench_clock_ns, threads, inline_compute};
    double start = bench_util_now_s();
    int rc = sim_run(scenario, &observer, NULL, &result);
    out->wall_s = bench_util_now_s() - start;
    scn_destroy(scenario);
    if (rc != 0) {
        fprintf(stderr, "bench: sim_run: %s\n", world_strerror(rc));
        return 1;
    }
    out->oracle_share = (double)result->wall_oracle_ns / 1e9 / out->wall_s;
    double calls = result->compute_calls > 0 ? (double)result->compute_calls : 1.0;
    out->pooled_share = (double)result->forward_pooled / calls;
    out->copied_share = (double)result->forward_copied / calls;
    out->trace = result->trace_hash;
    world_result_destroy(result);
    return 0;
}

/* Real compute on every core: the scenario at one thread (the baseline;
 * under a verifier, members copy each other's identical calls), at one
 * with every call inline (no copies), at two, and at every core the
 * machine has (when that is more than two), then with a 10 % divergence
 * sample at one and two;
 * each the best of BENCH_THREADS_REPEATS runs (the machine may be shared),
 * as a speedup over the baseline measured here (goal at two threads on an
 * inference-heavy run: 1.8x), with the oracle's share of the wall time
 * (goal < 20 %) and the share of servers' forward calls on the pool. The
 * trace must not move with any of them. */
#define BENCH_THREADS_REPEATS 3
#define BENCH_THREADS_OVERRIDES_MAX 16
static int bench_threads_with(const char *path, const char *const *base, size_t base_count)
{
    const char *overrides[BENCH_THREADS_OVERRIDES_MAX];
    if (base_count + 1 > BENCH_THREADS_OVERRIDES_MAX) {
        return 1;
    }
    for (size_t i = 0; i < base_count; i++) {
        overrides[i] = base[i];
    }
    overrides[base_count] = "output.divergence_sample=0.1";
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t all = cores > 2 ? (uint32_t)cores : 0;
    const struct {
        uint32_t threads;
        bool inline_compute;
        size_t overrides;
        const char *label;
    } cases[] = {{1, false, 0, "threads=1 (baseline)"},
                 {1, true, 0, "threads=1 every call inline"},
                 {2, false, 0, "threads=2"},
                 {all, false, 0, "threads=all cores"},
                 {1, false, 1, "threads=1 divergence_sample=0.1"},
                 {2, false, 1, "threads=2 divergence_sample=0.1"}};
    double baseline = 0.0;
    uint64_t baseline_trace = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].threads == 0) {
            continue; /* Two cores or fewer: "all" is the row above. */
        }
        bench_threads_run best = {0};
        for (int rep = 0; rep < BENCH_THREADS_REPEATS; rep++) {
            bench_threads_run run;
            if (bench_threads_once(path, cases[i].threads, cases[i].inline_compute, overrides,
                                   base_count + cases[i].overrides, &run) != 0) {
                return 1;
            }
            if (rep == 0 || run.wall_s < best.wall_s) {
                best = run;
            }
        }
        if (i == 0) {
            baseline = best.wall_s;
            baseline_trace = best.trace;
        }
        printf("threads    %s  %-32s wall_s=%.3f  speedup=%.2fx  oracle share %.1f%% "
               "(goal < 20%%)  forward calls pooled %.0f%% copied %.0f%%  trace %s\n",
               path, cases[i].label, best.wall_s, baseline / best.wall_s,
               100.0 * best.oracle_share, 100.0 * best.pooled_share,
               100.0 * best.copied_share, best.trace == baseline_trace ? "same" : "DIFFERS");
    }
    return 0;
}

static int bench_threads(const char *path)
{
    return bench_threads_with(path, NULL, 0);
}

/* The committee scenario made inference-heavy: the default scenario's
 * model and 200 requests (as shipped it runs in a tenth of a second, too
 * short for a speedup to mean anything). */
static int bench_threads_committee(void)
{
    static const char *const heavy[] = {
        "model.shape.dim=96",      "model.shape.hidden_dim=256", "model.shape.layers=8",
        "model.shape.vocab=384",   "model.shape.seq_len=96",     "workload.requests=200",
        "workload.rate=5/s",       "duration=60s",
    };
    printf("threads    %s  with the default scenario's model and 200 requests\n",
           BENCH_COMMITTEE_SCENARIO);
    return bench_threads_with(BENCH_COMMITTEE_SCENARIO, heavy, sizeof(heavy) / sizeof(heavy[0]));
}

/* Loads and runs the scenario once; prints simulated events per wall second
 * and the ratio to the engine queue's hold rate at N=1e5, and when
 * 'gossip_hold_rate' is not 0 the ratio to it as well. */
static int bench_end_to_end(const char *path, double hold_rate, double gossip_hold_rate)
{
    scn_scenario *scenario = NULL;
    if (bench_util_load(path, NULL, 0, &scenario) != 0) {
        return 1;
    }
    world_result *result = NULL;
    world_observer observer = {NULL, NULL, NULL, NULL, bench_clock_ns, 1, false};
    double start = bench_util_now_s();
    int rc = sim_run(scenario, &observer, NULL, &result);
    double elapsed = bench_util_now_s() - start;
    if (rc != 0) {
        fprintf(stderr, "bench: sim_run: %s\n", world_strerror(rc));
        scn_destroy(scenario);
        return 1;
    }
    double rate = (double)result->events / elapsed;
    printf("end-to-end %s  queue=%s nodes=%u events=%llu wall_s=%.3f events/s=%.3e  "
           "(%.3f x hold %s at N=1e5",
           path, BENCH_ENGINE_NAME, scenario->nodes.count, (unsigned long long)result->events,
           elapsed, rate, rate / hold_rate, BENCH_ENGINE_NAME);
    if (gossip_hold_rate > 0.0) {
        printf("; %.3f x with the gossip links' delays", rate / gossip_hold_rate);
    }
    printf(")  trace=%016llx\n", (unsigned long long)result->trace_hash);
    if (result->request_count > 0) {
        /* Where an inference run's wall time goes: the nodes' real forward
         * passes (and their protocol handling), the oracle's reference runs,
         * and everything else: the engine, the network, the bookkeeping. */
        double serving = (double)result->wall_serving_ns / 1e9;
        double oracle = (double)result->wall_oracle_ns / 1e9;
        printf("end-to-end %s  wall share: inference in nodes %.1f%%, oracle %.1f%%, "
               "engine and the rest %.1f%%  (%.3g FLOPs served)\n",
               path, 100.0 * serving / elapsed, 100.0 * oracle / elapsed,
               100.0 * (elapsed - serving - oracle) / elapsed, (double)result->flops_total);
    }
    world_result_destroy(result);
    scn_destroy(scenario);
    return 0;
}

/* Gossip at 1e3 and 1e6 nodes against the engine queue's hold rate at the
 * size of their peak in flight (1e5 and 1e6 pending events), once with the
 * standard exponential 1 us delays and once with the gossip links' delays
 * ('gossip_1e5' measured by the caller, the 1e6 one here). */
static int bench_gossip_rows(double rate_1e5, double rate_1e6, double gossip_1e5,
                             double baseline_exp)
{
    double gossip_1e6 = bench_hold_gossip(1000000, baseline_exp);
    return bench_scale_gossip(1000, rate_1e5, gossip_1e5, "N=1e5") ||
           bench_scale_gossip(1000000, rate_1e6, gossip_1e6, "N=1e6");
}

int main(int argc, char **argv)
{
    /* Rows line by line: in a log of both streams (make bench's), an error
     * on stderr then falls between rows, not inside one. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (util_hash_init() != 0) {
        fprintf(stderr, "bench: libsodium failed to initialise\n");
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "bft") == 0) {
        bench_bft_run();                 /* the ledger's rows alone */
        bench_bft_sim_run();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "runc") == 0) {
        bench_runc_run();                /* infersim infer beside run.c alone */
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "store") == 0) {
        return bench_store_run();        /* the results database's writes alone */
    }
    if (argc > 1 && strcmp(argv[1], "infer") == 0) {
        bench_infer_run();               /* the executor's rows alone */
        return 0;
    }
    if (argc > 1 && (strcmp(argv[1], "threads") == 0 || strcmp(argv[1], "oracle") == 0)) {
        if (argc > 2) {
            return bench_threads(argv[2]); /* alone */
        }
        return bench_threads(BENCH_INFERENCE_SCENARIO) || bench_threads_committee();
    }
    const size_t sizes[] = {1000, 100000, 1000000};
    double baseline_exp = bench_baseline_prng();
    bench_baseline_memory();
    bench_vrf_run();
    double engine_rate = 0.0;
    double engine_rate_1e6 = 0.0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        bench_hold_result result = bench_hold(sizes[i], BENCH_MEAN_DELAY_NS, baseline_exp);
        if (sizes[i] == 100000) {
            engine_rate = BENCH_ENGINE_RATE(result);
        }
        if (sizes[i] == 1000000) {
            engine_rate_1e6 = BENCH_ENGINE_RATE(result);
        }
    }
    bench_hold(100000, 1e6, baseline_exp);
    /* The shape that decided sim_queue: spread delays, as in a real run. */
    bench_lognormal_sigma = 1.5;
    printf("hold model        lognormal delays (median 50 ms, sigma 1.5), as in a gossip run\n");
    bench_hold(100000, 5e7, baseline_exp);
    bench_lognormal_sigma = 0.0;
    double gossip_rate = bench_hold_gossip(100000, baseline_exp);
    if (argc > 1 && strcmp(argv[1], "largest") == 0) {
        /* alone: build/bench largest [SECONDS] [race|tree|vrf] */
        const char *draw = "race";
        if (argc > 3 && (strcmp(argv[3], "tree") == 0 || strcmp(argv[3], "vrf") == 0)) {
            draw = argv[3];
        }
        bench_largest_network(argc > 2 ? atof(argv[2]) : BENCH_LARGEST_BUDGET_S, draw);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "memory") == 0) {
        bench_largest_memory(); /* alone */
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "draws") == 0) {
        bench_scale_draws(); /* the committee draws alone */
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "scale") == 0) {
        bench_scale_draws();             /* the scale rows alone */
        return bench_gossip_rows(engine_rate, engine_rate_1e6, gossip_rate, baseline_exp);
    }
    if (argc > 1 && strcmp(argv[1], "testbed") == 0) {
        bench_testbed_run();
        return 0;
    }
    if (argc > 1) {
        return bench_end_to_end(argv[1], engine_rate, gossip_rate);
    }
    int rc = bench_end_to_end(BENCH_GOSSIP_SCENARIO, engine_rate, gossip_rate);
    if (rc == 0) {
        rc = bench_end_to_end(BENCH_INFERENCE_SCENARIO, engine_rate, 0.0);
    }
    if (rc == 0) {
        rc = bench_threads(BENCH_INFERENCE_SCENARIO) || bench_threads_committee();
    }
    bench_committee();
    bench_scale_draws();
    if (rc == 0) {
        rc = bench_gossip_rows(engine_rate, engine_rate_1e6, gossip_rate, baseline_exp);
    }
    bench_largest_memory();
    bench_largest_network(BENCH_LARGEST_BUDGET_S, "race");
    bench_largest_network(BENCH_LARGEST_BUDGET_S, "tree");
    bench_bft_run();
    bench_bft_sim_run();
    bench_infer_run();
    rc = bench_store_run() || rc;
    bench_testbed_run();
    return rc;
}
