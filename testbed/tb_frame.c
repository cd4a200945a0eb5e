/* tb_frame.c -- the wire frame: length-prefixed, versioned, authenticated
 * node messages (layout in tb.h). The decoder takes untrusted bytes from a
 * socket: every field is checked before it is used, and nothing asserts on
 * them. The MAC of a frame is keyed by its link: only the two endpoints,
 * holding one of the X25519 secrets each, can compute it; a vote of a
 * signing run carries the sender's own ed25519 signature. An authentic
 * frame must also be fresh: each link's receiver keeps a replay window. */
#include <string.h>

#include "testbed/tb.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/bytes.h"

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
    case TB_EREPLAY: return "frame replayed, too old, or sent before the receiver started";
    case TB_EKEYS: return "key file missing or malformed";
    case TB_EHOST: return "another host of the deployment did not answer";
    case TB_ECHAIN: return "the committed chain's transactions outgrew their shared memory";
    default: return "unknown testbed error";
    }
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

/* ---- the replay window ---- */

#define WINDOW_WORDS (TB_REPLAY_WINDOW / 64)

static bool window_bit(const tb_replay_window *window, uint64_t sequence)
{
    uint64_t index = sequence % TB_REPLAY_WINDOW;
    return (window->bits[index / 64] >> (index % 64)) & 1u;
}

static void window_set(tb_replay_window *window, uint64_t sequence, bool value)
{
    uint64_t index = sequence % TB_REPLAY_WINDOW;
    uint64_t mask = UINT64_C(1) << (index % 64);
    window->bits[index / 64] = value ? window->bits[index / 64] | mask
                                     : window->bits[index / 64] & ~mask;
}

int tb_replay_accept(tb_replay_window *window, uint64_t session, uint64_t sequence)
{
    if (sequence == 0 || session < window->session) {
        return TB_EREPLAY;
    }
    if (session > window->session) {
        memset(window, 0, sizeof(*window));
        window->session = session;
    }
    if (sequence > window->top) {
        /* Slide: the slots between the old top and the new one are unseen. */
        if (sequence - window->top >= TB_REPLAY_WINDOW) {
            memset(window->bits, 0, sizeof(window->bits));
        } else {
            for (uint64_t s = window->top + 1; s < sequence; s++) {
                window_set(window, s, false);
            }
        }
        window->top = sequence;
        window_set(window, sequence, true);
        return 0;
    }
    if (window->top - sequence >= TB_REPLAY_WINDOW || window_bit(window, sequence)) {
        return TB_EREPLAY;
    }
    window_set(window, sequence, true);
    return 0;
}

/* ---- links ---- */

/* The link of held node 'own' with 'peer', its MAC key computed on first
 * use. NULL when 'own' is not held or the peer's key is unusable. */
static tb_link *link_get(tb_keys *keys, uint32_t own, uint32_t peer)
{
    ASSERT(own < keys->node_count);
    ASSERT(peer < keys->node_count);
    uint32_t slot = keys->slot_of[own];
    if (slot == UINT32_MAX) {
        return NULL;
    }
    tb_link *link = &keys->links[(size_t)slot * keys->node_count + peer];
    if (!link->keyed && !link->unusable) {
        link->unusable = util_kx_link_key(keys->kx_secret[slot], keys->kx_public[own],
                                          keys->kx_public[peer], link->mac_key) != 0;
        link->keyed = !link->unusable;
    }
    return link->keyed ? link : NULL;
}

/* ---- encoding ---- */

size_t tb_frame_size(const tb_keys *keys, const node_message *message)
{
    uint32_t payload = message->payload != NULL ? message->payload_bytes : 0;
    return TB_FRAME_HEADER_AT + NODE_HEADER_BYTES + payload +
           tag_bytes(frame_auth(keys, message->type));
}

int tb_frame_seal(const node_message *message, const tb_frame_stamp *stamp, uint8_t auth,
                  const uint8_t *key, uint8_t *buffer, size_t capacity, size_t frame_max)
{
    ASSERT(auth == TB_AUTH_MAC || auth == TB_AUTH_ED25519);
    uint32_t payload_bytes = message->payload != NULL ? message->payload_bytes : 0;
    size_t size = TB_FRAME_HEADER_AT + NODE_HEADER_BYTES + payload_bytes + tag_bytes(auth);
    if (size > capacity || size - 4 > frame_max || size - 4 > UINT32_MAX) {
        return TB_ETOOBIG;
    }
    node_message copy = *message;
    copy.payload_bytes = payload_bytes;
    util_put_u32(buffer, (uint32_t)(size - 4));
    buffer[4] = TB_FRAME_VERSION;
    buffer[5] = auth;
    buffer[6] = 0;
    buffer[7] = 0;
    util_put_u64(buffer + 8, stamp->session);
    util_put_u64(buffer + 16, stamp->sequence);
    util_put_u64(buffer + 24, stamp->sent_ns);
    int rc = node_message_encode_header(&copy, buffer + TB_FRAME_HEADER_AT, NODE_HEADER_BYTES);
    ASSERT(rc == NODE_HEADER_BYTES);
    uint8_t *payload = buffer + TB_FRAME_HEADER_AT + NODE_HEADER_BYTES;
    if (payload_bytes > 0) {
        memcpy(payload, message->payload, payload_bytes);
    }
    size_t covered = TB_FRAME_HEADER_AT - 4 + NODE_HEADER_BYTES + payload_bytes;
    uint8_t *tag = payload + payload_bytes;
    if (auth == TB_AUTH_ED25519) {
        util_sign(key, buffer + 4, covered, tag);
    } else {
        util_put_u64(tag, util_mac64(key, buffer + 4, covered));
    }
    return (int)size;
}

