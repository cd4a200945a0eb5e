/* message.c -- the messages in flight: copies in slots, payloads in shared
 * bodies, and the receiver's authentication of an arriving copy.
 *
 * A copy is the 64-byte wire header the sender's node would write, in one
 * aligned cache line; everything an arrival reads about it (source,
 * destination, type, declared payload size) is read back from those bytes.
 * A payload lives once per message in a body, counted by the copies that
 * reference it, with the sender's MAC over it computed once, at staging.
 * The sender's MAC over a copy's header is a pure function of the header
 * bytes the slot keeps, so it is computed only when something needs it: at
 * the arrival of a copy altered in flight, which the simulator knows (the
 * network model decided it). An unaltered copy is bit for bit what the
 * sender tagged, so its check is known to pass and is skipped; an altered
 * copy is checked for real and fails exactly as it would on a wire. The
 * alteration is one flipped bit of the copy's header and payload bytes; a
 * flip in the payload lands in a private copy of it (copy on write), so the
 * body and every other copy keep the sender's bytes.
 *
 * Free slots and bodies sit on stacks: the next slot handed out is the one
 * freed last, or the lowest new one after growth, as a LIFO free list gives
 * (the trace names slots). Slots grow by chunks that never move, the
 * per-slot arrays (the free stack, tickets, signatures) by half again,
 * bodies by doubling; nothing is allocated per message in a steady state. */
#include <string.h>

#include "sim/sim_int.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/bytes.h"

/* ---- storage ---- */

#define SIM_SLOT_GROUP 8u   /* chunks per block past the first 8 */

/* The storage of chunk 'chunk'. The first SIM_SLOT_GROUP chunks are a block
 * each; past them a block holds SIM_SLOT_GROUP chunks (8 MiB), handed out
 * one at a time; every chunk starts on a cache line. A block's chunks not
 * yet handed out are address space until a copy first touches them, which
 * happens inside the event loop as the copies in flight grow, so the
 * blocks stay on 4 KiB pages (util_alloc_small_pages). Arrivals touch
 * slots at random, but the loop prefetches the next arrival's slot. */
static sim_slot *slots_chunk(sim_messages *messages, uint32_t chunk)
{
    size_t bytes = (size_t)SIM_SLOT_CHUNK * sizeof(sim_slot);
    messages->chunk_blocks[chunk] = NULL;
    if (chunk >= SIM_SLOT_GROUP && chunk % SIM_SLOT_GROUP != 0) {
        return messages->chunks[chunk - 1] + SIM_SLOT_CHUNK;
    }
    const uintptr_t align = 64;
    size_t count = chunk < SIM_SLOT_GROUP ? 1 : SIM_SLOT_GROUP;
    void *block = util_malloc(count * bytes + align - 1);
    if (block == NULL) {
        return NULL;
    }
    util_alloc_small_pages(block, count * bytes + align - 1);
    messages->chunk_blocks[chunk] = block;
    return (sim_slot *)(((uintptr_t)block + align - 1) & ~(align - 1));
}

/* One more chunk of slots, aligned to a cache line; the new slots go under
 * the free ones (there are none when a chunk is added), lowest on top. */
static int slots_grow(sim_messages *messages)
{
    uint32_t chunk = messages->slot_capacity >> SIM_SLOT_CHUNK_BITS;
    uint32_t capacity = messages->slot_capacity + SIM_SLOT_CHUNK;
    if (chunk == messages->chunk_capacity) {
        uint32_t count = chunk == 0 ? 16 : chunk * 2;
        sim_slot **chunks = util_realloc(messages->chunks, count * sizeof(*chunks));
        if (chunks == NULL) {
            return WORLD_ENOMEM;
        }
        messages->chunks = chunks;
        void **blocks = util_realloc(messages->chunk_blocks, count * sizeof(*blocks));
        if (blocks == NULL) {
            return WORLD_ENOMEM;
        }
        messages->chunk_blocks = blocks;
        messages->chunk_capacity = count;
    }
    uint32_t *stack = messages->slot_stack;
    sim_slot *slots = slots_chunk(messages, chunk);
    if (slots == NULL) {
        return WORLD_ENOMEM;
    }
    messages->chunks[chunk] = slots;
    ASSERT(messages->slot_free_count == 0);
    for (uint32_t i = 0; i < SIM_SLOT_CHUNK; i++) {
        stack[i] = capacity - 1 - i;
    }
    messages->slot_free_count = SIM_SLOT_CHUNK;
    messages->slot_capacity = capacity;
    return 0;
}

