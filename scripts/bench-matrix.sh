#!/usr/bin/env bash
# The standard performance matrix, with the physical limits measured in the same
# run: start a Holdfast server and an nginx on loopback (free ports, private directories),
# probe the disk, run `holdfast bench --matrix` against both, sample the server's memory, and
# stop everything. Results go to stdout and to $OUT (default ./bench-results/<timestamp>).
#
#   scripts/bench-matrix.sh                      # build release, run everything
#   SERVER_BIN=/path/to/old/holdfast scripts/bench-matrix.sh   # measure another server build
#   ONLY=put-4KiB,get-4KiB DURATION=5s scripts/bench-matrix.sh  # a subset
#
# Environment: HOLDFAST_BIN (the bench client), SERVER_BIN (the server, default the same),
# DATA_PARENT (where the data dir lives; the disk probe runs there too), DURATION (per cell),
# LIST_OBJECTS (versions for the listing cells), THREADS (client threads), ONLY, NO_NGINX=1,
# RSS_UPLOADS (concurrent uploads for the memory cell, 0 to skip), RSS_UPLOAD_SIZE, SETTLE (seconds
# idle before the resident set after the run is read, 15).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${HOLDFAST_BIN:-}" ]]; then
    cargo build --release -p holdfast >&2
    HOLDFAST_BIN="${CARGO_TARGET_DIR:-target}/release/holdfast"
fi
SERVER_BIN="${SERVER_BIN:-$HOLDFAST_BIN}"
DURATION="${DURATION:-10s}"
LIST_OBJECTS="${LIST_OBJECTS:-1000000}"
THREADS="${THREADS:-1}"
RSS_UPLOADS="${RSS_UPLOADS:-64}"
# The memory cell's uploads all exist at once on disk (64 x 32 MiB = 2 GiB): a server's memory
# per upload does not grow with the object size (bodies stream), so this measures what 64
# concurrent 1 GiB uploads would hold, without filling a shared disk.
RSS_UPLOAD_SIZE="${RSS_UPLOAD_SIZE:-32MiB}"
SETTLE="${SETTLE:-15}"
OUT="${OUT:-bench-results/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
WORK="$(mktemp -d "${DATA_PARENT:-/var/tmp}/hfbench.XXXXXX")"
export AWS_ACCESS_KEY_ID="HFBENCHROOTKEY000001"
export AWS_SECRET_ACCESS_KEY="hfbench-secret-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"

SERVER_PID=""
NGINX_PID=""
cleanup() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    [[ -n "$NGINX_PID" ]] && kill "$NGINX_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

bytes_of() { # 32MiB -> 33554432
    local n="${1%%[!0-9]*}" unit="${1#"${1%%[!0-9]*}"}"
    case "${unit,,}" in
        "" | b) echo "$n" ;;
        k | kib | kb) echo $((n << 10)) ;;
        m | mib | mb) echo $((n << 20)) ;;
        g | gib | gb) echo $((n << 30)) ;;
        *) echo "unknown size $1" >&2; exit 1 ;;
    esac
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The server, on a free port, with a fresh data dir.
HOLDFAST_ROOT_ACCESS_KEY="$AWS_ACCESS_KEY_ID" HOLDFAST_ROOT_SECRET_KEY="$AWS_SECRET_ACCESS_KEY" HOLDFAST_LOG=warn \
    "$SERVER_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" >"$WORK/server.out" 2>"$OUT/server.log" &
SERVER_PID=$!
for _ in $(seq 1 200); do
    grep -q "listening on" "$WORK/server.out" 2>/dev/null && break
    sleep 0.05
done
ENDPOINT="$(sed -n 's/^holdfast listening on \(http:\/\/[^ ]*\).*/\1/p' "$WORK/server.out")"
[[ -n "$ENDPOINT" ]] || { echo "the server did not start" >&2; cat "$OUT/server.log" >&2; exit 1; }

# nginx on loopback serving a private directory: the static-server reference for GET.
STATIC_ARGS=()
if [[ -z "${NO_NGINX:-}" ]] && command -v nginx >/dev/null; then
    NPORT="$(free_port)"
    mkdir -p "$WORK/static" "$WORK/nginx"
    # nginx started as root serves through unprivileged workers: let them reach the files.
    chmod 711 "$WORK"
    chmod 755 "$WORK/static"
    cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server { listen 127.0.0.1:$NPORT; root $WORK/static; }
}
CONF
    nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
    NGINX_PID=$!
    sleep 0.5
    STATIC_ARGS=(--static-endpoint "http://127.0.0.1:$NPORT" --static-root "$WORK/static")
fi

{
    echo "# $(date -u +%FT%TZ) server: $SERVER_BIN ($("$SERVER_BIN" --version))"
    echo "# $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; client threads: $THREADS; cell duration: $DURATION"
    echo "# disk under $WORK: $(df -h "$WORK" | awk 'NR==2 {print $1, $2}')"
    echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/matrix.txt"

ONLY_ARGS=()
[[ -n "${ONLY:-}" ]] && ONLY_ARGS=(--only "$ONLY")
"$HOLDFAST_BIN" bench --matrix --endpoint "$ENDPOINT" --threads "$THREADS" --duration "$DURATION" \
    --list-objects "$LIST_OBJECTS" --server-pid "$SERVER_PID" --probe-dir "$WORK" \
    "${STATIC_ARGS[@]}" "${ONLY_ARGS[@]}" | tee -a "$OUT/matrix.txt"

if [[ "$RSS_UPLOADS" != 0 ]]; then
    need_kib=$(( RSS_UPLOADS * $(bytes_of "$RSS_UPLOAD_SIZE") / 1024 * 3 / 2 ))
    avail_kib=$(df -Pk "$WORK" | awk 'NR==2 {print $4}')
    if (( avail_kib < need_kib )); then
        echo "# memory cell skipped: $((need_kib / 1024)) MiB of free disk needed, $((avail_kib / 1024)) MiB free" | tee -a "$OUT/matrix.txt"
        RSS_UPLOADS=0
    fi
fi
if [[ "$RSS_UPLOADS" != 0 ]]; then
    echo "# memory under $RSS_UPLOADS concurrent $RSS_UPLOAD_SIZE uploads" | tee -a "$OUT/matrix.txt"
    "$HOLDFAST_BIN" bench --op put --size "$RSS_UPLOAD_SIZE" --concurrency "$RSS_UPLOADS" --count "$RSS_UPLOADS" \
        --duration 10m --endpoint "$ENDPOINT" --threads "$THREADS" --server-pid "$SERVER_PID" | tee -a "$OUT/matrix.txt"
fi
# Memory that comes back (issue #17): the server's resident set once it has been idle a while
# after all of the above.
sleep "$SETTLE"
echo "# server resident memory after the run, idle for ${SETTLE}s: $(awk '/^VmRSS:/ {printf "%.1f MiB", $2 / 1024}' "/proc/$SERVER_PID/status")" | tee -a "$OUT/matrix.txt"
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/matrix.txt"
echo "results in $OUT/matrix.txt"
