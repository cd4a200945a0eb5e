/* infer_q8.c -- llama2.c's int8 export (version 2, read by runq.c): a
 * 256-byte header (magic "ak42", version 2, the 7 int32 of the shape, a
 * shared-classifier byte, the int32 group size, zero padding), the float32
 * norms (attention, feed-forward, final), then every matrix as Q8_0: its
 * int8 values followed by one float32 scale per group of group_size
 * values, in the order token embedding, wq, wk, wv, wo, w1, w2, w3 (each
 * for every layer), classifier when not shared.
 *
 * The loader checks the whole header (magic, version, shape, the flag,
 * a group size dividing dim and hidden_dim, zero padding) and the exact
 * size, rejects a scale that is not finite or so large that a weight
 * overflows, and dequantizes every weight to q x scale (runq.c's
 * dequantize). The model then runs on the float32 kernels: the weights
 * carry the int8 rounding, the activations are not quantized (runq.c also
 * quantizes them, group by group, before each matmul), so its results are
 * close to runq.c's, not bit-identical. The writer quantizes as llama2.c's
 * export does (scale = max |w| / 127 per group, values rounded). */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "node/infer_int.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/bytes.h"

#define Q8_HEADER_BYTES 256u
#define Q8_MAGIC 0x616b3432u
#define Q8_FP32_HEADER_BYTES 28u

typedef struct q8_layout {
    infer_shape shape;
    uint32_t group_size;
    uint64_t norm_floats;      /* rms_att, rms_ffn, rms_final */
    /* Quantized blocks: 'count' tensors of 'numel' values each, and where
     * their floats go in the llama2.c float32 checkpoint. */
    struct {
        uint64_t numel;
        uint64_t count;
        uint64_t fp32_offset;  /* in floats, after the 28-byte header */
    } blocks[9];
    uint32_t block_count;
    uint64_t q8_bytes;         /* the whole file */
    uint64_t fp32_floats;      /* the float32 checkpoint's body */
} q8_layout;

static uint32_t q8_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float q8_f32(const uint8_t *p)
{
    uint32_t bits = q8_u32(p);
    float value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

static void q8_put_f32(uint8_t *p, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof(bits));
    util_put_u32(p, bits);
}

/* Where every tensor lives in both formats, for a checked shape. */
static void q8_layout_fill(q8_layout *q)
{
    const infer_shape *s = &q->shape;
    uint64_t d = s->dim;
    uint64_t h = s->hidden_dim;
    uint64_t kv = d * s->n_kv_heads / s->n_heads;
    uint64_t l = s->n_layers;
    uint64_t v = s->vocab_size;
    /* float32 order: emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, rope, cls */
    uint64_t off_wq = v * d + l * d;
    uint64_t off_wk = off_wq + l * d * d;
    uint64_t off_wv = off_wk + l * kv * d;
    uint64_t off_wo = off_wv + l * kv * d;
    uint64_t off_w1 = off_wo + l * d * d + l * d;
    uint64_t off_w2 = off_w1 + l * h * d;
    uint64_t off_w3 = off_w2 + l * d * h;
    uint64_t off_cls = off_w3 + l * h * d + d + (uint64_t)s->seq_len * (d / s->n_heads);
    const uint64_t numel[9] = {v * d, d * d, kv * d, kv * d, d * d, h * d, d * h, h * d, v * d};
    const uint64_t count[9] = {1, l, l, l, l, l, l, l, 1};
    const uint64_t offset[9] = {0, off_wq, off_wk, off_wv, off_wo, off_w1, off_w2, off_w3,
                                off_cls};
    q->block_count = s->shared_classifier ? 8 : 9;
    q->norm_floats = 2 * l * d + d;
    q->q8_bytes = Q8_HEADER_BYTES + 4 * q->norm_floats;
    for (uint32_t b = 0; b < q->block_count; b++) {
        q->blocks[b].numel = numel[b];
        q->blocks[b].count = count[b];
        q->blocks[b].fp32_offset = offset[b];
        q->q8_bytes += count[b] * (numel[b] + 4 * (numel[b] / q->group_size));
    }
    q->fp32_floats = off_cls + (s->shared_classifier ? 0 : v * d);
}

static int q8_fail(char *why, size_t why_size, const char *text)
{
    if (why != NULL && why_size > 0) {
        snprintf(why, why_size, "int8 checkpoint: %s", text);
    }
    return INFER_EFORMAT;
}

