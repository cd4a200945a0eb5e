/* bench_testbed.c -- the testbed on loopback beside the simulator's
 * prediction for the same scenario (scenarios/testbed_small.yaml, 7 node
 * processes):
 *   1. the scenario's own workload simulated, then replayed in real time by
 *      `infersim testbed`: request latency p50 and p99 of both, and their
 *      ratio (testbed / simulator);
 *   2. the testbed's capacity: `infersim client` with 8 requests in flight,
 *      requests per second and latency p50 and p99;
 *   3. `infersim calibrate` on scenarios/calibrate_regions.yaml (regions
 *      5-90 ms apart, emulated links): p50 and p99 of the simulator and of
 *      the emulated testbed, their ratio, and the KS statistic.
 * Runs the real binary (INFERSIM_BIN, default build/infersim); wall clocks
 * and processes are fine here: bench/ is not simulation code. */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_testbed.h"
#include "bench/bench_util.h"
#include "scenarios/scn.h"
#include "sim/sim.h"
#include "util/hist.h"

#define BENCH_TB_SCENARIO "scenarios/testbed_small.yaml"
#define BENCH_TB_PROCESSES 7

static const char *bench_bin(void)
{
    const char *bin = getenv("INFERSIM_BIN");
    return bin != NULL && bin[0] != '\0' ? bin : "build/infersim";
}

/* p50 and p99 of finished - submitted over completed requests of a run. */
static int bench_db_latency(const char *db_path, int64_t run_id, double *p50_ms, double *p99_ms,
                            uint64_t *count_out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *statement = NULL;
    util_hist hist;
    util_hist_init(&hist);
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT finished_ns - submitted_ns FROM requests WHERE run_id = ? "
                           "AND status = 'completed'",
                           -1, &statement, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_bind_int64(statement, 1, run_id);
    while (sqlite3_step(statement) == SQLITE_ROW) {
        util_hist_add(&hist, (uint64_t)sqlite3_column_int64(statement, 0));
    }
    sqlite3_finalize(statement);
    sqlite3_close(db);
    *p50_ms = (double)util_hist_quantile(&hist, 0.5) / 1e6;
    *p99_ms = (double)util_hist_quantile(&hist, 0.99) / 1e6;
    *count_out = hist.total_count;
    return hist.total_count > 0 ? 0 : -1;
}

static int bench_sim(double *p50_ms, double *p99_ms, uint64_t *completed)
{
    scn_scenario *scenario = NULL;
    world_result *result = NULL;
    if (bench_util_load(BENCH_TB_SCENARIO, NULL, 0, &scenario) != 0) {
        return -1;
    }
    int rc = sim_run(scenario, NULL, NULL, &result);
    if (rc == 0) {
        double p50 = 0, p99 = 0;
        world_result_metric(result, "request_latency_p50", &p50);
        world_result_metric(result, "request_latency_p99", &p99);
        *p50_ms = p50 / 1e6;
        *p99_ms = p99 / 1e6;
        *completed = result->requests_completed;
    }
    world_result_destroy(result);
    scn_destroy(scenario);
    return rc;
}

