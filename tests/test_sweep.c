/* test_sweep.c -- the research workflow through the real binary: a sweep
 * runs its grid over seeds in worker processes and aggregates over seeds;
 * it resumes without repeating completed runs; a bad grid key or value
 * stops it before any run; --check exits 1 on a failed expectation;
 * chunked jobs merge without duplicates; the Slurm and GNU parallel
 * files say what they must; plots and reports come out
 * as valid SVG and self-contained HTML with every string escaped; bad
 * usage exits 2 and a missing gnuplot 3. Every sweep is a few tiny runs,
 * so the suite takes seconds, under the sanitizers too. */
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/suites.h"

static char sweep_dir[256];
static char repo_dir[1024];
static char bin[1024];

static void sweep_setup(void)
{
    ck_assert_ptr_nonnull(getcwd(repo_dir, sizeof(repo_dir)));
    const char *given = test_infersim_bin();
    if (given[0] == '/' || realpath(given, bin) == NULL) {
        snprintf(bin, sizeof(bin), "%s", given);
    }
    test_dir_make(sweep_dir, sizeof(sweep_dir), "sweep");
}

static void sweep_teardown(void)
{
    test_dir_remove(sweep_dir);
}

static void sweep_path(char *out, size_t size, const char *name)
{
    test_dir_path(sweep_dir, name, out, size);
}

static void write_text(const char *name, const char *text)
{
    test_dir_write(sweep_dir, name, text);
}

static const char *read_text(const char *name)
{
    return test_dir_read(sweep_dir, name);
}

/* Runs "[ENV] infersim ARGS" in the test folder, output in out.txt and
 * err.txt; returns the exit code. */
static int run_env(const char *env, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int run_env(const char *env, const char *format, ...)
{
    char args[2048], command[4096];
    va_list list;
    va_start(list, format);
    vsnprintf(args, sizeof(args), format, list);
    va_end(list);
    snprintf(command, sizeof(command), "cd '%s' && { %s %s %s; } >out.txt 2>err.txt </dev/null",
             sweep_dir, env, bin, args);
    int status = system(command);
    ck_assert_msg(WIFEXITED(status), "command died: %s", command);
    return WEXITSTATUS(status);
}

#define RUN(...) run_env("", __VA_ARGS__)

/* The rows of one query ('|' between fields, '\n' after rows). */
static const char *query(const char *db_name, const char *sql)
{
    static char text[16384];
    char path[512];
    sqlite3 *db = NULL;
    sqlite3_stmt *statement = NULL;
    size_t used = 0;
    sweep_path(path, sizeof(path), db_name);
    text[0] = '\0';
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &statement, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    while (sqlite3_step(statement) == SQLITE_ROW && used < sizeof(text) - 256) {
        for (int i = 0; i < sqlite3_column_count(statement); i++) {
            const unsigned char *value = sqlite3_column_text(statement, i);
            used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s", i ? "|" : "",
                                     value ? (const char *)value : "NULL");
        }
        used += (size_t)snprintf(text + used, sizeof(text) - used, "\n");
    }
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return text;
}

static int query_int(const char *db_name, const char *sql)
{
    return atoi(query(db_name, sql));
}

/* A gossip network small enough that one run takes milliseconds; the
 * grid: two fanouts x three seeds. */
static const char tiny_yaml[] =
    "name: tiny\n"
    "seed: 7\n"
    "duration: 1s\n"
    "nodes: {count: 20}\n"
    "network: {latency: {model: constant, value: 5ms}, loss: 0.05}\n"
    "workload: {messages: 10, rate: 40/s}\n"
    "expect: {delivery_ratio: \">= 0\"}\n"
    "sweep:\n"
    "  seeds: 3\n"
    "  params:\n"
    "    gossip.fanout: [2, 4]\n";

/* A grid of two values x three seeds runs in worker processes; every run
 * is in the file with its point and values; the view aggregates over the
 * three seeds of each point. */
START_TEST(test_sweep_grid_runs_and_aggregates)
{
    write_text("tiny.yaml", tiny_yaml);
    int code = RUN("sweep tiny.yaml --db s.db --jobs 2");
    ck_assert_msg(code == 0, "exit %d: %s", code, read_text("err.txt"));
    ck_assert_ptr_nonnull(strstr(read_text("out.txt"), "6 completed, 0 failed"));
    ck_assert_ptr_nonnull(strstr(read_text("err.txt"), "sweep: 6/6 runs done"));
    ck_assert_str_eq(query("s.db", "SELECT status, count(*), count(DISTINCT point),"
                                   " min(seed), max(seed), count(DISTINCT sweep_id)"
                                   " FROM runs GROUP BY status"),
                     "completed|6|2|7|9|1\n");
    ck_assert_str_eq(query("s.db", "SELECT point, group_concat(value) FROM ("
                                   "SELECT r.point, v.value FROM runs r JOIN sweep_values v"
                                   " USING (run_id) ORDER BY r.run_id) GROUP BY point"
                                   " ORDER BY point"),
                     "gossip.fanout=2|2,2,2\ngossip.fanout=4|4,4,4\n");
    ck_assert_str_eq(query("s.db", "SELECT name, spec, seeds, points FROM sweeps"),
                     "tiny|gossip.fanout=2,4; seeds=3|3|2\n");
    /* n = 3 per point; the interval holds the mean and the three values. */
    ck_assert_str_eq(query("s.db", "SELECT point, n, t, ci95_low <= mean AND mean <= ci95_high"
                                   " FROM sweep_summary WHERE metric = 'delivery_ratio'"
                                   " ORDER BY point"),
                     "gossip.fanout=2|3|4.3027|1\ngossip.fanout=4|3|4.3027|1\n");
    ck_assert_int_eq(query_int("s.db", "SELECT count(*) FROM sweep_summary s JOIN runs r"
                                       " ON r.point = s.point JOIN metrics m ON m.run_id ="
                                       " r.run_id AND m.name = s.metric WHERE s.metric ="
                                       " 'delivery_ratio' AND s.stddev >= 0 AND (m.value <"
                                       " s.mean - 3 * s.stddev OR m.value > s.mean + 3 *"
                                       " s.stddev)"),
                     0);
    /* The same grid point by hand gives the same scenario hash and rows. */
    code = RUN("run tiny.yaml --db one.db --quiet --set gossip.fanout=4 --seed 8");
    ck_assert_int_eq(code, 0);
    ck_assert_str_eq(query("one.db", "SELECT scenario_sha256, trace_hash FROM runs"),
                     query("s.db", "SELECT scenario_sha256, trace_hash FROM runs"
                                   " WHERE point = 'gossip.fanout=4' AND seed = 8"));
    /* Export knows the new tables; --run does not apply to the view. */
    ck_assert_int_eq(RUN("export --db s.db --table sweep_summary --format csv"), 0);
    ck_assert_ptr_nonnull(strstr(read_text("out.txt"), "sweep_id,point,metric,n,mean"));
    ck_assert_int_eq(RUN("export --db s.db --table sweep_summary --run 1"), 2);
}
END_TEST

