/* test_net.c -- the simulated network (world/world_net.c): serialization arithmetic,
 * uplink and link FIFO order, latency models and the region matrix, loss,
 * duplication, corruption and reordering frequencies, partitions, crashes,
 * delay faults, determinism, and the link FIFO table under pressure. Every
 * scenario network is built by hand here, not loaded from YAML. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "world/world_net.h"
#include "tests/suites.h"
#include "util/alloc.h"
#include "util/prng.h"

#define TEST_NET_MS UINT64_C(1000000)
#define TEST_NET_MBPS UINT64_C(1000000)
#define TEST_NET_GBPS UINT64_C(1000000000)

/* A quiet network: constant 1 ms links, 1 Gbit/s uplinks, nothing random. */
static scn_network test_net_network(void)
{
    scn_network network;

    memset(&network, 0, sizeof(network));
    network.latency.kind = SCN_LATENCY_CONSTANT;
    network.latency.value_ns = TEST_NET_MS;
    network.bandwidth_bps = TEST_NET_GBPS;
    return network;
}

/* 'regions' may be NULL (every node in region 0). */
static net *test_net_make(const scn_network *network, uint32_t count, uint64_t seed,
                          uint32_t link_capacity, const uint16_t *regions)
{
    net_config config;
    uint16_t *region_of = calloc(count, sizeof(*region_of));
    uint64_t *bps_of = calloc(count, sizeof(*bps_of));
    net *self = NULL;

    ck_assert_ptr_nonnull(region_of);
    ck_assert_ptr_nonnull(bps_of);
    for (uint32_t id = 0; id < count; id++) {
        region_of[id] = regions != NULL ? regions[id] : 0;
        bps_of[id] = network->bandwidth_bps;
    }
    memset(&config, 0, sizeof(config));
    config.network = network;
    config.node_count = count;
    config.region_of = region_of;
    config.uplink_bps_of = bps_of;
    config.run_seed = seed;
    config.link_capacity = link_capacity;
    ck_assert_int_eq(net_create(&config, &self), 0);
    ck_assert_ptr_nonnull(self);
    /* The config arrays are copied: scribbling on them must not matter. */
    memset(region_of, 0xff, count * sizeof(*region_of));
    memset(bps_of, 0, count * sizeof(*bps_of));
    free(region_of);
    free(bps_of);
    return self;
}

/* One message that must be delivered once; returns its arrival. */
static uint64_t test_net_send_one(net *self, uint64_t now_ns, uint32_t source, uint32_t dest,
                                  uint64_t bytes)
{
    net_send_result result;

    net_send(self, now_ns, source, dest, bytes, &result);
    TEST_ASSERT_INT_EQ(result.drop, WORLD_DROP_NONE);
    TEST_ASSERT_UINT_EQ(result.count, 1);
    return result.deliveries[0].at_ns;
}

static net_drop test_net_send_drop(net *self, uint64_t now_ns, uint32_t source, uint32_t dest)
{
    net_send_result result;

    net_send(self, now_ns, source, dest, 100, &result);
    return result.drop;
}

/* ---- serialization and uplink --------------------------------------- */

START_TEST(test_net_serialization_exact)
{
    ck_assert_uint_eq(net_serialization_ns(1048576, 100 * TEST_NET_MBPS), UINT64_C(83886080));
    ck_assert_uint_eq(net_serialization_ns(100, TEST_NET_GBPS), 800);
    ck_assert_uint_eq(net_serialization_ns(0, TEST_NET_GBPS), 0);
    /* Rounded up: 8e9 / 3 = 2666666666.67. */
    ck_assert_uint_eq(net_serialization_ns(1, 3), UINT64_C(2666666667));
    /* 1 bit-time of 0.8 ns still takes 1 ns. */
    ck_assert_uint_eq(net_serialization_ns(1, UINT64_C(10000000000)), 1);
    /* Exact at the top of the range: 2^40 B at 1e13 bit/s = 879609302.2208 ns. */
    ck_assert_uint_eq(net_serialization_ns(UINT64_C(1) << 40, UINT64_C(10000000000000)),
                      UINT64_C(879609303));
    ck_assert_uint_eq(net_serialization_ns(UINT64_C(1) << 30, 1),
                      (UINT64_C(1) << 30) * UINT64_C(8000000000));
    /* Beyond 2^64 ns it saturates rather than wrap. */
    ck_assert_uint_eq(net_serialization_ns(UINT64_C(1) << 40, 1), UINT64_MAX);
}
END_TEST

/* The example: a 100-byte vote and a 1 MiB activation leave one node
 * together on a 100 Mbit/s uplink. */
