/* met_export.c -- reading the results database back out: the human runs
 * listing and met_export (CSV, JSON, JSON Lines). Table names come from a
 * fixed whitelist and only whitelisted SQL text is ever compiled, so a
 * name typed on the command line never reaches SQL; the wide table is
 * pivoted in C from fixed queries, so no name read from the file does either. Output is
 * deterministic: columns in table order, rows in primary-key order
 * (run_id, then the key or the insertion rowid), REALs printed with
 * %.17g so they parse back to the same double. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/met_int.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/stats.h"

typedef struct met_table {
    const char *name;
    const char *select_all;
    const char *select_run;
} met_table;

#define MET_TABLE(name, order)                                                        \
    { name, "SELECT * FROM " name " ORDER BY " order,                                 \
      "SELECT * FROM " name " WHERE run_id = ?1 ORDER BY " order }

/* A table without a run_id column: --run does not apply. */
#define MET_TABLE_NORUN(name, order) { name, "SELECT * FROM " name " ORDER BY " order, NULL }

static const met_table met_tables[] = {
    MET_TABLE("runs", "run_id"),
    MET_TABLE("params", "run_id, key"),
    MET_TABLE("nodes", "run_id, node_id"),
    MET_TABLE("faults", "run_id, rowid"),
    MET_TABLE("timeseries", "run_id, rowid"),
    MET_TABLE("messages", "run_id, type"),
    MET_TABLE("metrics", "run_id, name"),
    MET_TABLE("expectations", "run_id, rowid"),
    MET_TABLE("requests", "run_id, request_id"),
    MET_TABLE("segments", "run_id, request_id, segment"),
    MET_TABLE("divergence", "run_id, request_id, class"),
    MET_TABLE("violations", "run_id, violation_id"),
    MET_TABLE("run_summary", "run_id"),
    MET_TABLE("sweep_values", "run_id, key"),
    MET_TABLE_NORUN("sweeps", "sweep_id"),
    MET_TABLE_NORUN("sweep_summary", "sweep_id, point, metric"),
    MET_TABLE("protocol_comparison", "run_id"),
    MET_TABLE("executions", "run_id, request_id, segment, node_id"),
    MET_TABLE("decisions", "run_id, request_id, segment, step, round, member"),
    MET_TABLE("privacy", "run_id, request_id, node_id"),
    MET_TABLE("weights", "run_id, node_id, segment"),
    MET_TABLE("blocks", "run_id, height"),
    MET_TABLE("view_changes", "run_id, view, validator"),
    MET_TABLE("churn", "run_id, t_ns, node_id"),
};

static const met_table *table_find(const char *name)
{
    for (size_t i = 0; i < UTIL_ARRAY_COUNT(met_tables); i++) {
        if (strcmp(met_tables[i].name, name) == 0) {
            return &met_tables[i];
        }
    }
    return NULL;
}

/* Writes 'text' (length bytes) as a CSV field: quoted, with doubled
 * quotes, when it holds a comma, quote, CR or LF, or is empty (so an empty
 * string differs from NULL, which is written as nothing). */
static void csv_text_write(FILE *out, const unsigned char *text, size_t length)
{
    int quote = length == 0;
    for (size_t i = 0; i < length && quote == 0; i++) {
        quote = text[i] == ',' || text[i] == '"' || text[i] == '\r' || text[i] == '\n';
    }
    if (quote == 0) {
        fwrite(text, 1, length, out);
        return;
    }
    fputc('"', out);
    for (size_t i = 0; i < length; i++) {
        if (text[i] == '"') {
            fputc('"', out);
        }
        fputc(text[i], out);
    }
    fputc('"', out);
}

/* Writes 'text' as a JSON string: quotes, backslash and every control
 * character escaped; other bytes (UTF-8) pass through. */
static void json_text_write(FILE *out, const unsigned char *text, size_t length)
{
    fputc('"', out);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = text[i];
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
        } else if (c == '\n') {
            fputs("\\n", out);
        } else if (c == '\r') {
            fputs("\\r", out);
        } else if (c == '\t') {
            fputs("\\t", out);
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", (unsigned)c);
        } else {
            fputc(c, out);
        }
    }
    fputc('"', out);
}

