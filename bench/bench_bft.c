/* bench_bft.c -- `make bench`'s ledger rows (bench/bench_bft.h). The
 * network is a binary heap of deliveries and timers, delays uniform in
 * [1, 8] ms from a fixed seed, no loss: the protocol's own cost, not the
 * simulator's. Every validator holds 64 pending transactions of 48 bytes at
 * the start and a block takes up to 16; the leader proposes 10 ms after its
 * view starts. Wall-clock reads are allowed here: bench/ is not simulation
 * code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_bft.h"
#include "consensus/cons.h"
#include "scenarios/scn.h"
#include "sim/sim.h"
#include "util/assert.h"
#include "util/hash.h"
#include "util/prng.h"

#define BENCH_BFT_MS 1000000ULL

typedef struct bench_bft_event {
    uint64_t at_ns;
    uint64_t seq;
    uint32_t to;
    uint32_t from;                  /* UINT32_MAX: a timer */
    uint64_t token;
    size_t size;
    uint8_t *bytes;
} bench_bft_event;

typedef struct bench_bft_net {
    uint32_t count;
    cons_bft_replica *replica[CONS_BFT_VALIDATORS_MAX];
    bench_bft_event **heap;
    size_t heap_count, heap_capacity;
    uint64_t seq, now_ns, events, committed, bytes_sent, messages_sent;
    util_prng prng;
} bench_bft_net;

static double bench_bft_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool bench_bft_before(const bench_bft_event *a, const bench_bft_event *b)
{
    return a->at_ns != b->at_ns ? a->at_ns < b->at_ns : a->seq < b->seq;
}

static void bench_bft_push(bench_bft_net *net, bench_bft_event *event)
{
    if (net->heap_count == net->heap_capacity) {
        net->heap_capacity = net->heap_capacity ? 2 * net->heap_capacity : 4096;
        net->heap = realloc(net->heap, net->heap_capacity * sizeof(*net->heap));
        ASSERT(net->heap != NULL);
    }
    event->seq = net->seq++;
    size_t at = net->heap_count++;
    while (at > 0 && bench_bft_before(event, net->heap[(at - 1) / 2])) {
        net->heap[at] = net->heap[(at - 1) / 2];
        at = (at - 1) / 2;
    }
    net->heap[at] = event;
}

static bench_bft_event *bench_bft_pop(bench_bft_net *net)
{
    bench_bft_event *top = net->heap[0];
    bench_bft_event *last = net->heap[--net->heap_count];
    size_t at = 0;
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= net->heap_count) {
            break;
        }
        if (child + 1 < net->heap_count &&
            bench_bft_before(net->heap[child + 1], net->heap[child])) {
            child += 1;
        }
        if (!bench_bft_before(net->heap[child], last)) {
            break;
        }
        net->heap[at] = net->heap[child];
        at = child;
    }
    if (net->heap_count > 0) {
        net->heap[at] = last;
    }
    return top;
}

static void bench_bft_send(bench_bft_net *net, uint32_t from, uint32_t to, const uint8_t *bytes,
                           size_t size)
{
    bench_bft_event *event = calloc(1, sizeof(*event));
    ASSERT(event != NULL);
    event->at_ns = net->now_ns + BENCH_BFT_MS + util_prng_below(&net->prng, 7 * BENCH_BFT_MS + 1);
    event->to = to;
    event->from = from;
    event->size = size;
    event->bytes = malloc(size);
    ASSERT(event->bytes != NULL);
    memcpy(event->bytes, bytes, size);
    bench_bft_push(net, event);
    net->messages_sent += 1;
    net->bytes_sent += size;
}

static void bench_bft_drain(bench_bft_net *net, uint32_t index)
{
    const cons_bft_effect *effects;
    size_t count = cons_bft_effects(net->replica[index], &effects);
    for (size_t i = 0; i < count; i++) {
        const cons_bft_effect *effect = &effects[i];
        if (effect->kind == CONS_BFT_SEND) {
            bench_bft_send(net, index, effect->to, effect->bytes, effect->size);
        } else if (effect->kind == CONS_BFT_BROADCAST) {
            for (uint32_t to = 0; to < net->count; to++) {
                if (to != index) {
                    bench_bft_send(net, index, to, effect->bytes, effect->size);
                }
            }
        } else if (effect->kind == CONS_BFT_TIMER) {
            bench_bft_event *event = calloc(1, sizeof(*event));
            ASSERT(event != NULL);
            event->at_ns = effect->at_ns;
            event->to = index;
            event->from = UINT32_MAX;
            event->token = effect->token;
            bench_bft_push(net, event);
        } else if (effect->kind == CONS_BFT_COMMIT && index == 0) {
            net->committed += 1;
        }
    }
}

