/* test_scn.c -- the scenario loader: a full scenario converted field by
 * field, defaults, anchors and merge keys, the unit parsers, --set
 * overrides, the params table and its hash, inference scenarios (model from a
 * seed or a checkpoint, segments, memory, workload), a library of malformed files in
 * tests/bad/ (each with its expected position and message), error
 * formatting, the key table (every params key a row, every row documented,
 * misspelled keys' messages), and out-of-memory at every allocation. Run
 * from the repo root. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scenarios/scn.h"
#include "scenarios/scn_int.h"
#include "tests/suites.h"
#include "util/alloc.h"

static const char test_scn_full[] =
    "name: full-run\n"
    "seed: 42\n"
    "duration: 1min\n"
    "x-latency: &lat\n"
    "  model: uniform\n"
    "  min: 5ms\n"
    "  max: 50ms\n"
    "x-eu: &eu {name: eu, fraction: 0.5}\n"
    "network:\n"
    "  latency:\n"
    "    <<: *lat\n"
    "    max: 80ms\n"
    "  regions:\n"
    "    eu: {eu: 2ms, us: 40ms}\n"
    "    us: {us: 3ms}\n"
    "  jitter: 1.5ms\n"
    "  bandwidth: 100Mbps\n"
    "  loss: 0.01\n"
    "  duplicate: 0.02\n"
    "  reorder: 0.03\n"
    "  corrupt: 0.0001\n"
    "  reorder_delay: 20us\n"
    "nodes:\n"
    "  count: 100\n"
    "  classes:\n"
    "    - {name: gpu, fraction: 0.25, bandwidth: 10Gbps}\n"
    "    - {name: cpu, fraction: 0.75}\n"
    "  regions:\n"
    "    - *eu\n"
    "    - {<<: *eu, name: us}\n"
    "gossip:\n"
    "  mode: pushpull\n"
    "  fanout: 8\n"
    "  pull_interval: 250ms\n"
    "  pull_max: 32\n"
    "workload:\n"
    "  messages: 5000\n"
    "  rate: 2/ms\n"
    "  arrival: constant\n"
    "  start: 1s\n"
    "  size: 4KiB\n"
    "faults:\n"
    "  - kind: crash\n"
    "    at: 2s\n"
    "    until: 5s\n"
    "    nodes: {ids: [1, 2, 3], class: gpu}\n"
    "  - kind: partition\n"
    "    at: 10s\n"
    "    groups: [{region: eu}, {range: 10-20}, {range: [30, 40], fraction: 0.5}]\n"
    "  - kind: reorder\n"
    "    at: 1s\n"
    "    nodes: all\n"
    "    probability: 0.5\n"
    "  - kind: delay\n"
    "    at: 3s\n"
    "    nodes: {region: us, all: true}\n"
    "    delay: 100ms\n"
    "  - kind: partition\n"
    "    at: 4s\n"
    "    shape: isolate\n"
    "    nodes: {ids: [7]}\n"
    "expect:\n"
    "  delivery_ratio: \">= 0.99\"\n"
    "  latency_p99: \"<= 2s\"\n"
    "  events: 5\n"
    "  messages_dropped: \"<1e3\"\n"
    "output:\n"
    "  db: out/run.db\n"
    "  sample_interval: 0\n";

static int test_scn_load(const char *text, const char *const *overrides, size_t count,
                         scn_scenario **out, scn_error *error)
{
    return scn_load_string("mem.yaml", text, overrides, count, out, error);
}

static const char *test_scn_param(const scn_scenario *s, const char *key)
{
    for (size_t i = 0; i < s->param_count; i++) {
        if (strcmp(s->params[i].key, key) == 0) {
            return s->params[i].value;
        }
    }
    return NULL;
}

/* ---- load ---------------------------------------------------------------- */

/* Values for people: one formatting per unit, three significant digits. */
START_TEST(test_scn_format_values)
{
    static const struct {
        const char *unit;
        double value;
        const char *text;
    } cases[] = {
        {"ns", 3.82521e9, "3.83 s"},       {"ns", 704e6, "704 ms"},
        {"ns", 2415249551.0, "2.42 s"},    {"ns", 999.7e6, "1.00 s"},
        {"ns", 82.8e6, "82.8 ms"},         {"ns", 1500.0, "1.50 µs"},
        {"ns", 12.0, "12.0 ns"},           {"ns", 0.0, "0 ns"},
        {"ns", 150e6, "150 ms"},           {"s", 4.87, "4.87 s"},
        {"s", 0.0123, "12.3 ms"},          {"ns", 7200e9, "7200 s"},
        {"B", 3.0e6, "3.00 MB"},           {"B", 33300.0, "33.3 kB"},
        {"B", 512.0, "512 B"},             {"B", 9.97e9, "9.97 GB"},
        {"FLOP", 7.87e9, "7.87 GFLOP"},    {"FLOP", 16.7e6, "16.7 MFLOP"},
        {"ratio", 1.0, "1"},               {"ratio", 0.995, "0.995"},
        {"ratio", 0.96666666, "0.9667"},   {"ratio", 0.0, "0"},
        {"ratio", 0.00001234, "1.23e-05"}, {"stake", 104.8828, "104.8828"},
        {"count", 8800.0, "8800"},         {"count", 9.13e6, "9.13M"},
        {"tokens/s", 53.333, "53.3 tokens/s"}, {"events/s", 3364.0, "3.36k events/s"},
        {"events/s", 1.25e6, "1.25M events/s"}, {"events/s", 999999.7, "1.00M events/s"},
        {"ns", NAN, "-"},                  {NULL, 2.5, "2.5"},
        {"ns", -3e6, "-3.00 ms"},
    };
    char text[SCN_FORMAT_MAX];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        scn_format_value(text, sizeof(text), cases[i].unit, cases[i].value);
        ck_assert_msg(strcmp(text, cases[i].text) == 0, "%s %.17g: '%s', expected '%s'",
                      cases[i].unit ? cases[i].unit : "NULL", cases[i].value, text,
                      cases[i].text);
    }
    ck_assert_str_eq(scn_format_metric(text, sizeof(text), "request_latency_p99", 3.82521e9),
                     "3.83 s");
    ck_assert_str_eq(scn_format_metric(text, sizeof(text), "no_such_metric", 0.25), "0.25");
    /* An expectation's actual in the unit of its bound. */
    static const struct {
        const char *metric;
        const char *bound;
        double actual;
        const char *text;
    } expects[] = {
        {"request_latency_p99", "<= 6s", 3.82521e9, "3.83 s"},
        {"first_token_p50", "<= 1s", 302772318.0, "0.303 s"},
        {"latency_p50", "<= 250ms", 82.8e6, "82.8 ms"},
        {"latency_p50", "<= 250 ms", 82.8e6, "82.8 ms"},
        {"finality_p50", ">= 10s", 10.3e9, "10.3 s"},
        {"finality_p99", "< 2min", 90e9, "1.50 min"},
        {"latency_p99", "<= 5000000", 3e6, "3.00 ms"},  /* bare: nanoseconds, human units */
        {"completed_ratio", ">= 0.99", 1.0, "1"},
        {"bytes_sent", "< 1000000", 3.31e6, "3.31 MB"},
        {"request_latency_p99", "<= 6s", NAN, "-"},
    };
    for (size_t i = 0; i < sizeof(expects) / sizeof(expects[0]); i++) {
        scn_expect expect;
        memset(&expect, 0, sizeof(expect));
        snprintf(expect.metric, sizeof(expect.metric), "%s", expects[i].metric);
        snprintf(expect.text, sizeof(expect.text), "%s", expects[i].bound);
        scn_format_expect(text, sizeof(text), &expect, expects[i].actual);
        ck_assert_msg(strcmp(text, expects[i].text) == 0, "%s %s: '%s', expected '%s'",
                      expects[i].metric, expects[i].bound, text, expects[i].text);
    }
}
END_TEST

START_TEST(test_scn_load_full_fields)
{
    scn_scenario *s = NULL;
    scn_error e;
    int rc = test_scn_load(test_scn_full, NULL, 0, &s, &e);
    ck_assert_msg(rc == 0, "%s:%u:%u: %s", e.file, e.line, e.column, e.message);
    ck_assert_str_eq(s->name, "full-run");
    ck_assert_str_eq(s->source_path, "mem.yaml");
    ck_assert_uint_eq(s->seed, 42);
    ck_assert_uint_eq(s->duration_ns, 60000000000ull);
    const scn_network *n = &s->network;
    ck_assert_int_eq(n->latency.kind, SCN_LATENCY_UNIFORM);
    ck_assert_uint_eq(n->latency.min_ns, 5000000);
    ck_assert_uint_eq(n->latency.max_ns, 80000000);       /* explicit beats merged */
    ck_assert_uint_eq(n->latency.value_ns, 20000000);     /* default */
    ck_assert(n->has_region_matrix);
    ck_assert_uint_eq(n->region_latency_ns[0][0], 2000000);
    ck_assert_uint_eq(n->region_latency_ns[0][1], 40000000);
    ck_assert_uint_eq(n->region_latency_ns[1][0], 40000000);   /* mirrored */
    ck_assert_uint_eq(n->region_latency_ns[1][1], 3000000);
    ck_assert_uint_eq(n->jitter_ns, 1500000);
    ck_assert_uint_eq(n->bandwidth_bps, 100000000);
    ck_assert(n->loss == 0.01 && n->duplicate == 0.02 && n->reorder == 0.03);
    ck_assert(n->corrupt == 0.0001);
    ck_assert_uint_eq(n->reorder_delay_ns, 20000);
    ck_assert_uint_eq(s->nodes.count, 100);
    ck_assert_uint_eq(s->nodes.class_count, 2);
    ck_assert_str_eq(s->nodes.classes[0].name, "gpu");
    ck_assert(s->nodes.classes[0].fraction == 0.25);
    ck_assert_uint_eq(s->nodes.classes[0].bandwidth_bps, 10000000000ull);
    ck_assert_uint_eq(s->nodes.classes[1].bandwidth_bps, 0);
    ck_assert_uint_eq(s->nodes.region_count, 2);
    ck_assert_str_eq(s->nodes.regions[0].name, "eu");     /* alias */
    ck_assert_str_eq(s->nodes.regions[1].name, "us");     /* merge, name overridden */
    ck_assert(s->nodes.regions[1].fraction == 0.5);
    ck_assert_int_eq(s->gossip.mode, SCN_GOSSIP_PUSHPULL);
    ck_assert_uint_eq(s->gossip.fanout, 8);
    ck_assert_uint_eq(s->gossip.pull_interval_ns, 250000000);
    ck_assert_uint_eq(s->gossip.pull_max, 32);
    ck_assert_uint_eq(s->workload.messages, 5000);
    ck_assert(s->workload.rate_per_s == 2000.0);
    ck_assert_int_eq(s->workload.arrival, SCN_ARRIVAL_CONSTANT);
    ck_assert_uint_eq(s->workload.start_ns, 1000000000);
    ck_assert_uint_eq(s->workload.size_bytes, 4096);
    ck_assert_str_eq(s->output.db, "out/run.db");
    ck_assert_uint_eq(s->output.sample_interval_ns, 0);
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_load_full_faults_expect)
{
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load(test_scn_full, NULL, 0, &s, &e), 0);
    ck_assert_uint_eq(s->fault_count, 5);
    const scn_fault *f = &s->faults[0];
    ck_assert_int_eq(f->kind, SCN_FAULT_CRASH);
    ck_assert_uint_eq(f->at_ns, 2000000000);
    ck_assert_uint_eq(f->until_ns, 5000000000);
    ck_assert_uint_eq(f->line, 43);
    ck_assert_uint_eq(f->nodes.id_count, 3);
    ck_assert_uint_eq(f->nodes.ids[2], 3);
    ck_assert_int_eq(f->nodes.class_index, 0);
    ck_assert_int_eq(f->nodes.region_index, -1);
    ck_assert(!f->nodes.all);
    f = &s->faults[1];
    ck_assert_int_eq(f->kind, SCN_FAULT_PARTITION);
    ck_assert_int_eq(f->shape, SCN_PARTITION_GROUPS);
    ck_assert_uint_eq(f->until_ns, UINT64_MAX);
    ck_assert_uint_eq(f->group_count, 3);
    ck_assert_int_eq(f->groups[0].region_index, 0);
    ck_assert(f->groups[1].has_range && f->groups[1].range_first == 10);
    ck_assert_uint_eq(f->groups[1].range_last, 20);
    ck_assert_uint_eq(f->groups[2].range_first, 30);
    ck_assert(f->groups[2].fraction == 0.5);
    f = &s->faults[2];
    ck_assert_int_eq(f->kind, SCN_FAULT_REORDER);
    ck_assert(f->nodes.all && f->probability == 0.5);
    ck_assert_uint_eq(f->delay_ns, 20000);                /* network.reorder_delay */
    f = &s->faults[3];
    ck_assert_int_eq(f->kind, SCN_FAULT_DELAY);
    ck_assert_uint_eq(f->delay_ns, 100000000);
    ck_assert(f->nodes.all && f->nodes.region_index == 1);
    f = &s->faults[4];
    ck_assert_int_eq(f->shape, SCN_PARTITION_ISOLATE);
    ck_assert_uint_eq(f->nodes.ids[0], 7);
    ck_assert_uint_eq(s->expect_count, 4);
    ck_assert_str_eq(s->expects[0].metric, "delivery_ratio");
    ck_assert_int_eq(s->expects[0].cmp, SCN_CMP_GE);
    ck_assert(s->expects[0].value == 0.99);
    ck_assert_str_eq(s->expects[0].text, ">= 0.99");
    ck_assert_int_eq(s->expects[1].cmp, SCN_CMP_LE);
    ck_assert(s->expects[1].value == 2e9);
    ck_assert_int_eq(s->expects[2].cmp, SCN_CMP_EQ);
    ck_assert(s->expects[2].value == 5);
    ck_assert_int_eq(s->expects[3].cmp, SCN_CMP_LT);
    ck_assert(s->expects[3].value == 1000);
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_load_defaults)
{
    scn_scenario *s = NULL;
    scn_error e;
    int rc = scn_load_string("dir/sub/small-net.yaml", "nodes: {count: 3}\nexpect:\n", NULL, 0,
                             &s, &e);
    ck_assert_msg(rc == 0, "%s", e.message);
    ck_assert_str_eq(s->name, "small-net");
    ck_assert_uint_eq(s->seed, 1);
    ck_assert_uint_eq(s->duration_ns, 10000000000ull);
    ck_assert_int_eq(s->network.latency.kind, SCN_LATENCY_CONSTANT);
    ck_assert_uint_eq(s->network.latency.value_ns, 20000000);
    ck_assert(s->network.latency.sigma == 0.5);
    ck_assert(!s->network.has_region_matrix);
    ck_assert_uint_eq(s->network.bandwidth_bps, 1000000000);
    ck_assert_uint_eq(s->network.reorder_delay_ns, 10000000);
    ck_assert_uint_eq(s->nodes.class_count, 1);
    ck_assert_str_eq(s->nodes.classes[0].name, "default");
    ck_assert_str_eq(s->nodes.regions[0].name, "default");
    ck_assert(s->nodes.regions[0].fraction == 1.0);
    ck_assert_uint_eq(s->gossip.fanout, 2);               /* default 6 clamped to count-1 */
    ck_assert_uint_eq(s->gossip.pull_interval_ns, 500000000);
    ck_assert_uint_eq(s->gossip.pull_max, 16);
    ck_assert_uint_eq(s->workload.messages, 100);
    ck_assert(s->workload.rate_per_s == 100.0);
    ck_assert_uint_eq(s->workload.size_bytes, 1024);
    ck_assert_int_eq(s->workload.kind, SCN_WORKLOAD_GOSSIP);
    ck_assert_int_eq(s->model.source, SCN_MODEL_NONE);
    ck_assert_uint_eq(s->nodes.classes[0].memory_bytes, 16ull << 30);
    ck_assert(s->nodes.classes[0].flops_per_s == 1e13);
    ck_assert_int_eq(s->nodes.classes[0].kernel, SCN_KERNEL_SEQUENTIAL);
    ck_assert_uint_eq(s->nodes.classes[0].overhead_ns, 100000);
    ck_assert_ptr_null(test_scn_param(s, "model.source"));
    ck_assert_ptr_null(test_scn_param(s, "workload.requests"));
    ck_assert_str_eq(test_scn_param(s, "workload.kind"), "gossip");
    ck_assert_str_eq(test_scn_param(s, "nodes.classes.0.flops"), "10TFLOPS");
    ck_assert_uint_eq(s->fault_count, 0);
    ck_assert_uint_eq(s->expect_count, 0);
    ck_assert_str_eq(s->output.db, "results.db");
    ck_assert_uint_eq(s->output.sample_interval_ns, 100000000);
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_load_merge_list_precedence)
{
    const char *text = "x-a: &a {loss: 0.1, duplicate: 0.1}\n"
                       "x-b: &b {loss: 0.2, reorder: 0.2, corrupt: 0.2}\n"
                       "network:\n"
                       "  <<: [*a, *b]\n"
                       "  corrupt: 0.3\n"
                       "nodes: {count: 4}\n";
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load(text, NULL, 0, &s, &e), 0);
    ck_assert(s->network.loss == 0.1);        /* earlier merge source wins */
    ck_assert(s->network.duplicate == 0.1);
    ck_assert(s->network.reorder == 0.2);
    ck_assert(s->network.corrupt == 0.3);     /* explicit key wins */
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_load_file_io)
{
    scn_scenario *s = (scn_scenario *)&s;
    scn_error e;
    ck_assert_int_eq(scn_load_file("tests/bad/does-not-exist.yaml", NULL, 0, &s, &e), SCN_EIO);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(e.file, "tests/bad/does-not-exist.yaml");
    ck_assert_uint_eq(e.line, 0);
}
END_TEST

