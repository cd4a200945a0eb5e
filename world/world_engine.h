/* world_engine.h -- the world as an engine drives it. The simulator's
 * engine (sim/) embeds a world_state, builds it with world_build, hands its
 * nodes events itself, and calls the world to record what they report and
 * to act for the scenario (fault targets, behaviour faults, samples, the
 * workload's draws, the liveness check at the end). A driver without an
 * engine uses world_host (world.h) instead. The struct is the engine's to
 * read; only world/ writes it, except the fields an engine fills before
 * world_build (scenario, observer, node_count, inference, verifying). */
#ifndef WORLD_WORLD_ENGINE_H
#define WORLD_WORLD_ENGINE_H

#include "consensus/cons.h"
#include "util/hash.h"
#include "world/world.h"

/* The prompts of workload.prompts as token ids: prompt i is
 * ids[offset[i] .. offset[i + 1]). count 0: none (random prompts). */
typedef struct world_prompts {
    uint32_t count;
    uint32_t *offset;                /* count + 1 */
    uint32_t *ids;
} world_prompts;

typedef struct world_oracle world_oracle;   /* world_oracle.c */
typedef struct world_forward world_forward; /* world_forward.c */
/* The ledger's validators and what the recorder knows of the chain
 * (world_ledger.c). */
typedef struct world_ledger_state {
    uint8_t *memory;                 /* the replicas, replica_size bytes each */
    size_t replica_size;
    cons_bft_replica **replicas;
    cons_bft_replica **twins;        /* a Twins validator's second instance, else NULL */
    uint8_t *twin_of;                /* node_count entries: 1 for a Twins validator */
    uint64_t (*timer_token)[4];
    uint64_t (*timer_at_ns)[4];
    uint8_t (*ids)[CONS_BFT_ID_BYTES]; /* per height - 1: the block id applied */
    uint64_t height_capacity;
    uint64_t applied_height;
    uint64_t *settled;               /* bit per decision slot: applied */
    uint64_t decision_slots;
    uint64_t *refused;               /* bit per decision slot: a penalty refused */
    /* Hosted (the testbed): per height - 1, the block's transactions as
     * world_host_block_txs serves them, for the driver to share. */
    uint8_t **payloads;
    size_t *payload_sizes;
    /* Evidence (ledger.evidence): every node's ed25519 pair and the
     * referee's, derived from the run seed; a scratch for re-encoding an
     * output the referee rules on. */
    uint8_t (*evidence_public)[32];
    uint8_t (*evidence_secret)[64];
    uint8_t referee_public[32];
    uint8_t referee_secret[64];
    uint8_t *wire;
    uint8_t *votes;                  /* NODE_COMMITTEE_MAX x NODE_VOTE_MAX: one opening */
    /* The validators' verified signatures, shared: a certificate or a
     * member's signed commitment every validator checks is verified once. */
    util_sign_memo *verified;
} world_ledger_state;

/* Churn (world_churn.c): who is online, and what placement and routing
 * know of it. list holds the id of every member (a node churn.nodes
 * names), partitioned: online ones in
 * [0, online), leaving ones (graceful, draining) in [online, online +
 * leaving), offline ones after; position_of is the inverse. */
typedef struct world_churn_state {
    bool on;                         /* the scenario has a churn section */
    bool adapts;                     /* placement and routes follow (serving, no verifier) */
    uint8_t *state_of;               /* per node: world_churn_node_state */
    uint32_t *list;                  /* the members (churn.nodes) only */
    uint32_t *position_of;
    uint32_t members;
    uint32_t online;
    uint32_t leaving;
    uint64_t *serves_of;             /* per node: bit s = it serves segment s */
    uint64_t *since_of;              /* the serving context's route_since_of */
    uint64_t *until_of;              /* the serving context's route_until_of */
    uint32_t *owner_of;              /* the store's owner_of: per (request, segment, slot) */
    uint32_t attempts;               /* slots per (request, segment): route attempts */
    uint32_t server_capacity;        /* entries world->servers holds */
    uint32_t live[NODE_SEGMENTS_MAX]; /* online servers per segment */
    util_prng joins;                 /* stream (seed, 0, CHURN) */
    util_prng leaves;                /* stream (seed, 1, CHURN) */
} world_churn_state;

