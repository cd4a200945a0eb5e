/* ledger.c -- a node's part in the settlement ledger. A validator (node id
 * below serving.ledger_validators) runs a cons_bft replica that lives in
 * the node store; its BFT bytes travel as NODE_MESSAGE_LEDGER_BFT messages
 * over the driver's network, its timers as node timers, and what the
 * replica reports -- a block committed, a view entered -- becomes OBSERVE
 * effects the driver's recorder applies. Under ledger settlement a client
 * sends each decision's verdicts as a tagged transaction
 * (NODE_MESSAGE_LEDGER_TX) to f + 1 validators, so one Byzantine leader
 * cannot keep it out of the chain; a validator checks the tag and offers
 * it to its replica. Under dissemination: gossip the client sends it to
 * one validator and ledger_gossip.c spreads it and the votes. Every
 * message reaching here passed validate.c. */
#include <string.h>

#include "node/node_int.h"
#include "util/assert.h"
#include "util/bytes.h"

size_t node_ledger_tx_size(const node_ledger_tx *tx)
{
    ASSERT(tx != NULL && tx->evidence_count <= NODE_LEDGER_EVIDENCE_MAX);
    size_t size = NODE_LEDGER_TX_HEADER_BYTES +
                  (size_t)tx->member_count * NODE_LEDGER_TX_MEMBER_BYTES + 1 +
                  NODE_LEDGER_TX_TAG_BYTES;
    for (uint32_t i = 0; i < tx->evidence_count; i++) {
        size += NODE_LEDGER_EVIDENCE_HEADER_BYTES + tx->evidence[i].size;
    }
    return size;
}

size_t node_ledger_tx_encode(const node_ledger_tx *tx, uint8_t *out)
{
    ASSERT(tx != NULL && out != NULL && tx->member_count <= NODE_LEDGER_TX_MEMBERS_MAX);
    ASSERT(node_ledger_tx_size(tx) <= CONS_BFT_TX_BYTES_MAX);
    out[0] = NODE_LEDGER_TX_VERSION;
    out[1] = (uint8_t)tx->member_count;
    util_put_u16(out + 2, (uint16_t)tx->segment);
    util_put_u64(out + 4, tx->request);
    util_put_u32(out + 12, tx->step);
    util_put_u32(out + 16, tx->round);
    util_put_u32(out + 20, tx->rows);
    util_put_u32(out + 24, tx->client);
    util_put_u64(out + 28, tx->submitted_ns);
    uint8_t *at = out + NODE_LEDGER_TX_HEADER_BYTES;
    for (uint32_t j = 0; j < tx->member_count; j++, at += NODE_LEDGER_TX_MEMBER_BYTES) {
        util_put_u32(at, tx->members[j]);
        at[4] = tx->verdicts[j];
    }
    *at++ = (uint8_t)tx->evidence_count;
    for (uint32_t i = 0; i < tx->evidence_count; i++) {
        const node_ledger_evidence *e = &tx->evidence[i];
        ASSERT(e->size <= NODE_LEDGER_EVIDENCE_BODY_MAX);
        at[0] = e->kind;
        at[1] = e->member;
        at[2] = (uint8_t)e->size;
        at[3] = (uint8_t)(e->size >> 8);
        memcpy(at + NODE_LEDGER_EVIDENCE_HEADER_BYTES, e->body, e->size);
        at += NODE_LEDGER_EVIDENCE_HEADER_BYTES + e->size;
    }
    util_put_u64(at, tx->tag);
    return (size_t)(at - out) + NODE_LEDGER_TX_TAG_BYTES;
}

/* The evidence items after the members: 0, or NODE_EMALFORMED when an
 * item runs past 'end' or is too big. */
static int ledger_evidence_decode(const uint8_t *at, const uint8_t *end, node_ledger_tx *tx)
{
    if (at >= end || at[0] > NODE_LEDGER_EVIDENCE_MAX) {
        return NODE_EMALFORMED;
    }
    tx->evidence_count = *at++;
    for (uint32_t i = 0; i < tx->evidence_count; i++) {
        node_ledger_evidence *e = &tx->evidence[i];
        if ((size_t)(end - at) < NODE_LEDGER_EVIDENCE_HEADER_BYTES) {
            return NODE_EMALFORMED;
        }
        e->kind = at[0];
        e->member = at[1];
        e->size = util_get_u16(at + 2);
        at += NODE_LEDGER_EVIDENCE_HEADER_BYTES;
        if (e->size > NODE_LEDGER_EVIDENCE_BODY_MAX || (size_t)(end - at) < e->size) {
            return NODE_EMALFORMED;
        }
        memcpy(e->body, at, e->size);
        at += e->size;
    }
    return at == end ? 0 : NODE_EMALFORMED;
}

