/* node.h -- one network participant as a pure state machine (sans-IO).
 * A driver (sim/ or testbed/) hands the node one event at a time with the
 * current time, and drains the effects the node appended to an outbox:
 * sends, timer requests, outputs and observations. The node never reads a
 * clock, never calls rand() (its randomness is a util_prng stream the driver
 * seeds from (run seed, node id, NODE)), never touches a socket or a file.
 *
 * The protocol implemented here is gossip dissemination of rumors (push, or
 * push-pull with anti-entropy digests), with duplicate suppression. Later
 * protocols reuse it to spread commitments and votes.
 *
 * Messages have one wire encoding (node_message_encode/decode), shared by
 * the simulator (which charges node_message_wire_size to bandwidth) and the
 * testbed (which writes the bytes to TCP). */
#ifndef NODE_NODE_H
#define NODE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/cons.h"
#include "node/infer.h"
#include "util/pool.h"
#include "util/prng.h"

#define NODE_WIRE_VERSION 1
#define NODE_HEADER_BYTES 64          /* encoded header, before payload and tag */
#define NODE_TAG_BYTES 8              /* 64-bit MAC after the payload */
/* Effects one node call may produce: a BFT validator's broadcast to 255
 * others, for each of the messages one input can trigger (a vote, a
 * timeout, a proposal), for both instances of a Twins pair. */
#define NODE_OUTBOX_MAX 2048
#define NODE_BATCH_MAX 64             /* largest max_batch_of (a batch's effects fit the outbox) */
#define NODE_PAYLOAD_MAX (64u << 20)  /* largest payload a decoder accepts */
#define NODE_FANOUT_MAX 64            /* largest config.fanout (scenario validation bound) */
#define NODE_PULL_MAX 128             /* largest config.pull_max (scenario validation bound) */
#define NODE_MESSAGE_FLAG_PULL_REPLY 0x01u /* RUMOR sent in answer to a PULL; 'origin' is
                                            * then the replier (origins are not stored) */

#define NODE_EMALFORMED -1            /* decode: truncated, bad version or type */
#define NODE_ETOOBIG -2               /* decode/encode: payload over the limit or buffer too small */
#define NODE_ENOMEM -3                /* out of memory */

typedef enum node_message_type {
    NODE_MESSAGE_RUMOR = 1,          /* one rumor: id, origin, publish time, payload */
    NODE_MESSAGE_PULL = 2,           /* digest: first missing id + bitmap of the next 64 */
    NODE_MESSAGE_INFER_TOKENS = 3,   /* client -> first segment: raw token ids (payload) */
    NODE_MESSAGE_INFER_ACTIVATIONS = 4, /* segment s -> s + 1: activations (payload) */
    NODE_MESSAGE_INFER_TOKEN = 5,    /* last segment -> client: the chosen token */
    NODE_MESSAGE_INFER_END = 6,      /* client -> each server of the route: free the KV cache */
    NODE_MESSAGE_INFER_COMMIT = 7,   /* committee member -> client: H(output | salt | member) */
    NODE_MESSAGE_INFER_REVEAL_ASK = 8, /* client -> member: the commit phase closed, reveal */
    NODE_MESSAGE_INFER_REVEAL = 9,   /* member -> client: the output and its salt */
    NODE_MESSAGE_LEDGER_BFT = 10,    /* validator -> validator: a cons_bft message (payload) */
    NODE_MESSAGE_LEDGER_TX = 11,     /* client -> validator: a settlement transaction */
    NODE_MESSAGE_LEDGER_RECEIPT = 12, /* validator -> client: the transaction of (rumor_id,
                                      * segment, step, hops = round) committed */
    NODE_MESSAGE_CARTEL_AGREE = 13,  /* cartel leader -> colluding member of the committee of
                                      * (rumor_id, segment, hops = round): the agreed wrong
                                      * output of 'step' (payload: NODE_CARTEL_AGREE_BYTES) */
    NODE_MESSAGE_INFER_ATTEST_ASK = 14, /* client -> member: attest that member 'token'
                                      * missed the hop's commit deadline */
    NODE_MESSAGE_INFER_ATTEST = 15,  /* member -> client: its signed attestation that
                                      * member 'token' missed it (payload: signature) */
    NODE_MESSAGE_LEDGER_GOSSIP = 16, /* validator -> validator under ledger dissemination:
                                      * gossip: a kind byte (NODE_LEDGER_GOSSIP_*), then a
                                      * transaction, a vote or a pull digest (payload) */
    NODE_MESSAGE_TYPE_COUNT = 17     /* one past the last type */
} node_message_type;

/* A message as the node sees it. 'payload_bytes' is the length of the
 * payload that follows the header on the wire; gossip payloads are opaque
 * and synthetic, so only their length travels in the simulator. */
typedef struct node_message {
    uint8_t type;                    /* node_message_type */
    uint8_t flags;
    uint16_t reserved;
    uint32_t source;                 /* sender of this hop */
    uint32_t dest;                   /* receiver of this hop */
    uint32_t origin;                 /* RUMOR: publisher */
    uint64_t rumor_id;               /* RUMOR: id; PULL: first id not yet held */
    uint64_t origin_ns;              /* RUMOR: publish time */
    uint64_t bitmap;                 /* PULL: bit i = holds rumor_id + 1 + i */
    uint32_t payload_bytes;
    uint32_t hops;                   /* RUMOR: hops from the origin */
    uint16_t segment;                /* INFER_*: the segment this hop is for */
    uint16_t count;                  /* INFER_TOKENS/ACTIVATIONS: rows (tokens) */
    uint32_t position;               /* INFER_*: position of the first row */
    uint32_t step;                   /* INFER_*: generation step (0 = prefill) */
    uint32_t token;                  /* INFER_TOKEN: the token chosen */
    const uint8_t *payload;          /* INFER_*: payload_bytes bytes after the header on
                                      * the wire; borrowed for the call (not encoded) */
} node_message;

#define NODE_MESSAGE_FLAG_ERROR 0x02 /* INFER_TOKEN: the request failed at a server */
#define NODE_MESSAGE_FLAG_RELAYED 0x08 /* INFER_COMMIT: a member relays a commitment a
                                        * peer showed it; the signer is member 'token',
                                        * not the source */
#define NODE_MESSAGE_FLAG_TWIN_SIDE 0x04 /* LEDGER_BFT between Twins: instance 1's (an
                                          * honest validator ignores it) */

/* Bytes the message occupies on the wire: header + payload + tag. */
static inline uint64_t node_message_wire_size(const node_message *message)
{
    return (uint64_t)NODE_HEADER_BYTES + message->payload_bytes + NODE_TAG_BYTES;
}

/* Encodes the header (little-endian, NODE_HEADER_BYTES) into 'buffer'.
 * Returns NODE_HEADER_BYTES, or NODE_ETOOBIG if 'capacity' is too small. */
int node_message_encode_header(const node_message *message, uint8_t *buffer, size_t capacity);

/* Decodes a header from untrusted bytes. Returns 0, or NODE_EMALFORMED for
 * a short buffer, wrong version, unknown type or a payload over the limit.
 * Never asserts on the bytes. */
int node_message_decode_header(const uint8_t *buffer, size_t size, node_message *message_out);

const char *node_message_type_name(uint8_t type);
const char *node_strerror(int code);

typedef enum node_event_kind {
    NODE_EVENT_START = 1,            /* run start */
    NODE_EVENT_MESSAGE,              /* 'message' arrived (already authenticated) */
    NODE_EVENT_TIMER,                /* timer 'timer_id' fired */
    NODE_EVENT_PUBLISH,              /* workload: publish rumor 'rumor_id' now */
    NODE_EVENT_RECOVER,              /* back after a crash; state was kept */
    NODE_EVENT_SUBMIT                /* workload: submit inference request 'rumor_id' now */
} node_event_kind;

typedef struct node_event {
    node_event_kind kind;
    uint64_t timer_id;
    uint64_t rumor_id;
    uint32_t payload_bytes;          /* PUBLISH */
    const node_message *message;     /* MESSAGE; borrowed for the call */
    const uint32_t *tokens;          /* SUBMIT: the prompt, borrowed for the call */
    uint32_t token_count;            /* SUBMIT: 1 .. the workload's longest prompt */
} node_event;

