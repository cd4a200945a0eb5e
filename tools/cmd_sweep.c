/* cmd_sweep.c -- `infersim sweep`: a grid of scenario keys times seeds,
 * run as independent processes. The grid comes from the scenario's
 * sweep: section and --param options; run i of the sweep is grid point
 * i / seeds (the last key varying fastest) with seed base + i % seeds.
 *
 * Locally, up to --jobs runs at once, each a fresh `infersim run FILE
 * --quiet --seed S --set KEY=VALUE...` process (fork + exec of
 * /proc/self/exe) writing its own temporary database, which this process
 * alone merges into the results file (met_merge): one writer, so no
 * SQLITE_BUSY between workers, and no state shared between runs. A run
 * whose process fails or dies is recorded as 'failed' with its reason and
 * the others go on. Runs already completed in the results file are
 * skipped, so an interrupted sweep resumes where it stopped.
 *
 * Before any run starts, every grid point is loaded once as its runs
 * would load it: a key the scenario does not have or a value its key
 * refuses is bad input (exit 2), named by where the key was given. After
 * the runs, the expectations' verdicts of every run (stored by the run
 * itself) are counted per grid point; with --check a failed expectation
 * makes the sweep exit 1, with the command that reproduces it. The
 * expectations over seeds ({mean}, {each, passing}) are judged here, per
 * grid point, from the metrics rows of the point's completed runs.
 *
 * On a cluster, --emit slurm writes a job-array script and --emit
 * parallel a GNU parallel job list; each job runs one chunk of the sweep
 * (--chunk I/C) into its own database, and `infersim merge` joins them. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/tool.h"
#include "util/workers.h"

#define SWEEP_ARGS_MAX 256

static const char sweep_usage[] =
    "usage: infersim sweep FILE [--param KEY=V1,V2,...|KEY=FROM:TO:STEP]... [--seeds N]\n"
    "                      [--set key=value]... [--db F] [--jobs J] [--chunk I/C] [--check]\n"
    "                      [--quiet]\n"
    "       infersim sweep FILE ... --emit slurm|parallel [--chunks C] [--throttle N]\n"
    "                      [--parts DIR] [-o OUT]\n"
    "\n"
    "Runs every grid point of the scenario's sweep: section (and --param keys)\n"
    "for every seed, each run in its own process, into the database F (default:\n"
    "the scenario's output.db). Runs already completed in F are skipped, so\n"
    "running the same command again resumes an interrupted sweep. Every grid\n"
    "point is loaded before any run starts: an unknown key, a refused value or\n"
    "(without --emit) seen-sets larger than this machine's memory exits 2 and\n"
    "runs nothing.\n"
    "\n"
    "  --param KEY=...  a grid key (replaces the file's entry for KEY)\n"
    "  --seeds N        seeds per grid point (seed, seed+1, ...)\n"
    "  --set key=value  override a key of the base scenario (every run)\n"
    "  --jobs J         runs at once (default: the number of cores)\n"
    "  --threads N      each run's --threads (default: the cores / J, at least 1)\n"
    "  --chunk I/C      run only chunk I (0-based) of C equal chunks of the runs\n"
    "  --check          exit 1 when a run fails an expectation of the scenario;\n"
    "                   print per grid point the seeds that passed and failed and\n"
    "                   the command that reproduces the first failure; also exit 1\n"
    "                   when an expectation over seeds ({mean}, {each, passing})\n"
    "                   fails at a grid point, printing each with its observed value\n"
    "  --quiet          no progress on stderr\n"
    "  --emit slurm     write a Slurm job-array script (one task per chunk)\n"
    "  --emit parallel  write a GNU parallel job list (one line per chunk)\n"
    "  --chunks C       chunks for --emit (default: one per run, at most 1000)\n"
    "  --throttle N     Slurm tasks running at once (%N, default 50)\n"
    "  --parts DIR      folder of the per-job databases (default F.parts)\n"
    "  -o OUT           write the script to OUT (default stdout)\n"
    "\n"
    "Exit codes: 0 every run completed (and, with --check, passed its\n"
    "expectations), 1 some run failed (recorded as failed) or, with --check,\n"
    "failed an expectation (one over seeds included), 2 bad usage, scenario\n"
    "or grid (nothing runs), 3 internal error, 130/143 interrupted.\n";

typedef struct sweep_options {
    const char *file;
    const char *db;
    const char *emit;
    const char *output;
    const char *parts;
    const char *sets[SWEEP_ARGS_MAX];
    size_t set_count;
    const char *params[SWEEP_ARGS_MAX];
    size_t param_count;
    unsigned long long seeds;          /* 0: the file's */
    unsigned long long jobs;
    unsigned long long chunk;
    unsigned long long chunks;         /* 0: no --chunk / default */
    unsigned long long emit_chunks;
    unsigned long long throttle;
    unsigned long long threads;        /* 0: the cores shared among the jobs */
    bool quiet;
    bool check;
} sweep_options;

/* The sweep: base scenario (with --set), grid and run count. */
typedef struct sweep_plan {
    scn_scenario *scenario;
    scn_sweep *grid;
    uint64_t points;
    uint64_t runs;
    uint64_t first;                    /* this invocation's runs: [first, last) */
    uint64_t last;
    int64_t sweep_id;
    const char *param_args[SCN_SWEEP_PARAMS_MAX]; /* the --param of a key; NULL: the file's */
} sweep_plan;

static volatile sig_atomic_t sweep_stop_signal;
static volatile sig_atomic_t sweep_stop_count;  /* signals so far */

static void sweep_on_signal(int signal_number)
{
    sweep_stop_signal = signal_number;
    sweep_stop_count += 1;
}

/* ---- options -------------------------------------------------------------- */

static bool parse_chunk(const char *text, unsigned long long *index, unsigned long long *count)
{
    char head[32];
    const char *slash = strchr(text, '/');
    if (slash == NULL || (size_t)(slash - text) >= sizeof(head)) {
        return false;
    }
    memcpy(head, text, (size_t)(slash - text));
    head[slash - text] = '\0';
    return tool_parse_u64(head, index) && tool_parse_u64(slash + 1, count) && *count > 0 &&
           *index < *count;
}

/* Options taking a positive count. */
static int parse_count(const char *name, const char *value, unsigned long long *out)
{
    if (!tool_parse_u64(value, out) || *out == 0 || *out > SCN_SWEEP_RUNS_MAX) {
        return tool_usage_error("sweep", "%s needs a count from 1 to %u, got '%s'", name,
                                SCN_SWEEP_RUNS_MAX, value);
    }
    return TOOL_EXIT_OK;
}

