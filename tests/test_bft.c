/* test_bft.c -- the BFT replica of consensus/cons_bft.c. A deterministic
 * in-test network (a binary heap of timed deliveries, PRNG delays, a window
 * of message loss, a partition that heals, Twins instances that share one
 * identity) runs n = 4, 7 and 16 replicas. Properties: no two honest
 * replicas commit different blocks at one height over 1,000 seeds with
 * f < n/3 Byzantine validators of every kind (Byzantine leaders included);
 * commits resume after the last fault within a bound; with f >= n/3 Twins
 * the fork checker fires (so it can) and withholders stall the ledger; the
 * pacemaker's timeout certificate, view advance and backoff by hand;
 * hostile bytes (garbage, truncations, flipped bytes, forged signatures,
 * non-validators) are refused with no effect. TEST_BFT_SEED=s runs one
 * seed of the safety loop (printing the replicas' state when it fails);
 * TEST_BFT_TRACE=1 prints views and sends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/cons.h"
#include "tests/suites.h"
#include "util/assert.h"
#include "util/hash.h"
#include "util/prng.h"

#define NET_INSTANCES_MAX (CONS_BFT_VALIDATORS_MAX + 48)
#define NET_HEIGHTS_MAX 4096
#define NET_MS 1000000ULL

typedef struct net_event {
    uint64_t at_ns;
    uint64_t seq;
    uint32_t instance;          /* the receiver */
    uint32_t from;              /* validator index; UINT32_MAX for a timer */
    uint64_t token;
    size_t size;
    uint8_t *bytes;
} net_event;

typedef struct net_instance {
    uint32_t id;                /* validator index (twins share one) */
    uint32_t side;              /* 0 hears everyone; 1 and 2 hear only 0 and their own side */
    cons_bft_behaviour behaviour;
    void *memory;
    cons_bft_replica *replica;
    uint64_t committed;
    uint8_t (*commits)[CONS_BFT_ID_BYTES];
    uint64_t first_commit_after_heal_ns;
    uint64_t view_changes;
} net_instance;

typedef struct net_options {
    uint32_t validators;
    cons_bft_auth auth;
    cons_bft_behaviour behaviour[CONS_BFT_VALIDATORS_MAX];
    bool twin_split;            /* twins on sides 1 and 2, honest on side 0 */
    bool full_split;            /* honest validators split between sides 1 and 2 too */
    uint64_t delay_ns_min, delay_ns_max;
    uint64_t loss_from_ns, loss_until_ns;
    double loss;
    uint64_t partition_from_ns, partition_until_ns;
    uint8_t group[CONS_BFT_VALIDATORS_MAX];     /* the partition's two sides */
    uint64_t view_timeout_ns, block_interval_ns, end_ns;
    uint32_t backoff_max;
    uint32_t txs;               /* transactions submitted at the start */
    bool external_validity;     /* validators other than 0 refuse transactions "bad..." */
    util_sign_memo *verified;   /* shared by every replica (NULL: none) */
    int fill;                   /* each replica's memory holds this byte before init */
} net_options;

typedef struct net {
    net_options options;
    uint32_t count;
    net_instance instance[NET_INSTANCES_MAX];
    cons_bft_validators validators;
    net_event **heap;
    size_t heap_count, heap_capacity;
    uint64_t seq;
    util_prng prng;
    uint64_t now_ns;
    uint64_t delivered;
    const char *broken;         /* an honest replica's broken invariant */
} net;

static void test_bft_setup(void)
{
    ck_assert_int_eq(util_hash_init(), 0);
}

/* ---- The event heap ---- */

static bool net_before(const net_event *a, const net_event *b)
{
    return a->at_ns != b->at_ns ? a->at_ns < b->at_ns : a->seq < b->seq;
}

static void net_push(net *network, net_event *event)
{
    if (network->heap_count == network->heap_capacity) {
        network->heap_capacity = network->heap_capacity ? 2 * network->heap_capacity : 1024;
        network->heap = realloc(network->heap, network->heap_capacity * sizeof(*network->heap));
        ck_assert_ptr_nonnull(network->heap);
    }
    event->seq = network->seq++;
    size_t at = network->heap_count++;
    while (at > 0 && net_before(event, network->heap[(at - 1) / 2])) {
        network->heap[at] = network->heap[(at - 1) / 2];
        at = (at - 1) / 2;
    }
    network->heap[at] = event;
}

static net_event *net_pop(net *network)
{
    net_event *top = network->heap[0];
    net_event *last = network->heap[--network->heap_count];
    size_t at = 0;
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= network->heap_count) {
            break;
        }
        if (child + 1 < network->heap_count &&
            net_before(network->heap[child + 1], network->heap[child])) {
            child += 1;
        }
        if (!net_before(network->heap[child], last)) {
            break;
        }
        network->heap[at] = network->heap[child];
        at = child;
    }
    if (network->heap_count > 0) {
        network->heap[at] = last;
    }
    return top;
}

/* ---- Building a network ---- */

static void net_validators_fill(cons_bft_validators *validators, uint32_t count,
                                uint8_t secret_keys[][64])
{
    memset(validators, 0, sizeof(*validators));
    validators->count = count;
    for (uint32_t i = 0; i < count; i++) {
        util_sign_keypair_from_seed(77, i, validators->public_key[i], secret_keys[i]);
        util_mac_key_derive(77, i, validators->mac_key[i]);
    }
}

/* External validity for the tests: a transaction starting "bad" is invalid. */
static bool net_tx_valid(const void *context, const uint8_t *tx, size_t size)
{
    (void)context;
    return size < 3 || memcmp(tx, "bad", 3) != 0;
}

static cons_bft_config net_config(const net_options *options, uint32_t id,
                                  const uint8_t secret_key[64])
{
    cons_bft_config config = {
        .self = id,
        .auth = options->auth,
        .block_interval_ns = options->block_interval_ns,
        .view_timeout_ns = options->view_timeout_ns,
        .backoff_max = options->backoff_max,
        .block_txs_max = 8,
        .behaviour = options->behaviour[id],
        .delay_ns = 3 * options->view_timeout_ns / 4,
        .crash_at_ns = options->end_ns / 4,
        .verified = options->verified,
    };
    memcpy(config.secret_key, secret_key, 64);
    if (options->external_validity && id != 0) {
        config.tx_valid = net_tx_valid;
    }
    return config;
}

