/* tb_client.c -- the load client: POST /v1/infer requests through
 * libcurl's multi interface, at most 'concurrency' in flight, optionally
 * paced to a rate, round-robin over the node processes' URLs. Each
 * request's prompt is drawn from a seeded stream (util_prng), so two
 * client runs with one seed send the same prompts. The answers' request
 * id, client node, status and output length are read from the JSON. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testbed/tb.h"
#include "util/alloc.h"
#include "util/prng.h"

typedef struct client_transfer {
    CURL *easy;
    uint64_t index;
    char *body;
    size_t body_bytes;
    char *answer;
    size_t answer_bytes;
    size_t answer_capacity;
    bool busy;
} client_transfer;

static uint64_t wall_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static size_t on_answer(char *data, size_t size, size_t count, void *arg)
{
    client_transfer *transfer = arg;
    size_t bytes = size * count;
    if (transfer->answer_bytes + bytes + 1 > transfer->answer_capacity) {
        size_t capacity = (transfer->answer_bytes + bytes + 1) * 2;
        char *grown = util_realloc(transfer->answer, capacity);
        if (grown == NULL) {
            return 0; /* Aborts the transfer: counted as no answer. */
        }
        transfer->answer = grown;
        transfer->answer_capacity = capacity;
    }
    memcpy(transfer->answer + transfer->answer_bytes, data, bytes);
    transfer->answer_bytes += bytes;
    transfer->answer[transfer->answer_bytes] = '\0';
    return bytes;
}

/* The unsigned number under top-level "key" of the answer, or 'fallback'. */
static uint64_t json_number(const client_transfer *transfer, const char *key,
                            uint64_t fallback)
{
    uint64_t value = 0;
    return transfer->answer != NULL &&
                   tb_json_uint(transfer->answer, transfer->answer_bytes, key, &value)
               ? value
               : fallback;
}

/* The answer of POST /v1/infer, read with the server's strict JSON reader
 * (tb_json.c): an answer it cannot read leaves the fields unknown. */
static void answer_parse(const client_transfer *transfer, tb_client_result *result)
{
    const char *json = transfer->answer;
    size_t size = transfer->answer_bytes;
    char status[32];
    uint32_t output = 0;
    result->request_id = json_number(transfer, "request", UINT64_MAX);
    uint64_t client = json_number(transfer, "client", UINT32_MAX);
    result->client = client <= UINT32_MAX ? (uint32_t)client : UINT32_MAX;
    result->status = 0;
    if (json != NULL && tb_json_text(json, size, "status", status, sizeof(status))) {
        result->status = strcmp(status, "completed") == 0 ? NODE_REQUEST_COMPLETED
                         : strcmp(status, "timeout") == 0 ? NODE_REQUEST_TIMEOUT
                                                          : NODE_REQUEST_FAILED;
    }
    result->tokens_out = json != NULL && tb_json_array_count(json, size, "output", &output)
                             ? output
                             : 0;
}

