/* edwards.h -- the edwards25519 group (RFC 8032's twisted Edwards form of
 * Curve25519) as points kept in extended coordinates, for the parts of
 * RFC 9381's ECVRF that libsodium does not offer: a multiplication that
 * does not test its point again, a variable-time a * P + b * Q for
 * verification, and the cofactor's doublings without re-encoding. libsodium
 * (util/hash.h) keeps SHA-512, the scalars modulo L and the fixed-base
 * multiplication. Encodings are RFC 8032's 32 bytes; scalars are 32-byte
 * little-endian integers below 2^253 (reduced modulo L). Every function is
 * safe on arbitrary bytes: decoding is the only one that reads them, and it
 * says no rather than asserting. */
#ifndef UTIL_EDWARDS_H
#define UTIL_EDWARDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTIL_EDWARDS_BYTES 32

/* An element of GF(2^255 - 19) in five 51-bit limbs (not reduced). */
typedef struct util_edwards_fe {
    uint64_t v[5];
} util_edwards_fe;

/* A point (X : Y : Z : T) with x = X / Z, y = Y / Z and x * y = T / Z. */
typedef struct util_edwards_point {
    util_edwards_fe x, y, z, t;
} util_edwards_point;

/* RFC 8032 section 5.1.3 decoding: false when y >= p, when no x solves
 * the curve equation, or when x = 0 with the sign bit set. Any point of
 * the curve decodes, small order and mixed order included. */
bool util_edwards_decode(util_edwards_point *p, const uint8_t bytes[UTIL_EDWARDS_BYTES]);

/* The canonical encoding of p. */
void util_edwards_encode(uint8_t bytes[UTIL_EDWARDS_BYTES], const util_edwards_point *p);

/* Up to UTIL_EDWARDS_ENCODE_MAX encodings for the price of one inversion
 * (and six multiplications a point): bytes[i] encodes points[i]. */
#define UTIL_EDWARDS_ENCODE_MAX 4
void util_edwards_encode_many(uint8_t (*bytes)[UTIL_EDWARDS_BYTES],
                              const util_edwards_point *const *points, size_t count);
bool util_edwards_is_identity(const util_edwards_point *p);

/* True iff L * p is the identity. Variable time: public points only. */
bool util_edwards_in_prime_subgroup(const util_edwards_point *p);

/* r = 8 * p, by three doublings. */
void util_edwards_mul_cofactor(util_edwards_point *r, const util_edwards_point *p);

/* r = n * p in constant time (fixed signed 4-bit windows), for secret
 * scalars. p is not tested: the caller knows it is a point of the curve. */
void util_edwards_mul(util_edwards_point *r, const uint8_t n[UTIL_EDWARDS_BYTES],
                      const util_edwards_point *p);

/* r = a * p - b * q, p NULL meaning the base point, in variable time
 * (sliding windows over both scalars at once, their doublings shared):
 * public scalars and points only. For the base point the doublings run to
 * the longer of b and a's 128-bit halves (a table of 2^128 B is made once,
 * on first use, and shared by every thread). */
void util_edwards_mul_sub_vartime(util_edwards_point *r, const uint8_t a[UTIL_EDWARDS_BYTES],
                                  const util_edwards_point *p,
                                  const uint8_t b[UTIL_EDWARDS_BYTES],
                                  const util_edwards_point *q);

#endif
