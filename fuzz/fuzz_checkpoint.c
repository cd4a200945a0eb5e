/* fuzz_checkpoint.c -- the llama2.c checkpoint loaders on arbitrary bytes
 * (infer_model_from_checkpoint: a header of 7 int32 and the float32
 * tensors; infer_model_from_q8_checkpoint when the input starts with the
 * int8 export's magic "ak42"). A bad header, a short or an over-long file must fail with
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
    int rc = infer_checkpoint_is_q8(data, size)
                 ? infer_model_from_q8_checkpoint(data, size, &model, why, sizeof(why))
                 : infer_model_from_checkpoint(data, size, &model, why, sizeof(why));
    if (rc != 0) {
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
