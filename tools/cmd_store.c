/* cmd_store.c -- the rows an inference run writes at its end: one per
 * request (with the oracle's verdict and the privacy accounting), one per
 * (request, segment), one per node that executed a hop, one per member of
 * every verification decision, and one per (request, hardware class) of
 * honest divergence; and the run summary's inference lines. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "node/infer.h"
#include "tools/tool.h"
#include "util/alloc.h"
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

/* Appends " id" to 'list' (of 'size' bytes, always large enough: the
 * caller sizes it for every id it may add) unless already there. */
static void list_add(char *list, size_t size, uint32_t id)
{
    char item[16];
    size_t used = strlen(list);
    snprintf(item, sizeof(item), "%u", id);
    size_t n = strlen(item);
    for (const char *p = list; (p = strstr(p, item)) != NULL; p += n) {
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) {
            return;
        }
    }
    ASSERT(used + n + 2 <= size);
    snprintf(list + used, size - used, "%s%s", used ? " " : "", item);
}

static bool list_has(const char *list, uint32_t id)
{
    char item[16];
    snprintf(item, sizeof(item), "%u", id);
    size_t n = strlen(item);
    for (const char *p = list; (p = strstr(p, item)) != NULL; p += n) {
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) {
            return true;
        }
    }
    return false;
}

/* Bytes a list of every node of request r needs: 11 per id. */
static size_t privacy_list_bytes(const world_result *result, uint64_t r)
{
    size_t ids = 1;
    for (uint32_t s = 0; s < result->segment_count; s++) {
        uint32_t i = result->execution_head[r * result->segment_count + s];
        for (; i != 0; i = result->executions[i - 1].next) {
            ids += 1;
        }
    }
    return ids * 11 + 1;
}

/* Split-learning privacy: the client and every node that received or ran
 * the first segment's hop see the raw prompt, every one of the last
 * segment's the tokens it produces; the nodes in between see only
 * activations. Under a committee every member counts (executions), and
 * the lists are sized for all of them. */
static void privacy_lists(const world_result *result, uint64_t r, char *tokens, char *activations,
                          size_t size)
{
    uint32_t last = result->segment_count - 1;
    const uint32_t *head = &result->execution_head[r * result->segment_count];
    tokens[0] = '\0';
    activations[0] = '\0';
    list_add(tokens, size, result->requests[r].client);
    for (uint32_t i = head[0]; i != 0; i = result->executions[i - 1].next) {
        list_add(tokens, size, result->executions[i - 1].node_id);
    }
    for (uint32_t i = head[last]; i != 0; i = result->executions[i - 1].next) {
        list_add(tokens, size, result->executions[i - 1].node_id);
    }
    for (uint32_t s = 1; s < last; s++) {
        for (uint32_t i = head[s]; i != 0; i = result->executions[i - 1].next) {
            uint32_t id = result->executions[i - 1].node_id;
            if (!list_has(tokens, id)) {
                list_add(activations, size, id);
            }
        }
    }
}

/* ids[first .. count) decoded as infersim infer prints them (each piece
 * after the id before it; unprintable single bytes skipped), or, with
 * 'as_ids', the ids in decimal separated by spaces. util_malloc'd; NULL
 * when out of memory. */
static char *store_tokens_text(const infer_tokenizer *tokenizer, const uint32_t *ids,
                               uint32_t first, uint32_t count, bool as_ids)
{
    size_t size = 1;
    for (uint32_t i = first; i < count; i++) {
        size += as_ids ? 11 : strlen(infer_tokenizer_decode(tokenizer, ids[i - 1], ids[i]));
    }
    char *text = util_malloc(size);
    if (text == NULL) {
        return NULL;
    }
    size_t used = 0;
    text[0] = '\0';
    for (uint32_t i = first; i < count; i++) {
        if (as_ids) {
            used += (size_t)snprintf(text + used, size - used, "%s%u", i == first ? "" : " ",
                                     ids[i]);
            continue;
        }
        const char *piece = infer_tokenizer_decode(tokenizer, ids[i - 1], ids[i]);
        if (infer_piece_printable(piece)) {
            size_t length = strlen(piece);
            memcpy(text + used, piece, length + 1);
            used += length;
        }
    }
    return text;
}

