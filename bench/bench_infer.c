/* bench_infer.c -- speed of node/infer against the machine it runs on.
 *
 * Ceilings, measured in the same run so figures read as ratios:
 *  - multiply-add throughput of one core: independent chains of
 *    acc = acc * m + c on registers, at the baseline instruction set the
 *    Makefile compiles for (SSE2, separate mul and add) and, where the CPU
 *    has them, with AVX2 (separate mul and add) and with AVX2 FMA
 *    (vfmadd, the true 256-bit peak), the instruction sets the kernels
 *    select at run time;
 *  - STREAM triad a[i] = b[i] + s * c[i] over arrays far larger than the
 *    last-level cache, counting 12 bytes per element as STREAM does.
 * Then, per shape and kernel: a 64-token prefill from position 0 (all
 * layers and the last token's logits) in GFLOP/s and as a fraction of the
 * FMA ceiling, and a one-token decode step at position 64 (all layers and
 * the logits) in GFLOP/s and in weight bytes read per second as a fraction
 * of triad bandwidth. The stories15M shape's best prefill fraction is
 * printed beside its target (BENCH_INFER_PREFILL_TARGET of the FMA
 * ceiling).
 *
 * Every figure is timed on the thread's CPU-time clock, which equals the
 * wall clock on an idle core and, on a shared machine, leaves out the time
 * other processes hold the core (the ceilings and the kernels are timed
 * alike, so their ratios hold either way). Clock reads are allowed in
 * bench/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_infer.h"
#include "bench/bench_runc.h"
#include "node/infer.h"
#include "util/alloc.h"

#define BENCH_INFER_PREFILL 64u
#define BENCH_INFER_DECODE_POS 64u
#define BENCH_INFER_SEED 0x1f3ULL
#define BENCH_INFER_TRIAD_COUNT (24u << 20)    /* floats per array: 96 MiB each */
#define BENCH_INFER_CHAIN_STEPS 5000000u
#define BENCH_INFER_REPEATS 5     /* best of: the machine may be shared */
#define BENCH_INFER_PREFILL_TARGET 0.5   /* stories15M prefill, of the FMA ceiling */

typedef float bench_v4f __attribute__((vector_size(16)));
typedef float bench_v8f __attribute__((vector_size(32)));

typedef struct bench_ceilings {
    double sse2_muladd;       /* GFLOP/s */
    double avx2_muladd;       /* 0 when the CPU lacks AVX2+FMA */
    double avx2_fma;
    double triad;             /* GB/s */
} bench_ceilings;

static double bench_infer_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile float bench_infer_sink;

/* Twelve named accumulators (an array would live in memory): enough
 * independent chains to cover mul, add and fma latency on 16 registers. */
#define BENCH_CHAINS(OP)                                                            \
    do {                                                                            \
        OP(a0); OP(a1); OP(a2); OP(a3); OP(a4); OP(a5);                             \
        OP(a6); OP(a7); OP(a8); OP(a9); OP(a10); OP(a11);                           \
    } while (0)
#define BENCH_SUM(V) (((V)[0] + (V)[1]) + ((V)[2] + (V)[3]))

static double bench_ceiling_sse2(void)
{
    bench_v4f m = {0.9999999f, 0.9999999f, 0.9999999f, 0.9999999f};
    bench_v4f c = {1e-7f, 1e-7f, 1e-7f, 1e-7f};
    bench_v4f a0 = c + 0.0f, a1 = c + 1.0f, a2 = c + 2.0f, a3 = c + 3.0f, a4 = c + 4.0f;
    bench_v4f a5 = c + 5.0f, a6 = c + 6.0f, a7 = c + 7.0f, a8 = c + 8.0f, a9 = c + 9.0f;
    bench_v4f a10 = c + 10.0f, a11 = c + 11.0f;
#define BENCH_MULADD(A) (A) = (A) * m + c
    double start = bench_infer_now_s();
    for (uint32_t i = 0; i < BENCH_INFER_CHAIN_STEPS; i++) {
        BENCH_CHAINS(BENCH_MULADD);
    }
    double seconds = bench_infer_now_s() - start;
    bench_v4f total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
    bench_infer_sink = BENCH_SUM(total);
    return 2.0 * 4 * 12 * BENCH_INFER_CHAIN_STEPS / seconds * 1e-9;
}

