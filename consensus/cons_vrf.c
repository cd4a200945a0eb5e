/* cons_vrf.c -- ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381), and the epoch
 * input and sortition ticket built on it. SHA-512, the scalars modulo L
 * and the fixed-base multiplication are libsodium's (util/hash.h); the
 * other curve arithmetic is util/edwards.h, whose points stay decoded
 * between steps and whose multiplications do not test their point again
 * (a check tests Gamma, unless it is the one its caller knows; a key is
 * tested once, by cons_vrf_key_valid). The encodings a step makes share
 * one field inversion (util_edwards_encode_many). The suite's own steps
 * (try-and-increment encode_to_curve, the RFC 8032 nonce, the challenge,
 * the proof's layout and checks) are here, each named after its RFC 9381
 * section. Integers are little-endian as edwards25519 encodes them. Only
 * verify and proof_to_hash see peer bytes, and they never assert on
 * them. */
#include <string.h>

#include "consensus/cons.h"
#include "consensus/cons_int.h"
#include "util/assert.h"
#include "util/edwards.h"
#include "util/hash.h"

_Static_assert(CONS_VRF_PUBLIC_KEY_BYTES == UTIL_ED25519_POINT_BYTES, "a key is a point");
_Static_assert(CONS_VRF_OUTPUT_BYTES == UTIL_SHA512_BYTES, "beta is one SHA-512 digest");
_Static_assert(CONS_VRF_PROOF_BYTES == 32 + 16 + 32, "Gamma || c || s");
_Static_assert(UTIL_EDWARDS_BYTES == UTIL_ED25519_POINT_BYTES, "one encoding");

#define VRF_SUITE 0x03          /* ECVRF-EDWARDS25519-SHA512-TAI */
#define VRF_C_BYTES 16          /* cLen */
#define VRF_POINT_BYTES UTIL_ED25519_POINT_BYTES
#define VRF_SCALAR_BYTES UTIL_ED25519_SCALAR_BYTES

/* The group order L, little-endian. */
static const uint8_t vrf_order[VRF_SCALAR_BYTES] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
static const char vrf_epoch_domain[] = "infersim.vrf-epoch.v1";
static const char vrf_ticket_domain[] = "infersim.vrf-ticket.v1";

/* The secret scalar x (RFC 8032 section 5.1.5: the clamped first half of
 * SHA-512(seed)) reduced mod L, and the nonce prefix (the second half). */
static void vrf_expand(const uint8_t secret_key[CONS_VRF_SECRET_KEY_BYTES],
                       uint8_t x_out[VRF_SCALAR_BYTES], uint8_t prefix_out[32])
{
    uint8_t digest[UTIL_SHA512_BYTES];
    util_sha512_state state;
    util_sha512_init(&state);
    util_sha512_update(&state, secret_key, CONS_VRF_SECRET_KEY_BYTES);
    util_sha512_final(&state, digest);
    digest[0] &= 248;
    digest[31] &= 127;
    digest[31] |= 64;
    memcpy(prefix_out, digest + 32, 32);
    memset(digest + 32, 0, 32);
    /* x < 2^255; reducing it changes no multiple of a prime-order point. */
    util_ed25519_scalar_reduce(x_out, digest);
    util_memzero(digest, sizeof(digest));
}

void cons_vrf_public_key(const uint8_t secret_key[CONS_VRF_SECRET_KEY_BYTES],
                         uint8_t public_key_out[CONS_VRF_PUBLIC_KEY_BYTES])
{
    ASSERT(secret_key != NULL && public_key_out != NULL);
    uint8_t x[VRF_SCALAR_BYTES];
    uint8_t prefix[32];
    vrf_expand(secret_key, x, prefix);
    int rc = util_ed25519_scalarmult_base(public_key_out, x);
    ASSERT(rc == 0); /* A clamped scalar is never 0 mod L. */
    util_memzero(x, sizeof(x));
    util_memzero(prefix, sizeof(prefix));
}

/* ECVRF_encode_to_curve_try_and_increment (section 5.4.1.1), with the
 * public key as encode_to_curve_salt: H as a point (its caller encodes it,
 * with other points at the price of one inversion). -1 when no ctr in
 * 0..255 gives a point, or the point found has small order (H would be the
 * identity). 8 * P lies in the prime-order subgroup,
 * so it is a valid point unless it is the identity. */
