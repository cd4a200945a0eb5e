/* tool_swarm.c -- what swarm and shrink share: the faults a swarm run
 * draws from its run seed, one child run of the binary, and the verdict
 * read from the child's results database.
 *
 * The draws (tool_swarm_draw) come from one util_prng seeded with the run
 * seed, so a run seed alone reproduces a run. Each run gets 1 to 4 faults,
 * each one --set override appended after the scenario's own faults: a
 * network fault (crash, partition, loss, duplicate, reorder, corrupt,
 * delay) or, when the protocol makes one meaningful, a Byzantine behaviour.
 * Windows start in the first half of the run and last 5-25 % of it, so
 * every fault heals and the liveness oracle has time left to judge.
 *
 * Byzantine nodes are drawn by id, and the number of distinct ones over
 * the whole run stays below what the protocol tolerates whatever the draw
 * (tool_swarm_byzantine_max), less the nodes the scenario's own Byzantine
 * faults may take (every node for a class or region selector): committee,
 * quorum - 1 (then no committee can hold a quorum of liars, lazy copiers
 * included); sampling, N - 1 (one honest sampled node disputes);
 * optimistic, the challengers (one of executor + challengers is honest);
 * tee and zk, a tenth of the nodes (attestations and proofs catch any
 * liar; wrong_output and silent only).
 * crossval and none get network faults only: a crossval liar passes
 * unchecked with probability 1 - p by design, and none verifies nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/tool.h"
#include "util/assert.h"
#include "util/prng.h"

#define SWARM_FAULTS_MAX 4

static uint32_t swarm_byzantine_tolerated(const scn_scenario *scenario);

static void draw_add(tool_swarm_draw *draw, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void draw_add(tool_swarm_draw *draw, const char *format, ...)
{
    va_list args;
    if (draw->count == TOOL_SWARM_SETS_MAX) {
        return;
    }
    va_start(args, format);
    vsnprintf(draw->sets[draw->count], sizeof(draw->sets[0]), format, args);
    va_end(args);
    draw->argv[draw->count] = draw->sets[draw->count];
    draw->count += 1;
}

/* At most how many nodes 'selector' names (every node for class, region). */
static uint64_t draw_selector_size(const scn_selector *selector, uint32_t node_count)
{
    if (selector->all || selector->class_index >= 0 || selector->region_index >= 0) {
        return node_count;
    }
    uint64_t size = selector->id_count;
    size += selector->has_range ? (uint64_t)selector->range_last - selector->range_first + 1 : 0;
    size += (uint64_t)(selector->fraction * node_count) + (selector->fraction > 0 ? 1 : 0);
    return size;
}

/* Nodes the scenario's own Byzantine faults may make Byzantine. */
static uint64_t draw_byzantine_own(const scn_scenario *scenario)
{
    uint64_t own = 0;
    for (uint32_t i = 0; i < scenario->fault_count; i++) {
        if (scn_fault_kinds[scenario->faults[i].kind].byzantine) {
            own += draw_selector_size(&scenario->faults[i].nodes, scenario->nodes.count);
        }
    }
    return own;
}

uint32_t tool_swarm_byzantine_max(const scn_scenario *scenario)
{
    uint32_t tolerated = swarm_byzantine_tolerated(scenario);
    uint64_t own = draw_byzantine_own(scenario);
    return own >= tolerated ? 0 : tolerated - (uint32_t)own;
}

/* Byzantine nodes the protocol tolerates whatever the draw. */
static uint32_t swarm_byzantine_tolerated(const scn_scenario *scenario)
{
    const scn_verification *v = &scenario->verification;
    uint32_t tenth = scenario->nodes.count / 10 > 0 ? scenario->nodes.count / 10 : 1;
    switch (v->protocol) {
    case CONS_PROTOCOL_COMMITTEE: return v->quorum - 1;
    case CONS_PROTOCOL_SAMPLING: return v->committee - 1;
    case CONS_PROTOCOL_OPTIMISTIC: return v->verifiers;
    case CONS_PROTOCOL_TEE:
    case CONS_PROTOCOL_ZK: return tenth;
    default: return 0;
    }
}