typedef enum node_effect_kind {
    NODE_EFFECT_SEND = 1,            /* send 'message' to message.dest */
    NODE_EFFECT_TIMER,               /* fire TIMER 'timer_id' at 'at_ns' */
    NODE_EFFECT_OUTPUT,              /* rumor delivered to the application */
    NODE_EFFECT_OBSERVE              /* a counter for metrics */
} node_effect_kind;

typedef enum node_observation {
    NODE_OBS_DUPLICATE = 1,          /* a rumor already held arrived again */
    NODE_OBS_PULL_SERVED,            /* rumors returned to a pull */
    NODE_OBS_COMPUTE,                /* a server ran a segment: value = FLOPs,
                                      * start_ns .. at_ns = busy interval */
    NODE_OBS_LOGITS,                 /* the last segment's logits: data[vocab], value = step */
    NODE_OBS_TOKEN,                  /* a client got a token: value = step */
    NODE_OBS_BUSY,                   /* a server had no free KV slot and refused */
    NODE_OBS_NO_QUORUM,              /* a committee round found no quorum: value = round */
    NODE_OBS_ROUNDS,                 /* request finished after 'value' committee rounds */
    NODE_OBS_DISPUTE,                /* verifiers disagreed: a referee decides (value = round) */
    NODE_OBS_RESAMPLE,               /* a fresh committee replaces one that failed or timed
                                      * out (value = the new round) */
    NODE_OBS_DECISION,               /* a client settled or abandoned a step: 'decision'
                                      * says who was drawn, answered, judged and accepted */
    NODE_OBS_RELEASE,                /* a sender noised activations entering 'segment'
                                      * (privacy): one release, value = rows */
    NODE_OBS_FAILOVER,               /* a client replayed a request on a fresh route
                                      * (value = the new route attempt) */
    NODE_OBS_LEDGER_COMMIT,          /* a validator committed 'block' (valid until the
                                      * next node call) */
    NODE_OBS_LEDGER_VIEW,            /* a validator entered view 'value'; segment =
                                      * CONS_BFT_BY_* reason */
    NODE_OBS_LEDGER_TX,              /* a client sent request 'rumor_id''s settlement
                                      * transaction for 'segment' (value = step) */
    NODE_OBS_LEDGER_RESEND,          /* a client sent request 'rumor_id''s transaction for
                                      * 'segment' again (value = step) */
    NODE_OBS_LEDGER_REFUSED,         /* a validator refused request 'rumor_id''s
                                      * transaction for 'segment': a penalty without
                                      * valid evidence (value = step | round << 32,
                                      * attempt = the penalties refused); the last of the
                                      * ledger's observations, LEDGER_COMMIT .. here */
    NODE_OBS_SUSPECT,                /* a client suspected node 'value', silent for
                                      * suspect_after in a phase of 'rumor_id''s 'segment' */
    NODE_OBS_CARTEL_MISSED,          /* a colluding member had no agreement from its cartel's
                                      * leader in time and answered honestly */
    NODE_OBS_ATTEST,                 /* a member signed a timeout attestation against
                                      * node 'value' for 'rumor_id''s 'segment' */
    NODE_OBS_CATCH_UP                /* a client's hop to a member of 'rumor_id''s 'segment'
                                      * also carried 'value' rows of steps it missed */
} node_observation;

/* Request outcomes (OUTPUT value for inference). */
#define NODE_REQUEST_COMPLETED 1
#define NODE_REQUEST_FAILED 2
#define NODE_REQUEST_TIMEOUT 3

/* What a client reports with an inference OUTPUT: its answer and, under
 * verification, the committee of the last decision with the members'
 * votes -- the evidence an API returns. */
typedef struct node_outcome {
    uint32_t client;
    uint32_t prompt_tokens;
    uint32_t generated;
    const uint32_t *tokens;          /* prompt then generated tokens */
    uint32_t rounds;                 /* committees used (1 = the first; verification) */
    uint32_t member_count;           /* the last decision's committee */
    uint32_t members[CONS_COMMITTEE_MAX];
    uint64_t committed;              /* bit j: member j committed */
    uint64_t revealed;               /* bit j: member j revealed a valid output */
    uint32_t vote_bytes;             /* 0: no commit-reveal, no votes */
    uint8_t votes[CONS_COMMITTEE_MAX][CONS_VOTE_MAX];
} node_outcome;

/* One decision of a verified step (NODE_OBS_DECISION), as the client made
 * it: the committee of (request, segment, step, round) and, per member
 * (bit j = member j), what it did and how it was judged. Reported after
 * the judged/decided calls, so a driver's ledger already holds the result. */
typedef struct node_decision {
    uint64_t request;
    uint32_t segment;
    uint32_t step;                   /* generation step (0 = prefill) */
    uint32_t round;                  /* committee round (0 = the first) */
    uint32_t action;                 /* CONS_ACTION_SETTLE or CONS_ACTION_ROUND */
    uint32_t accepted;               /* SETTLE: the member whose output was accepted;
                                      * UINT32_MAX for ROUND */
    uint32_t dispute;                /* CONS_DISPUTE_ stage the step reached */
    uint32_t member_count;
    uint32_t members[CONS_COMMITTEE_MAX];
    uint64_t committed;              /* sent a vote (commit-reveal) */
    uint64_t answered;               /* revealed, valid or not */
    uint64_t revealed;               /* revealed a valid output (as the decision counted) */
    uint64_t equivocated;            /* signed two different votes */
    uint64_t judged;                 /* the decision gave a verdict (then 'verdicts') */
    uint64_t skipped;                /* suspected and gone on without: never judged */
    uint8_t verdicts[CONS_COMMITTEE_MAX]; /* cons_verdict of judged members */
} node_decision;

#define NODE_DECISIONS_PER_CALL 4    /* decisions one node call may report */
#define NODE_SUSPECTS_MAX 8          /* suspects one client remembers */

typedef struct node_effect {
    node_effect_kind kind;
    uint32_t observation;            /* OBSERVE: node_observation */
    uint64_t at_ns;                  /* TIMER */
    uint64_t timer_id;               /* TIMER */
    uint64_t rumor_id;               /* OUTPUT */
    uint64_t origin_ns;              /* OUTPUT: publish time */
    const node_outcome *outcome;     /* OUTPUT of a request: valid until the next node call */
    uint64_t value;                  /* OBSERVE: amount */
    uint64_t start_ns;               /* OBSERVE COMPUTE: when the compute started */
    bool memory_bound;               /* OBSERVE COMPUTE: the roofline's memory side set
                                      * its time (bytes / bandwidth > FLOPs / rate) */
    uint32_t batch_size;             /* OBSERVE COMPUTE: steps in the call's batch (1 alone) */
    bool batch_first;                /* OBSERVE COMPUTE: the batch's first step (one per
                                      * batch: count these to count batches) */
    uint32_t segment;                /* OBSERVE COMPUTE/LOGITS */
    uint32_t attempt;                /* OBSERVE LOGITS: the route attempt (failover) */
    const float *data;               /* OBSERVE LOGITS: valid until the next node call */
    const node_decision *decision;   /* OBSERVE DECISION: valid until the next node call */
    const cons_bft_block *block;     /* OBSERVE LEDGER_COMMIT: valid until the next node call */
    uint64_t send_at_ns;             /* SEND: transmit then (>= now: after compute) */
    node_message message;            /* SEND; message.payload valid until the next call */
    /* SEND, OBSERVE LOGITS: a forward call handed to the driver
     * (node_forward_hook) computes the payload (or the TOKEN's token) and
     * the logits: message.payload is NULL, data is NULL. 0 = none. */
    uint32_t forward_ticket;
} node_effect;

/* Caller-owned effect list, reused across calls: no allocation per event. */
typedef struct node_outbox {
    uint32_t count;
    node_effect effects[NODE_OUTBOX_MAX];
} node_outbox;

typedef enum node_gossip_mode { NODE_GOSSIP_PUSH = 0, NODE_GOSSIP_PUSHPULL } node_gossip_mode;

