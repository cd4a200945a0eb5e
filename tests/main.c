/* main.c -- the test runner: every module's suite in one SRunner, fork
 * mode, so a crash fails only its test. Prints Check's summary line and
 * exits non-zero on any failure. CK_RUN_SUITE / CK_RUN_CASE select a part. */
#include <stdlib.h>

#include "tests/suites.h"

const char *test_infersim_bin(void)
{
    const char *bin = getenv("INFERSIM_BIN");
    return bin != NULL && bin[0] != '\0' ? bin : "build/infersim";
}

int main(void)
{
    Suite *(*const makers[])(void) = {
        test_util_suite,  test_queue_suite,   test_net_suite,    test_node_suite,
        test_infer_suite, test_cons_suite,    test_scn_suite,    test_met_suite,
        test_sim_suite,   test_world_suite,   test_verify_suite, test_cli_suite,
        test_sweep_suite, test_testbed_suite, test_swarm_suite,  test_infer_text_suite,
        test_privacy_suite, test_vrf_suite,     test_emulate_suite,
        test_bft_suite,   test_ledger_suite,
    };
    SRunner *runner = srunner_create(NULL);
    for (size_t i = 0; i < sizeof(makers) / sizeof(makers[0]); i++) {
        srunner_add_suite(runner, makers[i]());
    }
    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
