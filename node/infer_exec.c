/* infer_exec.c -- the executor side of node/infer.h: scratch space, KV
 * caches, token embedding, the forward and logits entry points and their
 * FLOP counts. The numerics live in infer_compute.c.
 *
 * FLOP convention (what a forward call adds to *flops): a multiply-add is 2,
 * every other element-wise operation is 1, and per-vector scalar work (the
 * mean and reciprocal square root of rmsnorm, the softmax maximum's final
 * value, rotary angles, which are tabulated) is not counted. Padding rows of
 * the panel layout are not counted either: the count is the logical work of
 * llama2.c's forward pass.
 *   matmul d x n, one token        2 d n
 *   rmsnorm over n                 4 n     (sum of squares 2n, scale and weight 2n)
 *   rotary embedding               3 (dim + kv_dim)   (6 per rotated pair)
 *   attention, per head, L = pos+1 4 head_size L (scores, weighted sum)
 *                                  + 5 L (scale 1, softmax: max 1, exp 1, sum 1, divide 1)
 *   residual add                   dim, twice per layer
 *   SwiGLU                         4 hidden (exp, add, divide, multiply)
 * The bf16 rounding of the BF16 variant is integer work and not counted. */
#include <string.h>

#include "node/infer_int.h"
#include "util/alloc.h"
#include "util/assert.h"

uint64_t infer__layer_flops(const infer_shape *shape, uint32_t pos0, uint32_t count)
{
    uint64_t dim = shape->dim;
    uint64_t hidden = shape->hidden_dim;
    uint64_t kv_dim = dim * shape->n_kv_heads / shape->n_heads;
    uint64_t head_size = dim / shape->n_heads;
    uint64_t per_token = 2 * 4 * dim;                         /* two rmsnorms */
    per_token += 2 * dim * dim * 2 + 2 * kv_dim * dim * 2;    /* wq, wo, wk, wv */
    per_token += 3 * (dim + kv_dim);                          /* rope */
    per_token += 2 * dim;                                     /* residual adds */
    per_token += 3 * 2 * dim * hidden + 4 * hidden;           /* w1, w3, w2, SwiGLU */
    uint64_t total = per_token * count;
    /* Sum over the tokens of L = pos + 1. */
    uint64_t lengths = 0;
    for (uint32_t t = 0; t < count; t++) {
        lengths += (uint64_t)pos0 + t + 1;
    }
    total += shape->n_heads * (4 * head_size + 5) * lengths;
    return total;
}

uint64_t infer__layer_kv_flops(const infer_shape *shape, uint32_t count)
{
    uint64_t dim = shape->dim;
    uint64_t kv_dim = dim * shape->n_kv_heads / shape->n_heads;
    uint64_t per_token = 4 * dim + 2 * kv_dim * dim * 2 + 3 * kv_dim; /* rmsnorm, wk, wv, rope */
    return per_token * count;
}

uint64_t infer__logits_flops(const infer_shape *shape)
{
    return 4 * (uint64_t)shape->dim + 2 * (uint64_t)shape->vocab_size * shape->dim;
}

uint64_t infer_forward_flops(const infer_shape *shape, uint32_t layer_count, uint32_t pos0,
                            uint32_t count, bool last)
{
    uint64_t flops = count > 0 ? infer__layer_flops(shape, pos0, count) * layer_count : 0;
    return flops + (last ? infer__logits_flops(shape) : 0);
}

void infer_executor_destroy(infer_executor *executor)
{
    if (executor == NULL) {
        return;
    }
    util_free(executor->xb);
    util_free(executor->xb2);
    util_free(executor->q);
    util_free(executor->hb);
    util_free(executor->hb2);
    util_free(executor->att);
    util_free(executor->kt);
    util_free(executor->q8x);
    util_free(executor->q8xs);
    util_free(executor->q8w);
    util_free(executor->q8ws);
    util_free(executor);
}

