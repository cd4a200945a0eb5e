/* tb_http.c -- a node process's HTTP API (evhttp):
 *   GET  /status                 JSON: the process, its nodes, counters
 *   GET  /metrics                Prometheus text exposition format
 *   POST /v1/infer               {"prompt": [tokens], "generate": n}: runs a request
 *                                from one of this process's nodes; answers when it
 *                                finalizes, with the output and its evidence
 *   POST /admin/drop?from=&to=&probability=   drop frames this process sends
 *   POST /admin/delay?from=&to=&ms=           hold them
 *   POST /admin/partition?groups=0,0,1,...    cut the groups apart (sender side)
 *   POST /admin/heal                          clear every admin and scenario rule
 *   POST /admin/byzantine?node=&behaviour=&scale=  switch a hosted node's behaviour
 *   POST /admin/crash                         the process dies at once (kill -9 like)
 * Rules act on the frames this process sends; a network-wide partition is
 * one call per process. The admin endpoints want the run's token
 * ("Authorization: Bearer TOKEN"); without it, 401. Every malformed or
 * unauthorised request gets a 4xx and a JSON error, is counted, and
 * changes nothing. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "testbed/tb_int.h"
#include "util/alloc.h"
#include "util/assert.h"

#define HTTP_BODY_MAX 65536
#define PROMPT_MAX 4096

const double tb__latency_bounds_s[TB_LATENCY_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                        0.1,   0.25,   0.5,   1.0,  2.5,   10.0};

#define HTTP_QUEUE_MAX 1024   /* HTTP requests waiting for a free id */

/* An HTTP request waiting for its answer: for its request to finish (id
 * set), or, queued, for a free id (id UINT64_MAX, the prompt kept). */
struct tb_pending {
    tb_proc *proc;
    struct evhttp_request *request;
    uint64_t id;
    tb_pending *next;                /* queued: the next in line */
    uint32_t count;
    uint32_t *tokens;                /* queued: the prompt (owned) */
};

static void reply(tb_proc *proc, struct evhttp_request *request, int code, const char *reason,
                  const char *content_type, struct evbuffer *body)
{
    if (code >= 400 && code < 500) {
        proc->http_rejected += 1;
    }
    evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type", content_type);
    evhttp_send_reply(request, code, reason, body);
}

static void reply_error(tb_proc *proc, struct evhttp_request *request, int code,
                        const char *reason, const char *message)
{
    struct evbuffer *body = evbuffer_new();
    if (body != NULL) {
        evbuffer_add_printf(body, "{\"error\": \"%s\"}\n", message);
    }
    reply(proc, request, code, reason, "application/json", body);
    if (body != NULL) {
        evbuffer_free(body);
    }
}

/* The body reader lives in tb_json.c (tb_infer_body_parse); it writes up
 * to TB_INFER_PROMPT_MAX tokens into the buffer on_infer allocates. */
_Static_assert(PROMPT_MAX >= TB_INFER_PROMPT_MAX, "the prompt buffer holds a full body");

/* ---- /v1/infer ---- */

static void pending_free(tb_pending *pending)
{
    util_free(pending->tokens);
    util_free(pending);
}

static void queue_unlink(tb_proc *proc, tb_pending *pending)
{
    tb_pending **at = &proc->queue_head;
    tb_pending *previous = NULL;
    while (*at != NULL && *at != pending) {
        previous = *at;
        at = &(*at)->next;
    }
    if (*at == NULL) {
        return;
    }
    *at = pending->next;
    if (proc->queue_tail == pending) {
        proc->queue_tail = previous;
    }
    proc->queued -= 1;
}

/* The client went away: its request runs on (the id stays busy until it
 * finishes) or, queued, is forgotten. */
static void pending_closed(struct evhttp_connection *connection, void *arg)
{
    (void)connection;
    tb_pending *pending = arg;
    if (pending->id == UINT64_MAX) {
        queue_unlink(pending->proc, pending);
    } else {
        pending->proc->pending[pending->id] = NULL;
    }
    pending_free(pending);
}

