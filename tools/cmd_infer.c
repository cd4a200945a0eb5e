/* cmd_infer.c -- `infersim infer`: run the exact executor on one prompt of
 * a llama2.c checkpoint, as llama2.c's `run` does, and print what it
 * generates. The prompt is text (encoded with tokenizer.bin) or token ids;
 * the loop is run.c's generate(): one position at a time, the prompt's
 * tokens forced, then sampled ones, until 'steps' positions have run or the
 * next token is BOS. With --segments the layers run as that many
 * contiguous segments with their own KV caches, and the activations cross
 * each boundary in the --wire dtype, as between the servers of a split
 * network. Every position's logits may be written to a file. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/infer.h"
#include "tools/tool.h"
#include "util/alloc.h"

static const char infer_usage[] =
    "usage: infersim infer CHECKPOINT [--tokenizer FILE] (--prompt TEXT | --ids 1,2,3)\n"
    "                      [--steps N] [--temperature T] [--topp P] [--seed S]\n"
    "                      [--kernel K] [--segments S] [--wire DTYPE] [--logits FILE]\n"
    "                      [--print-ids]\n"
    "\n"
    "Generates from a llama2.c checkpoint (float32, or the int8 export that runq.c\n"
    "reads, dequantized at load) with the simulator's exact executor,\n"
    "as llama2.c's `run` does: the same text for the same checkpoint, tokenizer,\n"
    "prompt and sampling options (greedy, or -t T -p P -s S).\n"
    "\n"
    "  --tokenizer FILE   llama2.c tokenizer.bin (its token count must be the\n"
    "                     checkpoint's vocab_size); needed for --prompt and text\n"
    "  --prompt TEXT      text prompt, encoded as run.c encodes it (BOS first)\n"
    "  --ids LIST         prompt as comma-separated token ids, used as given\n"
    "  --steps N          positions to run, prompt included (default 256; 0 or\n"
    "                     more than seq_len: seq_len)\n"
    "  --temperature T    0 (default) is greedy; > 0 samples\n"
    "  --topp P           top-p in [0, 1] (default 0.9; 0 or 1: plain sampling)\n"
    "  --seed S           sampling seed, >= 1 (default 42)\n"
    "  --kernel K         sequential (default, llama2.c's order), blocked, fma, bf16, q8\n"
    "  --segments S       run the layers as S contiguous segments (default 1)\n"
    "  --wire DTYPE       activations between segments: fp32 (default), fp16,\n"
    "                     bf16, int8\n"
    "  --logits FILE      write every position's logits: float32 little-endian,\n"
    "                     vocab_size values per position, positions in order\n"
    "  --print-ids        print the token ids line even with a text prompt\n"
    "\n"
    "Output: with a tokenizer, stdout's first line is the decoded text exactly as\n"
    "run.c prints it (the prompt and then the generated tokens, unprintable single\n"
    "bytes skipped). With --ids, --print-ids or without a tokenizer, a line\n"
    "'ids: 1 ...' follows: BOS and the prompt's ids, then the generated ones (a\n"
    "final BOS that ends generation is not included). stderr gets run.c's\n"
    "'achieved tok/s: X' line.\n";

#define INFER_IDS_MAX 65536u

typedef struct infer_options {
    const char *checkpoint;
    const char *tokenizer;
    const char *prompt;
    const char *ids;
    const char *logits;
    unsigned long long steps;
    float temperature;
    float topp;
    unsigned long long seed;
    infer_kernel kernel;
    unsigned long long segments;
    infer_dtype wire;
    bool print_ids;
} infer_options;

/* One line on stderr, exit code 2. */
static int infer_fail(const char *format, ...) __attribute__((format(printf, 1, 2)));

static int infer_fail(const char *format, ...)
{
    va_list args;
    fputs("infersim infer: ", stderr);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    return TOOL_EXIT_USAGE;
}

static bool parse_float(const char *text, float *out)
{
    char *end = NULL;
    errno = 0;
    float value = strtof(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(value)) {
        return false;
    }
    *out = value;
    return true;
}

