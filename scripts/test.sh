#!/usr/bin/env bash
# Runs every check and test of Weir. Needs only the Rust toolchain: the tests use
# embedded connectors (no Kafka, Redis or PostgreSQL yet).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== cargo test"
cargo test --workspace
