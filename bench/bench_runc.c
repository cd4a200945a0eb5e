/* bench_runc.c -- `infersim infer` beside llama2.c's run.c on the same
 * machine, checkpoint and prompt.
 *
 * run.c is found at $INFERSIM_RUNC, else at ../llama2.c/run.c (a clone of
 * llama2.c beside the checkout); it is compiled with $CC (default cc) at
 * -O3, as llama2.c's Makefile `run` target does, into a temporary
 * directory. There a stories15M-shaped checkpoint (seeded weights, written
 * by infer_model_to_checkpoint) and a 32000-piece tokenizer are written;
 * both programs generate greedily from the same prompt for 128 positions,
 * three times each, interleaved, and the best "achieved tok/s"
 * each printed (run.c's own measure, which `infersim infer` copies) is
 * reported with the ratio infersim / run.c. Their texts must be the same:
 * the executor's sequential kernel is run.c's arithmetic, so a difference
 * is printed as a MISMATCH.
 *
 * Without run.c (or when it does not compile) the executor's figure is
 * printed beside the one stored by the previous run, in bench-infer.last
 * beside the infersim binary. Wall clocks and processes are fine here:
 * bench/ is not simulation code. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_runc.h"
#include "node/infer.h"
#include "util/alloc.h"
#include "util/bytes.h"

#define BENCH_RUNC_DEFAULT "../llama2.c/run.c"
#define BENCH_RUNC_SEED 0x1f3ULL
#define BENCH_RUNC_REPEATS 3
#define BENCH_RUNC_PROMPT "Once upon a time"
#define BENCH_RUNC_STEPS "128"
#define BENCH_RUNC_VOCAB 32000u
#define BENCH_RUNC_PATH 512
#define BENCH_RUNC_BUILDS 2
#define BENCH_RUNC_HEADER_BYTES 28u   /* llama2.c: 7 int32, then the embedding */
#define BENCH_RUNC_EMBEDDING_SCALE (1.0f / 128.0f)

/* llama2.c's Makefile targets: `run` (-O3, the reference's arithmetic,
 * which the sequential kernel reproduces bit for bit) and `runfast`
 * (-Ofast: sums reordered, so its text need not match). */
static const struct {
    const char *flag;
    const char *target;
} bench_runc_builds[BENCH_RUNC_BUILDS] = {{"-O3", "run"}, {"-Ofast", "runfast"}};

extern char **environ;

typedef struct bench_runc_files {
    char dir[BENCH_RUNC_PATH - 32];   /* room for the names below */
    char model[BENCH_RUNC_PATH];
    char tokenizer[BENCH_RUNC_PATH];
    char run[BENCH_RUNC_BUILDS][BENCH_RUNC_PATH];   /* run.c compiled, per build */
    char out[BENCH_RUNC_PATH];        /* stdout of the last program run */
    char err[BENCH_RUNC_PATH];
} bench_runc_files;

static const char *bench_runc_bin(void)
{
    const char *bin = getenv("INFERSIM_BIN");
    return bin != NULL && bin[0] != '\0' ? bin : "build/infersim";
}

/* Runs argv[0] (looked up on PATH) with stdout and stderr to files;
 * returns its exit status, or -1 when it could not run or was killed. */
static int bench_runc_spawn(char *const argv[], const char *out_path, const char *err_path)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The whole file, NUL-terminated (util_malloc'd), or NULL. */
static char *bench_runc_slurp(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return NULL;
    }
    size_t cap = 4096;
    size_t size = 0;
    char *text = util_malloc(cap);
    while (text != NULL) {
        size += fread(text + size, 1, cap - size - 1, file);
        if (size < cap - 1) {
            break;
        }
        char *bigger = util_realloc(text, cap * 2);
        if (bigger == NULL) {
            util_free(text);
        }
        text = bigger;
        cap *= 2;
    }
    fclose(file);
    if (text != NULL) {
        text[size] = '\0';
    }
    return text;
}

static int bench_runc_write(const char *path, const uint8_t *bytes, size_t size)
{
    FILE *file = fopen(path, "wb");
    if (file == NULL) {
        return -1;
    }
    size_t written = fwrite(bytes, 1, size, file);
    return fclose(file) == 0 && written == size ? 0 : -1;
}