/* Writes column 'index' of the current row as a CSV field or JSON value. */
static void value_write(FILE *out, sqlite3_stmt *stmt, int index, met_format format)
{
    switch (sqlite3_column_type(stmt, index)) {
    case SQLITE_INTEGER:
        fprintf(out, "%" PRId64, (int64_t)sqlite3_column_int64(stmt, index));
        break;
    case SQLITE_FLOAT: {
        double value = sqlite3_column_double(stmt, index);
        if (format != MET_FORMAT_CSV && !isfinite(value)) {
            fputs("null", out);    /* JSON has no inf or nan */
        } else {
            fprintf(out, "%.17g", value);
        }
        break;
    }
    case SQLITE_NULL:
        if (format != MET_FORMAT_CSV) {
            fputs("null", out);
        }
        break;
    default: {
        /* TEXT, or a BLOB written as its bytes (infersim writes none). */
        const unsigned char *text = sqlite3_column_text(stmt, index);
        size_t length = (size_t)sqlite3_column_bytes(stmt, index);
        if (text == NULL) {
            text = (const unsigned char *)"";
            length = 0;
        }
        if (format == MET_FORMAT_CSV) {
            csv_text_write(out, text, length);
        } else {
            json_text_write(out, text, length);
        }
        break;
    }
    }
}

static void csv_header_write(FILE *out, sqlite3_stmt *stmt)
{
    int columns = sqlite3_column_count(stmt);
    for (int i = 0; i < columns; i++) {
        const char *name = sqlite3_column_name(stmt, i);
        if (i > 0) {
            fputc(',', out);
        }
        csv_text_write(out, (const unsigned char *)name, strlen(name));
    }
    fputc('\n', out);
}

static void row_write(FILE *out, sqlite3_stmt *stmt, met_format format)
{
    int columns = sqlite3_column_count(stmt);
    if (format != MET_FORMAT_CSV) {
        fputc('{', out);
    }
    for (int i = 0; i < columns; i++) {
        if (i > 0) {
            fputc(',', out);
        }
        if (format != MET_FORMAT_CSV) {
            const char *name = sqlite3_column_name(stmt, i);
            json_text_write(out, (const unsigned char *)name, strlen(name));
            fputc(':', out);
        }
        value_write(out, stmt, i, format);
    }
    fputs(format == MET_FORMAT_CSV ? "\n" : "}", out);
}

/* Opens a listing: the JSON array's bracket (CSV and JSON Lines need none). */
static void rows_begin(FILE *out, met_format format)
{
    if (format == MET_FORMAT_JSON) {
        fputc('[', out);
    }
}

/* Separates row number 'rows' (0-based) from the one before. */
static void rows_separate(FILE *out, met_format format, size_t rows)
{
    if (format == MET_FORMAT_JSON) {
        fputs(rows > 0 ? ",\n" : "\n", out);
    }
}

/* Closes a listing of 'rows' rows whose last sqlite3_step returned 'rc':
 * 0, the SQLite error, or MET_EIO when writing failed. */
static int rows_end(met_db *db, int rc, size_t rows, met_format format, FILE *out,
                    const char *what)
{
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return met__sql_error(db, what);
    }
    if (format == MET_FORMAT_JSON) {
        fputs(rows > 0 ? "\n]\n" : "]\n", out);
    }
    if (fflush(out) != 0 || ferror(out)) {
        met__set_error(db, "export: write error");
        return MET_EIO;
    }
    return 0;
}

/* Streams every row of 'stmt' to 'out'. */
static int export_rows(met_db *db, sqlite3_stmt *stmt, met_format format, FILE *out)
{
    size_t rows = 0;
    int rc;
    if (format == MET_FORMAT_CSV) {
        csv_header_write(out, stmt);
    }
    rows_begin(out, format);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        rows_separate(out, format, rows);
        row_write(out, stmt, format);
        if (format == MET_FORMAT_JSONL) {
            fputc('\n', out);
        }
        rows++;
        if (ferror(out)) {
            break;
        }
    }
    return rows_end(db, rc, rows, format, out, "export");
}

static int export_wide(met_db *db, int64_t run_id, met_format format, FILE *out);

const char *met_export_table_name(size_t index)
{
    if (index < UTIL_ARRAY_COUNT(met_tables)) {
        return met_tables[index].name;
    }
    return index == UTIL_ARRAY_COUNT(met_tables) ? "wide" : NULL;
}

bool met_export_table_has_run(const char *table)
{
    const met_table *entry = table_find(table);
    return entry == NULL || entry->select_run != NULL;
}

