/* met.h -- the results database (SQLite). One file holds many runs; every
 * table is keyed by run_id; the schema is versioned (PRAGMA user_version =
 * MET_SCHEMA_VERSION) and documented in metrics/README.md. The database is
 * in WAL mode and rows are written in batched transactions. metrics/ only
 * observes: nothing here feeds back into a simulation.
 *
 * A run's life: met_run_begin inserts runs(status 'running') and its params
 * in one transaction; rows stream in through the add calls (batched);
 * met_run_finish commits everything and sets the final status
 * ('completed', 'failed' or 'aborted'). A process killed in between leaves
 * 'running', which `infersim runs` shows as incomplete. */
#ifndef MET_MET_H
#define MET_MET_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "scenarios/scn.h"

#define MET_SCHEMA_VERSION 20
/* How long a connection waits for another one (usually another process)
 * to release the lock it needs before it gives up. */
#define MET_BUSY_WAIT_MS 600000  /* 10 minutes: a whole number of them (met__sql_error) */

#define MET_EOPEN -1      /* cannot open or create the file */
#define MET_ESQL -2       /* an SQLite error; met_db_errmsg says which */
#define MET_ESCHEMA -3    /* file has a newer schema, or is not an infersim db */
#define MET_ENOTABLE -4   /* export: unknown table */
#define MET_ENORUN -5     /* no such run */
#define MET_EIO -6        /* writing the export failed */
#define MET_ECORRUPT -7   /* the file fails SQLite's integrity check */
#define MET_ENOMEM -8     /* out of memory */

typedef struct met_db met_db;

typedef enum met_format { MET_FORMAT_CSV = 0, MET_FORMAT_JSON, MET_FORMAT_JSONL } met_format;

typedef struct met_run_info {
    const char *name;
    const char *scenario_sha256;
    const char *git_rev;
    const char *mode;                /* "sim" (the testbed later adds "testbed") */
    uint64_t seed;
    uint32_t nodes;
} met_run_info;

typedef struct met_run_totals {
    uint64_t wall_ms;
    uint64_t sim_ns;
    uint64_t events;
    uint64_t trace_hash;             /* stored as 16 lowercase hex digits */
    const char *check;               /* NULL, "passed" or "failed" */
    const char *error;               /* NULL, or why the run failed */
} met_run_totals;

typedef struct met_node_row {
    uint32_t node_id;
    const char *class_name;
    const char *region;
    const char *behaviour;           /* "honest" until later issues */
    uint64_t messages_sent;
    uint64_t bytes_sent;
    uint64_t messages_received;
    uint64_t bytes_received;
    uint64_t rejected;               /* failed authentication or validation */
    uint64_t delivered;              /* rumors delivered to the application */
    uint64_t crashes;
    double stake;                    /* final stake (schema 3); NaN: no verification (NULL) */
    double reputation;               /* final reputation (schema 3); NaN: NULL */
    double balance;                  /* final balance (schema 4); NaN: NULL */
} met_node_row;

typedef struct met_message_row {
    const char *type;
    uint64_t sent;
    uint64_t bytes_sent;
    uint64_t delivered;
    uint64_t bytes_delivered;
    uint64_t dropped_loss;
    uint64_t dropped_partition;
    uint64_t dropped_crashed;
    uint64_t duplicated;
    uint64_t reordered;
    uint64_t corrupted;
    uint64_t rejected;
} met_message_row;

