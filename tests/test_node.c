/* test_node.c -- the gossip node (node/node.c): the wire header codec
 * (round trip, every rejection, a random-bytes fuzz loop), and the state
 * machine driven by a tiny in-test driver: a FIFO of messages delivered
 * instantly (each one through encode/decode), timers run in (time, sequence)
 * order. Checks coverage of push and push-pull gossip, at-most-once output,
 * validation without effects, determinism, peer choice and stale timers. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "node/node.h"
#include "node/node_int.h"
#include "tests/suites.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/prng.h"

/* ------------------------------------------------------------------------ */
/* Helpers.                                                                 */

static node_message test_message_random(util_prng *prng)
{
    node_message message;
    memset(&message, 0, sizeof(message));
    message.type = (uint8_t)(1 + util_prng_below(prng, NODE_MESSAGE_TYPE_COUNT - 1));
    message.flags = (uint8_t)util_prng_next(prng);
    message.reserved = (uint16_t)util_prng_below(prng, 256);
    message.source = (uint32_t)util_prng_next(prng);
    message.dest = (uint32_t)util_prng_next(prng);
    message.origin = (uint32_t)util_prng_next(prng);
    message.rumor_id = util_prng_next(prng);
    message.origin_ns = util_prng_next(prng);
    message.bitmap = util_prng_next(prng);
    message.payload_bytes = (uint32_t)util_prng_below(prng, (uint64_t)NODE_PAYLOAD_MAX + 1);
    message.hops = (uint32_t)util_prng_next(prng);
    return message;
}

static void test_message_assert_equal(const node_message *a, const node_message *b)
{
    ck_assert_uint_eq(a->type, b->type);
    ck_assert_uint_eq(a->flags, b->flags);
    ck_assert_uint_eq(a->reserved, b->reserved);
    ck_assert_uint_eq(a->source, b->source);
    ck_assert_uint_eq(a->dest, b->dest);
    ck_assert_uint_eq(a->origin, b->origin);
    ck_assert_uint_eq(a->rumor_id, b->rumor_id);
    ck_assert_uint_eq(a->origin_ns, b->origin_ns);
    ck_assert_uint_eq(a->bitmap, b->bitmap);
    ck_assert_uint_eq(a->payload_bytes, b->payload_bytes);
    ck_assert_uint_eq(a->hops, b->hops);
}

static node_config test_config(uint32_t node_id, uint32_t node_count, node_gossip_mode mode,
                               uint32_t fanout, uint64_t rumor_capacity)
{
    node_config config;
    memset(&config, 0, sizeof(config));
    config.node_id = node_id;
    config.node_count = node_count;
    config.mode = mode;
    config.fanout = fanout;
    config.pull_interval_ns = 1000000;
    config.pull_max = 16;
    config.rumor_capacity = rumor_capacity;
    config.rumor_payload_bytes = 512;
    return config;
}

/* One stand-alone node with its own storage, for unit-level tests. */
typedef struct test_single {
    node self;
    uint64_t seen[4];
    uint64_t origin_ns[256];
    node_outbox outbox;
} test_single;

static void test_single_init(test_single *single, const node_config *config, uint64_t seed)
{
    ck_assert_uint_le(config->rumor_capacity, 256);
    memset(single, 0, sizeof(*single));
    util_prng prng;
    util_prng_init_stream(&prng, seed, config->node_id, UTIL_PRNG_PURPOSE_NODE);
    node_init(&single->self, config, &prng, single->seen, single->origin_ns);
}

static int test_single_event(test_single *single, uint64_t now_ns, const node_event *event)
{
    single->outbox.count = 0;
    return node_on_event(&single->self, now_ns, event, &single->outbox);
}

static int test_single_receive(test_single *single, uint64_t now_ns, const node_message *message)
{
    node_event event;
    memset(&event, 0, sizeof(event));
    event.kind = NODE_EVENT_MESSAGE;
    event.message = message;
    return test_single_event(single, now_ns, &event);
}

static node_message test_rumor(uint32_t source, uint32_t dest, uint64_t rumor_id)
{
    node_message message;
    memset(&message, 0, sizeof(message));
    message.type = NODE_MESSAGE_RUMOR;
    message.source = source;
    message.dest = dest;
    message.origin = source;
    message.rumor_id = rumor_id;
    message.origin_ns = 77 + rumor_id;
    message.payload_bytes = 100;
    message.hops = 3;
    return message;
}

/* ------------------------------------------------------------------------ */
/* The in-test driver.                                                      */

#define TEST_FIFO_MAX (1u << 16)
#define TEST_TIMERS_MAX 4096

typedef struct test_timer {
    uint64_t at_ns;
    uint64_t seq;
    uint64_t timer_id;
    uint32_t node_id;
} test_timer;

typedef struct test_world {
    uint32_t node_count;
    uint64_t rumor_capacity;
    node *nodes;
    uint64_t *seen;
    uint64_t *origin_ns;
    uint32_t *outputs;               /* node_count x rumor_capacity output counts */
    node_message *fifo;
    uint32_t fifo_head;
    uint32_t fifo_count;
    test_timer timers[TEST_TIMERS_MAX];
    uint32_t timer_count;
    uint64_t timer_seq;
    uint64_t now_ns;
    uint64_t duplicates;
    uint64_t pull_served;
    uint64_t sends;
    uint64_t trace_hash;
    node_outbox outbox;
} test_world;

static void test_world_hash(test_world *world, uint64_t value)
{
    world->trace_hash = util_mix64(world->trace_hash ^ value);
}

