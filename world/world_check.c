/* world_check.c -- the checkers only a simulated world can run, and what
 * they report: an accepted output outside the agreement rule's tolerance
 * of every honest execution (accepted_wrong), an honest member losing
 * reputation (honest_penalised, recorded by the ledger's wiring), a request
 * decided twice; the verification metrics and the reputation and balance
 * samples of the honest and Byzantine nodes. Observation only: nothing
 * here feeds back into a run. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "consensus/cons.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "world/world_int.h"

void world__check_violation(world_state *world, world_violation_kind kind, uint64_t request,
                           uint32_t segment, uint32_t node_id, uint32_t step)
{
    world_oracle_flush(world);
    world__check_violation_at(world, kind, world->now_ns, request, segment, node_id, step);
}

void world__check_violation_at(world_state *world, world_violation_kind kind, uint64_t at_ns,
                               uint64_t request, uint32_t segment, uint32_t node_id,
                               uint32_t step)
{
    world_result *result = world->result;
    if (result->violation_count == result->violation_capacity) {
        uint64_t capacity = result->violation_capacity ? result->violation_capacity * 2 : 64;
        world_violation *grown = util_realloc(result->violations, capacity * sizeof(*grown));
        ASSERT(grown != NULL); /* Host out of memory mid-run. */
        result->violations = grown;
        result->violation_capacity = capacity;
    }
    world_violation v = {kind, at_ns, request, segment, node_id, step};
    result->violations[result->violation_count++] = v;
}

/* Means of a per-node value over honest and Byzantine nodes. */
static void check_means(const world_result *result, const double *values, double *honest,
                         double *byzantine)
{
    double sums[2] = {0, 0};
    uint64_t counts[2] = {0, 0};
    for (uint32_t i = 0; i < result->node_count; i++) {
        int bad = result->behaviour_of[i] != NODE_BEHAVIOUR_HONEST;
        sums[bad] += values[i];
        counts[bad] += 1;
    }
    *honest = counts[0] ? sums[0] / (double)counts[0] : NAN;
    *byzantine = counts[1] ? sums[1] / (double)counts[1] : NAN;
}

void world_check_sample(world_state *world)
{
    const world_observer *observer = world->observer;
    const world_result *result = world->result;
    double honest = NAN, byzantine = NAN;
    check_means(result, result->balance, &honest, &byzantine);
    observer->on_sample(observer->context, world->now_ns, "balance_honest_mean", honest);
    observer->on_sample(observer->context, world->now_ns, "balance_byzantine_mean", byzantine);
    check_means(result, result->reputation, &honest, &byzantine);
    observer->on_sample(observer->context, world->now_ns, "reputation_honest_mean", honest);
    observer->on_sample(observer->context, world->now_ns, "reputation_byzantine_mean",
                        byzantine);
    if (!world->scenario->output.node_series) {
        return; /* the means only (output.node_series: false) */
    }
    for (uint32_t i = 0; i < world->node_count; i++) {
        char name[32];
        snprintf(name, sizeof(name), "balance.%u", i);
        observer->on_sample(observer->context, world->now_ns, name, result->balance[i]);
    }
}

/* The penalties each node took until its reputation first reached the
 * floor, averaged over the nodes that reached it with no verdict in its
 * favour before (so the closed form for consecutive penalties applies):
 * read from the decisions, in the order they were made. NaN when no node
 * fell that way. */
static double check_floor_penalties(const world_result *result)
{
    enum { FALLING = 0, FELL = 1, OTHER = 2 };
    uint8_t *state = util_calloc(result->node_count + 1, 1);
    uint32_t *penalties = util_calloc(result->node_count + 1, sizeof(*penalties));
    double sum = 0.0;
    uint64_t fell = 0;
    for (uint64_t i = 0; state != NULL && penalties != NULL && i < result->decision_count; i++) {
        const world_decision_record *d = &result->decisions[i];
        if (d->request == UINT64_MAX || !(d->flags & WORLD_DECISION_JUDGED) ||
            d->node_id >= result->node_count || state[d->node_id] != FALLING) {
            continue;
        }
        if (d->verdict == CONS_VERDICT_AGREED) {
            state[d->node_id] = OTHER;
            continue;
        }
        penalties[d->node_id] += 1;
        if (d->reputation_after <= result->reputation_floor) {
            state[d->node_id] = FELL;
            sum += penalties[d->node_id];
            fell += 1;
        }
    }
    util_free(state);
    util_free(penalties);
    return fell > 0 ? sum / (double)fell : NAN;
}

