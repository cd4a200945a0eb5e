/* met_int.h -- private declarations shared by metrics/met.c (open, schema,
 * batched writes) and metrics/met_export.c (runs list, export). Not part of
 * the public contract: only files in metrics/ include it. */
#ifndef MET_MET_INT_H
#define MET_MET_INT_H

#include <sqlite3.h>
#include <stdbool.h>

#include "metrics/met.h"

#define MET_BATCH_ROWS 4096
/* The writer's page cache (128 MiB at most, taken as pages are used) holds
 * the indexes a large run's rows land in at random places; its WAL is
 * checkpointed every 16,384 pages (64 MiB) instead of every 1,000. */
#define MET_WRITER_PRAGMAS " PRAGMA cache_size=-131072; PRAGMA wal_autocheckpoint=16384;"
#define MET_ERRMSG_MAX 512
/* After how long a wait for another connection's lock (MET_BUSY_WAIT_MS,
 * met.h) is said on stderr. */
#define MET_BUSY_NOTICE_MS 2000

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

/* A row that arrived while the caller computes (a sample or a fault of a
 * running simulation), held until it is written (met.c, rows in waiting). */
typedef struct met_pending_row {
    bool fault;                      /* a faults row; else a timeseries row */
    int64_t run_id;
    uint64_t t_ns;
    double value;                    /* timeseries */
    uint32_t fault_index;            /* faults */
    uint32_t nodes_affected;         /* faults */
    uint32_t text[3];                /* offsets into pending_text (name; or kind, action,
                                      * detail), MET_PENDING_NULL for NULL */
} met_pending_row;

#define MET_PENDING_NULL UINT32_MAX

struct met_db {
    sqlite3 *sql;
    sqlite3_stmt *stmts[MET_STMT_COUNT];
    int batch_open;                  /* a BEGIN is outstanding */
    size_t batch_rows;               /* rows written since that BEGIN */
    met_pending_row *pending;        /* MET_BATCH_ROWS, allocated on first use */
    size_t pending_count;
    char *pending_text;              /* the pending rows' strings, NUL-terminated */
    size_t pending_text_used;
    size_t pending_text_size;
    bool bulk_open;                  /* met_rows_begin ran, met_rows_end not yet */
    char *path;                      /* as opened: for the notice of a long wait */
    uint32_t busy_waited_ms;         /* in the current wait for a lock */
    bool busy_noticed;               /* the notice was printed */
    const volatile sig_atomic_t *stop; /* met_db_stop_on's signal count, or NULL */
    sig_atomic_t stop_seen;          /* its value at that call */
    bool busy_stopped;               /* a wait gave up for a signal */
    int sql_code;                    /* primary SQLite code of the last error */
    char errmsg[MET_ERRMSG_MAX];     /* last error, for met_db_errmsg */
};

/* Who writes a run (runs.writer, schema 20): "HOST PID START". */
#define MET_WRITER_MAX 320

typedef enum met_writer_state {
    MET_WRITER_ALIVE,                /* the process is still running on this host */
    MET_WRITER_GONE,                 /* it is not (or no writer was recorded) */
    MET_WRITER_ELSEWHERE,            /* another host: cannot tell */
} met_writer_state;

/* This process as a writer, or "" when it cannot be told. Cannot fail. */
void met__writer_self(char *out, size_t size);
/* Whether the writer 'writer' (NULL: none recorded) is still running. */
met_writer_state met__writer_state(const char *writer);

/* Records SQLite's current error message (prefixed with 'what') in
 * db->errmsg and returns MET_ESQL. Cannot fail. */
int met__sql_error(met_db *db, const char *what);

/* Records a message of our own in db->errmsg. Cannot fail. */
void met__set_error(met_db *db, const char *message);

#endif
