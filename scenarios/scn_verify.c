/* scn_verify.c -- the verification section: which protocol checks the
 * servers' outputs (none, or a committee per request and segment), its
 * sizes and timeouts, the agreement rules that decide when two members'
 * outputs match, and Nesa's reputation update. Defaults are filled even when
 * the section is absent, so the engine always reads a complete struct. With
 * protocol none every other key is an error, so nothing is silently ignored;
 * a committee needs a model and an inference workload (checked first). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scenarios/scn_int.h"
#include "util/assert.h"

static const char *const verify_keys[] = {
    "protocol",       "committee",      "quorum",    "retries",
    "commit_reveal",  "commit_timeout", "reveal_timeout", "agreement",
    "final_agreement", "reputation",    "stake",     "slash", "crypto", NULL,
};

static const char *const verify_agree_keys[] = {"rule", "epsilon", "tau", "top_k", NULL};

static const char *const verify_reputation_keys[] = {
    "penalty", "reward", "min", "max", "initial", NULL,
};

static const char *const verify_protocols[] = {"none", "committee", NULL};

/* In enum order (scn_agree_rule). */
static const char *const verify_rules[] = {"exact", "maxabs", "cosine", "topk", NULL};

void scn__verification_defaults(scn_verification *v)
{
    memset(v, 0, sizeof(*v));
    v->protocol = SCN_PROTOCOL_NONE;
    v->committee = 3;
    v->quorum = 2;
    v->retries = 2;
    v->commit_reveal = true;
    v->commit_timeout_ns = 2000000000ull;
    v->reveal_timeout_ns = 2000000000ull;
    v->agreement.rule = SCN_AGREE_MAXABS;
    v->agreement.epsilon = 0.05;
    v->agreement.tau = 0.999;
    v->agreement.top_k = 1;
    v->final_agreement = v->agreement;
    v->final_agreement.rule = SCN_AGREE_TOPK;
    v->penalty = 0.8;
    v->reward = 1.01;
    v->reputation_min = 0.1;
    v->reputation_max = 10.0;
    v->reputation_initial = 1.0;
    v->stake = 1.0;
}

const char *scn__agree_rule_name(scn_agree_rule rule)
{
    ASSERT((unsigned)rule < 4);
    return verify_rules[rule];
}

static const scn_node *verify_key_node(const scn_node *map, const char *key)
{
    for (size_t i = 0; i < map->count; i++) {
        if (strcmp(map->keys[i]->text, key) == 0) {
            return map->keys[i];
        }
    }
    return NULL;
}

/* A finite number in a range; 'low_open' / 'high_open' exclude the ends,
 * 'range' is the interval as the message writes it. Absent: untouched. */
static int verify_number(scn_check *check, const scn_node *node, const char *path, double low,
                         bool low_open, double high, bool high_open, const char *range,
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
    bool below = low_open ? value <= low : value < low;
    bool above = high_open ? value >= high : value > high;
    if (below || above) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "%s must be %s, got %s", path, range,
                         node->text);
    }
    *out = value;
    return 0;
}

/* The parameter keys of an agreement map that its rule does not use. */
static int verify_agree_unused(scn_check *check, const scn_node *map, const char *path,
                               scn_agree_rule rule)
{
    static const char *const params[] = {"epsilon", "tau", "top_k"};
    static const scn_agree_rule owners[] = {SCN_AGREE_MAXABS, SCN_AGREE_COSINE, SCN_AGREE_TOPK};
    for (size_t i = 0; i < 3; i++) {
        const scn_node *key = verify_key_node(map, params[i]);
        if (key != NULL && owners[i] != rule) {
            return scn__fail(check->error, SCN_ESCHEMA, key,
                             "%s.%s does not apply to rule %s (it belongs to rule %s)", path,
                             params[i], verify_rules[rule], verify_rules[owners[i]]);
        }
    }
    return 0;
}