static void net_instance_add(net *network, uint32_t id, uint32_t side,
                             const uint8_t secret_key[64])
{
    ck_assert_uint_lt(network->count, NET_INSTANCES_MAX);
    net_instance *instance = &network->instance[network->count++];
    cons_bft_config config = net_config(&network->options, id, secret_key);
    instance->id = id;
    instance->side = side;
    instance->behaviour = config.behaviour;
    instance->memory = malloc(cons_bft_replica_size());
    instance->commits = calloc(NET_HEIGHTS_MAX + 1, CONS_BFT_ID_BYTES);
    ck_assert_ptr_nonnull(instance->memory);
    ck_assert_ptr_nonnull(instance->commits);
    memset(instance->memory, network->options.fill, cons_bft_replica_size());
    instance->replica = cons_bft_replica_init(instance->memory, cons_bft_replica_size(),
                                              &network->validators, &config);
    instance->first_commit_after_heal_ns = UINT64_MAX;
}

static net *net_create(const net_options *options, uint64_t seed)
{
    net *network = calloc(1, sizeof(*network));
    ck_assert_ptr_nonnull(network);
    network->options = *options;
    util_prng_init_stream(&network->prng, seed, 0, UTIL_PRNG_PURPOSE_NET);
    static uint8_t secret_keys[CONS_BFT_VALIDATORS_MAX][64];
    net_validators_fill(&network->validators, options->validators, secret_keys);
    for (uint32_t id = 0; id < options->validators; id++) {
        bool twin = options->behaviour[id] == CONS_BFT_TWIN;
        uint32_t side = 0;
        if (twin && options->twin_split) {
            side = 1;
        } else if (options->full_split) {
            side = 1 + id % 2;
        }
        net_instance_add(network, id, side, secret_keys[id]);
    }
    for (uint32_t id = 0; id < options->validators; id++) {
        if (options->behaviour[id] == CONS_BFT_TWIN) {
            net_instance_add(network, id, options->twin_split ? 2 : 0, secret_keys[id]);
        }
    }
    return network;
}

static void net_destroy(net *network)
{
    while (network->heap_count > 0) {
        net_event *event = net_pop(network);
        free(event->bytes);
        free(event);
    }
    free(network->heap);
    for (uint32_t i = 0; i < network->count; i++) {
        free(network->instance[i].memory);
        free(network->instance[i].commits);
    }
    free(network);
}

static bool net_honest(const net_instance *instance)
{
    return instance->behaviour == CONS_BFT_HONEST;
}

/* ---- Carrying effects ---- */

static bool net_reachable(net *network, const net_instance *from, const net_instance *to)
{
    const net_options *options = &network->options;
    if (from->side != 0 && to->side != 0 && from->side != to->side) {
        return false;
    }
    if (network->now_ns >= options->partition_from_ns &&
        network->now_ns < options->partition_until_ns &&
        options->group[from->id] != options->group[to->id]) {
        return false;
    }
    if (network->now_ns >= options->loss_from_ns && network->now_ns < options->loss_until_ns &&
        util_prng_chance(&network->prng, options->loss)) {
        return false;
    }
    return true;
}

static void net_deliver(net *network, const net_instance *from, uint32_t to_id,
                        const uint8_t *bytes, size_t size)
{
    for (uint32_t i = 0; i < network->count; i++) {
        net_instance *to = &network->instance[i];
        if (to->id != to_id || !net_reachable(network, from, to)) {
            continue;
        }
        const net_options *options = &network->options;
        net_event *event = calloc(1, sizeof(*event));
        TEST_ASSERT(event != NULL);
        uint64_t span = options->delay_ns_max - options->delay_ns_min + 1;
        event->at_ns = network->now_ns + options->delay_ns_min +
                       util_prng_below(&network->prng, span);
        event->instance = i;
        event->from = from->id;
        event->size = size;
        event->bytes = malloc(size);
        TEST_ASSERT(event->bytes != NULL);
        memcpy(event->bytes, bytes, size);
        net_push(network, event);
    }
}

static void net_record_commit(net *network, net_instance *instance, const cons_bft_block *block)
{
    uint64_t height = cons_bft_block_height(block);
    TEST_ASSERT_UINT_EQ(height, instance->committed + 1);
    instance->committed = height;
    if (height <= NET_HEIGHTS_MAX) {
        memcpy(instance->commits[height], cons_bft_block_id(block), CONS_BFT_ID_BYTES);
    }
    uint64_t heal_ns = network->options.partition_until_ns > network->options.loss_until_ns
                           ? network->options.partition_until_ns
                           : network->options.loss_until_ns;
    if (network->now_ns >= heal_ns && instance->first_commit_after_heal_ns == UINT64_MAX) {
        instance->first_commit_after_heal_ns = network->now_ns;
    }
}

static void net_drain(net *network, uint32_t index)
{
    net_instance *instance = &network->instance[index];
    const cons_bft_effect *effects;
    size_t count = cons_bft_effects(instance->replica, &effects);
    for (size_t i = 0; i < count; i++) {
        const cons_bft_effect *effect = &effects[i];
        switch (effect->kind) {
        case CONS_BFT_SEND:
            if (getenv("TEST_BFT_TRACE") != NULL) {
                fprintf(stderr, "%llu ms: %u sends %s to %u\n",
                        (unsigned long long)(network->now_ns / NET_MS), index,
                        cons_bft_message_name(effect->bytes, effect->size), effect->to);
            }
            TEST_ASSERT(effect->to != instance->id);
            net_deliver(network, instance, effect->to, effect->bytes, effect->size);
            break;
        case CONS_BFT_BROADCAST:
            if (getenv("TEST_BFT_TRACE") != NULL) {
                fprintf(stderr, "%llu ms: %u broadcasts %s\n",
                        (unsigned long long)(network->now_ns / NET_MS), index,
                        cons_bft_message_name(effect->bytes, effect->size));
            }
            for (uint32_t id = 0; id < network->options.validators; id++) {
                if (id != instance->id) {
                    net_deliver(network, instance, id, effect->bytes, effect->size);
                }
            }
            break;
        case CONS_BFT_TIMER: {
            net_event *event = calloc(1, sizeof(*event));
            TEST_ASSERT(event != NULL);
            TEST_ASSERT(effect->at_ns >= network->now_ns);
            event->at_ns = effect->at_ns;
            event->instance = index;
            event->from = UINT32_MAX;
            event->token = effect->token;
            net_push(network, event);
            break;
        }
        case CONS_BFT_COMMIT:
            net_record_commit(network, instance, effect->block);
            break;
        case CONS_BFT_VIEW:
            instance->view_changes += 1;
            if (getenv("TEST_BFT_TRACE") != NULL) {
                fprintf(stderr, "%llu ms: %u view %llu by %s\n",
                        (unsigned long long)(network->now_ns / NET_MS), index,
                        (unsigned long long)effect->view,
                        effect->reason == CONS_BFT_BY_QC ? "qc" : "tc");
            }
            break;
        }
    }
    const char *broken = net_honest(instance) ? cons_bft_check(instance->replica) : NULL;
    if (broken != NULL && network->broken == NULL) {
        network->broken = broken;
    }
}

