/* test_infer_text.c -- text through the model as llama2.c does it: the
 * tokenizer.bin reader on hostile files, the encoder's rules (dummy prefix,
 * byte fallback, merges by score), decoding and the printable rule, and
 * `infersim infer` against outputs that llama2.c's run.c printed for the
 * same checkpoint, tokenizer, prompt and sampling options.
 *
 * The checkpoint and the tokenizer are generated here, deterministically
 * (parity_write), so the expected outputs below stay valid as long as the
 * generator does not change. How they were produced, once:
 *
 *   llama2.c at commit 350e04fe35433e6d2941dce5a1f53308f87058eb,
 *   gcc -O3 -o /tmp/llama2c-run run.c -lm
 *   INFERSIM_PARITY_DIR=/tmp/parity CK_RUN_SUITE=infer_text \
 *       CK_RUN_CASE=parity build/run_tests       (writes model.bin, tok.bin)
 *   /tmp/llama2c-run /tmp/parity/model.bin -z /tmp/parity/tok.bin -n N -t 0 -i PROMPT
 *   /tmp/llama2c-run ... -t 0.8 -p 0.9 -s 42 ...        (the sampled cases)
 *
 * The ids come from a copy of run.c that also printed every token of the
 * sequence (not kept); the text is run.c's stdout byte for byte. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "node/infer.h"
#include "tests/suites.h"
#include "util/alloc.h"
#include "util/bytes.h"
#include "util/prng.h"

/* ---- the generated checkpoint and tokenizer ---- */

#define PARITY_VOCAB 512u
#define PARITY_PIECE_MAX 16u

static const infer_shape parity_shape = {
    .dim = 64, .hidden_dim = 160, .n_layers = 3, .n_heads = 4, .n_kv_heads = 2,
    .vocab_size = PARITY_VOCAB, .seq_len = 128, .shared_classifier = false,
};

/* Merges named by hand, best first; every one is the concatenation of two
 * earlier pieces, so the encoder can reach it. */
static const char *const parity_merges[] = {
    " t", "he", " a", "in", " th", " the", "er", "an", "on", "re", "at", "en", "nd", " s",
    " w", " o", "ou", "ing", "is", "it", "es", "or", "ed", "ar", "le", "st", " h", " he",
    " wa", " was", " an", " and", " O", "nc", "Onc", " Onc", " Once", " u", "up", " up",
    " upon", "im", " ti", " tim", " time", " b", " bi", " big", " d", " do", " dog", "ll",
    " l", " li", " lit", "tt", "ttle", " little", " é", "é", "ét", " été",
};

typedef struct parity_vocab {
    char pieces[PARITY_VOCAB][PARITY_PIECE_MAX + 1];
    float scores[PARITY_VOCAB];
    uint32_t count;
} parity_vocab;

static bool vocab_has(const parity_vocab *v, const char *piece)
{
    for (uint32_t i = 0; i < v->count; i++) {
        if (strcmp(v->pieces[i], piece) == 0) {
            return true;
        }
    }
    return false;
}

static void vocab_add(parity_vocab *v, const char *piece, float score)
{
    ck_assert_uint_lt(v->count, PARITY_VOCAB);
    ck_assert_uint_le(strlen(piece), PARITY_PIECE_MAX);
    snprintf(v->pieces[v->count], sizeof(v->pieces[0]), "%s", piece);
    v->scores[v->count] = score;
    v->count++;
}

/* llama2.c's layout: <unk>, BOS, EOS, the 256 byte pieces, then pieces:
 * " ", printable ASCII, the hand merges, and merges of two random earlier
 * pieces (a seeded draw) until the vocabulary is full. */
static void parity_vocab_build(parity_vocab *v)
{
    memset(v, 0, sizeof(*v));
    vocab_add(v, "<unk>", 0.0f);
    vocab_add(v, "\n<s>\n", 0.0f);
    vocab_add(v, "\n</s>\n", 0.0f);
    for (int b = 0; b < 256; b++) {
        char piece[8];
        snprintf(piece, sizeof(piece), "<0x%02X>", b);
        vocab_add(v, piece, 0.0f);
    }
    vocab_add(v, " ", -1000.0f);
    for (int c = 33; c < 127; c++) {
        char piece[2] = {(char)c, '\0'};
        vocab_add(v, piece, -1000.0f - (float)c);
    }
    vocab_add(v, "\xc3\xa9", -1200.0f);          /* é: a code point found whole */
    for (size_t i = 0; i < sizeof(parity_merges) / sizeof(parity_merges[0]); i++) {
        if (!vocab_has(v, parity_merges[i])) {
            vocab_add(v, parity_merges[i], -10.0f - (float)i);
        }
    }
    util_prng prng;
    util_prng_init(&prng, 1717);
    uint32_t first_piece = 259;
    while (v->count < PARITY_VOCAB) {
        char piece[2 * PARITY_PIECE_MAX + 1];
        uint32_t a = first_piece + (uint32_t)util_prng_below(&prng, v->count - first_piece);
        uint32_t b = first_piece + (uint32_t)util_prng_below(&prng, v->count - first_piece);
        snprintf(piece, sizeof(piece), "%s%s", v->pieces[a], v->pieces[b]);
        if (strlen(piece) <= 6 && !vocab_has(v, piece)) {
            vocab_add(v, piece, -100.0f - (float)util_prng_below(&prng, 800));
        }
    }
}

