/* test_world.c -- the world without its engine (world_host), driven the
 * way the testbed drives it: two hosts stand for two processes, messages
 * and timers are carried by the test. A hosted run finalizes the same
 * outputs as the simulator, a node learns a remote client's request only
 * from messages, and no message a Byzantine insider can build crashes a
 * node or has an effect, under every protocol. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/scn.h"
#include "sim/sim.h"
#include "tests/suites.h"
#include "util/alloc.h"
#include "util/bytes.h"
#include "util/hash.h"
#include "util/prng.h"
#include "world/world.h"

/* ---- the hosted world (world_host), as the testbed drives it ---- */

/* Two hosts stand for two processes (even and odd node ids); messages
 * travel between them through a FIFO of copies, timers fire in time
 * order when nothing else is due. The requests must finalize exactly as
 * in sim_run: same clients, prompts, outcomes and accepted outputs. */
typedef struct hosted_item {
    uint64_t at_ns;                  /* timers */
    uint32_t node;
    uint64_t timer_id;
    node_message message;            /* messages; payload owned */
    uint8_t *payload;
} hosted_item;

typedef struct hosted_world {
    world_host *hosts[2];
    hosted_item *messages;
    size_t message_head, message_count, message_capacity;
    hosted_item *timers;
    size_t timer_count, timer_capacity;
    uint64_t now_ns;
} hosted_world;

/* Frees the messages still in flight, the timers and both hosts. */
static void hosted_free(hosted_world *w)
{
    for (size_t i = w->message_head; i < w->message_count; i++) {
        free(w->messages[i].payload);
    }
    free(w->messages);
    free(w->timers);
    world_host_destroy(w->hosts[0]);
    world_host_destroy(w->hosts[1]);
}

static void hosted_effects(hosted_world *w, uint32_t node_id, const node_outbox *outbox)
{
    for (uint32_t i = 0; i < outbox->count; i++) {
        const node_effect *effect = &outbox->effects[i];
        if (effect->kind == NODE_EFFECT_SEND) {
            if (w->message_count == w->message_capacity) {
                w->message_capacity = w->message_capacity ? w->message_capacity * 2 : 256;
                w->messages = realloc(w->messages, w->message_capacity * sizeof(hosted_item));
                ck_assert_ptr_nonnull(w->messages);
            }
            hosted_item *item = &w->messages[w->message_count++];
            memset(item, 0, sizeof(*item));
            item->message = effect->message;
            if (effect->message.payload != NULL && effect->message.payload_bytes > 0) {
                item->payload = malloc(effect->message.payload_bytes);
                memcpy(item->payload, effect->message.payload, effect->message.payload_bytes);
            }
            item->message.payload = item->payload;
        } else if (effect->kind == NODE_EFFECT_TIMER) {
            if (w->timer_count == w->timer_capacity) {
                w->timer_capacity = w->timer_capacity ? w->timer_capacity * 2 : 256;
                w->timers = realloc(w->timers, w->timer_capacity * sizeof(hosted_item));
                ck_assert_ptr_nonnull(w->timers);
            }
            hosted_item *item = &w->timers[w->timer_count++];
            item->at_ns = effect->at_ns;
            item->node = node_id;
            item->timer_id = effect->timer_id;
        }
    }
}

static void hosted_event(hosted_world *w, uint32_t node_id, const node_event *event)
{
    int rc = 0;
    const node_outbox *outbox = world_host_event(w->hosts[node_id % 2], node_id, w->now_ns, event,
                                               &rc);
    if (rc == 0) {
        hosted_effects(w, node_id, outbox);
    }
}

/* Delivers every queued message; then fires the earliest timer due before
 * 'until_ns'. Returns false when neither was there. */
static bool hosted_step(hosted_world *w, uint64_t until_ns)
{
    if (w->message_head < w->message_count) {
        hosted_item item = w->messages[w->message_head++];
        node_event event = {.kind = NODE_EVENT_MESSAGE, .message = &item.message};
        hosted_event(w, item.message.dest, &event);
        free(item.payload);
        return true;
    }
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < w->timer_count; i++) {
        if (w->timers[i].at_ns < until_ns &&
            (best == SIZE_MAX || w->timers[i].at_ns < w->timers[best].at_ns)) {
            best = i;
        }
    }
    if (best == SIZE_MAX) {
        return false;
    }
    hosted_item timer = w->timers[best];
    w->timers[best] = w->timers[--w->timer_count];
    w->now_ns = timer.at_ns > w->now_ns ? timer.at_ns : w->now_ns;
    node_event event = {.kind = NODE_EVENT_TIMER, .timer_id = timer.timer_id};
    hosted_event(w, timer.node, &event);
    return true;
}

