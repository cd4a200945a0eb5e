/* scn_fault.c -- validation of the fault schedule, node selectors and the
 * expect block. Runs after nodes and network are converted, so selectors can
 * check ids against nodes.count and class/region names against the declared
 * lists, a reorder fault can inherit network.reorder_delay, and the
 * Byzantine behaviours (wrong_output, collude, lazy_copy, silent) can insist
 * on verification.protocol committee. Behaviours that later versions add
 * (equivocate, sybil, ...) are named, so their message says "not supported
 * yet" instead of "unknown". */
#include <stdio.h>
#include <string.h>

#include "scenarios/scn_int.h"
#include "util/assert.h"

const scn_fault_info scn_fault_kinds[SCN_FAULT_KIND_COUNT] = {
#define SCN_FAULT_KIND_ROW(suffix, name, byzantine, takes, doc) {name, byzantine, takes, doc},
    SCN_FAULT_KINDS(SCN_FAULT_KIND_ROW)
#undef SCN_FAULT_KIND_ROW
};

const char *const scn_fault_kind_names[SCN_FAULT_KIND_COUNT + 1] = {
#define SCN_FAULT_KIND_NAME(suffix, name, byzantine, takes, doc) name,
    SCN_FAULT_KINDS(SCN_FAULT_KIND_NAME)
#undef SCN_FAULT_KIND_NAME
    NULL,
};

/* Behaviours of later versions: named, so that a scenario using one is told
 * so instead of being half-run. */
static const char *const fault_future_kinds[] = {
    "clock_skew", NULL,
};

static const char *const fault_shapes[] = {"groups", "halves", "regions", "isolate", NULL};

static bool fault_name_in(const char *name, const char *const *names)
{
    for (size_t i = 0; names[i] != NULL; i++) {
        if (strcmp(names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static const scn_node *fault_key_node(const scn_node *map, const char *key)
{
    for (size_t i = 0; i < map->count; i++) {
        if (strcmp(map->keys[i]->text, key) == 0) {
            return map->keys[i];
        }
    }
    return NULL;
}

/* ---- selectors ----------------------------------------------------------- */

static int selector_id(scn_check *check, const scn_node *node, const char *path, uint32_t *out)
{
    uint64_t value = 0;
    uint32_t count = check->scenario->nodes.count;
    int rc = scn__get_uint(check, node, path, 0, UINT32_MAX, &value);
    if (rc != 0) {
        return rc;
    }
    if (value >= count) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "%s: node id %llu is out of range (nodes.count is %u)", path,
                         (unsigned long long)value, count);
    }
    *out = (uint32_t)value;
    return 0;
}

static int selector_ids(scn_check *check, const scn_node *list, const char *path,
                        scn_selector *sel)
{
    int rc = scn__check_kind(check, list, SCN_NODE_SEQ, path);
    for (size_t i = 0; rc == 0 && i < list->count; i++) {
        if (i == SCN_SELECTOR_IDS_MAX) {
            return scn__fail(check->error, SCN_ESCHEMA, list->values[i],
                             "too many ids in %s (at most %d)", path, SCN_SELECTOR_IDS_MAX);
        }
        rc = selector_id(check, list->values[i], path, &sel->ids[i]);
        sel->id_count = (uint32_t)i + 1;
    }
    return rc;
}

/* "first-last" as text: split at the dash into two scalar-like checks. */
static int selector_range_text(scn_check *check, const scn_node *node, const char *path,
                               uint64_t *first, uint64_t *last)
{
    char why[200];
    char buffer[64];
    const char *dash = strchr(node->text, '-');
    size_t length = dash != NULL ? (size_t)(dash - node->text) : 0;
    if (dash == NULL || length == 0 || length >= sizeof(buffer)) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "%s: expected [first, last] or \"first-last\", got '%s'", path,
                         node->text);
    }
    memcpy(buffer, node->text, length);
    buffer[length] = '\0';
    if (scn__parse_uint(buffer, first, why, sizeof(why)) != 0 ||
        scn__parse_uint(dash + 1, last, why, sizeof(why)) != 0) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "%s: %s", path, why);
    }
    return 0;
}

