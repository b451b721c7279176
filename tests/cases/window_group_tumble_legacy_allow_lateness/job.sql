-- The legacy GROUP BY TUMBLE syntax with allowed lateness: the same rows and hand-computed
-- results as window_tumble_allow_lateness (a late row within 5 s updates the fired window
-- with -U/+U; 10:00:08 comes after the window expired and is dropped).
SET 'pipeline.auto-watermark-interval' = '0';
SET 'table.exec.emit.allow-lateness' = '5 s';

CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

SELECT item, TUMBLE_START(ts, INTERVAL '10' SECOND) AS wstart, COUNT(*) AS cnt, SUM(price) AS total
FROM bids
GROUP BY TUMBLE(ts, INTERVAL '10' SECOND), item;