static int vrf_encode_to_curve(const uint8_t public_key[VRF_POINT_BYTES], const void *alpha,
                               size_t alpha_size, util_edwards_point *h)
{
    static const uint8_t front[2] = {VRF_SUITE, 0x01};
    for (unsigned ctr = 0; ctr <= 255; ctr++) {
        uint8_t back[2] = {(uint8_t)ctr, 0x00};
        uint8_t digest[UTIL_SHA512_BYTES];
        util_sha512_state state;
        util_sha512_init(&state);
        util_sha512_update(&state, front, sizeof(front));
        util_sha512_update(&state, public_key, VRF_POINT_BYTES);
        util_sha512_update(&state, alpha, alpha_size);
        util_sha512_update(&state, back, sizeof(back));
        util_sha512_final(&state, digest);
        util_edwards_point candidate;
        if (!util_edwards_decode(&candidate, digest)) {
            continue;
        }
        util_edwards_mul_cofactor(h, &candidate);
        return util_edwards_is_identity(h) ? -1 : 0;
    }
    return -1;
}

/* ECVRF_challenge_generation (section 5.4.3): the first cLen bytes of
 * SHA-512(suite || 0x02 || P1 || ... || P5 || 0x00), as a 32-byte scalar. */
static void vrf_challenge(const uint8_t *const points[5], uint8_t c_out[VRF_SCALAR_BYTES])
{
    static const uint8_t front[2] = {VRF_SUITE, 0x02};
    static const uint8_t back[1] = {0x00};
    uint8_t digest[UTIL_SHA512_BYTES];
    util_sha512_state state;
    util_sha512_init(&state);
    util_sha512_update(&state, front, sizeof(front));
    for (int i = 0; i < 5; i++) {
        util_sha512_update(&state, points[i], VRF_POINT_BYTES);
    }
    util_sha512_update(&state, back, sizeof(back));
    util_sha512_final(&state, digest);
    memset(c_out, 0, VRF_SCALAR_BYTES);
    memcpy(c_out, digest, VRF_C_BYTES);
}

/* ECVRF_nonce_generation_RFC8032 (section 5.4.2.2): SHA-512(prefix ||
 * h_string) mod L. */
static void vrf_nonce(const uint8_t prefix[32], const uint8_t h[VRF_POINT_BYTES],
                      uint8_t k_out[VRF_SCALAR_BYTES])
{
    uint8_t digest[UTIL_SHA512_BYTES];
    util_sha512_state state;
    util_sha512_init(&state);
    util_sha512_update(&state, prefix, 32);
    util_sha512_update(&state, h, VRF_POINT_BYTES);
    util_sha512_final(&state, digest);
    util_ed25519_scalar_reduce(k_out, digest);
    util_memzero(digest, sizeof(digest));
}

/* The proof (section 5.1 steps 3 to 8) from the expanded key (x, prefix),
 * Y = x * B, H (its point and its encoding) and Gamma = x * H. Wipes
 * nothing of its inputs. k * B is libsodium's, which refuses k = 0. */
static int vrf_prove_from(const uint8_t x[VRF_SCALAR_BYTES], const uint8_t prefix[32],
                          const uint8_t y[VRF_POINT_BYTES], const util_edwards_point *h_point,
                          const uint8_t h[VRF_POINT_BYTES], const uint8_t gamma[VRF_POINT_BYTES],
                          uint8_t proof_out[CONS_VRF_PROOF_BYTES])
{
    uint8_t k[VRF_SCALAR_BYTES], c[VRF_SCALAR_BYTES], cx[VRF_SCALAR_BYTES];
    uint8_t u[VRF_POINT_BYTES], v[VRF_POINT_BYTES];
    const uint8_t *points[5] = {y, h, gamma, u, v};
    int rc = CONS_EINVAL;
    vrf_nonce(prefix, h, k);
    if (util_ed25519_scalarmult_base(u, k) != 0) {
        goto out_wipe;
    }
    util_edwards_point product;
    util_edwards_mul(&product, k, h_point);
    util_edwards_encode(v, &product);
    vrf_challenge(points, c);
    util_ed25519_scalar_mul(cx, c, x);
    memcpy(proof_out, gamma, VRF_POINT_BYTES);
    memcpy(proof_out + VRF_POINT_BYTES, c, VRF_C_BYTES);
    util_ed25519_scalar_add(proof_out + VRF_POINT_BYTES + VRF_C_BYTES, k, cx);
    rc = 0;
out_wipe:
    util_memzero(cx, sizeof(cx));
    util_memzero(k, sizeof(k));
    return rc;
}

