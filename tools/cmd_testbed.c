/* cmd_testbed.c -- `infersim testbed` (the scenario's nodes as real
 * processes on 127.0.0.1) and `infersim client` (libcurl load against
 * their HTTP API). Both write a run with runs.mode = 'testbed' into the
 * same SQLite schema as a simulated run. In `testbed`, each node process
 * writes its own rows (its nodes; its clients' requests, segments,
 * divergence and violations) when it stops -- the launcher stops them one at
 * a time -- and the launcher writes the run, the messages table summed over
 * processes, the crash faults it applied and the run-level metrics. Across
 * hosts (--hosts) host 0's launcher writes the run and adds the counters the
 * other hosts leave in the deployment directory; --netns (tool_netns.c)
 * runs every host in a network namespace of this machine. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testbed/tb.h"
#include "tools/tool.h"
#include "util/alloc.h"
#include "util/hist.h"
#include "util/stats.h"

static const char testbed_usage[] =
    "usage: infersim testbed FILE [options]\n"
    "\n"
    "Runs the scenario's nodes as real processes on 127.0.0.1 (or across hosts,\n"
    "below): frames over TCP,\n"
    "real timers, an HTTP API per process (GET /status, GET /metrics,\n"
    "POST /v1/infer, POST /admin/...). The scenario's workload is replayed in real\n"
    "time and its faults applied (crash = kill -9 and restart of the processes\n"
    "hosting the nodes). Results go to SQLite as a run with mode 'testbed'.\n"
    "Frames are authenticated with random per-node keys (never the seed's): a MAC\n"
    "under a per-link X25519-derived key, ed25519 on votes; replays are refused.\n"
    "\n"
    "options:\n"
    "  --db FILE            results database (default: the scenario's output.db)\n"
    "  --processes P        node processes, 1..64 (default 1); node i runs in i % P;\n"
    "                       with a ledger: section at most validators - byzantine\n"
    "  --duration SECONDS   stop after this long (default: the scenario's duration)\n"
    "  --set KEY=VALUE      override a scenario key (repeatable)\n"
    "  --http-requests N    HTTP request ids per process and restart (default 256); an\n"
    "                       id is reused 2 x workload.timeout (+ the phase timeouts)\n"
    "                       after its request finished; meanwhile requests queue\n"
    "  --no-workload        do not replay the scenario's workload (HTTP load only)\n"
    "  --no-faults          do not apply the scenario's faults\n"
    "  --emulate            emulate the scenario's network between the processes: each\n"
    "                       frame is held until the arrival the simulator's model draws\n"
    "                       (region matrix, latency model, jitter, uplink bandwidth,\n"
    "                       loss, duplication, reordering; network faults change the\n"
    "                       model at their times)\n"
    "  --base-port N        process p listens on N+2p (frames) and N+2p+1 (HTTP);\n"
    "                       default: ephemeral ports\n"
    "  --ports-file FILE    write the HTTP base URLs there, one a line, once listening\n"
    "                       (across hosts: host I its own processes' into FILE.I)\n"
    "  --keys DIR           node keys from `infersim keygen` (default: fresh random keys\n"
    "                       in a private run directory, removed at the end); each\n"
    "                       process reads only its own nodes' DIR/node-I.key\n"
    "  --admin-token-file F write the admin token there (mode 0600); it is also printed\n"
    "                       on stderr. /admin/* wants 'Authorization: Bearer TOKEN'\n"
    "  --check              exit 1 when an expectation over what the testbed measures\n"
    "                       fails (the others are skipped and listed)\n"
    "  --quiet              no summary\n"
    "\n"
    "across hosts (each host runs the same command, scenario and hosts file):\n"
    "  --hosts FILE         one host:first-last a line; each process takes two ports of\n"
    "                       its host's range (frames, HTTP), processes numbered in file\n"
    "                       order; replaces --processes and --base-port\n"
    "  --host-index I       run host I's processes only (0 is the first line); host 0\n"
    "                       writes the run, every host's processes their rows\n"
    "  --deploy-dir DIR     a directory every host shares (NFS), empty at the start:\n"
    "                       public keys, the run id and each host's counters meet there\n"
    "                       (secret keys never leave their host); --db must be shared too\n"
    "  --wait SECONDS       how long to wait for the other hosts (default 60)\n"
    "  --netns              try it on this machine (root): every host of the file in a\n"
    "                       network namespace of its own, on one bridge, its address on\n"
    "                       a veth; all removed at the end (and stale ones at the start)\n";

static volatile sig_atomic_t testbed_stop;
static volatile sig_atomic_t testbed_hurry;  /* 1: a stop signal came after the first */

/* The first SIGINT or SIGTERM stops the run: the processes write their
 * rows, then the launcher its own. Another one stops it now: the processes
 * still writing are killed, and a wait for the file's lock gives up. */
static void testbed_on_signal(int signal_number)
{
    if (testbed_stop != 0) {
        testbed_hurry = 1;
    }
    testbed_stop = signal_number;
}

typedef struct testbed_options {
    const char *file;
    const char *db;
    const char *ports_file;
    const char *keys_dir;
    const char *token_file;
    uint32_t processes;
    double duration_s;
    uint32_t http_requests;
    uint16_t base_port;
    bool workload;
    bool faults;
    bool quiet;
    bool check;
    bool emulate;
    const char *overrides[64];
    size_t override_count;
    const char *hosts_file;          /* --hosts: NULL on one host */
    const char *deploy_dir;
    int64_t host_index;              /* -1: not given */
    double wait_s;
    bool netns;
    bool processes_given;
    tb_hosts hosts;
} testbed_options;

typedef struct testbed_context {
    const testbed_options *options;
    const scn_scenario *scenario;
    const char *db_path;
    met_db *db;
    int64_t run_id;
    bool write_error;
} testbed_context;

static int testbed_number(const char *name, const char *value, unsigned long long high,
                          uint32_t *out)
{
    unsigned long long low = strcmp(name, "--base-port") == 0 ? 1024 : 1;
    unsigned long long number = 0;
    int rc = tool_parse_range("testbed", name, value, low, high, &number);
    *out = (uint32_t)number;
    return rc;
}

