/* fuzz_tokenizer.c -- llama2.c's tokenizer.bin reader and encoder on
 * arbitrary bytes (infer_tokenizer_from_bytes, infer_tokenizer_encode,
 * infer_tokenizer_decode). The input is: two bytes of vocabulary size
 * (1..1024), two bytes of text length (0..255), that much prompt text,
 * then the tokenizer file. A truncated file, a length past the end or past
 * max_token_length, a non-finite score or a token count other than the
 * vocabulary must fail with a reason; a file that loads must encode the
 * text within its bound (strlen + 2 ids, each below the vocabulary) and
 * decode every token after BOS and after another token. */
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "node/infer.h"
#include "util/alloc.h"

static void tokenizer_exercise(infer_tokenizer *tokenizer, const char *text)
{
    uint32_t vocab = infer_tokenizer_vocab(tokenizer);
    size_t capacity = strlen(text) + 2;
    uint32_t *tokens = util_calloc(capacity, sizeof(uint32_t));
    uint32_t count = 0;
    char why[256];
    if (tokens != NULL &&
        infer_tokenizer_encode(tokenizer, text, tokens, &count, why, sizeof(why)) == 0) {
        if (count > capacity) {
            abort();
        }
        for (uint32_t i = 0; i < count; i++) {
            if (tokens[i] >= vocab) {
                abort();
            }
        }
    }
    util_free(tokens);
    for (uint32_t t = 0; t < vocab; t++) {
        (void)infer_piece_printable(infer_tokenizer_decode(tokenizer, INFER_TOKEN_BOS, t));
        (void)infer_piece_printable(infer_tokenizer_decode(tokenizer, 0, t));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) {
        return 0;
    }
    uint32_t vocab = 1 + ((uint32_t)data[0] | (uint32_t)data[1] << 8) % 1024;
    size_t text_length = ((size_t)data[2] | (size_t)data[3] << 8) % 256;
    if (size - 4 < text_length) {
        return 0;
    }
    char text[256];
    memcpy(text, data + 4, text_length);
    text[text_length] = '\0';
    infer_tokenizer *tokenizer = NULL;
    char why[256];
    const uint8_t *file = data + 4 + text_length;
    if (infer_tokenizer_from_bytes(file, size - 4 - text_length, vocab, &tokenizer, why,
                                   sizeof(why)) != 0) {
        return 0;
    }
    tokenizer_exercise(tokenizer, text);
    infer_tokenizer_destroy(tokenizer);
    return 0;
}
