/* node_int.h -- private declarations shared by node.c (gossip, codec,
 * dispatch) and serve.c (split inference). Not part of the interface. */
#ifndef NODE_NODE_INT_H
#define NODE_NODE_INT_H

#include "node/node.h"

/* Appends one zeroed effect of 'kind'; the outbox never overflows (ASSERT). */
node_effect *node__effect_append(node_outbox *outbox, node_effect_kind kind);

/* Inference timers carry this bit; gossip timers are small generations. */
#define NODE_TIMER_SERVE_BIT (UINT64_C(1) << 63)

static inline bool node__serve_owns_timer(uint64_t timer_id)
{
    return (timer_id & NODE_TIMER_SERVE_BIT) != 0;
}

/* Ledger timers carry this bit (and a cons_bft token below it). */
#define NODE_TIMER_LEDGER_BIT (UINT64_C(1) << 62)

static inline bool node__ledger_owns_timer(uint64_t timer_id)
{
    return (timer_id & (NODE_TIMER_SERVE_BIT | NODE_TIMER_LEDGER_BIT)) == NODE_TIMER_LEDGER_BIT;
}

/* ledger.c: the validator's replica started, recovered after a crash (its
 * timers armed again), woken by its timer, or given a LEDGER_* message
 * (NODE_EMALFORMED when the replica or the tag check refuses it: then no
 * effects); a non-validator does nothing. A client's decision as a
 * transaction to the validators (client, submit time and tag filled in). */
bool node__ledger_is_validator(const node *self);
void node__ledger_start(node *self, uint64_t now_ns, node_outbox *outbox);
void node__ledger_recover(node *self, uint64_t now_ns, node_outbox *outbox);
void node__ledger_timer(node *self, uint64_t now_ns, uint64_t timer_id, node_outbox *outbox);
int node__ledger_message(node *self, uint64_t now_ns, const node_message *message,
                         node_outbox *outbox);
void node__ledger_submit(node *self, uint64_t now_ns, node_outbox *outbox, node_ledger_tx *tx);
/* A client's resend timer for 'request': every pending transaction of the
 * request that is due goes to the next f + 1 validators (at most
 * NODE_LEDGER_SENDS_MAX sends each); re-armed while any is pending. */
void node__ledger_resend(node *self, uint64_t now_ns, uint64_t request, node_outbox *outbox);

/* ledger.c: a validator takes a transaction from its client or a peer
 * ('from'; itself for its own): under gossip a copy it has seen is a
 * duplicate, a new one it does not refuse goes to its replica and on to
 * fanout peers. The replica handles BFT bytes from validator 'from' and
 * its effects are sent: 0, or NODE_EMALFORMED (no effects). */
void node__ledger_take(node *self, uint64_t now_ns, const uint8_t *bytes, size_t size,
                       uint32_t from, node_outbox *outbox);
int node__ledger_deliver(node *self, uint64_t now_ns, uint32_t from, const uint8_t *bytes,
                         size_t size, node_outbox *outbox);

/* ledger_gossip.c (serving.ledger_gossip): the seen set (true and
 * remembered when 'digest' is new; a duplicate counted otherwise), a push
 * of 'kind' bytes to fanout validators other than 'skip', 'first' among
 * them when it can be (UINT32_MAX: none; nothing when this validator is
 * muted), a validator's own vote, the pull timer (armed by
 * start and recover, each a new generation: a timer of an older one is
 * ignored), and LEDGER_GOSSIP messages. */
bool node__ledger_gossip_fresh(node *self, uint64_t digest);
void node__ledger_gossip_push(node *self, uint64_t now_ns, uint8_t kind, const uint8_t *bytes,
                              size_t size, uint32_t skip, uint32_t first, node_outbox *outbox);
void node__ledger_gossip_vote(node *self, uint64_t now_ns, const uint8_t *bytes, size_t size,
                              node_outbox *outbox);
void node__ledger_gossip_arm(node *self, uint64_t now_ns, node_outbox *outbox);
void node__ledger_gossip_pull(node *self, uint64_t now_ns, uint32_t generation,
                              node_outbox *outbox);
int node__ledger_gossip_message(node *self, uint64_t now_ns, const node_message *message,
                                node_outbox *outbox);

/* validate.c: 0 when every field of 'message' a handler will read is in
 * range for this node's role and the run's protocol, else NODE_EMALFORMED.
 * Safe on any bytes a peer sent; never asserts on them. */
int node__message_validate(const node *self, const node_message *message);

int node__serve_message(node *self, uint64_t now_ns, const node_message *message,
                        node_outbox *outbox);

