/* test_infer.c -- node/infer: the kernels against the reductions they
 * document and against a double-precision reference written here from
 * llama2.c's run.c (rmsnorm, matmul, RoPE, grouped-query attention over
 * several positions, SwiGLU, classifier, whole model); checkpoints written
 * by infer_model_to_checkpoint and by hand, and malformed ones; invariance
 * under splitting a request across calls and layer ranges; determinism and
 * the divergence between kernel variants; the FLOP convention; wire
 * encodings. Shapes are tiny so the suite runs in well under a second. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "node/infer.h"
#include "node/infer_int.h"
#include "tests/suites.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/prng.h"


#define REF_MAX 128                  /* largest dim, hidden or vocab of the reference */
#define REF_SEQ_MAX 32
#define REF_LAYERS_MAX 4
#define TEST_TOKENS 8

static const infer_shape test_shape = {
    .dim = 32, .hidden_dim = 64, .n_layers = 3, .n_heads = 4, .n_kv_heads = 2,
    .vocab_size = 50, .seq_len = 32, .shared_classifier = true,
};

static const uint32_t test_tokens[TEST_TOKENS] = {3, 17, 42, 0, 49, 8, 8, 25};

/* ---- the double-precision reference ---- */

typedef struct ref_model {
    int dim, hidden, layers, heads, kv_heads, vocab, seq, kv_dim, head_size;
    bool shared;
    float *body;                      /* owned copy of every float after the header */
    const float *emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final, *cls;
    double keys[REF_LAYERS_MAX][REF_SEQ_MAX][REF_MAX];
    double values[REF_LAYERS_MAX][REF_SEQ_MAX][REF_MAX];
} ref_model;

/* Parses a checkpoint independently of infer_model.c (llama2.c order). */
static ref_model *ref_parse(const uint8_t *bytes, size_t size)
{
    ref_model *m = calloc(1, sizeof(*m));
    ck_assert_ptr_nonnull(m);
    int32_t h[7];
    memcpy(h, bytes, sizeof(h));
    m->dim = h[0];
    m->hidden = h[1];
    m->layers = h[2];
    m->heads = h[3];
    m->kv_heads = h[4];
    m->shared = h[5] > 0;
    m->vocab = abs(h[5]);
    m->seq = h[6];
    m->head_size = m->dim / m->heads;
    m->kv_dim = m->dim * m->kv_heads / m->heads;
    ck_assert_int_le(m->hidden, REF_MAX);
    ck_assert_int_le(m->layers, REF_LAYERS_MAX);
    ck_assert_int_le(m->seq, REF_SEQ_MAX);
    m->body = malloc(size - 28);
    memcpy(m->body, bytes + 28, size - 28);
    size_t d = (size_t)m->dim, hid = (size_t)m->hidden, l = (size_t)m->layers;
    const float *p = m->body;
    m->emb = p, p += (size_t)m->vocab * d;
    m->rms_att = p, p += l * d;
    m->wq = p, p += l * d * d;
    m->wk = p, p += l * m->kv_dim * d;
    m->wv = p, p += l * m->kv_dim * d;
    m->wo = p, p += l * d * d;
    m->rms_ffn = p, p += l * d;
    m->w1 = p, p += l * hid * d;
    m->w2 = p, p += l * d * hid;
    m->w3 = p, p += l * hid * d;
    m->rms_final = p, p += d;
    p += (size_t)m->seq * m->head_size;              /* freq_cis_real and _imag */
    m->cls = m->shared ? m->emb : p;
    p += m->shared ? 0 : (size_t)m->vocab * d;
    ck_assert_uint_eq((size_t)(p - m->body) * 4, size - 28);
    return m;
}

static void ref_free(ref_model *m)
{
    free(m->body);
    free(m);
}

static void ref_rmsnorm(double *out, const double *x, const float *w, int n)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++) {
        ss += x[i] * x[i];
    }
    double scale = 1.0 / sqrt(ss / n + 1e-5);
    for (int i = 0; i < n; i++) {
        out[i] = w[i] * x[i] * scale;
    }
}

static void ref_matvec(double *out, const float *w, const double *x, int d, int n)
{
    for (int r = 0; r < d; r++) {
        double s = 0.0;
        for (int i = 0; i < n; i++) {
            s += (double)w[(size_t)r * n + i] * x[i];
        }
        out[r] = s;
    }
}

static void ref_rope(double *v, int n, int head_size, int pos)
{
    for (int i = 0; i < n; i += 2) {
        double freq = 1.0 / pow(10000.0, (double)(i % head_size) / head_size);
        double c = cos(pos * freq), s = sin(pos * freq);
        double v0 = v[i], v1 = v[i + 1];
        v[i] = v0 * c - v1 * s;
        v[i + 1] = v0 * s + v1 * c;
    }
}

static void ref_attention(const ref_model *m, int l, const double *q, int pos, double *out)
{
    int hs = m->head_size;
    for (int h = 0; h < m->heads; h++) {
        int kvh = h / (m->heads / m->kv_heads);
        double att[REF_SEQ_MAX];
        double max = -INFINITY, sum = 0.0;
        for (int t = 0; t <= pos; t++) {
            double s = 0.0;
            for (int i = 0; i < hs; i++) {
                s += q[h * hs + i] * m->keys[l][t][kvh * hs + i];
            }
            att[t] = s / sqrt((double)hs);
            max = att[t] > max ? att[t] : max;
        }
        for (int t = 0; t <= pos; t++) {
            att[t] = exp(att[t] - max);
            sum += att[t];
        }
        for (int i = 0; i < hs; i++) {
            double s = 0.0;
            for (int t = 0; t <= pos; t++) {
                s += att[t] / sum * m->values[l][t][kvh * hs + i];
            }
            out[h * hs + i] = s;
        }
    }
}

static void ref_layer(ref_model *m, int l, double *x, int pos)
{
    int d = m->dim, hid = m->hidden, kv = m->kv_dim;
    size_t dd = (size_t)d * d;
    double xb[REF_MAX], q[REF_MAX], out[REF_MAX], xb2[REF_MAX], h1[REF_MAX], h3[REF_MAX];
    ref_rmsnorm(xb, x, m->rms_att + (size_t)l * d, d);
    ref_matvec(q, m->wq + l * dd, xb, d, d);
    ref_matvec(m->keys[l][pos], m->wk + (size_t)l * kv * d, xb, kv, d);
    ref_matvec(m->values[l][pos], m->wv + (size_t)l * kv * d, xb, kv, d);
    ref_rope(q, d, m->head_size, pos);
    ref_rope(m->keys[l][pos], kv, m->head_size, pos);
    ref_attention(m, l, q, pos, out);
    ref_matvec(xb2, m->wo + l * dd, out, d, d);
    for (int i = 0; i < d; i++) {
        x[i] += xb2[i];
    }
    ref_rmsnorm(xb, x, m->rms_ffn + (size_t)l * d, d);
    ref_matvec(h1, m->w1 + (size_t)l * hid * d, xb, hid, d);
    ref_matvec(h3, m->w3 + (size_t)l * hid * d, xb, hid, d);
    for (int i = 0; i < hid; i++) {
        h1[i] = h1[i] / (1.0 + exp(-h1[i])) * h3[i];
    }
    ref_matvec(xb2, m->w2 + (size_t)l * d * hid, h1, d, hid);
    for (int i = 0; i < d; i++) {
        x[i] += xb2[i];
    }
}

static void ref_logits(const ref_model *m, const double *x, double *logits)
{
    double xb[REF_MAX];
    ref_rmsnorm(xb, x, m->rms_final, m->dim);
    ref_matvec(logits, m->cls, xb, m->vocab, m->dim);
}

/* Norm-wise relative error max|a - b| / max|b|. */
static double rel_error(const float *a, const double *b, size_t n)
{
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    return diff / scale;
}

/* ---- fixtures ---- */

typedef struct fixture {
    infer_model *model;
    infer_executor *executor;
    void *kv_memory;
    infer_kv kv;
} fixture;

static void fixture_open(fixture *f, infer_model *model, uint32_t first, uint32_t count)
{
    f->model = model;
    ck_assert_int_eq(infer_executor_create(model, TEST_TOKENS, &f->executor), 0);
    const infer_shape *shape = infer_model_shape(model);
    f->kv_memory = util_malloc(infer_kv_bytes(shape, count));
    ck_assert_ptr_nonnull(f->kv_memory);
    /* Garbage in the cache must not matter. */
    memset(f->kv_memory, 0xa5, infer_kv_bytes(shape, count));
    infer_kv_init(&f->kv, shape, first, count, f->kv_memory);
}

