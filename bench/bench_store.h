/* bench_store.h -- the results database's write benchmark of `make bench`:
 * a large run's decisions rows through the metrics module, against a bare
 * table's insert of the same values measured in the same run. */
#ifndef BENCH_BENCH_STORE_H
#define BENCH_BENCH_STORE_H

/* Writes the rows twice into temporary files (a few seconds) and prints
 * one line to stdout. Returns 0, or 1 when a write failed. */
int bench_store_run(void);

#endif
