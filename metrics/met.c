/* met.c -- the results database: open/create with schema checks, the
 * in-place upgrade of older versions and the comparison with the schema
 * this build creates (metrics/README.md), the run lifecycle and batched
 * row writes. Every add call joins one lazily opened transaction that is
 * committed every MET_BATCH_ROWS rows and at met_flush,
 * met_run_finish and met_db_close, so a long run costs few fsyncs; the rows
 * that come while a simulation runs (samples, faults) wait in memory
 * instead, so that no transaction -- and no lock on the file -- stays open
 * while the caller computes (rows in waiting, below). Prepared
 * statements are cached in the met_db. SQLite errors never crash: they come
 * back as MET_ESQL with the message in met_db_errmsg. The only clock read
 * is the UTC wall time stamped into runs.started_at and runs.finished_at.
 * Export and the runs listing live in met_export.c. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics/met_int.h"
#include "util/alloc.h"
#include "util/assert.h"

/* The schema, versioned by PRAGMA user_version (metrics/README.md). Any
 * change to a table, column, index or the view bumps MET_SCHEMA_VERSION,
 * appends the new DDL as a met_schema_sql step (never edits an old one)
 * and is documented in the README. A new file runs every step; a file at
 * version v runs steps v.. and recreates the view, in one transaction. */

