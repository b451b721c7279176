#!/usr/bin/env bash
# Runs every check and test of Weir. Needs the Rust toolchain; scripts/setup.sh installs
# libclang (for RocksDB's bindings), redis-server and PostgreSQL when they are missing:
# the redis and jdbc tests start their own servers on free ports (and fail, saying to
# run scripts/setup.sh, when a server is not installed). The Nexmark smoke test also
# needs python3 (skipped without it) and compares with Apache Flink only when the Flink
# venv of scripts/bench/flink_compare.py is already cached in ~/.cache/weir-bench.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== build prerequisites (scripts/setup.sh)"
scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"

echo "== Nexmark suite smoke test (small size; the Flink side only when its venv is cached)"
if command -v python3 > /dev/null; then
    # Progress and mismatches go to stderr; the table (stdout) is not needed here.
    python3 scripts/bench/nexmark/run.py --smoke --weir "${CARGO_TARGET_DIR:-target}/debug/weir" > /dev/null
else
    echo "python3 not found: skipped"
fi

# One closing line for the whole run (cargo prints one per test binary, the last of
# which is often a doc-test binary with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