START_TEST(test_net_uplink_vote_then_activation)
{
    scn_network network = test_net_network();
    net *self;
    net_send_result result;
    uint64_t vote_ns;
    uint64_t activation_ns;

    network.bandwidth_bps = 100 * TEST_NET_MBPS;
    self = test_net_make(&network, 2, 1, 16, NULL);
    net_send(self, 0, 0, 1, 100, &result);
    ck_assert_uint_eq(result.serialization_ns, 8000);
    vote_ns = result.deliveries[0].at_ns;
    net_send(self, 0, 0, 1, 1048576, &result);
    ck_assert_uint_eq(result.serialization_ns, UINT64_C(83886080));
    activation_ns = result.deliveries[0].at_ns;
    ck_assert_uint_eq(vote_ns, 8000 + TEST_NET_MS);
    ck_assert_uint_gt(activation_ns, vote_ns);
    /* The activation waits for the vote's 8 us, then takes 83.886 ms. */
    ck_assert_uint_eq(activation_ns - vote_ns, UINT64_C(83886080));
    net_destroy(self);
}
END_TEST

START_TEST(test_net_uplink_activation_then_vote)
{
    scn_network network = test_net_network();
    net *self;
    uint64_t vote_ns;
    uint64_t activation_ns;

    network.bandwidth_bps = 100 * TEST_NET_MBPS;
    network.jitter_ns = 50 * TEST_NET_MS;          /* could otherwise overtake */
    self = test_net_make(&network, 2, 1, 16, NULL);
    activation_ns = test_net_send_one(self, 0, 0, 1, 1048576);
    vote_ns = test_net_send_one(self, 0, 0, 1, 100);
    ck_assert_uint_ge(activation_ns, UINT64_C(83886080) + TEST_NET_MS);
    ck_assert_uint_ge(vote_ns, activation_ns);
    /* The vote queued behind the activation on the uplink. */
    ck_assert_uint_ge(vote_ns, UINT64_C(83886080) + 8000 + TEST_NET_MS);
    net_destroy(self);
}
END_TEST

/* ---- link FIFO and reordering ------------------------------------------ */

START_TEST(test_net_fifo_holds_under_jitter)
{
    scn_network network = test_net_network();
    uint64_t last_ns[4] = {0, 0, 0, 0};
    uint32_t clamped = 0;
    net *self;

    network.jitter_ns = 20 * TEST_NET_MS;
    self = test_net_make(&network, 5, 7, 16, NULL);
    for (uint32_t index = 0; index < 4000; index++) {
        uint32_t link = index % 4;
        uint64_t at_ns = test_net_send_one(self, (uint64_t)index * 1000, 4, link, 100);

        ck_assert_uint_ge(at_ns, last_ns[link]);
        clamped += at_ns == last_ns[link] ? 1 : 0;
        last_ns[link] = at_ns;
    }
    /* Jitter of 20 ms against 4 us spacing: FIFO had to hold many back. */
    ck_assert_uint_gt(clamped, 100);
    net_destroy(self);
}
END_TEST

/* A sender keeps a few links in its own record and the rest in the shared
 * table: with twelve live links at once, and quiet gaps after which every
 * constraint is stale and the links come back in another order, FIFO holds
 * on every link and every link was held back at some point. */
START_TEST(test_net_fifo_holds_past_near_links)
{
    enum { LINKS = 12 };
    scn_network network = test_net_network();
    uint64_t last_ns[LINKS] = {0};
    uint32_t clamped[LINKS] = {0};
    util_prng pick;
    net *self;

    network.jitter_ns = 20 * TEST_NET_MS;
    self = test_net_make(&network, LINKS + 1, 11, 16, NULL);
    util_prng_init(&pick, 5);
    uint64_t now_ns = 0;
    for (uint32_t index = 0; index < 12000; index++) {
        /* Every 1,000 sends, a pause longer than any flight. */
        now_ns += index % 1000 == 0 ? 100 * TEST_NET_MS : 4000;
        uint32_t link = (uint32_t)util_prng_below(&pick, LINKS);
        uint64_t at_ns = test_net_send_one(self, now_ns, LINKS, link, 100);
        ck_assert_uint_ge(at_ns, last_ns[link]);
        clamped[link] += at_ns == last_ns[link] ? 1 : 0;
        last_ns[link] = at_ns;
    }
    for (uint32_t link = 0; link < LINKS; link++) {
        ck_assert_uint_gt(clamped[link], 10);
    }
    net_destroy(self);
}
END_TEST

START_TEST(test_net_fifo_reordered_may_overtake)
{
    scn_network network = test_net_network();
    uint64_t last_fifo_ns = 0;
    uint64_t last_any_ns = 0;
    uint32_t inversions = 0;
    uint32_t reordered = 0;
    net *self;

    network.jitter_ns = 2 * TEST_NET_MS;
    network.reorder = 0.3;
    network.reorder_delay_ns = 10 * TEST_NET_MS;
    self = test_net_make(&network, 2, 7, 16, NULL);
    for (uint32_t index = 0; index < 4000; index++) {
        net_send_result result;

        net_send(self, (uint64_t)index * 1000, 0, 1, 100, &result);
        ck_assert_int_eq(result.drop, WORLD_DROP_NONE);
        if (result.reordered) {
            reordered += 1;
        } else {
            ck_assert_uint_ge(result.deliveries[0].at_ns, last_fifo_ns);
            last_fifo_ns = result.deliveries[0].at_ns;
        }
        inversions += result.deliveries[0].at_ns < last_any_ns ? 1 : 0;
        last_any_ns = result.deliveries[0].at_ns;
    }
    ck_assert_uint_gt(reordered, 1000);
    ck_assert_uint_lt(reordered, 1400);
    ck_assert_uint_gt(inversions, 0);
    net_destroy(self);
}
END_TEST

