/* tb_hosts.c -- deployment over several hosts: the hosts file (which host
 * runs which processes, on which ports) and the deployment directory the
 * hosts meet in (roster parts, the run id, each host's counters). The
 * hosts file is untrusted input: every error names file:line:col and
 * nothing asserts on its bytes. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testbed/tb.h"
#include "util/alloc.h"
#include "util/assert.h"

#define HOSTS_FILE_MAX (1u << 20)

typedef struct hosts_cursor {
    const char *path;
    uint32_t line;
    char *why;
    size_t why_size;
} hosts_cursor;

static int hosts_fail(const hosts_cursor *cursor, size_t column, const char *message)
{
    snprintf(cursor->why, cursor->why_size, "%s:%u:%zu: %s", cursor->path, cursor->line,
             column, message);
    return TB_EINVAL;
}

/* A port at text[*at ..] (digits only, 1..65535); advances past it. */
static bool hosts_port(const char *text, size_t end, size_t *at, uint16_t *out)
{
    uint32_t value = 0;
    size_t start = *at;
    while (*at < end && text[*at] >= '0' && text[*at] <= '9' && *at - start < 6) {
        value = value * 10 + (uint32_t)(text[*at] - '0');
        (*at)++;
    }
    if (*at == start || value == 0 || value > 65535) {
        return false;
    }
    *out = (uint16_t)value;
    return true;
}

/* An IPv4 literal, or a name resolved to its first IPv4 address. */
static bool hosts_resolve(const char *name, uint32_t *address)
{
    struct in_addr literal;
    if (inet_pton(AF_INET, name, &literal) == 1) {
        *address = literal.s_addr;
        return true;
    }
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(name, NULL, &hints, &found) != 0 || found == NULL) {
        return false;
    }
    *address = ((const struct sockaddr_in *)(const void *)found->ai_addr)->sin_addr.s_addr;
    freeaddrinfo(found);
    return true;
}

/* Overlaps an earlier host: the same address and a shared port. */
static bool hosts_clash(const tb_hosts *hosts, const tb_host *host)
{
    for (uint32_t h = 0; h < hosts->count; h++) {
        const tb_host *other = &hosts->hosts[h];
        if (other->address == host->address && host->port_first <= other->port_last &&
            other->port_first <= host->port_last) {
            return true;
        }
    }
    return false;
}

/* The host name at text[begin .. colon) into host->name, resolved. */
static int hosts_name(hosts_cursor *cursor, const char *text, size_t begin, size_t colon,
                      size_t line_start, tb_host *host)
{
    size_t length = colon - begin;
    size_t column = begin - line_start + 1;
    if (length == 0) {
        return hosts_fail(cursor, column, "expected a host before ':' (host:first-last)");
    }
    if (length >= sizeof(host->name) || memchr(text + begin, ':', length) != NULL) {
        return hosts_fail(cursor, column, "not a host name or IPv4 address (IPv6 is not "
                                          "supported)");
    }
    memcpy(host->name, text + begin, length);
    host->name[length] = '\0';
    if (!hosts_resolve(host->name, &host->address)) {
        char message[256];
        snprintf(message, sizeof(message), "cannot resolve '%s' to an IPv4 address", host->name);
        return hosts_fail(cursor, column, message);
    }
    return 0;
}

/* The port range after the colon: first-last, an even count. */
static int hosts_range(hosts_cursor *cursor, const char *text, size_t at, size_t end,
                       size_t line_start, tb_host *host)
{
    size_t first_at = at;
    if (!hosts_port(text, end, &at, &host->port_first)) {
        return hosts_fail(cursor, first_at - line_start + 1, "expected a port 1..65535");
    }
    if (at >= end || text[at] != '-') {
        return hosts_fail(cursor, at - line_start + 1,
                          "expected '-' and the last port of the range (host:first-last)");
    }
    size_t last_at = ++at;
    if (!hosts_port(text, end, &at, &host->port_last)) {
        return hosts_fail(cursor, last_at - line_start + 1, "expected a port 1..65535");
    }
    if (at != end) {
        return hosts_fail(cursor, at - line_start + 1, "unexpected text after the port range");
    }
    if (host->port_last < host->port_first) {
        return hosts_fail(cursor, last_at - line_start + 1,
                          "the last port is below the first");
    }
    uint32_t ports = (uint32_t)host->port_last - host->port_first + 1;
    if (ports % 2 != 0) {
        return hosts_fail(cursor, first_at - line_start + 1,
                          "each process takes two ports (frames, HTTP): give a range of an "
                          "even count");
    }
    host->process_count = ports / 2;
    return 0;
}

