/* queue.h -- the simulator's pending-event set. Events are ordered by
 * (at_ns, seq): equal instants fire in the order they were pushed, never by
 * address. Three implementations share one contract so they can be measured
 * against each other (bench/bench.c, hold model): a 4-ary implicit heap
 * (sim_heap), a calendar queue (sim_calq) and a monotone radix heap
 * (sim_radix). sim_queue is the one the engine uses: whichever measured
 * faster. Storage grows by doubling, so a steady-state run allocates
 * nothing per event. */
#ifndef SIM_QUEUE_H
#define SIM_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One pending event, stored by value. 'kind', 'arg' and 'arg2' belong to the
 * driver; the queue only orders. */
typedef struct sim_event {
    uint64_t at_ns;
    uint64_t seq;   /* assigned by the queue at push: strictly increasing */
    uint32_t kind;
    uint32_t arg;
    uint64_t arg2;
} sim_event;

_Static_assert(sizeof(sim_event) == 32, "sim_event is four words");

/* Returns true when a fires before b: (at_ns, seq) lexicographic. */
static inline bool sim_event_before(const sim_event *a, const sim_event *b)
{
    if (a->at_ns != b->at_ns) {
        return a->at_ns < b->at_ns;
    }
    return a->seq < b->seq;
}

/* ---- 4-ary heap ---- */
typedef struct sim_heap {
    sim_event *events;
    size_t count;
    size_t capacity;
    uint64_t next_seq;
} sim_heap;

/* Caller provides the struct. Returns 0 or -1 when 'capacity_hint' events
 * cannot be allocated. */
int sim_heap_init(sim_heap *heap, size_t capacity_hint);
void sim_heap_deinit(sim_heap *heap);
/* Returns 0, or -1 when growing fails (out of memory). */
int sim_heap_push(sim_heap *heap, uint64_t at_ns, uint32_t kind, uint32_t arg, uint64_t arg2);
/* Removes the earliest event into *out; false when empty. */
bool sim_heap_pop(sim_heap *heap, sim_event *out);
/* Earliest event without removing it, or NULL when empty. */
const sim_event *sim_heap_peek(const sim_heap *heap);
/* Pops the earliest event into *out and pushes (at_ns, kind, arg, arg2) in
 * one sift: the same result as sim_heap_pop then sim_heap_push, but cheaper
 * and never allocating. Returns false (pushing nothing) when empty. */
bool sim_heap_replace_top(sim_heap *heap, sim_event *out, uint64_t at_ns, uint32_t kind,
                          uint32_t arg, uint64_t arg2);
static inline size_t sim_heap_count(const sim_heap *heap) { return heap->count; }

/* ---- calendar queue (Brown 1988) with resizing ---- */
/* Buckets of width 2^width_shift ns, bucket_count a power of two; each bucket
 * is a (at_ns, seq)-sorted singly linked list of slab slots, with a tail so
 * the common append is O(1). Only queue.c reads these fields. */
struct sim_calq_node;
struct sim_calq_bucket;
typedef struct sim_calq sim_calq;
struct sim_calq {
    struct sim_calq_node *nodes;      /* slab of 'capacity' slots */
    struct sim_calq_bucket *buckets;  /* 'bucket_count' list heads and tails */
    size_t bucket_count;
    unsigned width_shift;             /* bucket width is 1 << width_shift ns */
    size_t count;
    size_t capacity;
    uint32_t free_head;               /* free slab slots, linked through next */
    uint64_t current_vb;              /* scan position: at_ns >> width_shift */
    uint64_t next_seq;
    uint64_t work_count;              /* buckets scanned and nodes walked... */
    uint64_t op_count;                /* ...over this many operations */
};

int sim_calq_init(sim_calq *calq, size_t capacity_hint);
void sim_calq_deinit(sim_calq *calq);
int sim_calq_push(sim_calq *calq, uint64_t at_ns, uint32_t kind, uint32_t arg, uint64_t arg2);
bool sim_calq_pop(sim_calq *calq, sim_event *out);
static inline size_t sim_calq_count(const sim_calq *calq) { return calq->count; }

/* ---- monotone radix heap ----
 * Only for monotone use: every push is at or after the at_ns of the last
 * popped event (the engine's clock never runs backwards); push ASSERTs it.
 * Bucket b > 0 holds the events whose at_ns first differs from base_ns in
 * bit b - 1; bucket 0 those equal to base_ns, popped first-in first-out.
 * Each bucket is a list of fixed chunks of events in push (seq) order; the
 * chunks come from one pool shared by all buckets, so the queue holds about
 * as many event slots as it has events (plus a fixed reserve), not every
 * bucket's high-water mark. Only queue.c reads these fields. */
