/* world_int.h -- private declarations shared by the files of world/: the
 * world struct (world.c builds it and records effects, world_place.c
 * places nodes and selects fault targets, world_serve.c serves and runs
 * the oracle, world_verify.c the verifier, the ledger's wiring and the
 * checkers, world_host.c hosts it for a driver without an engine) and the
 * functions the engine (sim/) calls. Not part of the public interface. */
#ifndef WORLD_WORLD_INT_H
#define WORLD_WORLD_INT_H

#include "world/world_engine.h"

/* world_place.c: classes and regions of every node (the scenario's
 * fractions). 0, or WORLD_EINVAL when the scenario cannot be placed. */
int world__placement(world_state *world);

/* world_text.c: workload.prompts encoded into *prompts (count 0 without
 * prompts). 0, WORLD_EMODEL (the tokenizer cannot be read) or
 * WORLD_ENOMEM; on failure *prompts holds nothing. */
int world__prompts_load(const scn_scenario *scenario, world_prompts *prompts);
void world__prompts_deinit(world_prompts *prompts);

/* world_churn.c: the churn state, after the nodes (0 or WORLD_ENOMEM),
 * and its release (safe on a world whose build failed or had no churn). */
int world__churn_build(world_state *world);
void world__churn_destroy(world_state *world);

/* world_serve.c */
/* Reads a whole file into util_malloc'd memory; 0 or -1. */
int world__file_read(const char *path, uint8_t **bytes_out, size_t *size_out);
int world__serve_build(world_state *world);
void world__serve_destroy(world_state *world);
void world__serve_observe(world_state *world, uint32_t node_id, const node_effect *effect);
void world__serve_output(world_state *world, const node_effect *effect);
/* Request 'r' finished: notes whether its client went down since it
 * submitted (world_liveness.c). */
void world__liveness_finished(world_state *world, world_request_record *r);
/* Drops the execution rows of 'request' (its id is about to be reused). */
void world__serve_forget_executions(world_result *result, uint64_t request);
/* A metric of SCN_METRIC_RUNS_INFERENCE but liveness_violations (world.c):
 * NaN in a run without requests. Cannot fail. */
double world__serve_metric(const world_result *result, scn_metric metric);
/* world_attack.c: the curious servers' prompt reconstruction. Build
 * returns 0 or WORLD_ENOMEM (nothing allocated without curious nodes);
 * start, once the oracle's pool exists, gives each of its threads its
 * scratch (0 or WORLD_ENOMEM); destroy, after the pool is gone, frees it.
 * world__attack_arrival is called for every inference message reaching a
 * node: the prefill's activations, then each step's row, reaching a
 * curious server outside a TEE of a sampled request are queued for the
 * attack, which runs on the pool outside the event timeline (no simulated
 * time, no event, no stream drawn). */
int world__attack_build(world_state *world);
int world__attack_start(world_state *world);
void world__attack_destroy(world_state *world);
void world__attack_arrival(world_state *world, const node_message *message, bool leaked);
/* world_privacy.c: whether what reaches 'node_id' of 'request' now leaks
 * out of its TEE: the node is in a TEE under a side_channel fault and the
 * request is in the leaked share (a hash of seed, request and node). */
bool world__privacy_leaks(const world_state *world, uint64_t request, uint32_t node_id);
/* world_privacy.c: after placement, the segments each node serves and the
 * parameters of each piece of the model. 0 or WORLD_ENOMEM. */
int world__weights_build(world_state *world);
/* world_privacy.c: the privacy metrics of SCN_METRICS. Cannot fail. */
double world__privacy_metric(const world_result *result, scn_metric metric);
/* Per-request durations an exact quantile is taken of. */
typedef enum world_span {
    WORLD_SPAN_LATENCY = 0,   /* finished - submitted, completed requests */
    WORLD_SPAN_FIRST_TOKEN,   /* first token - submitted, requests that got a token */
    WORLD_SPAN_FINALITY       /* latency + the challenge window, completed requests */
} world_span;
/* The exact quantile q (in [0, 1]) of 'span' over the request records,
 * nearest rank: the ceil(q * n)-th smallest of the n requests that have the
 * span (the smallest for q = 0); NaN when none has it. Sorts a copy when
 * called (after the run; nothing in the event loop). Should the copy not
 * be allocated, the span's histogram (within 1/64) stands in. Cannot fail. */
