/* infer_compute.c -- the numerics of one layer and of the classifier, for
 * every kernel variant. The reductions each variant defines, per output
 * value, independent of blocking, token count and instruction set:
 *
 *   SEQUENTIAL  s = 0; for i in order: s = s + a[i] * b[i]   (mul, then add)
 *   BLOCKED     acc[j] = sum over i = j mod 8 of a[i] * b[i], in order,
 *               then ((acc0 + acc1) + (acc2 + acc3)) + ((acc4 + acc5) + (acc6 + acc7))
 *   FMA         acc[j] = fmaf(a[i], b[i], acc[j]) over i = j mod 4, in order,
 *               then (acc0 + acc1) + (acc2 + acc3)
 *   BF16        BLOCKED, plus every activation of x rounded to bf16 after each layer
 *   Q8          matmuls in integers on int8 groups (infer_q8.c), the rest SEQUENTIAL
 *
 * fmaf is the C library's correctly rounded fused multiply-add, or the
 * hardware instruction (also correctly rounded) on the AVX2+FMA path: the
 * same bits either way. The sums inside rmsnorm (sum of squares) and softmax
 * (sum of exponentials) use the same variant (a plain sum drops the
 * multiply); the maximum is exact in any order. The attention-weighted sum
 * of values accumulates over positions in order (FMA fuses each step).
 *
 * The exponentials (SiLU, softmax) are the C library's expf; on AVX2 they
 * take its steps eight lanes at a time (exp_lanes4), the same bits.
 *
 * Every function here is always_inline and instantiated twice, for the
 * baseline target and for AVX2+FMA (picked at run time): element-wise IEEE
 * operations in a fixed order give identical bits on both, so the choice is
 * invisible except in speed. Matrices use the panel layout (infer_int.h):
 * lanes of a vector are 8 output rows, so each lane is one row's reduction
 * and vectorising never reorders a sum. */
#include <math.h>
#include <string.h>

#include "node/infer_int.h"
#include "util/assert.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define INFER_HAVE_AVX2 1
#define INFER_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define INFER_HAVE_AVX2 0
#endif

#define INLINE static inline __attribute__((always_inline))
#define INFER_PREFILL_CHUNK 512u   /* columns per pass of a group of tokens */
#define INFER_PREFILL_TILE 18u     /* tokens sharing one pass over a chunk */
#define EXP_FAST_BELOW 0x42b00000u /* |x| below 88.0: the C library expf's usual path */

typedef float v8f __attribute__((vector_size(32)));

/* acc = fmaf(w, x, acc) lane by lane; vectorised to vfmadd on AVX2. */
#define V8F_FMA(acc, w, x)                                                          \
    do {                                                                            \
        for (int lane_ = 0; lane_ < 8; lane_++) {                                  \
            (acc)[lane_] = __builtin_fmaf((w)[lane_], (x), (acc)[lane_]);           \
        }                                                                           \
    } while (0)

#define V8F_TREE8(a0, a1, a2, a3, a4, a5, a6, a7) \
    ((((a0) + (a1)) + ((a2) + (a3))) + (((a4) + (a5)) + ((a6) + (a7))))

/* The next group of panels' weights, loaded a few lines at a time while
 * this group computes: a layer's weights stream in behind the arithmetic
 * instead of stalling the first pass over each group. A matrix smaller
 * than PREFETCH_MIN_BYTES stays in cache between calls: the loads would
 * only cost. */
typedef struct prefetch_cursor {
    const char *at;
    const char *end;
} prefetch_cursor;

#define PREFETCH_LINES 8u
#define PREFETCH_MIN_BYTES ((size_t)128 << 10)

INLINE void prefetch_some(prefetch_cursor *cursor)
{
    for (uint32_t i = 0; i < PREFETCH_LINES && cursor->at < cursor->end; i++) {
        __builtin_prefetch(cursor->at);
        cursor->at += 64;
    }
}

/* ---- matrix kernels: a group of panels, one token ---- */

/* SEQUENTIAL on 4 panels at once (4 independent chains of adds). */
INLINE void panels_sequential(const float *const panels[4], const float *x, size_t n,
                              v8f out[4])
{
    const v8f *p0 = (const v8f *)panels[0];
    const v8f *p1 = (const v8f *)panels[1];
    const v8f *p2 = (const v8f *)panels[2];
    const v8f *p3 = (const v8f *)panels[3];
    v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (size_t i = 0; i < n; i++) {
        float xi = x[i];
        a0 = a0 + p0[i] * xi;
        a1 = a1 + p1[i] * xi;
        a2 = a2 + p2[i] * xi;
        a3 = a3 + p3[i] * xi;
    }
    out[0] = a0;
    out[1] = a1;
    out[2] = a2;
    out[3] = a3;
}

/* BLOCKED on one panel: 8 accumulators, one per residue of i mod 8. */
INLINE void panel_blocked(const float *panel, const float *x, size_t n, v8f *out)
{
    const v8f *p = (const v8f *)panel;
    v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        a0 = a0 + p[k] * x[k];
        a1 = a1 + p[k + 1] * x[k + 1];
        a2 = a2 + p[k + 2] * x[k + 2];
        a3 = a3 + p[k + 3] * x[k + 3];
        a4 = a4 + p[k + 4] * x[k + 4];
        a5 = a5 + p[k + 5] * x[k + 5];
        a6 = a6 + p[k + 6] * x[k + 6];
        a7 = a7 + p[k + 7] * x[k + 7];
    }
    v8f acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    for (size_t i = k; i < n; i++) {
        acc[i - k] = acc[i - k] + p[i] * x[i];
    }
    *out = V8F_TREE8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]);
}