static void net_submit(net *network, uint32_t index, uint32_t number)
{
    char tx[32];
    int size = snprintf(tx, sizeof(tx), "tx-%u-side%u", number,
                        network->options.full_split ? network->instance[index].side : 0);
    int status = cons_bft_submit(network->instance[index].replica, tx, (size_t)size);
    TEST_ASSERT(status >= 0);
}

static void net_run(net *network)
{
    for (uint32_t i = 0; i < network->count; i++) {
        for (uint32_t t = 0; t < network->options.txs; t++) {
            net_submit(network, i, t);
        }
        cons_bft_start(network->instance[i].replica, 0);
        net_drain(network, i);
    }
    while (network->heap_count > 0) {
        net_event *event = net_pop(network);
        if (event->at_ns > network->options.end_ns) {
            free(event->bytes);
            free(event);
            break;
        }
        network->now_ns = event->at_ns;
        net_instance *instance = &network->instance[event->instance];
        if (event->from == UINT32_MAX) {
            cons_bft_on_timer(instance->replica, event->at_ns, event->token);
        } else {
            int status = cons_bft_on_message(instance->replica, event->at_ns, event->from,
                                             event->bytes, event->size);
            /* Honest peers' messages are never refused... except blocks nobody asked for
             * any more, which the fetch protocol may deliver twice. */
            (void)status;
            network->delivered += 1;
        }
        net_drain(network, event->instance);
        free(event->bytes);
        free(event);
    }
}

/* The fork checker: the first height at which two honest replicas committed
 * different blocks, or 0. */
static uint64_t net_fork_height(const net *network)
{
    for (uint32_t a = 0; a < network->count; a++) {
        const net_instance *first = &network->instance[a];
        if (!net_honest(first)) {
            continue;
        }
        for (uint32_t b = a + 1; b < network->count; b++) {
            const net_instance *second = &network->instance[b];
            if (!net_honest(second)) {
                continue;
            }
            uint64_t common = first->committed < second->committed ? first->committed
                                                                    : second->committed;
            for (uint64_t h = 1; h <= common && h <= NET_HEIGHTS_MAX; h++) {
                if (memcmp(first->commits[h], second->commits[h], CONS_BFT_ID_BYTES) != 0) {
                    return h;
                }
            }
        }
    }
    return 0;
}

/* Two runs of the same options and seed went the same way: the same
 * messages delivered, and every instance committed the same blocks and
 * changed view as often. */
static void net_assert_same_run(const net *a, const net *b)
{
    ck_assert_uint_eq(b->delivered, a->delivered);
    ck_assert_uint_eq(b->count, a->count);
    for (uint32_t i = 0; i < a->count; i++) {
        const net_instance *x = &a->instance[i], *y = &b->instance[i];
        ck_assert_uint_eq(x->committed, y->committed);
        ck_assert_uint_eq(x->view_changes, y->view_changes);
        ck_assert_mem_eq(x->commits, y->commits, (NET_HEIGHTS_MAX + 1) * CONS_BFT_ID_BYTES);
    }
}

static net_options net_options_default(uint32_t validators)
{
    return (net_options){
        .validators = validators,
        .auth = CONS_BFT_AUTH_MAC,
        .delay_ns_min = 1 * NET_MS,
        .delay_ns_max = 8 * NET_MS,
        .view_timeout_ns = 60 * NET_MS,
        .block_interval_ns = 10 * NET_MS,
        .backoff_max = 3,
        .end_ns = 3000 * NET_MS,
        .txs = 20,
    };
}

/* ---- Safety and liveness over seeds ---- */

static const cons_bft_behaviour test_bft_kinds[] = {
    CONS_BFT_EQUIVOCATE, CONS_BFT_WITHHOLD, CONS_BFT_DELAY, CONS_BFT_CRASH, CONS_BFT_TWIN,
    CONS_BFT_HONEST /* mixed: each Byzantine validator a kind of its own */};

/* f < n/3 Byzantine validators of one kind (or mixed) on random ids, a
 * random loss window and partition that end by 0.9 s; safe throughout, and
 * every honest running replica commits again after the heal. */
static void test_bft_random_run(uint64_t seed)
{
    static const uint32_t sizes[] = {4, 7, 16};
    uint32_t n = sizes[seed % 3];
    cons_bft_behaviour kind = test_bft_kinds[(seed / 3) % UTIL_ARRAY_COUNT(test_bft_kinds)];
    net_options options = net_options_default(n);
    options.auth = seed % 50 == 0 ? CONS_BFT_AUTH_ED25519 : CONS_BFT_AUTH_MAC;
    util_prng prng;
    util_prng_init_stream(&prng, seed, 1, UTIL_PRNG_PURPOSE_FAULT);
    uint32_t f = cons_bft_faults(n);
    for (uint32_t placed = 0; placed < f;) {
        uint32_t id = (uint32_t)util_prng_below(&prng, n);
        if (options.behaviour[id] != CONS_BFT_HONEST) {
            continue;
        }
        options.behaviour[id] = kind != CONS_BFT_HONEST
                                    ? kind
                                    : test_bft_kinds[util_prng_below(&prng, 5)];
        placed += 1;
    }
    options.twin_split = util_prng_chance(&prng, 0.5);
    options.backoff_max = 2;
    options.end_ns = 4500 * NET_MS;
    options.loss_from_ns = util_prng_below(&prng, 400) * NET_MS;
    options.loss_until_ns = options.loss_from_ns + util_prng_below(&prng, 500) * NET_MS;
    options.loss = util_prng_uniform(&prng) * 0.5;
    options.partition_from_ns = util_prng_below(&prng, 400) * NET_MS;
    options.partition_until_ns = options.partition_from_ns + util_prng_below(&prng, 500) * NET_MS;
    for (uint32_t id = 0; id < n; id++) {
        options.group[id] = (uint8_t)util_prng_below(&prng, 2);
    }
    net *network = net_create(&options, seed);
    net_run(network);
    uint64_t fork = net_fork_height(network);
    if (fork != 0 || network->broken != NULL) {
        fprintf(stderr, "test_bft: seed %llu n %u kind %s: fork at %llu, broken %s\n",
                (unsigned long long)seed, n, cons_bft_behaviour_name(kind),
                (unsigned long long)fork, network->broken ? network->broken : "none");
    }
    ck_assert_uint_eq(fork, 0);
    ck_assert_ptr_null(network->broken);
    /* Liveness: the last fault ends by 0.9 s; the backed-off timeout is at most
     * 60 ms x 2^2; even 2f failed views in a row (f crashed leaders, and f views
     * whose votes go to them) end by 3.3 s at n = 16, so every honest replica
     * commits again before 4.5 s. */
    for (uint32_t i = 0; i < network->count; i++) {
        const net_instance *instance = &network->instance[i];
        if (net_honest(instance)) {
            if (instance->first_commit_after_heal_ns == UINT64_MAX) {
                fprintf(stderr, "test_bft: seed %llu n %u kind %s: replica %u stalled at %llu\n",
                        (unsigned long long)seed, n, cons_bft_behaviour_name(kind), i,
                        (unsigned long long)instance->committed);
                for (uint32_t j = 0; j < network->count; j++) {
                    cons_bft_status st;
                    cons_bft_status_get(network->instance[j].replica, &st);
                    fprintf(stderr, "  %u id %u %s view %llu committed %llu hqc %llu voted %llu "
                            "tir %u rejected %llu\n", j, network->instance[j].id,
                            cons_bft_behaviour_name(network->instance[j].behaviour),
                            (unsigned long long)st.view, (unsigned long long)st.committed_height,
                            (unsigned long long)st.high_qc_view,
                            (unsigned long long)st.last_voted_view, st.timeouts_in_row,
                            (unsigned long long)st.rejected);
                }
            }
            ck_assert_uint_ne(instance->first_commit_after_heal_ns, UINT64_MAX);
        }
    }
    net_destroy(network);
}

