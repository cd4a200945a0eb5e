/* bench_scale.h -- the scale rows of `make bench`: committee draw time per
 * draw at 1e4, 1e5 and 1e6 candidates (against one libsodium hash ticket
 * per candidate, the draw as it was, measured in the same run), and gossip
 * events per second at 1e3 and 1e6 nodes against the engine queue's hold
 * rate measured in the same run. */
#ifndef BENCH_BENCH_SCALE_H
#define BENCH_BENCH_SCALE_H

/* Committee draws: about two seconds; prints one line per size and the
 * growth between sizes. Cannot fail. */
void bench_scale_draws(void);

/* Gossip at 'nodes' nodes (scenarios/gossip.yaml; above 1e3 nodes
 * bench/gossip_1m.yaml: its network, one rumor, one second, no faults);
 * prints events/s counted from the first progress report (the world is
 * built by then) and the ratios to 'hold_rate' (the engine queue's hold
 * rate with 1 us exponential delays at 'hold_size' pending events) and to
 * 'gossip_hold_rate', when not 0 (the same queue and size with the gossip links'
 * delays: the bare queue of this run), then the memory per copy in
 * flight (its record, and what the engine held at the end over the peak
 * count, the event queue's bucket capacity included) and per payload.
 * Returns 0, or 1 if the scenario cannot be loaded or run. */
int bench_scale_gossip(uint32_t nodes, double hold_rate, double gossip_hold_rate,
                       const char *hold_size);

#endif