static test_world *test_world_create(uint32_t node_count, node_gossip_mode mode, uint32_t fanout,
                                     uint64_t rumor_capacity, uint64_t seed)
{
    test_world *world = util_calloc(1, sizeof(*world));
    ck_assert_ptr_nonnull(world);
    size_t words = node_seen_words(rumor_capacity);
    world->node_count = node_count;
    world->rumor_capacity = rumor_capacity;
    world->nodes = util_calloc(node_count, sizeof(node));
    world->seen = util_calloc((size_t)node_count * words, sizeof(uint64_t));
    world->origin_ns = util_calloc((size_t)node_count * rumor_capacity, sizeof(uint64_t));
    world->outputs = util_calloc((size_t)node_count * rumor_capacity, sizeof(uint32_t));
    world->fifo = util_calloc(TEST_FIFO_MAX, sizeof(node_message));
    ck_assert_ptr_nonnull(world->nodes);
    ck_assert_ptr_nonnull(world->seen);
    ck_assert_ptr_nonnull(world->origin_ns);
    ck_assert_ptr_nonnull(world->outputs);
    ck_assert_ptr_nonnull(world->fifo);
    for (uint32_t i = 0; i < node_count; i++) {
        node_config config = test_config(i, node_count, mode, fanout, rumor_capacity);
        util_prng prng;
        util_prng_init_stream(&prng, seed, i, UTIL_PRNG_PURPOSE_NODE);
        node_init(&world->nodes[i], &config, &prng, world->seen + (size_t)i * words,
                  world->origin_ns + (size_t)i * rumor_capacity);
    }
    return world;
}

static void test_world_destroy(test_world *world)
{
    util_free(world->nodes);
    util_free(world->seen);
    util_free(world->origin_ns);
    util_free(world->outputs);
    util_free(world->fifo);
    util_free(world);
}

/* Applies the outbox of node 'node_id'; every send crosses the wire codec. */
static void test_world_apply(test_world *world, uint32_t node_id)
{
    for (uint32_t k = 0; k < world->outbox.count; k++) {
        const node_effect *effect = &world->outbox.effects[k];
        test_world_hash(world, ((uint64_t)node_id << 8) | (uint64_t)effect->kind);
        switch (effect->kind) {
        case NODE_EFFECT_SEND: {
            ck_assert_uint_eq(effect->message.source, node_id);
            ck_assert_uint_ne(effect->message.dest, node_id);
            ck_assert_uint_lt(effect->message.dest, world->node_count);
            ck_assert_uint_lt(world->fifo_count, TEST_FIFO_MAX);
            uint8_t wire[NODE_HEADER_BYTES];
            ck_assert_int_eq(node_message_encode_header(&effect->message, wire, sizeof(wire)),
                             NODE_HEADER_BYTES);
            uint32_t slot = (world->fifo_head + world->fifo_count) % TEST_FIFO_MAX;
            ck_assert_int_eq(node_message_decode_header(wire, sizeof(wire), &world->fifo[slot]),
                             0);
            world->fifo_count += 1;
            world->sends += 1;
            test_world_hash(world, ((uint64_t)effect->message.dest << 32) ^
                                       effect->message.rumor_id ^ effect->message.bitmap);
            break;
        }
        case NODE_EFFECT_TIMER:
            ck_assert_uint_lt(world->timer_count, TEST_TIMERS_MAX);
            ck_assert_uint_ge(effect->at_ns, world->now_ns);
            world->timers[world->timer_count++] =
                (test_timer){ effect->at_ns, world->timer_seq++, effect->timer_id, node_id };
            test_world_hash(world, effect->at_ns ^ (effect->timer_id << 40));
            break;
        case NODE_EFFECT_OUTPUT:
            ck_assert_uint_lt(effect->rumor_id, world->rumor_capacity);
            world->outputs[(size_t)node_id * world->rumor_capacity + effect->rumor_id] += 1;
            test_world_hash(world, effect->rumor_id ^ (effect->origin_ns << 20));
            break;
        case NODE_EFFECT_OBSERVE:
            if (effect->observation == NODE_OBS_DUPLICATE) {
                world->duplicates += effect->value;
            } else {
                ck_assert_uint_eq(effect->observation, NODE_OBS_PULL_SERVED);
                world->pull_served += effect->value;
            }
            test_world_hash(world, effect->value ^ ((uint64_t)effect->observation << 50));
            break;
        default:
            ck_abort_msg("unknown effect kind %d", (int)effect->kind);
        }
    }
}

static void test_world_event(test_world *world, uint32_t node_id, const node_event *event)
{
    world->outbox.count = 0;
    int rc = node_on_event(&world->nodes[node_id], world->now_ns, event, &world->outbox);
    ck_assert_int_eq(rc, 0);
    test_world_apply(world, node_id);
}

static void test_world_drain(test_world *world)
{
    while (world->fifo_count > 0) {
        node_message message = world->fifo[world->fifo_head];
        world->fifo_head = (world->fifo_head + 1) % TEST_FIFO_MAX;
        world->fifo_count -= 1;
        node_event event = { .kind = NODE_EVENT_MESSAGE, .message = &message };
        test_world_event(world, message.dest, &event);
    }
}

static void test_world_start(test_world *world)
{
    for (uint32_t i = 0; i < world->node_count; i++) {
        node_event event = { .kind = NODE_EVENT_START };
        test_world_event(world, i, &event);
    }
}

static void test_world_publish(test_world *world, uint32_t origin, uint64_t rumor_id)
{
    node_event event = { .kind = NODE_EVENT_PUBLISH, .rumor_id = rumor_id, .payload_bytes = 256 };
    test_world_event(world, origin, &event);
    test_world_drain(world);
}

/* Runs the earliest timer (ties by sequence). Returns false if none left. */
static bool test_world_step_timer(test_world *world)
{
    if (world->timer_count == 0) {
        return false;
    }
    uint32_t best = 0;
    for (uint32_t k = 1; k < world->timer_count; k++) {
        const test_timer *a = &world->timers[k];
        const test_timer *b = &world->timers[best];
        if (a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->seq < b->seq)) {
            best = k;
        }
    }
    test_timer timer = world->timers[best];
    world->timers[best] = world->timers[world->timer_count - 1];
    world->timer_count -= 1;
    world->now_ns = timer.at_ns;
    node_event event = { .kind = NODE_EVENT_TIMER, .timer_id = timer.timer_id };
    test_world_event(world, timer.node_id, &event);
    test_world_drain(world);
    return true;
}