static int selector_range(scn_check *check, const scn_node *node, const char *path,
                          scn_selector *sel)
{
    uint64_t first = 0;
    uint64_t last = 0;
    int rc = 0;
    if (node->kind == SCN_NODE_SCALAR) {
        rc = selector_range_text(check, node, path, &first, &last);
    } else if (node->kind == SCN_NODE_SEQ && node->count == 2) {
        if ((rc = scn__get_uint(check, node->values[0], path, 0, UINT32_MAX, &first)) == 0) {
            rc = scn__get_uint(check, node->values[1], path, 0, UINT32_MAX, &last);
        }
    } else {
        rc = scn__fail(check->error, SCN_ESCHEMA, node,
                       "%s: expected [first, last] or \"first-last\"", path);
    }
    if (rc != 0) {
        return rc;
    }
    uint32_t count = check->scenario->nodes.count;
    if (first > last || last >= count) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "%s: range %llu-%llu needs first <= last < nodes.count (%u)", path,
                         (unsigned long long)first, (unsigned long long)last, count);
    }
    sel->has_range = true;
    sel->range_first = (uint32_t)first;
    sel->range_last = (uint32_t)last;
    return 0;
}

/* Class or region name to its index. */
static int selector_named(scn_check *check, const scn_node *node, const char *path, bool region,
                          int32_t *index_out)
{
    char name[SCN_NAME_MAX];
    int rc = scn__get_string(check, node, path, name, sizeof(name));
    if (rc != 0) {
        return rc;
    }
    const scn_nodes *nodes = &check->scenario->nodes;
    uint32_t count = region ? nodes->region_count : nodes->class_count;
    for (uint32_t i = 0; i < count; i++) {
        const char *known = region ? nodes->regions[i].name : nodes->classes[i].name;
        if (strcmp(known, name) == 0) {
            *index_out = (int32_t)i;
            return 0;
        }
    }
    return scn__fail(check->error, SCN_ESCHEMA, node, "%s: unknown %s '%s' (not in nodes.%s)",
                     path, region ? "region" : "class", name, region ? "regions" : "classes");
}

int scn__get_bool(scn_check *check, const scn_node *node, const char *path, bool *out)
{
    static const char *const truths[] = {"true", "True", "TRUE", "yes", NULL};
    static const char *const falsehoods[] = {"false", "False", "FALSE", "no", NULL};
    if (node == NULL) {
        return 0;
    }
    int rc = scn__check_kind(check, node, SCN_NODE_SCALAR, path);
    if (rc != 0) {
        return rc;
    }
    if (fault_name_in(node->text, truths) || fault_name_in(node->text, falsehoods)) {
        *out = fault_name_in(node->text, truths);
        return 0;
    }
    return scn__fail(check->error, SCN_ESCHEMA, node, "%s: expected true or false, got '%s'",
                     path, node->text);
}

static int selector_parts(scn_check *check, const scn_node *node, const char *path,
                          scn_selector *sel)
{
    char field[160];
    const scn_node *part = NULL;
    int rc = 0;
    if ((part = scn__map_get(node, "all")) != NULL) {
        snprintf(field, sizeof(field), "%s.all", path);
        rc = scn__get_bool(check, part, field, &sel->all);
    }
    if (rc == 0 && (part = scn__map_get(node, "ids")) != NULL) {
        snprintf(field, sizeof(field), "%s.ids", path);
        rc = selector_ids(check, part, field, sel);
    }
    if (rc == 0 && (part = scn__map_get(node, "range")) != NULL) {
        snprintf(field, sizeof(field), "%s.range", path);
        rc = selector_range(check, part, field, sel);
    }
    if (rc == 0 && (part = scn__map_get(node, "fraction")) != NULL) {
        snprintf(field, sizeof(field), "%s.fraction", path);
        rc = scn__get_fraction(check, part, field, false, &sel->fraction);
    }
    if (rc == 0 && (part = scn__map_get(node, "class")) != NULL) {
        snprintf(field, sizeof(field), "%s.class", path);
        rc = selector_named(check, part, field, false, &sel->class_index);
    }
    if (rc == 0 && (part = scn__map_get(node, "region")) != NULL) {
        snprintf(field, sizeof(field), "%s.region", path);
        rc = selector_named(check, part, field, true, &sel->region_index);
    }
    return rc;
}

/* 'section' is the selector's rows in the key table: "faults[].nodes",
 * "faults[].groups[]" or "churn.nodes". */
int scn__check_selector(scn_check *check, const scn_node *node, const char *path,
                          const char *section, scn_selector *sel)
{
    memset(sel, 0, sizeof(*sel));
    sel->class_index = -1;
    sel->region_index = -1;
    if (node->kind == SCN_NODE_SCALAR && strcmp(node->text, "all") == 0) {
        sel->all = true;
        return 0;
    }
    if (node->kind != SCN_NODE_MAP) {
        const char *parts[16];
        char list[160];
        scn__keys_under(section, NULL, parts, UTIL_ARRAY_COUNT(parts));
        scn__names_join(parts, list, sizeof(list));
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "%s: a selector is \"all\" or a map of %s; got %s", path, list,
                         scn__node_kind_name(node));
    }
    int rc = scn__check_keys(check, node, path, section);
    if (rc != 0) {
        return rc;
    }
    bool any = false;
    for (size_t i = 0; i < node->count; i++) {
        any = any || !scn__node_is_null(node->values[i]);
    }
    if (!any) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "%s: a selector needs at least one of all, ids, range, fraction, "
                         "class, region",
                         path);
    }
    return selector_parts(check, node, path, sel);
}