/* The Byzantine kinds the protocol makes meaningful (NULL-terminated). */
static const scn_fault_kind *draw_byzantine_kinds(cons_protocol protocol)
{
    static const scn_fault_kind committee[] = {
        SCN_FAULT_WRONG_OUTPUT, SCN_FAULT_COLLUDE,    SCN_FAULT_SILENT,
        SCN_FAULT_LAZY_COPY,    SCN_FAULT_EQUIVOCATE, SCN_FAULT_KIND_COUNT};
    static const scn_fault_kind replicated[] = {SCN_FAULT_WRONG_OUTPUT, SCN_FAULT_COLLUDE,
                                                SCN_FAULT_SILENT, SCN_FAULT_KIND_COUNT};
    static const scn_fault_kind single[] = {SCN_FAULT_WRONG_OUTPUT, SCN_FAULT_SILENT,
                                            SCN_FAULT_KIND_COUNT};
    switch (protocol) {
    case CONS_PROTOCOL_COMMITTEE: return committee;
    case CONS_PROTOCOL_SAMPLING:
    case CONS_PROTOCOL_OPTIMISTIC: return replicated;
    default: return single;
    }
}

/* "{ids: [a, b]}" of 'count' distinct nodes below the node count. */
static void draw_ids(util_prng *prng, uint32_t node_count, uint32_t count, char *out,
                     size_t size)
{
    uint32_t ids[8];
    size_t used = (size_t)snprintf(out, size, "{ids: [");
    count = count > 8 ? 8 : count > node_count ? node_count : count;
    for (uint32_t i = 0; i < count; i++) {
        bool fresh;
        do {
            ids[i] = (uint32_t)util_prng_below(prng, node_count);
            fresh = true;
            for (uint32_t j = 0; j < i; j++) {
                fresh = fresh && ids[j] != ids[i];
            }
        } while (!fresh);
        used += (size_t)snprintf(out + used, size - used, "%s%u", i ? ", " : "", ids[i]);
    }
    snprintf(out + used, size - used, "]}");
}

/* One network fault, its kind drawn among the table's network kinds: the
 * kind's own keys (SCN_FAULT_TAKES_*) after kind and window. */
static void draw_network(util_prng *prng, const scn_scenario *s, const char *window,
                         tool_swarm_draw *draw, uint32_t index)
{
    scn_fault_kind network[SCN_FAULT_KIND_COUNT];
    uint32_t network_count = 0;
    for (uint32_t k = 0; k < SCN_FAULT_KIND_COUNT; k++) {
        if (!scn_fault_kinds[k].byzantine) {
            network[network_count++] = (scn_fault_kind)k;
        }
    }
    scn_fault_kind kind = network[util_prng_below(prng, network_count)];
    const scn_fault_info *info = &scn_fault_kinds[kind];
    uint32_t most = s->nodes.count / 4 > 0 ? s->nodes.count / 4 : 1;
    char ids[128];
    draw_ids(prng, s->nodes.count, 1 + (uint32_t)util_prng_below(prng, most), ids, sizeof(ids));
    double probability = 0.05 + 0.45 * util_prng_uniform(prng);
    uint32_t delay_ms = 10 + (uint32_t)util_prng_below(prng, 490);
    if (kind == SCN_FAULT_PARTITION) {
        bool halves = util_prng_below(prng, 2) == 0;
        draw_add(draw, "faults.%u={kind: %s, %s, shape: %s%s%s}", index, info->name, window,
                 halves ? "halves" : "isolate", halves ? "" : ", nodes: ", halves ? "" : ids);
        return;
    }
    char keys[96] = "";
    bool rate = (info->takes & SCN_FAULT_TAKES_PROBABILITY) != 0;
    if (rate) {
        snprintf(keys, sizeof(keys), ", probability: %.3f", probability);
    }
    if (info->takes & SCN_FAULT_TAKES_DELAY) {
        size_t used = strlen(keys);
        snprintf(keys + used, sizeof(keys) - used, ", delay: %ums", delay_ms);
    }
    /* Link faults act on the whole network, the others on a few nodes. */
    draw_add(draw, "faults.%u={kind: %s, %s%s, nodes: %s}", index, info->name, window, keys,
             rate ? "all" : ids);
}

