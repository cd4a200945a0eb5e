/* scn_sweep.c -- the `sweep:` section: a grid over scenario keys times a
 * number of seeds, and the same grid dimensions given on the command line
 * (`infersim sweep --param path=v1,v2`). Only the grid's shape is checked
 * here (key paths, value lists, ranges, sizes); whether a key exists and
 * a value is valid for it is decided when the grid point is loaded with
 * --set, which `infersim sweep` does for every grid point before any run
 * starts (the key's line and column name it then). Ranges are expanded
 * once into canonical value texts, so every consumer sees plain lists. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scenarios/scn_int.h"
#include "util/assert.h"

/* A key path: dot-separated parts of letters, digits, '_' and '-'. The
 * seed is swept by 'seeds', and the sweep cannot sweep itself. */
static int sweep_key_check(const char *key, char *why, size_t why_size)
{
    size_t length = strlen(key);
    if (length == 0 || length >= SCN_SWEEP_KEY_MAX) {
        snprintf(why, why_size, "sweep key must have 1 to %d bytes", SCN_SWEEP_KEY_MAX - 1);
        return -1;
    }
    for (size_t i = 0; i < length; i++) {
        char c = key[i];
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
        bool dot_ok = c == '.' && i > 0 && i + 1 < length && key[i + 1] != '.';
        if (!word && !dot_ok) {
            snprintf(why, why_size, "sweep key '%s' is not a key path like nodes.count", key);
            return -1;
        }
    }
    if (strcmp(key, "seed") == 0 || strncmp(key, "sweep", 5) == 0) {
        snprintf(why, why_size, "sweep key '%s' cannot be swept (use sweep.seeds for seeds)",
                 key);
        return -1;
    }
    return 0;
}

/* Stores one value text; -1 when there is no room or it is too long. */
static int sweep_value_add(scn_sweep_param *param, const char *text, char *why, size_t why_size)
{
    if (param->value_count == SCN_SWEEP_VALUES_MAX) {
        snprintf(why, why_size, "at most %d values per sweep key", SCN_SWEEP_VALUES_MAX);
        return -1;
    }
    size_t length = strlen(text);
    if (length == 0 || length >= SCN_SWEEP_TEXT_MAX) {
        snprintf(why, why_size, "a sweep value must have 1 to %d bytes", SCN_SWEEP_TEXT_MAX - 1);
        return -1;
    }
    memcpy(param->values[param->value_count], text, length + 1);
    param->value_count += 1;
    return 0;
}

/* How many steps fit in [from, to]; -1 when the range is empty or too big. */
static int64_t sweep_range_count(double span, double step, char *why, size_t why_size)
{
    if (!(step > 0.0) || !isfinite(span) || span < 0.0) {
        snprintf(why, why_size, "range needs step > 0 and to >= from");
        return -1;
    }
    double count = floor(span / step + 1e-9) + 1.0;
    if (count > SCN_SWEEP_VALUES_MAX) {
        snprintf(why, why_size, "range has %.0f values, at most %d", count, SCN_SWEEP_VALUES_MAX);
        return -1;
    }
    return (int64_t)count;
}

/* Expands from..to by step (to included): numbers, or else durations. */
static int sweep_range_expand(const char *from, const char *to, const char *step,
                              scn_sweep_param *param, char *why, size_t why_size)
{
    double a, b, s;
    char text[SCN_SWEEP_TEXT_MAX];
    if (scn__parse_number(from, &a, why, why_size) == 0 &&
        scn__parse_number(to, &b, why, why_size) == 0 &&
        scn__parse_number(step, &s, why, why_size) == 0) {
        int64_t count = sweep_range_count(b - a, s, why, why_size);
        for (int64_t i = 0; i < count; i++) {
            /* %.12g prints 0.1 + 2 * 0.1 as 0.3, not 0.30000000000000004. */
            snprintf(text, sizeof(text), "%.12g", a + (double)i * s);
            if (sweep_value_add(param, text, why, why_size) != 0) {
                return -1;
            }
        }
        return count < 0 ? -1 : 0;
    }
    uint64_t a_ns, b_ns, s_ns;
    if (scn__parse_duration(from, &a_ns, why, why_size) != 0 ||
        scn__parse_duration(to, &b_ns, why, why_size) != 0 ||
        scn__parse_duration(step, &s_ns, why, why_size) != 0) {
        snprintf(why, why_size, "range from, to and step must be numbers or durations");
        return -1;
    }
    if (s_ns == 0 || b_ns < a_ns || (b_ns - a_ns) / s_ns + 1 > SCN_SWEEP_VALUES_MAX) {
        snprintf(why, why_size, "range needs step > 0, to >= from and at most %d values",
                 SCN_SWEEP_VALUES_MAX);
        return -1;
    }
    for (uint64_t ns = a_ns; ns <= b_ns; ns += s_ns) {
        scn__format_duration(ns, text, sizeof(text));
        if (sweep_value_add(param, text, why, why_size) != 0) {
            return -1;
        }
    }
    return 0;
}

