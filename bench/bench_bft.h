/* bench_bft.h -- the BFT ledger's benchmark of `make bench`: honest
 * validators of consensus/cons_bft.c over a small seeded network inside the
 * benchmark (1 to 8 ms per message), at 4, 16 and 64 validators: blocks
 * committed per second of simulated time, events (messages and timers)
 * handled per second of wall time, and the replica's memory. Prints plain
 * lines. */
#ifndef BENCH_BENCH_BFT_H
#define BENCH_BENCH_BFT_H

/* Runs the benchmark (a few seconds); prints to stdout. Cannot fail. */
void bench_bft_run(void);

/* The ledger inside the simulator: scenarios/ledger_honest.yaml (MAC
 * authentication, 80 nodes, 10 s) with 4, 16 and 64 of the nodes as
 * validators, verdicts settled on the ledger: blocks committed per second
 * of simulated time, simulator events per second of wall time, BFT
 * messages per block. Prints plain lines; a run that fails prints so. */
void bench_bft_sim_run(void);

#endif