static const char hosted_yaml[] =
    "name: hosted\n"
    "seed: 7\n"
    "duration: 6s\n"
    "nodes:\n"
    "  count: 7\n"
    "  classes: [{name: cpu, fraction: 1.0, memory: 16GiB, flops: 2TFLOPS, kernel: sequential}]\n"
    "model:\n"
    "  shape: {dim: 32, hidden_dim: 64, layers: 2, heads: 4, vocab: 64, seq_len: 32}\n"
    "  segments: 2\n"
    "  replicas: 3\n"
    "verification: {protocol: committee, committee: 3, quorum: 2, agreement: {rule: exact}}\n"
    "workload: {requests: 12, rate: 6/s, arrival: constant, prompt_tokens: [4, 8], generate: 3}\n";

START_TEST(test_world_hosted_matches_run)
{
    scn_scenario *scenario = NULL;
    scn_error error;
    ck_assert_int_eq(util_hash_init(), 0);
    ck_assert_int_eq(scn_load_string("hosted.yaml", hosted_yaml, NULL, 0, &scenario, &error), 0);
    world_result *expected = NULL;
    ck_assert_int_eq(sim_run(scenario, NULL, NULL, &expected), 0);
    hosted_world w;
    memset(&w, 0, sizeof(w));
    for (int h = 0; h < 2; h++) {
        ck_assert_int_eq(world_host_create(scenario, 16, NULL, &w.hosts[h]), 0);
    }
    ck_assert_uint_eq(world_host_request_capacity(w.hosts[0]), 12 + 16);
    world_plan_entry plan[12];
    uint32_t tokens[12 * 8];
    for (int i = 0; i < 12; i++) {
        plan[i].tokens = tokens + i * 8;
    }
    uint64_t count = 0;
    ck_assert_int_eq(world_workload_plan(scenario, plan, 11, &count), WORLD_EINVAL);
    ck_assert_int_eq(world_workload_plan(scenario, plan, 12, &count), 0);
    ck_assert_uint_eq(count, 12);
    node_event start = {.kind = NODE_EVENT_START};
    for (uint32_t node_id = 0; node_id < 7; node_id++) {
        hosted_event(&w, node_id, &start);
    }
    for (uint64_t r = 0; r < count; r++) {
        while (hosted_step(&w, plan[r].at_ns)) {
        }
        w.now_ns = plan[r].at_ns;
        int rc = 0;
        const node_outbox *outbox = world_host_submit(w.hosts[plan[r].client % 2], plan[r].client, r,
                                                    w.now_ns, plan[r].tokens, plan[r].prompt_tokens,
                                                    &rc);
        ck_assert_ptr_nonnull(outbox);
        hosted_effects(&w, plan[r].client, outbox);
    }
    while (hosted_step(&w, scenario->duration_ns)) {
    }
    /* Arguments out of range are refused, not asserted: they come from HTTP. */
    int rc = 0;
    uint32_t bad = 64;
    ck_assert_ptr_null(world_host_submit(w.hosts[0], 0, 12, w.now_ns, &bad, 1, &rc));
    ck_assert_ptr_null(world_host_submit(w.hosts[0], 0, 3, w.now_ns, tokens, 4, &rc)); /* reused */
    ck_assert_ptr_null(world_host_submit(w.hosts[0], 0, 28, w.now_ns, tokens, 4, &rc));
    for (uint64_t r = 0; r < count; r++) {
        const world_request_record *a = &expected->requests[r];
        const world_request_record *b = &world_host_result(w.hosts[plan[r].client % 2])->requests[r];
        ck_assert_uint_eq(a->client, b->client);
        ck_assert_uint_eq(a->prompt_tokens, b->prompt_tokens);
        ck_assert_uint_eq(a->status, NODE_REQUEST_COMPLETED);
        ck_assert_uint_eq(b->status, NODE_REQUEST_COMPLETED);
        ck_assert_uint_eq(a->tokens_out, b->tokens_out);
        ck_assert(b->reference_match);
        ck_assert(a->logits_maxabs == b->logits_maxabs);
    }
    hosted_free(&w);
    world_result_destroy(expected);
    scn_destroy(scenario);
}
END_TEST