/* One inference request (schema 2). Strings are borrowed for the call. */
typedef struct met_request_row {
    uint64_t request_id;
    uint32_t client;                 /* node that submitted it */
    uint64_t submitted_ns;
    uint64_t first_token_ns;         /* 0 when no token came back */
    uint64_t finished_ns;            /* 0 when it never finished */
    const char *status;              /* "completed", "failed" or "timeout" */
    uint32_t prompt_tokens;
    uint32_t tokens_out;
    int reference_match;             /* 1: every generated token equals the reference's */
    double argmax_agree;             /* share of steps whose argmax matched the reference */
    double logits_maxabs;            /* largest |logit - reference logit| over steps */
    double logits_cosine;            /* smallest cosine to the reference logits over steps */
    const char *saw_tokens;          /* node ids that saw raw tokens, "3 17 42" */
    const char *saw_activations;     /* node ids that saw only activations */
    /* Output-agreement verification (schema 3); a negative value is NULL
     * (the run has no verification). */
    int verified;                    /* 1: accepted through a committee */
    int accepted_wrong;              /* 1: accepted output outside the rule's tolerance */
    int rounds;                      /* committee rounds used, 1 = first committee */
    /* With model.tokenizer (schema 8); NULL stores NULL. */
    const char *prompt_text;         /* the prompt decoded */
    const char *output_ids;          /* generated token ids, "5 17 9" */
    const char *output_text;         /* the generated ids decoded */
    /* Ledger settlement (schema 10): commit time of the block that carried
     * the request's last verdict; 0 stores NULL. */
    uint64_t settlement_ns;
    /* With workload.failover (schema 12); negative stores NULL. */
    int64_t failovers;               /* replays on a fresh route */
    /* Continuous batching (schema 14): the mean and largest size of the
     * batches its compute calls ran in; batch_size_max 0 stores NULL for
     * both (no class batches, or no call ran). */
    double batch_size_mean;
    uint32_t batch_size_max;
    /* A ledger section (schema 18): the committed height its committees
     * were drawn at; negative stores NULL. */
    int64_t ledger_height;
} met_request_row;

/* A block the ledger committed (schema 10). */
typedef struct met_block_row {
    uint64_t height;
    uint64_t view;
    uint32_t proposer;
    uint32_t committer;              /* the honest validator whose commit came first */
    uint64_t t_ns;                   /* commit time */
    uint32_t tx_count;
    uint32_t settled;                /* transactions applied to the ledger */
    uint64_t bytes;                  /* transaction bytes */
    bool forked;                     /* another honest validator committed another block */
    uint32_t penalties;              /* penalties applied (schema 17) */
    uint32_t refused;                /* penalties refused without valid evidence (schema 17) */
} met_block_row;

/* An honest validator entered a view by a timeout certificate (schema
 * 10); reason "tc" (or "qc"). Strings are borrowed for the call. */
typedef struct met_view_change_row {
    uint32_t validator;
    uint64_t view;
    uint64_t t_ns;
    const char *reason;
} met_view_change_row;

/* A node joined or left under churn (schema 15): event "join" or
 * "leave"; segment the one a joiner took (or a leaver served), -1 for
 * none (NULL in the table). */
typedef struct met_churn_row {
    uint64_t t_ns;
    uint32_t node_id;
    const char *event;
    int32_t segment;
} met_churn_row;

/* One (request, segment): who served it and what it cost (schema 2). */
typedef struct met_segment_row {
    uint64_t request_id;
    uint32_t segment;
    uint32_t node_id;
    const char *class_name;
    const char *kernel;
    uint32_t first_layer;
    uint32_t layer_count;
    uint64_t start_ns;               /* first compute started */
    uint64_t end_ns;                 /* last compute finished */
    uint32_t calls;                  /* forward calls (prefill + decode steps) */
    uint64_t flops;
    uint64_t bytes_in;
    uint64_t bytes_out;
} met_segment_row;

/* One node's execution of one (request, segment) (schema 6, table
 * executions): the segment row's columns, for every committee member that
 * received or computed the hop. start_ns and end_ns are NULL when calls
 * is 0 (it received the input and never computed). */
typedef met_segment_row met_execution_row;

/* One member of one verification decision (schema 6, table decisions).
 * Strings are borrowed for the call; role is one of 'member', 'sampled',
 * 'executor', 'checker', 'challenger'; action 'settle' or 'round'; verdict
 * 'agreed', 'deviated', 'proven', 'timeout' or 'not_judged'; dispute
 * 'none', 'reveals' or 'referee'. */
