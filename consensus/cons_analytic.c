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

double cons_crossval_detection(double p, uint32_t k)
{
    ASSERT(p >= 0.0 && p <= 1.0);
    return analytic_clamp01(1.0 - pow(1.0 - p, (double)k));
}

/* P(at least 'need' of 'draws' independent members collude), share r. */
static double analytic_binomial_tail(uint32_t draws, uint32_t need, double r)
{
    if (need == 0) {
        return 1.0;
    }
    if (need > draws) {
        return 0.0;
    }
    double total = 0.0;
    for (uint32_t i = need; i <= draws; i++) {
        double log_term = analytic_log_choose(draws, i);
        log_term += i > 0 ? (double)i * log(r) : 0.0;
        log_term += draws > i ? (double)(draws - i) * log1p(-r) : 0.0;
        total += exp(log_term);
    }
    return analytic_clamp01(total);
}

double cons_detection_probability(const cons_exposure *e)
{
    double r = e->colluding_share;
    ASSERT(r >= 0.0 && r <= 1.0);
    uint32_t others = e->members > 0 ? e->members - 1 : 0;
    switch (e->protocol) {
    case CONS_PROTOCOL_COMMITTEE:
        return 1.0 - analytic_binomial_tail(others, e->quorum > 0 ? e->quorum - 1 : 0, r);
    case CONS_PROTOCOL_SAMPLING:
        return 1.0 - pow(r, (double)others);
    case CONS_PROTOCOL_CROSSVAL:
        return e->check_probability * (1.0 - pow(r, (double)e->members));
    case CONS_PROTOCOL_OPTIMISTIC:
        return 1.0 - pow(r, (double)e->members);
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
