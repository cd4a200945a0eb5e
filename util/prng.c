/* prng.c -- xoshiro256** (Blackman and Vigna) seeded through splitmix64,
 * plus the derived distributions every module uses; the generator's step,
 * its uniform draw and the mixer are inline in prng.h. Streams are keyed by
 * (run seed, id, purpose): each part goes through splitmix64 in turn so
 * that nearby triples give unrelated states. Everything here is a pure
 * function of the state: no clock, no global, no cached spare. */
#include "util/prng.h"

#include <math.h>

#include "util/assert.h"

/* One splitmix64 step: advances *state and returns the mixed output. */
static uint64_t prng_splitmix_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ULL;
    return util_mix64(*state);
}

/* Fills the four state words from a splitmix64 sequence started at 'seed'.
 * splitmix64 never yields four zero words in a row, so the state is valid. */
static void prng_fill(util_prng *prng, uint64_t seed)
{
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) {
        prng->state[i] = prng_splitmix_next(&sm);
    }
    ASSERT((prng->state[0] | prng->state[1] | prng->state[2] | prng->state[3]) != 0);
}

void util_prng_init(util_prng *prng, uint64_t seed)
{
    ASSERT(prng != NULL);
    prng_fill(prng, seed);
}

void util_prng_init_stream(util_prng *prng, uint64_t run_seed, uint64_t id, uint32_t purpose)
{
    ASSERT(prng != NULL);
    /* Chain the parts through splitmix: each is mixed with everything before
     * it, so (s, a, b) and (s, b, a) or (s+1, a, b) lead to unrelated keys. */
    uint64_t sm = run_seed;
    uint64_t key = prng_splitmix_next(&sm);
    sm = key ^ util_mix64(id + 0x632be59bd9b4e019ULL);
    key = prng_splitmix_next(&sm);
    sm = key ^ util_mix64((uint64_t)purpose + 0x8cb92ba72f3d8dd7ULL);
    key = prng_splitmix_next(&sm);
    prng_fill(prng, key);
}

/* Lemire's nearly divisionless method: multiply, reject the biased low
 * fringe. 'unsigned __int128' is a GCC/Clang extension; __extension__ keeps
 * -Wpedantic quiet. */
uint64_t util_prng_below(util_prng *prng, uint64_t bound)
{
    ASSERT(bound > 0);
    __extension__ typedef unsigned __int128 prng_u128;
    prng_u128 product = (prng_u128)util_prng_next(prng) * bound;
    uint64_t low = (uint64_t)product;
    if (low < bound) {
        uint64_t threshold = (0 - bound) % bound;
        while (low < threshold) {
            product = (prng_u128)util_prng_next(prng) * bound;
            low = (uint64_t)product;
        }
    }
    return (uint64_t)(product >> 64);
}

double util_prng_exponential(util_prng *prng, double mean)
{
    ASSERT(mean > 0.0);
    /* 1 - u is in (0, 1], so the log is finite. */
    return -mean * log(1.0 - util_prng_uniform(prng));
}

double util_prng_normal(util_prng *prng)
{
    /* Box-Muller, cosine branch only: two draws per call, no cached spare,
     * so the stream position depends only on the number of calls. */
    double u1 = 1.0 - util_prng_uniform(prng);   /* (0, 1] */
    double u2 = util_prng_uniform(prng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int util_prng_chance(util_prng *prng, double p)
{
    if (p <= 0.0) {
        return 0;
    }
    if (p >= 1.0) {
        return 1;
    }
    return util_prng_uniform(prng) < p;
}