static int transfer_start(const tb_client_config *config, CURLM *multi,
                          client_transfer *transfer, uint64_t index, util_prng *prng,
                          tb_client_result *result, uint64_t start)
{
    uint32_t span = config->prompt_max - config->prompt_min + 1;
    uint32_t count = config->prompt_min + (uint32_t)util_prng_below(prng, span);
    size_t capacity = 64 + (size_t)count * 12;
    char *body = util_malloc(capacity);
    if (body == NULL) {
        return TB_ENOMEM;
    }
    size_t at = (size_t)snprintf(body, capacity, "{\"prompt\": [");
    for (uint32_t i = 0; i < count; i++) {
        at += (size_t)snprintf(body + at, capacity - at, "%s%u", i > 0 ? ", " : "",
                               (uint32_t)util_prng_below(prng, config->vocab));
    }
    if (config->generate != 0) {
        at += (size_t)snprintf(body + at, capacity - at, "], \"generate\": %u}", config->generate);
    } else {
        at += (size_t)snprintf(body + at, capacity - at, "]}");
    }
    char url[512];
    snprintf(url, sizeof(url), "%s/v1/infer", config->urls[index % config->url_count]);
    util_free(transfer->body);
    transfer->body = body;
    transfer->body_bytes = at;
    transfer->answer_bytes = 0;
    transfer->index = index;
    transfer->busy = true;
    result->prompt_tokens = count;
    result->start_ns = wall_ns() - start;
    curl_easy_reset(transfer->easy);
    curl_easy_setopt(transfer->easy, CURLOPT_URL, url);
    curl_easy_setopt(transfer->easy, CURLOPT_POSTFIELDS, transfer->body);
    curl_easy_setopt(transfer->easy, CURLOPT_POSTFIELDSIZE, (long)transfer->body_bytes);
    curl_easy_setopt(transfer->easy, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(transfer->easy, CURLOPT_WRITEDATA, transfer);
    curl_easy_setopt(transfer->easy, CURLOPT_PRIVATE, transfer);
    curl_easy_setopt(transfer->easy, CURLOPT_TIMEOUT_MS, (long)config->timeout_ms);
    curl_easy_setopt(transfer->easy, CURLOPT_NOSIGNAL, 1L);
    return curl_multi_add_handle(multi, transfer->easy) == CURLM_OK ? 0 : TB_ENOMEM;
}

static void transfer_done(CURLM *multi, CURLMsg *message, tb_client_result *results,
                          uint64_t start)
{
    client_transfer *transfer = NULL;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&transfer);
    tb_client_result *result = &results[transfer->index];
    long code = 0;
    result->end_ns = wall_ns() - start;
    if (message->data.result == CURLE_OK) {
        curl_easy_getinfo(message->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        result->http_status = (uint32_t)code;
        answer_parse(transfer, result);
    } else {
        result->http_status = 0;
        result->status = 0;
        result->request_id = UINT64_MAX;
        result->client = UINT32_MAX;
    }
    curl_multi_remove_handle(multi, message->easy_handle);
    transfer->busy = false;
}

static client_transfer *transfer_free_slot(client_transfer *transfers, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        if (!transfers[i].busy) {
            return &transfers[i];
        }
    }
    return NULL;
}

static int client_loop(const tb_client_config *config, CURLM *multi, client_transfer *transfers,
                       tb_client_result *results, uint64_t start)
{
    util_prng prng;
    util_prng_init_stream(&prng, config->seed, 0, UTIL_PRNG_PURPOSE_WORKLOAD);
    uint64_t next = 0, done = 0;
    while (done < config->requests) {
        client_transfer *free_slot = transfer_free_slot(transfers, config->concurrency);
        uint64_t due = config->rate_per_s > 0 ? (uint64_t)((double)next * 1e9 / config->rate_per_s)
                                              : 0;
        while (free_slot != NULL && next < config->requests && wall_ns() - start >= due) {
            int rc = transfer_start(config, multi, free_slot, next, &prng, &results[next], start);
            if (rc != 0) {
                return rc;
            }
            next += 1;
            free_slot = transfer_free_slot(transfers, config->concurrency);
            due = config->rate_per_s > 0 ? (uint64_t)((double)next * 1e9 / config->rate_per_s)
                                         : 0;
        }
        int running = 0;
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 5, NULL);
        curl_multi_perform(multi, &running);
        CURLMsg *message;
        int left = 0;
        while ((message = curl_multi_info_read(multi, &left)) != NULL) {
            if (message->msg == CURLMSG_DONE) {
                transfer_done(multi, message, results, start);
                done += 1;
            }
        }
    }
    return 0;
}

int tb_client_run(const tb_client_config *config, tb_client_result *results,
                  uint64_t *wall_ns_out)
{
    if (config->url_count == 0 || config->concurrency == 0 || config->vocab == 0 ||
        config->prompt_min == 0 || config->prompt_max < config->prompt_min) {
        return TB_EINVAL;
    }
    memset(results, 0, sizeof(*results) * config->requests);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return TB_ENOMEM;
    }
    CURLM *multi = curl_multi_init();
    client_transfer *transfers = util_calloc(config->concurrency, sizeof(*transfers));
    int rc = multi != NULL && transfers != NULL ? 0 : TB_ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < config->concurrency; i++) {
        transfers[i].easy = curl_easy_init();
        rc = transfers[i].easy != NULL ? 0 : TB_ENOMEM;
    }
    uint64_t start = wall_ns();
    if (rc == 0) {
        rc = client_loop(config, multi, transfers, results, start);
    }
    *wall_ns_out = wall_ns() - start;
    for (uint32_t i = 0; transfers != NULL && i < config->concurrency; i++) {
        if (transfers[i].easy != NULL) {
            if (transfers[i].busy) {
                curl_multi_remove_handle(multi, transfers[i].easy);
            }
            curl_easy_cleanup(transfers[i].easy);
        }
        util_free(transfers[i].body);
        util_free(transfers[i].answer);
    }
    util_free(transfers);
    if (multi != NULL) {
        curl_multi_cleanup(multi);
    }
    curl_global_cleanup();
    return rc;
}
