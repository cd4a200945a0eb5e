/* workers.c -- the pool of workers.h: one lock, one condition for the
 * workers (a job was queued, or stop) and one for the caller (a job
 * finished), a queue of caller-owned jobs: first in, first out, but for
 * the jobs util_workers_submit_first puts at its front.
 *
 * Jobs may be short (one segment's forward pass: a tenth of a
 * millisecond), about as long as waking a thread that sleeps on a
 * condition. So a thread with nothing to do first spins a while on two
 * counters read without the lock -- jobs queued, jobs finished -- and
 * sleeps only when neither moves: a worker then takes a job queued just
 * after it ran out, and a caller sees its job end without a wake-up in
 * between. Threads spin only when the pool has no more threads than the
 * machine has cores, and yield the core every few pauses, so a spinning
 * thread does not hold up another process's threads (tests and sweeps run
 * several at once). What runs, and so every result, is the same either
 * way. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/assert.h"
#include "util/workers.h"

enum { JOB_QUEUED = 1, JOB_RUNNING = 2, JOB_DONE = 3 };

/* Pauses a thread spins for at most (under a millisecond on current x86),
 * yielding its core every WORKERS_SPIN_YIELD of them. */
#define WORKERS_SPIN_PAUSES 32768u
#define WORKERS_SPIN_YIELD 1024u

typedef struct worker_thread {
    util_workers *pool;
    uint32_t index;
    pthread_t thread;
} worker_thread;

struct util_workers {
    uint32_t threads;
    uint32_t started;           /* worker threads running */
    pthread_mutex_t lock;
    pthread_cond_t queued;      /* workers wait here */
    pthread_cond_t finished;    /* the caller waits here */
    util_job *head;
    util_job *tail;
    uint32_t pending;           /* queued or running */
    atomic_uint queued_count;   /* jobs in the queue: written under the lock */
    atomic_uint finished_count; /* jobs done, wrapping: written under the lock */
    uint32_t spin_pauses;       /* 0: sleep at once (more threads than cores) */
    bool stop;
    worker_thread *workers;     /* threads - 1 */
};

/* Takes queued 'job' out of the queue wherever it is. Under the lock. */
static void queue_remove(util_workers *pool, util_job *job)
{
    ASSERT(job->state == JOB_QUEUED);
    if (job->previous != NULL) {
        job->previous->next = job->next;
    } else {
        pool->head = job->next;
    }
    if (job->next != NULL) {
        job->next->previous = job->previous;
    } else {
        pool->tail = job->previous;
    }
    job->next = NULL;
    job->previous = NULL;
    job->state = JOB_RUNNING;
    atomic_fetch_sub_explicit(&pool->queued_count, 1, memory_order_relaxed);
}

/* Takes the queue's first job. Under the lock. */
static util_job *queue_pop(util_workers *pool)
{
    util_job *job = pool->head;
    if (job != NULL) {
        queue_remove(pool, job);
    }
    return job;
}

/* Takes the first queued job a caller waiting for 'awaited' may run
 * meanwhile: one no larger than it (any, when its size is unknown), so the
 * caller is back soon after the awaited job ends; for an awaited job
 * queued first, only another queued first. Under the lock. */
static util_job *queue_take_helpable(util_workers *pool, const util_job *awaited)
{
    for (util_job *at = pool->head; at != NULL; at = at->next) {
        if (awaited->first && !at->first) {
            return NULL; /* the jobs queued first are at the front */
        }
        if (awaited->cost == 0 || at->cost <= awaited->cost) {
            queue_remove(pool, at);
            return at;
        }
    }
    return NULL;
}

/* Runs 'job' outside the lock, then marks it done. Called with the lock
 * held; returns with it held. */
static void run_unlocked(util_workers *pool, util_job *job, uint32_t index)
{
    pthread_mutex_unlock(&pool->lock);
    job->run(job, index);
    pthread_mutex_lock(&pool->lock);
    job->state = JOB_DONE;
    pool->pending -= 1;
    atomic_fetch_add_explicit(&pool->finished_count, 1, memory_order_relaxed);
    pthread_cond_broadcast(&pool->finished);
}

static void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spins outside the lock, at most the pool's pauses, until a job finishes
 * (against the count read under the lock now) or, with 'queue', one is
 * queued. Called with the lock held; returns with it held, true when
 * something moved. */
static bool spin_unlocked(util_workers *pool, bool queue)
{
    unsigned finished = atomic_load_explicit(&pool->finished_count, memory_order_relaxed);
    bool moved = false;
    pthread_mutex_unlock(&pool->lock);
    for (uint32_t i = 0; i < pool->spin_pauses && !moved; i++) {
        if (i % WORKERS_SPIN_YIELD == WORKERS_SPIN_YIELD - 1) {
            sched_yield();
        } else {
            spin_pause();
        }
        moved = (queue && atomic_load_explicit(&pool->queued_count, memory_order_relaxed) > 0) ||
                atomic_load_explicit(&pool->finished_count, memory_order_relaxed) != finished;
    }
    pthread_mutex_lock(&pool->lock);
    return moved;
}

