/* hash.c -- libsodium behind util/hash.h: SHA-256 for scenario and content
 * digests, BLAKE2b for deriving per-node MAC keys from the run seed, and
 * SipHash-2-4 (crypto_shorthash) as the 64-bit message authenticator;
 * BLAKE2b-256 digests and deterministic ed25519 keys for consensus/. All
 * integer inputs are serialised little-endian so results do not depend on
 * the host. */
#include "util/hash.h"

#include <sodium.h>
#include <string.h>

#include "util/alloc.h"
#include "util/assert.h"
#include "util/bytes.h"

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

/* ---- BLAKE2b-256 and ed25519 ---- */

_Static_assert(UTIL_HASH256_BYTES == crypto_generichash_BYTES, "BLAKE2b-256 digest size");
_Static_assert(sizeof(crypto_generichash_state) <= sizeof(util_hash256_state),
               "util_hash256_state holds a crypto_generichash_state");
_Static_assert(_Alignof(crypto_generichash_state) <= _Alignof(util_hash256_state),
               "util_hash256_state is aligned for crypto_generichash_state");
_Static_assert(UTIL_SIGN_PUBLIC_KEY_BYTES == crypto_sign_PUBLICKEYBYTES, "ed25519 public key");
_Static_assert(UTIL_SIGN_SECRET_KEY_BYTES == crypto_sign_SECRETKEYBYTES, "ed25519 secret key");
_Static_assert(UTIL_SIGNATURE_BYTES == crypto_sign_BYTES, "ed25519 signature");
_Static_assert(UTIL_HASH256_BYTES == crypto_sign_SEEDBYTES, "a digest is one ed25519 seed");

static const char hash_sign_domain[] = "infersim.sign-key.v1";

static crypto_generichash_state *hash_state_of(util_hash256_state *state)
{
    return (crypto_generichash_state *)(void *)state->opaque;
}

void util_hash256(const void *data, size_t size, uint8_t out[UTIL_HASH256_BYTES])
{
    ASSERT(data != NULL || size == 0);
    ASSERT(out != NULL);
    int rc = crypto_generichash(out, UTIL_HASH256_BYTES, (const unsigned char *)data,
                                (unsigned long long)size, NULL, 0);
    ASSERT(rc == 0);
}

void util_hash256_init(util_hash256_state *state)
{
    ASSERT(state != NULL);
    int rc = crypto_generichash_init(hash_state_of(state), NULL, 0, UTIL_HASH256_BYTES);
    ASSERT(rc == 0);
}

void util_hash256_update(util_hash256_state *state, const void *data, size_t size)
{
    ASSERT(state != NULL);
    ASSERT(data != NULL || size == 0);
    if (size == 0) {
        return;
    }
    int rc = crypto_generichash_update(hash_state_of(state), (const unsigned char *)data,
                                       (unsigned long long)size);
    ASSERT(rc == 0);
}

void util_hash256_final(util_hash256_state *state, uint8_t out[UTIL_HASH256_BYTES])
{
    ASSERT(state != NULL);
    ASSERT(out != NULL);
    int rc = crypto_generichash_final(hash_state_of(state), out, UTIL_HASH256_BYTES);
    ASSERT(rc == 0);
}

void util_hash256_pair(const void *a, size_t a_size, const void *b, size_t b_size,
                       uint8_t out[UTIL_HASH256_BYTES])
{
    util_hash256_state state;
    util_hash256_init(&state);
    util_hash256_update(&state, a, a_size);
    util_hash256_update(&state, b, b_size);
    util_hash256_final(&state, out);
}

void util_sign_keypair_from_seed(uint64_t run_seed, uint32_t node_id,
                                 uint8_t public_key_out[UTIL_SIGN_PUBLIC_KEY_BYTES],
                                 uint8_t secret_key_out[UTIL_SIGN_SECRET_KEY_BYTES])
{
    ASSERT(public_key_out != NULL);
    ASSERT(secret_key_out != NULL);
    uint8_t input[sizeof(hash_sign_domain) + 12];
    memcpy(input, hash_sign_domain, sizeof(hash_sign_domain));   /* includes the NUL */
    hash_store_le64(input + sizeof(hash_sign_domain), run_seed);
    for (int i = 0; i < 4; i++) {
        input[sizeof(hash_sign_domain) + 8 + i] = (uint8_t)(node_id >> (8 * i));
    }
    uint8_t seed[crypto_sign_SEEDBYTES];
    util_hash256(input, sizeof(input), seed);
    int rc = crypto_sign_seed_keypair(public_key_out, secret_key_out, seed);
    ASSERT(rc == 0);
    sodium_memzero(seed, sizeof(seed));
}