/* beta = SHA-512(suite || 0x03 || 8 * Gamma || 0x00) (section 5.2), from
 * 8 * Gamma. */
static void vrf_output_of(const uint8_t cleared[VRF_POINT_BYTES],
                          uint8_t beta_out[CONS_VRF_OUTPUT_BYTES])
{
    static const uint8_t front[2] = {VRF_SUITE, 0x03};
    static const uint8_t back[1] = {0x00};
    util_sha512_state state;
    util_sha512_init(&state);
    util_sha512_update(&state, front, sizeof(front));
    util_sha512_update(&state, cleared, VRF_POINT_BYTES);
    util_sha512_update(&state, back, sizeof(back));
    util_sha512_final(&state, beta_out);
}

/* Steps 1 to 4 of section 5.1 for the expanded key x and Y = x * B: H (as
 * a point and encoded), Gamma = x * H (encoded) and, unless beta_out is
 * NULL, the output, the three encodings made at once. */
static int vrf_h_and_gamma(const uint8_t x[VRF_SCALAR_BYTES], const uint8_t y[VRF_POINT_BYTES],
                           const void *alpha, size_t alpha_size, util_edwards_point *h_point,
                           uint8_t h_out[VRF_POINT_BYTES], uint8_t gamma_out[VRF_POINT_BYTES],
                           uint8_t beta_out[CONS_VRF_OUTPUT_BYTES])
{
    if (vrf_encode_to_curve(y, alpha, alpha_size, h_point) != 0) {
        return CONS_EINVAL;
    }
    util_edwards_point gamma_point, cleared_point;
    util_edwards_mul(&gamma_point, x, h_point);
    util_edwards_mul_cofactor(&cleared_point, &gamma_point);
    const util_edwards_point *points[3] = {h_point, &gamma_point, &cleared_point};
    uint8_t encoded[3][VRF_POINT_BYTES];
    util_edwards_encode_many(encoded, points, beta_out != NULL ? 3 : 2);
    memcpy(h_out, encoded[0], VRF_POINT_BYTES);
    memcpy(gamma_out, encoded[1], VRF_POINT_BYTES);
    if (beta_out != NULL) {
        vrf_output_of(encoded[2], beta_out);
    }
    return 0;
}

int cons_vrf_prove(const uint8_t secret_key[CONS_VRF_SECRET_KEY_BYTES], const void *alpha,
                   size_t alpha_size, uint8_t proof_out[CONS_VRF_PROOF_BYTES])
{
    ASSERT(secret_key != NULL && proof_out != NULL);
    ASSERT(alpha != NULL || alpha_size == 0);
    uint8_t x[VRF_SCALAR_BYTES], prefix[32], y[VRF_POINT_BYTES], h[VRF_POINT_BYTES];
    uint8_t gamma[VRF_POINT_BYTES];
    util_edwards_point h_point;
    int rc = CONS_EINVAL;
    vrf_expand(secret_key, x, prefix);
    if (util_ed25519_scalarmult_base(y, x) == 0 &&
        vrf_h_and_gamma(x, y, alpha, alpha_size, &h_point, h, gamma, NULL) == 0) {
        rc = vrf_prove_from(x, prefix, y, &h_point, h, gamma, proof_out);
    }
    util_memzero(x, sizeof(x));
    util_memzero(prefix, sizeof(prefix));
    return rc;
}

int cons_vrf_prove_h(const uint8_t secret_key[CONS_VRF_SECRET_KEY_BYTES],
                     const uint8_t public_key[CONS_VRF_PUBLIC_KEY_BYTES],
                     const uint8_t h[CONS_VRF_H_BYTES], const uint8_t gamma[CONS_VRF_GAMMA_BYTES],
                     uint8_t proof_out[CONS_VRF_PROOF_BYTES])
{
    ASSERT(secret_key != NULL && public_key != NULL && h != NULL && gamma != NULL &&
           proof_out != NULL);
    uint8_t x[VRF_SCALAR_BYTES], prefix[32];
    util_edwards_point h_point;
    int rc = CONS_EINVAL;
    vrf_expand(secret_key, x, prefix);
    if (util_edwards_decode(&h_point, h)) {
        rc = vrf_prove_from(x, prefix, public_key, &h_point, h, gamma, proof_out);
    }
    util_memzero(x, sizeof(x));
    util_memzero(prefix, sizeof(prefix));
    return rc;
}

