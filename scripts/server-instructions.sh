#!/usr/bin/env bash
# What one request costs the real server, HTTP edge included: instructions per request of the
# `holdfast serve` process (callgrind, all threads, user space), driven over loopback by
# `holdfast bench`. perf-guard.sh counts the S3 service in-process (no hyper, no edge); this
# counts everything the server process runs for a request, so a cost in hyper's parsing, the
# edge's guards or the futures around a call shows here and not there.
#
#   scripts/server-instructions.sh                       # get, head and put, 4 KiB, build first
#   HOLDFAST_BIN=/tmp/holdfast scripts/server-instructions.sh get head
#
# Each op runs two cells on one server under callgrind, of N1 and N2 requests (each cell with
# the bench's own setup and cleanup: for get and head it writes and removes 1,000 objects, for
# put it removes what it wrote), and prints (instructions of the N2 cell - those of the N1 cell)
# / (N2 - N1). For put that is a PUT and its cleanup's DELETE. Background work that runs by the
# clock (pollers, the metrics upkeep) lands in whichever cell it falls: repeated counts agree
# within about 3 %, so compare builds back to back, more than once.
#
# Needs valgrind (apt-get install valgrind). Environment: HOLDFAST_BIN (default: build
# target/release/holdfast), CONCURRENCY (default 16), N1 (500), N2 (2500), KEEP (a directory:
# keep each op's callgrind file there, for callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 2; }
if [[ -z "${HOLDFAST_BIN:-}" ]]; then
    cargo build --release -p holdfast >&2
    HOLDFAST_BIN="${CARGO_TARGET_DIR:-target}/release/holdfast"
fi
BIN="$(realpath "$HOLDFAST_BIN")"
C="${CONCURRENCY:-16}"
N1="${N1:-500}"
N2="${N2:-2500}"
OPS=("$@")
[[ ${#OPS[@]} -eq 0 ]] && OPS=(get head put)

export HOLDFAST_ROOT_ACCESS_KEY=HFINSTRROOTKEY000001 HOLDFAST_ROOT_SECRET_KEY=hfinstr-secret-00000000000000000
export AWS_ACCESS_KEY_ID=$HOLDFAST_ROOT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$HOLDFAST_ROOT_SECRET_KEY HOLDFAST_LOG=warn
W="$(mktemp -d /var/tmp/server-instr.XXXXXX)"
SP=""
cleanup() {
    [[ -n "$SP" ]] && kill "$SP" 2>/dev/null && wait "$SP" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

# Instructions since the last zeroing: dump, then read the newest dump's total.
dumped() {
    callgrind_control -d "$SP" >/dev/null 2>&1
    sleep 1
    sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$(ls -t "$W"/cg.* | head -1)" | head -1
}

cell() {
    callgrind_control -z "$SP" >/dev/null 2>&1
    "$BIN" bench --endpoint "$EP" --threads 1 --concurrency "$C" --count "$1" --duration 600s "${args[@]}" \
        >/dev/null 2>"$W/bench.err" || { cat "$W/bench.err" >&2; exit 1; }
    dumped
}

printf '%-6s %12s %22s\n' op concurrency "instructions/request"
for op in "${OPS[@]}"; do
    rm -rf "$W/data" "$W"/cg.*
    valgrind --tool=callgrind --callgrind-out-file="$W/cg.%p" --log-file="$W/vg.log" \
        "$BIN" serve --listen 127.0.0.1:0 --data-dir "$W/data" >"$W/out" 2>"$W/log" &
    SP=$!
    for _ in $(seq 600); do grep -q "listening on" "$W/out" 2>/dev/null && break; sleep 0.2; done
    EP="$(grep -o 'http://[0-9.:]*' "$W/out" | head -1)"
    [[ -n "$EP" ]] || { echo "the server did not start: $(cat "$W/log")" >&2; exit 1; }
    args=(--op "$op")
    [[ $op == get || $op == put ]] && args+=(--size 4KiB)
    a="$(cell "$N1")"
    b="$(cell "$N2")"
    [[ -n "${KEEP:-}" ]] && cp "$(ls -t "$W"/cg.* | head -1)" "$KEEP/callgrind.$op"
    printf '%-6s %12s %22d\n' "$op" "$C" $(((b - a) / (N2 - N1)))
    kill "$SP" && wait "$SP" 2>/dev/null || true
    SP=""
done
