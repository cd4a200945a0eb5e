/* route.c -- which server runs each segment of a request: node_route.
 * Pure functions of the serving context, so every hop computes the same
 * route without asking anyone.
 *
 * Hash routing (the default): the hash of (request, segment) picks one of
 * the segment's servers uniformly.
 *
 * Latency routing (Petals' client): segment by segment, greedily, the
 * client ranks the segment's servers by the latency it expects from the
 * previous hop (itself for segment 0) -- the base latency between the two
 * regions plus the server's compute time for one decode step of the
 * segment at its class's FLOP rate and memory bandwidth (the roofline),
 * plus its per-call overhead, and for the last segment the base latency
 * back to the client -- and the same hash picks among the routing_choices
 * best, so requests spread over the fast servers instead of all queueing
 * on the fastest. Everything it reads is known in advance: no queue
 * lengths, no measurements. Equal expectations are ordered by a hash of
 * (request, segment, server), then by id.
 *
 * Under churn (serving->route_since_of set) a segment's list changes as
 * servers join and leave, and a request considers only the servers open
 * to it (route_open). Hash routing then ranks them by that same hash
 * alone -- rendezvous hashing -- so a join or a leave moves only the
 * requests it must: those whose server left. */
#include <stddef.h>

#include "node/infer_int.h"
#include "node/node_int.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/prng.h"

static uint64_t route_mix(const node_serving *serving, uint64_t request, uint32_t segment)
{
    return util_mix64(serving->route_salt ^ (request * NODE_SEGMENTS_MAX + segment));
}

/* Expected compute of one decode step of 'segment' on 'server', in ns. */
static uint64_t route_compute_ns(const node_serving *serving, uint32_t server, uint32_t segment)
{
    const infer_shape *shape = infer_model_shape(serving->model);
    bool last = segment + 1u == serving->segment_count;
    uint64_t flops = infer__layer_flops(shape, 0, 1) * serving->segment_layers[segment];
    if (last) {
        flops += infer__logits_flops(shape);
    }
    double rate = serving->flops_per_s_of[server];
    ASSERT(rate > 0);
    uint64_t compute_ns = (uint64_t)((double)flops * 1e9 / rate);
    double bandwidth =
        serving->memory_bandwidth_of != NULL ? serving->memory_bandwidth_of[server] : 0.0;
    if (bandwidth > 0) {
        uint64_t bytes =
            infer_forward_bytes(shape, serving->segment_layers[segment], 0, 1, last);
        uint64_t memory_ns = (uint64_t)((double)bytes * 1e9 / bandwidth);
        compute_ns = memory_ns > compute_ns ? memory_ns : compute_ns;
    }
    return serving->overhead_ns_of[server] + compute_ns;
}

static uint64_t route_base_ns(const node_serving *serving, uint32_t from, uint32_t to)
{
    return serving->region_latency_ns[(size_t)serving->region_of[from] * serving->region_stride +
                                      serving->region_of[to]];
}

/* A server's place in the ranking: expectation, then tie hash, then id. */
typedef struct route_key {
    uint64_t expected_ns;
    uint64_t tie;
    uint32_t server;
} route_key;

static bool route_key_less(const route_key *a, const route_key *b)
{
    if (a->expected_ns != b->expected_ns) {
        return a->expected_ns < b->expected_ns;
    }
    if (a->tie != b->tie) {
        return a->tie < b->tie;
    }
    return a->server < b->server;
}

static route_key route_key_of(const node_serving *serving, uint32_t client, uint32_t previous,
                              uint64_t request, uint32_t segment, uint32_t server)
{
    route_key key;
    key.expected_ns = 0; /* Rendezvous hashing (churn): the hash alone ranks. */
    if (serving->routing == NODE_ROUTING_LATENCY) {
        key.expected_ns = route_base_ns(serving, previous, server) +
                          route_compute_ns(serving, server, segment);
        if (segment + 1u == serving->segment_count) {
            key.expected_ns += route_base_ns(serving, server, client);
        }
    }
    key.tie = util_mix64(route_mix(serving, request, segment) ^ ((uint64_t)server + 1u));
    key.server = server;
    return key;
}

