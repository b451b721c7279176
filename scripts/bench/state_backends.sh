#!/usr/bin/env bash
# State backend and checkpoint benchmark (not a test).
#
#   scripts/bench/state_backends.sh [KEYS] [EVENTS]   (defaults: 6000000 keys, 20000000 events)
#
# Environment: WEIR=path/to/weir runs part 2 with that binary instead of building one
# (e.g. to compare two builds); PARTS=2 (or 1) runs only that part.
#
# 1. An unbounded GROUP BY holding about 1 GB of keyed state (KEYS keys of ~170 bytes of
#    state), on the hashmap backend (full and incremental checkpoints) and the rocksdb
#    backend, each in its own process: fill time, checkpoint time (synchronous part,
#    then the write to checkpoint storage on local disk) and bytes, the same after 1% of
#    the keys changed (incremental with rocksdb and hashmap-incremental),
#    recovery time, peak memory (crates/weir-operators/benches/state_backends.rs).
# 2. Throughput of Nexmark q17 (unbounded GROUP BY) and a tumbling-window sum over
#    EVENTS generated bids, without checkpoints and with a checkpoint every second
#    (hashmap full and incremental, and rocksdb incremental), with the ratio to the run
#    without checkpoints.
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
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

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
bids() {
    cat <<SQL
SET 'parallelism.default' = '2';
CREATE TABLE bid (
    auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
    \`dateTime\` TIMESTAMP(3), extra STRING,
    WATERMARK FOR \`dateTime\` AS \`dateTime\` - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'weir.event-type' = 'bid', 'events.num' = '$EVENTS',
        'weir.base-time' = '2026-01-01 00:00:00');
SQL
}
bids > "$WORK/q17.sql"
cat scripts/bench/nexmark/queries/q17.sql >> "$WORK/q17.sql"
bids > "$WORK/tumble_sum.sql"
cat scripts/bench/nexmark/queries/tumble_sum.sql >> "$WORK/tumble_sum.sql"

measure() { # prints events/s of one run: script, options...
    local script="$1"
    shift
    rm -rf "$WORK/checkpoints" "$WORK/rocksdb"
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$WEIR" run --quiet "$script" --fresh "$@" > /dev/null
    read -r wall rss < "$WORK/time"
    awk -v e="$EVENTS" -v w="$wall" -v r="$rss" 'BEGIN { printf "%.0f %d\n", e / w, r / 1024 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf "%-12s %-34s %14s %8s %10s\n" query configuration "events/s" ratio "peak MB"
for query in q17 tumble_sum; do
    read -r base base_rss < <(measure "$WORK/$query.sql")
    printf "%-12s %-34s %14.0f %8s %10s\n" "$query" "no checkpoints" "$base" "1.00" "$base_rss"
    ckpt=(--set execution.checkpointing.interval=1s --set "execution.checkpointing.dir=$WORK/checkpoints")
    read -r rate rss < <(measure "$WORK/$query.sql" "${ckpt[@]}")
    printf "%-12s %-34s %14.0f %8s %10s\n" "$query" "1 s checkpoints, hashmap" "$rate" "$(ratio "$rate" "$base")" "$rss"
    read -r rate rss < <(measure "$WORK/$query.sql" "${ckpt[@]}" --set execution.checkpointing.incremental=true)
    printf "%-12s %-34s %14.0f %8s %10s\n" "$query" "1 s checkpoints, hashmap incremental" "$rate" "$(ratio "$rate" "$base")" "$rss"
    read -r rate rss < <(measure "$WORK/$query.sql" "${ckpt[@]}" --set state.backend.type=rocksdb \
        --set execution.checkpointing.incremental=true --set "state.backend.rocksdb.localdir=$WORK/rocksdb")
    printf "%-12s %-34s %14.0f %8s %10s\n" "$query" "1 s checkpoints, rocksdb incremental" "$rate" "$(ratio "$rate" "$base")" "$rss"
done
