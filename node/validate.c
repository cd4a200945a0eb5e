/* validate.c -- the one place where a message from a peer is checked
 * before any of its fields is used. A peer may be an attacker: a frame can
 * be authentic (signed by a real node) and still carry any value in any
 * field, so every field a handler reads is range-checked here against what
 * this node's role (gossip node, or inference client and server) and the
 * run's protocol expect, once per message type. A message that fails is
 * rejected with NODE_EMALFORMED before it reaches a handler; the driver
 * counts it and nothing else happens.
 *
 * What is checked here is what a message says about itself (types, flags,
 * ranges, sizes that follow from its own count). Whether it fits the
 * receiver's state (is this node the hop's server, is this the round the
 * client waits for) is the handlers' business, and they also reject rather
 * than assert. */
#include <string.h>

#include "node/node_int.h"
#include "util/assert.h"
#include "util/bytes.h"

/* Flags a type may carry; any other bit is rejected. */
static uint8_t validate_flags_allowed(uint8_t type)
{
    switch (type) {
    case NODE_MESSAGE_RUMOR:
        return NODE_MESSAGE_FLAG_PULL_REPLY;
    case NODE_MESSAGE_INFER_TOKEN:
        return NODE_MESSAGE_FLAG_ERROR;
    case NODE_MESSAGE_LEDGER_BFT:
        return NODE_MESSAGE_FLAG_TWIN_SIDE;
    case NODE_MESSAGE_INFER_COMMIT:
        return NODE_MESSAGE_FLAG_RELAYED;
    default:
        return 0;
    }
}

static int validate_rumor(const node *self, const node_message *m)
{
    if (m->rumor_id >= self->config.rumor_capacity || m->origin >= self->config.node_count ||
        m->payload_bytes > NODE_PAYLOAD_MAX || m->source == self->config.node_id) {
        return NODE_EMALFORMED;
    }
    return 0;
}

static int validate_pull(const node *self, const node_message *m)
{
    /* rumor_id is the requester's first missing id: capacity means "holds all". */
    if (m->rumor_id > self->config.rumor_capacity || m->payload_bytes != 0 ||
        m->source == self->config.node_id) {
        return NODE_EMALFORMED;
    }
    return 0;
}

/* Fields every INFER_* message shares: the request, the segment, the
 * step, and under verification the round and the member index. */
static int validate_infer_common(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    /* END may name the step after the last: the client sends it when done. */
    uint32_t steps = serving->generate_tokens + (m->type == NODE_MESSAGE_INFER_END ? 1u : 0u);
    if (m->rumor_id >= serving->request_capacity || m->segment >= serving->segment_count ||
        m->origin >= self->config.node_count || m->step >= steps) {
        return NODE_EMALFORMED;
    }
    if (serving->verifier != NULL &&
        (m->hops > serving->retries || m->token >= serving->committee)) {
        return NODE_EMALFORMED;
    }
    /* Without a committee, hops is the route attempt: 0 unless failover. */
    if (serving->verifier == NULL &&
        (serving->failover ? m->hops >= NODE_ATTEMPTS_MAX : m->hops != 0)) {
        return NODE_EMALFORMED;
    }
    return 0;
}

/* Rows of one step: the prompt (step 0, from position 0), one token at
 * a later position, or under failover a replay of step s > 0 (the prompt
 * and the s tokens so far, at least s + 1 rows from position 0), always
 * inside the model's context. A hop to a member under catch-up may also
 * carry the rows of the steps it missed before this step's: the prompt's
 * and more than s rows from position 0, or at most s from a later one. */
