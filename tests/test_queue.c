/* test_queue.c -- sim/queue.c: the three pending-event sets (4-ary heap,
 * calendar queue, monotone radix heap) against one contract. Equal instants
 * pop in push order; random interleavings match a sorted reference over
 * many seeds (monotone ones for the radix heap); storage grows from a tiny
 * hint and fails cleanly when allocation fails; the calendar survives
 * resizes, far-future events and events at the current time; the heap's
 * replace_top equals a pop and a push; the radix heap keeps ties in push
 * order across refills, handles UINT64_MAX, pops exactly even when a refill
 * runs out of memory, and asserts monotone pushes; and all three pop
 * byte-identical sequences for one monotone script. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "sim/queue.h"
#include "tests/suites.h"
#include "util/alloc.h"
#include "util/prng.h"

/* One interface over the three implementations, so every test runs on each. */
typedef enum test_queue_kind {
    TEST_QUEUE_HEAP,
    TEST_QUEUE_CALQ,
    TEST_QUEUE_RADIX,
} test_queue_kind;

typedef struct test_queue {
    test_queue_kind kind;
    sim_heap heap;
    sim_calq calq;
    sim_radix radix;
} test_queue;

static int test_queue_init(test_queue *queue, test_queue_kind kind, size_t hint)
{
    memset(queue, 0, sizeof(*queue));
    queue->kind = kind;
    switch (kind) {
    case TEST_QUEUE_HEAP:
        return sim_heap_init(&queue->heap, hint);
    case TEST_QUEUE_CALQ:
        return sim_calq_init(&queue->calq, hint);
    default:
        return sim_radix_init(&queue->radix, hint);
    }
}

static void test_queue_deinit(test_queue *queue)
{
    switch (queue->kind) {
    case TEST_QUEUE_HEAP:
        sim_heap_deinit(&queue->heap);
        break;
    case TEST_QUEUE_CALQ:
        sim_calq_deinit(&queue->calq);
        break;
    default:
        sim_radix_deinit(&queue->radix);
        break;
    }
}

static int test_queue_push_kind(test_queue *queue, uint64_t at_ns, uint32_t kind, uint32_t arg,
                                uint64_t arg2)
{
    switch (queue->kind) {
    case TEST_QUEUE_HEAP:
        return sim_heap_push(&queue->heap, at_ns, kind, arg, arg2);
    case TEST_QUEUE_CALQ:
        return sim_calq_push(&queue->calq, at_ns, kind, arg, arg2);
    default:
        return sim_radix_push(&queue->radix, at_ns, kind, arg, arg2);
    }
}

static int test_queue_push(test_queue *queue, uint64_t at_ns, uint32_t arg, uint64_t arg2)
{
    return test_queue_push_kind(queue, at_ns, 1, arg, arg2);
}

static bool test_queue_pop(test_queue *queue, sim_event *out)
{
    switch (queue->kind) {
    case TEST_QUEUE_HEAP:
        return sim_heap_pop(&queue->heap, out);
    case TEST_QUEUE_CALQ:
        return sim_calq_pop(&queue->calq, out);
    default:
        return sim_radix_pop(&queue->radix, out);
    }
}

static size_t test_queue_count(const test_queue *queue)
{
    switch (queue->kind) {
    case TEST_QUEUE_HEAP:
        return sim_heap_count(&queue->heap);
    case TEST_QUEUE_CALQ:
        return sim_calq_count(&queue->calq);
    default:
        return sim_radix_count(&queue->radix);
    }
}

/* A plain reference: an unsorted array, popped by linear minimum search. */
typedef struct test_queue_ref {
    sim_event *events;
    size_t count;
    uint64_t next_seq;
} test_queue_ref;

static void test_queue_ref_push(test_queue_ref *ref, uint64_t at_ns, uint32_t arg, uint64_t arg2)
{
    sim_event event = {.at_ns = at_ns, .seq = ref->next_seq++, .kind = 1, .arg = arg,
                       .arg2 = arg2};
    ref->events[ref->count++] = event;
}

static sim_event test_queue_ref_pop(test_queue_ref *ref)
{
    TEST_ASSERT(ref->count > 0);
    size_t best = 0;
    for (size_t i = 1; i < ref->count; i++) {
        if (ref->events[i].at_ns < ref->events[best].at_ns ||
            (ref->events[i].at_ns == ref->events[best].at_ns &&
             ref->events[i].seq < ref->events[best].seq)) {
            best = i;
        }
    }
    sim_event event = ref->events[best];
    ref->events[best] = ref->events[--ref->count];
    return event;
}

/* The popped event matches the reference's, except seq, whose origin (0 or
 * 1) is the queue's choice: arg2 carries the push index instead. */
