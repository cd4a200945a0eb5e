/* cmd_testbed.c -- `infersim testbed` (the scenario's nodes as real
 * processes on 127.0.0.1) and `infersim client` (libcurl load against
 * their HTTP API). Both write a run with runs.mode = 'testbed' into the
 * same SQLite schema as a simulated run. In `testbed`, each node process
 * writes its own rows (its nodes; its clients' requests, segments,
 * divergence and violations) when it stops -- the launcher stops them one at
 * a time -- and the launcher writes the run, the messages table summed over
 * processes, the crash faults it applied and the run-level metrics. */
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
    "Runs the scenario's nodes as real processes on 127.0.0.1: frames over TCP,\n"
    "real timers, an HTTP API per process (GET /status, GET /metrics,\n"
    "POST /v1/infer, POST /admin/...). The scenario's workload is replayed in real\n"
    "time and its faults applied (crash = kill -9 and restart of the processes\n"
    "hosting the nodes). Results go to SQLite as a run with mode 'testbed'.\n"
    "Frames are authenticated with random per-node keys (never the seed's): a MAC\n"
    "under a per-link X25519-derived key, ed25519 on votes; replays are refused.\n"
    "\n"
    "options:\n"
    "  --db FILE            results database (default: the scenario's output.db)\n"
    "  --processes P        node processes, 1..64 (default 1); node i runs in i % P\n"
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
    "  --keys DIR           node keys from `infersim keygen` (default: fresh random keys\n"
    "                       in a private run directory, removed at the end); each\n"
    "                       process reads only its own nodes' DIR/node-I.key\n"
    "  --admin-token-file F write the admin token there (mode 0600); it is also printed\n"
    "                       on stderr. /admin/* wants 'Authorization: Bearer TOKEN'\n"
    "  --check              exit 1 when an expectation over what the testbed measures\n"
    "                       fails (the others are skipped and listed)\n"
    "  --quiet              no summary\n";

static volatile sig_atomic_t testbed_stop;

