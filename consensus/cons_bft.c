/* cons_bft.c -- a 2-chain HotStuff replica (Jolteon / DiemBFT v4 style):
 * propose, vote, certify, commit two certified views in a row, and the
 * pacemaker's timeouts and timeout certificates. The protocol is described
 * in consensus/cons.h. This file holds the replica's state (a block store,
 * a mempool, the vote and timeout collections), the wire codec of its five
 * messages and the handlers. Nothing here reads a clock, draws randomness or
 * allocates: the driver owns the memory and passes the time. */
#include <string.h>

#include "consensus/cons.h"
#include "util/assert.h"
#include "util/bytes.h"
#include "util/hash.h"

#define BFT_SIGNATURE_BYTES 64
#define BFT_MAC_KEY_BYTES 16
#define BFT_STORE_BLOCKS 256      /* also the longest gap a lagging replica can close */
#define BFT_COMMITTED_RING 1024
#define BFT_EFFECTS_MAX (CONS_BFT_VALIDATORS_MAX + 64) /* an equivocating leader sends n - 1 */
#define BFT_ARENA_BYTES (4 * CONS_BFT_MESSAGE_BYTES_MAX)
#define BFT_VOTE_CANDIDATES 4
#define BFT_TIMEOUT_SLOTS 4
#define BFT_HEADER_BYTES 13       /* type u8, sender u32, view u64 */

#define BFT_SIGNER_WORDS (CONS_BFT_VALIDATORS_MAX / 64)

_Static_assert(CONS_BFT_VALIDATORS_MAX % 64 == 0, "signer sets are whole 64-bit words");
_Static_assert(BFT_MAC_KEY_BYTES == UTIL_MAC_KEY_BYTES, "MAC keys are util_mac64 keys");
_Static_assert(BFT_SIGNATURE_BYTES == UTIL_SIGNATURE_BYTES, "signatures are ed25519");
_Static_assert(CONS_BFT_TX_BYTES_MAX <= UINT16_MAX, "transaction lengths are u16");

enum {
    BFT_MSG_PROPOSAL = 1,
    BFT_MSG_VOTE = 2,
    BFT_MSG_TIMEOUT = 3,
    BFT_MSG_BLOCK_REQUEST = 4,
    BFT_MSG_BLOCK = 5
};

enum { BFT_SIGN_PROPOSAL = 1, BFT_SIGN_VOTE = 2, BFT_SIGN_TIMEOUT = 3 };
enum { BFT_TIMER_VIEW = 0, BFT_TIMER_PROPOSE = 1 };

/* A set of validator indexes: a bitmap, validator i at bit i % 64 of word
 * i / 64. On the wire it takes ceil(n / 64) little-endian words. */
typedef struct bft_signers {
    uint64_t word[BFT_SIGNER_WORDS];
} bft_signers;

/* A quorum certificate: 2f + 1 signatures on (view, height, block id). */
typedef struct bft_qc {
    uint64_t view;
    uint64_t height;
    uint8_t block_id[CONS_BFT_ID_BYTES];
    bft_signers signers;
    uint8_t signature[CONS_BFT_VALIDATORS_MAX][BFT_SIGNATURE_BYTES];
} bft_qc;

/* A timeout certificate: 2f + 1 signatures on (view, signer's high-QC view). */
typedef struct bft_tc {
    uint64_t view;
    bft_signers signers;
    uint64_t high_qc_view[CONS_BFT_VALIDATORS_MAX];
    uint8_t signature[CONS_BFT_VALIDATORS_MAX][BFT_SIGNATURE_BYTES];
} bft_tc;

struct cons_bft_block {
    bool certified;
    uint64_t view;
    uint64_t height;
    uint64_t qc_view;                         /* the view of the parent's certificate */
    uint32_t proposer;
    uint8_t id[CONS_BFT_ID_BYTES];
    uint8_t parent_id[CONS_BFT_ID_BYTES];
    uint32_t tx_count;
    uint16_t tx_offset[CONS_BFT_BLOCK_TXS_MAX + 1];
    uint64_t tx_hash[CONS_BFT_BLOCK_TXS_MAX];
    uint8_t tx_bytes[CONS_BFT_BLOCK_BYTES_MAX];
};

typedef struct bft_pending_tx {
    uint64_t hash;
    uint16_t size;
    uint8_t bytes[CONS_BFT_TX_BYTES_MAX];
} bft_pending_tx;

typedef struct bft_vote_candidate {
    uint8_t block_id[CONS_BFT_ID_BYTES];
    uint64_t height;
    bool formed;
    bft_qc qc;                                /* the signatures gathered so far */
} bft_vote_candidate;

typedef struct bft_timeout_slot {
    bool formed;
    bft_tc tc;
} bft_timeout_slot;

/* A decoded proposal or block: the block's fields and its justification. */
typedef struct bft_proposal {
    uint32_t sender;
    uint64_t view;
    uint64_t height;
    uint32_t tx_count;
    const uint8_t *tx[CONS_BFT_BLOCK_TXS_MAX];
    uint16_t tx_size[CONS_BFT_BLOCK_TXS_MAX];
    bft_qc qc;
    bool has_tc;
    bft_tc tc;
    uint8_t signature[BFT_SIGNATURE_BYTES];
    uint8_t id[CONS_BFT_ID_BYTES];
} bft_proposal;

struct cons_bft_replica {
    cons_bft_validators validators;
    cons_bft_config config;
    uint32_t quorum;
    uint8_t genesis_id[CONS_BFT_ID_BYTES];
    uint64_t now_ns;
    bool started;

    uint64_t view;
    uint64_t last_voted_view;
    uint64_t proposed_view;
    uint32_t timeouts_in_row;
    uint64_t timer_sequence;
    uint64_t view_token;
    uint64_t propose_token;
    uint64_t rejected;

    bft_qc high_qc;
    bft_tc last_tc;                           /* view 0: none */

    uint64_t committed_height;
    uint8_t committed_id[CONS_BFT_ID_BYTES];
    bool commit_wanted;                       /* a committed block waits for its ancestors */
    uint8_t commit_target_id[CONS_BFT_ID_BYTES];
    bool certified_wanted;                    /* a QC named a block we do not hold */
    uint8_t certified_id[CONS_BFT_ID_BYTES];
    uint8_t fetch_id[CONS_BFT_ID_BYTES];      /* the last ancestor asked for */
    bool fetching;

    /* The store's index: which slots hold a block, and the first 8 bytes of
     * each one's id, so that a lookup reads 2 KiB instead of a line of
     * every 7 KiB block. */
    uint64_t store_used[BFT_STORE_BLOCKS / 64];
    uint64_t store_key[BFT_STORE_BLOCKS];

    uint32_t mempool_count;
    uint64_t committed_ring[BFT_COMMITTED_RING];
    uint32_t committed_ring_next;

    uint64_t votes_view;
    bft_vote_candidate votes[BFT_VOTE_CANDIDATES];
    bft_timeout_slot timeouts[BFT_TIMEOUT_SLOTS];

    uint64_t chain_hashes[BFT_STORE_BLOCKS * 8];
    size_t effect_count;
    size_t arena_used;

    /* The tail: 2.2 of the replica's 2.5 MB, each entry read only after it is
     * written (a store slot once its bit is set, the mempool below its count,
     * a proposal once built, effects and arena below their counts). Init
     * leaves it as it is, so memory fresh from the system (zero pages,
     * util_calloc_sparse) becomes resident only as blocks, transactions and
     * messages arrive: a short run of 256 validators touches a fraction. */
    cons_bft_block store[BFT_STORE_BLOCKS];
    bft_pending_tx mempool[CONS_BFT_MEMPOOL_MAX];
    bft_proposal scratch[2];                  /* the blocks being proposed */
    cons_bft_effect effects[BFT_EFFECTS_MAX];
    uint8_t arena[BFT_ARENA_BYTES];
};

#define BFT_TAIL_OFFSET offsetof(cons_bft_replica, store)

/* ---- Small helpers ---- */

static const char *const bft_behaviour_names[CONS_BFT_BEHAVIOURS] = {
    "honest", "equivocate", "withhold", "delay", "crash", "twin"};

const char *cons_bft_behaviour_name(cons_bft_behaviour behaviour)
{
    return (unsigned)behaviour < CONS_BFT_BEHAVIOURS ? bft_behaviour_names[behaviour] : NULL;
}

