/* test_vrf.c -- consensus/cons_vrf.c: ECVRF-EDWARDS25519-SHA512-TAI against
 * the three examples of RFC 9381 Appendix B.3 (secret key, public key,
 * alpha, proof pi and output beta); rejection of a tampered proof, a
 * tampered alpha, a wrong key, invalid and small-order points and a
 * non-canonical s; prove/verify round trips over random keys; the VRF
 * sortition ticket and the committee drawn from tickets; committees drawn by
 * VRF in the simulator (verification.selection: vrf), where a forged_ticket
 * member's proof is caught, and the scenario errors of the keys.
 * Deterministic: random keys come from a seeded util_prng. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/cons.h"
#include "scenarios/scn.h"
#include "sim/sim.h"
#include "tests/suites.h"
#include "util/hash.h"
#include "util/prng.h"
#include "world/world_int.h"

#define TEST_VRF_SEED 20261202ULL
#define TEST_VRF_ROUND_TRIPS 200

/* RFC 9381, Appendix B.3 (ECVRF-EDWARDS25519-SHA512-TAI), examples 16 to
 * 18; the keys are RFC 8032 section 7.1's tests 1 to 3. */
static const struct test_vrf_vector {
    const char *secret_key;
    const char *public_key;
    const char *alpha;
    const char *proof;
    const char *beta;
} test_vrf_vectors[3] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f"
     "26f8a57ccaed74ee1b190bed1f479d97"
     "27d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805",
     "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff"
     "66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed593"
     "3bf0864a62558b3ed7f2fea45c92a465"
     "301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02",
     "eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb"
     "5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf80"
     "96bb474e53895c362d8628ee9f9ea3c0"
     "e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e",
     "645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c45"
     "2118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f"},
};

/* A point of order 8 (from the list of small-order edwards25519 points). */
static const char test_vrf_order8[] =
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a";
/* y = 2^255 - 1 >= p: never a canonical encoding. */
static const char test_vrf_noncanonical[] =
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";
/* The group order L, little-endian. */
static const char test_vrf_order[] =
    "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

static void test_vrf_setup(void)
{
    ck_assert_int_eq(util_hash_init(), 0);
}

