/* stats.c -- see stats.h. */
#include "util/stats.h"

#include <math.h>
#include <stdlib.h>

#include "util/assert.h"

static double stats_clamp01(double p)
{
    return p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
}

void util_wilson_interval(uint64_t successes, uint64_t trials, double z, double *low_out,
                          double *high_out)
{
    ASSERT(successes <= trials);
    ASSERT(z > 0.0);
    ASSERT(low_out != NULL && high_out != NULL);
    if (trials == 0) {
        *low_out = 0.0;
        *high_out = 1.0;
        return;
    }
    double n = (double)trials;
    double p = (double)successes / n;
    double z2 = z * z;
    double centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    double half = z * sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / (1.0 + z2 / n);
    *low_out = successes == 0 ? 0.0 : stats_clamp01(centre - half);
    *high_out = successes == trials ? 1.0 : stats_clamp01(centre + half);
}

static int stats_compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

double util_quantile_nearest_rank(uint64_t *values, uint64_t n, double q)
{
    ASSERT(q >= 0.0 && q <= 1.0);
    if (n == 0) {
        return NAN;
    }
    ASSERT(values != NULL);
    qsort(values, (size_t)n, sizeof(*values), stats_compare_u64);
    double rank = ceil(q * (double)n);
    uint64_t index = rank < 1.0 ? 0 : rank >= (double)n ? n - 1 : (uint64_t)rank - 1;
    return (double)values[index];
}

double util_kolmogorov_survival(double lambda)
{
    if (!(lambda > 0.0)) {
        return 1.0;
    }
    if (lambda < 0.2) {
        return 1.0; /* The series converges slowly there; Q is 1 - 1e-20 or closer. */
    }
    /* Q(l) = 2 sum_{j >= 1} (-1)^(j-1) exp(-2 j^2 l^2): alternating, its
     * terms shrink fast for l >= 0.2; stop when a term no longer counts. */
    double sum = 0.0;
    double sign = 1.0;
    for (int j = 1; j <= 100; j++) {
        double term = exp(-2.0 * (double)j * (double)j * lambda * lambda);
        sum += sign * term;
        if (term < 1e-17 * sum) {
            break;
        }
        sign = -sign;
    }
    return stats_clamp01(2.0 * sum);
}

double util_ks_two_sample(uint64_t *a, uint64_t a_count, uint64_t *b, uint64_t b_count,
                          double *p_value_out)
{
    ASSERT(a != NULL || a_count == 0);
    ASSERT(b != NULL || b_count == 0);
    if (a_count == 0 || b_count == 0) {
        if (p_value_out != NULL) {
            *p_value_out = NAN;
        }
        return NAN;
    }
    qsort(a, (size_t)a_count, sizeof(*a), stats_compare_u64);
    qsort(b, (size_t)b_count, sizeof(*b), stats_compare_u64);
    /* Walk both sorted samples; at each distinct value, step past every
     * copy of it in both (ties move the two CDFs together). */
    uint64_t i = 0, j = 0;
    double distance = 0.0;
    while (i < a_count && j < b_count) {
        uint64_t value = a[i] < b[j] ? a[i] : b[j];
        while (i < a_count && a[i] == value) {
            i++;
        }
        while (j < b_count && b[j] == value) {
            j++;
        }
        double gap = fabs((double)i / (double)a_count - (double)j / (double)b_count);
        distance = gap > distance ? gap : distance;
    }
    if (p_value_out != NULL) {
        double n = (double)a_count * (double)b_count / ((double)a_count + (double)b_count);
        *p_value_out = util_kolmogorov_survival(sqrt(n) * distance);
    }
    ASSERT(distance >= 0.0 && distance <= 1.0);
    return distance;
}