/* The link FIFO table under pressure, two ways. Loop 0: many distinct
 * links, long and jittery latency, a table sized for far fewer live links
 * than there are (it must grow). Loop 1: a few hundred live links at a time
 * over a set of links that drifts through ten thousand (stale slots pile up
 * and are swept in place). Either way FIFO must hold on every link. */
START_TEST(test_net_fifo_table_under_pressure)
{
    enum { NODES = 200, SENDS = 200000 };
    scn_network network = test_net_network();
    uint64_t *last_ns = calloc((size_t)NODES * NODES, sizeof(*last_ns));
    uint32_t nodes = _i == 0 ? NODES : NODES / 2;
    util_prng pick;
    uint32_t clamped = 0;
    net *self;

    ck_assert_ptr_nonnull(last_ns);
    if (_i == 0) {
        network.latency.kind = SCN_LATENCY_UNIFORM;
        network.latency.min_ns = TEST_NET_MS;
        network.latency.max_ns = 100 * TEST_NET_MS;
        network.jitter_ns = 50 * TEST_NET_MS;
    } else {
        network.jitter_ns = 5 * TEST_NET_MS;
    }
    self = test_net_make(&network, nodes, 3, 4, NULL);
    util_prng_init(&pick, 99);
    for (uint32_t index = 0; index < SENDS; index++) {
        /* Sources cycle so uplinks stay idle. */
        uint32_t source = index % nodes;
        uint32_t dest = (uint32_t)util_prng_below(&pick, nodes);
        uint64_t now_ns = (uint64_t)index * 10000;
        uint64_t at_ns;
        uint64_t *last;

        if (_i == 1) {
            dest = (source + 1 + (index / 5000) * 7 + (uint32_t)util_prng_below(&pick, 3)) % nodes;
        }
        at_ns = test_net_send_one(self, now_ns, source, dest, 100);
        last = &last_ns[(size_t)source * NODES + dest];
        TEST_ASSERT(at_ns >= *last);
        clamped += at_ns == *last ? 1 : 0;
        *last = at_ns;
    }
    ck_assert_uint_gt(clamped, 100);
    net_destroy(self);
    free(last_ns);
}
END_TEST

/* ---- link latency ------------------------------------------------------- */

START_TEST(test_net_latency_symmetric_and_stable)
{
    scn_network network = test_net_network();
    uint32_t distinct = 0;
    net *self;

    network.latency.kind = SCN_LATENCY_NORMAL;
    network.latency.value_ns = 40 * TEST_NET_MS;
    network.latency.stddev_ns = 10 * TEST_NET_MS;
    self = test_net_make(&network, 30, 11, 64, NULL);
    for (uint32_t source = 0; source < 30; source++) {
        for (uint32_t dest = 0; dest < 30; dest++) {
            uint64_t forward_ns = net_link_latency_ns(self, source, dest);

            ck_assert_uint_eq(forward_ns, net_link_latency_ns(self, dest, source));
            ck_assert_uint_eq(forward_ns, net_link_latency_ns(self, source, dest));
            distinct += forward_ns != net_link_latency_ns(self, 0, 1) ? 1 : 0;
        }
    }
    ck_assert_uint_gt(distinct, 800);
    /* A send with no jitter arrives after serialization plus that latency. */
    ck_assert_uint_eq(test_net_send_one(self, 0, 3, 9, 100),
                      800 + net_link_latency_ns(self, 9, 3));
    ck_assert_uint_eq(test_net_send_one(self, 0, 9, 3, 100),
                      800 + net_link_latency_ns(self, 3, 9));
    net_destroy(self);
}
END_TEST

/* A network small enough to store every pair's sample gives the sample a
 * network too large to store it draws at every send: the stored value is
 * the drawn one, for every model, in either direction, first use or not. */
START_TEST(test_net_latency_stored_equals_drawn)
{
    const scn_latency_kind kinds[] = {SCN_LATENCY_UNIFORM, SCN_LATENCY_NORMAL,
                                      SCN_LATENCY_LOGNORMAL};
    uint32_t differing = 0;

    for (size_t m = 0; m < sizeof(kinds) / sizeof(kinds[0]); m++) {
        scn_network network = test_net_network();
        network.latency.kind = kinds[m];
        network.latency.value_ns = 40 * TEST_NET_MS;
        network.latency.stddev_ns = 10 * TEST_NET_MS;
        network.latency.min_ns = 5 * TEST_NET_MS;
        network.latency.max_ns = 90 * TEST_NET_MS;
        network.latency.sigma = 0.5;
        net *stored = test_net_make(&network, 60, 7, 64, NULL);
        net *drawn = test_net_make(&network, 4000, 7, 64, NULL);
        for (uint32_t round = 0; round < 2; round++) {
            for (uint32_t source = 0; source < 60; source++) {
                for (uint32_t dest = 0; dest < 60; dest++) {
                    uint32_t a = round == 0 ? dest : source;
                    uint32_t b = round == 0 ? source : dest;
                    ck_assert_uint_eq(net_link_latency_ns(stored, a, b),
                                      net_link_latency_ns(drawn, a, b));
                }
            }
        }
        /* The comparison can fail: another seed's samples differ. */
        net *other = test_net_make(&network, 60, 8, 64, NULL);
        for (uint32_t dest = 1; dest < 60; dest++) {
            differing += net_link_latency_ns(other, 0, dest) != net_link_latency_ns(drawn, 0, dest);
        }
        net_destroy(other);
        net_destroy(stored);
        net_destroy(drawn);
    }
    ck_assert_uint_gt(differing, 100);
}
END_TEST