static size_t test_vrf_hex(const char *hex, uint8_t *out, size_t size)
{
    size_t length = strlen(hex) / 2;
    ck_assert_uint_le(length, size);
    for (size_t i = 0; i < length; i++) {
        char pair[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
        out[i] = (uint8_t)strtoul(pair, NULL, 16);
    }
    return length;
}

/* The vector's decoded fields. */
typedef struct test_vrf_case {
    uint8_t secret_key[CONS_VRF_SECRET_KEY_BYTES];
    uint8_t public_key[CONS_VRF_PUBLIC_KEY_BYTES];
    uint8_t alpha[8];
    size_t alpha_size;
    uint8_t proof[CONS_VRF_PROOF_BYTES];
    uint8_t beta[CONS_VRF_OUTPUT_BYTES];
} test_vrf_case;

static void test_vrf_load(int index, test_vrf_case *out)
{
    const struct test_vrf_vector *v = &test_vrf_vectors[index];
    ck_assert_uint_eq(test_vrf_hex(v->secret_key, out->secret_key, 32), 32);
    ck_assert_uint_eq(test_vrf_hex(v->public_key, out->public_key, 32), 32);
    out->alpha_size = test_vrf_hex(v->alpha, out->alpha, sizeof(out->alpha));
    ck_assert_uint_eq(test_vrf_hex(v->proof, out->proof, 80), 80);
    ck_assert_uint_eq(test_vrf_hex(v->beta, out->beta, 64), 64);
}

START_TEST(test_vrf_rfc9381_vectors)
{
    test_vrf_case c;
    test_vrf_load(_i, &c);
    uint8_t public_key[32], proof[80], beta[64], verified[64];
    cons_vrf_public_key(c.secret_key, public_key);
    ck_assert_mem_eq(public_key, c.public_key, 32);
    ck_assert_int_eq(cons_vrf_prove(c.secret_key, c.alpha, c.alpha_size, proof), 0);
    ck_assert_mem_eq(proof, c.proof, 80);
    ck_assert_int_eq(cons_vrf_proof_to_hash(proof, beta), 0);
    ck_assert_mem_eq(beta, c.beta, 64);
    memset(beta, 0, sizeof(beta));
    ck_assert_int_eq(cons_vrf_output(c.secret_key, c.alpha, c.alpha_size, beta), 0);
    ck_assert_mem_eq(beta, c.beta, 64); /* the output without the proof */
    ck_assert(cons_vrf_verify(c.public_key, c.alpha, c.alpha_size, c.proof, verified));
    ck_assert_mem_eq(verified, c.beta, 64);
    /* The same bytes and answers from H and Gamma computed once. */
    uint8_t h[CONS_VRF_H_BYTES], gamma[CONS_VRF_GAMMA_BYTES];
    memset(beta, 0, sizeof(beta));
    memset(proof, 0, sizeof(proof));
    memset(verified, 0, sizeof(verified));
    ck_assert_int_eq(
        cons_vrf_output_h(c.secret_key, c.public_key, c.alpha, c.alpha_size, h, gamma, beta), 0);
    ck_assert_mem_eq(beta, c.beta, 64);
    ck_assert_mem_eq(gamma, c.proof, 32);
    ck_assert_int_eq(cons_vrf_prove_h(c.secret_key, c.public_key, h, gamma, proof), 0);
    ck_assert_mem_eq(proof, c.proof, 80);
    ck_assert(cons_vrf_verify_h(c.public_key, h, NULL, c.proof, verified));
    ck_assert_mem_eq(verified, c.beta, 64);
    memset(verified, 0, sizeof(verified));
    ck_assert(cons_vrf_verify_h(c.public_key, h, gamma, c.proof, verified));
    ck_assert_mem_eq(verified, c.beta, 64);
}
END_TEST

START_TEST(test_vrf_tampered_proof_rejected)
{
    test_vrf_case c;
    test_vrf_load(_i, &c);
    uint8_t h[CONS_VRF_H_BYTES], gamma[CONS_VRF_GAMMA_BYTES], unused[64];
    ck_assert_int_eq(
        cons_vrf_output_h(c.secret_key, c.public_key, c.alpha, c.alpha_size, h, gamma, unused), 0);
    for (size_t byte = 0; byte < CONS_VRF_PROOF_BYTES; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t proof[80];
            memcpy(proof, c.proof, 80);
            proof[byte] ^= (uint8_t)(1u << bit);
            uint8_t beta[64] = {0};
            ck_assert_msg(!cons_vrf_verify(c.public_key, c.alpha, c.alpha_size, proof, beta),
                          "bit %d of byte %zu", bit, byte);
            ck_assert_msg(!cons_vrf_verify_h(c.public_key, h, NULL, proof, beta),
                          "bit %d of byte %zu", bit, byte);
            ck_assert_msg(!cons_vrf_verify_h(c.public_key, h, gamma, proof, beta),
                          "bit %d of byte %zu, Gamma known", bit, byte);
            ck_assert(beta[0] == 0 && memcmp(beta, beta + 1, 63) == 0); /* untouched */
        }
    }
}
END_TEST

START_TEST(test_vrf_tampered_alpha_and_wrong_key_rejected)
{
    test_vrf_case c, other;
    test_vrf_load(_i, &c);
    test_vrf_load((_i + 1) % 3, &other);
    uint8_t alpha[9];
    memcpy(alpha, c.alpha, c.alpha_size);
    alpha[c.alpha_size] = 0x00;
    ck_assert(!cons_vrf_verify(c.public_key, alpha, c.alpha_size + 1, c.proof, NULL));
    if (c.alpha_size > 0) {
        alpha[0] ^= 1;
        ck_assert(!cons_vrf_verify(c.public_key, alpha, c.alpha_size, c.proof, NULL));
    }
    ck_assert(!cons_vrf_verify(other.public_key, c.alpha, c.alpha_size, c.proof, NULL));
    /* H of another input, or of another key, gives a check that fails. */
    uint8_t h[CONS_VRF_H_BYTES], gamma[CONS_VRF_GAMMA_BYTES], unused[64];
    ck_assert_int_eq(
        cons_vrf_output_h(c.secret_key, c.public_key, alpha, c.alpha_size + 1, h, gamma, unused),
        0);
    ck_assert(!cons_vrf_verify_h(c.public_key, h, NULL, c.proof, NULL));
    ck_assert_int_eq(cons_vrf_output_h(other.secret_key, other.public_key, c.alpha, c.alpha_size,
                                       h, gamma, unused),
                     0);
    ck_assert(!cons_vrf_verify_h(c.public_key, h, NULL, c.proof, NULL));
    /* The checker fires only on the tampering: the genuine triple passes. */
    ck_assert(cons_vrf_verify(c.public_key, c.alpha, c.alpha_size, c.proof, NULL));
}
END_TEST

