/* stats.c -- see stats.h. */
#include "util/stats.h"

#include <math.h>

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
