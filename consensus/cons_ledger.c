/* cons_ledger.c -- the settlement ledger: reputation by Nesa's rule, stake
 * slashed into a per-decision pot, fees to the members whose output was
 * accepted, and the pot shared between them, an oracle and a burn. The
 * arithmetic runs in a fixed order (the simulator's results depend on it
 * to the bit): change it only with the results' baseline. */
#include <math.h>

#include "consensus/cons.h"
#include "util/assert.h"

#define LEDGER_EPSILON 1e-9       /* conservation, relative to what came in */

int cons_ledger_terms_check(const cons_ledger_terms *terms)
{
    ASSERT(terms != NULL);
    if (cons_reputation_rule_check(&terms->reputation) != 0) {
        return CONS_EINVAL;
    }
    if (!(terms->slash >= 0.0 && terms->slash < 1.0) ||
        !(terms->timeout_slash >= 0.0 && terms->timeout_slash < 1.0) ||
        !(terms->fee_per_token >= 0.0 && isfinite(terms->fee_per_token))) {
        return CONS_EINVAL;
    }
    const double shares[] = {terms->to_honest, terms->to_oracle, terms->to_burn};
    for (size_t i = 0; i < UTIL_ARRAY_COUNT(shares); i++) {
        if (!(shares[i] >= 0.0 && shares[i] <= 1.0)) {
            return CONS_EINVAL;
        }
    }
    return fabs(shares[0] + shares[1] + shares[2] - 1.0) <= 1e-9 ? 0 : CONS_EINVAL;
}

void cons_ledger_init(cons_ledger *ledger, const cons_ledger_terms *terms, uint32_t node_count,
                      double *reputation, double *stake, double *balance, double stake_each)
{
    ASSERT(cons_ledger_terms_check(terms) == 0);
    ASSERT(node_count >= 1 && reputation != NULL && stake != NULL && balance != NULL);
    ASSERT(isfinite(stake_each) && stake_each >= 0.0);
    *ledger = (cons_ledger){.terms = *terms, .node_count = node_count,
                            .reputation = reputation, .stake = stake, .balance = balance};
    for (uint32_t i = 0; i < node_count; i++) {
        reputation[i] = terms->reputation.initial;
        stake[i] = stake_each;
        balance[i] = stake_each;
        ledger->initial_total += stake_each;
    }
}

/* Takes 'fraction' of the member's stake (and balance) into the pot. */
static void ledger_slash(cons_ledger *ledger, uint32_t member, double fraction)
{
    ASSERT(member < ledger->node_count);
    ASSERT(fraction < 1.0); /* The terms were checked at init. */
    if (fraction <= 0.0) {
        return;
    }
    double lost = ledger->stake[member] * fraction;
    ASSERT(lost >= 0.0);
    ledger->stake[member] -= lost;
    ledger->balance[member] -= lost;
    ledger->stake_slashed += lost;
    ledger->pot += lost;
}

void cons_ledger_judge(cons_ledger *ledger, uint32_t member, cons_verdict verdict)
{
    ASSERT(member < ledger->node_count);
    ASSERT(verdict <= CONS_VERDICT_TIMEOUT);
    bool deviated = verdict != CONS_VERDICT_AGREED;
    ledger->reputation[member] = cons_reputation_update(&ledger->terms.reputation,
                                                        ledger->reputation[member], deviated);
    if (verdict == CONS_VERDICT_PROVEN) {
        ledger_slash(ledger, member, ledger->terms.slash);
    } else if (verdict == CONS_VERDICT_TIMEOUT) {
        ledger_slash(ledger, member, ledger->terms.timeout_slash);
    } else if (verdict == CONS_VERDICT_AGREED && ledger->agreed_count < CONS_COMMITTEE_MAX) {
        ledger->agreed[ledger->agreed_count++] = member;
    }
    if (ledger->moved != NULL) {
        ledger->moved(ledger->moved_context, member);
    }
}

void cons_ledger_settle(cons_ledger *ledger, uint32_t rows)
{
    const cons_ledger_terms *terms = &ledger->terms;
    ASSERT(ledger->agreed_count <= CONS_COMMITTEE_MAX);
    ASSERT(ledger->pot >= 0.0);
    double fee = terms->fee_per_token * rows;
    for (uint32_t i = 0; i < ledger->agreed_count; i++) {
        ledger->balance[ledger->agreed[i]] += fee;
        ledger->fees_paid += fee;
    }
    double honest = ledger->pot * terms->to_honest;
    if (ledger->agreed_count == 0) {
        ledger->slashed_burnt += honest; /* Nobody honest to reward. */
    } else {
        for (uint32_t i = 0; i < ledger->agreed_count; i++) {
            ledger->balance[ledger->agreed[i]] += honest / ledger->agreed_count;
        }
    }
    ledger->slashed_to_oracle += ledger->pot * terms->to_oracle;
    ledger->slashed_burnt += ledger->pot * terms->to_burn;
    ledger->pot = 0.0;
    ledger->agreed_count = 0;
}

/* The per-node invariants; *balances_out is the balances' sum. */
static const char *ledger_check_nodes(const cons_ledger *ledger, double *balances_out)
{
    ASSERT(ledger->reputation != NULL && ledger->stake != NULL && ledger->balance != NULL);
    ASSERT(balances_out != NULL);
    const cons_reputation_rule *rule = &ledger->terms.reputation;
    double balances = 0.0;
    for (uint32_t i = 0; i < ledger->node_count; i++) {
        if (!(isfinite(ledger->stake[i]) && ledger->stake[i] >= 0.0)) {
            return "stake_non_negative";
        }
        if (!(ledger->reputation[i] >= rule->min && ledger->reputation[i] <= rule->max)) {
            return "reputation_in_clamp";
        }
        balances += ledger->balance[i];
    }
    *balances_out = balances;
    return NULL;
}

const char *cons_ledger_check(const cons_ledger *ledger)
{
    ASSERT(ledger != NULL);
    ASSERT(ledger->node_count >= 1);
    if (!(ledger->fees_paid >= 0.0 && ledger->stake_slashed >= 0.0 &&
          ledger->slashed_to_oracle >= 0.0 && ledger->slashed_burnt >= 0.0 &&
          ledger->pot >= 0.0)) {
        return "totals_non_negative";
    }
    if (ledger->agreed_count > CONS_COMMITTEE_MAX) {
        return "agreed_within_committee";
    }
    double balances = 0.0;
    const char *broken = ledger_check_nodes(ledger, &balances);
    if (broken != NULL) {
        return broken;
    }
    double in = ledger->initial_total + ledger->fees_paid;
    double out = balances + ledger->pot + ledger->slashed_to_oracle + ledger->slashed_burnt;
    double scale = fabs(in) > 1.0 ? fabs(in) : 1.0;
    return fabs(out - in) <= LEDGER_EPSILON * scale ? NULL : "balance_conserved";
}
