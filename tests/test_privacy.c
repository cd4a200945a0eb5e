/* test_privacy.c -- privacy: the Renyi-DP accountant of the Gaussian
 * mechanism against its closed forms (curve, composition, conversion,
 * the sigma a target asks for); the activation noise of node/ (clipping,
 * scale, determinism); who holds the model's weights; and runs of the
 * binary with a privacy section (rows and metrics in the database, the
 * attack on the prompt and on the generation steps, the noise under a
 * committee, defaults unchanged). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "consensus/cons.h"
#include "node/node.h"
#include "tests/suites.h"
#include "world/world.h"

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


/* ---- the mechanism (node/privacy.c) ---- */

/* Without noise a row longer than C is scaled to exactly C, in its own
 * direction; a shorter row is left alone. */
START_TEST(test_privacy_noise_clips_rows)
{
    float rows[2 * 4] = {3, 4, 0, 0, 0.3f, 0.4f, 0, 0};
    util_prng prng;
    util_prng_init(&prng, 1);
    node_privacy_noise(rows, 2, 4, 1.0, 0.0, &prng);
    ck_assert_float_eq_tol(rows[0], 0.6f, 1e-6f);
    ck_assert_float_eq_tol(rows[1], 0.8f, 1e-6f);
    ck_assert_float_eq(rows[2], 0.0f);
    ck_assert_float_eq(rows[4], 0.3f);
    ck_assert_float_eq(rows[5], 0.4f);
}
END_TEST

/* The noise has mean 0 and standard deviation sigma x C (4 standard
 * errors), and the same stream gives the same bits. */
START_TEST(test_privacy_noise_scale_and_determinism)
{
    enum { DIM = 64, ROWS = 256 };
    static float a[ROWS * DIM], b[ROWS * DIM];
    util_prng first, second;
    util_prng_init_stream(&first, 9, 3, UTIL_PRNG_PURPOSE_PRIVACY);
    second = first;
    node_privacy_noise(a, ROWS, DIM, 2.0, 0.5, &first);
    node_privacy_noise(b, ROWS, DIM, 2.0, 0.5, &second);
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
    double sum = 0.0, squares = 0.0;
    size_t n = (size_t)ROWS * DIM;
    for (size_t i = 0; i < n; i++) {
        sum += a[i];
        squares += (double)a[i] * a[i];
    }
    double mean = sum / (double)n;
    double sd = sqrt(squares / (double)n - mean * mean);
    ck_assert(fabs(mean) < 4.0 * 1.0 / sqrt((double)n));
    ck_assert(fabs(sd - 1.0) < 4.0 * 1.0 / sqrt(2.0 * (double)n));
}
END_TEST

/* ---- who holds the weights (world/world_privacy.c) ---- */

/* Three segments of 10, 20 and 30 parameters, an embedding of 100 and a
 * head (norm) of 5: the union of segments counts each piece once, and a
 * shared classifier makes the last segment hold the embedding too. */
START_TEST(test_privacy_weights_params_union)
{
    world_result result;
    memset(&result, 0, sizeof(result));
    result.segment_count = 3;
    result.weights_layers[0] = 10;
    result.weights_layers[1] = 20;
    result.weights_layers[2] = 30;
    result.weights_embedding = 100;
    result.weights_head = 5;
    result.weights_shared = false;
    ck_assert_uint_eq(world_weights_params(&result, 0), 0);
    ck_assert_uint_eq(world_weights_params(&result, 1u << 0), 110);
    ck_assert_uint_eq(world_weights_params(&result, 1u << 1), 20);
    ck_assert_uint_eq(world_weights_params(&result, 1u << 2), 35);
    ck_assert_uint_eq(world_weights_params(&result, UINT64_MAX), 165);
    result.weights_shared = true;
    ck_assert_uint_eq(world_weights_params(&result, 1u << 2), 135);
    ck_assert_uint_eq(world_weights_params(&result, (1u << 0) | (1u << 2)), 145);
    ck_assert_uint_eq(world_weights_params(&result, UINT64_MAX), 165);
}
END_TEST

/* ---- runs of the binary ---- */

static char privacy_dir[256];

static void privacy_setup(void)
{
    test_dir_make(privacy_dir, sizeof(privacy_dir), "privacy");
}

static void privacy_teardown(void)
{
    test_dir_remove(privacy_dir);
}

/* "infersim ARGS", output to the test directory; the exit code. */
static int privacy_cli(const char *format, ...)
{
    char args[2048], command[4096];
    va_list list;
    va_start(list, format);
    vsnprintf(args, sizeof(args), format, list);
    va_end(list);
    snprintf(command, sizeof(command), "%s %s >'%s/out.txt' 2>'%s/err.txt' </dev/null",
             test_infersim_bin(), args, privacy_dir, privacy_dir);
    int status = system(command);
    ck_assert_msg(WIFEXITED(status), "command died: %s", command);
    return WEXITSTATUS(status);
}

/* Every row of one query on DIR/DB_NAME, '|' between fields; the caller
 * frees. */
static char *privacy_query(const char *db_name, const char *sql)
{
    char path[512];
    test_dir_path(privacy_dir, db_name, path, sizeof(path));
    return test_db_query(path, sql);
}

static double privacy_metric(const char *db_name, int run, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT value FROM metrics WHERE run_id = %d AND name = '%s'",
             run, name);
    char *text = privacy_query(db_name, sql);
    double value = text[0] != '\0' && strcmp(text, "NULL\n") != 0 ? atof(text) : NAN;
    free(text);
    return value;
}

