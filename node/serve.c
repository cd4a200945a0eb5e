/* serve.c -- split inference as a sans-IO protocol. A client sends the
 * prompt's token ids to the server of segment 0; each server runs its
 * layers for real (infer_forward, with its hardware class's kernel variant)
 * and forwards the activations, encoded in the run's wire dtype, to the next
 * segment's server; the last server computes the logits, picks the token
 * and returns it to the client, which sends it back to segment 0 for the
 * next step until it has 'generate_tokens' tokens. Every server keeps the
 * request's KV cache for its layers until the client's END or a timeout.
 *
 * Compute time is charged, not waited for: a server's calls queue FIFO on
 * its own compute (busy_until), each lasting FLOPs / class FLOP/s -- or,
 * when the class sets a memory bandwidth and it is longer, the bytes the
 * call moves over that bandwidth (the roofline) -- plus the class's
 * per-call overhead, and the message carrying the result is sent when the
 * call ends (SEND send_at_ns). A class with max_batch > 1 runs its decode
 * steps in batches instead (continuous batching, node/batch.c).
 *
 * Timer ids: NODE_TIMER_SERVE_BIT | kind << 56 | request << 26 | low 26 bits:
 * kind 1 = the client's request timeout, 2 = a server's KV expiry (low =
 * member slot << 6 | segment), 3 and 4 = committee commit and reveal
 * deadlines (low = phase sequence), 7 = suspect_after into a committee
 * phase (low = phase sequence), 8 = a batching server's next batch
 * (request 0, low = queue sequence), 9 = a client's ledger transactions
 * due to be sent again, 10 = a colluding member's wait for its cartel's
 * agreement (low = slot << 6 | segment). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "node/node_int.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/hash.h"
#include "util/prng.h"

#define SERVE_REQUEST_MAX (UINT64_C(1) << 30)
#define SERVE_LOW_BITS 26

uint64_t node__serve_timer_id(uint32_t kind, uint64_t request, uint32_t low)
{
    ASSERT(request < SERVE_REQUEST_MAX);
    ASSERT(low < (UINT32_C(1) << SERVE_LOW_BITS));
    return NODE_TIMER_SERVE_BIT | ((uint64_t)kind << 56) | (request << SERVE_LOW_BITS) | low;
}

void node__serve_timer_arm(node_outbox *outbox, uint64_t at_ns, uint64_t timer_id)
{
    ASSERT(outbox != NULL);
    ASSERT(node__serve_owns_timer(timer_id));
    node_effect *timer = node__effect_append(outbox, NODE_EFFECT_TIMER);
    timer->at_ns = at_ns;
    timer->timer_id = timer_id;
}

/* ---- KV pools ---- */

void node_store_release(node_store *store)
{
    ASSERT(store != NULL);
    for (uint32_t s = 0; s < NODE_SEGMENTS_MAX; s++) {
        if (store->pools[s].block_bytes != 0) {
            util_pool_deinit(&store->pools[s]);
        }
    }
    if (store->batch_pool.block_bytes != 0) {
        util_pool_deinit(&store->batch_pool);
    }
    util_free(store->batch_head_of);
    util_free(store->batch_tail_of);
    util_free(store->batch_timer_of);
    store->batch_head_of = store->batch_tail_of = store->batch_timer_of = NULL;
    util_free(store->route_memo);
    store->route_memo = NULL;
}

/* A cache block starts with its header; the floats follow. Under a
 * verifier, with a driver that takes calls (the only reader), the header
 * keeps the cache's lineage (node_forward_call): the hash of every call
 * that wrote it, known while each was an honest one. */
#define KV_HEADER_BYTES 64u
typedef struct kv_header {
    uint64_t length;                 /* rows in the cache */
    uint8_t lineage[NODE_LINEAGE_BYTES];
    bool lineage_known;
} kv_header;
_Static_assert(sizeof(kv_header) <= KV_HEADER_BYTES, "the header fits before the floats");
_Static_assert(NODE_LINEAGE_BYTES == UTIL_HASH256_BYTES, "a lineage is one hash");

/* Committee members each keep their own cache (see node__serve_slots). */
static uint32_t *kv_slot_of(const node *self, uint64_t request, uint32_t segment,
                            uint32_t member)
{
    const node_serving *serving = self->config.serving;
    ASSERT(request < serving->request_capacity && segment < serving->segment_count);
    ASSERT(member < node__serve_slots(serving));
    return &self->config.store->kv_block_of[node__serve_slot_index(self->config.serving, request,
                                                                   segment, member)];
}

bool node__slot_client_is(const node *self, uint64_t request, uint32_t segment, uint32_t slot,
                          uint32_t source)
{
    /* The caller validated the request and segment and computed the slot. */
    ASSERT(request < self->config.serving->request_capacity);
    ASSERT(slot < node__serve_slots(self->config.serving));
    uint32_t client = self->config.store->client_of[node__serve_slot_index(
        self->config.serving, request, segment, slot)];
    return client == 0 || client == source + 1u;
}

/* Records the client a slot's first hop named; later messages about the
 * slot must come from it (or, past segment 0 without a committee, name it
 * as their origin). Returns false when the slot already serves another. */
static bool slot_client_take(const node *self, const node_message *m, uint32_t slot)
{
    node_store *store = self->config.store;
    size_t index = node__serve_slot_index(self->config.serving, m->rumor_id, m->segment, slot);
    ASSERT(m->origin < self->config.node_count); /* Validated with the hop. */
    ASSERT(slot < node__serve_slots(self->config.serving)); /* server_slot computed it. */
    if (m->position == 0 && store->kv_block_of[index] == 0) {
        store->client_of[index] = m->origin + 1u; /* A fresh request starts here. */
    }
    /* No record: a later step whose prefill never came; refused below. */
    return store->client_of[index] == 0 || store->client_of[index] == m->origin + 1u;
}

/* Takes a KV block for (request, segment) on this server; false when its
 * kv_slots are all in use (it refuses the request) or memory ran out. */
