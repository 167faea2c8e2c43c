#!/usr/bin/env bash
# Fuzzes the parsers that decide lock or auth with cargo-fuzz (libFuzzer).
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Every target starts from the committed seeds in fuzz/seeds/<target>; the corpus grows in
# fuzz/corpus/<target> (not committed). Prints libFuzzer's closing figures per target:
# executions, coverage (cov: edges, ft: features), and any crash (fuzz/artifacts/<target>).
# Only the stable toolchain exists here: RUSTC_BOOTSTRAP lets cargo-fuzz pass its -Z flags;
# no sanitizer (the code under test forbids unsafe).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(strict_xml retain_until sigv4_header audit_lines lock_config legal_hold retention_body delete_objects
        tagging_header range copy_source aws_chunked sigv4_query)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    cp -n "seeds/$t"/* "corpus/$t/" 2>/dev/null || true
    echo "== $t for ${seconds}s"
    started="$(mktemp)"
    cargo fuzz run --sanitizer none "$t" "corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
        | grep -E "^(#[0-9]+\s+DONE|stat::|==[0-9]+== ERROR|SUMMARY|Done [0-9]+ runs|NOTE |thread .* panicked)" || true
    # Only what this run found (artifacts of earlier runs stay for reproduction).
    crashes="$(find "artifacts/$t" -name 'crash-*' -newer "$started" 2>/dev/null || true)"
    rm -f "$started"
    if [ -n "$crashes" ]; then
        echo "CRASH in $t: $crashes"
        exit 1
    fi
done
