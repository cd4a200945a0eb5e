/* cmd_plot.c -- `infersim plot`: the standard figures, drawn by gnuplot.
 * Each figure reads its rows with met_query, writes them to a data file in
 * a private temporary folder (gnuplot "index" blocks, one per line of the
 * figure), writes a gnuplot script next to it and runs `gnuplot SCRIPT`.
 * Text from the database reaches the script only inside gnuplot strings,
 * escaped. The figures:
 *   latency-cdf  CDF of request latency, one line per verification protocol
 *   outcome      a metric's mean and 95 % interval against a swept key, one
 *                line per combination of the other grid keys
 *   reputation   mean reputation of honest and Byzantine nodes over time
 *   timeline     delivery and latency over time, fault intervals shaded */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/tool.h"

#define PLOT_SERIES_MAX 64
#define PLOT_LABEL_MAX 256

static const char plot_usage[] =
    "usage: infersim plot [--db F] --kind K [--run ID | --sweep ID] [--metric M] [--x KEY]\n"
    "                     -o OUT.svg|OUT.png\n"
    "\n"
    "Draws a standard figure of the results database F (default results.db)\n"
    "with gnuplot. Kinds:\n"
    "  latency-cdf  CDF of request latency (ms), one line per verification.protocol;\n"
    "               one run, one sweep, or every completed run\n"
    "  outcome      --sweep ID: metric M (default accepted_wrong, completed_ratio or\n"
    "               delivery_ratio) against grid key KEY (default the first), mean\n"
    "               and 95 % confidence band over seeds, one line per other grid value\n"
    "  reputation   --run ID: mean reputation of honest and Byzantine nodes over time\n"
    "  timeline     --run ID: delivery and latency over time, fault intervals shaded\n"
    "  privacy      --sweep ID: prompt_reconstruction_rate,\n"
    "               generation_reconstruction_rate and argmax_agree_mean against\n"
    "               grid key KEY (default privacy.sigma), 95 % bands; the epsilon\n"
    "               each point spent on the top axis\n"
    "\n"
    "Exit codes: 0 drawn, 2 bad usage or nothing to draw, 3 gnuplot missing or\n"
    "failed (install it with 'make deps' or apt-get install gnuplot-nox).\n";

/* ---- gnuplot ---------------------------------------------------------------- */

bool tool_gnuplot_present(void)
{
    const char *path = getenv("PATH");
    char candidate[PATH_MAX];
    while (path != NULL && *path != '\0') {
        size_t length = strcspn(path, ":");
        snprintf(candidate, sizeof(candidate), "%.*s/gnuplot", (int)length,
                 length > 0 ? path : ".");
        if (access(candidate, X_OK) == 0) {
            return true;
        }
        path += length + (path[length] == ':' ? 1 : 0);
    }
    return false;
}

/* A figure being built: its folder, data file and script. */
typedef struct plot {
    met_db *db;
    const tool_figure *figure;
    char dir[64];
    char data_path[128];
    char script_path[128];
    FILE *data;
    FILE *script;
    size_t blocks;                     /* index blocks written to data */
    char titles[PLOT_SERIES_MAX][PLOT_LABEL_MAX];
    char title[512];                   /* the figure's, for the SVG <title> too */
    char *why;
    size_t why_size;
} plot;

static int plot_fail(plot *p, int code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int plot_fail(plot *p, int code, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(p->why, p->why_size, format, args);
    va_end(args);
    return code;
}

/* Writes 'text' as a double-quoted gnuplot string. */
static void plot_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\') {
            fputc('\\', out);
        }
        fputc((unsigned char)*c < 0x20 ? ' ' : *c, out);
    }
    fputc('"', out);
}

/* Starts a new index block titled 'title' in the data file. */
static int plot_block(plot *p, const char *title)
{
    if (p->blocks == PLOT_SERIES_MAX) {
        return plot_fail(p, TOOL_EXIT_USAGE, "more than %d lines in one figure",
                         PLOT_SERIES_MAX);
    }
    if (p->blocks > 0) {
        fputs("\n\n", p->data);
    }
    snprintf(p->titles[p->blocks++], PLOT_LABEL_MAX, "%s", title);
    return 0;
}

static bool plot_is_png(const char *output)
{
    size_t length = strlen(output);
    return length > 4 && strcmp(output + length - 4, ".png") == 0;
}

/* Line i's look: a colour, a dash pattern and (for 'with linespoints')
 * a marker of its own, so overlapping lines stay apart in print and for
 * colour-blind readers. */
static void plot_style(FILE *script, size_t i, bool markers)
{
    static const int marker[] = {7, 5, 9, 11, 13, 4, 6, 8};
    fprintf(script, " lc %zu dt %zu", i + 1, i % 5 + 1);
    if (markers) {
        fprintf(script, " pt %d", marker[i % 8]);
    }
}

/* A key or metric name in words: its last dotted part, '_' as spaces
 * ("faults.0.nodes.fraction" -> "fraction", "accepted_wrong" -> "accepted
 * wrong"). */
static void plot_words(const char *name, char *out, size_t size)
{
    const char *last = strrchr(name, '.');
    snprintf(out, size, "%s", last != NULL && last[1] != '\0' ? last + 1 : name);
    for (char *c = out; *c != '\0'; c++) {
        *c = *c == '_' ? ' ' : *c;
    }
}

/* A grid point's text with each key's last dotted part only
 * ("faults.0.nodes.fraction=0.1 verification.quorum=3" -> "fraction=0.1
 * quorum=3"): the legend's label of its line. */
static void plot_point_words(const char *point, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    while (*point != '\0' && used + 1 < size) {
        size_t length = strcspn(point, " ");
        size_t key = strcspn(point, "=");
        key = key < length ? key : length;
        size_t start = 0;
        for (size_t i = 0; i < key; i++) {
            start = point[i] == '.' ? i + 1 : start;
        }
        used += (size_t)snprintf(out + used, size - used, "%s%.*s", used ? " " : "",
                                 (int)(length - start), point + start);
        used = used < size ? used : size - 1;
        point += length + (point[length] == ' ' ? 1 : 0);
    }
}

/* The terminal and common settings. 'title' may hold a second line (the
 * subtitle) after a newline. */
