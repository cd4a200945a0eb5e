/* test_ledger_gossip.c -- ledger.dissemination: gossip. A gossip run
 * commits and settles every request with the same verdicts as the direct
 * run of the same scenario, pays for it in gossip messages and duplicates;
 * with fanout 1 and lossy links the pulls answer and every finished
 * request settles, and without them the run settles less or later; a
 * validator refuses hostile gossip with no effect, a withholding one
 * forwards nothing; the loader refuses bad keys with their position. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "scenarios/scn.h"
#include "tests/suites.h"
#include "util/assert.h"
#include "world/world.h"

static world_result *gossip_run(const char *const *overrides, size_t count)
{
    world_result *result = test_sim_run_file("scenarios/ledger_gossip.yaml", overrides, count, 1);
    ck_assert_ptr_nonnull(result);
    ck_assert_uint_eq(result->ledger_forks, 0);
    return result;
}

/* Finished requests whose transactions did not all commit. */
static uint64_t gossip_unsettled(const world_result *result, uint64_t *finished_out)
{
    uint64_t unsettled = 0;
    *finished_out = 0;
    for (uint64_t i = 0; i < result->request_count; i++) {
        const world_request_record *r = &result->requests[i];
        if (r->status == NODE_REQUEST_COMPLETED) {
            *finished_out += 1;
            unsettled += r->ledger_txs_sent == 0 || r->ledger_txs_committed < r->ledger_txs_sent;
        }
    }
    return unsettled;
}

/* A decision row as (request, segment, step, round, node, verdict). */
static int gossip_decision_compare(const void *a, const void *b)
{
    const world_decision_record *x = a;
    const world_decision_record *y = b;
    uint64_t kx[6] = {x->request, x->segment, x->step, x->round, x->node_id, x->verdict};
    uint64_t ky[6] = {y->request, y->segment, y->step, y->round, y->node_id, y->verdict};
    for (int i = 0; i < 6; i++) {
        if (kx[i] != ky[i]) {
            return kx[i] < ky[i] ? -1 : 1;
        }
    }
    return 0;
}

static void gossip_expect_same_decisions(world_result *a, world_result *b)
{
    ck_assert_uint_eq(a->decision_count, b->decision_count);
    ck_assert_uint_gt(a->decision_count, 0);
    qsort(a->decisions, a->decision_count, sizeof(*a->decisions), gossip_decision_compare);
    qsort(b->decisions, b->decision_count, sizeof(*b->decisions), gossip_decision_compare);
    for (uint64_t i = 0; i < a->decision_count; i++) {
        ck_assert_msg(gossip_decision_compare(&a->decisions[i], &b->decisions[i]) == 0,
                      "decision %llu differs", (unsigned long long)i);
    }
    for (uint32_t n = 0; n < a->node_count; n++) {
        ck_assert_msg(fabs(a->reputation[n] - b->reputation[n]) < 1e-9, "node %u reputation", n);
        ck_assert_msg(fabs(a->stake[n] - b->stake[n]) < 1e-9, "node %u stake", n);
    }
}

/* Without loss the gossip run and the direct run decide the same verdicts
 * and settle every one of them (the same final reputations and stakes);
 * gossip costs gossip messages, some of them duplicates, and a client
 * sends its transaction to one validator, not f + 1. */
