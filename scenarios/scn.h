/* scn.h -- scenarios: YAML in, a validated plain-C scenario struct out.
 * This is the only layer that sees libyaml. The drivers (sim/, testbed/)
 * consume scn_scenario and never parse text. Every bound a driver needs
 * (nodes, regions, classes, faults, messages) is known from the struct.
 *
 * Loading is all-or-nothing: on any error nothing is returned but an
 * scn_error naming file:line:col, and the caller writes nothing. */
#ifndef SCN_SCN_H
#define SCN_SCN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/cons.h"

#define SCN_NAME_MAX 64
#define SCN_REGIONS_MAX 16
#define SCN_CLASSES_MAX 16
#define SCN_FAULTS_MAX 256
#define SCN_EXPECT_MAX 32
#define SCN_SELECTOR_IDS_MAX 64
#define SCN_GROUPS_MAX 8
#define SCN_NODES_MAX 2000000u
#define SCN_MESSAGES_MAX 10000000u
#define SCN_PATH_MAX 512

/* Error codes (negative, libuv style). */
#define SCN_EPARSE -1    /* YAML syntax */
#define SCN_ESCHEMA -2   /* unknown key, wrong type, out of range */
#define SCN_EIO -3       /* cannot read the file */
#define SCN_ENOMEM -4
#define SCN_EUSAGE -5    /* malformed --set override */

typedef struct scn_error {
    char file[SCN_PATH_MAX];
    uint32_t line;           /* 1-based; 0 when not tied to a position */
    uint32_t column;         /* 1-based */
    char message[256];
} scn_error;

typedef enum scn_latency_kind {
    SCN_LATENCY_CONSTANT = 0,
    SCN_LATENCY_UNIFORM,
    SCN_LATENCY_NORMAL,
    SCN_LATENCY_LOGNORMAL
} scn_latency_kind;

/* The per-link latency model. A link's base latency is sampled once per
 * unordered node pair (stream LINK) and fixed for the run. */
typedef struct scn_latency {
    scn_latency_kind kind;
    uint64_t value_ns;       /* constant: the value; normal: mean; lognormal: median */
    uint64_t min_ns;         /* uniform: lower bound; also the floor for normal */
    uint64_t max_ns;         /* uniform: upper bound */
    uint64_t stddev_ns;      /* normal */
    double sigma;            /* lognormal shape (of the underlying normal) */
} scn_latency;

typedef struct scn_network {
    scn_latency latency;
    /* Base one-way latency between regions, added to the model's sample.
     * Indexed by region index in scn_nodes.regions; all zero when absent. */
    uint64_t region_latency_ns[SCN_REGIONS_MAX][SCN_REGIONS_MAX];
    bool has_region_matrix;
    uint64_t jitter_ns;           /* per message uniform extra in [0, jitter) */
    uint64_t bandwidth_bps;       /* default per-node uplink, bits per second */
    double loss;                  /* probability a message is dropped */
    double duplicate;             /* probability a message is delivered twice */
    double reorder;               /* probability a message skips link FIFO... */
    uint64_t reorder_delay_ns;    /* ...and is held this much longer (uniform 0..x) */
    double corrupt;               /* probability a bit is flipped in flight */
} scn_network;

typedef enum scn_kernel {
    SCN_KERNEL_SEQUENTIAL = 0,    /* values match infer_kernel in node/infer.h */
    SCN_KERNEL_BLOCKED,
    SCN_KERNEL_FMA,
    SCN_KERNEL_BF16,
    SCN_KERNEL_Q8
} scn_kernel;

typedef struct scn_class {
    char name[SCN_NAME_MAX];
    double fraction;
    uint64_t bandwidth_bps;       /* uplink; 0 = network.bandwidth */
    uint64_t memory_bytes;        /* for model weights and KV caches; default 16GiB */
    double flops_per_s;           /* compute speed; default 10 TFLOPS */
    scn_kernel kernel;            /* kernel variant; default sequential */
    uint64_t overhead_ns;         /* fixed cost per compute call; default 100us */
    uint64_t memory_bandwidth_bytes_per_s; /* roofline: weights, KV cache and activations
                                            * read per call; 0 = unbounded (FLOPs only) */
    bool tee;                     /* has a trusted execution environment (protocol tee) */
    uint32_t max_batch;           /* continuous batching: decode steps run together;
                                   * 1 (the default) = one call at a time */
} scn_class;

/* Largest nodes.classes[].max_batch (a batch's effects fit one outbox). */
#define SCN_MAX_BATCH_MAX 64

typedef struct scn_region {
    char name[SCN_NAME_MAX];
    double fraction;
} scn_region;

typedef struct scn_nodes {
    uint32_t count;
    uint32_t class_count;         /* >= 1 (a default class "default" if none given) */
    scn_class classes[SCN_CLASSES_MAX];
    uint32_t region_count;        /* >= 1 (a default region "default" if none given) */
    scn_region regions[SCN_REGIONS_MAX];
} scn_nodes;

typedef enum scn_gossip_mode { SCN_GOSSIP_PUSH = 0, SCN_GOSSIP_PUSHPULL } scn_gossip_mode;

typedef struct scn_gossip {
    scn_gossip_mode mode;
    uint32_t fanout;              /* peers a node forwards a new rumor to */
    uint64_t pull_interval_ns;    /* push-pull: anti-entropy period per node */
    uint32_t pull_max;            /* push-pull: rumors returned per pull at most */
} scn_gossip;

typedef enum scn_arrival {
    SCN_ARRIVAL_POISSON = 0,
    SCN_ARRIVAL_CONSTANT,
    SCN_ARRIVAL_EXPLICIT          /* workload.times (inference only) */
} scn_arrival;

/* How a client picks each segment's server (workload.routing). */
typedef enum scn_routing {
    SCN_ROUTING_HASH = 0,         /* a hash of (request, segment): the default */
    SCN_ROUTING_LATENCY           /* greedy by expected latency, among routing_choices best */
} scn_routing;

/* When the inference workload stops drawing arrivals (workload.until),
 * besides workload.requests and the run's duration. */
typedef enum scn_until {
    SCN_UNTIL_REQUESTS = 0,       /* every request of workload.requests: the default */
    SCN_UNTIL_ALL_SERVED          /* also once every node has made a forward call */
} scn_until;

typedef enum scn_workload_kind {
    SCN_WORKLOAD_GOSSIP = 0,      /* rumors disseminated by gossip */
    SCN_WORKLOAD_INFERENCE        /* inference requests served by model segments */
} scn_workload_kind;

#define SCN_TIMES_MAX 1024
#define SCN_PROMPTS_MAX 256
#define SCN_PROMPT_TEXT_MAX 16384