/* One node's VRF state for one epoch (world_vrf.c): its output beta and
 * the H it began from (cons_vrf_output_h), its proof, and whether a client
 * found that proof valid, each valid when its
 * tag is the epoch + 1 (0 = none). A node has two, for even and odd
 * epochs: requests of one epoch are still being checked when the next
 * epoch's draws begin, and one slot would have them evaluate, prove and
 * verify again in turn. The output's tag is kept apart, in
 * world_state.vrf_evaluated: a draw's walk asks it of every node it meets,
 * and 16 bytes a node stay in cache where its two slots, 448, do not. */
typedef struct world_vrf_slot {
    uint64_t proven;                 /* epoch + 1 of proof */
    uint64_t checked;                /* epoch + 1 of the proof found valid */
    uint8_t beta[64];
    uint8_t h[32];                   /* ECVRF's H for the epoch, with beta */
    uint8_t gamma[32];               /* and its Gamma, which the proof begins with */
    uint8_t proof[80];
} world_vrf_slot;

typedef struct world_state {
    const scn_scenario *scenario;
    const world_observer *observer;
    world_result *result;
    uint32_t node_count;
    uint64_t now_ns;
    node *nodes;
    uint64_t *seen_bits;             /* node_count * seen_words */
    uint64_t *origin_ns;             /* shared: a rumor's publish time is one fact */
    uint32_t *origin_of;             /* per rumor: the publishing node */
    uint8_t (*keys)[UTIL_MAC_KEY_BYTES];
    uint8_t *scratch;                /* node_count bytes for selectors */
    uint8_t *groups;                 /* node_count group ids for partitions */
    uint64_t next_rumor;             /* next rumor id: dense, published ones only */
    node_outbox outbox;
    /* Split inference (world_serve.c); unused without a model. */
    bool inference;
    infer_model *model;
    node_serving serving;
    node_store store;                /* what the nodes own (node.h) */
    infer_executor *oracle_executor;
    /* The curious servers' attack (world/world_attack.c); NULL when off. */
    struct world_attack_state *attack;
    uint32_t *servers;
    uint32_t *server_offsets;
    double *flops_of;
    uint64_t *overhead_of;
    double *bandwidth_of;            /* memory bandwidth, bytes/s (0 = FLOPs alone) */
    uint16_t *max_batch_of;          /* continuous batching; NULL when no class batches */
    uint64_t *busy_until;
    uint16_t *kv_in_use;
    node_request *requests;
    uint32_t *tokens;
    uint32_t *kv_block_of;
    uint32_t *prompt;                /* the prompt being submitted: prompt_max entries */
    world_prompts prompts;           /* workload.prompts encoded (world_text.c) */
    uint32_t *oracle_block_of;       /* per request: block + 1 of the network's logits */
    uint32_t *oracle_steps_of;       /* per request: steps whose logits this world saw */
    util_pool oracle_pool;
    world_oracle *oracle;            /* the judgements, their jobs and cache */
    world_forward *forward;          /* servers' calls on the pool; NULL: inline */
    float *oracle_x;                 /* the referee's re-execution (world__serve_replay) */
    float *oracle_variant;           /* its logits: vocab */
    void *oracle_kv;
    /* Committee verification (world_verify.c). */
    bool verifying;
    bool signing;                    /* verification.crypto: ed25519 */
    cons_agreement agreement;        /* the scenario's rules, converted once */
    cons_agreement final_agreement;
    cons_ledger ledger;              /* over result's reputation, stake, balance */
    world_ledger_state ledger_bft;   /* the validators (ledger section) */
    /* The verdicts of the decisions of the node call being handled, in
     * judged order: the ledger's values before each (verify_judged), for
     * the DECISION observations that follow (world__verify_record_decision). */
    struct world_judgement {
        uint32_t node_id;
        double reputation;
        double stake;
    } judgements[NODE_DECISIONS_PER_CALL * CONS_COMMITTEE_MAX];
    uint32_t judgement_count;
    uint32_t judgement_used;
    uint8_t (*public_keys)[32];
    uint8_t (*secret_keys)[64];
    node_verifier verifier;
    uint8_t (*identities)[32];       /* public per-node value sortition hashes */
    uint8_t *behaviour_now;          /* node_behaviour per node, as the faults set it */
    uint64_t *byzantine_end_ns;      /* per node: 1 + when its last spell of another
                                      * behaviour than honest ended; 0: none ended */
    uint32_t adaptive_budget;        /* corruptions the adaptive adversary has left */
    infer_model *substitute;         /* other weights, for wrong_output mode model */
    double *behaviour_scale;
    uint32_t *committee_cache;       /* [((request * S + s) * rounds + round) * k]: members */
    uint8_t *committee_cache_round;  /* [(request * S + s) * rounds + round]: 1 = drawn */
    uint32_t *committee_cache_count;
    node_committee_state *committees;
    uint32_t *reveal_block_of;
    float *decoded;
    uint32_t *suspects;              /* node_store.suspects (suspect_after; else NULL) */
    /* The engine's network, to tell a crashed suspect from a live one
     * (false_suspicions); NULL under a driver that cannot know (testbed). */
    const struct net *crash_view;
    void *candidates;                /* cons_candidate per eligible server, by segment */
    uint32_t *candidate_offsets;     /* segment s: candidates[offsets[s] .. offsets[s + 1]) */
    struct world_trees *trees;       /* verification.draw: tree (world_tree.c), else NULL */
    struct world_held *held;         /* the draws' weights (world_held.c), else NULL */
    struct world_capture_memo {      /* per segment: the last closed form computed */
        uint32_t malicious, draw;    /* its inputs (the pool is the segment's) */
        double probability;          /* valid once draw != 0 */
        uint64_t counted;            /* behaviour_changes + 1 when 'malicious' was counted */
    } capture_memo[NODE_SEGMENTS_MAX];
    /* + 1 whenever a node turns from honest to not or back (the faults of
     * world_adversary.c, the testbed's admin): the pools' Byzantine counts
     * are counted again only then, so a draw stays O(k) (verify_capture_note). */
    uint64_t behaviour_changes;
    /* selection vrf (world_vrf.c): every node's VRF key (its ed25519 key,
     * derived on first use), two epoch slots per node (world_vrf_slot, at
     * 2 * node + epoch % 2) and the candidates' tickets of the draw being
     * made. */
    uint8_t (*vrf_public)[32];
    uint8_t (*vrf_secret)[64];
    world_vrf_slot *vrf_slots;
    uint64_t *vrf_evaluated;         /* per slot: epoch + 1 of its beta (0 = none) */
    double *vrf_uniforms;
    /* On several threads, a seated member's proof and its check are made
     * on the draw pool while the run goes on (world__vrf_seated): per node
     * the ring index + 1 of its job not yet waited for (0 = none), and
     * the ring of WORLD_VRF_SEATS jobs, reused in turn. */
    uint8_t *vrf_seat_of;
    struct world_vrf_seat *vrf_seats;
    uint32_t vrf_seat_next;
    uint8_t *replay_wire;            /* the referee's re-execution: one wire encoding */
    util_pool inputs_pool;           /* per request in flight: the inputs it accepted */
    uint32_t *inputs_block_of;       /* per request: block + 1 (protocols with a referee) */
    double *gain_of;                 /* per node: a rational adversary's gain (0 = none) */
    /* A cartel by messages or with a target (NULL without): per node, its
     * collude fault's coordination (1 = messages) and target token; per
     * member slot, the colluding member's record (node_store.cartel_slots). */
    uint8_t *cartel_messages_of;
    uint32_t *cartel_target_of;
    node_cartel_slot *cartel_slots;
    uint8_t *equivocate_peers_of;    /* per node: second_to peers (NULL without) */
    uint8_t vendor_public[32];       /* tee: the simulated vendor's attestation key */
    uint8_t vendor_secret[64];
    uint8_t model_hash[2][32];       /* tee: [0] the scenario's model, [1] another */
    uint64_t *served_bits;           /* node_count bits: the node made a forward call */
    uint64_t sampled_tokens;         /* tokens_out at the previous sample */
    uint64_t sampled_flops;
    /* verification.draw_epoch (world_settle.c): each workload request's
     * verdicts in the order its client applied them, and a second ledger
     * that replays them in request order, epoch by epoch, for the draws. */
    struct world_settle_log {
        world_settle_entry *entries;
        uint32_t count;
        uint32_t capacity;
    } *settle_logs;                  /* workload.requests entries, NULL when off */
    uint64_t settle_requests;        /* workload.requests */
    cons_ledger settled;             /* over the three arrays below */
    double *settled_reputation;
    double *settled_stake;
    double *settled_balance;
    uint64_t settled_through;        /* requests 0 .. settled_through - 1 are applied */
    uint64_t settled_generation;     /* + 1 whenever the settled state changes */
    uint64_t settle_finished;        /* requests 0 .. settle_finished - 1 are known finished */
    world_settle_fetch settle_fetch; /* another process's logs (testbed), or NULL */
    void *settle_context;
    /* A hosted world's draws under a ledger (world_chain.c): the chain
     * source, a ledger that applies its blocks in height order over the
     * three arrays below, and the reputation and stake after each height
     * (snapshot h: 2 x node_count doubles, h = 0 the initial state). */
    struct world_chain_view {
        world_chain_block_fn block;
        world_chain_height_fn height;
        void *context;
        cons_ledger ledger;
        double *reputation;
        double *stake;
        double *balance;
        uint64_t *applied_slots;     /* bit per decision slot: applied */
        double *snapshots;
        uint64_t snapshot_capacity;  /* heights the snapshots can hold, 0 .. capacity - 1 */
        uint64_t applied;            /* heights 1 .. applied are applied and snapshotted */
        bool applying;               /* inside a block's application */
    } chain;
    world_churn_state churn;         /* churn section (world_churn.c) */
    /* Hosted by a driver (world_host): no engine, no simulated network. */
    bool hosted;
    uint64_t extra_requests;         /* request ids beyond the workload's */
    /* Interval counters for the timeseries. */
    uint64_t interval_sent;
    uint64_t interval_deliveries;
} world_state;