/* 1,000 seeds in ten runs of 100 (one process each: a fork per seed costs
 * more than the seed). */
START_TEST(test_bft_safety_seeds)
{
    if (getenv("TEST_BFT_SEED") != NULL) {
        test_bft_random_run(strtoull(getenv("TEST_BFT_SEED"), NULL, 10));
        return;
    }
    for (uint64_t seed = 100 * (uint64_t)_i; seed < 100 * (uint64_t)(_i + 1); seed++) {
        test_bft_random_run(seed);
    }
}
END_TEST

/* Honest replicas with ed25519: every transaction commits exactly once, in
 * the same order on every replica. */
START_TEST(test_bft_honest_commits_every_tx_once)
{
    static const uint32_t sizes[] = {4, 7, 16};
    net_options options = net_options_default(sizes[_i]);
    options.auth = CONS_BFT_AUTH_ED25519;
    options.end_ns = 1000 * NET_MS;
    options.txs = 40;
    net *network = net_create(&options, 11 + (uint64_t)_i);
    net_run(network);
    ck_assert_uint_eq(net_fork_height(network), 0);
    for (uint32_t i = 0; i < network->count; i++) {
        ck_assert_uint_ge(network->instance[i].committed, 10);
        cons_bft_status status;
        cons_bft_status_get(network->instance[i].replica, &status);
        ck_assert_uint_eq(status.mempool, 0);   /* all 40 committed, and removed */
        ck_assert_uint_eq(status.rejected, 0);
        ck_assert_uint_eq(status.timeouts_in_row, 0);
    }
    net_destroy(network);
}
END_TEST

/* Replicas that share a memo of verified signatures (as the simulator's
 * validators do) behave exactly as replicas that verify every signature:
 * under ed25519, with equivocating and twin validators, the same messages
 * are delivered and every instance commits the same blocks; and the memo
 * answers most of the verifications. */
START_TEST(test_bft_memo_same_run)
{
    static const cons_bft_behaviour kinds[] = {CONS_BFT_EQUIVOCATE, CONS_BFT_TWIN};
    net_options options = net_options_default(7);
    options.auth = CONS_BFT_AUTH_ED25519;
    options.end_ns = 1000 * NET_MS;
    options.behaviour[3] = kinds[_i];
    options.behaviour[5] = kinds[_i];
    net *plain = net_create(&options, 31);
    net_run(plain);
    ck_assert_int_eq(util_sign_memo_create(4096, &options.verified), 0);
    net *memo = net_create(&options, 31);
    net_run(memo);
    net_assert_same_run(plain, memo);
    for (uint32_t i = 0; i < plain->count; i++) {
        ck_assert_uint_ge(plain->instance[i].committed, 5);
    }
    ck_assert_uint_gt(util_sign_memo_hits(options.verified),
                      2 * util_sign_memo_verified(options.verified));
    util_sign_memo_destroy(options.verified);
    net_destroy(plain);
    net_destroy(memo);
}
END_TEST

/* A replica reads no byte of its memory that init or the replica itself
 * did not write (init leaves the store, mempool, scratch blocks, effects
 * and arena as they are, so that fresh memory stays unmapped): replicas
 * whose memory held 0xa5 before init run exactly as replicas in zeroed
 * memory. With equivocating, twin, withholding and delaying validators,
 * loss and a partition, for 12 s of 10 ms blocks: past 256 blocks, so the
 * store evicts. */
START_TEST(test_bft_dirty_memory_same_run)
{
    static const cons_bft_behaviour kinds[] = {CONS_BFT_EQUIVOCATE, CONS_BFT_TWIN,
                                               CONS_BFT_WITHHOLD, CONS_BFT_DELAY};
    net_options options = net_options_default(7);
    options.end_ns = 12000 * NET_MS;
    options.behaviour[2] = kinds[_i];
    options.behaviour[5] = kinds[(_i + 1) % 4];
    options.loss_from_ns = 200 * NET_MS;
    options.loss_until_ns = 500 * NET_MS;
    options.loss = 0.2;
    options.partition_from_ns = 700 * NET_MS;
    options.partition_until_ns = 900 * NET_MS;
    options.group[1] = options.group[4] = 1;
    options.txs = 200;
    net *clean = net_create(&options, 41 + (uint64_t)_i);
    net_run(clean);
    options.fill = 0xa5;
    net *dirty = net_create(&options, 41 + (uint64_t)_i);
    /* Init left the tail as it was. */
    ck_assert_uint_eq(((const uint8_t *)dirty->instance[0].memory)[cons_bft_replica_size() - 1],
                      0xa5);
    net_run(dirty);
    net_assert_same_run(clean, dirty);
    for (uint32_t i = 0; i < clean->count; i++) {
        if (net_honest(&clean->instance[i])) {
            ck_assert_uint_gt(clean->instance[i].committed, 256);
        }
    }
    ck_assert_uint_eq(net_fork_height(dirty), 0);
    net_destroy(clean);
    net_destroy(dirty);
}
END_TEST

/* External validity: validator 0 takes an invalid transaction (it has no
 * check) and proposes it whenever it leads; the others refuse to vote for
 * those blocks, so the transaction never commits anywhere, its views time
 * out, and every valid transaction still commits. */
