/* queue.c -- the two pending-event sets behind sim/queue.h.
 *
 * sim_heap is a 4-ary implicit min-heap of events stored by value: a node's
 * four children share one 128-byte block, so a level of the sift costs about
 * two cache lines, and the tree is half as deep as a binary heap. Sifts move
 * a hole instead of swapping, and compare at_ns before seq.
 *
 * sim_calq is Brown's calendar queue (CACM 1988): 2^k buckets of width 2^s
 * ns; an event lives in bucket (at_ns >> s) mod 2^k, kept as an (at_ns, seq)
 * sorted list in a slab with a free list. Pops scan forward from the current
 * bucket; after a fruitless full year they search the bucket heads directly.
 * The bucket count doubles or halves with the event count, and the width is
 * re-estimated from the earliest events at each resize. */
#include "sim/queue.h"

#include <math.h>
#include <string.h>

#include "util/alloc.h"
#include "util/assert.h"

#define QUEUE_HEAP_ARITY 4
#define QUEUE_CAPACITY_MIN 16

/* ==== 4-ary heap ==== */

/* Layout: the root sits 3 slots past a 64-byte boundary, so the children
 * 4i+1..4i+4 of every node i start on a cache line and span exactly two.
 * The raw allocation pointer is kept in the first padding slot. */
#define QUEUE_HEAP_PAD 3
#define QUEUE_HEAP_ALIGN 64

static size_t heap_bytes(size_t capacity)
{
    return (capacity + QUEUE_HEAP_PAD) * sizeof(sim_event) + QUEUE_HEAP_ALIGN;
}

static sim_event *heap_aligned_base(void *raw)
{
    uintptr_t mask = (uintptr_t)(QUEUE_HEAP_ALIGN - 1);
    return (sim_event *)(((uintptr_t)raw + mask) & ~mask);
}

static void *heap_raw(const sim_heap *heap)
{
    void *raw;
    memcpy(&raw, heap->events - QUEUE_HEAP_PAD, sizeof(raw));
    return raw;
}

static void heap_attach(sim_heap *heap, void *raw, sim_event *base)
{
    memcpy(base, &raw, sizeof(raw));
    heap->events = base + QUEUE_HEAP_PAD;
}

int sim_heap_init(sim_heap *heap, size_t capacity_hint)
{
    ASSERT(heap != NULL);
    size_t capacity = capacity_hint < QUEUE_CAPACITY_MIN ? QUEUE_CAPACITY_MIN : capacity_hint;
    memset(heap, 0, sizeof(*heap));
    if (capacity > ((size_t)-1 - QUEUE_HEAP_ALIGN) / sizeof(sim_event) - QUEUE_HEAP_PAD) {
        return -1;
    }
    void *raw = util_malloc(heap_bytes(capacity));
    if (raw == NULL) {
        return -1;
    }
    heap_attach(heap, raw, heap_aligned_base(raw));
    heap->capacity = capacity;
    return 0;
}

void sim_heap_deinit(sim_heap *heap)
{
    ASSERT(heap != NULL);
    if (heap->events != NULL) {
        util_free(heap_raw(heap));
    }
    memset(heap, 0, sizeof(*heap));
}

/* Doubles the storage. realloc keeps the bytes but not the alignment, so
 * the events may have to slide to the new boundary. */
static int heap_grow(sim_heap *heap)
{
    ASSERT(heap->count == heap->capacity);
    size_t capacity = heap->capacity * 2;
    if (capacity < heap->capacity ||
        capacity > ((size_t)-1 - QUEUE_HEAP_ALIGN) / sizeof(sim_event) - QUEUE_HEAP_PAD) {
        return -1;
    }
    char *old_raw = heap_raw(heap);
    size_t old_offset = (size_t)((char *)(heap->events - QUEUE_HEAP_PAD) - old_raw);
    char *raw = util_realloc(old_raw, heap_bytes(capacity));
    if (raw == NULL) {
        return -1;
    }
    sim_event *base = heap_aligned_base(raw);
    if ((char *)base != raw + old_offset) {
        memmove(base, raw + old_offset, (heap->count + QUEUE_HEAP_PAD) * sizeof(sim_event));
    }
    heap_attach(heap, raw, base);
    heap->capacity = capacity;
    return 0;
}

