#!/bin/sh
# git_rev.sh -- the revision a build names (runs.git_rev, `infersim --version`).
#   git_rev.sh [DIR]   DIR: the checkout, default the current directory
# Prints HEAD's first 12 hex digits, followed by "-dirty" when the checkout
# differs from that commit: a tracked file changed, or an untracked .c or .h
# file that the build's wildcards would compile. Prints "unknown" outside a
# git checkout, or where git is missing.
cd "${1:-.}" 2>/dev/null || { echo unknown; exit 0; }
rev=$(git rev-parse --short=12 HEAD 2>/dev/null) || { echo unknown; exit 0; }
if ! git diff --quiet HEAD -- 2>/dev/null ||
    [ -n "$(git ls-files --others --exclude-standard -- '*.c' '*.h' 2>/dev/null)" ]; then
    rev="$rev-dirty"
fi
echo "$rev"