/* A per-slot array of 'entry_bytes' entries regrown to 'room' entries, on
 * 4 KiB pages like the slots (its new pages are first touched in the event
 * loop too), or NULL with 'array' unchanged. */
static void *per_slot_realloc(void *array, uint32_t room, size_t entry_bytes)
{
    void *grown = util_realloc(array, (size_t)room * entry_bytes);
    util_alloc_small_pages(grown, (size_t)room * entry_bytes);
    return grown;
}

static int signatures_grow(sim_messages *messages, uint32_t room)
{
    uint8_t(*signatures)[64] =
        per_slot_realloc(messages->signatures, room, sizeof(*messages->signatures));
    if (signatures == NULL) {
        return WORLD_ENOMEM;
    }
    messages->signatures = signatures;
    uint8_t *checked = per_slot_realloc(messages->signature_checked, room, 1);
    if (checked == NULL) {
        return WORLD_ENOMEM;
    }
    messages->signature_checked = checked;
    return 0;
}

/* The tickets of the new room start at 0 (no forward result awaited). */
static int tickets_grow(sim_messages *messages, uint32_t room)
{
    uint16_t *tickets = per_slot_realloc(messages->tickets, room, sizeof(*tickets));
    if (tickets == NULL) {
        return WORLD_ENOMEM;
    }
    memset(tickets + messages->slot_room, 0,
           (size_t)(room - messages->slot_room) * sizeof(*tickets));
    messages->tickets = tickets;
    return 0;
}

static int stack_grow(sim_messages *messages, uint32_t room)
{
    uint32_t *stack = per_slot_realloc(messages->slot_stack, room, sizeof(*stack));
    if (stack == NULL) {
        return WORLD_ENOMEM;
    }
    messages->slot_stack = stack;
    return 0;
}

/* Room for 'needed' slots in the per-slot arrays: half again as much as
 * they have, or 'needed' if that is more. Grown a chunk at a time, they
 * were copied whole at every chunk, which at a million nodes' copies in
 * flight copied (and first touched) about a gigabyte of stack. */
static uint32_t slots_room_for(uint32_t room, uint32_t needed)
{
    uint64_t next = (uint64_t)room + room / 2;
    if (next < needed) {
        next = needed;
    }
    return next > UINT32_MAX ? UINT32_MAX : (uint32_t)next;
}

int sim__messages_grow(sim_world *world)
{
    sim_messages *messages = &world->messages;
    uint32_t capacity = messages->slot_capacity + SIM_SLOT_CHUNK;
    ASSERT(capacity > messages->slot_capacity); /* Fewer than 2^32 copies in flight. */
    if (capacity > messages->slot_room) {
        uint32_t room = slots_room_for(messages->slot_room, capacity);
        if (world->w.signing && signatures_grow(messages, room) != 0) {
            return WORLD_ENOMEM;
        }
        if (world->w.forward != NULL && tickets_grow(messages, room) != 0) {
            return WORLD_ENOMEM;
        }
        if (stack_grow(messages, room) != 0) {
            return WORLD_ENOMEM;
        }
        messages->slot_room = room;
    }
    return slots_grow(messages);
}

static int bodies_grow(sim_messages *messages)
{
    uint32_t old = messages->body_capacity;
    uint32_t capacity = old == 0 ? 256 : old * 2;
    sim_body *bodies = util_realloc(messages->bodies, (size_t)capacity * sizeof(*bodies));
    if (bodies == NULL) {
        return WORLD_ENOMEM;
    }
    messages->bodies = bodies;
    uint32_t *stack = util_realloc(messages->body_stack, (size_t)capacity * sizeof(*stack));
    if (stack == NULL) {
        return WORLD_ENOMEM;
    }
    messages->body_stack = stack;
    memset(&bodies[old], 0, (size_t)(capacity - old) * sizeof(*bodies));
    /* Every body is in flight when the stack runs dry: it holds the new. */
    ASSERT(messages->body_free_count == 0);
    for (uint32_t i = old; i < capacity; i++) {
        stack[messages->body_free_count++] = capacity - 1 - (i - old);
    }
    messages->body_capacity = capacity;
    return 0;
}

void sim__messages_destroy(sim_world *world)
{
    sim_messages *messages = &world->messages;
    for (uint32_t i = 0; i < messages->body_capacity; i++) {
        util_free(messages->bodies[i].payload);
    }
    util_free(messages->bodies);
    util_free(messages->body_stack);
    for (uint32_t i = 0; i < messages->slot_capacity >> SIM_SLOT_CHUNK_BITS; i++) {
        util_free(messages->chunk_blocks[i]);
    }
    util_free(messages->chunks);
    util_free(messages->chunk_blocks);
    util_free(messages->slot_stack);
    util_free(messages->altered);
    util_free(messages->sign_buffer);
    util_free(messages->signatures);
    util_free(messages->signature_checked);
    util_free(messages->tickets);
    memset(messages, 0, sizeof(*messages));
}