static void fixture_close(fixture *f)
{
    util_free(f->kv_memory);
    infer_executor_destroy(f->executor);
}

static infer_model *model_seeded(bool shared, uint64_t seed)
{
    infer_shape shape = test_shape;
    shape.shared_classifier = shared;
    infer_model *model = NULL;
    char why[128];
    ck_assert_int_eq(infer_model_from_seed(&shape, seed, &model, why, sizeof(why)), 0);
    return model;
}

/* Embeds the test tokens, runs every layer (token by token when 'step'),
 * then the logits of the last token. */
static void run_model(infer_model *model, infer_kernel kernel, int isa, bool step, float *x,
                      float *logits)
{
    fixture f;
    const infer_shape *shape = infer_model_shape(model);
    fixture_open(&f, model, 0, shape->n_layers);
    ck_assert_int_eq(infer__executor_set_isa(f.executor, isa), 0);
    ck_assert_int_eq(infer_embed(f.executor, test_tokens, TEST_TOKENS, x), 0);
    uint64_t flops = 0;
    if (step) {
        for (uint32_t t = 0; t < TEST_TOKENS; t++) {
            ck_assert_int_eq(infer_forward(f.executor, kernel, &f.kv, x + t * shape->dim, 1,
                                           &flops), 0);
        }
    } else {
        ck_assert_int_eq(infer_forward(f.executor, kernel, &f.kv, x, TEST_TOKENS, &flops), 0);
    }
    infer_logits(f.executor, kernel, x + (TEST_TOKENS - 1) * shape->dim, logits, &flops);
    fixture_close(&f);
}

/* ---- kernels against their documented reductions ---- */

