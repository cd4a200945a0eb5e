/* test_cons.c -- consensus/ building blocks: BLAKE2b-256 and ed25519 from
 * util/hash.h; the beacon and weighted sortition (determinism,
 * verifiability, selection frequencies and committee capture against the
 * closed forms, draws in slices merged against the whole-list draw); commit-reveal; the agreement rules at their boundaries and
 * quorum acceptance, including the cartel case where a safety violation is
 * the expected result; Nesa's reputation rule and its closed forms; the
 * protocol table, each protocol's decisions and invariants (one flipped bit
 * of a tally names the invariant it breaks) and run-time registration; the
 * settlement ledger in closed form, its conservation over a random run and
 * the invariant a corrupted ledger breaks. Every
 * test is deterministic (fixed seeds and beacons); statistical bounds are
 * 4 binomial standard deviations wide. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/cons.h"
#include "tests/suites.h"
#include "util/assert.h"
#include "util/hash.h"
#include "util/prng.h"

#define TEST_CONS_SEED 20240721ULL
#define TEST_CONS_BEACONS 20000
#define TEST_CONS_POPULATION 100

static void test_cons_setup(void)
{
    ck_assert_int_eq(util_hash_init(), 0);
}

static void test_cons_hex(const char *hex, uint8_t *out, size_t size)
{
    ck_assert_uint_eq(strlen(hex), 2 * size);
    for (size_t i = 0; i < size; i++) {
        char pair[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
        out[i] = (uint8_t)strtoul(pair, NULL, 16);
    }
}

/* Candidates 0..count-1 with keys derived from the test seed, weight 1. */
static void test_cons_candidates_fill(cons_candidate *candidates, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint8_t secret_key[UTIL_SIGN_SECRET_KEY_BYTES];
        candidates[i].node_id = (uint32_t)i;
        util_sign_keypair_from_seed(TEST_CONS_SEED, (uint32_t)i, candidates[i].public_key,
                                    secret_key);
        candidates[i].stake = 1.0;
        candidates[i].reputation = 1.0;
    }
}

/* 4-sigma bound on the count of a Binomial(trials, p) around its mean. */
static void test_cons_assert_binomial(uint32_t observed, uint32_t trials, double p)
{
    double mean = p * trials;
    double sigma = sqrt(trials * p * (1.0 - p));
    ck_assert_msg(fabs((double)observed - mean) <= 4.0 * sigma,
                  "observed %u, expected %.1f +- %.1f (4 sigma)", observed, mean, 4.0 * sigma);
}

/* ---- util: BLAKE2b-256 and ed25519 ---- */

START_TEST(test_cons_hash256_known_vectors)
{
    test_cons_setup();
    uint8_t expected[32];
    uint8_t digest[32];
    util_hash256("", 0, digest);
    test_cons_hex("0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8", expected, 32);
    ck_assert_mem_eq(digest, expected, 32);
    util_hash256("abc", 3, digest);
    test_cons_hex("bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319", expected, 32);
    ck_assert_mem_eq(digest, expected, 32);
    /* The pair and the incremental forms hash the concatenation. */
    uint8_t pair[32];
    util_hash256_pair("a", 1, "bc", 2, pair);
    ck_assert_mem_eq(pair, expected, 32);
    util_hash256_state state;
    util_hash256_init(&state);
    util_hash256_update(&state, "ab", 2);
    util_hash256_update(&state, "", 0);
    util_hash256_update(&state, "c", 1);
    util_hash256_final(&state, pair);
    ck_assert_mem_eq(pair, expected, 32);
    util_hash256_pair("ab", 2, "d", 1, pair);
    ck_assert_mem_ne(pair, expected, 32);
}
END_TEST

START_TEST(test_cons_sign_verify_and_tamper)
{
    test_cons_setup();
    uint8_t pk[32], sk[64], pk_again[32], sk_again[64], pk_other[32], sk_other[64];
    util_sign_keypair_from_seed(7, 3, pk, sk);
    util_sign_keypair_from_seed(7, 3, pk_again, sk_again);
    util_sign_keypair_from_seed(7, 4, pk_other, sk_other);
    ck_assert_mem_eq(pk, pk_again, 32);
    ck_assert_mem_eq(sk, sk_again, 64);
    ck_assert_mem_ne(pk, pk_other, 32);
    util_sign_keypair_from_seed(8, 3, pk_again, sk_again);
    ck_assert_mem_ne(pk, pk_again, 32);

    uint8_t message[40];
    for (size_t i = 0; i < sizeof(message); i++) {
        message[i] = (uint8_t)(i * 7 + 1);
    }
    uint8_t signature[64];
    uint8_t signature_again[64];
    util_sign(sk, message, sizeof(message), signature);
    util_sign(sk, message, sizeof(message), signature_again);
    ck_assert_mem_eq(signature, signature_again, 64);   /* ed25519 is deterministic */
    ck_assert(util_sign_verify(pk, message, sizeof(message), signature));
    ck_assert(!util_sign_verify(pk_other, message, sizeof(message), signature));
    ck_assert(!util_sign_verify(pk, message, sizeof(message) - 1, signature));
    for (size_t i = 0; i < sizeof(message); i++) {
        message[i] ^= 0x10;
        ck_assert(!util_sign_verify(pk, message, sizeof(message), signature));
        message[i] ^= 0x10;
    }
    for (size_t i = 0; i < sizeof(signature); i++) {
        signature[i] ^= 0x01;
        ck_assert(!util_sign_verify(pk, message, sizeof(message), signature));
        signature[i] ^= 0x01;
    }
    ck_assert(util_sign_verify(pk, message, sizeof(message), signature));
    util_sign(sk, NULL, 0, signature);
    ck_assert(util_sign_verify(pk, NULL, 0, signature));
}
END_TEST

/* ---- Beacon and sortition ---- */

START_TEST(test_cons_beacon_derive_deterministic_and_distinct)
{
    test_cons_setup();
    uint8_t base[32], again[32], other[32];
    cons_beacon_derive(1, 2, 0, base);
    cons_beacon_derive(1, 2, 0, again);
    ck_assert_mem_eq(base, again, 32);
    cons_beacon_derive(2, 2, 0, other);
    ck_assert_mem_ne(base, other, 32);
    cons_beacon_derive(1, 3, 0, other);
    ck_assert_mem_ne(base, other, 32);
    cons_beacon_derive(1, 2, 1, other);
    ck_assert_mem_ne(base, other, 32);
    ck_assert_str_eq(cons_strerror(CONS_ENOQUORUM), "no output reached the quorum");
    ck_assert_str_eq(cons_strerror(-99), "unknown error");
}
END_TEST

START_TEST(test_cons_sortition_uniform_range_and_mean)
{
    test_cons_setup();
    cons_candidate candidate;
    test_cons_candidates_fill(&candidate, 1);
    double sum = 0.0;
    for (uint64_t request = 0; request < 4000; request++) {
        uint8_t beacon[32];
        cons_beacon_derive(TEST_CONS_SEED, request, 0, beacon);
        double u = cons_sortition_uniform(beacon, 5, candidate.public_key);
        ck_assert(u > 0.0 && u <= 1.0);
        sum += u;
    }
    /* Uniform(0,1): mean 0.5, sd of the mean sqrt(1/12/4000) ~ 0.0046. */
    ck_assert_double_eq_tol(sum / 4000.0, 0.5, 4.0 * 0.0046);
    /* Stake and reputation enter only as their product. */
    uint8_t beacon[32];
    cons_beacon_derive(TEST_CONS_SEED, 1, 0, beacon);
    candidate.stake = 2.0;
    candidate.reputation = 3.0;
    double key = cons_sortition_key(beacon, 0, &candidate);
    candidate.stake = 3.0;
    candidate.reputation = 2.0;
    ck_assert(cons_sortition_key(beacon, 0, &candidate) == key);
    candidate.stake = 6.0;
    candidate.reputation = 1.0;
    ck_assert(cons_sortition_key(beacon, 0, &candidate) == key);
}
END_TEST

static int test_cons_by_key(const void *a, const void *b)
{
    const double *x = a;
    const double *y = b;
    /* Element [1] is the node id: the specified tie-break. */
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0;
}

START_TEST(test_cons_committee_select_matches_sorted_keys)
{
    test_cons_setup();
    cons_candidate candidates[40];
    test_cons_candidates_fill(candidates, 40);
    for (size_t i = 0; i < 40; i++) {
        candidates[i].stake = 1.0 + (double)(i % 5);
        candidates[i].reputation = 0.5 + 0.1 * (double)(i % 7);
    }
    for (uint64_t request = 0; request < 50; request++) {
        uint8_t beacon[32];
        cons_beacon_derive(TEST_CONS_SEED, request, 0, beacon);
        double keyed[40][2];
        for (size_t i = 0; i < 40; i++) {
            keyed[i][0] = cons_sortition_key(beacon, 3, &candidates[i]);
            keyed[i][1] = (double)candidates[i].node_id;
        }
        qsort(keyed, 40, sizeof(keyed[0]), test_cons_by_key);
        uint32_t members[9];
        ck_assert_int_eq(cons_committee_select(beacon, 3, candidates, 40, 9, members), 9);
        for (size_t j = 0; j < 9; j++) {
            ck_assert_uint_eq(members[j], (uint32_t)keyed[j][1]);
        }
        uint32_t again[9];
        ck_assert_int_eq(cons_committee_select(beacon, 3, candidates, 40, 9, again), 9);
        ck_assert_mem_eq(members, again, sizeof(members));
    }
}
END_TEST

/* The linear draw as it was before tickets were hashed in lanes and the
 * logarithm skipped: one cons_sortition_key per candidate (libsodium's
 * BLAKE2b), insertion into the sorted best k. Kept here as the reference
 * the draw must equal. 'uniforms' replaces the hash tickets when given. */
static int test_cons_reference_select(const uint8_t *beacon, uint32_t segment,
                                      const double *uniforms, const cons_candidate *candidates,
                                      size_t count, uint32_t k, uint32_t *members_out)
{
    double best_key[CONS_COMMITTEE_MAX];
    size_t best_index[CONS_COMMITTEE_MAX];
    uint32_t filled = 0;
    for (size_t i = 0; i < count && k > 0; i++) {
        double key = uniforms != NULL
                         ? -log(uniforms[i]) / (candidates[i].stake * candidates[i].reputation) +
                               0.0
                         : cons_sortition_key(beacon, segment, &candidates[i]);
        uint32_t node = candidates[i].node_id;
        uint32_t at = filled;
        while (at > 0) {
            size_t other = best_index[at - 1];
            bool precedes = key != best_key[at - 1]   ? key < best_key[at - 1]
                            : node != candidates[other].node_id ? node < candidates[other].node_id
                                                                : i < other;
            if (!precedes) {
                break;
            }
            at--;
        }
        if (at >= k) {
            continue;
        }
        uint32_t last = filled < k ? filled : k - 1;
        for (uint32_t j = last; j > at; j--) {
            best_key[j] = best_key[j - 1];
            best_index[j] = best_index[j - 1];
        }
        best_key[at] = key;
        best_index[at] = i;
        filled = filled < k ? filled + 1 : k;
    }
    for (uint32_t j = 0; j < filled; j++) {
        members_out[j] = candidates[best_index[j]].node_id;
    }
    return (int)filled;
}

/* The draw equals the reference linear draw on 10,000 random beacons:
 * networks of 1 to 300 candidates, committees of 1 to 64, weights equal,
 * spread over six orders of magnitude or tied, node ids shuffled, hash and
 * VRF-style tickets (u = 1 included). */
START_TEST(test_cons_committee_select_equals_reference_draw)
{
    test_cons_setup();
    enum { NETWORK_MAX = 300, BEACONS = 10000 };
    static cons_candidate candidates[NETWORK_MAX];
    test_cons_candidates_fill(candidates, NETWORK_MAX);
    util_prng prng;
    util_prng_init(&prng, TEST_CONS_SEED);
    uint32_t differing = 0;
    for (uint32_t draw = 0; draw < BEACONS; draw++) {
        uint8_t beacon[CONS_BEACON_BYTES];
        for (size_t b = 0; b < sizeof(beacon); b++) {
            beacon[b] = (uint8_t)util_prng_next(&prng);
        }
        size_t count = 1 + (size_t)util_prng_below(&prng, NETWORK_MAX);
        uint32_t k = 1 + (uint32_t)util_prng_below(&prng, CONS_COMMITTEE_MAX);
        uint32_t shape = draw % 3;
        for (size_t i = 0; i < count; i++) {
            candidates[i].node_id = (uint32_t)((i * 7919u + draw) % 100003u);
            candidates[i].stake = shape == 0 ? 1.0 : exp(13.8 * util_prng_uniform(&prng) - 6.9);
            candidates[i].reputation = shape == 2 ? 0.25 * (double)(1 + i % 4) : 1.0;
        }
        uint32_t segment = (uint32_t)util_prng_below(&prng, 8);
        uint32_t members[CONS_COMMITTEE_MAX], expected[CONS_COMMITTEE_MAX];
        int chosen = cons_committee_select(beacon, segment, candidates, count, k, members);
        ck_assert_int_eq(chosen, test_cons_reference_select(beacon, segment, NULL, candidates,
                                                            count, k, expected));
        ck_assert_mem_eq(members, expected, (size_t)chosen * sizeof(uint32_t));
        double uniforms[NETWORK_MAX];
        for (size_t i = 0; i < count; i++) {
            uniforms[i] = util_prng_below(&prng, 50) == 0 ? 1.0 : cons_sortition_uniform(
                              beacon, segment + 1, candidates[i].public_key);
        }
        chosen = cons_committee_select_uniforms(uniforms, candidates, count, k, members);
        ck_assert_int_eq(chosen, test_cons_reference_select(NULL, 0, uniforms, candidates,
                                                            count, k, expected));
        ck_assert_mem_eq(members, expected, (size_t)chosen * sizeof(uint32_t));
        /* The comparison can fail: another segment's reference draw of the
         * same size differs from this one in most draws. */
        chosen = cons_committee_select(beacon, segment, candidates, count, k, members);
        test_cons_reference_select(beacon, segment + 1, NULL, candidates, count, k, expected);
        differing += memcmp(members, expected, (size_t)chosen * sizeof(uint32_t)) != 0;
    }
    ck_assert_uint_gt(differing, BEACONS / 2);
}
END_TEST

/* Random candidates for a sliced draw: weights equal, spread over 600
 * orders of magnitude (tiny and huge), or tied in key (five public keys
 * shared by everyone, equal weights), node ids distinct or repeated (the
 * list position then breaks the tie). */
static void test_cons_draw_fill(cons_candidate *candidates, const cons_candidate *keys,
                                size_t count, uint32_t shape, util_prng *prng)
{
    for (size_t i = 0; i < count; i++) {
        candidates[i] = keys[shape >= 2 ? i % 5 : i];
        candidates[i].node_id = shape == 3 ? (uint32_t)util_prng_below(prng, 4)
                                           : (uint32_t)((i * 7919u + shape) % 100003u);
        candidates[i].stake = shape == 1 ? exp(1380.0 * util_prng_uniform(prng) - 690.0) : 2.0;
        candidates[i].reputation = shape == 1 && i % 7 == 0 ? 1e-8 : 1.0;
    }
}

/* A wrong merge for the checker to catch: key order alone, the last
 * slice's entry first on a tie. */
static uint32_t test_cons_merge_key_only(const cons_draw_best *bests, size_t count, uint32_t k,
                                         uint32_t *members_out)
{
    double keys[CONS_COMMITTEE_MAX];
    uint32_t filled = 0;
    for (size_t b = count; b-- > 0;) {
        for (uint32_t j = 0; j < bests[b].filled; j++) {
            uint32_t at = filled;
            while (at > 0 && !(keys[at - 1] < bests[b].key[j])) {
                at--;
            }
            if (at >= k) {
                continue;
            }
            for (uint32_t m = filled < k ? filled : k - 1; m > at; m--) {
                keys[m] = keys[m - 1];
                members_out[m] = members_out[m - 1];
            }
            keys[at] = bests[b].key[j];
            members_out[at] = bests[b].node_id[j];
            filled = filled < k ? filled + 1 : k;
        }
    }
    return filled;
}

