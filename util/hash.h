/* hash.h -- hashing, authentication, signatures and the trace hash
 * (libsodium); BLAKE2b-256 and ed25519 serve consensus/.
 * util_hash_init() must be called once per process before any other call
 * here. Trace hashing is a fast 64-bit fold, not a cryptographic digest:
 * it detects divergence between two runs, nothing more. */
#ifndef UTIL_HASH_H
#define UTIL_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTIL_MAC_KEY_BYTES 16
#define UTIL_SHA256_HEX_BYTES 65

/* Initialises libsodium. Returns 0, or -1 if libsodium cannot start. */
int util_hash_init(void);

/* SHA-256 of 'data' as 64 lowercase hex characters plus NUL. Cannot fail. */
void util_sha256_hex(const void *data, size_t size, char hex_out[UTIL_SHA256_HEX_BYTES]);

/* Derives a node's MAC key from (run_seed, node_id) with BLAKE2b. Cannot fail. */
void util_mac_key_derive(uint64_t run_seed, uint32_t node_id,
                         uint8_t key_out[UTIL_MAC_KEY_BYTES]);

/* 64-bit keyed MAC (SipHash-2-4 via crypto_shorthash). Cannot fail. */
uint64_t util_mac64(const uint8_t key[UTIL_MAC_KEY_BYTES], const void *data, size_t size);

/* Running trace hash: fold one event into 'hash'. Order-sensitive. */
static inline uint64_t util_trace_fold(uint64_t hash, uint64_t a, uint64_t b, uint64_t c)
{
    hash ^= a + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
    hash *= 0xff51afd7ed558ccdULL;
    hash ^= b + 0xc4ceb9fe1a85ec53ULL + (hash << 6) + (hash >> 2);
    hash *= 0xff51afd7ed558ccdULL;
    hash ^= c + (hash >> 29);
    return hash;
}

/* ---- BLAKE2b-256 and ed25519 (added for consensus/) ---- */

#define UTIL_HASH256_BYTES 32
#define UTIL_SIGN_PUBLIC_KEY_BYTES 32
#define UTIL_SIGN_SECRET_KEY_BYTES 64
#define UTIL_SIGNATURE_BYTES 64

/* Incremental BLAKE2b-256 state; the storage holds a libsodium
 * crypto_generichash_state (hash.c checks size and alignment). */
typedef struct util_hash256_state {
    _Alignas(64) unsigned char opaque[384];
} util_hash256_state;

/* BLAKE2b with a 32-byte digest, unkeyed. Cannot fail. */
void util_hash256(const void *data, size_t size, uint8_t out[UTIL_HASH256_BYTES]);

/* BLAKE2b-256 of the concatenation a || b, without copying. Cannot fail. */
void util_hash256_pair(const void *a, size_t a_size, const void *b, size_t b_size,
                       uint8_t out[UTIL_HASH256_BYTES]);

/* Many one-block inputs that differ only in one run of bytes, the item:
 * input i is prefix || items[i] (item_size bytes) || suffix, at most 128
 * bytes in all (one BLAKE2b block). */
typedef struct util_hash_batch {
    const uint8_t *prefix;
    size_t prefix_size;
    const uint8_t *const *items;
    size_t item_size;
    const uint8_t *suffix;
    size_t suffix_size;
} util_hash_batch;

/* heads_out[i], for i < count: the first 8 bytes, read little-endian, of
 * util_hash256 of the batch's input i -- what a lottery ticket needs of
 * a digest. Eight inputs at a time in vector lanes (hash_lanes.c); the
 * same bits as util_hash256. Cannot fail. */
void util_hash256_heads(const util_hash_batch *batch, size_t count, uint64_t *heads_out);

/* Incremental BLAKE2b-256: init, any number of updates, final. The result
 * equals util_hash256 of the concatenated updates. Cannot fail. */
void util_hash256_init(util_hash256_state *state);
void util_hash256_update(util_hash256_state *state, const void *data, size_t size);
void util_hash256_final(util_hash256_state *state, uint8_t out[UTIL_HASH256_BYTES]);

/* Deterministic ed25519 key pair of node 'node_id' in run 'run_seed': the
 * 32-byte seed is BLAKE2b-256 of a domain tag, run_seed and node_id
 * (little-endian), fed to crypto_sign_seed_keypair. Cannot fail. */
