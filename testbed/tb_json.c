/* tb_json.c -- the small strict JSON reader of POST /v1/infer bodies
 * (tb_infer_body_parse in tb.h). It accepts exactly one object with a
 * "prompt" array of unsigned token ids and an optional unsigned
 * "generate"; anything else (strings with escapes, nesting, floats, signs,
 * duplicate prompts, trailing bytes) is refused. The bytes come from HTTP
 * clients: every read is bounded by the body's end, nothing asserts on
 * them, and the body need not be NUL-terminated. */
#include <ctype.h>
#include <string.h>

#include "testbed/tb.h"

typedef struct json_reader {
    const char *at;
    const char *end;
} json_reader;

static void json_space(json_reader *r)
{
    while (r->at < r->end && isspace((unsigned char)*r->at)) {
        r->at++;
    }
}

static bool json_char(json_reader *r, char c)
{
    json_space(r);
    if (r->at < r->end && *r->at == c) {
        r->at++;
        return true;
    }
    return false;
}

static bool json_uint(json_reader *r, uint64_t limit, uint64_t *value_out)
{
    json_space(r);
    uint64_t value = 0;
    const char *start = r->at;
    while (r->at < r->end && *r->at >= '0' && *r->at <= '9') {
        value = value * 10 + (uint64_t)(*r->at - '0');
        if (value > limit || r->at - start > 18) {
            return false;
        }
        r->at++;
    }
    *value_out = value;
    return r->at > start;
}

static bool json_key(json_reader *r, char *key, size_t size)
{
    json_space(r);
    if (!json_char(r, '"')) {
        return false;
    }
    size_t n = 0;
    while (r->at < r->end && *r->at != '"') {
        if (n + 1 >= size || *r->at == '\\') {
            return false;
        }
        key[n++] = *r->at++;
    }
    key[n] = '\0';
    return json_char(r, '"') && json_char(r, ':');
}

bool tb_infer_body_parse(const char *text, size_t size, uint32_t vocab, uint32_t *tokens,
                         uint32_t *count, uint64_t *generate)
{
    json_reader r = {text, text + size};
    bool have_prompt = false;
    *count = 0;
    *generate = 0;
    if (!json_char(&r, '{')) {
        return false;
    }
    do {
        char key[32];
        if (!json_key(&r, key, sizeof(key))) {
            return false;
        }
        if (strcmp(key, "prompt") == 0 && !have_prompt) {
            have_prompt = true;
            if (!json_char(&r, '[')) {
                return false;
            }
            do {
                uint64_t token = 0;
                if (*count >= TB_INFER_PROMPT_MAX || !json_uint(&r, vocab - 1u, &token)) {
                    return false;
                }
                tokens[(*count)++] = (uint32_t)token;
            } while (json_char(&r, ','));
            if (!json_char(&r, ']')) {
                return false;
            }
        } else if (strcmp(key, "generate") == 0) {
            if (!json_uint(&r, UINT32_MAX, generate)) {
                return false;
            }
        } else {
            return false;
        }
    } while (json_char(&r, ','));
    if (!json_char(&r, '}')) {
        return false;
    }
    json_space(&r);
    return have_prompt && r.at == r.end;
}
