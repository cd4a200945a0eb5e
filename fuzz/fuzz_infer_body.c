/* fuzz_infer_body.c -- the body of POST /v1/infer (tb_infer_body_parse in
 * tb.h) on arbitrary bytes, not NUL-terminated: the reader must stay
 * inside the body and inside its TB_INFER_PROMPT_MAX-token buffer. Byte 0
 * picks the vocabulary (1 .. 255, or 2^32 - 1 when 0), the rest is the
 * body. An accepted body must have 1 .. TB_INFER_PROMPT_MAX tokens, each
 * below the vocabulary: a breach is the reader's bug, so it aborts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "testbed/tb.h"

static void body_check(uint32_t vocab, const uint32_t *tokens, uint32_t count)
{
    if (count == 0 || count > TB_INFER_PROMPT_MAX) {
        fprintf(stderr, "fuzz_infer_body: accepted %u tokens\n", count);
        abort();
    }
    for (uint32_t i = 0; i < count; i++) {
        if (tokens[i] >= vocab) {
            fprintf(stderr, "fuzz_infer_body: token %u >= vocab %u\n", tokens[i], vocab);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint32_t vocab = data[0] == 0 ? UINT32_MAX : data[0];
    char *text = malloc(size - 1 > 0 ? size - 1 : 1);
    uint32_t *tokens = malloc(TB_INFER_PROMPT_MAX * sizeof(uint32_t));
    if (text != NULL && tokens != NULL) {
        memcpy(text, data + 1, size - 1);
        uint32_t count = 0;
        uint64_t generate = 0;
        if (tb_infer_body_parse(text, size - 1, vocab, tokens, &count, &generate)) {
            body_check(vocab, tokens, count);
        }
    }
    free(text);
    free(tokens);
    return 0;
}
