/* world_oracle.c -- the oracle: when a request completes, the world runs the
 * whole model on the request's tokens with the reference (sequential)
 * kernel and compares the logits the network produced at each step
 * (max-abs, cosine, argmax) with the reference's; on a sample of requests
 * (output.divergence_sample) it does the same for every kernel variant a
 * hardware class uses, which is the honest-divergence data; under
 * verification it checks that the accepted logits agree with some honest
 * execution (the reference, a variant, or under a lossy wire dtype an
 * honest pipeline of one kernel, wire included). The oracle's arithmetic is
 * real but costs no simulated time: it is the experimenter's knowledge, not
 * the network's.
 *
 * Out of the event loop's way:
 *  - A judgement is a job (util/workers.h): its inputs (the tokens, the
 *    network's logits) are copied in when the request completes, a worker
 *    computes, and the event loop applies the results to the result rows
 *    later, always in completion order. Nothing the oracle writes feeds
 *    back into the run, and every other violation is recorded only after
 *    the judgements before it are applied, so rows, their order and the
 *    trace hash are the same for every thread count. With one thread the
 *    job runs and is applied at once, where the inline code ran.
 *  - The checker asks for the honest executions one at a time, in their
 *    fixed order, and stops once every step agrees with one: a variant is
 *    run only when a step disagrees with everything before it (or when the
 *    request is in the divergence sample). The verdict is the same.
 *  - A model run is a pure function of the model, its cut, the kernel, the
 *    wire dtype (all fixed for a world) and the tokens, so results are
 *    cached by the tokens (compared in full, not by hash alone): requests
 *    with the same prompt and the same answer -- a prompt list, greedy
 *    decoding -- reuse them. A hit gives the bits a recomputation gives.
 *
 * Under privacy noise with verification the client noises the accepted
 * output of each segment before forwarding it, from its stream for (request,
 * boundary, step, round). An honest pipeline then ends where its noise
 * took it, not where the clean runs do, so when a step agrees with no clean
 * run the checker also replays, kernel by kernel, the wired pipeline with
 * the very noise the client drew (the rounds it accepted are kept per step
 * and boundary). With kernels mixed, the pipeline the client followed is
 * one no single kernel runs (each boundary's rows from the member it
 * accepted), so when a step still agrees with nothing the checker replays
 * that one too (the accepted members' kernels are kept per step and
 * boundary). These runs depend on the request, and are never cached. */
#include <math.h>
#include <string.h>

#include "consensus/cons.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/prng.h"
#include "util/workers.h"
#include "world/world_int.h"

#define ORACLE_CACHE_ENTRIES 64u
#define ORACLE_CACHE_BYTES_MAX (64u << 20)   /* the cache holds fewer entries past this */
#define ORACLE_SLOTS_BYTES_MAX (256u << 20)  /* job slots past one per thread */
#define ORACLE_RUNS WORLD_ORACLE_RUNS   /* reference, variants, wired */

/* Index of a run in a job's or an entry's arrays. */
#define RUN_REFERENCE 0u
#define RUN_VARIANT(k) (1u + (k))
#define RUN_WIRED(k) (1u + INFER_KERNEL_COUNT + (k))

/* One thread's scratch space for model runs. */
typedef struct oracle_scratch {
    infer_executor *executor;
    float *x;                        /* sequence * dim */
    float *in, *out;                 /* mixed: sequence * dim each, a segment's input, output */
    void *kv;                        /* every layer */
    uint8_t *wire;                   /* one wire encoding of a sequence */
} oracle_scratch;

/* One judgement: inputs copied in by the event loop, outputs read by it
 * once the job has run. */
typedef struct oracle_job {
    util_job job;                    /* first: the pool hands this back */
    world_oracle *oracle;
    uint64_t request;
    uint64_t at_ns;                  /* completion: the violations' time */
    uint32_t prompt_tokens;
    bool seen;                       /* the world saw every step's logits */
    bool sampled;                    /* in the divergence sample */
    uint32_t *tokens;                /* sequence */
    float *network;                  /* generate * vocab: what the network produced */
    float *runs[ORACLE_RUNS];        /* generate * vocab each */
    uint32_t have;                   /* bit i: runs[i] holds its logits */
    uint32_t computed;               /* bit i: computed by this job (cache it) */
    uint32_t uncached_runs;          /* runs never cached: noised measures, replays */
    uint64_t flops_reference;
    world_divergence_record network_divergence;
    world_divergence_record divergence[INFER_KERNEL_COUNT];
    world_divergence_record noised[INFER_KERNEL_COUNT]; /* privacy: each kernel, noised */
    float *uncached_out;             /* generate * vocab: a run never cached (privacy, mixed) */
    uint8_t *wrong;                  /* generate: the step agrees with no honest run */
    uint32_t client;                 /* replay: the sender of the noised boundaries */
    uint8_t *rounds;                 /* replay: [segment * generate + step], the round the
                                      * client accepted before noising boundary 'segment' */
    uint8_t *kernels;                /* mixed: [segment * generate + step], 1 + the kernel of
                                      * the member whose output the client accepted before
                                      * boundary 'segment'; 0: not seen */
} oracle_job;

typedef struct oracle_entry {
    uint64_t hash;                   /* 0: empty */
    uint32_t prompt_tokens;
    uint32_t *tokens;
    uint32_t have;
    uint64_t flops_reference;
    float *runs[ORACLE_RUNS];
} oracle_entry;