static void test_queue_assert_same(const sim_event *got, const sim_event *want)
{
    TEST_ASSERT_UINT_EQ(got->at_ns, want->at_ns);
    TEST_ASSERT_UINT_EQ(got->arg2, want->arg2);
    TEST_ASSERT_UINT_EQ(got->arg, want->arg);
    TEST_ASSERT_UINT_EQ(got->kind, want->kind);
}

/* A push time for the random test: mostly near 'now' with many ties, some
 * far ahead, a few at UINT64_MAX - k, a few in the past. */
static uint64_t test_queue_random_at(util_prng *prng, uint64_t now_ns)
{
    uint64_t pick = util_prng_below(prng, 100);
    if (pick < 30) {
        return now_ns + util_prng_below(prng, 4);
    }
    if (pick < 80) {
        return now_ns + util_prng_below(prng, 100000);
    }
    if (pick < 92) {
        return now_ns + util_prng_below(prng, UINT64_C(1) << 40);
    }
    if (pick < 96) {
        return UINT64_MAX - util_prng_below(prng, 3);
    }
    return now_ns - util_prng_below(prng, now_ns + 1);   /* at or before now */
}

/* A push time for monotone queues: never before 'now_ns' (saturating at
 * UINT64_MAX); many ties; near-UINT64_MAX keys only when 'top'. */
static uint64_t test_queue_monotone_at(util_prng *prng, uint64_t now_ns, bool top)
{
    uint64_t pick = util_prng_below(prng, 100);
    uint64_t delay_ns;
    if (pick < 30) {
        delay_ns = util_prng_below(prng, 4);
    } else if (pick < 80) {
        delay_ns = util_prng_below(prng, 100000);
    } else if (pick < 97 || !top) {
        delay_ns = util_prng_below(prng, UINT64_C(1) << 40);
    } else {
        uint64_t at_ns = UINT64_MAX - util_prng_below(prng, 3);
        return at_ns < now_ns ? now_ns : at_ns;
    }
    return delay_ns > UINT64_MAX - now_ns ? UINT64_MAX : now_ns + delay_ns;
}

static void test_queue_random_run(test_queue_kind kind, uint64_t seed)
{
    enum { ops = 6000 };
    test_queue queue;
    test_queue_ref ref = {.events = malloc(ops * sizeof(sim_event)), .count = 0, .next_seq = 0};
    ck_assert_ptr_nonnull(ref.events);
    ck_assert_int_eq(test_queue_init(&queue, kind, seed % 3 == 0 ? 0 : 64), 0);
    util_prng prng;
    util_prng_init(&prng, seed);
    uint64_t now_ns = 0;
    /* Phases of mostly pushing then mostly popping drive calq resizes. */
    for (uint32_t i = 0; i < ops; i++) {
        uint64_t push_percent = (i / 1000) % 2 == 0 ? 70 : 35;
        if (ref.count == 0 || util_prng_below(&prng, 100) < push_percent) {
            uint64_t at_ns = kind == TEST_QUEUE_RADIX
                                 ? test_queue_monotone_at(&prng, now_ns, seed % 5 == 0)
                                 : test_queue_random_at(&prng, now_ns);
            TEST_ASSERT_INT_EQ(test_queue_push(&queue, at_ns, i % 7, i), 0);
            test_queue_ref_push(&ref, at_ns, i % 7, i);
        } else {
            sim_event got;
            TEST_ASSERT(test_queue_pop(&queue, &got));
            sim_event want = test_queue_ref_pop(&ref);
            test_queue_assert_same(&got, &want);
            bool top = got.at_ns == UINT64_MAX - got.at_ns % 3;
            now_ns = top && kind != TEST_QUEUE_RADIX ? now_ns : got.at_ns;
        }
        TEST_ASSERT_UINT_EQ(test_queue_count(&queue), ref.count);
    }
    while (ref.count > 0) {
        sim_event got;
        TEST_ASSERT(test_queue_pop(&queue, &got));
        sim_event want = test_queue_ref_pop(&ref);
        test_queue_assert_same(&got, &want);
    }
    sim_event none;
    ck_assert(!test_queue_pop(&queue, &none));
    test_queue_deinit(&queue);
    free(ref.events);
}

START_TEST(test_queue_heap_random_matches_reference)
{
    test_queue_random_run(TEST_QUEUE_HEAP, 1000 + (uint64_t)_i);
}
END_TEST

START_TEST(test_queue_calq_random_matches_reference)
{
    test_queue_random_run(TEST_QUEUE_CALQ, 1000 + (uint64_t)_i);
}
END_TEST