int met_export(met_db *db, const char *table, int64_t run_id, met_format format, FILE *out)
{
    ASSERT(db != NULL);
    ASSERT(table != NULL);
    ASSERT(out != NULL);
    ASSERT(format == MET_FORMAT_CSV || format == MET_FORMAT_JSON || format == MET_FORMAT_JSONL);
    bool wide = strcmp(table, "wide") == 0;
    const met_table *entry = table_find(table);
    if (entry == NULL && !wide) {
        met__set_error(db, "export: unknown table");
        return MET_ENOTABLE;
    }
    if (run_id > 0 && entry != NULL && entry->select_run == NULL) {
        met__set_error(db, "export: this table has no run_id; --run does not apply");
        return MET_ENORUN;
    }
    int rc = met_flush(db);
    if (rc == 0 && run_id > 0) {
        rc = met_run_exists(db, run_id);
        if (rc == 0) {
            met__set_error(db, "export: no such run");
            rc = MET_ENORUN;
        } else if (rc == 1) {
            rc = 0;
        }
    }
    if (rc != 0) {
        return rc;
    }
    if (wide) {
        return export_wide(db, run_id, format, out);
    }
    sqlite3_stmt *stmt = NULL;
    const char *sql = run_id > 0 ? entry->select_run : entry->select_all;
    if (sqlite3_prepare_v2(db->sql, sql, -1, &stmt, NULL) != SQLITE_OK) {
        return met__sql_error(db, "export");
    }
    if (run_id > 0) {
        sqlite3_bind_int64(stmt, 1, run_id);
    }
    rc = export_rows(db, stmt, format, out);
    sqlite3_finalize(stmt);
    return rc;
}

/* Writes an INTEGER column, or '-' for NULL, right-aligned in 'width'. */
static void list_int_write(FILE *out, sqlite3_stmt *stmt, int index, int width)
{
    if (sqlite3_column_type(stmt, index) == SQLITE_NULL) {
        fprintf(out, " %*s", width, "-");
    } else {
        fprintf(out, " %*" PRId64, width, (int64_t)sqlite3_column_int64(stmt, index));
    }
}

static void list_row_write(FILE *out, sqlite3_stmt *stmt)
{
    const char *name = (const char *)sqlite3_column_text(stmt, 1);
    const char *status = (const char *)sqlite3_column_text(stmt, 3);
    const char *check = (const char *)sqlite3_column_text(stmt, 4);
    const char *mode = (const char *)sqlite3_column_text(stmt, 8);
    const char *point = (const char *)sqlite3_column_text(stmt, 10);
    const char *writer = (const char *)sqlite3_column_text(stmt, 11);
    if (status != NULL && strcmp(status, "running") == 0) {
        met_writer_state state = met__writer_state(writer);
        status = state == MET_WRITER_ALIVE       ? "running"
                 : state == MET_WRITER_ELSEWHERE ? "running (other host)"
                                                 : "running (incomplete)";
    }
    fprintf(out, "%6" PRId64 " %-24s %-7s", (int64_t)sqlite3_column_int64(stmt, 0),
            name != NULL ? name : "-", mode != NULL ? mode : "-");
    list_int_write(out, stmt, 9, 5);
    list_int_write(out, stmt, 2, 20);
    fprintf(out, " %-22s %-7s", status != NULL ? status : "-", check != NULL ? check : "-");
    list_int_write(out, stmt, 5, 12);
    if (sqlite3_column_type(stmt, 6) == SQLITE_NULL) {
        fprintf(out, " %12s", "-");
    } else {
        fprintf(out, " %12.3f", (double)sqlite3_column_int64(stmt, 6) / 1e9);
    }
    list_int_write(out, stmt, 7, 10);
    fprintf(out, " %s\n", point != NULL ? point : "-");
}

int met_runs_list(met_db *db, FILE *out)
{
    ASSERT(db != NULL);
    ASSERT(out != NULL);
    static const char sql[] = "SELECT run_id, name, seed, status, check_status, events,"
                              " sim_ns, wall_ms, mode, sweep_id, point, writer FROM runs"
                              " ORDER BY run_id";
    sqlite3_stmt *stmt = NULL;
    int rc = met_flush(db);
    if (rc != 0) {
        return rc;
    }
    if (sqlite3_prepare_v2(db->sql, sql, -1, &stmt, NULL) != SQLITE_OK) {
        return met__sql_error(db, "list runs");
    }
    size_t rows = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (rows == 0) {
            fprintf(out, "%6s %-24s %-7s %5s %20s %-22s %-7s %12s %12s %10s %s\n", "run",
                    "name", "mode", "sweep", "seed", "status", "check", "events", "sim_s",
                    "wall_ms", "point");
        }
        list_row_write(out, stmt);
        rows++;
    }
    int result = 0;
    if (rc != SQLITE_DONE) {
        result = met__sql_error(db, "list runs");
    }
    sqlite3_finalize(stmt);
    if (result == 0 && rows == 0) {
        fputs("no runs\n", out);
    }
    if (result == 0 && (fflush(out) != 0 || ferror(out))) {
        met__set_error(db, "list runs: write error");
        result = MET_EIO;
    }
    return result;
}

