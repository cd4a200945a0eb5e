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

/* The survival function of the Kolmogorov distribution, the limit law of
 * sqrt(n) times a Kolmogorov-Smirnov statistic: Q(lambda) = P(K > lambda)
 * = 2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 lambda^2). 1 for lambda <= 0 (and
 * NaN). Q(1.358) is about 0.05, Q(1.628) about 0.01. Cannot fail. */
double util_kolmogorov_survival(double lambda);

/* The two-sample Kolmogorov-Smirnov test of a[a_count] against
 * b[b_count]: returns D, the largest distance between the two empirical
 * CDFs (ties handled: both step together), and, when p_value_out is not
 * NULL, the asymptotic p-value Q(sqrt(n m / (n + m)) D) (good for samples
 * of some tens and up; conservative for fewer). Sorts both arrays in
 * place. NaN (both) when a sample is empty. Cannot fail. */
double util_ks_two_sample(uint64_t *a, uint64_t a_count, uint64_t *b, uint64_t b_count,
                          double *p_value_out);

#endif
