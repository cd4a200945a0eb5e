/* cmd_report.c -- `infersim report`: one self-contained HTML page for a
 * run or a sweep: what ran (the run or sweep and its scenario), whether
 * its expectations held, its summary tables, and the standard figures
 * (cmd_plot.c) embedded as inline SVG. No script, stylesheet, font or image
 * is fetched: the page opens offline. Every string that comes from the
 * database is HTML-escaped. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/tool.h"
#include "util/assert.h"

#define REPORT_COLUMNS_MAX 16

static const char report_usage[] =
    "usage: infersim report [--db F] (--run ID | --sweep ID) -o REPORT.html\n"
    "\n"
    "Writes one self-contained HTML page (inline SVG figures, no external\n"
    "resources) for run ID or sweep ID of the results database F (default\n"
    "results.db): the run or sweep, its scenario, its expectations and their\n"
    "outcomes, its summary tables and the standard figures (infersim plot).\n"
    "Needs gnuplot for the figures (exit 3 without it).\n";

typedef struct report {
    met_db *db;
    FILE *out;
    const char *id;                    /* the run or sweep id, decimal */
    bool sweep;
    size_t rows;                       /* rows written by the last table */
    /* The table being written: columns shown in a unit (bit i: column i,
     * formatted with the unit named by column unit_column, which is not
     * shown); -1 and 0 for none. */
    int unit_column;
    uint32_t unit_mask;
    char why[512];
} report;

/* Writes 'text' with & < > " ' escaped. */
static void html_text(FILE *out, const char *text)
{
    for (const char *c = text; *c != '\0'; c++) {
        switch (*c) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*c, out); break;
        }
    }
}

/* A cell's text for a person: a value in its unit (scn_format_value), a
 * fraction to four significant digits, an integer or a text as stored. */
static const char *table_cell(const report *r, const met_value *values, size_t i, char *buffer,
                              size_t size)
{
    const met_value *v = &values[i];
    if (v->is_null || v->text == NULL) {
        return NULL;
    }
    char *end = NULL;
    double number = strtod(v->text, &end);
    bool numeric = end != v->text && *end == '\0';
    if (numeric && i < 32 && (r->unit_mask & (1u << i)) != 0) {
        const char *unit = values[r->unit_column].text;
        return scn_format_value(buffer, size, unit != NULL ? unit : "", number);
    }
    if (numeric && strchr(v->text, '.') != NULL && isfinite(number)) {
        snprintf(buffer, size, "%.4g", number);
        return buffer;
    }
    return v->text;
}

static int table_row(void *context, size_t count, const met_value *values)
{
    report *r = context;
    char buffer[SCN_FORMAT_MAX];
    fputs("<tr>", r->out);
    for (size_t i = 0; i < count; i++) {
        if ((int)i == r->unit_column) {
            continue;
        }
        const char *text = table_cell(r, values, i, buffer, sizeof(buffer));
        bool verdict = text != NULL && (strcmp(text, "PASS") == 0 || strcmp(text, "FAIL") == 0);
        fprintf(r->out, "<td%s>", verdict ? (text[0] == 'P' ? " class=\"pass\"" : " class=\"fail\"")
                                          : "");
        html_text(r->out, text != NULL ? text : "\xe2\x80\x94");    /* an em dash for NULL */
        fputs("</td>", r->out);
    }
    fputs("</tr>\n", r->out);
    r->rows += 1;
    return 0;
}

/* One table of the report: its title, column headers, the query (?1 is
 * the run or sweep id) and the line shown when it has no rows. */
typedef struct report_section {
    const char *title;
    const char *const *headers;
    const char *sql;
    const char *empty;
} report_section;

/* Rows computed beyond one query (met_predictions): the id, then each row
 * to 'row'. */
typedef int (*report_reader)(met_db *db, const char *id, met_row_fn row, void *context);

/* A titled table of a section's rows: its query's, or the reader's when
 * 'reader' is not NULL. Returns 0 or TOOL_EXIT_INTERNAL. An empty result
 * writes the section's 'empty' line instead. */