void util_sign_keypair_from_seed(uint64_t run_seed, uint32_t node_id,
                                 uint8_t public_key_out[UTIL_SIGN_PUBLIC_KEY_BYTES],
                                 uint8_t secret_key_out[UTIL_SIGN_SECRET_KEY_BYTES]);

/* Detached ed25519 signature of 'message' (deterministic, RFC 8032).
 * Cannot fail. */
void util_sign(const uint8_t secret_key[UTIL_SIGN_SECRET_KEY_BYTES], const void *message,
               size_t size, uint8_t signature_out[UTIL_SIGNATURE_BYTES]);

/* True iff 'signature' is a valid ed25519 signature of 'message' under
 * 'public_key'. Safe on arbitrary (peer) input. */
bool util_sign_verify(const uint8_t public_key[UTIL_SIGN_PUBLIC_KEY_BYTES], const void *message,
                      size_t size, const uint8_t signature[UTIL_SIGNATURE_BYTES]);

/* A memo of signatures found valid, so that a triple (public key,
 * message, signature) that many verifiers check -- one quorum certificate
 * at every replica of a simulated validator set, one member's signed
 * commitment at every validator -- costs one ed25519 verification. The
 * answer is the one util_sign_verify gives: a triple is known by BLAKE2b-256
 * over its three parts and the message's length (another triple with the
 * same key would be a BLAKE2b collision), and only valid triples are kept,
 * so an invalid one is verified every time. Fixed size: a triple replaces
 * whatever held its slot. One thread's: not for concurrent use. */
typedef struct util_sign_memo util_sign_memo;

/* A memo of 'slots' triples (rounded up to a power of two, at least 1).
 * Returns 0 and *out, or -1 when out of memory. */
int util_sign_memo_create(uint32_t slots, util_sign_memo **out);
/* NULL is a no-op. */
void util_sign_memo_destroy(util_sign_memo *memo);
/* util_sign_verify, answered from 'memo' when it holds the triple (NULL:
 * always verified). */
bool util_sign_verify_memo(util_sign_memo *memo,
                           const uint8_t public_key[UTIL_SIGN_PUBLIC_KEY_BYTES],
                           const void *message, size_t size,
                           const uint8_t signature[UTIL_SIGNATURE_BYTES]);
/* Verifications answered from the memo, and verifications run. */
uint64_t util_sign_memo_hits(const util_sign_memo *memo);
uint64_t util_sign_memo_verified(const util_sign_memo *memo);

/* ---- random keys (the testbed's key files) ---- */

#define UTIL_KX_PUBLIC_KEY_BYTES 32
#define UTIL_KX_SECRET_KEY_BYTES 32

/* 'size' bytes from the operating system's CSPRNG (randombytes_buf). Not
 * for sim/ or node/: their randomness is a seeded util_prng. Cannot fail. */
void util_random_bytes(void *out, size_t size);

/* A fresh ed25519 key pair from util_random_bytes. Cannot fail. */
void util_sign_keypair_random(uint8_t public_key_out[UTIL_SIGN_PUBLIC_KEY_BYTES],
                              uint8_t secret_key_out[UTIL_SIGN_SECRET_KEY_BYTES]);

/* A fresh X25519 key pair (crypto_kx_keypair). Cannot fail. */
void util_kx_keypair_random(uint8_t public_key_out[UTIL_KX_PUBLIC_KEY_BYTES],
                            uint8_t secret_key_out[UTIL_KX_SECRET_KEY_BYTES]);

/* The MAC key of the link between two nodes, which only they can compute:
 * BLAKE2b (crypto_generichash, 16-byte output) over a domain tag, the X25519
 * shared secret of 'own_secret' and 'peer_public', and both public keys in
 * a fixed order (the smaller first), so both ends derive the same key.
 * Returns 0, or -1 when the peer's key is a low-order point (all-zero
 * shared secret): a peer's input, refused rather than asserted. */
int util_kx_link_key(const uint8_t own_secret[UTIL_KX_SECRET_KEY_BYTES],
                     const uint8_t own_public[UTIL_KX_PUBLIC_KEY_BYTES],
                     const uint8_t peer_public[UTIL_KX_PUBLIC_KEY_BYTES],
                     uint8_t key_out[UTIL_MAC_KEY_BYTES]);