/* Draws 'candidates' in 'slices' slices cut at random (some empty), each
 * begun on a first piece and extended by the rest (cons_draw_extend), and
 * merges the bests in a shuffled order; returns what cons_draw_merge chose
 * and what the key-only merge chose in wrong_out. */
static int test_cons_draw_sliced(const uint8_t *beacon, const double *uniforms,
                                 const cons_candidate *candidates, size_t count, uint32_t k,
                                 uint32_t slices, util_prng *prng, uint32_t *members_out,
                                 uint32_t *wrong_out)
{
    static cons_draw_best bests[8];
    size_t cuts[9] = {0};
    for (uint32_t s = 1; s < slices; s++) {
        cuts[s] = (size_t)util_prng_below(prng, count + 1);
        for (uint32_t t = s; t > 1 && cuts[t] < cuts[t - 1]; t--) {
            size_t swap = cuts[t];
            cuts[t] = cuts[t - 1];
            cuts[t - 1] = swap;
        }
    }
    cuts[slices] = count;
    uint32_t first = (uint32_t)util_prng_below(prng, slices);
    for (uint32_t s = 0; s < slices; s++) {
        uint32_t at = (s + first) % slices; /* a rotated merge order */
        size_t mid = cuts[s] + (size_t)util_prng_below(prng, cuts[s + 1] - cuts[s] + 1);
        TEST_ASSERT_INT_EQ(cons_draw_slice(beacon, 4, uniforms, candidates, cuts[s], mid, k,
                                            &bests[at]), 0);
        TEST_ASSERT_INT_EQ(cons_draw_extend(beacon, 4, uniforms, candidates, mid, cuts[s + 1],
                                             &bests[at]), 0);
    }
    (void)test_cons_merge_key_only(bests, slices, k, wrong_out);
    return (int)cons_draw_merge(bests, slices, k, members_out);
}

/* A draw in 1 to 7 slices equals cons_committee_select's (and
 * cons_committee_select_uniforms') on 10,000 random beacons (2,000 under
 * the sanitizers), with every kind of tie; a merge by key alone is seen to
 * differ on ties. */
START_TEST(test_cons_draw_slices_equal_select)
{
    test_cons_setup();
    enum { NETWORK_MAX = 300 };
    const uint32_t beacons = getenv("INFERSIM_SANITIZE") != NULL ? 2000 : 10000;
    static cons_candidate keys[NETWORK_MAX], candidates[NETWORK_MAX];
    test_cons_candidates_fill(keys, NETWORK_MAX);
    util_prng prng;
    util_prng_init(&prng, TEST_CONS_SEED + 1);
    uint32_t wrong = 0;
    for (uint32_t draw = 0; draw < beacons; draw++) {
        uint8_t beacon[CONS_BEACON_BYTES];
        cons_beacon_derive(TEST_CONS_SEED, draw, 0, beacon);
        size_t count = 1 + (size_t)util_prng_below(&prng, NETWORK_MAX);
        uint32_t k = 1 + (uint32_t)util_prng_below(&prng, CONS_COMMITTEE_MAX);
        test_cons_draw_fill(candidates, keys, count, draw % 4, &prng);
        uint32_t slices = 1 + draw % 7;
        uint32_t expected[CONS_COMMITTEE_MAX], members[CONS_COMMITTEE_MAX],
            naive[CONS_COMMITTEE_MAX];
        int chosen = cons_committee_select(beacon, 4, candidates, count, k, expected);
        ck_assert_int_eq(test_cons_draw_sliced(beacon, NULL, candidates, count, k, slices,
                                               &prng, members, naive), chosen);
        ck_assert_mem_eq(members, expected, (size_t)chosen * sizeof(uint32_t));
        wrong += memcmp(naive, expected, (size_t)chosen * sizeof(uint32_t)) != 0;
        double uniforms[NETWORK_MAX];
        for (size_t i = 0; i < count; i++) {
            uniforms[i] = draw % 2 == 0 ? 1.0 - 0x1.0p-53 * (double)(i % 3)
                                        : util_prng_uniform(&prng) * 0.5 + 0.5;
        }
        chosen = cons_committee_select_uniforms(uniforms, candidates, count, k, expected);
        ck_assert_int_eq(test_cons_draw_sliced(NULL, uniforms, candidates, count, k, slices,
                                               &prng, members, naive), chosen);
        ck_assert_mem_eq(members, expected, (size_t)chosen * sizeof(uint32_t));
    }
    /* The checker fires: ties make the key-only merge pick other members. */
    ck_assert_uint_gt(wrong, beacons / 10);
}
END_TEST

/* A slice, and a piece it is extended by, refuse what the whole draw
 * refuses, and a slice's best holds its own positions. */
START_TEST(test_cons_draw_slice_rejects_and_positions)
{
    test_cons_setup();
    cons_candidate candidates[12];
    test_cons_candidates_fill(candidates, 12);
    uint8_t beacon[CONS_BEACON_BYTES];
    cons_beacon_derive(TEST_CONS_SEED, 1, 0, beacon);
    cons_draw_best best;
    ck_assert_int_eq(cons_draw_slice(beacon, 0, NULL, candidates, 4, 9, 3, &best), 0);
    ck_assert_uint_eq(best.filled, 3);
    for (uint32_t j = 0; j < best.filled; j++) {
        ck_assert(best.index[j] >= 4 && best.index[j] < 9);
        ck_assert_uint_eq(best.node_id[j], candidates[best.index[j]].node_id);
    }
    ck_assert_int_eq(cons_draw_slice(beacon, 0, NULL, candidates, 0, 12, 65, &best),
                     CONS_EINVAL);
    double uniforms[12] = {0.5, 0.5, 0.0};
    ck_assert_int_eq(cons_draw_slice(NULL, 0, uniforms, candidates, 0, 2, 2, &best), 0);
    ck_assert_int_eq(cons_draw_slice(NULL, 0, uniforms, candidates, 0, 3, 2, &best),
                     CONS_EINVAL);
    candidates[10].stake = 0.0;
    ck_assert_int_eq(cons_draw_slice(beacon, 0, NULL, candidates, 0, 10, 2, &best), 0);
    ck_assert_int_eq(cons_draw_slice(beacon, 0, NULL, candidates, 8, 12, 2, &best),
                     CONS_EINVAL);
    /* A piece with a bad weight fails its extension, and the best with it. */
    ck_assert_int_eq(cons_draw_slice(beacon, 0, NULL, candidates, 0, 8, 2, &best), 0);
    ck_assert_int_eq(cons_draw_extend(beacon, 0, NULL, candidates, 8, 10, &best), 0);
    ck_assert_int_eq(cons_draw_extend(beacon, 0, NULL, candidates, 10, 12, &best), CONS_EINVAL);
    ck_assert_uint_eq(best.k, 0);
    uint32_t members[3];
    ck_assert_uint_eq(cons_draw_merge(NULL, 0, 3, members), 0);
}
END_TEST

START_TEST(test_cons_committee_select_distinct_and_bounded)
{
    test_cons_setup();
    cons_candidate candidates[12];
    test_cons_candidates_fill(candidates, 12);
    uint8_t beacon[32];
    cons_beacon_derive(TEST_CONS_SEED, 9, 0, beacon);
    uint32_t members[CONS_COMMITTEE_MAX];
    ck_assert_int_eq(cons_committee_select(beacon, 0, candidates, 12, 7, members), 7);
    for (size_t i = 0; i < 7; i++) {
        for (size_t j = i + 1; j < 7; j++) {
            ck_assert_uint_ne(members[i], members[j]);
        }
    }
    /* k above count takes everyone; k = 0 takes no one. */
    ck_assert_int_eq(cons_committee_select(beacon, 0, candidates, 12, 20, members), 12);
    uint32_t seen = 0;
    for (size_t i = 0; i < 12; i++) {
        seen |= 1u << members[i];
    }
    ck_assert_uint_eq(seen, 0xfff);
    ck_assert_int_eq(cons_committee_select(beacon, 0, candidates, 12, 0, NULL), 0);
    ck_assert_int_eq(cons_committee_select(beacon, 0, candidates, 0, 3, members), 0);
    /* Another segment or round draws another committee (checked over 20 draws). */
    int differs = 0;
    for (uint32_t segment = 1; segment <= 20; segment++) {
        uint32_t other[7];
        ck_assert_int_eq(cons_committee_select(beacon, segment, candidates, 12, 7, other), 7);
        differs += memcmp(other, members, sizeof(other)) != 0;
    }
    ck_assert_int_ge(differs, 19);
    /* Invalid inputs are refused, not asserted. */
    ck_assert_int_eq(cons_committee_select(beacon, 0, candidates, 12, 65, members), CONS_EINVAL);
    candidates[4].stake = 0.0;
    ck_assert_int_eq(cons_committee_select(beacon, 0, candidates, 12, 3, members), CONS_EINVAL);
    candidates[4].stake = NAN;
    ck_assert_int_eq(cons_candidates_check(candidates, 12), CONS_EINVAL);
    ck_assert(!cons_sortition_verify(beacon, 0, candidates, 12, 3, 0));
    candidates[4].stake = 1.0;
    candidates[4].reputation = -1.0;
    ck_assert_int_eq(cons_candidates_check(candidates, 12), CONS_EINVAL);
}
END_TEST

START_TEST(test_cons_sortition_verify_membership)
{
    test_cons_setup();
    cons_candidate candidates[30];
    test_cons_candidates_fill(candidates, 30);
    for (uint64_t request = 0; request < 20; request++) {
        uint8_t beacon[32];
        cons_beacon_derive(TEST_CONS_SEED, request, 2, beacon);
        uint32_t members[5];
        ck_assert_int_eq(cons_committee_select(beacon, 1, candidates, 30, 5, members), 5);
        uint32_t verified = 0;
        for (uint32_t node = 0; node < 30; node++) {
            bool claimed = false;
            for (size_t j = 0; j < 5; j++) {
                claimed = claimed || members[j] == node;
            }
            bool ok = cons_sortition_verify(beacon, 1, candidates, 30, 5, node);
            ck_assert_int_eq(ok, claimed);
            verified += ok;
        }
        ck_assert_uint_eq(verified, 5);
        ck_assert(!cons_sortition_verify(beacon, 1, candidates, 30, 5, 999));
        ck_assert(cons_committee_verify(beacon, 1, candidates, 30, 5, members, 5));
        ck_assert(!cons_committee_verify(beacon, 1, candidates, 30, 5, members, 4));
        ck_assert(!cons_committee_verify(beacon, 2, candidates, 30, 5, members, 5));
        uint32_t forged[5];
        memcpy(forged, members, sizeof(forged));
        forged[0] = members[1];
        forged[1] = members[0];
        ck_assert(!cons_committee_verify(beacon, 1, candidates, 30, 5, forged, 5));
        forged[0] = members[0];
        forged[1] = members[1];
        forged[4] = (members[4] + 1) % 30;   /* any other node id is a forgery */
        ck_assert(!cons_committee_verify(beacon, 1, candidates, 30, 5, forged, 5));
    }
}
END_TEST

START_TEST(test_cons_sortition_tie_broken_by_node_id)
{
    test_cons_setup();
    /* Same key material and weight give equal keys: the lower node_id wins
     * whatever the list order. */
    cons_candidate pair[2];
    test_cons_candidates_fill(pair, 1);
    pair[1] = pair[0];
    pair[0].node_id = 9;
    pair[1].node_id = 4;
    uint8_t beacon[32];
    cons_beacon_derive(1, 1, 0, beacon);
    uint32_t members[2];
    ck_assert_int_eq(cons_committee_select(beacon, 0, pair, 2, 2, members), 2);
    ck_assert_uint_eq(members[0], 4);
    ck_assert_uint_eq(members[1], 9);
    ck_assert(cons_sortition_verify(beacon, 0, pair, 2, 1, 4));
    ck_assert(!cons_sortition_verify(beacon, 0, pair, 2, 1, 9));
}
END_TEST

/* k = 1 selection counts over TEST_CONS_BEACONS beacons for 'count' nodes. */
static void test_cons_count_winners(const cons_candidate *candidates, size_t count,
                                    uint32_t *wins)
{
    memset(wins, 0, count * sizeof(uint32_t));
    for (uint64_t request = 0; request < TEST_CONS_BEACONS; request++) {
        uint8_t beacon[32];
        uint32_t winner;
        cons_beacon_derive(TEST_CONS_SEED, request, 0, beacon);
        TEST_ASSERT_INT_EQ(cons_committee_select(beacon, 0, candidates, count, 1, &winner), 1);
        TEST_ASSERT(winner < count);
        wins[winner]++;
    }
}

START_TEST(test_cons_sortition_equal_stakes_uniform)
{
    test_cons_setup();
    cons_candidate candidates[10];
    uint32_t wins[10];
    test_cons_candidates_fill(candidates, 10);
    test_cons_count_winners(candidates, 10, wins);
    for (size_t i = 0; i < 10; i++) {
        test_cons_assert_binomial(wins[i], TEST_CONS_BEACONS, 0.1);
    }
}
END_TEST

START_TEST(test_cons_sortition_stake_proportional)
{
    test_cons_setup();
    cons_candidate candidates[4];
    uint32_t wins[4];
    test_cons_candidates_fill(candidates, 4);
    for (size_t i = 0; i < 4; i++) {
        candidates[i].stake = (double)(i + 1);
    }
    test_cons_count_winners(candidates, 4, wins);
    for (size_t i = 0; i < 4; i++) {
        test_cons_assert_binomial(wins[i], TEST_CONS_BEACONS, (double)(i + 1) / 10.0);
    }
}
END_TEST

START_TEST(test_cons_sortition_reputation_proportional)
{
    test_cons_setup();
    cons_candidate candidates[4];
    uint32_t wins[4];
    test_cons_candidates_fill(candidates, 4);
    /* Reputations 4:3:2:1 in list order, stakes 2 each: weights 8:6:4:2. */
    for (size_t i = 0; i < 4; i++) {
        candidates[i].stake = 2.0;
        candidates[i].reputation = (double)(4 - i);
    }
    test_cons_count_winners(candidates, 4, wins);
    for (size_t i = 0; i < 4; i++) {
        test_cons_assert_binomial(wins[i], TEST_CONS_BEACONS, (double)(4 - i) / 10.0);
    }
}
END_TEST

/* With equal weights every key is -ln(u) / w with u an independent uniform
 * (the hash modelled as a random oracle), so the keys are i.i.d. and
 * exchangeable: each ordering of the candidates is equally likely and the k
 * smallest form a uniformly random k-subset. The count of malicious members
 * is then hypergeometric, which is what cons_capture_probability computes. */
START_TEST(test_cons_sortition_capture_matches_hypergeometric)
{
    test_cons_setup();
    cons_candidate candidates[TEST_CONS_POPULATION];
    test_cons_candidates_fill(candidates, TEST_CONS_POPULATION);
    const uint32_t malicious = 30;   /* node ids 70..99 */
    const uint32_t k = 7;
    const uint32_t quorum = 4;
    uint32_t captured = 0;
    uint64_t malicious_total = 0;
    for (uint64_t request = 0; request < TEST_CONS_BEACONS; request++) {
        uint8_t beacon[32];
        uint32_t members[7];
        cons_beacon_derive(TEST_CONS_SEED + 1, request, 0, beacon);
        ck_assert_int_eq(cons_committee_select(beacon, 2, candidates, TEST_CONS_POPULATION, k,
                                               members), 7);
        uint32_t bad = 0;
        for (size_t j = 0; j < k; j++) {
            bad += members[j] >= TEST_CONS_POPULATION - malicious;
        }
        captured += bad >= quorum;
        malicious_total += bad;
    }
    double expected = cons_capture_probability(TEST_CONS_POPULATION, malicious, k, quorum);
    ck_assert(expected > 0.05 && expected < 0.2);
    test_cons_assert_binomial(captured, TEST_CONS_BEACONS, expected);
    /* Mean malicious members is k * 0.3 = 2.1 (sd per draw <= 1.3). */
    ck_assert_double_eq_tol((double)malicious_total / TEST_CONS_BEACONS, 2.1,
                            4.0 * 1.3 / sqrt(TEST_CONS_BEACONS));
}
END_TEST