/* Ties pop in push order, interleaved with earlier and later instants. */
static void test_queue_ties_run(test_queue_kind kind)
{
    test_queue queue;
    ck_assert_int_eq(test_queue_init(&queue, kind, 4), 0);
    for (uint32_t i = 0; i < 40; i++) {
        uint64_t at_ns = i % 4 == 3 ? 9 : (i % 4 == 2 ? 3 : 5);
        ck_assert_int_eq(test_queue_push(&queue, at_ns, i, i), 0);
    }
    const uint64_t order[] = {3, 5, 9};
    uint64_t last_seq = 0;
    bool first = true;
    for (size_t t = 0; t < 3; t++) {
        uint32_t previous = 0;
        bool any = false;
        for (uint32_t k = 0; k < (t == 1 ? 20 : 10); k++) {
            sim_event event;
            ck_assert(test_queue_pop(&queue, &event));
            ck_assert_uint_eq(event.at_ns, order[t]);
            if (any) {
                ck_assert_uint_gt(event.arg, previous);
            }
            if (!first && event.at_ns == order[t] && any) {
                ck_assert_uint_gt(event.seq, last_seq);
            }
            previous = event.arg;
            last_seq = event.seq;
            any = true;
            first = false;
        }
    }
    ck_assert_uint_eq(test_queue_count(&queue), 0);
    test_queue_deinit(&queue);
}

START_TEST(test_queue_heap_ties_pop_in_push_order)
{
    test_queue_ties_run(TEST_QUEUE_HEAP);
}
END_TEST

START_TEST(test_queue_calq_ties_pop_in_push_order)
{
    test_queue_ties_run(TEST_QUEUE_CALQ);
}
END_TEST

/* Grows from the smallest hint to 20000 events, then pops in order. */
static void test_queue_growth_run(test_queue_kind kind)
{
    test_queue queue;
    ck_assert_int_eq(test_queue_init(&queue, kind, 1), 0);
    sim_event none;
    ck_assert(!test_queue_pop(&queue, &none));
    util_prng prng;
    util_prng_init(&prng, 5);
    for (uint32_t i = 0; i < 20000; i++) {
        TEST_ASSERT_INT_EQ(test_queue_push(&queue, util_prng_below(&prng, 1000000), 0, i), 0);
    }
    ck_assert_uint_eq(test_queue_count(&queue), 20000);
    sim_event previous;
    ck_assert(test_queue_pop(&queue, &previous));
    for (uint32_t i = 1; i < 20000; i++) {
        sim_event event;
        TEST_ASSERT(test_queue_pop(&queue, &event));
        TEST_ASSERT(sim_event_before(&previous, &event));
        previous = event;
    }
    ck_assert(!test_queue_pop(&queue, &none));
    ck_assert_uint_eq(test_queue_count(&queue), 0);
    test_queue_deinit(&queue);
}

START_TEST(test_queue_heap_growth_from_tiny_hint)
{
    test_queue_growth_run(TEST_QUEUE_HEAP);
}
END_TEST

START_TEST(test_queue_calq_growth_from_tiny_hint)
{
    test_queue_growth_run(TEST_QUEUE_CALQ);
}
END_TEST

/* Out of memory: init fails with -1; a failed growth returns -1 and leaves
 * every stored event in place. */
static void test_queue_oom_run(test_queue_kind kind)
{
    test_queue queue;
    util_alloc_fail_after(1);
    ck_assert_int_eq(test_queue_init(&queue, kind, 16), -1);
    util_alloc_fail_after(0);
    ck_assert_int_eq(test_queue_init(&queue, kind, 16), 0);
    uint32_t pushed = 0;
    util_alloc_fail_after(1);
    int rc = 0;
    while (rc == 0 && pushed < 1000) {
        rc = test_queue_push(&queue, 1000 - pushed, 0, pushed);
        pushed += rc == 0;
    }
    util_alloc_fail_after(0);
    ck_assert_int_eq(rc, -1);
    ck_assert_uint_eq(test_queue_count(&queue), pushed);
    for (uint32_t i = 0; i < pushed; i++) {
        sim_event event;
        ck_assert(test_queue_pop(&queue, &event));
        ck_assert_uint_eq(event.arg2, pushed - 1 - i);
    }
    test_queue_deinit(&queue);
}

START_TEST(test_queue_heap_oom_fails_cleanly)
{
    test_queue_oom_run(TEST_QUEUE_HEAP);
}
END_TEST

START_TEST(test_queue_calq_oom_fails_cleanly)
{
    test_queue_oom_run(TEST_QUEUE_CALQ);
}
END_TEST

