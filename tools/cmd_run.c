/* cmd_run.c -- `infersim run`: load and validate a scenario (nothing is
 * written before it is known good), open the results database, record the
 * run as 'running', simulate with rows streaming into SQLite, then store
 * per-node and per-message-type rows, run metrics and expectations, and
 * mark the run completed (or aborted on SIGINT/SIGTERM, or failed). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics/met.h"
#include "scenarios/scn.h"
#include "sim/sim.h"
#include "tools/tool.h"
#include "util/alloc.h"
#include "util/workers.h"

#define RUN_OVERRIDES_MAX 256

static const char run_usage[] =
    "usage: infersim run FILE [--seed N] [--db F] [--set key=value]... [--threads N]\n"
    "                    [--inline] [--check] [--quiet]\n"
    "\n"
    "Runs the scenario FILE in the simulator and stores the run in the SQLite\n"
    "database (default: the scenario's output.db, usually results.db).\n"
    "\n"
    "  --seed N         override the scenario's seed\n"
    "  --db F           results database file\n"
    "  --set key=value  override one scenario key, e.g. --set nodes.count=500\n"
    "                   or --set faults.0.at=2s (repeatable, applied in order)\n"
    "  --threads N      threads for pure arithmetic (the oracle's re-executions);\n"
    "                   default: the online cores. Results do not depend on N\n"
    "  --inline         every server's forward call on the nodes' own thread, as\n"
    "                   in the testbed: none on the pool, none copied from another\n"
    "                   committee member's. Slower; the results are the same\n"
    "  --check          exit 1 when an expectation of the scenario fails\n"
    "  --quiet          no progress line and no summary; errors only\n";

static volatile sig_atomic_t run_stop_signal;
static volatile sig_atomic_t run_stop_count;  /* signals so far */

static void run_on_signal(int signal_number)
{
    run_stop_signal = signal_number;
    run_stop_count += 1;
}

typedef struct run_options {
    const char *file;
    const char *db;
    const char *overrides[RUN_OVERRIDES_MAX + 1];
    size_t override_count;
    char seed_override[40];
    uint32_t threads;
    bool inline_compute;
    bool check;
    bool quiet;
} run_options;

typedef struct run_context {
    met_db *db;
    int64_t run_id;
    int write_error;
    bool progress;
    uint64_t duration_ns;
    struct timespec started;
    sig_atomic_t signals_at_store;   /* run_stop_count when storing began */
} run_context;

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static int run_option(void *context, const char *name, const char *value)
{
    run_options *options = context;
    if (strcmp(name, "--seed") == 0) {
        unsigned long long seed;
        if (!tool_parse_u64(value, &seed)) {
            return tool_usage_error("run", "--seed needs an unsigned integer, got '%s'", value);
        }
        snprintf(options->seed_override, sizeof(options->seed_override), "seed=%llu", seed);
    } else if (strcmp(name, "--db") == 0) {
        options->db = value;
    } else if (strcmp(name, "--set") == 0) {
        if (options->override_count == RUN_OVERRIDES_MAX) {
            return tool_usage_error("run", "at most %d --set overrides", RUN_OVERRIDES_MAX);
        }
        options->overrides[options->override_count++] = value;
    } else if (strcmp(name, "--threads") == 0) {
        unsigned long long threads = 0;
        int code = tool_parse_range("run", "--threads", value, 1, UTIL_WORKERS_MAX, &threads);
        if (code != TOOL_EXIT_OK) {
            return code;
        }
        options->threads = (uint32_t)threads;
    } else if (strcmp(name, "--check") == 0) {
        options->check = true;
    } else if (strcmp(name, "--inline") == 0) {
        options->inline_compute = true;
    } else {
        options->quiet = true;
    }
    return TOOL_EXIT_OK;
}