int node_ledger_tx_decode(const uint8_t *bytes, size_t size, node_ledger_tx *tx_out)
{
    ASSERT(tx_out != NULL);
    size_t least = NODE_LEDGER_TX_HEADER_BYTES + 1 + NODE_LEDGER_TX_TAG_BYTES;
    if (bytes == NULL || size < least || bytes[0] != NODE_LEDGER_TX_VERSION ||
        bytes[1] > NODE_LEDGER_TX_MEMBERS_MAX ||
        size < least + (size_t)bytes[1] * NODE_LEDGER_TX_MEMBER_BYTES) {
        return NODE_EMALFORMED;
    }
    node_ledger_tx tx;
    memset(&tx, 0, sizeof(tx));
    tx.member_count = bytes[1];
    tx.segment = util_get_u16(bytes + 2);
    tx.request = util_get_u64(bytes + 4);
    tx.step = util_get_u32(bytes + 12);
    tx.round = util_get_u32(bytes + 16);
    tx.rows = util_get_u32(bytes + 20);
    tx.client = util_get_u32(bytes + 24);
    tx.submitted_ns = util_get_u64(bytes + 28);
    const uint8_t *member = bytes + NODE_LEDGER_TX_HEADER_BYTES;
    for (uint32_t j = 0; j < tx.member_count; j++, member += NODE_LEDGER_TX_MEMBER_BYTES) {
        tx.members[j] = util_get_u32(member);
        tx.verdicts[j] = member[4];
        if (tx.verdicts[j] > CONS_VERDICT_TIMEOUT && tx.verdicts[j] != NODE_LEDGER_TX_UNJUDGED) {
            return NODE_EMALFORMED;
        }
    }
    const uint8_t *end = bytes + size - NODE_LEDGER_TX_TAG_BYTES;
    if (ledger_evidence_decode(member, end, &tx) != 0) {
        return NODE_EMALFORMED;
    }
    tx.tag = util_get_u64(end);
    *tx_out = tx;
    return 0;
}

/* ---- evidence ---- */

static size_t ledger_statement_hop(uint8_t kind, uint64_t request, uint32_t segment,
                                   uint32_t step, uint32_t round, uint8_t *out)
{
    out[0] = kind;
    util_put_u64(out + 1, request);
    util_put_u32(out + 9, segment);
    util_put_u32(out + 13, step);
    util_put_u32(out + 17, round);
    return 21;
}

size_t node_ledger_commit_statement(uint64_t request, uint32_t segment, uint32_t step,
                                    uint32_t round, const uint8_t *vote, uint32_t vote_bytes,
                                    uint8_t *out)
{
    ASSERT(vote != NULL && out != NULL && vote_bytes <= NODE_VOTE_MAX);
    size_t size = ledger_statement_hop('C', request, segment, step, round, out);
    memcpy(out + size, vote, vote_bytes);
    return size + vote_bytes;
}

size_t node_ledger_ruling_statement(uint64_t request, uint32_t segment, uint32_t step,
                                    uint32_t round, uint32_t member_id, const uint8_t *vote,
                                    uint32_t vote_bytes, uint8_t *out)
{
    ASSERT(vote != NULL && out != NULL && vote_bytes <= NODE_VOTE_MAX);
    size_t size = ledger_statement_hop('W', request, segment, step, round, out);
    util_put_u32(out + size, member_id);
    memcpy(out + size + 4, vote, vote_bytes);
    return size + 4 + vote_bytes;
}

size_t node_ledger_timeout_statement(uint64_t request, uint32_t segment, uint32_t step,
                                     uint32_t round, uint32_t member_id, uint8_t *out)
{
    ASSERT(out != NULL);
    size_t size = ledger_statement_hop('T', request, segment, step, round, out);
    util_put_u32(out + size, member_id);
    return size + 4;
}

uint32_t node_ledger_attest_quorum(uint32_t attesters)
{
    ASSERT(attesters >= 1);
    return attesters - (attesters - 1) / 3;
}

/* Whether 'signature' by 'signer' covers the commitment of 'vote' to the hop. */
static bool ledger_commit_signed(const node_serving *serving, const node_ledger_tx *tx,
                                 uint32_t signer, const uint8_t *vote,
                                 const uint8_t *signature)
{
    const node_verifier *verifier = serving->verifier;
    uint8_t statement[NODE_LEDGER_STATEMENT_MAX];
    size_t size = node_ledger_commit_statement(tx->request, tx->segment, tx->step, tx->round,
                                               vote, serving->vote_bytes, statement);
    return verifier->evidence_verify(verifier->context, signer, statement, size, signature);
}