/* Moves the hole at 'hole' up until 'event' fits, then fills it. 'event' was
 * pushed last, so its seq is the largest: ties on at_ns never move it up. */
static void heap_sift_up(sim_event *events, size_t hole, const sim_event *event)
{
    uint64_t at_ns = event->at_ns;
    while (hole > 0) {
        size_t parent = (hole - 1) / QUEUE_HEAP_ARITY;
        if (events[parent].at_ns <= at_ns) {
            break;
        }
        events[hole] = events[parent];
        hole = parent;
    }
    events[hole] = *event;
}

/* (at_ns, seq) as one 128-bit key: one compare, no data-dependent branch,
 * so the tie-heavy hold workload does not pay for mispredictions. */
__extension__ typedef unsigned __int128 queue_key;

static inline queue_key heap_key(const sim_event *event)
{
    return ((queue_key)event->at_ns << 64) | event->seq;
}

/* Index of the earliest of the children first..first+n-1 (1 <= n <= 4). */
static inline size_t heap_min_child(const sim_event *events, size_t first, size_t n)
{
    size_t best = first;
    for (size_t i = first + 1; i < first + n; i++) {
        if (sim_event_before(&events[i], &events[best])) {
            best = i;
        }
    }
    return best;
}

/* Index of the earliest of four children, as a two-round tournament. */
static inline size_t heap_min_child4(const sim_event *events, size_t first)
{
    queue_key k0 = heap_key(&events[first]);
    queue_key k1 = heap_key(&events[first + 1]);
    queue_key k2 = heap_key(&events[first + 2]);
    queue_key k3 = heap_key(&events[first + 3]);
    size_t a = first + (k1 < k0);
    queue_key ka = k1 < k0 ? k1 : k0;
    size_t b = first + 2 + (k3 < k2);
    queue_key kb = k3 < k2 ? k3 : k2;
    return kb < ka ? b : a;
}

/* Removes the root's content: moves the hole from the root down to a leaf
 * along the earliest children, then sifts 'event' up from there (Floyd's
 * bottom-up heapsort trick). The event refilling a pop, like a fresh hold
 * event, nearly always belongs near the bottom, so this saves the compare
 * against 'event' on every level on the way down. */
static void heap_sift_down(sim_event *events, size_t count, size_t hole, const sim_event *event)
{
    for (;;) {
        size_t first = hole * QUEUE_HEAP_ARITY + 1;
        size_t child;
        if (first + QUEUE_HEAP_ARITY <= count) {
            child = heap_min_child4(events, first);
        } else if (first < count) {
            child = heap_min_child(events, first, count - first);
        } else {
            break;
        }
        events[hole] = events[child];
        hole = child;
    }
    queue_key key = heap_key(event);
    while (hole > 0) {
        size_t parent = (hole - 1) / QUEUE_HEAP_ARITY;
        if (heap_key(&events[parent]) < key) {
            break;
        }
        events[hole] = events[parent];
        hole = parent;
    }
    events[hole] = *event;
}

int sim_heap_push(sim_heap *heap, uint64_t at_ns, uint32_t kind, uint32_t arg, uint64_t arg2)
{
    ASSERT(heap != NULL);
    if (heap->count == heap->capacity && heap_grow(heap) != 0) {
        return -1;
    }
    sim_event event = {.at_ns = at_ns, .seq = heap->next_seq, .kind = kind, .arg = arg,
                       .arg2 = arg2};
    heap->next_seq += 1;
    heap_sift_up(heap->events, heap->count, &event);
    heap->count += 1;
    return 0;
}

bool sim_heap_pop(sim_heap *heap, sim_event *out)
{
    ASSERT(heap != NULL);
    ASSERT(out != NULL);
    if (heap->count == 0) {
        return false;
    }
    *out = heap->events[0];
    heap->count -= 1;
    if (heap->count > 0) {
        sim_event last = heap->events[heap->count];
        heap_sift_down(heap->events, heap->count, 0, &last);
    }
    return true;
}