/* One token's step on a pair of panels: its two chains take column k. */
#define CHAIN_STEP(FUSED, A, B, WA, WB, XV)                                          \
    do {                                                                            \
        if (FUSED) {                                                                \
            V8F_FMA(A, WA, XV);                                                     \
            V8F_FMA(B, WB, XV);                                                     \
        } else {                                                                    \
            (A) = (A) + (WA) * (XV);                                                \
            (B) = (B) + (WB) * (XV);                                                \
        }                                                                           \
    } while (0)

/* Six tokens on a pair of panels over columns k0, k0 + step, .. < k1: 12
 * independent chains (6 x 2), with room in 16 vector registers for the two
 * weight vectors and a broadcast of x. slot[u][0..1] holds token u's two
 * chains (read at entry unless 'fresh', which starts them from zero). */
INLINE void chain_pass6(bool fused, const v8f *pa, const v8f *pb, const float *const xs[6],
                        size_t k0, size_t k1, size_t step, bool fresh, v8f *const slot[6])
{
    v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0};
    v8f b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0}, b4 = {0}, b5 = {0};
    if (!fresh) {
        a0 = slot[0][0], a1 = slot[1][0], a2 = slot[2][0], a3 = slot[3][0];
        a4 = slot[4][0], a5 = slot[5][0], b0 = slot[0][1], b1 = slot[1][1];
        b2 = slot[2][1], b3 = slot[3][1], b4 = slot[4][1], b5 = slot[5][1];
    }
    const float *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3], *x4 = xs[4], *x5 = xs[5];
    for (size_t k = k0; k < k1; k += step) {
        v8f wa = pa[k], wb = pb[k];
        CHAIN_STEP(fused, a0, b0, wa, wb, x0[k]);
        CHAIN_STEP(fused, a1, b1, wa, wb, x1[k]);
        CHAIN_STEP(fused, a2, b2, wa, wb, x2[k]);
        CHAIN_STEP(fused, a3, b3, wa, wb, x3[k]);
        CHAIN_STEP(fused, a4, b4, wa, wb, x4[k]);
        CHAIN_STEP(fused, a5, b5, wa, wb, x5[k]);
    }
    slot[0][0] = a0, slot[1][0] = a1, slot[2][0] = a2, slot[3][0] = a3;
    slot[4][0] = a4, slot[5][0] = a5, slot[0][1] = b0, slot[1][1] = b1;
    slot[2][1] = b2, slot[3][1] = b3, slot[4][1] = b4, slot[5][1] = b5;
}

/* The prefill path, on 4 panels for a tile of up to INFER_PREFILL_TILE
 * tokens: SEQUENTIAL (one chain per row), FMA (4 fused chains per row, one
 * per residue of i mod 4) or BLOCKED and BF16 (8 chains per row, one per
 * residue of i mod 8). Tokens go six at a time over a pair of panels, so
 * each weight load feeds six tokens and 12 chains are in flight; columns
 * go in chunks that stay in L1 while every group passes over them. Every
 * chain still adds its own terms in increasing index order, starting from
 * zero, and the chains of a row combine as the one-token kernels combine
 * them: the bits equal panels_sequential's, panels_fma's and
 * panel_blocked's. A group that runs past the tile repeats its last token;
 * the copies' chains land in spare slots. */
INLINE void panels_chain_tile(infer_kernel kernel, const float *const panels[4], const float *x,
                              size_t n, uint32_t tile, v8f (*out)[4], prefetch_cursor *next)
{
    bool fused = kernel == INFER_KERNEL_FMA;
    size_t residues = fused ? 4 : kernel == INFER_KERNEL_SEQUENTIAL ? 1 : 8;
    size_t full = n / residues * residues;
    /* part[token][residue][panel] */
    v8f part[INFER_PREFILL_TILE + 6][8][4];
    if (full == 0) {
        memset(part, 0, sizeof(part));
    }
    for (size_t c0 = 0; c0 < full; c0 += INFER_PREFILL_CHUNK) {
        size_t c1 = full - c0 < INFER_PREFILL_CHUNK ? full : c0 + INFER_PREFILL_CHUNK;
        for (uint32_t t = 0; t < tile; t += 6) {
            const float *xs[6];
            for (uint32_t u = 0; u < 6; u++) {
                xs[u] = x + (size_t)(t + u < tile ? t + u : tile - 1) * n;
            }
            for (size_t g = 0; g < 4; g += 2) {
                const v8f *pa = (const v8f *)panels[g];
                const v8f *pb = (const v8f *)panels[g + 1];
                for (size_t j = 0; j < residues; j++) {
                    v8f *const slot[6] = {&part[t][j][g], &part[t + 1][j][g], &part[t + 2][j][g],
                                          &part[t + 3][j][g], &part[t + 4][j][g],
                                          &part[t + 5][j][g]};
                    prefetch_some(next);
                    /* A constant kernel in each call: no branch in its loop. */
                    if (fused) {
                        chain_pass6(true, pa, pb, xs, c0 + j, c1, 4, c0 == 0, slot);
                    } else if (residues == 1) {
                        chain_pass6(false, pa, pb, xs, c0 + j, c1, 1, c0 == 0, slot);
                    } else {
                        chain_pass6(false, pa, pb, xs, c0 + j, c1, 8, c0 == 0, slot);
                    }
                }
            }
        }
    }
    for (uint32_t t = 0; t < tile; t++) {
        const float *xt = x + (size_t)t * n;
        v8f(*c)[4] = part[t];
        for (size_t i = full; i < n; i++) {
            for (size_t g = 0; g < 4; g++) {
                const v8f *panel = (const v8f *)panels[g];
                if (fused) {
                    V8F_FMA(c[i - full][g], panel[i], xt[i]);
                } else {
                    c[i - full][g] = c[i - full][g] + panel[i] * xt[i];
                }
            }
        }
        for (size_t g = 0; g < 4; g++) {
            out[t][g] = residues == 1   ? c[0][g]
                        : residues == 4 ? (c[0][g] + c[1][g]) + (c[2][g] + c[3][g])
                                        : V8F_TREE8(c[0][g], c[1][g], c[2][g], c[3][g], c[4][g],
                                                    c[5][g], c[6][g], c[7][g]);
        }
    }
}