/* ---- settled draws (verification.draw_epoch) across two hosts ---- */

/* The other host's finished requests, as the testbed's shared log gives
 * them. */
static bool settled_fetch(void *context, uint64_t request, const world_settle_entry **entries,
                          uint32_t *count)
{
    *entries = world_host_settle_log(context, request, count);
    return *entries != NULL;
}

/* One request's decisions as text: the accepted member of every settled
 * step and every penalty, in the order they were made. */
static void settled_describe(const world_result *result, uint64_t request, char *out,
                             size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint64_t i = 0; i < result->decision_count && used + 32 < size; i++) {
        const world_decision_record *d = &result->decisions[i];
        if (d->request != request) {
            continue;
        }
        if (d->flags & WORLD_DECISION_ACCEPTED) {
            used += (size_t)snprintf(out + used, size - used, "s%u.%u.%u:%u ", d->segment,
                                     d->step, d->round, d->node_id);
        }
        if ((d->flags & WORLD_DECISION_JUDGED) && d->verdict != 0) {
            used += (size_t)snprintf(out + used, size - used, "p%u:%u ", d->node_id, d->verdict);
        }
    }
}

/* Runs calibrate_cartel on two hosts that see each other's settled logs,
 * each request submitted once the settled state its draws read is in;
 * returns how many requests decide differently from sim_run. */
static uint64_t settled_mismatches(const char *draw_epoch)
{
    scn_scenario *scenario = NULL;
    scn_error error;
    ck_assert_int_eq(util_hash_init(), 0);
    const char *overrides[1] = {draw_epoch};
    ck_assert_int_eq(scn_load_file("scenarios/calibrate_cartel.yaml", overrides, 1, &scenario,
                                   &error),
                     0);
    world_result *expected = NULL;
    ck_assert_int_eq(sim_run(scenario, NULL, NULL, &expected), 0);
    hosted_world w;
    memset(&w, 0, sizeof(w));
    for (int h = 0; h < 2; h++) {
        ck_assert_int_eq(world_host_create(scenario, 0, NULL, &w.hosts[h]), 0);
        ck_assert_int_eq(world_host_behaviour(w.hosts[h], 0, false), 0); /* the cartel */
    }
    world_host_settle_source(w.hosts[0], settled_fetch, w.hosts[1]);
    world_host_settle_source(w.hosts[1], settled_fetch, w.hosts[0]);
    world_plan_entry plan[15];
    uint32_t tokens[15 * 8];
    for (int i = 0; i < 15; i++) {
        plan[i].tokens = tokens + i * 8;
    }
    uint64_t count = 0;
    ck_assert_int_eq(world_workload_plan(scenario, plan, 15, &count), 0);
    node_event start = {.kind = NODE_EVENT_START};
    for (uint32_t node_id = 0; node_id < scenario->nodes.count; node_id++) {
        hosted_event(&w, node_id, &start);
    }
    for (uint64_t r = 0; r < count; r++) {
        world_host *client = w.hosts[plan[r].client % 2];
        while (hosted_step(&w, plan[r].at_ns)) {
        }
        while (!world_host_settle_ready(client, r)) {
            ck_assert(hosted_step(&w, scenario->duration_ns)); /* the earlier ones finish */
        }
        w.now_ns = plan[r].at_ns > w.now_ns ? plan[r].at_ns : w.now_ns;
        int rc = 0;
        const node_outbox *outbox = world_host_submit(client, plan[r].client, r, w.now_ns,
                                                      plan[r].tokens, plan[r].prompt_tokens, &rc);
        ck_assert_ptr_nonnull(outbox);
        hosted_effects(&w, plan[r].client, outbox);
    }
    while (hosted_step(&w, scenario->duration_ns)) {
    }
    uint64_t mismatches = 0;
    for (uint64_t r = 0; r < count; r++) {
        char a[1024], b[1024];
        settled_describe(expected, r, a, sizeof(a));
        settled_describe(world_host_result(w.hosts[plan[r].client % 2]), r, b, sizeof(b));
        ck_assert_int_gt(strlen(a), 0);
        mismatches += strcmp(a, b) != 0;
    }
    hosted_free(&w);
    world_result_destroy(expected);
    scn_destroy(scenario);
    return mismatches;
}