/* llama2.c's layout: <unk>, BOS, EOS, the 256 byte pieces, " ", printable
 * ASCII, then every lowercase pair, " " and a letter, " " and a pair, every
 * lowercase triple and " " with a triple until 32000 pieces; earlier pieces
 * score higher. Each piece is the concatenation of two earlier ones. */
static int bench_runc_tokenizer(const char *path)
{
    static char arena[BENCH_RUNC_VOCAB][8];
    static const char *pieces[BENCH_RUNC_VOCAB];
    static float scores[BENCH_RUNC_VOCAB];
    uint32_t n = 0;
    snprintf(arena[n++], 8, "<unk>");
    snprintf(arena[n++], 8, "\n<s>\n");
    snprintf(arena[n++], 8, "\n</s>\n");
    for (int b = 0; b < 256; b++) {
        snprintf(arena[n++], 8, "<0x%02X>", b);
    }
    for (int c = ' '; c < 127; c++) {
        snprintf(arena[n++], 8, "%c", c);
    }
    for (int i = 0; i < 26 * 26; i++) {
        snprintf(arena[n++], 8, "%c%c", 'a' + i / 26, 'a' + i % 26);
    }
    for (int i = 0; i < 26; i++) {
        snprintf(arena[n++], 8, " %c", 'a' + i);
    }
    for (int i = 0; i < 26 * 26; i++) {
        snprintf(arena[n++], 8, " %c%c", 'a' + i / 26, 'a' + i % 26);
    }
    for (int i = 0; i < 26 * 26 * 26; i++) {
        snprintf(arena[n++], 8, "%c%c%c", 'a' + i / 676, 'a' + i / 26 % 26, 'a' + i % 26);
    }
    for (int i = 0; n < BENCH_RUNC_VOCAB; i++) {
        snprintf(arena[n++], 8, " %c%c%c", 'a' + i / 676, 'a' + i / 26 % 26, 'a' + i % 26);
    }
    for (uint32_t i = 0; i < n; i++) {
        pieces[i] = arena[i];
        scores[i] = i < 3 + 256 ? 0.0f : -(float)i / 1000.0f;
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (infer_tokenizer_to_bytes(pieces, scores, n, &bytes, &size) != 0) {
        return -1;
    }
    int rc = bench_runc_write(path, bytes, size);
    util_free(bytes);
    return rc;
}

/* Scales the token embedding (also the classifier) by a power of two, in
 * the checkpoint's bytes: with seeded weights at full scale each token's
 * own embedding dominates the residual stream and greedy decoding repeats
 * one token, which hides a real difference; scaled down, the layers steer
 * the text and a wrong norm or attention changes it. */
static void bench_runc_scale_embedding(uint8_t *bytes, const infer_shape *shape)
{
    uint8_t *p = bytes + BENCH_RUNC_HEADER_BYTES;
    for (size_t i = 0; i < (size_t)shape->vocab_size * shape->dim; i++, p += 4) {
        uint32_t bits = util_get_u32(p);
        float value;
        memcpy(&value, &bits, sizeof(value));
        value *= BENCH_RUNC_EMBEDDING_SCALE;
        memcpy(&bits, &value, sizeof(bits));
        util_put_u32(p, bits);
    }
}

static int bench_runc_checkpoint(const char *path)
{
    static const infer_shape stories15m = {
        .dim = 288, .hidden_dim = 768, .n_layers = 6, .n_heads = 6, .n_kv_heads = 6,
        .vocab_size = BENCH_RUNC_VOCAB, .seq_len = 256, .shared_classifier = true,
    };
    infer_model *model = NULL;
    char why[128];
    if (infer_model_from_seed(&stories15m, BENCH_RUNC_SEED, &model, why, sizeof(why)) != 0) {
        return -1;
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    int rc = infer_model_to_checkpoint(model, &bytes, &size);
    infer_model_destroy(model);
    if (rc == 0) {
        bench_runc_scale_embedding(bytes, &stories15m);
        rc = bench_runc_write(path, bytes, size);
        util_free(bytes);
    }
    return rc;
}

static int bench_runc_files_make(bench_runc_files *f)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/infersim-runc-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    snprintf(f->model, sizeof(f->model), "%s/model.bin", f->dir);
    snprintf(f->tokenizer, sizeof(f->tokenizer), "%s/tokenizer.bin", f->dir);
    for (int b = 0; b < BENCH_RUNC_BUILDS; b++) {
        snprintf(f->run[b], sizeof(f->run[b]), "%s/%s", f->dir, bench_runc_builds[b].target);
    }
    snprintf(f->out, sizeof(f->out), "%s/out.txt", f->dir);
    snprintf(f->err, sizeof(f->err), "%s/err.txt", f->dir);
    if (bench_runc_checkpoint(f->model) != 0 || bench_runc_tokenizer(f->tokenizer) != 0) {
        return -1;
    }
    return 0;
}

static void bench_runc_files_remove(const bench_runc_files *f)
{
    const char *const paths[] = {f->model, f->tokenizer, f->run[0], f->run[1], f->out, f->err};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        unlink(paths[i]);
    }
    rmdir(f->dir);
}

