/* committee.c -- committee verification of split inference (Nesa's
 * consensus-based distribution verification), as a sans-IO protocol. For
 * each step of a request and each segment, the client sends the segment's
 * input to a committee of k members chosen by verifiable sortition for
 * (request, segment, round). Every member runs the segment for real and
 * commits H(output | salt | member) to the client; when every member has
 * committed, or the commit deadline passes, the client asks the committed
 * members to reveal; it checks each reveal against its commitment, and
 * accepts the output backed by at least 'quorum' members under the
 * segment's agreement rule. The accepted output is the next committee's
 * input, or, for the last segment, the logits the token is chosen from.
 * Members whose output disagrees, or who do not answer, are judged as
 * deviating (their reputation falls); the others are rewarded. No quorum:
 * a fresh committee (round + 1) restarts the request, up to 'retries'
 * times, then the request fails. With commit_reveal off, members reveal at
 * once. The sortition, commitments, agreement and reputation are reached
 * through node_verifier, which the driver wires to consensus/. */
#include <math.h>
#include <string.h>

#include "node/node_int.h"
#include "util/assert.h"

#define COMMITTEE_PHASE_IDLE 0u
#define COMMITTEE_PHASE_COMMIT 1u
#define COMMITTEE_PHASE_REVEAL 2u

/* The client's block for a request: k digests, then k outputs. */
static uint8_t *committee_digest(const node_serving *serving, const node_committee_state *state,
                                 uint32_t member)
{
    uint8_t *block = util_pool_block(&serving->committee_pool, state->block - 1);
    return block + (size_t)member * NODE_DIGEST_BYTES;
}

static float *committee_output(const node_serving *serving, const node_committee_state *state,
                               uint32_t member)
{
    uint8_t *block = util_pool_block(&serving->committee_pool, state->block - 1);
    float *outputs = (float *)(block + NODE_COMMITTEE_MAX * NODE_DIGEST_BYTES);
    return outputs + (size_t)member * serving->output_floats;
}

uint32_t node__committee_index(const node *self, uint64_t request, uint32_t segment,
                               uint32_t round)
{
    const node_serving *serving = self->config.serving;
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t count = serving->verifier->committee(serving->verifier->context, request, segment,
                                                  round, members);
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
    return r->generated == 0 ? r->prompt_tokens : 1;
}

static size_t committee_floats(const node_serving *serving, uint32_t segment, uint32_t rows)
{
    bool last = segment + 1 == serving->segment_count;
    return last ? serving->vocab : (size_t)rows * serving->dim;
}

/* Opens a phase and arms its deadline; stale deadlines carry an older seq. */
static void committee_phase(node_serving *serving, node_outbox *outbox, uint64_t request,
                            uint32_t phase, uint64_t now_ns)
{
    node_committee_state *state = &serving->committees[request];
    state->phase = phase;
    state->phase_seq += 1;
    bool commit = phase == COMMITTEE_PHASE_COMMIT;
    uint64_t deadline = now_ns + (commit ? serving->commit_timeout_ns : serving->reveal_timeout_ns);
    node__serve_timer_arm(outbox, deadline,
                          node__serve_timer_id(commit ? NODE_SERVE_TIMER_COMMIT
                                                      : NODE_SERVE_TIMER_REVEAL,
                                               request, state->phase_seq & 0xffffu));
}

/* Fills the header fields every committee message of this step shares. */
static void committee_header(node_message *m, const node_request *r, uint32_t segment,
                             uint32_t round, uint32_t member)
{
    m->origin = r->client;
    m->origin_ns = r->submitted_ns;
    m->segment = (uint16_t)segment;
    m->count = (uint16_t)committee_rows(r);
    m->position = r->generated == 0 ? 0 : r->prompt_tokens + r->generated - 1;
    m->step = r->generated;
    m->hops = round;
    m->token = member;
}

