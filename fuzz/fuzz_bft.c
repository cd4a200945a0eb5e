/* fuzz_bft.c -- the BFT ledger replica (consensus/cons_bft.h's section of
 * consensus/cons.h) on hostile validator messages:
 *   cons_bft_on_message(replica, now_ns, from, bytes, size)
 * Four validators with MACs (fixed keys from a fixed seed). Replica 3 is
 * started fresh for every input. Byte 0 picks the sender (low two bits;
 * bit 2 set: a non-validator) and a base message, one of the honest ones
 * recorded once at start-up (replica 1's proposal of view 1, the view-1
 * timeouts of replicas 0, 1 and 2); the rest of the input is XORed over the
 * base (and extends it), so mutations of valid messages reach the checks
 * behind the decoder. Then the intact base messages follow, and the
 * replica's own invariants (cons_bft_check) must hold throughout: a
 * violation aborts, which is the finding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/cons.h"
#include "fuzz/fuzz.h"
#include "util/hash.h"

#define BFT_FUZZ_VALIDATORS 4
#define BFT_FUZZ_BASES 4
#define BFT_FUZZ_MS 1000000ULL

static cons_bft_validators bft_validators;
static uint8_t bft_secret_keys[BFT_FUZZ_VALIDATORS][64];
static uint8_t *bft_memory[BFT_FUZZ_VALIDATORS];
static uint8_t bft_base[BFT_FUZZ_BASES][CONS_BFT_MESSAGE_BYTES_MAX];
static size_t bft_base_size[BFT_FUZZ_BASES];
static uint32_t bft_base_from[BFT_FUZZ_BASES];
static uint8_t bft_input[CONS_BFT_MESSAGE_BYTES_MAX];

static cons_bft_replica *bft_fuzz_replica(uint32_t self)
{
    cons_bft_config config = {.self = self, .auth = CONS_BFT_AUTH_MAC,
                              .block_interval_ns = 10 * BFT_FUZZ_MS,
                              .view_timeout_ns = 100 * BFT_FUZZ_MS, .backoff_max = 3,
                              .block_txs_max = 8};
    memcpy(config.secret_key, bft_secret_keys[self], 64);
    cons_bft_replica *replica = cons_bft_replica_init(bft_memory[self], cons_bft_replica_size(),
                                                      &bft_validators, &config);
    cons_bft_submit(replica, "fuzz", 4);
    cons_bft_start(replica, 0);
    return replica;
}

/* The first effect of 'kind' of the replica's last call, or abort. */
static const cons_bft_effect *bft_fuzz_effect(const cons_bft_replica *replica,
                                              cons_bft_effect_kind kind, uint64_t at_ns)
{
    const cons_bft_effect *effects;
    size_t count = cons_bft_effects(replica, &effects);
    for (size_t i = 0; i < count; i++) {
        if (effects[i].kind == kind && (at_ns == 0 || effects[i].at_ns == at_ns)) {
            return &effects[i];
        }
    }
    fprintf(stderr, "fuzz_bft: an honest replica did not act as expected\n");
    abort();
}

static void bft_fuzz_keep(uint32_t base, uint32_t from, const cons_bft_effect *effect)
{
    memcpy(bft_base[base], effect->bytes, effect->size);
    bft_base_size[base] = effect->size;
    bft_base_from[base] = from;
}

/* Records the base messages once: a proposal and three timeouts. */
static void bft_fuzz_ready(void)
{
    static bool ready;
    if (ready) {
        return;
    }
    if (util_hash_init() != 0) {
        abort();
    }
    bft_validators.count = BFT_FUZZ_VALIDATORS;
    for (uint32_t i = 0; i < BFT_FUZZ_VALIDATORS; i++) {
        util_sign_keypair_from_seed(5, i, bft_validators.public_key[i], bft_secret_keys[i]);
        util_mac_key_derive(5, i, bft_validators.mac_key[i]);
        bft_memory[i] = malloc(cons_bft_replica_size());
        if (bft_memory[i] == NULL) {
            abort();
        }
    }
    for (uint32_t i = 0; i < 3; i++) {
        cons_bft_replica *replica = bft_fuzz_replica(i);
        uint64_t token = bft_fuzz_effect(replica, CONS_BFT_TIMER, 100 * BFT_FUZZ_MS)->token;
        if (i == 1) {
            uint64_t propose = bft_fuzz_effect(replica, CONS_BFT_TIMER, 10 * BFT_FUZZ_MS)->token;
            cons_bft_on_timer(replica, 10 * BFT_FUZZ_MS, propose);
            bft_fuzz_keep(0, 1, bft_fuzz_effect(replica, CONS_BFT_BROADCAST, 0));
        }
        cons_bft_on_timer(replica, 100 * BFT_FUZZ_MS, token);
        bft_fuzz_keep(1 + i, i, bft_fuzz_effect(replica, CONS_BFT_BROADCAST, 0));
    }
    ready = true;
}

static void bft_fuzz_deliver(cons_bft_replica *replica, uint64_t now_ns, uint32_t from,
                             const uint8_t *bytes, size_t size)
{
    (void)cons_bft_on_message(replica, now_ns, from, bytes, size);
    const char *broken = cons_bft_check(replica);
    if (broken != NULL) {
        fprintf(stderr, "fuzz_bft: invariant %s broken\n", broken);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    bft_fuzz_ready();
    uint32_t base = (data[0] >> 3) % BFT_FUZZ_BASES;
    uint32_t from = (data[0] & 4u) ? BFT_FUZZ_VALIDATORS + (data[0] & 3u) : (data[0] & 3u);
    size_t length = size - 1 > bft_base_size[base] ? size - 1 : bft_base_size[base];
    if (length > sizeof(bft_input)) {
        length = sizeof(bft_input);
    }
    memset(bft_input, 0, length);
    memcpy(bft_input, bft_base[base], bft_base_size[base]);
    for (size_t i = 0; i + 1 < size && i < length; i++) {
        bft_input[i] ^= data[1 + i];
    }
    cons_bft_replica *replica = bft_fuzz_replica(3);
    bft_fuzz_deliver(replica, 20 * BFT_FUZZ_MS, from, bft_input, length);
    for (uint32_t i = 0; i < BFT_FUZZ_BASES; i++) {
        bft_fuzz_deliver(replica, 150 * BFT_FUZZ_MS, bft_base_from[i], bft_base[i],
                         bft_base_size[i]);
    }
    return 0;
}