/* Two different votes, both signed by the member, for one hop. */
static bool ledger_equivocation_valid(const node_serving *serving, const node_ledger_tx *tx,
                                      uint32_t member_id, const node_ledger_evidence *e)
{
    uint32_t vote_bytes = serving->vote_bytes;
    size_t half = (size_t)vote_bytes + NODE_SIGNATURE_BYTES;
    if (e->size != 2 * half) {
        return false;
    }
    const uint8_t *a = e->body;
    const uint8_t *b = e->body + half;
    return memcmp(a, b, vote_bytes) != 0 &&
           ledger_commit_signed(serving, tx, member_id, a, a + vote_bytes) &&
           ledger_commit_signed(serving, tx, member_id, b, b + vote_bytes);
}

/* The member's signed vote and the referee's ruling on it. */
static bool ledger_referee_valid(const node_serving *serving, const node_ledger_tx *tx,
                                 uint32_t member_id, const node_ledger_evidence *e)
{
    const node_verifier *verifier = serving->verifier;
    uint32_t vote_bytes = serving->vote_bytes;
    if (e->size != vote_bytes + 2 * NODE_SIGNATURE_BYTES) {
        return false;
    }
    const uint8_t *vote = e->body;
    const uint8_t *member_signature = vote + vote_bytes;
    const uint8_t *referee_signature = member_signature + NODE_SIGNATURE_BYTES;
    uint8_t statement[NODE_LEDGER_STATEMENT_MAX];
    size_t size = node_ledger_ruling_statement(tx->request, tx->segment, tx->step, tx->round,
                                               member_id, vote, vote_bytes, statement);
    return ledger_commit_signed(serving, tx, member_id, vote, member_signature) &&
           verifier->evidence_verify(verifier->context, NODE_SIGNER_REFEREE, statement, size,
                                     referee_signature);
}

/* Whether the transaction's members are the hop's committee, as the
 * verifier draws it: only then are the other members its attesters. */
static bool ledger_members_drawn(const node_serving *serving, const node_ledger_tx *tx)
{
    const node_verifier *verifier = serving->verifier;
    if (tx->segment >= serving->segment_count || tx->round > serving->retries) {
        return false;
    }
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t count = verifier->committee(verifier->context, tx->request, tx->segment, tx->round,
                                         members);
    ASSERT(count <= NODE_COMMITTEE_MAX);
    return count == tx->member_count &&
           memcmp(members, tx->members, count * sizeof(members[0])) == 0;
}

/* A quorum of distinct other members attests, each with its signature,
 * that member j's commitment to the hop never reached it. */
static bool ledger_timeout_valid(const node_serving *serving, const node_ledger_tx *tx,
                                 uint32_t j, const node_ledger_evidence *e)
{
    const node_verifier *verifier = serving->verifier;
    if (tx->member_count < 2 || e->size % NODE_LEDGER_ATTESTATION_BYTES != 0 ||
        e->size / NODE_LEDGER_ATTESTATION_BYTES <
            node_ledger_attest_quorum(tx->member_count - 1) ||
        !ledger_members_drawn(serving, tx)) {
        return false;
    }
    uint8_t statement[NODE_LEDGER_STATEMENT_MAX];
    size_t size = node_ledger_timeout_statement(tx->request, tx->segment, tx->step, tx->round,
                                                tx->members[j], statement);
    uint64_t signers = 0;
    for (const uint8_t *at = e->body; at < e->body + e->size;
         at += NODE_LEDGER_ATTESTATION_BYTES) {
        uint32_t attester = at[0];
        if (attester >= tx->member_count || attester == j || ((signers >> attester) & 1u) ||
            !verifier->evidence_verify(verifier->context, tx->members[attester], statement,
                                       size, at + 1)) {
            return false;
        }
        signers |= UINT64_C(1) << attester;
    }
    return true;
}