/* A run's metric inside the comparison's aggregate. */
#define MET_COMPARE_METRIC(name)                                                               \
    "(SELECT m.value FROM metrics m WHERE m.run_id = protocol_comparison.run_id"               \
    " AND m.name = '" name "')"

/* The comparison's columns: header, width, SQL aggregate, printf scale.
 * settle_p50_ms is the ledger's (verification.settlement: ledger), '-' for
 * instant settlement. */
static const struct {
    const char *header;
    int width;
    const char *sql;
    double scale;
} met_compare_columns[] = {
    {"runs", 5, "COUNT(*)", 1},
    {"completed", 9, "AVG(completed_ratio)", 1},
    {"wrong", 7, "AVG(accepted_wrong_ratio)", 1},
    {"honest_pen", 10, "AVG(honest_penalised)", 1},
    {"disputes", 9, "AVG(disputes)", 1},
    {"resamples", 9, "AVG(resamples)", 1},
    {"cost_x", 9, "AVG(cost_ratio)", 1},
    {"MB_sent", 9, "AVG(bytes_sent)", 1e-6},
    {"final_p50_ms", 12, "AVG(finality_p50_ns)", 1e-6},
    {"final_p99_ms", 12, "AVG(finality_p99_ns)", 1e-6},
    {"slashed", 9, "AVG(stake_slashed)", 1},
    {"settle_p50_ms", 13, "AVG(" MET_COMPARE_METRIC("settlement_latency_p50") ")", 1e-6},
};

/* The protocol, with "+ledger" for a run that settles on the ledger: the
 * comparison groups instant and ledger settlement apart. */
#define MET_COMPARE_PROTOCOL                                                                   \
    "protocol || CASE WHEN (SELECT p.value FROM params p"                                      \
    " WHERE p.run_id = protocol_comparison.run_id AND p.key = 'verification.settlement')"      \
    " = 'ledger' THEN '+ledger' ELSE '' END"

/* After the columns: draws, captured draws and the predicted count, summed
 * over the group's runs, printed as the measured capture rate with its
 * 95 % Wilson interval beside the closed form's rate. */
static const char met_compare_capture_sql[] =
    ", SUM(" MET_COMPARE_METRIC("capture_draws") "), SUM(" MET_COMPARE_METRIC(
        "captured_draws") "), SUM(" MET_COMPARE_METRIC("capture_rate_predicted") " * "
        MET_COMPARE_METRIC("capture_draws") ")";

static void compare_capture_write(FILE *out, sqlite3_stmt *stmt, int column)
{
    sqlite3_int64 draws = sqlite3_column_int64(stmt, column);
    sqlite3_int64 captured = sqlite3_column_int64(stmt, column + 1);
    if (sqlite3_column_type(stmt, column) == SQLITE_NULL || draws <= 0 || captured < 0 ||
        captured > draws) {
        fprintf(out, " %8s %17s %9s", "-", "-", "-");
        return;
    }
    double low, high;
    util_wilson_interval((uint64_t)captured, (uint64_t)draws, 1.96, &low, &high);
    fprintf(out, " %8.4f  [%6.4f, %6.4f] %9.4f", (double)captured / (double)draws, low, high,
            sqlite3_column_double(stmt, column + 2) / (double)draws);
}

static void compare_row_write(FILE *out, sqlite3_stmt *stmt)
{
    const char *protocol = (const char *)sqlite3_column_text(stmt, 0);
    const char *name = (const char *)sqlite3_column_text(stmt, 1);
    fprintf(out, "%-17s %-24s", protocol != NULL ? protocol : "-", name != NULL ? name : "*");
    for (size_t i = 0; i < UTIL_ARRAY_COUNT(met_compare_columns); i++) {
        int width = met_compare_columns[i].width;
        if (sqlite3_column_type(stmt, (int)i + 2) == SQLITE_NULL) {
            fprintf(out, " %*s", width, "-");
        } else {
            double value = sqlite3_column_double(stmt, (int)i + 2) * met_compare_columns[i].scale;
            fprintf(out, " %*.*f", width, i == 0 ? 0 : value >= 100 ? 1 : 4, value);
        }
    }
    compare_capture_write(out, stmt, (int)UTIL_ARRAY_COUNT(met_compare_columns) + 2);
    fputc('\n', out);
}

