/* world_forward.c -- servers' forward passes on the worker pool. A plain
 * server's call (node/node.h, node_forward_hook) is a pure function of its
 * model, kernel, cache and input rows, and the node knows what it costs
 * before it runs, so the node charges the time and hands the arithmetic
 * over: the call becomes a job on the oracle's pool (util/workers.h) and
 * the event loop goes on. An honest committee member's call also encodes
 * its output into the member's reveal bytes and computes its vote
 * (node_forward_member). A result is taken when the engine needs it:
 *   - when the message carrying it first arrives or is dropped
 *     (world_forward_take): the activations in the wire dtype, the argmax
 *     token or the member's vote, and the logits the oracle compares,
 *     copied where the LOGITS observation said;
 *   - before its node handles any other event (world_forward_settle): the
 *     call appends rows to that node's KV cache, which the node may read,
 *     free or hand to another request.
 * Nothing else reads what a job writes while it runs, so every row and the
 * trace are the same for every thread count: the bits do not depend on
 * which thread computed them (each thread has its own executor, and a
 * call's arithmetic does not depend on an executor's scratch).
 *
 * Two writers of one result are ordered as inline: a failover's replay of
 * a step writes the oracle's logits of that step again, and the last
 * observation wins (world__oracle_writers); a server that churn takes away
 * has its caches freed by the world, which waits for its calls first.
 * Only the simulator hands calls over (world_forward_build). A full table
 * of jobs makes the node run its call inline; the bits are the same.
 *
 * Members of one committee repeat each other's arithmetic: honest members
 * of one kernel run the same layers on the same inputs. A member's call
 * names what it computes (node_forward_call.lineage, a hash of its cache's
 * history and its input), so a call whose lineage a held job's call
 * already has takes that job's result instead of computing it: its output
 * rows, logits and token, and the rows that job's call added to its own
 * cache, copied into this call's cache (once every call of that node has
 * ended and its block still holds that lineage, node_kv_holds). The job
 * then only encodes, votes and signs. The bits are a recomputation's. */
#include <string.h>

#include "util/alloc.h"
#include "util/assert.h"
#include "util/workers.h"
#include "world/world_int.h"

/* Calls in flight at once, at most: a job is held from the call until the
 * messages that carry its result arrive, so a network that keeps some
 * hundred requests in flight holds several hundred jobs (the bench's VRF
 * network at 100 requests/s ran a third of its calls inline with 64);
 * past this the node runs its call inline, on the event loop's thread. */
#define FORWARD_JOBS_MAX 1024u
_Static_assert(FORWARD_JOBS_MAX <= UINT16_MAX, "tickets and pending_of are 16-bit");
#define FORWARD_BYTES_MAX (64u << 20)   /* every job's buffers together, at most */

enum { FORWARD_FREE = 0, FORWARD_SUBMITTED, FORWARD_WAITED };

typedef struct forward_job {
    util_job job;                    /* first: the pool hands this back */
    world_forward *forward;
    uint32_t state;
    uint32_t node_id;
    node_forward_call call;          /* call.x points at x */
    float *x;                        /* tokens_max * dim: the input, then the output rows */
    float *logits;                   /* vocab (the last segment) */
    uint8_t *payload;                /* the rows in the wire dtype */
    uint32_t payload_bytes;
    uint32_t readers;                /* staged messages that carry it, not yet taken */
    uint32_t token;
    bool copied;                     /* its result copied from a job of its lineage */
    /* The oracle's copy of the logits (a LOGITS observation): the request,
     * its oracle block + 1 when the observation was made (0 = none) and
     * the step. */
    uint64_t request;
    uint32_t oracle_block;
    uint32_t oracle_step;
} forward_job;

struct world_forward {
    node_forward_hook hook;
    world_state *world;
    util_workers *workers;           /* the oracle's */
    infer_executor **executors;      /* one per thread */
    uint32_t thread_count;
    uint32_t dim, vocab;
    infer_dtype wire_dtype;
    forward_job *jobs;
    uint32_t job_count;
    uint32_t *free_jobs;             /* the free jobs' indices, a stack */
    uint32_t free_count;
    size_t rows, payload_capacity;   /* a job's buffers: floats of x, bytes of payload */
    uint16_t *pending_of;            /* per node: jobs submitted, not waited for */
    uint32_t *holder_of;             /* by a lineage's first word: a job holding it, + 1 */
    uint32_t holder_mask;            /* holder_of's entries - 1 (a power of 2) */
    uint64_t handed;                 /* calls handed over */
    uint64_t copied;                 /* of them, copied from a job of their lineage */
};