/* A verification metric's value in a verified run. */
static double check_metric_value(const world_result *result, scn_metric metric)
{
    double honest = NAN, byzantine = NAN;
    switch (metric) {
    case SCN_METRIC_ACCEPTED_WRONG: return (double)result->accepted_wrong;
    case SCN_METRIC_ACCEPTED_WRONG_RATIO:
        return result->requests_completed
                   ? (double)result->accepted_wrong / (double)result->requests_completed
                   : NAN;
    case SCN_METRIC_HONEST_PENALISED: return (double)result->honest_penalised;
    case SCN_METRIC_HONEST_PENALISED_RATIO:
        return result->honest_judged
                   ? (double)result->honest_penalised / (double)result->honest_judged
                   : 0.0;
    case SCN_METRIC_NO_QUORUM: return (double)result->no_quorum;
    case SCN_METRIC_REPUTATION_HONEST_MEAN:
    case SCN_METRIC_REPUTATION_BYZANTINE_MEAN:
        check_means(result, result->reputation, &honest, &byzantine);
        return metric == SCN_METRIC_REPUTATION_HONEST_MEAN ? honest : byzantine;
    case SCN_METRIC_STAKE_SLASHED: return result->stake_slashed;
    case SCN_METRIC_COST_RATIO:
        return result->native_flops > 0
                   ? (double)(result->flops_total + result->referee_flops) /
                         (double)result->native_flops
                   : NAN;
    case SCN_METRIC_FINALITY_P50: return world__request_quantile(result, WORLD_SPAN_FINALITY, 0.50);
    case SCN_METRIC_FINALITY_P99: return world__request_quantile(result, WORLD_SPAN_FINALITY, 0.99);
    case SCN_METRIC_DISPUTES: return (double)result->disputes;
    case SCN_METRIC_RESAMPLES: return (double)result->resamples;
    case SCN_METRIC_CATCH_UPS: return (double)result->catch_ups;
    case SCN_METRIC_REFEREE_FLOPS: return (double)result->referee_flops;
    case SCN_METRIC_FEES_PAID: return result->fees_paid;
    case SCN_METRIC_SLASHED_TO_ORACLE: return result->slashed_to_oracle;
    case SCN_METRIC_SLASHED_BURNT: return result->slashed_burnt;
    case SCN_METRIC_BALANCE_HONEST_MEAN:
    case SCN_METRIC_BALANCE_BYZANTINE_MEAN:
        check_means(result, result->balance, &honest, &byzantine);
        return metric == SCN_METRIC_BALANCE_HONEST_MEAN ? honest : byzantine;
    case SCN_METRIC_CHEATS_DECLINED: return (double)result->cheats_declined;
    case SCN_METRIC_CHEATS_TAKEN: return (double)result->cheats_taken;
    case SCN_METRIC_CARTEL_MESSAGES: return result->cartel_on ? (double)result->cartel_messages : NAN;
    case SCN_METRIC_CARTEL_BYTES: return result->cartel_on ? (double)result->cartel_bytes : NAN;
    case SCN_METRIC_CARTEL_AGREEMENTS_MISSED:
        return result->cartel_on ? (double)result->cartel_missed : NAN;
    case SCN_METRIC_TARGETED_TOKENS_ACCEPTED:
        return result->targeting ? (double)result->targeted_tokens_accepted : NAN;
    case SCN_METRIC_FLOOR_PENALTIES: return check_floor_penalties(result);
    case SCN_METRIC_FLOOR_PENALTIES_PREDICTED: return result->floor_penalties_predicted;
    case SCN_METRIC_CAPTURE_DRAWS: return (double)result->capture_draws;
    case SCN_METRIC_CAPTURED_DRAWS: return (double)result->captured_draws;
    case SCN_METRIC_CAPTURE_RATE:
        return result->capture_draws == 0
                   ? NAN
                   : (double)result->captured_draws / (double)result->capture_draws;
    case SCN_METRIC_CAPTURE_RATE_PREDICTED:
        return result->capture_draws == 0 ? NAN
                                          : result->capture_expected / (double)result->capture_draws;
    /* Only under selection vrf: hash runs keep their metrics rows. */
    case SCN_METRIC_VRF_PROOFS_VERIFIED:
        return result->vrf_selection ? (double)result->vrf_proofs_verified : NAN;
    case SCN_METRIC_VRF_PROOFS_REJECTED:
        return result->vrf_selection ? (double)result->vrf_proofs_rejected : NAN;
    /* Only under verification.suspect_after: other runs keep their rows. */
    case SCN_METRIC_SUSPICIONS: return result->suspecting ? (double)result->suspicions : NAN;
    case SCN_METRIC_FALSE_SUSPICIONS:
        return result->suspecting ? (double)result->false_suspicions : NAN;
    case SCN_METRIC_MEMBERS_SKIPPED:
        return result->suspecting ? (double)result->members_skipped : NAN;
    default: return world__ledger_metric(result, metric); /* NaN without a ledger */
    }
}

double world__check_metric(const world_result *result, scn_metric metric)
{
    return result->verified ? check_metric_value(result, metric) : NAN;
}