typedef struct scn_workload {
    scn_workload_kind kind;       /* default: inference when a model is given */
    uint32_t messages;            /* gossip: rumors published over the run */
    double rate_per_s;            /* mean arrivals per simulated second */
    scn_arrival arrival;
    uint64_t start_ns;            /* first arrival not before this */
    uint32_t size_bytes;          /* gossip: payload size of one rumor */
    uint32_t requests;            /* inference: requests over the run (default 100) */
    uint32_t time_count;          /* explicit arrivals: times_ns[time_count], sorted */
    uint64_t times_ns[SCN_TIMES_MAX];
    uint32_t prompt_min;          /* prompt length, uniform in [min, max] tokens */
    uint32_t prompt_max;
    uint32_t generate_tokens;     /* tokens to generate per request (>= 1) */
    uint64_t request_timeout_ns;  /* a request not finished by then fails; default 30s */
    bool failover;                /* a step past step_timeout is replayed on a fresh route */
    uint64_t step_timeout_ns;     /* failover: the client's deadline per step; default 500ms */
    scn_routing routing;          /* default hash */
    uint32_t routing_choices;     /* latency routing: the k best a hash picks among; default 3 */
    scn_until until;              /* default requests */
    /* Text prompts (workload.prompts, needs model.tokenizer): prompt i is
     * the NUL-terminated prompt_text + prompt_offset[i]. With prompts,
     * prompt_min/max bound their token counts (bytes + 2). */
    uint32_t prompt_count;        /* 0: prompts are random ids, as before */
    uint32_t prompt_offset[SCN_PROMPTS_MAX];
    char prompt_text[SCN_PROMPT_TEXT_MAX];
    char prompts_file_written[SCN_PATH_MAX]; /* the file as written; "" for a list */
    char prompts_sha256[65];      /* SHA-256 of the prompts file ("" for a list) */
} scn_workload;

/* Prompt 'index' of workload.prompts, or NULL beyond prompt_count. */
const char *scn_workload_prompt(const scn_workload *workload, uint32_t index);

#define SCN_SEGMENTS_MAX 64

typedef enum scn_model_source {
    SCN_MODEL_NONE = 0,           /* no model section */
    SCN_MODEL_SEED,               /* weights drawn from model.seed, shape from model.shape */
    SCN_MODEL_FILE                /* llama2.c checkpoint, shape from its header */
} scn_model_source;

typedef enum scn_dtype {
    SCN_DTYPE_FP32 = 0,           /* values match infer_dtype in node/infer.h */
    SCN_DTYPE_FP16,
    SCN_DTYPE_BF16,
    SCN_DTYPE_INT8
} scn_dtype;

typedef struct scn_model {
    scn_model_source source;
    uint64_t weight_seed;         /* SEED: default 1 */
    char file[SCN_PATH_MAX];      /* FILE: resolved against the scenario's folder */
    char file_written[SCN_PATH_MAX]; /* FILE: as written (the params table uses it) */
    char file_sha256[65];         /* FILE: SHA-256 of the checkpoint's bytes (in the hash) */
    char tokenizer[SCN_PATH_MAX]; /* llama2.c tokenizer.bin, resolved; "" = none */
    char tokenizer_written[SCN_PATH_MAX]; /* as written */
    char tokenizer_sha256[65];    /* SHA-256 of the tokenizer (in the hash) */
    uint32_t dim;                 /* shape: from model.shape, or the file's header */
    uint32_t hidden_dim;
    uint32_t layers;
    uint32_t heads;
    uint32_t kv_heads;
    uint32_t vocab;
    uint32_t seq_len;
    bool shared_classifier;
    uint32_t segment_count;       /* contiguous ranges covering every layer once */
    uint32_t segment_first[SCN_SEGMENTS_MAX];
    uint32_t segment_layers[SCN_SEGMENTS_MAX];
    scn_dtype wire_dtype;         /* activations on the wire; default fp32 */
    uint32_t replicas;            /* servers per segment; 0 = spread every node that fits */
    uint32_t kv_slots;            /* concurrent requests a server reserves KV memory for */
} scn_model;

/* Bytes of memory a server of 'segment' (< model->segment_count) needs:
 * 4 x (the float32 weights of its layers, per layer 2*dim + 2*dim*dim +
 * 2*dim*kv_dim + 3*dim*hidden_dim; plus vocab*dim for the embedding in the
 * first segment; plus dim + vocab*dim for the final norm and classifier in
 * the last, where a shared classifier is a copy of the embedding unless the
 * last segment is also the first) + the KV cache, kv_slots x its layers x
 * seq_len x kv_dim x 2 (keys, values) x 4 bytes; kv_dim = dim*kv_heads/heads. */
uint64_t scn_segment_memory_bytes(const scn_model *model, uint32_t segment);

/* A node selector: the union of every part given. */
typedef struct scn_selector {
    bool all;
    uint32_t id_count;
    uint32_t ids[SCN_SELECTOR_IDS_MAX];
    bool has_range;
    uint32_t range_first;         /* inclusive */
    uint32_t range_last;          /* inclusive */
    double fraction;              /* 0 = none; chosen with stream (FAULT, index) */
    int32_t class_index;          /* -1 = none */
    int32_t region_index;         /* -1 = none */
} scn_selector;

/* Fault kinds, one row each: the enum's suffix, the name scenarios write,
 * what the kind takes (SCN_FAULT_TAKES_*), whether it is a verifier's
 * misbehaviour (Byzantine: it needs a verification protocol and switches
 * a node's behaviour) or a fault of the network, and a doc line. The
 * loader, the parameter flattener, the faults table, the simulator, the
 * testbed and the documentation test all walk this one list; a kind is
 * added here and nowhere else is its name spelled. */
