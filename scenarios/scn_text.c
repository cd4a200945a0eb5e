/* scn_text.c -- text in an inference scenario: model.tokenizer (a llama2.c
 * tokenizer.bin) and workload.prompts (a file with one prompt per line, or
 * an inline list of strings). The tokenizer is checked here, structurally,
 * against the model's vocabulary, so that encoding a prompt later (node/,
 * in the world) cannot fail: every length within the file and within
 * max_token_length, finite scores, exactly vocab tokens, a " " piece for
 * the dummy prefix, and room for the 256 byte-fallback ids. Prompt lengths
 * in tokens are bounded by their bytes + 2 (BOS and the dummy prefix), so
 * buffers sized from workload.prompt_tokens are always large enough. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scenarios/scn_int.h"
#include "util/alloc.h"
#include "util/file.h"

#define TEXT_PIECE_BYTES_MAX 65536u
#define TEXT_TOKENIZER_BYTES_MAX (256u << 20)

/* 'written' resolved against the folder of the scenario file into out. */
static int text_resolve(scn_check *check, const scn_node *node, const char *path, char *out)
{
    const char *source = check->scenario->source_path;
    const char *slash = strrchr(source, '/');
    int folder = node->text[0] == '/' || slash == NULL ? 0 : (int)(slash - source + 1);
    int n = snprintf(out, SCN_PATH_MAX, "%.*s%s", folder, source, node->text);
    if (n < 0 || n >= SCN_PATH_MAX) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "%s: the resolved path is too long (at most %d bytes)", path,
                         SCN_PATH_MAX - 1);
    }
    return 0;
}

/* Reads a whole regular file (at most 'limit' bytes) into *bytes_out
 * (util_malloc'd). */
static int text_read(scn_check *check, const scn_node *node, const char *file, size_t limit,
                     uint8_t **bytes_out, size_t *size_out)
{
    FILE *stream = fopen(file, "rb");
    if (stream == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "cannot open '%.200s': %s", node->text,
                         strerror(errno));
    }
    uint8_t *bytes = util_malloc(limit + 1);
    size_t size = bytes != NULL ? fread(bytes, 1, limit + 1, stream) : 0;
    int failed = ferror(stream);
    fclose(stream);
    if (bytes == NULL) {
        return scn__fail(check->error, SCN_ENOMEM, node, "out of memory reading '%.200s'",
                         node->text);
    }
    if (failed || size > limit) {
        util_free(bytes);
        return scn__fail(check->error, SCN_ESCHEMA, node, "'%.200s' %s", node->text,
                         failed ? "cannot be read" : "is too large");
    }
    *bytes_out = bytes;
    *size_out = size;
    return 0;
}

static uint32_t text_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The structure of tokenizer.bin for 'vocab' tokens; NULL when sound, else
 * a reason in why[]. *space_out tells whether a " " piece exists. */
static const char *text_tokenizer_walk(const uint8_t *bytes, size_t size, uint32_t vocab,
                                       bool *space_out, char *why, size_t why_size)
{
    if (size < 4) {
        return "truncated: no max_token_length";
    }
    uint32_t max_length = text_u32(bytes);
    if (max_length < 1 || max_length > TEXT_PIECE_BYTES_MAX) {
        snprintf(why, why_size, "max_token_length %d out of range 1..%u", (int32_t)max_length,
                 TEXT_PIECE_BYTES_MAX);
        return why;
    }
    size_t at = 4;
    for (uint32_t i = 0; i < vocab; i++) {
        if (size - at < 8) {
            snprintf(why, why_size, "truncated at token %u of the model's %u", i, vocab);
            return why;
        }
        uint32_t bits = text_u32(bytes + at);
        float score;
        memcpy(&score, &bits, sizeof(score));
        uint32_t length = text_u32(bytes + at + 4);
        at += 8;
        if (!isfinite(score) || length > max_length || size - at < length) {
            snprintf(why, why_size, "token %u: %s", i,
                     !isfinite(score)        ? "non-finite score"
                     : length > max_length ? "longer than max_token_length"
                                           : "truncated");
            return why;
        }
        *space_out = *space_out || (length == 1 && bytes[at] == ' ');
        at += length;
    }
    if (at != size) {
        snprintf(why, why_size, "%zu bytes after the model's %u tokens: more tokens than its vocab",
                 size - at, vocab);
        return why;
    }
    return NULL;
}

int scn__check_tokenizer(scn_check *check, const scn_node *node)
{
    scn_model *m = &check->scenario->model;
    if (node == NULL) {
        return 0;
    }
    int rc = scn__get_string(check, node, "model.tokenizer", m->tokenizer_written,
                             sizeof(m->tokenizer_written));
    if (rc != 0 || (rc = text_resolve(check, node, "model.tokenizer", m->tokenizer)) != 0) {
        return rc;
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    if ((rc = text_read(check, node, m->tokenizer, TEXT_TOKENIZER_BYTES_MAX, &bytes, &size)) != 0) {
        return rc;
    }
    bool space = false;
    char why[200];
    const char *bad = text_tokenizer_walk(bytes, size, m->vocab, &space, why, sizeof(why));
    util_free(bytes);
    if (bad != NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "model.tokenizer '%.200s': %s",
                         node->text, bad);
    }
    if (!space || m->vocab < 259) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "model.tokenizer '%.200s': %s", node->text,
                         !space ? "no \" \" piece (the dummy prefix of every prompt)"
                                : "fewer than 259 tokens: no room for the byte fallback ids");
    }
    if (util_file_sha256_hex(m->tokenizer, m->tokenizer_sha256) != 0) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "cannot read '%.200s': %s",
                         node->text, strerror(errno));
    }
    return 0;
}