/* Churn: whether 'server' takes 'request' (always, without churn). */
static bool route_open(const node_serving *serving, uint32_t server, uint64_t request)
{
    return serving->route_since_of == NULL ||
           (serving->route_since_of[server] <= request &&
            request < serving->route_until_of[server]);
}

/* How many of the segment's servers a ranking considers for 'request':
 * the open ones (*open_only), or, when none is open, every listed one, so
 * a route always names a node (a departed one: the step is lost and the
 * client's deadline or timeout takes over). */
static uint32_t route_considered(const node_serving *serving, uint64_t request, uint32_t segment,
                                 bool *open_only)
{
    uint32_t first = serving->server_offsets[segment];
    uint32_t count = serving->server_offsets[segment + 1] - first;
    uint32_t open = 0;
    *open_only = false;
    if (serving->route_since_of == NULL) {
        return count;
    }
    for (uint32_t i = 0; i < count; i++) {
        open += route_open(serving, serving->servers[first + i], request);
    }
    *open_only = open > 0;
    return open > 0 ? open : count;
}

/* The server of rank 'rank' (0 = the lowest expected latency) of the
 * segment's servers considered, from 'previous': rank + 1 passes of
 * selection, each taking the least key above the last one taken. No
 * allocation. */
static uint32_t route_ranked(const node_serving *serving, uint32_t client, uint32_t previous,
                             uint64_t request, uint32_t segment, uint32_t rank, bool open_only)
{
    uint32_t first = serving->server_offsets[segment];
    uint32_t count = serving->server_offsets[segment + 1] - first;
    ASSERT(rank < count);
    route_key taken = {0, 0, 0};
    for (uint32_t pass = 0; pass <= rank; pass++) {
        route_key best = {UINT64_MAX, UINT64_MAX, UINT32_MAX};
        for (uint32_t i = 0; i < count; i++) {
            uint32_t server = serving->servers[first + i];
            if (open_only && !route_open(serving, server, request)) {
                continue;
            }
            route_key key = route_key_of(serving, client, previous, request, segment, server);
            if ((pass == 0 || route_key_less(&taken, &key)) && route_key_less(&key, &best)) {
                best = key;
            }
        }
        taken = best;
    }
    ASSERT(taken.server != UINT32_MAX);
    return taken.server;
}

/* Latency routing: the route from segment 0 up to 'segment', each hop
 * ranked from the one before. */
static uint32_t route_latency(const node_serving *serving, uint32_t client, uint64_t request,
                              uint32_t segment, uint32_t attempt)
{
    if (client >= serving->route_nodes) {
        return UINT32_MAX; /* An origin no node has: no route. */
    }
    uint32_t previous = client;
    for (uint32_t s = 0; s <= segment; s++) {
        bool open_only = false;
        uint32_t count = route_considered(serving, request, s, &open_only);
        ASSERT(count > 0);
        uint32_t choices = serving->routing_choices < count ? serving->routing_choices : count;
        ASSERT(choices > 0);
        uint32_t rank = (uint32_t)((route_mix(serving, request, s) % choices + attempt) % count);
        previous = route_ranked(serving, client, previous, request, s, rank, open_only);
    }
    return previous;
}

static uint32_t route_hash(const node_serving *serving, uint64_t request, uint32_t segment,
                           uint32_t attempt)
{
    uint32_t first = serving->server_offsets[segment];
    uint32_t count = serving->server_offsets[segment + 1] - first;
    ASSERT(count > 0);
    if (serving->route_since_of != NULL) {
        bool open_only = false;
        uint32_t considered = route_considered(serving, request, segment, &open_only);
        return route_ranked(serving, 0, 0, request, segment, attempt % considered, open_only);
    }
    uint64_t mixed = route_mix(serving, request, segment);
    if (attempt == 0) {
        return serving->servers[first + (uint32_t)(mixed % count)];
    }
    return serving->servers[first + (uint32_t)((mixed % count + attempt) % count)];
}