enum {
    OPT_TOKENIZER = 256, OPT_PROMPT, OPT_IDS, OPT_STEPS, OPT_TEMPERATURE, OPT_TOPP, OPT_SEED,
    OPT_KERNEL, OPT_SEGMENTS, OPT_WIRE, OPT_LOGITS, OPT_PRINT_IDS
};

static int parse_named(const char *option, const char *value, const char *const *names,
                       int count, int *out)
{
    for (int i = 0; i < count; i++) {
        if (strcmp(value, names[i]) == 0) {
            *out = i;
            return TOOL_EXIT_OK;
        }
    }
    return infer_fail("--%s: unknown value '%s'", option, value);
}

static int parse_one(infer_options *o, int option, const char *value)
{
    const char *kernels[INFER_KERNEL_COUNT];
    const char *dtypes[INFER_DTYPE_COUNT];
    int index = 0;
    int code = TOOL_EXIT_OK;
    switch (option) {
    case OPT_TOKENIZER: o->tokenizer = value; break;
    case OPT_PROMPT: o->prompt = value; break;
    case OPT_IDS: o->ids = value; break;
    case OPT_LOGITS: o->logits = value; break;
    case OPT_PRINT_IDS: o->print_ids = true; break;
    case OPT_STEPS:
        if (!tool_parse_u64(value, &o->steps) || o->steps > INFER_SEQ_MAX) {
            return infer_fail("--steps: '%s' is not an integer in 0..%u", value, INFER_SEQ_MAX);
        }
        break;
    case OPT_TEMPERATURE:
        if (!parse_float(value, &o->temperature) || o->temperature < 0.0f) {
            return infer_fail("--temperature: '%s' is not a number >= 0", value);
        }
        break;
    case OPT_TOPP:
        if (!parse_float(value, &o->topp) || o->topp < 0.0f || o->topp > 1.0f) {
            return infer_fail("--topp: '%s' is not a number in [0, 1]", value);
        }
        break;
    case OPT_SEED:
        if (!tool_parse_u64(value, &o->seed) || o->seed == 0) {
            return infer_fail("--seed: '%s' is not an integer >= 1", value);
        }
        break;
    case OPT_SEGMENTS:
        if (!tool_parse_u64(value, &o->segments) || o->segments == 0 ||
            o->segments > INFER_LAYERS_MAX) {
            return infer_fail("--segments: '%s' is not an integer in 1..%u", value,
                              INFER_LAYERS_MAX);
        }
        break;
    case OPT_KERNEL:
        for (int k = 0; k < INFER_KERNEL_COUNT; k++) {
            kernels[k] = infer_kernel_name((infer_kernel)k);
        }
        code = parse_named("kernel", value, kernels, INFER_KERNEL_COUNT, &index);
        o->kernel = (infer_kernel)index;
        break;
    case OPT_WIRE:
        for (int d = 0; d < INFER_DTYPE_COUNT; d++) {
            dtypes[d] = infer_dtype_name((infer_dtype)d);
        }
        code = parse_named("wire", value, dtypes, INFER_DTYPE_COUNT, &index);
        o->wire = (infer_dtype)index;
        break;
    default:
        return infer_fail("internal: option %d", option);
    }
    return code;
}

