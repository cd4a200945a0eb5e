#!/bin/sh
# lint.sh -- the layering and determinism rules, checked by grep:
#  * the folder graph (allowed() below): no sideways or upward include, and a
#    folder's private *_int.h header stays in its folder (tests aside);
#  * node/ and consensus/ include no third-party library;
#  * no rand(), time(), clock reads or getenv outside testbed/ and tools/
#    (metrics/ may read the wall clock for started_at/finished_at only);
#  * fuzz/ may include any folder's public header (the graph's ANY) and stays
#    deterministic (a crash must replay from its input alone);
#  * no -ffast-math anywhere.
set -u
status=0
fail() { echo "lint: $*" >&2; status=1; }

# The folder graph: which folders each folder's files may include, besides
# its own. Dependencies point one way (util < consensus < node < world <
# sim, testbed < tools); scenarios/ and metrics/ stand beside the drivers.
# sim/ and testbed/ are siblings: neither includes the other.
allowed() {
    case "$1" in
        util) echo "" ;;
        consensus) echo "util" ;;
        node) echo "util consensus" ;;
        scenarios) echo "util consensus" ;;
        metrics) echo "util scenarios" ;;
        world) echo "util consensus node scenarios" ;;
        sim) echo "util consensus node scenarios world" ;;
        testbed) echo "util consensus node scenarios world" ;;
        *) echo "ANY" ;;
    esac
}

for file in util/*.[ch] consensus/*.[ch] node/*.[ch] scenarios/*.[ch] metrics/*.[ch] \
    world/*.[ch] sim/*.[ch] testbed/*.[ch] tools/*.[ch] bench/*.[ch] fuzz/*.[ch]; do
    [ -e "$file" ] || continue
    own=$(dirname "$file")
    ok=$(allowed "$own")
    for target in $(sed -n 's/^#include "\([a-z_]*\)\/.*/\1/p' "$file" | sort -u); do
        [ "$target" = "$own" ] && continue
        [ "$ok" = "ANY" ] && continue
        case " $ok " in
            *" $target "*) ;;
            *) fail "$file: includes $target/, which $own/ may not (folder graph in lint.sh)" ;;
        esac
    done
    # A folder's private header (*_int.h) is its own; tests may look inside.
    if grep -n '#include "[a-z_]*/[a-z_]*_int\.h"' "$file" | grep -v "#include \"$own/"; then
        fail "$file: includes another folder's private *_int.h header"
    fi
done

for file in node/*.[ch] consensus/*.[ch]; do
    [ -e "$file" ] || continue
    if grep -n '#include <\(sodium\|sqlite3\|yaml\|event2/\|curl/\)' "$file"; then
        fail "$file: includes a third-party library"
    fi
done

for file in util/*.c node/*.c consensus/*.c world/*.c sim/*.c scenarios/*.c fuzz/*.c; do
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
