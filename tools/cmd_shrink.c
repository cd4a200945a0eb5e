/* cmd_shrink.c -- `infersim shrink`: reduces a failing run to a smaller
 * scenario that fails the same way. The run is the scenario FILE with the
 * --set overrides, its seed set to --seed S and, with --swarm, the faults
 * the swarm run of run seed S drew. Its violation kind (tool_verdict) is
 * the target. Then, greedily and in a fixed order, one edit at a time:
 * remove a fault, move a fault's ids to 0, 1, ..., fewer nodes, fewer
 * requests, a shorter run, shorter fault windows, fewer generated tokens,
 * the shortest prompt. Each candidate is written as YAML (scn_yaml_edit),
 * loaded (an invalid one is dropped) and run as its own process,
 * `infersim run CANDIDATE --quiet --db TEMP`; it is kept when its verdict
 * is the target kind. Passes repeat until one keeps nothing. The last kept
 * scenario is the output: the same input gives the same file. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/tool.h"

#define SHRINK_SETS_MAX 256
#define SHRINK_TRIES_MAX 400
#define SHRINK_CANDIDATES_MAX (SCN_FAULTS_MAX * 2 + 32)
#define SHRINK_EDIT_BYTES 96

static const char shrink_usage[] =
    "usage: infersim shrink FILE --seed S [--swarm] [--set key=value]... [-o OUT.yaml]\n"
    "\n"
    "Reduces a failing run -- the scenario FILE with the overrides and seed S --\n"
    "to a smaller scenario that still fails with the same violation kind: fewer\n"
    "faults, faults moved to the lowest node ids, fewer nodes and requests, a\n"
    "shorter run and shorter fault windows, fewer generated tokens. Every\n"
    "candidate runs in its own process. Writes the smallest failing scenario\n"
    "found as YAML (loadable by `infersim validate`, carrying the seed) and\n"
    "prints the reductions tried and kept and the sizes before and after.\n"
    "\n"
    "  --seed S         the failing run's seed (required)\n"
    "  --swarm          S is a swarm run seed: add the faults that swarm run drew\n"
    "                   (what a swarm failure's shrink command passes)\n"
    "  --set key=value  override a scenario key (as for run)\n"
    "  -o OUT.yaml      where to write the reduced scenario (default NAME-shrunk.yaml)\n"
    "\n"
    "Exit codes: 0 a reduced scenario was written, 1 the run does not fail,\n"
    "2 bad usage or scenario, 3 internal error, 130/143 interrupted.\n";

typedef struct shrink_options {
    const char *file;
    const char *output;
    const char *sets[SHRINK_SETS_MAX];
    size_t set_count;
    unsigned long long seed;
    bool has_seed;
    bool swarm;
} shrink_options;

typedef struct shrink_state {
    const shrink_options *options;
    char *text;                        /* the smallest failing scenario so far */
    char temp_dir[256];
    char candidate[300];
    const char *target;                /* the violation kind to keep */
    uint64_t tried;
    uint64_t kept;
} shrink_state;

typedef struct shrink_size {
    uint32_t nodes;
    uint32_t requests;
    uint32_t faults;
    uint64_t duration_ns;
    uint32_t generate;
} shrink_size;

static volatile sig_atomic_t shrink_stop_signal;

static void shrink_on_signal(int signal_number)
{
    shrink_stop_signal = signal_number;
}

static int shrink_option(void *context, const char *name, const char *value)
{
    shrink_options *o = context;
    if (strcmp(name, "--swarm") == 0) {
        o->swarm = true;
    } else if (strcmp(name, "--seed") == 0) {
        if (!tool_parse_u64(value, &o->seed)) {
            return tool_usage_error("shrink", "--seed needs an unsigned integer, got '%s'",
                                    value);
        }
        o->has_seed = true;
    } else if (strcmp(name, "--set") == 0) {
        if (o->set_count == SHRINK_SETS_MAX) {
            return tool_usage_error("shrink", "at most %d --set overrides", SHRINK_SETS_MAX);
        }
        o->sets[o->set_count++] = value;
    } else {
        o->output = value;
    }
    return TOOL_EXIT_OK;
}

