/* cmd_client.c -- `infersim client`: drives load against a testbed's HTTP
 * API with libcurl (testbed/tb_client.c) and writes what it measured as a
 * run with runs.mode = 'testbed': one requests row per request (wall
 * times since the client's start), and run-level metrics (throughput,
 * latency percentiles, completed ratio). The vocabulary, prompt lengths
 * and node count are read from the first URL's GET /status. */
#include <curl/curl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/tb.h"
#include "tools/tool.h"
#include "util/alloc.h"
#include "util/stats.h"

static const char client_usage[] =
    "usage: infersim client --url URL [--url URL]... --requests N [options]\n"
    "\n"
    "Sends N POST /v1/infer requests to testbed processes (round-robin over the\n"
    "URLs) with libcurl, at most C at once, and stores latencies and outcomes in\n"
    "SQLite as a run with mode 'testbed'.\n"
    "\n"
    "options:\n"
    "  --url URL          a process's base URL, e.g. http://127.0.0.1:8001 (repeatable,\n"
    "                     or comma-separated)\n"
    "  --requests N       requests to send (required)\n"
    "  --concurrency C    requests in flight at most (default 4)\n"
    "  --rate R           requests started per second at most (default: no pacing)\n"
    "  --seed S           prompt stream seed (default 1)\n"
    "  --timeout SECONDS  per request (default 60)\n"
    "  --db FILE          results database (default results.db)\n"
    "  --quiet            no summary\n";

typedef struct client_options {
    char *urls[TB_PROCESSES_MAX];
    uint32_t url_count;
    char url_text[8192];
    size_t url_used;
    unsigned long long requests;
    unsigned long long concurrency;
    unsigned long long seed;
    double rate;
    double timeout_s;
    const char *db;
    bool quiet;
} client_options;

static int client_add_urls(client_options *o, const char *value)
{
    size_t length = strlen(value);
    if (o->url_used + length + 1 > sizeof(o->url_text)) {
        return tool_usage_error("client", "URLs too long");
    }
    char *copy = o->url_text + o->url_used;
    memcpy(copy, value, length + 1);
    o->url_used += length + 1;
    for (char *save = NULL, *url = strtok_r(copy, ",", &save); url != NULL;
         url = strtok_r(NULL, ",", &save)) {
        if (o->url_count == TB_PROCESSES_MAX || strncmp(url, "http://", 7) != 0) {
            return tool_usage_error("client", "--url wants http://HOST:PORT (at most %d)",
                                    TB_PROCESSES_MAX);
        }
        size_t n = strlen(url);
        while (n > 0 && url[n - 1] == '/') {
            url[--n] = '\0';
        }
        o->urls[o->url_count++] = url;
    }
    return TOOL_EXIT_OK;
}

static int client_option(void *context, const char *name, const char *value)
{
    client_options *o = context;
    if (strcmp(name, "--quiet") == 0) {
        o->quiet = true;
        return TOOL_EXIT_OK;
    }
    if (strcmp(name, "--url") == 0) {
        return client_add_urls(o, value);
    }
    if (strcmp(name, "--db") == 0) {
        o->db = value;
        return TOOL_EXIT_OK;
    }
    if (strcmp(name, "--requests") == 0) {
        return tool_parse_range("client", name, value, 1, 10000000, &o->requests);
    }
    if (strcmp(name, "--concurrency") == 0) {
        return tool_parse_range("client", name, value, 1, 1024, &o->concurrency);
    }
    if (strcmp(name, "--seed") == 0) {
        return tool_parse_range("client", name, value, 0, UINT64_MAX, &o->seed);
    }
    return tool_parse_positive("client", name, value, 1e9,
                               strcmp(name, "--rate") == 0 ? &o->rate : &o->timeout_s);
}

static int client_parse(int argc, char **argv, client_options *o)
{
    static const tool_option table[] = {
        {"--url", 0, true},     {"--requests", 0, true}, {"--concurrency", 0, true},
        {"--seed", 0, true},    {"--rate", 0, true},     {"--timeout", 0, true},
        {"--db", 0, true},      {"--quiet", 0, false}};
    static const tool_command command = {"client", client_usage, table, 8, client_option};
    memset(o, 0, sizeof(*o));
    o->concurrency = 4;
    o->seed = 1;
    o->timeout_s = 60;
    o->db = "results.db";
    int first = 0;
    int code = tool_options_parse(&command, argc, argv, o, &first);
    if (code == TOOL_EXIT_OK && first < argc) {
        code = tool_usage_error("client", "unexpected argument '%s'", argv[first]);
    }
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    if (o->url_count == 0 || o->requests == 0) {
        return tool_usage_error("client", "--url and --requests are required");
    }
    return TOOL_EXIT_OK;
}

