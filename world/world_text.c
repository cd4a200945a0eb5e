/* world_text.c -- text prompts of an inference scenario: the prompts of
 * workload.prompts encoded once with model.tokenizer (llama2.c's encoder,
 * node/infer.h), and the workload's draw among them. The scenario loader
 * has checked the tokenizer against the model, so encoding cannot fail
 * but for memory or a file changed since. */
#include <string.h>

#include "world/world_int.h"
#include "util/alloc.h"
#include "util/assert.h"

void world__prompts_deinit(world_prompts *prompts)
{
    util_free(prompts->offset);
    util_free(prompts->ids);
    memset(prompts, 0, sizeof(*prompts));
}

/* Encodes every prompt into prompts->ids. */
static int prompts_encode(const scn_workload *workload, infer_tokenizer *tokenizer,
                          world_prompts *prompts)
{
    uint32_t total = 0;
    for (uint32_t i = 0; i < workload->prompt_count; i++) {
        total += (uint32_t)strlen(scn_workload_prompt(workload, i)) + 2;
    }
    prompts->offset = util_calloc((size_t)workload->prompt_count + 1, sizeof(uint32_t));
    prompts->ids = util_calloc(total, sizeof(uint32_t));
    if (prompts->offset == NULL || prompts->ids == NULL) {
        return WORLD_ENOMEM;
    }
    uint32_t at = 0;
    for (uint32_t i = 0; i < workload->prompt_count; i++) {
        uint32_t count = 0;
        if (infer_tokenizer_encode(tokenizer, scn_workload_prompt(workload, i), prompts->ids + at,
                                   &count, NULL, 0) != 0) {
            return WORLD_EMODEL;
        }
        ASSERT(count <= workload->prompt_max); /* bytes + 2 bound the tokens */
        prompts->offset[i] = at;
        at += count;
    }
    prompts->offset[workload->prompt_count] = at;
    prompts->count = workload->prompt_count;
    return 0;
}

int world__prompts_load(const scn_scenario *scenario, world_prompts *prompts)
{
    memset(prompts, 0, sizeof(*prompts));
    if (scenario->workload.prompt_count == 0) {
        return 0;
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (world__file_read(scenario->model.tokenizer, &bytes, &size) != 0) {
        return WORLD_EMODEL;
    }
    infer_tokenizer *tokenizer = NULL;
    int rc = infer_tokenizer_from_bytes(bytes, size, scenario->model.vocab, &tokenizer, NULL, 0);
    util_free(bytes);
    if (rc != 0) {
        return rc == INFER_ENOMEM ? WORLD_ENOMEM : WORLD_EMODEL;
    }
    rc = prompts_encode(&scenario->workload, tokenizer, prompts);
    infer_tokenizer_destroy(tokenizer);
    if (rc != 0) {
        world__prompts_deinit(prompts);
    }
    return rc;
}

uint32_t world_workload_prompt(const scn_scenario *scenario, const world_prompts *prompts,
                               util_prng *prng, uint32_t *tokens)
{
    const scn_workload *workload = &scenario->workload;
    if (prompts != NULL && prompts->count > 0) {
        uint32_t index = (uint32_t)util_prng_below(prng, prompts->count);
        uint32_t count = prompts->offset[index + 1] - prompts->offset[index];
        memcpy(tokens, prompts->ids + prompts->offset[index], count * sizeof(uint32_t));
        return count;
    }
    uint32_t span = workload->prompt_max - workload->prompt_min + 1;
    uint32_t count = workload->prompt_min + (uint32_t)util_prng_below(prng, span);
    for (uint32_t i = 0; i < count; i++) {
        tokens[i] = (uint32_t)util_prng_below(prng, scenario->model.vocab);
    }
    return count;
}