#define SCN_FAULT_TAKES_PROBABILITY 0x01u /* loss, duplicate, reorder, corrupt */
#define SCN_FAULT_TAKES_DELAY 0x02u       /* required by delay; reorder's hold */
#define SCN_FAULT_TAKES_SCALE 0x04u       /* noise of 'scale' x the output's RMS, and 'gain' */
#define SCN_FAULT_TAKES_MODE 0x08u        /* wrong_output: noise, model or layer */
#define SCN_FAULT_TAKES_BUDGET 0x10u      /* adaptive: nodes it may corrupt */
#define SCN_FAULT_KINDS(X)                                                                     \
    X(CRASH, "crash", false, 0, "selected nodes stop; they recover at until")                  \
    X(PARTITION, "partition", false, 0, "groups cannot reach each other until until")         \
    X(LOSS, "loss", false, SCN_FAULT_TAKES_PROBABILITY,                                        \
      "extra loss on messages from or to the selected nodes")                                  \
    X(DUPLICATE, "duplicate", false, SCN_FAULT_TAKES_PROBABILITY,                              \
      "messages from or to the selected nodes delivered twice")                                \
    X(REORDER, "reorder", false, SCN_FAULT_TAKES_PROBABILITY | SCN_FAULT_TAKES_DELAY,          \
      "messages skip their link's FIFO and are held up to 'delay' longer")                     \
    X(CORRUPT, "corrupt", false, SCN_FAULT_TAKES_PROBABILITY,                                  \
      "a bit flipped in flight (the receiver's MAC rejects the message)")                      \
    X(DELAY, "delay", false, SCN_FAULT_TAKES_DELAY, "a latency spike of 'delay'")              \
    X(WRONG_OUTPUT, "wrong_output", true, SCN_FAULT_TAKES_SCALE | SCN_FAULT_TAKES_MODE,        \
      "a wrong answer: noise of 'scale' x RMS, another model's weights, or one bad layer")     \
    X(COLLUDE, "collude", true, SCN_FAULT_TAKES_SCALE,                                         \
      "the cartel answers one agreed wrong output")                                            \
    X(LAZY_COPY, "lazy_copy", true, 0, "computes nothing; copies a peer's revealed output")    \
    X(SILENT, "silent", true, 0, "never answers as a verifier")                                \
    X(SYBIL, "sybil", true, SCN_FAULT_TAKES_SCALE,                                             \
      "one operator's identities: its stake split among them, one output")                     \
    X(ADAPTIVE, "adaptive", true, SCN_FAULT_TAKES_SCALE | SCN_FAULT_TAKES_BUDGET,              \
      "corrupted (as the cartel) once drawn as a verifier, within the adversary's budget")     \
    X(EQUIVOCATE, "equivocate", true, 0, "signs two different commitments for one output")     \
    X(FORGED_TICKET, "forged_ticket", true, 0,                                                 \
      "claims the best sortition ticket with a forged VRF proof (selection vrf)")              \
    X(FORGE_ATTESTATION, "forge_attestation", true, SCN_FAULT_TAKES_SCALE,                     \
      "a compromised enclave attests its wrong output (protocol tee)")                         \
    X(SIDE_CHANNEL, "side_channel", true, 0,                                                   \
      "a TEE node's enclave leaks a share (privacy.side_channel_leak) of what it processes")   \
    X(CURIOUS, "curious", true, 0,                                                             \
      "honest-but-curious: serves correctly, attacks the activations it receives")              \
    X(FRAME, "frame", true, 0,                                                                 \
      "as a client, reports every member of its committees as provably wrong")

typedef enum scn_fault_kind {
#define SCN_FAULT_KIND_ENUM(suffix, name, byzantine, takes, doc) SCN_FAULT_##suffix,
    SCN_FAULT_KINDS(SCN_FAULT_KIND_ENUM)
#undef SCN_FAULT_KIND_ENUM
    SCN_FAULT_KIND_COUNT
} scn_fault_kind;

typedef struct scn_fault_info {
    const char *name;             /* as scenarios write it */
    bool byzantine;               /* a verifier's misbehaviour, not the network's */
    uint32_t takes;               /* SCN_FAULT_TAKES_* */
    const char *doc;
} scn_fault_info;

/* The table, SCN_FAULT_KIND_COUNT rows in enum order, and the kinds' names
 * NULL-terminated in the same order. */
extern const scn_fault_info scn_fault_kinds[SCN_FAULT_KIND_COUNT];
extern const char *const scn_fault_kind_names[SCN_FAULT_KIND_COUNT + 1];

typedef enum scn_partition_shape {
    SCN_PARTITION_GROUPS = 0,     /* explicit groups; unlisted nodes form one more */
    SCN_PARTITION_HALVES,         /* ids below count/2 versus the rest */
    SCN_PARTITION_REGIONS,        /* every region on its own */
    SCN_PARTITION_ISOLATE         /* each selected node alone */
} scn_partition_shape;

/* collude: how the members of a committee agree on the one wrong output.
 * STREAM draws it from the cartel's shared secret, off the network and
 * free; MESSAGES has the cartel's leader in the committee send it to the
 * others as CARTEL_AGREE messages (node/committee.c). */
typedef enum scn_cartel_coordination {
    SCN_CARTEL_STREAM = 0,
    SCN_CARTEL_MESSAGES
} scn_cartel_coordination;

#define SCN_TARGET_NONE UINT32_MAX    /* collude without target_token: noise */

typedef struct scn_fault {
    scn_fault_kind kind;
    uint64_t at_ns;
    uint64_t until_ns;            /* UINT64_MAX = never heals / recovers */
    scn_selector nodes;           /* crash, link faults, isolate */
    double probability;           /* loss, duplicate, reorder, corrupt */
    uint64_t delay_ns;            /* delay; reorder hold */
    double scale;                 /* wrong_output, collude, sybil, adaptive: noise / RMS */
    uint32_t budget;              /* adaptive: nodes the adversary may corrupt (0 = all) */
    uint32_t wrong_mode;          /* wrong_output: 0 noise, 1 model (other weights),
                                   * 2 layer (one corrupted layer) */
    double gain;                  /* > 0: a rational adversary, cheating only when
                                   * (1 - P(caught)) x gain > P(caught) x its loss */
    scn_cartel_coordination coordination; /* collude: how the cartel agrees on its output */
    uint32_t target_token;        /* collude: the token its last-segment output makes win
                                   * (SCN_TARGET_NONE = noise) */
    bool second_to_peers;         /* equivocate: the second commitment goes to the other
                                   * members (who relay it to the client), not the client */
    scn_partition_shape shape;
    uint32_t group_count;
    scn_selector groups[SCN_GROUPS_MAX];
    uint32_t line;                /* where it was written, for messages */
} scn_fault;

typedef enum scn_agree_rule {
    SCN_AGREE_EXACT = 0,          /* values match cons_agree_kind in consensus/cons.h */
    SCN_AGREE_MAXABS,
    SCN_AGREE_COSINE,
    SCN_AGREE_TOPK
} scn_agree_rule;

typedef struct scn_agreement {
    scn_agree_rule rule;
    double epsilon;               /* maxabs */
    double tau;                   /* cosine */
    uint32_t top_k;               /* topk */
    double margin;                /* topk: near ties tolerated; 0 none */
} scn_agreement;