/* Submits 'pending' (its request answered when it finishes) under 'id'. */
static void infer_submit(tb_proc *proc, tb_pending *pending, uint64_t id, const uint32_t *tokens,
                         uint32_t count)
{
    uint32_t per = proc->config->process_count;
    uint32_t hosted = (proc->node_count - proc->config->process + per - 1) / per;
    uint32_t client = proc->config->process + (proc->client_next++ % hosted) * per;
    /* A free id is one whose last request finished a quarantine ago: its
     * record (kept until now, for the rows) is forgotten. */
    int reset = world_host_request_reset(proc->host, id);
    ASSERT(reset == 0);
    pending->id = id;
    proc->pending[id] = pending;
    int rc = 0;
    const node_outbox *outbox =
        world_host_submit(proc->host, client, id, tb__now_ns(proc), tokens, count, &rc);
    if (outbox == NULL) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(pending->request), NULL,
                                      NULL);
        proc->pending[id] = NULL;
        tb__ids_give(&proc->ids, id);
        reply_error(proc, pending->request, 400, "Bad Request", "prompt out of range");
        pending_free(pending);
        return;
    }
    proc->summary.requests_submitted += 1;
    tb__effects(proc, client, outbox);
}

/* Ids became free: the queue's oldest requests take them. */
static void queue_serve(void *context)
{
    tb_proc *proc = context;
    while (proc->queue_head != NULL) {
        uint64_t id = tb__ids_take(&proc->ids);
        if (id == UINT64_MAX) {
            return;
        }
        tb_pending *pending = proc->queue_head;
        queue_unlink(proc, pending);
        infer_submit(proc, pending, id, pending->tokens, pending->count);
    }
}

/* An id now, or a place in the queue, or 503 with Retry-After. */
static void infer_accept(tb_proc *proc, struct evhttp_request *request, const uint32_t *tokens,
                         uint32_t count)
{
    if (proc->ids.count == 0) {
        reply_error(proc, request, 503, "Service Unavailable",
                    "no request ids: the process restarted too often");
        return;
    }
    uint64_t id = proc->queue_head == NULL ? tb__ids_take(&proc->ids) : UINT64_MAX;
    if (id == UINT64_MAX && proc->queued >= HTTP_QUEUE_MAX) {
        evhttp_add_header(evhttp_request_get_output_headers(request), "Retry-After", "1");
        reply_error(proc, request, 503, "Service Unavailable", "request queue full");
        return;
    }
    tb_pending *pending = util_calloc(1, sizeof(*pending));
    uint32_t *copy = id == UINT64_MAX ? util_malloc(count * sizeof(uint32_t)) : NULL;
    if (pending == NULL || (id == UINT64_MAX && copy == NULL)) {
        util_free(pending);
        util_free(copy);
        if (id != UINT64_MAX) {
            tb__ids_give(&proc->ids, id);
        }
        reply_error(proc, request, 503, "Service Unavailable", "out of memory");
        return;
    }
    pending->proc = proc;
    pending->request = request;
    pending->id = UINT64_MAX;
    evhttp_connection_set_closecb(evhttp_request_get_connection(request), pending_closed,
                                  pending);
    if (id != UINT64_MAX) {
        infer_submit(proc, pending, id, tokens, count);
        return;
    }
    memcpy(copy, tokens, count * sizeof(uint32_t));
    pending->tokens = copy;
    pending->count = count;
    if (proc->queue_tail != NULL) {
        proc->queue_tail->next = pending;
    } else {
        proc->queue_head = pending;
    }
    proc->queue_tail = pending;
    proc->queued += 1;
}

static void on_infer(tb_proc *proc, struct evhttp_request *request)
{
    struct evbuffer *input = evhttp_request_get_input_buffer(request);
    size_t size = evbuffer_get_length(input);
    const node_serving *serving = world_host_serving(proc->host);
    if (size == 0 || size > HTTP_BODY_MAX) {
        reply_error(proc, request, 400, "Bad Request", "a JSON body is required");
        return;
    }
    const char *text = (const char *)evbuffer_pullup(input, (ev_ssize_t)size);
    uint32_t *tokens = util_malloc(PROMPT_MAX * sizeof(uint32_t));
    uint32_t count = 0;
    uint64_t generate = 0;
    if (tokens == NULL) {
        reply_error(proc, request, 503, "Service Unavailable", "out of memory");
    } else if (text == NULL || !tb_infer_body_parse(text, size, serving->vocab, tokens, &count,
                                                     &generate)) {
        reply_error(proc, request, 400, "Bad Request",
                    "expected {\\\"prompt\\\": [token ids below the vocabulary], "
                    "\\\"generate\\\": n}");
    } else if (generate != 0 && generate != serving->generate_tokens) {
        reply_error(proc, request, 400, "Bad Request",
                    "generate must equal the scenario's workload.generate");
    } else if (count < proc->scenario->workload.prompt_min) {
        reply_error(proc, request, 400, "Bad Request",
                    "prompt shorter than workload.prompt_min (see /status)");
    } else if (count > proc->scenario->workload.prompt_max) {
        reply_error(proc, request, 400, "Bad Request",
                    "prompt longer than workload.prompt_max (see /status)");
    } else {
        infer_accept(proc, request, tokens, count);
    }
    util_free(tokens);
}

