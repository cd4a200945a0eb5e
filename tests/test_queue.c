/* test_queue.c -- sim/queue.c: both pending-event sets (4-ary heap and
 * calendar queue) against one contract. Equal instants pop in push order;
 * random interleavings match a sorted reference over many seeds; storage
 * grows from a tiny hint and fails cleanly when allocation fails; the
 * calendar survives resizes, far-future events and events at the current
 * time; the heap's replace_top equals a pop and a push. */
#include <stdlib.h>
#include <string.h>

#include "sim/queue.h"
#include "tests/suites.h"
#include "util/alloc.h"
#include "util/prng.h"

/* One interface over both implementations, so every test runs on each. */
typedef struct test_queue {
    bool is_calq;
    sim_heap heap;
    sim_calq calq;
} test_queue;

static int test_queue_init(test_queue *queue, bool is_calq, size_t hint)
{
    memset(queue, 0, sizeof(*queue));
    queue->is_calq = is_calq;
    return is_calq ? sim_calq_init(&queue->calq, hint) : sim_heap_init(&queue->heap, hint);
}

static void test_queue_deinit(test_queue *queue)
{
    if (queue->is_calq) {
        sim_calq_deinit(&queue->calq);
    } else {
        sim_heap_deinit(&queue->heap);
    }
}

static int test_queue_push(test_queue *queue, uint64_t at_ns, uint32_t arg, uint64_t arg2)
{
    return queue->is_calq ? sim_calq_push(&queue->calq, at_ns, 1, arg, arg2)
                          : sim_heap_push(&queue->heap, at_ns, 1, arg, arg2);
}

static bool test_queue_pop(test_queue *queue, sim_event *out)
{
    return queue->is_calq ? sim_calq_pop(&queue->calq, out) : sim_heap_pop(&queue->heap, out);
}

