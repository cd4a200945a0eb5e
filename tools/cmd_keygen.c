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

static int keygen_parse(int argc, char **argv, unsigned long long *nodes, const char **out)
{
    *nodes = 0;
    *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--nodes") == 0 && value != NULL) {
            if (!tool_parse_u64(value, nodes) || *nodes < 1 || *nodes > (1u << 20)) {
                return tool_usage_error("keygen", "--nodes wants an integer in 1..1048576");
            }
            i++;
        } else if (strcmp(argv[i], "--out") == 0 && value != NULL) {
            *out = value;
            i++;
        } else {
            return tool_usage_error("keygen", "unknown option or missing value: %s", argv[i]);
        }
    }
    if (*nodes == 0 || *out == NULL) {
        return tool_usage_error("keygen", "--nodes and --out are required");
    }
    return TOOL_EXIT_OK;
}

int tool_keygen_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (tool_is_help(argv[i])) {
            fputs(keygen_usage, stdout);
            return TOOL_EXIT_OK;
        }
    }
    unsigned long long nodes = 0;
    const char *out = NULL;
    int code = keygen_parse(argc, argv, &nodes, &out);
    if (code != TOOL_EXIT_OK) {
        return code;
    }
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