#define SIM_RADIX_BUCKETS 65
#define SIM_RADIX_CHUNK 1023    /* events in a chunk: with its link, 32 KiB */

typedef struct sim_radix_chunk sim_radix_chunk;
struct sim_radix_chunk {
    sim_radix_chunk *next;      /* the bucket's next chunk, or the free list's:
                                 * first, on the line of the first event */
    uint8_t pad[24];            /* events at 32-byte offsets: on 64-byte-aligned
                                 * chunks each event is within one line */
    sim_event events[SIM_RADIX_CHUNK];
};

struct sim_radix_bucket {
    sim_radix_chunk *first;     /* oldest chunk (bucket 0: its events from 'head') */
    sim_radix_chunk *last;      /* the chunk pushes append to */
    size_t count;               /* events in the bucket */
    uint32_t tail;              /* events in 'last' */
    uint64_t min_ns;            /* smallest at_ns in the bucket; UINT64_MAX when empty */
    const sim_event *min_event; /* where min_ns was first pushed (buckets 1..64; a hint) */
};

typedef struct sim_radix {
    struct sim_radix_bucket buckets[SIM_RADIX_BUCKETS];
    size_t head;              /* next event of bucket 0, in its first chunk */
    size_t count;
    uint64_t base_ns;         /* the key the buckets are relative to */
    uint64_t now_ns;          /* at_ns of the last popped event */
    uint64_t nonempty;        /* bit b - 1 set when bucket b (1..64) holds events */
    uint64_t next_seq;
    sim_radix_chunk *free;    /* chunks given back by the buckets */
    sim_radix_chunk *fresh;   /* the newest slab's chunks never used yet... */
    size_t fresh_count;       /* ...and how many */
    size_t chunks;            /* chunks allocated, held, free or fresh */
    void *slabs;              /* the allocations the chunks live in, linked */
} sim_radix;

/* Same contract as the others, plus monotone pushes. Returns 0 or -1 when
 * out of memory; a failed push stores nothing. pop never allocates: a push
 * keeps enough chunks for any refill the events it leaves may need. */
int sim_radix_init(sim_radix *radix, size_t capacity_hint);
void sim_radix_deinit(sim_radix *radix);
int sim_radix_push(sim_radix *radix, uint64_t at_ns, uint32_t kind, uint32_t arg, uint64_t arg2);
bool sim_radix_pop(sim_radix *radix, sim_event *out);
static inline size_t sim_radix_count(const sim_radix *radix) { return radix->count; }
/* Bytes the queue holds for events: its chunks, held or free. */
size_t sim_radix_bytes(const sim_radix *radix);
/* A hint for prefetching, never for order: the event the next pop most
 * likely returns (bucket 0's next, else the lowest bucket's earliest), or
 * NULL. It may differ from the next pop (it ignores what a refill or a
 * push changes); valid until the next push or pop. */
const sim_event *sim_radix_peek_hint(const sim_radix *radix);

/* ---- the engine's queue: the fastest on the hold benchmark ----
 * The radix heap: the engine's clock is monotone, which is all it needs.
 * bench/bench.c, as ratios to the heap measured in the same run (noisy
 * 2-core box, several runs): exponential delays of mean 1 us, 1.0-1.4x at
 * N=1e3, 4.9-7.9x at N=1e5 (3.0-3.6e7 hold ops/s), 13-23x at N=1e6; 3.2x
 * with a 1 ms mean; 2.1-2.6x with lognormal delays (median 50 ms, sigma
 * 1.5), where the calendar queue loses to the heap. End to end, same trace
 * hash on every scenario; scenarios/gossip.yaml (8.8e6 events) takes about
 * 7% less time (median 5.7 s against 6.1 s), the queue's share of the
 * profile falling from 26% to 5%. */
typedef sim_radix sim_queue;
#define sim_queue_init sim_radix_init
#define sim_queue_deinit sim_radix_deinit
#define sim_queue_push sim_radix_push
#define sim_queue_pop sim_radix_pop
#define sim_queue_count sim_radix_count
#define sim_queue_bytes sim_radix_bytes
#define sim_queue_peek_hint sim_radix_peek_hint

#endif
