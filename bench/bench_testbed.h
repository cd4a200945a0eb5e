/* bench_testbed.h -- the testbed benchmark of `make bench`: latency of the
 * scenario's workload on loopback beside the simulator's prediction, and
 * the testbed's requests per second under client load. Runs the real
 * binary; prints plain lines. */
#ifndef BENCH_BENCH_TESTBED_H
#define BENCH_BENCH_TESTBED_H

/* Runs the benchmark (about ten seconds); prints to stdout. A failure is
 * printed, not fatal. */
void bench_testbed_run(void);

#endif
