#!/usr/bin/env bash
# Installs what building and testing Weir needs beyond the Rust toolchain: libclang,
# with which the RocksDB state backend's bindings are generated (Debian/Ubuntu:
# libclang-dev), and the servers the redis, jdbc and kafka connector tests start on their
# own ports (Debian: redis-server, postgresql; tansu from crates.io), and moto, the local
# S3-compatible server the broker restart and S3 checkpoint tests start (PyPI, in a venv).
# Installs only what is missing.
set -euo pipefail

sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -q "$@" > /dev/null ||
        { $sudo apt-get update -q > /dev/null && $sudo apt-get install -y -q "$@" > /dev/null; }
}

has_postgres() {
    command -v initdb > /dev/null && command -v postgres > /dev/null ||
        compgen -G '/usr/lib/postgresql/*/bin/initdb' > /dev/null
}

# Test servers for the redis and jdbc connectors (never started as services here: the
# tests start their own on free ports and stop them).
missing=()
command -v redis-server > /dev/null || missing+=(redis-server)
has_postgres || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get > /dev/null; then
        echo "installing ${missing[*]} (the redis and jdbc connector tests start these servers)" >&2
        # Debian packages start their service on install; keep them from doing so.
        if [ ! -e /usr/sbin/policy-rc.d ] && [ -z "$sudo" ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
            trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        fi
        apt_install "${missing[@]}"
    else
        echo "the redis and jdbc connector tests need ${missing[*]}: install them with your system's package manager" >&2
    fi
fi

# A Kafka-protocol broker for the kafka connector tests: tansu, built from crates.io once
# (about 16 minutes) into ~/.cache/weir-tools and reused; the tests start it on their
# own ports with memory storage (crates/weir-connectors/src/test_servers/kafka.rs).
TANSU_VERSION=0.6.0
tools="$HOME/.cache/weir-tools"
if [ -z "${WEIR_TANSU:-}" ] && ! "$tools/bin/tansu" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
    echo "installing tansu $TANSU_VERSION (the Kafka broker the kafka connector tests start; about 16 minutes, once)" >&2
    build_dir="$(mktemp -d)"
    CARGO_TARGET_DIR="$build_dir" cargo install tansu --version "$TANSU_VERSION" \
        --features dynostore --locked --root "$tools" --quiet
    rm -rf "$build_dir"
fi

# A local S3-compatible server for the tests that keep a tansu broker's data, or
# checkpoints, in S3: moto's server from PyPI, in a venv in ~/.cache/weir-tools/venv
# (about 30 s, once); the tests start it on their own ports
# (crates/weir-connectors/src/test_servers/s3.rs). Needs python3 with venv (Debian:
# python3-venv).
MOTO_VERSION=5.2.5
venv="$tools/venv"
if [ -z "${WEIR_MOTO_SERVER:-}" ] &&
    ! "$venv/bin/python" -c "import moto, flask; assert moto.__version__ == '$MOTO_VERSION'" 2>/dev/null; then
    echo "installing moto[server] $MOTO_VERSION (the S3-compatible server some tests start) into $venv" >&2
    if ! python3 -m venv "$venv" > /dev/null 2>&1; then
        if command -v apt-get > /dev/null; then
            apt_install python3-venv
            rm -rf "$venv"
            python3 -m venv "$venv"
        else
            echo "python3 with its venv module is needed for moto: install it with your system's package manager" >&2
            exit 1
        fi
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

# libclang itself (libclang.so, libclang-14.so.1, ...), not libclang-cpp, which bindgen
# cannot use.
has_libclang() {
    ldconfig -p 2>/dev/null | grep -Eq 'libclang(-[0-9][.0-9]*)?\.so' ||
        compgen -G '/usr/lib/llvm-*/lib/libclang.so*' > /dev/null ||
        compgen -G '/usr/lib/llvm-*/lib/libclang-[0-9]*.so*' > /dev/null
}

if has_libclang; then
    exit 0
fi
if ! command -v apt-get > /dev/null; then
    echo "Weir's build needs libclang (for RocksDB's bindings): install your system's libclang development package, or set LIBCLANG_PATH" >&2
    exit 1
fi
echo "installing libclang-dev (needed to build the RocksDB state backend)" >&2
apt_install libclang-dev