int infer_executor_create(const infer_model *model, uint32_t tokens_max, infer_executor **out)
{
    ASSERT(model != NULL);
    ASSERT(out != NULL);
    if (tokens_max == 0) {
        return INFER_EINVAL;
    }
    /* No call can hold more tokens than the context. */
    tokens_max = tokens_max < model->shape.seq_len ? tokens_max : model->shape.seq_len;
    infer_executor *ex = util_calloc(1, sizeof(*ex));
    if (ex == NULL) {
        return INFER_ENOMEM;
    }
    ex->model = model;
    ex->tokens_max = tokens_max;
    ex->isa = infer__isa_best();
    ex->exp_wide = ex->isa == INFER_ISA_AVX2 && infer__exp_wide();
    size_t dim_total = (size_t)tokens_max * model->shape.dim;
    size_t hidden_total = (size_t)tokens_max * model->shape.hidden_dim;
    ex->xb = util_calloc(dim_total, sizeof(float));
    ex->xb2 = util_calloc(dim_total, sizeof(float));
    ex->q = util_calloc(dim_total, sizeof(float));
    ex->hb = util_calloc(hidden_total, sizeof(float));
    ex->hb2 = util_calloc(hidden_total, sizeof(float));
    ex->att = util_calloc(model->shape.seq_len, sizeof(float));
    size_t kt_stride = ((size_t)model->shape.seq_len + 15) / 16 * 16;
    ex->kt = util_calloc(kt_stride * model->head_size, sizeof(float));
    size_t cols_max = model->shape.hidden_dim > model->shape.dim ? model->shape.hidden_dim
                                                                  : model->shape.dim;
    ex->q8_cols_max = (uint32_t)cols_max;
    ex->q8x = util_calloc(2 * (size_t)tokens_max * cols_max, sizeof(int32_t));
    ex->q8xs = util_calloc((size_t)tokens_max * cols_max, sizeof(float));
    ex->q8w = util_calloc(9 * cols_max + 16, 1);
    ex->q8ws = util_calloc(10 * cols_max, sizeof(float));
    if (ex->xb == NULL || ex->xb2 == NULL || ex->q == NULL || ex->hb == NULL ||
        ex->hb2 == NULL || ex->att == NULL || ex->kt == NULL || ex->q8x == NULL ||
        ex->q8xs == NULL || ex->q8w == NULL || ex->q8ws == NULL) {
        infer_executor_destroy(ex);
        return INFER_ENOMEM;
    }
    *out = ex;
    return 0;
}

int infer__executor_set_isa(infer_executor *executor, int isa)
{
    ASSERT(executor != NULL);
    if (isa < 0 || isa >= INFER_ISA_COUNT || isa > infer__isa_best()) {
        return INFER_EINVAL;
    }
    executor->isa = isa;
    executor->exp_wide = isa == INFER_ISA_AVX2 && infer__exp_wide();
    return 0;
}

size_t infer_kv_bytes(const infer_shape *shape, uint32_t layer_count)
{
    ASSERT(shape != NULL && shape->n_heads > 0);
    size_t kv_dim = (size_t)shape->dim / shape->n_heads * shape->n_kv_heads;
    return 2 * (size_t)layer_count * shape->seq_len * kv_dim * sizeof(float);
}

void infer_kv_init(infer_kv *kv, const infer_shape *shape, uint32_t first_layer,
                   uint32_t layer_count, void *memory)
{
    ASSERT(kv != NULL && shape != NULL && memory != NULL);
    ASSERT(((uintptr_t)memory % sizeof(float)) == 0);
    ASSERT(layer_count > 0);
    ASSERT(first_layer + layer_count <= shape->n_layers);
    size_t kv_dim = (size_t)shape->dim / shape->n_heads * shape->n_kv_heads;
    kv->keys = memory;
    kv->values = kv->keys + (size_t)layer_count * shape->seq_len * kv_dim;
    kv->first_layer = first_layer;
    kv->layer_count = layer_count;
    kv->length = 0;
}