double world__request_quantile(const world_result *result, world_span span, double q);
/* The referee's re-execution of a hop: the output of 'segment' at the
 * request's current step, run with 'kernel' over every position so far
 * (one prefill: the executor gives the same bits as step by step) from the
 * segment's inputs -- the tokens for segment 0, else the inputs the client
 * accepted (world__referee_inputs), through the wire dtype as the servers
 * receive them -- and for a segment but the model's last, through the wire
 * again as the servers send it.
 * Returns n_out floats (the step's rows, or the last segment's logits),
 * valid until the oracle runs again. Uses the oracle's buffers. */
const float *world__serve_replay(world_state *world, uint64_t request, uint32_t segment,
                               infer_kernel kernel, size_t *n_out);
/* The inputs of 'segment' (segment >= 1) the request's client accepted so
 * far, one row per position (seq_len x dim floats), or NULL when none. */
const float *world__referee_inputs(const world_state *world, uint64_t request, uint32_t segment);
/* A request finished: the inputs kept for its referee are dropped. */
void world__referee_request_done(world_state *world, uint64_t request);

/* world_verify.c, world_check.c */
int world__verify_build(world_state *world);
/* Appends one world_decision_record per member of a DECISION observation,
 * with the ledger's values around the verdicts verify_judged logged. */
void world__verify_record_decision(world_state *world, const node_decision *decision);
/* Drops the decision rows of 'request' (its id is about to be reused). */
void world__verify_forget_decisions(world_result *result, uint64_t request);
void world__verify_destroy(world_state *world);
/* The ledger's totals copied to the result after a change. */
void world__verify_totals(world_state *world);
/* Counts a verdict on 'member' against ground truth (honest_judged,
 * honest_penalised and its violation); true when it penalised a member
 * honest from the request's submission until now. */
bool world__verify_honest_judged(world_state *world, uint32_t member, cons_verdict verdict,
                                 uint64_t request, uint32_t segment);
/* Node 'node_id' behaves as 'behaviour' from now on (a fault's start or
 * end, the testbed's admin call): behaviour_now, and when a spell of
 * another behaviour than honest ends, byzantine_end_ns. */
void world__verify_behaviour_set(world_state *world, uint32_t node_id, uint8_t behaviour);
/* world_settle.c (verification.draw_epoch; nothing without it): the
 * logs and the settled ledger, after the live one is built (0 or
 * WORLD_ENOMEM); their teardown; one entry of a request's log (a verdict,
 * or node_id UINT32_MAX and the rows of a settlement); and the state the
 * draws of 'request' read -- false when they read the live ledger. */
int world__settle_build(world_state *world);
void world__settle_destroy(world_state *world);
void world__settle_log(world_state *world, uint64_t request, uint32_t node_id, uint32_t value);
bool world__settle_state(world_state *world, uint64_t request, const double **reputation,
                         const double **stake);
/* world_ledger.c: the validators' replicas and keys (nothing without a
 * ledger section; 0 or WORLD_ENOMEM), their teardown, the recorder of
 * their observations and the client's transactions, and the metrics. */
int world__ledger_build(world_state *world);
void world__ledger_destroy(world_state *world);
/* Copies what the validators counted in the node store (sends dropped,
 * gossip duplicates, pull answers) into the result. */
void world__ledger_counters(world_state *world);
bool world__ledger_honest(const world_state *world, uint32_t validator);
void world__ledger_observe(world_state *world, uint32_t node_id, const node_effect *effect);
/* Height 'height' (recorded) has a different block elsewhere: marks its
 * row forked and counts a ledger_fork (once per height); 'validator' the
 * one that committed the other block, UINT32_MAX when unknown. */
void world__ledger_fork(world_state *world, uint64_t height, uint32_t validator);
double world__ledger_metric(const world_result *result, scn_metric metric);
/* A committed transaction decoded and checked as the validators' state
 * machine checks it (encoding, tag, ids, its decision not yet set in
 * 'applied', a bit per decision slot): true with the tx and its slot. */
