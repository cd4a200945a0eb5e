/* committee.c -- the transport of verified split inference, as a sans-IO
 * protocol. For each step of a request and each segment, the client sends
 * the segment's input to a committee drawn by verifiable sortition for
 * (request, segment, round) (the driver's committee function). Every
 * member runs the segment for real and, under commit-reveal, sends its
 * vote to the client; when every member has committed, or the commit
 * deadline passes, the client asks for reveals; it checks each reveal
 * against the votes and its evidence, and decides. The accepted output is
 * the next committee's input, or, for the last segment, the logits the
 * token is chosen from. Without commit-reveal members reveal at once.
 *
 * What a vote is, who is asked, how a reveal is checked and how the client
 * settles are the protocol's (consensus/cons.h: serving->protocol, one file
 * per protocol in consensus/); this file carries the messages and timers,
 * relays reveals among members, and plays the Byzantine members'
 * behaviours (wrong outputs, cartels, lazy copying, equivocation, forged
 * attestations). After every committee message or timer the client
 * handles, it checks the protocol's invariants on its own state. Every
 * decision ends in one 'judged' call per judged member and one 'decided';
 * a fresh committee (round + 1) restarts the request up to 'retries'
 * times, then the request fails. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "node/node_int.h"
#include "util/assert.h"
#include "util/hash.h"

/* The client's block for a request: k votes, then k outputs. */
static uint8_t *committee_digest(const node_store *store, const node_committee_state *state,
                                 uint32_t member)
{
    ASSERT(state->block != 0); /* The request holds its votes block. */
    ASSERT(member < NODE_COMMITTEE_MAX);
    uint8_t *block = util_pool_block(&store->committee_pool, state->block - 1);
    return block + (size_t)member * NODE_VOTE_MAX;
}

static float *committee_output(const node *self, const node_committee_state *state,
                               uint32_t member)
{
    const node_store *store = self->config.store;
    ASSERT(state->block != 0); /* The request holds its outputs block. */
    ASSERT(member < NODE_COMMITTEE_MAX);
    uint8_t *block = util_pool_block(&store->committee_pool, state->block - 1);
    float *outputs = (float *)(block + NODE_COMMITTEE_MAX * NODE_VOTE_MAX);
    return outputs + (size_t)member * self->config.serving->output_floats;
}

/* Ledger evidence, after the outputs: per member the signature of its
 * first commitment, a second different vote and its signature (an
 * equivocator's), and the salt of its reveal. */
#define COMMITTEE_EVIDENCE_SIGNATURE 0
#define COMMITTEE_EVIDENCE_VOTE2 NODE_SIGNATURE_BYTES
#define COMMITTEE_EVIDENCE_SIGNATURE2 (NODE_SIGNATURE_BYTES + NODE_VOTE_MAX)
#define COMMITTEE_EVIDENCE_SALT (2 * NODE_SIGNATURE_BYTES + NODE_VOTE_MAX)
#define COMMITTEE_EVIDENCE_BYTES (COMMITTEE_EVIDENCE_SALT + NODE_SALT_BYTES)

/* Where the outputs end in the block: the votes, then every member's
 * output (committee_output). */
static size_t committee_outputs_end(const node_serving *serving)
{
    return (size_t)NODE_COMMITTEE_MAX * NODE_VOTE_MAX +
           (size_t)serving->committee * serving->output_floats * sizeof(float);
}

/* Catch-up (serving.catch_up), after the evidence, 8-byte aligned: per
 * segment and member 1 + the first step the member may lack (it did not
 * answer it; 0: none), then per segment the rows its committee was sent,
 * by position (the prompt's, then one per step; at most tokens_max + 1):
 * token ids, 4 bytes little-endian, for segment 0, rows in the wire dtype
 * after. */
static size_t committee_catch_up_offset(const node_serving *serving)
{
    size_t bytes = committee_outputs_end(serving) +
                   (serving->commit_sig_bytes > 0
                        ? (size_t)serving->committee * COMMITTEE_EVIDENCE_BYTES
                        : 0);
    return (bytes + 7u) & ~(size_t)7u;
}

static size_t committee_row_bytes(const node_serving *serving, uint32_t segment)
{
    return segment == 0 ? 4u : infer_wire_bytes(serving->wire_dtype, 1, serving->dim);
}

static size_t committee_lag_bytes(const node_serving *serving)
{
    size_t bytes = (size_t)serving->segment_count * serving->committee * sizeof(uint16_t);
    return (bytes + 7u) & ~(size_t)7u;
}

/* Bytes of the rows kept for the first 'segments' segments. */
static size_t committee_history_bytes(const node_serving *serving, uint32_t segments)
{
    size_t rows = (size_t)serving->tokens_max + 1u;
    return segments == 0 ? 0
                         : rows * (4u + (size_t)(segments - 1u) * committee_row_bytes(serving, 1));
}

size_t node_committee_block_bytes(const node_serving *serving)
{
    size_t bytes = committee_catch_up_offset(serving);
    if (serving->catch_up) {
        bytes += committee_lag_bytes(serving) +
                 committee_history_bytes(serving, serving->segment_count);
    }
    return bytes;
}

/* 1 + the first step each member of the segment's committee may lack. */
static uint16_t *committee_lag(const node *self, const node_committee_state *state,
                               uint32_t segment)
{
    const node_serving *serving = self->config.serving;
    ASSERT(state->block != 0 && serving->catch_up && segment < serving->segment_count);
    uint8_t *block = util_pool_block(&self->config.store->committee_pool, state->block - 1);
    uint16_t *lag = (uint16_t *)(void *)(block + committee_catch_up_offset(serving));
    return lag + (size_t)segment * serving->committee;
}

/* The row the segment's committee was sent at 'position'; the rows of
 * later positions follow it. */
static uint8_t *committee_history(const node *self, const node_committee_state *state,
                                  uint32_t segment, uint32_t position)
{
    const node_serving *serving = self->config.serving;
    ASSERT(state->block != 0 && serving->catch_up && segment < serving->segment_count);
    ASSERT(position <= serving->tokens_max);
    uint8_t *block = util_pool_block(&self->config.store->committee_pool, state->block - 1);
    uint8_t *history = block + committee_catch_up_offset(serving) + committee_lag_bytes(serving) +
                       committee_history_bytes(serving, segment);
    return history + (size_t)position * committee_row_bytes(serving, segment);
}

static uint8_t *committee_evidence(const node *self, const node_committee_state *state,
                                   uint32_t member)
{
    const node_serving *serving = self->config.serving;
    ASSERT(state->block != 0 && serving->commit_sig_bytes > 0);
    ASSERT(member < serving->committee);
    uint8_t *block = util_pool_block(&self->config.store->committee_pool, state->block - 1);
    return block + committee_outputs_end(serving) + (size_t)member * COMMITTEE_EVIDENCE_BYTES;
}

uint32_t node__committee_index(const node *self, uint64_t request, uint32_t segment,
                               uint32_t round)
{
    const node_serving *serving = self->config.serving;
    ASSERT(serving->verifier != NULL);
    ASSERT(segment < serving->segment_count && round <= serving->retries); /* Validated. */
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t count = serving->verifier->committee(serving->verifier->context, request, segment,
                                                  round, members);
    ASSERT(count <= serving->committee); /* The driver draws at most k. */
    for (uint32_t j = 0; j < count; j++) {
        if (members[j] == self->config.node_id) {
            return j;
        }
    }
    return UINT32_MAX;
}

/* Rows of the current step: the prompt at step 0, one token after. */
static uint32_t committee_rows(const node_request *r)
{
    ASSERT(r->prompt_tokens >= 1); /* Checked at submit. */
    return r->generated == 0 ? r->prompt_tokens : 1;
}

static size_t committee_floats(const node_serving *serving, uint32_t segment, uint32_t rows)
{
    ASSERT(segment < serving->segment_count);
    ASSERT(rows >= 1 && rows <= serving->tokens_max);
    bool last = segment + 1 == serving->segment_count;
    size_t floats = last ? serving->vocab : (size_t)rows * serving->dim;
    ASSERT(floats <= serving->output_floats); /* Fits a member's output slot. */
    return floats;
}

/* Opens a phase ending at 'deadline'; stale deadlines carry an older seq. */
static void committee_phase_until(node_store *store, node_outbox *outbox, uint64_t request,
                                  uint32_t phase, uint64_t deadline)
{
    static const uint32_t kinds[] = {0, NODE_SERVE_TIMER_COMMIT, NODE_SERVE_TIMER_REVEAL,
                                     NODE_SERVE_TIMER_HOLD};
    node_committee_state *state = &store->committees[request];
    ASSERT(phase > CONS_PHASE_IDLE && phase <= CONS_PHASE_HOLD);
    ASSERT(state->block != 0); /* Only a running request opens a phase. */
    state->phase = phase;
    state->phase_seq += 1;
    state->phase_until_ns = deadline;
    node__serve_timer_arm(outbox, deadline,
                          node__serve_timer_id(kinds[phase], request, state->phase_seq & 0xffffu));
}

static void committee_phase(node *self, node_outbox *outbox, uint64_t request,
                            uint32_t phase, uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    ASSERT(phase == CONS_PHASE_COMMIT || phase == CONS_PHASE_REVEAL);
    ASSERT(serving->commit_reveal || phase != CONS_PHASE_COMMIT);
    bool commit = phase == CONS_PHASE_COMMIT;
    committee_phase_until(self->config.store, outbox, request, phase,
                          now_ns + (commit ? serving->commit_timeout_ns
                                           : serving->reveal_timeout_ns));
    if (serving->suspect_after_ns > 0) {
        /* The loader keeps suspect_after below both timeouts. */
        ASSERT(serving->suspect_after_ns < (commit ? serving->commit_timeout_ns
                                                   : serving->reveal_timeout_ns));
        uint32_t seq = self->config.store->committees[request].phase_seq & 0xffffu;
        node__serve_timer_arm(outbox, now_ns + serving->suspect_after_ns,
                              node__serve_timer_id(NODE_SERVE_TIMER_SUSPECT, request, seq));
    }
}

/* ---- failure detection (client) ---- */

/* The client's remembered suspects: NODE_SUSPECTS_MAX entries, id + 1,
 * oldest first. Only with serving.suspect_after_ns. */
static uint32_t *client_suspects(const node *self)
{
    const node_store *store = self->config.store;
    ASSERT(store->suspects != NULL); /* Allocated whenever suspect_after is on. */
    return store->suspects + (size_t)self->config.node_id * NODE_SUSPECTS_MAX;
}