static float doc_dot(infer_kernel kernel, const float *a, const float *b, uint32_t n)
{
    if (kernel == INFER_KERNEL_SEQUENTIAL) {
        float s = 0.0f;
        for (uint32_t i = 0; i < n; i++) {
            float product = a[i] * b[i];
            s = s + product;
        }
        return s;
    }
    if (kernel == INFER_KERNEL_FMA) {
        float acc[4] = {0};
        for (uint32_t i = 0; i < n; i++) {
            acc[i % 4] = fmaf(a[i], b[i], acc[i % 4]);
        }
        return (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
    float acc[8] = {0};
    for (uint32_t i = 0; i < n; i++) {
        float product = a[i] * b[i];
        acc[i % 8] = acc[i % 8] + product;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static void mat_make(infer_mat *mat, uint32_t rows, uint32_t cols, const float *w)
{
    memset(mat, 0, sizeof(*mat));
    mat->rows = rows;
    mat->cols = cols;
    mat->panel_count = (rows + 7) / 8;
    size_t bytes = (size_t)mat->panel_count * 8 * cols * sizeof(float);
    mat->block = aligned_alloc(64, (bytes + 63) / 64 * 64);
    mat->data = mat->block;
    memset(mat->data, 0, bytes);
    for (uint32_t r = 0; r < rows; r++) {
        for (uint32_t c = 0; c < cols; c++) {
            *infer__mat_at(mat, r, c) = w[(size_t)r * cols + c];
        }
    }
}

static void random_fill(util_prng *prng, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(2.0 * util_prng_uniform(prng) - 1.0);
    }
}

START_TEST(test_infer_matmul_documented_order)
{
    /* Rows off the panel size, columns off 4 and 8 and past the 512-column chunk. */
    static const uint32_t shapes[][2] = {{8, 32}, {13, 37}, {50, 32}, {3, 5}, {40, 67},
                                         {17, 300}, {9, 517}};
    util_prng prng;
    util_prng_init(&prng, 11);
    for (size_t s = 0; s < UTIL_ARRAY_COUNT(shapes); s++) {
        /* 19 tokens cross the 18-token tile of the prefill path; 1 is decode. */
        uint32_t rows = shapes[s][0], cols = shapes[s][1], count = 19;
        float *w = malloc(sizeof(float) * rows * cols);
        float *x = malloc(sizeof(float) * count * cols);
        float *out = malloc(sizeof(float) * count * rows);
        random_fill(&prng, w, (size_t)rows * cols);
        random_fill(&prng, x, (size_t)count * cols);
        infer_mat mat;
        mat_make(&mat, rows, cols, w);
        for (int isa = 0; isa <= infer__isa_best(); isa++) {
            /* The float kernels (Q8 has its own tests below). */
            for (int c = 0; c < INFER_KERNEL_Q8 * 3; c++) {
                uint32_t calls[3] = {count, 1, 2};
                uint32_t call = calls[c / INFER_KERNEL_Q8];
                int k = c % INFER_KERNEL_Q8;
                memset(out, 0xff, sizeof(float) * count * rows);
                infer__matmul(isa, (infer_kernel)k, &mat, x, call, out);
                for (uint32_t t = 0; t < call; t++) {
                    for (uint32_t r = 0; r < rows; r++) {
                        float want = doc_dot((infer_kernel)k, w + (size_t)r * cols,
                                             x + (size_t)t * cols, cols);
                        ck_assert_msg(memcmp(&want, &out[t * rows + r], 4) == 0,
                                      "kernel %d isa %d row %u", k, isa, r);
                    }
                }
            }
        }
        for (int k = 0; k < INFER_KERNEL_Q8; k++) {
            float want = doc_dot((infer_kernel)k, x, w, cols);
            float got = infer__dot((infer_kernel)k, x, w, cols);
            ck_assert(memcmp(&want, &got, 4) == 0);
            float ones[600];
            for (size_t i = 0; i < 600; i++) {
                ones[i] = 1.0f;
            }
            want = doc_dot((infer_kernel)k, x, ones, cols);
            got = infer__sum((infer_kernel)k, x, cols);
            ck_assert(memcmp(&want, &got, 4) == 0);
        }
        free(mat.block);
        free(w);
        free(x);
        free(out);
    }
}
END_TEST

START_TEST(test_infer_matmul_matches_double)
{
    util_prng prng;
    util_prng_init(&prng, 12);
    uint32_t rows = 37, cols = 61;
    float w[37 * 61], x[61], out[37];
    double want[37], xd[61];
    random_fill(&prng, w, UTIL_ARRAY_COUNT(w));
    random_fill(&prng, x, UTIL_ARRAY_COUNT(x));
    for (uint32_t i = 0; i < cols; i++) {
        xd[i] = x[i];
    }
    ref_matvec(want, w, xd, (int)rows, (int)cols);
    infer_mat mat;
    mat_make(&mat, rows, cols, w);
    for (int k = 0; k < INFER_KERNEL_Q8; k++) {
        infer__matmul(infer__isa_best(), (infer_kernel)k, &mat, x, 1, out);
        ck_assert_double_lt(rel_error(out, want, rows), 1e-5);
    }
    free(mat.block);
}
END_TEST

START_TEST(test_infer_round_bf16_ties_to_even)
{
    ck_assert_float_eq(infer__round_bf16(1.0f), 1.0f);
    ck_assert_float_eq(infer__round_bf16(1.00390625f), 1.0f);          /* tie, even below */
    ck_assert_float_eq(infer__round_bf16(1.01171875f), 1.015625f);     /* tie, even above */
    ck_assert_float_eq(infer__round_bf16(0x1.010002p0f), 1.0078125f);     /* just above tie */
    ck_assert_float_eq(infer__round_bf16(-3.0f), -3.0f);
    ck_assert(isinf(infer__round_bf16(3.4028235e38f)));
    ck_assert(isnan(infer__round_bf16(NAN)));
}
END_TEST

/* ---- layers and the whole model against the double reference ---- */

static uint8_t *checkpoint_of(const infer_model *model, size_t *size)
{
    uint8_t *bytes = NULL;
    ck_assert_int_eq(infer_model_to_checkpoint(model, &bytes, size), 0);
    return bytes;
}

/* Zeroes tensor bytes [offset, offset + count floats) of a checkpoint. */
static void checkpoint_zero(uint8_t *bytes, size_t offset_floats, size_t count)
{
    memset(bytes + 28 + 4 * offset_floats, 0, 4 * count);
}

/* One layer on TEST_TOKENS positions, per token against the reference. */
static void check_one_layer(uint8_t *bytes, size_t size, double tolerance_seq)
{
    infer_model *model = NULL;
    ck_assert_int_eq(infer_model_from_checkpoint(bytes, size, &model, NULL, 0), 0);
    ref_model *ref = ref_parse(bytes, size);
    int d = ref->dim;
    for (int k = 0; k < INFER_KERNEL_COUNT; k++) {
        fixture f;
        fixture_open(&f, model, 0, 1);
        float x[TEST_TOKENS * 32];
        double want[TEST_TOKENS * 32];
        ck_assert_int_eq(infer_embed(f.executor, test_tokens, TEST_TOKENS, x), 0);
        for (int i = 0; i < TEST_TOKENS * d; i++) {
            want[i] = x[i];
        }
        uint64_t flops = 0;
        ck_assert_int_eq(infer_forward(f.executor, (infer_kernel)k, &f.kv, x, TEST_TOKENS,
                                       &flops), 0);
        for (int t = 0; t < TEST_TOKENS; t++) {
            ref_layer(ref, 0, want + t * d, t);
            /* bf16 and int8 round on purpose: quantization error, not a bug. */
            double tolerance = k == INFER_KERNEL_BF16 || k == INFER_KERNEL_Q8 ? 1e-2
                                                                               : tolerance_seq;
            ck_assert_msg(rel_error(x + t * d, want + t * d, (size_t)d) < tolerance,
                          "kernel %d token %d error %g", k, t,
                          rel_error(x + t * d, want + t * d, (size_t)d));
        }
        fixture_close(&f);
    }
    ref_free(ref);
    infer_model_destroy(model);
}

START_TEST(test_infer_layer_attention_matches_double)
{
    /* w2 = 0 turns the feed-forward off: the layer is rmsnorm, q/k/v, RoPE,
     * grouped attention over positions 0..7 and wo. */
    infer_model *seeded = model_seeded(true, 21);
    size_t size;
    uint8_t *bytes = checkpoint_of(seeded, &size);
    const infer_shape *s = &test_shape;
    size_t d = s->dim, kv = 16, hid = s->hidden_dim, l = s->n_layers;
    size_t w2 = s->vocab_size * d + l * d + 2 * l * d * d + 2 * l * kv * d + l * d + l * hid * d;
    checkpoint_zero(bytes, w2, l * d * hid);
    check_one_layer(bytes, size, 1e-5);
    util_free(bytes);
    infer_model_destroy(seeded);
}
END_TEST

START_TEST(test_infer_layer_ffn_matches_double)
{
    /* wo = 0 turns attention off: the layer is rmsnorm and SwiGLU. */
    infer_model *seeded = model_seeded(true, 22);
    size_t size;
    uint8_t *bytes = checkpoint_of(seeded, &size);
    const infer_shape *s = &test_shape;
    size_t d = s->dim, kv = 16, l = s->n_layers;
    size_t wo = s->vocab_size * d + l * d + l * d * d + 2 * l * kv * d;
    checkpoint_zero(bytes, wo, l * d * d);
    check_one_layer(bytes, size, 1e-5);
    /* And the full layer. */
    util_free(bytes);
    bytes = checkpoint_of(seeded, &size);
    check_one_layer(bytes, size, 1e-5);
    util_free(bytes);
    infer_model_destroy(seeded);
}
END_TEST

/* Whole model: every layer, TEST_TOKENS tokens, logits of each token. */
static void check_model_vs_reference(const infer_model *model, double tolerance)
{
    size_t size;
    uint8_t *bytes = checkpoint_of(model, &size);
    ref_model *ref = ref_parse(bytes, size);
    int d = ref->dim;
    fixture f;
    fixture_open(&f, (infer_model *)model, 0, (uint32_t)ref->layers);
    for (uint32_t t = 0; t < TEST_TOKENS; t++) {
        float x[32], logits[50];
        double xd[32], want[50];
        ck_assert_int_eq(infer_embed(f.executor, &test_tokens[t], 1, x), 0);
        for (int i = 0; i < d; i++) {
            xd[i] = x[i];
        }
        uint64_t flops = 0;
        ck_assert_int_eq(infer_forward(f.executor, INFER_KERNEL_SEQUENTIAL, &f.kv, x, 1, &flops),
                         0);
        infer_logits(f.executor, INFER_KERNEL_SEQUENTIAL, x, logits, &flops);
        for (int l = 0; l < ref->layers; l++) {
            ref_layer(ref, l, xd, (int)t);
        }
        ref_logits(ref, xd, want);
        ck_assert_double_lt(rel_error(x, xd, (size_t)d), tolerance);
        ck_assert_double_lt(rel_error(logits, want, (size_t)ref->vocab), tolerance);
    }
    fixture_close(&f);
    ref_free(ref);
    util_free(bytes);
}

START_TEST(test_infer_forward_matches_double)
{
    infer_model *shared = model_seeded(true, 31);
    infer_model *unshared = model_seeded(false, 31);
    check_model_vs_reference(shared, 1e-4);
    check_model_vs_reference(unshared, 1e-4);
    infer_model_destroy(shared);
    infer_model_destroy(unshared);
}
END_TEST

START_TEST(test_infer_logits_matches_double)
{
    infer_model *model = model_seeded(false, 32);
    size_t size;
    uint8_t *bytes = checkpoint_of(model, &size);
    ref_model *ref = ref_parse(bytes, size);
    fixture f;
    fixture_open(&f, model, 0, 1);
    float x[32], logits[50];
    double xd[32], want[50];
    util_prng prng;
    util_prng_init(&prng, 5);
    random_fill(&prng, x, 32);
    for (int i = 0; i < 32; i++) {
        xd[i] = x[i];
    }
    ref_logits(ref, xd, want);
    for (int k = 0; k < INFER_KERNEL_COUNT; k++) {
        uint64_t flops = 0;
        infer_logits(f.executor, (infer_kernel)k, x, logits, &flops);
        ck_assert_double_lt(rel_error(logits, want, 50), k == INFER_KERNEL_Q8 ? 2e-2 : 1e-5);
        ck_assert_uint_eq(flops, 4 * 32 + 2 * 50 * 32);
    }
    fixture_close(&f);
    ref_free(ref);
    util_free(bytes);
    infer_model_destroy(model);
}
END_TEST

/* ---- checkpoints ---- */

/* Writes a checkpoint by hand: header, then the tensors in llama2.c order,
 * each value drawn from the test's own stream. */
static uint8_t *checkpoint_by_hand(const infer_shape *s, size_t *size_out)
{
    size_t d = s->dim, hid = s->hidden_dim, l = s->n_layers, kv = d * s->n_kv_heads / s->n_heads;
    size_t hs = d / s->n_heads;
    size_t floats = s->vocab_size * d + l * (2 * d + 2 * d * d + 2 * kv * d + 3 * d * hid) + d +
                    s->seq_len * hs + (s->shared_classifier ? 0 : s->vocab_size * d);
    size_t size = 28 + 4 * floats;
    uint8_t *bytes = util_malloc(size);
    int32_t header[7] = {(int32_t)d, (int32_t)hid, (int32_t)l, (int32_t)s->n_heads,
                         (int32_t)s->n_kv_heads, (int32_t)s->vocab_size, (int32_t)s->seq_len};
    header[5] = s->shared_classifier ? header[5] : -header[5];
    memcpy(bytes, header, sizeof(header));
    float *body = malloc(4 * floats);
    util_prng prng;
    util_prng_init(&prng, 77);
    random_fill(&prng, body, floats);
    /* freq_cis, as llama2.c's exporter wrote them (and as the model regenerates them). */
    float *freq = body + floats - s->seq_len * hs - (s->shared_classifier ? 0 : s->vocab_size * d);
    for (size_t pos = 0; pos < s->seq_len; pos++) {
        for (size_t i = 0; i < hs / 2; i++) {
            float f = 1.0f / powf(10000.0f, (float)(2 * i) / (float)hs);
            freq[pos * (hs / 2) + i] = cosf((float)pos * f);
            freq[s->seq_len * (hs / 2) + pos * (hs / 2) + i] = sinf((float)pos * f);
        }
    }
    memcpy(bytes + 28, body, 4 * floats);
    free(body);
    *size_out = size;
    return bytes;
}

START_TEST(test_infer_checkpoint_by_hand_round_trip)
{
    for (int shared = 0; shared <= 1; shared++) {
        infer_shape shape = test_shape;
        shape.shared_classifier = shared;
        size_t size;
        uint8_t *bytes = checkpoint_by_hand(&shape, &size);
        infer_model *model = NULL;
        char why[128] = "";
        ck_assert_int_eq(infer_model_from_checkpoint(bytes, size, &model, why, sizeof(why)), 0);
        ck_assert(infer_model_shape(model)->shared_classifier == (bool)shared);
        size_t again_size;
        uint8_t *again = checkpoint_of(model, &again_size);
        ck_assert_uint_eq(again_size, size);
        ck_assert(memcmp(again, bytes, size) == 0);
        /* The loader read the tensors where llama2.c puts them. */
        check_model_vs_reference(model, 1e-4);
        util_free(again);
        util_free(bytes);
        infer_model_destroy(model);
    }
}
END_TEST

START_TEST(test_infer_checkpoint_loaded_computes_identically)
{
    for (int shared = 0; shared <= 1; shared++) {
        infer_model *seeded = model_seeded(shared, 41);
        size_t size;
        uint8_t *bytes = checkpoint_of(seeded, &size);
        infer_model *loaded = NULL;
        ck_assert_int_eq(infer_model_from_checkpoint(bytes, size, &loaded, NULL, 0), 0);
        for (int k = 0; k < INFER_KERNEL_COUNT; k++) {
            float xa[TEST_TOKENS * 32], xb[TEST_TOKENS * 32], la[50], lb[50];
            run_model(seeded, (infer_kernel)k, infer__isa_best(), false, xa, la);
            run_model(loaded, (infer_kernel)k, infer__isa_best(), false, xb, lb);
            ck_assert(memcmp(xa, xb, sizeof(xa)) == 0);
            ck_assert(memcmp(la, lb, sizeof(la)) == 0);
        }
        util_free(bytes);
        infer_model_destroy(loaded);
        infer_model_destroy(seeded);
    }
}
END_TEST

static void expect_rejected(const uint8_t *bytes, size_t size, int code)
{
    infer_model *model = NULL;
    char why[128] = "";
    int rc = infer_model_from_checkpoint(bytes, size, &model, why, sizeof(why));
    ck_assert_msg(rc == code, "size %zu: rc %d, want %d (%s)", size, rc, code, why);
    ck_assert(why[0] != '\0');
    ck_assert_ptr_null(model);
}

START_TEST(test_infer_checkpoint_rejects_bad_files)
{
    infer_model *seeded = model_seeded(false, 51);
    size_t size;
    uint8_t *bytes = checkpoint_of(seeded, &size);
    for (size_t n = 0; n < 28 + 16; n++) {
        expect_rejected(bytes, n, INFER_EFORMAT);
    }
    expect_rejected(bytes, size - 4, INFER_EFORMAT);
    expect_rejected(bytes, size - 1, INFER_EFORMAT);
    uint8_t *longer = util_malloc(size + 4);
    memcpy(longer, bytes, size);
    memset(longer + size, 0, 4);
    expect_rejected(longer, size + 4, INFER_EFORMAT);
    /* The unshared file read as shared has trailing bytes. */
    int32_t vocab = 50;
    memcpy(longer + 20, &vocab, 4);
    expect_rejected(longer, size, INFER_EFORMAT);
    util_free(longer);
    /* A NaN or an infinite weight anywhere: the model is refused. */
    static const uint8_t non_finite[3][4] = {
        {0x00, 0x00, 0xc0, 0x7f}, {0x00, 0x00, 0x80, 0x7f}, {0x01, 0x00, 0x80, 0xff}};
    for (size_t v = 0; v < 3; v++) {
        uint8_t *copy = util_malloc(size);
        memcpy(copy, bytes, size);
        memcpy(copy + size - 4 * (1 + v * 7), non_finite[v], 4);
        expect_rejected(copy, size, INFER_EFORMAT);
        util_free(copy);
    }
    /* Bad header fields (a copy of the 28 header bytes plus the body). */
    static const struct { int field; int32_t value; int code; } cases[] = {
        {0, 0, INFER_EINVAL}, {0, -32, INFER_EINVAL}, {1, 0, INFER_EINVAL},
        {2, -1, INFER_EINVAL}, {3, 3, INFER_EINVAL}, {4, 3, INFER_EINVAL},
        {5, 0, INFER_EINVAL}, {5, INT32_MIN, INFER_EINVAL}, {6, 0, INFER_EINVAL},
        {0, INT32_MAX, INFER_EINVAL}, {1, INT32_MAX, INFER_EINVAL},
        {5, -INT32_MAX, INFER_EINVAL}, {6, INT32_MAX, INFER_EINVAL},
        {2, 256, INFER_EFORMAT}, {1, 32768, INFER_EFORMAT}, {0, 8192, INFER_EFORMAT},
        {5, 262144, INFER_EFORMAT}, {6, 8192, INFER_EFORMAT},
        {4, 1, INFER_EFORMAT},  /* valid shape, different size */
    };
    for (size_t c = 0; c < UTIL_ARRAY_COUNT(cases); c++) {
        uint8_t *copy = util_malloc(size);
        memcpy(copy, bytes, size);
        memcpy(copy + 4 * cases[c].field, &cases[c].value, 4);
        expect_rejected(copy, size, cases[c].code);
        util_free(copy);
    }
    util_free(bytes);
    infer_model_destroy(seeded);
}
END_TEST

START_TEST(test_infer_shape_check_rejects)
{
    char why[128];
    infer_shape s = test_shape;
    ck_assert_int_eq(infer_shape_check(&s, why, sizeof(why)), 0);
    s.n_kv_heads = 3;
    ck_assert_int_eq(infer_shape_check(&s, why, sizeof(why)), INFER_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "n_kv_heads"));
    s = test_shape;
    s.dim = 36;                       /* head size 9 is odd */
    ck_assert_int_eq(infer_shape_check(&s, why, sizeof(why)), INFER_EINVAL);
    s.dim = 30;
    ck_assert_int_eq(infer_shape_check(&s, NULL, 0), INFER_EINVAL);
    s = test_shape;
    s.vocab_size = INFER_VOCAB_MAX + 1;
    ck_assert_int_eq(infer_shape_check(&s, why, sizeof(why)), INFER_EINVAL);
    s = test_shape;
    s.seq_len = 0;
    ck_assert_int_eq(infer_shape_check(&s, why, sizeof(why)), INFER_EINVAL);
    infer_model *model = NULL;
    ck_assert_int_eq(infer_model_from_seed(&s, 1, &model, why, sizeof(why)), INFER_EINVAL);
    ck_assert_ptr_null(model);
}
END_TEST

START_TEST(test_infer_model_out_of_memory)
{
    infer_model *model = NULL;
    int rc = INFER_ENOMEM;
    unsigned long n = 1;
    for (; rc == INFER_ENOMEM && n < 200; n++) {
        util_alloc_fail_after(n);
        rc = infer_model_from_seed(&test_shape, 1, &model, NULL, 0);
    }
    util_alloc_fail_after(0);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_gt(n, 5);
    infer_executor *executor = NULL;
    rc = INFER_ENOMEM;
    for (n = 1; rc == INFER_ENOMEM && n < 50; n++) {
        util_alloc_fail_after(n);
        rc = infer_executor_create(model, 4, &executor);
    }
    util_alloc_fail_after(0);
    ck_assert_int_eq(rc, 0);
    infer_executor_destroy(executor);
    infer_model_destroy(model);
}
END_TEST

/* ---- splits, determinism, variants ---- */

START_TEST(test_infer_split_layers_and_tokens_identical)
{
    infer_model *model = model_seeded(true, 61);
    uint32_t dim = test_shape.dim;
    for (int k = 0; k < INFER_KERNEL_COUNT; k++) {
        float whole[TEST_TOKENS * 32], steps[TEST_TOKENS * 32], parts[TEST_TOKENS * 32];
        float split[TEST_TOKENS * 32], la[50], lb[50];
        run_model(model, (infer_kernel)k, infer__isa_best(), false, whole, la);
        run_model(model, (infer_kernel)k, infer__isa_best(), true, steps, lb);
        ck_assert(memcmp(whole, steps, sizeof(whole)) == 0);
        ck_assert(memcmp(la, lb, sizeof(la)) == 0);
        /* Tokens 0..2, then 3..7. */
        fixture f;
        fixture_open(&f, model, 0, 3);
        uint64_t flops = 0;
        ck_assert_int_eq(infer_embed(f.executor, test_tokens, TEST_TOKENS, parts), 0);
        ck_assert_int_eq(infer_forward(f.executor, (infer_kernel)k, &f.kv, parts, 3, &flops), 0);
        ck_assert_int_eq(infer_forward(f.executor, (infer_kernel)k, &f.kv, parts + 3 * dim, 5,
                                       &flops), 0);
        ck_assert_uint_eq(f.kv.length, 8);
        ck_assert(memcmp(whole, parts, sizeof(whole)) == 0);
        fixture_close(&f);
        /* Layers [0, 1) and [1, 3) on two servers with their own caches. */
        fixture first, second;
        fixture_open(&first, model, 0, 1);
        fixture_open(&second, model, 1, 2);
        ck_assert_int_eq(infer_embed(first.executor, test_tokens, TEST_TOKENS, split), 0);
        for (uint32_t t = 0; t < TEST_TOKENS; t += 4) {
            float *xt = split + t * dim;
            ck_assert_int_eq(infer_forward(first.executor, (infer_kernel)k, &first.kv, xt, 4,
                                           &flops), 0);
            ck_assert_int_eq(infer_forward(second.executor, (infer_kernel)k, &second.kv, xt, 4,
                                           &flops), 0);
        }
        ck_assert(memcmp(whole, split, sizeof(whole)) == 0);
        fixture_close(&first);
        fixture_close(&second);
    }
    infer_model_destroy(model);
}
END_TEST

/* out[i] against the C library's expf, bit for bit (NaN as NaN). */
static void check_exp_against_libm(int isa, const float *x, size_t n)
{
    float *out = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(out);
    infer__exp(isa, x, out, n);
    for (size_t i = 0; i < n; i++) {
        float want = expf(x[i]);
        if (isnan(want)) {
            ck_assert_msg(isnan(out[i]), "isa %d expf(%a)", isa, (double)x[i]);
        } else {
            ck_assert_msg(memcmp(&want, &out[i], sizeof(want)) == 0, "isa %d expf(%a): %a, not %a",
                          isa, (double)x[i], (double)out[i], (double)want);
        }
    }
    free(out);
}

/* The wide exponential gives the library's bits: on one float pattern in
 * 4,093 of all 2^32, and on the edges of the library's usual path, in
 * groups of 8 with one slow lane among fast ones too. */
START_TEST(test_infer_exp_matches_libm)
{
    size_t stride = 4093, n = ((size_t)1 << 32) / stride + 1;
    float *x = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)(i * stride);
        memcpy(&x[i], &bits, sizeof(bits));
    }
    float edges[] = {0.0f, -0.0f, 1.0f, -1.0f, 88.0f, -88.0f, nextafterf(88.0f, 0.0f),
                     nextafterf(-88.0f, 0.0f), 88.72f, 88.73f, -87.33f, -103.0f, -103.3f,
                     -103.97f, -104.0f, INFINITY, -INFINITY, NAN, 0x1p-149f, -0x1p-149f,
                     0x1p-126f, 3.0e-8f, -3.0e-8f, 0.5f};
    size_t edge_count = sizeof(edges) / sizeof(edges[0]);
    for (int isa = 0; isa <= infer__isa_best(); isa++) {
        if (isa == INFER_ISA_AVX2 && !infer__exp_wide()) {
            continue; /* This machine's library is another: executors do not take it. */
        }
        check_exp_against_libm(isa, x, n);
        check_exp_against_libm(isa, edges, edge_count);
    }
    free(x);
}
END_TEST