/* FMA on 2 panels: 4 fused accumulators each, one per residue of i mod 4. */
INLINE void panels_fma(const float *const panels[2], const float *x, size_t n, v8f out[2])
{
    const v8f *p = (const v8f *)panels[0];
    const v8f *q = (const v8f *)panels[1];
    v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        V8F_FMA(a0, p[k], x[k]);
        V8F_FMA(b0, q[k], x[k]);
        V8F_FMA(a1, p[k + 1], x[k + 1]);
        V8F_FMA(b1, q[k + 1], x[k + 1]);
        V8F_FMA(a2, p[k + 2], x[k + 2]);
        V8F_FMA(b2, q[k + 2], x[k + 2]);
        V8F_FMA(a3, p[k + 3], x[k + 3]);
        V8F_FMA(b3, q[k + 3], x[k + 3]);
    }
    v8f acc_a[4] = {a0, a1, a2, a3};
    v8f acc_b[4] = {b0, b1, b2, b3};
    for (size_t i = k; i < n; i++) {
        V8F_FMA(acc_a[i - k], p[i], x[i]);
        V8F_FMA(acc_b[i - k], q[i], x[i]);
    }
    out[0] = (acc_a[0] + acc_a[1]) + (acc_a[2] + acc_a[3]);
    out[1] = (acc_b[0] + acc_b[1]) + (acc_b[2] + acc_b[3]);
}

/* Stores the valid rows of a panel result for one token. */
INLINE void panel_store(const v8f *value, const infer_mat *mat, uint32_t panel, float *out_row)
{
    uint32_t row0 = panel * INFER_PANEL_ROWS;
    if (mat->rows - row0 >= INFER_PANEL_ROWS) {
        memcpy(out_row + row0, value, sizeof(*value)); /* one vector store */
        return;
    }
    memcpy(out_row + row0, value, (mat->rows - row0) * sizeof(float));
}

/* Prefill path: tiles of tokens through panels_chain_tile, every kernel. */
INLINE void matmul_tiles(infer_kernel kernel, const infer_mat *mat, const float *x,
                         uint32_t count, float *out)
{
    size_t stride = (size_t)INFER_PANEL_ROWS * mat->cols;
    bool ahead = (size_t)mat->panel_count * stride * sizeof(float) >= PREFETCH_MIN_BYTES;
    for (uint32_t p = 0; p < mat->panel_count; p += 4) {
        const float *panels[4];
        uint32_t valid = mat->panel_count - p < 4 ? mat->panel_count - p : 4;
        for (uint32_t g = 0; g < 4; g++) {
            panels[g] = mat->data + (size_t)(p + (g < valid ? g : valid - 1)) * stride;
        }
        uint32_t after = ahead ? mat->panel_count - p - valid : 0;
        after = after < 4 ? after : 4;
        const char *start = (const char *)(mat->data + (size_t)(p + valid) * stride);
        prefetch_cursor next = {start, start + (size_t)after * stride * sizeof(float)};
        for (uint32_t t0 = 0; t0 < count; t0 += INFER_PREFILL_TILE) {
            uint32_t tile = count - t0 < INFER_PREFILL_TILE ? count - t0 : INFER_PREFILL_TILE;
            v8f result[INFER_PREFILL_TILE][4];
            const float *xt = x + (size_t)t0 * mat->cols;
            panels_chain_tile(kernel, panels, xt, mat->cols, tile, result, &next);
            for (uint32_t t = 0; t < tile; t++) {
                for (uint32_t g = 0; g < valid; g++) {
                    panel_store(&result[t][g], mat, p + g, out + (size_t)(t0 + t) * mat->rows);
                }
            }
        }
    }
}

/* Weights of a group of panels stay in cache while every token of the call
 * passes over them (the reuse that makes prefill compute-bound). Groups at
 * the end repeat the last panel; the repeat's result is dropped. Prefill
 * (more than one token) goes through token tiles; a single token (decode)
 * streams the weights from memory once, in order. */
INLINE void matmul_body(infer_kernel kernel, const infer_mat *mat, const float *x,
                        uint32_t count, float *out)
{
    if (count > 1) {
        matmul_tiles(kernel, mat, x, count, out);
        return;
    }
    size_t stride = (size_t)INFER_PANEL_ROWS * mat->cols;
    uint32_t group = kernel == INFER_KERNEL_SEQUENTIAL ? 4 : kernel == INFER_KERNEL_FMA ? 2 : 1;
    for (uint32_t p = 0; p < mat->panel_count; p += group) {
        const float *panels[4];
        uint32_t valid = mat->panel_count - p < group ? mat->panel_count - p : group;
        for (uint32_t g = 0; g < 4; g++) {
            panels[g] = mat->data + (size_t)(p + (g < valid ? g : valid - 1)) * stride;
        }
        for (uint32_t t = 0; t < count; t++) {
            const float *xt = x + (size_t)t * mat->cols;
            float *out_row = out + (size_t)t * mat->rows;
            v8f result[4];
            if (kernel == INFER_KERNEL_SEQUENTIAL) {
                panels_sequential(panels, xt, mat->cols, result);
            } else if (kernel == INFER_KERNEL_FMA) {
                panels_fma(panels, xt, mat->cols, result);
            } else {
                panel_blocked(panels[0], xt, mat->cols, result);
            }
            for (uint32_t g = 0; g < valid; g++) {
                panel_store(&result[g], mat, p + g, out_row);
            }
        }
    }
}

/* ---- vector reductions ---- */

