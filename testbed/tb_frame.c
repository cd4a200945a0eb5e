/* tb_frame.c -- the wire frame: length-prefixed, versioned, authenticated
 * node messages (layout in tb.h). The decoder takes untrusted bytes from a
 * socket: every field is checked before it is used, and nothing asserts on
 * them. Keys are derived exactly as sim/ derives them, so a frame a process
 * writes verifies under the simulator's keys too. */
#include <string.h>

#include "testbed/tb.h"
#include "util/alloc.h"
#include "util/assert.h"

const char *tb_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case TB_EMALFORMED: return "malformed frame";
    case TB_ETOOBIG: return "frame over the size limit";
    case TB_EVERSION: return "unknown frame version";
    case TB_EAUTH: return "frame failed authentication";
    case TB_ENOMEM: return "out of memory";
    case TB_ESYS: return "system call failed";
    case TB_EINVAL: return "invalid argument";
    default: return "unknown testbed error";
    }
}

int tb_keys_init(tb_keys *keys, uint64_t seed, uint32_t node_count, bool signing)
{
    memset(keys, 0, sizeof(*keys));
    keys->node_count = node_count;
    keys->signing = signing;
    keys->mac_keys = util_calloc(node_count, sizeof(*keys->mac_keys));
    if (keys->mac_keys == NULL) {
        return TB_ENOMEM;
    }
    for (uint32_t i = 0; i < node_count; i++) {
        util_mac_key_derive(seed, i, keys->mac_keys[i]);
    }
    if (!signing) {
        return 0;
    }
    keys->public_keys = util_calloc(node_count, sizeof(*keys->public_keys));
    keys->secret_keys = util_calloc(node_count, sizeof(*keys->secret_keys));
    if (keys->public_keys == NULL || keys->secret_keys == NULL) {
        tb_keys_deinit(keys);
        return TB_ENOMEM;
    }
    for (uint32_t i = 0; i < node_count; i++) {
        util_sign_keypair_from_seed(seed, i, keys->public_keys[i], keys->secret_keys[i]);
    }
    return 0;
}

void tb_keys_deinit(tb_keys *keys)
{
    util_free(keys->mac_keys);
    util_free(keys->public_keys);
    util_free(keys->secret_keys);
    memset(keys, 0, sizeof(*keys));
}

/* Commitments and reveals are votes: signed under ed25519 (as in sim/). */
static uint8_t frame_auth(const tb_keys *keys, uint8_t type)
{
    bool vote = type == NODE_MESSAGE_INFER_COMMIT || type == NODE_MESSAGE_INFER_REVEAL;
    return keys->signing && vote ? TB_AUTH_ED25519 : TB_AUTH_MAC;
}

static size_t tag_bytes(uint8_t auth)
{
    return auth == TB_AUTH_ED25519 ? UTIL_SIGNATURE_BYTES : NODE_TAG_BYTES;
}

static void put_u32(uint8_t *out, uint32_t value)
{
    for (int b = 0; b < 4; b++) {
        out[b] = (uint8_t)(value >> (8 * b));
    }
}

static uint32_t get_u32(const uint8_t *in)
{
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 |
           (uint32_t)in[3] << 24;
}

static uint64_t get_u64(const uint8_t *in)
{
    return (uint64_t)get_u32(in) | (uint64_t)get_u32(in + 4) << 32;
}

static void put_u64(uint8_t *out, uint64_t value)
{
    put_u32(out, (uint32_t)value);
    put_u32(out + 4, (uint32_t)(value >> 32));
}

size_t tb_frame_size(const tb_keys *keys, const node_message *message)
{
    uint32_t payload = message->payload != NULL ? message->payload_bytes : 0;
    return TB_FRAME_PREFIX_BYTES + NODE_HEADER_BYTES + payload +
           tag_bytes(frame_auth(keys, message->type));
}

