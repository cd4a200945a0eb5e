/* scn_params.c -- the effective scenario flattened into "key" = "value"
 * strings, built from the validated struct (so defaults appear too), sorted
 * by key with strcmp, and the SHA-256 over the canonical "key=value\n" lines
 * minus "seed" and "output.*" (so one scenario run over several seeds, or
 * into another database, keeps one hash). Values are canonical: durations
 * in the largest exact unit ("50ms", "0"), bit rates likewise ("1Gbps"),
 * sizes in plain bytes, numbers in their shortest round-trip form; each reads
 * back through --set, except an open-ended fault's until, written "never",
 * and a file model's model.shape.* (taken from the checkpoint header). Keys
 * of the other workload kind, model.* without a model, verification.* with
 * protocol none, and agreement parameters of another rule are left out. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/scn_int.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/hash.h"

typedef struct params_list {
    scn_param *items;
    size_t count;
    size_t capacity;
    bool failed;                  /* an allocation failed; the rest are no-ops */
} params_list;

static const char *const params_latency_models[] = {"constant", "uniform", "normal",
                                                    "lognormal"};
static const char *const params_shapes[] = {"groups", "halves", "regions", "isolate"};
static const char *const params_cmps[] = {"==", "<=", "<", ">=", ">"};
static const char *const params_kernels[] = {"sequential", "blocked", "fma", "bf16", "q8"};
static const char *const params_dtypes[] = {"fp32", "fp16", "bf16", "int8"};
static const char *const params_arrivals[] = {"poisson", "constant", "explicit"};

/* Adds value under the printf-formatted key. */
static void params_add(params_list *list, const char *value, const char *key_format, ...)
    __attribute__((format(printf, 3, 4)));

static void params_add(params_list *list, const char *value, const char *key_format, ...)
{
    if (list->failed) {
        return;
    }
    if (list->count == list->capacity) {
        size_t capacity = list->capacity == 0 ? 64 : list->capacity * 2;
        scn_param *items = util_realloc(list->items, capacity * sizeof(*items));
        if (items == NULL) {
            list->failed = true;
            return;
        }
        list->items = items;
        list->capacity = capacity;
    }
    char key[256];
    va_list args;
    va_start(args, key_format);
    vsnprintf(key, sizeof(key), key_format, args);
    va_end(args);
    scn_param *item = &list->items[list->count];
    item->key = util_strdup(key);
    item->value = util_strdup(value);
    if (item->key == NULL || item->value == NULL) {
        util_free(item->key);
        util_free(item->value);
        list->failed = true;
        return;
    }
    list->count += 1;
}

static const char *params_duration(uint64_t ns, char *buffer, size_t size)
{
    scn__format_duration(ns, buffer, size);
    return buffer;
}

static const char *params_number(double value, char *buffer, size_t size)
{
    scn__format_number(value, buffer, size);
    return buffer;
}

static const char *params_uint(uint64_t value, char *buffer, size_t size)
{
    snprintf(buffer, size, "%llu", (unsigned long long)value);
    return buffer;
}

static void params_network(params_list *list, const scn_scenario *s)
{
    char v[64];
    const scn_network *n = &s->network;
    params_add(list, params_latency_models[n->latency.kind], "network.latency.model");
    params_add(list, params_duration(n->latency.value_ns, v, sizeof(v)), "network.latency.value");
    params_add(list, params_duration(n->latency.min_ns, v, sizeof(v)), "network.latency.min");
    params_add(list, params_duration(n->latency.max_ns, v, sizeof(v)), "network.latency.max");
    params_add(list, params_duration(n->latency.stddev_ns, v, sizeof(v)),
               "network.latency.stddev");
    params_add(list, params_number(n->latency.sigma, v, sizeof(v)), "network.latency.sigma");
    for (uint32_t a = 0; n->has_region_matrix && a < s->nodes.region_count; a++) {
        for (uint32_t b = 0; b < s->nodes.region_count; b++) {
            params_add(list, params_duration(n->region_latency_ns[a][b], v, sizeof(v)),
                       "network.regions.%s.%s", s->nodes.regions[a].name,
                       s->nodes.regions[b].name);
        }
    }
    params_add(list, params_duration(n->jitter_ns, v, sizeof(v)), "network.jitter");
    scn__format_bitrate(n->bandwidth_bps, v, sizeof(v));
    params_add(list, v, "network.bandwidth");
    params_add(list, params_number(n->loss, v, sizeof(v)), "network.loss");
    params_add(list, params_number(n->duplicate, v, sizeof(v)), "network.duplicate");
    params_add(list, params_number(n->reorder, v, sizeof(v)), "network.reorder");
    params_add(list, params_number(n->corrupt, v, sizeof(v)), "network.corrupt");
    params_add(list, params_duration(n->reorder_delay_ns, v, sizeof(v)), "network.reorder_delay");
}

