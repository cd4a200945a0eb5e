/* fuzz_scenario.c -- the scenario loader on arbitrary text: the input
 * bytes, NUL-terminated, are the YAML of scn_load_string (libyaml, the
 * schema checks, units, anchors and merge keys, the params and the hash).
 * Any input must load or fail with an error naming a position; the
 * loader must not crash, leak or read out of bounds. A scenario naming a
 * checkpoint file (model.file) makes the loader read that file. */
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "scenarios/scn.h"
#include "util/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        ready = util_hash_init() == 0;
    }
    char *text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    scn_scenario *scenario = NULL;
    scn_error error;
    if (scn_load_string("fuzz.yaml", text, NULL, 0, &scenario, &error) == 0) {
        scn_destroy(scenario);
    } else {
        char message[1024];
        scn_error_format(&error, message, sizeof(message));
    }
    free(text);
    return 0;
}