bool node_ledger_evidence_check(const node_serving *serving, const node_ledger_tx *tx,
                                uint32_t j)
{
    ASSERT(serving != NULL && tx != NULL && j < tx->member_count);
    ASSERT(serving->verifier != NULL && serving->vote_bytes <= NODE_VOTE_MAX);
    uint8_t verdict = tx->verdicts[j];
    if (verdict == CONS_VERDICT_TIMEOUT) {
        for (uint32_t i = 0; i < tx->evidence_count && serving->ledger_timeout_evidence; i++) {
            const node_ledger_evidence *e = &tx->evidence[i];
            if (e->member == j && e->kind == NODE_EVIDENCE_TIMEOUT &&
                ledger_timeout_valid(serving, tx, j, e)) {
                return true;
            }
        }
        return false; /* Without timeout evidence a timeout is never proven. */
    }
    if (verdict != CONS_VERDICT_PROVEN && verdict != CONS_VERDICT_DEVIATED) {
        return false; /* AGREED needs none. */
    }
    for (uint32_t i = 0; i < tx->evidence_count; i++) {
        const node_ledger_evidence *e = &tx->evidence[i];
        if (e->member != j) {
            continue;
        }
        if (e->kind == NODE_EVIDENCE_EQUIVOCATION && verdict == CONS_VERDICT_PROVEN &&
            ledger_equivocation_valid(serving, tx, tx->members[j], e)) {
            return true;
        }
        if (e->kind == NODE_EVIDENCE_REFEREE &&
            ledger_referee_valid(serving, tx, tx->members[j], e)) {
            return true;
        }
    }
    return false;
}

uint32_t node_ledger_penalties_unproven(const node_serving *serving, const node_ledger_tx *tx)
{
    ASSERT(serving != NULL && tx != NULL);
    uint32_t unproven = 0;
    for (uint32_t j = 0; j < tx->member_count; j++) {
        uint8_t verdict = tx->verdicts[j];
        if (verdict != CONS_VERDICT_AGREED && verdict != NODE_LEDGER_TX_UNJUDGED &&
            !node_ledger_evidence_check(serving, tx, j)) {
            unproven += 1;
        }
    }
    return unproven;
}

bool node__ledger_is_validator(const node *self)
{
    const node_serving *serving = self->config.serving;
    return serving != NULL && self->config.node_id < serving->ledger_validators;
}

/* Instance 0, or a Twins validator's instance 1. */
static cons_bft_replica *ledger_replica(const node *self, uint32_t instance)
{
    ASSERT(node__ledger_is_validator(self) && instance < 2);
    const node_store *store = self->config.store;
    cons_bft_replica *replica = instance == 0 ? store->bft[self->config.node_id]
                                              : store->bft_twin[self->config.node_id];
    ASSERT(replica != NULL);
    return replica;
}

static bool ledger_is_twin(const node *self, uint32_t validator)
{
    const node_serving *serving = self->config.serving;
    return serving->ledger_twin_of != NULL && serving->ledger_twin_of[validator] != 0;
}

/* A message of 'type' from this node to 'to', or NULL (counted) when the
 * call's outbox is full. */
static node_message *ledger_message(node *self, node_outbox *outbox, uint8_t type, uint32_t to)
{
    if (outbox->count + 1 >= NODE_OUTBOX_MAX) {
        self->config.store->ledger_sends_dropped += 1;
        return NULL;
    }
    node_message *m = &node__effect_append(outbox, NODE_EFFECT_SEND)->message;
    m->type = type;
    m->source = self->config.node_id;
    m->dest = to;
    return m;
}

/* One BFT message to validator 'to', unless the call's outbox is full. A
 * Twins instance talks only to its side: the honest validators of its
 * parity and the other twins' same instance. */
static void ledger_send(node *self, node_outbox *outbox, uint32_t instance, uint32_t to,
                        const uint8_t *bytes, size_t size)
{
    bool twin = ledger_is_twin(self, self->config.node_id);
    if (twin && !ledger_is_twin(self, to) && to % 2 != instance) {
        return;
    }
    node_message *m = ledger_message(self, outbox, NODE_MESSAGE_LEDGER_BFT, to);
    if (m == NULL) {
        return;
    }
    m->flags = twin && instance == 1 && ledger_is_twin(self, to) ? NODE_MESSAGE_FLAG_TWIN_SIDE : 0;
    m->payload_bytes = (uint32_t)size;
    m->payload = bytes;
}

static void ledger_timer(node *self, node_outbox *outbox, uint32_t instance, uint64_t at_ns,
                         uint64_t token)
{
    uint32_t id = self->config.node_id;
    node_store *store = self->config.store;
    uint32_t slot = instance * 2 + (uint32_t)(token & 1u);
    store->bft_timer_token[id][slot] = token + 1;
    store->bft_timer_at_ns[id][slot] = at_ns;
    node_effect *effect = node__effect_append(outbox, NODE_EFFECT_TIMER);
    effect->at_ns = at_ns;
    effect->timer_id = NODE_TIMER_LEDGER_BIT | ((uint64_t)instance << 61) | token;
}