START_TEST(test_vrf_invalid_points_rejected)
{
    test_vrf_case c;
    test_vrf_load(0, &c);
    const char *bad[3] = {test_vrf_order8, test_vrf_noncanonical,
                          "0100000000000000000000000000000000000000000000000000000000000000"};
    uint8_t h[CONS_VRF_H_BYTES], gamma[CONS_VRF_GAMMA_BYTES], unused[64];
    ck_assert_int_eq(
        cons_vrf_output_h(c.secret_key, c.public_key, c.alpha, c.alpha_size, h, gamma, unused), 0);
    for (int i = 0; i < 3; i++) {
        uint8_t point[32];
        test_vrf_hex(bad[i], point, 32);
        /* As the public key. */
        ck_assert_msg(!cons_vrf_key_valid(point), "key %d", i);
        ck_assert_msg(!cons_vrf_verify(point, c.alpha, c.alpha_size, c.proof, NULL), "key %d", i);
        /* As Gamma. */
        uint8_t proof[80], beta[64];
        memcpy(proof, c.proof, 80);
        memcpy(proof, point, 32);
        ck_assert_msg(!cons_vrf_verify(c.public_key, c.alpha, c.alpha_size, proof, NULL),
                      "gamma %d", i);
        ck_assert_msg(!cons_vrf_verify_h(c.public_key, h, NULL, proof, NULL), "gamma %d", i);
        ck_assert_msg(!cons_vrf_verify_h(c.public_key, h, gamma, proof, NULL), "gamma %d", i);
        ck_assert_int_eq(cons_vrf_proof_to_hash(proof, beta), CONS_EINVAL);
    }
    /* A Gamma with a small-order component added (same 8 * Gamma, same beta). */
    uint8_t torsion[32], mixed[80];
    test_vrf_hex(test_vrf_order8, torsion, 32);
    memcpy(mixed, c.proof, 80);
    ck_assert_int_eq(util_ed25519_point_add(mixed, c.proof, torsion), 0);
    ck_assert(!cons_vrf_verify(c.public_key, c.alpha, c.alpha_size, mixed, NULL));
    ck_assert(!cons_vrf_verify_h(c.public_key, h, NULL, mixed, NULL));
    /* Known bytes skip the subgroup test alone: the mixed Gamma is not the
     * known one, so it is tested and refused. */
    ck_assert(!cons_vrf_verify_h(c.public_key, h, gamma, mixed, NULL));
    /* A key with a small-order component added: refused by the key test. */
    uint8_t mixed_key[32];
    ck_assert_int_eq(util_ed25519_point_add(mixed_key, c.public_key, torsion), 0);
    ck_assert(!cons_vrf_key_valid(mixed_key));
    ck_assert(!cons_vrf_verify(mixed_key, c.alpha, c.alpha_size, c.proof, NULL));
    ck_assert(cons_vrf_key_valid(c.public_key));
}
END_TEST

/* z = x + y on 32-byte little-endian integers (no overflow in these uses). */
static void test_vrf_add_le(uint8_t *z, const uint8_t *x, const uint8_t *y)
{
    unsigned carry = 0;
    for (int i = 0; i < 32; i++) {
        unsigned sum = (unsigned)x[i] + y[i] + carry;
        z[i] = (uint8_t)sum;
        carry = sum >> 8;
    }
    ck_assert_uint_eq(carry, 0);
}