static const char *status_name(uint32_t status)
{
    return status == NODE_REQUEST_COMPLETED ? "completed"
           : status == NODE_REQUEST_FAILED  ? "failed"
           : status == NODE_REQUEST_TIMEOUT ? "timeout"
                                            : "running";
}

/* The committees of the last round and the last decision's votes, as the
 * client reported them with its OUTPUT (node_outcome). */
static void evidence_committee(tb_proc *proc, struct evbuffer *body, uint64_t id,
                               const node_outcome *outcome)
{
    const node_serving *serving = world_host_serving(proc->host);
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t round = outcome->rounds > 0 ? outcome->rounds - 1u : 0;
    evbuffer_add_printf(body, ", \"evidence\": {\"protocol\": \"committee\", \"rounds\": %u, "
                              "\"quorum\": %u, \"committee\": [",
                        round + 1u, serving->quorum);
    for (uint32_t s = 0; s < serving->segment_count; s++) {
        uint32_t count = serving->verifier->committee(serving->verifier->context, id, s, round,
                                                      members);
        evbuffer_add_printf(body, "%s[", s > 0 ? ", " : "");
        for (uint32_t j = 0; j < count; j++) {
            evbuffer_add_printf(body, "%s%u", j > 0 ? ", " : "", members[j]);
        }
        evbuffer_add(body, "]", 1);
    }
    /* The last phase's votes: the final segment of the last step. */
    evbuffer_add_printf(body, "], \"votes\": [");
    for (uint32_t j = 0; j < outcome->member_count; j++) {
        evbuffer_add_printf(body, "%s{\"node\": %u, \"committed\": %s, \"revealed\": %s",
                            j > 0 ? ", " : "", outcome->members[j],
                            (outcome->committed >> j) & 1u ? "true" : "false",
                            (outcome->revealed >> j) & 1u ? "true" : "false");
        if (outcome->vote_bytes > 0 && ((outcome->committed >> j) & 1u)) {
            evbuffer_add_printf(body, ", \"commitment\": \"");
            for (uint32_t b = 0; b < outcome->vote_bytes; b++) {
                evbuffer_add_printf(body, "%02x", outcome->votes[j][b]);
            }
            evbuffer_add(body, "\"", 1);
        }
        evbuffer_add(body, "}", 1);
    }
    evbuffer_add(body, "]}", 2);
}

static void evidence_route(tb_proc *proc, struct evbuffer *body, uint64_t id, uint32_t client)
{
    const node_serving *serving = world_host_serving(proc->host);
    evbuffer_add_printf(body, ", \"evidence\": {\"protocol\": \"none\", \"route\": [");
    for (uint32_t s = 0; s < serving->segment_count; s++) {
        evbuffer_add_printf(body, "%s%u", s > 0 ? ", " : "", node_route(serving, client, id, s));
    }
    evbuffer_add(body, "]}", 2);
}

static void latency_observe(tb_proc *proc, uint64_t request)
{
    const world_result *result = world_host_result(proc->host);
    const world_request_record *record = &result->requests[request];
    double seconds = (double)(tb__now_ns(proc) - record->submitted_ns) / 1e9;
    uint32_t bucket = 0;
    while (bucket < TB_LATENCY_BUCKETS && seconds > tb__latency_bounds_s[bucket]) {
        bucket++;
    }
    proc->latency_counts[bucket] += 1;
    proc->latency_sum_s += seconds;
    proc->latency_count += 1;
}

static void http_answer(tb_proc *proc, tb_pending *pending, uint64_t id, uint32_t status,
                        const node_outcome *outcome);

void tb__http_finished(tb_proc *proc, uint64_t id, uint32_t status, const node_outcome *outcome)
{
    if (id >= world_host_request_capacity(proc->host)) {
        return;
    }
    if (status == NODE_REQUEST_COMPLETED) {
        latency_observe(proc, id);
    }
    proc->finished[status < 4 ? status : 0] += 1;
    tb_pending *pending = proc->pending[id];
    if (pending != NULL) {
        http_answer(proc, pending, id, status, outcome);
    }
    tb__ids_finish(&proc->ids, id); /* After the answer: it reads the id's state. */
}