/* ---- split inference (node/serve.c) ----------------------------------
 * Every node may be a client (the workload submits requests to it) and a
 * server of zero or more model segments (the placement, decided by the
 * driver). A request's route -- which server runs each segment -- is a
 * public function of (client, request id, segment), node_route, so every
 * hop can find the next without asking anyone. The serving context is shared by
 * the nodes of one process: read-only tables, plus per-node and per-request
 * slots that only their owner touches. */

#define NODE_SEGMENTS_MAX 64

/* A client's record of one of its requests (node_store.requests). */
typedef struct node_request {
    bool submitted;                  /* this slot holds a request its client submitted */
    uint32_t client;
    uint32_t prompt_tokens;
    uint32_t generated;
    uint32_t status;                 /* 0 running, else NODE_REQUEST_* */
    uint32_t attempt;                /* failover: the route in use, 0 = the first */
    uint64_t submitted_ns;
    uint32_t *tokens;                /* prompt then generated: prompt + generate entries */
} node_request;


/* Behaviours a verifier may have, one row each: the enum's suffix, its
 * name (as the results database and the testbed's admin endpoint spell
 * it), whether an operator may switch a node to it directly (the others
 * come only from a fault with more to it: a sybil's split stake, an
 * adaptive adversary's budget) and a doc line. Set by the driver for the
 * nodes and time windows of the scenario's faults. Every list of
 * behaviours walks this one table. */
#define NODE_BEHAVIOURS(X)                                                                     \
    X(HONEST, "honest", true, "follows the protocol")                                          \
    X(WRONG_OUTPUT, "wrong_output", true, "noise of scale x the output's RMS")                 \
    X(COLLUDE, "collude", true, "one wrong output shared by the whole cartel")                 \
    X(SILENT, "silent", true, "never answers")                                                 \
    X(LAZY_COPY, "lazy_copy", true, "computes nothing; reveals a copy of a peer's output")     \
    X(ADAPTIVE, "adaptive", false,                                                             \
      "honest until drawn; then corrupted (collude) while the adversary's budget lasts")        \
    X(SYBIL, "sybil", false, "a colluding identity of one operator (reporting)")               \
    X(WRONG_MODEL, "wrong_model", true, "runs its layers with other weights")                  \
    X(WRONG_LAYER, "wrong_layer", true, "corrupts the output of its segment's first layer")    \
    X(EQUIVOCATE, "equivocate", true, "commits to two different outputs in one round")         \
    X(FORGE_ATTESTATION, "forge_attestation", true,                                            \
      "tee: a compromised enclave attests its wrong output")                                  \
    X(SIDE_CHANNEL, "side_channel", true,                                                      \
      "serves correctly; its enclave leaks what it processes through a side channel")         \
    X(CURIOUS, "curious", true,                                                                \
      "honest-but-curious: serves correctly and reconstructs prompts from what it receives")   \
    X(FORGED_TICKET, "forged_ticket", true,                                                    \
      "selection vrf: claims the best ticket with a forged VRF proof")                          \
    X(FRAME, "frame", true,                                                                    \
      "as a client, reports every member of its committees as provably wrong")

typedef enum node_behaviour {
#define NODE_BEHAVIOUR_ENUM(suffix, name, settable, doc) NODE_BEHAVIOUR_##suffix,
    NODE_BEHAVIOURS(NODE_BEHAVIOUR_ENUM)
#undef NODE_BEHAVIOUR_ENUM
    NODE_BEHAVIOUR_COUNT
} node_behaviour;

typedef struct node_behaviour_info {
    const char *name;
    bool settable;                   /* an operator may set it on a node directly */
    const char *doc;
} node_behaviour_info;

/* The table, NODE_BEHAVIOUR_COUNT rows in enum order. */
extern const node_behaviour_info node_behaviours[NODE_BEHAVIOUR_COUNT];

/* The behaviour called 'name': 0 and *out, or NODE_EMALFORMED. */
int node_behaviour_parse(const char *name, node_behaviour *out);

/* How the client judged one member of a decision (consensus/cons.h). */
typedef cons_verdict node_verdict;

#define NODE_COMMITTEE_MAX CONS_COMMITTEE_MAX
#define NODE_DIGEST_BYTES CONS_DIGEST_BYTES
#define NODE_VOTE_MAX CONS_VOTE_MAX     /* sampling's [root, leaf] */
#define NODE_CLAIM_MAX CONS_VRF_PROOF_BYTES /* selection vrf: the proof after a vote */
#define NODE_LINEAGE_BYTES 32            /* a cache's lineage (node_forward_call) */
#define NODE_SALT_BYTES CONS_SALT_BYTES
#define NODE_ATTEST_BYTES CONS_ATTEST_BYTES /* tee: an ed25519 signature by the vendor key */

#define NODE_SIGNATURE_BYTES 64       /* ed25519 */
#define NODE_SIGNER_REFEREE UINT32_MAX

/* What a client shows the referee about one member's answer to the hop
 * (request, segment, step, round): the member's committed vote, its salt
 * and its decoded output. */
typedef struct node_ruling {
    uint64_t request;
    uint32_t segment;
    uint32_t step;
    uint32_t round;
    uint32_t member;                 /* index in the committee */
    uint32_t member_id;
    uint32_t member_count;
    uint32_t rows;
    bool last_segment;
    const uint8_t *vote;             /* serving's vote_bytes */
    const uint8_t *salt;             /* NODE_SALT_BYTES */
    const float *output;
    size_t n_floats;
} node_ruling;

/* Verification: the protocol's rules are consensus/'s (node_serving's
 * 'protocol'); what is the driver's -- the committee draw against its
 * ledger, salts from the nodes' secrets, the segment's agreement rule, the
 * ledger's verdicts, the referee's re-execution, a TEE vendor's key, the
 * rational adversary's choice -- the node reaches through this table (the
 * driver wires it). Every function is deterministic. */
