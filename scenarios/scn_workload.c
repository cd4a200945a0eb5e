/* scn_workload.c -- the workload section: gossip rumors or inference
 * requests. Runs after the model section, whose presence sets the default
 * kind and whose seq_len bounds prompt plus generated tokens. Keys of the
 * other kind are errors naming the key, so a scenario never carries a
 * setting that silently does nothing. */
#include <stdio.h>
#include <string.h>

#include "scenarios/scn_int.h"
#include "util/assert.h"

static int workload_rate_size(scn_check *check, const scn_node *section)
{
    scn_workload *w = &check->scenario->workload;
    char why[200];
    const scn_node *rate = scn__map_get(section, "rate");
    int rc = 0;
    if (rate != NULL) {
        if ((rc = scn__get_rate(check, rate, "workload.rate", &w->rate_per_s)) != 0) {
            return rc;
        }
        if (!(w->rate_per_s > 0)) {
            return scn__fail(check->error, SCN_ESCHEMA, rate, "workload.rate must be > 0");
        }
    }
    const scn_node *size = scn__map_get(section, "size");
    if (size != NULL) {
        uint64_t bytes = 0;
        if ((rc = scn__check_kind(check, size, SCN_NODE_SCALAR, "workload.size")) != 0) {
            return rc;
        }
        if (scn__parse_bytes(size->text, &bytes, why, sizeof(why)) != 0) {
            return scn__fail(check->error, SCN_ESCHEMA, size, "workload.size: %s", why);
        }
        if (bytes > 64ull * 1024 * 1024) {
            return scn__fail(check->error, SCN_ESCHEMA, size,
                             "workload.size must be at most 64MiB, got %s", size->text);
        }
        w->size_bytes = (uint32_t)bytes;
    }
    return 0;
}

/* The first key of 'names' present in 'section', or NULL. */
static const scn_node *workload_first_key(const scn_node *section, const char *const *names)
{
    for (size_t i = 0; i < section->count; i++) {
        for (size_t j = 0; names[j] != NULL; j++) {
            if (strcmp(section->keys[i]->text, names[j]) == 0) {
                return section->keys[i];
            }
        }
    }
    return NULL;
}

static int workload_kind(scn_check *check, const scn_node *section)
{
    static const char *const kinds[] = {"gossip", "inference", NULL};
    scn_workload *w = &check->scenario->workload;
    const scn_node *kind_node = scn__map_get(section, "kind");
    int kind = (int)w->kind;
    int rc = scn__get_enum(check, kind_node, "workload.kind", kinds, &kind);
    if (rc != 0) {
        return rc;
    }
    w->kind = (scn_workload_kind)kind;
    if (w->kind == SCN_WORKLOAD_INFERENCE && check->model == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, kind_node,
                         "workload.kind inference needs a model section");
    }
    bool gossip = w->kind == SCN_WORKLOAD_GOSSIP;
    const char *other[16];
    scn__keys_under("workload", gossip ? "inference" : "gossip", other, UTIL_ARRAY_COUNT(other));
    const scn_node *wrong = workload_first_key(section, other);
    if (wrong != NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, wrong,
                         "workload.%s is not used by the %s workload (it is for %s)", wrong->text,
                         gossip ? "gossip" : "inference", gossip ? "inference" : "gossip");
    }
    return 0;
}

/* workload.times: explicit arrival instants, sorted, inside [start, duration). */
static int workload_times(scn_check *check, const scn_node *times)
{
    scn_workload *w = &check->scenario->workload;
    uint64_t duration = check->scenario->duration_ns;
    int rc = scn__check_kind(check, times, SCN_NODE_SEQ, "workload.times");
    if (rc != 0) {
        return rc;
    }
    if (times->count > SCN_TIMES_MAX) {
        return scn__fail(check->error, SCN_ESCHEMA, times->values[SCN_TIMES_MAX],
                         "too many workload.times (at most %d)", SCN_TIMES_MAX);
    }
    for (size_t i = 0; i < times->count; i++) {
        const scn_node *item = times->values[i];
        char path[48];
        char a[32];
        char b[32];
        snprintf(path, sizeof(path), "workload.times.%zu", i);
        uint64_t *t = &w->times_ns[i];
        if ((rc = scn__get_duration(check, item, path, t)) != 0) {
            return rc;
        }
        scn__format_duration(*t, a, sizeof(a));
        if (i > 0 && *t < w->times_ns[i - 1]) {
            scn__format_duration(w->times_ns[i - 1], b, sizeof(b));
            return scn__fail(check->error, SCN_ESCHEMA, item,
                             "%s (%s) is before workload.times.%zu (%s): times must not decrease",
                             path, a, i - 1, b);
        }
        if (*t < w->start_ns) {
            scn__format_duration(w->start_ns, b, sizeof(b));
            return scn__fail(check->error, SCN_ESCHEMA, item,
                             "%s (%s) must be at or after workload.start (%s)", path, a, b);
        }
        if (*t >= duration) {
            scn__format_duration(duration, b, sizeof(b));
            return scn__fail(check->error, SCN_ESCHEMA, item,
                             "%s (%s) must be before the end of the run (duration %s)", path, a, b);
        }
    }
    w->time_count = (uint32_t)times->count;
    return 0;
}

