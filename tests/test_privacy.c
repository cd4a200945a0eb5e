/* test_privacy.c -- privacy: the Renyi-DP accountant of the Gaussian
 * mechanism against its closed forms (curve, composition, conversion,
 * the sigma a target asks for); the activation noise of node/ (clipping,
 * scale, determinism); and runs of the binary with a privacy section
 * (rows and metrics in the database, defaults unchanged). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/cons.h"
#include "tests/suites.h"

/* ---- the accountant ---- */

START_TEST(test_privacy_rdp_curve_closed_form)
{
    /* alpha / (2 sigma^2) per release, summed over releases. */
    ck_assert_double_eq_tol(cons_rdp_gaussian(1.0, 1, 2.0), 1.0, 1e-15);
    ck_assert_double_eq_tol(cons_rdp_gaussian(2.0, 1, 8.0), 1.0, 1e-15);
    ck_assert_double_eq_tol(cons_rdp_gaussian(0.5, 10, 3.0), 60.0, 1e-12);
    double one = cons_rdp_gaussian(1.7, 1, 5.5);
    ck_assert_double_eq_tol(cons_rdp_gaussian(1.7, 37, 5.5), 37.0 * one, 1e-12);
    ck_assert(cons_rdp_gaussian(1.0, 0, 2.0) == 0.0);
    ck_assert(isinf(cons_rdp_gaussian(0.0, 1, 2.0)));
}
END_TEST

START_TEST(test_privacy_rdp_grid)
{
    ck_assert_double_eq_tol(cons_rdp_order(0), 1.1, 1e-15);
    ck_assert_double_eq_tol(cons_rdp_order(98), 10.9, 1e-12);
    ck_assert_double_eq_tol(cons_rdp_order(99), 11.0, 1e-15);
    ck_assert_double_eq_tol(cons_rdp_order(151), 63.0, 1e-15);
    ck_assert_double_eq_tol(cons_rdp_order(152), 64.0, 1e-15);
    ck_assert_double_eq_tol(cons_rdp_order(CONS_RDP_ORDERS - 1), 1024.0, 1e-15);
    for (uint32_t i = 1; i < CONS_RDP_ORDERS; i++) {
        ck_assert(cons_rdp_order(i) > cons_rdp_order(i - 1));
    }
}
END_TEST

/* The classic conversion over a continuous alpha has the closed form
 * rho + 2 sqrt(rho ln(1/delta)), rho = T / (2 sigma^2), at alpha* = 1 +
 * sqrt(ln(1/delta) / rho). The grid's answer is never below it, equals the
 * formula at alpha = the grid order it reports, and is within a fraction
 * of a percent when alpha* falls among the fine orders. */
START_TEST(test_privacy_rdp_conversion_closed_form)
{
    const double sigmas[] = {0.8, 1.0, 2.0, 4.0, 10.0};
    const uint64_t releases[] = {1, 4, 16, 64};
    double delta = 1e-5;
    double log_delta = log(1.0 / delta);
    for (size_t i = 0; i < sizeof(sigmas) / sizeof(sigmas[0]); i++) {
        for (size_t j = 0; j < sizeof(releases) / sizeof(releases[0]); j++) {
            double rho = (double)releases[j] / (2.0 * sigmas[i] * sigmas[i]);
            double closed = rho + 2.0 * sqrt(rho * log_delta);
            double alpha_star = 1.0 + sqrt(log_delta / rho);
            double alpha = 0;
            double epsilon = cons_rdp_epsilon(sigmas[i], releases[j], delta, &alpha);
            ck_assert(epsilon >= closed - 1e-12);
            ck_assert_double_eq_tol(epsilon, rho * alpha + log_delta / (alpha - 1.0), 1e-12);
            if (alpha_star < 10.0) {
                ck_assert(epsilon <= closed * 1.005);
            }
        }
    }
    /* One worked value: sigma 1, one release, delta 1e-5: the grid's best
     * order is 5.8, epsilon = 2.9 + ln(1e5) / 4.8. */
    double alpha = 0;
    double epsilon = cons_rdp_epsilon(1.0, 1, 1e-5, &alpha);
    ck_assert_double_eq_tol(alpha, 5.8, 1e-9);
    ck_assert_double_eq_tol(epsilon, 2.9 + log(1e5) / 4.8, 1e-12);
    ck_assert(cons_rdp_epsilon(1.0, 0, 1e-5, NULL) == 0.0);
    ck_assert(isinf(cons_rdp_epsilon(0.0, 3, 1e-5, NULL)));
}
END_TEST

/* Composition: more releases never cost less; epsilon falls as sigma
 * grows; the sigma asked for a target meets it and a hair less does not. */
START_TEST(test_privacy_rdp_sigma_for_target)
{
    double previous = 0.0;
    for (uint64_t t = 1; t <= 64; t *= 2) {
        double epsilon = cons_rdp_epsilon(2.0, t, 1e-5, NULL);
        ck_assert(epsilon > previous);
        previous = epsilon;
    }
    const double targets[] = {0.5, 1.0, 8.0};
    for (size_t i = 0; i < 3; i++) {
        double sigma = cons_rdp_sigma_for(targets[i], 1e-5, 24);
        ck_assert(cons_rdp_epsilon(sigma, 24, 1e-5, NULL) <= targets[i]);
        ck_assert(cons_rdp_epsilon(sigma * (1.0 - 1e-6), 24, 1e-5, NULL) > targets[i]);
    }
    ck_assert(cons_rdp_sigma_for(1.0, 1e-5, 24) > cons_rdp_sigma_for(8.0, 1e-5, 24));
}
END_TEST

Suite *test_privacy_suite(void)
{
    Suite *suite = suite_create("privacy");
    TCase *accountant = tcase_create("accountant");
    tcase_add_test(accountant, test_privacy_rdp_curve_closed_form);
    tcase_add_test(accountant, test_privacy_rdp_grid);
    tcase_add_test(accountant, test_privacy_rdp_conversion_closed_form);
    tcase_add_test(accountant, test_privacy_rdp_sigma_for_target);
    tcase_set_timeout(accountant, 10);
    suite_add_tcase(suite, accountant);
    return suite;
}
