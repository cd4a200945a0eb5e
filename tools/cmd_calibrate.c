/* cmd_calibrate.c -- `infersim calibrate FILE`: the simulator's prediction
 * of a scenario checked against a measurement. It runs the scenario twice
 * into one database, as two children of this binary -- `infersim run` (the
 * simulator) and `infersim testbed --emulate` (real processes whose frames
 * the link emulator holds to the same network model) -- then reads both
 * runs back and prints them side by side: latency percentiles, first
 * token, finality, messages and bytes per request, the completed ratio and
 * the two safety counts, each with the ratio testbed / simulator, and a
 * two-sample Kolmogorov-Smirnov test of the two latency distributions;
 * then the decisions of both, request by request
 * (cmd_calibrate_decisions.c). Both runs get params rows that link them
 * (calibrate.pair, the other run's id), the test's result and the
 * decisions' counts. Exit 1 when a bound given on the command line
 * (--max-ratio, --alpha) fails, or when the decisions differ although they
 * must not (no timing-dependent fault, or --expect-same-decisions). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/tb.h"
#include "tools/tool.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/stats.h"

static const char calibrate_usage[] =
    "usage: infersim calibrate FILE [options]\n"
    "\n"
    "Runs the scenario in the simulator and on the emulated testbed (`infersim\n"
    "testbed FILE --emulate`: real processes, each frame held to the simulator's\n"
    "network model) and prints the two side by side with the ratio testbed /\n"
    "simulator: latency p50/p95/p99, first-token p50, finality p50/p99, messages\n"
    "and bytes per request, completed ratio, accepted_wrong, honest_penalised;\n"
    "then a two-sample Kolmogorov-Smirnov test of the two latency distributions\n"
    "(D and its asymptotic p-value). Then the decisions, per request: the\n"
    "accepted outputs and the penalties in each world, and how many requests\n"
    "differ. Under verification.draw_epoch with no timing-dependent fault\n"
    "(network faults, lazy_copy, adaptive; selection vrf) the two must decide\n"
    "alike, and a difference fails the check. Both runs are stored and linked\n"
    "(params calibrate.pair = the other run's id, calibrate.decision*).\n"
    "\n"
    "options:\n"
    "  --processes N    testbed processes, 1..64 (default: the node count, at most 8)\n"
    "  --db FILE        results database (default: the scenario's output.db)\n"
    "  --seed S         the run seed of both runs (default: the scenario's)\n"
    "  --set KEY=VALUE  override a scenario key in both runs (repeatable)\n"
    "  --max-ratio R    exit 1 unless every timing ratio (latency, first token,\n"
    "                   finality) lies in [1/R, R]; R >= 1\n"
    "  --alpha A        exit 1 when the KS test rejects at level A (p < A), 0 < A < 1\n"
    "  --expect-same-decisions\n"
    "                   exit 1 when any request's decisions differ, whatever the\n"
    "                   scenario's faults\n"
    "  --quiet          print only failures\n";

#define CALIBRATE_SETS_MAX 32

typedef struct calibrate_options {
    const char *file;
    const char *db;
    const char *seed;                /* text, validated */
    const char *sets[CALIBRATE_SETS_MAX];
    size_t set_count;
    uint32_t processes;              /* 0: default */
    double max_ratio;                /* 0: no bound */
    double alpha;                    /* 0: no bound */
    bool expect_same;                /* --expect-same-decisions */
    bool quiet;
} calibrate_options;

/* One side's figures, read back from the database. */
typedef struct calibrate_side {
    int64_t run_id;
    double latency[3];               /* p50, p95, p99, ns */
    double first_token;
    double finality[2];
    double messages_per_request;
    double bytes_per_request;
    double completed_ratio;
    double accepted_wrong;
    double honest_penalised;
    uint64_t *latencies;             /* completed requests' latency, ns */
    uint64_t latency_count;
} calibrate_side;