/* prompt_tokens: N, or [min, max]. */
static int workload_prompt(scn_check *check, const scn_node *prompt)
{
    scn_workload *w = &check->scenario->workload;
    uint64_t min = w->prompt_min;
    uint64_t max = w->prompt_max;
    int rc = 0;
    if (prompt == NULL) {
        return 0;
    }
    if (prompt->kind == SCN_NODE_SEQ && prompt->count == 2) {
        if ((rc = scn__get_uint(check, prompt->values[0], "workload.prompt_tokens", 1,
                                UINT32_MAX, &min)) != 0 ||
            (rc = scn__get_uint(check, prompt->values[1], "workload.prompt_tokens", 1,
                                UINT32_MAX, &max)) != 0) {
            return rc;
        }
        if (min > max) {
            return scn__fail(check->error, SCN_ESCHEMA, prompt,
                             "workload.prompt_tokens [%llu, %llu] needs min <= max",
                             (unsigned long long)min, (unsigned long long)max);
        }
    } else if (prompt->kind == SCN_NODE_SCALAR) {
        rc = scn__get_uint(check, prompt, "workload.prompt_tokens", 1, UINT32_MAX, &min);
        max = min;
    } else {
        return scn__fail(check->error, SCN_ESCHEMA, prompt,
                         "workload.prompt_tokens must be a token count or [min, max]");
    }
    w->prompt_min = (uint32_t)min;
    w->prompt_max = (uint32_t)max;
    return rc;
}

/* Arrival explicit <=> times given; requests must match the times. */
static int workload_explicit(scn_check *check, const scn_node *section)
{
    scn_workload *w = &check->scenario->workload;
    const scn_node *arrival = scn__map_get(section, "arrival");
    const scn_node *times = scn__map_get(section, "times");
    const scn_node *requests = scn__map_get(section, "requests");
    if (w->arrival == SCN_ARRIVAL_EXPLICIT && w->kind != SCN_WORKLOAD_INFERENCE) {
        return scn__fail(check->error, SCN_ESCHEMA, arrival,
                         "workload.arrival explicit is only for the inference workload");
    }
    if (times != NULL && arrival == NULL) {
        w->arrival = SCN_ARRIVAL_EXPLICIT;     /* times alone imply explicit arrival */
    }
    if (w->arrival == SCN_ARRIVAL_EXPLICIT && times == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, arrival,
                         "workload.arrival explicit needs workload.times");
    }
    if (times == NULL) {
        return 0;
    }
    if (w->arrival != SCN_ARRIVAL_EXPLICIT) {
        return scn__fail(check->error, SCN_ESCHEMA, times,
                         "workload.times needs arrival: explicit");
    }
    int rc = workload_times(check, times);
    if (rc == 0 && requests != NULL && w->requests != w->time_count) {
        return scn__fail(check->error, SCN_ESCHEMA, requests,
                         "workload.requests (%u) must equal the number of workload.times (%u)",
                         w->requests, w->time_count);
    }
    w->requests = w->time_count;
    return rc;
}

/* workload.failover and its step_timeout (only with failover on). */
static int workload_failover(scn_check *check, const scn_node *section)
{
    scn_workload *w = &check->scenario->workload;
    const scn_node *step = scn__map_get(section, "step_timeout");
    int rc = scn__get_bool(check, scn__map_get(section, "failover"), "workload.failover",
                           &w->failover);
    if (rc != 0 || step == NULL) {
        return rc;
    }
    if (!w->failover) {
        return scn__fail(check->error, SCN_ESCHEMA, step,
                         "workload.step_timeout needs workload.failover: true");
    }
    if ((rc = scn__get_duration(check, step, "workload.step_timeout", &w->step_timeout_ns)) != 0) {
        return rc;
    }
    if (w->step_timeout_ns == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, step, "workload.step_timeout must be > 0");
    }
    return 0;
}

/* workload.routing and its routing_choices (only with latency routing). */
static int workload_routing(scn_check *check, const scn_node *section)
{
    static const char *const routings[] = {"hash", "latency", NULL};
    scn_workload *w = &check->scenario->workload;
    const scn_node *choices = scn__map_get(section, "routing_choices");
    int routing = (int)w->routing;
    uint64_t k = w->routing_choices;
    int rc = scn__get_enum(check, scn__map_get(section, "routing"), "workload.routing", routings,
                           &routing);
    if (rc != 0) {
        return rc;
    }
    w->routing = (scn_routing)routing;
    if (choices == NULL) {
        return 0;
    }
    if (w->routing != SCN_ROUTING_LATENCY) {
        return scn__fail(check->error, SCN_ESCHEMA, choices,
                         "workload.routing_choices needs workload.routing: latency");
    }
    rc = scn__get_uint(check, choices, "workload.routing_choices", 1, 1024, &k);
    w->routing_choices = (uint32_t)k;
    return rc;
}

