/* tool.h -- the infersim command line: one binary, one function per
 * subcommand. Each returns the process exit code: TOOL_EXIT_OK (0),
 * TOOL_EXIT_CHECK (1) an expectation failed, TOOL_EXIT_USAGE (2) bad usage
 * or bad input, TOOL_EXIT_INTERNAL (3) an internal error; an interrupted run
 * exits 128 + the signal number, as shells expect. */
#ifndef TOOL_TOOL_H
#define TOOL_TOOL_H

#include <stdbool.h>
#include <stddef.h>

#define TOOL_EXIT_OK 0
#define TOOL_EXIT_CHECK 1
#define TOOL_EXIT_USAGE 2
#define TOOL_EXIT_INTERNAL 3

#ifndef INFERSIM_GIT_REV
#define INFERSIM_GIT_REV "unknown"
#endif
#define INFERSIM_VERSION "0.1.0"

int tool_run_main(int argc, char **argv);
int tool_validate_main(int argc, char **argv);
int tool_runs_main(int argc, char **argv);
int tool_export_main(int argc, char **argv);

/* Prints "infersim SUBCOMMAND: message" to stderr and returns
 * TOOL_EXIT_USAGE. */
int tool_usage_error(const char *subcommand, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* True when argv[i] is -h or --help. */
bool tool_is_help(const char *arg);

/* Parses a strictly positive 64-bit integer run id or seed; false on junk. */
bool tool_parse_u64(const char *text, unsigned long long *value_out);

#endif
