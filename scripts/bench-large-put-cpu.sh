#!/usr/bin/env bash
# Server CPU per 64 MiB PUT (issue #17): starts SERVER_BIN on a fresh data dir under
# DATA_PARENT (/var/tmp), warms it with 2 PUTs, then reads the server's utime+stime from
# /proc/PID/stat around COUNT PUTs at CONCURRENCY clients and divides. CPU time depends far
# less on the machine's load than throughput does; the throughput and load average are printed
# beside it.
#
#   scripts/bench-large-put-cpu.sh SERVER_BIN [CLIENT_BIN] [CONCURRENCY=1] [COUNT=16]
#
# The load client defaults to SERVER_BIN (`holdfast bench`); pass this build's binary as
# CLIENT_BIN to measure an older server with the same client. Every object is written to a
# private data dir removed on exit (COUNT x 64 MiB of disk while it runs).
set -euo pipefail
BIN=$(realpath "$1")
CLIENT=$(realpath "${2:-$1}")
CONC=${3:-1}
COUNT=${4:-16}
W=$(mktemp -d "${DATA_PARENT:-/var/tmp}/hflargecpu.XXXXXX")
export AWS_ACCESS_KEY_ID="HFLARGECPUKEY0001"
export AWS_SECRET_ACCESS_KEY="hflargecpu-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
export HOLDFAST_ROOT_ACCESS_KEY="$AWS_ACCESS_KEY_ID" HOLDFAST_ROOT_SECRET_KEY="$AWS_SECRET_ACCESS_KEY" HOLDFAST_LOG=warn
"$BIN" serve --listen 127.0.0.1:0 --data-dir "$W/data" >"$W/out" 2>"$W/err" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$W"' EXIT
for _ in $(seq 1 300); do grep -q "listening on" "$W/out" 2>/dev/null && break; sleep 0.1; done
EP=$(grep -o 'http://[0-9.:]*' "$W/out" | head -1)
[[ -n "$EP" ]] || { echo "the server did not start: $(cat "$W/err")" >&2; exit 1; }
put() { "$CLIENT" bench --endpoint "$EP" --op put --size 64MiB --concurrency "$1" --count "$2" --duration 120s --threads 1 --json 2>/dev/null; }
put 1 2 >/dev/null
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
before=$(cpu)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
put "$CONC" "$COUNT" >"$W/bench.json"
after=$(cpu)
load1=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$before" "$after" "$(getconf CLK_TCK)" "$CONC" "$load0" "$load1" "$W/bench.json" <<'PY'
import json, sys
before, after, tck, conc, load0, load1, path = sys.argv[1:]
text = open(path).read()
row = json.loads(text[text.index("{"):])["rows"][-1]
ops = row["ops"]
print(f"64 MiB PUT at {conc}: server CPU {(float(after) - float(before)) / int(tck) / max(ops, 1):.4f} s per PUT over {ops} PUTs "
      f"(errors {row.get('errors')}), {row['mib_per_sec']:.0f} MiB/s, load average {load0} -> {load1}")
PY
