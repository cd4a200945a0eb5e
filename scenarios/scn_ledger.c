/* scn_ledger.c -- the ledger section: a BFT validator set among the nodes
 * (consensus/cons_bft.c) and verification.settlement, which says whether
 * verdicts settle at once (instant) or when a block carrying them commits
 * (ledger). Model, workload and verification are checked first. */
#include <string.h>

#include "consensus/cons.h"
#include "scenarios/scn_int.h"
#include "util/assert.h"

/* Committee members one settlement transaction can carry (node/ledger.c's
 * encoding fits CONS_BFT_TX_BYTES_MAX). */
#define SCN_LEDGER_MEMBERS_MAX 18u

/* byzantine + behaviour (+ delay, crash_at): the last 'byzantine'
 * validators run a Byzantine behaviour of cons_bft. */
static int ledger_byzantine(scn_check *check, const scn_node *section, scn_ledger *l)
{
    /* In cons_bft_behaviour's order. */
    static const char *const names[] = {"honest", "equivocate", "withhold", "delay", "crash",
                                        "twin", NULL};
    const scn_node *behaviour = scn__map_get(section, "behaviour");
    const scn_node *count = scn__map_get(section, "byzantine");
    int which = 0;
    uint64_t byzantine = 0;
    int rc = scn__get_uint(check, count, "ledger.byzantine", 0, l->validators, &byzantine);
    if (rc != 0) {
        return rc;
    }
    if (behaviour != NULL &&
        (rc = scn__get_enum(check, behaviour, "ledger.behaviour", names, &which)) != 0) {
        return rc;
    }
    if (byzantine > 0 && which == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, count,
                         "ledger.byzantine needs ledger.behaviour (equivocate, withhold, "
                         "delay, crash or twin)");
    }
    l->byzantine = (uint32_t)byzantine;
    l->behaviour = (uint32_t)which;
    l->delay_ns = 2000000000ull;
    if ((rc = scn__get_duration(check, scn__map_get(section, "delay"), "ledger.delay",
                                &l->delay_ns)) != 0 ||
        (rc = scn__get_duration(check, scn__map_get(section, "crash_at"), "ledger.crash_at",
                                &l->crash_at_ns)) != 0) {
        return rc;
    }
    return 0;
}

/* ledger.timeout_evidence: attestations by the committee's peers prove a
 * missed commit deadline, so it needs ledger settlement with evidence, a
 * protocol that commits, and a committee of at least two. */
static int ledger_timeout_evidence(scn_check *check, const scn_node *root, const scn_ledger *l)
{
    const scn_node *node = scn__map_get(scn__map_get(root, "ledger"), "timeout_evidence");
    const scn_verification *v = &check->scenario->verification;
    const char *why = NULL;
    if (!l->settlement_ledger) {
        why = "ledger.timeout_evidence needs verification.settlement: ledger";
    } else if (!l->evidence) {
        why = "ledger.timeout_evidence needs ledger.evidence: true";
    } else if (!v->commit_reveal) {
        why = "ledger.timeout_evidence needs verification.commit_reveal: true (members commit)";
    } else if (v->committee < 2) {
        why = "ledger.timeout_evidence needs verification.committee >= 2 (peers attest)";
    }
    return why == NULL ? 0 : scn__fail(check->error, SCN_ESCHEMA, node, "%s", why);
}

/* dissemination (direct or gossip), fanout and pull_interval: how
 * transactions and votes reach the validators. */
static int ledger_dissemination(scn_check *check, const scn_node *section, scn_ledger *l)
{
    static const char *const names[] = {"direct", "gossip", NULL};
    const scn_node *how = scn__map_get(section, "dissemination");
    const scn_node *fanout = scn__map_get(section, "fanout");
    uint64_t count = 3;
    int which = 0;
    int rc = 0;
    l->pull_interval_ns = 500000000ull;
    if ((how != NULL &&
         (rc = scn__get_enum(check, how, "ledger.dissemination", names, &which)) != 0) ||
        (rc = scn__get_uint(check, fanout, "ledger.fanout", 1, CONS_BFT_VALIDATORS_MAX,
                            &count)) != 0 ||
        (rc = scn__get_duration(check, scn__map_get(section, "pull_interval"),
                                "ledger.pull_interval", &l->pull_interval_ns)) != 0) {
        return rc;
    }
    l->gossip = which == 1;
    l->fanout = (uint32_t)count;
    if (l->gossip && l->validators < 2) {
        return scn__fail(check->error, SCN_ESCHEMA, how,
                         "ledger.dissemination: gossip needs ledger.validators >= 2");
    }
    if (l->gossip && l->fanout >= l->validators) {
        return scn__fail(check->error, SCN_ESCHEMA, fanout != NULL ? fanout : how,
                         "ledger.fanout (%u) must be below ledger.validators (%u): a validator "
                         "pushes to that many others",
                         l->fanout, l->validators);
    }
    if (l->gossip && l->byzantine > 0 && l->behaviour == CONS_BFT_TWIN) {
        return scn__fail(check->error, SCN_ESCHEMA, how,
                         "ledger.dissemination: gossip cannot be combined with behaviour: twin "
                         "(a twin's two instances would share one seen set)");
    }
    return 0;
}