static int shrink_parse(int argc, char **argv, shrink_options *o)
{
    static const tool_option table[] = {
        {"--swarm", 0, false}, {"--seed", 0, true}, {"--set", 0, true}, {"-o", 'o', true}};
    static const tool_command command = {"shrink", shrink_usage, table, 4, shrink_option};
    memset(o, 0, sizeof(*o));
    int first = 0;
    int code = tool_options_parse(&command, argc, argv, o, &first);
    if (code == TOOL_EXIT_OK) {
        code = tool_positional_one("shrink", argc, argv, first, "scenario FILE", &o->file);
    }
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    if (!o->has_seed) {
        return tool_usage_error("shrink", "missing --seed S (the failing run's seed)");
    }
    return TOOL_EXIT_OK;
}

/* ---- one candidate -------------------------------------------------------- */

static int shrink_write(const char *path, const char *header, const char *text)
{
    FILE *file = fopen(path, "w");
    if (file == NULL) {
        fprintf(stderr, "infersim shrink: cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    fputs(header, file);
    fputs(text, file);
    return fclose(file) == 0 ? 0 : -1;
}

/* Loads 'text' quietly; NULL when it is not a valid scenario. */
static scn_scenario *shrink_load(const char *text)
{
    scn_scenario *scenario = NULL;
    scn_error error;
    if (scn_load_string("candidate.yaml", text, NULL, 0, &scenario, &error) != 0) {
        return NULL;
    }
    return scenario;
}

/* Runs scenario text in a child; fills *verdict. Returns 0, -1 when the
 * text is not a valid scenario, -2 on an internal error. */
static int shrink_run(shrink_state *s, const char *text, tool_verdict *verdict)
{
    scn_scenario *scenario = shrink_load(text);
    if (scenario == NULL) {
        return -1;
    }
    tool_child child;
    memset(&child, 0, sizeof(child));
    snprintf(child.db, sizeof(child.db), "%s/run.db", s->temp_dir);
    snprintf(child.log, sizeof(child.log), "%s/run.log", s->temp_dir);
    tool_child_cleanup(&child);
    int rc = shrink_write(s->candidate, "", text);
    const char *argv[] = {"infersim", "run", s->candidate, "--quiet", "--db", child.db, NULL};
    if (rc == 0) {
        rc = tool_child_start(&child, argv);
    }
    int status = 0;
    while (rc == 0 && waitpid(child.pid, &status, 0) < 0) {
        if (errno != EINTR) {
            rc = -1;
        }
    }
    if (rc == 0 && tool_verdict_read(&child, status, true, verdict) != 0) {
        rc = -1;
    }
    tool_child_cleanup(&child);
    scn_destroy(scenario);
    return rc == 0 ? 0 : -2;
}

/* ---- the reductions --------------------------------------------------------- */

typedef struct shrink_list {
    size_t count;
    char edits[SHRINK_CANDIDATES_MAX][SHRINK_EDIT_BYTES];
} shrink_list;

static void list_add_uint(shrink_list *list, const char *key, uint64_t value, uint64_t now,
                          uint64_t least)
{
    if (value < least || value >= now || list->count == SHRINK_CANDIDATES_MAX) {
        return;
    }
    for (size_t i = 0; i < list->count; i++) {
        char same[SHRINK_EDIT_BYTES];
        snprintf(same, sizeof(same), "%s=%llu", key, (unsigned long long)value);
        if (strcmp(list->edits[i], same) == 0) {
            return;
        }
    }
    snprintf(list->edits[list->count++], SHRINK_EDIT_BYTES, "%s=%llu", key,
             (unsigned long long)value);
}

/* A fault on explicit ids moved to the lowest ids (0, 1, ...), so that
 * fewer nodes can follow. */
static void shrink_low_ids(const scn_scenario *s, shrink_list *list)
{
    for (uint32_t i = 0; i < s->fault_count && list->count < SHRINK_CANDIDATES_MAX; i++) {
        const scn_selector *nodes = &s->faults[i].nodes;
        bool low = true;
        for (uint32_t k = 0; k < nodes->id_count; k++) {
            low = low && nodes->ids[k] == k;
        }
        if (nodes->id_count == 0 || nodes->id_count > 8 || low) {
            continue;
        }
        char *edit = list->edits[list->count++];
        size_t used = (size_t)snprintf(edit, SHRINK_EDIT_BYTES, "faults.%u.nodes.ids=[", i);
        for (uint32_t k = 0; k < nodes->id_count; k++) {
            used += (size_t)snprintf(edit + used, SHRINK_EDIT_BYTES - used, "%s%u",
                                     k > 0 ? ", " : "", k);
        }
        snprintf(edit + used, SHRINK_EDIT_BYTES - used, "]");
    }
}

/* Every reduction of 's', in the order they are tried. */
static void shrink_candidates(const scn_scenario *s, shrink_list *list)
{
    list->count = 0;
    for (uint32_t i = s->fault_count; i-- > 0 && list->count < SHRINK_CANDIDATES_MAX;) {
        snprintf(list->edits[list->count++], SHRINK_EDIT_BYTES, "-faults.%u", i);
    }
    shrink_low_ids(s, list);
    uint32_t nodes = s->nodes.count;
    list_add_uint(list, "nodes.count", nodes / 2, nodes, 2);
    list_add_uint(list, "nodes.count", nodes * 3 / 4, nodes, 2);
    list_add_uint(list, "nodes.count", nodes - 1, nodes, 2);
    if (s->workload.kind == SCN_WORKLOAD_INFERENCE && s->workload.arrival != SCN_ARRIVAL_EXPLICIT) {
        uint32_t requests = s->workload.requests;
        list_add_uint(list, "workload.requests", requests / 2, requests, 1);
        list_add_uint(list, "workload.requests", requests - 1, requests, 1);
    }
    uint64_t ms = s->duration_ns / 1000000u;
    for (size_t k = 0; k < 2 && list->count < SHRINK_CANDIDATES_MAX; k++) {
        uint64_t shorter = k == 0 ? ms / 2 : ms * 3 / 4;
        if (shorter >= 1 && shorter < ms) {
            snprintf(list->edits[list->count++], SHRINK_EDIT_BYTES, "duration=%llums",
                     (unsigned long long)shorter);
        }
    }
    for (uint32_t i = 0; i < s->fault_count && list->count < SHRINK_CANDIDATES_MAX; i++) {
        const scn_fault *f = &s->faults[i];
        /* Half the window, in whole milliseconds when the window has them. */
        uint64_t half_ns = f->until_ns == UINT64_MAX ? 0 : (f->until_ns - f->at_ns) / 2;
        half_ns = half_ns >= 1000000u ? half_ns - half_ns % 1000000u : half_ns;
        uint64_t until_ns = f->at_ns + half_ns;
        if (half_ns > 0 && until_ns % 1000000u == 0) {
            snprintf(list->edits[list->count++], SHRINK_EDIT_BYTES, "faults.%u.until=%llums", i,
                     (unsigned long long)(until_ns / 1000000u));
        } else if (half_ns > 0) {
            snprintf(list->edits[list->count++], SHRINK_EDIT_BYTES, "faults.%u.until=%lluns", i,
                     (unsigned long long)until_ns);
        }
    }
    if (s->workload.kind == SCN_WORKLOAD_INFERENCE) {
        uint32_t generate = s->workload.generate_tokens;
        list_add_uint(list, "workload.generate", generate / 2, generate, 1);
        list_add_uint(list, "workload.generate", generate - 1, generate, 1);
        if (s->workload.prompt_min < s->workload.prompt_max) {
            snprintf(list->edits[list->count++], SHRINK_EDIT_BYTES,
                     "workload.prompt_tokens=%u", s->workload.prompt_min);
        }
    }
}

/* Tries edit 'edit' on the current text; keeps it when the run still
 * fails with the target kind. Returns 1 kept, 0 not, -1 internal error. */
static int shrink_try(shrink_state *s, const char *edit)
{
    char *text = NULL;
    scn_error error;
    const char *edits[] = {edit};
    if (scn_yaml_edit("candidate.yaml", s->text, edits, 1, &text, &error) != 0) {
        return 0;      /* e.g. nothing left to remove */
    }
    tool_verdict verdict;
    s->tried += 1;
    int rc = shrink_run(s, text, &verdict);
    bool keep = rc == 0 && verdict.kind != NULL && strcmp(verdict.kind, s->target) == 0;
    if (keep) {
        free(s->text);
        s->text = text;
        s->kept += 1;
        return 1;
    }
    free(text);
    return rc == -2 ? -1 : 0;
}

/* Greedy passes until one keeps nothing. Returns 0 or -1. */
static int shrink_passes(shrink_state *s)
{
    bool progress = true;
    while (progress && s->tried < SHRINK_TRIES_MAX && shrink_stop_signal == 0) {
        progress = false;
        for (size_t k = 0; s->tried < SHRINK_TRIES_MAX && shrink_stop_signal == 0; k++) {
            shrink_list list;
            scn_scenario *current = shrink_load(s->text);
            if (current == NULL) {
                return -1;  /* a kept candidate always loads */
            }
            shrink_candidates(current, &list);
            scn_destroy(current);
            if (k >= list.count) {
                break;
            }
            int rc = shrink_try(s, list.edits[k]);
            if (rc < 0) {
                return -1;
            }
            progress = progress || rc == 1;
        }
    }
    return 0;
}

static void shrink_measure(const char *text, shrink_size *size)
{
    scn_scenario *s = shrink_load(text);
    memset(size, 0, sizeof(*size));
    if (s != NULL) {
        *size = (shrink_size){s->nodes.count, s->workload.requests, s->fault_count,
                              s->duration_ns, s->workload.generate_tokens};
    }
    scn_destroy(s);
}

/* ---- the command ------------------------------------------------------------ */

/* The failing run as one text: the file, its overrides, the swarm's
 * draws, the seed. */
static int shrink_start_text(shrink_state *s, const shrink_options *o)
{
    scn_scenario *scenario = NULL;
    int code = tool_scenario_load(o->file, o->sets, o->set_count, &scenario);
    if (code == TOOL_EXIT_OK) {
        code = tool_decisions_required(scenario, "shrink", o->file, TOOL_VERDICT_USE);
    }
    if (code == TOOL_EXIT_OK) {
        code = tool_scenario_fits("shrink", o->file, scenario, true);
    }
    if (code != TOOL_EXIT_OK) {
        scn_destroy(scenario);
        return code;
    }
    tool_swarm_draw draw;
    memset(&draw, 0, sizeof(draw));
    if (o->swarm) {
        tool_swarm_draw_faults(scenario, o->seed, &draw);
    }
    /* Candidates live in a temporary folder: a checkpoint path relative to
     * the scenario's folder is made absolute (the resolved path). */
    char model_file[SCN_PATH_MAX + 16] = "";
    if (scenario->model.source == SCN_MODEL_FILE) {
        snprintf(model_file, sizeof(model_file), "model.file=%s", scenario->model.file);
    }
    scn_destroy(scenario);
    const char *edits[SHRINK_SETS_MAX + TOOL_SWARM_SETS_MAX + 2];
    char seed[48];
    size_t count = 0;
    for (size_t i = 0; i < o->set_count; i++) {
        edits[count++] = o->sets[i];
    }
    for (size_t i = 0; i < draw.count; i++) {
        edits[count++] = draw.argv[i];
    }
    if (model_file[0] != '\0') {
        edits[count++] = model_file;
    }
    snprintf(seed, sizeof(seed), "seed=%llu", o->seed);
    edits[count++] = seed;
    size_t original_size = 0;
    char *original = tool_read_file(o->file, &original_size);
    scn_error error;
    int rc = original == NULL ? -1
                              : scn_yaml_edit(o->file, original, edits, count, &s->text, &error);
    free(original);
    if (rc != 0) {
        fprintf(stderr, "infersim shrink: cannot rewrite '%s'\n", o->file);
        return TOOL_EXIT_INTERNAL;
    }
    return TOOL_EXIT_OK;
}

/* Runs the input as given; its violation kind becomes the target. */
static int shrink_baseline(shrink_state *s)
{
    tool_verdict verdict;
    int rc = shrink_run(s, s->text, &verdict);
    if (rc != 0) {
        fprintf(stderr, "infersim shrink: the input run could not be made\n");
        return TOOL_EXIT_INTERNAL;
    }
    if (verdict.kind == NULL) {
        printf("shrink: seed %llu of '%s' does not fail (no safety or liveness violation); "
               "nothing to shrink\n",
               s->options->seed, s->options->file);
        return TOOL_EXIT_CHECK;
    }
    s->target = verdict.kind;
    printf("shrink: seed %llu fails with %s; reducing\n", s->options->seed, s->target);
    return TOOL_EXIT_OK;
}

static void shrink_print_size(const char *label, const shrink_size *size)
{
    printf("  %s %u nodes, %u requests, %u faults, duration %.3fs, generate %u\n", label,
           size->nodes, size->requests, size->faults, (double)size->duration_ns / 1e9,
           size->generate);
}

static int shrink_finish(shrink_state *s, const shrink_size *before)
{
    const shrink_options *o = s->options;
    char output[TOOL_PATH_MAX];
    char header[2 * TOOL_PATH_MAX + 512];
    shrink_size after;
    shrink_measure(s->text, &after);
    if (o->output != NULL) {
        snprintf(output, sizeof(output), "%s", o->output);
    } else {
        scn_scenario *current = shrink_load(s->text);
        snprintf(output, sizeof(output), "%s-shrunk.yaml",
                 current != NULL ? current->name : "scenario");
        scn_destroy(current);
    }
    snprintf(header, sizeof(header),
             "# Reduced by infersim shrink from %s (seed %llu%s).\n"
             "# This run still fails with violation kind '%s'.\n"
             "# Reproduce: infersim run %s --check\n",
             o->file, o->seed, o->swarm ? ", with that swarm run's faults" : "", s->target,
             output);
    if (shrink_write(output, header, s->text) != 0) {
        return TOOL_EXIT_INTERNAL;
    }
    printf("shrink: %llu reductions tried, %llu kept -> %s\n", (unsigned long long)s->tried,
           (unsigned long long)s->kept, output);
    shrink_print_size("before:", before);
    shrink_print_size("after: ", &after);
    return TOOL_EXIT_OK;
}

/* Makes `run --check` of the result fail on its violation too. */
static void shrink_expect_target(shrink_state *s)
{
    scn_scenario *current = shrink_load(s->text);
    bool expected = false;
    for (uint32_t i = 0; current != NULL && i < current->expect_count; i++) {
        const scn_expect *e = &current->expects[i];
        expected = expected || (strcmp(e->metric, "accepted_wrong") == 0 &&
                                e->scope == SCN_EXPECT_RUN);
    }
    scn_destroy(current);
    if (strcmp(s->target, "accepted_wrong") == 0 && !expected) {
        const char *edits[] = {"expect.accepted_wrong=== 0"};
        char *text = NULL;
        scn_error error;
        if (scn_yaml_edit("candidate.yaml", s->text, edits, 1, &text, &error) == 0) {
            free(s->text);
            s->text = text;
        }
    }
}

static int shrink_execute(shrink_state *s, const shrink_options *o)
{
    int code = shrink_start_text(s, o);
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(s->temp_dir, sizeof(s->temp_dir), "%s/infersim-shrink-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(s->temp_dir) == NULL) {
        fprintf(stderr, "infersim shrink: cannot create a temporary folder: %s\n",
                strerror(errno));
        s->temp_dir[0] = '\0';
        return TOOL_EXIT_INTERNAL;
    }
    snprintf(s->candidate, sizeof(s->candidate), "%s/candidate.yaml", s->temp_dir);
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = shrink_on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    if ((code = shrink_baseline(s)) != TOOL_EXIT_OK) {
        return code;
    }
    shrink_expect_target(s);
    shrink_size before;
    shrink_measure(s->text, &before);
    if (shrink_passes(s) != 0) {
        return TOOL_EXIT_INTERNAL;
    }
    if (shrink_stop_signal != 0) {
        fprintf(stderr, "infersim shrink: interrupted; nothing written\n");
        return 128 + shrink_stop_signal;
    }
    return shrink_finish(s, &before);
}

int tool_shrink_main(int argc, char **argv)
{
    shrink_options options;
    shrink_state state;
    int code = shrink_parse(argc, argv, &options);
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    memset(&state, 0, sizeof(state));
    state.options = &options;
    code = shrink_execute(&state, &options);
    if (state.temp_dir[0] != '\0') {
        unlink(state.candidate);
        rmdir(state.temp_dir);
    }
    free(state.text);
    return code;
}
