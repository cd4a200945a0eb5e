#!/bin/sh
# fuzz.sh -- replay each target's corpus, then fuzz it for a bounded time.
#   tools/fuzz.sh SECONDS [TARGET...]     (make fuzz-run FUZZ_SECONDS=60)
# Targets are build/fuzz/fuzz_<target> (FUZZ_BIN moves the folder); the
# default is all of them, one at a time. For each: every file of
# fuzz/corpus/<target>/ runs once (a regression input that crashes fails
# here), then libFuzzer runs for SECONDS with bounded input length and
# memory; peer, each of whose inputs builds and runs a whole world (65 to
# 95 inputs a second under the sanitizers, against thousands for the
# others), for six times SECONDS. New corpus entries and crash files go to a
# temporary directory (FUZZ_OUT, default mktemp -d), never into the tree;
# nothing is merged back. Prints one line per target (execs, exec/s, new
# inputs). Exits 1 when a target crashed, leaked or timed out, with the
# reproducer's path; the directory is then kept.
set -u
SECONDS_EACH=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-scenario frame peer checkpoint infer_body tokenizer bft vrf}
BIN=${FUZZ_BIN:-build/fuzz}
CORPUS=fuzz/corpus
OUT=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/infersim-fuzz.XXXXXX")}
mkdir -p "$OUT" || exit 2
RSS_MB=${FUZZ_RSS_MB:-2048}
status=0

# The longest input and the dictionary of a target.
options() {
    case "$1" in
        scenario) echo "-max_len=8192 -dict=fuzz/dict/yaml.dict" ;;
        frame) echo "-max_len=4096" ;;
        peer) echo "-max_len=4096" ;;
        checkpoint) echo "-max_len=8192" ;;
        tokenizer) echo "-max_len=8192" ;;
        infer_body) echo "-max_len=2048 -dict=fuzz/dict/json.dict" ;;
        bft) echo "-max_len=16384" ;;
        vrf) echo "-max_len=256" ;;
        *) echo "" ;;
    esac
}

# The seconds a target is fuzzed for.
seconds_of() {
    case "$1" in
        peer) echo $((SECONDS_EACH * 6)) ;;
        *) echo "$SECONDS_EACH" ;;
    esac
}

# Runs every checked-in input of a target once.
replay() {
    target=$1
    files=$(find "$CORPUS/$target" -type f | sort)
    [ -n "$files" ] || return 0
    # shellcheck disable=SC2086
    if ! "$BIN/fuzz_$target" -rss_limit_mb="$RSS_MB" -timeout=10 $files \
        >"$OUT/$target.replay.log" 2>&1; then
        echo "fuzz: $target: a corpus input fails; see $OUT/$target.replay.log" >&2
        grep -E '^(Running|==[0-9]+==ERROR|SUMMARY|.*runtime error)' \
            "$OUT/$target.replay.log" | tail -5 >&2
        return 1
    fi
    echo "fuzz: $target: replayed $(echo "$files" | wc -l) corpus inputs"
}

# Fuzzes a target for seconds_of it into $OUT/<target>/.
run() {
    target=$1
    mkdir -p "$OUT/$target" "$OUT/$target.artifacts"
    # shellcheck disable=SC2046
    "$BIN/fuzz_$target" $(options "$target") -max_total_time="$(seconds_of "$target")" \
        -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$RSS_MB" -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$OUT/$target.artifacts/" \
        "$OUT/$target" "$CORPUS/$target" >"$OUT/$target.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$target.log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$OUT/$target.log" | tail -1)
    found=$(find "$OUT/$target" -type f | wc -l)
    printf 'fuzz: %-10s %12s execs %8s exec/s %6s new inputs  %s\n' "$target" \
        "${execs:-?}" "${speed:-?}" "$found" "$([ $rc -eq 0 ] && echo ok || echo FAILED)"
    if [ $rc -ne 0 ]; then
        # What the failure was (sanitizer, libFuzzer or an assertion) and
        # the first frames of its stack.
        grep -E '==[0-9]+== ?ERROR|SUMMARY|runtime error|assertion failed|Test unit written' \
            "$OUT/$target.log" | head -8 >&2
        grep -E '^ +#[0-9]+ ' "$OUT/$target.log" | head -12 >&2
        for crash in "$OUT/$target.artifacts"/*; do
            [ -e "$crash" ] || continue
            echo "fuzz: $target: reproducer $crash (run: $BIN/fuzz_$target $crash)" >&2
            # A small input in Base64 too, so the reproducer outlives the
            # machine that found it: base64 -d > crash, then run as above.
            if [ "$(wc -c <"$crash")" -le 2048 ]; then
                echo "fuzz: $target: reproducer in Base64: $(base64 -w0 "$crash")" >&2
            fi
        done
        return 1
    fi
}

for target in $TARGETS; do
    if [ ! -x "$BIN/fuzz_$target" ]; then
        echo "fuzz: no $BIN/fuzz_$target (make fuzz)" >&2
        exit 2
    fi
    replay "$target" || { status=1; continue; }
    [ "$SECONDS_EACH" -gt 0 ] && { run "$target" || status=1; }
done
if [ $status -eq 0 ] && [ -z "${FUZZ_OUT:-}" ]; then
    rm -rf "$OUT"
else
    echo "fuzz: logs and inputs in $OUT"
fi
exit $status
