/* cons_commit.c -- commit-reveal for committee outputs. A member first
 * publishes BLAKE2b-256(output || salt) and reveals (output, salt) only
 * after every commitment is in, so it cannot copy another member's output.
 * The salt is derived from a node-private secret, which keeps it
 * reproducible for the node (a restarted member recommits identically) and
 * unpredictable for everyone else. */
#include <string.h>

#include "consensus/cons.h"
#include "util/assert.h"
#include "util/hash.h"

_Static_assert(CONS_DIGEST_BYTES == UTIL_HASH256_BYTES, "a commitment is one digest");
_Static_assert(CONS_SALT_BYTES <= UTIL_HASH256_BYTES, "a salt is a digest prefix");

static const char commit_salt_domain[] = "infersim.salt.v1";

void cons_commit(const void *output, size_t size, const uint8_t salt[CONS_SALT_BYTES],
                 uint8_t digest_out[CONS_DIGEST_BYTES])
{
    ASSERT(output != NULL || size == 0);
    ASSERT(salt != NULL);
    ASSERT(digest_out != NULL);
    util_hash256_pair(output, size, salt, CONS_SALT_BYTES, digest_out);
}

void cons_commit_member(const void *output, size_t size, const uint8_t salt[CONS_SALT_BYTES],
                        uint32_t member, uint8_t digest_out[CONS_DIGEST_BYTES])
{
    ASSERT(output != NULL || size == 0);
    ASSERT(salt != NULL);
    ASSERT(digest_out != NULL);
    uint8_t id[4] = {(uint8_t)member, (uint8_t)(member >> 8), (uint8_t)(member >> 16),
                     (uint8_t)(member >> 24)};
    util_hash256_state state;
    util_hash256_init(&state);
    util_hash256_update(&state, output, size);
    util_hash256_update(&state, salt, CONS_SALT_BYTES);
    util_hash256_update(&state, id, sizeof(id));
    util_hash256_final(&state, digest_out);
}

bool cons_commit_verify(const void *output, size_t size, const uint8_t salt[CONS_SALT_BYTES],
                        const uint8_t digest[CONS_DIGEST_BYTES])
{
    ASSERT(digest != NULL);
    uint8_t expected[CONS_DIGEST_BYTES];
    cons_commit(output, size, salt, expected);
    /* Accumulate every byte's difference: no early exit on the first mismatch. */
    uint8_t differ = 0;
    for (size_t i = 0; i < CONS_DIGEST_BYTES; i++) {
        differ |= (uint8_t)(expected[i] ^ digest[i]);
    }
    return differ == 0;
}

void cons_salt_derive(const void *secret, size_t secret_size, uint64_t request_id,
                      uint32_t segment, uint32_t round, uint8_t salt_out[CONS_SALT_BYTES])
{
    ASSERT(secret != NULL || secret_size == 0);
    ASSERT(salt_out != NULL);
    uint8_t tail[16];
    for (int i = 0; i < 8; i++) {
        tail[i] = (uint8_t)(request_id >> (8 * i));
    }
    for (int i = 0; i < 4; i++) {
        tail[8 + i] = (uint8_t)(segment >> (8 * i));
        tail[12 + i] = (uint8_t)(round >> (8 * i));
    }
    util_hash256_state state;
    util_hash256_init(&state);
    util_hash256_update(&state, commit_salt_domain, sizeof(commit_salt_domain));
    util_hash256_update(&state, secret, secret_size);
    util_hash256_update(&state, tail, sizeof(tail));
    uint8_t digest[UTIL_HASH256_BYTES];
    util_hash256_final(&state, digest);
    memcpy(salt_out, digest, CONS_SALT_BYTES);
}