typedef struct scn_verification {
    cons_protocol protocol;       /* consensus/cons.h: names, rules */
    uint32_t committee;           /* k members per segment, 1..64 */
    uint32_t quorum;              /* q agreeing members accept, 1..k */
    uint32_t unsafe_quorum_slack; /* TESTING ONLY, deliberately unsafe: accept with this
                                   * many votes fewer than quorum; 0 (default) = off */
    uint32_t retries;             /* fresh committees after a failed quorum */
    uint32_t draw_epoch;          /* requests per settled epoch: committees of request r are
                                   * drawn from the ledger after the verdicts of requests
                                   * 0 .. epoch start - 1 in request order; 0 (default) = the
                                   * ledger as it stands at the draw */
    bool commit_reveal;           /* commit H(output|salt|member) before revealing */
    uint64_t commit_timeout_ns;   /* the commit phase closes then (or when all commit) */
    uint64_t reveal_timeout_ns;   /* the reveal phase closes then */
    uint64_t suspect_after_ns;    /* a member silent this long in a phase is suspected and
                                   * the phase goes on without it; 0 (default) = off */
    scn_agreement agreement;      /* activations of segments before the last */
    scn_agreement final_agreement; /* logits of the last segment */
    double penalty;               /* Nesa's rule: R' = R * penalty^M * reward^(1-M) */
    double reward;
    double reputation_min;
    double reputation_max;
    double reputation_initial;
    double stake;                 /* every node's stake (sortition weight = stake * R) */
    double slash;                 /* fraction of stake lost per proven deviation */
    bool sign_ed25519;            /* crypto: ed25519 signs commitments and reveals;
                                   * false = keyed MAC (faster) */
    bool selection_vrf;           /* selection: vrf (tickets from each node's RFC 9381
                                   * VRF output); false = hash (public tickets) */
    uint64_t vrf_epoch_ns;        /* selection vrf: one VRF evaluation per node per epoch */
    bool draw_tree;               /* draw: tree (successive sampling from the beacon,
                                   * O(k log n)); false = race (every ticket hashed) */
    double vrf_accept;            /* selection vrf with draw tree: the chance a pick
                                   * seats its node (cons_tree_select_thinned) */
    /* Other protocols (scenarios/README.md, verification). */
    int32_t echelon;              /* sampling: class index of the echelon; -1 = any */
    uint32_t verifiers;           /* crossval: N re-executors; optimistic: challengers */
    double check_probability;     /* crossval: p */
    uint32_t check_answers;       /* crossval: checkers' answers a checked hop needs */
    bool catch_up;                /* a member gets the rows of the steps it missed */
    uint64_t challenge_window_ns; /* optimistic: finality after the request's end */
    uint64_t bisection_round_ns;  /* optimistic: one round of the bisection game */
    uint64_t dispute_ns;          /* sampling, crossval: the referee's resolution time */
    double tee_overhead;          /* tee: compute time x (1 + overhead) */
    double zk_prover_factor;      /* zk: prover FLOPs per FLOP of inference */
    uint32_t zk_proof_bytes;      /* zk: proof size on the wire */
    uint64_t zk_verify_ns;        /* zk: the client's verification time */
    /* Economics, common to every protocol. */
    double timeout_slash;         /* fraction of stake lost by a member that times out */
    double fee_per_token;         /* paid to each member whose output is accepted */
    double slashed_honest;        /* shares of slashed funds: honest members of the */
    double slashed_oracle;        /* decision, the oracle, burnt; they sum to 1 */
    double slashed_burn;
} scn_verification;

/* Whether a fault of 'kind' can act under verification 'v': 0, or
 * SCN_ESCHEMA with the reason in 'why' (a Byzantine kind needs a protocol,
 * forge_attestation tee, forged_ticket VRF selection, equivocate
 * commitments). The loader refuses such a fault with this reason; swarm
 * draws only kinds it allows. */
int scn_fault_kind_allowed(const scn_verification *v, scn_fault_kind kind, char *why,
                           size_t size);

typedef enum scn_cmp { SCN_CMP_EQ = 0, SCN_CMP_LE, SCN_CMP_LT, SCN_CMP_GE, SCN_CMP_GT } scn_cmp;

/* Where an expectation is judged: on each run (metric: "OP value"), or over
 * the seeds of a sweep grid point (metric: {mean: ...} or {each: ...,
 * passing: ...}; infersim sweep --check judges those, infersim run does not). */
typedef enum scn_expect_scope {
    SCN_EXPECT_RUN = 0,
    SCN_EXPECT_MEAN,              /* the mean over the seeds: cmp value */
    SCN_EXPECT_PASSING,           /* the fraction of seeds with cmp value:
                                   * passing_cmp passing_value (a ratio 0..1) */
} scn_expect_scope;

/* One expectation: metric OP value, e.g. delivery_ratio >= 0.99. Durations
 * are stored in nanoseconds. Known metrics are listed in scenarios/README.md. */
typedef struct scn_expect {
    char metric[SCN_NAME_MAX];
    scn_cmp cmp;
    double value;
    char text[SCN_NAME_MAX];      /* as written, for messages ("each" for passing) */
    bool converge;                /* written as converge_within: a liveness bound;
                                   * metric liveness_violations == 0 */
    scn_expect_scope scope;
    scn_cmp passing_cmp;          /* SCN_EXPECT_PASSING only */
    double passing_value;
    char passing_text[SCN_NAME_MAX];
} scn_expect;

typedef struct scn_output {
    char db[SCN_PATH_MAX];        /* default "results.db"; --db overrides */
    uint64_t sample_interval_ns;  /* timeseries period; 0 = off */
    double divergence_sample;     /* share of completed requests whose per-class
                                   * divergence the oracle measures; default 1 */
    bool node_series;             /* every node's balance.<id> at each sample;
                                   * default true */
    bool decisions;               /* a decisions row per member and decision;
                                   * default true */
} scn_output;

/* A parameter sweep (the optional `sweep:` section, scenarios/README.md):
 * a grid over scenario keys, each with a list of values, times a number
 * of seeds. `infersim run` ignores it; `infersim sweep` runs every grid
 * point as `run --set key=value ... --seed S`. It is not part of the
 * params table or the scenario hash. */
#define SCN_SWEEP_PARAMS_MAX 8        /* grid dimensions */
#define SCN_SWEEP_VALUES_MAX 128      /* values per dimension */
#define SCN_SWEEP_TEXT_MAX 64         /* bytes of one value, NUL included */
#define SCN_SWEEP_KEY_MAX 128         /* bytes of one key path, NUL included */
#define SCN_SWEEP_SEEDS_MAX 100000u
#define SCN_SWEEP_RUNS_MAX 1000000u   /* grid points x seeds */

typedef struct scn_sweep_param {
    char key[SCN_SWEEP_KEY_MAX];  /* a --set path, e.g. "faults.0.nodes.fraction" */
    uint32_t line;                /* where the key is in the file; 0 from the command line */
    uint32_t column;
    uint32_t value_count;         /* >= 1 */
    char values[SCN_SWEEP_VALUES_MAX][SCN_SWEEP_TEXT_MAX];
} scn_sweep_param;

typedef struct scn_sweep {
    bool present;                 /* the file has a sweep section */
    uint32_t seeds;               /* seeds per grid point: seed, seed+1, ...; default 1 */
    uint32_t param_count;         /* grid dimensions, 0..SCN_SWEEP_PARAMS_MAX */
    scn_sweep_param params[SCN_SWEEP_PARAMS_MAX];
} scn_sweep;

/* One flattened key of the effective scenario, e.g. "network.loss" = "0.01". */
typedef struct scn_param {
    char *key;
    char *value;
} scn_param;

/* The privacy section: Gaussian noise on forwarded activations. 'enabled'
 * is false without the section, and nothing below is read then. Boundary s
 * (1 .. segment_count - 1) is the activations entering segment s; the
 * sender of a boundary clips each row to L2 norm 'clip' and adds N(0,
 * (sigma clip)^2) per coordinate. */