bool world__ledger_tx_parse(world_state *world, const uint64_t *applied, const uint8_t *bytes,
                            size_t size, node_ledger_tx *tx, uint64_t *slot_out);
/* Whether member j's verdict in 'tx' applies: an agreement always; a
 * penalty without ledger.evidence, or with evidence that verifies. */
bool world__ledger_verdict_proven(world_state *world, const node_ledger_tx *tx, uint32_t j);
/* A draw's weights: where they come from, per node or one for all. */
struct world_vrf_draw;
typedef struct world_weights {
    const double *reputation, *stake; /* per node, or NULL: the *_all below */
    double reputation_all, stake_all;
    uint64_t source;                  /* what the arrays are: WORLD_WEIGHTS_* */
} world_weights;
static inline double world__weights_reputation(const world_weights *w, uint32_t node_id)
{
    return w->reputation != NULL ? w->reputation[node_id] : w->reputation_all;
}
static inline double world__weights_stake(const world_weights *w, uint32_t node_id)
{
    return w->stake != NULL ? w->stake[node_id] : w->stake_all;
}
#define WORLD_WEIGHTS_FIXED (UINT64_C(1) << 60)   /* one weight for all, for the run */
#define WORLD_WEIGHTS_LIVE (UINT64_C(2) << 60)    /* the live ledger */
#define WORLD_WEIGHTS_SETTLED (UINT64_C(3) << 60) /* | world->settled_generation */
#define WORLD_WEIGHTS_CHAIN (UINT64_C(4) << 60)   /* | the chain's height */
/* world_held.c (under verification): the source of the weights each
 * segment's draw holds, and the nodes whose live stake or reputation
 * moved since the last draw; built after the candidates (0 or
 * WORLD_ENOMEM), torn down (safe when never built). Touch: a node's live
 * weight moved (the live ledger's hook calls it; so does whoever else
 * writes those arrays). Sync, before a draw of 'segment' from 'w': under
 * the live ledger, sets each moved node again through 'set' in every
 * segment that holds the live ledger; then true when 'segment' held
 * another source, which the caller refills from 'w' before it draws (the
 * segment holds w's source from then on). */
typedef void (*world_held_set_fn)(void *context, uint32_t segment, uint32_t position,
                                  uint32_t node_id, const world_weights *live);
int world__held_build(world_state *world);
void world__held_destroy(world_state *world);
void world__held_touch(world_state *world, uint32_t node_id);
bool world__held_sync(world_state *world, uint32_t segment, const world_weights *w,
                      world_held_set_fn set, void *context);
/* world_tree.c (verification.draw: tree; nothing without it): the
 * segments' weight trees, built after the candidates (0 or WORLD_ENOMEM);
 * their teardown; and the committee of (segment, beacon) drawn from
 * 'weights' into members_out, returning how many (min(k, candidates)).
 * Under selection: vrf ('vrf' not NULL) a pick seats its node only on the
 * hit its VRF ticket asks for (cons_tree_select_thinned). */
int world__tree_build(world_state *world);
void world__tree_destroy(world_state *world);
uint32_t world__tree_draw(world_state *world, uint32_t segment,
                          const uint8_t beacon[CONS_BEACON_BYTES], uint32_t k,
                          const world_weights *weights, const struct world_vrf_draw *vrf,
                          uint32_t *members_out);
/* world_verify.c: the same for verification.draw: race, every candidate's
 * ticket against the segment's held weights (world_held.c), in slices on
 * the draw pool when it pays (world_draw_select); under selection: vrf
 * the tickets are the candidates' VRF outputs for 'vrf'. */
uint32_t world__race_draw(world_state *world, uint32_t segment,
                          const uint8_t beacon[CONS_BEACON_BYTES], uint32_t k,
                          const world_weights *weights, const struct world_vrf_draw *vrf,
                          uint32_t *members_out);
/* world_chain.c: the draws' ledger state. For the committees of
 * 'request': true with the reputation and stake to draw from (a hosted
 * world with a chain source: the state at the request's agreed height),
 * false to draw as before; *cacheable false when the draw must not be
 * kept (no height agreed yet: a message ahead of its request), and
 * *height_out the height whose state it is. Records
 * the request's ledger_height at its first draw (both drivers). */