typedef struct node_verifier {
    void *context;
    /* The committee of (request, segment, round): up to 'k' node ids in
     * members_out, returns how many. Anyone can recompute it. */
    uint32_t (*committee)(void *context, uint64_t request, uint32_t segment, uint32_t round,
                          uint32_t *members_out);
    /* The member's salt for (request, segment, round): derived from its own
     * secret, so nobody else can predict it. */
    void (*salt)(void *context, uint32_t member, uint64_t request, uint32_t segment,
                 uint32_t round, uint8_t salt_out[NODE_SALT_BYTES]);
    /* Accepts the output backed by >= quorum of 'count' outputs under the
     * segment's agreement rule: 0 and *accepted_out / *agree_mask_out, or
     * non-zero when there is no quorum. */
    int (*accept)(void *context, bool last_segment, const float *const *outputs,
                  size_t n_floats, uint32_t count, uint32_t *accepted_out,
                  uint64_t *agree_mask_out);
    /* Whether two outputs of one hop agree under the segment's rule. */
    bool (*agree)(void *context, bool last_segment, const float *a, const float *b,
                  size_t n_floats);
    /* The outcome for one member: its reputation moves (Nesa's rule), a
     * proven deviation costs it a share of its stake, a timeout another. */
    void (*judged)(void *context, uint32_t member, node_verdict verdict, uint64_t request,
                   uint32_t segment);
    /* After the judged calls of one decision: 'rows' tokens were processed
     * (fees to the agreeing members, slashed funds shared out). */
    void (*decided)(void *context, uint64_t request, uint32_t segment, uint32_t rows);
    /* The client accepted 'output' (n_floats: the step's rows), member
     * node 'member''s, from 'segment''s committee of 'round' at the
     * request's current step: the next segment's input (noised, when that
     * boundary is), which a referee needs to re-execute a hop of that
     * segment and the oracle to replay the pipeline the client followed. */
    void (*accepted)(void *context, uint64_t request, uint32_t segment, uint32_t round,
                     uint32_t member, const float *output, size_t n_floats);
    /* The referee of a dispute (sampling, crossval, optimistic): bit i of
     * the result set when outputs[i], member members[i]'s answer for the
     * request's current step of 'segment', agrees with the referee's own
     * re-execution of that hop, from the inputs the client accepted, on
     * the member's hardware class. */
    uint64_t (*referee)(void *context, bool last_segment, uint64_t request, uint32_t segment,
                        const float *const *outputs, const uint32_t *members,
                        size_t n_floats, uint32_t count);
    /* tee: the enclave's attestation of its output bytes for one hop, under
     * the vendor key, over the hash of the model it really runs. */
    void (*attest)(void *context, uint32_t member, uint64_t request, uint32_t segment,
                   uint32_t step, bool right_model, const void *bytes, size_t size,
                   uint8_t evidence_out[NODE_ATTEST_BYTES]);
    bool (*attest_verify)(void *context, uint32_t member, uint64_t request, uint32_t segment,
                          uint32_t step, const void *bytes, size_t size,
                          const uint8_t evidence[NODE_ATTEST_BYTES]);
    /* selection vrf (NULL otherwise): the member's proof of its ticket for
     * (request, segment, round), which rides its commitment (serving's
     * claim_bytes); and the client's check of a proof received, before it
     * accepts the member's vote: false on a forged or malformed proof
     * (bytes from a peer), which the driver records. */
    void (*claim)(void *context, uint32_t member, uint64_t request, uint32_t segment,
                  uint32_t round, uint8_t proof_out[NODE_CLAIM_MAX]);
    bool (*claim_check)(void *context, uint32_t member, uint64_t request, uint32_t segment,
                        uint32_t round, const uint8_t proof[NODE_CLAIM_MAX]);
    /* settlement ledger: the 64-bit tag of a client's transaction bytes
     * (keyed by the client's secret; validators and the world check it). */
    uint64_t (*ledger_tag)(void *context, uint32_t client, const void *bytes, size_t size);
    /* Evidence (ledger settlement): 'signer' signs 'bytes' with its own
     * ed25519 key; anyone checks a signature against the signer's public
     * key (NODE_SIGNER_REFEREE: the referee's). */
    void (*evidence_sign)(void *context, uint32_t signer, const void *bytes, size_t size,
                          uint8_t signature_out[NODE_SIGNATURE_BYTES]);
    bool (*evidence_verify)(void *context, uint32_t signer, const void *bytes, size_t size,
                            const uint8_t signature[NODE_SIGNATURE_BYTES]);
    /* The referee's ruling on a member's revealed output: true and its
     * signature over node_ledger_ruling_statement when the output opens
     * the member's vote and disagrees with the referee's own re-execution
     * of the hop; false (nothing signed) otherwise. */
    bool (*referee_rule)(void *context, const node_ruling *ruling,
                         uint8_t signature_out[NODE_SIGNATURE_BYTES]);
    /* A rational Byzantine member: does cheating on this hop pay? */
    bool (*cheat)(void *context, uint32_t member, uint64_t request, uint32_t segment);
    /* An adaptive member was drawn: does the adversary take it now? (It
     * spends one corruption of its budget, which is the adversary's.) */
    bool (*corrupt)(void *context, uint32_t member);
} node_verifier;

/* The client's bookkeeping of one request under committee verification. */
typedef struct node_committee_state {
    uint32_t round;                  /* 0 = first committee */
    uint32_t segment;                /* the segment being verified */
    uint32_t phase;                  /* CONS_PHASE_ */
    uint32_t phase_seq;              /* stale deadline timers carry an older one */
    uint32_t member_count;
    uint32_t members[NODE_COMMITTEE_MAX];
    uint64_t committed;              /* bit j: member j committed */
    uint64_t revealed;               /* bit j: member j revealed a valid output */
    uint64_t answered;               /* bit j: member j revealed, valid or not */
    uint64_t equivocated;            /* bit j: member j signed two different commitments */
    uint64_t asked;                  /* bit j: member j's reveal is awaited */
    uint64_t vote_agree;             /* sampling: bit j: member j's vote matches the output */
    uint32_t dispute;                /* CONS_DISPUTE_ */
    uint32_t block;                  /* votes and outputs (pool block + 1) */
    /* Failure detection (serving.suspect_after_ns > 0; else both stay 0). */
    uint64_t suspected;              /* bit j: the client suspects member j (at the draw,
                                      * or silent for suspect_after in this step) */
    uint64_t skipped;                /* bit j: a phase closed early without member j */
    uint64_t phase_until_ns;         /* the open phase's deadline */
} node_committee_state;

typedef enum node_routing { NODE_ROUTING_HASH = 0, NODE_ROUTING_LATENCY } node_routing;

/* An honest committee member's part of a handed-over call
 * (node_forward_call.member; bytes NULL for a plain server): the driver
 * encodes the output into the member's reveal bytes -- the last row's
 * logits in fp32 on the last segment, else the rows in the wire dtype --
 * and computes the protocol's vote over them into the commitment's
 * payload (serving vote_bytes), the same bits the member computes inline;
 * a member that answers at once (no commit-reveal) sends its reveal (salt,
 * bytes, evidence) instead. Under selection vrf the member's claim
 * (serving claim_bytes, made by the node when it hands the call over: it
 * does not depend on the output) follows the vote; under ledger evidence
 * (serving commit_sig_bytes) the member's signature follows them: the
 * verifier's evidence_sign, by the calling node, of
 * node_ledger_commit_statement over the hop and the vote. */
typedef struct node_forward_member {
    uint8_t *bytes;                  /* vote.size bytes in the member's reveal block */
    cons_vote_input vote;            /* vote.bytes is bytes */
    uint64_t request;                /* the hop the signature and evidence name */
    uint32_t segment, step, round;
    uint8_t claim[NODE_CLAIM_MAX];   /* selection vrf: the proof, after the vote */
} node_forward_member;

/* A forward pass handed to the driver (node_serving.forward): a plain
 * server's layers (its privacy noise included), or an honest committee
 * member's (its commitment and any copies of it to its peers, or its
 * reveal and every copy of it, then carry the ticket). The node
 * charges the time as always (the FLOPs are known before the call runs,
 * infer_forward_flops), counts the rows into its cache, and puts the
 * call's ticket on the effects that need its result: the SEND whose
 * payload (the activations in the wire dtype) or token the driver fills in
 * before the message leaves, and the LOGITS observation. The node never
 * reads the result itself. The driver must have waited for every call a
 * node handed over before that node handles its next event: the call
 * appends rows to the node's KV cache. */
typedef struct node_forward_call {
    infer_kernel kernel;
    infer_kv kv;                     /* the cache; the call appends at kv.length */
    const float *x;                  /* count * dim input rows: copied before begin returns */
    uint32_t count;
    bool last;                       /* the last segment: logits, then the argmax token */
    node_forward_member member;
    /* A committee member's call names what it computes: the hash of its
     * cache's lineage before (every call that wrote the cache: kernel,
     * layers, position, count and input rows) and of its own. Two calls of
     * one lineage compute the same rows, logits and cache rows, bit for
     * bit, so the driver may copy one's result for the other
     * (node_kv_holds). false: none, for a plain server's call or a cache
     * that a call off the honest path wrote. */
    bool lineage_known;
    uint8_t lineage[NODE_LINEAGE_BYTES];
    /* A plain server's rows entering a noised boundary (privacy): the
     * driver clips and noises them (node_privacy_noise with the serving
     * clip and sigma) from this stream before it encodes them. */
    bool noised;
    util_prng noise;
} node_forward_call;

/* Whether the cache block a handed-over call's kv views (a node's, as the
 * node handed it) still holds the lineage 'lineage': true once that call's
 * rows are in and until its node appends to the block or gives it to
 * another history. The driver must have waited for every call that node
 * handed over. A block its node has released may be asked about: the
 * store's pools keep their blocks until the store is destroyed. */
bool node_kv_holds(const infer_kv *kv, const uint8_t lineage[NODE_LINEAGE_BYTES]);

typedef struct node_forward_hook {
    void *context;
    /* Takes the call and returns its ticket (> 0), or 0: the node runs it
     * inline, as without a hook. */
    uint32_t (*begin)(void *context, uint32_t node_id, const node_forward_call *call);
    /* A call whose result no message will carry (a batched step lost to a
     * crash): its LOGITS observation still stands, as inline, and its
     * ticket is spent once the messages already sent are taken. */
    void (*drop)(void *context, uint32_t ticket);
} node_forward_hook;

