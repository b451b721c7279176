#!/usr/bin/env bash
# Nexmark q0 (pass-through), q1 (projection), q2 (filter) and two window aggregations
# (tumble_sum, hop_count: the window part of q5) reading bids from JSON-lines
# files into a blackhole, at parallelism 1 and 2, with the JSON decode alone as the limit.
#
#   scripts/bench/nexmark-file-queries.sh [EVENTS]     (default 5000000 events, ~4.6M bids)
#
# Prints events/s (wall) and events/s per CPU-second (user + system time) per query.
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS="${1:-5000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q -p weir-cli
cargo build --release -q -p weir-formats --example json_decode_baseline
WEIR="$CARGO_TARGET_DIR/release/weir"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
Q=scripts/bench/nexmark

sed "s/\${EVENTS}/$EVENTS/" "$Q/generate_bids.sql" > "$WORK/generate.sql"
echo "generating $EVENTS Nexmark events as JSON lines..."
"$WEIR" run --quiet --set parallelism.default=2 "$WORK/generate.sql"
BIDS=$(cat "$WORK"/data/bids/* | wc -l)
BYTES=$(cat "$WORK"/data/bids/* | wc -c)
echo "bids: $BIDS rows, $((BYTES / 1000000)) MB"

measure() { # name, command...: prints wall, cpu seconds and peak RSS (KB)
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "${@:2}" > /dev/null
    read -r wall user sys rss < "$WORK/time"
    cpu=$(echo "$user + $sys" | bc -l)
    printf "%-28s %8.2f s wall %8.2f s cpu %10.0f rows/s %10.0f rows/cpu-s %7.0f MB peak\n" \
        "$1" "$wall" "$cpu" "$(echo "$BIDS / $wall" | bc -l)" "$(echo "$BIDS / $cpu" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
}

measure "json decode alone (1 core)" "$CARGO_TARGET_DIR/release/examples/json_decode_baseline" "$WORK/data/bids"
for q in q0 q1 q2 tumble_sum hop_count; do
    cat "$Q/bids_table.sql" "$Q/queries/$q.sql" > "$WORK/$q.sql"
    for p in 1 2; do
        measure "$q parallelism $p" "$WEIR" run --quiet --set parallelism.default=$p "$WORK/$q.sql"
    done
done
