/* cons_sortition.c -- the public beacon and committee sortition. Each
 * candidate's ticket u in (0, 1] is a hash of (beacon, public key, segment),
 * so anyone holding the candidate list can recompute it; its key
 * -ln(u) / weight is an exponential race in which the k first arrivals form
 * a weighted sample without replacement (Efraimidis and Spirakis, 2006).
 * Keys are computed with the host libm's log; every node of one simulation
 * shares it, so recomputation is exact. verification.selection: vrf
 * replaces the hash ticket by one derived from each node's VRF output
 * (cons_vrf.c), which the same race consumes unchanged
 * (cons_committee_select_uniforms). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "consensus/cons.h"
#include "consensus/cons_int.h"
#include "util/assert.h"
#include "util/hash.h"

_Static_assert(CONS_BEACON_BYTES == UTIL_HASH256_BYTES, "a beacon is one digest");
_Static_assert(CONS_PUBLIC_KEY_BYTES == UTIL_SIGN_PUBLIC_KEY_BYTES, "ed25519 public keys");

static const char sortition_beacon_domain[] = "infersim.beacon.v1";

const char *cons_strerror(int error)
{
    switch (error) {
    case 0:
        return "success";
    case CONS_EINVAL:
        return "invalid argument";
    case CONS_ENOQUORUM:
        return "no output reached the quorum";
    default:
        return "unknown error";
    }
}

static void sortition_store_le(uint8_t *out, uint64_t value, int bytes)
{
    ASSERT(out != NULL);
    ASSERT(bytes >= 1 && bytes <= 8);
    for (int i = 0; i < bytes; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

void cons_beacon_derive(uint64_t run_seed, uint64_t request_id, uint32_t round,
                        uint8_t beacon_out[CONS_BEACON_BYTES])
{
    ASSERT(beacon_out != NULL);
    uint8_t input[sizeof(sortition_beacon_domain) + 20];
    size_t at = sizeof(sortition_beacon_domain);
    memcpy(input, sortition_beacon_domain, at);   /* includes the NUL */
    sortition_store_le(input + at, run_seed, 8);
    sortition_store_le(input + at + 8, request_id, 8);
    sortition_store_le(input + at + 16, round, 4);
    util_hash256(input, sizeof(input), beacon_out);
}

double cons_sortition_uniform(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                              const uint8_t public_key[CONS_PUBLIC_KEY_BYTES])
{
    ASSERT(beacon != NULL);
    ASSERT(public_key != NULL);
    uint8_t input[CONS_BEACON_BYTES + CONS_PUBLIC_KEY_BYTES + 4];
    memcpy(input, beacon, CONS_BEACON_BYTES);
    memcpy(input + CONS_BEACON_BYTES, public_key, CONS_PUBLIC_KEY_BYTES);
    sortition_store_le(input + CONS_BEACON_BYTES + CONS_PUBLIC_KEY_BYTES, segment, 4);
    uint8_t digest[UTIL_HASH256_BYTES];
    util_hash256(input, sizeof(input), digest);
    return cons__sortition_uniform_of(digest);
}

double cons__sortition_uniform_of_head(uint64_t head)
{
    /* (top 53 bits + 1) / 2^53 lies in [2^-53, 1]: exact in double, never 0. */
    return (double)((head >> 11) + 1) * 0x1.0p-53;
}

double cons__sortition_uniform_of(const uint8_t digest[CONS_DIGEST_BYTES])
{
    ASSERT(digest != NULL);
    uint64_t head = 0;
    for (int i = 0; i < 8; i++) {
        head |= (uint64_t)digest[i] << (8 * i);
    }
    return cons__sortition_uniform_of_head(head);
}

bool cons_spot_check(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment, double p)
{
    ASSERT(beacon != NULL);
    /* The check's own "public key": a domain tag, so the draw is
     * independent of every candidate's ticket. */
    uint8_t tag[CONS_PUBLIC_KEY_BYTES] = "infersim/crossval-spot-check";
    return cons_sortition_uniform(beacon, segment, tag) <= p;
}

/* Whether stake and reputation are finite and > 0 with a finite product
 * weight > 0. Four comparisons: NaN fails each, and an infinite factor
 * makes the product infinite. */