static int parse_value_option(void *context, const char *arg, const char *value)
{
    sweep_options *o = context;
    if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "--check") == 0) {
        *(arg[2] == 'q' ? &o->quiet : &o->check) = true;
        return TOOL_EXIT_OK;
    }
    if (strcmp(arg, "--param") == 0 || strcmp(arg, "--set") == 0) {
        bool param = arg[2] == 'p';
        size_t *count = param ? &o->param_count : &o->set_count;
        if (*count == SWEEP_ARGS_MAX) {
            return tool_usage_error("sweep", "at most %d %s options", SWEEP_ARGS_MAX, arg);
        }
        (param ? o->params : o->sets)[(*count)++] = value;
    } else if (strcmp(arg, "--db") == 0) {
        o->db = value;
    } else if (strcmp(arg, "--emit") == 0) {
        if (strcmp(value, "slurm") != 0 && strcmp(value, "parallel") != 0) {
            return tool_usage_error("sweep", "--emit is slurm or parallel, not '%s'", value);
        }
        o->emit = value;
    } else if (strcmp(arg, "-o") == 0) {
        o->output = value;
    } else if (strcmp(arg, "--parts") == 0) {
        o->parts = value;
    } else if (strcmp(arg, "--chunk") == 0) {
        if (!parse_chunk(value, &o->chunk, &o->chunks)) {
            return tool_usage_error("sweep", "--chunk needs I/C with 0 <= I < C, got '%s'",
                                    value);
        }
    } else {
        unsigned long long *out = strcmp(arg, "--seeds") == 0    ? &o->seeds
                                  : strcmp(arg, "--jobs") == 0   ? &o->jobs
                                  : strcmp(arg, "--chunks") == 0 ? &o->emit_chunks
                                  : strcmp(arg, "--throttle") == 0 ? &o->throttle
                                  : strcmp(arg, "--threads") == 0  ? &o->threads
                                                                   : NULL;
        if (out == NULL) {
            return tool_usage_error("sweep", "unknown option '%s'", arg);
        }
        return parse_count(arg, value, out);
    }
    return TOOL_EXIT_OK;
}

static int parse_options(int argc, char **argv, sweep_options *o)
{
    static const tool_option table[] = {
        {"--param", 0, true},    {"--seeds", 0, true},  {"--set", 0, true},
        {"--db", 0, true},       {"--jobs", 0, true},   {"--chunk", 0, true},
        {"--check", 0, false},   {"--quiet", 'q', false}, {"--emit", 0, true},
        {"--chunks", 0, true},   {"--throttle", 0, true}, {"--parts", 0, true},
        {"-o", 'o', true},       {"--threads", 0, true}};
    static const tool_command command = {"sweep", sweep_usage, table,
                                         sizeof(table) / sizeof(table[0]), parse_value_option};
    memset(o, 0, sizeof(*o));
    int first = 0;
    int code = tool_options_parse(&command, argc, argv, o, &first);
    if (code == TOOL_EXIT_OK) {
        code = tool_positional_one("sweep", argc, argv, first, "scenario FILE", &o->file);
    }
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    if (o->emit == NULL && (o->output != NULL || o->emit_chunks != 0 || o->throttle != 0 ||
                            o->parts != NULL)) {
        return tool_usage_error("sweep", "-o, --chunks, --throttle and --parts go with --emit");
    }
    if (o->emit != NULL && (o->chunks != 0 || o->check)) {
        return tool_usage_error("sweep", "--chunk and --check do not go with --emit");
    }
    return TOOL_EXIT_OK;
}

/* ---- the grid -------------------------------------------------------------- */

/* Adds or replaces the --param grid keys and --seeds. */
static int plan_apply_params(const sweep_options *o, scn_sweep *grid,
                             const char **param_args)
{
    char why[256];
    scn_sweep_param param;
    for (size_t i = 0; i < o->param_count; i++) {
        if (scn_sweep_param_parse(o->params[i], &param, why, sizeof(why)) != 0) {
            return tool_usage_error("sweep", "--param: %s", why);
        }
        uint32_t d = 0;
        while (d < grid->param_count && strcmp(grid->params[d].key, param.key) != 0) {
            d++;
        }
        if (d == SCN_SWEEP_PARAMS_MAX) {
            return tool_usage_error("sweep", "at most %d grid keys", SCN_SWEEP_PARAMS_MAX);
        }
        grid->params[d] = param;
        param_args[d] = o->params[i];
        grid->param_count = d == grid->param_count ? d + 1 : grid->param_count;
    }
    if (o->seeds != 0) {
        grid->seeds = (uint32_t)o->seeds;
    }
    if (scn_sweep_points(grid) * grid->seeds > SCN_SWEEP_RUNS_MAX) {
        return tool_usage_error("sweep", "the sweep has more than %u runs", SCN_SWEEP_RUNS_MAX);
    }
    return TOOL_EXIT_OK;
}

static void plan_point_text(const sweep_plan *plan, uint64_t point, char *out, size_t size);

/* "k=v" of dimension d at grid point 'point', a --set override. */
static void plan_set_text(const sweep_plan *plan, uint64_t point, uint32_t d, char *out,
                          size_t size)
{
    snprintf(out, size, "%s=%s", plan->grid->params[d].key,
             scn_sweep_value(plan->grid, point, d));
}

/* Where dimension d was given: "FILE:LINE:COL: sweep.params.KEY" or
 * "--param TEXT". */
static void plan_param_where(const sweep_options *o, const sweep_plan *plan, uint32_t d,
                             char *out, size_t size)
{
    const scn_sweep_param *param = &plan->grid->params[d];
    if (plan->param_args[d] != NULL) {
        snprintf(out, size, "--param %s", plan->param_args[d]);
    } else {
        snprintf(out, size, "%s:%u:%u: sweep.params.%s", o->file, param->line, param->column,
                 param->key);
    }
}

/* Whether grid point 'point' (the file itself when the grid has no key)
 * fits this machine's memory (tool_scenario_fits), when its runs are to run
 * here: not when they are emitted for a cluster. */
static int plan_point_fits(const sweep_options *o, const sweep_plan *plan, uint64_t point,
                           const scn_scenario *scenario)
{
    if (o->emit != NULL) {
        return TOOL_EXIT_OK;
    }
    if (plan->grid->param_count == 0) {
        return tool_scenario_fits("sweep", o->file, scenario, true);
    }
    char point_text[SCN_SWEEP_PARAMS_MAX * (SCN_SWEEP_KEY_MAX + SCN_SWEEP_TEXT_MAX + 2)];
    char where[SCN_PATH_MAX + sizeof(point_text) + 32];
    plan_point_text(plan, point, point_text, sizeof(point_text));
    snprintf(where, sizeof(where), "%s, grid point '%s'", o->file, point_text);
    return tool_scenario_fits("sweep", where, scenario, true);
}

/* Loads every grid point once, as its runs will (base, --set, then the
 * point's values), so that a misspelled key, a refused value or a point too
 * large for this machine stops the sweep before it starts anything.
 * Returns TOOL_EXIT_OK or _USAGE. */
