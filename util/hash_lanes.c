/* hash_lanes.c -- BLAKE2b-256 of many short inputs at once (util/hash.h):
 * one compression per input, eight inputs side by side in the lanes of a
 * vector, so the twelve rounds run once for eight digests. It is RFC 7693's
 * BLAKE2b, unkeyed, with a 32-byte digest, for inputs of one block (at most
 * 128 bytes); the result is bit for bit what util_hash256 (libsodium)
 * gives, which tests/test_util.c checks on random inputs of every size and
 * split. Committee sortition hashes every candidate for every draw, and
 * this is where that time goes.
 *
 * The inputs of one batch differ only in their items (util_hash_batch), so
 * a message word the prefix and suffix fill alone is one broadcast for the
 * whole batch, and only the item's words are loaded lane by lane, straight
 * from each item (a vector loaded from scalar stores into a block would
 * wait on each of them). Only the digest's first word is kept, so the
 * compiler drops the last round's steps that feed nothing else.
 *
 * The vectors are GCC's generic vector extension: on a host with AVX-512 or
 * AVX2 the function is cloned for them (target_clones), elsewhere the
 * compiler splits the vectors into what the target has. Integer arithmetic
 * only, so every clone gives the same bits. Where a vector register holds
 * eight words (AVX-512), sixteen inputs go through the rounds at once, as
 * two groups of eight (hash_lanes_sixteen). */
#include <string.h>

#include "util/assert.h"
#include "util/hash.h"

#define HASH_LANES 8u
#define HASH_BLOCK_BYTES 128u
#define HASH_WORDS 16u

typedef uint64_t hash_lanes_vector __attribute__((vector_size(HASH_LANES * 8)));
/* Two groups of eight lanes: see hash_lanes_sixteen. */
typedef uint64_t hash_lanes_wide __attribute__((vector_size(2 * HASH_LANES * 8)));

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

/* The compression of one block per lane, from the message words m[16]
 * (vectors of type VEC), and the first digest word of each lane stored to
 * heads_out: the body of hash_lanes_eight and hash_lanes_sixteen, which
 * differ only in the width of VEC. */
#define HASH_LANES_COMPRESS(VEC, plan, m, heads_out)                          \
    do {                                                                      \
        VEC v[16];                                                            \
        for (size_t i = 0; i < 8; i++) {                                      \
            uint64_t h = hash_lanes_iv[i] ^                                   \
                         (i == 0 ? 0x01010000ULL ^ UTIL_HASH256_BYTES : 0);   \
            v[i] = (VEC){0} + h;                                              \
            v[i + 8] = (VEC){0} + hash_lanes_iv[i];                           \
        }                                                                     \
        VEC h0 = v[0];                                                        \
        v[12] ^= (uint64_t)(plan)->size; /* the byte counter: one block */    \
        v[14] = ~v[14];                  /* the final block */                \
        _Pragma("GCC unroll 12") for (int r = 0; r < 12; r++) {               \
            HASH_G(r, 0, v[0], v[4], v[8], v[12]);                            \
            HASH_G(r, 1, v[1], v[5], v[9], v[13]);                            \
            HASH_G(r, 2, v[2], v[6], v[10], v[14]);                           \
            HASH_G(r, 3, v[3], v[7], v[11], v[15]);                           \
            HASH_G(r, 4, v[0], v[5], v[10], v[15]);                           \
            HASH_G(r, 5, v[1], v[6], v[11], v[12]);                           \
            HASH_G(r, 6, v[2], v[7], v[8], v[13]);                            \
            HASH_G(r, 7, v[3], v[4], v[9], v[14]);                            \
        }                                                                     \
        VEC head = h0 ^ v[0] ^ v[8];                                          \
        memcpy(heads_out, &head, sizeof(head));                               \
    } while (0)

/* Where each message word's bytes come from, for one batch. */
enum { HASH_WORD_SHARED, HASH_WORD_ITEM, HASH_WORD_MIXED };

typedef struct hash_lanes_plan {
    hash_lanes_vector shared[HASH_WORDS]; /* the bytes outside the item, every lane */
    hash_lanes_wide wide[HASH_WORDS];     /* sixteen lanes' words: the shared set here */
    uint8_t kind[HASH_WORDS];             /* HASH_WORD_*: none, all or some item bytes */
    size_t item_begin, item_end;          /* the item's bytes in the block */
    size_t size;                          /* the input's bytes */
} hash_lanes_plan;

