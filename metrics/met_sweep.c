/* met_sweep.c -- sweeps in the results database (schema 5): the sweeps
 * row of a base scenario, the grid point and swept values of each run,
 * the "already done" check that lets a sweep resume, and met_merge, which
 * copies the runs of another results file into this one without
 * duplicating any. The tables to copy are found in the schema itself
 * (every table with a run_id column), so tables added by later schema
 * versions are merged without a change here. Table and column names come
 * from sqlite_master and are quoted as identifiers (%w). */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "metrics/met_int.h"
#include "util/alloc.h"
#include "util/assert.h"

#define MERGE_TABLES_MAX 64

/* Runs SQL without results. */
static int sweep_exec(met_db *db, const char *sql, const char *what)
{
    if (sqlite3_exec(db->sql, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return met__sql_error(db, what);
    }
    return 0;
}

static int sweep_prepare(met_db *db, const char *sql, sqlite3_stmt **stmt, const char *what)
{
    if (sqlite3_prepare_v2(db->sql, sql, -1, stmt, NULL) != SQLITE_OK) {
        *stmt = NULL;
        return met__sql_error(db, what);
    }
    return 0;
}

/* Steps a statement to its end; 0 or MET_ESQL. Finalizes it. */
static int sweep_run(met_db *db, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    int result = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : met__sql_error(db, what);
    sqlite3_finalize(stmt);
    return result;
}

static void sweep_bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text == NULL) {
        sqlite3_bind_null(stmt, index);
    } else {
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
    }
}

int met_sweep_register(met_db *db, const char *name, const char *scenario_sha256,
                       const char *spec, uint32_t seeds, uint64_t points,
                       int64_t *sweep_id_out)
{
    ASSERT(db != NULL && scenario_sha256 != NULL && sweep_id_out != NULL);
    sqlite3_stmt *stmt = NULL;
    char created_at[32];
    time_t now = time(NULL);
    struct tm parts;
    if (gmtime_r(&now, &parts) == NULL ||
        strftime(created_at, sizeof(created_at), "%Y-%m-%dT%H:%M:%SZ", &parts) == 0) {
        snprintf(created_at, sizeof(created_at), "1970-01-01T00:00:00Z");
    }
    int rc = met_flush(db);
    if (rc == 0) {
        rc = sweep_prepare(db,
                           "INSERT INTO sweeps (name, scenario_sha256, spec, seeds, points,"
                           " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                           " ON CONFLICT (scenario_sha256) DO UPDATE SET name = ?1, spec = ?3,"
                           " seeds = ?4, points = ?5",
                           &stmt, "register sweep");
    }
    if (rc != 0) {
        return rc;
    }
    sweep_bind_text(stmt, 1, name);
    sweep_bind_text(stmt, 2, scenario_sha256);
    sweep_bind_text(stmt, 3, spec);
    sqlite3_bind_int64(stmt, 4, seeds);
    sqlite3_bind_int64(stmt, 5, (sqlite3_int64)points);
    sweep_bind_text(stmt, 6, created_at);
    if ((rc = sweep_run(db, stmt, "register sweep")) != 0) {
        return rc;
    }
    rc = sweep_prepare(db, "SELECT sweep_id FROM sweeps WHERE scenario_sha256 = ?1", &stmt,
                       "register sweep");
    if (rc != 0) {
        return rc;
    }
    sweep_bind_text(stmt, 1, scenario_sha256);
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        *sweep_id_out = sqlite3_column_int64(stmt, 0);
    } else {
        rc = met__sql_error(db, "register sweep");
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* The body of met_run_tag, inside the caller's transaction. */
static int sweep_tag(met_db *db, int64_t run_id, int64_t sweep_id, const char *point,
                     const char *const *keys, const char *const *values, size_t count)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sweep_prepare(db, "UPDATE runs SET sweep_id = ?1, point = ?2 WHERE run_id = ?3",
                           &stmt, "tag run");
    if (rc != 0) {
        return rc;
    }
    sqlite3_bind_int64(stmt, 1, sweep_id);
    sweep_bind_text(stmt, 2, point);
    sqlite3_bind_int64(stmt, 3, run_id);
    if ((rc = sweep_run(db, stmt, "tag run")) != 0) {
        return rc;
    }
    for (size_t i = 0; i < count && rc == 0; i++) {
        rc = sweep_prepare(db, "INSERT OR REPLACE INTO sweep_values VALUES (?1, ?2, ?3)", &stmt,
                           "tag run");
        if (rc == 0) {
            sqlite3_bind_int64(stmt, 1, run_id);
            sweep_bind_text(stmt, 2, keys[i]);
            sweep_bind_text(stmt, 3, values[i]);
            rc = sweep_run(db, stmt, "tag run");
        }
    }
    return rc;
}