static int q8_header_parse(const uint8_t *bytes, size_t size, q8_layout *q, char *why,
                           size_t why_size)
{
    if (size < Q8_HEADER_BYTES) {
        return q8_fail(why, why_size, "shorter than its 256-byte header");
    }
    if (q8_u32(bytes) != Q8_MAGIC || q8_u32(bytes + 4) != 2) {
        return q8_fail(why, why_size, q8_u32(bytes) != Q8_MAGIC ? "bad magic (not \"ak42\")"
                                                                : "version is not 2");
    }
    int32_t f[7];
    for (int i = 0; i < 7; i++) {
        f[i] = (int32_t)q8_u32(bytes + 8 + 4 * i);
        if (f[i] <= 0) {
            return q8_fail(why, why_size, "a shape field is zero or negative");
        }
    }
    uint8_t shared = bytes[36];
    int32_t group = (int32_t)q8_u32(bytes + 37);
    q->shape = (infer_shape){(uint32_t)f[0], (uint32_t)f[1], (uint32_t)f[2], (uint32_t)f[3],
                             (uint32_t)f[4], (uint32_t)f[5], (uint32_t)f[6], shared == 1};
    char reason[160];
    if (infer_shape_check(&q->shape, reason, sizeof(reason)) != 0) {
        return q8_fail(why, why_size, reason);
    }
    if (shared > 1) {
        return q8_fail(why, why_size, "shared_classifier flag is neither 0 nor 1");
    }
    if (group <= 0 || q->shape.dim % (uint32_t)group != 0 ||
        q->shape.hidden_dim % (uint32_t)group != 0) {
        return q8_fail(why, why_size, "group_size does not divide dim and hidden_dim");
    }
    for (size_t i = 41; i < Q8_HEADER_BYTES; i++) {
        if (bytes[i] != 0) {
            return q8_fail(why, why_size, "header padding is not zero");
        }
    }
    q->group_size = (uint32_t)group;
    q8_layout_fill(q);
    if ((uint64_t)size != q->q8_bytes) {
        if (why != NULL && why_size > 0) {
            snprintf(why, why_size, "int8 checkpoint: %zu bytes, its header implies %llu", size,
                     (unsigned long long)q->q8_bytes);
        }
        return INFER_EFORMAT;
    }
    return 0;
}

/* Dequantizes one block's tensors from *p into body (float32 checkpoint
 * bytes); a scale that is not finite or overflows a weight is an error. */
static int q8_block_read(const q8_layout *q, uint32_t b, const uint8_t *file, const uint8_t **p,
                         uint8_t *body, char *why, size_t why_size)
{
    uint64_t numel = q->blocks[b].numel;
    uint64_t groups = numel / q->group_size;
    uint8_t *out = body + 4 * q->blocks[b].fp32_offset;
    for (uint64_t t = 0; t < q->blocks[b].count; t++) {
        const int8_t *values = (const int8_t *)*p;
        const uint8_t *scales = *p + numel;
        for (uint64_t g = 0; g < groups; g++) {
            float scale = q8_f32(scales + 4 * g);
            if (!isfinite(scale) || fabsf(scale) > FLT_MAX / 128.0f) {
                if (why != NULL && why_size > 0) {
                    snprintf(why, why_size, "int8 checkpoint: the scale at byte %zu is not "
                             "finite or overflows a weight", (size_t)(scales + 4 * g - file));
                }
                return INFER_EFORMAT;
            }
            for (uint64_t i = g * q->group_size; i < (g + 1) * q->group_size; i++) {
                q8_put_f32(out + 4 * i, (float)values[i] * scale);
            }
        }
        out += 4 * numel;
        *p = scales + 4 * groups;
    }
    return 0;
}

bool infer_checkpoint_is_q8(const void *bytes, size_t size)
{
    return size >= 4 && q8_u32(bytes) == Q8_MAGIC;
}

