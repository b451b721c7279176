-- With 'pipeline.auto-watermark-interval' = '0' a watermark follows every row that raises
-- it (as in Flink), so lateness is deterministic: after 10:00:12 the window [10:00, 10:00:10)
-- has fired and the row at 10:00:05 is late: dropped (and counted), never in the output.
SET 'pipeline.auto-watermark-interval' = '0';

CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

SELECT window_start, item, COUNT(*) AS cnt, SUM(price) AS total
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, item;