START_TEST(test_bft_external_validity_refuses_votes)
{
    net_options options = net_options_default(4);
    options.external_validity = true;
    options.end_ns = 1500 * NET_MS;
    net *network = net_create(&options, 5);
    ck_assert_int_eq(cons_bft_submit(network->instance[0].replica, "bad-tx", 6), 0);
    net_run(network);
    ck_assert_uint_eq(net_fork_height(network), 0);
    for (uint32_t i = 0; i < network->count; i++) {
        cons_bft_status status;
        cons_bft_status_get(network->instance[i].replica, &status);
        ck_assert_uint_ge(network->instance[i].committed, 5);
        /* every valid transaction committed; the invalid one waits at 0 */
        ck_assert_uint_eq(status.mempool, i == 0 ? 1 : 0);
    }
    ck_assert_uint_gt(network->instance[1].view_changes, 0);
    net_destroy(network);
}
END_TEST

/* A partition of the validators into two minorities stalls the ledger; once
 * it heals, every replica commits within two backed-off timeouts. */
START_TEST(test_bft_partition_heals)
{
    static const uint32_t sizes[] = {4, 7, 16};
    uint32_t n = sizes[_i];
    net_options options = net_options_default(n);
    options.partition_from_ns = 200 * NET_MS;
    options.partition_until_ns = 900 * NET_MS;
    for (uint32_t id = 0; id < n; id++) {
        options.group[id] = (uint8_t)(id % 2);
    }
    options.end_ns = 2500 * NET_MS;
    net *network = net_create(&options, 5);
    net_run(network);
    ck_assert_uint_eq(net_fork_height(network), 0);
    uint64_t bound_ns = options.partition_until_ns +
                        2 * (options.view_timeout_ns << options.backoff_max) + 100 * NET_MS;
    for (uint32_t i = 0; i < network->count; i++) {
        const net_instance *instance = &network->instance[i];
        ck_assert_uint_le(instance->first_commit_after_heal_ns, bound_ns);
        cons_bft_status status;
        cons_bft_status_get(instance->replica, &status);
        ck_assert_uint_eq(status.timeouts_in_row, 0);  /* the backoff reset on progress */
        ck_assert_uint_gt(instance->view_changes, 10);
    }
    net_destroy(network);
}
END_TEST

/* f >= n/3: Twins (two instances per identity, each talking to a different
 * half of the honest validators) certify and commit two chains: the fork
 * checker must see it. */
START_TEST(test_bft_twins_beyond_third_fork)
{
    static const uint32_t sizes[] = {4, 7, 16};
    uint32_t n = sizes[_i];
    uint32_t quorum = cons_bft_quorum(n);
    uint32_t twins = 0;
    while (twins + (n - twins) / 2 < quorum) {
        twins += 1;
    }
    ck_assert_uint_gt(twins, cons_bft_faults(n));
    net_options options = net_options_default(n);
    options.twin_split = true;
    options.full_split = true;
    options.end_ns = 1500 * NET_MS;
    for (uint32_t id = 0; id < twins; id++) {
        options.behaviour[id] = CONS_BFT_TWIN;
    }
    net *network = net_create(&options, 3);
    net_run(network);
    ck_assert_uint_ne(net_fork_height(network), 0);
    net_destroy(network);
}
END_TEST

/* f >= n/3 withholding votes: no QC ever forms, so the ledger stalls (and
 * stays safe): liveness needs f < n/3 as much as safety does. */
START_TEST(test_bft_withholding_beyond_third_stalls)
{
    net_options options = net_options_default(4);
    options.behaviour[0] = CONS_BFT_WITHHOLD;
    options.behaviour[3] = CONS_BFT_WITHHOLD;
    options.end_ns = 1500 * NET_MS;
    net *network = net_create(&options, 4);
    net_run(network);
    ck_assert_uint_eq(net_fork_height(network), 0);
    for (uint32_t i = 0; i < network->count; i++) {
        ck_assert_uint_eq(network->instance[i].committed, 0);
        ck_assert_uint_gt(network->instance[i].view_changes, 3);   /* by TCs only */
    }
    net_destroy(network);
}
END_TEST

/* Signer sets past one 64-bit word: at 100 validators with f equivocating
 * and withholding ones on random ids, and at the largest set, 256, with f
 * withholders (the quorum is exactly the honest validators, so every
 * certificate counts signers in all four words): safe, and every honest
 * replica commits. */
START_TEST(test_bft_large_sets)
{
    static const uint32_t sizes[] = {100, CONS_BFT_VALIDATORS_MAX};
    uint32_t n = sizes[_i];
    net_options options = net_options_default(n);
    options.end_ns = 800 * NET_MS;
    util_prng prng;
    util_prng_init_stream(&prng, 21 + (uint64_t)_i, 1, UTIL_PRNG_PURPOSE_FAULT);
    for (uint32_t placed = 0; placed < cons_bft_faults(n);) {
        uint32_t id = (uint32_t)util_prng_below(&prng, n);
        if (options.behaviour[id] == CONS_BFT_HONEST) {
            options.behaviour[id] = n == CONS_BFT_VALIDATORS_MAX || placed % 2 == 0
                                        ? CONS_BFT_WITHHOLD
                                        : CONS_BFT_EQUIVOCATE;
            placed += 1;
        }
    }
    net *network = net_create(&options, 21 + (uint64_t)_i);
    net_run(network);
    ck_assert_uint_eq(net_fork_height(network), 0);
    ck_assert_ptr_null(network->broken);
    for (uint32_t i = 0; i < network->count; i++) {
        if (net_honest(&network->instance[i])) {
            ck_assert_uint_ge(network->instance[i].committed, 3);
        }
    }
    net_destroy(network);
}
END_TEST

/* The same Twins at f < n/3 (one pair, the rest honest and connected):
 * safe. */
START_TEST(test_bft_twins_below_third_safe)
{
    net_options options = net_options_default(4);
    options.twin_split = true;
    options.behaviour[1] = CONS_BFT_TWIN;
    net *network = net_create(&options, 9);
    net_run(network);
    ck_assert_uint_eq(net_fork_height(network), 0);
    ck_assert_uint_gt(network->instance[0].committed, 5);
    net_destroy(network);
}
END_TEST

/* ---- The pacemaker by hand ---- */

typedef struct hand {
    cons_bft_validators validators;
    uint8_t secret_keys[CONS_BFT_VALIDATORS_MAX][64];
    void *memory[4];
    cons_bft_replica *replica[4];
} hand;

static hand *hand_create(uint32_t backoff_max)
{
    hand *h = calloc(1, sizeof(*h));
    ck_assert_ptr_nonnull(h);
    net_validators_fill(&h->validators, 4, h->secret_keys);
    net_options options = net_options_default(4);
    options.view_timeout_ns = 100 * NET_MS;
    options.backoff_max = backoff_max;
    for (uint32_t i = 0; i < 4; i++) {
        cons_bft_config config = net_config(&options, i, h->secret_keys[i]);
        h->memory[i] = malloc(cons_bft_replica_size());
        h->replica[i] = cons_bft_replica_init(h->memory[i], cons_bft_replica_size(),
                                              &h->validators, &config);
    }
    return h;
}

