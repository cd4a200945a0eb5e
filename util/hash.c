/* hash.c -- libsodium behind util/hash.h: SHA-256 for scenario and content
 * digests, BLAKE2b for deriving per-node MAC keys from the run seed, and
 * SipHash-2-4 (crypto_shorthash) as the 64-bit message authenticator. All
 * integer inputs are serialised little-endian so results do not depend on
 * the host. */
#include "util/hash.h"

#include <sodium.h>
#include <string.h>

#include "util/assert.h"

_Static_assert(UTIL_MAC_KEY_BYTES == crypto_shorthash_KEYBYTES,
               "a MAC key is exactly one SipHash key");
_Static_assert(crypto_shorthash_BYTES == 8, "SipHash-2-4 yields 64 bits");

static const char hash_mac_domain[] = "infersim.mac-key.v1";

int util_hash_init(void)
{
    /* 0 = initialised now, 1 = already initialised, -1 = failure. */
    return sodium_init() < 0 ? -1 : 0;
}

void util_sha256_hex(const void *data, size_t size, char hex_out[UTIL_SHA256_HEX_BYTES])
{
    ASSERT(data != NULL || size == 0);
    ASSERT(hex_out != NULL);
    static const unsigned char hash_empty[1] = {0};
    unsigned char digest[crypto_hash_sha256_BYTES];
    const unsigned char *bytes = size == 0 ? hash_empty : (const unsigned char *)data;
    crypto_hash_sha256(digest, bytes, (unsigned long long)size);
    sodium_bin2hex(hex_out, UTIL_SHA256_HEX_BYTES, digest, sizeof(digest));
}

static void hash_store_le64(uint8_t *out, uint64_t value)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

void util_mac_key_derive(uint64_t run_seed, uint32_t node_id, uint8_t key_out[UTIL_MAC_KEY_BYTES])
{
    ASSERT(key_out != NULL);
    uint8_t input[sizeof(hash_mac_domain) + 12];
    memcpy(input, hash_mac_domain, sizeof(hash_mac_domain));   /* includes the NUL */
    hash_store_le64(input + sizeof(hash_mac_domain), run_seed);
    for (int i = 0; i < 4; i++) {
        input[sizeof(hash_mac_domain) + 8 + i] = (uint8_t)(node_id >> (8 * i));
    }
    int rc = crypto_generichash(key_out, UTIL_MAC_KEY_BYTES, input, sizeof(input), NULL, 0);
    ASSERT(rc == 0);
}

uint64_t util_mac64(const uint8_t key[UTIL_MAC_KEY_BYTES], const void *data, size_t size)
{
    ASSERT(key != NULL);
    ASSERT(data != NULL || size == 0);
    static const unsigned char hash_empty[1] = {0};
    unsigned char tag[crypto_shorthash_BYTES];
    const unsigned char *bytes = size == 0 ? hash_empty : (const unsigned char *)data;
    crypto_shorthash(tag, bytes, (unsigned long long)size, key);
    uint64_t value = 0;
    for (int i = 0; i < 8; i++) {
        value |= (uint64_t)tag[i] << (8 * i);
    }
    return value;
}
