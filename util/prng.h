/* prng.h -- deterministic pseudo-random streams. infersim never calls
 * rand(): every consumer owns a util_prng derived from (run seed, node id,
 * purpose), so adding a node or a fault never shifts another stream.
 * The generator is xoshiro256** seeded through splitmix64. */
#ifndef UTIL_PRNG_H
#define UTIL_PRNG_H

#include <stdint.h>

typedef struct util_prng {
    uint64_t state[4];
} util_prng;

/* Purposes: one stream per (seed, id, purpose). Append only: values are part
 * of the trace and of every stored result. */
enum {
    UTIL_PRNG_PURPOSE_NET = 1,       /* per-sender network sampling: jitter, loss */
    UTIL_PRNG_PURPOSE_LINK = 2,      /* per-link fixed latency sample */
    UTIL_PRNG_PURPOSE_NODE = 3,      /* the node's own protocol choices */
    UTIL_PRNG_PURPOSE_WORKLOAD = 4,  /* arrival process, origins */
    UTIL_PRNG_PURPOSE_PLACEMENT = 5, /* class and region assignment */
    UTIL_PRNG_PURPOSE_FAULT = 6,     /* fault selectors (id = fault index) */
    UTIL_PRNG_PURPOSE_KEYS = 7,      /* per-node authentication keys */
    UTIL_PRNG_PURPOSE_CARTEL = 8,    /* a colluding cartel's shared wrong output */
    UTIL_PRNG_PURPOSE_PRIVACY = 9,   /* a sender's activation noise (id = node) */
    UTIL_PRNG_PURPOSE_DIVERGENCE = 10, /* the oracle's divergence sample (id = request) */
    UTIL_PRNG_PURPOSE_CHURN = 11     /* churn: id 0 the joins, id 1 the leaves */
};

/* Seeds 'prng' from one 64-bit value. Cannot fail. */
void util_prng_init(util_prng *prng, uint64_t seed);

/* Seeds 'prng' as the stream (run_seed, id, purpose). Distinct triples give
 * statistically independent streams. Cannot fail. */
void util_prng_init_stream(util_prng *prng, uint64_t run_seed, uint64_t id, uint32_t purpose);

/* x rotated left by k (0 < k < 64): the generator's own step, below. */
static inline uint64_t util_prng__rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* The next 64 bits of the stream (xoshiro256**). Inline, like
 * util_prng_uniform and util_mix64: a network send takes eight uniform draws
 * and hashes its link, so a call each costs the event loop more than the
 * arithmetic does. */
static inline uint64_t util_prng_next(util_prng *prng)
{
    uint64_t *s = prng->state;
    uint64_t result = util_prng__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = util_prng__rotl(s[3], 45);
    return result;
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double util_prng_uniform(util_prng *prng)
{
    return (double)(util_prng_next(prng) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, bound), unbiased (Lemire). bound > 0. */
uint64_t util_prng_below(util_prng *prng, uint64_t bound);
/* Exponential with the given mean (> 0). */
double util_prng_exponential(util_prng *prng, double mean);
/* Standard normal N(0, 1) (Box-Muller, no cached spare: deterministic per call). */
double util_prng_normal(util_prng *prng);
/* True with probability p (p <= 0 never draws; p >= 1 never draws). */
int util_prng_chance(util_prng *prng, double p);

/* splitmix64 finaliser: a fast 64-bit mixer used for trace hashing. */
static inline uint64_t util_mix64(uint64_t value)
{
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
    return value ^ (value >> 31);
}

#endif