static bool kv_acquire(const node *self, uint64_t request, uint32_t segment, uint32_t member)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t server = self->config.node_id;
    util_pool *pool = &store->pools[segment];
    /* The placement reserved kv_slots caches per segment a server holds. */
    ASSERT(segment < serving->segment_count);
    ASSERT(*kv_slot_of(self, request, segment, member) == 0); /* server_kv checked. */
    uint16_t *in_use = &store->kv_in_use[(size_t)server * serving->segment_count + segment];
    if (*in_use >= serving->kv_slots) {
        return false;
    }
    if (pool->block_bytes == 0) {
        util_pool_init(pool, KV_HEADER_BYTES + infer_kv_bytes(infer_model_shape(serving->model),
                                                              serving->segment_layers[segment]));
    }
    uint32_t block = 0;
    if (util_pool_take(pool, &block) != 0) {
        return false;
    }
    *kv_slot_of(self, request, segment, member) = block + 1;
    if (store->owner_of != NULL) {
        store->owner_of[node__serve_slot_index(serving, request, segment, member)] = server + 1u;
    }
    /* A fresh cache is empty, and its lineage the empty one. */
    kv_header *header = util_pool_block(pool, block);
    memset(header, 0, sizeof(*header));
    header->lineage_known = serving->verifier != NULL && serving->forward != NULL;
    *in_use += 1;
    ASSERT(*in_use <= serving->kv_slots);
    return true;
}

/* Churn: whether the slot's cache, if any, is this server's. A route that
 * moved (its server left) names a server that holds nothing there. */
static bool kv_slot_mine(const node *self, uint64_t request, uint32_t segment, uint32_t member)
{
    const node_store *store = self->config.store;
    if (store->owner_of == NULL || *kv_slot_of(self, request, segment, member) == 0) {
        return true;
    }
    size_t index = node__serve_slot_index(self->config.serving, request, segment, member);
    return store->owner_of[index] == self->config.node_id + 1u;
}

void node__kv_release(const node *self, uint64_t request, uint32_t segment, uint32_t member)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t server = self->config.node_id;
    uint32_t *slot = kv_slot_of(self, request, segment, member);
    if (*slot == 0 || !kv_slot_mine(self, request, segment, member)) {
        return;
    }
    ASSERT(store->pools[segment].block_bytes != 0); /* The block came from this pool. */
    util_pool_give(&store->pools[segment], *slot - 1);
    *slot = 0;
    uint16_t *in_use = &store->kv_in_use[(size_t)server * serving->segment_count + segment];
    ASSERT(*in_use > 0);
    *in_use -= 1;
}

/* The request's KV cache for 'segment', as the executor wants it, and
 * the header of its block. */
static void kv_view(const node *self, uint64_t request, uint32_t segment,
                    uint32_t member, infer_kv *kv, kv_header **header_out)
{
    const node_serving *serving = self->config.serving;
    const node_store *store = self->config.store;
    ASSERT(*kv_slot_of(self, request, segment, member) != 0); /* The hop holds a cache. */
    uint32_t block = *kv_slot_of(self, request, segment, member) - 1;
    uint8_t *memory = util_pool_block(&store->pools[segment], block);
    infer_kv_init(kv, infer_model_shape(serving->model), serving->segment_first[segment],
                  serving->segment_layers[segment], memory + KV_HEADER_BYTES);
    kv_header *header = (kv_header *)memory;
    ASSERT(header->length <= serving->seq_len); /* Only validated rows entered the cache. */
    kv->length = (uint32_t)header->length;
    *header_out = header;
}

bool node_kv_holds(const infer_kv *kv, const uint8_t lineage[NODE_LINEAGE_BYTES])
{
    ASSERT(kv != NULL && kv->keys != NULL && lineage != NULL);
    const kv_header *header = (const kv_header *)(const void *)((const uint8_t *)kv->keys -
                                                                KV_HEADER_BYTES);
    return header->lineage_known && memcmp(header->lineage, lineage, NODE_LINEAGE_BYTES) == 0;
}

/* The cache's lineage once a call of 'kernel' on the rows in the store
 * (count of them) is in: the hash of its lineage before and of the call.
 * false: the cache has none. */
static bool kv_lineage_next(const node *self, const kv_header *header, infer_kernel kernel,
                            const infer_kv *kv, uint32_t count,
                            uint8_t lineage_out[NODE_LINEAGE_BYTES])
{
    if (!header->lineage_known) {
        return false;
    }
    const uint32_t call[5] = {(uint32_t)kernel, kv->first_layer, kv->layer_count, kv->length,
                              count};
    util_hash256_state state;
    util_hash256_init(&state);
    util_hash256_update(&state, header->lineage, NODE_LINEAGE_BYTES);
    util_hash256_update(&state, call, sizeof(call));
    util_hash256_update(&state, self->config.store->x,
                        (size_t)count * self->config.serving->dim * sizeof(float));
    util_hash256_final(&state, lineage_out);
    return true;
}

/* ---- messages out ---- */

node_message *node__serve_send(node *self, node_outbox *outbox, uint8_t type, uint32_t dest,
                               uint64_t request, uint64_t send_at_ns)
{
    ASSERT(type >= NODE_MESSAGE_INFER_TOKENS && type < NODE_MESSAGE_TYPE_COUNT);
    ASSERT(dest < self->config.node_count);
    node_effect *effect = node__effect_append(outbox, NODE_EFFECT_SEND);
    effect->send_at_ns = send_at_ns;
    effect->message.type = type;
    effect->message.source = self->config.node_id;
    effect->message.dest = dest;
    effect->message.rumor_id = request;
    return &effect->message;
}

void node__serve_observe(node_outbox *outbox, uint32_t observation, uint64_t request,
                         uint32_t segment, uint64_t value)
{
    ASSERT((observation >= NODE_OBS_DUPLICATE && observation <= NODE_OBS_RESAMPLE) ||
           observation == NODE_OBS_RELEASE || observation == NODE_OBS_FAILOVER ||
           observation == NODE_OBS_LEDGER_TX || observation == NODE_OBS_SUSPECT ||
           observation == NODE_OBS_LEDGER_RESEND || observation == NODE_OBS_CARTEL_MISSED ||
           observation == NODE_OBS_ATTEST || observation == NODE_OBS_CATCH_UP);
    ASSERT(segment < NODE_SEGMENTS_MAX);
    node_effect *effect = node__effect_append(outbox, NODE_EFFECT_OBSERVE);
    effect->observation = observation;
    effect->rumor_id = request;
    effect->segment = segment;
    effect->value = value;
}

void node__serve_put_tokens(uint8_t *out, const uint32_t *tokens, uint32_t count)
{
    ASSERT(count == 0 || (out != NULL && tokens != NULL));
    for (uint32_t i = 0; i < count; i++) {
        for (int b = 0; b < 4; b++) {
            out[4 * i + (uint32_t)b] = (uint8_t)(tokens[i] >> (8 * b));
        }
    }
}

/* ---- client ---- */

