/* world.h -- the simulated world without its engine: what both drivers
 * build and record. The world builder places nodes into classes and
 * regions, builds the serving context and the nodes' store, the committee
 * verifier and its ledger, and the nodes themselves; the recorder turns the
 * OUTPUT and OBSERVE effects nodes return into a world_result (the oracle
 * and the safety checkers included). It owns no clock and no network: the
 * simulator (sim/) drives it in simulated time, the testbed (testbed/)
 * through a world_host in real time over real sockets.
 *
 * world/ never writes files: results come back in world_result, and
 * streaming rows (faults applied, timeseries samples, progress) go to a
 * world_observer that the caller wires to metrics/ or to nothing. */
#ifndef WORLD_WORLD_H
#define WORLD_WORLD_H

#include <stdbool.h>
#include <stdint.h>

#include "node/node.h"
#include "scenarios/scn.h"
#include "util/hist.h"

/* Why a message in flight was lost (the drivers' networks count these). */
typedef enum world_drop {
    WORLD_DROP_NONE = 0,
    WORLD_DROP_LOSS,
    WORLD_DROP_PARTITION,
    WORLD_DROP_CRASHED,              /* sender or receiver down */
    WORLD_DROP_COUNT
} world_drop;

#define WORLD_ENOMEM -1
#define WORLD_EINVAL -2
#define WORLD_EMODEL -3        /* the model's weights could not be loaded */
#define WORLD_EPLACEMENT -4    /* a segment found no server with room for it */
#define WORLD_ECOMMITTEE -5    /* a segment has fewer servers than a committee needs */

typedef struct world_observer {
    void *context;
    /* A fault started or ended. Strings valid for the call. May be NULL. */
    void (*on_fault)(void *context, uint32_t fault_index, const char *kind, const char *action,
                     uint64_t t_ns, uint32_t nodes_affected, const char *detail);
    /* One timeseries sample. May be NULL. */
    void (*on_sample)(void *context, uint64_t t_ns, const char *name, double value);
    /* Called about every 65536 events. May be NULL. */
    void (*on_progress)(void *context, uint64_t sim_ns, uint64_t events);
    /* A wall clock, for profiling only (benchmarks): when set, the run
     * measures the wall time spent in the nodes' inference and in the
     * oracle. It never changes what the simulation does. May be NULL. */
    uint64_t (*clock_ns)(void *context);
    /* Threads that may run pure kernels (the oracle's re-executions): 0 or
     * 1, the caller's alone. Results never depend on it (ARCHITECTURE.md,
     * Determinism). */
    uint32_t threads;
    /* Every server's forward call runs inline on the nodes' thread, as in
     * the testbed: none on the pool and none copied from another member's
     * (world_forward.c). The reference the tests compare those with; it
     * never changes the results. */
    bool inline_compute;
} world_observer;

typedef struct world_node_stats {
    uint64_t messages_sent;
    uint64_t bytes_sent;
    uint64_t messages_received;
    uint64_t bytes_received;
    uint64_t rejected;
    uint64_t delivered;
    uint64_t crashes;
} world_node_stats;

typedef struct world_type_stats {
    uint64_t sent;
    uint64_t bytes_sent;
    uint64_t delivered;
    uint64_t bytes_delivered;
    uint64_t dropped[WORLD_DROP_COUNT];
    uint64_t duplicated;
    uint64_t reordered;
    uint64_t corrupted;
    uint64_t rejected;
} world_type_stats;

/* One inference request, as the run saw it and as the oracle judged it. */
typedef struct world_request_record {
    uint32_t client;
    uint32_t prompt_tokens;
    uint32_t tokens_out;
    uint32_t status;                 /* 0 = not finished, else NODE_REQUEST_* */
    bool submitted;
    bool compared;                   /* the oracle compared it with the reference */
    bool reference_match;            /* every generated token = the reference's */
    bool divergence_sampled;         /* its divergence by class was measured
                                      * (output.divergence_sample) */
    /* Its client's own failure, which the liveness oracle does not judge
     * (world_liveness.c): the client was down when it submitted, or went
     * down before the request finished. */
    bool client_failed;
    uint64_t client_crashes;         /* the client's crashes when it submitted */
    uint64_t submitted_ns;
    uint64_t first_token_ns;         /* 0 = none */
    uint64_t finished_ns;            /* 0 = never */
    double argmax_agree;
    double logits_maxabs;
    double logits_cosine;
    uint32_t rounds;                 /* committee rounds used (verification runs) */
    bool accepted_wrong;             /* an accepted output was outside the rule's tolerance */
    uint32_t releases;               /* noised activation releases (privacy) */
    uint32_t failovers;              /* replays on a fresh route (workload.failover) */
    /* Continuous batching: the request's compute calls, the sum of the
     * sizes of the batches they ran in, and the largest. */
    uint32_t batch_calls;
    uint64_t batch_size_sum;
    uint32_t batch_size_max;
    /* Ledger settlement: transactions the client sent, those a committed
     * block applied, and the commit time of the last (valid when every
     * one committed). */
    uint32_t ledger_txs_sent;
    uint32_t ledger_txs_committed;
    uint64_t settled_ns;
    /* A ledger section: the committed height whose state the request's
     * committees were drawn from (valid when ledger_drawn): the height
     * committed at its first draw in the simulator, the height agreed for
     * the request in the testbed (world_chain.c). */
    uint64_t ledger_height;
    bool ledger_drawn;
} world_request_record;