/* Adds one unit in the last place to expf's results between 1 and 2. */
static float expf_nudged(float x)
{
    float y = expf(x);
    return x >= 1.0f && x < 2.0f ? nextafterf(y, INFINITY) : y;
}

/* The probe passes glibc's expf, whose steps the wide exponential takes,
 * and fails a library that differs from it in the last bit over a narrow
 * range. */
START_TEST(test_infer_exp_probe_tells_libraries_apart)
{
    if (infer__isa_best() != INFER_ISA_AVX2) {
        ck_assert(!infer__exp_probe(expf));
        ck_assert(!infer__exp_wide());
        return;
    }
#ifdef __GLIBC__
    ck_assert(infer__exp_probe(expf));
    ck_assert(infer__exp_wide());
#endif
    ck_assert(!infer__exp_probe(expf_nudged));
}
END_TEST

START_TEST(test_infer_isa_paths_identical)
{
    infer_model *model = model_seeded(false, 62);
    for (int k = 0; k < INFER_KERNEL_COUNT; k++) {
        float xa[TEST_TOKENS * 32], xb[TEST_TOKENS * 32], la[50], lb[50];
        run_model(model, (infer_kernel)k, INFER_ISA_GENERIC, false, xa, la);
        run_model(model, (infer_kernel)k, infer__isa_best(), false, xb, lb);
        ck_assert(memcmp(xa, xb, sizeof(xa)) == 0);
        ck_assert(memcmp(la, lb, sizeof(la)) == 0);
    }
    infer_model_destroy(model);
}
END_TEST