/* ---- the job (any thread) ---- */

/* Ledger evidence: the member's signature of its vote, after the vote and
 * the claim, as the member signs it inline (evidence_sign reads only the
 * keys). */
static void forward_sign(const node_serving *serving, uint32_t node_id,
                         const node_forward_member *member, uint8_t *payload)
{
    uint8_t statement[NODE_LEDGER_STATEMENT_MAX];
    size_t size = node_ledger_commit_statement(member->request, member->segment, member->step,
                                               member->round, payload, serving->vote_bytes,
                                               statement);
    serving->verifier->evidence_sign(serving->verifier->context, node_id, statement, size,
                                     payload + serving->vote_bytes + serving->claim_bytes);
}

/* A member: its reveal bytes and evidence, then its commitment (the vote,
 * signed under ledger evidence) or, answering at once, its reveal. */
static void forward_member(const world_forward *f, forward_job *job)
{
    const node_serving *serving = &f->world->serving;
    const node_forward_call *call = &job->call;
    const node_forward_member *member = &call->member;
    if (call->last) {
        infer_wire_encode(INFER_DTYPE_FP32, job->logits, 1, f->vocab, member->bytes);
    } else {
        infer_wire_encode(f->wire_dtype, job->x, call->count, f->dim, member->bytes);
    }
    if (serving->evidence_bytes > 0) {
        size_t n_floats = call->last ? f->vocab : (size_t)call->count * f->dim;
        node_forward_member_evidence(serving, job->node_id, member,
                                     call->last ? job->logits : job->x, n_floats);
    }
    if (!serving->commit_reveal) {
        ASSERT(job->payload_bytes == NODE_SALT_BYTES + member->vote.size + serving->evidence_bytes);
        memcpy(job->payload, member->bytes - NODE_SALT_BYTES, job->payload_bytes);
        return;
    }
    serving->protocol->vote(&member->vote, job->payload);
    memcpy(job->payload + serving->vote_bytes, member->claim, serving->claim_bytes);
    if (serving->commit_sig_bytes > 0) {
        forward_sign(serving, job->node_id, member, job->payload);
    }
}

static void forward_run(util_job *job_base, uint32_t thread_index)
{
    forward_job *job = (forward_job *)job_base;
    const world_forward *f = job->forward;
    ASSERT(thread_index < f->thread_count);
    infer_executor *executor = f->executors[thread_index];
    node_forward_call *call = &job->call;
    uint64_t flops = 0;
    if (!job->copied) {
        int rc = infer_forward(executor, call->kernel, &call->kv, job->x, call->count, &flops);
        ASSERT(rc == 0); /* The node validated position and count against seq_len. */
        if (call->last) {
            infer_logits(executor, call->kernel, job->x + (size_t)(call->count - 1) * f->dim,
                         job->logits, &flops);
            job->token = infer_argmax(job->logits, f->vocab);
        }
    }
    const node_forward_member *member = &call->member;
    if (member->bytes != NULL) {
        forward_member(f, job);
    } else if (!call->last) {
        if (call->noised) {
            const node_serving *serving = &f->world->serving;
            node_privacy_noise(job->x, call->count, f->dim, serving->privacy_clip,
                               serving->privacy_sigma, &call->noise);
        }
        infer_wire_encode(f->wire_dtype, job->x, call->count, f->dim, job->payload);
    }
}

/* ---- the event loop's side ---- */

static forward_job *forward_job_of(world_forward *f, uint32_t ticket)
{
    ASSERT(ticket >= 1 && ticket <= f->job_count);
    forward_job *job = &f->jobs[ticket - 1];
    ASSERT(job->state != FORWARD_FREE);
    return job;
}

static void forward_wait(world_forward *f, forward_job *job)
{
    if (job->state != FORWARD_SUBMITTED) {
        return;
    }
    util_workers_wait(f->workers, &job->job);
    job->state = FORWARD_WAITED;
    ASSERT(f->pending_of[job->node_id] > 0);
    f->pending_of[job->node_id] -= 1;
}