static int testbed_option(void *context, const char *arg, const char *value)
{
    testbed_options *o = context;
    uint32_t port = 0;
    unsigned long long index = 0;
    int rc = TOOL_EXIT_OK;
    if (strcmp(arg, "--db") == 0) {
        o->db = value;
    } else if (strcmp(arg, "--ports-file") == 0) {
        o->ports_file = value;
    } else if (strcmp(arg, "--keys") == 0) {
        o->keys_dir = value;
    } else if (strcmp(arg, "--admin-token-file") == 0) {
        o->token_file = value;
    } else if (strcmp(arg, "--processes") == 0) {
        rc = testbed_number(arg, value, TB_PROCESSES_MAX, &o->processes);
        o->processes_given = true;
    } else if (strcmp(arg, "--hosts") == 0) {
        o->hosts_file = value;
    } else if (strcmp(arg, "--deploy-dir") == 0) {
        o->deploy_dir = value;
    } else if (strcmp(arg, "--host-index") == 0) {
        rc = tool_parse_range("testbed", arg, value, 0, TB_PROCESSES_MAX - 1, &index);
        o->host_index = (int64_t)index;
    } else if (strcmp(arg, "--wait") == 0) {
        rc = tool_parse_positive("testbed", arg, value, 86400, &o->wait_s);
    } else if (strcmp(arg, "--netns") == 0) {
        o->netns = true;
    } else if (strcmp(arg, "--http-requests") == 0) {
        rc = testbed_number(arg, value, 1u << 20, &o->http_requests);
    } else if (strcmp(arg, "--base-port") == 0) {
        rc = testbed_number(arg, value, 65535 - 2 * TB_PROCESSES_MAX, &port);
        o->base_port = (uint16_t)port;
    } else if (strcmp(arg, "--duration") == 0) {
        rc = tool_parse_positive("testbed", arg, value, 86400, &o->duration_s);
    } else if (strcmp(arg, "--set") == 0) {
        if (o->override_count == sizeof(o->overrides) / sizeof(o->overrides[0])) {
            return tool_usage_error("testbed", "too many --set options");
        }
        o->overrides[o->override_count++] = value;
    } else if (strcmp(arg, "--no-workload") == 0) {
        o->workload = false;
    } else if (strcmp(arg, "--no-faults") == 0) {
        o->faults = false;
    } else if (strcmp(arg, "--quiet") == 0) {
        o->quiet = true;
    } else if (strcmp(arg, "--emulate") == 0) {
        o->emulate = true;
    } else {
        o->check = true;
    }
    return rc;
}

static int testbed_parse(int argc, char **argv, testbed_options *o)
{
    static const tool_option table[] = {
        {"--processes", 0, true},      {"--duration", 0, true},   {"--http-requests", 0, true},
        {"--base-port", 0, true},      {"--db", 0, true},         {"--ports-file", 0, true},
        {"--keys", 0, true},           {"--admin-token-file", 0, true},
        {"--set", 0, true},            {"--no-workload", 0, false},
        {"--no-faults", 0, false},     {"--quiet", 0, false},     {"--check", 0, false},
        {"--emulate", 0, false},       {"--hosts", 0, true},      {"--host-index", 0, true},
        {"--deploy-dir", 0, true},     {"--wait", 0, true},       {"--netns", 0, false}};
    static const tool_command command = {"testbed", testbed_usage, table,
                                         sizeof(table) / sizeof(table[0]), testbed_option};
    memset(o, 0, sizeof(*o));
    o->processes = 1;
    o->http_requests = 256;
    o->workload = true;
    o->faults = true;
    o->host_index = -1;
    o->wait_s = 60;
    int first = 0;
    int code = tool_options_parse(&command, argc, argv, o, &first);
    if (code == TOOL_EXIT_OK) {
        code = tool_positional_one("testbed", argc, argv, first, "scenario FILE", &o->file);
    }
    return code;
}

/* ---- rows a node process writes when it stops ---- */

