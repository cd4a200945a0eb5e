/* workers.h -- a pool of threads for pure work: a job reads inputs nobody
 * writes while it runs and writes outputs nobody reads until it is waited
 * for. The caller owns each job's memory and decides when to wait; what a
 * job computes never depends on which thread ran it or when, so a result
 * read after util_workers_wait is the same for every thread count.
 *
 * A pool of 'threads' runs threads - 1 worker threads beside the caller's.
 * With one thread (or zero) there are none: util_workers_submit runs the
 * job at once on the caller's thread, exactly where inline code would. A
 * caller waiting for a job that has not started runs it itself, and while
 * its job runs elsewhere it runs other queued jobs no larger than its own
 * (util_job.cost), so waiting rarely idles a core, never deadlocks, and a
 * caller that waits for a short job is not held up by a long one.
 *
 * Each job learns the index of the thread that runs it: 0 the caller's,
 * 1 .. threads - 1 the workers'. A job may use per-thread scratch by that
 * index; two jobs never run on one index at once.
 *
 * Only the thread that created the pool submits, waits and destroys. */
#ifndef UTIL_WORKERS_H
#define UTIL_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

#define UTIL_WORKERS_MAX 256u   /* threads in one pool */

typedef struct util_workers util_workers;

typedef struct util_job util_job;
typedef void (*util_job_run)(util_job *job, uint32_t thread_index);

/* A job, in caller memory: set 'run' (and embed the struct in your own to
 * find your data with container_of-style arithmetic); the rest is the
 * pool's. Valid from util_workers_submit until util_workers_wait returns. */
struct util_job {
    util_job_run run;
    uint64_t cost;              /* the caller's estimate of its size, any one unit
                                 * per pool (0: unknown, helped with like any) */
    util_job *next;             /* the pool's queue, both ways */
    util_job *previous;
    int state;                  /* the pool's: guarded by its lock */
    bool first;                 /* the pool's: util_workers_submit_first queued it */
};

/* A pool of 'threads' (0 and 1: the caller's alone; capped at
 * UTIL_WORKERS_MAX). Returns 0 and *out, or -1 when memory or a thread
 * could not be had (nothing is left running). */
int util_workers_create(uint32_t threads, util_workers **out);
/* Waits for every submitted job, stops the threads and frees the pool.
 * NULL is a no-op. */
void util_workers_destroy(util_workers *workers);
/* Threads that may run jobs, the caller's included (>= 1). */
uint32_t util_workers_threads(const util_workers *workers);
/* Queues 'job' (its run set, not queued already). Without worker threads
 * the job runs before this returns. Cannot fail. */
void util_workers_submit(util_workers *workers, util_job *job);
/* Queues 'job' ahead of every queued one: for a job the caller is about
 * to wait for, so a worker that comes free takes it rather than older
 * work the caller does not need yet. A caller waiting for such a job
 * while it runs elsewhere helps only with others queued this way: the
 * rest can wait for a worker, and the caller is back the moment its job
 * ends. Without worker threads, as util_workers_submit. */
void util_workers_submit_first(util_workers *workers, util_job *job);
/* Returns once 'job' (submitted) has run; its outputs are then visible to
 * the caller. Cannot fail. */
void util_workers_wait(util_workers *workers, util_job *job);
/* Whether 'job' (submitted) has run, without waiting. */
bool util_workers_done(util_workers *workers, util_job *job);

#endif
