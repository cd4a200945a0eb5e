/* attest.c -- evidence for a missed commit deadline (ledger.timeout_evidence).
 * A timeout is an absence, which no signature of the accused can prove, so
 * the proof is what the other members of the hop's committee saw:
 *
 *  - a member sends its signed commitment to the client and to each peer
 *    of its committee, and keeps, per step of its hop, when it committed
 *    itself, for which client, and whose commitments reached it;
 *  - a client whose decision judges a member TIMEOUT that never committed
 *    keeps the transaction back (a claim) and, 2 x commit_timeout after
 *    the decision, asks the members that did commit to attest it;
 *  - a member signs "T, the hop, the accused" only when it committed to
 *    the hop itself, at least 2 x commit_timeout ago, for the client that
 *    asks, and the accused's commitment never reached it;
 *  - the client puts the attestations (attester index, signature) in the
 *    transaction as a TIMEOUT evidence item, and sends it once every
 *    accused member has its quorum or reveal_timeout after the asks; a
 *    timeout short of its quorum goes out unjudged.
 *
 * An honest member that committed in time sent the same commitment to its
 * peers; if a message arrives within commit_timeout (the bound the
 * client's deadline already assumes), it reached every honest peer before
 * that peer may attest, whenever a framing client asks. So only the f
 * Byzantine attesters the quorum tolerates can sign against it. */
#include <string.h>

#include "node/node_int.h"
#include "util/assert.h"

static node_attest_seen *attest_entry(const node *self, uint64_t request, uint32_t segment,
                                      uint32_t slot, uint32_t step)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    ASSERT(store->attest_seen != NULL && step <= serving->generate_tokens);
    size_t index = node__serve_slot_index(serving, request, segment, slot);
    return &store->attest_seen[index * (serving->generate_tokens + 1u) + step];
}

static uint32_t attest_committee(const node *self, const node_message *m, uint32_t *members)
{
    const node_verifier *verifier = self->config.serving->verifier;
    uint32_t count = verifier->committee(verifier->context, m->rumor_id, m->segment, m->hops,
                                         members);
    ASSERT(count <= self->config.serving->committee);
    return count;
}

/* ---- member ---- */

void node__attest_share(node *self, const node_message *m, uint32_t member,
                        const node_message *commit, uint64_t at_ns, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    if (!serving->ledger_timeout_evidence) {
        return;
    }
    uint32_t slot = m->hops * serving->committee + member;
    node_attest_seen *entry = attest_entry(self, m->rumor_id, m->segment, slot, m->step);
    entry->committed_ns = at_ns > 0 ? at_ns : 1;
    entry->client_plus_one = self->config.store->client_of[node__serve_slot_index(
        serving, m->rumor_id, m->segment, slot)];
    entry->seen |= UINT64_C(1) << member;
    node__committee_to_peers(self, outbox, m, member, commit, at_ns);
}

/* This node's index in the hop's committee, when the message's 'token'
 * names another member of it (and, for a peer's commitment, the sender). */
static uint32_t attest_member(const node *self, const node_message *m, bool token_is_source)
{
    uint32_t members[NODE_COMMITTEE_MAX];
    uint32_t count = attest_committee(self, m, members);
    uint32_t me = UINT32_MAX;
    for (uint32_t i = 0; i < count; i++) {
        me = members[i] == self->config.node_id ? i : me;
    }
    if (me == UINT32_MAX || m->token >= count || m->token == me ||
        (token_is_source && members[m->token] != m->source)) {
        return UINT32_MAX;
    }
    return me;
}

int node__attest_peer_commit(node *self, const node_message *m)
{
    const node_serving *serving = self->config.serving;
    uint32_t me = serving->ledger_timeout_evidence ? attest_member(self, m, true) : UINT32_MAX;
    if (me == UINT32_MAX) {
        return NODE_EMALFORMED;
    }
    uint32_t slot = m->hops * serving->committee + me;
    attest_entry(self, m->rumor_id, m->segment, slot, m->step)->seen |= UINT64_C(1) << m->token;
    return 0;
}