static int parse_options(int argc, char **argv, run_options *options)
{
    static const tool_option table[] = {{"--seed", 0, true},   {"--db", 0, true},
                                        {"--set", 0, true},    {"--check", 0, false},
                                        {"--quiet", 'q', false}, {"--threads", 0, true},
                                        {"--inline", 0, false}};
    static const tool_command command = {"run", run_usage, table, 7, run_option};
    memset(options, 0, sizeof(*options));
    options->threads = tool_threads_default();
    int first = 0;
    int code = tool_options_parse(&command, argc, argv, options, &first);
    if (code == TOOL_EXIT_OK) {
        code = tool_positional_one("run", argc, argv, first, "scenario FILE", &options->file);
    }
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    if (options->seed_override[0] != '\0') {
        options->overrides[options->override_count++] = options->seed_override; /* Last wins. */
    }
    return TOOL_EXIT_OK;
}

/* ---- observer: streams faults and samples into SQLite ---- */

static void on_fault(void *context, uint32_t fault_index, const char *kind, const char *action,
                     uint64_t t_ns, uint32_t nodes_affected, const char *detail)
{
    run_context *run = context;
    met_fault_row row = {fault_index, kind, action, t_ns, nodes_affected, detail};
    if (met_fault_add(run->db, run->run_id, &row) != 0) {
        run->write_error = 1;
    }
}

static void on_sample(void *context, uint64_t t_ns, const char *name, double value)
{
    run_context *run = context;
    if (met_timeseries_add(run->db, run->run_id, t_ns, name, value) != 0) {
        run->write_error = 1;
    }
}

static void on_progress(void *context, uint64_t sim_ns, uint64_t events)
{
    run_context *run = context;
    if (!run->progress) {
        return;
    }
    double wall = seconds_since(&run->started);
    double done = run->duration_ns ? (double)sim_ns / (double)run->duration_ns : 1.0;
    double left = done > 0.0 ? wall * (1.0 - done) / done : 0.0;
    char rate[SCN_FORMAT_MAX];
    fprintf(stderr, "\r  sim %.3fs / %.3fs  %s  ETA %.0fs   ", (double)sim_ns / 1e9,
            (double)run->duration_ns / 1e9,
            scn_format_value(rate, sizeof(rate), "events/s",
                             wall > 0 ? (double)events / wall : 0.0),
            left);
    fflush(stderr);
}

/* ---- rows written at the end of a run ---- */