static void hand_destroy(hand *h)
{
    for (uint32_t i = 0; i < 4; i++) {
        free(h->memory[i]);
    }
    free(h);
}

static const cons_bft_effect *hand_find(const cons_bft_replica *replica,
                                        cons_bft_effect_kind kind)
{
    const cons_bft_effect *effects;
    size_t count = cons_bft_effects(replica, &effects);
    for (size_t i = 0; i < count; i++) {
        if (effects[i].kind == kind) {
            return &effects[i];
        }
    }
    return NULL;
}

/* Fires replica i's view timer at now_ns and copies its TIMEOUT broadcast. */
static size_t hand_timeout(hand *h, uint32_t i, uint64_t token, uint64_t now_ns, uint8_t *out)
{
    cons_bft_on_timer(h->replica[i], now_ns, token);
    const cons_bft_effect *broadcast = hand_find(h->replica[i], CONS_BFT_BROADCAST);
    ck_assert_ptr_nonnull(broadcast);
    ck_assert_str_eq(cons_bft_message_name(broadcast->bytes, broadcast->size), "timeout");
    memcpy(out, broadcast->bytes, broadcast->size);
    return broadcast->size;
}

START_TEST(test_bft_pacemaker_tc_and_backoff)
{
    hand *h = hand_create(2);
    uint64_t token[4];
    for (uint32_t i = 0; i < 4; i++) {
        cons_bft_start(h->replica[i], 0);
        const cons_bft_effect *view = hand_find(h->replica[i], CONS_BFT_VIEW);
        ck_assert_ptr_nonnull(view);
        ck_assert_uint_eq(view->view, 1);
        const cons_bft_effect *timer = hand_find(h->replica[i], CONS_BFT_TIMER);
        ck_assert_uint_eq(timer->at_ns, 100 * NET_MS);
        token[i] = timer->token;
    }
    /* Nobody hears a proposal: all time out in views 1, 2, 3, 4; the timeouts of
     * 1, 2 and 3 reach replica 0 and form TCs. The view timer doubles each time,
     * up to 2^backoff_max. */
    static uint8_t bytes[4][CONS_BFT_MESSAGE_BYTES_MAX];
    size_t size[4];
    uint64_t now_ns = 0;
    const uint64_t expected_ns[] = {200, 400, 400, 400};
    cons_bft_status status;
    for (uint64_t view = 1; view <= 4; view++) {
        now_ns += 1000 * NET_MS;
        for (uint32_t i = 0; i < 4; i++) {
            size[i] = hand_timeout(h, i, token[i], now_ns, bytes[i]);
        }
        cons_bft_status_get(h->replica[0], &status);
        ck_assert_uint_eq(status.view, view);
        ck_assert_uint_eq(status.last_voted_view, view);   /* no vote after timing out */
        /* One peer's timeout is not a TC. */
        ck_assert_int_eq(cons_bft_on_message(h->replica[0], now_ns, 1, bytes[1], size[1]), 0);
        ck_assert_ptr_null(hand_find(h->replica[0], CONS_BFT_VIEW));
        /* A second one is: with its own, 2f + 1 = 3. */
        ck_assert_int_eq(cons_bft_on_message(h->replica[0], now_ns, 2, bytes[2], size[2]), 0);
        const cons_bft_effect *change = hand_find(h->replica[0], CONS_BFT_VIEW);
        ck_assert_ptr_nonnull(change);
        ck_assert_uint_eq(change->view, view + 1);
        ck_assert_int_eq(change->reason, CONS_BFT_BY_TC);
        const cons_bft_effect *timer = hand_find(h->replica[0], CONS_BFT_TIMER);
        ck_assert_uint_eq(timer->at_ns - now_ns, expected_ns[view - 1] * NET_MS);
        token[0] = timer->token;
        /* The others form it from the other three timeouts. */
        for (uint32_t i = 1; i < 4; i++) {
            for (uint32_t j = 0; j < 4; j++) {
                if (j == i) {
                    continue;
                }
                ck_assert_int_eq(cons_bft_on_message(h->replica[i], now_ns, j, bytes[j], size[j]),
                                 0);
                if (hand_find(h->replica[i], CONS_BFT_VIEW) != NULL) {
                    token[i] = hand_find(h->replica[i], CONS_BFT_TIMER)->token;
                }
            }
            cons_bft_status_get(h->replica[i], &status);
            ck_assert_uint_eq(status.view, view + 1);
        }
        ck_assert_ptr_null(cons_bft_check(h->replica[0]));
    }
    cons_bft_status_get(h->replica[0], &status);
    ck_assert_uint_eq(status.timeouts_in_row, 4);
    /* A stale token does nothing. */
    cons_bft_on_timer(h->replica[0], now_ns + 1, 12345);
    const cons_bft_effect *effects;
    ck_assert_uint_eq(cons_bft_effects(h->replica[0], &effects), 0);
    hand_destroy(h);
}
END_TEST

/* A view timer that fires in the same view sends the timeout again and
 * rearms itself; a timeout carries the sender's TC so a laggard catches up. */
START_TEST(test_bft_pacemaker_resend_and_catch_up)
{
    hand *h = hand_create(3);
    uint64_t token[4];
    for (uint32_t i = 0; i < 4; i++) {
        cons_bft_start(h->replica[i], 0);
        token[i] = hand_find(h->replica[i], CONS_BFT_TIMER)->token;
    }
    static uint8_t bytes[4][CONS_BFT_MESSAGE_BYTES_MAX];
    size_t size[4];
    size[0] = hand_timeout(h, 0, token[0], 100 * NET_MS, bytes[0]);
    const cons_bft_effect *rearm = hand_find(h->replica[0], CONS_BFT_TIMER);
    ck_assert_uint_eq(rearm->at_ns, 200 * NET_MS);
    size[0] = hand_timeout(h, 0, rearm->token, 200 * NET_MS, bytes[0]);
    size[1] = hand_timeout(h, 1, token[1], 200 * NET_MS, bytes[1]);
    size[2] = hand_timeout(h, 2, token[2], 200 * NET_MS, bytes[2]);
    /* Replica 1 forms the TC of view 1 from 0's and 2's timeouts (and its own). */
    ck_assert_int_eq(cons_bft_on_message(h->replica[1], 200 * NET_MS, 0, bytes[0], size[0]), 0);
    ck_assert_int_eq(cons_bft_on_message(h->replica[1], 200 * NET_MS, 2, bytes[2], size[2]), 0);
    cons_bft_status status;
    cons_bft_status_get(h->replica[1], &status);
    ck_assert_uint_eq(status.view, 2);
    /* Replica 1 then times out in view 2; its timeout carries the TC of view 1,
     * which moves replica 3 (still in view 1, never timed out) to view 2. */
    token[1] = hand_find(h->replica[1], CONS_BFT_TIMER)->token;
    size[1] = hand_timeout(h, 1, token[1], 500 * NET_MS, bytes[1]);
    ck_assert_int_eq(cons_bft_on_message(h->replica[3], 500 * NET_MS, 1, bytes[1], size[1]), 0);
    cons_bft_status_get(h->replica[3], &status);
    ck_assert_uint_eq(status.view, 2);
    ck_assert_int_eq(hand_find(h->replica[3], CONS_BFT_VIEW)->reason, CONS_BFT_BY_TC);
    hand_destroy(h);
}
END_TEST