typedef struct met_decision_row {
    uint64_t request_id;
    uint32_t segment;
    uint32_t step;
    uint32_t round;
    uint32_t member;                 /* index in the committee */
    const char *protocol;
    uint32_t member_count;
    uint32_t node_id;
    const char *role;
    const char *behaviour;           /* the node's behaviour at the decision */
    uint64_t t_ns;
    const char *action;
    int committed;                   /* 0/1 */
    int answered;                    /* 0/1: revealed, valid or not */
    int valid;                       /* 0/1: revealed a valid output */
    int equivocated;                 /* 0/1 */
    const char *verdict;
    int accepted;                    /* 0/1: its output is the accepted one */
    const char *dispute;
    int64_t spot_check;              /* crossval: 0/1 checkers were drawn; -1: NULL */
    double reputation_before;
    double reputation_after;
    double stake_before;
    double stake_after;
    int64_t skipped;                 /* schema 16: 0/1 suspected and gone on without;
                                      * -1: NULL (verification.suspect_after off) */
} met_decision_row;

/* Honest divergence of one request on one hardware class (schema 2): the
 * whole model run with that class's kernel on the request's tokens,
 * against the reference (sequential) kernel. */
typedef struct met_divergence_row {
    uint64_t request_id;
    const char *class_name;
    const char *kernel;
    double logits_maxabs;
    double logits_cosine;
    double argmax_agree;
    /* Schema 13: the same with the privacy section's noise (NaN: none, NULL). */
    double noised_logits_maxabs;
    double noised_logits_cosine;
    double noised_argmax_agree;
} met_divergence_row;

/* Who saw what of one request (schema 9, table privacy): one row per node
 * that took part -- the client and every node that received or ran one of
 * its hops (every committee member). role is "client" or "server".
 * saw_activations is the lowest segment >= 1 whose input the node received
 * (-1: none, stored NULL). A node in a TEE saw nothing in the clear: its
 * saw_ fields are 0. epsilon is the request's (NaN: no privacy section,
 * stored NULL); reconstruction the share of prompt tokens the node
 * recovered (NaN: not attacked, stored NULL). Schema 13: epsilon_received
 * composes only the releases of the boundaries this node received (NaN:
 * no privacy section); generation_steps the generation steps it attacked
 * (-1: none, NULL) and generation_reconstruction the share of their tokens
 * it recovered (NaN: NULL). Strings are borrowed. */
typedef struct met_privacy_row {
    uint64_t request_id;
    uint32_t node_id;
    const char *role;
    int saw_tokens;                  /* 0/1: the prompt or generated tokens in the clear */
    int64_t saw_activations;
    int saw_logits;                  /* 0/1 */
    int in_tee;                      /* 0/1 */
    double epsilon;
    double reconstruction;
    double epsilon_received;
    int64_t generation_steps;
    double generation_reconstruction;
} met_privacy_row;

/* One segment a node serves (schema 13, table weights): it holds that
 * segment's layers [first_layer, first_layer + layer_count) -- and the
 * embedding (first segment) or final norm and classifier (last) -- which
 * is 'params' parameters, sealed when in_tee. */
typedef struct met_weights_row {
    uint32_t node_id;
    uint32_t segment;
    uint32_t first_layer;
    uint32_t layer_count;
    uint64_t params;
    int in_tee;                      /* 0/1 */
} met_weights_row;

typedef struct met_fault_row {
    uint32_t fault_index;            /* position in the scenario's faults list */
    const char *kind;
    const char *action;              /* "start" or "end" */
    uint64_t t_ns;
    uint32_t nodes_affected;
    const char *detail;
} met_fault_row;

/* A violation (schema 3). violation_id numbers a run's violations from 0;
 * kind is one of met_violation_kinds. Strings are borrowed for the call. */
typedef struct met_violation_row {
    uint64_t violation_id;
    const char *kind;
    uint64_t t_ns;                   /* simulated time it was detected */
    int64_t request_id;              /* -1: NULL */
    int32_t segment;                 /* -1: NULL */
    int64_t node_id;                 /* -1: NULL */
    const char *detail;              /* NULL or free text */
    int64_t step;                    /* the generation step; -1: NULL (a ledger fork) */
} met_violation_row;

