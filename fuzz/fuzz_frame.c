/* fuzz_frame.c -- the testbed's frame decoder on a byte stream, as a
 * process reads it from a peer's socket. Thin on purpose: the frame format
 * is the decoder's business, and this target only walks the stream with
 * the public tb_frame_decode (tb.h):
 *   tb_frame_decode(tb_keys *keys, bytes, size, frame_max, &message,
 *                   &frame_bytes)
 * The keys are fixed, so a frame of the corpus authenticates on every run:
 * FUZZ_NODES nodes loaded once with tb_keys_load from fuzz/keys/ (run the
 * target from the repository's root), every node held, once MAC-only and
 * once with ed25519 votes (verification.crypto: ed25519). Byte 0 picks
 * them (bit 0 set: signing); the rest is the stream. Frames are decoded one
 * after another while the decoder accepts them or skips one that fails
 * authentication or freshness, as tb_node.c does. Every input starts with
 * empty replay windows, so it replays alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "testbed/tb.h"
#include "util/hash.h"

static tb_keys frame_keys[2];
static volatile uint32_t frame_sink; /* keeps the payload reads */

static bool frame_hosts_all(void *context, uint32_t node_id)
{
    (void)context;
    (void)node_id;
    return true;
}

/* Loads the fixed keys; a failure is the checkout's, never the input's. */
static void frame_ready(void)
{
    static bool ready;
    if (ready) {
        return;
    }
    char why[512] = "libsodium does not initialise";
    for (int signing = 0; signing < 2; signing++) {
        if (util_hash_init() != 0 ||
            tb_keys_load(&frame_keys[signing], FUZZ_KEYS_DIR, FUZZ_NODES, signing == 1,
                         frame_hosts_all, NULL, why, sizeof(why)) != 0) {
            fprintf(stderr, "fuzz_frame: no keys in %s: %s\n", FUZZ_KEYS_DIR, why);
            abort();
        }
    }
    ready = true;
}

/* Forgets every frame accepted so far (the links' replay windows). */
static void frame_forget(tb_keys *keys)
{
    for (size_t i = 0; i < (size_t)keys->held_count * keys->node_count; i++) {
        memset(&keys->links[i].window, 0, sizeof(keys->links[i].window));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    frame_ready();
    tb_keys *keys = &frame_keys[data[0] & 1u];
    frame_forget(keys);
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
        if ((rc != 0 && rc != TB_EAUTH && rc != TB_EREPLAY) || frame_bytes == 0) {
            break;
        }
        at += frame_bytes;
    }
    frame_sink = sum;
    return 0;
}
