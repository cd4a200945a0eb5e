/* alloc.h -- the one allocation hook of infersim (Lua's lua_Alloc). Every
 * module allocates through util_malloc/util_calloc/util_realloc/util_free so
 * tests can make the Nth allocation fail and check the OOM paths. The hook is
 * process-global and not thread-safe; infersim is single-threaded. */
#ifndef UTIL_ALLOC_H
#define UTIL_ALLOC_H

#include <stddef.h>

/* Same contract as realloc(ptr, size), with size 0 meaning free(ptr). */
typedef void *(*util_alloc_fn)(void *ctx, void *ptr, size_t size);

/* Installs 'fn' (NULL restores the libc default). Cannot fail. */
void util_alloc_set_hook(util_alloc_fn fn, void *ctx);
/* The libc default itself, large blocks on huge-page boundaries included:
 * for a hook that wraps it, such as one that counts bytes, so that what
 * runs under the hook keeps the layout of a run without it. */
void *util_alloc_default(void *ctx, void *ptr, size_t size);

/* Test helper: the 'nth' allocation from now on (1-based) and every later
 * one fail and return NULL; 0 disables failure injection. Cannot fail. */
void util_alloc_fail_after(unsigned long nth);

/* Return NULL on failure (or injected failure); size 0 returns NULL. */
void *util_malloc(size_t size);
void *util_calloc(size_t count, size_t size);
void *util_realloc(void *ptr, size_t size);
/* util_calloc for a large array of which a run may use few entries: with
 * the libc default it is libc's calloc, whose fresh pages are zero without
 * being written and without huge pages, so only the pages a run writes
 * become resident; under a hook or failure injection it is util_calloc. */
void *util_calloc_sparse(size_t count, size_t size);
/* util_calloc for a large block a run fills in part: zeroed at once (on
 * huge pages, which pays in a run that uses much of it), except in a build
 * under AddressSanitizer (make sanitize, the fuzz targets), where it is
 * util_calloc_sparse: there the intercepted zeroing and its 4 KiB page
 * faults cost more than the pages a short run touches. */
void *util_calloc_large(size_t count, size_t size);

/* 1 in a build under AddressSanitizer (gcc says so with
 * __SANITIZE_ADDRESS__, clang with __has_feature), else 0: what
 * util_calloc_large chooses by, and what a test of page residency asks. */
#if defined(__SANITIZE_ADDRESS__)
#define UTIL_ALLOC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UTIL_ALLOC_ASAN 1
#endif
#endif
#ifndef UTIL_ALLOC_ASAN
#define UTIL_ALLOC_ASAN 0
#endif

/* Asks that the whole 4 KiB pages of a block of 'size' bytes at 'ptr' stay
 * 4 KiB pages, undoing the default hook's huge-page advice: for storage a
 * run grows into as it goes (message slots, the event queue's chunks),
 * whose pages are first touched inside the event loop. Advice only; blocks
 * under 2 MiB are left alone. Cannot fail. */
void util_alloc_small_pages(void *ptr, size_t size);
/* Duplicates a NUL-terminated string, or NULL on failure. */
char *util_strdup(const char *text);
void util_free(void *ptr);

#endif