/* tokenizer.bin bytes of the vocabulary (util_malloc'd). */
static uint8_t *parity_tokenizer_bytes(const parity_vocab *v, size_t *size_out)
{
    static const char *pieces[PARITY_VOCAB];
    for (uint32_t i = 0; i < v->count; i++) {
        pieces[i] = v->pieces[i];
    }
    uint8_t *bytes = NULL;
    ck_assert_int_eq(infer_tokenizer_to_bytes(pieces, v->scores, v->count, &bytes, size_out), 0);
    return bytes;
}

static void write_bytes(const char *path, const uint8_t *bytes, size_t size)
{
    FILE *file = fopen(path, "wb");
    ck_assert_ptr_nonnull(file);
    ck_assert_uint_eq(fwrite(bytes, 1, size, file), size);
    ck_assert_int_eq(fclose(file), 0);
}

/* Writes DIR/model.bin (seeded weights, llama2.c format) and DIR/tok.bin. */
static void parity_write(const char *dir)
{
    infer_model *model = NULL;
    char why[256];
    ck_assert_int_eq(infer_model_from_seed(&parity_shape, 4242, &model, why, sizeof(why)), 0);
    uint8_t *bytes = NULL;
    size_t size = 0;
    ck_assert_int_eq(infer_model_to_checkpoint(model, &bytes, &size), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/model.bin", dir);
    write_bytes(path, bytes, size);
    util_free(bytes);
    infer_model_destroy(model);

    static parity_vocab vocab;
    parity_vocab_build(&vocab);
    bytes = parity_tokenizer_bytes(&vocab, &size);
    snprintf(path, sizeof(path), "%s/tok.bin", dir);
    write_bytes(path, bytes, size);
    util_free(bytes);
}

/* ---- running the binary ---- */

static char text_dir[256];

static void text_setup(void)
{
    test_dir_make(text_dir, sizeof(text_dir), "infer-text");
    parity_write(text_dir);
    const char *keep = getenv("INFERSIM_PARITY_DIR");
    if (keep != NULL) {
        parity_write(keep);
    }
}

static void text_teardown(void)
{
    test_dir_remove(text_dir);
}

/* Runs "infersim infer DIR/model.bin ARGS" (stdout and stderr to files in
 * the test directory); returns the exit code. */
static int infer_cli(const char *format, ...) __attribute__((format(printf, 1, 2)));

static int infer_cli(const char *format, ...)
{
    char args[2048];
    char command[4096];
    va_list list;
    va_start(list, format);
    vsnprintf(args, sizeof(args), format, list);
    va_end(list);
    snprintf(command, sizeof(command),
             "%s infer '%s/model.bin' --tokenizer '%s/tok.bin' %s >'%s/out.txt' 2>'%s/err.txt'"
             " </dev/null",
             test_infersim_bin(), text_dir, text_dir, args, text_dir, text_dir);
    int status = system(command);
    ck_assert_msg(WIFEXITED(status), "command died: %s", command);
    return WEXITSTATUS(status);
}

static const char *out_text(void)
{
    return test_dir_read(text_dir, "out.txt");
}

static const char *err_text(void)
{
    return test_dir_read(text_dir, "err.txt");
}

/* What run.c printed (stdout: the text line) and the ids its instrumented
 * copy listed, for each case: name, -t, -p, -s, -n, -i. */
typedef struct parity_case {
    const char *name;
    const char *temperature;
    const char *topp;
    const char *seed;
    const char *steps;
    const char *prompt;
    const char *text;
    const char *ids;
} parity_case;

static const parity_case parity_cases[] = {
    {"greedy, a story opening", "0", "0.9", "1", "40", "Once upon a time",
     "Once upon a time$'#end t&ttw%|-:  Onc biVV@inic!tt6atKvd t&\n",
     "ids: 1 391 395 357 399 33 263 196 42 185 195 503 249 498 265 180 410 122 195 40 509 61 235 259 204 179 390 401 89 490 34 326 36 410 9 281 365 302 121 498 265\n"},
    {"greedy, generation ends at BOS", "0", "0.9", "1", "0", "d",
     "d`\n",
     "ids: 1 403 99\n"},
    {"greedy, byte fallback and a whole code point", "0", "0.9", "1", "40", "H\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac, the big dog was little",
     "H\xc3\xa9llo wrld , the big dog was littles[.imiN b!tt time$\" t/!\n",
     "ids: 1 259 299 354 406 338 369 198 185 341 335 327 259 233 154 168 233 159 175 271 360 402 405 384 409 343 379 342 94 49 396 492 36 410 9 182 399 33 263 461 260\n"},
    {"greedy, empty prompt: BOS alone", "0", "0.9", "1", "24", "",
     "| he7@d t&V an*)iXKKKKS!g,AzL wasc!\n",
     "ids: 1 259 127 382 416 498 265 180 473 269 424 91 78 78 78 78 86 36 106 467 419 384 188 326 36\n"},
    {"greedy, steps = seq_len", "0", "0.9", "1", "0", "the dog",
     "the dog hOncreFen bifG an\n</s>\n up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up up\n",
     "ids: 1 360 405 381 203 389 482 501 422 385 2 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394 394\n"},
    {"top-p, ends at BOS", "0.8", "0.9", "42", "0", "Once upon a time",
     "Once upon a timeonhb liO uleW}!onarp& d46ttleHRll he#en>_7`ed \xc3\xa9 was?\n",
     "ids: 1 391 395 357 399 363 331 101 408 82 392 379 211 90 206 128 36 460 156 25 115 265 437 453 309 406 197 382 204 503 289 25 98 225 217 58 182 167 146 99 377 176 452 342 18 66 225\n"},
    {"top-p, non-ASCII prompt", "0.8", "0.9", "42", "60", "\xc3\xa9 w\xc3\xb6rld",
     "\xc3\xa9 wrld \xc3\xa9qcH\n",
     "ids: 1 413 369 198 185 341 335 327 5 425 326 75\n"},
    {"top-p, another seed", "0.8", "0.9", "3", "50", "x y z",
     "x y z}J_zLis$\"ou\"eringl'tes;Oen>\"at7ba\x0bk bi)iWiN b ~# tim,A;,\n",
     "ids: 1 259 347 259 348 259 349 23 205 203 352 178 230 462 419 373 8 263 165 235 37 371 37 227 361 372 111 266 119 489 289 418 447 14 334 246 401 424 90 492 252 35 234 252 427 253 398 467 62 47 252\n"},
    {"plain sampling (topp 1)", "1", "1", "7", "60", "in the",
     "in thein9`\"at-, wa upO doheisl:in t62at7in tar{>xV@`GYUY<unk> an} big\\ttleHVarzL s:Tp o/ d{2at7(ba`Y wa upim;#\n",
     "ids: 1 259 358 360 423 478 48 47 183 210 431 82 185 404 356 373 335 464 57 177 504 446 242 378 161 126 233 289 347 4 242 483 323 298 92 88 316 0 385 421 319 508 485 451 115 370 274 403 135 126 504 160 267 190 9 442 505 431 466 155 38\n"},
};

static void check_parity_case(const parity_case *c, const char *extra)
{
    int code = infer_cli("--prompt '%s' --steps %s --temperature %s --topp %s --seed %s"
                         " --print-ids %s",
                         c->prompt, c->steps, c->temperature, c->topp, c->seed, extra);
    ck_assert_msg(code == 0, "%s: exit %d: %s", c->name, code, err_text());
    char expected[8192];
    snprintf(expected, sizeof(expected), "%s%s", c->text, c->ids);
    ck_assert_msg(strcmp(out_text(), expected) == 0, "%s (%s):\n got: %s\nwant: %s", c->name,
                  extra, out_text(), expected);
    ck_assert_msg(strncmp(err_text(), "achieved tok/s: ", 16) == 0, "%s", err_text());
}

START_TEST(test_infer_text_parity_matches_run_c)
{
    check_parity_case(&parity_cases[_i], "");
}
END_TEST

/* Split into segments with an exact wire, and on either instruction set
 * path, the executor gives run.c's bits all the same. */
START_TEST(test_infer_text_parity_split_segments)
{
    check_parity_case(&parity_cases[_i], "--segments 3 --wire fp32");
    check_parity_case(&parity_cases[_i], "--segments=2 --kernel=sequential");
}
END_TEST

/* The q8 kernel from the command line: it runs and generates, greedily,
 * the whole budget of tokens (its int8 arithmetic need not pick run.c's). */
START_TEST(test_infer_text_q8_kernel_runs)
{
    int code = infer_cli("--prompt 'Once upon a time' --steps 12 --kernel q8 --print-ids");
    ck_assert_msg(code == 0, "exit %d: %s", code, err_text());
    ck_assert_ptr_nonnull(strstr(out_text(), "ids: 1 "));
    ck_assert_msg(strncmp(err_text(), "achieved tok/s: ", 16) == 0, "%s", err_text());
}
END_TEST

/* The generator is deterministic and its tokenizer has the model's vocabulary. */
START_TEST(test_infer_text_parity_files_deterministic)
{
    ck_assert_int_eq(infer_cli("--ids 1 --steps 1"), 0);
    ck_assert_str_eq(out_text(), "\nids: 1 259\n");   /* " " after BOS prints nothing */
    ck_assert_str_eq(err_text(), "");
    static parity_vocab first;
    static parity_vocab second;
    parity_vocab_build(&first);
    parity_vocab_build(&second);
    ck_assert_int_eq(memcmp(&first, &second, sizeof(first)), 0);
    ck_assert_uint_eq(first.count, parity_shape.vocab_size);
}
END_TEST

/* ---- the tokenizer and sampler on their own ---- */

static infer_tokenizer *parity_tokenizer(void)
{
    static parity_vocab vocab;
    parity_vocab_build(&vocab);
    size_t size = 0;
    uint8_t *bytes = parity_tokenizer_bytes(&vocab, &size);
    infer_tokenizer *tokenizer = NULL;
    char why[256];
    ck_assert_int_eq(infer_tokenizer_from_bytes(bytes, size, PARITY_VOCAB, &tokenizer, why,
                                                sizeof(why)), 0);
    util_free(bytes);
    return tokenizer;
}

static void expect_encoding(infer_tokenizer *tokenizer, const char *text, const char *pieces)
{
    uint32_t tokens[128];
    uint32_t count = 0;
    char why[256];
    ck_assert_int_eq(infer_tokenizer_encode(tokenizer, text, tokens, &count, why, sizeof(why)), 0);
    char got[1024] = "";
    for (uint32_t i = 0; i < count; i++) {
        const char *piece = infer_tokenizer_decode(tokenizer, 0, tokens[i]);
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s[%s]", i == 0 ? "" : " ",
                 tokens[i] >= 3 && tokens[i] < 259 ? "byte" : piece);
    }
    ck_assert_str_eq(got, pieces);
}