static void plot_header(plot *p, const char *output, const char *title)
{
    FILE *s = p->script;
    snprintf(p->title, sizeof(p->title), "%s", title);
    if (plot_is_png(output)) {
        fputs("set terminal pngcairo size 1000,620 noenhanced font 'sans,11'\n", s);
    } else {
        fputs("set terminal svg size 800,500 noenhanced font 'sans,12' background 'white'\n", s);
    }
    fputs("set output ", s);
    plot_string(s, output);
    fputs("\nset title ", s);
    /* plot_string blanks control characters: the subtitle's newline is
     * written as gnuplot's own escape. */
    fputc('"', s);
    for (const char *c = title; *c != '\0'; c++) {
        if (*c == '\n') {
            fputs("\\n", s);
        } else {
            if (*c == '"' || *c == '\\') {
                fputc('\\', s);
            }
            fputc((unsigned char)*c < 0x20 ? ' ' : *c, s);
        }
    }
    fputc('"', s);
    fputs("\nset grid\nset key outside right top box width 2\nset datafile missing 'nan'\n"
          "set style fill transparent solid 0.2 noborder\n", s);
}

/* Runs gnuplot on the script; 0 or TOOL_EXIT_INTERNAL with why set. */
static int plot_run(plot *p)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        return plot_fail(p, TOOL_EXIT_INTERNAL, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", p->script_path, (char *)NULL);
        fprintf(stderr, "cannot run gnuplot: %s\n", strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return plot_fail(p, TOOL_EXIT_INTERNAL, "gnuplot failed (status %d) on %s",
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1, p->script_path);
    }
    return 0;
}

/* gnuplot titles every SVG "Gnuplot": the figure's own title (its first
 * line, escaped) replaces it, so a browser tab or a screen reader names
 * the figure. 0, or TOOL_EXIT_INTERNAL when the file cannot be rewritten. */
static int plot_svg_title(plot *p, const char *output)
{
    static const char generic[] = "<title>Gnuplot</title>";
    if (plot_is_png(output)) {
        return 0;
    }
    size_t size = 0;
    char *text = tool_read_file(output, &size);
    if (text == NULL) {
        return plot_fail(p, TOOL_EXIT_INTERNAL, "cannot read %s", output);
    }
    char *at = strstr(text, generic);
    FILE *out = at != NULL ? fopen(output, "w") : NULL;
    if (out != NULL) {
        fwrite(text, 1, (size_t)(at - text), out);
        fputs("<title>", out);
        for (const char *c = p->title; *c != '\0' && *c != '\n'; c++) {
            switch (*c) {
            case '&': fputs("&amp;", out); break;
            case '<': fputs("&lt;", out); break;
            case '>': fputs("&gt;", out); break;
            default: fputc(*c, out); break;
            }
        }
        fputs("</title>", out);
        const char *rest = at + strlen(generic);
        fwrite(rest, 1, size - (size_t)(rest - text), out);
    }
    bool failed = at != NULL && (out == NULL || ferror(out) != 0);
    failed = (out != NULL && fclose(out) != 0) || failed;
    free(text);
    return failed ? plot_fail(p, TOOL_EXIT_INTERNAL, "cannot rewrite %s", output) : 0;
}

/* ---- selection ------------------------------------------------------------- */

/* The WHERE part selecting runs r by --run / --sweep (param ?1). */
static const char *plot_where(const tool_figure *f)
{
    if (f->run_id != NULL) {
        return " r.run_id = ?1 ";
    }
    if (f->sweep_id != NULL) {
        return " r.sweep_id = ?1 AND r.status = 'completed' ";
    }
    return " r.status = 'completed' ";
}

static const char *plot_param(const tool_figure *f)
{
    return f->run_id != NULL ? f->run_id : f->sweep_id;
}

/* Runs 'sql' (with %s for the selection) with the selection bound. */
static int plot_query(plot *p, const char *sql_format, met_row_fn row, void *context)
{
    char sql[2048];
    snprintf(sql, sizeof(sql), sql_format, plot_where(p->figure));
    const char *params[1] = {plot_param(p->figure)};
    int rc = met_query(p->db, sql, params, params[0] != NULL ? 1 : 0, row, context);
    if (rc < 0) {
        return plot_fail(p, TOOL_EXIT_INTERNAL, "%s", met_db_errmsg(p->db));
    }
    return rc;
}

/* ---- latency CDF ----------------------------------------------------------- */

typedef struct cdf_state {
    plot *plot;
    double *values;
    size_t count;
    size_t capacity;
    char label[PLOT_LABEL_MAX];
    size_t rows[PLOT_SERIES_MAX];      /* per line, for its marker spacing */
    double low, high;                  /* the smallest and largest latency, ms */
    bool seen;                         /* low and high hold a value */
} cdf_state;

static void cdf_flush(cdf_state *c)
{
    for (size_t i = 0; i < c->count; i++) {
        fprintf(c->plot->data, "%.9g %.9g\n", c->values[i], (double)(i + 1) / (double)c->count);
    }
    if (c->plot->blocks > 0) {
        c->rows[c->plot->blocks - 1] = c->count;
    }
    c->count = 0;
}

/* Rows (line label, latency in ms), ordered by label then latency. */
static int cdf_row(void *context, size_t count, const met_value *values)
{
    cdf_state *c = context;
    (void)count;
    const char *label = values[0].text != NULL ? values[0].text : "none";
    if (c->plot->blocks == 0 || strcmp(label, c->label) != 0) {
        cdf_flush(c);
        snprintf(c->label, sizeof(c->label), "%s", label);
        char words[PLOT_LABEL_MAX];
        plot_point_words(label, words, sizeof(words));
        int rc = plot_block(c->plot, words);
        if (rc != 0) {
            return rc;
        }
    }
    if (c->count == c->capacity) {
        size_t capacity = c->capacity == 0 ? 1024 : c->capacity * 2;
        double *grown = realloc(c->values, capacity * sizeof(*grown));
        if (grown == NULL) {
            return plot_fail(c->plot, TOOL_EXIT_INTERNAL, "out of memory");
        }
        c->values = grown;
        c->capacity = capacity;
    }
    double ms = values[1].number;
    c->low = c->seen ? fmin(c->low, ms) : ms;
    c->high = c->seen ? fmax(c->high, ms) : ms;
    c->seen = true;
    c->values[c->count++] = ms;
    return 0;
}

/* The lines of a run or of every completed run: one per protocol. */
/* A run's lines are its protocol; the two runs of one `infersim
 * calibrate` (params calibrate.pair links them) are drawn together, one
 * line per driver, whichever of the two the figure names. */
