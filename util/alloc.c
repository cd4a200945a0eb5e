/* alloc.c -- the process-global allocation hook behind util_malloc and
 * friends. The default hook is libc realloc/free; tests install their own
 * hook or use util_alloc_fail_after to make the Nth allocation fail, so every
 * module's out-of-memory path can be exercised. Not thread-safe: infersim is
 * single-threaded. */
#include "util/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static util_alloc_fn alloc_hook = util_alloc_default;
static void *alloc_ctx = NULL;
/* Allocations left before injected failure starts; 0 = injection off. */
static unsigned long alloc_fail_countdown = 0;

/* Blocks this large (a million nodes' records and flags, message slots,
 * the link table, the queue's buckets) are touched at random: with 4 KiB
 * pages nearly every access also misses the TLB, and in a virtual machine
 * a miss walks two page tables. A new block this large starts on a 2 MiB
 * boundary, and asking for transparent huge pages over its whole 2 MiB
 * pages makes one TLB entry cover 512 pages where the kernel allows it
 * (THP 'madvise' or 'always'); where it does not, the advice is ignored. A
 * block regrown by realloc gets the advice over its aligned interior. Only
 * where the memory is mapped, never what it holds: results do not depend
 * on it. */
#define ALLOC_HUGE_MIN ((size_t)2 << 20)
#define ALLOC_HUGE_PAGE ((uintptr_t)2 << 20)
#define ALLOC_SMALL_PAGE ((uintptr_t)4096)

static void alloc_advise_huge(void *ptr, size_t size)
{
#ifdef MADV_HUGEPAGE
    uintptr_t first = ((uintptr_t)ptr + ALLOC_HUGE_PAGE - 1) & ~(ALLOC_HUGE_PAGE - 1);
    uintptr_t last = ((uintptr_t)ptr + size) & ~(ALLOC_HUGE_PAGE - 1);
    if (size >= ALLOC_HUGE_MIN && last > first) {
        (void)madvise((void *)first, last - first, MADV_HUGEPAGE);
    }
#else
    (void)ptr;
    (void)size;
#endif
}

/* A huge page's first touch zeroes 2 MiB at once. Where the memory comes
 * fresh from a hypervisor that takes back what a guest frees in large
 * blocks (free page reporting), that zeroing also waits on the host to
 * back every page: on a 2-core virtual machine 600 MiB took 0.7 to 1.5 s
 * on huge pages against 0.2 s on 4 KiB ones (random reads over it: 0.27
 * against 0.43 s). Storage that grows during the event loop pays that
 * inside the loop, once per page, and is read in order (the queue) or
 * reached through a prefetch (the slots), so it stays on 4 KiB pages;
 * storage built before the loop and read at random keeps the advice. */
void util_alloc_small_pages(void *ptr, size_t size)
{
#ifdef MADV_NOHUGEPAGE
    uintptr_t first = ((uintptr_t)ptr + ALLOC_SMALL_PAGE - 1) & ~(ALLOC_SMALL_PAGE - 1);
    uintptr_t last = ((uintptr_t)ptr + size) & ~(ALLOC_SMALL_PAGE - 1);
    if (ptr != NULL && size >= ALLOC_HUGE_MIN && last > first) {
        (void)madvise((void *)first, last - first, MADV_NOHUGEPAGE);
    }
#else
    (void)ptr;
    (void)size;
#endif
}

void *util_alloc_default(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    void *block;
    if (ptr == NULL && size >= ALLOC_HUGE_MIN) {
        /* On a huge page boundary, so that every whole 2 MiB of it can be
         * one; the padding before it is address space, never touched. */
        block = posix_memalign(&block, ALLOC_HUGE_PAGE, size) == 0 ? block : NULL;
    } else {
        block = realloc(ptr, size);
    }
    if (block != NULL) {
        alloc_advise_huge(block, size);
    }
    return block;
}

void util_alloc_set_hook(util_alloc_fn fn, void *ctx)
{
    alloc_hook = fn != NULL ? fn : util_alloc_default;
    alloc_ctx = fn != NULL ? ctx : NULL;
}

void util_alloc_fail_after(unsigned long nth)
{
    alloc_fail_countdown = nth;
}

/* True when this allocation must fail. Once the countdown reaches 1, it stays
 * there: the nth and every later allocation fail until reset. */
static int alloc_should_fail(void)
{
    if (alloc_fail_countdown == 0) {
        return 0;
    }
    if (alloc_fail_countdown == 1) {
        return 1;
    }
    alloc_fail_countdown -= 1;
    return 0;
}

void *util_malloc(size_t size)
{
    if (size == 0 || alloc_should_fail()) {
        return NULL;
    }
    return alloc_hook(alloc_ctx, NULL, size);
}

void *util_calloc(size_t count, size_t size)
{
    if (count == 0 || size == 0) {
        return NULL;
    }
    if (count > (size_t)-1 / size) {
        return NULL;
    }
    void *ptr = util_malloc(count * size);
    if (ptr != NULL) {
        memset(ptr, 0, count * size);
    }
    return ptr;
}

void *util_calloc_sparse(size_t count, size_t size)
{
    if (alloc_hook != util_alloc_default || alloc_fail_countdown != 0) {
        return util_calloc(count, size);
    }
    if (count == 0 || size == 0 || count > (size_t)-1 / size) {
        return NULL;
    }
    return calloc(count, size);
}

void *util_calloc_large(size_t count, size_t size)
{
    return UTIL_ALLOC_ASAN ? util_calloc_sparse(count, size) : util_calloc(count, size);
}

void *util_realloc(void *ptr, size_t size)
{
    if (size == 0) {
        util_free(ptr);
        return NULL;
    }
    if (alloc_should_fail()) {
        return NULL;
    }
    return alloc_hook(alloc_ctx, ptr, size);
}

char *util_strdup(const char *text)
{
    if (text == NULL) {
        return NULL;
    }
    size_t size = strlen(text) + 1;
    char *copy = util_malloc(size);
    if (copy != NULL) {
        memcpy(copy, text, size);
    }
    return copy;
}

void util_free(void *ptr)
{
    if (ptr != NULL) {
        alloc_hook(alloc_ctx, ptr, 0);
    }
}
