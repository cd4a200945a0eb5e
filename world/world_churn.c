/* world_churn.c -- churn: nodes join and leave over simulated time, as in
 * a public swarm (Petals). Joins and leaves are two Poisson processes, each
 * drawn from its own stream of the run seed (purpose CHURN, id 0 and 1); a
 * leave picks an online node, a join an offline one, among the nodes of
 * churn.nodes (the others stay online). The engine carries a
 * departure out as a crash on its network and a join as a recovery
 * (sim/churn.c); this file keeps who is online and, when placement adapts
 * (serving without a verifier), what the routes see:
 *
 * - a joining server takes the segment with the fewest live servers that
 *   fits its memory (ties: the lowest segment), as Petals' rebalancing
 *   does, and is opened to the requests submitted from then on;
 * - a departed server is closed to every request, so routes skip it (a
 *   request whose server left is replayed by the client's failover), and
 *   its KV caches are gone with it (a rejoining node starts empty);
 * - a graceful leaver is closed to new requests at once, refuses every hop
 *   while it drains (its clients fail over at once), then goes.
 *
 * Under a verifier committees are drawn from the placement the run began
 * with: a departed member behaves as a crashed node, a joining node comes
 * back with its old segments. */
#include <math.h>
#include <string.h>

#include "util/alloc.h"
#include "util/assert.h"
#include "world/world_int.h"

enum { CHURN_ONLINE = 0, CHURN_LEAVING = 1, CHURN_OFFLINE = 2 };

static void churn_swap(world_churn_state *c, uint32_t a, uint32_t b)
{
    uint32_t x = c->list[a];
    uint32_t y = c->list[b];
    c->list[a] = y;
    c->list[b] = x;
    c->position_of[y] = a;
    c->position_of[x] = b;
}

/* Moves 'node_id' to another partition of c->list (see world_churn_state). */
static void churn_move(world_churn_state *c, uint32_t node_id, uint8_t to)
{
    uint8_t from = c->state_of[node_id];
    ASSERT(from != to && !(from == CHURN_LEAVING && to == CHURN_ONLINE));
    if (from == CHURN_ONLINE) {
        churn_swap(c, c->position_of[node_id], c->online - 1);
        c->online -= 1;
        c->leaving += 1; /* Now the first of the leaving ones. */
        from = CHURN_LEAVING;
    } else if (from == CHURN_OFFLINE) {
        churn_swap(c, c->position_of[node_id], c->online + c->leaving);
        churn_swap(c, c->online + c->leaving, c->online);
        c->online += 1;
        from = CHURN_ONLINE;
    }
    if (from == CHURN_LEAVING && to == CHURN_OFFLINE) {
        churn_swap(c, c->position_of[node_id], c->online + c->leaving - 1);
        c->leaving -= 1;
    }
    c->state_of[node_id] = to;
}

/* The routes' lists: every node whose bits name a segment, whatever its
 * state (a departed one is closed by until_of, and still named when a
 * segment has nobody open), in id order. */
static void churn_routes_rebuild(world_state *world)
{
    world_churn_state *c = &world->churn;
    uint32_t segments = world->scenario->model.segment_count;
    uint32_t at[NODE_SEGMENTS_MAX + 1] = {0};
    for (uint32_t i = 0; i < world->node_count; i++) {
        for (uint32_t s = 0; s < segments; s++) {
            at[s + 1] += (uint32_t)((c->serves_of[i] >> s) & 1u);
        }
    }
    for (uint32_t s = 0; s < segments; s++) {
        at[s + 1] += at[s];
        world->server_offsets[s] = at[s];
    }
    world->server_offsets[segments] = at[segments];
    ASSERT(at[segments] <= c->server_capacity);
    for (uint32_t i = 0; i < world->node_count; i++) {
        for (uint32_t s = 0; s < segments; s++) {
            if ((c->serves_of[i] >> s) & 1u) {
                world->servers[at[s]++] = i;
            }
        }
    }
}

/* The run's minimum of online servers per segment, after a change. */
static void churn_live_min(world_state *world)
{
    world_churn_state *c = &world->churn;
    for (uint32_t s = 0; s < world->scenario->model.segment_count; s++) {
        if (c->live[s] < world->result->segment_servers_min) {
            world->result->segment_servers_min = c->live[s];
        }
    }
}