static void *worker_main(void *argument)
{
    worker_thread *self = argument;
    util_workers *pool = self->pool;
    bool spun = false;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        util_job *job = queue_pop(pool);
        if (job != NULL) {
            run_unlocked(pool, job, self->index);
            spun = false;
            continue;
        }
        if (pool->stop) {
            break;
        }
        if (!spun && pool->spin_pauses > 0) {
            /* Another thread's job finishing moves it too: spin once more. */
            spun = !spin_unlocked(pool, true);
            continue;
        }
        spun = false;
        pthread_cond_wait(&pool->queued, &pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int util_workers_create(uint32_t threads, util_workers **out)
{
    ASSERT(out != NULL);
    threads = threads == 0 ? 1 : threads > UTIL_WORKERS_MAX ? UTIL_WORKERS_MAX : threads;
    util_workers *pool = util_calloc(1, sizeof(*pool));
    if (pool == NULL) {
        return -1;
    }
    pool->threads = threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pool->spin_pauses = cores > 0 && threads <= (unsigned long)cores ? WORKERS_SPIN_PAUSES : 0;
    atomic_init(&pool->queued_count, 0);
    atomic_init(&pool->finished_count, 0);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->queued, NULL);
    pthread_cond_init(&pool->finished, NULL);
    if (threads > 1) {
        pool->workers = util_calloc(threads - 1, sizeof(*pool->workers));
        if (pool->workers == NULL) {
            util_workers_destroy(pool);
            return -1;
        }
    }
    for (uint32_t i = 0; i + 1 < threads; i++) {
        worker_thread *w = &pool->workers[i];
        w->pool = pool;
        w->index = i + 1;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            util_workers_destroy(pool);
            return -1;
        }
        pool->started += 1;
    }
    *out = pool;
    return 0;
}

void util_workers_destroy(util_workers *pool)
{
    if (pool == NULL) {
        return;
    }
    pthread_mutex_lock(&pool->lock);
    while (pool->pending > 0) {
        util_job *job = queue_pop(pool);
        if (job != NULL) {
            run_unlocked(pool, job, 0);
        } else {
            pthread_cond_wait(&pool->finished, &pool->lock);
        }
    }
    pool->stop = true;
    pthread_cond_broadcast(&pool->queued);
    pthread_mutex_unlock(&pool->lock);
    for (uint32_t i = 0; i < pool->started; i++) {
        pthread_join(pool->workers[i].thread, NULL);
    }
    pthread_cond_destroy(&pool->finished);
    pthread_cond_destroy(&pool->queued);
    pthread_mutex_destroy(&pool->lock);
    util_free(pool->workers);
    util_free(pool);
}

uint32_t util_workers_threads(const util_workers *pool)
{
    return pool->threads;
}

/* Queues 'job' at the queue's back, or with 'first' at its front. */
static void workers_queue(util_workers *pool, util_job *job, bool first)
{
    ASSERT(job != NULL && job->run != NULL);
    if (pool->started == 0) {
        job->state = JOB_DONE;
        job->run(job, 0);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    job->state = JOB_QUEUED;
    job->first = first;
    if (first) {
        job->previous = NULL;
        job->next = pool->head;
        if (pool->head != NULL) {
            pool->head->previous = job;
        } else {
            pool->tail = job;
        }
        pool->head = job;
    } else {
        job->next = NULL;
        job->previous = pool->tail;
        if (pool->tail != NULL) {
            pool->tail->next = job;
        } else {
            pool->head = job;
        }
        pool->tail = job;
    }
    pool->pending += 1;
    atomic_fetch_add_explicit(&pool->queued_count, 1, memory_order_relaxed);
    pthread_cond_signal(&pool->queued);
    pthread_mutex_unlock(&pool->lock);
}

void util_workers_submit(util_workers *pool, util_job *job)
{
    workers_queue(pool, job, false);
}

void util_workers_submit_first(util_workers *pool, util_job *job)
{
    workers_queue(pool, job, true);
}

void util_workers_wait(util_workers *pool, util_job *job)
{
    ASSERT(job != NULL);
    if (pool->started == 0) {
        ASSERT(job->state == JOB_DONE);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    if (job->state == JOB_QUEUED) {
        /* Not started: the caller runs it rather than wait for a worker. */
        queue_remove(pool, job);
        run_unlocked(pool, job, 0);
    }
    bool spun = false;
    while (job->state != JOB_DONE) {
        util_job *other = queue_take_helpable(pool, job);
        if (other != NULL) {
            run_unlocked(pool, other, 0);
        } else if (!spun && pool->spin_pauses > 0) {
            /* Only this thread queues jobs: watch for one finishing. */
            spun = !spin_unlocked(pool, false);
        } else {
            spun = false;
            pthread_cond_wait(&pool->finished, &pool->lock);
        }
    }
    pthread_mutex_unlock(&pool->lock);
}

bool util_workers_done(util_workers *pool, util_job *job)
{
    if (pool->started == 0) {
        return job->state == JOB_DONE;
    }
    pthread_mutex_lock(&pool->lock);
    bool done = job->state == JOB_DONE;
    pthread_mutex_unlock(&pool->lock);
    return done;
}