void util_sign(const uint8_t secret_key[UTIL_SIGN_SECRET_KEY_BYTES], const void *message,
               size_t size, uint8_t signature_out[UTIL_SIGNATURE_BYTES])
{
    ASSERT(secret_key != NULL);
    ASSERT(message != NULL || size == 0);
    ASSERT(signature_out != NULL);
    static const unsigned char hash_empty[1] = {0};
    const unsigned char *bytes = size == 0 ? hash_empty : (const unsigned char *)message;
    int rc = crypto_sign_detached(signature_out, NULL, bytes, (unsigned long long)size,
                                  secret_key);
    ASSERT(rc == 0);
}

bool util_sign_verify(const uint8_t public_key[UTIL_SIGN_PUBLIC_KEY_BYTES], const void *message,
                      size_t size, const uint8_t signature[UTIL_SIGNATURE_BYTES])
{
    ASSERT(public_key != NULL);
    ASSERT(message != NULL || size == 0);
    ASSERT(signature != NULL);
    static const unsigned char hash_empty[1] = {0};
    const unsigned char *bytes = size == 0 ? hash_empty : (const unsigned char *)message;
    return crypto_sign_verify_detached(signature, bytes, (unsigned long long)size,
                                       public_key) == 0;
}

/* ---- a memo of verified signatures ---- */

struct util_sign_memo {
    uint8_t (*keys)[UTIL_HASH256_BYTES]; /* all zero: empty */
    uint32_t mask;                       /* slots - 1 */
    uint64_t hits;
    uint64_t verified;
};

int util_sign_memo_create(uint32_t slots, util_sign_memo **out)
{
    ASSERT(out != NULL);
    uint32_t count = 1;
    while (count < slots && count < (UINT32_C(1) << 31)) {
        count <<= 1;
    }
    util_sign_memo *memo = util_calloc(1, sizeof(*memo));
    if (memo == NULL) {
        return -1;
    }
    memo->keys = util_calloc_large(count, sizeof(*memo->keys));
    if (memo->keys == NULL) {
        util_free(memo);
        return -1;
    }
    memo->mask = count - 1;
    *out = memo;
    return 0;
}

void util_sign_memo_destroy(util_sign_memo *memo)
{
    if (memo == NULL) {
        return;
    }
    util_free(memo->keys);
    util_free(memo);
}

/* BLAKE2b-256 of the message's length, the public key, the signature and
 * the message; never all zero (an empty slot). */
static void sign_memo_key(const uint8_t *public_key, const void *message, size_t size,
                          const uint8_t *signature, uint8_t key_out[UTIL_HASH256_BYTES])
{
    uint8_t length[8];
    util_put_u64(length, (uint64_t)size);
    util_hash256_state state;
    util_hash256_init(&state);
    util_hash256_update(&state, length, sizeof(length));
    util_hash256_update(&state, public_key, UTIL_SIGN_PUBLIC_KEY_BYTES);
    util_hash256_update(&state, signature, UTIL_SIGNATURE_BYTES);
    util_hash256_update(&state, message, size);
    util_hash256_final(&state, key_out);
    key_out[0] |= 1u;
}

bool util_sign_verify_memo(util_sign_memo *memo,
                           const uint8_t public_key[UTIL_SIGN_PUBLIC_KEY_BYTES],
                           const void *message, size_t size,
                           const uint8_t signature[UTIL_SIGNATURE_BYTES])
{
    if (memo == NULL) {
        return util_sign_verify(public_key, message, size, signature);
    }
    ASSERT(public_key != NULL && signature != NULL);
    ASSERT(message != NULL || size == 0);
    uint8_t key[UTIL_HASH256_BYTES];
    sign_memo_key(public_key, size == 0 ? (const void *)"" : message, size, signature, key);
    uint8_t *slot = memo->keys[util_get_u32(key + 4) & memo->mask];
    if (memcmp(slot, key, sizeof(key)) == 0) {
        memo->hits += 1;
        return true;
    }
    memo->verified += 1;
    bool valid = util_sign_verify(public_key, message, size, signature);
    if (valid) {
        memcpy(slot, key, sizeof(key));
    }
    return valid;
}

