/* node.c -- the gossip node: the wire header codec and the sans-IO gossip
 * state machine of node.h. Everything here is a pure function of the node's
 * state, the event, the time argument and the node's own util_prng stream;
 * effects go to the caller's outbox and nothing is allocated.
 *
 * Protocol. A publication is delivered at its origin and pushed to 'fanout'
 * distinct random peers; a node forwards a rumor once, on first receipt, to
 * 'fanout' peers other than itself and the sender (infect-and-die), and
 * counts later copies as duplicates. In push-pull mode every node also runs
 * anti-entropy: each pull_interval it sends one random peer a digest (its
 * first missing id plus a bitmap of the next 64 ids) and the peer answers
 * with up to pull_max rumors the digest says are missing.
 *
 * Timers. A node has one periodic timer whose id is its timer_generation.
 * START and RECOVER bump the generation and arm a fresh timer, so a timer
 * armed before a crash that still fires later is recognised as stale and
 * ignored, and the periodic chain never doubles. */
#include "node/node.h"

#include <string.h>

#include "node/node_int.h"

#include "util/assert.h"
#include "util/bytes.h"

_Static_assert(NODE_HEADER_BYTES == 64, "wire header is 64 bytes");
_Static_assert(1 + 1 + 1 + 1 + 4 + 4 + 4 + 8 + 8 + 8 + 4 + 4 + 2 + 2 + 4 + 4 + 4 ==
                   NODE_HEADER_BYTES,
               "header field widths add up to NODE_HEADER_BYTES");
_Static_assert(NODE_FANOUT_MAX + 2 <= NODE_OUTBOX_MAX, "a forward fits the outbox");
_Static_assert(sizeof(void *) != 8 || sizeof(node) == 128, "a node is two lines (node.h)");
_Static_assert(offsetof(node, config.pull_interval_ns) == 64, "an arrival reads one line");
_Static_assert(NODE_PULL_MAX + 2 <= NODE_OUTBOX_MAX, "a pull answer fits the outbox");

/* A pull answer looks at most this many 64-id words of the seen-set, so a
 * pull costs bounded work however far behind the requester is. */
#define NODE_PULL_SCAN_WORDS 64

/* ------------------------------------------------------------------------ */
/* Wire header codec: explicit little-endian bytes, never a struct memcpy.  */

/* Layout: version(1) type(1) flags(1) reserved(1) source(4) dest(4)
 * origin(4) rumor_id(8) origin_ns(8) bitmap(8) payload_bytes(4) hops(4)
 * segment(2) count(2) position(4) step(4) token(4).
 * Only the low byte of 'reserved' travels. Returns NODE_ETOOBIG when the
 * buffer is short or the payload is over NODE_PAYLOAD_MAX. */
int node_message_encode_header(const node_message *message, uint8_t *buffer, size_t capacity)
{
    ASSERT(message != NULL);
    ASSERT(buffer != NULL || capacity == 0);

    if (capacity < NODE_HEADER_BYTES || message->payload_bytes > NODE_PAYLOAD_MAX) {
        return NODE_ETOOBIG;
    }
    buffer[0] = NODE_WIRE_VERSION;
    buffer[1] = message->type;
    buffer[2] = message->flags;
    buffer[3] = (uint8_t)message->reserved;
    util_put_u32(buffer + 4, message->source);
    util_put_u32(buffer + 8, message->dest);
    util_put_u32(buffer + 12, message->origin);
    util_put_u64(buffer + 16, message->rumor_id);
    util_put_u64(buffer + 24, message->origin_ns);
    util_put_u64(buffer + 32, message->bitmap);
    util_put_u32(buffer + 40, message->payload_bytes);
    util_put_u32(buffer + 44, message->hops);
    buffer[48] = (uint8_t)message->segment;
    buffer[49] = (uint8_t)(message->segment >> 8);
    buffer[50] = (uint8_t)message->count;
    buffer[51] = (uint8_t)(message->count >> 8);
    util_put_u32(buffer + 52, message->position);
    util_put_u32(buffer + 56, message->step);
    util_put_u32(buffer + 60, message->token);
    return NODE_HEADER_BYTES;
}