static const char cdf_run_sql[] =
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM params c WHERE c.run_id = q.run_id"
    " AND c.key = 'calibrate.pair') THEN CASE r.mode WHEN 'testbed' THEN 'testbed'"
    " ELSE 'simulator' END || ' (run ' || r.run_id || ')'"
    " ELSE 'protocol ' || coalesce((SELECT value FROM params pa WHERE pa.run_id = q.run_id"
    " AND pa.key = 'verification.protocol'), 'none') END AS line,"
    " (q.finished_ns - q.submitted_ns) / 1e6 AS latency_ms"
    " FROM requests q JOIN runs r ON r.run_id = q.run_id"
    " WHERE (%s OR r.run_id IN (SELECT CAST(c.value AS INTEGER) FROM params c"
    " WHERE c.run_id = ?1 AND c.key = 'calibrate.pair'))"
    " AND q.status = 'completed' AND q.finished_ns IS NOT NULL"
    " ORDER BY line, latency_ms";

/* Whether the lines are the two drivers of a calibrate pair. */
static bool cdf_is_calibration(const plot *p)
{
    return p->blocks > 0 && (strncmp(p->titles[0], "simulator (", 11) == 0 ||
                             strncmp(p->titles[0], "testbed (", 9) == 0);
}

/* A run's lines are its protocol (or, for a calibrate pair, its driver); a
 * sweep's are its grid points (the protocol when the sweep has no grid);
 * every completed run's otherwise. */
static int plot_latency_cdf(plot *p, const char *output)
{
    static const char sql[] =
        "SELECT CASE WHEN r.point != '' THEN r.point ELSE 'protocol ' || coalesce((SELECT value"
        " FROM params pa WHERE pa.run_id = q.run_id AND pa.key = 'verification.protocol'),"
        " 'none') END AS line, (q.finished_ns - q.submitted_ns) / 1e6 AS latency_ms"
        " FROM requests q JOIN runs r ON r.run_id = q.run_id"
        " WHERE %s AND q.status = 'completed' AND q.finished_ns IS NOT NULL"
        " ORDER BY line, latency_ms";
    cdf_state c = {.plot = p};
    int rc = plot_query(p, p->figure->sweep_id != NULL ? sql : cdf_run_sql, cdf_row, &c);
    cdf_flush(&c);
    free(c.values);
    if (rc != 0) {
        return rc;
    }
    if (p->blocks == 0) {
        return plot_fail(p, TOOL_EXIT_USAGE, "no completed inference requests in the selection");
    }
    /* Latencies that span decades (a fast protocol beside a slow one) get
     * a log axis, so the fast ones are not squeezed against zero. */
    bool log_axis = c.low > 0 && c.high / c.low >= 20.0;
    char title[256];
    snprintf(title, sizeof(title), "Latency of completed requests (CDF)\n%s %s: one line per %s",
             p->figure->sweep_id != NULL ? "sweep" : p->figure->run_id != NULL ? "run" : "all",
             p->figure->sweep_id != NULL   ? p->figure->sweep_id
             : p->figure->run_id != NULL ? p->figure->run_id
                                         : "completed runs",
             p->figure->sweep_id != NULL ? "grid point"
             : cdf_is_calibration(p)     ? "driver (calibrate: simulator, emulated testbed)"
                                         : "protocol");
    plot_header(p, output, title);
    fprintf(p->script, "set xlabel 'request latency, submission to last token (ms%s)'\n"
                       "set ylabel 'fraction of completed requests'\nset yrange [0:1]\n%s"
                       "set key %s box opaque\nplot ",
            log_axis ? ", log scale" : "", log_axis ? "set logscale x\n" : "",
            p->blocks > 6 ? "outside right top font ',9'" : "inside bottom right");
    for (size_t i = 0; i < p->blocks; i++) {
        size_t every = c.rows[i] / 6 > 0 ? c.rows[i] / 6 : 1;
        fprintf(p->script, "%s'%s' index %zu using 1:2 with linespoints lw 2 pi %zu",
                i ? ", " : "", p->data_path, i, every);
        plot_style(p->script, i, true);
        fputs(" title ", p->script);
        plot_string(p->script, p->titles[i]);
    }
    fputc('\n', p->script);
    return 0;
}

/* ---- outcome against a swept key ---------------------------------------- */

typedef struct outcome_point {
    char label[PLOT_LABEL_MAX];
    char x[SCN_SWEEP_TEXT_MAX];
    double mean;
    double low;
    double high;
    size_t order;
} outcome_point;

typedef struct outcome_state {
    plot *plot;
    const char *x_key;
    outcome_point *points;
    size_t count;
    size_t capacity;
} outcome_state;

/* The point text without the "x_key=value" item: the line's label. */
static void outcome_label(const char *point, const char *x_key, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    const char *item = point;
    size_t key_length = strlen(x_key);
    while (*item != '\0') {
        size_t length = strcspn(item, " ");
        bool is_x = length > key_length && strncmp(item, x_key, key_length) == 0 &&
                    item[key_length] == '=';
        if (!is_x && used + length + 2 < size) {
            used += (size_t)snprintf(out + used, size - used, "%s%.*s", used ? " " : "",
                                     (int)length, item);
        }
        item += length + (item[length] == ' ' ? 1 : 0);
    }
}

static int outcome_row(void *context, size_t count, const met_value *values)
{
    outcome_state *o = context;
    (void)count;
    if (values[1].text == NULL || values[2].is_null) {
        return 0;    /* a point without this key or this metric */
    }
    if (o->count == o->capacity) {
        size_t capacity = o->capacity == 0 ? 64 : o->capacity * 2;
        outcome_point *grown = realloc(o->points, capacity * sizeof(*grown));
        if (grown == NULL) {
            return plot_fail(o->plot, TOOL_EXIT_INTERNAL, "out of memory");
        }
        o->points = grown;
        o->capacity = capacity;
    }
    outcome_point *pt = &o->points[o->count];
    outcome_label(values[0].text != NULL ? values[0].text : "", o->x_key, pt->label,
                  sizeof(pt->label));
    snprintf(pt->x, sizeof(pt->x), "%s", values[1].text);
    pt->mean = values[2].number;
    pt->low = values[3].is_null ? pt->mean : values[3].number;
    pt->high = values[4].is_null ? pt->mean : values[4].number;
    pt->order = o->count++;
    return 0;
}

