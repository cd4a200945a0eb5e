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

/* In enum order (scn_agree_rule). */
static const char *const verify_rules[] = {"exact", "maxabs", "cosine", "topk", NULL};

void scn__verification_defaults(scn_verification *v)
{
    memset(v, 0, sizeof(*v));
    v->protocol = CONS_PROTOCOL_NONE;
    v->committee = 3;
    v->quorum = 2;
    v->retries = 2;
    v->commit_reveal = true;
    v->vrf_epoch_ns = 10000000000ull;
    v->vrf_accept = 0.25;
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
    v->echelon = -1;
    v->verifiers = 3;
    v->check_probability = 0.01;
    v->check_answers = 1;
    v->catch_up = true;
    v->challenge_window_ns = 10000000000ull;
    v->bisection_round_ns = 1000000000ull;
    v->dispute_ns = 1000000000ull;
    v->tee_overhead = 0.07;
    v->zk_prover_factor = 1000.0;
    v->zk_proof_bytes = 65536;
    v->zk_verify_ns = 10000000ull;
    v->timeout_slash = 0.0;
    v->fee_per_token = 0.0;
    v->slashed_honest = 0.5;
    v->slashed_oracle = 0.2;
    v->slashed_burn = 0.3;
}

/* What a protocol changes in the defaults: Atoma's sampling settles on
 * unanimity of bit-identical outputs and resamples up to 3 times with a 10 %
 * timeout slash; single-executor protocols have one member and no
 * commit phase (optimistic and crossval add their checkers to it). */
static void verify_protocol_defaults(scn_verification *v)
{
    switch (v->protocol) {
    case CONS_PROTOCOL_SAMPLING:
        v->committee = 3;
        v->quorum = 3;
        v->retries = 3;
        v->timeout_slash = 0.1;
        v->agreement.rule = SCN_AGREE_EXACT;
        v->final_agreement.rule = SCN_AGREE_EXACT;
        break;
    case CONS_PROTOCOL_CROSSVAL:
        v->timeout_slash = 0.1;
        /* fall through */
    case CONS_PROTOCOL_OPTIMISTIC:
    case CONS_PROTOCOL_TEE:
    case CONS_PROTOCOL_ZK:
        v->committee = 1;
        v->quorum = 1;
        v->commit_reveal = false;
        v->verifiers = v->protocol == CONS_PROTOCOL_OPTIMISTIC ? 1 : 3;
        break;
    default:
        break;
    }
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
    static const char *const params[] = {"epsilon", "tau", "top_k", "margin"};
    static const scn_agree_rule owners[] = {SCN_AGREE_MAXABS, SCN_AGREE_COSINE, SCN_AGREE_TOPK,
                                            SCN_AGREE_TOPK};
    for (size_t i = 0; i < 4; i++) {
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
    int rc = scn__check_section(check, map, path, path);
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
    snprintf(field, sizeof(field), "%s.margin", path);
    if (rc == 0) {
        rc = verify_number(check, scn__map_get(map, "margin"), field, 0, false, INFINITY, true,
                           "finite and >= 0", &a->margin);
    }
    return rc;
}

static int verify_reputation(scn_check *check, const scn_node *map, scn_verification *v)
{
    const char *path = "verification.reputation";
    int rc = scn__check_section(check, map, path, "verification.reputation");
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
                             "verification.%s needs a protocol other than none", key->text);
        }
    }
    return 0;
}

/* The name of a key of the verification section that one protocol owns
 * (the row's scope), else NULL. Cannot fail. */
static const char *verify_owned_key(const scn_key_info *row)
{
    const char *name = strncmp(row->path, "verification.", 13) == 0 ? row->path + 13 : NULL;
    bool direct = name != NULL && strchr(name, '.') == NULL;
    return direct && row->scope[0] != '\0' ? name : NULL;
}