struct world_oracle {
    /* Read by the jobs; written only while the world is built. */
    const infer_model *model;
    uint32_t dim, vocab, generate, sequence;
    uint32_t segment_count;
    uint32_t segment_first[NODE_SEGMENTS_MAX];
    uint32_t segment_layers[NODE_SEGMENTS_MAX];
    infer_dtype wire_dtype;
    bool kernel_used[INFER_KERNEL_COUNT];
    bool verifying;
    bool lossy;                      /* verifying under a wire dtype other than fp32 */
    cons_agreement final_agreement;
    bool noised;                     /* a privacy section: measure what its noise costs */
    uint64_t privacy_mask;           /* noised boundaries, as node_serving's */
    double privacy_clip;
    double privacy_sigma;
    uint64_t privacy_seed;
    bool replay;                     /* noised and verifying: the checker replays the noise */
    bool mixed;                      /* verifying, more than one kernel in use and segment:
                                      * the checker replays the kernels the client accepted */
    const uint8_t *kernel_of;        /* each node's kernel (the serving context's) */
    /* The event loop's. */
    double sample;
    uint64_t seed;
    util_workers *workers;
    oracle_scratch *scratch;         /* one per thread */
    uint32_t scratch_count;
    oracle_job *jobs;                /* a ring of slot_count */
    uint32_t slot_count;
    uint32_t oldest;
    uint32_t pending;                /* submitted, not applied */
    oracle_entry *cache;
    uint32_t cache_count;
    uint32_t cache_next;             /* the entry replaced next */
    uint8_t *rounds;                 /* replay: per request, as oracle_job.rounds */
    uint8_t *kernels;                /* mixed: per request, as oracle_job.kernels */
    uint64_t request_count;
};

static int oracle_job_init(world_oracle *o, oracle_job *job);

/* ---- model runs (any thread) ---- */

/* Passes 'count' rows of x through the wire dtype and back. */
static void oracle_wire_round_trip(const world_oracle *o, oracle_scratch *s, uint32_t count)
{
    size_t bytes = infer_wire_bytes(o->wire_dtype, count, o->dim);
    infer_wire_encode(o->wire_dtype, s->x, count, o->dim, s->wire);
    int rc = infer_wire_decode(o->wire_dtype, s->wire, bytes, count, o->dim, s->x);
    ASSERT(rc == 0); /* Our own encoding of finite values. */
}

/* How a run treats the activations between segments. */
typedef enum oracle_wire {
    ORACLE_CLEAN,                    /* one pass over the layers at full precision */
    ORACLE_WIRED,                    /* through the wire dtype, as servers send them */
    ORACLE_WIRED_NOISED,             /* and noised from the caller's stream (a measure) */
    ORACLE_WIRED_REPLAY,             /* and noised as the client did (the checker) */
} oracle_wire;

/* The rows step 'step' adds to the sequence: the prompt's at step 0, then
 * one, the token generated before. */
static void oracle_step_rows(const oracle_job *job, uint32_t step, uint32_t *first,
                             uint32_t *rows)
{
    *first = step == 0 ? 0 : job->prompt_tokens - 1 + step;
    *rows = step == 0 ? job->prompt_tokens : 1;
}

/* The client's noise on the rows entering boundary 'segment', replayed:
 * the rows come through the wire as the members revealed them, then step
 * 0's prompt rows are noised from the stream of the round the client
 * accepted at step 0, and each later step's one row from its own. */
static void oracle_replay_noise(const world_oracle *o, oracle_scratch *s, const oracle_job *job,
                                uint32_t segment, uint32_t count)
{
    oracle_wire_round_trip(o, s, count);
    for (uint32_t step = 0; step < o->generate; step++) {
        uint32_t first, rows;
        oracle_step_rows(job, step, &first, &rows);
        ASSERT(first + rows <= count);
        util_prng stream;
        node_privacy_stream_of(o->privacy_seed, job->client, job->request, segment, step,
                               job->rounds[(size_t)segment * o->generate + step], &stream);
        node_privacy_noise(s->x + (size_t)first * o->dim, rows, o->dim, o->privacy_clip,
                           o->privacy_sigma, &stream);
    }
}

/* The rows leaving a segment for 'boundary' (its next one): noised first
 * when that boundary is (from 'noise', or as the client did), then through
 * the wire dtype. */
static void oracle_boundary(const world_oracle *o, oracle_scratch *s, const oracle_job *job,
                            oracle_wire wire, util_prng *noise, uint32_t boundary, uint32_t count)
{
    bool noised = (o->privacy_mask >> boundary) & 1u;
    if (noised && wire == ORACLE_WIRED_NOISED) {
        node_privacy_noise(s->x, count, o->dim, o->privacy_clip, o->privacy_sigma, noise);
    } else if (noised && wire == ORACLE_WIRED_REPLAY) {
        oracle_replay_noise(o, s, job, boundary, count);
    }
    oracle_wire_round_trip(o, s, count);
}

/* Layers [first, first + layers) with 'kernel' over the 'count' rows of
 * s->x, in place, from an empty cache; only the last 'tail' rows through
 * the last layer (infer_forward_tail). */
static void oracle_layers(const world_oracle *o, oracle_scratch *s, infer_kernel kernel,
                          uint32_t first, uint32_t layers, uint32_t count, uint32_t tail)
{
    infer_kv kv;
    infer_kv_init(&kv, infer_model_shape(o->model), first, layers, s->kv);
    uint64_t flops = 0;
    int rc = infer_forward_tail(s->executor, kernel, &kv, s->x, count, tail, &flops);
    ASSERT(rc == 0); /* count is within the executor's sequence. */
}

/* The layers a whole-model run takes: the segments' together. */
static uint32_t oracle_layer_count(const world_oracle *o)
{
    uint32_t last = o->segment_count - 1;
    return o->segment_first[last] + o->segment_layers[last];
}