/* Failover: the token of the request's current step is due by then. */
static void client_step_deadline(const node *self, node_outbox *outbox, uint64_t request,
                                 uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    const node_request *r = &self->config.store->requests[request];
    ASSERT(serving->failover && r->attempt < NODE_ATTEMPTS_MAX);
    ASSERT(r->generated < 8192u); /* 13 bits of the timer id: generate < seq_len <= 8192 */
    node__serve_timer_arm(outbox, now_ns + serving->step_timeout_ns,
                          node__serve_timer_id(NODE_SERVE_TIMER_STEP, request,
                                               r->attempt << 13 | r->generated));
}

/* Sends rows [position, position + count) of the request's tokens to the
 * server of segment 0 for generation step 'step' (no committee). */
static void client_send_tokens(node *self, node_outbox *outbox, uint64_t request, uint32_t position,
                               uint32_t count, uint32_t step, uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    const node_request *r = &store->requests[request];
    ASSERT(node__client_owns(self, request));
    ASSERT((size_t)count * 4 <= serving->payload_capacity);
    ASSERT(count >= 1 && position + count <= r->prompt_tokens + r->generated);
    node__serve_put_tokens(store->payload, r->tokens + position, count);
    node_message *m = node__serve_send(self, outbox, NODE_MESSAGE_INFER_TOKENS,
                                       node__route(self, r->client, request, 0, r->attempt),
                                       request, now_ns);
    m->hops = r->attempt;
    m->origin = r->client;
    m->origin_ns = r->submitted_ns;
    m->segment = 0;
    m->count = (uint16_t)count;
    m->position = position;
    m->step = step;
    m->payload = store->payload;
    m->payload_bytes = count * 4;
    if (serving->failover) {
        client_step_deadline(self, outbox, request, now_ns);
    }
}

/* The prompt of a SUBMIT, checked: 1 .. tokens_max ids below the vocabulary. */
static bool client_prompt_valid(const node_serving *serving, const node_event *event)
{
    if (event->tokens == NULL || event->token_count == 0 ||
        event->token_count > serving->tokens_max) {
        return false;
    }
    for (uint32_t i = 0; i < event->token_count; i++) {
        if (event->tokens[i] >= serving->vocab) {
            return false;
        }
    }
    return true;
}

int node__serve_submit(node *self, uint64_t now_ns, const node_event *event, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint64_t request = event->rumor_id;
    if (serving == NULL || request >= serving->request_capacity ||
        !client_prompt_valid(serving, event)) {
        return NODE_EMALFORMED;
    }
    node_request *r = &store->requests[request];
    if (r->submitted && r->status == 0) {
        return NODE_EMALFORMED; /* The id is in use by a running request. */
    }
    /* The client's own record: only it writes this slot from now on. */
    r->submitted = true;
    store->request_reach = request >= store->request_reach ? request + 1 : store->request_reach;
    r->client = self->config.node_id;
    r->prompt_tokens = event->token_count;
    memcpy(r->tokens, event->tokens, event->token_count * sizeof(uint32_t));
    r->submitted_ns = now_ns;
    r->status = 0;
    r->generated = 0;
    r->attempt = 0;
    ASSERT(node__client_owns(self, request));
    ASSERT(r->prompt_tokens >= 1 && r->prompt_tokens <= serving->tokens_max);
    if (serving->verifier != NULL) {
        node_committee_state *state = &store->committees[request];
        uint32_t block = 0;
        if (util_pool_take(&store->committee_pool, &block) != 0) {
            node__client_finish(self, outbox, request, NODE_REQUEST_FAILED, now_ns);
            return 0;
        }
        memset(state, 0, sizeof(*state));
        state->block = block + 1;
        node__committee_send_input(self, outbox, request, 0, NULL, now_ns);
    } else {
        client_send_tokens(self, outbox, request, 0, r->prompt_tokens, 0, now_ns);
    }
    node__serve_timer_arm(outbox, now_ns + serving->request_timeout_ns,
                          node__serve_timer_id(NODE_SERVE_TIMER_CLIENT, request, 0));
    return 0;
}

void node__serve_recover(node *self, uint64_t now_ns, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    ASSERT(serving != NULL);
    ASSERT(outbox->count <= NODE_OUTBOX_MAX);
    node__batch_recover(self);
    ASSERT(store->request_reach <= serving->request_capacity);
    for (uint64_t request = 0; request < store->request_reach; request++) {
        const node_request *r = &store->requests[request];
        if (!r->submitted || r->client != self->config.node_id || r->status != 0 ||
            outbox->count + 1 >= NODE_OUTBOX_MAX) {
            continue;
        }
        uint64_t deadline = r->submitted_ns + serving->request_timeout_ns;
        node__serve_timer_arm(outbox, deadline > now_ns ? deadline : now_ns,
                              node__serve_timer_id(NODE_SERVE_TIMER_CLIENT, request, 0));
        if (serving->failover && outbox->count + 1 < NODE_OUTBOX_MAX) {
            client_step_deadline(self, outbox, request, now_ns); /* Lost while down. */
        }
    }
}

/* What the client reports with its OUTPUT: the answer, and under
 * verification the last decision's committee and votes (copied: the
 * committee block goes back to the pool right after). */
static const node_outcome *client_outcome(node *self, uint64_t request)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    const node_request *r = &store->requests[request];
    node_outcome *outcome = &store->outcome;
    ASSERT(node__client_owns(self, request));
    memset(outcome, 0, offsetof(node_outcome, votes));
    outcome->client = r->client;
    outcome->prompt_tokens = r->prompt_tokens;
    outcome->generated = r->generated;
    outcome->tokens = r->tokens;
    if (serving->verifier == NULL) {
        return outcome;
    }
    const node_committee_state *state = &store->committees[request];
    ASSERT(state->member_count <= NODE_COMMITTEE_MAX);
    outcome->rounds = state->round + 1u;
    outcome->member_count = state->member_count;
    memcpy(outcome->members, state->members, state->member_count * sizeof(uint32_t));
    outcome->committed = state->committed;
    outcome->revealed = state->revealed;
    if (serving->commit_reveal && state->block != 0) {
        const uint8_t *votes = util_pool_block(&store->committee_pool, state->block - 1);
        outcome->vote_bytes = serving->vote_bytes;
        memcpy(outcome->votes, votes, (size_t)state->member_count * NODE_VOTE_MAX);
    }
    return outcome;
}

/* Tells every server of the request's current route attempt to drop the
 * attempt's cache. */