static void bench_bft_build(bench_bft_net *net, uint32_t count, cons_bft_auth auth,
                            util_sign_memo *memo, void *const *memory)
{
    static cons_bft_validators validators;
    static uint8_t secret_keys[CONS_BFT_VALIDATORS_MAX][64];
    memset(net, 0, sizeof(*net));
    memset(&validators, 0, sizeof(validators));
    net->count = count;
    validators.count = count;
    util_prng_init_stream(&net->prng, 1, 0, UTIL_PRNG_PURPOSE_NET);
    for (uint32_t i = 0; i < count; i++) {
        util_sign_keypair_from_seed(1, i, validators.public_key[i], secret_keys[i]);
        util_mac_key_derive(1, i, validators.mac_key[i]);
    }
    for (uint32_t i = 0; i < count; i++) {
        cons_bft_config config = {.self = i, .auth = auth,
                                  .block_interval_ns = 10 * BENCH_BFT_MS,
                                  .view_timeout_ns = 200 * BENCH_BFT_MS, .backoff_max = 3,
                                  .block_txs_max = 16, .verified = memo};
        memcpy(config.secret_key, secret_keys[i], 64);
        net->replica[i] = cons_bft_replica_init(memory[i], cons_bft_replica_size(), &validators,
                                                &config);
        for (uint32_t t = 0; t < 64; t++) {
            char tx[48];
            memset(tx, 'x', sizeof(tx));
            snprintf(tx, sizeof(tx), "tx-%u", t);
            cons_bft_submit(net->replica[i], tx, sizeof(tx));
        }
    }
}

static void bench_bft_clear(bench_bft_net *net)
{
    while (net->heap_count > 0) {
        bench_bft_event *event = bench_bft_pop(net);
        free(event->bytes);
        free(event);
    }
    free(net->heap);
    net->heap = NULL;
    net->heap_capacity = 0;
}

/* The mean bytes of a replica's memory that are resident (mincore), out of
 * cons_bft_replica_size(). */
static double bench_bft_resident(void *const *memory, uint32_t count)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (cons_bft_replica_size() + page - 1) / page;
    unsigned char *vec = malloc(pages);
    ASSERT(vec != NULL);
    size_t resident = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (mincore(memory[i], cons_bft_replica_size(), vec) != 0) {
            free(vec);
            return 0.0;
        }
        for (size_t p = 0; p < pages; p++) {
            resident += vec[p] & 1u;
        }
    }
    free(vec);
    return (double)resident * (double)page / (double)count;
}

static void bench_bft_unmap(void *const *memory, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        munmap(memory[i], cons_bft_replica_size());
    }
}

/* Runs the replicas from their start to end_ns. */
static void bench_bft_loop(bench_bft_net *net, uint64_t end_ns)
{
    for (uint32_t i = 0; i < net->count; i++) {
        cons_bft_start(net->replica[i], 0);
        bench_bft_drain(net, i);
    }
    while (net->heap_count > 0) {
        bench_bft_event *event = bench_bft_pop(net);
        if (event->at_ns > end_ns) {
            free(event->bytes);
            free(event);
            break;
        }
        net->now_ns = event->at_ns;
        if (event->from == UINT32_MAX) {
            cons_bft_on_timer(net->replica[event->to], event->at_ns, event->token);
        } else {
            cons_bft_on_message(net->replica[event->to], event->at_ns, event->from, event->bytes,
                                event->size);
        }
        net->events += 1;
        bench_bft_drain(net, event->to);
        free(event->bytes);
        free(event);
    }
}

/* One run, twice in the same memory: first in fresh zero pages, as the
 * simulator's sparse allocation gives them, to count the pages a replica
 * makes resident; then timed, the replicas initialised again over what the
 * first run left (init rewrites only its state, cons.h), so that the time
 * is the protocol's and not the page faults'. With 'memo' the replicas
 * share a memo of verified signatures (as the simulator's validators do),
 * a new one for each run. Returns events per wall second. */