/* privacy_dp.yaml: every completed request spent exactly the accountant's
 * epsilon of 8 steps x 3 boundaries; every node of every hop has a row;
 * the middle segments saw activations of their own boundary only. */
START_TEST(test_privacy_run_stores_epsilon_and_rows)
{
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_dp.yaml --db %s/p.db --quiet --check"
                                 " --set workload.requests=12",
                                 privacy_dir),
                     0);
    double expected = cons_rdp_epsilon(0.02, 24, 1e-5, NULL);
    char *rows = privacy_query("p.db",
                               "SELECT DISTINCT printf('%.6f', p.epsilon) FROM privacy p JOIN"
                               " requests q USING (run_id, request_id) WHERE q.status ="
                               " 'completed'");
    char want[64];
    snprintf(want, sizeof(want), "%.6f\n", expected);
    ck_assert_str_eq(rows, want);
    free(rows);
    ck_assert_double_eq_tol(privacy_metric("p.db", 1, "privacy_epsilon_max"), expected,
                            1e-6 * expected);
    rows = privacy_query("p.db",
                         "SELECT (SELECT count(*) FROM privacy) = (SELECT count(*) FROM (SELECT"
                         " request_id, node_id FROM executions UNION SELECT request_id, client"
                         " FROM requests)), (SELECT count(*) FROM privacy p JOIN executions e"
                         " USING (run_id, request_id, node_id) WHERE e.segment IN (1, 2) AND"
                         " (p.saw_activations <> e.segment OR p.saw_tokens OR p.saw_logits)),"
                         " (SELECT count(*) FROM privacy WHERE role = 'client' AND saw_tokens"
                         " = 1), (SELECT count(*) FROM requests)");
    ck_assert_str_eq(rows, "1|0|12|12\n");
    free(rows);
    ck_assert_double_eq_tol(privacy_metric("p.db", 1, "plaintext_exposed_ratio"), 1.0, 1e-12);
    /* Per node: a server of segment s >= 1 received its own boundary's 8
     * releases only; segment 0's servers and the clients received none. */
    rows = privacy_query("p.db", "SELECT DISTINCT printf('%.6f', epsilon_received) FROM privacy p"
                                 " JOIN requests q USING (run_id, request_id) WHERE q.status ="
                                 " 'completed' AND p.saw_activations IS NOT NULL");
    snprintf(want, sizeof(want), "%.6f\n", cons_rdp_epsilon(0.02, 8, 1e-5, NULL));
    ck_assert_str_eq(rows, want);
    free(rows);
    rows = privacy_query("p.db", "SELECT count(*), sum(epsilon_received = 0) FROM privacy WHERE"
                                 " saw_activations IS NULL");
    char *bar = strchr(rows, '|');
    ck_assert_ptr_nonnull(bar);
    ck_assert_int_eq(atoi(rows), atoi(bar + 1));
    ck_assert_int_gt(atoi(rows), 0);
    free(rows);
    /* Who holds the weights: every server of 4 segments, in the clear. */
    rows = privacy_query("p.db", "SELECT count(DISTINCT segment), sum(in_tee), sum(layer_count)"
                                 " = 2 * count(*) FROM weights");
    ck_assert_str_eq(rows, "4|0|1\n");
    free(rows);
    ck_assert_double_eq_tol(privacy_metric("p.db", 1, "weights_exposed_ratio"), 1.0, 1e-12);
    ck_assert(isnan(privacy_metric("p.db", 1, "weights_curious_ratio")));
}
END_TEST

/* No noised boundary: the rows and metrics of a run without the section;
 * noise on: the trace (timing) is the same, the answers drift from the
 * reference, and the same seed gives the same noisy answers. */
START_TEST(test_privacy_run_off_unchanged_on_deterministic)
{
    const char *runs[] = {"--set 'privacy.boundaries=[]'", "", "--set privacy.sigma=0.3",
                          "--set privacy.sigma=0.3"};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(privacy_cli("run scenarios/privacy_dp.yaml --db %s/d.db --quiet"
                                     " --set workload.requests=10 %s",
                                     privacy_dir, runs[i]),
                         0);
    }
    ck_assert_int_eq(privacy_cli("run scenarios/default.yaml --db %s/n.db --quiet"
                                 " --set workload.requests=10",
                                 privacy_dir),
                     0);
    char *rows = privacy_query("d.db",
                               "SELECT run_id, group_concat(argmax_agree || ',' ||"
                               " logits_maxabs || ',' || tokens_out, ';') FROM requests"
                               " GROUP BY run_id ORDER BY run_id");
    char *lines[4];
    char *cursor = rows;
    for (int i = 0; i < 4; i++) {
        lines[i] = cursor + 2;
        cursor = strchr(cursor, '\n');
        ck_assert_ptr_nonnull(cursor);
        *cursor++ = '\0';
    }
    ck_assert_str_ne(lines[0], lines[2]);
    ck_assert_str_eq(lines[2], lines[3]);
    ck_assert(privacy_metric("d.db", 3, "argmax_agree_mean") < 0.9);
    ck_assert(privacy_metric("d.db", 1, "argmax_agree_mean") == 1.0);
    ck_assert(privacy_metric("d.db", 1, "privacy_epsilon_mean") == 0.0);
    free(rows);
    rows = privacy_query("d.db", "SELECT count(DISTINCT trace_hash) FROM runs");
    ck_assert_str_eq(rows, "1\n");
    free(rows);
    /* Without a privacy section the epsilon metrics and column are NULL. */
    ck_assert(isnan(privacy_metric("n.db", 1, "privacy_epsilon_mean")));
    rows = privacy_query("n.db", "SELECT count(*), count(epsilon) FROM privacy");
    ck_assert_ptr_nonnull(strstr(rows, "|0\n"));
    free(rows);
    /* Nor does it ask who holds the weights: no rows, NULL metrics. */
    rows = privacy_query("n.db", "SELECT count(*) FROM weights");
    ck_assert_str_eq(rows, "0\n");
    free(rows);
    ck_assert(isnan(privacy_metric("n.db", 1, "weights_exposed_ratio")));
    rows = privacy_query("n.db", "SELECT count(*) > 0, count(noised_argmax_agree) FROM divergence");
    ck_assert_str_eq(rows, "1|0\n");
    free(rows);
    ck_assert(isnan(privacy_metric("n.db", 1, "weights_node_max_ratio")));
}
END_TEST