static int plan_validate(const sweep_options *o, const sweep_plan *plan)
{
    const char *overrides[SWEEP_ARGS_MAX + SCN_SWEEP_PARAMS_MAX];
    char sets[SCN_SWEEP_PARAMS_MAX][SCN_SWEEP_KEY_MAX + SCN_SWEEP_TEXT_MAX + 2];
    uint64_t points = scn_sweep_points(plan->grid);
    for (size_t i = 0; i < o->set_count; i++) {
        overrides[i] = o->sets[i];
    }
    for (uint64_t point = 0; point < points && plan->grid->param_count > 0; point++) {
        size_t count = o->set_count;
        for (uint32_t d = 0; d < plan->grid->param_count; d++) {
            plan_set_text(plan, point, d, sets[d], sizeof(sets[d]));
            overrides[count++] = sets[d];
        }
        scn_scenario *scenario = NULL;
        scn_error error;
        int rc = scn_load_file(o->file, overrides, count, &scenario, &error);
        int fits = rc == 0 ? plan_point_fits(o, plan, point, scenario) : TOOL_EXIT_OK;
        scn_destroy(scenario);
        if (rc == 0) {
            if (fits != TOOL_EXIT_OK) {
                return fits;
            }
            continue;
        }
        if (rc == SCN_ENOMEM) {
            fprintf(stderr, "infersim sweep: %s\n", scn_strerror(rc));
            return TOOL_EXIT_INTERNAL;
        }
        /* An override's error names the override as its file. */
        for (uint32_t d = 0; d < plan->grid->param_count; d++) {
            if (strncmp(error.file, "--set ", 6) == 0 && strcmp(error.file + 6, sets[d]) == 0) {
                char where[SCN_PATH_MAX + SCN_SWEEP_KEY_MAX + 64];
                plan_param_where(o, plan, d, where, sizeof(where));
                fprintf(stderr, "infersim sweep: %s: %s (grid value '%s'); nothing was run\n",
                        where, error.message, scn_sweep_value(plan->grid, point, d));
                return TOOL_EXIT_USAGE;
            }
        }
        char text[1024], point_text[SCN_SWEEP_PARAMS_MAX * (SCN_SWEEP_KEY_MAX + SCN_SWEEP_TEXT_MAX + 2)];
        scn_error_format(&error, text, sizeof(text));
        plan_point_text(plan, point, point_text, sizeof(point_text));
        fprintf(stderr, "infersim sweep: grid point '%s': %s; nothing was run\n", point_text,
                text);
        return TOOL_EXIT_USAGE;
    }
    return TOOL_EXIT_OK;
}

static int plan_load(const sweep_options *o, sweep_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    int rc = tool_scenario_load(o->file, o->sets, o->set_count, &plan->scenario);
    if (rc != TOOL_EXIT_OK) {
        return rc;
    }
    plan->grid = &plan->scenario->sweep;
    int code = plan_apply_params(o, plan->grid, plan->param_args);
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    code = plan_validate(o, plan);
    if (code == TOOL_EXIT_OK && plan->grid->param_count == 0) {
        code = plan_point_fits(o, plan, 0, plan->scenario); /* the one point */
    }
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    plan->points = scn_sweep_points(plan->grid);
    plan->runs = plan->points * plan->grid->seeds;
    plan->first = 0;
    plan->last = plan->runs;
    if (o->chunks != 0) {
        plan->first = o->chunk * plan->runs / o->chunks;
        plan->last = (o->chunk + 1) * plan->runs / o->chunks;
    }
    return TOOL_EXIT_OK;
}

/* The canonical text of grid point 'point': "k1=v1 k2=v2" ("" without keys). */
static void plan_point_text(const sweep_plan *plan, uint64_t point, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t d = 0; d < plan->grid->param_count && used < size; d++) {
        int n = snprintf(out + used, size - used, "%s%s=%s", d > 0 ? " " : "",
                         plan->grid->params[d].key, scn_sweep_value(plan->grid, point, d));
        used += n > 0 ? (size_t)n : 0;
    }
}

static uint64_t plan_seed(const sweep_plan *plan, uint64_t run)
{
    return plan->scenario->seed + run % plan->grid->seeds;
}

/* "gossip.fanout=2,4; network.loss=0.1,0.2; seeds=3" for sweeps.spec. */
static void plan_spec_text(const sweep_plan *plan, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t d = 0; d < plan->grid->param_count && used < size; d++) {
        const scn_sweep_param *param = &plan->grid->params[d];
        int n = snprintf(out + used, size - used, "%s=", param->key);
        used += n > 0 ? (size_t)n : 0;
        for (uint32_t v = 0; v < param->value_count && used < size; v++) {
            n = snprintf(out + used, size - used, "%s%s", v > 0 ? "," : "", param->values[v]);
            used += n > 0 ? (size_t)n : 0;
        }
        n = used < size ? snprintf(out + used, size - used, "; ") : 0;
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < size) {
        snprintf(out + used, size - used, "seeds=%u", plan->grid->seeds);
    }
}

/* ---- emitting cluster jobs ------------------------------------------------- */

/* Writes 'text' single-quoted for a POSIX shell. */
static void shell_quote(FILE *out, const char *text)
{
    fputc('\'', out);
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == '\'') {
            fputs("'\\''", out);
        } else {
            fputc(*c, out);
        }
    }
    fputc('\'', out);
}

/* "BIN sweep FILE --set ... --param ... --seeds N" with absolute paths. */
static void emit_command(FILE *out, const sweep_options *o, const char *bin, const char *file)
{
    shell_quote(out, bin);
    fputs(" sweep ", out);
    shell_quote(out, file);
    for (size_t i = 0; i < o->set_count; i++) {
        fputs(" --set ", out);
        shell_quote(out, o->sets[i]);
    }
    for (size_t i = 0; i < o->param_count; i++) {
        fputs(" --param ", out);
        shell_quote(out, o->params[i]);
    }
    if (o->seeds != 0) {
        fprintf(out, " --seeds %llu", o->seeds);
    }
}

static void emit_slurm(FILE *out, const sweep_options *o, const sweep_plan *plan,
                       const char *bin, const char *file, const char *parts, uint64_t chunks)
{
    unsigned long long throttle = o->throttle != 0 ? o->throttle : 50;
    fprintf(out, "#!/bin/bash\n");
    fprintf(out, "# infersim sweep of '%s': %llu grid points x %u seeds = %llu runs,\n",
            plan->scenario->name, (unsigned long long)plan->points, plan->grid->seeds,
            (unsigned long long)plan->runs);
    fprintf(out, "# one array task per chunk, at most %llu at once. Submit: sbatch THIS_FILE\n",
            throttle);
    fprintf(out, "#SBATCH --job-name=infersim-%s\n", plan->scenario->name);
    fprintf(out, "#SBATCH --array=0-%llu%%%llu\n", (unsigned long long)chunks - 1, throttle);
    fprintf(out, "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n");
    fprintf(out, "#SBATCH --output=%s/slurm-%%A_%%a.out\n", parts);
    fprintf(out, "set -euo pipefail\nmkdir -p ");
    shell_quote(out, parts);
    fputs("\nexec ", out);
    emit_command(out, o, bin, file);
    fprintf(out, " --jobs 1 --quiet --chunk \"${SLURM_ARRAY_TASK_ID}/%llu\" --db ",
            (unsigned long long)chunks);
    shell_quote(out, parts);
    fputs("\"/part-${SLURM_ARRAY_TASK_ID}.db\"\n", out);
    const char *db = o->db != NULL ? o->db : plan->scenario->output.db;
    fprintf(out, "# When every task has finished, merge the parts into one database:\n#   ");
    shell_quote(out, bin);
    fprintf(out, " merge %s %s/part-*.db\n", db, parts);
    fputs("# then judge every expectation, those over seeds included, on the whole:\n#   ", out);
    emit_command(out, o, bin, file);
    fprintf(out, " --db %s --check\n", db);
}