static uint32_t test_world_holders(const test_world *world, uint64_t rumor_id)
{
    uint32_t holders = 0;
    for (uint32_t i = 0; i < world->node_count; i++) {
        uint32_t outputs = world->outputs[(size_t)i * world->rumor_capacity + rumor_id];
        ck_assert_uint_le(outputs, 1);
        ck_assert_uint_eq(outputs, node_holds(&world->nodes[i], rumor_id) ? 1 : 0);
        holders += outputs;
    }
    return holders;
}

/* ------------------------------------------------------------------------ */
/* Codec.                                                                   */

START_TEST(test_node_codec_round_trip)
{
    util_prng prng;
    util_prng_init(&prng, 0xc0dec);
    for (int i = 0; i < 10000; i++) {
        node_message message = test_message_random(&prng);
        uint8_t wire[NODE_HEADER_BYTES + 5];
        ck_assert_int_eq(node_message_encode_header(&message, wire, sizeof(wire)),
                         NODE_HEADER_BYTES);
        node_message decoded;
        ck_assert_int_eq(node_message_decode_header(wire, sizeof(wire), &decoded), 0);
        test_message_assert_equal(&message, &decoded);
    }
}
END_TEST

START_TEST(test_node_codec_encode_layout_little_endian)
{
    node_message message;
    memset(&message, 0, sizeof(message));
    message.type = NODE_MESSAGE_PULL;
    message.flags = 0x5a;
    message.reserved = 0x11;
    message.source = 0x04030201u;
    message.rumor_id = 0x0807060504030201ull;
    message.hops = 0xa1b2c3d4u;
    uint8_t wire[NODE_HEADER_BYTES];
    ck_assert_int_eq(node_message_encode_header(&message, wire, sizeof(wire)), NODE_HEADER_BYTES);
    ck_assert_uint_eq(wire[0], NODE_WIRE_VERSION);
    ck_assert_uint_eq(wire[1], NODE_MESSAGE_PULL);
    ck_assert_uint_eq(wire[2], 0x5a);
    ck_assert_uint_eq(wire[3], 0x11);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(wire[4 + i], (unsigned)(i + 1));
    }
    for (int i = 0; i < 8; i++) {
        ck_assert_uint_eq(wire[16 + i], (unsigned)(i + 1));
    }
    ck_assert_uint_eq(wire[44], 0xd4);
    ck_assert_uint_eq(wire[47], 0xa1);
    ck_assert_int_eq(node_message_encode_header(&message, wire, NODE_HEADER_BYTES - 1),
                     NODE_ETOOBIG);
    message.payload_bytes = NODE_PAYLOAD_MAX + 1;
    ck_assert_int_eq(node_message_encode_header(&message, wire, sizeof(wire)), NODE_ETOOBIG);
}
END_TEST

START_TEST(test_node_codec_decode_rejects_bad_headers)
{
    node_message message = test_rumor(1, 2, 3);
    uint8_t wire[NODE_HEADER_BYTES];
    ck_assert_int_eq(node_message_encode_header(&message, wire, sizeof(wire)), NODE_HEADER_BYTES);
    node_message out;
    for (size_t size = 0; size < NODE_HEADER_BYTES; size++) {
        ck_assert_int_eq(node_message_decode_header(wire, size, &out), NODE_EMALFORMED);
    }
    ck_assert_int_eq(node_message_decode_header(NULL, 0, &out), NODE_EMALFORMED);
    ck_assert_int_eq(node_message_decode_header(wire, sizeof(wire), &out), 0);

    uint8_t bad[NODE_HEADER_BYTES];
    memcpy(bad, wire, sizeof(bad));
    bad[0] = NODE_WIRE_VERSION + 1;
    ck_assert_int_eq(node_message_decode_header(bad, sizeof(bad), &out), NODE_EMALFORMED);
    memcpy(bad, wire, sizeof(bad));
    bad[1] = 0;
    ck_assert_int_eq(node_message_decode_header(bad, sizeof(bad), &out), NODE_EMALFORMED);
    bad[1] = NODE_MESSAGE_TYPE_COUNT;
    ck_assert_int_eq(node_message_decode_header(bad, sizeof(bad), &out), NODE_EMALFORMED);
    bad[1] = 0xff;
    ck_assert_int_eq(node_message_decode_header(bad, sizeof(bad), &out), NODE_EMALFORMED);

    /* Payload: exactly the limit is fine, one more is not. */
    message.payload_bytes = NODE_PAYLOAD_MAX;
    ck_assert_int_eq(node_message_encode_header(&message, bad, sizeof(bad)), NODE_HEADER_BYTES);
    ck_assert_int_eq(node_message_decode_header(bad, sizeof(bad), &out), 0);
    uint32_t over = NODE_PAYLOAD_MAX + 1;
    for (int i = 0; i < 4; i++) {
        bad[40 + i] = (uint8_t)(over >> (8 * i));
    }
    ck_assert_int_eq(node_message_decode_header(bad, sizeof(bad), &out), NODE_EMALFORMED);
    memset(bad + 40, 0xff, 4);
    ck_assert_int_eq(node_message_decode_header(bad, sizeof(bad), &out), NODE_EMALFORMED);
}
END_TEST

/* Random bytes: decode never crashes, returns 0 or NODE_EMALFORMED, and
 * whatever it accepts re-encodes to exactly the same NODE_HEADER_BYTES. */