int node__attest_on_ask(node *self, uint64_t now_ns, const node_message *m, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    uint32_t me = attest_member(self, m, false);
    if (me == UINT32_MAX) {
        return NODE_EMALFORMED;
    }
    const node_attest_seen *entry =
        attest_entry(self, m->rumor_id, m->segment, m->hops * serving->committee + me, m->step);
    if (entry->client_plus_one != 0 && entry->client_plus_one != m->source + 1u) {
        return NODE_EMALFORMED; /* Only the hop's client asks. */
    }
    if (entry->committed_ns == 0 ||
        store->behaviour_of[self->config.node_id] == NODE_BEHAVIOUR_SILENT || now_ns < entry->committed_ns + 2 * serving->commit_timeout_ns ||
        ((entry->seen >> m->token) & 1u)) {
        return 0; /* Nothing this node saw says the member missed the deadline. */
    }
    uint32_t members[NODE_COMMITTEE_MAX];
    (void)attest_committee(self, m, members);
    uint8_t statement[NODE_LEDGER_STATEMENT_MAX];
    size_t size = node_ledger_timeout_statement(m->rumor_id, m->segment, m->step, m->hops,
                                                members[m->token], statement);
    serving->verifier->evidence_sign(serving->verifier->context, self->config.node_id,
                                     statement, size, store->payload);
    node_message *out = node__serve_send(self, outbox, NODE_MESSAGE_INFER_ATTEST, m->source,
                                         m->rumor_id, now_ns);
    node__committee_member_header(out, m, m->token);
    out->payload = store->payload;
    out->payload_bytes = NODE_SIGNATURE_BYTES;
    node__serve_observe(outbox, NODE_OBS_ATTEST, m->rumor_id, m->segment, members[m->token]);
    return 0;
}

/* ---- client ---- */

static node_ledger_claim *attest_claim(const node_store *store, uint32_t block_plus_one)
{
    ASSERT(block_plus_one != 0);
    return util_pool_block(&store->ledger_claim_pool, block_plus_one - 1);
}

/* Room for member j's timeout item with a full quorum of attestations. */
static bool attest_item_add(node_ledger_tx *tx, uint32_t j)
{
    if (tx->evidence_count >= NODE_LEDGER_EVIDENCE_MAX || tx->member_count < 2) {
        return false;
    }
    size_t body = (size_t)node_ledger_attest_quorum(tx->member_count - 1) *
                  NODE_LEDGER_ATTESTATION_BYTES;
    if (node_ledger_tx_size(tx) + NODE_LEDGER_EVIDENCE_HEADER_BYTES + body >
        CONS_BFT_TX_BYTES_MAX) {
        return false;
    }
    node_ledger_evidence *e = &tx->evidence[tx->evidence_count++];
    memset(e, 0, sizeof(*e));
    e->kind = NODE_EVIDENCE_TIMEOUT;
    e->member = (uint8_t)j;
    return true;
}

bool node__attest_claim(node *self, uint64_t now_ns, node_outbox *outbox, node_ledger_tx *tx,
                        uint64_t committed, bool frame)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    ASSERT(serving->ledger_timeout_evidence && tx->request < serving->request_capacity);
    if (frame) {
        tx->evidence_count = 0; /* It accuses every member of a timeout instead. */
    }
    uint64_t accused = 0;
    for (uint32_t j = 0; j < tx->member_count; j++) {
        bool timeout = frame || (tx->verdicts[j] == CONS_VERDICT_TIMEOUT &&
                                 !((committed >> j) & 1u));
        if (!timeout) {
            continue;
        }
        if (!attest_item_add(tx, j)) {
            tx->verdicts[j] = NODE_LEDGER_TX_UNJUDGED;
            continue;
        }
        tx->verdicts[j] = CONS_VERDICT_TIMEOUT;
        accused |= UINT64_C(1) << j;
    }
    if (accused == 0) {
        return false;
    }
    uint32_t block = 0;
    int rc = util_pool_take(&store->ledger_claim_pool, &block);
    ASSERT(rc == 0); /* Host out of memory mid-run. */
    node_ledger_claim *c = attest_claim(store, block + 1);
    memset(c, 0, sizeof(*c));
    c->tx = *tx;
    c->accused = accused;
    c->attesters = frame ? UINT64_MAX : committed;
    c->due_ns = now_ns + 2 * serving->commit_timeout_ns;
    c->next = store->ledger_claim_of[tx->request];
    c->frame = frame;
    store->ledger_claim_of[tx->request] = block + 1;
    node__serve_timer_arm(outbox, c->due_ns,
                          node__serve_timer_id(NODE_SERVE_TIMER_ATTEST, tx->request, 0));
    return true;
}

