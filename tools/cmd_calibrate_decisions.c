/* cmd_calibrate_decisions.c -- calibrate's comparison of what the two
 * worlds decided: per request, the accepted outputs (the request's status,
 * whether its output matched the reference, and the member each settled
 * step accepted, in step order) and the penalties (each verdict other
 * than agreed, with its member), read from the requests and decisions
 * rows of the simulated and the emulated testbed run. A request whose
 * figures differ is a mismatch. With verification.draw_epoch both worlds
 * draw every committee from the same settled state, so when no fault
 * depends on timing (the network's faults, lazy_copy, adaptive) and the
 * draw does not (selection vrf: its epoch is the submission time's) the
 * decisions must be identical: then, or with --expect-same-decisions, a
 * mismatch fails the check. The counts, and each mismatch, are params of
 * both runs (calibrate.decision*), so `infersim report` shows them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tool.h"
#include "util/alloc.h"

/* One request as one world decided it. */
typedef struct decision_row {
    int64_t request;
    char *status;                    /* completed, failed, ... */
    char *output;                    /* "right", "wrong" or "-" (not compared) */
    char *accepted;                  /* "s<segment>.<step>.<round>:<node> ..." */
    char *penalties;                 /* "<node>:<verdict>@s<segment>.<step> ..." */
} decision_row;

typedef struct decision_rows {
    decision_row *rows;
    size_t count;
    size_t capacity;
    bool failed;
} decision_rows;

static const char decision_sql[] =
    "SELECT r.request_id, coalesce(r.status, '-'),"
    " CASE WHEN r.reference_match IS NULL THEN '-' WHEN r.reference_match = 1 THEN 'right'"
    " ELSE 'wrong' END,"
    " (SELECT group_concat(x, ' ') FROM (SELECT 's' || segment || '.' || step || '.' || round"
    "  || ':' || node_id AS x FROM decisions d WHERE d.run_id = r.run_id"
    "  AND d.request_id = r.request_id AND d.action = 'settle' AND d.accepted = 1"
    "  ORDER BY step, segment, round)),"
    " (SELECT group_concat(x, ' ') FROM (SELECT node_id || ':' || verdict || '@s' || segment"
    "  || '.' || step AS x FROM decisions d WHERE d.run_id = r.run_id"
    "  AND d.request_id = r.request_id AND d.verdict IN ('deviated', 'proven', 'timeout')"
    "  ORDER BY step, segment, round, member))"
    " FROM requests r WHERE r.run_id = ?1 ORDER BY r.request_id";

static char *decision_text(const met_value *value)
{
    const char *text = value->is_null || value->text == NULL ? "-" : value->text;
    size_t size = strlen(text) + 1;
    char *copy = util_malloc(size);
    if (copy != NULL) {
        memcpy(copy, text, size);
    }
    return copy;
}

static int decision_row_add(void *context, size_t count, const met_value *values)
{
    decision_rows *rows = context;
    if (count < 5) {
        return 0;
    }
    if (rows->count == rows->capacity) {
        size_t capacity = rows->capacity != 0 ? rows->capacity * 2 : 64;
        decision_row *grown = util_realloc(rows->rows, capacity * sizeof(*grown));
        if (grown == NULL) {
            rows->failed = true;
            return 1;
        }
        rows->rows = grown;
        rows->capacity = capacity;
    }
    decision_row *row = &rows->rows[rows->count++];
    row->request = (int64_t)values[0].number;
    row->status = decision_text(&values[1]);
    row->output = decision_text(&values[2]);
    row->accepted = decision_text(&values[3]);
    row->penalties = decision_text(&values[4]);
    if (row->status == NULL || row->output == NULL || row->accepted == NULL ||
        row->penalties == NULL) {
        rows->failed = true;
        return 1;
    }
    return 0;
}

static void decision_rows_free(decision_rows *rows)
{
    for (size_t i = 0; i < rows->count; i++) {
        util_free(rows->rows[i].status);
        util_free(rows->rows[i].output);
        util_free(rows->rows[i].accepted);
        util_free(rows->rows[i].penalties);
    }
    util_free(rows->rows);
}