/* Version 1: runs and the gossip observations. */
static const char met_schema_v1_sql[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE runs ("
    " run_id INTEGER PRIMARY KEY, name TEXT, mode TEXT, scenario_sha256 TEXT,"
    " seed INTEGER, git_rev TEXT,"
    " status TEXT NOT NULL CHECK (status IN ('running','completed','failed','aborted')),"
    " check_status TEXT CHECK (check_status IS NULL OR check_status IN ('passed','failed')),"
    " started_at TEXT, finished_at TEXT, wall_ms INTEGER, sim_ns INTEGER, events INTEGER,"
    " trace_hash TEXT, nodes INTEGER, error TEXT);"
    "CREATE TABLE params ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), key TEXT NOT NULL, value TEXT,"
    " PRIMARY KEY (run_id, key));"
    "CREATE TABLE nodes ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), node_id INTEGER NOT NULL,"
    " class TEXT, region TEXT, behaviour TEXT, messages_sent INTEGER, bytes_sent INTEGER,"
    " messages_received INTEGER, bytes_received INTEGER, rejected INTEGER,"
    " delivered INTEGER, crashes INTEGER, PRIMARY KEY (run_id, node_id));"
    "CREATE TABLE faults ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), fault_index INTEGER, kind TEXT,"
    " action TEXT, t_ns INTEGER, nodes_affected INTEGER, detail TEXT);"
    "CREATE INDEX faults_run ON faults(run_id);"
    "CREATE TABLE timeseries ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), t_ns INTEGER, name TEXT,"
    " value REAL);"
    "CREATE INDEX timeseries_run ON timeseries(run_id, name, t_ns);"
    "CREATE TABLE messages ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), type TEXT NOT NULL, sent INTEGER,"
    " bytes_sent INTEGER, delivered INTEGER, bytes_delivered INTEGER,"
    " dropped_loss INTEGER, dropped_partition INTEGER, dropped_crashed INTEGER,"
    " duplicated INTEGER, reordered INTEGER, corrupted INTEGER, rejected INTEGER,"
    " PRIMARY KEY (run_id, type));"
    "CREATE TABLE metrics ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), name TEXT NOT NULL, value REAL,"
    " PRIMARY KEY (run_id, name));"
    "CREATE TABLE expectations ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), metric TEXT, op TEXT,"
    " expected REAL, actual REAL, passed INTEGER);"
    "CREATE INDEX expectations_run ON expectations(run_id);";

/* Version 2: split inference -- requests, their segments, and the honest
 * divergence of each hardware class against the reference kernel. */
static const char met_schema_v2_sql[] =
    "CREATE TABLE requests ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), request_id INTEGER NOT NULL,"
    " client INTEGER, submitted_ns INTEGER, first_token_ns INTEGER, finished_ns INTEGER,"
    " status TEXT, prompt_tokens INTEGER, tokens_out INTEGER, reference_match INTEGER,"
    " argmax_agree REAL, logits_maxabs REAL, logits_cosine REAL, saw_tokens TEXT,"
    " saw_activations TEXT, PRIMARY KEY (run_id, request_id));"
    "CREATE TABLE segments ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), request_id INTEGER NOT NULL,"
    " segment INTEGER NOT NULL, node_id INTEGER, class TEXT, kernel TEXT,"
    " first_layer INTEGER, layer_count INTEGER, start_ns INTEGER, end_ns INTEGER,"
    " calls INTEGER, flops INTEGER, bytes_in INTEGER, bytes_out INTEGER,"
    " PRIMARY KEY (run_id, request_id, segment));"
    "CREATE INDEX segments_node ON segments(run_id, node_id);"
    "CREATE TABLE divergence ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), request_id INTEGER NOT NULL,"
    " class TEXT NOT NULL, kernel TEXT, logits_maxabs REAL, logits_cosine REAL,"
    " argmax_agree REAL, PRIMARY KEY (run_id, request_id, class));";

/* Version 3: output-agreement verification (committees) -- final stake
 * and reputation per node, per-request verification outcome, and the
 * safety violations the simulator's ground truth detected. */
static const char met_schema_v3_sql[] =
    "ALTER TABLE nodes ADD COLUMN stake REAL;"
    "ALTER TABLE nodes ADD COLUMN reputation REAL;"
    "ALTER TABLE requests ADD COLUMN verified INTEGER;"
    "ALTER TABLE requests ADD COLUMN accepted_wrong INTEGER;"
    "ALTER TABLE requests ADD COLUMN rounds INTEGER;"
    "CREATE TABLE violations ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), violation_id INTEGER NOT NULL,"
    " kind TEXT NOT NULL, t_ns INTEGER, request_id INTEGER, segment INTEGER,"
    " node_id INTEGER, detail TEXT, PRIMARY KEY (run_id, violation_id));";

const char *const met_violation_kinds[] = {"accepted_wrong", "honest_penalised",
                                           "double_finalization", "liveness", "ledger_fork",
                                           "unjust_slash", NULL};

/* Version 4: the verification protocols' economics -- every node's final
 * balance (stake plus fees and slashed shares earned). The comparison of
 * protocols is a view (met_view_sql). */
static const char met_schema_v4_sql[] = "ALTER TABLE nodes ADD COLUMN balance REAL;";

/* Version 5: sweeps -- a sweep's runs share a sweeps row (one per base
 * scenario); every run of a sweep names its grid point and the values of
 * the swept keys (sweep_values); student_t holds the quantiles for the
 * confidence intervals of the sweep_summary view (mean, standard deviation
 * and 95 % Student t interval of every metric over the seeds of a grid
 * point). Self-contained: it only adds. */
static const char met_schema_v5_sql[] =
    "CREATE TABLE sweeps ("
    " sweep_id INTEGER PRIMARY KEY, name TEXT, scenario_sha256 TEXT NOT NULL UNIQUE,"
    " spec TEXT, seeds INTEGER, points INTEGER, created_at TEXT);"
    "ALTER TABLE runs ADD COLUMN sweep_id INTEGER REFERENCES sweeps(sweep_id);"
    "ALTER TABLE runs ADD COLUMN point TEXT;"
    "CREATE INDEX runs_sweep ON runs(sweep_id, point, seed);"
    "CREATE TABLE sweep_values ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), key TEXT NOT NULL, value TEXT,"
    " PRIMARY KEY (run_id, key));"
    "CREATE TABLE student_t (df INTEGER PRIMARY KEY, t975 REAL NOT NULL);"
    "INSERT INTO student_t VALUES (1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764),"
    " (5, 2.5706), (6, 2.4469), (7, 2.3646), (8, 2.3060), (9, 2.2622), (10, 2.2281),"
    " (11, 2.2010), (12, 2.1788), (13, 2.1604), (14, 2.1448), (15, 2.1314), (16, 2.1199),"
    " (17, 2.1098), (18, 2.1009), (19, 2.0930), (20, 2.0860), (21, 2.0796), (22, 2.0739),"
    " (23, 2.0687), (24, 2.0639), (25, 2.0595), (26, 2.0555), (27, 2.0518), (28, 2.0484),"
    " (29, 2.0452), (30, 2.0423), (40, 2.0211), (50, 2.0086), (60, 2.0003), (80, 1.9901),"
    " (100, 1.9840), (120, 1.9799), (200, 1.9719), (500, 1.9647), (1000, 1.9623);"
    "CREATE VIEW sweep_summary AS"
    " WITH v AS (SELECT r.sweep_id, r.point, m.name AS metric, m.value FROM runs r"
    "  JOIN metrics m ON m.run_id = r.run_id WHERE r.sweep_id IS NOT NULL"
    "  AND r.status = 'completed' AND m.value IS NOT NULL),"
    " a AS (SELECT sweep_id, point, metric, count(*) AS n, avg(value) AS mean FROM v"
    "  GROUP BY sweep_id, point, metric),"
    " d AS (SELECT a.sweep_id, a.point, a.metric, a.n, a.mean,"
    "  CASE WHEN a.n > 1 THEN sum((v.value - a.mean) * (v.value - a.mean)) / (a.n - 1) END"
    "  AS variance FROM a JOIN v ON v.sweep_id = a.sweep_id AND v.point = a.point"
    "  AND v.metric = a.metric GROUP BY a.sweep_id, a.point, a.metric),"
    " e AS (SELECT d.*, (SELECT t975 FROM student_t WHERE df <= d.n - 1 ORDER BY df DESC"
    "  LIMIT 1) AS t FROM d)"
    " SELECT sweep_id, point, metric, n, mean, variance, sqrt(variance) AS stddev, t,"
    "  mean - t * sqrt(variance / n) AS ci95_low, mean + t * sqrt(variance / n) AS ci95_high"
    " FROM e;";

/* Version 6: who did what under verification. 'executions' has one row
 * per node that received or computed a (request, segment) -- every
 * committee member, where 'segments' (kept as it was, so old queries and
 * files keep their meaning) holds one server per hop; 'decisions' one row
 * per member of every decision that settled a step or gave its committee
 * up. Self-contained: it only adds. */
static const char met_schema_v6_sql[] =
    "CREATE TABLE executions ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), request_id INTEGER NOT NULL,"
    " segment INTEGER NOT NULL, node_id INTEGER NOT NULL, class TEXT, kernel TEXT,"
    " first_layer INTEGER, layer_count INTEGER, start_ns INTEGER, end_ns INTEGER,"
    " calls INTEGER, flops INTEGER, bytes_in INTEGER, bytes_out INTEGER,"
    " PRIMARY KEY (run_id, request_id, segment, node_id));"
    "CREATE INDEX executions_node ON executions(run_id, node_id);"
    "CREATE TABLE decisions ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), request_id INTEGER NOT NULL,"
    " segment INTEGER NOT NULL, step INTEGER NOT NULL, round INTEGER NOT NULL,"
    " member INTEGER NOT NULL, protocol TEXT, member_count INTEGER, node_id INTEGER,"
    " role TEXT CHECK (role IN ('member','sampled','executor','checker','challenger')),"
    " behaviour TEXT, t_ns INTEGER,"
    " action TEXT CHECK (action IN ('settle','round')),"
    " committed INTEGER, answered INTEGER, valid INTEGER, equivocated INTEGER,"
    " verdict TEXT CHECK (verdict IN ('agreed','deviated','proven','timeout','not_judged')),"
    " accepted INTEGER,"
    " dispute TEXT CHECK (dispute IN ('none','reveals','referee')),"
    " spot_check INTEGER,"
    " reputation_before REAL, reputation_after REAL, stake_before REAL, stake_after REAL,"
    " PRIMARY KEY (run_id, request_id, segment, step, round, member));"
    "CREATE INDEX decisions_node ON decisions(run_id, node_id);";

/* Version 7: every metric row names its unit (SCN_METRICS's unit for the
 * simulator's metrics); NULL in rows written before. Self-contained: it
 * only adds. */
static const char met_schema_v7_sql[] = "ALTER TABLE metrics ADD COLUMN unit TEXT;";

/* Version 8: what the network answered, as text. With model.tokenizer a
 * request row keeps its prompt decoded, its generated ids ("5 17 9") and
 * their text; NULL otherwise and in rows written before. Only adds. */
static const char met_schema_v8_sql[] =
    "ALTER TABLE requests ADD COLUMN prompt_text TEXT;"
    "ALTER TABLE requests ADD COLUMN output_ids TEXT;"
    "ALTER TABLE requests ADD COLUMN output_text TEXT;";

/* Version 9: privacy -- who saw a request's tokens, activations (which
 * boundary) or logits, whether in a TEE, the epsilon the request spent and
 * what a curious node reconstructed. Self-contained: it only adds. */
static const char met_schema_v9_sql[] =
    "CREATE TABLE privacy ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), request_id INTEGER NOT NULL,"
    " node_id INTEGER NOT NULL, role TEXT CHECK (role IN ('client','server')),"
    " saw_tokens INTEGER, saw_activations INTEGER, saw_logits INTEGER, in_tee INTEGER,"
    " epsilon REAL, reconstruction REAL, PRIMARY KEY (run_id, request_id, node_id));"
    "CREATE INDEX privacy_node ON privacy(run_id, node_id);";

/* Version 10: the settlement ledger -- each request's settlement time (the
 * commit of the block that carried its last verdict; NULL without ledger
 * settlement and in rows written before), the committed blocks and the
 * view changes of honest validators. Only adds. */
static const char met_schema_v10_sql[] =
    "ALTER TABLE requests ADD COLUMN settlement_ns INTEGER;"
    "CREATE TABLE blocks ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), height INTEGER NOT NULL,"
    " view INTEGER, proposer INTEGER, committer INTEGER, t_ns INTEGER, tx_count INTEGER,"
    " settled INTEGER, bytes INTEGER, forked INTEGER, PRIMARY KEY (run_id, height));"
    "CREATE TABLE view_changes ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), validator INTEGER NOT NULL,"
    " view INTEGER NOT NULL, t_ns INTEGER, reason TEXT CHECK (reason IN ('qc','tc')),"
    " PRIMARY KEY (run_id, validator, view));";

/* Version 11 changes nothing: an empty step (the number was skipped). */
static const char met_schema_reserved_sql[] = "";

/* Version 12: failover. A request row keeps how many times its client
 * replayed it on a fresh route (NULL without workload.failover and in rows
 * written before). Only adds. */
static const char met_schema_v12_sql[] = "ALTER TABLE requests ADD COLUMN failovers INTEGER;";

/* Version 13: privacy, continued. The privacy table gains what a curious
 * node recovered of the generated tokens (from the single row of each
 * generation step it received) and the epsilon of the releases that node
 * itself received (its boundaries only); divergence gains each class's
 * distance from the reference with the noise on; 'weights' has one row per (node,
 * segment it serves): which layers' weights it holds, how many parameters,
 * and whether sealed in a TEE. Only adds. */
static const char met_schema_v13_sql[] =
    "ALTER TABLE privacy ADD COLUMN epsilon_received REAL;"
    "ALTER TABLE privacy ADD COLUMN generation_steps INTEGER;"
    "ALTER TABLE privacy ADD COLUMN generation_reconstruction REAL;"
    "ALTER TABLE divergence ADD COLUMN noised_logits_maxabs REAL;"
    "ALTER TABLE divergence ADD COLUMN noised_logits_cosine REAL;"
    "ALTER TABLE divergence ADD COLUMN noised_argmax_agree REAL;"
    "CREATE TABLE weights ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), node_id INTEGER NOT NULL,"
    " segment INTEGER NOT NULL, first_layer INTEGER, layer_count INTEGER, params INTEGER,"
    " in_tee INTEGER, PRIMARY KEY (run_id, node_id, segment));";

/* Version 16: failure detection. A decision row says whether the client
 * suspected the member (silent for verification.suspect_after) and closed
 * a phase without it, so it was not judged; NULL without suspect_after and
 * in rows written before. Only adds. */
static const char met_schema_v16_sql[] = "ALTER TABLE decisions ADD COLUMN skipped INTEGER;";

/* Version 14: continuous batching. A request row keeps the mean and the
 * largest size of the batches its compute calls ran in (NULL when no class
 * sets nodes.classes[].max_batch above 1, and in rows written before).
 * Only adds. */
static const char met_schema_v14_sql[] =
    "ALTER TABLE requests ADD COLUMN batch_size_mean REAL;"
    "ALTER TABLE requests ADD COLUMN batch_size_max INTEGER;";
/* Version 15: churn -- one row per node that joined or left, with the
 * segment a joiner took (or a leaver served). Self-contained: it only adds. */
static const char met_schema_v15_sql[] =
    "CREATE TABLE churn ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), t_ns INTEGER NOT NULL,"
    " node_id INTEGER NOT NULL, event TEXT CHECK (event IN ('join','leave')),"
    " segment INTEGER);"
    "CREATE INDEX churn_run ON churn(run_id, t_ns);";

/* Version 17: evidence on the ledger. A block row says how many penalties
 * it applied (with verified evidence under ledger.evidence) and how many it
 * carried that the state machine refused for want of valid evidence (NULL
 * in rows written before). Only adds. */
static const char met_schema_v17_sql[] =
    "ALTER TABLE blocks ADD COLUMN penalties INTEGER;"
    "ALTER TABLE blocks ADD COLUMN refused INTEGER;";

/* Version 18: settlement by consensus. A request row says at which
 * committed height of the ledger its committees were drawn (NULL without a
 * ledger section, for a request never drawn, and in rows written before).
 * Only adds. */
static const char met_schema_v18_sql[] = "ALTER TABLE requests ADD COLUMN ledger_height INTEGER;";

/* Version 19: a violation's generation step as a column (it was only in
 * the detail's text): what joins it with its decisions rows. NULL for a
 * ledger fork (a height, not a step) and in rows written before. Only
 * adds. */
static const char met_schema_v19_sql[] = "ALTER TABLE violations ADD COLUMN step INTEGER;";

/* Version 20: the process that writes a run ("HOST PID START", START its
 * start time in clock ticks after boot), so that a 'running' run whose
 * process is gone can be told from one still going in another process
 * writing the same file. NULL in rows written before. Only adds. */
static const char met_schema_v20_sql[] = "ALTER TABLE runs ADD COLUMN writer TEXT;";

/* met_schema_sql[v - 1] takes a file from version v - 1 to v. */
static const char *const met_schema_sql[MET_SCHEMA_VERSION] = {
    met_schema_v1_sql,
    met_schema_v2_sql,
    met_schema_v3_sql,
    met_schema_v4_sql,
    met_schema_v5_sql,
    met_schema_v6_sql,
    met_schema_v7_sql,
    met_schema_v8_sql,
    met_schema_v9_sql,
    met_schema_v10_sql,
    met_schema_reserved_sql,
    met_schema_v12_sql,
    met_schema_v13_sql,
    met_schema_v14_sql,
    met_schema_v15_sql,
    met_schema_v16_sql,
    met_schema_v17_sql,
    met_schema_v18_sql,
    met_schema_v19_sql,
    met_schema_v20_sql,
};

/* One metric of the run as a column of a view. */
#define MET_VIEW_METRIC(name)                                                        \
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id AND m.name = '" name  \
    "') AS " name

/* The current run_summary view; dropped and recreated by every migration.
 * New columns go at the end so scripts reading by position keep working. */
static const char met_view_sql[] =
    "DROP VIEW IF EXISTS run_summary;"
    "CREATE VIEW run_summary AS SELECT r.run_id, r.name, r.seed, r.status,"
    " r.check_status, r.events, r.sim_ns, r.wall_ms,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'delivery_ratio') AS delivery_ratio,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('latency_p50', 'latency_p50_ns') ORDER BY m.name LIMIT 1)"
    "  AS latency_p50_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('latency_p99', 'latency_p99_ns') ORDER BY m.name LIMIT 1)"
    "  AS latency_p99_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'completed_ratio') AS completed_ratio,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('request_latency_p50', 'request_latency_p50_ns') ORDER BY m.name"
    "  LIMIT 1) AS request_latency_p50_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('request_latency_p99', 'request_latency_p99_ns') ORDER BY m.name"
    "  LIMIT 1) AS request_latency_p99_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'tokens_per_s') AS tokens_per_s,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'accepted_wrong') AS accepted_wrong,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'honest_penalised') AS honest_penalised"
    " FROM runs r;"
    "DROP VIEW IF EXISTS protocol_comparison;"
    "CREATE VIEW protocol_comparison AS SELECT r.run_id, r.name, r.seed, r.status,"
    " COALESCE((SELECT p.value FROM params p WHERE p.run_id = r.run_id"
    "  AND p.key = 'verification.protocol'), 'none') AS protocol,"
    MET_VIEW_METRIC("completed_ratio") ","
    MET_VIEW_METRIC("accepted_wrong") ","
    MET_VIEW_METRIC("accepted_wrong_ratio") ","
    MET_VIEW_METRIC("honest_penalised") ","
    MET_VIEW_METRIC("disputes") ","
    MET_VIEW_METRIC("resamples") ","
    MET_VIEW_METRIC("cost_ratio") ","
    MET_VIEW_METRIC("bytes_sent") ","
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'finality_p50') AS finality_p50_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'finality_p99') AS finality_p99_ns,"
    MET_VIEW_METRIC("fees_paid") ","
    MET_VIEW_METRIC("stake_slashed")
    " FROM runs r;";