/* infer_forward_tail gives the last 'tail' rows and the whole cache the
 * bits infer_forward gives, for every kernel, both instruction sets and a
 * cache already holding a token; the rows before the tail hold the last
 * layer's input, and a tail past the tokens is refused. */
START_TEST(test_infer_forward_tail_identical)
{
    infer_model *model = model_seeded(false, 64);
    const infer_shape *shape = infer_model_shape(model);
    uint32_t dim = shape->dim, count = TEST_TOKENS - 1;
    size_t kv_bytes = infer_kv_bytes(shape, shape->n_layers);
    for (int isa = 0; isa <= infer__isa_best(); isa++) {
        for (int k = 0; k < INFER_KERNEL_COUNT; k++) {
            for (uint32_t tail = 0; tail <= count; tail += 2) {
                fixture whole, part, below;
                fixture_open(&whole, model, 0, shape->n_layers);
                fixture_open(&part, model, 0, shape->n_layers);
                fixture_open(&below, model, 0, shape->n_layers - 1);
                ck_assert_int_eq(infer__executor_set_isa(whole.executor, isa), 0);
                ck_assert_int_eq(infer__executor_set_isa(part.executor, isa), 0);
                ck_assert_int_eq(infer__executor_set_isa(below.executor, isa), 0);
                float xa[TEST_TOKENS * 32], xb[TEST_TOKENS * 32], xc[TEST_TOKENS * 32];
                ck_assert_int_eq(infer_embed(whole.executor, test_tokens, TEST_TOKENS, xa), 0);
                memcpy(xb, xa, sizeof(xa));
                memcpy(xc, xa, sizeof(xa));
                uint64_t fa = 0, fb = 0, fc = 0;
                infer_kernel kernel = (infer_kernel)k;
                /* One token first, so the calls start past position 0. */
                ck_assert_int_eq(infer_forward(whole.executor, kernel, &whole.kv, xa, 1, &fa), 0);
                ck_assert_int_eq(infer_forward(part.executor, kernel, &part.kv, xb, 1, &fb), 0);
                ck_assert_int_eq(infer_forward(below.executor, kernel, &below.kv, xc, 1, &fc), 0);
                ck_assert_int_eq(infer_forward(whole.executor, kernel, &whole.kv, xa + dim, count,
                                               &fa), 0);
                ck_assert_int_eq(infer_forward_tail(part.executor, kernel, &part.kv, xb + dim,
                                                    count, tail, &fb), 0);
                ck_assert_int_eq(infer_forward(below.executor, kernel, &below.kv, xc + dim, count,
                                               &fc), 0);
                size_t head = (size_t)(1 + count - tail) * dim;
                ck_assert_msg(memcmp(xa + head, xb + head, (size_t)tail * dim * sizeof(float)) == 0,
                              "isa %d kernel %d tail %u", isa, k, tail);
                ck_assert(memcmp(xb + dim, xc + dim, (head - dim) * sizeof(float)) == 0);
                ck_assert(memcmp(whole.kv_memory, part.kv_memory, kv_bytes) == 0);
                ck_assert_uint_eq(part.kv.length, whole.kv.length);
                ck_assert_uint_le(fb, fa);
                ck_assert_int_eq(infer_forward_tail(part.executor, kernel, &part.kv, xb, 1, 2,
                                                    &fb), INFER_EINVAL);
                fixture_close(&whole);
                fixture_close(&part);
                fixture_close(&below);
            }
        }
    }
    infer_model_destroy(model);
}
END_TEST

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