static void params_nodes(params_list *list, const scn_scenario *s)
{
    char v[64];
    params_add(list, params_uint(s->nodes.count, v, sizeof(v)), "nodes.count");
    for (uint32_t i = 0; i < s->nodes.class_count; i++) {
        const scn_class *c = &s->nodes.classes[i];
        params_add(list, c->name, "nodes.classes.%u.name", i);
        params_add(list, params_number(c->fraction, v, sizeof(v)), "nodes.classes.%u.fraction", i);
        scn__format_bitrate(c->bandwidth_bps, v, sizeof(v));
        params_add(list, v, "nodes.classes.%u.bandwidth", i);
        params_add(list, params_uint(c->memory_bytes, v, sizeof(v)), "nodes.classes.%u.memory", i);
        scn__format_flops(c->flops_per_s, v, sizeof(v));
        params_add(list, v, "nodes.classes.%u.flops", i);
        params_add(list, params_kernels[c->kernel], "nodes.classes.%u.kernel", i);
        if (c->tee) {
            params_add(list, "true", "nodes.classes.%u.tee", i);
        }
        if (c->memory_bandwidth_bytes_per_s > 0) {
            params_add(list, params_uint(c->memory_bandwidth_bytes_per_s, v, sizeof(v)),
                       "nodes.classes.%u.memory_bandwidth", i);
        }
        params_add(list, params_duration(c->overhead_ns, v, sizeof(v)),
                   "nodes.classes.%u.overhead", i);
        if (c->max_batch > 1) {
            params_add(list, params_uint(c->max_batch, v, sizeof(v)),
                       "nodes.classes.%u.max_batch", i);
        }
    }
    for (uint32_t i = 0; i < s->nodes.region_count; i++) {
        const scn_region *r = &s->nodes.regions[i];
        params_add(list, r->name, "nodes.regions.%u.name", i);
        params_add(list, params_number(r->fraction, v, sizeof(v)), "nodes.regions.%u.fraction", i);
    }
}

static void params_gossip(params_list *list, const scn_scenario *s)
{
    char v[64];
    params_add(list, s->gossip.mode == SCN_GOSSIP_PUSH ? "push" : "pushpull", "gossip.mode");
    params_add(list, params_uint(s->gossip.fanout, v, sizeof(v)), "gossip.fanout");
    params_add(list, params_duration(s->gossip.pull_interval_ns, v, sizeof(v)),
               "gossip.pull_interval");
    params_add(list, params_uint(s->gossip.pull_max, v, sizeof(v)), "gossip.pull_max");
}

/* "[a, b, ...]" of the explicit arrival times (at most SCN_TIMES_MAX). */
static void params_times(params_list *list, const scn_workload *w)
{
    size_t size = 4 + (size_t)w->time_count * 26;
    char *text = util_malloc(size);
    if (text == NULL) {
        list->failed = true;
        return;
    }
    size_t used = (size_t)snprintf(text, size, "[");
    for (uint32_t i = 0; i < w->time_count; i++) {
        char v[24];
        scn__format_duration(w->times_ns[i], v, sizeof(v));
        used += (size_t)snprintf(text + used, size - used, "%s%s", i == 0 ? "" : ", ", v);
    }
    snprintf(text + used, size - used, "]");
    params_add(list, text, "workload.times");
    util_free(text);
}

/* Text prompts: the file and its hash, or the inline list as a flow
 * sequence of double-quoted strings (so the texts are in the hash). */
static void params_prompts(params_list *list, const scn_workload *w)
{
    if (w->prompts_file_written[0] != '\0') {
        params_add(list, w->prompts_file_written, "workload.prompts");
        params_add(list, w->prompts_sha256, "workload.prompts_sha256");
        return;
    }
    char *text = util_malloc(2 * sizeof(w->prompt_text) + 4 * SCN_PROMPTS_MAX + 4);
    if (text == NULL) {
        list->failed = true;
        return;
    }
    size_t used = 0;
    text[used++] = '[';
    for (uint32_t i = 0; i < w->prompt_count; i++) {
        used += (size_t)sprintf(text + used, "%s\"", i == 0 ? "" : ", ");
        for (const char *c = scn_workload_prompt(w, i); *c != '\0'; c++) {
            if (*c == '"' || *c == '\\') {
                text[used++] = '\\';
            }
            text[used++] = *c;
        }
        text[used++] = '"';
    }
    text[used++] = ']';
    text[used] = '\0';
    params_add(list, text, "workload.prompts");
    util_free(text);
}

