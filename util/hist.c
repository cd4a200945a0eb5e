/* hist.c -- log-linear histogram. Values below 64 have a bucket each; a
 * value with highest set bit e >= 6 falls in group e - 5, which splits
 * [2^e, 2^(e+1)) into 64 equal sub-buckets of width 2^(e-6). Every bucket is
 * therefore narrower than 1/64 of the values it holds. */
#include "util/hist.h"

#include <math.h>
#include <string.h>

#include "util/assert.h"

_Static_assert(UTIL_HIST_SUB_BUCKETS == 64, "the index math assumes 64 sub-buckets");

static unsigned hist_index(uint64_t value)
{
    if (value < UTIL_HIST_SUB_BUCKETS) {
        return (unsigned)value;
    }
    unsigned exponent = 63u - (unsigned)__builtin_clzll(value);   /* >= 6 */
    unsigned sub = (unsigned)(value >> (exponent - 6)) - UTIL_HIST_SUB_BUCKETS;
    unsigned index = (exponent - 5) * UTIL_HIST_SUB_BUCKETS + sub;
    ASSERT(index < UTIL_HIST_BUCKETS);
    return index;
}

/* Largest value that maps to bucket 'index' (inclusive upper edge). */
static uint64_t hist_upper(unsigned index)
{
    unsigned group = index / UTIL_HIST_SUB_BUCKETS;
    uint64_t sub = index % UTIL_HIST_SUB_BUCKETS;
    if (group == 0) {
        return sub;
    }
    unsigned shift = group - 1;   /* exponent - 6 */
    uint64_t lower = (UTIL_HIST_SUB_BUCKETS + sub) << shift;
    return lower + ((uint64_t)1 << shift) - 1;
}

void util_hist_init(util_hist *hist)
{
    ASSERT(hist != NULL);
    memset(hist, 0, sizeof(*hist));
}

void util_hist_add(util_hist *hist, uint64_t value)
{
    if (hist->total_count == 0 || value < hist->min_value) {
        hist->min_value = value;
    }
    if (hist->total_count == 0 || value > hist->max_value) {
        hist->max_value = value;
    }
    hist->counts[hist_index(value)] += 1;
    hist->total_count += 1;
    hist->sum += (double)value;
}

uint64_t util_hist_quantile(const util_hist *hist, double q)
{
    ASSERT(hist != NULL);
    if (hist->total_count == 0) {
        return 0;
    }
    q = q < 0.0 ? 0.0 : (q > 1.0 ? 1.0 : q);
    uint64_t rank = (uint64_t)ceil(q * (double)hist->total_count);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > hist->total_count) {
        rank = hist->total_count;
    }
    uint64_t seen = 0;
    unsigned index = 0;
    for (; index < UTIL_HIST_BUCKETS; index++) {
        seen += hist->counts[index];
        if (seen >= rank) {
            break;
        }
    }
    ASSERT(index < UTIL_HIST_BUCKETS);
    uint64_t value = hist_upper(index);
    if (value < hist->min_value) {
        value = hist->min_value;
    }
    if (value > hist->max_value) {
        value = hist->max_value;
    }
    return value;
}

double util_hist_mean(const util_hist *hist)
{
    ASSERT(hist != NULL);
    if (hist->total_count == 0) {
        return 0.0;
    }
    return hist->sum / (double)hist->total_count;
}

double util_hist_metric(const util_hist *hist, double q)
{
    return hist->total_count == 0 ? NAN : (double)util_hist_quantile(hist, q);
}

void util_hist_merge(util_hist *hist, const util_hist *other)
{
    if (other->total_count == 0) {
        return;
    }
    for (size_t i = 0; i < UTIL_HIST_BUCKETS; i++) {
        hist->counts[i] += other->counts[i];
    }
    if (hist->total_count == 0 || other->min_value < hist->min_value) {
        hist->min_value = other->min_value;
    }
    if (hist->total_count == 0 || other->max_value > hist->max_value) {
        hist->max_value = other->max_value;
    }
    hist->total_count += other->total_count;
    hist->sum += other->sum;
}