/* Untrusted input: every failure is NODE_EMALFORMED (a payload over the
 * limit too, as node.h documents), and *message_out is written only on
 * success. */
int node_message_decode_header(const uint8_t *buffer, size_t size, node_message *message_out)
{
    ASSERT(message_out != NULL);

    if (buffer == NULL || size < NODE_HEADER_BYTES) {
        return NODE_EMALFORMED;
    }
    if (buffer[0] != NODE_WIRE_VERSION) {
        return NODE_EMALFORMED;
    }
    if (buffer[1] < NODE_MESSAGE_RUMOR || buffer[1] >= NODE_MESSAGE_TYPE_COUNT) {
        return NODE_EMALFORMED;
    }
    uint32_t payload_bytes = util_get_u32(buffer + 40);
    if (payload_bytes > NODE_PAYLOAD_MAX) {
        return NODE_EMALFORMED;
    }
    node_message message;
    memset(&message, 0, sizeof(message));
    message.type = buffer[1];
    message.flags = buffer[2];
    message.reserved = buffer[3];
    message.source = util_get_u32(buffer + 4);
    message.dest = util_get_u32(buffer + 8);
    message.origin = util_get_u32(buffer + 12);
    message.rumor_id = util_get_u64(buffer + 16);
    message.origin_ns = util_get_u64(buffer + 24);
    message.bitmap = util_get_u64(buffer + 32);
    message.payload_bytes = payload_bytes;
    message.hops = util_get_u32(buffer + 44);
    message.segment = (uint16_t)(buffer[48] | (buffer[49] << 8));
    message.count = (uint16_t)(buffer[50] | (buffer[51] << 8));
    message.position = util_get_u32(buffer + 52);
    message.step = util_get_u32(buffer + 56);
    message.token = util_get_u32(buffer + 60);
    *message_out = message;
    return 0;
}

const char *node_message_type_name(uint8_t type)
{
    switch (type) {
    case NODE_MESSAGE_RUMOR:
        return "rumor";
    case NODE_MESSAGE_PULL:
        return "pull";
    case NODE_MESSAGE_INFER_TOKENS:
        return "infer_tokens";
    case NODE_MESSAGE_INFER_ACTIVATIONS:
        return "infer_activations";
    case NODE_MESSAGE_INFER_TOKEN:
        return "infer_token";
    case NODE_MESSAGE_INFER_END:
        return "infer_end";
    case NODE_MESSAGE_INFER_COMMIT:
        return "infer_commit";
    case NODE_MESSAGE_INFER_REVEAL_ASK:
        return "infer_reveal_ask";
    case NODE_MESSAGE_INFER_REVEAL:
        return "infer_reveal";
    case NODE_MESSAGE_LEDGER_BFT:
        return "ledger_bft";
    case NODE_MESSAGE_LEDGER_TX:
        return "ledger_tx";
    case NODE_MESSAGE_LEDGER_RECEIPT:
        return "ledger_receipt";
    case NODE_MESSAGE_LEDGER_GOSSIP:
        return "ledger_gossip";
    case NODE_MESSAGE_CARTEL_AGREE:
        return "cartel_agree";
    case NODE_MESSAGE_INFER_ATTEST_ASK:
        return "infer_attest_ask";
    case NODE_MESSAGE_INFER_ATTEST:
        return "infer_attest";
    default:
        return "unknown";
    }
}

const node_behaviour_info node_behaviours[NODE_BEHAVIOUR_COUNT] = {
#define NODE_BEHAVIOUR_ROW(suffix, name, settable, doc) {name, settable, doc},
    NODE_BEHAVIOURS(NODE_BEHAVIOUR_ROW)
#undef NODE_BEHAVIOUR_ROW
};

int node_behaviour_parse(const char *name, node_behaviour *out)
{
    ASSERT(name != NULL && out != NULL);
    for (uint32_t b = 0; b < NODE_BEHAVIOUR_COUNT; b++) {
        if (strcmp(node_behaviours[b].name, name) == 0) {
            *out = (node_behaviour)b;
            return 0;
        }
    }
    return NODE_EMALFORMED;
}

const char *node_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case NODE_EMALFORMED:
        return "malformed message";
    case NODE_ETOOBIG:
        return "message too big";
    case NODE_ENOMEM:
        return "out of memory";
    default:
        return "unknown node error";
    }
}

