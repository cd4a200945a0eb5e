/* infer.h -- real split inference: a llama-style decoder (token embedding,
 * RMSNorm, multi-head attention with rotary embeddings, grouped key/value
 * heads and a KV cache, SwiGLU feed-forward, final norm and classifier),
 * run one contiguous segment of layers at a time, so that a segment server
 * can take activations from the previous server and hand its own to the
 * next. Pure computation: no clock, no file, no randomness beyond the seed
 * that generates weights. Weights are created once per process and shared
 * read-only by every node that serves them.
 *
 * Kernel variants model honest hardware divergence: each is a valid,
 * deterministic way to compute the same function (reduction order and
 * blocking, fused multiply-add or not, bf16 rounding of activations between
 * layers), so two honest nodes of different classes disagree by real
 * floating-point drift. INFER_KERNEL_SEQUENTIAL is the reference.
 *
 * INFER_KERNEL_Q8 runs every matmul (the seven of each layer and the
 * classifier) in integers as llama2.c's runq.c does: the weights in groups
 * of G values, each an int8 with a float scale (a Q8_0 checkpoint's own
 * groups; a float model's quantized as the exporter does, scale = max |w| /
 * 127, rounded half to even); the activations quantized per group of G
 * before each matmul (scale = max |x| / 127, rounded half away from zero,
 * as runq.c's round); each output the sum over groups, in order, of the
 * int32 dot product of a group times both scales. Everything else (norms,
 * softmax, attention) is the reference's float arithmetic. G is the
 * checkpoint's group size, else 64 halved until it divides dim and
 * hidden_dim (the exporter's rule).
 *
 * Every forward call counts the floating-point operations it really
 * performs (a multiply-add is 2); the simulator charges them to simulated
 * time through the node's hardware class. */
#ifndef NODE_INFER_H
#define NODE_INFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INFER_EINVAL -1       /* bad shape or arguments from a file */
#define INFER_ENOMEM -2
#define INFER_EFORMAT -3      /* checkpoint: bad header, truncated, trailing bytes */

#define INFER_DIM_MAX 8192
#define INFER_LAYERS_MAX 256
#define INFER_VOCAB_MAX 262144
#define INFER_SEQ_MAX 8192

typedef struct infer_shape {
    uint32_t dim;              /* hidden size */
    uint32_t hidden_dim;       /* feed-forward inner size */
    uint32_t n_layers;
    uint32_t n_heads;
    uint32_t n_kv_heads;       /* divides n_heads (grouped-query attention) */
    uint32_t vocab_size;
    uint32_t seq_len;          /* longest context, KV cache length */
    bool shared_classifier;    /* classifier = token embedding (llama2.c: vocab_size > 0) */
} infer_shape;

typedef enum infer_kernel {
    INFER_KERNEL_SEQUENTIAL = 0, /* one accumulator, index order, separate mul and add: reference */
    INFER_KERNEL_BLOCKED,        /* 8 accumulators over blocks, combined pairwise */
    INFER_KERNEL_FMA,            /* fused multiply-add (fmaf), 4 accumulators */
    INFER_KERNEL_BF16,           /* blocked, with activations rounded to bf16 between layers */
    INFER_KERNEL_Q8,             /* llama2.c runq.c: int8 matmuls on Q8_0 groups (below) */
    INFER_KERNEL_COUNT
} infer_kernel;

typedef enum infer_dtype {
    INFER_DTYPE_FP32 = 0,
    INFER_DTYPE_FP16,
    INFER_DTYPE_BF16,
    INFER_DTYPE_INT8,          /* per-token symmetric scale (a float per row) + int8 values */
    INFER_DTYPE_COUNT
} infer_dtype;

typedef struct infer_model infer_model;   /* read-only after creation */

/* Validates a shape (every field in range, n_heads % n_kv_heads == 0,
 * dim % n_heads == 0, head size even). Returns 0 or INFER_EINVAL with a
 * reason copied to why[why_size] when why is non-NULL. */
int infer_shape_check(const infer_shape *shape, char *why, size_t why_size);