/* A block of the ledger as the first honest validator committed it. */
typedef struct world_block_record {
    uint64_t height;
    uint64_t view;
    uint32_t proposer;
    uint32_t committer;              /* the honest validator whose commit came first */
    uint64_t t_ns;                   /* commit time */
    uint32_t tx_count;
    uint32_t settled;                /* transactions applied to the ledger */
    uint64_t bytes;                  /* transaction bytes */
    bool forked;                     /* another honest validator committed another block */
    uint32_t penalties;              /* penalties (verdicts but AGREED) applied */
    uint32_t refused;                /* penalties refused without valid evidence */
} world_block_record;

/* An honest validator entered 'view' (reason CONS_BFT_BY_TC: its leader
 * failed). */
typedef struct world_view_change_record {
    uint32_t validator;
    uint64_t view;
    uint64_t t_ns;
    uint32_t reason;
} world_view_change_record;

/* A churn event (world/world_churn.c): 'node' joined (join) or left. */
typedef struct world_churn_record {
    uint64_t t_ns;
    uint32_t node;
    bool join;
    int32_t segment;                 /* the segment a joiner took, or the first one a
                                      * leaver served; -1: none */
} world_churn_record;

typedef enum world_violation_kind {
    WORLD_VIOLATION_ACCEPTED_WRONG = 0, /* an output outside the rule's tolerance was accepted */
    WORLD_VIOLATION_HONEST_PENALISED,   /* an honest member lost reputation */
    WORLD_VIOLATION_DOUBLE_FINALIZATION, /* a request was finalized a second time */
    WORLD_VIOLATION_LIVENESS,           /* a request after the last heal missed converge_within */
    WORLD_VIOLATION_LEDGER_FORK,        /* two honest validators committed different blocks
                                         * at one height ('step' = the height) */
    WORLD_VIOLATION_UNJUST_SLASH        /* a committed verdict penalised an honest node */
} world_violation_kind;

/* What a real network could not know and the simulator can: a safety or
 * fairness violation, with where and when it happened. */
typedef struct world_violation {
    world_violation_kind kind;
    uint64_t t_ns;
    uint64_t request;
    uint32_t segment;
    uint32_t node_id;                /* UINT32_MAX when not about one node */
    uint32_t step;
} world_violation;

/* One curious node's attack on one request (privacy): from the prompt's
 * activations it received at 'segment' (>= 1), it recovered 'recovered'
 * of the 'tokens' prompt tokens exactly; then, from the single row of each
 * generation step that followed, in order, 'steps' generated tokens of
 * which 'steps_recovered' exactly. */
typedef struct world_attack_record {
    uint64_t request;
    uint32_t node_id;
    uint32_t segment;
    uint32_t recovered;
    uint32_t tokens;
    uint32_t steps;                  /* generation steps attacked (1, 2, ... in order) */
    uint32_t steps_recovered;        /* of which the generated token was recovered exactly */
} world_attack_record;

/* One (request, segment): its server and what serving it cost. */
typedef struct world_segment_record {
    uint32_t node_id;
    uint32_t calls;
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t flops;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint32_t releases;               /* noised releases into this segment (privacy) */
} world_segment_record;

/* One node's execution of one (request, segment): every node that received
 * the hop's input or computed it (under a committee, each member; without
 * one, the single server). Rows of one (request, segment) are chained
 * through 'next' from world_result.execution_head. */