/* An interrupted sweep resumes: runs not completed are run again, the
 * completed ones are not repeated. */
START_TEST(test_sweep_resume_skips_completed_runs)
{
    write_text("tiny.yaml", tiny_yaml);
    ck_assert_int_eq(RUN("sweep tiny.yaml --db s.db --jobs 2 --quiet"), 0);
    /* As if the sweep had been killed: two runs never finished. */
    char path[512];
    sqlite3 *db = NULL;
    sweep_path(path, sizeof(path), "s.db");
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "UPDATE runs SET status = 'running' WHERE run_id IN (2, 5)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    int code = RUN("sweep tiny.yaml --db s.db --jobs 2 --quiet");
    ck_assert_msg(code == 0, "exit %d: %s", code, read_text("err.txt"));
    ck_assert_ptr_nonnull(strstr(read_text("out.txt"), "2 completed, 0 failed, 4 already done"));
    ck_assert_str_eq(query("s.db", "SELECT count(*), count(DISTINCT point || seed)"
                                   " FROM runs WHERE status = 'completed'"),
                     "6|6\n");
    /* The two new runs are exactly the two unfinished ones. */
    ck_assert_str_eq(query("s.db", "SELECT group_concat(point || '/' || seed, ',') FROM"
                                   " (SELECT point, seed FROM runs WHERE run_id > 6"
                                   " ORDER BY point, seed)"),
                     query("s.db", "SELECT group_concat(point || '/' || seed, ',') FROM"
                                   " (SELECT point, seed FROM runs WHERE run_id IN (2, 5)"
                                   " ORDER BY point, seed)"));
    /* Nothing left: a third time runs nothing. */
    ck_assert_int_eq(RUN("sweep tiny.yaml --db s.db --quiet"), 0);
    ck_assert_ptr_nonnull(strstr(read_text("out.txt"), "0 completed, 0 failed, 6 already done"));
    ck_assert_int_eq(query_int("s.db", "SELECT count(*) FROM runs"), 8);
}
END_TEST

/* A sweep stopped by SIGINT stops its runs, keeps what completed, exits
 * 130, and the next invocation runs only what is missing. */
START_TEST(test_sweep_sigint_then_resume)
{
    write_text("long.yaml", "name: long\nduration: 100000s\nnodes: {count: 200}\n"
                            "gossip: {mode: pushpull, pull_interval: 10ms}\n"
                            "workload: {messages: 100000, rate: 1/s}\n");
    char db[512];
    sweep_path(db, sizeof(db), "s.db");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (chdir(sweep_dir) != 0) {
            _exit(127);
        }
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execl(bin, "infersim", "sweep", "long.yaml", "--db", "s.db", "--jobs", "2",
              "--param", "duration=1s,100000s", (char *)NULL);
        _exit(127);
    }
    /* Wait for the short run to be in the file, the long one running. */
    int completed = 0;
    for (int i = 0; i < 1200 && completed == 0; i++) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
        if (access(db, F_OK) == 0) {
            sqlite3 *handle = NULL;
            sqlite3_stmt *statement = NULL;
            if (sqlite3_open_v2(db, &handle, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
                sqlite3_prepare_v2(handle, "SELECT count(*) FROM runs WHERE status ="
                                           " 'completed'", -1, &statement, NULL) == SQLITE_OK &&
                sqlite3_step(statement) == SQLITE_ROW) {
                completed = sqlite3_column_int(statement, 0);
            }
            sqlite3_finalize(statement);
            sqlite3_close(handle);
        }
    }
    ck_assert_int_eq(completed, 1);
    kill(pid, SIGINT);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 128 + SIGINT);
    ck_assert_str_eq(query("s.db", "SELECT point, status = 'completed', count(*) FROM runs"
                                   " GROUP BY point ORDER BY point"),
                     "duration=100000s|0|1\nduration=1s|1|1\n");
    /* The temporary databases are gone with the sweep. */
    DIR *dir = opendir(sweep_dir);
    struct dirent *entry;
    ck_assert_ptr_nonnull(dir);
    while ((entry = readdir(dir)) != NULL) {
        ck_assert_msg(strncmp(entry->d_name, "s.db.sweep-", 11) != 0, "%s left", entry->d_name);
    }
    closedir(dir);
    /* Resume over a changed grid: the completed point is not run again. */
    int code = RUN("sweep long.yaml --db s.db --quiet --param duration=1s,2s");
    ck_assert_msg(code == 0, "exit %d: %s", code, read_text("err.txt"));
    ck_assert_ptr_nonnull(strstr(read_text("out.txt"), "1 completed, 0 failed, 1 already done"));
    ck_assert_str_eq(query("s.db", "SELECT count(*) FROM runs WHERE point = 'duration=1s'"),
                     "1\n");
}
END_TEST

