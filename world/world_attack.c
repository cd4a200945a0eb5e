/* world_attack.c -- an honest-but-curious server reconstructs the prompt
 * and the generated tokens from the hidden states it receives. A curious
 * server of segment s >= 1 knows the public weights of layers [0, first
 * layer of s). Position by position it tries every vocabulary token after
 * the prefix it has recovered: it embeds the candidate, runs those layers
 * with its own kernel variant over the cached prefix (the KV cache makes a
 * candidate cost one position), and keeps the token whose hidden state is
 * nearest (L2) the row it received; the chosen token then goes into the
 * cache. It attacks the prefill's rows -- noised, when its boundary is --
 * of a deterministic sample of requests, once per (request, node); then
 * each generation step's single row, in step order, extending its own
 * recovered prefix by one token per step. The attack runs outside the
 * event timeline, like the oracle: it costs no simulated time, draws no
 * stream and changes no trace. A node in a TEE cannot run it, unless a
 * side_channel fault leaks the rows out of its enclave.
 *
 * Out of the event loop's way: which rows a node attacks is decided on
 * arrival (the record, its step count); the arithmetic is a job on the
 * oracle's worker pool. A record's task keeps the rows it received and the
 * true tokens, and is handed over once every step it can see has come
 * (generate - 1 steps), or at the end of the run (world_attack_flush).
 * One job runs the prompt's positions and then the steps', keeping its KV
 * cache between them: the tokens it recovers are the ones position-by-
 * position arrival would give, and each job writes only its own record,
 * so the rows are the same for every thread count. */
#include <math.h>
#include <string.h>

#include "util/alloc.h"
#include "util/assert.h"
#include "util/workers.h"
#include "world/world_int.h"

/* One thread's scratch for the attack's model runs. */
typedef struct attack_scratch {
    infer_executor *executor;
    void *kv;                        /* a KV cache for every layer */
    float *x;                        /* one candidate's hidden state: dim */
} attack_scratch;

/* One (request, node)'s attack: what it received, queued by the event loop
 * until the task is handed over, then run as one job. */
typedef struct attack_task {
    util_job job;                    /* first: the pool hands this back */
    const struct world_attack_state *state;
    uint64_t record;                 /* its index in result->attacks */
    infer_kernel kernel;             /* the curious node's */
    uint32_t layers;                 /* the public layers [0, layers) */
    uint32_t tokens;                 /* prompt rows */
    uint32_t steps;                  /* step rows after them */
    uint32_t recovered;              /* the job's: prompt tokens recovered */
    uint32_t steps_recovered;        /* the job's: step tokens recovered */
    uint32_t *truth;                 /* per position: the token the client fed in */
    float *rows;                     /* per position: the row received, dim each */
    struct attack_task *next;        /* handed over after this one */
} attack_task;

struct world_attack_state {
    const infer_model *model;
    uint32_t dim, vocab;
    uint32_t stride;                 /* positions a task holds: prompt_max + generate */
    uint32_t steps_max;              /* steps a server can see: generate - 1 */
    util_workers *workers;           /* the oracle's */
    attack_scratch *scratch;         /* one per thread */
    uint32_t scratch_count;
    attack_task **open;              /* per record: its task until handed over */
    uint64_t open_capacity;
    attack_task *handed, *handed_last;   /* handed over, not yet collected */
};

/* Whether 'request' is in the attacked sample: a hash of (seed, request). */
static bool attack_sampled(const world_state *world, uint64_t request)
{
    const scn_privacy *privacy = &world->scenario->privacy;
    double share = privacy->enabled ? privacy->attack_sample : 1.0;
    uint64_t draw = util_mix64(world->scenario->seed ^ util_mix64(request ^ UINT64_C(0x617474)));
    return (double)(draw >> 11) * 0x1.0p-53 < share;
}

/* A node attacks when privacy.curious drew it or a curious fault holds it. */
static bool attack_curious(const world_state *world, uint32_t node_id)
{
    return world->result->curious_of[node_id] ||
           (world->store.behaviour_of != NULL &&
            world->store.behaviour_of[node_id] == NODE_BEHAVIOUR_CURIOUS);
}