static void client_send_end(node *self, node_outbox *outbox, uint64_t request, uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    uint32_t attempt = self->config.store->requests[request].attempt;
    for (uint32_t s = 0; s < serving->segment_count; s++) {
        node_message *m = node__serve_send(self, outbox, NODE_MESSAGE_INFER_END,
                                           node__route(self, self->config.node_id, request, s, attempt),
                                           request, now_ns);
        m->segment = (uint16_t)s;
        m->origin = self->config.node_id;
        m->hops = attempt;
    }
}

/* Failover: the current route stopped answering (or refused). The old
 * route's servers are told to drop their caches, and the prefix -- the
 * prompt and the tokens so far -- goes to the next route attempt as one
 * prefill at position 0, so every server of the new route rebuilds its KV
 * cache and the last one answers the step the client waits for. Past
 * NODE_ATTEMPTS_MAX the request is left to its timeout. */
static void client_failover(node *self, node_outbox *outbox, uint64_t request, uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    node_request *r = &self->config.store->requests[request];
    ASSERT(serving->failover && serving->verifier == NULL);
    ASSERT(node__client_owns(self, request) && r->status == 0);
    if (r->attempt + 1u >= NODE_ATTEMPTS_MAX) {
        return;
    }
    client_send_end(self, outbox, request, now_ns);
    r->attempt += 1;
    node__serve_observe(outbox, NODE_OBS_FAILOVER, request, 0, r->attempt);
    client_send_tokens(self, outbox, request, 0, r->prompt_tokens + r->generated, r->generated,
                       now_ns);
}

/* The request is over: tell the application, and every server of the
 * route (or every member of the committees) to drop its KV cache. */
void node__client_finish(node *self, node_outbox *outbox, uint64_t request, uint32_t status,
                         uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    ASSERT(status >= NODE_REQUEST_COMPLETED && status <= NODE_REQUEST_TIMEOUT);
    ASSERT(node__client_owns(self, request) && store->requests[request].status == 0);
    store->requests[request].status = status;
    node_effect *output = node__effect_append(outbox, NODE_EFFECT_OUTPUT);
    output->rumor_id = request;
    output->value = status;
    output->outcome = client_outcome(self, request);
    if (serving->verifier != NULL) {
        node_committee_state *state = &store->committees[request];
        node__serve_observe(outbox, NODE_OBS_ROUNDS, request, 0, state->round + 1u);
        if (state->block != 0) {
            node__committee_end(self, outbox, request, now_ns);
            util_pool_give(&store->committee_pool, state->block - 1);
            state->block = 0;
        }
        ASSERT(state->block == 0); /* The votes go back to the pool with the request. */
        return;
    }
    client_send_end(self, outbox, request, now_ns);
}

void node__client_token(node *self, node_outbox *outbox, uint64_t request, uint32_t token,
                        uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    node_request *r = &store->requests[request];
    ASSERT(node__client_owns(self, request) && r->status == 0);
    ASSERT(r->generated < serving->generate_tokens && token < serving->vocab);
    r->tokens[r->prompt_tokens + r->generated] = token;
    node__serve_observe(outbox, NODE_OBS_TOKEN, request, 0, r->generated);
    r->generated += 1;
    if (r->generated == serving->generate_tokens) {
        node__client_finish(self, outbox, request, NODE_REQUEST_COMPLETED, now_ns);
    } else if (serving->verifier != NULL) {
        node__committee_send_input(self, outbox, request, 0, NULL, now_ns);
    } else {
        client_send_tokens(self, outbox, request, r->prompt_tokens + r->generated - 1, 1,
                           r->generated, now_ns);
    }
}

static int client_on_token(node *self, uint64_t now_ns, const node_message *m, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    node_request *r = &store->requests[m->rumor_id];
    /* A token comes from the last segment's server; an error from any
     * server of the route, naming its segment. */
    bool error = (m->flags & NODE_MESSAGE_FLAG_ERROR) != 0;
    uint32_t segment = error ? m->segment : serving->segment_count - 1;
    if (serving->verifier != NULL) {
        /* Under a committee a refusal ends only that member's turn. */
        return NODE_EMALFORMED;
    }
    if (!node__client_owns(self, m->rumor_id) || m->step > r->generated ||
        segment >= serving->segment_count || m->hops > r->attempt ||
        m->source != node__route(self, self->config.node_id, m->rumor_id, segment,
                                            m->hops)) {
        return NODE_EMALFORMED;
    }
    if (m->hops < r->attempt) {
        return 0; /* A route the client already gave up: late, not wrong. */
    }
    if (m->step < r->generated) {
        node__serve_observe(outbox, NODE_OBS_DUPLICATE, m->rumor_id, 0, 1); /* Already have it. */
        return 0;
    }
    if (r->status != 0) {
        return 0; /* Late answer to a request that already timed out. */
    }
    if (error && serving->failover) {
        client_failover(self, outbox, m->rumor_id, now_ns); /* Refused: try elsewhere. */
        return 0;
    }
    if (error || m->token >= serving->vocab) {
        node__client_finish(self, outbox, m->rumor_id, NODE_REQUEST_FAILED, now_ns);
        return 0;
    }
    node__client_token(self, outbox, m->rumor_id, m->token, now_ns);
    return 0;
}

/* ---- server ---- */

/* Tells the client that its request failed at this server. A committee
 * member that cannot run a hop just does not answer: its turn ends at the
 * client's deadline. */
static void server_fail(node *self, node_outbox *outbox, const node_message *m, uint64_t now_ns)
{
    ASSERT(m->origin < self->config.node_count); /* Validated with the hop. */
    if (self->config.serving->verifier != NULL) {
        return;
    }
    node_message *reply = node__serve_send(self, outbox, NODE_MESSAGE_INFER_TOKEN, m->origin,
                                           m->rumor_id, now_ns);
    reply->flags = NODE_MESSAGE_FLAG_ERROR;
    reply->hops = m->hops;
    reply->step = m->step;
    reply->origin = m->origin;
    reply->segment = m->segment; /* Which server refused: the client checks it. */
}

/* Which of this request's cache slots a hop uses: 0 without a committee;
 * round * k + member index with one. UINT32_MAX: this node is not the
 * hop's server or member. */
static uint32_t server_slot(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    if (serving->verifier == NULL) {
        /* Each route attempt has its own slot (0 without failover). */
        return m->hops < node__serve_slots(serving) &&
                       node__route(self, m->origin, m->rumor_id, m->segment, m->hops) ==
                           self->config.node_id
                   ? m->hops
                   : UINT32_MAX;
    }
    if (m->hops > serving->retries ||
        node__committee_index(self, m->rumor_id, m->segment, m->hops) != m->token) {
        return UINT32_MAX;
    }
    uint32_t slot = m->hops * serving->committee + m->token;
    /* A member index is below k: the draw holds at most k members. */
    ASSERT(m->token < serving->committee && slot < node__serve_slots(serving));
    return slot;
}