/* ---- faults -------------------------------------------------------------- */

static bool fault_takes(scn_fault_kind kind, uint32_t what)
{
    ASSERT(kind < SCN_FAULT_KIND_COUNT);
    return (scn_fault_kinds[kind].takes & what) != 0;
}

static int fault_kind(scn_check *check, const scn_node *entry, const char *path,
                      scn_fault_kind *out)
{
    char field[64];
    snprintf(field, sizeof(field), "%s.kind", path);
    const scn_node *kind = scn__map_get(entry, "kind");
    if (kind == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, entry, "%s: missing required key 'kind'",
                         path);
    }
    if (kind->kind == SCN_NODE_SCALAR && fault_name_in(kind->text, fault_future_kinds)) {
        return scn__fail(check->error, SCN_ESCHEMA, kind, "fault kind '%s' is not supported yet",
                         kind->text);
    }
    int value = 0;
    int rc = scn__get_enum(check, kind, "fault kind", scn_fault_kind_names, &value);
    *out = (scn_fault_kind)value;
    char why[160];
    if (rc == 0 && scn_fault_kind_allowed(&check->scenario->verification, *out, why,
                                          sizeof(why)) != 0) {
        return scn__fail(check->error, SCN_ESCHEMA, kind, "%s", why);
    }
    return rc;
}

int scn_fault_kind_allowed(const scn_verification *v, scn_fault_kind kind, char *why,
                           size_t size)
{
    ASSERT(kind < SCN_FAULT_KIND_COUNT);
    const char *name = scn_fault_kinds[kind].name;
    const char *needs = NULL;
    if (scn_fault_kinds[kind].byzantine && v->protocol == CONS_PROTOCOL_NONE) {
        needs = "a verification.protocol (it is a verifier's misbehaviour)";
    } else if (kind == SCN_FAULT_FORGE_ATTESTATION && v->protocol != CONS_PROTOCOL_TEE) {
        needs = "verification.protocol: tee";
    } else if (kind == SCN_FAULT_FORGED_TICKET && !v->selection_vrf) {
        needs = "verification.selection: vrf (hash tickets are public: there is no proof to "
                "forge)";
    } else if (kind == SCN_FAULT_EQUIVOCATE && !v->commit_reveal) {
        needs = "verification.commit_reveal: true (there is nothing to equivocate on without "
                "commitments)";
    }
    if (needs == NULL) {
        return 0;
    }
    snprintf(why, size, "fault kind '%s' needs %s", name, needs);
    return SCN_ESCHEMA;
}

static int fault_times(scn_check *check, const scn_node *entry, const char *path, scn_fault *f)
{
    char field[64];
    char text[32];
    const scn_node *at = scn__map_get(entry, "at");
    if (at == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, entry, "%s: missing required key 'at'", path);
    }
    snprintf(field, sizeof(field), "%s.at", path);
    int rc = scn__get_duration(check, at, field, &f->at_ns);
    if (rc != 0) {
        return rc;
    }
    if (f->at_ns >= check->scenario->duration_ns) {
        scn__format_duration(check->scenario->duration_ns, text, sizeof(text));
        return scn__fail(check->error, SCN_ESCHEMA, at,
                         "%s (%s) must be before the end of the run (duration %s)", field,
                         at->text, text);
    }
    const scn_node *until = scn__map_get(entry, "until");
    f->until_ns = UINT64_MAX;
    snprintf(field, sizeof(field), "%s.until", path);
    if ((rc = scn__get_duration(check, until, field, &f->until_ns)) != 0) {
        return rc;
    }
    if (until != NULL && f->until_ns <= f->at_ns) {
        return scn__fail(check->error, SCN_ESCHEMA, until, "%s (%s) must be after %s.at (%s)",
                         field, until->text, path, at->text);
    }
    return 0;
}

