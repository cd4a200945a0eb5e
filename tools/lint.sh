#!/bin/sh
# lint.sh -- the layering and determinism rules of STYLE.md, checked by grep:
#  * node/ and consensus/ include nothing but util/ headers and libc (and
#    node/ also consensus/);
#  * no rand(), time(), clock reads or getenv outside testbed/ and tools/
#    (metrics/ may read the wall clock for started_at/finished_at only);
#  * no -ffast-math anywhere.
set -u
status=0
fail() { echo "lint: $*" >&2; status=1; }

for file in node/*.[ch] consensus/*.[ch]; do
    [ -e "$file" ] || continue
    own=$(dirname "$file")
    below=util; [ "$own" = node ] && below=consensus
    if grep -n '#include "' "$file" |
        grep -v -e '#include "util/' -e "#include \"$own/" -e "#include \"$below/"; then
        fail "$file: includes a header outside util/, consensus/ (node/ only) and its own folder"
    fi
    if grep -n '#include <\(sodium\|sqlite3\|yaml\|event2/\|curl/\)' "$file"; then
        fail "$file: includes a third-party library"
    fi
done

for file in util/*.c node/*.c consensus/*.c sim/*.c scenarios/*.c; do
    [ -e "$file" ] || continue
    if grep -nE '\b(rand|srand|random|time|gettimeofday|clock_gettime|clock|getenv)\s*\(' "$file" |
        grep -vE '^\s*[0-9]+:\s*(/\*|\*)'; then
        fail "$file: clock, rand() or getenv in deterministic code"
    fi
done

if grep -rn 'fast-math' Makefile */*.c */*.h 2>/dev/null | grep -v 'lint.sh'; then
    fail "-ffast-math is not allowed"
fi
[ $status -eq 0 ] && echo "lint: ok"
exit $status