/* Weights drawn from 'seed' (uniform, scaled 1/sqrt(fan_in); norms near 1).
 * Returns 0 and *out, or INFER_EINVAL / INFER_ENOMEM. */
int infer_model_from_seed(const infer_shape *shape, uint64_t seed, infer_model **out,
                          char *why, size_t why_size);

/* Parses a llama2.c checkpoint held in memory: 7 little-endian int32
 * (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative:
 * unshared classifier), seq_len), then the float32 tensors in llama2.c
 * order (token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3,
 * rms_final, freq_cis_real, freq_cis_imag (skipped), classifier if
 * unshared). The bytes are copied; the caller keeps them. Untrusted input:
 * a bad header, a short or over-long file is INFER_EFORMAT with a reason. */
int infer_model_from_checkpoint(const void *bytes, size_t size, infer_model **out, char *why,
                                size_t why_size);

/* Serialises a model as a llama2.c checkpoint (for tests and tools).
 * *bytes_out is util_malloc'd; the caller frees it with util_free. */
int infer_model_to_checkpoint(const infer_model *model, uint8_t **bytes_out, size_t *size_out);

/* llama2.c's int8 export (version 2, as runq.c reads it; node/infer_q8.c):
 * a 256-byte header (magic "ak42", version 2, the shape, a shared
 * classifier byte, the group size, zero padding), float32 norms, then the
 * matrices as int8 values with a float32 scale per group. Every header
 * field is checked (a group size must divide dim and hidden_dim), the size
 * must be exact, and a scale that is not finite, or so large a weight
 * overflows, is INFER_EFORMAT with a reason. The weights are dequantized
 * (value x scale, as runq.c does); activations stay float32, so results
 * are close to runq.c's, not identical. */
bool infer_checkpoint_is_q8(const void *bytes, size_t size);
int infer_model_from_q8_checkpoint(const void *bytes, size_t size, infer_model **out,
                                   char *why, size_t why_size);
/* Quantizes a model as llama2.c's export does (scale = max |w| / 127 per
 * group, values rounded half to even). INFER_EINVAL when group_size does
 * not divide dim and hidden_dim. *bytes_out is util_malloc'd. */
int infer_model_to_q8_checkpoint(const infer_model *model, uint32_t group_size,
                                 uint8_t **bytes_out, size_t *size_out);

void infer_model_destroy(infer_model *model);
const infer_shape *infer_model_shape(const infer_model *model);

/* Bytes of weights of one transformer layer (what a server must hold). */
uint64_t infer_layer_weight_bytes(const infer_shape *shape);
/* Bytes of KV cache one layer needs per token of context. */
uint64_t infer_layer_kv_bytes_per_token(const infer_shape *shape);
/* Bytes one forward call moves through memory (the roofline's memory side):
 * the weights of its 'layer_count' layers read once (plus the final norm
 * and the classifier when 'last'), the KV cache read over the whole context
 * (pos0 + count positions, the new rows included), and the activations read
 * and written (count rows of dim floats each way; plus the logits when
 * 'last'). Weights are counted at fp32, as the executor holds them. */
uint64_t infer_forward_bytes(const infer_shape *shape, uint32_t layer_count, uint32_t pos0,
                             uint32_t count, bool last);
/* The weights' share of infer_forward_bytes: the layers' weights (plus the
 * final norm and the classifier when 'last'), which a batch of calls on
 * the same layers reads once. */
uint64_t infer_forward_weight_bytes(const infer_shape *shape, uint32_t layer_count, bool last);

/* Per-process scratch space for forward calls of up to 'tokens_max' tokens
 * at once (prefill). One executor serves every node of a process in turn. */
typedef struct infer_executor infer_executor;

int infer_executor_create(const infer_model *model, uint32_t tokens_max, infer_executor **out);
void infer_executor_destroy(infer_executor *executor);

/* A KV cache for layers [first_layer, first_layer + layer_count) of one
 * request, in caller memory of infer_kv_bytes(shape, layer_count) bytes. */