START_TEST(test_scn_load_alias_budget)
{
    /* Nine levels of nine-fold aliases would be 387 million nodes. */
    char text[2048] = "x-0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]\n";
    for (int i = 1; i <= 9; i++) {
        char line[128];
        snprintf(line, sizeof(line), "x-%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, "
                 "*a%d]\n", i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
        strcat(text, line);
    }
    strcat(text, "nodes: {count: 1}\n");
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load(text, NULL, 0, &s, &e), SCN_EPARSE);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(e.message, "too large"));
}
END_TEST

START_TEST(test_scn_error_format_forms)
{
    scn_error e;
    memset(&e, 0, sizeof(e));
    snprintf(e.file, sizeof(e.file), "tests/bad/x.yaml");
    e.line = 3;
    e.column = 5;
    snprintf(e.message, sizeof(e.message), "message");
    char buffer[128];
    scn_error_format(&e, buffer, sizeof(buffer));
    ck_assert_str_eq(buffer, "tests/bad/x.yaml:3:5: message");
    e.line = 0;
    scn_error_format(&e, buffer, sizeof(buffer));
    ck_assert_str_eq(buffer, "tests/bad/x.yaml: message");
    char tiny[8];
    scn_error_format(&e, tiny, sizeof(tiny));
    ck_assert_str_eq(tiny, "tests/b");
    ck_assert_str_eq(scn_strerror(SCN_EUSAGE), "malformed --set override");
    ck_assert_str_ne(scn_strerror(SCN_EPARSE), scn_strerror(SCN_ESCHEMA));
    ck_assert_str_eq(scn_strerror(-99), "unknown scenario error");
    ck_assert_str_eq(scn_metrics[0].name, "delivery_ratio");
    size_t count = 0;
    for (int m = 0; m < SCN_METRIC_COUNT; m++) {
        count += scn_metrics[m].expect;
        ck_assert_int_eq(scn_metric_find(scn_metrics[m].name), m);
    }
    ck_assert_uint_eq(count, 102);
    ck_assert_uint_eq(SCN_METRIC_COUNT, 103);
    ck_assert_int_eq(scn_metric_find("no_such_metric"), -1);
    ck_assert_str_eq(scn_metrics[26].name, "activation_bytes");
    ck_assert_str_eq(scn_metrics[34].name, "requests_failed");
    ck_assert_str_eq(scn_metrics[35].name, "stake_slashed");
    ck_assert_str_eq(scn_metrics[36].name, "cost_ratio");
    ck_assert_str_eq(scn_metrics[48].name, "cheats_taken");
    ck_assert_str_eq(scn_metrics[SCN_METRIC_LIVENESS_VIOLATIONS].name, "liveness_violations");
    ck_assert(!scn_metrics[SCN_METRIC_LIVENESS_VIOLATIONS].expect);
}
END_TEST

/* Loads an expect block of metrics [first, first + count), each "<= 1" (1ms
 * for durations); returns the scenario. */
static scn_scenario *test_scn_metrics_load(size_t first, size_t count)
{
    char text[2048] = "nodes: {count: 2}\nexpect:\n";
    for (size_t i = first; i < first + count; i++) {
        char line[96];
        snprintf(line, sizeof(line), "  %s: \"<= 1%s\"\n", scn_metrics[i].name,
                 scn__metric_is_duration(scn_metrics[i].name) ? "ms" : "");
        strcat(text, line);
    }
    scn_scenario *s = NULL;
    scn_error e;
    int rc = test_scn_load(text, NULL, 0, &s, &e);
    ck_assert_msg(rc == 0, "%u: %s", e.line, e.message);
    ck_assert_uint_eq(s->expect_count, count);
    return s;
}

START_TEST(test_scn_load_every_metric_accepted)
{
    /* More metrics than SCN_EXPECT_MAX: two blocks. */
    scn_scenario *s = test_scn_metrics_load(0, 27);
    ck_assert(s->expects[1].value == 1e6);       /* latency_p50 <= 1ms, in ns */
    ck_assert(s->expects[15].value == 1);
    ck_assert_str_eq(s->expects[20].metric, "request_latency_p99");
    ck_assert(s->expects[20].value == 1e6);
    ck_assert(s->expects[21].value == 1e6);      /* first_token_p50 */
    ck_assert(s->expects[22].value == 1);        /* tokens_per_s: a plain number */
    ck_assert(!scn__metric_is_duration("tokens_per_s"));
    scn_destroy(s);
    s = test_scn_metrics_load(27, 8);
    ck_assert_str_eq(s->expects[0].metric, "accepted_wrong");
    ck_assert_str_eq(s->expects[7].metric, "requests_failed");
    for (size_t i = 0; i < 8; i++) {
        ck_assert(s->expects[i].value == 1);     /* none of them is a duration */
    }
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_error_format_from_file)
{
    scn_scenario *s = NULL;
    scn_error e;
    int rc = scn_load_file("tests/bad/02_unknown_nested_key.yaml", NULL, 0, &s, &e);
    ck_assert_int_eq(rc, SCN_ESCHEMA);
    char buffer[512];
    scn_error_format(&e, buffer, sizeof(buffer));
    const char *want = "tests/bad/02_unknown_nested_key.yaml:6:3: unknown key 'jiter' in "
                       "network (expected one of: latency, regions, ";
    ck_assert_msg(strncmp(buffer, want, strlen(want)) == 0, "%s", buffer);
}
END_TEST

/* ---- units --------------------------------------------------------------- */

typedef struct test_scn_unit_case {
    const char *text;
    int ok;
    uint64_t value;
    const char *why;              /* substring of the reason when !ok */
} test_scn_unit_case;

START_TEST(test_scn_units_duration_table)
{
    static const test_scn_unit_case cases[] = {
        {"50ms", 1, 50000000ull, NULL},
        {"50 ms", 1, 50000000ull, NULL},
        {"1.5s", 1, 1500000000ull, NULL},
        {"0", 1, 0, NULL},
        {"0.0", 1, 0, NULL},
        {"7ns", 1, 7, NULL},
        {"3us", 1, 3000, NULL},
        {"3\xc2\xb5s", 1, 3000, NULL},
        {"2min", 1, 120000000000ull, NULL},
        {"1h", 1, 3600000000000ull, NULL},
        {"0.1s", 1, 100000000ull, NULL},
        {"5124095h", 1, 5124095ull * 3600000000000ull, NULL},
        {"50", 0, 0, "needs a unit (e.g. 50ms)"},
        {"50 msx", 0, 0, "unknown unit 'msx'"},
        {"50MS", 0, 0, "unknown unit 'MS'"},
        {"-5ms", 0, 0, "negative"},
        {"nan", 0, 0, "not a number"},
        {".nan", 0, 0, "not a number"},
        {"", 0, 0, "nothing"},
        {"5124096h", 0, 0, "too large"},
        {"99999999999999999999ns", 0, 0, "too large"},
        {"1e3ms", 0, 0, "unknown unit 'e3ms'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t value = 12345;
        char why[200] = "";
        int rc = scn__parse_duration(cases[i].text, &value, why, sizeof(why));
        ck_assert_msg((rc == 0) == cases[i].ok, "'%s': rc %d (%s)", cases[i].text, rc, why);
        if (cases[i].ok) {
            ck_assert_msg(value == cases[i].value, "'%s' -> %llu", cases[i].text,
                          (unsigned long long)value);
        } else {
            ck_assert_msg(strstr(why, cases[i].why) != NULL, "'%s': %s", cases[i].text, why);
        }
    }
}
END_TEST

START_TEST(test_scn_units_bytes_bitrate_table)
{
    static const test_scn_unit_case bytes[] = {
        {"1024", 1, 1024, NULL},     {"1KiB", 1, 1024, NULL},    {"1kB", 1, 1000, NULL},
        {"2 KB", 1, 2000, NULL},     {"1.5KiB", 1, 1536, NULL},  {"3MiB", 1, 3145728, NULL},
        {"2MB", 1, 2000000, NULL},   {"1GiB", 1, 1073741824ull, NULL},
        {"4GB", 1, 4000000000ull, NULL}, {"10B", 1, 10, NULL},
        {"1.5", 0, 0, "whole"},      {"1kb", 0, 0, "unknown unit 'kb'"},
        {"-1KiB", 0, 0, "negative"}, {"x", 0, 0, "not a number"},
    };
    for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
        uint64_t value = 0;
        char why[200] = "";
        int rc = scn__parse_bytes(bytes[i].text, &value, why, sizeof(why));
        ck_assert_msg((rc == 0) == bytes[i].ok, "'%s': %s", bytes[i].text, why);
        ck_assert_msg(!bytes[i].ok || value == bytes[i].value, "'%s'", bytes[i].text);
        ck_assert_msg(bytes[i].ok || strstr(why, bytes[i].why) != NULL, "%s", why);
    }
    static const test_scn_unit_case rates[] = {
        {"1Gbps", 1, 1000000000ull, NULL}, {"100Mbps", 1, 100000000ull, NULL},
        {"5 kbps", 1, 5000, NULL},         {"5Kbps", 1, 5000, NULL},
        {"2.5Gbps", 1, 2500000000ull, NULL}, {"1Tbps", 1, 1000000000000ull, NULL},
        {"300bps", 1, 300, NULL},          {"0", 1, 0, NULL},
        {"1GBps", 0, 0, "unknown unit 'GBps'"}, {"100", 0, 0, "needs a unit"},
        {"-1Gbps", 0, 0, "negative"},
    };
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        uint64_t value = 0;
        char why[200] = "";
        int rc = scn__parse_bitrate(rates[i].text, &value, why, sizeof(why));
        ck_assert_msg((rc == 0) == rates[i].ok, "'%s': %s", rates[i].text, why);
        ck_assert_msg(!rates[i].ok || value == rates[i].value, "'%s'", rates[i].text);
        ck_assert_msg(rates[i].ok || strstr(why, rates[i].why) != NULL, "%s", why);
    }
}
END_TEST

START_TEST(test_scn_units_rate_uint_number)
{
    static const struct {
        const char *text;
        double per_s;             /* < 0: must fail */
    } rates[] = {
        {"100/s", 100},  {"2/ms", 2000}, {"1/min", 1.0 / 60}, {"30", 30},
        {"0.5/s", 0.5},  {"3 / us", 3e6}, {"7/h", 7.0 / 3600},
        {"100/day", -1}, {"100 per s", -1}, {"-1/s", -1},
    };
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        double value = 0;
        char why[200] = "";
        int rc = scn__parse_rate(rates[i].text, &value, why, sizeof(why));
        ck_assert_msg((rc == 0) == (rates[i].per_s >= 0), "'%s': %s", rates[i].text, why);
        ck_assert_msg(rc != 0 || fabs(value - rates[i].per_s) < 1e-9 * rates[i].per_s, "'%s'",
                      rates[i].text);
    }
    uint64_t u = 0;
    char why[200];
    ck_assert_int_eq(scn__parse_uint("18446744073709551615", &u, why, sizeof(why)), 0);
    ck_assert_uint_eq(u, UINT64_MAX);
    ck_assert_int_eq(scn__parse_uint("18446744073709551616", &u, why, sizeof(why)), -1);
    ck_assert_ptr_nonnull(strstr(why, "too large"));
    ck_assert_int_eq(scn__parse_uint("2.0", &u, why, sizeof(why)), -1);
    ck_assert_int_eq(scn__parse_uint("12abc", &u, why, sizeof(why)), -1);
    ck_assert_int_eq(scn__parse_uint("-3", &u, why, sizeof(why)), -1);
    double d = 0;
    ck_assert_int_eq(scn__parse_number("-2.5e-3", &d, why, sizeof(why)), 0);
    ck_assert(d == -2.5e-3);
    ck_assert_int_eq(scn__parse_number("nan", &d, why, sizeof(why)), -1);
    ck_assert_int_eq(scn__parse_number("inf", &d, why, sizeof(why)), -1);
    ck_assert_int_eq(scn__parse_number("1e999", &d, why, sizeof(why)), -1);
    ck_assert_int_eq(scn__parse_number("0.5x", &d, why, sizeof(why)), -1);
    ck_assert_int_eq(scn__parse_number("1e", &d, why, sizeof(why)), -1);
}
END_TEST

START_TEST(test_scn_units_format_round_trip)
{
    static const uint64_t durations[] = {0, 1, 999, 1000, 1500000, 50000000, 1000000000,
                                         90000000000ull, 7200000000000ull, 123456789};
    static const char *const texts[] = {"0", "1ns", "999ns", "1us", "1500us", "50ms", "1s",
                                        "90s", "2h", "123456789ns"};
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        char buffer[32];
        uint64_t back = 1;
        char why[200];
        scn__format_duration(durations[i], buffer, sizeof(buffer));
        ck_assert_str_eq(buffer, texts[i]);
        ck_assert_int_eq(scn__parse_duration(buffer, &back, why, sizeof(why)), 0);
        ck_assert_uint_eq(back, durations[i]);
    }
    char buffer[32];
    scn__format_bitrate(1500000, buffer, sizeof(buffer));
    ck_assert_str_eq(buffer, "1500Kbps");
    scn__format_bitrate(1000000000, buffer, sizeof(buffer));
    ck_assert_str_eq(buffer, "1Gbps");
    scn__format_number(0.1, buffer, sizeof(buffer));
    ck_assert_str_eq(buffer, "0.1");
    scn__format_number(100, buffer, sizeof(buffer));
    ck_assert_str_eq(buffer, "100");
    scn__format_number(1.0 / 3, buffer, sizeof(buffer));
    ck_assert(strtod(buffer, NULL) == 1.0 / 3);
}
END_TEST

START_TEST(test_scn_units_expect_conditions)
{
    static const struct {
        const char *condition;
        int ok;
        scn_cmp cmp;
        double value;
    } cases[] = {
        {"\">= 0.5\"", 1, SCN_CMP_GE, 0.5}, {"\"<=5\"", 1, SCN_CMP_LE, 5},
        {"\"< 1e3\"", 1, SCN_CMP_LT, 1000}, {"\"> -2\"", 1, SCN_CMP_GT, -2},
        {"\"== 7\"", 1, SCN_CMP_EQ, 7},     {"3", 1, SCN_CMP_EQ, 3},
        {"\">=\"", 0, SCN_CMP_EQ, 0},       {"\"= 3\"", 0, SCN_CMP_EQ, 0},
        {"\"!= 3\"", 0, SCN_CMP_EQ, 0},     {"\"<> 3\"", 0, SCN_CMP_EQ, 0},
        {"\"=== 3\"", 0, SCN_CMP_EQ, 0},    {"\">= 2s\"", 0, SCN_CMP_EQ, 0},
        {"\">= abc\"", 0, SCN_CMP_EQ, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "nodes: {count: 2}\nexpect:\n  events: %s\n",
                 cases[i].condition);
        scn_scenario *s = NULL;
        scn_error e;
        int rc = test_scn_load(text, NULL, 0, &s, &e);
        ck_assert_msg((rc == 0) == cases[i].ok, "%s: rc %d %s", cases[i].condition, rc,
                      e.message);
        if (rc == 0) {
            ck_assert_int_eq(s->expects[0].cmp, cases[i].cmp);
            ck_assert(s->expects[0].value == cases[i].value);
            scn_destroy(s);
        } else {
            ck_assert_int_eq(rc, SCN_ESCHEMA);
            ck_assert_uint_eq(e.line, 3);
        }
    }
}
END_TEST