/* Sampling consensus: the frequency with which all n sampled nodes are in
 * the cartel, over many beacons, against the hypergeometric closed form;
 * and, for a large population, the closed form against r^n. */
START_TEST(test_cons_sampling_capture_matches_closed_forms)
{
    test_cons_setup();
    cons_candidate candidates[TEST_CONS_POPULATION];
    test_cons_candidates_fill(candidates, TEST_CONS_POPULATION);
    const uint32_t malicious = 40;   /* node ids 60..99 */
    const uint32_t n = 3;
    uint32_t captured = 0;
    for (uint64_t request = 0; request < TEST_CONS_BEACONS; request++) {
        uint8_t beacon[32];
        uint32_t members[3];
        cons_beacon_derive(TEST_CONS_SEED + 7, request, 0, beacon);
        ck_assert_int_eq(cons_committee_select(beacon, 0, candidates, TEST_CONS_POPULATION, n,
                                               members), 3);
        uint32_t bad = 0;
        for (uint32_t j = 0; j < n; j++) {
            bad += members[j] >= TEST_CONS_POPULATION - malicious;
        }
        captured += bad == n;
    }
    double exact = cons_sampling_capture(TEST_CONS_POPULATION, malicious, n);
    ck_assert_double_eq_tol(exact, 40.0 * 39 * 38 / (100.0 * 99 * 98), 1e-12);
    test_cons_assert_binomial(captured, TEST_CONS_BEACONS, exact);
    /* Without replacement the capture is rarer than r^n, and the two meet
     * as the population grows. */
    ck_assert_double_lt(exact, cons_sampling_capture_iid(0.4, n));
    double large = cons_sampling_capture(1000000, 400000, n);
    ck_assert_double_eq_tol(large, cons_sampling_capture_iid(0.4, n), 1e-5);
    ck_assert_double_eq(cons_sampling_capture(100, 2, 3), 0.0);
    ck_assert_double_eq(cons_sampling_capture_iid(0.5, 10), 1.0 / 1024);
}
END_TEST

/* Cross-validation: the spot check fires with probability p per beacon,
 * and an executor that always cheats is caught within k requests with
 * probability 1 - (1 - p)^k. */
START_TEST(test_cons_crossval_detection_matches_closed_form)
{
    test_cons_setup();
    const double p = 0.05;
    uint32_t checked = 0;
    for (uint64_t request = 0; request < TEST_CONS_BEACONS; request++) {
        uint8_t beacon[32];
        cons_beacon_derive(TEST_CONS_SEED + 9, request, 0, beacon);
        checked += cons_spot_check(beacon, 0, p);
        ck_assert(!cons_spot_check(beacon, 0, 0.0));
        ck_assert(cons_spot_check(beacon, 0, 1.0));
    }
    test_cons_assert_binomial(checked, TEST_CONS_BEACONS, p);
    static const uint32_t horizons[] = {1, 5, 20, 60};
    const uint32_t histories = 2000;
    for (size_t h = 0; h < sizeof(horizons) / sizeof(horizons[0]); h++) {
        uint32_t k = horizons[h];
        uint32_t caught = 0;
        for (uint32_t history = 0; history < histories; history++) {
            bool seen = false;
            for (uint32_t request = 0; request < k && !seen; request++) {
                uint8_t beacon[32];
                cons_beacon_derive(TEST_CONS_SEED + 11 + h, (uint64_t)history * 1000 + request,
                                   0, beacon);
                seen = cons_spot_check(beacon, 0, p);
            }
            caught += seen;
        }
        double expected = cons_crossval_detection(p, 0.0, 3, k);
        ck_assert_double_eq_tol(expected, 1.0 - pow(0.95, k), 1e-12);
        test_cons_assert_binomial(caught, histories, expected);
    }
}
END_TEST

/* What a rational adversary weighs, protocol by protocol, with
 * 'colluding' of the 'pool' other candidates in its cartel. */
START_TEST(test_cons_detection_probability_values)
{
    /* Committee 3, quorum 2, 2 of 10 others collude: caught unless one of
     * the 2 others drawn is a colluder: C(8, 2) / C(10, 2) = 28 / 45. */
    cons_exposure committee = {CONS_PROTOCOL_COMMITTEE, 3, 2, 0, 10, 2, false};
    ck_assert_double_eq_tol(cons_detection_probability(&committee), 28.0 / 45.0, 1e-12);
    committee.colluding = 0;
    ck_assert_double_eq(cons_detection_probability(&committee), 1.0);
    /* Sampling 3, half of 4 others collude: caught unless both others do. */
    cons_exposure sampling = {CONS_PROTOCOL_SAMPLING, 3, 3, 0, 4, 2, false};
    ck_assert_double_eq_tol(cons_detection_probability(&sampling), 5.0 / 6.0, 1e-12);
    cons_exposure crossval = {CONS_PROTOCOL_CROSSVAL, 3, 1, 0.1, 10, 0, false};
    ck_assert_double_eq_tol(cons_detection_probability(&crossval), 0.1, 1e-12);
    crossval.colluding = 5;   /* all 3 checkers in the cartel: C(5, 3) / C(10, 3) */
    ck_assert_double_eq_tol(cons_detection_probability(&crossval), 0.1 * (1.0 - 10.0 / 120.0),
                            1e-12);
    cons_exposure optimistic = {CONS_PROTOCOL_OPTIMISTIC, 1, 1, 0, 5, 1, false};
    ck_assert_double_eq_tol(cons_detection_probability(&optimistic), 0.8, 1e-12);
    /* A draw larger than the pool takes all of it. */
    optimistic.members = 9;
    ck_assert_double_eq_tol(cons_detection_probability(&optimistic), 1.0, 1e-12);
    optimistic.colluding = 5;
    ck_assert_double_eq_tol(cons_detection_probability(&optimistic), 0.0, 1e-12);
    cons_exposure tee = {CONS_PROTOCOL_TEE, 1, 1, 0, 0, 0, true};
    ck_assert_double_eq(cons_detection_probability(&tee), 0.0);
    tee.forged_evidence = false;
    ck_assert_double_eq(cons_detection_probability(&tee), 1.0);
    cons_exposure zk = {CONS_PROTOCOL_ZK, 1, 1, 0, 3, 3, false};
    ck_assert_double_eq(cons_detection_probability(&zk), 1.0);
    ck_assert(cons_rational_cheats(0.5, 10.0, 5.0));
    ck_assert(!cons_rational_cheats(0.5, 1.0, 5.0));
    ck_assert(!cons_rational_cheats(1.0, 1e9, 0.0));
    ck_assert(cons_rational_cheats(0.0, 1e-9, 1e9));
}
END_TEST

/* ---- closed forms against enumeration of every draw ---- */

/* The next k-subset of {0..n-1} in lexicographic order (set[] ascending);
 * false after the last. */
static bool test_cons_next_subset(uint32_t *set, uint32_t k, uint32_t n)
{
    for (uint32_t i = k; i-- > 0;) {
        if (set[i] < n - k + i) {
            set[i]++;
            for (uint32_t j = i + 1; j < k; j++) {
                set[j] = set[j - 1] + 1;
            }
            return true;
        }
    }
    return false;
}

/* Over every k-subset of {0..n-1} (nodes below 'colluding' in the cartel):
 * the share of subsets with at least 'need' cartel members. */
static double test_cons_enumerate_share(uint32_t n, uint32_t colluding, uint32_t k,
                                        uint32_t need)
{
    uint32_t set[16];
    ck_assert_uint_le(k, 16);
    for (uint32_t i = 0; i < k; i++) {
        set[i] = i;
    }
    uint64_t total = 0, hits = 0;
    do {
        uint32_t in_cartel = 0;
        for (uint32_t i = 0; i < k; i++) {
            in_cartel += set[i] < colluding;
        }
        total += 1;
        hits += in_cartel >= need;
    } while (k > 0 && test_cons_next_subset(set, k, n));
    return (double)hits / (double)total;
}

/* P(never caught in k requests), enumerating each request's outcomes:
 * not checked (1 - p), or checked with one of the n-subsets of the pool,
 * caught unless all its checkers collude. */
static double test_cons_enumerate_uncaught(double p, uint32_t pool, uint32_t colluding,
                                           uint32_t n, uint32_t k)
{
    if (k == 0) {
        return 1.0;
    }
    double all_collude = test_cons_enumerate_share(pool, colluding, n, n);
    double rest = test_cons_enumerate_uncaught(p, pool, colluding, n, k - 1);
    return ((1.0 - p) + p * all_collude) * rest;
}

/* Cross-validation within k requests, with colluding checkers: the exact
 * form against every draw without replacement, and the independent form
 * against every ordered draw with replacement (r^n). */
START_TEST(test_cons_crossval_detection_enumerated)
{
    static const uint32_t pools[][3] = {{6, 3, 2}, {7, 2, 3}, {5, 5, 2}, {8, 0, 3}, {9, 4, 1}};
    for (size_t c = 0; c < UTIL_ARRAY_COUNT(pools); c++) {
        uint32_t pool = pools[c][0], colluding = pools[c][1], n = pools[c][2];
        for (uint32_t k = 0; k <= 5; k++) {
            double p = 0.3;
            double exact = 1.0 - test_cons_enumerate_uncaught(p, pool, colluding, n, k);
            ck_assert_double_eq_tol(cons_crossval_detection_exact(p, pool, colluding, n, k),
                                    exact, 1e-12);
            /* With replacement: every ordered n-tuple of the pool. */
            uint32_t tuples = 1, all = 0;
            for (uint32_t i = 0; i < n; i++) {
                tuples *= pool;
            }
            for (uint32_t t = 0; t < tuples; t++) {
                bool every = true;
                for (uint32_t i = 0, v = t; i < n; i++, v /= pool) {
                    every = every && v % pool < colluding;
                }
                all += every;
            }
            double r = (double)colluding / pool;
            double iid = 1.0 - pow(1.0 - p * (1.0 - (double)all / tuples), (double)k);
            ck_assert_double_eq_tol(cons_crossval_detection(p, r, n, k), iid, 1e-12);
        }
    }
    /* Colluding checkers lower it: the old 1 - (1 - p)^k is the r = 0 case. */
    ck_assert_double_lt(cons_crossval_detection_exact(0.25, 20, 8, 2, 5),
                        cons_crossval_detection(0.25, 0.0, 2, 5));
    ck_assert_double_eq_tol(cons_crossval_detection(0.25, 0.0, 2, 5), 1.0 - pow(0.75, 5), 1e-12);
}
END_TEST

/* The rational adversary's P(caught) against every committee, sample or
 * checker set the draw can give: candidates 0..N-1, node 0 the cheater,
 * nodes 1..c its cartel, the rest drawn uniformly from the N - 1 others.
 * The pool and colluders exclude the node itself; the old estimate
 * (independent draws, r counting the node) is off. */
START_TEST(test_cons_rational_detection_enumerated)
{
    static const uint32_t cases[][4] = {
        /* candidates, cartel including the node, members, quorum */
        {9, 4, 4, 3}, {12, 5, 5, 3}, {10, 1, 3, 2}, {11, 6, 5, 4}, {8, 3, 7, 4}, {13, 7, 4, 2},
    };
    for (size_t c = 0; c < UTIL_ARRAY_COUNT(cases); c++) {
        uint32_t candidates = cases[c][0], cartel = cases[c][1];
        uint32_t members = cases[c][2], quorum = cases[c][3];
        uint32_t pool = candidates - 1, colluding = cartel - 1;
        /* Committee: the lie stands when the node's cartel holds a quorum
         * of the committee, i.e. q - 1 of the k - 1 others. */
        cons_exposure e = {CONS_PROTOCOL_COMMITTEE, members, quorum, 0, pool, colluding, false};
        double stands = test_cons_enumerate_share(pool, colluding, members - 1, quorum - 1);
        ck_assert_double_eq_tol(cons_detection_probability(&e), 1.0 - stands, 1e-12);
        /* Sampling: all n - 1 others collude. */
        e.protocol = CONS_PROTOCOL_SAMPLING;
        stands = test_cons_enumerate_share(pool, colluding, members - 1, members - 1);
        ck_assert_double_eq_tol(cons_detection_probability(&e), 1.0 - stands, 1e-12);
        /* Cross-validation: checked (p) and not all n checkers collude. */
        e.protocol = CONS_PROTOCOL_CROSSVAL;
        e.check_probability = 0.4;
        stands = test_cons_enumerate_share(pool, colluding, members, members);
        ck_assert_double_eq_tol(cons_detection_probability(&e), 0.4 * (1.0 - stands), 1e-12);
        e.protocol = CONS_PROTOCOL_OPTIMISTIC;
        ck_assert_double_eq_tol(cons_detection_probability(&e), 1.0 - stands, 1e-12);
    }
    /* 9 candidates, a cartel of 4 with the node, committee 4, quorum 3:
     * exactly 1 - (C(3,2) C(5,1) + C(3,3)) / C(8,3) = 40 / 56, where
     * independent draws at r = 4/9 would say 1 - P(Bin(3, 4/9) >= 2). */
    cons_exposure e = {CONS_PROTOCOL_COMMITTEE, 4, 3, 0, 8, 3, false};
    ck_assert_double_eq_tol(cons_detection_probability(&e), 40.0 / 56.0, 1e-12);
    double r = 4.0 / 9.0;
    double binomial = 1.0 - (3.0 * r * r * (1.0 - r) + r * r * r);
    ck_assert_double_gt(fabs(cons_detection_probability(&e) - binomial), 0.05);
}
END_TEST

/* The break-even honest share: below it a member's reputation falls over
 * a long run, above it it rises (every ordering of the rounds gives the
 * same product away from the clamps). */
START_TEST(test_cons_reputation_break_even)
{
    cons_reputation_rule rule = cons_reputation_rule_default();
    double h = cons_reputation_break_even(&rule);
    ck_assert_double_eq_tol(h, log(1.25) / (log(1.01) + log(1.25)), 1e-15);
    ck_assert_double_eq_tol(h, 0.9573, 1e-4);
    /* 1000 rounds, clamps out of reach: brute-force the product. */
    cons_reputation_rule wide = rule;
    wide.min = 1e-200;
    wide.max = 1e200;
    const uint32_t rounds = 1000;
    uint32_t below = (uint32_t)floor(h * rounds), above = below + 1;
    double r_below = 1.0, r_above = 1.0;
    for (uint32_t i = 0; i < rounds; i++) {
        r_below = cons_reputation_update(&wide, r_below, i >= below);
        r_above = cons_reputation_update(&wide, r_above, i >= above);
    }
    ck_assert_double_lt(r_below, 1.0);
    ck_assert_double_gt(r_above, 1.0);
    cons_reputation_rule still = rule;
    still.penalty = 1.0;
    ck_assert_double_eq(cons_reputation_break_even(&still), 0.0);
    still.reward = 1.0;
    ck_assert_double_eq(cons_reputation_break_even(&still), 0.0);
    cons_reputation_rule only_down = rule;
    only_down.reward = 1.0;
    ck_assert_double_eq(cons_reputation_break_even(&only_down), 1.0);
}
END_TEST

/* ---- Commitments ---- */