static int infer_parse(int argc, char **argv, infer_options *o)
{
    static const struct option longs[] = {
        {"tokenizer", required_argument, NULL, OPT_TOKENIZER},
        {"prompt", required_argument, NULL, OPT_PROMPT},
        {"ids", required_argument, NULL, OPT_IDS},
        {"steps", required_argument, NULL, OPT_STEPS},
        {"temperature", required_argument, NULL, OPT_TEMPERATURE},
        {"topp", required_argument, NULL, OPT_TOPP},
        {"seed", required_argument, NULL, OPT_SEED},
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"segments", required_argument, NULL, OPT_SEGMENTS},
        {"wire", required_argument, NULL, OPT_WIRE},
        {"logits", required_argument, NULL, OPT_LOGITS},
        {"print-ids", no_argument, NULL, OPT_PRINT_IDS},
        {NULL, 0, NULL, 0},
    };
    *o = (infer_options){.steps = 256, .topp = 0.9f, .seed = 42, .segments = 1};
    optind = 1;
    opterr = 0;
    int option;
    while ((option = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
        if (option == ':') {
            return infer_fail("%s needs a value", argv[optind - 1]);
        }
        if (option == '?') {
            return infer_fail("unknown option '%s' (try 'infersim infer --help')",
                              argv[optind - 1]);
        }
        int code = parse_one(o, option, optarg);
        if (code != TOOL_EXIT_OK) {
            return code;
        }
    }
    if (optind + 1 != argc) {
        return infer_fail(optind == argc ? "CHECKPOINT is required (try 'infersim infer --help')"
                                         : "one CHECKPOINT expected, got %d arguments",
                          argc - optind);
    }
    o->checkpoint = argv[optind];
    if ((o->prompt == NULL) == (o->ids == NULL)) {
        return infer_fail("give exactly one of --prompt TEXT and --ids LIST");
    }
    if (o->prompt != NULL && o->tokenizer == NULL) {
        return infer_fail("--prompt needs --tokenizer FILE");
    }
    return TOOL_EXIT_OK;
}

/* Parses "1,2,3" into ids[]; each below vocab. */
static int parse_ids(const char *text, uint32_t vocab, uint32_t *ids, uint32_t *count_out)
{
    uint32_t count = 0;
    const char *at = text;
    for (;;) {
        char *end = NULL;
        if (*at < '0' || *at > '9') {
            return infer_fail("--ids: '%s' is not a comma-separated list of token ids", text);
        }
        errno = 0;
        unsigned long long id = strtoull(at, &end, 10);
        if (errno != 0 || id >= vocab) {
            return infer_fail("--ids: token %.*s is not below vocab_size %u", (int)(end - at), at,
                              vocab);
        }
        if (count == INFER_IDS_MAX) {
            return infer_fail("--ids: more than %u ids", INFER_IDS_MAX);
        }
        ids[count++] = (uint32_t)id;
        if (*end == '\0') {
            break;
        }
        if (*end != ',') {
            return infer_fail("--ids: '%s' is not a comma-separated list of token ids", text);
        }
        at = end + 1;
    }
    *count_out = count;
    return TOOL_EXIT_OK;
}

/* Reads a whole file into util_malloc'd memory ("path: reason" on failure). */
static int read_file(const char *path, uint8_t **bytes_out, size_t *size_out)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return infer_fail("%s: %s", path, strerror(errno));
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    size_t capacity = 0;
    for (;;) {
        if (size == capacity) {
            capacity = capacity == 0 ? 1u << 16 : capacity * 2;
            uint8_t *grown = util_realloc(bytes, capacity);
            if (grown == NULL) {
                util_free(bytes);
                fclose(file);
                return infer_fail("%s: out of memory", path);
            }
            bytes = grown;
        }
        size_t got = fread(bytes + size, 1, capacity - size, file);
        size += got;
        if (got == 0) {
            break;
        }
    }
    int failed = ferror(file);
    fclose(file);
    if (failed) {
        util_free(bytes);
        return infer_fail("%s: read error", path);
    }
    *bytes_out = bytes;
    *size_out = size;
    return TOOL_EXIT_OK;
}

/* Everything one generation holds. */
typedef struct infer_session {
    infer_model *model;
    infer_executor *executor;
    infer_tokenizer *tokenizer;
    infer_sampler *sampler;
    uint32_t segments;
    infer_kv kv[INFER_LAYERS_MAX];
    void *kv_memory[INFER_LAYERS_MAX];
    float *x;
    float *logits;
    uint8_t *wire;
    uint8_t *logits_bytes;
    FILE *logits_file;
    uint32_t *tokens;          /* prompt, then the sequence as generated */
    uint32_t prompt_count;
} infer_session;

static void session_close(infer_session *s)
{
    for (uint32_t i = 0; i < s->segments; i++) {
        util_free(s->kv_memory[i]);
    }
    if (s->logits_file != NULL) {
        fclose(s->logits_file);
    }
    util_free(s->x);
    util_free(s->logits);
    util_free(s->wire);
    util_free(s->logits_bytes);
    util_free(s->tokens);
    infer_sampler_destroy(s->sampler);
    infer_tokenizer_destroy(s->tokenizer);
    infer_executor_destroy(s->executor);
    infer_model_destroy(s->model);
}