uint64_t util_sign_memo_hits(const util_sign_memo *memo)
{
    return memo != NULL ? memo->hits : 0;
}

uint64_t util_sign_memo_verified(const util_sign_memo *memo)
{
    return memo != NULL ? memo->verified : 0;
}

/* ---- random keys ---- */

static const char hash_link_domain[] = "infersim.link-key.v1";

void util_random_bytes(void *out, size_t size)
{
    ASSERT(out != NULL || size == 0);
    randombytes_buf(out, size);
}

void util_sign_keypair_random(uint8_t public_key_out[UTIL_SIGN_PUBLIC_KEY_BYTES],
                              uint8_t secret_key_out[UTIL_SIGN_SECRET_KEY_BYTES])
{
    _Static_assert(UTIL_SIGN_SECRET_KEY_BYTES == crypto_sign_SECRETKEYBYTES, "ed25519 sk");
    int rc = crypto_sign_keypair(public_key_out, secret_key_out);
    ASSERT(rc == 0);
}

void util_kx_keypair_random(uint8_t public_key_out[UTIL_KX_PUBLIC_KEY_BYTES],
                            uint8_t secret_key_out[UTIL_KX_SECRET_KEY_BYTES])
{
    _Static_assert(UTIL_KX_PUBLIC_KEY_BYTES == crypto_kx_PUBLICKEYBYTES, "x25519 pk");
    _Static_assert(UTIL_KX_SECRET_KEY_BYTES == crypto_kx_SECRETKEYBYTES, "x25519 sk");
    int rc = crypto_kx_keypair(public_key_out, secret_key_out);
    ASSERT(rc == 0);
}

int util_kx_link_key(const uint8_t own_secret[UTIL_KX_SECRET_KEY_BYTES],
                     const uint8_t own_public[UTIL_KX_PUBLIC_KEY_BYTES],
                     const uint8_t peer_public[UTIL_KX_PUBLIC_KEY_BYTES],
                     uint8_t key_out[UTIL_MAC_KEY_BYTES])
{
    _Static_assert(UTIL_MAC_KEY_BYTES >= crypto_generichash_BYTES_MIN, "generichash output");
    uint8_t shared[crypto_scalarmult_BYTES];
    if (crypto_scalarmult(shared, own_secret, peer_public) != 0) {
        return -1;
    }
    bool own_first = memcmp(own_public, peer_public, UTIL_KX_PUBLIC_KEY_BYTES) < 0;
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, UTIL_MAC_KEY_BYTES);
    crypto_generichash_update(&state, (const uint8_t *)hash_link_domain,
                              sizeof(hash_link_domain));
    crypto_generichash_update(&state, shared, sizeof(shared));
    crypto_generichash_update(&state, own_first ? own_public : peer_public,
                              UTIL_KX_PUBLIC_KEY_BYTES);
    crypto_generichash_update(&state, own_first ? peer_public : own_public,
                              UTIL_KX_PUBLIC_KEY_BYTES);
    crypto_generichash_final(&state, key_out, UTIL_MAC_KEY_BYTES);
    sodium_memzero(shared, sizeof(shared));
    sodium_memzero(&state, sizeof(state));
    return 0;
}

void util_memzero(void *data, size_t size)
{
    sodium_memzero(data, size);
}

bool util_bytes_equal(const void *a, const void *b, size_t size)
{
    return sodium_memcmp(a, b, size) == 0;
}

/* ---- SHA-512 and the edwards25519 group ---- */

_Static_assert(UTIL_SHA512_BYTES == crypto_hash_sha512_BYTES, "SHA-512 digest size");
_Static_assert(sizeof(crypto_hash_sha512_state) <= sizeof(util_sha512_state),
               "util_sha512_state holds a crypto_hash_sha512_state");
_Static_assert(_Alignof(crypto_hash_sha512_state) <= _Alignof(util_sha512_state),
               "util_sha512_state is aligned for crypto_hash_sha512_state");