static uint64_t hash_lanes_load64(const uint8_t *bytes)
{
    uint64_t word = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&word, bytes, 8);
#else
    for (size_t i = 0; i < 8; i++) {
        word |= (uint64_t)bytes[i] << (8 * i);
    }
#endif
    return word;
}

/* The item's bytes in message word w: [*lo, *hi), empty when *lo >= *hi. */
static void hash_lanes_item_span(const hash_lanes_plan *plan, size_t w, size_t *lo, size_t *hi)
{
    size_t begin = 8 * w, end = begin + 8;
    *lo = begin > plan->item_begin ? begin : plan->item_begin;
    *hi = end < plan->item_end ? end : plan->item_end;
}

static void hash_lanes_plan_init(const util_hash_batch *batch, hash_lanes_plan *plan)
{
    uint8_t block[HASH_BLOCK_BYTES] = {0}; /* the item's bytes stay zero */
    plan->item_begin = batch->prefix_size;
    plan->item_end = plan->item_begin + batch->item_size;
    plan->size = plan->item_end + batch->suffix_size;
    if (batch->prefix_size > 0) {
        memcpy(block, batch->prefix, batch->prefix_size);
    }
    if (batch->suffix_size > 0) {
        memcpy(block + plan->item_end, batch->suffix, batch->suffix_size);
    }
    for (size_t w = 0; w < HASH_WORDS; w++) {
        size_t lo, hi;
        hash_lanes_item_span(plan, w, &lo, &hi);
        plan->shared[w] = (hash_lanes_vector){0} + hash_lanes_load64(block + 8 * w);
        plan->wide[w] = (hash_lanes_wide){0} + hash_lanes_load64(block + 8 * w);
        plan->kind[w] = lo >= hi              ? HASH_WORD_SHARED
                        : hi - lo == 8        ? HASH_WORD_ITEM
                                              : HASH_WORD_MIXED;
    }
}

/* Word w of the input whose item is 'item', for a word that holds some of
 * the item's bytes and some shared ones. */
static uint64_t hash_lanes_mixed(const hash_lanes_plan *plan, const uint8_t *item, size_t w)
{
    uint64_t word = plan->shared[w][0];
    size_t lo, hi;
    hash_lanes_item_span(plan, w, &lo, &hi);
    for (size_t at = lo; at < hi; at++) {
        word |= (uint64_t)item[at - plan->item_begin] << (8 * (at - 8 * w));
    }
    return word;
}

/* Word 'at' (a byte offset) of eight items, one per lane, and of
 * sixteen. */
#define HASH_LOADS8(items, at)                                                  \
    hash_lanes_load64((items)[0] + (at)), hash_lanes_load64((items)[1] + (at)), \
        hash_lanes_load64((items)[2] + (at)), hash_lanes_load64((items)[3] + (at)), \
        hash_lanes_load64((items)[4] + (at)), hash_lanes_load64((items)[5] + (at)), \
        hash_lanes_load64((items)[6] + (at)), hash_lanes_load64((items)[7] + (at))
#define HASH_LOADS16(items, at) HASH_LOADS8(items, at), HASH_LOADS8((items) + 8, at)

/* The message words m[16] of WIDTH inputs that hold item bytes, lane by
 * lane: an item's word built from the items' loads (LOADS), a word of
 * both assembled lane by lane. The shared words are the caller's. */
#define HASH_LANES_MESSAGE(WIDTH, LOADS, plan, items, m)                      \
    for (size_t w = 0; w < HASH_WORDS; w++) {                                 \
        if ((plan)->kind[w] == HASH_WORD_ITEM) {                              \
            size_t at = 8 * w - (plan)->item_begin;                           \
            m[w] = (__typeof__(m[w])){LOADS(items, at)};                      \
        } else if ((plan)->kind[w] == HASH_WORD_MIXED) {                      \
            for (size_t lane = 0; lane < (WIDTH); lane++) {                   \
                m[w][lane] = hash_lanes_mixed(plan, (items)[lane], w);        \
            }                                                                 \
        }                                                                     \
    }

/* The message words of eight inputs, and of sixteen. The sixteen lanes'
 * words are the plan's: its shared words are set once a batch and only
 * the item's words are written per call, and they stay in memory, where
 * the rounds read them as operands while the registers hold the two
 * groups' state (hash_lanes_sixteen). */