/* What the messages that carry the call's result carry: a member's vote
 * (and signature) or reveal, a plain server's rows, or nothing (a token). */
static uint32_t forward_payload_bytes(const world_forward *f, const node_forward_call *call)
{
    const node_serving *serving = &f->world->serving;
    if (call->member.bytes != NULL) {
        return serving->commit_reveal
                   ? serving->vote_bytes + serving->claim_bytes + serving->commit_sig_bytes
                   : NODE_SALT_BYTES + call->member.vote.size + serving->evidence_bytes;
    }
    return call->last ? 0 : (uint32_t)infer_wire_bytes(f->wire_dtype, call->count, f->dim);
}

/* A job's buffers, made on its first call: the stack hands out the jobs
 * last freed first, so a run allocates only as many as it keeps in
 * flight at once. */
static bool forward_job_buffers(const world_forward *f, forward_job *job)
{
    float *x = util_calloc(f->rows, sizeof(float));
    float *logits = util_calloc(f->vocab, sizeof(float));
    uint8_t *payload = util_calloc(f->payload_capacity, 1);
    if (x == NULL || logits == NULL || payload == NULL) {
        util_free(x);
        util_free(logits);
        util_free(payload);
        return false;
    }
    job->x = x;
    job->logits = logits;
    job->payload = payload;
    return true;
}

static uint32_t *forward_holder(const world_forward *f, const uint8_t *lineage)
{
    uint32_t word;
    memcpy(&word, lineage, sizeof(word));
    return &f->holder_of[word & f->holder_mask];
}

/* Copies into 'job' the result of a held job of its call's lineage, if
 * there is one whose node's cache still holds it, and makes 'job' the
 * lineage's holder. Before 'job' is submitted. */
static bool forward_copy(world_forward *f, forward_job *job)
{
    const node_forward_call *call = &job->call;
    if (!call->lineage_known || call->noised) {
        return false;
    }
    uint32_t *holder = forward_holder(f, call->lineage);
    forward_job *from = *holder != 0 ? &f->jobs[*holder - 1] : NULL;
    *holder = (uint32_t)(job - f->jobs) + 1;
    if (from == NULL || from == job || from->state == FORWARD_FREE ||
        !from->call.lineage_known || memcmp(from->call.lineage, call->lineage,
                                            NODE_LINEAGE_BYTES) != 0) {
        return false;
    }
    world_forward_settle(f->world, from->node_id);
    if (!node_kv_holds(&from->call.kv, call->lineage)) {
        return false; /* its node has appended to the cache since, or let it go */
    }
    infer_kv_copy_rows(&job->call.kv, &from->call.kv, infer_model_shape(f->world->serving.model),
                       call->kv.length, call->count);
    memcpy(job->x, from->x, (size_t)call->count * f->dim * sizeof(float));
    if (call->last) {
        memcpy(job->logits, from->logits, f->vocab * sizeof(float));
        job->token = from->token;
    }
    f->copied += 1;
    return true;
}

static uint32_t forward_begin(void *context, uint32_t node_id, const node_forward_call *call)
{
    world_forward *f = context;
    ASSERT(call->count >= 1 && call->count <= f->world->serving.tokens_max);
    if (f->free_count == 0) {
        return 0;
    }
    uint32_t i = f->free_jobs[f->free_count - 1];
    forward_job *job = &f->jobs[i];
    ASSERT(job->state == FORWARD_FREE);
    if (job->x == NULL && !forward_job_buffers(f, job)) {
        return 0; /* No memory for another call in flight: it runs inline. */
    }
    f->free_count -= 1;
    job->node_id = node_id;
    job->call = *call;
    memcpy(job->x, call->x, (size_t)call->count * f->dim * sizeof(float));
    job->call.x = job->x;
    job->payload_bytes = forward_payload_bytes(f, call);
    job->oracle_block = 0;
    job->readers = 0;
    job->copied = forward_copy(f, job);
    job->state = FORWARD_SUBMITTED;
    job->job.cost = job->copied ? 1
                                : infer_forward_flops(infer_model_shape(f->world->serving.model),
                                                      call->kv.layer_count, call->kv.length,
                                                      call->count, call->last);
    f->pending_of[node_id] += 1;
    f->handed += 1;
    util_workers_submit(f->workers, &job->job);
    return i + 1;
}