START_TEST(test_infer_text_encode_rules)
{
    infer_tokenizer *tokenizer = parity_tokenizer();
    /* BOS decodes after a non-BOS as its piece; the space prefix merges. */
    expect_encoding(tokenizer, "Once upon a time", "[\n<s>\n] [ Once] [ upon] [ a] [ time]");
    /* ö and 日 are not pieces: their bytes, 2 and 3 of them; é is one piece. */
    expect_encoding(tokenizer, "\xc3\xb6", "[\n<s>\n] [ ] [byte] [byte]");
    expect_encoding(tokenizer, "\xe6\x97\xa5", "[\n<s>\n] [ ] [byte] [byte] [byte]");
    expect_encoding(tokenizer, "\xc3\xa9", "[\n<s>\n] [ \xc3\xa9]");
    /* Empty text: BOS alone, no dummy prefix. */
    expect_encoding(tokenizer, "", "[\n<s>\n]");
    /* A byte piece decodes to its byte; after BOS a leading space goes. */
    ck_assert_str_eq(infer_tokenizer_decode(tokenizer, 0, 3 + 'A'), "A");
    ck_assert_str_eq(infer_tokenizer_decode(tokenizer, 1, 259), "");
    ck_assert_str_eq(infer_tokenizer_decode(tokenizer, 7, 259), " ");
    ck_assert(!infer_piece_printable(infer_tokenizer_decode(tokenizer, 0, 3 + 0xc3)));
    ck_assert(!infer_piece_printable(infer_tokenizer_decode(tokenizer, 0, 3 + 0x07)));
    ck_assert(infer_piece_printable(infer_tokenizer_decode(tokenizer, 0, 3 + '\n')));
    ck_assert(!infer_piece_printable(""));
    infer_tokenizer_destroy(tokenizer);
}
END_TEST

