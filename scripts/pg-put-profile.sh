#!/usr/bin/env bash
# Where a PostgreSQL gateway's 4 KiB PUT spends its time (issue #17), load-independent measures:
#
#   scripts/pg-put-profile.sh [SERVER_BIN] [SECONDS]      (default target/release/holdfast, 8)
#   STRACE=1 scripts/pg-put-profile.sh ...                 (+ the gateway's fsync/open/rename counts; slows it)
#   PERF=1 ...  (perf record -g of the gateway, 4 s, to /tmp/pg-put-profile.perf)   CONC=64 ...  CLIENT=...
#
# Starts a private cluster with bench-compare.sh's settings (plus pg_stat_statements, and
# EXTRA_PGCONF lines), one gateway, warms it up (2 s), then runs `holdfast bench --op put --size 4KiB
# --concurrency 16` for SECONDS and, in a window inside the run (from 1.5 s to SECONDS-1.5 s, so the
# bench's final cleanup is not counted), reads: CPU (utime+stime from /proc) of the gateway and of
# every PostgreSQL process, the versions inserted (pg_stat_user_tables), statements per PUT and their
# execution time (pg_stat_statements), WAL records, bytes, writes and syncs (pg_stat_wal). Everything
# binds 127.0.0.1 and is removed on exit.
set -euo pipefail
SERVER=$(realpath "${1:-target/release/holdfast}"); DUR=${2:-8}; CLIENT=$(realpath "${CLIENT:-$SERVER}")
CONC=${CONC:-16}
work=$(mktemp -d /var/tmp/pg-put-profile.XXXXXX); chmod 755 "$work"
export HOLDFAST_ROOT_ACCESS_KEY=HFBENCHROOTKEY000000 HOLDFAST_ROOT_SECRET_KEY=holdfast-bench-root-secret-00000000000000
export AWS_ACCESS_KEY_ID=$HOLDFAST_ROOT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$HOLDFAST_ROOT_SECRET_KEY HOLDFAST_LOG=warn
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg=(); [ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)
gw=""
cleanup() { [ -n "$gw" ] && kill $gw 2>/dev/null; wait $gw 2>/dev/null; "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" stop -m fast >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/pg"; [ ${#as_pg[@]} -gt 0 ] && chown postgres: "$work/pg"
"${as_pg[@]}" "$pgbin/initdb" -D "$work/pg" -U holdfast -A trust -E UTF8 --locale=C >/dev/null
cat >>"$work/pg/postgresql.conf" <<C
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
shared_preload_libraries = 'pg_stat_statements'
${EXTRA_PGCONF:-}
C
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w start >/dev/null
psql() { "$pgbin/psql" -X -q -h 127.0.0.1 -p "$port" -U holdfast "$@"; }
psql -d postgres -c "CREATE DATABASE one"
psql -d one -c "CREATE EXTENSION pg_stat_statements"
env HOLDFAST_META_URL="postgres://holdfast@127.0.0.1:$port/one" $SERVER serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/gw.out" 2>"$work/gw.err" &
gw=$!
for _ in $(seq 1 200); do grep -q "listening on" "$work/gw.out" 2>/dev/null && break; sleep 0.1; done
ep=$(grep -o "http://[0-9.:]*" "$work/gw.out" | head -1)
"$CLIENT" bench --endpoint "$ep" --op put --size 4KiB --concurrency $CONC --duration 2s --threads 1 >/dev/null 2>&1 || true
[ -n "${PRE_SQL:-}" ] && psql -d one -c "$PRE_SQL"
# PRE_RUNS=N PRE_GAP=S: N earlier runs (each inserts and then deletes its objects), S seconds apart,
# as bench-compare's rounds leave the database (dead rows, autovacuum) before the measured one.
for _ in $(seq 1 "${PRE_RUNS:-0}"); do
    "$CLIENT" bench --endpoint "$ep" --op put --size 4KiB --concurrency $CONC --duration 5s --threads 1 >/dev/null 2>&1 || true
    sleep "${PRE_GAP:-0}"
done
pgpids() { { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$(head -1 $work/pg/postmaster.pid)" '$4==pm || $1==pm {print $1}'; }
ticks() { for p in "$@"; do cat /proc/$p/stat 2>/dev/null || true; done | awk '{s+=$14+$15} END {print s+0}'; }
snap() { # snap NAME
    psql -d one -At -F $'\t' -c "SELECT calls, total_exec_time, regexp_replace(query,'\s+',' ','g') FROM pg_stat_statements" > "$work/stm.$1"
    psql -d one -At -c "SELECT relname, n_live_tup, n_dead_tup, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables WHERE n_tup_ins > 0 ORDER BY relname" > "$work/tables.$1"
    psql -d one -At -F $'\t' -c "SELECT (SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname='versions'), wal_records, wal_bytes, wal_write, wal_sync, (SELECT xact_commit FROM pg_stat_database WHERE datname='one'), wal_fpi FROM pg_stat_wal" > "$work/wal.$1"
}
"$CLIENT" bench --endpoint "$ep" --op put --size 4KiB --concurrency $CONC --duration "${DUR}s" --threads 1 --json > "$work/bench.json" 2>"$work/bench.err" &
bp=$!
sleep 1.5
[ -n "${CHECKPOINT:-}" ] && psql -d one -c CHECKPOINT
pids=$(pgpids | tr '\n' ' ')
[ -n "${PERF:-}" ] && { perf record -F 2000 -g -p $gw -o /tmp/pg-put-profile.perf -- sleep 4 >/dev/null 2>&1 & pf=$!; }
[ -n "${STRACE:-}" ] && { strace -c -f -e trace=fsync,fdatasync,sync_file_range,rename,renameat,renameat2,openat,unlink,unlinkat -p $gw -o "$work/strace.txt" & st=$!; sleep 0.3; }
snap a; g0=$(ticks $gw); p0=$(ticks $pids); l0=$(cut -d' ' -f1 /proc/loadavg); t0=$(date +%s.%N)
sleep $(python3 -c "print($DUR-3)")
g1=$(ticks $gw); p1=$(ticks $pids); t1=$(date +%s.%N); snap b; l1=$(cut -d' ' -f1 /proc/loadavg)
[ -n "${STRACE:-}" ] && { kill -INT $st; wait $st || true; }
[ -n "${PERF:-}" ] && wait $pf
wait $bp || true
python3 - "$work" "$g0" "$g1" "$p0" "$p1" "$t0" "$t1" "$(getconf CLK_TCK)" "$l0 -> $l1" "$SERVER" <<'PY'
import json, sys
w, g0, g1, p0, p1, t0, t1, hz, load, server = sys.argv[1:]
g0, g1, p0, p1, hz = map(int, (g0, g1, p0, p1, hz)); t0, t1 = float(t0), float(t1)
t = open(f"{w}/bench.json").read(); r = json.loads(t[t.index("{"):])["rows"][-1]
wa = list(map(float, open(f"{w}/wal.a").read().split())); wb = list(map(float, open(f"{w}/wal.b").read().split()))
d = [b - a for a, b in zip(wa, wb)]
n = d[0]
print(f"{server}: bench ops/s {r['ops_per_sec']:.0f} (errors {r.get('errors')}, p50 {r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} ms), load {load}")
print(f"window {t1-t0:.1f}s: {n:.0f} PUTs = {n/(t1-t0):.0f}/s; CPU per PUT: gateway {(g1-g0)/hz/n*1e6:.0f} us, postgres {(p1-p0)/hz/n*1e6:.0f} us, sum {((g1-g0)+(p1-p0))/hz/n*1e6:.0f} us")
print(f"per PUT: WAL records {d[1]/n:.1f}, WAL bytes {d[2]/n:.0f}, full-page images {d[6]/n:.2f}, WAL writes {d[3]/n:.3f}, WAL syncs {d[4]/n:.3f}, commits {d[5]/n:.2f}")
def load_stm(p):
    out = {}
    for line in open(p):
        parts = line.rstrip("\n").split("\t", 2)
        if len(parts) == 3:
            c, tm, q = parts; o = out.setdefault(q, [0, 0.0]); o[0] += int(c); o[1] += float(tm)
    return out
a, b = load_stm(f"{w}/stm.a"), load_stm(f"{w}/stm.b")
rows = []
for q, (c, tm) in b.items():
    ca, ta = a.get(q, [0, 0.0]); dc, dt = c - ca, tm - ta
    if dc > 0 and "pg_stat" not in q: rows.append((dc, dt, q))
rows.sort(reverse=True)
tot = sum(r[0] for r in rows)
print(f"statements per PUT: {tot/n:.2f}  (exec time per PUT {sum(r[1] for r in rows)/n*1000:.0f} us)")
for dc, dt, q in rows[:16]:
    print(f"  {dc/n:6.3f}/PUT {dt/dc*1000:7.1f} us  {q[:120]}")
PY
[ -n "${STRACE:-}" ] && grep -E "calls|fsync|fdatasync|rename|openat|unlink|total" "$work/strace.txt"
[ -n "${TABLES:-}" ] && { echo "tables before:"; cat "$work/tables.a"; echo "after:"; cat "$work/tables.b"; }
echo "---"