static bool client_suspects_node(const node *self, uint32_t node_id)
{
    const uint32_t *suspects = client_suspects(self);
    for (uint32_t i = 0; i < NODE_SUSPECTS_MAX; i++) {
        if (suspects[i] == node_id + 1u) {
            return true;
        }
    }
    return false;
}

/* Remembers 'node_id' as the newest suspect (the oldest is forgotten when
 * the table is full) and reports the suspicion. Cannot fail. */
static void client_suspect(node *self, node_outbox *outbox, uint64_t request, uint32_t segment,
                           uint32_t node_id)
{
    uint32_t *suspects = client_suspects(self);
    node__serve_observe(outbox, NODE_OBS_SUSPECT, request, segment, node_id);
    if (client_suspects_node(self, node_id)) {
        return;
    }
    uint32_t used = 0;
    while (used < NODE_SUSPECTS_MAX && suspects[used] != 0) {
        used++;
    }
    if (used == NODE_SUSPECTS_MAX) {
        memmove(suspects, suspects + 1, (NODE_SUSPECTS_MAX - 1) * sizeof(*suspects));
        used = NODE_SUSPECTS_MAX - 1;
    }
    suspects[used] = node_id + 1u;
    ASSERT(client_suspects_node(self, node_id));
}

/* A commit or reveal from 'node_id' reached the client: it is alive, and
 * no longer a suspect. Cannot fail. */
static void client_unsuspect(const node *self, uint32_t node_id)
{
    uint32_t *suspects = client_suspects(self);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < NODE_SUSPECTS_MAX; i++) {
        if (suspects[i] != node_id + 1u) {
            suspects[kept++] = suspects[i];
        }
    }
    while (kept < NODE_SUSPECTS_MAX) {
        suspects[kept++] = 0;
    }
    ASSERT(!client_suspects_node(self, node_id));
}

/* The drawn members the client already suspects (none when off). */
static uint64_t client_suspected_members(const node *self, const node_committee_state *state)
{
    if (self->config.serving->suspect_after_ns == 0) {
        return 0;
    }
    uint64_t mask = 0;
    for (uint32_t j = 0; j < state->member_count; j++) {
        if (client_suspects_node(self, state->members[j])) {
            mask |= UINT64_C(1) << j;
        }
    }
    return mask;
}

/* Every commitment is in, or every missing one is a suspect's and at least
 * one came (without suspects: all committed, as before). */
static bool client_commits_in(const node_committee_state *state)
{
    uint64_t waiting = cons_members_all(state->member_count) & ~state->committed;
    if ((waiting & ~state->suspected) != 0) {
        return false;
    }
    return waiting == 0 || state->committed != 0;
}

/* Every asked reveal is in, or every missing one is a suspect's and at
 * least one came (without suspects: all asked answered, as before). */
static bool client_reveals_in(const node_committee_state *state)
{
    uint64_t waiting = state->asked & ~state->answered;
    if ((waiting & ~state->suspected) != 0) {
        return false;
    }
    return waiting == 0 || (state->answered & state->asked) != 0;
}

/* A phase closes: before its deadline, the suspects still missing are
 * skipped (never judged); at the deadline they had their full time. */
static void client_skip(node_committee_state *state, uint64_t missing, uint64_t now_ns)
{
    if (now_ns < state->phase_until_ns) {
        state->skipped |= missing & state->suspected;
    }
}

/* The client's own record of 'request', or NULL when this node is not
 * its client. The store is keyed by request id and each slot's owner is
 * the request's client: this is that client's lookup in its own table. */
static node_request *client_request(const node *self, uint64_t request)
{
    ASSERT(request < self->config.serving->request_capacity); /* Validated, or the client's. */
    node_request *r = &self->config.store->requests[request];
    return r->submitted && r->client == self->config.node_id ? r : NULL;
}

bool node__client_owns(const node *self, uint64_t request)
{
    return client_request(self, request) != NULL;
}

/* Client: fills the header fields every committee message of this step
 * shares, from its own record of the request. */
static void committee_header(node_message *m, const node_request *r, uint32_t segment,
                             uint32_t round, uint32_t member)
{
    ASSERT(segment < NODE_SEGMENTS_MAX && member < NODE_COMMITTEE_MAX);
    ASSERT(r->submitted);
    m->origin = r->client;
    m->origin_ns = r->submitted_ns;
    m->segment = (uint16_t)segment;
    m->count = (uint16_t)committee_rows(r);
    m->position = r->generated == 0 ? 0 : r->prompt_tokens + r->generated - 1;
    m->step = r->generated;
    m->hops = round;
    m->token = member;
}

/* Catch-up: the rows of this hop ('position', 'bytes' in the payload) are
 * kept for members that miss them; a round's first hop finds no member
 * lagging. */
static void committee_keep_rows(const node *self, const node_committee_state *state,
                                const node_request *r, uint32_t segment, uint32_t position,
                                size_t bytes)
{
    const node_serving *serving = self->config.serving;
    if (!serving->catch_up) {
        return;
    }
    if (r->generated == 0 && segment == 0) {
        memset(committee_lag(self, state, 0), 0,
               (size_t)serving->segment_count * serving->committee * sizeof(uint16_t));
    }
    ASSERT(bytes == committee_row_bytes(serving, segment) * committee_rows(r));
    memcpy(committee_history(self, state, segment, position), self->config.store->payload,
           bytes);
}

/* A member that may lack the rows of the steps since it last answered
 * gets them again with this step's: the hop starts at the first such
 * step's position, 0 for the prefill (while they fit one call, tokens_max
 * rows). */
static void committee_catch_up(const node *self, const node_committee_state *state,
                               const node_request *r, uint32_t member, node_message *m,
                               node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    if (!serving->catch_up || r->generated == 0) {
        return;
    }
    uint32_t lag = committee_lag(self, state, state->segment)[member];
    ASSERT(lag <= r->generated); /* Set at a step already decided. */
    if (lag == 0) {
        return;
    }
    uint32_t from = lag == 1 ? 0 : r->prompt_tokens + lag - 2u; /* step lag - 1's position */
    uint32_t count = m->position + m->count - from;
    if (count > serving->tokens_max) {
        return;
    }
    node__serve_observe(outbox, NODE_OBS_CATCH_UP, m->rumor_id, state->segment,
                        count - m->count);
    m->position = from;
    m->count = (uint16_t)count;
    m->payload = committee_history(self, state, state->segment, from);
    m->payload_bytes = (uint32_t)(count * committee_row_bytes(serving, state->segment));
}

/* A step settled: a member that answered it holds its rows; one that did
 * not may lack them from this step on (or from an earlier one). */
static void committee_lag_update(const node *self, const node_committee_state *state,
                                 const node_request *r)
{
    if (!self->config.serving->catch_up) {
        return;
    }
    uint16_t *lag = committee_lag(self, state, state->segment);
    uint64_t answered = state->committed | state->answered;
    for (uint32_t j = 0; j < state->member_count; j++) {
        if ((answered >> j) & 1u) {
            lag[j] = 0;
        } else if (lag[j] == 0) {
            lag[j] = (uint16_t)(r->generated + 1u);
        }
    }
}

void node__committee_send_input(node *self, node_outbox *outbox, uint64_t request,
                                uint32_t segment, const float *rows, uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    node_committee_state *state = &store->committees[request];
    const node_request *r = client_request(self, request);
    ASSERT(r != NULL);
    ASSERT(segment < serving->segment_count && (segment == 0) == (rows == NULL));
    ASSERT(state->block != 0 && state->round <= serving->retries);
    uint32_t count = committee_rows(r);
    size_t bytes = segment == 0 ? (size_t)count * 4
                                : infer_wire_bytes(serving->wire_dtype, count, serving->dim);
    ASSERT(bytes <= serving->payload_capacity);
    if (segment == 0) {
        uint32_t first = r->generated == 0 ? 0 : r->prompt_tokens + r->generated - 1;
        node__serve_put_tokens(store->payload, r->tokens + first, count);
    } else {
        infer_wire_encode(serving->wire_dtype, rows, count, serving->dim, store->payload);
    }
    state->segment = segment;
    committee_keep_rows(self, state, r, segment,
                        r->generated == 0 ? 0 : r->prompt_tokens + r->generated - 1u, bytes);
    state->member_count = serving->verifier->committee(serving->verifier->context, request,
                                                       segment, state->round, state->members);
    ASSERT(state->member_count <= serving->committee); /* The driver draws at most k. */
    state->committed = 0;
    state->revealed = 0;
    state->answered = 0;
    state->equivocated = 0;
    state->vote_agree = 0;
    state->dispute = CONS_DISPUTE_NONE;
    state->asked = serving->commit_reveal ? 0 : cons_members_all(state->member_count);
    state->skipped = 0;
    state->suspected = client_suspected_members(self, state);
    uint8_t type = segment == 0 ? NODE_MESSAGE_INFER_TOKENS : NODE_MESSAGE_INFER_ACTIVATIONS;
    for (uint32_t j = 0; j < state->member_count; j++) {
        node_message *m = node__serve_send(self, outbox, type, state->members[j], request, now_ns);
        committee_header(m, r, segment, state->round, j);
        m->payload = store->payload;
        m->payload_bytes = (uint32_t)bytes;
        committee_catch_up(self, state, r, j, m, outbox);
    }
    committee_phase(self, outbox, request,
                    serving->commit_reveal ? CONS_PHASE_COMMIT : CONS_PHASE_REVEAL,
                    now_ns);
}

void node__committee_end(node *self, node_outbox *outbox, uint64_t request, uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    const node_committee_state *state = &store->committees[request];
    const node_request *r = client_request(self, request);
    ASSERT(r != NULL);
    ASSERT(state->round <= serving->retries);
    uint32_t members[NODE_COMMITTEE_MAX];
    for (uint32_t s = 0; s < serving->segment_count; s++) {
        uint32_t count = serving->verifier->committee(serving->verifier->context, request, s,
                                                      state->round, members);
        ASSERT(count <= serving->committee);
        for (uint32_t j = 0; j < count; j++) {
            node_message *m = node__serve_send(self, outbox, NODE_MESSAGE_INFER_END, members[j],
                                               request, now_ns);
            committee_header(m, r, s, state->round, j);
        }
    }
}

/* ---- member ---- */

bool node__committee_cheats(const node *self, uint64_t request, uint32_t segment)
{
    const node_serving *serving = self->config.serving;
    uint32_t id = self->config.node_id;
    ASSERT(serving->verifier != NULL);
    if (serving->gain_of == NULL || !(serving->gain_of[id] > 0)) {
        return true;
    }
    return serving->verifier->cheat(serving->verifier->context, id, request, segment);
}