START_TEST(test_ledger_gossip_settles_as_direct)
{
    bool light = getenv("INFERSIM_SANITIZE") != NULL;
    const char *gossip_set[] = {"network.loss=0", "expect={}",
                                light ? "workload.requests=6" : "workload.requests=16"};
    const char *direct_set[] = {gossip_set[0], gossip_set[1], gossip_set[2],
                                "ledger.dissemination=direct"};
    world_result *gossip = gossip_run(gossip_set, UTIL_ARRAY_COUNT(gossip_set));
    world_result *direct = gossip_run(direct_set, UTIL_ARRAY_COUNT(direct_set));
    uint64_t finished = 0;
    ck_assert_uint_eq(gossip_unsettled(gossip, &finished), 0);
    ck_assert_uint_gt(finished, 0);
    ck_assert_uint_eq(gossip_unsettled(direct, &finished), 0);
    ck_assert_uint_gt(gossip->block_count, 5);
    gossip_expect_same_decisions(gossip, direct);
    ck_assert(world_result_metric_value(gossip, SCN_METRIC_LEDGER_GOSSIP_MESSAGES) > 0);
    ck_assert(world_result_metric_value(gossip, SCN_METRIC_LEDGER_GOSSIP_DUPLICATES) > 0);
    ck_assert(isnan(world_result_metric_value(direct, SCN_METRIC_LEDGER_GOSSIP_MESSAGES)));
    ck_assert_uint_eq(direct->types[NODE_MESSAGE_LEDGER_GOSSIP].sent, 0);
    ck_assert_uint_lt(gossip->types[NODE_MESSAGE_LEDGER_TX].sent,
                      direct->types[NODE_MESSAGE_LEDGER_TX].sent);
    /* Messages per block count the gossip too. */
    ck_assert(world_result_metric_value(gossip, SCN_METRIC_LEDGER_MESSAGES_PER_BLOCK) >
              world_result_metric_value(direct, SCN_METRIC_LEDGER_MESSAGES_PER_BLOCK));
    world_result_destroy(gossip);
    world_result_destroy(direct);
}
END_TEST

/* Fanout 1 on links that lose 2 %: the pulls are answered and every
 * finished request settles; without pulls the same run leaves a request
 * unsettled or settles later. */
START_TEST(test_ledger_gossip_pull_recovers)
{
    const char *pull_set[] = {"ledger.fanout=1", "network.loss=0.02", "expect={}",
                              "ledger.pull_interval=200ms"};
    const char *push_set[] = {pull_set[0], pull_set[1], pull_set[2], "ledger.pull_interval=0"};
    world_result *pull = gossip_run(pull_set, UTIL_ARRAY_COUNT(pull_set));
    world_result *push = gossip_run(push_set, UTIL_ARRAY_COUNT(push_set));
    uint64_t finished = 0;
    ck_assert_uint_gt(pull->ledger_pull_answers, 0);
    ck_assert_uint_eq(push->ledger_pull_answers, 0);
    ck_assert_uint_eq(gossip_unsettled(pull, &finished), 0);
    ck_assert_uint_gt(finished, 0);
    double with_pull = world_result_metric_value(pull, SCN_METRIC_SETTLEMENT_LATENCY_P50);
    double without = world_result_metric_value(push, SCN_METRIC_SETTLEMENT_LATENCY_P50);
    uint64_t unsettled = gossip_unsettled(push, &finished);
    ck_assert_msg(unsettled > 0 || without > with_pull,
                  "without pulls: %llu unsettled, p50 %.0f ns; with: p50 %.0f ns",
                  (unsigned long long)unsettled, without, with_pull);
    world_result_destroy(pull);
    world_result_destroy(push);
}
END_TEST

static const char gossip_yaml[] =
    "name: g\n"
    "duration: 2s\n"
    "nodes: {count: 12}\n"
    "model:\n"
    "  shape: {dim: 32, hidden_dim: 64, layers: 2, heads: 2, vocab: 64, seq_len: 32}\n"
    "  segments: 2\n"
    "verification: {protocol: committee, settlement: ledger}\n"
    "ledger: {validators: 4, auth: mac, dissemination: gossip, fanout: 2}\n"
    "workload: {requests: 2, rate: 2/s, prompt_tokens: 4, generate: 2}\n";

/* A host of gossip_yaml (with 'overrides') whose validators started. */
static world_host *gossip_host(const char *const *overrides, size_t count,
                               scn_scenario **scenario_out)
{
    scn_error error;
    int rc = scn_load_string("g.yaml", gossip_yaml, overrides, count, scenario_out, &error);
    ck_assert_msg(rc == 0, "%s", error.message);
    world_host *host = NULL;
    ck_assert_int_eq(world_host_create(*scenario_out, 0, NULL, &host), 0);
    node_event start = {.kind = NODE_EVENT_START};
    for (uint32_t v = 0; v < 4; v++) {
        ck_assert_ptr_nonnull(world_host_event(host, v, 0, &start, &rc));
    }
    return host;
}

