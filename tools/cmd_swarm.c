/* cmd_swarm.c -- `infersim swarm`: swarm testing. Run i of a swarm gets
 * the run seed tool_swarm_run_seed(S, i), which seeds both the simulation
 * and the draw of its faults (tool_swarm.c), and runs as its own process,
 * `infersim run FILE --quiet --db TEMP --seed RS --set ... --set FAULT...`
 * (as sweep's workers do), up to --jobs at once. Its verdict comes from the
 * violations its run stored: a safety or liveness violation, or a run
 * process that did not exit cleanly, is a failure. Verdicts are printed
 * in run order once all are in, so the output does not depend on --jobs;
 * each failure carries the command that replays exactly that run
 * (`infersim swarm FILE --replay RS`, which draws the same faults from RS).
 * Once every run is in, each failing run runs again without its drawn
 * faults (the same seed and the other drawn keys): a failure that comes
 * back the same way is the scenario's own, not the drawn faults'. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/tool.h"

#define SWARM_SETS_MAX 256
#define SWARM_RUNS_MAX 1000000ull

static const char swarm_usage[] =
    "usage: infersim swarm FILE --runs N [--jobs J] [--seed S] [--db F] [--set key=value]...\n"
    "                      [--quiet]\n"
    "       infersim swarm FILE --replay RUN_SEED [--set key=value]...\n"
    "\n"
    "Swarm testing: runs the scenario N times, each run with faults drawn from\n"
    "its own run seed (network faults, and Byzantine nodes below what the\n"
    "verification protocol tolerates), each in its own process, and checks\n"
    "every run for safety and liveness violations (accepted_wrong,\n"
    "double_finalization, liveness, ledger_fork, unjust_slash -- a timeout's\n"
    "only in a run that drew Byzantine faults only -- and honest_penalised\n"
    "when the scenario's own expectation on it fails in a run that drew\n"
    "Byzantine faults only).\n"
    "Prints every failing run with its violation kind and the command that\n"
    "replays it, then a summary. Each failing run is then run again without\n"
    "its drawn faults: one that fails the same way fails by the scenario's own\n"
    "faults (its cartel, say), whatever swarm drew.\n"
    "\n"
    "  --runs N         runs to make (1..1000000)\n"
    "  --jobs J         runs at once (default: the number of cores)\n"
    "  --seed S         the swarm's seed (default: the scenario's); run i uses a\n"
    "                   run seed derived from (S, i)\n"
    "  --db F           also store every run into the results database F\n"
    "  --set key=value  override a scenario key in every run\n"
    "  --replay RS      run only the run with run seed RS (a failure's reproduce\n"
    "                   command), print its verdict and the equivalent `run`\n"
    "  --quiet          no progress on stderr\n"
    "\n"
    "The same FILE, --seed and --set give the same runs and verdicts for any --jobs.\n"
    "Exit codes: 0 no run violated safety or liveness, 1 some run did, 2 bad usage\n"
    "or scenario, 3 internal error, 130/143 interrupted.\n";

typedef struct swarm_options {
    const char *file;
    const char *db;
    const char *sets[SWARM_SETS_MAX];
    size_t set_count;
    unsigned long long runs;
    unsigned long long jobs;
    unsigned long long seed;
    unsigned long long replay;
    bool has_seed;
    bool has_replay;
    bool quiet;
} swarm_options;

typedef struct swarm_state {
    const swarm_options *options;
    scn_scenario *scenario;
    met_db *db;
    char temp_dir[256];
    uint64_t runs;
    uint64_t done;
    uint64_t *seeds;                   /* runs: each run's seed */
    tool_verdict *verdicts;            /* runs */
    tool_verdict *own;                 /* runs: a failing run again, without its drawn faults */
    bool own_checked;                  /* every failing run's 'own' verdict is in */
    bool internal_error;
    struct timespec started;
} swarm_state;

static volatile sig_atomic_t swarm_stop_signal;

static void swarm_on_signal(int signal_number)
{
    swarm_stop_signal = signal_number;
}