/* workload.until: an early end of the arrivals. */
static int workload_until(scn_check *check, const scn_node *section)
{
    static const char *const untils[] = {"requests", "all_served", NULL};
    scn_workload *w = &check->scenario->workload;
    int until = (int)w->until;
    int rc = scn__get_enum(check, scn__map_get(section, "until"), "workload.until", untils,
                           &until);
    w->until = (scn_until)until;
    return rc;
}

static int workload_inference(scn_check *check, const scn_node *section)
{
    scn_workload *w = &check->scenario->workload;
    uint64_t requests = w->requests;
    uint64_t generate = w->generate_tokens;
    const scn_node *timeout = scn__map_get(section, "timeout");
    int rc = 0;
    if ((rc = scn__get_uint(check, scn__map_get(section, "requests"), "workload.requests", 0,
                            1000000, &requests)) != 0 ||
        (rc = scn__get_uint(check, scn__map_get(section, "generate"), "workload.generate", 1,
                            UINT32_MAX, &generate)) != 0 ||
        (rc = scn__get_duration(check, timeout, "workload.timeout",
                                &w->request_timeout_ns)) != 0 ||
        (rc = workload_prompt(check, scn__map_get(section, "prompt_tokens"))) != 0 ||
        (rc = scn__check_prompts(check, section)) != 0) {
        return rc;
    }
    if (w->request_timeout_ns == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, timeout, "workload.timeout must be > 0");
    }
    if ((rc = workload_failover(check, section)) != 0 ||
        (rc = workload_routing(check, section)) != 0 ||
        (rc = workload_until(check, section)) != 0) {
        return rc;
    }
    w->requests = (uint32_t)requests;
    w->generate_tokens = (uint32_t)generate;
    return 0;
}

/* Prompt plus generated tokens must fit the model's context. */
static int workload_context(scn_check *check, const scn_node *section)
{
    const scn_workload *w = &check->scenario->workload;
    const scn_model *m = &check->scenario->model;
    uint64_t need = (uint64_t)w->prompt_max + w->generate_tokens;
    if (w->kind != SCN_WORKLOAD_INFERENCE || need <= m->seq_len) {
        return 0;
    }
    const scn_node *where = NULL;
    if (section != NULL) {
        where = scn__map_get(section, w->prompt_count > 0 ? "prompts" : "generate");
        where = where != NULL ? where : scn__map_get(section, "prompt_tokens");
        where = where != NULL ? where : section;
    }
    if (w->prompt_count > 0) {
        return scn__fail(check->error, SCN_ESCHEMA, where != NULL ? where : check->model,
                         "workload.prompts: the longest prompt may take %u tokens (its bytes + "
                         "2); with workload.generate (%u) that is %llu, beyond the model's "
                         "seq_len (%u)",
                         w->prompt_max, w->generate_tokens, (unsigned long long)need, m->seq_len);
    }
    return scn__fail(check->error, SCN_ESCHEMA, where != NULL ? where : check->model,
                     "workload.prompt_tokens max (%u) + workload.generate (%u) = %llu exceeds "
                     "the model's seq_len (%u)",
                     w->prompt_max, w->generate_tokens, (unsigned long long)need, m->seq_len);
}

int scn__check_workload(scn_check *check, const scn_node *root)
{
    static const char *const arrivals[] = {"poisson", "constant", "explicit", NULL};
    scn_workload *w = &check->scenario->workload;
    w->kind = check->model != NULL ? SCN_WORKLOAD_INFERENCE : SCN_WORKLOAD_GOSSIP;
    const scn_node *section = scn__map_get(root, "workload");
    int rc = scn__check_section(check, section, "workload", "workload");
    if (rc != 0 || section == NULL) {
        return rc != 0 ? rc : workload_context(check, NULL);
    }
    uint64_t messages = w->messages;
    int arrival = (int)w->arrival;
    if ((rc = workload_kind(check, section)) != 0 ||
        (rc = scn__get_uint(check, scn__map_get(section, "messages"), "workload.messages", 0,
                            SCN_MESSAGES_MAX, &messages)) != 0 ||
        (rc = scn__get_enum(check, scn__map_get(section, "arrival"), "workload.arrival",
                            arrivals, &arrival)) != 0 ||
        (rc = scn__get_duration(check, scn__map_get(section, "start"), "workload.start",
                                &w->start_ns)) != 0 ||
        (rc = workload_rate_size(check, section)) != 0) {
        return rc;
    }
    w->messages = (uint32_t)messages;
    w->arrival = (scn_arrival)arrival;
    if (w->kind == SCN_WORKLOAD_INFERENCE && (rc = workload_inference(check, section)) != 0) {
        return rc;
    }
    if ((rc = workload_explicit(check, section)) != 0) {
        return rc;
    }
    return workload_context(check, section);
}