INLINE float dot_body(infer_kernel kernel, const float *a, const float *b, size_t n)
{
    if (kernel == INFER_KERNEL_SEQUENTIAL) {
        float s = 0.0f;
        for (size_t i = 0; i < n; i++) {
            s = s + a[i] * b[i];
        }
        return s;
    }
    if (kernel == INFER_KERNEL_FMA) {
        float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (size_t i = 0; i < n; i++) {
            acc[i % 4] = __builtin_fmaf(a[i], b[i], acc[i % 4]);
        }
        return (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
    v8f acc = {0};
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        v8f va;
        v8f vb;
        memcpy(&va, a + k, sizeof(va));
        memcpy(&vb, b + k, sizeof(vb));
        acc = acc + va * vb;
    }
    for (size_t i = k; i < n; i++) {
        acc[i - k] = acc[i - k] + a[i] * b[i];
    }
    return V8F_TREE8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]);
}

INLINE float sum_body(infer_kernel kernel, const float *a, size_t n)
{
    if (kernel == INFER_KERNEL_SEQUENTIAL) {
        float s = 0.0f;
        for (size_t i = 0; i < n; i++) {
            s = s + a[i];
        }
        return s;
    }
    if (kernel == INFER_KERNEL_FMA) {
        float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (size_t i = 0; i < n; i++) {
            acc[i % 4] = acc[i % 4] + a[i];
        }
        return (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
    v8f acc = {0};
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        v8f va;
        memcpy(&va, a + k, sizeof(va));
        acc = acc + va;
    }
    for (size_t i = k; i < n; i++) {
        acc[i - k] = acc[i - k] + a[i];
    }
    return V8F_TREE8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]);
}

/* ---- the exponential ---- */

#if INFER_HAVE_AVX2
typedef double v4d __attribute__((vector_size(32)));
typedef uint64_t v4u __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef uint32_t v8u __attribute__((vector_size(32)));

/* The C library's expf (glibc's, on a CPU with FMA) four lanes at a time,
 * operation for operation, so the bits are the library's: with x in
 * double, k = round(x * 32 / ln 2), r = x * 32 / ln 2 - k (each a fused
 * multiply-add), 2^(k / 32) as a power of two times 2^((k mod 32) / 32)
 * from the table, then a polynomial of degree 3 in r. The constants are
 * the library's; infer__exp_probe checks the machine's library against
 * them before anything uses this. Only for |x| < 88 (exp_fast_lanes). */
static const double exp_table[32] = {
    0x1.0000000000000p+0, 0x1.059b0d3158574p+0, 0x1.0b5586cf9890fp+0, 0x1.11301d0125b51p+0,
    0x1.172b83c7d517bp+0, 0x1.1d4873168b9aap+0, 0x1.2387a6e756238p+0, 0x1.29e9df51fdee1p+0,
    0x1.306fe0a31b715p+0, 0x1.371a7373aa9cbp+0, 0x1.3dea64c123422p+0, 0x1.44e086061892dp+0,
    0x1.4bfdad5362a27p+0, 0x1.5342b569d4f82p+0, 0x1.5ab07dd485429p+0, 0x1.6247eb03a5585p+0,
    0x1.6a09e667f3bcdp+0, 0x1.71f75e8ec5f74p+0, 0x1.7a11473eb0187p+0, 0x1.82589994cce13p+0,
    0x1.8ace5422aa0dbp+0, 0x1.93737b0cdc5e5p+0, 0x1.9c49182a3f090p+0, 0x1.a5503b23e255dp+0,
    0x1.ae89f995ad3adp+0, 0x1.b7f76f2fb5e47p+0, 0x1.c199bdd85529cp+0, 0x1.cb720dcef9069p+0,
    0x1.d5818dcfba487p+0, 0x1.dfc97337b9b5fp+0, 0x1.ea4afa2a490dap+0, 0x1.f50765b6e4540p+0,
};
#define EXP_SCALE 0x1.71547652b82fep+5 /* 32 / ln 2 */
#define EXP_ROUND 0x1.8p+52            /* adding it rounds to an integer */
#define EXP_C0 0x1.c6af84b912394p-20
#define EXP_C1 0x1.ebfce50fac4f3p-13
#define EXP_C2 0x1.62e42ff0c52d6p-6

INLINE v4f exp_lanes4(v4f x)
{
    v4d xd = __builtin_convertvector(x, v4d);
    v4d kd, r, z, y;
    for (int lane = 0; lane < 4; lane++) {
        kd[lane] = __builtin_fma(EXP_SCALE, xd[lane], EXP_ROUND);
    }
    v4u ki, bits;
    memcpy(&ki, &kd, sizeof(ki));
    kd = kd - EXP_ROUND;
    for (int lane = 0; lane < 4; lane++) {
        r[lane] = __builtin_fma(EXP_SCALE, xd[lane], -kd[lane]);
        uint64_t word;
        memcpy(&word, &exp_table[ki[lane] & 31u], sizeof(word));
        bits[lane] = word;
    }
    bits += (ki >> 5) << 52;
    v4d scale;
    memcpy(&scale, &bits, sizeof(scale));
    v4d r2 = r * r;
    for (int lane = 0; lane < 4; lane++) {
        z[lane] = __builtin_fma(r[lane], EXP_C0, EXP_C1);
        y[lane] = __builtin_fma(r[lane], EXP_C2, 1.0);
        y[lane] = __builtin_fma(z[lane], r2[lane], y[lane]);
    }
    return __builtin_convertvector(y * scale, v4f);
}

/* Every lane within the library's usual path (no NaN, no infinity, no
 * overflow or underflow). */
