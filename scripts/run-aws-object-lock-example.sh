#!/usr/bin/env bash
# Runs AWS's "Amazon S3 Object Lock Workflow for the SDK for Python (boto3)" unchanged against a
# fresh Holdfast server. The example is not part of this repository: pass the directory
# of a checkout of awsdocs/aws-doc-sdk-examples' python/example_code/s3/scenarios/object-locking.
#
#   scripts/run-aws-object-lock-example.sh /path/to/object-locking [holdfast-binary]
#
# It answers the example's three "Press Enter" prompts (deploy, demo, clean), then prints every
# line the example logged at ERROR level (there should be none) and exits non-zero if any.
set -euo pipefail

example_dir="$(cd "${1:?usage: $0 EXAMPLE_DIR [HOLDFAST_BINARY]}" && pwd)"
bin="${2:-$(cd "$(dirname "$0")/.." && pwd)/target/release/holdfast}"
[ -x "$bin" ] || { echo "no holdfast binary at $bin (cargo build --release)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check boto3 coloredlogs prettytable

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export HOLDFAST_ROOT_ACCESS_KEY=AKEXAMPLE HOLDFAST_ROOT_SECRET_KEY=example-secret-key-0123456789
"$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/_holdfast/health" >/dev/null && break
    sleep 0.1
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID="$HOLDFAST_ROOT_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$HOLDFAST_ROOT_SECRET_KEY"
cp -r "$example_dir" "$work/example"
cd "$work/example"
printf '\n\n\n' | "$work/venv/bin/python" main.py 2>&1 | tee "$work/run.log"

echo
if grep -n '\[ERROR\]' "$work/run.log"; then
    echo "the example logged errors" >&2
    exit 1
fi
echo "deploy, demo and clean ran without an error"
