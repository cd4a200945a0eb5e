/* infer_text.c -- text in and out of the model as llama2.c's run.c does it:
 * the tokenizer.bin reader, the sentencepiece-style encoder (BOS, dummy
 * space prefix, UTF-8 code points with byte fallback, greedy merges of the
 * best-scoring adjacent pair), the decoder (leading space stripped after
 * BOS, <0xXX> pieces as raw bytes) with run.c's printable-piece rule, and
 * the sampler (temperature, softmax, multinomial or top-p, on run.c's
 * xorshift generator). Every rule is run.c's, so `infersim infer` prints
 * what `run` prints for the same checkpoint, tokenizer, prompt and seed.
 *
 * tokenizer.bin comes from a user: every length is checked against the
 * bytes that remain, and a short file, a piece longer than the declared
 * maximum, a non-finite score or a token count other than the model's
 * vocabulary is rejected with a reason. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/infer.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/bytes.h"

/* A piece this long is not a tokenizer (llama2.c's longest is 27 bytes). */
#define INFER_PIECE_BYTES_MAX 65536u

typedef struct infer_piece_ref {
    const char *text;
    uint32_t id;
} infer_piece_ref;

struct infer_tokenizer {
    uint32_t vocab_size;
    uint32_t max_token_length;
    char **pieces;             /* vocab_size NUL-terminated strings */
    float *scores;
    infer_piece_ref *sorted;   /* pieces by (strcmp, id) */
    char *buffer;              /* 2 * max_token_length + 8: merge candidates */
    char byte_pieces[512];     /* byte b as the string at 2 * b */
};

