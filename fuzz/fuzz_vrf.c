/* fuzz_vrf.c -- the VRF's curve arithmetic (util/edwards.h) against
 * libsodium's on hostile bytes, and the VRF check on hostile proofs.
 * Byte 0 picks what the rest is:
 *   0: 32 bytes to decode. Decoding must agree with libsodium's (a point
 *      iff libsodium decodes it and re-encodes the same bytes), re-encode
 *      to the same bytes, and find the prime-order subgroup exactly where
 *      libsodium's validity test does (or the identity);
 *   1: two 32-byte scalars a and b (reduced modulo L) and 32 bytes of a
 *      point P, used when libsodium finds P valid: a * P and a * B - b * P
 *      must be libsodium's bytes;
 *   2: bytes XORed over a valid (key, proof, alpha) under a fixed key (a
 *      32-byte alpha, which the input may extend to 64 bytes). If
 *      cons_vrf_verify accepts, the key must be valid and beta must be
 *      cons_vrf_proof_to_hash's; cons_vrf_verify_h with the key's own H
 *      must answer as cons_vrf_verify does for a valid key.
 * A disagreement aborts, which is the finding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/cons.h"
#include "fuzz/fuzz.h"
#include "util/edwards.h"
#include "util/hash.h"

#define VRF_FUZZ_ALPHA_MAX 64

static bool vrf_fuzz_ready;
static uint8_t vrf_secret[64];
static uint8_t vrf_public[32];
/* The honest (key, proof, alpha) mode 2 mutates, made once. */
static uint8_t vrf_base[32 + CONS_VRF_PROOF_BYTES + VRF_FUZZ_ALPHA_MAX];

static void vrf_fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz_vrf: %s\n", what);
    abort();
}

static void vrf_fuzz_setup(void)
{
    if (vrf_fuzz_ready) {
        return;
    }
    if (util_hash_init() != 0) {
        vrf_fuzz_fail("libsodium does not start");
    }
    util_sign_keypair_from_seed(9381, 0, vrf_public, vrf_secret);
    memcpy(vrf_base, vrf_public, 32);
    memcpy(vrf_base + 32 + CONS_VRF_PROOF_BYTES, "fuzz_vrf alpha", 14);
    if (cons_vrf_prove(vrf_secret, vrf_base + 32 + CONS_VRF_PROOF_BYTES, 32, vrf_base + 32) != 0) {
        vrf_fuzz_fail("the honest proof fails");
    }
    vrf_fuzz_ready = true;
}

static void vrf_fuzz_decode(const uint8_t *bytes)
{
    static const uint8_t identity[32] = {1};
    uint8_t again[32];
    bool theirs = util_ed25519_point_add(again, bytes, identity) == 0 &&
                  memcmp(again, bytes, 32) == 0;
    util_edwards_point p;
    bool mine = util_edwards_decode(&p, bytes);
    if (mine != theirs) {
        vrf_fuzz_fail("decoding differs from libsodium's");
    }
    if (!mine) {
        return;
    }
    util_edwards_encode(again, &p);
    if (memcmp(again, bytes, 32) != 0) {
        vrf_fuzz_fail("a decoded point re-encodes to other bytes");
    }
    bool valid = util_ed25519_point_valid(bytes) || util_edwards_is_identity(&p);
    if (util_edwards_in_prime_subgroup(&p) != valid) {
        vrf_fuzz_fail("the subgroup test differs from libsodium's");
    }
}

static void vrf_fuzz_scalar(const uint8_t *bytes, uint8_t scalar[32])
{
    uint8_t wide[64] = {0};
    memcpy(wide, bytes, 32);
    util_ed25519_scalar_reduce(scalar, wide);
}

static void vrf_fuzz_arithmetic(const uint8_t *bytes)
{
    uint8_t a[32], b[32], mine[32], theirs[32], bp[32];
    vrf_fuzz_scalar(bytes, a);
    vrf_fuzz_scalar(bytes + 32, b);
    const uint8_t *p_bytes = bytes + 64;
    util_edwards_point p, r;
    if (!util_ed25519_point_valid(p_bytes) || !util_edwards_decode(&p, p_bytes)) {
        return;
    }
    util_edwards_mul(&r, a, &p);
    util_edwards_encode(mine, &r);
    if (util_ed25519_scalarmult(theirs, a, p_bytes) == 0 && memcmp(mine, theirs, 32) != 0) {
        vrf_fuzz_fail("a * P differs from libsodium's");
    }
    util_edwards_mul_sub_vartime(&r, a, NULL, b, &p);
    util_edwards_encode(mine, &r);
    if (util_ed25519_scalarmult_base(theirs, a) == 0 &&
        util_ed25519_scalarmult(bp, b, p_bytes) == 0 &&
        util_ed25519_point_sub(theirs, theirs, bp) == 0 && memcmp(mine, theirs, 32) != 0) {
        vrf_fuzz_fail("a * B - b * P differs from libsodium's");
    }
}

static void vrf_fuzz_verify(const uint8_t *data, size_t size)
{
    uint8_t base[sizeof(vrf_base)];
    size_t alpha_size = 32;
    memcpy(base, vrf_base, sizeof(base));
    size_t used = size < sizeof(base) ? size : sizeof(base);
    for (size_t i = 0; i < used; i++) {
        base[i] ^= data[i];
    }
    if (used > 32 + CONS_VRF_PROOF_BYTES + alpha_size) {
        alpha_size = used - 32 - CONS_VRF_PROOF_BYTES;
    }
    const uint8_t *key = base, *proof = base + 32, *alpha = base + 32 + CONS_VRF_PROOF_BYTES;
    uint8_t beta[CONS_VRF_OUTPUT_BYTES], hashed[CONS_VRF_OUTPUT_BYTES];
    bool accepted = cons_vrf_verify(key, alpha, alpha_size, proof, beta);
    if (accepted && (!cons_vrf_key_valid(key) || cons_vrf_proof_to_hash(proof, hashed) != 0 ||
                     memcmp(beta, hashed, sizeof(beta)) != 0)) {
        vrf_fuzz_fail("an accepted proof's key or output is wrong");
    }
    if (memcmp(key, vrf_public, 32) == 0) {
        uint8_t h[CONS_VRF_H_BYTES], gamma[CONS_VRF_GAMMA_BYTES], unused[CONS_VRF_OUTPUT_BYTES];
        if (cons_vrf_output_h(vrf_secret, vrf_public, alpha, alpha_size, h, gamma, unused) == 0 &&
            (cons_vrf_verify_h(key, h, NULL, proof, NULL) != accepted ||
             cons_vrf_verify_h(key, h, gamma, proof, NULL) != accepted)) {
            vrf_fuzz_fail("the check from H answers otherwise");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vrf_fuzz_setup();
    if (size < 1) {
        return 0;
    }
    switch (data[0] % 3) {
    case 0:
        if (size >= 33) {
            vrf_fuzz_decode(data + 1);
        }
        break;
    case 1:
        if (size >= 97) {
            vrf_fuzz_arithmetic(data + 1);
        }
        break;
    default:
        vrf_fuzz_verify(data + 1, size - 1);
        break;
    }
    return 0;
}