static void http_answer(tb_proc *proc, tb_pending *pending, uint64_t id, uint32_t status,
                        const node_outcome *r)
{
    proc->pending[id] = NULL;
    const node_serving *serving = world_host_serving(proc->host);
    const world_request_record *record = &world_host_result(proc->host)->requests[id];
    struct evbuffer *body = evbuffer_new();
    evbuffer_add_printf(body, "{\"request\": %llu, \"client\": %u, \"status\": \"%s\", "
                              "\"latency_ns\": %llu, \"prompt_tokens\": %u, \"output\": [",
                        (unsigned long long)id, r->client, status_name(status),
                        (unsigned long long)(tb__now_ns(proc) - record->submitted_ns),
                        r->prompt_tokens);
    for (uint32_t k = 0; k < r->generated; k++) {
        evbuffer_add_printf(body, "%s%u", k > 0 ? ", " : "", r->tokens[r->prompt_tokens + k]);
    }
    evbuffer_add(body, "]", 1);
    if (serving->verifier != NULL) {
        evidence_committee(proc, body, id, r);
    } else {
        evidence_route(proc, body, id, r->client);
    }
    evbuffer_add(body, "}\n", 2);
    struct evhttp_connection *connection = evhttp_request_get_connection(pending->request);
    evhttp_connection_set_closecb(connection, NULL, NULL);
    reply(proc, pending->request, status == NODE_REQUEST_COMPLETED ? 200 : 504,
          status == NODE_REQUEST_COMPLETED ? "OK" : "Gateway Timeout", "application/json", body);
    evbuffer_free(body);
    pending_free(pending);
}

/* ---- /status and /metrics ---- */

/* Authentic messages the process's nodes refused (node_on_event errors). */
static uint64_t messages_rejected(const world_result *result)
{
    uint64_t total = 0;
    for (uint32_t t = 0; t < NODE_MESSAGE_TYPE_COUNT; t++) {
        total += result->types[t].rejected;
    }
    return total;
}

static void on_status(tb_proc *proc, struct evhttp_request *request)
{
    char name[SCN_NAME_MAX];
    size_t n = 0;
    for (const char *c = proc->scenario->name; *c != '\0' && n + 1 < sizeof(name); c++) {
        /* A JSON string: the name without quotes, backslashes or controls. */
        name[n] = *c == '"' || *c == '\\' || (unsigned char)*c < 0x20 ? '_' : *c;
        n++;
    }
    name[n] = '\0';
    const world_result *result = world_host_result(proc->host);
    const node_serving *serving = world_host_serving(proc->host);
    struct evbuffer *body = evbuffer_new();
    evbuffer_add_printf(
        body,
        "{\"process\": %u, \"processes\": %u, \"generation\": %u, \"pid\": %ld, "
        "\"peer_port\": %u, "
        "\"scenario\": \"%s\", \"seed\": %llu, \"node_count\": %u, \"uptime_ns\": %llu, "
        "\"vocab\": %u, \"prompt_min\": %u, \"prompt_max\": %u, \"generate\": %u, "
        "\"verification\": \"%s\", \"requests_submitted\": %llu, \"requests_completed\": %llu, "
        "\"requests_finished\": %llu, \"frames_in\": %llu, \"frames_out\": %llu, "
        "\"frames_rejected\": %llu, \"frames_replayed\": %llu, \"http_rejected\": %llu, "
        "\"http_ids\": %u, \"http_ids_free\": %u, \"http_ids_recycled\": %llu, "
        "\"http_queued\": %u, \"messages_rejected\": %llu, \"nodes\": [",
        proc->config->process, proc->config->process_count, proc->config->generation,
        (long)getpid(), proc->config->peer_ports[proc->config->process], name,
        (unsigned long long)proc->scenario->seed,
        proc->node_count, (unsigned long long)tb__now_ns(proc), serving->vocab,
        proc->scenario->workload.prompt_min, proc->scenario->workload.prompt_max,
        serving->generate_tokens, cons_protocol_name(proc->scenario->verification.protocol),
        (unsigned long long)proc->summary.requests_submitted,
        (unsigned long long)result->requests_completed,
        (unsigned long long)result->requests_finished,
        (unsigned long long)proc->summary.frames_in, (unsigned long long)proc->summary.frames_out,
        (unsigned long long)tb_summary_rejected(&proc->summary),
        (unsigned long long)proc->summary.rejected[-TB_EREPLAY],
        (unsigned long long)proc->http_rejected, proc->ids.count, proc->ids.free_count,
        (unsigned long long)proc->ids.recycled, proc->queued,
        (unsigned long long)messages_rejected(result));
    uint32_t step = proc->config->process_count;
    for (uint32_t i = proc->config->process; i < proc->node_count; i += step) {
        evbuffer_add_printf(body, "%s%u", i == proc->config->process ? "" : ", ", i);
    }
    evbuffer_add(body, "]}\n", 3);
    reply(proc, request, 200, "OK", "application/json", body);
    evbuffer_free(body);
}