static double bench_bft_once(uint32_t count, cons_bft_auth auth, uint64_t end_ns, bool memo,
                             double baseline)
{
    static bench_bft_net net;
    static void *memory[CONS_BFT_VALIDATORS_MAX];
    for (uint32_t i = 0; i < count; i++) {
        memory[i] = mmap(NULL, cons_bft_replica_size(), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ASSERT(memory[i] != MAP_FAILED);
    }
    util_sign_memo *verified = NULL;
    double resident = 0.0, wall = 0.0;
    for (int pass = 0; pass < 2; pass++) {
        util_sign_memo_destroy(verified);
        verified = NULL;
        if (memo && util_sign_memo_create(1u << 16, &verified) != 0) {
            printf("bft ledger        %3u validators  failed: out of memory\n", count);
            bench_bft_unmap(memory, count);
            return 0.0;
        }
        bench_bft_build(&net, count, auth, verified, memory);
        double start = bench_bft_now_s();
        bench_bft_loop(&net, end_ns);
        wall = bench_bft_now_s() - start;
        if (pass == 0) {
            resident = bench_bft_resident(memory, count);
            bench_bft_clear(&net);
        }
    }
    double blocks = net.committed > 0 ? (double)net.committed : 1.0;
    double rate = (double)net.events / wall;
    printf("bft ledger        %3u validators %-12s %6.1f blocks/s simulated  %9.0f events/s "
           "wall  %6.0f msgs/block  %7.1f KB/block  %4.0f of %zu KB resident/validator",
           count, auth == CONS_BFT_AUTH_MAC ? "mac" : memo ? "ed25519 memo" : "ed25519",
           (double)net.committed / ((double)end_ns * 1e-9), rate,
           (double)net.messages_sent / blocks, (double)net.bytes_sent / blocks / 1024.0,
           resident / 1024.0, cons_bft_replica_size() / 1024);
    if (memo) {
        uint64_t verified_count = util_sign_memo_verified(verified);
        uint64_t hits = util_sign_memo_hits(verified);
        printf("  %.0f verifications/block (%.0f answered by the memo)", verified_count / blocks,
               hits / blocks);
    }
    if (baseline > 0.0) {
        printf("  (x%.1f the ed25519 run without the memo)", rate / baseline);
    }
    printf("\n");
    util_sign_memo_destroy(verified);
    bench_bft_clear(&net);
    bench_bft_unmap(memory, count);
    return rate;
}

void bench_bft_run(void)
{
    static const uint32_t sizes[] = {4, 16, 64, 256};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        bench_bft_once(sizes[i], CONS_BFT_AUTH_MAC, 5000 * BENCH_BFT_MS, false, 0.0);
    }
    /* ed25519 verification dominates: shorter runs. Each replica verifying
     * every certificate itself is quadratic in the validators: without the
     * memo, not at 64 or 256. */
    for (size_t i = 0; i < 2; i++) {
        double plain = bench_bft_once(sizes[i], CONS_BFT_AUTH_ED25519, 2000 * BENCH_BFT_MS,
                                      false, 0.0);
        bench_bft_once(sizes[i], CONS_BFT_AUTH_ED25519, 2000 * BENCH_BFT_MS, true, plain);
    }
    bench_bft_once(64, CONS_BFT_AUTH_ED25519, 2000 * BENCH_BFT_MS, true, 0.0);
    bench_bft_once(256, CONS_BFT_AUTH_ED25519, 1000 * BENCH_BFT_MS, true, 0.0);
}

/* One simulated run with 'validators' validators. */
static void bench_bft_sim_once(uint32_t validators)
{
    char count[64];
    char nodes[64];
    snprintf(count, sizeof(count), "ledger.validators=%u", validators);
    snprintf(nodes, sizeof(nodes), "nodes.count=%u", validators > 80 ? validators : 80);
    const char *const overrides[] = {count, nodes, "duration=10s", "ledger.auth=mac",
                                     "expect={}"};
    scn_scenario *scenario = NULL;
    scn_error error;
    if (scn_load_file("scenarios/ledger_honest.yaml", overrides, 5, &scenario, &error) != 0) {
        printf("ledger sim %3u validators  failed: %s\n", validators, error.message);
        return;
    }
    world_result *result = NULL;
    double start = bench_bft_now_s();
    int rc = sim_run(scenario, NULL, NULL, &result);
    double wall = bench_bft_now_s() - start;
    if (rc == 0) {
        double sim_s = (double)result->sim_ns * 1e-9;
        double blocks = (double)result->block_count;
        const world_type_stats *bft = &result->types[NODE_MESSAGE_LEDGER_BFT];
        printf("ledger sim %3u validators  %6.2f blocks/s simulated  %9.0f events/s wall"
               "  %6.1f BFT messages/block  (%.2f s wall)\n",
               validators, blocks / sim_s, (double)result->events / wall,
               blocks > 0 ? (double)bft->sent / blocks : 0.0, wall);
    } else {
        printf("ledger sim %3u validators  failed: %s\n", validators, world_strerror(rc));
    }
    world_result_destroy(result);
    scn_destroy(scenario);
}

void bench_bft_sim_run(void)
{
    static const uint32_t sizes[] = {4, 16, 64, 256};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        bench_bft_sim_once(sizes[i]);
    }
}
