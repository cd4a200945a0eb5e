/* test_swarm.c -- swarm testing, shrinking and the liveness oracle
 * through the real binary: swarm finds the safety bug planted in
 * scenarios/swarm_weak_quorum.yaml and its reproduce command fails the
 * same way; the same scenario without the bug passes; the output does not
 * depend on --jobs; a failure that comes back without the drawn faults
 * is told apart as the scenario's own; shrink reduces a failing swarm run to a smaller
 * scenario that loads and still fails; converge_within fires on a network
 * that never recovers or a bound shorter than a request, and passes on one
 * that converges; scn_yaml_edit writes back every library scenario with
 * its hash unchanged; bad usage exits 2. Scenarios are a dozen nodes and a
 * two-layer model, so every run takes milliseconds. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "scenarios/scn.h"
#include "tests/suites.h"

#define SWARM_FILE "scenarios/swarm_weak_quorum.yaml"
/* A swarm run of SWARM_FILE (swarm seed 1, run 17) that accepts a wrong
 * output under four drawn faults. */
#define SWARM_FAILING_SEED "3652604436304675674"

static char swarm_dir[256];

static void swarm_setup(void)
{
    test_dir_make(swarm_dir, sizeof(swarm_dir), "swarm");
}

static void swarm_teardown(void)
{
    test_dir_remove(swarm_dir);
}

/* Runs "infersim ARGS" with stdout in out.txt and stderr in err.txt of
 * the test folder; returns the exit code. */
static int swarm_cli(const char *format, ...) __attribute__((format(printf, 1, 2)));

static int swarm_cli(const char *format, ...)
{
    char args[4096];
    char command[8192];
    va_list list;
    va_start(list, format);
    vsnprintf(args, sizeof(args), format, list);
    va_end(list);
    snprintf(command, sizeof(command), "%s %s >'%s/out.txt' 2>'%s/err.txt' </dev/null",
             test_infersim_bin(), args, swarm_dir, swarm_dir);
    int status = system(command);
    ck_assert_msg(WIFEXITED(status), "command died: %s", command);
    return WEXITSTATUS(status);
}

static char *swarm_output(void)
{
    char *text = strdup(test_dir_read(swarm_dir, "out.txt"));
    ck_assert_ptr_nonnull(text);
    return text;
}

/* The output without its runs/min figure (the one thing that varies). */
static char *swarm_output_steady(void)
{
    char *text = swarm_output();
    char *rate = strstr(text, "runs/min");
    char *cut = rate;
    while (cut != NULL && cut > text && cut[-1] != ';') {
        cut -= 1;
    }
    if (cut != NULL) {
        *cut = '\0';
    }
    return text;
}

START_TEST(test_swarm_finds_planted_bug_and_replays_it)
{
    ck_assert_int_eq(swarm_cli("swarm " SWARM_FILE " --runs 12 --jobs 2 --quiet"), 1);
    char *out = swarm_output();
    ck_assert_ptr_nonnull(strstr(out, "FAIL run "));
    ck_assert_ptr_nonnull(strstr(out, ": accepted_wrong ("));
    ck_assert_ptr_nonnull(strstr(out, "failed, accepted_wrong "));
    /* The planted bug needs the drawn liars: run again without its drawn
     * faults, no failure comes back. */
    ck_assert_ptr_nonnull(strstr(out, "  without the drawn faults: passes (the drawn faults are"
                                      " needed)\n"));
    ck_assert_ptr_null(strstr(out, "fails the same way"));
    ck_assert_ptr_nonnull(strstr(out, " (0 of them the same way without the drawn faults);"));
    /* The first failure's reproduce command, run as printed. */
    char *line = strstr(out, "reproduce: infersim ");
    ck_assert_ptr_nonnull(line);
    char *args = line + strlen("reproduce: infersim ");
    args[strcspn(args, "\n")] = '\0';
    char replay[512];
    snprintf(replay, sizeof(replay), "%s", args);
    free(out);
    ck_assert_int_eq(swarm_cli("%s", replay), 1);
    out = swarm_output();
    ck_assert_ptr_nonnull(strstr(out, ": accepted_wrong ("));
    ck_assert_ptr_nonnull(strstr(out, "as a run:  infersim run " SWARM_FILE " --seed "));
    ck_assert_ptr_nonnull(strstr(out, "1 runs, 1 failed, accepted_wrong 1"));
    free(out);
}
END_TEST