/* 'key' must be present (required) or absent (not allowed) for this kind. */
static int fault_presence(scn_check *check, const scn_node *entry, const char *path,
                          const char *key, bool wanted, bool optional, const char *kind_name)
{
    const scn_node *value = scn__map_get(entry, key);
    if (value == NULL && wanted && !optional) {
        return scn__fail(check->error, SCN_ESCHEMA, entry,
                         "%s: missing required key '%s' for a %s fault", path, key, kind_name);
    }
    if (value != NULL && !wanted) {
        return scn__fail(check->error, SCN_ESCHEMA, fault_key_node(entry, key),
                         "%s: key '%s' is not allowed for a %s fault", path, key, kind_name);
    }
    return 0;
}

static int fault_groups(scn_check *check, const scn_node *list, const char *path, scn_fault *f)
{
    int rc = scn__check_kind(check, list, SCN_NODE_SEQ, path);
    if (rc != 0) {
        return rc;
    }
    if (list->count == 0 || list->count > SCN_GROUPS_MAX) {
        return scn__fail(check->error, SCN_ESCHEMA, list, "%s needs 1 to %d groups, got %zu",
                         path, SCN_GROUPS_MAX, list->count);
    }
    for (size_t i = 0; i < list->count; i++) {
        char field[96];
        snprintf(field, sizeof(field), "%s.%zu", path, i);
        if ((rc = scn__check_selector(check, list->values[i], field, "faults[].groups[]",
                                 &f->groups[i])) != 0) {
            return rc;
        }
    }
    f->group_count = (uint32_t)list->count;
    return 0;
}

static int fault_partition(scn_check *check, const scn_node *entry, const char *path,
                           scn_fault *f)
{
    char field[64];
    int shape = (int)SCN_PARTITION_GROUPS;
    snprintf(field, sizeof(field), "%s.shape", path);
    int rc = scn__get_enum(check, scn__map_get(entry, "shape"), field, fault_shapes, &shape);
    if (rc != 0) {
        return rc;
    }
    f->shape = (scn_partition_shape)shape;
    bool isolate = f->shape == SCN_PARTITION_ISOLATE;
    bool groups = f->shape == SCN_PARTITION_GROUPS;
    const char *what = isolate ? "partition (isolate)"
                       : groups ? "partition (groups)"
                                : "partition (halves/regions)";
    if ((rc = fault_presence(check, entry, path, "nodes", isolate, false, what)) != 0 ||
        (rc = fault_presence(check, entry, path, "groups", groups, false, what)) != 0 ||
        (rc = fault_presence(check, entry, path, "probability", false, false, what)) != 0 ||
        (rc = fault_presence(check, entry, path, "delay", false, false, what)) != 0 ||
        (rc = fault_presence(check, entry, path, "scale", false, false, what)) != 0 ||
        (rc = fault_presence(check, entry, path, "budget", false, false, what)) != 0 ||
        (rc = fault_presence(check, entry, path, "mode", false, false, what)) != 0 ||
        (rc = fault_presence(check, entry, path, "gain", false, false, what)) != 0) {
        return rc;
    }
    snprintf(field, sizeof(field), "%s.groups", path);
    if (groups) {
        return fault_groups(check, scn__map_get(entry, "groups"), field, f);
    }
    return 0;
}

static int fault_effects(scn_check *check, const scn_node *entry, const char *path,
                         scn_fault *f)
{
    const char *name = scn_fault_kinds[f->kind].name;
    bool link = fault_takes(f->kind, SCN_FAULT_TAKES_PROBABILITY);
    bool delay = fault_takes(f->kind, SCN_FAULT_TAKES_DELAY);
    int rc = 0;
    if ((rc = fault_presence(check, entry, path, "nodes", true, false, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "probability", link, false, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "delay", delay, f->kind != SCN_FAULT_DELAY,
                             name)) != 0 ||
        (rc = fault_presence(check, entry, path, "shape", false, false, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "groups", false, false, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "scale", false, false, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "budget", false, false, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "mode", false, false, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "gain", false, false, name)) != 0) {
        return rc;
    }
    char field[64];
    snprintf(field, sizeof(field), "%s.probability", path);
    rc = scn__get_fraction(check, scn__map_get(entry, "probability"), field, false,
                           &f->probability);
    if (rc != 0) {
        return rc;
    }
    const scn_node *delay_node = scn__map_get(entry, "delay");
    f->delay_ns = f->kind == SCN_FAULT_REORDER ? check->scenario->network.reorder_delay_ns : 0;
    snprintf(field, sizeof(field), "%s.delay", path);
    if ((rc = scn__get_duration(check, delay_node, field, &f->delay_ns)) != 0) {
        return rc;
    }
    if (f->kind == SCN_FAULT_DELAY && f->delay_ns == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, delay_node, "%s must be > 0", field);
    }
    return 0;
}