int world__attack_build(world_state *world)
{
    const scn_privacy *privacy = &world->scenario->privacy;
    world_result *result = world->result;
    result->curious_of = util_calloc(world->node_count, 1);
    if (result->curious_of == NULL) {
        return WORLD_ENOMEM;
    }
    bool any = false;
    for (uint32_t i = 0; privacy->enabled && i < world->node_count; i++) {
        uint64_t draw = util_mix64(world->scenario->seed ^ util_mix64(i ^ UINT64_C(0x637572)));
        result->curious_of[i] = (double)(draw >> 11) * 0x1.0p-53 < privacy->curious;
        any |= result->curious_of[i] != 0;
    }
    for (uint32_t f = 0; f < world->scenario->fault_count; f++) {
        any |= world->scenario->faults[f].kind == SCN_FAULT_CURIOUS;
    }
    if (!any) {
        return 0;
    }
    struct world_attack_state *a = util_calloc(1, sizeof(*a));
    if (a == NULL) {
        return WORLD_ENOMEM;
    }
    world->attack = a;
    const infer_shape *shape = infer_model_shape(world->model);
    a->model = world->model;
    a->dim = shape->dim;
    a->vocab = shape->vocab_size;
    a->stride = world->scenario->workload.prompt_max + world->scenario->workload.generate_tokens;
    a->steps_max = world->scenario->workload.generate_tokens > 0
                       ? world->scenario->workload.generate_tokens - 1
                       : 0;
    return 0;
}

int world__attack_start(world_state *world)
{
    struct world_attack_state *a = world->attack;
    if (a == NULL) {
        return 0;
    }
    a->workers = world__oracle_workers(world);
    uint32_t threads = util_workers_threads(a->workers);
    a->scratch = util_calloc(threads, sizeof(*a->scratch));
    if (a->scratch == NULL) {
        return WORLD_ENOMEM;
    }
    a->scratch_count = threads;
    const infer_shape *shape = infer_model_shape(a->model);
    for (uint32_t i = 0; i < threads; i++) {
        attack_scratch *s = &a->scratch[i];
        s->kv = util_malloc(infer_kv_bytes(shape, shape->n_layers));
        s->x = util_calloc(a->dim, sizeof(float));
        if (s->kv == NULL || s->x == NULL ||
            infer_executor_create(a->model, 1, &s->executor) != 0) {
            return WORLD_ENOMEM;
        }
    }
    return 0;
}

static void attack_task_free(attack_task *task)
{
    if (task != NULL) {
        util_free(task->truth);
        util_free(task->rows);
        util_free(task);
    }
}

void world__attack_destroy(world_state *world)
{
    struct world_attack_state *a = world->attack;
    if (a == NULL) {
        return;
    }
    /* The pool is gone (world__oracle_destroy waits for its jobs). */
    while (a->handed != NULL) {
        attack_task *next = a->handed->next;
        attack_task_free(a->handed);
        a->handed = next;
    }
    for (uint64_t i = 0; i < a->open_capacity; i++) {
        attack_task_free(a->open[i]);
    }
    for (uint32_t i = 0; a->scratch != NULL && i < a->scratch_count; i++) {
        infer_executor_destroy(a->scratch[i].executor);
        util_free(a->scratch[i].kv);
        util_free(a->scratch[i].x);
    }
    util_free(a->scratch);
    util_free(a->open);
    util_free(a);
    world->attack = NULL;
}

/* ---- the arithmetic (any thread) ---- */

static double attack_distance(const float *a, const float *b, uint32_t dim)
{
    double sum = 0.0;
    for (uint32_t i = 0; i < dim; i++) {
        double d = (double)a[i] - b[i];
        sum += d * d;
    }
    return sum;
}

/* The candidate token at 'position' after the cached prefix: its hidden
 * state after layers [0, kv->layer_count), left in s->x. */
static void attack_try(attack_scratch *s, infer_kernel kernel, infer_kv *kv, uint32_t token,
                       uint32_t position)
{
    uint64_t flops = 0;
    kv->length = position;
    int rc = infer_embed(s->executor, &token, 1, s->x);
    ASSERT(rc == 0); /* token < vocab */
    rc = infer_forward(s->executor, kernel, kv, s->x, 1, &flops);
    ASSERT(rc == 0); /* position < prompt_max + generate <= seq_len */
}

/* The token nearest 'target' at 'position' after the prefix cached in
 * 'kv'; on return the chosen token's state is in the cache, so the next
 * position extends it. */
static uint32_t attack_position(const struct world_attack_state *a, attack_scratch *s,
                                infer_kernel kernel, infer_kv *kv, const float *target,
                                uint32_t position)
{
    uint32_t best = 0;
    double best_distance = INFINITY;
    for (uint32_t v = 0; v < a->vocab; v++) {
        attack_try(s, kernel, kv, v, position);
        double distance = attack_distance(s->x, target, a->dim);
        if (distance < best_distance) {
            best_distance = distance;
            best = v;
        }
    }
    attack_try(s, kernel, kv, best, position); /* The prefix the next position extends. */
    ASSERT(kv->length == position + 1);
    return best;
}

