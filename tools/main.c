/* main.c -- the infersim command: dispatches to a subcommand. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/tool.h"
#include "util/hash.h"
#include "world/world.h"

static const char usage_text[] =
    "usage: infersim COMMAND [ARGS]\n"
    "\n"
    "A deterministic simulator of decentralized AI inference networks.\n"
    "\n"
    "commands:\n"
    "  run FILE       run a scenario and store the results in SQLite\n"
    "  validate FILE  check a scenario without running it\n"
    "  runs           list the runs in a results database\n"
    "  export         write a results table as CSV, JSON or JSON lines\n"
    "  compare        print the verification protocols of a database side by side\n"
    "  sweep FILE     run a grid of parameters x seeds, locally or as cluster jobs\n"
    "  swarm FILE     run the scenario many times under randomly drawn faults\n"
    "  shrink FILE    reduce a failing run to a smaller scenario that still fails\n"
    "  merge OUT IN.. merge results databases without duplicating runs\n"
    "  plot           draw a standard figure (SVG or PNG, with gnuplot)\n"
    "  report         write a self-contained HTML report of a run or a sweep\n"
    "  testbed FILE   run a scenario's nodes as processes (TCP, HTTP), here or on hosts\n"
    "  calibrate FILE the simulator against the emulated testbed, side by side\n"
    "  client         drive load against a testbed's HTTP API (libcurl)\n"
    "  keygen         random node keys for a testbed run (roster and key files)\n"
    "  infer CKPT     generate from a llama2.c checkpoint, as llama2.c's run does\n"
    "  version        print the version and git revision\n"
    "\n"
    "Run 'infersim COMMAND --help' for a command's options.\n"
    "Exit codes: 0 success, 1 an expectation failed, 2 bad usage or input,\n"
    "3 internal error, 130/143 interrupted by SIGINT/SIGTERM.\n";

bool tool_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

char *tool_read_file(const char *path, size_t *size_out)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return NULL;
    }
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    char chunk[4096];
    size_t got;
    bool failed = out == NULL;
    while (!failed && (got = fread(chunk, 1, sizeof(chunk), file)) > 0) {
        failed = fwrite(chunk, 1, got, out) != got;
    }
    failed = ferror(file) != 0 || failed;
    fclose(file);
    failed = (out != NULL && fclose(out) != 0) || failed;
    if (failed) {
        free(text);
        return NULL;
    }
    *size_out = size;
    return text;
}

int tool_usage_error(const char *subcommand, const char *format, ...)
{
    va_list args;
    fprintf(stderr, "infersim %s: ", subcommand);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fprintf(stderr, "\n(try 'infersim %s --help')\n", subcommand);
    return TOOL_EXIT_USAGE;
}

int tool_scenario_load(const char *file, const char *const *overrides, size_t override_count,
                       scn_scenario **out)
{
    scn_error error;
    int rc = scn_load_file(file, overrides, override_count, out, &error);
    if (rc != 0) {
        char text[1024];
        scn_error_format(&error, text, sizeof(text));
        if (strncmp(error.file, "--set", 5) == 0) {
            /* An override has no file position: its own text locates it. */
            snprintf(text, sizeof(text), "%s: %s", error.file, error.message);
        }
        fprintf(stderr, "%s\n", text);
        return rc == SCN_ENOMEM ? TOOL_EXIT_INTERNAL : TOOL_EXIT_USAGE;
    }
    return TOOL_EXIT_OK;
}

int tool_scenario_fits(const char *subcommand, const char *file, const scn_scenario *scenario,
                       bool refuse)
{
    uint64_t need = world_seen_set_bytes(scenario);
    long pages = sysconf(_SC_PHYS_PAGES);
    long page_bytes = sysconf(_SC_PAGESIZE);
    if (need == 0 || pages <= 0 || page_bytes <= 0 ||
        need <= (uint64_t)pages * (uint64_t)page_bytes) {
        return TOOL_EXIT_OK;
    }
    const double gib = 1024.0 * 1024.0 * 1024.0;
    fprintf(stderr,
            "infersim %s: %s: %sthe nodes' seen-sets need %.1f GiB (%u nodes x %llu rumors, a "
            "bit each), more than this machine's %.1f GiB of memory; lower nodes.count or "
            "workload.messages\n",
            subcommand, file, refuse ? "" : "warning: ", (double)need / gib,
            scenario->nodes.count, (unsigned long long)scenario->workload.messages,
            (double)pages * (double)page_bytes / gib);
    return refuse ? TOOL_EXIT_USAGE : TOOL_EXIT_OK;
}