START_TEST(test_infer_kernels_deterministic_and_close)
{
    infer_model *model = model_seeded(true, 71);
    float reference[TEST_TOKENS * 32], reference_logits[50];
    run_model(model, INFER_KERNEL_SEQUENTIAL, infer__isa_best(), false, reference,
              reference_logits);
    for (int k = 0; k < INFER_KERNEL_COUNT; k++) {
        float xa[TEST_TOKENS * 32], xb[TEST_TOKENS * 32], la[50], lb[50];
        run_model(model, (infer_kernel)k, infer__isa_best(), false, xa, la);
        run_model(model, (infer_kernel)k, infer__isa_best(), false, xb, lb);
        ck_assert(memcmp(xa, xb, sizeof(xa)) == 0);
        ck_assert(memcmp(la, lb, sizeof(la)) == 0);
        if (k != INFER_KERNEL_SEQUENTIAL) {
            ck_assert_msg(memcmp(la, reference_logits, sizeof(la)) != 0, "kernel %d", k);
            ck_assert_double_gt(cosine(la, reference_logits, 50), 0.999);
            ck_assert_uint_eq(infer_argmax(la, 50), infer_argmax(reference_logits, 50));
        }
    }
    infer_model_destroy(model);
}
END_TEST

START_TEST(test_infer_flops_hand_count)
{
    /* dim 32, hidden 64, 4 heads of 8, kv_dim 16, one token at position 0:
     * rmsnorms 2*4*32 = 256; wq, wo 2*2*32*32 = 4096; wk, wv 2*2*16*32 = 2048;
     * rope 3*(32+16) = 144; residuals 64; w1, w3, w2 3*2*32*64 = 12288;
     * SwiGLU 4*64 = 256; attention 4 heads * (4*8 + 5) = 148. Total 19300.
     * At position 1 attention is 4 * (4*8 + 5) * 2 = 296: 19448. */
    infer_model *model = model_seeded(true, 81);
    fixture f;
    fixture_open(&f, model, 0, 3);
    float x[2 * 32], logits[50];
    ck_assert_int_eq(infer_embed(f.executor, test_tokens, 2, x), 0);
    uint64_t flops = 0;
    ck_assert_int_eq(infer_forward(f.executor, INFER_KERNEL_SEQUENTIAL, &f.kv, x, 1, &flops), 0);
    ck_assert_uint_eq(flops, 3 * 19300);
    flops = 0;
    ck_assert_int_eq(infer_forward(f.executor, INFER_KERNEL_FMA, &f.kv, x + 32, 1, &flops), 0);
    ck_assert_uint_eq(flops, 3 * 19448);
    flops = 7;
    infer_logits(f.executor, INFER_KERNEL_BLOCKED, x, logits, &flops);
    ck_assert_uint_eq(flops, 7 + 4 * 32 + 2 * 50 * 32);
    fixture_close(&f);
    /* Two tokens in one call count the same as one at a time. */
    fixture_open(&f, model, 0, 1);
    flops = 0;
    ck_assert_int_eq(infer_forward(f.executor, INFER_KERNEL_BLOCKED, &f.kv, x, 2, &flops), 0);
    ck_assert_uint_eq(flops, 19300 + 19448);
    fixture_close(&f);
    infer_model_destroy(model);
}
END_TEST

START_TEST(test_infer_rejects_bad_tokens_and_context)
{
    infer_model *model = model_seeded(true, 91);
    fixture f;
    fixture_open(&f, model, 1, 2);
    float x[TEST_TOKENS * 32];
    uint32_t bad[2] = {1, 50};
    ck_assert_int_eq(infer_embed(f.executor, bad, 2, x), INFER_EINVAL);
    ck_assert_int_eq(infer_embed(f.executor, test_tokens, TEST_TOKENS, x), 0);
    uint64_t flops = 0;
    ck_assert_int_eq(infer_forward(f.executor, INFER_KERNEL_BLOCKED, &f.kv, x, TEST_TOKENS + 1,
                                   &flops), INFER_EINVAL);
    for (uint32_t step = 0; step < 4; step++) {
        ck_assert_int_eq(infer_forward(f.executor, INFER_KERNEL_BLOCKED, &f.kv, x, TEST_TOKENS,
                                       &flops), 0);
    }
    ck_assert_uint_eq(f.kv.length, 32);
    uint64_t before = flops;
    ck_assert_int_eq(infer_forward(f.executor, INFER_KERNEL_BLOCKED, &f.kv, x, 1, &flops),
                     INFER_EINVAL);
    ck_assert_uint_eq(flops, before);
    ck_assert_uint_eq(f.kv.length, 32);
    fixture_close(&f);
    infer_model_destroy(model);
}
END_TEST

/* ---- wire ---- */

START_TEST(test_infer_wire_round_trips)
{
    enum { ROWS = 3, DIM = 40 };
    float x[ROWS * DIM], y[ROWS * DIM];
    util_prng prng;
    util_prng_init(&prng, 101);
    for (size_t i = 0; i < ROWS * DIM; i++) {
        x[i] = (float)(util_prng_normal(&prng) * 3.0);
    }
    x[5] = 0.0f;
    x[6] = 1e-6f;                         /* fp16 subnormal */
    for (size_t i = 2 * DIM; i < 3 * DIM; i++) {
        x[i] = 0.0f;                      /* an all-zero row: int8 scale 0 */
    }
    uint8_t wire[4 * ROWS * DIM + 4 * ROWS];
    for (int d = 0; d < INFER_DTYPE_COUNT; d++) {
        size_t size = infer_wire_bytes((infer_dtype)d, ROWS, DIM);
        ck_assert_uint_le(size, sizeof(wire));
        infer_wire_encode((infer_dtype)d, x, ROWS, DIM, wire);
        ck_assert_int_eq(infer_wire_decode((infer_dtype)d, wire, size, ROWS, DIM, y), 0);
        for (size_t r = 0; r < ROWS; r++) {
            float max = 0.0f;
            for (size_t i = 0; i < DIM; i++) {
                max = fmaxf(max, fabsf(x[r * DIM + i]));
            }
            for (size_t i = 0; i < DIM; i++) {
                float a = x[r * DIM + i], b = y[r * DIM + i], err = fabsf(a - b);
                if (d == INFER_DTYPE_FP32) {
                    ck_assert(memcmp(&a, &b, 4) == 0);
                } else if (d == INFER_DTYPE_FP16) {
                    ck_assert_float_le(err, fmaxf(fabsf(a) * 0x1p-11f, 0x1p-25f));
                } else if (d == INFER_DTYPE_BF16) {
                    ck_assert_float_le(err, fabsf(a) * 0x1p-8f);
                } else {
                    ck_assert_float_le(err, max / 127.0f * 0.5f * 1.0001f);
                }
            }
        }
    }
    ck_assert_uint_eq(infer_wire_bytes(INFER_DTYPE_INT8, ROWS, DIM), ROWS * (DIM + 4));
}
END_TEST

START_TEST(test_infer_wire_known_encodings)
{
    float values[] = {1.0f, 65504.0f, 1e6f, 0x1p-24f, 0x1p-25f, 0.1f, -2.0f, 65519.0f};
    uint16_t want[] = {0x3c00, 0x7bff, 0x7bff, 0x0001, 0x0000, 0x2e66, 0xc000, 0x7bff};
    uint8_t wire[2 * UTIL_ARRAY_COUNT(values)];
    infer_wire_encode(INFER_DTYPE_FP16, values, 1, UTIL_ARRAY_COUNT(values), wire);
    for (size_t i = 0; i < UTIL_ARRAY_COUNT(values); i++) {
        ck_assert_uint_eq((uint16_t)(wire[2 * i] | wire[2 * i + 1] << 8), want[i]);
    }
    float bf[] = {1.0f, -1.00390625f, 3.4028235e38f};
    uint16_t bf_want[] = {0x3f80, 0xbf80, 0x7f7f};
    infer_wire_encode(INFER_DTYPE_BF16, bf, 1, 3, wire);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_uint_eq((uint16_t)(wire[2 * i] | wire[2 * i + 1] << 8), bf_want[i]);
    }
    float row[3] = {-1.27f, 0.5f, 0.0f};
    uint8_t int8[7];
    infer_wire_encode(INFER_DTYPE_INT8, row, 1, 3, int8);
    ck_assert_int_eq((int8_t)int8[4], -127);
    ck_assert_int_eq((int8_t)int8[5], 50);
    ck_assert_int_eq((int8_t)int8[6], 0);
}
END_TEST