START_TEST(test_queue_heap_peek_and_replace_top)
{
    sim_heap a;
    sim_heap b;
    ck_assert_int_eq(sim_heap_init(&a, 0), 0);
    ck_assert_int_eq(sim_heap_init(&b, 0), 0);
    ck_assert_ptr_null(sim_heap_peek(&a));
    sim_event out;
    ck_assert(!sim_heap_replace_top(&a, &out, 1, 0, 0, 0));
    ck_assert_uint_eq(sim_heap_count(&a), 0);
    util_prng prng;
    util_prng_init(&prng, 9);
    for (uint32_t i = 0; i < 500; i++) {
        uint64_t at_ns = util_prng_below(&prng, 300);
        ck_assert_int_eq(sim_heap_push(&a, at_ns, 0, 0, i), 0);
        ck_assert_int_eq(sim_heap_push(&b, at_ns, 0, 0, i), 0);
    }
    for (uint32_t i = 0; i < 3000; i++) {
        uint64_t at_ns = sim_heap_peek(&a)->at_ns + util_prng_below(&prng, 300);
        sim_event via_replace;
        sim_event via_pop;
        ck_assert(sim_heap_replace_top(&a, &via_replace, at_ns, 0, 0, 500 + i));
        ck_assert(sim_heap_pop(&b, &via_pop));
        ck_assert_int_eq(sim_heap_push(&b, at_ns, 0, 0, 500 + i), 0);
        ck_assert_mem_eq(&via_replace, &via_pop, sizeof(sim_event));
        ck_assert_mem_eq(sim_heap_peek(&a), sim_heap_peek(&b), sizeof(sim_event));
    }
    sim_heap_deinit(&a);
    sim_heap_deinit(&b);
}
END_TEST

/* Far-future events (UINT64_MAX included) and a lone distant event after
 * the calendar has settled on a narrow width. */
START_TEST(test_queue_calq_far_future)
{
    sim_calq calq;
    ck_assert_int_eq(sim_calq_init(&calq, 0), 0);
    for (uint32_t i = 0; i < 200; i++) {
        ck_assert_int_eq(sim_calq_push(&calq, 1000 + i * 10, 0, 0, i), 0);
    }
    ck_assert_int_eq(sim_calq_push(&calq, UINT64_MAX, 0, 0, 1000), 0);
    ck_assert_int_eq(sim_calq_push(&calq, UINT64_C(1) << 62, 0, 0, 1001), 0);
    ck_assert_int_eq(sim_calq_push(&calq, UINT64_MAX - 1, 0, 0, 1002), 0);
    ck_assert_int_eq(sim_calq_push(&calq, UINT64_MAX, 0, 0, 1003), 0);
    sim_event event;
    for (uint32_t i = 0; i < 200; i++) {
        ck_assert(sim_calq_pop(&calq, &event));
        ck_assert_uint_eq(event.arg2, i);
    }
    const uint64_t tail[] = {1001, 1002, 1000, 1003};
    for (size_t i = 0; i < 4; i++) {
        ck_assert(sim_calq_pop(&calq, &event));
        ck_assert_uint_eq(event.arg2, tail[i]);
    }
    ck_assert(!sim_calq_pop(&calq, &event));
    /* Empty again: a push far ahead, then one nearer, both found. */
    ck_assert_int_eq(sim_calq_push(&calq, UINT64_C(1) << 50, 0, 0, 1), 0);
    ck_assert_int_eq(sim_calq_push(&calq, UINT64_C(1) << 45, 0, 0, 2), 0);
    ck_assert(sim_calq_pop(&calq, &event));
    ck_assert_uint_eq(event.arg2, 2);
    ck_assert(sim_calq_pop(&calq, &event));
    ck_assert_uint_eq(event.arg2, 1);
    sim_calq_deinit(&calq);
}
END_TEST

/* An event pushed at the instant just popped fires after the events already
 * waiting at that instant and before anything later. */
START_TEST(test_queue_calq_push_at_current_time)
{
    sim_calq calq;
    ck_assert_int_eq(sim_calq_init(&calq, 0), 0);
    for (uint32_t i = 0; i < 100; i++) {
        ck_assert_int_eq(sim_calq_push(&calq, 5000 + (i % 10) * 1000, 0, 0, i), 0);
    }
    sim_event event;
    ck_assert(sim_calq_pop(&calq, &event));
    ck_assert_uint_eq(event.at_ns, 5000);
    ck_assert_uint_eq(event.arg2, 0);
    ck_assert_int_eq(sim_calq_push(&calq, 5000, 0, 0, 500), 0);
    for (uint32_t k = 1; k < 10; k++) {
        ck_assert(sim_calq_pop(&calq, &event));
        ck_assert_uint_eq(event.at_ns, 5000);
        ck_assert_uint_eq(event.arg2, k * 10);
    }
    ck_assert(sim_calq_pop(&calq, &event));
    ck_assert_uint_eq(event.arg2, 500);
    ck_assert(sim_calq_pop(&calq, &event));
    ck_assert_uint_eq(event.at_ns, 6000);
    ck_assert_uint_eq(event.arg2, 1);
    sim_calq_deinit(&calq);
}
END_TEST

/* Grow to many buckets, drain to a few (shrinking), grow again with a time
 * scale a million times coarser: order must hold throughout. */
