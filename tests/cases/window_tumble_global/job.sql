-- A tumbling window without keys: one row per window, computed at parallelism 1.
CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

CREATE TABLE counts (window_start TIMESTAMP(3), window_end TIMESTAMP(3), cnt BIGINT, avg_price DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'csv');

INSERT INTO counts
SELECT window_start, window_end, COUNT(*), AVG(CAST(price AS DOUBLE))
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end;