/* One `key: [values]` or `key: {from, to, step}` of sweep.params. */
static int sweep_param_read(scn_check *check, const scn_node *key, const scn_node *value,
                            scn_sweep_param *param)
{
    const char *range_keys[4];
    scn__keys_under("sweep.params.*", NULL, range_keys, UTIL_ARRAY_COUNT(range_keys));
    char why[160];
    memset(param, 0, sizeof(*param));
    if (sweep_key_check(key->text, why, sizeof(why)) != 0) {
        return scn__fail(check->error, SCN_ESCHEMA, key, "%s", why);
    }
    snprintf(param->key, sizeof(param->key), "%s", key->text);
    param->line = key->line;
    param->column = key->column;
    if (value->kind == SCN_NODE_MAP) {
        int rc = scn__check_keys(check, value, "a sweep range", "sweep.params.*");
        const scn_node *parts[3];
        for (size_t i = 0; i < 3 && rc == 0; i++) {
            parts[i] = scn__map_get(value, range_keys[i]);
            if (parts[i] == NULL || parts[i]->kind != SCN_NODE_SCALAR) {
                rc = scn__fail(check->error, SCN_ESCHEMA, value,
                               "sweep.params.%s: a range needs scalar 'from', 'to' and 'step'",
                               key->text);
            }
        }
        if (rc == 0 && sweep_range_expand(parts[0]->text, parts[1]->text, parts[2]->text, param,
                                          why, sizeof(why)) != 0) {
            rc = scn__fail(check->error, SCN_ESCHEMA, value, "sweep.params.%s: %s", key->text,
                           why);
        }
        return rc;
    }
    if (value->kind != SCN_NODE_SEQ || value->count == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, value,
                         "sweep.params.%s: expected a non-empty list of values or a range"
                         " {from, to, step}",
                         key->text);
    }
    for (size_t i = 0; i < value->count; i++) {
        const scn_node *item = value->values[i];
        if (item->kind != SCN_NODE_SCALAR) {
            return scn__fail(check->error, SCN_ESCHEMA, item,
                             "sweep.params.%s: values must be scalars, got %s", key->text,
                             scn__node_kind_name(item));
        }
        if (sweep_value_add(param, item->text, why, sizeof(why)) != 0) {
            return scn__fail(check->error, SCN_ESCHEMA, item, "sweep.params.%s: %s", key->text,
                             why);
        }
    }
    return 0;
}

int scn__check_sweep(scn_check *check, const scn_node *root)
{
    const scn_node *section = scn__map_get(root, "sweep");
    scn_sweep *sweep = &check->scenario->sweep;
    sweep->seeds = 1;
    int rc = scn__check_section(check, section, "sweep", "sweep");
    if (rc != 0 || section == NULL) {
        return rc;
    }
    sweep->present = true;
    uint64_t seeds = 1;
    rc = scn__get_uint(check, scn__map_get(section, "seeds"), "sweep.seeds", 1,
                       SCN_SWEEP_SEEDS_MAX, &seeds);
    sweep->seeds = (uint32_t)seeds;
    const scn_node *params = scn__map_get(section, "params");
    if (rc != 0 || params == NULL) {
        return rc;
    }
    if ((rc = scn__check_kind(check, params, SCN_NODE_MAP, "sweep.params")) != 0) {
        return rc;
    }
    if (params->count > SCN_SWEEP_PARAMS_MAX) {
        return scn__fail(check->error, SCN_ESCHEMA, params->keys[SCN_SWEEP_PARAMS_MAX],
                         "sweep.params: at most %d keys", SCN_SWEEP_PARAMS_MAX);
    }
    for (size_t i = 0; i < params->count; i++) {
        rc = sweep_param_read(check, params->keys[i], params->values[i], &sweep->params[i]);
        if (rc != 0) {
            return rc;
        }
        sweep->param_count += 1;
    }
    if (scn_sweep_points(sweep) * sweep->seeds > SCN_SWEEP_RUNS_MAX) {
        return scn__fail(check->error, SCN_ESCHEMA, section,
                         "sweep has %llu runs (grid points x seeds), at most %u",
                         (unsigned long long)(scn_sweep_points(sweep) * sweep->seeds),
                         SCN_SWEEP_RUNS_MAX);
    }
    return 0;
}

