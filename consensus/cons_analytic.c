/* cons_analytic.c -- closed-form committee capture probabilities, used by
 * tests to check sortition and by experiments to size k and the quorum.
 * Binomial coefficients go through lgamma, so populations of millions stay
 * in range; each term is exp(log C(..) + ...), accurate to ~1e-13 relative,
 * far below any Monte Carlo resolution. */
#include <math.h>

#include "consensus/cons.h"
#include "util/assert.h"

static double analytic_log_choose(uint32_t n, uint32_t r)
{
    ASSERT(r <= n);
    return lgamma((double)n + 1.0) - lgamma((double)r + 1.0) - lgamma((double)(n - r) + 1.0);
}

static double analytic_clamp01(double p)
{
    return p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
}

double cons_capture_probability(uint32_t population, uint32_t malicious, uint32_t k,
                                uint32_t quorum)
{
    ASSERT(malicious <= population);
    ASSERT(k <= population);
    if (quorum == 0) {
        return 1.0;
    }
    uint32_t honest = population - malicious;
    /* X malicious members: max(0, k - honest) <= X <= min(k, malicious). */
    uint32_t low = k > honest ? k - honest : 0;
    uint32_t high = k < malicious ? k : malicious;
    low = low > quorum ? low : quorum;
    double log_total = analytic_log_choose(population, k);
    double sum = 0.0;
    for (uint32_t x = low; x <= high; x++) {
        sum += exp(analytic_log_choose(malicious, x) + analytic_log_choose(honest, k - x) -
                   log_total);
    }
    return analytic_clamp01(sum);
}

double cons_capture_probability_binomial(uint32_t population, uint32_t malicious, uint32_t k,
                                         uint32_t quorum)
{
    ASSERT(population > 0);
    ASSERT(malicious <= population);
    if (quorum == 0) {
        return 1.0;
    }
    double p = (double)malicious / (double)population;
    double sum = 0.0;
    for (uint32_t x = quorum; x <= k; x++) {
        /* pow(0, 0) == 1 covers p == 0 and p == 1 exactly. */
        sum += exp(analytic_log_choose(k, x)) * pow(p, (double)x) * pow(1.0 - p, (double)(k - x));
    }
    return analytic_clamp01(sum);
}