/* The pid of a child process of 'parent', from /proc, or 0. */
static pid_t child_of(pid_t parent)
{
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    pid_t found = 0;
    ck_assert_ptr_nonnull(proc);
    while (found == 0 && (entry = readdir(proc)) != NULL) {
        char path[300], line[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", entry->d_name);
        FILE *file = entry->d_name[0] >= '1' && entry->d_name[0] <= '9' ? fopen(path, "r")
                                                                         : NULL;
        if (file == NULL) {
            continue;
        }
        /* pid (comm) state ppid ...: comm may hold spaces, so from the last ')'. */
        if (fgets(line, sizeof(line), file) != NULL && strrchr(line, ')') != NULL) {
            int ppid = 0;
            char state = 0;
            if (sscanf(strrchr(line, ')') + 1, " %c %d", &state, &ppid) == 2 &&
                ppid == parent) {
                found = (pid_t)atoi(entry->d_name);
            }
        }
        fclose(file);
    }
    closedir(proc);
    return found;
}

/* Starts a one-run sweep of a run that never ends on its own; returns the
 * sweep's pid and, in *run_out, its run's once it is running. */
static pid_t start_endless_sweep(pid_t *run_out)
{
    write_text("long.yaml", "name: long\nduration: 100000s\nnodes: {count: 200}\n"
                            "gossip: {mode: pushpull, pull_interval: 10ms}\n"
                            "workload: {messages: 100000, rate: 1/s}\n");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (chdir(sweep_dir) != 0) {
            _exit(127);
        }
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execl(bin, "infersim", "sweep", "long.yaml", "--db", "s.db", "--jobs", "1",
              (char *)NULL);
        _exit(127);
    }
    pid_t run = 0;
    for (int i = 0; i < 1200 && run == 0; i++) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
        run = child_of(pid);
    }
    ck_assert_int_gt(run, 0);
    *run_out = run;
    return pid;
}

/* A run whose process is killed is recorded as failed, with the signal. */
START_TEST(test_sweep_killed_run_recorded_failed)
{
    pid_t run = 0;
    pid_t pid = start_endless_sweep(&run);
    kill(run, SIGKILL);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 1);
    ck_assert_str_eq(query("s.db", "SELECT status, error LIKE '%killed by signal 9%', point"
                                   " FROM runs"),
                     "failed|1|\n");
}
END_TEST

/* Whether process 'pid' still runs (a zombie counts as gone). */
static bool process_alive(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return false;
    }
    char state = 'X';
    if (fgets(line, sizeof(line), file) != NULL && strrchr(line, ')') != NULL) {
        sscanf(strrchr(line, ')') + 1, " %c", &state);
    }
    fclose(file);
    return state != 'Z' && state != 'X';
}

/* A sweep killed with SIGKILL takes its runs with it (none is left
 * running), and the next sweep on the database removes its folder. */
START_TEST(test_sweep_killed_sweep_leaves_nothing)
{
    pid_t run = 0;
    pid_t pid = start_endless_sweep(&run);
    kill(pid, SIGKILL);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    bool alive = true;
    for (int i = 0; i < 200 && alive; i++) {
        struct timespec pause = {0, 25 * 1000 * 1000};
        nanosleep(&pause, NULL);
        alive = process_alive(run);
    }
    ck_assert_msg(!alive, "run %ld outlived its killed sweep", (long)run);
    char folder[600];
    snprintf(folder, sizeof(folder), "%s/s.db.sweep-%ld", sweep_dir, (long)pid);
    ck_assert_int_eq(access(folder, F_OK), 0);
    ck_assert_int_eq(RUN("sweep long.yaml --db s.db --quiet --param duration=1s"), 0);
    ck_assert_int_ne(access(folder, F_OK), 0);
    ck_assert_ptr_nonnull(strstr(read_text("err.txt"), "left by a sweep that was killed"));
}
END_TEST

/* The grid is loaded before any run: an invalid value, a misspelled key
 * (on the command line or in the file, named by its line and column) and
 * a range without a step exit 2 and run nothing. */
START_TEST(test_sweep_bad_grid_runs_nothing)
{
    write_text("tiny.yaml", tiny_yaml);
    int code = RUN("sweep tiny.yaml --db s.db --param gossip.fanout=3,abc --seeds 2");
    ck_assert_msg(code == 2, "exit %d: %s", code, read_text("err.txt"));
    ck_assert_ptr_nonnull(strstr(read_text("err.txt"), "--param gossip.fanout=3,abc: "));
    ck_assert_ptr_nonnull(strstr(read_text("err.txt"), "expected a whole number, got 'abc'"));
    code = RUN("sweep tiny.yaml --db s.db --param nodes.cuont=1,2");
    ck_assert_msg(code == 2, "exit %d: %s", code, read_text("err.txt"));
    ck_assert_ptr_nonnull(strstr(read_text("err.txt"), "--param nodes.cuont=1,2: unknown key"));
    ck_assert_int_eq(RUN("sweep tiny.yaml --db s.db --param nodes.count=10:20"), 2);
    ck_assert_ptr_nonnull(strstr(read_text("err.txt"), "the step is missing"));
    char misspelled[sizeof(tiny_yaml) + 64];
    snprintf(misspelled, sizeof(misspelled), "%s    gossip.fanuot: [1, 2]\n", tiny_yaml);
    write_text("typo.yaml", misspelled);
    ck_assert_int_eq(RUN("sweep typo.yaml --db s.db"), 2);
    ck_assert_ptr_nonnull(strstr(read_text("err.txt"), "typo.yaml:12:5: sweep.params.gossip"
                                                       ".fanuot: unknown key 'fanuot'"));
    /* Nothing ran: no results file, no run folder. */
    char path[512];
    sweep_path(path, sizeof(path), "s.db");
    ck_assert_int_eq(access(path, F_OK) == 0, 0);
    /* With a results file already there, it gains no runs row. */
    ck_assert_int_eq(RUN("sweep tiny.yaml --db s.db --seeds 1 --quiet"), 0);
    ck_assert_int_eq(RUN("sweep tiny.yaml --db s.db --param gossip.fanout=3,abc --check"), 2);
    ck_assert_int_eq(query_int("s.db", "SELECT count(*) FROM runs"), 2);
}
END_TEST

/* Runs store their expectations' verdicts; the sweep counts them per grid
 * point: without --check it exits 0 and says how many failed, with
 * --check it exits 1, names the failed seeds and prints the command that
 * reproduces the first failure, which does. */
