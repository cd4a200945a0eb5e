/* tool.h -- the infersim command line: one binary, one function per
 * subcommand. Each returns the process exit code: TOOL_EXIT_OK (0),
 * TOOL_EXIT_CHECK (1) an expectation failed, TOOL_EXIT_USAGE (2) bad usage
 * or bad input, TOOL_EXIT_INTERNAL (3) an internal error; an interrupted run
 * exits 128 + the signal number, as shells expect. */
#ifndef TOOL_TOOL_H
#define TOOL_TOOL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "metrics/met.h"
#include "scenarios/scn.h"
#include "sim/sim.h"

#define TOOL_EXIT_OK 0
#define TOOL_EXIT_CHECK 1
#define TOOL_EXIT_USAGE 2
#define TOOL_EXIT_INTERNAL 3

#ifndef INFERSIM_GIT_REV
#define INFERSIM_GIT_REV "unknown"
#endif
#define INFERSIM_VERSION "0.1.0"

int tool_run_main(int argc, char **argv);
int tool_validate_main(int argc, char **argv);
/* Loads scenario 'file' with the overrides into *out; on failure prints
 * file:line:col: message to stderr and returns TOOL_EXIT_USAGE
 * (TOOL_EXIT_INTERNAL when out of memory), else TOOL_EXIT_OK (main.c). */
int tool_scenario_load(const char *file, const char *const *overrides, size_t override_count,
                       scn_scenario **out);
/* Whether the scenario's seen-sets (world_seen_set_bytes) fit this
 * machine's memory. When they do not, says so on stderr, as an error
 * ('refuse': the commands that run it here, `run`, `sweep` but for
 * --emit, `swarm`, `shrink`; returns TOOL_EXIT_USAGE) or as a warning
 * (`validate`, which may check a file meant for a larger machine:
 * TOOL_EXIT_OK). */
int tool_scenario_fits(const char *subcommand, const char *file, const scn_scenario *scenario,
                       bool refuse);

int tool_runs_main(int argc, char **argv);
int tool_compare_main(int argc, char **argv);
int tool_export_main(int argc, char **argv);
int tool_merge_main(int argc, char **argv);
int tool_sweep_main(int argc, char **argv);
int tool_plot_main(int argc, char **argv);
int tool_report_main(int argc, char **argv);
int tool_testbed_main(int argc, char **argv);  /* cmd_testbed.c */

/* tool_netns.c: `testbed FILE --hosts H --netns`. Makes one network
 * namespace per host of 'hosts' (its address on a veth to one bridge),
 * runs `infersim testbed` argv[1..] with --host-index I and a fresh
 * --deploy-dir in each, waits for them (forwarding *stop), and removes
 * the namespaces, links and directory. Namespaces of an earlier launcher
 * that died are removed first. Returns host 0's exit code (else the first
 * failing host's); TOOL_EXIT_USAGE when namespaces cannot be made. */
struct tb_hosts;
int tool_netns_testbed(int argc, char **argv, const struct tb_hosts *hosts,
                       volatile sig_atomic_t *stop);
int tool_client_main(int argc, char **argv);   /* cmd_client.c */
int tool_calibrate_main(int argc, char **argv); /* cmd_calibrate.c */

/* calibrate's decisions comparison (cmd_calibrate_decisions.c). */
typedef struct tool_calibrate_verdicts {
    uint64_t compared;               /* requests in either run */
    uint64_t mismatched;             /* of which the two worlds decided differently */
} tool_calibrate_verdicts;
/* Prints, per request of the two runs, the accepted outputs and the
 * penalties in each world (only the mismatches when 'quiet'), stores each
 * mismatch as a param of both runs (calibrate.decision_mismatch.R) and
 * counts them. 0, or non-zero when the database fails. */
int tool_calibrate_decisions(met_db *db, int64_t sim_id, int64_t bed_id, bool quiet,
                             tool_calibrate_verdicts *out);
/* Whether the scenario's decisions may depend on timing: draws not from
 * the settled state (no verification.draw_epoch), VRF epochs, or a fault
 * of the network's or lazy_copy or adaptive. Cannot fail. */
bool tool_calibrate_timing_dependent(const scn_scenario *scenario);
int tool_keygen_main(int argc, char **argv);   /* cmd_keygen.c */
int tool_infer_main(int argc, char **argv);    /* cmd_infer.c */

int tool_swarm_main(int argc, char **argv);    /* cmd_swarm.c */
int tool_shrink_main(int argc, char **argv);   /* cmd_shrink.c */
int tool_complete_main(int argc, char **argv); /* main.c: words for shell completion */