/* Section 5.3 step 2 asks that the key Y and Gamma be valid points:
 * libsodium's test (crypto_core_ed25519_is_valid_point), a canonical
 * encoding of a point of the prime-order subgroup other than the identity.
 * Bytes equal to 'known' (NULL or a point known to be in the subgroup)
 * skip the subgroup test: its answer for them is known. */
static bool vrf_point_valid(util_edwards_point *p, const uint8_t bytes[VRF_POINT_BYTES],
                            const uint8_t *known)
{
    return util_edwards_decode(p, bytes) && !util_edwards_is_identity(p) &&
           ((known != NULL && util_bytes_equal(bytes, known, VRF_POINT_BYTES)) ||
            util_edwards_in_prime_subgroup(p));
}

/* beta from a valid Gamma: the hash of 8 * Gamma. */
static void vrf_output_of_gamma(const util_edwards_point *gamma,
                                uint8_t beta_out[CONS_VRF_OUTPUT_BYTES])
{
    util_edwards_point cleared_point;
    uint8_t cleared[VRF_POINT_BYTES];
    util_edwards_mul_cofactor(&cleared_point, gamma);
    util_edwards_encode(cleared, &cleared_point);
    vrf_output_of(cleared, beta_out);
}

int cons_vrf_proof_to_hash(const uint8_t proof[CONS_VRF_PROOF_BYTES],
                           uint8_t beta_out[CONS_VRF_OUTPUT_BYTES])
{
    ASSERT(proof != NULL && beta_out != NULL);
    util_edwards_point gamma;
    if (!vrf_point_valid(&gamma, proof, NULL)) {
        return CONS_EINVAL;
    }
    vrf_output_of_gamma(&gamma, beta_out);
    return 0;
}

/* The output of (x, Y = x * B) on alpha, with H and Gamma. */
static int vrf_output_from(const uint8_t x[VRF_SCALAR_BYTES], const uint8_t y[VRF_POINT_BYTES],
                           const void *alpha, size_t alpha_size, uint8_t h_out[CONS_VRF_H_BYTES],
                           uint8_t gamma_out[CONS_VRF_GAMMA_BYTES],
                           uint8_t beta_out[CONS_VRF_OUTPUT_BYTES])
{
    util_edwards_point h_point;
    return vrf_h_and_gamma(x, y, alpha, alpha_size, &h_point, h_out, gamma_out, beta_out);
}

int cons_vrf_output(const uint8_t secret_key[CONS_VRF_SECRET_KEY_BYTES], const void *alpha,
                    size_t alpha_size, uint8_t beta_out[CONS_VRF_OUTPUT_BYTES])
{
    ASSERT(secret_key != NULL && beta_out != NULL);
    ASSERT(alpha != NULL || alpha_size == 0);
    uint8_t x[VRF_SCALAR_BYTES], prefix[32], y[VRF_POINT_BYTES];
    uint8_t h[CONS_VRF_H_BYTES], gamma[CONS_VRF_GAMMA_BYTES];
    int rc = CONS_EINVAL;
    vrf_expand(secret_key, x, prefix);
    if (util_ed25519_scalarmult_base(y, x) == 0) {
        rc = vrf_output_from(x, y, alpha, alpha_size, h, gamma, beta_out);
    }
    util_memzero(x, sizeof(x));
    util_memzero(prefix, sizeof(prefix));
    return rc;
}