bool sim_heap_replace_top(sim_heap *heap, sim_event *out, uint64_t at_ns, uint32_t kind,
                          uint32_t arg, uint64_t arg2)
{
    ASSERT(heap != NULL);
    ASSERT(out != NULL);
    if (heap->count == 0) {
        return false;
    }
    *out = heap->events[0];
    sim_event event = {.at_ns = at_ns, .seq = heap->next_seq, .kind = kind, .arg = arg,
                       .arg2 = arg2};
    heap->next_seq += 1;
    heap_sift_down(heap->events, heap->count, 0, &event);
    return true;
}

const sim_event *sim_heap_peek(const sim_heap *heap)
{
    ASSERT(heap != NULL);
    return heap->count > 0 ? &heap->events[0] : NULL;
}

/* ==== calendar queue ==== */

#define CALQ_NIL UINT32_MAX
#define CALQ_BUCKETS_MIN 16
#define CALQ_SAMPLE_MAX 25
#define CALQ_SHIFT_INITIAL 10
#define CALQ_SHIFT_MAX 62
#define CALQ_WORK_MAX 8

struct sim_calq_node {
    sim_event event;
    uint32_t next;    /* next slot in the bucket list or the free list */
};

struct sim_calq_bucket {
    uint32_t head;    /* earliest event of the bucket, or CALQ_NIL */
    uint32_t tail;    /* latest event of the bucket, or CALQ_NIL */
};

/* Links slots first..last-1 onto the free list, lowest index first. */
static void calq_free_chain(sim_calq *calq, size_t first, size_t last)
{
    for (size_t i = last; i > first; i--) {
        calq->nodes[i - 1].next = calq->free_head;
        calq->free_head = (uint32_t)(i - 1);
    }
}

static struct sim_calq_bucket *calq_buckets_create(size_t bucket_count)
{
    struct sim_calq_bucket *buckets = util_malloc(bucket_count * sizeof(*buckets));
    if (buckets != NULL) {
        memset(buckets, 0xff, bucket_count * sizeof(*buckets));   /* all CALQ_NIL */
    }
    return buckets;
}

int sim_calq_init(sim_calq *calq, size_t capacity_hint)
{
    ASSERT(calq != NULL);
    size_t capacity = capacity_hint < QUEUE_CAPACITY_MIN ? QUEUE_CAPACITY_MIN : capacity_hint;
    if (capacity >= CALQ_NIL) {
        return -1;
    }
    memset(calq, 0, sizeof(*calq));
    calq->nodes = util_malloc(capacity * sizeof(struct sim_calq_node));
    calq->buckets = calq_buckets_create(CALQ_BUCKETS_MIN);
    if (calq->nodes == NULL || calq->buckets == NULL) {
        util_free(calq->nodes);
        util_free(calq->buckets);
        return -1;
    }
    calq->capacity = capacity;
    calq->bucket_count = CALQ_BUCKETS_MIN;
    calq->width_shift = CALQ_SHIFT_INITIAL;
    calq->free_head = CALQ_NIL;
    calq_free_chain(calq, 0, capacity);
    return 0;
}

void sim_calq_deinit(sim_calq *calq)
{
    ASSERT(calq != NULL);
    util_free(calq->nodes);
    util_free(calq->buckets);
    memset(calq, 0, sizeof(*calq));
}

static int calq_grow(sim_calq *calq)
{
    ASSERT(calq->free_head == CALQ_NIL);
    size_t capacity = calq->capacity * 2;
    if (capacity >= CALQ_NIL) {
        return -1;
    }
    struct sim_calq_node *nodes = util_realloc(calq->nodes, capacity * sizeof(*nodes));
    if (nodes == NULL) {
        return -1;
    }
    calq->nodes = nodes;
    calq_free_chain(calq, calq->capacity, capacity);
    calq->capacity = capacity;
    return 0;
}

/* Inserts slot 'index' into its bucket of 'buckets', keeping (at_ns, seq)
 * order, and returns the number of nodes walked. Appending is the common
 * case: a push has the largest seq. */