/* Keys owned by another protocol, and the committee sizes a protocol fixes. */
static int verify_foreign_keys(scn_check *check, const scn_node *section,
                               const scn_verification *v)
{
    const char *name = cons_protocol_name(v->protocol);
    /* Keys that belong to one protocol only: the key table's scope. */
    for (size_t i = 0; i < scn__key_count; i++) {
        const scn_key_info *row = &scn__keys[i];
        const char *owned = verify_owned_key(row);
        const scn_node *key = owned != NULL ? verify_key_node(section, owned) : NULL;
        if (key != NULL && strcmp(row->scope, name) != 0) {
            return scn__fail(check->error, SCN_ESCHEMA, key,
                             "verification.%s does not apply to protocol %s (it belongs to "
                             "protocol %s)",
                             key->text, name, row->scope);
        }
    }
    /* Built-in executors; a registered protocol keeps the committee keys. */
    bool single = v->protocol > CONS_PROTOCOL_SAMPLING && v->protocol < CONS_PROTOCOL_BUILTIN;
    bool checkers =
        v->protocol == CONS_PROTOCOL_CROSSVAL || v->protocol == CONS_PROTOCOL_OPTIMISTIC;
    const struct {
        const char *key;
        bool applies;
        const char *why;
    } fixed[] = {
        {"committee", !single, "it has one executor"},
        {"quorum", v->protocol == CONS_PROTOCOL_COMMITTEE, "it settles on unanimity"},
        {"unsafe_quorum_slack", v->protocol == CONS_PROTOCOL_COMMITTEE, "it has no quorum"},
        {"commit_reveal", !single, "its executor answers at once"},
        {"verifiers", checkers, "only crossval and optimistic have verifiers"},
        {"dispute_time", v->protocol == CONS_PROTOCOL_SAMPLING || checkers,
         "it has no referee"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_COUNT(fixed); i++) {
        const scn_node *key = verify_key_node(section, fixed[i].key);
        if (key != NULL && !fixed[i].applies) {
            return scn__fail(check->error, SCN_ESCHEMA, key,
                             "verification.%s does not apply to protocol %s (%s)", key->text,
                             name, fixed[i].why);
        }
    }
    return 0;
}

/* Protocol, and whether the scenario can verify anything at all. */
static int verify_protocol(scn_check *check, const scn_node *section, scn_verification *v)
{
    const scn_node *node = scn__map_get(section, "protocol");
    const char *names[CONS_PROTOCOLS_MAX + 1] = {NULL};
    for (uint32_t i = 0; i < cons_protocol_count(); i++) {
        names[i] = cons_protocol_name((cons_protocol)i); /* The protocols' own spelling. */
    }
    int protocol = (int)v->protocol;
    int rc = scn__get_enum(check, node, "verification.protocol", names, &protocol);
    if (rc != 0) {
        return rc;
    }
    v->protocol = (cons_protocol)protocol;
    if (v->protocol == CONS_PROTOCOL_NONE) {
        return verify_none_keys(check, section);
    }
    const scn_scenario *s = check->scenario;
    const scn_node *where = node != NULL ? node : section;
    const char *name = cons_protocol_name(v->protocol);
    if (s->model.source == SCN_MODEL_NONE) {
        return scn__fail(check->error, SCN_ESCHEMA, where,
                         "verification.protocol %s needs a model section (it verifies "
                         "inference outputs)",
                         name);
    }
    if (s->workload.kind != SCN_WORKLOAD_INFERENCE) {
        return scn__fail(check->error, SCN_ESCHEMA, where,
                         "verification.protocol %s needs an inference workload "
                         "(workload.kind is gossip)",
                         name);
    }
    verify_protocol_defaults(v);
    return verify_foreign_keys(check, section, v);
}

static int verify_sizes(scn_check *check, const scn_node *section, scn_verification *v)
{
    uint64_t committee = v->committee;
    uint64_t retries = v->retries;
    uint64_t verifiers = v->verifiers;
    int rc = 0;
    if ((rc = scn__get_uint(check, scn__map_get(section, "committee"), "verification.committee",
                            1, 64, &committee)) != 0 ||
        (rc = scn__get_uint(check, scn__map_get(section, "retries"), "verification.retries", 0,
                            16, &retries)) != 0 ||
        (rc = scn__get_uint(check, scn__map_get(section, "verifiers"), "verification.verifiers",
                            1, 63, &verifiers)) != 0) {
        return rc;
    }
    uint64_t draw_epoch = 0;
    if ((rc = scn__get_uint(check, scn__map_get(section, "draw_epoch"), "verification.draw_epoch",
                            0, UINT32_MAX, &draw_epoch)) != 0) {
        return rc;
    }
    v->draw_epoch = (uint32_t)draw_epoch;
    v->committee = (uint32_t)committee;
    v->retries = (uint32_t)retries;
    v->verifiers = (uint32_t)verifiers;
    if (v->protocol != CONS_PROTOCOL_COMMITTEE) {
        v->quorum = v->protocol == CONS_PROTOCOL_SAMPLING ? v->committee : 1;
        return 0;
    }
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
    /* Deliberately unsafe, for testing swarm and shrink: accept with this
     * many votes fewer than the quorum (at least one vote stays needed). */
    uint64_t slack = 0;
    const scn_node *slack_node = scn__map_get(section, "unsafe_quorum_slack");
    if ((rc = scn__get_uint(check, slack_node, "verification.unsafe_quorum_slack", 0,
                            quorum - 1, &slack)) != 0) {
        return rc;
    }
    v->unsafe_quorum_slack = (uint32_t)slack;
    return 0;
}

/* crossval: how many of the checkers must answer a checked hop (at most
 * all of them); the key belongs to crossval (verify_foreign_keys). */
static int verify_check_answers(scn_check *check, const scn_node *section, scn_verification *v)
{
    const scn_node *node = scn__map_get(section, "check_answers");
    uint64_t answers = v->check_answers;
    int rc = scn__get_uint(check, node, "verification.check_answers", 0, 63, &answers);
    if (rc != 0) {
        return rc;
    }
    if (answers > v->verifiers) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "verification.check_answers (%llu) must be <= verification.verifiers "
                         "(%u)",
                         (unsigned long long)answers, v->verifiers);
    }
    v->check_answers = (uint32_t)answers;
    return 0;
}