/* "a,b,c" into the values; empty items are refused. */
static int sweep_list_split(const char *list, scn_sweep_param *param, char *why, size_t why_size)
{
    char item[SCN_SWEEP_TEXT_MAX];
    const char *start = list;
    for (;;) {
        const char *comma = strchr(start, ',');
        size_t length = comma != NULL ? (size_t)(comma - start) : strlen(start);
        if (length == 0 || length >= sizeof(item)) {
            snprintf(why, why_size, "empty or too long value in '%s'", list);
            return -1;
        }
        memcpy(item, start, length);
        item[length] = '\0';
        if (sweep_value_add(param, item, why, why_size) != 0) {
            return -1;
        }
        if (comma == NULL) {
            return 0;
        }
        start = comma + 1;
    }
}

int scn_sweep_param_parse(const char *text, scn_sweep_param *out, char *why, size_t why_size)
{
    ASSERT(text != NULL && out != NULL && why != NULL);
    memset(out, 0, sizeof(*out));
    const char *equals = strchr(text, '=');
    if (equals == NULL || equals == text || (size_t)(equals - text) >= SCN_SWEEP_KEY_MAX ||
        equals[1] == '\0') {
        snprintf(why, why_size, "'%s' is not path=v1,v2,... or path=FROM:TO:STEP", text);
        return SCN_EUSAGE;
    }
    memcpy(out->key, text, (size_t)(equals - text));
    out->key[equals - text] = '\0';
    if (sweep_key_check(out->key, why, why_size) != 0) {
        return SCN_EUSAGE;
    }
    const char *list = equals + 1;
    char parts[3][SCN_SWEEP_TEXT_MAX];
    int count = 0;
    const char *colon1 = strchr(list, ':');
    const char *colon2 = colon1 != NULL ? strchr(colon1 + 1, ':') : NULL;
    if (colon2 != NULL && strchr(colon2 + 1, ':') == NULL && strchr(list, ',') == NULL &&
        strlen(list) < SCN_SWEEP_TEXT_MAX) {
        count = sscanf(list, "%63[^:]:%63[^:]:%63s", parts[0], parts[1], parts[2]);
    }
    double number;
    uint64_t ns;
    char scratch[8];
    if (colon1 != NULL && colon2 == NULL && strchr(list, ',') == NULL &&
        strlen(list) < SCN_SWEEP_TEXT_MAX &&
        sscanf(list, "%63[^:]:%63s", parts[0], parts[1]) == 2 &&
        (scn__parse_number(parts[0], &number, scratch, sizeof(scratch)) == 0 ||
         scn__parse_duration(parts[0], &ns, scratch, sizeof(scratch)) == 0)) {
        snprintf(why, why_size, "'%s': a range is FROM:TO:STEP, the step is missing", text);
        return SCN_EUSAGE;
    }
    int rc = count == 3 ? sweep_range_expand(parts[0], parts[1], parts[2], out, why, why_size)
                        : sweep_list_split(list, out, why, why_size);
    return rc == 0 ? 0 : SCN_EUSAGE;
}

uint64_t scn_sweep_points(const scn_sweep *sweep)
{
    ASSERT(sweep != NULL);
    uint64_t points = 1;
    for (uint32_t d = 0; d < sweep->param_count; d++) {
        ASSERT(sweep->params[d].value_count >= 1);
        points *= sweep->params[d].value_count;
    }
    return points;
}

const char *scn_sweep_value(const scn_sweep *sweep, uint64_t point, uint32_t d)
{
    ASSERT(sweep != NULL);
    ASSERT(d < sweep->param_count);
    ASSERT(point < scn_sweep_points(sweep));
    for (uint32_t e = sweep->param_count - 1; e > d; e--) {
        point /= sweep->params[e].value_count;
    }
    return sweep->params[d].values[point % sweep->params[d].value_count];
}