/* Recovers the prompt, then each step's token, from the rows received. */
static void attack_job_run(util_job *base, uint32_t thread_index)
{
    attack_task *task = (attack_task *)base;
    const struct world_attack_state *a = task->state;
    attack_scratch *s = &a->scratch[thread_index];
    infer_kv kv;
    infer_kv_init(&kv, infer_model_shape(a->model), 0, task->layers, s->kv);
    for (uint32_t p = 0; p < task->tokens + task->steps; p++) {
        const float *target = task->rows + (size_t)p * a->dim;
        bool hit = attack_position(a, s, task->kernel, &kv, target, p) == task->truth[p];
        task->recovered += p < task->tokens && hit;
        task->steps_recovered += p >= task->tokens && hit;
    }
}

/* ---- the event loop's ---- */

/* A job's size for the pool (util_job.cost), in the forward calls' unit:
 * FLOPs, here of one position per candidate and position. */
static uint64_t attack_cost(const struct world_attack_state *a, const attack_task *task)
{
    uint64_t cost = 0;
    for (uint32_t p = 0; p < task->tokens + task->steps; p++) {
        cost += (uint64_t)(a->vocab + 1) *
                infer_forward_flops(infer_model_shape(a->model), task->layers, p, 1, false);
    }
    return cost;
}

/* Writes finished tasks' tokens to their records, oldest first, waiting
 * for them when 'wait'. */
static void attack_collect(world_state *world, bool wait)
{
    struct world_attack_state *a = world->attack;
    while (a->handed != NULL &&
           (wait || util_workers_done(a->workers, &a->handed->job))) {
        attack_task *task = a->handed;
        util_workers_wait(a->workers, &task->job);
        world_attack_record *record = &world->result->attacks[task->record];
        record->recovered = task->recovered;
        record->steps_recovered = task->steps_recovered;
        ASSERT(record->recovered <= record->tokens && record->steps_recovered <= record->steps);
        a->handed = task->next;
        a->handed_last = a->handed != NULL ? a->handed_last : NULL;
        attack_task_free(task);
    }
}

/* Hands record 'index''s task to the pool. */
static void attack_hand(world_state *world, uint64_t index)
{
    struct world_attack_state *a = world->attack;
    attack_task *task = a->open[index];
    a->open[index] = NULL;
    task->job = (util_job){.run = attack_job_run, .cost = attack_cost(a, task)};
    if (a->handed_last != NULL) {
        a->handed_last->next = task;
    } else {
        a->handed = task;
    }
    a->handed_last = task;
    util_workers_submit(a->workers, &task->job);
    attack_collect(world, false);
}

void world_attack_flush(world_state *world)
{
    struct world_attack_state *a = world->attack;
    if (a == NULL) {
        return;
    }
    for (uint64_t i = 0; i < world->result->attack_count; i++) {
        if (a->open[i] != NULL) {
            attack_hand(world, i);
        }
    }
    attack_collect(world, true);
}

/* The attack record of (request, node), or NULL: the latest first. */
static world_attack_record *attack_find(const world_result *result, uint64_t request,
                                        uint32_t node_id)
{
    for (uint64_t i = result->attack_count; i > 0; i--) {
        world_attack_record *a = &result->attacks[i - 1];
        if (a->request == request && a->node_id == node_id) {
            return a;
        }
    }
    return NULL;
}

/* A task with room for every position, or NULL (host out of memory). */
static attack_task *attack_task_new(const struct world_attack_state *a)
{
    attack_task *task = util_calloc(1, sizeof(*task));
    if (task != NULL) {
        task->state = a;
        task->truth = util_calloc(a->stride, sizeof(uint32_t));
        task->rows = util_calloc((size_t)a->stride * a->dim, sizeof(float));
    }
    if (task == NULL || task->truth == NULL || task->rows == NULL) {
        attack_task_free(task);
        return NULL;
    }
    return task;
}

/* Appends 'record' with 'task' open for it. */
static void attack_record(world_state *world, const world_attack_record *record,
                          attack_task *task)
{
    struct world_attack_state *a = world->attack;
    world_result *result = world->result;
    if (result->attack_count == result->attack_capacity) {
        uint64_t capacity = result->attack_capacity ? result->attack_capacity * 2 : 64;
        world_attack_record *grown = util_realloc(result->attacks, capacity * sizeof(*grown));
        ASSERT(grown != NULL); /* Host out of memory mid-run. */
        result->attacks = grown;
        result->attack_capacity = capacity;
    }
    if (result->attack_count == a->open_capacity) {
        uint64_t capacity = a->open_capacity ? a->open_capacity * 2 : 64;
        attack_task **grown = util_realloc(a->open, capacity * sizeof(*grown));
        ASSERT(grown != NULL); /* Host out of memory mid-run. */
        memset(grown + a->open_capacity, 0, (capacity - a->open_capacity) * sizeof(*grown));
        a->open = grown;
        a->open_capacity = capacity;
    }
    task->record = result->attack_count;
    a->open[result->attack_count] = task;
    result->attacks[result->attack_count++] = *record;
}