/* The serving context every node of a process reads and none writes: the
 * model, its shapes and cut, the routes, the hardware tables, the
 * protocol's rules and knobs, and the driver's services. */
typedef struct node_serving {
    const infer_model *model;
    uint32_t dim;
    uint32_t vocab;
    uint32_t seq_len;
    infer_dtype wire_dtype;
    uint32_t segment_count;
    uint32_t segment_first[NODE_SEGMENTS_MAX];
    uint32_t segment_layers[NODE_SEGMENTS_MAX];
    const uint32_t *servers;         /* segment s: servers[offsets[s] .. offsets[s + 1]) */
    const uint32_t *server_offsets;  /* segment_count + 1 entries */
    uint64_t route_salt;
    /* Routing (node/route.c): HASH picks each segment's server by a hash
     * of (request, segment); LATENCY ranks a segment's servers by expected
     * latency from the previous hop and picks among the routing_choices
     * best by that hash. The tables below are read only under LATENCY. */
    node_routing routing;
    uint32_t routing_choices;        /* >= 1 */
    uint32_t route_nodes;            /* nodes region_of holds; a client id is below it */
    const uint16_t *region_of;       /* per node: its region */
    const uint64_t *region_latency_ns; /* [from * region_stride + to]: base one-way latency */
    uint32_t region_stride;
    /* Churn (world/world_churn.c; NULL without it): the servers a request
     * may be routed to are those with since_of[s] <= request < until_of[s]
     * (a joined server takes only requests submitted after it joined; a
     * leaving one none submitted after it left); a segment with none open
     * falls back to every listed server. Ranked by rendezvous hashing, so
     * a join or a leave moves no other request. A server whose until_of is
     * not UINT64_MAX is leaving: it refuses every hop. */
    const uint64_t *route_since_of;
    const uint64_t *route_until_of;
    /* Bumped by the driver whenever the lists or since_of / until_of
     * change: a route the store memoised under another value is stale. */
    uint64_t route_epoch;
    uint32_t generate_tokens;
    uint64_t request_timeout_ns;
    /* Failover (no verifier): a step whose token is not back within
     * step_timeout_ns is replayed -- the prompt and the tokens so far --
     * on the request's next route attempt (node_route_attempt). */
    bool failover;
    uint64_t step_timeout_ns;
    uint32_t kv_slots;
    /* Per node (node_count entries). */
    const uint8_t *kernel_of;        /* infer_kernel */
    const double *flops_per_s_of;
    const uint64_t *overhead_ns_of;
    const double *memory_bandwidth_of; /* bytes/s; 0 (or a NULL table) = FLOPs alone */
    /* Continuous batching (node/batch.c): most decode steps a node runs as
     * one call; NULL (or 1) = one call at a time, as before. Only without
     * a verifier. */
    const uint16_t *max_batch_of;
    /* The driver's runner of forward calls off its event loop; NULL:
     * every call runs inline. */
    const node_forward_hook *forward;
    uint64_t request_capacity;       /* request ids are 0 .. request_capacity - 1 */
    uint32_t tokens_max;             /* most rows in one call: the longest prompt */
    size_t payload_capacity;         /* bytes of node_store.payload */
    size_t output_floats;            /* largest output: max(tokens_max * dim, vocab) */
    /* Verification; verifier is NULL without it. */
    const node_verifier *verifier;
    const cons_protocol_ops *protocol; /* the protocol's rules */
    cons_params protocol_params;     /* its settings */
    uint32_t vote_bytes;             /* protocol->vote_bytes */
    uint32_t evidence_bytes;         /* after a reveal's output: protocol->evidence_bytes */
    uint32_t claim_bytes;            /* after a commitment's vote: the VRF proof (0 = none) */
    uint32_t commit_sig_bytes;       /* after the claim: the member's signature of its
                                      * commitment (ledger evidence; 0 = none) */
    double prover_factor;            /* zk: prover FLOPs per FLOP (0 = none) */
    double time_overhead;            /* tee: enclave compute time overhead (0 = none) */
    const double *gain_of;           /* > 0: the node is a rational adversary */
    uint32_t committee;              /* k */
    uint32_t quorum;
    uint32_t retries;
    bool commit_reveal;
    /* A member that did not answer a step after the prefill gets the rows
     * of the steps since with its next hop (at most tokens_max of them),
     * so a lost input leaves no gap in its cache: node/committee.c. */
    bool catch_up;
    uint64_t commit_timeout_ns;
    uint64_t reveal_timeout_ns;
    /* Failure detection: a member silent this long in a commit or reveal
     * phase is suspected, and the phase closes once every member the
     * client does not suspect has answered (0 = off: phases wait for their
     * deadlines). node_store.suspects remembers suspects across requests. */
    uint64_t suspect_after_ns;
    const double *behaviour_scale_of;
    uint64_t behaviour_seed;         /* the cartel's shared secret */
    /* A cartel that coordinates by messages (node/cartel.c; NULL without
     * one): per node, 1 when, colluding, it agrees with the others of its
     * committee by CARTEL_AGREE messages rather than the shared secret --
     * the adversary knows its own members. A member waits up to
     * cartel_wait_ns after its output for the leader's agreement. */
    const uint8_t *cartel_messages_of;
    uint64_t cartel_wait_ns;
    /* Per node (NULL: none targets): the token a colluding node's
     * last-segment output makes win, NODE_CARTEL_NO_TARGET for noise. */
    const uint32_t *cartel_target_of;
    /* Per node (NULL: none): 1 when, equivocating, it shows its second
     * commitment to the other members of its committee instead of the
     * client; honest members relay a peer's commitment to the client
     * (NODE_MESSAGE_FLAG_RELAYED), where the signed pair is the proof. */
    const uint8_t *equivocate_peers_of;
    /* Privacy: the sender of activations entering segment s clips and
     * noises them when bit s of privacy_mask is set (0 = off). */
    uint64_t privacy_mask;
    double privacy_clip;             /* C: rows are clipped to this L2 norm */
    double privacy_sigma;            /* noise N(0, (sigma C)^2) per coordinate */
    uint64_t privacy_seed;           /* noise streams derive from it and the sender */
    /* Ledger (node/ledger.c): validators are nodes 0 .. ledger_validators - 1,
     * each with a cons_bft replica in node_store.bft; 0 = no ledger. Under
     * ledger settlement a client sends each decision's verdicts as a
     * transaction to ledger_submit_to validators instead of calling the
     * verifier's judged and decided. */
    uint32_t ledger_validators;
    uint32_t ledger_submit_to;
    bool ledger_settlement;
    /* A penalty needs evidence the validators verify (node_ledger_evidence_check);
     * false: the client's word, as before evidence. */
    bool ledger_evidence;
    /* Timeout evidence (needs ledger_evidence and commit-reveal): members
     * also send their signed commitments to their committee peers, and a
     * TIMEOUT verdict needs a quorum of peers' signed attestations that the
     * member's commitment never reached them (node_ledger_evidence_check). */
    bool ledger_timeout_evidence;
    /* A client sends a transaction again to the next validators when
     * f + 1 validators have not confirmed its commit (LEDGER_RECEIPT)
     * this long after it sent it; 0 = never. */
    uint64_t ledger_resend_ns;
    /* Per validator: 1 for a Twins identity (two instances in one node;
     * instance k talks to the honest validators of parity k and to the
     * other twins' instance k). Only the Byzantine validators read it. */
    const uint8_t *ledger_twin_of;
    /* dissemination: gossip (node/ledger_gossip.c): a client sends a
     * transaction to ledger_entry validators (1; ledger_submit_to when
     * direct), and validators push new transactions and votes to
     * ledger_fanout others and pull every ledger_pull_ns (0 = never).
     * Validators from ledger_mute_from on forward nothing from
     * ledger_mute_at_ns on (withhold: from 0; crash: from crash_at). */
    bool ledger_gossip;
    uint32_t ledger_entry;
    uint32_t ledger_fanout;
    uint64_t ledger_pull_ns;
    uint32_t ledger_mute_from;
    uint64_t ledger_mute_at_ns;
} node_serving;