void node__committee_send_input(node *self, node_outbox *outbox, uint64_t request,
                                uint32_t segment, const float *rows, uint64_t now_ns)
{
    node_serving *serving = self->config.serving;
    node_committee_state *state = &serving->committees[request];
    const node_request *r = &serving->requests[request];
    uint32_t count = committee_rows(r);
    size_t bytes = segment == 0 ? (size_t)count * 4
                                : infer_wire_bytes(serving->wire_dtype, count, serving->dim);
    ASSERT(bytes <= serving->payload_capacity);
    if (segment == 0) {
        uint32_t first = r->generated == 0 ? 0 : r->prompt_tokens + r->generated - 1;
        node__serve_put_tokens(serving->payload, r->tokens + first, count);
    } else {
        infer_wire_encode(serving->wire_dtype, rows, count, serving->dim, serving->payload);
    }
    state->segment = segment;
    state->member_count = serving->verifier->committee(serving->verifier->context, request,
                                                       segment, state->round, state->members);
    state->committed = 0;
    state->revealed = 0;
    state->answered = 0;
    state->equivocated = 0;
    uint8_t type = segment == 0 ? NODE_MESSAGE_INFER_TOKENS : NODE_MESSAGE_INFER_ACTIVATIONS;
    for (uint32_t j = 0; j < state->member_count; j++) {
        node_message *m = node__serve_send(self, outbox, type, state->members[j], request, now_ns);
        committee_header(m, r, segment, state->round, j);
        m->payload = serving->payload;
        m->payload_bytes = (uint32_t)bytes;
    }
    committee_phase(serving, outbox, request,
                    serving->commit_reveal ? COMMITTEE_PHASE_COMMIT : COMMITTEE_PHASE_REVEAL,
                    now_ns);
}

void node__committee_end(node *self, node_outbox *outbox, uint64_t request, uint64_t now_ns)
{
    node_serving *serving = self->config.serving;
    const node_committee_state *state = &serving->committees[request];
    const node_request *r = &serving->requests[request];
    uint32_t members[NODE_COMMITTEE_MAX];
    for (uint32_t s = 0; s < serving->segment_count; s++) {
        uint32_t count = serving->verifier->committee(serving->verifier->context, request, s,
                                                      state->round, members);
        for (uint32_t j = 0; j < count; j++) {
            node_message *m = node__serve_send(self, outbox, NODE_MESSAGE_INFER_END, members[j],
                                               request, now_ns);
            committee_header(m, r, s, state->round, j);
        }
    }
}

/* ---- member ---- */

/* A Byzantine member's output: noise on its own result (wrong_output), or
 * the cartel's agreed vector (collude), both of 'scale' x the honest RMS. */
static void committee_misbehave(node *self, const node_message *m, float *output, size_t n)
{
    const node_serving *serving = self->config.serving;
    uint32_t id = self->config.node_id;
    node_behaviour behaviour = (node_behaviour)serving->behaviour_of[id];
    if (behaviour != NODE_BEHAVIOUR_WRONG_OUTPUT && behaviour != NODE_BEHAVIOUR_COLLUDE) {
        return;
    }
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += (double)output[i] * output[i];
    }
    double amplitude = serving->behaviour_scale_of[id] * sqrt(sum / (double)(n > 0 ? n : 1));
    if (behaviour == NODE_BEHAVIOUR_WRONG_OUTPUT) {
        for (size_t i = 0; i < n; i++) {
            output[i] += (float)(amplitude * util_prng_normal(&self->prng));
        }
        return;
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
}

/* Where a member keeps its output until the reveal: [size][salt][bytes]. */
static uint8_t *member_block(node_serving *serving, const node_message *m, uint32_t slot,
                             bool take)
{
    uint32_t *entry = &serving->reveal_block_of[node__serve_slot_index(serving, m->rumor_id, m->segment,
                                                             slot)];
    if (*entry == 0 && take) {
        uint32_t block = 0;
        if (util_pool_take(&serving->reveal_pool, &block) != 0) {
            return NULL;
        }
        *entry = block + 1;
    }
    return *entry == 0 ? NULL : util_pool_block(&serving->reveal_pool, *entry - 1);
}

static void member_reveal(node *self, const node_message *m, uint32_t member, const uint8_t *block,
                          uint64_t at_ns, node_outbox *outbox)
{
    node_serving *serving = self->config.serving;
    uint32_t size = 0;
    memcpy(&size, block, sizeof(size));
    node_message *out = node__serve_send(self, outbox, NODE_MESSAGE_INFER_REVEAL, m->origin,
                                         m->rumor_id, at_ns);
    committee_header(out, &serving->requests[m->rumor_id], m->segment, m->hops, member);
    out->origin = m->origin;
    out->step = m->step;
    out->position = m->position;
    out->count = m->count;
    out->payload = block + sizeof(uint32_t);
    out->payload_bytes = NODE_SALT_BYTES + size;
    /* Members share their reveals with each other (Nesa's members see each
     * other's outputs): this is what a lazy member can copy from. */
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t count = serving->verifier->committee(serving->verifier->context, m->rumor_id,
                                                  m->segment, m->hops, members);
    for (uint32_t i = 0; i < count; i++) {
        if (i == member || members[i] == self->config.node_id) {
            continue;
        }
        node_message *peer = node__serve_send(self, outbox, NODE_MESSAGE_INFER_REVEAL,
                                              members[i], m->rumor_id, at_ns);
        *peer = *out;
        peer->dest = members[i];
    }
}