/* ---- --set overrides ----------------------------------------------------- */

START_TEST(test_scn_override_applies)
{
    const char *sets[] = {
        "nodes.count=500",
        "faults.0.at=3s",
        "faults.0.nodes.ids=[1, 2]",
        "workload.messages=7",          /* section created */
        "network.latency.model=normal", /* nested map created */
        "name=renamed",
    };
    scn_scenario *s = NULL;
    scn_error e;
    const char *text = "nodes: {count: 10}\n"
                       "faults:\n"
                       "  - {kind: crash, at: 1s, nodes: {ids: [4]}}\n";
    int rc = test_scn_load(text, sets, sizeof(sets) / sizeof(sets[0]), &s, &e);
    ck_assert_msg(rc == 0, "%s:%u: %s", e.file, e.line, e.message);
    ck_assert_uint_eq(s->nodes.count, 500);
    ck_assert_uint_eq(s->faults[0].at_ns, 3000000000ull);
    ck_assert_uint_eq(s->faults[0].nodes.id_count, 2);
    ck_assert_uint_eq(s->faults[0].nodes.ids[1], 2);
    ck_assert_uint_eq(s->workload.messages, 7);
    ck_assert_int_eq(s->network.latency.kind, SCN_LATENCY_NORMAL);
    ck_assert_str_eq(s->name, "renamed");
    ck_assert_str_eq(test_scn_param(s, "nodes.count"), "500");
    scn_destroy(s);
}
END_TEST

/* The over-seed forms: {mean} and {each, passing}, stored with their scope,
 * spelled by their keys in the params table, and read back through --set
 * to the same hash; a run-level condition keeps its spelling. */
START_TEST(test_scn_expect_over_seeds)
{
    const char *text = "nodes: {count: 2}\n"
                       "expect:\n"
                       "  accepted_wrong: \"== 0\"\n"
                       "  accepted_wrong_ratio: {mean: \"<= 0.01\"}\n"
                       "  completed_ratio: {each: \">= 0.95\", passing: \">= 0.9\"}\n"
                       "  request_latency_p99: {mean: \"<= 2s\"}\n";
    scn_scenario *s = NULL;
    scn_error e;
    int rc = test_scn_load(text, NULL, 0, &s, &e);
    ck_assert_msg(rc == 0, "%s", e.message);
    ck_assert_uint_eq(s->expect_count, 4);
    ck_assert_int_eq(s->expects[0].scope, SCN_EXPECT_RUN);
    ck_assert_int_eq(s->expects[1].scope, SCN_EXPECT_MEAN);
    ck_assert_str_eq(s->expects[1].metric, "accepted_wrong_ratio");
    ck_assert_int_eq(s->expects[1].cmp, SCN_CMP_LE);
    ck_assert(s->expects[1].value == 0.01);
    ck_assert_int_eq(s->expects[2].scope, SCN_EXPECT_PASSING);
    ck_assert_int_eq(s->expects[2].cmp, SCN_CMP_GE);
    ck_assert(s->expects[2].value == 0.95);
    ck_assert_int_eq(s->expects[2].passing_cmp, SCN_CMP_GE);
    ck_assert(s->expects[2].passing_value == 0.9);
    ck_assert_str_eq(s->expects[2].text, ">= 0.95");
    ck_assert_str_eq(s->expects[2].passing_text, ">= 0.9");
    ck_assert(s->expects[3].value == 2e9);
    ck_assert_str_eq(test_scn_param(s, "expect.accepted_wrong"), "== 0");
    ck_assert_str_eq(test_scn_param(s, "expect.accepted_wrong_ratio.mean"), "<= 0.01");
    ck_assert_str_eq(test_scn_param(s, "expect.completed_ratio.each"), ">= 0.95");
    ck_assert_str_eq(test_scn_param(s, "expect.completed_ratio.passing"), ">= 0.9");
    ck_assert_str_eq(test_scn_param(s, "expect.request_latency_p99.mean"), "<= 2s");
    ck_assert_ptr_null(test_scn_param(s, "expect.completed_ratio"));
    char hash[sizeof(s->sha256_hex)];
    memcpy(hash, s->sha256_hex, sizeof(hash));
    scn_destroy(s);
    /* The same expectations through --set. */
    const char *sets[] = {"expect.accepted_wrong=== 0", "expect.accepted_wrong_ratio.mean=<= 0.01",
                          "expect.completed_ratio.each=>= 0.95",
                          "expect.completed_ratio.passing=>= 0.9",
                          "expect.request_latency_p99.mean=<= 2s"};
    rc = test_scn_load("nodes: {count: 2}\nexpect:\n", sets, 5, &s, &e);
    ck_assert_msg(rc == 0, "%s", e.message);
    ck_assert_uint_eq(s->expect_count, 4);
    ck_assert_int_eq(s->expects[2].scope, SCN_EXPECT_PASSING);
    ck_assert_str_eq(s->sha256_hex, hash);
    scn_destroy(s);
}
END_TEST

/* Each bad map is a schema error at the offending node. */
START_TEST(test_scn_expect_over_seeds_bad)
{
    static const struct {
        const char *body;
        const char *message;
    } cases[] = {
        {"delivery_ratio: {mean: \">= 0.9\", bogus: 1}",
         "mem.yaml:3:36: unknown key 'bogus' in expect.delivery_ratio (expected one of: mean, "
         "each, passing)"},
        {"delivery_ratio: {each: \">= 0.9\"}",
         "mem.yaml:3:19: expect.delivery_ratio: expected {mean: \"OP value\"} or {each: \"OP "
         "value\", passing: \"OP ratio\"} (missing 'passing')"},
        {"delivery_ratio: {passing: \">= 0.9\"}", "mem.yaml:3:19: expect.delivery_ratio: "
                                                  "expected {mean: \"OP value\"} or {each: \"OP "
                                                  "value\", passing: \"OP ratio\"} (missing "
                                                  "'each')"},
        {"delivery_ratio: {}", "mem.yaml:3:19: expect.delivery_ratio: expected {mean: \"OP "
                               "value\"} or {each: \"OP value\", passing: \"OP ratio\"} "
                               "(missing 'each')"},
        {"delivery_ratio: {each: \">= 0.9\", passing: \">= 1.5\"}",
         "mem.yaml:3:45: expect.delivery_ratio.passing: '>= 1.5' is not a fraction of the seeds "
         "(expected a ratio 0..1)"},
        {"delivery_ratio: {each: \">= 0.9\", passing: \"<= -0.1\"}",
         "mem.yaml:3:45: expect.delivery_ratio.passing: '<= -0.1' is not a fraction of the "
         "seeds (expected a ratio 0..1)"},
        {"delivery_ratio: {each: \"=> 0.9\", passing: \">= 0.5\"}",
         "mem.yaml:3:26: expect.delivery_ratio.each: bad comparison operator in '=> 0.9' "
         "(expected ==, <=, <, >=, >)"},
        {"delivery_ratio: {mean: \"about 1\"}",
         "mem.yaml:3:26: expect.delivery_ratio.mean: expected a number, got 'about 1'"},
        {"delivery_ratio: {mean: \">= 1\", each: \">= 1\", passing: \">= 1\"}",
         "mem.yaml:3:19: expect.delivery_ratio: 'mean' does not go with 'each' and 'passing'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256], where[320];
        snprintf(text, sizeof(text), "nodes: {count: 2}\nexpect:\n  %s\n", cases[i].body);
        scn_scenario *s = NULL;
        scn_error e;
        int rc = test_scn_load(text, NULL, 0, &s, &e);
        ck_assert_msg(rc == SCN_ESCHEMA, "%s: rc %d", cases[i].body, rc);
        ck_assert_ptr_null(s);
        ck_assert_str_eq(e.file, "mem.yaml");
        snprintf(where, sizeof(where), "mem.yaml:%u:%u: %s", e.line, e.column, e.message);
        ck_assert_str_eq(where, cases[i].message);
    }
}
END_TEST

START_TEST(test_scn_override_later_wins_and_null_section)
{
    const char *sets[] = {"seed=5", "seed=9", "expect.events=<= 100"};
    scn_scenario *s = NULL;
    scn_error e;
    int rc = test_scn_load("nodes: {count: 2}\nexpect:\n", sets, 3, &s, &e);
    ck_assert_msg(rc == 0, "%s", e.message);
    ck_assert_uint_eq(s->seed, 9);
    ck_assert_uint_eq(s->expect_count, 1);
    ck_assert_int_eq(s->expects[0].cmp, SCN_CMP_LE);
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_override_bad)
{
    static const struct {
        const char *set;
        const char *message;
    } cases[] = {
        {"nodes.count", "has no '='"},
        {"=5", "empty path"},
        {"nodes..count=5", "empty path component"},
        {"faults.3.at=1s", "index 3 out of range ('faults' has 1 entries;"},
        {"faults.x.at=1s", "'faults' is a list, 'x' is not an index"},
        {"name.first=a", "'name' is a scalar"},
        {"nodes.count=[1,", "bad value"},
    };
    const char *text = "name: n\nnodes: {count: 10}\n"
                       "faults:\n  - {kind: crash, at: 1s, nodes: all}\n";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        scn_scenario *s = (scn_scenario *)&s;
        scn_error e;
        int rc = test_scn_load(text, &cases[i].set, 1, &s, &e);
        ck_assert_msg(rc == SCN_EUSAGE, "'%s': rc %d %s", cases[i].set, rc, e.message);
        ck_assert_ptr_null(s);
        ck_assert_str_eq(e.file, "--set");
        ck_assert_msg(strstr(e.message, cases[i].set) != NULL, "%s", e.message);
        ck_assert_msg(strstr(e.message, cases[i].message) != NULL, "%s", e.message);
    }
}
END_TEST

/* A missing list is created by an index step; index == count appends. */
START_TEST(test_scn_override_creates_and_appends_list_items)
{
    const char *const sets[] = {"faults.0.kind=crash", "faults.0.at=1s", "faults.0.nodes=all",
                                "faults.1.kind=partition", "faults.1.at=2s",
                                "faults.1.shape=halves"};
    scn_scenario *s = NULL;
    scn_error e;
    int rc = test_scn_load("name: n\nnodes: {count: 10}\n", sets, 6, &s, &e);
    ck_assert_msg(rc == 0, "%s", e.message);
    ck_assert_uint_eq(s->fault_count, 2);
    ck_assert_int_eq(s->faults[0].kind, SCN_FAULT_CRASH);
    ck_assert_int_eq(s->faults[1].kind, SCN_FAULT_PARTITION);
    ck_assert_uint_eq(s->faults[1].at_ns, 2000000000ull);
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_override_value_error_location)
{
    const char *set = "nodes.count=abc";
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load("nodes:\n  count: 10\n", &set, 1, &s, &e), SCN_ESCHEMA);
    ck_assert_str_eq(e.file, "--set nodes.count=abc");
    ck_assert_uint_eq(e.line, 1);
    ck_assert_uint_eq(e.column, 1);
    ck_assert_ptr_nonnull(strstr(e.message, "expected a whole number"));
    set = "network.jitter=5";
    ck_assert_int_eq(test_scn_load("nodes:\n  count: 10\n", &set, 1, &s, &e), SCN_ESCHEMA);
    ck_assert_str_eq(e.file, "--set network.jitter=5");
    ck_assert_ptr_nonnull(strstr(e.message, "duration needs a unit"));
}
END_TEST

/* ---- params and hash ----------------------------------------------------- */

START_TEST(test_scn_params_sorted_with_defaults)
{
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load(test_scn_full, NULL, 0, &s, &e), 0);
    ck_assert_uint_gt(s->param_count, 60);
    for (size_t i = 1; i < s->param_count; i++) {
        ck_assert_msg(strcmp(s->params[i - 1].key, s->params[i].key) < 0, "%s before %s",
                      s->params[i - 1].key, s->params[i].key);
    }
    ck_assert_str_eq(test_scn_param(s, "network.latency.model"), "uniform");
    ck_assert_str_eq(test_scn_param(s, "network.latency.value"), "20ms");   /* a default */
    ck_assert_str_eq(test_scn_param(s, "network.regions.us.eu"), "40ms");   /* mirrored */
    ck_assert_str_eq(test_scn_param(s, "network.jitter"), "1500us");
    ck_assert_str_eq(test_scn_param(s, "network.bandwidth"), "100Mbps");
    ck_assert_str_eq(test_scn_param(s, "nodes.classes.0.name"), "gpu");
    ck_assert_str_eq(test_scn_param(s, "nodes.classes.1.bandwidth"), "0");
    ck_assert_str_eq(test_scn_param(s, "faults.1.at"), "10s");
    ck_assert_str_eq(test_scn_param(s, "faults.1.until"), "never");
    ck_assert_str_eq(test_scn_param(s, "faults.0.nodes.ids"), "[1, 2, 3]");
    ck_assert_str_eq(test_scn_param(s, "faults.1.groups.1.range"), "10-20");
    ck_assert_str_eq(test_scn_param(s, "faults.2.nodes"), "all");
    ck_assert_str_eq(test_scn_param(s, "workload.rate"), "2000/s");
    ck_assert_str_eq(test_scn_param(s, "workload.size"), "4096");
    ck_assert_str_eq(test_scn_param(s, "expect.latency_p99"), "<= 2s");
    ck_assert_str_eq(test_scn_param(s, "expect.delivery_ratio"), ">= 0.99");
    ck_assert_str_eq(test_scn_param(s, "gossip.mode"), "pushpull");
    ck_assert_str_eq(test_scn_param(s, "output.sample_interval"), "0");
    ck_assert_str_eq(test_scn_param(s, "seed"), "42");
    ck_assert_ptr_null(test_scn_param(s, "x-latency"));
    ck_assert_uint_eq(strlen(s->sha256_hex), 64);
    ck_assert_uint_eq(strspn(s->sha256_hex, "0123456789abcdef"), 64);
    scn_destroy(s);
}
END_TEST

/* Loads the full scenario with the given overrides and copies its hash. */
static void test_scn_hash_of(const char *const *sets, size_t count, char hex[65])
{
    scn_scenario *s = NULL;
    scn_error e;
    int rc = test_scn_load(test_scn_full, sets, count, &s, &e);
    ck_assert_msg(rc == 0, "%s", e.message);
    memcpy(hex, s->sha256_hex, 65);
    scn_destroy(s);
}

START_TEST(test_scn_params_hash_ignores_seed_and_output)
{
    char base[65];
    char other[65];
    test_scn_hash_of(NULL, 0, base);
    const char *seed[] = {"seed=2", "output.db=elsewhere.db", "output.sample_interval=1s"};
    test_scn_hash_of(seed, 3, other);
    ck_assert_str_eq(base, other);
    const char *loss[] = {"network.loss=0.02"};
    test_scn_hash_of(loss, 1, other);
    ck_assert_str_ne(base, other);
    const char *fault[] = {"faults.1.at=11s"};
    test_scn_hash_of(fault, 1, other);
    ck_assert_str_ne(base, other);
    /* The same effective value written differently hashes the same. */
    const char *same[] = {"network.jitter=1500 us", "nodes.count=100"};
    test_scn_hash_of(same, 2, other);
    ck_assert_str_eq(base, other);
}
END_TEST

START_TEST(test_scn_params_reparse_through_set)
{
    /* Every param (except open-ended until) fed back through --set loads and
     * reproduces the same hash. */
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load(test_scn_full, NULL, 0, &s, &e), 0);
    static char storage[128][160];
    const char *sets[128];
    size_t count = 0;
    for (size_t i = 0; i < s->param_count && count < 128; i++) {
        if (strcmp(s->params[i].value, "never") == 0 ||
            strncmp(s->params[i].key, "faults.", 7) == 0 ||
            strncmp(s->params[i].key, "network.regions.", 16) == 0) {
            continue;     /* Selectors' shorthand forms do not replace a map wholesale. */
        }
        snprintf(storage[count], sizeof(storage[count]), "%s=%s", s->params[i].key,
                 s->params[i].value);
        sets[count] = storage[count];
        count += 1;
    }
    scn_scenario *again = NULL;
    int rc = test_scn_load(test_scn_full, sets, count, &again, &e);
    ck_assert_msg(rc == 0, "%s: %s", e.file, e.message);
    ck_assert_str_eq(s->sha256_hex, again->sha256_hex);
    scn_destroy(again);
    scn_destroy(s);
}
END_TEST