void sim__messages_memory(const sim_world *world, uint64_t *copy_bytes, uint64_t *message_bytes)
{
    const sim_messages *messages = &world->messages;
    uint64_t queued = sim_queue_bytes(&world->queue);
    *copy_bytes = (uint64_t)messages->slot_capacity * (sizeof(sim_slot) + sizeof(uint32_t)) +
                  queued;
    uint64_t payloads = 0;
    for (uint32_t i = 0; i < messages->body_capacity; i++) {
        payloads += messages->bodies[i].payload_capacity;
    }
    *message_bytes =
        (uint64_t)messages->body_capacity * (sizeof(sim_body) + sizeof(uint32_t)) + payloads;
}

/* ---- staging ---- */

static uint32_t slot_take(sim_world *world)
{
    sim_messages *messages = &world->messages;
    if (messages->slot_free_count == 0) {
        /* One more chunk: a steady state reuses freed slots. */
        int rc = sim__messages_grow(world);
        ASSERT(rc == 0); /* The host is out of memory mid-run: nothing sane to do. */
    }
    uint32_t index = messages->slot_stack[--messages->slot_free_count];
    world->in_flight += 1;
    if (world->in_flight > world->w.result->peak_in_flight) {
        world->w.result->peak_in_flight = world->in_flight;
    }
    return index;
}

/* A fresh body of 'bytes' payload bytes, one reference, contents and tag
 * not set. Returns its index. */
static uint32_t body_new(sim_messages *messages, uint32_t bytes)
{
    if (messages->body_free_count == 0) {
        int rc = bodies_grow(messages);
        ASSERT(rc == 0); /* The host is out of memory mid-run. */
    }
    uint32_t index = messages->body_stack[--messages->body_free_count];
    sim_body *body = &messages->bodies[index];
    if (bytes > body->payload_capacity) {
        /* Grows to the largest payload this body has carried, then reused. */
        uint8_t *payload = util_realloc(body->payload, bytes);
        ASSERT(payload != NULL);
        body->payload = payload;
        body->payload_capacity = bytes;
    }
    body->payload_bytes = bytes;
    body->refs = 1;
    messages->bodies_in_flight += 1;
    if (messages->bodies_in_flight > messages->bodies_peak) {
        messages->bodies_peak = messages->bodies_in_flight;
    }
    return index;
}

/* A body for 'message''s payload: the outbox's last one when the node
 * sends the same buffer again, else a fresh one holding a copy of the bytes
 * and the sender's MAC over them. Returns index + 1. */
static uint32_t body_take(sim_world *world, uint32_t source, const node_message *message)
{
    sim_messages *messages = &world->messages;
    if (messages->share_body != 0 && messages->share_payload == message->payload &&
        messages->bodies[messages->share_body - 1].payload_bytes == message->payload_bytes) {
        messages->bodies[messages->share_body - 1].refs += 1;
        return messages->share_body;
    }
    uint32_t index = body_new(messages, message->payload_bytes);
    sim_body *body = &messages->bodies[index];
    memcpy(body->payload, message->payload, message->payload_bytes);
    body->tag = util_mac64(world->w.keys[source], body->payload, body->payload_bytes);
    messages->share_body = index + 1;
    messages->share_payload = message->payload;
    return index + 1;
}

/* Commitments and reveals are the protocol's votes: with crypto ed25519
 * they carry a real signature (64 bytes on the wire instead of the MAC). */
static bool sign_wanted(const sim_world *world, uint8_t type)
{
    return world->w.signing &&
           (type == NODE_MESSAGE_INFER_COMMIT || type == NODE_MESSAGE_INFER_REVEAL);
}

uint64_t sim__message_wire_bytes(const sim_world *world, const uint8_t *header)
{
    uint64_t bytes = (uint64_t)NODE_HEADER_BYTES + util_get_u32(header + 40) + NODE_TAG_BYTES;
    return sign_wanted(world, header[1]) ? bytes + UTIL_SIGNATURE_BYTES - NODE_TAG_BYTES : bytes;
}