/* An equivocating member signs a second, different commitment for the same
 * hop -- the one it would show other peers -- while it keeps the first for
 * its reveal. Both reach the client (votes are relayed to it), where the
 * pair is proof of equivocation. */
static void member_equivocate(node *self, node_outbox *outbox, const node_message *commit,
                              const uint8_t *bytes, size_t size, const uint8_t *salt,
                              uint64_t at_ns)
{
    node_serving *serving = self->config.serving;
    uint8_t other_salt[NODE_SALT_BYTES];
    ASSERT(serving->payload_capacity >= 2 * NODE_DIGEST_BYTES);
    memcpy(other_salt, salt, sizeof(other_salt));
    other_salt[0] ^= 1u;
    uint8_t *digest = serving->payload + NODE_DIGEST_BYTES;
    serving->verifier->commit(serving->verifier->context, bytes, size, other_salt,
                              self->config.node_id, digest);
    node_message *second = node__serve_send(self, outbox, NODE_MESSAGE_INFER_COMMIT,
                                            commit->dest, commit->rumor_id, at_ns);
    *second = *commit;
    second->payload = digest;
}

/* A lazy member does not compute: with commit-reveal it must commit now,
 * before any output exists, so it commits to nothing it can later open;
 * then it waits for a peer's reveal to copy. */
static void member_lazy(node *self, const node_message *m, uint32_t slot, uint64_t now_ns,
                        node_outbox *outbox)
{
    node_serving *serving = self->config.serving;
    uint8_t *block = member_block(serving, m, slot, true);
    ASSERT(block != NULL);
    uint32_t waiting = UINT32_MAX;
    memcpy(block, &waiting, sizeof(waiting));
    if (!serving->commit_reveal) {
        return;
    }
    node_message *commit = node__serve_send(self, outbox, NODE_MESSAGE_INFER_COMMIT, m->origin,
                                            m->rumor_id, now_ns);
    committee_header(commit, &serving->requests[m->rumor_id], m->segment, m->hops, m->token);
    commit->origin = m->origin;
    commit->step = m->step;
    commit->count = m->count;
    commit->position = m->position;
    for (uint32_t i = 0; i < NODE_DIGEST_BYTES; i++) {
        serving->payload[i] = (uint8_t)util_prng_next(&self->prng);
    }
    commit->payload = serving->payload;
    commit->payload_bytes = NODE_DIGEST_BYTES;
}

