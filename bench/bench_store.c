/* bench_store.c -- what storing a large run's rows costs: the decisions
 * rows of a committee run (five members a hop, node ids spread over the
 * network, every third row of another verdict) written through the
 * metrics module into a fresh database, against the floor measured in the
 * same run: the same values through one prepared INSERT into a table of
 * the same columns with no key, index or check, committed as often. The
 * ratio is what the schema and the module add. Wall-clock reads are
 * allowed in bench/. */
#include "bench/bench_store.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "metrics/met.h"

#define BENCH_STORE_ROWS 400000u
#define BENCH_STORE_NODES 100000u
#define BENCH_STORE_COMMIT_ROWS 4096u

static met_decision_row bench_store_row(uint32_t i)
{
    static const char *const verdicts[] = {"agreed", "agreed", "deviated"};
    uint32_t hop = i / 5;
    return (met_decision_row){
        .request_id = hop / 8,
        .segment = (hop / 4) % 2,
        .step = hop % 4,
        .round = 0,
        .member = i % 5,
        .protocol = "committee",
        .member_count = 5,
        .node_id = (uint32_t)(((uint64_t)i * 2654435761u) % BENCH_STORE_NODES),
        .role = "member",
        .behaviour = "honest",
        .t_ns = (uint64_t)i * 1000u,
        .action = "settle",
        .committed = 1,
        .answered = 1,
        .valid = 1,
        .equivocated = 0,
        .verdict = verdicts[i % 3],
        .accepted = i % 3 != 2,
        .dispute = "none",
        .spot_check = -1,
        .reputation_before = 1.0,
        .reputation_after = 1.0,
        .stake_before = 1.0,
        .stake_after = 1.0,
        .skipped = -1,
    };
}

/* Seconds to write the rows through the metrics module; -1 on failure.
 * With 'bulk', between met_rows_begin and met_rows_end as a run's store
 * is (the fresh table's per-node index built at the end, timed); without,
 * one index insert per row, as into a table that already holds rows. */
static double bench_store_module(const char *path, bool bulk)
{
    met_db *db = NULL;
    char why[256];
    if (met_db_open(path, &db, why, sizeof(why)) != 0) {
        fprintf(stderr, "bench: %s\n", why);
        return -1.0;
    }
    met_run_info info = {"bench_store", "", "", "sim", 1, BENCH_STORE_NODES};
    int64_t run_id = 0;
    int rc = met_run_begin(db, &info, NULL, 0, &run_id);
    double start = bench_util_now_s();
    rc = rc == 0 && bulk ? met_rows_begin(db) : rc;
    for (uint32_t i = 0; rc == 0 && i < BENCH_STORE_ROWS; i++) {
        met_decision_row row = bench_store_row(i);
        rc = met_decisions_add(db, run_id, &row, 1);
    }
    rc = rc == 0 && bulk ? met_rows_end(db) : rc;
    rc = rc == 0 ? met_flush(db) : rc;
    double elapsed = bench_util_now_s() - start;
    if (rc != 0) {
        fprintf(stderr, "bench: store: %s\n", met_db_errmsg(db));
    }
    met_db_close(db);
    return rc == 0 ? elapsed : -1.0;
}