static void emit_parallel(FILE *out, const sweep_options *o, const char *bin, const char *file,
                          const char *parts, uint64_t chunks)
{
    for (uint64_t c = 0; c < chunks; c++) {
        emit_command(out, o, bin, file);
        fprintf(out, " --jobs 1 --quiet --chunk %llu/%llu --db ", (unsigned long long)c,
                (unsigned long long)chunks);
        char db[PATH_MAX + 32];
        snprintf(db, sizeof(db), "%s/part-%llu.db", parts, (unsigned long long)c);
        shell_quote(out, db);
        fputc('\n', out);
    }
}

static int sweep_emit(const sweep_options *o, const sweep_plan *plan)
{
    char bin[PATH_MAX], file[PATH_MAX], parts[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", bin, sizeof(bin) - 1);
    if (length <= 0 || realpath(o->file, file) == NULL) {
        fprintf(stderr, "infersim sweep: cannot resolve the binary or '%s': %s\n", o->file,
                strerror(errno));
        return TOOL_EXIT_INTERNAL;
    }
    bin[length] = '\0';
    const char *db = o->db != NULL ? o->db : plan->scenario->output.db;
    /* Absolute, so the jobs find it from any working directory. */
    char cwd[PATH_MAX / 2];
    const char *given = o->parts != NULL ? o->parts : db;
    if (given[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL) {
        cwd[0] = '\0';
    }
    snprintf(parts, sizeof(parts), "%s%s%.*s%s", cwd, cwd[0] != '\0' ? "/" : "",
             PATH_MAX / 3, given, o->parts != NULL ? "" : ".parts");
    if (mkdir(parts, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "infersim sweep: cannot create '%s': %s\n", parts, strerror(errno));
        return TOOL_EXIT_USAGE;
    }
    uint64_t chunks = o->emit_chunks != 0 ? o->emit_chunks : plan->runs < 1000 ? plan->runs : 1000;
    chunks = chunks > plan->runs ? plan->runs : chunks;
    FILE *out = o->output != NULL ? fopen(o->output, "w") : stdout;
    if (out == NULL) {
        fprintf(stderr, "infersim sweep: cannot write '%s': %s\n", o->output, strerror(errno));
        return TOOL_EXIT_USAGE;
    }
    if (strcmp(o->emit, "slurm") == 0) {
        emit_slurm(out, o, plan, bin, file, parts, chunks);
    } else {
        emit_parallel(out, o, bin, file, parts, chunks);
    }
    bool failed = ferror(out) != 0;
    failed = (out != stdout ? fclose(out) : fflush(out)) != 0 || failed;
    if (failed) {
        fprintf(stderr, "infersim sweep: writing the %s file failed\n", o->emit);
        return TOOL_EXIT_INTERNAL;
    }
    if (o->output != NULL && strcmp(o->emit, "slurm") == 0) {
        chmod(o->output, 0755);
    }
    fprintf(stderr, "infersim sweep: %llu runs in %llu jobs; each writes %s/part-N.db. Then:\n"
                    "  infersim merge %s %s/part-*.db\n"
                    "and, to judge every expectation (those over seeds included) on the whole:\n  ",
            (unsigned long long)plan->runs, (unsigned long long)chunks, parts, db, parts);
    emit_command(stderr, o, bin, file);
    fprintf(stderr, " --db %s --check\n", db);
    return TOOL_EXIT_OK;
}

/* ---- running locally -------------------------------------------------------- */

typedef struct sweep_worker {
    pid_t pid;                         /* 0: free */
    uint64_t run;
    char db[PATH_MAX + 64];
    char log[PATH_MAX + 64];
} sweep_worker;

typedef struct sweep_state {
    const sweep_options *options;
    sweep_plan *plan;
    met_db *db;
    char temp_dir[PATH_MAX - 64];
    uint64_t done;
    uint64_t failed;
    uint64_t skipped;
    uint64_t todo;
    uint64_t next;
    struct timespec started;
    char threads[24];                  /* every run's --threads */
    bool progress_tty;
    int internal_error;
} sweep_state;

static double sweep_seconds(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void sweep_progress(sweep_state *s, size_t running, const char *last)
{
    if (s->options->quiet) {
        return;
    }
    double wall = sweep_seconds(&s->started);
    uint64_t finished = s->done + s->failed;
    double left = finished > 0 ? wall / (double)finished * (double)(s->todo - finished) : 0.0;
    fprintf(stderr, "%ssweep: %llu/%llu runs done, %llu failed, %zu running, ETA %.0fs%s%s",
            s->progress_tty ? "\r" : "", (unsigned long long)finished,
            (unsigned long long)s->todo, (unsigned long long)s->failed, running, left,
            last != NULL && !s->progress_tty ? "  " : "",
            last != NULL && !s->progress_tty ? last : "");
    fputs(s->progress_tty ? "   " : "\n", stderr);
    fflush(stderr);
}

/* The child: it dies with the sweep (SIGTERM when the parent is gone,
 * however it went, so a killed sweep leaves no run behind), stdout and
 * stderr to the log, then exec the run. */
static void sweep_child_exec(const sweep_state *s, const sweep_worker *w, pid_t parent)
{
    const sweep_plan *plan = s->plan;
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) {
        _exit(TOOL_EXIT_INTERNAL); /* The sweep died before the child could follow it. */
    }
    const char *argv[SWEEP_ARGS_MAX * 2 + SCN_SWEEP_PARAMS_MAX * 2 + 16];
    char seed[32];
    char sets[SCN_SWEEP_PARAMS_MAX][SCN_SWEEP_KEY_MAX + SCN_SWEEP_TEXT_MAX + 2];
    size_t argc = 0;
    int fd = open(w->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    argv[argc++] = "infersim";
    argv[argc++] = "run";
    argv[argc++] = s->options->file;
    argv[argc++] = "--quiet";
    argv[argc++] = "--db";
    argv[argc++] = w->db;
    for (size_t i = 0; i < s->options->set_count; i++) {
        argv[argc++] = "--set";
        argv[argc++] = s->options->sets[i];
    }
    uint64_t point = w->run / plan->grid->seeds;
    for (uint32_t d = 0; d < plan->grid->param_count; d++) {
        snprintf(sets[d], sizeof(sets[d]), "%s=%s", plan->grid->params[d].key,
                 scn_sweep_value(plan->grid, point, d));
        argv[argc++] = "--set";
        argv[argc++] = sets[d];
    }
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)plan_seed(plan, w->run));
    argv[argc++] = "--seed";
    argv[argc++] = seed;
    argv[argc++] = "--threads";
    argv[argc++] = s->threads;
    argv[argc] = NULL;
    execv("/proc/self/exe", (char *const *)argv);
    fprintf(stderr, "infersim sweep: cannot exec /proc/self/exe: %s\n", strerror(errno));
    _exit(TOOL_EXIT_INTERNAL);
}

/* The first line of the run's log (its error message), or "". */
static void sweep_log_reason(const char *log, char *out, size_t size)
{
    out[0] = '\0';
    FILE *file = fopen(log, "r");
    if (file == NULL) {
        return;
    }
    while (fgets(out, (int)size, file) != NULL) {
        out[strcspn(out, "\r\n")] = '\0';
        if (out[0] != '\0') {
            break;
        }
    }
    fclose(file);
}

/* Records a run that left no row of its own (it failed before writing,
 * e.g. an invalid grid value, or its process died first). */
static int sweep_record_failure(sweep_state *s, uint64_t run, const char *reason,
                                const met_merge_tag *tag)
{
    const scn_scenario *base = s->plan->scenario;
    met_run_info info = {base->name, base->sha256_hex, INFERSIM_GIT_REV, "sim",
                         plan_seed(s->plan, run), base->nodes.count};
    met_run_totals totals = {0, 0, 0, 0, NULL, reason};
    int64_t run_id = 0;
    int rc = met_run_begin(s->db, &info, NULL, 0, &run_id);
    if (rc == 0) {
        rc = met_run_finish(s->db, run_id, "failed", &totals);
    }
    if (rc == 0) {
        rc = met_run_tag(s->db, run_id, s->plan->sweep_id, tag->point, tag->keys, tag->values,
                         tag->count);
    }
    return rc;
}

/* Describes how the run's process ended, with its first log line. */
static void sweep_describe(int status, const char *log, char *out, size_t size)
{
    char line[400];
    sweep_log_reason(log, line, sizeof(line));
    if (WIFSIGNALED(status)) {
        snprintf(out, size, "run process killed by signal %d%s%s", WTERMSIG(status),
                 line[0] != '\0' ? ": " : "", line);
    } else {
        snprintf(out, size, "run exited with code %d%s%s", WEXITSTATUS(status),
                 line[0] != '\0' ? ": " : "", line);
    }
}

/* Brings the finished run of worker w into the results file. Returns true
 * when it completed. */
static bool sweep_collect(sweep_state *s, sweep_worker *w, int status)
{
    const sweep_plan *plan = s->plan;
    uint64_t point = w->run / plan->grid->seeds;
    char point_text[SCN_SWEEP_PARAMS_MAX * (SCN_SWEEP_KEY_MAX + SCN_SWEEP_TEXT_MAX + 2)];
    const char *keys[SCN_SWEEP_PARAMS_MAX], *values[SCN_SWEEP_PARAMS_MAX];
    for (uint32_t d = 0; d < plan->grid->param_count; d++) {
        keys[d] = plan->grid->params[d].key;
        values[d] = scn_sweep_value(plan->grid, point, d);
    }
    plan_point_text(plan, point, point_text, sizeof(point_text));
    char reason[512];
    sweep_describe(status, w->log, reason, sizeof(reason));
    met_merge_tag tag = {plan->sweep_id, point_text, keys, values, plan->grid->param_count,
                         reason};
    met_merge_stats stats = {0};
    int rc = 0;
    if (access(w->db, F_OK) == 0) {
        rc = met_merge(s->db, w->db, &tag, &stats);
    }
    if (rc != 0) {
        /* The run's own database is unreadable (a crash mid-write): the
         * run failed; say why and record it like a run that wrote nothing. */
        size_t used = strlen(reason);
        snprintf(reason + used, sizeof(reason) - used, " (its database: %s)",
                 met_db_errmsg(s->db));
        memset(&stats, 0, sizeof(stats));
    }
    if (stats.copied + stats.skipped == 0) {
        rc = sweep_record_failure(s, w->run, reason, &tag);
    }
    if (rc != 0) {
        fprintf(stderr, "\ninfersim sweep: storing run %llu failed: %s\n",
                (unsigned long long)w->run, met_db_errmsg(s->db));
        s->internal_error = 1;
    }
    met_db_remove(w->db);
    unlink(w->log);
    bool completed = rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                     stats.copied + stats.skipped == 1 && stats.incomplete == 0;
    if (!completed && !s->options->quiet) {
        fprintf(stderr, "%sinfersim sweep: run %llu (%s seed %llu) failed: %s\n",
                s->progress_tty ? "\n" : "", (unsigned long long)w->run, point_text,
                (unsigned long long)plan_seed(plan, w->run), reason);
    }
    return completed;
}

/* The next run of this invocation not already completed in the file. */
static bool sweep_next_pending(sweep_state *s, uint64_t *run_out)
{
    const sweep_plan *plan = s->plan;
    char point_text[SCN_SWEEP_PARAMS_MAX * (SCN_SWEEP_KEY_MAX + SCN_SWEEP_TEXT_MAX + 2)];
    while (s->next < plan->last) {
        uint64_t run = s->next++;
        plan_point_text(plan, run / plan->grid->seeds, point_text, sizeof(point_text));
        int done = met_sweep_run_done(s->db, plan->sweep_id, point_text, plan_seed(plan, run));
        if (done == 0) {
            *run_out = run;
            return true;
        }
        if (done < 0) {
            s->internal_error = 1;
            return false;
        }
    }
    return false;
}

static int sweep_launch(sweep_state *s, sweep_worker *w, uint64_t run)
{
    w->run = run;
    snprintf(w->db, sizeof(w->db), "%s/run-%llu.db", s->temp_dir, (unsigned long long)run);
    snprintf(w->log, sizeof(w->log), "%s/run-%llu.log", s->temp_dir, (unsigned long long)run);
    met_db_remove(w->db);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "infersim sweep: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sweep_child_exec(s, w, parent);
    }
    w->pid = pid;
    return 0;
}