int tb_frame_encode(const tb_keys *keys, const node_message *message, uint8_t *buffer,
                    size_t capacity, size_t frame_max)
{
    ASSERT(message->source < keys->node_count);
    size_t size = tb_frame_size(keys, message);
    if (size > capacity || size - 4 > frame_max || size - 4 > UINT32_MAX) {
        return TB_ETOOBIG;
    }
    uint8_t auth = frame_auth(keys, message->type);
    node_message copy = *message;
    copy.payload_bytes = message->payload != NULL ? message->payload_bytes : 0;
    put_u32(buffer, (uint32_t)(size - 4));
    buffer[4] = TB_FRAME_VERSION;
    buffer[5] = auth;
    buffer[6] = 0;
    buffer[7] = 0;
    int rc = node_message_encode_header(&copy, buffer + TB_FRAME_PREFIX_BYTES, NODE_HEADER_BYTES);
    ASSERT(rc == NODE_HEADER_BYTES);
    uint8_t *payload = buffer + TB_FRAME_PREFIX_BYTES + NODE_HEADER_BYTES;
    if (copy.payload_bytes > 0) {
        memcpy(payload, message->payload, copy.payload_bytes);
    }
    size_t covered = 4 + NODE_HEADER_BYTES + copy.payload_bytes;
    uint8_t *tag = payload + copy.payload_bytes;
    if (auth == TB_AUTH_ED25519) {
        util_sign(keys->secret_keys[message->source], buffer + 4, covered, tag);
    } else {
        put_u64(tag, util_mac64(keys->mac_keys[message->source], buffer + 4, covered));
    }
    return (int)size;
}

static int frame_check_tag(const tb_keys *keys, const uint8_t *bytes, uint8_t auth,
                           uint32_t source, size_t covered)
{
    const uint8_t *tag = bytes + 4 + covered;
    if (auth == TB_AUTH_ED25519) {
        return util_sign_verify(keys->public_keys[source], bytes + 4, covered, tag) ? 0
                                                                                    : TB_EAUTH;
    }
    uint64_t expected = util_mac64(keys->mac_keys[source], bytes + 4, covered);
    return get_u64(tag) == expected ? 0 : TB_EAUTH;
}

int tb_frame_decode(const tb_keys *keys, const uint8_t *bytes, size_t size, size_t frame_max,
                    node_message *message_out, size_t *frame_bytes_out)
{
    *frame_bytes_out = 0;
    if (size < TB_FRAME_PREFIX_BYTES) {
        return TB_FRAME_PARTIAL;
    }
    uint32_t length = get_u32(bytes);
    if (length > frame_max) {
        return TB_ETOOBIG;
    }
    if (bytes[4] != TB_FRAME_VERSION) {
        return TB_EVERSION;
    }
    uint8_t auth = bytes[5];
    if ((auth != TB_AUTH_MAC && auth != TB_AUTH_ED25519) || bytes[6] != 0 || bytes[7] != 0 ||
        length < 4 + NODE_HEADER_BYTES + tag_bytes(auth)) {
        return TB_EMALFORMED;
    }
    if (size < (size_t)length + 4) {
        return TB_FRAME_PARTIAL;
    }
    *frame_bytes_out = (size_t)length + 4;
    node_message message;
    if (node_message_decode_header(bytes + TB_FRAME_PREFIX_BYTES, NODE_HEADER_BYTES, &message) !=
        0) {
        return TB_EMALFORMED;
    }
    size_t payload = length - 4 - NODE_HEADER_BYTES - tag_bytes(auth);
    if (message.payload_bytes != payload || message.source >= keys->node_count ||
        message.dest >= keys->node_count) {
        return TB_EMALFORMED;
    }
    if (auth != frame_auth(keys, message.type)) {
        return TB_EAUTH; /* A vote must be signed when the run signs votes. */
    }
    int rc = frame_check_tag(keys, bytes, auth, message.source, 4 + NODE_HEADER_BYTES + payload);
    if (rc != 0) {
        return rc;
    }
    message.payload = payload > 0 ? bytes + TB_FRAME_PREFIX_BYTES + NODE_HEADER_BYTES : NULL;
    *message_out = message;
    return 0;
}