START_TEST(test_net_latency_region_matrix)
{
    static const uint16_t regions[4] = {0, 0, 1, 1};
    scn_network network = test_net_network();
    net *self;

    network.has_region_matrix = true;
    network.region_latency_ns[0][1] = 50 * TEST_NET_MS;
    network.region_latency_ns[1][0] = 60 * TEST_NET_MS;
    network.region_latency_ns[1][1] = 5 * TEST_NET_MS;
    self = test_net_make(&network, 4, 1, 16, regions);
    ck_assert_uint_eq(net_link_latency_ns(self, 0, 1), TEST_NET_MS);
    ck_assert_uint_eq(net_link_latency_ns(self, 0, 2), 51 * TEST_NET_MS);
    ck_assert_uint_eq(net_link_latency_ns(self, 3, 1), 61 * TEST_NET_MS);
    ck_assert_uint_eq(net_link_latency_ns(self, 2, 3), 6 * TEST_NET_MS);
    ck_assert_uint_eq(test_net_send_one(self, 0, 1, 3, 100), 800 + 51 * TEST_NET_MS);
    net_destroy(self);
}
END_TEST

static int test_net_compare_u64(const void *a, const void *b)
{
    uint64_t left = *(const uint64_t *)a;
    uint64_t right = *(const uint64_t *)b;

    return (left > right) - (left < right);
}

/* Latencies of every unordered pair among 'count' nodes; sorted. Returns
 * how many, and their mean and standard deviation. */
static size_t test_net_pair_latencies(const scn_network *network, uint32_t count, uint64_t *out,
                                      double *mean, double *stddev)
{
    net *self = test_net_make(network, count, 2024, 16, NULL);
    double sum = 0.0;
    double squares = 0.0;
    size_t total = 0;

    for (uint32_t source = 0; source < count; source++) {
        for (uint32_t dest = source + 1; dest < count; dest++) {
            out[total] = net_link_latency_ns(self, source, dest);
            sum += (double)out[total];
            total += 1;
        }
    }
    *mean = sum / (double)total;
    for (size_t index = 0; index < total; index++) {
        squares += ((double)out[index] - *mean) * ((double)out[index] - *mean);
    }
    *stddev = sqrt(squares / (double)(total - 1));
    qsort(out, total, sizeof(*out), test_net_compare_u64);
    net_destroy(self);
    return total;
}

START_TEST(test_net_latency_models_distribution)
{
    enum { NODES = 200 };
    uint64_t *values = calloc((size_t)NODES * NODES / 2, sizeof(*values));
    scn_network network = test_net_network();
    double mean;
    double stddev;
    size_t total;

    ck_assert_ptr_nonnull(values);
    network.latency.value_ns = 7 * TEST_NET_MS + 3;
    total = test_net_pair_latencies(&network, NODES, values, &mean, &stddev);
    ck_assert_uint_eq(total, NODES * (NODES - 1) / 2);
    ck_assert_uint_eq(values[0], 7 * TEST_NET_MS + 3);
    ck_assert_uint_eq(values[total - 1], 7 * TEST_NET_MS + 3);

    network.latency.kind = SCN_LATENCY_UNIFORM;
    network.latency.min_ns = 10 * TEST_NET_MS;
    network.latency.max_ns = 30 * TEST_NET_MS;
    test_net_pair_latencies(&network, NODES, values, &mean, &stddev);
    ck_assert_double_eq_tol(mean, 20e6, 0.02 * 20e6);
    ck_assert_double_eq_tol(stddev, 20e6 / sqrt(12.0), 0.05 * 20e6 / sqrt(12.0));
    ck_assert_uint_ge(values[0], 10 * TEST_NET_MS);
    ck_assert_uint_le(values[total - 1], 30 * TEST_NET_MS);

    network.latency.kind = SCN_LATENCY_NORMAL;
    network.latency.value_ns = 50 * TEST_NET_MS;
    network.latency.stddev_ns = 10 * TEST_NET_MS;
    network.latency.min_ns = 0;
    test_net_pair_latencies(&network, NODES, values, &mean, &stddev);
    ck_assert_double_eq_tol(mean, 50e6, 0.02 * 50e6);
    ck_assert_double_eq_tol(stddev, 10e6, 0.05 * 10e6);
    /* The floor: with min at the mean, half the links sit exactly on it. */
    network.latency.min_ns = 50 * TEST_NET_MS;
    test_net_pair_latencies(&network, NODES, values, &mean, &stddev);
    ck_assert_uint_eq(values[0], 50 * TEST_NET_MS);
    ck_assert_uint_eq(values[total * 2 / 5], 50 * TEST_NET_MS);
    ck_assert_uint_gt(values[total * 3 / 5], 50 * TEST_NET_MS);

    network.latency.kind = SCN_LATENCY_LOGNORMAL;
    network.latency.value_ns = 20 * TEST_NET_MS;
    network.latency.sigma = 0.5;
    test_net_pair_latencies(&network, NODES, values, &mean, &stddev);
    ck_assert_double_eq_tol((double)values[total / 2], 20e6, 0.03 * 20e6);
    /* One sigma above the median: the 84.13th percentile. */
    ck_assert_double_eq_tol((double)values[(size_t)(0.8413 * (double)total)],
                            20e6 * exp(0.5), 0.05 * 20e6 * exp(0.5));
    free(values);
}
END_TEST