static int calibrate_double(const char *name, const char *text, double low, double high,
                            double *out)
{
    char *end = NULL;
    errno = 0;
    double value = text != NULL ? strtod(text, &end) : NAN;
    if (text == NULL || end == text || *end != '\0' || errno != 0 || !(value >= low) ||
        !(value <= high)) {
        return tool_usage_error("calibrate", "%s wants a number in [%g, %g], not '%s'", name, low,
                                high, text != NULL ? text : "");
    }
    *out = value;
    return TOOL_EXIT_OK;
}

static int calibrate_option(calibrate_options *o, int option, const char *value)
{
    unsigned long long number = 0;
    switch (option) {
    case 'p':
        if (!tool_parse_u64(value, &number) || number < 1 || number > TB_PROCESSES_MAX) {
            return tool_usage_error("calibrate", "--processes wants 1..%d", TB_PROCESSES_MAX);
        }
        o->processes = (uint32_t)number;
        return TOOL_EXIT_OK;
    case 'd': o->db = value; return TOOL_EXIT_OK;
    case 's':
        if (!tool_parse_u64(value, &number)) {
            return tool_usage_error("calibrate", "--seed wants an unsigned integer");
        }
        o->seed = value;
        return TOOL_EXIT_OK;
    case 'S':
        if (o->set_count == CALIBRATE_SETS_MAX) {
            return tool_usage_error("calibrate", "too many --set options");
        }
        o->sets[o->set_count++] = value;
        return TOOL_EXIT_OK;
    case 'r': return calibrate_double("--max-ratio", value, 1.0, 1e9, &o->max_ratio);
    case 'a':
        if (calibrate_double("--alpha", value, 1e-12, 0.999999, &o->alpha) != TOOL_EXIT_OK) {
            return TOOL_EXIT_USAGE;
        }
        return TOOL_EXIT_OK;
    case 'q': o->quiet = true; return TOOL_EXIT_OK;
    case 'e': o->expect_same = true; return TOOL_EXIT_OK;
    default: return tool_usage_error("calibrate", "unknown option or missing value");
    }
}

static int calibrate_parse(int argc, char **argv, calibrate_options *o)
{
    static const struct option longs[] = {
        {"processes", required_argument, NULL, 'p'}, {"db", required_argument, NULL, 'd'},
        {"seed", required_argument, NULL, 's'},      {"set", required_argument, NULL, 'S'},
        {"max-ratio", required_argument, NULL, 'r'}, {"alpha", required_argument, NULL, 'a'},
        {"quiet", no_argument, NULL, 'q'},
        {"expect-same-decisions", no_argument, NULL, 'e'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    opterr = 0;
    optind = 1;
    int option;
    while ((option = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        int rc = calibrate_option(o, option, optarg);
        if (rc != TOOL_EXIT_OK) {
            return rc;
        }
    }
    if (optind + 1 != argc) {
        return tool_usage_error("calibrate", optind == argc ? "a scenario file is required"
                                                            : "one scenario file only");
    }
    o->file = argv[optind];
    return TOOL_EXIT_OK;
}

/* ---- the two runs, as children of this binary ---- */

/* Runs `infersim ARGS` (argv NULL-terminated) with its stdout discarded
 * (its stderr is ours) and returns its exit status, or -1. */
static int calibrate_child(const char *const *argv)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "infersim calibrate: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        execv("/proc/self/exe", (char *const *)argv);
        fprintf(stderr, "infersim calibrate: cannot exec /proc/self/exe: %s\n", strerror(errno));
        _exit(TOOL_EXIT_INTERNAL);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int row_number(void *context, size_t count, const met_value *values)
{
    double *out = context;
    *out = count >= 1 && values[0].text != NULL ? values[0].number : NAN;
    return 0;
}

/* A single number a fixed query gives for 'run_id' (?1); NaN when none. */
static double calibrate_scalar(met_db *db, const char *sql, int64_t run_id)
{
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)run_id);
    const char *params[1] = {id};
    double value = NAN;
    if (met_query(db, sql, params, 1, row_number, &value) != 0) {
        return NAN;
    }
    return value;
}

/* The run a child just stored: the newest of 'mode' after 'after'. */
static int64_t calibrate_new_run(met_db *db, const char *mode, int64_t after)
{
    const char *sql = strcmp(mode, "sim") == 0
                          ? "SELECT max(run_id) FROM runs WHERE mode = 'sim' AND run_id > ?1"
                          : "SELECT max(run_id) FROM runs WHERE mode = 'testbed' AND run_id > ?1";
    double id = calibrate_scalar(db, sql, after);
    return isnan(id) ? -1 : (int64_t)id;
}

static double calibrate_metric(met_db *db, int64_t run_id, const char *name)
{
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)run_id);
    const char *params[2] = {id, name};
    double value = NAN;
    if (met_query(db, "SELECT value FROM metrics WHERE run_id = ?1 AND name = ?2", params, 2,
                  row_number, &value) != 0) {
        return NAN;
    }
    return value;
}