/* A target epsilon: the loader derives sigma for 24 releases and every
 * completed request spends at most the target. Bad input is refused with
 * a position and exit 2. */
START_TEST(test_privacy_run_epsilon_target)
{
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_dp.yaml --db %s/e.db --quiet"
                                 " --set workload.requests=6 --set privacy.sigma=  --set"
                                 " privacy.epsilon=500",
                                 privacy_dir),
                     0);
    char *rows = privacy_query("e.db", "SELECT value FROM params WHERE key ="
                                       " 'privacy.sigma_derived'");
    double sigma = atof(rows);
    free(rows);
    ck_assert_double_eq_tol(sigma, cons_rdp_sigma_for(500, 1e-5, 24), 1e-6 * sigma);
    ck_assert(privacy_metric("e.db", 1, "privacy_epsilon_max") <= 500.0);
    ck_assert(privacy_metric("e.db", 1, "privacy_epsilon_max") > 499.0);
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_dp.yaml --db %s/bad.db --quiet"
                                 " --set privacy.epsilon=3",
                                 privacy_dir),
                     2);
    ck_assert_int_eq(privacy_cli("validate scenarios/privacy_dp.yaml --set"
                                 " 'privacy.boundaries=[4]'",
                                 privacy_dir),
                     2);
    ck_assert_int_eq(privacy_cli("validate scenarios/privacy_dp.yaml --set privacy.clip=-1",
                                 privacy_dir),
                     2);
}
END_TEST

/* ---- the curious servers' attack (world/world_attack.c) ---- */

/* No noise: the white-box attacker of the default model's second segment
 * recovers at least 95 % of every prompt's tokens, once per (request,
 * curious node), and the metric is their mean. */
START_TEST(test_privacy_attack_recovers_without_noise)
{
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_attack.yaml --db %s/a.db --quiet --check"
                                 " --set workload.requests=4",
                                 privacy_dir),
                     0);
    char *rows = privacy_query("a.db",
                               "SELECT count(*), count(DISTINCT request_id), min(reconstruction)"
                               " >= 0.95, min(saw_activations) = 1, max(saw_activations) = 1"
                               " FROM privacy WHERE reconstruction IS NOT NULL");
    ck_assert_str_eq(rows, "4|4|1|1|1\n");
    free(rows);
    rows = privacy_query("a.db", "SELECT abs(avg(p.reconstruction) - m.value) < 1e-12 FROM"
                                 " privacy p, metrics m WHERE m.name ="
                                 " 'prompt_reconstruction_rate'");
    ck_assert_str_eq(rows, "1\n");
    free(rows);
    /* The model is cut after layer 2 (shared classifier): a server of
     * segment 1 holds 6 of 8 layers, the norm and the embedding's copy. */
    double layer = 2 * 96 + 2 * 96 * 96 + 2 * 96 * 48 + 3 * 96 * 256;
    double embedding = 384 * 96, total = 8 * layer + embedding + 96;
    ck_assert_double_eq_tol(privacy_metric("a.db", 1, "weights_node_max_ratio"),
                            (6 * layer + 96 + embedding) / total, 1e-12);
    ck_assert_double_eq_tol(privacy_metric("a.db", 1, "weights_exposed_ratio"), 1.0, 1e-12);
    ck_assert_double_eq_tol(privacy_metric("a.db", 1, "weights_curious_ratio"), 1.0, 1e-12);
    rows = privacy_query("a.db", "SELECT count(*), count(DISTINCT node_id), max(params) FROM"
                                 " weights");
    char want[64];
    snprintf(want, sizeof(want), "50|50|%.0f\n", 6 * layer + 96 + embedding);
    ck_assert_str_eq(rows, want);
    free(rows);
    /* attack_sample 0: nobody is attacked and the rate is NULL. */
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_attack.yaml --db %s/s.db --quiet"
                                 " --set workload.requests=4 --set privacy.attack_sample=0",
                                 privacy_dir),
                     0);
    ck_assert(isnan(privacy_metric("s.db", 1, "prompt_reconstruction_rate")));
}
END_TEST

/* Recovery falls as sigma grows, over three seeds: the mean at each sigma
 * is below the previous one by more than two standard errors of the
 * difference (the spread of the per-request rates over the seeds). */