_Static_assert(UTIL_ED25519_POINT_BYTES == crypto_core_ed25519_BYTES, "point size");
_Static_assert(UTIL_ED25519_SCALAR_BYTES == crypto_core_ed25519_SCALARBYTES, "scalar size");
_Static_assert(UTIL_SHA512_BYTES == crypto_core_ed25519_NONREDUCEDSCALARBYTES,
               "reduce takes one SHA-512 digest");

static crypto_hash_sha512_state *sha512_state_of(util_sha512_state *state)
{
    ASSERT(state != NULL);
    return (crypto_hash_sha512_state *)(void *)state->opaque;
}

void util_sha512_init(util_sha512_state *state)
{
    int rc = crypto_hash_sha512_init(sha512_state_of(state));
    ASSERT(rc == 0);
}

void util_sha512_update(util_sha512_state *state, const void *data, size_t size)
{
    ASSERT(data != NULL || size == 0);
    if (size == 0) {
        return;
    }
    int rc = crypto_hash_sha512_update(sha512_state_of(state), data, (unsigned long long)size);
    ASSERT(rc == 0);
}

void util_sha512_final(util_sha512_state *state, uint8_t out[UTIL_SHA512_BYTES])
{
    ASSERT(out != NULL);
    int rc = crypto_hash_sha512_final(sha512_state_of(state), out);
    ASSERT(rc == 0);
}

bool util_ed25519_point_valid(const uint8_t point[UTIL_ED25519_POINT_BYTES])
{
    ASSERT(point != NULL);
    return crypto_core_ed25519_is_valid_point(point) == 1;
}

int util_ed25519_point_add(uint8_t r[UTIL_ED25519_POINT_BYTES],
                           const uint8_t p[UTIL_ED25519_POINT_BYTES],
                           const uint8_t q[UTIL_ED25519_POINT_BYTES])
{
    ASSERT(r != NULL && p != NULL && q != NULL);
    return crypto_core_ed25519_add(r, p, q) == 0 ? 0 : -1;
}

int util_ed25519_point_sub(uint8_t r[UTIL_ED25519_POINT_BYTES],
                           const uint8_t p[UTIL_ED25519_POINT_BYTES],
                           const uint8_t q[UTIL_ED25519_POINT_BYTES])
{
    ASSERT(r != NULL && p != NULL && q != NULL);
    return crypto_core_ed25519_sub(r, p, q) == 0 ? 0 : -1;
}

int util_ed25519_scalarmult(uint8_t q[UTIL_ED25519_POINT_BYTES],
                            const uint8_t n[UTIL_ED25519_SCALAR_BYTES],
                            const uint8_t p[UTIL_ED25519_POINT_BYTES])
{
    ASSERT(q != NULL && n != NULL && p != NULL);
    return crypto_scalarmult_ed25519_noclamp(q, n, p) == 0 ? 0 : -1;
}

int util_ed25519_scalarmult_base(uint8_t q[UTIL_ED25519_POINT_BYTES],
                                 const uint8_t n[UTIL_ED25519_SCALAR_BYTES])
{
    ASSERT(q != NULL && n != NULL);
    return crypto_scalarmult_ed25519_base_noclamp(q, n) == 0 ? 0 : -1;
}

void util_ed25519_scalar_reduce(uint8_t r[UTIL_ED25519_SCALAR_BYTES],
                                const uint8_t s[UTIL_SHA512_BYTES])
{
    ASSERT(r != NULL && s != NULL);
    crypto_core_ed25519_scalar_reduce(r, s);
}

void util_ed25519_scalar_mul(uint8_t z[UTIL_ED25519_SCALAR_BYTES],
                             const uint8_t x[UTIL_ED25519_SCALAR_BYTES],
                             const uint8_t y[UTIL_ED25519_SCALAR_BYTES])
{
    ASSERT(z != NULL && x != NULL && y != NULL);
    crypto_core_ed25519_scalar_mul(z, x, y);
}

void util_ed25519_scalar_add(uint8_t z[UTIL_ED25519_SCALAR_BYTES],
                             const uint8_t x[UTIL_ED25519_SCALAR_BYTES],
                             const uint8_t y[UTIL_ED25519_SCALAR_BYTES])
{
    ASSERT(z != NULL && x != NULL && y != NULL);
    crypto_core_ed25519_scalar_add(z, x, y);
}