/* Counts the runs this invocation still has to do (for progress). */
static uint64_t sweep_count_todo(sweep_state *s)
{
    uint64_t saved = s->next;
    uint64_t todo = 0, run;
    while (sweep_next_pending(s, &run)) {
        todo += 1;
    }
    s->skipped = (s->plan->last - s->plan->first) - todo;
    s->next = saved;
    return todo;
}

static void sweep_stop_workers(sweep_worker *workers, size_t count, int signal_number)
{
    for (size_t i = 0; i < count; i++) {
        if (workers[i].pid > 0) {
            kill(workers[i].pid, signal_number);
        }
    }
}

/* The worker pool: launch while there is room, collect each exit. */
static void sweep_pool(sweep_state *s, sweep_worker *workers, size_t jobs)
{
    size_t running = 0;
    bool more = true;
    bool stopping = false;
    for (;;) {
        for (size_t i = 0; i < jobs && more && !stopping && sweep_stop_signal == 0; i++) {
            uint64_t run;
            if (workers[i].pid == 0 && (more = sweep_next_pending(s, &run))) {
                if (sweep_launch(s, &workers[i], run) != 0) {
                    s->internal_error = 1;
                    more = false;
                } else {
                    running += 1;
                }
            }
        }
        if (running == 0) {
            break;
        }
        if (sweep_stop_signal != 0 && !stopping) {
            stopping = true;    /* Runs mark themselves aborted on SIGTERM. */
            sweep_stop_workers(workers, jobs, SIGTERM);
            /* Their rows are still merged; another signal ends a wait for
             * another process's lock on the file. */
            met_db_stop_on(s->db, &sweep_stop_count);
        }
        int status = 0;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR) {
            continue;           /* a signal: checked above */
        }
        if (pid < 0) {
            fprintf(stderr, "infersim sweep: waitpid: %s\n", strerror(errno));
            s->internal_error = 1;
            break;
        }
        for (size_t i = 0; i < jobs; i++) {
            if (workers[i].pid == pid) {
                workers[i].pid = 0;
                running -= 1;
                bool completed = sweep_collect(s, &workers[i], status);
                s->done += completed ? 1 : 0;
                s->failed += completed ? 0 : 1;
                sweep_progress(s, running, completed ? "completed" : "failed");
            }
        }
    }
}

