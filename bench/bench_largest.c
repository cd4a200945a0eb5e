/* bench_largest.c -- how large a verified-inference network this machine
 * runs, and what it costs in memory.
 *
 * Largest network: the committee benchmark (bench/committee_10k.yaml) at
 * growing node counts, each until every node has served (workload.until:
 * all_served, with at most four times the coupon collector's n ln n draws
 * of requests), on every core, once with the race draw (verification.draw:
 * race, the default) and once with draw: tree (alone, also "vrf": the tree
 * walk under verification.selection: vrf). A size counts when the run
 * completes within the budget and every node served at least one forward
 * call; a run still going at the budget is stopped there and fails. The
 * sizes grow until one fails, or until the growth of wall time with size
 * measured between the last two sizes projects the next beyond
 * BENCH_LARGEST_TRY budgets: the projection only spares a run that cannot
 * fit, the budget decides.
 *
 * Memory at a million nodes: peak live bytes (the allocation hook) of the
 * committee scenario at 500,000 and 1,000,000 nodes with the same requests,
 * whose difference is the bytes per node; and at 1,000,000 nodes with the
 * request rate four times higher, whose extra peak over the extra requests
 * in flight at once is the bytes per in-flight request. */
#include "bench/bench_largest.h"

#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "scenarios/scn.h"
#include "sim/sim.h"
#include "util/alloc.h"

#define BENCH_LARGEST_SCENARIO "bench/committee_10k.yaml"
/* A size is run while its projected wall time is within this many budgets.
 * Projections from the last two sizes erred by up to 1.4 times (under the
 * VRF walk 50,000 nodes projected 783 s for 100,000, which took 556 s). */
#define BENCH_LARGEST_TRY 1.5

typedef struct bench_largest_run {
    double wall_s;
    bench_util_memory memory;       /* peak: the run's peak live bytes */
    uint32_t served;                 /* nodes with at least one forward call */
    uint64_t completed;
    uint64_t requests;               /* submitted */
    uint64_t in_flight_max;          /* requests submitted and not finished, at most */
    bool stopped;                    /* still going at the budget: stopped there */
    int rc;
} bench_largest_run;

/* A run's stop flag, raised by SIGALRM at its budget: sim_run's interrupt
 * path, as for a SIGINT under infersim run. */
static volatile sig_atomic_t bench_largest_stop;

static void bench_largest_on_alarm(int signo)
{
    (void)signo;
    bench_largest_stop = 1;
}

/* Lowers the flag and arms the alarm at 'budget_s' (0: disarms it). */
static void bench_largest_alarm(double budget_s)
{
    static bool installed;
    if (!installed) {
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_handler = bench_largest_on_alarm;
        action.sa_flags = SA_RESTART;
        sigemptyset(&action.sa_mask);
        sigaction(SIGALRM, &action, NULL);
        installed = true;
    }
    struct itimerval timer;
    memset(&timer, 0, sizeof(timer));
    timer.it_value.tv_sec = (time_t)budget_s;
    timer.it_value.tv_usec = (suseconds_t)((budget_s - floor(budget_s)) * 1e6);
    bench_largest_stop = 0;
    setitimer(ITIMER_REAL, &timer, NULL);
}

static int bench_largest_compare(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return *x < *y ? -1 : *x > *y;
}

/* The most requests in flight at one instant: +1 at submission, -1 at the
 * end (a request never finished stays in flight). */
static uint64_t bench_largest_in_flight(const world_result *result)
{
    size_t n = result->request_count;
    int64_t *edges = calloc(2 * n + 1, sizeof(int64_t));
    if (edges == NULL) {
        return 0;
    }
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        const world_request_record *r = &result->requests[i];
        edges[count++] = (int64_t)r->submitted_ns * 2 + 1;
        if (r->finished_ns != 0) {
            edges[count++] = (int64_t)r->finished_ns * 2;
        }
    }
    qsort(edges, count, sizeof(int64_t), bench_largest_compare);
    int64_t now = 0, most = 0;
    for (size_t i = 0; i < count; i++) {
        now += (edges[i] & 1) ? 1 : -1;
        most = now > most ? now : most;
    }
    free(edges);
    return (uint64_t)most;
}