/* ---- inference: model, classes, workload --------------------------------- */

static const char test_scn_infer[] =
    "name: infer\n"
    "duration: 1min\n"
    "nodes:\n"
    "  count: 12\n"
    "  classes:\n"
    "    - {name: gpu, fraction: 0.5, memory: 24GiB, flops: 1.5 TFLOPS, kernel: fma,\n"
    "       overhead: 50us}\n"
    "    - {name: cpu, fraction: 0.5, flops: 200GFLOPS, memory: 2MB}\n"
    "model:\n"
    "  seed: 77\n"
    "  shape: {dim: 64, hidden_dim: 172, layers: 6, heads: 8, kv_heads: 2, vocab: 512,\n"
    "          seq_len: 128, shared_classifier: false}\n"
    "  segments: [[0, 1], [2, 4], [5, 5]]\n"
    "  wire_dtype: bf16\n"
    "  replicas: 2\n"
    "  kv_slots: 8\n"
    "workload:\n"
    "  times: [1s, 1s, 2500ms]\n"
    "  prompt_tokens: [8, 32]\n"
    "  generate: 16\n"
    "  timeout: 5s\n"
    "expect:\n"
    "  requests_completed: \">= 3\"\n"
    "  request_latency_p95: \"<= 2s\"\n"
    "  first_token_p50: \"< 300ms\"\n"
    "  tokens_per_s: \"> 10\"\n";

static void test_scn_infer_check_classes(const scn_scenario *s)
{
    const scn_class *gpu = &s->nodes.classes[0];
    const scn_class *cpu = &s->nodes.classes[1];
    ck_assert_uint_eq(gpu->memory_bytes, 24ull << 30);
    ck_assert(gpu->flops_per_s == 1.5e12);
    ck_assert_int_eq(gpu->kernel, SCN_KERNEL_FMA);
    ck_assert_uint_eq(gpu->overhead_ns, 50000);
    ck_assert_uint_eq(cpu->memory_bytes, 2000000);
    ck_assert(cpu->flops_per_s == 2e11);
    ck_assert_int_eq(cpu->kernel, SCN_KERNEL_SEQUENTIAL);   /* defaults */
    ck_assert_uint_eq(cpu->overhead_ns, 100000);
}

START_TEST(test_scn_infer_full_fields)
{
    scn_scenario *s = NULL;
    scn_error e;
    int rc = test_scn_load(test_scn_infer, NULL, 0, &s, &e);
    ck_assert_msg(rc == 0, "%u:%u: %s", e.line, e.column, e.message);
    test_scn_infer_check_classes(s);
    const scn_model *m = &s->model;
    ck_assert_int_eq(m->source, SCN_MODEL_SEED);
    ck_assert_uint_eq(m->weight_seed, 77);
    ck_assert_str_eq(m->file, "");
    ck_assert_uint_eq(m->dim, 64);
    ck_assert_uint_eq(m->hidden_dim, 172);
    ck_assert_uint_eq(m->layers, 6);
    ck_assert_uint_eq(m->heads, 8);
    ck_assert_uint_eq(m->kv_heads, 2);
    ck_assert_uint_eq(m->vocab, 512);
    ck_assert_uint_eq(m->seq_len, 128);
    ck_assert(!m->shared_classifier);
    ck_assert_uint_eq(m->segment_count, 3);
    const uint32_t firsts[] = {0, 2, 5};
    const uint32_t counts[] = {2, 3, 1};
    for (uint32_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(m->segment_first[i], firsts[i]);
        ck_assert_uint_eq(m->segment_layers[i], counts[i]);
    }
    ck_assert_int_eq(m->wire_dtype, SCN_DTYPE_BF16);
    ck_assert_uint_eq(m->replicas, 2);
    ck_assert_uint_eq(m->kv_slots, 8);
    const scn_workload *w = &s->workload;
    ck_assert_int_eq(w->kind, SCN_WORKLOAD_INFERENCE);     /* default with a model */
    ck_assert_int_eq(w->arrival, SCN_ARRIVAL_EXPLICIT);     /* implied by times */
    ck_assert_uint_eq(w->requests, 3);                     /* from times */
    ck_assert_uint_eq(w->time_count, 3);
    ck_assert_uint_eq(w->times_ns[0], 1000000000ull);
    ck_assert_uint_eq(w->times_ns[1], 1000000000ull);
    ck_assert_uint_eq(w->times_ns[2], 2500000000ull);
    ck_assert_uint_eq(w->prompt_min, 8);
    ck_assert_uint_eq(w->prompt_max, 32);
    ck_assert_uint_eq(w->generate_tokens, 16);
    ck_assert_uint_eq(w->request_timeout_ns, 5000000000ull);
    ck_assert_uint_eq(s->expect_count, 4);
    ck_assert(s->expects[1].value == 2e9);
    ck_assert(s->expects[2].value == 3e8);
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_infer_segment_memory)
{
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load(test_scn_infer, NULL, 0, &s, &e), 0);
    /* dim 64, kv_dim 16, hidden 172: 43392 floats per layer; vocab*dim 32768;
     * KV 8 slots x 128 x 16 x 2 x 4 bytes = 131072 per layer. */
    ck_assert_uint_eq(scn_segment_memory_bytes(&s->model, 0),
                      4ull * (2 * 43392 + 32768) + 2 * 131072);
    ck_assert_uint_eq(scn_segment_memory_bytes(&s->model, 1), 4ull * 3 * 43392 + 3 * 131072);
    ck_assert_uint_eq(scn_segment_memory_bytes(&s->model, 2),
                      4ull * (43392 + 64 + 32768) + 131072);
    scn_destroy(s);
    /* One segment with a shared classifier holds the table once. */
    const char *sets[] = {"model.segments=1", "model.shape.shared_classifier=true",
                          "model.kv_slots=1"};
    ck_assert_int_eq(test_scn_load(test_scn_infer, sets, 3, &s, &e), 0);
    ck_assert_uint_eq(scn_segment_memory_bytes(&s->model, 0),
                      4ull * (6 * 43392 + 32768 + 64) + 6 * 16384);
    scn_destroy(s);
    /* 2MB classes alone cannot hold a segment of the same model with 64 slots. */
    const char *small[] = {"nodes.classes.0.memory=1MiB", "model.kv_slots=64"};
    ck_assert_int_eq(test_scn_load(test_scn_infer, small, 2, &s, &e), SCN_ESCHEMA);
    ck_assert_uint_eq(e.line, 13);
    ck_assert_msg(strstr(e.message, "model segment 0 (layers 0-1) needs 2575360 bytes of memory, "
                                    "but the largest node class ('cpu') has 2000000") != NULL,
                  "%s", e.message);
}
END_TEST

START_TEST(test_scn_infer_segment_count_even)
{
    const char *sets[] = {"model.segments=4"};
    scn_scenario *s = NULL;
    scn_error e;
    int rc = test_scn_load(test_scn_infer, sets, 1, &s, &e);
    ck_assert_msg(rc == 0, "%s", e.message);
    const uint32_t firsts[] = {0, 2, 4, 5};
    const uint32_t counts[] = {2, 2, 1, 1};
    ck_assert_uint_eq(s->model.segment_count, 4);
    for (uint32_t i = 0; i < 4; i++) {
        ck_assert_uint_eq(s->model.segment_first[i], firsts[i]);
        ck_assert_uint_eq(s->model.segment_layers[i], counts[i]);
    }
    ck_assert_str_eq(test_scn_param(s, "model.segments"), "[[0, 1], [2, 3], [4, 4], [5, 5]]");
    char hex[65];
    memcpy(hex, s->sha256_hex, sizeof(hex));
    scn_destroy(s);
    /* The count and the ranges it stands for are one scenario. */
    sets[0] = "model.segments=[[0,1],[2,3],[4,4],[5,5]]";
    ck_assert_int_eq(test_scn_load(test_scn_infer, sets, 1, &s, &e), 0);
    ck_assert_str_eq(s->sha256_hex, hex);
    scn_destroy(s);
    sets[0] = "model.segments=6";
    ck_assert_int_eq(test_scn_load(test_scn_infer, sets, 1, &s, &e), 0);
    ck_assert_uint_eq(s->model.segment_count, 6);
    ck_assert_uint_eq(s->model.segment_layers[5], 1);
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_infer_defaults)
{
    const char *text = "nodes: {count: 3}\n"
                       "model:\n"
                       "  shape: {dim: 16, hidden_dim: 32, layers: 2, heads: 4, vocab: 64,\n"
                       "          seq_len: 32}\n";
    scn_scenario *s = NULL;
    scn_error e;
    int rc = test_scn_load(text, NULL, 0, &s, &e);
    ck_assert_msg(rc == 0, "%s", e.message);
    ck_assert_int_eq(s->model.source, SCN_MODEL_SEED);
    ck_assert_uint_eq(s->model.weight_seed, 1);
    ck_assert_uint_eq(s->model.kv_heads, 4);
    ck_assert(s->model.shared_classifier);
    ck_assert_uint_eq(s->model.segment_count, 1);
    ck_assert_uint_eq(s->model.segment_layers[0], 2);
    ck_assert_int_eq(s->model.wire_dtype, SCN_DTYPE_FP32);
    ck_assert_uint_eq(s->model.replicas, 0);
    ck_assert_uint_eq(s->model.kv_slots, 4);
    ck_assert_int_eq(s->workload.kind, SCN_WORKLOAD_INFERENCE);
    ck_assert_int_eq(s->workload.arrival, SCN_ARRIVAL_POISSON);
    ck_assert_uint_eq(s->workload.requests, 100);
    ck_assert_uint_eq(s->workload.prompt_min, 16);
    ck_assert_uint_eq(s->workload.prompt_max, 16);
    ck_assert_uint_eq(s->workload.generate_tokens, 8);
    ck_assert_uint_eq(s->workload.request_timeout_ns, 30000000000ull);
    ck_assert_str_eq(test_scn_param(s, "model.source"), "seed");
    ck_assert_str_eq(test_scn_param(s, "workload.prompt_tokens"), "16");
    ck_assert_ptr_null(test_scn_param(s, "workload.messages"));
    ck_assert_ptr_null(test_scn_param(s, "workload.times"));
    scn_destroy(s);
    /* The defaults (16 + 8 tokens) overflow a 20-token context: blamed on the model. */
    const char *seq = "model.shape.seq_len=20";
    ck_assert_int_eq(test_scn_load(text, &seq, 1, &s, &e), SCN_ESCHEMA);
    ck_assert_uint_eq(e.line, 3);
    ck_assert_ptr_nonnull(strstr(e.message, "= 24 exceeds the model's seq_len (20)"));
    /* A gossip workload beside a model is allowed. */
    const char *gossip = "workload.kind=gossip";
    ck_assert_int_eq(test_scn_load(text, &gossip, 1, &s, &e), 0);
    ck_assert_int_eq(s->workload.kind, SCN_WORKLOAD_GOSSIP);
    ck_assert_str_eq(test_scn_param(s, "workload.messages"), "100");
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_infer_params)
{
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load(test_scn_infer, NULL, 0, &s, &e), 0);
    ck_assert_str_eq(test_scn_param(s, "model.segments"), "[[0, 1], [2, 4], [5, 5]]");
    ck_assert_str_eq(test_scn_param(s, "model.shape.kv_heads"), "2");
    ck_assert_str_eq(test_scn_param(s, "model.shape.shared_classifier"), "false");
    ck_assert_str_eq(test_scn_param(s, "model.wire_dtype"), "bf16");
    ck_assert_str_eq(test_scn_param(s, "nodes.classes.0.flops"), "1.5TFLOPS");
    ck_assert_str_eq(test_scn_param(s, "nodes.classes.1.flops"), "200GFLOPS");
    ck_assert_str_eq(test_scn_param(s, "nodes.classes.0.kernel"), "fma");
    ck_assert_str_eq(test_scn_param(s, "nodes.classes.0.memory"), "25769803776");
    ck_assert_str_eq(test_scn_param(s, "nodes.classes.0.overhead"), "50us");
    ck_assert_str_eq(test_scn_param(s, "workload.kind"), "inference");
    ck_assert_str_eq(test_scn_param(s, "workload.arrival"), "explicit");
    ck_assert_str_eq(test_scn_param(s, "workload.times"), "[1s, 1s, 2500ms]");
    ck_assert_str_eq(test_scn_param(s, "workload.prompt_tokens"), "[8, 32]");
    ck_assert_str_eq(test_scn_param(s, "expect.request_latency_p95"), "<= 2s");
    ck_assert_str_eq(test_scn_param(s, "expect.first_token_p50"), "< 300ms");
    ck_assert_ptr_null(test_scn_param(s, "workload.size"));
    /* Every param fed back through --set reproduces the hash. */
    static char storage[128][160];
    const char *sets[128];
    size_t count = 0;
    for (size_t i = 0; i < s->param_count && count < 128; i++) {
        snprintf(storage[count], sizeof(storage[count]), "%s=%s", s->params[i].key,
                 s->params[i].value);
        sets[count] = storage[count];
        count += 1;
    }
    scn_scenario *again = NULL;
    int rc = test_scn_load(test_scn_infer, sets, count, &again, &e);
    ck_assert_msg(rc == 0, "%s: %s", e.file, e.message);
    ck_assert_str_eq(s->sha256_hex, again->sha256_hex);
    scn_destroy(again);
    const char *change[] = {"model.wire_dtype=int8"};
    ck_assert_int_eq(test_scn_load(test_scn_infer, change, 1, &again, &e), 0);
    ck_assert_str_ne(s->sha256_hex, again->sha256_hex);
    scn_destroy(again);
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_units_flops)
{
    static const struct {
        const char *text;
        double value;
    } good[] = {
        {"1", 1},           {"250", 250},         {"1FLOPS", 1},       {"2KFLOPS", 2e3},
        {"3 MFLOPS", 3e6},  {"1.5GFLOPS", 1.5e9}, {"10TFLOPS", 1e13},  {"0.5PFLOPS", 5e14},
        {"2.25 TFLOPS", 2.25e12},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        double value = 0;
        char why[200];
        ck_assert_msg(scn__parse_flops(good[i].text, &value, why, sizeof(why)) == 0, "%s: %s",
                      good[i].text, why);
        ck_assert_msg(value == good[i].value, "%s: %g", good[i].text, value);
        char text[64];
        double again = 0;
        scn__format_flops(value, text, sizeof(text));
        ck_assert_msg(scn__parse_flops(text, &again, why, sizeof(why)) == 0, "%s", text);
        ck_assert_msg(again == value, "%s -> %s", good[i].text, text);
    }
    static const char *const bad[] = {"", "-1TFLOPS", "10 tflops", "10TFLOP", "1e12", "x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double value = 0;
        char why[200];
        ck_assert_msg(scn__parse_flops(bad[i], &value, why, sizeof(why)) != 0, "%s", bad[i]);
    }
    char text[64];
    scn__format_flops(1.5e12, text, sizeof(text));
    ck_assert_str_eq(text, "1.5TFLOPS");
    scn__format_flops(1234, text, sizeof(text));
    ck_assert_str_eq(text, "1.234KFLOPS");
    scn__format_flops(0.5, text, sizeof(text));
    ck_assert_str_eq(text, "0.5");
}
END_TEST

/* Writes a llama2.c checkpoint (dim 8, hidden 16, 2 layers, 2 heads, vocab
 * 32 unshared, seq_len 32) of zero floats, 'missing' bytes short. */
static void test_scn_checkpoint_write(const char *path, size_t missing)
{
    const int32_t header[7] = {8, 16, 2, 2, 2, -32, 32};
    const size_t floats = 256 + 16 + 256 + 256 + 16 + 768 + 8 + 128 + 256;
    size_t size = 28 + 4 * floats - missing;
    uint8_t *bytes = calloc(1, size);
    ck_assert_ptr_nonnull(bytes);
    for (size_t i = 0; i < 7; i++) {
        uint32_t v = (uint32_t)header[i];
        for (size_t b = 0; b < 4; b++) {
            bytes[4 * i + b] = (uint8_t)(v >> (8 * b));
        }
    }
    FILE *file = fopen(path, "wb");
    ck_assert_ptr_nonnull(file);
    ck_assert_uint_eq(fwrite(bytes, 1, size, file), size);
    ck_assert_int_eq(fclose(file), 0);
    free(bytes);
}

