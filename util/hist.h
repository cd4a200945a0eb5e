/* hist.h -- a log-linear latency histogram (HdrHistogram-like): values in
 * nanoseconds, relative bucket error under 1/64 (about 1.6 %), fixed memory,
 * no allocation after init. Used for percentiles of delivery latency so a
 * million-sample run does not store a million samples. Deterministic. */
#ifndef UTIL_HIST_H
#define UTIL_HIST_H

#include <stdint.h>

#define UTIL_HIST_SUB_BUCKETS 64
#define UTIL_HIST_BUCKETS (64 * UTIL_HIST_SUB_BUCKETS)

typedef struct util_hist {
    uint64_t counts[UTIL_HIST_BUCKETS];
    uint64_t total_count;
    uint64_t min_value;
    uint64_t max_value;
    double sum;
} util_hist;

/* Zeroes 'hist'. Cannot fail. */
void util_hist_init(util_hist *hist);
void util_hist_add(util_hist *hist, uint64_t value);
/* Value at quantile q in [0, 1]: the upper edge of the bucket holding the
 * ceil(q * count)-th smallest sample, clamped to [min, max]; 0 when empty. */
uint64_t util_hist_quantile(const util_hist *hist, double q);
double util_hist_mean(const util_hist *hist);
/* util_hist_quantile as a metric: NaN when the histogram is empty. */
double util_hist_metric(const util_hist *hist, double q);
/* Adds every sample of 'other' to 'hist' (as if added one by one).
 * Cannot fail. */
void util_hist_merge(util_hist *hist, const util_hist *other);

#endif