START_TEST(test_privacy_attack_falls_with_sigma)
{
    const double sigmas[] = {0.0, 0.3, 1.0};
    double means[3], variances[3];
    for (int i = 0; i < 3; i++) {
        for (int seed = 1; seed <= 3; seed++) {
            ck_assert_int_eq(privacy_cli("run scenarios/privacy_attack.yaml --db %s/f%d.db"
                                         " --quiet --seed %d --set workload.requests=3 --set"
                                         " privacy.sigma=%g",
                                         privacy_dir, i, seed, sigmas[i]),
                             0);
        }
        char name[16];
        snprintf(name, sizeof(name), "f%d.db", i);
        char *rows = privacy_query(name, "SELECT avg(reconstruction), avg(reconstruction *"
                                         " reconstruction) - avg(reconstruction) *"
                                         " avg(reconstruction), count(reconstruction) FROM"
                                         " privacy");
        double mean = 0, variance = 0;
        int n = 0;
        ck_assert_int_eq(sscanf(rows, "%lf|%lf|%d", &mean, &variance, &n), 3);
        ck_assert_int_eq(n, 9);
        means[i] = mean;
        variances[i] = variance / n;
        free(rows);
    }
    ck_assert(means[0] >= 0.95);
    for (int i = 1; i < 3; i++) {
        double se = sqrt(variances[i] + variances[i - 1]);
        ck_assert_msg(means[i - 1] - means[i] > 2.0 * se, "sigma %g: %g, sigma %g: %g",
                      sigmas[i - 1], means[i - 1], sigmas[i], means[i]);
    }
}
END_TEST

/* The generation steps: without noise the curious servers of segment 1
 * recover nearly every generated token from the single row each later
 * step sends them (generate 4: steps 1 to 3), and the metric is the mean
 * of the rows; with large noise they recover far fewer. The classifier is
 * not the embedding here: with a shared one the seeded model mostly
 * repeats its last token, and scoring against the previous position would
 * pass unnoticed. */
START_TEST(test_privacy_attack_generation_steps)
{
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_attack.yaml --db %s/g.db --quiet"
                                 " --set workload.requests=6 --set"
                                 " model.shape.shared_classifier=false",
                                 privacy_dir),
                     0);
    char *rows = privacy_query("g.db",
                               "SELECT count(*), min(generation_steps), max(generation_steps),"
                               " avg(generation_reconstruction) >= 0.95 FROM privacy WHERE"
                               " reconstruction IS NOT NULL");
    ck_assert_str_eq(rows, "6|3|3|1\n");
    free(rows);
    rows = privacy_query("g.db", "SELECT abs(avg(p.generation_reconstruction) - m.value) < 1e-12"
                                 " FROM privacy p, metrics m WHERE m.name ="
                                 " 'generation_reconstruction_rate'");
    ck_assert_str_eq(rows, "1\n");
    free(rows);
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_attack.yaml --db %s/h.db --quiet"
                                 " --set workload.requests=6 --set"
                                 " model.shape.shared_classifier=false --set privacy.sigma=1",
                                 privacy_dir),
                     0);
    double noisy = privacy_metric("h.db", 1, "generation_reconstruction_rate");
    ck_assert_msg(noisy < 0.25, "sigma 1: %g of the generated tokens recovered", noisy);
    ck_assert(privacy_metric("h.db", 1, "prompt_reconstruction_rate") < 0.25);
}
END_TEST

/* The attack runs on the worker pool: a record's task is handed over once
 * its last step has come, or when the run ends with the request still
 * generating (a run cut short at 400 ms: records with 0, 1 and 2 of the 3
 * steps). Every record, the cut ones included, recovers its prompt and
 * steps, and the privacy rows are the same at 1, 2 and 7 threads (1 and 2
 * under ASan). A small vocabulary and short prompts keep it cheap. */
START_TEST(test_privacy_attack_pooled_same_rows)
{
    static const unsigned threads[] = {1, 2, 7};
    int runs = getenv("INFERSIM_SANITIZE") != NULL ? 2 : 3;
    char *first = NULL;
    for (int i = 0; i < runs; i++) {
        ck_assert_int_eq(privacy_cli("run scenarios/privacy_attack.yaml --db %s/w%u.db --quiet"
                                     " --threads %u --set duration=400ms --set"
                                     " workload.rate=80/s --set workload.requests=30 --set"
                                     " 'workload.prompt_tokens=[4, 8]' --set"
                                     " model.shape.vocab=128 --set"
                                     " model.shape.shared_classifier=false --set 'expect={}'",
                                     privacy_dir, threads[i], threads[i]),
                         0);
        char name[16];
        snprintf(name, sizeof(name), "w%u.db", threads[i]);
        char *rows = privacy_query(name, "SELECT * FROM privacy ORDER BY request_id, node_id");
        if (first == NULL) {
            first = rows;
            continue;
        }
        ck_assert_msg(strcmp(first, rows) == 0, "--threads %u wrote other rows", threads[i]);
        free(rows);
    }
    free(first);
    char *rows = privacy_query("w1.db", "SELECT min(generation_steps) = 0, sum(generation_steps"
                                        " = 2) > 0, max(generation_steps), min(reconstruction),"
                                        " min(generation_reconstruction) FROM privacy WHERE"
                                        " reconstruction IS NOT NULL");
    ck_assert_str_eq(rows, "1|1|3|1.0|1.0\n");
    free(rows);
}
END_TEST

/* Every node in a TEE: a curious enclave cannot attack, and no node but
 * the client records a plaintext exposure. */