/* 'job', waited for and read by every message that carried it, is free. */
static void forward_release(world_forward *f, forward_job *job)
{
    ASSERT(f->free_count < f->job_count);
    uint32_t *holder = job->call.lineage_known ? forward_holder(f, job->call.lineage) : NULL;
    if (holder != NULL && *holder == (uint32_t)(job - f->jobs) + 1) {
        *holder = 0;
    }
    job->state = FORWARD_FREE;
    f->free_jobs[f->free_count++] = (uint32_t)(job - f->jobs);
}

void world__forward_observe_logits(world_state *world, uint32_t ticket, uint64_t request,
                                  uint32_t block, uint32_t step)
{
    forward_job *job = forward_job_of(world->forward, ticket);
    job->request = request;
    job->oracle_block = block;
    job->oracle_step = step;
    world__oracle_writers(world, block)[step] = (uint16_t)ticket;
}

void world_forward_settle(world_state *world, uint32_t node_id)
{
    world_forward *f = world->forward;
    if (f == NULL || f->pending_of[node_id] == 0) {
        return;
    }
    for (uint32_t i = 0; i < f->job_count && f->pending_of[node_id] > 0; i++) {
        if (f->jobs[i].state == FORWARD_SUBMITTED && f->jobs[i].node_id == node_id) {
            forward_wait(f, &f->jobs[i]);
        }
    }
}

void world_forward_hold(world_state *world, uint32_t ticket)
{
    forward_job_of(world->forward, ticket)->readers += 1;
}

/* The call's logits for the oracle, copied by the first of its messages
 * taken (or its drop) while the request's block is still the one observed
 * (a timeout gives the block back) and no later observation (a failover's
 * replay of the step) wrote the step since. */
static void forward_oracle_copy(world_state *world, forward_job *job, uint32_t ticket)
{
    if (job->oracle_block != 0 && world->oracle_block_of[job->request] == job->oracle_block &&
        world__oracle_writers(world, job->oracle_block)[job->oracle_step] == ticket) {
        float *logits = util_pool_block(&world->oracle_pool, job->oracle_block - 1);
        memcpy(logits + (size_t)job->oracle_step * world->forward->vocab, job->logits,
               world->forward->vocab * sizeof(float));
    }
    job->oracle_block = 0;
}

uint32_t world_forward_take(world_state *world, uint32_t ticket, uint8_t *payload,
                            uint32_t payload_bytes)
{
    world_forward *f = world->forward;
    forward_job *job = forward_job_of(f, ticket);
    ASSERT(job->readers > 0); /* staged (world_forward_hold), not yet taken */
    forward_wait(f, job);
    ASSERT(payload_bytes == job->payload_bytes);
    if (payload_bytes > 0) {
        memcpy(payload, job->payload, payload_bytes);
    }
    forward_oracle_copy(world, job, ticket);
    uint32_t token = job->token;
    job->readers -= 1;
    if (job->readers == 0) {
        forward_release(f, job);
    }
    return token;
}

static void forward_drop(void *context, uint32_t ticket)
{
    world_forward *f = context;
    forward_job *job = forward_job_of(f, ticket);
    ASSERT(job->readers == 0); /* its message was never staged */
    forward_wait(f, job);
    forward_oracle_copy(f->world, job, ticket);
    f->handed -= 1; /* a lost step is no compute call (no COMPUTE observation) */
    f->copied -= job->copied ? 1 : 0;
    forward_release(f, job);
}

/* ---- build and teardown ---- */

/* Calls are handed over in every inference run on more than one thread,
 * and on one thread under a verifier, where members copy each other's
 * calls; never when the observer asks for inline compute. The node decides
 * which (server_compute_handed: honest servers and members). */
static bool forward_wanted(const world_state *world)
{
    const world_observer *observer = world->observer;
    if (!world->inference || world->oracle == NULL ||
        (observer != NULL && observer->inline_compute)) {
        return false;
    }
    return (observer != NULL && observer->threads > 1) || world->verifying;
}

/* The largest payload a call's messages carry: a plain server's rows or a
 * member's vote (payload_capacity), or a member's reveal (its reveal block
 * but the size word). */