/* What a Byzantine member does with its output for a hop. */
typedef enum committee_act {
    COMMITTEE_HONEST = 0,            /* answers its output as computed */
    COMMITTEE_CHEATED,               /* answers the wrong output now in 'output' */
    COMMITTEE_AWAIT                  /* a cartel member by messages: waits for the agreement */
} committee_act;

/* A Byzantine member's output: noise on its own result (wrong_output, and
 * a compromised enclave's forge_attestation), or the cartel's agreed vector
 * (collude), both of 'scale' x the honest RMS; a targeting cartel's
 * last-segment output makes its token win. A rational one cheats only when
 * it pays. */
static committee_act committee_misbehave(node *self, const node_message *m, uint32_t slot,
                                         float *output, size_t n, uint64_t end_ns,
                                         node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t id = self->config.node_id;
    node_behaviour behaviour = (node_behaviour)store->behaviour_of[id];
    ASSERT(behaviour < NODE_BEHAVIOUR_COUNT);
    ASSERT(n <= serving->output_floats); /* The member's own output. */
    if ((behaviour != NODE_BEHAVIOUR_WRONG_OUTPUT && behaviour != NODE_BEHAVIOUR_COLLUDE &&
         behaviour != NODE_BEHAVIOUR_FORGE_ATTESTATION) ||
        !node__committee_cheats(self, m->rumor_id, m->segment)) {
        return COMMITTEE_HONEST;
    }
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += (double)output[i] * output[i];
    }
    double amplitude = serving->behaviour_scale_of[id] * sqrt(sum / (double)(n > 0 ? n : 1));
    if (behaviour != NODE_BEHAVIOUR_COLLUDE) {
        for (size_t i = 0; i < n; i++) {
            output[i] += (float)(amplitude * util_prng_normal(&self->prng));
        }
        return COMMITTEE_CHEATED;
    }
    if (node__cartel_by_messages(self)) {
        return node__cartel_output(self, m, slot, output, n, amplitude, end_ns, outbox)
                   ? COMMITTEE_CHEATED
                   : COMMITTEE_AWAIT;
    }
    /* The cartel coordinates off the network: one stream per (request,
     * segment, step) from their shared secret, the same for every member. */
    util_prng cartel;
    util_prng_init_stream(&cartel, serving->behaviour_seed,
                          m->rumor_id * NODE_SEGMENTS_MAX + m->segment,
                          UTIL_PRNG_PURPOSE_CARTEL + 16u * m->step);
    for (size_t i = 0; i < n; i++) {
        output[i] = (float)(amplitude * util_prng_normal(&cartel));
    }
    uint32_t target = serving->cartel_target_of != NULL ? serving->cartel_target_of[id]
                                                        : NODE_CARTEL_NO_TARGET;
    if (m->segment + 1u == serving->segment_count && target != NODE_CARTEL_NO_TARGET) {
        node__cartel_target(target, output, n, amplitude);
    }
    return COMMITTEE_CHEATED;
}

void node__committee_member_header(node_message *out, const node_message *m, uint32_t member)
{
    ASSERT(member < NODE_COMMITTEE_MAX); /* The member's own index (the hop's token was validated). */
    out->origin = m->origin;
    out->origin_ns = m->origin_ns;
    out->segment = m->segment;
    out->count = m->count;
    out->position = m->position;
    out->step = m->step;
    out->hops = m->hops;
    out->token = member;
}

/* Where a member keeps its output until the reveal: [size][salt][bytes]. */
static uint8_t *member_block(const node *self, const node_message *m, uint32_t slot,
                             bool take)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    /* The caller validated the request and segment and computed the slot. */
    ASSERT(m->rumor_id < serving->request_capacity && m->segment < serving->segment_count);
    ASSERT(slot < node__serve_slots(serving));
    uint32_t *entry = &store->reveal_block_of[node__serve_slot_index(serving, m->rumor_id, m->segment,
                                                             slot)];
    if (*entry == 0 && take) {
        uint32_t block = 0;
        if (util_pool_take(&store->reveal_pool, &block) != 0) {
            return NULL;
        }
        *entry = block + 1;
    }
    ASSERT(!take || *entry != 0);
    return *entry == 0 ? NULL : util_pool_block(&store->reveal_pool, *entry - 1);
}

static void member_reveal(node *self, const node_message *m, uint32_t member, const uint8_t *block,
                          uint64_t at_ns, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    uint32_t size = 0;
    memcpy(&size, block, sizeof(size));
    /* The member wrote 'size' itself, and only an output that fits its block. */
    ASSERT(size != UINT32_MAX);
    ASSERT(sizeof(uint32_t) + NODE_SALT_BYTES + (size_t)size + serving->evidence_bytes <=
           self->config.store->reveal_pool.block_bytes);
    node_message *out = node__serve_send(self, outbox, NODE_MESSAGE_INFER_REVEAL, m->origin,
                                         m->rumor_id, at_ns);
    node__committee_member_header(out, m, member);
    out->payload = block + sizeof(uint32_t);
    out->payload_bytes = NODE_SALT_BYTES + size + serving->evidence_bytes;
    /* Members share their reveals with each other (Nesa's members see each
     * other's outputs): this is what a lazy member can copy from. */
    node__committee_to_peers(self, outbox, m, member, out, at_ns);
}

void node__committee_to_peers(node *self, node_outbox *outbox, const node_message *m,
                              uint32_t member, const node_message *out, uint64_t at_ns)
{
    const node_serving *serving = self->config.serving;
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t count = serving->verifier->committee(serving->verifier->context, m->rumor_id,
                                                  m->segment, m->hops, members);
    ASSERT(count <= serving->committee);
    for (uint32_t i = 0; i < count; i++) {
        if (i == member || members[i] == self->config.node_id) {
            continue;
        }
        node_message *peer = node__serve_send(self, outbox, out->type, members[i],
                                              m->rumor_id, at_ns);
        *peer = *out;
        peer->dest = members[i];
    }
}

/* selection vrf: the member's proof of its ticket follows its vote, so the
 * client can check the member's place before accepting the vote. */
static void member_claim(const node *self, const node_message *m, node_message *commit)
{
    const node_serving *serving = self->config.serving;
    ASSERT(commit->payload_bytes == serving->vote_bytes);
    if (serving->claim_bytes == 0) {
        return;
    }
    ASSERT(serving->claim_bytes == NODE_CLAIM_MAX);
    ASSERT(serving->vote_bytes + NODE_CLAIM_MAX <= serving->payload_capacity);
    uint8_t *proof = self->config.store->payload + serving->vote_bytes;
    ASSERT(commit->payload == self->config.store->payload);
    serving->verifier->claim(serving->verifier->context, self->config.node_id, m->rumor_id,
                             m->segment, m->hops, proof);
    commit->payload_bytes = serving->vote_bytes + NODE_CLAIM_MAX;
}

/* Ledger evidence: the member signs its commitment (the vote, after the
 * claim) so that the vote can be shown to the validators. */
static void member_sign(const node *self, const node_message *m, node_message *commit)
{
    const node_serving *serving = self->config.serving;
    if (serving->commit_sig_bytes == 0) {
        return;
    }
    ASSERT(commit->payload_bytes == serving->vote_bytes + serving->claim_bytes);
    uint8_t *payload = (uint8_t *)commit->payload;
    uint8_t statement[NODE_LEDGER_STATEMENT_MAX];
    size_t size = node_ledger_commit_statement(m->rumor_id, m->segment, m->step, m->hops,
                                               payload, serving->vote_bytes, statement);
    serving->verifier->evidence_sign(serving->verifier->context, self->config.node_id,
                                     statement, size, payload + commit->payload_bytes);
    commit->payload_bytes += NODE_SIGNATURE_BYTES;
}

/* An equivocating member signs a second, different commitment for the same
 * hop -- the one it would show other peers -- while it keeps the first for
 * its reveal. By default both reach the client, where the pair is proof of
 * equivocation; one that shows it to its peers (second_to: peers) sends it
 * to the other members instead, and the client sees it only when they
 * relay it (member_on_peer_commit). */
static void member_equivocate(node *self, node_outbox *outbox, const node_message *commit,
                              uint64_t at_ns)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    size_t stride = NODE_VOTE_MAX + NODE_CLAIM_MAX + serving->commit_sig_bytes;
    ASSERT(serving->payload_capacity >= 2 * stride);
    ASSERT(serving->vote_bytes >= 1 && serving->vote_bytes <= NODE_VOTE_MAX);
    ASSERT(commit->type == NODE_MESSAGE_INFER_COMMIT && commit->payload == store->payload);
    uint8_t *other = store->payload + stride;
    memcpy(other, commit->payload, commit->payload_bytes);
    other[0] ^= 1u;
    node_message second = *commit;
    second.payload = other;
    if (serving->commit_sig_bytes > 0) {
        second.payload_bytes -= NODE_SIGNATURE_BYTES; /* the same member signs it too */
        member_sign(self, commit, &second); /* the commit carries the hop's header */
    }
    if (serving->equivocate_peers_of == NULL ||
        serving->equivocate_peers_of[self->config.node_id] == 0) {
        *node__serve_send(self, outbox, NODE_MESSAGE_INFER_COMMIT, commit->dest,
                          commit->rumor_id, at_ns) = second;
        return;
    }
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t count = serving->verifier->committee(serving->verifier->context, commit->rumor_id,
                                                  commit->segment, commit->hops, members);
    ASSERT(count <= serving->committee);
    for (uint32_t j = 0; j < count; j++) {
        if (j == commit->token || members[j] == self->config.node_id) {
            continue;
        }
        node_message *shown = node__serve_send(self, outbox, NODE_MESSAGE_INFER_COMMIT,
                                               members[j], commit->rumor_id, at_ns);
        *shown = second;
        shown->dest = members[j];
    }
}

/* A peer showed this member its commitment (an equivocator's second): an
 * honest member relays it to the hop's client, marked as relayed, with
 * the signer's index; the client checks the signature. */