/* Failure detection: a silence shorter than both phase timeouts (longer
 * would never fire before them). Absent or 0s: off. */
static int verify_suspect_after(scn_check *check, const scn_node *section, scn_verification *v)
{
    const scn_node *node = scn__map_get(section, "suspect_after");
    int rc = scn__get_duration(check, node, "verification.suspect_after", &v->suspect_after_ns);
    if (rc != 0 || node == NULL) {
        return rc;
    }
    if (v->suspect_after_ns > 0 &&
        (v->suspect_after_ns >= v->commit_timeout_ns ||
         v->suspect_after_ns >= v->reveal_timeout_ns)) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "verification.suspect_after must be shorter than commit_timeout and "
                         "reveal_timeout");
    }
    return 0;
}

static int verify_timeouts(scn_check *check, const scn_node *section, scn_verification *v)
{
    static const char *const names[] = {"commit_timeout", "reveal_timeout", "challenge_window",
                                        "bisection_round", "dispute_time"};
    uint64_t *fields[] = {&v->commit_timeout_ns, &v->reveal_timeout_ns, &v->challenge_window_ns,
                          &v->bisection_round_ns, &v->dispute_ns};
    for (size_t i = 0; i < UTIL_ARRAY_COUNT(names); i++) {
        char path[64];
        snprintf(path, sizeof(path), "verification.%s", names[i]);
        const scn_node *node = scn__map_get(section, names[i]);
        int rc = scn__get_duration(check, node, path, fields[i]);
        if (rc != 0) {
            return rc;
        }
        if (*fields[i] == 0 && i < 2) {
            return scn__fail(check->error, SCN_ESCHEMA, node, "%s must be > 0", path);
        }
    }
    return verify_suspect_after(check, section, v);
}

