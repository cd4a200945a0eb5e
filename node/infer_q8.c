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

/* Quantizes n values in groups: scale = max |x| / 127, each value x /
 * scale rounded (half to even for weights, as the exporter; half away from
 * zero for activations, as runq.c's round); an all-zero group is zeros. */
static void q8_quantize(const float *x, uint32_t n, uint32_t group, bool weights, int8_t *values,
                        float *scales)
{
    for (uint32_t g = 0; g < n / group; g++) {
        float max = 0.0f;
        for (uint32_t i = g * group; i < (g + 1) * group; i++) {
            max = fmaxf(max, fabsf(x[i]));
        }
        float scale = max / 127.0f;
        for (uint32_t i = g * group; i < (g + 1) * group; i++) {
            float v = scale > 0.0f ? x[i] / scale : 0.0f;
            values[i] = (int8_t)(weights ? nearbyintf(v) : roundf(v));
        }
        scales[g] = scale;
    }
}

void infer__matmul_q8(infer_executor *executor, const infer_mat *mat, const float *x,
                      uint32_t count, float *out)
{
    ASSERT(executor != NULL && mat != NULL && count <= executor->tokens_max);
    uint32_t cols = mat->cols;
    uint32_t group = infer__q8_group(executor->model);
    ASSERT(cols % group == 0);
    uint32_t groups = cols / group;
    for (uint32_t t = 0; t < count; t++) {
        q8_quantize(x + (size_t)t * cols, cols, group, false, executor->q8x + (size_t)t * cols,
                    executor->q8xs + (size_t)t * groups);
    }
    float *row = executor->q8ws;                /* the weight row in float */
    float *scales = executor->q8ws + cols;      /* then its groups' scales */
    for (uint32_t r = 0; r < mat->rows; r++) {
        for (uint32_t c = 0; c < cols; c++) {
            row[c] = *infer__mat_at(mat, r, c);
        }
        q8_quantize(row, cols, group, true, executor->q8w, scales);
        for (uint32_t t = 0; t < count; t++) {
            const int8_t *xq = executor->q8x + (size_t)t * cols;
            const float *xs = executor->q8xs + (size_t)t * groups;
            float value = 0.0f;
            for (uint32_t g = 0; g < groups; g++) {
                int32_t dot = 0;
                for (uint32_t i = g * group; i < (g + 1) * group; i++) {
                    dot += (int32_t)xq[i] * (int32_t)executor->q8w[i];
                }
                value += ((float)dot * scales[g]) * xs[g]; /* runq.c's order */
            }
            out[(size_t)t * mat->rows + r] = value;
        }
    }
}
