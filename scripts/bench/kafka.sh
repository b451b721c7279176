#!/usr/bin/env bash
# Kafka benchmark (not a test): Kafka -> Weir -> Kafka against the raw speed of the same
# client library (librdkafka) producing and consuming the same topics alone.
#
#   scripts/bench/kafka.sh [RECORDS]        (default 2000000)
#   WEIR=path/to/weir PEER=path/to/kafka_peer scripts/bench/kafka.sh   (no builds)
#
# On one tansu broker (memory storage, 127.0.0.1), with topics of 2 partitions:
# 1. raw: the peer (crates/weir-connectors/examples/kafka_peer.rs) produces RECORDS JSON
#    records and consumes them back: records/s of each.
# 2. Weir at parallelism 1 (per core), reading them all (scan.bounded.mode =
#    latest-offset) and writing to another topic (at-least-once): a stateless query
#    (projection and filter) and a windowed one (1-second tumbling COUNT/SUM per key);
#    records/s over the job's wall time, and the ratio to the raw consume rate.
# 3. Latency: the stateless job, unbounded, with a checkpoint every second, fed by the
#    peer at half of Weir's stateless rate for 20 s: p50/p99/p99.9 from the record's
#    creation to its arrival in the output topic.
# tansu answers a fetch only when the consumer's fetch.wait.max.ms is over, even with
# data waiting (Kafka answers at once), so every consumer here (Weir's and the peer's)
# sets it to 10 ms; with librdkafka's default of 500 ms each hop would take 0.5 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
RECORDS="${1:-2000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
scripts/setup.sh
# WEIR and PEER may name binaries built already (e.g. a release weir and the peer).
if [ -z "${WEIR:-}" ]; then
    cargo build --release -q -p weir-cli
    WEIR="$CARGO_TARGET_DIR/release/weir"
fi
if [ -z "${PEER:-}" ]; then
    cargo build --release -q -p weir-connectors --example kafka_peer
    PEER="$CARGO_TARGET_DIR/release/examples/kafka_peer"
fi
TANSU="${WEIR_TANSU:-$HOME/.cache/weir-tools/bin/tansu}"
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BOOT="127.0.0.1:$PORT"
"$TANSU" broker --listener-url "tcp://$BOOT" --advertised-listener-url "tcp://$BOOT" \
    --storage-engine memory://tansu/ --silent > "$WORK/broker.log" 2>&1 &
BROKER=$!
trap 'kill $BROKER 2>/dev/null; rm -rf "$WORK"' EXIT
sleep 1
topic() { "$TANSU" topic create "$1" --partitions 2 --broker "tcp://$BOOT" > /dev/null; }
for t in input stateless windowed lat_in lat_out; do topic "$t"; done
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }

echo "== 1. raw librdkafka ($RECORDS records)"
produced="$("$PEER" produce "$BOOT" input "$RECORDS" 2)"
consumed="$("$PEER" consume "$BOOT" input "$RECORDS")"
echo "$produced"; echo "$consumed"
raw_consume="$(echo "$consumed" | field rate)"

table() { # name topic bounded? extra options
    cat <<SQL
CREATE TABLE $1 (k BIGINT, seq BIGINT, ts TIMESTAMP(3), created BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
WITH ('connector' = 'kafka', 'topic' = '$2', 'properties.bootstrap.servers' = '$BOOT',
      'properties.group.id' = 'bench', 'scan.startup.mode' = 'earliest-offset',
      'properties.fetch.wait.max.ms' = '10',
      $3 'format' = 'json');
SQL
}
sink() { # name topic columns
    cat <<SQL
CREATE TABLE $1 ($3) WITH ('connector' = 'kafka', 'topic' = '$2',
  'properties.bootstrap.servers' = '$BOOT', 'sink.delivery-guarantee' = 'at-least-once',
  'format' = 'json');
SQL
}
{
    echo "SET 'parallelism.default' = '1';"
    table src input "'scan.bounded.mode' = 'latest-offset',"
    sink out stateless "k BIGINT, seq BIGINT, created BIGINT"
    echo "INSERT INTO out SELECT k, seq, created FROM src WHERE k <> 999;"
} > "$WORK/stateless.sql"
{
    echo "SET 'parallelism.default' = '1';"
    table src input "'scan.bounded.mode' = 'latest-offset',"
    sink out windowed "k BIGINT, window_start TIMESTAMP(3), n BIGINT, total BIGINT"
    echo "INSERT INTO out SELECT k, window_start, COUNT(*), SUM(seq)
          FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' SECOND))
          GROUP BY k, window_start, window_end;"
} > "$WORK/windowed.sql"

run() { # script -> seconds
    local start end
    start=$(date +%s.%N)
    (cd "$WORK" && "$WEIR" run "$1" --quiet --fresh > /dev/null)
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.3f}')"
}
echo
echo "== 2. Weir, parallelism 1"
rates=()
for q in stateless windowed; do
    seconds="$(run "$q.sql")"
    rate="$(python3 -c "print(round($RECORDS / $seconds))")"
    ratio="$(python3 -c "print(f'{$rate / $raw_consume:.2f}')")"
    echo "$q: $RECORDS records in ${seconds}s = $rate records/s (raw consume: $raw_consume/s, ratio $ratio)"
    rates+=("$rate")
done

echo
latency_rate=$(( ${rates[0]} / 2 ))
echo "== 3. latency at $latency_rate records/s (half the stateless rate), checkpoint every second"
{
    echo "SET 'parallelism.default' = '1';"
    echo "SET 'execution.checkpointing.interval' = '1 s';"
    table src lat_in ""
    sink out lat_out "k BIGINT, seq BIGINT, created BIGINT"
    echo "INSERT INTO out SELECT k, seq, created FROM src;"
} > "$WORK/latency.sql"
(cd "$WORK" && exec "$WEIR" run latency.sql --quiet --fresh > "$WORK/latency.log" 2>&1) &
JOB=$!
sleep 2
"$PEER" latency "$BOOT" lat_in lat_out "$latency_rate" 20
kill -TERM "$JOB" 2>/dev/null || true
wait "$JOB" 2>/dev/null || true