static bool outcome_numeric(const char *text, double *value)
{
    char *end = NULL;
    *value = strtod(text, &end);
    return end != text && *end == '\0' && isfinite(*value);
}

static bool outcome_all_numeric(const outcome_state *o)
{
    double value;
    for (size_t i = 0; i < o->count; i++) {
        if (!outcome_numeric(o->points[i].x, &value)) {
            return false;
        }
    }
    return true;
}

static bool outcome_numeric_sort;

static int outcome_compare(const void *a_void, const void *b_void)
{
    const outcome_point *a = a_void, *b = b_void;
    int by_label = strcmp(a->label, b->label);
    if (by_label != 0) {
        return by_label;
    }
    double xa = 0, xb = 0;
    if (outcome_numeric_sort && outcome_numeric(a->x, &xa) && outcome_numeric(b->x, &xb) &&
        xa != xb) {
        return xa < xb ? -1 : 1;
    }
    return a->order < b->order ? -1 : a->order > b->order ? 1 : 0;    /* grid order */
}

/* Category index of x among the distinct x values, in grid order; with
 * 'define', writes the ticks instead: a label at each category, or at
 * each value itself when the values are 'numeric'. */
static size_t outcome_category(const outcome_state *o, const char *x, bool define, bool numeric,
                               FILE *script)
{
    size_t index = 0;
    for (size_t i = 0; i < o->count; i++) {
        bool first = true;
        for (size_t j = 0; j < i && first; j++) {
            first = strcmp(o->points[j].x, o->points[i].x) != 0;
        }
        if (!first) {
            continue;
        }
        if (define) {
            fprintf(script, "%s", index ? ", " : "set xtics (");
            plot_string(script, o->points[i].x);
            double value = 0;
            if (numeric && outcome_numeric(o->points[i].x, &value)) {
                fprintf(script, " %.12g", value);    /* never the stored text itself */
            } else {
                fprintf(script, " %zu", index);
            }
        } else if (strcmp(o->points[i].x, x) == 0) {
            return index;
        }
        index += 1;
    }
    if (define) {
        fputs(")\n", script);
    }
    return index;
}

/* A metric's axis label in words with its unit (SCN_METRICS's; ns shown
 * as ms), the scale from stored to shown values, and the range the metric
 * lives in: a ratio's interval is clipped to [0, 1], every other metric's
 * at 0 (they are counts, durations, sizes or amounts, never negative). */
static void outcome_axis(const char *metric, char *out, size_t size, double *scale,
                         double *floor_out, double *ceiling_out)
{
    int m = scn_metric_find(metric);
    const char *unit = m >= 0 ? scn_metrics[m].unit : NULL;
    *scale = 1.0;
    *floor_out = m >= 0 ? 0.0 : -INFINITY;
    *ceiling_out = unit != NULL && strcmp(unit, "ratio") == 0 ? 1.0 : INFINITY;
    char words[128];
    plot_words(metric, words, sizeof(words));
    if (unit != NULL && strcmp(unit, "ns") == 0) {
        *scale = 1e-6;
        unit = "ms";
    }
    snprintf(out, size, "%s (%s), mean over seeds, 95%% interval", words,
             unit == NULL ? "as stored" : strcmp(unit, "ratio") == 0 ? "fraction, 0..1" : unit);
}

typedef struct text_pick {
    char text[SCN_SWEEP_KEY_MAX];
} text_pick;

static int pick_first(void *context, size_t count, const met_value *values)
{
    text_pick *pick = context;
    (void)count;
    if (values[0].text != NULL && pick->text[0] == '\0') {
        snprintf(pick->text, sizeof(pick->text), "%s", values[0].text);
    }
    return 0;
}

/* Default metric and x key of an outcome figure. */
static int outcome_defaults(plot *p, text_pick *metric, text_pick *x_key)
{
    const tool_figure *f = p->figure;
    const char *params[1] = {f->sweep_id};
    int rc = 0;
    if (f->metric != NULL) {
        snprintf(metric->text, sizeof(metric->text), "%s", f->metric);
    } else {
        rc = met_query(p->db,
                       "SELECT metric FROM sweep_summary WHERE sweep_id = ?1 AND metric IN"
                       " ('accepted_wrong', 'completed_ratio', 'delivery_ratio') GROUP BY"
                       " metric ORDER BY CASE metric WHEN 'accepted_wrong' THEN 0"
                       " WHEN 'completed_ratio' THEN 1 ELSE 2 END",
                       params, 1, pick_first, metric);
    }
    if (rc == 0 && f->x_key != NULL) {
        snprintf(x_key->text, sizeof(x_key->text), "%s", f->x_key);
    } else if (rc == 0) {
        /* The first key of the first run's point: the grid's first key. */
        rc = met_query(p->db,
                       "SELECT substr(point, 1, instr(point, '=') - 1) FROM runs"
                       " WHERE sweep_id = ?1 AND instr(point, '=') > 0 ORDER BY run_id LIMIT 1",
                       params, 1, pick_first, x_key);
    }
    if (rc != 0) {
        return plot_fail(p, TOOL_EXIT_INTERNAL, "%s", met_db_errmsg(p->db));
    }
    if (metric->text[0] == '\0' || x_key->text[0] == '\0') {
        return plot_fail(p, TOOL_EXIT_USAGE, "sweep %s has no completed runs with grid keys"
                         " and a default metric (give --metric and --x)", f->sweep_id);
    }
    return 0;
}

static void outcome_write(plot *p, outcome_state *o, bool numeric, double scale, double floor,
                          double ceiling)
{
    const char *label = NULL;
    for (size_t i = 0; i < o->count; i++) {
        const outcome_point *pt = &o->points[i];
        if (label == NULL || strcmp(label, pt->label) != 0) {
            char words[PLOT_LABEL_MAX];
            plot_point_words(pt->label, words, sizeof(words));
            plot_block(p, words[0] != '\0' ? words : "all runs");
            label = pt->label;
        }
        double x = 0;
        if (!numeric) {
            x = (double)outcome_category(o, pt->x, false, false, NULL);
        } else {
            outcome_numeric(pt->x, &x);
        }
        double low = fmin(fmax(pt->low, floor), ceiling);
        double high = fmin(fmax(pt->high, floor), ceiling);
        fprintf(p->data, "%.12g %.12g %.12g %.12g\n", x, pt->mean * scale, low * scale,
                high * scale);
    }
}