INLINE bool exp_fast_lanes(const v8f *x)
{
    v8u bits;
    memcpy(&bits, x, sizeof(bits));
    v8u slow = (bits & 0x7fffffffu) >= EXP_FAST_BELOW;
    uint32_t any = 0;
    for (int lane = 0; lane < 8; lane++) {
        any |= slow[lane];
    }
    return any == 0;
}

/* *out = expf of every lane of *x: the library's own call for a group with
 * a lane outside the usual path. */
INLINE void exp_lanes8(const v8f *x, v8f *out)
{
    if (!exp_fast_lanes(x)) {
        for (int lane = 0; lane < 8; lane++) {
            (*out)[lane] = expf((*x)[lane]);
        }
        return;
    }
    v4f lo = exp_lanes4(__builtin_shufflevector(*x, *x, 0, 1, 2, 3));
    v4f hi = exp_lanes4(__builtin_shufflevector(*x, *x, 4, 5, 6, 7));
    *out = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7);
}

/* x[i] = expf(x[i] - sub) over whole groups of 8; returns how many. */
INFER_TARGET_AVX2 static size_t exp_all_avx2(float *x, size_t n, float sub)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f v, e;
        memcpy(&v, x + i, sizeof(v));
        v = v - sub;
        exp_lanes8(&v, &e);
        memcpy(x + i, &e, sizeof(e));
    }
    return i;
}

/* hb[i] = silu(hb[i]) * hb2[i], as silu_gate's loop, over whole groups of
 * 8; returns how many. */
INFER_TARGET_AVX2 static size_t silu_gate_avx2(float *hb, const float *hb2, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f value, gate, negated, e;
        memcpy(&value, hb + i, sizeof(value));
        memcpy(&gate, hb2 + i, sizeof(gate));
        negated = -value;
        exp_lanes8(&negated, &e);
        value = value * (1.0f / (1.0f + e));
        value = value * gate;
        memcpy(hb + i, &value, sizeof(value));
    }
    return i;
}
#endif

/* x[i] = expf(x[i] - sub), eight values at a time when 'wide'. */
INLINE void exp_all(bool wide, float *x, size_t n, float sub)
{
    size_t done = 0;
#if INFER_HAVE_AVX2
    done = wide ? exp_all_avx2(x, n, sub) : 0;
#endif
    (void)wide;
    for (size_t i = done; i < n; i++) {
        x[i] = expf(x[i] - sub);
    }
}

/* llama2.c's SwiGLU gate: hb[i] = silu(hb[i]) * hb2[i]. */
INLINE void silu_gate(bool wide, float *hb, const float *hb2, size_t n)
{
    size_t done = 0;
#if INFER_HAVE_AVX2
    done = wide ? silu_gate_avx2(hb, hb2, n) : 0;
#endif
    (void)wide;
    for (size_t i = done; i < n; i++) {
        float value = hb[i];
        value = value * (1.0f / (1.0f + expf(-value)));
        hb[i] = value * hb2[i];
    }
}

/* ---- layer pieces ---- */

/* llama2.c's rmsnorm: out = weight * (x / sqrt(mean(x^2) + eps)). */
INLINE void rmsnorm_body(infer_kernel kernel, float *out, const float *x, const float *weight,
                         uint32_t n)
{
    float ss = dot_body(kernel, x, x, n);
    ss = ss / (float)n;
    ss = ss + INFER_NORM_EPS;
    ss = 1.0f / sqrtf(ss);
    for (uint32_t i = 0; i < n; i++) {
        out[i] = weight[i] * (ss * x[i]);
    }
}

INLINE void rope_body(const infer_model *model, float *vec, uint32_t n, uint32_t pos)
{
    uint32_t half = model->head_size / 2;
    const float *cosines = model->rope_cos + (size_t)pos * half;
    const float *sines = model->rope_sin + (size_t)pos * half;
    for (uint32_t i = 0; i < n; i += 2) {
        uint32_t pair = (i % model->head_size) / 2;
        float fcr = cosines[pair];
        float fci = sines[pair];
        float v0 = vec[i];
        float v1 = vec[i + 1];
        vec[i] = v0 * fcr - v1 * fci;
        vec[i + 1] = v0 * fci + v1 * fcr;
    }
}

INLINE void softmax_body(infer_kernel kernel, bool wide_exp, float *x, uint32_t n)
{
    float max = x[0];
    for (uint32_t i = 1; i < n; i++) {
        max = x[i] > max ? x[i] : max;
    }
    exp_all(wide_exp, x, n, max);
    float sum = sum_body(kernel, x, n);
    for (uint32_t i = 0; i < n; i++) {
        x[i] = x[i] / sum;
    }
}

/* Scores of one query head against keys 0 .. len - 1, vectorised across
 * positions: 'kt' holds the head's keys transposed (kt[i * stride + t] =
 * key t, element i), so lane l of a vector is position t0 + l and carries
 * exactly dot_body's chains for that position ('residues' chains over i
 * mod residues, in index order, combined as dot_body combines them). Two
 * blocks of 8 positions run together for independent chains. */
INLINE void scores_step(const float *row, float qi, bool fused, v8f *a, v8f *b)
{
    v8f k0, k1;
    memcpy(&k0, row, sizeof(k0));
    memcpy(&k1, row + 8, sizeof(k1));
    if (fused) {
        V8F_FMA(*a, k0, qi);
        V8F_FMA(*b, k1, qi);
    } else {
        *a = *a + k0 * qi;
        *b = *b + k1 * qi;
    }
}