static int report_table(report *r, const report_section *section, report_reader reader)
{
    const char *params[1] = {r->id};
    const char *const *headers = section->headers;
    fputs("<h2>", r->out);
    html_text(r->out, section->title);
    fputs("</h2>\n<table>\n<tr>", r->out);
    for (size_t i = 0; headers[i] != NULL; i++) {
        fputs("<th>", r->out);
        html_text(r->out, headers[i]);
        fputs("</th>", r->out);
    }
    fputs("</tr>\n", r->out);
    r->rows = 0;
    int rc = reader != NULL ? reader(r->db, r->id, table_row, r)
                            : met_query(r->db, section->sql, params, 1, table_row, r);
    fputs("</table>\n", r->out);
    r->unit_column = -1;
    r->unit_mask = 0;
    if (rc != 0) {
        snprintf(r->why, sizeof(r->why), "%s", met_db_errmsg(r->db));
        return TOOL_EXIT_INTERNAL;
    }
    if (r->rows == 0) {
        fputs("<p class=\"note\">", r->out);
        html_text(r->out, section->empty);
        fputs("</p>\n", r->out);
    }
    return 0;
}
/* Copies the figure's SVG from its first "<svg" on (no XML prolog). */
static int report_svg_inline(report *r, const char *path)
{
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        snprintf(r->why, sizeof(r->why), "cannot read %s: %s", path, strerror(errno));
        return TOOL_EXIT_INTERNAL;
    }
    char line[4096];
    bool started = false;
    while (fgets(line, sizeof(line), in) != NULL) {
        char *svg = started ? line : strstr(line, "<svg");
        if (svg != NULL) {
            started = true;
            fputs(svg, r->out);
        }
    }
    fclose(in);
    return 0;
}

/* Draws one figure into a temporary SVG and inlines it; a figure without
 * data is a note, not an error. */
static int report_figure(report *r, const tool_figure *figure, const char *caption)
{
    char path[] = "/tmp/infersim-report-XXXXXX.svg";
    int fd = mkstemps(path, 4);
    if (fd < 0) {
        snprintf(r->why, sizeof(r->why), "mkstemps: %s", strerror(errno));
        return TOOL_EXIT_INTERNAL;
    }
    close(fd);
    char why[512];
    int code = tool_figure_draw(r->db, figure, path, why, sizeof(why));
    fputs("<figure>\n", r->out);
    if (code == TOOL_EXIT_OK) {
        code = report_svg_inline(r, path);
    } else if (code == TOOL_EXIT_USAGE) {
        fputs("<p class=\"note\">No figure: ", r->out);
        html_text(r->out, why);
        fputs("</p>\n", r->out);
        code = TOOL_EXIT_OK;
    } else {
        snprintf(r->why, sizeof(r->why), "%s", why);
    }
    fputs("<figcaption>", r->out);
    html_text(r->out, caption);
    fputs("</figcaption>\n</figure>\n", r->out);
    unlink(path);
    return code;
}

static const char report_style[] =
    "<style>\n"
    "body{font-family:sans-serif;margin:1.5em auto;max-width:1000px;padding:0 1em;color:#222}\n"
    "h1{font-size:1.5em;margin:0 0 0.3em}h2{font-size:1.2em;margin:1.2em 0 0.4em}\n"
    "table{border-collapse:collapse;margin:0.5em 0 1em;max-width:100%}\n"
    "td,th{border:1px solid #bbb;padding:0.2em 0.6em;text-align:left;font-size:0.9em;"
    "overflow-wrap:anywhere}\n"
    "th{background:#eee}td.pass{background:#d8f5d8}td.fail{background:#f8d0d0}\n"
    ".verdict{font-size:1.1em;padding:0.6em 0.9em;border-radius:4px;margin:0.4em 0}\n"
    ".verdict.pass{background:#d8f5d8}.verdict.fail{background:#f8d0d0}"
    ".verdict.none{background:#eee}\n"
    ".note{color:#666;font-style:italic}figure{margin:0.8em 0}"
    "svg{max-width:100%;height:auto}\n"
    "figcaption{color:#444;font-size:0.9em}details{margin:1em 0}"
    "summary{cursor:pointer;font-weight:bold}\n"
    "</style>\n";

static void report_begin(report *r, const char *title)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", r->out);
    html_text(r->out, title);
    fprintf(r->out, "</title>\n%s</head>\n<body>\n<h1>", report_style);
    html_text(r->out, title);
    fputs("</h1>\n", r->out);
}

static int report_sections(report *r, const report_section *sections, size_t count)
{
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        rc = report_table(r, &sections[i], NULL);
    }
    return rc;
}

/* ---- a run ------------------------------------------------------------------- */

/* The verdict first: what ran, whether it held, in one line a person reads
 * before anything else. Columns: name, mode, status, check, expectations,
 * passed, protocol, nodes, seed, simulated s, wall s. */