static uint32_t calq_bucket_insert(sim_calq *calq, struct sim_calq_bucket *buckets, uint32_t index)
{
    struct sim_calq_node *nodes = calq->nodes;
    const sim_event *event = &nodes[index].event;
    size_t mask = calq->bucket_count - 1;
    struct sim_calq_bucket *bucket = &buckets[(event->at_ns >> calq->width_shift) & mask];
    nodes[index].next = CALQ_NIL;
    uint32_t walked = 0;
    if (bucket->head == CALQ_NIL) {
        bucket->head = index;
        bucket->tail = index;
    } else if (sim_event_before(&nodes[bucket->tail].event, event)) {
        nodes[bucket->tail].next = index;
        bucket->tail = index;
    } else if (sim_event_before(event, &nodes[bucket->head].event)) {
        nodes[index].next = bucket->head;
        bucket->head = index;
    } else {
        uint32_t prev = bucket->head;
        while (sim_event_before(&nodes[nodes[prev].next].event, event)) {
            prev = nodes[prev].next;   /* stops before the tail: tail is after event */
            walked += 1;
        }
        nodes[index].next = nodes[prev].next;
        nodes[prev].next = index;
    }
    return walked;
}

/* Collects the (up to CALQ_SAMPLE_MAX) earliest at_ns values in ascending
 * order into 'sample'; returns how many. */
static size_t calq_sample_front(const sim_calq *calq, uint64_t *sample)
{
    size_t taken = 0;
    for (size_t b = 0; b < calq->bucket_count; b++) {
        for (uint32_t i = calq->buckets[b].head; i != CALQ_NIL; i = calq->nodes[i].next) {
            uint64_t at_ns = calq->nodes[i].event.at_ns;
            if (taken == CALQ_SAMPLE_MAX && at_ns >= sample[taken - 1]) {
                break;   /* the rest of this sorted bucket is later still */
            }
            size_t j = taken < CALQ_SAMPLE_MAX ? taken++ : taken - 1;
            for (; j > 0 && sample[j - 1] > at_ns; j--) {
                sample[j] = sample[j - 1];
            }
            sample[j] = at_ns;
        }
    }
    return taken;
}

/* Brown's width: three times the mean gap between the earliest events,
 * ignoring gaps above twice the mean; rounded up to a power of two. */
static unsigned calq_width_shift_estimate(const sim_calq *calq, const uint64_t *sample,
                                          size_t taken)
{
    if (taken < 2) {
        return calq->width_shift;
    }
    double mean = (double)(sample[taken - 1] - sample[0]) / (double)(taken - 1);
    double sum = 0.0;
    size_t kept = 0;
    for (size_t i = 1; i < taken; i++) {
        double gap = (double)(sample[i] - sample[i - 1]);
        if (gap <= 2.0 * mean) {
            sum += gap;
            kept += 1;
        }
    }
    double width = kept > 0 ? 3.0 * sum / (double)kept : 3.0 * mean;
    unsigned shift = 0;
    while (shift < CALQ_SHIFT_MAX && (double)((uint64_t)1 << shift) < width) {
        shift += 1;
    }
    return shift;
}

/* Rebuilds the calendar with 'bucket_count' buckets and a fresh width. Out
 * of memory leaves the old calendar in place: resizing only affects speed. */
static void calq_resize(sim_calq *calq, size_t bucket_count)
{
    struct sim_calq_bucket *buckets = calq_buckets_create(bucket_count);
    if (buckets == NULL) {
        return;
    }
    uint64_t sample[CALQ_SAMPLE_MAX];
    size_t taken = calq_sample_front(calq, sample);
    struct sim_calq_bucket *old = calq->buckets;
    size_t old_count = calq->bucket_count;
    calq->width_shift = calq_width_shift_estimate(calq, sample, taken);
    calq->bucket_count = bucket_count;
    for (size_t b = 0; b < old_count; b++) {
        uint32_t i = old[b].head;
        while (i != CALQ_NIL) {
            uint32_t next = calq->nodes[i].next;
            calq_bucket_insert(calq, buckets, i);
            i = next;
        }
    }
    util_free(old);
    calq->buckets = buckets;
    calq->current_vb = taken > 0 ? sample[0] >> calq->width_shift : 0;
    calq->work_count = 0;
    calq->op_count = 0;
}

/* Counts one operation that cost 'work' bucket visits or list steps. Brown's
 * calendar only re-estimates its width when the event count doubles or
 * halves; if the time scale drifts meanwhile, operations get slow at a
 * steady count. After each bucket_count operations averaging more than
 * CALQ_WORK_MAX steps, rebuild with a fresh width at the same size. */
