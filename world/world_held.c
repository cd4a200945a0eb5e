/* world_held.c -- the weights each segment's draw holds. A race draw
 * reads each candidate's stake and reputation from the candidate list, a
 * tree draw from its weight tree; either holds, per segment, the weights
 * of one source (world_weights.source). A draw from another source than
 * its segment holds refills the whole segment (O(n): once per epoch or
 * block, or once a run for a fixed source). Under the live ledger only the
 * nodes whose stake or reputation moved since the last draw (the ledger's
 * 'moved' hook, world__held_touch) are set again, in every segment that
 * holds the live ledger: a race draw then hashes its candidates without
 * first writing every weight again. */
#include <string.h>

#include "util/alloc.h"
#include "util/assert.h"
#include "world/world_int.h"

struct world_held {
    uint64_t *source;        /* per segment: the source its draw holds, 0 = none */
    uint32_t *first_of;      /* per node: its first candidate position, UINT32_MAX = none */
    uint32_t *next_of;       /* per candidate position: the node's next, UINT32_MAX = none */
    uint32_t *moved;         /* nodes whose live weight moved since the last drain */
    uint8_t *moved_flag;     /* per node: listed in 'moved' */
    uint32_t moved_count;
};

static void held_moved(void *context, uint32_t member)
{
    world__held_touch(context, member);
}

static int held_alloc(struct world_held *h, uint32_t nodes, uint32_t segments,
                         uint32_t candidates)
{
    h->source = util_calloc(segments, sizeof(uint64_t));
    h->first_of = util_malloc((size_t)nodes * sizeof(uint32_t));
    h->next_of = util_malloc((candidates > 0 ? candidates : 1) * sizeof(uint32_t));
    h->moved = util_calloc(nodes, sizeof(uint32_t));
    h->moved_flag = util_calloc(nodes, 1);
    return h->source != NULL && h->first_of != NULL && h->next_of != NULL &&
                   h->moved != NULL && h->moved_flag != NULL
               ? 0
               : WORLD_ENOMEM;
}

int world__held_build(world_state *world)
{
    uint32_t segments = world->scenario->model.segment_count;
    uint32_t candidates = world->candidate_offsets[segments];
    struct world_held *h = util_calloc(1, sizeof(*h));
    world->held = h;
    if (h == NULL || held_alloc(h, world->node_count, segments, candidates) != 0) {
        return WORLD_ENOMEM;
    }
    memset(h->first_of, 0xff, world->node_count * sizeof(uint32_t));
    const cons_candidate *pool = world->candidates;
    /* Last position first, so each node's positions run in increasing
     * order, and so do their segments (world__held_sync). */
    for (uint32_t at = candidates; at-- > 0;) {
        uint32_t node_id = pool[at].node_id;
        h->next_of[at] = h->first_of[node_id];
        h->first_of[node_id] = at;
    }
    world->ledger.moved = held_moved;
    world->ledger.moved_context = world;
    return 0;
}

void world__held_destroy(world_state *world)
{
    struct world_held *h = world->held;
    if (h == NULL) {
        return;
    }
    util_free(h->source);
    util_free(h->first_of);
    util_free(h->next_of);
    util_free(h->moved);
    util_free(h->moved_flag);
    util_free(h);
    world->held = NULL;
}

void world__held_touch(world_state *world, uint32_t node_id)
{
    struct world_held *h = world->held;
    if (h == NULL || node_id >= world->node_count || h->moved_flag[node_id]) {
        return;
    }
    h->moved_flag[node_id] = 1;
    h->moved[h->moved_count++] = node_id;
}

/* Sets the moved nodes again, through 'set', in every segment that holds
 * the live ledger. */
static void held_drain(world_state *world, const world_weights *live,
                       world_held_set_fn set, void *context)
{
    struct world_held *h = world->held;
    const uint32_t *offsets = world->candidate_offsets;
    for (uint32_t m = 0; m < h->moved_count; m++) {
        uint32_t node_id = h->moved[m];
        h->moved_flag[node_id] = 0;
        uint32_t s = 0;
        for (uint32_t at = h->first_of[node_id]; at != UINT32_MAX; at = h->next_of[at]) {
            while (offsets[s + 1] <= at) {
                s++;
            }
            if (h->source[s] == WORLD_WEIGHTS_LIVE) {
                set(context, s, at - offsets[s], node_id, live);
            }
        }
    }
    h->moved_count = 0;
}

bool world__held_sync(world_state *world, uint32_t segment, const world_weights *w,
                      world_held_set_fn set, void *context)
{
    struct world_held *h = world->held;
    ASSERT(h != NULL && segment < world->scenario->model.segment_count);
    ASSERT(w->source != 0);
    if (w->source == WORLD_WEIGHTS_LIVE) {
        held_drain(world, w, set, context);
    }
    if (h->source[segment] == w->source) {
        return false;
    }
    h->source[segment] = w->source;
    return true;
}