/* One Byzantine fault on fresh ids, within the budget left. */
static void draw_byzantine(util_prng *prng, const scn_scenario *s, const char *window,
                           uint32_t *budget, tool_swarm_draw *draw, uint32_t index)
{
    /* The meaningful kinds that the loader accepts under this verification. */
    const scn_fault_kind *meaningful = draw_byzantine_kinds(s->verification.protocol);
    scn_fault_kind kinds[SCN_FAULT_KIND_COUNT];
    size_t kind_count = 0;
    char why[160];
    for (size_t i = 0; meaningful[i] != SCN_FAULT_KIND_COUNT; i++) {
        if (scn_fault_kind_allowed(&s->verification, meaningful[i], why, sizeof(why)) == 0) {
            kinds[kind_count++] = meaningful[i];
        }
    }
    ASSERT(kind_count > 0); /* wrong_output acts under every protocol. */
    const char *kind = scn_fault_kinds[kinds[util_prng_below(prng, kind_count)]].name;
    uint32_t count = 1 + (uint32_t)util_prng_below(prng, *budget);
    char ids[128];
    draw_ids(prng, s->nodes.count, count, ids, sizeof(ids));
    *budget -= count;
    draw_add(draw, "faults.%u={kind: %s, %s, nodes: %s}", index, kind, window, ids);
}

uint64_t tool_swarm_run_seed(uint64_t seed, uint64_t run)
{
    return util_mix64(seed ^ util_mix64(run + 0x5741524dull)) >> 1; /* fits a signed column */
}

void tool_swarm_draw_faults(const scn_scenario *s, uint64_t run_seed, tool_swarm_draw *draw)
{
    util_prng prng;
    util_prng_init(&prng, run_seed);
    memset(draw, 0, sizeof(*draw));
    uint64_t duration_ms = s->duration_ns / 1000000u > 20 ? s->duration_ns / 1000000u : 20;
    /* Byzantine ids are drawn independently per fault, so the budget is
     * spent by the count, which bounds the distinct nodes from above. */
    uint32_t budget = tool_swarm_byzantine_max(s);
    uint32_t faults = 1 + (uint32_t)util_prng_below(&prng, SWARM_FAULTS_MAX);
    for (uint32_t j = 0; j < faults && s->fault_count + j < SCN_FAULTS_MAX; j++) {
        uint64_t at_ms = util_prng_below(&prng, duration_ms / 2);
        uint64_t length_ms = duration_ms / 20 + util_prng_below(&prng, duration_ms / 5);
        char window[64];
        snprintf(window, sizeof(window), "at: %llums, until: %llums", (unsigned long long)at_ms,
                 (unsigned long long)(at_ms + length_ms));
        bool byzantine = budget > 0 && util_prng_below(&prng, 2) == 0;
        if (byzantine) {
            draw_byzantine(&prng, s, window, &budget, draw, s->fault_count + j);
        } else {
            draw_network(&prng, s, window, draw, s->fault_count + j);
            draw->network_count += 1;
        }
    }
    if (s->converge_within_ns == 0 && s->workload.kind == SCN_WORKLOAD_INFERENCE) {
        draw_add(draw, "expect.converge_within=%llums",
                 (unsigned long long)(s->workload.request_timeout_ns / 1000000u));
    }
}

/* ---- one child run and its verdict ------------------------------------------ */

int tool_child_start(tool_child *child, const char *const *argv)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "infersim: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(child->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv("/proc/self/exe", (char *const *)argv);
        fprintf(stderr, "infersim: cannot exec /proc/self/exe: %s\n", strerror(errno));
        _exit(TOOL_EXIT_INTERNAL);
    }
    child->pid = pid;
    return 0;
}

static int verdict_row(void *context, size_t count, const met_value *values)
{
    tool_verdict *verdict = context;
    for (size_t k = 0; count == 2 && met_violation_kinds[k] != NULL; k++) {
        if (values[0].text != NULL && strcmp(values[0].text, met_violation_kinds[k]) == 0) {
            verdict->counts[k] = (uint64_t)values[1].number;
        }
    }
    return 0;
}

/* A count(*) row: whether it is above 0. */
static int verdict_count_row(void *context, size_t count, const met_value *values)
{
    bool *any = context;
    *any = count == 1 && values[0].number > 0;
    return 0;
}

/* honest_penalised counts only where the scenario's own expectation on it
 * (honest_penalised, honest_penalised_ratio) failed, and only when asked:
 * under network faults, penalising a member that could not answer in time
 * is the protocol working as specified. */