static void calq_account(sim_calq *calq, uint64_t work)
{
    calq->work_count += work;
    calq->op_count += 1;
    if (calq->op_count < calq->bucket_count) {
        return;
    }
    if (calq->work_count > CALQ_WORK_MAX * calq->op_count) {
        calq_resize(calq, calq->bucket_count);
    }
    calq->work_count = 0;
    calq->op_count = 0;
}

int sim_calq_push(sim_calq *calq, uint64_t at_ns, uint32_t kind, uint32_t arg, uint64_t arg2)
{
    ASSERT(calq != NULL);
    if (calq->free_head == CALQ_NIL && calq_grow(calq) != 0) {
        return -1;
    }
    uint32_t index = calq->free_head;
    struct sim_calq_node *node = &calq->nodes[index];
    calq->free_head = node->next;
    node->event = (sim_event){.at_ns = at_ns, .seq = calq->next_seq, .kind = kind, .arg = arg,
                              .arg2 = arg2};
    calq->next_seq += 1;
    /* Keep every event at or after the scan position, even one in the past. */
    uint64_t vb = at_ns >> calq->width_shift;
    if (calq->count == 0 || vb < calq->current_vb) {
        calq->current_vb = vb;
    }
    uint32_t walked = calq_bucket_insert(calq, calq->buckets, index);
    calq->count += 1;
    if (calq->count > 2 * calq->bucket_count) {
        calq_resize(calq, calq->bucket_count * 2);
    } else {
        calq_account(calq, walked);
    }
    return 0;
}

/* The bucket holding the earliest event, by scanning the bucket heads; moves
 * the scan position there. Used after a year without a hit. */
static struct sim_calq_bucket *calq_search_direct(sim_calq *calq)
{
    struct sim_calq_bucket *best = NULL;
    for (size_t b = 0; b < calq->bucket_count; b++) {
        uint32_t head = calq->buckets[b].head;
        if (head == CALQ_NIL) {
            continue;
        }
        if (best == NULL ||
            sim_event_before(&calq->nodes[head].event, &calq->nodes[best->head].event)) {
            best = &calq->buckets[b];
        }
    }
    ASSERT(best != NULL);
    calq->current_vb = calq->nodes[best->head].event.at_ns >> calq->width_shift;
    calq->work_count += calq->bucket_count;
    return best;
}

/* The bucket holding the earliest event. Every event's virtual bucket
 * (at_ns >> width_shift) is >= current_vb, and a bucket's head has its
 * smallest, so the first head whose virtual bucket is current_vb wins. */
static struct sim_calq_bucket *calq_find_earliest(sim_calq *calq)
{
    size_t mask = calq->bucket_count - 1;
    unsigned shift = calq->width_shift;
    for (size_t scanned = 0; scanned < calq->bucket_count; scanned++) {
        struct sim_calq_bucket *bucket = &calq->buckets[calq->current_vb & mask];
        if (bucket->head != CALQ_NIL &&
            (calq->nodes[bucket->head].event.at_ns >> shift) == calq->current_vb) {
            calq->work_count += scanned;
            return bucket;
        }
        calq->current_vb += 1;
    }
    calq->work_count += calq->bucket_count;
    return calq_search_direct(calq);
}

bool sim_calq_pop(sim_calq *calq, sim_event *out)
{
    ASSERT(calq != NULL);
    ASSERT(out != NULL);
    if (calq->count == 0) {
        return false;
    }
    struct sim_calq_bucket *bucket = calq_find_earliest(calq);
    uint32_t index = bucket->head;
    struct sim_calq_node *node = &calq->nodes[index];
    *out = node->event;
    bucket->head = node->next;
    if (bucket->head == CALQ_NIL) {
        bucket->tail = CALQ_NIL;
    }
    node->next = calq->free_head;
    calq->free_head = index;
    calq->count -= 1;
    if (calq->count < calq->bucket_count / 2 && calq->bucket_count > CALQ_BUCKETS_MIN) {
        calq_resize(calq, calq->bucket_count / 2);
    } else {
        calq_account(calq, 0);
    }
    return true;
}