typedef struct infer_kv {
    float *keys;               /* layer_count * seq_len * kv_dim */
    float *values;
    uint32_t first_layer;
    uint32_t layer_count;
    uint32_t length;           /* tokens already in the cache */
} infer_kv;

size_t infer_kv_bytes(const infer_shape *shape, uint32_t layer_count);
/* Points kv at 'memory' (infer_kv_bytes long, any contents) and empties it. */
void infer_kv_init(infer_kv *kv, const infer_shape *shape, uint32_t first_layer,
                   uint32_t layer_count, void *memory);
/* Copies the keys and values of positions first .. first + count - 1 of
 * every layer from 'from' into 'to', two caches of the same layers. */
void infer_kv_copy_rows(infer_kv *to, const infer_kv *from, const infer_shape *shape,
                        uint32_t first, uint32_t count);

/* Token embedding of 'count' tokens into x[count * dim]. Returns 0, or
 * INFER_EINVAL for a token id >= vocab_size (tokens come from clients). */
int infer_embed(const infer_executor *executor, const uint32_t *tokens, uint32_t count,
                float *x);

/* Runs the layers of 'kv' on 'count' tokens whose activations are in
 * x[count * dim] (replaced by the output activations), at positions
 * kv->length .. kv->length + count - 1, appending to the cache. Returns 0,
 * or INFER_EINVAL when the context would exceed seq_len or count exceeds
 * tokens_max. Adds the FLOPs performed to *flops. */
int infer_forward(infer_executor *executor, infer_kernel kernel, infer_kv *kv, float *x,
                  uint32_t count, uint64_t *flops);
/* As infer_forward, where only the last 'tail' tokens' output is wanted
 * (a run that reads the logits of its last positions): the tokens before
 * them take only the keys and values of the last layer, which go to the
 * cache with the bits infer_forward gives, and their rows of x are left
 * holding the last layer's input. The last 'tail' rows of x get
 * infer_forward's bits. INFER_EINVAL also when tail > count. */
int infer_forward_tail(infer_executor *executor, infer_kernel kernel, infer_kv *kv, float *x,
                       uint32_t count, uint32_t tail, uint64_t *flops);

/* Final RMSNorm and classifier for one token's activations x[dim] into
 * logits[vocab_size]. Adds FLOPs to *flops. Cannot fail. */
void infer_logits(infer_executor *executor, infer_kernel kernel, const float *x, float *logits,
                  uint64_t *flops);

/* The FLOPs infer_forward adds for 'count' tokens at positions pos0 ..
 * over 'layer_count' layers, plus infer_logits' when 'last': what a call
 * will cost, known before it runs. */
uint64_t infer_forward_flops(const infer_shape *shape, uint32_t layer_count, uint32_t pos0,
                            uint32_t count, bool last);

/* Index of the largest logit (lowest index on ties). */
uint32_t infer_argmax(const float *logits, uint32_t count);

/* Wire encoding of activations: count rows of dim floats. */
size_t infer_wire_bytes(infer_dtype dtype, uint32_t rows, uint32_t dim);
/* Encodes into out[infer_wire_bytes] (little-endian). Cannot fail. */
void infer_wire_encode(infer_dtype dtype, const float *x, uint32_t rows, uint32_t dim,
                       uint8_t *out);
/* Decodes untrusted bytes; returns 0 or INFER_EFORMAT when size does not
 * match or a value is not finite. */
int infer_wire_decode(infer_dtype dtype, const uint8_t *bytes, size_t size, uint32_t rows,
                      uint32_t dim, float *x);

/* Whether forward calls in this process run on AVX2 with hardware FMA (the
 * same bits either way; benchmarks report their ceilings). Cannot fail. */
bool infer_uses_avx2(void);

/* ---- text: llama2.c's tokenizer and sampler (infer_text.c) ----
 *
 * Token ids as llama2.c fixes them: 0 <unk>, 1 BOS (<s>), 2 EOS (</s>), and
 * the byte fallback pieces <0x00>..<0xFF> at 3..258. */
