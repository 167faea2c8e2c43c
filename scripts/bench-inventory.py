#!/usr/bin/env python3
"""Inventory report of a large bucket (issue #14): wall time and the server's peak memory.

Starts one Holdfast (embedded store, free port, private temporary directory), fills a
versioned bucket with VERSIONS empty objects through the real server (`holdfast bench
--op listversions --list-bucket ...`: a bounded loop of 64 concurrent tiny PUTs), gives a
destination bucket AWS's inventory writer policy, then for each format (CSV, Parquet):

  - resets the server's peak resident set (`5` into /proc/PID/clear_refs, root only) and
    reads VmHWM before;
  - puts an inventory configuration (All versions, the lock fields) and waits for the
    report's manifest.checksum, sampling VmRSS every 100 ms;
  - prints the report's wall time (from the PUT of the configuration to the checksum's
    LastModified: the worker looks every 500 ms here), its files and bytes, and VmHWM after.

  scripts/bench-inventory.py [--bin target/release/holdfast] [--versions 1000000]

Not a test: it takes minutes and a million versions. Needs boto3.
"""

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

AK = "HFINVBENCHROOT000001"
SK = "hf-inventory-bench-secret-00000000000000"
FIELDS = ["Size", "LastModifiedDate", "ETag", "StorageClass", "IsMultipartUploaded", "ObjectLockMode",
          "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus", "ChecksumAlgorithm"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def account_id(access_key):
    """The account id the server derives from its root key."""
    canonical = hashlib.sha256(f"holdfast-owner:{access_key}".encode()).hexdigest()
    return f"{int(canonical[:15], 16) % 1_000_000_000_000:012d}"


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/holdfast")
    ap.add_argument("--versions", type=int, default=1_000_000)
    ap.add_argument("--timeout", type=float, default=1800, help="longest wait for one report, seconds")
    args = ap.parse_args()
    binary = os.path.realpath(args.bin)
    work = tempfile.mkdtemp(prefix="hf-inventory-bench.", dir="/var/tmp")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    cfg = os.path.join(work, "holdfast.toml")
    with open(cfg, "w") as f:
        # A two-second inventory day: the worker looks every 500 ms, so a new configuration
        # is picked up at once. The configuration is deleted as soon as its report is there.
        f.write("[inventory]\nday_seconds = 2\n")
    env = dict(os.environ, HOLDFAST_ROOT_ACCESS_KEY=AK, HOLDFAST_ROOT_SECRET_KEY=SK, HOLDFAST_LOG="warn")
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", os.path.join(work, "data"),
         "--config", cfg], env=env, stdout=log, stderr=log)
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=AK, aws_secret_access_key=SK,
                          region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        for _ in range(200):
            try:
                s3.list_buckets()
                break
            except Exception:
                time.sleep(0.1)
        src, dst = "inv-bench-src", "inv-bench-dst"
        t = time.time()
        subprocess.run(
            [binary, "bench", "--endpoint", endpoint, "--op", "listversions", "--list-bucket", src,
             "--list-objects", str(args.versions), "--count", "1", "--duration", "1s", "--fill-concurrency", "64"],
            env=dict(env, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK), check=True,
            stdout=subprocess.DEVNULL)
        fill_s = time.time() - t
        listed = s3.list_object_versions(Bucket=src, Prefix="d/", KeyMarker=f"d/{args.versions - 2:08d}")
        assert [v["Key"] for v in listed["Versions"]] == [f"d/{args.versions - 1:08d}"], listed["Versions"]
        print(f"filled {src}: {args.versions:,} versions in {fill_s:.0f} s "
              f"({args.versions / fill_s:,.0f} PUTs/s), server VmHWM {status_kib(server.pid, 'VmHWM') / 1024:.0f} MiB")
        s3.create_bucket(Bucket=dst)
        policy = {"Version": "2012-10-17", "Statement": [{
            "Sid": "InventoryAndAnalyticsExamplePolicy", "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"}, "Action": "s3:PutObject",
            "Resource": [f"arn:aws:s3:::{dst}/*"],
            "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{src}"},
                          "StringEquals": {"aws:SourceAccount": account_id(AK),
                                           "s3:x-amz-acl": "bucket-owner-full-control"}}}]}
        s3.put_bucket_policy(Bucket=dst, Policy=json.dumps(policy))
        for fmt in ["CSV", "Parquet"]:
            report(s3, server.pid, src, dst, fmt, args.versions, args.timeout)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def report(s3, pid, src, dst, fmt, versions, timeout):
    cid = f"bench-{fmt.lower()}"
    reset = reset_peak(pid)
    before = status_kib(pid, "VmHWM")
    rss_peak = status_kib(pid, "VmRSS")
    t0 = time.time()
    s3.put_bucket_inventory_configuration(Bucket=src, Id=cid, InventoryConfiguration={
        "Id": cid, "IsEnabled": True, "IncludedObjectVersions": "All",
        "Schedule": {"Frequency": "Daily"}, "OptionalFields": FIELDS,
        "Destination": {"S3BucketDestination": {"Bucket": f"arn:aws:s3:::{dst}", "Format": fmt,
                                                "Prefix": "inv"}}})
    root = f"inv/{src}/{cid}/"
    checksum = None
    while checksum is None:
        if time.time() - t0 > timeout:
            sys.exit(f"no {fmt} report within {timeout} s")
        rss_peak = max(rss_peak, status_kib(pid, "VmRSS"))
        page = s3.list_objects_v2(Bucket=dst, Prefix=root)
        checksum = next((o for o in page.get("Contents", []) if o["Key"].endswith("/manifest.checksum")), None)
        time.sleep(0.1)
    s3.delete_bucket_inventory_configuration(Bucket=src, Id=cid)
    wall = checksum["LastModified"].timestamp() - t0
    folder = checksum["Key"].rsplit("/", 1)[0]
    manifest = json.loads(s3.get_object(Bucket=dst, Key=f"{folder}/manifest.json")["Body"].read())
    files = manifest["files"]
    total = sum(f["size"] for f in files)
    after = status_kib(pid, "VmHWM")
    print(f"{fmt:8} {versions:,} rows: {wall:.1f} s ({versions / wall:,.0f} rows/s), {len(files)} files, "
          f"{total / 2**20:.1f} MiB; server VmHWM before {before / 1024:.0f} MiB, after {after / 1024:.0f} MiB"
          f"{' (peak reset before the report)' if reset else ''}, sampled VmRSS peak {rss_peak / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
