/* fuzz_frame.c -- the testbed's frame decoder on a byte stream, as a
 * process reads it from a peer's socket. Thin on purpose: the frame format
 * is the decoder's business, and this target only walks the stream with
 * the public tb_frame_decode (tb.h):
 *   tb_frame_decode(keys, bytes, size, frame_max, &message, &frame_bytes)
 * Byte 0 picks the keys: bit 0 set, ed25519 votes (verification.crypto:
 * ed25519), else MACs only; FUZZ_NODES nodes of run FUZZ_SEED. The rest is
 * the stream: frames are decoded one after another while the decoder
 * accepts them or skips one that fails authentication, as tb_node.c does. */
#include "fuzz/fuzz.h"
#include "testbed/tb.h"
#include "util/hash.h"

static tb_keys frame_keys[2];
static volatile uint32_t frame_sink; /* keeps the payload reads */

static bool frame_ready(void)
{
    static int ready = -1;
    if (ready < 0) {
        ready = util_hash_init() == 0 &&
                tb_keys_init(&frame_keys[0], FUZZ_SEED, FUZZ_NODES, false) == 0 &&
                tb_keys_init(&frame_keys[1], FUZZ_SEED, FUZZ_NODES, true) == 0;
    }
    return ready == 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || !frame_ready()) {
        return 0;
    }
    tb_keys *keys = &frame_keys[data[0] & 1u];
    size_t at = 1;
    uint32_t sum = 0;
    while (at < size) {
        node_message message;
        size_t frame_bytes = 0;
        int rc = tb_frame_decode(keys, data + at, size - at, TB_FRAME_MAX_DEFAULT, &message,
                                 &frame_bytes);
        if (rc == 0) {
            /* The payload must lie inside the frame: touch every byte. */
            for (uint32_t i = 0; message.payload != NULL && i < message.payload_bytes; i++) {
                sum += message.payload[i];
            }
        }
        if ((rc != 0 && rc != TB_EAUTH) || frame_bytes == 0) {
            break;
        }
        at += frame_bytes;
    }
    frame_sink = sum;
    return 0;
}