/* The logits of each generation step, from the last rows of s->x. */
static void oracle_logits(const world_oracle *o, oracle_scratch *s, const oracle_job *job,
                          infer_kernel kernel, float *out)
{
    uint64_t flops = 0;
    for (uint32_t step = 0; step < o->generate; step++) {
        const float *x = s->x + (size_t)(job->prompt_tokens - 1 + step) * o->dim;
        infer_logits(s->executor, kernel, x, out + (size_t)step * o->vocab, &flops);
    }
}

/* The FLOPs of one reference execution of the job's tokens, as servers'
 * calls count them: every layer over every position, and the logits of
 * every step (the oracle's runs skip the last layer's rows no logits read). */
static uint64_t oracle_run_flops(const world_oracle *o, const oracle_job *job)
{
    const infer_shape *shape = infer_model_shape(o->model);
    uint32_t count = job->prompt_tokens + o->generate - 1;
    return infer_forward_flops(shape, oracle_layer_count(o), 0, count, false) +
           (uint64_t)o->generate * infer_forward_flops(shape, 0, 0, 0, true);
}

/* Runs the whole model with 'kernel' on the tokens (prompt and every
 * generated token but the last, one prefill: the executor gives the same
 * bits as step by step; the last layer only for the rows whose logits are
 * read) and writes the logits of each generation step to
 * out[generate * vocab]. Wired, the activations after every segment but
 * the last go through the wire dtype as the servers send them (the
 * rounding is per value or per row, so a prefill gives the servers' bits);
 * clean, one pass over the layers at full precision. Noised, the rows
 * entering a noised boundary are clipped and noised first, as their sender
 * does: from 'noise' (ORACLE_WIRED_NOISED), or from the client's own
 * streams (ORACLE_WIRED_REPLAY). */
static void oracle_run(const world_oracle *o, oracle_scratch *s, const oracle_job *job,
                       infer_kernel kernel, oracle_wire wire, util_prng *noise, float *out)
{
    ASSERT((noise != NULL) == (wire == ORACLE_WIRED_NOISED));
    ASSERT(wire != ORACLE_WIRED_REPLAY || job->rounds != NULL);
    uint32_t count = job->prompt_tokens + o->generate - 1;
    int rc = infer_embed(s->executor, job->tokens, count, s->x);
    ASSERT(rc == 0); /* Tokens were drawn below vocab or chosen by argmax. */
    uint32_t last = o->segment_count - 1;
    if (wire == ORACLE_CLEAN) {
        oracle_layers(o, s, kernel, 0, oracle_layer_count(o), count, o->generate);
    }
    for (uint32_t seg = 0; wire != ORACLE_CLEAN && seg <= last; seg++) {
        oracle_layers(o, s, kernel, o->segment_first[seg], o->segment_layers[seg], count,
                      seg < last ? count : o->generate);
        if (seg < last) {
            oracle_boundary(o, s, job, wire, noise, seg + 1, count);
        }
    }
    oracle_logits(o, s, job, kernel, out);
}

/* The logits of run 'index' of the job, computed on first use. */
static const float *oracle_need(oracle_job *job, oracle_scratch *s, uint32_t index)
{
    const world_oracle *o = job->oracle;
    if (!(job->have & (1u << index))) {
        bool wired = index >= RUN_WIRED(0);
        infer_kernel kernel = index == RUN_REFERENCE ? INFER_KERNEL_SEQUENTIAL
                              : wired ? (infer_kernel)(index - RUN_WIRED(0))
                                      : (infer_kernel)(index - RUN_VARIANT(0));
        oracle_run(o, s, job, kernel, wired ? ORACLE_WIRED : ORACLE_CLEAN, NULL,
                   job->runs[index]);
        if (index == RUN_REFERENCE) {
            job->flops_reference = oracle_run_flops(o, job);
        }
        job->have |= 1u << index;
        job->computed |= 1u << index;
    }
    return job->runs[index];
}

/* Max-abs difference, smallest cosine and argmax agreement of 'steps' rows
 * of logits against the reference rows. */
static world_divergence_record oracle_compare(const float *rows, const float *reference,
                                              uint32_t steps, uint32_t vocab)
{
    world_divergence_record d = {0.0, 1.0, 0.0};
    uint32_t agree = 0;
    for (uint32_t k = 0; k < steps; k++) {
        const float *a = rows + (size_t)k * vocab;
        const float *b = reference + (size_t)k * vocab;
        double dot = 0.0, norm_a = 0.0, norm_b = 0.0;
        for (uint32_t v = 0; v < vocab; v++) {
            double diff = fabs((double)a[v] - (double)b[v]);
            d.logits_maxabs = diff > d.logits_maxabs ? diff : d.logits_maxabs;
            dot += (double)a[v] * b[v];
            norm_a += (double)a[v] * a[v];
            norm_b += (double)b[v] * b[v];
        }
        double cosine = norm_a > 0 && norm_b > 0 ? dot / sqrt(norm_a * norm_b) : 0.0;
        d.logits_cosine = cosine < d.logits_cosine ? cosine : d.logits_cosine;
        agree += infer_argmax(a, vocab) == infer_argmax(b, vocab);
    }
    d.argmax_agree = steps > 0 ? (double)agree / steps : NAN;
    return d;
}

/* The honest runs the checker accepts, in its order: the reference, each
 * variant in use, then under a lossy wire each kernel's wired pipeline.
 * Returns how many it wrote to order[]. */
static uint32_t oracle_honest_order(const world_oracle *o, uint32_t order[ORACLE_RUNS])
{
    uint32_t count = 0;
    for (uint32_t k = 0; k < INFER_KERNEL_COUNT; k++) {
        if (k == INFER_KERNEL_SEQUENTIAL) {
            order[count++] = RUN_REFERENCE;
        } else if (o->kernel_used[k]) {
            order[count++] = RUN_VARIANT(k);
        }
    }
    for (uint32_t k = 0; o->lossy && k < INFER_KERNEL_COUNT; k++) {
        if (o->kernel_used[k]) {
            order[count++] = RUN_WIRED(k);
        }
    }
    return count;
}