/* ==== monotone radix heap ====
 *
 * Ordering argument. Let base = base_ns. Invariants:
 *  (I1) an event with at_ns == base is in bucket 0; one with at_ns > base is
 *       in bucket 64 - clz(at_ns ^ base), the position plus one of the
 *       highest bit where it differs from base; no event is before base;
 *  (I2) every bucket's array (bucket 0 from 'head') is in increasing seq.
 * Push keeps both: at_ns >= now_ns >= base (asserted), and the new event has
 * the largest seq of all, so appending keeps (I2). Pop takes bucket 0 while
 * it holds events: they all have at_ns == base, which is the minimum over
 * the queue by (I1), and by (I1) every event at that instant is there, so
 * FIFO order is seq order (I2): exactly (at_ns, seq) order. When bucket 0 is
 * empty, refill takes the lowest non-empty bucket i, sets base to its
 * minimum at_ns m and moves its events, in array order, to the buckets of
 * their keys relative to m. All of them share base's bits above bit i - 1
 * and have bit i - 1 set, as m does, so each lands in a bucket below i. A
 * bucket j > i is untouched and still right: m equals the old base above
 * bit i - 1, so its events, which first differ from the old base at bit
 * j - 1 > i - 1, first differ from m there too. Buckets 0..i-1 were all
 * empty (bucket 0 by the refill's condition, the others as i is the lowest
 * non-empty), so each receives a subsequence of bucket i's array, which
 * was in seq order: (I2) holds. Ties therefore never need a merge: no
 * bucket ever receives events older than ones it already holds (a push is
 * the newest event; a refill fills only empty buckets). The event at m sits
 * in bucket 0 afterwards, and pop goes on as above.
 *
 * Memory. A bucket is a list of SIM_RADIX_CHUNK-event chunks taken from
 * one pool. A refill hands each source chunk but its last back as soon as
 * its events have moved, and pop hands bucket 0's back as it passes them;
 * an emptied bucket keeps its last chunk for its next events (bucket 0
 * empties after nearly every pop). So, with C = SIM_RADIX_CHUNK, a bucket
 * holds at most n / C + 1 chunks for its n events, bucket 0 one more for
 * its popped head, and the queue count / C + 66; during a refill at most
 * count / C + 67 (the source chunk being moved counted twice). A push keeps
 * count / C + RADIX_RESERVE chunks allocated, adding a slab when short, so
 * a refill always finds a chunk and pop never allocates: out of memory
 * only a push fails, storing nothing. A slab's chunks are used in order
 * and touched only when first used, so an unused reserve costs address
 * space, not memory; since that first use falls inside the event loop,
 * slabs stay on 4 KiB pages (util_alloc_small_pages), which a chunk's
 * in-order reads do not mind. Chunks are 32 KiB: smaller ones (2 and 8 KiB were
 * tried) made a refill wait on each chunk's first lines, and the hold
 * model ran up to 30 % slower at N=1e6; at 32 KiB it runs as fast as the
 * arrays it replaced, which held every bucket's high-water mark (315 bytes
 * an event at N=1e5 with gossip delays, against 85 now). */

/* Chunks kept beyond count / C: the 67 above, and one to round up. */
#define RADIX_RESERVE (SIM_RADIX_BUCKETS + 3)
#define RADIX_HINT_SHARE 16   /* chunks at init: the reserve and hint / this events */

_Static_assert(sizeof(sim_radix_chunk) == 32768, "a chunk is 32 KiB");

/* A slab: chunks allocated at once, freed together by deinit; its chunks
 * start on a 64-byte boundary past this header. */
typedef struct radix_slab {
    struct radix_slab *next;
} radix_slab;

#define RADIX_SLAB_ALIGN 64

static inline unsigned radix_bucket_of(uint64_t at_ns, uint64_t base_ns)
{
    uint64_t diff = at_ns ^ base_ns;
    return diff == 0 ? 0u : 64u - (unsigned)__builtin_clzll(diff);
}

/* The bit of bucket b (1..64) in 'nonempty'. */
static inline uint64_t radix_bit(unsigned b)
{
    return UINT64_C(1) << (b - 1);
}

/* Adds a slab of 'chunks' chunks, used from its start; what was left of
 * the last slab goes to the free list. -1 when out of memory, changing
 * nothing. */