static int verdict_row(void *context, size_t count, const met_value *values)
{
    report *r = context;
    (void)count;
    const char *status = values[2].text != NULL ? values[2].text : "?";
    const char *check = values[3].text;
    bool testbed = values[1].text != NULL && strcmp(values[1].text, "testbed") == 0;
    long expectations = (long)values[4].number, passed = (long)values[5].number;
    const char *kind = check == NULL ? "none" : strcmp(check, "passed") == 0 ? "pass" : "fail";
    fprintf(r->out, "<p class=\"verdict %s\"><b>", strcmp(status, "completed") != 0 ? "fail" : kind);
    if (strcmp(status, "completed") != 0) {
        fputs("The run did not complete (", r->out);
        html_text(r->out, status);
        fputs(")", r->out);
    } else if (check == NULL) {
        fputs("Completed; the scenario states no expectation", r->out);
    } else {
        fprintf(r->out, "Expectations %s: %ld of %ld held",
                strcmp(check, "passed") == 0 ? "passed" : "FAILED", passed, expectations);
    }
    fputs("</b><br>", r->out);
    html_text(r->out, values[0].text != NULL ? values[0].text : "?");
    fputs(" &middot; ", r->out);
    html_text(r->out, testbed ? "testbed (real processes)" : "simulated");
    fputs(" &middot; protocol ", r->out);
    html_text(r->out, values[6].text != NULL ? values[6].text : "none");
    fprintf(r->out, " &middot; %.0f nodes &middot; seed %.0f &middot; ", values[7].number,
            values[8].number);
    char time[SCN_FORMAT_MAX];
    if (testbed) {
        fprintf(r->out, "%s of wall time (no simulated time, no trace hash)",
                scn_format_value(time, sizeof(time), "s", values[10].number / 1e3));
    } else {
        fprintf(r->out, "%s simulated", scn_format_value(time, sizeof(time), "ns",
                                                           values[9].number));
    }
    fputs("</p>\n", r->out);
    r->rows += 1;
    return 0;
}

static int report_verdict(report *r)
{
    static const char sql[] =
        "SELECT name, mode, status, check_status,"
        " (SELECT count(*) FROM expectations WHERE run_id = ?1),"
        " (SELECT coalesce(sum(passed), 0) FROM expectations WHERE run_id = ?1),"
        " (SELECT value FROM params WHERE run_id = ?1 AND key = 'verification.protocol'),"
        " nodes, seed, coalesce(sim_ns, 0), coalesce(wall_ms, 0) FROM runs WHERE run_id = ?1";
    const char *params[1] = {r->id};
    r->rows = 0;
    if (met_query(r->db, sql, params, 1, verdict_row, r) != 0) {
        snprintf(r->why, sizeof(r->why), "%s", met_db_errmsg(r->db));
        return TOOL_EXIT_INTERNAL;
    }
    return 0;
}

/* A table whose columns in 'mask' are shown in the unit named by column
 * 'unit_column' (not shown itself). */
static int report_table_in_units(report *r, const report_section *section, int unit_column,
                                 uint32_t mask)
{
    r->unit_column = unit_column;
    r->unit_mask = mask;
    return report_table(r, section, NULL);
}

static int report_run_answer(report *r)
{
    static const char *const expect_headers[] = {"metric", "operator", "bound", "measured",
                                                 "outcome", NULL};
    /* The bound and the measured value in the metric's unit (the run's
     * metrics rows name it; SCN_METRICS's names when they do not). */
    const report_section expectations = {
        "Expectations", expect_headers,
        "SELECT e.metric, e.op, e.expected, e.actual, CASE e.passed WHEN 1 THEN 'PASS'"
        " ELSE 'FAIL' END, (SELECT m.unit FROM metrics m WHERE m.run_id = e.run_id"
        " AND m.name = e.metric) FROM expectations e WHERE e.run_id = ?1 ORDER BY e.rowid",
        "The scenario has no expectations."};
    int rc = report_verdict(r);
    if (rc == 0 && r->rows == 0) {
        fputs("<p class=\"note\">No such run.</p>\n", r->out);
    }
    return rc == 0 ? report_table_in_units(r, &expectations, 5, (1u << 2) | (1u << 3)) : rc;
}

static int report_run_figures(report *r)
{
    tool_figure timeline = {"timeline", r->id, NULL, NULL, NULL};
    tool_figure cdf = {"latency-cdf", r->id, NULL, NULL, NULL};
    tool_figure reputation = {"reputation", r->id, NULL, NULL, NULL};
    int rc = report_figure(r, &cdf, "Latency of completed requests, per protocol (a run of "
                                     "calibrate: its simulator and testbed runs together).");
    if (rc == 0) {
        rc = report_figure(r, &timeline, "Delivery and latency over time; faults shaded.");
    }
    if (rc == 0) {
        rc = report_figure(r, &reputation, "Mean reputation of honest and Byzantine nodes.");
    }
    return rc;
}