/* ---- loss, duplication, corruption ----------------------------------- */

typedef struct test_net_counts {
    uint32_t sends;
    uint32_t lost;
    uint32_t duplicated;
    uint32_t deliveries;
    uint32_t corrupt;
} test_net_counts;

/* Sends 'sends' messages 1 us apart from *now_ns on, which it advances. */
static void test_net_count(net *self, uint64_t *now_ns, uint32_t source, uint32_t dest,
                           uint32_t sends, test_net_counts *counts)
{
    memset(counts, 0, sizeof(*counts));
    for (uint32_t index = 0; index < sends; index++) {
        net_send_result result;

        *now_ns += 1000;
        net_send(self, *now_ns, source, dest, 100, &result);
        counts->sends += 1;
        counts->lost += result.drop == WORLD_DROP_LOSS ? 1 : 0;
        counts->duplicated += result.count == 2 ? 1 : 0;
        counts->deliveries += result.count;
        for (uint32_t copy = 0; copy < result.count; copy++) {
            counts->corrupt += result.deliveries[copy].corrupt ? 1 : 0;
        }
        if (result.count == 2) {
            TEST_ASSERT(result.deliveries[1].at_ns > result.deliveries[0].at_ns);
        }
    }
}

/* |observed - n p| within 4 standard deviations of a binomial(n, p). */
static void test_net_assert_binomial(uint32_t observed, uint32_t trials, double p)
{
    double expected = (double)trials * p;
    double sigma = sqrt((double)trials * p * (1.0 - p));

    ck_assert_double_eq_tol((double)observed, expected, 4.0 * sigma);
}

START_TEST(test_net_loss_duplicate_corrupt_frequencies)
{
    scn_network network = test_net_network();
    test_net_counts counts;
    uint64_t now_ns = 0;
    net *self;

    network.loss = 0.1;
    network.duplicate = 0.2;
    network.corrupt = 0.05;
    network.jitter_ns = 1000;
    self = test_net_make(&network, 2, 5, 16, NULL);
    test_net_count(self, &now_ns, 0, 1, 100000, &counts);
    test_net_assert_binomial(counts.lost, counts.sends, 0.1);
    test_net_assert_binomial(counts.duplicated, counts.sends - counts.lost, 0.2);
    test_net_assert_binomial(counts.corrupt, counts.deliveries, 0.05);
    net_destroy(self);

    network.loss = 0.0;
    network.duplicate = 0.0;
    network.corrupt = 0.0;
    now_ns = 0;
    self = test_net_make(&network, 2, 5, 16, NULL);
    test_net_count(self, &now_ns, 0, 1, 10000, &counts);
    ck_assert_uint_eq(counts.lost + counts.duplicated + counts.corrupt, 0);
    net_destroy(self);
}
END_TEST

START_TEST(test_net_fault_probabilities_combine)
{
    static const uint8_t selected[4] = {1, 0, 0, 0};
    scn_network network = test_net_network();
    test_net_counts counts;
    uint64_t now_ns = 0;
    net *self;

    network.loss = 0.1;
    network.duplicate = 0.1;
    self = test_net_make(&network, 4, 5, 16, NULL);
    ck_assert_int_eq(net_link_fault_start(self, 3, SCN_FAULT_LOSS, 0.2, 0, selected), 0);
    ck_assert_int_eq(net_link_fault_start(self, 4, SCN_FAULT_DUPLICATE, 0.3, 0, selected), 0);
    ck_assert_int_eq(net_link_fault_start(self, 5, SCN_FAULT_CORRUPT, 0.25, 0, selected), 0);
    /* From the selected node, and to it: p = 1 - (1 - p1)(1 - p2). */
    test_net_count(self, &now_ns, 0, 1, 100000, &counts);
    test_net_assert_binomial(counts.lost, counts.sends, 1.0 - 0.9 * 0.8);
    test_net_assert_binomial(counts.duplicated, counts.sends - counts.lost, 1.0 - 0.9 * 0.7);
    test_net_assert_binomial(counts.corrupt, counts.deliveries, 0.25);
    test_net_count(self, &now_ns, 2, 0, 100000, &counts);
    test_net_assert_binomial(counts.lost, counts.sends, 1.0 - 0.9 * 0.8);
    /* Between unselected nodes only the scenario applies. */
    test_net_count(self, &now_ns, 2, 3, 100000, &counts);
    test_net_assert_binomial(counts.lost, counts.sends, 0.1);
    ck_assert_uint_eq(counts.corrupt, 0);
    /* Stopped: back to the scenario alone. */
    net_link_fault_stop(self, 3);
    test_net_count(self, &now_ns, 0, 1, 100000, &counts);
    test_net_assert_binomial(counts.lost, counts.sends, 0.1);
    net_destroy(self);
}
END_TEST