int met_compare(met_db *db, FILE *out, bool by_name)
{
    ASSERT(db != NULL);
    ASSERT(out != NULL);
    char sql[4096];
    size_t used = (size_t)snprintf(sql, sizeof(sql), "SELECT " MET_COMPARE_PROTOCOL
                                   " AS settled_by, %s", by_name ? "name" : "NULL");
    for (size_t i = 0; i < UTIL_ARRAY_COUNT(met_compare_columns); i++) {
        used += (size_t)snprintf(sql + used, sizeof(sql) - used, ", %s",
                                 met_compare_columns[i].sql);
    }
    used += (size_t)snprintf(sql + used, sizeof(sql) - used, "%s", met_compare_capture_sql);
    snprintf(sql + used, sizeof(sql) - used,
             " FROM protocol_comparison WHERE status = 'completed' GROUP BY settled_by%s"
             " ORDER BY CASE protocol WHEN 'none' THEN 0 WHEN 'committee' THEN 1"
             " WHEN 'sampling' THEN 2 WHEN 'crossval' THEN 3 WHEN 'optimistic' THEN 4"
             " WHEN 'tee' THEN 5 WHEN 'zk' THEN 6 ELSE 7 END, settled_by%s",
             by_name ? ", name" : "", by_name ? ", name" : "");
    sqlite3_stmt *stmt = NULL;
    int rc = met_flush(db);
    if (rc != 0) {
        return rc;
    }
    if (sqlite3_prepare_v2(db->sql, sql, -1, &stmt, NULL) != SQLITE_OK) {
        return met__sql_error(db, "compare");
    }
    size_t rows = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (rows++ == 0) {
            fprintf(out, "%-17s %-24s", "protocol", "scenario");
            for (size_t i = 0; i < UTIL_ARRAY_COUNT(met_compare_columns); i++) {
                fprintf(out, " %*s", met_compare_columns[i].width, met_compare_columns[i].header);
            }
            fprintf(out, " %8s %17s %9s\n", "capture", "capture_95ci", "predicted");
        }
        compare_row_write(out, stmt);
    }
    int result = rc == SQLITE_DONE ? 0 : met__sql_error(db, "compare");
    sqlite3_finalize(stmt);
    if (result == 0 && rows == 0) {
        fputs("no completed runs\n", out);
    }
    if (result == 0 && (fflush(out) != 0 || ferror(out))) {
        met__set_error(db, "compare: write error");
        result = MET_EIO;
    }
    return result;
}

/* ---- measured beside predicted ---- */

/* The frequencies met_predictions compares: trials, successes and the
 * prediction per row (NULL columns when the run has none). */
static const char met_predictions_sql[] =
    "SELECT 'capture of a draw by Byzantine members',"
    " (SELECT value FROM metrics WHERE run_id = ?1 AND name = 'capture_draws'),"
    " (SELECT value FROM metrics WHERE run_id = ?1 AND name = 'captured_draws'),"
    " (SELECT value FROM metrics WHERE run_id = ?1 AND name = 'capture_rate_predicted')"
    " UNION ALL SELECT 'crossval spot check of a hop', count(*), sum(checked),"
    " (SELECT CAST(value AS REAL) FROM params WHERE run_id = ?1"
    "  AND key = 'verification.check_probability')"
    " FROM (SELECT max(spot_check) AS checked FROM decisions"
    "  WHERE run_id = ?1 AND protocol = 'crossval' GROUP BY request_id, segment, round)"
    " UNION ALL SELECT 'penalties from the initial reputation to the floor', NULL,"
    " (SELECT value FROM metrics WHERE run_id = ?1 AND name = 'floor_penalties'),"
    " (SELECT value FROM metrics WHERE run_id = ?1 AND name = 'floor_penalties_predicted')";

typedef struct predictions_pass {
    met_row_fn row;
    void *context;
} predictions_pass;

/* A quantity the rule fixes (no trials): the mean measured beside it. */
static int predictions_value_row(predictions_pass *pass, const met_value *values)
{
    if (values[2].is_null || values[3].is_null) {
        return 0;
    }
    char text[3][48];
    snprintf(text[0], sizeof(text[0]), "%.4g", values[2].number);
    snprintf(text[1], sizeof(text[1]), "%.4g", values[3].number);
    snprintf(text[2], sizeof(text[2]), "%s",
             fabs(values[2].number - values[3].number) < 0.5 ? "yes" : "no");
    met_value out[6] = {{.text = values[0].text}, {.text = "mean over the nodes that fell"},
                        {.text = text[0]}, {.text = "(exact)"}, {.text = text[1]},
                        {.text = text[2]}};
    return pass->row(pass->context, 6, out);
}