static bool sortition_weight_ok(double stake, double reputation, double weight)
{
    return stake > 0.0 && reputation > 0.0 && weight > 0.0 && weight <= DBL_MAX;
}

static bool sortition_weight_valid(const cons_candidate *candidate)
{
    return sortition_weight_ok(candidate->stake, candidate->reputation,
                               candidate->stake * candidate->reputation);
}

int cons_candidates_check(const cons_candidate *candidates, size_t count)
{
    ASSERT(candidates != NULL || count == 0);
    for (size_t i = 0; i < count; i++) {
        if (!sortition_weight_valid(&candidates[i])) {
            return CONS_EINVAL;
        }
    }
    return 0;
}

static double sortition_key_of(double u, const cons_candidate *candidate)
{
    ASSERT(u > 0.0 && u <= 1.0);
    /* u == 1 gives -0.0; adding +0.0 normalises it to +0.0. */
    double key = -log(u) / (candidate->stake * candidate->reputation) + 0.0;
    ASSERT(key >= 0.0);
    return key;
}

double cons_sortition_key(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                          const cons_candidate *candidate)
{
    ASSERT(candidate != NULL);
    ASSERT(sortition_weight_valid(candidate));
    double u = cons_sortition_uniform(beacon, segment, candidate->public_key);
    return sortition_key_of(u, candidate);
}

/* The selection order: smaller key first, then smaller node_id, then the
 * earlier list position, so the order is total and host-independent. */
static bool sortition_precedes(double key_a, uint32_t node_a, size_t index_a, double key_b,
                               uint32_t node_b, size_t index_b)
{
    if (key_a != key_b) {
        return key_a < key_b;
    }
    if (node_a != node_b) {
        return node_a < node_b;
    }
    return index_a < index_b;
}

/* The bound of a full 'best': its k-th key with a margin far above every
 * rounding error of sortition_admits' two sides. */
static double sortition_bound(const cons_draw_best *best)
{
    return best->key[best->k - 1] * (1.0 + 0x1.0p-20);
}

/* False when ticket u of a candidate of 'weight' cannot give a key that
 * enters a full best of 'bound' (sortition_bound): the key -ln(u) / w is
 * at least (1 - u) / w, so a candidate with 1 - u > bound x w lands behind
 * the k-th. This skips the logarithm for almost every candidate of a large
 * draw and never changes the result. */
static bool sortition_admits(double bound, double weight, double u)
{
    double scaled = bound * weight;
    /* Far from subnormal keys, where rounding is no longer relative. */
    return !(scaled > 0x1.0p-900) || 1.0 - u <= scaled;
}

static bool sortition_may_enter(const cons_draw_best *best, double u, const cons_candidate *c)
{
    return best->filled < best->k ||
           sortition_admits(sortition_bound(best), c->stake * c->reputation, u);
}

/* Offers (key, node, index) to 'best'; insertion keeps it O(k). False
 * when it lands behind the k-th. */
static bool sortition_offer(cons_draw_best *best, double key, uint32_t node, size_t index)
{
    uint32_t at = best->filled;
    while (at > 0 && sortition_precedes(key, node, index, best->key[at - 1],
                                        best->node_id[at - 1], best->index[at - 1])) {
        at--;
    }
    if (at >= best->k) {
        return false;
    }
    uint32_t last = best->filled < best->k ? best->filled : best->k - 1;
    for (uint32_t j = last; j > at; j--) {
        best->key[j] = best->key[j - 1];
        best->node_id[j] = best->node_id[j - 1];
        best->index[j] = best->index[j - 1];
    }
    best->key[at] = key;
    best->node_id[at] = node;
    best->index[at] = index;
    best->filled = best->filled < best->k ? best->filled + 1 : best->k;
    return true;
}

/* Offers candidate i under ticket u; false, offering nothing, when its
 * weight is invalid. The weight is checked here, as the candidate is
 * offered, not in a pass of its own over the slice: a large draw reads
 * each candidate once. */
static bool sortition_offer_ticket(cons_draw_best *best, double u,
                                   const cons_candidate *candidates, size_t i)
{
    if (!sortition_weight_valid(&candidates[i])) {
        return false;
    }
    if (sortition_may_enter(best, u, &candidates[i])) {
        (void)sortition_offer(best, sortition_key_of(u, &candidates[i]), candidates[i].node_id,
                              i);
    }
    return true;
}