START_TEST(test_scn_infer_file_source)
{
    char folder[128];
    char model[192];
    char yaml[192];
    snprintf(folder, sizeof(folder), "/tmp/test_scn_%ld", (long)getpid());
    ck_assert_int_eq(mkdir(folder, 0700), 0);
    snprintf(model, sizeof(model), "%s/tiny.bin", folder);
    snprintf(yaml, sizeof(yaml), "%s/run.yaml", folder);
    test_scn_checkpoint_write(model, 0);
    FILE *file = fopen(yaml, "w");
    ck_assert_ptr_nonnull(file);
    fputs("nodes: {count: 4}\nmodel:\n  file: tiny.bin\n  segments: 2\n", file);
    ck_assert_int_eq(fclose(file), 0);
    scn_scenario *s = NULL;
    scn_error e;
    int rc = scn_load_file(yaml, NULL, 0, &s, &e);
    ck_assert_msg(rc == 0, "%s", e.message);
    ck_assert_int_eq(s->model.source, SCN_MODEL_FILE);
    ck_assert_str_eq(s->model.file, model);                /* resolved against run.yaml */
    ck_assert_str_eq(s->model.file_written, "tiny.bin");
    ck_assert_uint_eq(s->model.dim, 8);
    ck_assert_uint_eq(s->model.hidden_dim, 16);
    ck_assert_uint_eq(s->model.layers, 2);
    ck_assert_uint_eq(s->model.heads, 2);
    ck_assert_uint_eq(s->model.kv_heads, 2);
    ck_assert_uint_eq(s->model.vocab, 32);
    ck_assert_uint_eq(s->model.seq_len, 32);
    ck_assert(!s->model.shared_classifier);
    ck_assert_uint_eq(s->model.segment_count, 2);
    ck_assert_str_eq(test_scn_param(s, "model.file"), "tiny.bin");
    ck_assert_str_eq(test_scn_param(s, "model.source"), "file");
    ck_assert_ptr_null(test_scn_param(s, "model.seed"));
    scn_destroy(s);
    /* --set model.file resolves against the scenario's folder too. */
    const char *set = "model.file=./tiny.bin";
    ck_assert_int_eq(scn_load_file(yaml, &set, 1, &s, &e), 0);
    scn_destroy(s);
    /* One float short: the size the header implies no longer matches. */
    test_scn_checkpoint_write(model, 4);
    ck_assert_int_eq(scn_load_file(yaml, NULL, 0, &s, &e), SCN_ESCHEMA);
    ck_assert_uint_eq(e.line, 3);
    ck_assert_uint_eq(e.column, 9);
    ck_assert_str_eq(e.message, "checkpoint is 7864 bytes, header implies 7868");
    ck_assert_ptr_null(s);
    /* A NaN weight (float 100) and an infinity: refused, with the position. */
    test_scn_checkpoint_write(model, 0);
    static const uint8_t nan_bits[4] = {0x00, 0x00, 0xc0, 0x7f};
    static const uint8_t inf_bits[4] = {0x00, 0x00, 0x80, 0xff};
    const uint8_t *bad[2] = {nan_bits, inf_bits};
    for (int b = 0; b < 2; b++) {
        FILE *weights = fopen(model, "r+b");
        ck_assert_ptr_nonnull(weights);
        ck_assert_int_eq(fseek(weights, 28 + 4 * 100, SEEK_SET), 0);
        ck_assert_uint_eq(fwrite(bad[b], 1, 4, weights), 4);
        ck_assert_int_eq(fclose(weights), 0);
        ck_assert_int_eq(scn_load_file(yaml, NULL, 0, &s, &e), SCN_ESCHEMA);
        ck_assert_uint_eq(e.line, 3);
        ck_assert_str_eq(e.message,
                         "checkpoint weight 100 (byte 428) is not finite (NaN or infinity)");
    }
    ck_assert_int_eq(remove(model), 0);
    ck_assert_int_eq(remove(yaml), 0);
    ck_assert_int_eq(rmdir(folder), 0);
}
END_TEST

/* ---- sweep ---------------------------------------------------------------- */

/* ---- the key table ------------------------------------------------------- */

/* "faults.0.groups.1.ids" -> "faults[].groups[].ids": a list index becomes
 * "[]" on the list's name, as the key table spells list items. */
static void test_scn_key_normalise(const char *key, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *part = key; part != NULL && *part != '\0';) {
        const char *dot = strchr(part, '.');
        size_t length = dot != NULL ? (size_t)(dot - part) : strlen(part);
        bool index = strspn(part, "0123456789") == length;
        int n = index ? snprintf(out + used, size - used, "[]")
                      : snprintf(out + used, size - used, "%s%.*s", used == 0 ? "" : ".",
                                 (int)length, part);
        ck_assert(n >= 0 && (size_t)n < size - used);
        used += (size_t)n;
        part = dot != NULL ? dot + 1 : NULL;
    }
}

/* Whether 'path' (normalised) is the table path 'row', where a "*"
 * component of the row stands for any one component. */
static bool test_scn_key_matches(const char *row, const char *path)
{
    while (*row != '\0' && *path != '\0') {
        size_t row_length = strcspn(row, ".");
        size_t path_length = strcspn(path, ".");
        bool any = row_length == 1 && row[0] == '*';
        if (!any && (row_length != path_length || strncmp(row, path, row_length) != 0)) {
            return false;
        }
        row += row_length + (row[row_length] == '.');
        path += path_length + (path[path_length] == '.');
    }
    return *row == '\0' && *path == '\0';
}

/* The row a params key stands for, or NULL; expect.* only for a metric. */
static const scn_key_info *test_scn_key_row(const char *key)
{
    char path[256];
    test_scn_key_normalise(key, path, sizeof(path));
    const scn_key_info *exact = scn__key_find(path);
    if (exact != NULL) {
        return exact;
    }
    for (size_t i = 0; i < scn__key_count; i++) {
        if (!test_scn_key_matches(scn__keys[i].path, path)) {
            continue;
        }
        char name[128];
        bool metric = strncmp(path, "expect.", 7) == 0;
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(path + 7, "."), path + 7);
        return !metric || scn_metric_find(name) >= 0 ? &scn__keys[i] : NULL;
    }
    return NULL;
}

static void test_scn_keys_of(const scn_scenario *s, const char *name)
{
    for (size_t i = 0; i < s->param_count; i++) {
        ck_assert_msg(test_scn_key_row(s->params[i].key) != NULL,
                      "%s: params key %s is no row of the key table", name, s->params[i].key);
    }
}

/* Every key the flattener writes, for every scenario of the library (and
 * the full test scenario, which has a region matrix), is a table row. */
START_TEST(test_scn_keys_params_are_rows)
{
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load(test_scn_full, NULL, 0, &s, &e), 0);
    test_scn_keys_of(s, "test_scn_full");
    scn_destroy(s);
    DIR *dir = opendir("scenarios");
    ck_assert(dir != NULL);
    size_t files = 0;
    for (struct dirent *entry = readdir(dir); entry != NULL; entry = readdir(dir)) {
        size_t length = strlen(entry->d_name);
        if (length < 6 || strcmp(entry->d_name + length - 5, ".yaml") != 0) {
            continue;
        }
        char path[300];
        snprintf(path, sizeof(path), "scenarios/%s", entry->d_name);
        s = NULL;
        int rc = scn_load_file(path, NULL, 0, &s, &e);
        ck_assert_msg(rc == 0, "%s: %s", path, e.message);
        test_scn_keys_of(s, path);
        scn_destroy(s);
        files += 1;
    }
    closedir(dir);
    ck_assert_uint_ge(files, 30);
    /* The normalisation and the wildcards themselves. */
    ck_assert_ptr_nonnull(test_scn_key_row("faults.3.groups.1.ids"));
    ck_assert_ptr_nonnull(test_scn_key_row("network.regions.eu.us"));
    ck_assert_ptr_nonnull(test_scn_key_row("expect.latency_p99"));
    ck_assert_ptr_null(test_scn_key_row("expect.no_such_metric"));
    ck_assert_ptr_null(test_scn_key_row("network.jiter"));
}
END_TEST

/* Every row is in scenarios/README.md's key reference with its type, unit
 * and default. */
START_TEST(test_scn_keys_documented)
{
    char *readme = strdup(test_dir_read(".", "scenarios/README.md"));
    ck_assert(readme != NULL && readme[0] != '\0');
    for (size_t i = 0; i < scn__key_count; i++) {
        const scn_key_info *k = &scn__keys[i];
        char row[256];
        snprintf(row, sizeof(row), "| `%s` | %s | %s | %s |", k->path,
                 scn__key_type_names[k->type], k->unit[0] != '\0' ? k->unit : "—",
                 k->fallback[0] != '\0' ? k->fallback : "—");
        ck_assert_msg(strstr(readme, row) != NULL, "scenarios/README.md lacks the row %s", row);
    }
    free(readme);
}
END_TEST

/* A misspelled key in each section gives the message it gave when the
 * lists were written by hand. */
static const struct {
    const char *yaml;
    const char *message;
} test_scn_misspelled[] = {
    {"nodes: {count: 8}\nbogus: 1\n",
     "mem.yaml:2:1: unknown key 'bogus' at the top level (expected one of: name, seed, "
     "duration, network, nodes, gossip, model, workload, verification, privacy, ledger, churn, faults, "
     "expect, output, sweep)"},
    {"nodes: {count: 8, classes: [{name: a, fraction: 1, flop: 1TFLOPS}]}\n",
     "mem.yaml:1:52: unknown key 'flop' in nodes.classes.0 (expected one of: name, fraction, "
     "bandwidth, memory, flops, kernel, overhead, memory_bandwidth, tee, max_batch)"},
    {"nodes: {count: 8}\nworkload: {mesages: 3}\n",
     "mem.yaml:2:12: unknown key 'mesages' in workload (expected one of: kind, messages, rate, "
     "arrival, start, size, requests, times, prompt_tokens, prompts, generate, timeout, "
     "failover, step_timeout, routing, routing_choices, until)"},
    {"nodes: {count: 8}\nworkload: {requests: 3}\n",
     "mem.yaml:2:12: workload.requests is not used by the gossip workload (it is for "
     "inference)"},
    {"nodes: {count: 8}\nfaults: [{kind: crash, at: 1s, nodes: {id: [1]}}]\n",
     "mem.yaml:2:40: unknown key 'id' in faults.0.nodes (expected one of: all, ids, range, "
     "fraction, class, region)"},
    {"nodes: {count: 8}\nfaults: [{kind: partition, at: 1s, groups: [5]}]\n",
     "mem.yaml:2:45: faults.0.groups.0: a selector is \"all\" or a map of all, ids, range, "
     "fraction, class, region; got a scalar"},
    {"nodes: {count: 8}\nsweep: {params: {nodes.count: {from: 2, to: 4, stp: 1}}}\n",
     "mem.yaml:2:48: unknown key 'stp' in a sweep range (expected one of: from, to, step)"},
    {"nodes: {count: 8}\nmodel: {shape: {dim: 16, hidden_dim: 32, layers: 2, heads: 2, vocab: "
     "32, seq_len: 32}}\nworkload: {requests: 2}\nverification: {protocol: committee, "
     "slashed_to: {honest: 1, burnt: 0}}\n",
     "mem.yaml:4:61: unknown key 'burnt' in verification.slashed_to (expected one of: honest, "
     "oracle, burn)"},
    {"nodes: {count: 8}\nmodel: {shape: {dim: 16, hidden_dim: 32, layers: 2, heads: 2, vocab: "
     "32, seq_len: 32}}\nworkload: {requests: 2}\nverification: {protocol: committee, "
     "final_agreement: {tua: 1}}\n",
     "mem.yaml:4:55: unknown key 'tua' in verification.final_agreement (expected one of: rule, "
     "epsilon, tau, top_k, margin)"},
};

START_TEST(test_scn_keys_misspelled_message)
{
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load(test_scn_misspelled[_i].yaml, NULL, 0, &s, &e), SCN_ESCHEMA);
    char buffer[512];
    scn_error_format(&e, buffer, sizeof(buffer));
    ck_assert_str_eq(buffer, test_scn_misspelled[_i].message);
}
END_TEST

START_TEST(test_scn_sweep_grid)
{
    const char *base = "nodes: {count: 8}\nseed: 5\n";
    const char *text = "nodes: {count: 8}\nseed: 5\n"
                       "sweep:\n"
                       "  seeds: 4\n"
                       "  params:\n"
                       "    network.loss: {from: 0.1, to: 0.4, step: 0.1}\n"
                       "    gossip.mode: [push, pushpull]\n"
                       "    network.jitter: {from: 10ms, to: 50ms, step: 20ms}\n";
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load(text, NULL, 0, &s, &e), 0);
    const scn_sweep *g = &s->sweep;
    ck_assert(g->present);
    ck_assert_uint_eq(g->seeds, 4);
    ck_assert_uint_eq(g->param_count, 3);
    ck_assert_str_eq(g->params[0].key, "network.loss");
    ck_assert_uint_eq(g->params[0].value_count, 4);
    ck_assert_str_eq(g->params[0].values[2], "0.3");    /* not 0.30000000000000004 */
    ck_assert_str_eq(g->params[0].values[3], "0.4");
    ck_assert_str_eq(g->params[2].values[1], "30ms");
    ck_assert_uint_eq(scn_sweep_points(g), 4 * 2 * 3);
    /* The last key varies fastest. */
    ck_assert_str_eq(scn_sweep_value(g, 0, 0), "0.1");
    ck_assert_str_eq(scn_sweep_value(g, 1, 2), "30ms");
    ck_assert_str_eq(scn_sweep_value(g, 3, 1), "pushpull");
    ck_assert_str_eq(scn_sweep_value(g, 3, 2), "10ms");
    ck_assert_str_eq(scn_sweep_value(g, 6, 0), "0.2");
    ck_assert_str_eq(scn_sweep_value(g, 23, 0), "0.4");
    /* The grid is in neither the params nor the hash: the base scenario. */
    ck_assert_ptr_null(test_scn_param(s, "sweep.seeds"));
    char hex[65];
    memcpy(hex, s->sha256_hex, sizeof(hex));
    scn_destroy(s);
    ck_assert_int_eq(test_scn_load(base, NULL, 0, &s, &e), 0);
    ck_assert(!s->sweep.present);
    ck_assert_uint_eq(s->sweep.seeds, 1);
    ck_assert_uint_eq(scn_sweep_points(&s->sweep), 1);
    ck_assert_str_eq(s->sha256_hex, hex);
    scn_destroy(s);
    /* --set reaches the section like any other. */
    const char *more = "sweep.seeds=9";
    ck_assert_int_eq(test_scn_load(text, &more, 1, &s, &e), 0);
    ck_assert_uint_eq(s->sweep.seeds, 9);
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_sweep_param_parse)
{
    scn_sweep_param p;
    char why[256];
    ck_assert_int_eq(scn_sweep_param_parse("gossip.fanout=2,4,8", &p, why, sizeof(why)), 0);
    ck_assert_str_eq(p.key, "gossip.fanout");
    ck_assert_uint_eq(p.value_count, 3);
    ck_assert_str_eq(p.values[2], "8");
    ck_assert_int_eq(scn_sweep_param_parse("network.loss=0:0.2:0.05", &p, why, sizeof(why)), 0);
    ck_assert_uint_eq(p.value_count, 5);
    ck_assert_str_eq(p.values[3], "0.15");
    ck_assert_int_eq(scn_sweep_param_parse("network.jitter=1ms:3ms:1ms", &p, why, sizeof(why)),
                     0);
    ck_assert_str_eq(p.values[2], "3ms");
    ck_assert_int_eq(scn_sweep_param_parse("name=a", &p, why, sizeof(why)), 0);
    ck_assert_uint_eq(p.value_count, 1);
    static const char *const bad[] = {"nokey", "=1", "a.b=", "a.b=1,,2", "seed=1,2",
                                      "sweep.seeds=2", "a..b=1", "a b=1", "a=1:0:1",
                                      "a=0:1:0", "a=0:1000:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        ck_assert_msg(scn_sweep_param_parse(bad[i], &p, why, sizeof(why)) == SCN_EUSAGE, "%s",
                      bad[i]);
        ck_assert_msg(why[0] != '\0', "%s: no reason", bad[i]);
    }
}
END_TEST

/* ---- malformed files ----------------------------------------------------- */