static void expect_tokenizer_rejected(const uint8_t *bytes, size_t size, uint32_t vocab,
                                      const char *reason)
{
    infer_tokenizer *tokenizer = NULL;
    char why[256] = "";
    int rc = infer_tokenizer_from_bytes(bytes, size, vocab, &tokenizer, why, sizeof(why));
    ck_assert_int_ne(rc, 0);
    ck_assert_ptr_null(tokenizer);
    ck_assert_msg(strstr(why, reason) != NULL, "why '%s' lacks '%s'", why, reason);
}

START_TEST(test_infer_text_tokenizer_rejects_hostile_files)
{
    static parity_vocab vocab;
    parity_vocab_build(&vocab);
    size_t size = 0;
    uint8_t *bytes = parity_tokenizer_bytes(&vocab, &size);
    /* Every truncation, wherever it falls. */
    for (size_t cut = 0; cut < size; cut += 7) {
        expect_tokenizer_rejected(bytes, cut, PARITY_VOCAB, "truncated");
    }
    /* More tokens than the model's vocabulary, and fewer. */
    expect_tokenizer_rejected(bytes, size, PARITY_VOCAB - 1, "more tokens than its vocab_size");
    expect_tokenizer_rejected(bytes, size, PARITY_VOCAB + 1, "truncated");
    /* A piece longer than max_token_length, a negative length, NaN. */
    util_put_u32(bytes, 3);
    expect_tokenizer_rejected(bytes, size, PARITY_VOCAB, "longer than max_token_length");
    util_put_u32(bytes, 0xffffffffu);
    expect_tokenizer_rejected(bytes, size, PARITY_VOCAB, "max_token_length -1");
    util_put_u32(bytes, PARITY_PIECE_MAX);
    util_put_u32(bytes + 4 + 4, 0x80000000u);
    expect_tokenizer_rejected(bytes, size, PARITY_VOCAB, "longer than max_token_length");
    util_put_u32(bytes + 4 + 4, 5);
    util_put_u32(bytes + 4, 0x7fc00000u);
    expect_tokenizer_rejected(bytes, size, PARITY_VOCAB, "non-finite score");
    util_free(bytes);
    /* A one-token vocabulary has no BOS, which every encoding starts with
     * (found by the tokenizer fuzz target: BOS encoded past the vocabulary). */
    static const uint8_t one[] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'x'};
    expect_tokenizer_rejected(one, sizeof(one), 1, "a tokenizer needs BOS");
}
END_TEST