/* verification.settlement: instant (the default) or ledger. */
static int ledger_settlement(scn_check *check, const scn_node *root, scn_ledger *l)
{
    static const char *const names[] = {"instant", "ledger", NULL};
    const scn_node *section = scn__map_get(root, "verification");
    const scn_node *node = section != NULL ? scn__map_get(section, "settlement") : NULL;
    int which = 0;
    if (node == NULL) {
        return 0;
    }
    int rc = scn__get_enum(check, node, "verification.settlement", names, &which);
    if (rc != 0) {
        return rc;
    }
    l->settlement_ledger = which == 1;
    if (l->settlement_ledger && l->validators == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "verification.settlement: ledger needs a ledger section with "
                         "validators > 0");
    }
    if (l->settlement_ledger && check->scenario->verification.draw_epoch > 0) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "verification.settlement: ledger settles at commit, not in request "
                         "order: it cannot be combined with verification.draw_epoch");
    }
    if (l->settlement_ledger &&
        check->scenario->verification.committee > SCN_LEDGER_MEMBERS_MAX) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "verification.settlement: ledger carries at most %u members per "
                         "decision; verification.committee is %u",
                         SCN_LEDGER_MEMBERS_MAX, check->scenario->verification.committee);
    }
    return 0;
}

static int ledger_numbers(scn_check *check, const scn_node *section, scn_ledger *l)
{
    static const char *const auths[] = {"mac", "ed25519", NULL};
    const scn_node *auth = scn__map_get(section, "auth");
    uint64_t txs = l->block_txs;
    int which = 0;
    int rc = 0;
    l->block_interval_ns = 200000000ull;
    l->view_timeout_ns = 1000000000ull;
    if ((rc = scn__get_duration(check, scn__map_get(section, "block_interval"),
                                "ledger.block_interval", &l->block_interval_ns)) != 0 ||
        (rc = scn__get_duration(check, scn__map_get(section, "view_timeout"),
                                "ledger.view_timeout", &l->view_timeout_ns)) != 0 ||
        (rc = scn__get_uint(check, scn__map_get(section, "block_txs"), "ledger.block_txs", 1,
                            CONS_BFT_BLOCK_TXS_MAX, &txs)) != 0 ||
        (auth != NULL && (rc = scn__get_enum(check, auth, "ledger.auth", auths, &which)) != 0)) {
        return rc;
    }
    if (l->view_timeout_ns == 0) {
        return scn__fail(check->error, SCN_ESCHEMA, scn__map_get(section, "view_timeout"),
                         "ledger.view_timeout must be > 0");
    }
    l->block_txs = (uint32_t)txs;
    l->auth_mac = which == 0;
    l->evidence = true;
    l->resend_timeout_ns = 3000000000ull;
    if ((rc = scn__get_bool(check, scn__map_get(section, "evidence"), "ledger.evidence",
                            &l->evidence)) != 0 ||
        (rc = scn__get_bool(check, scn__map_get(section, "timeout_evidence"),
                            "ledger.timeout_evidence", &l->timeout_evidence)) != 0 ||
        (rc = scn__get_duration(check, scn__map_get(section, "resend_timeout"),
                                "ledger.resend_timeout", &l->resend_timeout_ns)) != 0) {
        return rc;
    }
    return 0;
}

int scn__check_ledger(scn_check *check, const scn_node *root)
{
    const scn_node *section = scn__map_get(root, "ledger");
    scn_ledger *l = &check->scenario->ledger;
    int rc = scn__check_section(check, section, "ledger", "ledger");
    if (rc != 0) {
        return rc;
    }
    if (section != NULL) {
        uint64_t validators = 0;
        const scn_node *count = scn__map_get(section, "validators");
        if ((rc = scn__get_uint(check, count, "ledger.validators", 0, CONS_BFT_VALIDATORS_MAX,
                                &validators)) != 0) {
            return rc;
        }
        l->validators = (uint32_t)validators;
        if (validators > check->scenario->nodes.count) {
            return scn__fail(check->error, SCN_ESCHEMA, count,
                             "ledger.validators (%u) exceeds nodes.count (%u): validators are "
                             "nodes 0 .. validators - 1",
                             l->validators, check->scenario->nodes.count);
        }
        bool verifying = check->scenario->workload.kind == SCN_WORKLOAD_INFERENCE &&
                         check->scenario->verification.protocol != CONS_PROTOCOL_NONE;
        if (validators > 0 && !verifying) {
            return scn__fail(check->error, SCN_ESCHEMA, section,
                             "ledger needs an inference workload and a verification protocol");
        }
        l->block_txs = 32;
        if ((rc = ledger_numbers(check, section, l)) != 0 ||
            (rc = ledger_byzantine(check, section, l)) != 0 ||
            (rc = ledger_dissemination(check, section, l)) != 0) {
            return rc;
        }
        l->submit_to = l->validators > 0 ? cons_bft_faults(l->validators) + 1 : 0;
    }
    if ((rc = ledger_settlement(check, root, l)) != 0) {
        return rc;
    }
    return l->timeout_evidence ? ledger_timeout_evidence(check, root, l) : 0;
}
