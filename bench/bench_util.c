/* bench_util.c -- see bench_util.h. */
#include "bench/bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_util_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Each block carries its size in a header of two words (keeping 16-byte
 * alignment). */
void *bench_util_counting_alloc(void *context, void *ptr, size_t size)
{
    bench_util_memory *memory = context;
    size_t *header = ptr != NULL ? (size_t *)ptr - 2 : NULL;
    if (header != NULL) {
        memory->live -= header[0];
    }
    if (size == 0) {
        free(header);
        return NULL;
    }
    size_t *grown = realloc(header, size + 2 * sizeof(size_t));
    if (grown == NULL) {
        memory->live += header != NULL ? header[0] : 0;
        return NULL;
    }
    grown[0] = size;
    memory->live += size;
    memory->peak = memory->live > memory->peak ? memory->live : memory->peak;
    return grown + 2;
}

int bench_util_load(const char *path, const char *const *overrides, size_t count,
                    scn_scenario **out)
{
    scn_error error;
    memset(&error, 0, sizeof(error));
    int rc = scn_load_file(path, overrides, count, out, &error);
    if (rc != 0) {
        fprintf(stderr, "bench: %s:%u:%u: %s\n", error.file, error.line, error.column,
                error.message);
    }
    return rc;
}