/* ------------------------------------------------------------------------ */
/* Outbox helpers.                                                          */

node_effect *node__effect_append(node_outbox *outbox, node_effect_kind kind)
{
    /* Fanout and pull_max are bounded so that one event never overflows. */
    ASSERT(outbox->count < NODE_OUTBOX_MAX);
    node_effect *effect = &outbox->effects[outbox->count];
    outbox->count += 1;
    memset(effect, 0, sizeof(*effect));
    effect->kind = kind;
    return effect;
}

static void node_emit_output(node_outbox *outbox, uint64_t rumor_id, uint64_t origin_ns)
{
    node_effect *effect = node__effect_append(outbox, NODE_EFFECT_OUTPUT);
    effect->rumor_id = rumor_id;
    effect->origin_ns = origin_ns;
}

static void node_emit_observe(node_outbox *outbox, node_observation observation, uint64_t value)
{
    node_effect *effect = node__effect_append(outbox, NODE_EFFECT_OBSERVE);
    effect->observation = (uint32_t)observation;
    effect->value = value;
}

static void node_emit_timer(node_outbox *outbox, uint64_t at_ns, uint64_t timer_id)
{
    node_effect *effect = node__effect_append(outbox, NODE_EFFECT_TIMER);
    effect->at_ns = at_ns;
    effect->timer_id = timer_id;
}

/* Appends a SEND of 'message' (copied) addressed by message->dest. */
static void node_emit_send(node_outbox *outbox, const node_message *message)
{
    node_effect *effect = node__effect_append(outbox, NODE_EFFECT_SEND);
    effect->message = *message;
}

/* ------------------------------------------------------------------------ */
/* Seen-set.                                                                */

static void node_mark_held(node *self, uint64_t rumor_id)
{
    ASSERT(rumor_id < self->config.rumor_capacity);
    ASSERT(!node_holds(self, rumor_id));

    self->seen_bits[rumor_id >> 6] |= (uint64_t)1 << (rumor_id & 63);
    self->held_count += 1;
    if (rumor_id + 1 > self->highest_held_plus_one) {
        self->highest_held_plus_one = (uint32_t)(rumor_id + 1);
    }
    /* Each id is passed over once in the node's life: amortised O(1). */
    while (self->first_missing < self->config.rumor_capacity &&
           node_holds(self, self->first_missing)) {
        self->first_missing += 1;
    }
    /* Checked here, where it moves, and not after every event: a duplicate
     * reads only the record's first line (node.h). */
    ASSERT(self->first_missing <= self->config.rumor_capacity);
    ASSERT(self->held_count <= self->config.rumor_capacity);
}

/* ------------------------------------------------------------------------ */
/* Peer choice.                                                             */

/* Picks min(count, candidates) distinct node ids uniformly among all ids
 * except 'self_id' and, when 'exclude_other' is set, 'other_id', into
 * 'picks_out' (NODE_FANOUT_MAX entries). Robert Floyd's sampling over the
 * virtual array of candidate indices, then each index is mapped to an id by
 * stepping over the sorted excluded ids. No allocation, O(count^2). */
static uint32_t node_peers_pick(node *self, uint32_t count, bool exclude_other, uint32_t other_id,
                                uint32_t *picks_out)
{
    uint32_t excluded[2] = { self->config.node_id, other_id };
    uint32_t excluded_count = 1;
    if (exclude_other && other_id != self->config.node_id) {
        excluded_count = 2;
        if (excluded[1] < excluded[0]) {
            excluded[0] = other_id;
            excluded[1] = self->config.node_id;
        }
    }
    ASSERT(self->config.node_count >= excluded_count);
    uint32_t candidates = self->config.node_count - excluded_count;
    uint32_t picks = count < candidates ? count : candidates;
    ASSERT(picks <= NODE_FANOUT_MAX);

    for (uint32_t j = candidates - picks; j < candidates; j++) {
        uint32_t index = (uint32_t)util_prng_below(&self->prng, (uint64_t)j + 1);
        for (uint32_t k = 0; k < j - (candidates - picks); k++) {
            if (picks_out[k] == index) {
                index = j;
                break;
            }
        }
        picks_out[j - (candidates - picks)] = index;
    }
    for (uint32_t k = 0; k < picks; k++) {
        for (uint32_t e = 0; e < excluded_count; e++) {
            if (picks_out[k] >= excluded[e]) {
                picks_out[k] += 1;
            }
        }
        ASSERT(picks_out[k] < self->config.node_count);
    }
    return picks;
}