/* With draw_epoch the two hosts, each holding only its own clients'
 * verdicts and reading the other's from its log, draw every committee as
 * the simulator does: every request's accepted members and penalties are
 * the same. Without it the hosts draw from the initial reputations and
 * the cartel's captures differ. */
START_TEST(test_world_hosted_settled_draws_match_run)
{
    ck_assert_uint_eq(settled_mismatches("verification.draw_epoch=1"), 0);
    ck_assert_uint_eq(settled_mismatches("verification.draw_epoch=4"), 0);
    ck_assert_uint_gt(settled_mismatches("verification.draw_epoch=0"), 0);
}
END_TEST

/* ---- hostile peers: authenticated messages with any field out of range ----
 * A peer may be an attacker holding a real node's key: every message it
 * sends arrives authenticated. Each real message of a run is preceded by
 * copies of it with one field out of range; every copy must be rejected
 * (counted, no effects) and the run must still finish its requests. Then
 * random headers are thrown at every node: nothing may crash. */

static const char *const hostile_protocols[] = {
    "",
    "verification: {protocol: committee, committee: 3, quorum: 2, agreement: {rule: exact}}\n",
    "verification: {protocol: sampling, committee: 3}\n",
    "verification: {protocol: crossval, verifiers: 2, check_probability: 1}\n",
    "verification: {protocol: optimistic, verifiers: 2}\n",
    "verification: {protocol: tee}\n",
    "verification: {protocol: zk}\n",
    /* A cartel by messages: its leaders' cartel_agree messages get the same
     * treatment, and their agreements broken (hostile_cartel). */
    "verification: {protocol: committee, committee: 3, quorum: 2}\n"
    "faults: [{kind: collude, at: 0s, nodes: {range: 0-6}, coordination: messages,"
    " target_token: 5}]\n",
};

/* hosted_yaml's network under each protocol: one TEE-capable class. */
static void hostile_yaml(char *out, size_t size, int protocol)
{
    snprintf(out, size,
             "name: hostile\n"
             "seed: 7\n"
             "duration: 6s\n"
             "nodes:\n"
             "  count: 7\n"
             "  classes: [{name: cpu, fraction: 1.0, memory: 16GiB, flops: 2TFLOPS, tee: true}]\n"
             "model:\n"
             "  shape: {dim: 32, hidden_dim: 64, layers: 2, heads: 4, vocab: 64, seq_len: 32}\n"
             "  segments: 2\n"
             "  replicas: 3\n"
             "%s"
             "workload: {requests: 4, rate: 6/s, prompt_tokens: [4, 8], generate: 3}\n",
             hostile_protocols[protocol]);
}

typedef struct hostile_run {
    hosted_world w;
    const node_serving *serving;
    uint64_t rejected;               /* copies rejected as expected */
    uint64_t cartel_seen;            /* cartel_agree messages broken (hostile_cartel) */
    uint64_t catch_up_seen;          /* hops after the prefill given too many rows */
    uint8_t scratch[1 << 16];        /* payload of a mutated copy, one byte longer */
} hostile_run;

/* Delivers 'm' (as if from a peer) to its dest; returns node_on_event's
 * rc and how many effects it had. */
static int hostile_deliver(hostile_run *run, const node_message *m, uint32_t dest,
                           uint32_t *effects_out)
{
    int rc = 0;
    node_event event = {.kind = NODE_EVENT_MESSAGE, .message = m};
    const node_outbox *outbox = world_host_event(run->w.hosts[dest % 2], dest, run->w.now_ns,
                                               &event, &rc);
    *effects_out = outbox != NULL ? outbox->count : 0;
    return rc;
}

static void hostile_expect_rejected(hostile_run *run, const node_message *copy, uint32_t dest,
                                    const char *what)
{
    uint32_t effects = 0;
    int rc = hostile_deliver(run, copy, dest, &effects);
    ck_assert_msg(rc == NODE_EMALFORMED, "%s of a %s was accepted", what,
                  node_message_type_name(copy->type));
    ck_assert_uint_eq(effects, 0);
    run->rejected += 1;
}

/* A cartel's agreement with an amplitude that is not a finite bounded
 * number, or a target past the vocabulary, from its own member, or
 * carried by nothing: each is rejected before a colluding member reads it. */