START_TEST(test_vrf_noncanonical_s_rejected)
{
    test_vrf_case c;
    test_vrf_load(_i, &c);
    uint8_t order[32], proof[80];
    test_vrf_hex(test_vrf_order, order, 32);
    memcpy(proof, c.proof, 80);
    /* s + L is s modulo L: the same proof arithmetically, refused as encoded. */
    test_vrf_add_le(proof + 48, c.proof + 48, order);
    ck_assert(!cons_vrf_verify(c.public_key, c.alpha, c.alpha_size, proof, NULL));
    memcpy(proof + 48, order, 32); /* s = L */
    ck_assert(!cons_vrf_verify(c.public_key, c.alpha, c.alpha_size, proof, NULL));
    ck_assert(cons_vrf_verify(c.public_key, c.alpha, c.alpha_size, c.proof, NULL));
}
END_TEST

START_TEST(test_vrf_round_trips_random_keys)
{
    util_prng prng;
    util_prng_init(&prng, TEST_VRF_SEED);
    uint8_t previous_public[32] = {0};
    for (int trip = 0; trip < TEST_VRF_ROUND_TRIPS; trip++) {
        uint8_t secret_key[32], public_key[32], alpha[40], proof[80], beta[64], verified[64];
        for (int i = 0; i < 32; i++) {
            secret_key[i] = (uint8_t)util_prng_next(&prng);
        }
        size_t alpha_size = (size_t)util_prng_below(&prng, sizeof(alpha) + 1);
        for (size_t i = 0; i < alpha_size; i++) {
            alpha[i] = (uint8_t)util_prng_next(&prng);
        }
        cons_vrf_public_key(secret_key, public_key);
        ck_assert_int_eq(cons_vrf_prove(secret_key, alpha, alpha_size, proof), 0);
        ck_assert_int_eq(cons_vrf_proof_to_hash(proof, beta), 0);
        ck_assert(cons_vrf_verify(public_key, alpha, alpha_size, proof, verified));
        ck_assert_mem_eq(beta, verified, 64);
        ck_assert_int_eq(cons_vrf_output(secret_key, alpha, alpha_size, verified), 0);
        ck_assert_mem_eq(beta, verified, 64);
        /* The same key pair signs with ed25519: the VRF key is the node's key. */
        uint8_t sign_public[32], sign_secret[64];
        util_sign_keypair_from_seed(TEST_VRF_SEED, (uint32_t)trip, sign_public, sign_secret);
        cons_vrf_public_key(sign_secret, public_key);
        ck_assert_mem_eq(public_key, sign_public, 32);
        if (trip > 0) {
            ck_assert(!cons_vrf_verify(previous_public, alpha, alpha_size, proof, NULL));
        }
        memcpy(previous_public, public_key, 32);
    }
}
END_TEST

/* The batched tickets are cons_vrf_uniform's, for batch sizes around the
 * lane and chunk widths; another segment gives other tickets. */
START_TEST(test_vrf_uniform_many_equals_single)
{
    enum { COUNT = 77 };
    static uint8_t outputs[COUNT][CONS_VRF_OUTPUT_BYTES];
    const uint8_t *betas[COUNT];
    double uniforms[COUNT];
    uint8_t beacon[CONS_BEACON_BYTES];
    util_prng prng;
    util_prng_init(&prng, TEST_VRF_SEED);
    for (size_t b = 0; b < sizeof(beacon); b++) {
        beacon[b] = (uint8_t)util_prng_next(&prng);
    }
    for (size_t i = 0; i < COUNT; i++) {
        for (size_t b = 0; b < CONS_VRF_OUTPUT_BYTES; b++) {
            outputs[i][b] = (uint8_t)util_prng_next(&prng);
        }
        betas[i] = outputs[i];
    }
    const size_t counts[] = {0, 1, 7, 8, 9, 32, 33, COUNT};
    uint32_t differing = 0;
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        cons_vrf_uniform_many(betas, counts[c], beacon, 5, uniforms);
        for (size_t i = 0; i < counts[c]; i++) {
            ck_assert(uniforms[i] == cons_vrf_uniform(betas[i], beacon, 5));
            differing += uniforms[i] != cons_vrf_uniform(betas[i], beacon, 6);
        }
    }
    ck_assert_uint_gt(differing, 150);
}
END_TEST