static int validate_rows(const node_serving *serving, const node_message *m, bool hop)
{
    if (m->count == 0 || m->count > serving->tokens_max ||
        (uint64_t)m->position + m->count > serving->seq_len) {
        return NODE_EMALFORMED;
    }
    if (m->step == 0) {
        return m->position == 0 ? 0 : NODE_EMALFORMED;
    }
    bool replay = hop && (serving->verifier == NULL ? serving->failover : serving->catch_up);
    if (m->position == 0) {
        return replay && m->count > m->step ? 0 : NODE_EMALFORMED;
    }
    return m->count == 1 || (replay && serving->verifier != NULL && m->count <= m->step)
               ? 0
               : NODE_EMALFORMED;
}

/* INFER_TOKENS (segment 0, token ids) and INFER_ACTIVATIONS (a later
 * segment, count rows in the wire dtype). */
static int validate_hop(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    bool tokens = m->type == NODE_MESSAGE_INFER_TOKENS;
    if (validate_rows(serving, m, true) != 0 || tokens != (m->segment == 0) ||
        (m->payload_bytes > 0 && m->payload == NULL)) {
        return NODE_EMALFORMED;
    }
    size_t expected = tokens ? (size_t)m->count * 4
                             : infer_wire_bytes(serving->wire_dtype, m->count, serving->dim);
    return m->payload_bytes == expected ? 0 : NODE_EMALFORMED;
}

/* INFER_TOKEN: only without verification (a committee's client gets
 * tokens from reveals); a token below the vocabulary unless it reports an
 * error. */
static int validate_token(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    bool error = (m->flags & NODE_MESSAGE_FLAG_ERROR) != 0;
    if (serving->verifier != NULL || m->payload_bytes != 0 ||
        (!error && m->token >= serving->vocab)) {
        return NODE_EMALFORMED;
    }
    return 0;
}

static int validate_end(const node *self, const node_message *m)
{
    (void)self;
    return m->payload_bytes == 0 ? 0 : NODE_EMALFORMED;
}

/* Bytes of one member's output for the message's segment and rows: the
 * last segment's logits in fp32, else the rows in the wire dtype. */
static size_t validate_output_bytes(const node_serving *serving, const node_message *m)
{
    bool last = m->segment + 1u == serving->segment_count;
    return last ? infer_wire_bytes(INFER_DTYPE_FP32, 1, serving->vocab)
                : infer_wire_bytes(serving->wire_dtype, m->count, serving->dim);
}

/* COMMIT, REVEAL_ASK and REVEAL exist only under verification; a commit
 * only with commit-reveal; sizes follow from the protocol. ATTEST_ASK and
 * ATTEST only under timeout evidence: no payload, and a signature. */
static int validate_vote(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    if (serving->verifier == NULL || validate_rows(serving, m, false) != 0 ||
        (m->payload_bytes > 0 && m->payload == NULL)) {
        return NODE_EMALFORMED;
    }
    switch (m->type) {
    case NODE_MESSAGE_INFER_COMMIT:
        /* selection vrf: the member's proof follows its vote. */
        return serving->commit_reveal &&
                       m->payload_bytes == serving->vote_bytes + serving->claim_bytes +
                                               serving->commit_sig_bytes
                   ? 0
                   : NODE_EMALFORMED;
    case NODE_MESSAGE_INFER_REVEAL_ASK:
        return m->payload_bytes == 0 ? 0 : NODE_EMALFORMED;
    case NODE_MESSAGE_INFER_ATTEST_ASK:
        return serving->ledger_timeout_evidence && m->payload_bytes == 0 ? 0 : NODE_EMALFORMED;
    case NODE_MESSAGE_INFER_ATTEST:
        return serving->ledger_timeout_evidence && m->payload_bytes == NODE_SIGNATURE_BYTES
                   ? 0
                   : NODE_EMALFORMED;
    default: {
        size_t expected =
            NODE_SALT_BYTES + validate_output_bytes(serving, m) + serving->evidence_bytes;
        return m->payload_bytes == expected ? 0 : NODE_EMALFORMED;
    }
    }
}

/* CARTEL_AGREE: only under verification, from another node, one step's
 * rows, and an agreement whose amplitude is finite and bounded and whose
 * target is a token (or none). What it says is the cartel's business: an
 * honest member ignores it, a colluding one checks the sender is its
 * leader (node/cartel.c). */