static int session_load_model(infer_session *s, const infer_options *o)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    int code = read_file(o->checkpoint, &bytes, &size);
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    char why[256] = "";
    int rc = infer_checkpoint_is_q8(bytes, size)
                 ? infer_model_from_q8_checkpoint(bytes, size, &s->model, why, sizeof(why))
                 : infer_model_from_checkpoint(bytes, size, &s->model, why, sizeof(why));
    util_free(bytes);
    if (rc != 0) {
        return infer_fail("%s: %s", o->checkpoint, why[0] != '\0' ? why : infer_strerror(rc));
    }
    if (o->tokenizer == NULL) {
        return TOOL_EXIT_OK;
    }
    code = read_file(o->tokenizer, &bytes, &size);
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    rc = infer_tokenizer_from_bytes(bytes, size, infer_model_shape(s->model)->vocab_size,
                                    &s->tokenizer, why, sizeof(why));
    util_free(bytes);
    if (rc != 0) {
        return infer_fail("%s: %s", o->tokenizer, why[0] != '\0' ? why : infer_strerror(rc));
    }
    return TOOL_EXIT_OK;
}

/* The prompt's ids in s->tokens (room for the whole sequence after it). */
static int session_prompt(infer_session *s, const infer_options *o, uint32_t steps)
{
    uint32_t vocab = infer_model_shape(s->model)->vocab_size;
    size_t prompt_max = o->prompt != NULL ? strlen(o->prompt) + 2 : INFER_IDS_MAX;
    s->tokens = util_calloc(prompt_max + steps + 1, sizeof(uint32_t));
    if (s->tokens == NULL) {
        return infer_fail("out of memory");
    }
    if (o->ids != NULL) {
        return parse_ids(o->ids, vocab, s->tokens, &s->prompt_count);
    }
    char why[256] = "";
    if (infer_tokenizer_encode(s->tokenizer, o->prompt, s->tokens, &s->prompt_count, why,
                               sizeof(why)) != 0) {
        return infer_fail("%s: cannot encode the prompt: %s", o->tokenizer, why);
    }
    return TOOL_EXIT_OK;
}

static int session_open(infer_session *s, const infer_options *o, uint32_t *steps)
{
    int code = session_load_model(s, o);
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    const infer_shape *shape = infer_model_shape(s->model);
    if (o->segments > shape->n_layers) {
        return infer_fail("--segments: %llu is more than the model's %u layers", o->segments,
                          shape->n_layers);
    }
    *steps = o->steps == 0 || o->steps > shape->seq_len ? shape->seq_len : (uint32_t)o->steps;
    code = session_prompt(s, o, *steps);
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    s->segments = (uint32_t)o->segments;
    for (uint32_t i = 0; i < s->segments; i++) {
        uint32_t first = (uint32_t)((uint64_t)shape->n_layers * i / s->segments);
        uint32_t end = (uint32_t)((uint64_t)shape->n_layers * (i + 1) / s->segments);
        s->kv_memory[i] = util_malloc(infer_kv_bytes(shape, end - first));
        if (s->kv_memory[i] == NULL) {
            return infer_fail("out of memory for the KV cache");
        }
        infer_kv_init(&s->kv[i], shape, first, end - first, s->kv_memory[i]);
    }
    s->x = util_calloc(shape->dim, sizeof(float));
    s->logits = util_calloc(shape->vocab_size, sizeof(float));
    s->wire = util_malloc(infer_wire_bytes(o->wire, 1, shape->dim));
    s->logits_bytes = util_malloc(infer_wire_bytes(INFER_DTYPE_FP32, 1, shape->vocab_size));
    if (s->x == NULL || s->logits == NULL || s->wire == NULL || s->logits_bytes == NULL ||
        infer_executor_create(s->model, 1, &s->executor) != 0 ||
        infer_sampler_create(shape->vocab_size, o->temperature, o->topp, o->seed,
                             &s->sampler) != 0) {
        return infer_fail("out of memory");
    }
    if (o->logits != NULL && (s->logits_file = fopen(o->logits, "wb")) == NULL) {
        return infer_fail("%s: %s", o->logits, strerror(errno));
    }
    return TOOL_EXIT_OK;
}