/* Checks an INFER_TOKENS / INFER_ACTIVATIONS hop against what this server
 * can run. Untrusted: returns false instead of asserting. */
static bool server_hop_valid(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    if (m->segment >= serving->segment_count || m->count == 0 || m->count > serving->tokens_max ||
        m->origin >= self->config.node_count ||
        (uint64_t)m->position + m->count > serving->seq_len) {
        return false;
    }
    bool first = m->segment == 0;
    if (first != (m->type == NODE_MESSAGE_INFER_TOKENS) && serving->verifier == NULL) {
        return false;
    }
    if (serving->verifier != NULL || first) {
        return m->source == m->origin && (m->payload != NULL || m->payload_bytes == 0);
    }
    return m->source == node__route(self, m->origin, m->rumor_id, m->segment - 1u, m->hops) &&
           (m->payload != NULL || m->payload_bytes == 0);
}

/* Loads the hop's input rows into store->x: embedded tokens for segment
 * 0, decoded activations otherwise. Returns 0 or an error. */
static int server_load_input(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    /* server_hop_valid checked the segment and the rows. */
    ASSERT(m->segment < serving->segment_count);
    ASSERT(m->count >= 1 && m->count <= serving->tokens_max);
    if (m->segment == 0) {
        uint32_t *tokens = store->token_scratch;
        if (m->type != NODE_MESSAGE_INFER_TOKENS || m->payload_bytes != (uint32_t)m->count * 4) {
            return NODE_EMALFORMED;
        }
        for (uint32_t i = 0; i < m->count; i++) {
            const uint8_t *p = m->payload + 4 * i;
            tokens[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                        (uint32_t)p[3] << 24;
        }
        return infer_embed(store->executor, tokens, m->count, store->x) == 0 ? 0
                                                                               : NODE_EMALFORMED;
    }
    if (m->type != NODE_MESSAGE_INFER_ACTIVATIONS) {
        return NODE_EMALFORMED;
    }
    int rc = infer_wire_decode(serving->wire_dtype, m->payload, m->payload_bytes, m->count,
                               serving->dim, store->x);
    return rc == 0 ? 0 : NODE_EMALFORMED;
}

/* Takes the KV cache for a prefill hop and arms its expiry. false: every
 * cache of this segment is in use (or memory ran out): refuse. */
static bool server_kv_take(node *self, const node_message *m, uint32_t slot, uint64_t now_ns,
                           node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    ASSERT(m->position == 0); /* Only a prefill (or a failover's replay) takes a cache. */
    if (!kv_acquire(self, m->rumor_id, m->segment, slot)) {
        return false;
    }
    ASSERT(*kv_slot_of(self, m->rumor_id, m->segment, slot) != 0);
    node__serve_timer_arm(outbox, now_ns + serving->request_timeout_ns,
                          node__serve_timer_id(NODE_SERVE_TIMER_KV, m->rumor_id,
                                               slot << 6 | m->segment));
    return true;
}

uint64_t node__roofline_ns(const node *self, uint64_t flops, uint64_t bytes,
                           bool *memory_bound_out)
{
    const node_serving *serving = self->config.serving;
    uint32_t id = self->config.node_id;
    ASSERT(serving->flops_per_s_of[id] > 0);
    uint64_t compute_ns = (uint64_t)((double)flops * 1e9 / serving->flops_per_s_of[id]);
    double bandwidth = serving->memory_bandwidth_of != NULL ? serving->memory_bandwidth_of[id]
                                                            : 0.0;
    uint64_t memory_ns = bandwidth > 0 ? (uint64_t)((double)bytes * 1e9 / bandwidth) : 0;
    *memory_bound_out = memory_ns > compute_ns;
    return *memory_bound_out ? memory_ns : compute_ns;
}

node_effect *node__serve_observe_compute(node_outbox *outbox, uint64_t request, uint32_t segment,
                                         uint64_t flops, uint64_t start_ns, uint64_t end_ns)
{
    ASSERT(end_ns >= start_ns);
    node_effect *compute = node__effect_append(outbox, NODE_EFFECT_OBSERVE);
    compute->observation = NODE_OBS_COMPUTE;
    compute->rumor_id = request;
    compute->segment = segment;
    compute->value = flops;
    compute->start_ns = start_ns;
    compute->at_ns = end_ns;
    compute->batch_size = 1;
    compute->batch_first = true;
    return compute;
}

/* Charges the compute to this server's FIFO queue; returns when it ends.
 * Time = max(FLOPs / rate, bytes / memory bandwidth) + overhead (the
 * roofline; the memory side only when the class sets a bandwidth). */
static uint64_t server_charge(node *self, const node_message *m, uint64_t flops, uint64_t now_ns,
                              node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t id = self->config.node_id;
    ASSERT(serving->flops_per_s_of[id] > 0);
    uint64_t start_ns = store->busy_until_ns[id] > now_ns ? store->busy_until_ns[id] : now_ns;
    /* zk: the proof costs prover_factor x the inference's FLOPs; tee: the
     * enclave slows compute by time_overhead. Both are 0 elsewhere. */
    if (serving->prover_factor > 0) {
        flops += (uint64_t)((double)flops * serving->prover_factor);
    }
    bool last = m->segment + 1u == serving->segment_count;
    uint64_t bytes = infer_forward_bytes(infer_model_shape(serving->model),
                                         serving->segment_layers[m->segment], m->position,
                                         m->count, last);
    bool memory_bound = false;
    uint64_t compute_ns = node__roofline_ns(self, flops, bytes, &memory_bound);
    if (serving->time_overhead > 0) {
        compute_ns += (uint64_t)((double)compute_ns * serving->time_overhead);
    }
    uint64_t end_ns = start_ns + serving->overhead_ns_of[id] + compute_ns;
    ASSERT(end_ns >= start_ns && start_ns >= now_ns);
    store->busy_until_ns[id] = end_ns;
    node_effect *compute =
        node__serve_observe_compute(outbox, m->rumor_id, m->segment, flops, start_ns, end_ns);
    compute->memory_bound = memory_bound;
    return end_ns;
}

/* Without a committee: the result goes on to the next server, or the
 * token back to the client. 'ticket' > 0: a handed-over call computes the
 * result (node_forward_hook), so the effects carry its ticket instead. */
static void server_forward(node *self, const node_message *m, uint64_t end_ns, uint32_t ticket,
                           node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    bool last = m->segment + 1u == serving->segment_count;
    node_message *out;
    ASSERT(serving->verifier == NULL); /* A committee member reveals instead. */
    if (last) {
        node_effect *logits = node__effect_append(outbox, NODE_EFFECT_OBSERVE);
        logits->observation = NODE_OBS_LOGITS;
        logits->rumor_id = m->rumor_id;
        logits->segment = m->segment;
        logits->value = m->step;
        logits->attempt = m->hops;
        logits->data = ticket == 0 ? store->logits : NULL;
        logits->forward_ticket = ticket;
        out = node__serve_send(self, outbox, NODE_MESSAGE_INFER_TOKEN, m->origin, m->rumor_id,
                               end_ns);
        out->token = ticket == 0 ? infer_argmax(store->logits, serving->vocab) : 0;
    } else {
        size_t bytes = infer_wire_bytes(serving->wire_dtype, m->count, serving->dim);
        ASSERT(bytes <= serving->payload_capacity);
        if (ticket == 0) {
            /* The cache already holds this step: the noise is on what leaves. */
            node__privacy_release(self, outbox, m->rumor_id, m->segment + 1u, m->step, 0,
                                  store->x, m->count);
            infer_wire_encode(serving->wire_dtype, store->x, m->count, serving->dim,
                              store->payload);
        } else if (node__privacy_noised(serving, m->segment + 1u)) {
            /* The driver noises the rows (node_forward_call.noise). */
            node__serve_observe(outbox, NODE_OBS_RELEASE, m->rumor_id, m->segment + 1u,
                                m->count);
        }
        out = node__serve_send(self, outbox, NODE_MESSAGE_INFER_ACTIVATIONS,
                               node__route(self, m->origin, m->rumor_id, m->segment + 1u,
                                                  m->hops),
                               m->rumor_id, end_ns);
        out->payload = ticket == 0 ? store->payload : NULL;
        out->payload_bytes = (uint32_t)bytes;
        out->count = m->count;
        out->position = m->position;
    }
    out->segment = (uint16_t)(last ? m->segment : m->segment + 1u);
    out->origin = m->origin;
    out->origin_ns = m->origin_ns;
    out->step = m->step;
    out->hops = m->hops;
    outbox->effects[outbox->count - 1].forward_ticket = ticket;
}

/* The result waits for its batch (batch.c); the scenario loader allows
 * batching only without a verifier. 'ticket' > 0: a handed-over call
 * computes it. */
static void server_batch(node *self, const node_message *m, uint64_t flops, uint64_t now_ns,
                         uint32_t ticket, node_outbox *outbox)
{
    server_forward(self, m, now_ns, ticket, outbox);
    if (!node__batch_defer(self, m, flops, now_ns, outbox)) {
        /* No memory to queue it: this step runs alone. */
        node_effect *send = &outbox->effects[outbox->count - 1];
        send->send_at_ns = server_charge(self, m, flops, now_ns, outbox);
    }
}

/* Hands an honest server's call to the driver (node_forward_hook),
 * charges its time and sends its result on (a plain server; into its batch
 * under batching) or its commitment or reveal (a committee member) under
 * the call's ticket. false: no hook, a member whose behaviour needs its
 * output, or the driver declined: the caller runs it inline. */
static bool server_compute_handed(node *self, const node_message *m, uint32_t slot,
                                  infer_kernel kernel, infer_kv *kv, kv_header *header,
                                  uint64_t now_ns, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    if (serving->forward == NULL) {
        return false;
    }
    bool last = m->segment + 1u == serving->segment_count;
    node_forward_call call = {.kernel = kernel, .kv = *kv, .x = self->config.store->x,
                              .count = m->count, .last = last};
    if (serving->verifier != NULL && !node__committee_member_hand(self, m, slot, &call.member)) {
        return false;
    }
    if (serving->verifier == NULL && !last) {
        call.noised =
            node__privacy_stream(self, m->rumor_id, m->segment + 1u, m->step, 0, &call.noise);
    }
    call.lineage_known = kv_lineage_next(self, header, kernel, kv, m->count, call.lineage);
    uint32_t ticket =
        serving->forward->begin(serving->forward->context, self->config.node_id, &call);
    if (ticket == 0) {
        return false;
    }
    memcpy(header->lineage, call.lineage, NODE_LINEAGE_BYTES);
    header->lineage_known = call.lineage_known;
    uint64_t flops = infer_forward_flops(infer_model_shape(serving->model), kv->layer_count,
                                         kv->length, m->count, last);
    kv->length += m->count;
    if (node__batch_on(self)) {
        server_batch(self, m, flops, now_ns, ticket, outbox);
        return true;
    }
    uint64_t end_ns = server_charge(self, m, flops, now_ns, outbox);
    if (serving->verifier != NULL) {
        node__committee_member_handed(self, m, &call.member, ticket, end_ns, outbox);
    } else {
        server_forward(self, m, end_ns, ticket, outbox);
    }
    return true;
}

/* A member that corrupts one layer: its segment's first layer runs, its
 * output gets noise of scale x RMS, and the remaining layers run on that. */
static void server_forward_corrupted(node *self, infer_kernel kernel, infer_kv *kv,
                                     uint32_t count, uint64_t *flops)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    const infer_shape *shape = infer_model_shape(serving->model);
    size_t layer_floats = (size_t)shape->seq_len * shape->dim / shape->n_heads * shape->n_kv_heads;
    infer_kv first = *kv;
    first.layer_count = 1;
    int rc = infer_forward(store->executor, kernel, &first, store->x, count, flops);
    ASSERT(rc == 0);
    size_t n = (size_t)count * serving->dim;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += (double)store->x[i] * store->x[i];
    }
    double amplitude = serving->behaviour_scale_of[self->config.node_id] * sqrt(sum / (double)n);
    for (size_t i = 0; i < n; i++) {
        store->x[i] += (float)(amplitude * util_prng_normal(&self->prng));
    }
    if (kv->layer_count > 1) {
        infer_kv rest = *kv;
        rest.keys += layer_floats;
        rest.values += layer_floats;
        rest.first_layer += 1;
        rest.layer_count -= 1;
        rc = infer_forward(store->executor, kernel, &rest, store->x, count, flops);
        ASSERT(rc == 0);
    }
    kv->length = first.length;
}