INLINE void scores_lanes(const float *kt, size_t stride, const float *qh, uint32_t hs,
                         uint32_t len, float scale, float *att, size_t residues, bool fused)
{
    size_t full = hs / residues * residues;
    for (uint32_t t0 = 0; t0 < len; t0 += 16) {
        v8f a[8] = {{0}}, b[8] = {{0}};
        const float *col = kt + t0;
        /* 'residues' is a constant here: the inner loop unrolls and the
         * chains stay in registers. */
        for (size_t i0 = 0; i0 < full; i0 += residues) {
            for (size_t j = 0; j < residues; j++) {
                scores_step(col + (i0 + j) * stride, qh[i0 + j], fused, &a[j], &b[j]);
            }
        }
        for (size_t i = full; i < hs; i++) {
            scores_step(col + i * stride, qh[i], fused, &a[i - full], &b[i - full]);
        }
        v8f da = residues == 1 ? a[0]
                 : residues == 4 ? (a[0] + a[1]) + (a[2] + a[3])
                                 : V8F_TREE8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
        v8f db = residues == 1 ? b[0]
                 : residues == 4 ? (b[0] + b[1]) + (b[2] + b[3])
                                 : V8F_TREE8(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
        da = da / scale;
        db = db / scale;
        uint32_t valid = len - t0 < 16 ? len - t0 : 16;
        memcpy(att + t0, &da, (valid < 8 ? valid : 8) * sizeof(float));
        if (valid > 8) {
            memcpy(att + t0 + 8, &db, (valid - 8) * sizeof(float));
        }
    }
}

INLINE void scores_body(infer_kernel kernel, const float *kt, size_t stride, const float *qh,
                        uint32_t hs, uint32_t len, float scale, float *att)
{
    if (kernel == INFER_KERNEL_SEQUENTIAL) {
        scores_lanes(kt, stride, qh, hs, len, scale, att, 1, false);
    } else if (kernel == INFER_KERNEL_FMA) {
        scores_lanes(kt, stride, qh, hs, len, scale, att, 4, true);
    } else {
        scores_lanes(kt, stride, qh, hs, len, scale, att, 8, false);
    }
}

/* out[i] = sum over t < len of att[t] * v_t[i], accumulated over t in order
 * from zero (fused for FMA), vectorised across i: each lane is one i. */
INLINE void weighted_sum_body(bool fused, const float *values, size_t kv_dim, const float *att,
                              uint32_t hs, uint32_t len, float *oh)
{
    uint32_t i0 = 0;
    for (; i0 + 16 <= hs; i0 += 16) {
        v8f a = {0}, b = {0};
        for (uint32_t t = 0; t < len; t++) {
            v8f va, vb;
            memcpy(&va, values + (size_t)t * kv_dim + i0, sizeof(va));
            memcpy(&vb, values + (size_t)t * kv_dim + i0 + 8, sizeof(vb));
            if (fused) {
                V8F_FMA(a, va, att[t]);
                V8F_FMA(b, vb, att[t]);
            } else {
                a = a + att[t] * va;
                b = b + att[t] * vb;
            }
        }
        memcpy(oh + i0, &a, sizeof(a));
        memcpy(oh + i0 + 8, &b, sizeof(b));
    }
    for (; i0 < hs; i0++) {
        float a = 0.0f;
        for (uint32_t t = 0; t < len; t++) {
            float v = values[(size_t)t * kv_dim + i0];
            a = fused ? __builtin_fmaf(att[t], v, a) : a + att[t] * v;
        }
        oh[i0] = a;
    }
}

/* Copies the keys of one kv head, positions 0 .. len - 1, transposed into
 * ex->kt (row i holds element i of every position, stride padded to 16). */
INLINE void keys_transpose(infer_executor *ex, const float *keys, size_t kv_offset,
                           uint32_t len, size_t stride)
{
    uint32_t hs = ex->model->head_size;
    size_t kv_dim = ex->model->kv_dim;
    for (uint32_t t = 0; t < len; t++) {
        const float *k = keys + (size_t)t * kv_dim + kv_offset;
        for (uint32_t i = 0; i < hs; i++) {
            ex->kt[(size_t)i * stride + t] = k[i];
        }
    }
}

/* Multi-head attention of 'count' tokens at positions pos0 .. over cache
 * rows 0 .. their own position, head by head (the transposed keys of a kv
 * head serve every query head and token that reads them). */
INLINE void attention_heads(infer_executor *ex, infer_kernel kernel, const float *keys,
                            const float *values, uint32_t count, uint32_t pos0)
{
    const infer_model *model = ex->model;
    uint32_t hs = model->head_size;
    uint32_t dim = model->shape.dim;
    uint32_t kv_mul = model->shape.n_heads / model->shape.n_kv_heads;
    uint32_t len_max = pos0 + count;
    size_t stride = ((size_t)len_max + 15) / 16 * 16;
    float scale = sqrtf((float)hs);
    for (uint32_t h = 0; h < model->shape.n_heads; h++) {
        size_t kv_offset = (size_t)(h / kv_mul) * hs;
        if (h % kv_mul == 0) {
            keys_transpose(ex, keys, kv_offset, len_max, stride);
        }
        for (uint32_t t = 0; t < count; t++) {
            uint32_t len = pos0 + t + 1;
            float *att = ex->att;
            scores_body(kernel, ex->kt, stride, ex->q + (size_t)t * dim + (size_t)h * hs, hs,
                        len, scale, att);
            softmax_body(kernel, ex->exp_wide, att, len);
            weighted_sum_body(kernel == INFER_KERNEL_FMA, values + kv_offset, model->kv_dim, att,
                              hs, len, ex->xb + (size_t)t * dim + (size_t)h * hs);
        }
    }
}

INLINE void residual_add(float *x, const float *delta, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        x[i] = x[i] + delta[i];
    }
}

/* Q8 runs its matmuls in integers (infer_q8.c); the rest of its layer is
 * the reference's float arithmetic. */
INLINE infer_kernel float_kernel(infer_kernel kernel)
{
    return kernel == INFER_KERNEL_Q8 ? INFER_KERNEL_SEQUENTIAL : kernel;
}