/* ---- Hostile input ---- */

/* Replica 1 (leader of view 1) proposes; its proposal bytes go to out. */
static size_t hand_proposal(hand *h, uint8_t *out)
{
    cons_bft_submit(h->replica[1], "hello", 5);
    cons_bft_start(h->replica[1], 0);
    const cons_bft_effect *effects;
    size_t count = cons_bft_effects(h->replica[1], &effects);
    uint64_t propose_token = 0;
    for (size_t i = 0; i < count; i++) {
        if (effects[i].kind == CONS_BFT_TIMER && effects[i].at_ns == 10 * NET_MS) {
            propose_token = effects[i].token;
        }
    }
    cons_bft_on_timer(h->replica[1], 10 * NET_MS, propose_token);
    const cons_bft_effect *broadcast = hand_find(h->replica[1], CONS_BFT_BROADCAST);
    ck_assert_ptr_nonnull(broadcast);
    ck_assert_str_eq(cons_bft_message_name(broadcast->bytes, broadcast->size), "proposal");
    memcpy(out, broadcast->bytes, broadcast->size);
    return broadcast->size;
}

static void hand_refused(cons_bft_replica *replica, uint32_t from, const void *bytes,
                         size_t size)
{
    ck_assert_int_eq(cons_bft_on_message(replica, 20 * NET_MS, from, bytes, size), CONS_EINVAL);
    const cons_bft_effect *effects;
    ck_assert_uint_eq(cons_bft_effects(replica, &effects), 0);
}

START_TEST(test_bft_hostile_proposal_bytes)
{
    hand *h = hand_create(2);
    static uint8_t proposal[CONS_BFT_MESSAGE_BYTES_MAX];
    size_t size = hand_proposal(h, proposal);
    cons_bft_replica *replica = h->replica[3];
    cons_bft_start(replica, 0);
    /* Every truncation, and every single flipped byte, is refused. */
    for (size_t cut = 0; cut < size; cut++) {
        hand_refused(replica, 1, proposal, cut);
    }
    for (size_t at = 0; at < size; at++) {
        proposal[at] ^= 0x41;
        hand_refused(replica, 1, proposal, size);
        proposal[at] ^= 0x41;
    }
    /* From the wrong sender, or from a non-validator. */
    hand_refused(replica, 2, proposal, size);
    hand_refused(replica, 4, proposal, size);
    hand_refused(replica, UINT32_MAX, proposal, size);
    /* The intact proposal is taken and voted for. */
    ck_assert_int_eq(cons_bft_on_message(replica, 20 * NET_MS, 1, proposal, size), 0);
    const cons_bft_effect *vote = hand_find(replica, CONS_BFT_SEND);
    ck_assert_ptr_nonnull(vote);
    ck_assert_str_eq(cons_bft_message_name(vote->bytes, vote->size), "vote");
    ck_assert_uint_eq(vote->to, cons_bft_leader(4, 2));
    /* Once: the same proposal again brings no second vote. */
    ck_assert_int_eq(cons_bft_on_message(replica, 21 * NET_MS, 1, proposal, size), 0);
    ck_assert_ptr_null(hand_find(replica, CONS_BFT_SEND));
    cons_bft_status status;
    cons_bft_status_get(replica, &status);
    ck_assert_uint_eq(status.rejected, 2 * size + 3);
    hand_destroy(h);
}
END_TEST

START_TEST(test_bft_hostile_votes_and_garbage)
{
    hand *h = hand_create(2);
    static uint8_t proposal[CONS_BFT_MESSAGE_BYTES_MAX];
    size_t size = hand_proposal(h, proposal);
    cons_bft_start(h->replica[0], 0);
    ck_assert_int_eq(cons_bft_on_message(h->replica[0], 20 * NET_MS, 1, proposal, size), 0);
    const cons_bft_effect *sent = hand_find(h->replica[0], CONS_BFT_SEND);
    uint8_t vote[256];
    size_t vote_size = sent->size;
    ck_assert_uint_le(vote_size, sizeof(vote));
    memcpy(vote, sent->bytes, vote_size);
    ck_assert_uint_eq(sent->to, 2);
    cons_bft_start(h->replica[2], 0);
    /* A vote from a non-validator, under another's name, or badly signed. */
    hand_refused(h->replica[2], 4, vote, vote_size);
    hand_refused(h->replica[2], 3, vote, vote_size);
    /* What a gossip relay checks: any replica of the set, not only the
     * collector, sees the voter's signature hold, and a flipped bit fail. */
    ck_assert(cons_bft_vote_authentic(h->replica[3], vote, vote_size));
    vote[vote_size - 1] ^= 1;
    ck_assert(!cons_bft_vote_authentic(h->replica[3], vote, vote_size));
    hand_refused(h->replica[2], 0, vote, vote_size);
    vote[vote_size - 1] ^= 1;
    ck_assert(!cons_bft_vote_authentic(h->replica[3], vote, vote_size - 1));
    ck_assert(!cons_bft_vote_authentic(h->replica[3], proposal, size));
    /* To a replica that does not lead the next view. */
    cons_bft_start(h->replica[3], 0);
    hand_refused(h->replica[3], 0, vote, vote_size);
    ck_assert_int_eq(cons_bft_on_message(h->replica[2], 20 * NET_MS, 0, vote, vote_size), 0);
    /* Garbage of every length, and a block nobody asked for. */
    util_prng prng;
    util_prng_init(&prng, 99);
    static uint8_t garbage[4096];
    for (uint32_t trial = 0; trial < 3000; trial++) {
        size_t length = (size_t)util_prng_below(&prng, sizeof(garbage));
        for (size_t i = 0; i < length; i++) {
            garbage[i] = (uint8_t)util_prng_next(&prng);
        }
        if (length > 0) {
            garbage[0] = (uint8_t)(1 + trial % 5);   /* a known type, so the body is parsed */
        }
        hand_refused(h->replica[2], (uint32_t)(trial % 4 == 2 ? 0 : trial % 4), garbage, length);
    }
    proposal[0] = 5;                                 /* the proposal as a BLOCK answer */
    hand_refused(h->replica[2], 1, proposal, size);
    hand_refused(h->replica[2], 1, NULL, 0);
    ck_assert_ptr_null(cons_bft_check(h->replica[2]));
    hand_destroy(h);
}
END_TEST