/* Swarm on SWARM_FILE with 'sets' finds nothing in any of 'runs' runs:
 * no FAIL line (a run that failed to start, run_failed, included). */
static void swarm_passes(unsigned runs, const char *sets)
{
    ck_assert_int_eq(swarm_cli("swarm " SWARM_FILE " --runs %u --jobs 2 --quiet %s", runs, sets),
                     0);
    char *out = swarm_output();
    char summary[64];
    snprintf(summary, sizeof(summary), "%u runs, 0 failed;", runs);
    ck_assert_ptr_null(strstr(out, "FAIL"));
    ck_assert_ptr_nonnull(strstr(out, summary));
    free(out);
}

START_TEST(test_swarm_correct_scenario_passes)
{
    swarm_passes(12, "--set verification.unsafe_quorum_slack=0");
}
END_TEST

/* Swarm draws only what the scenario's loader accepts: without
 * commitments there is nothing to equivocate on, and 'equivocate' is
 * refused there (these 40 runs drew it six times, each run failing with
 * exit 2 before it started). */
START_TEST(test_swarm_draws_only_what_loads)
{
    swarm_passes(40, "--set verification.unsafe_quorum_slack=0 --set "
                     "verification.commit_reveal=false");
}
END_TEST

/* A scenario whose own cartel holds the quorum fails whatever swarm
 * draws: each failing run, run again without its drawn faults, fails the
 * same way, and the summary counts them. */
START_TEST(test_swarm_tells_the_scenarios_own_failures)
{
    ck_assert_int_eq(swarm_cli("swarm " SWARM_FILE " --runs 4 --jobs 2 --quiet --set "
                               "verification.unsafe_quorum_slack=0 --set 'faults.0={kind: "
                               "collude, at: 0s, nodes: {fraction: 0.7}}'"),
                     1);
    char *out = swarm_output();
    ck_assert_ptr_nonnull(strstr(out, "4 runs, 4 failed, accepted_wrong 4 (4 of them the same"
                                      " way without the drawn faults);"));
    ck_assert_ptr_nonnull(strstr(out, "  without the drawn faults: fails the same way (the"
                                      " scenario's own faults)\n"));
    ck_assert_ptr_null(strstr(out, "passes (the drawn faults are needed)"));
    free(out);
}
END_TEST

START_TEST(test_swarm_same_verdicts_for_any_jobs)
{
    ck_assert_int_eq(swarm_cli("swarm " SWARM_FILE " --runs 8 --seed 1 --jobs 1 --quiet"), 1);
    char *one = swarm_output_steady();
    ck_assert_int_eq(swarm_cli("swarm " SWARM_FILE " --runs 8 --seed 1 --jobs 3 --quiet"), 1);
    char *three = swarm_output_steady();
    ck_assert_str_eq(one, three);
    free(one);
    free(three);
}
END_TEST

/* One number from the test folder's database DB. */
static double swarm_number(const char *db, const char *sql)
{
    char path[512];
    test_dir_path(swarm_dir, db, path, sizeof(path));
    char *text = test_db_query(path, sql);
    double value = atof(text);
    free(text);
    return value;
}

/* Two swarm runs that once failed on false positives. A member whose
 * Byzantine spell ended while the request still ran is penalised for what
 * it did in it, and that is no violation: under ledger settlement, where
 * a verdict is judged when its block commits, after the colluder's spell
 * had ended (ledger_honest); and under instant settlement, where a silent
 * member holds no cache for the steps after its spell and times out on
 * them (committee_tolerant). The penalties are really applied. */
START_TEST(test_swarm_ended_spell_no_false_positive)
{
    ck_assert_int_eq(swarm_cli("swarm scenarios/ledger_honest.yaml --replay 470173214433425673"
                               " --db '%s/l.db'",
                               swarm_dir),
                     0);
    ck_assert(swarm_number("l.db", "SELECT count(*) FROM decisions WHERE node_id = 16"
                                   " AND behaviour = 'collude' AND verdict = 'proven'") > 0);
    ck_assert(swarm_number("l.db", "SELECT stake FROM nodes WHERE node_id = 16") < 10.0);
    ck_assert(swarm_number("l.db", "SELECT count(*) FROM violations") == 0);
    ck_assert_int_eq(swarm_cli("swarm scenarios/committee_tolerant.yaml"
                               " --replay 8999166957926259386 --db '%s/t.db'",
                               swarm_dir),
                     0);
    /* The spell: nodes 34 and 68 silent from 14.671 s to 21.680 s. */
    ck_assert(swarm_number("t.db", "SELECT count(*) FROM decisions WHERE node_id IN (34, 68)"
                                   " AND behaviour = 'honest' AND verdict = 'timeout'"
                                   " AND t_ns > 21680000000") > 0);
    ck_assert(swarm_number("t.db", "SELECT count(*) FROM violations") == 0);
}
END_TEST