/* ---- what the testbed says about itself ---- */

/* The numbers of GET /status the client uses (-1: absent). */
typedef struct client_status {
    long vocab;
    long prompt_min;
    long prompt_max;
    long node_count;
} client_status;

typedef struct status_body {
    char *text;
    size_t bytes;
    size_t capacity;
} status_body;

static size_t status_write(char *data, size_t size, size_t count, void *arg)
{
    status_body *body = arg;
    size_t bytes = size * count;
    if (body->bytes + bytes + 1 > body->capacity) {
        size_t capacity = (body->bytes + bytes + 1) * 2;
        char *grown = capacity <= (64u << 20) ? realloc(body->text, capacity) : NULL;
        if (grown == NULL) {
            return 0;       /* aborts the transfer: no answer */
        }
        body->text = grown;
        body->capacity = capacity;
    }
    memcpy(body->text + body->bytes, data, bytes);
    body->bytes += bytes;
    body->text[body->bytes] = '\0';
    return bytes;
}

/* The unsigned number under top-level "key" of /status (the server's
 * strict JSON reader, tb_json.c), or -1 when absent or unreadable. */
static long status_number(const status_body *body, const char *key)
{
    uint64_t value = 0;
    return body->text != NULL && tb_json_uint(body->text, body->bytes, key, &value) &&
                   value <= LONG_MAX
               ? (long)value
               : -1;
}

static int client_status_get(const char *url, client_status *status)
{
    char full[600];
    status_body body = {NULL, 0, 0};
    snprintf(full, sizeof(full), "%s/status", url);
    CURL *easy = curl_easy_init();
    if (easy == NULL) {
        return -1;
    }
    curl_easy_setopt(easy, CURLOPT_URL, full);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, status_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(easy);
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(easy);
    *status = (client_status){status_number(&body, "vocab"), status_number(&body, "prompt_min"),
                              status_number(&body, "prompt_max"),
                              status_number(&body, "node_count")};
    free(body.text);
    return rc == CURLE_OK && code == 200 && status->vocab > 0 ? 0 : -1;
}

/* ---- storing ---- */

static const char *client_status_name(uint32_t status)
{
    return status == NODE_REQUEST_COMPLETED ? "completed"
           : status == NODE_REQUEST_TIMEOUT ? "timeout"
                                            : "failed";
}

static int client_store(met_db *db, int64_t run_id, const client_options *o,
                        const tb_client_result *results, uint64_t wall_ns)
{
    uint64_t *latency = util_calloc(o->requests + 1, sizeof(*latency));
    if (latency == NULL) {
        return -1;
    }
    uint64_t completed = 0;
    for (uint64_t i = 0; i < o->requests; i++) {
        const tb_client_result *r = &results[i];
        bool done = r->status == NODE_REQUEST_COMPLETED;
        met_request_row row = {
            i, r->client == UINT32_MAX ? 0 : r->client, r->start_ns, 0, r->end_ns,
            client_status_name(r->status), r->prompt_tokens, r->tokens_out, -1, NAN, NAN, NAN,
            "", "", -1, -1, -1, NULL, NULL, NULL, 0, -1, NAN, 0, -1,
        };
        if (met_requests_add(db, run_id, &row, 1) != 0) {
            util_free(latency);
            return -1;
        }
        if (done) {
            latency[completed++] = r->end_ns - r->start_ns;
        }
    }
    /* Exact, by the nearest rank, as the simulator's (util_stats). */
    double p50 = util_quantile_nearest_rank(latency, completed, 0.50);
    double p99 = util_quantile_nearest_rank(latency, completed, 0.99);
    util_free(latency);
    double seconds = (double)wall_ns / 1e9;
    const struct {
        const char *name;
        const char *unit;
        double value;
    } metrics[] = {
        {"requests_completed", "count", (double)completed},
        {"completed_ratio", "ratio", (double)completed / (double)o->requests},
        {"requests_per_s", "requests/s", seconds > 0 ? (double)completed / seconds : NAN},
        {"request_latency_p50", "ns", p50},
        {"request_latency_p99", "ns", p99},
        {"concurrency", "count", (double)o->concurrency},
        {"wall_s", "s", seconds},
    };
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        if (!isnan(metrics[i].value) &&
            met_metric_add(db, run_id, metrics[i].name, metrics[i].value, metrics[i].unit) !=
                0) {
            return -1;
        }
    }
    if (!o->quiet) {
        char wall[SCN_FORMAT_MAX], rate[SCN_FORMAT_MAX], p50_text[SCN_FORMAT_MAX],
            p99_text[SCN_FORMAT_MAX];
        printf("client: %llu requests, %llu completed in %s: %s, latency p50 %s, p99 %s\n",
               o->requests, (unsigned long long)completed,
               scn_format_value(wall, sizeof(wall), "s", seconds),
               scn_format_value(rate, sizeof(rate), "requests/s",
                                seconds > 0 ? (double)completed / seconds : 0.0),
               scn_format_value(p50_text, sizeof(p50_text), "ns", p50),
               scn_format_value(p99_text, sizeof(p99_text), "ns", p99));
    }
    return 0;
}

