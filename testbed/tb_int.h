/* tb_int.h -- private declarations shared by the files of testbed/: the
 * node process (tb_node.c owns the loop, the peers and the fault rules;
 * tb_http.c serves HTTP from the same state). Not part of the interface. */
#ifndef TB_TB_INT_H
#define TB_TB_INT_H

#include <signal.h>

#include <event2/event.h>
#include <event2/http.h>

#include "testbed/tb.h"
#include "util/hist.h"
#include "world/world_net.h"

/* Prometheus histogram buckets of request latency, in seconds. */
#define TB_LATENCY_BUCKETS 12
extern const double tb__latency_bounds_s[TB_LATENCY_BUCKETS];

/* A drop, delay or partition rule on the frames this process sends. */
typedef struct tb_rule {
    bool active;
    uint32_t kind;                   /* scn_fault_kind: loss, delay, partition, ... */
    double probability;
    uint64_t delay_ns;
    uint32_t from;                   /* UINT32_MAX: any (admin rules) */
    uint32_t to;
    uint8_t *selected;               /* scenario rules: senders it applies to, or NULL */
    uint8_t *groups;                 /* partitions: group of every node */
} tb_rule;

#define TB_RULES_MAX (SCN_FAULTS_MAX + 64)

typedef struct tb_timer tb_timer;
typedef struct tb_emulator tb_emulator;
typedef struct tb_pending tb_pending;

/* The process's HTTP request ids, recycled after a quarantine (tb_ids.c). */
typedef struct tb_ids_config {
    uint64_t first;                  /* ids first .. first + count - 1 */
    uint32_t count;
    uint64_t quarantine_ns;          /* finished -> free again */
    void (*on_free)(void *context);  /* ids became free (serve the queue) */
    void *context;
} tb_ids_config;

typedef struct tb_ids {
    uint64_t first;
    uint32_t count;
    uint64_t quarantine_ns;
    void (*on_free)(void *context);
    void *context;
    uint8_t *state;                  /* per id: free, busy, quarantine */
    uint32_t *free_ring;             /* free offsets, FIFO */
    uint32_t free_head;
    uint32_t free_count;
    uint32_t *held_ring;             /* quarantined offsets in finishing order */
    uint64_t *release_ns;            /* per ring slot: CLOCK_MONOTONIC when free */
    uint32_t held_head;
    uint32_t held_count;
    struct event *release;           /* fires when the oldest quarantine ends */
    uint64_t recycled;               /* ids freed again after a request */
} tb_ids;

/* Returns 0 or TB_ENOMEM (then tb__ids_deinit). */
int tb__ids_init(tb_ids *ids, struct event_base *base, const tb_ids_config *config);
void tb__ids_deinit(tb_ids *ids);
bool tb__ids_owns(const tb_ids *ids, uint64_t id);
/* A free id, now busy; UINT64_MAX when none is free. */
uint64_t tb__ids_take(tb_ids *ids);
/* A busy id that never reached a node: free at once. */
void tb__ids_give(tb_ids *ids, uint64_t id);
/* The id's request finished: quarantine, then free. Ignored for ids not
 * owned or not busy. */
void tb__ids_finish(tb_ids *ids, uint64_t id);

typedef struct tb_proc {
    const tb_process_config *config;
    struct event *snapshot_event;    /* publishes the counters (config->snapshot) */
    const scn_scenario *scenario;
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *listener;
    struct event *signal_term;
    struct event *signal_int;
    world_host *host;
    tb_keys keys;
    uint32_t node_count;
    uint64_t workload_requests;      /* ids below this are the scenario's workload */
    struct bufferevent *out[TB_PROCESSES_MAX];
    tb_timer *timers;                /* pending timers, a doubly linked list */
    tb_rule rules[TB_RULES_MAX];
    world_plan_entry *plan;
    uint32_t *plan_tokens;
    uint64_t plan_count;
    tb_pending **pending;            /* per request id: a waiting HTTP request */
    tb_ids ids;                      /* this process's HTTP request ids */
    tb_pending *queue_head;          /* HTTP requests waiting for an id, FIFO */
    tb_pending *queue_tail;
    uint32_t queued;
    uint64_t finished[4];            /* by NODE_REQUEST_* status: this process's clients */
    uint32_t client_next;
    uint64_t latency_counts[TB_LATENCY_BUCKETS + 1];
    double latency_sum_s;
    uint64_t latency_count;
    uint64_t http_rejected;          /* malformed HTTP requests answered 4xx */
    uint64_t admin_denied;           /* admin requests without the token (401) */
    tb_summary summary;
    uint64_t prng_state;             /* loss decisions (testbed may use any randomness) */
    tb_emulator *emulator;           /* --emulate: the scenario's links; else NULL */
    uint64_t chain_checked;          /* heights compared with the shared chain */
    uint64_t chain_published;        /* heights 1 .. this seen published, without a gap */
} tb_proc;

/* tb_node.c */
/* The signals that stop a process (SIGINT, SIGTERM): the launcher forks
 * with them blocked, the process unblocks them once its handlers are in. */
void tb__stop_signals(sigset_t *out);
uint64_t tb__now_ns(const tb_proc *proc);
/* The clock frames carry at run time 'now_ns': CLOCK_MONOTONIC plus the
 * wire offset (tb_process_config). */