/* Sends RUMOR 'rumor' (dest filled in per peer) to up to 'fanout' peers. */
static void node_rumor_push(node *self, node_message *rumor, bool exclude_sender,
                            uint32_t sender, node_outbox *outbox)
{
    uint32_t peers[NODE_FANOUT_MAX];
    uint32_t count = node_peers_pick(self, self->config.fanout, exclude_sender, sender, peers);
    for (uint32_t k = 0; k < count; k++) {
        rumor->dest = peers[k];
        node_emit_send(outbox, rumor);
    }
}

/* ------------------------------------------------------------------------ */
/* Events.                                                                  */

void node_init(node *self, const node_config *config, const util_prng *prng,
               uint64_t *seen_bits, uint64_t *origin_ns)
{
    ASSERT(self != NULL);
    ASSERT(config != NULL && prng != NULL && seen_bits != NULL);
    ASSERT(config->node_count >= 2);
    ASSERT(config->node_id < config->node_count);
    ASSERT(config->fanout >= 1);
    ASSERT(config->fanout <= NODE_FANOUT_MAX);
    ASSERT(config->fanout <= config->node_count - 1);
    ASSERT(config->rumor_capacity >= 1 && config->rumor_capacity < UINT32_MAX);
    ASSERT(config->rumor_payload_bytes <= NODE_PAYLOAD_MAX);
    ASSERT(config->mode == NODE_GOSSIP_PUSH || config->mode == NODE_GOSSIP_PUSHPULL);
    if (config->mode == NODE_GOSSIP_PUSHPULL) {
        ASSERT(config->pull_interval_ns > 0);
        ASSERT(config->pull_max >= 1);
        ASSERT(origin_ns != NULL);
    }
    ASSERT(config->pull_max <= NODE_PULL_MAX);

    memset(self, 0, sizeof(*self));
    self->config = *config;
    self->prng = *prng;
    self->seen_bits = seen_bits;
    self->origin_ns = origin_ns;
}

/* START and RECOVER: a new timer generation, and in push-pull mode the
 * first pull at a random phase so that nodes do not pull in lockstep. */
static void node_timer_restart(node *self, uint64_t now_ns, node_outbox *outbox)
{
    self->timer_generation += 1;
    if (self->config.mode != NODE_GOSSIP_PUSHPULL) {
        return;
    }
    uint64_t phase_ns = util_prng_below(&self->prng, self->config.pull_interval_ns);
    node_emit_timer(outbox, now_ns + phase_ns, self->timer_generation);
}

static void node_on_publish(node *self, uint64_t now_ns, const node_event *event,
                            node_outbox *outbox)
{
    /* The workload hands out each id once, to one origin, in range. */
    ASSERT(event->rumor_id < self->config.rumor_capacity);
    ASSERT(!node_holds(self, event->rumor_id));
    ASSERT(event->payload_bytes <= NODE_PAYLOAD_MAX);

    node_mark_held(self, event->rumor_id);
    if (self->origin_ns != NULL) {
        self->origin_ns[event->rumor_id] = now_ns;
    }
    node_emit_output(outbox, event->rumor_id, now_ns);

    node_message rumor;
    memset(&rumor, 0, sizeof(rumor));
    rumor.type = NODE_MESSAGE_RUMOR;
    rumor.source = self->config.node_id;
    rumor.origin = self->config.node_id;
    rumor.rumor_id = event->rumor_id;
    rumor.origin_ns = now_ns;
    rumor.payload_bytes = event->payload_bytes;
    rumor.hops = 0;
    node_rumor_push(self, &rumor, false, 0, outbox);
}

