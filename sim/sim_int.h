/* sim_int.h -- private declarations shared by the engine files of sim/:
 * the world struct (sim.c owns the event loop, world.c builds placement
 * and applies the fault schedule). Not part of the public interface. */
#ifndef SIM_SIM_INT_H
#define SIM_SIM_INT_H

#include "consensus/cons.h"
#include "sim/queue.h"
#include "sim/sim.h"
#include "util/hash.h"

/* Event kinds in the queue; part of the trace hash, append only. */
enum {
    SIM_EV_DELIVER = 1,   /* arg = message slot, arg2 = corrupt flag */
    SIM_EV_TIMER = 2,     /* arg = node, arg2 = timer id */
    SIM_EV_PUBLISH = 3,   /* arg = origin node, arg2 = attempt number */
    SIM_EV_FAULT = 4,     /* arg = fault index, arg2 = 0 start, 1 end */
    SIM_EV_SAMPLE = 5,    /* arg2 = sample number */
    SIM_EV_SUBMIT = 6,    /* arg = client node, arg2 = request id */
    SIM_EV_TRANSMIT = 7   /* arg = message slot: a send held until compute ended */
};

/* One message in flight: the encoded header as it would cross a wire, its
 * MAC and how many scheduled deliveries still reference it. */
/* The fields read at every arrival come first, the header right after:
 * an arrival touches two cache lines. Signatures live in a side array. */
typedef struct sim_slot {
    uint32_t refs;
    uint32_t next_free;
    uint32_t source;                 /* ground truth, for accounting only */
    uint32_t dest;
    uint32_t type;
    uint32_t payload_bytes;          /* real payload bytes after the header */
    uint64_t wire_bytes;
    uint64_t tag;
    uint8_t *payload;                /* owned; grows to the largest payload seen */
    uint32_t payload_capacity;
    bool signed_ed25519;             /* carries an ed25519 signature instead of the MAC */
    bool signature_checked;          /* the unaltered bytes' signature was verified once */
    uint8_t header[NODE_HEADER_BYTES];
} sim_slot;

typedef struct sim_world {
    const scn_scenario *scenario;
    const sim_observer *observer;
    sim_result *result;
    uint32_t node_count;
    uint64_t now_ns;
    sim_queue queue;
    net *network;
    node *nodes;
    uint64_t *seen_bits;             /* node_count * seen_words */
    uint64_t *origin_ns;             /* shared: a rumor's publish time is one fact */
    uint32_t *origin_of;             /* per rumor: the publishing node */
    uint8_t (*keys)[UTIL_MAC_KEY_BYTES];
    uint8_t *scratch;                /* node_count bytes for selectors */
    uint8_t *groups;                 /* node_count group ids for partitions */
    sim_slot *slots;
    uint32_t slot_capacity;
    uint32_t slot_free;
    uint64_t in_flight;
    util_prng workload_prng;
    uint64_t next_rumor;             /* next rumor id: dense, published ones only */
    uint64_t publish_attempts;
    node_outbox outbox;
    /* Split inference (serve.c); unused without a model. */
    bool inference;
    infer_model *model;
    node_serving serving;
    infer_executor *oracle_executor;
    uint32_t *servers;
    uint32_t *server_offsets;
    double *flops_of;
    uint64_t *overhead_of;
    uint64_t *busy_until;
    uint16_t *kv_in_use;
    node_request *requests;
    uint32_t *tokens;
    uint32_t *kv_block_of;
    uint32_t *oracle_block_of;       /* per request: block + 1 of the network's logits */
    util_pool oracle_pool;
    float *oracle_x;
    float *oracle_reference;
    float *oracle_variant;
    void *oracle_kv;
    uint64_t submit_attempts;
    /* Committee verification (verify.c). */
    bool verifying;
    bool signing;                    /* verification.crypto: ed25519 */
    cons_agreement agreement;        /* the scenario's rules, converted once */
    cons_agreement final_agreement;
    cons_reputation_rule reputation_rule;
    uint8_t (*public_keys)[32];
    uint8_t (*secret_keys)[64];
    uint8_t *sign_buffer;            /* header and payload, to sign or verify */
    uint8_t (*signatures)[64];       /* per slot, when signing */
    size_t sign_capacity;
    node_verifier verifier;
    uint8_t (*identities)[32];       /* public per-node value sortition hashes */
    uint8_t *behaviour_now;          /* node_behaviour per node, as the faults set it */
    uint32_t adaptive_budget;        /* corruptions the adaptive adversary has left */
    infer_model *substitute;         /* other weights, for wrong_output mode model */
    double *behaviour_scale;
    uint32_t *committee_cache;       /* [((request * S + s) * rounds + round) * k]: members */
    uint8_t *committee_cache_round;  /* [(request * S + s) * rounds + round]: 1 = drawn */
    uint32_t *committee_cache_count;
    node_committee_state *committees;
    uint32_t *reveal_block_of;
    float *decoded;
    void *candidates;                /* cons_candidate per eligible server, by segment */
    uint32_t *candidate_offsets;     /* segment s: candidates[offsets[s] .. offsets[s + 1]) */
    uint8_t *replay_wire;            /* the referee's re-execution: one wire encoding */
    util_pool inputs_pool;           /* per request in flight: the inputs it accepted */
    uint32_t *inputs_block_of;       /* per request: block + 1 (protocols with a referee) */
    float *oracle_wired;             /* per kernel: an honest pipeline's logits, wire included */
    double *gain_of;                 /* per node: a rational adversary's gain (0 = none) */
    double pot;                      /* slashed in the decision being judged */
    uint32_t agreed[NODE_COMMITTEE_MAX]; /* the members that agreed in it */
    uint32_t agreed_count;
    uint8_t vendor_public[32];       /* tee: the simulated vendor's attestation key */
    uint8_t vendor_secret[64];
    uint8_t model_hash[2][32];       /* tee: [0] the scenario's model, [1] another */
    uint64_t sampled_tokens;         /* tokens_out at the previous sample */
    uint64_t sampled_flops;
    /* Hosted by a driver (sim_host): no engine, no simulated network. */
    bool hosted;
    uint64_t extra_requests;         /* request ids beyond the workload's */
    /* Interval counters for the timeseries. */
    uint64_t interval_sent;
    uint64_t interval_deliveries;
} sim_world;

