/* cons_agree.c -- agreement rules between two members' outputs and the
 * acceptance of one output by a quorum. Floating-point kernels on different
 * hardware (or with different reduction orders) drift in the last bits, so
 * bitwise equality (EXACT) suits only identical deterministic executors;
 * the tolerant rules (MAXABS, COSINE, TOPK) are what heterogeneous
 * committees need, and they are not transitive -- see cons_accept. Every
 * rule treats NaN conservatively (disagree), except EXACT, which compares
 * bits and nothing else. All arithmetic is in double, in index order, so a
 * verdict does not depend on the host. */
#include <math.h>
#include <string.h>

#include "consensus/cons.h"
#include "util/assert.h"

int cons_agreement_check(const cons_agreement *rule)
{
    ASSERT(rule != NULL);
    switch (rule->kind) {
    case CONS_AGREE_EXACT:
        return 0;
    case CONS_AGREE_MAXABS:
        return isfinite(rule->epsilon) && rule->epsilon >= 0.0 ? 0 : CONS_EINVAL;
    case CONS_AGREE_COSINE:
        return rule->tau >= -1.0 && rule->tau <= 1.0 ? 0 : CONS_EINVAL;
    case CONS_AGREE_TOPK:
        return rule->top_k >= 1 && rule->top_k <= CONS_TOPK_MAX && isfinite(rule->margin) &&
                       rule->margin >= 0.0
                   ? 0
                   : CONS_EINVAL;
    default:
        return CONS_EINVAL;
    }
}

static bool agree_maxabs(double epsilon, const float *a, const float *b, size_t n)
{
    ASSERT(isfinite(epsilon) && epsilon >= 0.0); /* cons_agreement_check passed. */
    ASSERT(a != NULL && b != NULL && n > 0);
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) {
            return false;
        }
        /* inf - inf is NaN and inf - x is inf: both fail the test below. */
        double difference = fabs((double)a[i] - (double)b[i]);
        if (!(difference <= epsilon)) {
            return false;
        }
    }
    return true;
}

static bool agree_cosine(double tau, const float *a, const float *b, size_t n)
{
    ASSERT(tau >= -1.0 && tau <= 1.0); /* cons_agreement_check passed. */
    ASSERT(a != NULL && b != NULL && n > 0);
    double dot = 0.0;
    double norm_a = 0.0;
    double norm_b = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) {
            return false;
        }
        /* Squares of floats cannot overflow a double. */
        dot += (double)a[i] * (double)b[i];
        norm_a += (double)a[i] * (double)a[i];
        norm_b += (double)b[i] * (double)b[i];
    }
    if (norm_a == 0.0 || norm_b == 0.0) {
        return norm_a == 0.0 && norm_b == 0.0;
    }
    double cosine = dot / sqrt(norm_a * norm_b);
    return cosine >= tau;
}

/* Writes the indices of the 'k' largest values to top_out, largest first,
 * ties to the lower index. Assumes no NaN. O(n * k). */
static void agree_top_indices(const float *values, size_t n, uint32_t k, size_t *top_out)
{
    ASSERT(k >= 1 && k <= CONS_TOPK_MAX && k <= n);
    uint32_t filled = 0;
    for (size_t i = 0; i < n; i++) {
        /* Equal values keep the earlier (lower) index ahead: strict '>'. */
        uint32_t at = filled;
        while (at > 0 && values[i] > values[top_out[at - 1]]) {
            at--;
        }
        if (at >= k) {
            continue;
        }
        uint32_t last = filled < k ? filled : k - 1;
        for (uint32_t j = last; j > at; j--) {
            top_out[j] = top_out[j - 1];
        }
        top_out[at] = i;
        filled = filled < k ? filled + 1 : k;
    }
    ASSERT(filled == k);
}

/* Whether each index of 'other''s top set holds, in 'values', at least
 * the value of values' own k-th largest (top[k - 1]) minus 'margin'. */
static bool agree_within_margin(const float *values, const size_t *top, const size_t *other,
                                uint32_t k, double margin)
{
    double floor = (double)values[top[k - 1]] - margin;
    for (uint32_t i = 0; i < k; i++) {
        if (!((double)values[other[i]] >= floor)) {
            return false;
        }
    }
    return true;
}

static bool agree_topk(uint32_t top_k, double margin, const float *a, const float *b, size_t n)
{
    ASSERT(top_k >= 1 && top_k <= CONS_TOPK_MAX); /* cons_agreement_check passed. */
    ASSERT(a != NULL && b != NULL && n > 0);
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) {
            return false;
        }
    }
    uint32_t k = n < top_k ? (uint32_t)n : top_k;
    ASSERT(k >= 1 && k <= CONS_TOPK_MAX);
    size_t top_a[CONS_TOPK_MAX];
    size_t top_b[CONS_TOPK_MAX];
    agree_top_indices(a, n, k, top_a);
    agree_top_indices(b, n, k, top_b);
    /* Equal as sets: each of a's indices is among b's (both have k distinct). */
    bool equal = true;
    for (uint32_t i = 0; i < k && equal; i++) {
        bool found = false;
        for (uint32_t j = 0; j < k && !found; j++) {
            found = top_a[i] == top_b[j];
        }
        equal = found;
    }
    return equal || (margin > 0.0 && agree_within_margin(a, top_a, top_b, k, margin) &&
                     agree_within_margin(b, top_b, top_a, k, margin));
}

bool cons_agree(const cons_agreement *rule, const float *a, const float *b, size_t n)
{
    ASSERT(cons_agreement_check(rule) == 0);
    ASSERT(a != NULL || n == 0);
    ASSERT(b != NULL || n == 0);
    if (n == 0) {
        return true;
    }
    switch (rule->kind) {
    case CONS_AGREE_EXACT:
        return memcmp(a, b, n * sizeof(float)) == 0;
    case CONS_AGREE_MAXABS:
        return agree_maxabs(rule->epsilon, a, b, n);
    case CONS_AGREE_COSINE:
        return agree_cosine(rule->tau, a, b, n);
    case CONS_AGREE_TOPK:
        return agree_topk(rule->top_k, rule->margin, a, b, n);
    }
    ASSERT(!"unreachable: cons_agreement_check accepted an unknown kind");
    return false;
}

int cons_accept(const cons_agreement *rule, const float *const *outputs, size_t n_floats,
                uint32_t count, uint32_t quorum, uint32_t *accepted_out,
                uint64_t *agree_mask_out)
{
    ASSERT(cons_agreement_check(rule) == 0);
    ASSERT(outputs != NULL);
    ASSERT(count >= 1);
    ASSERT(count <= CONS_COMMITTEE_MAX);
    ASSERT(quorum >= 1);
    ASSERT(accepted_out != NULL);
    ASSERT(agree_mask_out != NULL);
    uint32_t best = 0;
    uint32_t best_support = 0;
    uint64_t best_mask = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t support = 0;
        uint64_t mask = 0;
        for (uint32_t j = 0; j < count; j++) {
            if (cons_agree(rule, outputs[i], outputs[j], n_floats)) {
                support++;
                mask |= (uint64_t)1 << j;
            }
        }
        /* Strict '>': on equal support the lower index stays. */
        if (i == 0 || support > best_support) {
            best = i;
            best_support = support;
            best_mask = mask;
        }
    }
    *accepted_out = best;
    *agree_mask_out = best_mask;
    return best_support >= quorum ? 0 : CONS_ENOQUORUM;
}