/* ---- serve.c internals used by committee.c ---- */

/* Per-request slots of a segment: one per member of every round's
 * committee (so a fresh committee never meets the last one's state), one
 * per route attempt under failover, or one. */
static inline size_t node__serve_slots(const node_serving *serving)
{
    if (serving->verifier != NULL) {
        return (size_t)serving->committee * (serving->retries + 1);
    }
    return serving->failover ? NODE_ATTEMPTS_MAX : 1;
}

/* Index of (request, segment, slot) in kv_block_of and reveal_block_of. */
static inline size_t node__serve_slot_index(const node_serving *serving, uint64_t request,
                                            uint32_t segment, uint32_t slot)
{
    return ((size_t)request * serving->segment_count + segment) * node__serve_slots(serving) +
           slot;
}
#define NODE_SERVE_TIMER_CLIENT 1u
#define NODE_SERVE_TIMER_KV 2u
#define NODE_SERVE_TIMER_COMMIT 3u
#define NODE_SERVE_TIMER_REVEAL 4u
#define NODE_SERVE_TIMER_HOLD 5u
#define NODE_SERVE_TIMER_STEP 6u     /* failover: a step's deadline (low = attempt << 13 | step) */
#define NODE_SERVE_TIMER_SUSPECT 7u  /* suspect_after into a committee phase (low = phase seq) */
#define NODE_SERVE_TIMER_BATCH 8u    /* batching: the server frees (low = queue sequence) */
#define NODE_SERVE_TIMER_RESEND 9u   /* ledger: a client's pending transactions are due */
#define NODE_SERVE_TIMER_CARTEL 10u  /* a colluding member stops waiting for its cartel's
                                      * agreement (low = slot << 6 | segment) */
#define NODE_SERVE_TIMER_ATTEST 11u  /* ledger: a client's timeout claims are due */
#define NODE_SERVE_TIMER_PULL 12u    /* ledger gossip: a validator's anti-entropy pull */

/* kind << 56 | request << 16 | low16. */
uint64_t node__serve_timer_id(uint32_t kind, uint64_t request, uint32_t low16);
node_message *node__serve_send(node *self, node_outbox *outbox, uint8_t type, uint32_t dest,
                               uint64_t request, uint64_t send_at_ns);
void node__serve_observe(node_outbox *outbox, uint32_t observation, uint64_t request,
                         uint32_t segment, uint64_t value);
void node__serve_timer_arm(node_outbox *outbox, uint64_t at_ns, uint64_t timer_id);
/* Writes 'count' token ids little-endian. */
void node__serve_put_tokens(uint8_t *out, const uint32_t *tokens, uint32_t count);
/* The client got the token of the current step: record it, then finish or
 * ask for the next one. */
void node__client_token(node *self, node_outbox *outbox, uint64_t request, uint32_t token,
                        uint64_t now_ns);
/* The request is over with 'status': OUTPUT, and the servers drop caches. */
void node__client_finish(node *self, node_outbox *outbox, uint64_t request, uint32_t status,
                         uint64_t now_ns);
void node__kv_release(const node *self, uint64_t request, uint32_t segment, uint32_t member);
/* Member or server: whether 'source' speaks for the client of the slot
 * (request, segment, slot) -- the client its first hop named. A slot whose
 * hop never arrived has no record and accepts any source: it holds nothing
 * a message could touch. */
bool node__slot_client_is(const node *self, uint64_t request, uint32_t segment, uint32_t slot,
                          uint32_t source);

/* ---- attest.c: timeout evidence (serving.ledger_timeout_evidence) ---- */
/* Member: its commitment 'commit' to the hop 'm' (member index 'member')
 * went to the client at at_ns; the same to each peer, and its record of
 * the step. Nothing without timeout evidence. */
void node__attest_share(node *self, const node_message *m, uint32_t member,
                        const node_message *commit, uint64_t at_ns, node_outbox *outbox);
/* Member: a peer's commitment (INFER_COMMIT not to a client), recorded;
 * ATTEST_ASK from the hop's client, answered with an attestation when this
 * member saw no commitment of the accused. 0, or NODE_EMALFORMED. */
int node__attest_peer_commit(node *self, const node_message *m);
int node__attest_on_ask(node *self, uint64_t now_ns, const node_message *m, node_outbox *outbox);
/* Client: keeps 'tx' back as a claim when it judges a member TIMEOUT that
 * never committed (every member for a framing client), with an empty
 * timeout item per accused member; true when it did (the caller sends
 * nothing now). A timeout with no room for its item goes unjudged. */