START_TEST(test_infer_wire_decode_rejects)
{
    float x[4] = {1.0f, -2.0f, 3.0f, 0.5f}, y[4];
    uint8_t wire[32];
    for (int d = 0; d < INFER_DTYPE_COUNT; d++) {
        size_t size = infer_wire_bytes((infer_dtype)d, 2, 2);
        infer_wire_encode((infer_dtype)d, x, 2, 2, wire);
        ck_assert_int_eq(infer_wire_decode((infer_dtype)d, wire, size - 1, 2, 2, y),
                         INFER_EFORMAT);
        ck_assert_int_eq(infer_wire_decode((infer_dtype)d, wire, size + 1, 2, 2, y),
                         INFER_EFORMAT);
        ck_assert_int_eq(infer_wire_decode((infer_dtype)d, wire, size, 1, 2, y), INFER_EFORMAT);
        float bad[4] = {1.0f, NAN, 3.0f, 0.5f};
        infer_wire_encode((infer_dtype)d, bad, 2, 2, wire);
        ck_assert_int_eq(infer_wire_decode((infer_dtype)d, wire, size, 2, 2, y), INFER_EFORMAT);
        float inf[4] = {1.0f, 2.0f, 3.0f, -INFINITY};
        infer_wire_encode((infer_dtype)d, inf, 2, 2, wire);
        ck_assert_int_eq(infer_wire_decode((infer_dtype)d, wire, size, 2, 2, y), INFER_EFORMAT);
    }
    /* int8: a negative scale and the value -128 are never produced. */
    infer_wire_encode(INFER_DTYPE_INT8, x, 1, 4, wire);
    ck_assert_int_eq(infer_wire_decode(INFER_DTYPE_INT8, wire, 8, 1, 4, y), 0);
    wire[3] |= 0x80;
    ck_assert_int_eq(infer_wire_decode(INFER_DTYPE_INT8, wire, 8, 1, 4, y), INFER_EFORMAT);
    wire[3] &= 0x7f;
    wire[5] = 0x80;
    ck_assert_int_eq(infer_wire_decode(INFER_DTYPE_INT8, wire, 8, 1, 4, y), INFER_EFORMAT);
}
END_TEST

START_TEST(test_infer_names_and_sizes)
{
    ck_assert_str_eq(infer_kernel_name(INFER_KERNEL_FMA), "fma");
    ck_assert_str_eq(infer_dtype_name(INFER_DTYPE_BF16), "bf16");
    ck_assert_str_eq(infer_strerror(INFER_EFORMAT), "malformed checkpoint or wire data");
    /* 2*32 norms + wq, wo 2*32*32 + wk, wv 2*16*32 + w1, w2, w3 3*32*64 floats. */
    ck_assert_uint_eq(infer_layer_weight_bytes(&test_shape), 4 * (64 + 2048 + 1024 + 6144));
    ck_assert_uint_eq(infer_layer_kv_bytes_per_token(&test_shape), 2 * 16 * 4);
    ck_assert_uint_eq(infer_kv_bytes(&test_shape, 3), 3 * 32 * 2 * 16 * 4);
    float logits[5] = {1.0f, 3.0f, -1.0f, 3.0f, 2.0f};
    ck_assert_uint_eq(infer_argmax(logits, 5), 1);
    /* Nothing beats a NaN in front; a NaN later is passed over; zeros tie. */
    float nan_first[3] = {NAN, 5.0f, 7.0f}, nan_later[4] = {1.0f, NAN, 3.0f, 3.0f};
    float zeros[2] = {-0.0f, 0.0f};
    ck_assert_uint_eq(infer_argmax(nan_first, 3), 0);
    ck_assert_uint_eq(infer_argmax(nan_later, 4), 2);
    ck_assert_uint_eq(infer_argmax(zeros, 2), 0);
}
END_TEST

/* ---- Q8: runq.c's integer matmul ---- */

/* A shape whose group size comes out at 4 (64 halved until it divides dim
 * 4 and hidden_dim 12), so a row of 8 columns is two groups. */
static const infer_shape q8_shape = {
    .dim = 4, .hidden_dim = 12, .n_layers = 1, .n_heads = 1, .n_kv_heads = 1,
    .vocab_size = 8, .seq_len = 4, .shared_classifier = true,
};

/* By hand. x = [127 -3 10 0.4 | 2.54 1.016 -0.508 0]: group 0 has scale
 * 127/127 = 1 and values 127 -3 10 0 (0.4 rounds to 0); group 1 has scale
 * 2.54/127 and values 127 51 -25 0. Row 0 = [127 0 -64 1 | 0.5 0.1 -0.3 0]:
 * scale 1, values 127 0 -64 1; scale 0.5/127, values 127 25 -76 0. The
 * int32 dots: 127*127 + 10*-64 = 15489 and 127*127 + 51*25 + -25*-76 =
 * 19304. Row 1 is row 0 negated (symmetric rounding: the dots negate), row
 * 2 is zero (scale 0: zeros, not NaN). */
START_TEST(test_infer_q8_matmul_by_hand)
{
    infer_model *model = NULL;
    ck_assert_int_eq(infer_model_from_seed(&q8_shape, 1, &model, NULL, 0), 0);
    ck_assert_uint_eq(infer__q8_group(model), 4);
    infer_executor *ex = NULL;
    ck_assert_int_eq(infer_executor_create(model, 2, &ex), 0);
    const float w[3 * 8] = {127, 0, -64, 1, 0.5f, 0.1f, -0.3f, 0,
                            -127, 0, 64, -1, -0.5f, -0.1f, 0.3f, 0,
                            0, 0, 0, 0, 0, 0, 0, 0};
    const float x[8] = {127, -3, 10, 0.4f, 2.54f, 1.016f, -0.508f, 0};
    infer_mat mat;
    mat_make(&mat, 3, 8, w);
    float out[3];
    infer__matmul_q8(ex, &mat, x, 1, out);
    float want = 0.0f;
    want += ((float)15489 * 1.0f) * 1.0f;
    want += ((float)19304 * (0.5f / 127.0f)) * (2.54f / 127.0f);
    ck_assert(memcmp(&out[0], &want, 4) == 0);
    ck_assert_float_eq(out[1], -want);
    ck_assert_float_eq(out[2], 0.0f);
    /* Close to the float product (0.4 and the rounding are the drift). */
    float exact = 127 * 127 - 640 + 0.4f + 1.27f + 0.1016f + 0.1524f;
    ck_assert_float_eq_tol(out[0], exact, 1.0f);
    ck_assert_float_ne(out[0], exact);
    free(mat.block);
    infer_executor_destroy(ex);
    infer_model_destroy(model);
}
END_TEST

/* runq.c's matmul as the kernel defined it first, one row at a time: the
 * row quantized (half to even), each token's groups (half away from zero),
 * then value += (dot * row scale) * token scale, group by group. */
static float q8_reference_row(const infer_mat *mat, uint32_t r, const float *x, uint32_t group)
{
    float value = 0.0f;
    for (uint32_t g = 0; g < mat->cols / group; g++) {
        float wmax = 0.0f, xmax = 0.0f;
        for (uint32_t i = g * group; i < (g + 1) * group; i++) {
            wmax = fmaxf(wmax, fabsf(*infer__mat_at(mat, r, i)));
            xmax = fmaxf(xmax, fabsf(x[i]));
        }
        float ws = wmax / 127.0f, xs = xmax / 127.0f;
        int32_t dot = 0;
        for (uint32_t i = g * group; i < (g + 1) * group; i++) {
            int32_t w = ws > 0.0f ? (int8_t)nearbyintf(*infer__mat_at(mat, r, i) / ws) : 0;
            int32_t q = xs > 0.0f ? (int8_t)roundf(x[i] / xs) : 0;
            dot += w * q;
        }
        value += ((float)dot * ws) * xs;
    }
    return value;
}

/* The kernel works on panels of 8 rows, with the weights quantized once
 * per model (or per call, for a matrix outside a model): every output is
 * the row-at-a-time reference's, bit for bit, on every instruction set
 * the CPU has, for rows that do not fill the last panel, several group
 * sizes and token counts. */