typedef struct test_scn_bad_case {
    const char *path;
    int code;
    uint32_t line;
    uint32_t column;              /* 0: not checked */
    const char *message;
} test_scn_bad_case;

static const test_scn_bad_case test_scn_bad[] = {
    {"tests/bad/01_unknown_top_key.yaml", SCN_ESCHEMA, 4, 1,
     "unknown key 'colour' at the top level (expected one of: name, seed,"},
    {"tests/bad/02_unknown_nested_key.yaml", SCN_ESCHEMA, 6, 3,
     "unknown key 'jiter' in network (expected one of: latency, regions,"},
    {"tests/bad/03_unsupported_section.yaml", SCN_ESCHEMA, 3, 1,
     "section 'testbed' is not supported yet"},
    {"tests/bad/04_bad_duration_unit.yaml", SCN_ESCHEMA, 1, 11, "unknown unit 'sec'"},
    {"tests/bad/05_duration_no_unit.yaml", SCN_ESCHEMA, 4, 11,
     "network.jitter: duration needs a unit (e.g. 50ms)"},
    {"tests/bad/06_negative_count.yaml", SCN_ESCHEMA, 2, 10, "must not be negative"},
    {"tests/bad/07_count_too_large.yaml", SCN_ESCHEMA, 2, 10,
     "nodes.count must be between 2 and 2000000"},
    {"tests/bad/08_fractions_sum.yaml", SCN_ESCHEMA, 4, 5,
     "fractions in nodes.classes sum to 0.9, expected 1"},
    {"tests/bad/09_duplicate_class.yaml", SCN_ESCHEMA, 6, 13, "duplicate class name 'gpu'"},
    {"tests/bad/10_unknown_class_selector.yaml", SCN_ESCHEMA, 6, 20, "unknown class 'tpu'"},
    {"tests/bad/11_id_out_of_range.yaml", SCN_ESCHEMA, 7, 16, "node id 10 is out of range"},
    {"tests/bad/12_until_before_at.yaml", SCN_ESCHEMA, 6, 12, "must be after faults.0.at"},
    {"tests/bad/13_fault_after_end.yaml", SCN_ESCHEMA, 6, 9,
     "must be before the end of the run (duration 10s)"},
    {"tests/bad/14_unsupported_fault_kind.yaml", SCN_ESCHEMA, 4, 11,
     "fault kind 'clock_skew' is not supported yet"},
    {"tests/bad/15_probability_too_big.yaml", SCN_ESCHEMA, 7, 18,
     "faults.0.probability must be in (0, 1]"},
    {"tests/bad/16_missing_probability.yaml", SCN_ESCHEMA, 4, 5,
     "missing required key 'probability' for a loss fault"},
    {"tests/bad/17_yaml_tab.yaml", SCN_EPARSE, 4, 1, "cannot start any token"},
    {"tests/bad/18_unclosed_bracket.yaml", SCN_EPARSE, 4, 0, "did not find expected ',' or ']'"},
    {"tests/bad/19_duplicate_key.yaml", SCN_EPARSE, 3, 3,
     "duplicate key 'count' (first at line 2)"},
    {"tests/bad/20_unknown_metric.yaml", SCN_ESCHEMA, 5, 3,
     "unknown metric 'throughput' (expected e.g. delivery_ratio,"},
    {"tests/bad/21_bad_operator.yaml", SCN_ESCHEMA, 4, 19, "bad comparison operator"},
    {"tests/bad/22_region_missing_pair.yaml", SCN_ESCHEMA, 8, 5,
     "no latency between 'ap' and 'ap'"},
    {"tests/bad/23_region_undeclared.yaml", SCN_ESCHEMA, 8, 5,
     "region 'ap' in network.regions is not declared in nodes.regions"},
    {"tests/bad/24_seq_for_map.yaml", SCN_ESCHEMA, 4, 3,
     "expected a map for 'network', got a sequence"},
    {"tests/bad/25_undefined_alias.yaml", SCN_EPARSE, 4, 12,
     "alias '*nope' refers to an undefined anchor"},
    {"tests/bad/26_multiple_documents.yaml", SCN_EPARSE, 3, 1, "multiple documents"},
    {"tests/bad/27_bad_rate.yaml", SCN_ESCHEMA, 4, 9, "unknown unit '/day'"},
    {"tests/bad/28_bad_bandwidth_unit.yaml", SCN_ESCHEMA, 4, 14,
     "unknown unit 'GBps' in bit rate"},
    {"tests/bad/29_fanout_too_large.yaml", SCN_ESCHEMA, 4, 11,
     "gossip.fanout (5) must be less than nodes.count (5)"},
    {"tests/bad/30_uniform_no_max.yaml", SCN_ESCHEMA, 5, 5,
     "network.latency.max is required for the uniform model"},
    {"tests/bad/31_too_many_ids.yaml", SCN_ESCHEMA, 72, 11, "too many ids"},
    {"tests/bad/32_missing_count.yaml", SCN_ESCHEMA, 2, 3, "missing required key 'nodes.count'"},
    {"tests/bad/33_delay_not_allowed.yaml", SCN_ESCHEMA, 7, 5,
     "key 'delay' is not allowed for a crash fault"},
    {"tests/bad/34_count_fraction.yaml", SCN_ESCHEMA, 2, 10, "expected a whole number"},
    {"tests/bad/35_unknown_fault_kind.yaml", SCN_ESCHEMA, 4, 11, "unknown fault kind 'explode'"},
    {"tests/bad/36_merge_not_map.yaml", SCN_EPARSE, 4, 7, "merge key '<<' needs a map"},
    {"tests/bad/37_empty_groups.yaml", SCN_ESCHEMA, 6, 13, "needs 1 to 8 groups, got 0"},
    {"tests/bad/38_size_too_big.yaml", SCN_ESCHEMA, 4, 9, "at most 64MiB"},
    {"tests/bad/39_scalar_for_seq.yaml", SCN_ESCHEMA, 3, 12,
     "expected a sequence for 'nodes.classes', got a scalar"},
    {"tests/bad/40_top_level_seq.yaml", SCN_ESCHEMA, 1, 1, "expected a map at the top level"},
    {"tests/bad/41_duration_overflow.yaml", SCN_ESCHEMA, 3, 11, "is too large"},
    {"tests/bad/42_range_reversed.yaml", SCN_ESCHEMA, 6, 20, "range 7-3 needs first <= last"},
    {"tests/bad/43_invalid_utf8.yaml", SCN_EPARSE, 3, 11, "invalid leading UTF-8 octet"},
    {"tests/bad/44_model_no_shape.yaml", SCN_ESCHEMA, 4, 3,
     "missing required key 'model.shape' for the seed source"},
    {"tests/bad/45_heads_not_dividing.yaml", SCN_ESCHEMA, 4, 55,
     "model.shape: heads (6) must divide dim (64)"},
    {"tests/bad/46_segments_not_covering.yaml", SCN_ESCHEMA, 5, 13,
     "model.segments cover layers 0-4, but the model has 6 layers (0-5)"},
    {"tests/bad/47_segments_overlap.yaml", SCN_ESCHEMA, 5, 22,
     "model.segments.1 [2, 5] overlaps model.segments.0, which ends at layer 2"},
    {"tests/bad/48_segment_count_too_large.yaml", SCN_ESCHEMA, 5, 13,
     "model.segments (7) must be at most the layer count (6)"},
    {"tests/bad/49_unknown_kernel.yaml", SCN_ESCHEMA, 4, 40,
     "unknown nodes.classes.0.kernel 'tensor' (expected one of: sequential, blocked, fma, bf16, "
     "q8)"},
    {"tests/bad/50_bad_flops_unit.yaml", SCN_ESCHEMA, 4, 39,
     "nodes.classes.0.flops: unknown unit 'TFLOP/s' in FLOP rate '10 TFLOP/s'"},
    {"tests/bad/51_unknown_wire_dtype.yaml", SCN_ESCHEMA, 5, 15,
     "unknown model.wire_dtype 'fp8' (expected one of: fp32, fp16, bf16, int8)"},
    {"tests/bad/52_inference_without_model.yaml", SCN_ESCHEMA, 4, 9,
     "workload.kind inference needs a model section"},
    {"tests/bad/53_messages_with_inference.yaml", SCN_ESCHEMA, 7, 3,
     "workload.messages is not used by the inference workload"},
    {"tests/bad/54_context_too_long.yaml", SCN_ESCHEMA, 7, 13,
     "workload.prompt_tokens max (100) + workload.generate (29) = 129 exceeds the model's "
     "seq_len (128)"},
    {"tests/bad/55_explicit_without_times.yaml", SCN_ESCHEMA, 6, 12,
     "workload.arrival explicit needs workload.times"},
    {"tests/bad/56_times_not_sorted.yaml", SCN_ESCHEMA, 6, 19,
     "workload.times.2 (2s) is before workload.times.1 (3s)"},
    {"tests/bad/57_checkpoint_missing.yaml", SCN_ESCHEMA, 4, 9,
     "cannot open 'no-such-model.bin': No such file or directory"},
    {"tests/bad/58_checkpoint_truncated.yaml", SCN_ESCHEMA, 4, 9, "checkpoint header truncated"},
    {"tests/bad/59_checkpoint_size.yaml", SCN_ESCHEMA, 4, 9,
     "checkpoint is 40 bytes, header implies 7868"},
    {"tests/bad/60_shape_with_file.yaml", SCN_ESCHEMA, 5, 10,
     "shape comes from the checkpoint header"},
    {"tests/bad/61_segment_memory.yaml", SCN_ESCHEMA, 8, 13,
     "model segment 0 (layers 0-2) needs 3871232 bytes of memory, but the largest node class "
     "('tiny') has 1000000"},
    {"tests/bad/62_segments_gap.yaml", SCN_ESCHEMA, 5, 22,
     "model.segments.1 starts at layer 3, leaving layer 2 in no segment"},
    {"tests/bad/63_time_after_end.yaml", SCN_ESCHEMA, 7, 15,
     "workload.times.1 (5s) must be before the end of the run (duration 5s)"},
    {"tests/bad/64_requests_times_mismatch.yaml", SCN_ESCHEMA, 7, 13,
     "workload.requests (3) must equal the number of workload.times (2)"},
    {"tests/bad/65_generate_with_gossip.yaml", SCN_ESCHEMA, 7, 3,
     "workload.generate is not used by the gossip workload"},
    {"tests/bad/66_kv_heads_not_dividing.yaml", SCN_ESCHEMA, 4, 68,
     "model.shape: kv_heads (3) must divide heads (8)"},
    {"tests/bad/67_replicas_too_many.yaml", SCN_ESCHEMA, 6, 13,
     "model.replicas (3) x 2 segments needs 6 nodes, but nodes.count is 4"},
    {"tests/bad/68_committee_without_model.yaml", SCN_ESCHEMA, 4, 13,
     "verification.protocol committee needs a model section"},
    {"tests/bad/69_quorum_above_committee.yaml", SCN_ESCHEMA, 8, 11,
     "verification.quorum (4) must be <= verification.committee (3)"},
    {"tests/bad/70_unknown_rule.yaml", SCN_ESCHEMA, 7, 21,
     "unknown verification.agreement.rule 'l2' (expected one of: exact, maxabs, cosine, topk)"},
    {"tests/bad/71_epsilon_with_cosine.yaml", SCN_ESCHEMA, 9, 5,
     "verification.agreement.epsilon does not apply to rule cosine"},
    {"tests/bad/72_tau_out_of_range.yaml", SCN_ESCHEMA, 7, 40,
     "verification.final_agreement.tau must be in [-1, 1], got 1.5"},
    {"tests/bad/73_penalty_zero.yaml", SCN_ESCHEMA, 8, 14,
     "verification.reputation.penalty must be in (0, 1], got 0"},
    {"tests/bad/74_reputation_min_above_max.yaml", SCN_ESCHEMA, 9, 10,
     "verification.reputation.max (2) must be >= verification.reputation.min (5)"},
    {"tests/bad/75_key_with_protocol_none.yaml", SCN_ESCHEMA, 7, 3,
     "verification.quorum needs a protocol other than none"},
    {"tests/bad/76_collude_without_committee.yaml", SCN_ESCHEMA, 6, 11,
     "fault kind 'collude' needs a verification.protocol (it is a verifier's misbehaviour)"},
    {"tests/bad/77_scale_on_silent.yaml", SCN_ESCHEMA, 10, 5,
     "faults.0: key 'scale' is not allowed for a silent fault"},
    {"tests/bad/78_wrong_output_without_nodes.yaml", SCN_ESCHEMA, 7, 5,
     "faults.0: missing required key 'nodes' for a wrong_output fault"},
    {"tests/bad/79_committee_zero.yaml", SCN_ESCHEMA, 7, 14,
     "verification.committee must be between 1 and 64, got 0"},
    {"tests/bad/80_initial_default_below_min.yaml", SCN_ESCHEMA, 7, 15,
     "verification.reputation.initial (1, the default) must be in [min, max] = [2, 10]"},
    {"tests/bad/81_commit_timeout_zero.yaml", SCN_ESCHEMA, 7, 19,
     "verification.commit_timeout must be > 0"},
    {"tests/bad/82_scale_on_crash.yaml", SCN_ESCHEMA, 10, 5,
     "faults.0: key 'scale' is not allowed for a crash fault"},
    {"tests/bad/83_committee_with_gossip.yaml", SCN_ESCHEMA, 6, 26,
     "verification.protocol committee needs an inference workload"},
    {"tests/bad/84_scale_negative.yaml", SCN_ESCHEMA, 10, 12,
     "faults.0.scale must be > 0, got -1"},
    {"tests/bad/85_budget_on_collude.yaml", SCN_ESCHEMA, 10, 5,
     "faults.0: key 'budget' is not allowed for a collude fault"},
    {"tests/bad/86_adaptive_budget_zero.yaml", SCN_ESCHEMA, 7, 50,
     "faults.0.budget must be between 1 and 2000000, got 0"},
    {"tests/bad/87_committee_under_tee.yaml", SCN_ESCHEMA, 7, 3,
     "verification.committee does not apply to protocol tee (it has one executor)"},
    {"tests/bad/88_echelon_unknown.yaml", SCN_ESCHEMA, 7, 12,
     "verification.echelon: unknown class 'h100' (not in nodes.classes)"},
    {"tests/bad/89_slashed_to_sum.yaml", SCN_ESCHEMA, 7, 15,
     "verification.slashed_to: honest + oracle + burn must be 1, got 0.9"},
    {"tests/bad/90_forge_without_tee.yaml", SCN_ESCHEMA, 7, 12,
     "fault kind 'forge_attestation' needs verification.protocol: tee"},
    {"tests/bad/91_tee_without_class.yaml", SCN_ESCHEMA, 6, 13,
     "verification.protocol tee needs a class with tee: true in nodes.classes"},
    {"tests/bad/92_gain_on_silent.yaml", SCN_ESCHEMA, 10, 5,
     "faults.0: key 'gain' is not allowed for a silent fault"},
    {"tests/bad/93_sampling_without_commit.yaml", SCN_ESCHEMA, 7, 18,
     "verification.commit_reveal must be true for protocol sampling"},
    {"tests/bad/94_check_probability_range.yaml", SCN_ESCHEMA, 7, 22,
     "verification.check_probability must be in [0, 1], got 1.5"},
    {"tests/bad/95_window_under_sampling.yaml", SCN_ESCHEMA, 7, 3,
     "verification.challenge_window does not apply to protocol sampling (it belongs to "
     "protocol optimistic)"},
    {"tests/bad/96_zk_proof_too_big.yaml", SCN_ESCHEMA, 7, 21,
     "verification.zk.proof_bytes must be a size from 1B up to 16MiB, got 1GiB"},
    {"tests/bad/97_zk_proof_empty.yaml", SCN_ESCHEMA, 7, 21,
     "verification.zk.proof_bytes must be a size from 1B up to 16MiB, got 0B"},
    {"tests/bad/98_step_timeout_without_failover.yaml", SCN_ESCHEMA, 5, 39,
     "workload.step_timeout needs workload.failover: true"},
    {"tests/bad/99_failover_with_committee.yaml", SCN_ESCHEMA, 7, 13,
     "workload.failover needs verification.protocol none (a committee retries with fresh "
     "members instead)"},
    {"tests/bad/100_memory_bandwidth_unit.yaml", SCN_ESCHEMA, 4, 48,
     "nodes.classes.0.memory_bandwidth: unknown unit 'TBps' in memory bandwidth '2TBps' "
     "(expected B/s, kB/s, KB/s, KiB/s, MB/s, MiB/s, GB/s, GiB/s, TB/s, TiB/s)"},
    {"tests/bad/101_routing_unknown.yaml", SCN_ESCHEMA, 5, 34,
     "unknown workload.routing 'fastest' (expected one of: hash, latency)"},
    {"tests/bad/102_routing_choices_without_latency.yaml", SCN_ESCHEMA, 5, 42,
     "workload.routing_choices needs workload.routing: latency"},
    {"tests/bad/103_routing_choices_zero.yaml", SCN_ESCHEMA, 5, 60,
     "workload.routing_choices must be between 1 and 1024, got 0"},
    {"tests/bad/104_routing_with_committee.yaml", SCN_ESCHEMA, 7, 13,
     "workload.routing latency needs verification.protocol none (a committee's members are "
     "drawn, not routed)"},
    {"tests/bad/115_draw_epoch_with_ledger.yaml", SCN_ESCHEMA, 9, 15,
     "verification.settlement: ledger settles at commit, not in request order: it cannot be "
     "combined with verification.draw_epoch"},
    {"tests/bad/116_suspect_after_not_duration.yaml", SCN_ESCHEMA, 7, 18,
     "verification.suspect_after: '-5ms' must not be negative"},
    {"tests/bad/117_suspect_after_past_timeout.yaml", SCN_ESCHEMA, 8, 18,
     "verification.suspect_after must be shorter than commit_timeout and reveal_timeout"},
    {"tests/bad/118_suspect_after_without_protocol.yaml", SCN_ESCHEMA, 6, 3,
     "verification.suspect_after needs a protocol other than none"},
    {"tests/bad/119_coordination_not_collude.yaml", SCN_ESCHEMA, 7, 53,
     "faults.0: key 'coordination' is not allowed for a wrong_output fault"},
    {"tests/bad/120_coordination_messages_not_committee.yaml", SCN_ESCHEMA, 7, 62,
     "faults.0.coordination: messages needs verification.protocol: committee"},
    {"tests/bad/121_coordination_unknown.yaml", SCN_ESCHEMA, 7, 62,
     "unknown faults.0.coordination 'radio' (expected one of: stream, messages)"},
    {"tests/bad/122_target_token_past_vocab.yaml", SCN_ESCHEMA, 7, 62,
     "faults.0.target_token must be between 0 and 63, got 64"},
    {"tests/bad/123_timeout_evidence_instant.yaml", SCN_ESCHEMA, 10, 21,
     "ledger.timeout_evidence needs verification.settlement: ledger"},
    {"tests/bad/124_timeout_evidence_without_evidence.yaml", SCN_ESCHEMA, 12, 21,
     "ledger.timeout_evidence needs ledger.evidence: true"},
    {"tests/bad/125_timeout_evidence_no_commit.yaml", SCN_ESCHEMA, 12, 21,
     "ledger.timeout_evidence needs verification.commit_reveal: true (members commit)"},
    {"tests/bad/126_timeout_evidence_not_bool.yaml", SCN_ESCHEMA, 11, 21,
     "ledger.timeout_evidence: expected true or false, got 'maybe'"},
    {"tests/bad/127_node_series_not_bool.yaml", SCN_ESCHEMA, 5, 16,
     "output.node_series: expected true or false, got '0'"},
    {"tests/bad/128_until_unknown.yaml", SCN_ESCHEMA, 5, 32,
     "unknown workload.until 'everyone' (expected one of: requests, all_served)"},
    {"tests/bad/129_until_gossip.yaml", SCN_ESCHEMA, 3, 25,
     "workload.until is not used by the gossip workload (it is for inference)"},
    {"tests/bad/130_decisions_not_bool.yaml", SCN_ESCHEMA, 5, 14,
     "output.decisions: expected true or false, got 'none'"},
    {"tests/bad/131_sample_interval_too_many.yaml", SCN_ESCHEMA, 5, 20,
     "output.sample_interval 1ns over a duration of 20s is 20000000000 samples; at most"
     " 10000000 (a longer period, or 0 for no timeseries)"},
    {"tests/bad/132_duration_too_many_samples.yaml", SCN_ESCHEMA, 1, 11,
     "output.sample_interval 100ms over a duration of"},
    {"tests/bad/133_node_series_rows_default.yaml", SCN_ESCHEMA, 2, 11,
     "output.node_series writes every node's balance at every sample: 200000 nodes x 1000"
     " samples (every 100ms) is 2e+08 rows; at most 1e+08 (set output.node_series: false to"
     " keep the means, or a longer output.sample_interval)"},
    {"tests/bad/134_node_series_rows.yaml", SCN_ESCHEMA, 12, 23,
     "output.node_series writes every node's balance at every sample"},
    {"tests/bad/135_node_series_rows_node_count.yaml", SCN_ESCHEMA, 3, 10,
     "output.node_series writes every node's balance at every sample: 2000000 nodes x 100"},
    {"tests/bad/136_check_answers_above_verifiers.yaml", SCN_ESCHEMA, 8, 18,
     "verification.check_answers (3) must be <= verification.verifiers (2)"},
    {"tests/bad/137_check_answers_under_committee.yaml", SCN_ESCHEMA, 7, 3,
     "verification.check_answers does not apply to protocol committee (it belongs to "
     "protocol crossval)"},
    {"tests/bad/112_max_batch_zero.yaml", SCN_ESCHEMA, 4, 68,
     "nodes.classes.0.max_batch must be between 1 and 64, got 0"},
    {"tests/bad/113_max_batch_too_big.yaml", SCN_ESCHEMA, 4, 43,
     "nodes.classes.0.max_batch must be between 1 and 64, got 65"},
    {"tests/bad/114_max_batch_with_committee.yaml", SCN_ESCHEMA, 8, 13,
     "nodes.classes.0.max_batch > 1 needs verification.protocol none (committee members "
     "compute one call at a time)"},
    {"tests/bad/105_churn_negative_rate.yaml", SCN_ESCHEMA, 6, 20,
     "churn.join_rate: '-1/s' must not be negative"},
    {"tests/bad/106_churn_online_fraction.yaml", SCN_ESCHEMA, 6, 44,
     "churn.initially_online must be in [0, 1], got 1.5"},
    {"tests/bad/107_churn_stop_before_start.yaml", SCN_ESCHEMA, 6, 26,
     "churn.stop must not be before churn.start"},
    {"tests/bad/108_churn_drain_without_graceful.yaml", SCN_ESCHEMA, 6, 30,
     "churn.drain needs churn.leave: graceful"},
    {"tests/bad/109_churn_unknown_key.yaml", SCN_ESCHEMA, 6, 25,
     "unknown key 'leeve_rate' in churn (expected one of: join_rate, leave_rate, "
     "initially_online, leave, drain, start, stop, nodes)"},
    {"tests/bad/110_churn_without_inference.yaml", SCN_ESCHEMA, 2, 8,
     "churn needs an inference workload"},
    {"tests/bad/111_churn_leave_unknown.yaml", SCN_ESCHEMA, 6, 16,
     "unknown churn.leave 'sometimes' (expected one of: crash, graceful)"},
    {"tests/bad/sweep_01_empty_list.yaml", SCN_ESCHEMA, 4, 20,
     "sweep.params.gossip.fanout: expected a non-empty list of values or a range"},
    {"tests/bad/sweep_02_bad_range.yaml", SCN_ESCHEMA, 5, 19,
     "sweep.params.network.loss: range needs step > 0 and to >= from"},
    {"tests/bad/sweep_03_seed_key.yaml", SCN_ESCHEMA, 4, 5, "sweep key 'seed' cannot be swept"},
    {"tests/bad/sweep_04_unknown_key.yaml", SCN_ESCHEMA, 4, 3,
     "unknown key 'grid' in sweep (expected one of: seeds, params)"},
    {"tests/bad/sweep_05_seeds_zero.yaml", SCN_ESCHEMA, 2, 16,
     "sweep.seeds must be between 1 and 100000, got 0"},
    {"tests/bad/sweep_06_range_key.yaml", SCN_ESCHEMA, 4, 37,
     "unknown key 'by' in a sweep range"},
};