START_TEST(test_vrf_ticket_and_committee)
{
    uint8_t alpha[32], again[32], beacon[32] = {7};
    cons_vrf_epoch_alpha(1, 2, alpha);
    cons_vrf_epoch_alpha(1, 2, again);
    ck_assert_mem_eq(alpha, again, 32);
    cons_vrf_epoch_alpha(1, 3, again);
    ck_assert(memcmp(alpha, again, 32) != 0);
    cons_candidate candidates[20];
    double uniforms[20];
    for (uint32_t i = 0; i < 20; i++) {
        uint8_t public_key[32], secret_key[64], proof[80], beta[64];
        util_sign_keypair_from_seed(TEST_VRF_SEED, i, public_key, secret_key);
        ck_assert_int_eq(cons_vrf_prove(secret_key, alpha, 32, proof), 0);
        ck_assert(cons_vrf_verify(public_key, alpha, 32, proof, beta));
        uniforms[i] = cons_vrf_uniform(beta, beacon, 1);
        ck_assert(uniforms[i] > 0.0 && uniforms[i] <= 1.0);
        ck_assert(uniforms[i] != cons_vrf_uniform(beta, beacon, 2));
        candidates[i] = (cons_candidate){.node_id = 100 + i, .stake = 1.0, .reputation = 1.0};
        memcpy(candidates[i].public_key, public_key, 32);
    }
    uint32_t members[5];
    ck_assert_int_eq(cons_committee_select_uniforms(uniforms, candidates, 20, 5, members), 5);
    /* Equal weights: the five largest tickets (smallest -ln u), largest first. */
    double last = 1.0;
    for (int j = 0; j < 5; j++) {
        double u = uniforms[members[j] - 100];
        ck_assert(u <= last);
        last = u;
    }
    for (int i = 0; i < 20; i++) {
        bool member = false;
        for (int j = 0; j < 5; j++) {
            member = member || members[j] == candidates[i].node_id;
        }
        ck_assert(member || uniforms[i] <= last);
    }
    uniforms[3] = 0.0;
    ck_assert_int_eq(cons_committee_select_uniforms(uniforms, candidates, 20, 5, members),
                     CONS_EINVAL);
}
END_TEST

/* 60 identical nodes, committees of 5 (quorum 3), two segments. */
static const char test_vrf_yaml[] =
    "name: vrf\n"
    "seed: 9\n"
    "duration: 20s\n"
    "network: {latency: {model: uniform, min: 5ms, max: 20ms}}\n"
    "nodes:\n"
    "  count: 60\n"
    "  classes: [{name: gpu, fraction: 1, flops: 50TFLOPS, kernel: blocked}]\n"
    "model:\n"
    "  shape: {dim: 32, hidden_dim: 64, layers: 4, heads: 4, vocab: 128, seq_len: 64}\n"
    "  segments: 2\n"
    "  kv_slots: 16\n"
    "verification: {protocol: committee, committee: 5, quorum: 3, timeout_slash: 0.1}\n"
    "workload: {requests: 16, rate: 4/s, prompt_tokens: [6, 10], generate: 2}\n"
    "output: {sample_interval: 0}\n";

static world_result *test_vrf_run(const char *const *overrides, size_t count)
{
    return test_sim_run_yaml("vrf.yaml", test_vrf_yaml, overrides, count, 0);
}

static double test_vrf_metric(const world_result *result, const char *name)
{
    double value = 0.0;
    ck_assert_int_eq(world_result_metric(result, name, &value), 0);
    return value;
}

/* An honest run: every request settles correctly, no proof is refused,
 * and at least one check per member per committee round (5 members, 2
 * segments). */
static void test_vrf_assert_honest(const world_result *result)
{
    ck_assert_uint_eq(result->requests_completed, result->request_count);
    ck_assert_uint_eq(result->accepted_wrong, 0);
    ck_assert_uint_eq(result->honest_penalised, 0);
    ck_assert_uint_eq(result->vrf_proofs_rejected, 0);
    ck_assert_uint_ge(result->vrf_proofs_verified, 5 * 2 * result->request_count);
}

/* Honest nodes under vrf: every proof checks out, nothing goes wrong, the
 * run is deterministic and draws other committees than hash tickets; hash
 * runs write no VRF metric. */