/* 'gain' makes the kinds that invent an output rational: the value of one
 * undetected wrong output, in the units of verification.stake. */
static int fault_gain(scn_check *check, const scn_node *entry, const char *path, scn_fault *f,
                      bool scaled)
{
    const char *name = scn_fault_kinds[f->kind].name;
    int rc = fault_presence(check, entry, path, "gain", scaled, true, name);
    const scn_node *gain = scn__map_get(entry, "gain");
    if (rc != 0 || gain == NULL) {
        return rc;
    }
    char field[64];
    snprintf(field, sizeof(field), "%s.gain", path);
    if ((rc = scn__get_number(check, gain, field, &f->gain)) != 0) {
        return rc;
    }
    if (!(f->gain > 0) || f->gain > 1e12) {
        return scn__fail(check->error, SCN_ESCHEMA, gain, "%s must be in (0, 1e12], got %s",
                         field, gain->text);
    }
    return 0;
}

/* A committee member's misbehaviour: nodes, at, optional until, and a noise
 * scale for the two kinds that invent an output. */
static int fault_byzantine(scn_check *check, const scn_node *entry, const char *path,
                           scn_fault *f)
{
    const char *name = scn_fault_kinds[f->kind].name;
    bool scaled = fault_takes(f->kind, SCN_FAULT_TAKES_SCALE);
    bool budgeted = fault_takes(f->kind, SCN_FAULT_TAKES_BUDGET);
    bool moded = fault_takes(f->kind, SCN_FAULT_TAKES_MODE);
    int rc = 0;
    if ((rc = fault_presence(check, entry, path, "mode", moded, true, name)) != 0) {
        return rc;
    }
    const scn_node *mode = scn__map_get(entry, "mode");
    if (mode != NULL) {
        static const char *const modes[] = {"noise", "model", "layer", NULL};
        char mode_path[64];
        int value = 0;
        snprintf(mode_path, sizeof(mode_path), "%s.mode", path);
        if ((rc = scn__get_enum(check, mode, mode_path, modes, &value)) != 0) {
            return rc;
        }
        f->wrong_mode = (uint32_t)value;
    }
    if ((rc = fault_presence(check, entry, path, "budget", budgeted, true, name)) != 0) {
        return rc;
    }
    if (budgeted) {
        uint64_t budget = 0;
        char budget_path[64];
        snprintf(budget_path, sizeof(budget_path), "%s.budget", path);
        rc = scn__get_uint(check, scn__map_get(entry, "budget"), budget_path, 1, SCN_NODES_MAX,
                           &budget);
        if (rc != 0) {
            return rc;
        }
        f->budget = (uint32_t)budget;
    }
    if ((rc = fault_presence(check, entry, path, "nodes", true, false, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "probability", false, false, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "delay", false, false, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "shape", false, false, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "groups", false, false, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "scale", scaled, true, name)) != 0) {
        return rc;
    }
    if ((rc = fault_gain(check, entry, path, f, scaled)) != 0) {
        return rc;
    }
    const scn_node *scale = scn__map_get(entry, "scale");
    if (scale == NULL) {
        return 0;
    }
    char field[64];
    snprintf(field, sizeof(field), "%s.scale", path);
    if ((rc = scn__get_number(check, scale, field, &f->scale)) != 0) {
        return rc;
    }
    if (!(f->scale > 0)) {
        return scn__fail(check->error, SCN_ESCHEMA, scale, "%s must be > 0, got %s", field,
                         scale->text);
    }
    return 0;
}

/* collude only: 'coordination' (stream | messages; messages under the
 * committee protocol, whose members commit to outputs the leader can
 * describe) and 'target_token' (a token of the model's vocabulary). */
