/* fuzz_seeds.c -- writes the seed inputs that only the code can make:
 *   DIR/peer/<protocol>-honest   the honest run of a world, operations only
 *   DIR/peer/<protocol>-replay   one recorded message of each type, injected
 *   DIR/frame/<auth>-<type>      those messages (committee world) as frames,
 *                                under the keys of FUZZ_KEYS_DIR (written once
 *                                when absent: then every frame seed changes)
 *   DIR/checkpoint/tiny-*        small llama2.c checkpoints (float32 and int8)
 * Run by hand when a format changes (build/fuzz/fuzz_seeds fuzz/corpus) and
 * commit the result; make fuzz only builds it. The scenario and infer_body
 * seeds are text, written by hand. Deterministic: the same build writes the
 * same bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz/fuzz.h"
#include "node/infer.h"
#include "testbed/tb.h"
#include "util/alloc.h"
#include "util/hash.h"

#define SEEDS_BYTES_MAX 65536
#define SEEDS_SESSION_NS 1000000000u /* the frames' session: a process's start */

typedef struct seeds_recorded {
    node_message messages[NODE_MESSAGE_TYPE_COUNT];
    uint8_t payloads[NODE_MESSAGE_TYPE_COUNT][1024];
    bool have[NODE_MESSAGE_TYPE_COUNT];
} seeds_recorded;

