/* cmd_db.c -- the subcommands that read: `validate` checks a scenario,
 * `runs` lists a database's runs, `export` writes one table, `compare`
 * prints the verification protocols side by side. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "metrics/met.h"
#include "scenarios/scn.h"
#include "tools/tool.h"

#define VALIDATE_OVERRIDES_MAX 256

static const char validate_usage[] =
    "usage: infersim validate FILE [--set key=value]...\n"
    "\n"
    "Loads and checks the scenario FILE (and any overrides) without running it.\n"
    "Prints 'ok' and a one-line description, or file:line:col: message and exits 2.\n";

static const char runs_usage[] =
    "usage: infersim runs [--db F]\n"
    "\n"
    "Lists the runs stored in the results database F (default results.db).\n"
    "A run still marked 'running' whose process is gone shows as incomplete.\n";

static const char export_usage[] =
    "usage: infersim export [--db F] --table T [--run ID] [--format csv|json|jsonl]\n"
    "\n"
    "Writes table T of the results database F (default results.db) to stdout.\n"
    "Tables: runs params nodes faults timeseries messages metrics expectations\n"
    "requests segments executions decisions divergence violations privacy\n"
    "weights sweeps sweep_values, and the views run_summary, protocol_comparison and\n"
    "sweep_summary, and 'wide': one row per run with a column per swept key and\n"
    "per metric (for pandas). --run keeps one run's rows. Default format: csv.\n";

static const char compare_usage[] =
    "usage: infersim compare [--db F] [--by-scenario]\n"
    "\n"
    "Prints the verification protocols of the runs in F (default results.db)\n"
    "side by side: per protocol (and per scenario name with --by-scenario), the\n"
    "mean over its completed runs of: completed ratio, accepted-wrong ratio,\n"
    "honest members penalised, disputes, resamples, cost (replicated FLOPs over\n"
    "native), MB on the wire, latency to finality p50 and p99, stake slashed.\n"
    "The rows come from the protocol_comparison view (metrics/README.md).\n";

typedef struct validate_options {
    const char *overrides[VALIDATE_OVERRIDES_MAX];
    size_t override_count;
} validate_options;

static int validate_option(void *context, const char *name, const char *value)
{
    validate_options *o = context;
    (void)name;         /* --set is the only option */
    if (o->override_count == VALIDATE_OVERRIDES_MAX) {
        return tool_usage_error("validate", "at most %d --set overrides",
                                VALIDATE_OVERRIDES_MAX);
    }
    o->overrides[o->override_count++] = value;
    return TOOL_EXIT_OK;
}

int tool_validate_main(int argc, char **argv)
{
    static const tool_option options[] = {{"--set", 0, true}};
    static const tool_command command = {"validate", validate_usage, options, 1,
                                         validate_option};
    validate_options o = {.override_count = 0};
    const char *file = NULL;
    int first = 0;
    int code = tool_options_parse(&command, argc, argv, &o, &first);
    if (code == TOOL_EXIT_OK) {
        code = tool_positional_one("validate", argc, argv, first, "scenario FILE", &file);
    }
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    scn_scenario *scenario = NULL;
    code = tool_scenario_load(file, o.overrides, o.override_count, &scenario);
    if (code != TOOL_EXIT_OK) {
        return code;
    }
    (void)tool_scenario_fits("validate", file, scenario, false);
    printf("ok: %s: '%s', %u nodes, %.3f s, %u faults, %u expectations, sha256 %.16s\n", file,
           scenario->name, scenario->nodes.count, (double)scenario->duration_ns / 1e9,
           scenario->fault_count, scenario->expect_count, scenario->sha256_hex);
    scn_destroy(scenario);
    return TOOL_EXIT_OK;
}

static int open_db(const char *subcommand, const char *path, met_db **db)
{
    char why[512];
    if (access(path, F_OK) != 0) {
        return tool_usage_error(subcommand, "no results database at '%s'", path);
    }
    /* Listing and export only read: a file this process may not write
     * (or on read-only media) is opened for reading. */
    int rc = access(path, W_OK) == 0 ? met_db_open(path, db, why, sizeof(why))
                                     : met_db_open_read(path, db, why, sizeof(why));
    if (rc == MET_EOPEN && access(path, W_OK) == 0) {
        rc = met_db_open_read(path, db, why, sizeof(why)); /* read-only media */
    }
    if (rc != 0) {
        fprintf(stderr, "infersim %s: %s\n", subcommand, why);
        return TOOL_EXIT_USAGE;
    }
    return TOOL_EXIT_OK;
}