/* Offers candidates[first, first + count) under the tickets of their
 * digests' heads; false at the first invalid weight. The same as
 * sortition_offer_ticket on each, with the full best's bound kept in a
 * register until a candidate enters, which almost none of a large draw
 * does. */
static bool sortition_offer_heads(cons_draw_best *best, const uint64_t *heads,
                                  const cons_candidate *candidates, size_t first, size_t count)
{
    size_t j = 0;
    while (j < count && best->filled < best->k) {
        double u = cons__sortition_uniform_of_head(heads[j]);
        if (!sortition_offer_ticket(best, u, candidates, first + j++)) {
            return false;
        }
    }
    ASSERT(best->k > 0);
    double bound = sortition_bound(best);
    for (; j < count; j++) {
        const cons_candidate *c = &candidates[first + j];
        double weight = c->stake * c->reputation;
        if (!sortition_weight_ok(c->stake, c->reputation, weight)) {
            return false;
        }
        double u = cons__sortition_uniform_of_head(heads[j]);
        if (sortition_admits(bound, weight, u)) {
            (void)sortition_offer(best, sortition_key_of(u, c), c->node_id, first + j);
            bound = sortition_bound(best);
        }
    }
    return true;
}

/* Hash tickets in chunks: the inputs (beacon || public key || segment) of
 * SORTITION_CHUNK candidates hashed side by side, straight from the
 * candidates' keys (util_hash256_heads): the digests cons_sortition_uniform
 * computes one at a time. */
#define SORTITION_CHUNK 64u

static bool sortition_offer_hashed(cons_draw_best *best, const uint8_t *beacon, uint32_t segment,
                                   const cons_candidate *candidates, size_t begin, size_t end)
{
    uint8_t segment_le[4];
    sortition_store_le(segment_le, segment, 4);
    const uint8_t *keys[SORTITION_CHUNK];
    uint64_t heads[SORTITION_CHUNK];
    util_hash_batch batch = {.prefix = beacon,
                             .prefix_size = CONS_BEACON_BYTES,
                             .items = keys,
                             .item_size = CONS_PUBLIC_KEY_BYTES,
                             .suffix = segment_le,
                             .suffix_size = sizeof(segment_le)};
    for (size_t first = begin; first < end; first += SORTITION_CHUNK) {
        size_t chunk = end - first < SORTITION_CHUNK ? end - first : SORTITION_CHUNK;
        for (size_t j = 0; j < chunk; j++) {
            keys[j] = candidates[first + j].public_key;
        }
        util_hash256_heads(&batch, chunk, heads);
        if (!sortition_offer_heads(best, heads, candidates, first, chunk)) {
            return false;
        }
    }
    return true;
}

static bool sortition_uniforms_valid(const double *uniforms, size_t first, size_t last)
{
    for (size_t i = first; i < last; i++) {
        if (!(uniforms[i] > 0.0 && uniforms[i] <= 1.0)) {
            return false;
        }
    }
    return true;
}

int cons_draw_slice(const uint8_t *beacon, uint32_t segment, const double *uniforms,
                    const cons_candidate *candidates, size_t first, size_t last, uint32_t k,
                    cons_draw_best *best_out)
{
    ASSERT(best_out != NULL);
    best_out->filled = 0;
    best_out->k = k;
    if (k > CONS_COMMITTEE_MAX) {
        best_out->k = 0;
        return CONS_EINVAL;
    }
    return cons_draw_extend(beacon, segment, uniforms, candidates, first, last, best_out);
}

int cons_draw_extend(const uint8_t *beacon, uint32_t segment, const double *uniforms,
                     const cons_candidate *candidates, size_t first, size_t last,
                     cons_draw_best *best)
{
    ASSERT(beacon != NULL || uniforms != NULL);
    ASSERT(candidates != NULL || first == last);
    ASSERT(first <= last);
    ASSERT(best != NULL && best->k <= CONS_COMMITTEE_MAX);
    bool valid = true;
    if (best->k == 0) {
        valid = cons_candidates_check(candidates + first, last - first) == 0 &&
                (uniforms == NULL || sortition_uniforms_valid(uniforms, first, last));
    } else if (uniforms == NULL) {
        valid = sortition_offer_hashed(best, beacon, segment, candidates, first, last);
    } else {
        for (size_t i = first; i < last && valid; i++) {
            valid = sortition_uniforms_valid(uniforms, i, i + 1) &&
                    sortition_offer_ticket(best, uniforms[i], candidates, i);
        }
    }
    if (!valid) {
        best->k = 0; /* what it was offered before is void */
        return CONS_EINVAL;
    }
    return 0;
}