static void ledger_observe(node_outbox *outbox, const cons_bft_effect *e)
{
    if (outbox->count + 1 >= NODE_OUTBOX_MAX) {
        return;
    }
    node_effect *effect = node__effect_append(outbox, NODE_EFFECT_OBSERVE);
    bool commit = e->kind == CONS_BFT_COMMIT;
    effect->observation = commit ? NODE_OBS_LEDGER_COMMIT : NODE_OBS_LEDGER_VIEW;
    effect->block = commit ? e->block : NULL;
    effect->value = commit ? cons_bft_block_height(e->block) : e->view;
    effect->segment = commit ? 0 : (uint32_t)e->reason;
}

/* A validator that committed 'block' tells each transaction's client (when
 * clients resend: serving.ledger_resend_ns), unless the outbox is full. */
static void ledger_receipts(node *self, node_outbox *outbox, const cons_bft_block *block)
{
    const node_serving *serving = self->config.serving;
    if (serving->ledger_resend_ns == 0) {
        return;
    }
    uint32_t count = cons_bft_block_tx_count(block);
    for (uint32_t i = 0; i < count; i++) {
        size_t size = 0;
        const uint8_t *bytes = cons_bft_block_tx(block, i, &size);
        node_ledger_tx tx;
        if (node_ledger_tx_decode(bytes, size, &tx) != 0 || tx.client >= self->config.node_count ||
            tx.client == self->config.node_id || tx.request >= serving->request_capacity ||
            tx.segment >= serving->segment_count || tx.step > serving->generate_tokens ||
            tx.round > serving->retries) {
            continue; /* a committed transaction is still a client's bytes */
        }
        node_message *m = ledger_message(self, outbox, NODE_MESSAGE_LEDGER_RECEIPT, tx.client);
        if (m == NULL) {
            return;
        }
        m->rumor_id = tx.request;
        m->segment = (uint16_t)tx.segment;
        m->step = tx.step;
        m->hops = tx.round;
    }
}

/* Under gossip a validator's vote is pushed, not sent to its collector. */
static bool ledger_gossips_vote(const node *self, uint32_t instance, const cons_bft_effect *e)
{
    uint32_t voter = 0;
    uint32_t collector = 0;
    return self->config.serving->ledger_gossip && instance == 0 &&
           cons_bft_vote_route(e->bytes, e->size, self->config.serving->ledger_validators,
                               &voter, &collector);
}

/* The replica's effects of the last call, as node effects. */
static void ledger_drain(node *self, uint64_t now_ns, node_outbox *outbox, uint32_t instance)
{
    const cons_bft_effect *effects = NULL;
    size_t count = cons_bft_effects(ledger_replica(self, instance), &effects);
    uint32_t validators = self->config.serving->ledger_validators;
    for (size_t i = 0; i < count; i++) {
        const cons_bft_effect *e = &effects[i];
        if (e->kind == CONS_BFT_SEND && ledger_gossips_vote(self, instance, e)) {
            node__ledger_gossip_vote(self, now_ns, e->bytes, e->size, outbox);
        } else if (e->kind == CONS_BFT_SEND) {
            ledger_send(self, outbox, instance, e->to, e->bytes, e->size);
        } else if (e->kind == CONS_BFT_BROADCAST) {
            for (uint32_t to = 0; to < validators; to++) {
                if (to != self->config.node_id) {
                    ledger_send(self, outbox, instance, to, e->bytes, e->size);
                }
            }
        } else if (e->kind == CONS_BFT_TIMER) {
            ledger_timer(self, outbox, instance, e->at_ns, e->token);
        } else {
            ledger_observe(outbox, e);
            if (e->kind == CONS_BFT_COMMIT && instance == 0) {
                ledger_receipts(self, outbox, e->block);
            }
        }
    }
}

static uint32_t ledger_instances(const node *self)
{
    return ledger_is_twin(self, self->config.node_id) ? 2 : 1;
}

void node__ledger_start(node *self, uint64_t now_ns, node_outbox *outbox)
{
    if (!node__ledger_is_validator(self)) {
        return;
    }
    for (uint32_t k = 0; k < ledger_instances(self); k++) {
        cons_bft_start(ledger_replica(self, k), now_ns);
        ledger_drain(self, now_ns, outbox, k);
    }
    node__ledger_gossip_arm(self, now_ns, outbox);
}

