/* cons_analytic.c -- closed-form committee capture and detection
 * probabilities, used by tests to check sortition and the protocols, by
 * experiments to size k and the quorum, and by the rational adversary.
 * Draws are uniform without replacement (hypergeometric) where the pool is
 * finite; the *_iid forms are the large-pool limits.
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

double cons_sampling_capture_iid(double malicious_share, uint32_t n)
{
    ASSERT(malicious_share >= 0.0 && malicious_share <= 1.0);
    return pow(malicious_share, (double)n);
}

double cons_sampling_capture(uint32_t population, uint32_t malicious, uint32_t n)
{
    ASSERT(malicious <= population && n <= population);
    if (n > malicious) {
        return 0.0;
    }
    return analytic_clamp01(exp(analytic_log_choose(malicious, n) -
                                analytic_log_choose(population, n)));
}

/* 1 - (1 - q)^k for a per-request detection probability q. */
static double analytic_within(double q, uint32_t k)
{
    if (k == 0 || q <= 0.0) {
        return 0.0;
    }
    return analytic_clamp01(-expm1((double)k * log1p(-q)));
}

double cons_crossval_detection(double p, double colluding_share, uint32_t n, uint32_t k)
{
    ASSERT(p >= 0.0 && p <= 1.0);
    ASSERT(colluding_share >= 0.0 && colluding_share <= 1.0);
    return analytic_within(p * (1.0 - cons_sampling_capture_iid(colluding_share, n)), k);
}

double cons_crossval_detection_exact(double p, uint32_t pool, uint32_t colluding, uint32_t n,
                                     uint32_t k)
{
    ASSERT(p >= 0.0 && p <= 1.0);
    ASSERT(colluding <= pool && n <= pool);
    return analytic_within(p * (1.0 - cons_sampling_capture(pool, colluding, n)), k);
}

double cons_detection_probability(const cons_exposure *e)
{
    ASSERT(e->colluding <= e->pool);
    uint32_t others = e->members > 0 ? e->members - 1 : 0;
    others = others < e->pool ? others : e->pool;
    uint32_t checkers = e->members < e->pool ? e->members : e->pool;
    switch (e->protocol) {
    case CONS_PROTOCOL_COMMITTEE:
        /* The lie stands when q - 1 of the other k - 1 members collude. */
        return 1.0 - cons_capture_probability(e->pool, e->colluding, others,
                                              e->quorum > 0 ? e->quorum - 1 : 0);
    case CONS_PROTOCOL_SAMPLING:
        return 1.0 - cons_sampling_capture(e->pool, e->colluding, others);
    case CONS_PROTOCOL_CROSSVAL:
        return e->check_probability *
               (1.0 - cons_sampling_capture(e->pool, e->colluding, checkers));
    case CONS_PROTOCOL_OPTIMISTIC:
        return 1.0 - cons_sampling_capture(e->pool, e->colluding, checkers);
    case CONS_PROTOCOL_TEE:
        return e->forged_evidence ? 0.0 : 1.0;
    case CONS_PROTOCOL_ZK:
        return 1.0;
    default:
        break;
    }
    ASSERT(false && "unknown protocol");
    return 1.0;
}

bool cons_rational_cheats(double p_caught, double gain, double loss)
{
    return (1.0 - p_caught) * gain > p_caught * loss;
}