static inline void hash_lanes_message(const hash_lanes_plan *plan,
                                      const uint8_t *const *items,
                                      hash_lanes_vector m[HASH_WORDS])
{
    for (size_t w = 0; w < HASH_WORDS; w++) {
        m[w] = plan->shared[w];
    }
    HASH_LANES_MESSAGE(HASH_LANES, HASH_LOADS8, plan, items, m);
}

static inline void hash_lanes_message_wide(hash_lanes_plan *plan, const uint8_t *const *items)
{
    HASH_LANES_MESSAGE(2 * HASH_LANES, HASH_LOADS16, plan, items, plan->wide);
}

/* Functions built for several instruction sets, picked at run time (not
 * under AddressSanitizer, which these dispatchers confuse: there every
 * function is built for the baseline and gives the same bits). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HASH_LANES_X86 1
#else
#define HASH_LANES_X86 0
#endif
#if HASH_LANES_X86 && !defined(__SANITIZE_ADDRESS__)
#define HASH_LANES_TARGETS 1
#else
#define HASH_LANES_TARGETS 0
#endif

/* The first digest word of eight inputs. */
#if HASH_LANES_TARGETS
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void hash_lanes_eight(const hash_lanes_plan *plan, const uint8_t *const items[HASH_LANES],
                             uint64_t heads_out[HASH_LANES])
{
    hash_lanes_vector m[HASH_WORDS];
    hash_lanes_message(plan, items, m);
    HASH_LANES_COMPRESS(hash_lanes_vector, plan, m, heads_out);
}

/* The first digest word of sixteen inputs: two groups of eight, each
 * vector operation done on both. A round's steps are chains of dependent
 * operations, so a core given one group waits on each link; given two, it
 * runs each link of one beside the same link of the other. On one core, a
 * ticket took 15 to 18 ns against 25 to 27 for one group. Only where a
 * vector register holds eight words (AVX-512, hash_lanes_wide_ok): the two
 * groups' state then fills the 32 registers, while the message words stay
 * in memory (hash_lanes_message_wide) and are read as operands. With
 * narrower vectors the state no longer fits, and two groups ran slower
 * than one (AVX2: 98 against 72 ns). Cloned like hash_lanes_eight, though
 * only the AVX-512 clone is called: built with target("avx512f") alone,
 * GCC kept the message words in registers and spilled the state. */
#if HASH_LANES_TARGETS
__attribute__((target_clones("avx512f", "default")))
#endif
static void hash_lanes_sixteen(hash_lanes_plan *plan, const uint8_t *const *items,
                               uint64_t heads_out[2 * HASH_LANES])
{
    hash_lanes_message_wide(plan, items);
    const hash_lanes_wide *m = plan->wide;
    HASH_LANES_COMPRESS(hash_lanes_wide, plan, m, heads_out);
}

/* Whether hash_lanes_sixteen runs at its full width on this host. */
static bool hash_lanes_wide_ok(void)
{
#if HASH_LANES_X86
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

void util_hash256_heads(const util_hash_batch *batch, size_t count, uint64_t *heads_out)
{
    ASSERT(batch != NULL);
    ASSERT(batch->prefix_size + batch->item_size + batch->suffix_size <= HASH_BLOCK_BYTES);
    ASSERT(batch->prefix != NULL || batch->prefix_size == 0);
    ASSERT(batch->suffix != NULL || batch->suffix_size == 0);
    ASSERT(batch->items != NULL || count == 0);
    ASSERT(heads_out != NULL || count == 0);
    hash_lanes_plan plan;
    hash_lanes_plan_init(batch, &plan);
    size_t first = 0;
    if (hash_lanes_wide_ok()) {
        for (; first + 2 * HASH_LANES <= count; first += 2 * HASH_LANES) {
            hash_lanes_sixteen(&plan, batch->items + first, heads_out + first);
        }
    }
    for (; first < count; first += HASH_LANES) {
        size_t lanes = count - first < HASH_LANES ? count - first : HASH_LANES;
        const uint8_t *items[HASH_LANES];
        for (size_t lane = 0; lane < HASH_LANES; lane++) {
            /* Lanes past the batch hash its first item again, unused. */
            items[lane] = batch->items[first + (lane < lanes ? lane : 0)];
        }
        uint64_t heads[HASH_LANES];
        hash_lanes_eight(&plan, items, heads);
        memcpy(heads_out + first, heads, lanes * sizeof(heads[0]));
    }
}