/* The violation kinds, in the order of world_violation_kind (sim/sim.h):
 * "accepted_wrong", "honest_penalised", "double_finalization",
 * "liveness", "ledger_fork", "unjust_slash"; NULL-terminated. */
extern const char *const met_violation_kinds[];

/* Opens or creates 'path', creating or checking the schema; an existing
 * file must pass SQLite's quick_check first (MET_ECORRUPT otherwise: a
 * damaged file is never appended to). On success
 * *out is owned by the caller (met_db_close). Returns 0 or a MET_E* code;
 * on error *out is NULL and, if 'why' is non-NULL, a message is copied
 * into why[why_size]. */
int met_db_open(const char *path, met_db **out, char *why, size_t why_size);

/* Opens an existing results database for reading only (listing, export):
 * a file this process may not write, or one on read-only media. The schema
 * must be the build's (an older file needs one writable open to upgrade).
 * Writes through the handle fail with MET_ESQL. Returns 0 or a MET_E* code
 * as met_db_open does. */
int met_db_open_read(const char *path, met_db **out, char *why, size_t why_size);
/* Commits any open batch and closes. NULL is a no-op. */
void met_db_close(met_db *db);
/* Removes a closed database file and the WAL and shared-memory files
 * SQLite keeps beside it, those that exist. Errors are ignored. */
void met_db_remove(const char *path);
/* Last SQLite error message; valid until the next call on 'db'. */
const char *met_db_errmsg(const met_db *db);
const char *met_strerror(int code);

/* A wait for the file's lock (another process writing it: up to 10
 * minutes) gives up at once when *signals is no longer what it is at this
 * call -- a command's count of stop signals, set by its handler -- so that
 * Ctrl-C is not held up by another process. The write that waited then
 * fails with MET_ESQL, and so do later ones that would wait. NULL: wait. */
void met_db_stop_on(met_db *db, const volatile sig_atomic_t *signals);
/* Whether a wait for the lock gave up for such a signal. */
bool met_db_stopped(const met_db *db);

/* Inserts the run (status 'running', started_at now in UTC ISO-8601) and its
 * params in one committed transaction, so the run is visible at once. */
int met_run_begin(met_db *db, const met_run_info *info, const scn_param *params,
                  size_t param_count, int64_t *run_id_out);

/* Rows that arrive while the caller computes (a simulation's samples and
 * faults): held in memory, strings copied, and written in order in a
 * transaction of their own every few thousand rows and at met_flush /
 * met_run_finish / met_db_close, so that the file's write lock is not held
 * while the caller runs and other processes can write the same file. */
int met_timeseries_add(met_db *db, int64_t run_id, uint64_t t_ns, const char *name, double value);
int met_fault_add(met_db *db, int64_t run_id, const met_fault_row *row);
int met_nodes_add(met_db *db, int64_t run_id, const met_node_row *rows, size_t count);
int met_messages_add(met_db *db, int64_t run_id, const met_message_row *rows, size_t count);
int met_requests_add(met_db *db, int64_t run_id, const met_request_row *rows, size_t count);
int met_segments_add(met_db *db, int64_t run_id, const met_segment_row *rows, size_t count);
int met_divergence_add(met_db *db, int64_t run_id, const met_divergence_row *rows,
                       size_t count);
int met_executions_add(met_db *db, int64_t run_id, const met_execution_row *rows, size_t count);
int met_decisions_add(met_db *db, int64_t run_id, const met_decision_row *rows, size_t count);
int met_privacy_add(met_db *db, int64_t run_id, const met_privacy_row *rows, size_t count);
int met_weights_add(met_db *db, int64_t run_id, const met_weights_row *rows, size_t count);
int met_violations_add(met_db *db, int64_t run_id, const met_violation_row *rows,
                       size_t count);
int met_blocks_add(met_db *db, int64_t run_id, const met_block_row *rows, size_t count);
int met_churn_add(met_db *db, int64_t run_id, const met_churn_row *rows, size_t count);
int met_view_changes_add(met_db *db, int64_t run_id, const met_view_change_row *rows,
                         size_t count);