START_TEST(test_infer_text_tokenizer_out_of_memory)
{
    static parity_vocab vocab;
    parity_vocab_build(&vocab);
    size_t size = 0;
    uint8_t *bytes = parity_tokenizer_bytes(&vocab, &size);
    for (unsigned long nth = 1; nth < 8; nth++) {
        infer_tokenizer *tokenizer = NULL;
        util_alloc_fail_after(nth);
        int rc = infer_tokenizer_from_bytes(bytes, size, PARITY_VOCAB, &tokenizer, NULL, 0);
        util_alloc_fail_after(0);
        ck_assert_int_eq(rc, INFER_ENOMEM);
        ck_assert_ptr_null(tokenizer);
    }
    util_free(bytes);
}
END_TEST

/* Greedy is argmax (lowest id on ties); a dominant token takes every coin
 * in both sampling paths; bad options are refused. (The coins themselves
 * are checked against run.c by the parity cases.) */
START_TEST(test_infer_text_sampler_rules)
{
    infer_sampler *sampler = NULL;
    ck_assert_int_eq(infer_sampler_create(4, 0.0f, 0.9f, 42, &sampler), 0);
    float logits[4] = {0.5f, 2.0f, 2.0f, -1.0f};
    ck_assert_uint_eq(infer_sample(sampler, logits), 1);
    infer_sampler_destroy(sampler);
    /* One dominant token: every coin lands on it, top-p or not. */
    for (int topp = 0; topp < 2; topp++) {
        ck_assert_int_eq(infer_sampler_create(4, 1.0f, topp ? 0.5f : 1.0f, 42, &sampler), 0);
        for (int i = 0; i < 20; i++) {
            float sharp[4] = {-50.0f, -50.0f, 50.0f, -50.0f};
            ck_assert_uint_eq(infer_sample(sampler, sharp), 2);
        }
        infer_sampler_destroy(sampler);
    }
    ck_assert_int_eq(infer_sampler_create(4, -1.0f, 0.9f, 42, &sampler), INFER_EINVAL);
    ck_assert_int_eq(infer_sampler_create(4, 1.0f, 1.5f, 42, &sampler), INFER_EINVAL);
    ck_assert_int_eq(infer_sampler_create(4, 1.0f, 0.9f, 0, &sampler), INFER_EINVAL);
    ck_assert_int_eq(infer_sampler_create(4, NAN, 0.9f, 1, &sampler), INFER_EINVAL);
}
END_TEST

/* ---- the command's own contract ---- */

START_TEST(test_infer_text_cli_logits_file)
{
    char path[512];
    test_dir_path(text_dir, "logits.f32", path, sizeof(path));
    ck_assert_int_eq(infer_cli("--ids 1,391,395 --steps 6 --logits '%s'", path), 0);
    const char *out = out_text();
    unsigned ids[7];
    int n = sscanf(out, "%*[^i]ids: %u %u %u %u %u %u %u", &ids[0], &ids[1], &ids[2], &ids[3],
                   &ids[4], &ids[5], &ids[6]);
    ck_assert_int_eq(n, 7);
    FILE *file = fopen(path, "rb");
    ck_assert_ptr_nonnull(file);
    static float rows[6][PARITY_VOCAB];
    ck_assert_uint_eq(fread(rows, sizeof(float), 6 * PARITY_VOCAB + 1, file), 6 * PARITY_VOCAB);
    fclose(file);
    /* Each generated id is the argmax of the row before it. */
    for (int pos = 2; pos < 6; pos++) {
        ck_assert_uint_eq(infer_argmax(rows[pos], PARITY_VOCAB), ids[pos + 1]);
    }
}
END_TEST