typedef struct scn_privacy {
    bool enabled;                 /* the section is present */
    uint64_t boundary_mask;       /* bit s: boundary s is noised; "all" = every one */
    double clip;                  /* C, the L2 norm of a row after clipping (> 0) */
    double sigma;                 /* noise multiplier; derived when epsilon is given */
    double epsilon;               /* target epsilon per request; 0 = sigma given */
    double delta;                 /* the delta of every epsilon; default 1e-5 */
    uint64_t releases;            /* planned noised releases per request: steps x boundaries */
    double curious;               /* share of nodes that are honest-but-curious; default 0 */
    double attack_sample;         /* share of requests they attack; default 1 */
    bool require_tee_tokens;      /* only TEE servers for segments that see token ids */
    bool require_tee_activations; /* only TEE servers for segments that receive activations */
    double side_channel_leak;     /* share of a side_channel node's requests that leak */
} scn_privacy;

/* The ledger section: a BFT validator set (consensus/cons_bft.c) among the
 * nodes. 'validators' 0 = no ledger, and nothing below is read then. The
 * validators are nodes 0 .. validators - 1 (they keep serving and
 * verifying like any node); the last 'byzantine' of them run 'behaviour'. */
typedef struct scn_ledger {
    uint32_t validators;          /* 0 = none; else 1 .. CONS_BFT_VALIDATORS_MAX */
    uint64_t block_interval_ns;   /* a leader proposes this long after its view starts */
    uint64_t view_timeout_ns;     /* the pacemaker's base timeout */
    bool auth_mac;                /* auth: mac; false = ed25519 */
    uint32_t block_txs;           /* transactions per block, 1 .. CONS_BFT_BLOCK_TXS_MAX */
    uint32_t byzantine;           /* validators given 'behaviour' (the last ones) */
    uint32_t behaviour;           /* cons_bft_behaviour */
    uint64_t delay_ns;            /* behaviour delay: how late a leader proposes */
    uint64_t crash_at_ns;         /* behaviour crash: when the validators stop */
    bool settlement_ledger;       /* verification.settlement: ledger (else instant) */
    uint32_t submit_to;           /* validators a client sends a transaction to (f + 1) */
    bool evidence;                /* a penalty needs verified evidence (default true) */
    bool timeout_evidence;        /* a timeout penalty with a quorum of peers'
                                   * attestations (default false) */
    uint64_t resend_timeout_ns;   /* a client resends a transaction not seen committed
                                   * this long after it sent it (0 = never) */
    bool gossip;                  /* dissemination: gossip (else direct, the default) */
    uint32_t fanout;              /* gossip: validators a new item is pushed to (default 3) */
    uint64_t pull_interval_ns;    /* gossip: anti-entropy period (default 500ms; 0 = push
                                   * only) */
} scn_ledger;

/* The churn section: nodes leave and join over simulated time, as in a
 * public swarm. 'enabled' is false without the section, and nothing below
 * is read then. Joins and leaves are two Poisson processes (events per
 * second of simulated time) over [start_ns, stop_ns]; a leave picks an
 * online node, a join an offline one. */
typedef enum scn_churn_leave {
    SCN_CHURN_LEAVE_CRASH = 0,    /* the node vanishes at once */
    SCN_CHURN_LEAVE_GRACEFUL      /* it refuses new steps for drain_ns, then goes */
} scn_churn_leave;

typedef struct scn_churn {
    bool enabled;                 /* the section is present */
    double join_rate_per_s;       /* >= 0; default 0 */
    double leave_rate_per_s;      /* >= 0; default 0 */
    double initially_online;      /* share of the nodes online at t = 0; default 1 */
    scn_churn_leave leave;        /* default crash */
    uint64_t drain_ns;            /* graceful: how long a leaver refuses before it goes; 1s */
    uint64_t start_ns;            /* first possible event; default 0 */
    uint64_t stop_ns;             /* last possible event; default the run's duration */
    scn_selector nodes;           /* the nodes that churn; default all (the others stay) */
} scn_churn;

typedef struct scn_scenario {
    char name[SCN_NAME_MAX];
    char source_path[SCN_PATH_MAX];
    uint64_t seed;
    uint64_t duration_ns;
    scn_network network;
    scn_nodes nodes;
    scn_gossip gossip;
    scn_model model;
    scn_verification verification;
    scn_workload workload;
    scn_privacy privacy;
    scn_ledger ledger;
    scn_churn churn;
    uint32_t fault_count;
    scn_fault faults[SCN_FAULTS_MAX];
    uint32_t expect_count;
    scn_expect expects[SCN_EXPECT_MAX];
    /* expect.converge_within: after the last fault with an 'until' heals
     * (from the start without one), every request submitted must complete
     * within this; 0 = not checked. */
    uint64_t converge_within_ns;
    scn_output output;
    scn_sweep sweep;
    /* Effective scenario after overrides, flattened and sorted by key. */
    size_t param_count;
    scn_param *params;
    char sha256_hex[65];          /* over the flattened params, canonical */
} scn_scenario;

/* Loads 'path', applies each "a.b.c=value" in 'overrides' (in order) and
 * validates. On success *out is a new scenario owned by the caller (free with
 * scn_destroy) and 0 is returned. On failure returns a negative SCN_E* code,
 * fills *error and leaves *out NULL. */
int scn_load_file(const char *path, const char *const *overrides, size_t override_count,
                  scn_scenario **out, scn_error *error);

/* As scn_load_file, from text in memory; 'name' stands for the file name in
 * error messages. */
int scn_load_string(const char *name, const char *text, const char *const *overrides,
                    size_t override_count, scn_scenario **out, scn_error *error);

/* Applies 'edits' in order to scenario text 'text' ('name' stands for the
 * file in errors) and writes the result as YAML: an edit "path=value" is a
 * --set override, "-path" removes a key or a list item ("-faults.1").
 * Comments and anchors are not kept; the result loads to the same
 * scenario as the text plus the edits. On success *yaml_out is a
 * NUL-terminated text the caller frees with free(). Returns 0, SCN_EPARSE,
 * SCN_EUSAGE (a malformed edit or nothing to remove) or SCN_ENOMEM. The
 * edited scenario is not validated (load it to know). */
int scn_yaml_edit(const char *name, const char *text, const char *const *edits,
                  size_t edit_count, char **yaml_out, scn_error *error);

/* Frees everything owned by 'scenario'; NULL is a no-op. */
void scn_destroy(scn_scenario *scenario);

/* The path of the index-th key a scenario may write, in the key table's
 * order ("workload.requests"; "faults[].kind" for a list item's key,
 * "network.regions.*" for any key of a named map), or NULL past the end.
 * Keys a scenario cannot set (derived ones) are left out. Cannot fail. */
const char *scn_key_path(size_t index);

/* Writes "file:line:col: message" (or "file: message" when line is 0). */
void scn_error_format(const scn_error *error, char *buffer, size_t size);

const char *scn_strerror(int code);

/* Parses one command-line grid dimension, "path=v1,v2,..." (a list) or
 * "path=FROM:TO:STEP" (a range of numbers or durations, TO included), into
 * *out; "path=FROM:TO" (a range without its step) is refused. Returns 0,
 * or SCN_EUSAGE with a reason in why[why_size]. */
