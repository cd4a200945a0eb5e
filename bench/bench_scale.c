/* bench_scale.c -- see bench_scale.h. Wall-clock reads are allowed in
 * bench/. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_scale.h"
#include "bench/bench_util.h"
#include "consensus/cons.h"
#include "scenarios/scn.h"
#include "sim/sim.h"
#include "util/alloc.h"
#include "util/hash.h"
#include "util/prng.h"
#include "util/workers.h"
#include "world/world.h"

#define BENCH_SCALE_SEED 0x5ca1eULL
#define BENCH_SCALE_COMMITTEE 5u
#define BENCH_SCALE_DRAW_BUDGET_S 0.4

static double bench_scale_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The draw as it was: one cons_sortition_key (libsodium BLAKE2b, then the
 * logarithm) per candidate, the k smallest kept by a scan. */
static uint32_t bench_scale_draw_single(const uint8_t *beacon, const cons_candidate *candidates,
                                        size_t count)
{
    double best = 1e300;
    uint32_t winner = 0;
    for (size_t i = 0; i < count; i++) {
        double key = cons_sortition_key(beacon, 0, &candidates[i]);
        if (key < best) {
            best = key;
            winner = candidates[i].node_id;
        }
    }
    return winner;
}

/* How a draw is timed: the one-ticket-at-a-time baseline, or
 * world_draw_select on 'workers' (NULL: one thread, the draw as
 * cons_committee_select makes it). */
typedef struct bench_scale_draw_way {
    bool single;
    util_workers *workers;
} bench_scale_draw_way;

/* Seconds per draw of 'count' candidates, over draws that take about the
 * budget. */
static double bench_scale_draw_time(const cons_candidate *candidates, size_t count,
                                    bench_scale_draw_way way, uint64_t *sink)
{
    uint32_t draws = 0;
    double start = bench_scale_now_s();
    double elapsed = 0.0;
    while (elapsed < BENCH_SCALE_DRAW_BUDGET_S || draws < 2) {
        uint8_t beacon[CONS_BEACON_BYTES];
        cons_beacon_derive(BENCH_SCALE_SEED, draws, 0, beacon);
        if (way.single) {
            *sink += bench_scale_draw_single(beacon, candidates, count);
        } else {
            uint32_t members[BENCH_SCALE_COMMITTEE];
            world_draw draw = {.beacon = beacon, .candidates = candidates, .count = count,
                               .k = BENCH_SCALE_COMMITTEE};
            int chosen = world_draw_select(way.workers, &draw, members);
            *sink += chosen > 0 ? members[0] : 0;
        }
        draws++;
        elapsed = bench_scale_now_s() - start;
    }
    return elapsed / draws;
}

/* The one-thread and every-thread figures of one size, the two timed in
 * turn BENCH_SCALE_DRAW_ROUNDS times and the least of each kept, so load
 * from elsewhere on a shared machine weighs on both alike. */
#define BENCH_SCALE_DRAW_ROUNDS 3

static void bench_scale_draw_pair(const cons_candidate *candidates, size_t count,
                                  util_workers *workers, double *one_s, double *all_s,
                                  uint64_t *sink)
{
    *one_s = *all_s = 1e300;
    for (int round = 0; round < BENCH_SCALE_DRAW_ROUNDS; round++) {
        double one = bench_scale_draw_time(candidates, count, (bench_scale_draw_way){0}, sink);
        *one_s = one < *one_s ? one : *one_s;
        if (workers != NULL) {
            double all = bench_scale_draw_time(candidates, count,
                                               (bench_scale_draw_way){false, workers}, sink);
            *all_s = all < *all_s ? all : *all_s;
        }
    }
}

/* The rows of one size: a draw on one thread against the one-ticket
 * baseline and against the same draw on every thread of 'workers'. */