static void testbed_on_signal(int signal_number)
{
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
        {"--emulate", 0, false}};
    static const tool_command command = {"testbed", testbed_usage, table,
                                         sizeof(table) / sizeof(table[0]), testbed_option};
    memset(o, 0, sizeof(*o));
    o->processes = 1;
    o->http_requests = 256;
    o->workload = true;
    o->faults = true;
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
    static const char *const kinds[] = {"accepted_wrong", "honest_penalised",
                                        "double_finalization"};
    uint64_t base = ((uint64_t)config->generation * config->process_count + config->process)
                    << 32;
    for (uint64_t i = 0; i < result->violation_count; i++) {
        const world_violation *v = &result->violations[i];
        char detail[64];
        snprintf(detail, sizeof(detail), "step %u, process %u", v->step, config->process);
        met_violation_row row = {
            base + i, kinds[v->kind], v->t_ns, (int64_t)v->request, (int32_t)v->segment,
            v->node_id == UINT32_MAX ? -1 : (int64_t)v->node_id, detail,
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
    char path[4096];
    FILE *file = NULL;
    if (run->options->ports_file != NULL) {
        snprintf(path, sizeof(path), "%s.tmp", run->options->ports_file);
        file = fopen(path, "w");
        if (file == NULL) {
            fprintf(stderr, "infersim testbed: cannot write %s: %s\n", path, strerror(errno));
        }
    }
    for (uint32_t p = 0; p < count; p++) {
        if (!run->options->quiet) {
            printf("process %u: http://127.0.0.1:%u\n", p, http_ports[p]);
        }
        if (file != NULL) {
            fprintf(file, "http://127.0.0.1:%u\n", http_ports[p]);
        }
    }
    fflush(stdout);
    if (file != NULL && fclose(file) == 0) {
        rename(path, run->options->ports_file); /* Readers see all lines or none. */
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
    if (met_fault_add(run->db, run->run_id, &row) != 0 || met_flush(run->db) != 0) {
        run->write_error = true;
    }
}

typedef struct testbed_metric {
    const char *name;
    double value;
} testbed_metric;

#define TESTBED_METRICS 27

/* The run's percentiles of request durations: p50, p95, p99 of latency,
 * p50 of the first token, p50 and p99 of finality. */
typedef struct testbed_quantiles {
    double latency[3];
    double first_token;
    double finality[2];
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

/* Exact percentiles from the stored requests rows, as the simulator's;
 * when rows are missing, the processes' merged histograms (bucket edges,
 * within about 1 %), said on stderr. */
static void testbed_quantiles_read(testbed_context *run, const tb_summary *total,
                                   testbed_quantiles *out)
{
    static const double latency_q[3] = {0.50, 0.95, 0.99};
    static const double finality_q[2] = {0.50, 0.99};
    static const double median[1] = {0.50};
    const scn_verification *v = &run->scenario->verification;
    uint64_t window = v->protocol == CONS_PROTOCOL_OPTIMISTIC ? v->challenge_window_ns : 0;
    uint64_t completed = total->requests_completed;
    bool exact =
        span_quantiles(run, MET_SPAN_LATENCY, 0, completed, latency_q, out->latency, 3) &&
        span_quantiles(run, MET_SPAN_FINALITY, window, completed, finality_q, out->finality, 2) &&
        span_quantiles(run, MET_SPAN_FIRST_TOKEN, 0, total->first_token.total_count, median,
                       &out->first_token, 1);
    if (exact) {
        return;
    }
    fprintf(stderr, "infersim testbed: requests rows are missing; the percentiles are the "
                    "processes' merged histograms (within about 1 %%)\n");
    for (size_t i = 0; i < 3; i++) {
        out->latency[i] = util_hist_metric(&total->request_latency, latency_q[i]);
    }
    out->first_token = util_hist_metric(&total->first_token, 0.50);
    out->finality[0] = util_hist_metric(&total->finality, 0.50);
    out->finality[1] = util_hist_metric(&total->finality, 0.99);
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
    };
    _Static_assert(sizeof(metrics) == TESTBED_METRICS * sizeof(testbed_metric),
                   "TESTBED_METRICS counts the metrics");
    memcpy(out, metrics, sizeof(metrics));
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

static int testbed_launch(testbed_context *run, const testbed_options *options)
{
    char token[TB_TOKEN_CHARS + 1];
    if (!admin_token(options, token)) {
        met_run_totals totals = {0, 0, 0, 0, NULL, "cannot write the admin token file"};
        met_run_finish(run->db, run->run_id, "failed", &totals);
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
        .on_stop = child_on_stop,
        .context = run,
        .on_ready = on_ready,
        .on_fault = on_fault,
    };
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = testbed_on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    tb_summary total;
    int rc = tb_launch(&config, &testbed_stop, &total);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double wall_s =
        (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    testbed_quantiles quantiles;
    testbed_quantiles_read(run, &total, &quantiles);
    testbed_metric metrics[TESTBED_METRICS];
    testbed_metrics(&total, &quantiles, wall_s, metrics);
    int stored = rc == 0 ? store_totals(run, &total, metrics) : 0;
    /* A stopped run has no verdict (as in run): nothing is evaluated. */
    bool judged = rc == 0 && stored == 0 && testbed_stop == 0;
    int failed = judged ? check_expectations(run, metrics) : 0;
    stored = failed < 0 ? -1 : stored;
    /* A process that died on its own took its rows with it: the run is
     * incomplete, and no check passes on it. */
    if (failed >= 0 && total.lives_died > 0 && judged) {
        failed += 1;
        fprintf(stderr, "infersim testbed: %u process life(s) died without their results: "
                        "their counters are counted up to their last snapshot, their nodes' "
                        "and requests' rows are missing; the run is incomplete\n",
                total.lives_died);
    }
    const char *check = (tool_run_expect_count(run->scenario) == 0 && total.lives_died == 0) ||
                                !judged
                            ? NULL
                        : failed > 0 ? "failed"
                                     : "passed";
    const char *status = rc != 0 || stored != 0 || run->write_error ? "failed"
                         : testbed_stop != 0                       ? "aborted"
                                                                   : "completed";
    met_run_totals totals = {(uint64_t)(wall_s * 1e3), (uint64_t)(wall_s * 1e9), 0, 0, check,
                             rc != 0 ? tb_strerror(rc) : NULL};
    met_run_finish(run->db, run->run_id, status, &totals);
    if (!options->quiet) {
        printf("testbed run %lld: %s, %u processes, %.1f s\n"
               "  requests: %llu submitted, %llu completed\n"
               "  frames: %llu sent, %llu received, %llu rejected, %llu dropped by faults\n"
               "  process lives: %u ended without a summary (%u killed by crash faults)\n",
               (long long)run->run_id, status, options->processes, wall_s,
               (unsigned long long)total.requests_submitted,
               (unsigned long long)total.requests_completed, (unsigned long long)total.frames_out,
               (unsigned long long)total.frames_in,
               (unsigned long long)tb_summary_rejected(&total),
               (unsigned long long)total.dropped, total.lives_lost,
               total.lives_lost - total.lives_died);
        if (options->emulate) {
            printf("  emulator: %llu frame copies held, lateness p50 %.1f us, p99 %.1f us\n",
                   (unsigned long long)total.emulate_lateness.total_count,
                   (double)util_hist_quantile(&total.emulate_lateness, 0.50) / 1e3,
                   (double)util_hist_quantile(&total.emulate_lateness, 0.99) / 1e3);
        }
    }
    if (rc == TB_ESYS && options->base_port != 0) {
        fprintf(stderr, "infersim testbed: cannot listen on 127.0.0.1 ports %u..%u: %s\n",
                options->base_port, options->base_port + 2 * options->processes - 1,
                strerror(errno));
        return TOOL_EXIT_USAGE;
    }
    if (rc != 0) {
        fprintf(stderr, "infersim testbed: %s\n", tb_strerror(rc));
        return TOOL_EXIT_INTERNAL;
    }
    if (testbed_stop != 0) {
        return 128 + testbed_stop;
    }
    return failed > 0 && options->check ? TOOL_EXIT_CHECK : TOOL_EXIT_OK;
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

int tool_testbed_main(int argc, char **argv)
{
    testbed_options options;
    scn_scenario *scenario = NULL;
    char why[512];
    int code = testbed_parse(argc, argv, &options);
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    code = tool_scenario_load(options.file, options.overrides, options.override_count,
                              &scenario);
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    if (scenario->workload.kind != SCN_WORKLOAD_INFERENCE ||
        options.processes > scenario->nodes.count) {
        fprintf(stderr, "infersim testbed: %s: the testbed runs inference scenarios (a model:) "
                        "with at least as many nodes as processes\n",
                options.file);
        scn_destroy(scenario);
        return TOOL_EXIT_USAGE;
    }
    if (scenario->ledger.validators > 0) {
        /* Each process would record only its own validators' commits. */
        fprintf(stderr, "infersim testbed: %s: a ledger section runs in the simulator only "
                        "(infersim run)\n",
                options.file);
        scn_destroy(scenario);
        return TOOL_EXIT_USAGE;
    }
    if (scenario->churn.enabled) {
        /* Joins and leaves move placement and routes in one shared world. */
        fprintf(stderr, "infersim testbed: %s: a churn section runs in the simulator only "
                        "(infersim run)\n",
                options.file);
        scn_destroy(scenario);
        return TOOL_EXIT_USAGE;
    }
    if (options.keys_dir != NULL && !testbed_keys_check(options.keys_dir, scenario)) {
        scn_destroy(scenario);
        return TOOL_EXIT_USAGE;
    }
    testbed_context run = {&options, scenario, NULL, NULL, 0, false};
    run.db_path = options.db != NULL ? options.db : scenario->output.db;
    if (met_db_open(run.db_path, &run.db, why, sizeof(why)) != 0) {
        fprintf(stderr, "infersim testbed: %s\n", why); /* 'why' names the file */
        scn_destroy(scenario);
        return TOOL_EXIT_USAGE;
    }
    met_run_info info = {scenario->name, scenario->sha256_hex, INFERSIM_GIT_REV, "testbed",
                         scenario->seed, scenario->nodes.count};
    if (met_run_begin(run.db, &info, scenario->params, scenario->param_count, &run.run_id) != 0) {
        fprintf(stderr, "infersim testbed: %s: %s\n", run.db_path, met_db_errmsg(run.db));
        code = TOOL_EXIT_INTERNAL;
    } else {
        code = testbed_launch(&run, &options);
    }
    met_db_close(run.db);
    scn_destroy(scenario);
    return code;
}
