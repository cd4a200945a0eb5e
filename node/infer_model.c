/* infer_model.c -- the weights of an inference model: shape validation,
 * seeded creation, llama2.c checkpoint parsing and writing, the rotary
 * tables, and the names and sizes of node/infer.h. Matrices are stored in
 * the panel layout of infer_int.h; checkpoints use llama2.c's row-major
 * float32 layout, so loading and saving repack element by element.
 *
 * All three producers of weights (seed, load, save) walk the same tensor
 * list, in llama2.c order, so they cannot disagree about it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "node/infer_int.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/prng.h"

#define INFER_HEADER_BYTES 28u
#define INFER_ALIGN 64u

typedef enum tensor_kind {
    TENSOR_PLAIN,        /* 'plain' holds 'count' floats */
    TENSOR_MATRIX,       /* 'mat' (row-major in the file) */
    TENSOR_ROPE          /* freq_cis_real then freq_cis_imag: not stored, derived */
} tensor_kind;

typedef struct tensor_entry {
    tensor_kind kind;
    float *plain;
    size_t count;
    infer_mat *mat;
} tensor_entry;

static void why_set(char *why, size_t why_size, const char *text)
{
    if (why != NULL && why_size > 0) {
        snprintf(why, why_size, "%s", text);
    }
}

static int shape_range_check(const infer_shape *shape, char *why, size_t why_size)
{
    static const char *const names[] = {"dim", "hidden_dim", "n_layers", "n_heads",
                                        "n_kv_heads", "vocab_size", "seq_len"};
    const uint32_t values[] = {shape->dim, shape->hidden_dim, shape->n_layers, shape->n_heads,
                               shape->n_kv_heads, shape->vocab_size, shape->seq_len};
    const uint32_t maxima[] = {INFER_DIM_MAX, INFER_HIDDEN_MAX, INFER_LAYERS_MAX, INFER_DIM_MAX,
                               INFER_DIM_MAX, INFER_VOCAB_MAX, INFER_SEQ_MAX};
    for (size_t i = 0; i < UTIL_ARRAY_COUNT(values); i++) {
        if (values[i] == 0 || values[i] > maxima[i]) {
            if (why != NULL && why_size > 0) {
                snprintf(why, why_size, "%s %u out of range 1..%u", names[i], values[i],
                         maxima[i]);
            }
            return INFER_EINVAL;
        }
    }
    return 0;
}

int infer_shape_check(const infer_shape *shape, char *why, size_t why_size)
{
    ASSERT(shape != NULL);
    if (shape_range_check(shape, why, why_size) != 0) {
        return INFER_EINVAL;
    }
    if (shape->n_heads % shape->n_kv_heads != 0) {
        why_set(why, why_size, "n_heads is not a multiple of n_kv_heads");
        return INFER_EINVAL;
    }
    if (shape->dim % shape->n_heads != 0) {
        why_set(why, why_size, "dim is not a multiple of n_heads");
        return INFER_EINVAL;
    }
    if ((shape->dim / shape->n_heads) % 2 != 0) {
        why_set(why, why_size, "head size is odd");
        return INFER_EINVAL;
    }
    return 0;
}

/* ---- matrices ---- */

static int mat_init(infer_mat *mat, uint32_t rows, uint32_t cols)
{
    mat->rows = rows;
    mat->cols = cols;
    mat->panel_count = (rows + INFER_PANEL_ROWS - 1) / INFER_PANEL_ROWS;
    mat->q8_values = NULL;
    mat->q8_scales = NULL;
    size_t bytes = (size_t)mat->panel_count * INFER_PANEL_ROWS * cols * sizeof(float);
    mat->block = util_malloc(bytes + INFER_ALIGN);
    if (mat->block == NULL) {
        mat->data = NULL;
        return INFER_ENOMEM;
    }
    uintptr_t address = (uintptr_t)mat->block;
    address = (address + INFER_ALIGN - 1) & ~(uintptr_t)(INFER_ALIGN - 1);
    mat->data = (float *)address;
    /* Padding rows must be zero so padded lanes stay finite. */
    memset(mat->data, 0, bytes);
    return 0;
}

