/* infer_int.h -- private declarations shared by the infer_*.c files (model
 * and checkpoint, numerics, executor, wire) and by tests/test_infer.c, which
 * checks the kernels directly. Not part of the contract of node/infer.h.
 *
 * Weight matrices are stored in "panels" of INFER_PANEL_ROWS rows: panel p
 * holds, for every column i, the 8 values W[8p + 0 .. 8p + 7][i] next to
 * each other, so one 32-byte load feeds 8 output rows. The last panel is
 * padded with zero rows. Every kernel variant reduces each row on its own,
 * in an order fixed by the variant (never by the blocking, the number of
 * tokens in a call or the instruction set), which is what makes results
 * bit-identical across calls, splits and code paths. */
#ifndef NODE_INFER_INT_H
#define NODE_INFER_INT_H

#include <stdatomic.h>

#include "node/infer.h"

#define INFER_PANEL_ROWS 8u
#define INFER_HIDDEN_MAX (4u * INFER_DIM_MAX)
#define INFER_NORM_EPS 1e-5f
#define INFER_ROPE_THETA 10000.0f

/* Instruction sets a forward call can run on. Both give the same bits. */
enum {
    INFER_ISA_GENERIC = 0,    /* baseline x86-64 (SSE2) or any other target */
    INFER_ISA_AVX2 = 1,       /* 256-bit vectors and hardware FMA, chosen at run time */
    INFER_ISA_COUNT = 2
};

typedef struct infer_mat {
    uint32_t rows;
    uint32_t cols;
    uint32_t panel_count;     /* ceil(rows / 8) */
    float *data;              /* panel_count * 8 * cols, 64-byte aligned */
    void *block;              /* what util_malloc returned */
    /* Q8: the rows quantized in groups, in the same panels (infer_q8.c);
     * NULL until the model's first Q8 call (or if memory ran out then). */
    int8_t *q8_values;        /* panel_count * 8 * cols */
    float *q8_scales;         /* panel_count * groups * 8 */
} infer_mat;

typedef struct infer_layer {
    infer_mat wq;             /* dim x dim */
    infer_mat wk;             /* kv_dim x dim */
    infer_mat wv;             /* kv_dim x dim */
    infer_mat wo;             /* dim x dim */
    infer_mat w1;             /* hidden x dim */
    infer_mat w2;             /* dim x hidden */
    infer_mat w3;             /* hidden x dim */
} infer_layer;

struct infer_model {
    infer_shape shape;
    uint32_t head_size;
    uint32_t kv_dim;
    float *rms_att;           /* n_layers * dim */
    float *rms_ffn;           /* n_layers * dim */
    float *rms_final;         /* dim */
    float *rope_cos;          /* seq_len * head_size / 2: cos(pos * freq_i) */
    float *rope_sin;
    infer_mat embedding;      /* vocab x dim; also the classifier when shared */
    infer_mat classifier;     /* vocab x dim; unused (data NULL) when shared */
    infer_layer *layers;
    uint32_t q8_group;        /* a Q8_0 checkpoint's group size; 0 for a float model */
    atomic_bool q8_ready;     /* every matrix's q8_values made (or given up) */
};

struct infer_executor {
    const infer_model *model;
    uint32_t tokens_max;
    int isa;
    bool exp_wide;            /* the AVX2 exponential (infer__exp_wide) */
    float *xb;                /* tokens_max * dim */
    float *xb2;               /* tokens_max * dim */
    float *q;                 /* tokens_max * dim */
    float *hb;                /* tokens_max * hidden */
    float *hb2;               /* tokens_max * hidden */
    float *att;               /* seq_len */
    float *kt;                /* head_size * seq_len rounded up to 16: transposed keys */
    uint32_t q8_cols_max;     /* Q8: max(dim, hidden), the widest matrix row */
    int32_t *q8x;             /* Q8: tokens_max * max(dim, hidden) quantized activations,
                               * then as many words of pairs of them (infer_q8.c) */
    float *q8xs;              /* Q8: their scales, one per group */
    int8_t *q8w;              /* Q8: one panel quantized (8 x cols, an odd one padded),
                               * then one row (cols) */
    float *q8ws;              /* Q8: one row in float (cols), its scales (cols), then the
                               * panel's (8 x cols) */
};

/* Q8: the group size of the model's int8 matmuls (infer.h). Cannot fail. */
uint32_t infer__q8_group(const infer_model *model);
/* Q8: out[t * rows + r] = row r of 'mat' . x[t * cols ..] for t < count, in
 * integers on groups as INFER_KERNEL_Q8 defines, with the executor's
 * scratch. Cannot fail. */
void infer__matmul_q8(infer_executor *executor, const infer_mat *mat, const float *x,
                      uint32_t count, float *out);

/* Element (row, col) of a packed matrix. */
static inline float *infer__mat_at(const infer_mat *mat, uint32_t row, uint32_t col)
{
    size_t panel = row / INFER_PANEL_ROWS;
    return mat->data + (panel * mat->cols + col) * INFER_PANEL_ROWS + row % INFER_PANEL_ROWS;
}

/* The best instruction set this CPU offers. Cannot fail. */
int infer__isa_best(void);
/* Test hook: forces an executor onto 'isa'. Returns 0, or INFER_EINVAL if
 * the CPU lacks it. */
int infer__executor_set_isa(infer_executor *executor, int isa);

/* out[t * rows + r] = row r of 'mat' . x[t * cols ..] for t < count, reduced
 * as 'kernel' defines. Exposed for the tests. Cannot fail. */
void infer__matmul(int isa, infer_kernel kernel, const infer_mat *mat, const float *x,
                   uint32_t count, float *out);
/* One layer of the model on 'count' tokens at positions pos0 .. pos0 +
 * count - 1; keys and values go to the layer's rows of the cache. With
 * 'kv_only' only those keys and values (the same bits), x only read. */
void infer__layer_forward(infer_executor *executor, infer_kernel kernel, infer_kv *kv,
                          uint32_t layer_index, float *x, uint32_t count, uint32_t pos0,
                          bool kv_only);
/* Final norm and classifier of one token. */
void infer__classify(infer_executor *executor, infer_kernel kernel, const float *x,
                     float *logits);
/* The variant's reductions (dot product and plain sum), for the tests. */
float infer__dot(infer_kernel kernel, const float *a, const float *b, uint32_t n);
float infer__sum(infer_kernel kernel, const float *a, uint32_t n);
/* Rounds a float to the nearest bfloat16 (ties to even), kept as a float. */
float infer__round_bf16(float value);
/* Whether the AVX2 exponential gives 'reference''s bits on a probe of
 * values over its range; false without AVX2 and FMA. */
bool infer__exp_probe(float (*reference)(float));
/* The probe against the C library's expf, run once per process: whether
 * executors on AVX2 take the wide exponential. */
bool infer__exp_wide(void);
/* Test hook: out[i] = expf(x[i]), eight values at a time on INFER_ISA_AVX2. */
void infer__exp(int isa, const float *x, float *out, size_t n);

/* FLOPs of one layer on 'count' tokens at positions pos0 .. (convention in
 * infer_exec.c), and of the final norm plus classifier of one token. */
uint64_t infer__layer_flops(const infer_shape *shape, uint32_t pos0, uint32_t count);
uint64_t infer__logits_flops(const infer_shape *shape);
/* The FLOPs of a kv-only infer__layer_forward on 'count' tokens. */
uint64_t infer__layer_kv_flops(const infer_shape *shape, uint32_t count);

#endif
