/* scn_privacy.c -- the privacy section: which segment boundaries get
 * Gaussian noise on their activations, the clipping norm, and the noise
 * multiplier, given as 'sigma' or derived from a target (epsilon, delta)
 * for the run's planned releases per request (consensus/'s accountant).
 * The model and the workload are checked first (segments, tokens). */
#include <math.h>
#include <string.h>

#include "consensus/cons.h"
#include "scenarios/scn_int.h"
#include "util/assert.h"

/* "all", or a list of boundaries 1 .. segment_count - 1. */
static int privacy_boundaries(scn_check *check, const scn_node *node, scn_privacy *p)
{
    uint32_t segments = check->scenario->model.segment_count;
    uint64_t all = segments > 1 ? ((UINT64_MAX >> (64 - segments)) & ~UINT64_C(1)) : 0;
    if (node == NULL || (node->kind == SCN_NODE_SCALAR && strcmp(node->text, "all") == 0)) {
        p->boundary_mask = all;
        return 0;
    }
    if (node->kind != SCN_NODE_SEQ) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "privacy.boundaries must be 'all' or a list of segment indexes");
    }
    p->boundary_mask = 0;
    for (size_t i = 0; i < node->count; i++) {
        uint64_t boundary = 0;
        int rc = scn__get_uint(check, node->values[i], "privacy.boundaries[]", 1,
                               segments > 1 ? segments - 1 : 1, &boundary);
        if (rc != 0) {
            return rc;
        }
        if (segments < 2) {
            return scn__fail(check->error, SCN_ESCHEMA, node->values[i],
                             "privacy.boundaries: the model has one segment, no boundary");
        }
        p->boundary_mask |= UINT64_C(1) << boundary;
    }
    return 0;
}

/* A positive finite number. */
static int privacy_positive(scn_check *check, const scn_node *node, const char *path,
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
    if (!(value > 0) || !isfinite(value)) {
        return scn__fail(check->error, SCN_ESCHEMA, node, "%s must be > 0, got %s", path,
                         node->text);
    }
    *out = value;
    return 0;
}

/* sigma or (epsilon, delta): exactly one way to say how much noise. */
static int privacy_noise(scn_check *check, const scn_node *section, scn_privacy *p)
{
    const scn_node *sigma = scn__map_get(section, "sigma");
    const scn_node *epsilon = scn__map_get(section, "epsilon");
    const scn_node *delta = scn__map_get(section, "delta");
    int rc = 0;
    if (sigma != NULL && epsilon != NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, epsilon,
                         "privacy: give sigma or epsilon, not both");
    }
    if (sigma == NULL && epsilon == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, section,
                         "privacy: missing required key 'sigma' or 'epsilon'");
    }
    if (sigma != NULL && (rc = scn__get_number(check, sigma, "privacy.sigma", &p->sigma)) == 0 &&
        (!(p->sigma >= 0) || !isfinite(p->sigma))) {
        return scn__fail(check->error, SCN_ESCHEMA, sigma, "privacy.sigma must be >= 0, got %s",
                         sigma->text);
    }
    if (rc != 0 || (rc = privacy_positive(check, epsilon, "privacy.epsilon", &p->epsilon)) != 0 ||
        (rc = privacy_positive(check, delta, "privacy.delta", &p->delta)) != 0) {
        return rc;
    }
    if (p->delta >= 1.0) {
        return scn__fail(check->error, SCN_ESCHEMA, delta, "privacy.delta must be < 1, got %s",
                         delta->text);
    }
    if (epsilon != NULL && p->releases > 0) {
        p->sigma = cons_rdp_sigma_for(p->epsilon, p->delta, p->releases);
    }
    return 0;
}

/* require_tee_for: a list of 'tokens' and 'activations'; a TEE class must
 * exist to serve them. */
static int privacy_require_tee(scn_check *check, const scn_node *node, scn_privacy *p)
{
    static const char *const names[] = {"tokens", "activations", NULL};
    if (node == NULL) {
        return 0;
    }
    int rc = scn__check_kind(check, node, SCN_NODE_SEQ, "privacy.require_tee_for");
    for (size_t i = 0; rc == 0 && i < node->count; i++) {
        int which = 0;
        rc = scn__get_enum(check, node->values[i], "privacy.require_tee_for[]", names, &which);
        p->require_tee_tokens |= rc == 0 && which == 0;
        p->require_tee_activations |= rc == 0 && which == 1;
    }
    bool any = false;
    for (uint32_t c = 0; c < check->scenario->nodes.class_count; c++) {
        any |= check->scenario->nodes.classes[c].tee;
    }
    if (rc == 0 && node->count > 0 && !any) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "privacy.require_tee_for needs a node class with tee: true");
    }
    return rc;
}

int scn__check_privacy(scn_check *check, const scn_node *root)
{
    const scn_node *section = scn__map_get(root, "privacy");
    int rc = scn__check_section(check, section, "privacy", "privacy");
    if (rc != 0 || section == NULL) {
        return rc;
    }
    scn_privacy *p = &check->scenario->privacy;
    const scn_workload *w = &check->scenario->workload;
    if (check->model == NULL || w->kind != SCN_WORKLOAD_INFERENCE) {
        return scn__fail(check->error, SCN_ESCHEMA, section,
                         "privacy needs a model and an inference workload");
    }
    p->enabled = true;
    p->delta = 1e-5;
    const scn_node *clip = scn__map_get(section, "clip");
    if (clip == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, section,
                         "privacy: missing required key 'clip'");
    }
    if ((rc = privacy_boundaries(check, scn__map_get(section, "boundaries"), p)) != 0 ||
        (rc = privacy_positive(check, clip, "privacy.clip", &p->clip)) != 0) {
        return rc;
    }
    /* Every step (the prefill and each later token) releases once per
     * noised boundary. */
    uint32_t boundaries = 0;
    for (uint64_t mask = p->boundary_mask; mask != 0; mask &= mask - 1) {
        boundaries += 1;
    }
    p->releases = (uint64_t)w->generate_tokens * boundaries;
    p->attack_sample = 1.0;
    p->side_channel_leak = 1.0;
    const scn_node *curious = scn__map_get(section, "curious");
    const scn_node *sample = scn__map_get(section, "attack_sample");
    const scn_node *leak = scn__map_get(section, "side_channel_leak");
    if ((rc = privacy_require_tee(check, scn__map_get(section, "require_tee_for"), p)) != 0 ||
        (leak != NULL && (rc = scn__get_fraction(check, leak, "privacy.side_channel_leak", true,
                                                 &p->side_channel_leak)) != 0) ||
        (curious != NULL &&
         (rc = scn__get_fraction(check, curious, "privacy.curious", true, &p->curious)) != 0) ||
        (sample != NULL && (rc = scn__get_fraction(check, sample, "privacy.attack_sample", true,
                                                   &p->attack_sample)) != 0)) {
        return rc;
    }
    return privacy_noise(check, section, p);
}