#if defined(__GNUC__) && defined(__x86_64__)
#define BENCH_AVX2_CEILING(NAME, OP)                                                \
    __attribute__((target("avx2,fma"))) static double NAME(void)                    \
    {                                                                               \
        bench_v8f m = {0.9999999f, 0.9999999f, 0.9999999f, 0.9999999f,             \
                       0.9999999f, 0.9999999f, 0.9999999f, 0.9999999f};            \
        bench_v8f c = {1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f};     \
        bench_v8f a0 = c + 0.0f, a1 = c + 1.0f, a2 = c + 2.0f, a3 = c + 3.0f;      \
        bench_v8f a4 = c + 4.0f, a5 = c + 5.0f, a6 = c + 6.0f, a7 = c + 7.0f;      \
        bench_v8f a8 = c + 8.0f, a9 = c + 9.0f, a10 = c + 10.0f, a11 = c + 11.0f;  \
        double start = bench_infer_now_s();                                         \
        for (uint32_t i = 0; i < BENCH_INFER_CHAIN_STEPS; i++) {                    \
            BENCH_CHAINS(OP);                                                       \
        }                                                                           \
        double seconds = bench_infer_now_s() - start;                               \
        bench_v8f total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) +       \
                          ((a8 + a9) + (a10 + a11));                                \
        bench_infer_sink = BENCH_SUM(total) + total[7];                             \
        return 2.0 * 8 * 12 * BENCH_INFER_CHAIN_STEPS / seconds * 1e-9;             \
    }
#define BENCH_FMA(A)                                                                \
    for (int lane = 0; lane < 8; lane++) {                                          \
        (A)[lane] = __builtin_fmaf((A)[lane], m[lane], c[lane]);                    \
    }
BENCH_AVX2_CEILING(bench_ceiling_avx2_muladd, BENCH_MULADD)
BENCH_AVX2_CEILING(bench_ceiling_avx2_fma, BENCH_FMA)
#endif

static double bench_triad(void)
{
    size_t n = BENCH_INFER_TRIAD_COUNT;
    float *a = util_malloc(n * sizeof(float));
    float *b = util_malloc(n * sizeof(float));
    float *c = util_malloc(n * sizeof(float));
    if (a == NULL || b == NULL || c == NULL) {
        util_free(a);
        util_free(b);
        util_free(c);
        return 0.0;
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = 0.0f;
        b[i] = (float)(i & 1023);
        c[i] = 1.0f;
    }
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        float s = 1.0f + (float)rep;
        double start = bench_infer_now_s();
        for (size_t i = 0; i < n; i++) {
            a[i] = b[i] + s * c[i];
        }
        double seconds = bench_infer_now_s() - start;
        best = seconds < best ? seconds : best;
        bench_infer_sink = a[(size_t)rep * 7919];
    }
    util_free(a);
    util_free(b);
    util_free(c);
    return 12.0 * (double)n / best * 1e-9;
}

static double bench_best_of(double (*measure)(void))
{
    double best = 0.0;
    for (int rep = 0; rep < BENCH_INFER_REPEATS; rep++) {
        double value = measure();
        best = value > best ? value : best;
    }
    return best;
}

static void bench_ceilings_measure(bench_ceilings *ceilings)
{
    memset(ceilings, 0, sizeof(*ceilings));
    ceilings->sse2_muladd = bench_best_of(bench_ceiling_sse2);
#if defined(__GNUC__) && defined(__x86_64__)
    if (infer_uses_avx2()) {
        ceilings->avx2_muladd = bench_best_of(bench_ceiling_avx2_muladd);
        ceilings->avx2_fma = bench_best_of(bench_ceiling_avx2_fma);
    }
#endif
    ceilings->triad = bench_triad();
    printf("infer ceiling sse2 mul+add    GFLOP/s=%.1f  (baseline -O2 build, 4 lanes)\n",
           ceilings->sse2_muladd);
    printf("infer ceiling avx2 mul+add    GFLOP/s=%.1f\n", ceilings->avx2_muladd);
    printf("infer ceiling avx2 fma        GFLOP/s=%.1f  (prefill ratios use this one)\n",
           ceilings->avx2_fma);
    printf("infer ceiling triad           GB/s=%.1f  (3 x %u MiB arrays)\n", ceilings->triad,
           (unsigned)(BENCH_INFER_TRIAD_COUNT * sizeof(float) >> 20));
}