int scn_sweep_param_parse(const char *text, scn_sweep_param *out, char *why, size_t why_size);

/* Grid points of 'sweep': the product of its value counts (1 without
 * dimensions). Cannot fail. */
uint64_t scn_sweep_points(const scn_sweep *sweep);

/* The value of dimension 'd' at grid point 'point' (< scn_sweep_points);
 * the last dimension varies fastest. Cannot fail. */
const char *scn_sweep_value(const scn_sweep *sweep, uint64_t point, uint32_t d);

/* Run-level metrics, one row each: the enum's suffix, the name, its unit
 * ("ns", "ratio", "count", "B", "FLOP", "tokens/s", "stake", "reputation"),
 * the runs that measure it (SCN_METRIC_RUNS_*; elsewhere it is NaN or 0),
 * whether `expect:` may name it, and a doc line. The loader (expect:), the
 * simulator's metric dispatch, the metrics table, `infersim run` and the
 * documentation test all walk this one list (metrics/README.md lists every
 * row with its unit); a metric is added here and nowhere else is its name
 * spelled. */
typedef enum scn_metric_runs {
    SCN_METRIC_RUNS_ANY = 0,          /* every simulated run */
    SCN_METRIC_RUNS_GOSSIP,           /* gossip runs (0 or NaN otherwise) */
    SCN_METRIC_RUNS_INFERENCE,        /* inference runs (NaN otherwise) */
    SCN_METRIC_RUNS_VERIFICATION      /* runs with a verification protocol (NaN otherwise) */
} scn_metric_runs;