int infer_model_from_q8_checkpoint(const void *bytes, size_t size, infer_model **out,
                                   char *why, size_t why_size)
{
    ASSERT(out != NULL);
    ASSERT(bytes != NULL || size == 0);
    q8_layout q;
    int rc = q8_header_parse(bytes, size, &q, why, why_size);
    if (rc != 0) {
        return rc;
    }
    uint8_t *fp32 = util_calloc(Q8_FP32_HEADER_BYTES + 4 * q.fp32_floats, 1);
    if (fp32 == NULL) {
        (void)q8_fail(why, why_size, "out of memory");
        return INFER_ENOMEM;
    }
    const infer_shape *s = &q.shape;
    const uint32_t header[7] = {s->dim, s->hidden_dim, s->n_layers, s->n_heads, s->n_kv_heads,
                                s->shared_classifier ? s->vocab_size
                                                     : (uint32_t) - (int32_t)s->vocab_size,
                                s->seq_len};
    for (int i = 0; i < 7; i++) {
        util_put_u32(fp32 + 4 * i, header[i]);
    }
    uint8_t *body = fp32 + Q8_FP32_HEADER_BYTES;
    const uint8_t *p = (const uint8_t *)bytes + Q8_HEADER_BYTES;
    uint64_t ld = (uint64_t)s->n_layers * s->dim;
    uint64_t d = s->dim;
    /* Norms: rms_att after the embedding, rms_ffn after wo, rms_final after w3. */
    memcpy(body + 4 * (q.blocks[0].numel), p, 4 * ld);
    memcpy(body + 4 * (q.blocks[4].fp32_offset + ld * d), p + 4 * ld, 4 * ld);
    memcpy(body + 4 * (q.blocks[7].fp32_offset + q.blocks[7].count * q.blocks[7].numel),
           p + 8 * ld, 4 * d);
    p += 4 * q.norm_floats;
    for (uint32_t b = 0; b < q.block_count && rc == 0; b++) {
        rc = q8_block_read(&q, b, bytes, &p, body, why, why_size);
    }
    if (rc == 0) {
        ASSERT(p == (const uint8_t *)bytes + size);
        rc = infer_model_from_checkpoint(fp32, Q8_FP32_HEADER_BYTES + 4 * q.fp32_floats, out,
                                         why, why_size);
    }
    if (rc == 0) {
        (*out)->q8_group = q.group_size; /* INFER_KERNEL_Q8 uses the file's groups. */
    }
    util_free(fp32);
    return rc;
}

/* Quantizes one block's tensors from the float32 body into *p. */
static void q8_block_write(const q8_layout *q, uint32_t b, const uint8_t *body, uint8_t **p)
{
    uint64_t numel = q->blocks[b].numel;
    uint64_t groups = numel / q->group_size;
    const uint8_t *in = body + 4 * q->blocks[b].fp32_offset;
    for (uint64_t t = 0; t < q->blocks[b].count; t++) {
        int8_t *values = (int8_t *)*p;
        uint8_t *scales = *p + numel;
        for (uint64_t g = 0; g < groups; g++) {
            float max = 0.0f;
            for (uint64_t i = g * q->group_size; i < (g + 1) * q->group_size; i++) {
                max = fmaxf(max, fabsf(q8_f32(in + 4 * i)));
            }
            float scale = max / 127.0f;
            for (uint64_t i = g * q->group_size; i < (g + 1) * q->group_size; i++) {
                /* Round half to even, as the exporter's torch.round. */
                values[i] = scale > 0.0f ? (int8_t)nearbyintf(q8_f32(in + 4 * i) / scale) : 0;
            }
            q8_put_f32(scales + 4 * g, scale);
        }
        in += 4 * numel;
        *p = scales + 4 * groups;
    }
}

int infer_model_to_q8_checkpoint(const infer_model *model, uint32_t group_size,
                                 uint8_t **bytes_out, size_t *size_out)
{
    ASSERT(model != NULL && bytes_out != NULL && size_out != NULL);
    q8_layout q = {.shape = *infer_model_shape(model), .group_size = group_size};
    if (group_size == 0 || q.shape.dim % group_size != 0 ||
        q.shape.hidden_dim % group_size != 0) {
        return INFER_EINVAL;
    }
    q8_layout_fill(&q);
    uint8_t *fp32 = NULL;
    size_t fp32_size = 0;
    int rc = infer_model_to_checkpoint(model, &fp32, &fp32_size);
    if (rc != 0) {
        return rc;
    }
    uint8_t *bytes = util_calloc(q.q8_bytes, 1);
    if (bytes == NULL) {
        util_free(fp32);
        return INFER_ENOMEM;
    }
    const infer_shape *s = &q.shape;
    const uint32_t header[9] = {Q8_MAGIC, 2, s->dim, s->hidden_dim, s->n_layers, s->n_heads,
                                s->n_kv_heads, s->vocab_size, s->seq_len};
    for (int i = 0; i < 9; i++) {
        util_put_u32(bytes + 4 * i, header[i]);
    }
    bytes[36] = s->shared_classifier ? 1 : 0;
    util_put_u32(bytes + 37, group_size);
    const uint8_t *body = fp32 + Q8_FP32_HEADER_BYTES;
    uint8_t *p = bytes + Q8_HEADER_BYTES;
    uint64_t ld = (uint64_t)s->n_layers * s->dim;
    memcpy(p, body + 4 * q.blocks[0].numel, 4 * ld);
    memcpy(p + 4 * ld, body + 4 * (q.blocks[4].fp32_offset + ld * s->dim), 4 * ld);
    memcpy(p + 8 * ld, body + 4 * (q.blocks[7].fp32_offset + q.blocks[7].count * q.blocks[7].numel),
           4 * (size_t)s->dim);
    p += 4 * q.norm_floats;
    for (uint32_t b = 0; b < q.block_count; b++) {
        q8_block_write(&q, b, body, &p);
    }
    ASSERT(p == bytes + q.q8_bytes);
    util_free(fp32);
    *bytes_out = bytes;
    *size_out = q.q8_bytes;
    return 0;
}

