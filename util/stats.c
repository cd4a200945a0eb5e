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