/* ---- what swarm and shrink share (tool_swarm.c) ---- */

#define TOOL_SWARM_SETS_MAX 16
#define TOOL_PATH_MAX 4096

/* The --set overrides one swarm run adds to the scenario: its faults and,
 * for inference without one, expect.converge_within = workload.timeout. */
typedef struct tool_swarm_draw {
    size_t count;
    uint32_t network_count;                  /* of which network faults */
    char sets[TOOL_SWARM_SETS_MAX][192];
    const char *argv[TOOL_SWARM_SETS_MAX];   /* sets[i], for argument lists */
} tool_swarm_draw;

/* Run i's seed under swarm seed 'seed'. Cannot fail. */
uint64_t tool_swarm_run_seed(uint64_t seed, uint64_t run);
/* Draws the run's faults from 'run_seed' alone (deterministic). */
void tool_swarm_draw_faults(const scn_scenario *scenario, uint64_t run_seed,
                            tool_swarm_draw *draw);
/* Distinct Byzantine nodes a swarm run may draw: what the scenario's
 * protocol tolerates less what its own Byzantine faults may take (0:
 * none). */
uint32_t tool_swarm_byzantine_max(const scn_scenario *scenario);

/* One child process of the binary: stdout and stderr go to 'log', the
 * run writes 'db'. */
typedef struct tool_child {
    pid_t pid;                       /* 0: free */
    uint64_t index;                  /* the caller's: which run */
    char db[TOOL_PATH_MAX];
    char log[TOOL_PATH_MAX];
} tool_child;

/* Forks and execs /proc/self/exe with argv (NULL-terminated). Returns 0,
 * or -1 when fork fails (said on stderr). */
int tool_child_start(tool_child *child, const char *const *argv);
/* Removes the child's database (with its -wal, -shm) and log. */
void tool_child_cleanup(const tool_child *child);

/* How a run ended for swarm and shrink: violations by kind (the order of
 * met_violation_kinds) and the first judged kind found -- accepted_wrong,
 * double_finalization, liveness, and honest_penalised only with
 * 'judge_honest' and when the scenario's own expectation on
 * honest_penalised(_ratio) failed -- or "run_failed" when the run process
 * did not exit 0 (reason says how), or NULL: it passed. */
typedef struct tool_verdict {
    uint64_t counts[8];
    const char *kind;
    char reason[200];
} tool_verdict;

/* For a command that reads a verified run's decisions rows ('use' says
 * why): TOOL_EXIT_OK unless the scenario stores none (output.decisions:
 * false), then TOOL_EXIT_USAGE, said on stderr as
 * "infersim COMMAND: FILE: output.decisions is false, but USE; ...". */
int tool_decisions_required(const scn_scenario *scenario, const char *command, const char *file,
                            const char *use);
/* Why swarm and shrink need them. */
#define TOOL_VERDICT_USE \
    "a run's verdict reads its decisions rows (a timeout told from an unjust slash)"

/* Reads the verdict of a finished child (waitpid 'status'). Returns 0, or
 * -1 when its database cannot be read (said on stderr). */
int tool_verdict_read(const tool_child *child, int status, bool judge_honest,
                      tool_verdict *verdict);

/* Stores an inference run's requests, segments and divergence rows.
 * Returns 0 or -1 on a write error (met_db_errmsg says which). */
int tool_store_inference(met_db *db, int64_t run_id, const scn_scenario *scenario,
                         const world_result *result);
/* The Byzantine behaviour node i last had ("honest" when none). */
const char *tool_behaviour_name(const world_result *result, uint32_t node_id);

/* Prints the inference lines of the run summary. */
void tool_print_inference(const scn_scenario *scenario, const world_result *result);
/* Metric 'name' of 'result' for a person (scn_format_metric) in
 * buffer[SCN_FORMAT_MAX], which it returns (cmd_run.c). */
const char *tool_metric_text(char *buffer, const world_result *result, const char *name);

/* A standard figure (cmd_plot.c). Ids are decimal text. */
typedef struct tool_figure {
    const char *kind;                /* latency-cdf, outcome, reputation, timeline */
    const char *run_id;              /* NULL: not restricted to one run */
    const char *sweep_id;            /* NULL: not restricted to one sweep */
    const char *metric;              /* outcome: NULL picks accepted_wrong, completed_ratio
                                      * or delivery_ratio, the first the sweep has */
    const char *x_key;               /* outcome: NULL is the sweep's first grid key */
} tool_figure;