/* sampling's echelon: a class name, whose nodes have identical hardware. */
static int verify_echelon(scn_check *check, const scn_node *node, scn_verification *v)
{
    if (node == NULL) {
        return 0;
    }
    char name[SCN_NAME_MAX];
    int rc = scn__get_string(check, node, "verification.echelon", name, sizeof(name));
    if (rc != 0) {
        return rc;
    }
    const scn_nodes *nodes = &check->scenario->nodes;
    for (uint32_t i = 0; i < nodes->class_count; i++) {
        if (strcmp(nodes->classes[i].name, name) == 0) {
            v->echelon = (int32_t)i;
            return 0;
        }
    }
    return scn__fail(check->error, SCN_ESCHEMA, node,
                     "verification.echelon: unknown class '%s' (not in nodes.classes)", name);
}

static int verify_zk(scn_check *check, const scn_node *map, scn_verification *v)
{
    int rc = scn__check_section(check, map, "verification.zk", "verification.zk");
    if (rc != 0 || map == NULL) {
        return rc;
    }
    const scn_node *bytes = scn__map_get(map, "proof_bytes");
    if ((rc = verify_number(check, scn__map_get(map, "prover_factor"),
                            "verification.zk.prover_factor", 0, false, 1e9, false,
                            "in [0, 1e9]", &v->zk_prover_factor)) != 0 ||
        (rc = scn__get_duration(check, scn__map_get(map, "verify_time"),
                                "verification.zk.verify_time", &v->zk_verify_ns)) != 0) {
        return rc;
    }
    if (bytes == NULL) {
        return 0;
    }
    char why[128];
    uint64_t value = 0;
    if ((rc = scn__check_kind(check, bytes, SCN_NODE_SCALAR, "verification.zk.proof_bytes")) !=
        0) {
        return rc;
    }
    /* A proof carries at least its verifier's verdict byte. */
    if (scn__parse_bytes(bytes->text, &value, why, sizeof(why)) != 0 || value < 1 ||
        value > (16u << 20)) {
        return scn__fail(check->error, SCN_ESCHEMA, bytes,
                         "verification.zk.proof_bytes must be a size from 1B up to 16MiB, got %s",
                         bytes->text);
    }
    v->zk_proof_bytes = (uint32_t)value;
    return 0;
}

/* Where slashed funds go: shares that sum to 1 (absent keys are 0). */
static int verify_slashed_to(scn_check *check, const scn_node *map, scn_verification *v)
{
    int rc = scn__check_section(check, map, "verification.slashed_to", "verification.slashed_to");
    if (rc != 0 || map == NULL) {
        return rc;
    }
    /* The table's order: honest, oracle, burn. */
    const char *names[4];
    scn__keys_under("verification.slashed_to", NULL, names, UTIL_ARRAY_COUNT(names));
    double *shares[] = {&v->slashed_honest, &v->slashed_oracle, &v->slashed_burn};
    double sum = 0.0;
    for (size_t i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof(path), "verification.slashed_to.%s", names[i]);
        *shares[i] = 0.0;
        if ((rc = verify_number(check, scn__map_get(map, names[i]), path, 0,
                                false, 1, false, "in [0, 1]", shares[i])) != 0) {
            return rc;
        }
        sum += *shares[i];
    }
    if (fabs(sum - 1.0) > 1e-9) {
        return scn__fail(check->error, SCN_ESCHEMA, map,
                         "verification.slashed_to: honest + oracle + burn must be 1, got %g",
                         sum);
    }
    return 0;
}

static int verify_crypto(scn_check *check, const scn_node *crypto, scn_verification *v)
{
    static const char *const cryptos[] = {"mac", "ed25519", NULL};
    if (crypto == NULL) {
        return 0;
    }
    int mode = 0;
    int rc = scn__get_enum(check, crypto, "verification.crypto", cryptos, &mode);
    v->sign_ed25519 = mode == 1;
    return rc;
}