/* Only the keys of the workload's kind: each reads back through --set. */
static void params_workload(params_list *list, const scn_scenario *s)
{
    char v[64];
    char rate[80];
    const scn_workload *w = &s->workload;
    bool gossip = w->kind == SCN_WORKLOAD_GOSSIP;
    params_add(list, gossip ? "gossip" : "inference", "workload.kind");
    snprintf(rate, sizeof(rate), "%s/s", params_number(w->rate_per_s, v, sizeof(v)));
    params_add(list, rate, "workload.rate");
    params_add(list, params_arrivals[w->arrival], "workload.arrival");
    params_add(list, params_duration(w->start_ns, v, sizeof(v)), "workload.start");
    if (gossip) {
        params_add(list, params_uint(w->messages, v, sizeof(v)), "workload.messages");
        params_add(list, params_uint(w->size_bytes, v, sizeof(v)), "workload.size");
        return;
    }
    params_add(list, params_uint(w->requests, v, sizeof(v)), "workload.requests");
    if (w->arrival == SCN_ARRIVAL_EXPLICIT) {
        params_times(list, w);
    }
    if (w->prompt_count > 0) {
        params_prompts(list, w);
    } else if (w->prompt_min == w->prompt_max) {
        snprintf(v, sizeof(v), "%u", w->prompt_min);
        params_add(list, v, "workload.prompt_tokens");
    } else {
        snprintf(v, sizeof(v), "[%u, %u]", w->prompt_min, w->prompt_max);
        params_add(list, v, "workload.prompt_tokens");
    }
    params_add(list, params_uint(w->generate_tokens, v, sizeof(v)), "workload.generate");
    params_add(list, params_duration(w->request_timeout_ns, v, sizeof(v)), "workload.timeout");
    if (w->failover) {
        params_add(list, "true", "workload.failover");
        params_add(list, params_duration(w->step_timeout_ns, v, sizeof(v)),
                   "workload.step_timeout");
    }
    if (w->routing == SCN_ROUTING_LATENCY) {
        params_add(list, "latency", "workload.routing");
        params_add(list, params_uint(w->routing_choices, v, sizeof(v)),
                   "workload.routing_choices");
    }
    if (w->until == SCN_UNTIL_ALL_SERVED) {
        params_add(list, "all_served", "workload.until");
    }
}

/* Segments always in the list form, so a count and the ranges it stands for
 * hash the same. */
static void params_segments(params_list *list, const scn_model *m)
{
    char text[SCN_SEGMENTS_MAX * 24 + 4] = "[";
    for (uint32_t i = 0; i < m->segment_count; i++) {
        size_t used = strlen(text);
        snprintf(text + used, sizeof(text) - used, "%s[%u, %u]", i == 0 ? "" : ", ",
                 m->segment_first[i], m->segment_first[i] + m->segment_layers[i] - 1);
    }
    strcat(text, "]");
    params_add(list, text, "model.segments");
}

/* Nothing when there is no model. A file model lists its shape too (from
 * the checkpoint header; informational, --set cannot set it). */
static void params_model(params_list *list, const scn_scenario *s)
{
    char v[64];
    const scn_model *m = &s->model;
    if (m->source == SCN_MODEL_NONE) {
        return;
    }
    bool seed = m->source == SCN_MODEL_SEED;
    params_add(list, seed ? "seed" : "file", "model.source");
    if (seed) {
        params_add(list, params_uint(m->weight_seed, v, sizeof(v)), "model.seed");
    } else {
        params_add(list, m->file_written, "model.file");
        params_add(list, m->file_sha256, "model.file_sha256");
    }
    if (m->tokenizer_written[0] != '\0') {
        params_add(list, m->tokenizer_written, "model.tokenizer");
        params_add(list, m->tokenizer_sha256, "model.tokenizer_sha256");
    }
    const char *names[] = {"dim", "hidden_dim", "layers", "heads", "kv_heads", "vocab",
                           "seq_len"};
    const uint32_t values[] = {m->dim,      m->hidden_dim, m->layers, m->heads,
                               m->kv_heads, m->vocab,      m->seq_len};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        params_add(list, params_uint(values[i], v, sizeof(v)), "model.shape.%s", names[i]);
    }
    params_add(list, m->shared_classifier ? "true" : "false", "model.shape.shared_classifier");
    params_segments(list, m);
    params_add(list, params_dtypes[m->wire_dtype], "model.wire_dtype");
    params_add(list, params_uint(m->replicas, v, sizeof(v)), "model.replicas");
    params_add(list, params_uint(m->kv_slots, v, sizeof(v)), "model.kv_slots");
}

