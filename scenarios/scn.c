/* scn.c -- the public face of scenarios/: load, validate, destroy, and the
 * validation of the top level, nodes, network, gossip and output sections
 * (the model is in scn_model.c, the workload in scn_workload.c, verification
 * in scn_verify.c, faults and expectations in scn_fault.c). The pipeline is
 * text -> located node tree (scn_tree.c) -> --set overrides -> checks that
 * fill an scn_scenario preloaded with defaults -> params and hash
 * (scn_params.c). Every error names the offending node's file:line:col; input
 * is never ASSERTed on. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/scn_int.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/hash.h"

/* Files larger than this are not scenarios. */
#define SCN_FILE_BYTES_MAX (16u * 1024u * 1024u)

const scn_metric_info scn_metrics[SCN_METRIC_COUNT] = {
#define SCN_METRIC_ROW(suffix, name, unit, runs, expect, doc)                                   \
    {name, unit, SCN_METRIC_RUNS_##runs, expect, doc},
    SCN_METRICS(SCN_METRIC_ROW)
#undef SCN_METRIC_ROW
};

/* Linear over a few dozen rows; cannot fail. */
int scn_metric_find(const char *name)
{
    for (int m = 0; m < SCN_METRIC_COUNT; m++) {
        if (strcmp(scn_metrics[m].name, name) == 0) {
            return m;
        }
    }
    return -1;
}

/* Sections that later versions add: named so the message says "not yet". */
static const char *const scn_future_sections[] = {
    "testbed", "adversary", "economics", NULL,
};

static bool scn_name_in(const char *name, const char *const *names)
{
    for (size_t i = 0; names[i] != NULL; i++) {
        if (strcmp(names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

void scn__names_join(const char *const *names, char *buffer, size_t size)
{
    size_t used = 0;
    buffer[0] = '\0';
    for (size_t i = 0; names[i] != NULL && used < size; i++) {
        int n = snprintf(buffer + used, size - used, "%s%s", i == 0 ? "" : ", ", names[i]);
        if (n < 0) {
            break;
        }
        used += (size_t)n;
    }
}

/* ---- shared checks ------------------------------------------------------- */

/* The allowed list is the table's (scn_keys.c); the message lists it. */
int scn__check_keys(scn_check *check, const scn_node *map, const char *where,
                    const char *section)
{
    const char *allowed[64];
    scn__keys_under(section, NULL, allowed, UTIL_ARRAY_COUNT(allowed));
    for (size_t i = 0; i < map->count; i++) {
        const scn_node *key = map->keys[i];
        /* Top-level "x-..." keys hold anchors for reuse and are ignored. */
        bool ignored = where[0] == '\0' && strncmp(key->text, "x-", 2) == 0;
        if (ignored || scn_name_in(key->text, allowed)) {
            continue;
        }
        char list[200];
        scn__names_join(allowed, list, sizeof(list));
        if (where[0] == '\0') {
            return scn__fail(check->error, SCN_ESCHEMA, key,
                             "unknown key '%s' at the top level (expected one of: %s)",
                             key->text, list);
        }
        return scn__fail(check->error, SCN_ESCHEMA, key,
                         "unknown key '%s' in %s (expected one of: %s)", key->text, where, list);
    }
    return 0;
}

static const char *scn_kind_word(scn_node_kind kind)
{
    return kind == SCN_NODE_MAP ? "a map" : kind == SCN_NODE_SEQ ? "a sequence" : "a scalar";
}

int scn__check_kind(scn_check *check, const scn_node *node, scn_node_kind kind,
                    const char *path)
{
    if (node->kind == kind) {
        return 0;
    }
    return scn__fail(check->error, SCN_ESCHEMA, node, "expected %s for '%s', got %s",
                     scn_kind_word(kind), path, scn__node_kind_name(node));
}

int scn__get_uint(scn_check *check, const scn_node *node, const char *path, uint64_t min,
                  uint64_t max, uint64_t *out)
{
    if (node == NULL) {
        return 0;
    }
    int rc = scn__check_kind(check, node, SCN_NODE_SCALAR, path);
    if (rc != 0) {
        return rc;
    }
    char why[200];
    uint64_t value = 0;
    if (scn__parse_uint(node->text, &value, why, sizeof(why)) != 0) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "%s: %s", path, why);
    }
    if (value < min || value > max) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "%s must be between %llu and %llu, got %s", path,
                         (unsigned long long)min, (unsigned long long)max, node->text);
    }
    *out = value;
    return 0;
}

/* A scalar through one of the unit parsers; errors name the key. */
static int scn_get_unit(scn_check *check, const scn_node *node, const char *path,
                        int (*parse)(const char *, uint64_t *, char *, size_t), uint64_t *out)
{
    if (node == NULL) {
        return 0;
    }
    int rc = scn__check_kind(check, node, SCN_NODE_SCALAR, path);
    if (rc != 0) {
        return rc;
    }
    char why[200];
    if (parse(node->text, out, why, sizeof(why)) != 0) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "%s: %s", path, why);
    }
    return 0;
}

int scn__get_duration(scn_check *check, const scn_node *node, const char *path, uint64_t *out)
{
    return scn_get_unit(check, node, path, scn__parse_duration, out);
}