/* Counts the online servers of each segment into counts[NODE_SEGMENTS_MAX]. */
static void churn_live_recount(const world_state *world, uint32_t *counts)
{
    const world_churn_state *c = &world->churn;
    memset(counts, 0, NODE_SEGMENTS_MAX * sizeof(uint32_t));
    for (uint32_t id = 0; id < world->node_count; id++) {
        for (uint32_t s = 0; c->state_of[id] == CHURN_ONLINE && s < NODE_SEGMENTS_MAX; s++) {
            counts[s] += (uint32_t)((c->serves_of[id] >> s) & 1u);
        }
    }
}

/* Online servers per segment, counted once when churn starts. */
static void churn_live_count(world_state *world)
{
    churn_live_recount(world, world->churn.live);
    churn_live_min(world);
}

/* Node 'node_id', with the segments it serves now, came online (+1) or
 * went from online (-1); then the minimum. */
static void churn_live_move(world_state *world, uint32_t node_id, int sign)
{
    world_churn_state *c = &world->churn;
    for (uint32_t s = 0; s < world->scenario->model.segment_count; s++) {
        if ((c->serves_of[node_id] >> s) & 1u) {
            ASSERT(sign > 0 || c->live[s] > 0);
            c->live[s] = sign > 0 ? c->live[s] + 1u : c->live[s] - 1u;
        }
    }
    churn_live_min(world);
#if defined(INFERSIM_DEEP_CHECKS) && INFERSIM_DEEP_CHECKS
    /* Checking builds (make sanitize): the counts are a recount's. */
    uint32_t counted[NODE_SEGMENTS_MAX];
    churn_live_recount(world, counted);
    ASSERT(memcmp(counted, c->live, sizeof(counted)) == 0);
#endif
}

/* The routes' inputs moved (lists, since_of, until_of): a route the
 * nodes memoised before is stale (node_store_route_init). */
static void churn_routes_moved(world_state *world)
{
    world->serving.route_epoch += 1;
}

static int32_t churn_first_segment(uint64_t bits)
{
    return bits == 0 ? -1 : (int32_t)__builtin_ctzll(bits);
}

static void churn_record(world_state *world, uint32_t node_id, bool join, int32_t segment)
{
    world_result *result = world->result;
    if (result->churn_event_count == result->churn_event_capacity) {
        uint64_t capacity = result->churn_event_capacity ? result->churn_event_capacity * 2 : 64;
        world_churn_record *grown =
            util_realloc(result->churn_events, capacity * sizeof(*grown));
        ASSERT(grown != NULL); /* The host is out of memory mid-run. */
        result->churn_events = grown;
        result->churn_event_capacity = capacity;
    }
    result->churn_events[result->churn_event_count++] =
        (world_churn_record){world->now_ns, node_id, join, segment};
    result->churn_joins += join;
    result->churn_leaves += !join;
}

int world__churn_build(world_state *world)
{
    world_churn_state *c = &world->churn;
    uint32_t n = world->node_count;
    c->on = true;
    c->adapts = world->inference && !world->verifying;
    c->state_of = util_calloc(n, 1);
    c->list = util_calloc(n, sizeof(uint32_t));
    c->position_of = util_calloc(n, sizeof(uint32_t));
    c->serves_of = util_calloc(n, sizeof(uint64_t));
    c->since_of = util_calloc(n, sizeof(uint64_t));
    c->until_of = util_calloc(n, sizeof(uint64_t));
    if (c->state_of == NULL || c->list == NULL || c->position_of == NULL ||
        c->serves_of == NULL || c->since_of == NULL || c->until_of == NULL) {
        return WORLD_ENOMEM;
    }
    /* churn.nodes: its fraction is drawn as a fault's, with an index no
     * fault has. */
    world_select(world, &world->scenario->churn.nodes, SCN_FAULTS_MAX, world->scratch);
    for (uint32_t i = 0; i < n; i++) {
        c->until_of[i] = UINT64_MAX;
        if (world->scratch[i]) {
            c->position_of[i] = c->members;
            c->list[c->members++] = i;
        }
    }
    c->online = c->members;
    for (uint32_t s = 0; world->inference && s < world->scenario->model.segment_count; s++) {
        for (uint32_t i = world->server_offsets[s]; i < world->server_offsets[s + 1]; i++) {
            c->serves_of[world->servers[i]] |= UINT64_C(1) << s;
        }
    }
    util_prng_init_stream(&c->joins, world->scenario->seed, 0, UTIL_PRNG_PURPOSE_CHURN);
    util_prng_init_stream(&c->leaves, world->scenario->seed, 1, UTIL_PRNG_PURPOSE_CHURN);
    world->result->churn_on = true;
    world->result->segment_servers_min = UINT32_MAX;
    if (!c->adapts) {
        return 0;
    }
    /* Each node holds at most its placed segments or, once it joined, one. */
    c->server_capacity = world->server_offsets[world->scenario->model.segment_count] + n;
    uint32_t *servers = util_realloc(world->servers, (size_t)c->server_capacity * sizeof(uint32_t));
    if (servers == NULL) {
        return WORLD_ENOMEM;
    }
    world->servers = servers;
    world->serving.servers = servers;
    c->attempts = world->scenario->workload.failover ? NODE_ATTEMPTS_MAX : 1;
    c->owner_of = util_calloc_sparse(world->result->request_count *
                                         world->scenario->model.segment_count * c->attempts,
                                     sizeof(uint32_t));
    if (c->owner_of == NULL) {
        return WORLD_ENOMEM;
    }
    world->store.owner_of = c->owner_of;
    world->serving.route_since_of = c->since_of;
    world->serving.route_until_of = c->until_of;
    return 0;
}