static int report_run_tables(report *r)
{
    static const char *const metric_headers[] = {"metric", "value", NULL};
    static const char *const node_headers[] = {"behaviour", "nodes", "mean reputation",
                                               "mean stake", "crashes", NULL};
    static const char *const violation_headers[] = {"kind", "count", "first at (s)", NULL};
    static const char *const param_headers[] = {"key", "value", NULL};
    static const char *const predicted_headers[] = {"quantity", "observed", "measured",
                                                    "95 % interval (Wilson)",
                                                    "predicted (closed form)", "inside", NULL};
    const report_section metrics = {"Results", metric_headers,
                                    "SELECT name, value, unit FROM metrics WHERE run_id = ?1"
                                    " ORDER BY name",
                                    "No metrics (the run did not finish)."};
    const report_section predicted = {
        "Measured beside predicted", predicted_headers, NULL,
        "No draw or spot check to compare (no committee, sample or crossval)."};
    const report_section after[] = {
        {"Violations", violation_headers,
         "SELECT kind, count(*), min(t_ns) / 1e9 FROM violations"
         " WHERE run_id = ?1 GROUP BY kind ORDER BY kind",
         "No violations recorded."},
        {"Nodes by behaviour", node_headers,
         "SELECT behaviour, count(*), avg(reputation), avg(stake), sum(crashes)"
         " FROM nodes WHERE run_id = ?1 GROUP BY behaviour ORDER BY behaviour",
         "No node rows."},
        {"Calibration against the paired run (decisions per request)", param_headers,
         "SELECT key, value FROM params WHERE run_id = ?1 AND key LIKE 'calibrate.%'"
         " ORDER BY key",
         "Not a run of calibrate."},
    };
    int rc = report_table_in_units(r, &metrics, 2, 1u << 1);
    if (rc == 0) {
        rc = report_table(r, &predicted, met_predictions);
    }
    return rc == 0 ? report_sections(r, after, UTIL_ARRAY_COUNT(after)) : rc;
}

static int report_flag_row(void *context, size_t count, const met_value *values)
{
    (void)count;
    (void)values;
    *(bool *)context = true;
    return 0;
}

/* A run with a privacy section: who saw what, per role; what the noise
 * costs per class; who holds the weights. Nothing for other runs. */
static int report_run_privacy(report *r)
{
    static const char *const role_headers[] = {
        "role", "rows", "saw tokens", "saw activations", "saw logits", "in a TEE",
        "epsilon (max)", "epsilon received (max)", "prompt recovered (mean)",
        "generated recovered (mean)", NULL};
    static const char *const class_headers[] = {"class", "kernel", "argmax agree (clean)",
                                                "argmax agree (noised)",
                                                "logits cosine (noised, mean)", NULL};
    static const char *const weight_headers[] = {"segment", "layers", "parameters", "servers",
                                                 "in a TEE", NULL};
    const report_section sections[] = {
        {"Privacy: who saw what", role_headers,
         "SELECT role, count(*), sum(saw_tokens), count(saw_activations), sum(saw_logits),"
         " sum(in_tee), max(epsilon), max(epsilon_received), avg(reconstruction),"
         " avg(generation_reconstruction) FROM privacy WHERE run_id = ?1 GROUP BY role"
         " ORDER BY role",
         "No privacy rows (no request was submitted)."},
        {"Privacy: what the noise costs per class", class_headers,
         "SELECT class, kernel, avg(argmax_agree), avg(noised_argmax_agree),"
         " avg(noised_logits_cosine) FROM divergence WHERE run_id = ?1 GROUP BY class, kernel"
         " ORDER BY class",
         "No request was compared with the reference."},
        {"Privacy: who holds the weights", weight_headers,
         "SELECT segment, first_layer || '-' || (first_layer + layer_count - 1), params,"
         " count(*), sum(in_tee) FROM weights WHERE run_id = ?1 GROUP BY segment"
         " ORDER BY segment",
         "No weights rows."},
    };
    bool on = false;
    const char *params[1] = {r->id};
    if (met_query(r->db, "SELECT 1 FROM params WHERE run_id = ?1 AND key LIKE 'privacy.%'"
                         " LIMIT 1",
                  params, 1, report_flag_row, &on) != 0) {
        snprintf(r->why, sizeof(r->why), "%s", met_db_errmsg(r->db));
        return TOOL_EXIT_INTERNAL;
    }
    return on ? report_sections(r, sections, UTIL_ARRAY_COUNT(sections)) : 0;
}