static void metrics_requests(tb_proc *proc, struct evbuffer *body)
{
    const world_result *result = world_host_result(proc->host);
    const uint64_t *by_status = proc->finished; /* Cumulative: ids are recycled. */
    evbuffer_add_printf(body,
                        "# HELP infersim_requests_total Inference requests of this process's "
                        "clients, by outcome.\n# TYPE infersim_requests_total counter\n"
                        "infersim_requests_total{status=\"submitted\"} %llu\n"
                        "infersim_requests_total{status=\"completed\"} %llu\n"
                        "infersim_requests_total{status=\"failed\"} %llu\n"
                        "infersim_requests_total{status=\"timeout\"} %llu\n",
                        (unsigned long long)result->requests_submitted,
                        (unsigned long long)by_status[NODE_REQUEST_COMPLETED],
                        (unsigned long long)by_status[NODE_REQUEST_FAILED],
                        (unsigned long long)by_status[NODE_REQUEST_TIMEOUT]);
    evbuffer_add_printf(body, "# HELP infersim_request_latency_seconds Submit to finalized, "
                              "completed requests.\n"
                              "# TYPE infersim_request_latency_seconds histogram\n");
    uint64_t cumulative = 0;
    for (uint32_t b = 0; b < TB_LATENCY_BUCKETS; b++) {
        cumulative += proc->latency_counts[b];
        evbuffer_add_printf(body, "infersim_request_latency_seconds_bucket{le=\"%g\"} %llu\n",
                            tb__latency_bounds_s[b], (unsigned long long)cumulative);
    }
    evbuffer_add_printf(body,
                        "infersim_request_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                        "infersim_request_latency_seconds_sum %.9f\n"
                        "infersim_request_latency_seconds_count %llu\n",
                        (unsigned long long)proc->latency_count, proc->latency_sum_s,
                        (unsigned long long)proc->latency_count);
}

static void metrics_messages(tb_proc *proc, struct evbuffer *body)
{
    const world_result *result = world_host_result(proc->host);
    static const struct {
        int code;
        const char *name;
    } reasons[] = {{0, "other"},          {TB_EMALFORMED, "malformed"}, {TB_ETOOBIG, "too_big"},
                   {TB_EVERSION, "version"}, {TB_EAUTH, "auth"},          {TB_EREPLAY, "replay"}};
    evbuffer_add_printf(body, "# HELP infersim_messages_total Node messages by type and "
                              "direction (rejected: authentic, refused by the node).\n"
                              "# TYPE infersim_messages_total counter\n");
    for (uint32_t t = 1; t < NODE_MESSAGE_TYPE_COUNT; t++) {
        const char *name = node_message_type_name((uint8_t)t);
        evbuffer_add_printf(body,
                            "infersim_messages_total{type=\"%s\",direction=\"sent\"} %llu\n"
                            "infersim_messages_total{type=\"%s\",direction=\"received\"} %llu\n"
                            "infersim_messages_total{type=\"%s\",direction=\"rejected\"} %llu\n",
                            name, (unsigned long long)result->types[t].sent, name,
                            (unsigned long long)result->types[t].delivered, name,
                            (unsigned long long)result->types[t].rejected);
    }
    evbuffer_add_printf(body,
                        "# HELP infersim_bytes_total Frame bytes on the wire.\n"
                        "# TYPE infersim_bytes_total counter\n"
                        "infersim_bytes_total{direction=\"sent\"} %llu\n"
                        "infersim_bytes_total{direction=\"received\"} %llu\n"
                        "# HELP infersim_frames_rejected_total Frames the decoder refused.\n"
                        "# TYPE infersim_frames_rejected_total counter\n",
                        (unsigned long long)proc->summary.bytes_out,
                        (unsigned long long)proc->summary.bytes_in);
    for (uint32_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        evbuffer_add_printf(body, "infersim_frames_rejected_total{reason=\"%s\"} %llu\n",
                            reasons[i].name,
                            (unsigned long long)proc->summary.rejected[-reasons[i].code]);
    }
    evbuffer_add_printf(body,
                        "# HELP infersim_frames_dropped_total Frames dropped by fault rules.\n"
                        "# TYPE infersim_frames_dropped_total counter\n"
                        "infersim_frames_dropped_total %llu\n"
                        "# HELP infersim_http_rejected_total HTTP requests answered 4xx.\n"
                        "# TYPE infersim_http_rejected_total counter\n"
                        "infersim_http_rejected_total %llu\n"
                        "# HELP infersim_admin_denied_total Admin requests without the token "
                        "(401).\n# TYPE infersim_admin_denied_total counter\n"
                        "infersim_admin_denied_total %llu\n",
                        (unsigned long long)proc->summary.dropped,
                        (unsigned long long)proc->http_rejected,
                        (unsigned long long)proc->admin_denied);
}