START_TEST(test_cons_commit_verify_and_any_flip_fails)
{
    test_cons_setup();
    uint8_t output[48];
    for (size_t i = 0; i < sizeof(output); i++) {
        output[i] = (uint8_t)(3 * i);
    }
    uint8_t salt[CONS_SALT_BYTES];
    cons_salt_derive("node-secret", 11, 5, 2, 0, salt);
    uint8_t digest[CONS_DIGEST_BYTES];
    cons_commit(output, sizeof(output), salt, digest);
    ck_assert(cons_commit_verify(output, sizeof(output), salt, digest));
    ck_assert(!cons_commit_verify(output, sizeof(output) - 1, salt, digest));
    for (size_t i = 0; i < sizeof(output); i++) {
        for (int bit = 0; bit < 8; bit++) {
            output[i] ^= (uint8_t)(1u << bit);
            ck_assert(!cons_commit_verify(output, sizeof(output), salt, digest));
            output[i] ^= (uint8_t)(1u << bit);
        }
    }
    for (size_t i = 0; i < CONS_SALT_BYTES; i++) {
        salt[i] ^= 0x80;
        ck_assert(!cons_commit_verify(output, sizeof(output), salt, digest));
        salt[i] ^= 0x80;
    }
    for (size_t i = 0; i < CONS_DIGEST_BYTES; i++) {
        digest[i] ^= 0x01;
        ck_assert(!cons_commit_verify(output, sizeof(output), salt, digest));
        digest[i] ^= 0x01;
    }
    ck_assert(cons_commit_verify(output, sizeof(output), salt, digest));
    /* An empty output still commits (to the salt alone). */
    cons_commit(NULL, 0, salt, digest);
    ck_assert(cons_commit_verify(NULL, 0, salt, digest));
    ck_assert(!cons_commit_verify(output, 1, salt, digest));
}
END_TEST

START_TEST(test_cons_salt_derive_inputs_all_matter)
{
    test_cons_setup();
    uint8_t base[CONS_SALT_BYTES], again[CONS_SALT_BYTES], other[CONS_SALT_BYTES];
    cons_salt_derive("secret-a", 8, 100, 3, 1, base);
    cons_salt_derive("secret-a", 8, 100, 3, 1, again);
    ck_assert_mem_eq(base, again, CONS_SALT_BYTES);
    cons_salt_derive("secret-b", 8, 100, 3, 1, other);
    ck_assert_mem_ne(base, other, CONS_SALT_BYTES);
    cons_salt_derive("secret-a", 8, 101, 3, 1, other);
    ck_assert_mem_ne(base, other, CONS_SALT_BYTES);
    cons_salt_derive("secret-a", 8, 100, 4, 1, other);
    ck_assert_mem_ne(base, other, CONS_SALT_BYTES);
    cons_salt_derive("secret-a", 8, 100, 3, 2, other);
    ck_assert_mem_ne(base, other, CONS_SALT_BYTES);
}
END_TEST

/* ---- Agreement ---- */

START_TEST(test_cons_agree_exact_compares_bits)
{
    const cons_agreement rule = {.kind = CONS_AGREE_EXACT};
    float a[3] = {1.0f, -2.5f, 0.0f};
    float b[3] = {1.0f, -2.5f, 0.0f};
    ck_assert(cons_agree(&rule, a, b, 3));
    b[2] = -0.0f;   /* equal as floats, different bits */
    ck_assert(!cons_agree(&rule, a, b, 3));
    b[2] = 0.0f;
    b[0] = nextafterf(1.0f, 2.0f);
    ck_assert(!cons_agree(&rule, a, b, 3));
    /* NaN agrees with a bit-identical NaN, not with another payload. */
    uint32_t quiet = 0x7fc00000u;
    uint32_t payload = 0x7fc00001u;
    memcpy(&a[0], &quiet, 4);
    memcpy(&b[0], &quiet, 4);
    ck_assert(cons_agree(&rule, a, b, 3));
    memcpy(&b[0], &payload, 4);
    ck_assert(!cons_agree(&rule, a, b, 3));
    ck_assert(cons_agree(&rule, a, b, 0));
}
END_TEST

START_TEST(test_cons_agree_maxabs_boundary)
{
    cons_agreement rule = {.kind = CONS_AGREE_MAXABS, .epsilon = 0.5};
    float a[2] = {1.0f, 7.0f};
    float b[2] = {1.5f, 7.25f};
    ck_assert(cons_agree(&rule, a, b, 2));   /* |diff| == epsilon exactly */
    ck_assert(cons_agree(&rule, b, a, 2));
    rule.epsilon = nextafter(0.5, 0.0);
    ck_assert(!cons_agree(&rule, a, b, 2));
    rule.epsilon = 0.0;
    a[0] = 0.0f;
    b[0] = -0.0f;
    b[1] = 7.0f;
    ck_assert(cons_agree(&rule, a, b, 2));   /* -0.0 == 0.0 numerically */
    rule.epsilon = 1e30;
    b[1] = NAN;
    ck_assert(!cons_agree(&rule, a, b, 2));
    ck_assert(!cons_agree(&rule, b, b, 2));   /* NaN disagrees even with itself */
    b[1] = INFINITY;
    ck_assert(!cons_agree(&rule, a, b, 2));
    a[1] = INFINITY;
    ck_assert(!cons_agree(&rule, a, b, 2));   /* inf - inf is NaN */
}
END_TEST

START_TEST(test_cons_agree_cosine_boundary)
{
    cons_agreement rule = {.kind = CONS_AGREE_COSINE, .tau = 1.0 / sqrt(2.0)};
    float a[2] = {1.0f, 0.0f};
    float b[2] = {1.0f, 1.0f};
    ck_assert(cons_agree(&rule, a, b, 2));   /* cos == tau exactly */
    rule.tau = nextafter(1.0 / sqrt(2.0), 1.0);
    ck_assert(!cons_agree(&rule, a, b, 2));
    float c[2] = {3.0f, 4.0f};
    float d[2] = {6.0f, 8.0f};
    rule.tau = 1.0;
    ck_assert(cons_agree(&rule, c, d, 2));   /* parallel: cos is exactly 1 here */
    float e[2] = {-3.0f, -4.0f};
    ck_assert(!cons_agree(&rule, c, e, 2));
    rule.tau = -1.0;
    ck_assert(cons_agree(&rule, c, e, 2));
    float zero[2] = {0.0f, -0.0f};
    float zero_too[2] = {0.0f, 0.0f};
    ck_assert(cons_agree(&rule, zero, zero_too, 2));   /* both zero agree */
    ck_assert(!cons_agree(&rule, zero, c, 2));         /* one zero never does */
    ck_assert(!cons_agree(&rule, c, zero, 2));
    d[1] = NAN;
    ck_assert(!cons_agree(&rule, c, d, 2));
    d[1] = INFINITY;
    ck_assert(!cons_agree(&rule, c, d, 2));
}
END_TEST

START_TEST(test_cons_agree_topk_ties_and_sets)
{
    cons_agreement rule = {.kind = CONS_AGREE_TOPK, .top_k = 1};
    float a[4] = {1.0f, 3.0f, 3.0f, 0.0f};   /* tie: argmax is the lower index, 1 */
    float b[4] = {1.0f, 3.0f, 2.0f, 0.0f};
    float c[4] = {1.0f, 2.0f, 3.0f, 0.0f};
    ck_assert(cons_agree(&rule, a, b, 4));
    ck_assert(!cons_agree(&rule, a, c, 4));
    float zero_first[2] = {0.0f, -0.0f};     /* -0.0 and 0.0 tie: index 0 wins */
    float zero_second[2] = {-0.0f, 0.0f};
    ck_assert(cons_agree(&rule, zero_first, zero_second, 2));
    rule.top_k = 2;
    /* Top-2 sets {1, 2} in either order agree; {1, 2} vs {1, 0} do not. */
    ck_assert(cons_agree(&rule, a, c, 4));
    float d[4] = {2.5f, 3.0f, 2.0f, 0.0f};
    ck_assert(!cons_agree(&rule, a, d, 4));
    /* Three-way tie for the second place resolves to the lowest index. */
    float e[4] = {1.0f, 9.0f, 1.0f, 1.0f};
    float f[4] = {1.5f, 9.0f, 0.5f, 0.5f};
    ck_assert(cons_agree(&rule, e, f, 4));
    f[0] = 0.5f;
    f[3] = 1.5f;
    ck_assert(!cons_agree(&rule, e, f, 4));
    rule.top_k = 4;
    ck_assert(cons_agree(&rule, e, f, 4));   /* top_k >= n: all indices, always equal */
    f[2] = NAN;
    ck_assert(!cons_agree(&rule, e, f, 4));
}
END_TEST

/* A margin lets the top sets differ by near ties, in both directions, and
 * nothing more; without one the sets must be equal. */
START_TEST(test_cons_agree_topk_margin)
{
    cons_agreement rule = {.kind = CONS_AGREE_TOPK, .top_k = 1, .margin = 0.1};
    float a[4] = {1.0f, 3.0f, 2.95f, 0.0f};  /* argmax 1, index 2 within 0.05 */
    float b[4] = {1.0f, 2.96f, 3.0f, 0.0f};  /* argmax 2, index 1 within 0.04 */
    ck_assert(cons_agree(&rule, a, b, 4));
    ck_assert(cons_agree(&rule, b, a, 4));
    rule.margin = 0.0;
    ck_assert(!cons_agree(&rule, a, b, 4));
    rule.margin = 0.045;                      /* b's gap 0.04 fits, a's 0.05 does not */
    ck_assert(!cons_agree(&rule, a, b, 4));
    ck_assert(!cons_agree(&rule, b, a, 4));
    rule.margin = 0.1;
    float far[4] = {1.0f, 3.0f, 2.0f, 0.0f};  /* b's argmax 1.0 below a's best */
    ck_assert(!cons_agree(&rule, far, b, 4));
    /* top_k 2: {1, 2} against {1, 0}: index 0 is 1.95 below a's second. */
    rule.top_k = 2;
    float c[4] = {2.9f, 3.0f, 1.0f, 0.0f};
    ck_assert(!cons_agree(&rule, a, c, 4));
    c[2] = 2.85f;                             /* c's second 2.9, index 2 within 0.05 */
    a[0] = 2.9f;                              /* a's second 2.95, index 0 within 0.05 */
    ck_assert(cons_agree(&rule, a, c, 4));
    a[0] = NAN;
    ck_assert(!cons_agree(&rule, a, c, 4));
}
END_TEST

START_TEST(test_cons_agreement_check_rejects_bad_rules)
{
    cons_agreement rule = {.kind = CONS_AGREE_MAXABS, .epsilon = 1e-3};
    ck_assert_int_eq(cons_agreement_check(&rule), 0);
    rule.epsilon = -1e-3;
    ck_assert_int_eq(cons_agreement_check(&rule), CONS_EINVAL);
    rule.epsilon = NAN;
    ck_assert_int_eq(cons_agreement_check(&rule), CONS_EINVAL);
    rule.epsilon = INFINITY;
    ck_assert_int_eq(cons_agreement_check(&rule), CONS_EINVAL);
    rule = (cons_agreement){.kind = CONS_AGREE_COSINE, .tau = 1.5};
    ck_assert_int_eq(cons_agreement_check(&rule), CONS_EINVAL);
    rule.tau = NAN;
    ck_assert_int_eq(cons_agreement_check(&rule), CONS_EINVAL);
    rule.tau = 0.99;
    ck_assert_int_eq(cons_agreement_check(&rule), 0);
    rule = (cons_agreement){.kind = CONS_AGREE_TOPK, .top_k = 0};
    ck_assert_int_eq(cons_agreement_check(&rule), CONS_EINVAL);
    rule.top_k = CONS_TOPK_MAX + 1;
    ck_assert_int_eq(cons_agreement_check(&rule), CONS_EINVAL);
    rule.top_k = CONS_TOPK_MAX;
    ck_assert_int_eq(cons_agreement_check(&rule), 0);
    rule.margin = -0.1;
    ck_assert_int_eq(cons_agreement_check(&rule), CONS_EINVAL);
    rule.margin = INFINITY;
    ck_assert_int_eq(cons_agreement_check(&rule), CONS_EINVAL);
    rule.margin = NAN;
    ck_assert_int_eq(cons_agreement_check(&rule), CONS_EINVAL);
    rule.margin = 0.5;
    ck_assert_int_eq(cons_agreement_check(&rule), 0);
    rule.kind = (cons_agree_kind)17;
    ck_assert_int_eq(cons_agreement_check(&rule), CONS_EINVAL);
}
END_TEST

#define TEST_CONS_FLOATS 32
#define TEST_CONS_MEMBERS 7

/* Honest outputs: one base vector plus independent noise in [-1e-4, 1e-4]
 * per member, like kernels with different reduction orders. */
static void test_cons_honest_outputs(float outputs[][TEST_CONS_FLOATS], uint32_t count)
{
    util_prng prng;
    util_prng_init(&prng, TEST_CONS_SEED);
    for (uint32_t m = 0; m < count; m++) {
        for (size_t i = 0; i < TEST_CONS_FLOATS; i++) {
            double noise = (util_prng_uniform(&prng) * 2.0 - 1.0) * 1e-4;
            outputs[m][i] = (float)(sin((double)i) + noise);
        }
    }
}

START_TEST(test_cons_accept_maxabs_drift_excludes_forger)
{
    float outputs[TEST_CONS_MEMBERS][TEST_CONS_FLOATS];
    const float *views[TEST_CONS_MEMBERS];
    test_cons_honest_outputs(outputs, TEST_CONS_MEMBERS);
    outputs[2][5] += 0.5f;   /* member 2 forges one activation */
    for (size_t m = 0; m < TEST_CONS_MEMBERS; m++) {
        views[m] = outputs[m];
    }
    const cons_agreement rule = {.kind = CONS_AGREE_MAXABS, .epsilon = 1e-3};
    uint32_t accepted = 99;
    uint64_t mask = 0;
    ck_assert_int_eq(cons_accept(&rule, views, TEST_CONS_FLOATS, TEST_CONS_MEMBERS, 4,
                                 &accepted, &mask), 0);
    ck_assert_uint_eq(accepted, 0);
    ck_assert_uint_eq(mask, 0x7b);   /* everyone but member 2 */
    /* The forger is not even a viable representative: its support is 1. */
    ck_assert_int_eq(cons_accept(&rule, views, TEST_CONS_FLOATS, TEST_CONS_MEMBERS, 7,
                                 &accepted, &mask), CONS_ENOQUORUM);
    ck_assert_uint_eq(mask, 0x7b);
}
END_TEST

START_TEST(test_cons_accept_exact_drift_no_quorum)
{
    float outputs[TEST_CONS_MEMBERS][TEST_CONS_FLOATS];
    const float *views[TEST_CONS_MEMBERS];
    test_cons_honest_outputs(outputs, TEST_CONS_MEMBERS);
    for (size_t m = 0; m < TEST_CONS_MEMBERS; m++) {
        views[m] = outputs[m];
    }
    const cons_agreement rule = {.kind = CONS_AGREE_EXACT};
    uint32_t accepted = 99;
    uint64_t mask = 0;
    /* Honest drift leaves every output alone: support 1 each, no quorum of 2. */
    ck_assert_int_eq(cons_accept(&rule, views, TEST_CONS_FLOATS, TEST_CONS_MEMBERS, 2,
                                 &accepted, &mask), CONS_ENOQUORUM);
    ck_assert_uint_eq(accepted, 0);
    ck_assert_uint_eq(mask, 0x1);
    ck_assert_int_eq(cons_accept(&rule, views, TEST_CONS_FLOATS, TEST_CONS_MEMBERS, 1,
                                 &accepted, &mask), 0);
}
END_TEST

/* The safety violation EXACT invites: q colluding members that agree on one
 * wrong output outvote honest members whose outputs drift apart. The
 * accepted output being the cartel's is the expected (bad) result. */