START_TEST(test_queue_calq_across_resize)
{
    sim_calq calq;
    ck_assert_int_eq(sim_calq_init(&calq, 0), 0);
    util_prng prng;
    util_prng_init(&prng, 77);
    uint64_t now_ns = 0;
    uint32_t tag = 0;
    const uint64_t scales[] = {10, 10000000, 1};
    for (size_t phase = 0; phase < 3; phase++) {
        for (uint32_t i = 0; i < 5000; i++) {
            uint64_t at_ns = now_ns + util_prng_below(&prng, 5000 * scales[phase]);
            ck_assert_int_eq(sim_calq_push(&calq, at_ns, 0, 0, tag++), 0);
        }
        size_t keep = phase == 2 ? 0 : 10;
        sim_event previous = {0, 0, 0, 0, 0};
        bool any = false;
        while (sim_calq_count(&calq) > keep) {
            sim_event event;
            ck_assert(sim_calq_pop(&calq, &event));
            if (any) {
                ck_assert(sim_event_before(&previous, &event));
            }
            ck_assert_uint_ge(event.at_ns, now_ns);
            previous = event;
            any = true;
            now_ns = event.at_ns;
        }
    }
    ck_assert_uint_eq(sim_calq_count(&calq), 0);
    sim_calq_deinit(&calq);
}
END_TEST

START_TEST(test_queue_radix_random_matches_reference)
{
    test_queue_random_run(TEST_QUEUE_RADIX, 2000 + (uint64_t)_i);
}
END_TEST

START_TEST(test_queue_radix_ties_pop_in_push_order)
{
    test_queue_ties_run(TEST_QUEUE_RADIX);
}
END_TEST

START_TEST(test_queue_radix_growth_from_tiny_hint)
{
    test_queue_growth_run(TEST_QUEUE_RADIX);
}
END_TEST

/* Pops 'n' events and checks each is at 'at_ns' with arg2 from 'tags'. */
static void test_queue_radix_expect(sim_radix *radix, uint64_t at_ns, const uint64_t *tags,
                                    size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sim_event event;
        ck_assert(sim_radix_pop(radix, &event));
        ck_assert_uint_eq(event.at_ns, at_ns);
        ck_assert_uint_eq(event.arg2, tags[i]);
    }
}

/* The tie case a radix heap can get wrong: events at one instant pushed at
 * different moments, some before the refill that rebases on that instant
 * (and are moved down with it) and some after (and are appended directly),
 * both for the instant being popped (bucket 0) and for the next one. */
START_TEST(test_queue_radix_bursts_across_refill)
{
    sim_radix radix;
    ck_assert_int_eq(sim_radix_init(&radix, 0), 0);
    for (uint64_t i = 0; i < 10; i++) {
        ck_assert_int_eq(sim_radix_push(&radix, 100, 0, 0, i), 0);         /* A0..A9 */
        ck_assert_int_eq(sim_radix_push(&radix, 101, 0, 0, 100 + i), 0);   /* B0..B9 */
    }
    ck_assert_int_eq(sim_radix_push(&radix, 4096, 0, 0, 300), 0);
    ck_assert_int_eq(sim_radix_push(&radix, 101, 0, 0, 110), 0);
    sim_event event;
    ck_assert(sim_radix_pop(&radix, &event));   /* refill: base 100 */
    ck_assert_uint_eq(event.arg2, 0);
    for (uint64_t i = 0; i < 5; i++) {
        ck_assert_int_eq(sim_radix_push(&radix, 100, 0, 0, 10 + i), 0);    /* A10..A14 */
        ck_assert_int_eq(sim_radix_push(&radix, 101, 0, 0, 111 + i), 0);   /* B11..B15 */
        ck_assert_int_eq(sim_radix_push(&radix, 4096, 0, 0, 301 + i), 0);
    }
    const uint64_t a_tags[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    test_queue_radix_expect(&radix, 100, a_tags, 14);
    /* Bucket 0 drained: pushes at the current instant still come first. */
    ck_assert_int_eq(sim_radix_push(&radix, 100, 0, 0, 15), 0);
    ck_assert_int_eq(sim_radix_push(&radix, 101, 0, 0, 116), 0);
    test_queue_radix_expect(&radix, 100, (const uint64_t[]){15}, 1);
    uint64_t b_tags[18];
    for (size_t i = 0; i < 18; i++) {
        b_tags[i] = 100 + i;
    }
    test_queue_radix_expect(&radix, 101, b_tags, 8);
    ck_assert_int_eq(sim_radix_push(&radix, 101, 0, 0, 117), 0);   /* mid-instant */
    test_queue_radix_expect(&radix, 101, b_tags + 8, 10);
    const uint64_t c_tags[] = {300, 301, 302, 303, 304, 305};
    test_queue_radix_expect(&radix, 4096, c_tags, 6);
    ck_assert(!sim_radix_pop(&radix, &event));
    ck_assert_uint_eq(sim_radix_count(&radix), 0);
    sim_radix_deinit(&radix);
}
END_TEST

/* Keys at and near UINT64_MAX: bucket 64, ties there, and pushes at the
 * current instant once time has reached the top. */
START_TEST(test_queue_radix_max_keys)
{
    sim_radix radix;
    ck_assert_int_eq(sim_radix_init(&radix, 1), 0);
    const uint64_t at[] = {UINT64_MAX, 0, UINT64_MAX - 1, UINT64_MAX, UINT64_C(1) << 63,
                           UINT64_MAX, 7, (UINT64_C(1) << 63) - 1};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        ck_assert_int_eq(sim_radix_push(&radix, at[i], 0, 0, i), 0);
    }
    const uint64_t order[] = {1, 6, 7, 4, 2, 0, 3};
    sim_event event;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        ck_assert(sim_radix_pop(&radix, &event));
        ck_assert_uint_eq(event.arg2, order[i]);
        ck_assert_uint_eq(event.at_ns, at[order[i]]);
    }
    ck_assert_int_eq(sim_radix_push(&radix, UINT64_MAX, 0, 0, 8), 0);
    ck_assert(sim_radix_pop(&radix, &event));
    ck_assert_uint_eq(event.arg2, 5);
    ck_assert(sim_radix_pop(&radix, &event));
    ck_assert_uint_eq(event.arg2, 8);
    ck_assert(!sim_radix_pop(&radix, &event));
    sim_radix_deinit(&radix);
}
END_TEST