static int child_store_nodes(met_db *db, int64_t run_id, const scn_scenario *scenario,
                             const tb_process_config *config, const world_result *result)
{
    for (uint32_t i = config->process; i < result->node_count; i += config->process_count) {
        const world_node_stats *stats = &result->nodes[i];
        met_node_row row = {
            i, scenario->nodes.classes[result->class_of[i]].name,
            scenario->nodes.regions[result->region_of[i]].name, tool_behaviour_name(result, i),
            stats->messages_sent, stats->bytes_sent, stats->messages_received,
            stats->bytes_received, stats->rejected, stats->delivered, stats->crashes,
            result->verified ? result->stake[i] : NAN,
            result->verified ? result->reputation[i] : NAN,
            result->verified ? result->balance[i] : NAN,
        };
        if (met_nodes_add(db, run_id, &row, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Violation ids are unique per run: each process numbers its own from
 * (generation * processes + process) << 32. */
static int child_store_violations(met_db *db, int64_t run_id, const tb_process_config *config,
                                  const world_result *result)
{
    uint64_t base = ((uint64_t)config->generation * config->process_count + config->process)
                    << 32;
    for (uint64_t i = 0; i < result->violation_count; i++) {
        const world_violation *v = &result->violations[i];
        char detail[64];
        snprintf(detail, sizeof(detail), "%s %u, process %u",
                 v->kind == WORLD_VIOLATION_LEDGER_FORK ? "height" : "step", v->step,
                 config->process);
        met_violation_row row = {
            base + i, met_violation_kinds[v->kind], v->t_ns, (int64_t)v->request, (int32_t)v->segment,
            v->node_id == UINT32_MAX ? -1 : (int64_t)v->node_id, detail,
            v->kind == WORLD_VIOLATION_LEDGER_FORK ? -1 : (int64_t)v->step,
        };
        if (met_violations_add(db, run_id, &row, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

static void child_on_stop(void *context, const tb_process_config *config,
                          const world_result *result, const tb_summary *summary)
{
    (void)summary;
    const testbed_context *run = context;
    met_db *db = NULL;
    char why[256];
    if (met_db_open(run->db_path, &db, why, sizeof(why)) != 0) {
        fprintf(stderr, "infersim testbed: process %u: %s\n", config->process, why);
        return;
    }
    world_result without = *result;
    without.violation_count = 0;
    if (child_store_nodes(db, run->run_id, run->scenario, config, result) != 0 ||
        child_store_violations(db, run->run_id, config, result) != 0 ||
        tool_store_inference(db, run->run_id, run->scenario, &without) != 0 ||
        met_flush(db) != 0) {
        fprintf(stderr, "infersim testbed: process %u: writing rows: %s\n", config->process,
                met_db_errmsg(db));
    }
    met_db_close(db);
}

/* ---- the launcher's side ---- */

static void on_ready(void *context, const uint16_t *http_ports, uint32_t count)
{
    const testbed_context *run = context;
    const testbed_options *options = run->options;
    char path[4200];
    FILE *file = NULL;
    char target[4096];
    snprintf(target, sizeof(target), "%s", options->ports_file != NULL ? options->ports_file : "");
    if (options->ports_file != NULL && options->hosts_file != NULL) {
        /* Across hosts each writes its own processes' URLs, to FILE.I. */
        snprintf(target, sizeof(target), "%s.%lld", options->ports_file,
                 (long long)options->host_index);
    }
    if (options->ports_file != NULL) {
        snprintf(path, sizeof(path), "%s.tmp", target);
        file = fopen(path, "w");
        if (file == NULL) {
            fprintf(stderr, "infersim testbed: cannot write %s: %s\n", path, strerror(errno));
        }
    }
    for (uint32_t p = 0; p < count; p++) {
        const char *address = "127.0.0.1";
        if (options->hosts_file != NULL) {
            uint32_t h = tb_hosts_host_of(&options->hosts, p);
            if ((int64_t)h != options->host_index) {
                continue; /* Another host's process: that host says it. */
            }
            address = options->hosts.hosts[h].name;
        }
        if (!options->quiet) {
            printf("process %u: http://%s:%u\n", p, address, http_ports[p]);
        }
        if (file != NULL) {
            fprintf(file, "http://%s:%u\n", address, http_ports[p]);
        }
    }
    fflush(stdout);
    if (file != NULL && fclose(file) == 0) {
        rename(path, target); /* Readers see all lines or none. */
    }
}

static void on_fault(void *context, uint32_t fault_index, const char *kind, const char *action,
                     uint64_t t_ns, uint32_t nodes_affected)
{
    testbed_context *run = context;
    const char *detail = strcmp(kind, scn_fault_kinds[SCN_FAULT_CRASH].name) == 0
                             ? "kill -9 of the hosting processes / restart"
                             : "applied in real time by the node processes";
    met_fault_row row = {fault_index, kind, action, t_ns, nodes_affected, detail};
    /* Held in memory until the run finishes (met_run_finish writes it): a
     * write here could wait for another process's lock inside the
     * launcher's loop, and put off the faults and restarts due after it. */
    if (met_fault_add(run->db, run->run_id, &row) != 0) {
        run->write_error = true;
    }
}

typedef struct testbed_metric {
    const char *name;
    double value;
} testbed_metric;

#define TESTBED_METRICS 50

/* The run's percentiles of request durations: p50, p95, p99 of latency,
 * p50 of the first token, p50 and p99 of finality, and under ledger
 * settlement p50 and p99 of settlement. */
typedef struct testbed_quantiles {
    double latency[3];
    double first_token;
    double finality[2];
    double settlement[2];
} testbed_quantiles;

/* One span's nearest-rank quantiles over the requests rows the processes
 * stored; false when fewer rows than 'expected' are there (a process died
 * with its rows) or they cannot be read. */
static bool span_quantiles(testbed_context *run, met_span span, uint64_t window_ns,
                           uint64_t expected, const double *q, double *out, size_t count)
{
    uint64_t *values = NULL;
    uint64_t n = 0;
    if (met_request_durations(run->db, run->run_id, span, window_ns, &values, &n) != 0 ||
        n != expected) {
        util_free(values);
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        out[i] = util_quantile_nearest_rank(values, n, q[i]);
    }
    util_free(values);
    return true;
}

/* Under ledger settlement, the nearest-rank p50 and p99 of settlement_ns
 * - submitted_ns over the stored requests that settled, as the
 * simulator's settlement_latency_*; NaN when none did. */
static void settlement_quantiles(testbed_context *run, const tb_summary *total, double out[2])
{
    static const double q[2] = {0.50, 0.99};
    uint64_t *values = NULL;
    uint64_t n = 0;
    out[0] = out[1] = NAN;
    if (total->ledger_settlement &&
        met_request_durations(run->db, run->run_id, MET_SPAN_SETTLEMENT, 0, &values, &n) == 0 &&
        n > 0) {
        for (size_t i = 0; i < 2; i++) {
            out[i] = util_quantile_nearest_rank(values, n, q[i]);
        }
    }
    util_free(values);
}

/* Exact percentiles from the stored requests rows, as the simulator's;
 * when rows are missing, the processes' merged histograms (bucket edges,
 * within about 1 %), said on stderr. */
static bool testbed_quantiles_read(testbed_context *run, const tb_summary *total,
                                   testbed_quantiles *out)
{
    static const double latency_q[3] = {0.50, 0.95, 0.99};
    static const double finality_q[2] = {0.50, 0.99};
    static const double median[1] = {0.50};
    const scn_verification *v = &run->scenario->verification;
    uint64_t window = v->protocol == CONS_PROTOCOL_OPTIMISTIC ? v->challenge_window_ns : 0;
    uint64_t completed = total->requests_completed;
    settlement_quantiles(run, total, out->settlement);
    bool exact =
        span_quantiles(run, MET_SPAN_LATENCY, 0, completed, latency_q, out->latency, 3) &&
        span_quantiles(run, MET_SPAN_FINALITY, window, completed, finality_q, out->finality, 2) &&
        span_quantiles(run, MET_SPAN_FIRST_TOKEN, 0, total->first_token.total_count, median,
                       &out->first_token, 1);
    if (exact) {
        return true;
    }
    fprintf(stderr, "infersim testbed: requests rows are missing; the percentiles are the "
                    "processes' merged histograms (within about 1 %%)\n");
    for (size_t i = 0; i < 3; i++) {
        out->latency[i] = util_hist_metric(&total->request_latency, latency_q[i]);
    }
    out->first_token = util_hist_metric(&total->first_token, 0.50);
    out->finality[0] = util_hist_metric(&total->finality, 0.50);
    out->finality[1] = util_hist_metric(&total->finality, 0.99);
    return false;
}

#define TESTBED_LEDGER_METRICS 17

/* The ledger's metrics as the simulator names them (world_ledger.c), from
 * what the processes reported (NaN without a ledger section). */
static void testbed_ledger_metrics(const tb_summary *total, const testbed_quantiles *quantiles,
                                   testbed_metric out[TESTBED_LEDGER_METRICS])
{
    bool on = total->ledger_on;
    double blocks = on ? (double)total->ledger_blocks : NAN;
    const world_type_stats *bft = &total->types[NODE_MESSAGE_LEDGER_BFT];
    const world_type_stats *g = &total->types[NODE_MESSAGE_LEDGER_GOSSIP];
    bool gossip = on && total->ledger_gossip;
    double sent = (double)(bft->sent + g->sent);
    double bytes = (double)(bft->bytes_sent + g->bytes_sent);
    const testbed_metric metrics[] = {
        {"ledger_blocks", blocks},
        {"ledger_finality_p50", on ? util_hist_metric(&total->ledger_finality, 0.50) : NAN},
        {"ledger_finality_p99", on ? util_hist_metric(&total->ledger_finality, 0.99) : NAN},
        {"view_changes", on ? (double)total->view_changes : NAN},
        {"ledger_messages_per_block", blocks > 0 ? sent / blocks : NAN},
        {"ledger_bytes_per_block", blocks > 0 ? bytes / blocks : NAN},
        {"settlement_latency_p50", on ? quantiles->settlement[0] : NAN},
        {"settlement_latency_p99", on ? quantiles->settlement[1] : NAN},
        {"ledger_forks", on ? (double)total->ledger_forks : NAN},
        {"unjust_slashes", on ? (double)total->unjust_slashes : NAN},
        {"evidence_verified", on ? (double)total->evidence_verified : NAN},
        {"evidence_rejected", on ? (double)total->evidence_rejected : NAN},
        {"ledger_resends", on ? (double)total->ledger_resends : NAN},
        {"ledger_gossip_messages", gossip ? (double)g->sent : NAN},
        {"ledger_gossip_bytes", gossip ? (double)g->bytes_sent : NAN},
        {"ledger_gossip_duplicates", gossip ? (double)total->ledger_gossip_duplicates : NAN},
        {"ledger_pull_answers", gossip ? (double)total->ledger_pull_answers : NAN},
    };
    _Static_assert(sizeof(metrics) == TESTBED_LEDGER_METRICS * sizeof(testbed_metric),
                   "TESTBED_LEDGER_METRICS counts the ledger's metrics");
    memcpy(out, metrics, sizeof(metrics));
}

/* The run-level metrics a testbed run measures (NaN: not defined). */
static void testbed_metrics(const tb_summary *total, const testbed_quantiles *quantiles,
                            double wall_s, testbed_metric out[TESTBED_METRICS])
{
    uint64_t rejected = tb_summary_rejected(total);
    const testbed_metric metrics[] = {
        {"requests_submitted", (double)total->requests_submitted},
        {"requests_completed", (double)total->requests_completed},
        {"completed_ratio", total->requests_submitted > 0
                                ? (double)total->requests_completed /
                                      (double)total->requests_submitted
                                : NAN},
        {"frames_sent", (double)total->frames_out},
        {"frames_received", (double)total->frames_in},
        {"bytes_sent", (double)total->bytes_out},
        {"messages_rejected", (double)rejected},
        {"messages_dropped", (double)total->dropped},
        {"wall_s", wall_s},
        /* Named as the simulator names them, for side-by-side queries. */
        {"requests_failed", (double)(total->requests_finished - total->requests_completed)},
        {"request_latency_p50", quantiles->latency[0]},
        {"request_latency_p95", quantiles->latency[1]},
        {"request_latency_p99", quantiles->latency[2]},
        {"first_token_p50", quantiles->first_token},
        {"tokens_per_s", wall_s > 0 ? (double)total->tokens_out / wall_s : NAN},
        {"accepted_wrong", (double)total->accepted_wrong},
        {"accepted_wrong_ratio", total->requests_completed > 0
                                     ? (double)total->accepted_wrong /
                                           (double)total->requests_completed
                                     : NAN},
        {"honest_penalised", (double)total->honest_penalised},
        /* The verification protocols' comparable columns (protocol_comparison). */
        {"disputes", (double)total->disputes},
        {"resamples", (double)total->resamples},
        {"catch_ups", (double)total->catch_ups},
        {"cost_ratio", total->native_flops > 0 ? (double)(total->flops_total +
                                                          total->referee_flops) /
                                                     (double)total->native_flops
                                               : NAN},
        {"finality_p50", quantiles->finality[0]},
        {"finality_p99", quantiles->finality[1]},
        {"stake_slashed", total->stake_slashed},
        {"fees_paid", total->fees_paid},
        {"memory_bound_ratio", total->compute_calls > 0 ? (double)total->memory_bound_calls /
                                                              (double)total->compute_calls
                                                        : NAN},
        {"failovers", (double)total->failovers},
        /* Failure detection; false_suspicions needs the simulator's knowledge
         * of who crashed, so the testbed does not write it. */
        {"suspicions", total->suspecting ? (double)total->suspicions : NAN},
        {"members_skipped", total->suspecting ? (double)total->members_skipped : NAN},
        {"batch_size_mean", total->batches > 0 ? (double)total->compute_calls /
                                                     (double)total->batches
                                               : NAN},
        {"batch_size_max", total->batches > 0 ? (double)total->batch_size_max : NAN},
        {"batched_steps_ratio", total->compute_calls > 0 ? (double)total->batched_calls /
                                                               (double)total->compute_calls
                                                         : NAN},
    };
    _Static_assert(sizeof(metrics) == (TESTBED_METRICS - TESTBED_LEDGER_METRICS) *
                                          sizeof(testbed_metric),
                   "TESTBED_METRICS counts the metrics");
    memcpy(out, metrics, sizeof(metrics));
    testbed_ledger_metrics(total, quantiles, out + TESTBED_METRICS - TESTBED_LEDGER_METRICS);
}

/* The metric's unit: SCN_METRICS's for the simulator's names; the
 * testbed's own are counts of requests and frames, and wall_s. */
static const char *testbed_unit(const testbed_metric *metric)
{
    int m = scn_metric_find(metric->name);
    return m >= 0 ? scn_metrics[m].unit : strcmp(metric->name, "wall_s") == 0 ? "s" : "count";
}

static int store_totals(testbed_context *run, const tb_summary *total,
                        const testbed_metric *metrics)
{
    met_message_row rows[NODE_MESSAGE_TYPE_COUNT];
    size_t count = 0;
    for (uint32_t t = 1; t < NODE_MESSAGE_TYPE_COUNT; t++) {
        const world_type_stats *s = &total->types[t];
        rows[count++] = (met_message_row){
            node_message_type_name((uint8_t)t), s->sent, s->bytes_sent, s->delivered,
            s->bytes_delivered, s->dropped[WORLD_DROP_LOSS], s->dropped[WORLD_DROP_PARTITION],
            s->dropped[WORLD_DROP_CRASHED], s->duplicated, s->reordered, s->corrupted, s->rejected,
        };
    }
    if (met_messages_add(run->db, run->run_id, rows, count) != 0) {
        return -1;
    }
    for (size_t i = 0; i < TESTBED_METRICS; i++) {
        if (!isnan(metrics[i].value) &&
            met_metric_add(run->db, run->run_id, metrics[i].name, metrics[i].value,
                           testbed_unit(&metrics[i])) != 0) {
            return -1;
        }
    }
    return 0;
}

/* The scenario's expectations over what the testbed measures; the others
 * (reputation means, ratios only the simulator's checkers know) are
 * skipped and said so. Returns how many failed, or -1 on a write error. */
static int check_expectations(testbed_context *run, const testbed_metric *metrics)
{
    int failed = 0;
    for (uint32_t i = 0; i < run->scenario->expect_count; i++) {
        const scn_expect *expect = &run->scenario->expects[i];
        const testbed_metric *found = NULL;
        if (expect->scope != SCN_EXPECT_RUN) {
            if (!run->options->quiet) {
                char text[2 * SCN_NAME_MAX + 64];
                printf("  expectation judged over seeds by sweep --check: %s\n",
                       tool_expect_text(text, sizeof(text), expect));
            }
            continue;
        }
        for (size_t m = 0; m < TESTBED_METRICS && found == NULL; m++) {
            found = strcmp(metrics[m].name, expect->metric) == 0 ? &metrics[m] : NULL;
        }
        if (found == NULL) {
            if (!run->options->quiet) {
                printf("  expectation skipped: %s %s (not measured by the testbed)\n",
                       expect->metric, expect->text);
            }
            continue;
        }
        bool passed = tool_cmp_holds(expect->cmp, found->value, expect->value);
        if (met_expect_add(run->db, run->run_id, expect->metric, tool_cmp_text(expect->cmp),
                           expect->value, found->value, passed) != 0) {
            return -1;
        }
        failed += !passed;
        if (!passed || !run->options->quiet) {
            char actual[SCN_FORMAT_MAX];
            fprintf(passed ? stdout : stderr, "  expectation %s: %s %s (actual %s)\n",
                    passed ? "passed" : "failed", expect->metric, expect->text,
                    scn_metric_find(expect->metric) >= 0
                        ? scn_format_expect(actual, sizeof(actual), expect, found->value)
                        : scn_format_value(actual, sizeof(actual), testbed_unit(found),
                                           found->value));
        }
    }
    return failed;
}

/* A fresh admin token, announced on stderr and written to --admin-token-file
 * (readers see the whole token or no file). Returns false when it cannot be
 * written. */
static bool admin_token(const testbed_options *options, char token[TB_TOKEN_CHARS + 1])
{
    tb_token_generate(token);
    fprintf(stderr, "infersim testbed: admin token %s\n", token);
    if (options->token_file == NULL) {
        return true;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s.tmp", options->token_file);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, token, TB_TOKEN_CHARS) == TB_TOKEN_CHARS &&
              write(fd, "\n", 1) == 1;
    ok = fd >= 0 && close(fd) == 0 && ok && rename(path, options->token_file) == 0;
    if (!ok) {
        fprintf(stderr, "infersim testbed: cannot write %s: %s\n", options->token_file,
                strerror(errno));
    }
    return ok;
}

/* ---- across hosts: the deployment directory ---- */

#define SUMMARY_MAGIC "infersim-summary 1"

/* Host I > 0: its counters for host 0, after its processes wrote their
 * rows. The same build on every host reads them (the header says so). */
static int host_summary_put(const testbed_options *options, const tb_summary *total)
{
    char header[128], name[32];
    int header_bytes = snprintf(header, sizeof(header), "%s %zu %s\n", SUMMARY_MAGIC,
                                sizeof(*total), INFERSIM_GIT_REV);
    uint8_t *bytes = util_malloc((size_t)header_bytes + sizeof(*total));
    if (bytes == NULL) {
        return TB_ENOMEM;
    }
    memcpy(bytes, header, (size_t)header_bytes);
    memcpy(bytes + header_bytes, total, sizeof(*total));
    snprintf(name, sizeof(name), "summary-%lld", (long long)options->host_index);
    int rc = tb_deploy_put(options->deploy_dir, name, bytes, (size_t)header_bytes + sizeof(*total));
    util_free(bytes);
    return rc;
}

/* Host 0: every other host's counters added to 'total'. Returns the first
 * host whose summary did not come (said on stderr), or 0 when all did. */
static uint32_t hosts_gather(const testbed_options *options, tb_summary *total)
{
    char header[128], name[32];
    int header_bytes = snprintf(header, sizeof(header), "%s %zu %s\n", SUMMARY_MAGIC,
                                sizeof(*total), INFERSIM_GIT_REV);
    size_t capacity = (size_t)header_bytes + sizeof(*total);
    uint8_t *bytes = util_malloc(capacity + 1);
    uint32_t missing = 0;
    for (uint32_t h = 1; bytes != NULL && h < options->hosts.count && missing == 0; h++) {
        snprintf(name, sizeof(name), "summary-%u", h);
        long got = tb_deploy_get(options->deploy_dir, name, (uint64_t)(options->wait_s * 1e9),
                                 NULL, bytes, capacity + 1);
        if (got != (long)capacity || memcmp(bytes, header, (size_t)header_bytes) != 0) {
            fprintf(stderr, "infersim testbed: host %u (%s) sent no summary (%s/%s) within "
                            "%.0f s%s: the run is incomplete\n",
                    h, options->hosts.hosts[h].name, options->deploy_dir, name, options->wait_s,
                    got >= 0 ? " (or one of another build)" : "");
            missing = h;
            break;
        }
        tb_summary *one = util_malloc(sizeof(*one));
        if (one != NULL) {
            memcpy(one, bytes + header_bytes, sizeof(*one));
            tb_summary_add(total, one);
        }
        missing = one == NULL ? h : 0;
        util_free(one);
    }
    util_free(bytes);
    return bytes == NULL ? 1 : missing;
}

/* A deployment directory serves one deployment: the files this host
 * would write must not be there yet. */
static bool hosts_dir_fresh(const testbed_options *options)
{
    char roster[32], summary[32];
    snprintf(roster, sizeof(roster), "roster-%lld", (long long)options->host_index);
    snprintf(summary, sizeof(summary), "summary-%lld", (long long)options->host_index);
    const char *names[] = {roster, summary, options->host_index == 0 ? "run" : roster};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (tb_deploy_exists(options->deploy_dir, names[i])) {
            fprintf(stderr, "infersim testbed: %s/%s exists: a deployment directory serves one "
                            "deployment; give every host a fresh empty one\n",
                    options->deploy_dir, names[i]);
            return false;
        }
    }
    return true;
}

/* Host I > 0: the run id host 0 announces. */
static bool hosts_run_id(const testbed_options *options, int64_t *run_id)
{
    char text[32];
    long got = tb_deploy_get(options->deploy_dir, "run", (uint64_t)(options->wait_s * 1e9),
                             &testbed_stop, text, sizeof(text) - 1);
    long long id = 0;
    if (got > 0) {
        text[got] = '\0';
    }
    if (got <= 0 || sscanf(text, "%lld", &id) != 1 || id <= 0) {
        fprintf(stderr, "infersim testbed: host 0 (%s) announced no run (%s/run) within %.0f s: "
                        "is it started, with the same hosts file and deployment directory?\n",
                options->hosts.hosts[0].name, options->deploy_dir, options->wait_s);
        return false;
    }
    *run_id = id;
    return true;
}

/* ---- the launch ---- */

/* The summary a run ends with. */
static void testbed_print(const testbed_context *run, const testbed_options *options,
                          const char *status, const tb_summary *total, double wall_s)
{
    if (options->quiet) {
        return;
    }
    printf("testbed run %lld: %s, %u processes, %.1f s\n"
           "  requests: %llu submitted, %llu completed\n"
           "  frames: %llu sent, %llu received, %llu rejected, %llu dropped by faults\n"
           "  process lives: %u ended without a summary (%u killed by crash faults)\n",
           (long long)run->run_id, status, options->processes, wall_s,
           (unsigned long long)total->requests_submitted,
           (unsigned long long)total->requests_completed, (unsigned long long)total->frames_out,
           (unsigned long long)total->frames_in, (unsigned long long)tb_summary_rejected(total),
           (unsigned long long)total->dropped, total->lives_lost,
           total->lives_lost - total->lives_died);
    if (options->emulate) {
        printf("  emulator: %llu frame copies held, lateness p50 %.1f us, p99 %.1f us\n",
               (unsigned long long)total->emulate_lateness.total_count,
               (double)util_hist_quantile(&total->emulate_lateness, 0.50) / 1e3,
               (double)util_hist_quantile(&total->emulate_lateness, 0.99) / 1e3);
    }
}

/* Host 0 (or the one host): the run's totals, metrics and verdict into
 * the database. 'rc' is tb_launch's; 'missing' a host whose counters did
 * not come (0: none). Returns the exit code. */
static int testbed_finish(testbed_context *run, const testbed_options *options, int rc,
                          const tb_summary *total, double wall_s, uint32_t missing)
{
    /* Read once: the status and the exit code agree (a signal after this
     * point is let go). */
    int stop = testbed_stop;
    testbed_quantiles quantiles;
    bool rows_whole = testbed_quantiles_read(run, total, &quantiles);
    /* Across hosts, rows no process lost with its life are missing because
     * a host could not write them: the run is incomplete. */
    bool rows_lost = options->hosts_file != NULL && !rows_whole && total->lives_died == 0 &&
                     total->lives_lost == 0 && missing == 0;
    testbed_metric metrics[TESTBED_METRICS];
    testbed_metrics(total, &quantiles, wall_s, metrics);
    int stored = rc == 0 && missing == 0 ? store_totals(run, total, metrics) : 0;
    /* A stopped run has no verdict (as in run): nothing is evaluated. */
    bool judged = rc == 0 && missing == 0 && stored == 0 && stop == 0;
    int failed = judged ? check_expectations(run, metrics) : 0;
    stored = failed < 0 ? -1 : stored;
    /* A process that died on its own took its rows with it: the run is
     * incomplete, and no check passes on it. */
    if (failed >= 0 && total->lives_died > 0 && judged) {
        failed += 1;
        fprintf(stderr, "infersim testbed: %u process life(s) died without their results: "
                        "their counters are counted up to their last snapshot, their nodes' "
                        "and requests' rows are missing; the run is incomplete\n",
                total->lives_died);
    }
    const char *check = (tool_run_expect_count(run->scenario) == 0 && total->lives_died == 0) ||
                                !judged
                            ? NULL
                        : failed > 0 ? "failed"
                                     : "passed";
    bool incomplete = missing != 0 || rows_lost;
    /* A stopped run is aborted, whatever the stop cut short: hosts still
     * connecting or not yet summed up when the signal came (the error
     * below still says what is missing). */
    const char *status = stop != 0                                               ? "aborted"
                         : rc != 0 || incomplete || stored != 0 || run->write_error ? "failed"
                                                                                    : "completed";
    char error[160];
    snprintf(error, sizeof(error), "%s",
             rows_lost ? "requests rows of some hosts' processes are missing" : "");
    if (missing != 0) {
        snprintf(error, sizeof(error), "host %u sent no summary: its counters are missing",
                 missing);
    }
    bool stopped_short = !incomplete && stop != 0 && total->lives_died > 0;
    if (stopped_short) {
        snprintf(error, sizeof(error), "interrupted by signal: %u process life(s) ended"
                 " without writing their rows", total->lives_died);
    }
    met_run_totals totals = {(uint64_t)(wall_s * 1e3), (uint64_t)(wall_s * 1e9), 0, 0,
                             incomplete ? NULL : check,
                             rc != 0 ? tb_strerror(rc)
                             : incomplete || stopped_short ? error
                                                           : NULL};
    if (met_run_finish(run->db, run->run_id, status, &totals) != 0) {
        fprintf(stderr, "infersim testbed: %s: the end of run %lld is not written (it stays"
                        " 'running', listed as incomplete): %s\n",
                run->db_path, (long long)run->run_id, met_db_errmsg(run->db));
    }
    testbed_print(run, options, status, total, wall_s);
    if (rc == TB_ESYS && options->base_port != 0) {
        fprintf(stderr, "infersim testbed: cannot listen on 127.0.0.1 ports %u..%u: %s\n",
                options->base_port, options->base_port + 2 * options->processes - 1,
                strerror(errno));
        return TOOL_EXIT_USAGE;
    }
    if (rc != 0 || incomplete) {
        fprintf(stderr, "infersim testbed: %s\n", rc != 0 ? tb_strerror(rc) : error);
        return TOOL_EXIT_INTERNAL;
    }
    if (stop != 0) {
        return 128 + stop;
    }
    return failed > 0 && options->check ? TOOL_EXIT_CHECK : TOOL_EXIT_OK;
}

/* Host I > 0: its processes wrote their rows; its counters go to host 0. */
static int testbed_follow_finish(testbed_context *run, const testbed_options *options, int rc,
                                 const tb_summary *total, double wall_s)
{
    if (rc != 0) {
        fprintf(stderr, "infersim testbed: host %lld: %s\n", (long long)options->host_index,
                tb_strerror(rc));
        return TOOL_EXIT_INTERNAL;
    }
    if (host_summary_put(options, total) != 0) {
        fprintf(stderr, "infersim testbed: cannot write host %lld's summary into %s: %s\n",
                (long long)options->host_index, options->deploy_dir, strerror(errno));
        return TOOL_EXIT_INTERNAL;
    }
    testbed_print(run, options, "host done", total, wall_s);
    return testbed_stop != 0 ? 128 + testbed_stop : TOOL_EXIT_OK;
}

static void testbed_signals(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = testbed_on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

static int testbed_launch(testbed_context *run, const testbed_options *options)
{
    char token[TB_TOKEN_CHARS + 1];
    bool follower = options->hosts_file != NULL && options->host_index > 0;
    if (!admin_token(options, token)) {
        met_run_totals totals = {0, 0, 0, 0, NULL, "cannot write the admin token file"};
        if (!follower) {
            met_run_finish(run->db, run->run_id, "failed", &totals);
        }
        return TOOL_EXIT_USAGE;
    }
    tb_launch_config config = {
        .scenario = run->scenario,
        .process_count = options->processes,
        .http_requests = options->http_requests,
        .keys_dir = options->keys_dir,
        .admin_token = token,
        .workload = options->workload,
        .apply_faults = options->faults,
        .emulate = options->emulate,
        .run_ns = (uint64_t)(options->duration_s * 1e9),
        .base_port = options->base_port,
        .hosts = options->hosts_file != NULL ? &options->hosts : NULL,
        .host_index = options->host_index > 0 ? (uint32_t)options->host_index : 0,
        .deploy_dir = options->deploy_dir,
        .wait_ns = (uint64_t)(options->wait_s * 1e9),
        .on_stop = child_on_stop,
        .context = run,
        .on_ready = on_ready,
        .on_fault = follower ? NULL : on_fault,
        .hurry = &testbed_hurry,
        /* At the end, a process waits for the file's lock as any writer does. */
        .end_wait_ns = ((uint64_t)MET_BUSY_WAIT_MS + 20000u) * 1000000u,
    };
    testbed_signals();
    if (run->db != NULL) {
        met_db_stop_on(run->db, &testbed_hurry); /* a wait for the lock ends at a hurry */
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    tb_summary total;
    int rc = tb_launch(&config, &testbed_stop, &total);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double wall_s =
        (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    if (follower) {
        return testbed_follow_finish(run, options, rc, &total, wall_s);
    }
    uint32_t missing = rc == 0 && config.hosts != NULL ? hosts_gather(options, &total) : 0;
    return testbed_finish(run, options, rc, &total, wall_s, missing);
}

static bool hosts_none(void *context, uint32_t node_id)
{
    (void)context;
    (void)node_id;
    return false;
}

/* --keys DIR: a roster of the scenario's node count, before anything starts. */
static bool testbed_keys_check(const char *dir, const scn_scenario *scenario)
{
    tb_keys keys;
    char why[512];
    int rc = tb_keys_load(&keys, dir, scenario->nodes.count, false, hosts_none, NULL, why,
                          sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "infersim testbed: --keys: %s\n", rc == TB_EKEYS ? why : tb_strerror(rc));
        return false;
    }
    tb_keys_deinit(&keys);
    return true;
}

/* --hosts and its companions: consistent, and the hosts file read.
 * Returns TOOL_EXIT_OK or TOOL_EXIT_USAGE (said on stderr). */
static int testbed_hosts_options(testbed_options *o)
{
    if (o->hosts_file == NULL) {
        if (o->host_index >= 0 || o->deploy_dir != NULL || o->netns) {
            return tool_usage_error("testbed", "--host-index, --deploy-dir and --netns go with "
                                               "--hosts FILE");
        }
        return TOOL_EXIT_OK;
    }
    if (o->processes_given || o->base_port != 0) {
        return tool_usage_error("testbed", "--hosts FILE gives the processes and their ports: "
                                           "drop --processes and --base-port");
    }
    if (o->netns && (o->host_index >= 0 || o->deploy_dir != NULL)) {
        return tool_usage_error("testbed", "--netns starts every host itself: drop --host-index "
                                           "and --deploy-dir");
    }
    if (!o->netns && (o->host_index < 0 || o->deploy_dir == NULL)) {
        return tool_usage_error("testbed", "--hosts FILE needs --host-index I and --deploy-dir "
                                           "DIR (or --netns to try every host on this machine)");
    }
    char why[512];
    int rc = tb_hosts_load(o->hosts_file, &o->hosts, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "%s\n", rc == TB_EINVAL ? why : tb_strerror(rc));
        return rc == TB_EINVAL ? TOOL_EXIT_USAGE : TOOL_EXIT_INTERNAL;
    }
    if (o->host_index >= (int64_t)o->hosts.count) {
        fprintf(stderr, "infersim testbed: --host-index %lld: %s has %u host(s)\n",
                (long long)o->host_index, o->hosts_file, o->hosts.count);
        return TOOL_EXIT_USAGE;
    }
    o->processes = o->hosts.process_count;
    return TOOL_EXIT_OK;
}

/* What the scenario allows a testbed run; TOOL_EXIT_USAGE said on stderr. */
static int testbed_scenario_check(const testbed_options *options, const scn_scenario *scenario)
{
    if (scenario->workload.kind != SCN_WORKLOAD_INFERENCE ||
        options->processes > scenario->nodes.count) {
        fprintf(stderr, "infersim testbed: %s: the testbed runs inference scenarios (a model:) "
                        "with at least as many nodes as processes\n",
                options->file);
        return TOOL_EXIT_USAGE;
    }
    if (scenario->ledger.validators > 0 &&
        options->processes > scenario->ledger.validators - scenario->ledger.byzantine) {
        /* A process learns committed blocks from the honest validators it
         * hosts: process p hosts validator p. */
        fprintf(stderr, "infersim testbed: %s: a ledger needs every process to host an honest "
                        "validator: at most %u processes (ledger.validators - byzantine)\n",
                options->file, scenario->ledger.validators - scenario->ledger.byzantine);
        return TOOL_EXIT_USAGE;
    }
    if (scenario->churn.enabled) {
        /* Joins and leaves move placement and routes in one shared world. */
        fprintf(stderr, "infersim testbed: %s: a churn section runs in the simulator only "
                        "(infersim run)\n",
                options->file);
        return TOOL_EXIT_USAGE;
    }
    if (scenario->workload.until != SCN_UNTIL_REQUESTS) {
        /* The processes' clients follow a plan drawn before the run. */
        fprintf(stderr, "infersim testbed: %s: workload.until: all_served runs in the "
                        "simulator only (infersim run)\n",
                options->file);
        return TOOL_EXIT_USAGE;
    }
    if (options->keys_dir != NULL && !testbed_keys_check(options->keys_dir, scenario)) {
        return TOOL_EXIT_USAGE;
    }
    return TOOL_EXIT_OK;
}

/* Host I > 0 of a deployment: joins host 0's run; writes no run itself. */
static int testbed_follow(testbed_context *run, const testbed_options *options)
{
    testbed_signals();
    if (!hosts_dir_fresh(options)) {
        return TOOL_EXIT_USAGE;
    }
    if (!hosts_run_id(options, &run->run_id)) {
        return testbed_stop != 0 ? 128 + testbed_stop : TOOL_EXIT_INTERNAL;
    }
    return testbed_launch(run, options);
}

/* A deployment's params rows: how many hosts, and each one's line. */
static int hosts_params(testbed_context *run, const testbed_options *options)
{
    char key[64], value[192];
    snprintf(value, sizeof(value), "%u", options->hosts.count);
    int rc = met_param_set(run->db, run->run_id, "testbed.hosts", value);
    for (uint32_t h = 0; rc == 0 && h < options->hosts.count; h++) {
        const tb_host *host = &options->hosts.hosts[h];
        snprintf(key, sizeof(key), "testbed.host.%u", h);
        snprintf(value, sizeof(value), "%s:%u-%u", host->name, host->port_first,
                 host->port_last);
        rc = met_param_set(run->db, run->run_id, key, value);
    }
    /* Committed now: an open batch would lock every process out. */
    return rc == 0 ? met_flush(run->db) : rc;
}

/* The one host, or host 0 of a deployment: begins the run (and announces
 * it to the other hosts), launches, finishes it. */
static int testbed_lead(testbed_context *run, const testbed_options *options)
{
    char why[512];
    const scn_scenario *scenario = run->scenario;
    bool deployed = options->hosts_file != NULL;
    if (deployed && !hosts_dir_fresh(options)) {
        return TOOL_EXIT_USAGE;
    }
    if (met_db_open(run->db_path, &run->db, why, sizeof(why)) != 0) {
        fprintf(stderr, "infersim testbed: %s\n", why); /* 'why' names the file */
        return TOOL_EXIT_USAGE;
    }
    met_run_info info = {scenario->name, scenario->sha256_hex, INFERSIM_GIT_REV, "testbed",
                         scenario->seed, scenario->nodes.count};
    int code = TOOL_EXIT_OK;
    if (met_run_begin(run->db, &info, scenario->params, scenario->param_count, &run->run_id) != 0) {
        fprintf(stderr, "infersim testbed: %s: %s\n", run->db_path, met_db_errmsg(run->db));
        code = TOOL_EXIT_INTERNAL;
    }
    char text[32];
    int length = snprintf(text, sizeof(text), "%lld\n", (long long)run->run_id);
    if (code == TOOL_EXIT_OK && deployed && hosts_params(run, options) != 0) {
        fprintf(stderr, "infersim testbed: %s: %s\n", run->db_path, met_db_errmsg(run->db));
        code = TOOL_EXIT_INTERNAL;
    }
    if (code == TOOL_EXIT_OK && deployed &&
        tb_deploy_put(options->deploy_dir, "run", text, (size_t)length) != 0) {
        fprintf(stderr, "infersim testbed: cannot write %s/run: %s\n", options->deploy_dir,
                strerror(errno));
        met_run_totals totals = {0, 0, 0, 0, NULL, "cannot write the deployment directory"};
        met_run_finish(run->db, run->run_id, "failed", &totals);
        code = TOOL_EXIT_USAGE;
    }
    if (code == TOOL_EXIT_OK) {
        code = testbed_launch(run, options);
    }
    met_db_close(run->db);
    return code;
}

int tool_testbed_main(int argc, char **argv)
{
    testbed_options *options = util_calloc(1, sizeof(*options));
    scn_scenario *scenario = NULL;
    if (options == NULL) {
        return TOOL_EXIT_INTERNAL;
    }
    int code = testbed_parse(argc, argv, options);
    if (code == TOOL_EXIT_OK) {
        code = testbed_hosts_options(options);
    }
    if (code == TOOL_EXIT_OK) {
        code = tool_scenario_load(options->file, options->overrides, options->override_count,
                                  &scenario);
    }
    if (code == TOOL_EXIT_OK) {
        code = testbed_scenario_check(options, scenario);
    }
    if (code == TOOL_EXIT_OK && options->netns) {
        testbed_signals();
        code = tool_netns_testbed(argc, argv, &options->hosts, &testbed_stop);
        code = testbed_stop != 0 ? 128 + testbed_stop : code; /* as a shell expects */
    } else if (code == TOOL_EXIT_OK) {
        testbed_context run = {options, scenario, NULL, NULL, 0, false};
        run.db_path = options->db != NULL ? options->db : scenario->output.db;
        code = options->host_index > 0 ? testbed_follow(&run, options)
                                       : testbed_lead(&run, options);
    }
    scn_destroy(scenario);
    util_free(options);
    return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
}