START_TEST(test_scn_bad_file_rejected)
{
    const test_scn_bad_case *c = &test_scn_bad[_i];
    scn_scenario *s = (scn_scenario *)&s;
    scn_error e;
    int rc = scn_load_file(c->path, NULL, 0, &s, &e);
    char text[600];
    scn_error_format(&e, text, sizeof(text));
    ck_assert_msg(rc == c->code, "%s: rc %d, want %d (%s)", c->path, rc, c->code, text);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(e.file, c->path);
    ck_assert_msg(e.line == c->line, "%s: line %u, want %u (%s)", c->path, e.line, c->line, text);
    ck_assert_msg(c->column == 0 || e.column == c->column, "%s: column %u, want %u (%s)",
                  c->path, e.column, c->column, text);
    ck_assert_msg(strstr(e.message, c->message) != NULL, "%s: message '%s'", c->path, e.message);
}
END_TEST


/* ---- verification: committee, agreement, reputation, Byzantine faults ---- */

static const char test_scn_committee[] =
    "name: committee\n"
    "duration: 30s\n"
    "nodes: {count: 20}\n"
    "model:\n"
    "  shape: {dim: 16, hidden_dim: 32, layers: 2, heads: 4, vocab: 64, seq_len: 32}\n"
    "  segments: 2\n"
    "verification:\n"
    "  protocol: committee\n"
    "  committee: 5\n"
    "  quorum: 4\n"
    "  retries: 3\n"
    "  commit_reveal: false\n"
    "  commit_timeout: 750ms\n"
    "  reveal_timeout: 1500ms\n"
    "  agreement: {rule: cosine, tau: 0.98}\n"
    "  final_agreement: {rule: topk, top_k: 5}\n"
    "  reputation: {penalty: 0.5, reward: 1.1, min: 0.05, max: 20, initial: 2}\n"
    "  stake: 3.5\n"
    "faults:\n"
    "  - {kind: wrong_output, at: 1s, nodes: {ids: [1, 2]}}\n"
    "  - {kind: collude, at: 2s, until: 20s, nodes: {range: 3-5}, scale: 0.25}\n"
    "  - {kind: silent, at: 3s, nodes: {fraction: 0.1}}\n"
    "  - {kind: silent, at: 4s, until: 5s, nodes: {ids: [7]}}\n"
    "  - {kind: wrong_output, at: 5s, nodes: all, scale: 3}\n"
    "expect:\n"
    "  accepted_wrong: \"== 0\"\n"
    "  accepted_wrong_ratio: \"<= 0.01\"\n"
    "  honest_penalised: \"< 5\"\n"
    "  honest_penalised_ratio: \"< 0.1\"\n"
    "  no_quorum: \"<= 3\"\n"
    "  reputation_honest_mean: \">= 1\"\n"
    "  reputation_byzantine_mean: \"< 1\"\n"
    "  requests_failed: \"== 0\"\n";

START_TEST(test_scn_verify_full_fields)
{
    scn_scenario *s = NULL;
    scn_error e;
    int rc = test_scn_load(test_scn_committee, NULL, 0, &s, &e);
    ck_assert_msg(rc == 0, "%u:%u: %s", e.line, e.column, e.message);
    const scn_verification *v = &s->verification;
    ck_assert_int_eq(v->protocol, CONS_PROTOCOL_COMMITTEE);
    ck_assert_uint_eq(v->committee, 5);
    ck_assert_uint_eq(v->quorum, 4);
    ck_assert_uint_eq(v->retries, 3);
    ck_assert(!v->commit_reveal);
    ck_assert_uint_eq(v->commit_timeout_ns, 750000000ull);
    ck_assert_uint_eq(v->reveal_timeout_ns, 1500000000ull);
    ck_assert_int_eq(v->agreement.rule, SCN_AGREE_COSINE);
    ck_assert(v->agreement.tau == 0.98);
    ck_assert(v->agreement.epsilon == 0.05);       /* other rules' parameters keep defaults */
    ck_assert_uint_eq(v->agreement.top_k, 1);
    ck_assert_int_eq(v->final_agreement.rule, SCN_AGREE_TOPK);
    ck_assert_uint_eq(v->final_agreement.top_k, 5);
    ck_assert(v->penalty == 0.5);
    ck_assert(v->reward == 1.1);
    ck_assert(v->reputation_min == 0.05);
    ck_assert(v->reputation_max == 20);
    ck_assert(v->reputation_initial == 2);
    ck_assert(v->stake == 3.5);
    ck_assert_uint_eq(s->expect_count, 8);
    ck_assert_str_eq(s->expects[4].metric, "no_quorum");
    ck_assert_int_eq(s->expects[4].cmp, SCN_CMP_LE);
    ck_assert(s->expects[4].value == 3);
    scn_destroy(s);
}
END_TEST

START_TEST(test_scn_verify_faults)
{
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load(test_scn_committee, NULL, 0, &s, &e), 0);
    ck_assert_uint_eq(s->fault_count, 5);
    const scn_fault *f = s->faults;
    ck_assert_int_eq(f[0].kind, SCN_FAULT_WRONG_OUTPUT);
    ck_assert(f[0].scale == 1.0);                    /* default */
    ck_assert_uint_eq(f[0].at_ns, 1000000000ull);
    ck_assert_uint_eq(f[0].until_ns, UINT64_MAX);
    ck_assert_uint_eq(f[0].nodes.id_count, 2);
    ck_assert_uint_eq(f[0].nodes.ids[1], 2);
    ck_assert_int_eq(f[1].kind, SCN_FAULT_COLLUDE);
    ck_assert(f[1].scale == 0.25);
    ck_assert_uint_eq(f[1].until_ns, 20000000000ull);
    ck_assert(f[1].nodes.has_range);
    ck_assert_uint_eq(f[1].nodes.range_first, 3);
    ck_assert_uint_eq(f[1].nodes.range_last, 5);
    ck_assert_int_eq(f[2].kind, SCN_FAULT_SILENT);
    ck_assert(f[2].nodes.fraction == 0.1);
    ck_assert_int_eq(f[3].kind, SCN_FAULT_SILENT);
    ck_assert_uint_eq(f[3].until_ns, 5000000000ull);
    ck_assert_uint_eq(f[3].nodes.ids[0], 7);
    ck_assert_int_eq(f[4].kind, SCN_FAULT_WRONG_OUTPUT);
    ck_assert(f[4].scale == 3.0);
    ck_assert(f[4].nodes.all);
    ck_assert_str_eq(test_scn_param(s, "faults.0.kind"), "wrong_output");
    ck_assert_str_eq(test_scn_param(s, "faults.0.scale"), "1");
    ck_assert_str_eq(test_scn_param(s, "faults.1.kind"), "collude");
    ck_assert_str_eq(test_scn_param(s, "faults.1.scale"), "0.25");
    ck_assert_str_eq(test_scn_param(s, "faults.2.kind"), "silent");
    ck_assert_ptr_null(test_scn_param(s, "faults.2.scale"));
    ck_assert_str_eq(test_scn_param(s, "faults.3.kind"), "silent");
    ck_assert_ptr_null(test_scn_param(s, "faults.3.scale"));
    ck_assert_str_eq(test_scn_param(s, "faults.3.nodes.ids"), "[7]");
    scn_destroy(s);
    /* Turning the protocol off makes the Byzantine faults an error at their kind. */
    const char *off = "verification={protocol: none}";
    ck_assert_int_eq(test_scn_load(test_scn_committee, &off, 1, &s, &e), SCN_ESCHEMA);
    ck_assert_uint_eq(e.line, 20);
    ck_assert_str_eq(e.message, "fault kind 'wrong_output' needs a verification.protocol (it is "
                                "a verifier's misbehaviour)");
}
END_TEST

