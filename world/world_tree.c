/* world_tree.c -- verification.draw: tree. Each segment's candidates in a
 * weight tree (consensus/cons_tree.c), so a draw costs O(k log n) instead
 * of a ticket per candidate.
 *
 * A tree holds the weights of one source (world_held.c): a draw from
 * another source than the tree holds refills it (O(n), once per epoch or
 * block); under the live ledger, the nodes whose stake or reputation moved
 * since the last draw are set again, O(log n) each, in every tree that
 * holds the live ledger.
 *
 * Under selection: vrf the walk is thinned (cons_tree_select_thinned): a
 * pick seats its node only on the hit its VRF ticket asks for, so the
 * draw touches about k / vrf_accept nodes, and their VRF outputs of the
 * epoch are the only ones it evaluates (ahead of the walk, on the draw
 * pool's threads, when there are several). */
#include <string.h>

#include "consensus/cons.h"
#include "world/world_int.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/workers.h"

/* The hits each position needs, as far as this draw knows them: a draw's
 * walks ahead and its own walk meet the same positions again, and each
 * answer costs a visit to the node's VRF state and a hash. An answer is a
 * pure function of the node's output and the draw, so it holds for the
 * draw; a slot counts only when its stamp is the draw's. */
#define TREE_MEMO_SLOTS 512u
typedef struct tree_memo {
    uint32_t position[TREE_MEMO_SLOTS];
    uint32_t hits[TREE_MEMO_SLOTS];
    uint32_t stamp[TREE_MEMO_SLOTS];
    uint32_t draw;           /* this draw's stamp, never 0 */
    uint32_t count;          /* slots this draw filled */
} tree_memo;

struct world_trees {
    cons_tree *trees;        /* per segment */
    uint64_t *sums;          /* candidates + segments: the trees' sums */
    uint64_t *weights;       /* per candidate */
    double scale;            /* cons_tree_scale of the largest weight a node can hold */
    cons_tree_walk *walk;    /* selection vrf: the thinned walks' scratch */
    tree_memo *memo;         /* selection vrf: the answers of the draw's walks */
};

static int tree_alloc(world_state *world, struct world_trees *t, uint32_t segments,
                      uint32_t candidates)
{
    t->trees = util_calloc(segments, sizeof(*t->trees));
    t->sums = util_calloc((size_t)candidates + segments, sizeof(uint64_t));
    t->weights = util_calloc(candidates > 0 ? candidates : 1, sizeof(uint64_t));
    if (world->scenario->verification.selection_vrf) {
        t->walk = util_calloc(1, sizeof(*t->walk));
        t->memo = util_calloc(1, sizeof(*t->memo));
    }
    bool ok = t->trees != NULL && t->sums != NULL && t->weights != NULL &&
              ((t->walk != NULL && t->memo != NULL) ||
               !world->scenario->verification.selection_vrf);
    return ok ? 0 : WORLD_ENOMEM;
}

int world__tree_build(world_state *world)
{
    const scn_verification *v = &world->scenario->verification;
    if (!v->draw_tree) {
        return 0;
    }
    uint32_t segments = world->scenario->model.segment_count;
    uint32_t candidates = world->candidate_offsets[segments];
    struct world_trees *t = util_calloc(1, sizeof(*t));
    world->trees = t;
    if (t == NULL || tree_alloc(world, t, segments, candidates) != 0) {
        return WORLD_ENOMEM;
    }
    /* Stake only falls (slashes, sybils' shares) and reputation stays
     * within the rule: no weight exceeds the bound. */
    t->scale = cons_tree_scale(v->stake * v->reputation_max);
    for (uint32_t s = 0; s < segments; s++) {
        uint32_t first = world->candidate_offsets[s];
        uint32_t count = world->candidate_offsets[s + 1] - first;
        cons_tree_init(&t->trees[s], t->sums + first + s, t->weights + first, count);
    }
    return 0;
}

