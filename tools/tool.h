/* tool.h -- the infersim command line: one binary, one function per
 * subcommand. Each returns the process exit code: TOOL_EXIT_OK (0),
 * TOOL_EXIT_CHECK (1) an expectation failed, TOOL_EXIT_USAGE (2) bad usage
 * or bad input, TOOL_EXIT_INTERNAL (3) an internal error; an interrupted run
 * exits 128 + the signal number, as shells expect. */
#ifndef TOOL_TOOL_H
#define TOOL_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

int tool_runs_main(int argc, char **argv);
int tool_compare_main(int argc, char **argv);
int tool_export_main(int argc, char **argv);
int tool_merge_main(int argc, char **argv);
int tool_sweep_main(int argc, char **argv);
int tool_plot_main(int argc, char **argv);
int tool_report_main(int argc, char **argv);
int tool_testbed_main(int argc, char **argv);  /* cmd_testbed.c */
int tool_client_main(int argc, char **argv);   /* cmd_client.c */
int tool_keygen_main(int argc, char **argv);   /* cmd_keygen.c */

/* Stores an inference run's requests, segments and divergence rows.
 * Returns 0 or -1 on a write error (met_db_errmsg says which). */
int tool_store_inference(met_db *db, int64_t run_id, const scn_scenario *scenario,
                         const sim_result *result);
/* The Byzantine behaviour node i last had ("honest" when none). */
const char *tool_behaviour_name(const sim_result *result, uint32_t node_id);

/* Prints the inference lines of the run summary. */
void tool_print_inference(const scn_scenario *scenario, const sim_result *result);

/* A standard figure (cmd_plot.c). Ids are decimal text. */
typedef struct tool_figure {
    const char *kind;                /* latency-cdf, outcome, reputation, timeline */
    const char *run_id;              /* NULL: not restricted to one run */
    const char *sweep_id;            /* NULL: not restricted to one sweep */
    const char *metric;              /* outcome: NULL picks accepted_wrong, completed_ratio
                                      * or delivery_ratio, the first the sweep has */
    const char *x_key;               /* outcome: NULL is the sweep's first grid key */
} tool_figure;

/* True when a gnuplot executable is on PATH. */
bool tool_gnuplot_present(void);

/* Draws 'figure' from 'db' with gnuplot into 'output' (.svg or .png).
 * Returns TOOL_EXIT_OK; TOOL_EXIT_USAGE when the selection has no data for
 * the figure or the request is malformed; TOOL_EXIT_INTERNAL when gnuplot
 * is missing or fails, or on a database error. On failure a message is
 * copied to why[why_size]. */
int tool_figure_draw(met_db *db, const tool_figure *figure, const char *output, char *why,
                     size_t why_size);

/* Prints "infersim SUBCOMMAND: message" to stderr and returns
 * TOOL_EXIT_USAGE. */
int tool_usage_error(const char *subcommand, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* An expectation's operator as text (">=") and whether it holds. */
const char *tool_cmp_text(scn_cmp cmp);
bool tool_cmp_holds(scn_cmp cmp, double actual, double expected);

/* True when argv[i] is -h or --help. */
bool tool_is_help(const char *arg);

/* Parses a strictly positive 64-bit integer run id or seed; false on junk. */
bool tool_parse_u64(const char *text, unsigned long long *value_out);

#endif