static int calibrate_read(met_db *db, int64_t run_id, calibrate_side *side)
{
    static const char *const latency[3] = {"request_latency_p50", "request_latency_p95",
                                           "request_latency_p99"};
    side->run_id = run_id;
    for (int i = 0; i < 3; i++) {
        side->latency[i] = calibrate_metric(db, run_id, latency[i]);
    }
    side->first_token = calibrate_metric(db, run_id, "first_token_p50");
    side->finality[0] = calibrate_metric(db, run_id, "finality_p50");
    side->finality[1] = calibrate_metric(db, run_id, "finality_p99");
    side->completed_ratio = calibrate_metric(db, run_id, "completed_ratio");
    side->accepted_wrong = calibrate_metric(db, run_id, "accepted_wrong");
    side->honest_penalised = calibrate_metric(db, run_id, "honest_penalised");
    double requests = calibrate_scalar(db, "SELECT count(*) FROM requests WHERE run_id = ?1",
                                       run_id);
    double sent = calibrate_scalar(db, "SELECT sum(sent) FROM messages WHERE run_id = ?1",
                                   run_id);
    double bytes = calibrate_scalar(db, "SELECT sum(bytes_sent) FROM messages WHERE run_id = ?1",
                                    run_id);
    side->messages_per_request = requests > 0 ? sent / requests : NAN;
    side->bytes_per_request = requests > 0 ? bytes / requests : NAN;
    return met_request_durations(db, run_id, MET_SPAN_LATENCY, 0, &side->latencies,
                                 &side->latency_count);
}

/* ---- the comparison ---- */

typedef struct calibrate_row {
    const char *name;
    double simulated;
    double measured;
    bool seconds;                    /* a duration in ns, printed in seconds */
    bool timing;                     /* bounded by --max-ratio */
} calibrate_row;

static size_t calibrate_rows(const calibrate_side *sim, const calibrate_side *bed,
                             calibrate_row *rows)
{
    const calibrate_row all[] = {
        {"latency p50", sim->latency[0], bed->latency[0], true, true},
        {"latency p95", sim->latency[1], bed->latency[1], true, true},
        {"latency p99", sim->latency[2], bed->latency[2], true, true},
        {"first token p50", sim->first_token, bed->first_token, true, true},
        {"finality p50", sim->finality[0], bed->finality[0], true, true},
        {"finality p99", sim->finality[1], bed->finality[1], true, true},
        {"messages/request", sim->messages_per_request, bed->messages_per_request, false, false},
        {"bytes/request", sim->bytes_per_request, bed->bytes_per_request, false, false},
        {"completed_ratio", sim->completed_ratio, bed->completed_ratio, false, false},
        {"accepted_wrong", sim->accepted_wrong, bed->accepted_wrong, false, false},
        {"honest_penalised", sim->honest_penalised, bed->honest_penalised, false, false},
    };
    memcpy(rows, all, sizeof(all));
    return sizeof(all) / sizeof(all[0]);
}