uint32_t cons_draw_merge(const cons_draw_best *bests, size_t count, uint32_t k,
                         uint32_t *members_out)
{
    ASSERT(bests != NULL || count == 0);
    ASSERT(k <= CONS_COMMITTEE_MAX);
    ASSERT(members_out != NULL || k == 0);
    cons_draw_best merged = {.filled = 0, .k = k};
    for (size_t b = 0; b < count && k > 0; b++) {
        ASSERT(bests[b].k == k); /* One draw's slices. */
        /* Each best is sorted: once one entry lands behind the k-th, so
         * does every later one. */
        for (uint32_t j = 0; j < bests[b].filled; j++) {
            if (!sortition_offer(&merged, bests[b].key[j], bests[b].node_id[j],
                                 bests[b].index[j])) {
                break;
            }
        }
    }
    for (uint32_t j = 0; j < merged.filled; j++) {
        members_out[j] = merged.node_id[j];
    }
    return merged.filled;
}

/* The k smallest keys; candidate i's key is from uniforms[i] when given,
 * else from its hash ticket under (beacon, segment). O(count) tickets and
 * O(count + k x entrants) comparisons. */
static int sortition_select(const uint8_t *beacon, uint32_t segment, const double *uniforms,
                            const cons_candidate *candidates, size_t count, uint32_t k,
                            uint32_t *members_out)
{
    ASSERT(members_out != NULL || k == 0);
    cons_draw_best best;
    int rc = cons_draw_slice(beacon, segment, uniforms, candidates, 0, count, k, &best);
    if (rc != 0) {
        return rc;
    }
    uint32_t chosen = cons_draw_merge(&best, 1, k, members_out);
    ASSERT(chosen == (count < k ? count : k));
    return (int)chosen;
}

int cons_committee_select(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                          const cons_candidate *candidates, size_t count, uint32_t k,
                          uint32_t *members_out)
{
    ASSERT(beacon != NULL);
    return sortition_select(beacon, segment, NULL, candidates, count, k, members_out);
}

int cons_committee_select_uniforms(const double *uniforms, const cons_candidate *candidates,
                                   size_t count, uint32_t k, uint32_t *members_out)
{
    ASSERT(uniforms != NULL || count == 0);
    static const double none = 1.0;
    return sortition_select(NULL, 0, count > 0 ? uniforms : &none, candidates, count, k,
                            members_out);
}

bool cons_sortition_verify(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                           const cons_candidate *candidates, size_t count, uint32_t k,
                           uint32_t node_id)
{
    ASSERT(beacon != NULL);
    ASSERT(candidates != NULL || count == 0);
    if (cons_candidates_check(candidates, count) != 0) {
        return false;
    }
    size_t claimed = count;
    for (size_t i = 0; i < count && claimed == count; i++) {
        if (candidates[i].node_id == node_id) {
            claimed = i;
        }
    }
    if (claimed == count) {
        return false;
    }
    double claimed_key = cons_sortition_key(beacon, segment, &candidates[claimed]);
    size_t ahead = 0;
    for (size_t i = 0; i < count; i++) {
        double key = cons_sortition_key(beacon, segment, &candidates[i]);
        ahead += sortition_precedes(key, candidates[i].node_id, i, claimed_key, node_id,
                                    claimed);
    }
    return ahead < k;
}

bool cons_committee_verify(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                           const cons_candidate *candidates, size_t count, uint32_t k,
                           const uint32_t *members, uint32_t member_count)
{
    ASSERT(members != NULL || member_count == 0);
    uint32_t expected[CONS_COMMITTEE_MAX];
    int chosen = cons_committee_select(beacon, segment, candidates, count, k, expected);
    if (chosen < 0 || (uint32_t)chosen != member_count) {
        return false;
    }
    return member_count == 0 || memcmp(expected, members, member_count * sizeof(uint32_t)) == 0;
}