static int member_on_peer_commit(node *self, uint64_t now_ns, const node_message *m,
                                 node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t id = self->config.node_id;
    uint32_t member = node__committee_index(self, m->rumor_id, m->segment, m->hops);
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t count = serving->verifier->committee(serving->verifier->context, m->rumor_id,
                                                  m->segment, m->hops, members);
    ASSERT(count <= serving->committee);
    if ((m->flags & NODE_MESSAGE_FLAG_RELAYED) != 0 || serving->commit_sig_bytes == 0 ||
        member == UINT32_MAX || m->token >= count || m->token == member ||
        members[m->token] != m->source || m->origin == id ||
        !node__slot_client_is(self, m->rumor_id, m->segment,
                              m->hops * serving->committee + member, m->origin)) {
        return NODE_EMALFORMED; /* Not a peer's commitment for a hop of this member. */
    }
    ASSERT(m->payload_bytes <= serving->payload_capacity); /* validate.c: the vote's size. */
    memcpy(store->payload, m->payload, m->payload_bytes);
    node_message *relay = node__serve_send(self, outbox, NODE_MESSAGE_INFER_COMMIT, m->origin,
                                           m->rumor_id, now_ns);
    *relay = *m;
    relay->source = id;
    relay->dest = m->origin;
    relay->flags = NODE_MESSAGE_FLAG_RELAYED;
    relay->payload = store->payload;
    return 0;
}

/* A lazy member does not compute: with commit-reveal it must commit now,
 * before any output exists, so it commits to nothing it can later open;
 * then it waits for a peer's reveal to copy. */
static void member_lazy(node *self, const node_message *m, uint32_t slot, uint64_t now_ns,
                        node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint8_t *block = member_block(self, m, slot, true);
    ASSERT(block != NULL);
    ASSERT(serving->vote_bytes <= serving->payload_capacity);
    uint32_t waiting = UINT32_MAX;
    memcpy(block, &waiting, sizeof(waiting));
    if (!serving->commit_reveal) {
        return;
    }
    node_message *commit = node__serve_send(self, outbox, NODE_MESSAGE_INFER_COMMIT, m->origin,
                                            m->rumor_id, now_ns);
    node__committee_member_header(commit, m, m->token);
    for (uint32_t i = 0; i < serving->vote_bytes; i++) {
        store->payload[i] = (uint8_t)util_prng_next(&self->prng);
    }
    commit->payload = store->payload;
    commit->payload_bytes = serving->vote_bytes;
    member_claim(self, m, commit);
    member_sign(self, m, commit);
    node__attest_share(self, m, m->token, commit, now_ns, outbox);
}

bool node__committee_lazy(node *self, const node_message *m, uint32_t slot, uint64_t now_ns,
                          node_outbox *outbox)
{
    node_store *store = self->config.store;
    ASSERT(self->config.serving->verifier != NULL);
    if (store->behaviour_of[self->config.node_id] != NODE_BEHAVIOUR_LAZY_COPY) {
        return false;
    }
    member_lazy(self, m, slot, now_ns, outbox);
    return true;
}

/* A peer's reveal reaches a member: a lazy member waiting on this hop
 * copies the output, salts it with its own salt and reveals it as its own. */
static int member_on_peer_reveal(node *self, uint64_t now_ns, const node_message *m,
                                 node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    if (m->segment >= serving->segment_count || m->hops > serving->retries ||
        m->payload_bytes < NODE_SALT_BYTES) {
        return NODE_EMALFORMED;
    }
    uint32_t member = node__committee_index(self, m->rumor_id, m->segment, m->hops);
    if (member == UINT32_MAX) {
        return NODE_EMALFORMED;
    }
    ASSERT(member < serving->committee); /* The driver draws at most k. */
    uint32_t slot = m->hops * serving->committee + member;
    uint8_t *block = member_block(self, m, slot, false);
    uint32_t size = 0;
    if (block != NULL) {
        memcpy(&size, block, sizeof(size));
    }
    size_t bytes = m->payload_bytes - NODE_SALT_BYTES;
    bytes = bytes > serving->evidence_bytes ? bytes - serving->evidence_bytes : 0;
    if (block == NULL || size != UINT32_MAX ||
        sizeof(uint32_t) + NODE_SALT_BYTES + bytes + serving->evidence_bytes >
            store->reveal_pool.block_bytes) {
        return 0; /* Honest members ignore their peers' reveals. */
    }
    size = (uint32_t)bytes;
    ASSERT(size != UINT32_MAX); /* Bounded by the block just above. */
    memcpy(block, &size, sizeof(size));
    serving->verifier->salt(serving->verifier->context, self->config.node_id, m->rumor_id,
                            m->segment, m->hops, block + sizeof(uint32_t));
    memcpy(block + sizeof(uint32_t) + NODE_SALT_BYTES, m->payload + NODE_SALT_BYTES,
           bytes + serving->evidence_bytes);
    node_message reveal_for = *m;
    reveal_for.token = member;
    member_reveal(self, &reveal_for, member, block, now_ns, outbox);
    return 0;
}

/* The enclave's signature for one hop, through the driver's vendor key. */
typedef struct member_attest_context {
    const node_serving *serving;
    uint32_t member;
    uint64_t request;
    uint32_t segment, step;
} member_attest_context;

static void member_attest(void *context, bool right_model, const void *bytes, size_t size,
                          uint8_t evidence_out[CONS_ATTEST_BYTES])
{
    const member_attest_context *c = context;
    const node_verifier *verifier = c->serving->verifier;
    ASSERT(verifier != NULL && verifier->attest != NULL);
    verifier->attest(verifier->context, c->member, c->request, c->segment, c->step, right_model,
                     bytes, size, evidence_out);
}

/* The evidence after a reveal's output (the protocol's: an attestation, a
 * proof). A compromised enclave attests whatever it reveals; a member that
 * runs other weights cannot attest the right model. */
static void member_evidence(node *self, const node_message *m, const float *honest,
                            size_t n_floats, bool cheated, const uint8_t *bytes, size_t size,
                            uint8_t *evidence)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t id = self->config.node_id;
    uint8_t behaviour = store->behaviour_of[id];
    ASSERT(serving->evidence_bytes > 0); /* Called only when a reveal carries evidence. */
    ASSERT(behaviour < NODE_BEHAVIOUR_COUNT);
    memset(evidence, 0, serving->evidence_bytes);
    if (serving->protocol->evidence == NULL) {
        return;
    }
    bool forge = behaviour == NODE_BEHAVIOUR_FORGE_ATTESTATION;
    member_attest_context context = {serving, id, m->rumor_id, m->segment, m->step};
    cons_evidence_input input = {
        .cheated = cheated,
        .forged = forge,
        .right_model = forge || (behaviour != NODE_BEHAVIOUR_WRONG_MODEL &&
                                 behaviour != NODE_BEHAVIOUR_WRONG_LAYER),
        .honest = honest,
        .honest_size = n_floats * sizeof(float),
        .bytes = bytes,
        .size = size,
        .attest = member_attest,
        .context = &context,
    };
    serving->protocol->evidence(&input, evidence);
}

void node_forward_member_evidence(const node_serving *serving, uint32_t node_id,
                                  const node_forward_member *member, const float *honest,
                                  size_t n_floats)
{
    ASSERT(serving->evidence_bytes > 0 && serving->protocol->evidence != NULL);
    member_attest_context context = {serving, node_id, member->request, member->segment,
                                     member->step};
    cons_evidence_input input = {
        .right_model = true,
        .honest = honest,
        .honest_size = n_floats * sizeof(float),
        .bytes = member->bytes,
        .size = member->vote.size,
        .attest = member_attest,
        .context = &context,
    };
    uint8_t *evidence = member->bytes + member->vote.size;
    memset(evidence, 0, serving->evidence_bytes);
    serving->protocol->evidence(&input, evidence);
}

/* Takes the member's reveal block for the hop and writes the output's
 * size and the member's salt into it; the output's bytes follow. */
static uint8_t *member_block_salted(node *self, const node_message *m, uint32_t slot,
                                    uint32_t *size_out)
{
    const node_serving *serving = self->config.serving;
    const node_verifier *verifier = serving->verifier;
    bool last = m->segment + 1u == serving->segment_count;
    uint8_t *block = member_block(self, m, slot, true);
    ASSERT(block != NULL); /* Sized by the requests in flight. */
    uint32_t size = (uint32_t)(last ? infer_wire_bytes(INFER_DTYPE_FP32, 1, serving->vocab)
                                    : infer_wire_bytes(serving->wire_dtype, m->count, serving->dim));
    ASSERT(sizeof(uint32_t) + NODE_SALT_BYTES + (size_t)size + serving->evidence_bytes <=
           self->config.store->reveal_pool.block_bytes);
    memcpy(block, &size, sizeof(size));
    verifier->salt(verifier->context, self->config.node_id, m->rumor_id, m->segment, m->hops,
                   block + sizeof(uint32_t));
    *size_out = size;
    return block;
}

/* The input of the member's vote over 'size' output bytes after 'salt'. */
static cons_vote_input member_vote_input(const node *self, const node_message *m,
                                         uint32_t member, const uint8_t *salt, uint32_t size)
{
    const node_serving *serving = self->config.serving;
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t n = serving->verifier->committee(serving->verifier->context, m->rumor_id, m->segment,
                                              m->hops, members);
    ASSERT(n <= serving->committee);
    ASSERT(member < n);
    return (cons_vote_input){.bytes = salt + NODE_SALT_BYTES, .size = size, .salt = salt,
                             .member_id = self->config.node_id, .member = member,
                             .member_count = n};
}

bool node__committee_member_hand(node *self, const node_message *m, uint32_t slot,
                                 node_forward_member *out)
{
    const node_serving *serving = self->config.serving;
    if ((serving->evidence_bytes != 0 && serving->protocol->evidence == NULL) ||
        self->config.store->behaviour_of[self->config.node_id] != NODE_BEHAVIOUR_HONEST) {
        return false;
    }
    ASSERT(!serving->commit_reveal ||
           (serving->vote_bytes >= 1 && serving->vote_bytes <= serving->payload_capacity));
    uint32_t size = 0;
    uint8_t *salt = member_block_salted(self, m, slot, &size) + sizeof(uint32_t);
    *out = (node_forward_member){.bytes = salt + NODE_SALT_BYTES,
                                 .vote = member_vote_input(self, m, m->token, salt, size),
                                 .request = m->rumor_id,
                                 .segment = m->segment,
                                 .step = m->step,
                                 .round = m->hops};
    if (serving->claim_bytes > 0) {
        serving->verifier->claim(serving->verifier->context, self->config.node_id, m->rumor_id,
                                 m->segment, m->hops, out->claim);
    }
    return true;
}

/* Every message sent from effect 'first' on carries the call's result. */
static void member_handed_tickets(node_outbox *outbox, uint32_t first, uint32_t ticket)
{
    for (uint32_t i = first; i < outbox->count; i++) {
        if (outbox->effects[i].kind == NODE_EFFECT_SEND) {
            outbox->effects[i].forward_ticket = ticket;
        }
    }
}