typedef struct world_execution_record {
    uint64_t request;                /* UINT64_MAX: forgotten (world_host_request_reset) */
    uint32_t segment;
    uint32_t node_id;
    uint32_t calls;                  /* forward calls it ran (0: received, never computed) */
    uint32_t next;                   /* index + 1 of the next row of the hop, 0 = none */
    uint64_t start_ns;               /* first compute started (0 with no calls) */
    uint64_t end_ns;                 /* last compute finished */
    uint64_t flops;
    uint64_t bytes_in;               /* the hop's inputs that reached it */
    uint64_t bytes_out;              /* what it sent about the hop: the next hop's input or
                                      * the token, its votes and reveals */
    bool leaked;                     /* a TEE node under a side_channel fault leaked this
                                      * hop's input (privacy) */
} world_execution_record;

/* Flags of a world_decision_record. */
#define WORLD_DECISION_COMMITTED 0x01u   /* sent a vote (commit-reveal) */
#define WORLD_DECISION_ANSWERED 0x02u    /* revealed, valid or not */
#define WORLD_DECISION_REVEALED 0x04u    /* revealed a valid output */
#define WORLD_DECISION_EQUIVOCATED 0x08u /* signed two different votes */
#define WORLD_DECISION_JUDGED 0x10u      /* got a verdict (then 'verdict') */
#define WORLD_DECISION_ACCEPTED 0x20u    /* its output is the one the client accepted */
#define WORLD_DECISION_SKIPPED 0x40u     /* suspected; a phase closed early without it */

/* One member of one verified decision: the client settled a step on an
 * output (action SETTLE) or gave the committee up (ROUND). */
typedef struct world_decision_record {
    uint64_t request;                /* UINT64_MAX: forgotten (world_host_request_reset) */
    uint64_t t_ns;                   /* when the client decided */
    uint32_t segment;
    uint32_t step;                   /* generation step, 0 = prefill */
    uint32_t round;                  /* committee round, 0 = the first */
    uint32_t member;                 /* index in the committee */
    uint32_t member_count;           /* the committee's size this round */
    uint32_t node_id;
    uint8_t action;                  /* CONS_ACTION_SETTLE or CONS_ACTION_ROUND */
    uint8_t dispute;                 /* CONS_DISPUTE_ stage the step reached */
    uint8_t verdict;                 /* cons_verdict when JUDGED */
    uint8_t flags;                   /* WORLD_DECISION_ */
    uint8_t behaviour;               /* node_behaviour the node had (ground truth) */
    double reputation_before;        /* the ledger's, around this decision's verdict */
    double reputation_after;
    double stake_before;
    double stake_after;              /* after the settlement (slashes, shares) */
} world_decision_record;

/* The whole model run with one kernel variant on a request's tokens,
 * against the reference kernel. */
typedef struct world_divergence_record {
    double logits_maxabs;
    double logits_cosine;
    double argmax_agree;
} world_divergence_record;

