/* assert.h -- programmer-error assertions. ASSERT stays on in every build
 * of infersim (debug, sim, bench); a failing assertion prints file, line and
 * expression, then aborts. Never ASSERT on input from a file or a peer:
 * return an error instead. No side effects inside an ASSERT. */
#ifndef UTIL_ASSERT_H
#define UTIL_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define ASSERT(expr)                                                                \
    do {                                                                            \
        if (!(expr)) {                                                              \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__,    \
                    #expr);                                                         \
            abort();                                                                \
        }                                                                           \
    } while (0)

#define UTIL_ARRAY_COUNT(a) (sizeof(a) / sizeof((a)[0]))

#endif