/* ---- INFER_KERNEL_Q8: runq.c's integer matmul ---- */

uint32_t infer__q8_group(const infer_model *model)
{
    ASSERT(model != NULL);
    if (model->q8_group != 0) {
        return model->q8_group;
    }
    uint32_t group = 64;
    while (model->shape.dim % group != 0 || model->shape.hidden_dim % group != 0) {
        group /= 2; /* dim is even (head sizes are), so this stops at 2 or above. */
    }
    ASSERT(group >= 1);
    return group;
}

typedef float q8_v8f __attribute__((vector_size(32)));
/* Four lanes: what every x86-64 has (SSE2), for the activations' quantizing. */
typedef float q8_v4f __attribute__((vector_size(16)));
typedef int32_t q8_v4i __attribute__((vector_size(16)));
typedef int8_t q8_v4c __attribute__((vector_size(4)));

/* roundf(v) for |v| below 2^23, as a quantized value always is (at most
 * 127 and a rounding): halves away from zero, without a library call. The
 * conversion truncates toward zero, and the rest is exact. */
static int8_t q8_round_away(float v)
{
    int32_t whole = (int32_t)v;
    float rest = v - (float)whole;
    whole += rest >= 0.5f ? 1 : rest <= -0.5f ? -1 : 0;
    return (int8_t)whole;
}

/* The largest |x[i]|, 0 for none: 4 lanes at a time, then the lanes. A
 * maximum is exact in any order, and a NaN never wins a comparison, so the
 * result is the one-at-a-time loop's. */
static float q8_max_magnitude(const float *x, uint32_t n)
{
    q8_v4f lanes = {0};
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        q8_v4f v;
        memcpy(&v, x + i, sizeof(v));
        q8_v4i bits = (q8_v4i)v & 0x7fffffff; /* fabsf */
        q8_v4i wins = (q8_v4f)bits > lanes;
        lanes = (q8_v4f)((bits & wins) | ((q8_v4i)lanes & ~wins));
    }
    float max = 0.0f;
    for (uint32_t l = 0; l < 4; l++) {
        max = lanes[l] > max ? lanes[l] : max;
    }
    for (; i < n; i++) {
        float magnitude = fabsf(x[i]);
        max = magnitude > max ? magnitude : max; /* fmaxf's result: max is never NaN */
    }
    return max;
}

/* values[i] = q8_round_away(x[i] / scale) for scale > 0, 4 lanes at a
 * time: the division is IEEE's in every lane, the conversion truncates as
 * the cast does, and the rest is exact, so the bits are q8_round_away's. */
static void q8_round_away_all(const float *x, uint32_t n, float scale, int8_t *values)
{
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        q8_v4f v;
        memcpy(&v, x + i, sizeof(v));
        v = v / scale;
        q8_v4i whole = __builtin_convertvector(v, q8_v4i);
        q8_v4f rest = v - __builtin_convertvector(whole, q8_v4f);
        whole = whole - (rest >= 0.5f) + (rest <= -0.5f); /* a true lane is -1 */
        q8_v4c bytes = __builtin_convertvector(whole, q8_v4c); /* |whole| <= 127 */
        memcpy(values + i, &bytes, sizeof(bytes));
    }
    for (; i < n; i++) {
        values[i] = q8_round_away(x[i] / scale);
    }
}

/* Quantizes n values in groups: scale = max |x| / 127, each value x /
 * scale rounded (half to even for weights, as the exporter; half away from
 * zero for activations, as runq.c's round); an all-zero group is zeros. */