static uint32_t bench_largest_served(const world_result *result)
{
    uint8_t *served = calloc(result->node_count, 1);
    uint32_t count = 0;
    for (uint64_t i = 0; served != NULL && i < result->execution_count; i++) {
        const world_execution_record *row = &result->executions[i];
        if (row->calls > 0 && row->node_id < result->node_count && !served[row->node_id]) {
            served[row->node_id] = 1;
            count += 1;
        }
    }
    free(served);
    return count;
}

/* One run of the committee scenario. */
typedef struct bench_largest_setup {
    uint32_t nodes;
    uint64_t requests;               /* workload.requests: all of them, or at most */
    double rate;                     /* requests per simulated second */
    uint32_t threads;
    const char *draw;                /* race, tree or vrf (the tree walk under selection: vrf) */
    double budget_s;                 /* above 0: stopped at that many seconds */
    bool until_served;               /* workload.until: all_served */
} bench_largest_setup;

static bench_largest_run bench_largest_once(const bench_largest_setup *setup)
{
    bench_largest_run run;
    memset(&run, 0, sizeof(run));
    char node_key[64], request_key[64], rate_key[64], duration_key[64], draw_key[64];
    bool vrf = strcmp(setup->draw, "vrf") == 0;
    double duration_s = (double)setup->requests / setup->rate + 60.0;
    snprintf(node_key, sizeof(node_key), "nodes.count=%u", setup->nodes);
    snprintf(request_key, sizeof(request_key), "workload.requests=%llu",
             (unsigned long long)setup->requests);
    snprintf(rate_key, sizeof(rate_key), "workload.rate=%.3f/s", setup->rate);
    snprintf(duration_key, sizeof(duration_key), "duration=%.0fs", ceil(duration_s));
    snprintf(draw_key, sizeof(draw_key), "verification.draw=%s", vrf ? "tree" : setup->draw);
    const char *overrides[7] = {node_key, request_key, rate_key, duration_key, draw_key};
    size_t count = 5;
    if (vrf) {
        overrides[count++] = "verification.selection=vrf";
    }
    if (setup->until_served) {
        overrides[count++] = "workload.until=all_served";
    }
    scn_scenario *scenario = NULL;
    run.rc = bench_util_load(BENCH_LARGEST_SCENARIO, overrides, count, &scenario);
    if (run.rc != 0) {
        return run;
    }
    world_result *result = NULL;
    world_observer observer = {NULL, NULL, NULL, NULL, NULL, setup->threads, false};
    util_alloc_set_hook(bench_util_counting_alloc, &run.memory);
    double start = bench_util_now_s();
    bench_largest_alarm(setup->budget_s);
    run.rc = sim_run(scenario, &observer, &bench_largest_stop, &result);
    bench_largest_alarm(0.0);
    run.wall_s = bench_util_now_s() - start;
    if (run.rc == 0) {
        run.stopped = result->interrupted;
        run.served = bench_largest_served(result);
        run.completed = result->requests_completed;
        run.requests = result->requests_submitted;
        run.in_flight_max = bench_largest_in_flight(result);
    }
    world_result_destroy(result);
    util_alloc_set_hook(NULL, NULL);
    scn_destroy(scenario);
    return run;
}

/* The requests a run may take: it ends once every node has served
 * (workload.until: all_served). Committees of 5 over 2 segments make 10
 * draws a request, and n ln n draws cover n nodes with equal weights; but
 * members' rewards raise the weights of nodes already drawn, so the last
 * nodes take longer (17,200 requests at 10,000 nodes, 1.87 times that):
 * four times it leaves room, up to the most workload.requests allows
 * (300,000 nodes served within 756,693 under tree draws). */
#define BENCH_LARGEST_REQUESTS_MAX 1000000.0

static uint64_t bench_largest_requests(uint32_t nodes)
{
    double requests = ceil(4.0 * nodes * log((double)nodes) / 10.0);
    return (uint64_t)(requests < BENCH_LARGEST_REQUESTS_MAX ? requests
                                                            : BENCH_LARGEST_REQUESTS_MAX);
}