bool world__chain_state(world_state *world, uint64_t request, const double **reputation,
                        const double **stake, bool *cacheable, uint64_t *height_out);
void world__chain_destroy(world_state *world);
/* The beacon of the last block committed before 'before_ns' as a 64-bit
 * seed (the first 8 bytes of its id): true and *seed_out, or false (no
 * ledger, or no block yet). */
bool world__ledger_beacon(const world_state *world, uint64_t before_ns, uint64_t *seed_out);
/* A metric of SCN_METRIC_RUNS_VERIFICATION: NaN in a run without
 * verification. Cannot fail. */
double world__check_metric(const world_result *result, scn_metric metric);
/* Members one committee of 'v' can have: k, or the executor and its
 * verifiers or challengers. */
uint32_t world__verify_members_max(const scn_verification *v);
/* Records a violation the checkers found, at the current time, after the
 * oracle's judgements still in flight (so the order of the rows does not
 * depend on the thread count). Cannot fail. */
void world__check_violation(world_state *world, world_violation_kind kind, uint64_t request,
                           uint32_t segment, uint32_t node_id, uint32_t step);
/* The same at 'at_ns', without waiting: for the oracle's own. */
void world__check_violation_at(world_state *world, world_violation_kind kind, uint64_t at_ns,
                               uint64_t request, uint32_t segment, uint32_t node_id,
                               uint32_t step);

/* world_oracle.c: the judgements of completed requests, on the worker
 * pool (observer->threads). build after the verifier (it copies the final
 * agreement rule); destroy waits for the jobs still running. */
int world__oracle_build(world_state *world);
/* The pool the oracle's jobs run on (world_forward.c's and the committee
 * draws' too). */
struct util_workers *world__oracle_workers(const world_state *world);
/* The pool the committee draws run on: the oracle's, or NULL before it is
 * built (a draw then runs inline). */
struct util_workers *world__draw_workers(const world_state *world);
/* A LOGITS observation under a handed-over call: its logits go to the
 * request's oracle block (block + 1) at 'step' when the call is taken,
 * unless a later observation of that step (a failover's replay) wrote it
 * meanwhile: the last observation wins, as inline. */
void world__forward_observe_logits(world_state *world, uint32_t ticket, uint64_t request,
                                  uint32_t block, uint32_t step);
/* Who wrote each step of oracle block 'block' (+ 1) last: 0 an inline
 * observation, else a handed-over call's ticket (world_serve.c). */
uint16_t *world__oracle_writers(const world_state *world, uint32_t block);
void world__oracle_destroy(world_state *world);
/* Judges a completed request (its network logits in its oracle block,
 * which the caller may release on return). Cannot fail. */
void world__oracle_submit(world_state *world, uint64_t request, const node_outcome *outcome);
/* The client accepted 'segment''s output, node 'member''s, from its
 * committee of 'round' at the request's current step
 * (node_verifier.accepted): under privacy noise the oracle keeps the round,
 * whose stream noised the next boundary; with more than one kernel in use,
 * the member's kernel, to replay the pipeline the client followed. */
void world__oracle_accepted(world_state *world, uint64_t request, uint32_t segment,
                            uint32_t round, uint32_t member);
/* For tests: one judgement of 'tokens' (prompt_tokens of them, then the
 * generated ones) outside the run, every run it holds copied to runs_out
 * (WORLD_ORACLE_RUNS x generate x vocab floats; *have_out bit i: run i
 * is there), through the oracle's cache when 'use_cache'. 0 or
 * WORLD_ENOMEM. */
#define WORLD_ORACLE_RUNS (1u + 2u * INFER_KERNEL_COUNT)
int world__oracle_probe(world_state *world, const uint32_t *tokens, uint32_t prompt_tokens,
                        bool use_cache, float *runs_out, uint32_t *have_out);
/* For tests: the world a host drives. */
world_state *world__host_state(world_host *host);
/* world_referee.c: the node_verifier's 'accepted' and 'referee' (node.h
 * says what they do), and the storage of accepted inputs (0 or
 * WORLD_ENOMEM). */
void world__referee_accepted(void *context, uint64_t request, uint32_t segment, uint32_t round,
                             uint32_t member, const float *output, size_t n_floats);