static int node_on_rumor(node *self, const node_message *message, node_outbox *outbox)
{
    if (message->rumor_id >= self->config.rumor_capacity ||
        message->origin >= self->config.node_count ||
        message->payload_bytes > NODE_PAYLOAD_MAX) {
        return NODE_EMALFORMED;
    }
    if (node_holds(self, message->rumor_id)) {
        node_emit_observe(outbox, NODE_OBS_DUPLICATE, 1);
        return 0;
    }
    node_mark_held(self, message->rumor_id);
    if (self->origin_ns != NULL) {
        self->origin_ns[message->rumor_id] = message->origin_ns;
    }
    node_emit_output(outbox, message->rumor_id, message->origin_ns);

    node_message rumor = *message;
    rumor.source = self->config.node_id;
    rumor.flags = 0;
    rumor.reserved = 0;
    rumor.bitmap = 0;
    rumor.hops = message->hops == UINT32_MAX ? UINT32_MAX : message->hops + 1;
    node_rumor_push(self, &rumor, true, message->source, outbox);
    return 0;
}

/* Ids of the 64-id word 'word' that the requester's digest says it holds:
 * bit i of 'bitmap' is id first_missing + 1 + i. */
static uint64_t node_digest_word(uint64_t first_missing, uint64_t bitmap, uint64_t word)
{
    uint64_t base = word * 64;
    uint64_t low = first_missing + 1;
    if (base >= low) {
        uint64_t shift = base - low;
        return shift < 64 ? bitmap >> shift : 0;
    }
    uint64_t shift = low - base;
    return shift < 64 ? bitmap << shift : 0;
}

/* Answers a PULL with up to pull_max rumors the requester lacks, in id
 * order, from at most NODE_PULL_SCAN_WORDS words of the seen-set. Without
 * origin_ns storage (push mode) nothing can be answered: the reply count is
 * 0. Always observes NODE_OBS_PULL_SERVED with the count. */
static int node_on_pull(node *self, const node_message *message, node_outbox *outbox)
{
    uint64_t first = message->rumor_id;
    if (first > self->config.rumor_capacity) {
        return NODE_EMALFORMED;
    }
    uint64_t served = 0;
    uint64_t end = self->highest_held_plus_one;
    if (self->origin_ns != NULL && first < end) {
        node_message rumor;
        memset(&rumor, 0, sizeof(rumor));
        rumor.type = NODE_MESSAGE_RUMOR;
        rumor.flags = NODE_MESSAGE_FLAG_PULL_REPLY;
        rumor.source = self->config.node_id;
        rumor.dest = message->source;
        rumor.origin = self->config.node_id;
        rumor.payload_bytes = self->config.rumor_payload_bytes;
        uint64_t word_end = (end + 63) / 64;
        uint64_t word_limit = first / 64 + NODE_PULL_SCAN_WORDS;
        if (word_end > word_limit) {
            word_end = word_limit;
        }
        for (uint64_t word = first / 64; word < word_end && served < self->config.pull_max;
             word++) {
            uint64_t want = self->seen_bits[word];
            want &= ~node_digest_word(first, message->bitmap, word);
            if (word == first / 64) {
                want &= ~(uint64_t)0 << (first & 63);
            }
            while (want != 0 && served < self->config.pull_max) {
                uint64_t id = word * 64 + (uint64_t)__builtin_ctzll(want);
                want &= want - 1;
                rumor.rumor_id = id;
                rumor.origin_ns = self->origin_ns[id];
                node_emit_send(outbox, &rumor);
                served += 1;
            }
        }
    }
    node_emit_observe(outbox, NODE_OBS_PULL_SERVED, served);
    ASSERT(served <= self->config.pull_max);
    return 0;
}