START_TEST(test_vrf_selection_honest)
{
    const char *const vrf[] = {"verification.selection=vrf", "verification.vrf_epoch=5s"};
    world_result *first = test_vrf_run(vrf, 2);
    world_result *again = test_vrf_run(vrf, 2);
    world_result *hash = test_vrf_run(NULL, 0);
    ck_assert_uint_eq(first->trace_hash, again->trace_hash);
    ck_assert_uint_ne(first->trace_hash, hash->trace_hash);
    test_vrf_assert_honest(first);
    ck_assert(test_vrf_metric(first, "vrf_proofs_verified") ==
              (double)first->vrf_proofs_verified);
    /* Every commitment carries its proof on the wire: 80 bytes more each. */
    const world_type_stats *with = &first->types[NODE_MESSAGE_INFER_COMMIT];
    const world_type_stats *without = &hash->types[NODE_MESSAGE_INFER_COMMIT];
    ck_assert_uint_gt(with->sent, 0);
    ck_assert_uint_eq(with->bytes_sent * without->sent,
                      (without->bytes_sent + CONS_VRF_PROOF_BYTES * without->sent) * with->sent);
    ck_assert(isnan(test_vrf_metric(hash, "vrf_proofs_verified")));
    ck_assert(isnan(test_vrf_metric(hash, "vrf_proofs_rejected")));
    ck_assert_uint_eq(hash->vrf_proofs_verified, 0);
    world_result_destroy(first);
    world_result_destroy(again);
    world_result_destroy(hash);
}
END_TEST

/* A run with forgers 1 and 31: some of their proofs are refused, every
 * request settles correctly and a forger lost reputation. */
static void test_vrf_forgers_caught(const char *const *overrides, size_t count)
{
    world_result *result = test_vrf_run(overrides, count);
    ck_assert_uint_gt(result->vrf_proofs_rejected, 0);
    ck_assert_uint_gt(result->vrf_proofs_verified, result->vrf_proofs_rejected);
    ck_assert(test_vrf_metric(result, "vrf_proofs_rejected") > 0.0);
    ck_assert_uint_eq(result->accepted_wrong, 0);
    ck_assert_uint_eq(result->honest_penalised, 0);
    ck_assert_uint_eq(result->requests_completed, result->request_count);
    ck_assert(result->reputation[1] < 1.0 || result->reputation[31] < 1.0);
    world_result_destroy(result);
}

/* Two forgers claim the best ticket: they sit on their segments'
 * committees, every proof they send is refused, and the honest majority
 * still settles every request correctly. */
START_TEST(test_vrf_forged_ticket_caught)
{
    const char *const forged[] = {"verification.selection=vrf", "faults.0.kind=forged_ticket",
                                  "faults.0.at=0s", "faults.0.nodes.ids=[1, 31]"};
    test_vrf_forgers_caught(forged, 4);
}
END_TEST

/* The committees a run's decisions name, one per (request, segment,
 * round): how many of them 'a' and 'b' share, of how many in 'a'. */
static uint32_t test_vrf_same_committees(const world_result *a, const world_result *b,
                                         uint32_t *total)
{
    uint32_t same = 0;
    *total = 0;
    for (size_t i = 0; i < a->decision_count; i++) {
        const world_decision_record *x = &a->decisions[i];
        if (x->member != 0 || x->step != 0) {
            continue;
        }
        *total += 1;
        bool found = false;
        for (size_t j = 0; j < b->decision_count && !found; j++) {
            const world_decision_record *y = &b->decisions[j];
            found = y->request == x->request && y->segment == x->segment &&
                    y->round == x->round && y->step == 0 && y->member == 0 &&
                    y->node_id == x->node_id;
        }
        same += found;
    }
    return same;
}

/* VRF selection over weight trees (draw: tree): honest nodes' proofs all
 * check out and every request settles, the run is deterministic; at
 * vrf_accept 1 every hit seats, so its committees are the plain tree's
 * (reputations held still, so both draw from equal weights), and at 1/4
 * most are not. Two forgers seat themselves on their first hit and every
 * proof they send is refused. */