/* The bytes a signature covers: header then payload, in the sign buffer. */
static size_t sign_bytes(sim_messages *messages, const uint8_t *header, const uint8_t *payload,
                         uint32_t payload_bytes)
{
    size_t size = NODE_HEADER_BYTES + payload_bytes;
    if (size > messages->sign_capacity) {
        uint8_t *grown = util_realloc(messages->sign_buffer, size);
        ASSERT(grown != NULL); /* Grows to the largest message once. */
        messages->sign_buffer = grown;
        messages->sign_capacity = size;
    }
    memcpy(messages->sign_buffer, header, NODE_HEADER_BYTES);
    if (payload_bytes > 0) {
        memcpy(messages->sign_buffer + NODE_HEADER_BYTES, payload, payload_bytes);
    }
    return size;
}

/* Signs slot 'index' (its header, then the payload) with the source's key. */
static void message_sign(sim_world *world, uint32_t index, uint32_t source,
                         const uint8_t *payload, uint32_t payload_bytes)
{
    sim_messages *messages = &world->messages;
    size_t signed_size =
        sign_bytes(messages, sim__slot_header(messages, index), payload, payload_bytes);
    util_sign(world->w.secret_keys[source], messages->sign_buffer, signed_size,
              messages->signatures[index]);
    messages->signature_checked[index] = 0;
}

/* Copies a node's message into a network-owned slot: the header encoded as
 * on a wire and, when it has one, a reference to its payload's body. A
 * message whose payload a handed-over call computes is tagged or signed
 * when it is sealed (sim__message_fill). */
uint32_t sim__message_stage(sim_world *world, uint32_t source, const node_message *message,
                            uint32_t forward_ticket, uint32_t *body_out)
{
    sim_messages *messages = &world->messages;
    ASSERT(message->type > 0 && message->type < NODE_MESSAGE_TYPE_COUNT);
    ASSERT(message->source == source);
    uint32_t index = slot_take(world);
    uint8_t *header = sim__slot_header(messages, index);
    int size = node_message_encode_header(message, header, NODE_HEADER_BYTES);
    ASSERT(size == NODE_HEADER_BYTES);
    bool payload = (message->payload != NULL || forward_ticket != 0) && message->payload_bytes > 0;
    uint32_t body = 0;
    if (payload && forward_ticket != 0) {
        /* Its own body, filled and tagged by sim__message_seal. */
        body = body_new(messages, message->payload_bytes) + 1;
    } else if (payload) {
        body = body_take(world, source, message);
    }
    if (forward_ticket != 0) {
        ASSERT(forward_ticket <= UINT16_MAX && messages->tickets != NULL);
        messages->tickets[index] = (uint16_t)forward_ticket;
    } else if (sign_wanted(world, message->type)) {
        message_sign(world, index, source, message->payload, payload ? message->payload_bytes : 0);
    }
    if (world->w.inference) {
        world_count_bytes(&world->w, message, sim__message_wire_bytes(world, header), false);
    }
    *body_out = body;
    return index;
}

void sim__message_fill(sim_world *world, uint32_t slot, uint32_t body)
{
    sim_messages *messages = &world->messages;
    uint32_t forward_ticket = messages->tickets[slot];
    ASSERT(forward_ticket != 0); /* sim__message_seal checked */
    messages->tickets[slot] = 0;
    uint8_t *header = sim__slot_header(messages, slot);
    sim_body *own = body != 0 ? &messages->bodies[body - 1] : NULL;
    ASSERT(own == NULL || own->refs == 1); /* Never shared: staged with a ticket. */
    uint32_t token = world_forward_take(&world->w, forward_ticket, own ? own->payload : NULL,
                                        own ? own->payload_bytes : 0);
    uint32_t source = util_get_u32(header + 4);
    if (own != NULL) {
        own->tag = util_mac64(world->w.keys[source], own->payload, own->payload_bytes);
    }
    if (header[1] == NODE_MESSAGE_INFER_TOKEN) {
        node_message message;
        int rc = node_message_decode_header(header, NODE_HEADER_BYTES, &message);
        ASSERT(rc == 0); /* Encoded by sim__message_stage. */
        message.token = token;
        rc = node_message_encode_header(&message, header, NODE_HEADER_BYTES);
        ASSERT(rc == NODE_HEADER_BYTES);
    }
    if (sign_wanted(world, header[1])) {
        message_sign(world, slot, source, own ? own->payload : NULL, own ? own->payload_bytes : 0);
    }
}