static void hostile_cartel(hostile_run *run, const node_message *m)
{
    static const double amplitudes[] = {NAN, INFINITY, -1.0, 1e31};
    ck_assert_uint_eq(m->payload_bytes, NODE_CARTEL_AGREE_BYTES);
    node_message c = *m;
    c.payload = run->scratch;
    for (size_t i = 0; i < sizeof(amplitudes) / sizeof(amplitudes[0]); i++) {
        memcpy(run->scratch, m->payload, NODE_CARTEL_AGREE_BYTES);
        util_put_f64(run->scratch + 8, amplitudes[i]);
        hostile_expect_rejected(run, &c, m->dest, "a cartel amplitude out of range");
    }
    memcpy(run->scratch, m->payload, NODE_CARTEL_AGREE_BYTES);
    util_put_u32(run->scratch + 16, run->serving->vocab);
    hostile_expect_rejected(run, &c, m->dest, "a cartel target past the vocabulary");
    c = *m;
    c.source = m->dest;
    hostile_expect_rejected(run, &c, m->dest, "a cartel agreement from the member itself");
    c = *m;
    c.payload = NULL;
    hostile_expect_rejected(run, &c, m->dest, "a cartel agreement without its bytes");
    c = *m;
    c.payload_bytes = NODE_CARTEL_AGREE_BYTES - 1u;
    hostile_expect_rejected(run, &c, m->dest, "a short cartel agreement");
    run->cartel_seen += 1;
}

/* One copy of 'm' per field set out of range. */
static void hostile_mutations(hostile_run *run, const node_message *m)
{
    const node_serving *s = run->serving;
    bool infer = m->type >= NODE_MESSAGE_INFER_TOKENS;
    bool rows = infer && m->type != NODE_MESSAGE_INFER_TOKEN && m->type != NODE_MESSAGE_INFER_END;
    node_message c;
#define HOSTILE_FIELD(field, value)                                                            \
    do {                                                                                       \
        c = *m;                                                                                \
        c.field = (value);                                                                     \
        hostile_expect_rejected(run, &c, m->dest, #field " = " #value);                        \
    } while (0)
    HOSTILE_FIELD(segment, 1000);
    HOSTILE_FIELD(segment, (uint16_t)s->segment_count);
    HOSTILE_FIELD(rumor_id, s->request_capacity);
    HOSTILE_FIELD(rumor_id, UINT64_MAX);
    HOSTILE_FIELD(origin, 100000);
    HOSTILE_FIELD(source, 100000);
    HOSTILE_FIELD(dest, m->dest + 1);
    HOSTILE_FIELD(type, 0);
    HOSTILE_FIELD(type, NODE_MESSAGE_TYPE_COUNT);
    HOSTILE_FIELD(type, NODE_MESSAGE_RUMOR);
    HOSTILE_FIELD(type, NODE_MESSAGE_PULL);
    HOSTILE_FIELD(flags, 0x80);
    HOSTILE_FIELD(reserved, 1);
    HOSTILE_FIELD(step, s->generate_tokens + 1u);
    if (rows) {
        HOSTILE_FIELD(count, 0);
        HOSTILE_FIELD(count, (uint16_t)(s->tokens_max + 1u));
        HOSTILE_FIELD(position, s->seq_len);
        HOSTILE_FIELD(position, UINT32_MAX);
    }
    if (m->type == NODE_MESSAGE_INFER_COMMIT) {
        /* A commitment "relayed" by its own signer, or to a member. */
        HOSTILE_FIELD(flags, NODE_MESSAGE_FLAG_RELAYED);
    }
    if (infer && s->verifier != NULL) {
        HOSTILE_FIELD(hops, s->retries + 1u);
        HOSTILE_FIELD(token, s->committee);
        HOSTILE_FIELD(token, UINT32_MAX);
    }
#undef HOSTILE_FIELD
    if (rows && s->verifier != NULL && m->step > 0 && m->count == 1 && m->position > m->step) {
        /* A catch-up hop carries at most one row per step after the
         * prefill (from a later position), its payload sized to match; a
         * vote names one step's row. */
        bool hop = m->type == NODE_MESSAGE_INFER_TOKENS ||
                   m->type == NODE_MESSAGE_INFER_ACTIVATIONS;
        c = *m;
        c.position = m->position - m->step;
        c.count = (uint16_t)(hop ? m->step + 1u : 2u);
        if (hop) {
            for (uint32_t i = 0; i < c.count; i++) {
                memcpy(run->scratch + (size_t)i * m->payload_bytes, m->payload, m->payload_bytes);
            }
            c.payload = run->scratch;
            c.payload_bytes = c.count * m->payload_bytes;
        }
        hostile_expect_rejected(run, &c, m->dest,
                                hop ? "a catch-up of more rows than steps" : "a vote on two rows");
        run->catch_up_seen += hop;
    }
    if (m->type == NODE_MESSAGE_CARTEL_AGREE) {
        hostile_cartel(run, m);
    }
    if (m->payload_bytes + 1u <= sizeof(run->scratch)) {
        c = *m;
        if (m->payload_bytes > 0) {
            memcpy(run->scratch, m->payload, m->payload_bytes);
        }
        c.payload = run->scratch;
        c.payload_bytes = m->payload_bytes + 1u;
        hostile_expect_rejected(run, &c, m->dest, "payload one byte longer");
    }
}

/* The two frames that used to crash a node: a hop for segment 1000, and a
 * gossip rumor carrying a request's id, to every node. */
static void hostile_crash_frames(hostile_run *run, uint32_t node_count)
{
    uint8_t tokens[16] = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0};
    for (uint32_t dest = 0; dest < node_count; dest++) {
        node_message hop = {.type = NODE_MESSAGE_INFER_TOKENS, .source = (dest + 1) % node_count,
                            .dest = dest, .origin = (dest + 1) % node_count, .rumor_id = 0,
                            .segment = 1000, .count = 4, .payload_bytes = 16,
                            .payload = tokens};
        hostile_expect_rejected(run, &hop, dest, "segment 1000");
        node_message rumor = {.type = NODE_MESSAGE_RUMOR, .source = (dest + 1) % node_count,
                              .dest = dest, .origin = (dest + 1) % node_count, .rumor_id = 0};
        hostile_expect_rejected(run, &rumor, dest, "a rumor to an inference node");
    }
}