/* ---- partitions and crashes ------------------------------------------- */

START_TEST(test_net_partition_drops_across_groups)
{
    static const uint8_t groups[6] = {0, 0, 0, 1, 1, 1};
    scn_network network = test_net_network();
    net_send_result in_flight;
    net *self = test_net_make(&network, 6, 1, 16, NULL);

    net_send(self, 0, 0, 3, 100, &in_flight);
    ck_assert_int_eq(in_flight.drop, WORLD_DROP_NONE);
    ck_assert_int_eq(net_partition_start(self, 2, groups), 0);
    /* In flight when the partition started: refused at arrival. */
    ck_assert_int_eq(net_check_arrival(self, 0, 3), WORLD_DROP_PARTITION);
    ck_assert_int_eq(net_check_arrival(self, 0, 1), WORLD_DROP_NONE);
    ck_assert_int_eq(test_net_send_drop(self, 10, 0, 3), WORLD_DROP_PARTITION);
    ck_assert_int_eq(test_net_send_drop(self, 10, 5, 2), WORLD_DROP_PARTITION);
    ck_assert_int_eq(test_net_send_drop(self, 10, 0, 2), WORLD_DROP_NONE);
    ck_assert_int_eq(test_net_send_drop(self, 10, 4, 5), WORLD_DROP_NONE);
    net_partition_heal(self, 2);
    ck_assert_int_eq(net_check_arrival(self, 0, 3), WORLD_DROP_NONE);
    ck_assert_int_eq(test_net_send_drop(self, 20, 0, 3), WORLD_DROP_NONE);
    ck_assert_int_eq(test_net_send_drop(self, 20, 5, 2), WORLD_DROP_NONE);
    net_destroy(self);
}
END_TEST

START_TEST(test_net_partition_two_overlapping)
{
    static const uint8_t halves[6] = {0, 0, 0, 1, 1, 1};
    static const uint8_t isolate[6] = {1, 0, 0, 1, 0, 0};
    scn_network network = test_net_network();
    net *self = test_net_make(&network, 6, 1, 16, NULL);

    ck_assert_int_eq(net_partition_start(self, 0, halves), 0);
    ck_assert_int_eq(net_partition_start(self, 1, isolate), 0);
    ck_assert_int_eq(net_check_arrival(self, 0, 1), WORLD_DROP_PARTITION);
    ck_assert_int_eq(net_check_arrival(self, 0, 3), WORLD_DROP_PARTITION);
    ck_assert_int_eq(net_check_arrival(self, 1, 2), WORLD_DROP_NONE);
    ck_assert_int_eq(net_check_arrival(self, 4, 5), WORLD_DROP_NONE);
    ck_assert_int_eq(net_check_arrival(self, 1, 4), WORLD_DROP_PARTITION);
    net_partition_heal(self, 0);
    ck_assert_int_eq(net_check_arrival(self, 0, 3), WORLD_DROP_NONE);
    ck_assert_int_eq(net_check_arrival(self, 1, 4), WORLD_DROP_NONE);
    ck_assert_int_eq(net_check_arrival(self, 0, 1), WORLD_DROP_PARTITION);
    ck_assert_int_eq(test_net_send_drop(self, 0, 0, 1), WORLD_DROP_PARTITION);
    ck_assert_int_eq(test_net_send_drop(self, 0, 0, 3), WORLD_DROP_NONE);
    net_partition_heal(self, 7);                     /* not active: no-op */
    net_partition_heal(self, 1);
    ck_assert_int_eq(net_check_arrival(self, 0, 1), WORLD_DROP_NONE);
    ck_assert_int_eq(test_net_send_drop(self, 0, 0, 1), WORLD_DROP_NONE);
    /* A partition still active at destroy is freed (checked by ASan). */
    ck_assert_int_eq(net_partition_start(self, 1, isolate), 0);
    net_destroy(self);
}
END_TEST