START_TEST(test_cons_accept_exact_cartel_beats_scattered_honest)
{
    float outputs[TEST_CONS_MEMBERS][TEST_CONS_FLOATS];
    const float *views[TEST_CONS_MEMBERS];
    test_cons_honest_outputs(outputs, TEST_CONS_MEMBERS);
    for (size_t m = 3; m < TEST_CONS_MEMBERS; m++) {
        for (size_t i = 0; i < TEST_CONS_FLOATS; i++) {
            outputs[m][i] = 42.0f;   /* members 3..6: the same wrong output */
        }
    }
    for (size_t m = 0; m < TEST_CONS_MEMBERS; m++) {
        views[m] = outputs[m];
    }
    const cons_agreement exact = {.kind = CONS_AGREE_EXACT};
    uint32_t accepted = 99;
    uint64_t mask = 0;
    ck_assert_int_eq(cons_accept(&exact, views, TEST_CONS_FLOATS, TEST_CONS_MEMBERS, 4,
                                 &accepted, &mask), 0);
    ck_assert_uint_eq(accepted, 3);
    ck_assert_uint_eq(mask, 0x78);
    /* A tolerant rule still loses to the same cartel with only 3 honest
     * members: support 3 < 4 for the honest cluster. */
    const cons_agreement maxabs = {.kind = CONS_AGREE_MAXABS, .epsilon = 1e-3};
    ck_assert_int_eq(cons_accept(&maxabs, views, TEST_CONS_FLOATS, TEST_CONS_MEMBERS, 4,
                                 &accepted, &mask), 0);
    ck_assert_uint_eq(accepted, 3);
}
END_TEST

START_TEST(test_cons_accept_ties_and_non_transitivity)
{
    /* Two clusters of two under EXACT: equal support, the lower index wins. */
    float x = 1.0f;
    float y = 2.0f;
    const float *clusters[4] = {&y, &x, &y, &x};
    const cons_agreement exact = {.kind = CONS_AGREE_EXACT};
    uint32_t accepted = 99;
    uint64_t mask = 0;
    ck_assert_int_eq(cons_accept(&exact, clusters, 1, 4, 2, &accepted, &mask), 0);
    ck_assert_uint_eq(accepted, 0);
    ck_assert_uint_eq(mask, 0x5);
    ck_assert_int_eq(cons_accept(&exact, clusters, 1, 4, 3, &accepted, &mask), CONS_ENOQUORUM);
    /* MAXABS with epsilon 1 on 0, 1, 2: 0~1 and 1~2 but not 0~2. Only the
     * middle output gathers all three; 0 and 2 are in its mask although
     * they disagree with each other. */
    float values[3] = {0.0f, 1.0f, 2.0f};
    const float *chain[3] = {&values[0], &values[1], &values[2]};
    const cons_agreement maxabs = {.kind = CONS_AGREE_MAXABS, .epsilon = 1.0};
    ck_assert(!cons_agree(&maxabs, chain[0], chain[2], 1));
    ck_assert_int_eq(cons_accept(&maxabs, chain, 1, 3, 3, &accepted, &mask), 0);
    ck_assert_uint_eq(accepted, 1);
    ck_assert_uint_eq(mask, 0x7);
}
END_TEST

/* ---- Reputation ---- */

START_TEST(test_cons_reputation_default_rule)
{
    cons_reputation_rule rule = cons_reputation_rule_default();
    ck_assert(rule.penalty == 0.8);
    ck_assert(rule.reward == 1.01);
    ck_assert(rule.min == 0.1);
    ck_assert(rule.max == 10.0);
    ck_assert(rule.initial == 1.0);
    ck_assert_int_eq(cons_reputation_rule_check(&rule), 0);
    cons_reputation_rule bad = rule;
    bad.penalty = 1.01;
    ck_assert_int_eq(cons_reputation_rule_check(&bad), CONS_EINVAL);
    bad = rule;
    bad.penalty = 0.0;
    ck_assert_int_eq(cons_reputation_rule_check(&bad), CONS_EINVAL);
    /* A reputation that never moves is a rule (scenarios allow it). */
    cons_reputation_rule still = rule;
    still.penalty = 1.0;
    still.reward = 1.0;
    ck_assert_int_eq(cons_reputation_rule_check(&still), 0);
    ck_assert_double_eq(cons_reputation_update(&still, 1.5, true), 1.5);
    ck_assert_double_eq(cons_reputation_update(&still, 1.5, false), 1.5);
    ck_assert_uint_eq(cons_reputation_rounds_to_fall(&still, 1.5, 1.0), UINT32_MAX);
    ck_assert_uint_eq(cons_reputation_rounds_to_recover(&still, 1.5, 2.0), UINT32_MAX);
    bad = rule;
    bad.reward = 0.99;
    ck_assert_int_eq(cons_reputation_rule_check(&bad), CONS_EINVAL);
    bad = rule;
    bad.min = 2.0;   /* above initial */
    ck_assert_int_eq(cons_reputation_rule_check(&bad), CONS_EINVAL);
    bad = rule;
    bad.max = INFINITY;
    ck_assert_int_eq(cons_reputation_rule_check(&bad), CONS_EINVAL);
}
END_TEST

START_TEST(test_cons_reputation_deviations_are_powers_then_clamp)
{
    cons_reputation_rule rule = cons_reputation_rule_default();
    double r = rule.initial;
    for (int n = 1; n <= 30; n++) {
        r = cons_reputation_update(&rule, r, true);
        double expected = pow(0.8, n) < 0.1 ? 0.1 : pow(0.8, n);
        ck_assert_double_eq_tol(r, expected, 1e-12 * expected);
        /* 0.8^10 ~ 0.107, 0.8^11 ~ 0.086: the clamp starts at n = 11. */
        ck_assert_int_eq(r == 0.1, n >= 11);
    }
    /* Honest rounds from 1: 1.01^n. */
    r = rule.initial;
    for (int n = 1; n <= 50; n++) {
        r = cons_reputation_update(&rule, r, false);
        ck_assert_double_eq_tol(r, pow(1.01, n), 1e-12 * pow(1.01, n));
    }
}
END_TEST

START_TEST(test_cons_reputation_clamps_both_ends)
{
    cons_reputation_rule rule = cons_reputation_rule_default();
    ck_assert(cons_reputation_update(&rule, 9.95, false) == 10.0);
    ck_assert(cons_reputation_update(&rule, 10.0, false) == 10.0);
    ck_assert(cons_reputation_update(&rule, 10.0, true) == 8.0);
    ck_assert(cons_reputation_update(&rule, 0.1, true) == 0.1);
    ck_assert(cons_reputation_update(&rule, 0.11, true) == 0.1);
    ck_assert_double_eq_tol(cons_reputation_update(&rule, 0.1, false), 0.101, 1e-15);
    /* Out-of-range inputs are clamped before the step. */
    ck_assert(cons_reputation_update(&rule, 50.0, true) == 8.0);
    ck_assert_double_eq_tol(cons_reputation_update(&rule, 0.01, false), 0.101, 1e-15);
}
END_TEST

static uint32_t test_cons_iterate_until(const cons_reputation_rule *rule, double r,
                                        double threshold, bool deviated)
{
    uint32_t rounds = 0;
    while (deviated ? !(r < threshold) : !(r >= threshold)) {
        r = cons_reputation_update(rule, r, deviated);
        rounds++;
        ck_assert_uint_lt(rounds, 100000);
    }
    return rounds;
}

START_TEST(test_cons_reputation_rounds_match_iteration)
{
    cons_reputation_rule rule = cons_reputation_rule_default();
    const double starts[] = {0.1, 0.37, 1.0, 2.5, 9.99, 10.0};
    const double thresholds[] = {0.105, 0.2, 0.5, 0.93, 1.7, 3.0, 7.77, 9.999};
    for (size_t s = 0; s < UTIL_ARRAY_COUNT(starts); s++) {
        for (size_t t = 0; t < UTIL_ARRAY_COUNT(thresholds); t++) {
            double from = starts[s];
            double threshold = thresholds[t];
            ck_assert_uint_eq(cons_reputation_rounds_to_fall(&rule, from, threshold),
                              test_cons_iterate_until(&rule, from, threshold, true));
            ck_assert_uint_eq(cons_reputation_rounds_to_recover(&rule, from, threshold),
                              test_cons_iterate_until(&rule, from, threshold, false));
        }
    }
    /* Known values: 1 -> below 0.5 takes 4 deviations (0.8^3 = 0.512);
     * one deviation from 1 takes 23 honest rounds to repair (1.01^22 < 1.25). */
    ck_assert_uint_eq(cons_reputation_rounds_to_fall(&rule, 1.0, 0.5), 4);
    ck_assert_uint_eq(cons_reputation_rounds_to_recover(&rule, 0.8, 1.0), 23);
    /* The floor: 0.8^10 = 0.107 > 0.1 >= 0.8^11, so 11 deviations take 1
     * to min = 0.1; a threshold under the floor asks for the floor too. */
    ck_assert_uint_eq(cons_reputation_rounds_to_fall(&rule, 1.0, 0.1), 11);
    ck_assert_uint_eq(cons_reputation_rounds_to_fall(&rule, 1.0, 0.05), 11);
    ck_assert_uint_eq(cons_reputation_rounds_to_fall(&rule, 0.1, 0.1), 0);
    for (size_t s = 0; s < UTIL_ARRAY_COUNT(starts); s++) {
        double r = starts[s];
        uint32_t rounds = 0;
        while (r > rule.min) {
            r = cons_reputation_update(&rule, r, true);
            rounds++;
        }
        ck_assert_uint_eq(cons_reputation_rounds_to_fall(&rule, starts[s], rule.min), rounds);
    }
    ck_assert_uint_eq(cons_reputation_rounds_to_recover(&rule, 1.0, 10.5), UINT32_MAX);
    ck_assert_uint_eq(cons_reputation_rounds_to_fall(&rule, 0.3, 0.5), 0);
    ck_assert_uint_eq(cons_reputation_rounds_to_recover(&rule, 3.0, 2.0), 0);
}
END_TEST

/* ---- Analytics ---- */

START_TEST(test_cons_capture_probability_exact_values)
{
    /* N = 4 with 2 malicious, k = 2: P(X = 2) = 1/6, P(X >= 1) = 5/6. */
    ck_assert_double_eq_tol(cons_capture_probability(4, 2, 2, 2), 1.0 / 6.0, 1e-12);
    ck_assert_double_eq_tol(cons_capture_probability(4, 2, 2, 1), 5.0 / 6.0, 1e-12);
    ck_assert(cons_capture_probability(4, 2, 2, 0) == 1.0);
    ck_assert(cons_capture_probability(4, 2, 2, 3) == 0.0);
    ck_assert(cons_capture_probability(10, 0, 3, 1) == 0.0);
    ck_assert_double_eq_tol(cons_capture_probability(10, 10, 3, 3), 1.0, 1e-12);
    /* All drawn: X = malicious exactly. */
    ck_assert_double_eq_tol(cons_capture_probability(10, 6, 10, 6), 1.0, 1e-12);
    ck_assert(cons_capture_probability(10, 6, 10, 7) == 0.0);
    /* N = 100, K = 30, k = 7, q = 4: sum of C(30,x) C(70,7-x) / C(100,7), x = 4..7. */
    double exact = (27405.0 * 54740.0 + 142506.0 * 2415.0 + 593775.0 * 70.0 + 2035800.0) /
                   16007560800.0;
    ck_assert_double_eq_tol(cons_capture_probability(100, 30, 7, 4), exact, 1e-12);
    /* Binomial: k = 3, p = 1/2, at least 2 of 3 is 1/2. */
    ck_assert_double_eq_tol(cons_capture_probability_binomial(10, 5, 3, 2), 0.5, 1e-12);
    ck_assert(cons_capture_probability_binomial(10, 0, 3, 1) == 0.0);
    ck_assert_double_eq_tol(cons_capture_probability_binomial(10, 10, 3, 3), 1.0, 1e-12);
    /* Large populations: hypergeometric tends to binomial. */
    double hyper = cons_capture_probability(1000000, 300000, 7, 4);
    double binomial = cons_capture_probability_binomial(1000000, 300000, 7, 4);
    ck_assert_double_eq_tol(hyper, binomial, 1e-4);
    ck_assert(cons_capture_probability(100, 30, 7, 4) < binomial);
}
END_TEST

/* ---- protocols: the table, decisions and invariants ---- */

static const cons_params test_cons_params = {
    .committee = 3, .verifiers = 2, .quorum = 2, .commit_reveal = true,
    .check_probability = 0.5, .proof_bytes = 8, .dispute_ns = 1000,
    .bisection_round_ns = 10, .zk_verify_ns = 7,
};

static int test_cons_accept(void *context, bool last_segment, const float *const *outputs,
                            size_t n_floats, uint32_t count, uint32_t *accepted_out,
                            uint64_t *agree_mask_out)
{
    (void)context;
    (void)last_segment;
    cons_agreement rule = {.kind = CONS_AGREE_EXACT, .top_k = 1};
    return cons_accept(&rule, outputs, n_floats, count, 2, accepted_out, agree_mask_out);
}

static bool test_cons_agree(void *context, bool last_segment, const float *a, const float *b,
                            size_t n_floats)
{
    (void)context;
    (void)last_segment;
    return memcmp(a, b, n_floats * sizeof(float)) == 0;
}

/* A consistent tally of 3 members that all committed and revealed. */
static cons_tally test_cons_tally(const float *const *outputs)
{
    cons_tally tally = {
        .params = &test_cons_params, .member_count = 3, .phase = CONS_PHASE_REVEAL,
        .committed = 7, .revealed = 7, .answered = 7, .asked = 7,
        .segment_count = 4, .segment_layers = 8, .outputs = outputs, .n_floats = 2,
        .agree = test_cons_agree, .accept = test_cons_accept,
    };
    return tally;
}

START_TEST(test_cons_protocol_table_names_round_trip)
{
    ck_assert_uint_ge(cons_protocol_count(), CONS_PROTOCOL_BUILTIN);
    ck_assert_ptr_null(cons_protocol_get(CONS_PROTOCOL_NONE));
    ck_assert_str_eq(cons_protocol_name(CONS_PROTOCOL_NONE), "none");
    for (uint32_t i = 0; i < CONS_PROTOCOL_BUILTIN; i++) {
        cons_protocol found = CONS_PROTOCOL_NONE;
        ck_assert_int_eq(cons_protocol_find(cons_protocol_name((cons_protocol)i), &found), 0);
        ck_assert_uint_eq(found, i);
        if (i != CONS_PROTOCOL_NONE) {
            const cons_protocol_ops *ops = cons_protocol_get((cons_protocol)i);
            ck_assert_ptr_nonnull(ops->doc);
            ck_assert_uint_ge(ops->members_max(&test_cons_params), 1);
        }
    }
    cons_protocol found = CONS_PROTOCOL_NONE;
    ck_assert_int_eq(cons_protocol_find("Committee", &found), CONS_EINVAL);
    ck_assert_int_eq(cons_protocol_find(NULL, &found), CONS_EINVAL);
    ck_assert_uint_eq(cons_protocol_get(CONS_PROTOCOL_SAMPLING)->vote_bytes, CONS_VOTE_MAX);
    ck_assert_uint_eq(cons_protocol_get(CONS_PROTOCOL_CROSSVAL)->members_max(&test_cons_params),
                      3);
    ck_assert_uint_eq(
        cons_protocol_get(CONS_PROTOCOL_TEE)->evidence_bytes(&test_cons_params),
        CONS_ATTEST_BYTES);
    ck_assert_uint_eq(cons_protocol_get(CONS_PROTOCOL_ZK)->evidence_bytes(&test_cons_params), 8);
}
END_TEST

/* The member commitment is H(output | salt | member as 4 LE bytes). */
START_TEST(test_cons_commit_member_bytes)
{
    test_cons_setup();
    const uint8_t output[5] = {1, 2, 3, 4, 5};
    uint8_t salt[CONS_SALT_BYTES];
    memset(salt, 0xab, sizeof(salt));
    uint8_t joined[5 + CONS_SALT_BYTES + 4];
    memcpy(joined, output, 5);
    memcpy(joined + 5, salt, CONS_SALT_BYTES);
    const uint8_t id[4] = {0x04, 0x03, 0x02, 0x01};
    memcpy(joined + 5 + CONS_SALT_BYTES, id, 4);
    uint8_t expected[CONS_DIGEST_BYTES];
    uint8_t digest[CONS_DIGEST_BYTES];
    util_hash256(joined, sizeof(joined), expected);
    cons_commit_member(output, 5, salt, 0x01020304u, digest);
    ck_assert_mem_eq(digest, expected, CONS_DIGEST_BYTES);
    cons_commit_member(output, 5, salt, 0x01020305u, digest);
    ck_assert_int_ne(memcmp(digest, expected, CONS_DIGEST_BYTES), 0);
}
END_TEST