/* What identifies the run, and its whole scenario: for the record, folded. */
static int report_run_details(report *r)
{
    static const char *const run_headers[] = {"run", "mode", "status", "events", "simulated s",
                                              "wall s", "trace hash", "scenario sha256", "git",
                                              "sweep", "point", "error", NULL};
    static const char *const param_headers[] = {"key", "value", NULL};
    const report_section details[] = {
        {"Run", run_headers,
         "SELECT run_id, mode, status, events,"
         " CASE mode WHEN 'testbed' THEN NULL ELSE sim_ns / 1e9 END, wall_ms / 1e3,"
         " CASE mode WHEN 'testbed' THEN 'none (real time)' ELSE trace_hash END,"
         " scenario_sha256, git_rev, sweep_id, point, error FROM runs WHERE run_id = ?1",
         "no such run"},
        {"Scenario (effective, flattened)", param_headers,
         "SELECT key, value FROM params WHERE run_id = ?1 ORDER BY key",
         "No parameters stored."},
    };
    fputs("<details>\n<summary>Run details and the whole scenario</summary>\n", r->out);
    int rc = report_sections(r, details, UTIL_ARRAY_COUNT(details));
    fputs("</details>\n", r->out);
    return rc;
}

/* The answer first (verdict, expectations), then the figures, the results
 * with their units, and the record folded at the end. */
static int report_run(report *r)
{
    int rc = report_run_answer(r);
    if (rc == 0) {
        rc = report_run_figures(r);
    }
    if (rc == 0) {
        rc = report_run_tables(r);
    }
    if (rc == 0) {
        rc = report_run_privacy(r);
    }
    return rc == 0 ? report_run_details(r) : rc;
}

/* ---- a sweep ------------------------------------------------------------------- */

typedef struct metric_list {
    char names[4][64];
    size_t count;
} metric_list;

static int metric_pick(void *context, size_t count, const met_value *values)
{
    metric_list *list = context;
    (void)count;
    if (list->count < 4 && values[0].text != NULL) {
        snprintf(list->names[list->count++], sizeof(list->names[0]), "%s", values[0].text);
    }
    return 0;
}

/* The sweep's verdict: runs by outcome and the run-level expectations.
 * Columns: name, runs, completed, runs judged, runs that passed. */
static int sweep_verdict_row(void *context, size_t count, const met_value *values)
{
    report *r = context;
    (void)count;
    long runs = (long)values[1].number, completed = (long)values[2].number;
    long judged = (long)values[3].number, passed = (long)values[4].number;
    bool good = completed == runs && passed == judged;
    fprintf(r->out, "<p class=\"verdict %s\"><b>", judged == 0 && completed == runs ? "none"
                                                   : good                         ? "pass"
                                                                                  : "fail");
    if (judged > 0) {
        fprintf(r->out, "Expectations %s: %ld of %ld runs passed", passed == judged ? "passed"
                                                                                     : "FAILED",
                passed, judged);
    } else {
        fputs("The scenario states no run-level expectation", r->out);
    }
    fputs("</b><br>", r->out);
    html_text(r->out, values[0].text != NULL ? values[0].text : "?");
    fprintf(r->out, " &middot; %ld runs, %ld completed", runs, completed);
    fputs(" &middot; expectations over seeds are judged by <code>infersim sweep ... --check"
          "</code>, which prints them</p>\n", r->out);
    r->rows += 1;
    return 0;
}

static int report_sweep_verdict(report *r)
{
    static const char sql[] =
        "SELECT s.name, (SELECT count(*) FROM runs WHERE sweep_id = ?1),"
        " (SELECT count(*) FROM runs WHERE sweep_id = ?1 AND status = 'completed'),"
        " (SELECT count(*) FROM runs WHERE sweep_id = ?1 AND check_status IS NOT NULL),"
        " (SELECT count(*) FROM runs WHERE sweep_id = ?1 AND check_status = 'passed')"
        " FROM sweeps s WHERE s.sweep_id = ?1";
    const char *params[1] = {r->id};
    r->rows = 0;
    if (met_query(r->db, sql, params, 1, sweep_verdict_row, r) != 0) {
        snprintf(r->why, sizeof(r->why), "%s", met_db_errmsg(r->db));
        return TOOL_EXIT_INTERNAL;
    }
    return 0;
}

/* The metrics a sweep table and its figures show, in this order, those
 * the sweep has. */
static const char *const sweep_metrics[] = {
    "accepted_wrong_ratio", "honest_penalised", "completed_ratio", "request_latency_p99",
    "delivery_ratio",       "latency_p99",      "accepted_wrong",
};