INLINE void matmul_any(infer_executor *ex, infer_kernel kernel, const infer_mat *mat,
                       const float *x, uint32_t count, float *out)
{
    if (kernel == INFER_KERNEL_Q8) {
        infer__matmul_q8(ex, mat, x, count, out);
        return;
    }
    matmul_body(kernel, mat, x, count, out);
}

/* The layer's keys and values of 'count' tokens at positions pos0 .., into
 * the cache, and with 'queries' their queries into ex->q; x is only read.
 * Returns the layer's rows of keys, and its values in *values. */
INLINE float *attention_inputs(infer_executor *ex, infer_kernel kernel, infer_kv *kv,
                               uint32_t layer_index, const float *x, uint32_t count,
                               uint32_t pos0, bool queries, float **values)
{
    const infer_model *model = ex->model;
    const infer_layer *layer = &model->layers[layer_index];
    uint32_t dim = model->shape.dim;
    uint32_t kv_dim = model->kv_dim;
    uint32_t local = layer_index - kv->first_layer;
    size_t layer_offset = (size_t)local * model->shape.seq_len * kv_dim;
    float *keys = kv->keys + layer_offset;
    *values = kv->values + layer_offset;
    const float *weight = model->rms_att + (size_t)layer_index * dim;
    for (uint32_t t = 0; t < count; t++) {
        rmsnorm_body(float_kernel(kernel), ex->xb + (size_t)t * dim, x + (size_t)t * dim, weight,
                     dim);
    }
    /* Keys and values of the new positions go straight into the cache. */
    if (queries) {
        matmul_any(ex, kernel, &layer->wq, ex->xb, count, ex->q);
    }
    matmul_any(ex, kernel, &layer->wk, ex->xb, count, keys + (size_t)pos0 * kv_dim);
    matmul_any(ex, kernel, &layer->wv, ex->xb, count, *values + (size_t)pos0 * kv_dim);
    for (uint32_t t = 0; t < count; t++) {
        if (queries) {
            rope_body(model, ex->q + (size_t)t * dim, dim, pos0 + t);
        }
        rope_body(model, keys + (size_t)(pos0 + t) * kv_dim, kv_dim, pos0 + t);
    }
    return keys;
}

INLINE void attention_block(infer_executor *ex, infer_kernel kernel, infer_kv *kv,
                            uint32_t layer_index, float *x, uint32_t count, uint32_t pos0)
{
    const infer_layer *layer = &ex->model->layers[layer_index];
    float *values;
    float *keys = attention_inputs(ex, kernel, kv, layer_index, x, count, pos0, true, &values);
    attention_heads(ex, float_kernel(kernel), keys, values, count, pos0);
    matmul_any(ex, kernel, &layer->wo, ex->xb, count, ex->xb2);
    residual_add(x, ex->xb2, (size_t)count * ex->model->shape.dim);
}

INLINE void ffn_block(infer_executor *ex, infer_kernel kernel, uint32_t layer_index, float *x,
                      uint32_t count)
{
    const infer_model *model = ex->model;
    const infer_layer *layer = &model->layers[layer_index];
    uint32_t dim = model->shape.dim;
    size_t hidden_total = (size_t)count * model->shape.hidden_dim;
    const float *weight = model->rms_ffn + (size_t)layer_index * dim;
    for (uint32_t t = 0; t < count; t++) {
        rmsnorm_body(float_kernel(kernel), ex->xb + (size_t)t * dim, x + (size_t)t * dim, weight,
                     dim);
    }
    matmul_any(ex, kernel, &layer->w1, ex->xb, count, ex->hb);
    matmul_any(ex, kernel, &layer->w3, ex->xb, count, ex->hb2);
    silu_gate(ex->exp_wide, ex->hb, ex->hb2, hidden_total);
    matmul_any(ex, kernel, &layer->w2, ex->hb, count, ex->xb);
    residual_add(x, ex->xb, (size_t)count * dim);
}

/* One layer; with 'kv_only' just the keys and values it puts in the
 * cache, x only read. */
INLINE void layer_body(infer_executor *ex, infer_kernel kernel, infer_kv *kv,
                       uint32_t layer_index, float *x, uint32_t count, uint32_t pos0,
                       bool kv_only)
{
    if (kv_only) {
        float *values;
        (void)attention_inputs(ex, kernel, kv, layer_index, x, count, pos0, false, &values);
        return;
    }
    attention_block(ex, kernel, kv, layer_index, x, count, pos0);
    ffn_block(ex, kernel, layer_index, x, count);
    if (kernel == INFER_KERNEL_BF16) {
        size_t total = (size_t)count * ex->model->shape.dim;
        for (size_t i = 0; i < total; i++) {
            x[i] = infer__round_bf16(x[i]);
        }
    }
}

INLINE void classify_body(infer_executor *ex, infer_kernel kernel, const float *x, float *logits)
{
    const infer_model *model = ex->model;
    const infer_mat *classifier =
        model->shape.shared_classifier ? &model->embedding : &model->classifier;
    rmsnorm_body(float_kernel(kernel), ex->xb, x, model->rms_final, model->shape.dim);
    matmul_any(ex, kernel, classifier, ex->xb, 1, logits);
}

/* ---- the two instantiations ---- */

static void matmul_generic(infer_kernel kernel, const infer_mat *mat, const float *x,
                           uint32_t count, float *out)
{
    matmul_body(kernel, mat, x, count, out);
}

static void layer_generic(infer_executor *ex, infer_kernel kernel, infer_kv *kv,
                          uint32_t layer_index, float *x, uint32_t count, uint32_t pos0,
                          bool kv_only)
{
    layer_body(ex, kernel, kv, layer_index, x, count, pos0, kv_only);
}

static void classify_generic(infer_executor *ex, infer_kernel kernel, const float *x,
                             float *logits)
{
    classify_body(ex, kernel, x, logits);
}