/* Random headers on random real templates: no crash, whatever happens. */
static void hostile_random(hostile_run *run, const node_message *templates, size_t count,
                           uint32_t node_count, uint64_t seed)
{
    util_prng prng;
    util_prng_init(&prng, seed);
    for (int i = 0; i < 4000 && count > 0; i++) {
        node_message m = templates[util_prng_below(&prng, count)];
        uint8_t bytes[NODE_HEADER_BYTES];
        ck_assert_int_eq(node_message_encode_header(&m, bytes, sizeof(bytes)), NODE_HEADER_BYTES);
        for (int flips = 1 + (int)util_prng_below(&prng, 4); flips > 0; flips--) {
            bytes[util_prng_below(&prng, sizeof(bytes))] = (uint8_t)util_prng_next(&prng);
        }
        node_message decoded;
        if (node_message_decode_header(bytes, sizeof(bytes), &decoded) != 0) {
            continue;
        }
        decoded.source %= node_count;
        decoded.dest %= node_count;
        size_t room = decoded.payload_bytes <= sizeof(run->scratch) ? decoded.payload_bytes : 0;
        for (size_t b = 0; b < room; b++) {
            run->scratch[b] = (uint8_t)util_prng_next(&prng);
        }
        decoded.payload_bytes = (uint32_t)room;
        decoded.payload = room > 0 ? run->scratch : NULL;
        uint32_t effects = 0;
        (void)hostile_deliver(run, &decoded, decoded.dest, &effects);
    }
}