/* One position: token at the caches' next position, through every
 * segment (the wire between them), into s->logits. */
static int session_forward(infer_session *s, const infer_options *o, uint32_t token)
{
    const infer_shape *shape = infer_model_shape(s->model);
    uint64_t flops = 0;
    if (infer_embed(s->executor, &token, 1, s->x) != 0) {
        return infer_fail("token %u is not below vocab_size %u", token, shape->vocab_size);
    }
    for (uint32_t i = 0; i < s->segments; i++) {
        if (infer_forward(s->executor, o->kernel, &s->kv[i], s->x, 1, &flops) != 0) {
            return infer_fail("position beyond seq_len %u", shape->seq_len);
        }
        if (i + 1 < s->segments) {
            size_t bytes = infer_wire_bytes(o->wire, 1, shape->dim);
            infer_wire_encode(o->wire, s->x, 1, shape->dim, s->wire);
            if (infer_wire_decode(o->wire, s->wire, bytes, 1, shape->dim, s->x) != 0) {
                return infer_fail("activations at segment %u are not finite (--wire %s)", i,
                                  infer_dtype_name(o->wire));
            }
        }
    }
    infer_logits(s->executor, o->kernel, s->x, s->logits, &flops);
    if (s->logits_file != NULL) {
        size_t bytes = infer_wire_bytes(INFER_DTYPE_FP32, 1, shape->vocab_size);
        infer_wire_encode(INFER_DTYPE_FP32, s->logits, 1, shape->vocab_size, s->logits_bytes);
        if (fwrite(s->logits_bytes, 1, bytes, s->logits_file) != bytes) {
            return infer_fail("%s: write error", o->logits);
        }
    }
    return TOOL_EXIT_OK;
}

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* run.c's generate() loop; *length_out counts the sequence's tokens. */
static int session_generate(infer_session *s, const infer_options *o, uint32_t steps,
                            uint32_t *length_out)
{
    uint32_t *sequence = s->tokens;
    uint32_t length = 1;
    uint32_t token = sequence[0];
    uint32_t position = 0;
    double start = 0.0;
    while (position < steps) {
        int code = session_forward(s, o, token);
        if (code != TOOL_EXIT_OK) {
            return code;
        }
        uint32_t next = position + 1 < s->prompt_count ? sequence[position + 1]
                                                       : infer_sample(s->sampler, s->logits);
        position++;
        if (next == INFER_TOKEN_BOS) {
            break;
        }
        if (s->tokenizer != NULL) {
            const char *piece = infer_tokenizer_decode(s->tokenizer, token, next);
            if (infer_piece_printable(piece)) {
                fputs(piece, stdout);
                fflush(stdout);
            }
        }
        sequence[length++] = next;
        token = next;
        if (start == 0.0) {
            start = seconds_now();
        }
    }
    if (position > 1) {
        fprintf(stderr, "achieved tok/s: %f\n", (position - 1) / (seconds_now() - start));
    }
    *length_out = length;
    return TOOL_EXIT_OK;
}

int tool_infer_main(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (tool_is_help(argv[i])) {
            fputs(infer_usage, stdout);
            return TOOL_EXIT_OK;
        }
    }
    infer_options o;
    int code = infer_parse(argc, argv, &o);
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    infer_session s = {0};
    uint32_t steps = 0;
    uint32_t length = 0;
    code = session_open(&s, &o, &steps);
    if (code == TOOL_EXIT_OK) {
        code = session_generate(&s, &o, steps, &length);
    }
    if (code == TOOL_EXIT_OK) {
        if (s.tokenizer != NULL) {
            fputc('\n', stdout);
        }
        if (o.ids != NULL || o.print_ids || s.tokenizer == NULL) {
            fputs("ids:", stdout);
            for (uint32_t i = 0; i < length; i++) {
                printf(" %u", s.tokens[i]);
            }
            fputc('\n', stdout);
        }
    }
    session_close(&s);
    return code;
}