START_TEST(test_node_codec_fuzz_random_bytes)
{
    util_prng prng;
    util_prng_init(&prng, 0xf022);
    uint64_t accepted = 0;
    for (int i = 0; i < 100000; i++) {
        uint8_t bytes[NODE_HEADER_BYTES + 32];
        for (size_t k = 0; k < sizeof(bytes); k++) {
            bytes[k] = (uint8_t)util_prng_next(&prng);
        }
        /* Bias towards plausible headers so that acceptance is exercised. */
        if (util_prng_chance(&prng, 0.5)) {
            bytes[0] = NODE_WIRE_VERSION;
            bytes[1] = (uint8_t)util_prng_below(&prng, NODE_MESSAGE_TYPE_COUNT + 1);
            bytes[43] = (uint8_t)util_prng_below(&prng, 6);
        }
        size_t size = NODE_HEADER_BYTES - 8 + (size_t)util_prng_below(&prng, 41);
        node_message out;
        int rc = node_message_decode_header(bytes, size, &out);
        ck_assert(rc == 0 || rc == NODE_EMALFORMED);
        if (rc == 0) {
            accepted += 1;
            uint8_t again[NODE_HEADER_BYTES];
            ck_assert_int_eq(node_message_encode_header(&out, again, sizeof(again)),
                             NODE_HEADER_BYTES);
            ck_assert_mem_eq(again, bytes, NODE_HEADER_BYTES);
        }
    }
    ck_assert_uint_gt(accepted, 1000);
}
END_TEST