typedef struct grid_table {
    report *r;
    metric_list metrics;
} grid_table;

/* One grid point: its point text, runs, then (mean, low, high) per metric,
 * each shown as "mean [low, high]" in the metric's unit, the interval
 * clipped to the metric's range (a ratio's to [0, 1], others' at 0). */
static int grid_row(void *context, size_t count, const met_value *values)
{
    grid_table *g = context;
    FILE *out = g->r->out;
    fputs("<tr><td>", out);
    html_text(out, values[0].text != NULL && values[0].text[0] != '\0' ? values[0].text
                                                                        : "(base)");
    fprintf(out, "</td><td>%.0f</td>", values[1].number);
    for (size_t m = 0; m < g->metrics.count && 2 + 3 * m + 2 < count; m++) {
        const met_value *v = &values[2 + 3 * m];
        const char *name = g->metrics.names[m];
        int row = scn_metric_find(name);
        bool ratio = row >= 0 && strcmp(scn_metrics[row].unit, "ratio") == 0;
        char mean[SCN_FORMAT_MAX], low[SCN_FORMAT_MAX], high[SCN_FORMAT_MAX];
        if (v[0].is_null) {
            fputs("<td>\xe2\x80\x94</td>", out);
            continue;
        }
        double lo = v[1].is_null ? v[0].number : fmax(v[1].number, 0.0);
        double hi = v[2].is_null ? v[0].number : v[2].number;
        hi = ratio ? fmin(hi, 1.0) : hi;
        fprintf(out, "<td>%s [%s, %s]</td>", scn_format_metric(mean, sizeof(mean), name,
                                                               v[0].number),
                scn_format_metric(low, sizeof(low), name, lo),
                scn_format_metric(high, sizeof(high), name, hi));
    }
    fputs("</tr>\n", out);
    g->r->rows += 1;
    return 0;
}

/* Grid points x the key metrics: the sweep's answer as one table. */
static int report_grid_table(report *r, const metric_list *metrics)
{
    char sql[4096];
    size_t used = (size_t)snprintf(sql, sizeof(sql), "SELECT point, max(n)");
    for (size_t m = 0; m < metrics->count; m++) {
        const char *name = metrics->names[m];    /* from sweep_metrics: no user text */
        used += (size_t)snprintf(sql + used, sizeof(sql) - used,
                                 ", max(CASE metric WHEN '%s' THEN mean END),"
                                 " max(CASE metric WHEN '%s' THEN ci95_low END),"
                                 " max(CASE metric WHEN '%s' THEN ci95_high END)",
                                 name, name, name);
    }
    snprintf(sql + used, sizeof(sql) - used,
             " FROM sweep_summary s WHERE sweep_id = ?1 GROUP BY point ORDER BY (SELECT"
             " min(run_id) FROM runs WHERE sweep_id = s.sweep_id AND point = s.point)");
    fputs("<h2>Grid points (mean over seeds [95 % interval])</h2>\n<table>\n"
          "<tr><th>grid point</th><th>runs</th>", r->out);
    for (size_t m = 0; m < metrics->count; m++) {
        fputs("<th>", r->out);
        html_text(r->out, metrics->names[m]);
        fputs("</th>", r->out);
    }
    fputs("</tr>\n", r->out);
    grid_table g = {r, *metrics};
    const char *params[1] = {r->id};
    r->rows = 0;
    int rc = met_query(r->db, sql, params, 1, grid_row, &g);
    fputs("</table>\n", r->out);
    if (rc != 0) {
        snprintf(r->why, sizeof(r->why), "%s", met_db_errmsg(r->db));
        return TOOL_EXIT_INTERNAL;
    }
    if (r->rows == 0) {
        fputs("<p class=\"note\">No completed runs yet.</p>\n", r->out);
    }
    return 0;
}

/* The sweep's metrics among sweep_metrics, in that order. */
static int sweep_metrics_present(report *r, metric_list *out)
{
    out->count = 0;
    for (size_t m = 0; m < UTIL_ARRAY_COUNT(sweep_metrics) && out->count < 4; m++) {
        metric_list found = {.count = 0};
        const char *params[2] = {r->id, sweep_metrics[m]};
        if (met_query(r->db, "SELECT metric FROM sweep_summary WHERE sweep_id = ?1"
                             " AND metric = ?2 AND mean IS NOT NULL LIMIT 1",
                      params, 2, metric_pick, &found) != 0) {
            snprintf(r->why, sizeof(r->why), "%s", met_db_errmsg(r->db));
            return TOOL_EXIT_INTERNAL;
        }
        if (found.count == 1) {
            snprintf(out->names[out->count++], sizeof(out->names[0]), "%s", sweep_metrics[m]);
        }
    }
    return 0;
}

