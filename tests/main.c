/* main.c -- the test runner: every module's suite, fork mode, so a crash
 * fails only its test. Prints Check's summary line and exits non-zero on
 * any failure. CK_RUN_SUITE / CK_RUN_CASE select a part.
 *
 * INFERSIM_TEST_JOBS=N (N > 1, and no CK_RUN_SUITE) runs the suites in N
 * worker processes: each takes the next suite from a shared queue (the
 * slowest first) and runs it in a process of its own, which prints its
 * failures and a line per suite and hands its counts to the parent; the
 * parent prints the one summary line for the whole run in Check's
 * format. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/suites.h"

const char *test_infersim_bin(void)
{
    const char *bin = getenv("INFERSIM_BIN");
    return bin != NULL && bin[0] != '\0' ? bin : "build/infersim";
}

typedef struct test_suite_entry {
    const char *name;
    Suite *(*make)(void);
} test_suite_entry;

/* Roughly the slowest first, so that parallel workers finish together. */
static const test_suite_entry TEST_SUITES[] = {
    {"cli", test_cli_suite},           {"bft", test_bft_suite},
    {"ledger", test_ledger_suite},     {"oracle", test_oracle_suite},
    {"testbed", test_testbed_suite},   {"hosts", test_hosts_suite},
    {"swarm", test_swarm_suite},
    {"sweep", test_sweep_suite},       {"queue", test_queue_suite},
    {"privacy", test_privacy_suite},   {"emulate", test_emulate_suite},
    {"scn", test_scn_suite},           {"infer_text", test_infer_text_suite},
    {"net", test_net_suite},           {"cons", test_cons_suite},
    {"node", test_node_suite},         {"sim", test_sim_suite},
    {"vrf", test_vrf_suite},           {"met", test_met_suite},
    {"util", test_util_suite},         {"verify", test_verify_suite},
    {"world", test_world_suite},       {"infer", test_infer_suite},
    {"churn", test_churn_suite},       {"ledger_gossip", test_ledger_gossip_suite},
};
#define TEST_SUITE_COUNT (sizeof(TEST_SUITES) / sizeof(TEST_SUITES[0]))

/* One worker's counts, written whole to the result pipe per suite. */
typedef struct test_counts {
    int run;
    int failures;
    int errors;
} test_counts;

static int run_serial(void)
{
    SRunner *runner = srunner_create(NULL);
    for (size_t i = 0; i < TEST_SUITE_COUNT; i++) {
        srunner_add_suite(runner, TEST_SUITES[i].make());
    }
    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

double test_monotonic_s(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Runs one suite silently and prints its failures as Check words them. */
static test_counts run_one_suite(const test_suite_entry *entry)
{
    double started = test_monotonic_s();
    SRunner *runner = srunner_create(entry->make());
    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_SILENT);
    test_counts counts = {srunner_ntests_run(runner), 0, 0};
    int failed = srunner_ntests_failed(runner);
    TestResult **results = srunner_failures(runner);
    for (int i = 0; i < failed; i++) {
        bool error = tr_rtype(results[i]) == CK_ERROR;
        printf("%s:%d:%c:%s:%s: %s\n", tr_lfile(results[i]), tr_lno(results[i]), error ? 'E' : 'F',
               entry->name, tr_tcname(results[i]), tr_msg(results[i]));
        if (error) {
            counts.errors++;
        } else {
            counts.failures++;
        }
    }
    free(results);
    srunner_free(runner);
    printf("suite %s: %d checks, %d failures, %d errors (%.1f s)\n", entry->name, counts.run,
           counts.failures, counts.errors, test_monotonic_s() - started);
    fflush(stdout);
    return counts;
}

/* Runs one suite in a process of its own, which hands its counts to the
 * parent straight through the result pipe (one write, below PIPE_BUF).
 * What a suite leaves in the allocator ends with it: under ASan a
 * long-lived worker grew past 400 MB (the quarantine of Check's freed
 * messages, one per passing check, up to its 256 MB among it), and every
 * later test's fork inherited that, with LeakSanitizer walking it at each
 * test's exit. false: the suite's process ended before its counts. */
static bool worker_suite(const test_suite_entry *entry, int result_fd)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        test_counts counts = run_one_suite(entry);
        bool sent = write(result_fd, &counts, sizeof(counts)) == (ssize_t)sizeof(counts);
        _exit(sent ? EXIT_SUCCESS : EXIT_FAILURE);
    }
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void worker(int queue_fd, int result_fd)
{
    unsigned index;
    while (read(queue_fd, &index, sizeof(index)) == (ssize_t)sizeof(index)) {
        if (index >= TEST_SUITE_COUNT) {
            break;
        }
        if (!worker_suite(&TEST_SUITES[index], result_fd)) {
            fprintf(stderr, "suite %s: its process ended abnormally\n", TEST_SUITES[index].name);
            test_counts lost = {0, 0, 1};
            if (write(result_fd, &lost, sizeof(lost)) != (ssize_t)sizeof(lost)) {
                _exit(EXIT_FAILURE);
            }
        }
    }
    _exit(EXIT_SUCCESS);
}

/* Adds every result the workers wrote; a worker that did not exit cleanly
 * counts as one error (a suite's crash outside Check's own forks). */
static test_counts collect(int result_fd, const pid_t *pids, unsigned jobs)
{
    test_counts total = {0, 0, 0};
    test_counts counts;
    while (read(result_fd, &counts, sizeof(counts)) == (ssize_t)sizeof(counts)) {
        total.run += counts.run;
        total.failures += counts.failures;
        total.errors += counts.errors;
    }
    for (unsigned i = 0; i < jobs; i++) {
        int status = 0;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "test worker %u ended abnormally (status %d)\n", i, status);
            total.errors++;
        }
    }
    return total;
}

static int run_parallel(unsigned jobs)
{
    int queue[2], result[2];
    if (pipe(queue) != 0 || pipe(result) != 0) {
        perror("pipe");
        return EXIT_FAILURE;
    }
    for (unsigned i = 0; i < TEST_SUITE_COUNT; i++) { /* far below PIPE_BUF */
        if (write(queue[1], &i, sizeof(i)) != (ssize_t)sizeof(i)) {
            perror("write");
            return EXIT_FAILURE;
        }
    }
    close(queue[1]);
    fflush(stdout);
    pid_t pids[64];
    for (unsigned i = 0; i < jobs; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("fork");
            return EXIT_FAILURE;
        }
        if (pids[i] == 0) {
            close(result[0]);
            worker(queue[0], result[1]);
        }
    }
    close(queue[0]);
    close(result[1]);
    test_counts total = collect(result[0], pids, jobs);
    close(result[0]);
    int bad = total.failures + total.errors;
    int percent = total.run > 0 ? (int)((double)(total.run - bad) * 100.0 / total.run) : 0;
    printf("%d%%: Checks: %d, Failures: %d, Errors: %d\n", percent, total.run, total.failures,
           total.errors);
    return bad == 0 && total.run > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(void)
{
    const char *jobs_text = getenv("INFERSIM_TEST_JOBS");
    const char *only = getenv("CK_RUN_SUITE");
    long jobs = jobs_text != NULL ? strtol(jobs_text, NULL, 10) : 1;
    if (jobs <= 1 || (only != NULL && only[0] != '\0')) {
        return run_serial();
    }
    return run_parallel(jobs > 64 ? 64u : (unsigned)jobs);
}