/* Delivers 'm'; node_on_event's rc, and the LEDGER_GOSSIP sends. */
static int gossip_deliver(world_host *host, const node_message *m, uint32_t *sends_out)
{
    int rc = 0;
    node_event event = {.kind = NODE_EVENT_MESSAGE, .message = m};
    const node_outbox *outbox = world_host_event(host, m->dest, 1000, &event, &rc);
    *sends_out = 0;
    for (uint32_t i = 0; outbox != NULL && i < outbox->count; i++) {
        const node_effect *e = &outbox->effects[i];
        *sends_out += e->kind == NODE_EFFECT_SEND &&
                      e->message.type == NODE_MESSAGE_LEDGER_GOSSIP;
    }
    if (rc != 0) {
        ck_assert(outbox == NULL || outbox->count == 0);
    }
    return rc;
}

static void gossip_expect_rejected(world_host *host, const node_message *m, const char *what)
{
    uint32_t sends = 0;
    ck_assert_msg(gossip_deliver(host, m, &sends) == NODE_EMALFORMED, "%s accepted", what);
}

/* A gossip payload: kind, then a tagged transaction of client 9. */
static size_t gossip_tx(const node_serving *serving, uint8_t kind, uint8_t *out)
{
    node_ledger_tx tx = {.member_count = 2, .segment = 1, .request = 1, .rows = 4, .client = 9,
                         .submitted_ns = 5, .members = {3, 4},
                         .verdicts = {CONS_VERDICT_AGREED, CONS_VERDICT_AGREED}};
    size_t size = node_ledger_tx_encode(&tx, out + 1);
    tx.tag = serving->verifier->ledger_tag(serving->verifier->context, 9, out + 1,
                                           size - NODE_LEDGER_TX_TAG_BYTES);
    out[0] = kind;
    return 1 + node_ledger_tx_encode(&tx, out + 1);
}

/* Hostile gossip: refused with no effect; the first copy of a good
 * transaction is pushed to fanout validators, the second is a duplicate;
 * an empty pull digest is answered with the transaction. */
