-- Window deduplication (Flink): per 10 s window and item, the first row by time
-- (ORDER BY ts ASC, rn = 1) and the last row by time (ORDER BY ts DESC, rn <= 1). Ties keep
-- the first arrival for ASC (a at 10:00:01: price 11, not 14) and the last arrival for
-- DESC (a at 10:00:08: price 13, not 12), as Flink's window deduplication does.
CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

CREATE TABLE first_bids (w TIMESTAMP(3), item STRING, ts TIMESTAMP(3), price INT)
WITH ('connector' = 'print', 'print-identifier' = 'first', 'sink.parallelism' = '1');

CREATE TABLE last_bids (w TIMESTAMP(3), item STRING, ts TIMESTAMP(3), price INT, rn BIGINT)
WITH ('connector' = 'print', 'print-identifier' = 'last', 'sink.parallelism' = '1');

INSERT INTO first_bids
SELECT window_start, item, ts, price FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, item ORDER BY ts ASC) AS rownum
    FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
) WHERE rownum = 1;

INSERT INTO last_bids
SELECT window_start, item, ts, price, CAST(rownum AS BIGINT) FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, item ORDER BY ts DESC) AS rownum
    FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
) WHERE rownum <= 1;