static int store_request(met_db *db, int64_t run_id, const world_result *result, uint64_t r,
                         const infer_tokenizer *tokenizer)
{
    const world_request_record *q = &result->requests[r];
    size_t size = privacy_list_bytes(result, r);
    char *tokens = util_malloc(size);
    char *activations = util_malloc(size);
    if (tokens == NULL || activations == NULL) {
        util_free(tokens);
        util_free(activations);
        return -1;
    }
    privacy_lists(result, r, tokens, activations, size);
    met_request_row row = {
        r, q->client, q->submitted_ns, q->first_token_ns, q->finished_ns,
        request_status(q->status), q->prompt_tokens, q->tokens_out, q->reference_match,
        q->compared ? q->argmax_agree : NAN, q->compared ? q->logits_maxabs : NAN,
        q->compared ? q->logits_cosine : NAN, tokens, activations,
        result->verified ? 1 : -1,
        result->verified && q->compared ? (int)q->accepted_wrong : -1,
        result->verified ? (int)q->rounds : -1,
        NULL, NULL, NULL,
        q->ledger_txs_sent > 0 && q->ledger_txs_committed >= q->ledger_txs_sent ? q->settled_ns
                                                                                : 0,
        result->failover ? (int64_t)q->failovers : -1,
        q->batch_calls > 0 ? (double)q->batch_size_sum / (double)q->batch_calls : NAN,
        result->batching ? q->batch_size_max : 0,
        q->ledger_drawn ? (int64_t)q->ledger_height : -1,
    };
    char *texts[3] = {NULL, NULL, NULL};
    if (tokenizer != NULL && q->status != 0 && q->prompt_tokens > 0) {
        /* What the network answered: the ids the client holds, decoded. */
        const uint32_t *ids = result->token_ids + r * result->token_stride;
        uint32_t end = q->prompt_tokens + q->tokens_out;
        texts[0] = store_tokens_text(tokenizer, ids, 1, q->prompt_tokens, false);
        texts[1] = store_tokens_text(tokenizer, ids, q->prompt_tokens, end, true);
        texts[2] = store_tokens_text(tokenizer, ids, q->prompt_tokens, end, false);
        if (texts[0] == NULL || texts[1] == NULL || texts[2] == NULL) {
            for (int i = 0; i < 3; i++) {
                util_free(texts[i]);
            }
            util_free(tokens);
            util_free(activations);
            return -1;
        }
        row.prompt_text = texts[0];
        row.output_ids = texts[1];
        row.output_text = texts[2];
    }
    int rc = met_requests_add(db, run_id, &row, 1);
    for (int i = 0; i < 3; i++) {
        util_free(texts[i]);
    }
    util_free(tokens);
    util_free(activations);
    return rc;
}

/* The scenario's tokenizer when the run kept its requests' ids, else NULL
 * (also when it cannot be read again: the columns stay NULL). */
static infer_tokenizer *store_tokenizer(const scn_scenario *scenario, const world_result *result)
{
    if (result->token_ids == NULL || scenario->model.tokenizer[0] == '\0') {
        return NULL;
    }
    FILE *file = fopen(scenario->model.tokenizer, "rb");
    if (file == NULL) {
        return NULL;
    }
    infer_tokenizer *tokenizer = NULL;
    uint8_t *bytes = NULL;
    long size = -1;
    if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) > 0 &&
        fseek(file, 0, SEEK_SET) == 0 && (bytes = util_malloc((size_t)size)) != NULL &&
        fread(bytes, 1, (size_t)size, file) == (size_t)size) {
        (void)infer_tokenizer_from_bytes(bytes, (size_t)size, scenario->model.vocab, &tokenizer,
                                         NULL, 0);
    }
    util_free(bytes);
    fclose(file);
    return tokenizer;
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

/* Every node that received or computed one of the request's hops, in the
 * order the hop's rows were made (executions, schema 6). */