START_TEST(test_infer_text_cli_rejects_bad_input)
{
    static const struct {
        const char *args;
        const char *message;
    } cases[] = {
        {"--ids 1 --steps=ten", "--steps: 'ten' is not an integer"},
        {"--ids 1 --temperature -1", "--temperature: '-1' is not a number >= 0"},
        {"--ids 1 --topp 1.5", "--topp: '1.5' is not a number in [0, 1]"},
        {"--ids 1 --seed 0", "--seed: '0' is not an integer >= 1"},
        {"--ids 1 --kernel turbo", "--kernel: unknown value 'turbo'"},
        {"--ids 1 --wire=fp8", "--wire: unknown value 'fp8'"},
        {"--ids 1 --segments 4", "--segments: 4 is more than the model's 3 layers"},
        {"--ids 1,512", "--ids: token 512 is not below vocab_size 512"},
        {"--ids 1,,2", "--ids: '1,,2' is not a comma-separated list"},
        {"--ids 1 --bogus", "unknown option '--bogus'"},
        {"--ids", "--ids needs a value"},
        {"--prompt a --ids 1", "exactly one of --prompt TEXT and --ids LIST"},
        {"--ids 1 -- --steps", "one CHECKPOINT expected, got 2 arguments"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(infer_cli("%s", cases[i].args), 2);
        const char *err = err_text();
        ck_assert_msg(strstr(err, cases[i].message) != NULL, "%s: %s", cases[i].args, err);
        ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
        ck_assert_str_eq(out_text(), "");
    }
}
END_TEST

/* A truncated or mismatched tokenizer is 'file: message', exit 2. */
START_TEST(test_infer_text_cli_rejects_bad_files)
{
    char path[512];
    char command[2048];
    test_dir_path(text_dir, "tok.bin", path, sizeof(path));
    snprintf(command, sizeof(command), "truncate -s 100 '%s'", path);
    ck_assert_int_eq(system(command), 0);
    ck_assert_int_eq(infer_cli("--prompt hello"), 2);
    ck_assert_msg(strstr(err_text(), "tok.bin: truncated: token") != NULL, "%s", err_text());
    test_dir_path(text_dir, "model.bin", path, sizeof(path));
    snprintf(command, sizeof(command), "truncate -s 1000 '%s'", path);
    ck_assert_int_eq(system(command), 0);
    ck_assert_int_eq(infer_cli("--ids 1"), 2);
    ck_assert_msg(strstr(err_text(), "model.bin: ") != NULL, "%s", err_text());
    /* --prompt without a tokenizer is refused before any file is read. */
    snprintf(command, sizeof(command), "%s infer '%s' --prompt hi 2>'%s/err.txt'",
             test_infersim_bin(), path, text_dir);
    ck_assert_int_eq(WEXITSTATUS(system(command)), 2);
    ck_assert_msg(strstr(err_text(), "--prompt needs --tokenizer") != NULL, "%s", err_text());
}
END_TEST

/* ---- text prompts in a scenario ---- */

static const char text_scenario[] =
    "name: text_prompts\n"
    "seed: 3\n"
    "duration: 20s\n"
    "network: {latency: {model: constant, value: 5ms}}\n"
    "nodes:\n"
    "  count: 12\n"
    "  classes:\n"
    "    - {name: gpu, fraction: 1, memory: 24GiB, flops: 50TFLOPS, kernel: sequential}\n"
    "model: {file: model.bin, tokenizer: tok.bin, segments: 3}\n"
    "workload: {requests: 8, rate: 10/s, prompts: %s, generate: 12}\n";

/* Runs the scenario with 'prompts' into DIR/text.db; returns the exit code. */
static int text_run(const char *prompts, const char *extra)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml), text_scenario, prompts);
    test_dir_write(text_dir, "text.yaml", yaml);
    char command[2048];
    snprintf(command, sizeof(command),
             "%s run '%s/text.yaml' --db '%s/text.db' --quiet %s >'%s/out.txt' 2>'%s/err.txt'",
             test_infersim_bin(), text_dir, text_dir, extra, text_dir, text_dir);
    int status = system(command);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* The rows of 'sql' as text, '|' between fields, one line per row. */
static const char *text_query(const char *sql)
{
    static char text[8192];
    char path[512];
    sqlite3 *db = NULL;
    sqlite3_stmt *statement = NULL;
    test_dir_path(text_dir, "text.db", path, sizeof(path));
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &statement, NULL), SQLITE_OK);
    text[0] = '\0';
    while (sqlite3_step(statement) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(statement); c++) {
            const unsigned char *value = sqlite3_column_text(statement, c);
            snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s", c == 0 ? "" : "|",
                     value != NULL ? (const char *)value : "NULL");
        }
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "\n");
    }
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return text;
}

/* Requests draw the scenario's text prompts; each row keeps what the
 * network answered, which with the reference kernel and an exact wire is
 * what run.c generated for the same prompt (the parity cases above). */
START_TEST(test_infer_text_scenario_prompts_stored)
{
    ck_assert_msg(text_run("[\"Once upon a time\", \"d\"]", "") == 0, "%s", err_text());
    const char *rows = text_query(
        "SELECT DISTINCT prompt_text, output_ids, output_text, prompt_tokens, reference_match"
        " FROM requests WHERE run_id = 1 AND status = 'completed' ORDER BY prompt_text");
    /* run.c's ids after the prompt: parity_cases[0] and [1] (which stopped
     * at BOS; the network generates on, BOS and all). */
    ck_assert_msg(strstr(rows, "Once upon a time|33 263 196 42 185 195 503 249 498 265 180 410|"
                               "$'#end t&tt|5|1\n") != NULL, "%s", rows);
    ck_assert_msg(strstr(rows, "\nd|99 1 259 16 ") != NULL, "%s", rows);
    ck_assert_str_eq(text_query("SELECT count(*) FROM requests WHERE run_id = 1"
                                " AND output_ids IS NULL"), "0\n");
    ck_assert_str_eq(text_query("SELECT value FROM params WHERE run_id = 1"
                                " AND key = 'workload.prompts'"),
                     "[\"Once upon a time\", \"d\"]\n");
    /* A prompts file; the same seed draws the same prompts. */
    test_dir_write(text_dir, "prompts.txt", "Once upon a time\r\n\nd\n");
    ck_assert_msg(text_run("prompts.txt", "") == 0, "%s", err_text());
    ck_assert_str_eq(text_query("SELECT group_concat(prompt_text, ',') FROM requests"
                                " GROUP BY run_id ORDER BY run_id"),
                     text_query("SELECT group_concat(prompt_text, ',') FROM requests"
                                " WHERE run_id = 1"));
}
END_TEST