#define INFER_TOKEN_BOS 1u

typedef struct infer_tokenizer infer_tokenizer;

/* Parses a llama2.c tokenizer.bin held in memory: an int32 max_token_length,
 * then per token a float32 score, an int32 length and that many bytes, all
 * little-endian, for exactly 'vocab_size' tokens (the model's; the file does
 * not say; at least 2, so that BOS is one). Untrusted input: a truncated file, a piece longer than
 * max_token_length, a non-finite score or bytes left after the last token
 * is INFER_EFORMAT with a reason in why[why_size]. The bytes are copied.
 * Returns 0 and *out (free with infer_tokenizer_destroy), INFER_EINVAL,
 * INFER_EFORMAT or INFER_ENOMEM. */
int infer_tokenizer_from_bytes(const void *bytes, size_t size, uint32_t vocab_size,
                               infer_tokenizer **out, char *why, size_t why_size);
void infer_tokenizer_destroy(infer_tokenizer *tokenizer);
/* Writes tokenizer.bin bytes for 'count' pieces (NUL-terminated, at most
 * 65536 bytes each) and their scores, in the layout above, max_token_length
 * the longest piece (for tests and tools that make a vocabulary). Returns 0
 * and *bytes_out (util_malloc'd; free with util_free), or INFER_ENOMEM. */
int infer_tokenizer_to_bytes(const char *const *pieces, const float *scores, uint32_t count,
                             uint8_t **bytes_out, size_t *size_out);
uint32_t infer_tokenizer_vocab(const infer_tokenizer *tokenizer);

/* Encodes NUL-terminated UTF-8 'text' as run.c's encode(bos=1, eos=0):
 * BOS, a " " piece when the text is not empty, each code point's piece or
 * its bytes as tokens byte + 3, then repeated merges of the adjacent pair
 * whose concatenation is the best-scoring piece (the first such pair on
 * ties). tokens[] must hold strlen(text) + 2 ids. Returns 0 and
 * *count_out, or INFER_EINVAL (why says: no " " piece, or a byte fallback
 * id beyond the vocabulary). Uses the tokenizer's scratch space: one call at
 * a time per tokenizer. */
int infer_tokenizer_encode(infer_tokenizer *tokenizer, const char *text, uint32_t *tokens,
                           uint32_t *count_out, char *why, size_t why_size);

/* The text of 'token' following 'previous', as run.c's decode: a leading
 * space is dropped after BOS, and a piece "<0xXX>" is the raw byte XX. The
 * string stays valid as long as the tokenizer. Cannot fail. */
const char *infer_tokenizer_decode(const infer_tokenizer *tokenizer, uint32_t previous,
                                   uint32_t token);

/* run.c's safe_printf rule: false for an empty piece and for a one-byte
 * piece that is neither printable nor white space in the C locale (so raw
 * bytes of multi-byte UTF-8 characters are not printed). Cannot fail. */
bool infer_piece_printable(const char *piece);

/* The next token from one position's logits, as run.c's sampler: argmax
 * when temperature is 0; otherwise logits / temperature, softmax, a coin
 * from run.c's xorshift generator, then multinomial sampling (topp <= 0 or
 * >= 1) or top-p sampling (candidates below (1 - topp) / (vocab - 1) cut,
 * sorted by probability, descending; equal ones by id). 'logits' is
 * overwritten with the probabilities. */
typedef struct infer_sampler infer_sampler;

/* Returns 0 and *out, INFER_EINVAL (temperature < 0 or not finite, topp
 * outside [0, 1], seed 0, which xorshift never leaves) or INFER_ENOMEM. */
int infer_sampler_create(uint32_t vocab_size, float temperature, float topp, uint64_t seed,
                         infer_sampler **out);
void infer_sampler_destroy(infer_sampler *sampler);
uint32_t infer_sample(infer_sampler *sampler, float *logits);

const char *infer_kernel_name(infer_kernel kernel);
const char *infer_dtype_name(infer_dtype dtype);
const char *infer_strerror(int code);

#endif