/* How this node computes the hop: its behaviour, honest for a rational
 * adversary for which the wrong computation does not pay. */
static uint8_t server_behaviour(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    uint8_t behaviour = serving->verifier != NULL
                            ? self->config.store->behaviour_of[self->config.node_id]
                            : NODE_BEHAVIOUR_HONEST;
    if ((behaviour == NODE_BEHAVIOUR_WRONG_MODEL || behaviour == NODE_BEHAVIOUR_WRONG_LAYER) &&
        !node__committee_cheats(self, m->rumor_id, m->segment)) {
        behaviour = NODE_BEHAVIOUR_HONEST;
    }
    ASSERT(behaviour < NODE_BEHAVIOUR_COUNT);
    return behaviour;
}

/* Runs the layers for real on the 'count' rows at the front of store->x,
 * in place, appending them to the cache: the executor used (the
 * substitute's weights for a wrong_model node). The cache's lineage
 * follows an honest call; any other call ends it. */
static infer_executor *server_layers(node *self, uint8_t behaviour, infer_kernel kernel,
                                     infer_kv *kv, kv_header *header, uint32_t count,
                                     uint64_t *flops)
{
    node_store *store = self->config.store;
    header->lineage_known = behaviour == NODE_BEHAVIOUR_HONEST &&
                            kv_lineage_next(self, header, kernel, kv, count, header->lineage);
    infer_executor *executor = behaviour == NODE_BEHAVIOUR_WRONG_MODEL && store->substitute
                                   ? store->substitute
                                   : store->executor;
    if (behaviour == NODE_BEHAVIOUR_WRONG_LAYER) {
        server_forward_corrupted(self, kernel, kv, count, flops);
    } else {
        int rc = infer_forward(executor, kernel, kv, store->x, count, flops);
        ASSERT(rc == 0); /* Position and count were validated against seq_len. */
    }
    return executor;
}

