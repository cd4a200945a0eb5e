/* fuzz.h -- what the libFuzzer targets of fuzz/ share (make fuzz; see
 * README.md, "Fuzzing"). Each target is one fuzz_<name>.c defining
 * LLVMFuzzerTestOneInput over one public entry point of a module; the
 * inputs are untrusted bytes, so a harness never asserts on them: only
 * the code under test may crash, and that crash is the finding.
 *
 * The peer target and the seed writer (fuzz_seeds.c) share a small
 * inference world per verification protocol (fuzz_world.c): a tiny
 * built-in scenario hosted by world_host, its nodes started and two requests
 * submitted. A fuzz_world keeps the honest messages the nodes send in a
 * FIFO and the timers they arm, so a driver can interleave them with the
 * messages a Byzantine insider delivers. Everything is deterministic: a
 * world built for one protocol always starts in the same state. */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/node.h"

/* The libFuzzer entry points (declared here for -Wmissing-prototypes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The frame target's keys: FUZZ_NODES nodes' fixed keys in FUZZ_KEYS_DIR
 * (relative to the repository's root; fuzz_seeds writes them when absent).
 * They are fuzzing fixtures, public in the tree: never a run's keys. The
 * peer worlds have as many nodes, so a recorded message fits both. */
#define FUZZ_NODES 8
#define FUZZ_KEYS_DIR "fuzz/keys"

/* Worlds, one per verification protocol, in scn_protocol order:
 * none, committee, sampling, crossval, optimistic, tee, zk; then two
 * committee worlds settled by a BFT ledger among 4 of the nodes:
 * "ledger" (direct dissemination) and "ledger_gossip" (gossip). */
#define FUZZ_PROTOCOLS 7
#define FUZZ_WORLDS (FUZZ_PROTOCOLS + 2)

typedef struct fuzz_world fuzz_world;

/* Called for every honest message a node sends (after it is queued), for
 * the seed writer. */
typedef void (*fuzz_world_record)(void *context, const node_message *message);

/* Builds world 'protocol' (< FUZZ_WORLDS, in the order above): the
 * scenario is parsed once per process and kept; the host, its nodes'
 * start and the two submitted requests are new on every call. Returns
 * NULL only for a protocol out of range. A world that cannot be built
 * (out of memory, a built-in scenario the loader refuses) does not depend
 * on the input: it is reported on stderr and aborts. Free with
 * fuzz_world_destroy. */
fuzz_world *fuzz_world_create(uint32_t protocol, fuzz_world_record record, void *context);
/* The name of world 'protocol' (< FUZZ_WORLDS): "none" .. "ledger_gossip". */
const char *fuzz_world_name(uint32_t protocol);
void fuzz_world_destroy(fuzz_world *world);

uint32_t fuzz_world_node_count(const fuzz_world *world);
uint64_t fuzz_world_request_capacity(const fuzz_world *world);
uint32_t fuzz_world_segment_count(const fuzz_world *world);

/* Moves the world's clock forward by 'ns'. Cannot fail. */
void fuzz_world_advance(fuzz_world *world, uint64_t ns);

/* Delivers 'message' (borrowed; already authenticated: its source and
 * dest are below the node count, checked here, dropped otherwise) to
 * message->dest now, and queues what the node sends. */
void fuzz_world_deliver(fuzz_world *world, const node_message *message);

/* Delivers the oldest queued honest message. Returns false when none. */
bool fuzz_world_step_message(fuzz_world *world);

/* Fires the earliest armed timer (the clock jumps to it when it lies
 * ahead). Returns false when none is armed. */
bool fuzz_world_step_timer(fuzz_world *world);

/* Runs queued messages, then timers, for at most 'events' events. */
void fuzz_world_drain(fuzz_world *world, uint32_t events);

#endif
