/* world_chain.c -- the committed chain's state for the draws, in both
 * drivers.
 *
 * The simulator draws a committee from the live ledger, which under
 * ledger settlement holds the state after the blocks committed so far: it
 * records, per request, the height committed at its first draw
 * (requests.ledger_height). The testbed's processes learn commits at
 * different times, so a request's committees are drawn from the state at
 * a height every process agrees on: the client's process, at the
 * request's first draw, takes the highest height published without a gap
 * in the chain the processes share, and records it where every process
 * reads it (the driver's height callback; the testbed writes it before
 * the request's first message leaves, so any process a message of the
 * request reaches finds it). Each process then applies the chain's blocks
 * 1 .. h, fetched through the driver's block callback, to a ledger of its
 * own with the code that applies a committed block to the simulator's
 * (world_ledger.c: the same validity checks, evidence and settlement),
 * and keeps the reputation and stake after every height, so a draw at
 * any agreed height reads a snapshot. A message ahead of its request's
 * height (a hostile one) is answered from the initial state and its draw
 * is not kept; so is a block's evidence naming a request drawn at or above
 * that block's height (only a forged transaction can). */
#include <string.h>

#include "util/alloc.h"
#include "util/assert.h"
#include "util/bytes.h"
#include "world/world_int.h"

static bool chain_snapshot(world_state *world, uint64_t height)
{
    struct world_chain_view *c = &world->chain;
    size_t n = world->node_count;
    if (height >= c->snapshot_capacity) {
        uint64_t capacity = c->snapshot_capacity * 2;
        double *grown = util_realloc(c->snapshots, capacity * 2 * n * sizeof(double));
        if (grown == NULL) {
            return false;
        }
        c->snapshots = grown;
        c->snapshot_capacity = capacity;
    }
    double *at = c->snapshots + height * 2 * n;
    memcpy(at, c->reputation, n * sizeof(double));
    memcpy(at + n, c->stake, n * sizeof(double));
    return true;
}

int world_host_chain_source(world_host *host, world_chain_block_fn block,
                            world_chain_height_fn height, void *context)
{
    world_state *world = world__host_state(host);
    struct world_chain_view *c = &world->chain;
    uint32_t n = world->node_count;
    if (world->scenario->ledger.validators == 0 || c->block != NULL) {
        return 0;
    }
    c->reputation = util_calloc(n, sizeof(double));
    c->stake = util_calloc(n, sizeof(double));
    c->balance = util_calloc(n, sizeof(double));
    c->applied_slots = util_calloc(world->ledger_bft.decision_slots / 64 + 1, sizeof(uint64_t));
    c->snapshot_capacity = 64;
    c->snapshots = util_calloc(c->snapshot_capacity * 2 * n, sizeof(double));
    if (c->reputation == NULL || c->stake == NULL || c->balance == NULL ||
        c->applied_slots == NULL || c->snapshots == NULL) {
        return WORLD_ENOMEM;
    }
    cons_ledger_init(&c->ledger, &world->ledger.terms, n, c->reputation, c->stake, c->balance,
                     world->scenario->verification.stake);
    (void)chain_snapshot(world, 0); /* within the capacity */
    c->block = block;
    c->height = height;
    c->context = context;
    return 0;
}

void world__chain_destroy(world_state *world)
{
    struct world_chain_view *c = &world->chain;
    util_free(c->reputation);
    util_free(c->stake);
    util_free(c->balance);
    util_free(c->applied_slots);
    util_free(c->snapshots);
    memset(c, 0, sizeof(*c));
}

/* One committed transaction, as world_ledger.c applies it to the live
 * ledger: its proven verdicts, then its settlement. */
static void chain_apply_tx(world_state *world, const uint8_t *bytes, size_t size)
{
    struct world_chain_view *c = &world->chain;
    node_ledger_tx tx;
    uint64_t slot = 0;
    if (!world__ledger_tx_parse(world, c->applied_slots, bytes, size, &tx, &slot)) {
        return;
    }
    c->applied_slots[slot / 64] |= UINT64_C(1) << (slot % 64);
    for (uint32_t j = 0; j < tx.member_count; j++) {
        if (world__ledger_verdict_proven(world, &tx, j)) {
            cons_ledger_judge(&c->ledger, tx.members[j], (cons_verdict)tx.verdicts[j]);
        }
    }
    cons_ledger_settle(&c->ledger, tx.rows);
}

/* A block's transactions as the source serves them; bytes from another
 * process, so read with bounds (a malformed rest is not applied). */
static void chain_apply_block(world_state *world, const uint8_t *bytes, size_t size)
{
    size_t at = 0;
    while (world->serving.ledger_settlement && size - at >= 4) {
        size_t tx_size = util_get_u32(bytes + at);
        at += 4;
        if (tx_size == 0 || tx_size > CONS_BFT_TX_BYTES_MAX || tx_size > size - at) {
            return;
        }
        chain_apply_tx(world, bytes + at, tx_size);
        at += tx_size;
    }
}

/* Applies the chain up to 'target': false when a height is not published
 * (or memory ran out), the heights before it applied. */
static bool chain_advance(world_state *world, uint64_t target)
{
    struct world_chain_view *c = &world->chain;
    while (c->applied < target) {
        const uint8_t *bytes = NULL;
        size_t size = 0;
        if (!c->block(c->context, c->applied + 1, &bytes, &size)) {
            return false;
        }
        c->applying = true;
        chain_apply_block(world, bytes, size);
        c->applying = false;
        if (!chain_snapshot(world, c->applied + 1)) {
            return false;
        }
        c->applied += 1;
    }
    return true;
}

static void chain_record(world_state *world, uint64_t request, uint64_t height)
{
    world_request_record *r = &world->result->requests[request];
    if (!r->ledger_drawn) {
        r->ledger_drawn = true;
        r->ledger_height = height;
    }
}

bool world__chain_state(world_state *world, uint64_t request, const double **reputation,
                        const double **stake, bool *cacheable, uint64_t *height_out)
{
    struct world_chain_view *c = &world->chain;
    *cacheable = true;
    if (world->scenario->ledger.validators == 0 || request >= world->result->request_count) {
        return false;
    }
    if (c->block == NULL) {
        if (!world->hosted) {
            chain_record(world, request, world->ledger_bft.applied_height);
        }
        return false;
    }
    uint64_t height = 0;
    bool claim = world->result->requests[request].submitted;
    if (c->height(c->context, request, claim, &height)) {
        if (c->applying ? height > c->applied : !chain_advance(world, height)) {
            height = c->applied; /* not reachable: drawn, not kept */
            *cacheable = false;
        } else {
            chain_record(world, request, height);
        }
    } else {
        height = 0;
        *cacheable = false;
    }
    const double *at = c->snapshots + height * 2 * world->node_count;
    *height_out = height;
    *reputation = at;
    *stake = at + world->node_count;
    return true;
}