/* An honest member's evidence (serving evidence_bytes: a tee attestation,
 * a zk proof) for its encoded output, after member->bytes' vote.size
 * bytes, as the member computes it inline; 'honest' is the output,
 * n_floats values. Pure: any thread, given the verifier's attest is. */
void node_forward_member_evidence(const node_serving *serving, uint32_t node_id,
                                  const node_forward_member *member, const float *honest,
                                  size_t n_floats);

/* A cartel's agreement, as its leader sends it (CARTEL_AGREE's payload,
 * little-endian): the seed of the agreed noise (u64), its amplitude (f64,
 * finite, 0 .. NODE_CARTEL_AMPLITUDE_MAX) and the target token (u32; for
 * the last segment, NODE_CARTEL_NO_TARGET = noise). Every member expands
 * it to the same output (node/cartel.c). */
#define NODE_CARTEL_AGREE_BYTES 20
#define NODE_CARTEL_AMPLITUDE_MAX 1e30
#define NODE_CARTEL_NO_TARGET UINT32_MAX

typedef enum node_cartel_state {
    NODE_CARTEL_NONE = 0,
    NODE_CARTEL_HELD,                /* the agreement came before the member's output */
    NODE_CARTEL_WAITING              /* the output came first: it waits for the agreement */
} node_cartel_state;

/* A colluding member's record of one slot (node_store.cartel_slots). */
typedef struct node_cartel_slot {
    uint8_t state;                   /* node_cartel_state */
    uint32_t step;                   /* HELD: the step the agreement is for */
    uint64_t seed;                   /* HELD: the agreement */
    double amplitude;
    uint32_t target;
    uint64_t ready_ns;               /* WAITING: when its output was ready */
    uint64_t deadline_ns;            /* WAITING: when it gives up and answers honestly */
    node_message hop;                /* WAITING: the hop it answers (payload NULL) */
    uint8_t sent[NODE_CARTEL_AGREE_BYTES]; /* leader: the payload of its CARTEL_AGREEs */
} node_cartel_slot;

/* LEDGER_GOSSIP's kind byte (the payload's first): a transaction pushed,
 * a vote pushed, a pull's digest (a count <= NODE_LEDGER_PULL_IDS_MAX,
 * then that many u64 transaction digests, cons_bft_tx_hash), a
 * transaction answering a pull. */
#define NODE_LEDGER_GOSSIP_TX 1u
#define NODE_LEDGER_GOSSIP_VOTE 2u
#define NODE_LEDGER_GOSSIP_PULL 3u
#define NODE_LEDGER_GOSSIP_ANSWER 4u
#define NODE_LEDGER_PULL_IDS_MAX 32u     /* digests one pull carries */
#define NODE_LEDGER_PULL_ANSWERS_MAX 8u  /* transactions one pull is answered with */
#define NODE_LEDGER_SEEN_MAX 1024u       /* digests a validator remembers */
#define NODE_LEDGER_GOSSIP_OUT_MAX 12u   /* gossip payloads one node call sends */

/* What the nodes of a process own, laid out by id (structure of arrays):
 * every slice has one owner, the only node that writes it -- a node its
 * own compute queue, caches and behaviour; a client its own requests and
 * committee tallies; the member of (request, segment, slot) that slot's
 * cache, reveal and record. The pools and the scratch are the process's
 * allocators and one call's work space. A driver allocates it, sized from
 * the scenario's bounds, and reads it only as a checker does. */
typedef struct node_store {
    infer_executor *executor;        /* one forward call at a time */
    infer_executor *substitute;      /* WRONG_MODEL: an executor over other weights */
    /* Per node (node_count entries). */
    uint64_t *busy_until_ns;         /* the node's compute queue is FIFO */
    uint16_t *kv_in_use;             /* [node * segment_count + s]: caches held */
    /* Continuous batching (node_store_batch_init; NULL without it): per
     * node, the FIFO of steps computed and waiting for their batch (block
     * + 1 of batch_pool, 0 = empty) and its timer (bit 31 armed, the low
     * bits the sequence the timer carries). */
    uint32_t *batch_head_of;
    uint32_t *batch_tail_of;
    uint32_t *batch_timer_of;
    util_pool batch_pool;            /* a waiting step and its result's payload */
    uint8_t *behaviour_of;           /* node_behaviour (the driver's faults set it; an
                                      * adaptive node switches its own) */
    /* Per request, the client's (request_capacity entries). */
    node_request *requests;
    uint64_t request_reach;          /* 1 + the highest request id submitted: no
                                      * record past it was ever written */
    node_committee_state *committees;
    /* Per client node, NODE_SUSPECTS_MAX entries [node * NODE_SUSPECTS_MAX]:
     * the nodes it suspects, id + 1, oldest first, 0 = free (NULL without
     * serving.suspect_after_ns). An entry goes at the suspect's next
     * commit or reveal, or when a newer suspicion needs its place. */
    uint32_t *suspects;
    util_pool committee_pool;        /* client: k votes + k outputs per request */
    /* Per (request, segment, slot), the member's (node__serve_slot_index). */
    uint32_t *kv_block_of;           /* block + 1, 0 = none */
    uint32_t *reveal_block_of;       /* block + 1 of reveal_pool */
    uint32_t *client_of;             /* the client the slot serves + 1, 0 = none */
    uint32_t *owner_of;              /* churn: the server whose cache the slot holds + 1
                                      * (a route may move to another server while the
                                      * slot is taken); NULL without churn */
    /* Routes already ranked (node_store_route_init; NULL when a route is a
     * hash): a direct-mapped memo of node_route_attempt. */
    struct node_route_memo *route_memo;
    uint32_t route_memo_mask;        /* entries - 1 */
    util_pool pools[NODE_SEGMENTS_MAX]; /* KV caches per segment; block_bytes 0 = unused */
    util_pool reveal_pool;           /* member: its output, held until the reveal */
    node_cartel_slot *cartel_slots;  /* colluding member by messages (NULL without) */
    /* Scratch for one call: activations, logits, an outgoing payload. */
    float *x;
    float *logits;
    uint8_t *payload;                /* node_serving.payload_capacity bytes */
    uint32_t *token_scratch;         /* tokens_max entries */
    float *decoded;                  /* k * output_floats */
    node_outcome outcome;            /* the OUTPUT being reported */
    node_decision decisions[NODE_DECISIONS_PER_CALL]; /* the DECISIONs of one call */
    /* Ledger: per validator (serving.ledger_validators entries), its
     * replica, and its pending timers (view, propose) as a crash loses them:
     * the token + 1 (0 = none) and when it fires. */
    cons_bft_replica **bft;
    cons_bft_replica **bft_twin;     /* a Twins validator's second instance, else NULL */
    uint64_t (*bft_timer_token)[4];  /* [instance * 2 + kind] */
    uint64_t (*bft_timer_at_ns)[4];
    uint64_t ledger_sends_dropped;   /* BFT sends that did not fit a call's outbox */
    /* Client, with serving.ledger_resend_ns: its transactions not yet
     * confirmed by f + 1 receipts (node_ledger_pending blocks), listed per
     * request (first block + 1, 0 = none). */
    util_pool ledger_pending_pool;
    uint32_t *ledger_pending_of;
    /* Client: the transactions one call sends (reset by every node call). */
    uint8_t ledger_tx[NODE_DECISIONS_PER_CALL][CONS_BFT_TX_BYTES_MAX];
    uint32_t ledger_tx_count;
    /* Timeout evidence (serving.ledger_timeout_evidence; else NULL): per
     * (request, segment, slot, step), at [slot index * (generate_tokens +
     * 1) + step], what the member of that slot saw of its peers'
     * commitments; per request, the client's claims waiting for
     * attestations (node_ledger_claim blocks, first + 1, 0 = none). */
    struct node_attest_seen *attest_seen;
    util_pool ledger_claim_pool;
    uint32_t *ledger_claim_of;
    uint32_t decision_count;         /* of 'decisions', reset by every node call */
    /* Ledger gossip (serving.ledger_gossip; else NULL): per validator, the
     * digests of the transactions and votes it has seen, a ring of
     * NODE_LEDGER_SEEN_MAX at [validator * NODE_LEDGER_SEEN_MAX], and the
     * ring's next slot; the payloads one call sends (reset by every node
     * call); what the validators counted. */
    uint64_t *ledger_seen;
    uint32_t *ledger_seen_next;
    uint32_t *ledger_pull_generation; /* per validator: bumped by start and recover, so
                                       * a pull timer armed before a crash is stale */
    uint8_t ledger_gossip_out[NODE_LEDGER_GOSSIP_OUT_MAX][1 + CONS_BFT_TX_BYTES_MAX];
    uint32_t ledger_gossip_out_count;
    uint64_t ledger_gossip_duplicates; /* copies of a seen transaction or vote */
    uint64_t ledger_pull_answers;      /* transactions sent to answer a pull */
} node_store;