void node__committee_member_handed(node *self, const node_message *m,
                                   const node_forward_member *member, uint32_t ticket,
                                   uint64_t at_ns, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    uint32_t first = outbox->count;
    if (serving->commit_reveal) {
        /* The commitment, and under timeout evidence its copies to the
         * peers: every copy carries the ticket. */
        node_message *commit = node__serve_send(self, outbox, NODE_MESSAGE_INFER_COMMIT,
                                                m->origin, m->rumor_id, at_ns);
        node__committee_member_header(commit, m, m->token);
        commit->payload = NULL;
        commit->payload_bytes =
            serving->vote_bytes + serving->claim_bytes + serving->commit_sig_bytes;
        node__attest_share(self, m, m->token, commit, at_ns, outbox);
        member_handed_tickets(outbox, first, ticket);
        return;
    }
    /* The reveal at once, to the client and the other members. */
    node_message *out = node__serve_send(self, outbox, NODE_MESSAGE_INFER_REVEAL, m->origin,
                                         m->rumor_id, at_ns);
    node__committee_member_header(out, m, m->token);
    out->payload = NULL;
    out->payload_bytes = NODE_SALT_BYTES + member->vote.size + serving->evidence_bytes;
    node__committee_to_peers(self, outbox, m, m->token, out, at_ns);
    member_handed_tickets(outbox, first, ticket);
}

void node__committee_member_output(node *self, const node_message *m, uint32_t slot,
                                   const float *output, size_t n_floats, uint64_t end_ns,
                                   node_outbox *outbox)
{
    uint32_t member = m->token;
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    bool last = m->segment + 1u == serving->segment_count;
    uint8_t behaviour = store->behaviour_of[self->config.node_id];
    /* The server ran its layers wrong (other weights, a corrupted layer). */
    bool ran_wrong =
        (behaviour == NODE_BEHAVIOUR_WRONG_MODEL || behaviour == NODE_BEHAVIOUR_WRONG_LAYER) &&
        node__committee_cheats(self, m->rumor_id, m->segment);
    ASSERT(n_floats <= serving->output_floats); /* The member's own output. */
    float *mine = store->decoded;
    memcpy(mine, output, n_floats * sizeof(float));
    committee_act act = ran_wrong ? COMMITTEE_CHEATED
                                  : committee_misbehave(self, m, slot, mine, n_floats, end_ns,
                                                        outbox);
    bool cheated = act == COMMITTEE_CHEATED;
    uint32_t size = 0;
    uint8_t *block = member_block_salted(self, m, slot, &size);
    uint8_t *bytes = block + sizeof(uint32_t) + NODE_SALT_BYTES;
    if (last) {
        infer_wire_encode(INFER_DTYPE_FP32, mine, 1, serving->vocab, bytes);
    } else {
        infer_wire_encode(serving->wire_dtype, mine, m->count, serving->dim, bytes);
    }
    if (serving->evidence_bytes > 0) {
        member_evidence(self, m, output, n_floats, cheated, bytes, size, bytes + size);
    }
    if (act == COMMITTEE_AWAIT) {
        node__cartel_wait(self, m, slot, end_ns, outbox); /* Its honest output, kept. */
        return;
    }
    node__committee_member_send(self, m, member, block, end_ns, outbox);
}

void node__committee_member_send(node *self, const node_message *m, uint32_t member,
                                 uint8_t *block, uint64_t at_ns, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t size = 0;
    memcpy(&size, block, sizeof(size));
    ASSERT(size != UINT32_MAX); /* A computed output, not a lazy member's wait. */
    uint8_t *salt = block + sizeof(uint32_t);
    if (!serving->commit_reveal) {
        member_reveal(self, m, member, block, at_ns, outbox);
        return;
    }
    node_message *commit = node__serve_send(self, outbox, NODE_MESSAGE_INFER_COMMIT, m->origin,
                                            m->rumor_id, at_ns);
    node__committee_member_header(commit, m, member);
    /* The vote is the protocol's: a commitment, or sampling's [root, leaf]
     * over the members of its committee. */
    cons_vote_input input = member_vote_input(self, m, member, salt, size);
    serving->protocol->vote(&input, store->payload);
    commit->payload = store->payload;
    commit->payload_bytes = serving->vote_bytes;
    member_claim(self, m, commit);
    member_sign(self, m, commit);
    node__attest_share(self, m, member, commit, at_ns, outbox);
    if (store->behaviour_of[self->config.node_id] == NODE_BEHAVIOUR_EQUIVOCATE) {
        member_equivocate(self, outbox, commit, at_ns);
    }
}

/* REVEAL_ASK: the commit phase closed; a member that committed reveals. */
static int member_on_ask(node *self, uint64_t now_ns, const node_message *m, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t member = m->token;
    if (m->segment >= serving->segment_count || member >= serving->committee ||
        m->hops > serving->retries ||
        node__committee_index(self, m->rumor_id, m->segment, m->hops) != member ||
        !node__slot_client_is(self, m->rumor_id, m->segment, m->hops * serving->committee + member,
                              m->source)) {
        return NODE_EMALFORMED;
    }
    const uint8_t *block = member_block(self, m, m->hops * serving->committee + member, false);
    uint32_t size = 0;
    if (block != NULL) {
        memcpy(&size, block, sizeof(size));
    }
    if (block == NULL || size == UINT32_MAX ||
        store->behaviour_of[self->config.node_id] == NODE_BEHAVIOUR_SILENT ||
        node__cartel_waiting(self, m->rumor_id, m->segment, m->hops * serving->committee + member)) {
        /* Nothing to reveal (never computed, silent, a lazy one still
         * waiting, or a cartel member that has not committed yet). */
        return 0;
    }
    member_reveal(self, m, member, block, now_ns, outbox);
    return 0;
}

/* ---- client ---- */

/* Validates a COMMIT or REVEAL against the client's state. Returns the
 * member index, or UINT32_MAX for a message that does not belong. */
#define CLIENT_STALE (UINT32_MAX - 1)

/* Returns the member index, CLIENT_STALE for a vote of a phase that is
 * over (a late or relayed copy: dropped quietly), or UINT32_MAX for a
 * message that cannot be a vote of this request (rejected). */
static uint32_t client_member_of(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    const node_committee_state *state = &store->committees[m->rumor_id];
    const node_request *r = client_request(self, m->rumor_id);
    uint32_t member = m->token;
    ASSERT(state->member_count <= serving->committee);
    if (r == NULL || member >= serving->committee) {
        return UINT32_MAX;
    }
    if (r->status != 0 || state->block == 0 || m->segment != state->segment ||
        m->hops != state->round || m->step != r->generated) {
        return CLIENT_STALE;
    }
    bool relayed = (m->flags & NODE_MESSAGE_FLAG_RELAYED) != 0;
    if (member >= state->member_count || (!relayed && state->members[member] != m->source)) {
        return UINT32_MAX;
    }
    for (uint32_t j = 0; relayed && j < state->member_count; j++) {
        if (j != member && state->members[j] == m->source) {
            return member; /* Relayed by another member of the committee. */
        }
    }
    return relayed ? UINT32_MAX : member;
}

/* What the client has seen of the request's step, for the protocol;
 * 'outputs' (NODE_COMMITTEE_MAX entries) receives the members' outputs. */
static void client_tally(const node *self, const node_committee_state *state,
                         uint64_t request, const float **outputs, cons_tally *tally)
{
    const node_serving *serving = self->config.serving;
    const node_request *r = client_request(self, request);
    ASSERT(r != NULL);
    ASSERT(state->block != 0);
    ASSERT(state->member_count <= NODE_COMMITTEE_MAX);
    ASSERT(state->segment < serving->segment_count);
    for (uint32_t j = 0; j < state->member_count; j++) {
        outputs[j] = committee_output(self, state, j);
    }
    *tally = (cons_tally){
        .params = &serving->protocol_params,
        .member_count = state->member_count,
        .phase = state->phase,
        .dispute = state->dispute,
        .committed = state->committed,
        .revealed = state->revealed,
        .answered = state->answered,
        .equivocated = state->equivocated,
        .asked = state->asked,
        .vote_agree = state->vote_agree,
        .segment_count = serving->segment_count,
        .segment_layers = serving->segment_layers[state->segment],
        .last_segment = state->segment + 1u == serving->segment_count,
        .outputs = outputs,
        .n_floats = committee_floats(serving, state->segment, committee_rows(r)),
        .agree = serving->verifier->agree,
        .accept = serving->verifier->accept,
        .context = serving->verifier->context,
    };
}

/* The protocol's invariants over the client's own state of 'request', after
 * every committee message or timer it handled (its state, not a peer's
 * bytes: a broken invariant is a bug here). */
static void client_check(const node *self, uint64_t request)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    const node_committee_state *state = &store->committees[request];
    if (client_request(self, request) == NULL || state->block == 0 ||
        state->member_count == 0) {
        return; /* Not this node's request, or no step drawn yet. */
    }
    ASSERT(serving->protocol != NULL && serving->protocol->check_invariants != NULL);
    const float *outputs[NODE_COMMITTEE_MAX];
    cons_tally tally;
    client_tally(self, state, request, outputs, &tally);
    const char *broken = serving->protocol->check_invariants(&tally);
    if (broken != NULL) {
        fprintf(stderr, "committee invariant broken: %s (request %llu)\n", broken,
                (unsigned long long)request);
    }
    ASSERT(broken == NULL);
}

/* Asks the members in 'ask' to reveal and opens the reveal phase. */
static void client_ask_reveals(node *self, node_outbox *outbox, uint64_t request, uint64_t ask,
                               uint64_t now_ns)
{
    node_store *store = self->config.store;
    node_committee_state *state = &store->committees[request];
    const node_request *r = client_request(self, request);
    ASSERT(r != NULL);
    ASSERT((ask & ~cons_members_all(state->member_count)) == 0);
    ASSERT(state->block != 0 && r->status == 0);
    state->asked |= ask;
    for (uint32_t j = 0; j < state->member_count; j++) {
        if ((ask >> j) & 1u) {
            node_message *m = node__serve_send(self, outbox, NODE_MESSAGE_INFER_REVEAL_ASK,
                                               state->members[j], request, now_ns);
            committee_header(m, r, state->segment, state->round, j);
        }
    }
    committee_phase(self, outbox, request, CONS_PHASE_REVEAL, now_ns);
}

/* The commit phase closed: the protocol says who reveals first. */
static void client_close_commits(node *self, node_outbox *outbox, uint64_t request,
                                 uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    ASSERT(serving->commit_reveal);
    ASSERT(store->committees[request].phase == CONS_PHASE_COMMIT);
    node_committee_state *state = &store->committees[request];
    client_skip(state, cons_members_all(state->member_count) & ~state->committed, now_ns);
    const float *outputs[NODE_COMMITTEE_MAX];
    cons_tally tally;
    client_tally(self, &store->committees[request], request, outputs, &tally);
    client_ask_reveals(self, outbox, request, serving->protocol->reveal_ask(&tally), now_ns);
}