static void why_printf(char *why, size_t why_size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void why_printf(char *why, size_t why_size, const char *format, ...)
{
    if (why != NULL && why_size > 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(why, why_size, format, args);
        va_end(args);
    }
}

static uint32_t read_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float read_f32(const uint8_t *p)
{
    uint32_t bits = read_u32(p);
    float value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

void infer_tokenizer_destroy(infer_tokenizer *tokenizer)
{
    if (tokenizer == NULL) {
        return;
    }
    if (tokenizer->pieces != NULL) {
        for (uint32_t i = 0; i < tokenizer->vocab_size; i++) {
            util_free(tokenizer->pieces[i]);
        }
    }
    util_free(tokenizer->pieces);
    util_free(tokenizer->scores);
    util_free(tokenizer->sorted);
    util_free(tokenizer->buffer);
    util_free(tokenizer);
}

/* strcmp order, ties (equal pieces) broken by id so that a lookup is
 * deterministic: the lowest id among equal pieces wins. */
static int sorted_compare(const void *a, const void *b)
{
    const infer_piece_ref *ra = a;
    const infer_piece_ref *rb = b;
    int order = strcmp(ra->text, rb->text);
    if (order != 0) {
        return order;
    }
    return ra->id < rb->id ? -1 : ra->id > rb->id;
}

/* Reads the vocab_size tokens after the header. */
static int tokenizer_read_tokens(infer_tokenizer *t, const uint8_t *bytes, size_t size,
                                 char *why, size_t why_size)
{
    size_t at = 4;
    for (uint32_t i = 0; i < t->vocab_size; i++) {
        if (size - at < 8) {
            why_printf(why, why_size, "truncated: token %u of %u has no score and length", i,
                       t->vocab_size);
            return INFER_EFORMAT;
        }
        t->scores[i] = read_f32(bytes + at);
        uint32_t length = read_u32(bytes + at + 4);
        at += 8;
        if (!isfinite(t->scores[i])) {
            why_printf(why, why_size, "token %u has a non-finite score", i);
            return INFER_EFORMAT;
        }
        if (length > t->max_token_length) {
            why_printf(why, why_size, "token %u is %u bytes, longer than max_token_length %u", i,
                       length, t->max_token_length);
            return INFER_EFORMAT;
        }
        if (size - at < length) {
            why_printf(why, why_size, "truncated: token %u of %u ends past the end of the file", i,
                       t->vocab_size);
            return INFER_EFORMAT;
        }
        t->pieces[i] = util_malloc((size_t)length + 1);
        if (t->pieces[i] == NULL) {
            return INFER_ENOMEM;
        }
        memcpy(t->pieces[i], bytes + at, length);
        t->pieces[i][length] = '\0';
        at += length;
    }
    if (at != size) {
        why_printf(why, why_size, "%zu bytes after the model's %u tokens: more tokens than its vocab_size",
                   size - at, t->vocab_size);
        return INFER_EFORMAT;
    }
    return 0;
}

static int tokenizer_parse(infer_tokenizer *t, const uint8_t *bytes, size_t size, char *why,
                           size_t why_size)
{
    if (size < 4) {
        why_printf(why, why_size, "truncated: %zu bytes, no max_token_length", size);
        return INFER_EFORMAT;
    }
    uint32_t max_length = read_u32(bytes);
    if (max_length < 1 || max_length > INFER_PIECE_BYTES_MAX) {
        why_printf(why, why_size, "max_token_length %d out of range 1..%u", (int32_t)max_length,
                   INFER_PIECE_BYTES_MAX);
        return INFER_EFORMAT;
    }
    t->max_token_length = max_length;
    t->pieces = util_calloc(t->vocab_size, sizeof(char *));
    t->scores = util_calloc(t->vocab_size, sizeof(float));
    t->sorted = util_calloc(t->vocab_size, sizeof(infer_piece_ref));
    t->buffer = util_malloc(2 * (size_t)max_length + 8);
    if (t->pieces == NULL || t->scores == NULL || t->sorted == NULL || t->buffer == NULL) {
        return INFER_ENOMEM;
    }
    return tokenizer_read_tokens(t, bytes, size, why, why_size);
}

int infer_tokenizer_from_bytes(const void *bytes, size_t size, uint32_t vocab_size,
                               infer_tokenizer **out, char *why, size_t why_size)
{
    ASSERT(bytes != NULL || size == 0);
    ASSERT(out != NULL);
    /* Every encoding starts with BOS (token 1): a vocabulary without it
     * cannot hold one. */
    if (vocab_size <= INFER_TOKEN_BOS || vocab_size > INFER_VOCAB_MAX) {
        why_printf(why, why_size, "vocab_size %u out of range %u..%u (a tokenizer needs BOS, "
                   "token %u)", vocab_size, INFER_TOKEN_BOS + 1, INFER_VOCAB_MAX,
                   INFER_TOKEN_BOS);
        return INFER_EINVAL;
    }
    infer_tokenizer *t = util_calloc(1, sizeof(*t));
    if (t == NULL) {
        return INFER_ENOMEM;
    }
    t->vocab_size = vocab_size;
    for (int b = 0; b < 256; b++) {
        t->byte_pieces[2 * b] = (char)b;
        t->byte_pieces[2 * b + 1] = '\0';
    }
    int rc = tokenizer_parse(t, bytes, size, why, why_size);
    if (rc != 0) {
        if (rc == INFER_ENOMEM) {
            why_printf(why, why_size, "out of memory");
        }
        infer_tokenizer_destroy(t);
        return rc;
    }
    for (uint32_t i = 0; i < vocab_size; i++) {
        t->sorted[i] = (infer_piece_ref){t->pieces[i], i};
    }
    qsort(t->sorted, vocab_size, sizeof(infer_piece_ref), sorted_compare);
    *out = t;
    return 0;
}

int infer_tokenizer_to_bytes(const char *const *pieces, const float *scores, uint32_t count,
                             uint8_t **bytes_out, size_t *size_out)
{
    ASSERT(pieces != NULL && scores != NULL);
    ASSERT(bytes_out != NULL && size_out != NULL);
    size_t size = 4;
    uint32_t max_length = 0;
    for (uint32_t i = 0; i < count; i++) {
        size_t length = strlen(pieces[i]);
        ASSERT(length <= INFER_PIECE_BYTES_MAX);
        size += 8 + length;
        max_length = (uint32_t)length > max_length ? (uint32_t)length : max_length;
    }
    uint8_t *bytes = util_malloc(size);
    if (bytes == NULL) {
        return INFER_ENOMEM;
    }
    util_put_u32(bytes, max_length);
    uint8_t *p = bytes + 4;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t length = (uint32_t)strlen(pieces[i]);
        uint32_t bits;
        memcpy(&bits, &scores[i], sizeof(bits));
        util_put_u32(p, bits);
        util_put_u32(p + 4, length);
        memcpy(p + 8, pieces[i], length);
        p += 8 + length;
    }
    ASSERT(p == bytes + size);
    *bytes_out = bytes;
    *size_out = size;
    return 0;
}

uint32_t infer_tokenizer_vocab(const infer_tokenizer *tokenizer)
{
    ASSERT(tokenizer != NULL);
    return tokenizer->vocab_size;
}

/* The lowest id whose piece is 'text', or -1. */
static int64_t tokenizer_lookup(const infer_tokenizer *t, const char *text)
{
    size_t low = 0;
    size_t high = t->vocab_size;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (strcmp(t->sorted[mid].text, text) < 0) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    if (low < t->vocab_size && strcmp(t->sorted[low].text, text) == 0) {
        return t->sorted[low].id;
    }
    return -1;
}

/* Appends the code points of 'text' to tokens (byte fallback: byte + 3). */
static int encode_code_points(infer_tokenizer *t, const char *text, uint32_t *tokens,
                              uint32_t *count, char *why, size_t why_size)
{
    char *buffer = t->buffer;
    size_t length = 0;
    for (const char *c = text; *c != '\0'; c++) {
        if ((*c & 0xC0) != 0x80) {
            length = 0;               /* a lead byte or ASCII starts a code point */
        }
        buffer[length++] = *c;
        buffer[length] = '\0';
        if ((c[1] & 0xC0) == 0x80 && length < 4) {
            continue;                 /* more continuation bytes of this code point */
        }
        int64_t id = tokenizer_lookup(t, buffer);
        if (id >= 0) {
            tokens[(*count)++] = (uint32_t)id;
        } else {
            for (size_t i = 0; i < length; i++) {
                uint32_t byte_id = (uint32_t)(unsigned char)buffer[i] + 3;
                if (byte_id >= t->vocab_size) {
                    why_printf(why, why_size, "byte fallback token %u is beyond the vocabulary"
                               " (%u tokens)", byte_id, t->vocab_size);
                    return INFER_EINVAL;
                }
                tokens[(*count)++] = byte_id;
            }
        }
        length = 0;
    }
    return 0;
}

/* Merges the best-scoring adjacent pair until no pair is a piece; the
 * first pair wins among equal scores. */
static void encode_merge(infer_tokenizer *t, uint32_t *tokens, uint32_t *count)
{
    for (;;) {
        float best_score = -1e10f;
        int64_t best_id = -1;
        uint32_t best_index = 0;
        for (uint32_t i = 0; i + 1 < *count; i++) {
            const char *left = t->pieces[tokens[i]];
            const char *right = t->pieces[tokens[i + 1]];
            size_t left_length = strlen(left);
            memcpy(t->buffer, left, left_length);
            memcpy(t->buffer + left_length, right, strlen(right) + 1);
            int64_t id = tokenizer_lookup(t, t->buffer);
            if (id >= 0 && t->scores[id] > best_score) {
                best_score = t->scores[id];
                best_id = id;
                best_index = i;
            }
        }
        if (best_id < 0) {
            return;
        }
        tokens[best_index] = (uint32_t)best_id;
        memmove(tokens + best_index + 1, tokens + best_index + 2,
                (*count - best_index - 2) * sizeof(uint32_t));
        *count -= 1;
    }
}

int infer_tokenizer_encode(infer_tokenizer *tokenizer, const char *text, uint32_t *tokens,
                           uint32_t *count_out, char *why, size_t why_size)
{
    ASSERT(tokenizer != NULL && text != NULL && tokens != NULL && count_out != NULL);
    uint32_t count = 0;
    tokens[count++] = INFER_TOKEN_BOS;
    if (text[0] != '\0') {
        int64_t space = tokenizer_lookup(tokenizer, " ");
        if (space < 0) {
            why_printf(why, why_size, "the tokenizer has no \" \" piece for the dummy prefix");
            return INFER_EINVAL;
        }
        tokens[count++] = (uint32_t)space;
    }
    int rc = encode_code_points(tokenizer, text, tokens, &count, why, why_size);
    if (rc != 0) {
        return rc;
    }
    encode_merge(tokenizer, tokens, &count);
    ASSERT(count <= strlen(text) + 2);
    *count_out = count;
    return 0;
}

const char *infer_tokenizer_decode(const infer_tokenizer *tokenizer, uint32_t previous,
                                   uint32_t token)
{
    ASSERT(tokenizer != NULL);
    ASSERT(token < tokenizer->vocab_size);
    const char *piece = tokenizer->pieces[token];
    if (previous == INFER_TOKEN_BOS && piece[0] == ' ') {
        piece++;
    }
    /* run.c's own test, sscanf's rules included (one or two hex digits,
     * either case; the closing '>' is not checked). */
    unsigned char byte;
    if (sscanf(piece, "<0x%02hhX>", &byte) == 1) {
        piece = tokenizer->byte_pieces + 2 * byte;
    }
    return piece;
}

bool infer_piece_printable(const char *piece)
{
    ASSERT(piece != NULL);
    if (piece[0] == '\0') {
        return false;
    }
    if (piece[1] == '\0') {
        unsigned char byte = (unsigned char)piece[0];
        /* The C locale's classes: bytes 0x80..0xff are neither. */
        return byte < 0x80 && (isprint(byte) || isspace(byte));
    }
    return true;
}

/* ---- the sampler ---- */

typedef struct infer_prob_index {
    float prob;
    uint32_t index;
} infer_prob_index;

struct infer_sampler {
    uint32_t vocab_size;
    float temperature;
    float topp;
    uint64_t state;
    infer_prob_index *candidates;
};

int infer_sampler_create(uint32_t vocab_size, float temperature, float topp, uint64_t seed,
                         infer_sampler **out)
{
    ASSERT(out != NULL);
    if (vocab_size == 0 || !(temperature >= 0.0f) || !isfinite(temperature) ||
        !(topp >= 0.0f && topp <= 1.0f) || seed == 0) {
        return INFER_EINVAL;
    }
    infer_sampler *s = util_calloc(1, sizeof(*s));
    if (s == NULL) {
        return INFER_ENOMEM;
    }
    s->candidates = util_calloc(vocab_size, sizeof(infer_prob_index));
    if (s->candidates == NULL) {
        util_free(s);
        return INFER_ENOMEM;
    }
    s->vocab_size = vocab_size;
    s->temperature = temperature;
    s->topp = topp;
    s->state = seed;
    *out = s;
    return 0;
}

void infer_sampler_destroy(infer_sampler *sampler)
{
    if (sampler != NULL) {
        util_free(sampler->candidates);
        util_free(sampler);
    }
}

/* xorshift* as run.c's random_u32, and a float in [0, 1) from its top 24 bits. */
static uint32_t sampler_u32(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545F4914F6CDD1DULL) >> 32);
}