/* A sweep's means of metric ?3 with their intervals, per grid point in
 * grid order, with the point's value of key ?2 (sweep ?1). */
static const char outcome_sql[] =
    "SELECT s.point, (SELECT v.value FROM sweep_values v JOIN runs r ON r.run_id = v.run_id"
    " WHERE r.sweep_id = s.sweep_id AND r.point = s.point AND v.key = ?2 LIMIT 1),"
    " s.mean, s.ci95_low, s.ci95_high FROM sweep_summary s"
    " WHERE s.sweep_id = ?1 AND s.metric = ?3 ORDER BY (SELECT min(run_id) FROM runs"
    " WHERE sweep_id = s.sweep_id AND point = s.point)";

static int plot_outcome(plot *p, const char *output)
{
    if (p->figure->sweep_id == NULL) {
        return plot_fail(p, TOOL_EXIT_USAGE, "an outcome figure needs --sweep ID");
    }
    text_pick metric = {""}, x_key = {""};
    int rc = outcome_defaults(p, &metric, &x_key);
    outcome_state o = {.plot = p, .x_key = x_key.text};
    const char *params[3] = {p->figure->sweep_id, x_key.text, metric.text};
    if (rc == 0) {
        rc = met_query(p->db, outcome_sql, params, 3, outcome_row, &o);
        rc = rc < 0 ? plot_fail(p, TOOL_EXIT_INTERNAL, "%s", met_db_errmsg(p->db)) : rc;
    }
    if (rc == 0 && o.count == 0) {
        rc = plot_fail(p, TOOL_EXIT_USAGE, "sweep %s has no completed runs with metric '%s'"
                       " and grid key '%s'", p->figure->sweep_id, metric.text, x_key.text);
    }
    if (rc == 0) {
        bool numeric = outcome_all_numeric(&o);
        outcome_numeric_sort = numeric;
        qsort(o.points, o.count, sizeof(*o.points), outcome_compare);
        char ylabel[256], title[512], metric_words[128], key_words[128];
        double scale, floor, ceiling;
        outcome_axis(metric.text, ylabel, sizeof(ylabel), &scale, &floor, &ceiling);
        outcome_write(p, &o, numeric, scale, floor, ceiling);
        plot_words(metric.text, metric_words, sizeof(metric_words));
        plot_words(x_key.text, key_words, sizeof(key_words));
        snprintf(title, sizeof(title), "%s by %s\nsweep %s, swept key %s", metric_words,
                 key_words, p->figure->sweep_id, x_key.text);
        plot_header(p, output, title);
        fputs("set xlabel ", p->script);
        plot_string(p->script, key_words);
        fputs("\nset ylabel ", p->script);
        plot_string(p->script, ylabel);
        fputc('\n', p->script);
        /* Ticks at the grid's own values: an integer key gets no 2.5. */
        outcome_category(&o, "", true, numeric, p->script);
        fputs(numeric ? "set offsets graph 0.05, graph 0.05, 0, 0\n"
                      : "set offsets 0.3, 0.3, 0, 0\n",
              p->script);
        fputs("plot ", p->script);
        for (size_t i = 0; i < p->blocks; i++) {
            fprintf(p->script, "%s'%s' index %zu using 1:3:4 with filledcurves lc %zu notitle,"
                    " '' index %zu using 1:2 with linespoints lw 2",
                    i ? ", " : "", p->data_path, i, i + 1, i);
            plot_style(p->script, i, true);
            fputs(" title ", p->script);
            plot_string(p->script, p->titles[i]);
        }
        fputc('\n', p->script);
    }
    free(o.points);
    return rc;
}

/* ---- the privacy-utility frontier ------------------------------------------- */

/* One metric's points (mean and 95 % band over seeds) against the numeric
 * grid key x_key, one block per metric and value of the other keys. */
static int privacy_metric_blocks(plot *p, const char *x_key, const char *metric)
{
    outcome_state o = {.plot = p, .x_key = x_key};
    const char *params[3] = {p->figure->sweep_id, x_key, metric};
    int rc = met_query(p->db, outcome_sql, params, 3, outcome_row, &o);
    rc = rc < 0 ? plot_fail(p, TOOL_EXIT_INTERNAL, "%s", met_db_errmsg(p->db)) : rc;
    if (rc == 0 && !outcome_all_numeric(&o)) {
        rc = plot_fail(p, TOOL_EXIT_USAGE, "grid key '%s' of sweep %s is not numeric", x_key,
                       p->figure->sweep_id);
    }
    outcome_numeric_sort = true;
    if (rc == 0 && o.count > 0) {
        qsort(o.points, o.count, sizeof(*o.points), outcome_compare);
    }
    const char *label = NULL;
    for (size_t i = 0; rc == 0 && i < o.count; i++) {
        const outcome_point *pt = &o.points[i];
        if (label == NULL || strcmp(label, pt->label) != 0) {
            char title[PLOT_LABEL_MAX];
            snprintf(title, sizeof(title), "%s%s%.180s", metric, pt->label[0] ? " " : "",
                     pt->label);
            rc = plot_block(p, title);
            label = pt->label;
        }
        double x = 0;
        outcome_numeric(pt->x, &x);
        fprintf(p->data, "%.12g %.12g %.12g %.12g\n", x, pt->mean, pt->low, pt->high);
    }
    free(o.points);
    return rc;
}

/* The epsilon each grid point spent (privacy_epsilon_mean, mean over the
 * seeds) as tics of the top axis, at the points' x; written only when the
 * sweep draws one line (no other grid key), so one x has one epsilon. */
static int privacy_epsilon_axis(plot *p, const char *x_key)
{
    outcome_state o = {.plot = p, .x_key = x_key};
    const char *params[3] = {p->figure->sweep_id, x_key, "privacy_epsilon_mean"};
    int rc = met_query(p->db, outcome_sql, params, 3, outcome_row, &o);
    if (rc < 0) {
        free(o.points);
        return plot_fail(p, TOOL_EXIT_INTERNAL, "%s", met_db_errmsg(p->db));
    }
    bool one_line = o.count > 0 && outcome_all_numeric(&o);
    for (size_t i = 0; i < o.count; i++) {
        one_line &= o.points[i].label[0] == '\0';
    }
    if (one_line) {
        fputs("set x2tics (", p->script);
        for (size_t i = 0; i < o.count; i++) {
            double x = 0;
            outcome_numeric(o.points[i].x, &x);
            if (isinf(o.points[i].mean)) {
                fprintf(p->script, "%s'inf' %.12g", i ? ", " : "", x);
            } else {
                fprintf(p->script, "%s'%.3g' %.12g", i ? ", " : "", o.points[i].mean, x);
            }
        }
        fputs(")\nset x2label 'privacy_epsilon_mean (epsilon spent per request)'\n"
              "set link x2\nset xtics nomirror\n",
              p->script);
    }
    free(o.points);
    return 0;
}

