/* ledger.c -- a node's part in the settlement ledger. A validator (node id
 * below serving.ledger_validators) runs a cons_bft replica that lives in
 * the node store; its BFT bytes travel as NODE_MESSAGE_LEDGER_BFT messages
 * over the driver's network, its timers as node timers, and what the
 * replica reports -- a block committed, a view entered -- becomes OBSERVE
 * effects the driver's recorder applies. Under ledger settlement a client
 * sends each decision's verdicts as a tagged transaction
 * (NODE_MESSAGE_LEDGER_TX) to f + 1 validators, so one Byzantine leader
 * cannot keep it out of the chain; a validator checks the tag and offers
 * it to its replica. Every message reaching here passed validate.c. */
#include <string.h>

#include "node/node_int.h"
#include "util/assert.h"
#include "util/bytes.h"

size_t node_ledger_tx_encode(const node_ledger_tx *tx, uint8_t *out)
{
    ASSERT(tx != NULL && out != NULL && tx->member_count <= NODE_LEDGER_TX_MEMBERS_MAX);
    out[0] = NODE_LEDGER_TX_VERSION;
    out[1] = (uint8_t)tx->member_count;
    out[2] = (uint8_t)tx->segment;
    out[3] = (uint8_t)(tx->segment >> 8);
    util_put_u64(out + 4, tx->request);
    util_put_u32(out + 12, tx->step);
    util_put_u32(out + 16, tx->round);
    util_put_u32(out + 20, tx->rows);
    util_put_u32(out + 24, tx->client);
    util_put_u64(out + 28, tx->submitted_ns);
    uint8_t *member = out + NODE_LEDGER_TX_HEADER_BYTES;
    for (uint32_t j = 0; j < tx->member_count; j++, member += NODE_LEDGER_TX_MEMBER_BYTES) {
        util_put_u32(member, tx->members[j]);
        member[4] = tx->verdicts[j];
    }
    util_put_u64(member, tx->tag);
    return node_ledger_tx_size(tx->member_count);
}

int node_ledger_tx_decode(const uint8_t *bytes, size_t size, node_ledger_tx *tx_out)
{
    ASSERT(tx_out != NULL);
    if (bytes == NULL || size < node_ledger_tx_size(0) || bytes[0] != NODE_LEDGER_TX_VERSION ||
        bytes[1] > NODE_LEDGER_TX_MEMBERS_MAX || size != node_ledger_tx_size(bytes[1])) {
        return NODE_EMALFORMED;
    }
    node_ledger_tx tx;
    memset(&tx, 0, sizeof(tx));
    tx.member_count = bytes[1];
    tx.segment = (uint32_t)bytes[2] | ((uint32_t)bytes[3] << 8);
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
    tx.tag = util_get_u64(member);
    *tx_out = tx;
    return 0;
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
    if (outbox->count + 1 >= NODE_OUTBOX_MAX) {
        self->config.store->ledger_sends_dropped += 1;
        return;
    }
    node_effect *effect = node__effect_append(outbox, NODE_EFFECT_SEND);
    node_message *m = &effect->message;
    m->type = NODE_MESSAGE_LEDGER_BFT;
    m->flags = twin && instance == 1 && ledger_is_twin(self, to) ? NODE_MESSAGE_FLAG_TWIN_SIDE : 0;
    m->source = self->config.node_id;
    m->dest = to;
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

/* The replica's effects of the last call, as node effects. */
static void ledger_drain(node *self, node_outbox *outbox, uint32_t instance)
{
    const cons_bft_effect *effects = NULL;
    size_t count = cons_bft_effects(ledger_replica(self, instance), &effects);
    uint32_t validators = self->config.serving->ledger_validators;
    for (size_t i = 0; i < count; i++) {
        const cons_bft_effect *e = &effects[i];
        if (e->kind == CONS_BFT_SEND) {
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
        ledger_drain(self, outbox, k);
    }
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
}

void node__ledger_timer(node *self, uint64_t now_ns, uint64_t timer_id, node_outbox *outbox)
{
    uint32_t instance = (uint32_t)((timer_id >> 61) & 1u);
    if (!node__ledger_is_validator(self) || instance >= ledger_instances(self)) {
        return;
    }
    uint64_t token = timer_id & ~(NODE_TIMER_LEDGER_BIT | (UINT64_C(1) << 61));
    cons_bft_on_timer(ledger_replica(self, instance), now_ns, token);
    ledger_drain(self, outbox, instance);
}

/* A transaction from its client: the tag must be the client's. */
static int ledger_on_tx(node *self, const node_message *message)
{
    const node_verifier *verifier = self->config.serving->verifier;
    size_t size = message->payload_bytes;
    uint64_t tag = util_get_u64(message->payload + size - NODE_LEDGER_TX_TAG_BYTES);
    uint64_t expected = verifier->ledger_tag(verifier->context, message->source,
                                             message->payload, size - NODE_LEDGER_TX_TAG_BYTES);
    if (tag != expected) {
        return NODE_EMALFORMED;
    }
    /* Already pending or committed, or a full mempool: nothing to do. */
    for (uint32_t k = 0; k < ledger_instances(self); k++) {
        (void)cons_bft_submit(ledger_replica(self, k), message->payload, size);
    }
    return 0;
}

int node__ledger_message(node *self, uint64_t now_ns, const node_message *message,
                         node_outbox *outbox)
{
    if (message->type == NODE_MESSAGE_LEDGER_TX) {
        return ledger_on_tx(self, message);
    }
    uint32_t instance = 0;
    if (ledger_instances(self) == 2) {
        /* A Twins node: the other twins say which side; an honest
         * validator's side is its parity. */
        instance = ledger_is_twin(self, message->source)
                       ? ((message->flags & NODE_MESSAGE_FLAG_TWIN_SIDE) != 0 ? 1u : 0u)
                       : message->source % 2;
    }
    int rc = cons_bft_on_message(ledger_replica(self, instance), now_ns, message->source,
                                 message->payload, message->payload_bytes);
    if (rc != 0) {
        return NODE_EMALFORMED;      /* refused by the replica: it has no effects */
    }
    ledger_drain(self, outbox, instance);
    return 0;
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
    tx->tag = serving->verifier->ledger_tag(serving->verifier->context, tx->client, bytes,
                                            size - NODE_LEDGER_TX_TAG_BYTES);
    size = node_ledger_tx_encode(tx, bytes);
    uint32_t n = serving->ledger_validators;
    for (uint32_t i = 0; i < serving->ledger_submit_to && i < n; i++) {
        uint32_t to = (uint32_t)((tx->request + i) % n);
        if (to == self->config.node_id) {
            for (uint32_t k = 0; k < ledger_instances(self); k++) {
                (void)cons_bft_submit(ledger_replica(self, k), bytes, size);
            }
            continue;
        }
        node_effect *effect = node__effect_append(outbox, NODE_EFFECT_SEND);
        effect->message.type = NODE_MESSAGE_LEDGER_TX;
        effect->message.source = self->config.node_id;
        effect->message.dest = to;
        effect->message.payload_bytes = (uint32_t)size;
        effect->message.payload = bytes;
    }
    node__serve_observe(outbox, NODE_OBS_LEDGER_TX, tx->request, tx->segment, tx->step);
}