/* Asks the members that committed (a framing client: every other member)
 * to attest each accused member's timeout. */
static void attest_ask(node *self, uint64_t now_ns, node_outbox *outbox,
                       const node_ledger_claim *c)
{
    const node_request *r = &self->config.store->requests[c->tx.request];
    for (uint32_t j = 0; j < c->tx.member_count; j++) {
        for (uint32_t i = 0; i < c->tx.member_count && ((c->accused >> j) & 1u); i++) {
            if (i == j || !((c->attesters >> i) & 1u) ||
                outbox->count + 8 >= NODE_OUTBOX_MAX) {
                continue;
            }
            node_message *m = node__serve_send(self, outbox, NODE_MESSAGE_INFER_ATTEST_ASK,
                                               c->tx.members[i], c->tx.request, now_ns);
            m->origin = self->config.node_id;
            m->origin_ns = r->submitted_ns;
            m->segment = (uint16_t)c->tx.segment;
            m->count = (uint16_t)c->tx.rows;
            m->position = c->tx.step == 0 ? 0 : r->prompt_tokens + c->tx.step - 1;
            m->step = c->tx.step;
            m->hops = c->tx.round;
            m->token = j;
        }
    }
}

/* The claim's transaction goes out: a timeout short of its quorum goes
 * unjudged (a framing client sends it anyway, and the validators refuse
 * it). */
static void attest_submit(node *self, uint64_t now_ns, node_outbox *outbox, node_ledger_claim *c)
{
    node_ledger_tx *tx = &c->tx;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < tx->evidence_count; i++) {
        const node_ledger_evidence *e = &tx->evidence[i];
        if (e->kind == NODE_EVIDENCE_TIMEOUT && ((c->accused >> e->member) & 1u) && !c->frame) {
            tx->verdicts[e->member] = NODE_LEDGER_TX_UNJUDGED;
            continue;
        }
        if (kept != i) {
            tx->evidence[kept] = *e;
        }
        kept += 1;
    }
    tx->evidence_count = kept;
    node__ledger_submit(self, now_ns, outbox, tx);
}

/* Unlinks and frees the claim at '*link'. */
static void attest_drop(node_store *store, uint32_t *link)
{
    uint32_t block = *link - 1;
    *link = attest_claim(store, *link)->next;
    util_pool_give(&store->ledger_claim_pool, block);
}

void node__attest_timer(node *self, uint64_t now_ns, uint64_t request, node_outbox *outbox)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    ASSERT(store->ledger_claim_of != NULL && request < serving->request_capacity);
    uint64_t next_ns = UINT64_MAX;
    uint32_t *link = &store->ledger_claim_of[request];
    while (*link != 0) {
        node_ledger_claim *c = attest_claim(store, *link);
        if (c->due_ns <= now_ns && !c->asked) {
            attest_ask(self, now_ns, outbox, c);
            c->asked = true;
            c->due_ns = now_ns + serving->reveal_timeout_ns;
        } else if (c->due_ns <= now_ns &&
                   store->ledger_tx_count < NODE_DECISIONS_PER_CALL) {
            attest_submit(self, now_ns, outbox, c);
            attest_drop(store, link);
            continue;
        }
        next_ns = c->due_ns < next_ns ? c->due_ns : next_ns;
        link = &c->next;
    }
    if (next_ns != UINT64_MAX) {
        next_ns = next_ns > now_ns ? next_ns : now_ns + 1;
        node__serve_timer_arm(outbox, next_ns,
                              node__serve_timer_id(NODE_SERVE_TIMER_ATTEST, request, 0));
    }
}

