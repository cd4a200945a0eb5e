/* tb_keys.c -- the testbed's node keys and their files. Every node has an
 * ed25519 key pair (signatures on votes) and an X25519 key pair (the MAC
 * keys of its links), drawn from the operating system's CSPRNG, never
 * derived from the scenario's seed: holding the scenario is not enough to
 * speak for a node. A key directory holds
 *
 *   roster       "infersim-roster 1 N", then one line per node:
 *                "I SIGN_PUBLIC_HEX KX_PUBLIC_HEX" (mode 0644)
 *   node-I.key   "infersim-node-key 1 I", then "SIGN_SECRET_HEX KX_SECRET_HEX"
 *                (mode 0600, created exclusively)
 *
 * A process reads the roster and the key files of the nodes it hosts only.
 * Files are untrusted input: every line is checked, nothing asserts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testbed/tb.h"
#include "util/alloc.h"
#include "util/assert.h"

#define KEYS_LINE_MAX 512

static int keys_alloc(tb_keys *keys, uint32_t node_count, uint32_t held_count, bool signing)
{
    memset(keys, 0, sizeof(*keys));
    keys->node_count = node_count;
    keys->signing = signing;
    keys->held_count = held_count;
    keys->sign_public = util_calloc(node_count, sizeof(*keys->sign_public));
    keys->kx_public = util_calloc(node_count, sizeof(*keys->kx_public));
    keys->slot_of = util_calloc(node_count, sizeof(*keys->slot_of));
    size_t held = held_count > 0 ? held_count : 1;
    keys->sign_secret = util_calloc(held, sizeof(*keys->sign_secret));
    keys->kx_secret = util_calloc(held, sizeof(*keys->kx_secret));
    keys->links = util_calloc(held * node_count, sizeof(*keys->links));
    if (keys->sign_public == NULL || keys->kx_public == NULL || keys->slot_of == NULL ||
        keys->sign_secret == NULL || keys->kx_secret == NULL || keys->links == NULL) {
        tb_keys_deinit(keys);
        return TB_ENOMEM;
    }
    for (uint32_t i = 0; i < node_count; i++) {
        keys->slot_of[i] = UINT32_MAX;
    }
    tb_keys_start(keys, 1, 0);
    return 0;
}

int tb_keys_generate(tb_keys *keys, uint32_t node_count, bool signing)
{
    int rc = keys_alloc(keys, node_count, node_count, signing);
    if (rc != 0) {
        return rc;
    }
    for (uint32_t i = 0; i < node_count; i++) {
        keys->slot_of[i] = i;
        util_sign_keypair_random(keys->sign_public[i], keys->sign_secret[i]);
        util_kx_keypair_random(keys->kx_public[i], keys->kx_secret[i]);
    }
    return 0;
}

void tb_keys_start(tb_keys *keys, uint64_t now_ns, uint64_t fresh_after_ns)
{
    ASSERT(now_ns > 0);
    keys->session = now_ns;
    keys->started_ns = fresh_after_ns;
}

void tb_keys_deinit(tb_keys *keys)
{
    if (keys->sign_secret != NULL) {
        util_memzero(keys->sign_secret, (keys->held_count > 0 ? keys->held_count : 1) *
                                            sizeof(*keys->sign_secret));
    }
    if (keys->kx_secret != NULL) {
        util_memzero(keys->kx_secret,
                     (keys->held_count > 0 ? keys->held_count : 1) * sizeof(*keys->kx_secret));
    }
    if (keys->links != NULL) {
        util_memzero(keys->links, (keys->held_count > 0 ? keys->held_count : 1) *
                                      keys->node_count * sizeof(*keys->links));
    }
    util_free(keys->sign_public);
    util_free(keys->kx_public);
    util_free(keys->slot_of);
    util_free(keys->sign_secret);
    util_free(keys->kx_secret);
    util_free(keys->links);
    memset(keys, 0, sizeof(*keys));
}

/* ---- hex ---- */

static void hex_put(FILE *file, const uint8_t *bytes, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        fprintf(file, "%02x", bytes[i]);
    }
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Reads exactly 2*size hex digits at *at; advances past them. */
static bool hex_get(const char **at, uint8_t *out, size_t size)
{
    const char *p = *at;
    for (size_t i = 0; i < size; i++) {
        int high = hex_digit(p[0]);
        int low = high >= 0 ? hex_digit(p[1]) : -1;
        if (low < 0) {
            return false;
        }
        out[i] = (uint8_t)(high << 4 | low);
        p += 2;
    }
    *at = p;
    return true;
}

