/* fuzz_peer.c -- a Byzantine insider: arbitrary authenticated messages
 * delivered to the nodes of a small inference world, under each
 * verification protocol and under ledger settlement (validators' BFT
 * messages, transactions, receipts and gossip are in reach too). The
 * frame layer has already checked the MAC, so the only guarantees are the
 * frame decoder's: a well-formed 64-byte header
 * (node_message_decode_header), a source and a destination below the node
 * count, and payload_bytes bytes of payload. Everything else --
 * request ids, segments, rounds, members, positions, the payload's bytes --
 * is the attacker's.
 *
 * Input: byte 0 picks the world (fuzz.h's order: a protocol, or a
 * committee settled by a ledger, direct or by gossip); then up to
 * PEER_OPS_MAX operations, each one byte: the low 2 bits say what,
 * the high 6 bits advance the clock by that many quarter milliseconds.
 *   0  a message whose ids are folded into range (request, segment,
 *      origin, round, member, rows, position): reaches deep logic
 *   1  a message taken as it comes (only source and dest folded)
 *   2  the oldest honest message in flight is delivered
 *   3  the earliest armed timer fires
 * A message is the next 64 header bytes, then min(payload_bytes, what is
 * left, PEER_PAYLOAD_MAX) payload bytes; payload_bytes is set to what was
 * taken, as the frame decoder guarantees. After the operations the world
 * runs on for at most PEER_DRAIN_EVENTS events, so what the messages set
 * up plays out (timeouts, decisions, finalization). A fresh world per
 * input keeps every crash reproducible from its input alone. */
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"

#define PEER_OPS_MAX 64
#define PEER_PAYLOAD_MAX 4096
#define PEER_DRAIN_EVENTS 256
#define PEER_TICK_NS 250000u

typedef struct peer_input {
    const uint8_t *at;
    const uint8_t *end;
} peer_input;

/* Folds the ids a protocol looks up into (or one past) their ranges. */
static void peer_fold(const fuzz_world *world, node_message *m)
{
    uint32_t nodes = fuzz_world_node_count(world);
    m->rumor_id %= fuzz_world_request_capacity(world) + 1;
    m->segment = (uint16_t)(m->segment % (fuzz_world_segment_count(world) + 1));
    m->origin %= nodes + 1;
    m->hops %= 4;
    m->token %= nodes + 1;
    m->count = (uint16_t)(m->count % 8);
    m->position %= 17;
    m->step %= 4;
}

/* Reads one message and delivers it. Returns false when the input ends
 * before a whole header. */
static bool peer_message(fuzz_world *world, peer_input *in, bool fold)
{
    if (in->end - in->at < NODE_HEADER_BYTES) {
        return false;
    }
    node_message m;
    int rc = node_message_decode_header(in->at, NODE_HEADER_BYTES, &m);
    in->at += NODE_HEADER_BYTES;
    if (rc != 0) {
        return true; /* The frame decoder would have refused it. */
    }
    size_t left = (size_t)(in->end - in->at);
    size_t take = m.payload_bytes < left ? m.payload_bytes : left;
    take = take < PEER_PAYLOAD_MAX ? take : PEER_PAYLOAD_MAX;
    /* An exact-size copy, so reading past the payload is caught. */
    uint8_t *payload = take > 0 ? malloc(take) : NULL;
    if (take > 0 && payload == NULL) {
        return false;
    }
    if (take > 0) {
        memcpy(payload, in->at, take);
    }
    in->at += take;
    m.payload_bytes = (uint32_t)take;
    m.payload = payload;
    m.source %= fuzz_world_node_count(world);
    m.dest %= fuzz_world_node_count(world);
    if (fold) {
        peer_fold(world, &m);
    }
    fuzz_world_deliver(world, &m);
    free(payload);
    return true;
}

static void peer_run(fuzz_world *world, peer_input *in)
{
    for (uint32_t op = 0; op < PEER_OPS_MAX && in->at < in->end; op++) {
        uint8_t code = *in->at++;
        fuzz_world_advance(world, (uint64_t)(code >> 2) * PEER_TICK_NS);
        bool more = true;
        switch (code & 3u) {
        case 0: more = peer_message(world, in, true); break;
        case 1: more = peer_message(world, in, false); break;
        case 2: fuzz_world_step_message(world); break;
        default: fuzz_world_step_timer(world); break;
        }
        if (!more) {
            break;
        }
    }
    fuzz_world_drain(world, PEER_DRAIN_EVENTS);
}

/* Every input builds and frees a world of a few hundred allocations: a
 * small ASan quarantine keeps that from turning into fresh pages (page
 * faults) on every run. ASAN_OPTIONS still overrides it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=16";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    fuzz_world *world = fuzz_world_create(data[0] % FUZZ_WORLDS, NULL, NULL);
    if (world == NULL) {
        return 0;
    }
    peer_input in = {data + 1, data + size};
    peer_run(world, &in);
    fuzz_world_destroy(world);
    return 0;
}