static int bench_shell(const char *command)
{
    int status = system(command);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts a testbed with HTTP load only, drives it with the client, stops
 * it; the client's run is run 1 of client.db. */
static int bench_capacity(const char *dir, double *rate, double *p50_ms, double *p99_ms)
{
    char command[2048], ports[512];
    snprintf(ports, sizeof(ports), "%s/ports.txt", dir);
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        snprintf(command, sizeof(command),
                 "exec %s testbed %s --processes %d --no-workload --duration 60 --quiet "
                 "--db %s/capacity.db --ports-file %s >/dev/null 2>&1",
                 bench_bin(), BENCH_TB_SCENARIO, BENCH_TB_PROCESSES, dir, ports);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1000 && access(ports, R_OK) != 0; i++) {
        struct timespec pause = {0, 10000000};
        nanosleep(&pause, NULL);
    }
    snprintf(command, sizeof(command),
             "%s client --url $(paste -sd, %s) --requests 400 --concurrency 8 --quiet "
             "--db %s/client.db",
             bench_bin(), ports, dir);
    int rc = bench_shell(command);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    if (rc != 0) {
        return -1;
    }
    char db[512];
    uint64_t count = 0;
    snprintf(db, sizeof(db), "%s/client.db", dir);
    sqlite3 *handle = NULL;
    sqlite3_stmt *statement = NULL;
    *rate = 0;
    if (sqlite3_open_v2(db, &handle, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(handle, "SELECT value FROM metrics WHERE name = 'requests_per_s'", -1,
                           &statement, NULL) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW) {
        *rate = sqlite3_column_double(statement, 0);
    }
    sqlite3_finalize(statement);
    sqlite3_close(handle);
    return bench_db_latency(db, 1, p50_ms, p99_ms, &count);
}

/* 3. calibrate on a region matrix: the simulator's run is 1, the
 * emulated testbed's 2. */
static void bench_calibrate(const char *dir)
{
    char command[2048], db[512];
    double sim_p50 = 0, sim_p99 = 0, tb_p50 = 0, tb_p99 = 0;
    uint64_t sim_done = 0, tb_done = 0;
    snprintf(db, sizeof(db), "%s/calibrate.db", dir);
    snprintf(command, sizeof(command),
             "%s calibrate scenarios/calibrate_regions.yaml --processes 7 --quiet --db %s "
             ">/dev/null 2>&1",
             bench_bin(), db);
    if (bench_shell(command) != 0 || bench_db_latency(db, 1, &sim_p50, &sim_p99, &sim_done) != 0 ||
        bench_db_latency(db, 2, &tb_p50, &tb_p99, &tb_done) != 0) {
        printf("testbed    calibrate  failed\n");
        return;
    }
    printf("testbed    calibrate scenarios/calibrate_regions.yaml (regions 5-90 ms, --emulate): "
           "simulator p50 %.1f ms p99 %.1f ms; emulated testbed p50 %.1f ms p99 %.1f ms; "
           "ratio p50 %.3f x, p99 %.3f x\n",
           sim_p50, sim_p99, tb_p50, tb_p99, tb_p50 / sim_p50, tb_p99 / sim_p99);
}

void bench_testbed_run(void)
{
    char dir[] = "/tmp/infersim-bench-XXXXXX";
    char command[2048], db[512];
    double sim_p50 = 0, sim_p99 = 0, tb_p50 = 0, tb_p99 = 0;
    uint64_t sim_done = 0, tb_done = 0;
    if (mkdtemp(dir) == NULL || bench_sim(&sim_p50, &sim_p99, &sim_done) != 0) {
        printf("testbed    %s  failed (simulator)\n", BENCH_TB_SCENARIO);
        return;
    }
    snprintf(db, sizeof(db), "%s/workload.db", dir);
    snprintf(command, sizeof(command),
             "%s testbed %s --processes %d --quiet --db %s >/dev/null 2>&1", bench_bin(),
             BENCH_TB_SCENARIO, BENCH_TB_PROCESSES, db);
    if (bench_shell(command) != 0 || bench_db_latency(db, 1, &tb_p50, &tb_p99, &tb_done) != 0) {
        printf("testbed    %s  failed (testbed run)\n", BENCH_TB_SCENARIO);
    } else {
        printf("testbed    %s  workload: simulator p50 %.2f ms p99 %.2f ms (%llu completed); "
               "testbed on loopback p50 %.2f ms p99 %.2f ms (%llu completed); "
               "ratio p50 %.2f x, p99 %.2f x\n",
               BENCH_TB_SCENARIO, sim_p50, sim_p99, (unsigned long long)sim_done, tb_p50, tb_p99,
               (unsigned long long)tb_done, tb_p50 / sim_p50, tb_p99 / sim_p99);
    }
    double rate = 0, p50 = 0, p99 = 0;
    if (bench_capacity(dir, &rate, &p50, &p99) != 0) {
        printf("testbed    capacity  failed\n");
    } else {
        printf("testbed    capacity (%d processes, client concurrency 8, 400 requests): "
               "%.1f requests/s, p50 %.2f ms, p99 %.2f ms (p50 %.2f x the simulator's)\n",
               BENCH_TB_PROCESSES, rate, p50, p99, p50 / sim_p50);
    }
    bench_calibrate(dir);
    snprintf(command, sizeof(command), "rm -rf '%s'", dir);
    bench_shell(command);
}