void world__churn_destroy(world_state *world)
{
    world_churn_state *c = &world->churn;
    util_free(c->state_of);
    util_free(c->list);
    util_free(c->position_of);
    util_free(c->serves_of);
    util_free(c->since_of);
    util_free(c->until_of);
    util_free(c->owner_of);
}

/* A node that left is gone with its memory: its KV caches go back to
 * their pools (the slots it owned are free for a route's next server) and
 * it holds none when it joins again. Its calls on the worker pool write
 * into those caches: they end first. */
static void churn_caches_drop(world_state *world, uint32_t node_id)
{
    world_churn_state *c = &world->churn;
    node_store *store = &world->store;
    uint32_t segments = world->scenario->model.segment_count;
    if (c->owner_of == NULL) {
        return;
    }
    world_forward_settle(world, node_id);
    /* The caches it holds, as kv_in_use counts them: the walk stops at the
     * last (and a node that holds none walks nothing). */
    uint32_t held = 0;
    for (uint32_t s = 0; s < segments; s++) {
        held += store->kv_in_use[(size_t)node_id * segments + s];
    }
    /* Index ((request * segments) + segment) * attempts + attempt, as
     * node__serve_slot_index lays it out. */
    size_t count = world->result->request_count * segments * c->attempts;
    for (size_t i = 0; i < count && held > 0; i++) {
        if (c->owner_of[i] != node_id + 1u || store->kv_block_of[i] == 0) {
            continue;
        }
        held -= 1;
        uint32_t segment = (uint32_t)(i / c->attempts % segments);
        util_pool_give(&store->pools[segment], store->kv_block_of[i] - 1);
        store->kv_block_of[i] = 0;
        c->owner_of[i] = 0;
    }
#if defined(INFERSIM_DEEP_CHECKS) && INFERSIM_DEEP_CHECKS
    /* Checking builds: kv_in_use counted every cache the node held. */
    for (size_t i = 0; i < count; i++) {
        ASSERT(c->owner_of[i] != node_id + 1u || store->kv_block_of[i] == 0);
    }
#endif
    memset(&store->kv_in_use[(size_t)node_id * segments], 0, segments * sizeof(uint16_t));
}

uint32_t world_churn_start(world_state *world)
{
    world_churn_state *c = &world->churn;
    uint32_t n = world->node_count;
    uint32_t want =
        (uint32_t)((1.0 - world->scenario->churn.initially_online) * (double)c->members + 0.5);
    util_prng prng;
    ASSERT(c->on && c->online == c->members);
    util_prng_init_stream(&prng, world->scenario->seed, 2, UTIL_PRNG_PURPOSE_CHURN);
    memset(world->scratch, 0, n);
    for (uint32_t k = 0; k < want && c->online > 0; k++) {
        uint32_t id = c->list[util_prng_below(&prng, c->online)];
        churn_move(c, id, CHURN_OFFLINE);
        c->until_of[id] = 0;
        world->scratch[id] = 1;
    }
    if (c->adapts) {
        churn_routes_rebuild(world);
    }
    churn_routes_moved(world);
    churn_live_count(world);
    return want < c->members ? want : c->members;
}