void bench_largest_network(double budget_s, const char *draw)
{
    static const uint32_t sizes[] = {1000, 3000, 10000, 30000, 50000, 100000, 300000, 1000000};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t threads = cores > 0 ? (uint32_t)cores : 1;
    uint32_t largest = 0;
    double last_wall = 0.0, growth = 2.0;
    uint32_t last_nodes = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint32_t nodes = sizes[i];
        if (last_nodes > 0) {
            /* Race draws are linear in the nodes and the requests grow as
             * n ln n: at most (ratio)^2 of the last run, or the growth
             * measured between the last two sizes once there are two. */
            double ratio = (double)nodes / last_nodes;
            double projected = last_wall * pow(ratio, growth);
            if (projected > BENCH_LARGEST_TRY * budget_s) {
                printf("largest    nodes=%u  skipped: projected %.0f s > %.1f x budget %g s\n",
                       nodes, projected, BENCH_LARGEST_TRY, budget_s);
                break;
            }
        }
        uint64_t requests = bench_largest_requests(nodes);
        bench_largest_setup setup = {nodes, requests, 100.0, threads, draw, budget_s, true};
        bench_largest_run run = bench_largest_once(&setup);
        bool ok = run.rc == 0 && !run.stopped && run.served == nodes && run.wall_s <= budget_s;
        printf("largest    draw=%s nodes=%u requests=%llu of at most %llu threads=%u wall_s=%.1f "
               "completed=%llu served=%u of %u  peak_alloc_MiB=%.1f  %s\n",
               draw, nodes, (unsigned long long)run.requests, (unsigned long long)requests,
               threads, run.wall_s,
               (unsigned long long)run.completed, run.served, nodes,
               (double)run.memory.peak / 1048576.0,
               ok ? "ok" : run.stopped ? "FAILED: stopped at the budget" : "FAILED");
        if (!ok) {
            break;
        }
        if (last_nodes > 0 && last_wall > 0.5) {
            double measured = log(run.wall_s / last_wall) / log((double)nodes / last_nodes);
            growth = measured > 1.0 ? (measured < 2.0 ? measured : 2.0) : 1.0;
        }
        largest = nodes;
        last_wall = run.wall_s;
        last_nodes = nodes;
    }
    printf("largest    draw=%s verified-inference network with every node serving, within "
           "%g s: %u nodes  (goal 100000)\n",
           draw, budget_s, largest);
}

void bench_largest_memory(void)
{
    const uint64_t requests = 1000;
    const bench_largest_setup setups[3] = {{500000, requests, 10.0, 1, "race", 0.0, false},
                                           {1000000, requests, 10.0, 1, "race", 0.0, false},
                                           {1000000, requests, 40.0, 1, "race", 0.0, false}};
    bench_largest_run half = bench_largest_once(&setups[0]);
    bench_largest_run full = bench_largest_once(&setups[1]);
    bench_largest_run busy = bench_largest_once(&setups[2]);
    if (half.rc != 0 || full.rc != 0 || busy.rc != 0) {
        printf("memory     committee at 1e6 nodes failed\n");
        return;
    }
    double per_node = ((double)full.memory.peak - (double)half.memory.peak) / 500000.0;
    double extra = (double)busy.in_flight_max - (double)full.in_flight_max;
    double per_request = extra > 0 ? ((double)busy.memory.peak - (double)full.memory.peak) / extra
                                   : NAN;
    printf("memory     committee at 1e6 nodes: peak_alloc_MiB=%.1f  bytes per node=%.0f "
           "(growth 5e5 -> 1e6 nodes)  wall_s=%.1f\n",
           (double)full.memory.peak / 1048576.0, per_node, full.wall_s);
    printf("memory     committee at 1e6 nodes: bytes per in-flight request=%.0f "
           "(peak growth %.1f MiB over %.0f more requests in flight: %llu at 10/s, %llu at "
           "40/s)\n",
           per_request, ((double)busy.memory.peak - (double)full.memory.peak) / 1048576.0, extra,
           (unsigned long long)full.in_flight_max, (unsigned long long)busy.in_flight_max);
}