static void client_decide(node *self, node_outbox *outbox, uint64_t request, uint64_t now_ns);
static void client_reveals_close(node *self, node_outbox *outbox, uint64_t request,
                                 uint64_t now_ns);

/* Ledger evidence: the member's signature of its commitment checks out
 * (or there is none to check). */
static bool client_commit_signed(const node *self, const node_message *m, uint32_t signer)
{
    const node_serving *serving = self->config.serving;
    if (serving->commit_sig_bytes == 0) {
        return true;
    }
    const uint8_t *payload = m->payload;
    uint8_t statement[NODE_LEDGER_STATEMENT_MAX];
    size_t size = node_ledger_commit_statement(m->rumor_id, m->segment, m->step, m->hops,
                                               payload, serving->vote_bytes, statement);
    return serving->verifier->evidence_verify(serving->verifier->context, signer, statement,
                                              size,
                                              payload + serving->vote_bytes + serving->claim_bytes);
}

/* Keeps a signed commitment for the ledger: the first one's signature, or
 * an equivocator's second vote and its signature (the first such). */
static void client_keep_commit(const node *self, const node_committee_state *state,
                               const node_message *m, uint32_t member, bool second)
{
    const node_serving *serving = self->config.serving;
    if (serving->commit_sig_bytes == 0 || (second && ((state->equivocated >> member) & 1u))) {
        return;
    }
    uint8_t *evidence = committee_evidence(self, state, member);
    const uint8_t *signature = m->payload + serving->vote_bytes + serving->claim_bytes;
    if (second) {
        memcpy(evidence + COMMITTEE_EVIDENCE_VOTE2, m->payload, serving->vote_bytes);
        memcpy(evidence + COMMITTEE_EVIDENCE_SIGNATURE2, signature, NODE_SIGNATURE_BYTES);
    } else {
        memcpy(evidence + COMMITTEE_EVIDENCE_SIGNATURE, signature, NODE_SIGNATURE_BYTES);
    }
}

/* A commitment of member 'member' that another member relays: signed by
 * the member (else refused), it never counts as its vote -- only, against
 * the vote the member sent the client, as the second of an equivocating
 * pair. One relayed before the member's own commitment is dropped. */
static int client_on_relayed_commit(node *self, node_committee_state *state,
                                    const node_message *m, uint32_t member)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    if (serving->commit_sig_bytes == 0 ||
        !client_commit_signed(self, m, state->members[member])) {
        return NODE_EMALFORMED;
    }
    if (((state->committed >> member) & 1u) &&
        memcmp(committee_digest(store, state, member), m->payload, serving->vote_bytes) != 0) {
        client_keep_commit(self, state, m, member, true);
        state->equivocated |= UINT64_C(1) << member;
    }
    return 0;
}

static int client_on_commit(node *self, uint64_t now_ns, const node_message *m,
                            node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    node_committee_state *state = &store->committees[m->rumor_id];
    uint32_t member = client_member_of(self, m);
    if (member == UINT32_MAX ||
        m->payload_bytes !=
            serving->vote_bytes + serving->claim_bytes + serving->commit_sig_bytes ||
        !serving->commit_reveal) {
        return NODE_EMALFORMED;
    }
    if (member == CLIENT_STALE) {
        return 0;
    }
    ASSERT(member < state->member_count && state->block != 0); /* client_member_of checked. */
    if ((m->flags & NODE_MESSAGE_FLAG_RELAYED) != 0) {
        return client_on_relayed_commit(self, state, m, member);
    }
    /* selection vrf: no vote counts before its proof of membership checks
     * out; a forged one is refused (and recorded by the driver), so the
     * member never commits and is judged as one that timed out. */
    if (serving->claim_bytes > 0 && !((state->committed >> member) & 1u) &&
        !serving->verifier->claim_check(serving->verifier->context, m->source, m->rumor_id,
                                        m->segment, m->hops,
                                        (const uint8_t *)m->payload + serving->vote_bytes)) {
        return NODE_EMALFORMED;
    }
    if (!client_commit_signed(self, m, m->source)) {
        return NODE_EMALFORMED;
    }
    if ((state->committed >> member) & 1u) {
        /* The first commitment binds; a different second one is proof of
         * equivocation (both are signed by the member). */
        if (memcmp(committee_digest(store, state, member), m->payload, serving->vote_bytes) !=
            0) {
            client_keep_commit(self, state, m, member, true);
            state->equivocated |= UINT64_C(1) << member;
        }
        return 0;
    }
    if (state->phase != CONS_PHASE_COMMIT) {
        return 0; /* Too late. */
    }
    memcpy(committee_digest(store, state, member), m->payload, serving->vote_bytes);
    client_keep_commit(self, state, m, member, false);
    state->committed |= UINT64_C(1) << member;
    state->suspected &= ~(UINT64_C(1) << member); /* It answered: no longer suspected. */
    ASSERT((state->committed & ~cons_members_all(state->member_count)) == 0);
    if (client_commits_in(state)) {
        client_close_commits(self, outbox, m->rumor_id, now_ns);
    }
    return 0;
}

/* The driver's check of an attestation by the sender of 'm'. */
typedef struct client_attest_context {
    const node_serving *serving;
    const node_message *m;
} client_attest_context;

static bool client_attest_verify(void *context, const void *bytes, size_t size,
                                 const uint8_t evidence[CONS_ATTEST_BYTES])
{
    const client_attest_context *c = context;
    const node_verifier *verifier = c->serving->verifier;
    ASSERT(verifier != NULL && verifier->attest_verify != NULL);
    return verifier->attest_verify(verifier->context, c->m->source, c->m->rumor_id,
                                   c->m->segment, c->m->step, bytes, size, evidence);
}

/* The reveal's evidence (after its output bytes) under the protocol. */
static bool client_evidence_verify(const node_serving *serving, const node_message *m,
                                   const uint8_t *bytes, size_t size)
{
    ASSERT(serving->protocol->evidence_verify != NULL);
    client_attest_context context = {serving, m};
    cons_evidence_check check = {.evidence = bytes + size,
                                 .evidence_bytes = serving->evidence_bytes,
                                 .bytes = bytes,
                                 .size = size,
                                 .attest_verify = client_attest_verify,
                                 .context = &context};
    return serving->protocol->evidence_verify(&check);
}

/* Checks a reveal against the votes (the protocol's opening) and its
 * evidence, and decodes it; false: invalid (held against the member). */
static bool client_open(const node *self, node_committee_state *state,
                        const node_message *m, uint32_t member)
{
    const node_serving *serving = self->config.serving;
    const node_request *r = client_request(self, m->rumor_id);
    ASSERT(r != NULL); /* client_member_of found the request. */
    ASSERT(member < state->member_count && m->segment == state->segment);
    bool last = m->segment + 1u == serving->segment_count;
    uint32_t rows = committee_rows(r);
    ASSERT(committee_floats(serving, m->segment, rows) <= serving->output_floats);
    size_t size = last ? infer_wire_bytes(INFER_DTYPE_FP32, 1, serving->vocab)
                       : infer_wire_bytes(serving->wire_dtype, rows, serving->dim);
    if (m->payload_bytes != NODE_SALT_BYTES + size + serving->evidence_bytes) {
        return false;
    }
    const uint8_t *bytes = m->payload + NODE_SALT_BYTES;
    cons_opening opening = {.bytes = bytes, .size = size, .salt = m->payload,
                            .member_id = m->source, .member = member,
                            .member_count = state->member_count, .committed = state->committed,
                            .votes = committee_digest(self->config.store, state, 0),
                            .commit_reveal = serving->commit_reveal};
    uint64_t opened = serving->protocol->open(&opening);
    if (state->dispute == CONS_DISPUTE_NONE) {
        state->vote_agree = opened;
    }
    if (!((opened >> member) & 1u)) {
        return false;
    }
    if (serving->protocol->evidence_verify != NULL &&
        !client_evidence_verify(serving, m, bytes, size)) {
        return false;
    }
    if (serving->commit_sig_bytes > 0) {
        memcpy(committee_evidence(self, state, member) + COMMITTEE_EVIDENCE_SALT, m->payload,
               NODE_SALT_BYTES);
    }
    float *out = committee_output(self, state, member);
    int rc = last ? infer_wire_decode(INFER_DTYPE_FP32, bytes, size, 1, serving->vocab, out)
                  : infer_wire_decode(serving->wire_dtype, bytes, size, rows, serving->dim, out);
    return rc == 0;
}

static int client_on_reveal(node *self, uint64_t now_ns, const node_message *m,
                            node_outbox *outbox)
{
    node_store *store = self->config.store;
    node_committee_state *state = &store->committees[m->rumor_id];
    uint32_t member = client_member_of(self, m);
    if (member == UINT32_MAX) {
        return NODE_EMALFORMED;
    }
    if (member == CLIENT_STALE) {
        return 0;
    }
    ASSERT(member < state->member_count && state->block != 0); /* client_member_of checked. */
    if (state->phase != CONS_PHASE_REVEAL || ((state->answered >> member) & 1u)) {
        return 0;
    }
    if (client_open(self, state, m, member)) {
        state->revealed |= UINT64_C(1) << member;
    }
    state->answered |= UINT64_C(1) << member; /* A reveal that fails still ends its turn. */
    state->suspected &= ~(UINT64_C(1) << member);
    ASSERT((state->revealed & ~state->answered) == 0);
    if (!client_reveals_in(state)) {
        return 0;
    }
    client_reveals_close(self, outbox, m->rumor_id, now_ns);
    return 0;
}

/* Every reveal the client waits for is in: the protocol decides, or holds
 * first. */
static void client_reveals_close(node *self, node_outbox *outbox, uint64_t request,
                                 uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    node_committee_state *state = &store->committees[request];
    client_skip(state, state->asked & ~state->answered, now_ns);
    uint64_t hold_ns = 0;
    if (serving->protocol->settle_hold(&serving->protocol_params, &hold_ns)) {
        committee_phase_until(store, outbox, request, CONS_PHASE_HOLD, now_ns + hold_ns);
        return;
    }
    client_decide(self, outbox, request, now_ns);
}

/* The step failed to settle: a fresh committee restarts the request, or,
 * after 'retries' fresh committees, the request fails. */