static void q8_quantize(const float *x, uint32_t n, uint32_t group, bool weights, int8_t *values,
                        float *scales)
{
    for (uint32_t g = 0; g < n / group; g++) {
        const float *in = x + (size_t)g * group;
        int8_t *out = values + (size_t)g * group;
        float scale = q8_max_magnitude(in, group) / 127.0f;
        if (!(scale > 0.0f)) {
            memset(out, 0, group);
        } else if (weights) {
            for (uint32_t i = 0; i < group; i++) {
                out[i] = (int8_t)nearbyintf(in[i] / scale);
            }
        } else {
            q8_round_away_all(in, group, scale, out);
        }
        scales[g] = scale;
    }
}

/* A quantized panel holds its 8 rows' values by pairs of columns: for
 * columns 2k and 2k + 1, 16 bytes, two for each row in turn, so that
 * AVX2's multiply-add of 16-bit pairs takes one row's two products in one
 * lane. An odd last column pairs with a zero. Q8_AT is where row 'lane' of
 * the panel keeps column i. */
#define Q8_AT(i, lane) ((((size_t)(i) / 2) * INFER_PANEL_ROWS + (lane)) * 2 + ((i) & 1u))

/* The bytes of one quantized panel of a matrix of 'cols' columns. */
static size_t q8_panel_bytes(uint32_t cols)
{
    return (size_t)INFER_PANEL_ROWS * (cols + (cols & 1u));
}

/* Quantizes panel 'panel' of 'mat' row by row, as the exporter does, into
 * the panel layout: values[Q8_AT(i, lane)] is row 8 * panel + lane at
 * column i, scales[g * 8 + lane] its group g's scale (zeros for padding
 * rows). 'row' is scratch for cols floats and cols scales, 'row_values' for
 * cols bytes. */
static void q8_panel_quantize(const infer_mat *mat, uint32_t panel, uint32_t group, float *row,
                              int8_t *row_values, int8_t *values, float *scales)
{
    uint32_t cols = mat->cols;
    uint32_t groups = cols / group;
    float *row_scales = row + cols;
    for (uint32_t lane = 0; lane < INFER_PANEL_ROWS; lane++) {
        uint32_t r = panel * INFER_PANEL_ROWS + lane;
        for (uint32_t c = 0; c < cols; c++) {
            row[c] = r < mat->rows ? *infer__mat_at(mat, r, c) : 0.0f;
        }
        q8_quantize(row, cols, group, true, row_values, row_scales);
        for (uint32_t c = 0; c < cols; c++) {
            values[Q8_AT(c, lane)] = row_values[c];
        }
        if (cols & 1u) {
            values[Q8_AT(cols, lane)] = 0;
        }
        for (uint32_t g = 0; g < groups; g++) {
            scales[(size_t)g * INFER_PANEL_ROWS + lane] = row_scales[g];
        }
    }
}

/* Quantizes every panel of 'mat' into its q8_values and q8_scales; leaves
 * them NULL when memory runs out (the kernel then quantizes per call). */
static void q8_mat_prepare(infer_mat *mat, uint32_t group, float *row, int8_t *row_values)
{
    size_t panel_values = q8_panel_bytes(mat->cols);
    size_t panel_scales = (size_t)INFER_PANEL_ROWS * (mat->cols / group);
    int8_t *values = util_malloc(mat->panel_count * panel_values);
    float *scales = util_malloc(mat->panel_count * panel_scales * sizeof(float));
    if (values == NULL || scales == NULL) {
        util_free(values);
        util_free(scales);
        return;
    }
    for (uint32_t p = 0; p < mat->panel_count; p++) {
        q8_panel_quantize(mat, p, group, row, row_values, values + p * panel_values,
                          scales + p * panel_scales);
    }
    mat->q8_values = values;
    mat->q8_scales = scales;
}

/* The weights are quantized once per model, at its first Q8 call, under
 * this lock: executors on several threads may share a model. */
static pthread_mutex_t q8_prepare_lock = PTHREAD_MUTEX_INITIALIZER;