/* Out of memory. init fails with -1. A push that cannot add a slab returns
 * -1 and stores nothing. Pops, refills of many events included, never
 * allocate, so with allocations failing from the first, second, ... on they
 * still pop in exact order, and the queue recovers once memory returns. */
START_TEST(test_queue_radix_oom_fails_cleanly)
{
    sim_radix radix;
    util_alloc_fail_after(1);
    ck_assert_int_eq(sim_radix_init(&radix, 16), -1);
    util_alloc_fail_after(0);
    test_queue queue;
    test_queue_ref ref = {.events = malloc(2000 * sizeof(sim_event)), .count = 0, .next_seq = 0};
    ck_assert_ptr_nonnull(ref.events);
    ck_assert_int_eq(test_queue_init(&queue, TEST_QUEUE_RADIX, 0), 0);
    util_prng prng;
    util_prng_init(&prng, 31 + (uint64_t)_i);
    for (uint32_t i = 0; i < 600; i++) {   /* lands in buckets 13 and 14 */
        uint64_t at_ns = 4096 + util_prng_below(&prng, 64) * 97;
        ck_assert_int_eq(test_queue_push(&queue, at_ns, i % 5, i), 0);
        test_queue_ref_push(&ref, at_ns, i % 5, i);
    }
    util_alloc_fail_after(1 + (unsigned long)_i);
    uint64_t now_ns = 0;
    for (uint32_t i = 0; i < 800; i++) {
        if (i == 600) {
            util_alloc_fail_after(0);
        }
        if (i % 3 == 0) {
            uint64_t at_ns = now_ns + util_prng_below(&prng, 3) * 50;
            size_t before = test_queue_count(&queue);
            if (test_queue_push(&queue, at_ns, 9, 5000 + i) == 0) {
                test_queue_ref_push(&ref, at_ns, 9, 5000 + i);
            } else {
                ck_assert_uint_eq(test_queue_count(&queue), before);
                ref.next_seq += 1;   /* the failed push did not use a seq */
            }
        }
        sim_event got;
        ck_assert(test_queue_pop(&queue, &got));
        sim_event want = test_queue_ref_pop(&ref);
        test_queue_assert_same(&got, &want);
        now_ns = got.at_ns;
        ck_assert_uint_eq(test_queue_count(&queue), ref.count);
    }
    util_alloc_fail_after(0);
    test_queue_deinit(&queue);
    free(ref.events);
}
END_TEST

/* Pops from all three queues: each must pop, or all be empty, and the
 * events must be byte-identical. Returns whether they popped. */
static bool test_queue_pop_three(test_queue *queues, sim_event *out)
{
    bool any = test_queue_pop(&queues[0], out);
    for (size_t q = 1; q < 3; q++) {
        sim_event event;
        TEST_ASSERT(test_queue_pop(&queues[q], &event) == any);
        if (any) {
            TEST_ASSERT(memcmp(&event, out, sizeof(sim_event)) == 0);
        }
    }
    return any;
}

/* A monotone script of pushes (single and in equal-time bursts) and pops:
 * the three implementations must pop byte-identical events, seq included. */