START_TEST(test_net_crash_drops_and_recovers)
{
    scn_network network = test_net_network();
    net *self = test_net_make(&network, 3, 1, 16, NULL);

    ck_assert(!net_is_crashed(self, 1));
    net_set_crashed(self, 1, true);
    ck_assert(net_is_crashed(self, 1));
    ck_assert_int_eq(test_net_send_drop(self, 0, 0, 1), WORLD_DROP_CRASHED);
    ck_assert_int_eq(test_net_send_drop(self, 0, 1, 0), WORLD_DROP_CRASHED);
    ck_assert_int_eq(test_net_send_drop(self, 0, 0, 2), WORLD_DROP_NONE);
    ck_assert_int_eq(net_check_arrival(self, 0, 1), WORLD_DROP_CRASHED);
    ck_assert_int_eq(net_check_arrival(self, 1, 0), WORLD_DROP_NONE);
    net_set_crashed(self, 1, false);
    ck_assert(!net_is_crashed(self, 1));
    ck_assert_int_eq(test_net_send_drop(self, 5, 0, 1), WORLD_DROP_NONE);
    ck_assert_int_eq(test_net_send_drop(self, 5, 1, 0), WORLD_DROP_NONE);
    ck_assert_int_eq(net_check_arrival(self, 0, 1), WORLD_DROP_NONE);
    net_destroy(self);
}
END_TEST

/* A node's region and crashed flag share one byte: crashing and recovering
 * a node of the last region must leave its links' latencies alone. */
START_TEST(test_net_crash_keeps_region)
{
    static const uint16_t regions[3] = {0, SCN_REGIONS_MAX - 1, SCN_REGIONS_MAX - 1};
    scn_network network = test_net_network();
    network.has_region_matrix = true;
    network.region_latency_ns[0][SCN_REGIONS_MAX - 1] = 40 * TEST_NET_MS;
    network.region_latency_ns[SCN_REGIONS_MAX - 1][SCN_REGIONS_MAX - 1] = 3 * TEST_NET_MS;
    net *self = test_net_make(&network, 3, 1, 16, regions);

    ck_assert_uint_eq(net_link_latency_ns(self, 0, 1), 41 * TEST_NET_MS);
    net_set_crashed(self, 1, true);
    ck_assert(net_is_crashed(self, 1) && !net_is_crashed(self, 2));
    ck_assert_uint_eq(net_link_latency_ns(self, 0, 1), 41 * TEST_NET_MS);
    ck_assert_uint_eq(net_link_latency_ns(self, 1, 2), 4 * TEST_NET_MS);
    net_set_crashed(self, 1, false);
    ck_assert(!net_is_crashed(self, 1));
    ck_assert_uint_eq(test_net_send_one(self, 0, 2, 1, 100), 800 + 4 * TEST_NET_MS);
    ck_assert_uint_eq(test_net_send_one(self, 0, 0, 1, 100), 800 + 41 * TEST_NET_MS);
    net_destroy(self);
}
END_TEST

START_TEST(test_net_delay_fault_adds_exactly)
{
    static const uint8_t selected[6] = {0, 1, 0, 0, 0, 0};
    scn_network network = test_net_network();
    net *self = test_net_make(&network, 6, 1, 16, NULL);
    uint64_t base_ns = test_net_send_one(self, 0, 0, 2, 100);

    ck_assert_uint_eq(base_ns, 800 + TEST_NET_MS);
    ck_assert_int_eq(net_link_fault_start(self, 9, SCN_FAULT_DELAY, 0.0, 7 * TEST_NET_MS,
                                          selected), 0);
    ck_assert_uint_eq(test_net_send_one(self, 0, 2, 1, 100), base_ns + 7 * TEST_NET_MS);
    ck_assert_uint_eq(test_net_send_one(self, 0, 1, 3, 100), base_ns + 7 * TEST_NET_MS);
    ck_assert_uint_eq(test_net_send_one(self, 0, 4, 5, 100), base_ns);
    /* Two delay faults add up. */
    ck_assert_int_eq(net_link_fault_start(self, 10, SCN_FAULT_DELAY, 0.0, 2 * TEST_NET_MS,
                                          selected), 0);
    ck_assert_uint_eq(test_net_send_one(self, 0, 5, 1, 100), base_ns + 9 * TEST_NET_MS);
    net_link_fault_stop(self, 9);
    net_link_fault_stop(self, 10);
    ck_assert_uint_eq(test_net_send_one(self, 0, 3, 1, 100), base_ns);
    net_destroy(self);
}
END_TEST

/* ---- determinism --------------------------------------------------------- */

/* Runs a fixed random workload on a fresh network; returns a digest of
 * every result field and copies the first arrival times into 'arrivals'. */
static uint64_t test_net_workload_digest(uint64_t seed, uint64_t *arrivals, size_t arrival_count)
{
    scn_network network = test_net_network();
    util_prng pick;
    uint64_t digest = 0;
    net *self;

    network.latency.kind = SCN_LATENCY_LOGNORMAL;
    network.latency.value_ns = 30 * TEST_NET_MS;
    network.latency.sigma = 0.7;
    network.jitter_ns = 3 * TEST_NET_MS;
    network.loss = 0.05;
    network.duplicate = 0.05;
    network.reorder = 0.05;
    network.reorder_delay_ns = 5 * TEST_NET_MS;
    network.corrupt = 0.05;
    self = test_net_make(&network, 50, seed, 64, NULL);
    util_prng_init(&pick, 1234);
    for (size_t index = 0; index < 5000; index++) {
        net_send_result result;
        uint32_t source = (uint32_t)util_prng_below(&pick, 50);
        uint32_t dest = (uint32_t)util_prng_below(&pick, 50);

        net_send(self, index * 20000, source, dest, 100 + util_prng_below(&pick, 100000),
                 &result);
        digest = util_mix64(digest ^ (uint64_t)result.drop ^ (uint64_t)result.count << 8
                            ^ (uint64_t)result.reordered << 16);
        digest = util_mix64(digest ^ result.serialization_ns);
        for (uint32_t copy = 0; copy < result.count; copy++) {
            digest = util_mix64(digest ^ result.deliveries[copy].at_ns
                                ^ (uint64_t)result.deliveries[copy].corrupt);
        }
        if (index < arrival_count) {
            arrivals[index] = result.count > 0 ? result.deliveries[0].at_ns : 0;
        }
    }
    net_destroy(self);
    return digest;
}