/* A crash lost the replica's timers: arm them again (a stale token is
 * ignored by the replica, so re-arming a fired one is harmless). */
void node__ledger_recover(node *self, uint64_t now_ns, node_outbox *outbox)
{
    if (!node__ledger_is_validator(self)) {
        return;
    }
    uint32_t id = self->config.node_id;
    node_store *store = self->config.store;
    for (uint32_t slot = 0; slot < 2 * ledger_instances(self); slot++) {
        uint64_t token = store->bft_timer_token[id][slot];
        if (token != 0) {
            uint64_t at_ns = store->bft_timer_at_ns[id][slot];
            node_effect *effect = node__effect_append(outbox, NODE_EFFECT_TIMER);
            effect->at_ns = at_ns > now_ns ? at_ns : now_ns;
            effect->timer_id = NODE_TIMER_LEDGER_BIT | ((uint64_t)(slot / 2) << 61) | (token - 1);
        }
    }
    node__ledger_gossip_arm(self, now_ns, outbox);
}

void node__ledger_timer(node *self, uint64_t now_ns, uint64_t timer_id, node_outbox *outbox)
{
    uint32_t instance = (uint32_t)((timer_id >> 61) & 1u);
    if (!node__ledger_is_validator(self) || instance >= ledger_instances(self)) {
        return;
    }
    uint64_t token = timer_id & ~(NODE_TIMER_LEDGER_BIT | (UINT64_C(1) << 61));
    cons_bft_on_timer(ledger_replica(self, instance), now_ns, token);
    ledger_drain(self, now_ns, outbox, instance);
}

/* A validator refuses a transaction with a penalty its evidence does not
 * prove: it never reaches the validator's replica, and the refusal is an
 * observation (a refusal is the validator's choice, not a malformed
 * message). The bytes passed validate.c or are this node's own, so they
 * decode. */
static bool ledger_tx_refused(const node *self, const uint8_t *bytes, size_t size,
                              node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_ledger_tx tx;
    if (!serving->ledger_evidence || node_ledger_tx_decode(bytes, size, &tx) != 0) {
        return false;
    }
    uint32_t unproven = node_ledger_penalties_unproven(serving, &tx);
    if (unproven == 0) {
        return false;
    }
    node_effect *effect = node__effect_append(outbox, NODE_EFFECT_OBSERVE);
    effect->observation = NODE_OBS_LEDGER_REFUSED;
    effect->rumor_id = tx.request;
    effect->segment = tx.segment;
    effect->value = tx.step | ((uint64_t)tx.round << 32);
    effect->attempt = unproven;
    return true;
}

/* A validator offers a transaction it does not refuse to its replica(s)
 * (false: refused). Already pending or committed, or a full mempool:
 * nothing to do. */
static bool ledger_admit(node *self, const uint8_t *bytes, size_t size, node_outbox *outbox)
{
    if (ledger_tx_refused(self, bytes, size, outbox)) {
        return false;
    }
    for (uint32_t k = 0; k < ledger_instances(self); k++) {
        (void)cons_bft_submit(ledger_replica(self, k), bytes, size);
    }
    return true;
}

void node__ledger_take(node *self, uint64_t now_ns, const uint8_t *bytes, size_t size,
                       uint32_t from, node_outbox *outbox)
{
    if (!self->config.serving->ledger_gossip) {
        (void)ledger_admit(self, bytes, size, outbox);
        return;
    }
    if (node__ledger_gossip_fresh(self, cons_bft_tx_hash(bytes, size)) &&
        ledger_admit(self, bytes, size, outbox)) {
        node__ledger_gossip_push(self, now_ns, NODE_LEDGER_GOSSIP_TX, bytes, size, from,
                                 UINT32_MAX, outbox);
    }
}

/* A transaction from its client: the tag must be the client's. */
static int ledger_on_tx(node *self, uint64_t now_ns, const node_message *message,
                        node_outbox *outbox)
{
    const node_verifier *verifier = self->config.serving->verifier;
    size_t size = message->payload_bytes;
    uint64_t tag = util_get_u64(message->payload + size - NODE_LEDGER_TX_TAG_BYTES);
    uint64_t expected = verifier->ledger_tag(verifier->context, message->source,
                                             message->payload, size - NODE_LEDGER_TX_TAG_BYTES);
    if (tag != expected) {
        return NODE_EMALFORMED;
    }
    node__ledger_take(self, now_ns, message->payload, size, message->source, outbox);
    return 0;
}