typedef struct world_result {
    uint64_t events;
    uint64_t sim_ns;                 /* simulated time reached */
    uint64_t trace_hash;
    bool interrupted;                /* the stop flag was raised */
    uint32_t node_count;
    world_node_stats *nodes;           /* node_count entries */
    uint16_t *class_of;              /* node_count entries: scenario class index */
    uint16_t *region_of;             /* node_count entries: scenario region index */
    world_type_stats types[NODE_MESSAGE_TYPE_COUNT];
    uint64_t rumors_published;
    uint64_t deliveries;             /* (rumor, non-origin node) first receipts */
    uint64_t deliveries_expected;    /* published * (node_count - 1) */
    uint64_t publish_failed;         /* origin was crashed at publish time */
    uint64_t duplicates;             /* rumors received again (suppressed) */
    uint64_t pull_served;            /* rumors sent in answer to pulls */
    uint64_t peak_in_flight;         /* messages in the network at once */
    /* The simulator's memory for what is in flight, for the bench (not
     * stored): payloads in flight at once (each shared by its copies), and
     * the bytes held at the end for copies (slots, their free list, queued
     * events) and for payloads (bodies and their buffers). */
    uint64_t peak_payloads_in_flight;
    uint64_t copy_storage_bytes;
    uint64_t payload_storage_bytes;
    uint32_t copy_record_bytes;      /* one copy: slot, free-list entry, event */
    uint32_t payload_record_bytes;   /* one payload's body and free-list entry */
    util_hist latency;               /* publish -> first receipt, ns */
    /* Split inference; request_count is 0 in a gossip run. */
    uint64_t request_count;
    world_request_record *requests;    /* request_count, of which the run wrote only
                                        * the first request_reach (zero pages after) */
    uint64_t request_reach;            /* 1 + the highest request id submitted (0: none);
                                        * end-of-run scans stop there */
    uint32_t segment_count;
    uint32_t segment_first[NODE_SEGMENTS_MAX];
    uint32_t segment_layers[NODE_SEGMENTS_MAX];
    world_segment_record *segments;    /* request_count * segment_count */
    world_divergence_record *divergence; /* request_count * INFER_KERNEL_COUNT */
    /* With a privacy section: each kernel variant's run with the section's
     * clipping and noise at every noised boundary (the oracle's own draws),
     * against the clean reference -- what the noise costs per class; NULL
     * without one. request_count * INFER_KERNEL_COUNT. */
    world_divergence_record *divergence_noised;
    /* With model.tokenizer: each finished request's tokens, the prompt then
     * the generated ones (prompt_tokens + tokens_out of its record), at
     * token_ids + request * token_stride; NULL without a tokenizer. */
    uint32_t *token_ids;
    uint32_t token_stride;
    world_execution_record *executions; /* growable: execution_count rows */
    uint64_t execution_count;
    uint64_t execution_capacity;
    uint32_t *execution_head;        /* request_count * segment_count: first row + 1 */
    bool kernel_used[INFER_KERNEL_COUNT];
    uint8_t *kernel_of;              /* node_count: the node's kernel variant */
    uint64_t requests_submitted;
    uint64_t requests_completed;
    uint64_t requests_finished;      /* completed, failed or timed out */
    uint32_t nodes_served;           /* nodes that made at least one forward call */
    uint64_t all_served_ns;          /* once nodes_served == node_count: when the last did */
    uint64_t tokens_out;
    uint64_t flops_total;
    uint64_t compute_calls;          /* forward calls charged to a server */
    uint64_t memory_bound_calls;     /* of which the roofline's memory side set the time */
    uint64_t failovers;              /* replays on a fresh route, all requests */
    bool failover;                   /* workload.failover: requests.failovers is written */
    bool batching;                   /* a class has max_batch > 1: the batch columns and
                                      * metrics are written */
    uint64_t batches;                /* compute calls as the servers ran them (a batch of
                                      * steps is one) */
    uint64_t batched_calls;          /* steps that shared their batch with another */
    uint32_t batch_size_max;         /* the largest batch */
    uint64_t activation_bytes;
    uint64_t busy_refusals;
    util_hist request_latency;       /* submitted -> finished, completed requests */
    /* Committee verification; verified is false without it. */
    bool verified;
    double *reputation;              /* node_count: final reputation */
    double *stake;                   /* node_count: final stake (after slashing) */
    double stake_slashed;            /* stake lost to proven deviations, in total */
    uint8_t *behaviour_of;           /* node_count: node_behaviour it last had, 0 = honest */
    world_violation *violations;
    uint64_t violation_count;
    uint64_t violation_capacity;
    world_decision_record *decisions; /* growable: one row per member per decision */
    uint64_t decision_count;
    uint64_t decision_capacity;
    uint64_t accepted_wrong;         /* requests that accepted a wrong output */
    uint64_t honest_penalised;       /* judgements that penalised an honest member */
    uint64_t honest_judged;          /* judgements of honest members */
    uint64_t no_quorum;              /* committee rounds that found no quorum */
    bool liveness_checked;           /* the scenario sets expect.converge_within */
    uint64_t liveness_violations;    /* requests that missed it (world/world_liveness.c) */
    /* Comparable across protocols (world/). */
    uint64_t native_flops;           /* one reference execution per completed request */
    uint64_t referee_flops;          /* the referee's re-executions in disputes */
    uint64_t disputes;
    uint64_t resamples;              /* fresh committees after a failure or timeout */
    uint64_t catch_ups;              /* NODE_OBS_CATCH_UP: hops that resent missed rows */
    /* Failure detection (verification.suspect_after; else all 0). */
    bool suspecting;                 /* suspect_after is on: the metrics below are rows */
    uint64_t suspicions;             /* NODE_OBS_SUSPECT: a client suspected a member */
    uint64_t false_suspicions;       /* of them, the suspect was neither crashed nor silent */
    uint64_t members_skipped;        /* decisions' members skipped as suspects */
    util_hist finality;              /* submitted -> final (+ challenge window), completed */
    double *balance;                 /* node_count: stake plus fees and slashed shares earned */
    double fees_paid;                /* by clients, to members whose output was accepted */
    double slashed_to_oracle;
    double slashed_burnt;
    uint64_t cheats_declined;        /* a rational adversary's hops it chose to run honestly */
    uint64_t cheats_taken;
    /* A cartel by messages (node/cartel.c): cartel_on when a collude fault
     * coordinates by messages, targeting when one names a target_token. */
    bool cartel_on;
    bool targeting;
    uint64_t cartel_messages;        /* CARTEL_AGREE sent */
    uint64_t cartel_bytes;           /* their wire bytes */
    uint64_t cartel_missed;          /* NODE_OBS_CARTEL_MISSED */
    uint64_t targeted_tokens_accepted;
    /* Draws against their closed form (world_verify.c): committees and
     * samples drawn, those a quorum of Byzantine members held, and the sum
     * over draws of the closed form's capture probability. */
    uint64_t capture_draws;
    uint64_t captured_draws;
    double capture_expected;
    /* The reputation rule's floor, and the consecutive penalties that take
     * the initial reputation to it (cons_reputation_rounds_to_fall). */
    double reputation_floor;
    double floor_penalties_predicted;
    bool vrf_selection;              /* verification.selection: vrf */
    uint64_t vrf_proofs_verified;    /* members' proofs checked by clients */
    uint64_t vrf_proofs_rejected;    /* of which failed (forged): votes refused */
    uint64_t wall_serving_ns;        /* profiling (observer clock): nodes handling inference */
    uint64_t wall_oracle_ns;         /* profiling: the event loop's time in the oracle
                                      * (judging, or waiting for its jobs) */
    uint64_t oracle_runs;            /* whole-model runs the oracle made */
    uint64_t oracle_cache_hits;      /* judgements that found runs in its cache */
    uint64_t forward_pooled;         /* servers' forward calls run on the worker pool
                                      * (world_forward.c); the rest ran inline */
    uint64_t forward_copied;         /* of which copied from another member's call of
                                      * the same lineage instead of computed */
    uint64_t committee_draws;        /* committees drawn (world_verify.c) */
    uint64_t committee_draws_pooled; /* of which in slices on the worker pool
                                      * (world_draw.c); the rest ran inline */
    util_hist first_token;           /* submitted -> first token */
    uint64_t finality_window_ns;     /* added to a completed request's latency for finality */
    /* Privacy (world/world_privacy.c). */
    bool privacy_on;                 /* the scenario has a privacy section */
    double privacy_sigma;            /* its noise multiplier */
    double privacy_delta;            /* the delta of every epsilon */
    uint8_t *tee_of;                 /* node_count: 1 when the node's class is a TEE */
    uint8_t *curious_of;             /* node_count: 1 for an honest-but-curious node */
    world_attack_record *attacks;    /* growable: one per (request, curious node) attacked */
    uint64_t attack_count;
    uint64_t attack_capacity;
    /* Who holds the model's weights (world/world_privacy.c): the segments
     * each node serves after placement, and the parameters of each piece
     * of the model. */
    uint64_t *segments_of;           /* node_count: bit s = the node serves segment s */
    uint64_t weights_layers[NODE_SEGMENTS_MAX]; /* parameters of a segment's layers */
    uint64_t weights_embedding;      /* the token embedding (the first segment's) */
    uint64_t weights_head;           /* the final norm, and the classifier unless shared */
    bool weights_shared;             /* the classifier is the embedding (the last segment
                                      * holds a copy of it) */
    /* Ledger (world/world_ledger.c); ledger_on is false without one. */
    bool ledger_on;
    bool ledger_settlement;          /* verification.settlement: ledger */
    world_block_record *blocks;      /* growable: one per committed height */
    uint64_t block_count;
    uint64_t block_capacity;
    world_view_change_record *view_changes;
    uint64_t view_change_count;
    uint64_t view_change_capacity;
    uint64_t ledger_forks;           /* heights two honest validators disagree on */
    uint64_t unjust_slashes;         /* committed verdicts against honest nodes */
    uint64_t ledger_sends_dropped;   /* BFT sends that did not fit a node call's outbox */
    uint64_t evidence_verified;      /* committed penalties applied with verified evidence */
    uint64_t evidence_rejected;      /* penalties refused without valid evidence, once per
                                      * decision (by validators or at commit) */
    uint64_t ledger_resends;         /* transactions clients sent again */
    bool ledger_gossip;              /* ledger.dissemination: gossip */
    uint64_t ledger_gossip_duplicates; /* gossiped copies of a seen transaction or vote */
    uint64_t ledger_pull_answers;    /* transactions sent to answer pulls */
    bool ledger_timeout_evidence;    /* ledger.timeout_evidence */
    uint64_t timeout_attestations;   /* attestations members signed that a peer missed a
                                      * commit deadline */
    uint64_t timeout_penalties;      /* committed TIMEOUT verdicts applied with a quorum
                                      * of attestations */
    util_hist ledger_finality;       /* transaction submitted -> its block committed */
    /* Churn (world/world_churn.c); churn_on is false without a churn section. */
    bool churn_on;
    world_churn_record *churn_events; /* growable: one per join or leave */
    uint64_t churn_event_count;
    uint64_t churn_event_capacity;
    uint64_t churn_joins;
    uint64_t churn_leaves;
    uint32_t segment_servers_min;    /* the fewest live servers any segment had */
} world_result;