static int swarm_parse_value(void *context, const char *arg, const char *value)
{
    swarm_options *o = context;
    if (strcmp(arg, "--quiet") == 0) {
        o->quiet = true;
        return TOOL_EXIT_OK;
    }
    if (strcmp(arg, "--set") == 0) {
        if (o->set_count == SWARM_SETS_MAX) {
            return tool_usage_error("swarm", "at most %d --set overrides", SWARM_SETS_MAX);
        }
        o->sets[o->set_count++] = value;
        return TOOL_EXIT_OK;
    }
    if (strcmp(arg, "--db") == 0) {
        o->db = value;
        return TOOL_EXIT_OK;
    }
    unsigned long long *out = strcmp(arg, "--runs") == 0     ? &o->runs
                              : strcmp(arg, "--jobs") == 0   ? &o->jobs
                              : strcmp(arg, "--seed") == 0   ? &o->seed
                              : strcmp(arg, "--replay") == 0 ? &o->replay
                                                             : NULL;
    if (out == NULL) {
        return tool_usage_error("swarm", "unknown option '%s'", arg);
    }
    if (!tool_parse_u64(value, out)) {
        return tool_usage_error("swarm", "%s needs an unsigned integer, got '%s'", arg, value);
    }
    o->has_seed = o->has_seed || out == &o->seed;
    o->has_replay = o->has_replay || out == &o->replay;
    return TOOL_EXIT_OK;
}

static int swarm_parse(int argc, char **argv, swarm_options *o)
{
    static const tool_option table[] = {
        {"--runs", 0, true}, {"--jobs", 0, true}, {"--seed", 0, true}, {"--replay", 0, true},
        {"--set", 0, true},  {"--db", 0, true},     {"--quiet", 'q', false}};
    static const tool_command command = {"swarm", swarm_usage, table, 7, swarm_parse_value};
    memset(o, 0, sizeof(*o));
    int first = 0;
    int code = tool_options_parse(&command, argc, argv, o, &first);
    if (code == TOOL_EXIT_OK) {
        code = tool_positional_one("swarm", argc, argv, first, "scenario FILE", &o->file);
    }
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    if (!o->has_replay && (o->runs == 0 || o->runs > SWARM_RUNS_MAX)) {
        return tool_usage_error("swarm", "--runs needs a count from 1 to %llu",
                                SWARM_RUNS_MAX);
    }
    if (o->has_replay && (o->runs != 0 || o->has_seed)) {
        return tool_usage_error("swarm", "--replay runs one run: no --runs or --seed with it");
    }
    if (o->jobs > 256) {
        return tool_usage_error("swarm", "--jobs is at most 256");
    }
    return TOOL_EXIT_OK;
}

/* ---- the worker pool ---------------------------------------------------- */

/* One pass of the pool: the runs it launches, in order. */
typedef struct swarm_pass {
    uint64_t count;
    const uint64_t *runs;              /* NULL: runs 0 .. count - 1 */
    uint64_t next;
    bool own;                          /* without the drawn faults */
} swarm_pass;

static bool swarm_set_is_fault(const char *set)
{
    return strncmp(set, "faults.", 7) == 0;
}

static int swarm_launch(swarm_state *s, tool_child *child, uint64_t run, bool own)
{
    const swarm_options *o = s->options;
    const char *argv[2 * SWARM_SETS_MAX + 2 * TOOL_SWARM_SETS_MAX + 16];
    char seed[32];
    tool_swarm_draw draw;
    size_t argc = 0;
    tool_swarm_draw_faults(s->scenario, s->seeds[run], &draw);
    child->index = run;
    snprintf(child->db, sizeof(child->db), "%s/run-%llu.db", s->temp_dir,
             (unsigned long long)run);
    snprintf(child->log, sizeof(child->log), "%s/run-%llu.log", s->temp_dir,
             (unsigned long long)run);
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)s->seeds[run]);
    tool_child_cleanup(child);
    argv[argc++] = "infersim";
    argv[argc++] = "run";
    argv[argc++] = o->file;
    argv[argc++] = "--quiet";
    argv[argc++] = "--db";
    argv[argc++] = child->db;
    argv[argc++] = "--seed";
    argv[argc++] = seed;
    for (size_t i = 0; i < o->set_count; i++) {
        argv[argc++] = "--set";
        argv[argc++] = o->sets[i];
    }
    for (size_t i = 0; i < draw.count; i++) {
        if (!(own && swarm_set_is_fault(draw.argv[i]))) {
            argv[argc++] = "--set";
            argv[argc++] = draw.argv[i];
        }
    }
    argv[argc] = NULL;
    return tool_child_start(child, argv);
}

