#!/usr/bin/env bash
# Regression guard for the hot paths: instructions per request, counted by
# callgrind, not wall-clock time, so a busy machine does not change the figures.
#
#   scripts/perf-guard.sh            # build release, count, compare with the baseline
#   scripts/perf-guard.sh --record   # count and write the baseline (after a deliberate change)
#
# For each path (`holdfast bench --hotpath`: sigv4 = signed HeadBucket, put4k, get4k, head =
# HeadObject, list = a ListObjectsV2 page of 1,000 keys) it runs
# the same program twice under callgrind, once sending ITERS requests and once only
# preparing them (--dry), and prints (difference / ITERS): what the server side costs per
# request, setup and client signing cancelled out. Fails when a path costs more than
# TOLERANCE percent above its baseline (and says so when it is far below: record anew).
#
# Needs valgrind (apt-get install valgrind); not part of `cargo test` or CI.
# Environment: HOLDFAST_BIN (default: build target/release/holdfast), ITERS (default 300),
# TOLERANCE (percent, default 5), BASELINE (default scripts/perf-baseline.txt), PATHS (a subset).
set -euo pipefail
cd "$(dirname "$0")/.."

RECORD=""
[[ "${1:-}" == "--record" ]] && RECORD=1
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 2; }
if [[ -z "${HOLDFAST_BIN:-}" ]]; then
    cargo build --release -p holdfast >&2
    HOLDFAST_BIN="${CARGO_TARGET_DIR:-target}/release/holdfast"
fi
ITERS="${ITERS:-300}"
TOLERANCE="${TOLERANCE:-5}"
BASELINE="${BASELINE:-scripts/perf-baseline.txt}"

# Instructions (Ir) of one run, all threads.
count() {
    local log
    log="$(mktemp)"
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --log-file="$log" \
        "$HOLDFAST_BIN" bench --hotpath "$1" --count "$ITERS" ${2:+--dry} >/dev/null
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log"
    rm -f "$log"
}

status=0
results=""
printf '%-8s %14s %14s %8s\n' path "instr/request" baseline change
for path in ${PATHS:-sigv4 put4k get4k head list}; do
    wet="$(count "$path" "")"
    dry="$(count "$path" dry)"
    per=$(((wet - dry) / ITERS))
    results+="$path $per"$'\n'
    base="$(awk -v p="$path" '$1 == p {print $2}' "$BASELINE" 2>/dev/null || true)"
    if [[ -z "$RECORD" && -n "$base" ]]; then
        change="$(awk -v a="$per" -v b="$base" 'BEGIN {printf "%+.1f%%", (a - b) * 100 / b}')"
        printf '%-8s %14d %14d %8s\n' "$path" "$per" "$base" "$change"
        if awk -v a="$per" -v b="$base" -v t="$TOLERANCE" 'BEGIN {exit !(a > b * (1 + t / 100))}'; then
            echo "REGRESSION: $path costs $change instructions per request (tolerance ${TOLERANCE}%)" >&2
            status=1
        elif awk -v a="$per" -v b="$base" -v t="$TOLERANCE" 'BEGIN {exit !(a < b * (1 - 2 * t / 100))}'; then
            echo "note: $path is much cheaper than its baseline; record it (--record) to keep the gain" >&2
        fi
    else
        printf '%-8s %14d %14s %8s\n' "$path" "$per" "-" "-"
    fi
done
if [[ -n "$RECORD" ]]; then
    # Paths not counted this time (PATHS=...) keep their recorded line.
    kept="$(printf '%s' "$results" | awk 'NR == FNR {seen[$1] = 1; next} !/^#/ && !($1 in seen)' - "$BASELINE" 2>/dev/null || true)"
    {
        echo "# instructions per request (callgrind Ir, server side), ITERS=$ITERS, $(date -u +%F), $("$HOLDFAST_BIN" --version)"
        [[ -n "$kept" ]] && echo "$kept"
        printf '%s' "$results"
    } >"$BASELINE.new"
    mv "$BASELINE.new" "$BASELINE"
    echo "baseline written to $BASELINE"
fi
exit "$status"