/* Runs 'scenario' to its duration (or until *stop becomes non-zero; stop
 * may be NULL). On success returns 0 and *out (free with
 * world_result_destroy). Returns WORLD_ENOMEM when the world cannot be
 * allocated. */

void world_result_destroy(world_result *result);

/* The bytes of seen-sets a gossip run allocates and zeroes at its start:
 * nodes.count x ceil(workload.messages / 64) words, or 0 when one word a
 * node holds them (that word lives in the node's record). It grows with
 * nodes times rumors, so it is the table a large run runs out of memory
 * on: `infersim run` compares it with the machine's memory first. */
uint64_t world_seen_set_bytes(const scn_scenario *scenario);

/* Request 'request' was submitted: raises request_reach past it. */
void world_result_note_submitted(world_result *result, uint64_t request);

/* A run-level metric by name: every row of SCN_METRICS (scenarios/scn.h).
 * Durations in nanoseconds. The percentiles of per-request durations
 * (request_latency_*, first_token_p50, finality_*) are exact, nearest rank
 * over requests[]; the gossip latency_* come from the histogram 'latency'.
 * Returns 0, or WORLD_EINVAL for an unknown name. Cannot fail otherwise. */
int world_result_metric(const world_result *result, const char *name, double *value_out);

/* The value of 'metric' (< SCN_METRIC_COUNT); NaN when this kind of run does
 * not measure it. Cannot fail. */