START_TEST(test_privacy_tee_no_exposure)
{
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_attack.yaml --db %s/t.db --quiet --set"
                                 " workload.requests=4 --set nodes.classes.0.tee=true",
                                 privacy_dir),
                     0);
    char *rows = privacy_query("t.db",
                               "SELECT count(reconstruction), sum(in_tee) = count(*),"
                               " sum(role = 'server' AND (saw_tokens OR saw_logits OR"
                               " saw_activations IS NOT NULL)) FROM privacy");
    ck_assert_str_eq(rows, "0|1|0\n");
    free(rows);
    ck_assert(privacy_metric("t.db", 1, "plaintext_exposed_ratio") == 0.0);
    ck_assert(isnan(privacy_metric("t.db", 1, "prompt_reconstruction_rate")));
    ck_assert(isnan(privacy_metric("t.db", 1, "generation_reconstruction_rate")));
    /* Enclaves hold the weights sealed: nothing of the model in the clear. */
    ck_assert(privacy_metric("t.db", 1, "weights_exposed_ratio") == 0.0);
    ck_assert(privacy_metric("t.db", 1, "weights_node_max_ratio") == 0.0);
    ck_assert(privacy_metric("t.db", 1, "weights_curious_ratio") == 0.0);
    rows = privacy_query("t.db", "SELECT count(*) = sum(in_tee) FROM weights");
    ck_assert_str_eq(rows, "1\n");
    free(rows);
}
END_TEST

/* privacy_tee.yaml: TEE-only serving. No server outside a TEE takes part;
 * an enclave records no plaintext exposure and no attack until the
 * side_channel fault at 4s, after which some requests leak. With the
 * fault after the last request, nothing leaks at all. */
START_TEST(test_privacy_tee_exposed_only_after_side_channel)
{
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_tee.yaml --db %s/s.db --quiet --check",
                                 privacy_dir),
                     0);
    char *rows = privacy_query("s.db",
                               "SELECT min(p.in_tee), sum(p.saw_tokens OR p.saw_logits OR"
                               " p.saw_activations IS NOT NULL OR p.reconstruction IS NOT NULL)"
                               " > 0, sum((p.saw_tokens OR p.saw_logits OR p.saw_activations IS"
                               " NOT NULL OR p.reconstruction IS NOT NULL) AND q.finished_ns <"
                               " 4000000000) FROM privacy p JOIN requests q USING (run_id,"
                               " request_id) WHERE p.role = 'server'");
    ck_assert_str_eq(rows, "1|1|0\n");
    free(rows);
    double exposed = privacy_metric("s.db", 1, "plaintext_exposed_ratio");
    ck_assert(exposed > 0.0 && exposed < 1.0);
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_tee.yaml --db %s/n.db --quiet --set"
                                 " faults.0.at=11900ms",
                                 privacy_dir),
                     0);
    ck_assert(privacy_metric("n.db", 1, "plaintext_exposed_ratio") == 0.0);
    ck_assert(isnan(privacy_metric("n.db", 1, "prompt_reconstruction_rate")));
    rows = privacy_query("n.db", "SELECT count(*) FROM privacy WHERE role = 'server' AND"
                                 " (saw_tokens OR saw_logits OR saw_activations IS NOT NULL)");
    ck_assert_str_eq(rows, "0\n");
    free(rows);
}
END_TEST

/* What the TEE restriction costs, measured: privacy_tee.yaml at 40
 * requests/s, once as written (tokens and activations only to enclaves)
 * and once without the restriction. Restricted, half the nodes serve (the
 * enclaves), the queues at them lengthen the latency tail, and fewer
 * prompts are seen in the clear; unrestricted, nearly every prompt is.
 * None of that needs the curious servers' reconstruction, which costs no
 * simulated time but most of the wall time (a minute and a half under
 * ASan): it runs on one request in twenty. */
START_TEST(test_privacy_tee_restriction_cost)
{
    const char *run = "run scenarios/privacy_tee.yaml --db %s/c.db --quiet --set"
                      " workload.rate=40/s --set privacy.attack_sample=0.05%s";
    ck_assert_int_eq(privacy_cli(run, privacy_dir, ""), 0);
    ck_assert_int_eq(privacy_cli(run, privacy_dir, " --set privacy.require_tee_for=[]"), 0);
    char *rows = privacy_query("c.db", "SELECT run_id, count(DISTINCT node_id) FROM executions"
                                       " GROUP BY run_id ORDER BY run_id");
    ck_assert_str_eq(rows, "1|30\n2|60\n");
    free(rows);
    double restricted = privacy_metric("c.db", 1, "request_latency_p95");
    double open = privacy_metric("c.db", 2, "request_latency_p95");
    ck_assert_msg(restricted > 2.0 * open, "p95 %.0f ns restricted, %.0f ns open", restricted,
                  open);
    ck_assert(privacy_metric("c.db", 2, "plaintext_exposed_ratio") > 0.8);
    ck_assert(privacy_metric("c.db", 1, "plaintext_exposed_ratio") <
              privacy_metric("c.db", 2, "plaintext_exposed_ratio"));
}
END_TEST

/* The curious behaviour as a fault under committees: every member of a
 * segment-1 committee the fault holds attacks (its nodes row says
 * curious), and without noise it recovers the prompts. */
