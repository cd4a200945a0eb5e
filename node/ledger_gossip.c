/* ledger_gossip.c -- transactions and votes spread among the validators by
 * push-pull gossip (ledger.dissemination: gossip). A validator that takes
 * a transaction or a vote it has not seen (a digest in a bounded ring in
 * the node store) pushes it once to 'fanout' other validators drawn from
 * its own prng stream (infect and die); later copies are duplicates. A
 * voter pushes its vote to fanout random validators; a relay forwards it
 * once, to its collector -- the leader of the next view -- and fanout - 1
 * random others; the collector hands it to its replica and does not
 * forward it. Every pull_interval a validator sends one
 * random validator a digest of its pending transactions, and the peer
 * answers with up to NODE_LEDGER_PULL_ANSWERS_MAX pending transactions the
 * digest lacks. A muted validator (withhold; crash after crash_at)
 * forwards, answers and pulls nothing. Every message reaching here passed
 * validate.c. */
#include <string.h>

#include "node/node_int.h"
#include "util/assert.h"
#include "util/bytes.h"

static bool gossip_on(const node *self)
{
    const node_serving *serving = self->config.serving;
    return serving != NULL && serving->ledger_gossip && node__ledger_is_validator(self);
}

static bool gossip_muted(const node *self, uint64_t now_ns)
{
    const node_serving *serving = self->config.serving;
    return self->config.node_id >= serving->ledger_mute_from &&
           now_ns >= serving->ledger_mute_at_ns;
}

static uint64_t *gossip_ring(const node *self)
{
    return self->config.store->ledger_seen + (size_t)self->config.node_id * NODE_LEDGER_SEEN_MAX;
}

static bool gossip_seen(const node *self, uint64_t digest)
{
    const uint64_t *ring = gossip_ring(self);
    for (uint32_t i = 0; i < NODE_LEDGER_SEEN_MAX; i++) {
        if (ring[i] == digest) {
            return true;
        }
    }
    return false;
}

/* Whether 'digest' is in the seen ring (counted as a duplicate). */
static bool gossip_duplicate(node *self, uint64_t digest)
{
    if (!gossip_seen(self, digest | 1u)) { /* 0 marks an empty slot */
        return false;
    }
    self->config.store->ledger_gossip_duplicates += 1;
    return true;
}

static void gossip_remember(node *self, uint64_t digest)
{
    node_store *store = self->config.store;
    uint32_t *next = &store->ledger_seen_next[self->config.node_id];
    gossip_ring(self)[*next] = digest | 1u;
    *next = (*next + 1) % NODE_LEDGER_SEEN_MAX;
}

bool node__ledger_gossip_fresh(node *self, uint64_t digest)
{
    ASSERT(gossip_on(self));
    if (gossip_duplicate(self, digest)) {
        return false;
    }
    gossip_remember(self, digest);
    return true;
}

/* A kind byte and 'size' bytes in this call's scratch, or NULL (counted as
 * dropped sends) when the call has used it all. */
static const uint8_t *gossip_payload(node *self, uint8_t kind, const uint8_t *bytes, size_t size)
{
    node_store *store = self->config.store;
    ASSERT(size <= CONS_BFT_TX_BYTES_MAX);
    if (store->ledger_gossip_out_count >= NODE_LEDGER_GOSSIP_OUT_MAX) {
        store->ledger_sends_dropped += 1;
        return NULL;
    }
    uint8_t *out = store->ledger_gossip_out[store->ledger_gossip_out_count++];
    out[0] = kind;
    memcpy(out + 1, bytes, size);
    return out;
}

static void gossip_send(node *self, uint32_t to, const uint8_t *payload, size_t size,
                        node_outbox *outbox)
{
    if (outbox->count + 1 >= NODE_OUTBOX_MAX) {
        self->config.store->ledger_sends_dropped += 1;
        return;
    }
    node_message *m = &node__effect_append(outbox, NODE_EFFECT_SEND)->message;
    m->type = NODE_MESSAGE_LEDGER_GOSSIP;
    m->source = self->config.node_id;
    m->dest = to;
    m->payload = payload;
    m->payload_bytes = (uint32_t)size;
}

/* Up to 'want' (at most the room of 'out') distinct validators other than
 * this one and 'skip': 'first' when it is one of them, the others drawn
 * from the node's prng (a partial Fisher-Yates shuffle). */