double world_result_metric_value(const world_result *result, scn_metric metric);

/* ---- a committee draw on a worker pool (world_draw.c) ----------------
 * The draw of cons_committee_select (hash tickets under 'beacon') or of
 * cons_committee_select_uniforms ('uniforms' given), cut into slices run
 * as jobs of 'workers' when it has more than one thread and the draw at
 * least two slices of 'slice_min' candidates (0: the default, where a job
 * pays for itself). Each slice first calls 'prepare' (may be NULL) on its
 * own positions [first, last) -- it may write the candidates' weights and
 * the uniforms there, nothing another slice reads -- then keeps its best
 * k. The merged committee is the single-slice one for every thread count. */
struct util_workers;
typedef struct world_draw {
    const uint8_t *beacon;            /* hash tickets' beacon (unused with uniforms) */
    uint32_t segment;
    const double *uniforms;           /* VRF tickets indexed like candidates, or NULL */
    const cons_candidate *candidates;
    size_t count;
    uint32_t k;
    size_t slice_min;                 /* candidates per slice at least; 0: default */
    void (*prepare)(void *context, size_t first, size_t last);
    void *context;
} world_draw;

/* How many slices world_draw_select cuts 'draw' into on 'workers' (NULL:
 * one thread): 1 runs it inline. */
uint32_t world_draw_slices(const struct util_workers *workers, const world_draw *draw);
/* Draws the committee into members_out (room for k): the count written,
 * or CONS_EINVAL as cons_committee_select. 'workers' may be NULL. */
int world_draw_select(struct util_workers *workers, const world_draw *draw,
                      uint32_t *members_out);

/* ---- the world without the engine (the testbed's use) ----------------
 * The testbed drives the same nodes in real time over real sockets. It
 * builds the same world as sim_run -- placement, the serving context, the
 * committee verifier, keys, behaviours -- through a world_host, then hands
 * events to nodes itself and carries SEND and TIMER effects over TCP and
 * real timers. OUTPUT and OBSERVE effects are recorded in the host's
 * world_result exactly as the simulator records them (the oracle included).
 *
 * One difference from sim_run, because a process holds only its own share
 * of the nodes: committees are drawn from the reputations and stakes the
 * run started with (every process computes the same committee, while each
 * one's reputation ledger only sees its own clients' judgements). A node
 * learns a remote client's request only from the messages it receives, as
 * in the simulator. */

/* One arrival of the scenario's workload, as the simulator draws it. */
typedef struct world_plan_entry {
    uint64_t at_ns;                  /* since the run's start */
    uint32_t client;
    uint32_t prompt_tokens;
    uint32_t *tokens;                /* caller storage: workload.prompt_max entries */
} world_plan_entry;