static int radix_slab_add(sim_radix *radix, size_t chunks)
{
    size_t room = sizeof(radix_slab) + RADIX_SLAB_ALIGN;
    if (chunks > (SIZE_MAX - room) / sizeof(sim_radix_chunk)) {
        return -1;
    }
    radix_slab *slab = util_malloc(room + chunks * sizeof(sim_radix_chunk));
    if (slab == NULL) {
        return -1;
    }
    util_alloc_small_pages(slab, room + chunks * sizeof(sim_radix_chunk));
    slab->next = radix->slabs;
    radix->slabs = slab;
    for (; radix->fresh_count > 0; radix->fresh_count--) {
        radix->fresh->next = radix->free;
        radix->free = radix->fresh;
        radix->fresh += 1;
    }
    uintptr_t start = (uintptr_t)(slab + 1);
    start = (start + RADIX_SLAB_ALIGN - 1) & ~(uintptr_t)(RADIX_SLAB_ALIGN - 1);
    radix->fresh = (sim_radix_chunk *)start;
    radix->fresh_count = chunks;
    radix->chunks += chunks;
    return 0;
}

static sim_radix_chunk *radix_chunk_take(sim_radix *radix)
{
    sim_radix_chunk *chunk = radix->free;
    if (chunk != NULL) {
        radix->free = chunk->next;
    } else {
        ASSERT(radix->fresh_count > 0); /* The reserve covers every refill (Memory). */
        chunk = radix->fresh;
        radix->fresh += 1;
        radix->fresh_count -= 1;
    }
    chunk->next = NULL;
    return chunk;
}

static void radix_chunk_give(sim_radix *radix, sim_radix_chunk *chunk)
{
    chunk->next = radix->free;
    radix->free = chunk;
}

static void radix_bucket_clear(struct sim_radix_bucket *bucket)
{
    bucket->first = NULL;
    bucket->last = NULL;
    bucket->count = 0;
    bucket->tail = 0;
    bucket->min_ns = UINT64_MAX;
    bucket->min_event = NULL;
}

/* Leaves 'bucket' empty, keeping 'last' (its last chunk, its events all
 * gone) for its next events: buckets empty and fill again all the time,
 * bucket 0 after nearly every pop. */
static void radix_bucket_empty(struct sim_radix_bucket *bucket, sim_radix_chunk *last)
{
    radix_bucket_clear(bucket);
    last->next = NULL;
    bucket->first = last;
    bucket->last = last;
}

/* Appends a copy of 'event' to 'bucket', keeping its minimum. */
static inline void radix_append(sim_radix *radix, struct sim_radix_bucket *bucket,
                                const sim_event *event)
{
    if (bucket->last == NULL || bucket->tail == SIM_RADIX_CHUNK) {
        sim_radix_chunk *chunk = radix_chunk_take(radix);
        if (bucket->last != NULL) {
            bucket->last->next = chunk;
        } else {
            bucket->first = chunk;
        }
        bucket->last = chunk;
        bucket->tail = 0;
    }
    sim_event *slot = &bucket->last->events[bucket->tail];
    *slot = *event;
    bucket->tail += 1;
    bucket->count += 1;
    if (event->at_ns < bucket->min_ns) {
        bucket->min_ns = event->at_ns;
        bucket->min_event = slot;
    }
}

int sim_radix_init(sim_radix *radix, size_t capacity_hint)
{
    ASSERT(radix != NULL);
    memset(radix, 0, sizeof(*radix));
    for (size_t b = 0; b < SIM_RADIX_BUCKETS; b++) {
        radix_bucket_clear(&radix->buckets[b]);
    }
    size_t hinted = capacity_hint / RADIX_HINT_SHARE / SIM_RADIX_CHUNK;
    if (radix_slab_add(radix, RADIX_RESERVE + 1 + hinted) != 0) {
        return -1;
    }
    return 0;
}

void sim_radix_deinit(sim_radix *radix)
{
    ASSERT(radix != NULL);
    radix_slab *slab = radix->slabs;
    while (slab != NULL) {
        radix_slab *next = slab->next;
        util_free(slab);
        slab = next;
    }
    memset(radix, 0, sizeof(*radix));
}

size_t sim_radix_bytes(const sim_radix *radix)
{
    ASSERT(radix != NULL);
    return radix->chunks * sizeof(sim_radix_chunk);
}