static size_t test_queue_count(const test_queue *queue)
{
    return queue->is_calq ? sim_calq_count(&queue->calq) : sim_heap_count(&queue->heap);
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
    ck_assert_uint_gt(ref->count, 0);
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
    ck_assert_uint_eq(got->at_ns, want->at_ns);
    ck_assert_uint_eq(got->arg2, want->arg2);
    ck_assert_uint_eq(got->arg, want->arg);
    ck_assert_uint_eq(got->kind, want->kind);
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

static void test_queue_random_run(bool is_calq, uint64_t seed)
{
    enum { ops = 6000 };
    test_queue queue;
    test_queue_ref ref = {.events = malloc(ops * sizeof(sim_event)), .count = 0, .next_seq = 0};
    ck_assert_ptr_nonnull(ref.events);
    ck_assert_int_eq(test_queue_init(&queue, is_calq, seed % 3 == 0 ? 0 : 64), 0);
    util_prng prng;
    util_prng_init(&prng, seed);
    uint64_t now_ns = 0;
    /* Phases of mostly pushing then mostly popping drive calq resizes. */
    for (uint32_t i = 0; i < ops; i++) {
        uint64_t push_percent = (i / 1000) % 2 == 0 ? 70 : 35;
        if (ref.count == 0 || util_prng_below(&prng, 100) < push_percent) {
            uint64_t at_ns = test_queue_random_at(&prng, now_ns);
            ck_assert_int_eq(test_queue_push(&queue, at_ns, i % 7, i), 0);
            test_queue_ref_push(&ref, at_ns, i % 7, i);
        } else {
            sim_event got;
            ck_assert(test_queue_pop(&queue, &got));
            sim_event want = test_queue_ref_pop(&ref);
            test_queue_assert_same(&got, &want);
            now_ns = got.at_ns == UINT64_MAX - got.at_ns % 3 ? now_ns : got.at_ns;
        }
        ck_assert_uint_eq(test_queue_count(&queue), ref.count);
    }
    while (ref.count > 0) {
        sim_event got;
        ck_assert(test_queue_pop(&queue, &got));
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
    test_queue_random_run(false, 1000 + (uint64_t)_i);
}
END_TEST

START_TEST(test_queue_calq_random_matches_reference)
{
    test_queue_random_run(true, 1000 + (uint64_t)_i);
}
END_TEST

/* Ties pop in push order, interleaved with earlier and later instants. */
static void test_queue_ties_run(bool is_calq)
{
    test_queue queue;
    ck_assert_int_eq(test_queue_init(&queue, is_calq, 4), 0);
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
    test_queue_ties_run(false);
}
END_TEST

START_TEST(test_queue_calq_ties_pop_in_push_order)
{
    test_queue_ties_run(true);
}
END_TEST

/* Grows from the smallest hint to 20000 events, then pops in order. */
static void test_queue_growth_run(bool is_calq)
{
    test_queue queue;
    ck_assert_int_eq(test_queue_init(&queue, is_calq, 1), 0);
    sim_event none;
    ck_assert(!test_queue_pop(&queue, &none));
    util_prng prng;
    util_prng_init(&prng, 5);
    for (uint32_t i = 0; i < 20000; i++) {
        ck_assert_int_eq(test_queue_push(&queue, util_prng_below(&prng, 1000000), 0, i), 0);
    }
    ck_assert_uint_eq(test_queue_count(&queue), 20000);
    sim_event previous;
    ck_assert(test_queue_pop(&queue, &previous));
    for (uint32_t i = 1; i < 20000; i++) {
        sim_event event;
        ck_assert(test_queue_pop(&queue, &event));
        ck_assert(sim_event_before(&previous, &event));
        previous = event;
    }
    ck_assert(!test_queue_pop(&queue, &none));
    ck_assert_uint_eq(test_queue_count(&queue), 0);
    test_queue_deinit(&queue);
}

START_TEST(test_queue_heap_growth_from_tiny_hint)
{
    test_queue_growth_run(false);
}
END_TEST

START_TEST(test_queue_calq_growth_from_tiny_hint)
{
    test_queue_growth_run(true);
}
END_TEST

/* Out of memory: init fails with -1; a failed growth returns -1 and leaves
 * every stored event in place. */
static void test_queue_oom_run(bool is_calq)
{
    test_queue queue;
    util_alloc_fail_after(1);
    ck_assert_int_eq(test_queue_init(&queue, is_calq, 16), -1);
    util_alloc_fail_after(0);
    ck_assert_int_eq(test_queue_init(&queue, is_calq, 16), 0);
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
    test_queue_oom_run(false);
}
END_TEST

START_TEST(test_queue_calq_oom_fails_cleanly)
{
    test_queue_oom_run(true);
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

Suite *test_queue_suite(void)
{
    Suite *suite = suite_create("queue");

    TCase *heap = tcase_create("heap");
    tcase_set_timeout(heap, 20);
    tcase_add_test(heap, test_queue_heap_ties_pop_in_push_order);
    tcase_add_loop_test(heap, test_queue_heap_random_matches_reference, 0, 30);
    tcase_add_test(heap, test_queue_heap_growth_from_tiny_hint);
    tcase_add_test(heap, test_queue_heap_oom_fails_cleanly);
    tcase_add_test(heap, test_queue_heap_peek_and_replace_top);
    suite_add_tcase(suite, heap);

    TCase *calq = tcase_create("calq");
    tcase_set_timeout(calq, 20);
    tcase_add_test(calq, test_queue_calq_ties_pop_in_push_order);
    tcase_add_loop_test(calq, test_queue_calq_random_matches_reference, 0, 30);
    tcase_add_test(calq, test_queue_calq_growth_from_tiny_hint);
    tcase_add_test(calq, test_queue_calq_oom_fails_cleanly);
    tcase_add_test(calq, test_queue_calq_far_future);
    tcase_add_test(calq, test_queue_calq_push_at_current_time);
    tcase_add_test(calq, test_queue_calq_across_resize);
    suite_add_tcase(suite, calq);
    return suite;
}