/* The scenario's inference arrivals, drawn in the simulator's order from
 * the same stream: plan[0 .. *count_out). Returns 0, or WORLD_EINVAL when
 * 'capacity' entries are too few. Deterministic; cannot fail otherwise. */
int world_workload_plan(const scn_scenario *scenario, world_plan_entry *plan, uint64_t capacity,
                      uint64_t *count_out);

typedef struct world_host world_host;

/* Builds the world of an inference scenario with room for workload.requests
 * + 'extra_requests' request ids (the testbed's HTTP requests take ids from
 * workload.requests up). Nodes are initialised but not started. On success
 * *out is owned by the caller (world_host_destroy). Returns 0 or a SIM_E*
 * code (WORLD_EINVAL for a scenario without a model). */
int world_host_create(const scn_scenario *scenario, uint64_t extra_requests,
                    const world_observer *observer, world_host **out);
void world_host_destroy(world_host *host);

/* Hands 'event' to node 'node_id' at 'now_ns' (never earlier than a
 * previous call) and records its OUTPUT and OBSERVE effects. Returns the
 * node's outbox (valid until the next call on 'host'): the caller carries
 * out its SEND and TIMER effects. *rc_out is node_on_event's result. */
const node_outbox *world_host_event(world_host *host, uint32_t node_id, uint64_t now_ns,
                                  const node_event *event, int *rc_out);

/* Submits request 'request' (< the host's request capacity, not used
 * before) from 'client' with the given prompt ('count' tokens, each below
 * the vocabulary, count in [1, workload.prompt_max]). Returns the
 * client's outbox as world_host_event does, or NULL with WORLD_EINVAL for
 * arguments out of range (checked, not asserted: they come from HTTP). */
const node_outbox *world_host_submit(world_host *host, uint32_t client, uint64_t request,
                                   uint64_t now_ns, const uint32_t *tokens, uint32_t count,
                                   int *rc_out);

/* Makes request id 'request' unused again, so a driver that has made sure
 * no node still holds state for it (its END sent and every KV expiry
 * passed) can submit it anew: clears its request, its record, segment and
 * divergence rows, and returns its oracle block. Counters already summed
 * (requests_submitted, latency histograms) keep it. Returns 0, or
 * WORLD_EINVAL for an id out of range or a request still running. */
int world_host_request_reset(world_host *host, uint64_t request);

/* The result the host records into; owned by the host. */
world_result *world_host_result(world_host *host);
/* Applies what the world still computes off the event loop -- the
 * oracle's judgements, the curious servers' attacks still queued -- to
 * the result: call it once the nodes stop, before storing the result's
 * rows. Cannot fail. */
void world_host_finish(world_host *host);
/* The serving context (read-only use: requests, routes, committees). */
const node_serving *world_host_serving(const world_host *host);
uint64_t world_host_request_capacity(const world_host *host);

/* Marks in selected[node_count] the nodes fault 'fault_index' names, with
 * the simulator's selection; returns how many. For a partition, groups_out
 * (node_count entries, may be NULL) receives every node's group. */
uint32_t world_host_fault_nodes(world_host *host, uint32_t fault_index, uint8_t *selected,
                              uint8_t *groups_out);

/* Starts or ends a Byzantine behaviour fault (kinds wrong_output and
 * after) on its nodes, as the simulator does. Returns 0, or WORLD_EINVAL for
 * a fault of another kind (network faults are the driver's). */
int world_host_behaviour(world_host *host, uint32_t fault_index, bool ending);

/* Sets one node's behaviour directly (the testbed's admin endpoint);
 * 'scale' as a fault's. Returns 0 or WORLD_EINVAL for an unknown node, a
 * behaviour out of range, forge_attestation outside protocol tee,
 * forged_ticket without selection vrf, or a run
 * without verification. */
int world_host_set_behaviour(world_host *host, uint32_t node_id, node_behaviour behaviour,
                           double scale);

/* A hosted world derives no node's keys from the seed: the driver gives
 * each node it hosts its own secret (the testbed: from the node's key
 * file), from which the node's commitment salts are derived. 'secret' is
 * copied through a hash; size >= 16. Returns 0 or WORLD_EINVAL. */
int world_host_node_secret(world_host *host, uint32_t node_id, const uint8_t *secret, size_t size);

/* verification.draw_epoch: one entry of a request's settled verdicts, in
 * the order its client applied them: a member's verdict (node_id, value =
 * cons_verdict), or the settlement closing a decision (node_id =
 * UINT32_MAX, value = rows). */