int scn__get_rate(scn_check *check, const scn_node *node, const char *path, double *out)
{
    if (node == NULL) {
        return 0;
    }
    int rc = scn__check_kind(check, node, SCN_NODE_SCALAR, path);
    if (rc != 0) {
        return rc;
    }
    char why[200];
    if (scn__parse_rate(node->text, out, why, sizeof(why)) != 0) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "%s: %s", path, why);
    }
    return 0;
}

int scn__get_number(scn_check *check, const scn_node *node, const char *path, double *out)
{
    int rc = scn__check_kind(check, node, SCN_NODE_SCALAR, path);
    if (rc != 0) {
        return rc;
    }
    char why[200];
    if (scn__parse_number(node->text, out, why, sizeof(why)) != 0) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "%s: %s", path, why);
    }
    return 0;
}

int scn__get_fraction(scn_check *check, const scn_node *node, const char *path, bool zero_ok,
                      double *out)
{
    if (node == NULL) {
        return 0;
    }
    double value = 0;
    int rc = scn__get_number(check, node, path, &value);
    if (rc != 0) {
        return rc;
    }
    if (value < 0 || value > 1 || (!zero_ok && value == 0)) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "%s must be in %s, got %s", path,
                         zero_ok ? "[0, 1]" : "(0, 1]", node->text);
    }
    *out = value;
    return 0;
}

int scn__get_enum(scn_check *check, const scn_node *node, const char *path,
                  const char *const *names, int *out)
{
    if (node == NULL) {
        return 0;
    }
    int rc = scn__check_kind(check, node, SCN_NODE_SCALAR, path);
    if (rc != 0) {
        return rc;
    }
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(names[i], node->text) == 0) {
            *out = i;
            return 0;
        }
    }
    char list[200];
    scn__names_join(names, list, sizeof(list));
    return scn__fail(check->error, SCN_ESCHEMA, node, "unknown %s '%s' (expected one of: %s)",
                     path, node->text, list);
}

int scn__get_string(scn_check *check, const scn_node *node, const char *path, char *out,
                    size_t size)
{
    if (node == NULL) {
        return 0;
    }
    int rc = scn__check_kind(check, node, SCN_NODE_SCALAR, path);
    if (rc != 0) {
        return rc;
    }
    if (node->text[0] == '\0') {
        return scn__fail(check->error, SCN_ESCHEMA, node, "%s must not be empty", path);
    }
    if (strlen(node->text) >= size) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "%s is too long (at most %zu bytes)",
                         path, size - 1);
    }
    snprintf(out, size, "%s", node->text);
    return 0;
}

static int scn_get_bitrate(scn_check *check, const scn_node *node, const char *path,
                           uint64_t *out)
{
    return scn_get_unit(check, node, path, scn__parse_bitrate, out);
}

/* A section: absent is fine (NULL), anything but a map is a type error. */
int scn__check_section(scn_check *check, const scn_node *node, const char *path,
                       const char *section)
{
    if (node == NULL) {
        return 0;
    }
    int rc = scn__check_kind(check, node, SCN_NODE_MAP, path);
    return rc != 0 ? rc : scn__check_keys(check, node, path, section);
}

/* ---- defaults and the top level ------------------------------------------ */

/* Hardware of a class that does not say: 16GiB, 10 TFLOPS, the reference
 * kernel, 100us per compute call. */
static void scn_class_defaults(scn_class *c)
{
    c->memory_bytes = 16ull * 1024 * 1024 * 1024;
    c->flops_per_s = 10e12;
    c->kernel = SCN_KERNEL_SEQUENTIAL;
    c->overhead_ns = 100000ull;
    c->max_batch = 1;
}

static void scn_defaults(scn_scenario *s, const char *file)
{
    const char *base = strrchr(file, '/');
    base = base != NULL ? base + 1 : file;
    size_t length = strlen(base);
    if (length > 5 && strcmp(base + length - 5, ".yaml") == 0) {
        length -= 5;
    } else if (length > 4 && strcmp(base + length - 4, ".yml") == 0) {
        length -= 4;
    }
    if (length >= SCN_NAME_MAX) {
        length = SCN_NAME_MAX - 1;
    }
    memcpy(s->name, base, length);
    s->name[length] = '\0';
    snprintf(s->source_path, sizeof(s->source_path), "%s", file);
    s->seed = 1;
    s->duration_ns = 10000000000ull;
    s->network.latency.kind = SCN_LATENCY_CONSTANT;
    s->network.latency.value_ns = 20000000ull;
    s->network.latency.sigma = 0.5;
    s->network.bandwidth_bps = 1000000000ull;
    s->network.reorder_delay_ns = 10000000ull;
    s->nodes.class_count = 1;
    snprintf(s->nodes.classes[0].name, SCN_NAME_MAX, "default");
    s->nodes.classes[0].fraction = 1.0;
    scn_class_defaults(&s->nodes.classes[0]);
    s->nodes.region_count = 1;
    snprintf(s->nodes.regions[0].name, SCN_NAME_MAX, "default");
    s->nodes.regions[0].fraction = 1.0;
    s->gossip.mode = SCN_GOSSIP_PUSH;
    s->gossip.fanout = 6;
    s->gossip.pull_interval_ns = 500000000ull;
    s->gossip.pull_max = 16;
    s->workload.messages = 100;
    s->workload.rate_per_s = 100.0;
    s->workload.arrival = SCN_ARRIVAL_POISSON;
    s->workload.size_bytes = 1024;
    s->workload.requests = 100;
    s->workload.prompt_min = 16;
    s->workload.prompt_max = 16;
    s->workload.generate_tokens = 8;
    s->workload.request_timeout_ns = 30000000000ull;
    s->workload.step_timeout_ns = 500000000ull;
    s->workload.routing = SCN_ROUTING_HASH;
    s->workload.routing_choices = 3;
    s->model.source = SCN_MODEL_NONE;
    scn__verification_defaults(&s->verification);
    snprintf(s->output.db, sizeof(s->output.db), "results.db");
    s->output.sample_interval_ns = 100000000ull;
    s->output.divergence_sample = 1.0;
    s->output.node_series = true;
    s->output.decisions = true;
}