bool node__attest_claim(node *self, uint64_t now_ns, node_outbox *outbox, node_ledger_tx *tx,
                        uint64_t committed, bool frame);
/* Client: the request's claims that are due ask for attestations, or go
 * out as transactions. */
void node__attest_timer(node *self, uint64_t now_ns, uint64_t request, node_outbox *outbox);
/* Client: an attestation for one of its claims. 0, or NODE_EMALFORMED. */
int node__attest_on_attest(node *self, uint64_t now_ns, const node_message *m,
                           node_outbox *outbox);

/* node_route_attempt through the store's memo (node_store_route_init),
 * for hops of this node's world. */
uint32_t node__route(const node *self, uint32_t origin, uint64_t request, uint32_t segment,
                     uint32_t attempt);

/* ---- committee.c ---- */
/* Member: a copy of 'out' (about the hop 'm', member index 'member') to
 * every other member of the hop's committee, sent at at_ns. */
void node__committee_to_peers(node *self, node_outbox *outbox, const node_message *m,
                              uint32_t member, const node_message *out, uint64_t at_ns);
/* The member index of this node in the committee of (request, segment,
 * round), or UINT32_MAX when it is not a member. */
uint32_t node__committee_index(const node *self, uint64_t request, uint32_t segment,
                               uint32_t round);
/* Client: send the request's rows for the current step to the committee of
 * 'segment': tokens (segment 0) from the request, or 'rows' activations. */
void node__committee_send_input(node *self, node_outbox *outbox, uint64_t request,
                                uint32_t segment, const float *rows, uint64_t now_ns);
/* Member: its output for a hop is ready at end_ns: commit (or reveal).
 * 'slot' is round * k + member index. */
void node__committee_member_output(node *self, const node_message *m, uint32_t slot,
                                   const float *output, size_t n_floats, uint64_t end_ns,
                                   node_outbox *outbox);
/* An honest member's call handed to the driver: true when this member and
 * the protocol allow it, with the reveal block taken, its size and salt
 * written, its VRF claim made, and 'out' filled for the driver. */
bool node__committee_member_hand(node *self, const node_message *m, uint32_t slot,
                                 node_forward_member *out);
/* What a handed-over call sends at 'at_ns' under 'ticket': its commitment
 * (commit-reveal; the driver fills in the vote, claim and signature) and
 * under timeout evidence its copies to the peers, else its reveal to the
 * client and the other members (the driver fills in salt, output and
 * evidence). */
void node__committee_member_handed(node *self, const node_message *m,
                                   const node_forward_member *member, uint32_t ticket,
                                   uint64_t at_ns, node_outbox *outbox);
int node__committee_message(node *self, uint64_t now_ns, const node_message *m,
                            node_outbox *outbox);
/* A lazy member's hop: commits to nothing (with commit-reveal) and waits
 * for a peer's reveal to copy. Returns false for any other member. */
/* A Byzantine member's choice for this hop: true unless it is a rational
 * adversary for which cheating does not pay (node_verifier.cheat). */
bool node__committee_cheats(const node *self, uint64_t request, uint32_t segment);
bool node__committee_lazy(node *self, const node_message *m, uint32_t slot, uint64_t now_ns,
                          node_outbox *outbox);
void node__committee_timer(node *self, uint64_t now_ns, uint32_t kind, uint64_t request,
                           uint32_t low16, node_outbox *outbox);
void node__committee_release(const node *self, uint64_t request, uint32_t segment,
                             uint32_t slot);
/* Member: the header of a message about the hop 'm' it received, for
 * committee member index 'member': everything from the client's message,
 * nothing from the client's state. */
void node__committee_member_header(node_message *out, const node_message *m, uint32_t member);
/* Member: commit to (or, without commit-reveal, reveal) the output kept in
 * 'block' ([size][salt][bytes]) for hop 'm', as member 'member', at at_ns. */
void node__committee_member_send(node *self, const node_message *m, uint32_t member,
                                 uint8_t *block, uint64_t at_ns, node_outbox *outbox);

/* ---- cartel.c ---- */
/* Whether this node, colluding, agrees with its cartel by messages. */
bool node__cartel_by_messages(const node *self);
/* A colluding member's agreed output for hop 'm' in 'output' (n floats,
 * its own honest output on entry): the leader draws it and tells the
 * others (CARTEL_AGREE at end_ns); a member expands the agreement it
 * holds. Returns false when it holds none yet: the caller keeps its
 * honest output and calls node__cartel_wait. */
bool node__cartel_output(node *self, const node_message *m, uint32_t slot, float *output,
                         size_t n, double amplitude, uint64_t end_ns, node_outbox *outbox);