/* unjust_slash under drawn network faults. A committed timeout against an
 * honest member whose commitment the faults held past the bound the
 * deadline assumes is the protocol as specified, as honest_penalised is
 * there: this run of ledger_timeout_evidence (a 490 ms delay on 8 nodes)
 * has such slashes and passes. A framing client's penalties taken on its
 * word (ledger.evidence off) are no timeouts, and fail every run whatever
 * the network faults, without them too. */
START_TEST(test_swarm_unjust_timeouts_under_network_faults)
{
    ck_assert_int_eq(swarm_cli("swarm scenarios/ledger_timeout_evidence.yaml"
                               " --replay 5533004624692902113 --db '%s/e.db'",
                               swarm_dir),
                     0);
    ck_assert(swarm_number("e.db", "SELECT count(*) FROM violations"
                                   " WHERE kind = 'unjust_slash'") > 0);
    ck_assert_int_eq(swarm_cli("swarm scenarios/ledger_framing.yaml --runs 4 --jobs 2 --seed 5"
                               " --set ledger.evidence=false --set expect={}"),
                     1);
    char *out = swarm_output();
    ck_assert_ptr_nonnull(strstr(out, "4 runs, 4 failed, unjust_slash 4 (4 of them the same way"
                                      " without the drawn faults);"));
    ck_assert_ptr_nonnull(strstr(out, "drawn: faults.1={kind: reorder"));
    free(out);
}
END_TEST

static void swarm_load(const char *path, scn_scenario **out)
{
    scn_error error;
    int rc = scn_load_file(path, NULL, 0, out, &error);
    ck_assert_msg(rc == 0, "%s: %s", path, error.message);
}

START_TEST(test_swarm_shrink_reduces_and_still_fails)
{
    char small[512];
    test_dir_path(swarm_dir, "small.yaml", small, sizeof(small));
    ck_assert_int_eq(swarm_cli("shrink " SWARM_FILE " --seed " SWARM_FAILING_SEED
                               " --swarm -o %s",
                               small),
                     0);
    char *out = swarm_output();
    ck_assert_ptr_nonnull(strstr(out, "fails with accepted_wrong"));
    ck_assert_ptr_nonnull(strstr(out, "before: 12 nodes, 24 requests, 4 faults"));
    free(out);
    scn_scenario *reduced = NULL;
    swarm_load(small, &reduced);
    ck_assert_uint_lt(reduced->nodes.count, 12);
    ck_assert_uint_lt(reduced->fault_count, 4);
    ck_assert_uint_eq(reduced->seed, strtoull(SWARM_FAILING_SEED, NULL, 10));
    scn_destroy(reduced);
    ck_assert_int_eq(swarm_cli("validate %s", small), 0);
    ck_assert_int_eq(swarm_cli("run %s --check --quiet --db %s/r.db", small, swarm_dir), 1);
    ck_assert_ptr_nonnull(strstr(test_dir_read(swarm_dir, "err.txt"),
                                 "expectation failed: accepted_wrong"));
}
END_TEST

START_TEST(test_swarm_shrink_same_input_same_file)
{
    char first[512], second[512];
    test_dir_path(swarm_dir, "a.yaml", first, sizeof(first));
    test_dir_path(swarm_dir, "b.yaml", second, sizeof(second));
    /* One drawn fault: a short shrink. Under the sanitizers the second,
     * identical shrink would take the same paths again: it runs once. */
    const char *seed = "2086292884672451246";
    ck_assert_int_eq(swarm_cli("shrink " SWARM_FILE " --seed %s --swarm -o %s", seed, first), 0);
    if (getenv("INFERSIM_SANITIZE") == NULL) {
        ck_assert_int_eq(
            swarm_cli("shrink " SWARM_FILE " --seed %s --swarm -o %s", seed, second), 0);
        char *a = strdup(test_dir_read(swarm_dir, "a.yaml"));
        const char *b = test_dir_read(swarm_dir, "b.yaml");
        /* The header names the output file; the scenarios must be identical. */
        ck_assert_str_eq(strstr(a, "\nname:"), strstr(b, "\nname:"));
        free(a);
    }
    /* Without the bug the same run does not fail: nothing to shrink. */
    ck_assert_int_eq(swarm_cli("shrink " SWARM_FILE " --seed %s --swarm -o %s --set "
                               "verification.unsafe_quorum_slack=0",
                               seed, first),
                     1);
}
END_TEST