/* The rule and only its own parameter, so each reads back through --set. */
static void params_agreement(params_list *list, const scn_agreement *a, const char *prefix)
{
    char v[64];
    params_add(list, scn__agree_rule_name(a->rule), "%s.rule", prefix);
    if (a->rule == SCN_AGREE_MAXABS) {
        params_add(list, params_number(a->epsilon, v, sizeof(v)), "%s.epsilon", prefix);
    } else if (a->rule == SCN_AGREE_COSINE) {
        params_add(list, params_number(a->tau, v, sizeof(v)), "%s.tau", prefix);
    } else if (a->rule == SCN_AGREE_TOPK) {
        params_add(list, params_uint(a->top_k, v, sizeof(v)), "%s.top_k", prefix);
        if (a->margin > 0.0) {
            params_add(list, params_number(a->margin, v, sizeof(v)), "%s.margin", prefix);
        }
    }
}

/* The keys of the protocols other than committee, each under its own. */
static void params_protocol(params_list *list, const scn_scenario *s)
{
    char v[64];
    const scn_verification *x = &s->verification;
    bool checkers =
        x->protocol == CONS_PROTOCOL_CROSSVAL || x->protocol == CONS_PROTOCOL_OPTIMISTIC;
    if (x->protocol == CONS_PROTOCOL_SAMPLING && x->echelon >= 0) {
        params_add(list, s->nodes.classes[x->echelon].name, "verification.echelon");
    }
    if (checkers) {
        params_add(list, params_uint(x->verifiers, v, sizeof(v)), "verification.verifiers");
    }
    if (checkers || x->protocol == CONS_PROTOCOL_SAMPLING) {
        params_add(list, params_duration(x->dispute_ns, v, sizeof(v)), "verification.dispute_time");
    }
    if (x->protocol == CONS_PROTOCOL_CROSSVAL) {
        params_add(list, params_number(x->check_probability, v, sizeof(v)),
                   "verification.check_probability");
        params_add(list, params_uint(x->check_answers, v, sizeof(v)),
                   "verification.check_answers");
    } else if (x->protocol == CONS_PROTOCOL_OPTIMISTIC) {
        params_add(list, params_duration(x->challenge_window_ns, v, sizeof(v)),
                   "verification.challenge_window");
        params_add(list, params_duration(x->bisection_round_ns, v, sizeof(v)),
                   "verification.bisection_round");
    } else if (x->protocol == CONS_PROTOCOL_TEE) {
        params_add(list, params_number(x->tee_overhead, v, sizeof(v)), "verification.tee_overhead");
    } else if (x->protocol == CONS_PROTOCOL_ZK) {
        params_add(list, params_number(x->zk_prover_factor, v, sizeof(v)),
                   "verification.zk.prover_factor");
        params_add(list, params_uint(x->zk_proof_bytes, v, sizeof(v)), "verification.zk.proof_bytes");
        params_add(list, params_duration(x->zk_verify_ns, v, sizeof(v)),
                   "verification.zk.verify_time");
    }
}

/* Nothing with protocol none (the default), so scenarios without
 * verification keep their hash and every key written reads back. */