START_TEST(test_vrf_tree_selection)
{
    const char *const tree[] = {"verification.selection=vrf", "verification.draw=tree",
                                "verification.reputation.reward=1"};
    const char *const every[] = {"verification.selection=vrf", "verification.draw=tree",
                                 "verification.reputation.reward=1",
                                 "verification.vrf_accept=1"};
    const char *const plain[] = {"verification.draw=tree", "verification.reputation.reward=1"};
    world_result *first = test_vrf_run(tree, 3);
    world_result *again = test_vrf_run(tree, 3);
    world_result *seated = test_vrf_run(every, 4);
    world_result *hashed = test_vrf_run(plain, 2);
    ck_assert_uint_eq(first->trace_hash, again->trace_hash);
    uint32_t total = 0;
    ck_assert_uint_eq(test_vrf_same_committees(seated, hashed, &total), total);
    ck_assert_uint_ge(total, 2 * first->request_count);
    ck_assert_uint_lt(test_vrf_same_committees(first, hashed, &total), total / 2);
    test_vrf_assert_honest(first);
    world_result_destroy(first);
    world_result_destroy(again);
    world_result_destroy(seated);
    world_result_destroy(hashed);

    const char *const forged[] = {"verification.selection=vrf", "verification.draw=tree",
                                  "verification.vrf_accept=0.125", "faults.0.kind=forged_ticket",
                                  "faults.0.at=0s", "faults.0.nodes.ids=[1, 31]"};
    test_vrf_forgers_caught(forged, 6);
}
END_TEST

/* Epochs of 250 ms: requests of one epoch are still being checked while
 * the next epoch's draws evaluate and prove, and every third epoch reuses
 * a node's slot of the one before last (world_vrf_slot). Each node's
 * output, proof and check must stay those of the request's own epoch:
 * an honest member's proof always gives the ticket that placed it. */
START_TEST(test_vrf_short_epochs)
{
    const char *const race[] = {"verification.selection=vrf", "verification.vrf_epoch=250ms"};
    const char *const tree[] = {"verification.selection=vrf", "verification.vrf_epoch=250ms",
                                "verification.draw=tree"};
    world_result *results[2] = {test_vrf_run(race, 2), test_vrf_run(tree, 3)};
    for (int i = 0; i < 2; i++) {
        world_result *result = results[i];
        test_vrf_assert_honest(result);
        world_result_destroy(result);
    }
}
END_TEST

/* The world's ticket for a node in a draw is the one that node's own
 * output of the draw's epoch gives, checked against cons_vrf_output of its
 * key on the epoch's input, whatever its slot held before: epoch 2 reuses
 * the slot of epoch 0 (world_vrf_slot), and must not take its output. */
START_TEST(test_vrf_world_tickets_follow_the_epoch)
{
    scn_scenario *scenario = NULL;
    scn_error error;
    ck_assert_int_eq(util_hash_init(), 0);
    ck_assert_int_eq(scn_load_file("scenarios/committee_vrf.yaml", NULL, 0, &scenario, &error),
                     0);
    world_host *host = NULL;
    ck_assert_int_eq(world_host_create(scenario, 0, NULL, &host), 0);
    world_state *world = world__host_state(host);
    const cons_candidate *candidates = world->candidates;
    uint32_t first = world->candidate_offsets[0];
    uint32_t last = first + 12 < world->candidate_offsets[1] ? first + 12
                                                             : world->candidate_offsets[1];
    ck_assert_uint_gt(last, first);
    static const uint64_t epochs[] = {0, 2, 1, 2, 4};
    for (size_t e = 0; e < sizeof(epochs) / sizeof(epochs[0]); e++) {
        world_vrf_draw draw = {.epoch = epochs[e], .segment = 0};
        cons_vrf_epoch_alpha(scenario->seed, draw.epoch, draw.alpha);
        memset(draw.beacon, (int)(7 + e), sizeof(draw.beacon));
        world__vrf_tickets(world, &draw, first, last);
        for (uint32_t i = first; i < last; i++) {
            uint8_t public_key[UTIL_SIGN_PUBLIC_KEY_BYTES];
            uint8_t secret_key[UTIL_SIGN_SECRET_KEY_BYTES], beta[CONS_VRF_OUTPUT_BYTES];
            util_sign_keypair_from_seed(scenario->seed, candidates[i].node_id, public_key,
                                        secret_key);
            ck_assert_int_eq(cons_vrf_output(secret_key, draw.alpha, CONS_BEACON_BYTES, beta), 0);
            double expected = cons_vrf_uniform(beta, draw.beacon, 0);
            ck_assert_msg(memcmp(&expected, &world->vrf_uniforms[i], sizeof(expected)) == 0,
                          "epoch %llu, candidate %u: %.17g != %.17g",
                          (unsigned long long)draw.epoch, i, world->vrf_uniforms[i], expected);
        }
    }
    world_host_destroy(host);
    scn_destroy(scenario);
}
END_TEST