/* The Gaussian mechanism on 'count' rows of 'dim' floats, in place: each
 * row is scaled down to L2 norm 'clip' when longer, then every value gets
 * N(0, (sigma clip)^2) drawn from 'prng' in row order. sigma 0 only clips.
 * clip > 0 (ASSERTed). Cannot fail. */
void node_privacy_noise(float *rows, uint32_t count, uint32_t dim, double clip, double sigma,
                        util_prng *prng);

/* The stream 'sender' noises the rows it forwards into 'segment' from, at
 * a request's 'step' and committee 'round', under the serving's
 * privacy_seed: a pure function, so the oracle can replay the noise an
 * honest pipeline got. */
void node_privacy_stream_of(uint64_t privacy_seed, uint32_t sender, uint64_t request,
                            uint32_t segment, uint32_t step, uint32_t round, util_prng *prng_out);

/* The server of 'segment' for 'client''s 'request'. Pure; every node
 * computes it. Under hash routing the client plays no part. Under latency
 * routing a segment's servers are ranked by expected latency -- the base
 * latency from the previous hop's region (the client's for segment 0) to
 * the server's, plus the server's compute time for one decode step of the
 * segment at its class's rates, plus, for the last segment, the base
 * latency back to the client -- ties broken by a hash of (request,
 * segment, server), and the hash of (request, segment) picks among the
 * routing_choices best. A client id past the serving's nodes has no route
 * under latency routing: UINT32_MAX. */
uint32_t node_route(const node_serving *serving, uint32_t client, uint64_t request,
                    uint32_t segment);
/* The server of 'segment' on the request's route attempt 'attempt': 0 is
 * node_route; each later attempt moves every segment to the next of its
 * servers (hash: in placement order; latency: in rank order; wrapping), so
 * a segment with two or more servers gets another one. Pure. */
uint32_t node_route_attempt(const node_serving *serving, uint32_t client, uint64_t request,
                            uint32_t segment, uint32_t attempt);

/* Route attempts a request may use: the first and up to 7 failovers.
 * Each attempt has its own cache slot per (request, segment), so a
 * replacement never meets a state the old route left behind. */
#define NODE_ATTEMPTS_MAX 8u

/* A settlement transaction (NODE_MESSAGE_LEDGER_TX's payload and a
 * ledger block's entry), little-endian: version 2, member count m, segment
 * (u16), request (u64), step, round, rows, client (u32 each), the client's
 * submit time (u64), then per member its id (u32) and verdict (u8; 0xff =
 * not judged), then the evidence: a count (u8) and per item its kind (u8),
 * the member's index (u8), its body's size (u16) and the body; then the
 * client's 64-bit tag over everything before it. */
#define NODE_LEDGER_TX_VERSION 2
#define NODE_LEDGER_TX_HEADER_BYTES 36
#define NODE_LEDGER_TX_MEMBER_BYTES 5
#define NODE_LEDGER_TX_TAG_BYTES 8
#define NODE_LEDGER_TX_UNJUDGED 0xffu
#define NODE_LEDGER_TX_MEMBERS_MAX CONS_COMMITTEE_MAX
#define NODE_LEDGER_EVIDENCE_MAX 4       /* items one transaction carries */
#define NODE_LEDGER_EVIDENCE_HEADER_BYTES 4
/* The largest body: a timeout's attestations fill most of a transaction. */
#define NODE_LEDGER_EVIDENCE_BODY_MAX                                                          \
    (CONS_BFT_TX_BYTES_MAX - NODE_LEDGER_TX_HEADER_BYTES - 1 - NODE_LEDGER_TX_TAG_BYTES -     \
     NODE_LEDGER_EVIDENCE_HEADER_BYTES)
#define NODE_LEDGER_ATTESTATION_BYTES (1 + NODE_SIGNATURE_BYTES) /* attester index, signature */

/* What proves a penalty (a verdict other than AGREED), checked by the
 * validators against the signers' public keys:
 *  EQUIVOCATION: two different votes the member signed for the hop --
 *    vote, signature, vote, signature: a PROVEN deviation;
 *  REFEREE: the member's signed vote and the referee's signature of the
 *    ruling that the output opening that vote is wrong -- vote, the
 *    member's signature, the referee's: a PROVEN or DEVIATED verdict;
 *  TIMEOUT (ledger.timeout_evidence): a quorum of the hop's other members'
 *    attestations that they saw no commitment of the member by the
 *    deadline -- per attester its index in the committee (u8) and its
 *    signature over node_ledger_timeout_statement: a TIMEOUT verdict. The
 *    transaction's members must be the hop's committee (the verifier's
 *    draw), and the quorum is node_ledger_attest_quorum of the k - 1
 *    others, each a distinct member. */
typedef enum node_evidence_kind {
    NODE_EVIDENCE_EQUIVOCATION = 1,
    NODE_EVIDENCE_REFEREE = 2,
    NODE_EVIDENCE_TIMEOUT = 3
} node_evidence_kind;

typedef struct node_ledger_evidence {
    uint8_t kind;                    /* node_evidence_kind (any byte after decoding) */
    uint8_t member;                  /* index into the transaction's members */
    uint16_t size;
    uint8_t body[NODE_LEDGER_EVIDENCE_BODY_MAX];
} node_ledger_evidence;

typedef struct node_ledger_tx {
    uint32_t member_count;
    uint32_t segment;
    uint64_t request;
    uint32_t step;
    uint32_t round;
    uint32_t rows;
    uint32_t client;
    uint64_t submitted_ns;
    uint32_t members[NODE_LEDGER_TX_MEMBERS_MAX];
    uint8_t verdicts[NODE_LEDGER_TX_MEMBERS_MAX];
    uint32_t evidence_count;
    node_ledger_evidence evidence[NODE_LEDGER_EVIDENCE_MAX];
    uint64_t tag;
} node_ledger_tx;

/* Bytes of the encoding of 'tx' (its members and evidence). */
size_t node_ledger_tx_size(const node_ledger_tx *tx);

/* Encodes 'tx' (its tag included) into out[CONS_BFT_TX_BYTES_MAX]; returns
 * the size. ASSERTs that it fits (member_count <= NODE_LEDGER_TX_MEMBERS_MAX,
 * node_ledger_tx_size(tx) <= CONS_BFT_TX_BYTES_MAX). */
size_t node_ledger_tx_encode(const node_ledger_tx *tx, uint8_t *out);

/* Decodes untrusted bytes: 0, or NODE_EMALFORMED when the version, the
 * member count, the size, a verdict or an evidence item's bounds are
 * wrong. Checks no tag (the caller compares tx_out->tag with its own) and
 * no signature. Never asserts on the bytes. */
int node_ledger_tx_decode(const uint8_t *bytes, size_t size, node_ledger_tx *tx_out);

/* The statements signed for evidence, into out[NODE_LEDGER_STATEMENT_MAX];
 * each returns its size. A member's commitment: "C", the hop (request,
 * segment, step, round) and the vote. The referee's ruling that the output
 * opening member_id's vote is wrong: "W", the hop, member_id and the vote. */
#define NODE_LEDGER_STATEMENT_MAX (1 + 8 + 3 * 4 + 4 + NODE_VOTE_MAX)
size_t node_ledger_commit_statement(uint64_t request, uint32_t segment, uint32_t step,
                                    uint32_t round, const uint8_t *vote, uint32_t vote_bytes,
                                    uint8_t *out);
size_t node_ledger_ruling_statement(uint64_t request, uint32_t segment, uint32_t step,
                                    uint32_t round, uint32_t member_id, const uint8_t *vote,
                                    uint32_t vote_bytes, uint8_t *out);