START_TEST(test_infer_text_scenario_rejects)
{
    char path[512];
    ck_assert_int_eq(text_run("[\"a\", [\"b\"]]", ""), 2);
    ck_assert_msg(strstr(err_text(), "text.yaml:10:") != NULL &&
                  strstr(err_text(), "workload.prompts.1 must be a string") != NULL,
                  "%s", err_text());
    ck_assert_int_eq(text_run("[]", ""), 2);
    ck_assert_msg(strstr(err_text(), "workload.prompts holds no prompt") != NULL, "%s", err_text());
    ck_assert_int_eq(text_run("missing.txt", ""), 2);
    ck_assert_msg(strstr(err_text(), "cannot open 'missing.txt'") != NULL, "%s", err_text());
    ck_assert_int_eq(text_run("[a]", "--set workload.prompt_tokens=4"), 2);
    ck_assert_msg(strstr(err_text(), "cannot be set with workload.prompts") != NULL, "%s",
                  err_text());
    test_dir_path(text_dir, "tok.bin", path, sizeof(path));
    char command[1024];
    snprintf(command, sizeof(command), "truncate -s 2000 '%s'", path);
    ck_assert_int_eq(system(command), 0);
    ck_assert_int_eq(text_run("[a]", ""), 2);
    ck_assert_msg(strstr(err_text(), "text.yaml:9:") != NULL &&
                  strstr(err_text(), "model.tokenizer 'tok.bin': token ") != NULL &&
                  strstr(err_text(), "truncated") != NULL,
                  "%s", err_text());
}
END_TEST

/* ---- the int8 export ---- */

static uint8_t *q8_bytes_of_parity(size_t *size, infer_model **model_out)
{
    infer_model *model = NULL;
    char why[256];
    ck_assert_int_eq(infer_model_from_seed(&parity_shape, 4242, &model, why, sizeof(why)), 0);
    uint8_t *bytes = NULL;
    ck_assert_int_eq(infer_model_to_q8_checkpoint(model, 32, &bytes, size), 0);
    *model_out = model;
    return bytes;
}