/* Clears job->wrong for every step whose logits agree with 'rows' under
 * the final rule; returns the steps still unmatched. */
static uint32_t oracle_match(oracle_job *job, const float *rows, uint32_t unmatched)
{
    const world_oracle *o = job->oracle;
    for (uint32_t step = 0; step < o->generate; step++) {
        size_t at = (size_t)step * o->vocab;
        if (job->wrong[step] &&
            cons_agree(&o->final_agreement, job->network + at, rows + at, o->vocab)) {
            job->wrong[step] = 0;
            unmatched -= 1;
        }
    }
    return unmatched;
}

/* Segment 'seg' as the members the client accepted computed it, on the
 * rows in s->x: for each kernel that answered a step, the segment over
 * every position (as that member's cache holds them), keeping the rows of
 * the steps it answered. */
static void oracle_segment_accepted(const world_oracle *o, oracle_scratch *s,
                                    const oracle_job *job, uint32_t seg, uint32_t count)
{
    const uint8_t *kernels = job->kernels + (size_t)(seg + 1) * o->generate;
    size_t bytes = (size_t)count * o->dim * sizeof(float);
    memcpy(s->in, s->x, bytes);
    for (uint32_t k = 0; k < INFER_KERNEL_COUNT; k++) {
        bool answered = false;
        for (uint32_t step = 0; step < o->generate; step++) {
            answered = answered || kernels[step] == k + 1;
        }
        if (!answered) {
            continue;
        }
        memcpy(s->x, s->in, bytes);
        oracle_layers(o, s, (infer_kernel)k, o->segment_first[seg], o->segment_layers[seg], count,
                      count);
        for (uint32_t step = 0; step < o->generate; step++) {
            uint32_t first, rows;
            oracle_step_rows(job, step, &first, &rows);
            if (kernels[step] == k + 1) {
                memcpy(s->out + (size_t)first * o->dim, s->x + (size_t)first * o->dim,
                       (size_t)rows * o->dim * sizeof(float));
            }
        }
    }
    memcpy(s->x, s->out, bytes);
}

/* The honest pipeline the client followed, where kernels are mixed: at
 * every boundary each step's rows as the kernel of the member it accepted
 * computes them, through the wire (with the client's noise, replayed),
 * then the last segment with each kernel in use. Clears the steps whose
 * accepted logits agree with one. A run of single kernels misses such a
 * pipeline when the kernels' drift tips a near tie of the logits. */
static void oracle_check_accepted(oracle_job *job, oracle_scratch *s, uint32_t unmatched)
{
    const world_oracle *o = job->oracle;
    for (size_t i = o->generate; i < (size_t)o->segment_count * o->generate; i++) {
        if (job->kernels[i] == 0) {
            return; /* A boundary the oracle did not see accepted. */
        }
    }
    uint32_t count = job->prompt_tokens + o->generate - 1;
    size_t bytes = (size_t)count * o->dim * sizeof(float);
    int rc = infer_embed(s->executor, job->tokens, count, s->x);
    ASSERT(rc == 0); /* Tokens were drawn below vocab or chosen by argmax. */
    uint32_t last = o->segment_count - 1;
    oracle_wire wire = o->replay ? ORACLE_WIRED_REPLAY : ORACLE_WIRED;
    for (uint32_t seg = 0; seg < last; seg++) {
        oracle_segment_accepted(o, s, job, seg, count);
        oracle_boundary(o, s, job, wire, NULL, seg + 1, count);
    }
    memcpy(s->in, s->x, bytes);
    for (uint32_t k = 0; k < INFER_KERNEL_COUNT && unmatched > 0; k++) {
        if (!o->kernel_used[k]) {
            continue;
        }
        memcpy(s->x, s->in, bytes);
        oracle_layers(o, s, (infer_kernel)k, o->segment_first[last], o->segment_layers[last],
                      count, o->generate);
        oracle_logits(o, s, job, (infer_kernel)k, job->uncached_out);
        job->uncached_runs += 1;
        unmatched = oracle_match(job, job->uncached_out, unmatched);
    }
}

/* A step is wrong when it agrees, under the final rule, with no honest run.
 * Runs are asked for in order and only while a step is still unmatched. */
static void oracle_check(oracle_job *job, oracle_scratch *s)
{
    const world_oracle *o = job->oracle;
    uint32_t order[ORACLE_RUNS];
    uint32_t honest = oracle_honest_order(o, order);
    uint32_t unmatched = o->generate;
    memset(job->wrong, 1, o->generate);
    for (uint32_t i = 0; i < honest && unmatched > 0; i++) {
        unmatched = oracle_match(job, oracle_need(job, s, order[i]), unmatched);
    }
    /* Privacy: the honest pipelines with the client's own noise. */
    for (uint32_t k = 0; o->replay && k < INFER_KERNEL_COUNT && unmatched > 0; k++) {
        if (o->kernel_used[k]) {
            oracle_run(o, s, job, (infer_kernel)k, ORACLE_WIRED_REPLAY, NULL, job->uncached_out);
            job->uncached_runs += 1;
            unmatched = oracle_match(job, job->uncached_out, unmatched);
        }
    }
    if (o->mixed && unmatched > 0) {
        oracle_check_accepted(job, s, unmatched);
    }
}

/* What the noise costs per class (privacy): every kernel variant in use,
 * the reference's included, run on the request's tokens with the section's
 * clipping and noise at every noised boundary, against the clean
 * reference. The draws are the oracle's own, from a stream of (request,
 * kernel) -- the same mechanism as the network's, not its bits -- so the
 * comparison costs no simulated time and moves no node's stream. */
