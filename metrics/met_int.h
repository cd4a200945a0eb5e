/* met_int.h -- private declarations shared by metrics/met.c (open, schema,
 * batched writes) and metrics/met_export.c (runs list, export). Not part of
 * the public contract: only files in metrics/ include it. */
#ifndef MET_MET_INT_H
#define MET_MET_INT_H

#include <sqlite3.h>

#include "metrics/met.h"

#define MET_BATCH_ROWS 4096
/* The writer's page cache (128 MiB at most, taken as pages are used) holds
 * the indexes a large run's rows land in at random places; its WAL is
 * checkpointed every 16,384 pages (64 MiB) instead of every 1,000. */
#define MET_WRITER_PRAGMAS " PRAGMA cache_size=-131072; PRAGMA wal_autocheckpoint=16384;"
#define MET_ERRMSG_MAX 512

/* Cached prepared statements, prepared lazily on first use. */
typedef enum met_stmt_id {
    MET_STMT_RUN_INSERT = 0,
    MET_STMT_PARAM_INSERT,
    MET_STMT_TIMESERIES_INSERT,
    MET_STMT_FAULT_INSERT,
    MET_STMT_NODE_INSERT,
    MET_STMT_MESSAGE_INSERT,
    MET_STMT_METRIC_INSERT,
    MET_STMT_EXPECT_INSERT,
    MET_STMT_REQUEST_INSERT,
    MET_STMT_SEGMENT_INSERT,
    MET_STMT_EXECUTION_INSERT,
    MET_STMT_DECISION_INSERT,
    MET_STMT_DIVERGENCE_INSERT,
    MET_STMT_VIOLATION_INSERT,
    MET_STMT_PRIVACY_INSERT,
    MET_STMT_WEIGHTS_INSERT,
    MET_STMT_BLOCK_INSERT,
    MET_STMT_VIEW_CHANGE_INSERT,
    MET_STMT_CHURN_INSERT,
    MET_STMT_RUN_FINISH,
    MET_STMT_RUN_EXISTS,
    MET_STMT_COUNT
} met_stmt_id;

struct met_db {
    sqlite3 *sql;
    sqlite3_stmt *stmts[MET_STMT_COUNT];
    int batch_open;                  /* a BEGIN is outstanding */
    size_t batch_rows;               /* rows written since that BEGIN */
    bool bulk_open;                  /* met_rows_begin ran, met_rows_end not yet */
    int sql_code;                    /* primary SQLite code of the last error */
    char errmsg[MET_ERRMSG_MAX];     /* last error, for met_db_errmsg */
};

/* Records SQLite's current error message (prefixed with 'what') in
 * db->errmsg and returns MET_ESQL. Cannot fail. */
int met__sql_error(met_db *db, const char *what);

/* Records a message of our own in db->errmsg. Cannot fail. */
void met__set_error(met_db *db, const char *message);

#endif
