#!/usr/bin/env bash
# Installs what building Weir needs beyond the Rust toolchain: libclang, with which
# the RocksDB state backend's bindings are generated (Debian/Ubuntu: libclang-dev).
# Does nothing when it is already there.
set -euo pipefail

has_libclang() {
    ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' ||
        compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' > /dev/null
}

if has_libclang; then
    exit 0
fi
if ! command -v apt-get > /dev/null; then
    echo "Weir's build needs libclang (for RocksDB's bindings): install your system's libclang development package, or set LIBCLANG_PATH" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
echo "installing libclang-dev (needed to build the RocksDB state backend)" >&2
$sudo apt-get install -y -q libclang-dev > /dev/null ||
    { $sudo apt-get update -q > /dev/null && $sudo apt-get install -y -q libclang-dev > /dev/null; }