/* Removes the files of one temporary folder, then the folder. */
static void sweep_remove_tree(const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *entry;
    if (dir == NULL) {
        return;
    }
    while ((entry = readdir(dir)) != NULL) {
        char file[PATH_MAX];
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0 &&
            snprintf(file, sizeof(file), "%s/%s", path, entry->d_name) < (int)sizeof(file)) {
            remove(file);
        }
    }
    closedir(dir);
    rmdir(path);
}

/* A sweep that was killed leaves its folder DB.sweep-PID behind: removed
 * here when no process PID exists any more. */
static void sweep_clean_stale(const char *db_path)
{
    char folder[PATH_MAX], prefix[PATH_MAX];
    const char *slash = strrchr(db_path, '/');
    int n = slash != NULL ? (int)(slash - db_path) : 1;
    snprintf(folder, sizeof(folder), "%.*s", n, slash != NULL ? db_path : ".");
    snprintf(prefix, sizeof(prefix), "%s.sweep-", slash != NULL ? slash + 1 : db_path);
    DIR *dir = opendir(folder[0] != '\0' ? folder : "/");
    struct dirent *entry;
    while (dir != NULL && (entry = readdir(dir)) != NULL) {
        size_t length = strlen(prefix);
        char *end = NULL;
        if (strncmp(entry->d_name, prefix, length) != 0) {
            continue;
        }
        long pid = strtol(entry->d_name + length, &end, 10);
        if (end == entry->d_name + length || *end != '\0' || pid <= 0 ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
            continue; /* Not a sweep's folder, or its sweep still runs. */
        }
        char path[PATH_MAX * 2];
        snprintf(path, sizeof(path), "%s/%s", folder, entry->d_name);
        sweep_remove_tree(path);
        fprintf(stderr, "infersim sweep: removed '%s', left by a sweep that was killed\n", path);
    }
    if (dir != NULL) {
        closedir(dir);
    }
}

/* ---- the expectations' verdicts ------------------------------------------------ */

typedef enum sweep_verdict {
    VERDICT_NONE = 0,        /* no completed run */
    VERDICT_UNCHECKED,       /* completed, the scenario has no expectations */
    VERDICT_PASSED,
    VERDICT_FAILED,
} sweep_verdict;

typedef struct verdict_row {
    sweep_verdict verdict;
    char run_id[24];
} verdict_row;

static int verdict_on_row(void *context, size_t count, const met_value *values)
{
    verdict_row *row = context;
    if (count == 2 && !values[0].is_null) {
        snprintf(row->run_id, sizeof(row->run_id), "%.0f", values[0].number);
        row->verdict = values[1].is_null ? VERDICT_UNCHECKED
                       : strcmp(values[1].text, "failed") == 0 ? VERDICT_FAILED
                                                                 : VERDICT_PASSED;
    }
    return 0;
}

/* The verdict of the latest completed run of 'point' with 'seed'. */
static int verdict_of(met_db *db, int64_t sweep_id, const char *point, uint64_t seed,
                      verdict_row *row)
{
    char sweep_text[24], seed_text[24];
    snprintf(sweep_text, sizeof(sweep_text), "%lld", (long long)sweep_id);
    snprintf(seed_text, sizeof(seed_text), "%llu", (unsigned long long)seed);
    const char *params[] = {sweep_text, point, seed_text};
    memset(row, 0, sizeof(*row));
    return met_query(db,
                     "SELECT run_id, check_status FROM runs WHERE sweep_id = ?1 AND"
                     " point = ?2 AND seed = ?3 AND status = 'completed'"
                     " ORDER BY run_id DESC LIMIT 1",
                     params, 3, verdict_on_row, row);
}

static int failure_on_row(void *context, size_t count, const met_value *values)
{
    char *out = context;
    if (count == 4 && !values[0].is_null) {
        snprintf(out, 256, "%s %s %g (actual %g)", values[0].text,
                 values[1].is_null ? "?" : values[1].text, values[2].number, values[3].number);
    }
    return 0;
}

/* Prints "infersim run FILE --seed S --set k=v ... --check", quoting
 * only what a shell would split. */
static void print_word(const char *word)
{
    if (word[strspn(word, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                          "_-.,/:=+@%")] == '\0') {
        fputs(word, stdout);
        return;
    }
    shell_quote(stdout, word);
}

static void print_reproduce(const sweep_options *o, const sweep_plan *plan, uint64_t point,
                            uint64_t seed)
{
    fputs("    reproduce: infersim run ", stdout);
    print_word(o->file);
    printf(" --seed %llu", (unsigned long long)seed);
    for (size_t i = 0; i < o->set_count; i++) {
        fputs(" --set ", stdout);
        print_word(o->sets[i]);
    }
    for (uint32_t d = 0; d < plan->grid->param_count; d++) {
        char set[SCN_SWEEP_KEY_MAX + SCN_SWEEP_TEXT_MAX + 2];
        plan_set_text(plan, point, d, set, sizeof(set));
        fputs(" --set ", stdout);
        print_word(set);
    }
    fputs(" --check\n", stdout);
}

/* Seeds of one grid point with one verdict: "1,4,6" (the first 20). */
static void print_seeds(const char *label, const uint64_t *seeds, size_t count)
{
    if (count == 0) {
        return;
    }
    printf("  %s", label);
    for (size_t i = 0; i < count && i < 20; i++) {
        printf("%s%llu", i > 0 ? "," : " ", (unsigned long long)seeds[i]);
    }
    printf("%s", count > 20 ? ",..." : "");
}

typedef struct verdict_totals {
    uint64_t passed;
    uint64_t failed;
    uint64_t unchecked;
    uint64_t missing;
    uint64_t over_passed;     /* over-seed expectations, one per grid point */
    uint64_t over_failed;
    uint64_t over_deferred;   /* points this chunk holds only some seeds of */
} verdict_totals;

/* ---- expectations over the seeds of a grid point ---- */

static int metric_on_row(void *context, size_t count, const met_value *values)
{
    double *value = context;
    if (count == 1 && !values[0].is_null) {
        *value = values[0].number;
    }
    return 0;
}

/* Metric 'name' of the latest completed run of 'point' with 'seed': NaN
 * when the run stored none; *completed false when there is no such run. */
static int seed_metric(met_db *db, int64_t sweep_id, const char *point, uint64_t seed,
                       const char *name, bool *completed, double *value)
{
    verdict_row row;
    *value = NAN;
    if (verdict_of(db, sweep_id, point, seed, &row) != 0) {
        return -1;
    }
    *completed = row.verdict != VERDICT_NONE;
    if (!*completed) {
        return 0;
    }
    const char *params[] = {row.run_id, name};
    return met_query(db, "SELECT value FROM metrics WHERE run_id = ?1 AND name = ?2", params, 2,
                     metric_on_row, value);
}