void world__tree_destroy(world_state *world)
{
    struct world_trees *t = world->trees;
    if (t == NULL) {
        return;
    }
    util_free(t->trees);
    util_free(t->sums);
    util_free(t->weights);
    util_free(t->walk);
    util_free(t->memo);
    util_free(t);
    world->trees = NULL;
}

static uint64_t tree_weight_of(const struct world_trees *t, const world_weights *w,
                               uint32_t node_id)
{
    return cons_tree_weight(world__weights_stake(w, node_id) *
                                world__weights_reputation(w, node_id),
                            t->scale);
}

/* A moved node's weight set again at 'position' of a tree that holds the
 * live ledger (world__held_sync's hook). */
static void tree_set_live(void *context, uint32_t segment, uint32_t position, uint32_t node_id,
                          const world_weights *live)
{
    struct world_trees *t = context;
    cons_tree_set(&t->trees[segment], position, tree_weight_of(t, live, node_id));
}

static void tree_refill(world_state *world, uint32_t segment, const world_weights *w)
{
    struct world_trees *t = world->trees;
    uint32_t first = world->candidate_offsets[segment];
    const cons_candidate *pool = (const cons_candidate *)world->candidates + first;
    cons_tree *tree = &t->trees[segment];
    for (uint32_t i = 0; i < tree->count; i++) {
        tree->weights[i] = tree_weight_of(t, w, pool[i].node_id);
    }
    cons_tree_fill(tree);
}

/* A new draw: every slot's answer is stale. */
static void memo_begin(tree_memo *memo)
{
    memo->draw += 1;
    if (memo->draw == 0) { /* wrapped: no stamp may match by chance */
        memset(memo->stamp, 0, sizeof(memo->stamp));
        memo->draw = 1;
    }
    memo->count = 0;
}

/* The slot of 'position': its own, or the free one its probe ends at. */
static uint32_t memo_slot(const tree_memo *memo, uint32_t position)
{
    uint32_t slot = (uint32_t)(((uint64_t)position * 0x9e3779b97f4a7c15u) >> 55);
    while (memo->stamp[slot] == memo->draw && memo->position[slot] != position) {
        slot = (slot + 1) & (TREE_MEMO_SLOTS - 1);
    }
    return slot;
}

/* Whether 'slot' holds an answer of this draw. */
static bool memo_known(const tree_memo *memo, uint32_t slot)
{
    return memo->stamp[slot] == memo->draw;
}

/* The hits 'position' needs, asked of the VRF and kept in its free 'slot'
 * while the table has room (three quarters of it). */
static uint32_t memo_ask(tree_memo *memo, uint32_t slot, world_state *world,
                         const world_vrf_draw *draw, uint32_t position)
{
    uint32_t hits = world__vrf_hits(world, draw, position);
    if (memo->count < TREE_MEMO_SLOTS / 4 * 3) {
        memo->stamp[slot] = memo->draw;
        memo->position[slot] = position;
        memo->hits[slot] = hits;
        memo->count += 1;
    }
    return hits;
}

/* The hits 'position' needs: remembered, or asked. */
static uint32_t memo_hits(tree_memo *memo, world_state *world, const world_vrf_draw *draw,
                          uint32_t position)
{
    uint32_t slot = memo_slot(memo, position);
    return memo_known(memo, slot) ? memo->hits[slot]
                                  : memo_ask(memo, slot, world, draw, position);
}

/* A thinned walk's question: the hits a position needs. */
typedef struct tree_vrf {
    world_state *world;
    const world_vrf_draw *draw;
    tree_memo *memo;
} tree_vrf;

static uint32_t tree_vrf_hits(void *context, uint32_t position)
{
    const tree_vrf *v = context;
    return memo_hits(v->memo, v->world, v->draw, position);
}

/* The walk ahead of a draw under selection vrf on several threads: the
 * nodes whose outputs it will need, found 'room' at a time. */
typedef struct tree_ahead {
    world_state *world;
    const world_vrf_draw *draw;
    tree_memo *memo;
    const cons_candidate *pool;  /* the segment's candidates */
    uint32_t nodes[WORLD_VRF_BATCH_MAX];
    uint32_t count, room;
} tree_ahead;