static int validate_cartel(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    if (serving->verifier == NULL || validate_rows(serving, m, false) != 0 ||
        m->source == self->config.node_id || m->payload_bytes != NODE_CARTEL_AGREE_BYTES ||
        m->payload == NULL) {
        return NODE_EMALFORMED;
    }
    double amplitude = util_get_f64(m->payload + 8);
    uint32_t target = util_get_u32(m->payload + 16);
    if (!(amplitude >= 0.0 && amplitude <= NODE_CARTEL_AMPLITUDE_MAX) ||
        (target != NODE_CARTEL_NO_TARGET && target >= serving->vocab)) {
        return NODE_EMALFORMED;
    }
    return 0;
}

static int validate_infer(const node *self, const node_message *m)
{
    if (self->config.serving == NULL || validate_infer_common(self, m) != 0) {
        return NODE_EMALFORMED; /* A gossip node serves no inference. */
    }
    switch (m->type) {
    case NODE_MESSAGE_INFER_TOKENS:
    case NODE_MESSAGE_INFER_ACTIVATIONS:
        return validate_hop(self, m);
    case NODE_MESSAGE_INFER_TOKEN:
        return validate_token(self, m);
    case NODE_MESSAGE_INFER_END:
        return validate_end(self, m);
    case NODE_MESSAGE_CARTEL_AGREE:
        return validate_cartel(self, m);
    default:
        return validate_vote(self, m);
    }
}

/* LEDGER_* messages use only the header's type, source, dest and payload
 * length: every other field is zero. */
static bool validate_ledger_header(const node_message *m)
{
    return m->origin == 0 && m->rumor_id == 0 && m->origin_ns == 0 && m->bitmap == 0 &&
           m->hops == 0 && m->segment == 0 && m->count == 0 && m->position == 0 &&
           m->step == 0 && m->token == 0 && m->payload_bytes > 0 && m->payload != NULL;
}

/* A settlement transaction: well formed, from the client it names (a node
 * of the network: gossip passes the client the bytes name), about a
 * request, segment, step, round and committee inside the run's bounds. */
static int validate_ledger_tx_bytes(const node *self, const uint8_t *bytes, size_t size,
                                    uint32_t client)
{
    const node_serving *serving = self->config.serving;
    node_ledger_tx tx;
    if (!serving->ledger_settlement || node_ledger_tx_decode(bytes, size, &tx) != 0) {
        return NODE_EMALFORMED;
    }
    if (tx.client != client || client >= self->config.node_count ||
        tx.request >= serving->request_capacity ||
        tx.segment >= serving->segment_count || tx.step >= serving->generate_tokens + 1u ||
        tx.round > serving->retries || tx.member_count > serving->committee ||
        tx.rows == 0 || tx.rows > serving->tokens_max) {
        return NODE_EMALFORMED;
    }
    for (uint32_t j = 0; j < tx.member_count; j++) {
        if (tx.members[j] >= self->config.node_count) {
            return NODE_EMALFORMED;
        }
    }
    return 0;
}

static int validate_ledger_tx(const node *self, const node_message *m)
{
    return validate_ledger_tx_bytes(self, m->payload, m->payload_bytes, m->source);
}

/* LEDGER_GOSSIP between two validators under dissemination: gossip: a
 * kind byte, then a transaction (its client is the one it names; the
 * handler checks the tag), a cons_bft vote, or a digest of at most
 * NODE_LEDGER_PULL_IDS_MAX transaction digests. */