/* Sets (inserts or replaces) one params row of an existing run: what a
 * command learns about a run after it began, e.g. calibrate.pair, the run
 * `calibrate` compared it with. Borrowed strings. Returns 0 or MET_ESQL. */
int met_param_set(met_db *db, int64_t run_id, const char *key, const char *value);
/* A run-level measured value, e.g. delivery_ratio or latency_p99, and its
 * unit ("ns", "ratio", ...: SCN_METRICS's for the simulator's metrics;
 * NULL stores NULL). */
int met_metric_add(met_db *db, int64_t run_id, const char *name, double value,
                   const char *unit);
/* An expectation's outcome: metric, operator text (">="), expected, actual. */
int met_expect_add(met_db *db, int64_t run_id, const char *metric, const char *op,
                   double expected, double actual, int passed);
/* Commits the open batch. */
int met_flush(met_db *db);
/* Around a run's bulk rows (segments, executions, decisions, privacy):
 * begin commits the open batch and, in an IMMEDIATE transaction of its
 * own, drops the per-node index of each of those tables that holds no row
 * yet; end builds every missing one from sorted keys in another
 * (met_run_finish and met_db_close call it too). A writer that stops in
 * between leaves the indexes missing; the next writer's open creates them.
 * Returns 0 or MET_ESQL. */
int met_rows_begin(met_db *db);
int met_rows_end(met_db *db);

/* Commits everything, then sets status, finished_at and totals. */
int met_run_finish(met_db *db, int64_t run_id, const char *status, const met_run_totals *totals);

/* Writes a table of runs in run_id order (id, name, mode, sweep id, seed,
 * status, events, sim time, wall time, grid point; 'running' shown as
 * "running (incomplete)", a missing value as "-") to 'out'. */
int met_runs_list(met_db *db, FILE *out);

/* Prints the verification protocols side by side: one row per protocol
 * (and scenario name when 'by_name'), the mean over its completed runs of
 * the protocol_comparison view's columns, then the draws' capture rate
 * pooled over those runs with its 95 % Wilson interval beside the closed
 * form's prediction (met_predictions). Returns 0 or MET_ESQL/MET_EIO. */
int met_compare(met_db *db, FILE *out, bool by_name);

/* Writes 'table' (every row, or one run's when run_id > 0) in 'format'.
 * Tables: runs, params, nodes, faults, timeseries, messages, metrics,
 * expectations, requests, segments, divergence, violations, run_summary.
 * Returns MET_ENOTABLE for any other name. */
int met_export(met_db *db, const char *table, int64_t run_id, met_format format, FILE *out);
/* The name of the index-th table met_export writes ("wide" last), or NULL
 * past the end: the list the command line offers. Cannot fail. */
const char *met_export_table_name(size_t index);
/* Whether met_export's 'table' has a run_id column (--run applies). */
bool met_export_table_has_run(const char *table);

/* Whether run_id exists (1), does not (0), or an error (< 0). */
int met_run_exists(met_db *db, int64_t run_id);

/* One column of a met_query row. text is NULL for NULL; number is the
 * value as a double (0 for NULL or non-numeric text). */
typedef struct met_value {
    int is_null;
    double number;
    const char *text;
} met_value;

/* Called once per row; values are valid during the call only. A non-zero
 * return stops the query and is returned by met_query. */
typedef int (*met_row_fn)(void *context, size_t count, const met_value *values);

/* Runs one read-only SELECT whose text is fixed by the caller (never
 * built from user input), with params bound as ?1..?n (as integers when
 * all digits, else as text), calling row for every result row (at most 32
 * columns). Returns 0, a row callback's non-zero code, or MET_ESQL. */
int met_query(met_db *db, const char *sql, const char *const *params, size_t param_count,
              met_row_fn row, void *context);

/* Run 'run_id''s measured frequencies beside the closed forms that predict
 * them, one row each (met_export.c): draw capture (captured_draws of
 * capture_draws against capture_rate_predicted), crossval's spot checks
 * (hops checked against verification.check_probability), and the
 * penalties that took a node to the reputation floor (floor_penalties
 * against floor_penalties_predicted; "(exact)" in place of an interval). Each row's columns, as text: quantity,
 * "x of n", measured rate, its 95 % Wilson interval, the prediction, and
 * "yes" or "no" for the prediction inside the interval. A run with neither
 * gives no row. Returns 0, a callback's non-zero, or MET_ESQL. */
