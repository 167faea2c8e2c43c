#!/usr/bin/env bash
# The console's paging figure (issue #16): a bucket of VERSIONS versions (default 1,000,000
# empty objects written through `holdfast bench`'s listing preparation), then PAGES bucket pages
# of the console from random key markers, at page sizes 100 (the default) and 1,000 (the
# largest). Prints p50 / p99 / max of the time spent in the server (`Server-Timing: app`) and of
# the whole HTTP exchange. Not a test: the fill takes minutes.
#
#   scripts/bench-console.sh [BIN] [VERSIONS] [PAGES]
#   (BIN default target/release/holdfast; build it with `cargo build --release`)
set -euo pipefail
BIN=${1:-target/release/holdfast}
VERSIONS=${2:-1000000}
PAGES=${3:-200}
AK=HFBENCHCONSOLEKEY000
SK=holdfast-bench-console-secret-0000000000
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOLDFAST_ROOT_ACCESS_KEY=$AK HOLDFAST_ROOT_SECRET_KEY=$SK HOLDFAST_LOG=warn \
    "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --console true >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/_holdfast/health" >/dev/null && break; sleep 0.1; done
echo "filling $VERSIONS versions (load average $(cut -d' ' -f1-3 /proc/loadavg))"
start=$(date +%s)
AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK "$BIN" bench --endpoint "http://127.0.0.1:$PORT" \
    --op listversions --list-objects "$VERSIONS" --list-bucket console-bench --duration 1s --count 1 \
    --concurrency 1 >/dev/null
echo "filled in $(( $(date +%s) - start )) s"
python3 - "$PORT" "$AK" "$SK" "$VERSIONS" "$PAGES" <<'PY'
import http.client, random, re, sys, time
port, ak, sk, versions, pages = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
M = "/_holdfast/console"
def req(method, path, cookie="", body=""):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    h = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    t = time.perf_counter()
    c.request(method, path, body=body, headers=h)
    r = c.getresponse(); data = r.read(); took = (time.perf_counter() - t) * 1000
    c.close()
    return r, data.decode(), took
r, page, _ = req("GET", M + "/signin")
pre = re.search(r"hf_console_signin=([0-9a-f]+)", r.getheader("set-cookie")).group(1)
r, _, _ = req("POST", M + "/signin", f"hf_console_signin={pre}", f"csrf={pre}&access_key={ak}&secret_key={sk}")
sid = re.search(r"hf_console=([0-9a-f]+)", ", ".join(v for k, v in r.getheaders() if k.lower() == "set-cookie")).group(1)
cookie = f"hf_console={sid}"
def pct(v, p): v = sorted(v); return v[min(len(v) - 1, int(len(v) * p))]
for size in (100, 1000):
    app, total = [], []
    for i in range(pages):
        # The bench's listing keys: d/<group>/<n:08>, 10 groups of consecutive numbers.
        n = random.randrange(versions)
        group = n * 10 // versions
        marker = f"d/{group}/{n:08}"
        r, body, took = req("GET", f"{M}/bucket?name=console-bench&prefix=d%2F{group}%2F&max={size}&key-marker={marker}", cookie)
        assert r.status == 200, (r.status, body[:300])
        rows = body.count("<tr><th scope=\"row\"><a href=")
        assert rows == size or n >= (group + 1) * versions // 10 - size, (rows, marker)
        app.append(float(r.getheader("server-timing").split("dur=")[1])); total.append(took)
    print(f"page of {size:>5} of {versions} versions, {pages} pages from random markers: "
          f"server p50 {pct(app, .5):.1f} ms, p99 {pct(app, .99):.1f} ms, max {max(app):.1f} ms; "
          f"HTTP p50 {pct(total, .5):.1f} ms, max {max(total):.1f} ms")
PY
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