/* The prefill's rows reaching a curious server: the prompt, once per
 * (request, node). */
static void attack_prefill(world_state *world, const node_message *m)
{
    struct world_attack_state *a = world->attack;
    const node_request *r = &world->requests[m->rumor_id];
    if (m->position != 0 || attack_find(world->result, m->rumor_id, m->dest) != NULL ||
        m->count != r->prompt_tokens || m->count > world->scenario->workload.prompt_max) {
        return; /* Done already, or not the prefill it claims to be: nothing to attack. */
    }
    attack_task *task = attack_task_new(a);
    ASSERT(task != NULL); /* Host out of memory mid-run. */
    if (infer_wire_decode(world->serving.wire_dtype, m->payload, m->payload_bytes, m->count,
                          a->dim, task->rows) != 0) {
        attack_task_free(task);
        return; /* Not rows it can read: nothing to attack. */
    }
    task->kernel = (infer_kernel)world->result->kernel_of[m->dest];
    task->layers = world->serving.segment_first[m->segment];
    task->tokens = m->count;
    memcpy(task->truth, r->tokens, m->count * sizeof(uint32_t));
    world_attack_record record = {
        .request = m->rumor_id,
        .node_id = m->dest,
        .segment = m->segment,
        .tokens = m->count,
    };
    attack_record(world, &record, task);
    if (a->steps_max == 0) {
        attack_hand(world, task->record);
    }
}

/* Generation step m->step's single row reaching a curious server that
 * attacked the prompt and every step before: queued after them, at its
 * position. The truth is the token the client fed in at that position. */
static void attack_step(world_state *world, const node_message *m)
{
    struct world_attack_state *a = world->attack;
    const node_request *r = &world->requests[m->rumor_id];
    world_attack_record *record = attack_find(world->result, m->rumor_id, m->dest);
    uint64_t index = record != NULL ? (uint64_t)(record - world->result->attacks) : 0;
    attack_task *task = record != NULL ? a->open[index] : NULL;
    if (task == NULL || record->segment != m->segment || m->count != 1 ||
        record->steps + 1 != m->step || m->position != record->tokens + record->steps ||
        m->position >= a->stride || m->position >= r->prompt_tokens + r->generated ||
        infer_wire_decode(world->serving.wire_dtype, m->payload, m->payload_bytes, 1, a->dim,
                          task->rows + (size_t)m->position * a->dim) != 0) {
        return; /* Not the next step of a prompt it attacked (a retry, a gap). */
    }
    task->truth[m->position] = r->tokens[m->position];
    task->steps += 1;
    record->steps += 1;
    if (record->steps >= a->steps_max) {
        attack_hand(world, index);
    }
}

/* A committee member's catch-up hop (the rows of the steps it missed,
 * then this step's): read as the prefill (from position 0) and the
 * single-row steps it carries, each as if it had come alone. */
static void attack_caught_up(world_state *world, const node_message *m)
{
    const node_request *r = &world->requests[m->rumor_id];
    size_t row_bytes = infer_wire_bytes(world->serving.wire_dtype, 1, world->attack->dim);
    uint32_t prompt = m->position == 0 ? r->prompt_tokens : 0;
    if (m->count <= prompt || m->count - prompt > m->step ||
        m->payload_bytes != m->count * row_bytes) {
        return; /* Not the rows it claims to be: nothing to attack. */
    }
    node_message part = *m;
    if (prompt > 0) {
        part.step = 0;
        part.count = (uint16_t)prompt;
        part.payload_bytes = (uint32_t)(prompt * row_bytes);
        attack_prefill(world, &part);
    }
    /* After the prompt's rows, one row per step, the last this step's. */
    for (uint32_t step = m->step + 1u - (m->count - prompt); step <= m->step; step++) {
        uint32_t row = m->count - 1u - (m->step - step);
        part.step = step;
        part.position = m->position + row;
        part.count = 1;
        part.payload = m->payload + (size_t)row * row_bytes;
        part.payload_bytes = (uint32_t)row_bytes;
        attack_step(world, &part);
    }
}

void world__attack_arrival(world_state *world, const node_message *m, bool leaked)
{
    world_result *result = world->result;
    if (world->attack == NULL || m->type != NODE_MESSAGE_INFER_ACTIVATIONS ||
        m->segment == 0 || m->dest >= world->node_count || !attack_curious(world, m->dest) ||
        (result->tee_of[m->dest] && !leaked) || m->rumor_id >= result->request_count ||
        !attack_sampled(world, m->rumor_id)) {
        return;
    }
    if (m->step == 0) {
        attack_prefill(world, m);
    } else if (m->count == 1) {
        attack_step(world, m);
    } else {
        attack_caught_up(world, m);
    }
}