static void swarm_collect(swarm_state *s, tool_child *child, int status, bool own)
{
    tool_verdict *verdict = own ? &s->own[child->index] : &s->verdicts[child->index];
    tool_swarm_draw draw = {0};
    if (!own) {
        tool_swarm_draw_faults(s->scenario, s->seeds[child->index], &draw);
    }
    /* Without the drawn faults no network fault was drawn. */
    if (tool_verdict_read(child, status, draw.network_count == 0, verdict) != 0) {
        s->internal_error = true;
    }
    if (own) {
        tool_child_cleanup(child);
        return;
    }
    if (s->db != NULL && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        met_merge_stats stats;
        if (met_merge(s->db, child->db, NULL, &stats) != 0) {
            fprintf(stderr, "infersim swarm: storing run %llu: %s\n",
                    (unsigned long long)child->index, met_db_errmsg(s->db));
            s->internal_error = true;
        }
    }
    tool_child_cleanup(child);
    s->done += 1;
    if (!s->options->quiet && (s->done % 10 == 0 || s->done == s->runs)) {
        fprintf(stderr, "swarm: %llu/%llu runs done\n", (unsigned long long)s->done,
                (unsigned long long)s->runs);
    }
}

static void swarm_stop_children(tool_child *children, size_t jobs)
{
    for (size_t i = 0; i < jobs; i++) {
        if (children[i].pid > 0) {
            kill(children[i].pid, SIGTERM);
        }
    }
}

static void swarm_pool(swarm_state *s, swarm_pass *pass, tool_child *children, size_t jobs)
{
    size_t running = 0;
    bool stopping = false;
    for (;;) {
        for (size_t i = 0; i < jobs && pass->next < pass->count && swarm_stop_signal == 0; i++) {
            if (children[i].pid == 0) {
                uint64_t run = pass->runs != NULL ? pass->runs[pass->next] : pass->next;
                if (swarm_launch(s, &children[i], run, pass->own) != 0) {
                    s->internal_error = true;
                    pass->count = pass->next;     /* launch nothing more */
                    s->runs = pass->own ? s->runs : pass->next;
                    break;
                }
                pass->next += 1;
                running += 1;
            }
        }
        if (running == 0) {
            break;
        }
        if (swarm_stop_signal != 0 && !stopping) {
            stopping = true;
            swarm_stop_children(children, jobs);
        }
        int status = 0;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR) {
            continue;
        }
        if (pid < 0) {
            fprintf(stderr, "infersim swarm: waitpid: %s\n", strerror(errno));
            s->internal_error = true;
            break;
        }
        for (size_t i = 0; i < jobs; i++) {
            if (children[i].pid == pid) {
                children[i].pid = 0;
                running -= 1;
                swarm_collect(s, &children[i], status, pass->own);
            }
        }
    }
}

/* ---- the report ------------------------------------------------------------ */

static void swarm_print_sets(const swarm_options *o)
{
    for (size_t i = 0; i < o->set_count; i++) {
        printf(" --set '%s'", o->sets[i]);
    }
}

static void swarm_print_counts(const tool_verdict *verdict)
{
    const char *separator = "";
    printf(" (");
    for (size_t k = 0; met_violation_kinds[k] != NULL; k++) {
        if (verdict->counts[k] > 0) {
            printf("%s%llu %s", separator, (unsigned long long)verdict->counts[k],
                   met_violation_kinds[k]);
            separator = ", ";
        }
    }
    printf("%s)", verdict->reason[0] != '\0' ? verdict->reason : "");
}