/* The keys' errors name the key, at its line. */
START_TEST(test_vrf_scenario_errors)
{
    static const struct {
        const char *overrides[3];
        size_t count;
        const char *message;
    } cases[] = {
        {{"verification.selection=random"}, 1, "verification.selection"},
        {{"verification.vrf_epoch=5s"}, 1, "needs verification.selection: vrf"},
        {{"verification.selection=vrf", "verification.vrf_epoch=0s"}, 2, "must be > 0"},
        {{"verification.selection=vrf", "verification.commit_reveal=false"}, 2,
         "needs commit-reveal"},
        {{"faults.0.kind=forged_ticket", "faults.0.at=0s", "faults.0.nodes.ids=[1]"}, 3,
         "needs verification.selection: vrf"},
        {{"verification.selection=vrf", "verification.vrf_accept=0.5"}, 2,
         "vrf_accept needs selection: vrf and draw: tree"},
        {{"verification.draw=tree", "verification.vrf_accept=0.5"}, 2,
         "vrf_accept needs selection: vrf and draw: tree"},
        {{"verification.selection=vrf", "verification.draw=tree", "verification.vrf_accept=0.01"},
         3, "in [1/16, 1]"},
        {{"verification.selection=vrf", "verification.draw=tree", "verification.vrf_accept=1.5"},
         3, "in [1/16, 1]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        scn_scenario *scenario = NULL;
        scn_error error;
        int rc = scn_load_string("vrf.yaml", test_vrf_yaml, cases[i].overrides, cases[i].count,
                                 &scenario, &error);
        ck_assert_msg(rc != 0, "case %zu loaded", i);
        ck_assert_msg(strstr(error.message, cases[i].message) != NULL, "case %zu: %s", i,
                      error.message);
    }
}
END_TEST

Suite *test_vrf_suite(void)
{
    Suite *suite = suite_create("vrf");
    TCase *rfc = tcase_create("rfc9381");
    tcase_add_unchecked_fixture(rfc, test_vrf_setup, NULL);
    tcase_add_checked_fixture(rfc, test_vrf_setup, NULL);
    tcase_add_loop_test(rfc, test_vrf_rfc9381_vectors, 0, 3);
    tcase_add_loop_test(rfc, test_vrf_tampered_proof_rejected, 0, 3);
    tcase_add_loop_test(rfc, test_vrf_tampered_alpha_and_wrong_key_rejected, 0, 3);
    tcase_add_test(rfc, test_vrf_invalid_points_rejected);
    tcase_add_loop_test(rfc, test_vrf_noncanonical_s_rejected, 0, 3);
    tcase_set_timeout(rfc, 30);
    suite_add_tcase(suite, rfc);
    TCase *use = tcase_create("use");
    tcase_add_checked_fixture(use, test_vrf_setup, NULL);
    tcase_add_test(use, test_vrf_round_trips_random_keys);
    tcase_add_test(use, test_vrf_ticket_and_committee);
    tcase_add_test(use, test_vrf_uniform_many_equals_single);
    tcase_set_timeout(use, 60);
    suite_add_tcase(suite, use);
    TCase *selection = tcase_create("selection");
    tcase_add_checked_fixture(selection, test_vrf_setup, NULL);
    tcase_add_test(selection, test_vrf_selection_honest);
    tcase_add_test(selection, test_vrf_forged_ticket_caught);
    tcase_add_test(selection, test_vrf_tree_selection);
    tcase_add_test(selection, test_vrf_short_epochs);
    tcase_add_test(selection, test_vrf_world_tickets_follow_the_epoch);
    tcase_add_test(selection, test_vrf_scenario_errors);
    tcase_set_timeout(selection, 120);
    suite_add_tcase(suite, selection);
    return suite;
}