typedef struct bench_model_run {
    infer_model *model;
    infer_executor *executor;
    void *kv_memory;
    infer_kv kv;
    float *x;
    float *logits;
} bench_model_run;

static void bench_die(const char *what)
{
    fprintf(stderr, "bench_infer: %s\n", what);
    exit(1);
}

static void bench_run_open(bench_model_run *run, const infer_shape *shape)
{
    char why[128] = "";
    memset(run, 0, sizeof(*run));
    if (infer_model_from_seed(shape, BENCH_INFER_SEED, &run->model, why, sizeof(why)) != 0) {
        bench_die(why);
    }
    if (infer_executor_create(run->model, BENCH_INFER_PREFILL, &run->executor) != 0) {
        bench_die("executor");
    }
    run->kv_memory = util_malloc(infer_kv_bytes(shape, shape->n_layers));
    run->x = util_malloc((size_t)BENCH_INFER_PREFILL * shape->dim * sizeof(float));
    run->logits = util_malloc((size_t)shape->vocab_size * sizeof(float));
    if (run->kv_memory == NULL || run->x == NULL || run->logits == NULL) {
        bench_die("out of memory");
    }
    infer_kv_init(&run->kv, shape, 0, shape->n_layers, run->kv_memory);
}

static void bench_run_close(bench_model_run *run)
{
    util_free(run->kv_memory);
    util_free(run->x);
    util_free(run->logits);
    infer_executor_destroy(run->executor);
    infer_model_destroy(run->model);
}

/* A 64-token prompt from position 0, then logits of its last token.
 * Returns seconds; adds FLOPs. */
static double bench_prefill(bench_model_run *run, infer_kernel kernel, uint64_t *flops)
{
    const infer_shape *shape = infer_model_shape(run->model);
    uint32_t tokens[BENCH_INFER_PREFILL];
    for (uint32_t t = 0; t < BENCH_INFER_PREFILL; t++) {
        tokens[t] = (t * 7919u + 13u) % shape->vocab_size;
    }
    run->kv.length = 0;
    if (infer_embed(run->executor, tokens, BENCH_INFER_PREFILL, run->x) != 0) {
        bench_die("embed");
    }
    double start = bench_infer_now_s();
    if (infer_forward(run->executor, kernel, &run->kv, run->x, BENCH_INFER_PREFILL, flops) != 0) {
        bench_die("forward");
    }
    const float *last = run->x + (size_t)(BENCH_INFER_PREFILL - 1) * shape->dim;
    infer_logits(run->executor, kernel, last, run->logits, flops);
    return bench_infer_now_s() - start;
}

/* One token at position 64 (the cache holds the prefill), then its logits. */
static double bench_decode(bench_model_run *run, infer_kernel kernel, uint64_t *flops)
{
    uint32_t token = 101;
    run->kv.length = BENCH_INFER_DECODE_POS;
    if (infer_embed(run->executor, &token, 1, run->x) != 0) {
        bench_die("embed");
    }
    double start = bench_infer_now_s();
    if (infer_forward(run->executor, kernel, &run->kv, run->x, 1, flops) != 0) {
        bench_die("forward");
    }
    infer_logits(run->executor, kernel, run->x, run->logits, flops);
    return bench_infer_now_s() - start;
}

static uint64_t bench_decode_weight_bytes(const infer_shape *shape)
{
    uint64_t bytes = infer_layer_weight_bytes(shape) * shape->n_layers;
    return bytes + 4 * ((uint64_t)shape->vocab_size * shape->dim + shape->dim);
}