static int seeds_write(const char *dir, const char *sub, const char *name, const uint8_t *bytes,
                       size_t size)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
    FILE *file = fopen(path, "wb");
    if (file == NULL || fwrite(bytes, 1, size, file) != size || fclose(file) != 0) {
        fprintf(stderr, "fuzz_seeds: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

/* Keeps the first message of each type whose payload fits. */
static void seeds_record(void *context, const node_message *message)
{
    seeds_recorded *recorded = context;
    if (recorded->have[message->type] || message->payload_bytes > 1024) {
        return;
    }
    recorded->have[message->type] = true;
    recorded->messages[message->type] = *message;
    if (message->payload_bytes > 0) {
        memcpy(recorded->payloads[message->type], message->payload, message->payload_bytes);
    }
    recorded->messages[message->type].payload = recorded->payloads[message->type];
}

static size_t seeds_put_message(uint8_t *out, const node_message *message)
{
    int rc = node_message_encode_header(message, out, NODE_HEADER_BYTES);
    if (rc != NODE_HEADER_BYTES) {
        abort();
    }
    memcpy(out + NODE_HEADER_BYTES, message->payload, message->payload_bytes);
    return NODE_HEADER_BYTES + message->payload_bytes;
}

static int seeds_peer(const char *dir, uint32_t protocol, seeds_recorded *recorded)
{
    static uint8_t bytes[SEEDS_BYTES_MAX];
    char name[64];
    size_t size = 0;
    bytes[size++] = (uint8_t)protocol;
    for (int i = 0; i < 48; i++) {
        bytes[size++] = i % 12 == 11 ? 0x03 : 0x02;
    }
    snprintf(name, sizeof(name), "%s-honest", fuzz_world_name(protocol));
    if (seeds_write(dir, "peer", name, bytes, size) != 0) {
        return -1;
    }
    memset(recorded, 0, sizeof(*recorded));
    fuzz_world *world = fuzz_world_create(protocol, seeds_record, recorded);
    fuzz_world_drain(world, 4096);
    fuzz_world_destroy(world);
    size = 0;
    bytes[size++] = (uint8_t)protocol;
    for (uint32_t type = 0; type < NODE_MESSAGE_TYPE_COUNT; type++) {
        if (recorded->have[type]) {
            bytes[size++] = 0x04; /* folded message, one tick later */
            size += seeds_put_message(bytes + size, &recorded->messages[type]);
            bytes[size++] = 0x02;
        }
    }
    snprintf(name, sizeof(name), "%s-replay", fuzz_world_name(protocol));
    return seeds_write(dir, "peer", name, bytes, size);
}

static bool seeds_hosts_all(void *context, uint32_t node_id)
{
    (void)context;
    (void)node_id;
    return true;
}

/* The frame target's fixed keys: generated and written once, when
 * FUZZ_KEYS_DIR has none; later runs keep them, so the frames stay valid. */
static int seeds_keys(tb_keys *keys, bool signing)
{
    char why[512];
    if (tb_keys_load(keys, FUZZ_KEYS_DIR, FUZZ_NODES, signing, seeds_hosts_all, NULL, why,
                     sizeof(why)) == 0) {
        return 0;
    }
    tb_keys fresh;
    if (mkdir(FUZZ_KEYS_DIR, 0755) != 0 && errno != EEXIST) {
        return -1;
    }
    if (tb_keys_generate(&fresh, FUZZ_NODES, true) != 0) {
        return -1;
    }
    int rc = tb_keys_write(&fresh, FUZZ_KEYS_DIR);
    tb_keys_deinit(&fresh);
    if (rc != 0) {
        fprintf(stderr, "fuzz_seeds: cannot write keys into %s\n", FUZZ_KEYS_DIR);
        return -1;
    }
    return tb_keys_load(keys, FUZZ_KEYS_DIR, FUZZ_NODES, signing, seeds_hosts_all, NULL, why,
                        sizeof(why));
}

/* The committee world's messages as frames, MAC-only and with signed
 * votes, one per file; and all of them in one stream. */
static int seeds_frames(const char *dir, const seeds_recorded *recorded)
{
    static uint8_t bytes[SEEDS_BYTES_MAX];
    static uint8_t stream[SEEDS_BYTES_MAX];
    size_t stream_size = 0;
    stream[stream_size++] = 1;
    for (uint32_t signing = 0; signing < 2; signing++) {
        tb_keys keys;
        if (seeds_keys(&keys, signing == 1) != 0) {
            return -1;
        }
        tb_keys_start(&keys, SEEDS_SESSION_NS, 0);
        for (uint32_t type = 0; type < NODE_MESSAGE_TYPE_COUNT; type++) {
            if (!recorded->have[type]) {
                continue;
            }
            bytes[0] = (uint8_t)signing;
            int size = tb_frame_encode(&keys, &recorded->messages[type], SEEDS_SESSION_NS + type,
                                       bytes + 1, sizeof(bytes) - 1, TB_FRAME_MAX_DEFAULT);
            char name[64];
            snprintf(name, sizeof(name), "%s-%s", signing ? "signed" : "mac",
                     node_message_type_name((uint8_t)type));
            if (size < 0 || seeds_write(dir, "frame", name, bytes, (size_t)size + 1) != 0) {
                tb_keys_deinit(&keys);
                return -1;
            }
            if (signing == 1 && stream_size + (size_t)size <= sizeof(stream)) {
                memcpy(stream + stream_size, bytes + 1, (size_t)size);
                stream_size += (size_t)size;
            }
        }
        tb_keys_deinit(&keys);
    }
    return seeds_write(dir, "frame", "signed-stream", stream, stream_size);
}

/* A float32 checkpoint, or with group_size > 0 the int8 export. */
static int seeds_checkpoint(const char *dir, const char *name, const infer_shape *shape,
                            uint32_t group_size)
{
    infer_model *model = NULL;
    uint8_t *bytes = NULL;
    size_t size = 0;
    int rc = infer_model_from_seed(shape, 5, &model, NULL, 0);
    if (rc == 0) {
        rc = group_size > 0 ? infer_model_to_q8_checkpoint(model, group_size, &bytes, &size)
                            : infer_model_to_checkpoint(model, &bytes, &size);
    }
    if (rc == 0) {
        rc = seeds_write(dir, "checkpoint", name, bytes, size);
    }
    util_free(bytes);
    infer_model_destroy(model);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2 || util_hash_init() != 0) {
        fprintf(stderr, "usage: fuzz_seeds CORPUS_DIR (with peer/, frame/, checkpoint/)\n");
        return 2;
    }
    static seeds_recorded recorded;
    static seeds_recorded committee;
    for (uint32_t protocol = 0; protocol < FUZZ_WORLDS; protocol++) {
        if (seeds_peer(argv[1], protocol, &recorded) != 0) {
            return 1;
        }
        if (protocol == 1) {
            committee = recorded;
            for (uint32_t type = 0; type < NODE_MESSAGE_TYPE_COUNT; type++) {
                committee.messages[type].payload = committee.payloads[type];
            }
        }
    }
    infer_shape shared = {8, 16, 1, 2, 1, 16, 8, true};
    infer_shape unshared = {8, 12, 2, 2, 2, 12, 4, false};
    if (seeds_frames(argv[1], &committee) != 0 ||
        seeds_checkpoint(argv[1], "tiny-shared", &shared, 0) != 0 ||
        seeds_checkpoint(argv[1], "tiny-unshared", &unshared, 0) != 0 ||
        seeds_checkpoint(argv[1], "tiny-q8-shared", &shared, 4) != 0 ||
        seeds_checkpoint(argv[1], "tiny-q8-unshared", &unshared, 4) != 0) {
        return 1;
    }
    return 0;
}
