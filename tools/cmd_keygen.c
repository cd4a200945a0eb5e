/* cmd_keygen.c -- `infersim keygen`: fresh random node keys for a testbed
 * run (`infersim testbed FILE --keys DIR`). Writes DIR/roster (every
 * node's public keys) and DIR/node-I.key (that node's secret keys, mode
 * 0600), creating DIR with mode 0700 when it does not exist. Existing key
 * files are never overwritten. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "testbed/tb.h"
#include "tools/tool.h"

static const char keygen_usage[] =
    "usage: infersim keygen --nodes N --out DIR\n"
    "\n"
    "Draws fresh random keys (libsodium) for the nodes of a testbed run: an\n"
    "ed25519 key pair (signatures on votes) and an X25519 key pair (per-link MAC\n"
    "keys) per node. Writes DIR/roster, the public keys every process reads, and\n"
    "DIR/node-I.key, node I's secret keys (mode 0600), read only by the process\n"
    "that hosts node I. DIR is created (mode 0700) if needed; existing key files\n"
    "are not overwritten. Use them with `infersim testbed FILE --keys DIR`.\n"
    "\n"
    "options:\n"
    "  --nodes N    how many nodes, 1..1048576 (the scenario's nodes.count)\n"
    "  --out DIR    where to write the files\n";

typedef struct keygen_options {
    unsigned long long nodes;
    const char *out;
} keygen_options;

static int keygen_option(void *context, const char *name, const char *value)
{
    keygen_options *o = context;
    if (strcmp(name, "--out") == 0) {
        o->out = value;
        return TOOL_EXIT_OK;
    }
    return tool_parse_range("keygen", name, value, 1, 1u << 20, &o->nodes);
}

int tool_keygen_main(int argc, char **argv)
{
    static const tool_option table[] = {{"--nodes", 0, true}, {"--out", 0, true}};
    static const tool_command command = {"keygen", keygen_usage, table, 2, keygen_option};
    keygen_options o = {0, NULL};
    int first = 0;
    int code = tool_options_parse(&command, argc, argv, &o, &first);
    if (code == TOOL_EXIT_OK && first < argc) {
        code = tool_usage_error("keygen", "unexpected argument '%s'", argv[first]);
    }
    if (code == TOOL_EXIT_OK && (o.nodes == 0 || o.out == NULL)) {
        code = tool_usage_error("keygen", "--nodes and --out are required");
    }
    if (code != TOOL_EXIT_OK) {
        return code == TOOL_OPTIONS_HELP ? TOOL_EXIT_OK : code;
    }
    unsigned long long nodes = o.nodes;
    const char *out = o.out;
    if (mkdir(out, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "infersim keygen: cannot create %s: %s\n", out, strerror(errno));
        return TOOL_EXIT_USAGE;
    }
    tb_keys keys;
    if (tb_keys_generate(&keys, (uint32_t)nodes, true) != 0) {
        fprintf(stderr, "infersim keygen: out of memory\n");
        return TOOL_EXIT_INTERNAL;
    }
    int rc = tb_keys_write(&keys, out);
    tb_keys_deinit(&keys);
    if (rc != 0) {
        fprintf(stderr, "infersim keygen: cannot write the key files in %s: %s\n", out,
                strerror(errno));
        return TOOL_EXIT_USAGE;
    }
    printf("keygen: %llu nodes, %s/roster and %s/node-0.key .. node-%llu.key\n", nodes, out, out,
           nodes - 1);
    return TOOL_EXIT_OK;
}