START_TEST(test_privacy_curious_fault_under_committee)
{
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_attack.yaml --db %s/c.db --quiet --set"
                                 " privacy.curious=0 --set verification.protocol=committee --set"
                                 " verification.committee=3 --set verification.quorum=2 --set"
                                 " faults.0.kind=curious --set faults.0.at=0s --set"
                                 " faults.0.nodes.fraction=0.5 --set workload.requests=3",
                                 privacy_dir),
                     0);
    char *rows = privacy_query("c.db",
                               "SELECT count(*) > 3, min(p.reconstruction) >= 0.95,"
                               " min(n.behaviour = 'curious') FROM privacy p JOIN nodes n ON"
                               " n.run_id = p.run_id AND n.node_id = p.node_id WHERE"
                               " p.reconstruction IS NOT NULL");
    ck_assert_str_eq(rows, "1|1|1\n");
    free(rows);
}
END_TEST

/* ---- noise under a committee ---- */

/* privacy_committee.yaml at sigma 0, 0.05 and 0.2: the client noises the
 * accepted output once, so every member of the next committee computes on
 * the same noisy input -- every verdict is 'agreed', nobody honest is
 * penalised, no dispute, no fresh round, the same trace -- while the
 * answers drift from the clean reference: argmax agreement falls. The
 * noise is the client's own, not a lie: the oracle replays it in the
 * honest pipelines, so nothing is accepted wrong at any sigma. */
START_TEST(test_privacy_committee_agrees_under_noise)
{
    const char *sigmas[] = {"0", "0.05", "0.2"};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(privacy_cli("run scenarios/privacy_committee.yaml --db %s/c.db --quiet"
                                     " --check --set workload.requests=12 --set privacy.sigma=%s",
                                     privacy_dir, sigmas[i]),
                         0);
    }
    char *rows = privacy_query("c.db",
                               "SELECT count(*), sum(verdict = 'agreed'), count(DISTINCT"
                               " run_id) FROM decisions");
    char *bar = strchr(rows, '|');
    ck_assert_ptr_nonnull(bar);
    ck_assert_int_eq(atoi(rows), atoi(bar + 1));
    ck_assert_int_gt(atoi(rows), 3 * 12 * 4 * 5 - 1); /* 12 requests, 4 steps and hops, 5 */
    ck_assert_str_eq(strrchr(rows, '|'), "|3\n");
    free(rows);
    rows = privacy_query("c.db", "SELECT count(DISTINCT trace_hash) FROM runs");
    ck_assert_str_eq(rows, "1\n");
    free(rows);
    double agree[3], wrong[3];
    for (int i = 0; i < 3; i++) {
        ck_assert(privacy_metric("c.db", i + 1, "honest_penalised") == 0.0);
        ck_assert(privacy_metric("c.db", i + 1, "resamples") == 0.0);
        agree[i] = privacy_metric("c.db", i + 1, "argmax_agree_mean");
        wrong[i] = privacy_metric("c.db", i + 1, "accepted_wrong");
    }
    ck_assert(agree[0] == 1.0);
    ck_assert_msg(agree[1] > agree[2] && agree[2] < 0.5, "%g %g", agree[1], agree[2]);
    ck_assert(wrong[0] == 0.0 && wrong[1] == 0.0 && wrong[2] == 0.0);
    /* Per class: each kernel variant's own run with the noise (the
     * oracle's draws) against the clean reference; its clean run agrees. */
    rows = privacy_query("c.db",
                         "SELECT run_id, count(*), min(a) = 1, max(n) <= 1, max(n) < 0.5 FROM"
                         " (SELECT run_id, class, avg(argmax_agree) AS a,"
                         " avg(noised_argmax_agree) AS n FROM divergence GROUP BY run_id, class)"
                         " GROUP BY run_id ORDER BY run_id");
    ck_assert_str_eq(rows, "1|3|1|1|0\n2|3|1|1|0\n3|3|1|1|1\n");
    free(rows);
    rows = privacy_query("c.db", "SELECT min(noised_argmax_agree) FROM divergence WHERE run_id = 1");
    ck_assert_str_eq(rows, "1.0\n");
    free(rows);
    /* infersim report shows the privacy tables of such a run. */
    ck_assert_int_eq(privacy_cli("report --db %s/c.db --run 3 -o %s/r.html", privacy_dir,
                                 privacy_dir),
                     0);
    const char *html = test_dir_read(privacy_dir, "r.html");
    ck_assert_ptr_nonnull(strstr(html, "<h2>Privacy: who saw what</h2>"));
    ck_assert_ptr_nonnull(strstr(html, "<h2>Privacy: what the noise costs per class</h2>"));
    ck_assert_ptr_nonnull(strstr(html, "<h2>Privacy: who holds the weights</h2>"));
}
END_TEST

/* Even the exact rule accepts the noise when the members share a kernel:
 * privacy_committee.yaml on one kernel variant under exact agreement, at
 * sigma 0.2 -- every verdict agreed (the members' outputs are the same
 * bits), while every answer is far from the clean reference. The oracle's
 * replay of the client's noise gives those very bits: under the exact final
 * rule nothing is accepted wrong, also when a quarter of the nodes is silent
 * and outputs are accepted from later rounds, whose noise is the round's
 * own. Colluders' agreed lie is still accepted wrong. */