static bool skip_space(const char **at)
{
    if (**at != ' ') {
        return false;
    }
    while (**at == ' ') {
        (*at)++;
    }
    return true;
}

static bool at_line_end(const char *at)
{
    return *at == '\n' || *at == '\0';
}

/* ---- writing ---- */

static int file_close_checked(FILE *file)
{
    bool failed = ferror(file) != 0;
    return fclose(file) != 0 || failed ? TB_ESYS : 0;
}

static int write_roster_to(const tb_keys *keys, const char *path)
{
    FILE *file = fopen(path, "w");
    if (file == NULL) {
        return TB_ESYS;
    }
    fprintf(file, "infersim-roster 1 %u\n", keys->node_count);
    for (uint32_t i = 0; i < keys->node_count; i++) {
        fprintf(file, "%u ", i);
        hex_put(file, keys->sign_public[i], UTIL_SIGN_PUBLIC_KEY_BYTES);
        fputc(' ', file);
        hex_put(file, keys->kx_public[i], UTIL_KX_PUBLIC_KEY_BYTES);
        fputc('\n', file);
    }
    return file_close_checked(file);
}

static int write_roster(const tb_keys *keys, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/roster", dir);
    return write_roster_to(keys, path);
}

int tb_keys_roster_put(const tb_keys *keys, const char *dir, const char *name)
{
    char path[4096], temporary[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(temporary, sizeof(temporary), "%s.tmp.%ld", path, (long)getpid());
    int rc = write_roster_to(keys, temporary);
    if (rc == 0 && rename(temporary, path) != 0) {
        rc = TB_ESYS;
    }
    if (rc != 0) {
        unlink(temporary);
    }
    return rc;
}

static int write_secret(const tb_keys *keys, const char *dir, uint32_t node_id)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/node-%u.key", dir, node_id);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return TB_ESYS;
    }
    FILE *file = fdopen(fd, "w");
    if (file == NULL) {
        close(fd);
        return TB_ESYS;
    }
    uint32_t slot = keys->slot_of[node_id];
    ASSERT(slot < keys->held_count);
    char buffer[KEYS_LINE_MAX];
    setvbuf(file, buffer, _IOFBF, sizeof(buffer)); /* Ours, so it can be wiped. */
    fprintf(file, "infersim-node-key 1 %u\n", node_id);
    hex_put(file, keys->sign_secret[slot], UTIL_SIGN_SECRET_KEY_BYTES);
    fputc(' ', file);
    hex_put(file, keys->kx_secret[slot], UTIL_KX_SECRET_KEY_BYTES);
    fputc('\n', file);
    int rc = file_close_checked(file);
    util_memzero(buffer, sizeof(buffer));
    return rc;
}

int tb_keys_write(const tb_keys *keys, const char *dir)
{
    int rc = write_roster(keys, dir);
    for (uint32_t i = 0; rc == 0 && i < keys->node_count; i++) {
        if (keys->slot_of[i] != UINT32_MAX) {
            rc = write_secret(keys, dir, i);
        }
    }
    return rc;
}

void tb_keys_remove(const char *dir, uint32_t node_count)
{
    char path[4096];
    for (uint32_t i = 0; i < node_count; i++) {
        snprintf(path, sizeof(path), "%s/node-%u.key", dir, i);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/roster", dir);
    unlink(path);
}

/* ---- reading ---- */

static int keys_fail(char *why, size_t why_size, const char *path, const char *message)
{
    snprintf(why, why_size, "%s: %s", path, message);
    return TB_EKEYS;
}

/* Reads the roster at 'path' into the public keys of the nodes 'take'
 * selects (NULL: all). */
static int read_roster_from(tb_keys *keys, const char *path, bool (*take)(void *, uint32_t),
                            void *context, char *why, size_t why_size)
{
    char line[KEYS_LINE_MAX];
    uint8_t sign_public[UTIL_SIGN_PUBLIC_KEY_BYTES], kx_public[UTIL_KX_PUBLIC_KEY_BYTES];
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return keys_fail(why, why_size, path, strerror(errno));
    }
    unsigned count = 0;
    int rc = 0;
    if (fgets(line, sizeof(line), file) == NULL ||
        sscanf(line, "infersim-roster 1 %u", &count) != 1 || count != keys->node_count) {
        rc = keys_fail(why, why_size, path, "not a roster of this scenario's node count");
    }
    for (uint32_t i = 0; rc == 0 && i < keys->node_count; i++) {
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "%u", i);
        const char *at = line;
        if (fgets(line, sizeof(line), file) == NULL ||
            strncmp(line, prefix, strlen(prefix)) != 0) {
            rc = keys_fail(why, why_size, path, "a node's line is missing or out of order");
            break;
        }
        at += strlen(prefix);
        if (!skip_space(&at) || !hex_get(&at, sign_public, UTIL_SIGN_PUBLIC_KEY_BYTES) ||
            !skip_space(&at) || !hex_get(&at, kx_public, UTIL_KX_PUBLIC_KEY_BYTES) ||
            !at_line_end(at)) {
            rc = keys_fail(why, why_size, path, "a node's line is malformed");
        } else if (take == NULL || take(context, i)) {
            memcpy(keys->sign_public[i], sign_public, sizeof(sign_public));
            memcpy(keys->kx_public[i], kx_public, sizeof(kx_public));
        }
    }
    fclose(file);
    return rc;
}