static void swarm_print_failure(const swarm_state *s, uint64_t run)
{
    const swarm_options *o = s->options;
    const tool_verdict *verdict = &s->verdicts[run];
    tool_swarm_draw draw;
    tool_swarm_draw_faults(s->scenario, s->seeds[run], &draw);
    printf("FAIL run %llu seed %llu: %s", (unsigned long long)run,
           (unsigned long long)s->seeds[run], verdict->kind);
    swarm_print_counts(verdict);
    printf("\n");
    for (size_t i = 0; i < draw.count; i++) {
        printf("  drawn: %s\n", draw.sets[i]);
    }
    const tool_verdict *own = &s->own[run];
    if (s->own_checked && own->kind == NULL) {
        printf("  without the drawn faults: passes (the drawn faults are needed)\n");
    } else if (s->own_checked && strcmp(own->kind, verdict->kind) == 0) {
        printf("  without the drawn faults: fails the same way (the scenario's own faults)\n");
    } else if (s->own_checked) {
        printf("  without the drawn faults: fails otherwise: %s\n", own->kind);
    }
    printf("  reproduce: infersim swarm %s --replay %llu", o->file,
           (unsigned long long)s->seeds[run]);
    swarm_print_sets(o);
    printf("\n  shrink:    infersim shrink %s --seed %llu --swarm", o->file,
           (unsigned long long)s->seeds[run]);
    swarm_print_sets(o);
    printf("\n");
}

/* The equivalent plain run of a replay, for reading in a debugger. */
static void swarm_print_run_command(const swarm_state *s)
{
    tool_swarm_draw draw;
    tool_swarm_draw_faults(s->scenario, s->seeds[0], &draw);
    printf("  as a run:  infersim run %s --seed %llu", s->options->file,
           (unsigned long long)s->seeds[0]);
    swarm_print_sets(s->options);
    for (size_t i = 0; i < draw.count; i++) {
        printf(" --set '%s'", draw.sets[i]);
    }
    printf("\n");
}