static int verify_agreement(scn_check *check, const scn_node *map, const char *path,
                            scn_agreement *a)
{
    int rc = scn__check_section(check, map, path, verify_agree_keys);
    if (rc != 0 || map == NULL) {
        return rc;
    }
    char field[96];
    int rule = (int)a->rule;
    snprintf(field, sizeof(field), "%s.rule", path);
    if ((rc = scn__get_enum(check, scn__map_get(map, "rule"), field, verify_rules, &rule)) != 0) {
        return rc;
    }
    a->rule = (scn_agree_rule)rule;
    if ((rc = verify_agree_unused(check, map, path, a->rule)) != 0) {
        return rc;
    }
    uint64_t top_k = a->top_k;
    snprintf(field, sizeof(field), "%s.epsilon", path);
    rc = verify_number(check, scn__map_get(map, "epsilon"), field, 0, false, INFINITY, false,
                       ">= 0", &a->epsilon);
    snprintf(field, sizeof(field), "%s.tau", path);
    if (rc == 0) {
        rc = verify_number(check, scn__map_get(map, "tau"), field, -1, false, 1, false,
                           "in [-1, 1]", &a->tau);
    }
    snprintf(field, sizeof(field), "%s.top_k", path);
    if (rc == 0) {
        rc = scn__get_uint(check, scn__map_get(map, "top_k"), field, 1, 64, &top_k);
    }
    a->top_k = (uint32_t)top_k;
    return rc;
}

static int verify_reputation(scn_check *check, const scn_node *map, scn_verification *v)
{
    const char *path = "verification.reputation";
    int rc = scn__check_section(check, map, path, verify_reputation_keys);
    if (rc != 0 || map == NULL) {
        return rc;
    }
    const scn_node *max = scn__map_get(map, "max");
    const scn_node *initial = scn__map_get(map, "initial");
    if ((rc = verify_number(check, scn__map_get(map, "penalty"), "verification.reputation.penalty",
                            0, true, 1, false, "in (0, 1]", &v->penalty)) != 0 ||
        (rc = verify_number(check, scn__map_get(map, "reward"), "verification.reputation.reward",
                            1, false, INFINITY, false, ">= 1", &v->reward)) != 0 ||
        (rc = verify_number(check, scn__map_get(map, "min"), "verification.reputation.min", 0,
                            true, INFINITY, false, "> 0", &v->reputation_min)) != 0 ||
        (rc = verify_number(check, max, "verification.reputation.max", 0, true, INFINITY, false,
                            "> 0", &v->reputation_max)) != 0 ||
        (rc = verify_number(check, initial, "verification.reputation.initial", 0, true,
                            INFINITY, false, "> 0", &v->reputation_initial)) != 0) {
        return rc;
    }
    char low[32];
    char high[32];
    scn__format_number(v->reputation_min, low, sizeof(low));
    scn__format_number(v->reputation_max, high, sizeof(high));
    if (v->reputation_max < v->reputation_min) {
        return scn__fail(check->error, SCN_ESCHEMA, max != NULL ? max : map,
                         "verification.reputation.max (%s) must be >= "
                         "verification.reputation.min (%s)",
                         high, low);
    }
    if (v->reputation_initial < v->reputation_min || v->reputation_initial > v->reputation_max) {
        char value[32];
        scn__format_number(v->reputation_initial, value, sizeof(value));
        return scn__fail(check->error, SCN_ESCHEMA, initial != NULL ? initial : map,
                         "verification.reputation.initial (%s%s) must be in [min, max] = "
                         "[%s, %s]",
                         value, initial != NULL ? "" : ", the default", low, high);
    }
    return 0;
}

/* With protocol none only 'protocol' may be written. */
static int verify_none_keys(scn_check *check, const scn_node *section)
{
    for (size_t i = 0; i < section->count; i++) {
        const scn_node *key = section->keys[i];
        if (strcmp(key->text, "protocol") != 0) {
            return scn__fail(check->error, SCN_ESCHEMA, key,
                             "verification.%s needs protocol: committee", key->text);
        }
    }
    return 0;
}

/* Protocol, and whether the scenario can run a committee at all. */
static int verify_protocol(scn_check *check, const scn_node *section, scn_verification *v)
{
    const scn_node *node = scn__map_get(section, "protocol");
    int protocol = (int)v->protocol;
    int rc = scn__get_enum(check, node, "verification.protocol", verify_protocols, &protocol);
    if (rc != 0) {
        return rc;
    }
    v->protocol = (scn_protocol)protocol;
    if (v->protocol == SCN_PROTOCOL_NONE) {
        return verify_none_keys(check, section);
    }
    const scn_scenario *s = check->scenario;
    const scn_node *where = node != NULL ? node : section;
    if (s->model.source == SCN_MODEL_NONE) {
        return scn__fail(check->error, SCN_ESCHEMA, where,
                         "verification.protocol committee needs a model section (it verifies "
                         "inference outputs)");
    }
    if (s->workload.kind != SCN_WORKLOAD_INFERENCE) {
        return scn__fail(check->error, SCN_ESCHEMA, where,
                         "verification.protocol committee needs an inference workload "
                         "(workload.kind is gossip)");
    }
    return 0;
}