/* An attester's claim that member_id's commitment to the hop did not reach
 * it by the deadline: "T", the hop and member_id. */
size_t node_ledger_timeout_statement(uint64_t request, uint32_t segment, uint32_t step,
                                     uint32_t round, uint32_t member_id, uint8_t *out);

/* Attestations a timeout needs from 'attesters' (the committee's other
 * members, a >= 1): a - f with f = (a - 1) / 3, the BFT quorum (2f + 1
 * when a = 3f + 1). */
uint32_t node_ledger_attest_quorum(uint32_t attesters);

/* Whether 'tx' (decoded, ids in range) proves member j's penalty: verdict
 * j is PROVEN or DEVIATED and an evidence item for j of a kind that
 * proves it verifies -- every signature by its signer's key through the
 * serving's verifier, over statements naming the transaction's hop.
 * Pure and deterministic; safe on any bytes. */
bool node_ledger_evidence_check(const node_serving *serving, const node_ledger_tx *tx,
                                uint32_t j);

/* Whether a validator takes these transaction bytes (into its mempool, a
 * proposal it votes for): they decode, name ids inside the run (nodes
 * below node_count), carry their client's tag and, with ledger_evidence,
 * every penalty's evidence verifies. Pure and deterministic: every replica
 * answers alike (cons_bft's external validity). Safe on any bytes. */
bool node_ledger_tx_admissible(const node_serving *serving, uint32_t node_count,
                               const uint8_t *bytes, size_t size);

/* Penalties of 'tx' without valid evidence (verdicts other than AGREED
 * and unjudged whose check fails). */
uint32_t node_ledger_penalties_unproven(const node_serving *serving, const node_ledger_tx *tx);

/* Bytes of a client's committee_pool block: k votes, k outputs and, with
 * signed commitments (commit_sig_bytes), the evidence it keeps per member. */
size_t node_committee_block_bytes(const node_serving *serving);

/* A client's settlement transaction waiting for receipts: its decision,
 * its bytes, when to send it again and how often it was sent. */
#define NODE_LEDGER_SENDS_MAX 8u        /* a transaction is sent at most this often */
typedef struct node_ledger_pending {
    uint64_t request;
    uint64_t due_ns;                 /* sent again then, unless confirmed */
    uint64_t receipts[CONS_BFT_VALIDATORS_MAX / 64]; /* bit v % 64 of word v / 64:
                                                      * validator v confirmed the commit */
    uint32_t segment;
    uint32_t step;
    uint32_t round;
    uint32_t sends;
    uint32_t next;                   /* the request's next pending block + 1, 0 = none */
    uint32_t size;
    uint8_t bytes[CONS_BFT_TX_BYTES_MAX];
} node_ledger_pending;

/* A member's record of one step of its hop (timeout evidence): when it
 * committed itself and to which client, and whose commitments reached it. */
typedef struct node_attest_seen {
    uint64_t committed_ns;           /* its own commitment went out then; 0 = none */
    uint64_t seen;                   /* bit j: member j's commitment reached it */
    uint32_t client_plus_one;        /* the client of the hop + 1 */
} node_attest_seen;

/* A client's decision whose timeouts wait for attestations: its
 * transaction, the members accused (bit j: member j, whose TIMEOUT still
 * lacks its quorum), the members asked, per evidence item the attesters
 * in, and whether the asks went out. */
typedef struct node_ledger_claim {
    node_ledger_tx tx;
    uint64_t accused;
    uint64_t attesters;              /* bit i: member i is asked (it committed) */
    uint64_t attested[NODE_LEDGER_EVIDENCE_MAX];
    uint64_t due_ns;                 /* asks go out, or the transaction, then */
    uint32_t next;                   /* the request's next claim + 1, 0 = none */
    bool asked;
    bool frame;                      /* a framing client submits without a quorum */
} node_ledger_claim;

/* Frees every KV chunk of the store's pools (and the batching queues).
 * Cannot fail. */
void node_store_release(node_store *store);

/* Sets up the route memo when a route ranks a segment's servers
 * (serving->routing LATENCY, or churn's rendezvous hashing): every hop
 * asks for its neighbours' routes, and a ranking reads every server of a
 * segment. An entry holds (origin, request, segment, attempt) and the
 * serving's route_epoch; it gives what node_route_attempt gives.
 * node_store_release frees it. 0, or NODE_ENOMEM. */
int node_store_route_init(node_store *store, const node_serving *serving);

/* Sets up continuous batching for 'node_count' nodes when
 * serving->max_batch_of is set (nothing to do otherwise): the per-node
 * queues and the pool of waiting steps, sized from payload_capacity.
 * node_store_release frees them. 0, or NODE_ENOMEM. */
int node_store_batch_init(node_store *store, const node_serving *serving, uint32_t node_count);

typedef struct node_config {
    uint32_t node_id;
    uint32_t node_count;             /* peers are every other node id */
    node_gossip_mode mode;
    uint32_t fanout;                 /* 1 .. node_count - 1 */
    uint32_t pull_max;               /* PUSHPULL: rumors answered per pull */
    uint32_t rumor_payload_bytes;    /* payload size of every rumor (pull replies use it) */
    const node_serving *serving;     /* split inference; NULL when the run has no model */
    node_store *store;               /* with 'serving': what the process's nodes own */
    uint64_t rumor_capacity;         /* rumor ids are 0 .. rumor_capacity - 1 */
    uint64_t pull_interval_ns;       /* PUSHPULL: > 0 */
} node_config;

/* Per-node state. Small on purpose: the seen-set lives in caller storage,
 * or in seen_word when one word holds it. 128 bytes, and what every
 * arriving message reads (the seen-set, the config but its pull interval)
 * in the first 64: in an array on a 64-byte boundary, as a million nodes'
 * is (util/alloc.c), a duplicate rumor reads one line of its receiver. */
typedef struct node {
    uint64_t *seen_bits;             /* borrowed: rumor_capacity bits, zeroed */
    uint64_t seen_word;              /* a one-word seen-set the caller may lend */
    node_config config;
    uint64_t *origin_ns;             /* borrowed: per rumor publish time (or NULL) */
    uint32_t first_missing;          /* lowest rumor id not held; ids are below */
    uint32_t highest_held_plus_one;  /* SCN_MESSAGES_MAX < 2^32 */
    uint32_t held_count;
    uint32_t timer_generation;
    util_prng prng;
} node;

/* Words of seen-set storage a node needs for 'rumor_capacity' rumors. */
static inline size_t node_seen_words(uint64_t rumor_capacity)
{
    return (size_t)((rumor_capacity + 63) / 64);
}

/* Initialises 'self' in caller memory. 'seen_bits' (node_seen_words words,
 * zeroed) and 'origin_ns' (rumor_capacity entries, used by push-pull to
 * answer pulls; may be NULL in push mode) are borrowed for the node's life.
 * 'prng' is copied. Cannot fail; config is ASSERTed (the scenario loader has
 * validated it). */
void node_init(node *self, const node_config *config, const util_prng *prng,
               uint64_t *seen_bits, uint64_t *origin_ns);

/* Handles one event at 'now_ns', appending effects to 'outbox' (which the
 * caller cleared). Returns 0, or NODE_EMALFORMED for a message that fails
 * validation (wrong dest, rumor id out of range): counted by the caller and
 * dropped, with no effects. */
int node_on_event(node *self, uint64_t now_ns, const node_event *event, node_outbox *outbox);

/* Whether timer 'timer_id' still fires while its node is down. A crash
 * loses a node's timers (RECOVER re-arms what it needs) except a KV
 * cache's lease: the cache ends on time whether its server is up or not,
 * as a restarted server finds it expired, and its handling only frees
 * memory (no effects). Without it a server that was down when its leases
 * ran out, and so missed the clients' end messages too, kept those caches
 * for good and refused requests after it came back. */
bool node_timer_outlives_crash(uint64_t timer_id);

static inline bool node_holds(const node *self, uint64_t rumor_id)
{
    return (self->seen_bits[rumor_id >> 6] >> (rumor_id & 63)) & 1u;
}

#endif