static int fault_cartel(scn_check *check, const scn_node *entry, const char *path,
                        scn_fault *f)
{
    static const char *const coordinations[] = {"stream", "messages", NULL};
    const char *name = scn_fault_kinds[f->kind].name;
    bool cartel = f->kind == SCN_FAULT_COLLUDE;
    int rc = 0;
    if ((rc = fault_presence(check, entry, path, "coordination", cartel, true, name)) != 0 ||
        (rc = fault_presence(check, entry, path, "target_token", cartel, true, name)) != 0) {
        return rc;
    }
    char field[64];
    int value = (int)SCN_CARTEL_STREAM;
    const scn_node *coordination = scn__map_get(entry, "coordination");
    snprintf(field, sizeof(field), "%s.coordination", path);
    if ((rc = scn__get_enum(check, coordination, field, coordinations, &value)) != 0) {
        return rc;
    }
    f->coordination = (scn_cartel_coordination)value;
    if (f->coordination == SCN_CARTEL_MESSAGES &&
        check->scenario->verification.protocol != CONS_PROTOCOL_COMMITTEE) {
        return scn__fail(check->error, SCN_ESCHEMA, coordination,
                         "%s: messages needs verification.protocol: committee", field);
    }
    const scn_node *target = scn__map_get(entry, "target_token");
    if (target == NULL) {
        return 0;
    }
    uint32_t vocab = check->scenario->model.vocab;
    uint64_t token = 0;
    snprintf(field, sizeof(field), "%s.target_token", path);
    if (vocab == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, target, "%s needs a model", field);
    }
    if ((rc = scn__get_uint(check, target, field, 0, vocab - 1u, &token)) != 0) {
        return rc;
    }
    f->target_token = (uint32_t)token;
    return 0;
}

/* equivocate only: 'second_to' (client | peers); peers needs signed
 * commitments (ledger evidence), or the relayed copy would prove nothing. */
static int fault_second_to(scn_check *check, const scn_node *entry, const char *path,
                           scn_fault *f)
{
    static const char *const receivers[] = {"client", "peers", NULL};
    const char *name = scn_fault_kinds[f->kind].name;
    bool equivocate = f->kind == SCN_FAULT_EQUIVOCATE;
    int rc = fault_presence(check, entry, path, "second_to", equivocate, true, name);
    const scn_node *second_to = scn__map_get(entry, "second_to");
    if (rc != 0 || second_to == NULL) {
        return rc;
    }
    char field[64];
    int value = 0;
    snprintf(field, sizeof(field), "%s.second_to", path);
    if ((rc = scn__get_enum(check, second_to, field, receivers, &value)) != 0) {
        return rc;
    }
    f->second_to_peers = value == 1;
    const scn_ledger *ledger = &check->scenario->ledger;
    if (f->second_to_peers && !(ledger->settlement_ledger && ledger->evidence)) {
        return scn__fail(check->error, SCN_ESCHEMA, second_to,
                         "%s: peers needs ledger settlement with evidence (a relayed "
                         "commitment proves nothing unsigned)",
                         field);
    }
    return 0;
}

static int fault_check(scn_check *check, const scn_node *entry, size_t index)
{
    char path[32];
    snprintf(path, sizeof(path), "faults.%zu", index);
    int rc = scn__check_kind(check, entry, SCN_NODE_MAP, path);
    if (rc != 0 || (rc = scn__check_keys(check, entry, path, "faults[]")) != 0) {
        return rc;
    }
    scn_fault *f = &check->scenario->faults[index];
    memset(f, 0, sizeof(*f));
    f->nodes.class_index = -1;
    f->nodes.region_index = -1;
    f->line = entry->line;
    f->scale = 1.0;
    f->target_token = SCN_TARGET_NONE;
    if ((rc = fault_kind(check, entry, path, &f->kind)) != 0 ||
        (rc = fault_times(check, entry, path, f)) != 0 ||
        (rc = fault_cartel(check, entry, path, f)) != 0 ||
        (rc = fault_second_to(check, entry, path, f)) != 0) {
        return rc;
    }
    if (f->kind == SCN_FAULT_PARTITION) {
        rc = fault_partition(check, entry, path, f);
    } else if (scn_fault_kinds[f->kind].byzantine) {
        rc = fault_byzantine(check, entry, path, f);
    } else {
        rc = fault_effects(check, entry, path, f);
    }
    const scn_node *nodes = scn__map_get(entry, "nodes");
    if (rc == 0 && nodes != NULL) {
        char field[64];
        snprintf(field, sizeof(field), "%s.nodes", path);
        rc = scn__check_selector(check, nodes, field, "faults[].nodes", &f->nodes);
    }
    return rc;
}

int scn__check_faults(scn_check *check, const scn_node *faults)
{
    int rc = scn__check_kind(check, faults, SCN_NODE_SEQ, "faults");
    if (rc != 0) {
        return rc;
    }
    if (faults->count > SCN_FAULTS_MAX) {
        return scn__fail(check->error, SCN_ESCHEMA, faults->values[SCN_FAULTS_MAX],
                         "too many faults (at most %d)", SCN_FAULTS_MAX);
    }
    for (size_t i = 0; i < faults->count; i++) {
        if ((rc = fault_check(check, faults->values[i], i)) != 0) {
            return rc;
        }
        check->scenario->fault_count = (uint32_t)i + 1;
    }
    return 0;
}

/* ---- expect -------------------------------------------------------------- */