START_TEST(test_sweep_check_fails_on_expectation)
{
    static const char yaml[] =
        "name: tiny\n"
        "seed: 7\n"
        "duration: 1s\n"
        "nodes: {count: 20}\n"
        "network: {latency: {model: constant, value: 5ms}}\n"
        "workload: {messages: 10, rate: 40/s}\n"
        "expect: {delivery_ratio: \">= 0.5\"}\n"
        "sweep:\n"
        "  seeds: 2\n"
        "  params:\n"
        "    network.loss: [0, 1]\n";
    write_text("tiny.yaml", yaml);
    int code = RUN("sweep tiny.yaml --db s.db --jobs 2 --quiet --set gossip.fanout=3");
    ck_assert_msg(code == 0, "exit %d: %s", code, read_text("err.txt"));
    const char *out = read_text("out.txt");
    ck_assert_ptr_nonnull(strstr(out, "4 completed, 0 failed"));
    ck_assert_ptr_nonnull(strstr(out, "expectations: 2 runs passed, 2 failed"));
    ck_assert_int_eq(query_int("s.db", "SELECT count(*) FROM runs WHERE check_status = 'failed'"
                                       " AND point = 'network.loss=1'"),
                     2);
    code = RUN("sweep tiny.yaml --db s.db --jobs 2 --quiet --set gossip.fanout=3 --check");
    ck_assert_msg(code == 1, "exit %d: %s", code, read_text("err.txt"));
    out = read_text("out.txt");
    ck_assert_ptr_nonnull(strstr(out, "network.loss=0: 2 passed, 0 failed\n"
                                      "    passed seeds 7,8\n"));
    ck_assert_ptr_nonnull(strstr(out, "network.loss=1: 0 passed, 2 failed\n"
                                      "    failed seeds 7,8\n"
                                      "    first failure: seed 7: delivery_ratio >= 0.5"
                                      " (actual 0)\n"));
    static const char reproduce[] =
        "run tiny.yaml --seed 7 --set gossip.fanout=3 --set network.loss=1 --check";
    ck_assert_ptr_nonnull(strstr(out, reproduce));
    ck_assert_int_eq(RUN("%s --db one.db --quiet", reproduce), 1);
    ck_assert_str_eq(query("one.db", "SELECT check_status, trace_hash FROM runs"),
                     query("s.db", "SELECT check_status, trace_hash FROM runs"
                                   " WHERE point = 'network.loss=1' AND seed = 7"));
}
END_TEST

/* Expectations over seeds are judged per grid point from the stored
 * metrics: with loss 1 no seed delivers, so the passing fraction is 0 and
 * the {each, passing} expectation fails there; the mean of events passes
 * everywhere. Runs have no verdict on them; run --check does not fail on
 * them; sweep --check exits 1 and names the point. */
START_TEST(test_sweep_check_over_seeds)
{
    static const char yaml[] =
        "name: tiny\n"
        "seed: 7\n"
        "duration: 1s\n"
        "nodes: {count: 20}\n"
        "network: {latency: {model: constant, value: 5ms}}\n"
        "gossip: {fanout: 3}\n"
        "workload: {messages: 10, rate: 40/s}\n"
        "expect:\n"
        "  rumors_published: \">= 0\"\n"
        "  events: {mean: \"> 0\"}\n"
        "  delivery_ratio: {each: \">= 0.5\", passing: \">= 0.5\"}\n"
        "sweep:\n"
        "  seeds: 2\n"
        "  params:\n"
        "    network.loss: [0, 1]\n";
    write_text("tiny.yaml", yaml);
    int code = RUN("sweep tiny.yaml --db s.db --jobs 2 --quiet");
    ck_assert_msg(code == 0, "exit %d: %s", code, read_text("err.txt"));
    const char *out = read_text("out.txt");
    ck_assert_ptr_nonnull(strstr(out, "expectations: 4 runs passed, 0 failed\n"));
    ck_assert_ptr_nonnull(strstr(out, "expectations over seeds: 3 passed, 1 failed"));
    ck_assert_ptr_nonnull(strstr(out, "(--check makes that exit 1)"));
    ck_assert_ptr_null(strstr(out, "network.loss=0: delivery_ratio"));
    ck_assert_int_eq(query_int("s.db", "SELECT count(*) FROM runs WHERE check_status = 'passed'"),
                     4);
    ck_assert_int_eq(query_int("s.db", "SELECT count(*) FROM expectations"
                                       " WHERE metric != 'rumors_published'"),
                     0);
    code = RUN("sweep tiny.yaml --db s.db --jobs 2 --quiet --check");
    ck_assert_msg(code == 1, "exit %d: %s", code, read_text("err.txt"));
    out = read_text("out.txt");
    ck_assert_ptr_nonnull(strstr(out, "network.loss=1: delivery_ratio each >= 0.5, passing >= 0.5:"
                                      " passing 0 (0 of 2 seeds): FAILED\n"
                                      "    seeds failing 'each' 7,8\n"));
    ck_assert_ptr_nonnull(strstr(out, "network.loss=0: delivery_ratio each >= 0.5, passing >= 0.5:"
                                      " passing 1 (2 of 2 seeds): passed\n"));
    ck_assert_ptr_nonnull(strstr(out, "network.loss=1: events mean > 0: mean "));
    ck_assert_ptr_nonnull(strstr(out, " over 2 seeds: passed\n"));
    ck_assert_ptr_nonnull(strstr(out, "expectations over seeds: 3 passed, 1 failed"));
    /* One run of the failing point: the over-seed expectations are named,
     * not judged. */
    code = RUN("run tiny.yaml --seed 7 --set network.loss=1 --db one.db --check");
    ck_assert_msg(code == 0, "exit %d: %s", code, read_text("err.txt"));
    ck_assert_ptr_nonnull(strstr(read_text("out.txt"),
                                 "expectation judged over seeds by sweep --check: delivery_ratio"
                                 " each >= 0.5, passing >= 0.5\n"));
    ck_assert_str_eq(query("one.db", "SELECT check_status FROM runs"), "passed\n");
}
END_TEST

/* Two chunks as two jobs, each into its own database, merge into one
 * without duplicates, however often they are merged. */