static int store_nodes(run_context *run, const scn_scenario *scenario, const world_result *result)
{
    enum { BATCH = 1024 };
    met_node_row rows[BATCH];
    for (uint32_t start = 0; start < result->node_count; start += BATCH) {
        uint32_t count = result->node_count - start < BATCH ? result->node_count - start : BATCH;
        for (uint32_t k = 0; k < count; k++) {
            uint32_t i = start + k;
            const world_node_stats *stats = &result->nodes[i];
            rows[k] = (met_node_row){
                i, scenario->nodes.classes[result->class_of[i]].name,
                scenario->nodes.regions[result->region_of[i]].name,
                tool_behaviour_name(result, i), stats->messages_sent, stats->bytes_sent,
                stats->messages_received, stats->bytes_received, stats->rejected,
                stats->delivered, stats->crashes,
                result->verified ? result->stake[i] : NAN,
                result->verified ? result->reputation[i] : NAN,
                result->verified ? result->balance[i] : NAN,
            };
        }
        if (met_nodes_add(run->db, run->run_id, rows, count) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Whether a run writes message type t's row: the types of a feature the
 * run does not use are left out, so runs without it keep their rows. */
static bool store_message_type(const world_result *result, uint32_t t)
{
    switch (t) {
    case NODE_MESSAGE_LEDGER_BFT:
    case NODE_MESSAGE_LEDGER_TX:
    case NODE_MESSAGE_LEDGER_RECEIPT:
        return result->ledger_on;
    case NODE_MESSAGE_LEDGER_GOSSIP:
        return result->ledger_gossip;
    case NODE_MESSAGE_CARTEL_AGREE:
        return result->cartel_on;
    case NODE_MESSAGE_INFER_ATTEST_ASK:
    case NODE_MESSAGE_INFER_ATTEST:
        return result->ledger_timeout_evidence;
    default:
        return true;
    }
}

static int store_messages(run_context *run, const scn_scenario *scenario,
                          const world_result *result)
{
    (void)scenario;
    met_message_row rows[NODE_MESSAGE_TYPE_COUNT];
    size_t count = 0;
    for (uint32_t t = 1; t < NODE_MESSAGE_TYPE_COUNT; t++) {
        const world_type_stats *s = &result->types[t];
        if (!store_message_type(result, t)) {
            continue;
        }
        rows[count++] = (met_message_row){
            node_message_type_name((uint8_t)t), s->sent, s->bytes_sent, s->delivered,
            s->bytes_delivered, s->dropped[WORLD_DROP_LOSS], s->dropped[WORLD_DROP_PARTITION],
            s->dropped[WORLD_DROP_CRASHED], s->duplicated, s->reordered, s->corrupted, s->rejected,
        };
    }
    return met_messages_add(run->db, run->run_id, rows, count);
}

static int store_metrics(run_context *run, const scn_scenario *scenario,
                         const world_result *result)
{
    (void)scenario;
    for (int m = 0; m < SCN_METRIC_COUNT; m++) {
        double value = world_result_metric_value(result, (scn_metric)m);
        if (isnan(value)) {
            continue; /* Not measured in this kind of run (e.g. request latency in gossip). */
        }
        if (met_metric_add(run->db, run->run_id, scn_metrics[m].name, value,
                           scn_metrics[m].unit) != 0) {
            return -1;
        }
    }
    return 0;
}

const char *tool_cmp_text(scn_cmp cmp)
{
    static const char *const texts[] = {"==", "<=", "<", ">=", ">"};
    return texts[cmp];
}

bool tool_cmp_holds(scn_cmp cmp, double actual, double expected)
{
    switch (cmp) {
    case SCN_CMP_EQ: return actual == expected;
    case SCN_CMP_LE: return actual <= expected;
    case SCN_CMP_LT: return actual < expected;
    case SCN_CMP_GE: return actual >= expected;
    case SCN_CMP_GT: return actual > expected;
    }
    return false;
}

/* An over-seed expectation as written: "completed_ratio each >= 0.95,
 * passing >= 0.9" or "accepted_wrong_ratio mean <= 0.01". */
const char *tool_expect_text(char *buffer, size_t size, const scn_expect *expect)
{
    if (expect->scope == SCN_EXPECT_PASSING) {
        snprintf(buffer, size, "%s each %s, passing %s", expect->metric, expect->text,
                 expect->passing_text);
    } else {
        snprintf(buffer, size, "%s %s%s", expect->metric,
                 expect->scope == SCN_EXPECT_MEAN ? "mean " : "", expect->text);
    }
    return buffer;
}

/* The run-level expectations of 'scenario' (the over-seed ones, {mean}
 * and {each, passing}, are judged by infersim sweep --check). */
uint32_t tool_run_expect_count(const scn_scenario *scenario)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < scenario->expect_count; i++) {
        count += scenario->expects[i].scope == SCN_EXPECT_RUN;
    }
    return count;
}

/* The value of expectation metric 'name' in 'result' (NAN when unknown:
 * the loader only accepts known metrics). */
static double expect_actual(const world_result *result, const char *name)
{
    double actual = NAN;
    if (world_result_metric(result, name, &actual) != 0) {
        actual = NAN;
    }
    return actual;
}

/* Evaluates every run-level expectation and stores its outcome (an
 * over-seed one has no verdict on one run). Returns the number that
 * failed, or -1 on a write error. */
static int store_expectations(run_context *run, const scn_scenario *scenario,
                              const world_result *result)
{
    int failed = 0;
    for (uint32_t i = 0; i < scenario->expect_count; i++) {
        const scn_expect *expect = &scenario->expects[i];
        if (expect->scope != SCN_EXPECT_RUN) {
            continue;
        }
        double actual = expect_actual(result, expect->metric);
        bool passed = tool_cmp_holds(expect->cmp, actual, expect->value);
        if (met_expect_add(run->db, run->run_id, expect->metric, tool_cmp_text(expect->cmp),
                           expect->value, actual, passed) != 0) {
            return -1;
        }
        failed += passed ? 0 : 1;
    }
    return failed;
}

/* Names each expectation's outcome after the summary, the actual value in
 * the unit the expectation was written in: a failure on stderr (also when
 * quiet), the others on stdout. */
static void print_expectations(const scn_scenario *scenario, const world_result *result,
                               bool quiet)
{
    for (uint32_t i = 0; i < scenario->expect_count; i++) {
        const scn_expect *expect = &scenario->expects[i];
        char shown[2 * SCN_NAME_MAX + 64];
        if (expect->scope != SCN_EXPECT_RUN) {
            if (!quiet) {
                printf("  expectation judged over seeds by sweep --check: %s\n",
                       tool_expect_text(shown, sizeof(shown), expect));
            }
            continue;
        }
        double actual = expect_actual(result, expect->metric);
        scn_format_expect(shown, sizeof(shown), expect, actual);
        if (!tool_cmp_holds(expect->cmp, actual, expect->value)) {
            fprintf(stderr, "expectation failed: %s %s (actual %s)\n", expect->metric,
                    expect->text, shown);
        } else if (!quiet) {
            printf("  expectation passed: %s %s (actual %s)\n", expect->metric, expect->text,
                   shown);
        }
    }
}

/* ---- the summary on stdout ---- */

/* Metric 'name' of 'result' for a person, in buffer[SCN_FORMAT_MAX]. */
const char *tool_metric_text(char *buffer, const world_result *result, const char *name)
{
    double value = NAN;
    world_result_metric(result, name, &value);
    return scn_format_metric(buffer, SCN_FORMAT_MAX, name, value);
}

static void print_metric_line(const world_result *result)
{
    char ratio[SCN_FORMAT_MAX], p50[SCN_FORMAT_MAX], p95[SCN_FORMAT_MAX], p99[SCN_FORMAT_MAX];
    printf("  rumors     %llu published, %llu origin down, delivery ratio %s\n",
           (unsigned long long)result->rumors_published,
           (unsigned long long)result->publish_failed,
           tool_metric_text(ratio, result, "delivery_ratio"));
    printf("  latency    p50 %s  p95 %s  p99 %s (histogram, within 1/64)\n",
           tool_metric_text(p50, result, "latency_p50"),
           tool_metric_text(p95, result, "latency_p95"),
           tool_metric_text(p99, result, "latency_p99"));
}

static void print_summary(int64_t run_id, const scn_scenario *scenario, const world_result *result,
                          double wall_s, double store_s, const char *db_path)
{
    char sent[SCN_FORMAT_MAX], bytes[SCN_FORMAT_MAX], dropped[SCN_FORMAT_MAX];
    char rejected[SCN_FORMAT_MAX], simulated[SCN_FORMAT_MAX], wall[SCN_FORMAT_MAX];
    char rate[SCN_FORMAT_MAX], stored[SCN_FORMAT_MAX];
    printf("run %lld: %s  seed %llu  %u nodes  -> %s\n", (long long)run_id, scenario->name,
           (unsigned long long)scenario->seed, result->node_count, db_path);
    printf("  time       %s simulated in %s wall, %llu events (%s); rows stored in %s\n",
           scn_format_value(simulated, sizeof(simulated), "ns", (double)result->sim_ns),
           scn_format_value(wall, sizeof(wall), "s", wall_s), (unsigned long long)result->events,
           scn_format_value(rate, sizeof(rate), "events/s",
                            wall_s > 0 ? (double)result->events / wall_s : NAN),
           scn_format_value(stored, sizeof(stored), "s", store_s));
    printf("  trace      %016llx\n", (unsigned long long)result->trace_hash);
    if (result->forward_pooled > 0) {
        printf("  compute    %llu of %llu forward calls ran on the worker pool\n",
               (unsigned long long)result->forward_pooled,
               (unsigned long long)result->compute_calls);
    }
    if (result->forward_copied > 0) {
        printf("  compute    %llu of them copied from a member's identical call (the same "
               "cache history and input)\n",
               (unsigned long long)result->forward_copied);
    }
    if (scenario->verification.draw_tree && result->committee_draws > 0) {
        printf("  draws      %llu committee draws from weight trees (verification.draw: tree)\n",
               (unsigned long long)result->committee_draws);
    }
    if (result->committee_draws_pooled > 0) {
        printf("  draws      %llu of %llu committee draws ran in slices on the worker pool\n",
               (unsigned long long)result->committee_draws_pooled,
               (unsigned long long)result->committee_draws);
    }
    if (result->request_count > 0) {
        tool_print_inference(scenario, result);
    } else {
        print_metric_line(result);
    }
    printf("  messages   %s sent (%s), %s dropped, %s rejected, %llu duplicates suppressed\n",
           tool_metric_text(sent, result, "messages_sent"),
           tool_metric_text(bytes, result, "bytes_sent"),
           tool_metric_text(dropped, result, "messages_dropped"),
           tool_metric_text(rejected, result, "messages_rejected"),
           (unsigned long long)result->duplicates);
}

static void print_reproduce(const run_options *options, const scn_scenario *scenario)
{
    fprintf(stderr, "reproduce: infersim run %s --seed %llu", options->file,
            (unsigned long long)scenario->seed);
    for (size_t i = 0; i < options->override_count; i++) {
        if (options->overrides[i] != options->seed_override) {
            fprintf(stderr, " --set '%s'", options->overrides[i]);
        }
    }
    fprintf(stderr, "\n");
}

/* ---- the command ---- */

static void install_signals(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = run_on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

static int store_inference(run_context *run, const scn_scenario *scenario,
                           const world_result *result)
{
    return result->request_count > 0
               ? tool_store_inference(run->db, run->run_id, scenario, result)
               : 0;
}

/* Stores the run's rows, table by table. A signal while it does stops it
 * between two (returning 0): the run is then 'aborted', with the rows
 * stored so far. A run the signal stopped in its simulation stores what it
 * reached, unless another signal comes. *stop_out is the stop signal (0:
 * none) read once, where storing stops or the verdict is decided: the
 * status, the message and the exit code follow it, and a later signal (the
 * run then complete in the file) is let go. */
static int store_results(run_context *run, const scn_scenario *scenario, const world_result *result,
                         int *failed_out, int *stop_out)
{
    typedef int (*store_step)(run_context *, const scn_scenario *, const world_result *);
    static const store_step steps[] = {store_nodes, store_messages, store_metrics,
                                       store_inference};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (run_stop_count != run->signals_at_store) {
            *stop_out = run_stop_signal;
            return 0;
        }
        if (steps[i](run, scenario, result) != 0) {
            *stop_out = run_stop_signal;
            return -1;
        }
    }
    /* A run stopped early has no verdict: its expectations are about the
     * whole run, and an interrupted one would pass or fail by accident. */
    *stop_out = run_stop_signal;
    *failed_out = *stop_out != 0 ? 0 : store_expectations(run, scenario, result);
    return *failed_out < 0 || run->write_error ? -1 : 0;
}

/* Runs the loaded scenario against an open database; returns the exit code. */
static int run_simulation(run_context *run, const scn_scenario *scenario,
                          const run_options *options, const char *db_path)
{
    world_observer observer = {run, on_fault, on_sample, on_progress, NULL, options->threads,
                               options->inline_compute};
    world_result *result = NULL;
    int failed = 0;

    run->progress = !options->quiet && isatty(STDERR_FILENO);
    run->duration_ns = scenario->duration_ns;
    clock_gettime(CLOCK_MONOTONIC, &run->started);
    install_signals();
    /* Samples written while it simulates may wait for another process's
     * lock: a signal ends that wait as it stops the simulation. */
    met_db_stop_on(run->db, &run_stop_count);
    int rc = sim_run(scenario, &observer, &run_stop_signal, &result);
    double wall_s = seconds_since(&run->started);
    if (run->progress) {
        fprintf(stderr, "\r%*s\r", 70, "");
    }
    if (rc != 0) {
        met_run_totals totals = {(uint64_t)(wall_s * 1e3), 0, 0, 0, NULL, world_strerror(rc)};
        met_run_finish(run->db, run->run_id, "failed", &totals);
        fprintf(stderr, "infersim run: %s\n", world_strerror(rc));
        print_reproduce(options, scenario);
        return TOOL_EXIT_INTERNAL;
    }
    if (run->progress) {
        fprintf(stderr, "  storing the run's rows in %s ...", db_path);
    }
    struct timespec store_start;
    clock_gettime(CLOCK_MONOTONIC, &store_start);
    run->signals_at_store = run_stop_count;
    met_db_stop_on(run->db, &run_stop_count);  /* from here, a new signal ends a wait */
    int stop_signal = 0;
    int stored = store_results(run, scenario, result, &failed, &stop_signal);
    double store_s = seconds_since(&store_start);
    if (run->progress) {
        fprintf(stderr, "\r%*s\r", 70 + (int)strlen(db_path), "");
    }
    /* A signal while the rows were stored aborts the run as one during
     * the simulation does (store_results read it). */
    bool interrupted = result->interrupted || stop_signal != 0;
    const char *check = tool_run_expect_count(scenario) == 0 || interrupted ? NULL
                        : failed > 0                                ? "failed"
                                                                    : "passed";
    const char *status = interrupted ? "aborted" : stored != 0 ? "failed" : "completed";
    met_run_totals totals = {
        (uint64_t)(wall_s * 1e3), result->sim_ns, result->events, result->trace_hash, check,
        stored != 0               ? met_db_errmsg(run->db)
        : result->interrupted     ? "interrupted by signal"
        : interrupted             ? "interrupted by signal while storing rows"
                                  : NULL,
    };
    int finished = met_run_finish(run->db, run->run_id, status, &totals);
    stored = finished != 0 ? -1 : stored;
    if (!options->quiet) {
        print_summary(run->run_id, scenario, result, wall_s, store_s, db_path);
    }
    if (!interrupted && stored == 0) {
        fflush(stdout);     /* the summary first, also when stderr is the same file */
        print_expectations(scenario, result, options->quiet);
    }
    world_result_destroy(result);
    if (met_db_stopped(run->db)) {
        /* A signal ended a wait for another process's lock. */
        fprintf(stderr, "infersim run: interrupted while waiting for another process writing "
                        "%s; run %lld %s\n", db_path, (long long)run->run_id,
                finished == 0 ? "marked aborted" : "left unfinished (shown as incomplete)");
        return 128 + run_stop_signal;
    }
    if (stored != 0) {
        fprintf(stderr, "infersim run: writing results failed: %s\n", met_db_errmsg(run->db));
        return TOOL_EXIT_INTERNAL;
    }
    if (stop_signal != 0) {
        fprintf(stderr, "infersim run: interrupted; run %lld marked aborted\n",
                (long long)run->run_id);
        return 128 + stop_signal;
    }
    if (failed > 0) {
        print_reproduce(options, scenario);
        return options->check ? TOOL_EXIT_CHECK : TOOL_EXIT_OK;
    }
    return TOOL_EXIT_OK;
}

int tool_run_main(int argc, char **argv)
{
    run_options options;
    scn_scenario *scenario = NULL;
    char why[512];
    run_context run;

    int code = parse_options(argc, argv, &options);
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    code = tool_scenario_load(options.file, options.overrides, options.override_count,
                              &scenario);
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    code = tool_scenario_fits("run", options.file, scenario, true);
    if (code != TOOL_EXIT_OK) {
        scn_destroy(scenario);
        return code;
    }
    const char *db_path = options.db != NULL ? options.db : scenario->output.db;
    memset(&run, 0, sizeof(run));
    int rc = met_db_open(db_path, &run.db, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "infersim run: %s\n", why); /* 'why' names the file. */
        scn_destroy(scenario);
        return TOOL_EXIT_USAGE;
    }
    met_run_info info = {scenario->name, scenario->sha256_hex, INFERSIM_GIT_REV, "sim",
                         scenario->seed, scenario->nodes.count};
    rc = met_run_begin(run.db, &info, scenario->params, scenario->param_count, &run.run_id);
    if (rc != 0) {
        fprintf(stderr, "infersim run: %s: %s\n", db_path, met_db_errmsg(run.db));
        code = TOOL_EXIT_INTERNAL;
    } else {
        code = run_simulation(&run, scenario, &options, db_path);
    }
    met_db_close(run.db);
    scn_destroy(scenario);
    return code;
}
