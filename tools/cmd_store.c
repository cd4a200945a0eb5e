/* cmd_store.c -- the rows an inference run writes at its end: one per
 * request (with the oracle's verdict and the privacy accounting), one per
 * (request, segment), and one per (request, hardware class) of honest
 * divergence; and the run summary's inference lines. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tools/tool.h"
#include "util/assert.h"

static const char *request_status(uint32_t status)
{
    switch (status) {
    case NODE_REQUEST_COMPLETED: return "completed";
    case NODE_REQUEST_FAILED: return "failed";
    case NODE_REQUEST_TIMEOUT: return "timeout";
    default: return "unfinished";
    }
}

/* Appends " id" to 'list' unless already there. */
static void list_add(char *list, size_t size, uint32_t id)
{
    char item[16];
    snprintf(item, sizeof(item), " %u ", id);
    char padded[512];
    snprintf(padded, sizeof(padded), " %s ", list);
    if (strstr(padded, item) != NULL) {
        return;
    }
    size_t used = strlen(list);
    snprintf(list + used, size - used, "%s%u", used ? " " : "", id);
}

/* Split-learning privacy: the client and the first segment's server see
 * the raw prompt, the last segment's server sees the tokens it produces;
 * the servers in between see only activations. */
static void privacy_lists(const world_result *result, uint64_t r, char *tokens, char *activations,
                          size_t size)
{
    const world_segment_record *row = &result->segments[r * result->segment_count];
    uint32_t last = result->segment_count - 1;
    tokens[0] = '\0';
    activations[0] = '\0';
    list_add(tokens, size, result->requests[r].client);
    if (row[0].calls > 0) {
        list_add(tokens, size, row[0].node_id);
    }
    if (row[last].calls > 0) {
        list_add(tokens, size, row[last].node_id);
    }
    for (uint32_t s = 1; s < last; s++) {
        if (row[s].calls > 0) {
            char padded[512], item[16];
            snprintf(padded, sizeof(padded), " %s ", tokens);
            snprintf(item, sizeof(item), " %u ", row[s].node_id);
            if (strstr(padded, item) == NULL) {
                list_add(activations, size, row[s].node_id);
            }
        }
    }
}

static int store_request(met_db *db, int64_t run_id, const world_result *result, uint64_t r)
{
    const world_request_record *q = &result->requests[r];
    char tokens[256], activations[256];
    privacy_lists(result, r, tokens, activations, sizeof(tokens));
    met_request_row row = {
        r, q->client, q->submitted_ns, q->first_token_ns, q->finished_ns,
        request_status(q->status), q->prompt_tokens, q->tokens_out, q->reference_match,
        q->compared ? q->argmax_agree : NAN, q->compared ? q->logits_maxabs : NAN,
        q->compared ? q->logits_cosine : NAN, tokens, activations,
        result->verified ? 1 : -1,
        result->verified && q->compared ? (int)q->accepted_wrong : -1,
        result->verified ? (int)q->rounds : -1,
    };
    return met_requests_add(db, run_id, &row, 1);
}