/* How committees are drawn: public hash tickets, or tickets from each
 * node's VRF output, whose proof rides the member's commitment. */
static int verify_selection(scn_check *check, const scn_node *section, scn_verification *v)
{
    static const char *const selections[] = {"hash", "vrf", NULL};
    const scn_node *node = scn__map_get(section, "selection");
    const scn_node *epoch = scn__map_get(section, "vrf_epoch");
    int mode = 0;
    int rc = node == NULL ? 0 : scn__get_enum(check, node, "verification.selection", selections,
                                              &mode);
    if (rc != 0 || (rc = scn__get_duration(check, epoch, "verification.vrf_epoch",
                                           &v->vrf_epoch_ns)) != 0) {
        return rc;
    }
    v->selection_vrf = mode == 1;
    if (v->vrf_epoch_ns == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, epoch, "verification.vrf_epoch must be > 0");
    }
    if (epoch != NULL && !v->selection_vrf) {
        return scn__fail(check->error, SCN_ESCHEMA, epoch,
                         "verification.vrf_epoch needs verification.selection: vrf");
    }
    if (v->selection_vrf && !v->commit_reveal) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "verification.selection: vrf needs commit-reveal (a member's VRF "
                         "proof rides its commitment)");
    }
    return 0;
}

/* How a committee is drawn from its tickets: the race over every
 * candidate's ticket, or successive sampling over a weight tree (under
 * selection: vrf, a pick seats its node only on the node's private hit). */
static int verify_draw(scn_check *check, const scn_node *section, scn_verification *v)
{
    static const char *const draws[] = {"race", "tree", NULL};
    const scn_node *node = scn__map_get(section, "draw");
    const scn_node *accept = scn__map_get(section, "vrf_accept");
    int mode = 0;
    int rc = node == NULL ? 0 : scn__get_enum(check, node, "verification.draw", draws, &mode);
    v->draw_tree = mode == 1;
    if (rc != 0 || (rc = verify_number(check, accept, "verification.vrf_accept", 1.0 / 16, false,
                                       1, false, "in [1/16, 1]", &v->vrf_accept)) != 0) {
        return rc;
    }
    if (accept != NULL && !(v->draw_tree && v->selection_vrf)) {
        return scn__fail(check->error, SCN_ESCHEMA, accept,
                         "verification.vrf_accept needs selection: vrf and draw: tree");
    }
    return 0;
}

/* The protocol-specific numbers and the economics. */
static int verify_protocol_numbers(scn_check *check, const scn_node *section,
                                   scn_verification *v)
{
    int rc = 0;
    if ((rc = verify_echelon(check, scn__map_get(section, "echelon"), v)) != 0 ||
        (rc = verify_number(check, scn__map_get(section, "check_probability"),
                            "verification.check_probability", 0, false, 1, false, "in [0, 1]",
                            &v->check_probability)) != 0 ||
        (rc = verify_number(check, scn__map_get(section, "tee_overhead"),
                            "verification.tee_overhead", 0, false, 100, false, "in [0, 100]",
                            &v->tee_overhead)) != 0 ||
        (rc = verify_zk(check, scn__map_get(section, "zk"), v)) != 0 ||
        (rc = verify_number(check, scn__map_get(section, "stake"), "verification.stake", 0,
                            true, INFINITY, false, "> 0", &v->stake)) != 0 ||
        (rc = verify_number(check, scn__map_get(section, "slash"), "verification.slash", 0,
                            false, 1, true, "in [0, 1)", &v->slash)) != 0 ||
        (rc = verify_number(check, scn__map_get(section, "timeout_slash"),
                            "verification.timeout_slash", 0, false, 1, true, "in [0, 1)",
                            &v->timeout_slash)) != 0 ||
        (rc = verify_number(check, scn__map_get(section, "fee_per_token"),
                            "verification.fee_per_token", 0, false, INFINITY, false, ">= 0",
                            &v->fee_per_token)) != 0) {
        return rc;
    }
    return verify_slashed_to(check, scn__map_get(section, "slashed_to"), v);
}