int cons_vrf_output_h(const uint8_t secret_key[CONS_VRF_SECRET_KEY_BYTES],
                      const uint8_t public_key[CONS_VRF_PUBLIC_KEY_BYTES], const void *alpha,
                      size_t alpha_size, uint8_t h_out[CONS_VRF_H_BYTES],
                      uint8_t gamma_out[CONS_VRF_GAMMA_BYTES],
                      uint8_t beta_out[CONS_VRF_OUTPUT_BYTES])
{
    ASSERT(secret_key != NULL && public_key != NULL && h_out != NULL && gamma_out != NULL &&
           beta_out != NULL);
    ASSERT(alpha != NULL || alpha_size == 0);
    uint8_t x[VRF_SCALAR_BYTES], prefix[32];
    vrf_expand(secret_key, x, prefix);
    int rc = vrf_output_from(x, public_key, alpha, alpha_size, h_out, gamma_out, beta_out);
    util_memzero(x, sizeof(x));
    util_memzero(prefix, sizeof(prefix));
    return rc;
}

/* s < L, compared from the most significant byte (section 5.4.4). */
static bool vrf_scalar_canonical(const uint8_t s[VRF_SCALAR_BYTES])
{
    for (int i = VRF_SCALAR_BYTES - 1; i >= 0; i--) {
        if (s[i] != vrf_order[i]) {
            return s[i] < vrf_order[i];
        }
    }
    return false; /* s == L */
}

bool cons_vrf_key_valid(const uint8_t public_key[CONS_VRF_PUBLIC_KEY_BYTES])
{
    ASSERT(public_key != NULL);
    util_edwards_point y;
    return vrf_point_valid(&y, public_key, NULL);
}

/* Section 5.3 steps 4 to 9 for a key Y, H and a proof, Y and H decoded
 * (and Y valid): Gamma (unless it is 'known_gamma', vrf_point_valid) and
 * s are tested here. */
static bool vrf_verify_from(const uint8_t public_key[VRF_POINT_BYTES],
                            const util_edwards_point *y_point, const uint8_t h[VRF_POINT_BYTES],
                            const util_edwards_point *h_point, const uint8_t *known_gamma,
                            const uint8_t proof[CONS_VRF_PROOF_BYTES],
                            uint8_t beta_out[CONS_VRF_OUTPUT_BYTES])
{
    const uint8_t *gamma = proof;
    const uint8_t *s = proof + VRF_POINT_BYTES + VRF_C_BYTES;
    uint8_t c[VRF_SCALAR_BYTES] = {0};
    memcpy(c, proof + VRF_POINT_BYTES, VRF_C_BYTES);
    util_edwards_point gamma_point;
    if (!vrf_scalar_canonical(s) || !vrf_point_valid(&gamma_point, gamma, known_gamma)) {
        return false;
    }
    /* U = s * B - c * Y and V = s * H - c * Gamma (section 5.3 steps 5
     * and 6): public values, so in variable time. 8 * Gamma, for the
     * output, is encoded with them. */
    util_edwards_point u_point, v_point, cleared_point;
    util_edwards_mul_sub_vartime(&u_point, s, NULL, c, y_point);
    util_edwards_mul_sub_vartime(&v_point, s, h_point, c, &gamma_point);
    if (beta_out != NULL) {
        util_edwards_mul_cofactor(&cleared_point, &gamma_point);
    }
    const util_edwards_point *products[3] = {&u_point, &v_point, &cleared_point};
    uint8_t encoded[3][VRF_POINT_BYTES];
    util_edwards_encode_many(encoded, products, beta_out != NULL ? 3 : 2);
    const uint8_t *points[5] = {public_key, h, gamma, encoded[0], encoded[1]};
    uint8_t expected[VRF_SCALAR_BYTES];
    vrf_challenge(points, expected);
    if (!util_bytes_equal(expected, c, VRF_C_BYTES)) {
        return false;
    }
    if (beta_out != NULL) {
        vrf_output_of(encoded[2], beta_out);
    }
    return true;
}

bool cons_vrf_verify(const uint8_t public_key[CONS_VRF_PUBLIC_KEY_BYTES], const void *alpha,
                     size_t alpha_size, const uint8_t proof[CONS_VRF_PROOF_BYTES],
                     uint8_t beta_out[CONS_VRF_OUTPUT_BYTES])
{
    ASSERT(public_key != NULL && proof != NULL);
    ASSERT(alpha != NULL || alpha_size == 0);
    uint8_t h[VRF_POINT_BYTES];
    util_edwards_point y_point, h_point;
    if (!vrf_point_valid(&y_point, public_key, NULL) ||
        vrf_encode_to_curve(public_key, alpha, alpha_size, &h_point) != 0) {
        return false;
    }
    util_edwards_encode(h, &h_point);
    return vrf_verify_from(public_key, &y_point, h, &h_point, NULL, proof, beta_out);
}