static bool expect_is_operator_char(char c)
{
    return c != '\0' && strchr("<>=!", c) != NULL;
}

/* Reads the operator at the start of 'text'; -1 when it is malformed. */
static int expect_operator(const char *text, scn_cmp *cmp, const char **rest)
{
    static const struct {
        const char *text;
        scn_cmp cmp;
    } ops[] = {
        {"==", SCN_CMP_EQ}, {"<=", SCN_CMP_LE}, {">=", SCN_CMP_GE},
        {"<", SCN_CMP_LT},  {">", SCN_CMP_GT},
    };
    const char *p = text;
    while (*p == ' ') {
        p++;
    }
    if (!expect_is_operator_char(*p)) {
        *cmp = SCN_CMP_EQ;      /* A bare value means ==. */
        *rest = p;
        return 0;
    }
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t length = strlen(ops[i].text);
        if (strncmp(p, ops[i].text, length) == 0 && !expect_is_operator_char(p[length])) {
            *cmp = ops[i].cmp;
            p += length;
            break;
        }
        if (i + 1 == sizeof(ops) / sizeof(ops[0])) {
            return -1;
        }
    }
    while (*p == ' ') {
        p++;
    }
    *rest = p;
    return 0;
}

bool scn__metric_is_duration(const char *metric)
{
    int m = scn_metric_find(metric);
    return m >= 0 && strcmp(scn_metrics[m].unit, "ns") == 0;
}

/* Edit distance between two short names (longer ones are cut at 63). */
static size_t expect_distance(const char *a, const char *b)
{
    size_t row[64];
    size_t la = strlen(a) < 63 ? strlen(a) : 63;
    size_t lb = strlen(b) < 63 ? strlen(b) : 63;
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t above = row[j];
            size_t best = diagonal + (a[i - 1] != b[j - 1]);
            best = above + 1 < best ? above + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[lb];
}

/* The full list no longer fits scn_error.message: suggest the nearest name
 * when it is close, else a few examples, and point at the README. */
static int expect_unknown(scn_check *check, const scn_node *key)
{
    const char *nearest = NULL;
    size_t best = SIZE_MAX;
    for (int m = 0; m < SCN_METRIC_COUNT; m++) {
        size_t d = scn_metrics[m].expect ? expect_distance(key->text, scn_metrics[m].name)
                                         : SIZE_MAX;
        if (d < best) {
            best = d;
            nearest = scn_metrics[m].name;
        }
    }
    size_t length = strlen(key->text);
    if (nearest != NULL && best <= 3 && best < length) {
        return scn__fail(check->error, SCN_ESCHEMA, key,
                         "unknown metric '%.40s' (did you mean '%s'? scenarios/README.md lists "
                         "every metric)",
                         key->text, nearest);
    }
    return scn__fail(check->error, SCN_ESCHEMA, key,
                     "unknown metric '%.40s' (expected e.g. delivery_ratio, latency_p99, "
                     "requests_completed, request_latency_p95, tokens_per_s; scenarios/README.md "
                     "lists every metric)",
                     key->text);
}

/* expect.converge_within: a duration > 0, checked as the expectation
 * liveness_violations == 0 (world/world_liveness.c counts them). */
static int expect_converge(scn_check *check, const scn_node *value, scn_expect *e)
{
    uint64_t ns = 0;
    int rc = scn__get_duration(check, value, "expect.converge_within", &ns);
    if (rc != 0) {
        return rc;
    }
    if (value == NULL || ns == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, value,
                         "expect.converge_within must be a duration > 0");
    }
    if (check->scenario->workload.kind != SCN_WORKLOAD_INFERENCE) {
        return scn__fail(check->error, SCN_ESCHEMA, value,
                         "expect.converge_within needs an inference workload (it judges "
                         "requests)");
    }
    check->scenario->converge_within_ns = ns;
    snprintf(e->metric, sizeof(e->metric), "liveness_violations");
    snprintf(e->text, sizeof(e->text), "== 0 (converge_within %.40s)", value->text);
    e->cmp = SCN_CMP_EQ;
    e->value = 0.0;
    e->converge = true;
    return 0;
}

/* One "OP value" string at 'path' into cmp, value and text; durations are
 * accepted for the metrics measured in nanoseconds. */