static int verify_sizes(scn_check *check, const scn_node *section, scn_verification *v)
{
    uint64_t committee = v->committee;
    uint64_t retries = v->retries;
    int rc = 0;
    if ((rc = scn__get_uint(check, scn__map_get(section, "committee"), "verification.committee",
                            1, 64, &committee)) != 0 ||
        (rc = scn__get_uint(check, scn__map_get(section, "retries"), "verification.retries", 0,
                            16, &retries)) != 0) {
        return rc;
    }
    v->committee = (uint32_t)committee;
    v->retries = (uint32_t)retries;
    uint64_t quorum = committee / 2 + 1;
    const scn_node *quorum_node = scn__map_get(section, "quorum");
    if ((rc = scn__get_uint(check, quorum_node, "verification.quorum", 1, UINT32_MAX,
                            &quorum)) != 0) {
        return rc;
    }
    if (quorum > committee) {
        return scn__fail(check->error, SCN_ESCHEMA, quorum_node,
                         "verification.quorum (%llu) must be <= verification.committee (%llu)",
                         (unsigned long long)quorum, (unsigned long long)committee);
    }
    v->quorum = (uint32_t)quorum;
    return 0;
}

static int verify_timeouts(scn_check *check, const scn_node *section, scn_verification *v)
{
    static const char *const names[] = {"commit_timeout", "reveal_timeout"};
    uint64_t *fields[] = {&v->commit_timeout_ns, &v->reveal_timeout_ns};
    for (size_t i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof(path), "verification.%s", names[i]);
        const scn_node *node = scn__map_get(section, names[i]);
        int rc = scn__get_duration(check, node, path, fields[i]);
        if (rc != 0) {
            return rc;
        }
        if (*fields[i] == 0) {
            return scn__fail(check->error, SCN_ESCHEMA, node, "%s must be > 0", path);
        }
    }
    return 0;
}

int scn__check_verification(scn_check *check, const scn_node *root)
{
    const scn_node *section = scn__map_get(root, "verification");
    int rc = scn__check_section(check, section, "verification", verify_keys);
    if (rc != 0 || section == NULL) {
        return rc;
    }
    scn_verification *v = &check->scenario->verification;
    if ((rc = verify_protocol(check, section, v)) != 0 || v->protocol == SCN_PROTOCOL_NONE) {
        return rc;
    }
    if ((rc = verify_sizes(check, section, v)) != 0 ||
        (rc = scn__get_bool(check, scn__map_get(section, "commit_reveal"),
                            "verification.commit_reveal", &v->commit_reveal)) != 0 ||
        (rc = verify_timeouts(check, section, v)) != 0 ||
        (rc = verify_agreement(check, scn__map_get(section, "agreement"),
                               "verification.agreement", &v->agreement)) != 0 ||
        (rc = verify_agreement(check, scn__map_get(section, "final_agreement"),
                               "verification.final_agreement", &v->final_agreement)) != 0 ||
        (rc = verify_reputation(check, scn__map_get(section, "reputation"), v)) != 0) {
        return rc;
    }
    rc = verify_number(check, scn__map_get(section, "stake"), "verification.stake", 0, true,
                       INFINITY, false, "> 0", &v->stake);
    if (rc != 0) {
        return rc;
    }
    static const char *const cryptos[] = {"mac", "ed25519", NULL};
    const scn_node *crypto = scn__map_get(section, "crypto");
    if (crypto != NULL) {
        int mode = 0;
        if ((rc = scn__get_enum(check, crypto, "verification.crypto", cryptos, &mode)) != 0) {
            return rc;
        }
        v->sign_ed25519 = mode == 1;
    }
    return verify_number(check, scn__map_get(section, "slash"), "verification.slash", 0, false,
                         1, true, "in [0, 1)", &v->slash);
}