static int predictions_row(void *context, size_t count, const met_value *values)
{
    predictions_pass *pass = context;
    ASSERT(count == 4);
    if (values[1].is_null && !values[2].is_null) {
        return predictions_value_row(pass, values);
    }
    double trials = values[1].number, successes = values[2].number;
    if (values[1].is_null || values[2].is_null || values[3].is_null || !(trials >= 1.0) ||
        !(successes >= 0.0) || successes > trials || trials > 9e15) {
        return 0;
    }
    double low, high, predicted = values[3].number;
    util_wilson_interval((uint64_t)successes, (uint64_t)trials, 1.96, &low, &high);
    char text[5][48];
    snprintf(text[0], sizeof(text[0]), "%.0f of %.0f", successes, trials);
    snprintf(text[1], sizeof(text[1]), "%.4f", successes / trials);
    snprintf(text[2], sizeof(text[2]), "[%.4f, %.4f]", low, high);
    snprintf(text[3], sizeof(text[3]), "%.4f", predicted);
    snprintf(text[4], sizeof(text[4]), "%s", low <= predicted && predicted <= high ? "yes" : "no");
    met_value out[6] = {{.text = values[0].text}};
    for (size_t i = 0; i < 5; i++) {
        out[i + 1].text = text[i];
    }
    return pass->row(pass->context, 6, out);
}

int met_predictions(met_db *db, const char *run_id, met_row_fn row, void *context)
{
    ASSERT(db != NULL && run_id != NULL && row != NULL);
    predictions_pass pass = {row, context};
    const char *params[1] = {run_id};
    return met_query(db, met_predictions_sql, params, 1, predictions_row, &pass);
}

/* ---- request durations ---- */

static const char *const met_span_sql[] = {
    [MET_SPAN_LATENCY] = "SELECT finished_ns - submitted_ns FROM requests WHERE run_id = ?1"
                         " AND status = 'completed' AND finished_ns >= submitted_ns"
                         " ORDER BY request_id",
    [MET_SPAN_FIRST_TOKEN] = "SELECT first_token_ns - submitted_ns FROM requests"
                             " WHERE run_id = ?1 AND first_token_ns > 0"
                             " AND first_token_ns >= submitted_ns ORDER BY request_id",
    [MET_SPAN_FINALITY] = "SELECT finished_ns - submitted_ns FROM requests WHERE run_id = ?1"
                          " AND status = 'completed' AND finished_ns >= submitted_ns"
                          " ORDER BY request_id",
    [MET_SPAN_SETTLEMENT] = "SELECT settlement_ns - submitted_ns FROM requests WHERE run_id = ?1"
                            " AND status <> 'unfinished' AND settlement_ns > 0"
                            " AND settlement_ns >= submitted_ns"
                            " ORDER BY request_id",
};

typedef struct durations_pass {
    uint64_t *values;
    uint64_t count;
    uint64_t capacity;
    uint64_t window_ns;
} durations_pass;

static int durations_row(void *context, size_t count, const met_value *values)
{
    durations_pass *pass = context;
    (void)count;
    if (pass->count == pass->capacity) {
        uint64_t capacity = pass->capacity == 0 ? 256 : pass->capacity * 2;
        uint64_t *grown = util_realloc(pass->values, capacity * sizeof(*grown));
        if (grown == NULL) {
            return MET_ENOMEM;
        }
        pass->values = grown;
        pass->capacity = capacity;
    }
    pass->values[pass->count++] = (uint64_t)values[0].number + pass->window_ns;
    return 0;
}

int met_request_durations(met_db *db, int64_t run_id, met_span span, uint64_t window_ns,
                          uint64_t **values_out, uint64_t *count_out)
{
    ASSERT(db != NULL && values_out != NULL && count_out != NULL);
    ASSERT(span <= MET_SPAN_SETTLEMENT);
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)run_id);
    const char *params[1] = {id};
    durations_pass pass = {NULL, 0, 0, span == MET_SPAN_FINALITY ? window_ns : 0};
    int rc = met_query(db, met_span_sql[span], params, 1, durations_row, &pass);
    if (rc != 0) {
        util_free(pass.values);
        pass.values = NULL;
        pass.count = 0;
        if (rc == MET_ENOMEM) {
            met__set_error(db, "request durations: out of memory");
        }
    }
    *values_out = pass.values;
    *count_out = pass.count;
    return rc;
}

/* Binds ?index: an all-digit text (at most 18 digits) as an integer. */
static void query_bind(sqlite3_stmt *stmt, int index, const char *text)
{
    size_t length = strlen(text);
    size_t digits = strspn(text, "0123456789");
    if (length > 0 && length <= 18 && digits == length) {
        sqlite3_bind_int64(stmt, index, (sqlite3_int64)strtoll(text, NULL, 10));
    } else {
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
    }
}