static int scn_check_top(scn_check *check, const scn_node *root)
{
    for (size_t i = 0; i < root->count; i++) {
        if (scn_name_in(root->keys[i]->text, scn_future_sections)) {
            return scn__fail(check->error, SCN_ESCHEMA, root->keys[i],
                             "section '%s' is not supported yet", root->keys[i]->text);
        }
    }
    int rc = scn__check_keys(check, root, "", "");
    if (rc != 0) {
        return rc;
    }
    scn_scenario *s = check->scenario;
    if ((rc = scn__get_string(check, scn__map_get(root, "name"), "name", s->name,
                              sizeof(s->name))) != 0 ||
        (rc = scn__get_uint(check, scn__map_get(root, "seed"), "seed", 0, UINT64_MAX,
                            &s->seed)) != 0) {
        return rc;
    }
    const scn_node *duration = scn__map_get(root, "duration");
    if ((rc = scn__get_duration(check, duration, "duration", &s->duration_ns)) != 0) {
        return rc;
    }
    if (s->duration_ns == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, duration, "duration must be > 0");
    }
    return 0;
}

/* ---- nodes --------------------------------------------------------------- */

/* What the classes and regions lists share: unique names, fractions summing
 * to one. */
typedef struct scn_shares {
    const char *path;             /* "nodes.classes" */
    const char *noun;             /* "class" */
    size_t count;
    const scn_node *entries[SCN_CLASSES_MAX];
    char names[SCN_CLASSES_MAX][SCN_NAME_MAX];
    double fractions[SCN_CLASSES_MAX];
} scn_shares;

_Static_assert(SCN_CLASSES_MAX == SCN_REGIONS_MAX, "classes and regions share scn_shares");

static int scn_shares_entry(scn_check *check, scn_shares *shares, const scn_node *entry)
{
    char path[96];
    char section[96];
    size_t index = shares->count;
    snprintf(path, sizeof(path), "%s.%zu", shares->path, index);
    snprintf(section, sizeof(section), "%s[]", shares->path);
    int rc = scn__check_section(check, entry, path, section);
    if (rc != 0) {
        return rc;
    }
    char field[112];
    const scn_node *name = scn__map_get(entry, "name");
    const scn_node *fraction = scn__map_get(entry, "fraction");
    if (name == NULL || fraction == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, entry, "%s: missing required key '%s'",
                         path, name == NULL ? "name" : "fraction");
    }
    snprintf(field, sizeof(field), "%s.name", path);
    if ((rc = scn__get_string(check, name, field, shares->names[index], SCN_NAME_MAX)) != 0) {
        return rc;
    }
    for (size_t i = 0; i < index; i++) {
        if (strcmp(shares->names[i], shares->names[index]) == 0) {
            return scn__fail(check->error, SCN_ESCHEMA, name,
                             "duplicate %s name '%s' in %s (first at line %u)", shares->noun,
                             shares->names[index], shares->path, shares->entries[i]->line);
        }
    }
    snprintf(field, sizeof(field), "%s.fraction", path);
    if ((rc = scn__get_fraction(check, fraction, field, false, &shares->fractions[index])) != 0) {
        return rc;
    }
    shares->entries[index] = entry;
    shares->count += 1;
    return 0;
}

static int scn_shares_read(scn_check *check, scn_shares *shares, const scn_node *list)
{
    int rc = scn__check_kind(check, list, SCN_NODE_SEQ, shares->path);
    if (rc != 0) {
        return rc;
    }
    if (list->count == 0 || list->count > SCN_CLASSES_MAX) {
        return scn__fail(check->error, SCN_ESCHEMA, list, "%s needs 1 to %d entries, got %zu",
                         shares->path, SCN_CLASSES_MAX, list->count);
    }
    double sum = 0;
    for (size_t i = 0; i < list->count; i++) {
        if ((rc = scn_shares_entry(check, shares, list->values[i])) != 0) {
            return rc;
        }
        sum += shares->fractions[i];
    }
    if (fabs(sum - 1.0) > 1e-6) {
        return scn__fail(check->error, SCN_ESCHEMA, list,
                         "fractions in %s sum to %.9g, expected 1", shares->path, sum);
    }
    return 0;
}