uint64_t world_churn_next_ns(world_state *world, bool join, uint64_t after_ns)
{
    const scn_churn *churn = &world->scenario->churn;
    double rate = join ? churn->join_rate_per_s : churn->leave_rate_per_s;
    if (!(rate > 0)) {
        return UINT64_MAX;
    }
    uint64_t from = after_ns < churn->start_ns ? churn->start_ns : after_ns;
    double gap_ns = util_prng_exponential(join ? &world->churn.joins : &world->churn.leaves,
                                          1e9 / rate);
    if (!(gap_ns < 1e18)) {
        return UINT64_MAX;
    }
    uint64_t at_ns = from + (uint64_t)llround(gap_ns);
    return at_ns <= churn->stop_ns && at_ns <= world->scenario->duration_ns ? at_ns : UINT64_MAX;
}

/* The segment with the fewest live servers among those 'node_id' may hold
 * (its class's memory; a TEE class where privacy requires one); -1 when
 * none fits. */
static int32_t churn_segment_pick(const world_state *world, uint32_t node_id)
{
    const scn_scenario *scenario = world->scenario;
    const scn_class *class = &scenario->nodes.classes[world->result->class_of[node_id]];
    const scn_privacy *privacy = &scenario->privacy;
    uint32_t last = scenario->model.segment_count - 1;
    int32_t best = -1;
    for (uint32_t s = 0; s <= last; s++) {
        bool tee = privacy->enabled &&
                   ((privacy->require_tee_tokens && (s == 0 || s == last)) ||
                    (privacy->require_tee_activations && s > 0));
        if (scn_segment_memory_bytes(&scenario->model, s) > class->memory_bytes ||
            (tee && !class->tee)) {
            continue;
        }
        if (best < 0 || world->churn.live[s] < world->churn.live[best]) {
            best = (int32_t)s;
        }
    }
    return best;
}

uint32_t world_churn_join(world_state *world)
{
    world_churn_state *c = &world->churn;
    uint32_t offline = c->members - c->online - c->leaving;
    if (offline == 0) {
        return UINT32_MAX;
    }
    uint32_t id = c->list[c->online + c->leaving + util_prng_below(&c->joins, offline)];
    churn_move(c, id, CHURN_ONLINE);
    c->until_of[id] = UINT64_MAX;
    if (c->adapts) {
        int32_t segment = churn_segment_pick(world, id);
        c->serves_of[id] = segment >= 0 ? UINT64_C(1) << segment : 0;
        c->since_of[id] = world->result->requests_submitted;
        churn_routes_rebuild(world);
    }
    churn_routes_moved(world);
    churn_live_move(world, id, +1);
    churn_record(world, id, true, churn_first_segment(c->serves_of[id]));
    return id;
}

uint32_t world_churn_leave(world_state *world, bool *leaving_out)
{
    world_churn_state *c = &world->churn;
    if (c->online == 0) {
        return UINT32_MAX;
    }
    uint32_t id = c->list[util_prng_below(&c->leaves, c->online)];
    ASSERT(c->state_of[id] == CHURN_ONLINE);
    bool graceful = c->adapts && world->scenario->churn.leave == SCN_CHURN_LEAVE_GRACEFUL;
    churn_move(c, id, graceful ? CHURN_LEAVING : CHURN_OFFLINE);
    churn_live_move(world, id, -1);
    /* Graceful: the requests already submitted may still reach it (and be
     * refused); crash: none. */
    c->until_of[id] = graceful ? world->result->requests_submitted : 0;
    churn_routes_moved(world);
    if (!graceful) {
        churn_caches_drop(world, id);
    }
    churn_record(world, id, false, churn_first_segment(c->serves_of[id]));
    *leaving_out = graceful;
    return id;
}

void world_churn_gone(world_state *world, uint32_t node_id)
{
    world_churn_state *c = &world->churn;
    ASSERT(node_id < world->node_count && c->state_of[node_id] == CHURN_LEAVING);
    churn_move(c, node_id, CHURN_OFFLINE);
    c->until_of[node_id] = 0;
    churn_routes_moved(world);
    churn_caches_drop(world, node_id);
}
