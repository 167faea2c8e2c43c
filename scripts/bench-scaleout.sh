#!/usr/bin/env bash
# Small-object PUT and GET throughput: the embedded store, then one and three
# gateways on one PostgreSQL (durable settings: fsync and synchronous_commit on) sharing one
# blob directory. Three gateways are driven by three `holdfast bench` processes at once, one
# per gateway, each with a third of the concurrency; their ops/s are added up.
#
#   scripts/bench-scaleout.sh [path/to/holdfast]      (a release build; default target/release/holdfast)
#   DUR=10s CONC=16 SIZE=4KiB scripts/bench-scaleout.sh
#   SERVER_BIN=/path/to/other/holdfast ONLY=pg1 scripts/bench-scaleout.sh
#                                  (serve another build, driven by this one's bench; run only
#                                   some setups: embedded, pg1, pg3, comma-separated)
#
# Everything binds 127.0.0.1 on free ports in a temporary directory, and is stopped at exit.
set -euo pipefail
BIN=$(realpath "${1:-target/release/holdfast}")
DUR=${DUR:-10s}
CONC=${CONC:-16}
SIZE=${SIZE:-4KiB}
SERVER=$(realpath "${SERVER_BIN:-$BIN}")
ONLY=${ONLY:-embedded,pg1,pg3}
wants() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
work=$(mktemp -d /var/tmp/hf-scaleout.XXXXXX)
chmod 755 "$work"
export HOLDFAST_ROOT_ACCESS_KEY=HFBENCHROOTKEY000000 HOLDFAST_ROOT_SECRET_KEY=holdfast-bench-root-secret-00000000000000
export AWS_ACCESS_KEY_ID=$HOLDFAST_ROOT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$HOLDFAST_ROOT_SECRET_KEY
export HOLDFAST_LOG=warn

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" stop -m fast >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server NAME DATA_DIR [EXTRA ENV...]: starts holdfast and sets $endpoint. Not run in a
# command substitution: its pid must reach this shell's `pids` for the kills and the cleanup.
start_server() {
    local name=$1 data=$2
    shift 2
    env "$@" "$SERVER" serve --listen 127.0.0.1:0 --data-dir "$data" >"$work/$name.out" 2>"$work/$name.err" &
    pids+=($!)
    for _ in $(seq 1 200); do
        if grep -q "holdfast listening on" "$work/$name.out" 2>/dev/null; then
            endpoint=$(grep -o "http://[0-9.:]*" "$work/$name.out" | head -1)
            return
        fi
        sleep 0.1
    done
    echo "server $name did not start: $(cat "$work/$name.err")" >&2
    exit 1
}

# bench OP ENDPOINT CONCURRENCY: the ops/s column of one run.
bench() {
    "$BIN" bench --endpoint "$2" --op "$1" --size "$SIZE" --concurrency "$3" --duration "$DUR" --threads 1 |
        awk 'NR > 1 && $5 ~ /^[0-9.]+$/ { print $5 }' | tail -1
}

# bench_all OP ENDPOINT...: one bench process per endpoint at once, ops/s added up.
bench_all() {
    local op=$1
    shift
    local n=$# per=$((CONC / $#)) i=0
    for e in "$@"; do
        bench "$op" "$e" "$per" >"$work/bench.$i" &
        i=$((i + 1))
    done
    wait
    cat "$work"/bench.* | awk '{ s += $1 } END { printf "%.0f", s }'
    rm -f "$work"/bench.*
}

report() { printf '%-34s PUT %6s ops/s   GET %6s ops/s\n' "$1" "$2" "$3"; }

echo "small objects: $SIZE, concurrency $CONC in total, $DUR per run, $(nproc) cores, server $SERVER"

# Embedded.
if wants embedded; then
    start_server embedded "$work/embedded"; e=$endpoint
    report "embedded (SQLite)" "$(bench_all put "$e")" "$(bench_all get "$e")"
    kill "${pids[-1]}"
fi

# PostgreSQL, durable.
mkdir -p "$work/pg"
if [ ${#as_pg[@]} -gt 0 ]; then chown postgres: "$work/pg"; fi
"${as_pg[@]}" "$pgbin/initdb" -D "$work/pg" -U holdfast -A trust -E UTF8 --locale=C >/dev/null
port=$(free_port)
cat >>"$work/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
EOF
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w start >/dev/null
"$pgbin/psql" -X -q -h 127.0.0.1 -p "$port" -U holdfast -d postgres -c "CREATE DATABASE one" -c "CREATE DATABASE three"

if wants pg1; then
    start_server pg1 "$work/shared1" HOLDFAST_META_URL="postgres://holdfast@127.0.0.1:$port/one"; g=$endpoint
    report "1 gateway, PostgreSQL" "$(bench_all put "$g")" "$(bench_all get "$g")"
    kill "${pids[-1]}"
fi

if wants pg3; then
    url="postgres://holdfast@127.0.0.1:$port/three"
    start_server pg3a "$work/shared3" HOLDFAST_META_URL="$url"; g1=$endpoint
    start_server pg3b "$work/shared3" HOLDFAST_META_URL="$url"; g2=$endpoint
    start_server pg3c "$work/shared3" HOLDFAST_META_URL="$url"; g3=$endpoint
    report "3 gateways, one PostgreSQL" "$(bench_all put "$g1" "$g2" "$g3")" "$(bench_all get "$g1" "$g2" "$g3")"
fi