START_TEST(test_infer_q8_panels_equal_rows)
{
    static const infer_shape shapes[] = {
        {.dim = 24, .hidden_dim = 36, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1,
         .vocab_size = 13, .seq_len = 16, .shared_classifier = true},
        {.dim = 64, .hidden_dim = 128, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
         .vocab_size = 50, .seq_len = 16, .shared_classifier = false},
    };
    static const uint32_t groups[] = {3, 0}; /* 3 as a checkpoint's; 0: the kernel's (64) */
    util_prng prng;
    util_prng_init(&prng, 44);
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        infer_model *model = NULL;
        ck_assert_int_eq(infer_model_from_seed(&shapes[s], 3, &model, NULL, 0), 0);
        model->q8_group = groups[s];
        infer_executor *ex = NULL;
        ck_assert_int_eq(infer_executor_create(model, 13, &ex), 0);
        uint32_t group = infer__q8_group(model);
        ck_assert_uint_eq(group, s == 0 ? 3 : 64);
        const infer_mat *mats[] = {&model->layers[0].wk, &model->layers[0].w1,
                                   &model->layers[0].w2, &model->embedding};
        for (size_t m = 0; m < sizeof(mats) / sizeof(mats[0]); m++) {
            const infer_mat *mat = mats[m];
            float x[13 * 128], out[13 * 128], loose_out[13 * 128];
            random_fill(&prng, x, 13 * mat->cols);
            for (uint32_t i = 0; i < mat->cols; i++) {
                x[i] = i < 3 ? 0.0f : x[i]; /* an all-zero group: scale 0 */
            }
            /* Scale 1 in the next group, and halves that round away from zero. */
            x[3] = 127.0f, x[4] = 0.5f, x[5] = -2.5f;
            /* The same weights outside the model: quantized per call. */
            float *w = malloc((size_t)mat->rows * mat->cols * sizeof(float));
            for (uint32_t r = 0; r < mat->rows; r++) {
                for (uint32_t c = 0; c < mat->cols; c++) {
                    w[(size_t)r * mat->cols + c] = *infer__mat_at(mat, r, c);
                }
            }
            infer_mat loose;
            mat_make(&loose, mat->rows, mat->cols, w);
            free(w);
            /* 1 token (decode); 4, one pass with two spare places; 13, two
             * full passes and one token alone. */
            static const uint32_t counts[] = {1, 4, 13};
            for (uint32_t c = 0; c < 3 * INFER_ISA_COUNT; c++) {
                uint32_t count = counts[c / INFER_ISA_COUNT];
                if (infer__executor_set_isa(ex, (int)(c % INFER_ISA_COUNT)) != 0) {
                    continue; /* the CPU lacks it */
                }
                infer__matmul_q8(ex, mat, x, count, out);
                infer__matmul_q8(ex, &loose, x, count, loose_out);
                for (uint32_t t = 0; t < count; t++) {
                    for (uint32_t r = 0; r < mat->rows; r++) {
                        float want = q8_reference_row(mat, r, x + (size_t)t * mat->cols, group);
                        float got = out[(size_t)t * mat->rows + r];
                        ck_assert_msg(memcmp(&got, &want, sizeof(got)) == 0,
                                      "shape %zu matrix %zu token %u row %u: %a, want %a", s, m,
                                      t, r, (double)got, (double)want);
                        ck_assert(memcmp(&loose_out[(size_t)t * mat->rows + r], &want,
                                         sizeof(want)) == 0);
                    }
                }
            }
            ck_assert_ptr_nonnull(mat->q8_values); /* the model's own, made once */
            ck_assert_ptr_null(loose.q8_values);
            free(loose.block);
        }
        infer_executor_destroy(ex);
        infer_model_destroy(model);
    }
}
END_TEST

/* The Q8 kernel on a whole model: logits close to the reference's (cosine
 * above 0.999, the same argmax on most positions) but not equal -- the
 * honest divergence of int8 arithmetic. */
START_TEST(test_infer_q8_diverges_a_little)
{
    infer_model *model = NULL;
    ck_assert_int_eq(infer_model_from_seed(&test_shape, 9, &model, NULL, 0), 0);
    float logits[2][50];
    for (int v = 0; v < 2; v++) {
        infer_kernel kernel = v == 0 ? INFER_KERNEL_SEQUENTIAL : INFER_KERNEL_Q8;
        fixture f;
        fixture_open(&f, model, 0, test_shape.n_layers);
        float x[TEST_TOKENS * 32];
        uint64_t flops = 0;
        ck_assert_int_eq(infer_embed(f.executor, test_tokens, TEST_TOKENS, x), 0);
        ck_assert_int_eq(infer_forward(f.executor, kernel, &f.kv, x, TEST_TOKENS, &flops), 0);
        infer_logits(f.executor, kernel, x + (TEST_TOKENS - 1) * 32, logits[v], &flops);
        fixture_close(&f);
    }
    double dot = 0, a = 0, b = 0, maxabs = 0;
    for (int i = 0; i < 50; i++) {
        dot += (double)logits[0][i] * logits[1][i];
        a += (double)logits[0][i] * logits[0][i];
        b += (double)logits[1][i] * logits[1][i];
        double d = fabs((double)logits[0][i] - logits[1][i]);
        maxabs = d > maxabs ? d : maxabs;
    }
    ck_assert_double_gt(maxabs, 0.0);
    ck_assert_double_gt(dot / sqrt(a * b), 0.999);
    ck_assert_double_lt(maxabs, 0.05 * sqrt(a / 50));
    infer_model_destroy(model);
}
END_TEST

/* An int8 checkpoint's own groups: the kernel quantizes with the file's
 * group size and gets back the file's int8 values, so runq.c's numbers. */
START_TEST(test_infer_q8_checkpoint_group)
{
    infer_model *model = NULL;
    ck_assert_int_eq(infer_model_from_seed(&test_shape, 9, &model, NULL, 0), 0);
    ck_assert_uint_eq(infer__q8_group(model), 32);
    uint8_t *bytes = NULL;
    size_t size = 0;
    ck_assert_int_eq(infer_model_to_q8_checkpoint(model, 16, &bytes, &size), 0);
    infer_model *q8 = NULL;
    ck_assert_int_eq(infer_model_from_q8_checkpoint(bytes, size, &q8, NULL, 0), 0);
    ck_assert_uint_eq(infer__q8_group(q8), 16);
    util_free(bytes);
    infer_model_destroy(q8);
    infer_model_destroy(model);
}
END_TEST

Suite *test_infer_suite(void)
{
    Suite *suite = suite_create("infer");
    TCase *kernels = tcase_create("kernels");
    tcase_set_timeout(kernels, 20);
    tcase_add_test(kernels, test_infer_matmul_documented_order);
    tcase_add_test(kernels, test_infer_matmul_matches_double);
    tcase_add_test(kernels, test_infer_round_bf16_ties_to_even);
    tcase_add_test(kernels, test_infer_exp_matches_libm);
    tcase_add_test(kernels, test_infer_exp_probe_tells_libraries_apart);
    tcase_add_test(kernels, test_infer_isa_paths_identical);
    tcase_add_test(kernels, test_infer_q8_matmul_by_hand);
    tcase_add_test(kernels, test_infer_q8_panels_equal_rows);
    tcase_add_test(kernels, test_infer_q8_diverges_a_little);
    tcase_add_test(kernels, test_infer_q8_checkpoint_group);
    suite_add_tcase(suite, kernels);

    TCase *model = tcase_create("model");
    tcase_set_timeout(model, 20);
    tcase_add_test(model, test_infer_layer_attention_matches_double);
    tcase_add_test(model, test_infer_layer_ffn_matches_double);
    tcase_add_test(model, test_infer_forward_matches_double);
    tcase_add_test(model, test_infer_logits_matches_double);
    tcase_add_test(model, test_infer_split_layers_and_tokens_identical);
    tcase_add_test(model, test_infer_forward_tail_identical);
    tcase_add_test(model, test_infer_kernels_deterministic_and_close);
    tcase_add_test(model, test_infer_flops_hand_count);
    tcase_add_test(model, test_infer_rejects_bad_tokens_and_context);
    tcase_add_test(model, test_infer_model_out_of_memory);
    suite_add_tcase(suite, model);

    TCase *checkpoint = tcase_create("checkpoint");
    tcase_set_timeout(checkpoint, 20);
    tcase_add_test(checkpoint, test_infer_checkpoint_by_hand_round_trip);
    tcase_add_test(checkpoint, test_infer_checkpoint_loaded_computes_identically);
    tcase_add_test(checkpoint, test_infer_checkpoint_rejects_bad_files);
    tcase_add_test(checkpoint, test_infer_shape_check_rejects);
    suite_add_tcase(suite, checkpoint);

    TCase *wire = tcase_create("wire");
    tcase_set_timeout(wire, 10);
    tcase_add_test(wire, test_infer_wire_round_trips);
    tcase_add_test(wire, test_infer_wire_known_encodings);
    tcase_add_test(wire, test_infer_wire_decode_rejects);
    tcase_add_test(wire, test_infer_names_and_sizes);
    suite_add_tcase(suite, wire);
    return suite;
}