/* A MAC under another key, and an ed25519 signature checked as a MAC. */
START_TEST(test_bft_hostile_wrong_authentication)
{
    hand *h = hand_create(2);
    static uint8_t proposal[CONS_BFT_MESSAGE_BYTES_MAX];
    size_t size = hand_proposal(h, proposal);
    /* A replica whose set holds another MAC key for validator 1 refuses it. */
    cons_bft_validators other = h->validators;
    other.mac_key[1][0] ^= 1;
    net_options options = net_options_default(4);
    cons_bft_config config = net_config(&options, 2, h->secret_keys[2]);
    void *memory = malloc(cons_bft_replica_size());
    cons_bft_replica *replica = cons_bft_replica_init(memory, cons_bft_replica_size(), &other,
                                                      &config);
    cons_bft_start(replica, 0);
    hand_refused(replica, 1, proposal, size);
    /* The same replica under ed25519 refuses the MAC. */
    config.auth = CONS_BFT_AUTH_ED25519;
    replica = cons_bft_replica_init(memory, cons_bft_replica_size(), &h->validators, &config);
    cons_bft_start(replica, 0);
    hand_refused(replica, 1, proposal, size);
    free(memory);
    hand_destroy(h);
}
END_TEST

START_TEST(test_bft_config_and_names)
{
    cons_bft_validators validators;
    static uint8_t keys[CONS_BFT_VALIDATORS_MAX][64];
    net_validators_fill(&validators, 4, keys);
    net_options options = net_options_default(4);
    cons_bft_config config = net_config(&options, 0, keys[0]);
    ck_assert_int_eq(cons_bft_config_check(&validators, &config), 0);
    config.self = 4;
    ck_assert_int_eq(cons_bft_config_check(&validators, &config), CONS_EINVAL);
    config.self = 0;
    config.block_txs_max = CONS_BFT_BLOCK_TXS_MAX + 1;
    ck_assert_int_eq(cons_bft_config_check(&validators, &config), CONS_EINVAL);
    config.block_txs_max = 1;
    config.view_timeout_ns = 0;
    ck_assert_int_eq(cons_bft_config_check(&validators, &config), CONS_EINVAL);
    config.view_timeout_ns = UINT64_MAX / 2;
    config.backoff_max = 4;
    ck_assert_int_eq(cons_bft_config_check(&validators, &config), CONS_EINVAL);
    ck_assert_uint_eq(cons_bft_quorum(4), 3);
    ck_assert_uint_eq(cons_bft_quorum(7), 5);
    ck_assert_uint_eq(cons_bft_quorum(16), 11);
    ck_assert_uint_eq(cons_bft_faults(16), 5);
    for (int b = 0; b < CONS_BFT_BEHAVIOURS; b++) {
        ck_assert_int_eq(cons_bft_behaviour_parse(cons_bft_behaviour_name(b)), b);
    }
    ck_assert_int_eq(cons_bft_behaviour_parse("nice"), -1);
    ck_assert_ptr_null(cons_bft_message_name("\x09zzzzzzzzzzzzzz", 14));
    /* Transactions: bounds and duplicates. */
    void *memory = malloc(cons_bft_replica_size());
    config.view_timeout_ns = 1;
    config.backoff_max = 0;
    cons_bft_replica *replica = cons_bft_replica_init(memory, cons_bft_replica_size(),
                                                      &validators, &config);
    static uint8_t big[CONS_BFT_TX_BYTES_MAX + 1];
    ck_assert_int_eq(cons_bft_submit(replica, big, sizeof(big)), CONS_EINVAL);
    ck_assert_int_eq(cons_bft_submit(replica, big, 0), CONS_EINVAL);
    ck_assert_int_eq(cons_bft_submit(replica, "a", 1), 0);
    ck_assert_int_eq(cons_bft_submit(replica, "a", 1), 1);
    free(memory);
}
END_TEST

Suite *test_bft_suite(void)
{
    Suite *suite = suite_create("bft");
    TCase *safety = tcase_create("safety");
    tcase_add_checked_fixture(safety, test_bft_setup, NULL);
    tcase_set_timeout(safety, 300);
    /* Under ASan (make sanitize) 100 of the 1,000 seeds: the memory checks
     * need the code paths, not the volume; make test runs all of them. */
    tcase_add_loop_test(safety, test_bft_safety_seeds, 0,
                        getenv("INFERSIM_SANITIZE") != NULL ? 1 : 10);
    tcase_add_loop_test(safety, test_bft_twins_beyond_third_fork, 0, 3);
    tcase_add_test(safety, test_bft_twins_below_third_safe);
    tcase_add_test(safety, test_bft_withholding_beyond_third_stalls);
    suite_add_tcase(suite, safety);

    TCase *liveness = tcase_create("liveness");
    tcase_add_checked_fixture(liveness, test_bft_setup, NULL);
    tcase_set_timeout(liveness, 60);
    tcase_add_loop_test(liveness, test_bft_honest_commits_every_tx_once, 0, 3);
    tcase_add_loop_test(liveness, test_bft_memo_same_run, 0, 2);
    tcase_add_loop_test(liveness, test_bft_dirty_memory_same_run, 0, 4);
    tcase_add_loop_test(liveness, test_bft_partition_heals, 0, 3);
    tcase_add_test(liveness, test_bft_external_validity_refuses_votes);
    suite_add_tcase(suite, liveness);

    TCase *pacemaker = tcase_create("pacemaker");
    tcase_add_checked_fixture(pacemaker, test_bft_setup, NULL);
    tcase_set_timeout(pacemaker, 20);
    tcase_add_test(pacemaker, test_bft_pacemaker_tc_and_backoff);
    tcase_add_test(pacemaker, test_bft_pacemaker_resend_and_catch_up);
    suite_add_tcase(suite, pacemaker);

    TCase *large = tcase_create("large");
    tcase_add_checked_fixture(large, test_bft_setup, NULL);
    tcase_set_timeout(large, 240);
    tcase_add_loop_test(large, test_bft_large_sets, 0, 2);
    suite_add_tcase(suite, large);

    TCase *hostile = tcase_create("hostile");
    tcase_add_checked_fixture(hostile, test_bft_setup, NULL);
    tcase_set_timeout(hostile, 60);
    tcase_add_test(hostile, test_bft_hostile_proposal_bytes);
    tcase_add_test(hostile, test_bft_hostile_votes_and_garbage);
    tcase_add_test(hostile, test_bft_hostile_wrong_authentication);
    tcase_add_test(hostile, test_bft_config_and_names);
    suite_add_tcase(suite, hostile);
    return suite;
}