#define SCN_METRICS(X)                                                                         \
    X(DELIVERY_RATIO, "delivery_ratio", "ratio", GOSSIP, true,                                 \
      "deliveries over the deliveries expected (NaN when nothing was published)")              \
    X(LATENCY_P50, "latency_p50", "ns", GOSSIP, true, "median rumor delivery latency")         \
    X(LATENCY_P95, "latency_p95", "ns", GOSSIP, true, "95th percentile rumor delivery latency") \
    X(LATENCY_P99, "latency_p99", "ns", GOSSIP, true, "99th percentile rumor delivery latency") \
    X(LATENCY_MAX, "latency_max", "ns", GOSSIP, true, "slowest rumor delivery")                \
    X(LATENCY_MEAN, "latency_mean", "ns", GOSSIP, true, "mean rumor delivery latency")         \
    X(MESSAGES_SENT, "messages_sent", "count", ANY, true, "messages sent, every type")         \
    X(BYTES_SENT, "bytes_sent", "B", ANY, true, "bytes sent, every message type")              \
    X(MESSAGES_REJECTED, "messages_rejected", "count", ANY, true,                              \
      "messages a receiver's validation rejected")                                             \
    X(MESSAGES_DROPPED, "messages_dropped", "count", ANY, true,                                \
      "messages the network dropped, every reason")                                            \
    X(EVENTS, "events", "count", ANY, true, "simulator events executed")                       \
    X(RUMORS_PUBLISHED, "rumors_published", "count", GOSSIP, true, "rumors published")         \
    X(PUBLISH_FAILED, "publish_failed", "count", GOSSIP, true,                                 \
      "publications that found their node down")                                               \
    X(DELIVERIES, "deliveries", "count", GOSSIP, true, "first deliveries of a rumor to a node") \
    X(DUPLICATES, "duplicates", "count", GOSSIP, true, "rumors a node received again")         \
    X(PEAK_IN_FLIGHT, "peak_in_flight", "count", GOSSIP, true,                                 \
      "most messages in flight at once")                                                       \
    X(REQUESTS_COMPLETED, "requests_completed", "count", INFERENCE, true,                      \
      "requests with status completed")                                                        \
    X(COMPLETED_RATIO, "completed_ratio", "ratio", INFERENCE, true,                            \
      "requests_completed over requests submitted")                                            \
    X(REQUEST_LATENCY_P50, "request_latency_p50", "ns", INFERENCE, true,                       \
      "median submit-to-finish time of completed requests")                                    \
    X(REQUEST_LATENCY_P95, "request_latency_p95", "ns", INFERENCE, true,                       \
      "95th percentile submit-to-finish time of completed requests")                           \
    X(REQUEST_LATENCY_P99, "request_latency_p99", "ns", INFERENCE, true,                       \
      "99th percentile submit-to-finish time of completed requests")                           \
    X(FIRST_TOKEN_P50, "first_token_p50", "ns", INFERENCE, true,                               \
      "median submit-to-first-token time")                                                     \
    X(TOKENS_PER_S, "tokens_per_s", "tokens/s", INFERENCE, true,                               \
      "generated tokens per simulated second")                                                 \
    X(REFERENCE_MATCH_RATIO, "reference_match_ratio", "ratio", INFERENCE, true,                \
      "share of requests whose output matched the reference")                                  \
    X(ARGMAX_AGREE_MEAN, "argmax_agree_mean", "ratio", INFERENCE, true,                        \
      "mean share of steps whose argmax agrees with the reference")                            \
    X(FLOPS_TOTAL, "flops_total", "FLOP", INFERENCE, true, "FLOPs of every segment executed")  \
    X(ACTIVATION_BYTES, "activation_bytes", "B", INFERENCE, true,                              \
      "activations sent from one segment's server to the next")                                \
    X(ACCEPTED_WRONG, "accepted_wrong", "count", VERIFICATION, true,                           \
      "completed requests whose accepted output agrees with no honest execution")              \
    X(ACCEPTED_WRONG_RATIO, "accepted_wrong_ratio", "ratio", VERIFICATION, true,               \
      "accepted_wrong over completed requests")                                                \
    X(HONEST_PENALISED, "honest_penalised", "count", VERIFICATION, true,                       \
      "verdicts that penalised a member honest at the time")                                   \
    X(HONEST_PENALISED_RATIO, "honest_penalised_ratio", "ratio", VERIFICATION, true,           \
      "honest_penalised over verdicts on honest members")                                      \
    X(NO_QUORUM, "no_quorum", "count", VERIFICATION, true, "rounds that reached no quorum")    \
    X(REPUTATION_HONEST_MEAN, "reputation_honest_mean", "reputation", VERIFICATION, true,      \
      "mean final reputation of nodes never given a Byzantine behaviour")                      \
    X(REPUTATION_BYZANTINE_MEAN, "reputation_byzantine_mean", "reputation", VERIFICATION,      \
      true, "mean final reputation of nodes ever given a Byzantine behaviour")                 \
    X(REQUESTS_FAILED, "requests_failed", "count", INFERENCE, true,                            \
      "requests that ended without an answer (failed or timeout)")                             \
    X(STAKE_SLASHED, "stake_slashed", "stake", VERIFICATION, true,                             \
      "stake lost to proven deviations and timeouts")                                          \
    X(COST_RATIO, "cost_ratio", "ratio", VERIFICATION, true,                                   \
      "FLOPs of every execution and the referee over one native execution")                    \
    X(FINALITY_P50, "finality_p50", "ns", VERIFICATION, true,                                  \
      "median submission-to-finality time of completed requests")                              \
    X(FINALITY_P99, "finality_p99", "ns", VERIFICATION, true,                                  \
      "99th percentile submission-to-finality time of completed requests")                     \
    X(DISPUTES, "disputes", "count", VERIFICATION, true, "disagreements handed to the referee") \
    X(RESAMPLES, "resamples", "count", VERIFICATION, true,                                     \
      "fresh committees or executors drawn after a failure")                                   \
    X(REFEREE_FLOPS, "referee_flops", "FLOP", VERIFICATION, true,                              \
      "what the referee spends on disputes")                                                   \
    X(FEES_PAID, "fees_paid", "stake", VERIFICATION, true,                                     \
      "fees paid to members whose output was accepted")                                        \
    X(SLASHED_TO_ORACLE, "slashed_to_oracle", "stake", VERIFICATION, true,                     \
      "the oracle's share of slashed stake")                                                   \
    X(SLASHED_BURNT, "slashed_burnt", "stake", VERIFICATION, true, "slashed stake burnt")      \
    X(BALANCE_HONEST_MEAN, "balance_honest_mean", "stake", VERIFICATION, true,                 \
      "mean final balance of nodes never given a Byzantine behaviour")                         \
    X(BALANCE_BYZANTINE_MEAN, "balance_byzantine_mean", "stake", VERIFICATION, true,           \
      "mean final balance of nodes ever given a Byzantine behaviour")                          \
    X(CHEATS_DECLINED, "cheats_declined", "count", VERIFICATION, true,                         \
      "hops on which a rational adversary ran honestly")                                       \
    X(CHEATS_TAKEN, "cheats_taken", "count", VERIFICATION, true,                               \
      "hops on which a rational adversary cheated")                                            \
    X(CAPTURE_DRAWS, "capture_draws", "count", VERIFICATION, true,                             \
      "draws of members under committee, sampling and crossval")                               \
    X(CAPTURED_DRAWS, "captured_draws", "count", VERIFICATION, true,                           \
      "draws their Byzantine members decide (a quorum; all; an unwatched executor)")           \
    X(CAPTURE_RATE, "capture_rate", "ratio", VERIFICATION, true,                               \
      "captured_draws over capture_draws (NaN without draws)")                                 \
    X(CAPTURE_RATE_PREDICTED, "capture_rate_predicted", "ratio", VERIFICATION, true,           \
      "the closed form's capture probability, averaged over the same draws")                   \
    X(FLOOR_PENALTIES, "floor_penalties", "count", VERIFICATION, true,                         \
      "mean penalties that took a node to the reputation floor, none agreed before")           \
    X(FLOOR_PENALTIES_PREDICTED, "floor_penalties_predicted", "count", VERIFICATION, true,     \
      "consecutive penalties from the initial reputation to the floor, by the rule")           \
    X(PRIVACY_EPSILON_MEAN, "privacy_epsilon_mean", "epsilon", INFERENCE, true,                \
      "mean epsilon spent per submitted request (NaN without a privacy section)")              \
    X(PRIVACY_EPSILON_MAX, "privacy_epsilon_max", "epsilon", INFERENCE, true,                  \
      "largest epsilon one request spent (NaN without a privacy section)")                     \
    X(PROMPT_RECONSTRUCTION_RATE, "prompt_reconstruction_rate", "ratio", INFERENCE, true,      \
      "mean share of prompt tokens curious servers recovered (NaN when none attacked)")        \
    X(PLAINTEXT_EXPOSED_RATIO, "plaintext_exposed_ratio", "ratio", INFERENCE, true,            \
      "share of submitted requests whose prompt a non-TEE node other than the client saw")     \
    X(GENERATION_RECONSTRUCTION_RATE, "generation_reconstruction_rate", "ratio", INFERENCE,    \
      true, "mean share of generated tokens curious servers recovered (NaN when none)")        \
    X(WEIGHTS_EXPOSED_RATIO, "weights_exposed_ratio", "ratio", INFERENCE, true,                \
      "share of the model's parameters some server outside a TEE holds in the clear")          \
    X(WEIGHTS_NODE_MAX_RATIO, "weights_node_max_ratio", "ratio", INFERENCE, true,              \
      "largest share of the model's parameters one server outside a TEE holds")                \
    X(WEIGHTS_CURIOUS_RATIO, "weights_curious_ratio", "ratio", INFERENCE, true,                \
      "share of the parameters the curious servers outside a TEE hold together (NaN: none)")   \
    X(VRF_PROOFS_VERIFIED, "vrf_proofs_verified", "count", VERIFICATION, true,                 \
      "selection vrf: members' VRF proofs the clients checked")                                \
    X(VRF_PROOFS_REJECTED, "vrf_proofs_rejected", "count", VERIFICATION, true,                 \
      "selection vrf: members' VRF proofs that failed the check (votes refused)")              \
    X(LEDGER_BLOCKS, "ledger_blocks", "count", VERIFICATION, true,                             \
      "blocks the ledger committed (NaN without a ledger)")                                    \
    X(LEDGER_FINALITY_P50, "ledger_finality_p50", "ns", VERIFICATION, true,                    \
      "median time from a client's transaction to the commit of its block")                   \
    X(LEDGER_FINALITY_P99, "ledger_finality_p99", "ns", VERIFICATION, true,                    \
      "99th percentile time from a client's transaction to the commit of its block")          \
    X(VIEW_CHANGES, "view_changes", "count", VERIFICATION, true,                               \
      "views honest validators entered by a timeout certificate (a failed leader)")           \
    X(LEDGER_MESSAGES_PER_BLOCK, "ledger_messages_per_block", "count", VERIFICATION, true,     \
      "BFT messages sent per committed block (NaN without blocks)")                            \
    X(LEDGER_BYTES_PER_BLOCK, "ledger_bytes_per_block", "B", VERIFICATION, true,               \
      "BFT bytes sent per committed block (NaN without blocks)")                               \
    X(SETTLEMENT_LATENCY_P50, "settlement_latency_p50", "ns", VERIFICATION, true,              \
      "median submit-to-settlement time of requests whose verdicts all committed")            \
    X(SETTLEMENT_LATENCY_P99, "settlement_latency_p99", "ns", VERIFICATION, true,              \
      "99th percentile submit-to-settlement time of settled requests")                         \
    X(LEDGER_FORKS, "ledger_forks", "count", VERIFICATION, true,                               \
      "heights at which two honest validators committed different blocks")                    \
    X(UNJUST_SLASHES, "unjust_slashes", "count", VERIFICATION, true,                           \
      "committed verdicts that penalised or slashed a node honest in ground truth")           \
    X(EVIDENCE_VERIFIED, "evidence_verified", "count", VERIFICATION, true,                     \
      "committed penalties applied with evidence the validators verified")                    \
    X(EVIDENCE_REJECTED, "evidence_rejected", "count", VERIFICATION, true,                     \
      "penalties refused for want of valid evidence (once per decision)")                     \
    X(LEDGER_RESENDS, "ledger_resends", "count", VERIFICATION, true,                           \
      "settlement transactions a client sent again, not seen committed in time")              \
    X(LEDGER_GOSSIP_MESSAGES, "ledger_gossip_messages", "count", VERIFICATION, true,          \
      "gossip messages validators sent: transactions, votes, pulls (NaN when direct)")        \
    X(LEDGER_GOSSIP_BYTES, "ledger_gossip_bytes", "B", VERIFICATION, true,                     \
      "wire bytes of those gossip messages (NaN when direct)")                                 \
    X(LEDGER_GOSSIP_DUPLICATES, "ledger_gossip_duplicates", "count", VERIFICATION, true,       \
      "gossiped transactions and votes a validator had seen (NaN when direct)")                \
    X(LEDGER_PULL_ANSWERS, "ledger_pull_answers", "count", VERIFICATION, true,                 \
      "pending transactions sent to answer a peer's pull digest (NaN when direct)")            \
    X(CARTEL_MESSAGES, "cartel_messages", "count", VERIFICATION, true,                         \
      "agreements a cartel's leaders sent its members (NaN without coordination: messages)")   \
    X(CARTEL_BYTES, "cartel_bytes", "B", VERIFICATION, true,                                   \
      "wire bytes of those agreements (NaN without coordination: messages)")                   \
    X(CARTEL_AGREEMENTS_MISSED, "cartel_agreements_missed", "count", VERIFICATION, true,       \
      "hops a colluding member answered honestly, its agreement not in time")                  \
    X(TARGETED_TOKENS_ACCEPTED, "targeted_tokens_accepted", "count", VERIFICATION, true,       \
      "accepted tokens equal to a cartel's target where the reference differs")                \
    X(TIMEOUT_ATTESTATIONS, "timeout_attestations", "count", VERIFICATION, true,               \
      "attestations members signed that a peer's commitment missed the deadline (NaN off)")   \
    X(TIMEOUT_PENALTIES, "timeout_penalties", "count", VERIFICATION, true,                     \
      "committed timeout penalties applied with a quorum of attestations (NaN off)")          \
    X(LIVENESS_VIOLATIONS, "liveness_violations", "count", INFERENCE, false,                   \
      "requests after the last heal not done within expect.converge_within")                   \
    X(MEMORY_BOUND_RATIO, "memory_bound_ratio", "ratio", INFERENCE, true,                      \
      "share of forward calls whose time the memory bandwidth set (roofline)")                  \
    X(FAILOVERS, "failovers", "count", INFERENCE, true,                                        \
      "replays of a request on a fresh route after a missed step deadline or a refusal")                                                                                       \
    X(SUSPICIONS, "suspicions", "count", VERIFICATION, true,                                   \
      "members a client suspected after suspect_after of silence (NaN when off)")              \
    X(FALSE_SUSPICIONS, "false_suspicions", "count", VERIFICATION, true,                       \
      "suspicions of a node neither crashed nor silent at the time (NaN when off)")            \
    X(MEMBERS_SKIPPED, "members_skipped", "count", VERIFICATION, true,                         \
      "committee members a phase closed without, as suspects, unjudged (NaN when off)")       \
    X(BATCH_SIZE_MEAN, "batch_size_mean", "count", INFERENCE, true,                            \
      "forward calls per batch a server ran (1 without continuous batching)")                 \
    X(BATCH_SIZE_MAX, "batch_size_max", "count", INFERENCE, true,                              \
      "the largest batch a server ran")                                                        \
    X(BATCHED_STEPS_RATIO, "batched_steps_ratio", "ratio", INFERENCE, true,                    \
      "share of forward calls that shared their batch with another request's step")          \
    X(CHURN_JOINS, "churn_joins", "count", INFERENCE, true,                                    \
      "churn: nodes that joined (NaN without a churn section)")                               \
    X(CHURN_LEAVES, "churn_leaves", "count", INFERENCE, true,                                  \
      "churn: nodes that left (NaN without a churn section)")                                 \
    X(SEGMENT_SERVERS_MIN, "segment_servers_min", "count", INFERENCE, true,                    \
      "churn: the fewest live servers any segment had during the run (NaN without churn)")    \
    X(NODES_SERVED, "nodes_served", "count", INFERENCE, true,                                  \
      "nodes that made at least one forward call")                                             \
    X(ALL_SERVED_NS, "all_served_ns", "ns", INFERENCE, true,                                   \
      "when the last node was given its first forward call (NaN while one never was)")       \
    X(CATCH_UPS, "catch_ups", "count", VERIFICATION, true,                                     \
      "hops that also carried a member the rows of steps it missed")