static void on_metrics(tb_proc *proc, struct evhttp_request *request)
{
    const world_result *result = world_host_result(proc->host);
    struct evbuffer *body = evbuffer_new();
    metrics_requests(proc, body);
    metrics_messages(proc, body);
    if (result->verified) {
        evbuffer_add_printf(body, "# HELP infersim_reputation A hosted node's reputation as "
                                  "this process's clients judged it.\n"
                                  "# TYPE infersim_reputation gauge\n");
        for (uint32_t i = proc->config->process; i < proc->node_count;
             i += proc->config->process_count) {
            evbuffer_add_printf(body, "infersim_reputation{node=\"%u\"} %.6f\n", i,
                                result->reputation[i]);
        }
    }
    reply(proc, request, 200, "OK", "text/plain; version=0.0.4", body);
    evbuffer_free(body);
}

/* ---- admin ---- */

static bool query_u32(const struct evkeyvalq *query, const char *name, uint32_t any,
                      uint32_t limit, uint32_t *out)
{
    const char *text = evhttp_find_header(query, name);
    if (text == NULL || strcmp(text, "*") == 0) {
        *out = any;
        return true;
    }
    char *end = NULL;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value >= limit || text[0] == '-') {
        return false;
    }
    *out = (uint32_t)value;
    return true;
}

static bool query_double(const struct evkeyvalq *query, const char *name, double fallback,
                         double *out)
{
    const char *text = evhttp_find_header(query, name);
    if (text == NULL) {
        *out = fallback;
        return true;
    }
    char *end = NULL;
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(value) || value < 0) {
        return false;
    }
    *out = value;
    return true;
}

static const char *admin_link(tb_proc *proc, const struct evkeyvalq *query, bool delay)
{
    tb_rule rule;
    memset(&rule, 0, sizeof(rule));
    double value = 0;
    if (!query_u32(query, "from", UINT32_MAX, proc->node_count, &rule.from) ||
        !query_u32(query, "to", UINT32_MAX, proc->node_count, &rule.to)) {
        return "from and to are node ids or *";
    }
    if (delay) {
        if (!query_double(query, "ms", -1, &value) || value < 0 || value > 3.6e6) {
            return "ms is required: a delay in milliseconds";
        }
        rule.kind = SCN_FAULT_DELAY;
        rule.probability = 1.0;
        rule.delay_ns = (uint64_t)(value * 1e6);
    } else {
        if (!query_double(query, "probability", 1.0, &value) || value > 1.0) {
            return "probability is in [0, 1]";
        }
        rule.kind = SCN_FAULT_LOSS;
        rule.probability = value;
    }
    return tb__rule_add(proc, &rule) == 0 ? NULL : "too many rules";
}

static const char *admin_partition(tb_proc *proc, const struct evkeyvalq *query)
{
    const char *text = evhttp_find_header(query, "groups");
    if (text == NULL) {
        return "groups is required: one group number per node, comma-separated";
    }
    tb_rule rule;
    memset(&rule, 0, sizeof(rule));
    rule.kind = SCN_FAULT_PARTITION;
    rule.groups = util_calloc(proc->node_count, 1);
    if (rule.groups == NULL) {
        return "out of memory";
    }
    uint32_t n = 0;
    const char *at = text;
    while (*at != '\0') {
        char *end = NULL;
        unsigned long group = strtoul(at, &end, 10);
        if (end == at || group > 255 || n >= proc->node_count || (*end != ',' && *end != '\0')) {
            util_free(rule.groups);
            return "groups: one number in 0..255 per node";
        }
        rule.groups[n++] = (uint8_t)group;
        at = *end == ',' ? end + 1 : end;
    }
    if (n != proc->node_count || tb__rule_add(proc, &rule) != 0) {
        util_free(rule.groups);
        return "groups: exactly one number per node";
    }
    return NULL;
}

