/* bench_vrf.c -- what selection: vrf costs in wall time: ECVRF prove, the
 * output alone (no proof) and verify per operation, all three again as the
 * world makes them (from the H and Gamma the output keeps), and the hash
 * ticket (cons_sortition_uniform, BLAKE2b-256) as the baseline, each timed
 * over enough operations to take a few hundred milliseconds. Wall-clock reads
 * are allowed in bench/. */
#include "bench/bench_vrf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "consensus/cons.h"
#include "util/hash.h"

#define BENCH_VRF_TICKETS 1000000u
#define BENCH_VRF_PROOFS 2000u

static double bench_vrf_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* As the world makes them: the output with its H and Gamma kept, given the
 * public key (cons_vrf_output_h); then the proof and the check from them
 * (the check without the key's test, which the world's registry makes
 * once), beside the plain forms' times. */
static void bench_vrf_from_h(const uint8_t *secret_key, const uint8_t *public_key,
                             uint8_t beacon[CONS_BEACON_BYTES], double output_ns, double prove_ns,
                             double verify_ns)
{
    uint8_t h[CONS_VRF_H_BYTES], gamma[CONS_VRF_GAMMA_BYTES], beta[CONS_VRF_OUTPUT_BYTES];
    uint8_t proof[CONS_VRF_PROOF_BYTES];
    uint32_t failed = 0;
    double start = bench_vrf_now_s();
    for (uint32_t i = 0; i < BENCH_VRF_PROOFS; i++) {
        memcpy(beacon, &i, sizeof(i));
        failed += cons_vrf_output_h(secret_key, public_key, beacon, CONS_BEACON_BYTES, h, gamma,
                                    beta) != 0;
    }
    double output_h_ns = (bench_vrf_now_s() - start) * 1e9 / BENCH_VRF_PROOFS;
    start = bench_vrf_now_s();
    for (uint32_t i = 0; i < BENCH_VRF_PROOFS; i++) {
        failed += cons_vrf_prove_h(secret_key, public_key, h, gamma, proof) != 0;
    }
    double prove_h_ns = (bench_vrf_now_s() - start) * 1e9 / BENCH_VRF_PROOFS;
    uint32_t valid = 0;
    start = bench_vrf_now_s();
    for (uint32_t i = 0; i < BENCH_VRF_PROOFS; i++) {
        valid += cons_vrf_verify_h(public_key, h, gamma, proof, beta);
    }
    double verify_h_ns = (bench_vrf_now_s() - start) * 1e9 / BENCH_VRF_PROOFS;
    printf("vrf        ECVRF as the world makes them: output ns/op=%.0f (%.2f x output), "
           "prove ns/op=%.0f (%.2f x prove), verify ns/op=%.0f (%.2f x verify); "
           "%.0f ns a node an epoch  failed=%u valid=%u/%u\n",
           output_h_ns, output_h_ns / output_ns, prove_h_ns, prove_h_ns / prove_ns, verify_h_ns,
           verify_h_ns / verify_ns, output_h_ns + prove_h_ns + verify_h_ns, failed, valid,
           BENCH_VRF_PROOFS);
}

void bench_vrf_run(void)
{
    uint8_t beacon[CONS_BEACON_BYTES] = {1};
    uint8_t public_key[32], secret_key[64], proof[CONS_VRF_PROOF_BYTES];
    util_sign_keypair_from_seed(1, 2, public_key, secret_key);
    double sum = 0.0;
    double start = bench_vrf_now_s();
    for (uint32_t i = 0; i < BENCH_VRF_TICKETS; i++) {
        sum += cons_sortition_uniform(beacon, i, public_key);
    }
    double ticket_ns = (bench_vrf_now_s() - start) * 1e9 / BENCH_VRF_TICKETS;
    uint32_t failed = 0;
    start = bench_vrf_now_s();
    for (uint32_t i = 0; i < BENCH_VRF_PROOFS; i++) {
        memcpy(beacon, &i, sizeof(i));
        failed += cons_vrf_prove(secret_key, beacon, sizeof(beacon), proof) != 0;
    }
    double prove_ns = (bench_vrf_now_s() - start) * 1e9 / BENCH_VRF_PROOFS;
    uint8_t beta[CONS_VRF_OUTPUT_BYTES];
    start = bench_vrf_now_s();
    for (uint32_t i = 0; i < BENCH_VRF_PROOFS; i++) {
        memcpy(beacon, &i, sizeof(i));
        failed += cons_vrf_output(secret_key, beacon, sizeof(beacon), beta) != 0;
    }
    double output_ns = (bench_vrf_now_s() - start) * 1e9 / BENCH_VRF_PROOFS;
    uint32_t valid = 0;
    start = bench_vrf_now_s();
    for (uint32_t i = 0; i < BENCH_VRF_PROOFS; i++) {
        valid += cons_vrf_verify(public_key, beacon, sizeof(beacon), proof, beta);
    }
    double verify_ns = (bench_vrf_now_s() - start) * 1e9 / BENCH_VRF_PROOFS;
    printf("vrf        hash ticket (BLAKE2b-256) ns/op=%.0f  [%.3f]\n", ticket_ns,
           sum / BENCH_VRF_TICKETS);
    printf("vrf        ECVRF prove  ns/op=%.0f  (%.0f x hash ticket)  failed=%u\n", prove_ns,
           prove_ns / ticket_ns, failed);
    printf("vrf        ECVRF output ns/op=%.0f  (%.0f x hash ticket; %.2f x prove)  no proof\n",
           output_ns, output_ns / ticket_ns, output_ns / prove_ns);
    printf("vrf        ECVRF verify ns/op=%.0f  (%.0f x hash ticket; %.2f x prove)  valid=%u/%u, "
           "with the output\n",
           verify_ns, verify_ns / ticket_ns, verify_ns / prove_ns, valid, BENCH_VRF_PROOFS);
    bench_vrf_from_h(secret_key, public_key, beacon, output_ns, prove_ns, verify_ns);
}