/* The index-th figure kind ("latency-cdf"), NULL past the end. */
const char *tool_figure_kind_name(size_t index);

/* True when a gnuplot executable is on PATH. */
bool tool_gnuplot_present(void);

/* Draws 'figure' from 'db' with gnuplot into 'output' (.svg or .png).
 * Returns TOOL_EXIT_OK; TOOL_EXIT_USAGE when the selection has no data for
 * the figure or the request is malformed; TOOL_EXIT_INTERNAL when gnuplot
 * is missing or fails, or on a database error. On failure a message is
 * copied to why[why_size]. */
int tool_figure_draw(met_db *db, const tool_figure *figure, const char *output, char *why,
                     size_t why_size);

/* The whole file at 'path' as a NUL-terminated text (malloc'd: free it),
 * its length in *size_out; NULL when it cannot be read. */
char *tool_read_file(const char *path, size_t *size_out);

/* Prints "infersim SUBCOMMAND: message" to stderr and returns
 * TOOL_EXIT_USAGE. */
int tool_usage_error(const char *subcommand, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* An expectation's operator as text (">=") and whether it holds. */
const char *tool_cmp_text(scn_cmp cmp);
bool tool_cmp_holds(scn_cmp cmp, double actual, double expected);
/* How many of the scenario's expectations are judged on one run (the
 * over-seed forms {mean} and {each, passing} are judged by sweep --check). */
uint32_t tool_run_expect_count(const scn_scenario *scenario);
/* An expectation as written, "metric [mean |each ]OP value[, passing OP r]". */
const char *tool_expect_text(char *buffer, size_t size, const scn_expect *expect);

/* ---- argument parsing (tool_opt.c) ---- */

/* One option of a subcommand: its name as typed ("--db"; "-o" for one with
 * only a short form), its short letter (0: none), whether it takes a
 * value. */
typedef struct tool_option {
    const char *name;
    char short_name;
    bool takes_value;
} tool_option;

/* A subcommand's option table. on_option gets each option seen, by its
 * table name, with its value (NULL for a flag), and returns TOOL_EXIT_OK
 * to go on or the exit code that stops the parse. */
typedef struct tool_command {
    const char *name;
    const char *usage;
    const tool_option *options;
    size_t option_count;
    int (*on_option)(void *context, const char *name, const char *value);
} tool_command;

#define TOOL_OPTIONS_HELP (-1)   /* the usage was printed: exit 0 */

/* Parses argv[1..argc) with getopt_long: --name V, --name=V, unambiguous
 * prefixes, short options, '--' ends the options; operands may come
 * anywhere and are left, in order, in argv[*first_positional..argc). With
 * -h or --help anywhere before '--' prints the usage and returns
 * TOOL_OPTIONS_HELP. An unknown option is an error that suggests the
 * nearest name. Returns TOOL_EXIT_OK or the exit code (said on stderr). */
int tool_options_parse(const tool_command *command, int argc, char **argv, void *context,
                       int *first_positional);
/* Exactly one operand in argv[first..argc) into *out ('what' names it in
 * the error when missing). Returns TOOL_EXIT_OK or TOOL_EXIT_USAGE. */
int tool_positional_one(const char *subcommand, int argc, char **argv, int first,
                        const char *what, const char **out);
/* The candidate nearest to 'word' by edit distance when it is near enough
 * to be a misspelling of it, else NULL. */
const char *tool_suggest(const char *word, const char *const *candidates, size_t count);
/* Prints names[count] separated by spaces. */
void tool_list_print(FILE *out, const char *const *names, size_t count);
/* An integer in low..high (option 'name'), or TOOL_EXIT_USAGE naming the
 * text. */
int tool_parse_range(const char *subcommand, const char *name, const char *text,
                     unsigned long long low, unsigned long long high,
                     unsigned long long *out);
/* A number in (0, high], or TOOL_EXIT_USAGE naming the text. */
int tool_parse_positive(const char *subcommand, const char *name, const char *text,
                        double high, double *out);

/* True when argv[i] is -h or --help. */
bool tool_is_help(const char *arg);
/* --threads' default: the online cores (at least 1, at most
 * UTIL_WORKERS_MAX). Cannot fail. */
uint32_t tool_threads_default(void);

/* Parses a strictly positive 64-bit integer run id or seed; false on junk. */
bool tool_parse_u64(const char *text, unsigned long long *value_out);

#endif
