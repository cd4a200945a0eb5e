/* bench_infer.h -- the inference-kernel benchmark of `make bench`: machine
 * ceilings (multiply-add throughput, triad bandwidth) and the decode and
 * prefill speed of every kernel variant on two model shapes, printed as
 * plain lines with their ratios to the ceilings. */
#ifndef BENCH_BENCH_INFER_H
#define BENCH_BENCH_INFER_H

/* Runs the whole benchmark (a few seconds) and prints to stdout. Exits the
 * process on out-of-memory. */
void bench_infer_run(void);

#endif
