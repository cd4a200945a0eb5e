/* scn_churn.c -- the churn section: nodes join and leave over simulated
 * time (world/world_churn.c draws the events, sim/churn.c applies them).
 * Model, workload and verification are checked first. */
#include <string.h>

#include "scenarios/scn_int.h"
#include "util/assert.h"

/* A rate key: events per second of simulated time, >= 0 ("0.5/s", "2/min"). */
static int churn_rate(scn_check *check, const scn_node *section, const char *key,
                      const char *path, double *out)
{
    const scn_node *node = scn__map_get(section, key);
    int rc = scn__get_rate(check, node, path, out);
    if (rc != 0 || node == NULL) {
        return rc;
    }
    if (!(*out >= 0) || *out > 1e9) {
        return scn__fail(check->error, SCN_ESCHEMA, node,
                         "%s must be between 0/s and 1e9/s, got %s", path, node->text);
    }
    return 0;
}

/* leave: crash or graceful, and graceful's drain. */
static int churn_leave(scn_check *check, const scn_node *section, scn_churn *c)
{
    static const char *const names[] = {"crash", "graceful", NULL};
    const scn_node *leave = scn__map_get(section, "leave");
    const scn_node *drain = scn__map_get(section, "drain");
    int which = 0;
    int rc = scn__get_enum(check, leave, "churn.leave", names, &which);
    if (rc != 0 || (rc = scn__get_duration(check, drain, "churn.drain", &c->drain_ns)) != 0) {
        return rc;
    }
    c->leave = (scn_churn_leave)which;
    if (drain != NULL && c->leave != SCN_CHURN_LEAVE_GRACEFUL) {
        return scn__fail(check->error, SCN_ESCHEMA, drain,
                         "churn.drain needs churn.leave: graceful");
    }
    if (c->leave == SCN_CHURN_LEAVE_GRACEFUL &&
        check->scenario->verification.protocol != CONS_PROTOCOL_NONE) {
        return scn__fail(check->error, SCN_ESCHEMA, leave,
                         "churn.leave: graceful needs verification.protocol none (a committee "
                         "member that leaves behaves as a crashed node)");
    }
    return 0;
}

/* start and stop: the window in which events happen. */
static int churn_window(scn_check *check, const scn_node *section, scn_churn *c)
{
    const scn_node *stop = scn__map_get(section, "stop");
    int rc = scn__get_duration(check, scn__map_get(section, "start"), "churn.start",
                               &c->start_ns);
    if (rc != 0 || (rc = scn__get_duration(check, stop, "churn.stop", &c->stop_ns)) != 0) {
        return rc;
    }
    if (c->stop_ns < c->start_ns) {
        return scn__fail(check->error, SCN_ESCHEMA, stop != NULL ? stop : section,
                         "churn.stop must not be before churn.start");
    }
    return 0;
}

int scn__check_churn(scn_check *check, const scn_node *root)
{
    const scn_node *section = scn__map_get(root, "churn");
    scn_churn *c = &check->scenario->churn;
    int rc = scn__check_section(check, section, "churn", "churn");
    if (rc != 0 || section == NULL) {
        return rc;
    }
    if (check->scenario->workload.kind != SCN_WORKLOAD_INFERENCE) {
        return scn__fail(check->error, SCN_ESCHEMA, section, "churn needs an inference workload");
    }
    c->enabled = true;
    c->initially_online = 1.0;
    c->drain_ns = 1000000000ull;
    c->stop_ns = check->scenario->duration_ns;
    if ((rc = churn_rate(check, section, "join_rate", "churn.join_rate", &c->join_rate_per_s)) != 0 ||
        (rc = churn_rate(check, section, "leave_rate", "churn.leave_rate",
                         &c->leave_rate_per_s)) != 0 ||
        (rc = scn__get_fraction(check, scn__map_get(section, "initially_online"),
                                "churn.initially_online", true, &c->initially_online)) != 0 ||
        (rc = churn_leave(check, section, c)) != 0) {
        return rc;
    }
    if ((rc = churn_window(check, section, c)) != 0) {
        return rc;
    }
    const scn_node *nodes = scn__map_get(section, "nodes");
    if (nodes == NULL) {
        memset(&c->nodes, 0, sizeof(c->nodes));
        c->nodes.all = true;
        c->nodes.class_index = -1;
        c->nodes.region_index = -1;
        return 0;
    }
    return scn__check_selector(check, nodes, "churn.nodes", "churn.nodes", &c->nodes);
}