bool cons_vrf_verify_h(const uint8_t public_key[CONS_VRF_PUBLIC_KEY_BYTES],
                       const uint8_t h[CONS_VRF_H_BYTES],
                       const uint8_t known_gamma[CONS_VRF_GAMMA_BYTES],
                       const uint8_t proof[CONS_VRF_PROOF_BYTES],
                       uint8_t beta_out[CONS_VRF_OUTPUT_BYTES])
{
    ASSERT(public_key != NULL && h != NULL && proof != NULL);
    util_edwards_point y_point, h_point;
    return util_edwards_decode(&y_point, public_key) && util_edwards_decode(&h_point, h) &&
           vrf_verify_from(public_key, &y_point, h, &h_point, known_gamma, proof, beta_out);
}

static void vrf_store_le(uint8_t *out, uint64_t value, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

void cons_vrf_epoch_alpha(uint64_t run_seed, uint64_t epoch, uint8_t alpha_out[CONS_BEACON_BYTES])
{
    ASSERT(alpha_out != NULL);
    uint8_t input[sizeof(vrf_epoch_domain) + 16];
    memcpy(input, vrf_epoch_domain, sizeof(vrf_epoch_domain)); /* includes the NUL */
    vrf_store_le(input + sizeof(vrf_epoch_domain), run_seed, 8);
    vrf_store_le(input + sizeof(vrf_epoch_domain) + 8, epoch, 8);
    util_hash256(input, sizeof(input), alpha_out);
}

double cons_vrf_uniform(const uint8_t beta[CONS_VRF_OUTPUT_BYTES],
                        const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment)
{
    ASSERT(beta != NULL && beacon != NULL);
    uint8_t segment_le[4];
    vrf_store_le(segment_le, segment, 4);
    util_hash256_state state;
    util_hash256_init(&state);
    util_hash256_update(&state, vrf_ticket_domain, sizeof(vrf_ticket_domain));
    util_hash256_update(&state, beta, CONS_VRF_OUTPUT_BYTES);
    util_hash256_update(&state, beacon, CONS_BEACON_BYTES);
    util_hash256_update(&state, segment_le, sizeof(segment_le));
    uint8_t digest[UTIL_HASH256_BYTES];
    util_hash256_final(&state, digest);
    return cons__sortition_uniform_of(digest);
}

/* The input cons_vrf_uniform hashes: one BLAKE2b block. */
#define VRF_TICKET_INPUT_BYTES \
    (sizeof(vrf_ticket_domain) + CONS_VRF_OUTPUT_BYTES + CONS_BEACON_BYTES + 4)
#define VRF_TICKET_CHUNK 32u
_Static_assert(VRF_TICKET_INPUT_BYTES <= 128, "a ticket's input is one BLAKE2b block");

void cons_vrf_uniform_many(const uint8_t *const *betas, size_t count,
                           const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                           double *uniforms_out)
{
    ASSERT(beacon != NULL);
    ASSERT((betas != NULL && uniforms_out != NULL) || count == 0);
    uint8_t suffix[CONS_BEACON_BYTES + 4];
    memcpy(suffix, beacon, CONS_BEACON_BYTES);
    vrf_store_le(suffix + CONS_BEACON_BYTES, segment, 4);
    util_hash_batch batch = {.prefix = (const uint8_t *)vrf_ticket_domain,
                             .prefix_size = sizeof(vrf_ticket_domain),
                             .item_size = CONS_VRF_OUTPUT_BYTES,
                             .suffix = suffix,
                             .suffix_size = sizeof(suffix)};
    uint64_t heads[VRF_TICKET_CHUNK];
    for (size_t first = 0; first < count; first += VRF_TICKET_CHUNK) {
        size_t chunk = count - first < VRF_TICKET_CHUNK ? count - first : VRF_TICKET_CHUNK;
        batch.items = betas + first;
        util_hash256_heads(&batch, chunk, heads);
        for (size_t j = 0; j < chunk; j++) {
            uniforms_out[first + j] = cons__sortition_uniform_of_head(heads[j]);
        }
    }
}