/* A catch-up hop ('m': the rows of steps its member missed, then this
 * step's, 'hop': this step's alone): the rows the cache lacks before this
 * step's run first, charged as a call of their own; this step's row then
 * moves to the front of store->x, for server_compute. */
static void server_catch_up(node *self, const node_message *m, const node_message *hop,
                            infer_kv *kv, kv_header *header, uint64_t now_ns,
                            node_outbox *outbox)
{
    float *x = self->config.store->x;
    size_t dim = self->config.serving->dim;
    ASSERT(kv->length >= m->position && kv->length <= hop->position); /* server_on_hop */
    uint32_t missing = hop->position - kv->length;
    memmove(x, x + (size_t)(kv->length - m->position) * dim,
            (size_t)(missing + 1u) * dim * sizeof(float));
    if (missing == 0) {
        return; /* Its answer was lost, not the rows: the cache holds them. */
    }
    node_message rows = *hop;
    rows.position = kv->length;
    rows.count = (uint16_t)missing;
    infer_kernel kernel = (infer_kernel)self->config.serving->kernel_of[self->config.node_id];
    uint64_t flops = 0;
    server_layers(self, server_behaviour(self, hop), kernel, kv, header, missing, &flops);
    (void)server_charge(self, &rows, flops, now_ns, outbox);
    memmove(x, x + (size_t)missing * dim, dim * sizeof(float));
}

/* Runs the layers for real, charges the time, and hands the result on. */
static void server_compute(node *self, const node_message *m, uint32_t slot, infer_kv *kv,
                           kv_header *header, uint64_t now_ns, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    infer_kernel kernel = (infer_kernel)serving->kernel_of[self->config.node_id];
    uint8_t behaviour = server_behaviour(self, m);
    ASSERT(kv->length == m->position); /* server_on_hop checked the cache has no gap. */
    if (behaviour == NODE_BEHAVIOUR_HONEST &&
        server_compute_handed(self, m, slot, kernel, kv, header, now_ns, outbox)) {
        return;
    }
    uint64_t flops = 0;
    infer_executor *executor = server_layers(self, behaviour, kernel, kv, header, m->count, &flops);
    bool last = m->segment + 1u == serving->segment_count;
    if (last) {
        infer_logits(executor, kernel, store->x + (size_t)(m->count - 1) * serving->dim,
                     store->logits, &flops);
    }
    if (node__batch_on(self)) {
        server_batch(self, m, flops, now_ns, 0, outbox);
        return;
    }
    uint64_t end_ns = server_charge(self, m, flops, now_ns, outbox);
    if (serving->verifier == NULL) {
        server_forward(self, m, end_ns, 0, outbox);
        return;
    }
    const float *output = last ? store->logits : store->x;
    size_t n = last ? serving->vocab : (size_t)m->count * serving->dim;
    node__committee_member_output(self, m, slot, output, n, end_ns, outbox);
}

/* A hop's rows are already in the cache: a duplicated or replayed message.
 * It was computed once; it is counted as a duplicate and dropped. */
static bool server_hop_seen(const node *self, const node_message *m, uint32_t member)
{
    if (*kv_slot_of(self, m->rumor_id, m->segment, member) == 0) {
        return false;
    }
    infer_kv kv;
    kv_header *header = NULL;
    kv_view(self, m->rumor_id, m->segment, member, &kv, &header);
    ASSERT(header != NULL && header->length == kv.length);
    return kv.length > m->position;
}

/* The cache for this hop, taken on the prefill step. false: the hop was
 * refused (and the client told, or left to its deadline). */
static bool server_kv(node *self, const node_message *m, uint32_t member, uint64_t now_ns,
                      node_outbox *outbox)
{
    if (*kv_slot_of(self, m->rumor_id, m->segment, member) != 0) {
        return true;
    }
    ASSERT(outbox->count < NODE_OUTBOX_MAX);
    if (m->position != 0) {
        server_fail(self, outbox, m, now_ns); /* The cache expired: cannot continue. */
        return false;
    }
    if (!server_kv_take(self, m, member, now_ns, outbox)) {
        node__serve_observe(outbox, NODE_OBS_BUSY, m->rumor_id, m->segment, 1);
        server_fail(self, outbox, m, now_ns);
        return false;
    }
    return true;
}

/* The hop a message is for: itself, or for a catch-up hop (a step after
 * the prefill with more than one row, under verification) its last row,
 * this step's. */
static node_message server_hop_of(const node *self, const node_message *m)
{
    node_message hop = *m;
    if (self->config.serving->verifier != NULL && m->step > 0 && m->count > 1) {
        hop.position = m->position + m->count - 1u;
        hop.count = 1;
    }
    return hop;
}