int met_query(met_db *db, const char *sql, const char *const *params, size_t param_count,
              met_row_fn row, void *context)
{
    ASSERT(db != NULL && sql != NULL && row != NULL);
    ASSERT(params != NULL || param_count == 0);
    enum { COLUMNS_MAX = 32 };
    met_value values[COLUMNS_MAX];
    sqlite3_stmt *stmt = NULL;
    int rc = met_flush(db);
    if (rc != 0) {
        return rc;
    }
    if (sqlite3_prepare_v2(db->sql, sql, -1, &stmt, NULL) != SQLITE_OK) {
        return met__sql_error(db, "query");
    }
    for (size_t i = 0; i < param_count; i++) {
        query_bind(stmt, (int)i + 1, params[i]);
    }
    int columns = sqlite3_column_count(stmt);
    ASSERT(columns <= COLUMNS_MAX);
    int step;
    rc = 0;
    while (rc == 0 && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        for (int i = 0; i < columns; i++) {
            values[i].is_null = sqlite3_column_type(stmt, i) == SQLITE_NULL;
            values[i].number = sqlite3_column_double(stmt, i);
            values[i].text = (const char *)sqlite3_column_text(stmt, i);
        }
        rc = row(context, (size_t)columns, values);
    }
    if (rc == 0 && step != SQLITE_DONE) {
        rc = met__sql_error(db, "query");
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* ---- the wide table: one row per run, one column per swept key and per
 * metric (what pandas' read_csv wants). Built in C from three ordered
 * queries, so no name from the file is ever pasted into SQL. ---- */

typedef struct wide_names {
    char **names;
    size_t count;
} wide_names;

static void wide_names_free(wide_names *list)
{
    for (size_t i = 0; i < list->count; i++) {
        util_free(list->names[i]);
    }
    util_free(list->names);
    list->names = NULL;
    list->count = 0;
}

/* Column 0 of every row of 'sql' (bound to run_id when > 0), in order. */
static int wide_names_read(met_db *db, const char *sql, int64_t run_id, wide_names *out)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db->sql, sql, -1, &stmt, NULL) != SQLITE_OK) {
        return met__sql_error(db, "export wide");
    }
    if (run_id > 0) {
        sqlite3_bind_int64(stmt, 1, run_id);
    }
    int rc;
    size_t capacity = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);
        if (out->count == capacity) {
            capacity = capacity == 0 ? 64 : capacity * 2;
            char **grown = util_realloc(out->names, capacity * sizeof(*grown));
            if (grown == NULL) {
                break;
            }
            out->names = grown;
        }
        out->names[out->count] = util_strdup(name != NULL ? name : "");
        if (out->names[out->count] == NULL) {
            break;
        }
        out->count += 1;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        return rc == SQLITE_ROW ? MET_ESQL : met__sql_error(db, "export wide");
    }
    return 0;
}

static const char *const wide_run_columns[] = {"run_id", "name",    "mode",     "seed",
                                               "status", "check_status", "sweep_id", "point"};

static void wide_name_write(FILE *out, const char *name, met_format format, bool first)
{
    if (!first) {
        fputc(',', out);
    }
    if (format == MET_FORMAT_CSV) {
        csv_text_write(out, (const unsigned char *)name, strlen(name));
    } else {
        json_text_write(out, (const unsigned char *)name, strlen(name));
        fputc(':', out);
    }
}

/* A swept value as it was written: a number when the whole text is one. */
static void wide_text_value_write(FILE *out, const char *text, met_format format)
{
    char *end = NULL;
    double number = strtod(text, &end);
    if (text[0] != '\0' && end != NULL && *end == '\0' && isfinite(number)) {
        fputs(text, out);
    } else if (format == MET_FORMAT_CSV) {
        csv_text_write(out, (const unsigned char *)text, strlen(text));
    } else {
        json_text_write(out, (const unsigned char *)text, strlen(text));
    }
}

/* Writes one run's values of 'columns' from 'stmt' (rows: name, value,
 * ordered as the columns are): merge by name, NULL where the run has none. */
static void wide_merge_write(FILE *out, sqlite3_stmt *stmt, const wide_names *columns,
                             met_format format, bool text_values)
{
    int rc = sqlite3_step(stmt);
    for (size_t c = 0; c < columns->count; c++) {
        if (format == MET_FORMAT_CSV) {
            fputc(',', out);
        } else {
            wide_name_write(out, columns->names[c], format, false);
        }
        while (rc == SQLITE_ROW &&
               strcmp((const char *)sqlite3_column_text(stmt, 0), columns->names[c]) < 0) {
            rc = sqlite3_step(stmt);
        }
        if (rc == SQLITE_ROW &&
            strcmp((const char *)sqlite3_column_text(stmt, 0), columns->names[c]) == 0 &&
            sqlite3_column_type(stmt, 1) != SQLITE_NULL) {
            if (text_values) {
                wide_text_value_write(out, (const char *)sqlite3_column_text(stmt, 1), format);
            } else {
                value_write(out, stmt, 1, format);
            }
        } else if (format != MET_FORMAT_CSV) {
            fputs("null", out);
        }
    }
}