START_TEST(test_sweep_chunks_merge_without_duplicates)
{
    write_text("tiny.yaml", tiny_yaml);
    ck_assert_int_eq(RUN("sweep tiny.yaml --chunk 0/2 --jobs 1 --quiet --db a.db"), 0);
    ck_assert_int_eq(RUN("sweep tiny.yaml --chunk 1/2 --jobs 1 --quiet --db b.db"), 0);
    ck_assert_int_eq(query_int("a.db", "SELECT count(*) FROM runs"), 3);
    ck_assert_int_eq(query_int("b.db", "SELECT count(*) FROM runs"), 3);
    int code = RUN("merge m.db a.db b.db");
    ck_assert_msg(code == 0, "exit %d: %s", code, read_text("err.txt"));
    ck_assert_int_eq(RUN("merge m.db b.db a.db"), 0);
    ck_assert_ptr_nonnull(strstr(read_text("out.txt"), "a.db: 0 runs copied, 3 already in"));
    ck_assert_str_eq(query("m.db", "SELECT count(*), count(DISTINCT point || '/' || seed),"
                                   " count(DISTINCT sweep_id) FROM runs"),
                     "6|6|1\n");
    ck_assert_str_eq(query("m.db", "SELECT count(*), sum(n) FROM sweep_summary"
                                   " WHERE metric = 'delivery_ratio'"),
                     "2|6\n");
    /* Every row came along, under the new run ids. */
    ck_assert_str_eq(query("m.db", "SELECT count(*) FROM nodes"),
                     query("a.db", "SELECT count(*) * 2 FROM nodes"));
    ck_assert_int_eq(query_int("m.db", "SELECT count(*) FROM metrics m LEFT JOIN runs r"
                                       " USING (run_id) WHERE r.run_id IS NULL"),
                     0);
    /* A merged file resumes like any other: nothing left to run. */
    ck_assert_int_eq(RUN("sweep tiny.yaml --db m.db --quiet"), 0);
    ck_assert_ptr_nonnull(strstr(read_text("out.txt"), "6 already done"));
    ck_assert_int_eq(RUN("merge m.db missing.db"), 2);
    write_text("junk.db", "not a database");
    ck_assert_int_eq(RUN("merge m.db junk.db"), 2);
    ck_assert_int_eq(query_int("m.db", "SELECT count(*) FROM runs"), 6);
}
END_TEST

