/* bench_largest.h -- the largest verified-inference network the machine
 * runs with every node serving, within a wall-clock budget, and the
 * committee scenario's memory per node and per in-flight request at a
 * million nodes (bench_largest.c). Both print their rows. */
#ifndef BENCH_BENCH_LARGEST_H
#define BENCH_BENCH_LARGEST_H

/* draw: "race", "tree" or "vrf" (draw: tree under selection: vrf). */
void bench_largest_network(double budget_s, const char *draw);
void bench_largest_memory(void);

#endif