int tb_frame_encode(tb_keys *keys, const node_message *message, uint64_t sent_ns,
                    uint8_t *buffer, size_t capacity, size_t frame_max)
{
    ASSERT(message->source < keys->node_count);
    ASSERT(keys->slot_of[message->source] != UINT32_MAX); /* We speak for our nodes only. */
    if (message->dest >= keys->node_count) {
        return TB_EINVAL;
    }
    tb_link *link = link_get(keys, message->source, message->dest);
    if (link == NULL) {
        return TB_EAUTH;
    }
    uint8_t auth = frame_auth(keys, message->type);
    if (tb_frame_size(keys, message) > capacity) {
        return TB_ETOOBIG;
    }
    tb_frame_stamp stamp = {keys->session, link->sent + 1, sent_ns};
    const uint8_t *key = auth == TB_AUTH_ED25519
                             ? keys->sign_secret[keys->slot_of[message->source]]
                             : link->mac_key;
    int rc = tb_frame_seal(message, &stamp, auth, key, buffer, capacity, frame_max);
    if (rc > 0) {
        link->sent += 1;
    }
    return rc;
}

/* ---- decoding ---- */

static int frame_check_tag(tb_keys *keys, const uint8_t *bytes, uint8_t auth,
                           const node_message *message, size_t covered)
{
    const uint8_t *tag = bytes + 4 + covered;
    if (auth == TB_AUTH_ED25519) {
        return util_sign_verify(keys->sign_public[message->source], bytes + 4, covered, tag)
                   ? 0
                   : TB_EAUTH;
    }
    tb_link *link = link_get(keys, message->dest, message->source);
    if (link == NULL) {
        return TB_EAUTH; /* The source's public key is unusable. */
    }
    uint64_t expected = util_mac64(link->mac_key, bytes + 4, covered);
    return util_get_u64(tag) == expected ? 0 : TB_EAUTH;
}

/* The prefix alone: length, version, auth kind. */
static int frame_check_prefix(const uint8_t *bytes, size_t frame_max)
{
    uint32_t length = util_get_u32(bytes);
    if (length > frame_max) {
        return TB_ETOOBIG;
    }
    if (bytes[4] != TB_FRAME_VERSION) {
        return TB_EVERSION;
    }
    uint8_t auth = bytes[5];
    if ((auth != TB_AUTH_MAC && auth != TB_AUTH_ED25519) || bytes[6] != 0 || bytes[7] != 0 ||
        length < TB_FRAME_HEADER_AT - 4 + NODE_HEADER_BYTES + tag_bytes(auth)) {
        return TB_EMALFORMED;
    }
    return 0;
}

/* An authentic frame's freshness: sent in this holder's life, and new on
 * its link. */
static int frame_check_fresh(tb_keys *keys, const uint8_t *bytes, const node_message *message)
{
    uint64_t session = util_get_u64(bytes + 8);
    uint64_t sequence = util_get_u64(bytes + 16);
    uint64_t sent_ns = util_get_u64(bytes + 24);
    uint32_t slot = keys->slot_of[message->dest];
    ASSERT(slot != UINT32_MAX); /* tb_frame_decode checked it. */
    if (sent_ns < keys->started_ns) {
        return TB_EREPLAY;
    }
    tb_link *link = &keys->links[(size_t)slot * keys->node_count + message->source];
    return tb_replay_accept(&link->window, session, sequence);
}

int tb_frame_decode(tb_keys *keys, const uint8_t *bytes, size_t size, size_t frame_max,
                    node_message *message_out, size_t *frame_bytes_out)
{
    *frame_bytes_out = 0;
    if (size < TB_FRAME_PREFIX_BYTES) {
        return TB_FRAME_PARTIAL;
    }
    int rc = frame_check_prefix(bytes, frame_max);
    if (rc != 0) {
        return rc;
    }
    uint32_t length = util_get_u32(bytes);
    uint8_t auth = bytes[5];
    if (size < (size_t)length + 4) {
        return TB_FRAME_PARTIAL;
    }
    *frame_bytes_out = (size_t)length + 4;
    node_message message;
    if (node_message_decode_header(bytes + TB_FRAME_HEADER_AT, NODE_HEADER_BYTES, &message) !=
        0) {
        return TB_EMALFORMED;
    }
    size_t payload = length - (TB_FRAME_HEADER_AT - 4) - NODE_HEADER_BYTES - tag_bytes(auth);
    if (message.payload_bytes != payload || message.source >= keys->node_count ||
        message.dest >= keys->node_count) {
        return TB_EMALFORMED;
    }
    if (auth != frame_auth(keys, message.type) || keys->slot_of[message.dest] == UINT32_MAX) {
        return TB_EAUTH; /* A vote must be signed; we can check frames to our nodes only. */
    }
    rc = frame_check_tag(keys, bytes, auth, &message,
                         TB_FRAME_HEADER_AT - 4 + NODE_HEADER_BYTES + payload);
    if (rc == 0) {
        rc = frame_check_fresh(keys, bytes, &message);
    }
    if (rc != 0) {
        return rc;
    }
    message.payload = payload > 0 ? bytes + TB_FRAME_HEADER_AT + NODE_HEADER_BYTES : NULL;
    *message_out = message;
    return 0;
}