/* Runs 'sql' on the named database in the test directory. */
static void exec_sql(const char *db_name, const char *sql)
{
    char path[512];
    sqlite3 *db = NULL;
    sweep_path(path, sizeof(path), db_name);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* A chunk's file merged while one of its runs is still going on another
 * host gets that run as 'failed'; merged again once the run has ended,
 * the ended run replaces the failed copy instead of joining it. */
START_TEST(test_sweep_merge_replaces_a_copy_taken_while_running_elsewhere)
{
    write_text("tiny.yaml", tiny_yaml);
    ck_assert_int_eq(RUN("sweep tiny.yaml --chunk 0/2 --jobs 1 --quiet --db a.db"), 0);
    /* Every run of a.db written on another host; run 2 still running there
     * when the first merge reads it, its last rows not stored yet. */
    exec_sql("a.db", "UPDATE runs SET writer = 'no-such-host.invalid 4242 99'");
    char from[512], to[512], copy[1100];
    sweep_path(from, sizeof(from), "a.db");
    sweep_path(to, sizeof(to), "early.db");
    snprintf(copy, sizeof(copy), "cp '%s' '%s'", from, to);
    ck_assert_int_eq(system(copy), 0);
    exec_sql("early.db", "UPDATE runs SET status = 'running', finished_at = NULL"
                         " WHERE run_id = 2; DELETE FROM metrics WHERE run_id = 2");
    int code = RUN("merge m.db early.db");
    ck_assert_msg(code == 0, "exit %d: %s", code, read_text("err.txt"));
    ck_assert_ptr_nonnull(strstr(read_text("out.txt"), "3 runs copied, 0 already in m.db,"
                                                       " 1 incomplete (copied as failed)\n"));
    ck_assert_str_eq(query("m.db", "SELECT group_concat(status, ',') FROM runs"),
                     "completed,failed,completed\n");
    /* The run has ended: merging its file again replaces the failed copy. */
    code = RUN("merge m.db a.db");
    ck_assert_msg(code == 0, "exit %d: %s", code, read_text("err.txt"));
    ck_assert_ptr_nonnull(strstr(read_text("out.txt"), "1 run copied, 2 already in m.db,"
                                                       " 0 incomplete (copied as failed),"
                                                       " 1 replaced"));
    ck_assert_str_eq(query("m.db", "SELECT count(*), count(DISTINCT point || '/' || seed),"
                                   " sum(status = 'completed') FROM runs"),
                     "3|3|3\n");
    /* Its rows are the ended run's, once; none of the dropped copy's remain. */
    ck_assert_str_eq(query("m.db", "SELECT count(*) FROM metrics"),
                     query("a.db", "SELECT count(*) FROM metrics"));
    ck_assert_str_eq(query("m.db", "SELECT count(*) FROM nodes"),
                     query("a.db", "SELECT count(*) FROM nodes"));
    ck_assert_int_eq(query_int("m.db", "SELECT count(*) FROM nodes n LEFT JOIN runs r"
                                       " USING (run_id) WHERE r.run_id IS NULL"),
                     0);
    /* A completed run of that point and seed by another writer is another
     * attempt: it joins the failed copy instead of replacing it. */
    ck_assert_int_eq(RUN("merge other.db early.db"), 0);
    exec_sql("a.db", "UPDATE runs SET writer = 'no-such-host.invalid 4343 99' WHERE run_id = 2");
    ck_assert_int_eq(RUN("merge other.db a.db"), 0);
    ck_assert_ptr_null(strstr(read_text("out.txt"), "replaced"));
    ck_assert_str_eq(query("other.db", "SELECT count(*), sum(status = 'completed') FROM runs"),
                     "4|3\n");
}
END_TEST

/* Four chunks split both grid points' three seeds: no chunk judges a
 * mean it holds only part of (each defers it and passes --check); the
 * merged database judges the whole point, and the mean fails there. */
START_TEST(test_sweep_chunks_defer_expectations_over_seeds)
{
    static const char over_yaml[] = "name: tiny\n"
                                    "seed: 7\n"
                                    "duration: 1s\n"
                                    "nodes: {count: 20}\n"
                                    "network: {latency: {model: constant, value: 5ms},"
                                    " loss: 0.05}\n"
                                    "workload: {messages: 10, rate: 40/s}\n"
                                    "expect: {delivery_ratio: {mean: \">= 0.999\"}}\n"
                                    "sweep: {seeds: 3, params: {gossip.fanout: [2, 4]}}\n";
    write_text("over.yaml", over_yaml);
    for (int c = 0; c < 4; c++) {
        ck_assert_int_eq(RUN("sweep over.yaml --chunk %d/4 --jobs 1 --quiet --check --db p%d.db",
                             c, c),
                         0);
        ck_assert_ptr_nonnull(strstr(read_text("out.txt"), "1 deferred"));
        ck_assert_ptr_null(strstr(read_text("out.txt"), "FAILED"));
    }
    ck_assert_int_eq(RUN("merge m.db p0.db p1.db p2.db p3.db"), 0);
    ck_assert_int_eq(RUN("sweep over.yaml --db m.db --quiet --check"), 1);
    const char *out = read_text("out.txt");
    ck_assert_ptr_nonnull(strstr(out, "6 already done"));
    ck_assert_ptr_nonnull(strstr(out, "gossip.fanout=2: delivery_ratio mean >= 0.999: mean"));
    ck_assert_ptr_nonnull(strstr(out, "over 3 seeds: FAILED"));
    ck_assert_ptr_null(strstr(out, "deferred"));
    /* Chunks on point boundaries judge their whole points themselves. */
    ck_assert_int_eq(RUN("sweep over.yaml --chunk 0/2 --jobs 1 --quiet --check --db h.db"), 1);
    ck_assert_ptr_nonnull(strstr(read_text("out.txt"), "over 3 seeds: FAILED"));
}
END_TEST

/* The cluster files: a Slurm array of chunks throttled with %N, and one
 * GNU parallel line per chunk, each into its own database. */
START_TEST(test_sweep_emit_slurm_and_parallel)
{
    write_text("tiny.yaml", tiny_yaml);
    int code = RUN("sweep tiny.yaml --db r.db --set nodes.count=30 --emit slurm --chunks 3"
                   " --throttle 5 -o job.sh");
    ck_assert_msg(code == 0, "exit %d: %s", code, read_text("err.txt"));
    const char *script = read_text("job.sh");
    ck_assert_ptr_nonnull(strstr(script, "#!/bin/bash\n"));
    ck_assert_ptr_nonnull(strstr(script, "#SBATCH --array=0-2%5\n"));
    ck_assert_ptr_nonnull(strstr(script, "tiny.yaml' --set 'nodes.count=30' --jobs 1"));
    ck_assert_ptr_nonnull(strstr(script, "--chunk \"${SLURM_ARRAY_TASK_ID}/3\""));
    ck_assert_ptr_nonnull(strstr(script, "r.db.parts'\"/part-${SLURM_ARRAY_TASK_ID}.db\""));
    ck_assert_ptr_nonnull(strstr(script, " merge r.db "));

    code = RUN("sweep tiny.yaml --db r.db --emit parallel -o jobs.txt");
    ck_assert_msg(code == 0, "exit %d: %s", code, read_text("err.txt"));
    const char *jobs = read_text("jobs.txt");
    int lines = 0;
    for (const char *c = jobs; *c != '\0'; c++) {
        lines += *c == '\n';
    }
    ck_assert_int_eq(lines, 6);    /* one per run by default */
    ck_assert_ptr_nonnull(strstr(jobs, "--chunk 0/6 --db '"));
    ck_assert_ptr_nonnull(strstr(jobs, "r.db.parts/part-5.db'\n"));
    /* The lines are real commands: run two of them, merge, count. */
    code = RUN("sweep tiny.yaml --jobs 1 --quiet --chunk 0/6 --db r.db.parts/part-0.db"
               " && %s sweep tiny.yaml --jobs 1 --quiet --chunk 5/6 --db r.db.parts/part-5.db"
               " && %s merge r.db r.db.parts/part-0.db r.db.parts/part-5.db",
               bin, bin);
    ck_assert_msg(code == 0, "exit %d: %s", code, read_text("err.txt"));
    ck_assert_str_eq(query("r.db", "SELECT count(*), min(seed), max(seed) FROM runs"),
                     "2|7|9\n");
}
END_TEST

/* Figures and reports from a sweep database and an inference run. */
START_TEST(test_sweep_plots_and_reports)
{
    write_text("tiny.yaml", tiny_yaml);
    ck_assert_int_eq(RUN("sweep tiny.yaml --db s.db --quiet"), 0);
    ck_assert_int_eq(RUN("run %s/scenarios/sweep_cartel.yaml --quiet --db v.db"
                         " --set workload.requests=8 --set faults.0.nodes.fraction=0.4",
                         repo_dir),
                     0);
    const struct {
        const char *args;
        const char *file;
    } figures[] = {
        {"--db s.db --kind outcome --sweep 1", "outcome.svg"},
        {"--db s.db --kind outcome --sweep 1 --metric latency_p99 --x gossip.fanout",
         "latency.svg"},
        {"--db s.db --kind timeline --run 2", "timeline.svg"},
        {"--db v.db --kind latency-cdf --run 1", "cdf.svg"},
        {"--db v.db --kind reputation --run 1", "reputation.svg"},
        {"--db v.db --kind timeline --run 1", "timeline.png"},
    };
    for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++) {
        int code = RUN("plot %s -o %s", figures[i].args, figures[i].file);
        ck_assert_msg(code == 0, "plot %s: exit %d: %s", figures[i].args, code,
                      read_text("err.txt"));
        const char *text = read_text(figures[i].file);
        if (strstr(figures[i].file, ".png") != NULL) {
            ck_assert(strncmp(text, "\x89PNG", 4) == 0);
            continue;
        }
        ck_assert_msg(strncmp(text, "<?xml", 5) == 0 || strncmp(text, "<svg", 4) == 0, "%s",
                      figures[i].file);
        ck_assert_ptr_nonnull(strstr(text, "</svg>"));
    }
    ck_assert_ptr_nonnull(strstr(read_text("outcome.svg"), "gossip.fanout"));
    ck_assert_ptr_nonnull(strstr(read_text("cdf.svg"), "protocol committee"));
    ck_assert_ptr_nonnull(strstr(read_text("reputation.svg"), "Byzantine nodes"));
    ck_assert_ptr_nonnull(strstr(read_text("latency.svg"), "latency p99 (ms)"));
    /* Titles in words, with the key in the subtitle; the SVG names the
     * figure; an integer key's ticks are its grid values (2 and 4, no
     * 2.5). */
    const char *outcome = read_text("outcome.svg");
    ck_assert_ptr_nonnull(strstr(outcome, "<title>delivery ratio by fanout</title>"));
    ck_assert_ptr_nonnull(strstr(outcome, "swept key gossip.fanout"));
    ck_assert_ptr_null(strstr(outcome, "Gnuplot</title>"));
    ck_assert_ptr_null(strstr(outcome, "<text> 2.5</text>"));
    ck_assert_ptr_nonnull(strstr(read_text("cdf.svg"), "<title>Latency of completed requests"));

    ck_assert_int_eq(RUN("report --db s.db --sweep 1 -o sweep.html"), 0);
    ck_assert_int_eq(RUN("report --db v.db --run 1 -o run.html"), 0);
    const char *html = read_text("run.html");
    ck_assert(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    ck_assert_ptr_nonnull(strstr(html, "</html>"));
    ck_assert_ptr_nonnull(strstr(html, "<td>completed_ratio</td>"));
    ck_assert_ptr_nonnull(strstr(html, "class=\"pass\">PASS"));
    ck_assert_ptr_nonnull(strstr(html, "</svg>"));
    /* The draws' capture as counted, beside its closed form. */
    char observed[96];
    snprintf(observed, sizeof(observed), "<td>capture of a draw by Byzantine members</td><td>%s",
             query("v.db", "SELECT printf('%.0f of %.0f', c.value, d.value) FROM metrics c,"
                           " metrics d WHERE c.name = 'captured_draws' AND d.name ="
                           " 'capture_draws'"));
    observed[strcspn(observed, "\n")] = '\0';
    ck_assert_msg(strstr(html, observed) != NULL, "%s", observed);
    ck_assert_ptr_null(strstr(html, "<script"));
    ck_assert_ptr_null(strstr(html, "src="));
    html = read_text("sweep.html");
    ck_assert_ptr_nonnull(strstr(html, "gossip.fanout=2,4; seeds=3"));
    ck_assert_ptr_nonnull(strstr(html, "<svg"));
    ck_assert_ptr_nonnull(strstr(html, "Every run completed."));
}
END_TEST

/* A page's layout as headless Chromium lays it out at 1280 x 900 (a
 * copy of the page with a script that measures it): the viewport's width
 * and height, the page's scroll width, the verdict's bottom and the first
 * figure's top and bottom, in CSS pixels. False (the test then says it
 * skipped) when Chromium is not installed. */
static bool layout_facts(const char *page, long facts[6])
{
    static const char script[] =
        "<script>(function(){var v=document.querySelector('.verdict').getBoundingClientRect();"
        "var f=document.querySelector('svg').getBoundingClientRect();"
        "var p=document.createElement('pre');p.id='facts';p.textContent='facts '+innerWidth+"
        "' '+innerHeight+' '+document.documentElement.scrollWidth+' '+Math.round(v.bottom)+"
        "' '+Math.round(f.top)+' '+Math.round(f.bottom)+' end';"
        "document.body.appendChild(p);})();</script>\n";
    if (system("command -v chromium >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_sweep: layout not checked: chromium is not installed\n");
        return false;
    }
    char copy[300], path[512], command[2048];
    snprintf(copy, sizeof(copy), "layout-%s", page);
    test_dir_write(sweep_dir, copy, read_text(page));
    sweep_path(path, sizeof(path), copy);
    FILE *out = fopen(path, "a");
    ck_assert_ptr_nonnull(out);
    fputs(script, out);
    fclose(out);
    snprintf(command, sizeof(command),
             "cd '%s' && timeout 120 chromium --headless --no-sandbox --disable-gpu"
             " --hide-scrollbars --window-size=1280,900 --dump-dom 'file://%s' 2>/dev/null"
             " | grep -o 'facts [0-9 -]* end' > facts.txt",
             sweep_dir, path);
    ck_assert_int_eq(system(command), 0);
    int got = sscanf(read_text("facts.txt"), "facts %ld %ld %ld %ld %ld %ld end", &facts[0],
                     &facts[1], &facts[2], &facts[3], &facts[4], &facts[5]);
    ck_assert_msg(got == 6, "no layout facts: '%s'", read_text("facts.txt"));
    return true;
}

/* Reports read the way a person reads them: at 1280 px the verdict and
 * the whole first figure show without scrolling, nothing scrolls
 * sideways, and the record (hashes, flattened scenario) is folded away. */
START_TEST(test_sweep_reports_open_on_the_answer)
{
    write_text("tiny.yaml", tiny_yaml);
    ck_assert_int_eq(RUN("sweep tiny.yaml --db s.db --quiet"), 0);
    ck_assert_int_eq(RUN("run %s/scenarios/compare_committee.yaml --quiet --db v.db"
                         " --set workload.requests=12",
                         repo_dir),
                     0);
    ck_assert_int_eq(RUN("report --db v.db --run 1 -o run.html"), 0);
    ck_assert_int_eq(RUN("report --db s.db --sweep 1 -o sweep.html"), 0);
    const char *html = read_text("run.html");
    const char *verdict = strstr(html, "<p class=\"verdict ");
    const char *figure = strstr(html, "<svg");
    const char *details = strstr(html, "<details>");
    const char *hash = strstr(html, "scenario sha256");
    ck_assert_msg(verdict != NULL && figure != NULL && verdict < figure, "verdict first");
    ck_assert_msg(details != NULL && hash != NULL && details < hash, "the record folded");
    ck_assert_ptr_nonnull(strstr(html, " of 3 held"));
    /* A bound and its measure in the metric's unit, not raw doubles. */
    ck_assert_ptr_null(strstr(html, "000000"));
    html = read_text("sweep.html");
    ck_assert_ptr_nonnull(strstr(html, "Grid points (mean over seeds"));
    ck_assert_ptr_nonnull(strstr(html, "<td>gossip.fanout=2</td><td>3</td>"));
    ck_assert(strstr(html, "<svg") < strstr(html, "Grid points"));
    const char *pages[] = {"run.html", "sweep.html"};
    for (size_t i = 0; i < 2; i++) {
        long f[6];
        if (!layout_facts(pages[i], f)) {
            return;
        }
        ck_assert_msg(f[2] <= f[0], "%s scrolls sideways: %ld > %ld", pages[i], f[2], f[0]);
        ck_assert_msg(f[3] <= f[1], "%s: verdict below the fold (%ld)", pages[i], f[3]);
        ck_assert_msg(f[4] < f[5] && f[5] <= f[1], "%s: first figure %ld..%ld, fold at %ld",
                      pages[i], f[4], f[5], f[1]);
    }
}
END_TEST

/* Strings from the database are escaped in the report. */
START_TEST(test_sweep_report_escapes_strings)
{
    write_text("odd.yaml", "name: \"<b>x & 'y'</b>\"\nduration: 1s\nnodes: {count: 10}\n"
                           "workload: {messages: 3, rate: 10/s}\n");
    ck_assert_int_eq(RUN("run odd.yaml --db o.db --quiet"), 0);
    ck_assert_int_eq(RUN("report --db o.db --run 1 -o o.html"), 0);
    const char *html = read_text("o.html");
    ck_assert_ptr_nonnull(strstr(html, "&lt;b&gt;x &amp; &#39;y&#39;&lt;/b&gt;"));
    ck_assert_ptr_null(strstr(html, "<b>x"));
}
END_TEST

/* Bad usage exits 2 with a message; no gnuplot exits 3 and says so. */
START_TEST(test_sweep_bad_usage)
{
    write_text("tiny.yaml", tiny_yaml);
    write_text("bad.yaml", "nodes: {count: 10}\nsweep:\n  params:\n    gossip.fanout: []\n");
    static const char *const bad[] = {
        "sweep",
        "sweep tiny.yaml --param nokey",
        "sweep tiny.yaml --param seed=1,2",
        "sweep tiny.yaml --chunk 2/2",
        "sweep tiny.yaml --seeds 0",
        "sweep tiny.yaml --emit pbs",
        "sweep tiny.yaml -o x.sh",
        "sweep tiny.yaml --emit slurm --check",
        "sweep tiny.yaml --bogus 1",
        "merge only.db",
        "plot --db s.db --kind outcome -o x.svg",
        "plot --db s.db --kind pie --sweep 1 -o x.svg",
        "plot --db s.db --kind outcome --sweep 1 -o x.txt",
        "report --db s.db -o r.html",
        "report --db s.db --run 99 -o r.html",
    };
    ck_assert_int_eq(RUN("sweep tiny.yaml --db s.db --quiet"), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int code = RUN("%s", bad[i]);
        ck_assert_msg(code == 2, "'%s' exited %d", bad[i], code);
        ck_assert_msg(strlen(read_text("err.txt")) > 10, "'%s' said nothing", bad[i]);
    }
    ck_assert_int_eq(RUN("sweep bad.yaml --db s.db"), 2);
    ck_assert_ptr_nonnull(strstr(read_text("err.txt"), "bad.yaml:4:20: sweep.params.gossip"));
    ck_assert_int_eq(RUN("plot --db s.db --kind latency-cdf --sweep 1 -o x.svg"), 2);
    ck_assert_ptr_nonnull(strstr(read_text("err.txt"), "no completed inference requests"));
    char svg[512];
    sweep_path(svg, sizeof(svg), "x.svg");
    ck_assert_int_eq(access(svg, F_OK) == 0, 0);
    ck_assert_int_eq(run_env("PATH=/nonexistent", "plot --db s.db --kind outcome --sweep 1"
                                                  " -o x.svg"),
                     3);
    ck_assert_ptr_nonnull(strstr(read_text("err.txt"), "gnuplot is not installed"));
    ck_assert_int_eq(run_env("PATH=/nonexistent", "report --db s.db --sweep 1 -o r.html"), 3);
    /* The run command still runs a file with a sweep section: the base. */
    ck_assert_int_eq(RUN("run tiny.yaml --db base.db --quiet"), 0);
    ck_assert_str_eq(query("base.db", "SELECT seed, status, quote(sweep_id) FROM runs"),
                     "7|completed|NULL\n");
}
END_TEST

Suite *test_sweep_suite(void)
{
    Suite *suite = suite_create("sweep");
    TCase *runs = tcase_create("runs");
    tcase_add_checked_fixture(runs, sweep_setup, sweep_teardown);
    tcase_set_timeout(runs, 120);
    tcase_add_test(runs, test_sweep_grid_runs_and_aggregates);
    tcase_add_test(runs, test_sweep_resume_skips_completed_runs);
    tcase_add_test(runs, test_sweep_sigint_then_resume);
    tcase_add_test(runs, test_sweep_killed_run_recorded_failed);
    tcase_add_test(runs, test_sweep_killed_sweep_leaves_nothing);
    tcase_add_test(runs, test_sweep_bad_grid_runs_nothing);
    tcase_add_test(runs, test_sweep_check_fails_on_expectation);
    tcase_add_test(runs, test_sweep_check_over_seeds);
    tcase_add_test(runs, test_sweep_chunks_merge_without_duplicates);
    tcase_add_test(runs, test_sweep_merge_replaces_a_copy_taken_while_running_elsewhere);
    tcase_add_test(runs, test_sweep_chunks_defer_expectations_over_seeds);
    tcase_add_test(runs, test_sweep_emit_slurm_and_parallel);
    suite_add_tcase(suite, runs);

    TCase *figures = tcase_create("figures");
    tcase_add_checked_fixture(figures, sweep_setup, sweep_teardown);
    tcase_set_timeout(figures, 120);
    tcase_add_test(figures, test_sweep_plots_and_reports);
    tcase_add_test(figures, test_sweep_reports_open_on_the_answer);
    tcase_add_test(figures, test_sweep_report_escapes_strings);
    tcase_add_test(figures, test_sweep_bad_usage);
    suite_add_tcase(suite, figures);
    return suite;
}