int met_run_tag(met_db *db, int64_t run_id, int64_t sweep_id, const char *point,
                const char *const *keys, const char *const *values, size_t count)
{
    ASSERT(db != NULL && point != NULL);
    ASSERT(count == 0 || (keys != NULL && values != NULL));
    int rc = met_flush(db);
    if (rc == 0) {
        rc = sweep_exec(db, "BEGIN IMMEDIATE", "tag run");
    }
    if (rc != 0) {
        return rc;
    }
    rc = sweep_tag(db, run_id, sweep_id, point, keys, values, count);
    if (rc == 0) {
        rc = sweep_exec(db, "COMMIT", "tag run");
    }
    if (rc != 0) {
        sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

int met_sweep_run_done(met_db *db, int64_t sweep_id, const char *point, uint64_t seed)
{
    ASSERT(db != NULL && point != NULL);
    sqlite3_stmt *stmt = NULL;
    int rc = met_flush(db);
    if (rc == 0) {
        rc = sweep_prepare(db,
                           "SELECT 1 FROM runs WHERE sweep_id = ?1 AND point = ?2 AND seed = ?3"
                           " AND status = 'completed' LIMIT 1",
                           &stmt, "sweep run done");
    }
    if (rc != 0) {
        return rc;
    }
    sqlite3_bind_int64(stmt, 1, sweep_id);
    sweep_bind_text(stmt, 2, point);
    sqlite3_bind_int64(stmt, 3, (sqlite3_int64)seed);
    rc = sqlite3_step(stmt);
    int result = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : met__sql_error(db, "sweep run");
    sqlite3_finalize(stmt);
    return result;
}

/* ---- merge ---------------------------------------------------------------- */

/* One table keyed by run_id: the INSERT ... SELECT that copies one run's
 * rows (?1 = new run id, ?2 = source run id), and the DELETE that drops
 * them from main (?1 = run id). */
typedef struct merge_table {
    char *copy_sql;
    char *delete_sql;
} merge_table;

typedef struct merge_plan {
    merge_table tables[MERGE_TABLES_MAX];
    size_t count;
    char *run_copy_sql;               /* runs row without run_id */
} merge_plan;

static void merge_plan_free(merge_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++) {
        sqlite3_free(plan->tables[i].copy_sql);
        sqlite3_free(plan->tables[i].delete_sql);
    }
    sqlite3_free(plan->run_copy_sql);
    memset(plan, 0, sizeof(*plan));
}

/* "a", "b", ... of main.'table' into list (an sqlite3_str), run_id as
 * 'run_id_as' (NULL: left out). Sets *has_run_id. */
static int merge_columns(met_db *db, const char *table, const char *run_id_as,
                         sqlite3_str *list, bool *has_run_id)
{
    sqlite3_stmt *stmt = NULL;
    char *sql = sqlite3_mprintf("PRAGMA main.table_info(\"%w\")", table);
    int rc = sql == NULL ? met__sql_error(db, "merge: out of memory")
                         : sweep_prepare(db, sql, &stmt, "merge: table_info");
    sqlite3_free(sql);
    if (rc != 0) {
        return rc;
    }
    *has_run_id = false;
    size_t written = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        const char *column = (const char *)sqlite3_column_text(stmt, 1);
        bool is_run_id = column != NULL && strcmp(column, "run_id") == 0;
        *has_run_id = *has_run_id || is_run_id;
        if (is_run_id && run_id_as == NULL) {
            continue;
        }
        sqlite3_str_appendf(list, "%s", written++ > 0 ? ", " : "");
        if (is_run_id) {
            sqlite3_str_appendf(list, "%s", run_id_as);
        } else {
            sqlite3_str_appendf(list, "\"%w\"", column);
        }
    }
    sqlite3_finalize(stmt);
    return 0;
}

/* The INSERT ... SELECT and the DELETE for one table; NULL when it has no
 * run_id. */