START_TEST(test_world_hostile_messages_rejected)
{
    char yaml[1024];
    hostile_yaml(yaml, sizeof(yaml), _i);
    scn_scenario *scenario = NULL;
    scn_error error;
    ck_assert_int_eq(util_hash_init(), 0);
    int rc = scn_load_string("hostile.yaml", yaml, NULL, 0, &scenario, &error);
    ck_assert_msg(rc == 0, "%u:%u %s", error.line, error.column, error.message);
    hostile_run *run = calloc(1, sizeof(*run));
    ck_assert_ptr_nonnull(run);
    for (int h = 0; h < 2; h++) {
        ck_assert_int_eq(world_host_create(scenario, 4, NULL, &run->w.hosts[h]), 0);
    }
    run->serving = world_host_serving(run->w.hosts[0]);
    for (uint32_t f = 0; f < scenario->fault_count; f++) {
        for (int h = 0; h < 2; h++) {
            ck_assert_int_eq(world_host_behaviour(run->w.hosts[h], f, false), 0);
        }
    }
    uint32_t n = scenario->nodes.count;
    node_event start = {.kind = NODE_EVENT_START};
    for (uint32_t node_id = 0; node_id < n; node_id++) {
        hosted_event(&run->w, node_id, &start);
    }
    hostile_crash_frames(run, n);
    /* A hosted world's node secrets come from the driver, checked. */
    uint8_t secret[32] = {1};
    ck_assert_int_eq(world_host_node_secret(run->w.hosts[0], 0, secret, sizeof(secret)), 0);
    ck_assert_int_eq(world_host_node_secret(run->w.hosts[0], n, secret, sizeof(secret)), WORLD_EINVAL);
    ck_assert_int_eq(world_host_node_secret(run->w.hosts[0], 0, secret, 8), WORLD_EINVAL);
    uint32_t prompt[6] = {3, 1, 4, 1, 5, 9};
    const node_outbox *outbox = world_host_submit(run->w.hosts[0], 0, 0, 0, prompt, 6, &rc);
    ck_assert_ptr_nonnull(outbox);
    hosted_effects(&run->w, 0, outbox);
    node_message templates[256];
    size_t template_count = 0;
    while (run->w.message_head < run->w.message_count || run->w.timer_count > 0) {
        if (run->w.message_head < run->w.message_count) {
            const node_message *next = &run->w.messages[run->w.message_head].message;
            hostile_mutations(run, next);
            if (template_count < 256) {
                templates[template_count++] = *next;
                templates[template_count - 1].payload = NULL;
                templates[template_count - 1].payload_bytes = 0;
            }
        }
        if (!hosted_step(&run->w, UINT64_MAX)) {
            break;
        }
    }
    const world_result *result = world_host_result(run->w.hosts[0]);
    ck_assert_msg(result->requests[0].status == NODE_REQUEST_COMPLETED,
                  "%s: status %u after hostile copies", hostile_protocols[_i],
                  result->requests[0].status);
    uint64_t counted = 0;
    for (uint32_t i = 0; i < n; i++) {
        counted += world_host_result(run->w.hosts[i % 2])->nodes[i].rejected;
    }
    ck_assert_uint_eq(counted, run->rejected);
    ck_assert_uint_gt(run->rejected, 100);
    if (strstr(hostile_protocols[_i], "coordination: messages") != NULL) {
        ck_assert_uint_gt(run->cartel_seen, 0); /* The cartel did talk. */
    }
    if (run->serving->verifier != NULL) {
        ck_assert_uint_gt(run->catch_up_seen, 0);
    }
    hostile_random(run, templates, template_count, n, 17 + (uint64_t)_i);
    hosted_free(&run->w);
    free(run);
    scn_destroy(scenario);
}
END_TEST

/* A member answers only the client its slot's first hop named: END and
 * REVEAL_ASK about that slot from any other node are refused (a node knows
 * a remote client's request only from the messages it received), and a
 * client takes only a SUBMIT whose prompt is in range. */