/* --sweep ID: prompt_reconstruction_rate, generation_reconstruction_rate
 * and argmax_agree_mean against the noise (grid key --x, default
 * privacy.sigma) on one figure, with the epsilon each point spent on the
 * top axis. */
static int plot_privacy(plot *p, const char *output)
{
    static const char *const metrics[] = {"prompt_reconstruction_rate",
                                          "generation_reconstruction_rate", "argmax_agree_mean"};
    if (p->figure->sweep_id == NULL) {
        return plot_fail(p, TOOL_EXIT_USAGE, "a privacy figure needs --sweep ID");
    }
    const char *x_key = p->figure->x_key != NULL ? p->figure->x_key : "privacy.sigma";
    int rc = 0;
    for (size_t m = 0; rc == 0 && m < sizeof(metrics) / sizeof(metrics[0]); m++) {
        rc = privacy_metric_blocks(p, x_key, metrics[m]);
    }
    if (rc == 0 && p->blocks == 0) {
        rc = plot_fail(p, TOOL_EXIT_USAGE, "sweep %s has no completed runs with grid key '%s'"
                       " and the privacy metrics", p->figure->sweep_id, x_key);
    }
    if (rc != 0) {
        return rc;
    }
    char title[256];
    snprintf(title, sizeof(title), "Privacy and utility against %s (sweep %s)", x_key,
             p->figure->sweep_id);
    plot_header(p, output, title);
    rc = privacy_epsilon_axis(p, x_key);
    if (rc != 0) {
        return rc;
    }
    fputs("set xlabel ", p->script);
    plot_string(p->script, x_key);
    fputs("\nset ylabel 'fraction, 0..1, mean over seeds with 95% CI'\nset yrange [0:1.05]\n"
          "plot ",
          p->script);
    for (size_t i = 0; i < p->blocks; i++) {
        fprintf(p->script, "%s'%s' index %zu using 1:3:4 with filledcurves lc %zu notitle,"
                " '' index %zu using 1:2 with linespoints lw 2 pt 7 lc %zu title ",
                i ? ", " : "", p->data_path, i, i + 1, i, i + 1);
        plot_string(p->script, p->titles[i]);
    }
    fputc('\n', p->script);
    return 0;
}

/* ---- time series: reputation and timeline ---------------------------------- */

typedef struct series_state {
    plot *plot;
    char name[PLOT_LABEL_MAX];
    size_t rows;
} series_state;

/* Rows (name, t_s, value): one block per name. */
static int series_row(void *context, size_t count, const met_value *values)
{
    series_state *s = context;
    (void)count;
    const char *name = values[0].text != NULL ? values[0].text : "";
    if (s->rows == 0 || strcmp(name, s->name) != 0) {
        snprintf(s->name, sizeof(s->name), "%s", name);
        int rc = plot_block(s->plot, name);
        if (rc != 0) {
            return rc;
        }
    }
    s->rows += 1;
    if (values[2].is_null) {
        fprintf(s->plot->data, "%.9g nan\n", values[1].number);
    } else {
        fprintf(s->plot->data, "%.9g %.9g\n", values[1].number, values[2].number);
    }
    return 0;
}

static int plot_reputation(plot *p, const char *output)
{
    static const char sql[] =
        "SELECT CASE t.name WHEN 'reputation_honest_mean' THEN 'honest nodes (mean)'"
        " ELSE 'Byzantine nodes (mean)' END, t.t_ns / 1e9, t.value FROM timeseries t"
        " JOIN runs r ON r.run_id = t.run_id WHERE %s AND t.name IN"
        " ('reputation_honest_mean', 'reputation_byzantine_mean') ORDER BY t.name DESC, t.t_ns";
    if (p->figure->run_id == NULL) {
        return plot_fail(p, TOOL_EXIT_USAGE, "a reputation figure needs --run ID");
    }
    series_state s = {.plot = p};
    int rc = plot_query(p, sql, series_row, &s);
    if (rc != 0) {
        return rc;
    }
    if (s.rows == 0) {
        return plot_fail(p, TOOL_EXIT_USAGE, "run %s has no reputation samples (no"
                         " verification, or output.sample_interval 0)", p->figure->run_id);
    }
    char title[128];
    snprintf(title, sizeof(title), "Reputation over time (run %s)", p->figure->run_id);
    plot_header(p, output, title);
    fputs("set xlabel 'simulated time (s)'\nset ylabel 'reputation (Nesa rule units)'\nplot ",
          p->script);
    for (size_t i = 0; i < p->blocks; i++) {
        fprintf(p->script, "%s'%s' index %zu using 1:2 with lines lw 2", i ? ", " : "",
                p->data_path, i);
        plot_style(p->script, i, false);
        fputs(" title ", p->script);
        plot_string(p->script, p->titles[i]);
    }
    fputc('\n', p->script);
    return 0;
}

/* Fault intervals as shaded rectangles: start to end (or the run's end). */
static int fault_row(void *context, size_t count, const met_value *values)
{
    plot *p = context;
    (void)count;
    fprintf(p->script, "set object rect from %.9g, graph 0 to %.9g, graph 1 behind"
            " fc rgb '#f4b0b0' fs transparent solid 0.35 noborder\n",
            values[1].number, values[2].number);
    fprintf(p->script, "set label ");
    plot_string(p->script, values[0].text != NULL ? values[0].text : "fault");
    fprintf(p->script, " at %.9g, graph 0.97 front font ',9'\n", values[1].number);
    return 0;
}

static int timeline_faults(plot *p)
{
    static const char sql[] =
        "SELECT f.kind, f.t_ns / 1e9, coalesce((SELECT min(e.t_ns) FROM faults e"
        " WHERE e.run_id = f.run_id AND e.fault_index = f.fault_index AND e.action = 'end'"
        " AND e.t_ns >= f.t_ns), r.sim_ns) / 1e9 FROM faults f JOIN runs r"
        " ON r.run_id = f.run_id WHERE %s AND f.action = 'start' ORDER BY f.t_ns";
    return plot_query(p, sql, fault_row, p);
}