static void params_verification(params_list *list, const scn_scenario *s)
{
    char v[64];
    const scn_verification *x = &s->verification;
    if (x->protocol == CONS_PROTOCOL_NONE) {
        return;
    }
    params_add(list, cons_protocol_name(x->protocol), "verification.protocol");
    if (x->protocol <= CONS_PROTOCOL_SAMPLING) {
        params_add(list, params_uint(x->committee, v, sizeof(v)), "verification.committee");
        params_add(list, x->commit_reveal ? "true" : "false", "verification.commit_reveal");
    }
    if (x->protocol == CONS_PROTOCOL_COMMITTEE) {
        params_add(list, params_uint(x->quorum, v, sizeof(v)), "verification.quorum");
    }
    if (x->unsafe_quorum_slack > 0) {
        params_add(list, params_uint(x->unsafe_quorum_slack, v, sizeof(v)),
                   "verification.unsafe_quorum_slack");
    }
    params_add(list, params_uint(x->retries, v, sizeof(v)), "verification.retries");
    params_add(list, x->catch_up ? "true" : "false", "verification.catch_up");
    if (x->draw_epoch > 0) { /* 0 (the default) adds nothing: params stay as they were. */
        params_add(list, params_uint(x->draw_epoch, v, sizeof(v)), "verification.draw_epoch");
    }
    params_protocol(list, s);
    params_add(list, x->sign_ed25519 ? "ed25519" : "mac", "verification.crypto");
    if (x->selection_vrf) { /* hash (the default) adds nothing: hashes stay as they were. */
        params_add(list, "vrf", "verification.selection");
        params_add(list, params_duration(x->vrf_epoch_ns, v, sizeof(v)),
                   "verification.vrf_epoch");
    }
    if (x->draw_tree) { /* race (the default) adds nothing: hashes stay as they were. */
        params_add(list, "tree", "verification.draw");
    }
    if (x->draw_tree && x->selection_vrf) {
        params_add(list, params_number(x->vrf_accept, v, sizeof(v)), "verification.vrf_accept");
    }
    params_add(list, params_duration(x->commit_timeout_ns, v, sizeof(v)),
               "verification.commit_timeout");
    params_add(list, params_duration(x->reveal_timeout_ns, v, sizeof(v)),
               "verification.reveal_timeout");
    if (x->suspect_after_ns > 0) { /* off (the default) adds nothing: hashes stay. */
        params_add(list, params_duration(x->suspect_after_ns, v, sizeof(v)),
                   "verification.suspect_after");
    }
    params_agreement(list, &x->agreement, "verification.agreement");
    params_agreement(list, &x->final_agreement, "verification.final_agreement");
    params_add(list, params_number(x->penalty, v, sizeof(v)), "verification.reputation.penalty");
    params_add(list, params_number(x->reward, v, sizeof(v)), "verification.reputation.reward");
    params_add(list, params_number(x->reputation_min, v, sizeof(v)),
               "verification.reputation.min");
    params_add(list, params_number(x->reputation_max, v, sizeof(v)),
               "verification.reputation.max");
    params_add(list, params_number(x->reputation_initial, v, sizeof(v)),
               "verification.reputation.initial");
    params_add(list, params_number(x->stake, v, sizeof(v)), "verification.stake");
    params_add(list, params_number(x->slash, v, sizeof(v)), "verification.slash");
    params_add(list, params_number(x->timeout_slash, v, sizeof(v)), "verification.timeout_slash");
    params_add(list, params_number(x->fee_per_token, v, sizeof(v)), "verification.fee_per_token");
    params_add(list, params_number(x->slashed_honest, v, sizeof(v)),
               "verification.slashed_to.honest");
    params_add(list, params_number(x->slashed_oracle, v, sizeof(v)),
               "verification.slashed_to.oracle");
    params_add(list, params_number(x->slashed_burn, v, sizeof(v)), "verification.slashed_to.burn");
}

static void params_selector(params_list *list, const scn_scenario *s, const scn_selector *sel,
                            const char *prefix)
{
    char v[64];
    bool only_all = sel->all && sel->id_count == 0 && !sel->has_range && sel->fraction == 0 &&
                    sel->class_index < 0 && sel->region_index < 0;
    if (only_all) {
        params_add(list, "all", "%s", prefix);
        return;
    }
    if (sel->all) {
        params_add(list, "true", "%s.all", prefix);
    }
    if (sel->id_count > 0) {
        char ids[SCN_SELECTOR_IDS_MAX * 12 + 4] = "[";
        for (uint32_t i = 0; i < sel->id_count; i++) {
            size_t used = strlen(ids);
            snprintf(ids + used, sizeof(ids) - used, "%s%u", i == 0 ? "" : ", ", sel->ids[i]);
        }
        strcat(ids, "]");
        params_add(list, ids, "%s.ids", prefix);
    }
    if (sel->has_range) {
        snprintf(v, sizeof(v), "%u-%u", sel->range_first, sel->range_last);
        params_add(list, v, "%s.range", prefix);
    }
    if (sel->fraction > 0) {
        params_add(list, params_number(sel->fraction, v, sizeof(v)), "%s.fraction", prefix);
    }
    if (sel->class_index >= 0) {
        params_add(list, s->nodes.classes[sel->class_index].name, "%s.class", prefix);
    }
    if (sel->region_index >= 0) {
        params_add(list, s->nodes.regions[sel->region_index].name, "%s.region", prefix);
    }
}