static uint32_t gossip_pick(node *self, uint32_t want, uint32_t skip, uint32_t first,
                            uint32_t *out)
{
    uint32_t pool[CONS_BFT_VALIDATORS_MAX];
    uint32_t count = 0;
    uint32_t picked = 0;
    for (uint32_t v = 0; v < self->config.serving->ledger_validators; v++) {
        if (v == first && v != self->config.node_id && v != skip && want > 0) {
            out[picked++] = v;
        } else if (v != self->config.node_id && v != skip) {
            pool[count++] = v;
        }
    }
    out += picked;
    want -= picked;
    uint32_t more = want < count ? want : count;
    for (uint32_t i = 0; i < more; i++) {
        uint32_t j = i + (uint32_t)util_prng_below(&self->prng, count - i);
        uint32_t chosen = pool[j];
        pool[j] = pool[i];
        out[i] = chosen;
    }
    return picked + more;
}

void node__ledger_gossip_push(node *self, uint64_t now_ns, uint8_t kind, const uint8_t *bytes,
                              size_t size, uint32_t skip, uint32_t first, node_outbox *outbox)
{
    ASSERT(gossip_on(self));
    if (gossip_muted(self, now_ns)) {
        return;
    }
    const uint8_t *payload = gossip_payload(self, kind, bytes, size);
    if (payload == NULL) {
        return;
    }
    uint32_t to[CONS_BFT_VALIDATORS_MAX];
    uint32_t count = gossip_pick(self, self->config.serving->ledger_fanout, skip, first, to);
    for (uint32_t i = 0; i < count; i++) {
        gossip_send(self, to[i], payload, size + 1, outbox);
    }
}

void node__ledger_gossip_vote(node *self, uint64_t now_ns, const uint8_t *bytes, size_t size,
                              node_outbox *outbox)
{
    (void)node__ledger_gossip_fresh(self, cons_bft_tx_hash(bytes, size));
    node__ledger_gossip_push(self, now_ns, NODE_LEDGER_GOSSIP_VOTE, bytes, size,
                             self->config.node_id, UINT32_MAX, outbox);
}

/* The next pull of this generation. */
static void gossip_pull_next(node *self, uint64_t now_ns, node_outbox *outbox)
{
    uint32_t generation = self->config.store->ledger_pull_generation[self->config.node_id];
    node__serve_timer_arm(outbox, now_ns + self->config.serving->ledger_pull_ns,
                          node__serve_timer_id(NODE_SERVE_TIMER_PULL, 0, generation & 0xffffu));
}

void node__ledger_gossip_arm(node *self, uint64_t now_ns, node_outbox *outbox)
{
    if (!gossip_on(self) || self->config.serving->ledger_pull_ns == 0) {
        return;
    }
    self->config.store->ledger_pull_generation[self->config.node_id] += 1;
    gossip_pull_next(self, now_ns, outbox);
}

/* The digest: a count, then the digests of the first pending transactions. */
static size_t gossip_digest(const node *self, uint8_t *out)
{
    const cons_bft_replica *replica = self->config.store->bft[self->config.node_id];
    cons_bft_status status;
    cons_bft_status_get(replica, &status);
    uint32_t count = status.mempool < NODE_LEDGER_PULL_IDS_MAX ? (uint32_t)status.mempool
                                                                : NODE_LEDGER_PULL_IDS_MAX;
    out[0] = (uint8_t)count;
    for (uint32_t i = 0; i < count; i++) {
        size_t size = 0;
        uint64_t hash = 0;
        (void)cons_bft_mempool_tx(replica, i, &size, &hash);
        util_put_u64(out + 1 + 8 * i, hash);
    }
    return 1 + 8 * (size_t)count;
}

void node__ledger_gossip_pull(node *self, uint64_t now_ns, uint32_t generation,
                              node_outbox *outbox)
{
    const node_store *store = self->config.store;
    if (!gossip_on(self) ||
        generation != (store->ledger_pull_generation[self->config.node_id] & 0xffffu)) {
        return; /* armed before a crash: recover started another */
    }
    gossip_pull_next(self, now_ns, outbox);
    uint32_t peer = 0;
    if (gossip_muted(self, now_ns) ||
        gossip_pick(self, 1, self->config.node_id, UINT32_MAX, &peer) == 0) {
        return;
    }
    uint8_t digest[1 + 8 * NODE_LEDGER_PULL_IDS_MAX];
    size_t size = gossip_digest(self, digest);
    const uint8_t *payload = gossip_payload(self, NODE_LEDGER_GOSSIP_PULL, digest, size);
    if (payload != NULL) {
        gossip_send(self, peer, payload, size + 1, outbox);
    }
}