static void oracle_noised(oracle_job *job, oracle_scratch *s, const float *reference)
{
    const world_oracle *o = job->oracle;
    for (uint32_t k = 0; k < INFER_KERNEL_COUNT; k++) {
        if (!o->kernel_used[k]) {
            continue;
        }
        util_prng noise;
        util_prng_init_stream(&noise, o->privacy_seed ^ util_mix64(job->request ^ UINT64_C(0x6f72)),
                              UINT32_MAX - k, UTIL_PRNG_PURPOSE_PRIVACY);
        oracle_run(o, s, job, (infer_kernel)k, ORACLE_WIRED_NOISED, &noise, job->uncached_out);
        job->uncached_runs += 1;
        job->noised[k] = oracle_compare(job->uncached_out, reference, o->generate, o->vocab);
    }
}

static void oracle_job_run(util_job *base, uint32_t thread_index)
{
    oracle_job *job = (oracle_job *)base;
    const world_oracle *o = job->oracle;
    oracle_scratch *s = &job->oracle->scratch[thread_index];
    const float *reference = oracle_need(job, s, RUN_REFERENCE);
    job->network_divergence = oracle_compare(job->network, reference, o->generate, o->vocab);
    for (uint32_t k = 0; job->sampled && k < INFER_KERNEL_COUNT; k++) {
        if (k == INFER_KERNEL_SEQUENTIAL) {
            /* The reference against itself: exact, nothing to run. */
            job->divergence[k] = (world_divergence_record){0.0, 1.0, 1.0};
        } else if (o->kernel_used[k]) {
            const float *variant = oracle_need(job, s, RUN_VARIANT(k));
            job->divergence[k] = oracle_compare(variant, reference, o->generate, o->vocab);
        }
    }
    if (o->noised && job->sampled) {
        oracle_noised(job, s, reference);
    }
    if (o->verifying) {
        oracle_check(job, s);
    }
}

/* ---- the cache (the event loop's) ---- */

static uint64_t oracle_key_hash(const uint32_t *tokens, uint32_t count, uint32_t prompt_tokens)
{
    uint64_t hash = 0xcbf29ce484222325ull ^ prompt_tokens;
    for (uint32_t i = 0; i < count; i++) {
        hash = (hash ^ tokens[i]) * 0x100000001b3ull;
    }
    return hash | 1u; /* 0 marks an empty entry */
}