/* Overwrites 'size' bytes with zeros in a way the compiler keeps
 * (sodium_memzero). Cannot fail. */
void util_memzero(void *data, size_t size);

/* Constant-time equality of two byte strings of 'size' bytes. */
bool util_bytes_equal(const void *a, const void *b, size_t size);

/* ---- SHA-512 and the edwards25519 group (for consensus/cons_vrf.c) ----
 * Thin wrappers over libsodium's crypto_hash_sha512 and crypto_core_ed25519
 * / crypto_scalarmult_ed25519 primitives, so consensus/ can build RFC 9381's
 * ECVRF without including a third-party header. The VRF uses SHA-512, the
 * scalar operations and the fixed-base multiplication; its other curve
 * arithmetic is util/edwards.h, which the tests compare with the point
 * operations here (libsodium's, which test their points on every call).
 * Points are 32-byte RFC 8032
 * encodings, scalars 32-byte little-endian integers. Every call is safe on
 * arbitrary (peer) bytes: a bad input is a -1 or false, never an assert. */

#define UTIL_SHA512_BYTES 64
#define UTIL_ED25519_POINT_BYTES 32
#define UTIL_ED25519_SCALAR_BYTES 32

/* Incremental SHA-512; the storage holds a crypto_hash_sha512_state. */
typedef struct util_sha512_state {
    _Alignas(16) unsigned char opaque[224];
} util_sha512_state;

void util_sha512_init(util_sha512_state *state);
void util_sha512_update(util_sha512_state *state, const void *data, size_t size);
void util_sha512_final(util_sha512_state *state, uint8_t out[UTIL_SHA512_BYTES]);

/* True iff 'point' is a canonical encoding of a point of the prime-order
 * subgroup other than a small-order point (crypto_core_ed25519_is_valid_point). */
bool util_ed25519_point_valid(const uint8_t point[UTIL_ED25519_POINT_BYTES]);

/* r = p + q and r = p - q for any points on the curve (small order and
 * mixed order included). -1 when p or q does not decode to a curve point;
 * the result is re-encoded canonically. */
int util_ed25519_point_add(uint8_t r[UTIL_ED25519_POINT_BYTES],
                           const uint8_t p[UTIL_ED25519_POINT_BYTES],
                           const uint8_t q[UTIL_ED25519_POINT_BYTES]);
int util_ed25519_point_sub(uint8_t r[UTIL_ED25519_POINT_BYTES],
                           const uint8_t p[UTIL_ED25519_POINT_BYTES],
                           const uint8_t q[UTIL_ED25519_POINT_BYTES]);

/* q = n * p without clamping, for p valid (util_ed25519_point_valid) and
 * n < 2^255. -1 when p is not valid, n is zero or the result is the
 * identity. */
int util_ed25519_scalarmult(uint8_t q[UTIL_ED25519_POINT_BYTES],
                            const uint8_t n[UTIL_ED25519_SCALAR_BYTES],
                            const uint8_t p[UTIL_ED25519_POINT_BYTES]);
/* q = n * B (the base point) without clamping; -1 when n is zero (mod L). */
int util_ed25519_scalarmult_base(uint8_t q[UTIL_ED25519_POINT_BYTES],
                                 const uint8_t n[UTIL_ED25519_SCALAR_BYTES]);

/* Scalar arithmetic modulo L = 2^252 + 27742317777372353535851937790883648493.
 * reduce takes a 64-byte integer. Cannot fail. */
void util_ed25519_scalar_reduce(uint8_t r[UTIL_ED25519_SCALAR_BYTES],
                                const uint8_t s[UTIL_SHA512_BYTES]);
void util_ed25519_scalar_mul(uint8_t z[UTIL_ED25519_SCALAR_BYTES],
                             const uint8_t x[UTIL_ED25519_SCALAR_BYTES],
                             const uint8_t y[UTIL_ED25519_SCALAR_BYTES]);
void util_ed25519_scalar_add(uint8_t z[UTIL_ED25519_SCALAR_BYTES],
                             const uint8_t x[UTIL_ED25519_SCALAR_BYTES],
                             const uint8_t y[UTIL_ED25519_SCALAR_BYTES]);

#endif