static int expect_condition(scn_check *check, const scn_node *value, const char *path,
                            const char *metric, scn_cmp *cmp, double *number, char *text,
                            size_t size)
{
    char why[200];
    int rc = scn__get_string(check, value, path, text, size);
    if (rc != 0) {
        return rc;
    }
    const char *rest = NULL;
    if (expect_operator(value->text, cmp, &rest) != 0) {
        return scn__fail(check->error, SCN_ESCHEMA, value,
                         "%s: bad comparison operator in '%s' (expected ==, <=, <, >=, >)", path,
                         value->text);
    }
    if (scn__parse_number(rest, number, why, sizeof(why)) == 0) {
        return 0;
    }
    uint64_t ns = 0;
    if (metric != NULL && scn__metric_is_duration(metric) &&
        scn__parse_duration(rest, &ns, why, sizeof(why)) == 0) {
        *number = (double)ns;
        return 0;
    }
    return scn__fail(check->error, SCN_ESCHEMA, value, "%s: %s", path, why);
}

/* The over-seed forms: {mean: "OP value"} or {each: "OP value", passing:
 * "OP ratio"}, judged by infersim sweep --check per grid point. */
static int expect_over_seeds(scn_check *check, const scn_node *key, const scn_node *value,
                             scn_expect *e)
{
    char path[96];
    snprintf(path, sizeof(path), "expect.%s", key->text);
    int rc = scn__check_keys(check, value, path, "expect.*");
    if (rc != 0) {
        return rc;
    }
    const scn_node *mean = scn__map_get(value, "mean");
    const scn_node *each = scn__map_get(value, "each");
    const scn_node *passing = scn__map_get(value, "passing");
    if (mean != NULL && (each != NULL || passing != NULL)) {
        return scn__fail(check->error, SCN_ESCHEMA, value,
                         "%s: 'mean' does not go with 'each' and 'passing'", path);
    }
    if (mean != NULL) {
        e->scope = SCN_EXPECT_MEAN;
        snprintf(path, sizeof(path), "expect.%s.mean", key->text);
        return expect_condition(check, mean, path, key->text, &e->cmp, &e->value, e->text,
                                sizeof(e->text));
    }
    if (each == NULL || passing == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, value,
                         "%s: expected {mean: \"OP value\"} or {each: \"OP value\", passing: "
                         "\"OP ratio\"} (missing '%s')",
                         path, each == NULL ? "each" : "passing");
    }
    e->scope = SCN_EXPECT_PASSING;
    snprintf(path, sizeof(path), "expect.%s.each", key->text);
    rc = expect_condition(check, each, path, key->text, &e->cmp, &e->value, e->text,
                          sizeof(e->text));
    if (rc != 0) {
        return rc;
    }
    snprintf(path, sizeof(path), "expect.%s.passing", key->text);
    rc = expect_condition(check, passing, path, NULL, &e->passing_cmp, &e->passing_value,
                          e->passing_text, sizeof(e->passing_text));
    if (rc == 0 && !(e->passing_value >= 0.0 && e->passing_value <= 1.0)) {
        return scn__fail(check->error, SCN_ESCHEMA, passing,
                         "%s: '%s' is not a fraction of the seeds (expected a ratio 0..1)", path,
                         passing->text);
    }
    return rc;
}

static int expect_one(scn_check *check, const scn_node *key, const scn_node *value,
                      scn_expect *e)
{
    char path[96];
    memset(e, 0, sizeof(*e));
    if (strcmp(key->text, "converge_within") == 0) {
        return expect_converge(check, value, e);
    }
    int metric = scn_metric_find(key->text);
    if (metric < 0 || !scn_metrics[metric].expect) {
        return expect_unknown(check, key);
    }
    snprintf(e->metric, sizeof(e->metric), "%s", key->text);
    if (value != NULL && value->kind == SCN_NODE_MAP) {
        return expect_over_seeds(check, key, value, e);
    }
    snprintf(path, sizeof(path), "expect.%s", key->text);
    return expect_condition(check, value, path, key->text, &e->cmp, &e->value, e->text,
                            sizeof(e->text));
}

int scn__check_expect(scn_check *check, const scn_node *expect)
{
    int rc = scn__check_kind(check, expect, SCN_NODE_MAP, "expect");
    if (rc != 0) {
        return rc;
    }
    if (expect->count > SCN_EXPECT_MAX) {
        return scn__fail(check->error, SCN_ESCHEMA, expect->keys[SCN_EXPECT_MAX],
                         "too many expectations (at most %d)", SCN_EXPECT_MAX);
    }
    for (size_t i = 0; i < expect->count; i++) {
        scn_expect *e = &check->scenario->expects[check->scenario->expect_count];
        if ((rc = expect_one(check, expect->keys[i], expect->values[i], e)) != 0) {
            return rc;
        }
        check->scenario->expect_count += 1;
    }
    return 0;
}