/* The index of the claim's evidence item for member j. */
static uint32_t attest_item_of(const node_ledger_claim *c, uint32_t j)
{
    for (uint32_t i = 0; i < c->tx.evidence_count; i++) {
        if (c->tx.evidence[i].kind == NODE_EVIDENCE_TIMEOUT && c->tx.evidence[i].member == j) {
            return i;
        }
    }
    ASSERT(false && "an accused member has its item");
    return 0;
}

/* Adds the attestation of 'm' to claim 'c' when it is new and verifies:
 * 0, or NODE_EMALFORMED for one that is not the sender's signature. */
static int attest_add(const node *self, node_ledger_claim *c, const node_message *m)
{
    const node_verifier *verifier = self->config.serving->verifier;
    node_ledger_tx *tx = &c->tx;
    uint32_t j = m->token;
    uint32_t a = UINT32_MAX;
    for (uint32_t i = 0; i < tx->member_count; i++) {
        a = tx->members[i] == m->source && i != j ? i : a;
    }
    if (j >= tx->member_count || !((c->accused >> j) & 1u) || a == UINT32_MAX) {
        return a == UINT32_MAX ? NODE_EMALFORMED : 0;
    }
    uint32_t item = attest_item_of(c, j);
    if ((c->attested[item] >> a) & 1u) {
        return 0;
    }
    uint8_t statement[NODE_LEDGER_STATEMENT_MAX];
    size_t size = node_ledger_timeout_statement(tx->request, tx->segment, tx->step, tx->round,
                                                tx->members[j], statement);
    if (!verifier->evidence_verify(verifier->context, m->source, statement, size, m->payload)) {
        return NODE_EMALFORMED;
    }
    node_ledger_evidence *e = &tx->evidence[item];
    ASSERT(e->size + NODE_LEDGER_ATTESTATION_BYTES <= NODE_LEDGER_EVIDENCE_BODY_MAX);
    e->body[e->size] = (uint8_t)a;
    memcpy(e->body + e->size + 1, m->payload, NODE_SIGNATURE_BYTES);
    e->size = (uint16_t)(e->size + NODE_LEDGER_ATTESTATION_BYTES);
    c->attested[item] |= UINT64_C(1) << a;
    if ((uint32_t)__builtin_popcountll(c->attested[item]) >=
        node_ledger_attest_quorum(tx->member_count - 1)) {
        c->accused &= ~(UINT64_C(1) << j); /* Proven: later attestations are not needed. */
    }
    return 0;
}

int node__attest_on_attest(node *self, uint64_t now_ns, const node_message *m,
                           node_outbox *outbox)
{
    node_store *store = self->config.store;
    if (!node__client_owns(self, m->rumor_id) || store->ledger_claim_of == NULL) {
        return NODE_EMALFORMED;
    }
    uint32_t *link = &store->ledger_claim_of[m->rumor_id];
    while (*link != 0) {
        node_ledger_claim *c = attest_claim(store, *link);
        if (c->tx.segment == m->segment && c->tx.step == m->step && c->tx.round == m->hops &&
            c->asked) {
            int rc = attest_add(self, c, m);
            if (rc == 0 && c->accused == 0 && store->ledger_tx_count < NODE_DECISIONS_PER_CALL) {
                attest_submit(self, now_ns, outbox, c);
                attest_drop(store, link);
            }
            return rc;
        }
        link = &c->next;
    }
    return 0; /* Late: the claim went out. */
}