static double swarm_seconds(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Prints failures in run order and the summary; returns the failures. */
static uint64_t swarm_report(const swarm_state *s)
{
    uint64_t failed = 0;
    uint64_t by_kind[8] = {0};
    uint64_t run_failed = 0;
    uint64_t own_failed = 0;
    for (uint64_t run = 0; run < s->done && run < s->runs; run++) {
        const tool_verdict *verdict = &s->verdicts[run];
        if (verdict->kind == NULL) {
            continue;
        }
        failed += 1;
        own_failed += s->own[run].kind != NULL && strcmp(s->own[run].kind, verdict->kind) == 0;
        swarm_print_failure(s, run);
        for (size_t k = 0; met_violation_kinds[k] != NULL; k++) {
            by_kind[k] += strcmp(verdict->kind, met_violation_kinds[k]) == 0 ? 1 : 0;
        }
        run_failed += strcmp(verdict->kind, "run_failed") == 0 ? 1 : 0;
    }
    if (s->options->has_replay) {
        swarm_print_run_command(s);
    }
    double wall = swarm_seconds(&s->started);
    printf("swarm '%s': %llu runs, %llu failed", s->scenario->name,
           (unsigned long long)s->done, (unsigned long long)failed);
    for (size_t k = 0; met_violation_kinds[k] != NULL; k++) {
        if (by_kind[k] > 0) {
            printf(", %s %llu", met_violation_kinds[k], (unsigned long long)by_kind[k]);
        }
    }
    if (run_failed > 0) {
        printf(", run_failed %llu", (unsigned long long)run_failed);
    }
    if (failed > 0 && s->own_checked) {
        printf(" (%llu of them the same way without the drawn faults)",
               (unsigned long long)own_failed);
    }
    printf("; %.1f runs/min\n", wall > 0 ? (double)s->done * 60.0 / wall : 0.0);
    return failed;
}

/* ---- the command ---------------------------------------------------------- */

static int swarm_prepare(swarm_state *s, const swarm_options *o)
{
    int code = tool_scenario_load(o->file, o->sets, o->set_count, &s->scenario);
    if (code == TOOL_EXIT_OK) {
        code = tool_decisions_required(s->scenario, "swarm", o->file, TOOL_VERDICT_USE);
    }
    if (code == TOOL_EXIT_OK) {
        code = tool_scenario_fits("swarm", o->file, s->scenario, true);
    }
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    s->runs = o->has_replay ? 1 : o->runs;
    s->seeds = calloc(s->runs, sizeof(*s->seeds));
    s->verdicts = calloc(s->runs, sizeof(*s->verdicts));
    s->own = calloc(s->runs, sizeof(*s->own));
    if (s->seeds == NULL || s->verdicts == NULL || s->own == NULL) {
        return TOOL_EXIT_INTERNAL;
    }
    uint64_t seed = o->has_seed ? o->seed : s->scenario->seed;
    for (uint64_t run = 0; run < s->runs; run++) {
        s->seeds[run] = o->has_replay ? o->replay : tool_swarm_run_seed(seed, run);
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(s->temp_dir, sizeof(s->temp_dir), "%s/infersim-swarm-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(s->temp_dir) == NULL) {
        fprintf(stderr, "infersim swarm: cannot create a temporary folder: %s\n",
                strerror(errno));
        return TOOL_EXIT_INTERNAL;
    }
    char why[512];
    if (o->db != NULL && met_db_open(o->db, &s->db, why, sizeof(why)) != 0) {
        fprintf(stderr, "infersim swarm: %s\n", why);
        return TOOL_EXIT_USAGE;
    }
    return TOOL_EXIT_OK;
}

/* Runs every failing run again without its drawn faults (s->own). */
static void swarm_check_own(swarm_state *s, tool_child *children, size_t jobs)
{
    uint64_t *failing = calloc(s->runs, sizeof(*failing));
    if (failing == NULL) {
        s->internal_error = true;
        return;
    }
    swarm_pass pass = {0, failing, 0, true};
    for (uint64_t run = 0; run < s->done && run < s->runs; run++) {
        if (s->verdicts[run].kind != NULL) {
            failing[pass.count++] = run;
        }
    }
    if (pass.count > 0 && swarm_stop_signal == 0 && !s->options->quiet) {
        fprintf(stderr, "swarm: %llu failing run(s) again without their drawn faults\n",
                (unsigned long long)pass.count);
    }
    if (swarm_stop_signal == 0) {
        swarm_pool(s, &pass, children, jobs);
        s->own_checked = swarm_stop_signal == 0 && !s->internal_error;
    }
    free(failing);
}

static void swarm_install_signals(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = swarm_on_signal;     /* no SA_RESTART: waitpid sees EINTR */
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

static int swarm_execute(swarm_state *s, const swarm_options *o)
{
    size_t jobs = o->jobs != 0 ? (size_t)o->jobs : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
    jobs = jobs == 0 ? 1 : jobs;
    tool_child *children = calloc(jobs, sizeof(*children));
    if (children == NULL) {
        return TOOL_EXIT_INTERNAL;
    }
    clock_gettime(CLOCK_MONOTONIC, &s->started);
    swarm_install_signals();
    swarm_pass runs = {s->runs, NULL, 0, false};
    swarm_pool(s, &runs, children, jobs);
    swarm_check_own(s, children, jobs);
    free(children);
    if (swarm_stop_signal != 0) {
        fprintf(stderr, "infersim swarm: interrupted after %llu of %llu runs\n",
                (unsigned long long)s->done, (unsigned long long)s->runs);
        return 128 + swarm_stop_signal;
    }
    uint64_t failed = swarm_report(s);
    if (s->internal_error) {
        return TOOL_EXIT_INTERNAL;
    }
    return failed > 0 ? TOOL_EXIT_CHECK : TOOL_EXIT_OK;
}

int tool_swarm_main(int argc, char **argv)
{
    swarm_options options;
    swarm_state state;
    int code = swarm_parse(argc, argv, &options);
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    memset(&state, 0, sizeof(state));
    state.options = &options;
    code = swarm_prepare(&state, &options);
    if (code == TOOL_EXIT_OK) {
        code = swarm_execute(&state, &options);
    }
    if (state.temp_dir[0] != '\0') {
        rmdir(state.temp_dir);
    }
    met_db_close(state.db);
    free(state.seeds);
    free(state.verdicts);
    free(state.own);
    scn_destroy(state.scenario);
    return code;
}