static void calibrate_cell(char *out, size_t size, double value, bool seconds)
{
    if (isnan(value)) {
        snprintf(out, size, "-");
    } else if (seconds) {
        snprintf(out, size, "%.4f s", value / 1e9);
    } else {
        snprintf(out, size, "%.6g", value);
    }
}

/* Prints the table; returns how many timing ratios fall outside the
 * --max-ratio band (0 when there is no bound). */
static int calibrate_print(const calibrate_options *o, const calibrate_row *rows, size_t count)
{
    int failed = 0;
    if (!o->quiet) {
        printf("%-18s %14s %14s %12s\n", "", "simulator", "testbed", "testbed/sim");
    }
    for (size_t i = 0; i < count; i++) {
        const calibrate_row *row = &rows[i];
        double ratio = row->simulated != 0 ? row->measured / row->simulated : NAN;
        bool out_of_band = o->max_ratio > 0 && row->timing &&
                           !(ratio <= o->max_ratio && ratio >= 1.0 / o->max_ratio);
        failed += out_of_band;
        if (o->quiet && !out_of_band) {
            continue;
        }
        char simulated[32], measured[32], ratio_text[32];
        calibrate_cell(simulated, sizeof(simulated), row->simulated, row->seconds);
        calibrate_cell(measured, sizeof(measured), row->measured, row->seconds);
        calibrate_cell(ratio_text, sizeof(ratio_text), ratio, false);
        printf("%-18s %14s %14s %12s%s\n", row->name, simulated, measured, ratio_text,
               out_of_band ? "  outside --max-ratio" : "");
    }
    return failed;
}

/* Links the two runs and records the test on both. */
static int calibrate_store(met_db *db, const calibrate_side *sim, const calibrate_side *bed,
                           double d, double p)
{
    char text[4][64];
    snprintf(text[0], sizeof(text[0]), "%lld", (long long)bed->run_id);
    snprintf(text[1], sizeof(text[1]), "%lld", (long long)sim->run_id);
    snprintf(text[2], sizeof(text[2]), "%.17g", d);
    snprintf(text[3], sizeof(text[3]), "%.17g", p);
    int rc = met_param_set(db, sim->run_id, "calibrate.pair", text[0]);
    rc = rc != 0 ? rc : met_param_set(db, bed->run_id, "calibrate.pair", text[1]);
    rc = rc != 0 ? rc : met_param_set(db, sim->run_id, "calibrate.role", "simulator");
    rc = rc != 0 ? rc : met_param_set(db, bed->run_id, "calibrate.role", "testbed");
    for (int side = 0; side < 2 && rc == 0; side++) {
        int64_t id = side == 0 ? sim->run_id : bed->run_id;
        rc = met_param_set(db, id, "calibrate.ks_d", text[2]);
        rc = rc != 0 ? rc : met_param_set(db, id, "calibrate.ks_p", text[3]);
    }
    return rc != 0 ? rc : met_flush(db);
}

/* The decisions of both runs, request by request: printed, stored, and
 * a failed check when they differ and must not. Returns the failures (0
 * or 1), or -1 when the database fails. */