/* A node whose output is in answers as in the draw. One without is
 * listed and guessed not to seat (it does not, three times in four at
 * vrf_accept 1/4), so the walk goes on to the next node it would need
 * then; the walk stops once 'room' are listed. */
static uint32_t tree_ahead_hits(void *context, uint32_t position)
{
    tree_ahead *a = context;
    uint32_t slot = memo_slot(a->memo, position);
    if (memo_known(a->memo, slot)) {
        return a->memo->hits[slot];
    }
    uint32_t id = a->pool[position].node_id;
    if (world__vrf_ready(a->world, a->draw, id)) {
        return memo_ask(a->memo, slot, a->world, a->draw, position);
    }
    for (uint32_t i = 0; i < a->count; i++) {
        if (a->nodes[i] == id) {
            return UINT32_MAX;
        }
    }
    a->nodes[a->count++] = id;
    return a->count == a->room ? CONS_TREE_STOP : UINT32_MAX;
}

/* Evaluates, on the draw pool's threads, the outputs the draw's walk will
 * need: walks ahead until it stops at 'room' unknown nodes or ends, has
 * them evaluated at once, and walks again until a walk meets none. Each
 * round evaluates at least the first node the draw needs; the others are
 * guesses, whose outputs stay cached for the epoch. Outputs are pure, so
 * the draw is the same whatever was evaluated ahead. */
static void tree_walk_ahead(world_state *world, uint32_t segment,
                            const uint8_t beacon[CONS_BEACON_BYTES], uint32_t k,
                            const world_vrf_draw *vrf)
{
    struct world_trees *t = world->trees;
    struct util_workers *workers = world__draw_workers(world);
    uint32_t threads = workers != NULL ? util_workers_threads(workers) : 1;
    if (threads < 2) {
        return;
    }
    tree_ahead ahead = {.world = world,
                        .draw = vrf,
                        .memo = t->memo,
                        .pool = (const cons_candidate *)world->candidates +
                                world->candidate_offsets[segment],
                        .room = threads < WORLD_VRF_BATCH_MAX ? threads : WORLD_VRF_BATCH_MAX};
    uint32_t indices[CONS_COMMITTEE_MAX];
    do {
        ahead.count = 0;
        cons_tree_select_thinned(&t->trees[segment], beacon, segment, k, tree_ahead_hits, &ahead,
                                 t->walk, indices, NULL);
        world__vrf_outputs(world, vrf, ahead.nodes, ahead.count);
    } while (ahead.count > 0);
}

uint32_t world__tree_draw(world_state *world, uint32_t segment,
                          const uint8_t beacon[CONS_BEACON_BYTES], uint32_t k,
                          const world_weights *weights, const world_vrf_draw *vrf,
                          uint32_t *members_out)
{
    struct world_trees *t = world->trees;
    ASSERT(t != NULL && segment < world->scenario->model.segment_count);
    ASSERT(weights->source != 0);
    if (world__held_sync(world, segment, weights, tree_set_live, t)) {
        tree_refill(world, segment, weights);
    }
    uint32_t indices[CONS_COMMITTEE_MAX];
    uint32_t chosen = 0;
    if (vrf == NULL) {
        chosen = cons_tree_select(&t->trees[segment], beacon, segment, k, indices);
    } else {
        ASSERT(t->walk != NULL && t->memo != NULL);
        memo_begin(t->memo);
        tree_walk_ahead(world, segment, beacon, k, vrf);
        tree_vrf context = {.world = world, .draw = vrf, .memo = t->memo};
        chosen = cons_tree_select_thinned(&t->trees[segment], beacon, segment, k, tree_vrf_hits,
                                          &context, t->walk, indices, NULL);
    }
    const cons_candidate *pool =
        (const cons_candidate *)world->candidates + world->candidate_offsets[segment];
    for (uint32_t j = 0; j < chosen; j++) {
        members_out[j] = pool[indices[j]].node_id;
    }
    return chosen;
}