START_TEST(test_privacy_committee_exact_rule_under_noise)
{
    FILE *in = fopen("scenarios/privacy_committee.yaml", "r");
    ck_assert_ptr_nonnull(in);
    static char text[16384];
    size_t n = fread(text, 1, sizeof(text) - 1, in);
    fclose(in);
    text[n] = '\0';
    char *rule = strstr(text, "  agreement: {rule: maxabs, epsilon: 0.05}\n"
                              "  final_agreement: {rule: topk, top_k: 1}\n");
    ck_assert_ptr_nonnull(rule);
    const char *exact = "  agreement: {rule: exact}\n  final_agreement: {rule: exact}\n";
    static char edited[16384];
    snprintf(edited, sizeof(edited), "%.*s%s%s", (int)(rule - text), text, exact,
             rule + strlen("  agreement: {rule: maxabs, epsilon: 0.05}\n"
                           "  final_agreement: {rule: topk, top_k: 1}\n"));
    test_dir_write(privacy_dir, "exact.yaml", edited);
    ck_assert_int_eq(privacy_cli("run %s/exact.yaml --db %s/x.db --quiet --check --set"
                                 " workload.requests=8 --set privacy.sigma=0.2 --set"
                                 " nodes.classes.1.kernel=fma --set nodes.classes.2.kernel=fma",
                                 privacy_dir, privacy_dir),
                     0);
    char *rows = privacy_query("x.db", "SELECT count(*) > 0, count(*) = sum(verdict = 'agreed')"
                                       " FROM decisions");
    ck_assert_str_eq(rows, "1|1\n");
    free(rows);
    rows = privacy_query("x.db", "SELECT value FROM params WHERE key ="
                                 " 'verification.agreement.rule'");
    ck_assert_str_eq(rows, "exact\n");
    free(rows);
    ck_assert(privacy_metric("x.db", 1, "argmax_agree_mean") < 0.5);
    ck_assert(privacy_metric("x.db", 1, "honest_penalised") == 0.0);
    ck_assert(privacy_metric("x.db", 1, "accepted_wrong") == 0.0);
    const char *same = "--quiet --set workload.requests=8 --set privacy.sigma=0.2 --set"
                       " nodes.classes.1.kernel=fma --set nodes.classes.2.kernel=fma";
    ck_assert_int_eq(privacy_cli("run %s/exact.yaml --db %s/x.db %s --set verification.retries=4"
                                 " --set 'faults.0={kind: silent, at: 0s, nodes: {fraction:"
                                 " 0.25}}'",
                                 privacy_dir, privacy_dir, same),
                     0);
    rows = privacy_query("x.db", "SELECT max(round) > 0 FROM decisions WHERE run_id = 2 AND"
                                 " accepted");
    ck_assert_str_eq(rows, "1\n");
    free(rows);
    ck_assert(privacy_metric("x.db", 2, "requests_completed") > 0.0);
    ck_assert(privacy_metric("x.db", 2, "accepted_wrong") == 0.0);
    ck_assert_int_eq(privacy_cli("run %s/exact.yaml --db %s/x.db %s --set 'faults.0={kind:"
                                 " collude, at: 0s, nodes: {fraction: 0.7}}'",
                                 privacy_dir, privacy_dir, same),
                     0);
    ck_assert(privacy_metric("x.db", 3, "accepted_wrong") > 0.0);
}
END_TEST

/* With kernels mixed in a committee, the client follows a pipeline of
 * several kernels: each boundary's rows from whichever member's output it
 * accepted. privacy_committee.yaml (every node honest, three kernels) at
 * this seed has a step whose logits are a near tie that the kernels' drift
 * tips, so the accepted answer agrees with no single kernel's pipeline: the
 * checker took it for a lie (accepted_wrong 1). It now also replays the
 * pipeline the client followed, and nothing honest is accepted wrong; a
 * cartel's agreed lie on the same mixed kernels still is, every request. */
START_TEST(test_privacy_committee_mixed_kernels_replayed)
{
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_committee.yaml --db %s/m.db --quiet"
                                 " --seed 6742332315137439397",
                                 privacy_dir),
                     0);
    ck_assert(privacy_metric("m.db", 1, "requests_completed") == 30.0);
    ck_assert(privacy_metric("m.db", 1, "accepted_wrong") == 0.0);
    char *rows = privacy_query("m.db", "SELECT count(*) FROM violations");
    ck_assert_str_eq(rows, "0\n");
    free(rows);
    ck_assert_int_eq(privacy_cli("run scenarios/privacy_committee.yaml --db %s/m.db --quiet"
                                 " --seed 6742332315137439397 --set workload.requests=12 --set"
                                 " 'faults.0={kind: collude, at: 0s, nodes: {fraction: 0.7}}'",
                                 privacy_dir),
                     0);
    ck_assert(privacy_metric("m.db", 2, "accepted_wrong") == 12.0);
}
END_TEST

/* The kernels' drift can flip a near tie of the logits: at this seed and
 * sigma two rtx (bf16) members of a last-segment committee lose a top-1
 * vote though honest, and honest_penalised says so. A margin of 0.1 on the
 * final rule spares them (every verdict agreed), while a cartel's agreed
 * lie is still accepted wrong on every request. */
START_TEST(test_privacy_committee_margin_spares_near_ties)
{
    const char *run = "run scenarios/privacy_committee.yaml --db %s/t.db --quiet --seed"
                      " 4934951852792015809 --set privacy.sigma=0.05 --check %s";
    ck_assert_int_eq(privacy_cli(run, privacy_dir, ""), 1); /* honest_penalised == 0 fails */
    ck_assert(privacy_metric("t.db", 1, "honest_penalised") == 2.0);
    ck_assert_int_eq(privacy_cli(run, privacy_dir,
                                 "--set verification.final_agreement.margin=0.1"),
                     0);
    ck_assert(privacy_metric("t.db", 2, "honest_penalised") == 0.0);
    char *rows = privacy_query("t.db", "SELECT count(*) > 0, count(*) = sum(verdict = 'agreed')"
                                       " FROM decisions WHERE run_id = 2");
    ck_assert_str_eq(rows, "1|1\n");
    free(rows);
    ck_assert_int_eq(privacy_cli(run, privacy_dir,
                                 "--set verification.final_agreement.margin=0.1 --set"
                                 " workload.requests=12 --set 'faults.0={kind: collude, at: 0s,"
                                 " nodes: {fraction: 0.7}}'"),
                     1);
    ck_assert(privacy_metric("t.db", 3, "accepted_wrong") == 12.0);
}
END_TEST