static int calibrate_verdicts(const calibrate_options *o, const scn_scenario *scenario,
                              met_db *db, int64_t sim_id, int64_t bed_id)
{
    tool_calibrate_verdicts verdicts;
    if (tool_calibrate_decisions(db, sim_id, bed_id, o->quiet, &verdicts) != 0) {
        return -1;
    }
    bool settled = !tool_calibrate_timing_dependent(scenario);
    bool checked = o->expect_same || settled;
    bool failed = checked && verdicts.mismatched > 0;
    if (!o->quiet || failed) {
        printf("decisions: %llu requests, %llu differ (%s)%s\n",
               (unsigned long long)verdicts.compared, (unsigned long long)verdicts.mismatched,
               settled    ? "must be identical: settled draws, no timing-dependent fault"
               : checked ? "must be identical: --expect-same-decisions"
                         : "may differ: timing-dependent draws or faults",
               failed ? "  FAILED" : "");
    }
    char text[2][32];
    snprintf(text[0], sizeof(text[0]), "%llu", (unsigned long long)verdicts.compared);
    snprintf(text[1], sizeof(text[1]), "%llu", (unsigned long long)verdicts.mismatched);
    int rc = 0;
    for (int side = 0; side < 2 && rc == 0; side++) {
        int64_t id = side == 0 ? sim_id : bed_id;
        rc = met_param_set(db, id, "calibrate.decisions_compared", text[0]);
        rc = rc != 0 ? rc : met_param_set(db, id, "calibrate.decision_mismatches", text[1]);
        rc = rc != 0 ? rc
                     : met_param_set(db, id, "calibrate.decisions_checked",
                                     checked ? "true" : "false");
    }
    return rc != 0 ? -1 : failed ? 1 : 0;
}

/* Reads both runs, prints, stores the link; the exit code. */
static int calibrate_compare(const calibrate_options *o, const scn_scenario *scenario,
                             met_db *db, int64_t sim_id, int64_t bed_id)
{
    calibrate_side sim = {0}, bed = {0};
    int code = TOOL_EXIT_OK;
    if (calibrate_read(db, sim_id, &sim) != 0 || calibrate_read(db, bed_id, &bed) != 0) {
        fprintf(stderr, "infersim calibrate: reading the runs: %s\n", met_db_errmsg(db));
        code = TOOL_EXIT_INTERNAL;
        goto free_samples;
    }
    calibrate_row rows[16];
    size_t count = calibrate_rows(&sim, &bed, rows);
    if (!o->quiet) {
        printf("calibrate %s: simulator run %lld, emulated testbed run %lld\n", o->file,
               (long long)sim_id, (long long)bed_id);
    }
    int failed = calibrate_print(o, rows, count);
    uint64_t sim_count = sim.latency_count, bed_count = bed.latency_count;
    double p = NAN;
    double d = util_ks_two_sample(sim.latencies, sim_count, bed.latencies, bed_count, &p);
    bool rejected = o->alpha > 0 && !(p >= o->alpha);
    failed += rejected;
    if (!o->quiet || rejected) {
        printf("KS test of the latencies: D = %.4f, p = %.4g (%llu simulated, %llu measured "
               "requests)%s\n",
               d, p, (unsigned long long)sim_count, (unsigned long long)bed_count,
               rejected ? "  rejected at --alpha" : "");
    }
    int verdicts = calibrate_verdicts(o, scenario, db, sim_id, bed_id);
    failed += verdicts > 0;
    if (verdicts < 0 || calibrate_store(db, &sim, &bed, d, p) != 0) {
        fprintf(stderr, "infersim calibrate: linking the runs: %s\n", met_db_errmsg(db));
        code = TOOL_EXIT_INTERNAL;
    } else if (failed > 0) {
        code = TOOL_EXIT_CHECK;
    }
free_samples:
    util_free(sim.latencies);
    util_free(bed.latencies);
    return code;
}

/* The argv of one child: COMMAND FILE --db DB [--set seed=S] [--set ...]
 * EXTRA... (NULL-terminated into argv[capacity]). */
static void calibrate_argv(const calibrate_options *o, const char *db, const char *seed_set,
                           const char *const *extra, const char **argv, size_t capacity)
{
    size_t n = 0;
    argv[n++] = "infersim";
    for (; *extra != NULL; extra++) {
        argv[n++] = *extra;
    }
    argv[n++] = o->file;
    argv[n++] = "--db";
    argv[n++] = db;
    if (o->seed != NULL) {
        argv[n++] = "--set";
        argv[n++] = seed_set;
    }
    for (size_t i = 0; i < o->set_count; i++) {
        argv[n++] = "--set";
        argv[n++] = o->sets[i];
    }
    ASSERT(n < capacity);
    argv[n] = NULL;
}