START_TEST(test_swarm_liveness_fires_and_passes)
{
    /* The planted bug is switched off: only liveness is at stake. */
    const char *safe = "--set verification.unsafe_quorum_slack=0 --quiet --check";
    ck_assert_int_eq(swarm_cli("run " SWARM_FILE " %s --db %s/r.db", safe, swarm_dir), 0);
    /* Ten of the twelve nodes crash for good at 1s: nothing after it
     * completes. Only the two requests of the clients still up (node 10,
     * twice) are the network's failures; the crashed clients' are theirs. */
    ck_assert_int_eq(swarm_cli("run " SWARM_FILE " %s --db %s/r.db --set "
                               "'faults.0={kind: crash, at: 1s, nodes: {ids: [0, 1, 2, 3, 4, "
                               "5, 6, 7, 8, 9]}}'",
                               safe, swarm_dir),
                     1);
    ck_assert_ptr_nonnull(strstr(test_dir_read(swarm_dir, "err.txt"),
                                 "expectation failed: liveness_violations == 0 "
                                 "(converge_within 3s) (actual 2)"));
    /* A crash that heals at 2s: requests after it are served in time. */
    ck_assert_int_eq(swarm_cli("run " SWARM_FILE " %s --db %s/r.db --set "
                               "'faults.0={kind: crash, at: 1s, until: 2s, nodes: all}'",
                               safe, swarm_dir),
                     0);
    /* A bound shorter than any request's latency. */
    ck_assert_int_eq(swarm_cli("run " SWARM_FILE " %s --db %s/r.db --set "
                               "expect.converge_within=50ms",
                               safe, swarm_dir),
                     1);
    ck_assert_int_eq(swarm_cli("export --db %s/r.db --table violations --run 2 --format csv",
                               swarm_dir),
                     0);
    ck_assert_ptr_nonnull(strstr(test_dir_read(swarm_dir, "out.txt"), ",liveness,"));
    ck_assert_int_eq(swarm_cli("export --db %s/r.db --table metrics --run 1 --format csv",
                               swarm_dir),
                     0);
    ck_assert_ptr_nonnull(strstr(test_dir_read(swarm_dir, "out.txt"), "liveness_violations,0"));
}
END_TEST

/* Churn never heals, and a churned client cannot submit or wait: in
 * inference_churn.yaml 26 requests fail because their client is offline
 * when it submits and 4 because it leaves while it waits. None of the 30 is
 * the network's, so liveness holds; a bound no request meets still fires. */
START_TEST(test_swarm_liveness_churned_clients_not_judged)
{
    const char *file = "scenarios/inference_churn.yaml";
    ck_assert_int_eq(swarm_cli("run %s --quiet --check --db %s/c.db --set "
                               "expect.converge_within=2s",
                               file, swarm_dir),
                     0);
    ck_assert_int_eq(swarm_cli("export --db %s/c.db --table requests --run 1 --format csv",
                               swarm_dir),
                     0);
    const char *rows = test_dir_read(swarm_dir, "out.txt");
    uint32_t failed = 0;
    for (const char *at = rows; (at = strstr(at, ",failed,")) != NULL; at++) {
        failed += 1;
    }
    ck_assert_uint_eq(failed, 26);
    ck_assert_int_eq(swarm_cli("run %s --quiet --check --db %s/c.db --set "
                               "expect.converge_within=100ms",
                               file, swarm_dir),
                     1);
    ck_assert_ptr_nonnull(strstr(test_dir_read(swarm_dir, "err.txt"),
                                 "expectation failed: liveness_violations == 0"));
}
END_TEST

/* The loader's view: a bound in nanoseconds, checked as the expectation
 * liveness_violations == 0, and in the params table as written. */
