/* tb_ids.c -- the HTTP request ids of one node process, recycled. A
 * process owns 'count' ids per generation (a restarted process takes a
 * fresh range: its first life's ids may still name state elsewhere). An id
 * is free, busy (its request runs), or in quarantine: its request has
 * finished, but the member nodes of other processes may still hold state
 * named by it (KV caches, committee blocks) until their expiry timers
 * fire, and the client's own stale timers may still be armed. Those are
 * bounded by the request timeout and the committee phase timeouts from
 * the request's last activity, so a finished id waits 'quarantine_ns' (the
 * caller's bound) before it is free again. (The caller resets the host's
 * record of the id when it reuses it, so the last request of every id
 * keeps its row until then.) Ids finish in time order and wait equally long, so quarantine is
 * a FIFO ring drained by one timer. */
#include <string.h>
#include <time.h>

#include "testbed/tb_int.h"
#include "util/alloc.h"
#include "util/assert.h"

enum { ID_FREE = 0, ID_BUSY, ID_QUARANTINE };

static uint64_t ids_clock_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static void ids_arm(tb_ids *ids)
{
    if (ids->held_count == 0) {
        return;
    }
    uint64_t at = ids->release_ns[ids->held_head];
    uint64_t now = ids_clock_ns();
    uint64_t wait = at > now ? at - now : 0;
    struct timeval tv = {(time_t)(wait / 1000000000u), (suseconds_t)((wait % 1000000000u) / 1000)};
    evtimer_add(ids->release, &tv);
}

static void ids_push_free(tb_ids *ids, uint32_t offset)
{
    ASSERT(ids->free_count < ids->count);
    ids->state[offset] = ID_FREE;
    ids->free_ring[(ids->free_head + ids->free_count) % ids->count] = offset;
    ids->free_count += 1;
}

static void ids_release(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tb_ids *ids = arg;
    uint64_t now = ids_clock_ns();
    while (ids->held_count > 0 && ids->release_ns[ids->held_head] <= now) {
        uint32_t offset = ids->held_ring[ids->held_head];
        ids->held_head = (ids->held_head + 1) % ids->count;
        ids->held_count -= 1;
        ids->recycled += 1;
        ids_push_free(ids, offset);
    }
    ids_arm(ids);
    ids->on_free(ids->context);
}

int tb__ids_init(tb_ids *ids, struct event_base *base, const tb_ids_config *config)
{
    memset(ids, 0, sizeof(*ids));
    ids->first = config->first;
    ids->count = config->count;
    ids->quarantine_ns = config->quarantine_ns;
    ids->on_free = config->on_free;
    ids->context = config->context;
    size_t n = config->count > 0 ? config->count : 1;
    ids->state = util_calloc(n, 1);
    ids->free_ring = util_calloc(n, sizeof(uint32_t));
    ids->held_ring = util_calloc(n, sizeof(uint32_t));
    ids->release_ns = util_calloc(n, sizeof(uint64_t));
    ids->release = evtimer_new(base, ids_release, ids);
    if (ids->state == NULL || ids->free_ring == NULL || ids->held_ring == NULL ||
        ids->release_ns == NULL || ids->release == NULL) {
        return TB_ENOMEM;
    }
    for (uint32_t i = 0; i < config->count; i++) {
        ids_push_free(ids, i);
    }
    return 0;
}

void tb__ids_deinit(tb_ids *ids)
{
    if (ids->release != NULL) {
        event_free(ids->release);
    }
    util_free(ids->state);
    util_free(ids->free_ring);
    util_free(ids->held_ring);
    util_free(ids->release_ns);
    memset(ids, 0, sizeof(*ids));
}

bool tb__ids_owns(const tb_ids *ids, uint64_t id)
{
    return id >= ids->first && id - ids->first < ids->count;
}

uint64_t tb__ids_take(tb_ids *ids)
{
    if (ids->free_count == 0) {
        return UINT64_MAX;
    }
    uint32_t offset = ids->free_ring[ids->free_head];
    ids->free_head = (ids->free_head + 1) % ids->count;
    ids->free_count -= 1;
    ASSERT(ids->state[offset] == ID_FREE);
    ids->state[offset] = ID_BUSY;
    return ids->first + offset;
}

void tb__ids_give(tb_ids *ids, uint64_t id)
{
    ASSERT(tb__ids_owns(ids, id));
    uint32_t offset = (uint32_t)(id - ids->first);
    ASSERT(ids->state[offset] == ID_BUSY);
    ids_push_free(ids, offset);
}

void tb__ids_finish(tb_ids *ids, uint64_t id)
{
    if (!tb__ids_owns(ids, id)) {
        return;
    }
    uint32_t offset = (uint32_t)(id - ids->first);
    if (ids->state[offset] != ID_BUSY) {
        return; /* A second finish of one request (counted by sim/) changes nothing. */
    }
    ASSERT(ids->held_count < ids->count);
    ids->state[offset] = ID_QUARANTINE;
    uint32_t slot = (ids->held_head + ids->held_count) % ids->count;
    ids->held_ring[slot] = offset;
    ids->release_ns[slot] = ids_clock_ns() + ids->quarantine_ns;
    ids->held_count += 1;
    if (ids->held_count == 1) {
        ids_arm(ids);
    }
}