typedef enum scn_metric {
#define SCN_METRIC_ENUM(suffix, name, unit, runs, expect, doc) SCN_METRIC_##suffix,
    SCN_METRICS(SCN_METRIC_ENUM)
#undef SCN_METRIC_ENUM
    SCN_METRIC_COUNT
} scn_metric;

typedef struct scn_metric_info {
    const char *name;
    const char *unit;
    scn_metric_runs runs;
    bool expect;                  /* `expect:` may name it (liveness_violations is
                                   * expected through converge_within) */
    const char *doc;
} scn_metric_info;

/* The table, SCN_METRIC_COUNT rows in enum order (the order the summary
 * and the metrics table list them). */
extern const scn_metric_info scn_metrics[SCN_METRIC_COUNT];

/* The metric named 'name', or -1 when there is none. Cannot fail. */
int scn_metric_find(const char *name);

/* 'value' measured in 'unit' written for a person into buffer[size] (which
 * it returns): the one formatting of every value infersim prints. "ns" and
 * "s" as a duration in ns, µs, ms or s with three significant digits
 * ("3.83 s", "704 ms"); "B" in B, kB, MB, GB, TB and "FLOP" in FLOP ..
 * PFLOP (decimal prefixes, three significant digits); "ratio", "stake",
 * "reputation" and an empty or NULL unit as a plain decimal (at most four
 * decimals: "1", "0.995"); "count" as a whole number below a million, then
 * like a rate without a unit ("9.13M"); any other unit (a rate such as
 * "tokens/s" or "events/s") with three significant digits and k, M or G,
 * then the unit ("53.3 tokens/s", "6.13k events/s", "1.25M events/s").
 * NaN is "-". SCN_FORMAT_MAX bytes always suffice.
 * Cannot fail. */
#define SCN_FORMAT_MAX 48
const char *scn_format_value(char *buffer, size_t size, const char *unit, double value);
/* scn_format_value with the unit of SCN_METRICS's metric 'name' (none for a
 * name not in the table). */
const char *scn_format_metric(char *buffer, size_t size, const char *name, double value);
/* The measured value of an expectation for a person, in the unit its bound
 * was written in when that is a duration ("<= 6s": "3.83 s", "< 1s":
 * "0.303 s"), else as scn_format_metric. */
const char *scn_format_expect(char *buffer, size_t size, const scn_expect *expect, double actual);

#endif