typedef struct world_settle_entry {
    uint32_t node_id;
    uint32_t value;
} world_settle_entry;

/* Where a hosted world finds the settled verdicts of a request whose
 * client another process hosts: true with the entries when that request
 * has finished and published them, else false. */
typedef bool (*world_settle_fetch)(void *context, uint64_t request,
                                   const world_settle_entry **entries, uint32_t *count);

/* verification.draw_epoch: the source of other processes' settled
 * verdicts (the testbed's shared log). */
void world_host_settle_source(world_host *host, world_settle_fetch fetch, void *context);
/* Whether workload request 'request' may be submitted: every request
 * before its epoch has finished, here or in the source (true when the key
 * is off or the id is not a workload request). */
bool world_host_settle_ready(world_host *host, uint64_t request);
/* The settled verdicts of a workload request whose client this world
 * hosts, once it has finished (NULL otherwise), for the driver to publish.
 * Cannot fail. */
const world_settle_entry *world_host_settle_log(world_host *host, uint64_t request,
                                                uint32_t *count);
/* Entries one request's log can hold at most: every judged member and
 * the settlement of every decision a request can make. */
uint64_t world_host_settle_capacity(const world_host *host);

/* A ledger section: the id (32 bytes, cons_bft's block id) of the block
 * this world's recorder took at 'height' (from 1), or NULL when it has
 * recorded fewer heights (or runs no ledger). Cannot fail. */
const uint8_t *world_host_block_id(const world_host *host, uint64_t height);
/* Another process's validators committed a different block at recorded
 * height 'height': the row is marked forked and a ledger_fork counted, as
 * for two validators of this world (once per height). Returns 0, or
 * WORLD_EINVAL for a height not recorded. */
int world_host_block_forked(world_host *host, uint64_t height);

/* A ledger section in the testbed: the transactions of the block this
 * world's recorder took at 'height' (from 1), serialized as the chain
 * source serves them (each: its size, 4 bytes little-endian, then its
 * bytes), or NULL when it has recorded fewer heights. *size_out is the
 * byte count (0 for an empty block). Cannot fail. */
const uint8_t *world_host_block_txs(const world_host *host, uint64_t height, size_t *size_out);

/* Where a hosted world reads the committed chain its draws need (the
 * testbed's shared memory): 'block' gives the transactions of committed
 * height 'height' as world_host_block_txs serializes them, or false when
 * it is not published; 'height' gives the height agreed for 'request',
 * first setting it when 'claim' (this world hosts the request's client and
 * is drawing its first committee), false when none is set. */
typedef bool (*world_chain_block_fn)(void *context, uint64_t height, const uint8_t **bytes,
                                     size_t *size);
typedef bool (*world_chain_height_fn)(void *context, uint64_t request, bool claim,
                                      uint64_t *height_out);
/* With a source every committee of a request is drawn from the state
 * after blocks 1 .. h of the chain, h the request's agreed height, applied
 * by the simulator's ledger code (world_chain.c). Returns 0, or
 * WORLD_ENOMEM. */
int world_host_chain_source(world_host *host, world_chain_block_fn block,
                            world_chain_height_fn height, void *context);

/* The scenario name of a fault kind ("crash", "loss", ...). Cannot fail. */
/* Privacy of one request (world/world_privacy.c). The epsilon it spent:
 * every noised release (NODE_OBS_RELEASE) composed by consensus/'s
 * accountant at the scenario's delta; NaN without a privacy section, 0
 * when nothing was released. Cannot fail. */
double world_privacy_epsilon(const world_result *result, uint64_t request);
/* Whether a node other than the client received the request's prompt in
 * the clear: a member or server of segment 0 (its executions) outside a
 * TEE, or in one whose side channel leaked it. Cannot fail. */
bool world_privacy_exposed(const world_result *result, uint64_t request);
/* The epsilon of only the releases into the segments 'node_id' received
 * of 'request' (its own boundaries, composed); NaN without a privacy
 * section. Cannot fail. */
double world_privacy_epsilon_received(const world_result *result, uint64_t request,
                                      uint32_t node_id);
/* Parameters a holder of the segments in 'segments' (bit s: segment s)
 * has: their layers, the embedding with the first segment (or with the
 * last when the classifier is shared), the final norm and classifier with
 * the last; and the whole model's with segments = all. Cannot fail. */
uint64_t world_weights_params(const world_result *result, uint64_t segments);

const char *world_fault_kind_name(scn_fault_kind kind);

const char *world_strerror(int code);

#endif