static int verdict_honest(met_db *db, bool judge_honest, tool_verdict *verdict)
{
    bool failed = false;
    size_t k = 1;
    _Static_assert(WORLD_VIOLATION_HONEST_PENALISED == 1, "met_violation_kinds order");
    if (!judge_honest || verdict->counts[k] == 0) {
        return 0;
    }
    int rc = met_query(db,
                       "SELECT count(*) FROM expectations WHERE passed = 0 AND metric IN "
                       "('honest_penalised', 'honest_penalised_ratio')",
                       NULL, 0, verdict_count_row, &failed);
    if (rc == 0 && failed && verdict->kind == NULL) {
        verdict->kind = met_violation_kinds[k];
    }
    return rc;
}

/* unjust_slash: a committed timeout against an honest member counts as
 * honest_penalised does, only when asked: under network faults its
 * commitment may miss the bound the deadline assumes, and its peers then
 * prove the timeout as the protocol specifies. Any other unjust slash (an
 * equivocation or a referee ruling against an honest member) always
 * counts. A violation's step column matches it with its decisions rows. */
static int verdict_unjust(met_db *db, bool judge_honest, tool_verdict *verdict)
{
    size_t k = WORLD_VIOLATION_UNJUST_SLASH;
    _Static_assert(WORLD_VIOLATION_UNJUST_SLASH == 5, "met_violation_kinds order");
    if (verdict->counts[k] == 0 || verdict->kind != NULL) {
        return 0;
    }
    bool other = false;
    int rc = met_query(db,
                       "SELECT count(*) FROM violations v WHERE v.kind = 'unjust_slash' AND NOT "
                       "EXISTS (SELECT 1 FROM decisions d WHERE d.run_id = v.run_id AND "
                       "d.request_id = v.request_id AND d.segment = v.segment AND d.node_id = "
                       "v.node_id AND d.step = v.step AND d.verdict = 'timeout')",
                       NULL, 0, verdict_count_row, &other);
    if (rc == 0 && (other || judge_honest)) {
        verdict->kind = met_violation_kinds[k];
    }
    return rc;
}

int tool_decisions_required(const scn_scenario *scenario, const char *command, const char *file,
                            const char *use)
{
    if (scenario->output.decisions || scenario->verification.protocol == CONS_PROTOCOL_NONE) {
        return TOOL_EXIT_OK;
    }
    fprintf(stderr,
            "infersim %s: %s: output.decisions is false, but %s; remove the key or set it to "
            "true\n",
            command, file, use);
    return TOOL_EXIT_USAGE;
}

static void verdict_failed_run(const tool_child *child, int status, tool_verdict *verdict)
{
    char line[120] = "";
    FILE *log = fopen(child->log, "r");
    while (log != NULL && fgets(line, sizeof(line), log) != NULL && line[0] == '\n') {
    }
    if (log != NULL) {
        fclose(log);
    }
    line[strcspn(line, "\r\n")] = '\0';
    verdict->kind = "run_failed";
    if (WIFSIGNALED(status)) {
        snprintf(verdict->reason, sizeof(verdict->reason), "killed by signal %d: %s",
                 WTERMSIG(status), line);
    } else {
        snprintf(verdict->reason, sizeof(verdict->reason), "exit %d: %s", WEXITSTATUS(status),
                 line);
    }
}

int tool_verdict_read(const tool_child *child, int status, bool judge_honest,
                      tool_verdict *verdict)
{
    memset(verdict, 0, sizeof(*verdict));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        verdict_failed_run(child, status, verdict);
        return 0;
    }
    met_db *db = NULL;
    char why[256];
    if (met_db_open(child->db, &db, why, sizeof(why)) != 0) {
        fprintf(stderr, "infersim: %s\n", why);
        return -1;
    }
    int rc = met_query(db, "SELECT kind, count(*) FROM violations GROUP BY kind", NULL, 0,
                       verdict_row, verdict);
    for (size_t k = 0; rc == 0 && met_violation_kinds[k] != NULL; k++) {
        bool judged = k != WORLD_VIOLATION_HONEST_PENALISED && k != WORLD_VIOLATION_UNJUST_SLASH;
        if (verdict->counts[k] > 0 && judged && verdict->kind == NULL) {
            verdict->kind = met_violation_kinds[k];
        }
    }
    if (rc == 0) {
        rc = verdict_unjust(db, judge_honest, verdict);
    }
    if (rc == 0) {
        rc = verdict_honest(db, judge_honest, verdict);
    }
    met_db_close(db);
    return rc == 0 ? 0 : -1;
}

void tool_child_cleanup(const tool_child *child)
{
    met_db_remove(child->db);
    unlink(child->log);
}