/* Builds the world whose scenario, observer, node_count, inference and
 * verifying fields the engine set: placement, the serving context and
 * store, the verifier and its ledger, the nodes and their keys. 0 or a
 * WORLD_E* code; on failure world_destroy still frees what was built. */
int world_build(world_state *world);
/* Frees everything but the result (the caller's: world_result_destroy). */
void world_destroy(world_state *world);

/* A submitted request gets its oracle block (the network's logits as this
 * world sees them). 0, or WORLD_ENOMEM when the requests in flight exceed
 * the pool's bound. */
int world_oracle_take(world_state *world, uint64_t request);
/* Applies every judgement the oracle still has in flight (they are
 * applied in completion order, on the way, before any other violation is
 * recorded): call it before reading the result's oracle fields. Cannot
 * fail. */
void world_oracle_flush(world_state *world);
/* Runs the curious servers' attacks still queued or in flight and writes
 * their tokens to the result's attack records: call it before reading
 * them (a record's task is handed to the pool once every step it can see
 * has come, the rest here). Cannot fail. */
void world_attack_flush(world_state *world);
/* verification.draw_epoch: whether request 'request' may be submitted,
 * i.e. every request before its epoch has finished (always true when the
 * key is off). The simulator holds a request back until it is. */
bool world_settle_gate_open(world_state *world, uint64_t request);
/* Servers' forward calls on the oracle's worker pool (world_forward.c;
 * node.h's node_forward_hook), for an engine that keeps the rules below.
 * world_forward_build hands calls over when the run allows it (more than
 * one thread; inference), else leaves every call inline;
 * 0 or WORLD_ENOMEM. A SEND effect with a forward_ticket carries no
 * payload yet: the engine calls world_forward_hold for each message that
 * carries it (all of one outbox's before it sends any), and before the
 * message leaves (its first copy arrives or is
 * dropped) world_forward_take waits for the call, copies its payload
 * (payload_bytes, as the message says) into 'payload' and returns the
 * token (the last segment's); the ticket is spent when every message that
 * carries it was taken. Before a node handles any event,
 * world_forward_settle waits for its calls.
 * world_forward_destroy waits for what runs, counts the calls handed over
 * (result->forward_pooled) and frees it all; world_destroy calls it. */