static void params_fault(params_list *list, const scn_scenario *s, uint32_t i)
{
    char v[64];
    char prefix[64];
    const scn_fault *f = &s->faults[i];
    params_add(list, scn_fault_kinds[f->kind].name, "faults.%u.kind", i);
    params_add(list, params_duration(f->at_ns, v, sizeof(v)), "faults.%u.at", i);
    params_add(list, f->until_ns == UINT64_MAX ? "never" : params_duration(f->until_ns, v,
                                                                         sizeof(v)),
               "faults.%u.until", i);
    bool partition = f->kind == SCN_FAULT_PARTITION;
    if (!partition || f->shape == SCN_PARTITION_ISOLATE) {
        snprintf(prefix, sizeof(prefix), "faults.%u.nodes", i);
        params_selector(list, s, &f->nodes, prefix);
    }
    uint32_t takes = scn_fault_kinds[f->kind].takes;
    if (takes & SCN_FAULT_TAKES_PROBABILITY) {
        params_add(list, params_number(f->probability, v, sizeof(v)), "faults.%u.probability", i);
    }
    if (takes & SCN_FAULT_TAKES_DELAY) {
        params_add(list, params_duration(f->delay_ns, v, sizeof(v)), "faults.%u.delay", i);
    }
    if (takes & SCN_FAULT_TAKES_SCALE) {
        params_add(list, params_number(f->scale, v, sizeof(v)), "faults.%u.scale", i);
    }
    if (takes & SCN_FAULT_TAKES_MODE) {
        static const char *const modes[] = {"noise", "model", "layer"};
        params_add(list, modes[f->wrong_mode], "faults.%u.mode", i);
    }
    if (f->gain > 0) {
        params_add(list, params_number(f->gain, v, sizeof(v)), "faults.%u.gain", i);
    }
    if (f->kind == SCN_FAULT_COLLUDE && f->coordination == SCN_CARTEL_MESSAGES) {
        params_add(list, "messages", "faults.%u.coordination", i);
    }
    if (f->kind == SCN_FAULT_COLLUDE && f->target_token != SCN_TARGET_NONE) {
        params_add(list, params_uint(f->target_token, v, sizeof(v)), "faults.%u.target_token",
                   i);
    }
    if (f->kind == SCN_FAULT_EQUIVOCATE && f->second_to_peers) {
        params_add(list, "peers", "faults.%u.second_to", i);
    }
    if ((takes & SCN_FAULT_TAKES_BUDGET) && f->budget != 0) {
        params_add(list, params_uint(f->budget, v, sizeof(v)), "faults.%u.budget", i);
    }
    if (partition) {
        params_add(list, params_shapes[f->shape], "faults.%u.shape", i);
    }
    for (uint32_t g = 0; partition && g < f->group_count; g++) {
        snprintf(prefix, sizeof(prefix), "faults.%u.groups.%u", i, g);
        params_selector(list, s, &f->groups[g], prefix);
    }
}

/* Nothing without a ledger: runs without one keep their params. */
static void params_ledger(params_list *list, const scn_scenario *s)
{
    const scn_ledger *l = &s->ledger;
    char v[64];
    if (l->validators == 0) {
        return;
    }
    params_add(list, params_uint(l->validators, v, sizeof(v)), "ledger.validators");
    params_add(list, params_duration(l->block_interval_ns, v, sizeof(v)),
               "ledger.block_interval");
    params_add(list, params_duration(l->view_timeout_ns, v, sizeof(v)), "ledger.view_timeout");
    params_add(list, l->auth_mac ? "mac" : "ed25519", "ledger.auth");
    params_add(list, params_uint(l->block_txs, v, sizeof(v)), "ledger.block_txs");
    params_add(list, params_uint(l->byzantine, v, sizeof(v)), "ledger.byzantine");
    params_add(list, cons_bft_behaviour_name((cons_bft_behaviour)l->behaviour), "ledger.behaviour");
    params_add(list, params_duration(l->delay_ns, v, sizeof(v)), "ledger.delay");
    params_add(list, params_duration(l->crash_at_ns, v, sizeof(v)), "ledger.crash_at");
    params_add(list, params_uint(l->submit_to, v, sizeof(v)), "ledger.submit_to");
    params_add(list, l->evidence ? "true" : "false", "ledger.evidence");
    params_add(list, l->timeout_evidence ? "true" : "false", "ledger.timeout_evidence");
    params_add(list, params_duration(l->resend_timeout_ns, v, sizeof(v)), "ledger.resend_timeout");
    params_add(list, l->settlement_ledger ? "ledger" : "instant", "verification.settlement");
    if (l->gossip) { /* direct runs keep their params */
        params_add(list, "gossip", "ledger.dissemination");
        params_add(list, params_uint(l->fanout, v, sizeof(v)), "ledger.fanout");
        params_add(list, params_duration(l->pull_interval_ns, v, sizeof(v)),
                   "ledger.pull_interval");
    }
}