static double q8_cosine(const float *a, const float *b, size_t n)
{
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

/* Logits of 'model' for tokens 1, 391, 395 (the last position). */
static void q8_logits(const infer_model *model, float *logits)
{
    infer_executor *executor = NULL;
    ck_assert_int_eq(infer_executor_create(model, 3, &executor), 0);
    const infer_shape *shape = infer_model_shape(model);
    void *memory = util_malloc(infer_kv_bytes(shape, shape->n_layers));
    infer_kv kv;
    infer_kv_init(&kv, shape, 0, shape->n_layers, memory);
    float x[3 * 64];
    const uint32_t tokens[3] = {1, 391, 395};
    uint64_t flops = 0;
    ck_assert_int_eq(infer_embed(executor, tokens, 3, x), 0);
    ck_assert_int_eq(infer_forward(executor, INFER_KERNEL_SEQUENTIAL, &kv, x, 3, &flops), 0);
    infer_logits(executor, INFER_KERNEL_SEQUENTIAL, x + 2 * 64, logits, &flops);
    util_free(memory);
    infer_executor_destroy(executor);
}

/* The int8 export loads, is the same shape, and computes close to the
 * float32 model it was quantized from (the int8 rounding is the only
 * difference); quantizing is deterministic. */
START_TEST(test_infer_text_q8_round_trip)
{
    size_t size = 0;
    infer_model *original = NULL;
    uint8_t *bytes = q8_bytes_of_parity(&size, &original);
    infer_model *model = NULL;
    char why[256] = "";
    ck_assert(infer_checkpoint_is_q8(bytes, size));
    ck_assert_msg(infer_model_from_q8_checkpoint(bytes, size, &model, why, sizeof(why)) == 0,
                  "%s", why);
    const infer_shape *shape = infer_model_shape(model);
    ck_assert_uint_eq(shape->dim, parity_shape.dim);
    ck_assert_uint_eq(shape->hidden_dim, parity_shape.hidden_dim);
    ck_assert_uint_eq(shape->n_kv_heads, parity_shape.n_kv_heads);
    ck_assert_uint_eq(shape->vocab_size, parity_shape.vocab_size);
    ck_assert(shape->shared_classifier == parity_shape.shared_classifier);
    static float a[PARITY_VOCAB], b[PARITY_VOCAB];
    q8_logits(original, a);
    q8_logits(model, b);
    double cosine = q8_cosine(a, b, PARITY_VOCAB);
    ck_assert_msg(cosine > 0.999 && cosine < 1.0, "cosine %.9f", cosine);
    size_t again_size = 0;
    uint8_t *again = NULL;
    ck_assert_int_eq(infer_model_to_q8_checkpoint(original, 32, &again, &again_size), 0);
    ck_assert_uint_eq(again_size, size);
    ck_assert_int_eq(memcmp(again, bytes, size), 0);
    ck_assert_int_eq(infer_model_to_q8_checkpoint(original, 48, &again, &again_size),
                     INFER_EINVAL);
    util_free(again);
    infer_model_destroy(model);
    infer_model_destroy(original);
    util_free(bytes);
}
END_TEST

static void q8_expect_rejected(const uint8_t *bytes, size_t size, const char *reason)
{
    infer_model *model = NULL;
    char why[256] = "";
    ck_assert_int_eq(infer_model_from_q8_checkpoint(bytes, size, &model, why, sizeof(why)),
                     INFER_EFORMAT);
    ck_assert_ptr_null(model);
    ck_assert_msg(strstr(why, reason) != NULL, "why '%s' lacks '%s'", why, reason);
}

START_TEST(test_infer_text_q8_rejects_bad_files)
{
    size_t size = 0;
    infer_model *original = NULL;
    uint8_t *bytes = q8_bytes_of_parity(&size, &original);
    infer_model_destroy(original);
    static const struct {
        size_t offset;
        uint32_t value;
        const char *reason;
    } fields[] = {
        {0, 0x616b3433u, "bad magic"},
        {4, 1, "version is not 2"},
        {8, 0, "zero or negative"},                   /* dim */
        {8 + 4 * 3, 6, "dim is not a multiple"},      /* n_heads 6 */
        {8 + 4 * 5, 511, "implies"},                  /* vocab, size no longer matches */
        {37, 0, "group_size"},
        {37, 48, "group_size"},
        {100, 7, "padding"},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        uint8_t saved[4];
        memcpy(saved, bytes + fields[i].offset, 4);
        util_put_u32(bytes + fields[i].offset, fields[i].value);
        q8_expect_rejected(bytes, size, fields[i].reason);
        memcpy(bytes + fields[i].offset, saved, 4);
    }
    bytes[36] = 2;
    q8_expect_rejected(bytes, size, "shared_classifier flag");
    bytes[36] = 1;      /* shared: the classifier's bytes are left over */
    q8_expect_rejected(bytes, size, "implies");
    bytes[36] = 0;
    q8_expect_rejected(bytes, size - 1, "implies");
    q8_expect_rejected(bytes, 100, "shorter than its 256-byte header");
    /* The first scale: right after the norms and the embedding's values. */
    size_t scale = 256 + 4 * (2 * 3 * 64 + 64) + PARITY_VOCAB * 64;
    util_put_u32(bytes + scale, 0x7fc00000u);
    q8_expect_rejected(bytes, size, "is not finite or overflows");
    util_put_u32(bytes + scale, 0x7f000000u);      /* 1.7e38: 127 x it overflows */
    q8_expect_rejected(bytes, size, "is not finite or overflows");
    util_free(bytes);
}
END_TEST

START_TEST(test_infer_text_q8_cli)
{
    size_t size = 0;
    infer_model *original = NULL;
    uint8_t *bytes = q8_bytes_of_parity(&size, &original);
    infer_model_destroy(original);
    char path[512];
    test_dir_path(text_dir, "model.bin", path, sizeof(path));
    write_bytes(path, bytes, size);
    util_free(bytes);
    ck_assert_msg(infer_cli("--prompt 'Once upon a time' --steps 12 --print-ids") == 0, "%s",
                  err_text());
    ck_assert_msg(strncmp(out_text(), "Once upon a time", 16) == 0, "%s", out_text());
    ck_assert_msg(strstr(out_text(), "ids: 1 391 395 357 399 ") != NULL, "%s", out_text());
    test_dir_path(text_dir, "model.bin", path, sizeof(path));
    char command[1024];
    snprintf(command, sizeof(command), "truncate -s 300 '%s'", path);
    ck_assert_int_eq(system(command), 0);
    ck_assert_int_eq(infer_cli("--ids 1"), 2);
    ck_assert_msg(strstr(err_text(), "model.bin: int8 checkpoint: 300 bytes, its header implies")
                  != NULL, "%s", err_text());
}
END_TEST

Suite *test_infer_text_suite(void)
{
    Suite *suite = suite_create("infer_text");
    TCase *parity = tcase_create("parity");
    tcase_add_checked_fixture(parity, text_setup, text_teardown);
    tcase_set_timeout(parity, 60);
    tcase_add_test(parity, test_infer_text_parity_files_deterministic);
    tcase_add_loop_test(parity, test_infer_text_parity_matches_run_c, 0,
                        (int)(sizeof(parity_cases) / sizeof(parity_cases[0])));
    tcase_add_loop_test(parity, test_infer_text_parity_split_segments, 0, 3);
    tcase_add_test(parity, test_infer_text_q8_kernel_runs);
    suite_add_tcase(suite, parity);
    TCase *text = tcase_create("text");
    tcase_add_test(text, test_infer_text_encode_rules);
    tcase_add_test(text, test_infer_text_tokenizer_rejects_hostile_files);
    tcase_add_test(text, test_infer_text_tokenizer_out_of_memory);
    tcase_add_test(text, test_infer_text_sampler_rules);
    tcase_add_test(text, test_infer_text_q8_round_trip);
    tcase_add_test(text, test_infer_text_q8_rejects_bad_files);
    suite_add_tcase(suite, text);
    TCase *cli = tcase_create("cli");
    tcase_add_checked_fixture(cli, text_setup, text_teardown);
    tcase_set_timeout(cli, 60);
    tcase_add_test(cli, test_infer_text_cli_logits_file);
    tcase_add_test(cli, test_infer_text_cli_rejects_bad_input);
    tcase_add_test(cli, test_infer_text_cli_rejects_bad_files);
    tcase_add_test(cli, test_infer_text_scenario_prompts_stored);
    tcase_add_test(cli, test_infer_text_scenario_rejects);
    tcase_add_test(cli, test_infer_text_q8_cli);
    suite_add_tcase(suite, cli);
    return suite;
}
