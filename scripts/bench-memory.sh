#!/usr/bin/env bash
# Resident memory of the server through the heavy cells of scripts/bench-compare.sh (issue #17:
# "idle RSS after the run ≤ 50 MiB"), for this build and the previous release, one server at a
# time: RSS at start, the peak (VmHWM), right after the load and after SETTLE seconds idle, each
# split into anonymous and file-backed pages (RssAnon / RssFile: the binary's code, and any
# mmap'd file), with the threads; then the server is stopped and started again on the same
# data dir (holding the listing bucket, the versions and their audit trail) and its peak
# during that start is read.
#
#   scripts/bench-memory.sh                                  # this build and /work/prev-release/holdfast if present
#   PREV_BIN=/path/to/old/holdfast LIST_OBJECTS=1000000 scripts/bench-memory.sh   # the full preparation
#   NO_PREV=1 LIST_OBJECTS=20000 DURATION=2s scripts/bench-memory.sh              # quick
#
# Environment: HOLDFAST_BIN (default: build release; also the load client), PREV_BIN, NO_PREV=1,
# LIST_OBJECTS (keys of the listing bucket, 200000; bench-compare uses 1000000), VERSIONS (10000),
# DURATION (per cell, 5s), SETTLE (15), DATA_PARENT (/var/tmp), NO_LARGE=1 (no 64 MiB PUTs),
# NO_RESTART=1. Every load is bounded by --duration; what it starts is stopped and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${HOLDFAST_BIN:-}" ]]; then
    cargo build --release -p holdfast >&2
    HOLDFAST_BIN="${CARGO_TARGET_DIR:-target}/release/holdfast"
fi
HOLDFAST_BIN="$(realpath "$HOLDFAST_BIN")"
PREV_BIN="${PREV_BIN:-/work/prev-release/holdfast}"
[[ -n "${NO_PREV:-}" || ! -x "$PREV_BIN" ]] && PREV_BIN=""
LIST_OBJECTS="${LIST_OBJECTS:-200000}"
VERSIONS="${VERSIONS:-10000}"
DURATION="${DURATION:-5s}"
SETTLE="${SETTLE:-15}"
WORK="$(mktemp -d "${DATA_PARENT:-/var/tmp}/hfmemory.XXXXXX")"
export AWS_ACCESS_KEY_ID="HFMEMORYROOTKEY00001"
export AWS_SECRET_ACCESS_KEY="hfmemory-secret-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
export HOLDFAST_ROOT_ACCESS_KEY="$AWS_ACCESS_KEY_ID" HOLDFAST_ROOT_SECRET_KEY="$AWS_SECRET_ACCESS_KEY"
export HOLDFAST_LOG=warn

SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# mem PID: "total anon file threads" in MiB from /proc/PID/status (VmRSS = RssAnon + RssFile + RssShmem).
mem() {
    awk '/^VmRSS:/ {t=$2} /^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} /^Threads:/ {n=$2}
         END {printf "%.1f MiB (anon %.1f, file %.1f; %d threads)", t/1024, a/1024, f/1024, n}' "/proc/$1/status"
}
# alloc EP: jemalloc's own figures from /_holdfast/metrics (builds that publish them).
alloc() {
    curl -s "$1/_holdfast/metrics" 2>/dev/null | awk '/^holdfast_allocator_(allocated|resident|retained)_bytes / {
        sub("holdfast_allocator_", "", $1); sub("_bytes", "", $1); printf "%s %.1f MiB  ", $1, $2/1048576 }'
}
hwm() { awk '/^VmHWM:/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status"; }

# start NAME BIN: a server on a free port with the data dir $WORK/data-NAME; sets EP, SERVER_PID.
start() {
    local name=$1 bin=$2
    "$bin" serve --listen 127.0.0.1:0 --data-dir "$WORK/data-$name" >"$WORK/$name.out" 2>>"$WORK/$name.log" &
    SERVER_PID=$!
    for _ in $(seq 1 3000); do
        if grep -q "holdfast listening on" "$WORK/$name.out" 2>/dev/null; then
            EP="$(grep -o 'http://[0-9.:]*' "$WORK/$name.out" | head -1)"
            return
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server $name did not start: $(cat "$WORK/$name.log")" >&2
    exit 1
}
stop() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
bench() { "$HOLDFAST_BIN" bench --endpoint "$EP" --threads 1 "$@" >/dev/null 2>>"$WORK/bench.stderr" || true; }

run() {
    local name=$1 bin=$2
    echo "## $name: $bin ($("$bin" --version)); load $(loadavg)"
    start "$name" "$bin"
    echo "at start:                 $(mem "$SERVER_PID")"
    bench --op list --concurrency 1 --count 1 --duration 1s --list-objects "$LIST_OBJECTS" --list-bucket hfmemory-list
    echo "after $LIST_OBJECTS keys prepared: $(mem "$SERVER_PID")"
    bench --op head --concurrency 64 --duration "$DURATION"
    bench --op get --size 4KiB --concurrency 16 --duration "$DURATION"
    bench --op get --size 4KiB --concurrency 64 --duration "$DURATION"
    bench --op list --concurrency 1 --duration "$DURATION" --list-objects "$LIST_OBJECTS" --list-bucket hfmemory-list
    if "$HOLDFAST_BIN" bench -h | grep -q listversionskey; then
        bench --op listversionskey --concurrency 1 --duration "$DURATION" --count 300 --objects "$VERSIONS"
    fi
    bench --op put --size 4KiB --concurrency 64 --duration "$DURATION"
    if [[ -z "${NO_LARGE:-}" ]]; then
        bench --op put --size 64MiB --concurrency 1 --duration "$DURATION"
        bench --op put --size 64MiB --concurrency 4 --duration "$DURATION"
    fi
    echo "right after the load:     $(mem "$SERVER_PID"); peak $(hwm "$SERVER_PID")"
    sleep "$SETTLE"
    echo "after ${SETTLE}s idle:          $(mem "$SERVER_PID"); load $(loadavg)"
    local a
    a="$(alloc "$EP")"
    [[ -n "$a" ]] && echo "  jemalloc (Rust's allocations; SQLite's are glibc's): $a"
    stop
    if [[ -z "${NO_RESTART:-}" ]]; then
        local t0=$SECONDS
        start "$name" "$bin"
        echo "restarted on that data dir ($((SECONDS - t0)) s): $(mem "$SERVER_PID"); peak during the start $(hwm "$SERVER_PID")"
        stop
    fi
    rm -rf "$WORK/data-$name"
}

echo "# bench-memory: $(nproc) cores; LIST_OBJECTS=$LIST_OBJECTS VERSIONS=$VERSIONS DURATION=$DURATION SETTLE=$SETTLE"
run current "$HOLDFAST_BIN"
[[ -n "$PREV_BIN" ]] && run previous "$PREV_BIN"
echo "# load average at the end: $(loadavg)"
