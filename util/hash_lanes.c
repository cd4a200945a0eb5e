/* hash_lanes.c -- BLAKE2b-256 of many short inputs at once (util/hash.h):
 * one compression per input, eight inputs side by side in the lanes of a
 * vector, so the twelve rounds run once for eight digests. It is RFC 7693's
 * BLAKE2b, unkeyed, with a 32-byte digest, for inputs of one block (at most
 * 128 bytes); the result is bit for bit what util_hash256 (libsodium)
 * gives, which tests/test_util.c checks on random inputs of every size.
 * Committee sortition hashes every candidate for every draw, and this is
 * where that time goes.
 *
 * The vectors are GCC's generic vector extension: on a host with AVX-512 or
 * AVX2 the function is cloned for them (target_clones), elsewhere the
 * compiler splits the vectors into what the target has. Integer arithmetic
 * only, so every clone gives the same bits. */
#include <string.h>

#include "util/assert.h"
#include "util/hash.h"

#define HASH_LANES 8u
#define HASH_BLOCK_BYTES 128u

typedef uint64_t hash_lanes_vector __attribute__((vector_size(HASH_LANES * 8)));

static const uint64_t hash_lanes_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t hash_lanes_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

#define HASH_ROTR(x, n) (((x) >> (n)) | ((x) << (64 - (n))))
#define HASH_G(r, i, a, b, c, d)                                              \
    do {                                                                      \
        a = a + b + m[hash_lanes_sigma[r][2 * (i)]];                          \
        d = HASH_ROTR(d ^ a, 32);                                             \
        c = c + d;                                                            \
        b = HASH_ROTR(b ^ c, 24);                                             \
        a = a + b + m[hash_lanes_sigma[r][2 * (i) + 1]];                      \
        d = HASH_ROTR(d ^ a, 16);                                             \
        c = c + d;                                                            \
        b = HASH_ROTR(b ^ c, 63);                                             \
    } while (0)

static uint64_t hash_lanes_load64(const uint8_t *bytes, size_t available)
{
    uint64_t word = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (available >= 8) {
        memcpy(&word, bytes, 8);
        return word;
    }
#endif
    size_t count = available < 8 ? available : 8;
    for (size_t i = 0; i < count; i++) {
        word |= (uint64_t)bytes[i] << (8 * i);
    }
    return word;
}

/* The message words of eight inputs, lane by lane, each vector built from
 * its lanes' loads straight from the inputs (no block copied first: a
 * vector loaded from eight scalar stores would wait on each of them).
 * Words past the input, and lanes past 'count', are zero. */
static inline void hash_lanes_message(const uint8_t *inputs, size_t size, size_t count,
                                      hash_lanes_vector m[16])
{
    size_t words = (size + 7) / 8;
    for (size_t w = 0; w < 16; w++) {
        m[w] = (hash_lanes_vector){0};
    }
    if (count == HASH_LANES) {
        for (size_t w = 0; w < words; w++) {
            size_t at = 8 * w, available = size - at;
            m[w] = (hash_lanes_vector){
                hash_lanes_load64(inputs + at, available),
                hash_lanes_load64(inputs + size + at, available),
                hash_lanes_load64(inputs + 2 * size + at, available),
                hash_lanes_load64(inputs + 3 * size + at, available),
                hash_lanes_load64(inputs + 4 * size + at, available),
                hash_lanes_load64(inputs + 5 * size + at, available),
                hash_lanes_load64(inputs + 6 * size + at, available),
                hash_lanes_load64(inputs + 7 * size + at, available)};
        }
        return;
    }
    for (size_t w = 0; w < words; w++) {
        for (size_t lane = 0; lane < count; lane++) {
            m[w][lane] = hash_lanes_load64(inputs + lane * size + 8 * w, size - 8 * w);
        }
    }
}

/* Eight inputs (lanes past 'count' are zero and their digests unused). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void hash_lanes_eight(const uint8_t *inputs, size_t size, size_t count,
                             uint64_t digest_out[HASH_LANES][4])
{
    hash_lanes_vector m[16];
    hash_lanes_message(inputs, size, count, m);
    hash_lanes_vector v[16];
    for (size_t i = 0; i < 8; i++) {
        uint64_t h = hash_lanes_iv[i] ^ (i == 0 ? 0x01010000ULL ^ UTIL_HASH256_BYTES : 0);
        v[i] = (hash_lanes_vector){0} + h;
        v[i + 8] = (hash_lanes_vector){0} + hash_lanes_iv[i];
    }
    hash_lanes_vector h0[4] = {v[0], v[1], v[2], v[3]};
    v[12] ^= (uint64_t)size;  /* the byte counter: one block */
    v[14] = ~v[14];           /* the final block */
#pragma GCC unroll 12
    for (int r = 0; r < 12; r++) {
        HASH_G(r, 0, v[0], v[4], v[8], v[12]);
        HASH_G(r, 1, v[1], v[5], v[9], v[13]);
        HASH_G(r, 2, v[2], v[6], v[10], v[14]);
        HASH_G(r, 3, v[3], v[7], v[11], v[15]);
        HASH_G(r, 4, v[0], v[5], v[10], v[15]);
        HASH_G(r, 5, v[1], v[6], v[11], v[12]);
        HASH_G(r, 6, v[2], v[7], v[8], v[13]);
        HASH_G(r, 7, v[3], v[4], v[9], v[14]);
    }
    for (size_t i = 0; i < 4; i++) {
        hash_lanes_vector out = h0[i] ^ v[i] ^ v[i + 8];
        for (size_t lane = 0; lane < HASH_LANES; lane++) {
            digest_out[lane][i] = out[lane];
        }
    }
}

/* A digest's four words, little-endian: on a little-endian host their
 * bytes as they lie. */
static void hash_lanes_store(uint8_t digest[UTIL_HASH256_BYTES], const uint64_t words[4])
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(digest, words, UTIL_HASH256_BYTES);
#else
    for (size_t i = 0; i < 4; i++) {
        for (size_t b = 0; b < 8; b++) {
            digest[8 * i + b] = (uint8_t)(words[i] >> (8 * b));
        }
    }
#endif
}

void util_hash256_many(const uint8_t *inputs, size_t size, size_t count,
                       uint8_t (*digests_out)[UTIL_HASH256_BYTES])
{
    ASSERT(size <= HASH_BLOCK_BYTES);
    ASSERT(inputs != NULL || count == 0);
    ASSERT(digests_out != NULL || count == 0);
    uint64_t words[HASH_LANES][4];
    for (size_t first = 0; first < count; first += HASH_LANES) {
        size_t lanes = count - first < HASH_LANES ? count - first : HASH_LANES;
        hash_lanes_eight(inputs + first * size, size, lanes, words);
        for (size_t lane = 0; lane < lanes; lane++) {
            hash_lanes_store(digests_out[first + lane], words[lane]);
        }
    }
}