static const char *const met_stmt_sql[MET_STMT_COUNT] = {
    [MET_STMT_RUN_INSERT] = "INSERT INTO runs (name, mode, scenario_sha256, seed, git_rev,"
                            " status, started_at, nodes, writer)"
                            " VALUES (?,?,?,?,?,'running',?,?,?)",
    [MET_STMT_PARAM_INSERT] = "INSERT OR REPLACE INTO params (run_id, key, value) VALUES (?,?,?)",
    [MET_STMT_TIMESERIES_INSERT] = "INSERT INTO timeseries (run_id, t_ns, name, value)"
                                   " VALUES (?,?,?,?)",
    [MET_STMT_FAULT_INSERT] = "INSERT INTO faults (run_id, fault_index, kind, action, t_ns,"
                              " nodes_affected, detail) VALUES (?,?,?,?,?,?,?)",
    [MET_STMT_NODE_INSERT] = "INSERT OR REPLACE INTO nodes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [MET_STMT_MESSAGE_INSERT] = "INSERT OR REPLACE INTO messages"
                                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [MET_STMT_METRIC_INSERT] = "INSERT OR REPLACE INTO metrics (run_id, name, value, unit)"
                               " VALUES (?,?,?,?)",
    [MET_STMT_EXPECT_INSERT] = "INSERT INTO expectations (run_id, metric, op, expected,"
                               " actual, passed) VALUES (?,?,?,?,?,?)",
    [MET_STMT_REQUEST_INSERT] = "INSERT OR REPLACE INTO requests"
                                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [MET_STMT_SEGMENT_INSERT] = "INSERT OR REPLACE INTO segments"
                                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [MET_STMT_EXECUTION_INSERT] = "INSERT OR REPLACE INTO executions"
                                  " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [MET_STMT_DECISION_INSERT] = "INSERT OR REPLACE INTO decisions VALUES"
                                 " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [MET_STMT_DIVERGENCE_INSERT] = "INSERT OR REPLACE INTO divergence (run_id, request_id, class,"
                                   " kernel, logits_maxabs, logits_cosine, argmax_agree,"
                                   " noised_logits_maxabs, noised_logits_cosine,"
                                   " noised_argmax_agree) VALUES (?,?,?,?,?,?,?,?,?,?)",
    [MET_STMT_VIOLATION_INSERT] = "INSERT OR REPLACE INTO violations VALUES (?,?,?,?,?,?,?,?,?)",
    [MET_STMT_PRIVACY_INSERT] = "INSERT OR REPLACE INTO privacy (run_id, request_id, node_id,"
                                " role, saw_tokens, saw_activations, saw_logits, in_tee,"
                                " epsilon, reconstruction, epsilon_received, generation_steps,"
                                " generation_reconstruction) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [MET_STMT_WEIGHTS_INSERT] = "INSERT OR REPLACE INTO weights (run_id, node_id, segment,"
                                " first_layer, layer_count, params, in_tee)"
                                " VALUES (?,?,?,?,?,?,?)",
    /* A height written again (the testbed: every process records the
     * chain) keeps the earliest commit and is forked when any writer saw
     * a fork. */
    [MET_STMT_BLOCK_INSERT] = "INSERT INTO blocks VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                              " ON CONFLICT (run_id, height) DO UPDATE SET"
                              " committer = CASE WHEN excluded.t_ns < t_ns"
                              " THEN excluded.committer ELSE committer END,"
                              " t_ns = min(t_ns, excluded.t_ns),"
                              " forked = max(forked, excluded.forked)",
    [MET_STMT_VIEW_CHANGE_INSERT] = "INSERT OR REPLACE INTO view_changes VALUES (?,?,?,?,?)",
    [MET_STMT_CHURN_INSERT] = "INSERT INTO churn (run_id, t_ns, node_id, event, segment)"
                              " VALUES (?,?,?,?,?)",
    [MET_STMT_RUN_FINISH] = "UPDATE runs SET status = ?, check_status = ?, finished_at = ?,"
                            " wall_ms = ?, sim_ns = ?, events = ?, trace_hash = ?, error = ?"
                            " WHERE run_id = ?",
    [MET_STMT_RUN_EXISTS] = "SELECT 1 FROM runs WHERE run_id = ?",
};

int met__sql_error(met_db *db, const char *what)
{
    ASSERT(db != NULL);
    ASSERT(what != NULL);
    const char *message = db->sql != NULL ? sqlite3_errmsg(db->sql) : "no database";
    db->sql_code = db->sql != NULL ? sqlite3_errcode(db->sql) & 0xff : SQLITE_ERROR;
    /* A lock another process held: why the wait for it ended. */
    bool busy = db->sql_code == SQLITE_BUSY;
    char why[128] = "";
    if (busy && db->busy_stopped) {
        snprintf(why, sizeof(why), " (stopped by a signal while waiting for another process"
                                   " that is writing the file)");
    } else if (busy && db->busy_waited_ms >= MET_BUSY_WAIT_MS) {
        snprintf(why, sizeof(why), " (another process held the file's lock for %d minutes)",
                 MET_BUSY_WAIT_MS / 60000);
    }
    snprintf(db->errmsg, sizeof(db->errmsg), "%s: %s%s", what, message, why);
    db->busy_waited_ms = 0; /* said once: a later SQLITE_BUSY need not follow a wait */
    return MET_ESQL;
}

void met__set_error(met_db *db, const char *message)
{
    ASSERT(db != NULL);
    ASSERT(message != NULL);
    snprintf(db->errmsg, sizeof(db->errmsg), "%s", message);
}

const char *met_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case MET_EOPEN:
        return "cannot open or create the database file";
    case MET_ESQL:
        return "SQLite error";
    case MET_ESCHEMA:
        return "not an infersim database, or its schema is newer than this build";
    case MET_ENOTABLE:
        return "unknown table";
    case MET_ENORUN:
        return "no such run";
    case MET_EIO:
        return "write error";
    case MET_ECORRUPT:
        return "the database file is damaged";
    case MET_ENOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}

const char *met_db_errmsg(const met_db *db)
{
    ASSERT(db != NULL);
    return db->errmsg;
}

/* Runs SQL that returns no rows we need; an error is reported as 'what'. */
static int db_exec_as(met_db *db, const char *sql, const char *what)
{
    if (sqlite3_exec(db->sql, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return met__sql_error(db, what);
    }
    return 0;
}

/* The same for short SQL, which names itself in the error. */
static int db_exec(met_db *db, const char *sql)
{
    return db_exec_as(db, sql, sql);
}

/* Runs a query whose first column of its first row is an integer. */
static int db_query_int(met_db *db, const char *sql, int64_t *value_out)
{
    sqlite3_stmt *stmt = NULL;
    *value_out = 0;
    if (sqlite3_prepare_v2(db->sql, sql, -1, &stmt, NULL) != SQLITE_OK) {
        return met__sql_error(db, "inspect");
    }
    int rc = sqlite3_step(stmt);
    int result = 0;
    if (rc == SQLITE_ROW) {
        *value_out = sqlite3_column_int64(stmt, 0);
    } else if (rc != SQLITE_DONE) {
        result = met__sql_error(db, "inspect");
    }
    sqlite3_finalize(stmt);
    return result;
}

/* Returns the cached statement 'id', reset and with bindings cleared, or
 * NULL after recording the error. */
static sqlite3_stmt *db_stmt(met_db *db, met_stmt_id id)
{
    ASSERT(id < MET_STMT_COUNT);
    sqlite3_stmt *stmt = db->stmts[id];
    if (stmt == NULL) {
        if (sqlite3_prepare_v3(db->sql, met_stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                               NULL) != SQLITE_OK) {
            met__sql_error(db, "prepare");
            return NULL;
        }
        db->stmts[id] = stmt;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}

/* Steps a write statement to completion and resets it. */
static int db_stmt_run(met_db *db, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    int result = 0;
    if (rc != SQLITE_DONE) {
        result = met__sql_error(db, what);
    }
    sqlite3_reset(stmt);
    return result;
}

/* Binds a possibly NULL string. */
static void db_bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text == NULL) {
        sqlite3_bind_null(stmt, index);
    } else {
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
    }
}

/* Unsigned counters are stored as SQLite's signed 64-bit INTEGER; values
 * above INT64_MAX (only possible for seeds) wrap to negative, see README. */
static void db_bind_u64(sqlite3_stmt *stmt, int index, uint64_t value)
{
    sqlite3_bind_int64(stmt, index, (sqlite3_int64)value);
}

/* Writes the current UTC time as 'YYYY-MM-DDTHH:MM:SSZ'. */
static void db_utc_now(char out[32])
{
    time_t now = time(NULL);
    struct tm parts;
    if (gmtime_r(&now, &parts) == NULL ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &parts) == 0) {
        snprintf(out, 32, "1970-01-01T00:00:00Z");
    }
}

/* What an opened file holds, as far as the schema checks care. */
typedef struct db_state {
    int64_t user_version;
    int64_t objects;                 /* rows in sqlite_master */
    int64_t has_runs;                /* a table named runs exists */
} db_state;

static int db_state_read(met_db *db, db_state *state)
{
    int rc = db_query_int(db, "SELECT count(*) FROM sqlite_master", &state->objects);
    if (rc == 0) {
        rc = db_query_int(db, "PRAGMA user_version", &state->user_version);
    }
    if (rc == 0) {
        rc = db_query_int(db,
                          "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                          " AND name = 'runs'",
                          &state->has_runs);
    }
    return rc;
}

/* Decides whether the file is ours, empty or old (upgrade), or to be
 * refused. *from_out is the version to upgrade from: 0 for an empty file,
 * MET_SCHEMA_VERSION when there is nothing to do. */
static int db_state_judge(met_db *db, const db_state *state, int64_t *from_out)
{
    char message[160];
    *from_out = MET_SCHEMA_VERSION;
    if (state->user_version > MET_SCHEMA_VERSION) {
        snprintf(message, sizeof(message),
                 "schema version %lld is newer than this build's %d; upgrade infersim",
                 (long long)state->user_version, MET_SCHEMA_VERSION);
        met__set_error(db, message);
        return MET_ESCHEMA;
    }
    if (state->objects == 0 && state->user_version == 0) {
        *from_out = 0;
        return 0;
    }
    if (state->has_runs == 0 || state->user_version < 1) {
        snprintf(message, sizeof(message),
                 "not an infersim results database (user_version %lld, %s runs table)",
                 (long long)state->user_version, state->has_runs != 0 ? "has a" : "no");
        met__set_error(db, message);
        return MET_ESCHEMA;
    }
    *from_out = state->user_version;
    return 0;
}

/* Reads and judges the file's state (db_state_read, db_state_judge). */
static int db_state_check(met_db *db, db_state *state, int64_t *from_out)
{
    int rc = db_state_read(db, state);
    return rc == 0 ? db_state_judge(db, state, from_out) : rc;
}