/* The class's memory bandwidth (absent or 0: compute time is FLOPs alone). */
static int scn_class_memory_bandwidth(scn_check *check, const scn_node *node, const char *path,
                                      scn_class *c)
{
    char why[200];
    int rc = 0;
    if (node == NULL || (rc = scn__check_kind(check, node, SCN_NODE_SCALAR, path)) != 0) {
        return rc;
    }
    if (scn__parse_byterate(node->text, &c->memory_bandwidth_bytes_per_s, why, sizeof(why)) != 0) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "%s: %s", path, why);
    }
    return 0;
}

/* Memory, FLOP rate, kernel and overhead of class 'i' (defaults stay when absent). */
static int scn_class_hardware(scn_check *check, const scn_node *entry, size_t i, scn_class *c)
{
    static const char *const kernels[] = {"sequential", "blocked", "fma", "bf16", "q8", NULL};
    char path[96];
    char why[200];
    int rc = 0;
    const scn_node *memory = scn__map_get(entry, "memory");
    snprintf(path, sizeof(path), "nodes.classes.%zu.memory", i);
    if (memory != NULL && (rc = scn__check_kind(check, memory, SCN_NODE_SCALAR, path)) == 0) {
        if (scn__parse_bytes(memory->text, &c->memory_bytes, why, sizeof(why)) != 0) {
            return scn__fail(check->error, SCN_ESCHEMA, memory, "%s: %s", path, why);
        }
        if (c->memory_bytes == 0) {
            return scn__fail(check->error, SCN_ESCHEMA, memory, "%s must be > 0", path);
        }
    }
    const scn_node *flops = scn__map_get(entry, "flops");
    snprintf(path, sizeof(path), "nodes.classes.%zu.flops", i);
    if (rc == 0 && flops != NULL &&
        (rc = scn__check_kind(check, flops, SCN_NODE_SCALAR, path)) == 0) {
        if (scn__parse_flops(flops->text, &c->flops_per_s, why, sizeof(why)) != 0) {
            return scn__fail(check->error, SCN_ESCHEMA, flops, "%s: %s", path, why);
        }
        if (c->flops_per_s < 1 || c->flops_per_s > 1e21) {
            return scn__fail(check->error, SCN_ESCHEMA, flops,
                             "%s must be between 1FLOPS and 1000000PFLOPS, got %s", path,
                             flops->text);
        }
    }
    int kernel = (int)c->kernel;
    snprintf(path, sizeof(path), "nodes.classes.%zu.kernel", i);
    if (rc == 0 &&
        (rc = scn__get_enum(check, scn__map_get(entry, "kernel"), path, kernels, &kernel)) == 0) {
        c->kernel = (scn_kernel)kernel;
        snprintf(path, sizeof(path), "nodes.classes.%zu.overhead", i);
        rc = scn__get_duration(check, scn__map_get(entry, "overhead"), path, &c->overhead_ns);
    }
    snprintf(path, sizeof(path), "nodes.classes.%zu.memory_bandwidth", i);
    if (rc == 0) {
        rc = scn_class_memory_bandwidth(check, scn__map_get(entry, "memory_bandwidth"), path, c);
    }
    snprintf(path, sizeof(path), "nodes.classes.%zu.tee", i);
    if (rc == 0) {
        rc = scn__get_bool(check, scn__map_get(entry, "tee"), path, &c->tee);
    }
    uint64_t max_batch = c->max_batch;
    snprintf(path, sizeof(path), "nodes.classes.%zu.max_batch", i);
    if (rc == 0 && (rc = scn__get_uint(check, scn__map_get(entry, "max_batch"), path, 1,
                                       SCN_MAX_BATCH_MAX, &max_batch)) == 0) {
        c->max_batch = (uint32_t)max_batch;
    }
    return rc;
}