/* Appends one prompt; bytes + 2 bounds its tokens. */
static int text_prompt_add(scn_check *check, const scn_node *where, const char *text,
                           size_t length)
{
    scn_workload *w = &check->scenario->workload;
    size_t used = w->prompt_count == 0
                      ? 0
                      : w->prompt_offset[w->prompt_count - 1] +
                            strlen(w->prompt_text + w->prompt_offset[w->prompt_count - 1]) + 1;
    if (w->prompt_count == SCN_PROMPTS_MAX || used + length + 1 > sizeof(w->prompt_text)) {
        return scn__fail(check->error, SCN_ESCHEMA, where,
                         "workload.prompts: more than %u prompts or %zu bytes", SCN_PROMPTS_MAX,
                         sizeof(w->prompt_text) - 1);
    }
    if (memchr(text, '\0', length) != NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, where,
                         "workload.prompts: prompt %u holds a NUL byte", w->prompt_count);
    }
    w->prompt_offset[w->prompt_count] = (uint32_t)used;
    memcpy(w->prompt_text + used, text, length);
    w->prompt_text[used + length] = '\0';
    w->prompt_count += 1;
    uint32_t tokens = (uint32_t)length + 2;
    w->prompt_min = w->prompt_count == 1 || tokens < w->prompt_min ? tokens : w->prompt_min;
    w->prompt_max = tokens > w->prompt_max ? tokens : w->prompt_max;
    return 0;
}

/* One prompt per line; a final newline and '\r' before '\n' are not part
 * of a prompt; empty lines are skipped. */
static int text_prompts_file(scn_check *check, const scn_node *node)
{
    scn_workload *w = &check->scenario->workload;
    char resolved[SCN_PATH_MAX];
    int rc = text_resolve(check, node, "workload.prompts", resolved);
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (rc != 0 || (rc = text_read(check, node, resolved, sizeof(w->prompt_text), &bytes,
                                   &size)) != 0) {
        return rc;
    }
    snprintf(w->prompts_file_written, sizeof(w->prompts_file_written), "%s", node->text);
    size_t start = 0;
    for (size_t i = 0; i <= size && rc == 0; i++) {
        if (i < size && bytes[i] != '\n') {
            continue;
        }
        size_t end = i > start && bytes[i - 1] == '\r' ? i - 1 : i;
        if (end > start) {
            rc = text_prompt_add(check, node, (const char *)bytes + start, end - start);
        }
        start = i + 1;
    }
    util_free(bytes);
    if (rc == 0 && util_file_sha256_hex(resolved, w->prompts_sha256) != 0) {
        rc = scn__fail(check->error, SCN_ESCHEMA, node, "cannot read '%.200s'", node->text);
    }
    return rc;
}

int scn__check_prompts(scn_check *check, const scn_node *section)
{
    scn_workload *w = &check->scenario->workload;
    const scn_node *node = section != NULL ? scn__map_get(section, "prompts") : NULL;
    if (node == NULL) {
        return 0;
    }
    if (check->scenario->model.tokenizer[0] == '\0') {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "workload.prompts needs model.tokenizer (a llama2.c tokenizer.bin)");
    }
    if (scn__map_get(section, "prompt_tokens") != NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, scn__map_get(section, "prompt_tokens"),
                         "workload.prompt_tokens cannot be set with workload.prompts (the "
                         "prompts' lengths are their own)");
    }
    w->prompt_min = 0;
    w->prompt_max = 0;
    int rc = 0;
    if (node->kind == SCN_NODE_SCALAR) {
        rc = text_prompts_file(check, node);
    } else if (node->kind == SCN_NODE_SEQ) {
        for (size_t i = 0; i < node->count && rc == 0; i++) {
            const scn_node *item = node->values[i];
            if (item->kind != SCN_NODE_SCALAR) {
                return scn__fail(check->error, SCN_ESCHEMA, item,
                                 "workload.prompts.%zu must be a string", i);
            }
            rc = text_prompt_add(check, item, item->text, strlen(item->text));
        }
    } else {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "workload.prompts must be a file name or a list of strings");
    }
    if (rc == 0 && w->prompt_count == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "workload.prompts holds no prompt");
    }
    return rc;
}

const char *scn_workload_prompt(const scn_workload *workload, uint32_t index)
{
    return index < workload->prompt_count ? workload->prompt_text + workload->prompt_offset[index]
                                          : NULL;
}