/* ---- the file's objects against this build's schema ----
 *
 * A file at this build's version may still lack what the version promises:
 * a researcher shrinks a file by dropping a large table (decisions,
 * segments) or a view, or rebuilds a table without a column. SQLite finds
 * nothing wrong with either, and a run would learn of it only when it
 * stores its rows, after the whole simulation. So every open compares the
 * file with the schema this build creates, built in a private in-memory
 * database from the same steps: a writer creates a missing table, index or
 * view again (empty), a reader needs its tables and views; a table without
 * one of its columns is refused either way, before anything is written.
 * Objects of the file's own (a researcher's table or index) are left
 * alone. */

#define DB_REF_COLUMNS_MAX 128u        /* per table; more fails the reference's build */

/* One object of the reference: a table, index or view. */
typedef struct db_ref_object {
    char *type;
    char *name;
    char *sql;
    char **columns;                  /* a table's, in order */
    size_t column_count;
} db_ref_object;

/* The schema this build creates, read once per process from an in-memory
 * database built by the same steps, then kept (a few KB): building it
 * costs more than the comparison. */
static struct {
    pthread_once_t once;
    db_ref_object *objects;          /* in creation order: a table before its indexes */
    size_t count;
    char error[160];                 /* why the build failed; "" when it did not */
} db_ref = {PTHREAD_ONCE_INIT, NULL, 0, ""};

/* Reads the columns of the reference's table 'object->name'. */
static int db_ref_columns(sqlite3 *ref, db_ref_object *object)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(ref, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", -1,
                                &stmt, NULL);
    object->columns = util_calloc(DB_REF_COLUMNS_MAX, sizeof(char *));
    if (rc != SQLITE_OK || object->columns == NULL) {
        sqlite3_finalize(stmt);
        return -1;
    }
    sqlite3_bind_text(stmt, 1, object->name, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && object->column_count < DB_REF_COLUMNS_MAX) {
        char *column = util_strdup((const char *)sqlite3_column_text(stmt, 0));
        if (column == NULL) {
            break;
        }
        object->columns[object->column_count++] = column;
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Reads every table, index and view of the in-memory database 'ref'. */
static int db_ref_read(sqlite3 *ref)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(ref,
                           "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"
                           " AND name NOT LIKE 'sqlite%' ORDER BY rowid",
                           -1, &stmt, NULL) != SQLITE_OK) {
        return -1;
    }
    int rc = 0;
    int step = SQLITE_DONE;
    size_t capacity = 0;
    while (rc == 0 && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (db_ref.count == capacity) {
            capacity = capacity > 0 ? capacity * 2 : 64;
            db_ref_object *grown = util_realloc(db_ref.objects, capacity * sizeof(*grown));
            if (grown == NULL) {
                rc = -1;
                break;
            }
            db_ref.objects = grown;
        }
        db_ref_object *object = &db_ref.objects[db_ref.count++];
        memset(object, 0, sizeof(*object));
        object->type = util_strdup((const char *)sqlite3_column_text(stmt, 0));
        object->name = util_strdup((const char *)sqlite3_column_text(stmt, 1));
        object->sql = util_strdup((const char *)sqlite3_column_text(stmt, 2));
        if (object->type == NULL || object->name == NULL || object->sql == NULL) {
            rc = -1;
        } else if (strcmp(object->type, "table") == 0) {
            rc = db_ref_columns(ref, object);
        }
    }
    sqlite3_finalize(stmt);
    return rc == 0 && step == SQLITE_DONE ? 0 : -1;
}

/* Builds db_ref (once per process: pthread_once). */
static void db_ref_build(void)
{
    sqlite3 *ref = NULL;
    int rc = sqlite3_open_v2(":memory:", &ref, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    for (int version = 0; version < MET_SCHEMA_VERSION && rc == SQLITE_OK; version++) {
        rc = sqlite3_exec(ref, met_schema_sql[version], NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(ref, met_view_sql, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK || db_ref_read(ref) != 0) {
        snprintf(db_ref.error, sizeof(db_ref.error), "the reference schema: %s",
                 ref != NULL ? sqlite3_errmsg(ref) : "out of memory");
    }
    sqlite3_close(ref);
}

/* Refuses a file whose table 'object->name' lacks one of its columns;
 * 'columns' is the file's prepared pragma_table_info(?1). */
static int db_columns_conform(met_db *db, sqlite3_stmt *columns, const db_ref_object *object)
{
    bool found[DB_REF_COLUMNS_MAX] = {false};
    sqlite3_reset(columns);
    sqlite3_bind_text(columns, 1, object->name, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(columns)) == SQLITE_ROW) {
        const char *column = (const char *)sqlite3_column_text(columns, 0);
        for (size_t i = 0; column != NULL && i < object->column_count; i++) {
            found[i] = found[i] || strcmp(column, object->columns[i]) == 0;
        }
    }
    if (rc != SQLITE_DONE) {
        return met__sql_error(db, "inspect");
    }
    for (size_t i = 0; i < object->column_count; i++) {
        if (!found[i]) {
            char message[240];
            snprintf(message, sizeof(message),
                     "table '%s' has no column '%s', which schema version %d has: the table"
                     " was changed by hand",
                     object->name, object->columns[i], MET_SCHEMA_VERSION);
            met__set_error(db, message);
            return MET_ESCHEMA;
        }
    }
    return 0;
}

/* One object of the reference: present (a table with every column),
 * created again by a writer, or refused. A reader needs no index. */
static int db_object_conform(met_db *db, sqlite3_stmt *exists, sqlite3_stmt *columns,
                             const db_ref_object *object, bool repair)
{
    sqlite3_reset(exists);
    sqlite3_bind_text(exists, 1, object->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(exists, 2, object->name, -1, SQLITE_STATIC);
    if (sqlite3_step(exists) != SQLITE_ROW) {
        return met__sql_error(db, "inspect");
    }
    if (sqlite3_column_int64(exists, 0) != 0) {
        return strcmp(object->type, "table") == 0 ? db_columns_conform(db, columns, object) : 0;
    }
    if (repair) {
        return db_exec_as(db, object->sql, object->name);
    }
    if (strcmp(object->type, "index") == 0) {
        return 0;
    }
    char message[240];
    snprintf(message, sizeof(message),
             "%s '%s' is missing (dropped by hand?); open the file once with write access"
             " to create it again, empty",
             object->type, object->name);
    met__set_error(db, message);
    return MET_ESCHEMA;
}

/* Compares every table, index and view of the reference with the file's,
 * in creation order; 'repair' (a writer, inside its transaction) creates
 * what is missing. */
static int db_schema_conform(met_db *db, bool repair)
{
    pthread_once(&db_ref.once, db_ref_build);
    if (db_ref.error[0] != '\0') {
        met__set_error(db, db_ref.error);
        return MET_ESQL;
    }
    sqlite3_stmt *exists = NULL;
    sqlite3_stmt *columns = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db->sql,
                           "SELECT count(*) FROM sqlite_master WHERE type = ?1 AND name = ?2",
                           -1, &exists, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db->sql, "SELECT name FROM pragma_table_info(?1)", -1, &columns,
                           NULL) != SQLITE_OK) {
        rc = met__sql_error(db, "inspect");
    }
    for (size_t i = 0; i < db_ref.count && rc == 0; i++) {
        rc = db_object_conform(db, exists, columns, &db_ref.objects[i], repair);
    }
    sqlite3_finalize(exists);
    sqlite3_finalize(columns);
    return rc;
}

/* Takes the file from version 'from' (0: empty) to MET_SCHEMA_VERSION:
 * the missing steps, the current view, meta and user_version. Inside the
 * caller's transaction, so an upgrade is all or nothing. */
static int db_schema_upgrade(met_db *db, int64_t from)
{
    ASSERT(from >= 0 && from < MET_SCHEMA_VERSION);
    char sql[256];
    char what[64];
    int rc = 0;
    for (int64_t version = from; version < MET_SCHEMA_VERSION && rc == 0; version++) {
        snprintf(what, sizeof(what), "schema version %lld", (long long)version + 1);
        rc = db_exec_as(db, met_schema_sql[version], what);
    }
    if (rc == 0) {
        rc = db_exec_as(db, met_view_sql, "schema view run_summary");
    }
    if (rc == 0) {
        snprintf(sql, sizeof(sql),
                 "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '%d'),"
                 " ('created_by', 'infersim'); PRAGMA user_version = %d;",
                 MET_SCHEMA_VERSION, MET_SCHEMA_VERSION);
        rc = db_exec(db, sql);
    }
    return rc;
}

/* SQLite's quick_check over an existing file: every page and index is
 * read once, so a file damaged in the middle is refused before a run
 * appends to it. O(file size); 0, MET_ECORRUPT or MET_ESQL. */
static int db_check_integrity(met_db *db)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db->sql, "PRAGMA quick_check", -1, &stmt, NULL) != SQLITE_OK) {
        met__sql_error(db, "quick_check");
        return MET_ESQL;
    }
    int rc = sqlite3_step(stmt);
    const unsigned char *first = rc == SQLITE_ROW ? sqlite3_column_text(stmt, 0) : NULL;
    int result = 0;
    if (rc != SQLITE_ROW || first == NULL || strcmp((const char *)first, "ok") != 0) {
        char message[200];
        snprintf(message, sizeof(message), "damaged file (SQLite quick_check: %s)",
                 first != NULL ? (const char *)first : sqlite3_errmsg(db->sql));
        for (char *c = message; *c != '\0'; c++) {
            *c = *c == '\n' ? ';' : *c; /* One line for the terminal. */
        }
        met__set_error(db, message);
        result = MET_ECORRUPT;
    }
    sqlite3_finalize(stmt);
    return result;
}

/* ---- a run's bulk rows ---- */

/* The per-node indexes of the tables a run writes most rows to. A row
 * lands at a random place of such an index (node ids come in no order), so
 * once the index outgrows the page cache each insert reads and dirties
 * pages all over it and the time per row grows with the table: about 15 us
 * a row at 3.2 M decisions rows, against 4.4 us without the index and 1 us
 * a row to build it afterwards from sorted keys. */
static const struct {
    const char *table;
    const char *index;               /* on (run_id, node_id) */
} db_bulk_indexes[] = {
    {"segments", "segments_node"},
    {"executions", "executions_node"},
    {"decisions", "decisions_node"},
    {"privacy", "privacy_node"},
};
#define DB_BULK_INDEXES (sizeof(db_bulk_indexes) / sizeof(db_bulk_indexes[0]))

/* Creates bulk index i unless it exists; inside the caller's transaction. */
static int db_bulk_create(met_db *db, size_t i)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE INDEX IF NOT EXISTS %s ON %s(run_id, node_id)",
             db_bulk_indexes[i].index, db_bulk_indexes[i].table);
    return db_exec_as(db, sql, db_bulk_indexes[i].index);
}