static int calibrate_runs(const calibrate_options *o, const scn_scenario *scenario,
                          const char *db_path, met_db *db)
{
    char seed_set[64], processes[16];
    snprintf(seed_set, sizeof(seed_set), "seed=%s", o->seed != NULL ? o->seed : "0");
    uint32_t count = o->processes != 0 ? o->processes
                     : scenario->nodes.count < 8 ? scenario->nodes.count
                                                 : 8;
    snprintf(processes, sizeof(processes), "%u", count);
    const char *run_extra[] = {"run", NULL};
    const char *bed_extra[] = {"testbed", "--emulate", "--processes", processes, NULL};
    const char *argv[16 + 2 * CALIBRATE_SETS_MAX];
    double before = NAN;
    if (met_query(db, "SELECT coalesce(max(run_id), 0) FROM runs", NULL, 0, row_number,
                  &before) != 0) {
        fprintf(stderr, "infersim calibrate: %s: %s\n", db_path, met_db_errmsg(db));
        return TOOL_EXIT_INTERNAL;
    }
    int64_t after = isnan(before) ? 0 : (int64_t)before;
    calibrate_argv(o, db_path, seed_set, run_extra, argv, sizeof(argv) / sizeof(argv[0]));
    int status = calibrate_child(argv);
    int64_t sim_id = status == 0 || status == 1 ? calibrate_new_run(db, "sim", after) : -1;
    if (sim_id < 0) {
        fprintf(stderr, "infersim calibrate: the simulated run failed (exit %d)\n", status);
        return status == TOOL_EXIT_USAGE ? TOOL_EXIT_USAGE : TOOL_EXIT_INTERNAL;
    }
    calibrate_argv(o, db_path, seed_set, bed_extra, argv, sizeof(argv) / sizeof(argv[0]));
    status = calibrate_child(argv);
    int64_t bed_id = status == 0 || status == 1 ? calibrate_new_run(db, "testbed", sim_id) : -1;
    if (bed_id < 0) {
        fprintf(stderr, "infersim calibrate: the testbed run failed (exit %d)\n", status);
        return status == TOOL_EXIT_USAGE ? TOOL_EXIT_USAGE : TOOL_EXIT_INTERNAL;
    }
    return calibrate_compare(o, scenario, db, sim_id, bed_id);
}

int tool_calibrate_main(int argc, char **argv)
{
    calibrate_options options;
    for (int i = 1; i < argc; i++) {
        if (tool_is_help(argv[i])) {
            fputs(calibrate_usage, stdout);
            return TOOL_EXIT_OK;
        }
    }
    int code = calibrate_parse(argc, argv, &options);
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    scn_scenario *scenario = NULL;
    code = tool_scenario_load(options.file, options.sets, options.set_count, &scenario);
    if (code == TOOL_EXIT_OK) {
        code = tool_decisions_required(scenario, "calibrate", options.file,
                                       "calibrate compares the two runs' decisions rows");
    }
    if (code != TOOL_EXIT_OK) {
        scn_destroy(scenario);
        return code;
    }
    if (scenario->workload.kind != SCN_WORKLOAD_INFERENCE ||
        (options.processes != 0 && options.processes > scenario->nodes.count)) {
        fprintf(stderr, "infersim calibrate: %s: the testbed runs inference scenarios (a "
                        "model:) with at least as many nodes as processes\n",
                options.file);
        scn_destroy(scenario);
        return TOOL_EXIT_USAGE;
    }
    const char *db_path = options.db != NULL ? options.db : scenario->output.db;
    met_db *db = NULL;
    char why[512];
    if (met_db_open(db_path, &db, why, sizeof(why)) != 0) {
        fprintf(stderr, "infersim calibrate: %s: %s\n", db_path, why);
        scn_destroy(scenario);
        return TOOL_EXIT_USAGE;
    }
    code = calibrate_runs(&options, scenario, db_path, db);
    met_db_close(db);
    scn_destroy(scenario);
    return code;
}