static int plot_timeline(plot *p, const char *output)
{
    /* Gossip: delivery ratio and messages in flight; inference: requests
     * completed per second and the latency of each by its finish time. */
    static const char sql[] =
        "SELECT name, t_s, value FROM ("
        " SELECT 'a' AS panel, t.name AS name, t.t_ns / 1e9 AS t_s, t.value AS value"
        " FROM timeseries t JOIN runs r ON r.run_id = t.run_id WHERE %s"
        " AND t.name IN ('delivery_ratio', 'requests_completed')"
        " UNION ALL SELECT 'b', 'request latency (ms)', q.finished_ns / 1e9,"
        " (q.finished_ns - q.submitted_ns) / 1e6 FROM requests q JOIN runs r"
        " ON r.run_id = q.run_id WHERE %s AND q.status = 'completed'"
        " UNION ALL SELECT 'b', 'messages in flight', t.t_ns / 1e9, t.value FROM timeseries t"
        " JOIN runs r ON r.run_id = t.run_id WHERE %s AND t.name = 'in_flight'"
        " AND NOT EXISTS (SELECT 1 FROM requests q WHERE q.run_id = r.run_id))"
        " ORDER BY panel, name, t_s";
    if (p->figure->run_id == NULL) {
        return plot_fail(p, TOOL_EXIT_USAGE, "a timeline figure needs --run ID");
    }
    series_state s = {.plot = p};
    char query[2048];
    const char *where = plot_where(p->figure);
    snprintf(query, sizeof(query), sql, where, where, where);
    const char *params[1] = {p->figure->run_id};
    int rc = met_query(p->db, query, params, 1, series_row, &s);
    rc = rc < 0 ? plot_fail(p, TOOL_EXIT_INTERNAL, "%s", met_db_errmsg(p->db)) : rc;
    if (rc == 0 && p->blocks < 2) {
        text_pick mode = {""};
        met_query(p->db, "SELECT mode FROM runs WHERE run_id = ?1", params, 1, pick_first,
                  &mode);
        rc = strcmp(mode.text, "testbed") == 0
                 ? plot_fail(p, TOOL_EXIT_USAGE, "run %s is a testbed run: its processes keep "
                             "no time series, so it has no timeline", p->figure->run_id)
                 : plot_fail(p, TOOL_EXIT_USAGE, "run %s has no delivery or latency samples",
                             p->figure->run_id);
    }
    if (rc != 0) {
        return rc;
    }
    char title[128];
    snprintf(title, sizeof(title), "Delivery and latency over time (run %s), faults shaded",
             p->figure->run_id);
    plot_header(p, output, title);
    fputs("set multiplot layout 2,1\nset xlabel 'simulated time (s)'\n"
          "set key inside top right opaque\nset lmargin 12\nset rmargin 4\n",
          p->script);
    if ((rc = timeline_faults(p)) != 0) {
        return rc;
    }
    /* One time axis for both panels: the run's simulated span. */
    text_pick end = {""};
    if (met_query(p->db, "SELECT sim_ns / 1e9 FROM runs WHERE run_id = ?1 AND sim_ns > 0",
                  params, 1, pick_first, &end) == 0 && end.text[0] != '\0') {
        fprintf(p->script, "set xrange [0:%.9g]\n", strtod(end.text, NULL));
    }
    bool gossip = strcmp(p->titles[0], "delivery_ratio") == 0;
    fprintf(p->script, "set ylabel %s\nplot '%s' index 0 using 1:2 with lines lw 2 title %s\n",
            gossip ? "'delivery ratio (0..1)'" : "'requests completed (count)'", p->data_path,
            gossip ? "'delivery ratio so far'" : "'requests completed so far'");
    bool latency = strcmp(p->titles[1], "request latency (ms)") == 0;
    fprintf(p->script, "unset title\nset ylabel %s\nplot '%s' index 1 using 1:2 with %s title ",
            latency ? "'request latency (ms)'" : "'messages in flight (count)'", p->data_path,
            latency ? "points pt 7 ps 0.5" : "lines lw 2");
    plot_string(p->script, p->titles[1]);
    fputs("\nunset multiplot\n", p->script);
    return 0;
}

/* ---- the figure and the command ---------------------------------------------- */

static int plot_open(plot *p)
{
    snprintf(p->dir, sizeof(p->dir), "/tmp/infersim-plot-XXXXXX");
    if (mkdtemp(p->dir) == NULL) {
        return plot_fail(p, TOOL_EXIT_INTERNAL, "mkdtemp: %s", strerror(errno));
    }
    snprintf(p->data_path, sizeof(p->data_path), "%s/data.txt", p->dir);
    snprintf(p->script_path, sizeof(p->script_path), "%s/plot.gp", p->dir);
    p->data = fopen(p->data_path, "w");
    p->script = fopen(p->script_path, "w");
    if (p->data == NULL || p->script == NULL) {
        return plot_fail(p, TOOL_EXIT_INTERNAL, "cannot write in %s", p->dir);
    }
    return 0;
}

static void plot_close(plot *p)
{
    if (p->data != NULL) {
        fclose(p->data);
    }
    if (p->script != NULL) {
        fclose(p->script);
    }
    unlink(p->data_path);
    unlink(p->script_path);
    rmdir(p->dir);
}

typedef struct plot_kind {
    const char *kind;
    int (*draw)(plot *p, const char *output);
} plot_kind;

static const plot_kind plot_kinds[] = {{"latency-cdf", plot_latency_cdf},
                                       {"outcome", plot_outcome},
                                       {"reputation", plot_reputation},
                                       {"timeline", plot_timeline},
                                       {"privacy", plot_privacy}};
#define PLOT_KIND_COUNT (sizeof(plot_kinds) / sizeof(plot_kinds[0]))

const char *tool_figure_kind_name(size_t index)
{
    return index < PLOT_KIND_COUNT ? plot_kinds[index].kind : NULL;
}

