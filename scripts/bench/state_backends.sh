#!/usr/bin/env bash
# State backend and checkpoint benchmark (not a test).
#
#   scripts/bench/state_backends.sh [KEYS] [EVENTS]   (defaults: 6000000 keys, 20000000 events)
#
# Environment: WEIR=path/to/weir runs part 2 with that binary instead of building one
# (e.g. to compare two builds); PARTS=2 (or 1) runs only that part; ROUNDS=N
# sets the rounds of part 2 (default 3).
#
# 1. An unbounded GROUP BY holding about 1 GB of keyed state (KEYS keys of ~170 bytes of
#    state), on the hashmap backend (full and incremental checkpoints) and the rocksdb
#    backend, each in its own process: fill time, checkpoint time (synchronous part,
#    then the write to checkpoint storage on local disk) and bytes, the same after 1% of
#    the keys changed (incremental with rocksdb and hashmap-incremental),
#    recovery time, peak memory (crates/weir-operators/benches/state_backends.rs).
# 2. Throughput of Nexmark q17 (unbounded GROUP BY) and a tumbling-window sum over
#    EVENTS generated bids with a checkpoint every second (hashmap full and incremental,
#    rocksdb incremental), against the same backend without checkpoints: medians of
#    ROUNDS (default 3) interleaved rounds (scripts/bench/checkpoint_throughput.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
KEYS="${1:-6000000}"
EVENTS="${2:-20000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
PARTS="${PARTS:-12}"
scripts/setup.sh
if [ -z "${WEIR:-}" ]; then
    cargo build --release -q -p weir-cli
    WEIR="$CARGO_TARGET_DIR/release/weir"
fi

if [[ "$PARTS" == *1* ]]; then
    echo "== 1. keyed state of $KEYS keys: checkpoint and recovery"
    for backend in hashmap hashmap-incremental rocksdb; do
        cargo bench -q --workspace --bench state_backends -- --backend "$backend" --keys "$KEYS" |
            grep '^backend='
    done
fi
[[ "$PARTS" == *2* ]] || exit 0

echo
echo "== 2. throughput with a checkpoint every second ($EVENTS bids, parallelism 2)"
python3 scripts/bench/checkpoint_throughput.py --weir "$WEIR" --events "$EVENTS" --rounds "${ROUNDS:-3}"