static int decision_read(met_db *db, int64_t run_id, decision_rows *rows)
{
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)run_id);
    const char *params[1] = {id};
    int rc = met_query(db, decision_sql, params, 1, decision_row_add, rows);
    return rc != 0 || rows->failed ? -1 : 0;
}

static bool decision_same(const decision_row *a, const decision_row *b)
{
    return a != NULL && b != NULL && strcmp(a->status, b->status) == 0 &&
           strcmp(a->output, b->output) == 0 && strcmp(a->accepted, b->accepted) == 0 &&
           strcmp(a->penalties, b->penalties) == 0;
}

static const decision_row *decision_find(const decision_rows *rows, int64_t request)
{
    for (size_t i = 0; i < rows->count; i++) {
        if (rows->rows[i].request == request) {
            return &rows->rows[i];
        }
    }
    return NULL;
}

/* "completed right s0.0.0:3 ... | penalties 5:deviated@s0.0" for one side. */
static void decision_describe(const decision_row *row, char *out, size_t size)
{
    if (row == NULL) {
        snprintf(out, size, "(no such request)");
        return;
    }
    snprintf(out, size, "%s %s accepted [%s] penalties [%s]", row->status, row->output,
             row->accepted, row->penalties);
}

bool tool_calibrate_timing_dependent(const scn_scenario *scenario)
{
    if (scenario->verification.draw_epoch == 0 || scenario->verification.selection_vrf) {
        return true;
    }
    for (uint32_t i = 0; i < scenario->fault_count; i++) {
        scn_fault_kind kind = scenario->faults[i].kind;
        if (!scn_fault_kinds[kind].byzantine || kind == SCN_FAULT_LAZY_COPY ||
            kind == SCN_FAULT_ADAPTIVE) {
            return true;
        }
    }
    return false;
}

/* Prints one request's line (every request, or only mismatches when
 * quiet) and stores a mismatch as a param of both runs. */
static int decision_one(met_db *db, int64_t sim_id, int64_t bed_id, const decision_row *sim,
                        const decision_row *bed, int64_t request, bool quiet, uint64_t *mismatched)
{
    bool same = decision_same(sim, bed);
    char left[1024], right[1024];
    decision_describe(sim, left, sizeof(left));
    decision_describe(bed, right, sizeof(right));
    if (!quiet || !same) {
        printf("request %lld%s\n  simulator: %s\n  testbed:   %s\n", (long long)request,
               same ? "" : "  DIFFERS", left, right);
    }
    if (same) {
        return 0;
    }
    *mismatched += 1;
    char key[64], value[2100];
    snprintf(key, sizeof(key), "calibrate.decision_mismatch.%lld", (long long)request);
    snprintf(value, sizeof(value), "simulator: %s; testbed: %s", left, right);
    int rc = met_param_set(db, sim_id, key, value);
    return rc != 0 ? rc : met_param_set(db, bed_id, key, value);
}

int tool_calibrate_decisions(met_db *db, int64_t sim_id, int64_t bed_id, bool quiet,
                             tool_calibrate_verdicts *out)
{
    decision_rows sim = {0}, bed = {0};
    memset(out, 0, sizeof(*out));
    int rc = decision_read(db, sim_id, &sim);
    rc = rc != 0 ? rc : decision_read(db, bed_id, &bed);
    if (rc == 0 && !quiet) {
        printf("decisions, per request (accepted: s<segment>.<step>.<round>:<node>; "
               "penalties: <node>:<verdict>@s<segment>.<step>):\n");
    }
    for (size_t i = 0; rc == 0 && i < sim.count; i++) {
        const decision_row *row = &sim.rows[i];
        rc = decision_one(db, sim_id, bed_id, row, decision_find(&bed, row->request),
                          row->request, quiet, &out->mismatched);
        out->compared += 1;
    }
    for (size_t i = 0; rc == 0 && i < bed.count; i++) {
        if (decision_find(&sim, bed.rows[i].request) == NULL) {
            rc = decision_one(db, sim_id, bed_id, NULL, &bed.rows[i], bed.rows[i].request,
                              quiet, &out->mismatched);
            out->compared += 1;
        }
    }
    decision_rows_free(&sim);
    decision_rows_free(&bed);
    return rc;
}