/* ---- the figure ---- */

/* sweep_privacy.yaml cut down to two sigmas and two seeds: plot --kind
 * privacy draws the three metrics against privacy.sigma and the epsilon
 * of each point on the top axis; without --sweep it is a usage error. */
START_TEST(test_privacy_plot_frontier)
{
    ck_assert_int_eq(privacy_cli("sweep scenarios/sweep_privacy.yaml --db %s/w.db --quiet"
                                 " --jobs 2 --seeds 2 --param privacy.sigma=0,1 --set"
                                 " workload.requests=2",
                                 privacy_dir),
                     0);
    char *rows = privacy_query("w.db", "SELECT count(*) FROM sweep_summary WHERE metric IN"
                                       " ('prompt_reconstruction_rate', 'argmax_agree_mean')");
    ck_assert_str_eq(rows, "4\n");
    free(rows);
    ck_assert_int_eq(privacy_cli("plot --db %s/w.db --kind privacy --sweep 1 -o %s/f.svg",
                                 privacy_dir, privacy_dir),
                     0);
    const char *svg = test_dir_read(privacy_dir, "f.svg");
    ck_assert_ptr_nonnull(strstr(svg, "</svg>"));
    ck_assert_ptr_nonnull(strstr(svg, "prompt_reconstruction_rate"));
    ck_assert_ptr_nonnull(strstr(svg, "argmax_agree_mean"));
    ck_assert_ptr_nonnull(strstr(svg, "generation_reconstruction_rate"));
    ck_assert_ptr_nonnull(strstr(svg, "privacy.sigma"));
    /* The top axis: the epsilon of each sigma (inf at 0). */
    ck_assert_ptr_nonnull(strstr(svg, "privacy_epsilon_mean"));
    ck_assert_ptr_nonnull(strstr(svg, ">inf<"));
    ck_assert_int_eq(privacy_cli("plot --db %s/w.db --kind privacy --run 1 -o %s/g.svg",
                                 privacy_dir, privacy_dir),
                     2);
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
    TCase *mechanism = tcase_create("mechanism");
    tcase_add_test(mechanism, test_privacy_noise_clips_rows);
    tcase_add_test(mechanism, test_privacy_noise_scale_and_determinism);
    tcase_add_test(mechanism, test_privacy_weights_params_union);
    tcase_set_timeout(mechanism, 10);
    suite_add_tcase(suite, mechanism);
    TCase *runs = tcase_create("runs");
    tcase_add_checked_fixture(runs, privacy_setup, privacy_teardown);
    tcase_add_test(runs, test_privacy_run_stores_epsilon_and_rows);
    tcase_add_test(runs, test_privacy_run_off_unchanged_on_deterministic);
    tcase_add_test(runs, test_privacy_run_epsilon_target);
    tcase_set_timeout(runs, 60);
    suite_add_tcase(suite, runs);
    TCase *attack = tcase_create("attack");
    tcase_add_checked_fixture(attack, privacy_setup, privacy_teardown);
    tcase_add_test(attack, test_privacy_attack_recovers_without_noise);
    /* A statistical property over nine attacked runs, the attack on every
     * generation step and a side channel opening mid-run: make test checks
     * them; under ASan (make sanitize, where each is a minute of attack
     * arithmetic) the same code paths run in the others. */
    if (getenv("INFERSIM_SANITIZE") == NULL) {
        tcase_add_test(attack, test_privacy_attack_falls_with_sigma);
        tcase_add_test(attack, test_privacy_attack_generation_steps);
        tcase_add_test(attack, test_privacy_tee_exposed_only_after_side_channel);
    }
    tcase_add_test(attack, test_privacy_attack_pooled_same_rows);
    tcase_add_test(attack, test_privacy_tee_no_exposure);
    tcase_add_test(attack, test_privacy_tee_restriction_cost);
    tcase_add_test(attack, test_privacy_curious_fault_under_committee);
    tcase_set_timeout(attack, 120);
    suite_add_tcase(suite, attack);
    TCase *committee = tcase_create("committee");
    tcase_add_checked_fixture(committee, privacy_setup, privacy_teardown);
    tcase_add_test(committee, test_privacy_committee_agrees_under_noise);
    tcase_add_test(committee, test_privacy_committee_exact_rule_under_noise);
    tcase_add_test(committee, test_privacy_committee_mixed_kernels_replayed);
    tcase_add_test(committee, test_privacy_committee_margin_spares_near_ties);
    tcase_set_timeout(committee, 120);
    suite_add_tcase(suite, committee);
    TCase *figure = tcase_create("figure");
    tcase_add_checked_fixture(figure, privacy_setup, privacy_teardown);
    tcase_add_test(figure, test_privacy_plot_frontier);
    tcase_set_timeout(figure, 120);
    suite_add_tcase(suite, figure);
    return suite;
}