static void q8_model_prepare(const infer_model *model, infer_executor *executor)
{
    if (atomic_load_explicit(&model->q8_ready, memory_order_acquire)) {
        return;
    }
    pthread_mutex_lock(&q8_prepare_lock);
    if (!atomic_load_explicit(&model->q8_ready, memory_order_relaxed)) {
        /* The one write to a model after it is made; the lock and the flag
         * order it before every read. */
        infer_model *writable = (infer_model *)model;
        uint32_t group = infer__q8_group(model);
        float *row = executor->q8ws;
        int8_t *row_values = executor->q8w + q8_panel_bytes(executor->q8_cols_max);
        q8_mat_prepare(&writable->embedding, group, row, row_values);
        if (!model->shape.shared_classifier) {
            q8_mat_prepare(&writable->classifier, group, row, row_values);
        }
        for (uint32_t l = 0; l < model->shape.n_layers; l++) {
            infer_layer *layer = &writable->layers[l];
            infer_mat *mats[7] = {&layer->wq, &layer->wk, &layer->wv, &layer->wo,
                                  &layer->w1, &layer->w2, &layer->w3};
            for (int m = 0; m < 7; m++) {
                q8_mat_prepare(mats[m], group, row, row_values);
            }
        }
        atomic_store_explicit(&writable->q8_ready, true, memory_order_release);
    }
    pthread_mutex_unlock(&q8_prepare_lock);
}

/* One token's quantized activations: each column's value, and (for the
 * AVX2 path) each pair of columns' two values as 16-bit halves of one
 * word, the first in the low half. */
typedef struct q8_token {
    const int32_t *values;           /* cols */
    const int32_t *pairs;            /* cols / 2 */
    const float *scales;             /* one per group */
} q8_token;

/* Tokens a prefill's panel pass takes at once (AVX2): with their integer
 * sums and float values, 12 of the 16 vector registers. Spelled out six
 * times in q8_panel_dot_avx2_tokens. */
#define Q8_TOKENS 6u
_Static_assert(Q8_TOKENS == 6, "q8_panel_dot_avx2_tokens spells out six tokens");

/* One token on one panel: for each of its 8 rows, the integer dot product
 * of every group, then value = value + (dot * row scale) * token scale,
 * group by group from zero -- runq.c's order, lane by lane. Integer sums
 * are exact in any order, so the lanes may run the columns as they like;
 * the float steps are the same everywhere. */