static int server_on_hop(node *self, uint64_t now_ns, const node_message *m, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t member = server_slot(self, m);
    if (member == UINT32_MAX || !server_hop_valid(self, m) || !slot_client_take(self, m, member)) {
        return NODE_EMALFORMED;
    }
    node_message hop = server_hop_of(self, m);
    if ((serving->route_until_of != NULL &&
         serving->route_until_of[self->config.node_id] != UINT64_MAX) ||
        !kv_slot_mine(self, m->rumor_id, m->segment, member)) {
        /* Churn: a leaving server takes no new step, and one the route
         * moved to holds no cache of the steps before. */
        server_fail(self, outbox, m, now_ns);
        return 0;
    }
    if (serving->verifier != NULL &&
        store->behaviour_of[self->config.node_id] == NODE_BEHAVIOUR_SILENT) {
        return 0; /* A silent member takes the work and never answers. */
    }
    if (serving->verifier != NULL &&
        store->behaviour_of[self->config.node_id] == NODE_BEHAVIOUR_ADAPTIVE &&
        serving->verifier->corrupt(serving->verifier->context, self->config.node_id)) {
        /* Drawn into a committee: the adaptive adversary takes this node
         * (while its budget, which is the adversary's, lasts). */
        store->behaviour_of[self->config.node_id] = NODE_BEHAVIOUR_COLLUDE;
    }
    if (serving->verifier != NULL && node__committee_lazy(self, &hop, member, now_ns, outbox)) {
        return 0;
    }
    if (server_hop_seen(self, &hop, member)) {
        node__serve_observe(outbox, NODE_OBS_DUPLICATE, m->rumor_id, m->segment, 1);
        return 0;
    }
    int rc = server_load_input(self, m);
    if (rc != 0) {
        return rc;
    }
    if (!server_kv(self, m, member, now_ns, outbox)) {
        return 0;
    }
    infer_kv kv;
    kv_header *header = NULL;
    kv_view(self, m->rumor_id, m->segment, member, &kv, &header);
    if (kv.length < m->position || kv.length > hop.position) {
        /* A gap: an earlier step never arrived; the cache cannot take it. */
        server_fail(self, outbox, m, now_ns);
        return 0;
    }
    if (hop.count != m->count) {
        server_catch_up(self, m, &hop, &kv, header, now_ns, outbox);
    }
    server_compute(self, &hop, member, &kv, header, now_ns, outbox);
    ASSERT(kv.length <= serving->seq_len);
    header->length = kv.length;
    return 0;
}

/* END from the client: drop the KV cache of that segment (and, in a
 * committee, the output kept for the reveal). */
static int server_on_end(node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    uint32_t member = m->segment < serving->segment_count ? server_slot(self, m) : UINT32_MAX;
    if (member == UINT32_MAX ||
        !node__slot_client_is(self, m->rumor_id, m->segment, member, m->source)) {
        return NODE_EMALFORMED;
    }
    if (!kv_slot_mine(self, m->rumor_id, m->segment, member)) {
        return 0; /* Churn: the route moved here; the cache is its old server's. */
    }
    node__kv_release(self, m->rumor_id, m->segment, member);
    if (serving->verifier != NULL) {
        node__committee_release(self, m->rumor_id, m->segment, member);
    }
    ASSERT(*kv_slot_of(self, m->rumor_id, m->segment, member) == 0);
    return 0;
}

int node__serve_message(node *self, uint64_t now_ns, const node_message *m, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    if (serving == NULL || m->rumor_id >= serving->request_capacity) {
        return NODE_EMALFORMED;
    }
    switch (m->type) {
    case NODE_MESSAGE_INFER_TOKENS:
    case NODE_MESSAGE_INFER_ACTIVATIONS:
        return server_on_hop(self, now_ns, m, outbox);
    case NODE_MESSAGE_INFER_TOKEN:
        return client_on_token(self, now_ns, m, outbox);
    case NODE_MESSAGE_INFER_END:
        return server_on_end(self, m);
    default:
        return serving->verifier != NULL ? node__committee_message(self, now_ns, m, outbox)
                                         : NODE_EMALFORMED;
    }
}

static uint32_t serve_timer_kind(uint64_t timer_id)
{
    return (uint32_t)((timer_id >> 56) & 0x7f);
}

bool node_timer_outlives_crash(uint64_t timer_id)
{
    return node__serve_owns_timer(timer_id) && serve_timer_kind(timer_id) == NODE_SERVE_TIMER_KV;
}

void node__serve_timer(node *self, uint64_t now_ns, uint64_t timer_id, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t kind = serve_timer_kind(timer_id);
    uint64_t request = (timer_id & ~(UINT64_C(0xff) << 56)) >> SERVE_LOW_BITS;
    uint32_t low = (uint32_t)(timer_id & ((UINT64_C(1) << SERVE_LOW_BITS) - 1));
    ASSERT(serving != NULL && request < serving->request_capacity);
    if (kind == NODE_SERVE_TIMER_CLIENT) {
        if (node__client_owns(self, request) && store->requests[request].status == 0) {
            node__client_finish(self, outbox, request, NODE_REQUEST_TIMEOUT, now_ns);
        }
    } else if (kind == NODE_SERVE_TIMER_STEP) {
        const node_request *r = &store->requests[request];
        if (node__client_owns(self, request) && r->status == 0 && r->attempt == low >> 13 &&
            r->generated == (low & 8191u)) {
            client_failover(self, outbox, request, now_ns); /* No token in time. */
        }
    } else if (kind == NODE_SERVE_TIMER_BATCH) {
        node__batch_timer(self, now_ns, low, outbox);
    } else if (kind == NODE_SERVE_TIMER_RESEND) {
        if (node__client_owns(self, request)) {
            node__ledger_resend(self, now_ns, request, outbox);
        }
    } else if (kind == NODE_SERVE_TIMER_CARTEL) {
        node__cartel_timer(self, now_ns, request, low, outbox);
    } else if (kind == NODE_SERVE_TIMER_PULL) {
        node__ledger_gossip_pull(self, now_ns, low, outbox);
    } else if (kind == NODE_SERVE_TIMER_ATTEST) {
        if (node__client_owns(self, request)) {
            node__attest_timer(self, now_ns, request, outbox);
        }
    } else if (kind == NODE_SERVE_TIMER_KV) {
        uint32_t segment = low & 63u;
        ASSERT(segment < serving->segment_count);
        node__kv_release(self, request, segment, low >> 6);
        if (serving->verifier != NULL) {
            node__committee_release(self, request, segment, low >> 6);
        }
    } else {
        node__committee_timer(self, now_ns, kind, request, low, outbox);
    }
}