void sim__message_release(sim_world *world, uint32_t slot, uint32_t body)
{
    sim_messages *messages = &world->messages;
    ASSERT(slot < messages->slot_capacity);
    ASSERT(messages->tickets == NULL || messages->tickets[slot] == 0); /* sealed first */
    ASSERT(messages->slot_free_count < messages->slot_capacity);
    messages->slot_stack[messages->slot_free_count++] = slot;
    ASSERT(world->in_flight > 0);
    world->in_flight -= 1;
    if (body == 0) {
        return;
    }
    sim_body *shared = &messages->bodies[body - 1];
    ASSERT(shared->refs > 0);
    shared->refs -= 1;
    if (shared->refs == 0) {
        messages->body_stack[messages->body_free_count++] = body - 1;
        messages->bodies_in_flight -= 1;
        if (messages->share_body == body) {
            messages->share_body = 0; /* Freed: nothing to share any more. */
        }
    }
}

/* ---- arrival ---- */

/* Flips one bit of the arriving copy, among its header and payload bits:
 * which bit is a pure function of the event count, so corruption is
 * deterministic. A payload bit is flipped in a private copy of the payload
 * (*payload then points at it); the body keeps the sender's bytes. */
static void alter_copy(sim_world *world, uint8_t *header, const sim_body *body,
                       const uint8_t **payload)
{
    sim_messages *messages = &world->messages;
    uint32_t payload_bytes = body != NULL ? body->payload_bytes : 0;
    uint64_t bits = ((uint64_t)NODE_HEADER_BYTES + payload_bytes) * 8;
    uint64_t bit = util_mix64(world->w.result->events) % bits;
    if (bit < NODE_HEADER_BYTES * 8) {
        header[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        return;
    }
    bit -= NODE_HEADER_BYTES * 8;
    if (payload_bytes > messages->altered_capacity) {
        uint8_t *grown = util_realloc(messages->altered, payload_bytes);
        ASSERT(grown != NULL); /* Grows to the largest payload once. */
        messages->altered = grown;
        messages->altered_capacity = payload_bytes;
    }
    memcpy(messages->altered, body->payload, payload_bytes);
    messages->altered[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    *payload = messages->altered;
}

/* The MAC a receiver computes over the bytes that arrived, under the key
 * of the source they claim, against the tag the sender computed over the
 * bytes it sent (the slot's header and the body's payload). */
static bool mac_matches(const sim_world *world, const uint8_t *sent, const sim_body *body,
                        const uint8_t *header, const uint8_t *payload, uint32_t claimed)
{
    uint32_t source = util_get_u32(sent + 4);
    uint64_t tag = util_mac64(world->w.keys[source], sent, NODE_HEADER_BYTES);
    uint64_t received = util_mac64(world->w.keys[claimed], header, NODE_HEADER_BYTES);
    if (body != NULL) {
        tag ^= body->tag;
        received ^= util_mac64(world->w.keys[claimed], payload, body->payload_bytes);
    }
    return received == tag;
}

/* A receiver's view of copy 'slot': authenticate the bytes under the
 * claimed sender's key, then decode. An unaltered copy is bit for bit what
 * the sender tagged, so its MAC is known to pass and is not recomputed;
 * an altered copy is really checked, and fails. A signature is verified
 * for real once per copy (and for every altered arrival); a duplicate of
 * bytes already verified reuses the verdict. */
int sim__message_receive(sim_world *world, uint32_t slot, uint32_t body, bool altered,
                         node_message *received)
{
    sim_messages *messages = &world->messages;
    const uint8_t *sent = sim__slot_header(messages, slot);
    const sim_body *shared = body != 0 ? &messages->bodies[body - 1] : NULL;
    const uint8_t *payload = shared != NULL ? shared->payload : NULL;
    uint32_t payload_bytes = shared != NULL ? shared->payload_bytes : 0;
    uint8_t header[NODE_HEADER_BYTES];

    memcpy(header, sent, sizeof(header));
    if (altered) {
        alter_copy(world, header, shared, &payload);
    }
    if (node_message_decode_header(header, NODE_HEADER_BYTES, received) != 0) {
        return -1;
    }
    if (received->source >= world->w.node_count) {
        return -1;
    }
    if (sign_wanted(world, sent[1])) {
        if (altered || messages->signature_checked[slot] == 0) {
            size_t size = sign_bytes(messages, header, payload, payload_bytes);
            if (!util_sign_verify(world->w.public_keys[received->source], messages->sign_buffer,
                                  size, messages->signatures[slot])) {
                return -1;
            }
            messages->signature_checked[slot] = !altered;
        }
    } else if (altered && !mac_matches(world, sent, shared, header, payload, received->source)) {
        return -1;
    }
    if (received->payload_bytes < payload_bytes) {
        return -1;
    }
    received->payload = payload_bytes > 0 ? payload : NULL;
    return 0;
}