static int store_executions(met_db *db, int64_t run_id, const scn_scenario *scenario,
                            const world_result *result, uint64_t r)
{
    for (uint32_t s = 0; s < result->segment_count; s++) {
        uint32_t i = result->execution_head[r * result->segment_count + s];
        for (; i != 0; i = result->executions[i - 1].next) {
            const world_execution_record *e = &result->executions[i - 1];
            met_execution_row row = {
                r, s, e->node_id,
                scenario->nodes.classes[result->class_of[e->node_id]].name,
                infer_kernel_name((infer_kernel)result->kernel_of[e->node_id]),
                result->segment_first[s], result->segment_layers[s], e->start_ns, e->end_ns,
                e->calls, e->flops, e->bytes_in, e->bytes_out,
            };
            if (met_executions_add(db, run_id, &row, 1) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* The row of 'node_id' among rows[*count], added (as a server that saw
 * nothing yet) when absent. */
static met_privacy_row *privacy_row(met_privacy_row *rows, size_t *count, uint64_t r,
                                    uint32_t node_id, const world_result *result,
                                    double epsilon)
{
    for (size_t i = 0; i < *count; i++) {
        if (rows[i].node_id == node_id) {
            return &rows[i];
        }
    }
    rows[*count] = (met_privacy_row){r, node_id, "server", 0, -1, 0, result->tee_of[node_id],
                                     epsilon, NAN, world_privacy_epsilon_received(result, r, node_id),
                                     -1, NAN};
    return &rows[(*count)++];
}

/* Who saw what of request r (privacy, schemas 9 and 13): the client (its own
 * prompt, and the logits under verification, where members reveal them to
 * it), then every node of every segment's executions -- each committee
 * member, not only the accepted one. Segment 0's saw the tokens, the last
 * segment's the logits, the others the activations of their boundary. A
 * node in a TEE other than the client saw nothing in the clear, unless a
 * side_channel fault leaked that hop out of its enclave. */
static int store_privacy(met_db *db, int64_t run_id, const world_result *result, uint64_t r)
{
    const world_request_record *q = &result->requests[r];
    uint32_t last = result->segment_count - 1;
    double epsilon = world_privacy_epsilon(result, r);
    met_privacy_row *rows = util_malloc(privacy_list_bytes(result, r) / 11 * sizeof(*rows));
    if (rows == NULL) {
        return -1;
    }
    size_t count = 0;
    met_privacy_row *client = privacy_row(rows, &count, r, q->client, result, epsilon);
    client->role = "client";
    client->saw_tokens = 1;
    client->saw_logits = result->verified ? 1 : 0;
    for (uint32_t s = 0; s < result->segment_count; s++) {
        uint32_t i = result->execution_head[r * result->segment_count + s];
        for (; i != 0; i = result->executions[i - 1].next) {
            const world_execution_record *e = &result->executions[i - 1];
            uint32_t id = e->node_id;
            met_privacy_row *row = privacy_row(rows, &count, r, id, result, epsilon);
            if (id == q->client || (result->tee_of[id] != 0 && !e->leaked)) {
                continue; /* Its own data, or sealed in an enclave that did not leak. */
            }
            row->saw_tokens |= s == 0;
            row->saw_logits |= s == last;
            if (s >= 1 && row->saw_activations < 0) {
                row->saw_activations = s;
            }
        }
    }
    for (uint64_t a = 0; a < result->attack_count; a++) {
        const world_attack_record *attack = &result->attacks[a];
        for (size_t i = 0; attack->request == r && i < count; i++) {
            if (rows[i].node_id == attack->node_id) { /* It received the rows: a row. */
                rows[i].reconstruction = (double)attack->recovered / (double)attack->tokens;
                rows[i].generation_steps = attack->steps;
                rows[i].generation_reconstruction =
                    attack->steps > 0 ? (double)attack->steps_recovered / (double)attack->steps
                                      : NAN;
            }
        }
    }
    int rc = met_privacy_add(db, run_id, rows, count);
    util_free(rows);
    return rc;
}

/* A member's role under the run's protocol: crossval's and optimistic's
 * member 0 executes and the others check or challenge; tee's and zk's one
 * member executes; sampling's are sampled; a committee's are members. */
static const char *decision_role(cons_protocol protocol, uint32_t member)
{
    switch (protocol) {
    case CONS_PROTOCOL_SAMPLING: return "sampled";
    case CONS_PROTOCOL_CROSSVAL: return member == 0 ? "executor" : "checker";
    case CONS_PROTOCOL_OPTIMISTIC: return member == 0 ? "executor" : "challenger";
    case CONS_PROTOCOL_TEE:
    case CONS_PROTOCOL_ZK: return "executor";
    default: return "member";
    }
}

static int store_decisions(met_db *db, int64_t run_id, const scn_scenario *scenario,
                           const world_result *result)
{
    static const char *const verdicts[] = {"agreed", "deviated", "proven", "timeout"};
    static const char *const disputes[] = {"none", "reveals", "referee"};
    _Static_assert(CONS_VERDICT_TIMEOUT == 3, "verdicts follows cons_verdict");
    _Static_assert(CONS_DISPUTE_REFEREE == 2, "disputes follows CONS_DISPUTE_");
    cons_protocol protocol = scenario->verification.protocol;
    const char *protocol_name = cons_protocol_name(protocol);
    for (uint64_t i = 0; i < result->decision_count; i++) {
        const world_decision_record *d = &result->decisions[i];
        if (d->request == UINT64_MAX) {
            continue; /* Its request id was reused (testbed). */
        }
        bool judged = (d->flags & WORLD_DECISION_JUDGED) != 0;
        met_decision_row row = {
            .request_id = d->request,
            .segment = d->segment,
            .step = d->step,
            .round = d->round,
            .member = d->member,
            .protocol = protocol_name,
            .member_count = d->member_count,
            .node_id = d->node_id,
            .role = decision_role(protocol, d->member),
            .behaviour = d->behaviour < NODE_BEHAVIOUR_COUNT ? node_behaviours[d->behaviour].name
                                                             : "unknown",
            .t_ns = d->t_ns,
            .action = d->action == CONS_ACTION_SETTLE ? "settle" : "round",
            .committed = (d->flags & WORLD_DECISION_COMMITTED) != 0,
            .answered = (d->flags & WORLD_DECISION_ANSWERED) != 0,
            .valid = (d->flags & WORLD_DECISION_REVEALED) != 0,
            .equivocated = (d->flags & WORLD_DECISION_EQUIVOCATED) != 0,
            .verdict = judged && d->verdict <= CONS_VERDICT_TIMEOUT ? verdicts[d->verdict]
                                                                    : "not_judged",
            .accepted = (d->flags & WORLD_DECISION_ACCEPTED) != 0,
            .dispute = disputes[d->dispute <= CONS_DISPUTE_REFEREE ? d->dispute : 0],
            .spot_check = protocol == CONS_PROTOCOL_CROSSVAL ? (d->member_count > 1) : -1,
            .reputation_before = d->reputation_before,
            .reputation_after = d->reputation_after,
            .stake_before = d->stake_before,
            .stake_after = d->stake_after,
            .skipped = !result->suspecting ? -1 : (d->flags & WORLD_DECISION_SKIPPED) != 0,
        };
        if (met_decisions_add(db, run_id, &row, 1) != 0) {
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
        world_divergence_record none = {NAN, NAN, NAN};
        const world_divergence_record *n =
            result->divergence_noised != NULL
                ? &result->divergence_noised[r * INFER_KERNEL_COUNT + kernel]
                : &none;
        met_divergence_row row = {
            r, scenario->nodes.classes[c].name, infer_kernel_name(kernel),
            d->logits_maxabs, d->logits_cosine, d->argmax_agree,
            n->logits_maxabs, n->logits_cosine, n->argmax_agree,
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
    _Static_assert(WORLD_VIOLATION_UNJUST_SLASH == 5, "met_violation_kinds follows the enum");
    for (uint64_t i = 0; i < result->violation_count; i++) {
        const world_violation *v = &result->violations[i];
        char detail[64];
        snprintf(detail, sizeof(detail), "%s %u",
                 v->kind == WORLD_VIOLATION_LEDGER_FORK ? "height" : "step", v->step);
        met_violation_row row = {
            i, met_violation_kinds[v->kind], v->t_ns, (int64_t)v->request, (int32_t)v->segment,
            v->node_id == UINT32_MAX ? -1 : (int64_t)v->node_id, detail,
            v->kind == WORLD_VIOLATION_LEDGER_FORK ? -1 : (int64_t)v->step,
        };
        if (met_violations_add(db, run_id, &row, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Who holds which weights (weights, schema 13): one row per (node,
 * segment it serves), in a run with a privacy section. */
static int store_weights(met_db *db, int64_t run_id, const world_result *result)
{
    bool on = result->privacy_on && result->segments_of != NULL;
    for (uint32_t id = 0; on && id < result->node_count; id++) {
        for (uint32_t s = 0; s < result->segment_count; s++) {
            if (((result->segments_of[id] >> s) & 1u) == 0) {
                continue;
            }
            met_weights_row row = {
                id, s, result->segment_first[s], result->segment_layers[s],
                world_weights_params(result, UINT64_C(1) << s), result->tee_of[id],
            };
            if (met_weights_add(db, run_id, &row, 1) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* The ledger's blocks and the honest validators' view changes. */
static int store_ledger(met_db *db, int64_t run_id, const world_result *result)
{
    for (uint64_t i = 0; i < result->block_count; i++) {
        const world_block_record *b = &result->blocks[i];
        met_block_row row = {b->height, b->view, b->proposer, b->committer, b->t_ns,
                             b->tx_count, b->settled, b->bytes, b->forked, b->penalties,
                             b->refused};
        if (met_blocks_add(db, run_id, &row, 1) != 0) {
            return -1;
        }
    }
    for (uint64_t i = 0; i < result->view_change_count; i++) {
        const world_view_change_record *v = &result->view_changes[i];
        met_view_change_row row = {v->validator, v->view, v->t_ns,
                                   v->reason == CONS_BFT_BY_TC ? "tc" : "qc"};
        if (met_view_changes_add(db, run_id, &row, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

/* The churn section's joins and leaves (churn, schema 15). */
static int store_churn(met_db *db, int64_t run_id, const world_result *result)
{
    for (uint64_t i = 0; i < result->churn_event_count; i++) {
        const world_churn_record *c = &result->churn_events[i];
        met_churn_row row = {c->t_ns, c->node, c->join ? "join" : "leave", c->segment};
        if (met_churn_add(db, run_id, &row, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

int tool_store_inference(met_db *db, int64_t run_id, const scn_scenario *scenario,
                         const world_result *result)
{
    if (met_rows_begin(db) != 0 || store_violations(db, run_id, result) != 0 ||
        store_weights(db, run_id, result) != 0 ||
        store_ledger(db, run_id, result) != 0 || store_churn(db, run_id, result) != 0 ||
        (scenario->output.decisions && store_decisions(db, run_id, scenario, result) != 0)) {
        return -1;
    }
    infer_tokenizer *tokenizer = store_tokenizer(scenario, result);
    int rc = 0;
    for (uint64_t r = 0; r < result->request_reach && rc == 0; r++) {
        if (!result->requests[r].submitted) {
            continue;
        }
        if (store_request(db, run_id, result, r, tokenizer) != 0 ||
            store_segments(db, run_id, scenario, result, r) != 0 ||
            store_executions(db, run_id, scenario, result, r) != 0 ||
            store_privacy(db, run_id, result, r) != 0 ||
            (result->requests[r].divergence_sampled &&
             store_divergence(db, run_id, scenario, result, r) != 0)) {
            rc = -1;
        }
    }
    infer_tokenizer_destroy(tokenizer);
    return rc == 0 ? met_rows_end(db) : rc;
}

/* Divergence by class: mean max-abs, worst cosine, mean argmax agreement
 * over the requests whose divergence the oracle measured. */
static void print_divergence(const scn_scenario *scenario, const world_result *result)
{
    for (uint32_t c = 0; c < scenario->nodes.class_count; c++) {
        infer_kernel kernel = (infer_kernel)scenario->nodes.classes[c].kernel;
        double maxabs = 0.0, cosine = 1.0, agree = 0.0;
        uint64_t count = 0;
        for (uint64_t r = 0; r < result->request_reach; r++) {
            if (!result->requests[r].divergence_sampled) {
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

/* The ledger's line: blocks, their finality, view changes, forks, its
 * gossip under dissemination: gossip, and the requests' settlement when
 * verdicts settle on it. */
static void print_ledger(const world_result *result)
{
    char a[SCN_FORMAT_MAX], b[SCN_FORMAT_MAX], c[SCN_FORMAT_MAX], d[SCN_FORMAT_MAX];
    char e[SCN_FORMAT_MAX];
    if (!result->ledger_on) {
        return;
    }
    printf("  ledger     %llu blocks, finality p50 %s p99 %s, %s view changes, %llu forks,"
           " %llu unjust slashes\n",
           (unsigned long long)result->block_count,
           tool_metric_text(a, result, "ledger_finality_p50"),
           tool_metric_text(b, result, "ledger_finality_p99"),
           tool_metric_text(c, result, "view_changes"),
           (unsigned long long)result->ledger_forks,
           (unsigned long long)result->unjust_slashes);
    if (result->ledger_sends_dropped > 0) {
        printf("  ledger     %llu BFT sends dropped: more than one node call's outbox holds\n",
               (unsigned long long)result->ledger_sends_dropped);
    }
    if (result->ledger_gossip) {
        printf("  gossip     %s messages (%s), %s duplicates, %s pull answers, %s messages"
               " per block\n",
               tool_metric_text(a, result, "ledger_gossip_messages"),
               tool_metric_text(b, result, "ledger_gossip_bytes"),
               tool_metric_text(c, result, "ledger_gossip_duplicates"),
               tool_metric_text(d, result, "ledger_pull_answers"),
               tool_metric_text(e, result, "ledger_messages_per_block"));
    }
    if (result->ledger_settlement) {
        printf("  settle     verdicts on the ledger: settlement latency p50 %s p99 %s\n",
               tool_metric_text(a, result, "settlement_latency_p50"),
               tool_metric_text(d, result, "settlement_latency_p99"));
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
               "rounds unsettled, %llu disputes, %llu resamples, %llu catch-ups\n",
               cons_protocol_name(scenario->verification.protocol),
               (unsigned long long)result->accepted_wrong,
               (unsigned long long)result->honest_penalised,
               tool_metric_text(a, result, "honest_penalised_ratio"),
               (unsigned long long)result->no_quorum,
               (unsigned long long)result->disputes, (unsigned long long)result->resamples,
               (unsigned long long)result->catch_ups);
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
    print_ledger(result);
}