/* Sampling's votes: one output opens every member's [root, leaf]; a
 * tampered output opens none; a committee vote opens only its own. */
START_TEST(test_cons_protocol_votes_open)
{
    test_cons_setup();
    const cons_protocol_ops *sampling = cons_protocol_get(CONS_PROTOCOL_SAMPLING);
    const cons_protocol_ops *committee = cons_protocol_get(CONS_PROTOCOL_COMMITTEE);
    uint8_t output[16] = {9, 8, 7};
    uint8_t salt[CONS_SALT_BYTES] = {1};
    uint8_t votes[3 * CONS_VOTE_MAX];
    for (uint32_t j = 0; j < 3; j++) {
        cons_vote_input in = {output, sizeof(output), salt, 100 + j, j, 3};
        sampling->vote(&in, votes + j * CONS_VOTE_MAX);
    }
    cons_opening opening = {output, sizeof(output), salt, 101, 1, 3, 7, votes, true};
    ck_assert_uint_eq(sampling->open(&opening), 7);
    opening.committed = 5;
    ck_assert_uint_eq(sampling->open(&opening), 5);
    output[0] ^= 1u;
    ck_assert_uint_eq(sampling->open(&opening), 0);
    output[0] ^= 1u;
    cons_vote_input in = {output, sizeof(output), salt, 101, 1, 3};
    committee->vote(&in, votes + CONS_VOTE_MAX);
    opening.committed = 7;
    ck_assert_uint_eq(committee->open(&opening), 2);
    opening.member_id = 102; /* Another member's commitment does not open. */
    ck_assert_uint_eq(committee->open(&opening), 0);
    opening.commit_reveal = false;
    ck_assert_uint_eq(committee->open(&opening), 2);
}
END_TEST

START_TEST(test_cons_protocol_decide_committee)
{
    const float a[2] = {1, 2};
    const float b[2] = {3, 4};
    const float *outputs[3] = {b, a, a};
    const cons_protocol_ops *ops = cons_protocol_get(CONS_PROTOCOL_COMMITTEE);
    cons_tally tally = test_cons_tally(outputs);
    cons_decision d;
    ops->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_SETTLE);
    ck_assert_uint_eq(d.member, 1);
    ck_assert_uint_eq(d.judged, 7);
    ck_assert_uint_eq(d.agreed, 6);
    ck_assert_uint_eq(d.proven, 1);
    ck_assert_int_eq(cons_decision_verdict(&d, tally.answered, 0), CONS_VERDICT_PROVEN);
    ck_assert_int_eq(cons_decision_verdict(&d, tally.answered, 2), CONS_VERDICT_AGREED);
    /* An equivocator's output does not count: no quorum, a fresh round
     * that judges the members without a valid output. */
    tally.equivocated = 4;
    ops->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_ROUND);
    ck_assert_uint_eq(d.judged, 4);
    ck_assert_uint_eq(d.proven, 4);
    ck_assert_uint_eq(d.revealed, 3);
    tally.equivocated = 0;
    tally.revealed = 1;
    tally.answered = 1;
    ops->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_ROUND);
    ck_assert_int_eq(cons_decision_verdict(&d, tally.answered, 2), CONS_VERDICT_TIMEOUT);
}
END_TEST

START_TEST(test_cons_protocol_decide_sampling_stages)
{
    const float a[2] = {1, 2};
    const float *outputs[3] = {a, a, a};
    const cons_protocol_ops *ops = cons_protocol_get(CONS_PROTOCOL_SAMPLING);
    cons_tally tally = test_cons_tally(outputs);
    tally.revealed = tally.answered = tally.asked = 1;
    tally.vote_agree = 7;
    cons_decision d;
    ops->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_SETTLE);
    ck_assert_uint_eq(d.agreed, 7);
    tally.vote_agree = 3; /* Member 2's vote does not match: everyone reveals. */
    ops->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_REVEAL);
    ck_assert_uint_eq(d.ask, 6);
    ck_assert_uint_eq(d.dispute, CONS_DISPUTE_REVEALS);
    tally.dispute = CONS_DISPUTE_REVEALS;
    ops->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_DISPUTE);
    ck_assert_uint_eq(d.delay_ns, test_cons_params.dispute_ns);
    tally.dispute = CONS_DISPUTE_REFEREE;
    tally.referee_agree = 1;
    ops->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_SETTLE);
    ck_assert_uint_eq(d.proven, 0); /* Only member 0 answered. */
    tally.dispute = CONS_DISPUTE_NONE;
    tally.committed = 5; /* Member 1 never committed: replaced. */
    ops->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_ROUND);
    ck_assert_uint_eq(d.judged, 2);
    /* The first ask goes to one member; in a dispute to all that remain. */
    tally.committed = 7;
    tally.answered = 0;
    ck_assert_uint_eq(ops->reveal_ask(&tally), 1);
    tally.dispute = CONS_DISPUTE_REVEALS;
    ck_assert_uint_eq(ops->reveal_ask(&tally), 7);
}
END_TEST

/* crossval's check_answers: a checked hop whose checkers answered fewer
 * times is a fresh round with the silent checkers judged (timed out), the
 * executor neither paid nor penalised; enough answers settle; 0 settles on
 * the executor alone, and an unchecked hop (the executor alone) settles. */
START_TEST(test_cons_crossval_check_answers)
{
    const float a[2] = {1, 2};
    const float *outputs[3] = {a, a, a};
    cons_params params = test_cons_params;
    params.check_answers = 1;
    cons_tally tally = test_cons_tally(outputs);
    tally.params = &params;
    tally.revealed = tally.answered = 1; /* the executor alone answered */
    const cons_protocol_ops *crossval = cons_protocol_get(CONS_PROTOCOL_CROSSVAL);
    cons_decision d;
    crossval->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_ROUND);
    ck_assert_uint_eq(d.judged, 6);
    ck_assert_uint_eq(d.agreed, 0);
    ck_assert_uint_eq(d.proven, 0);
    ck_assert_ptr_null(crossval->check_invariants(&tally));
    tally.revealed = tally.answered = 5; /* one checker answered and agrees */
    crossval->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_SETTLE);
    ck_assert_uint_eq(d.member, 0);
    params.check_answers = 2;
    crossval->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_ROUND);
    ck_assert_uint_eq(d.judged, 2);
    tally.equivocated = 4; /* an equivocator's answer does not count */
    params.check_answers = 1;
    crossval->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_ROUND);
    tally.equivocated = 0;
    params.check_answers = 0;
    tally.revealed = tally.answered = 1;
    crossval->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_SETTLE);
    params.check_answers = 3; /* two checkers drawn (a small pool): both answered */
    tally.revealed = tally.answered = 7;
    crossval->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_SETTLE);
    tally.member_count = 1; /* the spot check did not fire */
    tally.committed = tally.asked = tally.revealed = tally.answered = 1;
    crossval->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_SETTLE);
}
END_TEST

/* Optimistic's bisection: ceil(log2 4) + ceil(log2 8) = 5 rounds; zk holds
 * for its proof check; a disagreeing checker is a dispute. */
START_TEST(test_cons_protocol_decide_executors)
{
    const float a[2] = {1, 2};
    const float b[2] = {3, 4};
    const float *outputs[3] = {a, a, b};
    cons_tally tally = test_cons_tally(outputs);
    tally.params = &test_cons_params;
    cons_decision d;
    cons_protocol_get(CONS_PROTOCOL_OPTIMISTIC)->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_DISPUTE);
    ck_assert_uint_eq(d.delay_ns, 5 * test_cons_params.bisection_round_ns);
    cons_protocol_get(CONS_PROTOCOL_CROSSVAL)->decide(&tally, &d);
    ck_assert_uint_eq(d.delay_ns, test_cons_params.dispute_ns);
    outputs[2] = a;
    cons_protocol_get(CONS_PROTOCOL_CROSSVAL)->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_SETTLE);
    ck_assert_uint_eq(d.member, 0);
    uint64_t hold_ns = 0;
    ck_assert(cons_protocol_get(CONS_PROTOCOL_ZK)->settle_hold(&test_cons_params, &hold_ns));
    ck_assert_uint_eq(hold_ns, test_cons_params.zk_verify_ns);
    ck_assert(!cons_protocol_get(CONS_PROTOCOL_TEE)->settle_hold(&test_cons_params, &hold_ns));
    tally.member_count = 1;
    tally.committed = tally.asked = 1;
    tally.revealed = 0;
    tally.answered = 1;
    cons_protocol_get(CONS_PROTOCOL_TEE)->decide(&tally, &d);
    ck_assert_int_eq(d.action, CONS_ACTION_ROUND);
    ck_assert_int_eq(cons_decision_verdict(&d, tally.answered, 0), CONS_VERDICT_PROVEN);
}
END_TEST

/* Flipping one bit of a consistent tally breaks exactly the invariant
 * that names it, under every built-in protocol. */
START_TEST(test_cons_protocol_invariants_flip_one_bit)
{
    const float a[2] = {1, 2};
    const float *outputs[3] = {a, a, a};
    static const struct {
        uint32_t field;
        uint64_t bit;
        const char *name;
    } flips[] = {
        {0, 8, "committed_within_committee"},   {1, 8, "revealed_within_committee"},
        {2, 8, "answered_within_committee"},    {3, 8, "equivocated_within_committee"},
        {4, 8, "asked_within_committee"},       {5, 8, "vote_agree_within_committee"},
    };
    for (uint32_t p = CONS_PROTOCOL_COMMITTEE; p < CONS_PROTOCOL_BUILTIN; p++) {
        const cons_protocol_ops *ops = cons_protocol_get((cons_protocol)p);
        cons_tally base = test_cons_tally(outputs);
        base.vote_agree = 1;
        base.asked = p == CONS_PROTOCOL_SAMPLING ? 1 : 7;
        if (p == CONS_PROTOCOL_TEE || p == CONS_PROTOCOL_ZK) {
            base.member_count = 1;
            base.committed = base.revealed = base.answered = base.asked = 1;
        }
        ck_assert_msg(ops->check_invariants(&base) == NULL, "%s: %s", ops->name,
                      ops->check_invariants(&base));
        for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
            cons_tally t = base;
            uint64_t *masks[] = {&t.committed, &t.revealed, &t.answered,
                                 &t.equivocated, &t.asked, &t.vote_agree};
            *masks[flips[i].field] |= flips[i].bit;
            ck_assert_str_eq(ops->check_invariants(&t), flips[i].name);
        }
        cons_tally t = base;
        t.answered &= ~UINT64_C(1); /* Revealed, never answered. */
        ck_assert_str_eq(ops->check_invariants(&t), "revealed_implies_answered");
        t = base;
        t.committed &= ~UINT64_C(1);
        t.equivocated = 1;
        ck_assert_str_eq(ops->check_invariants(&t), "equivocated_implies_committed");
        t = base;
        t.phase = 9;
        ck_assert_str_eq(ops->check_invariants(&t), "phase_known");
        t = base;
        t.member_count = 0;
        ck_assert_str_eq(ops->check_invariants(&t), "member_count_in_range");
    }
    cons_tally t = test_cons_tally(outputs);
    t.dispute = CONS_DISPUTE_REFEREE;
    ck_assert_str_eq(cons_protocol_get(CONS_PROTOCOL_SAMPLING)->check_invariants(&t),
                     "referee_holds");
    ck_assert_str_eq(cons_protocol_get(CONS_PROTOCOL_COMMITTEE)->check_invariants(&t),
                     "referee_holds");
    t.phase = CONS_PHASE_HOLD;
    ck_assert_str_eq(cons_protocol_get(CONS_PROTOCOL_COMMITTEE)->check_invariants(&t),
                     "committee_no_dispute");
    t = test_cons_tally(outputs);
    t.asked = 3; /* Two asked before any dispute. */
    ck_assert_str_eq(cons_protocol_get(CONS_PROTOCOL_SAMPLING)->check_invariants(&t),
                     "one_asked_first");
    t = test_cons_tally(outputs);
    ck_assert_str_eq(cons_protocol_get(CONS_PROTOCOL_TEE)->check_invariants(&t),
                     "single_one_executor");
    t.committed = 3;
    ck_assert_str_eq(cons_protocol_get(CONS_PROTOCOL_COMMITTEE)->check_invariants(&t),
                     "asked_implies_committed");
}
END_TEST

/* What the driver reads from each table beyond the rules: eligibility,
 * a uniform draw, the referee, the cheater's exposure and the costs. */
START_TEST(test_cons_protocol_driver_fields)
{
    cons_params params = test_cons_params;
    params.echelon = 1;
    params.tee_overhead = 0.07;
    params.zk_prover_factor = 1000.0;
    const cons_server_class plain0 = {0, false}, plain1 = {1, false}, enclave = {2, true};
    const cons_protocol_ops *committee = cons_protocol_get(CONS_PROTOCOL_COMMITTEE);
    ck_assert(!committee->uniform_draw && !committee->referee && !committee->referee_bisects);
    ck_assert(committee->eligible == NULL && committee->exposure_members == NULL);
    ck_assert(committee->prover_factor == NULL && committee->time_overhead == NULL);
    const cons_protocol_ops *sampling = cons_protocol_get(CONS_PROTOCOL_SAMPLING);
    ck_assert(sampling->uniform_draw && sampling->referee && !sampling->referee_bisects);
    ck_assert(sampling->eligible(&params, &plain1) && !sampling->eligible(&params, &plain0));
    params.echelon = -1;
    ck_assert(sampling->eligible(&params, &plain0) && sampling->eligible(&params, &enclave));
    const cons_protocol ids[] = {CONS_PROTOCOL_CROSSVAL, CONS_PROTOCOL_OPTIMISTIC};
    for (size_t i = 0; i < 2; i++) {
        const cons_protocol_ops *ops = cons_protocol_get(ids[i]);
        ck_assert(ops->referee && !ops->uniform_draw && ops->eligible == NULL);
        ck_assert_uint_eq(ops->exposure_members(&params), params.verifiers);
        ck_assert(ops->referee_bisects == (ids[i] == CONS_PROTOCOL_OPTIMISTIC));
    }
    const cons_protocol_ops *tee = cons_protocol_get(CONS_PROTOCOL_TEE);
    ck_assert(tee->eligible(&params, &enclave) && !tee->eligible(&params, &plain0));
    ck_assert_double_eq(tee->time_overhead(&params), 0.07);
    ck_assert(tee->prover_factor == NULL && !tee->referee);
    const cons_protocol_ops *zk = cons_protocol_get(CONS_PROTOCOL_ZK);
    ck_assert_double_eq(zk->prover_factor(&params), 1000.0);
    ck_assert(zk->time_overhead == NULL && zk->eligible == NULL && !zk->referee);
}
END_TEST

static void test_cons_toy_decide(const cons_tally *tally, cons_decision *out)
{
    *out = (cons_decision){.action = CONS_ACTION_ROUND, .judged = tally->answered};
}

static const char *test_cons_toy_check(const cons_tally *tally)
{
    (void)tally;
    return NULL;
}

/* A protocol added at run time: found by name; a name taken twice or an
 * operation missing is refused. */
START_TEST(test_cons_protocol_register)
{
    cons_protocol_ops toy = *cons_protocol_get(CONS_PROTOCOL_COMMITTEE);
    toy.name = "toy";
    toy.decide = test_cons_toy_decide;
    toy.check_invariants = test_cons_toy_check;
    uint32_t before = cons_protocol_count();
    int id = cons_protocol_register(&toy);
    ck_assert_int_eq(id, (int)before);
    ck_assert_uint_eq(cons_protocol_count(), before + 1);
    cons_protocol found = CONS_PROTOCOL_NONE;
    ck_assert_int_eq(cons_protocol_find("toy", &found), 0);
    ck_assert_int_eq((int)found, id);
    ck_assert_ptr_eq(cons_protocol_get(found), &toy);
    ck_assert_int_eq(cons_protocol_register(&toy), CONS_EINVAL);
    cons_protocol_ops broken = toy;
    broken.name = "broken";
    broken.decide = NULL;
    ck_assert_int_eq(cons_protocol_register(&broken), CONS_EINVAL);
}
END_TEST