static int scn_check_classes(scn_check *check, const scn_node *list)
{
    scn_shares shares = {.path = "nodes.classes", .noun = "class"};
    int rc = scn_shares_read(check, &shares, list);
    if (rc != 0) {
        return rc;
    }
    scn_nodes *nodes = &check->scenario->nodes;
    nodes->class_count = (uint32_t)shares.count;
    for (size_t i = 0; i < shares.count; i++) {
        scn_class *c = &nodes->classes[i];
        memcpy(c->name, shares.names[i], SCN_NAME_MAX);
        c->fraction = shares.fractions[i];
        c->bandwidth_bps = 0;
        scn_class_defaults(c);
        char path[96];
        snprintf(path, sizeof(path), "nodes.classes.%zu.bandwidth", i);
        const scn_node *bandwidth = scn__map_get(shares.entries[i], "bandwidth");
        if ((rc = scn_get_bitrate(check, bandwidth, path, &c->bandwidth_bps)) != 0 ||
            (rc = scn_class_hardware(check, shares.entries[i], i, c)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int scn_check_regions(scn_check *check, const scn_node *list)
{
    scn_shares shares = {.path = "nodes.regions", .noun = "region"};
    int rc = scn_shares_read(check, &shares, list);
    if (rc != 0) {
        return rc;
    }
    scn_nodes *nodes = &check->scenario->nodes;
    nodes->region_count = (uint32_t)shares.count;
    for (size_t i = 0; i < shares.count; i++) {
        memcpy(nodes->regions[i].name, shares.names[i], SCN_NAME_MAX);
        nodes->regions[i].fraction = shares.fractions[i];
    }
    return 0;
}

static int scn_check_nodes(scn_check *check, const scn_node *root)
{
    const scn_node *section = scn__map_get(root, "nodes");
    int rc = scn__check_section(check, section, "nodes", "nodes");
    if (rc != 0) {
        return rc;
    }
    const scn_node *count = section != NULL ? scn__map_get(section, "count") : NULL;
    if (count == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, section != NULL ? section : root,
                         "missing required key 'nodes.count'");
    }
    uint64_t value = 0;
    if ((rc = scn__get_uint(check, count, "nodes.count", 2, SCN_NODES_MAX, &value)) != 0) {
        return rc;
    }
    check->scenario->nodes.count = (uint32_t)value;
    const scn_node *classes = scn__map_get(section, "classes");
    if (classes != NULL && (rc = scn_check_classes(check, classes)) != 0) {
        return rc;
    }
    const scn_node *regions = scn__map_get(section, "regions");
    if (regions != NULL && (rc = scn_check_regions(check, regions)) != 0) {
        return rc;
    }
    return 0;
}

/* ---- network ------------------------------------------------------------- */

static int scn_check_latency(scn_check *check, const scn_node *section)
{
    static const char *const models[] = {"constant", "uniform", "normal", "lognormal", NULL};
    int rc = scn__check_section(check, section, "network.latency", "network.latency");
    if (rc != 0 || section == NULL) {
        return rc;
    }
    scn_latency *l = &check->scenario->network.latency;
    int kind = (int)l->kind;
    const scn_node *max = scn__map_get(section, "max");
    const scn_node *sigma = scn__map_get(section, "sigma");
    if ((rc = scn__get_enum(check, scn__map_get(section, "model"), "network.latency.model",
                            models, &kind)) != 0 ||
        (rc = scn__get_duration(check, scn__map_get(section, "value"), "network.latency.value",
                                &l->value_ns)) != 0 ||
        (rc = scn__get_duration(check, scn__map_get(section, "min"), "network.latency.min",
                                &l->min_ns)) != 0 ||
        (rc = scn__get_duration(check, max, "network.latency.max", &l->max_ns)) != 0 ||
        (rc = scn__get_duration(check, scn__map_get(section, "stddev"),
                                "network.latency.stddev", &l->stddev_ns)) != 0) {
        return rc;
    }
    l->kind = (scn_latency_kind)kind;
    if (l->kind == SCN_LATENCY_UNIFORM && max == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, section,
                         "network.latency.max is required for the uniform model");
    }
    if (l->kind == SCN_LATENCY_UNIFORM && l->max_ns < l->min_ns) {
        return scn__fail(check->error, SCN_ESCHEMA, max,
                         "network.latency.max must be >= network.latency.min");
    }
    if (sigma != NULL) {
        char why[200];
        if ((rc = scn__check_kind(check, sigma, SCN_NODE_SCALAR, "network.latency.sigma")) != 0) {
            return rc;
        }
        if (scn__parse_number(sigma->text, &l->sigma, why, sizeof(why)) != 0) {
            return scn__fail(check->error, SCN_ESCHEMA, sigma, "network.latency.sigma: %s", why);
        }
        if (l->sigma < 0) {
            return scn__fail(check->error, SCN_ESCHEMA, sigma,
                             "network.latency.sigma must be >= 0, got %s", sigma->text);
        }
    }
    return 0;
}

static int scn_region_index(const scn_nodes *nodes, const char *name)
{
    for (uint32_t i = 0; i < nodes->region_count; i++) {
        if (strcmp(nodes->regions[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Reads the given pairs of the region matrix into set[][]. */
static int scn_matrix_read(scn_check *check, const scn_node *matrix,
                           bool set[SCN_REGIONS_MAX][SCN_REGIONS_MAX])
{
    const scn_nodes *nodes = &check->scenario->nodes;
    scn_network *net = &check->scenario->network;
    for (size_t i = 0; i < matrix->count; i++) {
        int from = scn_region_index(nodes, matrix->keys[i]->text);
        if (from < 0) {
            return scn__fail(check->error, SCN_ESCHEMA, matrix->keys[i],
                             "region '%s' in network.regions is not declared in nodes.regions",
                             matrix->keys[i]->text);
        }
        char path[128];
        snprintf(path, sizeof(path), "network.regions.%s", matrix->keys[i]->text);
        const scn_node *row = matrix->values[i];
        int rc = scn__check_kind(check, row, SCN_NODE_MAP, path);
        for (size_t j = 0; rc == 0 && j < row->count; j++) {
            int to = scn_region_index(nodes, row->keys[j]->text);
            if (to < 0) {
                return scn__fail(check->error, SCN_ESCHEMA, row->keys[j],
                                 "region '%s' in %s is not declared in nodes.regions",
                                 row->keys[j]->text, path);
            }
            char field[200];
            snprintf(field, sizeof(field), "%s.%s", path, row->keys[j]->text);
            rc = scn__get_duration(check, row->values[j], field,
                                   &net->region_latency_ns[from][to]);
            set[from][to] = true;
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int scn_check_matrix(scn_check *check, const scn_node *matrix)
{
    int rc = scn__check_kind(check, matrix, SCN_NODE_MAP, "network.regions");
    if (rc != 0) {
        return rc;
    }
    bool set[SCN_REGIONS_MAX][SCN_REGIONS_MAX];
    memset(set, 0, sizeof(set));
    if ((rc = scn_matrix_read(check, matrix, set)) != 0) {
        return rc;
    }
    scn_network *net = &check->scenario->network;
    const scn_nodes *nodes = &check->scenario->nodes;
    uint32_t count = nodes->region_count;
    for (uint32_t a = 0; a < count; a++) {
        for (uint32_t b = 0; b < count; b++) {
            if (!set[a][b] && set[b][a]) {
                net->region_latency_ns[a][b] = net->region_latency_ns[b][a];
                set[a][b] = true;
            }
        }
    }
    for (uint32_t a = 0; a < count; a++) {
        for (uint32_t b = a; b < count; b++) {
            if (!set[a][b]) {
                return scn__fail(check->error, SCN_ESCHEMA, matrix,
                                 "network.regions has no latency between '%s' and '%s'",
                                 nodes->regions[a].name, nodes->regions[b].name);
            }
        }
    }
    net->has_region_matrix = true;
    return 0;
}

static int scn_check_link_odds(scn_check *check, const scn_node *section)
{
    static const char *const names[] = {"loss", "duplicate", "reorder", "corrupt"};
    scn_network *net = &check->scenario->network;
    double *fields[] = {&net->loss, &net->duplicate, &net->reorder, &net->corrupt};
    for (size_t i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof(path), "network.%s", names[i]);
        int rc = scn__get_fraction(check, scn__map_get(section, names[i]), path, true, fields[i]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int scn_check_network(scn_check *check, const scn_node *root)
{
    const scn_node *section = scn__map_get(root, "network");
    int rc = scn__check_section(check, section, "network", "network");
    if (rc != 0 || section == NULL) {
        return rc;
    }
    scn_network *net = &check->scenario->network;
    const scn_node *bandwidth = scn__map_get(section, "bandwidth");
    const scn_node *matrix = scn__map_get(section, "regions");
    if ((rc = scn_check_latency(check, scn__map_get(section, "latency"))) != 0 ||
        (matrix != NULL && (rc = scn_check_matrix(check, matrix)) != 0) ||
        (rc = scn__get_duration(check, scn__map_get(section, "jitter"), "network.jitter",
                                &net->jitter_ns)) != 0 ||
        (rc = scn_get_bitrate(check, bandwidth, "network.bandwidth", &net->bandwidth_bps)) != 0 ||
        (rc = scn_check_link_odds(check, section)) != 0 ||
        (rc = scn__get_duration(check, scn__map_get(section, "reorder_delay"),
                                "network.reorder_delay", &net->reorder_delay_ns)) != 0) {
        return rc;
    }
    if (net->bandwidth_bps == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, bandwidth, "network.bandwidth must be > 0");
    }
    return 0;
}

/* ---- gossip, output ------------------------------------------------------ */

static int scn_check_gossip(scn_check *check, const scn_node *root)
{
    static const char *const modes[] = {"push", "pushpull", NULL};
    scn_gossip *g = &check->scenario->gossip;
    uint32_t count = check->scenario->nodes.count;
    /* The default fanout shrinks to fit a small network; an explicit one must fit. */
    g->fanout = count > 1 && count - 1 < g->fanout ? count - 1 : g->fanout;
    const scn_node *section = scn__map_get(root, "gossip");
    int rc = scn__check_section(check, section, "gossip", "gossip");
    if (rc != 0 || section == NULL) {
        return rc;
    }
    int mode = (int)g->mode;
    uint64_t fanout = g->fanout;
    uint64_t pull_max = g->pull_max;
    const scn_node *fanout_node = scn__map_get(section, "fanout");
    const scn_node *interval = scn__map_get(section, "pull_interval");
    if ((rc = scn__get_enum(check, scn__map_get(section, "mode"), "gossip.mode", modes,
                            &mode)) != 0 ||
        (rc = scn__get_uint(check, fanout_node, "gossip.fanout", 1, UINT32_MAX, &fanout)) != 0 ||
        (rc = scn__get_duration(check, interval, "gossip.pull_interval",
                                &g->pull_interval_ns)) != 0 ||
        (rc = scn__get_uint(check, scn__map_get(section, "pull_max"), "gossip.pull_max", 1, 1024,
                            &pull_max)) != 0) {
        return rc;
    }
    if (fanout_node != NULL && count > 1 && fanout > count - 1) {
        return scn__fail(check->error, SCN_ESCHEMA, fanout_node,
                         "gossip.fanout (%llu) must be less than nodes.count (%u)",
                         (unsigned long long)fanout, count);
    }
    if (g->pull_interval_ns == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, interval, "gossip.pull_interval must be > 0");
    }
    g->mode = (scn_gossip_mode)mode;
    g->fanout = (uint32_t)fanout;
    g->pull_max = (uint32_t)pull_max;
    return 0;
}

static int scn_check_output(scn_check *check, const scn_node *root)
{
    const scn_node *section = scn__map_get(root, "output");
    int rc = scn__check_section(check, section, "output", "output");
    if (rc != 0 || section == NULL) {
        return rc;
    }
    scn_output *o = &check->scenario->output;
    if ((rc = scn__get_string(check, scn__map_get(section, "db"), "output.db", o->db,
                              sizeof(o->db))) != 0) {
        return rc;
    }
    if ((rc = scn__get_fraction(check, scn__map_get(section, "divergence_sample"),
                                "output.divergence_sample", true, &o->divergence_sample)) != 0) {
        return rc;
    }
    if ((rc = scn__get_bool(check, scn__map_get(section, "node_series"), "output.node_series",
                            &o->node_series)) != 0) {
        return rc;
    }
    if ((rc = scn__get_bool(check, scn__map_get(section, "decisions"), "output.decisions",
                            &o->decisions)) != 0) {
        return rc;
    }
    return scn__get_duration(check, scn__map_get(section, "sample_interval"),
                             "output.sample_interval", &o->sample_interval_ns);
}

/* The timeseries a run may take: a period of 1ns for 1s (a slip for 1s)
 * would write rows until the disk is full. */
#define SCN_SAMPLES_MAX 10000000ull
/* And the rows output.node_series adds, one per node and sample. */
#define SCN_NODE_SERIES_ROWS_MAX 100000000ull

/* Where an error about the number of samples points: the period's key, or
 * else the duration's (NULL when the scenario sets neither). */
static const scn_node *scn_samples_key(const scn_node *root)
{
    const scn_node *output = scn__map_get(root, "output");
    const scn_node *at = output != NULL ? scn__map_get(output, "sample_interval") : NULL;
    return at != NULL ? at : scn__map_get(root, "duration");
}

/* Refuses a duration and sample period that take more than SCN_SAMPLES_MAX
 * samples, at the key the scenario wrote (the period's, or else the
 * duration's). */
static int scn_check_samples(scn_check *check, const scn_node *root)
{
    const scn_scenario *s = check->scenario;
    uint64_t interval = s->output.sample_interval_ns;
    if (interval == 0 || s->duration_ns / interval <= SCN_SAMPLES_MAX) {
        return 0;
    }
    const scn_node *at = scn_samples_key(root);
    char period[32];
    char duration[32];
    scn__format_duration(interval, period, sizeof(period));
    scn__format_duration(s->duration_ns, duration, sizeof(duration));
    return scn__fail(check->error, SCN_ESCHEMA, at,
                     "output.sample_interval %s over a duration of %s is %llu samples; at most"
                     " %llu (a longer period, or 0 for no timeseries)",
                     period, duration, (unsigned long long)(s->duration_ns / interval),
                     SCN_SAMPLES_MAX);
}

/* Refuses a verified run whose output.node_series (every node's balance at
 * every sample) comes to more than SCN_NODE_SERIES_ROWS_MAX timeseries rows:
 * about 6.5 GB of results file (65 bytes a row), and hours of storing. The
 * error is at the key the scenario wrote: node_series, else the period,
 * else the duration, else the node count. */
static int scn_check_node_series(scn_check *check, const scn_node *root)
{
    const scn_scenario *s = check->scenario;
    uint64_t interval = s->output.sample_interval_ns;
    if (interval == 0 || !s->output.node_series || s->workload.kind != SCN_WORKLOAD_INFERENCE ||
        s->verification.protocol == CONS_PROTOCOL_NONE) {
        return 0;
    }
    uint64_t samples = s->duration_ns / interval;
    if (samples == 0 || s->nodes.count <= SCN_NODE_SERIES_ROWS_MAX / samples) {
        return 0;
    }
    const scn_node *output = scn__map_get(root, "output");
    const scn_node *at = output != NULL ? scn__map_get(output, "node_series") : NULL;
    at = at != NULL ? at : scn_samples_key(root);
    const scn_node *nodes = scn__map_get(root, "nodes");
    at = at != NULL || nodes == NULL ? at : scn__map_get(nodes, "count");
    char period[32];
    scn__format_duration(interval, period, sizeof(period));
    return scn__fail(check->error, SCN_ESCHEMA, at,
                     "output.node_series writes every node's balance at every sample: %u nodes"
                     " x %llu samples (every %s) is %.3g rows; at most %.3g (set"
                     " output.node_series: false to keep the means, or a longer"
                     " output.sample_interval)",
                     s->nodes.count, (unsigned long long)samples, period,
                     (double)s->nodes.count * (double)samples, (double)SCN_NODE_SERIES_ROWS_MAX);
}

static int scn_check_all(scn_check *check, const scn_node *root)
{
    int rc = 0;
    const scn_node *faults = scn__map_get(root, "faults");
    const scn_node *expect = scn__map_get(root, "expect");
    if ((rc = scn_check_top(check, root)) != 0 || (rc = scn_check_nodes(check, root)) != 0 ||
        (rc = scn_check_network(check, root)) != 0 || (rc = scn_check_gossip(check, root)) != 0 ||
        (rc = scn__check_model(check, root)) != 0 ||
        (rc = scn__check_workload(check, root)) != 0 ||
        (rc = scn__check_verification(check, root)) != 0 ||
        (rc = scn__check_privacy(check, root)) != 0 ||
        (rc = scn__check_ledger(check, root)) != 0 ||
        (rc = scn__check_churn(check, root)) != 0 ||
        (faults != NULL && (rc = scn__check_faults(check, faults)) != 0) ||
        (expect != NULL && (rc = scn__check_expect(check, expect)) != 0) ||
        (rc = scn_check_output(check, root)) != 0 || (rc = scn_check_samples(check, root)) != 0 ||
        (rc = scn_check_node_series(check, root)) != 0 ||
        (rc = scn__check_sweep(check, root)) != 0) {
        return rc;
    }
    return 0;
}

/* ---- the public API ------------------------------------------------------ */

static int scn_load(const char *file, const char *text, const char *const *overrides,
                    size_t override_count, scn_scenario **out, scn_error *error)
{
    if (util_hash_init() != 0) {
        return scn__fail_at(error, SCN_ENOMEM, file, 0, 0, "cannot initialise libsodium");
    }
    scn_doc doc;
    int rc = scn__doc_parse(&doc, file, text, error);
    for (size_t i = 0; rc == 0 && i < override_count; i++) {
        ASSERT(overrides != NULL && overrides[i] != NULL);
        rc = scn__doc_override(&doc, overrides[i], error);
    }
    scn_scenario *scenario = NULL;
    if (rc == 0 && (scenario = util_calloc(1, sizeof(*scenario))) == NULL) {
        rc = scn__fail_at(error, SCN_ENOMEM, file, 0, 0, "out of memory");
    }
    if (rc == 0) {
        scn_check check = {.error = error, .scenario = scenario};
        scn_defaults(scenario, file);
        rc = scn_check_all(&check, doc.root);
    }
    if (rc == 0 && scn__params_build(scenario) != 0) {
        rc = scn__fail_at(error, SCN_ENOMEM, file, 0, 0, "out of memory");
    }
    scn__doc_free(&doc);
    if (rc != 0) {
        scn_destroy(scenario);
        return rc;
    }
    *out = scenario;
    return 0;
}

int scn_load_string(const char *name, const char *text, const char *const *overrides,
                    size_t override_count, scn_scenario **out, scn_error *error)
{
    ASSERT(name != NULL && text != NULL && out != NULL);
    *out = NULL;
    if (error != NULL) {
        memset(error, 0, sizeof(*error));
    }
    return scn_load(name, text, overrides, override_count, out, error);
}

/* Reads a whole file into a NUL-terminated buffer the caller frees. */
static int scn_file_read(const char *path, char **text_out, scn_error *error)
{
    *text_out = NULL;
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return scn__fail_at(error, SCN_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    }
    size_t size = 0;
    size_t capacity = 0;
    char *text = NULL;
    int rc = 0;
    for (;;) {
        if (capacity - size < 4097) {
            capacity = capacity == 0 ? 8192 : capacity * 2;
            char *grown = capacity > SCN_FILE_BYTES_MAX + 8192 ? NULL
                                                               : util_realloc(text, capacity);
            if (grown == NULL) {
                rc = capacity > SCN_FILE_BYTES_MAX + 8192
                         ? scn__fail_at(error, SCN_EIO, path, 0, 0, "file too large")
                         : scn__fail_at(error, SCN_ENOMEM, path, 0, 0, "out of memory");
                break;
            }
            text = grown;
        }
        size_t n = fread(text + size, 1, capacity - size - 1, file);
        size += n;
        if (n == 0) {
            if (ferror(file)) {
                rc = scn__fail_at(error, SCN_EIO, path, 0, 0, "cannot read: %s", strerror(errno));
            }
            break;
        }
    }
    fclose(file);
    if (rc != 0) {
        util_free(text);
        return rc;
    }
    text[size] = '\0';
    if (strlen(text) != size) {
        util_free(text);
        return scn__fail_at(error, SCN_EPARSE, path, 0, 0, "file contains a NUL byte");
    }
    *text_out = text;
    return 0;
}

int scn_load_file(const char *path, const char *const *overrides, size_t override_count,
                  scn_scenario **out, scn_error *error)
{
    ASSERT(path != NULL && out != NULL);
    *out = NULL;
    if (error != NULL) {
        memset(error, 0, sizeof(*error));
    }
    char *text = NULL;
    int rc = scn_file_read(path, &text, error);
    if (rc != 0) {
        return rc;
    }
    rc = scn_load(path, text, overrides, override_count, out, error);
    util_free(text);
    return rc;
}

void scn_destroy(scn_scenario *scenario)
{
    if (scenario == NULL) {
        return;
    }
    scn__params_free(scenario);
    util_free(scenario);
}

void scn_error_format(const scn_error *error, char *buffer, size_t size)
{
    ASSERT(error != NULL && buffer != NULL && size > 0);
    const char *file = error->file[0] != '\0' ? error->file : "scenario";
    if (error->line == 0) {
        snprintf(buffer, size, "%s: %s", file, error->message);
    } else {
        snprintf(buffer, size, "%s:%u:%u: %s", file, error->line, error->column, error->message);
    }
}

const char *scn_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case SCN_EPARSE:
        return "YAML syntax error";
    case SCN_ESCHEMA:
        return "invalid scenario";
    case SCN_EIO:
        return "cannot read scenario file";
    case SCN_ENOMEM:
        return "out of memory";
    case SCN_EUSAGE:
        return "malformed --set override";
    default:
        return "unknown scenario error";
    }
}