START_TEST(test_world_member_answers_only_its_client)
{
    scn_scenario *scenario = NULL;
    scn_error error;
    ck_assert_int_eq(util_hash_init(), 0);
    ck_assert_int_eq(scn_load_string("hosted.yaml", hosted_yaml, NULL, 0, &scenario, &error), 0);
    hosted_world w;
    memset(&w, 0, sizeof(w));
    for (int h = 0; h < 2; h++) {
        ck_assert_int_eq(world_host_create(scenario, 0, NULL, &w.hosts[h]), 0);
    }
    node_event start = {.kind = NODE_EVENT_START};
    for (uint32_t node_id = 0; node_id < 7; node_id++) {
        hosted_event(&w, node_id, &start);
    }
    uint32_t prompt[4] = {1, 2, 3, 4};
    int rc = 0;
    const uint32_t client = 2;
    /* The node checks the prompt itself, whatever its driver did. */
    node_event bad = {.kind = NODE_EVENT_SUBMIT, .rumor_id = 0, .tokens = prompt,
                      .token_count = 0};
    world_host_event(w.hosts[0], client, 1, &bad, &rc);
    ck_assert_int_eq(rc, NODE_EMALFORMED);
    uint32_t out_of_vocab[1] = {64};
    bad.tokens = out_of_vocab;
    bad.token_count = 1;
    world_host_event(w.hosts[0], client, 1, &bad, &rc);
    ck_assert_int_eq(rc, NODE_EMALFORMED);
    const node_outbox *outbox = world_host_submit(w.hosts[0], client, 0, 1, prompt, 4, &rc);
    ck_assert_ptr_nonnull(outbox);
    node_event again = {.kind = NODE_EVENT_SUBMIT, .rumor_id = 0, .tokens = prompt,
                        .token_count = 4};
    node_message hop;
    bool found = false;
    for (uint32_t i = 0; i < outbox->count && !found; i++) {
        const node_effect *effect = &outbox->effects[i];
        if (effect->kind == NODE_EFFECT_SEND &&
            effect->message.type == NODE_MESSAGE_INFER_TOKENS && effect->message.dest != client) {
            hop = effect->message;
            found = true;
        }
    }
    ck_assert(found);
    uint8_t payload[16];
    ck_assert_uint_le(hop.payload_bytes, sizeof(payload));
    memcpy(payload, hop.payload, hop.payload_bytes);
    hop.payload = payload;
    world_host_event(w.hosts[0], client, 1, &again, &rc);
    ck_assert_int_eq(rc, NODE_EMALFORMED); /* The id is running. */
    uint32_t member = hop.dest;
    node_event deliver = {.kind = NODE_EVENT_MESSAGE, .message = &hop};
    world_host_event(w.hosts[member % 2], member, 2, &deliver, &rc);
    ck_assert_int_eq(rc, 0);
    uint32_t impostor = 0;
    while (impostor == client || impostor == member) {
        impostor++;
    }
    node_message ask = hop;
    ask.type = NODE_MESSAGE_INFER_REVEAL_ASK;
    ask.payload = NULL;
    ask.payload_bytes = 0;
    ask.source = impostor;
    deliver.message = &ask;
    world_host_event(w.hosts[member % 2], member, 3, &deliver, &rc);
    ck_assert_int_eq(rc, NODE_EMALFORMED);
    node_message end = ask;
    end.type = NODE_MESSAGE_INFER_END;
    deliver.message = &end;
    world_host_event(w.hosts[member % 2], member, 3, &deliver, &rc);
    ck_assert_int_eq(rc, NODE_EMALFORMED);
    end.source = client;
    world_host_event(w.hosts[member % 2], member, 3, &deliver, &rc);
    ck_assert_int_eq(rc, 0);
    world_host_destroy(w.hosts[0]);
    world_host_destroy(w.hosts[1]);
    free(w.messages);
    free(w.timers);
    scn_destroy(scenario);
}
END_TEST

/* A Byzantine fault gives its nodes the behaviour of the same name
 * (world_adversary.c), but for wrong_output (its mode picks one) and sybil
 * (its identities collude): every other kind must name one. */
START_TEST(test_world_byzantine_faults_name_their_behaviour)
{
    for (int kind = 0; kind < SCN_FAULT_KIND_COUNT; kind++) {
        if (!scn_fault_kinds[kind].byzantine || kind == SCN_FAULT_WRONG_OUTPUT ||
            kind == SCN_FAULT_SYBIL) {
            continue;
        }
        node_behaviour behaviour = NODE_BEHAVIOUR_HONEST;
        ck_assert_msg(node_behaviour_parse(scn_fault_kinds[kind].name, &behaviour) == 0,
                      "fault kind %s names no behaviour", scn_fault_kinds[kind].name);
        ck_assert_int_ne(behaviour, NODE_BEHAVIOUR_HONEST);
    }
}
END_TEST

Suite *test_world_suite(void)
{
    Suite *suite = suite_create("world");
    TCase *hosted = tcase_create("hosted");
    tcase_set_timeout(hosted, 120);
    tcase_add_test(hosted, test_world_hosted_matches_run);
    tcase_add_test(hosted, test_world_hosted_settled_draws_match_run);
    tcase_add_test(hosted, test_world_member_answers_only_its_client);
    tcase_add_test(hosted, test_world_byzantine_faults_name_their_behaviour);
    suite_add_tcase(suite, hosted);
    TCase *hostile = tcase_create("hostile");
    tcase_set_timeout(hostile, 120);
    tcase_add_loop_test(hostile, test_world_hostile_messages_rejected, 0,
                        (int)(sizeof(hostile_protocols) / sizeof(hostile_protocols[0])));
    suite_add_tcase(suite, hostile);
    return suite;
}