/* Sets *empty_out to whether 'table' holds no row. 0 or MET_ESQL. */
static int db_table_empty(met_db *db, const char *table, bool *empty_out)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT 1 FROM %s LIMIT 1)", table);
    int64_t rows = 0;
    int rc = db_query_int(db, sql, &rows);
    *empty_out = rc == 0 && rows == 0;
    return rc;
}

/* Checks the file, sets the connection pragmas and creates or upgrades
 * the schema in one IMMEDIATE transaction, re-checking inside it so two
 * processes that open the same new or old file at once do not both
 * change it. */
static int db_schema_prepare(met_db *db)
{
    db_state state = {0};
    int64_t from = MET_SCHEMA_VERSION;
    int rc = db_state_check(db, &state, &from);
    if (rc == 0 && from != 0) {
        rc = db_check_integrity(db);
    }
    if (rc == 0) {
        rc = db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                         " PRAGMA foreign_keys=ON;" MET_WRITER_PRAGMAS);
    }
    if (rc == 0) {
        rc = db_exec(db, "BEGIN IMMEDIATE");
    }
    if (rc != 0) {
        return rc;
    }
    rc = db_state_check(db, &state, &from);
    if (rc == 0 && from < MET_SCHEMA_VERSION) {
        rc = db_schema_upgrade(db, from);
    }
    if (rc == 0 && from != 0) {
        rc = db_schema_conform(db, true); /* also the bulk indexes a writer left dropped */
    }
    if (rc == 0) {
        return db_exec(db, "COMMIT");
    }
    sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Maps a failed open's SQLite code to the caller's: garbage is "not an
 * infersim db", a permission problem cannot open, damage is damage. */
static int db_open_code(const met_db *db, int rc)
{
    int primary = db->sql_code & 0xff;
    if (rc == MET_ESQL && primary == SQLITE_NOTADB) {
        return MET_ESCHEMA;
    }
    if (rc == MET_ESQL && primary == SQLITE_CORRUPT) {
        return MET_ECORRUPT;
    }
    if (rc == MET_ESQL && (primary == SQLITE_CANTOPEN || primary == SQLITE_PERM ||
                           primary == SQLITE_READONLY)) {
        return MET_EOPEN;
    }
    return rc;
}

/* A read-only file must already have this build's schema: reading it
 * cannot upgrade it. 0, or a MET_E* code with the reason in errmsg. */
static int db_read_prepare(met_db *db)
{
    db_state state = {0};
    int64_t from = MET_SCHEMA_VERSION;
    int rc = db_state_check(db, &state, &from);
    if (rc == 0 && from != MET_SCHEMA_VERSION) {
        met__set_error(db, from == 0 ? "an empty file: no runs to read"
                                     : "an older schema: open it once with write access to"
                                       " upgrade it");
        rc = MET_ESCHEMA;
    }
    if (rc == 0) {
        rc = db_schema_conform(db, false);
    }
    return rc;
}

/* SQLite's process-wide settings, once, before its first use: no memory
 * statistics (they take a global mutex on every allocation, and nothing
 * here reads them). With each connection opened NOMUTEX -- a met_db is
 * used by one thread at a time -- a row's dozens of calls take no lock:
 * the two were 12 % of the CPU time of storing a large run. A call after
 * SQLite has started (another library in the process opened a database
 * first) is refused, and SQLite keeps its defaults: slower, not wrong. */
static void db_sqlite_configure_once(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static void db_sqlite_configure(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, db_sqlite_configure_once);
}

/* SQLite's busy handler: another connection, usually another process
 * storing a run into the same file, holds the lock this one needs. Waits
 * as SQLite's own handler does (1 ms, growing to 100 ms between tries), for
 * up to MET_BUSY_WAIT_MS: the other writer's transactions are short (rows
 * are written in batches, and none stays open while a simulation runs),
 * but a large run's rows, a merge or an upgrade can hold the file for a
 * while. A wait past MET_BUSY_NOTICE_MS is said once on stderr, so that a
 * process held up by, say, a `sqlite3` shell left inside a transaction
 * does not look hung; a stop signal (met_db_stop_on) ends it at the next
 * try. Returns 0 to give up (SQLITE_BUSY). */
static int db_busy_wait(void *context, int count)
{
    static const uint32_t delays_ms[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    met_db *db = context;
    if (count == 0) {
        db->busy_waited_ms = 0;
    }
    if (db->stop != NULL && *db->stop != db->stop_seen) {
        db->busy_stopped = true;
        return 0;
    }
    if (db->busy_waited_ms >= MET_BUSY_WAIT_MS) {
        return 0;
    }
    size_t n = sizeof(delays_ms) / sizeof(delays_ms[0]);
    uint32_t delay_ms = (size_t)count < n ? delays_ms[count] : delays_ms[n - 1];
    if (db->busy_waited_ms >= MET_BUSY_NOTICE_MS && !db->busy_noticed) {
        fprintf(stderr, "infersim: %s: waiting for another process that is writing it\n",
                db->path != NULL ? db->path : "results database");
        db->busy_noticed = true;
    }
    struct timespec pause = {0, (long)delay_ms * 1000000L};
    nanosleep(&pause, NULL);
    db->busy_waited_ms += delay_ms;
    return 1;
}

void met_db_stop_on(met_db *db, const volatile sig_atomic_t *signals)
{
    ASSERT(db != NULL);
    db->stop = signals;
    db->stop_seen = signals != NULL ? *signals : 0;
}

bool met_db_stopped(const met_db *db)
{
    ASSERT(db != NULL);
    return db->busy_stopped;
}

/* Whether 'path' names something other than a regular file (a directory,
 * a device such as /dev/null, a FIFO). SQLite would fail on it with "disk
 * I/O error" after its first statement, or block on a FIFO; a path that does
 * not exist yet is for a writer to create. */
static bool db_path_not_regular(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && !S_ISREG(info.st_mode);
}

/* Opens 'path' with SQLite 'flags', then 'prepare' checks (and for a
 * writer creates or upgrades) the schema. Shared by both opens. */
static int db_open(const char *path, int flags, int (*prepare)(met_db *db), met_db **out,
                   char *why, size_t why_size)
{
    ASSERT(path != NULL);
    ASSERT(out != NULL);
    *out = NULL;
    if (db_path_not_regular(path)) {
        if (why != NULL && why_size > 0) {
            snprintf(why, why_size, "'%s' is not a regular file", path);
        }
        return MET_EOPEN;
    }
    met_db *db = util_calloc(1, sizeof(*db));
    if (db == NULL) {
        if (why != NULL && why_size > 0) {
            snprintf(why, why_size, "%s: out of memory", path);
        }
        return MET_EOPEN;
    }
    int rc = 0;
    db_sqlite_configure();
    if (sqlite3_open_v2(path, &db->sql, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        met__sql_error(db, "open");
        rc = MET_EOPEN;
    } else {
        db->path = util_strdup(path);   /* NULL: the notice names no file */
        sqlite3_busy_handler(db->sql, db_busy_wait, db);
        sqlite3_extended_result_codes(db->sql, 1);
        rc = db_open_code(db, prepare(db));
    }
    if (rc != 0) {
        if (why != NULL && why_size > 0) {
            bool said = rc != MET_ECORRUPT || strstr(db->errmsg, "damaged") != NULL;
            if ((db->sql_code & 0xff) == SQLITE_NOTADB) {
                snprintf(why, why_size, "'%s' is not a SQLite database", path);
            } else {
                snprintf(why, why_size, "%s: %s%s", path, said ? "" : "damaged file: ",
                         db->errmsg);
            }
        }
        met_db_close(db);
        return rc;
    }
    db->errmsg[0] = '\0';
    *out = db;
    return 0;
}

int met_db_open(const char *path, met_db **out, char *why, size_t why_size)
{
    return db_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, db_schema_prepare, out,
                   why, why_size);
}

int met_db_open_read(const char *path, met_db **out, char *why, size_t why_size)
{
    return db_open(path, SQLITE_OPEN_READONLY, db_read_prepare, out, why, why_size);
}

void met_db_close(met_db *db)
{
    if (db == NULL) {
        return;
    }
    (void)met_rows_end(db);
    (void)met_flush(db);             /* nothing to do when no row waits */
    util_free(db->pending);
    util_free(db->pending_text);
    util_free(db->path);
    for (size_t i = 0; i < MET_STMT_COUNT; i++) {
        sqlite3_finalize(db->stmts[i]);
    }
    sqlite3_close(db->sql);    /* NULL is a harmless no-op */
    util_free(db);
}

void met_db_remove(const char *path)
{
    static const char *const sides[] = {"-wal", "-shm"};
    char side[4096];
    unlink(path);
    for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
        if (snprintf(side, sizeof(side), "%s%s", path, sides[i]) < (int)sizeof(side)) {
            unlink(side);
        }
    }
}

/* Opens the batch transaction if none is open. Inside it the connection
 * skips CHECK constraints: every value a batch writes into a checked
 * column is one of this module's callers' constants, and SQLite codes a
 * CHECK's IN list as a temporary table built anew for every row, which
 * made a row cost several times what it does without (bench store). A
 * merge, the one writer of values read from elsewhere, flushes the batch
 * first and is checked; and the quick_check of every later open still
 * verifies each row's CHECKs, so a wrong value cannot pass unseen. */
static int db_batch_join(met_db *db)
{
    if (db->batch_open != 0) {
        return 0;
    }
    int rc = db_exec(db, "BEGIN; PRAGMA ignore_check_constraints=ON");
    if (rc == 0) {
        db->batch_open = 1;
        db->batch_rows = 0;
    }
    return rc;
}

/* Counts one written row; commits when the batch is full. */
static int db_batch_count(met_db *db, size_t rows)
{
    ASSERT(db->batch_open != 0);
    db->batch_rows += rows;
    if (db->batch_rows >= MET_BATCH_ROWS) {
        return met_flush(db);
    }
    return 0;
}

/* ---- rows in waiting ----
 *
 * Samples and faults arrive while the caller computes: a simulation runs
 * between them for seconds or hours. Written into the batch as they came,
 * they kept its transaction -- and so the file's write lock -- open for the
 * whole simulation, and every other process writing the file (another
 * `infersim run` into the same results file) waited for it, then failed
 * with "database is locked". They wait in memory instead, their strings
 * copied, and are written together, in order, when MET_BATCH_ROWS have
 * gathered and at every met_flush: the lock is held only while rows are
 * written. */

/* Copies 'text' (NULL: none) into the pending strings; its offset in *at.
 * 0 or MET_ENOMEM. */