START_TEST(test_swarm_converge_within_loaded)
{
    scn_scenario *scenario = NULL;
    swarm_load(SWARM_FILE, &scenario);
    ck_assert_uint_eq(scenario->converge_within_ns, 3000000000ull);
    bool expected = false;
    for (uint32_t i = 0; i < scenario->expect_count; i++) {
        const scn_expect *e = &scenario->expects[i];
        if (e->converge) {
            ck_assert_str_eq(e->metric, "liveness_violations");
            ck_assert_int_eq(e->cmp, SCN_CMP_EQ);
            expected = true;
        }
    }
    ck_assert(expected);
    bool listed = false;
    for (size_t i = 0; i < scenario->param_count; i++) {
        if (strcmp(scenario->params[i].key, "expect.converge_within") == 0) {
            ck_assert_str_eq(scenario->params[i].value, "3s");
            listed = true;
        }
        ck_assert_str_ne(scenario->params[i].key, "expect.liveness_violations");
    }
    ck_assert(listed);
    scn_destroy(scenario);
}
END_TEST

START_TEST(test_swarm_bad_usage_exits_2)
{
    ck_assert_int_eq(swarm_cli("swarm"), 2);
    ck_assert_int_eq(swarm_cli("swarm " SWARM_FILE), 2);                 /* no --runs */
    ck_assert_int_eq(swarm_cli("swarm " SWARM_FILE " --runs 0"), 2);
    ck_assert_int_eq(swarm_cli("swarm " SWARM_FILE " --runs x"), 2);
    ck_assert_int_eq(swarm_cli("swarm " SWARM_FILE " --runs 2 --replay 5"), 2);
    ck_assert_int_eq(swarm_cli("swarm " SWARM_FILE " --runs 2 --bogus 1"), 2);
    ck_assert_int_eq(swarm_cli("swarm %s/missing.yaml --runs 2", swarm_dir), 2);
    ck_assert_int_eq(swarm_cli("swarm " SWARM_FILE " --runs 2 --set nodes.count=abc"), 2);
    ck_assert_int_eq(swarm_cli("shrink " SWARM_FILE), 2);                /* no --seed */
    ck_assert_int_eq(swarm_cli("shrink " SWARM_FILE " --seed x"), 2);
    ck_assert_int_eq(swarm_cli("shrink %s/missing.yaml --seed 1", swarm_dir), 2);
    ck_assert_int_eq(swarm_cli("swarm --help"), 0);
    ck_assert_ptr_nonnull(strstr(test_dir_read(swarm_dir, "out.txt"), "--replay RS"));
    ck_assert_int_eq(swarm_cli("shrink --help"), 0);
    ck_assert_ptr_nonnull(strstr(test_dir_read(swarm_dir, "out.txt"), "-o OUT.yaml"));
    /* The loader's side: the unsafe knob and the liveness bound are checked. */
    const char *bad[] = {
        "verification.unsafe_quorum_slack=2",       /* >= quorum */
        "verification.unsafe_quorum_slack=-1",
        "expect.converge_within=0s",
        "expect.converge_within=fast",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(swarm_cli("validate " SWARM_FILE " --set '%s'", bad[i]), 2);
    }
    ck_assert_int_eq(swarm_cli("validate scenarios/compare_sampling.yaml --set "
                               "verification.unsafe_quorum_slack=1"),
                     2);
    ck_assert_int_eq(swarm_cli("validate scenarios/gossip.yaml --set "
                               "expect.converge_within=1s"),
                     2);
    ck_assert_ptr_nonnull(strstr(test_dir_read(swarm_dir, "err.txt"),
                                 "converge_within needs an inference workload"));
}
END_TEST

/* Every library scenario written back by scn_yaml_edit loads to the same
 * scenario (same hash); a removal and an override take effect. */