int world_forward_build(world_state *world);
void world_forward_destroy(world_state *world);
void world_forward_settle(world_state *world, uint32_t node_id);
void world_forward_hold(world_state *world, uint32_t ticket);
uint32_t world_forward_take(world_state *world, uint32_t ticket, uint8_t *payload,
                            uint32_t payload_bytes);
/* Records an OUTPUT or OBSERVE effect of 'node_id' in the result. */
void world_record_effect(world_state *world, uint32_t node_id, const node_effect *effect);
/* Counts an inference message's bytes per (request, segment): at its
 * arrival ('arrival') or when it is sent. */
void world_count_bytes(world_state *world, const node_message *message, uint64_t wire_bytes,
                       bool arrival);
/* Deliveries over those expected (1 when none were). */
double world_delivery_ratio(const world_result *result);

/* The nodes a fault's selector names, marked in selected[node_count];
 * returns how many. Deterministic in (seed, fault index). */
uint32_t world_select(world_state *world, const scn_selector *selector, uint32_t fault_index,
                      uint8_t *selected);
/* A partition fault's groups, in world->groups; returns how many nodes are
 * in a group. */
uint32_t world_partition_groups(world_state *world, const scn_fault *fault, uint32_t fault_index);
/* A Byzantine behaviour fault starts (or ends) on the selected nodes. */
void world_adversary_fault(world_state *world, const scn_fault *fault, const uint8_t *selected,
                            bool ending);