/* Figures: the first metric against every swept key, then the others
 * against the first key, then the latency CDF (a line per grid point). */
static int report_sweep_figures(report *r, const metric_list *metrics)
{
    metric_list keys = {.count = 0};
    const char *params[1] = {r->id};
    if (met_query(r->db, "SELECT v.key FROM sweep_values v JOIN runs r ON r.run_id = v.run_id"
                         " WHERE r.sweep_id = ?1 GROUP BY v.key ORDER BY min(v.rowid)",
                  params, 1, metric_pick, &keys) != 0) {
        snprintf(r->why, sizeof(r->why), "%s", met_db_errmsg(r->db));
        return TOOL_EXIT_INTERNAL;
    }
    fputs("<h2>Figures</h2>\n", r->out);
    int rc = 0;
    for (size_t k = 0; k < keys.count && metrics->count > 0 && rc == 0; k++) {
        tool_figure outcome = {"outcome", NULL, r->id, metrics->names[0], keys.names[k]};
        rc = report_figure(r, &outcome, "Mean over seeds with its 95% interval, against one "
                                        "swept key; a line per value of the others.");
    }
    for (size_t m = 1; m < metrics->count && keys.count > 0 && rc == 0; m++) {
        tool_figure outcome = {"outcome", NULL, r->id, metrics->names[m], keys.names[0]};
        rc = report_figure(r, &outcome, "Mean over seeds with its 95% interval.");
    }
    tool_figure cdf = {"latency-cdf", NULL, r->id, NULL, NULL};
    return rc == 0 ? report_figure(r, &cdf, "Latency of completed requests, a line per grid "
                                            "point.")
                   : rc;
}

/* The record, folded: the sweep row, runs that did not complete, the
 * expectations per run, and the base scenario without the swept keys. */
static int report_sweep_details(report *r)
{
    static const char *const sweep_headers[] = {"sweep", "name", "grid", "seeds", "points",
                                                "base scenario sha256", "created", NULL};
    static const char *const failed_headers[] = {"run", "point", "seed", "status", "error",
                                                 NULL};
    static const char *const expect_headers[] = {"metric", "operator", "bound", "runs",
                                                 "passed", "outcome", NULL};
    static const char *const param_headers[] = {"key", "value", NULL};
    const report_section details[] = {
        {"Expectations over the runs", expect_headers,
         "SELECT e.metric, e.op, e.expected, count(*), sum(e.passed),"
         " CASE WHEN sum(e.passed) = count(*) THEN 'PASS' ELSE 'FAIL' END"
         " FROM expectations e JOIN runs r ON r.run_id = e.run_id"
         " WHERE r.sweep_id = ?1 GROUP BY e.metric, e.op, e.expected"
         " ORDER BY e.metric", "The scenario has no run-level expectations."},
        {"Runs that did not complete", failed_headers,
         "SELECT run_id, point, seed, status, error FROM runs"
         " WHERE sweep_id = ?1 AND status != 'completed' ORDER BY run_id",
         "Every run completed."},
        {"Sweep", sweep_headers,
         "SELECT sweep_id, name, spec, seeds, points, scenario_sha256,"
         " created_at FROM sweeps WHERE sweep_id = ?1", "no such sweep"},
        {"Base scenario (the swept keys, which vary, left out)", param_headers,
         "SELECT key, value FROM params WHERE run_id = (SELECT min(run_id)"
         " FROM runs WHERE sweep_id = ?1 AND status = 'completed')"
         " AND key NOT IN (SELECT v.key FROM sweep_values v JOIN runs r"
         " ON r.run_id = v.run_id WHERE r.sweep_id = ?1) AND key != 'seed' ORDER BY key",
         "No completed run."},
    };
    fputs("<details>\n<summary>Expectations per run, runs that did not complete, the sweep "
          "and its base scenario</summary>\n", r->out);
    int rc = report_sections(r, details, UTIL_ARRAY_COUNT(details));
    fputs("</details>\n", r->out);
    return rc;
}

static int report_sweep(report *r)
{
    metric_list metrics = {.count = 0};
    int rc = report_sweep_verdict(r);
    if (rc == 0) {
        rc = sweep_metrics_present(r, &metrics);
    }
    if (rc == 0) {
        rc = report_sweep_figures(r, &metrics);
    }
    if (rc == 0) {
        rc = report_grid_table(r, &metrics);
    }
    return rc == 0 ? report_sweep_details(r) : rc;
}

/* ---- the command ------------------------------------------------------------- */

