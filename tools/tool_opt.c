/* tool_opt.c -- what every subcommand's argument parsing shares: the option
 * table run through getopt_long (--opt V, --opt=V, short options, '--'
 * ends the options), suggestions for misspelled words (edit distance), and
 * the range checks of numbers. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/tool.h"
#include "util/workers.h"

#define OPT_OPTIONS_MAX 48
#define OPT_VALUE_BASE 256      /* getopt_long's val for long option i */

/* Edit distance with adjacent transpositions (optimal string alignment),
 * capped: words longer than 63 bytes compare as far apart. */
static size_t opt_distance(const char *a, const char *b)
{
    size_t n = strlen(a);
    size_t m = strlen(b);
    if (n > 63 || m > 63) {
        return 64;
    }
    size_t d[64][64];
    for (size_t i = 0; i <= n; i++) {
        d[i][0] = i;
    }
    for (size_t j = 0; j <= m; j++) {
        d[0][j] = j;
    }
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = d[i - 1][j - 1] + cost;
            best = d[i - 1][j] + 1 < best ? d[i - 1][j] + 1 : best;
            best = d[i][j - 1] + 1 < best ? d[i][j - 1] + 1 : best;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best) {
                best = d[i - 2][j - 2] + 1;
            }
            d[i][j] = best;
        }
    }
    return d[n][m];
}

const char *tool_suggest(const char *word, const char *const *candidates, size_t count)
{
    const char *best = NULL;
    size_t best_distance = 0;
    size_t length = strlen(word);
    size_t limit = length < 4 ? 1 : length < 9 ? 2 : 3;
    for (size_t i = 0; i < count; i++) {
        size_t distance = opt_distance(word, candidates[i]);
        if (distance <= limit && (best == NULL || distance < best_distance)) {
            best = candidates[i];
            best_distance = distance;
        }
    }
    return best;
}

void tool_list_print(FILE *out, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        fprintf(out, "%s%s", i == 0 ? "" : " ", names[i]);
    }
}

/* "unknown option 'WORD'; did you mean '--x'?" for the long or short
 * option 'word' (an '=value' tail is not part of the name). */
static int opt_unknown(const char *subcommand, const tool_option *options, size_t count,
                       const char *word)
{
    char name[64];
    const char *names[OPT_OPTIONS_MAX];
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(word, "="), word);
    char matches[256] = "";
    size_t prefixed = 0;
    for (size_t i = 0; i < count; i++) {
        names[i] = options[i].name;
        if (name[1] == '-' && strncmp(options[i].name, name, strlen(name)) == 0) {
            size_t used = strlen(matches);
            snprintf(matches + used, sizeof(matches) - used, "%s%s", prefixed++ ? ", " : "",
                     options[i].name);
        }
    }
    if (prefixed > 1) {
        return tool_usage_error(subcommand, "ambiguous option '%s' (%s)", name, matches);
    }
    const char *guess = tool_suggest(name, names, count);
    if (guess != NULL) {
        return tool_usage_error(subcommand, "unknown option '%s'; did you mean '%s'?", name,
                                guess);
    }
    return tool_usage_error(subcommand, "unknown option '%s'", name);
}

/* Which table row getopt_long's answer 'c' stands for (count: none). */
static size_t opt_index(const tool_option *options, size_t count, int c)
{
    if (c >= OPT_VALUE_BASE && (size_t)(c - OPT_VALUE_BASE) < count) {
        return (size_t)(c - OPT_VALUE_BASE);
    }
    for (size_t i = 0; i < count; i++) {
        if (c > 0 && options[i].short_name == c) {
            return i;
        }
    }
    return count;
}

/* Fills the getopt_long tables from options[count]. */
static void opt_tables(const tool_option *options, size_t count, struct option *longs,
                       char *shorts)
{
    size_t l = 0;
    size_t s = 0;
    shorts[s++] = ':';          /* a missing value answers ':', not '?' */
    for (size_t i = 0; i < count; i++) {
        if (options[i].name[1] == '-') {
            longs[l++] = (struct option){options[i].name + 2,
                                         options[i].takes_value ? required_argument : no_argument,
                                         NULL, (int)(OPT_VALUE_BASE + i)};
        }
        if (options[i].short_name != 0) {
            shorts[s++] = options[i].short_name;
            if (options[i].takes_value) {
                shorts[s++] = ':';
            }
        }
    }
    longs[l] = (struct option){NULL, 0, NULL, 0};
    shorts[s] = '\0';
}

