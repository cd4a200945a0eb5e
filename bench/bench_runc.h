/* bench_runc.h -- `infersim infer` beside llama2.c's run.c compiled on the
 * same machine (or, without run.c, beside the executor's figure from the
 * previous run): tokens per second of each on the same checkpoint and
 * prompt, their ratio, and whether the greedy texts agree. */
#ifndef BENCH_BENCH_RUNC_H
#define BENCH_BENCH_RUNC_H

/* Runs the comparison (about ten seconds; INFERSIM_RUNC names run.c,
 * default ../llama2.c/run.c) and prints to stdout. A failure is printed,
 * not fatal. */
void bench_runc_run(void);

#endif