static void client_next_round(node *self, node_outbox *outbox, uint64_t request, uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    node_committee_state *state = &store->committees[request];
    ASSERT(state->round <= serving->retries);
    node__serve_observe(outbox, NODE_OBS_NO_QUORUM, request, state->segment, state->round);
    if (state->round >= serving->retries) {
        node__client_finish(self, outbox, request, NODE_REQUEST_FAILED, now_ns);
        return;
    }
    node__committee_end(self, outbox, request, now_ns); /* The old members drop their caches. */
    state->round += 1;
    ASSERT(state->round <= serving->retries);
    node__serve_observe(outbox, NODE_OBS_RESAMPLE, request, state->segment, state->round);
    node_request *r = client_request(self, request);
    ASSERT(r != NULL);
    r->generated = 0;
    node__committee_send_input(self, outbox, request, 0, NULL, now_ns);
}

/* Appends evidence item 'e' (filled in) to 'tx' when it fits. */
static bool client_evidence_append(node_ledger_tx *tx)
{
    tx->evidence_count += 1;
    if (node_ledger_tx_size(tx) > CONS_BFT_TX_BYTES_MAX) {
        tx->evidence_count -= 1;
        return false;
    }
    return true;
}

/* The referee's ruling on member j's valid output: the referee signs only
 * an output that opens j's vote and that its own re-execution refutes. */
static bool client_ruling(const node *self, const node_committee_state *state,
                          const node_ledger_tx *tx, uint32_t j, uint8_t *signature_out)
{
    const node_serving *serving = self->config.serving;
    node_ruling ruling = {
        .request = tx->request,
        .segment = tx->segment,
        .step = tx->step,
        .round = tx->round,
        .member = j,
        .member_id = state->members[j],
        .member_count = state->member_count,
        .rows = tx->rows,
        .last_segment = tx->segment + 1u == serving->segment_count,
        .vote = committee_digest(self->config.store, state, j),
        .salt = committee_evidence(self, state, j) + COMMITTEE_EVIDENCE_SALT,
        .output = committee_output(self, state, j),
        .n_floats = committee_floats(serving, tx->segment, tx->rows),
    };
    return serving->verifier->referee_rule(serving->verifier->context, &ruling, signature_out);
}

/* Evidence for member j's penalty, appended to 'tx' when it fits: an
 * equivocator's two signed votes, or its signed vote with the referee's
 * ruling on its output. false: nothing proves it (the validators would
 * refuse the penalty, so the client leaves it out). A framing client
 * shows the member's real signed vote with a ruling it made up. */
static bool client_evidence(node *self, const node_committee_state *state, uint32_t j,
                            bool frame, node_ledger_tx *tx)
{
    const node_serving *serving = self->config.serving;
    uint32_t vote_bytes = serving->vote_bytes;
    if (tx->evidence_count >= NODE_LEDGER_EVIDENCE_MAX || !((state->committed >> j) & 1u)) {
        return false;
    }
    node_ledger_evidence *e = &tx->evidence[tx->evidence_count];
    const uint8_t *kept = committee_evidence(self, state, j);
    memset(e, 0, sizeof(*e));
    e->member = (uint8_t)j;
    memcpy(e->body, committee_digest(self->config.store, state, j), vote_bytes);
    memcpy(e->body + vote_bytes, kept + COMMITTEE_EVIDENCE_SIGNATURE, NODE_SIGNATURE_BYTES);
    uint8_t *rest = e->body + vote_bytes + NODE_SIGNATURE_BYTES;
    if (!frame && ((state->equivocated >> j) & 1u)) {
        e->kind = NODE_EVIDENCE_EQUIVOCATION;
        memcpy(rest, kept + COMMITTEE_EVIDENCE_VOTE2, vote_bytes);
        memcpy(rest + vote_bytes, kept + COMMITTEE_EVIDENCE_SIGNATURE2, NODE_SIGNATURE_BYTES);
        e->size = (uint16_t)(2 * (vote_bytes + NODE_SIGNATURE_BYTES));
        return client_evidence_append(tx);
    }
    e->kind = NODE_EVIDENCE_REFEREE;
    e->size = (uint16_t)(vote_bytes + 2 * NODE_SIGNATURE_BYTES);
    if (frame) {
        for (uint32_t i = 0; i < NODE_SIGNATURE_BYTES; i++) {
            rest[i] = (uint8_t)util_prng_next(&self->prng);
        }
        return client_evidence_append(tx);
    }
    if (!((state->revealed >> j) & 1u) || !client_ruling(self, state, tx, j, rest)) {
        return false;
    }
    return client_evidence_append(tx);
}

/* Ledger settlement: the decision's verdicts as one transaction to the
 * validators; the ledger applies them when a block carrying it commits.
 * With evidence required, a penalty goes in only with its evidence. */
static void client_judge_ledger(node *self, node_outbox *outbox,
                                const node_committee_state *state, uint64_t request,
                                const cons_decision *decision, uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    const node_request *r = client_request(self, request);
    bool frame = self->config.store->behaviour_of[self->config.node_id] == NODE_BEHAVIOUR_FRAME;
    node_ledger_tx tx;
    memset(&tx, 0, sizeof(tx));
    ASSERT(r != NULL && state->member_count <= NODE_LEDGER_TX_MEMBERS_MAX);
    tx.member_count = state->member_count;
    tx.segment = state->segment;
    tx.request = request;
    tx.step = r->generated;
    tx.round = state->round;
    tx.rows = committee_rows(r);
    for (uint32_t j = 0; j < state->member_count; j++) {
        tx.members[j] = state->members[j];
        tx.verdicts[j] = ((decision->judged >> j) & 1u)
                             ? (uint8_t)cons_decision_verdict(decision, state->answered, j)
                             : NODE_LEDGER_TX_UNJUDGED;
    }
    for (uint32_t j = 0; j < state->member_count && serving->ledger_evidence; j++) {
        bool penalty = tx.verdicts[j] != CONS_VERDICT_AGREED &&
                       tx.verdicts[j] != NODE_LEDGER_TX_UNJUDGED;
        /* Timeout evidence: a member that never committed waits for its
         * peers' attestations (node__attest_claim). */
        bool attested = serving->ledger_timeout_evidence &&
                        tx.verdicts[j] == CONS_VERDICT_TIMEOUT && !((state->committed >> j) & 1u);
        if (penalty && !attested && !client_evidence(self, state, j, frame, &tx) && !frame) {
            tx.verdicts[j] = NODE_LEDGER_TX_UNJUDGED;
        }
    }
    if (serving->ledger_timeout_evidence &&
        node__attest_claim(self, now_ns, outbox, &tx, state->committed, frame)) {
        return;
    }
    node__ledger_submit(self, now_ns, outbox, &tx);
}

/* A framing client (NODE_BEHAVIOUR_FRAME) reports every member of the
 * decision as provably wrong, whatever it saw. */
static void client_frame(const node *self, const node_committee_state *state,
                         cons_decision *decision)
{
    if (self->config.store->behaviour_of[self->config.node_id] != NODE_BEHAVIOUR_FRAME ||
        (decision->action != CONS_ACTION_SETTLE && decision->action != CONS_ACTION_ROUND)) {
        return;
    }
    decision->judged = cons_members_all(state->member_count);
    decision->agreed = 0;
    decision->proven = decision->judged;
}

/* One 'judged' per member the decision judges, then 'decided' (instant
 * settlement), or a transaction to the ledger. */
static void client_judge(node *self, node_outbox *outbox, const node_committee_state *state,
                         uint64_t request, const cons_decision *decision, uint64_t now_ns)
{
    const node_verifier *verifier = self->config.serving->verifier;
    const node_request *r = client_request(self, request);
    ASSERT(r != NULL);
    ASSERT((decision->judged & ~cons_members_all(state->member_count)) == 0);
    if (self->config.serving->ledger_settlement) {
        client_judge_ledger(self, outbox, state, request, decision, now_ns);
        return;
    }
    for (uint32_t j = 0; j < state->member_count; j++) {
        if ((decision->judged >> j) & 1u) {
            verifier->judged(verifier->context, state->members[j],
                             cons_decision_verdict(decision, state->answered, j), request,
                             state->segment);
        }
    }
    verifier->decided(verifier->context, request, state->segment, committee_rows(r));
}

/* Reports the decision (NODE_OBS_DECISION) that settles or abandons the
 * step: the committee, what each member did and its verdict. Called after
 * client_judge, so the driver's ledger already holds the verdicts. */
static void client_report(node *self, node_outbox *outbox, const node_committee_state *state,
                          uint64_t request, const cons_decision *decision)
{
    node_store *store = self->config.store;
    const node_request *r = client_request(self, request);
    ASSERT(r != NULL);
    ASSERT(store->decision_count < NODE_DECISIONS_PER_CALL);
    node_decision *d = &store->decisions[store->decision_count++];
    d->request = request;
    d->segment = state->segment;
    d->step = r->generated;
    d->round = state->round;
    d->action = (uint32_t)decision->action;
    d->accepted = decision->action == CONS_ACTION_SETTLE ? decision->member : UINT32_MAX;
    d->dispute = decision->dispute;
    d->member_count = state->member_count;
    memcpy(d->members, state->members, state->member_count * sizeof(d->members[0]));
    d->committed = state->committed;
    d->answered = state->answered;
    d->revealed = decision->revealed;
    d->equivocated = state->equivocated;
    d->judged = decision->judged & cons_members_all(state->member_count);
    d->skipped = state->skipped;
    for (uint32_t j = 0; j < state->member_count; j++) {
        d->verdicts[j] = (uint8_t)cons_decision_verdict(decision, state->answered, j);
    }
    node_effect *effect = node__effect_append(outbox, NODE_EFFECT_OBSERVE);
    effect->observation = NODE_OBS_DECISION;
    effect->rumor_id = request;
    effect->segment = state->segment;
    effect->value = d->step;
    effect->decision = d;
}

/* The step settled on member 'member''s output: on to the next segment, or
 * the token from the last one's logits. */