bool tool_parse_u64(const char *text, unsigned long long *value_out)
{
    char *end = NULL;
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return false;
    }
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') {
        return false;
    }
    *value_out = value;
    return true;
}

static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
} commands[] = {
    {"run", tool_run_main},
    {"validate", tool_validate_main},
    {"runs", tool_runs_main},
    {"export", tool_export_main},
    {"compare", tool_compare_main},
    {"sweep", tool_sweep_main},
    {"swarm", tool_swarm_main},
    {"shrink", tool_shrink_main},
    {"merge", tool_merge_main},
    {"plot", tool_plot_main},
    {"report", tool_report_main},
    {"testbed", tool_testbed_main},
    {"calibrate", tool_calibrate_main},
    {"client", tool_client_main},
    {"keygen", tool_keygen_main},
    {"infer", tool_infer_main},
    {"complete", tool_complete_main},
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

/* A scenario key as --set takes it: a list item's "[]" becomes ".0". */
static void complete_key_print(const char *path)
{
    if (strchr(path, '*') != NULL) {
        return;             /* a name the user picks: nothing to offer */
    }
    for (const char *c = path; *c != '\0'; c++) {
        if (c[0] == '[' && c[1] == ']') {
            fputs(".0", stdout);
            c++;
        } else {
            putchar(*c);
        }
    }
    putchar('\n');
}

/* `infersim complete WHAT`, for shell completion (completion/infersim.bash):
 * the words of one kind, one a line. Not in the usage: a helper of the
 * completion script, documented in the man page. */
int tool_complete_main(int argc, char **argv)
{
    const char *what = argc == 2 ? argv[1] : "";
    if (strcmp(what, "commands") == 0) {
        for (size_t i = 0; i < COMMAND_COUNT; i++) {
            if (commands[i].main != tool_complete_main) {
                puts(commands[i].name);
            }
        }
        puts("version");
        puts("help");
    } else if (strcmp(what, "tables") == 0) {
        for (size_t i = 0; met_export_table_name(i) != NULL; i++) {
            puts(met_export_table_name(i));
        }
    } else if (strcmp(what, "kinds") == 0) {
        for (size_t i = 0; tool_figure_kind_name(i) != NULL; i++) {
            puts(tool_figure_kind_name(i));
        }
    } else if (strcmp(what, "keys") == 0) {
        for (size_t i = 0; scn_key_path(i) != NULL; i++) {
            complete_key_print(scn_key_path(i));
        }
    } else {
        return tool_usage_error("complete", "wants one of commands, tables, kinds, keys");
    }
    return TOOL_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2 || tool_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? TOOL_EXIT_USAGE : TOOL_EXIT_OK;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("infersim %s (git %s)\n", INFERSIM_VERSION, INFERSIM_GIT_REV);
        return TOOL_EXIT_OK;
    }
    if (util_hash_init() != 0) {
        fprintf(stderr, "infersim: libsodium failed to initialise\n");
        return TOOL_EXIT_INTERNAL;
    }
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].main(argc - 1, argv + 1);
        }
    }
    const char *names[COMMAND_COUNT];
    size_t count = 0;
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        if (commands[i].main != tool_complete_main) {
            names[count++] = commands[i].name;     /* the hidden one is not offered */
        }
    }
    const char *guess = tool_suggest(argv[1], names, count);
    if (guess != NULL) {
        fprintf(stderr, "infersim: unknown command '%s'; did you mean '%s'?\n", argv[1], guess);
        return TOOL_EXIT_USAGE;
    }
    fprintf(stderr, "infersim: unknown command '%s'\n\n%s", argv[1], usage_text);
    return TOOL_EXIT_USAGE;
}
