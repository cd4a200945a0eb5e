/* bench_util.h -- what the benchmarks share: a monotonic clock, an
 * allocation hook (util_alloc_set_hook) that counts live and peak bytes,
 * and loading a scenario with its error printed. */
#ifndef BENCH_BENCH_UTIL_H
#define BENCH_BENCH_UTIL_H

#include <stddef.h>

#include "scenarios/scn.h"

/* Seconds on the monotonic clock. */
double bench_util_now_s(void);

typedef struct bench_util_memory {
    size_t live;
    size_t peak;
} bench_util_memory;

/* The hook: 'context' is a bench_util_memory. */
void *bench_util_counting_alloc(void *context, void *ptr, size_t size);

/* scn_load_file of 'path' with 'count' overrides; on failure prints
 * "bench: file:line:col: message" to stderr. Returns scn_load_file's code. */
int bench_util_load(const char *path, const char *const *overrides, size_t count,
                    scn_scenario **out);
#endif
