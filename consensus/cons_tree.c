/* cons_tree.c -- committee draws in O(k log n): successive weighted
 * sampling over a Fenwick tree of integer weights.
 *
 * The race of cons_sortition.c keys every candidate's ticket by the beacon,
 * so no draw can skip a candidate. This draw takes its randomness from the
 * beacon alone: pick j's point is the first 8 bytes of BLAKE2b-256(domain
 * || beacon || segment || j), scaled to the weight not yet drawn, and the
 * candidate whose stretch of the cumulative weight holds the point is
 * drawn and set aside. Picking proportional to weight without replacement
 * gives committees with the race's distribution (the race's arrival order
 * is this successive sampling), but not the race's committee for a beacon.
 *
 * Weights are integers, quantised from stake x reputation with a power of
 * two (cons_tree_scale), so the tree's prefix sums and a plain scan in list
 * order (cons_tree_scan_select, the reference the tests hold the tree to)
 * agree to the bit on every draw. */
#include <math.h>
#include <string.h>

#include "consensus/cons.h"
#include "util/assert.h"
#include "util/bytes.h"
#include "util/hash.h"

static const char tree_domain[] = "infersim.tree.v1";

double cons_tree_scale(double bound)
{
    /* Clamped, not asserted: the bound comes from a scenario's numbers. */
    bound = bound >= 0x1.0p-900 ? bound : 0x1.0p-900; /* NaN too */
    bound = bound <= 0x1.0p900 ? bound : 0x1.0p900;
    /* bound = m x 2^e with m in [0.5, 1): bound x 2^(40 - e) is in [2^39,
     * 2^40), and a power of two keeps w x scale exact. */
    int exponent = 0;
    (void)frexp(bound, &exponent);
    return ldexp(1.0, 40 - exponent);
}

uint64_t cons_tree_weight(double weight, double scale)
{
    if (!(weight > 0.0)) {
        return 0; /* never drawn; NaN lands here too */
    }
    double q = weight * scale;
    if (!(q < 0x1.0p40)) {
        return (uint64_t)1 << 40;
    }
    return q < 1.0 ? 1 : (uint64_t)q;
}

void cons_tree_init(cons_tree *tree, uint64_t *sums, uint64_t *weights, uint32_t count)
{
    ASSERT(tree != NULL && count <= CONS_TREE_MAX);
    ASSERT(count == 0 || (sums != NULL && weights != NULL));
    *tree = (cons_tree){.sums = sums, .weights = weights, .count = count, .top = 1};
    while (tree->top <= count / 2) {
        tree->top *= 2;
    }
    if (sums != NULL) {
        memset(sums, 0, ((size_t)count + 1) * sizeof(uint64_t));
    }
    if (weights != NULL) {
        memset(weights, 0, (size_t)count * sizeof(uint64_t));
    }
}

/* Adds 'delta' (two's complement: a subtraction when it wraps) at 1-based
 * position 'at'. */
static void tree_add(cons_tree *tree, uint32_t at, uint64_t delta)
{
    for (; at <= tree->count; at += at & (0u - at)) {
        tree->sums[at] += delta;
    }
}

void cons_tree_set(cons_tree *tree, uint32_t index, uint64_t weight)
{
    ASSERT(index < tree->count);
    ASSERT(weight <= (uint64_t)1 << 40);
    tree_add(tree, index + 1, weight - tree->weights[index]);
    tree->weights[index] = weight;
}

void cons_tree_fill(cons_tree *tree)
{
    /* O(count): each node passes its sum to its parent once. */
    for (uint32_t at = 1; at <= tree->count; at++) {
        tree->sums[at] = tree->weights[at - 1];
    }
    for (uint32_t at = 1; at <= tree->count; at++) {
        uint32_t parent = at + (at & (0u - at));
        if (parent <= tree->count) {
            tree->sums[parent] += tree->sums[at];
        }
    }
}

uint64_t cons_tree_total(const cons_tree *tree)
{
    uint64_t total = 0;
    for (uint32_t at = tree->count; at > 0; at -= at & (0u - at)) {
        total += tree->sums[at];
    }
    return total;
}

/* Pick j's point in [0, total): the pick's hash scaled to the total. */
static uint64_t tree_point(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                           uint32_t pick, uint64_t total)
{
    uint8_t input[sizeof(tree_domain) + CONS_BEACON_BYTES + 8];
    memcpy(input, tree_domain, sizeof(tree_domain)); /* with its NUL */
    memcpy(input + sizeof(tree_domain), beacon, CONS_BEACON_BYTES);
    util_put_u32(input + sizeof(tree_domain) + CONS_BEACON_BYTES, segment);
    util_put_u32(input + sizeof(tree_domain) + CONS_BEACON_BYTES + 4, pick);
    uint8_t digest[UTIL_HASH256_BYTES];
    util_hash256(input, sizeof(input), digest);
    __extension__ typedef unsigned __int128 tree_u128; /* as util_prng_below */
    return (uint64_t)(((tree_u128)util_get_u64(digest) * total) >> 64);
}

/* The 0-based position whose stretch holds 'point' (< the total): the
 * largest prefix not above the point, found top down. */
static uint32_t tree_find(const cons_tree *tree, uint64_t point)
{
    uint32_t at = 0;
    for (uint32_t step = tree->top; step > 0; step /= 2) {
        if (at + step <= tree->count && tree->sums[at + step] <= point) {
            at += step;
            point -= tree->sums[at];
        }
    }
    return at;
}

static bool tree_taken(const uint32_t *chosen, uint32_t count, uint32_t index)
{
    for (uint32_t j = 0; j < count; j++) {
        if (chosen[j] == index) {
            return true;
        }
    }
    return false;
}

