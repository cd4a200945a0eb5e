/* cons_privacy.c -- the accountant of the Gaussian mechanism on forwarded
 * activations: Renyi-DP per release, composition by summation and the
 * classic conversion to (epsilon, delta) over a fixed grid of orders (see
 * cons.h). Pure arithmetic in a fixed order, so results are reproducible
 * to the bit. */
#include <math.h>

#include "consensus/cons.h"
#include "util/assert.h"

#define RDP_FINE_COUNT 99u    /* 1.1 .. 10.9 */
#define RDP_WHOLE_COUNT 53u   /* 11 .. 63 */

double cons_rdp_order(uint32_t i)
{
    ASSERT(i < CONS_RDP_ORDERS);
    if (i < RDP_FINE_COUNT) {
        return 1.0 + (double)(i + 1) / 10.0;
    }
    if (i < RDP_FINE_COUNT + RDP_WHOLE_COUNT) {
        return (double)(11 + i - RDP_FINE_COUNT);
    }
    return ldexp(64.0, (int)(i - RDP_FINE_COUNT - RDP_WHOLE_COUNT));
}

double cons_rdp_gaussian(double sigma, uint64_t releases, double alpha)
{
    ASSERT(alpha > 1.0);
    if (releases == 0) {
        return 0.0;
    }
    if (!(sigma > 0.0)) {
        return INFINITY;
    }
    return (double)releases * alpha / (2.0 * sigma * sigma);
}

double cons_rdp_epsilon(double sigma, uint64_t releases, double delta, double *alpha_out)
{
    ASSERT(delta > 0.0 && delta < 1.0);
    double best = INFINITY;
    double best_alpha = cons_rdp_order(0);
    if (releases == 0) {
        best = 0.0;
    }
    for (uint32_t i = 0; releases > 0 && i < CONS_RDP_ORDERS; i++) {
        double alpha = cons_rdp_order(i);
        double epsilon = cons_rdp_gaussian(sigma, releases, alpha) + log(1.0 / delta) / (alpha - 1.0);
        if (epsilon < best) {
            best = epsilon;
            best_alpha = alpha;
        }
    }
    if (alpha_out != NULL) {
        *alpha_out = best_alpha;
    }
    ASSERT(best >= 0.0);
    return best;
}

double cons_rdp_sigma_for(double epsilon, double delta, uint64_t releases)
{
    ASSERT(epsilon > 0.0 && delta > 0.0 && delta < 1.0 && releases >= 1);
    double low = 0.0;
    double high = 1.0;
    /* Epsilon falls as sigma grows (towards ln(1/delta) / 1023 at the
     * grid's last order); a target below that floor is met by no sigma:
     * the search stops at a huge sigma. */
    while (cons_rdp_epsilon(high, releases, delta, NULL) > epsilon && high < 1e12) {
        low = high;
        high *= 2.0;
    }
    for (int i = 0; i < 200 && high - low > 1e-9 * high; i++) {
        double middle = 0.5 * (low + high);
        if (cons_rdp_epsilon(middle, releases, delta, NULL) > epsilon) {
            low = middle;
        } else {
            high = middle;
        }
    }
    ASSERT(high > 0.0);
    return high;
}