static int node_on_message(node *self, uint64_t now_ns, const node_message *message,
                           node_outbox *outbox)
{
    ASSERT(message != NULL);

    /* Authenticated is not well-formed: every field is validated in one
     * place (validate.c) before a handler reads it. */
    if (node__message_validate(self, message) != 0) {
        return NODE_EMALFORMED;
    }
    switch (message->type) {
    case NODE_MESSAGE_RUMOR:
        return node_on_rumor(self, message, outbox);
    case NODE_MESSAGE_PULL:
        return node_on_pull(self, message, outbox);
    case NODE_MESSAGE_INFER_TOKENS:
    case NODE_MESSAGE_INFER_ACTIVATIONS:
    case NODE_MESSAGE_INFER_TOKEN:
    case NODE_MESSAGE_INFER_END:
    case NODE_MESSAGE_INFER_COMMIT:
    case NODE_MESSAGE_INFER_REVEAL_ASK:
    case NODE_MESSAGE_INFER_REVEAL:
    case NODE_MESSAGE_CARTEL_AGREE:
    case NODE_MESSAGE_INFER_ATTEST_ASK:
    case NODE_MESSAGE_INFER_ATTEST:
        return node__serve_message(self, now_ns, message, outbox);
    case NODE_MESSAGE_LEDGER_BFT:
    case NODE_MESSAGE_LEDGER_TX:
    case NODE_MESSAGE_LEDGER_RECEIPT:
        return node__ledger_message(self, now_ns, message, outbox);
    case NODE_MESSAGE_LEDGER_GOSSIP:
        return node__ledger_gossip_message(self, now_ns, message, outbox);
    default:
        return NODE_EMALFORMED;
    }
}

/* The periodic pull: a digest to one random peer, then re-arm. A node that
 * holds every possible id has nothing to ask for and stays quiet. */
static void node_on_timer(node *self, uint64_t now_ns, uint64_t timer_id, node_outbox *outbox)
{
    if (self->config.mode != NODE_GOSSIP_PUSHPULL || timer_id != self->timer_generation) {
        return;                      /* stale: armed before a crash */
    }
    if (self->first_missing < self->config.rumor_capacity) {
        uint64_t first = self->first_missing;
        uint64_t bitmap = 0;
        for (uint64_t i = 0; i < 64 && first + 1 + i < self->config.rumor_capacity; i++) {
            if (node_holds(self, first + 1 + i)) {
                bitmap |= (uint64_t)1 << i;
            }
        }
        uint32_t peer = 0;
        uint32_t count = node_peers_pick(self, 1, false, 0, &peer);
        ASSERT(count == 1);

        node_message pull;
        memset(&pull, 0, sizeof(pull));
        pull.type = NODE_MESSAGE_PULL;
        pull.source = self->config.node_id;
        pull.dest = peer;
        pull.rumor_id = first;
        pull.bitmap = bitmap;
        node_emit_send(outbox, &pull);
    }
    node_emit_timer(outbox, now_ns + self->config.pull_interval_ns, self->timer_generation);
}

int node_on_event(node *self, uint64_t now_ns, const node_event *event, node_outbox *outbox)
{
    ASSERT(self != NULL && event != NULL && outbox != NULL);
    ASSERT(outbox->count <= NODE_OUTBOX_MAX);

    uint32_t count_before = outbox->count;
    int rc = 0;
    if (self->config.store != NULL) {
        self->config.store->decision_count = 0; /* DECISION effects of the last call expire. */
        self->config.store->ledger_tx_count = 0;
        self->config.store->ledger_gossip_out_count = 0;
    }
    switch (event->kind) {
    case NODE_EVENT_START:
        node_timer_restart(self, now_ns, outbox);
        node__ledger_start(self, now_ns, outbox);
        break;
    case NODE_EVENT_RECOVER:
        node_timer_restart(self, now_ns, outbox);
        if (self->config.serving != NULL) {
            node__serve_recover(self, now_ns, outbox);
        }
        node__ledger_recover(self, now_ns, outbox);
        break;
    case NODE_EVENT_MESSAGE:
        rc = node_on_message(self, now_ns, event->message, outbox);
        break;
    case NODE_EVENT_TIMER:
        if (node__serve_owns_timer(event->timer_id)) {
            node__serve_timer(self, now_ns, event->timer_id, outbox);
        } else if (node__ledger_owns_timer(event->timer_id)) {
            node__ledger_timer(self, now_ns, event->timer_id, outbox);
        } else {
            node_on_timer(self, now_ns, event->timer_id, outbox);
        }
        break;
    case NODE_EVENT_SUBMIT:
        rc = node__serve_submit(self, now_ns, event, outbox);
        break;
    case NODE_EVENT_PUBLISH:
        node_on_publish(self, now_ns, event, outbox);
        break;
    default:
        ASSERT(!"unknown node event kind");
    }
    /* An error has no effects (libuv: a failing call invokes nothing). */
    ASSERT(rc == 0 || outbox->count == count_before);
    return rc;
}