START_TEST(test_node_names_known_and_unknown)
{
    ck_assert_str_eq(node_message_type_name(NODE_MESSAGE_RUMOR), "rumor");
    ck_assert_str_eq(node_message_type_name(NODE_MESSAGE_PULL), "pull");
    ck_assert_str_eq(node_message_type_name(0), "unknown");
    ck_assert_str_eq(node_message_type_name(NODE_MESSAGE_TYPE_COUNT), "unknown");
    ck_assert_str_ne(node_strerror(NODE_EMALFORMED), node_strerror(NODE_ETOOBIG));
    ck_assert_ptr_nonnull(node_strerror(-12345));
    ck_assert_ptr_nonnull(node_strerror(0));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Gossip.                                                                  */

START_TEST(test_node_gossip_push_reaches_most_nodes)
{
    test_world *world = test_world_create(200, NODE_GOSSIP_PUSH, 4, 4, 11);
    test_world_start(world);
    ck_assert_uint_eq(world->timer_count, 0);     /* push mode arms no timer */
    test_world_publish(world, 17, 0);
    test_world_publish(world, 123, 1);
    uint32_t holders0 = test_world_holders(world, 0);
    uint32_t holders1 = test_world_holders(world, 1);
    ck_assert_uint_gt(holders0, 190);
    ck_assert_uint_gt(holders1, 190);
    ck_assert_uint_eq(test_world_holders(world, 2), 0);
    ck_assert_uint_gt(world->duplicates, 0);
    /* Infect-and-die: each holder sends exactly 'fanout' copies. */
    ck_assert_uint_eq(world->sends, 4ull * (holders0 + holders1));
    ck_assert_uint_eq(world->duplicates + holders0 + holders1 - 2, world->sends);
    test_world_destroy(world);
}
END_TEST

START_TEST(test_node_gossip_pushpull_completes_where_push_stalls)
{
    test_world *push = test_world_create(200, NODE_GOSSIP_PUSH, 1, 70, 5);
    test_world_start(push);
    test_world_publish(push, 0, 0);
    uint32_t push_holders = test_world_holders(push, 0);
    ck_assert_uint_lt(push_holders, 100);
    test_world_destroy(push);

    test_world *world = test_world_create(200, NODE_GOSSIP_PUSHPULL, 1, 70, 5);
    test_world_start(world);
    ck_assert_uint_eq(world->timer_count, 200);
    /* Ids that leave gaps, and one beyond the 64-id digest window. */
    uint64_t ids[] = { 0, 3, 4, 40, 66, 69 };
    for (size_t k = 0; k < UTIL_ARRAY_COUNT(ids); k++) {
        world->now_ns = k + 1;
        test_world_publish(world, (uint32_t)(k * 31), ids[k]);
    }
    bool complete = false;
    for (int step = 0; step < 200 * 100 && !complete; step++) {
        ck_assert(test_world_step_timer(world));
        complete = true;
        for (size_t k = 0; k < UTIL_ARRAY_COUNT(ids) && complete; k++) {
            complete = test_world_holders(world, ids[k]) == 200;
        }
    }
    ck_assert(complete);
    ck_assert_uint_gt(world->pull_served, 0);
    ck_assert_uint_eq(test_world_holders(world, 1), 0);
    for (uint32_t i = 0; i < 200; i++) {
        /* Origin times travel with pull replies too. */
        for (size_t k = 0; k < UTIL_ARRAY_COUNT(ids); k++) {
            ck_assert_uint_eq(world->origin_ns[(size_t)i * 70 + ids[k]], k + 1);
        }
        ck_assert_uint_eq(world->nodes[i].first_missing, 1);
        ck_assert_uint_eq(world->nodes[i].held_count, UTIL_ARRAY_COUNT(ids));
        ck_assert_uint_eq(world->nodes[i].highest_held_plus_one, 70);
    }
    test_world_destroy(world);
}
END_TEST

static uint64_t test_world_run_hash(uint64_t seed)
{
    test_world *world = test_world_create(60, NODE_GOSSIP_PUSHPULL, 2, 16, seed);
    test_world_start(world);
    test_world_publish(world, 3, 0);
    test_world_publish(world, 9, 5);
    for (int step = 0; step < 600; step++) {
        ck_assert(test_world_step_timer(world));
    }
    uint64_t hash = world->trace_hash;
    test_world_destroy(world);
    return hash;
}

START_TEST(test_node_gossip_same_seed_same_effects)
{
    uint64_t first = test_world_run_hash(42);
    uint64_t second = test_world_run_hash(42);
    uint64_t other = test_world_run_hash(43);
    ck_assert_uint_eq(first, second);
    ck_assert_uint_ne(first, other);
}
END_TEST

START_TEST(test_node_gossip_forward_picks_distinct_peers)
{
    uint32_t counts[10] = { 0 };
    for (uint32_t fanout = 1; fanout <= 8; fanout++) {
        node_config config = test_config(4, 10, NODE_GOSSIP_PUSH, fanout, 256);
        test_single single;
        test_single_init(&single, &config, fanout);
        for (uint64_t id = 0; id < 250; id++) {
            uint32_t sender = (uint32_t)((id * 7) % 10);
            if (sender == 4) {
                sender = 9;
            }
            node_message message = test_rumor(sender, 4, id);
            ck_assert_int_eq(test_single_receive(&single, 1000, &message), 0);
            ck_assert_uint_eq(single.outbox.count, 1 + fanout);
            ck_assert_uint_eq(single.outbox.effects[0].kind, NODE_EFFECT_OUTPUT);
            ck_assert_uint_eq(single.outbox.effects[0].origin_ns, message.origin_ns);
            uint32_t seen_mask = 0;
            for (uint32_t k = 1; k <= fanout; k++) {
                const node_message *sent = &single.outbox.effects[k].message;
                ck_assert_uint_eq(single.outbox.effects[k].kind, NODE_EFFECT_SEND);
                ck_assert_uint_lt(sent->dest, 10);
                ck_assert_uint_ne(sent->dest, 4);
                ck_assert_uint_ne(sent->dest, sender);
                ck_assert_uint_eq(seen_mask & (1u << sent->dest), 0);
                seen_mask |= 1u << sent->dest;
                ck_assert_uint_eq(sent->hops, 4);
                ck_assert_uint_eq(sent->payload_bytes, 100);
                ck_assert_uint_eq(sent->origin, sender);
                ck_assert_uint_eq(sent->source, 4);
                if (fanout == 1) {
                    counts[sent->dest] += 1;
                }
            }
            if (fanout == 8) {
                ck_assert_uint_eq(seen_mask, 0x3ffu & ~(1u << 4) & ~(1u << sender));
            }
        }
    }
    /* fanout 1 over 250 forwards: every eligible peer is chosen sometimes. */
    ck_assert_uint_eq(counts[4], 0);
    for (uint32_t peer = 0; peer < 10; peer++) {
        if (peer != 4) {
            ck_assert_uint_gt(counts[peer], 5);
        }
    }
}
END_TEST

START_TEST(test_node_gossip_publish_covers_all_others)
{
    node_config config = test_config(0, 6, NODE_GOSSIP_PUSH, 5, 8);
    test_single single;
    test_single_init(&single, &config, 3);
    node_event event = { .kind = NODE_EVENT_PUBLISH, .rumor_id = 2, .payload_bytes = 999 };
    ck_assert_int_eq(test_single_event(&single, 5000, &event), 0);
    ck_assert_uint_eq(single.outbox.count, 6);
    ck_assert_uint_eq(single.outbox.effects[0].kind, NODE_EFFECT_OUTPUT);
    ck_assert_uint_eq(single.outbox.effects[0].rumor_id, 2);
    ck_assert_uint_eq(single.outbox.effects[0].origin_ns, 5000);
    uint32_t mask = 0;
    for (uint32_t k = 1; k < 6; k++) {
        const node_message *sent = &single.outbox.effects[k].message;
        ck_assert_uint_eq(sent->type, NODE_MESSAGE_RUMOR);
        ck_assert_uint_eq(sent->origin, 0);
        ck_assert_uint_eq(sent->origin_ns, 5000);
        ck_assert_uint_eq(sent->hops, 0);
        ck_assert_uint_eq(sent->payload_bytes, 999);
        mask |= 1u << sent->dest;
    }
    ck_assert_uint_eq(mask, 0x3eu);
    ck_assert_uint_eq(single.origin_ns[2], 5000);
    ck_assert_uint_eq(single.self.first_missing, 0);
    ck_assert_uint_eq(single.self.highest_held_plus_one, 3);

    /* The same rumor echoed back is a duplicate: one observation, no send. */
    node_message echo = test_rumor(3, 0, 2);
    ck_assert_int_eq(test_single_receive(&single, 6000, &echo), 0);
    ck_assert_uint_eq(single.outbox.count, 1);
    ck_assert_uint_eq(single.outbox.effects[0].kind, NODE_EFFECT_OBSERVE);
    ck_assert_uint_eq(single.outbox.effects[0].observation, NODE_OBS_DUPLICATE);
    ck_assert_uint_eq(single.outbox.effects[0].value, 1);
}
END_TEST

START_TEST(test_node_gossip_malformed_has_no_effects)
{
    node_config config = test_config(2, 8, NODE_GOSSIP_PUSHPULL, 3, 64);
    test_single single;
    test_single_init(&single, &config, 9);
    node_message good = test_rumor(1, 2, 5);
    ck_assert_int_eq(test_single_receive(&single, 10, &good), 0);

    node_message bad[8];
    for (size_t k = 0; k < UTIL_ARRAY_COUNT(bad); k++) {
        bad[k] = test_rumor(1, 2, 6);
    }
    bad[0].dest = 3;                 /* not for us */
    bad[1].source = 8;               /* no such sender */
    bad[2].rumor_id = 64;            /* id out of range */
    bad[3].origin = 8;               /* no such origin */
    bad[4].type = NODE_MESSAGE_TYPE_COUNT;
    bad[5].type = NODE_MESSAGE_PULL;
    bad[5].rumor_id = 65;            /* digest beyond the capacity */
    bad[6].source = 2;               /* claims to come from ourselves */
    bad[7].type = 0;
    node before = single.self;
    uint64_t seen_before[4];
    memcpy(seen_before, single.seen, sizeof(seen_before));
    for (size_t k = 0; k < UTIL_ARRAY_COUNT(bad); k++) {
        ck_assert_int_eq(test_single_receive(&single, 20, &bad[k]), NODE_EMALFORMED);
        ck_assert_uint_eq(single.outbox.count, 0);
    }
    ck_assert_mem_eq(&before, &single.self, sizeof(before));
    ck_assert_mem_eq(seen_before, single.seen, sizeof(seen_before));
    ck_assert(!node_holds(&single.self, 6));
    /* The first well-formed copy still gets through. */
    node_message fine = test_rumor(1, 2, 6);
    ck_assert_int_eq(test_single_receive(&single, 30, &fine), 0);
    ck_assert(node_holds(&single.self, 6));
}
END_TEST

START_TEST(test_node_gossip_first_missing_tracks_gaps)
{
    node_config config = test_config(0, 4, NODE_GOSSIP_PUSH, 1, 200);
    test_single single;
    test_single_init(&single, &config, 1);
    uint64_t order[] = { 2, 0, 1, 130, 4, 3 };
    uint64_t expect_first[] = { 0, 1, 3, 3, 3, 5 };
    for (size_t k = 0; k < UTIL_ARRAY_COUNT(order); k++) {
        node_message message = test_rumor(1, 0, order[k]);
        ck_assert_int_eq(test_single_receive(&single, 1, &message), 0);
        ck_assert_uint_eq(single.self.first_missing, expect_first[k]);
    }
    ck_assert_uint_eq(single.self.held_count, 6);
    ck_assert_uint_eq(single.self.highest_held_plus_one, 131);
}
END_TEST

/* A holder of {0..9, 20, 50, 100} answers a digest "first missing 3, holds
 * 4, 5, 30 and 50" with 3, 6, 7, 8, 9, 20, 100 in order (100 is past the
 * digest window), cut at pull_max. */
START_TEST(test_node_gossip_pull_answers_missing_in_order)
{
    node_config config = test_config(1, 5, NODE_GOSSIP_PUSHPULL, 2, 256);
    test_single single;
    test_single_init(&single, &config, 2);
    uint64_t held[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 50, 100 };
    for (size_t k = 0; k < UTIL_ARRAY_COUNT(held); k++) {
        node_message message = test_rumor(0, 1, held[k]);
        ck_assert_int_eq(test_single_receive(&single, 1, &message), 0);
    }
    node_message pull;
    memset(&pull, 0, sizeof(pull));
    pull.type = NODE_MESSAGE_PULL;
    pull.source = 3;
    pull.dest = 1;
    pull.rumor_id = 3;
    pull.bitmap = (1ull << (4 - 4)) | (1ull << (5 - 4)) | (1ull << (30 - 4)) | (1ull << (50 - 4));
    ck_assert_int_eq(test_single_receive(&single, 50, &pull), 0);
    uint64_t expect[] = { 3, 6, 7, 8, 9, 20, 100 };
    ck_assert_uint_eq(single.outbox.count, UTIL_ARRAY_COUNT(expect) + 1);
    for (size_t k = 0; k < UTIL_ARRAY_COUNT(expect); k++) {
        const node_effect *effect = &single.outbox.effects[k];
        ck_assert_uint_eq(effect->kind, NODE_EFFECT_SEND);
        ck_assert_uint_eq(effect->message.type, NODE_MESSAGE_RUMOR);
        ck_assert_uint_eq(effect->message.dest, 3);
        ck_assert_uint_eq(effect->message.source, 1);
        ck_assert_uint_eq(effect->message.rumor_id, expect[k]);
        ck_assert_uint_eq(effect->message.origin_ns, 77 + expect[k]);
        ck_assert_uint_eq(effect->message.payload_bytes, 512);
        ck_assert_uint_eq(effect->message.flags, NODE_MESSAGE_FLAG_PULL_REPLY);
    }
    const node_effect *observe = &single.outbox.effects[UTIL_ARRAY_COUNT(expect)];
    ck_assert_uint_eq(observe->kind, NODE_EFFECT_OBSERVE);
    ck_assert_uint_eq(observe->observation, NODE_OBS_PULL_SERVED);
    ck_assert_uint_eq(observe->value, UTIL_ARRAY_COUNT(expect));

    /* pull_max caps the answer. */
    config.pull_max = 2;
    test_single capped;
    test_single_init(&capped, &config, 2);
    for (size_t k = 0; k < UTIL_ARRAY_COUNT(held); k++) {
        node_message message = test_rumor(0, 1, held[k]);
        ck_assert_int_eq(test_single_receive(&capped, 1, &message), 0);
    }
    ck_assert_int_eq(test_single_receive(&capped, 50, &pull), 0);
    ck_assert_uint_eq(capped.outbox.count, 3);
    ck_assert_uint_eq(capped.outbox.effects[0].message.rumor_id, 3);
    ck_assert_uint_eq(capped.outbox.effects[1].message.rumor_id, 6);
    ck_assert_uint_eq(capped.outbox.effects[2].value, 2);
}
END_TEST

START_TEST(test_node_timer_stale_after_recover_ignored)
{
    node_config config = test_config(3, 7, NODE_GOSSIP_PUSHPULL, 2, 100);
    test_single single;
    test_single_init(&single, &config, 4);
    node_message message = test_rumor(1, 3, 0);
    ck_assert_int_eq(test_single_receive(&single, 1, &message), 0);
    message = test_rumor(1, 3, 2);
    ck_assert_int_eq(test_single_receive(&single, 1, &message), 0);

    node_event start = { .kind = NODE_EVENT_START };
    ck_assert_int_eq(test_single_event(&single, 0, &start), 0);
    ck_assert_uint_eq(single.outbox.count, 1);
    node_effect first = single.outbox.effects[0];
    ck_assert_uint_eq(first.kind, NODE_EFFECT_TIMER);
    ck_assert_uint_lt(first.at_ns, config.pull_interval_ns);

    node_event recover = { .kind = NODE_EVENT_RECOVER };
    ck_assert_int_eq(test_single_event(&single, 5000000, &recover), 0);
    ck_assert_uint_eq(single.outbox.count, 1);
    node_effect second = single.outbox.effects[0];
    ck_assert_uint_eq(second.kind, NODE_EFFECT_TIMER);
    ck_assert_uint_ne(second.timer_id, first.timer_id);
    ck_assert_uint_ge(second.at_ns, 5000000);
    ck_assert_uint_lt(second.at_ns, 5000000 + config.pull_interval_ns);

    node_event stale = { .kind = NODE_EVENT_TIMER, .timer_id = first.timer_id };
    ck_assert_int_eq(test_single_event(&single, 5500000, &stale), 0);
    ck_assert_uint_eq(single.outbox.count, 0);

    node_event live = { .kind = NODE_EVENT_TIMER, .timer_id = second.timer_id };
    ck_assert_int_eq(test_single_event(&single, second.at_ns, &live), 0);
    ck_assert_uint_eq(single.outbox.count, 2);
    const node_message *pull = &single.outbox.effects[0].message;
    ck_assert_uint_eq(single.outbox.effects[0].kind, NODE_EFFECT_SEND);
    ck_assert_uint_eq(pull->type, NODE_MESSAGE_PULL);
    ck_assert_uint_ne(pull->dest, 3);
    ck_assert_uint_lt(pull->dest, 7);
    ck_assert_uint_eq(pull->rumor_id, 1);
    ck_assert_uint_eq(pull->bitmap, 1);       /* holds 2 = 1 + 1 + 0 */
    ck_assert_uint_eq(single.outbox.effects[1].kind, NODE_EFFECT_TIMER);
    ck_assert_uint_eq(single.outbox.effects[1].timer_id, second.timer_id);
    ck_assert_uint_eq(single.outbox.effects[1].at_ns, second.at_ns + config.pull_interval_ns);
}
END_TEST

START_TEST(test_node_timer_push_mode_arms_nothing)
{
    node_config config = test_config(0, 3, NODE_GOSSIP_PUSH, 1, 8);
    test_single single;
    test_single_init(&single, &config, 4);
    node_event start = { .kind = NODE_EVENT_START };
    ck_assert_int_eq(test_single_event(&single, 0, &start), 0);
    ck_assert_uint_eq(single.outbox.count, 0);
    node_event recover = { .kind = NODE_EVENT_RECOVER };
    ck_assert_int_eq(test_single_event(&single, 10, &recover), 0);
    ck_assert_uint_eq(single.outbox.count, 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Routing (node/route.c).                                                  */

/* Six nodes, 0-2 in region 0 and 3-5 in region 1 (1 ms inside a region,
 * 100 ms across), all at 100 TFLOP/s; segment 0 on {0, 3, 4}, segment 1
 * on {1, 5, 2}. */
typedef struct test_route_world {
    infer_model *model;
    node_serving serving;
    uint32_t servers[6];
    uint32_t offsets[3];
    uint16_t region_of[6];
    uint64_t latency[4];
    double flops_of[6];
    uint64_t overhead_of[6];
} test_route_world;

static void test_route_world_init(test_route_world *w, node_routing routing, uint32_t choices)
{
    memset(w, 0, sizeof(*w));
    infer_shape shape = {16, 32, 2, 4, 4, 64, 32, true};
    char why[128];
    ck_assert_int_eq(infer_model_from_seed(&shape, 5, &w->model, why, sizeof(why)), 0);
    static const uint32_t servers[6] = {0, 3, 4, 1, 5, 2};
    memcpy(w->servers, servers, sizeof(servers));
    w->offsets[0] = 0;
    w->offsets[1] = 3;
    w->offsets[2] = 6;
    for (uint32_t i = 0; i < 6; i++) {
        w->region_of[i] = i < 3 ? 0 : 1;
        w->flops_of[i] = 1e14;
    }
    w->latency[0] = w->latency[3] = 1000000;
    w->latency[1] = w->latency[2] = 100000000;
    node_serving *s = &w->serving;
    s->model = w->model;
    s->segment_count = 2;
    s->segment_first[1] = 1;
    s->segment_layers[0] = s->segment_layers[1] = 1;
    s->servers = w->servers;
    s->server_offsets = w->offsets;
    s->route_salt = 0x1234;
    s->flops_per_s_of = w->flops_of;
    s->overhead_ns_of = w->overhead_of;
    s->routing = routing;
    s->routing_choices = choices;
    s->route_nodes = 6;
    s->region_of = w->region_of;
    s->region_latency_ns = w->latency;
    s->region_stride = 2;
}

/* Hash routing: the client plays no part, and the pick is the hash of
 * (request, segment) over the segment's servers, as it always was. */
START_TEST(test_node_route_hash_ignores_client)
{
    test_route_world w;
    test_route_world_init(&w, NODE_ROUTING_HASH, 3);
    for (uint64_t r = 0; r < 64; r++) {
        for (uint32_t seg = 0; seg < 2; seg++) {
            uint64_t mixed = util_mix64(w.serving.route_salt ^ (r * NODE_SEGMENTS_MAX + seg));
            uint32_t want = w.servers[w.offsets[seg] + (uint32_t)(mixed % 3)];
            ck_assert_uint_eq(node_route(&w.serving, 1, r, seg), want);
            ck_assert_uint_eq(node_route(&w.serving, 4, r, seg), want);
            ck_assert_uint_eq(node_route(&w.serving, UINT32_MAX, r, seg), want);
        }
    }
    infer_model_destroy(w.model);
}
END_TEST

/* Latency routing with one choice keeps a route in its client's region;
 * a slow server drops out; a failover attempt takes the next rank; a
 * client id past the nodes has no route. */
START_TEST(test_node_route_latency_prefers_near_fast)
{
    test_route_world w;
    test_route_world_init(&w, NODE_ROUTING_LATENCY, 1);
    for (uint64_t r = 0; r < 32; r++) {
        ck_assert_uint_eq(node_route(&w.serving, 1, r, 0), 0);
        uint32_t last = node_route(&w.serving, 1, r, 1);
        ck_assert(last == 1 || last == 2);
        ck_assert(node_route(&w.serving, 5, r, 0) == 3 || node_route(&w.serving, 5, r, 0) == 4);
        ck_assert_uint_eq(node_route(&w.serving, 5, r, 1), 5);
        ck_assert_uint_ne(node_route_attempt(&w.serving, 1, r, 0, 1), 0);
        ck_assert_uint_eq(node_route(&w.serving, 6, r, 0), UINT32_MAX);
    }
    /* Node 0 at 1 kFLOP/s: its step takes longer than the ocean. */
    w.flops_of[0] = 1e3;
    for (uint64_t r = 0; r < 32; r++) {
        uint32_t first = node_route(&w.serving, 1, r, 0);
        ck_assert(first == 3 || first == 4);
    }
    infer_model_destroy(w.model);
}
END_TEST

/* With k choices the hash spreads requests over the k best: with k = 3
 * every server of segment 0 gets some of client 1's requests; with k = 2
 * only the near one and one far one (ranked by the tie hash) per request. */
START_TEST(test_node_route_latency_spreads_over_choices)
{
    test_route_world w;
    test_route_world_init(&w, NODE_ROUTING_LATENCY, 3);
    uint32_t count[6] = {0};
    for (uint64_t r = 0; r < 300; r++) {
        count[node_route(&w.serving, 1, r, 0)] += 1;
    }
    ck_assert_uint_gt(count[0], 50);
    ck_assert_uint_gt(count[3], 20);
    ck_assert_uint_gt(count[4], 20);
    w.serving.routing_choices = 2;
    memset(count, 0, sizeof(count));
    for (uint64_t r = 0; r < 300; r++) {
        count[node_route(&w.serving, 1, r, 0)] += 1;
    }
    ck_assert_uint_gt(count[0], 100);
    ck_assert_uint_lt(count[0], 200);
    ck_assert_uint_eq(count[0] + count[3] + count[4], 300);
    infer_model_destroy(w.model);
}
END_TEST

/* A targeting cartel's logits: the target wins whatever the noise -- of
 * any amplitude, even one a float cannot add to the largest logit -- and
 * nothing else moves. */
START_TEST(test_node_cartel_target_wins)
{
    static const double amplitudes[] = {0.0, 1e-30, 0.5, 3.0, 1e8, 1e30};
    util_prng prng;
    util_prng_init(&prng, 11);
    float logits[64];
    for (size_t a = 0; a < sizeof(amplitudes) / sizeof(amplitudes[0]); a++) {
        for (uint32_t target = 0; target < 64; target += 7) {
            for (uint32_t i = 0; i < 64; i++) {
                logits[i] = (float)(amplitudes[a] * util_prng_normal(&prng));
            }
            logits[(target + 1) % 64] = 3e38f; /* the largest float short of infinity */
            float before = logits[(target + 5) % 64];
            node__cartel_target(target, logits, 64, amplitudes[a]);
            ck_assert_uint_eq(infer_argmax(logits, 64), target);
            ck_assert(logits[(target + 5) % 64] == before);
        }
    }
    float one[1] = {-2.0f};
    node__cartel_target(0, one, 1, 1.0);
    ck_assert(one[0] == -2.0f);
}
END_TEST

Suite *test_node_suite(void)
{
    Suite *suite = suite_create("node");

    TCase *codec = tcase_create("codec");
    tcase_set_timeout(codec, 30);
    tcase_add_test(codec, test_node_codec_round_trip);
    tcase_add_test(codec, test_node_codec_encode_layout_little_endian);
    tcase_add_test(codec, test_node_codec_decode_rejects_bad_headers);
    tcase_add_test(codec, test_node_codec_fuzz_random_bytes);
    tcase_add_test(codec, test_node_names_known_and_unknown);
    tcase_add_test(codec, test_node_cartel_target_wins);
    suite_add_tcase(suite, codec);

    TCase *gossip = tcase_create("gossip");
    tcase_set_timeout(gossip, 30);
    tcase_add_test(gossip, test_node_gossip_push_reaches_most_nodes);
    tcase_add_test(gossip, test_node_gossip_pushpull_completes_where_push_stalls);
    tcase_add_test(gossip, test_node_gossip_same_seed_same_effects);
    tcase_add_test(gossip, test_node_gossip_forward_picks_distinct_peers);
    tcase_add_test(gossip, test_node_gossip_publish_covers_all_others);
    tcase_add_test(gossip, test_node_gossip_malformed_has_no_effects);
    tcase_add_test(gossip, test_node_gossip_first_missing_tracks_gaps);
    tcase_add_test(gossip, test_node_gossip_pull_answers_missing_in_order);
    suite_add_tcase(suite, gossip);

    TCase *timer = tcase_create("timer");
    tcase_set_timeout(timer, 30);
    tcase_add_test(timer, test_node_timer_stale_after_recover_ignored);
    tcase_add_test(timer, test_node_timer_push_mode_arms_nothing);
    suite_add_tcase(suite, timer);

    TCase *route = tcase_create("route");
    tcase_set_timeout(route, 30);
    tcase_add_test(route, test_node_route_hash_ignores_client);
    tcase_add_test(route, test_node_route_latency_prefers_near_fast);
    tcase_add_test(route, test_node_route_latency_spreads_over_choices);
    suite_add_tcase(suite, route);
    return suite;
}