START_TEST(test_net_send_deterministic_per_seed)
{
    uint64_t first[64];
    uint64_t second[64];
    uint64_t other[64];
    uint64_t digest = test_net_workload_digest(42, first, 64);

    ck_assert_uint_eq(digest, test_net_workload_digest(42, second, 64));
    ck_assert_mem_eq(first, second, sizeof(first));
    ck_assert_uint_ne(digest, test_net_workload_digest(43, other, 64));
    ck_assert(memcmp(first, other, sizeof(first)) != 0);
}
END_TEST

/* ---- out of memory ----------------------------------------------------- */

START_TEST(test_net_create_out_of_memory)
{
    static const uint16_t regions[4] = {0, 0, 0, 0};
    static const uint64_t bps[4] = {1000, 1000, 1000, 1000};
    static const uint8_t groups[4] = {0, 1, 0, 1};
    scn_network network = test_net_network();
    net_config config;
    uint32_t failures = 0;
    net *self = NULL;

    memset(&config, 0, sizeof(config));
    config.network = &network;
    config.node_count = 4;
    config.region_of = regions;
    config.uplink_bps_of = bps;
    config.link_capacity = 8;
    for (unsigned long nth = 1; nth < 64; nth++) {
        int rc;

        util_alloc_fail_after(nth);
        rc = net_create(&config, &self);
        util_alloc_fail_after(0);
        if (rc == 0) {
            break;
        }
        ck_assert_int_eq(rc, -1);
        ck_assert_ptr_null(self);
        failures += 1;
    }
    ck_assert_uint_gt(failures, 0);
    ck_assert_ptr_nonnull(self);
    util_alloc_fail_after(1);
    ck_assert_int_eq(net_partition_start(self, 0, groups), -1);
    ck_assert_int_eq(net_link_fault_start(self, 1, SCN_FAULT_LOSS, 1.0, 0, groups), -1);
    util_alloc_fail_after(0);
    /* Nothing half-started: every message still goes through. */
    ck_assert_int_eq(net_check_arrival(self, 0, 1), WORLD_DROP_NONE);
    ck_assert_uint_eq(test_net_send_one(self, 0, 0, 1, 1), UINT64_C(8000000) + TEST_NET_MS);
    net_destroy(self);
}
END_TEST

Suite *test_net_suite(void)
{
    Suite *suite = suite_create("net");
    TCase *arithmetic = tcase_create("arithmetic");
    TCase *order = tcase_create("order");
    TCase *latency = tcase_create("latency");
    TCase *faults = tcase_create("faults");

    tcase_set_timeout(arithmetic, 10);
    tcase_add_test(arithmetic, test_net_serialization_exact);
    tcase_add_test(arithmetic, test_net_uplink_vote_then_activation);
    tcase_add_test(arithmetic, test_net_uplink_activation_then_vote);
    tcase_add_test(arithmetic, test_net_send_deterministic_per_seed);
    tcase_add_test(arithmetic, test_net_create_out_of_memory);
    suite_add_tcase(suite, arithmetic);

    tcase_set_timeout(order, 20);
    tcase_add_test(order, test_net_fifo_holds_under_jitter);
    tcase_add_test(order, test_net_fifo_reordered_may_overtake);
    tcase_add_test(order, test_net_fifo_holds_past_near_links);
    tcase_add_loop_test(order, test_net_fifo_table_under_pressure, 0, 2);
    suite_add_tcase(suite, order);

    tcase_set_timeout(latency, 20);
    tcase_add_test(latency, test_net_latency_symmetric_and_stable);
    tcase_add_test(latency, test_net_latency_stored_equals_drawn);
    tcase_add_test(latency, test_net_latency_region_matrix);
    tcase_add_test(latency, test_net_latency_models_distribution);
    suite_add_tcase(suite, latency);

    tcase_set_timeout(faults, 20);
    tcase_add_test(faults, test_net_loss_duplicate_corrupt_frequencies);
    tcase_add_test(faults, test_net_fault_probabilities_combine);
    tcase_add_test(faults, test_net_partition_drops_across_groups);
    tcase_add_test(faults, test_net_partition_two_overlapping);
    tcase_add_test(faults, test_net_crash_drops_and_recovers);
    tcase_add_test(faults, test_net_crash_keeps_region);
    tcase_add_test(faults, test_net_delay_fault_adds_exactly);
    suite_add_tcase(suite, faults);
    return suite;
}
