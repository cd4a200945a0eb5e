/* hash.h -- hashing, authentication and the trace hash (libsodium).
 * util_hash_init() must be called once per process before any other call
 * here. Trace hashing is a fast 64-bit fold, not a cryptographic digest:
 * it detects divergence between two runs, nothing more. */
#ifndef UTIL_HASH_H
#define UTIL_HASH_H

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

#endif