static int validate_ledger_gossip(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    if (serving == NULL || !serving->ledger_gossip ||
        self->config.node_id >= serving->ledger_validators ||
        m->source >= serving->ledger_validators || m->source == m->dest ||
        !validate_ledger_header(m) || m->payload_bytes < 2 ||
        m->payload_bytes > 1 + CONS_BFT_TX_BYTES_MAX) {
        return NODE_EMALFORMED;
    }
    const uint8_t *body = m->payload + 1;
    size_t size = m->payload_bytes - 1u;
    uint32_t voter = 0;
    uint32_t collector = 0;
    switch (m->payload[0]) {
    case NODE_LEDGER_GOSSIP_TX:
    case NODE_LEDGER_GOSSIP_ANSWER: {
        node_ledger_tx tx;
        if (node_ledger_tx_decode(body, size, &tx) != 0) {
            return NODE_EMALFORMED;
        }
        return validate_ledger_tx_bytes(self, body, size, tx.client);
    }
    case NODE_LEDGER_GOSSIP_VOTE:
        return cons_bft_vote_route(body, size, serving->ledger_validators, &voter, &collector)
                   ? 0
                   : NODE_EMALFORMED;
    case NODE_LEDGER_GOSSIP_PULL:
        return body[0] <= NODE_LEDGER_PULL_IDS_MAX && size == 1 + (size_t)body[0] * 8u
                   ? 0
                   : NODE_EMALFORMED;
    default:
        return NODE_EMALFORMED;
    }
}

/* A receipt: from a validator to a client that resends, about a decision
 * inside the run's bounds, with no payload. */
static int validate_ledger_receipt(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    if (serving == NULL || serving->ledger_resend_ns == 0 ||
        m->source >= serving->ledger_validators || m->rumor_id >= serving->request_capacity ||
        m->segment >= serving->segment_count || m->step > serving->generate_tokens ||
        m->hops > serving->retries || m->payload_bytes != 0 || m->origin != 0 ||
        m->origin_ns != 0 || m->bitmap != 0 || m->count != 0 || m->position != 0 ||
        m->token != 0) {
        return NODE_EMALFORMED;
    }
    return 0;
}

/* BFT bytes between validators (cons_bft decodes and checks the bytes
 * themselves), and transactions from any node to a validator. */
static int validate_ledger(const node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    if (serving == NULL || self->config.node_id >= serving->ledger_validators ||
        !validate_ledger_header(m) || m->payload_bytes > CONS_BFT_MESSAGE_BYTES_MAX ||
        m->source == m->dest) {
        return NODE_EMALFORMED;
    }
    if (m->type == NODE_MESSAGE_LEDGER_TX) {
        return validate_ledger_tx(self, m);
    }
    return m->source < serving->ledger_validators ? 0 : NODE_EMALFORMED;
}

int node__message_validate(const node *self, const node_message *m)
{
    ASSERT(self != NULL && m != NULL);
    if (m->dest != self->config.node_id || m->source >= self->config.node_count ||
        m->type < NODE_MESSAGE_RUMOR || m->type >= NODE_MESSAGE_TYPE_COUNT ||
        m->reserved != 0 || (m->flags & ~validate_flags_allowed(m->type)) != 0) {
        return NODE_EMALFORMED;
    }
    bool gossip = m->type == NODE_MESSAGE_RUMOR || m->type == NODE_MESSAGE_PULL;
    if (gossip) {
        /* An inference node runs no gossip: a rumor would be taken for a
         * request's outcome. */
        if (self->config.serving != NULL) {
            return NODE_EMALFORMED;
        }
        return m->type == NODE_MESSAGE_RUMOR ? validate_rumor(self, m) : validate_pull(self, m);
    }
    if (m->type == NODE_MESSAGE_LEDGER_BFT || m->type == NODE_MESSAGE_LEDGER_TX) {
        return validate_ledger(self, m);
    }
    if (m->type == NODE_MESSAGE_LEDGER_RECEIPT) {
        return validate_ledger_receipt(self, m);
    }
    if (m->type == NODE_MESSAGE_LEDGER_GOSSIP) {
        return validate_ledger_gossip(self, m);
    }
    return validate_infer(self, m);
}