START_TEST(test_ledger_gossip_hostile_refused)
{
    scn_scenario *scenario = NULL;
    world_host *host = gossip_host(NULL, 0, &scenario);
    const node_serving *serving = world_host_serving(host);
    uint8_t good[1 + CONS_BFT_TX_BYTES_MAX];
    size_t size = gossip_tx(serving, NODE_LEDGER_GOSSIP_TX, good);
    node_message base = {.type = NODE_MESSAGE_LEDGER_GOSSIP, .source = 1, .dest = 0,
                         .payload_bytes = (uint32_t)size, .payload = good};
    uint8_t bad[1 + CONS_BFT_TX_BYTES_MAX];
    node_message m = base;
    m.payload = bad;
    memcpy(bad, good, size);
    bad[size - 1] ^= 1;
    gossip_expect_rejected(host, &m, "a wrong tag");
    bad[size - 1] ^= 1;
    bad[0] = 9;
    gossip_expect_rejected(host, &m, "an unknown kind");
    bad[0] = NODE_LEDGER_GOSSIP_VOTE;
    gossip_expect_rejected(host, &m, "a transaction as a vote");
    bad[0] = NODE_LEDGER_GOSSIP_PULL;
    bad[1] = NODE_LEDGER_PULL_IDS_MAX + 1;
    gossip_expect_rejected(host, &m, "a pull of too many digests");
    m.payload_bytes = 3;
    bad[1] = 0;
    gossip_expect_rejected(host, &m, "a pull of the wrong size");
    m = base;
    m.source = 7;
    gossip_expect_rejected(host, &m, "gossip from a non-validator");
    m = base;
    m.dest = 6;
    gossip_expect_rejected(host, &m, "gossip to a non-validator");
    m = base;
    m.step = 1;
    gossip_expect_rejected(host, &m, "gossip with a header field");
    m = base;
    m.payload_bytes = 1;
    gossip_expect_rejected(host, &m, "an empty transaction");
    m = base;
    m.payload = bad;
    node_ledger_tx stranger;
    ck_assert_int_eq(node_ledger_tx_decode(good + 1, size - 1, &stranger), 0);
    stranger.client = 12; /* one past the network: no key to check a tag with */
    bad[0] = NODE_LEDGER_GOSSIP_TX;
    ck_assert_uint_eq(1 + node_ledger_tx_encode(&stranger, bad + 1), size);
    gossip_expect_rejected(host, &m, "a transaction of a client outside the network");
    /* A vote shaped right whose signature is garbage, at its collector. */
    uint8_t vote[1 + 13 + 8 + 32 + 64];
    memset(vote, 0x11, sizeof(vote));
    vote[0] = NODE_LEDGER_GOSSIP_VOTE;
    vote[1] = 2;                              /* the BFT vote type */
    memset(vote + 2, 0, 12);
    vote[2] = 1;                              /* voter 1 */
    vote[6] = 3;                              /* view 3: the collector is 4 mod 4 = 0 */
    m = base;
    m.payload = vote;
    m.payload_bytes = sizeof(vote);
    gossip_expect_rejected(host, &m, "a badly signed vote at its collector");
    m.source = 2;
    m.dest = 3;
    gossip_expect_rejected(host, &m, "a badly signed vote at a relay");
    gossip_expect_rejected(host, &m, "the same forged vote again (not remembered)");
    /* Random bytes of every kind: refused, or taken with effects. */
    uint8_t noise[200];
    for (uint32_t i = 0; i < 400; i++) {
        for (size_t j = 0; j < sizeof(noise); j++) {
            noise[j] = (uint8_t)(util_mix64(i * 1000u + j) >> 7);
        }
        noise[0] = (uint8_t)(1 + i % 5);
        m = base;
        m.payload = noise;
        m.payload_bytes = 2 + i % (sizeof(noise) - 2);
        uint32_t sends = 0;
        int rc = gossip_deliver(host, &m, &sends);
        ck_assert(rc == 0 || rc == NODE_EMALFORMED);
    }
    uint32_t sends = 0;
    ck_assert_int_eq(gossip_deliver(host, &base, &sends), 0);
    ck_assert_uint_eq(sends, 2);              /* fanout */
    ck_assert_int_eq(gossip_deliver(host, &base, &sends), 0);
    ck_assert_uint_eq(sends, 0);              /* a duplicate */
    ck_assert_uint_ge(world_host_result(host)->ledger_gossip_duplicates, 1);
    uint8_t pull[2] = {NODE_LEDGER_GOSSIP_PULL, 0};
    m = base;
    m.payload = pull;
    m.payload_bytes = sizeof(pull);
    ck_assert_int_eq(gossip_deliver(host, &m, &sends), 0);
    ck_assert_uint_eq(sends, 1);              /* the pending transaction */
    ck_assert_uint_eq(world_host_result(host)->ledger_pull_answers, 1);
    world_host_destroy(host);
    scn_destroy(scenario);
}
END_TEST

/* A withholding validator takes a transaction but forwards nothing and
 * answers no pull. */
START_TEST(test_ledger_gossip_withhold_silent)
{
    const char *const set[] = {"ledger.byzantine=1", "ledger.behaviour=withhold"};
    scn_scenario *scenario = NULL;
    world_host *host = gossip_host(set, UTIL_ARRAY_COUNT(set), &scenario);
    uint8_t good[1 + CONS_BFT_TX_BYTES_MAX];
    size_t size = gossip_tx(world_host_serving(host), NODE_LEDGER_GOSSIP_TX, good);
    node_message m = {.type = NODE_MESSAGE_LEDGER_GOSSIP, .source = 1, .dest = 3,
                      .payload_bytes = (uint32_t)size, .payload = good};
    uint32_t sends = 0;
    ck_assert_int_eq(gossip_deliver(host, &m, &sends), 0);
    ck_assert_uint_eq(sends, 0);
    uint8_t pull[2] = {NODE_LEDGER_GOSSIP_PULL, 0};
    m.payload = pull;
    m.payload_bytes = sizeof(pull);
    ck_assert_int_eq(gossip_deliver(host, &m, &sends), 0);
    ck_assert_uint_eq(sends, 0);
    m.payload = good;
    m.payload_bytes = (uint32_t)size;
    m.dest = 2; /* an honest one forwards it */
    ck_assert_int_eq(gossip_deliver(host, &m, &sends), 0);
    ck_assert_uint_eq(sends, 2);
    world_host_destroy(host);
    scn_destroy(scenario);
}
END_TEST