uint32_t cons_tree_scan_select(const uint64_t *weights, uint32_t count,
                               const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                               uint32_t k, uint32_t *indices_out)
{
    ASSERT(weights != NULL || count == 0);
    ASSERT(k <= CONS_COMMITTEE_MAX && (indices_out != NULL || k == 0));
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        total += weights[i];
    }
    uint32_t chosen = 0;
    while (chosen < k && total > 0) {
        uint64_t point = tree_point(beacon, segment, chosen, total);
        uint32_t i = 0;
        for (uint64_t below = 0;; i++) {
            if (tree_taken(indices_out, chosen, i)) {
                continue;
            }
            if (point < below + weights[i]) {
                break;
            }
            below += weights[i];
        }
        indices_out[chosen++] = i;
        total -= weights[i];
    }
    return chosen;
}

uint32_t cons_tree_hits_needed(double u, double accept)
{
    if (!(accept < 1.0) || !(u < 1.0)) {
        return 1; /* NaN too: the caller validated both */
    }
    accept = accept > 0x1.0p-30 ? accept : 0x1.0p-30;
    u = u > 0x1.0p-1074 ? u : 0x1.0p-1074;
    double more = floor(log(u) / log1p(-accept));
    return more < (double)(UINT32_MAX - 1) ? 1 + (uint32_t)more : UINT32_MAX;
}

_Static_assert(CONS_TREE_WALK_SLOTS == 1u << 13, "walk_slot hashes to 13 bits");

/* The walk's slot of candidate 'index': its own, or a free one. */
static uint32_t walk_slot(const cons_tree_walk *walk, uint32_t index)
{
    uint32_t slot = (uint32_t)(((uint64_t)index * 0x9e3779b97f4a7c15u) >> 51);
    while (walk->index[slot] != 0 && walk->index[slot] != index + 1) {
        slot = (slot + 1) & (CONS_TREE_WALK_SLOTS - 1);
    }
    return slot;
}

enum { WALK_PASS, WALK_SEAT, WALK_STOP };

/* One hit of candidate 'index': whether it seats the candidate, or the
 * caller stopped the walk. */
static int walk_hit(cons_tree_walk *walk, uint32_t *used, uint32_t index, cons_tree_need_fn need,
                    void *context)
{
    uint32_t slot = walk_slot(walk, index);
    if (walk->index[slot] == 0) {
        uint32_t needed = need(context, index);
        if (needed == CONS_TREE_STOP) {
            return WALK_STOP;
        }
        walk->index[slot] = index + 1;
        walk->needed[slot] = needed;
        walk->hits[slot] = 0;
        walk->used[(*used)++] = slot;
    }
    walk->hits[slot] += 1;
    return walk->hits[slot] == walk->needed[slot] ? WALK_SEAT : WALK_PASS;
}

/* The walk both draws take: picks until k seats, the weight runs out or
 * the walk ends; with 'need' NULL every hit seats (cons_tree_select, no
 * scratch), else a candidate seats on the hit 'need' named for it. */
static uint32_t tree_walk(cons_tree *tree, const uint8_t beacon[CONS_BEACON_BYTES],
                          uint32_t segment, uint32_t k, cons_tree_need_fn need, void *context,
                          cons_tree_walk *walk, uint32_t *indices_out, uint32_t *picks_out)
{
    ASSERT(tree != NULL && beacon != NULL && (need == NULL || walk != NULL));
    ASSERT(k <= CONS_COMMITTEE_MAX && (indices_out != NULL || k == 0));
    uint64_t total = cons_tree_total(tree);
    uint64_t taken[CONS_COMMITTEE_MAX];
    uint32_t chosen = 0, pick = 0, used = 0;
    for (; chosen < k && total > 0 && pick < CONS_TREE_WALK_MAX; pick++) {
        uint32_t at = tree_find(tree, tree_point(beacon, segment, pick, total));
        ASSERT(at < tree->count && tree->weights[at] > 0);
        int hit = need == NULL ? WALK_SEAT : walk_hit(walk, &used, at, need, context);
        if (hit == WALK_STOP) {
            pick++;
            break;
        }
        if (hit == WALK_PASS) {
            continue; /* not yet: it stays in the tree */
        }
        indices_out[chosen] = at;
        taken[chosen++] = tree->weights[at];
        total -= tree->weights[at];
        tree_add(tree, at + 1, 0 - tree->weights[at]); /* seated: set aside */
    }
    for (uint32_t j = 0; j < chosen; j++) {
        tree_add(tree, indices_out[j] + 1, taken[j]);
    }
    for (uint32_t u = 0; u < used; u++) {
        walk->index[walk->used[u]] = 0;
    }
    if (picks_out != NULL) {
        *picks_out = pick;
    }
    return chosen;
}

uint32_t cons_tree_select(cons_tree *tree, const uint8_t beacon[CONS_BEACON_BYTES],
                          uint32_t segment, uint32_t k, uint32_t *indices_out)
{
    /* k <= 64 seats take k picks: the walk's bound is never reached. */
    return tree_walk(tree, beacon, segment, k, NULL, NULL, NULL, indices_out, NULL);
}

uint32_t cons_tree_select_thinned(cons_tree *tree, const uint8_t beacon[CONS_BEACON_BYTES],
                                  uint32_t segment, uint32_t k, cons_tree_need_fn need,
                                  void *context, cons_tree_walk *walk, uint32_t *indices_out,
                                  uint32_t *picks_out)
{
    ASSERT(need != NULL);
    return tree_walk(tree, beacon, segment, k, need, context, walk, indices_out, picks_out);
}