uint32_t node_route(const node_serving *serving, uint32_t client, uint64_t request,
                    uint32_t segment)
{
    return node_route_attempt(serving, client, request, segment, 0);
}

uint32_t node_route_attempt(const node_serving *serving, uint32_t client, uint64_t request,
                            uint32_t segment, uint32_t attempt)
{
    ASSERT(segment < serving->segment_count && attempt < NODE_ATTEMPTS_MAX);
    if (serving->routing == NODE_ROUTING_LATENCY) {
        return route_latency(serving, client, request, segment, attempt);
    }
    return route_hash(serving, request, segment, attempt);
}

/* ---- the memo ---- */

#define ROUTE_MEMO_ENTRIES (1u << 16)

typedef struct node_route_memo {
    uint64_t request;
    uint64_t epoch;                  /* serving->route_epoch + 1; 0 = empty */
    uint32_t origin;
    uint16_t segment;
    uint8_t attempt;
    uint8_t stable;                  /* holds while its server is open (route_memo_stable) */
    uint32_t server;
} node_route_memo;

int node_store_route_init(node_store *store, const node_serving *serving)
{
    ASSERT(store != NULL && serving != NULL);
    if (serving->routing != NODE_ROUTING_LATENCY && serving->route_since_of == NULL) {
        return 0; /* A hash of (request, segment): nothing to keep. */
    }
    store->route_memo = util_calloc(ROUTE_MEMO_ENTRIES, sizeof(node_route_memo));
    if (store->route_memo == NULL) {
        return NODE_ENOMEM;
    }
    store->route_memo_mask = ROUTE_MEMO_ENTRIES - 1u;
    return 0;
}

/* Whether a churned hash route stays what it is for as long as its server
 * is open to the request, whatever else churn does: a first attempt of a
 * submitted request, ranked among open servers. A server that joins takes
 * only requests submitted after it joined, and a server's until_of only
 * falls, so the servers open to a submitted request only go; the least
 * key among them is the same while it is still open. */
static bool route_memo_stable(const node *self, uint64_t request, uint32_t attempt,
                              uint32_t server)
{
    const node_serving *serving = self->config.serving;
    return serving->routing == NODE_ROUTING_HASH && serving->route_since_of != NULL &&
           attempt == 0 && request < serving->request_capacity &&
           self->config.store->requests[request].submitted && server != UINT32_MAX &&
           route_open(serving, server, request);
}

uint32_t node__route(const node *self, uint32_t origin, uint64_t request, uint32_t segment,
                     uint32_t attempt)
{
    const node_serving *serving = self->config.serving;
    node_store *store = self->config.store;
    if (store->route_memo == NULL) {
        return node_route_attempt(serving, origin, request, segment, attempt);
    }
    /* Hash routing under churn ranks by the hash alone: the origin is no
     * part of the route. */
    origin = serving->routing == NODE_ROUTING_LATENCY ? origin : 0;
    uint64_t key = request * NODE_SEGMENTS_MAX * NODE_ATTEMPTS_MAX +
                   (uint64_t)segment * NODE_ATTEMPTS_MAX + attempt;
    node_route_memo *m =
        &store->route_memo[util_mix64(key ^ ((uint64_t)origin << 40)) & store->route_memo_mask];
    if (m->epoch != 0 && m->request == request && m->origin == origin &&
        m->segment == segment && m->attempt == attempt &&
        (m->epoch == serving->route_epoch + 1u ||
         (m->stable && route_open(serving, m->server, request)))) {
#if defined(INFERSIM_DEEP_CHECKS) && INFERSIM_DEEP_CHECKS
        /* Checking builds (make sanitize): a hit is what a ranking gives,
         * so a driver that changed the routes without a new epoch fails. */
        ASSERT(m->server == node_route_attempt(serving, origin, request, segment, attempt));
#endif
        return m->server;
    }
    uint32_t server = node_route_attempt(serving, origin, request, segment, attempt);
    *m = (node_route_memo){request,
                           serving->route_epoch + 1u,
                           origin,
                           (uint16_t)segment,
                           (uint8_t)attempt,
                           route_memo_stable(self, request, attempt, server),
                           server};
    return server;
}