/* Nothing without a privacy section. Boundaries are written as the list
 * they stand for; a sigma derived from epsilon is written too (params
 * table only). */
static void params_selector(params_list *list, const scn_scenario *s, const scn_selector *sel,
                            const char *prefix);

/* Nothing without churn: runs without it keep their params. */
static void params_churn(params_list *list, const scn_scenario *s)
{
    char v[64];
    char rate[80];
    const scn_churn *c = &s->churn;
    if (!c->enabled) {
        return;
    }
    snprintf(rate, sizeof(rate), "%s/s", params_number(c->join_rate_per_s, v, sizeof(v)));
    params_add(list, rate, "churn.join_rate");
    snprintf(rate, sizeof(rate), "%s/s", params_number(c->leave_rate_per_s, v, sizeof(v)));
    params_add(list, rate, "churn.leave_rate");
    params_add(list, params_number(c->initially_online, v, sizeof(v)), "churn.initially_online");
    params_add(list, c->leave == SCN_CHURN_LEAVE_GRACEFUL ? "graceful" : "crash", "churn.leave");
    params_add(list, params_duration(c->drain_ns, v, sizeof(v)), "churn.drain");
    params_add(list, params_duration(c->start_ns, v, sizeof(v)), "churn.start");
    params_add(list, params_duration(c->stop_ns, v, sizeof(v)), "churn.stop");
    params_selector(list, s, &c->nodes, "churn.nodes");
}

static void params_privacy(params_list *list, const scn_scenario *s)
{
    char v[64];
    const scn_privacy *p = &s->privacy;
    if (!p->enabled) {
        return;
    }
    char text[SCN_SEGMENTS_MAX * 4 + 4] = "[";
    for (uint32_t b = 1; b < SCN_SEGMENTS_MAX; b++) {
        if (p->boundary_mask & (UINT64_C(1) << b)) {
            size_t used = strlen(text);
            snprintf(text + used, sizeof(text) - used, "%s%u", used > 1 ? ", " : "", b);
        }
    }
    strcat(text, "]");
    params_add(list, text, "privacy.boundaries");
    params_add(list, params_number(p->clip, v, sizeof(v)), "privacy.clip");
    params_add(list, params_number(p->delta, v, sizeof(v)), "privacy.delta");
    if (p->require_tee_tokens || p->require_tee_activations) {
        params_add(list,
                   p->require_tee_tokens && p->require_tee_activations ? "[tokens, activations]"
                   : p->require_tee_tokens                             ? "[tokens]"
                                                                       : "[activations]",
                   "privacy.require_tee_for");
    }
    params_add(list, params_number(p->side_channel_leak, v, sizeof(v)),
               "privacy.side_channel_leak");
    if (p->curious > 0) {
        params_add(list, params_number(p->curious, v, sizeof(v)), "privacy.curious");
        params_add(list, params_number(p->attack_sample, v, sizeof(v)), "privacy.attack_sample");
    }
    if (p->epsilon > 0) {
        params_add(list, params_number(p->epsilon, v, sizeof(v)), "privacy.epsilon");
        params_add(list, params_number(p->sigma, v, sizeof(v)), "privacy.sigma_derived");
    } else {
        params_add(list, params_number(p->sigma, v, sizeof(v)), "privacy.sigma");
    }
}