bool node_ledger_tx_admissible(const node_serving *serving, uint32_t node_count,
                               const uint8_t *bytes, size_t size)
{
    ASSERT(serving != NULL && serving->verifier != NULL);
    node_ledger_tx tx;
    if (node_ledger_tx_decode(bytes, size, &tx) != 0 || tx.client >= node_count ||
        tx.request >= serving->request_capacity || tx.segment >= serving->segment_count ||
        tx.step > serving->generate_tokens || tx.round > serving->retries ||
        tx.member_count > serving->committee) {
        return false;
    }
    for (uint32_t j = 0; j < tx.member_count; j++) {
        if (tx.members[j] >= node_count) {
            return false;
        }
    }
    const node_verifier *verifier = serving->verifier;
    if (verifier->ledger_tag(verifier->context, tx.client, bytes,
                             size - NODE_LEDGER_TX_TAG_BYTES) != tx.tag) {
        return false;
    }
    return !serving->ledger_evidence || node_ledger_penalties_unproven(serving, &tx) == 0;
}

/* ---- a client's pending transactions ---- */

static node_ledger_pending *ledger_pending(const node_store *store, uint32_t block_plus_one)
{
    ASSERT(block_plus_one != 0);
    return util_pool_block(&store->ledger_pending_pool, block_plus_one - 1);
}

/* Sends 'size' bytes of transaction to ledger_entry validators (f + 1;
 * under gossip 1), from validator (request + offset) mod n on; one that is
 * this node takes it directly. */
static void ledger_send_tx(node *self, uint64_t now_ns, node_outbox *outbox, uint64_t request,
                           uint32_t offset, const uint8_t *bytes, size_t size)
{
    const node_serving *serving = self->config.serving;
    uint32_t n = serving->ledger_validators;
    for (uint32_t i = 0; i < serving->ledger_entry && i < n; i++) {
        uint32_t to = (uint32_t)((request + offset + i) % n);
        if (to == self->config.node_id) {
            node__ledger_take(self, now_ns, bytes, size, to, outbox);
            continue;
        }
        node_effect *effect = node__effect_append(outbox, NODE_EFFECT_SEND);
        effect->message.type = NODE_MESSAGE_LEDGER_TX;
        effect->message.source = self->config.node_id;
        effect->message.dest = to;
        effect->message.payload_bytes = (uint32_t)size;
        effect->message.payload = bytes;
    }
}

/* Keeps a copy of the transaction until f + 1 validators confirm it, and
 * arms the request's resend timer. */
static void ledger_keep(node *self, uint64_t now_ns, node_outbox *outbox,
                        const node_ledger_tx *tx, const uint8_t *bytes, size_t size)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t block = 0;
    int rc = util_pool_take(&store->ledger_pending_pool, &block);
    ASSERT(rc == 0); /* Host out of memory mid-run. */
    node_ledger_pending *p = ledger_pending(store, block + 1);
    *p = (node_ledger_pending){.request = tx->request, .due_ns = now_ns + serving->ledger_resend_ns,
                               .segment = tx->segment, .step = tx->step, .round = tx->round,
                               .sends = 1, .next = store->ledger_pending_of[tx->request],
                               .size = (uint32_t)size};
    memcpy(p->bytes, bytes, size);
    store->ledger_pending_of[tx->request] = block + 1;
    node__serve_timer_arm(outbox, p->due_ns,
                          node__serve_timer_id(NODE_SERVE_TIMER_RESEND, tx->request, 0));
}

static uint32_t ledger_receipt_count(const node_ledger_pending *p)
{
    uint32_t count = 0;
    for (size_t w = 0; w < sizeof(p->receipts) / sizeof(p->receipts[0]); w++) {
        count += (uint32_t)__builtin_popcountll(p->receipts[w]);
    }
    return count;
}

/* A validator says the transaction of a decision committed: once f + 1
 * have, the client forgets it. A receipt about nothing pending is stale. */
static int ledger_on_receipt(node *self, const node_message *m)
{
    node_store *store = self->config.store;
    const node_request *r = &store->requests[m->rumor_id];
    if (!r->submitted || r->client != self->config.node_id) {
        return NODE_EMALFORMED;
    }
    uint32_t *link = &store->ledger_pending_of[m->rumor_id];
    while (*link != 0) {
        node_ledger_pending *p = ledger_pending(store, *link);
        if (p->segment == m->segment && p->step == m->step && p->round == m->hops) {
            p->receipts[m->source / 64] |= UINT64_C(1) << (m->source % 64);
            if (ledger_receipt_count(p) >= self->config.serving->ledger_submit_to) {
                uint32_t block = *link - 1;
                *link = p->next;
                util_pool_give(&store->ledger_pending_pool, block);
            }
            return 0;
        }
        link = &p->next;
    }
    return 0;
}