static int merge_table_sql(met_db *db, const char *table, merge_table *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_str *names = sqlite3_str_new(db->sql);
    sqlite3_str *values = sqlite3_str_new(db->sql);
    bool has_run_id = false;
    int rc = merge_columns(db, table, "run_id", names, &has_run_id);
    if (rc == 0) {
        rc = merge_columns(db, table, "?1", values, &has_run_id);
    }
    char *name_list = sqlite3_str_finish(names);
    char *value_list = sqlite3_str_finish(values);
    if (rc == 0 && (name_list == NULL || value_list == NULL)) {
        rc = met__sql_error(db, "merge: out of memory");
    }
    if (rc == 0 && has_run_id) {
        out->copy_sql = sqlite3_mprintf("INSERT INTO main.\"%w\" (%s) SELECT %s FROM"
                                        " src.\"%w\" WHERE run_id = ?2 ORDER BY rowid",
                                        table, name_list, value_list, table);
        out->delete_sql = sqlite3_mprintf("DELETE FROM main.\"%w\" WHERE run_id = ?1", table);
        if (out->copy_sql == NULL || out->delete_sql == NULL) {
            sqlite3_free(out->copy_sql);
            sqlite3_free(out->delete_sql);
            memset(out, 0, sizeof(*out));
            rc = met__sql_error(db, "merge: out of memory");
        }
    }
    sqlite3_free(name_list);
    sqlite3_free(value_list);
    return rc;
}

/* Every table with a run_id column (but runs), and the runs copy. */
static int merge_plan_build(met_db *db, merge_plan *plan)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sweep_prepare(db,
                           "SELECT name FROM main.sqlite_master WHERE type = 'table'"
                           " AND name NOT IN ('runs', 'meta', 'sweeps', 'student_t')"
                           " AND name NOT LIKE 'sqlite_%' ORDER BY name",
                           &stmt, "merge: list tables");
    while (rc == 0 && sqlite3_step(stmt) == SQLITE_ROW) {
        merge_table table;
        rc = merge_table_sql(db, (const char *)sqlite3_column_text(stmt, 0), &table);
        if (rc == 0 && table.copy_sql != NULL) {
            if (plan->count == MERGE_TABLES_MAX) {
                sqlite3_free(table.copy_sql);
                sqlite3_free(table.delete_sql);
                met__set_error(db, "merge: too many tables");
                rc = MET_ESQL;
            } else {
                plan->tables[plan->count++] = table;
            }
        }
    }
    sqlite3_finalize(stmt);
    sqlite3_str *names = sqlite3_str_new(db->sql);
    bool has_run_id = false;
    if (rc == 0) {
        rc = merge_columns(db, "runs", NULL, names, &has_run_id);
    }
    char *list = sqlite3_str_finish(names);
    if (rc == 0 && list != NULL) {
        plan->run_copy_sql = sqlite3_mprintf("INSERT INTO main.runs (%s) SELECT %s FROM"
                                             " src.runs WHERE run_id = ?1",
                                             list, list);
    }
    sqlite3_free(list);
    if (rc == 0 && plan->run_copy_sql == NULL) {
        rc = met__sql_error(db, "merge: out of memory");
    }
    return rc;
}

/* The source's sweeps, matched or added by scenario_sha256. */
static int merge_sweeps(met_db *db)
{
    return sweep_exec(db,
                      "INSERT OR IGNORE INTO main.sweeps (name, scenario_sha256, spec, seeds,"
                      " points, created_at) SELECT name, scenario_sha256, spec, seeds, points,"
                      " created_at FROM src.sweeps ORDER BY sweep_id",
                      "merge: sweeps");
}

/* Whether main already has this run (see met_merge_stats). */
static int merge_is_duplicate(met_db *db, sqlite3_stmt *source_run, const char *point,
                              const char *status)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sweep_prepare(db,
                           "SELECT 1 FROM main.runs WHERE scenario_sha256 IS ?1 AND seed IS ?2"
                           " AND coalesce(point, '') = coalesce(?3, '')"
                           " AND (status = 'completed' OR status = ?4) LIMIT 1",
                           &stmt, "merge: find duplicate");
    if (rc != 0) {
        return rc;
    }
    sqlite3_bind_value(stmt, 1, sqlite3_column_value(source_run, 1));
    sqlite3_bind_value(stmt, 2, sqlite3_column_value(source_run, 2));
    sweep_bind_text(stmt, 3, point);
    sweep_bind_text(stmt, 4, status);
    rc = sqlite3_step(stmt);
    int result = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : met__sql_error(db, "merge");
    sqlite3_finalize(stmt);
    return result;
}

/* Runs one statement of the plan with (?1, ?2) bound (a DELETE has no ?2). */
static int merge_exec(met_db *db, const char *sql, int64_t first, int64_t second)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sweep_prepare(db, sql, &stmt, "merge: copy");
    if (rc != 0) {
        return rc;
    }
    sqlite3_bind_int64(stmt, 1, first);
    sqlite3_bind_int64(stmt, 2, second);
    return sweep_run(db, stmt, "merge: copy");
}