static void params_rest(params_list *list, const scn_scenario *s)
{
    char v[64];
    for (uint32_t i = 0; i < s->fault_count; i++) {
        params_fault(list, s, i);
    }
    for (uint32_t i = 0; i < s->expect_count; i++) {
        char condition[96];
        const scn_expect *e = &s->expects[i];
        if (e->converge) {
            params_add(list, params_duration(s->converge_within_ns, v, sizeof(v)),
                       "expect.converge_within");
            continue;
        }
        bool latency = scn__metric_is_duration(e->metric);
        bool whole = e->value >= 0 && e->value < 1.8e19 && e->value == floor(e->value);
        if (latency && whole) {
            scn__format_duration((uint64_t)e->value, v, sizeof(v));
        } else {
            scn__format_number(e->value, v, sizeof(v));
        }
        snprintf(condition, sizeof(condition), "%s %s", params_cmps[e->cmp], v);
        /* Run-level expectations keep their spelling (and so the hash of
         * every scenario written before the over-seed forms). */
        switch (e->scope) {
        case SCN_EXPECT_RUN: params_add(list, condition, "expect.%s", e->metric); break;
        case SCN_EXPECT_MEAN: params_add(list, condition, "expect.%s.mean", e->metric); break;
        case SCN_EXPECT_PASSING:
            params_add(list, condition, "expect.%s.each", e->metric);
            scn__format_number(e->passing_value, v, sizeof(v));
            snprintf(condition, sizeof(condition), "%s %s", params_cmps[e->passing_cmp], v);
            params_add(list, condition, "expect.%s.passing", e->metric);
            break;
        }
    }
    params_add(list, s->output.db, "output.db");
    params_add(list, params_duration(s->output.sample_interval_ns, v, sizeof(v)),
               "output.sample_interval");
    if (s->output.divergence_sample != 1.0) {
        /* Written only when set, so no earlier scenario's parameters change. */
        params_add(list, params_number(s->output.divergence_sample, v, sizeof(v)),
                   "output.divergence_sample");
    }
    if (!s->output.node_series) {
        /* Written only when set, like divergence_sample. */
        params_add(list, "false", "output.node_series");
    }
    if (!s->output.decisions) {
        params_add(list, "false", "output.decisions");
    }
}

static int params_compare(const void *a, const void *b)
{
    const scn_param *x = a;
    const scn_param *y = b;
    int order = strcmp(x->key, y->key);
    return order != 0 ? order : strcmp(x->value, y->value);
}

static bool params_hashed(const char *key)
{
    return strcmp(key, "seed") != 0 && strncmp(key, "output.", 7) != 0;
}

static int params_hash(scn_scenario *s)
{
    size_t size = 1;
    for (size_t i = 0; i < s->param_count; i++) {
        size += strlen(s->params[i].key) + strlen(s->params[i].value) + 2;
    }
    char *text = util_malloc(size);
    if (text == NULL) {
        return SCN_ENOMEM;
    }
    size_t used = 0;
    for (size_t i = 0; i < s->param_count; i++) {
        if (params_hashed(s->params[i].key)) {
            used += (size_t)snprintf(text + used, size - used, "%s=%s\n", s->params[i].key,
                                     s->params[i].value);
        }
    }
    ASSERT(used < size);
    util_sha256_hex(text, used, s->sha256_hex);
    util_free(text);
    return 0;
}

int scn__params_build(scn_scenario *s)
{
    ASSERT(s != NULL && s->params == NULL);
    params_list list = {0};
    char v[64];
    params_add(&list, s->name, "name");
    params_add(&list, params_uint(s->seed, v, sizeof(v)), "seed");
    params_add(&list, params_duration(s->duration_ns, v, sizeof(v)), "duration");
    params_network(&list, s);
    params_nodes(&list, s);
    params_gossip(&list, s);
    params_model(&list, s);
    params_verification(&list, s);
    params_workload(&list, s);
    params_privacy(&list, s);
    params_ledger(&list, s);
    params_churn(&list, s);
    params_rest(&list, s);
    s->params = list.items;
    s->param_count = list.count;
    if (list.failed) {
        scn__params_free(s);
        return SCN_ENOMEM;
    }
    qsort(s->params, s->param_count, sizeof(s->params[0]), params_compare);
    if (params_hash(s) != 0) {
        scn__params_free(s);
        return SCN_ENOMEM;
    }
    return 0;
}

void scn__params_free(scn_scenario *s)
{
    for (size_t i = 0; i < s->param_count; i++) {
        util_free(s->params[i].key);
        util_free(s->params[i].value);
    }
    util_free(s->params);
    s->params = NULL;
    s->param_count = 0;
}