static oracle_entry *oracle_cache_find(world_oracle *o, const oracle_job *job, uint64_t hash)
{
    uint32_t count = job->prompt_tokens + o->generate - 1;
    for (uint32_t i = 0; i < o->cache_count; i++) {
        oracle_entry *e = &o->cache[i];
        if (e->hash == hash && e->prompt_tokens == job->prompt_tokens &&
            memcmp(e->tokens, job->tokens, count * sizeof(uint32_t)) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Gives the job every run the cache holds for its tokens. */
static void oracle_cache_lookup(world_oracle *o, oracle_job *job, world_result *result)
{
    if (o->cache_count == 0) {
        return;
    }
    uint32_t count = job->prompt_tokens + o->generate - 1;
    const oracle_entry *e = oracle_cache_find(o, job, oracle_key_hash(job->tokens, count,
                                                                      job->prompt_tokens));
    if (e == NULL) {
        return;
    }
    size_t bytes = (size_t)o->generate * o->vocab * sizeof(float);
    for (uint32_t i = 0; i < ORACLE_RUNS; i++) {
        if (e->have & (1u << i)) {
            memcpy(job->runs[i], e->runs[i], bytes);
        }
    }
    job->have = e->have;
    job->flops_reference = e->flops_reference;
    result->oracle_cache_hits += 1;
}

/* Keeps what the job computed for later requests with the same tokens. */
static void oracle_cache_store(world_oracle *o, const oracle_job *job)
{
    if (o->cache_count == 0 || job->computed == 0) {
        return;
    }
    uint32_t count = job->prompt_tokens + o->generate - 1;
    uint64_t hash = oracle_key_hash(job->tokens, count, job->prompt_tokens);
    oracle_entry *e = oracle_cache_find(o, job, hash);
    if (e == NULL) {
        e = &o->cache[o->cache_next];
        o->cache_next = (o->cache_next + 1) % o->cache_count;
        e->hash = hash;
        e->prompt_tokens = job->prompt_tokens;
        e->have = 0;
        memcpy(e->tokens, job->tokens, count * sizeof(uint32_t));
    }
    size_t bytes = (size_t)o->generate * o->vocab * sizeof(float);
    for (uint32_t i = 0; i < ORACLE_RUNS; i++) {
        if ((job->have & (1u << i)) && !(e->have & (1u << i))) {
            memcpy(e->runs[i], job->runs[i], bytes);
        }
    }
    if (job->have & (1u << RUN_REFERENCE)) {
        e->flops_reference = job->flops_reference;
    }
    e->have |= job->have;
}

/* ---- submitting and applying (the event loop's) ---- */

static bool oracle_sampled(const world_oracle *o, uint64_t request)
{
    if (o->sample >= 1.0) {
        return true;
    }
    util_prng prng;
    util_prng_init_stream(&prng, o->seed, request, UTIL_PRNG_PURPOSE_DIVERGENCE);
    return util_prng_uniform(&prng) < o->sample;
}

/* Writes a judged request's results into the result, as the inline oracle
 * did at the request's completion. */
static void oracle_apply(world_state *world, oracle_job *job)
{
    world_oracle *o = world->oracle;
    world_result *result = world->result;
    world_request_record *record = &result->requests[job->request];
    const float *reference = job->runs[RUN_REFERENCE];
    result->native_flops += job->flops_reference;
    uint32_t match = 0;
    for (uint32_t k = 0; k < o->generate; k++) {
        match += infer_argmax(reference + (size_t)k * o->vocab, o->vocab) ==
                 job->tokens[job->prompt_tokens + k];
    }
    record->compared = true;
    record->reference_match = match == o->generate;
    record->argmax_agree = (double)match / o->generate;
    /* A hosted world sees the logits only of the steps whose last segment it
     * hosts (or, verified, that its client accepted): with some missing, the
     * network's logits are unknown here, not zero. */
    record->logits_maxabs = job->seen ? job->network_divergence.logits_maxabs : NAN;
    record->logits_cosine = job->seen ? job->network_divergence.logits_cosine : NAN;
    record->divergence_sampled = job->sampled;
    for (uint32_t k = 0; job->sampled && k < INFER_KERNEL_COUNT; k++) {
        if (k == INFER_KERNEL_SEQUENTIAL || o->kernel_used[k]) {
            result->divergence[job->request * INFER_KERNEL_COUNT + k] = job->divergence[k];
        }
        if (o->noised && o->kernel_used[k]) {
            result->divergence_noised[job->request * INFER_KERNEL_COUNT + k] = job->noised[k];
        }
    }
    if (o->verifying) {
        for (uint32_t step = 0; step < o->generate; step++) {
            uint32_t token = job->tokens[job->prompt_tokens + step];
            if (world->result->targeting &&
                infer_argmax(reference + (size_t)step * o->vocab, o->vocab) != token &&
                world__adversary_targets(world, token)) {
                result->targeted_tokens_accepted += 1;
            }
            if (job->wrong[step]) {
                record->accepted_wrong = true;
                world__check_violation_at(world, WORLD_VIOLATION_ACCEPTED_WRONG, job->at_ns,
                                          job->request, o->segment_count - 1, UINT32_MAX, step);
            }
        }
        result->accepted_wrong += record->accepted_wrong;
    }
    for (uint32_t i = 0; i < ORACLE_RUNS; i++) {
        result->oracle_runs += (job->computed >> i) & 1u;
    }
    result->oracle_runs += job->uncached_runs;
    oracle_cache_store(o, job);
}

/* Waits for the oldest job and applies it. */
static void oracle_apply_oldest(world_state *world)
{
    world_oracle *o = world->oracle;
    ASSERT(o->pending > 0);
    oracle_job *job = &o->jobs[o->oldest];
    util_workers_wait(o->workers, &job->job);
    oracle_apply(world, job);
    o->oldest = (o->oldest + 1) % o->slot_count;
    o->pending -= 1;
}

static uint64_t oracle_clock(const world_state *world)
{
    const world_observer *observer = world->observer;
    return observer != NULL && observer->clock_ns != NULL ? observer->clock_ns(observer->context)
                                                          : 0;
}

/* A job's size for the pool (util_job.cost): the FLOPs of one whole-model
 * run on its tokens, times the runs a sampled job makes (every kernel in
 * use); a checker's extra runs are left out. The unit is the servers'
 * forward calls' (world_forward.c), so a caller waiting for a short call
 * does not take up a judgement meanwhile. */
static uint64_t oracle_job_cost(const world_oracle *o, const oracle_job *job)
{
    uint64_t run = infer_forward_flops(infer_model_shape(o->model), oracle_layer_count(o), 0,
                                       job->prompt_tokens + o->generate - 1, true);
    uint64_t runs = 1;
    for (uint32_t k = 0; job->sampled && k < INFER_KERNEL_COUNT; k++) {
        runs += o->kernel_used[k] && k != INFER_KERNEL_SEQUENTIAL;
    }
    return run * runs;
}

void world__oracle_submit(world_state *world, uint64_t request, const node_outcome *outcome)
{
    world_oracle *o = world->oracle;
    uint64_t start = oracle_clock(world);
    if (o->pending == o->slot_count) {
        oracle_apply_oldest(world);
    }
    oracle_job *job = &o->jobs[(o->oldest + o->pending) % o->slot_count];
    job->request = request;
    job->at_ns = world->now_ns;
    job->prompt_tokens = outcome->prompt_tokens;
    job->seen = world->oracle_steps_of[request] >= o->generate;
    job->sampled = oracle_sampled(o, request);
    job->have = 0;
    job->computed = 0;
    job->uncached_runs = 0;
    job->flops_reference = 0;
    ASSERT(outcome->prompt_tokens + o->generate <= o->sequence);
    memcpy(job->tokens, outcome->tokens,
           (size_t)(outcome->prompt_tokens + o->generate) * sizeof(uint32_t));
    memcpy(job->network, util_pool_block(&world->oracle_pool, world->oracle_block_of[request] - 1),
           (size_t)o->generate * o->vocab * sizeof(float));
    size_t per_request = (size_t)o->segment_count * o->generate;
    if (o->replay) {
        job->client = world->result->requests[request].client;
        memcpy(job->rounds, o->rounds + request * per_request, per_request);
    }
    if (o->mixed) {
        memcpy(job->kernels, o->kernels + request * per_request, per_request);
    }
    oracle_cache_lookup(o, job, world->result);
    job->job.cost = oracle_job_cost(o, job);
    o->pending += 1;
    util_workers_submit(o->workers, &job->job);
    /* Apply what has finished, in order; with one thread, this job. */
    while (o->pending > 0 && util_workers_done(o->workers, &o->jobs[o->oldest].job)) {
        oracle_apply_oldest(world);
    }
    world->result->wall_oracle_ns += oracle_clock(world) - start;
}

void world__oracle_accepted(world_state *world, uint64_t request, uint32_t segment,
                            uint32_t round, uint32_t member)
{
    world_oracle *o = world->oracle;
    if (o == NULL || !(o->replay || o->mixed) || segment + 1 >= o->segment_count) {
        return;
    }
    ASSERT(request < o->request_count && round <= UINT8_MAX); /* retries <= 16 */
    ASSERT(member < world->scenario->nodes.count); /* a member the world drew */
    uint32_t step = world->requests[request].generated;
    ASSERT(step < o->generate);
    size_t at = (request * o->segment_count + segment + 1) * o->generate + step;
    if (o->replay) {
        o->rounds[at] = (uint8_t)round;
    }
    if (o->mixed) {
        o->kernels[at] = (uint8_t)(1u + o->kernel_of[member]);
    }
}

void world_oracle_flush(world_state *world)
{
    world_oracle *o = world->oracle;
    if (o == NULL || o->pending == 0) {
        return;
    }
    uint64_t start = oracle_clock(world);
    while (o->pending > 0) {
        oracle_apply_oldest(world);
    }
    world->result->wall_oracle_ns += oracle_clock(world) - start;
}

/* The runs of one judgement of 'tokens' made outside the run, through the
 * cache when 'use_cache' (a test's window on it). */
int world__oracle_probe(world_state *world, const uint32_t *tokens, uint32_t prompt_tokens,
                        bool use_cache, float *runs_out, uint32_t *have_out)
{
    world_oracle *o = world->oracle;
    ASSERT(prompt_tokens >= 1 && prompt_tokens + o->generate <= o->sequence);
    oracle_job job;
    memset(&job, 0, sizeof(job));
    int rc = oracle_job_init(o, &job);
    if (rc == 0) {
        memcpy(job.tokens, tokens, (size_t)(prompt_tokens + o->generate) * sizeof(uint32_t));
        job.prompt_tokens = prompt_tokens;
        job.sampled = true;
        if (use_cache) {
            oracle_cache_lookup(o, &job, world->result);
        }
        /* Index 0 is the event loop's own scratch: no job of the pool runs
         * there unless this thread runs it. */
        oracle_job_run(&job.job, 0);
        if (use_cache) {
            oracle_cache_store(o, &job);
        }
        size_t rows = (size_t)o->generate * o->vocab;
        memcpy(runs_out, job.runs[0], rows * ORACLE_RUNS * sizeof(float));
        *have_out = job.have;
    }
    util_free(job.tokens);
    util_free(job.network);
    util_free(job.wrong);
    util_free(job.uncached_out);
    util_free(job.rounds);
    util_free(job.kernels);
    return rc;
}

/* ---- building ---- */

static void oracle_context(world_oracle *o, const world_state *world)
{
    const node_serving *serving = &world->serving;
    const scn_scenario *scenario = world->scenario;
    o->model = world->model;
    o->dim = serving->dim;
    o->vocab = serving->vocab;
    o->generate = serving->generate_tokens;
    o->sequence = scenario->workload.prompt_max + scenario->workload.generate_tokens;
    o->segment_count = serving->segment_count;
    memcpy(o->segment_first, serving->segment_first, sizeof(o->segment_first));
    memcpy(o->segment_layers, serving->segment_layers, sizeof(o->segment_layers));
    o->wire_dtype = serving->wire_dtype;
    memcpy(o->kernel_used, world->result->kernel_used, sizeof(o->kernel_used));
    o->verifying = world->verifying;
    o->lossy = world->verifying && serving->wire_dtype != INFER_DTYPE_FP32;
    o->final_agreement = world->final_agreement;
    o->sample = scenario->output.divergence_sample;
    o->noised = scenario->privacy.enabled; /* result->divergence_noised is allocated */
    o->privacy_mask = serving->privacy_mask;
    o->privacy_clip = serving->privacy_clip;
    o->privacy_sigma = serving->privacy_sigma;
    o->privacy_seed = serving->privacy_seed;
    o->replay = o->noised && o->verifying;
    uint32_t kernels = 0;
    for (uint32_t k = 0; k < INFER_KERNEL_COUNT; k++) {
        kernels += o->kernel_used[k];
    }
    o->mixed = o->verifying && kernels > 1 && o->segment_count > 1;
    o->kernel_of = serving->kernel_of;
    o->request_count = world->result->request_count;
    o->seed = scenario->seed;
}

static int oracle_scratch_init(world_oracle *o, oracle_scratch *s, uint32_t layers)
{
    s->x = util_calloc((size_t)o->sequence * o->dim, sizeof(float));
    s->kv = util_malloc(infer_kv_bytes(infer_model_shape(o->model), layers));
    s->wire = util_malloc(infer_wire_bytes(o->wire_dtype, o->sequence, o->dim));
    if (o->mixed) {
        s->in = util_calloc((size_t)o->sequence * o->dim, sizeof(float));
        s->out = util_calloc((size_t)o->sequence * o->dim, sizeof(float));
    }
    if (s->x == NULL || s->kv == NULL || s->wire == NULL ||
        (o->mixed && (s->in == NULL || s->out == NULL)) ||
        infer_executor_create(o->model, o->sequence, &s->executor) != 0) {
        return WORLD_ENOMEM;
    }
    return 0;
}

/* One job slot: its arrays in one block. */
static int oracle_job_init(world_oracle *o, oracle_job *job)
{
    size_t rows = (size_t)o->generate * o->vocab;
    job->job.run = oracle_job_run;
    job->oracle = o;
    job->tokens = util_calloc(o->sequence, sizeof(uint32_t));
    job->network = util_calloc(rows * (ORACLE_RUNS + 1), sizeof(float));
    job->wrong = util_calloc(o->generate, 1);
    bool uncached = o->noised || o->mixed;
    job->uncached_out = uncached ? util_calloc(rows, sizeof(float)) : NULL;
    job->rounds = o->replay ? util_calloc((size_t)o->segment_count * o->generate, 1) : NULL;
    job->kernels = o->mixed ? util_calloc((size_t)o->segment_count * o->generate, 1) : NULL;
    if (job->tokens == NULL || job->network == NULL || job->wrong == NULL ||
        (uncached && job->uncached_out == NULL) || (o->replay && job->rounds == NULL) ||
        (o->mixed && job->kernels == NULL)) {
        return WORLD_ENOMEM;
    }
    for (uint32_t i = 0; i < ORACLE_RUNS; i++) {
        job->runs[i] = job->network + rows * (i + 1);
    }
    return 0;
}

static int oracle_cache_init(world_oracle *o)
{
    size_t rows = (size_t)o->generate * o->vocab;
    size_t entry_bytes = rows * ORACLE_RUNS * sizeof(float) + o->sequence * sizeof(uint32_t);
    uint64_t fit = ORACLE_CACHE_BYTES_MAX / (entry_bytes > 0 ? entry_bytes : 1);
    o->cache_count = fit < ORACLE_CACHE_ENTRIES ? (uint32_t)fit : ORACLE_CACHE_ENTRIES;
    if (o->cache_count == 0) {
        return 0;
    }
    o->cache = util_calloc(o->cache_count, sizeof(*o->cache));
    if (o->cache == NULL) {
        return WORLD_ENOMEM;
    }
    for (uint32_t i = 0; i < o->cache_count; i++) {
        oracle_entry *e = &o->cache[i];
        e->tokens = util_calloc(o->sequence, sizeof(uint32_t));
        e->runs[0] = util_calloc(rows * ORACLE_RUNS, sizeof(float));
        if (e->tokens == NULL || e->runs[0] == NULL) {
            return WORLD_ENOMEM;
        }
        for (uint32_t r = 1; r < ORACLE_RUNS; r++) {
            e->runs[r] = e->runs[0] + rows * r;
        }
    }
    return 0;
}

int world__oracle_build(world_state *world)
{
    ASSERT(world->inference);
    world_oracle *o = util_calloc(1, sizeof(*o));
    if (o == NULL) {
        return WORLD_ENOMEM;
    }
    world->oracle = o;
    oracle_context(o, world);
    uint32_t threads = world->observer != NULL ? world->observer->threads : 1;
    if (util_workers_create(threads, &o->workers) != 0) {
        return WORLD_ENOMEM;
    }
    threads = util_workers_threads(o->workers);
    size_t per_run = o->request_count * o->segment_count * o->generate;
    o->rounds = o->replay ? util_calloc_sparse(per_run, 1) : NULL;
    o->kernels = o->mixed ? util_calloc_sparse(per_run, 1) : NULL;
    if ((o->replay && o->rounds == NULL) || (o->mixed && o->kernels == NULL)) {
        return WORLD_ENOMEM;
    }
    /* Jobs in flight let the event loop go on while workers judge; a full
     * ring makes it wait (running queued jobs itself). Eight per thread,
     * within ORACLE_SLOTS_BYTES_MAX and at least one per thread; one
     * thread applies each job at once. */
    size_t slot_bytes = (size_t)o->generate * o->vocab * (ORACLE_RUNS + 1) * sizeof(float);
    uint64_t fit = ORACLE_SLOTS_BYTES_MAX / (slot_bytes > 0 ? slot_bytes : 1);
    uint64_t slots = 8ull * threads < fit ? 8ull * threads : fit;
    o->slot_count = threads == 1 ? 1 : slots > threads ? (uint32_t)slots : threads;
    o->scratch = util_calloc(threads, sizeof(*o->scratch));
    o->jobs = util_calloc(o->slot_count, sizeof(*o->jobs));
    if (o->scratch == NULL || o->jobs == NULL) {
        return WORLD_ENOMEM;
    }
    o->scratch_count = threads;
    int rc = 0;
    for (uint32_t i = 0; i < threads && rc == 0; i++) {
        rc = oracle_scratch_init(o, &o->scratch[i], world->scenario->model.layers);
    }
    for (uint32_t i = 0; i < o->slot_count && rc == 0; i++) {
        rc = oracle_job_init(o, &o->jobs[i]);
    }
    return rc == 0 ? oracle_cache_init(o) : rc;
}

util_workers *world__oracle_workers(const world_state *world)
{
    ASSERT(world->oracle != NULL);
    return world->oracle->workers;
}

util_workers *world__draw_workers(const world_state *world)
{
    return world->oracle != NULL ? world->oracle->workers : NULL;
}

void world__oracle_destroy(world_state *world)
{
    world_oracle *o = world->oracle;
    if (o == NULL) {
        return;
    }
    util_workers_destroy(o->workers); /* waits for what is still running */
    for (uint32_t i = 0; o->scratch != NULL && i < o->scratch_count; i++) {
        infer_executor_destroy(o->scratch[i].executor);
        util_free(o->scratch[i].x);
        util_free(o->scratch[i].kv);
        util_free(o->scratch[i].wire);
        util_free(o->scratch[i].in);
        util_free(o->scratch[i].out);
    }
    for (uint32_t i = 0; o->jobs != NULL && i < o->slot_count; i++) {
        util_free(o->jobs[i].tokens);
        util_free(o->jobs[i].network);
        util_free(o->jobs[i].wrong);
        util_free(o->jobs[i].uncached_out);
        util_free(o->jobs[i].rounds);
        util_free(o->jobs[i].kernels);
    }
    util_free(o->rounds);
    util_free(o->kernels);
    for (uint32_t i = 0; o->cache != NULL && i < o->cache_count; i++) {
        util_free(o->cache[i].tokens);
        util_free(o->cache[i].runs[0]);
    }
    util_free(o->scratch);
    util_free(o->jobs);
    util_free(o->cache);
    util_free(o);
    world->oracle = NULL;
}