START_TEST(test_queue_all_three_pop_identically)
{
    test_queue queues[3];
    const test_queue_kind kinds[3] = {TEST_QUEUE_HEAP, TEST_QUEUE_CALQ, TEST_QUEUE_RADIX};
    for (size_t q = 0; q < 3; q++) {
        ck_assert_int_eq(test_queue_init(&queues[q], kinds[q], (size_t)_i % 4 * 100), 0);
    }
    util_prng prng;
    util_prng_init(&prng, 7000 + (uint64_t)_i);
    uint64_t now_ns = 0;
    uint64_t tag = 0;
    size_t popped = 0;
    for (uint32_t step = 0; step < 5000; step++) {
        uint64_t pick = util_prng_below(&prng, 100);
        size_t burst = pick < 10 ? 1 + util_prng_below(&prng, 40) : (pick < 55 ? 1 : 0);
        uint64_t at_ns = test_queue_monotone_at(&prng, now_ns, _i % 4 == 0);
        for (size_t k = 0; k < burst; k++) {
            uint32_t kind = (uint32_t)util_prng_below(&prng, 6);
            uint32_t arg = (uint32_t)util_prng_next(&prng);
            for (size_t q = 0; q < 3; q++) {
                TEST_ASSERT_INT_EQ(test_queue_push_kind(&queues[q], at_ns, kind, arg, tag), 0);
            }
            tag += 1;
        }
        size_t pops = burst == 0 ? 1 + util_prng_below(&prng, 3) : 0;
        for (size_t k = 0; k < pops; k++) {
            sim_event event;
            if (test_queue_pop_three(queues, &event)) {
                now_ns = event.at_ns;
                popped += 1;
            }
        }
    }
    sim_event event;
    while (test_queue_pop_three(queues, &event)) {
        popped += 1;
    }
    ck_assert_uint_eq(popped, tag);
    for (size_t q = 0; q < 3; q++) {
        test_queue_deinit(&queues[q]);
    }
}
END_TEST

/* A push before the last popped instant breaks the monotone contract. */
START_TEST(test_queue_radix_push_in_past_asserts)
{
    sim_radix radix;
    ck_assert_int_eq(sim_radix_init(&radix, 0), 0);
    ck_assert_int_eq(sim_radix_push(&radix, 50, 0, 0, 0), 0);
    sim_event event;
    ck_assert(sim_radix_pop(&radix, &event));
    ck_assert_int_eq(sim_radix_push(&radix, 50, 0, 0, 1), 0);
    test_stderr_silence();                 /* the expected message */
    sim_radix_push(&radix, 49, 0, 0, 2);   /* aborts */
}
END_TEST

/* The radix heap's prefetch hint names the event the next pop returns
 * whenever nothing was pushed in between (a hint, but an exact one). */
START_TEST(test_queue_radix_peek_hint_names_next_pop)
{
    sim_radix radix;
    util_prng prng;
    ck_assert_int_eq(sim_radix_init(&radix, 16), 0);
    util_prng_init(&prng, 99);
    uint64_t now_ns = 0;
    uint32_t named = 0;
    for (uint32_t i = 0; i < 200000; i++) {
        uint32_t pushes = (uint32_t)util_prng_below(&prng, 3);
        for (uint32_t p = 0; p < pushes; p++) {
            uint64_t delay = util_prng_below(&prng, 4) == 0 ? 0 : util_prng_below(&prng, 1u << 20);
            TEST_ASSERT_INT_EQ(sim_radix_push(&radix, now_ns + delay, 1, i, p), 0);
        }
        const sim_event *hint = sim_radix_peek_hint(&radix);
        sim_event expected = hint != NULL ? *hint : (sim_event){0};
        sim_event event;
        if (!sim_radix_pop(&radix, &event)) {
            ck_assert_ptr_null(hint);
            continue;
        }
        TEST_ASSERT(hint != NULL);
        TEST_ASSERT_UINT_EQ(expected.seq, event.seq);
        TEST_ASSERT_UINT_EQ(expected.at_ns, event.at_ns);
        named++;
        now_ns = event.at_ns;
    }
    ck_assert_uint_gt(named, 100000);
    sim_radix_deinit(&radix);
}
END_TEST

/* Pushes one event into both queues. */
static void test_queue_push_both(sim_heap *heap, sim_radix *radix, uint64_t at_ns, uint64_t tag)
{
    TEST_ASSERT_INT_EQ(sim_heap_push(heap, at_ns, 2, 0, tag), 0);
    TEST_ASSERT_INT_EQ(sim_radix_push(radix, at_ns, 2, 0, tag), 0);
}

/* Pops one event from both: byte-identical. Returns its at_ns. */
static uint64_t test_queue_pop_both(sim_heap *heap, sim_radix *radix)
{
    sim_event want, got;
    TEST_ASSERT(sim_heap_pop(heap, &want));
    TEST_ASSERT(sim_radix_pop(radix, &got));
    TEST_ASSERT(memcmp(&got, &want, sizeof(got)) == 0);
    return got.at_ns;
}

