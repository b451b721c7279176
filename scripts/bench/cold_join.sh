#!/usr/bin/env bash
# Hot/cold join state benchmark (not a test): does a join with STATE_TTL + COLD_STATE
# keep its state bounded while a join that keeps everything grows with its input, with
# the same output?
#
#   scripts/bench/cold_join.sh [DURATION_S] [RATE] [OLD_ORDERS]   (defaults: 60 2000 200000)
#   WEIR=path/to/weir TTL_S=5 SAMPLE_S=5 scripts/bench/cold_join.sh
#
# 1. Starts redis-server on a free loopback port (stopped at exit, by its PID).
# 2. Batch jobs: datagen writes OLD_ORDERS orders (ids 1..OLD_ORDERS) to a JSON file
#    (the order history), and a second job loads that file into the cold table, a
#    `redis` table `orders_cold`.
# 3. The streaming join, twice, each for DURATION_S seconds: two throttled `datagen`
#    sources make RATE new orders (ids after the old ones) and RATE refunds per second
#    (parallelism 2, a checkpoint every second). A refund refers to an old order (1 in
#    2), to the order made 1 s before it (4 in 10) or to no order (1 in 10).
#    (a) hot/cold: STATE_TTL of TTL_S seconds on both inputs, COLD_STATE on the orders:
#        refunds of old orders find them in Redis.
#    (b) keep everything: no TTL, no cold table; the orders input is the history file
#        UNION ALL the new orders, so the join state holds every order and refund.
#    Every SAMPLE_S seconds it reads the newest completed checkpoint's `_metadata` and
#    prints the join operator's state: rows of each input (`left_rows` = refunds,
#    `right_rows` = orders) and bytes of its Arrow files, with the process's RSS.
# 4. Prints the output rows of both runs (they must be the same rows: the script fails
#    otherwise) and, for (a), Redis's own counts of the cold lookups: keys found
#    (`keyspace_hits`, the rows the join's `cold_rows_fetched` metric counts), keys not
#    found, and MGET requests.
#
# Uses the debug binary by default (set WEIR for another; it is not built here).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-60}"
RATE="${2:-2000}"
OLD="${3:-200000}"
TTL_S="${TTL_S:-5}"
SAMPLE_S="${SAMPLE_S:-5}"
WEIR="${WEIR:-$HOME/.cache/weir-target/debug/weir}"
WEIR="$(realpath "$WEIR")"
[ -x "$WEIR" ] || { echo "no weir binary at $WEIR: build it (cargo build -p weir-cli) or set WEIR" >&2; exit 1; }
for tool in redis-server redis-cli jq python3; do
    command -v "$tool" > /dev/null || { echo "$tool is needed (apt-get install redis-server jq)" >&2; exit 1; }