static int db_pending_text(met_db *db, const char *text, uint32_t *at)
{
    if (text == NULL) {
        *at = MET_PENDING_NULL;
        return 0;
    }
    size_t bytes = strlen(text) + 1;
    if (db->pending_text_used + bytes > db->pending_text_size) {
        size_t size = db->pending_text_size ? db->pending_text_size : 4096;
        while (size < db->pending_text_used + bytes) {
            size *= 2;
        }
        char *grown = size < MET_PENDING_NULL ? util_realloc(db->pending_text, size) : NULL;
        if (grown == NULL) {
            met__set_error(db, "out of memory");
            return MET_ENOMEM;
        }
        db->pending_text = grown;
        db->pending_text_size = size;
    }
    memcpy(db->pending_text + db->pending_text_used, text, bytes);
    *at = (uint32_t)db->pending_text_used;
    db->pending_text_used += bytes;
    return 0;
}

/* A free pending row, or NULL (out of memory, message set). */
static met_pending_row *db_pending_slot(met_db *db)
{
    if (db->pending == NULL) {
        db->pending = util_malloc(MET_BATCH_ROWS * sizeof(*db->pending));
        if (db->pending == NULL) {
            met__set_error(db, "out of memory");
            return NULL;
        }
    }
    ASSERT(db->pending_count < MET_BATCH_ROWS);
    met_pending_row *row = &db->pending[db->pending_count];
    memset(row, 0, sizeof(*row));
    return row;
}

/* Counts the row just filled in; writes every pending row once the rows
 * fill a batch. */
static int db_pending_count(met_db *db)
{
    db->pending_count += 1;
    return db->pending_count >= MET_BATCH_ROWS ? met_flush(db) : 0;
}

static const char *db_pending_string(const met_db *db, uint32_t at)
{
    return at == MET_PENDING_NULL ? NULL : db->pending_text + at;
}

static int db_pending_insert(met_db *db, const met_pending_row *row)
{
    sqlite3_stmt *stmt =
        db_stmt(db, row->fault ? MET_STMT_FAULT_INSERT : MET_STMT_TIMESERIES_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, row->run_id);
    if (row->fault) {
        sqlite3_bind_int64(stmt, 2, row->fault_index);
        db_bind_text(stmt, 3, db_pending_string(db, row->text[0]));
        db_bind_text(stmt, 4, db_pending_string(db, row->text[1]));
        db_bind_u64(stmt, 5, row->t_ns);
        sqlite3_bind_int64(stmt, 6, row->nodes_affected);
        db_bind_text(stmt, 7, db_pending_string(db, row->text[2]));
        return db_stmt_run(db, stmt, "insert fault");
    }
    db_bind_u64(stmt, 2, row->t_ns);
    db_bind_text(stmt, 3, db_pending_string(db, row->text[0]));
    sqlite3_bind_double(stmt, 4, row->value);
    return db_stmt_run(db, stmt, "insert timeseries");
}

/* Writes the pending rows into the batch, in the order they came, and
 * returns the first row's failure. A row that fails (a run id with no run)
 * is lost alone, as a row written straight into the batch is; when SQLite
 * has rolled the whole batch back (a full disk), the rest are lost with it. */
static int db_pending_write(met_db *db)
{
    int first = db->pending_count > 0 ? db_batch_join(db) : 0;
    for (size_t i = 0; i < db->pending_count && db->batch_open != 0; i++) {
        int rc = db_pending_insert(db, &db->pending[i]);
        first = first != 0 ? first : rc;
        if (rc != 0 && sqlite3_get_autocommit(db->sql)) {
            break;
        }
    }
    db->batch_rows += db->pending_count;
    db->pending_count = 0;
    db->pending_text_used = 0;
    return first;
}