/* ---- the settlement ledger ---- */

#define TEST_CONS_LEDGER_NODES 50

static const cons_ledger_terms test_cons_terms = {
    .reputation = {0.8, 1.01, 0.1, 10.0, 1.0},
    .slash = 0.5,
    .timeout_slash = 0.1,
    .fee_per_token = 0.01,
    .to_honest = 0.5,
    .to_oracle = 0.2,
    .to_burn = 0.3,
};

typedef struct test_cons_books {
    cons_ledger ledger;
    double reputation[TEST_CONS_LEDGER_NODES];
    double stake[TEST_CONS_LEDGER_NODES];
    double balance[TEST_CONS_LEDGER_NODES];
} test_cons_books;

static void test_cons_books_init(test_cons_books *books, uint32_t nodes)
{
    cons_ledger_init(&books->ledger, &test_cons_terms, nodes, books->reputation, books->stake,
                     books->balance, 10.0);
    ck_assert_ptr_null(cons_ledger_check(&books->ledger));
}

/* Two members agree, one is proven wrong, one times out: the fees, the
 * slashes and the pot's shares in closed form. */
START_TEST(test_cons_ledger_settles_closed_form)
{
    test_cons_books books;
    test_cons_books_init(&books, 5);
    cons_ledger *ledger = &books.ledger;
    ck_assert_double_eq_tol(ledger->initial_total, 50.0, 1e-12);
    cons_ledger_judge(ledger, 0, CONS_VERDICT_AGREED);
    cons_ledger_judge(ledger, 1, CONS_VERDICT_AGREED);
    cons_ledger_judge(ledger, 2, CONS_VERDICT_PROVEN);
    cons_ledger_judge(ledger, 3, CONS_VERDICT_TIMEOUT);
    cons_ledger_judge(ledger, 4, CONS_VERDICT_DEVIATED);
    ck_assert_double_eq_tol(ledger->pot, 5.0 + 1.0, 1e-12);
    ck_assert_uint_eq(ledger->agreed_count, 2);
    ck_assert_ptr_null(cons_ledger_check(ledger));
    cons_ledger_settle(ledger, 3);
    const double stake[] = {10.0, 10.0, 5.0, 9.0, 10.0};
    const double balance[] = {10.0 + 0.03 + 1.5, 10.0 + 0.03 + 1.5, 5.0, 9.0, 10.0};
    const double reputation[] = {1.01, 1.01, 0.8, 0.8, 0.8};
    for (uint32_t i = 0; i < 5; i++) {
        ck_assert_double_eq_tol(books.stake[i], stake[i], 1e-12);
        ck_assert_double_eq_tol(books.balance[i], balance[i], 1e-12);
        ck_assert_double_eq_tol(books.reputation[i], reputation[i], 1e-12);
    }
    ck_assert_double_eq_tol(ledger->fees_paid, 0.06, 1e-12);
    ck_assert_double_eq_tol(ledger->stake_slashed, 6.0, 1e-12);
    ck_assert_double_eq_tol(ledger->slashed_to_oracle, 1.2, 1e-12);
    ck_assert_double_eq_tol(ledger->slashed_burnt, 1.8, 1e-12);
    ck_assert_double_eq(ledger->pot, 0.0);
    ck_assert_uint_eq(ledger->agreed_count, 0);
    ck_assert_ptr_null(cons_ledger_check(ledger));
}
END_TEST

/* Nobody agreed: no fee, and the honest share is burnt with the burn's. A
 * fresh round's pot waits for the next settlement. */
START_TEST(test_cons_ledger_burns_when_none_agree)
{
    test_cons_books books;
    test_cons_books_init(&books, 3);
    cons_ledger *ledger = &books.ledger;
    cons_ledger_judge(ledger, 0, CONS_VERDICT_PROVEN);
    cons_ledger_judge(ledger, 1, CONS_VERDICT_TIMEOUT);
    ck_assert_ptr_null(cons_ledger_check(ledger)); /* The pot counts while it waits. */
    cons_ledger_settle(ledger, 7);
    ck_assert_double_eq(ledger->fees_paid, 0.0);
    ck_assert_double_eq_tol(ledger->slashed_to_oracle, 6.0 * 0.2, 1e-12);
    ck_assert_double_eq_tol(ledger->slashed_burnt, 6.0 * 0.8, 1e-12);
    ck_assert_double_eq(books.balance[2], 10.0);
    ck_assert_ptr_null(cons_ledger_check(ledger));
    /* A slash on an already slashed stake takes the share of what is left. */
    cons_ledger_judge(ledger, 0, CONS_VERDICT_PROVEN);
    cons_ledger_judge(ledger, 2, CONS_VERDICT_AGREED);
    cons_ledger_settle(ledger, 1);
    ck_assert_double_eq_tol(books.stake[0], 2.5, 1e-12);
    ck_assert_double_eq_tol(books.balance[2], 10.0 + 0.01 + 2.5 * 0.5, 1e-12);
    ck_assert_ptr_null(cons_ledger_check(ledger));
}
END_TEST

/* A random run of judgements and settlements over the ledger. */
static void test_cons_ledger_random(test_cons_books *books, uint32_t steps)
{
    util_prng prng;
    util_prng_init(&prng, TEST_CONS_SEED);
    test_cons_books_init(books, TEST_CONS_LEDGER_NODES);
    for (uint32_t step = 0; step < steps; step++) {
        uint32_t member = (uint32_t)util_prng_below(&prng, TEST_CONS_LEDGER_NODES);
        cons_verdict verdict = (cons_verdict)util_prng_below(&prng, 4);
        cons_ledger_judge(&books->ledger, member, verdict);
        if (util_prng_chance(&prng, 0.2)) {
            cons_ledger_settle(&books->ledger, (uint32_t)util_prng_below(&prng, 64));
            ck_assert_msg(cons_ledger_check(&books->ledger) == NULL, "step %u: %s", step,
                          cons_ledger_check(&books->ledger));
        }
    }
}

/* Conservation holds after every settlement of a long random run, and
 * with a pot still waiting at the end. */
START_TEST(test_cons_ledger_conserves_random_run)
{
    test_cons_books books;
    test_cons_ledger_random(&books, 20000);
    ck_assert_ptr_null(cons_ledger_check(&books.ledger));
    ck_assert(books.ledger.fees_paid > 0.0 && books.ledger.stake_slashed > 0.0);
}
END_TEST

/* One flipped bit of a balance, or one field changed behind the ledger's
 * back, names the invariant it breaks. */
START_TEST(test_cons_ledger_check_catches_corruption)
{
    test_cons_books books;
    test_cons_ledger_random(&books, 2000);
    for (int bit = 32; bit < 64; bit++) {
        test_cons_books t = books;
        t.ledger.balance = t.balance;
        uint64_t bits = 0;
        memcpy(&bits, &t.balance[7], sizeof(bits));
        bits ^= UINT64_C(1) << bit;
        memcpy(&t.balance[7], &bits, sizeof(bits));
        ck_assert_msg(cons_ledger_check(&t.ledger) != NULL, "bit %d", bit);
        ck_assert_str_eq(cons_ledger_check(&t.ledger), "balance_conserved");
    }
    test_cons_books t = books;
    t.ledger.reputation = t.reputation;
    t.ledger.stake = t.stake;
    t.ledger.balance = t.balance;
    t.balance[3] += 0.5;
    ck_assert_str_eq(cons_ledger_check(&t.ledger), "balance_conserved");
    t = books;
    t.ledger.stake = t.stake;
    t.stake[3] = -1e-3;
    ck_assert_str_eq(cons_ledger_check(&t.ledger), "stake_non_negative");
    t = books;
    t.ledger.reputation = t.reputation;
    t.reputation[3] = 10.5;
    ck_assert_str_eq(cons_ledger_check(&t.ledger), "reputation_in_clamp");
    t = books;
    t.ledger.fees_paid += 1.0;
    ck_assert_str_eq(cons_ledger_check(&t.ledger), "balance_conserved");
    t.ledger.slashed_burnt = -1.0;
    ck_assert_str_eq(cons_ledger_check(&t.ledger), "totals_non_negative");
    t = books;
    t.ledger.pot += 0.25;
    ck_assert_str_eq(cons_ledger_check(&t.ledger), "balance_conserved");
}
END_TEST

/* Bad terms are refused; the scenario's defaults are not. */
START_TEST(test_cons_ledger_terms_check)
{
    ck_assert_int_eq(cons_ledger_terms_check(&test_cons_terms), 0);
    cons_ledger_terms terms = test_cons_terms;
    terms.to_burn = 0.4;
    ck_assert_int_eq(cons_ledger_terms_check(&terms), CONS_EINVAL);
    terms = test_cons_terms;
    terms.slash = 1.0;
    ck_assert_int_eq(cons_ledger_terms_check(&terms), CONS_EINVAL);
    terms = test_cons_terms;
    terms.fee_per_token = NAN;
    ck_assert_int_eq(cons_ledger_terms_check(&terms), CONS_EINVAL);
    terms = test_cons_terms;
    terms.reputation.penalty = 1.5;
    ck_assert_int_eq(cons_ledger_terms_check(&terms), CONS_EINVAL);
}
END_TEST

/* ---- tree draws (cons_tree.c) ---- */

/* The tree's draw equals the scan's on 10,000 random beacons, over
 * networks of 1 to 300 candidates whose weights are set one by one between
 * draws (the ledger's moves) or refilled whole, zero weights among them;
 * a draw leaves the tree as it was. */
START_TEST(test_cons_tree_equals_scan)
{
    test_cons_setup();
    enum { NETWORK_MAX = 300 };
    const uint32_t beacons = getenv("INFERSIM_SANITIZE") != NULL ? 2000 : 10000;
    static uint64_t sums[NETWORK_MAX + 1], weights[NETWORK_MAX];
    util_prng prng;
    util_prng_init(&prng, TEST_CONS_SEED + 7);
    cons_tree tree;
    uint32_t count = 0;
    for (uint32_t draw = 0; draw < beacons; draw++) {
        if (draw % 50 == 0) {
            count = 1 + (uint32_t)util_prng_below(&prng, NETWORK_MAX);
            cons_tree_init(&tree, sums, weights, count);
            for (uint32_t i = 0; i < count; i++) {
                weights[i] = util_prng_below(&prng, 4) == 0 ? 0 : 1 + util_prng_below(&prng, 1000);
            }
            cons_tree_fill(&tree);
        } else {
            uint32_t at = (uint32_t)util_prng_below(&prng, count);
            cons_tree_set(&tree, at, util_prng_below(&prng, (uint64_t)1 << 40));
        }
        uint8_t beacon[CONS_BEACON_BYTES];
        cons_beacon_derive(TEST_CONS_SEED, draw, 0, beacon);
        uint32_t k = 1 + (uint32_t)util_prng_below(&prng, CONS_COMMITTEE_MAX);
        uint32_t got[CONS_COMMITTEE_MAX], expected[CONS_COMMITTEE_MAX];
        uint64_t total = cons_tree_total(&tree);
        uint32_t chosen = cons_tree_select(&tree, beacon, draw % 3, k, got);
        ck_assert_uint_eq(cons_tree_scan_select(weights, count, beacon, draw % 3, k, expected),
                          chosen);
        ck_assert_mem_eq(got, expected, chosen * sizeof(uint32_t));
        ck_assert_uint_eq(cons_tree_total(&tree), total);
        uint32_t positive = 0;
        for (uint32_t i = 0; i < count; i++) {
            positive += weights[i] > 0;
        }
        ck_assert_uint_eq(chosen, k < positive ? k : positive);
        /* One assertion per draw: Check writes every passed one to the
         * parent, and a pair loop made this test's time its syscalls'. */
        bool weighted = true, distinct = true;
        for (uint32_t j = 0; j < chosen; j++) {
            weighted = weighted && weights[got[j]] > 0;
            for (uint32_t i = 0; i < j; i++) {
                distinct = distinct && got[i] != got[j];
            }
        }
        ck_assert_msg(weighted && distinct, "draw %u: a member of weight 0 or chosen twice", draw);
    }
}
END_TEST

/* The law tests' network: 12 candidates of stake 1 to 8 (reputation as
 * test_cons_candidates_fill sets it), and their tree. */
#define TEST_CONS_LAW_N 12
static void test_cons_law_network(cons_candidate candidates[TEST_CONS_LAW_N], uint64_t *sums,
                                  uint64_t *weights, cons_tree *tree)
{
    test_cons_candidates_fill(candidates, TEST_CONS_LAW_N);
    cons_tree_init(tree, sums, weights, TEST_CONS_LAW_N);
    double scale = cons_tree_scale(8.0);
    for (uint32_t i = 0; i < TEST_CONS_LAW_N; i++) {
        candidates[i].stake = 1.0 + i % 8;
        weights[i] = cons_tree_weight(candidates[i].stake * candidates[i].reputation, scale);
    }
    cons_tree_fill(tree);
}

/* Each candidate's share of 'beacons' draws in 'got' is the reference's
 * within 4 sigma of their difference. */
static void test_cons_shares_close(const uint32_t *got, const uint32_t *reference, uint32_t count,
                                   uint32_t beacons, const char *what)
{
    for (uint32_t i = 0; i < count; i++) {
        double p = (double)reference[i] / beacons;
        double sigma = sqrt(2.0 * p * (1.0 - p) / beacons);
        ck_assert_msg(fabs((double)got[i] / beacons - p) < 4.0 * sigma + 1e-9,
                      "candidate %u: %s %u, race %u", i, what, got[i], reference[i]);
    }
}

/* Weighted sampling without replacement either way: over 20,000 beacons
 * each candidate's share of committees under the tree matches its share
 * under the race within 4 sigma, weights 1 to 8 (the two draws differ
 * per beacon, not in law). */
START_TEST(test_cons_tree_matches_race_in_law)
{
    test_cons_setup();
    enum { N = TEST_CONS_LAW_N, K = 4 };
    const uint32_t beacons = getenv("INFERSIM_SANITIZE") != NULL ? 4000 : 20000;
    cons_candidate candidates[N];
    uint64_t sums[N + 1], weights[N];
    cons_tree tree;
    test_cons_law_network(candidates, sums, weights, &tree);
    uint32_t in_race[N] = {0}, in_tree[N] = {0}, same = 0;
    for (uint32_t draw = 0; draw < beacons; draw++) {
        uint8_t beacon[CONS_BEACON_BYTES];
        cons_beacon_derive(TEST_CONS_SEED, draw, 1, beacon);
        uint32_t race[K], picked[K];
        TEST_ASSERT_INT_EQ(cons_committee_select(beacon, 0, candidates, N, K, race), K);
        TEST_ASSERT_UINT_EQ(cons_tree_select(&tree, beacon, 0, K, picked), K);
        for (uint32_t j = 0; j < K; j++) {
            in_race[race[j]] += 1;
            in_tree[candidates[picked[j]].node_id] += 1;
        }
        same += memcmp(race, picked, sizeof(race)) == 0;
    }
    test_cons_shares_close(in_tree, in_race, N, beacons, "tree");
    ck_assert_uint_gt(in_tree[7], 2 * in_tree[0]); /* weight 8 against weight 1 */
    ck_assert_uint_lt(same, beacons / 10);         /* different committees per beacon */
}
END_TEST

/* A thinned walk's candidates: private tickets from made-up VRF outputs
 * (one per candidate), turned into hits needed at 'accept'. */
typedef struct test_cons_thin {
    uint8_t beta[16][CONS_VRF_OUTPUT_BYTES];
    const uint8_t *beacon;
    double accept;
    uint32_t asked;
} test_cons_thin;

static uint32_t test_cons_thin_need(void *context, uint32_t index)
{
    test_cons_thin *thin = context;
    thin->asked += 1;
    if (thin->accept >= 1.0) {
        return 1;
    }
    return cons_tree_hits_needed(cons_vrf_uniform(thin->beta[index], thin->beacon, 0),
                                 thin->accept);
}