/* The options of runs and compare: --db F, --by-scenario. */
typedef struct db_options {
    const char *path;
    bool by_name;
} db_options;

static int db_option(void *context, const char *name, const char *value)
{
    db_options *o = context;
    if (strcmp(name, "--db") == 0) {
        o->path = value;
    } else {
        o->by_name = true;
    }
    return TOOL_EXIT_OK;
}

/* Parses runs' or compare's arguments (no operands) and opens the
 * database. Returns TOOL_EXIT_OK, TOOL_OPTIONS_HELP or the exit code. */
static int db_parse_open(const tool_command *command, int argc, char **argv, db_options *o,
                         met_db **db)
{
    int first = 0;
    int code = tool_options_parse(command, argc, argv, o, &first);
    if (code == TOOL_EXIT_OK && first < argc) {
        code = tool_usage_error(command->name, "unexpected argument '%s'", argv[first]);
    }
    return code == TOOL_EXIT_OK ? open_db(command->name, o->path, db) : code;
}

int tool_runs_main(int argc, char **argv)
{
    static const tool_option options[] = {{"--db", 0, true}};
    static const tool_command command = {"runs", runs_usage, options, 1, db_option};
    db_options o = {"results.db", false};
    met_db *db = NULL;
    int code = db_parse_open(&command, argc, argv, &o, &db);
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    int rc = met_runs_list(db, stdout);
    if (rc != 0) {
        fprintf(stderr, "infersim runs: %s\n", met_db_errmsg(db));
    }
    met_db_close(db);
    return rc == 0 ? TOOL_EXIT_OK : TOOL_EXIT_INTERNAL;
}

int tool_compare_main(int argc, char **argv)
{
    static const tool_option options[] = {{"--db", 0, true}, {"--by-scenario", 0, false}};
    static const tool_command command = {"compare", compare_usage, options, 2, db_option};
    db_options o = {"results.db", false};
    met_db *db = NULL;
    int code = db_parse_open(&command, argc, argv, &o, &db);
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    int rc = met_compare(db, stdout, o.by_name);
    if (rc != 0) {
        fprintf(stderr, "infersim compare: %s\n", met_db_errmsg(db));
    }
    met_db_close(db);
    return rc == 0 ? TOOL_EXIT_OK : TOOL_EXIT_INTERNAL;
}

typedef struct export_options {
    const char *path;
    const char *table;
    unsigned long long run_id;
    met_format format;
} export_options;

static int export_option(void *context, const char *name, const char *value)
{
    export_options *options = context;
    if (strcmp(name, "--db") == 0) {
        options->path = value;
    } else if (strcmp(name, "--table") == 0) {
        options->table = value;
    } else if (strcmp(name, "--run") == 0) {
        if (!tool_parse_u64(value, &options->run_id) || options->run_id == 0 ||
            options->run_id > INT64_MAX) {
            return tool_usage_error("export", "--run needs a run id, got '%s'", value);
        }
    } else if (strcmp(value, "csv") == 0) {
        options->format = MET_FORMAT_CSV;
    } else if (strcmp(value, "json") == 0) {
        options->format = MET_FORMAT_JSON;
    } else if (strcmp(value, "jsonl") == 0) {
        options->format = MET_FORMAT_JSONL;
    } else {
        return tool_usage_error("export", "--format is csv, json or jsonl, not '%s'", value);
    }
    return TOOL_EXIT_OK;
}

/* "unknown table 'T'; did you mean 'U'?" and the list of tables. */
static int export_unknown_table(const char *table)
{
    const char *names[64];
    size_t count = 0;
    while (count < 64 && (names[count] = met_export_table_name(count)) != NULL) {
        count++;
    }
    const char *guess = tool_suggest(table, names, count);
    fprintf(stderr, "infersim export: unknown table '%s'", table);
    if (guess != NULL) {
        fprintf(stderr, "; did you mean '%s'?", guess);
    }
    fputs("\ntables: ", stderr);
    tool_list_print(stderr, names, count);
    fputs("\n", stderr);
    return TOOL_EXIT_USAGE;
}

