/* bench_util.c -- see bench_util.h. */
#include "bench/bench_util.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"

double bench_util_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The default allocator itself, so that a measured run keeps the layout
 * of a real one (large blocks on huge-page boundaries, util/alloc.c): a
 * header before each block would move them off. A block counts what the C
 * library holds for it (malloc_usable_size): a few bytes over a small
 * request, less than a page over one the library maps on its own. */
void *bench_util_counting_alloc(void *context, void *ptr, size_t size)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    bench_util_memory *memory = context;
    size_t before = ptr != NULL ? malloc_usable_size(ptr) : 0;
    void *block = util_alloc_default(NULL, ptr, size);
    if (block == NULL && size != 0) {
        return NULL; /* 'ptr' is still held */
    }
    size_t after = block != NULL ? malloc_usable_size(block) : 0;
    pthread_mutex_lock(&lock); /* worker threads allocate too */
    memory->live = memory->live - before + after;
    memory->peak = memory->live > memory->peak ? memory->live : memory->peak;
    pthread_mutex_unlock(&lock);
    return block;
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