void node__ledger_resend(node *self, uint64_t now_ns, uint64_t request, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    ASSERT(serving->ledger_resend_ns > 0 && request < serving->request_capacity);
    uint64_t next_ns = UINT64_MAX;
    for (uint32_t at = store->ledger_pending_of[request]; at != 0;) {
        node_ledger_pending *p = ledger_pending(store, at);
        at = p->next;
        if (p->sends >= NODE_LEDGER_SENDS_MAX || outbox->count + 8 >= NODE_OUTBOX_MAX) {
            continue;
        }
        if (p->due_ns <= now_ns) {
            /* The next entry validators: the first ones may be cut off. */
            ledger_send_tx(self, now_ns, outbox, request, p->sends * serving->ledger_entry,
                           p->bytes, p->size);
            p->sends += 1;
            p->due_ns = now_ns + serving->ledger_resend_ns;
            node__serve_observe(outbox, NODE_OBS_LEDGER_RESEND, request, p->segment, p->step);
        }
        next_ns = p->due_ns < next_ns ? p->due_ns : next_ns;
    }
    if (next_ns != UINT64_MAX) {
        node__serve_timer_arm(outbox, next_ns,
                              node__serve_timer_id(NODE_SERVE_TIMER_RESEND, request, 0));
    }
}

/* Hands replica 'instance' a BFT message from validator 'from', then its
 * effects to the outbox. */
static int ledger_feed(node *self, uint64_t now_ns, uint32_t instance, uint32_t from,
                       const uint8_t *bytes, size_t size, node_outbox *outbox)
{
    if (cons_bft_on_message(ledger_replica(self, instance), now_ns, from, bytes, size) != 0) {
        return NODE_EMALFORMED;      /* refused by the replica: it has no effects */
    }
    ledger_drain(self, now_ns, outbox, instance);
    return 0;
}

int node__ledger_message(node *self, uint64_t now_ns, const node_message *message,
                         node_outbox *outbox)
{
    if (message->type == NODE_MESSAGE_LEDGER_TX) {
        return ledger_on_tx(self, now_ns, message, outbox);
    }
    if (message->type == NODE_MESSAGE_LEDGER_RECEIPT) {
        return ledger_on_receipt(self, message);
    }
    uint32_t instance = 0;
    if (ledger_instances(self) == 2) {
        /* A Twins node: the other twins say which side; an honest
         * validator's side is its parity. */
        instance = ledger_is_twin(self, message->source)
                       ? ((message->flags & NODE_MESSAGE_FLAG_TWIN_SIDE) != 0 ? 1u : 0u)
                       : message->source % 2;
    }
    return ledger_feed(self, now_ns, instance, message->source, message->payload,
                       message->payload_bytes, outbox);
}

int node__ledger_deliver(node *self, uint64_t now_ns, uint32_t from, const uint8_t *bytes,
                         size_t size, node_outbox *outbox)
{
    return ledger_feed(self, now_ns, 0, from, bytes, size, outbox);
}

/* Client: the decision's verdicts as a transaction to ledger_submit_to
 * validators, from validator request mod n on; one that is this node
 * takes it directly. */
void node__ledger_submit(node *self, uint64_t now_ns, node_outbox *outbox, node_ledger_tx *tx)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    ASSERT(serving->ledger_settlement && serving->ledger_validators > 0);
    tx->client = self->config.node_id;
    tx->submitted_ns = now_ns;
    ASSERT(store->ledger_tx_count < NODE_DECISIONS_PER_CALL);
    uint8_t *bytes = store->ledger_tx[store->ledger_tx_count++];
    size_t size = node_ledger_tx_encode(tx, bytes);
    ASSERT(size == node_ledger_tx_size(tx));
    tx->tag = serving->verifier->ledger_tag(serving->verifier->context, tx->client, bytes,
                                            size - NODE_LEDGER_TX_TAG_BYTES);
    size = node_ledger_tx_encode(tx, bytes);
    ledger_send_tx(self, now_ns, outbox, tx->request, 0, bytes, size);
    if (serving->ledger_resend_ns > 0) {
        ledger_keep(self, now_ns, outbox, tx, bytes, size);
    }
    node__serve_observe(outbox, NODE_OBS_LEDGER_TX, tx->request, tx->segment, tx->step);
}