int tool_export_main(int argc, char **argv)
{
    static const tool_option options_table[] = {
        {"--db", 0, true}, {"--table", 0, true}, {"--run", 0, true}, {"--format", 0, true}};
    static const tool_command command = {"export", export_usage, options_table, 4,
                                         export_option};
    export_options options = {"results.db", NULL, 0, MET_FORMAT_CSV};
    met_db *db = NULL;
    int first = 0;
    int code = tool_options_parse(&command, argc, argv, &options, &first);
    if (code == TOOL_EXIT_OK && first < argc) {
        code = tool_usage_error("export", "unexpected argument '%s'", argv[first]);
    }
    if (code == TOOL_EXIT_OK && options.table == NULL) {
        code = tool_usage_error("export", "missing --table T");
    }
    if (code == TOOL_EXIT_OK && !met_export_table_has_run(options.table) && options.run_id != 0) {
        code = tool_usage_error("export", "table '%s' has no run_id: --run does not apply",
                                options.table);
    }
    if (code == TOOL_EXIT_OK) {
        code = open_db("export", options.path, &db);
    }
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    int rc = met_export(db, options.table, (int64_t)options.run_id, options.format, stdout);
    if (rc == MET_ENOTABLE) {
        code = export_unknown_table(options.table);
    } else if (rc == MET_ENORUN) {
        code = tool_usage_error("export", "no run %llu in '%s'", options.run_id, options.path);
    } else if (rc != 0) {
        fprintf(stderr, "infersim export: %s: %s\n", met_strerror(rc), met_db_errmsg(db));
        code = TOOL_EXIT_INTERNAL;
    }
    met_db_close(db);
    return code;
}

static const char merge_usage[] =
    "usage: infersim merge OUT.db IN.db...\n"
    "\n"
    "Copies every run of each IN database (with all its rows, under new run\n"
    "ids, and its sweeps) into OUT (created if needed), skipping runs OUT\n"
    "already holds: same scenario_sha256, seed and grid point, and completed\n"
    "in OUT or with the same status. Each IN is merged in one transaction.\n"
    "A run still 'running' in an IN (its job died, or runs on another host)\n"
    "is copied as 'failed'; once it has ended there, merging that IN again\n"
    "replaces the failed copy (same writer and start) with the ended run.\n";

int tool_merge_main(int argc, char **argv)
{
    char why[512];
    met_db *db = NULL;
    static const tool_command command = {"merge", merge_usage, NULL, 0, NULL};
    int first = 0;
    int parsed = tool_options_parse(&command, argc, argv, NULL, &first);
    if (parsed != TOOL_EXIT_OK) {
        return parsed == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : parsed;
    }
    argv += first - 1;      /* the operands at argv[1..] */
    argc -= first - 1;
    if (argc < 3) {
        return tool_usage_error("merge", "needs OUT.db and at least one IN.db");
    }
    for (int i = 2; i < argc; i++) {
        if (access(argv[i], R_OK) != 0 || strcmp(argv[i], argv[1]) == 0) {
            return tool_usage_error("merge", "'%s' is not a readable input database other"
                                    " than OUT", argv[i]);
        }
    }
    if (met_db_open(argv[1], &db, why, sizeof(why)) != 0) {
        fprintf(stderr, "infersim merge: %s\n", why);
        return TOOL_EXIT_USAGE;
    }
    int code = TOOL_EXIT_OK;
    for (int i = 2; i < argc && code == TOOL_EXIT_OK; i++) {
        met_merge_stats stats;
        int rc = met_merge(db, argv[i], NULL, &stats);
        if (rc != 0) {
            fprintf(stderr, "infersim merge: %s: %s\n", argv[i], met_db_errmsg(db));
            code = rc == MET_ESQL ? TOOL_EXIT_INTERNAL : TOOL_EXIT_USAGE;
        } else {
            printf("%s: %llu run%s copied, %llu already in %s, %llu incomplete (copied as"
                   " failed)",
                   argv[i], (unsigned long long)stats.copied, stats.copied == 1 ? "" : "s",
                   (unsigned long long)stats.skipped, argv[1],
                   (unsigned long long)stats.incomplete);
            if (stats.replaced > 0) {
                printf(", %llu replaced (ended since an earlier merge copied them as failed)",
                       (unsigned long long)stats.replaced);
            }
            if (stats.running > 0) {
                printf(", %llu still running (not copied: merge again once they end)",
                       (unsigned long long)stats.running);
            }
            printf("\n");
        }
    }
    met_db_close(db);
    return code;
}