static uint32_t test_cons_never(void *context, uint32_t index)
{
    (void)context;
    (void)index;
    return UINT32_MAX;
}

/* Never seats; stops the walk at the 'stop_at'-th candidate asked. */
typedef struct test_cons_stop {
    uint32_t asked, stop_at;
} test_cons_stop;

static uint32_t test_cons_stop_need(void *context, uint32_t index)
{
    test_cons_stop *stop = context;
    (void)index;
    stop->asked += 1;
    return stop->asked == stop->stop_at ? CONS_TREE_STOP : UINT32_MAX;
}

static bool test_cons_walk_empty(const cons_tree_walk *walk)
{
    for (uint32_t slot = 0; slot < CONS_TREE_WALK_SLOTS; slot++) {
        if (walk->index[slot] != 0) {
            return false;
        }
    }
    return true;
}

/* With accept = 1 every hit seats: the thinned walk is the tree draw, on
 * 2,000 random networks and beacons; it leaves the tree and its scratch as
 * they were. */
START_TEST(test_cons_tree_thinned_accept_one_is_tree)
{
    test_cons_setup();
    enum { NETWORK_MAX = 300 };
    static uint64_t sums[NETWORK_MAX + 1], weights[NETWORK_MAX];
    static cons_tree_walk walk;
    util_prng prng;
    util_prng_init(&prng, TEST_CONS_SEED + 8);
    test_cons_thin thin = {.accept = 1.0};
    cons_tree tree;
    for (uint32_t draw = 0; draw < 2000; draw++) {
        uint32_t count = 1 + (uint32_t)util_prng_below(&prng, NETWORK_MAX);
        cons_tree_init(&tree, sums, weights, count);
        for (uint32_t i = 0; i < count; i++) {
            weights[i] = util_prng_below(&prng, 4) == 0 ? 0 : 1 + util_prng_below(&prng, 1000);
        }
        cons_tree_fill(&tree);
        uint8_t beacon[CONS_BEACON_BYTES];
        cons_beacon_derive(TEST_CONS_SEED, draw, 2, beacon);
        uint32_t k = 1 + (uint32_t)util_prng_below(&prng, CONS_COMMITTEE_MAX);
        uint32_t got[CONS_COMMITTEE_MAX], expected[CONS_COMMITTEE_MAX], picks = 0;
        uint64_t total = cons_tree_total(&tree);
        uint32_t chosen = cons_tree_select_thinned(&tree, beacon, draw % 3, k, test_cons_thin_need,
                                                   &thin, &walk, got, &picks);
        ck_assert_uint_eq(cons_tree_select(&tree, beacon, draw % 3, k, expected), chosen);
        ck_assert_mem_eq(got, expected, chosen * sizeof(uint32_t));
        ck_assert_uint_eq(picks, chosen);
        ck_assert_uint_eq(cons_tree_total(&tree), total);
    }
    ck_assert(test_cons_walk_empty(&walk));
}
END_TEST

/* At accept = 1/4 the walk keeps the race's law: over 20,000 beacons each
 * candidate's share of committees, and of first seats, matches the race's
 * within 4 sigma, weights 1 to 8, although the committees differ from the
 * plain tree's; a walk takes about k / accept picks. */
START_TEST(test_cons_tree_thinned_matches_race_in_law)
{
    test_cons_setup();
    enum { N = TEST_CONS_LAW_N, K = 4 };
    const uint32_t beacons = getenv("INFERSIM_SANITIZE") != NULL ? 4000 : 20000;
    cons_candidate candidates[N];
    uint64_t sums[N + 1], weights[N];
    cons_tree tree;
    test_cons_law_network(candidates, sums, weights, &tree);
    static test_cons_thin thin = {.accept = 0.25};
    static cons_tree_walk walk;
    for (uint32_t i = 0; i < N; i++) {
        util_hash256(&i, sizeof(i), thin.beta[i]);
    }
    uint32_t in_race[N] = {0}, in_thin[N] = {0}, first_race[N] = {0}, first_thin[N] = {0};
    uint32_t same = 0;
    uint64_t picks_all = 0;
    for (uint32_t draw = 0; draw < beacons; draw++) {
        uint8_t beacon[CONS_BEACON_BYTES];
        cons_beacon_derive(TEST_CONS_SEED, draw, 1, beacon);
        thin.beacon = beacon;
        thin.asked = 0;
        uint32_t race[K], seated[K], plain[K], picks = 0;
        ck_assert_int_eq(cons_committee_select(beacon, 0, candidates, N, K, race), K);
        ck_assert_uint_eq(cons_tree_select_thinned(&tree, beacon, 0, K, test_cons_thin_need,
                                                   &thin, &walk, seated, &picks),
                          K);
        ck_assert_uint_le(thin.asked, N); /* once per candidate per walk */
        ck_assert_uint_eq(cons_tree_select(&tree, beacon, 0, K, plain), K);
        picks_all += picks;
        first_race[race[0]] += 1;
        first_thin[candidates[seated[0]].node_id] += 1;
        for (uint32_t j = 0; j < K; j++) {
            in_race[race[j]] += 1;
            in_thin[candidates[seated[j]].node_id] += 1;
        }
        same += memcmp(plain, seated, sizeof(plain)) == 0;
    }
    test_cons_shares_close(in_thin, in_race, N, beacons, "thinned");
    test_cons_shares_close(first_thin, first_race, N, beacons, "thinned, first seat");
    ck_assert_uint_gt(in_thin[7], 2 * in_thin[0]); /* weight 8 against weight 1 */
    ck_assert_uint_lt(same, beacons / 10);         /* not the plain tree's committees */
    double mean_picks = (double)picks_all / beacons;
    ck_assert_msg(mean_picks > 0.9 * K / 0.25 && mean_picks < 1.1 * K / 0.25, "%.2f picks",
                  mean_picks);
    ck_assert(test_cons_walk_empty(&walk));
}
END_TEST

/* Hits needed: geometric with P(needed > m) = (1 - accept)^m; 1 at
 * u = 1, at accept >= 1 and on NaN; bounded on a ticket near 0. A walk
 * whose candidates never seat ends after CONS_TREE_WALK_MAX picks with
 * nobody, and one its caller stops ends at once; both leave the tree and
 * scratch as they were. */
START_TEST(test_cons_tree_hits_needed)
{
    ck_assert_uint_eq(cons_tree_hits_needed(1.0, 0.25), 1);
    ck_assert_uint_eq(cons_tree_hits_needed(0.5, 1.0), 1);
    ck_assert_uint_eq(cons_tree_hits_needed(NAN, 0.25), 1);
    ck_assert_uint_eq(cons_tree_hits_needed(0.75 + 1e-12, 0.25), 1);
    ck_assert_uint_eq(cons_tree_hits_needed(0.75 - 1e-12, 0.25), 2);
    ck_assert_uint_eq(cons_tree_hits_needed(0.5625 - 1e-12, 0.25), 3);
    ck_assert_uint_ge(cons_tree_hits_needed(0x1.0p-1074, 0x1.0p-40), 1u << 30);
    double sum = 0.0;
    enum { DRAWS = 100000 };
    for (uint32_t i = 0; i < DRAWS; i++) {
        sum += cons_tree_hits_needed((i + 0.5) / DRAWS, 0.125);
    }
    ck_assert_double_eq_tol(sum / DRAWS, 8.0, 0.05);

    uint64_t sums[4], weights[3] = {5, 1, 7};
    cons_tree tree;
    cons_tree_init(&tree, sums, weights, 3);
    weights[0] = 5;
    weights[1] = 1;
    weights[2] = 7;
    cons_tree_fill(&tree);
    static cons_tree_walk walk;
    uint8_t beacon[CONS_BEACON_BYTES] = {3};
    uint32_t seated[2], picks = 0;
    ck_assert_uint_eq(cons_tree_select_thinned(&tree, beacon, 0, 2, test_cons_never, NULL, &walk,
                                               seated, &picks),
                      0);
    ck_assert_uint_eq(picks, CONS_TREE_WALK_MAX);
    ck_assert_uint_eq(cons_tree_total(&tree), 13);
    ck_assert(test_cons_walk_empty(&walk));
    /* A walk its caller stops at the third candidate it asks about ends
     * there, the stopping pick counted, and leaves nothing behind. */
    test_cons_stop stop = {.stop_at = 3};
    ck_assert_uint_eq(cons_tree_select_thinned(&tree, beacon, 0, 2, test_cons_stop_need, &stop,
                                               &walk, seated, &picks),
                      0);
    ck_assert_uint_eq(stop.asked, 3);
    ck_assert_uint_ge(picks, 3);
    ck_assert_uint_lt(picks, CONS_TREE_WALK_MAX);
    ck_assert_uint_eq(cons_tree_total(&tree), 13);
    ck_assert(test_cons_walk_empty(&walk));
}
END_TEST

/* Quantisation: a power of two into [2^39, 2^40), clamped bounds, weights
 * floored to at least 1, nothing above 2^40, 0 for no weight or NaN. */
START_TEST(test_cons_tree_weights_quantised)
{
    double scale = cons_tree_scale(3.0);
    ck_assert(3.0 * scale >= 0x1.0p39 && 3.0 * scale < 0x1.0p40);
    ck_assert_double_eq(frexp(scale, &(int){0}), 0.5);
    ck_assert_uint_eq(cons_tree_weight(3.0, scale), (uint64_t)(3.0 * scale));
    ck_assert_uint_eq(cons_tree_weight(1e-300, scale), 1);
    ck_assert_uint_eq(cons_tree_weight(1e300, scale), (uint64_t)1 << 40);
    ck_assert_uint_eq(cons_tree_weight(0.0, scale), 0);
    ck_assert_uint_eq(cons_tree_weight(-1.0, scale), 0);
    ck_assert_uint_eq(cons_tree_weight(NAN, scale), 0);
    ck_assert(isfinite(cons_tree_scale(0.0)) && cons_tree_scale(0.0) > 0.0);
    ck_assert(isfinite(cons_tree_scale(NAN)) && cons_tree_scale(NAN) > 0.0);
    ck_assert(cons_tree_scale(INFINITY) > 0.0);
    /* An empty tree draws nobody. */
    uint64_t sums[1];
    cons_tree tree;
    cons_tree_init(&tree, sums, NULL, 0);
    uint8_t beacon[CONS_BEACON_BYTES] = {0};
    uint32_t members[1];
    ck_assert_uint_eq(cons_tree_select(&tree, beacon, 0, 1, members), 0);
}
END_TEST

Suite *test_cons_suite(void)
{
    Suite *suite = suite_create("cons");
    TCase *crypto = tcase_create("crypto");
    tcase_add_test(crypto, test_cons_hash256_known_vectors);
    tcase_add_test(crypto, test_cons_sign_verify_and_tamper);
    tcase_add_test(crypto, test_cons_commit_verify_and_any_flip_fails);
    tcase_add_test(crypto, test_cons_salt_derive_inputs_all_matter);
    tcase_set_timeout(crypto, 10);
    suite_add_tcase(suite, crypto);

    TCase *sortition = tcase_create("sortition");
    tcase_add_test(sortition, test_cons_beacon_derive_deterministic_and_distinct);
    tcase_add_test(sortition, test_cons_sortition_uniform_range_and_mean);
    tcase_add_test(sortition, test_cons_committee_select_matches_sorted_keys);
    tcase_add_test(sortition, test_cons_committee_select_distinct_and_bounded);
    tcase_add_test(sortition, test_cons_sortition_verify_membership);
    tcase_add_test(sortition, test_cons_sortition_tie_broken_by_node_id);
    tcase_add_test(sortition, test_cons_committee_select_equals_reference_draw);
    tcase_add_test(sortition, test_cons_draw_slices_equal_select);
    tcase_add_test(sortition, test_cons_draw_slice_rejects_and_positions);
    tcase_add_test(sortition, test_cons_tree_equals_scan);
    tcase_add_test(sortition, test_cons_tree_matches_race_in_law);
    tcase_add_test(sortition, test_cons_tree_weights_quantised);
    tcase_add_test(sortition, test_cons_tree_thinned_accept_one_is_tree);
    tcase_add_test(sortition, test_cons_tree_thinned_matches_race_in_law);
    tcase_add_test(sortition, test_cons_tree_hits_needed);
    tcase_add_test(sortition, test_cons_sortition_equal_stakes_uniform);
    tcase_add_test(sortition, test_cons_sortition_stake_proportional);
    tcase_add_test(sortition, test_cons_sortition_reputation_proportional);
    tcase_add_test(sortition, test_cons_sortition_capture_matches_hypergeometric);
    tcase_add_test(sortition, test_cons_sampling_capture_matches_closed_forms);
    tcase_add_test(sortition, test_cons_crossval_detection_matches_closed_form);
    tcase_set_timeout(sortition, 30);
    suite_add_tcase(suite, sortition);

    TCase *agreement = tcase_create("agreement");
    tcase_add_test(agreement, test_cons_agree_exact_compares_bits);
    tcase_add_test(agreement, test_cons_agree_maxabs_boundary);
    tcase_add_test(agreement, test_cons_agree_cosine_boundary);
    tcase_add_test(agreement, test_cons_agree_topk_ties_and_sets);
    tcase_add_test(agreement, test_cons_agree_topk_margin);
    tcase_add_test(agreement, test_cons_agreement_check_rejects_bad_rules);
    tcase_add_test(agreement, test_cons_accept_maxabs_drift_excludes_forger);
    tcase_add_test(agreement, test_cons_accept_exact_drift_no_quorum);
    tcase_add_test(agreement, test_cons_accept_exact_cartel_beats_scattered_honest);
    tcase_add_test(agreement, test_cons_accept_ties_and_non_transitivity);
    tcase_set_timeout(agreement, 10);
    suite_add_tcase(suite, agreement);

    TCase *reputation = tcase_create("reputation");
    tcase_add_test(reputation, test_cons_reputation_default_rule);
    tcase_add_test(reputation, test_cons_reputation_deviations_are_powers_then_clamp);
    tcase_add_test(reputation, test_cons_reputation_clamps_both_ends);
    tcase_add_test(reputation, test_cons_reputation_rounds_match_iteration);
    tcase_add_test(reputation, test_cons_capture_probability_exact_values);
    tcase_add_test(reputation, test_cons_detection_probability_values);
    tcase_add_test(reputation, test_cons_crossval_detection_enumerated);
    tcase_add_test(reputation, test_cons_rational_detection_enumerated);
    tcase_add_test(reputation, test_cons_reputation_break_even);
    tcase_set_timeout(reputation, 10);
    suite_add_tcase(suite, reputation);

    TCase *protocols = tcase_create("protocols");
    tcase_add_test(protocols, test_cons_protocol_table_names_round_trip);
    tcase_add_test(protocols, test_cons_commit_member_bytes);
    tcase_add_test(protocols, test_cons_protocol_votes_open);
    tcase_add_test(protocols, test_cons_protocol_decide_committee);
    tcase_add_test(protocols, test_cons_protocol_decide_sampling_stages);
    tcase_add_test(protocols, test_cons_protocol_decide_executors);
    tcase_add_test(protocols, test_cons_crossval_check_answers);
    tcase_add_test(protocols, test_cons_protocol_invariants_flip_one_bit);
    tcase_add_test(protocols, test_cons_protocol_register);
    tcase_add_test(protocols, test_cons_protocol_driver_fields);
    tcase_set_timeout(protocols, 10);
    suite_add_tcase(suite, protocols);

    TCase *ledger = tcase_create("ledger");
    tcase_add_test(ledger, test_cons_ledger_settles_closed_form);
    tcase_add_test(ledger, test_cons_ledger_burns_when_none_agree);
    tcase_add_test(ledger, test_cons_ledger_conserves_random_run);
    tcase_add_test(ledger, test_cons_ledger_check_catches_corruption);
    tcase_add_test(ledger, test_cons_ledger_terms_check);
    tcase_set_timeout(ledger, 10);
    suite_add_tcase(suite, ledger);
    return suite;
}