static void client_proceed(node *self, node_outbox *outbox, uint64_t request, uint32_t member,
                           uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    node_committee_state *state = &store->committees[request];
    const node_request *r = client_request(self, request);
    ASSERT(r != NULL);
    /* The protocol settles only on an output the client opened and decoded. */
    ASSERT(member < state->member_count && ((state->revealed >> member) & 1u));
    const float *output = committee_output(self, state, member);
    state->phase = CONS_PHASE_IDLE;
    if (state->segment + 1u != serving->segment_count) {
        /* Privacy: the client is the boundary's sender; the referee of the
         * next segment re-executes on what its members received. */
        size_t n = (size_t)committee_rows(r) * serving->dim;
        if ((serving->privacy_mask >> (state->segment + 1u)) & 1u) {
            memcpy(store->x, output, n * sizeof(float));
            node__privacy_release(self, outbox, request, state->segment + 1u, r->generated,
                                  state->round, store->x, committee_rows(r));
            output = store->x;
        }
        serving->verifier->accepted(serving->verifier->context, request, state->segment,
                                    state->round, state->members[member], output,
                                    (size_t)committee_rows(r) * serving->dim);
        node__committee_send_input(self, outbox, request, state->segment + 1u, output, now_ns);
        return;
    }
    node_effect *logits = node__effect_append(outbox, NODE_EFFECT_OBSERVE);
    logits->observation = NODE_OBS_LOGITS;
    logits->rumor_id = request;
    logits->segment = state->segment;
    logits->value = r->generated;
    logits->data = output;
    node__client_token(self, outbox, request, infer_argmax(output, serving->vocab), now_ns);
}

/* The referee re-executes the hop over the valid outputs (an
 * equivocator's do not count): the members whose output it confirms. */
static uint64_t client_referee(const node *self, const node_committee_state *state,
                               uint64_t request, const cons_tally *tally)
{
    const node_verifier *verifier = self->config.serving->verifier;
    ASSERT(state->dispute == CONS_DISPUTE_REFEREE);
    uint64_t valid = state->revealed & ~state->equivocated;
    const float *outputs[NODE_COMMITTEE_MAX];
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t index_of[NODE_COMMITTEE_MAX];
    uint32_t count = 0;
    for (uint32_t j = 0; j < state->member_count; j++) {
        if ((valid >> j) & 1u) {
            index_of[count] = j;
            members[count] = state->members[j];
            outputs[count++] = tally->outputs[j];
        }
    }
    if (count == 0) {
        return 0;
    }
    uint64_t correct = verifier->referee(verifier->context, tally->last_segment, request,
                                         state->segment, outputs, members, tally->n_floats,
                                         count);
    uint64_t agree = 0;
    for (uint32_t i = 0; i < count; i++) {
        agree |= ((correct >> i) & 1u) << index_of[i];
    }
    ASSERT((agree & ~valid) == 0); /* The referee rules on valid outputs only. */
    return agree;
}

/* Carries out the protocol's decision: a dispute stage that opens is
 * observed; then settle, a fresh round, more reveals, or a hold for the
 * referee. */
static void client_act(node *self, node_outbox *outbox, uint64_t request,
                       const cons_decision *decided, uint64_t now_ns)
{
    node_store *store = self->config.store;
    node_committee_state *state = &store->committees[request];
    /* A member skipped as a suspect is not judged: suspicion alone
     * neither penalises nor pays it. */
    cons_decision skipping = *decided;
    skipping.judged &= ~state->skipped;
    const cons_decision *decision = &skipping;
    ASSERT((decision->revealed & ~cons_members_all(state->member_count)) == 0);
    ASSERT(decision->dispute <= CONS_DISPUTE_REFEREE);
    state->revealed = decision->revealed;
    if (state->dispute == CONS_DISPUTE_NONE && decision->dispute != CONS_DISPUTE_NONE) {
        node__serve_observe(outbox, NODE_OBS_DISPUTE, request, state->segment, state->round);
    }
    state->dispute = decision->dispute;
    switch (decision->action) {
    case CONS_ACTION_SETTLE:
        committee_lag_update(self, state, client_request(self, request));
        client_judge(self, outbox, state, request, decision, now_ns);
        client_report(self, outbox, state, request, decision);
        client_proceed(self, outbox, request, decision->member, now_ns);
        break;
    case CONS_ACTION_ROUND:
        client_judge(self, outbox, state, request, decision, now_ns);
        client_report(self, outbox, state, request, decision);
        client_next_round(self, outbox, request, now_ns);
        break;
    case CONS_ACTION_REVEAL:
        client_ask_reveals(self, outbox, request, decision->ask, now_ns);
        break;
    case CONS_ACTION_DISPUTE:
        committee_phase_until(store, outbox, request, CONS_PHASE_HOLD,
                              now_ns + decision->delay_ns);
        break;
    default:
        ASSERT(false && "unknown decision");
    }
}

/* A phase ended (every answer in, a deadline, the referee's ruling): the
 * protocol decides. */
static void client_decide(node *self, node_outbox *outbox, uint64_t request, uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    node_committee_state *state = &store->committees[request];
    /* Every answer is in or a deadline passed: a reveal or hold phase ends. */
    ASSERT(state->phase == CONS_PHASE_REVEAL || state->phase == CONS_PHASE_HOLD);
    state->phase = CONS_PHASE_IDLE;
    const float *outputs[NODE_COMMITTEE_MAX];
    cons_tally tally;
    client_tally(self, state, request, outputs, &tally);
    if (state->dispute == CONS_DISPUTE_REFEREE) {
        tally.referee_agree = client_referee(self, state, request, &tally);
    }
    cons_decision decision;
    serving->protocol->decide(&tally, &decision);
    ASSERT(decision.action >= CONS_ACTION_SETTLE && decision.action <= CONS_ACTION_DISPUTE);
    client_frame(self, state, &decision);
    client_act(self, outbox, request, &decision, now_ns);
}

/* suspect_after into a commit or reveal phase: the members still silent
 * are suspected, and the phase closes if every member not suspected has
 * answered (at least one did). */
static void client_suspect_silent(node *self, node_outbox *outbox, uint64_t request,
                                  uint64_t now_ns)
{
    node_committee_state *state = &self->config.store->committees[request];
    ASSERT(self->config.serving->suspect_after_ns > 0); /* Armed only then. */
    uint64_t silent = 0;
    if (state->phase == CONS_PHASE_COMMIT) {
        silent = cons_members_all(state->member_count) & ~state->committed;
    } else if (state->phase == CONS_PHASE_REVEAL) {
        silent = state->asked & ~state->answered;
    } else {
        return; /* A hold: the referee's delay is not a member's silence. */
    }
    for (uint32_t j = 0; j < state->member_count; j++) {
        if (((silent & ~state->suspected) >> j) & 1u) {
            client_suspect(self, outbox, request, state->segment, state->members[j]);
        }
    }
    state->suspected |= silent;
    if (state->phase == CONS_PHASE_COMMIT && client_commits_in(state)) {
        client_close_commits(self, outbox, request, now_ns);
    } else if (state->phase == CONS_PHASE_REVEAL && client_reveals_in(state)) {
        client_reveals_close(self, outbox, request, now_ns);
    }
}

void node__committee_timer(node *self, uint64_t now_ns, uint32_t kind, uint64_t request,
                           uint32_t low16, node_outbox *outbox)
{
    node_store *store = self->config.store;
    node_committee_state *state = &store->committees[request];
    /* The node armed this timer itself (committee_phase_until, committee_phase). */
    ASSERT((kind >= NODE_SERVE_TIMER_COMMIT && kind <= NODE_SERVE_TIMER_HOLD) ||
           kind == NODE_SERVE_TIMER_SUSPECT);
    ASSERT(low16 <= 0xffffu);
    const node_request *r = client_request(self, request);
    if (r == NULL || r->status != 0 || (state->phase_seq & 0xffffu) != low16) {
        return; /* Finished, or a deadline of an earlier phase. */
    }
    if (kind == NODE_SERVE_TIMER_SUSPECT) {
        client_suspect_silent(self, outbox, request, now_ns);
    } else if (kind == NODE_SERVE_TIMER_COMMIT && state->phase == CONS_PHASE_COMMIT) {
        client_close_commits(self, outbox, request, now_ns);
    } else if ((kind == NODE_SERVE_TIMER_REVEAL && state->phase == CONS_PHASE_REVEAL) ||
               (kind == NODE_SERVE_TIMER_HOLD && state->phase == CONS_PHASE_HOLD)) {
        client_decide(self, outbox, request, now_ns);
    }
    client_check(self, request);
}

int node__committee_message(node *self, uint64_t now_ns, const node_message *m,
                            node_outbox *outbox)
{
    /* node__serve_message routes here only under verification, after validation. */
    ASSERT(self->config.serving->verifier != NULL);
    ASSERT(m->rumor_id < self->config.serving->request_capacity);
    if (m->type == NODE_MESSAGE_CARTEL_AGREE) {
        return node__cartel_message(self, now_ns, m, outbox); /* Between members only. */
    }
    if (self->config.serving->suspect_after_ns > 0 && m->type != NODE_MESSAGE_INFER_REVEAL_ASK &&
        node__client_owns(self, m->rumor_id)) {
        client_unsuspect(self, m->source); /* Validated and authenticated: it is alive. */
    }
    int rc = NODE_EMALFORMED;
    switch (m->type) {
    case NODE_MESSAGE_INFER_COMMIT:
        if (!node__client_owns(self, m->rumor_id)) {
            /* A peer's commitment: under timeout evidence, a record of what
             * this member saw; and relayed to the client, which finds an
             * equivocator's second commitment that way. */
            if (self->config.serving->ledger_timeout_evidence &&
                node__attest_peer_commit(self, m) != 0) {
                return NODE_EMALFORMED;
            }
            return member_on_peer_commit(self, now_ns, m, outbox);
        }
        rc = client_on_commit(self, now_ns, m, outbox);
        break;
    case NODE_MESSAGE_INFER_ATTEST_ASK:
        return node__attest_on_ask(self, now_ns, m, outbox);
    case NODE_MESSAGE_INFER_ATTEST:
        return node__attest_on_attest(self, now_ns, m, outbox);
    case NODE_MESSAGE_INFER_REVEAL_ASK:
        return member_on_ask(self, now_ns, m, outbox);
    case NODE_MESSAGE_INFER_REVEAL:
        if (!node__client_owns(self, m->rumor_id)) {
            return member_on_peer_reveal(self, now_ns, m, outbox);
        }
        rc = client_on_reveal(self, now_ns, m, outbox);
        break;
    default:
        return NODE_EMALFORMED;
    }
    client_check(self, m->rumor_id);
    return rc;
}

/* Frees what a member kept for (request, segment). Cannot fail. */
void node__committee_release(const node *self, uint64_t request, uint32_t segment,
                             uint32_t slot)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    ASSERT(segment < serving->segment_count && slot < node__serve_slots(serving));
    uint32_t *entry = &store->reveal_block_of[node__serve_slot_index(serving, request, segment, slot)];
    if (*entry != 0) {
        util_pool_give(&store->reveal_pool, *entry - 1);
        *entry = 0;
    }
    node__cartel_release(self, request, segment, slot);
    ASSERT(*entry == 0);
}