/* A tee run needs a class that has one. */
static int verify_tee_classes(scn_check *check, const scn_node *section,
                              const scn_verification *v)
{
    const scn_nodes *nodes = &check->scenario->nodes;
    if (v->protocol != CONS_PROTOCOL_TEE) {
        return 0;
    }
    for (uint32_t i = 0; i < nodes->class_count; i++) {
        if (nodes->classes[i].tee) {
            return 0;
        }
    }
    return scn__fail(check->error, SCN_ESCHEMA, scn__map_get(section, "protocol"),
                     "verification.protocol tee needs a class with tee: true in nodes.classes");
}

int scn__check_verification(scn_check *check, const scn_node *root)
{
    const scn_node *section = scn__map_get(root, "verification");
    int rc = scn__check_section(check, section, "verification", "verification");
    if (rc != 0 || section == NULL) {
        return rc;
    }
    scn_verification *v = &check->scenario->verification;
    if ((rc = verify_protocol(check, section, v)) != 0 || v->protocol == CONS_PROTOCOL_NONE) {
        return rc;
    }
    if (check->scenario->workload.failover) {
        return scn__fail(check->error, SCN_ESCHEMA, scn__map_get(section, "protocol"),
                         "workload.failover needs verification.protocol none (a committee "
                         "retries with fresh members instead)");
    }
    if (check->scenario->workload.routing != SCN_ROUTING_HASH) {
        return scn__fail(check->error, SCN_ESCHEMA, scn__map_get(section, "protocol"),
                         "workload.routing latency needs verification.protocol none (a "
                         "committee's members are drawn, not routed)");
    }
    for (uint32_t i = 0; i < check->scenario->nodes.class_count; i++) {
        if (check->scenario->nodes.classes[i].max_batch > 1) {
            return scn__fail(check->error, SCN_ESCHEMA, scn__map_get(section, "protocol"),
                             "nodes.classes.%u.max_batch > 1 needs verification.protocol none "
                             "(committee members compute one call at a time)",
                             i);
        }
    }
    if ((rc = verify_sizes(check, section, v)) != 0 ||
        (rc = verify_check_answers(check, section, v)) != 0 ||
        (rc = scn__get_bool(check, scn__map_get(section, "commit_reveal"),
                            "verification.commit_reveal", &v->commit_reveal)) != 0 ||
        (rc = scn__get_bool(check, scn__map_get(section, "catch_up"), "verification.catch_up",
                            &v->catch_up)) != 0 ||
        (rc = verify_timeouts(check, section, v)) != 0 ||
        (rc = verify_agreement(check, scn__map_get(section, "agreement"),
                               "verification.agreement", &v->agreement)) != 0 ||
        (rc = verify_agreement(check, scn__map_get(section, "final_agreement"),
                               "verification.final_agreement", &v->final_agreement)) != 0 ||
        (rc = verify_reputation(check, scn__map_get(section, "reputation"), v)) != 0 ||
        (rc = verify_protocol_numbers(check, section, v)) != 0 ||
        (rc = verify_crypto(check, scn__map_get(section, "crypto"), v)) != 0) {
        return rc;
    }
    if (v->protocol == CONS_PROTOCOL_SAMPLING && !v->commit_reveal) {
        return scn__fail(check->error, SCN_ESCHEMA, scn__map_get(section, "commit_reveal"),
                         "verification.commit_reveal must be true for protocol sampling (it "
                         "settles on the commitments)");
    }
    if ((rc = verify_selection(check, section, v)) != 0 ||
        (rc = verify_draw(check, section, v)) != 0) {
        return rc;
    }
    return verify_tee_classes(check, section, v);
}