static double bench_scale_draw_row(const cons_candidate *candidates, size_t count,
                                   util_workers *workers, double previous, uint64_t *sink)
{
    double draw_s, pool_s;
    bench_scale_draw_pair(candidates, count, workers, &draw_s, &pool_s, sink);
    double single_s = bench_scale_draw_time(candidates, count,
                                            (bench_scale_draw_way){true, NULL}, sink);
    printf("draws      candidates=%-8zu k=%u  ms/draw=%.3f  ns/candidate=%.1f  "
           "(%.2f x faster than one hash ticket at a time)",
           count, BENCH_SCALE_COMMITTEE, draw_s * 1e3, draw_s * 1e9 / (double)count,
           single_s / draw_s);
    if (previous > 0.0) {
        printf("  growth x%.1f for x10 candidates", draw_s / previous);
    }
    printf("\n");
    if (workers != NULL) {
        world_draw draw = {.count = count, .k = BENCH_SCALE_COMMITTEE};
        printf("draws      candidates=%-8zu threads=%u  ms/draw=%.3f  slices=%u  "
               "speedup=%.2fx over threads=1 (ms/draw=%.3f, same run, best of %d each)\n",
               count, util_workers_threads(workers), pool_s * 1e3,
               world_draw_slices(workers, &draw), draw_s / pool_s, draw_s * 1e3,
               BENCH_SCALE_DRAW_ROUNDS);
    }
    return draw_s;
}

/* verification.draw: tree at one size: a tree over the candidates'
 * weights (its fill timed too, the cost of a new source once per epoch or
 * block), then draws of k, each after one weight moved (as a verdict moves
 * the live ledger), against the race's one-thread draw of the same size. */
static double bench_scale_tree_row(const cons_candidate *candidates, size_t count,
                                   double race_s, double previous, uint64_t *sink)
{
    uint64_t *sums = util_calloc(count + 1, sizeof(uint64_t));
    uint64_t *weights = util_calloc(count, sizeof(uint64_t));
    if (sums == NULL || weights == NULL) {
        util_free(sums);
        util_free(weights);
        printf("draws      tree skipped (out of memory)\n");
        return 0.0;
    }
    double scale = cons_tree_scale(2.0);
    cons_tree tree;
    cons_tree_init(&tree, sums, weights, (uint32_t)count);
    double start = bench_scale_now_s();
    for (size_t i = 0; i < count; i++) {
        weights[i] = cons_tree_weight(candidates[i].stake * candidates[i].reputation, scale);
    }
    cons_tree_fill(&tree);
    double fill_s = bench_scale_now_s() - start;
    uint64_t draws = 0;
    start = bench_scale_now_s();
    double elapsed = 0.0;
    while (elapsed < BENCH_SCALE_DRAW_BUDGET_S || draws < 2) {
        uint8_t beacon[CONS_BEACON_BYTES];
        cons_beacon_derive(BENCH_SCALE_SEED, draws, 0, beacon);
        uint32_t at = (uint32_t)(draws * 2654435761u % count);
        cons_tree_set(&tree, at, weights[at] / 2 + 1);
        uint32_t indices[BENCH_SCALE_COMMITTEE];
        *sink += cons_tree_select(&tree, beacon, 0, BENCH_SCALE_COMMITTEE, indices);
        draws++;
        elapsed = bench_scale_now_s() - start;
    }
    double draw_s = elapsed / draws;
    printf("draws      candidates=%-8zu k=%u  tree us/draw=%.2f  (%.0f x faster than the race "
           "on one thread; fill %.2f ms)",
           count, BENCH_SCALE_COMMITTEE, draw_s * 1e6, race_s / draw_s, fill_s * 1e3);
    if (previous > 0.0) {
        printf("  growth x%.2f for x10 candidates", draw_s / previous);
    }
    printf("\n");
    util_free(sums);
    util_free(weights);
    return draw_s;
}

/* selection: vrf over a tree (cons_tree_select_thinned): each candidate's
 * key is derived and its epoch output evaluated on its first hit, as the
 * world does, so a draw pays for the outputs it makes due (the seated
 * members' proofs, made when they claim, are not in this row). */
typedef struct bench_scale_vrf {
    uint8_t alpha[CONS_BEACON_BYTES];
    const uint8_t *beacon;
    uint8_t (*beta)[CONS_VRF_OUTPUT_BYTES];
    uint8_t *proven;
    uint64_t proofs;
    double prove_s;                      /* in key derivations and outputs */
} bench_scale_vrf;

static uint32_t bench_scale_vrf_hits(void *context, uint32_t index)
{
    bench_scale_vrf *v = context;
    if (!v->proven[index]) {
        double start = bench_scale_now_s();
        uint8_t public_key[32], secret_key[64];
        util_sign_keypair_from_seed(BENCH_SCALE_SEED, index, public_key, secret_key);
        if (cons_vrf_output(secret_key, v->alpha, sizeof(v->alpha), v->beta[index]) != 0) {
            memset(v->beta[index], 0, CONS_VRF_OUTPUT_BYTES); /* never seen (cons.h) */
        }
        v->proven[index] = 1;
        v->proofs += 1;
        v->prove_s += bench_scale_now_s() - start;
    }
    return cons_tree_hits_needed(cons_vrf_uniform(v->beta[index], v->beacon, 0), 0.25);
}