typedef struct report_options {
    const char *db;
    const char *output;
    report *r;
} report_options;

static int report_option(void *context, const char *name, const char *value)
{
    report_options *o = context;
    unsigned long long id;
    if (strcmp(name, "--db") == 0) {
        o->db = value;
    } else if (strcmp(name, "-o") == 0) {
        o->output = value;
    } else if (!tool_parse_u64(value, &id) || id == 0 || id > INT64_MAX || o->r->id != NULL) {
        return tool_usage_error("report", "one --run ID or --sweep ID, got '%s %s'", name,
                                value);
    } else {
        o->r->id = value;
        o->r->sweep = name[2] == 's';
    }
    return TOOL_EXIT_OK;
}

static int report_parse(int argc, char **argv, const char **db, const char **output,
                        report *r)
{
    static const tool_option table[] = {
        {"--db", 0, true}, {"-o", 'o', true}, {"--run", 0, true}, {"--sweep", 0, true}};
    static const tool_command command = {"report", report_usage, table, 4, report_option};
    report_options o = {*db, NULL, r};
    int first = 0;
    int code = tool_options_parse(&command, argc, argv, &o, &first);
    if (code == TOOL_EXIT_OK && first < argc) {
        code = tool_usage_error("report", "unexpected argument '%s'", argv[first]);
    }
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    *db = o.db;
    *output = o.output;
    if (r->id == NULL || *output == NULL) {
        return tool_usage_error("report", "needs --run ID or --sweep ID, and -o REPORT.html");
    }
    return TOOL_EXIT_OK;
}

/* 1 when the run or sweep exists. */
static int report_exists(report *r)
{
    metric_list found = {.count = 0};
    const char *params[1] = {r->id};
    const char *sql = r->sweep ? "SELECT 'x' FROM sweeps WHERE sweep_id = ?1"
                               : "SELECT 'x' FROM runs WHERE run_id = ?1";
    int rc = met_query(r->db, sql, params, 1, metric_pick, &found);
    return rc != 0 ? rc : (int)found.count;
}

static int report_write(report *r, const char *output)
{
    char title[128];
    snprintf(title, sizeof(title), "infersim report: %s %s", r->sweep ? "sweep" : "run", r->id);
    r->out = fopen(output, "w");
    if (r->out == NULL) {
        return tool_usage_error("report", "cannot write '%s': %s", output, strerror(errno));
    }
    report_begin(r, title);
    int code = r->sweep ? report_sweep(r) : report_run(r);
    fprintf(r->out, "<p class=\"note\">Written by infersim %s (git %s).</p>\n</body>\n</html>\n",
            INFERSIM_VERSION, INFERSIM_GIT_REV);
    bool failed = ferror(r->out) != 0;
    failed = fclose(r->out) != 0 || failed;
    if (code == TOOL_EXIT_OK && failed) {
        snprintf(r->why, sizeof(r->why), "writing '%s' failed", output);
        code = TOOL_EXIT_INTERNAL;
    }
    if (code != TOOL_EXIT_OK) {
        unlink(output);    /* no half-written report left looking complete */
    }
    return code;
}

int tool_report_main(int argc, char **argv)
{
    const char *db_path = "results.db";
    const char *output = NULL;
    report r;
    memset(&r, 0, sizeof(r));
    r.unit_column = -1;
    int code = report_parse(argc, argv, &db_path, &output, &r);
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    if (access(db_path, F_OK) != 0) {
        return tool_usage_error("report", "no results database at '%s'", db_path);
    }
    if (!tool_gnuplot_present()) {
        fprintf(stderr, "infersim report: gnuplot is not installed or not on PATH (install it"
                        " with 'make deps' or 'apt-get install gnuplot-nox')\n");
        return TOOL_EXIT_INTERNAL;
    }
    if (met_db_open(db_path, &r.db, r.why, sizeof(r.why)) != 0) {
        fprintf(stderr, "infersim report: %s\n", r.why);
        return TOOL_EXIT_USAGE;
    }
    int exists = report_exists(&r);
    if (exists <= 0) {
        code = exists < 0 ? TOOL_EXIT_INTERNAL
                          : tool_usage_error("report", "no %s %s in '%s'",
                                             r.sweep ? "sweep" : "run", r.id, db_path);
    } else {
        code = report_write(&r, output);
        if (code == TOOL_EXIT_INTERNAL) {
            fprintf(stderr, "infersim report: %s\n", r.why);
        } else if (code == TOOL_EXIT_OK) {
            printf("%s\n", output);
        }
    }
    met_db_close(r.db);
    return code;
}