/* Points the copied run at main's sweep (by the source sweep's hash),
 * and fixes a run left 'running' in the source. */
static int merge_run_fix(met_db *db, int64_t run_id, bool incomplete, const char *error)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sweep_prepare(db,
                           "UPDATE main.runs SET sweep_id = (SELECT m.sweep_id FROM main.sweeps m"
                           " JOIN src.sweeps s ON s.scenario_sha256 = m.scenario_sha256"
                           " WHERE s.sweep_id = main.runs.sweep_id),"
                           " status = CASE WHEN ?2 THEN 'failed' ELSE status END,"
                           " error = CASE WHEN ?2 THEN ?3 ELSE error END WHERE run_id = ?1",
                           &stmt, "merge: fix run");
    if (rc != 0) {
        return rc;
    }
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_int(stmt, 2, incomplete ? 1 : 0);
    sweep_bind_text(stmt, 3, error);
    return sweep_run(db, stmt, "merge: fix run");
}

/* The run id in main of an earlier copy of this very run, taken while it
 * was still 'running' in a source on another host and so copied as
 * 'failed': the same scenario, seed and point, written by the same process
 * (host, pid, start) and started at the same moment. 1 with *run_id_out
 * set, 0 when main holds none, or an error. */
static int merge_find_early_copy(met_db *db, sqlite3_stmt *source_run, const char *point,
                                 int64_t *run_id_out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sweep_prepare(db,
                           "SELECT run_id FROM main.runs WHERE scenario_sha256 IS ?1 AND seed IS ?2"
                           " AND coalesce(point, '') = coalesce(?3, '') AND status = 'failed'"
                           " AND writer = ?4 AND started_at = ?5 LIMIT 1",
                           &stmt, "merge: find an early copy");
    if (rc != 0) {
        return rc;
    }
    sqlite3_bind_value(stmt, 1, sqlite3_column_value(source_run, 1));
    sqlite3_bind_value(stmt, 2, sqlite3_column_value(source_run, 2));
    sweep_bind_text(stmt, 3, point);
    sqlite3_bind_value(stmt, 4, sqlite3_column_value(source_run, 6));
    sqlite3_bind_value(stmt, 5, sqlite3_column_value(source_run, 7));
    rc = sqlite3_step(stmt);
    int result = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : met__sql_error(db, "merge");
    if (result == 1) {
        *run_id_out = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return result;
}

/* Drops run 'run_id' and its rows from main. */
static int merge_drop(met_db *db, const merge_plan *plan, int64_t run_id)
{
    int rc = 0;
    for (size_t i = 0; i < plan->count && rc == 0; i++) {
        rc = merge_exec(db, plan->tables[i].delete_sql, run_id, 0);
    }
    return rc != 0 ? rc : merge_exec(db, "DELETE FROM main.runs WHERE run_id = ?1", run_id, 0);
}

/* A run that has ended in the source replaces main's copy of it taken
 * while it was still running elsewhere (see merge_find_early_copy). */
static int merge_replace_early_copy(met_db *db, const merge_plan *plan,
                                    sqlite3_stmt *source_run, const char *point,
                                    met_merge_stats *stats)
{
    const char *status = (const char *)sqlite3_column_text(source_run, 4);
    if (status == NULL || strcmp(status, "failed") == 0 ||
        sqlite3_column_type(source_run, 6) == SQLITE_NULL) {
        return 0; /* nothing newer than a failed copy, or no writer to tell runs apart */
    }
    int64_t early = 0;
    int rc = merge_find_early_copy(db, source_run, point, &early);
    if (rc != 1) {
        return rc;
    }
    rc = merge_drop(db, plan, early);
    stats->replaced += rc == 0 ? 1 : 0;
    return rc;
}

/* Copies one source run (the current row of 'source_run': run_id,
 * scenario_sha256, seed, point, status, sweep_id, writer, started_at)
 * unless main has it, or it is still going in a live process (merged once
 * it ends). */
static int merge_one(met_db *db, const merge_plan *plan, sqlite3_stmt *source_run,
                     const met_merge_tag *tag, met_merge_stats *stats)
{
    int64_t source_id = sqlite3_column_int64(source_run, 0);
    const char *point = (const char *)sqlite3_column_text(source_run, 3);
    const char *status = (const char *)sqlite3_column_text(source_run, 4);
    bool tagged = tag != NULL && sqlite3_column_type(source_run, 5) == SQLITE_NULL;
    bool incomplete = status != NULL && strcmp(status, "running") == 0;
    if (incomplete &&
        met__writer_state((const char *)sqlite3_column_text(source_run, 6)) == MET_WRITER_ALIVE) {
        stats->running += 1;
        return 0;
    }
    if (tagged) {
        point = tag->point;
    }
    int rc = incomplete ? 0 : merge_replace_early_copy(db, plan, source_run, point, stats);
    if (rc == 0) {
        rc = merge_is_duplicate(db, source_run, point, incomplete ? "failed" : status);
    }
    if (rc != 0) {
        stats->skipped += rc == 1 ? 1 : 0;
        return rc == 1 ? 0 : rc;
    }
    if ((rc = merge_exec(db, plan->run_copy_sql, source_id, 0)) != 0) {
        return rc;
    }
    int64_t run_id = sqlite3_last_insert_rowid(db->sql);
    for (size_t i = 0; i < plan->count && rc == 0; i++) {
        rc = merge_exec(db, plan->tables[i].copy_sql, run_id, source_id);
    }
    const char *error = tag != NULL && tag->incomplete_error != NULL
                            ? tag->incomplete_error
                            : "incomplete: still 'running' in the merged file";
    if (rc == 0) {
        rc = merge_run_fix(db, run_id, incomplete, error);
    }
    if (rc == 0 && tagged) {
        rc = sweep_tag(db, run_id, tag->sweep_id, tag->point, tag->keys, tag->values,
                       tag->count);
    }
    if (rc == 0) {
        stats->copied += 1;
        stats->incomplete += incomplete ? 1 : 0;
        stats->last_run_id = run_id;
    }
    return rc;
}

static int merge_runs(met_db *db, const met_merge_tag *tag, met_merge_stats *stats)
{
    merge_plan plan;
    memset(&plan, 0, sizeof(plan));
    sqlite3_stmt *runs = NULL;
    int rc = merge_plan_build(db, &plan);
    if (rc == 0) {
        rc = merge_sweeps(db);
    }
    if (rc == 0) {
        rc = sweep_prepare(db,
                           "SELECT run_id, scenario_sha256, seed, point, status, sweep_id,"
                           " writer, started_at FROM src.runs ORDER BY run_id",
                           &runs, "merge: list runs");
    }
    while (rc == 0) {
        int step = sqlite3_step(runs);
        if (step == SQLITE_DONE) {
            break;
        }
        rc = step == SQLITE_ROW ? merge_one(db, &plan, runs, tag, stats)
                                : met__sql_error(db, "merge: list runs");
    }
    sqlite3_finalize(runs);
    merge_plan_free(&plan);
    return rc;
}

/* Opens 'source' once as a results database: refuses what met_db_open
 * refuses and brings an older schema up to this build's. The reason is
 * kept without met_db_open's "source: " (the caller names the source). */
static int merge_source_check(met_db *db, const char *source)
{
    char why[MET_ERRMSG_MAX];
    met_db *check = NULL;
    int rc = met_db_open(source, &check, why, sizeof(why));
    if (rc != 0) {
        size_t length = strlen(source);
        bool named = strncmp(why, source, length) == 0 && strncmp(why + length, ": ", 2) == 0;
        met__set_error(db, named ? why + length + 2 : why);
        return rc;
    }
    met_db_close(check);
    return 0;
}

int met_merge(met_db *db, const char *source, const met_merge_tag *tag,
              met_merge_stats *stats)
{
    ASSERT(db != NULL && source != NULL && stats != NULL);
    memset(stats, 0, sizeof(*stats));
    int rc = met_flush(db);
    if (rc == 0) {
        rc = merge_source_check(db, source);
    }
    if (rc != 0) {
        return rc;
    }
    sqlite3_stmt *attach = NULL;
    rc = sweep_prepare(db, "ATTACH DATABASE ?1 AS src", &attach, "merge: attach");
    if (rc != 0) {
        return rc;
    }
    sweep_bind_text(attach, 1, source);
    if ((rc = sweep_run(db, attach, "merge: attach")) != 0) {
        return rc;
    }
    rc = sweep_exec(db, "BEGIN IMMEDIATE", "merge: begin");
    if (rc == 0) {
        rc = merge_runs(db, tag, stats);
        if (rc == 0) {
            rc = sweep_exec(db, "COMMIT", "merge: commit");
        }
        if (rc != 0) {
            sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
            memset(stats, 0, sizeof(*stats));
        }
    }
    sqlite3_exec(db->sql, "DETACH DATABASE src", NULL, NULL, NULL);
    return rc;
}