static void q8_panel_dot(const int8_t *values, const float *scales, const q8_token *x,
                         uint32_t cols, uint32_t group, float out[INFER_PANEL_ROWS])
{
    const int32_t *xq = x->values;
    const float *xs = x->scales;
    for (uint32_t lane = 0; lane < INFER_PANEL_ROWS; lane++) {
        float value = 0.0f;
        for (uint32_t g = 0; g < cols / group; g++) {
            int32_t dot = 0;
            for (uint32_t i = g * group; i < (g + 1) * group; i++) {
                dot += (int32_t)values[Q8_AT(i, lane)] * xq[i];
            }
            value += ((float)dot * scales[(size_t)g * INFER_PANEL_ROWS + lane]) * xs[g];
        }
        out[lane] = value;
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* q8_panel_dot on AVX2, for an even group size: the 8 rows in the lanes
 * of one vector, each lane taking its row's two products of a pair of
 * columns at once (16-bit multiply-add: |products| are at most 127 x 127,
 * so nothing saturates). */
__attribute__((target("avx2"))) static void
q8_panel_dot_avx2(const int8_t *values, const float *scales, const q8_token *x, uint32_t cols,
                  uint32_t group, float out[INFER_PANEL_ROWS])
{
    q8_v8f value = {0};
    for (uint32_t g = 0; g < cols / group; g++) {
        __m256i dot = _mm256_setzero_si256();
        for (uint32_t k = g * group / 2; k < (g + 1) * group / 2; k++) {
            __m128i pair = _mm_loadu_si128((const __m128i *)(const void *)(values + Q8_AT(2 * k,
                                                                                        0)));
            __m256i products = _mm256_madd_epi16(_mm256_cvtepi8_epi16(pair),
                                                 _mm256_set1_epi32(x->pairs[k]));
            dot = _mm256_add_epi32(dot, products);
        }
        q8_v8f scale;
        memcpy(&scale, scales + (size_t)g * INFER_PANEL_ROWS, sizeof(scale));
        value = value + ((q8_v8f)_mm256_cvtepi32_ps(dot) * scale) * x->scales[g];
    }
    memcpy(out, &value, sizeof(value));
}

/* One token's integer sums take a widened pair of columns. */
#define Q8_MADD(dot, wide, pairs, k) \
    ((dot) = _mm256_add_epi32((dot), _mm256_madd_epi16((wide), _mm256_set1_epi32((pairs)[k]))))

/* One token's lanes take a group's float step, as q8_panel_dot_avx2's. */
#define Q8_STEP(value, dot, scale, token, g) \
    ((value) = (value) + ((q8_v8f)_mm256_cvtepi32_ps(dot) * (scale)) * (token)->scales[g])

/* q8_panel_dot_avx2 for Q8_TOKENS tokens at once (a prefill): each pair of
 * columns is loaded and widened once and multiplied into every token's
 * integer sums, and each token's lanes take the same float steps in the
 * same order, so the bits are q8_panel_dot_avx2's for each token. The six
 * tokens are spelled out so that their sums stay in registers. */
__attribute__((target("avx2"))) static void
q8_panel_dot_avx2_tokens(const int8_t *values, const float *scales,
                         const q8_token *const x[Q8_TOKENS], uint32_t cols, uint32_t group,
                         float out[Q8_TOKENS][INFER_PANEL_ROWS])
{
    const int32_t *p0 = x[0]->pairs, *p1 = x[1]->pairs, *p2 = x[2]->pairs;
    const int32_t *p3 = x[3]->pairs, *p4 = x[4]->pairs, *p5 = x[5]->pairs;
    q8_v8f v0 = {0}, v1 = {0}, v2 = {0}, v3 = {0}, v4 = {0}, v5 = {0};
    for (uint32_t g = 0; g < cols / group; g++) {
        __m256i d0 = _mm256_setzero_si256(), d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0;
        for (uint32_t k = g * group / 2; k < (g + 1) * group / 2; k++) {
            __m128i pair = _mm_loadu_si128((const __m128i *)(const void *)(values + Q8_AT(2 * k,
                                                                                        0)));
            __m256i wide = _mm256_cvtepi8_epi16(pair);
            Q8_MADD(d0, wide, p0, k);
            Q8_MADD(d1, wide, p1, k);
            Q8_MADD(d2, wide, p2, k);
            Q8_MADD(d3, wide, p3, k);
            Q8_MADD(d4, wide, p4, k);
            Q8_MADD(d5, wide, p5, k);
        }
        q8_v8f scale;
        memcpy(&scale, scales + (size_t)g * INFER_PANEL_ROWS, sizeof(scale));
        Q8_STEP(v0, d0, scale, x[0], g);
        Q8_STEP(v1, d1, scale, x[1], g);
        Q8_STEP(v2, d2, scale, x[2], g);
        Q8_STEP(v3, d3, scale, x[3], g);
        Q8_STEP(v4, d4, scale, x[4], g);
        Q8_STEP(v5, d5, scale, x[5], g);
    }
    memcpy(out[0], &v0, sizeof(v0));
    memcpy(out[1], &v1, sizeof(v1));
    memcpy(out[2], &v2, sizeof(v2));
    memcpy(out[3], &v3, sizeof(v3));
    memcpy(out[4], &v4, sizeof(v4));
    memcpy(out[5], &v5, sizeof(v5));
}
#endif

#if defined(__GNUC__) && defined(__x86_64__)
/* Whether the AVX2 kernels take this call: they multiply pairs of
 * columns, so a group's size must be even. */
static bool q8_avx2_takes(int isa, uint32_t group)
{
    return isa == INFER_ISA_AVX2 && group % 2 == 0;
}
#endif

static void q8_panel_dot_best(int isa, const int8_t *values, const float *scales,
                              const q8_token *x, uint32_t cols, uint32_t group,
                              float out[INFER_PANEL_ROWS])
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (q8_avx2_takes(isa, group)) {
        q8_panel_dot_avx2(values, scales, x, cols, group, out);
        return;
    }
#endif
    (void)isa;
    q8_panel_dot(values, scales, x, cols, group, out);
}

/* Where token t's quantized activations live in the executor's scratch:
 * the values, then (past every token's) the pairs; written by
 * q8_token_quantize, read through q8_token_at. */
typedef struct q8_token_slots {
    int32_t *values;
    int32_t *pairs;
    float *scales;
} q8_token_slots;

static q8_token_slots q8_token_slots_of(const infer_executor *executor, uint32_t t,
                                        uint32_t cols, uint32_t group)
{
    int32_t *pairs = executor->q8x + (size_t)executor->tokens_max * executor->q8_cols_max;
    return (q8_token_slots){executor->q8x + (size_t)t * cols, pairs + (size_t)t * (cols / 2),
                            executor->q8xs + (size_t)t * (cols / group)};
}

static q8_token q8_token_at(const infer_executor *executor, uint32_t t, uint32_t cols,
                            uint32_t group)
{
    q8_token_slots slots = q8_token_slots_of(executor, t, cols, group);
    return (q8_token){slots.values, slots.pairs, slots.scales};
}

/* Quantizes token t's activations (runq.c's rounding) into that scratch. */
static void q8_token_quantize(infer_executor *executor, const float *x, uint32_t t,
                              uint32_t cols, uint32_t group, int8_t *scratch)
{
    q8_token_slots at = q8_token_slots_of(executor, t, cols, group);
    q8_quantize(x + (size_t)t * cols, cols, group, false, scratch, at.scales);
    for (uint32_t c = 0; c < cols; c++) {
        at.values[c] = scratch[c];
    }
    for (uint32_t k = 0; k < cols / 2; k++) {
        at.pairs[k] = (int32_t)((uint32_t)(uint16_t)scratch[2 * k] |
                                (uint32_t)(uint16_t)scratch[2 * k + 1] << 16);
    }
}

/* A prefill's tokens on one panel, Q8_TOKENS at a time on AVX2 (an even
 * group size): writes their 'valid' rows into 'out' (row stride 'rows')
 * and returns how many tokens it took. A last pass of 2 to Q8_TOKENS - 1
 * tokens repeats its last token in the spare places (their results are
 * dropped); a single token is left to the caller, which takes it alone. */
static uint32_t q8_panel_tokens(const infer_executor *executor, const int8_t *values,
                                const float *scales, uint32_t count, uint32_t cols,
                                uint32_t group, float *out, uint32_t rows, uint32_t valid)
{
    uint32_t t = 0;
#if defined(__GNUC__) && defined(__x86_64__)
    if (!q8_avx2_takes(executor->isa, group)) {
        return 0;
    }
    while (count - t >= 2) {
        uint32_t taken = count - t < Q8_TOKENS ? count - t : Q8_TOKENS;
        q8_token tokens[Q8_TOKENS];
        const q8_token *x[Q8_TOKENS];
        for (uint32_t u = 0; u < Q8_TOKENS; u++) {
            tokens[u] = q8_token_at(executor, t + (u < taken ? u : taken - 1), cols, group);
            x[u] = &tokens[u];
        }
        float lanes[Q8_TOKENS][INFER_PANEL_ROWS];
        q8_panel_dot_avx2_tokens(values, scales, x, cols, group, lanes);
        for (uint32_t u = 0; u < taken; u++) {
            memcpy(out + (size_t)(t + u) * rows, lanes[u], valid * sizeof(float));
        }
        t += taken;
    }
#else
    (void)executor, (void)values, (void)scales, (void)count, (void)cols, (void)group;
    (void)out, (void)rows, (void)valid;
#endif
    return t;
}

void infer__matmul_q8(infer_executor *executor, const infer_mat *mat, const float *x,
                      uint32_t count, float *out)
{
    ASSERT(executor != NULL && mat != NULL && count <= executor->tokens_max);
    uint32_t cols = mat->cols;
    uint32_t group = infer__q8_group(executor->model);
    ASSERT(cols % group == 0 && cols <= executor->q8_cols_max);
    q8_model_prepare(executor->model, executor);
    size_t panel_values = q8_panel_bytes(cols);
    size_t panel_scales = (size_t)INFER_PANEL_ROWS * (cols / group);
    int8_t *row_values = executor->q8w + panel_values;
    for (uint32_t t = 0; t < count; t++) {
        q8_token_quantize(executor, x, t, cols, group, row_values);
    }
    for (uint32_t p = 0; p < mat->panel_count; p++) {
        const int8_t *values = executor->q8w;
        const float *scales = executor->q8ws + 2 * (size_t)cols;
        if (mat->q8_values != NULL) {
            values = mat->q8_values + p * panel_values;
            scales = mat->q8_scales + p * panel_scales;
        } else {
            q8_panel_quantize(mat, p, group, executor->q8ws, row_values, executor->q8w,
                              executor->q8ws + 2 * (size_t)cols);
        }
        uint32_t valid = mat->rows - p * INFER_PANEL_ROWS;
        valid = valid < INFER_PANEL_ROWS ? valid : INFER_PANEL_ROWS;
        uint32_t t = q8_panel_tokens(executor, values, scales, count, cols, group,
                                     out + p * INFER_PANEL_ROWS, mat->rows, valid);
        for (; t < count; t++) {
            q8_token token = q8_token_at(executor, t, cols, group);
            float lanes[INFER_PANEL_ROWS];
            q8_panel_dot_best(executor->isa, values, scales, &token, cols, group, lanes);
            memcpy(out + (size_t)t * mat->rows + p * INFER_PANEL_ROWS, lanes,
                   valid * sizeof(float));
        }
    }
}
