/* cmd_report.c -- `infersim report`: one self-contained HTML page for a
 * run or a sweep: what ran (the run or sweep and its scenario), whether
 * its expectations held, its summary tables, and the standard figures
 * (cmd_plot.c) embedded as inline SVG. No script, stylesheet, font or image
 * is fetched: the page opens offline. Every string that comes from the
 * database is HTML-escaped. */
#include <errno.h>
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

static int table_row(void *context, size_t count, const met_value *values)
{
    report *r = context;
    fputs("<tr>", r->out);
    for (size_t i = 0; i < count; i++) {
        const char *text = values[i].text;
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

/* A titled table of the rows of 'sql' (?1 = the report's id). Returns 0
 * or TOOL_EXIT_INTERNAL. An empty result writes 'empty' instead. */
static int report_table(report *r, const char *title, const char *const *headers,
                        const char *sql, const char *empty)
{
    const char *params[1] = {r->id};
    fputs("<h2>", r->out);
    html_text(r->out, title);
    fputs("</h2>\n<table>\n<tr>", r->out);
    for (size_t i = 0; headers[i] != NULL; i++) {
        fputs("<th>", r->out);
        html_text(r->out, headers[i]);
        fputs("</th>", r->out);
    }
    fputs("</tr>\n", r->out);
    r->rows = 0;
    int rc = met_query(r->db, sql, params, 1, table_row, r);
    fputs("</table>\n", r->out);
    if (rc != 0) {
        snprintf(r->why, sizeof(r->why), "%s", met_db_errmsg(r->db));
        return TOOL_EXIT_INTERNAL;
    }
    if (r->rows == 0) {
        fputs("<p class=\"note\">", r->out);
        html_text(r->out, empty);
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
    "body{font-family:sans-serif;margin:2em auto;max-width:1000px;color:#222}\n"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}\n"
    "td,th{border:1px solid #bbb;padding:0.2em 0.6em;text-align:left;font-size:0.9em}\n"
    "th{background:#eee}td.pass{background:#d8f5d8}td.fail{background:#f8d0d0}\n"
    ".note{color:#666;font-style:italic}figure{margin:1em 0}svg{max-width:100%;height:auto}\n"
    "figcaption{color:#444;font-size:0.9em}\n"
    "</style>\n";

static void report_begin(report *r, const char *title)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", r->out);
    html_text(r->out, title);
    fprintf(r->out, "</title>\n%s</head>\n<body>\n<h1>", report_style);
    html_text(r->out, title);
    fputs("</h1>\n", r->out);
}

/* One table of the report: its title, column headers, the query (?1 is
 * the run or sweep id) and the line shown when it has no rows. */
typedef struct report_section {
    const char *title;
    const char *const *headers;
    const char *sql;
    const char *empty;
} report_section;

static int report_sections(report *r, const report_section *sections, size_t count)
{
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        rc = report_table(r, sections[i].title, sections[i].headers, sections[i].sql,
                          sections[i].empty);
    }
    return rc;
}

/* ---- a run ------------------------------------------------------------------- */

static int report_run_tables(report *r)
{
    static const char *const run_headers[] = {"run", "name", "seed", "status", "check",
                                              "events", "simulated s", "wall ms", "trace hash",
                                              "scenario sha256", "git", "sweep", "point",
                                              "error", NULL};
    static const char *const expect_headers[] = {"metric", "operator", "expected", "actual",
                                                 "outcome", NULL};
    static const char *const metric_headers[] = {"metric", "value", NULL};
    static const char *const node_headers[] = {"behaviour", "nodes", "mean reputation",
                                               "mean stake", "crashes", NULL};
    static const char *const violation_headers[] = {"kind", "count", "first at (s)", NULL};
    static const char *const param_headers[] = {"key", "value", NULL};
    const report_section sections[] = {
        {"Run", run_headers,
         "SELECT run_id, name, seed, status, check_status, events,"
         " sim_ns / 1e9, wall_ms, trace_hash, scenario_sha256, git_rev,"
         " sweep_id, point, error FROM runs WHERE run_id = ?1",
         "no such run"},
        {"Expectations", expect_headers,
         "SELECT metric, op, expected, actual, CASE passed WHEN 1 THEN 'PASS'"
         " ELSE 'FAIL' END FROM expectations WHERE run_id = ?1 ORDER BY rowid",
         "The scenario has no expectations."},
        {"Metrics", metric_headers,
         "SELECT name, value FROM metrics WHERE run_id = ?1 ORDER BY name",
         "No metrics (the run did not finish)."},
        {"Violations", violation_headers,
         "SELECT kind, count(*), min(t_ns) / 1e9 FROM violations"
         " WHERE run_id = ?1 GROUP BY kind ORDER BY kind",
         "No violations recorded."},
        {"Nodes by behaviour", node_headers,
         "SELECT behaviour, count(*), avg(reputation), avg(stake), sum(crashes)"
         " FROM nodes WHERE run_id = ?1 GROUP BY behaviour ORDER BY behaviour",
         "No node rows."},
        {"Scenario (effective, flattened)", param_headers,
         "SELECT key, value FROM params WHERE run_id = ?1 ORDER BY key",
         "No parameters stored."},
    };
    return report_sections(r, sections, UTIL_ARRAY_COUNT(sections));
}

static int report_run(report *r)
{
    tool_figure timeline = {"timeline", r->id, NULL, NULL, NULL};
    tool_figure cdf = {"latency-cdf", r->id, NULL, NULL, NULL};
    tool_figure reputation = {"reputation", r->id, NULL, NULL, NULL};
    int rc = report_run_tables(r);
    if (rc == 0) {
        fputs("<h2>Figures</h2>\n", r->out);
        rc = report_figure(r, &timeline, "Delivery and latency over time; faults shaded.");
    }
    if (rc == 0) {
        rc = report_figure(r, &cdf, "Latency of completed requests, per protocol.");
    }
    if (rc == 0) {
        rc = report_figure(r, &reputation, "Mean reputation of honest and Byzantine nodes.");
    }
    return rc;
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

static int report_sweep_tables(report *r)
{
    static const char *const sweep_headers[] = {"sweep", "name", "grid", "seeds", "points",
                                                "base scenario sha256", "created", NULL};
    static const char *const status_headers[] = {"status", "runs", NULL};
    static const char *const failed_headers[] = {"run", "point", "seed", "status", "error",
                                                 NULL};
    static const char *const expect_headers[] = {"metric", "operator", "expected", "runs",
                                                 "passed", "outcome", NULL};
    static const char *const summary_headers[] = {"point", "metric", "n", "mean", "stddev",
                                                  "95% CI low", "95% CI high", NULL};
    const report_section sections[] = {
        {"Sweep", sweep_headers,
         "SELECT sweep_id, name, spec, seeds, points, scenario_sha256,"
         " created_at FROM sweeps WHERE sweep_id = ?1", "no such sweep"},
        {"Runs", status_headers,
         "SELECT status, count(*) FROM runs WHERE sweep_id = ?1"
         " GROUP BY status ORDER BY status", "No runs yet."},
        {"Runs that did not complete", failed_headers,
         "SELECT run_id, point, seed, status, error FROM runs"
         " WHERE sweep_id = ?1 AND status != 'completed' ORDER BY run_id",
         "Every run completed."},
        {"Expectations over the runs", expect_headers,
         "SELECT e.metric, e.op, e.expected, count(*), sum(e.passed),"
         " CASE WHEN sum(e.passed) = count(*) THEN 'PASS' ELSE 'FAIL' END"
         " FROM expectations e JOIN runs r ON r.run_id = e.run_id"
         " WHERE r.sweep_id = ?1 GROUP BY e.metric, e.op, e.expected"
         " ORDER BY e.metric", "The scenario has no expectations."},
        {"Outcomes per grid point (mean over seeds, Student t 95% CI)",
         summary_headers,
         "SELECT point, metric, n, mean, stddev, ci95_low, ci95_high"
         " FROM sweep_summary WHERE sweep_id = ?1 AND metric IN"
         " ('accepted_wrong', 'accepted_wrong_ratio', 'honest_penalised',"
         " 'completed_ratio', 'request_latency_p99', 'delivery_ratio',"
         " 'latency_p99') ORDER BY metric, point", "No completed runs yet."},
    };
    return report_sections(r, sections, UTIL_ARRAY_COUNT(sections));
}

static int report_sweep(report *r)
{
    static const char *const param_headers[] = {"key", "value", NULL};
    metric_list metrics = {.count = 0};
    const char *params[1] = {r->id};
    int rc = report_sweep_tables(r);
    if (rc == 0 && met_query(r->db,
                             "SELECT metric FROM sweep_summary WHERE sweep_id = ?1 AND metric IN"
                             " ('accepted_wrong', 'honest_penalised', 'completed_ratio',"
                             " 'delivery_ratio') GROUP BY metric ORDER BY metric",
                             params, 1, metric_pick, &metrics) != 0) {
        snprintf(r->why, sizeof(r->why), "%s", met_db_errmsg(r->db));
        rc = TOOL_EXIT_INTERNAL;
    }
    if (rc == 0) {
        fputs("<h2>Figures</h2>\n", r->out);
    }
    for (size_t i = 0; i < metrics.count && rc == 0; i++) {
        tool_figure outcome = {"outcome", NULL, r->id, metrics.names[i], NULL};
        rc = report_figure(r, &outcome, "Mean over seeds with its 95% confidence band, "
                                        "against the first grid key.");
    }
    tool_figure cdf = {"latency-cdf", NULL, r->id, NULL, NULL};
    if (rc == 0) {
        rc = report_figure(r, &cdf, "Latency of completed requests of the sweep, per protocol.");
    }
    if (rc == 0) {
        rc = report_table(r, "Scenario of the first run (effective, flattened)", param_headers,
         "SELECT key, value FROM params WHERE run_id = (SELECT min(run_id)"
         " FROM runs WHERE sweep_id = ?1 AND status = 'completed')"
         " ORDER BY key", "No completed run.");
    }
    return rc;
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