/* "unknown --kind 'K'; did you mean 'L'? (kinds: ...)" into p->why. */
static int plot_unknown_kind(plot *p, const char *kind)
{
    const char *names[PLOT_KIND_COUNT];
    char list[128] = "";
    for (size_t i = 0; i < PLOT_KIND_COUNT; i++) {
        names[i] = plot_kinds[i].kind;
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s", i == 0 ? "" : " ", names[i]);
    }
    const char *guess = tool_suggest(kind, names, PLOT_KIND_COUNT);
    return plot_fail(p, TOOL_EXIT_USAGE, "unknown --kind '%s'%s%s%s\nkinds: %s", kind,
                     guess != NULL ? "; did you mean '" : "", guess != NULL ? guess : "",
                     guess != NULL ? "'?" : "", list);
}

int tool_figure_draw(met_db *db, const tool_figure *figure, const char *output, char *why,
                     size_t why_size)
{
    plot p;
    memset(&p, 0, sizeof(p));
    p.db = db;
    p.figure = figure;
    p.why = why;
    p.why_size = why_size;
    size_t k = 0;
    while (k < PLOT_KIND_COUNT && strcmp(plot_kinds[k].kind, figure->kind) != 0) {
        k++;
    }
    if (k == PLOT_KIND_COUNT) {
        return plot_unknown_kind(&p, figure->kind);
    }
    if (!tool_gnuplot_present()) {
        return plot_fail(&p, TOOL_EXIT_INTERNAL, "gnuplot is not installed or not on PATH"
                         " (install it with 'make deps' or 'apt-get install gnuplot-nox')");
    }
    int rc = plot_open(&p);
    if (rc == 0) {
        rc = plot_kinds[k].draw(&p, output);
    }
    if (rc == 0) {
        bool failed = fflush(p.data) != 0 || fflush(p.script) != 0;
        rc = failed ? plot_fail(&p, TOOL_EXIT_INTERNAL, "cannot write in %s", p.dir)
                    : plot_run(&p);
    }
    if (rc == 0) {
        rc = plot_svg_title(&p, output);
    }
    plot_close(&p);
    return rc;
}

typedef struct plot_options {
    const char *db;
    const char *output;
    tool_figure figure;
} plot_options;

static int plot_option(void *context, const char *name, const char *value)
{
    plot_options *o = context;
    unsigned long long id;
    bool is_id = strcmp(name, "--run") == 0 || strcmp(name, "--sweep") == 0;
    if (is_id && (!tool_parse_u64(value, &id) || id == 0 || id > INT64_MAX)) {
        return tool_usage_error("plot", "%s needs a positive id, got '%s'", name, value);
    }
    const char **slot = strcmp(name, "--db") == 0       ? &o->db
                        : strcmp(name, "-o") == 0       ? &o->output
                        : strcmp(name, "--kind") == 0   ? &o->figure.kind
                        : strcmp(name, "--run") == 0    ? &o->figure.run_id
                        : strcmp(name, "--sweep") == 0  ? &o->figure.sweep_id
                        : strcmp(name, "--metric") == 0 ? &o->figure.metric
                                                        : &o->figure.x_key;
    *slot = value;
    return TOOL_EXIT_OK;
}

static int plot_parse(int argc, char **argv, plot_options *o)
{
    static const tool_option table[] = {
        {"--db", 0, true},    {"-o", 'o', true},     {"--kind", 0, true}, {"--run", 0, true},
        {"--sweep", 0, true}, {"--metric", 0, true}, {"--x", 0, true}};
    static const tool_command command = {"plot", plot_usage, table, 7, plot_option};
    int first = 0;
    int code = tool_options_parse(&command, argc, argv, o, &first);
    if (code == TOOL_EXIT_OK && first < argc) {
        code = tool_usage_error("plot", "unexpected argument '%s'", argv[first]);
    }
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    if (o->figure.kind == NULL || o->output == NULL) {
        return tool_usage_error("plot", "needs --kind K and -o OUT.svg|OUT.png");
    }
    if (o->figure.run_id != NULL && o->figure.sweep_id != NULL) {
        return tool_usage_error("plot", "--run and --sweep do not go together");
    }
    size_t length = strlen(o->output);
    if (length < 5 || (strcmp(o->output + length - 4, ".svg") != 0 && !plot_is_png(o->output))) {
        return tool_usage_error("plot", "-o must end in .svg or .png, got '%s'", o->output);
    }
    return TOOL_EXIT_OK;
}

static int plot_found(void *context, size_t count, const met_value *values)
{
    (void)count;
    (void)values;
    *(bool *)context = true;
    return 0;
}

/* TOOL_EXIT_USAGE when the --run or --sweep asked for is not in 'db'. */
static int plot_selection_check(met_db *db, const plot_options *o)
{
    const char *id = o->figure.run_id != NULL ? o->figure.run_id : o->figure.sweep_id;
    const char *sql = o->figure.run_id != NULL ? "SELECT 1 FROM runs WHERE run_id = ?1"
                                               : "SELECT 1 FROM sweeps WHERE sweep_id = ?1";
    bool found = false;
    if (id == NULL) {
        return TOOL_EXIT_OK;
    }
    if (met_query(db, sql, &id, 1, plot_found, &found) != 0) {
        return TOOL_EXIT_INTERNAL;
    }
    return found ? TOOL_EXIT_OK : TOOL_EXIT_USAGE;
}

int tool_plot_main(int argc, char **argv)
{
    plot_options options = {"results.db", NULL, {NULL, NULL, NULL, NULL, NULL}};
    char why[512];
    met_db *db = NULL;
    int code = plot_parse(argc, argv, &options);
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    if (access(options.db, F_OK) != 0) {
        return tool_usage_error("plot", "no results database at '%s'", options.db);
    }
    if (met_db_open(options.db, &db, why, sizeof(why)) != 0) {
        fprintf(stderr, "infersim plot: %s\n", why);
        return TOOL_EXIT_USAGE;
    }
    code = plot_selection_check(db, &options);
    if (code == TOOL_EXIT_OK) {
        code = tool_figure_draw(db, &options.figure, options.output, why, sizeof(why));
    } else if (code == TOOL_EXIT_USAGE) {
        snprintf(why, sizeof(why), "no %s %s in '%s'",
                 options.figure.run_id != NULL ? "run" : "sweep",
                 options.figure.run_id != NULL ? options.figure.run_id : options.figure.sweep_id,
                 options.db);
    } else {
        snprintf(why, sizeof(why), "%s", met_db_errmsg(db));
    }
    met_db_close(db);
    if (code != TOOL_EXIT_OK) {
        fprintf(stderr, "infersim plot: %s\n", why);
        return code;
    }
    printf("%s\n", options.output);
    return TOOL_EXIT_OK;
}