static int client_drive(const client_options *o, const client_status *status, met_db *db,
                        int64_t run_id)
{
    tb_client_result *results = util_calloc(o->requests, sizeof(*results));
    if (results == NULL) {
        return TOOL_EXIT_INTERNAL;
    }
    tb_client_config config = {
        (const char *const *)o->urls, o->url_count, o->requests, (uint32_t)o->concurrency,
        o->rate, (uint32_t)status->prompt_min,
        (uint32_t)status->prompt_max, (uint32_t)status->vocab,
        0, o->seed, (uint64_t)(o->timeout_s * 1e3),
    };
    uint64_t wall_ns = 0;
    int rc = tb_client_run(&config, results, &wall_ns);
    int stored = rc == 0 ? client_store(db, run_id, o, results, wall_ns) : -1;
    met_run_totals totals = {wall_ns / 1000000u, wall_ns, 0, 0, NULL,
                             rc != 0 ? tb_strerror(rc) : NULL};
    met_run_finish(db, run_id, rc == 0 && stored == 0 ? "completed" : "failed", &totals);
    util_free(results);
    if (rc != 0 || stored != 0) {
        fprintf(stderr, "infersim client: %s\n", rc != 0 ? tb_strerror(rc) : met_db_errmsg(db));
        return TOOL_EXIT_INTERNAL;
    }
    return TOOL_EXIT_OK;
}

int tool_client_main(int argc, char **argv)
{
    client_options o;
    client_status status;
    char why[512];
    int code = client_parse(argc, argv, &o);
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = client_status_get(o.urls[0], &status);
    curl_global_cleanup();
    if (rc != 0) {
        fprintf(stderr, "infersim client: %s/status did not answer as a testbed process\n",
                o.urls[0]);
        return TOOL_EXIT_USAGE;
    }
    met_db *db = NULL;
    if (met_db_open(o.db, &db, why, sizeof(why)) != 0) {
        fprintf(stderr, "infersim client: %s\n", why); /* 'why' names the file */
        return TOOL_EXIT_USAGE;
    }
    met_run_info info = {"client", "", INFERSIM_GIT_REV, "testbed", o.seed,
                         (uint32_t)status.node_count};
    scn_param params[4];
    char requests[32], concurrency[32], rate[32], url[600];
    snprintf(requests, sizeof(requests), "%llu", o.requests);
    snprintf(concurrency, sizeof(concurrency), "%llu", o.concurrency);
    snprintf(rate, sizeof(rate), "%g", o.rate);
    snprintf(url, sizeof(url), "%s", o.urls[0]);
    params[0] = (scn_param){"client.concurrency", concurrency};
    params[1] = (scn_param){"client.rate", rate};
    params[2] = (scn_param){"client.requests", requests};
    params[3] = (scn_param){"client.url", url};
    int64_t run_id = 0;
    if (met_run_begin(db, &info, params, 4, &run_id) != 0) {
        fprintf(stderr, "infersim client: %s: %s\n", o.db, met_db_errmsg(db));
        met_db_close(db);
        return TOOL_EXIT_INTERNAL;
    }
    code = client_drive(&o, &status, db, run_id);
    met_db_close(db);
    return code;
}