static void mat_deinit(infer_mat *mat)
{
    util_free(mat->block);
    util_free(mat->q8_values);
    util_free(mat->q8_scales);
    mat->block = NULL;
    mat->data = NULL;
    mat->q8_values = NULL;
    mat->q8_scales = NULL;
}

/* ---- the tensor list, llama2.c order ---- */

static size_t tensor_list(infer_model *model, tensor_entry *list)
{
    const infer_shape *s = &model->shape;
    size_t count = 0;
    list[count++] = (tensor_entry){TENSOR_MATRIX, NULL, 0, &model->embedding};
    list[count++] = (tensor_entry){TENSOR_PLAIN, model->rms_att, (size_t)s->n_layers * s->dim,
                                   NULL};
    for (size_t which = 0; which < 4; which++) {
        for (uint32_t l = 0; l < s->n_layers; l++) {
            infer_layer *layer = &model->layers[l];
            infer_mat *mats[] = {&layer->wq, &layer->wk, &layer->wv, &layer->wo};
            list[count++] = (tensor_entry){TENSOR_MATRIX, NULL, 0, mats[which]};
        }
    }
    list[count++] = (tensor_entry){TENSOR_PLAIN, model->rms_ffn, (size_t)s->n_layers * s->dim,
                                   NULL};
    for (size_t which = 0; which < 3; which++) {
        for (uint32_t l = 0; l < s->n_layers; l++) {
            infer_layer *layer = &model->layers[l];
            infer_mat *mats[] = {&layer->w1, &layer->w2, &layer->w3};
            list[count++] = (tensor_entry){TENSOR_MATRIX, NULL, 0, mats[which]};
        }
    }
    list[count++] = (tensor_entry){TENSOR_PLAIN, model->rms_final, s->dim, NULL};
    list[count++] = (tensor_entry){TENSOR_ROPE, NULL, 0, NULL};
    if (!s->shared_classifier) {
        list[count++] = (tensor_entry){TENSOR_MATRIX, NULL, 0, &model->classifier};
    }
    return count;
}

static size_t tensor_list_max(const infer_shape *shape)
{
    return 7 * (size_t)shape->n_layers + 8;
}

/* Float count of the checkpoint body for a valid shape (fits: every field
 * is bounded, so the total stays far below 2^62). */
static uint64_t checkpoint_float_count(const infer_shape *s)
{
    uint64_t dim = s->dim;
    uint64_t kv_dim = dim * s->n_kv_heads / s->n_heads;
    uint64_t layers = s->n_layers;
    uint64_t total = (uint64_t)s->vocab_size * dim;
    total += layers * (2 * dim + 2 * dim * dim + 2 * kv_dim * dim + 3 * dim * s->hidden_dim);
    total += dim + (uint64_t)s->seq_len * (dim / s->n_heads);
    if (!s->shared_classifier) {
        total += (uint64_t)s->vocab_size * dim;
    }
    return total;
}

static void rope_fill(infer_model *model)
{
    uint32_t half = model->head_size / 2;
    for (uint32_t pos = 0; pos < model->shape.seq_len; pos++) {
        for (uint32_t i = 0; i < half; i++) {
            /* llama2.c: freq = 1 / 10000^(head_dim / head_size), head_dim = 2i. */
            float freq = 1.0f / powf(INFER_ROPE_THETA, (float)(2 * i) / (float)model->head_size);
            float angle = (float)pos * freq;
            model->rope_cos[(size_t)pos * half + i] = cosf(angle);
            model->rope_sin[(size_t)pos * half + i] = sinf(angle);
        }
    }
}

