#!/usr/bin/env python3
"""CPU time per request of the load client and of the server, Holdfast beside nginx.

    scripts/cpu-per-request.py target/release/holdfast                 # get16 get64 head64 ng16 ng64
    scripts/cpu-per-request.py target/release/holdfast get16 head64 put64
    PERF=/tmp/p CG="--call-graph dwarf,16384" PERF_SECS=4.5 scripts/cpu-per-request.py BIN get16

Starts `BIN serve` on a fresh data dir and, when nginx is installed, an nginx serving a private
directory (both on free loopback ports), then runs each cell with `BIN bench` (one client thread,
DUR, default 5s): `get16` is a 4 KiB GET at 16 clients, `head64` a HEAD at 64, `put64` a 4 KiB PUT
at 64, `ng16` nginx's 4 KiB GET at 16. For each it prints the requests per second and the CPU
time (user + system) per request of the client and of the server process (all threads; for
nginx its master and workers), both over the whole cell with the bench's setup and cleanup: so
compare builds and cells, not absolutes. On a machine whose cores the client and the server
share, the sum of the two is what a request costs the machine.

PERF=<prefix> records the server during each cell (`perf record`, options in CG, default -g;
FREQ, default 999 Hz; PERF_SECS stops it after that many seconds, e.g. before a PUT cell's
cleanup) into <prefix>.<cell>.
"""
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import json

BIN = os.path.realpath(sys.argv[1])
CELLS = sys.argv[2:] or ["get16", "get64", "head64", "ng16", "ng64"]
DUR = os.environ.get("DUR", "5s")
KEY, SECRET = "HFCPUROOTKEY00000001", "hfcpu-secret-0000000000000000000"
ENV = dict(os.environ, HOLDFAST_ROOT_ACCESS_KEY=KEY, HOLDFAST_ROOT_SECRET_KEY=SECRET,
           AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, HOLDFAST_LOG="warn")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_us(pids):
    """utime + stime of these processes (all their threads), in µs."""
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            pass
    return total * 1_000_000 // CLK_TCK


def main():
    work = tempfile.mkdtemp(dir="/var/tmp", prefix="cpu-per-request.")
    os.chmod(work, 0o755)  # nginx's workers run unprivileged
    procs = []
    try:
        out = open(f"{work}/out", "w")
        server = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", f"{work}/data"],
                                  stdout=out, stderr=open(f"{work}/log", "w"), env=ENV)
        procs.append(server)
        nginx, nginx_port = None, None
        if shutil.which("nginx"):
            os.makedirs(f"{work}/static")
            os.makedirs(f"{work}/nginx")
            nginx_port = free_port()
            n = f"{work}/nginx"
            open(f"{n}/nginx.conf", "w").write(
                f"worker_processes auto; daemon off; pid {n}/nginx.pid; error_log {n}/error.log;\n"
                "events { worker_connections 1024; }\n"
                "http { access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 1000000;\n"
                f"client_body_temp_path {n}/body; proxy_temp_path {n}/proxy; fastcgi_temp_path {n}/fastcgi;\n"
                f"uwsgi_temp_path {n}/uwsgi; scgi_temp_path {n}/scgi;\n"
                f"server {{ listen 127.0.0.1:{nginx_port}; root {work}/static; }} }}\n")
            nginx = subprocess.Popen(["nginx", "-c", f"{n}/nginx.conf", "-p", n])
            procs.append(nginx)
        endpoint = None
        for _ in range(300):
            m = re.search(r"http://[0-9.:]+", open(f"{work}/out").read())
            if m:
                endpoint = m.group(0)
                break
            time.sleep(0.1)
        if not endpoint:
            sys.exit(f"the server did not start: {open(f'{work}/log').read()}")
        time.sleep(0.5)
        for cell in CELLS:
            op, conc = cell[:-2], cell[-2:]
            if op == "ng":
                if not nginx:
                    print(f"{cell}: no nginx here, skipped")
                    continue
                pids = [nginx.pid] + [int(p) for p in subprocess.run(
                    ["pgrep", "-P", str(nginx.pid)], capture_output=True, text=True).stdout.split()]
                target = f"http://127.0.0.1:{nginx_port}"
                args = ["--op", "static", "--size", "4KiB", "--static-root", f"{work}/static"]
            else:
                pids, target = [server.pid], endpoint
                args = ["--op", op] + (["--size", "4KiB"] if op in ("get", "put") else [])
            perf = None
            if os.environ.get("PERF"):
                perf = subprocess.Popen(
                    ["perf", "record", "-F", os.environ.get("FREQ", "999")] + os.environ.get("CG", "-g").split()
                    + ["-o", f"{os.environ['PERF']}.{cell}", "-p", ",".join(map(str, pids))],
                    stderr=subprocess.DEVNULL)
                if os.environ.get("PERF_SECS"):
                    threading.Timer(float(os.environ["PERF_SECS"]), lambda p=perf: p.poll() is None and p.send_signal(2)).start()
            server_before, client_before = cpu_us(pids), resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.time()
            run = subprocess.run([BIN, "bench", "--endpoint", target, "--threads", "1", "--duration", DUR,
                                  "--concurrency", conc, "--json"] + args, capture_output=True, text=True, env=ENV)
            elapsed = time.time() - started
            client_after, server_after = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_us(pids)
            if perf:
                if perf.poll() is None:
                    perf.send_signal(2)
                perf.wait()
            if run.returncode != 0 or "{" not in run.stdout:
                sys.exit(f"{cell}: the bench failed: {run.stderr[-2000:]}")
            row = json.loads(run.stdout[run.stdout.index("{"):])["rows"][-1]
            requests = row["ops"] or 1
            client = ((client_after.ru_utime + client_after.ru_stime)
                      - (client_before.ru_utime + client_before.ru_stime)) * 1e6
            print(f"{cell:8} {row['ops_per_sec']:9.0f} requests/s   client {client / requests:6.1f} µs/request"
                  f"   server {(server_after - server_before) / requests:6.1f} µs/request   ({elapsed:.1f} s)",
                  flush=True)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
