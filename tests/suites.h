/* suites.h -- every Check suite of the test runner, one per module file
 * tests/test_<module>.c. tests/main.c runs them all in one SRunner so the
 * run ends in one Check summary line. */
#ifndef TESTS_SUITES_H
#define TESTS_SUITES_H

#include <check.h>
#include <stdint.h>

Suite *test_util_suite(void);      /* tests/test_util.c: prng, hist, stats, alloc, hash */
Suite *test_queue_suite(void);     /* tests/test_queue.c */
Suite *test_net_suite(void);       /* tests/test_net.c */
Suite *test_node_suite(void);      /* tests/test_node.c */
Suite *test_infer_suite(void);     /* tests/test_infer.c: the transformer executor */
Suite *test_infer_text_suite(void); /* tests/test_infer_text.c: llama2.c tokenizer, infer */
Suite *test_cons_suite(void);      /* tests/test_cons.c: verification building blocks */
Suite *test_scn_suite(void);       /* tests/test_scn.c */
Suite *test_met_suite(void);       /* tests/test_met.c */
Suite *test_sim_suite(void);       /* tests/test_sim.c */
Suite *test_world_suite(void);     /* tests/test_world.c: the hosted world, hostile peers */
Suite *test_verify_suite(void);    /* tests/test_verify.c: the verification protocols */
Suite *test_cli_suite(void);       /* tests/test_cli.c: runs the real binary */
Suite *test_sweep_suite(void);     /* tests/test_sweep.c: sweeps, merge, plots, reports */
Suite *test_testbed_suite(void);   /* tests/test_testbed.c: frames, node processes, HTTP */
Suite *test_hosts_suite(void);     /* tests/test_hosts.c: the testbed across hosts (netns) */
Suite *test_emulate_suite(void);   /* tests/test_emulate.c: link emulator, calibrate */
Suite *test_swarm_suite(void);     /* tests/test_swarm.c: swarm, shrink, liveness */
Suite *test_privacy_suite(void);   /* tests/test_privacy.c: noise, accountant, attack */
Suite *test_vrf_suite(void);       /* tests/test_vrf.c: RFC 9381 ECVRF, VRF sortition */
Suite *test_bft_suite(void);       /* tests/test_bft.c: the BFT ledger replica */
Suite *test_oracle_suite(void);    /* tests/test_oracle.c: worker pool, oracle on it */
Suite *test_ledger_suite(void);    /* tests/test_ledger.c: validators and settlement in runs */
Suite *test_ledger_gossip_suite(void); /* tests/test_ledger_gossip.c: dissemination: gossip */
Suite *test_churn_suite(void);     /* tests/test_churn.c: joins, leaves, adaptive placement */

/* Scratch directories for the suites that run the binary (test_dir.c):
 * /tmp/infersim-PREFIX-XXXXXX made into dir[size]; a file's path; a text
 * written whole; a file read whole into a static buffer ("" if absent). */
void test_dir_make(char *dir, size_t size, const char *prefix);
void test_dir_remove(const char *dir);
void test_dir_path(const char *dir, const char *name, char *out, size_t size);
void test_dir_write(const char *dir, const char *name, const char *text);
const char *test_dir_read(const char *dir, const char *name);

/* Every row of one SQL query on the database at 'path', opened read-only:
 * fields joined by '|', each row ended by '\n', NULL as "NULL". malloc'd
 * (free it); fails the test when the file or the query is bad. */
char *test_db_query(const char *path, const char *sql);

/* Loads a scenario -- the text 'yaml' (named 'name' in error messages), or
 * the file 'path' -- with the overrides and runs it in the simulator on
 * 'threads' oracle threads (0: the default observer); fails the test on a
 * load or run error. The caller destroys the result (test_dir.c). */
struct world_result *test_sim_run_yaml(const char *name, const char *yaml,
                                       const char *const *overrides, size_t count,
                                       uint32_t threads);
struct world_result *test_sim_run_file(const char *path, const char *const *overrides,
                                       size_t count, uint32_t threads);

/* For a death test, in its forked child just before the call that
 * aborts: sends stderr to /dev/null, so the expected assertion message
 * does not show in a passing run's output (test_dir.c). */
void test_stderr_silence(void);

/* Path of the infersim binary under test (env INFERSIM_BIN, default
 * build/infersim). */
const char *test_infersim_bin(void);

/* Seconds on the monotonic clock (tests/main.c). */
double test_monotonic_s(void);

/* Assertions for loops of many. Check records every assertion that passes
 * with a write to its parent process, so a loop of millions spends its
 * time in system calls, enough to time out on a loaded machine. These call
 * Check only when the condition fails, naming it as ck_assert_* would. */
#define TEST_ASSERT(expr)                                                                 \
    do {                                                                                  \
        if (!(expr)) {                                                                    \
            ck_abort_msg("Assertion '%s' failed", #expr);                                 \
        }                                                                                 \
    } while (0)
#define TEST_ASSERT_EQ_AS(type, format, x, y)                                             \
    do {                                                                                  \
        type test_x_ = (x), test_y_ = (y);                                                \
        if (test_x_ != test_y_) {                                                         \
            ck_abort_msg("Assertion '%s == %s' failed: " format " != " format, #x, #y,    \
                         test_x_, test_y_);                                               \
        }                                                                                 \
    } while (0)
#define TEST_ASSERT_UINT_EQ(x, y) TEST_ASSERT_EQ_AS(uintmax_t, "%ju", x, y)
#define TEST_ASSERT_INT_EQ(x, y) TEST_ASSERT_EQ_AS(intmax_t, "%jd", x, y)

#endif