START_TEST(test_scn_verify_agreement_variants)
{
    static const struct {
        const char *set[2];
        scn_agree_rule rule;
        double epsilon;
        double tau;
        uint32_t top_k;
        const char *param_key;
        const char *param_value;
    } cases[] = {
        {{"verification.agreement={rule: exact}", NULL}, SCN_AGREE_EXACT, 0.05, 0.999, 1,
         "verification.agreement.rule", "exact"},
        {{"verification.agreement={rule: maxabs, epsilon: 0.001}", NULL}, SCN_AGREE_MAXABS,
         0.001, 0.999, 1, "verification.agreement.epsilon", "0.001"},
        {{"verification.agreement={rule: maxabs}", NULL}, SCN_AGREE_MAXABS, 0.05, 0.999, 1,
         "verification.agreement.epsilon", "0.05"},
        {{"verification.agreement={epsilon: 0}", NULL}, SCN_AGREE_MAXABS, 0, 0.999, 1,
         "verification.agreement.epsilon", "0"},
        {{"verification.agreement={rule: cosine, tau: -1}", NULL}, SCN_AGREE_COSINE, 0.05, -1,
         1, "verification.agreement.tau", "-1"},
        {{"verification.agreement={rule: topk, top_k: 64}", NULL}, SCN_AGREE_TOPK, 0.05, 0.999,
         64, "verification.agreement.top_k", "64"},
        {{"verification.agreement={rule: topk, margin: 0.25}", NULL}, SCN_AGREE_TOPK, 0.05,
         0.999, 1, "verification.agreement.margin", "0.25"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        scn_scenario *s = NULL;
        scn_error e;
        int rc = test_scn_load(test_scn_committee, cases[i].set, 1, &s, &e);
        ck_assert_msg(rc == 0, "case %zu: %s", i, e.message);
        const scn_agreement *a = &s->verification.agreement;
        ck_assert_int_eq(a->rule, cases[i].rule);
        ck_assert_msg(a->epsilon == cases[i].epsilon, "case %zu", i);
        ck_assert_msg(a->tau == cases[i].tau, "case %zu", i);
        ck_assert_uint_eq(a->top_k, cases[i].top_k);
        ck_assert_msg(a->margin == (strstr(cases[i].set[0], "margin") != NULL ? 0.25 : 0.0),
                      "case %zu", i);
        ck_assert_str_eq(test_scn_param(s, cases[i].param_key), cases[i].param_value);
        scn_destroy(s);
    }
    /* Parameters of another rule, or out of range, are errors naming the key. */
    static const struct {
        const char *set;
        const char *message;
    } bad[] = {
        {"verification.final_agreement={top_k: 2, rule: maxabs}",
         "verification.final_agreement.top_k does not apply to rule maxabs"},
        {"verification.agreement={rule: exact, tau: 0.5}",
         "verification.agreement.tau does not apply to rule exact"},
        {"verification.agreement={epsilon: -0.1}",
         "verification.agreement.epsilon must be >= 0, got -0.1"},
        {"verification.final_agreement={top_k: 65}",
         "verification.final_agreement.top_k must be between 1 and 64, got 65"},
        {"verification.agreement={rule: maxabs, margin: 0.1}",
         "verification.agreement.margin does not apply to rule maxabs (it belongs to rule topk)"},
        {"verification.final_agreement.margin=-0.5",
         "verification.final_agreement.margin must be finite and >= 0, got -0.5"},
        {"verification.reputation.reward=0.99",
         "verification.reputation.reward must be >= 1, got 0.99"},
        {"verification.reputation.initial=30",
         "verification.reputation.initial (30) must be in [min, max] = [0.05, 20]"},
        {"verification.stake=0", "verification.stake must be > 0, got 0"},
        {"verification.retries=17", "verification.retries must be between 0 and 16, got 17"},
        {"verification.commit_reveal=maybe",
         "verification.commit_reveal: expected true or false, got 'maybe'"},
        {"verification.protocol=majority", "unknown verification.protocol 'majority'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        scn_scenario *s = NULL;
        scn_error e;
        ck_assert_int_eq(test_scn_load(test_scn_committee, &bad[i].set, 1, &s, &e), SCN_ESCHEMA);
        ck_assert_msg(strstr(e.message, bad[i].message) != NULL, "%s: %s", bad[i].set,
                      e.message);
    }
}
END_TEST

static void test_scn_verify_check_defaults(const scn_verification *v, cons_protocol protocol)
{
    ck_assert_int_eq(v->protocol, protocol);
    ck_assert_uint_eq(v->committee, 3);
    ck_assert_uint_eq(v->quorum, 2);
    ck_assert_uint_eq(v->retries, 2);
    ck_assert(v->commit_reveal);
    ck_assert_uint_eq(v->commit_timeout_ns, 2000000000ull);
    ck_assert_uint_eq(v->reveal_timeout_ns, 2000000000ull);
    ck_assert_int_eq(v->agreement.rule, SCN_AGREE_MAXABS);
    ck_assert(v->agreement.epsilon == 0.05);
    ck_assert(v->agreement.tau == 0.999);
    ck_assert_uint_eq(v->agreement.top_k, 1);
    ck_assert_int_eq(v->final_agreement.rule, SCN_AGREE_TOPK);
    ck_assert_uint_eq(v->final_agreement.top_k, 1);
    ck_assert(v->penalty == 0.8);
    ck_assert(v->reward == 1.01);
    ck_assert(v->reputation_min == 0.1);
    ck_assert(v->reputation_max == 10);
    ck_assert(v->reputation_initial == 1);
    ck_assert(v->stake == 1);
}

START_TEST(test_scn_verify_defaults)
{
    const char *text = "nodes: {count: 8}\n"
                       "model:\n"
                       "  shape: {dim: 16, hidden_dim: 32, layers: 2, heads: 4, vocab: 64,\n"
                       "          seq_len: 32}\n";
    scn_scenario *s = NULL;
    scn_error e;
    /* Absent section: protocol none, yet every default is in the struct. */
    ck_assert_int_eq(test_scn_load(text, NULL, 0, &s, &e), 0);
    test_scn_verify_check_defaults(&s->verification, CONS_PROTOCOL_NONE);
    ck_assert_ptr_null(test_scn_param(s, "verification.protocol"));
    char hex[65];
    memcpy(hex, s->sha256_hex, sizeof(hex));
    scn_destroy(s);
    /* A gossip scenario too. */
    ck_assert_int_eq(test_scn_load(test_scn_full, NULL, 0, &s, &e), 0);
    test_scn_verify_check_defaults(&s->verification, CONS_PROTOCOL_NONE);
    scn_destroy(s);
    /* protocol none written out is the same scenario. */
    const char *none = "verification.protocol=none";
    ck_assert_int_eq(test_scn_load(text, &none, 1, &s, &e), 0);
    ck_assert_str_eq(s->sha256_hex, hex);
    scn_destroy(s);
    const char *on = "verification.protocol=committee";
    ck_assert_int_eq(test_scn_load(text, &on, 1, &s, &e), 0);
    test_scn_verify_check_defaults(&s->verification, CONS_PROTOCOL_COMMITTEE);
    ck_assert_str_eq(test_scn_param(s, "verification.quorum"), "2");
    ck_assert_str_ne(s->sha256_hex, hex);
    scn_destroy(s);
    /* The default quorum follows the committee: a strict majority. */
    const uint32_t sizes[] = {1, 2, 4, 5, 64};
    const uint32_t quorums[] = {1, 2, 3, 3, 33};
    for (size_t i = 0; i < 5; i++) {
        char set[64];
        snprintf(set, sizeof(set), "verification.committee=%u", sizes[i]);
        const char *sets[] = {on, set};
        ck_assert_int_eq(test_scn_load(text, sets, 2, &s, &e), 0);
        ck_assert_uint_eq(s->verification.committee, sizes[i]);
        ck_assert_uint_eq(s->verification.quorum, quorums[i]);
        scn_destroy(s);
    }
}
END_TEST

START_TEST(test_scn_verify_params)
{
    scn_scenario *s = NULL;
    scn_error e;
    ck_assert_int_eq(test_scn_load(test_scn_committee, NULL, 0, &s, &e), 0);
    static const char *const want[][2] = {
        {"verification.protocol", "committee"},
        {"verification.committee", "5"},
        {"verification.quorum", "4"},
        {"verification.retries", "3"},
        {"verification.commit_reveal", "false"},
        {"verification.commit_timeout", "750ms"},
        {"verification.reveal_timeout", "1500ms"},
        {"verification.agreement.rule", "cosine"},
        {"verification.agreement.tau", "0.98"},
        {"verification.final_agreement.rule", "topk"},
        {"verification.final_agreement.top_k", "5"},
        {"verification.reputation.penalty", "0.5"},
        {"verification.reputation.reward", "1.1"},
        {"verification.reputation.min", "0.05"},
        {"verification.reputation.max", "20"},
        {"verification.reputation.initial", "2"},
        {"verification.stake", "3.5"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *value = test_scn_param(s, want[i][0]);
        ck_assert_msg(value != NULL && strcmp(value, want[i][1]) == 0, "%s = %s", want[i][0],
                      value != NULL ? value : "(absent)");
    }
    ck_assert_ptr_null(test_scn_param(s, "verification.agreement.epsilon"));
    ck_assert_ptr_null(test_scn_param(s, "verification.final_agreement.tau"));
    /* Every param fed back through --set reproduces the hash. */
    static char storage[160][160];
    const char *sets[160];
    size_t count = 0;
    for (size_t i = 0; i < s->param_count && count < 160; i++) {
        if (strcmp(s->params[i].value, "never") == 0) {
            continue;
        }
        snprintf(storage[count], sizeof(storage[count]), "%s=%s", s->params[i].key,
                 s->params[i].value);
        sets[count] = storage[count];
        count += 1;
    }
    ck_assert_uint_lt(count, 160);
    char hex[65];
    memcpy(hex, s->sha256_hex, sizeof(hex));
    scn_destroy(s);
    int rc = test_scn_load(test_scn_committee, sets, count, &s, &e);
    ck_assert_msg(rc == 0, "%s", e.message);
    ck_assert_str_eq(s->sha256_hex, hex);
    scn_destroy(s);
    /* Each verification value is covered by the hash. */
    static const char *const changes[] = {
        "verification.quorum=3", "verification.commit_reveal=true",
        "verification.reputation.penalty=0.9", "verification.final_agreement.top_k=2",
        "faults.1.scale=0.5", "verification.stake=1",
    };
    for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
        ck_assert_int_eq(test_scn_load(test_scn_committee, &changes[i], 1, &s, &e), 0);
        ck_assert_msg(strcmp(s->sha256_hex, hex) != 0, "%s left the hash alone", changes[i]);
        scn_destroy(s);
    }
}
END_TEST

/* ---- out of memory ------------------------------------------------------- */

START_TEST(test_scn_oom_every_allocation)
{
    const char *sets[] = {"nodes.count=50", "workload.messages=9", "faults.0.nodes.ids=[1,2]"};
    int succeeded = 0;
    unsigned long n = 1;
    for (; n < 20000 && !succeeded; n++) {
        scn_scenario *s = (scn_scenario *)&s;
        scn_error e;
        util_alloc_fail_after(n);
        int rc = test_scn_load(test_scn_full, sets, 3, &s, &e);
        util_alloc_fail_after(0);
        if (rc == 0) {
            ck_assert_uint_eq(s->nodes.count, 50);
            scn_destroy(s);
            succeeded = 1;
            continue;
        }
        ck_assert_msg(rc == SCN_ENOMEM, "n=%lu: rc %d (%s)", n, rc, e.message);
        ck_assert_ptr_null(s);
    }
    ck_assert_msg(succeeded, "never succeeded within %lu allocations", n);
    ck_assert_uint_gt(n, 50);     /* the loader really allocates through the hook */
}
END_TEST

START_TEST(test_scn_oom_inference)
{
    int succeeded = 0;
    unsigned long n = 1;
    for (; n < 20000 && !succeeded; n++) {
        scn_scenario *s = (scn_scenario *)&s;
        scn_error e;
        util_alloc_fail_after(n);
        int rc = test_scn_load(test_scn_infer, NULL, 0, &s, &e);
        util_alloc_fail_after(0);
        if (rc == 0) {
            ck_assert_str_eq(test_scn_param(s, "workload.times"), "[1s, 1s, 2500ms]");
            scn_destroy(s);
            succeeded = 1;
            continue;
        }
        ck_assert_msg(rc == SCN_ENOMEM, "n=%lu: rc %d (%s)", n, rc, e.message);
        ck_assert_ptr_null(s);
    }
    ck_assert_msg(succeeded, "never succeeded within %lu allocations", n);
    ck_assert_uint_gt(n, 50);
}
END_TEST

Suite *test_scn_suite(void)
{
    Suite *suite = suite_create("scn");
    TCase *load = tcase_create("load");
    tcase_set_timeout(load, 10);
    tcase_add_test(load, test_scn_load_full_fields);
    tcase_add_test(load, test_scn_load_full_faults_expect);
    tcase_add_test(load, test_scn_load_defaults);
    tcase_add_test(load, test_scn_load_merge_list_precedence);
    tcase_add_test(load, test_scn_load_file_io);
    tcase_add_test(load, test_scn_load_alias_budget);
    tcase_add_test(load, test_scn_error_format_forms);
    tcase_add_test(load, test_scn_load_every_metric_accepted);
    tcase_add_test(load, test_scn_error_format_from_file);
    suite_add_tcase(suite, load);
    TCase *units = tcase_create("units");
    tcase_set_timeout(units, 10);
    tcase_add_test(units, test_scn_units_duration_table);
    tcase_add_test(units, test_scn_units_bytes_bitrate_table);
    tcase_add_test(units, test_scn_units_rate_uint_number);
    tcase_add_test(units, test_scn_units_format_round_trip);
    tcase_add_test(units, test_scn_units_expect_conditions);
    tcase_add_test(units, test_scn_expect_over_seeds);
    tcase_add_test(units, test_scn_expect_over_seeds_bad);
    tcase_add_test(units, test_scn_format_values);
    suite_add_tcase(suite, units);
    TCase *override = tcase_create("override");
    tcase_set_timeout(override, 10);
    tcase_add_test(override, test_scn_override_applies);
    tcase_add_test(override, test_scn_override_later_wins_and_null_section);
    tcase_add_test(override, test_scn_override_bad);
    tcase_add_test(override, test_scn_override_value_error_location);
    tcase_add_test(override, test_scn_override_creates_and_appends_list_items);
    suite_add_tcase(suite, override);
    TCase *params = tcase_create("params");
    tcase_set_timeout(params, 10);
    tcase_add_test(params, test_scn_params_sorted_with_defaults);
    tcase_add_test(params, test_scn_params_hash_ignores_seed_and_output);
    tcase_add_test(params, test_scn_params_reparse_through_set);
    suite_add_tcase(suite, params);
    TCase *infer = tcase_create("infer");
    tcase_set_timeout(infer, 10);
    tcase_add_test(infer, test_scn_infer_full_fields);
    tcase_add_test(infer, test_scn_infer_segment_memory);
    tcase_add_test(infer, test_scn_infer_segment_count_even);
    tcase_add_test(infer, test_scn_infer_defaults);
    tcase_add_test(infer, test_scn_infer_params);
    tcase_add_test(infer, test_scn_units_flops);
    tcase_add_test(infer, test_scn_infer_file_source);
    suite_add_tcase(suite, infer);
    TCase *verify = tcase_create("verify");
    tcase_set_timeout(verify, 10);
    tcase_add_test(verify, test_scn_verify_full_fields);
    tcase_add_test(verify, test_scn_verify_faults);
    tcase_add_test(verify, test_scn_verify_agreement_variants);
    tcase_add_test(verify, test_scn_verify_defaults);
    tcase_add_test(verify, test_scn_verify_params);
    suite_add_tcase(suite, verify);

    TCase *keys = tcase_create("keys");
    tcase_set_timeout(keys, 30);
    tcase_add_test(keys, test_scn_keys_params_are_rows);
    tcase_add_test(keys, test_scn_keys_documented);
    tcase_add_loop_test(keys, test_scn_keys_misspelled_message, 0,
                        (int)(sizeof(test_scn_misspelled) / sizeof(test_scn_misspelled[0])));
    suite_add_tcase(suite, keys);

    TCase *sweep = tcase_create("sweep");
    tcase_set_timeout(sweep, 10);
    tcase_add_test(sweep, test_scn_sweep_grid);
    tcase_add_test(sweep, test_scn_sweep_param_parse);
    suite_add_tcase(suite, sweep);

    TCase *bad = tcase_create("bad");
    tcase_set_timeout(bad, 10);
    tcase_add_loop_test(bad, test_scn_bad_file_rejected, 0,
                        (int)(sizeof(test_scn_bad) / sizeof(test_scn_bad[0])));
    suite_add_tcase(suite, bad);
    TCase *oom = tcase_create("oom");
    tcase_set_timeout(oom, 30);
    tcase_add_test(oom, test_scn_oom_every_allocation);
    tcase_add_test(oom, test_scn_oom_inference);
    suite_add_tcase(suite, oom);
    return suite;
}