static bool opt_wants_help(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (tool_is_help(argv[i])) {
            fputs(usage, stdout);
            return true;
        }
    }
    return false;
}

/* The message for getopt_long's '?' or ':' answer on argv[optind - 1]. */
static int opt_error(const tool_command *command, int c, char **argv)
{
    const char *word = argv[optind - 1];
    size_t index = opt_index(command->options, command->option_count, optopt);
    if (c == ':') {
        return tool_usage_error(command->name, "option '%s' needs a value",
                                command->options[index < command->option_count ? index : 0]
                                    .name);
    }
    if (optopt != 0 && index < command->option_count && strncmp(word, "--", 2) == 0) {
        return tool_usage_error(command->name, "option '%s' takes no value",
                                command->options[index].name);
    }
    if (optopt != 0 && strncmp(word, "--", 2) != 0) {
        char name[3] = {'-', (char)optopt, '\0'};
        return opt_unknown(command->name, command->options, command->option_count, name);
    }
    return opt_unknown(command->name, command->options, command->option_count, word);
}

int tool_options_parse(const tool_command *command, int argc, char **argv, void *context,
                       int *first_positional)
{
    struct option longs[OPT_OPTIONS_MAX + 1];
    char shorts[2 * OPT_OPTIONS_MAX + 2];
    if (opt_wants_help(argc, argv, command->usage)) {
        return TOOL_OPTIONS_HELP;
    }
    if (command->option_count > OPT_OPTIONS_MAX) {
        return TOOL_EXIT_INTERNAL;
    }
    opt_tables(command->options, command->option_count, longs, shorts);
    opterr = 0;
    optind = 0;                 /* glibc: start afresh */
    for (;;) {
        int c = getopt_long(argc, argv, shorts, longs, NULL);
        if (c == -1) {
            break;
        }
        if (c == '?' || c == ':') {
            return opt_error(command, c, argv);
        }
        size_t index = opt_index(command->options, command->option_count, c);
        if (index == command->option_count) {
            return TOOL_EXIT_INTERNAL;
        }
        int code = command->on_option(context, command->options[index].name,
                                      command->options[index].takes_value ? optarg : NULL);
        if (code != TOOL_EXIT_OK) {
            return code;
        }
    }
    *first_positional = optind;
    return TOOL_EXIT_OK;
}

int tool_positional_one(const char *subcommand, int argc, char **argv, int first,
                        const char *what, const char **out)
{
    if (first >= argc) {
        return tool_usage_error(subcommand, "missing %s", what);
    }
    if (first + 1 < argc) {
        return tool_usage_error(subcommand, "unexpected argument '%s'", argv[first + 1]);
    }
    *out = argv[first];
    return TOOL_EXIT_OK;
}

int tool_parse_range(const char *subcommand, const char *name, const char *text,
                     unsigned long long low, unsigned long long high,
                     unsigned long long *out)
{
    unsigned long long value = 0;
    if (!tool_parse_u64(text, &value) || value < low || value > high) {
        return tool_usage_error(subcommand, "%s wants an integer in %llu..%llu, not '%s'", name,
                                low, high, text);
    }
    *out = value;
    return TOOL_EXIT_OK;
}

int tool_parse_positive(const char *subcommand, const char *name, const char *text,
                        double high, double *out)
{
    char *end = NULL;
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || !(value > 0) || value > high) {
        return tool_usage_error(subcommand, "%s wants a number in (0, %g], not '%s'", name, high,
                                text);
    }
    *out = value;
    return TOOL_EXIT_OK;
}

uint32_t tool_threads_default(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) {
        return 1;
    }
    return cores > (long)UTIL_WORKERS_MAX ? UTIL_WORKERS_MAX : (uint32_t)cores;
}
