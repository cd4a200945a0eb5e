/* fuzz_checkpoint.c -- the llama2.c checkpoint loader on arbitrary bytes
 * (infer_model_from_checkpoint: a header of 7 int32 and the float32
 * tensors). A bad header, a short or an over-long file must fail with
 * INFER_EFORMAT and a reason, without allocating what the header claims
 * before the size is checked. A checkpoint that loads is also written back
 * (infer_model_to_checkpoint), which walks every tensor it kept. */
#include "fuzz/fuzz.h"
#include "node/infer.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    infer_model *model = NULL;
    char why[256];
    if (infer_model_from_checkpoint(data, size, &model, why, sizeof(why)) != 0) {
        return 0;
    }
    uint8_t *bytes = NULL;
    size_t bytes_size = 0;
    if (infer_model_to_checkpoint(model, &bytes, &bytes_size) == 0) {
        util_free(bytes);
    }
    infer_model_destroy(model);
    return 0;
}