int met_flush(met_db *db)
{
    ASSERT(db != NULL);
    int written = db_pending_write(db);
    if (db->batch_open == 0) {
        return written;
    }
    /* A row's failure that rolled the batch back (a full disk) is the
     * error to keep, not COMMIT's "no transaction is active". */
    int rc = written != 0 && sqlite3_get_autocommit(db->sql) ? written
                                                             : db_exec(db, "COMMIT");
    if (rc != 0) {
        /* A failed COMMIT (e.g. SQLITE_BUSY past the timeout) may leave the
         * transaction open; roll it back so the connection stays usable. */
        sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_exec(db->sql, "PRAGMA ignore_check_constraints=OFF", NULL, NULL, NULL);
    db->batch_open = 0;
    db->batch_rows = 0;
    return rc != 0 ? rc : written;
}

/* Runs 'step' over the bulk indexes in a transaction of its own, IMMEDIATE
 * so that another writer of the file waits (busy timeout) instead of
 * finding its read out of date. */
static int db_bulk_transaction(met_db *db, int (*step)(met_db *db, size_t i))
{
    int rc = met_flush(db);
    if (rc == 0) {
        rc = db_exec(db, "BEGIN IMMEDIATE");
    }
    for (size_t i = 0; i < DB_BULK_INDEXES && rc == 0; i++) {
        rc = step(db, i);
    }
    if (rc == 0) {
        return db_exec(db, "COMMIT");
    }
    sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Drops bulk index i when its table holds no row. */
static int db_bulk_drop(met_db *db, size_t i)
{
    bool empty = false;
    int rc = db_table_empty(db, db_bulk_indexes[i].table, &empty);
    if (rc == 0 && empty) {
        char sql[96];
        snprintf(sql, sizeof(sql), "DROP INDEX IF EXISTS %s", db_bulk_indexes[i].index);
        rc = db_exec_as(db, sql, db_bulk_indexes[i].index);
    }
    return rc;
}

int met_rows_begin(met_db *db)
{
    ASSERT(db != NULL);
    /* Set first: an end after a failed begin creates what is missing. */
    db->bulk_open = true;
    return db_bulk_transaction(db, db_bulk_drop);
}

int met_rows_end(met_db *db)
{
    ASSERT(db != NULL);
    if (!db->bulk_open) {
        return 0;
    }
    int rc = db_bulk_transaction(db, db_bulk_create);
    db->bulk_open = rc != 0;
    return rc;
}

/* ---- who writes a run ---- */

/* The start time of process 'pid' in clock ticks after boot (field 22 of
 * /proc/PID/stat, after the command name, which may hold spaces and
 * parentheses), or 0 when there is no such process (or no /proc). */
static unsigned long long db_process_start(long pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return 0;
    }
    size_t length = fread(line, 1, sizeof(line) - 1, file);
    fclose(file);
    line[length] = '\0';
    const char *at = strrchr(line, ')');
    unsigned long long start = 0;
    /* After ") ": state, then fields 4 to 21, then the start time. */
    if (at == NULL || sscanf(at + 1, " %*c" " %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s"
                                        " %*s %*s %*s %*s %*s %*s %*s %*s %llu",
                             &start) != 1) {
        return 0;
    }
    return start;
}

void met__writer_self(char *out, size_t size)
{
    char host[256];
    out[0] = '\0';
    long pid = (long)getpid();
    unsigned long long start = db_process_start(pid);
    if (gethostname(host, sizeof(host)) == 0 && start != 0) {
        host[sizeof(host) - 1] = '\0';
        snprintf(out, size, "%s %ld %llu", host, pid, start);
    }
}

met_writer_state met__writer_state(const char *writer)
{
    char host[256], here[256];
    long pid = 0;
    unsigned long long start = 0;
    if (writer == NULL || sscanf(writer, "%255s %ld %llu", host, &pid, &start) != 3 ||
        pid <= 0) {
        return MET_WRITER_GONE; /* none recorded: as before, incomplete */
    }
    if (gethostname(here, sizeof(here)) != 0) {
        return MET_WRITER_ELSEWHERE;
    }
    here[sizeof(here) - 1] = '\0';
    if (strcmp(host, here) != 0) {
        return MET_WRITER_ELSEWHERE;
    }
    return db_process_start(pid) == start ? MET_WRITER_ALIVE : MET_WRITER_GONE;
}

/* Inserts the runs row and the params; inside the caller's transaction. */
static int db_run_insert(met_db *db, const met_run_info *info, const scn_param *params,
                         size_t param_count, int64_t *run_id_out)
{
    char started_at[32];
    db_utc_now(started_at);
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_RUN_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    db_bind_text(stmt, 1, info->name);
    db_bind_text(stmt, 2, info->mode);
    db_bind_text(stmt, 3, info->scenario_sha256);
    db_bind_u64(stmt, 4, info->seed);
    db_bind_text(stmt, 5, info->git_rev);
    db_bind_text(stmt, 6, started_at);
    sqlite3_bind_int64(stmt, 7, info->nodes);
    char writer[MET_WRITER_MAX];
    met__writer_self(writer, sizeof(writer));
    db_bind_text(stmt, 8, writer[0] != '\0' ? writer : NULL);
    int rc = db_stmt_run(db, stmt, "insert run");
    if (rc != 0) {
        return rc;
    }
    int64_t run_id = sqlite3_last_insert_rowid(db->sql);
    for (size_t i = 0; i < param_count && rc == 0; i++) {
        ASSERT(params[i].key != NULL);
        stmt = db_stmt(db, MET_STMT_PARAM_INSERT);
        if (stmt == NULL) {
            return MET_ESQL;
        }
        sqlite3_bind_int64(stmt, 1, run_id);
        db_bind_text(stmt, 2, params[i].key);
        db_bind_text(stmt, 3, params[i].value);
        rc = db_stmt_run(db, stmt, "insert param");
    }
    if (rc == 0) {
        *run_id_out = run_id;
    }
    return rc;
}

int met_run_begin(met_db *db, const met_run_info *info, const scn_param *params,
                  size_t param_count, int64_t *run_id_out)
{
    ASSERT(db != NULL);
    ASSERT(info != NULL);
    ASSERT(run_id_out != NULL);
    ASSERT(params != NULL || param_count == 0);
    *run_id_out = 0;
    int rc = met_flush(db);
    if (rc == 0) {
        rc = db_exec(db, "BEGIN IMMEDIATE");
    }
    if (rc != 0) {
        return rc;
    }
    rc = db_run_insert(db, info, params, param_count, run_id_out);
    if (rc == 0) {
        rc = db_exec(db, "COMMIT");
    }
    if (rc != 0) {
        sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
        *run_id_out = 0;
    }
    return rc;
}

int met_timeseries_add(met_db *db, int64_t run_id, uint64_t t_ns, const char *name, double value)
{
    ASSERT(db != NULL);
    ASSERT(name != NULL);
    met_pending_row *row = db_pending_slot(db);
    if (row == NULL || db_pending_text(db, name, &row->text[0]) != 0) {
        return MET_ENOMEM;
    }
    row->run_id = run_id;
    row->t_ns = t_ns;
    row->value = value;
    return db_pending_count(db);
}

int met_fault_add(met_db *db, int64_t run_id, const met_fault_row *row)
{
    ASSERT(db != NULL);
    ASSERT(row != NULL);
    met_pending_row *slot = db_pending_slot(db);
    if (slot == NULL || db_pending_text(db, row->kind, &slot->text[0]) != 0 ||
        db_pending_text(db, row->action, &slot->text[1]) != 0 ||
        db_pending_text(db, row->detail, &slot->text[2]) != 0) {
        return MET_ENOMEM;
    }
    slot->fault = true;
    slot->run_id = run_id;
    slot->fault_index = row->fault_index;
    slot->t_ns = row->t_ns;
    slot->nodes_affected = row->nodes_affected;
    return db_pending_count(db);
}

/* Inserts one row of a keyed table; 'row' points at the table's row struct. */
typedef int (*db_row_insert_fn)(met_db *db, int64_t run_id, const void *row);

/* Writes 'count' rows of 'size' bytes each, one batched insert per row. */
static int db_rows_add(met_db *db, int64_t run_id, const void *rows, size_t size, size_t count,
                       db_row_insert_fn insert)
{
    ASSERT(db != NULL);
    ASSERT(rows != NULL || count == 0);
    const unsigned char *row = rows;
    for (size_t i = 0; i < count; i++, row += size) {
        int rc = db_batch_join(db);
        if (rc == 0) {
            rc = insert(db, run_id, row);
        }
        if (rc == 0) {
            rc = db_batch_count(db, 1);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int db_node_insert(met_db *db, int64_t run_id, const void *row_void)
{
    const met_node_row *row = row_void;
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_NODE_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_int64(stmt, 2, row->node_id);
    db_bind_text(stmt, 3, row->class_name);
    db_bind_text(stmt, 4, row->region);
    db_bind_text(stmt, 5, row->behaviour);
    db_bind_u64(stmt, 6, row->messages_sent);
    db_bind_u64(stmt, 7, row->bytes_sent);
    db_bind_u64(stmt, 8, row->messages_received);
    db_bind_u64(stmt, 9, row->bytes_received);
    db_bind_u64(stmt, 10, row->rejected);
    db_bind_u64(stmt, 11, row->delivered);
    db_bind_u64(stmt, 12, row->crashes);
    sqlite3_bind_double(stmt, 13, row->stake);         /* NaN binds as NULL */
    sqlite3_bind_double(stmt, 14, row->reputation);
    sqlite3_bind_double(stmt, 15, row->balance);
    return db_stmt_run(db, stmt, "insert node");
}

int met_nodes_add(met_db *db, int64_t run_id, const met_node_row *rows, size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_node_insert);
}

static int db_message_insert(met_db *db, int64_t run_id, const void *row_void)
{
    const met_message_row *row = row_void;
    ASSERT(row->type != NULL);
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_MESSAGE_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    db_bind_text(stmt, 2, row->type);
    db_bind_u64(stmt, 3, row->sent);
    db_bind_u64(stmt, 4, row->bytes_sent);
    db_bind_u64(stmt, 5, row->delivered);
    db_bind_u64(stmt, 6, row->bytes_delivered);
    db_bind_u64(stmt, 7, row->dropped_loss);
    db_bind_u64(stmt, 8, row->dropped_partition);
    db_bind_u64(stmt, 9, row->dropped_crashed);
    db_bind_u64(stmt, 10, row->duplicated);
    db_bind_u64(stmt, 11, row->reordered);
    db_bind_u64(stmt, 12, row->corrupted);
    db_bind_u64(stmt, 13, row->rejected);
    return db_stmt_run(db, stmt, "insert message");
}

int met_messages_add(met_db *db, int64_t run_id, const met_message_row *rows, size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_message_insert);
}

/* Binds a time that is 0 when the event never happened as NULL. */
static void db_bind_time_or_null(sqlite3_stmt *stmt, int index, uint64_t t_ns)
{
    if (t_ns == 0) {
        sqlite3_bind_null(stmt, index);
    } else {
        db_bind_u64(stmt, index, t_ns);
    }
}

/* Binds an optional integer: negative is NULL. */
static void db_bind_int_or_null(sqlite3_stmt *stmt, int index, int64_t value)
{
    if (value < 0) {
        sqlite3_bind_null(stmt, index);
    } else {
        sqlite3_bind_int64(stmt, index, value);
    }
}

static int db_request_insert(met_db *db, int64_t run_id, const void *row_void)
{
    const met_request_row *row = row_void;
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_REQUEST_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    db_bind_u64(stmt, 2, row->request_id);
    sqlite3_bind_int64(stmt, 3, row->client);
    db_bind_u64(stmt, 4, row->submitted_ns);
    db_bind_time_or_null(stmt, 5, row->first_token_ns);
    db_bind_time_or_null(stmt, 6, row->finished_ns);
    db_bind_text(stmt, 7, row->status);
    sqlite3_bind_int64(stmt, 8, row->prompt_tokens);
    sqlite3_bind_int64(stmt, 9, row->tokens_out);
    sqlite3_bind_int(stmt, 10, row->reference_match != 0 ? 1 : 0);
    sqlite3_bind_double(stmt, 11, row->argmax_agree);
    sqlite3_bind_double(stmt, 12, row->logits_maxabs);
    sqlite3_bind_double(stmt, 13, row->logits_cosine);
    db_bind_text(stmt, 14, row->saw_tokens);
    db_bind_text(stmt, 15, row->saw_activations);
    db_bind_int_or_null(stmt, 16, row->verified);
    db_bind_int_or_null(stmt, 17, row->accepted_wrong);
    db_bind_int_or_null(stmt, 18, row->rounds);
    db_bind_text(stmt, 19, row->prompt_text);
    db_bind_text(stmt, 20, row->output_ids);
    db_bind_text(stmt, 21, row->output_text);
    db_bind_time_or_null(stmt, 22, row->settlement_ns);
    db_bind_int_or_null(stmt, 23, row->failovers);
    if (row->batch_size_max > 0) {
        sqlite3_bind_double(stmt, 24, row->batch_size_mean);
        sqlite3_bind_int64(stmt, 25, row->batch_size_max);
    } else {
        sqlite3_bind_null(stmt, 24);
        sqlite3_bind_null(stmt, 25);
    }
    db_bind_int_or_null(stmt, 26, row->ledger_height);
    return db_stmt_run(db, stmt, "insert request");
}

int met_requests_add(met_db *db, int64_t run_id, const met_request_row *rows, size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_request_insert);
}

/* Binds a segments or executions row (the same columns) to 'stmt' and
 * runs it. With 'null_idle', a row with no calls stores NULL times. */
static int db_hop_insert(met_db *db, int64_t run_id, const met_segment_row *row,
                         sqlite3_stmt *stmt, bool null_idle, const char *what)
{
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    db_bind_u64(stmt, 2, row->request_id);
    sqlite3_bind_int64(stmt, 3, row->segment);
    sqlite3_bind_int64(stmt, 4, row->node_id);
    db_bind_text(stmt, 5, row->class_name);
    db_bind_text(stmt, 6, row->kernel);
    sqlite3_bind_int64(stmt, 7, row->first_layer);
    sqlite3_bind_int64(stmt, 8, row->layer_count);
    if (null_idle && row->calls == 0) {
        sqlite3_bind_null(stmt, 9);
        sqlite3_bind_null(stmt, 10);
    } else {
        db_bind_u64(stmt, 9, row->start_ns);
        db_bind_u64(stmt, 10, row->end_ns);
    }
    sqlite3_bind_int64(stmt, 11, row->calls);
    db_bind_u64(stmt, 12, row->flops);
    db_bind_u64(stmt, 13, row->bytes_in);
    db_bind_u64(stmt, 14, row->bytes_out);
    return db_stmt_run(db, stmt, what);
}

static int db_segment_insert(met_db *db, int64_t run_id, const void *row_void)
{
    return db_hop_insert(db, run_id, row_void, db_stmt(db, MET_STMT_SEGMENT_INSERT), false,
                         "insert segment");
}

int met_segments_add(met_db *db, int64_t run_id, const met_segment_row *rows, size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_segment_insert);
}

static int db_execution_insert(met_db *db, int64_t run_id, const void *row_void)
{
    return db_hop_insert(db, run_id, row_void, db_stmt(db, MET_STMT_EXECUTION_INSERT), true,
                         "insert execution");
}

int met_executions_add(met_db *db, int64_t run_id, const met_execution_row *rows, size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_execution_insert);
}

static int db_decision_insert(met_db *db, int64_t run_id, const void *row_void)
{
    const met_decision_row *row = row_void;
    ASSERT(row->verdict != NULL && row->action != NULL && row->dispute != NULL);
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_DECISION_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    db_bind_u64(stmt, 2, row->request_id);
    sqlite3_bind_int64(stmt, 3, row->segment);
    sqlite3_bind_int64(stmt, 4, row->step);
    sqlite3_bind_int64(stmt, 5, row->round);
    sqlite3_bind_int64(stmt, 6, row->member);
    db_bind_text(stmt, 7, row->protocol);
    sqlite3_bind_int64(stmt, 8, row->member_count);
    sqlite3_bind_int64(stmt, 9, row->node_id);
    db_bind_text(stmt, 10, row->role);
    db_bind_text(stmt, 11, row->behaviour);
    db_bind_u64(stmt, 12, row->t_ns);
    db_bind_text(stmt, 13, row->action);
    sqlite3_bind_int(stmt, 14, row->committed);
    sqlite3_bind_int(stmt, 15, row->answered);
    sqlite3_bind_int(stmt, 16, row->valid);
    sqlite3_bind_int(stmt, 17, row->equivocated);
    db_bind_text(stmt, 18, row->verdict);
    sqlite3_bind_int(stmt, 19, row->accepted);
    db_bind_text(stmt, 20, row->dispute);
    db_bind_int_or_null(stmt, 21, row->spot_check);
    sqlite3_bind_double(stmt, 22, row->reputation_before);
    sqlite3_bind_double(stmt, 23, row->reputation_after);
    sqlite3_bind_double(stmt, 24, row->stake_before);
    sqlite3_bind_double(stmt, 25, row->stake_after);
    db_bind_int_or_null(stmt, 26, row->skipped);
    return db_stmt_run(db, stmt, "insert decision");
}

int met_decisions_add(met_db *db, int64_t run_id, const met_decision_row *rows, size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_decision_insert);
}

/* Binds a real; NaN is NULL. */
static void db_bind_real_or_null(sqlite3_stmt *stmt, int index, double value)
{
    if (isnan(value)) {
        sqlite3_bind_null(stmt, index);
    } else {
        sqlite3_bind_double(stmt, index, value);
    }
}