void infer_model_destroy(infer_model *model)
{
    if (model == NULL) {
        return;
    }
    if (model->layers != NULL) {
        for (uint32_t l = 0; l < model->shape.n_layers; l++) {
            infer_layer *layer = &model->layers[l];
            mat_deinit(&layer->wq);
            mat_deinit(&layer->wk);
            mat_deinit(&layer->wv);
            mat_deinit(&layer->wo);
            mat_deinit(&layer->w1);
            mat_deinit(&layer->w2);
            mat_deinit(&layer->w3);
        }
    }
    mat_deinit(&model->embedding);
    mat_deinit(&model->classifier);
    util_free(model->layers);
    util_free(model->rms_att);
    util_free(model->rms_ffn);
    util_free(model->rms_final);
    util_free(model->rope_cos);
    util_free(model->rope_sin);
    util_free(model);
}

static int model_alloc_layers(infer_model *model)
{
    const infer_shape *s = &model->shape;
    for (uint32_t l = 0; l < s->n_layers; l++) {
        infer_layer *layer = &model->layers[l];
        int rc = mat_init(&layer->wq, s->dim, s->dim);
        rc = rc != 0 ? rc : mat_init(&layer->wk, model->kv_dim, s->dim);
        rc = rc != 0 ? rc : mat_init(&layer->wv, model->kv_dim, s->dim);
        rc = rc != 0 ? rc : mat_init(&layer->wo, s->dim, s->dim);
        rc = rc != 0 ? rc : mat_init(&layer->w1, s->hidden_dim, s->dim);
        rc = rc != 0 ? rc : mat_init(&layer->w2, s->dim, s->hidden_dim);
        rc = rc != 0 ? rc : mat_init(&layer->w3, s->hidden_dim, s->dim);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Allocates a model of a checked shape, weights zero, rotary tables set. */
static int model_alloc(const infer_shape *shape, infer_model **out)
{
    infer_model *model = util_calloc(1, sizeof(*model));
    if (model == NULL) {
        return INFER_ENOMEM;
    }
    model->shape = *shape;
    atomic_init(&model->q8_ready, false);
    model->head_size = shape->dim / shape->n_heads;
    model->kv_dim = shape->dim / shape->n_heads * shape->n_kv_heads;
    size_t norm_count = (size_t)shape->n_layers * shape->dim;
    size_t rope_count = (size_t)shape->seq_len * (model->head_size / 2);
    model->rms_att = util_calloc(norm_count, sizeof(float));
    model->rms_ffn = util_calloc(norm_count, sizeof(float));
    model->rms_final = util_calloc(shape->dim, sizeof(float));
    model->rope_cos = util_calloc(rope_count, sizeof(float));
    model->rope_sin = util_calloc(rope_count, sizeof(float));
    model->layers = util_calloc(shape->n_layers, sizeof(infer_layer));
    int rc = 0;
    if (model->rms_att == NULL || model->rms_ffn == NULL || model->rms_final == NULL ||
        model->rope_cos == NULL || model->rope_sin == NULL || model->layers == NULL) {
        rc = INFER_ENOMEM;
    }
    rc = rc != 0 ? rc : mat_init(&model->embedding, shape->vocab_size, shape->dim);
    if (rc == 0 && !shape->shared_classifier) {
        rc = mat_init(&model->classifier, shape->vocab_size, shape->dim);
    }
    rc = rc != 0 ? rc : model_alloc_layers(model);
    if (rc != 0) {
        infer_model_destroy(model);
        return rc;
    }
    rope_fill(model);
    *out = model;
    return 0;
}

/* ---- seeded weights ---- */

static float seed_uniform(util_prng *prng, float scale)
{
    return (float)(2.0 * util_prng_uniform(prng) - 1.0) * scale;
}

static void seed_fill(infer_model *model, util_prng *prng)
{
    tensor_entry list[7 * INFER_LAYERS_MAX + 8];
    size_t count = tensor_list(model, list);
    for (size_t e = 0; e < count; e++) {
        tensor_entry *entry = &list[e];
        if (entry->kind == TENSOR_PLAIN) {
            /* Norm weights near 1. */
            for (size_t i = 0; i < entry->count; i++) {
                entry->plain[i] = 1.0f + seed_uniform(prng, 0.1f);
            }
        } else if (entry->kind == TENSOR_MATRIX) {
            infer_mat *mat = entry->mat;
            float scale = mat == &model->embedding ? 1.0f : 1.0f / sqrtf((float)mat->cols);
            for (uint32_t r = 0; r < mat->rows; r++) {
                for (uint32_t c = 0; c < mat->cols; c++) {
                    *infer__mat_at(mat, r, c) = seed_uniform(prng, scale);
                }
            }
        }
    }
}

int infer_model_from_seed(const infer_shape *shape, uint64_t seed, infer_model **out, char *why,
                          size_t why_size)
{
    ASSERT(shape != NULL);
    ASSERT(out != NULL);
    int rc = infer_shape_check(shape, why, why_size);
    if (rc != 0) {
        return rc;
    }
    infer_model *model = NULL;
    rc = model_alloc(shape, &model);
    if (rc != 0) {
        why_set(why, why_size, "out of memory");
        return rc;
    }
    util_prng prng;
    util_prng_init(&prng, seed);
    seed_fill(model, &prng);
    *out = model;
    return 0;
}

/* ---- checkpoints ---- */

static int32_t read_i32(const uint8_t *p)
{
    uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                    (uint32_t)p[3] << 24;
    int32_t value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

static float read_f32(const uint8_t *p)
{
    uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                    (uint32_t)p[3] << 24;
    float value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

static void write_u32(uint8_t *p, uint32_t bits)
{
    p[0] = (uint8_t)bits;
    p[1] = (uint8_t)(bits >> 8);
    p[2] = (uint8_t)(bits >> 16);
    p[3] = (uint8_t)(bits >> 24);
}

static void write_f32(uint8_t *p, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof(bits));
    write_u32(p, bits);
}

/* Header to shape: negative or zero fields are rejected before the unsigned
 * conversion, so nothing wraps. */
static int header_parse(const uint8_t *bytes, infer_shape *shape, char *why, size_t why_size)
{
    int32_t fields[7];
    for (size_t i = 0; i < 7; i++) {
        fields[i] = read_i32(bytes + 4 * i);
    }
    for (size_t i = 0; i < 7; i++) {
        if (i != 5 && fields[i] <= 0) {
            why_set(why, why_size, "header field is zero or negative");
            return INFER_EINVAL;
        }
    }
    if (fields[5] == 0 || fields[5] == INT32_MIN) {
        why_set(why, why_size, "vocab_size is zero or out of range");
        return INFER_EINVAL;
    }
    *shape = (infer_shape){
        .dim = (uint32_t)fields[0], .hidden_dim = (uint32_t)fields[1],
        .n_layers = (uint32_t)fields[2], .n_heads = (uint32_t)fields[3],
        .n_kv_heads = (uint32_t)fields[4],
        .vocab_size = (uint32_t)(fields[5] < 0 ? -fields[5] : fields[5]),
        .seq_len = (uint32_t)fields[6], .shared_classifier = fields[5] > 0,
    };
    return infer_shape_check(shape, why, why_size);
}

static const uint8_t *tensor_read(tensor_entry *entry, const infer_model *model,
                                  const uint8_t *p)
{
    if (entry->kind == TENSOR_PLAIN) {
        for (size_t i = 0; i < entry->count; i++, p += 4) {
            entry->plain[i] = read_f32(p);
        }
    } else if (entry->kind == TENSOR_MATRIX) {
        for (uint32_t r = 0; r < entry->mat->rows; r++) {
            for (uint32_t c = 0; c < entry->mat->cols; c++, p += 4) {
                *infer__mat_at(entry->mat, r, c) = read_f32(p);
            }
        }
    } else {
        p += 2 * (size_t)model->shape.seq_len * (model->head_size / 2) * 4;
    }
    return p;
}

/* The index of the first float32 (little-endian) in bytes[count * 4] whose
 * exponent bits are all ones (NaN or infinity), or count when all are
 * finite. A model with such a weight computes nothing a run could use. */
static size_t checkpoint_first_non_finite(const uint8_t *bytes, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint32_t exponent = ((uint32_t)(bytes[4 * i + 3] & 0x7fu) << 1) | (bytes[4 * i + 2] >> 7);
        if (exponent == 0xffu) {
            return i;
        }
    }
    return count;
}

int infer_model_from_checkpoint(const void *bytes, size_t size, infer_model **out, char *why,
                                size_t why_size)
{
    ASSERT(out != NULL);
    ASSERT(bytes != NULL || size == 0);
    if (size < INFER_HEADER_BYTES) {
        why_set(why, why_size, "checkpoint shorter than its header");
        return INFER_EFORMAT;
    }
    infer_shape shape;
    int rc = header_parse(bytes, &shape, why, why_size);
    if (rc != 0) {
        return rc;
    }
    uint64_t expected = INFER_HEADER_BYTES + 4 * checkpoint_float_count(&shape);
    if ((uint64_t)size != expected) {
        if (why != NULL && why_size > 0) {
            snprintf(why, why_size, "checkpoint is %zu bytes, its header implies %llu", size,
                     (unsigned long long)expected);
        }
        return INFER_EFORMAT;
    }
    size_t floats = (size - INFER_HEADER_BYTES) / 4;
    size_t bad = checkpoint_first_non_finite((const uint8_t *)bytes + INFER_HEADER_BYTES, floats);
    if (bad < floats) {
        if (why != NULL && why_size > 0) {
            snprintf(why, why_size, "checkpoint weight %zu (byte %zu) is not finite (NaN or "
                                    "infinity)", bad, INFER_HEADER_BYTES + 4 * bad);
        }
        return INFER_EFORMAT;
    }
    infer_model *model = NULL;
    rc = model_alloc(&shape, &model);
    if (rc != 0) {
        why_set(why, why_size, "out of memory");
        return rc;
    }
    tensor_entry list[7 * INFER_LAYERS_MAX + 8];
    size_t count = tensor_list(model, list);
    const uint8_t *p = (const uint8_t *)bytes + INFER_HEADER_BYTES;
    for (size_t e = 0; e < count; e++) {
        p = tensor_read(&list[e], model, p);
    }
    ASSERT(p == (const uint8_t *)bytes + size);
    *out = model;
    return 0;
}

static uint8_t *tensor_write(const tensor_entry *entry, const infer_model *model, uint8_t *p)
{
    if (entry->kind == TENSOR_PLAIN) {
        for (size_t i = 0; i < entry->count; i++, p += 4) {
            write_f32(p, entry->plain[i]);
        }
    } else if (entry->kind == TENSOR_MATRIX) {
        for (uint32_t r = 0; r < entry->mat->rows; r++) {
            for (uint32_t c = 0; c < entry->mat->cols; c++, p += 4) {
                write_f32(p, *infer__mat_at(entry->mat, r, c));
            }
        }
    } else {
        size_t count = (size_t)model->shape.seq_len * (model->head_size / 2);
        for (size_t i = 0; i < count; i++, p += 4) {
            write_f32(p, model->rope_cos[i]);
        }
        for (size_t i = 0; i < count; i++, p += 4) {
            write_f32(p, model->rope_sin[i]);
        }
    }
    return p;
}

int infer_model_to_checkpoint(const infer_model *model, uint8_t **bytes_out, size_t *size_out)
{
    ASSERT(model != NULL);
    ASSERT(bytes_out != NULL && size_out != NULL);
    const infer_shape *s = &model->shape;
    size_t size = INFER_HEADER_BYTES + 4 * (size_t)checkpoint_float_count(s);
    uint8_t *bytes = util_malloc(size);
    if (bytes == NULL) {
        return INFER_ENOMEM;
    }
    int32_t vocab = s->shared_classifier ? (int32_t)s->vocab_size : -(int32_t)s->vocab_size;
    const uint32_t fields[7] = {s->dim, s->hidden_dim, s->n_layers, s->n_heads, s->n_kv_heads,
                                (uint32_t)vocab, s->seq_len};
    for (size_t i = 0; i < 7; i++) {
        write_u32(bytes + 4 * i, fields[i]);
    }
    tensor_entry list[7 * INFER_LAYERS_MAX + 8];
    ASSERT(tensor_list_max(s) <= UTIL_ARRAY_COUNT(list));
    /* tensor_list only reads through the pointers here. */
    size_t count = tensor_list((infer_model *)model, list);
    uint8_t *p = bytes + INFER_HEADER_BYTES;
    for (size_t e = 0; e < count; e++) {
        p = tensor_write(&list[e], model, p);
    }
    ASSERT(p == bytes + size);
    *bytes_out = bytes;
    *size_out = size;
    return 0;
}

/* ---- sizes and names ---- */

const infer_shape *infer_model_shape(const infer_model *model)
{
    ASSERT(model != NULL);
    return &model->shape;
}

uint64_t infer_layer_weight_bytes(const infer_shape *shape)
{
    ASSERT(shape != NULL && shape->n_heads > 0);
    uint64_t dim = shape->dim;
    uint64_t kv_dim = dim * shape->n_kv_heads / shape->n_heads;
    return 4 * (2 * dim + 2 * dim * dim + 2 * kv_dim * dim + 3 * dim * shape->hidden_dim);
}

uint64_t infer_layer_kv_bytes_per_token(const infer_shape *shape)
{
    ASSERT(shape != NULL && shape->n_heads > 0);
    uint64_t kv_dim = (uint64_t)shape->dim * shape->n_kv_heads / shape->n_heads;
    return 2 * kv_dim * sizeof(float);
}

uint64_t infer_forward_bytes(const infer_shape *shape, uint32_t layer_count, uint32_t pos0,
                             uint32_t count, bool last)
{
    ASSERT(shape != NULL && layer_count <= shape->n_layers);
    ASSERT(count >= 1 && (uint64_t)pos0 + count <= shape->seq_len);
    uint64_t dim = shape->dim;
    uint64_t bytes = infer_forward_weight_bytes(shape, layer_count, last);
    bytes += layer_count * infer_layer_kv_bytes_per_token(shape) * ((uint64_t)pos0 + count);
    bytes += 2 * (uint64_t)count * dim * sizeof(float);
    if (last) {
        bytes += (uint64_t)shape->vocab_size * sizeof(float); /* the logits written */
    }
    return bytes;
}

uint64_t infer_forward_weight_bytes(const infer_shape *shape, uint32_t layer_count, bool last)
{
    ASSERT(shape != NULL && layer_count <= shape->n_layers);
    uint64_t bytes = layer_count * infer_layer_weight_bytes(shape);
    if (last) {
        bytes += ((uint64_t)shape->dim + (uint64_t)shape->vocab_size * shape->dim) * sizeof(float);
    }
    return bytes;
}

const char *infer_kernel_name(infer_kernel kernel)
{
    static const char *const names[] = {"sequential", "blocked", "fma", "bf16", "q8"};
    _Static_assert(UTIL_ARRAY_COUNT(names) == INFER_KERNEL_COUNT, "kernel names");
    return (unsigned)kernel < INFER_KERNEL_COUNT ? names[kernel] : "unknown";
}

const char *infer_dtype_name(infer_dtype dtype)
{
    static const char *const names[] = {"fp32", "fp16", "bf16", "int8"};
    _Static_assert(UTIL_ARRAY_COUNT(names) == INFER_DTYPE_COUNT, "dtype names");
    return (unsigned)dtype < INFER_DTYPE_COUNT ? names[dtype] : "unknown";
}

const char *infer_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case INFER_EINVAL:
        return "invalid shape or argument";
    case INFER_ENOMEM:
        return "out of memory";
    case INFER_EFORMAT:
        return "malformed checkpoint or wire data";
    default:
        return "unknown error";
    }
}