/* The behaviours an operator may set ("honest, wrong_output, ..."), from
 * the one table in node/node.h. */
static void admin_behaviour_list(char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t b = 0; b < NODE_BEHAVIOUR_COUNT && used < size; b++) {
        if (node_behaviours[b].settable) {
            used += (size_t)snprintf(out + used, size - used, "%s%s", used > 0 ? ", " : "",
                                     node_behaviours[b].name);
        }
    }
}

static const char *admin_byzantine(tb_proc *proc, const struct evkeyvalq *query)
{
    static char expected[512];
    uint32_t node_id = 0;
    double scale = 0;
    const char *name = evhttp_find_header(query, "behaviour");
    node_behaviour behaviour = NODE_BEHAVIOUR_HONEST;
    if (!query_u32(query, "node", UINT32_MAX, proc->node_count, &node_id) ||
        node_id == UINT32_MAX || !tb__hosts(proc, node_id)) {
        return "node is required: a node this process hosts";
    }
    if (!query_double(query, "scale", 1.0, &scale) || name == NULL ||
        node_behaviour_parse(name, &behaviour) != 0 || !node_behaviours[behaviour].settable) {
        char list[400];
        admin_behaviour_list(list, sizeof(list));
        snprintf(expected, sizeof(expected), "behaviour is required (%s); scale >= 0", list);
        return expected;
    }
    return world_host_set_behaviour(proc->host, node_id, behaviour, scale) == 0
               ? NULL
               : "not a behaviour of this run (no verification, forge_attestation without tee, or "
                 "forged_ticket without selection vrf)";
}

static void admin_crash(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    kill(getpid(), SIGKILL); /* A crash, not a shutdown: nothing is flushed. */
}

static void on_admin(tb_proc *proc, struct evhttp_request *request, const char *action)
{
    struct evkeyvalq query;
    const char *query_text = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(request));
    if (evhttp_parse_query_str(query_text != NULL ? query_text : "", &query) != 0) {
        reply_error(proc, request, 400, "Bad Request", "malformed query string");
        return;
    }
    const char *error = NULL;
    if (strcmp(action, "drop") == 0 || strcmp(action, "delay") == 0) {
        error = admin_link(proc, &query, action[1] == 'e');
    } else if (strcmp(action, "partition") == 0) {
        error = admin_partition(proc, &query);
    } else if (strcmp(action, "heal") == 0) {
        tb__rules_clear(proc);
    } else if (strcmp(action, "byzantine") == 0) {
        error = admin_byzantine(proc, &query);
    } else if (strcmp(action, "crash") == 0) {
        struct timeval soon = {0, 20000};
        event_base_once(proc->base, -1, EV_TIMEOUT, admin_crash, proc, &soon);
    } else {
        evhttp_clear_headers(&query);
        reply_error(proc, request, 404, "Not Found", "unknown admin action");
        return;
    }
    evhttp_clear_headers(&query);
    if (error != NULL) {
        reply_error(proc, request, 400, "Bad Request", error);
        return;
    }
    struct evbuffer *body = evbuffer_new();
    evbuffer_add_printf(body, "{\"ok\": true, \"action\": \"%s\"}\n", action);
    reply(proc, request, 200, "OK", "application/json", body);
    evbuffer_free(body);
}

/* True when the request carries "Authorization: Bearer <the run's token>"
 * (compared in constant time). */
static bool admin_authorised(tb_proc *proc, struct evhttp_request *request)
{
    const char *token = proc->config->admin_token;
    const char *header =
        evhttp_find_header(evhttp_request_get_input_headers(request), "Authorization");
    size_t length = strlen(token);
    if (header == NULL || length != TB_TOKEN_CHARS || strncmp(header, "Bearer ", 7) != 0 ||
        strlen(header + 7) != length) {
        return false;
    }
    return util_bytes_equal(header + 7, token, length);
}

static void admin_denied(tb_proc *proc, struct evhttp_request *request)
{
    proc->admin_denied += 1;
    evhttp_add_header(evhttp_request_get_output_headers(request), "WWW-Authenticate",
                      "Bearer realm=\"infersim admin\"");
    reply_error(proc, request, 401, "Unauthorized",
                "admin endpoints want Authorization: Bearer TOKEN (printed at launch)");
}