uint64_t world__referee(void *context, bool last_segment, uint64_t request, uint32_t segment,
                        const float *const *outputs, const uint32_t *members, size_t n_floats,
                        uint32_t count);
int world__referee_build(world_state *world);

/* ---- selection by VRF (world_vrf.c) ---- */

/* With verification.selection: vrf, the nodes' VRF keys and caches, and
 * the verifier's claim and claim_check; nothing otherwise. 0 or
 * WORLD_ENOMEM. destroy frees what build made (safe after a failed build). */
int world__vrf_build(world_state *world);
void world__vrf_destroy(world_state *world);
/* One draw's VRF tickets: the epoch of its request and the epoch's input,
 * its (beacon, segment), and the slice_min a race should use (small when
 * some candidate's output of the epoch is still due; begin scans the
 * segment's candidates for it only when 'race'). */
typedef struct world_vrf_draw {
    uint64_t epoch;
    uint8_t alpha[CONS_BEACON_BYTES];
    uint8_t beacon[CONS_BEACON_BYTES];
    uint32_t segment;
    size_t slice_min;
} world_vrf_draw;
void world__vrf_draw_begin(world_state *world, uint64_t request, uint32_t segment,
                           const uint8_t beacon[CONS_BEACON_BYTES], bool race,
                           world_vrf_draw *out);
/* The tickets candidates [first, last) (of the draw's segment) claim,
 * into vrf_uniforms at the same positions, each node's proof evaluated
 * once per epoch. Writes those positions and those nodes' slots alone:
 * slices of one draw may run on several threads at once. */
void world__vrf_tickets(world_state *world, const world_vrf_draw *draw, uint32_t first,
                        uint32_t last);
/* The hits the candidate at 'position' (of the draw's segment) needs to be
 * seated by a thinned tree walk: from the ticket it claims, at
 * verification.vrf_accept (a forger claims the best: 1 hit). */
uint32_t world__vrf_hits(world_state *world, const world_vrf_draw *draw, uint32_t position);
/* Whether world__vrf_hits of node 'node_id' would evaluate nothing (its
 * output of the draw's epoch is in, or it is a forger); and the outputs
 * of 'count' (<= WORLD_VRF_BATCH_MAX) distinct nodes evaluated on the
 * draw pool's threads at once (inline without a pool). */
#define WORLD_VRF_BATCH_MAX 16u
bool world__vrf_ready(world_state *world, const world_vrf_draw *draw, uint32_t node_id);
void world__vrf_outputs(world_state *world, const world_vrf_draw *draw, const uint32_t *nodes,
                        uint32_t count);
/* After a draw of 'count' members: on several threads, each member's proof
 * of the epoch and a check of it (as a client's) are made on the draw
 * pool while the run goes on; the first use of a node's VRF state waits
 * for its job. Outputs, proofs and checks are pure, so every table is the
 * same at every thread count. One thread: nothing (made when used). */
#define WORLD_VRF_SEATS 128u
void world__vrf_seated(world_state *world, const world_vrf_draw *draw, const uint32_t *members,
                       uint32_t count);
void world__vrf_claim(void *context, uint32_t member, uint64_t request, uint32_t segment,
                      uint32_t round, uint8_t proof_out[NODE_CLAIM_MAX]);
bool world__vrf_claim_check(void *context, uint32_t member, uint64_t request, uint32_t segment,
                            uint32_t round, const uint8_t proof[NODE_CLAIM_MAX]);

/* world_adversary.c: the node_verifier's 'cheat' and 'corrupt'. */
bool world__adversary_cheat(void *context, uint32_t member, uint64_t request, uint32_t segment);
bool world__adversary_corrupt(void *context, uint32_t member);
/* A cartel by messages or with a target (faults' coordination and
 * target_token), equivocators that show their peers (second_to): the
 * per-node tables, the members' records and the wait, wired into the
 * serving context and the store; nothing without one.
 * WORLD_ENOMEM, or 0. */
int world__adversary_build(world_state *world);
void world__adversary_destroy(world_state *world);
/* Whether 'token' is the target_token of one of the scenario's cartels. */
bool world__adversary_targets(const world_state *world, uint32_t token);

#endif