static int store_segments(met_db *db, int64_t run_id, const scn_scenario *scenario,
                          const world_result *result, uint64_t r)
{
    for (uint32_t s = 0; s < result->segment_count; s++) {
        const world_segment_record *seg = &result->segments[r * result->segment_count + s];
        if (seg->calls == 0) {
            continue;
        }
        met_segment_row row = {
            r, s, seg->node_id,
            scenario->nodes.classes[result->class_of[seg->node_id]].name,
            infer_kernel_name((infer_kernel)result->kernel_of[seg->node_id]),
            result->segment_first[s], result->segment_layers[s], seg->start_ns, seg->end_ns,
            seg->calls, seg->flops, seg->bytes_in, seg->bytes_out,
        };
        if (met_segments_add(db, run_id, &row, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

static int store_divergence(met_db *db, int64_t run_id, const scn_scenario *scenario,
                            const world_result *result, uint64_t r)
{
    for (uint32_t c = 0; c < scenario->nodes.class_count; c++) {
        infer_kernel kernel = (infer_kernel)scenario->nodes.classes[c].kernel;
        const world_divergence_record *d = &result->divergence[r * INFER_KERNEL_COUNT + kernel];
        met_divergence_row row = {
            r, scenario->nodes.classes[c].name, infer_kernel_name(kernel),
            d->logits_maxabs, d->logits_cosine, d->argmax_agree,
        };
        if (met_divergence_add(db, run_id, &row, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

const char *tool_behaviour_name(const world_result *result, uint32_t node_id)
{
    uint8_t behaviour = result->behaviour_of != NULL ? result->behaviour_of[node_id] : 0;
    return behaviour < NODE_BEHAVIOUR_COUNT ? node_behaviours[behaviour].name : "unknown";
}

static int store_violations(met_db *db, int64_t run_id, const world_result *result)
{
    _Static_assert(WORLD_VIOLATION_LIVENESS == 3, "met_violation_kinds follows the enum");
    for (uint64_t i = 0; i < result->violation_count; i++) {
        const world_violation *v = &result->violations[i];
        char detail[64];
        snprintf(detail, sizeof(detail), "step %u", v->step);
        met_violation_row row = {
            i, met_violation_kinds[v->kind], v->t_ns, (int64_t)v->request, (int32_t)v->segment,
            v->node_id == UINT32_MAX ? -1 : (int64_t)v->node_id, detail,
        };
        if (met_violations_add(db, run_id, &row, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

int tool_store_inference(met_db *db, int64_t run_id, const scn_scenario *scenario,
                         const world_result *result)
{
    if (store_violations(db, run_id, result) != 0) {
        return -1;
    }
    for (uint64_t r = 0; r < result->request_count; r++) {
        if (!result->requests[r].submitted) {
            continue;
        }
        if (store_request(db, run_id, result, r) != 0 ||
            store_segments(db, run_id, scenario, result, r) != 0 ||
            (result->requests[r].compared &&
             store_divergence(db, run_id, scenario, result, r) != 0)) {
            return -1;
        }
    }
    return 0;
}

/* Divergence by class: mean max-abs, worst cosine, mean argmax agreement
 * over the requests the oracle judged. */
static void print_divergence(const scn_scenario *scenario, const world_result *result)
{
    for (uint32_t c = 0; c < scenario->nodes.class_count; c++) {
        infer_kernel kernel = (infer_kernel)scenario->nodes.classes[c].kernel;
        double maxabs = 0.0, cosine = 1.0, agree = 0.0;
        uint64_t count = 0;
        for (uint64_t r = 0; r < result->request_count; r++) {
            if (!result->requests[r].compared) {
                continue;
            }
            const world_divergence_record *d = &result->divergence[r * INFER_KERNEL_COUNT + kernel];
            maxabs += d->logits_maxabs;
            cosine = d->logits_cosine < cosine ? d->logits_cosine : cosine;
            agree += d->argmax_agree;
            count += 1;
        }
        if (count > 0) {
            printf("  diverge    %-12s %-10s max-abs %.3g (mean)  cosine >= %.7f  argmax %.4f\n",
                   scenario->nodes.classes[c].name, infer_kernel_name(kernel),
                   maxabs / (double)count, cosine, agree / (double)count);
        }
    }
}

void tool_print_inference(const scn_scenario *scenario, const world_result *result)
{
    char a[SCN_FORMAT_MAX], b[SCN_FORMAT_MAX], c[SCN_FORMAT_MAX], d[SCN_FORMAT_MAX];
    char e[SCN_FORMAT_MAX];
    printf("  requests   %llu submitted, %llu completed (%s), %llu refused busy\n",
           (unsigned long long)result->requests_submitted,
           (unsigned long long)result->requests_completed,
           tool_metric_text(a, result, "completed_ratio"),
           (unsigned long long)result->busy_refusals);
    printf("  latency    p50 %s  p95 %s  p99 %s  first token p50 %s\n",
           tool_metric_text(a, result, "request_latency_p50"),
           tool_metric_text(b, result, "request_latency_p95"),
           tool_metric_text(c, result, "request_latency_p99"),
           tool_metric_text(d, result, "first_token_p50"));
    printf("  tokens     %llu generated, %s simulated, %s, %s activations\n",
           (unsigned long long)result->tokens_out, tool_metric_text(a, result, "tokens_per_s"),
           tool_metric_text(b, result, "flops_total"),
           tool_metric_text(c, result, "activation_bytes"));
    printf("  reference  match ratio %s, argmax agreement %s\n",
           tool_metric_text(a, result, "reference_match_ratio"),
           tool_metric_text(b, result, "argmax_agree_mean"));
    print_divergence(scenario, result);
    if (result->verified) {
        printf("  verify     %s: %llu accepted wrong, %llu honest penalised (%s), %llu "
               "rounds unsettled, %llu disputes, %llu resamples\n",
               cons_protocol_name(scenario->verification.protocol),
               (unsigned long long)result->accepted_wrong,
               (unsigned long long)result->honest_penalised,
               tool_metric_text(a, result, "honest_penalised_ratio"),
               (unsigned long long)result->no_quorum,
               (unsigned long long)result->disputes, (unsigned long long)result->resamples);
        printf("  cost       %sx native FLOPs, finality p50 %s p99 %s, fees %s, slashed %s\n",
               tool_metric_text(a, result, "cost_ratio"),
               tool_metric_text(b, result, "finality_p50"),
               tool_metric_text(c, result, "finality_p99"),
               tool_metric_text(d, result, "fees_paid"),
               tool_metric_text(e, result, "stake_slashed"));
        printf("  reputation honest mean %s, byzantine mean %s\n",
               tool_metric_text(a, result, "reputation_honest_mean"),
               tool_metric_text(b, result, "reputation_byzantine_mean"));
    }
}