void infer_kv_copy_rows(infer_kv *to, const infer_kv *from, const infer_shape *shape,
                        uint32_t first, uint32_t count)
{
    ASSERT(to != NULL && from != NULL && shape != NULL);
    ASSERT(to->first_layer == from->first_layer && to->layer_count == from->layer_count);
    ASSERT(first <= shape->seq_len && count <= shape->seq_len - first);
    size_t kv_dim = (size_t)shape->dim / shape->n_heads * shape->n_kv_heads;
    size_t bytes = (size_t)count * kv_dim * sizeof(float);
    for (uint32_t l = 0; l < to->layer_count; l++) {
        size_t at = ((size_t)l * shape->seq_len + first) * kv_dim;
        memcpy(to->keys + at, from->keys + at, bytes);
        memcpy(to->values + at, from->values + at, bytes);
    }
}

int infer_embed(const infer_executor *executor, const uint32_t *tokens, uint32_t count,
                float *x)
{
    ASSERT(executor != NULL);
    ASSERT(tokens != NULL || count == 0);
    const infer_model *model = executor->model;
    for (uint32_t t = 0; t < count; t++) {
        if (tokens[t] >= model->shape.vocab_size) {
            return INFER_EINVAL;
        }
    }
    uint32_t dim = model->shape.dim;
    for (uint32_t t = 0; t < count; t++) {
        for (uint32_t i = 0; i < dim; i++) {
            x[(size_t)t * dim + i] = *infer__mat_at(&model->embedding, tokens[t], i);
        }
    }
    return 0;
}

int infer_forward_tail(infer_executor *executor, infer_kernel kernel, infer_kv *kv, float *x,
                       uint32_t count, uint32_t tail, uint64_t *flops)
{
    ASSERT(executor != NULL && kv != NULL && flops != NULL);
    ASSERT((unsigned)kernel < INFER_KERNEL_COUNT);
    const infer_shape *shape = &executor->model->shape;
    ASSERT(kv->first_layer + kv->layer_count <= shape->n_layers);
    if (count > executor->tokens_max || kv->length > shape->seq_len ||
        count > shape->seq_len - kv->length || tail > count) {
        return INFER_EINVAL;
    }
    if (count == 0) {
        return 0;
    }
    ASSERT(x != NULL);
    uint32_t pos0 = kv->length;
    uint32_t last = kv->first_layer + kv->layer_count - 1;
    for (uint32_t l = kv->first_layer; l < last; l++) {
        infer__layer_forward(executor, kernel, kv, l, x, count, pos0, false);
    }
    uint32_t head = count - tail;
    if (head > 0) {
        infer__layer_forward(executor, kernel, kv, last, x, head, pos0, true);
    }
    if (tail > 0) {
        infer__layer_forward(executor, kernel, kv, last, x + (size_t)head * shape->dim, tail,
                             pos0 + head, false);
    }
    kv->length = pos0 + count;
    *flops += infer__layer_flops(shape, pos0, count) * (kv->layer_count - 1) +
              infer__layer_kv_flops(shape, head) + infer__layer_flops(shape, pos0 + head, tail);
    return 0;
}

int infer_forward(infer_executor *executor, infer_kernel kernel, infer_kv *kv, float *x,
                  uint32_t count, uint64_t *flops)
{
    return infer_forward_tail(executor, kernel, kv, x, count, count, flops);
}

void infer_logits(infer_executor *executor, infer_kernel kernel, const float *x, float *logits,
                  uint64_t *flops)
{
    ASSERT(executor != NULL && x != NULL && logits != NULL && flops != NULL);
    ASSERT((unsigned)kernel < INFER_KERNEL_COUNT);
    infer__classify(executor, kernel, x, logits);
    *flops += infer__logits_flops(&executor->model->shape);
}

uint32_t infer_argmax(const float *logits, uint32_t count)
{
    ASSERT(logits != NULL && count > 0);
    /* The best value kept aside, not read back through its index: that
     * load made each step wait for the one before. */
    uint32_t best = 0;
    float top = logits[0];
    for (uint32_t i = 1; i < count; i++) {
        if (logits[i] > top) {
            top = logits[i];
            best = i;
        }
    }
    return best;
}
