#!/usr/bin/env python3
"""Replication throughput and lag (issue #13).

Starts a destination Holdfast and a source Holdfast whose [replication.target.dr] is the
destination (free ports, private temporary directories), creates two lock-enabled buckets,
configures the source to replicate everything, then measures:

  lag         write at a steady RATE per second for SECONDS; the server's own summary of the
              time from queueing (the write's commit) to delivery (p50 / p99 / max);
  throughput  write COUNT objects of SIZE as fast as CONCURRENCY clients can, and time until
              the source's completed counter has counted every one (objects/s and MiB/s of
              replication, the writes included, so this is a lower bound).

  scripts/bench-replication.py [--bin target/release/holdfast] [--mode remote|local]
        [--size 4KiB --count 2000] [--size 64MiB --count 8] [--rate 50 --seconds 20]
        [--multipart-threshold 16MiB --part-size 16MiB]

--mode local replicates between two buckets of one server (arn:aws:s3:::<bucket>);
remote (the default) between two servers (arn:holdfast:s3:dr::<bucket>). A version above
--multipart-threshold (the server's default, 64 MiB, when not given) goes to the remote
destination as a replication upload of --part-size parts. Needs boto3.
"""

import argparse
import hashlib
import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

AK = "HFREPLBENCHROOT00001"
SK = "hf-repl-bench-secret-0000000000000000000"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def size_bytes(text):
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "B": 1}
    for u, m in units.items():
        if text.endswith(u):
            return int(text[: -len(u)]) * m
    return int(text)


class Server:
    def __init__(self, binary, work, name, toml=""):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.port = free_port()
        cfg = os.path.join(work, name + ".toml")
        with open(cfg, "w") as f:
            f.write("[limits]\nmin_free_bytes = 16777216\n" + toml)
        env = dict(os.environ, HOLDFAST_ROOT_ACCESS_KEY=AK, HOLDFAST_ROOT_SECRET_KEY=SK, HOLDFAST_LOG="warn")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.dir, "--config", cfg],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        self.endpoint = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"{name} did not start")

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=AK,
            aws_secret_access_key=SK,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=64, retries={"max_attempts": 1}),
        )

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def metric(endpoint, name):
    import urllib.request

    text = urllib.request.urlopen(endpoint + "/_holdfast/metrics").read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def quantiles(endpoint, name):
    import urllib.request

    text = urllib.request.urlopen(endpoint + "/_holdfast/metrics").read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{quantile="):
            q = line.split('"')[1]
            out[q] = float(line.rsplit(" ", 1)[1])
    return out


def put(s3, bucket, key, body):
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    out = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=md5)
    return key, out["VersionId"], time.time()


def wait_counter(endpoint, target, limit):
    deadline = time.time() + limit
    while time.time() < deadline:
        if metric(endpoint, "holdfast_replication_completed_total") >= target:
            return True
        time.sleep(0.05)
    return False


def throughput(s3, endpoint, bucket, size, count, concurrency):
    body = os.urandom(size)
    before = metric(endpoint, "holdfast_replication_completed_total")
    start = time.time()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: put(s3, bucket, f"t{size}/{i:06d}", body), range(count)))
    wrote = time.time() - start
    ok = wait_counter(endpoint, before + count, 600)
    took = time.time() - start
    mib = size * count / (1 << 20)
    print(
        f"throughput {size} B x {count}: writes took {wrote:.2f} s, all replicated after {took:.2f} s "
        f"(writes included): {count / took:.1f} objects/s, {mib / took:.1f} MiB/s" + ("" if ok else " (INCOMPLETE)")
    )


def lag(s3, endpoint, bucket, rate, seconds, size):
    body = os.urandom(size)
    before = metric(endpoint, "holdfast_replication_completed_total")
    n = int(rate * seconds)
    start = time.time()
    with ThreadPoolExecutor(16) as pool:
        for i in range(n):
            pool.submit(put, s3, bucket, f"lag/{i:06d}", body)
            time.sleep(max(0.0, start + (i + 1) / rate - time.time()))
    ok = wait_counter(endpoint, before + n, 300)
    q = quantiles(endpoint, "holdfast_replication_lag_seconds")
    ms = lambda k: f"{q.get(k, float('nan')) * 1000:.0f} ms"
    print(
        f"lag at {rate:g} writes/s of {size} B for {seconds:g} s (queued -> delivered, server-side): "
        f"p50 {ms('0.5')}, p99 {ms('0.99')}, max {ms('1')}" + ("" if ok else " (INCOMPLETE)")
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.environ.get("HOLDFAST_BIN", "target/release/holdfast"))
    p.add_argument("--mode", choices=["remote", "local"], default="remote")
    p.add_argument("--size", action="append", default=[])
    p.add_argument("--count", action="append", type=int, default=[])
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rate", type=float, default=50)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--lag-size", default="4KiB")
    p.add_argument("--multipart-threshold", help="[replication] multipart_threshold of the source")
    p.add_argument("--part-size", help="[replication] multipart_part_size of the source")
    a = p.parse_args()
    sizes = a.size or ["4KiB", "64MiB"]
    counts = a.count or [2000, 8]
    work = tempfile.mkdtemp(prefix="hfrepl.", dir=os.environ.get("DATA_PARENT", "/var/tmp"))
    servers = []
    try:
        poll = "[replication]\npoll_ms = 20\nretry_min_ms = 100\nretry_max_ms = 2000\n"
        if a.multipart_threshold:
            poll += f"multipart_threshold = {size_bytes(a.multipart_threshold)}\n"
        if a.part_size:
            poll += f"multipart_part_size = {size_bytes(a.part_size)}\n"
        if a.mode == "remote":
            dest = Server(a.bin, work, "dest")
            servers.append(dest)
            toml = poll + (
                f'[replication.target.dr]\nendpoint = "{dest.endpoint}"\naccess_key = "{AK}"\nsecret_key = "{SK}"\n'
            )
            source = Server(a.bin, work, "source", toml)
            servers.append(source)
        else:
            source = Server(a.bin, work, "source", poll)
            servers.append(source)
            dest = source
        s3, d3 = source.client(), dest.client()
        s3.create_bucket(Bucket="src", ObjectLockEnabledForBucket=True)
        d3.create_bucket(Bucket="dst", ObjectLockEnabledForBucket=True)
        arn = "arn:holdfast:s3:dr::dst" if a.mode == "remote" else "arn:aws:s3:::dst"
        s3.put_bucket_replication(
            Bucket="src",
            ReplicationConfiguration={
                "Role": "arn:aws:iam::000000000000:role/bench",
                "Rules": [
                    {
                        "ID": "all",
                        "Priority": 1,
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "DeleteMarkerReplication": {"Status": "Disabled"},
                        "Destination": {"Bucket": arn},
                    }
                ],
            },
        )
        print(f"mode {a.mode}, server {a.bin}, multipart above {a.multipart_threshold or '64MiB'}")
        # The lag first: the server's lag summary then holds only its versions.
        lag(s3, source.endpoint, "src", a.rate, a.seconds, size_bytes(a.lag_size))
        for size, count in zip(sizes, counts):
            throughput(s3, source.endpoint, "src", size_bytes(size), count, a.concurrency)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