/* Keeps count / C + RADIX_RESERVE chunks for 'count' events, adding a
 * quarter more at a time. -1 when out of memory. */
static int radix_reserve(sim_radix *radix, size_t count)
{
    size_t needed = count / SIM_RADIX_CHUNK + RADIX_RESERVE + 1;
    if (radix->chunks >= needed) {
        return 0;
    }
    size_t grow = radix->chunks / 4 > needed - radix->chunks ? radix->chunks / 4
                                                              : needed - radix->chunks;
    return radix_slab_add(radix, grow);
}

int sim_radix_push(sim_radix *radix, uint64_t at_ns, uint32_t kind, uint32_t arg, uint64_t arg2)
{
    ASSERT(radix != NULL);
    ASSERT(at_ns >= radix->now_ns);   /* monotone: never before the last pop */
    if (radix_reserve(radix, radix->count + 1) != 0) {
        return -1;
    }
    unsigned b = radix_bucket_of(at_ns, radix->base_ns);
    sim_event event = {.at_ns = at_ns, .seq = radix->next_seq, .kind = kind, .arg = arg,
                       .arg2 = arg2};
    radix_append(radix, &radix->buckets[b], &event);
    radix->next_seq += 1;
    radix->count += 1;
    if (b > 0) {
        radix->nonempty |= radix_bit(b);
    }
    return 0;
}

/* Bucket 0 is empty: rebases on the minimum of the lowest non-empty bucket
 * and moves that bucket's events down, in order (see the argument above),
 * handing each of its chunks back once its events have moved. */
static void radix_refill(sim_radix *radix)
{
    ASSERT(radix->nonempty != 0);
    unsigned i = (unsigned)__builtin_ctzll(radix->nonempty) + 1;
    struct sim_radix_bucket source = radix->buckets[i];
    uint64_t base = source.min_ns;
    uint64_t nonempty = radix->nonempty & ~radix_bit(i);
    radix->base_ns = base;
    for (sim_radix_chunk *chunk = source.first; chunk != NULL;) {
        sim_radix_chunk *next = chunk->next;
        if (next != NULL) {
            /* Chunks lie anywhere: start on the next one's first lines now
             * (the hardware's stream follows from there). */
            for (size_t line = 0; line < 8; line++) {
                __builtin_prefetch((const char *)next + line * RADIX_SLAB_ALIGN);
            }
        }
        uint32_t n = next != NULL ? SIM_RADIX_CHUNK : source.tail;
        for (uint32_t k = 0; k < n; k++) {
            unsigned b = radix_bucket_of(chunk->events[k].at_ns, base);
            radix_append(radix, &radix->buckets[b], &chunk->events[k]);
            nonempty |= b > 0 ? radix_bit(b) : 0;
        }
        if (next != NULL) {
            radix_chunk_give(radix, chunk);
        }
        chunk = next;
    }
    radix_bucket_empty(&radix->buckets[i], source.last);
    radix->nonempty = nonempty;
}

const sim_event *sim_radix_peek_hint(const sim_radix *radix)
{
    ASSERT(radix != NULL);
    const struct sim_radix_bucket *first = &radix->buckets[0];
    if (first->count > 0) {
        return &first->first->events[radix->head];
    }
    if (radix->nonempty == 0) {
        return NULL;
    }
    return radix->buckets[(unsigned)__builtin_ctzll(radix->nonempty) + 1].min_event;
}

bool sim_radix_pop(sim_radix *radix, sim_event *out)
{
    ASSERT(radix != NULL);
    ASSERT(out != NULL);
    if (radix->count == 0) {
        return false;
    }
    struct sim_radix_bucket *first = &radix->buckets[0];
    if (first->count == 0) {
        radix_refill(radix);
    }
    sim_radix_chunk *chunk = first->first;
    *out = chunk->events[radix->head];
    radix->head += 1;
    first->count -= 1;
    if (first->count == 0) {
        radix_bucket_empty(first, chunk); /* its last: nothing follows an empty bucket */
        radix->head = 0;
    } else if (radix->head == SIM_RADIX_CHUNK) {
        first->first = chunk->next;
        radix_chunk_give(radix, chunk);
        radix->head = 0;
    }
    radix->count -= 1;
    radix->now_ns = out->at_ns;
    return true;
}