/* The outcome of one over-seed expectation at one grid point. */
typedef struct over_outcome {
    size_t seeds;             /* completed runs judged */
    size_t missing;           /* seeds without a completed run */
    size_t passing;           /* seeds whose value holds 'each' */
    double observed;          /* the mean, or the fraction of passing seeds */
    bool passed;
    uint64_t *failing;        /* seeds[] whose value does not hold 'each' */
    size_t failing_count;
} over_outcome;

/* Judges 'expect' over every seed of 'point' from the stored metrics of its
 * completed runs. A seed without the metric counts as NaN: it makes the
 * mean NaN and fails 'each'. No completed run at all fails. */
static int over_judge(const sweep_plan *plan, met_db *db, uint64_t point, const char *point_text,
                      const scn_expect *expect, over_outcome *out)
{
    uint32_t seeds = plan->grid->seeds;
    double sum = 0.0;
    out->seeds = out->missing = out->passing = out->failing_count = 0;
    for (uint32_t k = 0; k < seeds; k++) {
        uint64_t seed = plan_seed(plan, point * seeds + k);
        bool completed = false;
        double value = NAN;
        if (seed_metric(db, plan->sweep_id, point_text, seed, expect->metric, &completed,
                        &value) != 0) {
            return -1;
        }
        if (!completed) {
            out->missing += 1;
            continue;
        }
        out->seeds += 1;
        sum += value;
        if (tool_cmp_holds(expect->cmp, value, expect->value)) {
            out->passing += 1;
        } else {
            out->failing[out->failing_count++] = seed;
        }
    }
    if (expect->scope == SCN_EXPECT_MEAN) {
        out->observed = out->seeds > 0 ? sum / (double)out->seeds : NAN;
        out->passed = tool_cmp_holds(expect->cmp, out->observed, expect->value);
    } else {
        out->observed = out->seeds > 0 ? (double)out->passing / (double)out->seeds : NAN;
        out->passed = tool_cmp_holds(expect->passing_cmp, out->observed, expect->passing_value);
    }
    return 0;
}

/* Prints and counts the over-seed expectations of one grid point (every one
 * with --check, else the failed ones); returns -1 on a read error. */
static int over_point(const sweep_options *o, const sweep_plan *plan, met_db *db, uint64_t point,
                      const char *point_text, bool *header, verdict_totals *totals)
{
    const scn_scenario *scenario = plan->scenario;
    uint64_t seeds = plan->grid->seeds;
    uint64_t first = point * seeds, last = first + seeds;
    if (first < plan->first || last > plan->last) {
        /* A chunk holding some of the point's seeds cannot judge them all:
         * the merged database can. */
        uint64_t held = (last < plan->last ? last : plan->last) -
                        (first > plan->first ? first : plan->first);
        totals->over_deferred += scenario->expect_count - tool_run_expect_count(scenario);
        if (!*header) {
            printf("expectations over seeds per grid point:\n");
            *header = true;
        }
        printf("  %s: expectations over seeds deferred: this chunk holds %llu of %llu seeds\n",
               point_text[0] != '\0' ? point_text : "(base)", (unsigned long long)held,
               (unsigned long long)seeds);
        return 0;
    }
    over_outcome outcome;
    memset(&outcome, 0, sizeof(outcome));
    outcome.failing = calloc(plan->grid->seeds, sizeof(*outcome.failing));
    if (outcome.failing == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < scenario->expect_count; i++) {
        const scn_expect *expect = &scenario->expects[i];
        if (expect->scope == SCN_EXPECT_RUN) {
            continue;
        }
        if (over_judge(plan, db, point, point_text, expect, &outcome) != 0) {
            free(outcome.failing);
            return -1;
        }
        totals->over_passed += outcome.passed;
        totals->over_failed += !outcome.passed;
        if (!o->check && outcome.passed) {
            continue;
        }
        if (!*header) {
            printf("expectations over seeds per grid point (%s):\n",
                   o->check ? "--check" : "failures only");
            *header = true;
        }
        char text[2 * SCN_NAME_MAX + 64], shown[SCN_FORMAT_MAX];
        tool_expect_text(text, sizeof(text), expect);
        printf("  %s: %s: ", point_text[0] != '\0' ? point_text : "(base)", text);
        if (expect->scope == SCN_EXPECT_MEAN) {
            printf("mean %s over %zu seeds", scn_format_expect(shown, sizeof(shown), expect,
                                                                outcome.observed),
                   outcome.seeds);
        } else {
            printf("passing %.4g (%zu of %zu seeds)", outcome.observed, outcome.passing,
                   outcome.seeds);
        }
        if (outcome.missing > 0) {
            printf(", %zu did not complete", outcome.missing);
        }
        printf(": %s\n", outcome.passed ? "passed" : "FAILED");
        if (!outcome.passed && expect->scope == SCN_EXPECT_PASSING) {
            print_seeds("  seeds failing 'each'", outcome.failing, outcome.failing_count);
            fputc('\n', stdout);
        }
    }
    free(outcome.failing);
    return 0;
}

/* Counts the verdicts of this invocation's runs per grid point; prints a
 * line per point (every point with --check, else those with a failure),
 * with the first failed expectation and the command that reproduces it. */
static int sweep_verdicts(const sweep_options *o, const sweep_plan *plan, met_db *db,
                          verdict_totals *totals)
{
    char point_text[SCN_SWEEP_PARAMS_MAX * (SCN_SWEEP_KEY_MAX + SCN_SWEEP_TEXT_MAX + 2)];
    uint32_t seeds = plan->grid->seeds;
    uint64_t *lists = calloc((size_t)seeds * 3, sizeof(*lists));
    if (lists == NULL) {
        return -1;
    }
    memset(totals, 0, sizeof(*totals));
    bool header = false;
    bool over_header = false;
    bool run_level = tool_run_expect_count(plan->scenario) > 0;
    bool over_seeds = plan->scenario->expect_count > tool_run_expect_count(plan->scenario);
    uint64_t run = plan->first;
    while (run < plan->last) {
        uint64_t point = run / seeds;
        size_t count[3] = {0, 0, 0};          /* passed, failed, missing */
        char first_failure[256] = "";
        uint64_t first_seed = 0;
        plan_point_text(plan, point, point_text, sizeof(point_text));
        for (; run < plan->last && run / seeds == point; run++) {
            verdict_row row;
            uint64_t seed = plan_seed(plan, run);
            if (verdict_of(db, plan->sweep_id, point_text, seed, &row) != 0) {
                free(lists);
                return -1;
            }
            size_t slot = row.verdict == VERDICT_FAILED ? 1 : row.verdict == VERDICT_NONE ? 2 : 0;
            lists[slot * seeds + count[slot]++] = seed;
            totals->passed += row.verdict == VERDICT_PASSED ? 1 : 0;
            totals->failed += row.verdict == VERDICT_FAILED ? 1 : 0;
            totals->unchecked += row.verdict == VERDICT_UNCHECKED ? 1 : 0;
            totals->missing += row.verdict == VERDICT_NONE ? 1 : 0;
            if (row.verdict == VERDICT_FAILED && count[1] == 1) {
                const char *params[] = {row.run_id};
                first_seed = seed;
                if (met_query(db,
                              "SELECT metric, op, expected, actual FROM expectations"
                              " WHERE run_id = ?1 AND passed = 0 ORDER BY rowid LIMIT 1",
                              params, 1, failure_on_row, first_failure) != 0) {
                    free(lists);
                    return -1;
                }
            }
        }
        if (over_seeds &&
            over_point(o, plan, db, point, point_text, &over_header, totals) != 0) {
            free(lists);
            return -1;
        }
        if (!run_level || (!o->check && count[1] == 0)) {
            continue;
        }
        if (!header) {
            printf("expectations per grid point (%s):\n", o->check ? "--check" : "failures only");
            header = true;
        }
        printf("  %s: %zu passed, %zu failed", point_text[0] != '\0' ? point_text : "(base)",
               count[0], count[1]);
        if (count[2] > 0) {
            printf(", %zu did not complete", count[2]);
        }
        fputc('\n', stdout);
        print_seeds("  passed seeds", lists, count[0]);
        print_seeds("  failed seeds", lists + seeds, count[1]);
        print_seeds("  not completed", lists + 2 * (size_t)seeds, count[2]);
        fputc('\n', stdout);
        if (count[1] > 0) {
            printf("    first failure: seed %llu: %s\n", (unsigned long long)first_seed,
                   first_failure[0] != '\0' ? first_failure : "an expectation failed");
            print_reproduce(o, plan, point, first_seed);
        }
    }
    free(lists);
    return 0;
}

