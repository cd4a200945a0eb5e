/* tb_json.c -- the small strict JSON reader of POST /v1/infer bodies
 * (tb_infer_body_parse in tb.h), and of the server's answers for the load
 * client (tb_json_find and its getters, which skip any value they are not
 * asked for). The body reader accepts exactly one object with a
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

/* ---- reading the server's answers (the load client) ---- */

static bool json_literal(json_reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->at) >= n && memcmp(r->at, word, n) == 0) {
        r->at += n;
        return true;
    }
    return false;
}

/* A string: no control bytes; an escape skips the byte after '\'. */
static bool json_string_skip(json_reader *r)
{
    if (!json_char(r, '"')) {
        return false;
    }
    while (r->at < r->end && *r->at != '"') {
        if ((unsigned char)*r->at < 0x20) {
            return false;
        }
        r->at += *r->at == '\\' && r->at + 1 < r->end ? 2 : 1;
    }
    if (r->at >= r->end) {
        return false;
    }
    r->at++;
    return true;
}

static bool json_number_skip(json_reader *r)
{
    const char *start = r->at;
    r->at += r->at < r->end && *r->at == '-' ? 1 : 0;
    const char *digits = r->at;
    while (r->at < r->end && ((*r->at >= '0' && *r->at <= '9') || *r->at == '.' ||
                              *r->at == 'e' || *r->at == 'E' || *r->at == '+' ||
                              *r->at == '-')) {
        r->at++;
    }
    return r->at > start && *digits >= '0' && *digits <= '9';
}

/* Any value, nested at most 32 deep. */
static bool json_value_skip(json_reader *r, int depth)
{
    json_space(r);
    if (r->at >= r->end || depth > 32) {
        return false;
    }
    char c = *r->at;
    if (c == '"') {
        return json_string_skip(r);
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        r->at++;
        if (json_char(r, close)) {
            return true;
        }
        do {
            if (c == '{' && !(json_string_skip(r) && json_char(r, ':'))) {
                return false;
            }
            if (!json_value_skip(r, depth + 1)) {
                return false;
            }
        } while (json_char(r, ','));
        return json_char(r, close);
    }
    if (c == 't' || c == 'f' || c == 'n') {
        return json_literal(r, c == 't' ? "true" : c == 'f' ? "false" : "null");
    }
    return json_number_skip(r);
}

bool tb_json_find(const char *text, size_t size, const char *key, const char **value_out,
                  size_t *value_size_out)
{
    json_reader r = {text, text + size};
    bool found = false;
    if (!json_char(&r, '{')) {
        return false;
    }
    if (!json_char(&r, '}')) {
        do {
            char name[64];
            if (!json_key(&r, name, sizeof(name))) {
                return false;
            }
            json_space(&r);
            const char *start = r.at;
            if (!json_value_skip(&r, 0)) {
                return false;
            }
            if (!found && strcmp(name, key) == 0) {
                found = true;
                *value_out = start;
                *value_size_out = (size_t)(r.at - start);
            }
        } while (json_char(&r, ','));
        if (!json_char(&r, '}')) {
            return false;
        }
    }
    json_space(&r);
    return found && r.at == r.end;
}

bool tb_json_uint(const char *text, size_t size, const char *key, uint64_t *value_out)
{
    const char *value = NULL;
    size_t value_size = 0;
    if (!tb_json_find(text, size, key, &value, &value_size)) {
        return false;
    }
    json_reader r = {value, value + value_size};
    return json_uint(&r, UINT64_MAX / 10, value_out) && r.at == r.end;
}

bool tb_json_text(const char *text, size_t size, const char *key, char *out, size_t out_size)
{
    const char *value = NULL;
    size_t value_size = 0;
    if (!tb_json_find(text, size, key, &value, &value_size) || value_size < 2 ||
        value[0] != '"' || value_size - 2 >= out_size ||
        memchr(value, '\\', value_size) != NULL) {
        return false;
    }
    memcpy(out, value + 1, value_size - 2);
    out[value_size - 2] = '\0';
    return true;
}

bool tb_json_array_count(const char *text, size_t size, const char *key, uint32_t *count_out)
{
    const char *value = NULL;
    size_t value_size = 0;
    if (!tb_json_find(text, size, key, &value, &value_size) || value[0] != '[') {
        return false;
    }
    json_reader r = {value + 1, value + value_size};
    uint32_t count = 0;
    if (!json_char(&r, ']')) {
        do {
            if (!json_value_skip(&r, 1)) {
                return false;
            }
            count++;
        } while (json_char(&r, ','));
    }
    *count_out = count;
    return true;
}