/* Churn (world_churn.c), for an engine with a network. Nodes are online,
 * leaving (graceful: refusing every hop until it goes) or offline.
 * world_churn_start marks in world->scratch the nodes offline at t = 0
 * (the engine takes them off its network) and returns how many. The next
 * join or leave after 'after_ns', drawn from its own stream: its time, or
 * UINT64_MAX when there is none (rate 0, or past churn.stop).
 * world_churn_join picks an offline node, gives it the segment with the
 * fewest live servers that fits its memory and opens it to requests
 * submitted from now on; world_churn_leave picks an online node and
 * closes it (to every request, or, when *leaving_out, to requests
 * submitted from now on while it drains); world_churn_gone ends a drain.
 * Each records a churn row and returns the node, or UINT32_MAX when no
 * node can join (leave). Cannot fail: storage is sized at world_build,
 * but the rows grow (an allocation failure is the host's, and stops the
 * run by assertion as the event loop's growth does). */
uint32_t world_churn_start(world_state *world);
uint64_t world_churn_next_ns(world_state *world, bool join, uint64_t after_ns);
uint32_t world_churn_join(world_state *world);
uint32_t world_churn_leave(world_state *world, bool *leaving_out);
void world_churn_gone(world_state *world, uint32_t node_id);

/* Timeseries samples of an inference run, and under verification the mean
 * reputation and balance of the nodes honest so far and of those given a
 * Byzantine behaviour so far (NaN: none), and every node's balance.
 * Observation only. */
void world_serve_sample(world_state *world);
void world_check_sample(world_state *world);
/* A client submitted 'request' (its record's client set): notes whether
 * the client is down, and its crashes so far, for the liveness oracle. */
void world_liveness_submitted(world_state *world, uint64_t request, bool client_down);
/* Judges every request against expect.converge_within (set) once the run
 * has ended. */
void world_liveness_check(world_state *world);

/* The workload's draws, one implementation for the simulator's arrivals
 * and the testbed's plan: arrival number 'index' after 'after_ns' and its
 * client (false when there is none), and one prompt into
 * tokens[prompt_max] (returns its length): one of 'prompts' when it holds
 * any (one draw picks which), else random ids. */
bool world_workload_arrival(const scn_scenario *scenario, util_prng *prng, uint64_t index,
                            uint64_t after_ns, uint64_t *at_out, uint32_t *client_out);
uint32_t world_workload_prompt(const scn_scenario *scenario, const world_prompts *prompts,
                               util_prng *prng, uint32_t *tokens);
/* True once the workload draws no more arrivals for a reason of the
 * world's: under workload.until all_served, every node has served. */
bool world_workload_ended(const world_state *world);

#endif