static float sampler_f32(uint64_t *state)
{
    return (float)(sampler_u32(state) >> 8) / 16777216.0f;
}

static void sampler_softmax(float *x, uint32_t n)
{
    float max = x[0];
    for (uint32_t i = 1; i < n; i++) {
        if (x[i] > max) {
            max = x[i];
        }
    }
    float sum = 0.0f;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (uint32_t i = 0; i < n; i++) {
        x[i] /= sum;
    }
}

static uint32_t sample_multinomial(const float *probabilities, uint32_t n, float coin)
{
    float cdf = 0.0f;
    for (uint32_t i = 0; i < n; i++) {
        cdf += probabilities[i];
        if (coin < cdf) {
            return i;
        }
    }
    return n - 1;             /* rounding left the sum below the coin */
}

/* Descending probability; equal ones by index, so the order never depends
 * on the C library's qsort. */
static int candidate_compare(const void *a, const void *b)
{
    const infer_prob_index *pa = a;
    const infer_prob_index *pb = b;
    if (pa->prob != pb->prob) {
        return pa->prob > pb->prob ? -1 : 1;
    }
    return pa->index < pb->index ? -1 : pa->index > pb->index;
}

static uint32_t sample_topp(infer_sampler *s, const float *probabilities, float coin)
{
    uint32_t n = s->vocab_size;
    /* Below (1 - topp) / (n - 1) a token cannot be in the nucleus. */
    const float cutoff = (1.0f - s->topp) / (float)(n - 1);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (probabilities[i] >= cutoff) {
            s->candidates[kept].index = i;
            s->candidates[kept].prob = probabilities[i];
            kept++;
        }
    }
    if (kept == 0) {
        return n - 1;         /* no finite probability: run.c's rounding fallback */
    }
    qsort(s->candidates, kept, sizeof(infer_prob_index), candidate_compare);
    float cumulative = 0.0f;
    uint32_t last = kept - 1;
    for (uint32_t i = 0; i < kept; i++) {
        cumulative += s->candidates[i].prob;
        if (cumulative > s->topp) {
            last = i;
            break;
        }
    }
    float r = coin * cumulative;
    float cdf = 0.0f;
    for (uint32_t i = 0; i <= last; i++) {
        cdf += s->candidates[i].prob;
        if (r < cdf) {
            return s->candidates[i].index;
        }
    }
    return s->candidates[last].index;
}

uint32_t infer_sample(infer_sampler *sampler, float *logits)
{
    ASSERT(sampler != NULL && logits != NULL);
    if (sampler->temperature == 0.0f) {
        return infer_argmax(logits, sampler->vocab_size);
    }
    for (uint32_t i = 0; i < sampler->vocab_size; i++) {
        logits[i] /= sampler->temperature;
    }
    sampler_softmax(logits, sampler->vocab_size);
    float coin = sampler_f32(&sampler->state);
    if (sampler->topp <= 0.0f || sampler->topp >= 1.0f || sampler->vocab_size == 1) {
        return sample_multinomial(logits, sampler->vocab_size, coin);
    }
    return sample_topp(sampler, logits, coin);
}