/* Compiles run.c as llama2.c's Makefile target 'build' does. Returns 0
 * or -1 (printed). */
static int bench_runc_compile(bench_runc_files *f, const char *source, int build)
{
    const char *cc = getenv("CC");
    char *const argv[] = {(char *)(cc != NULL && cc[0] != '\0' ? cc : "cc"),
                          (char *)bench_runc_builds[build].flag, "-o", f->run[build],
                          (char *)source, "-lm", NULL};
    if (bench_runc_spawn(argv, f->out, f->err) != 0) {
        char *err = bench_runc_slurp(f->err);
        printf("infer vs run.c  %s did not compile with %s %s: %.300s\n", source, argv[0],
               argv[1], err != NULL ? err : "");
        util_free(err);
        return -1;
    }
    return 0;
}

/* Runs one program; returns its "achieved tok/s" (0 when it failed) and
 * its stdout in *text (util_malloc'd). */
static double bench_runc_generate(const bench_runc_files *f, char *const argv[], char **text)
{
    *text = NULL;
    if (bench_runc_spawn(argv, f->out, f->err) != 0) {
        char *err = bench_runc_slurp(f->err);
        printf("infer vs run.c  %s failed: %.300s\n", argv[0], err != NULL ? err : "");
        util_free(err);
        return 0.0;
    }
    *text = bench_runc_slurp(f->out);
    char *err = bench_runc_slurp(f->err);
    const char *line = err != NULL ? strstr(err, "achieved tok/s: ") : NULL;
    double rate = line != NULL ? strtod(line + 16, NULL) : 0.0;
    util_free(err);
    return rate;
}

/* bench-infer.last beside the infersim binary. */
static void bench_runc_last_path(char *path, size_t size)
{
    const char *bin = bench_runc_bin();
    const char *slash = strrchr(bin, '/');
    int dir_length = slash != NULL ? (int)(slash - bin) : 1;
    snprintf(path, size, "%.*s/bench-infer.last", dir_length, slash != NULL ? bin : ".");
}

/* The executor's tok/s stored by the previous run (0 when none), then
 * 'rate' stored in its place. */
static double bench_runc_last_swap(double rate)
{
    char path[BENCH_RUNC_PATH];
    bench_runc_last_path(path, sizeof(path));
    char *text = bench_runc_slurp(path);
    double previous = text != NULL ? strtod(text, NULL) : 0.0;
    util_free(text);
    FILE *file = fopen(path, "w");
    if (file != NULL) {
        fprintf(file, "%.3f\n", rate);
        fclose(file);
    }
    return previous;
}

/* One build's figures over the repeats. */
typedef struct bench_runc_result {
    bool ready;                /* compiled */
    double best;               /* tok/s */
    bool differ;               /* its text was not the executor's */
} bench_runc_result;

/* Runs run.c's ready builds and the executor, in turn, BENCH_RUNC_REPEATS
 * times; keeps each best tok/s and compares the texts of each round.
 * Returns the executor's best tok/s. */