static void on_request(struct evhttp_request *request, void *arg)
{
    tb_proc *proc = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(request));
    enum evhttp_cmd_type method = evhttp_request_get_command(request);
    if (path == NULL) {
        reply_error(proc, request, 400, "Bad Request", "no path");
    } else if (strcmp(path, "/status") == 0 && method == EVHTTP_REQ_GET) {
        on_status(proc, request);
    } else if (strcmp(path, "/metrics") == 0 && method == EVHTTP_REQ_GET) {
        on_metrics(proc, request);
    } else if (strcmp(path, "/v1/infer") == 0 && method == EVHTTP_REQ_POST) {
        on_infer(proc, request);
    } else if (strncmp(path, "/admin/", 7) == 0 && method == EVHTTP_REQ_POST &&
               !admin_authorised(proc, request)) {
        admin_denied(proc, request);
    } else if (strncmp(path, "/admin/", 7) == 0 && method == EVHTTP_REQ_POST) {
        on_admin(proc, request, path + 7);
    } else if (strcmp(path, "/status") == 0 || strcmp(path, "/metrics") == 0 ||
               strcmp(path, "/v1/infer") == 0 || strncmp(path, "/admin/", 7) == 0) {
        reply_error(proc, request, 405, "Method Not Allowed", "wrong method for this path");
    } else {
        reply_error(proc, request, 404, "Not Found", "unknown path");
    }
}

/* How long a finished id waits before reuse: until every timer that may
 * still name it has fired. A member arms its KV expiry (request_timeout)
 * when a prefill arrives, which may be after the client finished when
 * frames are late; committee phase deadlines add their own. So: twice the
 * request timeout (one for a late prefill, one for its expiry) plus the
 * phase timeouts of a verifying run. */
static uint64_t id_quarantine_ns(const scn_scenario *scenario)
{
    uint64_t ns = 2 * scenario->workload.request_timeout_ns;
    if (scenario->verification.protocol != CONS_PROTOCOL_NONE) {
        ns += scenario->verification.commit_timeout_ns + scenario->verification.reveal_timeout_ns;
    }
    return ns;
}

static int http_ids_start(tb_proc *proc)
{
    const tb_process_config *config = proc->config;
    uint64_t range = (uint64_t)config->generation * config->process_count + config->process;
    tb_ids_config ids = {
        .first = proc->workload_requests + range * config->http_requests,
        .count = config->generation < TB_GENERATIONS ? config->http_requests : 0,
        .quarantine_ns = id_quarantine_ns(proc->scenario),
        .on_free = queue_serve,
        .context = proc,
    };
    return tb__ids_init(&proc->ids, proc->base, &ids);
}

int tb__http_start(tb_proc *proc)
{
    proc->http = evhttp_new(proc->base);
    if (proc->http == NULL || http_ids_start(proc) != 0) {
        return TB_ENOMEM;
    }
    evhttp_set_max_body_size(proc->http, HTTP_BODY_MAX);
    evhttp_set_max_headers_size(proc->http, 16384);
    evhttp_set_timeout(proc->http, 120);
    evhttp_set_allowed_methods(proc->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(proc->http, on_request, proc);
    if (evhttp_accept_socket(proc->http, proc->config->http_fd) != 0) {
        return TB_ESYS;
    }
    return 0;
}

void tb__http_stop(tb_proc *proc)
{
    while (proc->queue_head != NULL) {
        tb_pending *pending = proc->queue_head;
        queue_unlink(proc, pending);
        evhttp_connection_set_closecb(evhttp_request_get_connection(pending->request), NULL,
                                      NULL);
        reply_error(proc, pending->request, 503, "Service Unavailable", "the process is stopping");
        pending_free(pending);
    }
    if (proc->pending != NULL) {
        uint64_t capacity = world_host_request_capacity(proc->host);
        for (uint64_t id = 0; id < capacity; id++) {
            tb_pending *pending = proc->pending[id];
            if (pending != NULL) {
                evhttp_connection_set_closecb(evhttp_request_get_connection(pending->request),
                                              NULL, NULL);
                reply_error(proc, pending->request, 503, "Service Unavailable",
                            "the process is stopping");
                proc->pending[id] = NULL;
                pending_free(pending);
            }
        }
    }
    if (proc->http != NULL) {
        evhttp_free(proc->http);
    }
    tb__ids_deinit(&proc->ids);
}