static bool gossip_digest_has(const uint8_t *digest, uint64_t hash)
{
    for (uint32_t i = 0; i < digest[0]; i++) {
        if (util_get_u64(digest + 1 + 8 * i) == hash) {
            return true;
        }
    }
    return false;
}

/* Up to NODE_LEDGER_PULL_ANSWERS_MAX pending transactions the digest lacks. */
static void gossip_answer(node *self, uint64_t now_ns, const node_message *m, node_outbox *outbox)
{
    if (gossip_muted(self, now_ns)) {
        return;
    }
    const cons_bft_replica *replica = self->config.store->bft[self->config.node_id];
    cons_bft_status status;
    cons_bft_status_get(replica, &status);
    uint32_t sent = 0;
    for (uint32_t i = 0; i < status.mempool && sent < NODE_LEDGER_PULL_ANSWERS_MAX; i++) {
        size_t size = 0;
        uint64_t hash = 0;
        const uint8_t *tx = cons_bft_mempool_tx(replica, i, &size, &hash);
        if (gossip_digest_has(m->payload + 1, hash)) {
            continue;
        }
        const uint8_t *payload = gossip_payload(self, NODE_LEDGER_GOSSIP_ANSWER, tx, size);
        if (payload == NULL) {
            return;
        }
        gossip_send(self, m->source, payload, size + 1, outbox);
        self->config.store->ledger_pull_answers += 1;
        sent += 1;
    }
}

/* A pushed or pulled transaction: the tag must be the client's it names. */
static int gossip_on_tx(node *self, uint64_t now_ns, const node_message *m, node_outbox *outbox)
{
    const node_verifier *verifier = self->config.serving->verifier;
    const uint8_t *bytes = m->payload + 1;
    size_t size = m->payload_bytes - 1u;
    node_ledger_tx tx;
    int rc = node_ledger_tx_decode(bytes, size, &tx);
    ASSERT(rc == 0); /* validate.c decoded it */
    if (verifier->ledger_tag(verifier->context, tx.client, bytes,
                             size - NODE_LEDGER_TX_TAG_BYTES) != tx.tag) {
        return NODE_EMALFORMED;
    }
    node__ledger_take(self, now_ns, bytes, size, m->source, outbox);
    return 0;
}

/* A pushed vote: its collector hands it to the replica (as from the voter,
 * whose signature it carries); any other validator forwards it once, to
 * the collector (unless it came from there) and fanout - 1 random others.
 * A vote is checked against its voter's signature before it is remembered
 * or forwarded, so a forged one goes no further than the first honest
 * validator and cannot push genuine digests out of the seen ring. */
static int gossip_on_vote(node *self, uint64_t now_ns, const node_message *m, node_outbox *outbox)
{
    const uint8_t *bytes = m->payload + 1;
    size_t size = m->payload_bytes - 1u;
    uint32_t voter = 0;
    uint32_t collector = 0;
    bool vote = cons_bft_vote_route(bytes, size, self->config.serving->ledger_validators, &voter,
                                    &collector);
    ASSERT(vote); /* validate.c routed it */
    uint64_t digest = cons_bft_tx_hash(bytes, size);
    if (gossip_duplicate(self, digest)) {
        return 0;
    }
    if (collector == self->config.node_id) {
        /* The replica checks the signature: remembered only if it held. */
        int rc = voter == collector
                     ? NODE_EMALFORMED
                     : node__ledger_deliver(self, now_ns, voter, bytes, size, outbox);
        if (rc == 0) {
            gossip_remember(self, digest);
        }
        return rc;
    }
    if (!cons_bft_vote_authentic(self->config.store->bft[self->config.node_id], bytes, size)) {
        return NODE_EMALFORMED;
    }
    gossip_remember(self, digest);
    node__ledger_gossip_push(self, now_ns, NODE_LEDGER_GOSSIP_VOTE, bytes, size, m->source,
                             collector, outbox);
    return 0;
}

int node__ledger_gossip_message(node *self, uint64_t now_ns, const node_message *message,
                                node_outbox *outbox)
{
    ASSERT(gossip_on(self)); /* validate.c */
    switch (message->payload[0]) {
    case NODE_LEDGER_GOSSIP_TX:
    case NODE_LEDGER_GOSSIP_ANSWER:
        return gossip_on_tx(self, now_ns, message, outbox);
    case NODE_LEDGER_GOSSIP_VOTE:
        return gossip_on_vote(self, now_ns, message, outbox);
    default:
        gossip_answer(self, now_ns, message, outbox);
        return 0;
    }
}