int met_predictions(met_db *db, const char *run_id, met_row_fn row, void *context);

/* Which duration of a stored request met_request_durations reads. */
typedef enum met_span {
    MET_SPAN_LATENCY,                /* finished - submitted, completed requests */
    MET_SPAN_FIRST_TOKEN,            /* first_token - submitted, requests with a token */
    MET_SPAN_FINALITY,               /* the latency plus 'window_ns', completed requests */
    MET_SPAN_SETTLEMENT              /* settlement - submitted, finished requests that settled
                                      * on the ledger (settlement_ns set) */
} met_span;

/* Every stored request of 'run_id' with the span, as nanoseconds, into a
 * new array (*values_out, free with util_free; NULL when none) of
 * *count_out values, in request order. For exact percentiles of a run
 * whose requests were written by several processes (the testbed). Returns
 * 0, MET_ENOMEM or MET_ESQL. */
int met_request_durations(met_db *db, int64_t run_id, met_span span, uint64_t window_ns,
                          uint64_t **values_out, uint64_t *count_out);

/* ---- sweeps and merging (schema 5, met_sweep.c) ---- */

/* Finds or inserts the sweeps row of the base scenario 'scenario_sha256'
 * and sets its name, spec (human text of the grid), seeds and points to
 * the latest values. Returns 0 and *sweep_id_out, or MET_ESQL. */
int met_sweep_register(met_db *db, const char *name, const char *scenario_sha256,
                       const char *spec, uint32_t seeds, uint64_t points,
                       int64_t *sweep_id_out);

/* Makes run_id a run of grid point 'point' (its canonical text, e.g.
 * "gossip.fanout=4 network.loss=0.1") of sweep_id, and stores the
 * 'count' swept keys and values in sweep_values. Borrowed strings. */
int met_run_tag(met_db *db, int64_t run_id, int64_t sweep_id, const char *point,
                const char *const *keys, const char *const *values, size_t count);

/* 1 when sweep_id has a completed run of 'point' with 'seed', 0 when
 * not, or a negative MET_E* code. */
int met_sweep_run_done(met_db *db, int64_t sweep_id, const char *point, uint64_t seed);

/* How a merge went: runs copied, runs skipped because 'db' already holds
 * the same run (same scenario_sha256, seed and grid point, and either
 * completed there or with the same status), and copied runs that were
 * still 'running' in the source (copied as 'failed'). */
typedef struct met_merge_stats {
    uint64_t copied;
    uint64_t skipped;
    uint64_t incomplete;             /* 'running', its process gone: copied as failed */
    uint64_t running;                /* 'running' in a live process: not copied */
    uint64_t replaced;               /* ended since an earlier merge copied them as failed:
                                      * that copy dropped, the ended run copied */
    int64_t last_run_id;             /* run_id in 'db' of the last copied run, or 0 */
} met_merge_stats;

/* What to stamp on copied runs that belong to no sweep in the source:
 * the sweep runner merging a one-run database (NULL: nothing). */
typedef struct met_merge_tag {
    int64_t sweep_id;
    const char *point;
    const char *const *keys;
    const char *const *values;
    size_t count;
    const char *incomplete_error;    /* runs.error for a run left 'running' */
} met_merge_tag;

/* Copies every run of the results database file 'source' (with all its
 * rows in every table keyed by run_id, under new run ids, and its sweeps
 * matched by scenario_sha256) into 'db', skipping runs 'db' already has
 * (see met_merge_stats), in one transaction: all or nothing. 'source' is
 * opened as by met_db_open (an older schema is upgraded first). Returns 0,
 * MET_EOPEN / MET_ESCHEMA when 'source' cannot be used (message in
 * met_db_errmsg(db)), or MET_ESQL. */
int met_merge(met_db *db, const char *source, const met_merge_tag *tag,
              met_merge_stats *stats);

#endif