/* The draws of one epoch under selection: vrf and draw: tree (vrf_accept
 * 1/4) at one size, against the hash race's draw on one thread; a race
 * under vrf would also prove every candidate once per epoch. */
static double bench_scale_vrf_tree_row(const cons_candidate *candidates, size_t count,
                                       double race_s, double previous)
{
    uint64_t *sums = util_calloc(count + 1, sizeof(uint64_t));
    uint64_t *weights = util_calloc(count, sizeof(uint64_t));
    bench_scale_vrf v = {.beta = util_calloc(count, CONS_VRF_OUTPUT_BYTES),
                         .proven = util_calloc(count, 1)};
    cons_tree_walk *walk = util_calloc(1, sizeof(*walk));
    double draw_s = 0.0;
    if (sums != NULL && weights != NULL && v.beta != NULL && v.proven != NULL && walk != NULL) {
        cons_tree tree;
        cons_tree_init(&tree, sums, weights, (uint32_t)count);
        double scale = cons_tree_scale(2.0);
        for (size_t i = 0; i < count; i++) {
            weights[i] = cons_tree_weight(candidates[i].stake * candidates[i].reputation, scale);
        }
        cons_tree_fill(&tree);
        cons_vrf_epoch_alpha(BENCH_SCALE_SEED, 0, v.alpha);
        uint64_t draws = 0, picks_all = 0;
        double start = bench_scale_now_s(), elapsed = 0.0;
        while (elapsed < BENCH_SCALE_DRAW_BUDGET_S || draws < 2) {
            uint8_t beacon[CONS_BEACON_BYTES];
            cons_beacon_derive(BENCH_SCALE_SEED, draws, 0, beacon);
            v.beacon = beacon;
            uint32_t indices[BENCH_SCALE_COMMITTEE], picks = 0;
            cons_tree_select_thinned(&tree, beacon, 0, BENCH_SCALE_COMMITTEE,
                                     bench_scale_vrf_hits, &v, walk, indices, &picks);
            picks_all += picks;
            draws++;
            elapsed = bench_scale_now_s() - start;
        }
        draw_s = elapsed / draws;
        double prove_each = v.proofs > 0 ? v.prove_s / v.proofs : 0.0;
        double walk_s = (elapsed - v.prove_s) / draws;
        printf("draws      candidates=%-8zu k=%u  vrf tree us/draw=%.1f  (the walk %.2f us, "
               "%.1f picks; %.1f outputs due a draw at %.0f us each; a vrf race evaluates "
               "every candidate once an epoch, %.1f s, and draws in %.1f x the walk's time)",
               count, BENCH_SCALE_COMMITTEE, draw_s * 1e6, walk_s * 1e6,
               (double)picks_all / draws, (double)v.proofs / draws, prove_each * 1e6,
               prove_each * (double)count, race_s / walk_s);
        if (previous > 0.0) {
            printf("  growth x%.2f for x10 candidates", draw_s / previous);
        }
        printf("\n");
    } else {
        printf("draws      vrf tree skipped (out of memory)\n");
    }
    util_free(sums);
    util_free(weights);
    util_free(v.beta);
    util_free(v.proven);
    util_free(walk);
    return draw_s;
}