static void wide_header_write(FILE *out, const wide_names *keys, const wide_names *metrics)
{
    for (size_t i = 0; i < UTIL_ARRAY_COUNT(wide_run_columns); i++) {
        wide_name_write(out, wide_run_columns[i], MET_FORMAT_CSV, i == 0);
    }
    for (size_t i = 0; i < keys->count; i++) {
        wide_name_write(out, keys->names[i], MET_FORMAT_CSV, false);
    }
    for (size_t i = 0; i < metrics->count; i++) {
        wide_name_write(out, metrics->names[i], MET_FORMAT_CSV, false);
    }
    fputc('\n', out);
}

typedef struct wide_statements {
    sqlite3_stmt *runs;
    sqlite3_stmt *values;
    sqlite3_stmt *metrics;
} wide_statements;

/* One run's row: its runs columns, swept values, metrics. */
static void wide_row_write(FILE *out, const wide_statements *s, const wide_names *keys,
                           const wide_names *metrics, met_format format)
{
    int64_t run_id = sqlite3_column_int64(s->runs, 0);
    if (format != MET_FORMAT_CSV) {
        fputc('{', out);
    }
    for (int i = 0; i < (int)UTIL_ARRAY_COUNT(wide_run_columns); i++) {
        if (format == MET_FORMAT_CSV) {
            if (i > 0) {
                fputc(',', out);
            }
        } else {
            wide_name_write(out, wide_run_columns[i], format, i == 0);
        }
        value_write(out, s->runs, i, format);
    }
    sqlite3_reset(s->values);
    sqlite3_bind_int64(s->values, 1, run_id);
    wide_merge_write(out, s->values, keys, format, true);
    sqlite3_reset(s->metrics);
    sqlite3_bind_int64(s->metrics, 1, run_id);
    wide_merge_write(out, s->metrics, metrics, format, false);
    fputs(format == MET_FORMAT_CSV ? "\n" : "}", out);
}

static int wide_rows_write(met_db *db, const wide_statements *s, const wide_names *keys,
                           const wide_names *metrics, met_format format, FILE *out)
{
    size_t rows = 0;
    int rc;
    if (format == MET_FORMAT_CSV) {
        wide_header_write(out, keys, metrics);
    }
    rows_begin(out, format);
    while ((rc = sqlite3_step(s->runs)) == SQLITE_ROW && !ferror(out)) {
        rows_separate(out, format, rows);
        wide_row_write(out, s, keys, metrics, format);
        if (format == MET_FORMAT_JSONL) {
            fputc('\n', out);
        }
        rows++;
    }
    return rows_end(db, rc, rows, format, out, "export wide");
}

/* The wide table of every run, or of run 'run_id' (> 0). */
static int export_wide(met_db *db, int64_t run_id, met_format format, FILE *out)
{
    const char *where = run_id > 0 ? " WHERE run_id = ?1" : "";
    char sql[256];
    wide_names keys = {0};
    wide_names metrics = {0};
    snprintf(sql, sizeof(sql), "SELECT DISTINCT key FROM sweep_values%s ORDER BY key", where);
    int rc = wide_names_read(db, sql, run_id, &keys);
    if (rc == 0) {
        snprintf(sql, sizeof(sql), "SELECT DISTINCT name FROM metrics%s ORDER BY name", where);
        rc = wide_names_read(db, sql, run_id, &metrics);
    }
    wide_statements s = {0};
    snprintf(sql, sizeof(sql),
             "SELECT run_id, name, mode, seed, status, check_status, sweep_id, point"
             " FROM runs%s ORDER BY run_id", where);
    if (rc == 0 &&
        (sqlite3_prepare_v2(db->sql, sql, -1, &s.runs, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(db->sql,
                            "SELECT key, value FROM sweep_values WHERE run_id = ?1 ORDER BY key",
                            -1, &s.values, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(db->sql,
                            "SELECT name, value FROM metrics WHERE run_id = ?1 ORDER BY name", -1,
                            &s.metrics, NULL) != SQLITE_OK)) {
        rc = met__sql_error(db, "export wide");
    }
    if (rc == 0) {
        if (run_id > 0) {
            sqlite3_bind_int64(s.runs, 1, run_id);
        }
        rc = wide_rows_write(db, &s, &keys, &metrics, format, out);
    }
    sqlite3_finalize(s.runs);
    sqlite3_finalize(s.values);
    sqlite3_finalize(s.metrics);
    wide_names_free(&keys);
    wide_names_free(&metrics);
    return rc;
}