done
N=$((RATE * DURATION))
WORK="$(mktemp -d)"
REDIS_PID=""
JOB_PID=""
cleanup() {
    [ -n "$JOB_PID" ] && kill "$JOB_PID" 2> /dev/null
    [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2> /dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no > "$WORK/redis.log" 2>&1 &
REDIS_PID=$!
rcli() { redis-cli -p "$PORT" "$@"; }
for _ in $(seq 100); do
    [ "$(rcli ping 2> /dev/null)" = PONG ] && break
    sleep 0.1
done
[ "$(rcli ping 2> /dev/null)" = PONG ] || { echo "redis-server did not start:" >&2; cat "$WORK/redis.log" >&2; exit 1; }

cd "$WORK"
cat > old.sql << SQL
CREATE TABLE orders_old (order_id BIGINT, amount DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 'orders_old', 'format' = 'json');
SQL
cat > cold.sql << SQL
CREATE TABLE orders_cold (order_id BIGINT, amount DOUBLE, PRIMARY KEY (order_id) NOT ENFORCED)
WITH ('connector' = 'redis', 'url' = 'redis://127.0.0.1:$PORT', 'key-prefix' = 'order:');
SQL
{
    cat old.sql
    cat << SQL
CREATE TABLE ids (order_id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '100000000',
  'fields.order_id.kind' = 'sequence', 'fields.order_id.start' = '1', 'fields.order_id.end' = '$OLD');
INSERT INTO orders_old SELECT order_id, CAST(order_id * 7 % 100 AS DOUBLE) + 0.5 FROM ids;
SQL
} > history.sql
{
    cat old.sql cold.sql
    echo "INSERT INTO orders_cold SELECT order_id, amount FROM orders_old;"
} > load.sql

streams() { # the two throttled sources and the sink into folder $1
    cat << SQL
SET 'parallelism.default' = '2';
SET 'execution.checkpointing.interval' = '1 s';
CREATE TABLE order_ids (order_id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '$RATE',
  'fields.order_id.kind' = 'sequence', 'fields.order_id.start' = '$((OLD + 1))',
  'fields.order_id.end' = '$((OLD + N))');
CREATE TABLE refund_ids (refund_id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '$RATE',
  'fields.refund_id.kind' = 'sequence', 'fields.refund_id.start' = '1', 'fields.refund_id.end' = '$N');
CREATE VIEW orders_new AS
SELECT order_id, CAST(order_id * 7 % 100 AS DOUBLE) + 0.5 AS amount FROM order_ids;
-- 1 in 10 refunds refers to no order, 1 in 2 to an old order, the others to the order
-- made 1 s ($RATE orders) before.
CREATE VIEW refunds AS
SELECT refund_id, CASE
    WHEN refund_id % 10 = 9 THEN $((OLD + 10 * N)) + refund_id
    WHEN refund_id % 2 = 0 OR refund_id <= $RATE THEN refund_id * 7919 % $OLD + 1
    ELSE $OLD + refund_id - $RATE END AS order_id
FROM refund_ids;
CREATE TABLE refunded (refund_id BIGINT, order_id BIGINT, amount DOUBLE)
WITH ('connector' = 'filesystem', 'path' = '$1', 'format' = 'json');
SQL
}
{
    streams out_hot
    cat cold.sql
    cat << SQL
INSERT INTO refunded
SELECT /*+ STATE_TTL('r' = '$TTL_S s', 'o' = '$TTL_S s'), COLD_STATE('o' = 'orders_cold') */
       r.refund_id, r.order_id, o.amount
FROM refunds AS r JOIN orders_new AS o ON r.order_id = o.order_id;
SQL
} > hot.sql
{
    streams out_all
    cat old.sql
    cat << SQL
CREATE VIEW orders AS SELECT * FROM orders_old UNION ALL SELECT * FROM orders_new;
INSERT INTO refunded
SELECT r.refund_id, r.order_id, o.amount
FROM refunds AS r JOIN orders AS o ON r.order_id = o.order_id;
SQL
} > all.sql

echo "== history: $OLD old orders -> file -> Redis (batch jobs)"
"$WEIR" run --quiet history.sql
start=$(date +%s%N)
"$WEIR" run --quiet load.sql
echo "loaded $(rcli dbsize) keys into Redis in $((($(date +%s%N) - start) / 1000000)) ms"

lines() { find "$1" -type f ! -name '.*' -exec cat {} + | wc -l; }

run() { # name script: runs the join, sampling the join's checkpointed state
    local name="$1" script="$2" join t0 next now meta rss
    join="$("$WEIR" explain "$script" | sed -n 's/.*\] Join  id=\([0-9a-f]*\) .*/\1/p')"
    [ -n "$join" ] || { echo "no Join operator in weir explain $script" >&2; exit 1; }
    rcli config resetstat > /dev/null
    printf "%6s %10s %10s %10s %10s %8s\n" "t (s)" "refunds" "orders" "join rows" "join KB" "RSS MB" | tee "samples_$name"
    t0=$(date +%s)
    "$WEIR" run --quiet "$script" --fresh --set "execution.checkpointing.dir=ck_$name" 2> "$name.log" &
    JOB_PID=$!
    next=$SAMPLE_S
    while kill -0 "$JOB_PID" 2> /dev/null; do
        now=$(($(date +%s) - t0))
        if [ "$now" -lt "$next" ]; then
            sleep 0.2
            continue
        fi
        next=$((next + SAMPLE_S))
        rss=$(($(ps -o rss= -p "$JOB_PID" 2> /dev/null || echo 0) / 1024))
        # The newest checkpoint with a _metadata (copied at once: the job deletes old ones).
        meta=""
        for chk in $(ls -d "ck_$name"/chk-* 2> /dev/null | sort -t- -k2 -n -r); do
            if cp "$chk/_metadata" meta.json 2> /dev/null; then
                meta=meta.json
                break
            fi
        done
        [ -n "$meta" ] || continue
        jq -r --arg op "$join" --argjson t "$now" --argjson rss "$rss" '
            [.operators[$op].subtasks[]? | select(. != null)] as $s
            | ([$s[].tables[] | select(.name == "left_rows") | .rows] | add // 0) as $l
            | ([$s[].tables[] | select(.name == "right_rows") | .rows] | add // 0) as $r
            | ([$s[].size] | add // 0) as $b
            | "\($t) \($l) \($r) \($l + $r) \($b / 1024 | floor) \($rss)"' "$meta" |
            awk '{ printf "%6d %10d %10d %10d %10d %8d\n", $1, $2, $3, $4, $5, $6 }' | tee -a "samples_$name"
    done
    wait "$JOB_PID" || { echo "the $name join failed:" >&2; cat "$name.log" >&2; exit 1; }
    JOB_PID=""
    echo "job ran $(($(date +%s) - t0)) s; output rows: $(lines "out_$name")"
}

echo
echo "== (a) hot/cold: STATE_TTL '$TTL_S s' on both inputs + COLD_STATE in Redis ($DURATION s, $RATE orders/s and $RATE refunds/s)"
run hot hot.sql
hits=$(rcli info stats | sed -n 's/^keyspace_hits:\([0-9]*\).*/\1/p')
misses=$(rcli info stats | sed -n 's/^keyspace_misses:\([0-9]*\).*/\1/p')
mgets=$(rcli info commandstats | sed -n 's/^cmdstat_mget:calls=\([0-9]*\),.*/\1/p')
echo "cold lookups: ${hits:-0} keys found (cold rows fetched), ${misses:-0} not found, in ${mgets:-0} MGET requests"

echo
echo "== (b) keep everything: no TTL, no cold table, history file UNION ALL new orders"
run all all.sql

echo
find out_hot -type f ! -name '.*' -exec cat {} + | sort > hot.txt
find out_all -type f ! -name '.*' -exec cat {} + | sort > all.txt
expected=$((N - N / 10))
echo "output rows: (a) $(wc -l < hot.txt), (b) $(wc -l < all.txt), expected $expected (every refund but 1 in 10)"
if cmp -s hot.txt all.txt; then
    echo "same output rows: yes"
else
    echo "same output rows: NO ($(comm -3 hot.txt all.txt | wc -l) rows differ)"
    exit 1
fi