/* The token a targeting cartel makes win: output[target] above every other
 * logit by 'amplitude' (at least 1). Cannot fail. */
void node__cartel_target(uint32_t target, float *output, size_t n, double amplitude);
/* The member's honest output is in its block: wait for the agreement until
 * end_ns + serving.cartel_wait_ns (a timer), then answer honestly. */
void node__cartel_wait(node *self, const node_message *m, uint32_t slot, uint64_t end_ns,
                       node_outbox *outbox);
/* Whether the member of (request, segment, slot) still waits (it has not
 * committed: it reveals nothing yet). */
bool node__cartel_waiting(const node *self, uint64_t request, uint32_t segment, uint32_t slot);
int node__cartel_message(node *self, uint64_t now_ns, const node_message *m,
                         node_outbox *outbox);
void node__cartel_timer(node *self, uint64_t now_ns, uint64_t request, uint32_t low,
                        node_outbox *outbox);
void node__cartel_release(const node *self, uint64_t request, uint32_t segment, uint32_t slot);

/* Whether this node is the client of 'request' (its own table). */
bool node__client_owns(const node *self, uint64_t request);
/* Client: END to every member of the current round's committees. */
void node__committee_end(node *self, node_outbox *outbox, uint64_t request, uint64_t now_ns);
void node__serve_timer(node *self, uint64_t now_ns, uint64_t timer_id, node_outbox *outbox);
/* SUBMIT: the client records its request (the event's prompt, copied)
 * and sends the first hop. NODE_EMALFORMED for a prompt out of range or an
 * id its client still runs. */
int node__serve_submit(node *self, uint64_t now_ns, const node_event *event,
                       node_outbox *outbox);
/* Privacy (node/privacy.c): when activations entering 'segment' are
 * noised, clips and noises rows[count * dim] in place from this sender's
 * stream for (request, segment, step, round) and reports the release
 * (NODE_OBS_RELEASE). Returns whether it did. Cannot fail. */
bool node__privacy_release(const node *self, node_outbox *outbox, uint64_t request,
                           uint32_t segment, uint32_t step, uint32_t round, float *rows,
                           uint32_t count);
/* Whether the activations entering 'segment' are noised. */
bool node__privacy_noised(const node_serving *serving, uint32_t segment);
/* The stream node__privacy_release draws from, into *prng_out, when the
 * activations entering 'segment' are noised; false (nothing written) when
 * they are not. */
bool node__privacy_stream(const node *self, uint64_t request, uint32_t segment, uint32_t step,
                          uint32_t round, util_prng *prng_out);
/* Back from a crash: the timers armed before it were lost, so re-arm the
 * timeout of every request this node is still the client of. */
void node__serve_recover(node *self, uint64_t now_ns, node_outbox *outbox);

/* The roofline (serve.c): max(flops / the node's FLOP rate, bytes / its
 * memory bandwidth) in ns, the bytes side only when the class sets a
 * bandwidth; *memory_bound_out says the bytes side set it. No overhead. */
uint64_t node__roofline_ns(const node *self, uint64_t flops, uint64_t bytes,
                           bool *memory_bound_out);
/* Appends a COMPUTE observation of a call alone (batch of one); the
 * caller sets memory_bound and, in a batch, the batch fields. */
node_effect *node__serve_observe_compute(node_outbox *outbox, uint64_t request, uint32_t segment,
                                         uint64_t flops, uint64_t start_ns, uint64_t end_ns);

/* Continuous batching (node/batch.c). */
/* Whether this node batches (its class's max_batch > 1). Pure. */
bool node__batch_on(const node *self);
/* A step just computed: its result, the SEND effect last appended to the
 * outbox, leaves the outbox and waits in this node's queue (payload
 * copied) for the batch that will charge its time and send it; arms the
 * batch timer when none is. 'flops' is what the step did. false: memory
 * ran out, the effect is left where it was and the caller charges the
 * step alone. */
bool node__batch_defer(node *self, const node_message *m, uint64_t flops, uint64_t now_ns,
                       node_outbox *outbox);
/* The batch timer 'low' fired: the server takes up to max_batch waiting
 * steps (FIFO; a prefill alone), charges them as one call (the roofline
 * with the weights read once), reports each step's COMPUTE and sends each
 * result when the call ends; re-arms while steps wait. A stale timer
 * (armed before a crash) does nothing. */
void node__batch_timer(node *self, uint64_t now_ns, uint32_t low, node_outbox *outbox);
/* Back from a crash: the steps waiting died with the process. */
void node__batch_recover(node *self);

#endif
