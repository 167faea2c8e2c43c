#!/usr/bin/env bash
# What the start's store-against-trail check costs: fills an embedded store with
# N COMPLIANCE-locked 4 KiB objects through `holdfast bench` (each write leaves its record in
# the audit trail), stops the server, starts it again and prints the check's figures from the
# start's log line (versions checked, milliseconds), the trail's size, and the start time.
#
#   scripts/bench-start-check.sh [path/to/holdfast]    (a release build; default target/release/holdfast)
#   OPS=100000 scripts/bench-start-check.sh
#
# Binds 127.0.0.1 on a free port in a temporary directory; everything is removed at exit.
set -euo pipefail
BIN=$(realpath "${1:-target/release/holdfast}")
OPS=${OPS:-20000}
work=$(mktemp -d /var/tmp/hf-startcheck.XXXXXX)
export HOLDFAST_ROOT_ACCESS_KEY=HFBENCHROOTKEY000000 HOLDFAST_ROOT_SECRET_KEY=holdfast-bench-root-secret-00000000000000
export AWS_ACCESS_KEY_ID=$HOLDFAST_ROOT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$HOLDFAST_ROOT_SECRET_KEY
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start() {
    HOLDFAST_LOG=info "$BIN" serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/$1.out" 2>"$work/$1.err" &
    pid=$!
    for _ in $(seq 1 600); do
        if grep -q "holdfast listening on" "$work/$1.out" 2>/dev/null; then
            endpoint=$(grep -o "http://[0-9.:]*" "$work/$1.out" | head -1)
            return
        fi
        sleep 0.1
    done
    echo "server did not start: $(tail -3 "$work/$1.err")" >&2
    exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

start fill
"$BIN" bench --endpoint "$endpoint" --op put --lock --lock-mode compliance --retain-secs 86400 \
    --size 4KiB --concurrency 16 --count "$OPS" --duration 10m --threads 1 >"$work/bench.out"
stop
began=$(date +%s%N)
start again
ready_ms=$(( ($(date +%s%N) - began) / 1000000 ))
stop
line=$(grep -o "metadata store checked against the audit trail.*" "$work/again.err" | sed 's/\x1b\[[0-9;]*m//g')
echo "bench: $(grep -E "^(op|put)" "$work/bench.out" | tr -s " " | tail -1)"
echo "audit trail: $(du -sh "$work/data/audit" | cut -f1)"
echo "check: $line"
echo "start to listening: ${ready_ms} ms"
