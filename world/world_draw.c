/* world_draw.c -- a committee draw on the worker pool. An exact draw
 * hashes every candidate's ticket (the beacon keys them all), so its work
 * is linear in the candidates; above a threshold and with more than one
 * thread it is cut into slices, each a pool job that prepares its slice
 * a block at a time (the caller's hook: the verifier refreshes the weights
 * and, under selection: vrf, computes the tickets) and offers each block
 * to the slice's best k (cons_draw_slice, cons_draw_extend). The caller
 * merges the slices' bests (cons_draw_merge); the selection order is
 * total, so the committee is the one a single slice draws, for every
 * thread count and every split. */
#include <string.h>

#include "consensus/cons.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/workers.h"
#include "world/world.h"

/* Below this many candidates a slice does not pay for its job: a hash
 * ticket costs some 30 to 60 ns, a job's hand-over some microseconds; measured
 * at 2 threads, slicing breaks even near 1,000 candidates a slice and
 * gains from 4,096 candidates a draw on (bench scale). */
#define DRAW_SLICE_MIN_DEFAULT 2048u
/* At most this many slices per thread, so a slice that starts late (a
 * worker busy with an oracle job) holds the draw back little. */
#define DRAW_SLICES_PER_THREAD 2u
#define DRAW_SLICES_MAX 64u

typedef struct draw_job {
    util_job job;                  /* first: the job is the slice */
    const world_draw *draw;
    size_t first, last;
    int rc;
    cons_draw_best *best;
} draw_job;

/* A slice is prepared and offered a block at a time, so the candidates
 * the hook has just written are still in the core's first-level cache
 * when they are checked and hashed: 512 candidates are some 28 KiB. */
#define DRAW_BLOCK 512u

static void draw_slice_run(const world_draw *draw, size_t first, size_t last,
                           cons_draw_best *best_out, int *rc_out)
{
    /* An empty best of k, then each block prepared and offered to it. */
    int rc = cons_draw_slice(draw->beacon, draw->segment, draw->uniforms, draw->candidates,
                             first, first, draw->k, best_out);
    for (size_t at = first; rc == 0 && at < last; at += DRAW_BLOCK) {
        size_t end = last - at < DRAW_BLOCK ? last : at + DRAW_BLOCK;
        if (draw->prepare != NULL) {
            draw->prepare(draw->context, at, end);
        }
        rc = cons_draw_extend(draw->beacon, draw->segment, draw->uniforms, draw->candidates,
                              at, end, best_out);
    }
    *rc_out = rc;
}

static void draw_job_run(util_job *job, uint32_t thread_index)
{
    (void)thread_index;
    draw_job *slice = (draw_job *)job;
    draw_slice_run(slice->draw, slice->first, slice->last, slice->best, &slice->rc);
}

uint32_t world_draw_slices(const util_workers *workers, const world_draw *draw)
{
    uint32_t threads = workers != NULL ? util_workers_threads(workers) : 1;
    size_t slice_min = draw->slice_min > 0 ? draw->slice_min : DRAW_SLICE_MIN_DEFAULT;
    size_t most = draw->count / slice_min;
    size_t slices = (size_t)threads * DRAW_SLICES_PER_THREAD;
    slices = slices < most ? slices : most;
    slices = slices < DRAW_SLICES_MAX ? slices : DRAW_SLICES_MAX;
    return threads > 1 && slices > 1 ? (uint32_t)slices : 1;
}

/* The draw in one slice, on the caller's thread. */
static int draw_inline(const world_draw *draw, uint32_t *members_out)
{
    cons_draw_best best;
    int rc;
    draw_slice_run(draw, 0, draw->count, &best, &rc);
    return rc != 0 ? rc : (int)cons_draw_merge(&best, 1, draw->k, members_out);
}

int world_draw_select(util_workers *workers, const world_draw *draw, uint32_t *members_out)
{
    ASSERT(draw != NULL);
    ASSERT(draw->candidates != NULL || draw->count == 0);
    uint32_t slices = world_draw_slices(workers, draw);
    draw_job *jobs = slices > 1 ? util_calloc(slices, sizeof(*jobs)) : NULL;
    cons_draw_best *bests = jobs != NULL ? util_calloc(slices, sizeof(*bests)) : NULL;
    if (bests == NULL) {
        util_free(jobs);
        return draw_inline(draw, members_out); /* the same committee */
    }
    for (uint32_t s = 0; s < slices; s++) {
        jobs[s] = (draw_job){.job = {.run = draw_job_run},
                             .draw = draw,
                             .first = draw->count * s / slices,
                             .last = draw->count * (s + 1) / slices,
                             .best = &bests[s]};
        util_workers_submit(workers, &jobs[s].job);
    }
    int rc = 0;
    for (uint32_t s = 0; s < slices; s++) {
        util_workers_wait(workers, &jobs[s].job);
        rc = rc != 0 ? rc : jobs[s].rc;
    }
    if (rc == 0) {
        rc = (int)cons_draw_merge(bests, slices, draw->k, members_out);
    }
    util_free(bests);
    util_free(jobs);
    return rc;
}