static int db_privacy_insert(met_db *db, int64_t run_id, const void *row_void)
{
    const met_privacy_row *row = row_void;
    ASSERT(row->role != NULL);
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_PRIVACY_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    db_bind_u64(stmt, 2, row->request_id);
    sqlite3_bind_int64(stmt, 3, row->node_id);
    db_bind_text(stmt, 4, row->role);
    sqlite3_bind_int(stmt, 5, row->saw_tokens);
    db_bind_int_or_null(stmt, 6, row->saw_activations);
    sqlite3_bind_int(stmt, 7, row->saw_logits);
    sqlite3_bind_int(stmt, 8, row->in_tee);
    db_bind_real_or_null(stmt, 9, row->epsilon);
    db_bind_real_or_null(stmt, 10, row->reconstruction);
    db_bind_real_or_null(stmt, 11, row->epsilon_received);
    db_bind_int_or_null(stmt, 12, row->generation_steps);
    db_bind_real_or_null(stmt, 13, row->generation_reconstruction);
    return db_stmt_run(db, stmt, "insert privacy");
}

int met_privacy_add(met_db *db, int64_t run_id, const met_privacy_row *rows, size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_privacy_insert);
}

static int db_weights_insert(met_db *db, int64_t run_id, const void *row_void)
{
    const met_weights_row *row = row_void;
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_WEIGHTS_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_int64(stmt, 2, row->node_id);
    sqlite3_bind_int64(stmt, 3, row->segment);
    sqlite3_bind_int64(stmt, 4, row->first_layer);
    sqlite3_bind_int64(stmt, 5, row->layer_count);
    db_bind_u64(stmt, 6, row->params);
    sqlite3_bind_int(stmt, 7, row->in_tee);
    return db_stmt_run(db, stmt, "insert weights");
}

int met_weights_add(met_db *db, int64_t run_id, const met_weights_row *rows, size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_weights_insert);
}

static int db_divergence_insert(met_db *db, int64_t run_id, const void *row_void)
{
    const met_divergence_row *row = row_void;
    ASSERT(row->class_name != NULL);
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_DIVERGENCE_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    db_bind_u64(stmt, 2, row->request_id);
    db_bind_text(stmt, 3, row->class_name);
    db_bind_text(stmt, 4, row->kernel);
    sqlite3_bind_double(stmt, 5, row->logits_maxabs);
    sqlite3_bind_double(stmt, 6, row->logits_cosine);
    sqlite3_bind_double(stmt, 7, row->argmax_agree);
    sqlite3_bind_double(stmt, 8, row->noised_logits_maxabs); /* NaN binds as NULL */
    sqlite3_bind_double(stmt, 9, row->noised_logits_cosine);
    sqlite3_bind_double(stmt, 10, row->noised_argmax_agree);
    return db_stmt_run(db, stmt, "insert divergence");
}

int met_divergence_add(met_db *db, int64_t run_id, const met_divergence_row *rows,
                       size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_divergence_insert);
}

static int db_violation_insert(met_db *db, int64_t run_id, const void *row_void)
{
    const met_violation_row *row = row_void;
    ASSERT(row->kind != NULL);
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_VIOLATION_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    db_bind_u64(stmt, 2, row->violation_id);
    db_bind_text(stmt, 3, row->kind);
    db_bind_u64(stmt, 4, row->t_ns);
    db_bind_int_or_null(stmt, 5, row->request_id);
    db_bind_int_or_null(stmt, 6, row->segment);
    db_bind_int_or_null(stmt, 7, row->node_id);
    db_bind_text(stmt, 8, row->detail);
    db_bind_int_or_null(stmt, 9, row->step);
    return db_stmt_run(db, stmt, "insert violation");
}

int met_violations_add(met_db *db, int64_t run_id, const met_violation_row *rows,
                       size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_violation_insert);
}

static int db_block_insert(met_db *db, int64_t run_id, const void *row_void)
{
    const met_block_row *row = row_void;
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_BLOCK_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    db_bind_u64(stmt, 2, row->height);
    db_bind_u64(stmt, 3, row->view);
    sqlite3_bind_int64(stmt, 4, row->proposer);
    sqlite3_bind_int64(stmt, 5, row->committer);
    db_bind_u64(stmt, 6, row->t_ns);
    sqlite3_bind_int64(stmt, 7, row->tx_count);
    sqlite3_bind_int64(stmt, 8, row->settled);
    db_bind_u64(stmt, 9, row->bytes);
    sqlite3_bind_int(stmt, 10, row->forked ? 1 : 0);
    sqlite3_bind_int64(stmt, 11, row->penalties);
    sqlite3_bind_int64(stmt, 12, row->refused);
    return db_stmt_run(db, stmt, "insert block");
}

int met_blocks_add(met_db *db, int64_t run_id, const met_block_row *rows, size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_block_insert);
}

static int db_view_change_insert(met_db *db, int64_t run_id, const void *row_void)
{
    const met_view_change_row *row = row_void;
    ASSERT(row->reason != NULL);
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_VIEW_CHANGE_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_int64(stmt, 2, row->validator);
    db_bind_u64(stmt, 3, row->view);
    db_bind_u64(stmt, 4, row->t_ns);
    db_bind_text(stmt, 5, row->reason);
    return db_stmt_run(db, stmt, "insert view change");
}

int met_view_changes_add(met_db *db, int64_t run_id, const met_view_change_row *rows,
                         size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_view_change_insert);
}

static int db_churn_insert(met_db *db, int64_t run_id, const void *row_void)
{
    const met_churn_row *row = row_void;
    ASSERT(row->event != NULL);
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_CHURN_INSERT);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    db_bind_u64(stmt, 2, row->t_ns);
    sqlite3_bind_int64(stmt, 3, row->node_id);
    db_bind_text(stmt, 4, row->event);
    if (row->segment >= 0) {
        sqlite3_bind_int64(stmt, 5, row->segment);
    } else {
        sqlite3_bind_null(stmt, 5);
    }
    return db_stmt_run(db, stmt, "insert churn");
}

int met_churn_add(met_db *db, int64_t run_id, const met_churn_row *rows, size_t count)
{
    return db_rows_add(db, run_id, rows, sizeof(*rows), count, db_churn_insert);
}

int met_metric_add(met_db *db, int64_t run_id, const char *name, double value,
                   const char *unit)
{
    ASSERT(db != NULL);
    ASSERT(name != NULL);
    int rc = db_batch_join(db);
    sqlite3_stmt *stmt = rc == 0 ? db_stmt(db, MET_STMT_METRIC_INSERT) : NULL;
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    db_bind_text(stmt, 2, name);
    sqlite3_bind_double(stmt, 3, value);
    db_bind_text(stmt, 4, unit);
    rc = db_stmt_run(db, stmt, "insert metric");
    return rc != 0 ? rc : db_batch_count(db, 1);
}

int met_param_set(met_db *db, int64_t run_id, const char *key, const char *value)
{
    ASSERT(db != NULL);
    ASSERT(key != NULL && value != NULL);
    int rc = db_batch_join(db);
    sqlite3_stmt *stmt = rc == 0 ? db_stmt(db, MET_STMT_PARAM_INSERT) : NULL;
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    db_bind_text(stmt, 2, key);
    db_bind_text(stmt, 3, value);
    rc = db_stmt_run(db, stmt, "insert param");
    return rc != 0 ? rc : db_batch_count(db, 1);
}

int met_expect_add(met_db *db, int64_t run_id, const char *metric, const char *op,
                   double expected, double actual, int passed)
{
    ASSERT(db != NULL);
    ASSERT(metric != NULL);
    ASSERT(op != NULL);
    int rc = db_batch_join(db);
    sqlite3_stmt *stmt = rc == 0 ? db_stmt(db, MET_STMT_EXPECT_INSERT) : NULL;
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    db_bind_text(stmt, 2, metric);
    db_bind_text(stmt, 3, op);
    sqlite3_bind_double(stmt, 4, expected);
    sqlite3_bind_double(stmt, 5, actual);
    sqlite3_bind_int(stmt, 6, passed != 0 ? 1 : 0);
    rc = db_stmt_run(db, stmt, "insert expectation");
    return rc != 0 ? rc : db_batch_count(db, 1);
}

/* Binds the totals of a finishing run (parameters 2 and 4..8). 'error' is
 * the caller's copy of totals->error. */
static void db_totals_bind(sqlite3_stmt *stmt, const met_run_totals *totals, const char *error)
{
    char hash_hex[17];
    snprintf(hash_hex, sizeof(hash_hex), "%016llx", (unsigned long long)totals->trace_hash);
    db_bind_text(stmt, 2, totals->check);
    db_bind_u64(stmt, 4, totals->wall_ms);
    db_bind_u64(stmt, 5, totals->sim_ns);
    db_bind_u64(stmt, 6, totals->events);
    db_bind_text(stmt, 7, hash_hex);
    db_bind_text(stmt, 8, error);
}

int met_run_finish(met_db *db, int64_t run_id, const char *status, const met_run_totals *totals)
{
    ASSERT(db != NULL);
    ASSERT(status != NULL);
    ASSERT(strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
           strcmp(status, "aborted") == 0);
    /* totals->error may be met_db_errmsg(db) itself: copy it before any
     * failure below overwrites that buffer. */
    char error[MET_ERRMSG_MAX + 16];   /* room for "storing rows: " */
    int has_error = totals != NULL && totals->error != NULL;
    snprintf(error, sizeof(error), "%s", has_error ? totals->error : "");
    /* Even if the last batch fails to commit, still try to close the run
     * so it does not stay 'running'; the first error is the one returned.
     * Its rows went with the rolled-back batch (a full disk fails at
     * COMMIT), so such a run is 'failed', never 'completed'. */
    int flushed = met_rows_end(db);
    flushed = flushed != 0 ? flushed : met_flush(db);
    if (flushed != 0) {
        status = strcmp(status, "completed") == 0 ? "failed" : status;
        if (!has_error) {
            snprintf(error, sizeof(error), "storing rows: %s", db->errmsg);
            has_error = 1;
        }
    }
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_RUN_FINISH);
    if (stmt == NULL) {
        return flushed != 0 ? flushed : MET_ESQL;
    }
    char finished_at[32];
    db_utc_now(finished_at);
    db_bind_text(stmt, 1, status);
    db_bind_text(stmt, 3, finished_at);
    if (totals != NULL) {
        db_totals_bind(stmt, totals, has_error ? error : NULL);
    }
    sqlite3_bind_int64(stmt, 9, run_id);
    int rc = db_stmt_run(db, stmt, "finish run");
    if (rc == 0 && sqlite3_changes(db->sql) != 1) {
        met__set_error(db, "finish run: no such run");
        rc = MET_ENORUN;
    }
    return flushed != 0 ? flushed : rc;
}

int met_run_exists(met_db *db, int64_t run_id)
{
    ASSERT(db != NULL);
    sqlite3_stmt *stmt = db_stmt(db, MET_STMT_RUN_EXISTS);
    if (stmt == NULL) {
        return MET_ESQL;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    int rc = sqlite3_step(stmt);
    int result = 0;
    if (rc == SQLITE_ROW) {
        result = 1;
    } else if (rc != SQLITE_DONE) {
        result = met__sql_error(db, "run exists");
    }
    sqlite3_reset(stmt);
    return result;
}