#if INFER_HAVE_AVX2
INFER_TARGET_AVX2 static void matmul_avx2(infer_kernel kernel, const infer_mat *mat,
                                          const float *x, uint32_t count, float *out)
{
    matmul_body(kernel, mat, x, count, out);
}

INFER_TARGET_AVX2 static void layer_avx2(infer_executor *ex, infer_kernel kernel, infer_kv *kv,
                                         uint32_t layer_index, float *x, uint32_t count,
                                         uint32_t pos0, bool kv_only)
{
    layer_body(ex, kernel, kv, layer_index, x, count, pos0, kv_only);
}

INFER_TARGET_AVX2 static void classify_avx2(infer_executor *ex, infer_kernel kernel,
                                            const float *x, float *logits)
{
    classify_body(ex, kernel, x, logits);
}
#endif

int infer__isa_best(void)
{
#if INFER_HAVE_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        return INFER_ISA_AVX2;
    }
#endif
    return INFER_ISA_GENERIC;
}

bool infer_uses_avx2(void)
{
    return infer__isa_best() == INFER_ISA_AVX2;
}

void infer__matmul(int isa, infer_kernel kernel, const infer_mat *mat, const float *x,
                   uint32_t count, float *out)
{
    ASSERT((unsigned)kernel < INFER_KERNEL_COUNT && kernel != INFER_KERNEL_Q8);
    ASSERT(((uintptr_t)mat->data & 31u) == 0);
#if INFER_HAVE_AVX2
    if (isa == INFER_ISA_AVX2) {
        matmul_avx2(kernel, mat, x, count, out);
        return;
    }
#endif
    ASSERT(isa == INFER_ISA_GENERIC);
    matmul_generic(kernel, mat, x, count, out);
}

void infer__layer_forward(infer_executor *executor, infer_kernel kernel, infer_kv *kv,
                          uint32_t layer_index, float *x, uint32_t count, uint32_t pos0,
                          bool kv_only)
{
    ASSERT(layer_index >= kv->first_layer);
    ASSERT(layer_index - kv->first_layer < kv->layer_count);
    ASSERT(pos0 + count <= executor->model->shape.seq_len);
#if INFER_HAVE_AVX2
    if (executor->isa == INFER_ISA_AVX2) {
        layer_avx2(executor, kernel, kv, layer_index, x, count, pos0, kv_only);
        return;
    }
#endif
    layer_generic(executor, kernel, kv, layer_index, x, count, pos0, kv_only);
}

void infer__classify(infer_executor *executor, infer_kernel kernel, const float *x,
                     float *logits)
{
#if INFER_HAVE_AVX2
    if (executor->isa == INFER_ISA_AVX2) {
        classify_avx2(executor, kernel, x, logits);
        return;
    }
#endif
    classify_generic(executor, kernel, x, logits);
}

/* ---- the exponential's probe ---- */

#define EXP_PROBES 4096u
#define EXP_PROBE_CHUNK 64u

/* Probe i: the first half steps through the bit patterns below 88.0 (every
 * magnitude), alternating signs; the second half through [-88, 88) evenly. */
static float exp_probe_value(uint32_t i)
{
    uint32_t half = EXP_PROBES / 2;
    if (i < half) {
        uint32_t bits = (uint32_t)((uint64_t)i * EXP_FAST_BELOW / half) | (i & 1u) << 31;
        float value;
        memcpy(&value, &bits, sizeof(value));
        return value;
    }
    return (float)(-88.0 + 176.0 * ((double)(i - half) + 0.5) / half);
}

bool infer__exp_probe(float (*reference)(float))
{
    ASSERT(reference != NULL);
    if (infer__isa_best() != INFER_ISA_AVX2) {
        return false;
    }
    for (uint32_t first = 0; first < EXP_PROBES; first += EXP_PROBE_CHUNK) {
        float in[EXP_PROBE_CHUNK], out[EXP_PROBE_CHUNK];
        for (uint32_t i = 0; i < EXP_PROBE_CHUNK; i++) {
            in[i] = exp_probe_value(first + i);
        }
        infer__exp(INFER_ISA_AVX2, in, out, EXP_PROBE_CHUNK);
        for (uint32_t i = 0; i < EXP_PROBE_CHUNK; i++) {
            float want = reference(in[i]);
            if (memcmp(&want, &out[i], sizeof(want)) != 0) {
                return false;
            }
        }
    }
    return true;
}

bool infer__exp_wide(void)
{
    static atomic_int known; /* 0: not probed yet; 1: wide; 2: not */
    int state = atomic_load_explicit(&known, memory_order_relaxed);
    if (state == 0) {
        state = infer__exp_probe(expf) ? 1 : 2;
        atomic_store_explicit(&known, state, memory_order_relaxed);
    }
    return state == 1;
}

void infer__exp(int isa, const float *x, float *out, size_t n)
{
    ASSERT(isa >= 0 && isa <= infer__isa_best());
    memcpy(out, x, n * sizeof(float));
    exp_all(isa == INFER_ISA_AVX2, out, n, 0.0f);
}

float infer__dot(infer_kernel kernel, const float *a, const float *b, uint32_t n)
{
    return dot_body(float_kernel(kernel), a, b, n);
}

float infer__sum(infer_kernel kernel, const float *a, uint32_t n)
{
    return sum_body(float_kernel(kernel), a, n);
}

/* Round to nearest even on the bits; NaN stays NaN, overflow becomes inf
 * (as a conversion to bf16 would). */
float infer__round_bf16(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof(bits));
    if ((bits & 0x7f800000u) == 0x7f800000u) {
        return value;
    }
    bits += 0x7fffu + ((bits >> 16) & 1u);
    bits &= 0xffff0000u;
    memcpy(&value, &bits, sizeof(value));
    return value;
}