bool node__committee_lazy(node *self, const node_message *m, uint32_t slot, uint64_t now_ns,
                          node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    if (serving->behaviour_of[self->config.node_id] != NODE_BEHAVIOUR_LAZY_COPY) {
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
    node_serving *serving = self->config.serving;
    if (m->segment >= serving->segment_count || m->hops > serving->retries ||
        m->payload_bytes < NODE_SALT_BYTES) {
        return NODE_EMALFORMED;
    }
    uint32_t member = node__committee_index(self, m->rumor_id, m->segment, m->hops);
    if (member == UINT32_MAX) {
        return NODE_EMALFORMED;
    }
    uint32_t slot = m->hops * serving->committee + member;
    uint8_t *block = member_block(serving, m, slot, false);
    uint32_t size = 0;
    if (block != NULL) {
        memcpy(&size, block, sizeof(size));
    }
    size_t bytes = m->payload_bytes - NODE_SALT_BYTES;
    if (block == NULL || size != UINT32_MAX ||
        sizeof(uint32_t) + NODE_SALT_BYTES + bytes > serving->reveal_pool.block_bytes) {
        return 0; /* Honest members ignore their peers' reveals. */
    }
    size = (uint32_t)bytes;
    memcpy(block, &size, sizeof(size));
    serving->verifier->salt(serving->verifier->context, self->config.node_id, m->rumor_id,
                            m->segment, m->hops, block + sizeof(uint32_t));
    memcpy(block + sizeof(uint32_t) + NODE_SALT_BYTES, m->payload + NODE_SALT_BYTES, bytes);
    node_message reveal_for = *m;
    reveal_for.token = member;
    member_reveal(self, &reveal_for, member, block, now_ns, outbox);
    return 0;
}

void node__committee_member_output(node *self, const node_message *m, uint32_t slot,
                                   const float *output, size_t n_floats, uint64_t end_ns,
                                   node_outbox *outbox)
{
    uint32_t member = m->token;
    node_serving *serving = self->config.serving;
    bool last = m->segment + 1u == serving->segment_count;
    float *mine = serving->decoded;
    memcpy(mine, output, n_floats * sizeof(float));
    committee_misbehave(self, m, mine, n_floats);
    uint8_t *block = member_block(serving, m, slot, true);
    ASSERT(block != NULL); /* Sized by the requests in flight. */
    uint32_t size = (uint32_t)(last ? infer_wire_bytes(INFER_DTYPE_FP32, 1, serving->vocab)
                                    : infer_wire_bytes(serving->wire_dtype, m->count, serving->dim));
    uint8_t *salt = block + sizeof(uint32_t);
    uint8_t *bytes = salt + NODE_SALT_BYTES;
    memcpy(block, &size, sizeof(size));
    serving->verifier->salt(serving->verifier->context, self->config.node_id, m->rumor_id,
                            m->segment, m->hops, salt);
    if (last) {
        infer_wire_encode(INFER_DTYPE_FP32, mine, 1, serving->vocab, bytes);
    } else {
        infer_wire_encode(serving->wire_dtype, mine, m->count, serving->dim, bytes);
    }
    if (!serving->commit_reveal) {
        member_reveal(self, m, member, block, end_ns, outbox);
        return;
    }
    node_message *commit = node__serve_send(self, outbox, NODE_MESSAGE_INFER_COMMIT, m->origin,
                                            m->rumor_id, end_ns);
    committee_header(commit, &serving->requests[m->rumor_id], m->segment, m->hops, member);
    commit->origin = m->origin;
    commit->step = m->step;
    commit->count = m->count;
    commit->position = m->position;
    serving->verifier->commit(serving->verifier->context, bytes, size, salt,
                              self->config.node_id, serving->payload);
    commit->payload = serving->payload;
    commit->payload_bytes = NODE_DIGEST_BYTES;
    if (serving->behaviour_of[self->config.node_id] == NODE_BEHAVIOUR_EQUIVOCATE) {
        member_equivocate(self, outbox, commit, bytes, size, salt, end_ns);
    }
}

/* REVEAL_ASK: the commit phase closed; a member that committed reveals. */
static int member_on_ask(node *self, uint64_t now_ns, const node_message *m, node_outbox *outbox)
{
    node_serving *serving = self->config.serving;
    uint32_t member = m->token;
    if (m->segment >= serving->segment_count || member >= serving->committee ||
        m->hops > serving->retries ||
        node__committee_index(self, m->rumor_id, m->segment, m->hops) != member ||
        serving->requests[m->rumor_id].client != m->source) {
        return NODE_EMALFORMED;
    }
    const uint8_t *block = member_block(serving, m, m->hops * serving->committee + member, false);
    uint32_t size = 0;
    if (block != NULL) {
        memcpy(&size, block, sizeof(size));
    }
    if (block == NULL || size == UINT32_MAX ||
        serving->behaviour_of[self->config.node_id] == NODE_BEHAVIOUR_SILENT) {
        return 0; /* Nothing to reveal (never computed, silent, or a lazy one still waiting). */
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
    const node_committee_state *state = &serving->committees[m->rumor_id];
    const node_request *r = &serving->requests[m->rumor_id];
    uint32_t member = m->token;
    if (r->client != self->config.node_id || member >= serving->committee) {
        return UINT32_MAX;
    }
    if (r->status != 0 || state->block == 0 || m->segment != state->segment ||
        m->hops != state->round || m->step != r->generated) {
        return CLIENT_STALE;
    }
    if (member >= state->member_count || state->members[member] != m->source) {
        return UINT32_MAX;
    }
    return member;
}

/* Asks every member that committed to reveal. */
static void client_ask_reveals(node *self, node_outbox *outbox, uint64_t request, uint64_t now_ns)
{
    node_serving *serving = self->config.serving;
    node_committee_state *state = &serving->committees[request];
    const node_request *r = &serving->requests[request];
    for (uint32_t j = 0; j < state->member_count; j++) {
        if ((state->committed >> j) & 1u) {
            node_message *m = node__serve_send(self, outbox, NODE_MESSAGE_INFER_REVEAL_ASK,
                                               state->members[j], request, now_ns);
            committee_header(m, r, state->segment, state->round, j);
        }
    }
    committee_phase(serving, outbox, request, COMMITTEE_PHASE_REVEAL, now_ns);
}

static void client_decide(node *self, node_outbox *outbox, uint64_t request, uint64_t now_ns);

static int client_on_commit(node *self, uint64_t now_ns, const node_message *m,
                            node_outbox *outbox)
{
    node_serving *serving = self->config.serving;
    node_committee_state *state = &serving->committees[m->rumor_id];
    uint32_t member = client_member_of(self, m);
    if (member == UINT32_MAX || m->payload_bytes != NODE_DIGEST_BYTES) {
        return NODE_EMALFORMED;
    }
    if (member == CLIENT_STALE) {
        return 0;
    }
    if ((state->committed >> member) & 1u) {
        /* The first commitment binds; a different second one is proof of
         * equivocation (both are signed by the member). */
        if (memcmp(committee_digest(serving, state, member), m->payload, NODE_DIGEST_BYTES) != 0) {
            state->equivocated |= UINT64_C(1) << member;
        }
        return 0;
    }
    if (state->phase != COMMITTEE_PHASE_COMMIT) {
        return 0; /* Too late. */
    }
    memcpy(committee_digest(serving, state, member), m->payload, NODE_DIGEST_BYTES);
    state->committed |= UINT64_C(1) << member;
    if (__builtin_popcountll(state->committed) == (int)state->member_count) {
        client_ask_reveals(self, outbox, m->rumor_id, now_ns);
    }
    return 0;
}

/* Checks a reveal against its commitment and decodes it; false: invalid. */
static bool client_open(const node_serving *serving, node_committee_state *state,
                        const node_message *m, uint32_t member)
{
    const node_request *r = &serving->requests[m->rumor_id];
    bool last = m->segment + 1u == serving->segment_count;
    uint32_t rows = committee_rows(r);
    size_t size = last ? infer_wire_bytes(INFER_DTYPE_FP32, 1, serving->vocab)
                       : infer_wire_bytes(serving->wire_dtype, rows, serving->dim);
    if (m->payload_bytes != NODE_SALT_BYTES + size) {
        return false;
    }
    const uint8_t *salt = m->payload;
    const uint8_t *bytes = m->payload + NODE_SALT_BYTES;
    if (serving->commit_reveal) {
        uint8_t digest[NODE_DIGEST_BYTES];
        serving->verifier->commit(serving->verifier->context, bytes, size, salt, m->source,
                                  digest);
        if (!((state->committed >> member) & 1u) ||
            memcmp(digest, committee_digest(serving, state, member), sizeof(digest)) != 0) {
            return false;
        }
    }
    float *out = committee_output(serving, state, member);
    int rc = last ? infer_wire_decode(INFER_DTYPE_FP32, bytes, size, 1, serving->vocab, out)
                  : infer_wire_decode(serving->wire_dtype, bytes, size, rows, serving->dim, out);
    return rc == 0;
}

static int client_on_reveal(node *self, uint64_t now_ns, const node_message *m,
                            node_outbox *outbox)
{
    node_serving *serving = self->config.serving;
    node_committee_state *state = &serving->committees[m->rumor_id];
    uint32_t member = client_member_of(self, m);
    if (member == UINT32_MAX) {
        return NODE_EMALFORMED;
    }
    if (member == CLIENT_STALE) {
        return 0;
    }
    if (state->phase != COMMITTEE_PHASE_REVEAL || ((state->revealed >> member) & 1u)) {
        return 0;
    }
    if (client_open(serving, state, m, member)) {
        state->revealed |= UINT64_C(1) << member;
    }
    state->answered |= UINT64_C(1) << member; /* A reveal that fails still ends its turn. */
    uint64_t all = state->member_count == 64 ? UINT64_MAX
                                             : (UINT64_C(1) << state->member_count) - 1;
    uint64_t expected = serving->commit_reveal ? state->committed : all;
    if ((state->answered & expected) == expected) {
        client_decide(self, outbox, m->rumor_id, now_ns);
    }
    return 0;
}

/* No quorum in this round: a fresh committee restarts the request, or,
 * after 'retries' fresh committees, the request fails. */
static void client_next_round(node *self, node_outbox *outbox, uint64_t request, uint64_t now_ns)
{
    node_serving *serving = self->config.serving;
    node_committee_state *state = &serving->committees[request];
    node__serve_observe(outbox, NODE_OBS_NO_QUORUM, request, state->segment, state->round);
    if (state->round >= serving->retries) {
        node__client_finish(self, outbox, request, NODE_REQUEST_FAILED, now_ns);
        return;
    }
    node__committee_end(self, outbox, request, now_ns); /* The old members drop their caches. */
    state->round += 1;
    serving->requests[request].generated = 0;
    node__committee_send_input(self, outbox, request, 0, NULL, now_ns);
}

/* Judges every member against the accepted output (or, with no quorum,
 * only those that gave nothing valid), then moves on. */
static void client_decide(node *self, node_outbox *outbox, uint64_t request, uint64_t now_ns)
{
    node_serving *serving = self->config.serving;
    node_committee_state *state = &serving->committees[request];
    const node_request *r = &serving->requests[request];
    const float *outputs[NODE_COMMITTEE_MAX];
    uint32_t index_of[NODE_COMMITTEE_MAX];
    uint32_t count = 0;
    state->revealed &= ~state->equivocated; /* An equivocator's vote does not count. */
    for (uint32_t j = 0; j < state->member_count; j++) {
        if ((state->revealed >> j) & 1u) {
            index_of[count] = j;
            outputs[count++] = committee_output(serving, state, j);
        }
    }
    bool last = state->segment + 1u == serving->segment_count;
    size_t n = committee_floats(serving, state->segment, committee_rows(r));
    uint32_t accepted = 0;
    uint64_t mask = 0;
    int rc = count == 0 ? -1
                        : serving->verifier->accept(serving->verifier->context, last, outputs, n,
                                                    count, &accepted, &mask);
    state->phase = COMMITTEE_PHASE_IDLE;
    uint64_t agree = 0;
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        agree |= ((mask >> i) & 1u) << index_of[i];
    }
    for (uint32_t j = 0; j < state->member_count; j++) {
        bool valid = (state->revealed >> j) & 1u;
        bool deviated = !((agree >> j) & 1u);
        bool equivocated = (state->equivocated >> j) & 1u;
        if (rc == 0 || !valid) {
            serving->verifier->judged(serving->verifier->context, state->members[j], deviated,
                                      equivocated || (rc == 0 && valid && deviated), request,
                                      state->segment);
        }
    }
    if (rc != 0) {
        client_next_round(self, outbox, request, now_ns);
        return;
    }
    const float *output = committee_output(serving, state, index_of[accepted]);
    if (!last) {
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

void node__committee_timer(node *self, uint64_t now_ns, uint32_t kind, uint64_t request,
                           uint32_t low16, node_outbox *outbox)
{
    node_serving *serving = self->config.serving;
    node_committee_state *state = &serving->committees[request];
    if (serving->requests[request].status != 0 || (state->phase_seq & 0xffffu) != low16) {
        return; /* Finished, or a deadline of an earlier phase. */
    }
    if (kind == NODE_SERVE_TIMER_COMMIT && state->phase == COMMITTEE_PHASE_COMMIT) {
        client_ask_reveals(self, outbox, request, now_ns);
    } else if (kind == NODE_SERVE_TIMER_REVEAL && state->phase == COMMITTEE_PHASE_REVEAL) {
        client_decide(self, outbox, request, now_ns);
    }
}

int node__committee_message(node *self, uint64_t now_ns, const node_message *m,
                            node_outbox *outbox)
{
    switch (m->type) {
    case NODE_MESSAGE_INFER_COMMIT:
        return client_on_commit(self, now_ns, m, outbox);
    case NODE_MESSAGE_INFER_REVEAL_ASK:
        return member_on_ask(self, now_ns, m, outbox);
    case NODE_MESSAGE_INFER_REVEAL:
        if (self->config.serving->requests[m->rumor_id].client == self->config.node_id) {
            return client_on_reveal(self, now_ns, m, outbox);
        }
        return member_on_peer_reveal(self, now_ns, m, outbox);
    default:
        return NODE_EMALFORMED;
    }
}

/* Frees what a member kept for (request, segment). Cannot fail. */
void node__committee_release(node_serving *serving, uint64_t request, uint32_t segment,
                             uint32_t slot)
{
    uint32_t *entry = &serving->reveal_block_of[node__serve_slot_index(serving, request, segment, slot)];
    if (*entry != 0) {
        util_pool_give(&serving->reveal_pool, *entry - 1);
        *entry = 0;
    }
}