uint64_t tb__wire_ns(const tb_proc *proc, uint64_t now_ns);
bool tb__hosts(const tb_proc *proc, uint32_t node_id);
/* Carries out a node's SEND and TIMER effects and answers finished HTTP
 * requests. 'outbox' is the host's, valid until the next host call. */
void tb__effects(tb_proc *proc, uint32_t node_id, const node_outbox *outbox);
/* tb_settle.c: publishes the settled verdicts of a finished request this
 * process's client made (nothing without verification.draw_epoch), and
 * the world's source of every published log (context: the tb_settled). */
void tb__settle_publish(tb_proc *proc, uint64_t request);
bool tb__settle_fetch(void *context, uint64_t request, const world_settle_entry **entries,
                      uint32_t *count);
/* tb_settle.c: compares the heights this process's recorder took since
 * the last call with the shared chain (config->chain), writing those it
 * is first to record. Nothing without a chain. */
void tb__chain_check(tb_proc *proc);
/* tb_settle.c: the world's chain source (context: the tb_proc) -- a
 * published height's transactions, and a request's agreed height, set by
 * the client's process at its first draw (world_chain_block_fn,
 * world_chain_height_fn). */
bool tb__chain_block(void *context, uint64_t height, const uint8_t **bytes, size_t *size);
/* tb_settle.c: copies a claimed height's transactions into the arena;
 * the entry's next state: 2, or 3 when they do not fit (said on stderr,
 * chain->overflow set: the run fails). */
uint32_t tb__chain_payload(const tb_chain *chain, tb_chain_entry *entry, uint64_t height,
                           const uint8_t *bytes, size_t size);
bool tb__chain_height(void *context, uint64_t request, bool claim, uint64_t *height_out);
/* Adds a rule; returns 0 or TB_ENOMEM when the table is full. */
int tb__rule_add(tb_proc *proc, const tb_rule *rule);
void tb__rules_clear(tb_proc *proc);

/* tb_emulate.c: the link emulator of --emulate (see the file's comment). */

typedef struct tb_emulate_config {
    struct event_base *base;
    const scn_network *network;      /* the scenario's latency model, matrix, rates */
    uint32_t node_count;
    const uint16_t *region_of;       /* node_count entries (copied) */
    const uint64_t *uplink_bps_of;   /* node_count entries, > 0 (copied) */
    uint64_t run_seed;
    uint64_t epoch_ns;               /* CLOCK_MONOTONIC at the run's start */
    world_type_stats *types;         /* per message type: drops, copies (borrowed) */
    uint64_t *dropped;               /* frames dropped, added to (borrowed; NULL: none) */
    /* Hands a frame over at its arrival: write it to dest's process.
     * 'frame' is valid for the call. */
    void (*deliver)(void *context, uint32_t dest, const uint8_t *frame, size_t bytes);
    void *context;
} tb_emulate_config;

typedef struct tb_emulate_frame {
    uint32_t source;
    uint32_t dest;
    uint8_t type;                    /* node message type */
    uint64_t wire_bytes;             /* the message's wire size, as the simulator charges */
    uint64_t leave_ns;               /* when the sender's compute for it ends */
    const uint8_t *bytes_at;         /* the encoded frame (copied) */
    size_t bytes;
} tb_emulate_frame;

typedef struct tb_emulate_stats {
    uint64_t sent;                   /* frames given to the emulator */
    uint64_t delivered;              /* copies handed to the writer */
    uint64_t dropped;                /* lost, partitioned, or out of memory */
    uint64_t duplicated;
    uint64_t reordered;
    util_hist lateness_ns;           /* hand-over minus requested arrival */
} tb_emulate_stats;

/* Returns 0 or TB_ENOMEM. Free with tb__emulate_destroy. */
int tb__emulate_create(const tb_emulate_config *config, tb_emulator **out);
/* Frees it; frames still held are lost. NULL is a no-op. */
void tb__emulate_destroy(tb_emulator *emulator);
/* Takes a copy of the frame; its fate is drawn when it leaves. Cannot fail
 * (out of memory loses the frame, counted as dropped). */
void tb__emulate_send(tb_emulator *emulator, const tb_emulate_frame *frame);
/* Starts or ends a network fault on the model (partition: 'groups'; link
 * faults: 'selected', node_count entries each, copied). Returns 0,
 * TB_ENOMEM, or TB_EINVAL for a fault that is not the network's. */
int tb__emulate_fault(tb_emulator *emulator, uint32_t fault_index, const scn_fault *fault,
                      const uint8_t *selected, const uint8_t *groups, bool ending);
/* CLOCK_MONOTONIC since the epoch, as the emulator reads it. */
uint64_t tb__emulate_now_ns(const tb_emulator *emulator);
const tb_emulate_stats *tb__emulate_stats(const tb_emulator *emulator);

/* tb_http.c */
int tb__http_start(tb_proc *proc);
void tb__http_stop(tb_proc *proc);
/* A request finished: answer its HTTP caller, if one waits. */
/* A hosted client finished 'request': answers its HTTP request, if any,
 * from the outcome the client reported (valid for the call). */
void tb__http_finished(tb_proc *proc, uint64_t request, uint32_t status,
                       const node_outcome *outcome);

#endif
