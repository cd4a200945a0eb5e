/* stats.h -- small closed-form statistics shared by the checkers, the
 * tests and the result readers. Pure functions; no allocation. */
#ifndef UTIL_STATS_H
#define UTIL_STATS_H

#include <stddef.h>
#include <stdint.h>

/* The Wilson score interval of a binomial proportion: 'successes' of
 * 'trials' at the normal quantile z (1.96 for 95 %). Inside [0, 1] always,
 * unlike the normal approximation, and exact at the ends (0 of n starts
 * at 0, n of n ends at 1). trials == 0 gives [0, 1]. ASSERTs
 * successes <= trials and z > 0. Cannot fail. */
void util_wilson_interval(uint64_t successes, uint64_t trials, double z, double *low_out,
                          double *high_out);

/* The q-quantile of n values by the nearest-rank rule: the ceil(q n)-th
 * smallest (the smallest for q = 0), always one of the values. Sorts
 * 'values' in place. NaN when n == 0. ASSERTs q in [0, 1]. */
double util_quantile_nearest_rank(uint64_t *values, uint64_t n, double q);

#endif