/* One line text[begin .. end) without its comment and outer blanks. */
static int hosts_line(hosts_cursor *cursor, const char *text, size_t begin, size_t end,
                      size_t line_start, tb_hosts *out)
{
    if (out->count == TB_PROCESSES_MAX) {
        return hosts_fail(cursor, begin - line_start + 1, "too many hosts");
    }
    const char *colon = NULL;
    for (size_t i = begin; i < end; i++) {
        colon = text[i] == ':' ? text + i : colon; /* the last one */
        if (text[i] == ' ' || text[i] == '\t') {
            return hosts_fail(cursor, i - line_start + 1,
                              "unexpected blank inside host:first-last");
        }
    }
    if (colon == NULL) {
        return hosts_fail(cursor, end - line_start + 1, "expected ':' and a port range "
                                                        "(host:first-last)");
    }
    tb_host host;
    memset(&host, 0, sizeof(host));
    size_t colon_at = (size_t)(colon - text);
    int rc = hosts_name(cursor, text, begin, colon_at, line_start, &host);
    if (rc == 0) {
        rc = hosts_range(cursor, text, colon_at + 1, end, line_start, &host);
    }
    if (rc == 0 && out->process_count + host.process_count > TB_PROCESSES_MAX) {
        rc = hosts_fail(cursor, colon_at - line_start + 2, "more than 64 processes in all");
    }
    if (rc == 0 && hosts_clash(out, &host)) {
        rc = hosts_fail(cursor, begin - line_start + 1,
                        "this host's ports overlap an earlier line's");
    }
    if (rc == 0) {
        host.process_first = out->process_count;
        out->process_count += host.process_count;
        out->hosts[out->count++] = host;
    }
    return rc;
}

int tb_hosts_parse(const char *path, const char *text, size_t size, tb_hosts *out, char *why,
                   size_t why_size)
{
    memset(out, 0, sizeof(*out));
    hosts_cursor cursor = {path, 0, why, why_size};
    size_t at = 0;
    while (at < size) {
        cursor.line += 1;
        size_t line_start = at, end = at;
        while (end < size && text[end] != '\n') {
            end++;
        }
        size_t next = end < size ? end + 1 : end;
        for (size_t i = line_start; i < end; i++) {
            if (text[i] == '#') {
                end = i;
                break;
            }
            if (text[i] == '\0') {
                return hosts_fail(&cursor, i - line_start + 1, "a NUL byte");
            }
        }
        size_t begin = line_start;
        while (begin < end && (text[begin] == ' ' || text[begin] == '\t')) {
            begin++;
        }
        while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t' ||
                               text[end - 1] == '\r')) {
            end--;
        }
        if (end > begin) {
            int rc = hosts_line(&cursor, text, begin, end, line_start, out);
            if (rc != 0) {
                return rc;
            }
        }
        at = next;
    }
    if (out->count == 0) {
        snprintf(why, why_size, "%s:%u:1: no hosts (one host:first-last a line)", path,
                 cursor.line > 0 ? cursor.line : 1);
        return TB_EINVAL;
    }
    return 0;
}

int tb_hosts_load(const char *path, tb_hosts *out, char *why, size_t why_size)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        snprintf(why, why_size, "%s: %s", path, strerror(errno));
        return TB_EINVAL;
    }
    char *text = util_malloc(HOSTS_FILE_MAX);
    if (text == NULL) {
        fclose(file);
        return TB_ENOMEM;
    }
    size_t size = fread(text, 1, HOSTS_FILE_MAX, file);
    bool too_big = size == HOSTS_FILE_MAX;
    bool failed = ferror(file) != 0;
    fclose(file);
    int rc = TB_EINVAL;
    if (failed || too_big) {
        snprintf(why, why_size, "%s: %s", path, failed ? "cannot read it" : "over 1 MiB");
    } else {
        rc = tb_hosts_parse(path, text, size, out, why, why_size);
    }
    util_free(text);
    return rc;
}

uint32_t tb_hosts_host_of(const tb_hosts *hosts, uint32_t process)
{
    ASSERT(process < hosts->process_count);
    uint32_t h = 0;
    while (process >= hosts->hosts[h].process_first + hosts->hosts[h].process_count) {
        h++;
    }
    return h;
}

/* ---- the deployment directory ---- */

int tb_deploy_put(const char *dir, const char *name, const void *bytes, size_t size)
{
    char path[4096], temporary[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(temporary, sizeof(temporary), "%s.tmp.%ld", path, (long)getpid());
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return TB_ESYS;
    }
    bool ok = write(fd, bytes, size) == (ssize_t)size;
    ok = fsync(fd) == 0 && ok;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(temporary, path) != 0) {
        unlink(temporary);
        return TB_ESYS;
    }
    return 0;
}

bool tb_deploy_exists(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct stat info;
    return stat(path, &info) == 0;
}

long tb_deploy_get(const char *dir, const char *name, uint64_t wait_ns,
                   volatile sig_atomic_t *stop, void *bytes, size_t capacity)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    const uint64_t step_ns = 20000000u;
    for (uint64_t waited = 0;; waited += step_ns) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t got = read(fd, bytes, capacity);
            close(fd);
            return got >= 0 ? (long)got : -1;
        }
        if (errno != ENOENT || waited >= wait_ns || (stop != NULL && *stop)) {
            return -1;
        }
        struct timespec pause = {0, (long)step_ns};
        nanosleep(&pause, NULL);
    }
}