/* Returns the best prefill fraction of the FMA ceiling over the kernels
 * and, in *best_kernel, the kernel that reached it. */
static double bench_shape(const char *name, const infer_shape *shape, const bench_ceilings *ceil,
                          infer_kernel *best_kernel)
{
    bench_model_run run;
    bench_run_open(&run, shape);
    double weight_mb = (double)bench_decode_weight_bytes(shape) / 1e6;
    printf("infer shape %-10s dim=%u hidden=%u layers=%u heads=%u kv_heads=%u vocab=%u "
           "weights_MB=%.1f\n", name, shape->dim, shape->hidden_dim, shape->n_layers,
           shape->n_heads, shape->n_kv_heads, shape->vocab_size, weight_mb);
    double fma_ceiling = ceil->avx2_fma > 0.0 ? ceil->avx2_fma : ceil->sse2_muladd;
    double best_fraction = 0.0;
    for (int k = 0; k < INFER_KERNEL_COUNT; k++) {
        infer_kernel kernel = (infer_kernel)k;
        double prefill_s = 1e30;
        uint64_t prefill_flops = 0;
        for (int rep = 0; rep < 5; rep++) {
            uint64_t flops = 0;
            double seconds = bench_prefill(&run, kernel, &flops);
            prefill_s = seconds < prefill_s ? seconds : prefill_s;
            prefill_flops = flops;
        }
        double decode_s = 1e30;
        uint64_t decode_flops = 0;
        for (int rep = 0; rep < 9; rep++) {
            uint64_t flops = 0;
            double seconds = bench_decode(&run, kernel, &flops);
            decode_s = seconds < decode_s ? seconds : decode_s;
            decode_flops = flops;
        }
        double prefill_gflops = (double)prefill_flops / prefill_s * 1e-9;
        double decode_gflops = (double)decode_flops / decode_s * 1e-9;
        double decode_gbs = weight_mb / decode_s * 1e-3;
        printf("infer %-10s %-10s prefill64 ms=%.2f GFLOP/s=%.1f of_fma_ceiling=%.2f  "
               "decode@64 ms=%.3f GFLOP/s=%.1f weights_GB/s=%.1f of_triad=%.2f\n", name,
               infer_kernel_name(kernel), prefill_s * 1e3, prefill_gflops,
               prefill_gflops / fma_ceiling, decode_s * 1e3, decode_gflops, decode_gbs,
               ceil->triad > 0.0 ? decode_gbs / ceil->triad : 0.0);
        double fraction = prefill_gflops / fma_ceiling;
        if (fraction > best_fraction) {
            best_fraction = fraction;
            *best_kernel = kernel;
        }
    }
    bench_run_close(&run);
    return best_fraction;
}

void bench_infer_run(void)
{
    bench_ceilings ceilings;
    printf("infer kernels isa=%s\n", infer_uses_avx2() ? "avx2+fma" : "generic");
    bench_ceilings_measure(&ceilings);
    static const infer_shape stories15m = {
        .dim = 288, .hidden_dim = 768, .n_layers = 6, .n_heads = 6, .n_kv_heads = 6,
        .vocab_size = 32000, .seq_len = 256, .shared_classifier = true,
    };
    static const infer_shape dim1024 = {
        .dim = 1024, .hidden_dim = 2816, .n_layers = 4, .n_heads = 16, .n_kv_heads = 4,
        .vocab_size = 32000, .seq_len = 256, .shared_classifier = false,
    };
    infer_kernel best = INFER_KERNEL_SEQUENTIAL;
    double fraction = bench_shape("stories15M", &stories15m, &ceilings, &best);
    printf("infer stories15M prefill64 best of_fma_ceiling=%.2f (%s) target>=%.2f  %s\n",
           fraction, infer_kernel_name(best), BENCH_INFER_PREFILL_TARGET,
           fraction >= BENCH_INFER_PREFILL_TARGET ? "met" : "BELOW TARGET");
    bench_shape("dim1024", &dim1024, &ceilings, &best);
    bench_runc_run();
}