static int sweep_run_local(const sweep_options *o, sweep_plan *plan)
{
    sweep_state s;
    memset(&s, 0, sizeof(s));
    s.options = o;
    s.plan = plan;
    s.next = plan->first;
    const char *db_path = o->db != NULL ? o->db : plan->scenario->output.db;
    char why[512], spec[2048];
    if (met_db_open(db_path, &s.db, why, sizeof(why)) != 0) {
        fprintf(stderr, "infersim sweep: %s\n", why);
        return TOOL_EXIT_USAGE;
    }
    plan_spec_text(plan, spec, sizeof(spec));
    int code = TOOL_EXIT_OK;
    if (met_sweep_register(s.db, plan->scenario->name, plan->scenario->sha256_hex, spec,
                           plan->grid->seeds, plan->points, &plan->sweep_id) != 0) {
        fprintf(stderr, "infersim sweep: %s: %s\n", db_path, met_db_errmsg(s.db));
        met_db_close(s.db);
        return TOOL_EXIT_INTERNAL;
    }
    sweep_clean_stale(db_path);
    snprintf(s.temp_dir, sizeof(s.temp_dir), "%s.sweep-%ld", db_path, (long)getpid());
    if (mkdir(s.temp_dir, 0755) != 0) {
        fprintf(stderr, "infersim sweep: cannot create '%s': %s\n", s.temp_dir, strerror(errno));
        met_db_close(s.db);
        return TOOL_EXIT_USAGE;
    }
    size_t jobs = o->jobs != 0 ? (size_t)o->jobs : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
    jobs = jobs == 0 ? 1 : jobs > 256 ? 256 : jobs;
    uint32_t threads = o->threads != 0 ? (uint32_t)o->threads : tool_threads_default() / jobs;
    threads = threads == 0 ? 1 : threads > UTIL_WORKERS_MAX ? UTIL_WORKERS_MAX : threads;
    snprintf(s.threads, sizeof(s.threads), "%u", threads);
    sweep_worker *workers = calloc(jobs, sizeof(*workers));
    if (workers == NULL) {
        code = TOOL_EXIT_INTERNAL;
    } else {
        s.todo = sweep_count_todo(&s);
        s.progress_tty = isatty(STDERR_FILENO) != 0;
        clock_gettime(CLOCK_MONOTONIC, &s.started);
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_handler = sweep_on_signal;    /* no SA_RESTART: waitpid sees EINTR */
        sigemptyset(&action.sa_mask);
        sigaction(SIGINT, &action, NULL);
        sigaction(SIGTERM, &action, NULL);
        sweep_pool(&s, workers, jobs);
        free(workers);
    }
    rmdir(s.temp_dir);
    if (!o->quiet && s.progress_tty) {
        fputc('\n', stderr);
    }
    printf("sweep %lld: '%s' %llu runs: %llu completed, %llu failed, %llu already done -> %s\n",
           (long long)plan->sweep_id, plan->scenario->name,
           (unsigned long long)(plan->last - plan->first), (unsigned long long)s.done,
           (unsigned long long)s.failed, (unsigned long long)s.skipped, db_path);
    verdict_totals verdicts;
    memset(&verdicts, 0, sizeof(verdicts));
    if (code == TOOL_EXIT_OK && !s.internal_error && sweep_stop_signal == 0 &&
        plan->scenario->expect_count > 0) {
        if (sweep_verdicts(o, plan, s.db, &verdicts) != 0) {
            fprintf(stderr, "infersim sweep: reading the verdicts: %s\n", met_db_errmsg(s.db));
            s.internal_error = 1;
        } else {
            if (tool_run_expect_count(plan->scenario) > 0) {
                printf("expectations: %llu runs passed, %llu failed%s\n",
                       (unsigned long long)verdicts.passed, (unsigned long long)verdicts.failed,
                       verdicts.failed > 0 && !o->check ? " (--check makes that exit 1)" : "");
            }
            if (verdicts.over_passed + verdicts.over_failed > 0) {
                printf("expectations over seeds: %llu passed, %llu failed (one per grid point"
                       " each)%s\n",
                       (unsigned long long)verdicts.over_passed,
                       (unsigned long long)verdicts.over_failed,
                       verdicts.over_failed > 0 && !o->check ? " (--check makes that exit 1)"
                                                              : "");
            }
            if (verdicts.over_deferred > 0) {
                printf("expectations over seeds: %llu deferred (grid points split between "
                       "chunks); after 'infersim merge', the same sweep command with the merged "
                       "--db and without --chunk judges them\n",
                       (unsigned long long)verdicts.over_deferred);
            }
        }
    }
    met_db_close(s.db);
    if (code != TOOL_EXIT_OK || s.internal_error) {
        return TOOL_EXIT_INTERNAL;
    }
    if (sweep_stop_signal != 0) {
        fprintf(stderr, "infersim sweep: interrupted; run the same command again to resume\n");
        return 128 + sweep_stop_signal;
    }
    bool check_failed = verdicts.failed > 0 || verdicts.over_failed > 0;
    return s.failed > 0 || (o->check && check_failed) ? TOOL_EXIT_CHECK : TOOL_EXIT_OK;
}

int tool_sweep_main(int argc, char **argv)
{
    sweep_options options;
    sweep_plan plan;
    int code = parse_options(argc, argv, &options);
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    code = plan_load(&options, &plan);
    if (code == TOOL_EXIT_OK) {
        code = options.emit != NULL ? sweep_emit(&options, &plan)
                                    : sweep_run_local(&options, &plan);
    }
    scn_destroy(plan.scenario);
    return code;
}