/* The radix heap's chunks, against the heap: 150,000 spread events (many
 * chunks a bucket, refills of many chunks, slabs added past the reserve)
 * and 4,000 at one instant (bucket 0 popped across chunk boundaries while
 * more arrive at that instant); it holds chunks for about its peak count,
 * not for every bucket's high-water mark, and pops in exact order. */
START_TEST(test_queue_radix_chunks_and_slabs)
{
    sim_heap heap;
    sim_radix radix;
    ck_assert_int_eq(sim_heap_init(&heap, 0), 0);
    ck_assert_int_eq(sim_radix_init(&radix, 0), 0);
    size_t first_bytes = sim_radix_bytes(&radix);
    util_prng prng;
    util_prng_init(&prng, 77);
    for (uint64_t i = 0; i < 150000; i++) {
        test_queue_push_both(&heap, &radix, 10 + util_prng_below(&prng, 5000000), i);
    }
    for (uint64_t i = 0; i < 4000; i++) {
        test_queue_push_both(&heap, &radix, 7, 1000000 + i);
    }
    size_t peak = sim_radix_count(&radix);
    size_t bytes = sim_radix_bytes(&radix);
    ck_assert_uint_gt(bytes, first_bytes);
    /* The reserve plus a quarter's growth over the events' own chunks. */
    ck_assert_uint_le(bytes, (peak / SIM_RADIX_CHUNK + SIM_RADIX_BUCKETS + 5) *
                                 sizeof(sim_radix_chunk) * 5 / 4);
    uint64_t now_ns = 0;
    for (uint64_t i = 0; sim_radix_count(&radix) > 0; i++) {
        if (now_ns == 7 && i % 2 == 0 && i < 6000) {
            test_queue_push_both(&heap, &radix, 7, 2000000 + i);
        } else if (i % 3 == 0 && i < 300000) {
            test_queue_push_both(&heap, &radix, now_ns + util_prng_below(&prng, 1u << 16), i);
        }
        now_ns = test_queue_pop_both(&heap, &radix);
    }
    ck_assert_uint_eq(sim_heap_count(&heap), 0);
    ck_assert_uint_eq(sim_radix_bytes(&radix), bytes); /* popping allocated nothing */
    sim_heap_deinit(&heap);
    sim_radix_deinit(&radix);
}
END_TEST

Suite *test_queue_suite(void)
{
    Suite *suite = suite_create("queue");
    /* Under ASan (make sanitize) a third of the random seeds: the memory
     * checks need the code paths, which ten seeds cover, not the volume. */
    int seeds = getenv("INFERSIM_SANITIZE") != NULL ? 10 : 30;

    TCase *heap = tcase_create("heap");
    tcase_set_timeout(heap, 20);
    tcase_add_test(heap, test_queue_heap_ties_pop_in_push_order);
    tcase_add_loop_test(heap, test_queue_heap_random_matches_reference, 0, seeds);
    tcase_add_test(heap, test_queue_heap_growth_from_tiny_hint);
    tcase_add_test(heap, test_queue_heap_oom_fails_cleanly);
    tcase_add_test(heap, test_queue_heap_peek_and_replace_top);
    suite_add_tcase(suite, heap);

    TCase *calq = tcase_create("calq");
    tcase_set_timeout(calq, 20);
    tcase_add_test(calq, test_queue_calq_ties_pop_in_push_order);
    tcase_add_loop_test(calq, test_queue_calq_random_matches_reference, 0, seeds);
    tcase_add_test(calq, test_queue_calq_growth_from_tiny_hint);
    tcase_add_test(calq, test_queue_calq_oom_fails_cleanly);
    tcase_add_test(calq, test_queue_calq_far_future);
    tcase_add_test(calq, test_queue_calq_push_at_current_time);
    tcase_add_test(calq, test_queue_calq_across_resize);
    suite_add_tcase(suite, calq);

    TCase *radix = tcase_create("radix");
    tcase_set_timeout(radix, 20);
    tcase_add_test(radix, test_queue_radix_ties_pop_in_push_order);
    tcase_add_test(radix, test_queue_radix_peek_hint_names_next_pop);
    tcase_add_loop_test(radix, test_queue_radix_random_matches_reference, 0, seeds);
    tcase_add_test(radix, test_queue_radix_growth_from_tiny_hint);
    tcase_add_test(radix, test_queue_radix_bursts_across_refill);
    tcase_add_test(radix, test_queue_radix_chunks_and_slabs);
    tcase_add_test(radix, test_queue_radix_max_keys);
    tcase_add_loop_test(radix, test_queue_radix_oom_fails_cleanly, 0, 4);
    tcase_add_loop_test(radix, test_queue_all_three_pop_identically, 0, seeds / 4 + 1);
    tcase_add_test_raise_signal(radix, test_queue_radix_push_in_past_asserts, SIGABRT);
    suite_add_tcase(suite, radix);
    return suite;
}