void bench_scale_draws(void)
{
    const size_t sizes[] = {10000, 100000, 1000000};
    size_t largest = sizes[sizeof(sizes) / sizeof(sizes[0]) - 1];
    cons_candidate *candidates = util_calloc(largest, sizeof(*candidates));
    if (candidates == NULL) {
        printf("draws      skipped (out of memory)\n");
        return;
    }
    util_prng prng;
    util_prng_init(&prng, BENCH_SCALE_SEED);
    for (size_t i = 0; i < largest; i++) {
        candidates[i].node_id = (uint32_t)i;
        for (size_t b = 0; b < CONS_PUBLIC_KEY_BYTES; b += 8) {
            uint64_t word = util_prng_next(&prng);
            memcpy(candidates[i].public_key + b, &word, 8);
        }
        candidates[i].stake = 1.0 + util_prng_uniform(&prng);
        candidates[i].reputation = 0.5 + 0.5 * util_prng_uniform(&prng);
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    util_workers *workers = NULL;
    if (cores > 1 && util_workers_create((uint32_t)cores, &workers) != 0) {
        workers = NULL;
    }
    uint64_t sink = 0;
    double previous = 0.0, previous_tree = 0.0, previous_vrf = 0.0;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        previous = bench_scale_draw_row(candidates, sizes[s], workers, previous, &sink);
        previous_tree = bench_scale_tree_row(candidates, sizes[s], previous, previous_tree,
                                             &sink);
        previous_vrf = bench_scale_vrf_tree_row(candidates, sizes[s], previous, previous_vrf);
    }
    util_workers_destroy(workers);
    printf("draws      (race: every ticket is keyed by the draw's beacon, so a draw hashes every "
           "candidate and time grows linearly; on every thread, in slices whose best k "
           "are merged: the same committee. tree: k picks from the beacon over a weight "
           "tree, O(k log n): the race's law, other committees. vrf tree: picks over the "
           "tree seat a node on the hit its private VRF ticket asks for, about k / 0.25 "
           "picks, and only the nodes hit evaluate their epoch output)  [%llu]\n",
           (unsigned long long)(sink & 0xff));
    util_free(candidates);
}

typedef struct bench_scale_progress {
    double first_s;
    uint64_t first_events;
} bench_scale_progress;

static void bench_scale_on_progress(void *context, uint64_t sim_ns, uint64_t events)
{
    bench_scale_progress *progress = context;
    (void)sim_ns;
    if (progress->first_s == 0.0) {
        progress->first_s = bench_scale_now_s();
        progress->first_events = events;
    }
}

int bench_scale_gossip(uint32_t nodes, double hold_rate, double gossip_hold_rate,
                       const char *hold_size)
{
    char count[64];
    snprintf(count, sizeof(count), "nodes.count=%u", nodes);
    /* Above 1e3 nodes: one rumor in one simulated second, no faults. */
    const char *path = nodes > 1000 ? "bench/gossip_1m.yaml" : "scenarios/gossip.yaml";
    const char *const overrides[] = {count};
    scn_scenario *scenario = NULL;
    if (bench_util_load(path, overrides, 1, &scenario) != 0) {
        return 1;
    }
    bench_scale_progress progress = {0.0, 0};
    world_observer observer = {&progress, NULL, NULL, bench_scale_on_progress, NULL, 1, false};
    world_result *result = NULL;
    double start = bench_scale_now_s();
    int rc = sim_run(scenario, &observer, NULL, &result);
    double end = bench_scale_now_s();
    scn_destroy(scenario);
    if (rc != 0) {
        fprintf(stderr, "bench: sim_run: %s\n", world_strerror(rc));
        return 1;
    }
    double rate = progress.first_s > 0.0 && end > progress.first_s
                      ? (double)(result->events - progress.first_events) / (end - progress.first_s)
                      : (double)result->events / (end - start);
    printf("gossip     nodes=%-8u events=%llu wall_s=%.2f events/s=%.3e  (%.3f x hold queue "
           "at %s",
           nodes, (unsigned long long)result->events, end - start, rate, rate / hold_rate,
           hold_size);
    if (gossip_hold_rate > 0.0) {
        printf("; %.3f x with the gossip links' delays", rate / gossip_hold_rate);
    }
    printf(")  trace=%016llx\n", (unsigned long long)result->trace_hash);
    /* Memory for what is in flight, held at the end over the peak: a copy
     * is its slot (the 64-byte wire header), its free-list entry and its
     * queued event; a payload is stored once per message, shared by its
     * copies (a rumor's payload is charged to the links, not stored). */
    uint64_t peak = result->peak_in_flight > 0 ? result->peak_in_flight : 1;
    printf("gossip     nodes=%-8u peak_in_flight=%llu  bytes/copy=%u (held at the end over "
           "the peak, queue capacity included: %.1f)  bytes/payload=%u + its size  "
           "payloads_peak=%llu",
           nodes, (unsigned long long)result->peak_in_flight, result->copy_record_bytes,
           (double)result->copy_storage_bytes / (double)peak, result->payload_record_bytes,
           (unsigned long long)result->peak_payloads_in_flight);
    if (result->peak_payloads_in_flight > 0) {
        printf(" (held: %.1f)", (double)result->payload_storage_bytes /
                                    (double)result->peak_payloads_in_flight);
    }
    printf("\n");
    world_result_destroy(result);
    return 0;
}
