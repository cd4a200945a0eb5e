/* cons_reputation.c -- Nesa's multiplicative reputation rule,
 * R' = R * penalty^M * reward^(1-M) clamped to [min, max], and its closed
 * forms. With the defaults one deviation costs 20 % and one honest round
 * earns 1 %, so a single deviation takes ln(1/0.8)/ln(1.01) ~ 22.4 honest
 * rounds to repair: cheating pays only if it wins more than that often, and
 * a member must be honest in 95.7 % of its rounds to hold its reputation
 * (cons_reputation_break_even). */
#include <math.h>

#include "consensus/cons.h"
#include "util/assert.h"

cons_reputation_rule cons_reputation_rule_default(void)
{
    cons_reputation_rule rule = {
        .penalty = 0.8, .reward = 1.01, .min = 0.1, .max = 10.0, .initial = 1.0,
    };
    return rule;
}

int cons_reputation_rule_check(const cons_reputation_rule *rule)
{
    ASSERT(rule != NULL);
    bool finite = isfinite(rule->penalty) && isfinite(rule->reward) && isfinite(rule->min) &&
                  isfinite(rule->max) && isfinite(rule->initial);
    if (!finite || !(rule->penalty > 0.0 && rule->penalty <= 1.0) || !(rule->reward >= 1.0)) {
        return CONS_EINVAL;
    }
    if (!(rule->min > 0.0 && rule->min <= rule->initial && rule->initial <= rule->max)) {
        return CONS_EINVAL;
    }
    return 0;
}

static double reputation_clamp(const cons_reputation_rule *rule, double r)
{
    return r < rule->min ? rule->min : r > rule->max ? rule->max : r;
}

double cons_reputation_update(const cons_reputation_rule *rule, double r, bool deviated)
{
    ASSERT(cons_reputation_rule_check(rule) == 0);
    ASSERT(isfinite(r));
    ASSERT(r > 0.0);
    double next = reputation_clamp(rule, r) * (deviated ? rule->penalty : rule->reward);
    next = reputation_clamp(rule, next);
    ASSERT(next >= rule->min);
    ASSERT(next <= rule->max);
    return next;
}

uint32_t cons_reputation_rounds_to_fall(const cons_reputation_rule *rule, double from,
                                        double below)
{
    ASSERT(cons_reputation_rule_check(rule) == 0);
    ASSERT(isfinite(from) && from > 0.0);
    double r = reputation_clamp(rule, from);
    if (r < below) {
        return 0;
    }
    if (below <= rule->min) {
        /* Nothing goes under the floor: the question is when r reaches
         * it, the first n with r * p^n <= min (then clamped to min). */
        if (r <= rule->min) {
            return 0;
        }
        if (rule->penalty == 1.0) {
            return UINT32_MAX; /* a penalty that takes nothing */
        }
        double bound = log(rule->min / r) / log(rule->penalty);
        uint32_t n = (uint32_t)ceil(bound);
        n = n == 0 ? 1 : n;
        while (n > 1 && r * pow(rule->penalty, (double)(n - 1)) <= rule->min) {
            n--;
        }
        while (!(r * pow(rule->penalty, (double)n) <= rule->min)) {
            n++;
        }
        return n;
    }
    if (rule->penalty == 1.0) {
        return UINT32_MAX;     /* a penalty that takes nothing */
    }
    /* r * p^n < below  <=>  n > ln(below / r) / ln(p), since ln(p) < 0. */
    double bound = log(below / r) / log(rule->penalty);
    uint32_t n = (uint32_t)floor(bound) + 1;
    /* The log may round across an integer: settle on the exact boundary. */
    while (n > 1 && r * pow(rule->penalty, (double)(n - 1)) < below) {
        n--;
    }
    while (!(r * pow(rule->penalty, (double)n) < below)) {
        n++;
    }
    ASSERT(n >= 1);
    return n;
}

uint32_t cons_reputation_rounds_to_recover(const cons_reputation_rule *rule, double from,
                                           double target)
{
    ASSERT(cons_reputation_rule_check(rule) == 0);
    ASSERT(isfinite(from) && from > 0.0);
    double r = reputation_clamp(rule, from);
    if (r >= target) {
        return 0;
    }
    if (target > rule->max || rule->reward == 1.0) {
        return UINT32_MAX;     /* held at max < target, or a reward that gives nothing */
    }
    /* r * q^n >= target  <=>  n >= ln(target / r) / ln(q), since ln(q) > 0. */
    double bound = log(target / r) / log(rule->reward);
    uint32_t n = (uint32_t)ceil(bound);
    n = n == 0 ? 1 : n;
    while (n > 1 && r * pow(rule->reward, (double)(n - 1)) >= target) {
        n--;
    }
    while (!(r * pow(rule->reward, (double)n) >= target)) {
        n++;
    }
    ASSERT(n >= 1);
    return n;
}

double cons_reputation_break_even(const cons_reputation_rule *rule)
{
    ASSERT(cons_reputation_rule_check(rule) == 0);
    if (rule->penalty == 1.0) {
        return 0.0;            /* it never falls: any share of honest rounds keeps it */
    }
    /* h ln(reward) + (1 - h) ln(penalty) = 0. */
    double fall = -log(rule->penalty);
    return fall / (log(rule->reward) + fall);
}