/* world.c */
int sim__placement(sim_world *world);
uint32_t sim__select(sim_world *world, const scn_selector *selector, uint32_t fault_index,
                     uint8_t *selected);
int sim__fault_apply(sim_world *world, uint32_t fault_index, int ending);

/* sim.c */
void sim__node_deliver(sim_world *world, uint32_t node_id, const node_event *event);
/* Records an OUTPUT or OBSERVE effect of 'node_id' in the result. */
void sim__record_effect(sim_world *world, uint32_t node_id, const node_effect *effect);
int sim__world_build(sim_world *world);
void sim__world_destroy(sim_world *world);
/* world.c */
uint32_t sim__partition_groups(sim_world *world, const scn_fault *fault, uint32_t fault_index);

/* serve.c */
int sim__serve_build(sim_world *world);
void sim__serve_destroy(sim_world *world);
void sim__serve_schedule(sim_world *world, uint64_t after_ns);
void sim__serve_submit(sim_world *world, uint32_t client, uint64_t request);
void sim__serve_observe(sim_world *world, uint32_t node_id, const node_effect *effect);
void sim__serve_output(sim_world *world, const node_effect *effect);
/* A metric of SCN_METRIC_RUNS_INFERENCE but liveness_violations (sim.c):
 * NaN in a run without requests. Cannot fail. */
double sim__serve_metric(const sim_result *result, scn_metric metric);
void sim__serve_sample(sim_world *world);
/* The referee's re-execution of a hop: the output of 'segment' at the
 * request's current step, run with 'kernel' over every position so far
 * (one prefill: the executor gives the same bits as step by step) from the
 * segment's inputs -- the tokens for segment 0, else the inputs the client
 * accepted (sim__verify_inputs), through the wire dtype as the servers
 * receive them -- and for a segment but the model's last, through the wire
 * again as the servers send it.
 * Returns n_out floats (the step's rows, or the last segment's logits),
 * valid until the oracle runs again. Uses the oracle's buffers. */
const float *sim__serve_replay(sim_world *world, uint64_t request, uint32_t segment,
                               infer_kernel kernel, size_t *n_out);
/* The inputs of 'segment' (segment >= 1) the request's client accepted so
 * far, one row per position (seq_len x dim floats), or NULL when none. */
const float *sim__verify_inputs(const sim_world *world, uint64_t request, uint32_t segment);
/* A request finished: the inputs kept for its referee are dropped. */
void sim__verify_request_done(sim_world *world, uint64_t request);

/* verify.c */
int sim__verify_build(sim_world *world);
void sim__verify_destroy(sim_world *world);
/* A Byzantine behaviour fault starts (or ends) on the selected nodes. */
void sim__verify_behaviour(sim_world *world, const scn_fault *fault, const uint8_t *selected,
                           bool ending);
/* The oracle's safety check of a completed request's accepted logits: a
 * step is wrong when it agrees, under the final rule, with no honest
 * execution (honest[i]: generate x vocab logits of the reference and of
 * every kernel variant in use). */
void sim__verify_judge_request(sim_world *world, uint64_t request, const float *network,
                               const float *const *honest, uint32_t honest_count);
/* A metric of SCN_METRIC_RUNS_VERIFICATION: NaN in a run without
 * verification. Cannot fail. */
double sim__verify_metric(const sim_result *result, scn_metric metric);
/* Members one committee of 'v' can have: k, or the executor and its
 * verifiers or challengers. */
uint32_t sim__verify_members_max(const scn_verification *v);
/* Samples under verification: the mean reputation and balance of the
 * nodes honest so far and of those given a Byzantine behaviour so far (NaN:
 * none), and every node's balance. Observation only. */
void sim__verify_sample(sim_world *world);
/* Records a violation the checkers found. Cannot fail. */
void sim__verify_violation(sim_world *world, sim_violation_kind kind, uint64_t request,
                           uint32_t segment, uint32_t node_id, uint32_t step);
/* liveness.c: judges every request against expect.converge_within (set)
 * once the run has ended. */
void sim__liveness_check(sim_world *world);
void sim__serve_count_bytes(sim_world *world, const node_message *message, uint64_t wire_bytes,
                            bool arrival);

#endif
