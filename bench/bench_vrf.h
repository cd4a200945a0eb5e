/* bench_vrf.h -- the VRF benchmark of `make bench`: one RFC 9381 proof and
 * one verification (consensus/cons_vrf.c) per operation, against the
 * BLAKE2b-256 hash ticket of selection: hash measured in the same run, so
 * the ratios read the same on any machine. */
#ifndef BENCH_BENCH_VRF_H
#define BENCH_BENCH_VRF_H

/* Runs the benchmark (about a second) and prints three lines to stdout.
 * Cannot fail. */
void bench_vrf_run(void);

#endif