static double bench_runc_rounds(const bench_runc_files *f, bench_runc_result *results)
{
    char *const infersim_argv[] = {(char *)bench_runc_bin(), "infer", (char *)f->model,
                                   "--tokenizer", (char *)f->tokenizer, "--prompt",
                                   BENCH_RUNC_PROMPT, "--steps", BENCH_RUNC_STEPS,
                                   "--temperature", "0", NULL};
    double best_infersim = 0.0;
    for (int rep = 0; rep < BENCH_RUNC_REPEATS; rep++) {
        char *texts[BENCH_RUNC_BUILDS] = {NULL};
        for (int b = 0; b < BENCH_RUNC_BUILDS; b++) {
            char *const runc_argv[] = {(char *)f->run[b], (char *)f->model, "-z",
                                       (char *)f->tokenizer, "-n", BENCH_RUNC_STEPS, "-t",
                                       "0", "-i", BENCH_RUNC_PROMPT, NULL};
            if (results[b].ready) {
                double rate = bench_runc_generate(f, runc_argv, &texts[b]);
                results[b].best = rate > results[b].best ? rate : results[b].best;
            }
        }
        char *text = NULL;
        double rate = bench_runc_generate(f, infersim_argv, &text);
        best_infersim = rate > best_infersim ? rate : best_infersim;
        for (int b = 0; b < BENCH_RUNC_BUILDS; b++) {
            bool same = texts[b] != NULL && text != NULL && strcmp(texts[b], text) == 0;
            if (results[b].ready && !same && b == 0 && !results[b].differ) {
                printf("infer vs run.c  MISMATCH: greedy tokens of run.c -O3 and infersim "
                       "differ\n  run.c:    %.200s\n  infersim: %.200s\n",
                       texts[b] != NULL ? texts[b] : "(none)", text != NULL ? text : "(none)");
            }
            results[b].differ |= results[b].ready && !same;
            util_free(texts[b]);
        }
        util_free(text);
    }
    return best_infersim;
}

static void bench_runc_print(const bench_runc_result *results, double infersim)
{
    printf("infer vs run.c  stories15M shape, greedy, %s positions, best of %d interleaved: "
           "infersim tok/s=%.1f\n", BENCH_RUNC_STEPS, BENCH_RUNC_REPEATS, infersim);
    for (int b = 0; b < BENCH_RUNC_BUILDS; b++) {
        if (!results[b].ready) {
            continue;
        }
        const char *tokens = !results[b].differ ? "tokens identical"
                             : b == 0           ? "tokens DIFFER (MISMATCH)"
                                                : "tokens differ (allowed: -Ofast reorders sums)";
        printf("infer vs run.c  run.c %-6s (make %-7s) tok/s=%.1f ratio=%.2f (infersim/run.c)  "
               "%s\n", bench_runc_builds[b].flag, bench_runc_builds[b].target, results[b].best,
               results[b].best > 0.0 ? infersim / results[b].best : 0.0, tokens);
    }
}

static void bench_runc_print_previous(double rate, double previous)
{
    char path[BENCH_RUNC_PATH];
    bench_runc_last_path(path, sizeof(path));
    if (previous > 0.0) {
        printf("infer vs previous  stories15M shape, greedy, %s positions, best of %d: "
               "infersim tok/s=%.1f previous=%.1f ratio=%.2f (now/previous)  (no run.c to "
               "compare with; the previous run's figure, from %s)\n",
               BENCH_RUNC_STEPS, BENCH_RUNC_REPEATS, rate, previous, rate / previous, path);
    } else {
        printf("infer vs previous  stories15M shape, greedy, %s positions, best of %d: "
               "infersim tok/s=%.1f  (no run.c to compare with and no previous figure; "
               "stored in %s for the next run)\n",
               BENCH_RUNC_STEPS, BENCH_RUNC_REPEATS, rate, path);
    }
}

void bench_runc_run(void)
{
    const char *source = getenv("INFERSIM_RUNC");
    source = source != NULL && source[0] != '\0' ? source : BENCH_RUNC_DEFAULT;
    bench_runc_files files;
    memset(&files, 0, sizeof(files));
    if (bench_runc_files_make(&files) != 0) {
        printf("infer vs run.c  cannot write the checkpoint and tokenizer in %s: skipped\n",
               files.dir);
        bench_runc_files_remove(&files);
        return;
    }
    struct stat info;
    bool present = stat(source, &info) == 0 && S_ISREG(info.st_mode);
    if (!present) {
        printf("infer vs run.c  no run.c at %s (set INFERSIM_RUNC=/path/to/run.c)\n", source);
    }
    bench_runc_result results[BENCH_RUNC_BUILDS];
    memset(results, 0, sizeof(results));
    for (int b = 0; b < BENCH_RUNC_BUILDS && present; b++) {
        results[b].ready = bench_runc_compile(&files, source, b) == 0;
    }
    double rate = bench_runc_rounds(&files, results);
    double previous = bench_runc_last_swap(rate);
    if (results[0].ready) {
        bench_runc_print(results, rate);
    } else {
        bench_runc_print_previous(rate, previous);
    }
    bench_runc_files_remove(&files);
}