int cons_bft_behaviour_parse(const char *name)
{
    for (int i = 0; i < CONS_BFT_BEHAVIOURS; i++) {
        if (strcmp(name, bft_behaviour_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

uint32_t cons_bft_faults(uint32_t validator_count)
{
    ASSERT(validator_count >= 1);
    return (validator_count - 1) / 3;
}

uint32_t cons_bft_quorum(uint32_t validator_count)
{
    return validator_count - cons_bft_faults(validator_count);
}

uint32_t cons_bft_leader(uint32_t validator_count, uint64_t view)
{
    ASSERT(validator_count >= 1);
    return (uint32_t)(view % validator_count);
}

static bool bft_signers_has(const bft_signers *set, uint32_t index)
{
    return index < CONS_BFT_VALIDATORS_MAX && ((set->word[index / 64] >> (index % 64)) & 1);
}

static void bft_signers_add(bft_signers *set, uint32_t index)
{
    ASSERT(index < CONS_BFT_VALIDATORS_MAX);
    set->word[index / 64] |= UINT64_C(1) << (index % 64);
}

static uint32_t bft_signers_count(const bft_signers *set)
{
    uint32_t count = 0;
    for (size_t w = 0; w < BFT_SIGNER_WORDS; w++) {
        for (uint64_t bits = set->word[w]; bits != 0; bits &= bits - 1) {
            count += 1;
        }
    }
    return count;
}

static bool bft_signers_empty(const bft_signers *set)
{
    return bft_signers_count(set) == 0;
}

/* The words a signer set of 'validator_count' validators takes on the wire. */
static uint32_t bft_signer_words(uint32_t validator_count)
{
    return (validator_count + 63) / 64;
}

static uint64_t bft_tx_hash(const void *tx, size_t size)
{
    uint8_t digest[UTIL_HASH256_BYTES];
    util_hash256(tx, size, digest);
    return util_get_u64(digest);
}

uint64_t cons_bft_tx_hash(const void *tx, size_t size)
{
    ASSERT(tx != NULL || size == 0);
    return bft_tx_hash(tx, size);
}

/* ---- Authentication ---- */

#define BFT_SIGNED_BYTES (1 + 8 + 8 + CONS_BFT_ID_BYTES)

static void bft_signed_bytes(uint8_t kind, uint64_t view, uint64_t value,
                             const uint8_t id[CONS_BFT_ID_BYTES], uint8_t out[BFT_SIGNED_BYTES])
{
    out[0] = kind;
    util_put_u64(out + 1, view);
    util_put_u64(out + 9, value);
    if (id != NULL) {
        memcpy(out + 17, id, CONS_BFT_ID_BYTES);
    } else {
        memset(out + 17, 0, CONS_BFT_ID_BYTES);
    }
}

static void bft_sign(const cons_bft_replica *replica, uint8_t kind, uint64_t view,
                     uint64_t value, const uint8_t *id, uint8_t signature_out[BFT_SIGNATURE_BYTES])
{
    uint8_t message[BFT_SIGNED_BYTES];
    bft_signed_bytes(kind, view, value, id, message);
    if (replica->config.auth == CONS_BFT_AUTH_ED25519) {
        util_sign(replica->config.secret_key, message, sizeof(message), signature_out);
        return;
    }
    memset(signature_out, 0, BFT_SIGNATURE_BYTES);
    uint64_t tag = util_mac64(replica->validators.mac_key[replica->config.self], message,
                              sizeof(message));
    util_put_u64(signature_out, tag);
}

static bool bft_verify(const cons_bft_replica *replica, uint32_t signer, uint8_t kind,
                       uint64_t view, uint64_t value, const uint8_t *id,
                       const uint8_t signature[BFT_SIGNATURE_BYTES])
{
    if (signer >= replica->validators.count) {
        return false;
    }
    uint8_t message[BFT_SIGNED_BYTES];
    bft_signed_bytes(kind, view, value, id, message);
    if (replica->config.auth == CONS_BFT_AUTH_ED25519) {
        return util_sign_verify_memo(replica->config.verified,
                                     replica->validators.public_key[signer], message,
                                     sizeof(message), signature);
    }
    /* The tag, then zeros: compared a word at a time with no early exit. A
     * 256-validator certificate holds 171 of them, which a byte-wise
     * constant-time compare made a third of a MAC ledger's time. */
    uint64_t diff = util_mac64(replica->validators.mac_key[signer], message, sizeof(message)) ^
                    util_get_u64(signature);
    for (size_t i = 8; i < BFT_SIGNATURE_BYTES; i += 8) {
        diff |= util_get_u64(signature + i);
    }
    return diff == 0;
}

/* ---- Blocks ---- */

static void bft_block_id(uint64_t view, uint64_t height, uint32_t proposer, uint64_t qc_view,
                         const uint8_t parent_id[CONS_BFT_ID_BYTES], uint32_t tx_count,
                         const uint8_t *const *tx, const uint16_t *tx_size,
                         uint8_t id_out[CONS_BFT_ID_BYTES])
{
    static const char tag[] = "infersim-bft-block-v1";
    uint8_t fields[8 + 8 + 4 + 8 + 4];
    util_put_u64(fields, view);
    util_put_u64(fields + 8, height);
    for (int i = 0; i < 4; i++) {
        fields[16 + i] = (uint8_t)(proposer >> (8 * i));
        fields[28 + i] = (uint8_t)(tx_count >> (8 * i));
    }
    util_put_u64(fields + 20, qc_view);
    util_hash256_state state;
    util_hash256_init(&state);
    util_hash256_update(&state, tag, sizeof(tag) - 1);
    util_hash256_update(&state, fields, sizeof(fields));
    util_hash256_update(&state, parent_id, CONS_BFT_ID_BYTES);
    for (uint32_t i = 0; i < tx_count; i++) {
        uint8_t size_bytes[2] = {(uint8_t)tx_size[i], (uint8_t)(tx_size[i] >> 8)};
        util_hash256_update(&state, size_bytes, sizeof(size_bytes));
        util_hash256_update(&state, tx[i], tx_size[i]);
    }
    util_hash256_final(&state, id_out);
}

static void bft_proposal_id(bft_proposal *proposal)
{
    bft_block_id(proposal->view, proposal->height, proposal->sender, proposal->qc.view,
                 proposal->qc.block_id, proposal->tx_count, proposal->tx, proposal->tx_size,
                 proposal->id);
}

static bool bft_store_holds(const cons_bft_replica *replica, size_t slot)
{
    return (replica->store_used[slot / 64] >> (slot % 64)) & 1u;
}

static cons_bft_block *bft_store_find(cons_bft_replica *replica,
                                      const uint8_t id[CONS_BFT_ID_BYTES])
{
    uint64_t key = util_get_u64(id);
    for (size_t i = 0; i < BFT_STORE_BLOCKS; i++) {
        if (replica->store_key[i] == key && bft_store_holds(replica, i) &&
            memcmp(replica->store[i].id, id, CONS_BFT_ID_BYTES) == 0) {
            return &replica->store[i];
        }
    }
    return NULL;
}

/* 0: below the committed tip; 1: not certified; 2: certified, uncommitted. */
static int bft_evict_rank(const cons_bft_replica *replica, const cons_bft_block *block)
{
    if (block->height < replica->committed_height) {
        return 0;
    }
    return block->certified ? 2 : 1;
}

/* A slot for a new block, marked taken: the first free one, else the one
 * least likely to matter (below the committed tip first, then uncertified
 * ones, each the lowest view first), never the committed tip nor the high
 * QC's block. An evicted block can be fetched again. */
static cons_bft_block *bft_store_slot(cons_bft_replica *replica)
{
    for (size_t w = 0; w < BFT_STORE_BLOCKS / 64; w++) {
        if (replica->store_used[w] != UINT64_MAX) {
            size_t slot = w * 64 + (size_t)__builtin_ctzll(~replica->store_used[w]);
            replica->store_used[w] |= (uint64_t)1 << (slot % 64);
            return &replica->store[slot];
        }
    }
    cons_bft_block *victim = NULL;
    for (size_t i = 0; i < BFT_STORE_BLOCKS; i++) {
        cons_bft_block *block = &replica->store[i];
        if (memcmp(block->id, replica->committed_id, CONS_BFT_ID_BYTES) == 0 ||
            memcmp(block->id, replica->high_qc.block_id, CONS_BFT_ID_BYTES) == 0) {
            continue;
        }
        if (victim == NULL || bft_evict_rank(replica, block) < bft_evict_rank(replica, victim) ||
            (bft_evict_rank(replica, block) == bft_evict_rank(replica, victim) &&
             block->view < victim->view)) {
            victim = block;
        }
    }
    ASSERT(victim != NULL);
    return victim;
}

static cons_bft_block *bft_store_insert(cons_bft_replica *replica, const bft_proposal *proposal)
{
    cons_bft_block *block = bft_store_find(replica, proposal->id);
    if (block != NULL) {
        return block;
    }
    block = bft_store_slot(replica);
    memset(block, 0, offsetof(cons_bft_block, tx_bytes));
    replica->store_key[block - replica->store] = util_get_u64(proposal->id);
    block->view = proposal->view;
    block->height = proposal->height;
    block->qc_view = proposal->qc.view;
    block->proposer = proposal->sender;
    memcpy(block->id, proposal->id, CONS_BFT_ID_BYTES);
    memcpy(block->parent_id, proposal->qc.block_id, CONS_BFT_ID_BYTES);
    block->tx_count = proposal->tx_count;
    uint32_t offset = 0;
    for (uint32_t i = 0; i < proposal->tx_count; i++) {
        block->tx_offset[i] = (uint16_t)offset;
        memcpy(block->tx_bytes + offset, proposal->tx[i], proposal->tx_size[i]);
        block->tx_hash[i] = bft_tx_hash(proposal->tx[i], proposal->tx_size[i]);
        offset += proposal->tx_size[i];
    }
    block->tx_offset[proposal->tx_count] = (uint16_t)offset;
    return block;
}

uint64_t cons_bft_block_height(const cons_bft_block *block)
{
    return block->height;
}

uint64_t cons_bft_block_view(const cons_bft_block *block)
{
    return block->view;
}

uint32_t cons_bft_block_proposer(const cons_bft_block *block)
{
    return block->proposer;
}

const uint8_t *cons_bft_block_id(const cons_bft_block *block)
{
    return block->id;
}

uint32_t cons_bft_block_tx_count(const cons_bft_block *block)
{
    return block->tx_count;
}

const uint8_t *cons_bft_block_tx(const cons_bft_block *block, uint32_t index, size_t *size_out)
{
    ASSERT(index < block->tx_count);
    *size_out = (size_t)(block->tx_offset[index + 1] - block->tx_offset[index]);
    return block->tx_bytes + block->tx_offset[index];
}

/* ---- Effects ---- */

static cons_bft_effect *bft_effect_push(cons_bft_replica *replica, cons_bft_effect_kind kind)
{
    ASSERT(replica->effect_count < BFT_EFFECTS_MAX);
    cons_bft_effect *effect = &replica->effects[replica->effect_count++];
    memset(effect, 0, sizeof(*effect));
    effect->kind = kind;
    return effect;
}

static uint8_t *bft_arena_take(cons_bft_replica *replica, size_t size)
{
    ASSERT(size <= CONS_BFT_MESSAGE_BYTES_MAX);
    ASSERT(replica->arena_used + size <= BFT_ARENA_BYTES);
    uint8_t *bytes = replica->arena + replica->arena_used;
    replica->arena_used += size;
    return bytes;
}

static void bft_timer_arm(cons_bft_replica *replica, uint32_t kind, uint64_t at_ns)
{
    replica->timer_sequence += 1;
    uint64_t token = (replica->timer_sequence << 1) | kind;
    if (kind == BFT_TIMER_VIEW) {
        replica->view_token = token;
    } else {
        replica->propose_token = token;
    }
    cons_bft_effect *effect = bft_effect_push(replica, CONS_BFT_TIMER);
    effect->at_ns = at_ns;
    effect->token = token;
}

/* ---- Wire codec: a bounded writer (asserts: our own bytes) and reader (checks) ---- */

typedef struct bft_writer {
    uint8_t *bytes;
    size_t size;
    size_t capacity;
} bft_writer;

static void bft_write(bft_writer *writer, const void *data, size_t size)
{
    ASSERT(writer->size + size <= writer->capacity);
    memcpy(writer->bytes + writer->size, data, size);
    writer->size += size;
}

static void bft_write64(bft_writer *writer, uint64_t value)
{
    uint8_t bytes[8];
    util_put_u64(bytes, value);
    bft_write(writer, bytes, sizeof(bytes));
}

static void bft_write_header(bft_writer *writer, uint8_t type, uint32_t sender, uint64_t view)
{
    uint8_t bytes[BFT_HEADER_BYTES];
    bytes[0] = type;
    for (int i = 0; i < 4; i++) {
        bytes[1 + i] = (uint8_t)(sender >> (8 * i));
    }
    util_put_u64(bytes + 5, view);
    bft_write(writer, bytes, sizeof(bytes));
}

static void bft_write_signers(bft_writer *writer, uint32_t validator_count,
                              const bft_signers *set)
{
    for (uint32_t w = 0; w < bft_signer_words(validator_count); w++) {
        bft_write64(writer, set->word[w]);
    }
}

static void bft_write_qc(bft_writer *writer, uint32_t validator_count, const bft_qc *qc,
                         bool with_signatures)
{
    static const bft_signers none;
    const bft_signers *signers = with_signatures ? &qc->signers : &none;
    bft_write64(writer, qc->view);
    bft_write64(writer, qc->height);
    bft_write(writer, qc->block_id, CONS_BFT_ID_BYTES);
    bft_write_signers(writer, validator_count, signers);
    for (uint32_t i = 0; i < validator_count; i++) {
        if (bft_signers_has(signers, i)) {
            bft_write(writer, qc->signature[i], BFT_SIGNATURE_BYTES);
        }
    }
}

static void bft_write_tc(bft_writer *writer, uint32_t validator_count, const bft_tc *tc)
{
    bft_write64(writer, tc->view);
    bft_write_signers(writer, validator_count, &tc->signers);
    for (uint32_t i = 0; i < validator_count; i++) {
        if (bft_signers_has(&tc->signers, i)) {
            bft_write64(writer, tc->high_qc_view[i]);
            bft_write(writer, tc->signature[i], BFT_SIGNATURE_BYTES);
        }
    }
}

typedef struct bft_reader {
    const uint8_t *bytes;
    size_t size;
    size_t at;
    bool failed;
} bft_reader;

static const uint8_t *bft_read(bft_reader *reader, size_t size)
{
    if (reader->failed || reader->size - reader->at < size) {
        reader->failed = true;
        return NULL;
    }
    const uint8_t *bytes = reader->bytes + reader->at;
    reader->at += size;
    return bytes;
}

static uint64_t bft_read64(bft_reader *reader)
{
    const uint8_t *bytes = bft_read(reader, 8);
    return bytes != NULL ? util_get_u64(bytes) : 0;
}

static void bft_read_copy(bft_reader *reader, void *out, size_t size)
{
    const uint8_t *bytes = bft_read(reader, size);
    if (bytes != NULL) {
        memcpy(out, bytes, size);
    } else {
        memset(out, 0, size);
    }
}

/* A certificate's signer set must name validators only. */
static bool bft_read_signers(bft_reader *reader, uint32_t validator_count, bft_signers *set)
{
    memset(set, 0, sizeof(*set));
    for (uint32_t w = 0; w < bft_signer_words(validator_count); w++) {
        set->word[w] = bft_read64(reader);
    }
    uint32_t tail = validator_count % 64;
    uint32_t last = bft_signer_words(validator_count) - 1;
    if (tail != 0 && (set->word[last] >> tail) != 0) {
        reader->failed = true;
    }
    return !reader->failed;
}

static bool bft_read_qc(bft_reader *reader, uint32_t validator_count, bft_qc *qc)
{
    qc->view = bft_read64(reader);
    qc->height = bft_read64(reader);
    bft_read_copy(reader, qc->block_id, CONS_BFT_ID_BYTES);
    if (!bft_read_signers(reader, validator_count, &qc->signers)) {
        return false;
    }
    for (uint32_t i = 0; i < validator_count; i++) {
        if (bft_signers_has(&qc->signers, i)) {
            bft_read_copy(reader, qc->signature[i], BFT_SIGNATURE_BYTES);
        }
    }
    return !reader->failed;
}

static bool bft_read_tc(bft_reader *reader, uint32_t validator_count, bft_tc *tc)
{
    tc->view = bft_read64(reader);
    if (!bft_read_signers(reader, validator_count, &tc->signers)) {
        return false;
    }
    for (uint32_t i = 0; i < validator_count; i++) {
        if (bft_signers_has(&tc->signers, i)) {
            tc->high_qc_view[i] = bft_read64(reader);
            bft_read_copy(reader, tc->signature[i], BFT_SIGNATURE_BYTES);
        }
    }
    return !reader->failed;
}

static bool bft_read_header(bft_reader *reader, uint8_t *type_out, uint32_t *sender_out,
                            uint64_t *view_out)
{
    const uint8_t *bytes = bft_read(reader, BFT_HEADER_BYTES);
    if (bytes == NULL) {
        return false;
    }
    *type_out = bytes[0];
    *sender_out = (uint32_t)bytes[1] | (uint32_t)bytes[2] << 8 | (uint32_t)bytes[3] << 16 |
                  (uint32_t)bytes[4] << 24;
    *view_out = util_get_u64(bytes + 5);
    return true;
}

const char *cons_bft_message_name(const void *bytes, size_t size)
{
    static const char *const names[] = {NULL, "proposal", "vote", "timeout", "block_request",
                                        "block"};
    if (bytes == NULL || size < BFT_HEADER_BYTES) {
        return NULL;
    }
    uint8_t type = ((const uint8_t *)bytes)[0];
    return type < UTIL_ARRAY_COUNT(names) ? names[type] : NULL;
}

/* A vote is the header, a height, a block id and a signature. */
#define BFT_VOTE_BYTES (BFT_HEADER_BYTES + 8 + CONS_BFT_ID_BYTES + BFT_SIGNATURE_BYTES)

bool cons_bft_vote_route(const void *bytes, size_t size, uint32_t validator_count,
                         uint32_t *voter_out, uint32_t *collector_out)
{
    ASSERT(voter_out != NULL && collector_out != NULL);
    bft_reader reader = {bytes, size, 0, false};
    uint8_t type = 0;
    uint32_t sender = 0;
    uint64_t view = 0;
    if (bytes == NULL || validator_count == 0 || size != BFT_VOTE_BYTES ||
        !bft_read_header(&reader, &type, &sender, &view) || type != BFT_MSG_VOTE ||
        sender >= validator_count || view == 0 || view == UINT64_MAX) {
        return false;
    }
    *voter_out = sender;
    *collector_out = cons_bft_leader(validator_count, view + 1);
    return true;
}

bool cons_bft_vote_authentic(const cons_bft_replica *replica, const void *bytes, size_t size)
{
    ASSERT(replica != NULL);
    uint32_t voter = 0;
    uint32_t collector = 0;
    if (!cons_bft_vote_route(bytes, size, replica->validators.count, &voter, &collector)) {
        return false;
    }
    bft_reader reader = {bytes, size, 0, false};
    uint8_t type = 0;
    uint64_t view = 0;
    (void)bft_read_header(&reader, &type, &voter, &view);
    uint64_t height = bft_read64(&reader);
    uint8_t id[CONS_BFT_ID_BYTES];
    uint8_t signature[BFT_SIGNATURE_BYTES];
    bft_read_copy(&reader, id, CONS_BFT_ID_BYTES);
    bft_read_copy(&reader, signature, BFT_SIGNATURE_BYTES);
    return !reader.failed && height != 0 &&
           bft_verify(replica, voter, BFT_SIGN_VOTE, view, height, id, signature);
}

/* ---- Certificates ---- */

static bool bft_qc_is_genesis(const cons_bft_replica *replica, const bft_qc *qc)
{
    return qc->view == 0 && qc->height == 0 && bft_signers_empty(&qc->signers) &&
           memcmp(qc->block_id, replica->genesis_id, CONS_BFT_ID_BYTES) == 0;
}

static bool bft_qc_known(cons_bft_replica *replica, const bft_qc *qc)
{
    if (replica->high_qc.view == qc->view && replica->high_qc.height == qc->height &&
        memcmp(replica->high_qc.block_id, qc->block_id, CONS_BFT_ID_BYTES) == 0) {
        return true;
    }
    const cons_bft_block *block = bft_store_find(replica, qc->block_id);
    return block != NULL && block->certified && block->view == qc->view &&
           block->height == qc->height;
}

/* True iff 'qc' is genesis, or already verified, or carries a quorum of
 * valid signatures. Safe on peer input. */
static bool bft_qc_valid(cons_bft_replica *replica, const bft_qc *qc)
{
    if (bft_qc_is_genesis(replica, qc)) {
        return true;
    }
    if (qc->view == 0 || qc->height == 0 || bft_signers_count(&qc->signers) < replica->quorum) {
        return false;
    }
    if (bft_qc_known(replica, qc)) {
        return true;
    }
    for (uint32_t i = 0; i < replica->validators.count; i++) {
        if (bft_signers_has(&qc->signers, i) &&
            !bft_verify(replica, i, BFT_SIGN_VOTE, qc->view, qc->height, qc->block_id,
                        qc->signature[i])) {
            return false;
        }
    }
    return true;
}

static bool bft_tc_valid(const cons_bft_replica *replica, const bft_tc *tc)
{
    if (tc->view == 0 || bft_signers_count(&tc->signers) < replica->quorum) {
        return false;
    }
    for (uint32_t i = 0; i < replica->validators.count; i++) {
        if (!bft_signers_has(&tc->signers, i)) {
            continue;
        }
        if (tc->high_qc_view[i] >= tc->view ||
            !bft_verify(replica, i, BFT_SIGN_TIMEOUT, tc->view, tc->high_qc_view[i], NULL,
                        tc->signature[i])) {
            return false;
        }
    }
    return true;
}

static uint64_t bft_tc_high_qc_view(const bft_tc *tc)
{
    uint64_t high = 0;
    for (uint32_t i = 0; i < CONS_BFT_VALIDATORS_MAX; i++) {
        if (bft_signers_has(&tc->signers, i) && tc->high_qc_view[i] > high) {
            high = tc->high_qc_view[i];
        }
    }
    return high;
}

/* ---- Mempool ---- */

static bool bft_recently_committed(const cons_bft_replica *replica, uint64_t hash)
{
    for (size_t i = 0; i < BFT_COMMITTED_RING; i++) {
        if (replica->committed_ring[i] == hash && hash != 0) {
            return true;
        }
    }
    return false;
}

int cons_bft_submit(cons_bft_replica *replica, const void *tx, size_t size)
{
    ASSERT(replica != NULL);
    replica->effect_count = 0;
    replica->arena_used = 0;
    if (tx == NULL || size == 0 || size > CONS_BFT_TX_BYTES_MAX) {
        return CONS_EINVAL;
    }
    uint64_t hash = bft_tx_hash(tx, size);
    for (uint32_t i = 0; i < replica->mempool_count; i++) {
        if (replica->mempool[i].hash == hash) {
            return 1;
        }
    }
    if (bft_recently_committed(replica, hash)) {
        return 1;
    }
    if (replica->mempool_count >= CONS_BFT_MEMPOOL_MAX) {
        return CONS_EINVAL;
    }
    bft_pending_tx *pending = &replica->mempool[replica->mempool_count++];
    pending->hash = hash;
    pending->size = (uint16_t)size;
    memcpy(pending->bytes, tx, size);
    return 0;
}

static void bft_mempool_remove(cons_bft_replica *replica, uint64_t hash)
{
    replica->committed_ring[replica->committed_ring_next] = hash;
    replica->committed_ring_next = (replica->committed_ring_next + 1) % BFT_COMMITTED_RING;
    for (uint32_t i = 0; i < replica->mempool_count; i++) {
        if (replica->mempool[i].hash == hash) {
            /* Keep the order: the oldest transactions are proposed first. */
            memmove(&replica->mempool[i], &replica->mempool[i + 1],
                    (replica->mempool_count - i - 1) * sizeof(replica->mempool[0]));
            replica->mempool_count -= 1;
            return;
        }
    }
}

/* The transaction hashes of the uncommitted ancestors of the high QC's
 * block (as far as the store holds them), into hashes_out; their count. */
static size_t bft_pending_chain(cons_bft_replica *replica, uint64_t *hashes_out, size_t capacity)
{
    size_t count = 0;
    const uint8_t *id = replica->high_qc.block_id;
    for (uint32_t depth = 0; depth < BFT_STORE_BLOCKS; depth++) {
        const cons_bft_block *block = bft_store_find(replica, id);
        if (block == NULL || block->height <= replica->committed_height) {
            break;
        }
        for (uint32_t i = 0; i < block->tx_count && count < capacity; i++) {
            hashes_out[count++] = block->tx_hash[i];
        }
        id = block->parent_id;
    }
    return count;
}

/* ---- Commit ---- */

static void bft_request_block(cons_bft_replica *replica, const uint8_t id[CONS_BFT_ID_BYTES],
                              uint32_t from)
{
    if (from == replica->config.self) {
        return;
    }
    uint8_t *bytes = bft_arena_take(replica, BFT_HEADER_BYTES + CONS_BFT_ID_BYTES);
    bft_writer writer = {bytes, 0, BFT_HEADER_BYTES + CONS_BFT_ID_BYTES};
    bft_write_header(&writer, BFT_MSG_BLOCK_REQUEST, replica->config.self, replica->view);
    bft_write(&writer, id, CONS_BFT_ID_BYTES);
    cons_bft_effect *effect = bft_effect_push(replica, from == UINT32_MAX ? CONS_BFT_BROADCAST
                                                                          : CONS_BFT_SEND);
    effect->to = from;
    effect->bytes = bytes;
    effect->size = writer.size;
}

static void bft_commit_one(cons_bft_replica *replica, cons_bft_block *block)
{
    ASSERT(block->height == replica->committed_height + 1);
    replica->committed_height = block->height;
    memcpy(replica->committed_id, block->id, CONS_BFT_ID_BYTES);
    for (uint32_t i = 0; i < block->tx_count; i++) {
        bft_mempool_remove(replica, block->tx_hash[i]);
    }
    cons_bft_effect *effect = bft_effect_push(replica, CONS_BFT_COMMIT);
    effect->block = block;
}

/* Commits the wanted target and its uncommitted ancestors, oldest first,
 * when all are in the store; else asks 'from' for the first missing one. A
 * target that does not extend the committed tip is refused (only a quorum
 * of Byzantine validators can certify one). */
static void bft_try_commit(cons_bft_replica *replica, uint32_t from)
{
    if (!replica->commit_wanted) {
        return;
    }
    cons_bft_block *chain[BFT_STORE_BLOCKS];
    uint32_t length = 0;
    const uint8_t *id = replica->commit_target_id;
    for (;;) {
        cons_bft_block *block = bft_store_find(replica, id);
        if (block == NULL) {
            memcpy(replica->fetch_id, id, CONS_BFT_ID_BYTES);
            replica->fetching = true;
            bft_request_block(replica, id, from);
            return;
        }
        if (block->height <= replica->committed_height || length == BFT_STORE_BLOCKS) {
            replica->commit_wanted = false;       /* stale or conflicting */
            return;
        }
        chain[length++] = block;
        if (block->height == replica->committed_height + 1) {
            if (memcmp(block->parent_id, replica->committed_id, CONS_BFT_ID_BYTES) != 0) {
                replica->commit_wanted = false;
                return;
            }
            break;
        }
        id = block->parent_id;
    }
    replica->commit_wanted = false;
    for (uint32_t i = length; i > 0; i--) {
        bft_commit_one(replica, chain[i - 1]);
    }
}

static void bft_want_commit(cons_bft_replica *replica, const uint8_t id[CONS_BFT_ID_BYTES],
                            uint64_t height, uint32_t from)
{
    if (height <= replica->committed_height) {
        return;
    }
    memcpy(replica->commit_target_id, id, CONS_BFT_ID_BYTES);
    replica->commit_wanted = true;
    bft_try_commit(replica, from);
}

/* The 2-chain rule on a newly certified block: if its parent was certified
 * in the view just before, the parent commits. */
static void bft_commit_rule(cons_bft_replica *replica, const uint8_t id[CONS_BFT_ID_BYTES],
                            uint32_t from)
{
    cons_bft_block *block = bft_store_find(replica, id);
    if (block == NULL) {
        return;
    }
    block->certified = true;
    if (block->qc_view + 1 == block->view && block->height >= 2) {
        bft_want_commit(replica, block->parent_id, block->height - 1, from);
    }
}

/* ---- Views ---- */

static uint64_t bft_view_timeout(const cons_bft_replica *replica)
{
    uint32_t exponent = replica->timeouts_in_row;
    if (exponent > replica->config.backoff_max) {
        exponent = replica->config.backoff_max;
    }
    return replica->config.view_timeout_ns << exponent;
}

static void bft_enter_view(cons_bft_replica *replica, uint64_t view, cons_bft_view_reason reason)
{
    ASSERT(view > replica->view);
    replica->view = view;
    replica->timeouts_in_row = reason == CONS_BFT_BY_TC ? replica->timeouts_in_row + 1 : 0;
    cons_bft_effect *effect = bft_effect_push(replica, CONS_BFT_VIEW);
    effect->view = view;
    effect->reason = reason;
    bft_timer_arm(replica, BFT_TIMER_VIEW, replica->now_ns + bft_view_timeout(replica));
    if (cons_bft_leader(replica->validators.count, view) == replica->config.self) {
        uint64_t delay_ns = replica->config.block_interval_ns;
        if (replica->config.behaviour == CONS_BFT_DELAY) {
            delay_ns += replica->config.delay_ns;
        }
        bft_timer_arm(replica, BFT_TIMER_PROPOSE, replica->now_ns + delay_ns);
    }
}

/* A block came into the store: apply what waited for it. */
static void bft_block_arrived(cons_bft_replica *replica, cons_bft_block *block,
                              uint32_t from)
{
    if (replica->fetching && memcmp(block->id, replica->fetch_id, CONS_BFT_ID_BYTES) == 0) {
        replica->fetching = false;
        block->certified = true;                 /* an ancestor of a committed block */
    }
    if (replica->certified_wanted &&
        memcmp(block->id, replica->certified_id, CONS_BFT_ID_BYTES) == 0) {
        replica->certified_wanted = false;
        bft_commit_rule(replica, block->id, from);
        return;
    }
    bft_try_commit(replica, from);
}

static void bft_process_qc(cons_bft_replica *replica, const bft_qc *qc, uint32_t from)
{
    if (qc->view > replica->high_qc.view) {
        replica->high_qc = *qc;
    }
    if (qc->view > 0 && qc->height > replica->committed_height) {
        if (bft_store_find(replica, qc->block_id) != NULL) {
            bft_commit_rule(replica, qc->block_id, from);
        } else if (!replica->certified_wanted || qc->height >= replica->high_qc.height) {
            /* The certified block itself is missing: fetch it, then apply the rule. */
            replica->certified_wanted = true;
            memcpy(replica->certified_id, qc->block_id, CONS_BFT_ID_BYTES);
            bft_request_block(replica, qc->block_id, from);
        }
    }
    if (qc->view >= replica->view) {
        bft_enter_view(replica, qc->view + 1, CONS_BFT_BY_QC);
    }
}

static void bft_process_tc(cons_bft_replica *replica, const bft_tc *tc)
{
    if (tc->view > replica->last_tc.view) {
        replica->last_tc = *tc;
    }
    if (tc->view >= replica->view) {
        bft_enter_view(replica, tc->view + 1, CONS_BFT_BY_TC);
    }
}

/* ---- Messages out ---- */

static cons_bft_effect *bft_emit(cons_bft_replica *replica, cons_bft_effect_kind kind,
                                 uint32_t to, const bft_writer *writer)
{
    cons_bft_effect *effect = bft_effect_push(replica, kind);
    effect->to = to;
    effect->bytes = writer->bytes;
    effect->size = writer->size;
    return effect;
}

static bft_writer bft_writer_take(cons_bft_replica *replica)
{
    size_t room = BFT_ARENA_BYTES - replica->arena_used;
    if (room > CONS_BFT_MESSAGE_BYTES_MAX) {
        room = CONS_BFT_MESSAGE_BYTES_MAX;
    }
    return (bft_writer){replica->arena + replica->arena_used, 0, room};
}

static void bft_writer_keep(cons_bft_replica *replica, const bft_writer *writer)
{
    uint8_t *bytes = bft_arena_take(replica, writer->size);
    ASSERT(bytes == writer->bytes);
}

static void bft_write_block_body(bft_writer *writer, uint32_t validator_count,
                                 const bft_proposal *proposal, bool with_signatures)
{
    bft_write64(writer, proposal->height);
    uint8_t count[2] = {(uint8_t)proposal->tx_count, (uint8_t)(proposal->tx_count >> 8)};
    bft_write(writer, count, sizeof(count));
    for (uint32_t i = 0; i < proposal->tx_count; i++) {
        uint8_t size[2] = {(uint8_t)proposal->tx_size[i], (uint8_t)(proposal->tx_size[i] >> 8)};
        bft_write(writer, size, sizeof(size));
        bft_write(writer, proposal->tx[i], proposal->tx_size[i]);
    }
    bft_write_qc(writer, validator_count, &proposal->qc, with_signatures);
    uint8_t has_tc = proposal->has_tc && with_signatures;
    bft_write(writer, &has_tc, 1);
    if (has_tc) {
        bft_write_tc(writer, validator_count, &proposal->tc);
    }
}

static void bft_send_vote(cons_bft_replica *replica, const cons_bft_block *block);
static int bft_handle(cons_bft_replica *replica, uint32_t from, const uint8_t *bytes,
                      size_t size);

/* ---- Messages in ---- */

static bool bft_read_block_body(bft_reader *reader, uint32_t validator_count,
                                bft_proposal *proposal, bool with_certificates)
{
    proposal->height = bft_read64(reader);
    const uint8_t *count = bft_read(reader, 2);
    if (count == NULL) {
        return false;
    }
    proposal->tx_count = (uint32_t)count[0] | (uint32_t)count[1] << 8;
    if (proposal->tx_count > CONS_BFT_BLOCK_TXS_MAX) {
        return false;
    }
    size_t bytes = 0;
    for (uint32_t i = 0; i < proposal->tx_count; i++) {
        const uint8_t *size = bft_read(reader, 2);
        if (size == NULL) {
            return false;
        }
        proposal->tx_size[i] = (uint16_t)(size[0] | size[1] << 8);
        bytes += proposal->tx_size[i];
        if (proposal->tx_size[i] == 0 || proposal->tx_size[i] > CONS_BFT_TX_BYTES_MAX ||
            bytes > CONS_BFT_BLOCK_BYTES_MAX) {
            return false;
        }
        proposal->tx[i] = bft_read(reader, proposal->tx_size[i]);
    }
    if (!bft_read_qc(reader, validator_count, &proposal->qc)) {
        return false;
    }
    const uint8_t *has_tc = bft_read(reader, 1);
    if (has_tc == NULL || *has_tc > 1 || (*has_tc == 1 && !with_certificates)) {
        return false;
    }
    proposal->has_tc = *has_tc == 1;
    if (proposal->has_tc && !bft_read_tc(reader, validator_count, &proposal->tc)) {
        return false;
    }
    return !reader->failed && proposal->height == proposal->qc.height + 1;
}

/* The safety rule (Jolteon's safe_to_vote): a block of the current view,
 * not yet voted in, that extends a QC of the view before, or the TC of the
 * view before and a QC at least as high as every one that TC reports. */
static bool bft_safe_to_vote(const cons_bft_replica *replica, const bft_proposal *proposal)
{
    if (proposal->view != replica->view || proposal->view <= replica->last_voted_view) {
        return false;
    }
    if (proposal->qc.view + 1 == proposal->view) {
        return true;
    }
    return proposal->has_tc && proposal->tc.view + 1 == proposal->view &&
           proposal->qc.view >= bft_tc_high_qc_view(&proposal->tc);
}

static bool bft_tx_valid(const cons_bft_replica *replica, const uint8_t *tx, size_t size)
{
    const cons_bft_config *config = &replica->config;
    return config->tx_valid == NULL || config->tx_valid(config->tx_context, tx, size);
}

/* External validity: every transaction of the proposal passes the
 * application's check. */
static bool bft_txs_valid(const cons_bft_replica *replica, const bft_proposal *proposal)
{
    for (uint32_t i = 0; i < proposal->tx_count; i++) {
        if (!bft_tx_valid(replica, proposal->tx[i], proposal->tx_size[i])) {
            return false;
        }
    }
    return true;
}

static int bft_on_proposal(cons_bft_replica *replica, uint32_t from, bft_reader *reader,
                           bft_proposal *proposal)
{
    if (!bft_read_block_body(reader, replica->validators.count, proposal, true)) {
        return CONS_EINVAL;
    }
    bft_read_copy(reader, proposal->signature, BFT_SIGNATURE_BYTES);
    if (reader->failed || reader->at != reader->size) {
        return CONS_EINVAL;
    }
    if (proposal->sender != from ||
        cons_bft_leader(replica->validators.count, proposal->view) != from ||
        proposal->qc.view >= proposal->view ||
        (proposal->has_tc && proposal->tc.view >= proposal->view)) {
        return CONS_EINVAL;
    }
    bft_proposal_id(proposal);
    if (!bft_verify(replica, from, BFT_SIGN_PROPOSAL, proposal->view, proposal->height,
                    proposal->id, proposal->signature) ||
        !bft_qc_valid(replica, &proposal->qc) ||
        (proposal->has_tc && !bft_tc_valid(replica, &proposal->tc))) {
        return CONS_EINVAL;
    }
    /* Only a block its certificates justify is stored: a Byzantine leader
     * cannot fill the store with blocks of far-off views. (Stored before the
     * certificates are processed, so what they commit is never evicted in
     * the same call.) */
    bool justified = proposal->qc.view + 1 == proposal->view ||
                     (proposal->has_tc && proposal->tc.view + 1 == proposal->view);
    cons_bft_block *block = NULL;
    if (justified) {
        block = bft_store_insert(replica, proposal);
        bft_block_arrived(replica, block, from);
    }
    bft_process_qc(replica, &proposal->qc, from);
    if (proposal->has_tc) {
        bft_process_tc(replica, &proposal->tc);
    }
    bool equivocator = replica->config.behaviour == CONS_BFT_EQUIVOCATE;
    bool vote = justified && (equivocator ? proposal->view == replica->view
                                          : bft_safe_to_vote(replica, proposal) &&
                                                bft_txs_valid(replica, proposal));
    if (vote && replica->config.behaviour != CONS_BFT_WITHHOLD) {
        if (proposal->view > replica->last_voted_view) {
            replica->last_voted_view = proposal->view;
        }
        bft_send_vote(replica, block);
    }
    return 0;
}

static int bft_on_block(cons_bft_replica *replica, uint32_t from, bft_reader *reader,
                        bft_proposal *proposal)
{
    if (!bft_read_block_body(reader, replica->validators.count, proposal, false) ||
        reader->at != reader->size) {
        return CONS_EINVAL;
    }
    bft_proposal_id(proposal);
    bool asked = (replica->fetching && memcmp(proposal->id, replica->fetch_id,
                                              CONS_BFT_ID_BYTES) == 0) ||
                 (replica->certified_wanted && memcmp(proposal->id, replica->certified_id,
                                                      CONS_BFT_ID_BYTES) == 0);
    if (!asked) {
        return CONS_EINVAL;                    /* unasked for, or not what a QC named */
    }
    cons_bft_block *block = bft_store_insert(replica, proposal);
    bft_block_arrived(replica, block, from);
    return 0;
}

static int bft_on_block_request(cons_bft_replica *replica, uint32_t from, bft_reader *reader)
{
    uint8_t id[CONS_BFT_ID_BYTES];
    bft_read_copy(reader, id, CONS_BFT_ID_BYTES);
    if (reader->failed || reader->at != reader->size || from == replica->config.self) {
        return CONS_EINVAL;
    }
    const cons_bft_block *block = bft_store_find(replica, id);
    if (block == NULL) {
        return 0;
    }
    bft_proposal answer = {.sender = block->proposer, .view = block->view,
                           .height = block->height, .tx_count = block->tx_count};
    answer.qc.view = block->qc_view;
    answer.qc.height = block->height - 1;
    memcpy(answer.qc.block_id, block->parent_id, CONS_BFT_ID_BYTES);
    for (uint32_t i = 0; i < block->tx_count; i++) {
        size_t tx_size;
        answer.tx[i] = cons_bft_block_tx(block, i, &tx_size);
        answer.tx_size[i] = (uint16_t)tx_size;
    }
    bft_writer writer = bft_writer_take(replica);
    bft_write_header(&writer, BFT_MSG_BLOCK, block->proposer, block->view);
    bft_write_block_body(&writer, replica->validators.count, &answer, false);
    bft_writer_keep(replica, &writer);
    bft_emit(replica, CONS_BFT_SEND, from, &writer);
    return 0;
}

static bft_vote_candidate *bft_vote_candidate_find(cons_bft_replica *replica,
                                                   const uint8_t id[CONS_BFT_ID_BYTES],
                                                   uint64_t height)
{
    for (size_t i = 0; i < BFT_VOTE_CANDIDATES; i++) {
        bft_vote_candidate *candidate = &replica->votes[i];
        if (!bft_signers_empty(&candidate->qc.signers) && candidate->height == height &&
            memcmp(candidate->block_id, id, CONS_BFT_ID_BYTES) == 0) {
            return candidate;
        }
    }
    for (size_t i = 0; i < BFT_VOTE_CANDIDATES; i++) {
        bft_vote_candidate *candidate = &replica->votes[i];
        if (bft_signers_empty(&candidate->qc.signers)) {
            memcpy(candidate->block_id, id, CONS_BFT_ID_BYTES);
            candidate->height = height;
            candidate->formed = false;
            return candidate;
        }
    }
    return NULL;                                  /* more blocks than an honest view has */
}

static int bft_on_vote(cons_bft_replica *replica, uint32_t from, uint32_t sender, uint64_t view,
                       bft_reader *reader)
{
    uint64_t height = bft_read64(reader);
    uint8_t id[CONS_BFT_ID_BYTES];
    uint8_t signature[BFT_SIGNATURE_BYTES];
    bft_read_copy(reader, id, CONS_BFT_ID_BYTES);
    bft_read_copy(reader, signature, BFT_SIGNATURE_BYTES);
    if (reader->failed || reader->at != reader->size || sender != from || view == 0 ||
        height == 0 ||
        cons_bft_leader(replica->validators.count, view + 1) != replica->config.self ||
        !bft_verify(replica, from, BFT_SIGN_VOTE, view, height, id, signature)) {
        return CONS_EINVAL;
    }
    if (view + 1 < replica->view || view < replica->votes_view || view > replica->view + 1) {
        return 0;                                 /* late, or too early to be honest */
    }
    if (view > replica->votes_view) {
        replica->votes_view = view;
        memset(replica->votes, 0, sizeof(replica->votes));
    }
    bft_vote_candidate *candidate = bft_vote_candidate_find(replica, id, height);
    if (candidate == NULL || bft_signers_has(&candidate->qc.signers, from)) {
        return 0;
    }
    bft_signers_add(&candidate->qc.signers, from);
    memcpy(candidate->qc.signature[from], signature, BFT_SIGNATURE_BYTES);
    if (!candidate->formed && bft_signers_count(&candidate->qc.signers) >= replica->quorum) {
        candidate->formed = true;
        candidate->qc.view = view;
        candidate->qc.height = height;
        memcpy(candidate->qc.block_id, id, CONS_BFT_ID_BYTES);
        bft_qc qc = candidate->qc;
        bft_process_qc(replica, &qc, from);
    }
    return 0;
}

static bft_timeout_slot *bft_timeout_slot_find(cons_bft_replica *replica, uint64_t view)
{
    bft_timeout_slot *lowest = &replica->timeouts[0];
    for (size_t i = 0; i < BFT_TIMEOUT_SLOTS; i++) {
        bft_timeout_slot *slot = &replica->timeouts[i];
        if (slot->tc.view == view) {
            return slot;
        }
        if (slot->tc.view < lowest->tc.view) {
            lowest = slot;
        }
    }
    if (lowest->tc.view > view) {
        return NULL;
    }
    memset(lowest, 0, sizeof(*lowest));
    lowest->tc.view = view;
    return lowest;
}

static int bft_on_timeout(cons_bft_replica *replica, uint32_t from, uint32_t sender,
                          uint64_t view, bft_reader *reader, bft_proposal *scratch)
{
    bft_qc *qc = &scratch->qc;
    bft_tc *tc = &scratch->tc;
    uint8_t signature[BFT_SIGNATURE_BYTES];
    if (!bft_read_qc(reader, replica->validators.count, qc)) {
        return CONS_EINVAL;
    }
    const uint8_t *has_tc = bft_read(reader, 1);
    if (has_tc == NULL || *has_tc > 1 ||
        (*has_tc == 1 && !bft_read_tc(reader, replica->validators.count, tc))) {
        return CONS_EINVAL;
    }
    bft_read_copy(reader, signature, BFT_SIGNATURE_BYTES);
    if (reader->failed || reader->at != reader->size || sender != from || view == 0 ||
        qc->view >= view || (*has_tc == 1 && tc->view + 1 != view) ||
        !bft_verify(replica, from, BFT_SIGN_TIMEOUT, view, qc->view, NULL, signature) ||
        !bft_qc_valid(replica, qc) || (*has_tc == 1 && !bft_tc_valid(replica, tc))) {
        return CONS_EINVAL;
    }
    bft_process_qc(replica, qc, from);
    if (*has_tc == 1) {
        bft_process_tc(replica, tc);
    }
    if (view < replica->view || view > replica->view + 2) {
        return 0;                                 /* a far-off view cannot evict the current */
    }
    bft_timeout_slot *slot = bft_timeout_slot_find(replica, view);
    if (slot == NULL || bft_signers_has(&slot->tc.signers, from)) {
        return 0;
    }
    bft_signers_add(&slot->tc.signers, from);
    slot->tc.high_qc_view[from] = qc->view;
    memcpy(slot->tc.signature[from], signature, BFT_SIGNATURE_BYTES);
    if (!slot->formed && bft_signers_count(&slot->tc.signers) >= replica->quorum) {
        slot->formed = true;
        bft_tc formed = slot->tc;
        bft_process_tc(replica, &formed);
    }
    return 0;
}

/* Decodes and handles one message; every failure leaves no effect (the
 * caller rolls the outbox back). */
static int bft_handle(cons_bft_replica *replica, uint32_t from, const uint8_t *bytes, size_t size)
{
    bft_reader reader = {bytes, size, 0, false};
    uint8_t type;
    uint32_t sender;
    uint64_t view;
    if (from >= replica->validators.count || size > CONS_BFT_MESSAGE_BYTES_MAX ||
        !bft_read_header(&reader, &type, &sender, &view)) {
        return CONS_EINVAL;
    }
    bft_proposal proposal;
    memset(&proposal, 0, offsetof(bft_proposal, qc));
    memset(&proposal.qc.signers, 0, sizeof(proposal.qc.signers));
    memset(&proposal.tc.signers, 0, sizeof(proposal.tc.signers));
    proposal.sender = sender;
    proposal.view = view;
    switch (type) {
    case BFT_MSG_PROPOSAL:
        return bft_on_proposal(replica, from, &reader, &proposal);
    case BFT_MSG_VOTE:
        return bft_on_vote(replica, from, sender, view, &reader);
    case BFT_MSG_TIMEOUT:
        return bft_on_timeout(replica, from, sender, view, &reader, &proposal);
    case BFT_MSG_BLOCK_REQUEST:
        return sender == from ? bft_on_block_request(replica, from, &reader) : CONS_EINVAL;
    case BFT_MSG_BLOCK:
        return sender < replica->validators.count ? bft_on_block(replica, from, &reader,
                                                                 &proposal)
                                                  : CONS_EINVAL;
    default:
        return CONS_EINVAL;
    }
}

static void bft_send_vote(cons_bft_replica *replica, const cons_bft_block *block)
{
    bft_writer writer = bft_writer_take(replica);
    uint8_t signature[BFT_SIGNATURE_BYTES];
    bft_sign(replica, BFT_SIGN_VOTE, block->view, block->height, block->id, signature);
    bft_write_header(&writer, BFT_MSG_VOTE, replica->config.self, block->view);
    bft_write64(&writer, block->height);
    bft_write(&writer, block->id, CONS_BFT_ID_BYTES);
    bft_write(&writer, signature, sizeof(signature));
    uint32_t next_leader = cons_bft_leader(replica->validators.count, block->view + 1);
    if (next_leader == replica->config.self) {
        int status = bft_handle(replica, replica->config.self, writer.bytes, writer.size);
        ASSERT(status == 0);
        return;
    }
    bft_writer_keep(replica, &writer);
    bft_emit(replica, CONS_BFT_SEND, next_leader, &writer);
}

/* ---- Proposing ---- */

static bool bft_hash_listed(const uint64_t *hashes, size_t count, uint64_t hash)
{
    for (size_t i = 0; i < count; i++) {
        if (hashes[i] == hash) {
            return true;
        }
    }
    return false;
}

/* The oldest pending transactions not already in the chain being extended,
 * within the block's count and byte bounds. */
static void bft_fill_block(cons_bft_replica *replica, bft_proposal *proposal, bool variant)
{
    static const uint8_t marker[] = "bft-equivocation";
    uint32_t limit = replica->config.block_txs_max;
    size_t bytes_max = CONS_BFT_BLOCK_BYTES_MAX - (variant ? sizeof(marker) : 0);
    size_t chain_count = bft_pending_chain(replica, replica->chain_hashes,
                                           UTIL_ARRAY_COUNT(replica->chain_hashes));
    size_t bytes = 0;
    proposal->tx_count = 0;
    for (uint32_t i = 0; i < replica->mempool_count && proposal->tx_count < limit; i++) {
        const bft_pending_tx *pending = &replica->mempool[i];
        if (bytes + pending->size > bytes_max ||
            bft_hash_listed(replica->chain_hashes, chain_count, pending->hash) ||
            !bft_tx_valid(replica, pending->bytes, pending->size)) {
            continue;
        }
        proposal->tx[proposal->tx_count] = pending->bytes;
        proposal->tx_size[proposal->tx_count] = pending->size;
        proposal->tx_count += 1;
        bytes += pending->size;
    }
    if (variant) {
        /* The second block of an equivocation differs by its last transaction. */
        if (proposal->tx_count == limit) {
            proposal->tx_count -= 1;
        }
        proposal->tx[proposal->tx_count] = marker;
        proposal->tx_size[proposal->tx_count] = (uint16_t)(sizeof(marker) - 1);
        proposal->tx_count += 1;
    }
}

static void bft_write_proposal(cons_bft_replica *replica, bft_proposal *proposal,
                               bft_writer *writer)
{
    bft_proposal_id(proposal);
    bft_sign(replica, BFT_SIGN_PROPOSAL, proposal->view, proposal->height, proposal->id,
             proposal->signature);
    bft_write_header(writer, BFT_MSG_PROPOSAL, replica->config.self, proposal->view);
    bft_write_block_body(writer, replica->validators.count, proposal, true);
    bft_write(writer, proposal->signature, BFT_SIGNATURE_BYTES);
}

static void bft_propose(cons_bft_replica *replica)
{
    uint64_t view = replica->view;
    if (replica->proposed_view >= view ||
        cons_bft_leader(replica->validators.count, view) != replica->config.self) {
        return;
    }
    bool by_qc = replica->high_qc.view + 1 == view;
    bool by_tc = replica->last_tc.view > 0 && replica->last_tc.view + 1 == view;
    if (!by_qc && !by_tc) {
        return;                                  /* nothing justifies a block yet */
    }
    replica->proposed_view = view;
    uint32_t versions = replica->config.behaviour == CONS_BFT_EQUIVOCATE ? 2 : 1;
    for (uint32_t v = 0; v < versions; v++) {
        bft_proposal *proposal = &replica->scratch[v];
        memset(proposal, 0, offsetof(bft_proposal, qc));
        proposal->sender = replica->config.self;
        proposal->view = view;
        proposal->height = replica->high_qc.height + 1;
        proposal->qc = replica->high_qc;
        proposal->has_tc = !by_qc;
        if (!by_qc) {
            proposal->tc = replica->last_tc;
        }
        bft_fill_block(replica, proposal, v == 1);
        bft_writer writer = bft_writer_take(replica);
        bft_write_proposal(replica, proposal, &writer);
        bft_writer_keep(replica, &writer);
        if (versions == 1) {
            bft_emit(replica, CONS_BFT_BROADCAST, 0, &writer);
        } else {
            uint32_t half = replica->validators.count / 2;
            for (uint32_t to = v == 0 ? 0 : half; to < (v == 0 ? half : replica->validators.count);
                 to++) {
                if (to != replica->config.self) {
                    bft_emit(replica, CONS_BFT_SEND, to, &writer);
                }
            }
        }
        int status = bft_handle(replica, replica->config.self, writer.bytes, writer.size);
        ASSERT(status == 0);
    }
}

static void bft_send_timeout(cons_bft_replica *replica)
{
    if (replica->last_voted_view < replica->view) {
        replica->last_voted_view = replica->view;   /* no vote in a view we gave up on */
    }
    bool with_tc = replica->last_tc.view > 0 && replica->last_tc.view + 1 == replica->view;
    uint8_t signature[BFT_SIGNATURE_BYTES];
    bft_sign(replica, BFT_SIGN_TIMEOUT, replica->view, replica->high_qc.view, NULL, signature);
    bft_writer writer = bft_writer_take(replica);
    bft_write_header(&writer, BFT_MSG_TIMEOUT, replica->config.self, replica->view);
    bft_write_qc(&writer, replica->validators.count, &replica->high_qc, true);
    uint8_t has_tc = with_tc;
    bft_write(&writer, &has_tc, 1);
    if (with_tc) {
        bft_write_tc(&writer, replica->validators.count, &replica->last_tc);
    }
    bft_write(&writer, signature, sizeof(signature));
    bft_writer_keep(replica, &writer);
    bft_emit(replica, CONS_BFT_BROADCAST, 0, &writer);
    int status = bft_handle(replica, replica->config.self, writer.bytes, writer.size);
    ASSERT(status == 0);
}

/* ---- Public entry points ---- */

int cons_bft_config_check(const cons_bft_validators *validators, const cons_bft_config *config)
{
    ASSERT(validators != NULL && config != NULL);
    if (validators->count == 0 || validators->count > CONS_BFT_VALIDATORS_MAX ||
        config->self >= validators->count || config->view_timeout_ns == 0 ||
        config->backoff_max > CONS_BFT_BACKOFF_MAX || config->block_txs_max == 0 ||
        config->block_txs_max > CONS_BFT_BLOCK_TXS_MAX ||
        (unsigned)config->behaviour >= CONS_BFT_BEHAVIOURS ||
        (config->auth != CONS_BFT_AUTH_ED25519 && config->auth != CONS_BFT_AUTH_MAC)) {
        return CONS_EINVAL;
    }
    if ((config->view_timeout_ns << config->backoff_max) >> config->backoff_max !=
        config->view_timeout_ns) {
        return CONS_EINVAL;                      /* the backed-off timeout overflows */
    }
    return 0;
}

size_t cons_bft_replica_size(void)
{
    return sizeof(cons_bft_replica);
}

cons_bft_replica *cons_bft_replica_init(void *memory, size_t size,
                                        const cons_bft_validators *validators,
                                        const cons_bft_config *config)
{
    ASSERT(memory != NULL && size >= sizeof(cons_bft_replica));
    ASSERT(cons_bft_config_check(validators, config) == 0);
    cons_bft_replica *replica = memory;
    memset(replica, 0, BFT_TAIL_OFFSET);
    replica->validators = *validators;
    replica->config = *config;
    replica->quorum = cons_bft_quorum(validators->count);
    static const char tag[] = "infersim-bft-genesis";
    util_hash256(tag, sizeof(tag) - 1, replica->genesis_id);
    memcpy(replica->high_qc.block_id, replica->genesis_id, CONS_BFT_ID_BYTES);
    memcpy(replica->committed_id, replica->genesis_id, CONS_BFT_ID_BYTES);
    return replica;
}

static bool bft_call_begin(cons_bft_replica *replica, uint64_t now_ns)
{
    ASSERT(replica != NULL);
    ASSERT(now_ns >= replica->now_ns);            /* the driver never rewinds time */
    replica->now_ns = now_ns;
    replica->effect_count = 0;
    replica->arena_used = 0;
    return !(replica->config.behaviour == CONS_BFT_CRASH && now_ns >= replica->config.crash_at_ns);
}

void cons_bft_start(cons_bft_replica *replica, uint64_t now_ns)
{
    if (!bft_call_begin(replica, now_ns) || replica->started) {
        return;
    }
    replica->started = true;
    bft_enter_view(replica, 1, CONS_BFT_BY_QC);
}

int cons_bft_on_message(cons_bft_replica *replica, uint64_t now_ns, uint32_t from,
                        const void *bytes, size_t size)
{
    if (!bft_call_begin(replica, now_ns) || !replica->started) {
        return 0;
    }
    if (bytes == NULL || from == replica->config.self) {
        replica->rejected += 1;
        return CONS_EINVAL;
    }
    int status = bft_handle(replica, from, bytes, size);
    if (status != 0) {
        /* Validation comes before any change, so nothing was emitted. */
        ASSERT(replica->effect_count == 0);
        replica->rejected += 1;
    }
    return status;
}

void cons_bft_on_timer(cons_bft_replica *replica, uint64_t now_ns, uint64_t token)
{
    if (!bft_call_begin(replica, now_ns) || !replica->started) {
        return;
    }
    if (token == replica->propose_token && token != 0) {
        replica->propose_token = 0;
        bft_propose(replica);
        return;
    }
    if (token != replica->view_token || token == 0) {
        return;                                   /* stale */
    }
    bft_send_timeout(replica);
    /* Ask everyone for what is still missing. */
    if (replica->certified_wanted) {
        bft_request_block(replica, replica->certified_id, UINT32_MAX);
    }
    if (replica->commit_wanted) {
        bft_try_commit(replica, UINT32_MAX);
    }
    if (token == replica->view_token) {
        /* Still in the view: send the timeout again after another period. */
        bft_timer_arm(replica, BFT_TIMER_VIEW, now_ns + bft_view_timeout(replica));
    }
}

const uint8_t *cons_bft_mempool_tx(const cons_bft_replica *replica, uint32_t index,
                                   size_t *size_out, uint64_t *hash_out)
{
    ASSERT(replica != NULL && index < replica->mempool_count && size_out != NULL);
    const bft_pending_tx *pending = &replica->mempool[index];
    *size_out = pending->size;
    if (hash_out != NULL) {
        *hash_out = pending->hash;
    }
    return pending->bytes;
}

size_t cons_bft_effects(const cons_bft_replica *replica, const cons_bft_effect **effects_out)
{
    ASSERT(replica != NULL && effects_out != NULL);
    *effects_out = replica->effects;
    return replica->effect_count;
}

void cons_bft_status_get(const cons_bft_replica *replica, cons_bft_status *status_out)
{
    *status_out = (cons_bft_status){
        .view = replica->view,
        .committed_height = replica->committed_height,
        .high_qc_view = replica->high_qc.view,
        .last_voted_view = replica->last_voted_view,
        .timeouts_in_row = replica->timeouts_in_row,
        .rejected = replica->rejected,
        .mempool = replica->mempool_count,
    };
}

const char *cons_bft_check(const cons_bft_replica *replica)
{
    if (replica->started && replica->high_qc.view >= replica->view) {
        return "bft_high_qc_below_view";
    }
    if (replica->last_voted_view > replica->view) {
        return "bft_voted_ahead_of_view";
    }
    if (replica->committed_height > replica->high_qc.height) {
        return "bft_committed_above_certified";
    }
    if (replica->last_tc.view >= replica->view && replica->started) {
        return "bft_tc_not_below_view";
    }
    if (replica->mempool_count > CONS_BFT_MEMPOOL_MAX) {
        return "bft_mempool_over_bound";
    }
    return NULL;
}
