/* privacy.c -- the Gaussian mechanism on forwarded activations. The sender
 * of a noised boundary (a segment's server without verification; the
 * client, which forwards the accepted output, under a committee) clips
 * each row to L2 norm C and adds N(0, (sigma C)^2) to every value before
 * the rows are encoded, so every member of the next segment's committee
 * receives the same noisy input and they can still agree. The noise comes
 * from the sender's own stream for (request, segment, step, round), so it
 * does not depend on event order and never moves another stream. */
#include <math.h>

#include "node/node_int.h"
#include "util/assert.h"

void node_privacy_noise(float *rows, uint32_t count, uint32_t dim, double clip, double sigma,
                        util_prng *prng)
{
    ASSERT(rows != NULL && prng != NULL);
    ASSERT(clip > 0 && sigma >= 0);
    for (uint32_t r = 0; r < count; r++) {
        float *row = rows + (size_t)r * dim;
        double norm = 0.0;
        for (uint32_t i = 0; i < dim; i++) {
            norm += (double)row[i] * row[i];
        }
        norm = sqrt(norm);
        double scale = norm > clip ? clip / norm : 1.0;
        for (uint32_t i = 0; i < dim; i++) {
            double noise = sigma > 0 ? sigma * clip * util_prng_normal(prng) : 0.0;
            row[i] = (float)((double)row[i] * scale + noise);
        }
    }
}

bool node__privacy_noised(const node_serving *serving, uint32_t segment)
{
    ASSERT(segment < serving->segment_count);
    return segment != 0 && ((serving->privacy_mask >> segment) & 1u) != 0;
}

bool node__privacy_stream(const node *self, uint64_t request, uint32_t segment, uint32_t step,
                          uint32_t round, util_prng *prng_out)
{
    const node_serving *serving = self->config.serving;
    if (!node__privacy_noised(serving, segment)) {
        return false;
    }
    node_privacy_stream_of(serving->privacy_seed, self->config.node_id, request, segment, step,
                           round, prng_out);
    return true;
}

void node_privacy_stream_of(uint64_t privacy_seed, uint32_t sender, uint64_t request,
                            uint32_t segment, uint32_t step, uint32_t round, util_prng *prng_out)
{
    uint64_t key = util_mix64(request) ^ util_mix64((uint64_t)step << 32 | segment) ^
                   util_mix64(((uint64_t)round << 1) | 1u);
    util_prng_init_stream(prng_out, privacy_seed ^ key, sender, UTIL_PRNG_PURPOSE_PRIVACY);
}

bool node__privacy_release(const node *self, node_outbox *outbox, uint64_t request,
                           uint32_t segment, uint32_t step, uint32_t round, float *rows,
                           uint32_t count)
{
    const node_serving *serving = self->config.serving;
    util_prng prng;
    if (!node__privacy_stream(self, request, segment, step, round, &prng)) {
        return false;
    }
    node_privacy_noise(rows, count, serving->dim, serving->privacy_clip, serving->privacy_sigma,
                       &prng);
    node__serve_observe(outbox, NODE_OBS_RELEASE, request, segment, count);
    return true;
}