static size_t forward_payload_capacity(const world_state *world)
{
    size_t reveal = world->store.reveal_pool.block_bytes;
    size_t capacity = world->serving.payload_capacity;
    capacity = reveal > sizeof(uint32_t) && reveal - sizeof(uint32_t) > capacity
                   ? reveal - sizeof(uint32_t)
                   : capacity;
    return capacity > 0 ? capacity : 1;
}

static int forward_jobs_init(world_forward *f, const node_serving *serving)
{
    f->rows = (size_t)serving->tokens_max * f->dim;
    f->payload_capacity = forward_payload_capacity(f->world);
    size_t job_bytes = f->rows * sizeof(float) + f->vocab * sizeof(float) + f->payload_capacity;
    uint64_t fit = FORWARD_BYTES_MAX / (job_bytes > 0 ? job_bytes : 1);
    f->job_count = fit < FORWARD_JOBS_MAX ? (uint32_t)fit : FORWARD_JOBS_MAX;
    if (f->job_count == 0) {
        return 0; /* Calls too large to hold: every call runs inline. */
    }
    f->jobs = util_calloc(f->job_count, sizeof(*f->jobs));
    f->free_jobs = util_calloc(f->job_count, sizeof(*f->free_jobs));
    f->holder_mask = 1;
    while (f->holder_mask < 2 * f->job_count - 1) {
        f->holder_mask = 2 * f->holder_mask + 1;
    }
    f->holder_of = util_calloc((size_t)f->holder_mask + 1, sizeof(*f->holder_of));
    if (f->jobs == NULL || f->free_jobs == NULL || f->holder_of == NULL) {
        return WORLD_ENOMEM;
    }
    for (uint32_t i = 0; i < f->job_count; i++) {
        f->free_jobs[f->free_count++] = f->job_count - 1 - i; /* job 0 on top */
        forward_job *job = &f->jobs[i];
        job->job.run = forward_run;
        job->forward = f;
    }
    return 0;
}

static int forward_create(world_state *world)
{
    world_forward *f = util_calloc(1, sizeof(*f));
    if (f == NULL) {
        return WORLD_ENOMEM;
    }
    world->forward = f;
    const node_serving *serving = &world->serving;
    f->world = world;
    f->workers = world__oracle_workers(world);
    f->thread_count = util_workers_threads(f->workers);
    f->dim = serving->dim;
    f->vocab = serving->vocab;
    f->wire_dtype = serving->wire_dtype;
    f->hook.context = f;
    f->hook.begin = forward_begin;
    f->hook.drop = forward_drop;
    f->executors = util_calloc(f->thread_count, sizeof(*f->executors));
    f->pending_of = util_calloc(world->node_count, sizeof(*f->pending_of));
    if (f->executors == NULL || f->pending_of == NULL) {
        return WORLD_ENOMEM;
    }
    for (uint32_t i = 0; i < f->thread_count; i++) {
        if (infer_executor_create(serving->model, serving->tokens_max, &f->executors[i]) != 0) {
            return WORLD_ENOMEM;
        }
    }
    return forward_jobs_init(f, serving);
}

int world_forward_build(world_state *world)
{
    ASSERT(world->forward == NULL);
    if (!forward_wanted(world)) {
        return 0;
    }
    int rc = forward_create(world);
    if (rc != 0) {
        world_forward_destroy(world);
        return rc;
    }
    if (world->forward->job_count > 0) {
        world->serving.forward = &world->forward->hook;
    }
    return 0;
}

void world_forward_destroy(world_state *world)
{
    world_forward *f = world->forward;
    if (f == NULL) {
        return;
    }
    world->serving.forward = NULL;
    world->result->forward_pooled = f->handed;
    world->result->forward_copied = f->copied;
    for (uint32_t i = 0; f->jobs != NULL && i < f->job_count; i++) {
        if (f->jobs[i].state == FORWARD_SUBMITTED) {
            forward_wait(f, &f->jobs[i]);
        }
        util_free(f->jobs[i].x);
        util_free(f->jobs[i].logits);
        util_free(f->jobs[i].payload);
    }
    for (uint32_t i = 0; f->executors != NULL && i < f->thread_count; i++) {
        infer_executor_destroy(f->executors[i]);
    }
    util_free(f->executors);
    util_free(f->pending_of);
    util_free(f->free_jobs);
    util_free(f->holder_of);
    util_free(f->jobs);
    util_free(f);
    world->forward = NULL;
}