/* Bad keys: refused with the key's position; gossip messages are refused
 * by a validator of a direct run. */
START_TEST(test_ledger_gossip_scenario_errors)
{
    static const struct {
        const char *ledger;
        const char *message;
    } cases[] = {
        {"{validators: 4, dissemination: flood}", "ledger.dissemination"},
        {"{validators: 4, dissemination: gossip, fanout: 0}", "ledger.fanout"},
        {"{validators: 4, dissemination: gossip, fanout: 4}", "must be below ledger.validators"},
        {"{validators: 4, dissemination: gossip, pull_interval: soon}", "ledger.pull_interval"},
        {"{validators: 1, dissemination: gossip, fanout: 1}", "validators >= 2"},
        {"{validators: 4, dissemination: gossip, byzantine: 1, behaviour: twin}", "twin"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_COUNT(cases); i++) {
        char yaml[1024];
        snprintf(yaml, sizeof(yaml),
                 "name: g\nnodes: {count: 12}\n"
                 "model:\n"
                 "  shape: {dim: 32, hidden_dim: 64, layers: 2, heads: 2, vocab: 64, seq_len: 32}\n"
                 "  segments: 2\n"
                 "verification: {protocol: committee, settlement: ledger}\n"
                 "ledger: %s\n"
                 "workload: {requests: 2, rate: 2/s, prompt_tokens: 4, generate: 2}\n",
                 cases[i].ledger);
        scn_scenario *scenario = NULL;
        scn_error error;
        ck_assert_msg(scn_load_string("g.yaml", yaml, NULL, 0, &scenario, &error) != 0,
                      "case %zu loaded", i);
        ck_assert_msg(strstr(error.message, cases[i].message) != NULL, "case %zu: %s", i,
                      error.message);
        ck_assert_msg(error.line == 7 && error.column > 8, "case %zu at %u:%u", i, error.line,
                      error.column);
    }
    const char *const direct[] = {"ledger.dissemination=direct"};
    scn_scenario *scenario = NULL;
    world_host *host = gossip_host(direct, 1, &scenario);
    uint8_t good[1 + CONS_BFT_TX_BYTES_MAX];
    size_t size = gossip_tx(world_host_serving(host), NODE_LEDGER_GOSSIP_TX, good);
    node_message m = {.type = NODE_MESSAGE_LEDGER_GOSSIP, .source = 1, .dest = 0,
                      .payload_bytes = (uint32_t)size, .payload = good};
    gossip_expect_rejected(host, &m, "gossip under direct dissemination");
    world_host_destroy(host);
    scn_destroy(scenario);
}
END_TEST

Suite *test_ledger_gossip_suite(void)
{
    Suite *suite = suite_create("ledger_gossip");
    TCase *runs = tcase_create("runs");
    tcase_add_test(runs, test_ledger_gossip_settles_as_direct);
    tcase_add_test(runs, test_ledger_gossip_pull_recovers);
    tcase_set_timeout(runs, 60);
    suite_add_tcase(suite, runs);
    TCase *input = tcase_create("input");
    tcase_add_test(input, test_ledger_gossip_hostile_refused);
    tcase_add_test(input, test_ledger_gossip_withhold_silent);
    tcase_add_test(input, test_ledger_gossip_scenario_errors);
    tcase_set_timeout(input, 30);
    suite_add_tcase(suite, input);
    return suite;
}