static int read_roster(tb_keys *keys, const char *dir, char *why, size_t why_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/roster", dir);
    return read_roster_from(keys, path, NULL, NULL, why, why_size);
}

int tb_keys_roster_take(tb_keys *keys, const char *dir, const char *name,
                        bool (*take)(void *context, uint32_t node_id), void *context, char *why,
                        size_t why_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return read_roster_from(keys, path, take, context, why, why_size);
}

static int read_secret(tb_keys *keys, const char *dir, uint32_t node_id, char *why,
                       size_t why_size)
{
    char path[4096], line[KEYS_LINE_MAX];
    snprintf(path, sizeof(path), "%s/node-%u.key", dir, node_id);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return keys_fail(why, why_size, path, strerror(errno));
    }
    setvbuf(file, NULL, _IONBF, 0); /* No stdio copy of the secret to wipe. */
    unsigned id = 0;
    uint32_t slot = keys->slot_of[node_id];
    const char *at = line;
    int rc = 0;
    if (fgets(line, sizeof(line), file) == NULL ||
        sscanf(line, "infersim-node-key 1 %u", &id) != 1 || id != node_id) {
        rc = keys_fail(why, why_size, path, "not this node's key file");
    } else if (fgets(line, sizeof(line), file) == NULL ||
               !hex_get(&at, keys->sign_secret[slot], UTIL_SIGN_SECRET_KEY_BYTES) ||
               !skip_space(&at) ||
               !hex_get(&at, keys->kx_secret[slot], UTIL_KX_SECRET_KEY_BYTES) ||
               !at_line_end(at)) {
        rc = keys_fail(why, why_size, path, "malformed secret keys");
    } else if (memcmp(keys->sign_secret[slot] + 32, keys->sign_public[node_id], 32) != 0) {
        /* An ed25519 secret key ends with its public key. */
        rc = keys_fail(why, why_size, path, "the secret key does not match the roster");
    }
    util_memzero(line, sizeof(line));
    fclose(file);
    return rc;
}

int tb_keys_load(tb_keys *keys, const char *dir, uint32_t node_count, bool signing,
                 bool (*hosts)(void *context, uint32_t node_id), void *context, char *why,
                 size_t why_size)
{
    uint32_t held = 0;
    for (uint32_t i = 0; i < node_count; i++) {
        held += hosts(context, i);
    }
    int rc = keys_alloc(keys, node_count, held, signing);
    if (rc != 0) {
        return rc;
    }
    rc = read_roster(keys, dir, why, why_size);
    uint32_t slot = 0;
    for (uint32_t i = 0; rc == 0 && i < node_count; i++) {
        if (hosts(context, i)) {
            keys->slot_of[i] = slot++;
            rc = read_secret(keys, dir, i, why, why_size);
        }
    }
    if (rc != 0) {
        tb_keys_deinit(keys);
    }
    return rc;
}

void tb_token_generate(char token_out[TB_TOKEN_CHARS + 1])
{
    uint8_t bytes[TB_TOKEN_CHARS / 2];
    util_random_bytes(bytes, sizeof(bytes));
    for (size_t i = 0; i < sizeof(bytes); i++) {
        snprintf(token_out + 2 * i, 3, "%02x", bytes[i]);
    }
    util_memzero(bytes, sizeof(bytes));
}