START_TEST(test_swarm_yaml_edit_round_trip)
{
    DIR *dir = opendir("scenarios");
    ck_assert_ptr_nonnull(dir);
    struct dirent *entry;
    size_t checked = 0;
    while ((entry = readdir(dir)) != NULL) {
        size_t length = strlen(entry->d_name);
        if (length < 6 || strcmp(entry->d_name + length - 5, ".yaml") != 0) {
            continue;
        }
        char path[512];
        snprintf(path, sizeof(path), "scenarios/%s", entry->d_name);
        scn_scenario *original = NULL, *written = NULL;
        swarm_load(path, &original);
        FILE *file = fopen(path, "r");
        ck_assert_ptr_nonnull(file);
        static char text[1 << 16];
        size_t size = fread(text, 1, sizeof(text) - 1, file);
        fclose(file);
        text[size] = '\0';
        char *yaml = NULL;
        scn_error error;
        ck_assert_int_eq(scn_yaml_edit(path, text, NULL, 0, &yaml, &error), 0);
        ck_assert_msg(scn_load_string(path, yaml, NULL, 0, &written, &error) == 0, "%s: %s",
                      path, error.message);
        ck_assert_str_eq(original->sha256_hex, written->sha256_hex);
        ck_assert_uint_eq(original->seed, written->seed);
        scn_destroy(original);
        scn_destroy(written);
        free(yaml);
        checked += 1;
    }
    closedir(dir);
    ck_assert_uint_gt(checked, 30);
    const char *text = "name: t\nnodes: {count: 5}\nfaults:\n"
                       "  - {kind: crash, at: 1s, nodes: all}   # first\n"
                       "  - {kind: loss, at: 2s, probability: 0.5, nodes: {ids: [1]}}\n"
                       "expect: {delivery_ratio: \">= 0.5\"}\n";
    const char *edits[] = {"-faults.0", "nodes.count=7", "name=\"a: b # c\""};
    char *yaml = NULL;
    scn_error error;
    scn_scenario *edited = NULL;
    ck_assert_int_eq(scn_yaml_edit("t.yaml", text, edits, 3, &yaml, &error), 0);
    ck_assert_int_eq(scn_load_string("t.yaml", yaml, NULL, 0, &edited, &error), 0);
    ck_assert_uint_eq(edited->fault_count, 1);
    ck_assert_int_eq(edited->faults[0].kind, SCN_FAULT_LOSS);
    ck_assert_uint_eq(edited->nodes.count, 7);
    ck_assert_str_eq(edited->name, "a: b # c");
    ck_assert_int_eq(edited->expects[0].cmp, SCN_CMP_GE);
    scn_destroy(edited);
    free(yaml);
    const char *missing[] = {"-faults.5"};
    ck_assert_int_eq(scn_yaml_edit("t.yaml", text, missing, 1, &yaml, &error), SCN_EUSAGE);
}
END_TEST

Suite *test_swarm_suite(void)
{
    Suite *suite = suite_create("swarm");
    TCase *swarm = tcase_create("swarm");
    tcase_add_checked_fixture(swarm, swarm_setup, swarm_teardown);
    tcase_set_timeout(swarm, 120);
    tcase_add_test(swarm, test_swarm_finds_planted_bug_and_replays_it);
    tcase_add_test(swarm, test_swarm_correct_scenario_passes);
    tcase_add_test(swarm, test_swarm_draws_only_what_loads);
    tcase_add_test(swarm, test_swarm_tells_the_scenarios_own_failures);
    /* Twenty runs again at two --jobs values: a determinism property, which
     * make test checks; under ASan (make sanitize) the same code runs above. */
    if (getenv("INFERSIM_SANITIZE") == NULL) {
        tcase_add_test(swarm, test_swarm_same_verdicts_for_any_jobs);
    }
    tcase_add_test(swarm, test_swarm_bad_usage_exits_2);
    tcase_add_test(swarm, test_swarm_ended_spell_no_false_positive);
    tcase_add_test(swarm, test_swarm_unjust_timeouts_under_network_faults);
    suite_add_tcase(suite, swarm);

    TCase *shrink = tcase_create("shrink");
    tcase_add_checked_fixture(shrink, swarm_setup, swarm_teardown);
    tcase_set_timeout(shrink, 240);
    tcase_add_test(shrink, test_swarm_shrink_reduces_and_still_fails);
    tcase_add_test(shrink, test_swarm_shrink_same_input_same_file);
    tcase_add_test(shrink, test_swarm_yaml_edit_round_trip);
    suite_add_tcase(suite, shrink);

    TCase *liveness = tcase_create("liveness");
    tcase_add_checked_fixture(liveness, swarm_setup, swarm_teardown);
    tcase_set_timeout(liveness, 60);
    tcase_add_test(liveness, test_swarm_liveness_fires_and_passes);
    tcase_add_test(liveness, test_swarm_liveness_churned_clients_not_judged);
    tcase_add_test(liveness, test_swarm_converge_within_loaded);
    suite_add_tcase(suite, liveness);
    return suite;
}