static int bench_store_exec(sqlite3 *sql, const char *statement)
{
    return sqlite3_exec(sql, statement, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static void bench_store_bind(sqlite3_stmt *stmt, const met_decision_row *row)
{
    int k = 1;
    sqlite3_bind_int64(stmt, k++, 1);
    sqlite3_bind_int64(stmt, k++, (int64_t)row->request_id);
    sqlite3_bind_int64(stmt, k++, row->segment);
    sqlite3_bind_int64(stmt, k++, row->step);
    sqlite3_bind_int64(stmt, k++, row->round);
    sqlite3_bind_int64(stmt, k++, row->member);
    sqlite3_bind_text(stmt, k++, row->protocol, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, k++, row->member_count);
    sqlite3_bind_int64(stmt, k++, row->node_id);
    sqlite3_bind_text(stmt, k++, row->role, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, k++, row->behaviour, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, k++, (int64_t)row->t_ns);
    sqlite3_bind_text(stmt, k++, row->action, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, k++, row->committed);
    sqlite3_bind_int(stmt, k++, row->answered);
    sqlite3_bind_int(stmt, k++, row->valid);
    sqlite3_bind_int(stmt, k++, row->equivocated);
    sqlite3_bind_text(stmt, k++, row->verdict, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, k++, row->accepted);
    sqlite3_bind_text(stmt, k++, row->dispute, -1, SQLITE_STATIC);
    sqlite3_bind_null(stmt, k++);
    sqlite3_bind_double(stmt, k++, row->reputation_before);
    sqlite3_bind_double(stmt, k++, row->reputation_after);
    sqlite3_bind_double(stmt, k++, row->stake_before);
    sqlite3_bind_double(stmt, k++, row->stake_after);
    sqlite3_bind_null(stmt, k);
}

/* Seconds to write the same values into a bare table; -1 on failure. */
static double bench_store_bare(const char *path)
{
    sqlite3 *sql = NULL;
    sqlite3_stmt *stmt = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &sql, flags, NULL) == SQLITE_OK ? 0 : -1;
    rc = rc == 0 ? bench_store_exec(sql, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                         " CREATE TABLE bare (a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,"
                                         " p,q,r,s,t,u,v,w,x,y,z)")
                 : rc;
    if (rc == 0 && sqlite3_prepare_v2(sql,
                                      "INSERT INTO bare VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
                                      "?,?,?,?,?,?,?,?,?,?)",
                                      -1, &stmt, NULL) != SQLITE_OK) {
        rc = -1;
    }
    double start = bench_util_now_s();
    for (uint32_t i = 0; rc == 0 && i < BENCH_STORE_ROWS; i++) {
        if (i % BENCH_STORE_COMMIT_ROWS == 0) {
            rc = bench_store_exec(sql, i == 0 ? "BEGIN" : "COMMIT; BEGIN");
        }
        met_decision_row row = bench_store_row(i);
        bench_store_bind(stmt, &row);
        rc = rc == 0 && sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
        sqlite3_reset(stmt);
    }
    rc = rc == 0 ? bench_store_exec(sql, "COMMIT") : rc;
    double elapsed = bench_util_now_s() - start;
    if (rc != 0) {
        fprintf(stderr, "bench: store floor: %s\n", sqlite3_errmsg(sql));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(sql);
    return rc == 0 ? elapsed : -1.0;
}

int bench_store_run(void)
{
    char path[] = "/tmp/infersim-bench-store-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("bench: mkstemp");
        return 1;
    }
    close(fd);
    met_db_remove(path);
    /* The module first: its first open sets SQLite's process-wide options
     * (no memory statistics), as in infersim, and the floor then runs
     * under them too, on a connection without a mutex like the module's. */
    double module = bench_store_module(path, true);
    met_db_remove(path);
    double bare = module > 0 ? bench_store_bare(path) : -1.0;
    met_db_remove(path);
    double indexed = module > 0 ? bench_store_module(path, false) : -1.0;
    met_db_remove(path);
    if (bare <= 0 || module <= 0 || indexed <= 0) {
        printf("store      failed\n");
        return 1;
    }
    printf("store      decisions rows=%u  us/row=%.2f  bare table us/row=%.2f  "
           "(%.2f x the bare table; a run's store: the per-node index built at the end)\n",
           BENCH_STORE_ROWS, module * 1e6 / BENCH_STORE_ROWS, bare * 1e6 / BENCH_STORE_ROWS,
           module / bare);
    printf("store      decisions rows=%u  us/row=%.2f  (%.2f x the bare table, %.2f x the run's"
           " store: one index insert a row, as into a table that holds rows)\n",
           BENCH_STORE_ROWS, indexed * 1e6 / BENCH_STORE_ROWS, indexed / bare, indexed / module);
    return 0;
}
